//! What a worker's handler implements, and why a connection ended.

use super::prelude::*;

/// What a worker's handler sees. One handler per worker, called only from that worker's thread.
pub trait Handler: 'static {
    /// Messages other threads send to this worker (see [`Io::post`], [`crate::Remote::post`]).
    type Message: Send + 'static;

    /// The worker's loop is about to start: dial out from here.
    fn on_start(&mut self, io: &mut Io<'_, Self::Message>) {
        let _ = io;
    }

    /// A connection was accepted.
    fn on_open(&mut self, io: &mut Io<'_, Self::Message>, conn: ConnId) {
        let _ = (io, conn);
    }

    /// The peer address of `conn` is known: called once, after `on_open` and before its first
    /// `on_data`, when [`crate::Config::peer_addresses`] is on.
    fn on_peer(
        &mut self,
        io: &mut Io<'_, Self::Message>,
        conn: ConnId,
        peer: std::net::SocketAddr,
    ) {
        let _ = (io, conn, peer);
    }

    /// An outgoing connection asked for with [`Io::connect`] is established (or failed);
    /// `tag` is the caller's value. On success the connection receives like an accepted one.
    fn on_connect(&mut self, io: &mut Io<'_, Self::Message>, tag: u64, result: io::Result<ConnId>) {
        let _ = (io, tag, result);
    }

    /// Bytes arrived. `data` is a provided buffer lent for this call only: it goes back to the
    /// kernel when the call returns, so copy what must outlive it.
    fn on_data(&mut self, io: &mut Io<'_, Self::Message>, conn: ConnId, data: &mut [u8]);

    /// The connection's send queue became empty.
    fn on_drain(&mut self, io: &mut Io<'_, Self::Message>, conn: ConnId) {
        let _ = (io, conn);
    }

    /// The connection is gone and its slot free; `conn` will never be seen again.
    fn on_close(&mut self, io: &mut Io<'_, Self::Message>, conn: ConnId, cause: &CloseCause) {
        let _ = (io, conn, cause);
    }

    /// A timer set with [`Io::set_timer`] fired.
    fn on_timer(&mut self, io: &mut Io<'_, Self::Message>, key: u64) {
        let _ = (io, key);
    }

    /// A message arrived from another thread.
    fn on_message(&mut self, io: &mut Io<'_, Self::Message>, msg: Self::Message) {
        let _ = (io, msg);
    }

    /// A limit of this worker was hit (reported once each time it starts to bind, not per
    /// connection refused): say so in words. The default does nothing.
    fn on_limit(&mut self, io: &mut Io<'_, Self::Message>, limit: Limit) {
        let _ = (io, limit);
    }

    /// The server is shutting down. The default closes every connection at once; override to
    /// say goodbye first (then call [`Io::shutdown`] yourself).
    fn on_shutdown(&mut self, io: &mut Io<'_, Self::Message>) {
        io.shutdown(Duration::ZERO);
    }
}

/// A limit a worker hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Every ring's descriptor table is at its cap: accepting pauses until a connection closes
    /// (clients wait in the listen backlog). `slots` over `rings` rings; each table is sized
    /// from the soft RLIMIT_NOFILE, and the ring count from `Config::max_connections`.
    AllSlotsInUse {
        /// Connections holding a slot.
        slots: usize,
        /// Rings of this worker.
        rings: usize,
    },
    /// A direct accept found ring `ring`'s table full (`-ENFILE`): the kernel had accepted that
    /// client and dropped it.
    AcceptDropped {
        /// The ring whose table was full.
        ring: u8,
    },
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AllSlotsInUse { slots, rings } => write!(
                f,
                "all {slots} connection slots of this worker ({rings} rings) are in use: \
                 accepting pauses until one closes (raise --max-connections, or the open-file \
                 limit that sizes each ring's table)"
            ),
            Self::AcceptDropped { ring } => write!(
                f,
                "ring {ring}'s descriptor table was full when a connection arrived: the kernel \
                 dropped that client"
            ),
        }
    }
}

/// Why a connection ended.
#[derive(Debug)]
pub enum CloseCause {
    /// This side closed it ([`Io::close`] or [`Io::abort`]).
    Local,
    /// The peer closed its end (EOF).
    PeerClosed,
    /// A socket error (reset, broken pipe, ...).
    Error(io::Error),
}
