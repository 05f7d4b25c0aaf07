//! The per-core event loop: accept, receive, send, close, timers and mailbox, over one or more
//! rings driven by one pinned thread.
//!
//! ```text
//!  home ring (0) ── submit_and_wait ──► CQEs of every ring ──► dispatch by UserData kind
//!    ├─ Accept ── direct descriptor ──► Conn slot, multishot recv armed ──► Handler::on_open
//!    ├─ Recv ── provided buffer ──► Handler::on_data(&mut [u8]) ──► buffer recycled at once
//!    ├─ Send ── partial? resubmit the rest ──► queue empty ──► Handler::on_drain
//!    ├─ Cancel / Close ── ops reach zero ──► slot free ──► Handler::on_close
//!    └─ RingPoll (a sub-ring has completions) / Mailbox (msg_ring from another worker)
//!  end of turn: sends batched (one sendmsg per connection), recvs re-armed after ENOBUFS,
//!               buffers published, accept moved to a ring with room
//! ```
//!
//! Ownership rule: every buffer, iovec and msghdr a submission names lives in the connection
//! slot (or the send-op pool) until the completion arrives, and a slot is only reused after its
//! last operation completed, so no completion can ever see freed memory.

use bytes::Bytes;
use io_uring::cqueue;
use io_uring::types::{CancelBuilder, Fd, Fixed, SubmitArgs, Timespec};
use io_uring::{IoUring, opcode, squeue};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bufring::BufRing;
use crate::chunk::Chunk;
use crate::mailbox::{Mailbox, wake_entry};
use crate::occupancy::Occupancy;
use crate::ring::{self, RingConfig};
use crate::slot::{ConnId, OpKind, UserData, next_generation};
use crate::timer::TimerWheel;

/// The most chunks one sendmsg carries; the rest wait for the next.
const MAX_IOVECS: usize = 64;

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

    /// The server is shutting down. The default closes every connection at once; override to
    /// say goodbye first (then call [`Io::shutdown`] yourself).
    fn on_shutdown(&mut self, io: &mut Io<'_, Self::Message>) {
        io.shutdown(Duration::ZERO);
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

/// Worker configuration; see [`crate::Config`] for the server-wide settings.
#[derive(Clone, Debug)]
pub(crate) struct WorkerConfig {
    pub(crate) id: u8,
    pub(crate) max_connections: usize,
    pub(crate) buf_size: u32,
    pub(crate) buf_count: u16,
    pub(crate) ring: RingConfig,
    pub(crate) timer_tick: Duration,
    pub(crate) accept_margin: u32,
    pub(crate) recv_bundle: bool,
}

/// Counters a worker keeps, readable from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed (slot freed).
    pub closed: AtomicU64,
    /// Multishot receives ended by an empty buffer ring, and re-armed.
    pub enobufs: AtomicU64,
    /// Completions that named a slot generation no longer live.
    pub stale: AtomicU64,
    /// Times accepting stopped because every ring's table was at its limit.
    pub limit_hits: AtomicU64,
    /// Dialed sockets given TCP_NODELAY.
    pub nodelay_set: AtomicU64,
    /// Socket options (TCP_NODELAY on dialed sockets) the kernel refused.
    pub sockopt_failed: AtomicU64,
}

/// The value of a boolean socket option that is on; static, so an SQE may point at it for as
/// long as the kernel likes.
static ONE: libc::c_int = 1;

impl Counters {
    /// Connections open now. `closed` is read first: a connection is counted accepted before
    /// it can be counted closed, so `accepted` read later is never behind it (read the other
    /// way round, a close landing between the loads made the difference negative).
    pub fn live(&self) -> u64 {
        let closed = self.closed.load(Ordering::Acquire);
        let accepted = self.accepted.load(Ordering::Acquire);
        accepted.saturating_sub(closed)
    }
}

/// A snapshot of a worker's state when it exits: what the leak tests check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReport {
    /// Connections still in their slots (should be zero).
    pub live: usize,
    /// Provided buffers still held by the driver (should be zero).
    pub held_buffers: usize,
    /// Operations still in flight (should be zero).
    pub ops_in_flight: usize,
    /// Rings this worker drove.
    pub rings: usize,
}

#[derive(Debug)]
struct SendOp {
    chunks: Vec<Chunk>,
    iovecs: Vec<libc::iovec>,
    msg: libc::msghdr,
    bytes: usize,
}

