//! Real-Redis fixtures (feature `redis`): [`RedisServer`] starts a throwaway `redis-server` for a
//! test and stops it when dropped.
//!
//! Each server listens on a free port of `127.0.0.1` (never 6379), keeps its files in a temporary
//! directory of its own, persists nothing (`--save "" --appendonly no`) and is killed when the
//! handle is dropped. A start takes 15–30 ms, so every test can have its own server, and tests can
//! run in parallel (threads or processes): a port that another process took between the choice
//! and the bind is detected and another one chosen.
//!
//! ```no_run
//! use stratacache_testkit::redis::{RedisMode, RedisServer};
//!
//! // In a test:
//! // Skips the test, loudly, where no Redis is available (unless STRATACACHE_REQUIRE_REDIS=1).
//! let Some(server) = RedisServer::start_or_skip(RedisMode::Tls) else { return };
//! let tls = server.tls().expect("a TLS server has certificates");
//! // Connect to server.url() ("rediss://127.0.0.1:<port>") trusting tls.ca_cert_pem ...
//! ```
//!
//! # Where the server comes from
//!
//! 1. [`RedisMode::Plain`] with `STRATACACHE_TEST_REDIS_URL` set: that server ([`ServerOrigin::External`]).
//!    It must be disposable: tests write keys (each under its own namespace, see
//!    [`unique_namespace`]; nothing runs `FLUSHALL`), and it cannot be stopped or restarted.
//! 2. `redis-server` (`$STRATACACHE_REDIS_SERVER`, else on `PATH`): a child process
//!    ([`ServerOrigin::Local`]).
//! 3. With the cargo feature `docker`, where a Docker engine answers `docker info`: a container
//!    (testcontainers-modules, image `redis:7.0`) for the modes without TLS ([`ServerOrigin::Docker`]).
//! 4. Otherwise the server is unavailable: [`RedisServer::start_or_skip`] skips (or fails, with
//!    `STRATACACHE_REQUIRE_REDIS=1`), [`RedisServer::start`] panics.

mod certs;
#[cfg(feature = "docker")]
mod docker;
mod external;
mod local;
mod resp;

use std::ffi::OsString;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use certs::{TlsFiles, UnrelatedCa};

use external::ExternalUrl;
use local::{LocalConfig, LocalProcess};

/// Env var: the URL (`redis://[[user]:password@]host[:port][/db]`) of a disposable server that
/// [`RedisMode::Plain`] fixtures use instead of starting one.
pub const EXTERNAL_URL_VAR: &str = "STRATACACHE_TEST_REDIS_URL";
/// Env var: `1` (or `true`, `yes`) turns "no Redis available" from a skip into a failure. CI sets
/// it, so that a broken Redis installation cannot silently skip the Redis tests.
pub const REQUIRE_VAR: &str = "STRATACACHE_REQUIRE_REDIS";
/// Env var: the `redis-server` binary to run, instead of looking it up on `PATH`.
pub const SERVER_BINARY_VAR: &str = local::SERVER_BINARY_VAR;
/// The ACL user of [`RedisMode::Acl`].
pub const ACL_USERNAME: &str = "stratacache";

/// How a test server authenticates clients and which transport it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedisMode {
    /// Plain TCP, no authentication.
    Plain,
    /// Plain TCP, `requirepass` with a random password ([`RedisServer::password`]); no username.
    Password,
    /// Plain TCP; only the ACL user [`ACL_USERNAME`] with a random password
    /// ([`RedisServer::username`], [`RedisServer::password`]) and permissions
    /// `on ~* &* +@all` can log in: the `default` user is disabled.
    Acl,
    /// TLS only (`--port 0 --tls-port <port>`), no client certificate required; certificates from
    /// a CA generated for this server ([`RedisServer::tls`]).
    Tls,
    /// As [`Tls`](Self::Tls), but clients must present a certificate signed by the same CA
    /// (`--tls-auth-clients yes`); [`TlsFiles::client_cert`] is one.
    MutualTls,
}

impl RedisMode {
    /// Every mode.
    pub const ALL: [RedisMode; 5] = [
        RedisMode::Plain,
        RedisMode::Password,
        RedisMode::Acl,
        RedisMode::Tls,
        RedisMode::MutualTls,
    ];

