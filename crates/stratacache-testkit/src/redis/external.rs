//! `STRATACACHE_TEST_REDIS_URL`: a disposable server the tests use instead of spawning one.

/// The parts of a `redis://[[username]:password@]host[:port][/db]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ExternalUrl {
    pub(super) host: String,
    pub(super) port: u16,
    /// `""` or `"/<db>"`.
    pub(super) path: String,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}

impl ExternalUrl {
    pub(super) fn parse(url: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("redis://").ok_or_else(|| {
            format!(
                "{url:?} is not a redis:// URL (only plain-text servers are supported here; the \
                 TLS modes always start a local server)"
            )
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                let user = percent_decode(user)?;
                let password = password.map(percent_decode).transpose()?;
                ((!user.is_empty()).then_some(user), password)
            }
        };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unterminated IPv6 address"))?;
            (format!("[{host}]"), after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (host_port.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let port = match port {
            None | Some("") => 6379,
            Some(port) => port
                .parse()
                .map_err(|_| format!("{url:?}: invalid port {port:?}"))?,
        };
        if !path.is_empty() && path[1..].parse::<u32>().is_err() {
            return Err(format!("{url:?}: the path must be a database number"));
        }
        Ok(Self {
            host,
            port,
            path: path.to_owned(),
            username,
            password,
        })
    }

    /// The URL without credentials.
    pub(super) fn url(&self) -> String {
        format!("redis://{}:{}{}", self.host, self.port, self.path)
    }

    /// The host to connect a socket to (IPv6 without brackets).
    pub(super) fn socket_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::ExternalUrl;

    #[test]
    fn parses_urls() {
        let plain = ExternalUrl::parse("redis://10.0.0.5:6380").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("10.0.0.5", 6380));
        assert_eq!((&plain.username, &plain.password), (&None, &None));
        assert_eq!(plain.url(), "redis://10.0.0.5:6380");

        let full = ExternalUrl::parse("redis://user:p%40ss@redis.test/3").unwrap();
        assert_eq!((full.host.as_str(), full.port), ("redis.test", 6379));
        assert_eq!(full.username.as_deref(), Some("user"));
        assert_eq!(full.password.as_deref(), Some("p@ss"));
        assert_eq!(full.url(), "redis://redis.test:6379/3");

        let password_only = ExternalUrl::parse("redis://:secret@[::1]:7000/").unwrap();
        assert_eq!(password_only.socket_host(), "::1");
        assert_eq!(password_only.username, None);
        assert_eq!(password_only.password.as_deref(), Some("secret"));
        assert_eq!(password_only.url(), "redis://[::1]:7000");

        assert!(ExternalUrl::parse("rediss://localhost").is_err());
        assert!(ExternalUrl::parse("redis://localhost:x").is_err());
        assert!(ExternalUrl::parse("redis://localhost/abc").is_err());
    }
}
