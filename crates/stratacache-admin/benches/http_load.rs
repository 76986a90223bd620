//! An open-loop load generator against the admin API, with Redis behind it: a fixed request rate
//! (1000 requests per second by default) for a bounded time on each endpoint, over keep-alive
//! HTTP/1.1 connections. Prints the achieved rate, p50, p99 and max latency and the error count.
//! Target: p99 under 5 ms at 1000 requests per second, no errors. Figures are printed, never
//! asserted.
//!
//! Run with `cargo bench -p stratacache-admin --bench http_load` (`LOAD_RPS`, `LOAD_SECONDS` and
//! `LOAD_CONNECTIONS` override 1000, 10 and 16). Without `--bench` it does a short smoke run; with
//! `--list` (nextest) it lists nothing. Without `redis-server` it runs on the memory cache.
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratacache_admin::server::AdminServer;
use stratacache_admin::{AdminConfig, AdminState, ApiKeys};
use stratacache_core::{Cache, Ttl};
use stratacache_factory::{CacheConfig, CacheFactory, CacheRegistry};
use stratacache_testkit::redis::{RedisMode, RedisServer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const KEY: &str = "bench-key";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Starts the admin app on a port of its own, in a thread with its own actix system.
fn spawn_server(state: AdminState) -> (SocketAddr, actix_web::dev::ServerHandle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = AdminServer::new(move || stratacache_admin::app(state.clone()))
                .workers(1)
                .bind(("127.0.0.1", 0))
                .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    rx.recv().unwrap()
}

/// One keep-alive connection sending `GET path` at `interval`; returns latencies (µs) and errors.
async fn connection(
    addr: SocketAddr,
    path: String,
    interval: Duration,
    until: Instant,
    offset: Duration,
) -> (Vec<u64>, u64) {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer bench-api-key\r\n\r\n");
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let mut line = String::new();
    let mut body = Vec::new();
    while Instant::now() < until {
        // Open loop: latency counts from when the request was due, not when it was sent.
        let due = ticker.tick().await.into_std();
        if write.write_all(request.as_bytes()).await.is_err() {
            errors += 1;
            break;
        }
        line.clear();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            errors += 1;
            break;
        }
        let ok = line.split(' ').nth(1).is_some_and(|code| code.starts_with('2'));
        let mut length = 0usize;
        loop {
            line.clear();
            read.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        body.resize(length, 0);
        read.read_exact(&mut body).await.unwrap();
        latencies.push(due.elapsed().as_micros() as u64);
        if !ok {
            errors += 1;
        }
    }
    (latencies, errors)
}

async fn load(addr: SocketAddr, path: &str, rps: u64, seconds: u64, connections: u64) {
    let interval = Duration::from_secs_f64(connections as f64 / rps as f64);
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let offset = interval.mul_f64(i as f64 / connections as f64);
            tokio::spawn(connection(addr, path.to_owned(), interval, until, offset))
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1e3
    };
    let verdict = if pct(0.99) < 5.0 && errors == 0 {
        "ok"
    } else {
        "ABOVE TARGET"
    };
    println!(
        "{path:<40} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  errors {errors}  (target p99 < 5 ms, 0 errors: {verdict})",
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.last().copied().unwrap_or(0) as f64 / 1e3,
    );
}

fn main() {
    let Some(full) = stratacache_testkit::bench::full_run("http_load") else {
        return;
    };
    let (rps, seconds) = if full {
        (env_or("LOAD_RPS", 1_000), env_or("LOAD_SECONDS", 10))
    } else {
        (100, 1)
    };
    let connections = env_or("LOAD_CONNECTIONS", 16);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::builder(RedisMode::Plain).local().start_or_skip();
    rt.block_on(async {
        let mut config = CacheConfig::testing();
        config.redis_url = server.as_ref().map(|s| s.url().into());
        config.enable_l1_cache = false;
        let built = CacheFactory::from_config(config).await.unwrap();
        built.cache.set(KEY, "a cached value".into(), Ttl::Never).await.unwrap();
        let backend = built.backend.as_str();
        let admin = AdminConfig { keys: ApiKeys::new(["bench-api-key".to_owned()]), ..AdminConfig::default() };
        let state = AdminState::new(built, Arc::new(CacheRegistry::default()), admin);
        let (addr, handle) = spawn_server(state);
        println!("admin API load: {rps} req/s for {seconds} s per endpoint over {connections} keep-alive connections; cache backend: {backend}");
        for path in ["/internal/cache/status", "/metrics", &format!("/internal/cache/entries/{KEY}")] {
            load(addr, path, rps, seconds, connections).await;
        }
        handle.stop(true).await;
    });
}
