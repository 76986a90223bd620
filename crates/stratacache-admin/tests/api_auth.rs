//! The authentication matrix through real HTTP: missing, empty, malformed, wrong and valid
//! credentials, as `Authorization: Bearer` and as `X-API-Key`, on every protected route and on
//! every optional-auth read; `require_auth_for_reads`; the open mode without keys; and the order
//! of checks (authentication before the query and the body).

#![allow(clippy::unwrap_used)]

mod api_support;

use api_support::{KEY, SECOND_KEY, TestServer, keyed_config, open_config, redact};
use stratacache_admin::{AdminConfig, RouteAuth};
use stratacache_core::{Bytes, Ttl};
use stratacache_factory::CacheFactory;

async fn server(config: AdminConfig) -> TestServer {
    let server = TestServer::built(CacheFactory::for_web_app(None).await.unwrap(), config);
    server
        .state
        .cache()
        .set("k", Bytes::from_static(b"v"), Ttl::Default)
        .await
        .unwrap();
    server
}

/// A request for `route` that succeeds when authorized.
fn request_for(path: &str) -> String {
    let path = path.replace("{key}", "k");
    if path.ends_with("/invalidate") {
        format!("{path}?pattern=nothing:*")
    } else {
        path
    }
}

/// Credentials that must be refused, with the reason the API gives.
const REFUSED: &[(&str, &str, &str)] = &[
    ("authorization", "", "empty"),
    ("authorization", "Bearer", "empty"),
    ("authorization", "Bearer ", "empty"),
    ("authorization", "Basic dGVzdDp0ZXN0", "malformed"),
    ("authorization", "Token test-key-0123456789abcdef", "malformed"),
    (
        "authorization",
        "Bearer test-key-0123456789abcdef extra",
        "malformed",
    ),
    ("authorization", "Bearer wrong-key", "invalid"),
    ("authorization", "Bearer test-key-0123456789abcde", "invalid"),
    ("authorization", "Bearer test-key-0123456789abcdefg", "invalid"),
    ("x-api-key", "", "empty"),
    ("x-api-key", "   ", "empty"),
    ("x-api-key", "wrong-key", "invalid"),
    ("x-api-key", "Bearer test-key-0123456789abcdef", "invalid"),
];

/// Credentials that must be accepted.
fn accepted() -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {KEY}")),
        ("authorization", format!("bearer {KEY}")),
        ("authorization", format!("Bearer {SECOND_KEY}")),
        ("x-api-key", KEY.to_owned()),
        ("x-api-key", SECOND_KEY.to_owned()),
    ]
}

fn assert_unauthorized(reply: &api_support::Reply, reason: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.text());
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{what}");
    let envelope = reply.assert_envelope(401, "AUTHENTICATION_ERROR");
    assert_eq!(envelope["details"]["reason"], reason, "{what}");
    // The reference's clients read `detail.message` and `detail.context`.
    let message = envelope["detail"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no detail.message"));
    assert_eq!(envelope["error"], message, "{what}");
    assert_eq!(envelope["detail"]["context"]["reason"], reason, "{what}");
    assert!(
        message.contains("authentication") && message.contains("API key"),
        "{what}: {message}"
    );
    let body = reply.text();
    for secret in [KEY, SECOND_KEY, "wrong-key", "dGVzdDp0ZXN0"] {
        assert!(
            !body.contains(secret),
            "{what}: the body repeats credentials: {body}"
        );
    }
}

