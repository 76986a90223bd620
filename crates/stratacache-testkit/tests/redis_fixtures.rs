//! Tests of the real-Redis fixtures (feature `redis`): every mode answers over the right transport
//! with the right credentials and refuses the wrong ones, servers stop on drop and restart on the
//! same port, parallel starts get different ports, and the skip / require / external-URL logic.
//!
//! Where `redis-server` is missing these tests skip (loudly), like the Redis backend's tests.

// Test code: helpers outside `#[test]` functions fail the test by unwrapping too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use redis::{ClientTlsConfig, TlsCertificates};
use stratacache_testkit::redis::{
    ACL_USERNAME, EXTERNAL_URL_VAR, REQUIRE_VAR, RedisMode, RedisServer, SERVER_BINARY_VAR, ServerOrigin,
    UnrelatedCa, unique_namespace,
};
use stratacache_testkit::redis_server_or_skip;

/// Set in the environment of the child test processes started by [`run_child`].
const CHILD_VAR: &str = "STRATACACHE_FIXTURE_CHILD";

fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How a test client connects.
#[derive(Default)]
struct Login<'a> {
    username: Option<&'a str>,
    password: Option<&'a str>,
    /// Root certificate (PEM); `None`: the server's CA.
    root: Option<&'a [u8]>,
    /// Client certificate and key (PEM); `None`: the server's client certificate, if any.
    client: Option<Option<(&'a [u8], &'a [u8])>>,
    /// Host to connect to instead of the server's.
    host: Option<&'a str>,
}

impl<'a> Login<'a> {
    /// The server's own credentials and certificates.
    fn of(server: &'a RedisServer) -> Self {
        Login {
            username: server.username(),
            password: server.password(),
            ..Login::default()
        }
    }
}

/// Connects as `login` and sends `PING`; errors (and a 10 s timeout) as strings.
async fn ping_as(server: &RedisServer, login: &Login<'_>) -> Result<String, String> {
    install_crypto_provider();
    let host = login.host.unwrap_or(server.host());
    let userinfo = match (login.username, login.password) {
        (None, None) => String::new(),
        (user, password) => format!("{}:{}@", user.unwrap_or(""), password.unwrap_or("")),
    };
    let scheme = if server.mode().is_tls() { "rediss" } else { "redis" };
    let url = format!("{scheme}://{userinfo}{host}:{}", server.port());
    let client = match server.tls() {
        Some(tls) => {
            let client_tls = match login.client {
                Some(explicit) => explicit.map(|(cert, key)| (cert.to_vec(), key.to_vec())),
                None => tls.client_cert_pem.clone().zip(tls.client_key_pem.clone()),
            }
            .map(|(client_cert, client_key)| ClientTlsConfig {
                client_cert,
                client_key,
            });
            redis::Client::build_with_tls(
                url.as_str(),
                TlsCertificates {
                    client_tls,
                    root_cert: Some(login.root.unwrap_or(&tls.ca_cert_pem).to_vec()),
                },
            )
        }
        None => redis::Client::open(url.as_str()),
    }
    .map_err(|e| format!("client: {e}"))?;
    let attempt = async {
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| format!("connect: {e}"))?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map_err(|e| format!("PING: {e}"))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .map_err(|_| "timed out".to_owned())?
}

async fn assert_pong(server: &RedisServer, login: &Login<'_>) {
    match ping_as(server, login).await {
        Ok(reply) => assert_eq!(reply, "PONG"),
        Err(e) => panic!(
            "{:?} server at {} did not answer PING: {e}\n{}",
            server.mode(),
            server.url(),
            server.log_tail(20)
        ),
    }
}

async fn assert_refused(server: &RedisServer, login: &Login<'_>, what: &str) -> String {
    match ping_as(server, login).await {
        Ok(reply) => panic!("{what}: expected a failure, got {reply:?}"),
        Err(e) => e,
    }
}

fn port_is_closed(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_err()
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn redis_server_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join("redis-server").is_file()))
}

// ---------------------------------------------------------------------------------------------
// Every mode answers with the right credentials over the right transport.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plain_answers_ping() {
    let server = redis_server_or_skip!(RedisMode::Plain);
    assert_eq!(server.mode(), RedisMode::Plain);
    assert!(server.url().starts_with("redis://"), "{}", server.url());
    assert!(!server.url().contains('@'));
    assert_eq!(server.password(), None);
    assert_eq!(server.username(), None);
    assert!(server.tls().is_none());
    if server.origin() == ServerOrigin::Local {
        assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
        assert_ne!(server.port(), 6379);
    }
    assert_pong(&server, &Login::default()).await;
}

