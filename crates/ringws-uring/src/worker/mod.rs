//! The per-core event loop over one or more rings driven by one pinned thread (the data path is
//! drawn in the crate docs). Its rooms:
//!
//! | module | holds |
//! | --- | --- |
//! | this one | `Worker`: setup, the loop (`run`: end of turn, wait, reap, dispatch), the mailbox |
//! | `completions` | what each completion means for its connection: accept, recv, send, close |
//! | `core` | the rings, connection slots and every operation on them |
//! | `turn` | the end of a loop turn (what was batched, submitted; figures published) and the wait |
//! | `conn` | a slot (`Conn`): its lifecycle (`Life`, pure transitions), its `Outbox`; a ring's table |
//! | `dial` | outgoing connections (socket, bind, TCP_NODELAY, connect) |
//! | `facade` | `Io`, what a handler may do |
//! | `handler` | the `Handler` trait and `CloseCause` |
//! | `peer` | an accepted connection's peer address (getsockopt SO_PEERNAME through io_uring) |
//! | `counters` | `Counters` and `ExitReport` |

mod completions;
mod conn;
mod core;
mod counters;
mod dial;
mod facade;
mod handler;
mod peer;
mod turn;

/// What the worker's rooms share: one import line in each of them.
mod prelude {
    pub(super) use super::conn::{
        AcceptState, Conn, Ended, Life, Outbox, RingCtx, Step, Write, ctx_full,
    };
    pub(super) use super::core::Core;
    pub(super) use super::counters::Counters;
    pub(super) use super::dial::Dial;
    pub(super) use super::facade::Io;
    pub(super) use super::handler::{CloseCause, Handler, Limit};
    pub(super) use super::{Envelope, Mailboxes, Worker};
    pub(super) use crate::bufring::BufRing;
    pub(super) use crate::chunk::Chunk;
    pub(super) use crate::mailbox::{Mailbox, wake_entry};
    pub(super) use crate::occupancy::Occupancy;
    pub(super) use crate::ring::{self, RingConfig};
    pub(super) use crate::slot::{ConnId, OpKind, UserData, next_generation};
    pub(super) use crate::timer::TimerWheel;
    pub(super) use bytes::Bytes;
    pub(super) use io_uring::types::{CancelBuilder, Fd, Fixed, SubmitArgs, Timespec};
    pub(super) use io_uring::{IoUring, cqueue, opcode, squeue};
    pub(super) use std::collections::VecDeque;
    pub(super) use std::io;
    pub(super) use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    pub(super) use std::sync::Arc;
    pub(super) use std::sync::atomic::{AtomicU64, Ordering};
    pub(super) use std::time::{Duration, Instant};
}

use prelude::*;

pub use counters::{Counters, ExitReport};
pub use facade::{Io, Poster};
pub use handler::{CloseCause, Handler, Limit};

/// Worker configuration; see [`crate::Config`] for the server-wide settings.
#[derive(Clone, Debug)]
pub(crate) struct WorkerConfig {
    pub(crate) id: u8,
    pub(crate) max_connections: usize,
    pub(crate) buf_size: u32,
    pub(crate) buf_count: u16,
    pub(crate) sub_ring_buf_count: u16,
    pub(crate) ring: RingConfig,
    pub(crate) timer_tick: Duration,
    pub(crate) accept_margin: u32,
    pub(crate) recv_bundle: bool,
    pub(crate) peer_addresses: bool,
}

/// Every worker's mailbox, indexed by worker.
pub(crate) type Mailboxes<M> = Arc<[Arc<Mailbox<Envelope<M>>>]>;

/// What goes through a worker's mailbox.
#[derive(Debug)]
pub(crate) enum Envelope<M> {
    User(M),
    Shutdown,
}

/// One worker: its handler and the state the handler reaches through [`Io`].
pub(crate) struct Worker<H: Handler> {
    pub(super) handler: H,
    pub(super) core: Core<H::Message>,
    /// One buffer ring per ring, declared after `core` so the rings drop first.
    pub(super) bufs: Vec<BufRing>,
    /// The buffers of the receive being dispatched (reused).
    pub(super) pieces: Vec<(u16, usize)>,
}

