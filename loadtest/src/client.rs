//! The WebSocket client every scenario drives: dial over the io_uring driver (direct descriptors,
//! spread over source addresses), upgrade with `ringws-proto`'s client handshake, mask and send,
//! decode what comes back. A scenario sees opens, messages, closes and timers.

use bytes::Bytes;
use ringws_proto::deflate::{Deflater, Inflater};
use ringws_proto::frame::RSV1;
use ringws_proto::handshake::{AcceptKey, ClientRequest, parse_extensions, parse_response};
use ringws_proto::{Action, CloseCode, Codec, OpCode, Read, Role, Session};
use ringws_uring::{Chunk, CloseCause, ConnId, Handler, Io};
use rustc_hash::FxHashMap as HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::pace::Schedule;
use crate::stats::{Progress, Stats};
use crate::target::Target;
use crate::tls::TlsClient;
use crate::wire::{Wire, send_masked};

/// What a scenario implements. One instance per load-generator thread.
pub(crate) trait Scenario: 'static {
    /// Dials this thread's connections (through `ctx.dial`).
    fn start(&mut self, ctx: &mut Ctx<'_, '_>);
    /// A connection completed its upgrade.
    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64);
    /// A message arrived (text or binary payload).
    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64, payload: &[u8]) {
        let _ = (ctx, conn, tag, payload);
    }
    /// A dial or upgrade failed, or an open connection closed.
    fn on_gone(&mut self, ctx: &mut Ctx<'_, '_>, tag: u64, opened: bool) {
        let _ = (ctx, tag, opened);
    }
    /// A timer set with `ctx.timer` fired.
    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, key: u64) {
        let _ = (ctx, key);
    }
    /// The run is over: hand over the measurements.
    fn finish(&mut self) -> Stats;
}

enum State {
    Handshake {
        accept: AcceptKey,
        buf: Vec<u8>,
    },
    /// `ringws-proto`'s session: the same receive loop and closing handshake as the server's.
    Open {
        session: Session,
        codec: Box<Codec>,
    },
    /// The session is out of the table while its messages are dispatched.
    Busy,
}

struct Conn {
    tag: u64,
    state: State,
    /// Our close frame (or our answer to the server's) went out: wait for the server's end of
    /// TCP (RFC 6455 §7.1.1: the server closes first and holds TIME_WAIT), until `CLOSE_WAIT`.
    close_sent: bool,
    /// The scenario asked to close while the session was out dispatching (`State::Busy`).
    close_wanted: bool,
}

/// How long a closing client waits for the server to close TCP before closing itself.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The run-wide things every thread shares.
pub(crate) struct Shared {
    pub(crate) target: Target,
    /// Source addresses to spread connections over (one tops out near 12,000 to one server).
    pub(crate) sources: Vec<IpAddr>,
    pub(crate) per_source: u64,
    /// Dials started per second per thread: a connect storm overflows the server's listen
    /// backlog (somaxconn is 4096 here) and turns into SYN retries of seconds.
    pub(crate) dials_per_s: f64,
    /// Handshakes one thread may have in flight (dialed, no 101 yet): the listen backlog is
    /// finite, and a connect beyond it is dropped by the server's kernel.
    pub(crate) max_pending_per_thread: usize,
    pub(crate) start: Instant,
    pub(crate) progress: Progress,
    pub(crate) results: Mutex<Vec<Stats>>,
    /// Offer and use permessage-deflate (`--deflate`).
    pub(crate) deflate: bool,
    /// Connections with tags from `.1` on go to this target instead.
    pub(crate) second: Option<(Target, u64)>,
    /// wss:// targets: the TLS client settings.
    pub(crate) tls: Option<TlsClient>,
    /// The first TLS failure, for the report (the rest are counted as errors).
    pub(crate) tls_error: Mutex<Option<String>>,
}

impl Shared {
    /// The server the connection with `tag` goes to.
    pub(crate) fn target_of(&self, tag: u64) -> &Target {
        match &self.second {
            Some((second, from)) if tag >= *from => second,
            _ => &self.target,
        }
    }
}

/// The offer `--deflate` makes: each message on its own both ways, as the server's shared mode.
const DEFLATE_OFFER: &str = "permessage-deflate; client_no_context_takeover";

/// What a scenario may do.
pub(crate) struct Ctx<'a, 'io> {
    io: &'a mut Io<'io, ()>,
    shared: &'a Shared,
    wire: &'a mut Wire,
    dial_queue: &'a mut std::collections::VecDeque<u64>,
    dialed: &'a HashMap<u64, u64>,
    closing: &'a mut Vec<ConnId>,
    /// The thread's compressor (`--deflate`).
    deflater: &'a mut Deflater,
}