    /// Whether the server speaks TLS ([`Tls`](Self::Tls) and [`MutualTls`](Self::MutualTls)).
    #[must_use]
    pub fn is_tls(self) -> bool {
        matches!(self, RedisMode::Tls | RedisMode::MutualTls)
    }
}

/// Where a [`RedisServer`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerOrigin {
    /// A `redis-server` child process of this test process.
    Local,
    /// The server of `STRATACACHE_TEST_REDIS_URL`: not started, stopped or restarted by the
    /// fixture.
    External,
    /// A Docker container (feature `docker`).
    Docker,
}

/// Why a server could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartError {
    /// No Redis here: no `redis-server`, no Docker engine (feature `docker`), no external URL (for
    /// the plain mode). [`RedisServer::start_or_skip`] skips the test.
    Unavailable(String),
    /// Redis is there but the server did not start; the message includes the end of its log.
    Failed(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Unavailable(reason) => write!(f, "no Redis server available: {reason}"),
            StartError::Failed(message) => write!(f, "the Redis test server failed to start: {message}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Options of a [`RedisServer`] beyond its mode; [`RedisServer::builder`] makes one.
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisServerBuilder {
    mode: RedisMode,
    server_names: Option<Vec<String>>,
    config: Vec<(String, String)>,
    local_only: bool,
}

impl RedisServerBuilder {
    /// TLS modes only: the server certificate is valid for these names only (DNS names, or IP
    /// addresses) instead of `localhost` and `127.0.0.1`. With `["other.invalid"]`, a client that
    /// connects to `127.0.0.1` must reject the certificate (hostname mismatch).
    pub fn server_cert_names<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.server_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// An extra configuration directive, passed as `--<name> <value>` (for example
    /// `.config("maxmemory", "10mb")`). A server with extra configuration is never the external
    /// one.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.push((name.into(), value.into()));
        self
    }

    /// Never use `STRATACACHE_TEST_REDIS_URL`: for tests that stop or restart the server.
    pub fn local(mut self) -> Self {
        self.local_only = true;
        self
    }

    /// Starts the server.
    ///
    /// # Errors
    ///
    /// [`StartError::Unavailable`] when no Redis can be had here, [`StartError::Failed`] when it
    /// did not start.
    ///
    /// # Panics
    ///
    /// If [`server_cert_names`](Self::server_cert_names) was given for a mode without TLS.
    pub fn try_start(self) -> Result<RedisServer, StartError> {
        assert!(
            self.server_names.is_none() || self.mode.is_tls(),
            "server_cert_names applies to the TLS modes only, not to {:?}",
            self.mode
        );
        if self.mode == RedisMode::Plain
            && !self.local_only
            && self.config.is_empty()
            && let Some(url) = std::env::var(EXTERNAL_URL_VAR)
                .ok()
                .filter(|u| !u.trim().is_empty())
        {
            return RedisServer::external(url.trim());
        }
        if let Some(explicit) = std::env::var_os(SERVER_BINARY_VAR).filter(|v| !v.is_empty())
            && !Path::new(&explicit).is_file()
        {
            return Err(StartError::Failed(format!(
                "{SERVER_BINARY_VAR}={} is not a file",
                Path::new(&explicit).display()
            )));
        }
        if let Some(binary) = local::server_binary() {
            return self.start_local(binary);
        }
        #[cfg(feature = "docker")]
        if docker::available() {
            if self.mode.is_tls() {
                return Err(StartError::Unavailable(format!(
                    "redis-server not found\n(and the Docker fixtures cannot run {:?})",
                    self.mode
                )));
            }
            return self.start_docker();
        }
        let docker = if cfg!(feature = "docker") {
            "no Docker engine answers `docker info`"
        } else {
            "no Docker: the testkit's `docker` feature is off"
        };
        Err(StartError::Unavailable(format!(
            "redis-server not found\n(not on PATH, no ${SERVER_BINARY_VAR}; {docker})"
        )))
    }

    /// Starts the server.
    ///
    /// # Panics
    ///
    /// If no Redis is available or the server did not start (with the end of its log).
    pub fn start(self) -> RedisServer {
        self.try_start().unwrap_or_else(|e| match e {
            StartError::Unavailable(reason) => panic!("{}", skip_message(&reason)),
            StartError::Failed(_) => panic!("{e}"),
        })
    }

    /// Starts the server, or returns `None` after printing a loud message to stderr when no Redis
    /// is available here (so the test can `return` and pass).
    ///
    /// # Panics
    ///
    /// If the server did not start; and instead of skipping when `STRATACACHE_REQUIRE_REDIS=1`.
    pub fn start_or_skip(self) -> Option<RedisServer> {
        match self.try_start() {
            Ok(server) => Some(server),
            Err(StartError::Unavailable(reason)) => {
                let message = skip_message(&reason);
                if required() {
                    panic!("{message}\n({REQUIRE_VAR} is set: Redis tests must not be skipped)");
                }
                announce_skip(&message);
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn credentials(&self) -> (Option<String>, Option<String>) {
        match self.mode {
            RedisMode::Password => (None, Some(random_token())),
            RedisMode::Acl => (Some(ACL_USERNAME.to_owned()), Some(random_token())),
            RedisMode::Plain | RedisMode::Tls | RedisMode::MutualTls => (None, None),
        }
    }

    /// The arguments that set up authentication (identical for local and Docker servers).
    fn auth_args(&self, password: Option<&str>) -> Vec<String> {
        match (self.mode, password) {
            (RedisMode::Password, Some(password)) => {
                vec!["--requirepass".to_owned(), password.to_owned()]
            }
            (RedisMode::Acl, Some(password)) => [
                "--user",
                ACL_USERNAME,
                "on",
                &format!(">{password}"),
                "~*",
                "&*",
                "+@all",
                "--user",
                "default",
                "off",
            ]
            .map(str::to_owned)
            .to_vec(),
            _ => Vec::new(),
        }
    }

    fn extra_args(&self) -> Vec<String> {
        self.config
            .iter()
            .flat_map(|(name, value)| [format!("--{name}"), value.clone()])
            .collect()
    }

    fn start_local(self, binary: &Path) -> Result<RedisServer, StartError> {
        let (username, password) = self.credentials();
        let (dir, dir_path) = LocalProcess::temp_dir()?;
        let mut args: Vec<OsString> = [
            "--bind",
            local::HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--enable-debug-command",
            "local",
        ]
        .map(OsString::from)
        .to_vec();
        args.push("--dir".into());
        args.push(dir_path.clone().into_os_string());
        args.extend(
            self.auth_args(password.as_deref())
                .into_iter()
                .map(OsString::from),
        );
        let tls = if self.mode.is_tls() {
            let names = self.server_names.clone().unwrap_or_else(|| {
                certs::DEFAULT_SERVER_NAMES
                    .iter()
                    .map(|&n| n.to_owned())
                    .collect()
            });
            let mutual = self.mode == RedisMode::MutualTls;
            let files = certs::generate_server_files(&dir_path, &names, mutual);
            args.extend([
                "--tls-cert-file".into(),
                files.server_cert.clone().into_os_string(),
                "--tls-key-file".into(),
                files.server_key.clone().into_os_string(),
                "--tls-ca-cert-file".into(),
                files.ca_cert.clone().into_os_string(),
                "--tls-auth-clients".into(),
                if mutual { "yes" } else { "no" }.into(),
            ]);
            Some(files)
        } else {
            None
        };
        args.extend(self.extra_args().into_iter().map(OsString::from));
        let process = LocalProcess::start(
            binary,
            (dir, dir_path),
            LocalConfig {
                args,
                tls: tls.is_some(),
                username: username.clone(),
                password: password.clone(),
            },
        )?;
        Ok(RedisServer::new(
            self.mode,
            local::HOST.to_owned(),
            process.port(),
            username,
            password,
            tls,
            Backend::Local(process),
        ))
    }

    #[cfg(feature = "docker")]
    fn start_docker(self) -> Result<RedisServer, StartError> {
        let (username, password) = self.credentials();
        let mut args: Vec<String> = ["--save", "", "--appendonly", "no"].map(str::to_owned).to_vec();
        args.extend(self.auth_args(password.as_deref()));
        args.extend(self.extra_args());
        let server = docker::DockerServer::start(&args, username.clone(), password.clone())?;
        Ok(RedisServer::new(
            self.mode,
            local::HOST.to_owned(),
            server.port(),
            username,
            password,
            None,
            Backend::Docker(Box::new(server)),
        ))
    }
}

#[derive(Debug)]
enum Backend {
    Local(LocalProcess),
    External,
    #[cfg(feature = "docker")]
    Docker(Box<docker::DockerServer>),
}

/// A Redis server for one test; a local or Docker one is stopped (killed) when this is dropped.
///
/// See the [module documentation](self) for where it comes from.
#[derive(Debug)]
pub struct RedisServer {
    mode: RedisMode,
    host: String,
    port: u16,
    url: String,
    username: Option<String>,
    password: Option<String>,
    tls: Option<TlsFiles>,
    backend: Backend,
}

impl RedisServer {
    /// Starts a server in `mode`.
    ///
    /// # Panics
    ///
    /// If no Redis is available here, or the server did not start (with the end of its log).
    #[must_use]
    pub fn start(mode: RedisMode) -> RedisServer {
        Self::builder(mode).start()
    }

    /// Starts a server in `mode`, or returns an error.
    ///
    /// # Errors
    ///
    /// [`StartError::Unavailable`] when no Redis can be had here, [`StartError::Failed`] when it
    /// did not start.
    pub fn try_start(mode: RedisMode) -> Result<RedisServer, StartError> {
        Self::builder(mode).try_start()
    }

    /// Starts a server in `mode`, or, where no Redis is available, prints a loud message to stderr
    /// and returns `None`: `let Some(server) = RedisServer::start_or_skip(mode) else { return };`
    /// (or [`redis_server_or_skip!`](crate::redis_server_or_skip)).
    ///
    /// # Panics
    ///
    /// If the server did not start; and instead of skipping when `STRATACACHE_REQUIRE_REDIS=1`.
    #[must_use]
    pub fn start_or_skip(mode: RedisMode) -> Option<RedisServer> {
        Self::builder(mode).start_or_skip()
    }

    /// A builder for a server in `mode` with more options.
    pub fn builder(mode: RedisMode) -> RedisServerBuilder {
        RedisServerBuilder {
            mode,
            server_names: None,
            config: Vec::new(),
            local_only: false,
        }
    }

    fn new(
        mode: RedisMode,
        host: String,
        port: u16,
        username: Option<String>,
        password: Option<String>,
        tls: Option<TlsFiles>,
        backend: Backend,
    ) -> Self {
        let scheme = if tls.is_some() { "rediss" } else { "redis" };
        Self {
            url: format!("{scheme}://{host}:{port}"),
            mode,
            host,
            port,
            username,
            password,
            tls,
            backend,
        }
    }

    fn external(url: &str) -> Result<RedisServer, StartError> {
        let parsed =
            ExternalUrl::parse(url).map_err(|e| StartError::Failed(format!("{EXTERNAL_URL_VAR}: {e}")))?;
        resp::ping(
            parsed.socket_host(),
            parsed.port,
            parsed.username.as_deref(),
            parsed.password.as_deref(),
            Duration::from_secs(5),
        )
        .map_err(|e| {
            StartError::Failed(format!(
                "{EXTERNAL_URL_VAR} points to {} which does not answer PING: {e}",
                parsed.url()
            ))
        })?;
        Ok(Self {
            url: parsed.url(),
            mode: RedisMode::Plain,
            host: parsed.host,
            port: parsed.port,
            username: parsed.username,
            password: parsed.password,
            tls: None,
            backend: Backend::External,
        })
    }

    /// The URL to connect to, without credentials: `redis://127.0.0.1:<port>`, or
    /// `rediss://127.0.0.1:<port>` in the TLS modes (an external server's URL keeps its database
    /// number).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same URL with another host, e.g. `"localhost"` (which the default server certificate
    /// is also valid for).
    #[must_use]
    pub fn url_with_host(&self, host: &str) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://{host}:{}", self.port)
    }

    /// The host: `127.0.0.1` (an external server's host as given).
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port; the same after [`restart`](Self::restart).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The mode.
    #[must_use]
    pub fn mode(&self) -> RedisMode {
        self.mode
    }

    /// Where the server runs.
    #[must_use]
    pub fn origin(&self) -> ServerOrigin {
        match self.backend {
            Backend::Local(_) => ServerOrigin::Local,
            Backend::External => ServerOrigin::External,
            #[cfg(feature = "docker")]
            Backend::Docker(_) => ServerOrigin::Docker,
        }
    }

    /// The password: [`RedisMode::Password`] and [`RedisMode::Acl`] (random for each server), or
    /// the one in `STRATACACHE_TEST_REDIS_URL`.
    #[must_use]
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The username: [`ACL_USERNAME`] in [`RedisMode::Acl`], or the one in
    /// `STRATACACHE_TEST_REDIS_URL`.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The certificates, in the TLS modes.
    #[must_use]
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The server's temporary directory (certificates, logs) for a local server.
    #[must_use]
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(process) => Some(process.dir()),
            _ => None,
        }
    }

    /// The process id of a local server while it runs.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        match &self.backend {
            Backend::Local(process) => process.pid(),
            _ => None,
        }
    }

    /// Whether a local server's process is still running (`true` for the other origins).
    pub fn is_running(&mut self) -> bool {
        match &mut self.backend {
            Backend::Local(process) => process.is_running(),
            _ => true,
        }
    }

    /// The end of a local server's log (for failure messages).
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        match &self.backend {
            Backend::Local(process) => process.log_tail(lines),
            _ => String::from("(not a local server: no log)\n"),
        }
    }

    /// Arguments for `redis-cli` that connect and authenticate to this server: host, port,
    /// credentials and certificates (`redis-cli <args> PING`).
    #[must_use]
    pub fn redis_cli_args(&self) -> Vec<String> {
        let mut args = vec![
            "-h".to_owned(),
            self.host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            "-p".to_owned(),
            self.port.to_string(),
        ];
        if let Some(username) = &self.username {
            args.extend(["--user".to_owned(), username.clone()]);
        }
        if let Some(password) = &self.password {
            args.extend([
                "--pass".to_owned(),
                password.clone(),
                "--no-auth-warning".to_owned(),
            ]);
        }
        if let Some(tls) = &self.tls {
            args.extend(["--tls".to_owned(), "--cacert".to_owned(), display(&tls.ca_cert)]);
            if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
                args.extend([
                    "--cert".to_owned(),
                    display(cert),
                    "--key".to_owned(),
                    display(key),
                ]);
            }
        }
        args
    }

    /// Stops the server (a local one is killed: nothing is persisted); [`restart`](Self::restart)
    /// starts it again. Stopping a stopped server does nothing.
    ///
    /// # Panics
    ///
    /// For an external server (use [`RedisServerBuilder::local`]).
    pub fn stop(&mut self) {
        match &mut self.backend {
            Backend::Local(process) => process.stop(),
            Backend::External => panic!("{}", external_control_message("stop")),
            #[cfg(feature = "docker")]
            Backend::Docker(server) => server.stop(),
        }
    }

    /// Stops the server if it runs and starts it again on the same port, with the same
    /// configuration and certificates, and waits until it accepts connections: clients can test
    /// reconnection. The data is gone.
    ///
    /// # Panics
    ///
    /// If it does not start again (with the end of its log), and for an external server.
    pub fn restart(&mut self) {
        let restarted = match &mut self.backend {
            Backend::Local(process) => process.restart(),
            Backend::External => panic!("{}", external_control_message("restart")),
            #[cfg(feature = "docker")]
            Backend::Docker(server) => server.restart(),
        };
        if let Err(e) = restarted {
            panic!("{e}");
        }
    }
}