#[tokio::test]
async fn password_mode_needs_its_password() {
    let server = redis_server_or_skip!(RedisMode::Password);
    let password = server.password().expect("a password");
    assert!(password.len() >= 32, "{password}");
    assert_eq!(server.username(), None);
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_pong(&server, &Login::of(&server)).await;

    let e = assert_refused(&server, &Login::default(), "no password").await;
    assert!(e.contains("NOAUTH"), "{e}");
    let wrong = Login {
        password: Some("wrong-password"),
        ..Login::default()
    };
    let e = assert_refused(&server, &wrong, "wrong password").await;
    assert!(
        e.contains("WRONGPASS") || e.contains("AuthenticationFailed"),
        "{e}"
    );
}

#[tokio::test]
async fn acl_mode_admits_only_the_acl_user() {
    let server = redis_server_or_skip!(RedisMode::Acl);
    assert_eq!(server.username(), Some(ACL_USERNAME));
    let password = server.password().expect("a password");
    assert_pong(&server, &Login::of(&server)).await;

    // Full permissions: a write works.
    let client = redis::Client::open(format!(
        "redis://{ACL_USERNAME}:{password}@127.0.0.1:{}",
        server.port()
    ))
    .unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}k", unique_namespace("acl"));
    redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query_async::<()>(&mut connection)
        .await
        .unwrap();

    let e = assert_refused(&server, &Login::default(), "no credentials").await;
    assert!(e.contains("NOAUTH"), "{e}");
    // The default user is disabled, whatever the password.
    for default_password in [password, "", "nopass"] {
        let as_default = Login {
            username: Some("default"),
            password: Some(default_password),
            ..Login::default()
        };
        assert_refused(&server, &as_default, "the default user").await;
        // A password alone means the default user too.
        let password_only = Login {
            password: Some(default_password),
            ..Login::default()
        };
        assert_refused(&server, &password_only, "password without username").await;
    }
    let wrong = Login {
        username: Some(ACL_USERNAME),
        password: Some("wrong-password"),
        ..Login::default()
    };
    assert_refused(&server, &wrong, "wrong ACL password").await;
}

#[tokio::test]
async fn tls_mode_speaks_tls_only() {
    let server = redis_server_or_skip!(RedisMode::Tls);
    assert_eq!(server.url(), format!("rediss://127.0.0.1:{}", server.port()));
    let tls = server.tls().expect("certificates");
    assert!(tls.ca_cert.is_absolute() && tls.ca_cert.is_file());
    assert!(tls.server_cert.is_file() && tls.server_key.is_file());
    assert_eq!(std::fs::read(&tls.ca_cert).unwrap(), tls.ca_cert_pem);
    assert!(tls.client_cert.is_none() && tls.client_key.is_none());
    assert_eq!(tls.server_names, ["localhost", "127.0.0.1"]);
    assert_pong(&server, &Login::default()).await;
    // Both names of the certificate work.
    let by_name = Login {
        host: Some("localhost"),
        ..Login::default()
    };
    assert_pong(&server, &by_name).await;
    assert_eq!(
        server.url_with_host("localhost"),
        format!("rediss://localhost:{}", server.port())
    );

    // Plain text to the TLS port fails.
    let plain = redis::Client::open(format!("redis://127.0.0.1:{}", server.port())).unwrap();
    let attempt = async {
        let mut connection = plain.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await
    };
    let result = tokio::time::timeout(Duration::from_secs(10), attempt).await;
    assert!(
        !matches!(result, Ok(Ok(_))),
        "plain text answered on the TLS port"
    );
}

#[tokio::test]
async fn tls_mode_rejects_an_untrusted_ca() {
    let server = redis_server_or_skip!(RedisMode::Tls);
    let unrelated = UnrelatedCa::generate();
    assert!(unrelated.ca_cert().is_file());
    assert_ne!(unrelated.ca_cert_pem(), server.tls().unwrap().ca_cert_pem);
    let login = Login {
        root: Some(unrelated.ca_cert_pem()),
        ..Login::default()
    };
    let e = assert_refused(&server, &login, "untrusted CA").await;
    assert!(
        e.to_ascii_lowercase().contains("unknownissuer") || e.to_ascii_lowercase().contains("unknown issuer"),
        "{e}"
    );
}

