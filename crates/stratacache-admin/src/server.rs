//! [`AdminServer`]: the HTTP/1.1 server of the API, actix-web's `HttpServer` with the request-head
//! screen in front of actix-http.
//!
//! actix-http answers some requests inside its HTTP/1 dispatcher, before any service or
//! middleware runs, with an empty body and none of the application's headers: a request head over
//! 128 KiB or with more than [`MAX_HEADERS`] header fields (431), a request target over
//! [`MAX_URI_BYTES`] or a malformed head such as a `Content-Length` past `u64` (400), a first head
//! that does not arrive in time (408). Its limits are constants that no setting changes, so
//! [`AdminServer`] puts a screen on every connection that runs actix-http's own decoder one step
//! ahead and answers those requests itself with the [`ErrorEnvelope`](crate::ErrorEnvelope) and
//! the [`security_headers`](crate::security_headers): 431 (head size, header count), 414 (request
//! target), 408 (head timeout) or 400 (`details.header` names the broken rule), then closes the
//! connection. The requests before it on the same connection are answered first.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use actix_http::{HttpService, Request, Response};
use actix_server::ServerBuilder;
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Server};

use crate::screen::ScreenConfig;
pub use crate::screen::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_BYTES};

/// The default [`AdminServer::client_request_timeout`]: 5 s, actix-web's.
pub const DEFAULT_CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The backlog of the sockets [`AdminServer::bind`] opens (actix-web's default).
const BACKLOG: i32 = 1024;

/// The API's HTTP server (see the module): like actix-web's `HttpServer`, with every connection
/// screened.
///
/// ```no_run
/// # async fn run(state: stratacache_admin::AdminState) -> std::io::Result<()> {
/// use stratacache_admin::server::AdminServer;
///
/// AdminServer::new(move || stratacache_admin::app(state.clone()))
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// # }
/// ```
pub struct AdminServer<F, I, S, B> {
    factory: F,
    /// The application types `factory` makes (as in actix-web's `HttpServer`).
    #[allow(clippy::type_complexity)]
    _app: PhantomData<fn() -> (I, S, B)>,
    builder: ServerBuilder,
    addrs: Vec<SocketAddr>,
    client_request_timeout: Duration,
}

impl<F, I, S, B> fmt::Debug for AdminServer<F, I, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServer")
            .field("addrs", &self.addrs)
            .field("client_request_timeout", &self.client_request_timeout)
            .finish_non_exhaustive()
    }
}

impl<F, I, S, B> AdminServer<F, I, S, B>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as actix_service::Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    /// A server of the applications `factory` makes (one per worker thread), on no address yet.
    pub fn new(factory: F) -> Self {
        Self {
            factory,
            _app: PhantomData,
            builder: ServerBuilder::default(),
            addrs: Vec::new(),
            client_request_timeout: DEFAULT_CLIENT_REQUEST_TIMEOUT,
        }
    }

    /// Worker threads (default: one per available core).
    #[must_use]
    pub fn workers(mut self, workers: usize) -> Self {
        self.builder = self.builder.workers(workers);
        self
    }

    /// How long requests in flight may take to finish once the server stops (default 30 s).
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.builder = self.builder.shutdown_timeout(timeout.as_secs());
        self
    }

    /// Leaves SIGINT and SIGTERM alone (tests that run several servers in one process).
    #[must_use]
    pub fn disable_signals(mut self) -> Self {
        self.builder = self.builder.disable_signals();
        self
    }

    /// How long the first request head of a connection may take to arrive; later, 408 in the
    /// envelope. [`Duration::ZERO`] turns the limit off. Default [`DEFAULT_CLIENT_REQUEST_TIMEOUT`].
    /// Applies to the listeners added after it.
    #[must_use]
    pub fn client_request_timeout(mut self, timeout: Duration) -> Self {
        self.client_request_timeout = timeout;
        self
    }

    /// Listens on every address `addrs` resolves to.
    ///
    /// # Errors
    ///
    /// When no address can be bound (the last error).
    pub fn bind(mut self, addrs: impl ToSocketAddrs) -> io::Result<Self> {
        let mut last = None;
        let mut bound = false;
        for addr in addrs.to_socket_addrs()? {
            match listener(addr) {
                Ok(lst) => {
                    self = self.listen(lst)?;
                    bound = true;
                }
                Err(e) => last = Some(e),
            }
        }
        match (bound, last) {
            (true, _) => Ok(self),
            (false, Some(e)) => Err(e),
            (false, None) => Err(io::Error::new(io::ErrorKind::InvalidInput, "no address to bind")),
        }
    }

    /// Serves on an existing listener.
    ///
    /// # Errors
    ///
    /// When the listener has no local address or cannot be registered.
    pub fn listen(mut self, lst: TcpListener) -> io::Result<Self> {
        let addr = lst.local_addr()?;
        self.addrs.push(addr);
        let factory = self.factory.clone();
        let head_timeout = (!self.client_request_timeout.is_zero()).then_some(self.client_request_timeout);
        let shutdown = self.builder.graceful_shutdown_signal();
        self.builder = self
            .builder
            .listen(format!("stratacache-admin-{addr}"), lst, move || {
                let screen = ScreenConfig::new(head_timeout);
                let shutdown = shutdown.clone();
                let app = factory().into_factory().map_err(|e| e.into().error_response());
                let http = HttpService::<_, _, _>::build()
                    // The screen enforces the head timeout (with the envelope), not actix.
                    .client_request_timeout(Duration::ZERO)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    // Responses to the requests before a refused head are still written.
                    .h1_allow_half_closed(true)
                    .local_addr(addr)
                    .graceful_shutdown_signal(move || {
                        let shutdown = shutdown.clone();
                        async move { shutdown.notified().await }
                    })
                    // actix-web has no public constructor of the connection settings but their
                    // default (plain HTTP, host `localhost:8080`): the API reads neither the
                    // host fallback (requests carry `Host`) nor the local address from them.
                    .h1(map_config(app, |()| AppConfig::default()));
                fn_service(move |io: actix_web::rt::net::TcpStream| {
                    let peer = io.peer_addr().ok();
                    let _ = io.set_nodelay(true);
                    std::future::ready(Ok::<_, actix_http::error::DispatchError>((screen.wrap(io), peer)))
                })
                .and_then(http)
            })?;
        Ok(self)
    }

    /// The addresses listened on (with the port the system chose for port 0).
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    /// Starts the workers; the [`Server`] runs until stopped (SIGINT / SIGTERM unless
    /// [`disable_signals`](Self::disable_signals), or its handle).
    pub fn run(self) -> Server {
        self.builder.run()
    }
}

/// A listening socket as actix-web opens it: `SO_REUSEADDR` (outside Windows), a backlog of 1024.
fn listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
