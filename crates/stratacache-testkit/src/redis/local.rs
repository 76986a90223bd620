//! A `redis-server` child process on a free loopback port, in its own temporary directory.

use std::ffi::OsString;
use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use std::{env, thread};

use tempfile::TempDir;

use super::{StartError, resp};

/// The loopback address every local server binds.
pub(super) const HOST: &str = "127.0.0.1";
/// How long a server may take to accept connections before the start fails.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How many fresh ports a start tries when the chosen one turns out to be taken.
const PORT_ATTEMPTS: usize = 20;
/// The log line of a server that listens.
const READY: &str = "Ready to accept connections";
/// The log text of a server that could not bind its port.
const ADDRESS_IN_USE: &str = "Address already in use";

/// Env var: the `redis-server` binary to run (otherwise `redis-server` is looked up on `PATH`).
pub(super) const SERVER_BINARY_VAR: &str = "STRATACACHE_REDIS_SERVER";

/// The `redis-server` binary: `$STRATACACHE_REDIS_SERVER`, else `redis-server` on `PATH`; `None`
/// when there is none. Looked up once per process.
pub(super) fn server_binary() -> Option<&'static Path> {
    static BINARY: OnceLock<Option<PathBuf>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(explicit) = env::var_os(SERVER_BINARY_VAR).filter(|v| !v.is_empty()) {
                let explicit = PathBuf::from(explicit);
                return explicit.is_file().then_some(explicit);
            }
            let on_path = env::var_os("PATH")
                .map(|path| env::split_paths(&path).collect::<Vec<_>>())
                .unwrap_or_default();
            on_path
                .into_iter()
                .map(|dir| dir.join("redis-server"))
                .find(|candidate| candidate.is_file())
        })
        .as_deref()
}