impl RedisServer {
    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to a local server's process with `kill`.
    fn signal(&self, signal: &str) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("signal {signal}: not a running local server"));
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill -{signal} {pid}: {e}"));
        assert!(status.success(), "kill -{signal} {pid} failed: {status}");
    }

    /// Freezes a local server (`SIGSTOP`): connections stay open and nothing is answered, like a
    /// hung server. [`resume`](Self::resume) thaws it; dropping the server resumes it first.
    ///
    /// # Panics
    ///
    /// If the server is not a running local one.
    pub fn pause(&mut self) {
        self.signal("STOP");
    }

    /// Thaws a server frozen by [`pause`](Self::pause) (`SIGCONT`).
    ///
    /// # Panics
    ///
    /// If the server is not a running local one.
    pub fn resume(&mut self) {
        self.signal("CONT");
    }

    /// Kills a local server with `SIGKILL` and waits for it to exit; [`restart`](Self::restart)
    /// starts it again on the same port.
    ///
    /// # Panics
    ///
    /// If the server is not a running local one.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        self.stop();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server is resumed before it is killed, so that dropping never hangs.
        if let Some(pid) = self.pid() {
            let _ = std::process::Command::new("kill")
                .args(["-CONT".to_owned(), pid.to_string()])
                .status();
        }
    }
}

