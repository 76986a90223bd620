//! Shared by the `api_*` tests: a real HTTP server on 127.0.0.1:0 running
//! [`stratacache_admin::app`], a minimal HTTP/1.1 client, snapshot redaction and the Prometheus
//! text-format rules.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use stratacache_admin::server::AdminServer;
use stratacache_admin::{AdminConfig, AdminState, ApiKeys};
use stratacache_factory::{BuiltCache, CacheRegistry};

/// The key every keyed test server accepts.
pub const KEY: &str = "test-key-0123456789abcdef";
/// A second accepted key (from `ADDITIONAL_API_KEYS`).
pub const SECOND_KEY: &str = "second-key-fedcba9876543210";

/// The health check's deadline in tests: generous, so that a loaded machine cannot turn a
/// healthy cache unhealthy (the deadline itself is the factory's to test).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// No key (the open API of development), the default limits.
pub fn open_config() -> AdminConfig {
    AdminConfig {
        health_timeout: HEALTH_TIMEOUT,
        ..AdminConfig::default()
    }
}

/// Keys `KEY` and `SECOND_KEY`, as the server binary reads them from the environment.
pub fn keyed_config() -> AdminConfig {
    AdminConfig {
        health_timeout: HEALTH_TIMEOUT,
        keys: ApiKeys::from_env_with(|name| match name {
            "API_KEY" => Some(KEY.to_owned()),
            "ADDITIONAL_API_KEYS" => Some(format!("{SECOND_KEY}, ")),
            _ => None,
        }),
        ..AdminConfig::default()
    }
}

/// `Authorization: Bearer KEY`.
pub fn bearer() -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {KEY}"))]
}

/// A running API server, stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AdminState,
    handle: ServerHandle,
}

impl TestServer {
    /// Serves `state` with the same application as the binary, on a free port of 127.0.0.1.
    pub fn start(state: AdminState) -> Self {
        let for_app = state.clone();
        let server = AdminServer::new(move || stratacache_admin::app(for_app.clone()))
            .workers(1)
            .disable_signals()
            .shutdown_timeout(Duration::from_secs(1))
            .bind(("127.0.0.1", 0))
            .unwrap();
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Self { addr, state, handle }
    }

    /// A server over a factory-built cache with `config`.
    pub fn built(built: BuiltCache, config: AdminConfig) -> Self {
        Self::start(AdminState::new(built, Arc::new(CacheRegistry::default()), config))
    }

    /// Sends one request on a new connection and reads the whole response.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        actix_web::rt::spawn(async move {
            let _ = connection.await;
        });
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET path` with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send("GET", path, headers, Bytes::new()).await
    }

    /// `GET path` with `Authorization: Bearer KEY`.
    pub async fn get_authed(&self, path: &str) -> Reply {
        let auth = format!("Bearer {KEY}");
        self.get(path, &[("authorization", &auth)]).await
    }

    /// `method path` with `Authorization: Bearer KEY` and `body`.
    pub async fn send_authed(&self, method: &str, path: &str, body: impl Into<Bytes>) -> Reply {
        let auth = format!("Bearer {KEY}");
        self.send(method, path, &[("authorization", &auth)], body).await
    }

    /// Stops the server (waits for it).
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// Asserts the status and the error envelope's shape and code; returns the envelope.
    pub fn assert_envelope(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{:?}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        let body = self.json();
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["error_code"], code, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert!(body["details"].is_object() || body["details"].is_null(), "{body}");
        let ts = body["timestamp"].as_str().unwrap();
        assert!(ts.len() == 20 && ts.ends_with('Z') && &ts[10..11] == "T", "{ts}");
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        // 401s also carry the reference's `detail: {message, context}`.
        let expected: &[&str] = if status == 401 {
            &["detail", "details", "error", "error_code", "success", "timestamp"]
        } else {
            &["details", "error", "error_code", "success", "timestamp"]
        };
        assert_eq!(keys, expected, "{body}");
        body
    }
}

/// Replaces what changes from run to run (times, durations, ports, random namespaces) so that a
/// document can be snapshotted.
pub fn redact(mut value: Value) -> Value {
    redact_in(&mut value, "");
    value
}

fn is_timing(key: &str) -> bool {
    key == "timestamp"
        || key.contains("duration")
        || key.ends_with("_time")
        || matches!(key, "p50" | "p95" | "p99" | "latency")
}

/// What the compute section's counters become in snapshots: one per field of the compute layer's
/// `ComputeStats`, which grows with the compute layer (their values are checked by name in
/// `api_compute`), so that the documents' snapshots do not change with it.
pub const COMPUTE_COUNTERS: &str = "[one per ComputeStats field]";

fn redact_in(value: &mut Value, key: &str) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if key == "compute" && k == "counters" && v.is_object() {
                    *v = Value::from(COMPUTE_COUNTERS);
                    continue;
                }
                redact_in(v, k);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_in(v, key)),
        Value::Null => {}
        _ if is_timing(key) => *value = Value::from("[redacted]"),
        Value::String(s) => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("127.0.0.1:") {
                out.push_str(&rest[..i]);
                out.push_str("127.0.0.1:[port]");
                rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
            }
            out.push_str(rest);
            *s = out;
            if let Some(i) = s.find("stratacache-test-") {
                *s = format!("{}stratacache-test-[namespace]", &s[..i]);
            }
        }
        _ => {}
    }
}

/// The rules of the Prometheus text format 0.0.4 that `promtool check metrics` applies: every
/// sample belongs to the family declared before it (histograms: `_bucket`, `_sum`, `_count`),
/// counters are named `..._total`, each family has a HELP and one TYPE, no OpenMetrics lines.
pub fn assert_prometheus_text(text: &str) {
    let mut families: Vec<(String, String)> = Vec::new();
    let mut helped = BTreeSet::new();
    for line in text.lines() {
        assert!(
            !line.is_empty() && line != "# EOF" && !line.starts_with("# UNIT"),
            "{line:?}"
        );
        if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split(' ').next().unwrap().to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(families.iter().all(|(n, _)| n != name), "{name} declared twice");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} without _total");
            }
            families.push((name.to_owned(), kind.to_owned()));
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            let (family, kind) = families
                .last()
                .unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
            let ok = match kind.as_str() {
                "histogram" => ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|s| name.strip_suffix(s) == Some(family.as_str())),
                _ => name == family,
            };
            assert!(ok, "sample {name} under family {family} ({kind})");
        }
    }
    assert!(
        families.iter().any(|(n, _)| n == "stratacache_operations_total"),
        "{text}"
    );
}