/// A free loopback port: bind port 0, read the port the kernel chose, release it. Another process
/// can take it before the server binds it; [`LocalProcess::start`] then retries with a new one.
pub(super) fn free_port() -> Result<u16, StartError> {
    TcpListener::bind((HOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| StartError::Failed(format!("could not reserve a loopback port: {e}")))
}

/// Why one spawn attempt failed.
enum SpawnError {
    /// The port was taken: try another (or wait for it).
    AddressInUse(String),
    /// Anything else: the start fails.
    Failed(String),
}

/// What the server needs to be started (again).
#[derive(Debug)]
pub(super) struct LocalConfig {
    /// Every argument except the listening ports and the log file.
    pub(super) args: Vec<OsString>,
    /// Listen with TLS only (`--port 0 --tls-port <port>`).
    pub(super) tls: bool,
    /// Credentials for the readiness `PING` (`AUTH [username] password`).
    pub(super) username: Option<String>,
    /// See [`username`](Self::username).
    pub(super) password: Option<String>,
}

#[derive(Debug)]
pub(super) struct LocalProcess {
    binary: PathBuf,
    /// Deleted on drop, after the process was killed.
    _dir: TempDir,
    dir_path: PathBuf,
    config: LocalConfig,
    port: u16,
    child: Option<Child>,
    /// Counts spawns: each one logs to its own `redis-<n>.log`.
    spawns: u32,
}

impl LocalProcess {
    /// Creates the temporary directory (where certificates can be written before the start).
    pub(super) fn temp_dir() -> Result<(TempDir, PathBuf), StartError> {
        let dir = tempfile::Builder::new()
            .prefix("stratacache-redis-")
            .tempdir()
            .map_err(|e| StartError::Failed(format!("could not create a temporary directory: {e}")))?;
        let path = std::path::absolute(dir.path())
            .map_err(|e| StartError::Failed(format!("absolute temporary directory: {e}")))?;
        Ok((dir, path))
    }

    /// Starts the server on a free port, retrying with a new port when the chosen one is taken.
    pub(super) fn start(
        binary: &Path,
        (dir, dir_path): (TempDir, PathBuf),
        config: LocalConfig,
    ) -> Result<Self, StartError> {
        let mut process = Self {
            binary: binary.to_path_buf(),
            _dir: dir,
            dir_path,
            config,
            port: 0,
            child: None,
            spawns: 0,
        };
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            process.port = free_port()?;
            match process.spawn() {
                Ok(()) => return Ok(process),
                Err(SpawnError::AddressInUse(log)) => last_error = log,
                Err(SpawnError::Failed(message)) => return Err(StartError::Failed(message)),
            }
        }
        Err(StartError::Failed(format!(
            "redis-server found no free port in {PORT_ATTEMPTS} attempts; last log:\n{last_error}"
        )))
    }

    /// Stops the server if it runs and starts it again on the same port, waiting (up to the start
    /// deadline) for the port if something else holds it meanwhile.
    pub(super) fn restart(&mut self) -> Result<(), StartError> {
        self.stop();
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(SpawnError::AddressInUse(_)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(SpawnError::AddressInUse(log)) => {
                    return Err(StartError::Failed(format!(
                        "restarting redis-server: port {} stayed in use for {START_DEADLINE:?}\n{log}",
                        self.port
                    )));
                }
                Err(SpawnError::Failed(message)) => return Err(StartError::Failed(message)),
            }
        }
    }

    /// Kills the server (SIGKILL: nothing is persisted) and waits for it. Idempotent.
    pub(super) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if the process already exited, which is what we want.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir_path
    }

    pub(super) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub(super) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The last `lines` lines of the current log file and of the process's own output.
    pub(super) fn log_tail(&self, lines: usize) -> String {
        let n = self.spawns;
        let mut out = String::new();
        for name in [format!("redis-{n}.log"), format!("redis-{n}.out")] {
            let path = self.dir_path.join(&name);
            let text = fs::read_to_string(&path).unwrap_or_default();
            if text.trim().is_empty() {
                continue;
            }
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push_str(&format!(
                "---- {} (last {} lines) ----\n",
                path.display(),
                tail.len()
            ));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        if out.is_empty() {
            out.push_str("(redis-server wrote no log)\n");
        }
        out
    }

    fn spawn(&mut self) -> Result<(), SpawnError> {
        self.spawns += 1;
        let n = self.spawns;
        let log = self.dir_path.join(format!("redis-{n}.log"));
        let out_path = self.dir_path.join(format!("redis-{n}.out"));
        let out = File::create(&out_path)
            .map_err(|e| SpawnError::Failed(format!("create {}: {e}", out_path.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| SpawnError::Failed(format!("clone a file handle: {e}")))?;
        let port = self.port.to_string();
        let mut command = Command::new(&self.binary);
        command.args(&self.config.args);
        if self.config.tls {
            command.args(["--port", "0", "--tls-port", &port]);
        } else {
            command.args(["--port", &port]);
        }
        command
            .arg("--logfile")
            .arg(&log)
            .current_dir(&self.dir_path)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .map_err(|e| SpawnError::Failed(format!("could not run {}: {e}", self.binary.display())))?;
        self.child = Some(child);
        match self.wait_ready(&log) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.stop();
                Err(error)
            }
        }
    }

    /// Waits until the server logs that it accepts connections and then answers: `PING` (after
    /// `AUTH`) in the plain modes, a TCP connection in the TLS modes (the test kit has no TLS
    /// client). The log is this spawn's own file, so a server of another test that happens to
    /// listen on the same port cannot be mistaken for this one.
    fn wait_ready(&mut self, log: &Path) -> Result<(), SpawnError> {
        let started = Instant::now();
        let deadline = started + START_DEADLINE;
        let mut last_problem = String::from("no log yet");
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => None,
                Some(Ok(Some(status))) => Some(status.to_string()),
                Some(Err(e)) => Some(format!("unknown status ({e})")),
                None => Some("not started".to_owned()),
            };
            let text = fs::read_to_string(log).unwrap_or_default();
            if let Some(status) = exited {
                let tail = self.log_tail(30);
                return Err(if text.contains(ADDRESS_IN_USE) {
                    SpawnError::AddressInUse(tail)
                } else {
                    SpawnError::Failed(format!(
                        "redis-server ({}) exited during start-up ({status}) on port {}:\n{tail}",
                        self.binary.display(),
                        self.port
                    ))
                });
            }
            if text.contains(READY) {
                let answer = if self.config.tls {
                    TcpStream::connect((HOST, self.port))
                        .map(drop)
                        .map_err(|e| format!("connect: {e}"))
                } else {
                    resp::ping(
                        HOST,
                        self.port,
                        self.config.username.as_deref(),
                        self.config.password.as_deref(),
                        Duration::from_secs(1),
                    )
                };
                match answer {
                    Ok(()) => return Ok(()),
                    Err(problem) => last_problem = problem,
                }
            }
            if Instant::now() >= deadline {
                return Err(SpawnError::Failed(format!(
                    "redis-server did not accept connections on port {} within {START_DEADLINE:?} \
                     (last problem: {last_problem}):\n{}",
                    self.port,
                    self.log_tail(30)
                )));
            }
            // Start-up takes 10-30 ms: poll often at first, then back off.
            let pause = if started.elapsed() < Duration::from_millis(200) {
                2
            } else {
                20
            };
            thread::sleep(Duration::from_millis(pause));
        }
    }
}

impl Drop for LocalProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
