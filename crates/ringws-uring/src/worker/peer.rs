//! The peer address of an accepted connection. A multishot accept into a direct descriptor
//! returns no address, and a direct descriptor has no file descriptor to call getpeername on, so
//! the driver asks the socket itself: getsockopt(SOL_SOCKET, SO_PEERNAME) through io_uring's
//! socket command (kernel 6.7), one submission per accepted connection, submitted before the
//! connection's receive so the handler knows the address before the first byte arrives
//! ([`Handler::on_peer`]).

use super::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `SOCKET_URING_OP_GETSOCKOPT` in `linux/io_uring.h`.
const SOCKET_URING_OP_GETSOCKOPT: u32 = 2;
/// Where `cmd_op` sits in an SQE (the low half of the `off` union, bytes 8..12).
const CMD_OP_OFFSET: usize = 8;

/// A sockaddr the kernel writes into; boxed so it stays put until the completion.
pub(super) type PeerBuf = Box<libc::sockaddr_in6>;

impl<M: Send + 'static> Core<M> {
    /// Asks for the peer address of the connection in slot `index` of ring `r`, if this worker
    /// reads peer addresses (a listener's family gives the address length SO_PEERNAME needs:
    /// it refuses a buffer longer than the address).
    pub(super) fn ask_peer(&mut self, r: u8, index: u32, generation: u32) {
        let Some(len) = self.peer_len else { return };
        // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
        let mut buf: PeerBuf = Box::new(unsafe { std::mem::zeroed() });
        let ptr: *mut libc::sockaddr_in6 = &mut *buf;
        let ud = UserData::new(OpKind::PeerName, r, generation, index);
        let mut entry = opcode::SetSockOpt::new(
            Fixed(index),
            libc::SOL_SOCKET as u32,
            libc::SO_PEERNAME as u32,
            ptr.cast::<libc::c_void>().cast_const(),
            len,
        )
        .build()
        .user_data(ud.to_u64());
        // The io-uring crate builds SETSOCKOPT only; GETSOCKOPT reads the same fields (level,
        // optname, optval, optlen) and differs only in the command.
        let at = (&raw mut entry).cast::<u8>().wrapping_add(CMD_OP_OFFSET).cast::<u32>();
        // SAFETY: `squeue::Entry` is a `#[repr(C)]` wrapper of the kernel's 64-byte SQE, whose
        // bytes 8..12 hold `cmd_op` for a URING_CMD; `at` points inside `entry`, and an
        // unaligned write needs no alignment.
        unsafe { at.write_unaligned(SOCKET_URING_OP_GETSOCKOPT) };
        self.peers.insert(ud.to_u64(), buf);
        // SAFETY: the command names `buf`, which stays boxed in `self.peers` until this
        // operation's completion (`on_peer_name`), or is leaked if the worker stops first.
        unsafe { self.push(r, &entry) };
    }
}

impl<H: Handler> Worker<H> {
    pub(super) fn on_peer_name(&mut self, r: u8, ud: UserData, res: i32) {
        let Some(buf) = self.core.peers.remove(&ud.to_u64()) else { return };
        if res < 0 {
            self.core.counters.sockopt_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Some(peer) = sockaddr(&buf) else { return };
        let live = self.core.slot_mut(r, ud).is_some_and(|c| c.life != Life::Free);
        if live {
            let id = ConnId::new(self.core.id, r, ud.generation(), ud.index());
            self.handler.on_peer(&mut Io { core: &mut self.core }, id, peer);
        }
    }
}

/// The address in a sockaddr the kernel filled (IPv4 or IPv6).
fn sockaddr(buf: &libc::sockaddr_in6) -> Option<SocketAddr> {
    match i32::from(buf.sin6_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET), which is smaller than the
            // sockaddr_in6 it was written into and has a compatible alignment.
            let v4 = unsafe { &*(buf as *const libc::sockaddr_in6).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(v4.sin_port))))
        }
        libc::AF_INET6 => {
            let ip = Ipv6Addr::from(buf.sin6_addr.s6_addr);
            let port = u16::from_be(buf.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, port, buf.sin6_flowinfo, buf.sin6_scope_id)))
        }
        _ => None,
    }
}