impl Ctx<'_, '_> {
    /// Nanoseconds since the run started: the clock every thread shares, used for timestamps.
    pub(crate) fn now_ns(&self) -> u64 {
        self.shared.start.elapsed().as_nanos() as u64
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.shared
    }

    /// When the connection with `tag` was actually dialed (after pacing), on the run clock.
    pub(crate) fn dialed_ns(&self, tag: u64) -> Option<u64> {
        self.dialed.get(&tag).copied()
    }

    /// Opens a connection (paced: queued, then started at `dials_per_s`); `tag` comes back in
    /// every callback for it. The source address is picked from the tag, `per_source` each.
    pub(crate) fn dial(&mut self, tag: u64) {
        self.dial_queue.push_back(tag);
    }

    /// Opens a connection now, for a scenario that paces its own dials (`churn`).
    pub(crate) fn dial_now(&mut self, tag: u64) {
        start_dial(self.io, self.shared, tag);
    }

    /// Sends one masked data frame.
    pub(crate) fn send(&mut self, conn: ConnId, opcode: OpCode, payload: &[u8]) -> bool {
        if !self.shared.deflate {
            return send_masked(self.io, self.wire, conn, opcode, 0, payload);
        }
        let mut packed = Vec::with_capacity(payload.len() / 2 + 16);
        self.deflater.deflate(payload, &mut packed);
        send_masked(self.io, self.wire, conn, opcode, RSV1, &packed)
    }

    /// Starts the closing handshake (1000). The server answers and closes TCP first, as RFC
    /// 6455 §7.1.1 asks, so the TIME_WAIT state stays with it and not with the load generator;
    /// a server that does not close within `CLOSE_WAIT` is closed on.
    pub(crate) fn close(&mut self, conn: ConnId) {
        self.closing.push(conn);
    }

    /// Calls `on_timer(key)` at or after `at_ns` (run clock).
    pub(crate) fn timer(&mut self, at_ns: u64, key: u64) {
        let at = self.shared.start + std::time::Duration::from_nanos(at_ns);
        self.io.set_timer(at, key);
    }
}

/// The driver handler of one load-generator thread.
pub(crate) struct LoadWorker<S: Scenario> {
    scenario: S,
    shared: Arc<Shared>,
    conns: HashMap<u64, Conn>,
    wire: Wire,
    /// The run is over: connections still in their handshake are cut by the tool.
    stopping: bool,
    /// wss://: the plaintext of the records just read (reused between reads).
    plain: Vec<u8>,
    worker: usize,
    dial_queue: std::collections::VecDeque<u64>,
    /// The dial pacer's schedule; restarted whenever the queue was empty.
    dial_schedule: Schedule,
    /// Dial times of connections not open yet, by tag.
    dialed: HashMap<u64, u64>,
    /// Connections a scenario just started closing, to mark after its callback.
    closing: Vec<ConnId>,
    /// Closing connections and when to stop waiting for the server's end of TCP, oldest first.
    close_deadlines: std::collections::VecDeque<(std::time::Instant, ConnId)>,
    /// `--deflate`: the thread's compressor, and its inflater, lent to a codec for a read.
    deflater: Deflater,
    inflater: Option<Box<Inflater>>,
}

/// Starts a TCP connect for `tag` from the source address its tag picks.
fn start_dial(io: &mut Io<'_, ()>, shared: &Shared, tag: u64) {
    let sources = &shared.sources;
    let source = sources.get(((tag / shared.per_source) as usize) % sources.len().max(1));
    io.connect(shared.target_of(tag).addr, source.copied(), tag);
    Progress::bump(&shared.progress.dialed);
}

/// The timer key of the dial pacer (scenario keys are small numbers).
const DIAL_TICK: u64 = u64::MAX;
/// The timer key of the close deadlines.
const CLOSE_TICK: u64 = u64::MAX - 1;

impl<S: Scenario> LoadWorker<S> {
    pub(crate) fn new(scenario: S, shared: Arc<Shared>, worker: usize) -> Self {
        let mask_seed = 0x9e37_79b9 ^ worker as u32;
        let dial_schedule = Schedule::new(0, shared.dials_per_s);
        Self {
            scenario,
            shared,
            conns: HashMap::default(),
            wire: Wire { mask_seed, sessions: HashMap::default() },
            plain: Vec::new(),
            stopping: false,
            worker,
            dial_queue: Default::default(),
            dial_schedule,
            dialed: HashMap::default(),
            closing: Vec::new(),
            close_deadlines: Default::default(),
            // Level 1: the generator's own CPU is part of what a run reports.
            deflater: Deflater::new(1, 15, false),
            inflater: Some(Box::new(Inflater::new(false))),
        }
    }

