//! Secrets never show through the API: URL credentials, the ACL password and the encryption keys
//! are absent from `AdminState`'s `Debug` and from every JSON response, over real Redis servers
//! (a password in the URL, an ACL user, and a degraded start on a dead URL with a password).

#![allow(clippy::unwrap_used)]

mod api_support;

use std::sync::Arc;

use api_support::{TestServer, keyed_config};
use stratacache_admin::AdminState;
use stratacache_factory::{CacheConfig, CacheFactory, CacheRegistry};
use stratacache_testkit::redis::{RedisMode, unique_namespace};
use stratacache_testkit::redis_server_or_skip;

const PATHS: [&str; 6] = [
    "/internal/cache/status",
    "/internal/cache/health",
    "/internal/cache/metrics",
    "/internal/cache/invalidation-stats",
    "/internal/cache/openapi.json",
    "/metrics",
];

#[actix_web::test]
async fn secrets_never_show_in_admin_state_or_responses() {
    let (key, older) = (
        stratacache_crypto::generate_key(),
        stratacache_crypto::generate_key(),
    );
    let password = redis_server_or_skip!(RedisMode::Password);
    let acl = redis_server_or_skip!(RedisMode::Acl);
    let pw = password.password().unwrap();
    let cases = [
        vec![(
            "CACHE_REDIS_URL",
            format!("redis://:{pw}@{}:{}", password.host(), password.port()),
        )],
        vec![("CACHE_REDIS_URL", format!("redis://:{pw}@127.0.0.1:1"))],
        vec![
            ("CACHE_REDIS_URL", acl.url().to_owned()),
            ("REDIS_ACL_USERNAME", acl.username().unwrap().to_owned()),
            ("REDIS_ACL_PASSWORD", acl.password().unwrap().to_owned()),
        ],
    ];
    for mut vars in cases {
        vars.push(("CACHE_PRESET", "simple".to_owned()));
        vars.push(("REDIS_ENCRYPTION_KEY", key.clone()));
        vars.push(("REDIS_ENCRYPTION_KEYS", older.clone()));
        let custom = serde_json::json!({"namespace": unique_namespace("secrets")}).to_string();
        vars.push(("CACHE_CUSTOM_CONFIG", custom));
        let config =
            CacheConfig::from_env_with(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .unwrap();
        let built = CacheFactory::from_config(config).await.unwrap();
        let state = AdminState::new(built, Arc::new(CacheRegistry::default()), keyed_config());
        let mut shown = format!("{state:?}");
        let server = TestServer::start(state);
        for path in PATHS {
            let reply = server.get_authed(path).await;
            assert!(
                reply.status < 500 || path.ends_with("health"),
                "{path}: {}",
                reply.text()
            );
            shown.push_str(&reply.text());
        }
        let status = server.get_authed("/internal/cache/status").await.json();
        assert!(status["redis"].is_object(), "{status}");
        for secret in [pw, acl.password().unwrap(), key.as_str(), older.as_str()] {
            assert!(!shown.contains(secret), "a secret shows ({vars:?}): {shown}");
        }
        server.stop().await;
    }
}