impl SendOp {
    fn new() -> Box<Self> {
        // SAFETY: msghdr is plain data; all-zero is its empty value.
        let msg: libc::msghdr = unsafe { std::mem::zeroed() };
        Box::new(Self { chunks: Vec::new(), iovecs: Vec::new(), msg, bytes: 0 })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Open,
    /// Close once the send queue is empty.
    AfterFlush,
    /// Cancel submitted or due; waiting for the slot's operations to end.
    Teardown,
    /// The close of the descriptor is in flight.
    CloseSubmitted,
}

#[derive(Debug)]
struct Conn {
    generation: u32,
    open: bool,
    recv_armed: bool,
    /// Submitted operations whose final completion has not arrived (recv, send, cancel, close).
    ops: u16,
    closing: Closing,
    cancel_sent: bool,
    queue: VecDeque<Chunk>,
    inflight: Option<Box<SendOp>>,
    /// Bytes queued or in flight.
    buffered: usize,
    in_dirty: bool,
    /// Shut the write side down once the queue drains (sent, or done).
    shut_write: ShutWrite,
    cause: Option<CloseCause>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShutWrite {
    No,
    AfterFlush,
    Done,
}

impl Conn {
    fn empty() -> Self {
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
enum AcceptState {
    Idle,
    Armed(u8),
    Cancelling(u8),
}

struct RingCtx {
    ring: IoUring,
    /// How full the ring's descriptor table is.
    slots: Occupancy,
    conns: Vec<Conn>,
    poll_armed: bool,
}

/// The part of the worker a handler may touch, through [`Io`].
pub(crate) struct Core<M> {
    id: u8,
    rings: Vec<RingCtx>,
    /// `None` for a driver that only dials (the load tester): it must not take a share of some
    /// server's connections on a port it never meant to serve.
    listener: Option<OwnedFd>,
    accept: AcceptState,
    accepting: bool,
    timers: TimerWheel,
    fired: Vec<u64>,
    /// Completions reaped while making room to submit (EBUSY), dispatched next turn.
    stashed: Vec<(u8, u64, i32, u32)>,
    /// A submission the kernel refused for good: the worker stops with it at the end of the
    /// turn rather than leave an operation counted that will never complete.
    fatal: Option<io::Error>,
    boxes: Mailboxes<M>,
    self_posted: bool,
    dirty: Vec<(u8, u32)>,
    /// Receives to re-arm (after ENOBUFS or a multishot that ended), oldest first.
    rearm: VecDeque<(u8, u32)>,
    /// The most re-arms per turn: a receive re-armed while the buffer ring is empty fails again
    /// at once, so re-arming more connections than there are buffers only burns CPU (measured:
    /// 100,000 subscribers over 512 buffers spent their time re-arming).
    rearm_per_turn: usize,
    /// Boxed so that a submitted msghdr never moves, whatever happens to the pool's vector.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<SendOp>>,
    counters: Arc<Counters>,
    shutdown_deadline: Option<Instant>,
    now: Instant,
    buf_size: u32,
    /// Receive bundles (several buffers per completion) instead of one buffer per completion.
    recv_bundle: bool,
    /// Outgoing connections in progress; the index is their `UserData` index.
    dials: Vec<Option<Dial>>,
    free_dials: Vec<u32>,
    /// Finished dials to report (tag, result), after the completion loop.
    dialed: Vec<(u64, io::Result<ConnId>)>,
}

/// An outgoing connection being set up. The addresses are boxed: the kernel reads them while
/// the Bind and Connect operations are in flight, and the dial table may grow meanwhile.
struct Dial {
    tag: u64,
    ring: u8,
    index: u32,
    dest: Box<(libc::sockaddr_storage, libc::socklen_t)>,
    source: Option<Box<(libc::sockaddr_storage, libc::socklen_t)>>,
    error: Option<io::Error>,
}

/// Every worker's mailbox, indexed by worker.
pub(crate) type Mailboxes<M> = Arc<[Arc<Mailbox<Envelope<M>>>]>;

/// What goes through a worker's mailbox.
#[derive(Debug)]
pub(crate) enum Envelope<M> {
    User(M),
    Shutdown,
}

/// The handler's access to its worker: send, close, timers, messages.
pub struct Io<'a, M> {
    core: &'a mut Core<M>,
}

impl<M> std::fmt::Debug for Io<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("worker", &self.core.id).finish()
    }
}

impl<M: Send + 'static> Io<'_, M> {
    /// This worker's index.
    pub fn worker(&self) -> usize {
        usize::from(self.core.id)
    }

    /// The time at the start of this loop turn (cheaper than `Instant::now`).
    pub fn now(&self) -> Instant {
        self.core.now
    }

    /// The size of a receive buffer: the most bytes one `on_data` call can carry.
    pub fn buf_size(&self) -> usize {
        self.core.buf_size as usize
    }

    /// Queues `chunk` on `conn`; it leaves with the batched sends at the end of this turn.
    /// Returns the bytes now buffered for `conn`, or `None` if `conn` is closed or closing.
    pub fn send(&mut self, conn: ConnId, chunk: Chunk) -> Option<usize> {
        self.core.send(conn, chunk)
    }

