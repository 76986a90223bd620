//! `stratacache-server`: the admin HTTP API over a cache assembled from the environment.
//!
//! ```text
//! stratacache-server [--bind 127.0.0.1:8080] [--preset NAME] [--log-format text|json]
//!                    [--require-auth-for-reads true|false]
//! ```
//!
//! Configuration comes from the factory's environment variables (`CACHE_PRESET`,
//! `CACHE_REDIS_URL`, `CACHE_CUSTOM_CONFIG`, `REDIS_*`, `ENVIRONMENT`, ...), `API_KEY` /
//! `ADDITIONAL_API_KEYS` and `API_REQUIRE_AUTH_FOR_READS` (default: on in staging and
//! production); `--preset` replaces `CACHE_PRESET`, `--require-auth-for-reads` replaces
//! `API_REQUIRE_AUTH_FOR_READS`. Outside development, API keys shorter than 16 characters are an
//! invalid configuration. Without a Redis URL the server runs
//! on the embedded memory cache. Exit codes: 0 after a graceful shutdown (SIGINT or SIGTERM), 1
//! when the server cannot start (the address is taken, Redis refused with
//! `fail_on_connection_error`), 2 for an invalid configuration (the message is on stderr).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use clap::{Parser, ValueEnum};
use stratacache_admin::server::AdminServer;
use stratacache_admin::{AdminConfig, AdminState, REQUIRE_AUTH_FOR_READS_VAR};
use stratacache_core::ErrorKind;
use stratacache_factory::{CacheConfig, CacheFactory, CacheRegistry};
use tracing::{Instrument, error, info, info_span, warn};

/// The stratacache admin HTTP API server.
#[derive(Debug, Parser)]
#[command(name = "stratacache-server", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Preset to start from (replaces CACHE_PRESET): disabled, minimal, simple, development,
    /// production, ai-development, ai-production.
    #[arg(long)]
    preset: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Whether the read-only routes need an API key too (replaces API_REQUIRE_AUTH_FOR_READS;
    /// default: on in staging and production). The liveness answer
    /// /internal/cache/health/live never does.
    #[arg(long, value_name = "BOOL")]
    require_auth_for_reads: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Exit code of an invalid configuration.
const CONFIG_ERROR: u8 = 2;

fn main() -> ExitCode {
    let args = Args::parse();
    let preset = args.preset.clone();
    let config = match CacheConfig::from_env_with(|name| match (name, &preset) {
        ("CACHE_PRESET", Some(p)) => Some(p.clone()),
        _ => std::env::var(name).ok(),
    }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("stratacache-server: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    init_logging(&config, args.log_format);
    let flag = args.require_auth_for_reads.clone();
    let admin = AdminConfig::from_env_for(config.environment, |name| match (name, &flag) {
        (REQUIRE_AUTH_FOR_READS_VAR, Some(value)) => Some(value.clone()),
        _ => std::env::var(name).ok(),
    });
    let admin = match admin {
        Ok(admin) => admin,
        Err(e) => {
            eprintln!("stratacache-server: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
    };
    if let Err(e) = admin.check(config.environment) {
        eprintln!("stratacache-server: {e}");
        return ExitCode::from(CONFIG_ERROR);
    }
    let system = actix_web::rt::System::new();
    system.block_on(serve(args.bind, config, admin))
}

fn init_logging(config: &CacheConfig, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    // RUST_LOG wins; otherwise the preset's log_level.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.log_level.tracing_level().as_str().to_ascii_lowercase()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(bind: SocketAddr, config: CacheConfig, admin: AdminConfig) -> ExitCode {
    let preset = config.preset;
    let built = match CacheFactory::from_config(config).await {
        Ok(built) => built,
        Err(e) if e.kind() == ErrorKind::Configuration => {
            eprintln!("stratacache-server: {e}");
            return ExitCode::from(CONFIG_ERROR);
        }
        Err(e) => {
            eprintln!("stratacache-server: cannot start the cache: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(reason) = &built.degraded {
        warn!(%reason, "starting degraded");
    }
    info!(
        preset = preset.as_str(),
        backend = built.backend.as_str(),
        layers = ?built.layers,
        assembly_ms = built.assembly_time.as_secs_f64() * 1e3,
        "cache assembled"
    );
    let registry = Arc::new(CacheRegistry::default());
    registry.register_with_closer("default", built.cache.clone(), built.closer());
    let state = AdminState::new(built, Arc::clone(&registry), admin);

    let server = AdminServer::new(move || stratacache_admin::app(state.clone()).wrap(from_fn(request_id)))
        .shutdown_timeout(Duration::from_secs(30))
        .bind(bind);
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("stratacache-server: cannot listen on {bind}: {e}");
            registry.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    for addr in server.addrs() {
        // On stdout, for scripts and tests that bind port 0.
        println!("stratacache-server listening on http://{addr}");
    }
    let _ = std::io::stdout().flush();
    // actix-web stops on SIGINT and SIGTERM, draining requests in flight (up to 30 s).
    let result = server.run().await;
    info!("server stopped; shutting down caches");
    let report = registry.shutdown().await;
    info!(
        total_entries = report.total_entries,
        disconnected_caches = report.disconnected_caches,
        errors = ?report.errors,
        "registry shut down"
    );
    match result {
        Ok(()) if report.errors.is_empty() => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(e) => {
            error!(error = %e, "server error");
            ExitCode::FAILURE
        }
    }
}

/// Gives every request an id (`X-Request-Id`, kept when the client sends a sane one) and logs
/// it with the method, path, status and duration.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let header = HeaderName::from_static("x-request-id");
    let id = req
        .headers()
        .get(&header)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(
            || {
                format!(
                    "{:08x}-{:06x}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed)
                )
            },
            str::to_owned,
        );
    let (method, path) = (req.method().to_string(), req.path().to_owned());
    let started = Instant::now();
    let span = info_span!("request", request_id = %id, %method, %path);
    let mut res = next.call(req).instrument(span.clone()).await?;
    let status = res.status().as_u16();
    span.in_scope(|| {
        info!(
            status,
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            "request"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(header, value);
    }
    Ok(res)
}
