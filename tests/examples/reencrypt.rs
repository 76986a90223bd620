//! `cargo xtask reencrypt`: re-seals every entry of a namespace under the primary encryption key,
//! so older keys can be retired (and, with `--seal-plaintext`, finishes a migration from
//! plaintext). Batch by batch, with SCAN and a compare-and-set per value: Redis is never blocked
//! and values written meanwhile are never overwritten.
//!
//! ```text
//! CACHE_REDIS_URL=rediss://cache:6380 REDIS_ENCRYPTION_KEY=<new> REDIS_ENCRYPTION_KEYS=<old> \
//!   cargo xtask reencrypt --namespace web [--pattern 'user:*'] [--seal-plaintext]
//! ```
//!
//! Environment: `CACHE_REDIS_URL` (required), `REDIS_ENCRYPTION_KEY` and `REDIS_ENCRYPTION_KEYS`
//! (the ring), `REDIS_AUTH` (password), `REDIS_ACL_USERNAME` / `REDIS_ACL_PASSWORD`,
//! `REDIS_TLS_CA_PATH`, `REDIS_TLS_CERT_PATH`, `REDIS_TLS_KEY_PATH`. Prints the report as JSON.
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::process::ExitCode;

use stratacache_crypto::{KeyRing, ReencryptOptions, reencrypt};
use stratacache_redis::{RedisCache, RedisConfig, Secret};

fn usage() -> ExitCode {
    eprintln!("usage: cargo xtask reencrypt --namespace NS [--pattern GLOB] [--seal-plaintext]");
    ExitCode::from(2)
}

fn config_from_env(namespace: String) -> Result<RedisConfig, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = var("CACHE_REDIS_URL").ok_or("CACHE_REDIS_URL is not set")?;
    let mut config = RedisConfig::new(url);
    config.namespace = namespace;
    config.security.password = var("REDIS_ACL_PASSWORD")
        .or_else(|| var("REDIS_AUTH"))
        .map(Secret::new);
    config.security.username = var("REDIS_ACL_USERNAME");
    config.security.tls.ca_file = var("REDIS_TLS_CA_PATH").map(Into::into);
    config.security.tls.client_cert_file = var("REDIS_TLS_CERT_PATH").map(Into::into);
    config.security.tls.client_key_file = var("REDIS_TLS_KEY_PATH").map(Into::into);
    Ok(config)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut namespace, mut options) = (None, ReencryptOptions::default());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--namespace" => namespace = args.next(),
            "--pattern" => match args.next() {
                Some(p) => options = options.pattern(p),
                None => return usage(),
            },
            "--seal-plaintext" => options = options.seal_plaintext(true),
            _ => return usage(),
        }
    }
    let Some(namespace) = namespace else {
        return usage();
    };
    let ring = match KeyRing::from_env() {
        Ok(Some(ring)) => ring,
        Ok(None) => {
            eprintln!("error: REDIS_ENCRYPTION_KEY is not set: there is no key to re-encrypt under");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = match config_from_env(namespace) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cache = match RedisCache::connect(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match reencrypt(&cache, &ring, &options).await {
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
