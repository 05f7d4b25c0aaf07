//! A connection's peer address, kept compact: 8 bytes in the connection for IPv4, and an IPv6
//! address in the worker's side table (`Peers`), so that a million IPv4 connections pay 8 bytes
//! each and no allocation.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use ringws_uring::ConnId;

/// Where a connection comes from, as the kernel saw it (a proxy's address behind a proxy).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// Not known (yet, or the driver does not read peer addresses).
    #[default]
    Unknown,
    V4([u8; 4], u16),
    /// In the worker's [`Peers`] table.
    V6,
}

/// A worker's IPv6 peer addresses, by connection.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    v6: HashMap<ConnId, SocketAddrV6>,
}

impl Peers {
    /// Records `addr` for `id`; what the connection keeps.
    pub(crate) fn record(&mut self, id: ConnId, addr: SocketAddr) -> Peer {
        match addr {
            SocketAddr::V4(a) => Peer::V4(a.ip().octets(), a.port()),
            SocketAddr::V6(a) => {
                self.v6.insert(id, a);
                Peer::V6
            }
        }
    }

    /// The address of `id`, whose connection keeps `peer`.
    pub(crate) fn addr(&self, id: ConnId, peer: Peer) -> Option<SocketAddr> {
        match peer {
            Peer::Unknown => None,
            Peer::V4(ip, port) => Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))),
            Peer::V6 => self.v6.get(&id).map(|a| SocketAddr::V6(*a)),
        }
    }

    /// The connection is gone.
    pub(crate) fn forget(&mut self, id: ConnId, peer: Peer) {
        if peer == Peer::V6 {
            self.v6.remove(&id);
        }
    }
}

/// A peer for log lines: its address, or `?`.
pub(crate) struct Shown(pub(crate) Option<SocketAddr>);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(a) => a.fmt(f),
            None => f.write_str("?"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Peer, Peers, Shown};
    use ringws_uring::ConnId;
    use std::net::SocketAddr;

    #[test]
    fn both_families_round_trip_and_a_connection_keeps_eight_bytes() {
        let mut peers = Peers::default();
        for (i, text) in ["127.0.0.9:4242", "[::1]:80"].into_iter().enumerate() {
            let id = ConnId::new(0, 0, 1, i as u32);
            let addr: SocketAddr = text.parse().unwrap();
            let kept = peers.record(id, addr);
            assert_eq!(peers.addr(id, kept), Some(addr));
            assert_eq!(Shown(peers.addr(id, kept)).to_string(), text);
            peers.forget(id, kept);
            assert!(kept != Peer::V6 || peers.addr(id, kept).is_none(), "forgotten");
        }
        assert_eq!(Shown(None).to_string(), "?");
        assert!(size_of::<Peer>() <= 8, "{}", size_of::<Peer>());
    }
}
