//! Failure behaviour against real servers: bad credentials, untrusted TLS, unreachable and
//! restarted servers. Every failure is a typed error, within the configured timeouts.

mod common;

use std::time::{Duration, Instant};

use stratacache_core::{Bytes, Cache, ErrorKind, HealthStatus, Ttl};
use stratacache_redis::{RedisCache, Secret};
use stratacache_testkit::redis::{RedisMode, RedisServer, UnrelatedCa};
use stratacache_testkit::redis_server_or_skip;

async fn connect_err(config: stratacache_redis::RedisConfig) -> stratacache_core::Error {
    RedisCache::connect(common::impatient(config))
        .await
        .expect_err("connect must fail")
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error() {
    let server = redis_server_or_skip!(RedisMode::Password);
    let mut config = common::config_for(&server);
    config.security.password = Some(Secret::new("not-the-password"));
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.is_temporary());
    assert!(
        !err.to_string().contains("not-the-password"),
        "the password leaked: {err}"
    );

    // No password at all is refused as well.
    let mut config = common::config_for(&server);
    config.security.password = None;
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

#[tokio::test]
async fn wrong_acl_user_is_an_authentication_error() {
    let server = redis_server_or_skip!(RedisMode::Acl);
    let mut config = common::config_for(&server);
    config.security.username = Some("intruder".into());
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");

    // The right password for the disabled `default` user is not enough either.
    let mut config = common::config_for(&server);
    config.security.username = None;
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
}

#[tokio::test]
async fn untrusted_ca_is_refused() {
    let server = redis_server_or_skip!(RedisMode::Tls);
    let other = UnrelatedCa::generate();
    let mut config = common::config_for(&server);
    config.security.tls.ca_file = Some(other.ca_cert().to_path_buf());
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[tokio::test]
async fn hostname_mismatch_is_refused() {
    let Some(server) = RedisServer::builder(RedisMode::Tls)
        .server_cert_names(["other.invalid"])
        .start_or_skip()
    else {
        return;
    };
    let err = connect_err(common::config_for(&server)).await;
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test]
async fn mutual_tls_without_client_certificate_is_refused() {
    let server = redis_server_or_skip!(RedisMode::MutualTls);
    let mut config = common::config_for(&server);
    config.security.tls.client_cert_file = None;
    config.security.tls.client_key_file = None;
    let err = connect_err(config).await;
    assert!(
        matches!(err.kind(), ErrorKind::Authentication | ErrorKind::Connection),
        "expected a refused handshake, got {err}"
    );
}

#[tokio::test]
async fn plaintext_to_a_tls_only_server_fails_clearly() {
    let server = redis_server_or_skip!(RedisMode::Tls);
    let mut config = common::config_for(&server);
    config.url = format!("redis://127.0.0.1:{}", server.port()).into();
    config.security.tls = Default::default();
    let start = Instant::now();
    let err = connect_err(config).await;
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err}"
    );
    assert!(
        err.to_string().contains("rediss://"),
        "the error should suggest TLS: {err}"
    );
}

#[tokio::test]
async fn connection_refused_is_temporary_and_fast() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = Instant::now();
    let err = connect_err(stratacache_redis::RedisConfig::new(format!(
        "redis://127.0.0.1:{port}"
    )))
    .await;
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.is_temporary());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_silent_server_times_out_within_the_configured_timeout() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let start = Instant::now();
    let err = connect_err(stratacache_redis::RedisConfig::new(format!(
        "redis://127.0.0.1:{port}"
    )))
    .await;
    assert!(err.is_temporary(), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "took {:?} with 500ms timeouts",
        start.elapsed()
    );
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_by_itself_after_a_server_restart() {
    let Some(mut server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let mut config = common::config_for(&server);
    config.command_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_millis(500);
    config.retry.max_retries = 0;
    config.pool_size = 2;
    let cache = common::connect(config).await;
    cache
        .set("k", Bytes::from_static(b"before"), Ttl::Never)
        .await
        .unwrap();

    server.stop();
    let err = cache.get("k").await.expect_err("the server is down");
    assert!(err.is_temporary(), "{err}");
    assert_eq!(cache.health().await.status, HealthStatus::Unhealthy);

    server.restart();
    // The restarted server is empty (no persistence); the same cache object works again.
    let mut recovered = false;
    for _ in 0..50 {
        if cache
            .set("k", Bytes::from_static(b"after"), Ttl::Never)
            .await
            .is_ok()
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the cache did not recover after the restart");
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"after"[..]));
    assert_eq!(cache.health().await.status, HealthStatus::Healthy);
}

