//! `cargo xtask`: the stratacache task runner.
//!
//! One binary with subcommands, reached through the `xtask` alias in `.cargo/config.toml`
//! (`cargo xtask <command>`). It has no dependencies: it finds the workspace root as the parent of
//! this package's `CARGO_MANIFEST_DIR`, runs every step from there, and invokes cargo through the
//! `CARGO` environment variable (falling back to `cargo` on the `PATH`).
//!
//! Every step prints a `==> cargo ...` header. The first step that fails stops the run with a
//! non-zero exit status and an error naming that step.
//!
//! Run `cargo xtask help` for the list of commands.

// This is a command-line tool: writing to stdout and stderr is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::{
    env,
    ffi::{OsStr, OsString},
    fmt,
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
};

/// Printed by `cargo xtask help`, and after an unknown command.
const USAGE: &str = "\
Usage: cargo xtask <command> [args...]

Commands:
  test [args...]  run all tests: cargo nextest (or cargo test) on every target, then the doctests;
                  args go to nextest / cargo test, e.g. `cargo xtask test -p stratacache-core`.
                  Installs redis-server first where it is missing and root can (apt-get), fails
                  otherwise; STRATACACHE_REQUIRE_REDIS=0 lets the Redis suites skip instead
  ci              what CI runs: fmt --check, clippy -D warnings, `test`, `deps`,
                  rustdoc -D warnings, cargo deny check licenses bans sources
  deps            check the dependency directions on `cargo tree` (the admin API without Redis,
                  TLS and ciphers; memory, monitor and the factory without features lean)
  e2e [args...]   run the cross-crate end-to-end tests (package stratacache-e2e in tests/) against
                  real servers (redis-server is installed or required, as for `test`)
  bench [filter]  run the benchmarks (bench profile), only those matching `filter` if given
  reencrypt [--namespace NS] [--pattern GLOB] [--seal-plaintext]
                  re-seal a Redis namespace under REDIS_ENCRYPTION_KEY (key rotation; see
                  docs/security.md); configured from the environment exactly as the factory
                  (CACHE_PRESET, CACHE_REDIS_URL, CACHE_CUSTOM_CONFIG, REDIS_*)
  help            print this message
";

mod deps;
mod redis;

use redis::REQUIRE_REDIS;