/// A namespace no other test (or run) uses, `stratacache-test-<label>-<random>`: tests that may
/// share an external server keep their keys apart with it, and delete within it at most. It is a
/// valid namespace everywhere (`stratacache_core::validate_namespace`: no `:`, which would nest
/// it in another) as long as `label` is; a `:` in `label` becomes `-`.
#[must_use]
pub fn unique_namespace(label: &str) -> String {
    format!(
        "stratacache-test-{}-{}",
        label.replace(':', "-"),
        &random_token()[..16]
    )
}

/// Starts a [`RedisServer`] in the given [`RedisMode`], or returns from the enclosing function (a
/// test returning `()`) after printing why the test is skipped:
/// `let server = redis_server_or_skip!(RedisMode::Tls);`. See [`RedisServer::start_or_skip`].
#[macro_export]
macro_rules! redis_server_or_skip {
    ($mode:expr) => {
        match $crate::redis::RedisServer::start_or_skip($mode) {
            ::std::option::Option::Some(server) => server,
            ::std::option::Option::None => return,
        }
    };
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

fn external_control_message(what: &str) -> String {
    format!(
        "cannot {what} the external server of {EXTERNAL_URL_VAR}: start this test's server with \
         RedisServer::builder(mode).local()"
    )
}

/// Whether `STRATACACHE_REQUIRE_REDIS` asks for failures instead of skips.
fn required() -> bool {
    std::env::var(REQUIRE_VAR)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn skip_message(reason: &str) -> String {
    format!(
        "SKIPPING Redis test: {reason}\n\
         Install redis-server (apt-get install redis-server), or set\n\
         {EXTERNAL_URL_VAR}=redis://host:port (a disposable server; plain mode only).\n\
         {REQUIRE_VAR}=1 turns this skip into a failure (CI sets it)."
    )
}

/// Prints a skip notice straight to the process's stderr, past the test harness's output capture
/// (which would hide it for passing tests): the whole box the first time in a process, one line
/// after that.
fn announce_skip(message: &str) {
    static ANNOUNCED: AtomicBool = AtomicBool::new(false);
    let mut text = String::new();
    if ANNOUNCED.swap(true, Ordering::Relaxed) {
        let first = message.lines().next().unwrap_or(message);
        text.push_str(&format!("!! {first} (see the notice above)\n"));
    } else {
        let width = message.lines().map(str::len).max().unwrap_or(0);
        let border = "#".repeat(width + 8);
        text.push_str(&format!("\n{border}\n"));
        for line in message.lines() {
            text.push_str(&format!("##  {line:<width$}  ##\n"));
        }
        text.push_str(&format!("{border}\n\n"));
    }
    // Writing to stderr can only fail if stderr is closed: nothing better to do then.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// 32 hex digits from the process's random hasher keys, a counter and the clock: unguessable
/// enough for test passwords and unique enough for namespaces.
fn random_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let a = RandomState::new().hash_one((n, nanos, std::process::id()));
    let b = RandomState::new().hash_one((nanos, n, "stratacache"));
    format!("{a:016x}{b:016x}")
}
