//! `cargo xtask reencrypt`: re-seals every entry of a namespace under the primary encryption key,
//! so older keys can be retired (and, with `--seal-plaintext`, finishes a migration from
//! plaintext). Batch by batch, with SCAN and a compare-and-set per value: Redis is never blocked
//! and values written meanwhile are never overwritten.
//!
//! ```text
//! CACHE_REDIS_URL=rediss://cache:6380 REDIS_ENCRYPTION_KEY=<new> REDIS_ENCRYPTION_KEYS=<old> \
//!   cargo xtask reencrypt [--namespace NS] [--pattern 'user:*'] [--seal-plaintext]
//! ```
//!
//! The configuration is read exactly as the factory reads it
//! (`stratacache_factory::reencrypt_from_env`): `CACHE_PRESET`, `CACHE_REDIS_URL`,
//! `CACHE_CUSTOM_CONFIG` (database, namespace, TLS, verification, timeouts), `ENVIRONMENT`, the
//! `REDIS_*` variables, `REDIS_ENCRYPTION_KEY` and `REDIS_ENCRYPTION_KEYS`. `--namespace`
//! overrides the configured namespace. Prints the report as JSON.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::process::ExitCode;

use stratacache_crypto::ReencryptOptions;

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask reencrypt [--namespace NS] [--pattern GLOB] [--seal-plaintext]");
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut namespace, mut options) = (None, ReencryptOptions::default());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--namespace" => match args.next() {
                Some(ns) => namespace = Some(ns),
                None => return usage(),
            },
            "--pattern" => match args.next() {
                Some(p) => options = options.pattern(p),
                None => return usage(),
            },
            "--seal-plaintext" => options = options.seal_plaintext(true),
            _ => return usage(),
        }
    }
    match stratacache_factory::reencrypt_from_env(namespace.as_deref(), &options).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("the report serializes")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e} (entries already re-sealed are kept; run the command again to resume)");
            ExitCode::FAILURE
        }
    }
}