    fn with_ctx<R>(
        &mut self,
        io: &mut Io<'_, ()>,
        f: impl FnOnce(&mut S, &mut Ctx<'_, '_>) -> R,
    ) -> R {
        let mut ctx = Ctx {
            io,
            shared: &self.shared,
            wire: &mut self.wire,
            dial_queue: &mut self.dial_queue,
            dialed: &self.dialed,
            closing: &mut self.closing,
            deflater: &mut self.deflater,
        };
        let result = f(&mut self.scenario, &mut ctx);
        for id in std::mem::take(&mut self.closing) {
            self.start_close(io, id);
        }
        result
    }

    /// Sends our close frame on `id` if its session allows one, then waits for the server.
    fn start_close(&mut self, io: &mut Io<'_, ()>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id.to_u64()) else { return };
        let State::Open { session, .. } = &mut conn.state else {
            conn.close_wanted = matches!(conn.state, State::Busy);
            return;
        };
        if let Some(close) = session.start_close(CloseCode::NORMAL, "") {
            send_masked(io, &mut self.wire, id, OpCode::Close, 0, close.as_bytes());
            self.close_sent(io, id);
        }
    }

    /// A close frame of ours is queued on `id`: wait for the server to end TCP, but not forever.
    fn close_sent(&mut self, io: &mut Io<'_, ()>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id.to_u64()) else { return };
        if conn.close_sent {
            return;
        }
        conn.close_sent = true;
        let deadline = io.now() + CLOSE_WAIT;
        if self.close_deadlines.is_empty() {
            io.set_timer(deadline, CLOSE_TICK);
        }
        self.close_deadlines.push_back((deadline, id));
    }

    /// Closes the connections whose server did not close within `CLOSE_WAIT`.
    fn close_overdue(&mut self, io: &mut Io<'_, ()>) {
        let now = io.now();
        while let Some(&(deadline, id)) = self.close_deadlines.front() {
            if deadline > now {
                io.set_timer(deadline, CLOSE_TICK);
                return;
            }
            self.close_deadlines.pop_front();
            if self.conns.contains_key(&id.to_u64()) {
                io.close(id);
            }
        }
    }

    /// Starts every queued dial that is due by the clock, and comes back when the next one is.
    fn pace_dials(&mut self, io: &mut Io<'_, ()>) {
        let shared = &self.shared;
        let now = shared.start.elapsed().as_nanos() as u64;
        let window = shared.max_pending_per_thread;
        while !self.dial_queue.is_empty()
            && self.dialed.len() < window
            && self.dial_schedule.take_due(now).is_some()
        {
            let Some(tag) = self.dial_queue.pop_front() else { break };
            start_dial(io, shared, tag);
            self.dialed.insert(tag, now);
        }
        if self.dial_queue.is_empty() {
            return;
        }
        if self.dialed.len() >= window {
            // Handshakes are not completing as fast as the rate asks: more dials would only
            // overflow the server's listen backlog and be lost. Look again shortly, owing
            // nothing for the wait.
            let again = now + 200_000;
            self.dial_schedule.restart(again);
            io.set_timer(shared.start + std::time::Duration::from_nanos(again), DIAL_TICK);
        } else {
            let at = shared.start + std::time::Duration::from_nanos(self.dial_schedule.next_due());
            io.set_timer(at, DIAL_TICK);
        }
    }

    /// After a scenario callback: start pacing if it queued the first dials (the time the
    /// queue stood empty is not owed).
    fn after(&mut self, io: &mut Io<'_, ()>, was_empty: bool) {
        if was_empty && !self.dial_queue.is_empty() {
            self.dial_schedule.restart(self.shared.start.elapsed().as_nanos() as u64);
            self.pace_dials(io);
        }
    }
}

impl<S: Scenario> Handler for LoadWorker<S> {
    type Message = ();

    fn on_start(&mut self, io: &mut Io<'_, ()>) {
        self.with_ctx(io, |s, ctx| s.start(ctx));
        self.after(io, true);
    }

