//! The server under test: a `ws://` or `wss://host:port/path` URL, loopback only in this
//! repository.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `ws://` target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// The `Host` header value.
    pub(crate) host: String,
    /// Path and query.
    pub(crate) path: String,
    /// wss://: the name the TLS client sends (SNI) and checks the certificate for, if any.
    pub(crate) tls_name: Option<String>,
}

impl Target {
    /// Parses `ws://host[:port][/path]` or `wss://...`.
    ///
    /// # Errors
    /// Neither `ws://` nor `wss://`, an address that does not resolve, or one outside loopback
    /// (this tool only ever loads 127.0.0.0/8 or ::1).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let (rest, tls) = match (url.strip_prefix("ws://"), url.strip_prefix("wss://")) {
            (Some(rest), _) => (rest, false),
            (_, Some(rest)) => (rest, true),
            _ => return Err(format!("{url}: only ws:// and wss:// URLs are supported")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let with_port = if authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_owned()
        } else {
            format!("{authority}:{}", if tls { 443 } else { 80 })
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| format!("{authority}: {e}"))?
            .next()
            .ok_or_else(|| format!("{authority}: no address"))?;
        if !addr.ip().is_loopback() {
            return Err(format!("{addr}: only loopback targets (127.0.0.0/8, ::1) are allowed"));
        }
        let name = with_port.rsplit_once(':').map_or(authority, |(name, _)| name);
        let tls_name = tls.then(|| name.trim_start_matches('[').trim_end_matches(']').to_owned());
        Ok(Self { addr, host: authority.to_owned(), path: path.to_owned(), tls_name })
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
        let t = Target::parse("wss://localhost:9443/echo").unwrap();
        assert_eq!((t.addr.port(), t.tls_name.as_deref()), (9443, Some("localhost")));
        assert_eq!(Target::parse("wss://127.0.0.1/").unwrap().addr.port(), 443);
        assert!(Target::parse("ws://127.0.0.1:9001/").unwrap().tls_name.is_none());
        assert!(Target::parse("http://127.0.0.1/").is_err());
        assert!(Target::parse("ws://10.1.2.3:80/").unwrap_err().contains("loopback"));
        assert!(Target::parse("http://127.0.0.1/").is_err());
    }
}
