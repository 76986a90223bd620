//! Several processes on one Redis, as an operator runs them: two `stratacache-server` processes
//! (A and B) and an application process (this test binary started again, reading with
//! `Cache::get` through its memory tier, as an application does). What the operator changes
//! through A's or B's API (entries, pattern and tag invalidation) is what the application reads next, and after Redis is killed and
//! restarted everything works again.
//!
//! The application process waits for each expected value and reports how long it took after it
//! was told (printed with `--nocapture`); `cargo xtask bench fleet` measures the propagation
//! itself.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use stratacache_testkit::redis::{RedisMode, RedisServer};

const ROLE: &str = "STRATACACHE_TEST_APPLICATION";
const PATIENCE: Duration = Duration::from_secs(10);
/// The test, which is also the application process's body when started with [`ROLE`] set.
const TEST: &str = "operator_changes_on_one_server_reach_an_application_process_and_the_other_server";

fn environment(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CACHE_PRESET", "simple".to_owned()),
        ("ENVIRONMENT", "testing".to_owned()),
        ("CACHE_REDIS_URL", url.to_owned()),
    ]
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stratacache-server"))
            .args(["--bind", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(environment(url))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("stratacache-server listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    /// One request; the status and the body.
    fn send(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        (head.split(' ').nth(1).unwrap().parse().unwrap(), body.to_owned())
    }

    fn fleet(&self) -> serde_json::Value {
        let (status, body) = self.send("GET", "/internal/cache/status", "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["fleet"].clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The application process: told `wait <key> <value|-> ` on stdin, it reads `key` with `get`
/// until it sees the value (`-`: no entry) and answers `seen <µs>`, or `stale <what it read>`.
struct Application {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl Application {
    fn start(url: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(ROLE, url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(output.read_line(&mut line).unwrap() > 0, "the application exited");
            // libtest prints "test <name> ... " without a newline before the test's own output.
            if line.trim().ends_with("ready") {
                break;
            }
        }
        Self { child, input, output }
    }

    /// Has the application write `value` under `key` with `tag` (`set_with_tags`): its memory
    /// tier then holds the entry.
    fn writes_tagged(&mut self, key: &str, value: &str, tag: &str) {
        writeln!(self.input, "tag {key} {value} {tag}").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "the application exited"
            );
            if line.trim() == "written" {
                return;
            }
        }
    }

    /// Waits until the application reads `expected` for `key`; how long it took after being told.
    fn sees(&mut self, key: &str, expected: Option<&str>) -> Duration {
        self.try_sees(key, expected)
            .unwrap_or_else(|stale| panic!("{key}: the application still reads {stale} after {PATIENCE:?}"))
    }

    /// As [`sees`](Self::sees), or what the application read instead after [`PATIENCE`].
    fn try_sees(&mut self, key: &str, expected: Option<&str>) -> Result<Duration, String> {
        writeln!(self.input, "wait {key} {}", expected.unwrap_or("-")).unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "the application exited"
            );
            if let Some(micros) = line.trim().strip_prefix("seen ") {
                return Ok(Duration::from_micros(micros.parse().unwrap()));
            }
            if let Some(stale) = line.trim().strip_prefix("stale ") {
                return Err(stale.to_owned());
            }
        }
    }
}

impl Drop for Application {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The application process's body.
fn application(url: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut config = stratacache_factory::CacheConfig::from_env_with(|name| {
            environment(url)
                .into_iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v)
        })
        .unwrap();
        config.enable_monitoring = false;
        let built = stratacache_factory::CacheFactory::from_config(config)
            .await
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while !built.fleet_status().unwrap().connected {
            assert!(Instant::now() < deadline, "never subscribed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("ready");
        for line in std::io::stdin().lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("tag ") {
                use stratacache_core::TagsExt as _;
                let words: Vec<&str> = rest.split(' ').collect();
                let value = stratacache_core::Bytes::copy_from_slice(words[1].as_bytes());
                built
                    .cache
                    .set_with_tags(words[0], value, stratacache_core::Ttl::Default, &[words[2]])
                    .await
                    .unwrap();
                println!("written");
                continue;
            }
            let mut words = line.split(' ').skip(1);
            let (key, expected) = (words.next().unwrap(), words.next().unwrap());
            let expected = (expected != "-").then_some(expected.as_bytes());
            let (told, deadline) = (Instant::now(), Instant::now() + PATIENCE);
            loop {
                let got = built.cache.get(key).await.ok().flatten();
                if got.as_deref() == expected {
                    println!("seen {}", told.elapsed().as_micros());
                    break;
                }
                if Instant::now() > deadline {
                    println!("stale {got:?}");
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    });
}

#[test]
fn operator_changes_on_one_server_reach_an_application_process_and_the_other_server() {
    if let Ok(url) = std::env::var(ROLE) {
        return application(&url);
    }
    let Some(mut redis) = RedisServer::builder(RedisMode::Plain).local().start_or_skip() else {
        return;
    };
    let url = redis.url().to_owned();
    let (a, b) = (Server::start(&url), Server::start(&url));
    let mut app = Application::start(&url);

    assert_eq!(a.send("PUT", "/internal/cache/entries/user:1", "v1").0, 201);
    app.sees("user:1", Some("v1"));
    // The application now holds v1 in its memory tier (60 s): only an invalidation removes it.
    assert_eq!(a.send("PUT", "/internal/cache/entries/user:1", "v2").0, 200);
    let took = app.sees("user:1", Some("v2"));
    println!("A's PUT read by the application's get {took:?} after the PUT returned");
    let (status, body) = b.send("POST", "/internal/cache/invalidate?pattern=user:*", "");
    assert_eq!(status, 200, "{body}");
    app.sees("user:1", None);
    assert_eq!(a.send("PUT", "/internal/cache/entries/item:1", "x").0, 201);
    app.sees("item:1", Some("x"));
    assert_eq!(b.send("DELETE", "/internal/cache/entries/item:1", "").0, 200);
    app.sees("item:1", None);
    // The application writes tagged entries; the operator invalidates the tag on B.
    app.writes_tagged("order:1", "o1", "customer-7");
    app.writes_tagged("order:2", "o2", "customer-7");
    app.sees("order:1", Some("o1"));
    let (status, body) = b.send("POST", "/internal/cache/invalidate?tag=customer-7", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"keys_removed\":2"), "{body}");
    app.sees("order:1", None);
    app.sees("order:2", None);
    for server in [&a, &b] {
        let fleet = server.fleet();
        assert_eq!(fleet["status"], "connected", "{fleet}");
        assert!(fleet["counters"]["applied"].as_u64().unwrap() >= 1, "{fleet}");
    }

    // Redis killed and restarted: the servers and the application resubscribe by themselves,
    // and what the operator writes afterwards is what the application reads.
    redis.kill9();
    redis.restart();
    let deadline = Instant::now() + PATIENCE * 3;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let connected = [&a, &b].iter().all(|s| s.fleet()["status"] == "connected");
        let (status, body) = a.send("GET", "/internal/cache/status", "");
        let on_redis = status == 200 && body.contains("\"breaker\":\"closed\"");
        let value = format!("after-{attempt}");
        // A write that raced a breaker opening lands in A's fallback, not in Redis: try again.
        if connected
            && on_redis
            && a.send("PUT", "/internal/cache/entries/user:2", &value).0 / 100 == 2
            && app.try_sees("user:2", Some(&value)).is_ok()
        {
            break;
        }
        assert!(Instant::now() < deadline, "the servers did not recover: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(a.send("PUT", "/internal/cache/entries/user:2", "again").0, 200);
    app.sees("user:2", Some("again"));
}