    fn on_connect(&mut self, io: &mut Io<'_, ()>, tag: u64, result: std::io::Result<ConnId>) {
        let conn = match result {
            Ok(conn) => {
                Progress::bump(&self.shared.progress.connected);
                conn
            }
            Err(_) if self.stopping => {
                // Cancelled because the run ended (`Io::shutdown` cancels dials in progress).
                Progress::bump(&self.shared.progress.cut_at_end);
                self.with_ctx(io, |s, ctx| s.on_gone(ctx, tag, false));
                self.dialed.remove(&tag);
                return;
            }
            Err(_) => {
                Progress::bump(&self.shared.progress.dial_failed);
                self.shared.progress.error();
                self.with_ctx(io, |s, ctx| s.on_gone(ctx, tag, false));
                self.dialed.remove(&tag);
                return;
            }
        };
        let target = self.shared.target_of(tag);
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&tag.to_le_bytes());
        nonce[8..].copy_from_slice(&(self.worker as u64).to_le_bytes());
        let mut request = ClientRequest::new(&target.host, &target.path, nonce);
        if self.shared.deflate {
            request.extensions = Some(DEFLATE_OFFER);
        }
        let mut bytes = Vec::with_capacity(256);
        let accept = request.write(&mut bytes);
        if let Some(tls) = &self.shared.tls {
            match tls.session() {
                Ok(session) => {
                    self.wire.sessions.insert(conn.to_u64(), session);
                }
                Err(_) => {
                    self.shared.progress.error();
                    io.abort(conn);
                    return;
                }
            }
        }
        self.wire.send(io, conn, bytes);
        let state = State::Handshake { accept, buf: Vec::new() };
        self.conns
            .insert(conn.to_u64(), Conn { tag, state, close_sent: false, close_wanted: false });
    }

    fn on_data(&mut self, io: &mut Io<'_, ()>, id: ConnId, data: &mut [u8]) {
        let Some(tls) = self.wire.sessions.get_mut(&id.to_u64()) else {
            return self.plain_data(io, id, data);
        };
        let (mut plain, mut out) = (std::mem::take(&mut self.plain), Vec::new());
        let read = tls.read(data, &mut plain, &mut out);
        if !out.is_empty() {
            io.send(id, Chunk::Shared(Bytes::from(out)));
        }
        if let Err(e) = read {
            self.shared.progress.error();
            let mut first = self.shared.tls_error.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| e.to_string());
            io.abort(id);
        } else if !plain.is_empty() {
            self.plain_data(io, id, &mut plain);
        }
        plain.clear();
        self.plain = plain;
    }

    fn on_close(&mut self, io: &mut Io<'_, ()>, id: ConnId, cause: &CloseCause) {
        self.wire.sessions.remove(&id.to_u64());
        self.closed(io, id, cause);
    }

    fn on_timer(&mut self, io: &mut Io<'_, ()>, key: u64) {
        if key == DIAL_TICK {
            self.pace_dials(io);
            return;
        }
        if key == CLOSE_TICK {
            self.close_overdue(io);
            return;
        }
        let was_empty = self.dial_queue.is_empty();
        self.with_ctx(io, |s, ctx| s.on_timer(ctx, key));
        self.after(io, was_empty);
    }

    fn on_shutdown(&mut self, io: &mut Io<'_, ()>) {
        let stats = self.scenario.finish();
        self.shared.results.lock().unwrap_or_else(|e| e.into_inner()).push(stats);
        self.stopping = true;
        io.shutdown(std::time::Duration::ZERO);
    }
}

impl<S: Scenario> LoadWorker<S> {
    /// Bytes from the server, in the clear: the 101, then frames.
    fn plain_data(&mut self, io: &mut Io<'_, ()>, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(&id.to_u64()) else { return };
        let tag = conn.tag;
        let mut rest: Option<Vec<u8>> = None;
        if let State::Handshake { accept, buf } = &mut conn.state {
            buf.extend_from_slice(data);
            let target = self.shared.target_of(tag);
            // What was offered (no subprotocol; the extension with --deflate), to check the
            // answer against.
            let mut offered = ClientRequest::new(&target.host, &target.path, [0; 16]);
            if self.shared.deflate {
                offered.extensions = Some(DEFLATE_OFFER);
            }
            match parse_response(buf, &offered, accept) {
                Ok(None) => return,
                Ok(Some(response))
                    if self.shared.deflate && !deflate_accepted(response.extensions) =>
                {
                    // Sending compressed frames to it would be a protocol error.
                    self.shared.progress.error();
                    io.abort(id);
                    return;
                }
                Ok(Some(response)) => {
                    rest = Some(buf[response.len..].to_vec());
                    let mut codec = Codec::new(Role::Client)
                        .with_max_frame_size(u64::MAX >> 1)
                        .with_max_message_size(1 << 30);
                    codec.set_deflate(self.shared.deflate);
                    let session = Session::new(Role::Client);
                    conn.state = State::Open { session, codec: Box::new(codec) };
                    self.shared.progress.opened();
                    self.with_ctx(io, |s, ctx| s.on_open(ctx, id, tag));
                    self.dialed.remove(&tag);
                }
                Err(_) => {
                    self.shared.progress.error();
                    io.abort(id);
                    return;
                }
            }
        }
        match rest {
            Some(mut rest) => self.frames(io, id, tag, &mut rest),
            None => self.frames(io, id, tag, data),
        }
    }

