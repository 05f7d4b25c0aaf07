//! A connection slot's state, a send in flight, and one ring's table of slots.

use super::prelude::*;

#[derive(Debug)]
pub(super) struct SendOp {
    pub(super) chunks: Vec<Chunk>,
    pub(super) iovecs: Vec<libc::iovec>,
    pub(super) msg: libc::msghdr,
    pub(super) bytes: usize,
}

impl SendOp {
    pub(super) fn new() -> Box<Self> {
        // SAFETY: msghdr is plain data; all-zero is its empty value.
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        Box::new(Self { chunks: Vec::new(), iovecs: Vec::new(), msg, bytes: 0 })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    Open,
    /// Close once the send queue is empty.
    AfterFlush,
    /// Cancel submitted or due; waiting for the slot's operations to end.
    Teardown,
    /// The close of the descriptor is in flight.
    CloseSubmitted,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) generation: u32,
    pub(super) open: bool,
    pub(super) recv_armed: bool,
    /// Submitted operations whose final completion has not arrived (recv, send, cancel, close).
    pub(super) ops: u16,
    pub(super) closing: Closing,
    pub(super) cancel_sent: bool,
    pub(super) queue: VecDeque<Chunk>,
    pub(super) inflight: Option<Box<SendOp>>,
    /// Bytes queued or in flight.
    pub(super) buffered: usize,
    pub(super) in_dirty: bool,
    /// Shut the write side down once the queue drains (sent, or done).
    pub(super) shut_write: ShutWrite,
    pub(super) cause: Option<CloseCause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShutWrite {
    No,
    AfterFlush,
    Done,
}

impl Conn {
    pub(super) fn empty() -> Self {
        Self {
            generation: 0,
            open: false,
            recv_armed: false,
            ops: 0,
            closing: Closing::Open,
            cancel_sent: false,
            queue: VecDeque::new(),
            inflight: None,
            buffered: 0,
            in_dirty: false,
            shut_write: ShutWrite::No,
            cause: None,
        }
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
    /// How full the ring's descriptor table is.
    pub(super) slots: Occupancy,
    pub(super) conns: Vec<Conn>,
    pub(super) poll_armed: bool,
}

pub(super) fn ctx_full(ctx: &RingCtx) -> bool {
    ctx.slots.full()
}

impl PartialOrd for Closing {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some((*self as u8).cmp(&(*other as u8)))
    }
}
