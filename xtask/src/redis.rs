//! Making sure the Redis suites run: `cargo xtask test` and `cargo xtask e2e` need a
//! `redis-server` (or an external test server), and must not pass by skipping half the suite.
//!
//! Before the tests start, [`prepare`] decides from the environment:
//! - `STRATACACHE_REQUIRE_REDIS=0` (or `false`, `no`): the explicit way to skip; the Redis suites
//!   skip loudly where no server can be had, as with a bare `cargo test`.
//! - `STRATACACHE_TEST_REDIS_URL` or `STRATACACHE_REDIS_SERVER` set, or `redis-server` on `PATH`:
//!   the tests run with `STRATACACHE_REQUIRE_REDIS=1`, so a server that cannot be used fails.
//! - otherwise, as root (or with password-less sudo) on a machine with `apt-get`: `redis-server`
//!   is installed, as `.ci/run` does, and the tests run as above;
//! - otherwise the run fails before building anything, naming the command to run.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::Failure;

/// Set to `1`, Redis test suites fail instead of skipping when no server can be started; `0`
/// lets them skip.
pub(crate) const REQUIRE_REDIS: &str = "STRATACACHE_REQUIRE_REDIS";
/// An external, disposable Redis for the tests (read by the testkit).
const EXTERNAL_URL: &str = "STRATACACHE_TEST_REDIS_URL";
/// The `redis-server` binary to start (read by the testkit).
const SERVER_BINARY: &str = "STRATACACHE_REDIS_SERVER";

/// What the machine offers, as far as the decision goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Machine {
    /// `STRATACACHE_REQUIRE_REDIS` is set to a "no" value: skipping is asked for.
    pub(crate) skip_allowed: bool,
    /// An external server or an explicit binary is configured.
    pub(crate) configured: bool,
    /// `redis-server` is on `PATH`.
    pub(crate) on_path: bool,
    /// How `apt-get` can be run as root here, if it can.
    pub(crate) installer: Option<Installer>,
}

/// How to run `apt-get` as root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Installer {
    /// We are root.
    Root,
    /// Password-less `sudo`.
    Sudo,
}

/// What to do before the tests run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Run with `STRATACACHE_REQUIRE_REDIS=0`: Redis suites may skip (asked for).
    AllowSkips,
    /// Run with `STRATACACHE_REQUIRE_REDIS=1`: a server is there.
    Require,
    /// Install `redis-server` with this installer, then run as [`Plan::Require`].
    Install(Installer),
    /// Stop with this message.
    Refuse(String),
}

/// The command a user without root runs to install the server.
const INSTALL_HINT: &str = "sudo apt-get install -y redis-server";

/// The decision, from what the machine offers.
pub(crate) fn plan(machine: Machine) -> Plan {
    if machine.skip_allowed {
        Plan::AllowSkips
    } else if machine.configured || machine.on_path {
        Plan::Require
    } else if let Some(installer) = machine.installer {
        Plan::Install(installer)
    } else {
        Plan::Refuse(format!(
            "redis-server is not installed, and half the test suite needs it. Install it \
             (`{INSTALL_HINT}` on Debian/Ubuntu), or point the tests at a disposable server with \
             {EXTERNAL_URL}=redis://host:port, or set {REQUIRE_REDIS}=0 to skip the Redis suites \
             on purpose"
        ))
    }
}

/// Looks at this machine, decides, installs if that is the plan, and returns the value of
/// `STRATACACHE_REQUIRE_REDIS` the test step must run with.
pub(crate) fn prepare() -> Result<&'static str, Failure> {
    let machine = Machine {
        skip_allowed: env::var(REQUIRE_REDIS).is_ok_and(|v| is_no(&v)),
        configured: [EXTERNAL_URL, SERVER_BINARY]
            .iter()
            .any(|var| env::var_os(var).is_some_and(|v| !v.is_empty())),
        on_path: find_on_path("redis-server").is_some(),
        installer: installer(),
    };
    match plan(machine) {
        Plan::AllowSkips => {
            println!("note: {REQUIRE_REDIS}=0: Redis suites skip where no server can be started");
            Ok("0")
        }
        Plan::Require => Ok("1"),
        Plan::Install(how) => {
            install(how)?;
            Ok("1")
        }
        Plan::Refuse(message) => Err(Failure(message)),
    }
}

