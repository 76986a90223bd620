//! Mapping of redis-rs errors to [`stratacache_core::Error`], without secrets.

use redis::{ErrorKind as RedisKind, RedisError};
use stratacache_core::{Error, ErrorKind};

/// Whether the connection that produced `e` should be dropped and replaced. A reply that timed out
/// does not break a multiplexed connection (a late reply is discarded): replacing it would only
/// add a reconnection to a slow server.
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    !e.is_timeout() && e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

/// Whether redis-rs reported the connection as closed before the reply (its "broken pipe": the
/// connection's task had ended, so, as a rule, the command was never written).
///
/// redis-rs keeps the `io::Error` behind an `Arc` that does not downcast, so the I/O kind is read
/// from its text, which is the standard library's description of `BrokenPipe`.
pub(crate) fn found_closed(e: &RedisError) -> bool {
    e.kind() == RedisKind::Io && e.to_string().to_ascii_lowercase().contains("broken pipe")
}

/// Classifies a redis-rs error. `context` says what was being done (`"GET"`, `"connect to
/// redis://127.0.0.1:7000"`); it must not contain secrets.
pub(crate) fn map(e: RedisError, context: &str) -> Error {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let code = e.code().unwrap_or_default().to_owned();
    let tls_rejected =
        lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("notvalidforname");
    let kind = if e.kind() == RedisKind::AuthenticationFailed
        || matches!(code.as_str(), "WRONGPASS" | "NOAUTH" | "NOPERM")
        || tls_rejected
    {
        ErrorKind::Authentication
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if breaks_connection(&e) {
        ErrorKind::Connection
    } else if e.kind() == RedisKind::InvalidClientConfig {
        ErrorKind::Configuration
    } else {
        ErrorKind::Backend
    };
    let hint = match kind {
        ErrorKind::Authentication if tls_rejected => {
            "; TLS: the server's certificate is not trusted for this host (check security.tls.ca_file and the host name in the url)"
        }
        ErrorKind::Authentication => "; check security.username and security.password",
        _ => "",
    };
    Error::new(kind, format!("{context}: {text}{hint}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn a_closed_connection_is_told_from_other_failures() {
        // What redis-rs answers on a connection whose task has ended.
        assert!(found_closed(&RedisError::from(io::Error::from(
            io::ErrorKind::BrokenPipe
        ))));
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::TimedOut,
        ] {
            assert!(
                !found_closed(&RedisError::from(io::Error::from(kind))),
                "{kind:?}"
            );
        }
        let reply = RedisError::from((RedisKind::Client, "ERR something"));
        assert!(!found_closed(&reply));
    }
}