/// The end-to-end test package, in `tests/`.
const E2E_PACKAGE: &str = "stratacache-e2e";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let xtask = Xtask::new();
    let result = match command.as_deref().map(OsStr::to_str) {
        None | Some(Some("help" | "-h" | "--help")) => {
            print!("{USAGE}");
            Ok(())
        }
        Some(Some("test")) => xtask.test(&rest),
        Some(Some("ci")) => xtask.ci(&rest),
        Some(Some("deps")) => xtask.dependency_directions(),
        Some(Some("e2e")) => xtask.e2e(&rest),
        Some(Some("bench")) => xtask.bench(&rest),
        Some(Some("reencrypt")) => xtask.reencrypt(&rest),
        Some(other) => {
            let name = other.map_or_else(|| "<non-UTF-8>".to_owned(), str::to_owned);
            eprint!("error: unknown command `{name}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("\nerror: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command stopped, as told to the user: the failed step and how, or what to fix.
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One cargo invocation: its arguments and any extra environment.
#[derive(Debug)]
struct Step {
    /// Arguments after `cargo`.
    args: Vec<OsString>,
    /// Extra environment variables for the child process.
    envs: Vec<(&'static str, OsString)>,
}

impl Step {
    /// `cargo <args>`.
    fn cargo(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(OsString::from).collect(),
            envs: Vec::new(),
        }
    }

    /// Appends arguments.
    fn args<S: AsRef<OsStr>>(mut self, extra: &[S]) -> Self {
        self.args.extend(extra.iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child process.
    fn env(mut self, key: &'static str, value: impl Into<OsString>) -> Self {
        self.envs.push((key, value.into()));
        self
    }
}

impl fmt::Display for Step {
    /// Shell-like rendering, as printed in the `==>` header: `KEY='a value' cargo arg ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.envs {
            write!(f, "{key}={} ", quote(value))?;
        }
        f.write_str("cargo")?;
        self.args.iter().try_for_each(|arg| write!(f, " {}", quote(arg)))
    }
}

/// Quotes an argument for display when it would not read back as one shell word.
fn quote(arg: &OsStr) -> String {
    let text = arg.to_string_lossy();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=.,/:@+%^".contains(c));
    if plain {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The package selection (`-p NAME`, `-pNAME`, `--package NAME`, `--package=NAME`) in `args`.
fn package_selection(args: &[OsString]) -> Vec<OsString> {
    let mut selection = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        } else if text == "-p" || text == "--package" {
            selection.push(OsString::from("--package"));
            selection.extend(args.next().cloned());
        } else if text.starts_with("--package=") || (text.starts_with("-p") && !text.starts_with("--")) {
            selection.push(arg.clone());
        }
    }
    selection
}

/// Where and with which cargo the steps run.
#[derive(Debug)]
struct Xtask {
    /// The cargo executable: `$CARGO`, or `cargo` from the `PATH`.
    cargo: OsString,
    /// The workspace root, the parent of the `xtask/` package directory.
    root: PathBuf,
}

impl Xtask {
    /// Finds cargo and the workspace root.
    fn new() -> Self {
        // `cargo run` sets CARGO_MANIFEST_DIR for the running binary too; prefer it to the
        // compile-time value, which is stale when a shared target directory was built from
        // another checkout (a clean clone in CI, say).
        let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let root = manifest_dir
            .parent()
            .map_or_else(|| manifest_dir.clone(), Path::to_path_buf);
        let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        Self { cargo, root }
    }

    /// The process for `step`, started in the workspace root.
    fn command(&self, step: &Step) -> Command {
        let mut command = Command::new(&self.cargo);
        command.args(&step.args).current_dir(&self.root);
        command.envs(step.envs.iter().map(|(key, value)| (key, value)));
        command
    }

    /// Prints the header of `step`, runs it, and fails unless it exits successfully.
    fn run(&self, step: &Step) -> Result<(), Failure> {
        println!("==> {step}");
        match self.command(step).status() {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Failure(format!("step failed ({status}): {step}"))),
            Err(error) => Err(Failure(format!("could not start step ({error}): {step}"))),
        }
    }

    /// Whether `cargo <args>` runs and succeeds; its output is discarded.
    fn probe(&self, args: &[&str]) -> bool {
        self.command(&Step::cargo(args))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Whether cargo-nextest is installed.
    fn has_nextest(&self) -> bool {
        let found = self.probe(&["nextest", "--version"]);
        if !found {
            println!("note: cargo-nextest is not installed; falling back to `cargo test`");
        }
        found
    }

    /// `cargo xtask test`: every target with nextest (or `cargo test`), then the doctests, which
    /// nextest does not run. `extra` goes to the first step; a package selection in it (`-p`)
    /// replaces `--workspace` in both steps.
    fn test(&self, extra: &[OsString]) -> Result<(), Failure> {
        let require_redis = redis::prepare()?;
        let packages = package_selection(extra);
        let workspace: &[&str] = if packages.is_empty() {
            &["--workspace"]
        } else {
            &[]
        };
        let tool: &[&str] = if self.has_nextest() {
            &["nextest", "run"]
        } else {
            &["test"]
        };
        let tests = Step::cargo(tool)
            .args(workspace)
            .args(&["--all-targets", "--no-fail-fast"])
            .env(REQUIRE_REDIS, require_redis);
        self.run(&tests.args(extra))?;
        self.run(
            &Step::cargo(&["test", "--doc"])
                .args(workspace)
                .args(&packages)
                .env(REQUIRE_REDIS, require_redis),
        )
    }

    /// `cargo xtask ci`: every check CI runs, in order; the first failure stops the run.
    fn ci(&self, rest: &[OsString]) -> Result<(), Failure> {
        if !rest.is_empty() {
            return Err(Failure("`cargo xtask ci` takes no arguments".to_owned()));
        }
        // Checked first so that a missing tool fails in a second, not after the test run.
        if !self.probe(&["deny", "--version"]) {
            return Err(Failure(
                "cargo-deny is not installed: run `cargo install cargo-deny --locked` \
                 (`.ci/run` installs it)"
                    .to_owned(),
            ));
        }
        self.run(&Step::cargo(&["fmt", "--all", "--", "--check"]))?;
        self.run(&Step::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))?;
        self.test(&[])?;
        // The factory without its optional features: a configured key or URL must fail loudly.
        self.run(&Step::cargo(&[
            "test",
            "-p",
            "stratacache-factory",
            "--no-default-features",
            "--test",
            "no_features",
        ]))?;
        self.dependency_directions()?;
        // Keep any flags the caller set, and add ours.
        let mut rustdocflags = env::var_os("RUSTDOCFLAGS").unwrap_or_default();
        if !rustdocflags.is_empty() {
            rustdocflags.push(" ");
        }
        rustdocflags.push("-D warnings");
        self.run(
            &Step::cargo(&["doc", "--workspace", "--no-deps", "--all-features"])
                .env("RUSTDOCFLAGS", rustdocflags),
        )?;
        self.run(&Step::cargo(&["deny", "check", "licenses", "bans", "sources"]))?;
        println!("==> ci: all steps passed");
        Ok(())
    }

    /// The dependency rules of [`deps::RULES`], each on its `cargo tree`.
    fn dependency_directions(&self) -> Result<(), Failure> {
        for rule in deps::RULES {
            let step = Step::cargo(&["tree", "-p", rule.package, "-e", "normal", "--prefix", "none"])
                .args(rule.features);
            println!("==> {step}");
            let output = self
                .command(&step)
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| Failure(format!("cannot run `{step}`: {e}")))?;
            if !output.status.success() {
                return Err(Failure(format!("`{step}` failed ({})", output.status)));
            }
            let found = deps::violations(rule, &String::from_utf8_lossy(&output.stdout));
            if !found.is_empty() {
                return Err(Failure(format!(
                    "`{step}` lists {}: {} (docs/architecture.md, Dependencies)",
                    found.join(", "),
                    rule.why
                )));
            }
        }
        Ok(())
    }

    /// `cargo xtask e2e`: the cross-crate end-to-end tests.
    fn e2e(&self, extra: &[OsString]) -> Result<(), Failure> {
        let step = if self.has_nextest() {
            Step::cargo(&["nextest", "run", "-p", E2E_PACKAGE, "--no-fail-fast"])
        } else {
            Step::cargo(&["test", "-p", E2E_PACKAGE, "--no-fail-fast"])
        };
        // The end-to-end tests must not skip for want of redis-server: install it or fail.
        let require_redis = redis::prepare()?;
        self.run(&step.args(extra).env(REQUIRE_REDIS, require_redis))
    }

    /// `cargo xtask reencrypt ...`: the key-rotation pass, as a command (tests/examples/reencrypt.rs).
    fn reencrypt(&self, rest: &[OsString]) -> Result<(), Failure> {
        let step = Step::cargo(&[
            "run",
            "--quiet",
            "--release",
            "-p",
            E2E_PACKAGE,
            "--example",
            "reencrypt",
            "--",
        ]);
        self.run(&step.args(rest))
    }

    /// `cargo xtask bench [filter]`: every benchmark in the workspace, bench profile.
    fn bench(&self, rest: &[OsString]) -> Result<(), Failure> {
        let step = Step::cargo(&["bench", "--workspace"]);
        match rest {
            [] => self.run(&step),
            [filter] => self.run(&step.args(&["--".as_ref(), filter.as_os_str()])),
            _ => Err(Failure("usage: cargo xtask bench [filter]".to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_read_like_shell_commands() {
        let step = Step::cargo(&["doc", "--workspace"]).env("RUSTDOCFLAGS", "-D warnings");
        assert_eq!(
            step.to_string(),
            "RUSTDOCFLAGS='-D warnings' cargo doc --workspace"
        );
        let step = Step::cargo(&["nextest", "run"]).args(&["-E", "test(a b)", "", "it's"]);
        assert_eq!(
            step.to_string(),
            r#"cargo nextest run -E 'test(a b)' '' 'it'\''s'"#
        );
    }

    #[test]
    fn package_selection_is_found() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(package_selection(&args(&["some_test", "--", "-p", "x"])).is_empty());
        assert_eq!(
            package_selection(&args(&[
                "-p",
                "a",
                "-pb",
                "--package=c",
                "--package",
                "d",
                "filter"
            ])),
            args(&["--package", "a", "-pb", "--package=c", "--package", "d"]),
        );
    }

    #[test]
    fn root_is_the_workspace() {
        assert!(Xtask::new().root.join("xtask").join("Cargo.toml").is_file());
    }
}
