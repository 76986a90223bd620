//! The `stratacache-server` binary as a user runs it: the embedded memory default, Redis from
//! `CACHE_REDIS_URL`, request ids, graceful shutdown on SIGTERM and SIGINT, and exit code 2 with
//! the factory's message for an invalid configuration.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stratacache_testkit::redis::RedisMode;
use stratacache_testkit::redis_server_or_skip;

/// The server's environment: nothing inherited from the caller's cache settings.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratacache-server"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Running {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut all = vec!["--bind", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = command(&all, env).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("stratacache-server listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    fn get(&self, path: &str) -> (u16, String, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_owned())
    }

    /// Sends `signal` and waits for the exit; returns the exit code and stderr.
    fn stop(mut self, signal: &str) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(40);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status.code(), stderr)
    }
}

#[test]
fn runs_on_the_embedded_memory_default_and_stops_gracefully() {
    let server = Running::start(&[], &[]);
    let (status, head, body) = server.get("/internal/cache/status");
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("x-request-id:"), "{head}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["backend"], "memory");
    assert_ne!(json["redis"]["status"], "connected");
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("registry shut down"), "{stderr}");
    assert!(
        stderr.contains("request_id"),
        "request logs carry their id: {stderr}"
    );
}

#[test]
fn sigint_also_stops_gracefully() {
    let server = Running::start(&["--preset", "minimal"], &[]);
    assert_eq!(server.get("/internal/cache/health").0, 200);
    let (code, stderr) = server.stop("-INT");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn runs_on_redis_from_the_environment() {
    let redis = redis_server_or_skip!(RedisMode::Password);
    let url = format!(
        "redis://:{}@{}:{}",
        redis.password().unwrap(),
        redis.host(),
        redis.port()
    );
    let server = Running::start(
        &["--preset", "simple", "--log-format", "json"],
        &[("CACHE_REDIS_URL", &url)],
    );
    let (status, _, body) = server.get("/internal/cache/status");
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["redis"]["status"], "connected", "{json}");
    assert!(
        !body.contains(redis.password().unwrap()),
        "the password leaked: {body}"
    );
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with('{')), "JSON logs: {stderr}");
}

/// Debug-level logs and every response of the binary are free of the URL's password, the ACL
/// password and the encryption keys: a password in the URL, an ACL user, and a degraded start on
/// a dead URL with a password (whose warning names the URL).
#[test]
fn secrets_never_show_in_logs_or_responses() {
    let password = redis_server_or_skip!(RedisMode::Password);
    let acl = redis_server_or_skip!(RedisMode::Acl);
    let (key, older) = (
        stratacache_crypto::generate_key(),
        stratacache_crypto::generate_key(),
    );
    let (key, older) = (key.as_str(), older.as_str());
    let pw = password.password().unwrap();
    let with_creds = format!("redis://:{pw}@{}:{}", password.host(), password.port());
    let dead = format!("redis://:{pw}@127.0.0.1:1");
    let cases: [Vec<(&str, &str)>; 3] = [
        vec![("CACHE_REDIS_URL", &with_creds)],
        vec![("CACHE_REDIS_URL", &dead)],
        vec![
            ("CACHE_REDIS_URL", acl.url()),
            ("REDIS_ACL_USERNAME", acl.username().unwrap()),
            ("REDIS_ACL_PASSWORD", acl.password().unwrap()),
        ],
    ];
    for mut env in cases {
        env.extend([
            ("REDIS_ENCRYPTION_KEY", key),
            ("REDIS_ENCRYPTION_KEYS", older),
            ("RUST_LOG", "debug"),
        ]);
        let server = Running::start(&["--preset", "simple"], &env);
        let mut shown = String::new();
        for path in [
            "/internal/cache/status",
            "/internal/cache/health",
            "/internal/cache/metrics",
            "/metrics",
        ] {
            let (_, head, body) = server.get(path);
            shown.push_str(&head);
            shown.push_str(&body);
        }
        let (code, stderr) = server.stop("-TERM");
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stderr.contains("DEBUG"), "debug logs: {stderr}");
        shown.push_str(&stderr);
        for secret in [pw, acl.password().unwrap(), key, older] {
            assert!(!shown.contains(secret), "a secret shows ({env:?}): {shown}");
        }
    }
}