    /// An open or opening connection ended.
    fn closed(&mut self, io: &mut Io<'_, ()>, id: ConnId, cause: &CloseCause) {
        let Some(conn) = self.conns.remove(&id.to_u64()) else { return };
        let opened = !matches!(conn.state, State::Handshake { .. });
        if opened {
            self.shared.progress.closed();
            // Who ended an open connection, when the tool did not ask for it.
            if !conn.close_sent {
                let progress = &self.shared.progress;
                Progress::bump(match cause {
                    CloseCause::Local => &progress.ended_locally,
                    CloseCause::PeerClosed => &progress.ended_by_peer,
                    CloseCause::Error(_) => &progress.ended_by_error,
                });
            }
        } else if self.stopping {
            // Still in its handshake when the run ended: the tool cut it, not a failure.
            Progress::bump(&self.shared.progress.cut_at_end);
        } else {
            self.shared.progress.error();
        }
        self.with_ctx(io, |s, ctx| s.on_gone(ctx, conn.tag, opened));
        self.dialed.remove(&conn.tag);
    }

    fn frames(&mut self, io: &mut Io<'_, ()>, id: ConnId, tag: u64, bytes: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(&id.to_u64()) else { return };
        let State::Open { mut session, mut codec } =
            std::mem::replace(&mut conn.state, State::Busy)
        else {
            return;
        };
        if let Some(inflater) = self.inflater.take().filter(|_| self.shared.deflate) {
            codec.lend_inflater(inflater);
        }
        let mut pos = 0;
        let mut broken = false;
        while let Read::Took(used, action) = session.read(&mut codec, &mut bytes[pos..]) {
            pos += used;
            match action {
                None | Some(Action::Pong(_)) => {}
                Some(Action::Text(t)) => {
                    self.with_ctx(io, |s, ctx| s.on_message(ctx, id, tag, t.as_bytes()))
                }
                Some(Action::Binary(b)) => {
                    self.with_ctx(io, |s, ctx| s.on_message(ctx, id, tag, b))
                }
                Some(Action::Ping(p)) => {
                    Progress::bump(&self.shared.progress.pings);
                    send_masked(io, &mut self.wire, id, OpCode::Pong, 0, p);
                }
                Some(Action::Closed { reply, .. }) => {
                    // Answer a close we did not start (echoing its code), then wait for the
                    // server to end TCP.
                    if let Some(reply) = reply {
                        send_masked(io, &mut self.wire, id, OpCode::Close, 0, reply.as_bytes());
                    }
                    self.close_sent(io, id);
                }
                Some(Action::Fail { .. }) => {
                    broken = true;
                    break;
                }
            }
        }
        if let Some(inflater) = codec.take_inflater() {
            self.inflater = Some(inflater);
        }
        if broken {
            self.shared.progress.error();
            io.abort(id);
        }
        if let Some(conn) = self.conns.get_mut(&id.to_u64()) {
            conn.state = State::Open { session, codec };
            if std::mem::take(&mut conn.close_wanted) {
                self.start_close(io, id);
            }
        }
    }
}

/// Whether the server's answer accepted permessage-deflate as offered.
fn deflate_accepted(extensions: Option<&str>) -> bool {
    let Some(answer) = extensions else { return false };
    let (Ok(offer), Ok(answer)) = (parse_extensions(DEFLATE_OFFER), parse_extensions(answer))
    else {
        return false;
    };
    match (offer.first(), answer.first()) {
        (Some(o), Some(a)) => ringws_proto::deflate::accept_response(o, a).is_ok(),
        _ => false,
    }
}

/// The first source address of each block of `per_source` connections, for `count` of them.
pub(crate) fn sources(first: [u8; 4], count: usize) -> Vec<IpAddr> {
    (0..count.max(1))
        .map(|i| IpAddr::from([first[0], first[1], first[2], first[3].wrapping_add(i as u8)]))
        .collect()
}