impl<H: Handler> Worker<H> {
    pub(crate) fn new(
        config: &WorkerConfig,
        listeners: Vec<OwnedFd>,
        boxes: Mailboxes<H::Message>,
        counters: Arc<Counters>,
        handler: H,
    ) -> io::Result<Self> {
        let (soft, _) = crate::sys::nofile_limit()?;
        // A fixed-file table may not exceed the soft RLIMIT_NOFILE; leave room for the regular
        // descriptors the process itself needs.
        let table = (soft.saturating_sub(64)).clamp(64, u64::from(crate::slot::MAX_INDEX)) as u32;
        let cap = table.saturating_sub(config.accept_margin).max(1);
        let want = config.max_connections.max(1) as u64;
        let rings_needed = want.div_ceil(u64::from(cap)).clamp(1, 255) as usize;
        let mut rings = Vec::with_capacity(rings_needed);
        let mut bufs = Vec::with_capacity(rings_needed);
        for r in 0..rings_needed {
            // Only the home ring is waited on, so only it may defer task work.
            let ring_config =
                RingConfig { defer_taskrun: r == 0 && config.ring.defer_taskrun, ..config.ring };
            let (ring, f) = ring::build(&ring_config)?;
            if r == 0 {
                let missing = f.missing();
                if !missing.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!(
                            "this kernel lacks io_uring features ringws needs: {}",
                            missing.join("; ")
                        ),
                    ));
                }
            }
            let this_table = if rings_needed == 1 {
                table.min((want as u32).saturating_add(config.accept_margin)).max(64)
            } else {
                table
            };
            ring.submitter().register_files_sparse(this_table).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("registering {this_table} direct descriptors: {e}"),
                )
            })?;
            let count = if r == 0 { config.buf_count } else { config.sub_ring_buf_count };
            bufs.push(BufRing::new(&ring, 0, count, config.buf_size)?);
            let cap = this_table.saturating_sub(config.accept_margin).max(1);
            let slots = Occupancy::new(cap);
            // Reserved whole, never grown: a growing vector leaves its old copies behind in the
            // allocator (measured: tens of bytes per connection at a million), while untouched
            // reserved pages cost nothing.
            let conns = Vec::with_capacity(this_table as usize);
            rings.push(RingCtx { ring, table: this_table, slots, conns, poll_armed: false });
        }
        let peer_len = match (listeners.first(), config.peer_addresses) {
            (Some(l), true) => Some(match crate::sys::local_addr(l)? {
                std::net::SocketAddr::V4(_) => size_of::<libc::sockaddr_in>() as u32,
                std::net::SocketAddr::V6(_) => size_of::<libc::sockaddr_in6>() as u32,
            }),
            _ => None,
        };
        let core = Core {
            id: config.id,
            rings,
            accepting: !listeners.is_empty(),
            accept: vec![AcceptState::Idle; listeners.len()],
            listeners,
            accepted_on: 0,
            timers: TimerWheel::new(config.timer_tick),
            fired: Vec::new(),
            stashed: Vec::new(),
            fatal: None,
            boxes,
            self_posted: false,
            dirty: Vec::new(),
            rearm: VecDeque::new(),
            rearm_per_turn: usize::from(config.buf_count).max(16),
            outboxes: Vec::new(),
            counters,
            shutdown_deadline: None,
            now: Instant::now(),
            buf_size: config.buf_size,
            recv_bundle: config.recv_bundle,
            dials: Vec::new(),
            free_dials: Vec::new(),
            dialed: Vec::new(),
            limits: Vec::new(),
            paused: false,
            turns: 0,
            enters: 0,
            queued: 0,
            woke: Instant::now(),
            busy_ns: 0,
            peers: std::collections::HashMap::new(),
            remote: None,
            peer_len,
            window: None,
        };
        Ok(Self { handler, core, bufs, pieces: Vec::new() })
    }

    /// A duplicate of the home ring's descriptor, for other threads' msg_ring.
    pub(crate) fn home_ring_fd(&self) -> io::Result<OwnedFd> {
        let raw = self.core.rings[0].ring.as_raw_fd();
        // SAFETY: dup(2) of a descriptor we own; the result is checked and owned by nobody else.
        let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` is a fresh descriptor returned by fcntl.
        Ok(unsafe { OwnedFd::from_raw_fd(dup) })
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self) -> io::Result<ExitReport> {
        let mut cqes: Vec<(u8, u64, i32, u32)> = Vec::with_capacity(1024);
        let mut inbox = Vec::new();
        self.handler.on_start(&mut Io { core: &mut self.core });
        // A post that came before this worker published its ring descriptor sent no wakeup
        // (there was nothing to wake yet): it waits in the mailbox.
        self.drain_mailbox(&mut inbox);
        let mut repaid = Vec::new();
        loop {
            self.repay_loans(&mut repaid);
            self.core.end_turn(&mut self.bufs);
            // Told now, not after the wait: a paused worker may wait a long time.
            for limit in std::mem::take(&mut self.core.limits) {
                self.handler.on_limit(&mut Io { core: &mut self.core }, limit);
            }
            if self.core.finished() {
                // What the last turn queued goes out: a post to another worker left only as a
                // queued msg_ring would leave that worker's mailbox marked as woken while it
                // sleeps on, deaf to every later post (a shutdown included).
                let _ = self.core.rings[0].ring.submit();
                break;
            }
            if let Some(e) = self.core.fatal.take() {
                return Err(io::Error::new(e.kind(), format!("submitting to io_uring: {e}")));
            }
            self.core.wait()?;
            self.core.now = Instant::now();
            // Completions set aside while submitting came first.
            cqes.append(&mut self.core.stashed);
            for (r, ctx) in self.core.rings.iter_mut().enumerate() {
                for cqe in ctx.ring.completion() {
                    cqes.push((r as u8, cqe.user_data(), cqe.result(), cqe.flags()));
                }
            }
            for (r, ud, res, flags) in cqes.drain(..) {
                self.dispatch(r, UserData::from_u64(ud), res, flags, &mut inbox);
            }
            for (tag, result) in std::mem::take(&mut self.core.dialed) {
                self.handler.on_connect(&mut Io { core: &mut self.core }, tag, result);
            }
            if std::mem::take(&mut self.core.self_posted) {
                self.drain_mailbox(&mut inbox);
            }
            let now = self.core.now;
            let mut fired = std::mem::take(&mut self.core.fired);
            self.core.timers.advance(now, |k| fired.push(k));
            for key in fired.drain(..) {
                self.handler.on_timer(&mut Io { core: &mut self.core }, key);
            }
            self.core.fired = fired;
            if self.core.shutdown_deadline.is_some_and(|deadline| now >= deadline) {
                self.core.abort_all();
            }
        }
        Ok(ExitReport {
            live: self.core.rings.iter().map(|r| r.slots.live() as usize).sum(),
            held_buffers: self.bufs.iter().map(BufRing::held).sum(),
            ops_in_flight: self
                .core
                .rings
                .iter()
                .flat_map(|r| &r.conns)
                .map(|c| usize::from(c.ops))
                .sum(),
            rings: self.core.rings.len(),
        })
    }

    /// Gives back the receive buffers whose last loan to a send ended (sent, or dropped with a
    /// connection's queue) since the last turn.
    fn repay_loans(&mut self, repaid: &mut Vec<(u64, u8, u16)>) {
        crate::loan::take_ended(repaid);
        for (uid, r, bid) in repaid.drain(..) {
            if let Some(bufs) = self.bufs.get_mut(usize::from(r)).filter(|b| b.uid() == uid) {
                bufs.repay(bid);
            }
        }
    }

    pub(super) fn drain_mailbox(&mut self, inbox: &mut Vec<Envelope<H::Message>>) {
        self.core.boxes[usize::from(self.core.id)].drain(inbox);
        for msg in inbox.drain(..) {
            let io = &mut Io { core: &mut self.core };
            match msg {
                Envelope::User(m) => self.handler.on_message(io, m),
                Envelope::Shutdown => self.handler.on_shutdown(io),
            }
        }
    }

    pub(super) fn dispatch(
        &mut self,
        r: u8,
        ud: UserData,
        res: i32,
        flags: u32,
        inbox: &mut Vec<Envelope<H::Message>>,
    ) {
        match ud.kind() {
            Some(OpKind::Accept) => self.on_accept(r, ud, res, flags),
            Some(OpKind::AcceptCancel) | Some(OpKind::MsgSent) | None => {}
            Some(OpKind::Recv) => self.on_recv(r, ud, res, flags),
            Some(OpKind::Send) => self.on_send(r, ud, res),
            Some(OpKind::Cancel) => {
                if let Some(conn) = self.core.slot_mut(r, ud) {
                    conn.ops -= 1;
                }
                self.maybe_finish(r, ud.index());
            }
            Some(OpKind::Close) => self.on_closed(r, ud),
            Some(OpKind::Shutdown) => {
                if let Some(conn) = self.core.slot_mut(r, ud) {
                    conn.ops -= 1;
                }
                self.maybe_finish(r, ud.index());
            }
            Some(OpKind::RingPoll) => {
                if let Some(ctx) = self.core.rings.get_mut(ud.index() as usize) {
                    ctx.poll_armed = false;
                }
            }
            Some(OpKind::Mailbox) => self.drain_mailbox(inbox),
            Some(OpKind::DialSocket) => self.core.on_dial_socket(r, ud.index(), res),
            Some(OpKind::DialBind) => self.core.on_dial_bind(ud.index(), res),
            Some(OpKind::DialConnect) => self.core.on_dial_connect(ud.index(), res),
            Some(OpKind::DialClose) => self.core.on_dial_closed(ud.index()),
            Some(OpKind::PeerName) => self.on_peer_name(r, ud, res),
            Some(OpKind::SockOpt) => {
                let counters = &self.core.counters;
                let counter =
                    if res < 0 { &counters.sockopt_failed } else { &counters.nodelay_set };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
