#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fault proxy and the process faults against a real `redis-server`, over raw TCP (RESP).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use stratacache_testkit::fault::{FaultProxy, Mode};
use stratacache_testkit::redis::{RedisMode, RedisServer};

fn server() -> Option<RedisServer> {
    RedisServer::builder(RedisMode::Plain).local().start_or_skip()
}

fn upstream(server: &RedisServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port()))
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    stream
}

/// Sends PING and reads the reply: `Ok(bytes)` or the I/O error (a timeout, a reset, EOF).
fn ping(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    stream.write_all(b"PING\r\n")?;
    let mut buf = [0_u8; 64];
    let n = stream.read(&mut buf)?;
    if n == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
    }
    Ok(buf[..n].to_vec())
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[test]
fn pass_stall_and_back() {
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let mut conn = connect(proxy.addr());
    assert_eq!(ping(&mut conn).unwrap(), b"+PONG\r\n");
    assert_eq!(proxy.connections(), 1);
    proxy.stall();
    assert_eq!(proxy.mode(), Mode::Stall);
    let err = ping(&mut conn).unwrap_err();
    assert!(is_timeout(&err), "{err}");
    proxy.pass();
    // The held PING is delivered: the same connection answers both.
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0_u8; 64];
    while got.len() < 7 {
        let n = conn.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"+PONG\r\n");
    assert_eq!(ping(&mut conn).unwrap(), b"+PONG\r\n");
}

#[test]
fn slow_delays_replies() {
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let mut conn = connect(proxy.addr());
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    proxy.slow(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(ping(&mut conn).unwrap(), b"+PONG\r\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn drop_replies_loses_and_cuts_replies() {
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let mut conn = connect(proxy.addr());
    proxy.drop_replies();
    assert!(is_timeout(&ping(&mut conn).unwrap_err()));
    proxy.drop_replies_after(3);
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(ping(&mut conn).unwrap(), b"+PO");
}

#[test]
fn cut_resets_connections_and_new_ones() {
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    let mut conn = connect(proxy.addr());
    assert!(ping(&mut conn).is_ok());
    proxy.cut();
    assert_eq!(proxy.connections(), 0);
    let err = ping(&mut conn).unwrap_err();
    assert!(!is_timeout(&err), "expected a reset, got {err}");
    let mut fresh = connect(proxy.addr());
    assert!(ping(&mut fresh).is_err());
    proxy.pass();
    let mut again = connect(proxy.addr());
    assert_eq!(ping(&mut again).unwrap(), b"+PONG\r\n");
}

#[test]
fn refuse_closes_the_port_and_pass_reopens_it() {
    let Some(server) = server() else { return };
    let proxy = FaultProxy::start(upstream(&server));
    proxy.refuse();
    let err = TcpStream::connect(proxy.addr()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    proxy.pass();
    let mut conn = connect(proxy.addr());
    assert_eq!(ping(&mut conn).unwrap(), b"+PONG\r\n");
}

#[test]
fn pause_resume_and_kill9_restart() {
    let Some(mut server) = server() else { return };
    let addr = upstream(&server);
    let mut conn = connect(addr);
    assert!(ping(&mut conn).is_ok());
    server.pause();
    assert!(is_timeout(&ping(&mut conn).unwrap_err()));
    server.resume();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0_u8; 64];
    assert!(conn.read(&mut buf).unwrap() > 0, "the held PING is answered");
    server.kill9();
    assert!(!server.is_running());
    server.restart();
    let mut fresh = connect(addr);
    assert_eq!(ping(&mut fresh).unwrap(), b"+PONG\r\n");
    server.pause(); // dropped while paused: must not hang
}