    /// Queues several chunks that must leave together and in order (a header and its payload).
    pub fn send_all(
        &mut self,
        conn: ConnId,
        chunks: impl IntoIterator<Item = Chunk>,
    ) -> Option<usize> {
        let mut buffered = None;
        for c in chunks {
            buffered = Some(self.core.send(conn, c)?);
        }
        buffered
    }

    /// Queues a shared payload.
    pub fn send_bytes(&mut self, conn: ConnId, bytes: Bytes) -> Option<usize> {
        self.core.send(conn, Chunk::Shared(bytes))
    }

    /// Bytes queued or in flight for `conn` (0 if it is gone).
    pub fn buffered(&self, conn: ConnId) -> usize {
        self.core.conn(conn).map_or(0, |c| c.buffered)
    }

    /// Whether `conn` is open and not closing.
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.core.conn(conn).is_some_and(|c| c.open && c.closing == Closing::Open)
    }

    /// Shuts down the write side of `conn` (a FIN) once everything queued has been sent, and
    /// keeps receiving until the peer closes. Sends after this are refused.
    pub fn shutdown_write(&mut self, conn: ConnId) {
        self.core.shutdown_write(conn);
    }

    /// A shorter-lived `Io` for passing on while this one stays usable afterwards.
    pub fn reborrow(&mut self) -> Io<'_, M> {
        Io { core: &mut *self.core }
    }

    /// Closes `conn` once everything queued has been sent.
    pub fn close(&mut self, conn: ConnId) {
        self.core.close(conn, false);
    }

    /// Closes `conn` now, dropping what is queued.
    pub fn abort(&mut self, conn: ConnId) {
        self.core.close(conn, true);
    }

    /// Calls `on_timer(key)` at or after `at` (to the wheel's tick).
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        self.core.timers.insert(at, key);
    }

    /// Sends `msg` to `worker`'s `on_message` (this worker included).
    pub fn post(&mut self, worker: usize, msg: M) {
        self.core.post(worker, Envelope::User(msg));
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.core.boxes.len()
    }

    /// Stops accepting, closes every connection (gracefully, giving queued data until
    /// `grace` to leave), and ends the worker when none is left.
    pub fn shutdown(&mut self, grace: Duration) {
        self.core.begin_shutdown(grace);
    }

    /// Opens a TCP connection to `dest` (from `source` if given, a local address in
    /// 127.0.0.0/8 say, to spread many connections over source addresses) into a direct
    /// descriptor; [`Handler::on_connect`] reports the result with `tag`.
    pub fn connect(
        &mut self,
        dest: std::net::SocketAddr,
        source: Option<std::net::IpAddr>,
        tag: u64,
    ) {
        self.core.dial(dest, source, tag);
    }

    /// Outgoing connections still being set up.
    pub fn dials_in_flight(&self) -> usize {
        self.core.dials.len() - self.core.free_dials.len()
    }

    /// Every open connection of this worker.
    pub fn connections(&self) -> Vec<ConnId> {
        self.core.open_ids()
    }
}

/// One worker: its handler and the state the handler reaches through [`Io`].
pub(crate) struct Worker<H: Handler> {
    handler: H,
    core: Core<H::Message>,
    /// One buffer ring per ring, declared after `core` so the rings drop first.
    bufs: Vec<BufRing>,
    /// The buffers of the receive being dispatched (reused).
    pieces: Vec<(u16, usize)>,
}