#[test]
fn an_invalid_configuration_exits_with_code_2_and_the_message() {
    let cases: [(&[&str], &[(&str, &str)], &str); 6] = [
        (&["--preset", "producton"], &[], "did you mean `production`?"),
        (
            &[],
            &[("CACHE_CUSTOM_CONFIG", r#"{"compression_level": 12}"#)],
            "compression_level: got 12, accepted: 1..=9",
        ),
        (&[], &[("ENVIRONMENT", "production")], "API_KEY"),
        (
            &["--preset", "minimal"],
            &[("ENVIRONMENT", "staging"), ("API_KEY", "short-key")],
            "shorter than 16 characters",
        ),
        (
            &["--require-auth-for-reads", "sometimes"],
            &[],
            "API_REQUIRE_AUTH_FOR_READS",
        ),
        (
            &[],
            &[("CACHE_REDIS_URL", "redis://127.0.0.1:1")],
            "redis_password",
        ),
    ];
    for (args, env, expected) in cases {
        let output = command(args, env).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?} {env:?}: {stderr}");
    }
}

#[test]
fn reads_need_a_key_in_staging_unless_configured_and_liveness_never_does() {
    const KEY: &str = "a-staging-key-0123456789";
    let staging = [("ENVIRONMENT", "staging"), ("API_KEY", KEY)];
    let server = Running::start(&["--preset", "minimal"], &staging);
    let (status, _, body) = server.get("/internal/cache/status");
    assert_eq!(status, 401, "reads need a key by default in staging: {body}");
    assert_eq!(server.get("/internal/cache/health").0, 401);
    let (status, _, body) = server.get("/internal/cache/health/live");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"alive"}"#));
    assert_eq!(server.stop("-TERM").0, Some(0));
    // The variable, then the flag (which wins over it), turn it off.
    let with_var = [staging[0], staging[1], ("API_REQUIRE_AUTH_FOR_READS", "false")];
    for (args, env) in [
        (&["--preset", "minimal"][..], &with_var[..]),
        (
            &["--preset", "minimal", "--require-auth-for-reads", "false"][..],
            &staging[..],
        ),
    ] {
        let server = Running::start(args, env);
        assert_eq!(server.get("/internal/cache/status").0, 200, "{args:?} {env:?}");
        assert_eq!(server.stop("-TERM").0, Some(0));
    }
    // And on in development, when asked.
    let server = Running::start(&["--require-auth-for-reads", "yes"], &[("API_KEY", KEY)]);
    assert_eq!(server.get("/internal/cache/status").0, 401);
    assert_eq!(server.stop("-TERM").0, Some(0));
}

#[test]
fn an_address_in_use_exits_with_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = command(&["--bind", &addr], &[]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"));
}

#[test]
fn oversized_request_headers_answer_431_in_the_envelope() {
    let server = Running::start(&[], &[]);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let big = "a".repeat(20 * 1024);
    write!(
        stream,
        "GET /internal/cache/status HTTP/1.1\r\nHost: t\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");
    assert!(raw.contains("\"error_code\":\"VALIDATION_ERROR\""), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{raw}"
    );
    // Normal requests still pass.
    assert_eq!(server.get("/internal/cache/status").0, 200);
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn requests_refused_before_routing_answer_the_envelope_with_the_security_headers() {
    let server = Running::start(&[], &[]);
    let many_headers: String = (0..10_000).map(|i| format!("X-H{i}: v\r\n")).collect();
    for (request, status) in [
        (
            format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "u".repeat(100 * 1024)),
            "414",
        ),
        (format!("GET / HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n"), "431"),
        (
            "PUT /internal/cache/entries/k HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n"
                .to_owned(),
            "400",
        ),
    ] {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        let _ = stream.write_all(request.as_bytes());
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        assert!(raw.starts_with(&format!("http/1.1 {status}")), "{raw:.300}");
        assert!(raw.contains("x-content-type-options: nosniff"), "{raw:.300}");
        assert!(raw.contains("\"error_code\":\"validation_error\""), "{raw:.300}");
        assert_eq!(server.get("/internal/cache/health/live").0, 200);
    }
    let (code, stderr) = server.stop("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
}
