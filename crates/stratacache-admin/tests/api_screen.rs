//! Requests that actix-http refuses inside its HTTP/1 dispatcher, before routing (a URL over
//! 64 KiB, 10 000 headers, a `Content-Length` past `u64`, a head that never completes), written
//! byte for byte over real TCP: they answer the error envelope with the security headers, and the
//! server goes on serving.

#![allow(clippy::unwrap_used)]

mod api_support;

use std::time::Duration;

use api_support::{TestServer, open_config};
use serde_json::Value;
use stratacache_admin::AdminState;
use stratacache_admin::server::AdminServer;
use stratacache_factory::CacheFactory;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn state() -> AdminState {
    let built = CacheFactory::for_web_app(None).await.unwrap();
    AdminState::new(built, Default::default(), open_config())
}

/// Writes `request` (ignoring a reset once the server has answered) and reads until the server
/// closes; returns the raw responses.
async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.split();
    let write = async {
        let _ = writer.write_all(request).await;
    };
    let read = async {
        let mut raw = Vec::new();
        let _ = reader.read_to_end(&mut raw).await;
        raw
    };
    let ((), raw) = tokio::join!(write, read);
    String::from_utf8_lossy(&raw).into_owned()
}

/// One response out of `raw`: status, lower-case head, body (by `content-length`), the rest.
fn response(raw: &str) -> (u16, String, String, String) {
    let (head, rest) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {raw:?}"));
    let head = head.to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(rest.len(), |n| n.trim().parse().unwrap());
    let (body, rest) = rest.split_at(length);
    (status, head, body.to_owned(), rest.to_owned())
}

/// Asserts an enveloped refusal with the security headers; returns the envelope.
fn assert_refusal(raw: &str, status: u16) -> Value {
    let (got, head, body, rest) = response(raw);
    assert_eq!(got, status, "{raw:.600}");
    for header in [
        "content-type: application/json",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "cache-control: no-store",
        "referrer-policy: no-referrer",
        "content-security-policy: default-src 'none'",
        "connection: close",
    ] {
        assert!(head.contains(header), "{header} missing: {head}");
    }
    assert!(rest.is_empty(), "more after the refusal: {rest:.200}");
    let envelope: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(envelope["success"], false, "{envelope}");
    assert_eq!(envelope["error_code"], "VALIDATION_ERROR", "{envelope}");
    assert!(
        envelope["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{envelope}"
    );
    assert!(
        envelope["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{envelope}"
    );
    envelope
}

async fn still_serves(server: &TestServer) {
    let reply = server.get("/internal/cache/health/live", &[]).await;
    assert_eq!(reply.status, 200);
}

#[actix_web::test]
async fn refusals_before_routing_answer_the_envelope_and_the_server_goes_on() {
    let server = TestServer::start(state().await);

    // A 100 KB URL: past the 65 534 bytes of a request target.
    let url = format!("/internal/cache/status?q={}", "a".repeat(100 * 1024));
    let raw = exchange(
        server.addr,
        format!("GET {url} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    )
    .await;
    let envelope = assert_refusal(&raw, 414);
    assert_eq!(envelope["details"]["limit"], "uri_bytes", "{envelope}");
    still_serves(&server).await;

    // 10 000 headers: past actix-http's 96.
    let mut request = String::from("GET /internal/cache/status HTTP/1.1\r\nHost: t\r\n");
    for i in 0..10_000 {
        request.push_str(&format!("X-H{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let envelope = assert_refusal(&exchange(server.addr, request.as_bytes()).await, 431);
    assert_eq!(envelope["details"]["limit"], "header_count", "{envelope}");
    still_serves(&server).await;

    // A head past 128 KiB in a few large headers.
    let big = "b".repeat(60 * 1024);
    let request = format!("GET / HTTP/1.1\r\nHost: t\r\nX-A: {big}\r\nX-B: {big}\r\nX-C: {big}\r\n\r\n");
    let envelope = assert_refusal(&exchange(server.addr, request.as_bytes()).await, 431);
    assert_eq!(envelope["details"]["limit"], "head_bytes", "{envelope}");

    // A Content-Length past u64.
    let request = "PUT /internal/cache/entries/k HTTP/1.1\r\nHost: t\r\n\
                   Content-Length: 99999999999999999999999\r\n\r\nvalue";
    let envelope = assert_refusal(&exchange(server.addr, request.as_bytes()).await, 400);
    assert_eq!(envelope["details"]["header"], "content-length", "{envelope}");
    assert!(
        !envelope["error"].as_str().unwrap().contains("9999999"),
        "{envelope}"
    );

    // Not HTTP at all.
    assert_refusal(
        &exchange(
            server.addr,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        )
        .await,
        400,
    );
    still_serves(&server).await;
    server.stop().await;
}

#[actix_web::test]
async fn requests_before_a_refused_one_are_answered_first() {
    let server = TestServer::start(state().await);
    // A chunked PUT, a GET, then a refused head, pipelined on one connection: the screen follows
    // the chunked framing, and the refusal comes last.
    let request = format!(
        "PUT /internal/cache/entries/chunky HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n\
         GET /internal/cache/entries/chunky HTTP/1.1\r\nHost: t\r\n\r\n\
         GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "u".repeat(70_000)
    );
    let raw = exchange(server.addr, request.as_bytes()).await;
    let (status, head, body, rest) = response(&raw);
    assert_eq!(status, 201, "{body}");
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    let (status, _, body, rest) = response(&rest);
    assert_eq!(status, 200, "{body}");
    let entry: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(entry["value"], "hello world", "{entry}");
    assert_refusal(&rest, 414);
    still_serves(&server).await;
    server.stop().await;
}

#[actix_web::test]
async fn a_head_that_does_not_arrive_in_time_answers_408_in_the_envelope() {
    let state = state().await;
    let server = AdminServer::new(move || stratacache_admin::app(state.clone()))
        .workers(1)
        .disable_signals()
        .client_request_timeout(Duration::from_millis(200))
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /internal/cache/status HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let envelope = assert_refusal(&String::from_utf8_lossy(&raw), 408);
    assert_eq!(envelope["details"]["limit"], "head_timeout", "{envelope}");
    handle.stop(true).await;
}