/// Whether a `STRATACACHE_REQUIRE_REDIS` value says "do not require".
fn is_no(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "0" | "false" | "no")
}

/// The first `name` in a `PATH` directory that is a file.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `program args` quietly and tells whether it succeeded.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// How `apt-get` can run as root on this machine, if it can at all.
fn installer() -> Option<Installer> {
    find_on_path("apt-get")?;
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0");
    if root {
        Some(Installer::Root)
    } else if find_on_path("sudo").is_some() && succeeds("sudo", &["-n", "true"]) {
        Some(Installer::Sudo)
    } else {
        None
    }
}

/// `apt-get install -y redis-server`, after an `apt-get update` if the first try fails (a fresh
/// machine has no package lists).
fn install(how: Installer) -> Result<(), Failure> {
    let run = |args: &[&str]| {
        let mut command = match how {
            Installer::Root => Command::new("apt-get"),
            Installer::Sudo => {
                let mut sudo = Command::new("sudo");
                sudo.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                sudo
            }
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        println!("==> {}apt-get {}", sudo_prefix(how), args.join(" "));
        command.status().is_ok_and(|status| status.success())
    };
    let install = ["install", "-y", "--no-install-recommends", "redis-server"];
    let installed = run(&install) || (run(&["update"]) && run(&install));
    if installed && (find_on_path("redis-server").is_some() || Path::new("/usr/bin/redis-server").is_file()) {
        return Ok(());
    }
    Err(Failure(format!(
        "could not install redis-server with apt-get; install it yourself (`{INSTALL_HINT}`), or \
         set {REQUIRE_REDIS}=0 to skip the Redis suites on purpose"
    )))
}

fn sudo_prefix(how: Installer) -> &'static str {
    match how {
        Installer::Root => "",
        Installer::Sudo => "sudo ",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTHING: Machine = Machine {
        skip_allowed: false,
        configured: false,
        on_path: false,
        installer: None,
    };

    #[test]
    fn an_installed_or_configured_server_is_required() {
        let on_path = Machine {
            on_path: true,
            ..NOTHING
        };
        assert_eq!(plan(on_path), Plan::Require);
        let configured = Machine {
            configured: true,
            installer: Some(Installer::Root),
            ..NOTHING
        };
        assert_eq!(plan(configured), Plan::Require);
    }

    #[test]
    fn a_missing_server_is_installed_where_root_can() {
        for how in [Installer::Root, Installer::Sudo] {
            let machine = Machine {
                installer: Some(how),
                ..NOTHING
            };
            assert_eq!(plan(machine), Plan::Install(how));
        }
    }

    #[test]
    fn a_missing_server_without_root_fails_with_the_command_to_run() {
        let Plan::Refuse(message) = plan(NOTHING) else {
            panic!("expected a refusal, got {:?}", plan(NOTHING));
        };
        assert!(
            message.contains("sudo apt-get install -y redis-server"),
            "{message}"
        );
        assert!(message.contains("STRATACACHE_REQUIRE_REDIS=0"), "{message}");
        assert!(message.contains(EXTERNAL_URL), "{message}");
    }

    #[test]
    fn zero_is_the_explicit_way_to_skip() {
        for machine in [
            NOTHING,
            Machine {
                on_path: true,
                installer: Some(Installer::Root),
                ..NOTHING
            },
        ] {
            let machine = Machine {
                skip_allowed: true,
                ..machine
            };
            assert_eq!(plan(machine), Plan::AllowSkips);
        }
        assert!(is_no("0") && is_no(" NO ") && is_no("false"));
        assert!(!is_no("1") && !is_no("") && !is_no("yes"));
    }
}
