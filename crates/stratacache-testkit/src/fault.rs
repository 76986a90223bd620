//! A TCP fault proxy for tests: [`FaultProxy`] sits between a client and a server (e.g. a
//! `redis-server` fixture) on a loopback port and forwards both directions, until the test switches
//! it to stall, slow, drop replies, cut or refuse ([`Mode`]). Mode changes apply to every open and
//! future connection.
//!
//! The proxy runs on its own thread with its own Tokio runtime, so it works from any test (sync,
//! `current_thread` or `multi_thread` runtime), and its methods are synchronous. Dropping it stops
//! the thread and closes every connection.
//!
//! ```no_run
//! # use stratacache_testkit::fault::FaultProxy;
//! # let upstream: std::net::SocketAddr = "127.0.0.1:6379".parse().unwrap();
//! let proxy = FaultProxy::start(upstream);
//! let url = proxy.url(); // redis://127.0.0.1:<proxy port>
//! proxy.stall(); // like a hung server: nothing forwarded, connections stay open
//! proxy.pass();
//! proxy.cut(); // every connection reset, new ones closed at once
//! proxy.pass();
//! ```

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic (see each `FaultProxy` method of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward both directions.
    Pass,
    /// Accept and hold: nothing is forwarded either way and connections stay open, like a hung
    /// server. Held bytes are delivered when the mode changes to one that forwards.
    Stall,
    /// Forward, but delay each chunk from the upstream by this long.
    Slow(Duration),
    /// Forward requests; of the bytes the upstream sends from the moment this mode is set, forward
    /// the first `after` on each connection and discard the rest (`after: 0`: every reply lost;
    /// a small `after`: a reply cut off in the middle).
    DropReplies {
        /// Upstream bytes still forwarded on each connection before the rest is discarded.
        after: usize,
    },
    /// Every open connection is closed with a reset (`SO_LINGER` 0) and new ones are accepted and
    /// reset at once.
    Cut,
    /// The proxy stops listening: connecting is refused. Open connections keep forwarding.
    Refuse,
}

impl Mode {
    fn listens(self) -> bool {
        self != Mode::Refuse
    }
}

/// The mode together with a counter of changes (so `DropReplies` budgets restart on each switch).
type Versioned = (u64, Mode);

#[derive(Debug)]
struct Shared {
    mode: watch::Sender<Versioned>,
    connections: AtomicUsize,
    listening: AtomicBool,
}

/// A loopback TCP proxy to one upstream address, switchable between [`Mode`]s at run time (see
/// the [module documentation](self)).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// How long the synchronous mode switches wait for their effect (listener closed or open again,
/// connections gone) before giving up silently.
const SETTLE: Duration = Duration::from_secs(5);

impl FaultProxy {
    /// Starts a proxy on a free port of `127.0.0.1`, forwarding to `upstream`, in [`Mode::Pass`].
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or the proxy's thread cannot start.
    #[must_use]
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
            .expect("fault proxy: binding 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("fault proxy: set_nonblocking");
        let addr = listener.local_addr().expect("fault proxy: local_addr");
        let (mode, _) = watch::channel((0, Mode::Pass));
        let shared = Arc::new(Shared {
            mode,
            connections: AtomicUsize::new(0),
            listening: AtomicBool::new(true),
        });
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fault proxy: building its runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("fault proxy: listener");
                    tokio::select! {
                        () = serve(listener, addr, upstream, thread_shared) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime drops every connection task and closes their sockets.
            })
            .expect("fault proxy: spawning its thread");
        FaultProxy {
            addr,
            upstream,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// The proxy's listening address (`127.0.0.1:<port>`).
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy's port (the same across [`refuse`](Self::refuse) and [`pass`](Self::pass)).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address traffic is forwarded to.
    #[must_use]
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `redis://127.0.0.1:<port>`: a URL without credentials to the proxy.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_with("redis", None, None)
    }

    /// `<scheme>://[user][:password@]127.0.0.1:<port>`, user and password percent-encoded.
    #[must_use]
    pub fn url_with(&self, scheme: &str, username: Option<&str>, password: Option<&str>) -> String {
        let auth = match (username, password) {
            (None, None) => String::new(),
            (Some(user), None) => format!("{}@", encode(user)),
            (user, Some(password)) => {
                format!("{}:{}@", encode(user.unwrap_or("")), encode(password))
            }
        };
        format!("{scheme}://{auth}127.0.0.1:{}", self.port())
    }

    /// A URL to the proxy with the scheme (`redis` or `rediss`) and credentials of `server`, for
    /// clients that should reach `server` through the proxy. (For TLS, the default fixture
    /// certificate is valid for `127.0.0.1`.)
    #[cfg(feature = "redis")]
    #[must_use]
    pub fn url_for(&self, server: &crate::redis::RedisServer) -> String {
        let scheme = if server.tls().is_some() { "rediss" } else { "redis" };
        self.url_with(scheme, server.username(), server.password())
    }

