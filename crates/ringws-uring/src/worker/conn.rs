//! A connection slot: where its connection is in its life ([`Life`], whose transitions are pure
//! functions, tested below without a kernel), what it has in flight, and its outbox while it has
//! something to send. An idle connection's slot is 24 bytes and owns no heap memory.

use super::prelude::*;

/// Where a connection is in its life. Every change goes through a transition below, which
/// returns the [`Step`] the core must take; "close only when nothing is in flight" is checked in
/// one place, [`Conn::ready_to_close`].
///
/// ```text
///  Free ─open─► Open(Write) ─close(after flush), queue busy─► Flushing ─flushed─┐
///                 │  └─shut_write─► Open(ShutWhenFlushed) ─flushed─► Open(Shut)  │
///                 └─close now / flushed / fail ─────────────────────► Cancelling ◄┘
///  Cancelling ─no op in flight─► Closing ─close completion─► Free
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Life {
    /// No connection: never used, or closed and reported.
    Free,
    /// Serving; the write side as given.
    Open(Write),
    /// A close was asked for: it follows once the queued data is out.
    Flushing,
    /// Tearing down: queued data dropped, the slot's operations cancelled; the descriptor closes
    /// when the last of them has ended.
    Cancelling,
    /// The descriptor's close is in flight.
    Closing,
}

/// The write side of an open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Open,
    /// A FIN follows once the queued data is out; nothing more may be queued.
    ShutWhenFlushed,
    /// The FIN was submitted.
    Shut,
}

/// What the core does after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Nothing,
    /// Drop the queue and cancel the slot's operations (the slot is now `Cancelling`).
    Teardown,
    /// Submit the write side's shutdown.
    Shutdown,
    /// Tell the handler the queue drained.
    Drained,
}

impl Life {
    /// Whether data may be queued.
    pub(super) fn can_send(self) -> bool {
        self == Self::Open(Write::Open)
    }

    /// Whether received data is still delivered (not after a teardown began).
    pub(super) fn serving(self) -> bool {
        matches!(self, Self::Open(_) | Self::Flushing)
    }

    /// A close asked for by the handler: at once (`now`), or after the queue (`flushed`: nothing
    /// is queued or in flight).
    pub(super) fn close(self, now: bool, flushed: bool) -> (Self, Step) {
        match self {
            Self::Open(_) | Self::Flushing if now || flushed => (Self::Cancelling, Step::Teardown),
            Self::Open(_) | Self::Flushing => (Self::Flushing, Step::Nothing),
            other => (other, Step::Nothing),
        }
    }

    /// A FIN asked for: at once if nothing waits to be sent.
    pub(super) fn shut_write(self, flushed: bool) -> (Self, Step) {
        match self {
            Self::Open(Write::Open) if flushed => (Self::Open(Write::Shut), Step::Shutdown),
            Self::Open(Write::Open) => (Self::Open(Write::ShutWhenFlushed), Step::Nothing),
            other => (other, Step::Nothing),
        }
    }

    /// The send queue drained (the last send completed with nothing left).
    pub(super) fn flushed(self) -> (Self, Step) {
        match self {
            Self::Flushing => (Self::Cancelling, Step::Teardown),
            Self::Open(Write::ShutWhenFlushed) => (Self::Open(Write::Shut), Step::Shutdown),
            Self::Open(Write::Open) => (self, Step::Drained),
            other => (other, Step::Nothing),
        }
    }

    /// The connection failed (EOF, a socket error, the worker aborting it).
    pub(super) fn fail(self) -> (Self, Step) {
        match self {
            Self::Open(_) | Self::Flushing => (Self::Cancelling, Step::Teardown),
            other => (other, Step::Nothing),
        }
    }
}

/// Why a connection ended, when not by our own request: kept compact in the slot and turned
/// into a [`CloseCause`] when it is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ended {
    PeerClosed,
    Errno(i32),
}

impl Ended {
    pub(super) fn cause(this: Option<Self>) -> CloseCause {
        match this {
            None => CloseCause::Local,
            Some(Self::PeerClosed) => CloseCause::PeerClosed,
            Some(Self::Errno(e)) => CloseCause::Error(io::Error::from_raw_os_error(e)),
        }
    }
}

/// What a connection has to send: its queue and, while a send is in flight, the chunks, iovecs
/// and msghdr the kernel reads. Boxed, so the msghdr never moves while submitted; taken from the
/// worker's pool when a connection starts sending and given back when it has nothing left, so an
/// idle connection holds none.
#[derive(Debug)]
pub(super) struct Outbox {
    pub(super) queue: VecDeque<Chunk>,
    /// Bytes queued or in flight; changed only through `set_buffered`, which keeps the worker's
    /// total.
    buffered: usize,
    /// A send of `chunks` is submitted and has not completed.
    pub(super) sending: bool,
    pub(super) chunks: Vec<Chunk>,
    pub(super) iovecs: Vec<libc::iovec>,
    pub(super) msg: libc::msghdr,
}

impl Outbox {
    pub(super) fn new() -> Box<Self> {
        // SAFETY: msghdr is plain data; all-zero is its empty value.
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let (queue, chunks, iovecs) = (VecDeque::new(), Vec::new(), Vec::new());
        Box::new(Self { queue, buffered: 0, sending: false, chunks, iovecs, msg })
    }

