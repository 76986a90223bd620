//! The request-head screen in front of actix-http: the requests that actix-http's HTTP/1 decoder
//! refuses before any service runs (a head over 128 KiB or with more than 96 headers, a request
//! target over 65 534 bytes, a `Content-Length` that is not a `u64`, a malformed head, a head not
//! complete within the request timeout) answer the JSON error envelope with the security headers,
//! instead of actix-http's empty 400 / 408 / 431.
//!
//! [`Screened`] wraps a connection. Everything the client sends goes through a shadow copy of
//! actix-http's own decoder ([`actix_http::h1::Codec`]), so the screen refuses exactly what actix
//! would refuse and follows the message framing (`Content-Length` and chunked bodies, pipelined
//! requests) exactly as actix does. Bytes reach actix only once decoded without error; at the
//! first error the screen stops reading, withholds the refused head, and tells actix the client
//! closed its side. actix then finishes the responses of the requests before (half-closed
//! connections are allowed) and shuts the connection down; [`Screened`] writes the envelope just
//! before that shutdown, so responses keep their order.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_codec::Decoder;
use actix_http::error::ParseError;
use actix_http::h1::{Codec, Message, MessageType};
use actix_http::{KeepAlive, ServiceConfig};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderValue;
use bytes::{Buf, Bytes, BytesMut};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ApiError, ErrorCode};

/// The largest request head actix-http parses, in bytes (its `MAX_BUFFER_SIZE`).
pub const MAX_HEAD_BYTES: usize = 131_072;
/// The most header fields actix-http parses in one request (its `MAX_HEADERS`).
pub const MAX_HEADERS: usize = 96;
/// The longest request target (URL) the `http` crate accepts, in bytes.
pub const MAX_URI_BYTES: usize = 65_534;

/// How many bytes one read from the connection takes.
const READ_CHUNK: usize = 8 * 1024;

/// How long a refused connection is drained before it closes.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// How much of a refused connection's input is drained before it closes.
const DRAIN_BYTES: usize = 1024 * 1024;

/// The answer to a refused head, while the connection closes.
enum Refusal {
    /// The response, and how much of it is written.
    Writing { bytes: Bytes, written: usize },
    /// Written and the write side shut down: what the client still sends is dropped.
    Draining {
        deadline: Pin<Box<tokio::time::Sleep>>,
        left: usize,
    },
}

/// Builds the shadow decoders of one worker (their date service is per thread).
#[derive(Clone)]
pub(crate) struct ScreenConfig {
    decoder_config: ServiceConfig,
    head_timeout: Option<Duration>,
}

impl ScreenConfig {
    /// `head_timeout`: how long the first request head may take to arrive (`None`: no limit).
    pub(crate) fn new(head_timeout: Option<Duration>) -> Self {
        Self {
            // Only the decoder of the codec is used: keep-alive and timeouts do not matter to it.
            decoder_config: ServiceConfig::new(KeepAlive::Os, Duration::ZERO, Duration::ZERO, false, None),
            head_timeout,
        }
    }

    pub(crate) fn wrap<IO>(&self, io: IO) -> Screened<IO> {
        Screened {
            io,
            codec: Codec::new(self.decoder_config.clone()),
            raw: BytesMut::new(),
            cleared: 0,
            shadow: BytesMut::new(),
            first_head: self
                .head_timeout
                .map(|timeout| Box::pin(tokio::time::sleep(timeout))),
            head_timeout: self.head_timeout,
            refusal: None,
            read_closed: false,
        }
    }
}

/// A connection whose request heads are checked before actix-http reads them (see the module).
pub(crate) struct Screened<IO> {
    io: IO,
    /// The shadow decoder, one step ahead of actix's.
    codec: Codec,
    /// Bytes read from the client and not yet handed to actix: `cleared` of them decoded without
    /// error, then the bytes of `shadow`.
    raw: BytesMut,
    cleared: usize,
    /// The bytes of `raw` the shadow decoder has not consumed yet.
    shadow: BytesMut,
    /// The deadline of the first request head, until it arrives.
    first_head: Option<Pin<Box<tokio::time::Sleep>>>,
    head_timeout: Option<Duration>,
    /// The envelope to write before the connection closes.
    refusal: Option<Refusal>,
    /// Nothing more is read from the client (it closed, or a head was refused).
    read_closed: bool,
}

