//! Just enough of RESP over a plain TCP socket to check that a server answers `PING` (after
//! `AUTH`), without a Redis client library in the test kit.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Connects to `host:port`, authenticates if a password is given, and sends `PING`.
pub(super) fn ping(
    host: &str,
    port: u16,
    username: Option<&str>,
    password: Option<&str>,
    timeout: Duration,
) -> Result<(), String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("set socket timeouts: {e}"))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;
    if let Some(password) = password {
        let mut auth = vec!["AUTH"];
        auth.extend(username);
        auth.push(password);
        let reply = command(&mut writer, &mut reader, &auth)?;
        if reply != "+OK" {
            return Err(format!("AUTH failed: {reply}"));
        }
    }
    let reply = command(&mut writer, &mut reader, &["PING"])?;
    if reply == "+PONG" {
        Ok(())
    } else {
        Err(format!("PING answered {reply}"))
    }
}

fn command(
    writer: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    args: &[&str],
) -> Result<String, String> {
    let mut request = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(arg.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    writer
        .write_all(&request)
        .map_err(|e| format!("send {}: {e}", args[0]))?;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("read the reply to {}: {e}", args[0]))?;
    if line.is_empty() {
        return Err(format!("connection closed before the reply to {}", args[0]));
    }
    Ok(line.trim_end().to_owned())
}