#[tokio::test]
async fn tls_hostname_mismatch_is_rejected() {
    let Some(server) = RedisServer::builder(RedisMode::Tls)
        .server_cert_names(["other.invalid"])
        .start_or_skip()
    else {
        return;
    };
    assert_eq!(server.tls().unwrap().server_names, ["other.invalid"]);
    let e = assert_refused(&server, &Login::default(), "hostname mismatch").await;
    assert!(e.contains("not valid for name"), "{e}");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_its_ca() {
    let server = redis_server_or_skip!(RedisMode::MutualTls);
    let tls = server.tls().expect("certificates");
    let (cert, key) = (
        tls.client_cert.as_ref().expect("client certificate"),
        tls.client_key.as_ref().expect("client key"),
    );
    assert!(cert.is_absolute() && cert.is_file() && key.is_file());
    assert_eq!(Some(std::fs::read(cert).unwrap()), tls.client_cert_pem);
    assert_pong(&server, &Login::default()).await;

    let no_certificate = Login {
        client: Some(None),
        ..Login::default()
    };
    assert_refused(
        &server,
        &no_certificate,
        "mutual TLS without a client certificate",
    )
    .await;

    let unrelated = UnrelatedCa::generate();
    let foreign_certificate = Login {
        client: Some(Some((unrelated.client_cert_pem(), unrelated.client_key_pem()))),
        ..Login::default()
    };
    assert_refused(
        &server,
        &foreign_certificate,
        "a client certificate from another CA",
    )
    .await;
}

#[tokio::test]
async fn redis_cli_args_connect_in_every_mode() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        return;
    }
    for mode in RedisMode::ALL {
        let server = redis_server_or_skip!(mode);
        let output = Command::new("redis-cli")
            .args(server.redis_cli_args())
            .arg("PING")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            stdout.trim(),
            "PONG",
            "{mode:?}: redis-cli {:?}: {}",
            server.redis_cli_args(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
async fn extra_configuration_is_applied() {
    let Some(server) = RedisServer::builder(RedisMode::Password)
        .config("maxmemory", "12mb")
        .config("maxmemory-policy", "allkeys-lru")
        .start_or_skip()
    else {
        return;
    };
    let client = redis::Client::open(format!(
        "redis://:{}@127.0.0.1:{}",
        server.password().unwrap(),
        server.port()
    ))
    .unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let policy: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory-policy")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(policy, ["maxmemory-policy", "allkeys-lru"]);
    let memory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(memory[1], (12 * 1024 * 1024).to_string());
}

// ---------------------------------------------------------------------------------------------
// Life cycle
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn drop_stops_the_server() {
    let Some(server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let (port, pid) = (server.port(), server.pid().expect("a local server has a pid"));
    let dir = server.dir().unwrap().to_path_buf();
    assert!(process_exists(pid) && dir.is_dir());
    drop(server);
    assert!(!process_exists(pid), "redis-server {pid} survived the drop");
    assert!(port_is_closed(port), "port {port} still open after the drop");
    assert!(!dir.exists(), "temporary directory {} left behind", dir.display());
}

#[tokio::test]
async fn stop_and_restart_keep_the_port() {
    for mode in [RedisMode::Plain, RedisMode::Acl, RedisMode::MutualTls] {
        let Some(mut server) = RedisServer::builder(mode).local().start_or_skip() else {
            return;
        };
        let (port, url, password) = (
            server.port(),
            server.url().to_owned(),
            server.password().map(str::to_owned),
        );
        let first_pid = server.pid().unwrap();
        assert_pong(&server, &Login::of(&server)).await;

        server.stop();
        assert!(!server.is_running());
        assert!(server.pid().is_none());
        assert!(port_is_closed(port), "{mode:?}: port still open after stop");
        server.stop(); // idempotent

        let started = Instant::now();
        server.restart();
        let restart_time = started.elapsed();
        assert!(server.is_running());
        assert_ne!(server.pid().unwrap(), first_pid);
        assert_eq!(server.port(), port);
        assert_eq!(server.url(), url);
        assert_eq!(server.password().map(str::to_owned), password);
        assert_pong(&server, &Login::of(&server)).await;
        assert!(restart_time < Duration::from_secs(5), "{restart_time:?}");

        // Restarting a running server works too.
        server.restart();
        assert_pong(&server, &Login::of(&server)).await;
    }
}

#[tokio::test]
async fn a_client_reconnects_after_a_restart() {
    let Some(mut server) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
    server.restart();
    // The old connection breaks; a new one works, and the data is gone (nothing is persisted).
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let value: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(value, None);
}

#[test]
fn parallel_servers_get_different_ports() {
    if RedisServer::start_or_skip(RedisMode::Plain).is_none() {
        return;
    }
    let started = Instant::now();
    let servers: Vec<RedisServer> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                scope.spawn(move || {
                    let mode = RedisMode::ALL[i % RedisMode::ALL.len()];
                    RedisServer::builder(mode).local().start()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    let mut ports: Vec<u16> = servers.iter().map(RedisServer::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), servers.len(), "ports were shared: {ports:?}");
    let mut pids: Vec<u32> = servers.iter().map(|s| s.pid().unwrap()).collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), servers.len());
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[test]
fn start_or_skip_finds_redis_server_here() {
    if !redis_server_on_path() {
        return;
    }
    let server = RedisServer::start_or_skip(RedisMode::Plain).expect("redis-server is on PATH");
    let expected = if std::env::var_os(EXTERNAL_URL_VAR).is_some_and(|v| !v.is_empty()) {
        ServerOrigin::External
    } else {
        ServerOrigin::Local
    };
    assert_eq!(server.origin(), expected);
    // The TLS modes never use the external server.
    let tls = RedisServer::start_or_skip(RedisMode::Tls).expect("redis-server is on PATH");
    assert_eq!(tls.origin(), ServerOrigin::Local);
}

#[test]
fn unique_namespaces_differ() {
    let a = unique_namespace("t");
    let b = unique_namespace("t");
    assert_ne!(a, b);
    assert!(a.starts_with("stratacache-test-t-") && !a.contains(':'), "{a}");
    stratacache_core::validate_namespace(&a).unwrap();
    assert!(!unique_namespace("a:b").contains(':'));
}

// ---------------------------------------------------------------------------------------------
// Environment: the external URL, skipping and STRATACACHE_REQUIRE_REDIS. Environment variables are
// process-wide (and the binary lookup is cached per process), so these run the test binary again
// as a child process with the environment under test.
// ---------------------------------------------------------------------------------------------

fn run_child(test: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .env_remove(EXTERNAL_URL_VAR)
        .env_remove(REQUIRE_VAR)
        .env_remove(SERVER_BINARY_VAR);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn is_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

#[test]
fn external_url_is_used_for_plain_mode() {
    let Some(target) = RedisServer::builder(RedisMode::Password).local().start_or_skip() else {
        return;
    };
    let url = format!(
        "redis://:{}@127.0.0.1:{}",
        target.password().unwrap(),
        target.port()
    );
    let output = run_child(
        "child_uses_the_external_server",
        &[
            (EXTERNAL_URL_VAR, url.as_str()),
            ("EXPECTED_PORT", &target.port().to_string()),
            ("EXPECTED_PASSWORD", target.password().unwrap()),
        ],
    );
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

#[tokio::test]
#[ignore = "run by external_url_is_used_for_plain_mode in a child process"]
async fn child_uses_the_external_server() {
    if !is_child() {
        return;
    }
    let port: u16 = std::env::var("EXPECTED_PORT").unwrap().parse().unwrap();
    let password = std::env::var("EXPECTED_PASSWORD").unwrap();
    let mut server = RedisServer::start(RedisMode::Plain);
    assert_eq!(server.origin(), ServerOrigin::External);
    assert_eq!(server.port(), port);
    assert_eq!(server.url(), format!("redis://127.0.0.1:{port}"));
    assert_eq!(server.password(), Some(password.as_str()));
    assert!(server.pid().is_none() && server.dir().is_none());
    assert_pong(&server, &Login::of(&server)).await;
    // Other modes, and local() builders, still start their own server.
    let own = RedisServer::builder(RedisMode::Plain).local().start();
    assert_eq!(own.origin(), ServerOrigin::Local);
    assert_ne!(own.port(), port);
    let stop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.stop()));
    assert!(stop.is_err(), "stopping the external server must panic");
}

#[test]
fn missing_redis_server_skips_loudly() {
    if is_child() {
        return;
    }
    let output = run_child("child_without_redis", &[("PATH", "")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stderr}");
    assert!(stderr.contains("SKIPPING Redis test"), "{stderr}");
    assert!(stderr.contains("apt-get install redis-server"), "{stderr}");
    assert!(stderr.contains(EXTERNAL_URL_VAR), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("1 passed"));
}

#[test]
fn missing_redis_server_fails_when_required() {
    if is_child() {
        return;
    }
    let output = run_child("child_without_redis", &[("PATH", ""), (REQUIRE_VAR, "1")]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the child passed:\n{all}");
    assert!(all.contains("SKIPPING Redis test"), "{all}");
    assert!(all.contains(REQUIRE_VAR), "{all}");
}

#[test]
#[ignore = "run by missing_redis_server_* in a child process"]
fn child_without_redis() {
    if !is_child() {
        return;
    }
    let skipped = RedisServer::start_or_skip(RedisMode::Tls);
    assert!(skipped.is_none());
    // A second skip in the same process prints one line.
    assert!(RedisServer::start_or_skip(RedisMode::Plain).is_none());
}

#[test]
fn a_server_that_cannot_start_fails_with_its_log() {
    if is_child() || !redis_server_on_path() {
        return;
    }
    let result = RedisServer::builder(RedisMode::Plain)
        .local()
        .config("no-such-directive", "1")
        .try_start();
    let message = result.expect_err("started with an invalid directive").to_string();
    assert!(message.contains("failed to start"), "{message}");
    assert!(message.contains("no-such-directive"), "{message}");
}