impl<IO> Screened<IO> {
    /// Runs the shadow decoder over the new bytes; clears what decodes, refuses at an error.
    fn screen(&mut self) {
        loop {
            let at_head = self.codec.message_type() == MessageType::None;
            match self.codec.decode(&mut self.shadow) {
                Ok(Some(message)) => {
                    self.cleared = self.raw.len() - self.shadow.len();
                    if matches!(message, Message::Item(_)) {
                        self.first_head = None;
                    }
                }
                Ok(None) => {
                    // A partial head stays withheld; consumed body bytes are cleared.
                    self.cleared = self.raw.len() - self.shadow.len();
                    return;
                }
                Err(e) => {
                    // A refused body (bad chunk framing) ends the request early: actix answers
                    // it (its payload is incomplete) with the envelope, through the application.
                    if at_head {
                        let error = refusal(&e, &self.raw[self.cleared..]);
                        self.refuse(&error);
                    }
                    self.raw.truncate(self.cleared);
                    self.shadow.clear();
                    self.read_closed = true;
                    return;
                }
            }
        }
    }

    fn refuse(&mut self, error: &ApiError) {
        tracing::debug!(
            status = error.status().as_u16(),
            error = error.message(),
            "request head refused"
        );
        self.refusal = Some(Refusal::Writing {
            bytes: response_bytes(error),
            written: 0,
        });
        self.read_closed = true;
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Screened<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.cleared > 0 {
                let n = this.cleared.min(out.remaining());
                out.put_slice(&this.raw[..n]);
                this.raw.advance(n);
                this.cleared -= n;
                return Poll::Ready(Ok(()));
            }
            if this.read_closed {
                // End of stream for actix: it finishes what it has and shuts down.
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0_u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                Poll::Pending => {
                    if let Some(deadline) = &mut this.first_head
                        && deadline.as_mut().poll(cx).is_ready()
                    {
                        let timeout = this.head_timeout.unwrap_or_default();
                        let error = ApiError::new(
                            StatusCode::REQUEST_TIMEOUT,
                            ErrorCode::ValidationError,
                            format!("the request head did not arrive within {timeout:?}"),
                        )
                        .with_details(json!({ "limit": "head_timeout", "seconds": timeout.as_secs_f64() }));
                        this.refuse(&error);
                        this.raw.clear();
                        this.shadow.clear();
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                    this.read_closed = true;
                    // An unfinished head goes nowhere: actix would close without an answer too.
                    this.raw.clear();
                    this.shadow.clear();
                }
                Poll::Ready(Ok(())) => {
                    this.raw.extend_from_slice(buf.filled());
                    this.shadow.extend_from_slice(buf.filled());
                    this.screen();
                }
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Screened<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writes the refusal (after actix's own responses), shuts the write side down, then reads
    /// and drops what the client still sends (up to [`DRAIN_BYTES`], for up to
    /// [`DRAIN_TIMEOUT`]): closing a socket with unread input resets the connection, and a reset
    /// can destroy the refusal before the client reads it.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(refusal) = &mut this.refusal else {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        };
        loop {
            match refusal {
                Refusal::Writing { bytes, written } => {
                    while *written < bytes.len() {
                        let n = ready!(Pin::new(&mut this.io).poll_write(cx, &bytes[*written..]))?;
                        if n == 0 {
                            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                        }
                        *written += n;
                    }
                    ready!(Pin::new(&mut this.io).poll_flush(cx))?;
                    ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    *refusal = Refusal::Draining {
                        deadline: Box::pin(tokio::time::sleep(DRAIN_TIMEOUT)),
                        left: DRAIN_BYTES,
                    };
                }
                Refusal::Draining { deadline, left } => {
                    let mut chunk = [0_u8; READ_CHUNK];
                    let mut buf = ReadBuf::new(&mut chunk);
                    match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() && buf.filled().len() < *left => {
                            *left -= buf.filled().len();
                        }
                        Poll::Pending if deadline.as_mut().poll(cx).is_pending() => return Poll::Pending,
                        // The client closed, failed, sent too much or took too long.
                        _ => return Poll::Ready(Ok(())),
                    }
                }
            }
        }
    }
}

/// The error for a head the decoder refused with `error`; `head` is its bytes as received.
fn refusal(error: &ParseError, head: &[u8]) -> ApiError {
    let target_len = request_target_len(head);
    match error {
        ParseError::TooLarge | ParseError::Uri(_) if target_len.is_none_or(|n| n > MAX_URI_BYTES) => {
            ApiError::new(
                StatusCode::URI_TOO_LONG,
                ErrorCode::ValidationError,
                format!("the request target (URL) exceeds {MAX_URI_BYTES} bytes"),
            )
            .with_details(json!({ "limit": "uri_bytes", "max": MAX_URI_BYTES }))
        }
        ParseError::TooLarge if head.len() >= MAX_HEAD_BYTES => ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::ValidationError,
            format!("the request head exceeds {MAX_HEAD_BYTES} bytes"),
        )
        .with_details(json!({ "limit": "head_bytes", "max": MAX_HEAD_BYTES })),
        ParseError::TooLarge => ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::ValidationError,
            format!("the request has more than {MAX_HEADERS} header fields"),
        )
        .with_details(json!({ "limit": "header_count", "max": MAX_HEADERS })),
        ParseError::Uri(_) => {
            ApiError::invalid_parameter("url", "the request target (URL) is not a valid URI")
        }
        ParseError::Method => ApiError::validation("the request method is not a valid token"),
        ParseError::Version => ApiError::validation("the HTTP version is not HTTP/1.0 or HTTP/1.1"),
        ParseError::Header => header_refusal(head),
        _ => ApiError::validation(format!("malformed request head: {error}")),
    }
}