    /// Bytes queued or in flight.
    pub(super) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Sets the bytes queued or in flight, and moves the worker's total (`Core::queued`) by as
    /// much.
    pub(super) fn set_buffered(&mut self, bytes: usize, total: &mut usize) {
        *total = (*total + bytes).saturating_sub(self.buffered);
        self.buffered = bytes;
    }

    /// Nothing queued and nothing in flight: the outbox can serve another connection.
    pub(super) fn is_empty(&self) -> bool {
        !self.sending && self.queue.is_empty()
    }
}

/// One connection slot (one direct descriptor).
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) generation: u32,
    pub(super) life: Life,
    pub(super) recv_armed: bool,
    /// Listed in the worker's connections with data to submit this turn.
    pub(super) in_dirty: bool,
    /// Submitted operations whose final completion has not arrived (recv, send, shutdown,
    /// cancels, close).
    pub(super) ops: u8,
    /// The first reason the connection ended other than our own request.
    pub(super) ended: Option<Ended>,
    pub(super) out: Option<Box<Outbox>>,
}

impl Conn {
    pub(super) fn empty() -> Self {
        Self {
            generation: 0,
            life: Life::Free,
            recv_armed: false,
            in_dirty: false,
            ops: 0,
            ended: None,
            out: None,
        }
    }

    /// Bytes queued or in flight.
    pub(super) fn buffered(&self) -> usize {
        self.out.as_ref().map_or(0, |o| o.buffered())
    }

    /// Nothing queued and nothing in flight.
    pub(super) fn flushed(&self) -> bool {
        self.out.as_ref().is_none_or(|o| o.is_empty())
    }

    /// The one place that decides the descriptor may close: torn down, nothing in flight.
    pub(super) fn ready_to_close(&self) -> bool {
        self.life == Life::Cancelling && self.ops == 0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AcceptState {
    Idle,
    Armed(u8),
    Cancelling(u8),
}

pub(super) struct RingCtx {
    pub(super) ring: IoUring,
    /// Slots in the ring's descriptor table (`conns` is reserved for as many, once).
    pub(super) table: u32,
    /// How full the ring's descriptor table is.
    pub(super) slots: Occupancy,
    pub(super) conns: Vec<Conn>,
    pub(super) poll_armed: bool,
}

pub(super) fn ctx_full(ctx: &RingCtx) -> bool {
    ctx.slots.full()
}

#[cfg(test)]
mod tests {
    use super::{Conn, Life, Step, Write};

    const OPEN: Life = Life::Open(Write::Open);

    #[test]
    fn an_idle_slot_is_small() {
        let size = size_of::<Conn>();
        println!("driver slot: {size} bytes");
        assert!(size <= 24, "{size} bytes");
    }

    #[test]
    fn close_after_flush_waits_for_the_queue() {
        assert_eq!(OPEN.close(false, false), (Life::Flushing, Step::Nothing));
        assert_eq!(Life::Flushing.flushed(), (Life::Cancelling, Step::Teardown));
        assert_eq!(OPEN.close(false, true), (Life::Cancelling, Step::Teardown));
        // A second request changes nothing; an abort overtakes the flush.
        assert_eq!(Life::Flushing.close(false, false), (Life::Flushing, Step::Nothing));
        assert_eq!(Life::Flushing.close(true, false), (Life::Cancelling, Step::Teardown));
    }

    #[test]
    fn a_teardown_happens_once() {
        for life in [Life::Cancelling, Life::Closing, Life::Free] {
            assert_eq!(life.close(true, true), (life, Step::Nothing), "{life:?}");
            assert_eq!(life.fail(), (life, Step::Nothing), "{life:?}");
            assert_eq!(life.flushed(), (life, Step::Nothing), "{life:?}");
            assert!(!life.serving() && !life.can_send());
        }
        assert_eq!(Life::Open(Write::Shut).fail(), (Life::Cancelling, Step::Teardown));
    }

    #[test]
    fn shutting_the_write_side_refuses_sends_and_waits_for_the_queue() {
        let (life, step) = OPEN.shut_write(false);
        assert_eq!((life, step), (Life::Open(Write::ShutWhenFlushed), Step::Nothing));
        assert!(!life.can_send() && life.serving());
        assert_eq!(life.flushed(), (Life::Open(Write::Shut), Step::Shutdown));
        assert_eq!(OPEN.shut_write(true), (Life::Open(Write::Shut), Step::Shutdown));
        assert_eq!(Life::Open(Write::Shut).shut_write(true).1, Step::Nothing, "one FIN");
        assert_eq!(Life::Flushing.shut_write(true).1, Step::Nothing);
    }

    #[test]
    fn a_drain_is_reported_only_while_open_for_sends() {
        assert_eq!(OPEN.flushed(), (OPEN, Step::Drained));
        assert_eq!(Life::Open(Write::Shut).flushed().1, Step::Nothing);
    }

    #[test]
    fn the_descriptor_closes_only_with_nothing_in_flight() {
        let mut conn = Conn::empty();
        conn.life = Life::Cancelling;
        conn.ops = 2;
        assert!(!conn.ready_to_close());
        conn.ops = 0;
        assert!(conn.ready_to_close());
        conn.life = OPEN;
        assert!(!conn.ready_to_close(), "an open connection is never closed by accident");
    }
}
