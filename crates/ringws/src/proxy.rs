//! The client's address behind a trusted proxy: from a PROXY protocol header (v1 text or v2
//! binary, parsed by `ppp`) before the request, or from `X-Forwarded-For`. Only a peer on the
//! trusted list is believed; anyone else's header is ignored (`X-Forwarded-For`) or refused as a
//! malformed request (a PROXY header).

use ipnet::IpNet;
use ppp::{HeaderResult, PartialResult};
use std::net::{IpAddr, SocketAddr};

/// Which header a trusted proxy puts the client's address in ([`crate::App::behind_proxy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// A PROXY protocol header (v1 or v2, as HAProxy, AWS NLB, nginx `proxy_protocol` send)
    /// opens every connection from a trusted proxy; one missing or malformed is answered 400.
    Protocol,
    /// The `X-Forwarded-For` request header: the client is its rightmost address that is not a
    /// trusted proxy (the port is unknown: 0).
    ForwardedFor,
}

/// The proxies whose word about the client is taken, and how they give it.
#[derive(Clone, Debug)]
pub(crate) struct Trusted {
    pub(crate) header: ProxyHeader,
    nets: Vec<IpNet>,
}

impl Trusted {
    pub(crate) fn new(header: ProxyHeader, nets: Vec<IpNet>) -> Self {
        Self { header, nets }
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer` according to the `X-Forwarded-For` values (in request order),
    /// or `None` to keep `peer`: it is not trusted, the header is absent, or it holds something
    /// that is not an address before an untrusted one is found.
    pub(crate) fn forwarded_client<'v>(
        &self,
        peer: SocketAddr,
        values: impl Iterator<Item = &'v [u8]>,
    ) -> Option<SocketAddr> {
        if self.header != ProxyHeader::ForwardedFor || !self.trusts(peer.ip()) {
            return None;
        }
        let values: Vec<&[u8]> = values.collect();
        let entries = values.iter().rev().flat_map(|v| v.rsplit(|&b| b == b','));
        for entry in entries {
            let ip: IpAddr = std::str::from_utf8(entry).ok()?.trim().parse().ok()?;
            if !self.trusts(ip) {
                return Some(SocketAddr::new(ip, 0));
            }
        }
        None
    }
}

/// What the start of a trusted proxy's stream says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ProxyLine {
    /// Not all of the header is here yet.
    Partial,
    /// A header of `len` bytes: the client's address, or `None` (the proxy's own connection, a
    /// health check: PROXY UNKNOWN or v2 LOCAL).
    Done { client: Option<SocketAddr>, len: usize },
}

/// The longest PROXY protocol v1 line, CRLF included.
const V1_MAX_LEN: usize = 107;

/// Parses a PROXY protocol header at the start of `buf`.
///
/// # Errors
/// No PROXY header there, or a malformed one: the message says which.
pub(crate) fn parse_proxy_header(buf: &[u8]) -> Result<ProxyLine, String> {
    // A v1 line is parsed whole: `ppp` takes "... 51000 " (the port still to come) for a bad
    // port rather than a partial line. The spec caps the line at 107 bytes.
    if buf.starts_with(b"PROXY") {
        let window = &buf[..buf.len().min(V1_MAX_LEN)];
        if !window.windows(2).any(|w| w == b"\r\n") {
            return if buf.len() < V1_MAX_LEN {
                Ok(ProxyLine::Partial)
            } else {
                Err("a PROXY protocol v1 line without its end in 107 bytes".into())
            };
        }
    }
    let header = HeaderResult::parse(buf);
    if header.is_incomplete() {
        return Ok(ProxyLine::Partial);
    }
    match header {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Tcp6(a) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                ppp::v1::Addresses::Unknown => None,
            };
            Ok(ProxyLine::Done { client, len: h.header.len() })
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (ppp::v2::Command::Local, _) => None,
                (_, ppp::v2::Addresses::IPv4(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                (_, ppp::v2::Addresses::IPv6(a)) => {
                    Some(SocketAddr::new(a.source_address.into(), a.source_port))
                }
                _ => None,
            };
            Ok(ProxyLine::Done { client, len: h.len() })
        }
        HeaderResult::V1(Err(e)) => Err(format!("expected a PROXY protocol header: {e}")),
        HeaderResult::V2(Err(e)) => Err(format!("malformed PROXY protocol v2 header: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(header: ProxyHeader) -> Trusted {
        let nets = vec!["10.0.0.0/8".parse().unwrap(), "127.0.0.1/32".parse().unwrap()];
        Trusted::new(header, nets)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v1_gives_the_client_and_the_header_length() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 443\r\nGET / HTTP/1.1\r\n";
        let parsed = parse_proxy_header(line).unwrap();
        let client = Some(addr("203.0.113.7:51000"));
        assert_eq!(parsed, ProxyLine::Done { client, len: 43 });
        let v6 = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n";
        let client = Some(addr("[2001:db8::1]:4000"));
        assert_eq!(parse_proxy_header(v6).unwrap(), ProxyLine::Done { client, len: v6.len() });
        let unknown = b"PROXY UNKNOWN\r\n";
        let len = unknown.len();
        assert_eq!(parse_proxy_header(unknown).unwrap(), ProxyLine::Done { client: None, len });
    }

    #[test]
    fn a_split_header_waits_and_garbage_is_refused() {
        let line = b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 9001\r\n";
        for cut in 0..line.len() {
            let part = parse_proxy_header(&line[..cut]);
            assert_eq!(part, Ok(ProxyLine::Partial), "cut at {cut}");
        }
        let endless = [b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30);
        assert!(parse_proxy_header(&endless).unwrap_err().contains("107"));
        let err = parse_proxy_header(b"GET / HTTP/1.1\r\n\r\n").unwrap_err();
        assert!(err.contains("PROXY"), "{err}");
    }

    #[test]
    fn v2_gives_the_client() {
        let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
        v2.extend([0x21, 0x11, 0, 12]); // v2 PROXY, TCP over IPv4, 12 address bytes
        v2.extend([198, 51, 100, 9, 10, 0, 0, 1]);
        v2.extend(40000u16.to_be_bytes());
        v2.extend(443u16.to_be_bytes());
        let client = Some(addr("198.51.100.9:40000"));
        assert_eq!(parse_proxy_header(&v2).unwrap(), ProxyLine::Done { client, len: 28 });
        assert_eq!(parse_proxy_header(&v2[..20]).unwrap(), ProxyLine::Partial);
        v2.extend(b"GET / HTTP/1.1\r\n");
        let client = Some(addr("198.51.100.9:40000"));
        assert_eq!(parse_proxy_header(&v2).unwrap(), ProxyLine::Done { client, len: 28 });
    }

    #[test]
    fn forwarded_for_takes_the_rightmost_untrusted_address() {
        let t = trusted(ProxyHeader::ForwardedFor);
        let proxy = addr("10.1.2.3:5000");
        let values: [&[u8]; 2] = [b"198.51.100.1, 203.0.113.7", b"10.9.9.9"];
        let client = t.forwarded_client(proxy, values.into_iter());
        assert_eq!(client, Some(addr("203.0.113.7:0")));
        // From an untrusted peer the header is ignored: anyone can write it.
        assert_eq!(t.forwarded_client(addr("198.51.100.1:1"), values.into_iter()), None);
        // Garbage before an untrusted address: the proxy's own address stays.
        let bad: [&[u8]; 1] = [b"203.0.113.7, not-an-ip"];
        assert_eq!(t.forwarded_client(proxy, bad.into_iter()), None);
        assert_eq!(t.forwarded_client(proxy, std::iter::empty()), None);
    }

    #[test]
    fn mapped_ipv4_is_trusted_as_ipv4() {
        let t = trusted(ProxyHeader::Protocol);
        assert!(t.trusts("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!t.trusts("127.0.0.2".parse().unwrap()));
    }
}