#[tokio::test]
async fn status_reports_the_server() {
    let server = redis_server_or_skip!(RedisMode::Acl);
    let cache = common::connect(common::config_for(&server)).await;
    for i in 0..7 {
        cache
            .set(&format!("s{i}"), Bytes::from_static(b"v"), Ttl::Never)
            .await
            .unwrap();
    }
    let status = cache.status().await;
    assert!(status.connected, "{status:?}");
    assert!(
        status
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with(char::is_numeric)),
        "{status:?}"
    );
    assert!(status.used_memory_bytes.is_some_and(|b| b > 0), "{status:?}");
    assert!(status.connected_clients.is_some_and(|c| c >= 1), "{status:?}");
    assert_eq!(status.keys_in_namespace, Some(7));
    assert_eq!(status.auth, stratacache_redis::AuthMethod::Acl);
    assert!(!status.tls);
    let json = serde_json::to_string(&status).unwrap();
    assert!(
        !json.contains(server.password().unwrap()),
        "the password leaked: {json}"
    );
}

#[tokio::test]
async fn clear_and_invalidation_stay_in_the_namespace() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    let ours = common::connect(common::config_for(&server)).await;
    let theirs = common::connect(common::config_for(&server)).await;
    for cache in [&ours, &theirs] {
        cache
            .set_many(
                &[
                    ("a:1", Bytes::from_static(b"x")),
                    ("a:2", Bytes::from_static(b"y")),
                ],
                Ttl::Never,
            )
            .await
            .unwrap();
    }
    assert_eq!(ours.invalidate_pattern("a:*").await.unwrap(), 2);
    ours.clear().await.unwrap();
    assert_eq!(
        theirs
            .get_many(&["a:1", "a:2"])
            .await
            .unwrap()
            .iter()
            .flatten()
            .count(),
        2
    );
}

#[tokio::test]
async fn tls_13_minimum_is_enforced() {
    use stratacache_redis::TlsVersion;

    // Redis offers TLS 1.2 and 1.3 by default: the minimum is met.
    let server = redis_server_or_skip!(RedisMode::Tls);
    let mut config = common::config_for(&server);
    config.security.tls.min_version = TlsVersion::Tls13;
    let cache = common::connect(config).await;
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::Never)
        .await
        .unwrap();

    // A server limited to TLS 1.2 is refused at connect time, naming the setting.
    let Some(old) = RedisServer::builder(RedisMode::Tls)
        .config("tls-protocols", "TLSv1.2")
        .start_or_skip()
    else {
        return;
    };
    let mut config = common::config_for(&old);
    config.security.tls.min_version = TlsVersion::Tls13;
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    assert!(err.to_string().contains("min_version = 1.3"), "{err}");
    // The same server is fine with the default minimum.
    common::connect(common::config_for(&old)).await;
}

#[tokio::test]
async fn verification_off_accepts_an_untrusted_server() {
    let server = redis_server_or_skip!(RedisMode::Tls);
    let other = UnrelatedCa::generate();
    let mut config = common::config_for(&server);
    config.security.tls.ca_file = Some(other.ca_cert().to_path_buf());
    config.security.tls.verify_certificates = false;
    config.security.tls.min_version = stratacache_redis::TlsVersion::Tls13;
    let cache = common::connect(config).await;
    cache
        .set("k", Bytes::from_static(b"v"), Ttl::Never)
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}