/// The length of the request target on the request line, `None` while the line is unfinished.
fn request_target_len(head: &[u8]) -> Option<usize> {
    let line_end = head.iter().position(|&b| b == b'\n')?;
    let line = &head[..line_end];
    let start = line.iter().position(|&b| b == b' ')? + 1;
    let len = line[start..]
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(line.len() - start);
    Some(len)
}

/// Which header rule a head broke (actix-http only says "invalid header"). Never quotes a value:
/// a header may carry a credential.
fn header_refusal(head: &[u8]) -> ApiError {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    let text = String::from_utf8_lossy(&head[..end]);
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let fields: Vec<(String, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
        .collect();
    let values = |name: &str| -> Vec<&str> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect()
    };
    let header =
        |name: &str, message: String| ApiError::validation(message).with_details(json!({ "header": name }));
    let lengths = values("content-length");
    if lengths.len() > 1 {
        return header(
            "content-length",
            "the request has more than one Content-Length header".to_owned(),
        );
    }
    if let Some(value) = lengths.first()
        && (value.starts_with('+') || value.parse::<u64>().is_err())
    {
        return header(
            "content-length",
            format!(
                "the Content-Length header is not a whole number of bytes in 0..={}",
                u64::MAX
            ),
        );
    }
    let encodings = values("transfer-encoding").len();
    if encodings > 1 {
        return header(
            "transfer-encoding",
            "the request has more than one Transfer-Encoding header".to_owned(),
        );
    }
    if encodings == 1 && !lengths.is_empty() {
        return header(
            "transfer-encoding",
            "the request has both Content-Length and Transfer-Encoding".to_owned(),
        );
    }
    if encodings == 1 {
        return header(
            "transfer-encoding",
            "Transfer-Encoding must end with chunked (and HTTP/1.0 has none)".to_owned(),
        );
    }
    let hosts = values("host").len();
    if hosts > 1 {
        return header("host", "the request has more than one Host header".to_owned());
    }
    if hosts == 0 && request_line.ends_with("HTTP/1.1") {
        return header("host", "an HTTP/1.1 request needs a Host header".to_owned());
    }
    ApiError::validation("malformed request head: an invalid header field")
}

/// The whole HTTP/1.1 response of `error`: the envelope, the security headers, and
/// `Connection: close`.
fn response_bytes(error: &ApiError) -> Bytes {
    let body = serde_json::to_vec(&error.envelope()).unwrap_or_default();
    let status = error.status();
    let mut out = Vec::with_capacity(body.len() + 512);
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Error"),
            body.len()
        )
        .as_bytes(),
    );
    for (name, value) in crate::SECURITY_HEADERS {
        debug_assert!(HeaderValue::from_str(value).is_ok());
        out.extend_from_slice(format!("{}: {value}\r\n", name.to_ascii_lowercase()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn header_refusals_name_the_rule_and_never_quote_values() {
        for (head, header, words) in [
            (
                "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                "content-length",
                "whole number",
            ),
            (
                "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n",
                "content-length",
                "more than one",
            ),
            (
                "PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "transfer-encoding",
                "both",
            ),
            (
                "GET / HTTP/1.1\r\nX-Secret: hunter2\r\n\r\n",
                "host",
                "needs a Host",
            ),
        ] {
            let error = header_refusal(head.as_bytes());
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert!(error.message().contains(words), "{head:?}: {}", error.message());
            assert_eq!(error.envelope().details.unwrap()["header"], header);
            assert!(!error.message().contains("9999") && !error.message().contains("hunter2"));
        }
    }

    #[test]
    fn the_request_target_is_measured_on_the_request_line() {
        assert_eq!(request_target_len(b"GET /abc HTTP/1.1\r\nHost: t\r\n"), Some(4));
        assert_eq!(request_target_len(b"GET /abc"), None);
    }
}
