//! Outgoing connections: a socket into a direct descriptor, bound to a source address,
//! connected, with TCP_NODELAY; failures closed and reported.

use super::prelude::*;

/// The value of a boolean socket option that is on; static, so an SQE may point at it for as
/// long as the kernel likes.
static ONE: libc::c_int = 1;

/// An outgoing connection being set up. The addresses are boxed: the kernel reads them while
/// the Bind and Connect operations are in flight, and the dial table may grow meanwhile.
pub(super) struct Dial {
    pub(super) tag: u64,
    pub(super) ring: u8,
    pub(super) index: u32,
    pub(super) dest: Box<(libc::sockaddr_storage, libc::socklen_t)>,
    pub(super) source: Option<Box<(libc::sockaddr_storage, libc::socklen_t)>>,
    pub(super) error: Option<io::Error>,
}

impl<M: Send + 'static> Core<M> {
    pub(super) fn dial(
        &mut self,
        dest: std::net::SocketAddr,
        source: Option<std::net::IpAddr>,
        tag: u64,
    ) {
        let Some(r) = self.rings.iter().position(|c| !ctx_full(c)) else {
            let e = io::Error::other("connection limit: every ring's descriptor table is full");
            self.dialed.push((tag, Err(e)));
            return;
        };
        let dest = Box::new(crate::sys::sockaddr(dest));
        let source =
            source.map(|ip| Box::new(crate::sys::sockaddr(std::net::SocketAddr::new(ip, 0))));
        let domain = i32::from(dest.0.ss_family);
        // `index` is unknown (u32::MAX) until the socket exists.
        let dial = Dial { tag, ring: r as u8, index: u32::MAX, dest, source, error: None };
        let slot = match self.free_dials.pop() {
            Some(i) => {
                self.dials[i as usize] = Some(dial);
                i
            }
            None => {
                self.dials.push(Some(dial));
                (self.dials.len() - 1) as u32
            }
        };
        // Counted as live from now, so concurrent dials never overfill the table.
        self.rings[r].slots.opened();
        // No SOCK_CLOEXEC: the kernel refuses it for a direct descriptor, which has no fd to inherit.
        let entry = opcode::Socket::new(domain, libc::SOCK_STREAM, 0)
            .file_index(Some(io_uring::types::DestinationSlot::auto_target()))
            .build()
            .user_data(UserData::new(OpKind::DialSocket, r as u8, 0, slot).to_u64());
        // SAFETY: a socket creation names no memory.
        unsafe { self.push(r as u8, &entry) };
    }

    pub(super) fn on_dial_socket(&mut self, r: u8, slot: u32, res: i32) {
        let Some(Some(dial)) = self.dials.get_mut(slot as usize) else { return };
        if res < 0 {
            dial.error = Some(io::Error::from_raw_os_error(-res));
            self.rings[usize::from(r)].slots.closed();
            self.finish_dial(slot, None);
            return;
        }
        dial.index = res as u32;
        let index = dial.index;
        // TCP_NODELAY, as accepted sockets inherit it from the listener: a client's second small
        // message must not wait for the first one's ACK. A socket option on a direct descriptor
        // needs io_uring (kernel 6.7); a failure is counted, not fatal.
        let nodelay = opcode::SetSockOpt::new(
            Fixed(index),
            libc::IPPROTO_TCP as u32,
            libc::TCP_NODELAY as u32,
            (&ONE as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as u32,
        )
        .build()
        .user_data(UserData::new(OpKind::SockOpt, r, 0, slot).to_u64());
        if self.shutdown_deadline.is_some() {
            dial.error = Some(io::Error::from(io::ErrorKind::Interrupted));
            self.close_failed_dial(slot);
            return;
        }
        let (kind, entry) = match &dial.source {
            Some(src) => (
                OpKind::DialBind,
                opcode::Bind::new(
                    Fixed(index),
                    (&src.0 as *const libc::sockaddr_storage).cast(),
                    src.1,
                )
                .build(),
            ),
            None => (
                OpKind::DialConnect,
                opcode::Connect::new(
                    Fixed(index),
                    (&dial.dest.0 as *const libc::sockaddr_storage).cast(),
                    dial.dest.1,
                )
                .build(),
            ),
        };
        let entry = entry.user_data(UserData::new(kind, r, 0, slot).to_u64());
        // SAFETY: the option's value is a static.
        unsafe { self.push(r, &nodelay) };
        // SAFETY: the bind or connect names an address in the boxed `Dial`, which stays in the
        // dial table until the dial's last completion (`finish_dial` runs only from a
        // completion, never with its operation in flight).
        unsafe { self.push(r, &entry) };
    }

    pub(super) fn on_dial_bind(&mut self, slot: u32, res: i32) {
        let Some(Some(dial)) = self.dials.get_mut(slot as usize) else { return };
        let (r, index) = (dial.ring, dial.index);
        if res < 0 || dial.error.is_some() {
            if dial.error.is_none() {
                dial.error = Some(io::Error::from_raw_os_error(-res));
            }
            self.close_failed_dial(slot);
            return;
        }
        let entry = opcode::Connect::new(
            Fixed(index),
            (&dial.dest.0 as *const libc::sockaddr_storage).cast(),
            dial.dest.1,
        )
        .build()
        .user_data(UserData::new(OpKind::DialConnect, r, 0, slot).to_u64());
        // SAFETY: the address is in the boxed `Dial`, kept until this connect completes.
        unsafe { self.push(r, &entry) };
    }

    pub(super) fn on_dial_connect(&mut self, slot: u32, res: i32) {
        let Some(Some(dial)) = self.dials.get_mut(slot as usize) else { return };
        if res < 0 || dial.error.is_some() {
            if dial.error.is_none() {
                dial.error = Some(io::Error::from_raw_os_error(-res));
            }
            self.close_failed_dial(slot);
            return;
        }
        let (r, index) = (dial.ring, dial.index);
        // Counted as live when the dial started.
        let id = self.open_slot(r, index);
        self.finish_dial(slot, Some(id));
    }

    /// The socket exists in the table but could not connect: close it, then report.
    pub(super) fn close_failed_dial(&mut self, slot: u32) {
        let Some(Some(dial)) = self.dials.get(slot as usize) else { return };
        let (r, index) = (dial.ring, dial.index);
        let entry = opcode::Close::new(Fixed(index))
            .build()
            .user_data(UserData::new(OpKind::DialClose, r, 0, slot).to_u64());
        // SAFETY: a close names no memory.
        unsafe { self.push(r, &entry) };
    }

    pub(super) fn on_dial_closed(&mut self, slot: u32) {
        if let Some(Some(dial)) = self.dials.get(slot as usize) {
            self.rings[usize::from(dial.ring)].slots.closed();
        }
        self.finish_dial(slot, None);
    }

    pub(super) fn finish_dial(&mut self, slot: u32, id: Option<ConnId>) {
        let Some(dial) = self.dials.get_mut(slot as usize).and_then(Option::take) else { return };
        self.free_dials.push(slot);
        let result = match id {
            Some(id) => Ok(id),
            None => Err(dial.error.unwrap_or_else(|| io::Error::other("connect failed"))),
        };
        self.dialed.push((dial.tag, result));
    }
}