#[actix_web::test]
async fn protected_routes_need_a_valid_key() {
    let server = server(keyed_config()).await;
    let protected: Vec<_> = stratacache_admin::routes()
        .into_iter()
        .filter(|r| r.auth == RouteAuth::Required)
        .collect();
    assert_eq!(protected.len(), 4, "invalidate and the three entry methods");
    for route in &protected {
        let method = route.method.as_str();
        let path = request_for(route.path);
        let what = format!("{method} {path}");
        assert_unauthorized(
            &server.send(method, &path, &[], "v").await,
            "missing",
            &format!("{what} without a key"),
        );
        for (header, value, reason) in REFUSED {
            let reply = server.send(method, &path, &[(header, value)], "v").await;
            assert_unauthorized(&reply, reason, &format!("{what} with {header}: {value:?}"));
        }
        for (header, value) in accepted() {
            let reply = server.send(method, &path, &[(header, &value)], "v").await;
            assert!(
                (200..300).contains(&reply.status),
                "{what} with {header}: {value}: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
    // Refused requests change nothing.
    let cache = server.state.cache().clone();
    cache
        .set("k", Bytes::from_static(b"kept"), Ttl::Default)
        .await
        .unwrap();
    for (header, value, _) in REFUSED {
        server
            .send("DELETE", "/internal/cache/entries/k", &[(header, value)], "")
            .await;
        server
            .send("PUT", "/internal/cache/entries/k", &[(header, value)], "changed")
            .await;
        server
            .send(
                "POST",
                "/internal/cache/invalidate?pattern=*",
                &[(header, value)],
                "",
            )
            .await;
    }
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"kept"[..]));
}

#[actix_web::test]
async fn reads_accept_no_key_but_refuse_a_wrong_one() {
    let server = server(keyed_config()).await;
    let reads: Vec<_> = stratacache_admin::routes()
        .into_iter()
        .filter(|r| r.auth == RouteAuth::Optional)
        .collect();
    assert_eq!(reads.len(), 7);
    assert_failures_counted(&server, 0);
    for route in &reads {
        let path = request_for(route.path);
        assert_eq!(
            server.get(&path, &[]).await.status,
            200,
            "GET {path} without a key"
        );
        for (header, value, reason) in REFUSED {
            let reply = server.get(&path, &[(header, value)]).await;
            assert_unauthorized(&reply, reason, &format!("GET {path} with {header}: {value:?}"));
        }
        for (header, value) in accepted() {
            assert_eq!(
                server.get(&path, &[(header, &value)]).await.status,
                200,
                "GET {path} with {header}"
            );
        }
    }
    // Every refusal above was counted in the monitor and shows in the Prometheus scrape.
    assert_failures_counted(&server, reads.len() * REFUSED.len());
    let envelope = server
        .get("/internal/cache/status", &[("authorization", "Bearer wrong-key")])
        .await
        .assert_envelope(401, "AUTHENTICATION_ERROR");
    insta::assert_json_snapshot!("unauthorized_invalid", redact(envelope));
}

/// `stratacache_auth_failures_total` in `/metrics` (read with the key: not itself a failure).
fn assert_failures_counted(server: &TestServer, expected: usize) {
    let monitor = server.state.monitor().unwrap();
    assert_eq!(monitor.auth_failures(), expected as u64);
    let text = monitor.render_prometheus(None);
    let line = format!("stratacache_auth_failures_total {expected}");
    assert!(text.lines().any(|l| l == line), "no {line:?} in {text}");
}

#[actix_web::test]
async fn liveness_never_asks_for_a_key() {
    let server = server(AdminConfig {
        require_auth_for_reads: true,
        ..keyed_config()
    })
    .await;
    for headers in [
        &[][..],
        &[("x-api-key", "wrong-key")][..],
        &[("authorization", "Basic x")][..],
    ] {
        let reply = server.get("/internal/cache/health/live", headers).await;
        assert_eq!(reply.status, 200, "{headers:?}: {}", reply.text());
        assert_eq!(reply.json(), serde_json::json!({"status": "alive"}));
    }
    // The full health report still needs the key.
    let reply = server.get("/internal/cache/health", &[]).await;
    assert_unauthorized(&reply, "missing", "GET /internal/cache/health");
}

#[actix_web::test]
async fn require_auth_for_reads_protects_every_route() {
    let server = server(AdminConfig {
        require_auth_for_reads: true,
        ..keyed_config()
    })
    .await;
    for route in stratacache_admin::routes()
        .into_iter()
        .filter(|r| r.auth != RouteAuth::Public)
    {
        let method = route.method.as_str();
        let path = request_for(route.path);
        let reply = server.send(method, &path, &[], "v").await;
        assert_unauthorized(&reply, "missing", &format!("{method} {path}"));
        let reply = server
            .send(method, &path, &[("x-api-key", "wrong-key")], "v")
            .await;
        assert_unauthorized(&reply, "invalid", &format!("{method} {path}"));
        let reply = server.send_authed(method, &path, "v").await;
        assert!(
            (200..300).contains(&reply.status),
            "{method} {path}: {}",
            reply.status
        );
    }
    let envelope = server
        .get("/internal/cache/status", &[])
        .await
        .assert_envelope(401, "AUTHENTICATION_ERROR");
    insta::assert_json_snapshot!("unauthorized_missing", redact(envelope));
    let status = server.get_authed("/internal/cache/status").await.json();
    assert_eq!(status["security"]["api"]["authentication"], "api_key");
    assert_eq!(status["security"]["api"]["require_auth_for_reads"], true);
}

#[actix_web::test]
async fn bearer_is_read_before_x_api_key() {
    let server = server(keyed_config()).await;
    let path = request_for("/internal/cache/entries/{key}");
    let wrong_bearer = format!("Bearer {}", "nope");
    let reply = server
        .get(&path, &[("authorization", &wrong_bearer), ("x-api-key", KEY)])
        .await;
    assert_unauthorized(&reply, "invalid", "a wrong bearer with a valid X-API-Key");
    let reply = server
        .get(
            &path,
            &[("authorization", "Basic dGVzdDp0ZXN0"), ("x-api-key", KEY)],
        )
        .await;
    assert_unauthorized(&reply, "malformed", "basic credentials with a valid X-API-Key");
    let bearer = format!("Bearer {KEY}");
    let reply = server
        .get(&path, &[("authorization", &bearer), ("x-api-key", "nope")])
        .await;
    assert_eq!(reply.status, 200);
}

#[actix_web::test]
async fn authentication_is_checked_before_the_query_and_the_body() {
    let server = server(AdminConfig {
        max_body_bytes: 8,
        ..keyed_config()
    })
    .await;
    // An invalid query or an oversized body from an unauthenticated client: 401, not 400 or 413.
    let reply = server
        .send("POST", "/internal/cache/invalidate?pattern=", &[], "")
        .await;
    assert_unauthorized(&reply, "missing", "invalid query");
    let reply = server
        .send("PUT", "/internal/cache/entries/k?ttl=0", &[], "")
        .await;
    assert_unauthorized(&reply, "missing", "invalid ttl");
    let reply = server
        .send("PUT", "/internal/cache/entries/k", &[], "far more than 8 bytes")
        .await;
    assert_unauthorized(&reply, "missing", "oversized body");
    // With the key, the same requests reach validation.
    let reply = server
        .send_authed("PUT", "/internal/cache/entries/k", "far more than 8 bytes")
        .await;
    reply.assert_envelope(413, "PAYLOAD_TOO_LARGE");
    let reply = server
        .send_authed("POST", "/internal/cache/invalidate?pattern=a%00", "")
        .await;
    reply.assert_envelope(400, "VALIDATION_ERROR");
}

#[actix_web::test]
async fn without_keys_the_api_is_open() {
    let config = open_config();
    assert!(config.keys.is_empty());
    config
        .check(stratacache_factory::Environment::Development)
        .unwrap();
    let server = server(config).await;
    for route in stratacache_admin::routes() {
        let method = route.method.as_str();
        let path = request_for(route.path);
        for headers in [
            &[][..],
            &[("authorization", "Bearer anything")][..],
            &[("x-api-key", "x")][..],
        ] {
            let reply = server.send(method, &path, headers, "v").await;
            assert!(
                (200..300).contains(&reply.status),
                "{method} {path} {headers:?}: {}",
                reply.status
            );
        }
    }
    let status = server.get("/internal/cache/status", &[]).await.json();
    assert_eq!(status["security"]["api"]["authentication"], "open");
}

/// The served OpenAPI document states the key requirements the server enforces, route by route:
/// none without keys, optional on reads by default, required on reads with
/// `require_auth_for_reads`; liveness never. (A fuzzer that reads a requirement the server does not
/// enforce reports "API accepts invalid authentication".)
#[actix_web::test]
async fn the_openapi_document_states_the_enforced_key_requirements() {
    let cases = [
        ("open", open_config()),
        ("keyed", keyed_config()),
        (
            "keyed, reads too",
            AdminConfig {
                require_auth_for_reads: true,
                ..keyed_config()
            },
        ),
    ];
    for (label, config) in cases {
        let (keyed, reads) = (!config.keys.is_empty(), config.require_auth_for_reads);
        let server = server(config).await;
        let doc = server
            .send_authed("GET", "/internal/cache/openapi.json", "")
            .await
            .json();
        for route in stratacache_admin::routes() {
            let method = route.method.as_str().to_lowercase();
            let security = doc["paths"][route.path][&method]["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{label}: no security on {method} {}", route.path));
            let optional = security.iter().any(|r| r == &serde_json::json!({}));
            let takes_key = security.iter().any(|r| r.get("api_key").is_some())
                && security.iter().any(|r| r.get("bearer").is_some());
            let (want_optional, want_key) = match route.auth {
                RouteAuth::Public => (true, false),
                _ if !keyed => (true, false),
                RouteAuth::Required => (false, true),
                RouteAuth::Optional => (!reads, true),
            };
            assert_eq!(
                (optional, takes_key),
                (want_optional, want_key),
                "{label}: {method} {}: {security:?}",
                route.path
            );
        }
    }
}