impl<H: Handler> Worker<H> {
    pub(crate) fn new(
        config: &WorkerConfig,
        listener: Option<OwnedFd>,
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
            bufs.push(BufRing::new(&ring, 0, config.buf_count, config.buf_size)?);
            let cap = this_table.saturating_sub(config.accept_margin).max(1);
            let slots = Occupancy::new(cap);
            rings.push(RingCtx { ring, slots, conns: Vec::new(), poll_armed: false });
        }
        let core = Core {
            id: config.id,
            rings,
            accepting: listener.is_some(),
            listener,
            accept: AcceptState::Idle,
            timers: TimerWheel::new(config.timer_tick),
            fired: Vec::new(),
            stashed: Vec::new(),
            fatal: None,
            boxes,
            self_posted: false,
            dirty: Vec::new(),
            rearm: VecDeque::new(),
            rearm_per_turn: usize::from(config.buf_count).max(16),
            pool: Vec::new(),
            counters,
            shutdown_deadline: None,
            now: Instant::now(),
            buf_size: config.buf_size,
            recv_bundle: config.recv_bundle,
            dials: Vec::new(),
            free_dials: Vec::new(),
            dialed: Vec::new(),
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
        loop {
            self.core.end_turn(&mut self.bufs);
            if self.core.finished() {
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

    fn drain_mailbox(&mut self, inbox: &mut Vec<Envelope<H::Message>>) {
        self.core.boxes[usize::from(self.core.id)].drain(inbox);
        for msg in inbox.drain(..) {
            let io = &mut Io { core: &mut self.core };
            match msg {
                Envelope::User(m) => self.handler.on_message(io, m),
                Envelope::Shutdown => self.handler.on_shutdown(io),
            }
        }
    }

    fn dispatch(
        &mut self,
        r: u8,
        ud: UserData,
        res: i32,
        flags: u32,
        inbox: &mut Vec<Envelope<H::Message>>,
    ) {
        match ud.kind() {
            Some(OpKind::Accept) => self.on_accept(r, res, flags),
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
            Some(OpKind::SockOpt) => {
                let counters = &self.core.counters;
                let counter =
                    if res < 0 { &counters.sockopt_failed } else { &counters.nodelay_set };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn on_accept(&mut self, r: u8, res: i32, flags: u32) {
        if !cqueue::more(flags) {
            self.core.accept = AcceptState::Idle;
        }
        if res < 0 {
            if -res == libc::ENFILE {
                // The table filled before the cancel landed: that client was dropped by the
                // kernel. Move on to a ring with room.
                self.core.rings[usize::from(r)].slots.table_was_full();
                self.core.counters.limit_hits.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let index = res as u32;
        let core = &mut self.core;
        core.rings[usize::from(r)].slots.opened();
        let id = core.open_slot(r, index);
        if ctx_full(&core.rings[usize::from(r)]) {
            core.cancel_accept();
        }
        self.handler.on_open(&mut Io { core: &mut self.core }, id);
    }

    fn on_recv(&mut self, r: u8, ud: UserData, res: i32, flags: u32) {
        let index = ud.index();
        let bid = cqueue::buffer_select(flags);
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.clear();
        if let (Some(first), true) = (bid, res > 0) {
            self.bufs[usize::from(r)].pieces(first, res as usize, &mut pieces);
        }
        let Some(conn) = self.core.slot_mut(r, ud) else {
            self.core.counters.stale.fetch_add(1, Ordering::Relaxed);
            for &(b, _) in &pieces {
                self.bufs[usize::from(r)].release_unread(b);
            }
            self.pieces = pieces;
            return;
        };
        let more = cqueue::more(flags);
        if !more {
            conn.recv_armed = false;
            conn.ops -= 1;
        }
        let live = conn.open
            && conn.closing != Closing::Teardown
            && conn.closing != Closing::CloseSubmitted;
        let id = ConnId::new(self.core.id, r, ud.generation(), index);
        if res > 0 {
            for &(b, len) in &pieces {
                let data = self.bufs[usize::from(r)].take(b, len);
                // A handler may abort the connection on the first piece; the rest are dropped.
                let closing = self.core.rings[usize::from(r)].conns[index as usize].closing;
                let still = live && !matches!(closing, Closing::Teardown | Closing::CloseSubmitted);
                if let Some(data) = data.filter(|_| still) {
                    self.handler.on_data(&mut Io { core: &mut self.core }, id, data);
                }
            }
            for &(b, _) in &pieces {
                self.bufs[usize::from(r)].recycle(b);
            }
            if !more && live {
                self.core.rearm.push_back((r, index));
            }
        } else if res == 0 {
            self.core.close_with(r, index, CloseCause::PeerClosed);
        } else if -res == libc::ENOBUFS {
            self.core.counters.enobufs.fetch_add(1, Ordering::Relaxed);
            if live {
                self.core.rearm.push_back((r, index));
            }
        } else if -res != libc::ECANCELED {
            self.core.close_with(r, index, CloseCause::Error(io::Error::from_raw_os_error(-res)));
        }
        self.maybe_finish(r, index);
    }

    fn on_send(&mut self, r: u8, ud: UserData, res: i32) {
        let index = ud.index();
        let core = &mut self.core;
        let Some(conn) = core.slot_mut(r, ud) else {
            core.counters.stale.fetch_add(1, Ordering::Relaxed);
            return;
        };
        conn.ops -= 1;
        let Some(mut op) = conn.inflight.take() else { return };
        let mut drained = false;
        if res >= 0 {
            let mut sent = res as usize;
            conn.buffered -= sent.min(conn.buffered);
            let mut rest = Vec::new();
            for mut chunk in op.chunks.drain(..) {
                if sent >= chunk.len() {
                    sent -= chunk.len();
                } else {
                    chunk.advance(sent);
                    sent = 0;
                    rest.push(chunk);
                }
            }
            for chunk in rest.into_iter().rev() {
                conn.queue.push_front(chunk);
            }
            if conn.queue.is_empty() {
                drained = true;
            } else if !conn.in_dirty {
                conn.in_dirty = true;
                core.dirty.push((r, index));
            }
        } else {
            op.chunks.clear();
            if -res != libc::ECANCELED {
                core.close_with(r, index, CloseCause::Error(io::Error::from_raw_os_error(-res)));
            }
        }
        op.iovecs.clear();
        core.pool.push(op);
        if drained {
            let conn = &mut core.rings[usize::from(r)].conns[index as usize];
            if conn.closing == Closing::AfterFlush {
                core.teardown(r, index);
            } else if conn.shut_write == ShutWrite::AfterFlush {
                core.submit_shutdown(r, index);
            } else if conn.closing == Closing::Open {
                let id = ConnId::new(core.id, r, ud.generation(), index);
                self.handler.on_drain(&mut Io { core: &mut self.core }, id);
            }
        }
        self.maybe_finish(r, index);
    }

    fn on_closed(&mut self, r: u8, ud: UserData) {
        let index = ud.index();
        let core = &mut self.core;
        let Some(conn) = core.slot_mut(r, ud) else { return };
        conn.ops -= 1;
        conn.open = false;
        conn.queue = VecDeque::new();
        conn.buffered = 0;
        let cause = conn.cause.take().unwrap_or(CloseCause::Local);
        core.rings[usize::from(r)].slots.closed();
        core.counters.closed.fetch_add(1, Ordering::Release);
        let id = ConnId::new(core.id, r, ud.generation(), index);
        self.handler.on_close(&mut Io { core: &mut self.core }, id, &cause);
    }

    fn maybe_finish(&mut self, r: u8, index: u32) {
        self.core.maybe_finish(r, index);
    }
}

fn ctx_full(ctx: &RingCtx) -> bool {
    ctx.slots.full()
}

impl<M: Send + 'static> Core<M> {
    /// A new connection (accepted or dialed) in the slot of direct descriptor `index`: the next
    /// generation, fresh state, a multishot receive armed.
    fn open_slot(&mut self, r: u8, index: u32) -> ConnId {
        let ctx = &mut self.rings[usize::from(r)];
        if ctx.conns.len() <= index as usize {
            ctx.conns.resize_with(index as usize + 1, Conn::empty);
        }
        let conn = &mut ctx.conns[index as usize];
        let generation = next_generation(conn.generation);
        *conn = Conn { generation, open: true, ..Conn::empty() };
        self.counters.accepted.fetch_add(1, Ordering::Release);
        self.arm_recv(r, index);
        ConnId::new(self.id, r, generation, index)
    }

    fn slot_mut(&mut self, r: u8, ud: UserData) -> Option<&mut Conn> {
        let conn = self.rings.get_mut(usize::from(r))?.conns.get_mut(ud.index() as usize)?;
        (conn.generation == ud.generation()).then_some(conn)
    }

    fn conn(&self, id: ConnId) -> Option<&Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get(usize::from(id.ring()))?.conns.get(id.index() as usize)?;
        (conn.open && conn.generation == id.generation()).then_some(conn)
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get_mut(usize::from(id.ring()))?.conns.get_mut(id.index() as usize)?;
        (conn.open && conn.generation == id.generation()).then_some(conn)
    }

    fn open_ids(&self) -> Vec<ConnId> {
        let mut ids = Vec::new();
        for (r, ctx) in self.rings.iter().enumerate() {
            for (i, c) in ctx.conns.iter().enumerate() {
                if c.open && c.closing == Closing::Open {
                    ids.push(ConnId::new(self.id, r as u8, c.generation, i as u32));
                }
            }
        }
        ids
    }

    fn send(&mut self, id: ConnId, chunk: Chunk) -> Option<usize> {
        let conn = self.conn_mut(id)?;
        if conn.closing != Closing::Open || conn.shut_write != ShutWrite::No {
            return None;
        }
        conn.buffered += chunk.len();
        conn.queue.push_back(chunk);
        let buffered = conn.buffered;
        if !conn.in_dirty {
            conn.in_dirty = true;
            self.dirty.push((id.ring(), id.index()));
        }
        Some(buffered)
    }

    fn close(&mut self, id: ConnId, now: bool) {
        let Some(conn) = self.conn_mut(id) else { return };
        match conn.closing {
            Closing::Open | Closing::AfterFlush => {
                if !now && (conn.inflight.is_some() || !conn.queue.is_empty()) {
                    conn.closing = Closing::AfterFlush;
                } else {
                    self.teardown(id.ring(), id.index());
                }
            }
            Closing::Teardown | Closing::CloseSubmitted => {}
        }
    }

    fn shutdown_write(&mut self, id: ConnId) {
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.closing != Closing::Open || conn.shut_write != ShutWrite::No {
            return;
        }
        conn.shut_write = ShutWrite::AfterFlush;
        if conn.inflight.is_none() && conn.queue.is_empty() {
            self.submit_shutdown(id.ring(), id.index());
        }
    }

    fn submit_shutdown(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        conn.shut_write = ShutWrite::Done;
        conn.ops += 1;
        let ud = UserData::new(OpKind::Shutdown, r, conn.generation, index);
        let entry =
            opcode::Shutdown::new(Fixed(index), libc::SHUT_WR).build().user_data(ud.to_u64());
        self.push(r, &entry);
    }

    /// Closes for a reason other than our own request, keeping the first cause.
    fn close_with(&mut self, r: u8, index: u32, cause: CloseCause) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        if conn.cause.is_none() && conn.closing != Closing::CloseSubmitted {
            conn.cause = Some(cause);
        }
        if matches!(conn.closing, Closing::Open | Closing::AfterFlush) {
            self.teardown(r, index);
        }
    }

    /// Drops queued data and cancels every operation on the descriptor; the close follows when
    /// the last of them has completed (`maybe_finish`).
    fn teardown(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        conn.closing = Closing::Teardown;
        let queued: usize = conn.queue.iter().map(Chunk::len).sum();
        conn.buffered -= queued.min(conn.buffered);
        conn.queue = VecDeque::new();
        if !conn.cancel_sent {
            conn.cancel_sent = true;
            // Cancel by user_data, one per operation: the kernel finds those in a hash table,
            // while a cancel by descriptor scans every request in flight (quadratic when 100,000
            // connections close together).
            let generation = conn.generation;
            let mut targets = [None, None];
            if conn.recv_armed {
                targets[0] = Some(UserData::new(OpKind::Recv, r, generation, index));
            }
            if conn.inflight.is_some() {
                targets[1] = Some(UserData::new(OpKind::Send, r, generation, index));
            }
            for target in targets.into_iter().flatten() {
                self.rings[usize::from(r)].conns[index as usize].ops += 1;
                let ud = UserData::new(OpKind::Cancel, r, generation, index);
                let entry =
                    opcode::AsyncCancel::new(target.to_u64()).build().user_data(ud.to_u64());
                self.push(r, &entry);
            }
        }
        self.maybe_finish(r, index);
    }

    fn maybe_finish(&mut self, r: u8, index: u32) {
        let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) else { return };
        if conn.closing == Closing::Teardown && conn.ops == 0 {
            conn.closing = Closing::CloseSubmitted;
            conn.ops += 1;
            let ud = UserData::new(OpKind::Close, r, conn.generation, index);
            let entry = opcode::Close::new(Fixed(index)).build().user_data(ud.to_u64());
            self.push(r, &entry);
        }
    }

    fn arm_recv(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        if conn.recv_armed || conn.closing != Closing::Open {
            return;
        }
        conn.recv_armed = true;
        conn.ops += 1;
        let ud = UserData::new(OpKind::Recv, r, conn.generation, index);
        let entry = if self.recv_bundle {
            opcode::RecvMultiBundle::new(Fixed(index), 0).build()
        } else {
            opcode::RecvMulti::new(Fixed(index), 0).build()
        };
        let entry = entry.user_data(ud.to_u64());
        self.push(r, &entry);
    }

    /// Pushes an SQE on ring `r`, submitting first if the queue is full.
    fn push(&mut self, r: u8, entry: &squeue::Entry) {
        let ring = &mut self.rings[usize::from(r)].ring;
        loop {
            // SAFETY: every entry built by this module names only memory that lives until its
            // completion: send iovecs/msghdr, and the chunks they (or a plain send) point into,
            // in the connection's boxed SendOp (kept until the Send completion), dial addresses in the boxed `Dial` (kept until the dial's last
            // completion), nothing else for the other opcodes (fixed descriptors, buffers from
            // the buffer ring).
            let pushed = unsafe { ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            // A full queue is submitted to make room.
            match ring.submit() {
                Ok(_) => {}
                // The kernel holds overflowed completions and takes no more submissions until
                // some are reaped: set them aside for the next turn's dispatch, then retry.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN)) => {
                    let before = self.stashed.len();
                    for cqe in ring.completion() {
                        self.stashed.push((r, cqe.user_data(), cqe.result(), cqe.flags()));
                    }
                    if self.stashed.len() == before {
                        std::thread::yield_now();
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => {
                    self.fatal.get_or_insert(e);
                    return;
                }
            }
        }
    }

    fn submit_send(&mut self, r: u8, index: u32) {
        let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) else { return };
        if conn.inflight.is_some() || conn.queue.is_empty() || conn.closing >= Closing::Teardown {
            return;
        }
        let mut op = self.pool.pop().unwrap_or_else(SendOp::new);
        op.bytes = 0;
        while op.chunks.len() < MAX_IOVECS {
            let Some(chunk) = conn.queue.pop_front() else { break };
            op.bytes += chunk.len();
            op.chunks.push(chunk);
        }
        let ud = UserData::new(OpKind::Send, r, conn.generation, index);
        let entry = if let [single] = op.chunks.as_slice() {
            // One piece: a plain send, which spares the kernel copying in a msghdr and an
            // iovec array (a load generator's frames, a whole small frame).
            let s = single.as_slice();
            let send = opcode::Send::new(Fixed(index), s.as_ptr(), s.len() as u32);
            send.flags(libc::MSG_NOSIGNAL).build()
        } else {
            op.iovecs.clear();
            for chunk in &op.chunks {
                let s = chunk.as_slice();
                op.iovecs.push(libc::iovec {
                    iov_base: s.as_ptr() as *mut libc::c_void,
                    iov_len: s.len(),
                });
            }
            op.msg.msg_iov = op.iovecs.as_mut_ptr();
            op.msg.msg_iovlen = op.iovecs.len();
            let send = opcode::SendMsg::new(Fixed(index), &op.msg as *const libc::msghdr);
            send.flags(libc::MSG_NOSIGNAL as u32).build()
        };
        let entry = entry.user_data(ud.to_u64());
        conn.ops += 1;
        conn.inflight = Some(op);
        self.push(r, &entry);
    }

    fn dial(&mut self, dest: std::net::SocketAddr, source: Option<std::net::IpAddr>, tag: u64) {
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
        self.push(r as u8, &entry);
    }

    fn on_dial_socket(&mut self, r: u8, slot: u32, res: i32) {
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
        self.push(r, &nodelay);
        self.push(r, &entry);
    }

    fn on_dial_bind(&mut self, slot: u32, res: i32) {
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
        self.push(r, &entry);
    }

    fn on_dial_connect(&mut self, slot: u32, res: i32) {
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
    fn close_failed_dial(&mut self, slot: u32) {
        let Some(Some(dial)) = self.dials.get(slot as usize) else { return };
        let (r, index) = (dial.ring, dial.index);
        let entry = opcode::Close::new(Fixed(index))
            .build()
            .user_data(UserData::new(OpKind::DialClose, r, 0, slot).to_u64());
        self.push(r, &entry);
    }

    fn on_dial_closed(&mut self, slot: u32) {
        if let Some(Some(dial)) = self.dials.get(slot as usize) {
            self.rings[usize::from(dial.ring)].slots.closed();
        }
        self.finish_dial(slot, None);
    }

    fn finish_dial(&mut self, slot: u32, id: Option<ConnId>) {
        let Some(dial) = self.dials.get_mut(slot as usize).and_then(Option::take) else { return };
        self.free_dials.push(slot);
        let result = match id {
            Some(id) => Ok(id),
            None => Err(dial.error.unwrap_or_else(|| io::Error::other("connect failed"))),
        };
        self.dialed.push((dial.tag, result));
    }

    fn post(&mut self, worker: usize, msg: Envelope<M>) {
        let Some(mailbox) = self.boxes.get(worker).cloned() else { return };
        let wake = mailbox.push(msg);
        if worker == usize::from(self.id) {
            self.self_posted = true;
        } else if let Some(fd) = wake {
            self.push(0, &wake_entry(fd));
        }
    }

    fn cancel_accept(&mut self) {
        if let AcceptState::Armed(r) = self.accept {
            self.accept = AcceptState::Cancelling(r);
            let target = UserData::new(OpKind::Accept, r, 0, 0).to_u64();
            let entry = opcode::AsyncCancel::new(target)
                .build()
                .user_data(UserData::new(OpKind::AcceptCancel, r, 0, 0).to_u64());
            self.push(r, &entry);
        }
    }

    fn arm_accept(&mut self) {
        if self.accept != AcceptState::Idle || !self.accepting {
            return;
        }
        let Some(listener) = self.listener.as_ref().map(|l| l.as_raw_fd()) else { return };
        let Some(r) = self.rings.iter().position(|c| !ctx_full(c)) else {
            return;
        };
        let r = r as u8;
        self.accept = AcceptState::Armed(r);
        let entry = opcode::AcceptMulti::new(Fd(listener))
            .allocate_file_index(true)
            .build()
            .user_data(UserData::new(OpKind::Accept, r, 0, 0).to_u64());
        self.push(r, &entry);
    }

    fn begin_shutdown(&mut self, grace: Duration) {
        self.accepting = false;
        self.cancel_accept();
        self.shutdown_deadline = Some(self.now + grace);
        for id in self.open_ids() {
            self.close(id, grace.is_zero());
        }
    }

    /// Cancels outgoing connections still connecting (a connect to a busy server can wait
    /// minutes in SYN retries); each then closes its socket and reports an error.
    fn cancel_dials(&mut self) {
        for slot in 0..self.dials.len() {
            let Some(Some(dial)) = self.dials.get_mut(slot) else { continue };
            if dial.index == u32::MAX || dial.error.is_some() {
                continue;
            }
            let (r, index) = (dial.ring, dial.index);
            dial.error = Some(io::Error::from(io::ErrorKind::Interrupted));
            // Its completion needs no handling (the cancelled connect reports), like an accept
            // cancel's.
            let entry = opcode::AsyncCancel2::new(CancelBuilder::fd(Fixed(index)).all())
                .build()
                .user_data(UserData::new(OpKind::AcceptCancel, r, 0, 0).to_u64());
            self.push(r, &entry);
        }
    }

    fn abort_all(&mut self) {
        self.cancel_dials();
        for r in 0..self.rings.len() {
            for i in 0..self.rings[r].conns.len() {
                let c = &self.rings[r].conns[i];
                if c.open && matches!(c.closing, Closing::Open | Closing::AfterFlush) {
                    self.teardown(r as u8, i as u32);
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.shutdown_deadline.is_some()
            && self.accept == AcceptState::Idle
            && self.dials.len() == self.free_dials.len()
            && self.rings.iter().all(|c| c.slots.live() == 0 && c.conns.iter().all(|c| c.ops == 0))
    }

    /// Everything batched for the end of a loop turn.
    fn end_turn(&mut self, bufs: &mut [BufRing]) {
        for b in bufs.iter_mut() {
            b.publish();
        }
        for _ in 0..self.rearm_per_turn {
            let Some((r, index)) = self.rearm.pop_front() else { break };
            self.arm_recv(r, index);
        }
        let dirty = std::mem::take(&mut self.dirty);
        for &(r, index) in &dirty {
            if let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) {
                conn.in_dirty = false;
            }
            self.submit_send(r, index);
        }
        self.dirty = dirty;
        self.dirty.clear();
        if self.accepting {
            if self.accept == AcceptState::Idle && self.rings.iter().all(ctx_full) {
                self.counters.limit_hits.fetch_add(1, Ordering::Relaxed);
            }
            self.arm_accept();
        }
        // Sub-rings wake the home ring through a poll on their descriptor.
        for r in 1..self.rings.len() {
            if !self.rings[r].poll_armed {
                self.rings[r].poll_armed = true;
                let fd = self.rings[r].ring.as_raw_fd();
                let entry = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
                    .build()
                    .user_data(UserData::new(OpKind::RingPoll, 0, 0, r as u32).to_u64());
                self.push(0, &entry);
            }
            let _ = self.rings[r].ring.submit();
        }
    }

    fn wait(&mut self) -> io::Result<()> {
        // Re-arms still queued must not wait for an event that only they would cause.
        let pending = !self.rearm.is_empty()
            || !self.stashed.is_empty()
            || self.rings.iter_mut().any(|c| !c.ring.completion().is_empty());
        let want = usize::from(!pending);
        let home = &self.rings[0].ring;
        let result = match self.timers.next_wait(Instant::now()).filter(|_| want > 0) {
            Some(wait) => {
                let ts = Timespec::from(wait.max(crate::timer::MIN_TICK));
                let args = SubmitArgs::new().timespec(&ts);
                home.submitter().submit_with_args(want, &args)
            }
            None => home.submit_and_wait(want),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl PartialOrd for Closing {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some((*self as u8).cmp(&(*other as u8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_never_goes_below_zero_while_connections_close() {
        // One connection at a time opens and closes on a worker while another thread reads the
        // live count. The two loads are not one snapshot, so the count may run ahead by the
        // opens between them, but never below zero: reading `accepted` before `closed` let a
        // close land between the loads, and the subtraction wrapped (or panicked in a debug
        // build).
        let counters = Arc::new(Counters::default());
        let worker = counters.clone();
        let churn = std::thread::spawn(move || {
            for _ in 0..2_000_000 {
                worker.accepted.fetch_add(1, Ordering::Release);
                worker.closed.fetch_add(1, Ordering::Release);
            }
        });
        while !churn.is_finished() {
            let live = counters.live();
            assert!(live < 1 << 40, "live connections read as {live}");
        }
        churn.join().unwrap();
        assert_eq!(counters.live(), 0);
    }
}
