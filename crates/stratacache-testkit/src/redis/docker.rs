//! Feature `docker`: Redis in a container (testcontainers-modules) where `redis-server` is missing
//! but a Docker engine answers.
//!
//! testcontainers' blocking runner drives its own tokio runtime with `block_on`, which panics when
//! called from inside a runtime (every `#[tokio::test]`): every container operation, including the
//! drop, therefore runs on a short-lived thread of its own.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use testcontainers_modules::redis::Redis;
use testcontainers_modules::testcontainers::core::IntoContainerPort;
use testcontainers_modules::testcontainers::runners::SyncRunner;
use testcontainers_modules::testcontainers::{Container, ImageExt};

use super::local::{HOST, free_port};
use super::{StartError, resp};

/// The image tag: the Redis version the fixtures are developed against (7.0).
const TAG: &str = "7.0";
/// Pulling the image can take a while on a cold machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
const PORT_ATTEMPTS: usize = 5;

/// Whether a Docker engine answers `docker info` (checked once per process).
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Command::new("docker")
            .arg("info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

#[derive(Debug)]
pub(super) struct DockerServer {
    container: Option<Container<Redis>>,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

impl DockerServer {
    /// Starts `redis-server <args>` in a container whose port 6379 is published on a free host
    /// port (retrying with another port if the chosen one is taken).
    pub(super) fn start(
        args: &[String],
        username: Option<String>,
        password: Option<String>,
    ) -> Result<Self, StartError> {
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let cmd: Vec<String> = ["redis-server", "--protected-mode", "no"]
                .into_iter()
                .map(str::to_owned)
                .chain(args.iter().cloned())
                .collect();
            let started = on_own_thread(move || {
                Redis::default()
                    .with_tag(TAG)
                    .with_cmd(cmd)
                    .with_mapped_port(port, 6379.tcp())
                    .with_startup_timeout(STARTUP_TIMEOUT)
                    .start()
                    .map_err(|e| e.to_string())
            });
            match started {
                Ok(container) => {
                    let server = Self {
                        container: Some(container),
                        port,
                        username,
                        password,
                    };
                    server.wait_ready()?;
                    return Ok(server);
                }
                Err(error) if is_port_conflict(&error) => last_error = error,
                Err(error) => {
                    return Err(StartError::Failed(format!(
                        "could not start Redis in Docker (image redis:{TAG}): {error}"
                    )));
                }
            }
        }
        Err(StartError::Failed(format!(
            "Docker found no free host port in {PORT_ATTEMPTS} attempts: {last_error}"
        )))
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn stop(&mut self) {
        if let Some(container) = &self.container {
            // Stopping a stopped container fails: nothing to do then.
            let _ = thread::scope(|scope| scope.spawn(|| container.stop()).join());
        }
    }

    /// Stops the container and starts it again; the host port stays the same (it is a fixed
    /// mapping).
    pub(super) fn restart(&mut self) -> Result<(), StartError> {
        self.stop();
        let Some(container) = &self.container else {
            return Err(StartError::Failed("the container was removed".to_owned()));
        };
        thread::scope(|scope| scope.spawn(|| container.start()).join())
            .map_err(|_| StartError::Failed("restarting the container panicked".to_owned()))?
            .map_err(|e| StartError::Failed(format!("could not restart the container: {e}")))?;
        self.wait_ready()
    }

    fn wait_ready(&self) -> Result<(), StartError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match resp::ping(
                HOST,
                self.port,
                self.username.as_deref(),
                self.password.as_deref(),
                Duration::from_secs(1),
            ) {
                Ok(()) => return Ok(()),
                Err(problem) if Instant::now() >= deadline => {
                    return Err(StartError::Failed(format!(
                        "Redis in Docker does not answer PING on port {}: {problem}",
                        self.port
                    )));
                }
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for DockerServer {
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            // The container's drop removes it, through testcontainers' runtime.
            let _ = thread::spawn(move || drop(container)).join();
        }
    }
}

fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    thread::spawn(f)
        .join()
        .unwrap_or_else(|_| Err("the container operation panicked".to_owned()))
}

fn is_port_conflict(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    error.contains("port is already allocated") || error.contains("address already in use")
}
