//! The server under test: a `ws://host:port/path` URL, loopback only in this repository.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `ws://` target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// The `Host` header value.
    pub(crate) host: String,
    /// Path and query.
    pub(crate) path: String,
}

impl Target {
    /// Parses `ws://host[:port][/path]`.
    ///
    /// # Errors
    /// Not `ws://` (`wss://` is not supported yet), an address that does not resolve, or one
    /// outside loopback (this tool only ever loads 127.0.0.0/8 or ::1).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{url}: only ws:// URLs are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority}: no address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("{addr}: only loopback targets (127.0.0.0/8, ::1) are allowed"));
        }
        Ok(Self { addr, host: authority.to_owned(), path: path.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_refuses_remote_targets() {
        let t = Target::parse("ws://127.0.0.1:9001/echo?x=1").unwrap();
        assert_eq!(
            (t.addr.port(), t.host.as_str(), t.path.as_str()),
            (9001, "127.0.0.1:9001", "/echo?x=1")
        );
        assert_eq!(Target::parse("ws://127.0.0.1:9001").unwrap().path, "/");
        assert!(Target::parse("wss://127.0.0.1/").is_err());
        assert!(Target::parse("ws://10.1.2.3:80/").unwrap_err().contains("loopback"));
        assert!(Target::parse("http://127.0.0.1/").is_err());
    }
}