    /// How many proxied connections are open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The current mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.shared.mode.borrow().1
    }

    /// Switches to `mode`; the specific methods below are shorthands. Returns once the switch is
    /// visible: for [`Mode::Refuse`] the port is closed, for [`Mode::Cut`] every open connection
    /// is gone, and when leaving `Refuse` the port accepts again (each waited for at most 5 s).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.send_modify(|(version, current)| {
            *version += 1;
            *current = mode;
        });
        let deadline = Instant::now() + SETTLE;
        let settled = || match mode {
            Mode::Cut => self.connections() == 0,
            other => self.shared.listening.load(Ordering::SeqCst) == other.listens(),
        };
        while !settled() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// [`Mode::Pass`]: forward both directions (held bytes of a stall are delivered; after
    /// [`refuse`](Self::refuse) the same port listens again).
    pub fn pass(&self) {
        self.set_mode(Mode::Pass);
    }

    /// [`Mode::Stall`]: accept and hold, like a hung server.
    pub fn stall(&self) {
        self.set_mode(Mode::Stall);
    }

    /// [`Mode::Slow`]: each chunk from the upstream is delayed by `delay`.
    pub fn slow(&self, delay: Duration) {
        self.set_mode(Mode::Slow(delay));
    }

    /// [`Mode::DropReplies`] with `after: 0`: requests arrive, no reply comes back.
    pub fn drop_replies(&self) {
        self.drop_replies_after(0);
    }

    /// [`Mode::DropReplies`]: forward the next `bytes` bytes from the upstream on each connection,
    /// then discard the rest (a reply cut off mid-way when `bytes` is less than its length).
    pub fn drop_replies_after(&self, bytes: usize) {
        self.set_mode(Mode::DropReplies { after: bytes });
    }

    /// [`Mode::Cut`]: reset every open connection, and reset new ones until the mode changes.
    pub fn cut(&self) {
        self.set_mode(Mode::Cut);
    }

    /// [`Mode::Refuse`]: stop listening (connecting is refused); [`pass`](Self::pass) listens on
    /// the same port again.
    pub fn refuse(&self) {
        self.set_mode(Mode::Refuse);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

async fn serve(listener: TcpListener, addr: SocketAddr, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut modes = shared.mode.subscribe();
    let mut listener = Some(listener);
    loop {
        let mode = modes.borrow_and_update().1;
        if !mode.listens() {
            drop(listener.take());
            shared.listening.store(false, Ordering::SeqCst);
            if modes.changed().await.is_err() {
                return;
            }
            continue;
        }
        let Some(current) = &listener else {
            match rebind(addr).await {
                Some(bound) => {
                    listener = Some(bound);
                    shared.listening.store(true, Ordering::SeqCst);
                }
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
            continue;
        };
        tokio::select! {
            accepted = current.accept() => {
                let Ok((client, _)) = accepted else { continue };
                if modes.borrow().1 == Mode::Cut {
                    let _ = client.set_zero_linger();
                    drop(client);
                    continue;
                }
                let shared = Arc::clone(&shared);
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let counted = Counted(Arc::clone(&shared));
                    handle(client, upstream, &shared).await;
                    drop(counted);
                });
            }
            changed = modes.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    TcpListener::bind(addr).await.ok()
}

/// Decrements the connection count when a connection task ends (or is dropped with the runtime).
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}

enum End {
    Eof,
    Cut,
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let requests = pump(&mut client_read, &mut server_write, shared, false);
    let replies = pump(&mut server_read, &mut client_write, shared, true);
    // The connection ends when either side is done (or on a cut): half-open connections are not
    // needed for Redis clients.
    let end = tokio::select! {
        end = requests => end,
        end = replies => end,
    };
    if matches!(end, End::Cut) {
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

async fn pump<R, W>(reader: &mut R, writer: &mut W, shared: &Shared, replies: bool) -> End
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut modes = shared.mode.subscribe();
    let mut buf = vec![0_u8; 16 * 1024];
    // Bytes of replies still forwarded in `DropReplies`, for the mode version it was set in.
    let mut budget: Option<(u64, usize)> = None;
    loop {
        let n = tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => return End::Eof,
                Ok(n) => n,
            },
            changed = modes.changed() => {
                if changed.is_err() || modes.borrow_and_update().1 == Mode::Cut {
                    return End::Cut;
                }
                continue;
            }
        };
        let mut chunk = &buf[..n];
        // Deliver the chunk according to the mode, waiting while stalled.
        loop {
            let (version, mode) = *modes.borrow_and_update();
            match mode {
                Mode::Cut => return End::Cut,
                Mode::Stall => {
                    if modes.changed().await.is_err() {
                        return End::Cut;
                    }
                    continue;
                }
                Mode::Slow(delay) if replies => {
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        changed = modes.changed() => {
                            if changed.is_err() {
                                return End::Cut;
                            }
                            // Re-evaluate with the new mode (a cut ends, a stall holds).
                            continue;
                        }
                    }
                }
                Mode::DropReplies { after } if replies => {
                    let left = match budget {
                        Some((v, left)) if v == version => left,
                        _ => after,
                    };
                    let forwarded = left.min(chunk.len());
                    budget = Some((version, left - forwarded));
                    chunk = &chunk[..forwarded];
                }
                _ => {}
            }
            break;
        }
        if !chunk.is_empty() && writer.write_all(chunk).await.is_err() {
            return End::Eof;
        }
    }
}
