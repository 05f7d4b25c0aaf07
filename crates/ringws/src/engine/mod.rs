//! The engine: the driver's handler that speaks HTTP and WebSocket on every connection of one
//! worker, and calls the routes' handlers.
//!
//! ```text
//!  on_data ─► Handshake: gather the head ─► parse_request ─► plain HTTP answer | 101 + on_open
//!          │                                   └► deferred (`Later`): Deferred until answered
//!          └► Open: FrameDecoder (unmask in place) ─► MessageAssembler ─► on_message / ping /
//!             pong (auto-answered) / close (answered, then TCP closed)
//!  protocol error ─► close frame with its code ─► FIN ─► wait for the peer's close or EOF
//!  timers: one per connection (`timers`): handshake deadline (408; 503 if deferred), idle ping
//!          at half the route's idle timeout, drop at the full one, close deadline
//! ```
//!
//! Rooms: `upgrade` (the handshake, refusals, deferred answers), `timers`, `fanout` (publishes
//! to this worker's subscribers), `closing` (a connection's end and `on_close`).

use budget::Lent;
use bytes::Bytes;
use ringws_proto::handshake::{self, Request};
use ringws_proto::{Action, CloseCode, Codec, OpCode, Read, Role};
use ringws_uring::{CloseCause, ConnId, Io};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::answer::Accept;
use crate::config::SlowConsumer;
use crate::control::Control;
use crate::handler::{Message, UpgradeRequest};
use crate::log::LogLimiter;
use crate::mailbox::EngineMsg;
use crate::metrics::WorkerMetrics;
use crate::peer::{Peer, Peers, Shown};
use crate::proxy::ProxyHeader;
use crate::pubsub::{PubSub, Publish};
use crate::route::{Event, Route, deliver};
use crate::shared::Shared;
use crate::table::ConnTable;
use crate::websocket::{
    Closed, Ctx, Out, close_with_deadline, queue_close, send_close, send_frame, send_message,
    set_close_deadline, wire,
};

mod budget;
mod closing;
mod fanout;
mod timers;
mod upgrade;
use ringws_uring::Chunk;

enum Phase {
    /// Gathering the request head.
    Handshake(Vec<u8>),
    /// A WebSocket connection on route `route`.
    Open { route: usize, data: Box<dyn Any> },
    /// The route's handler will answer the upgrade later ([`crate::Later`]).
    Deferred(Box<Deferred>),
    /// An HTTP answer was sent; the connection closes once it is out.
    Done,
}

/// A deferred upgrade waiting for its answer.
struct Deferred {
    route: usize,
    key: handshake::AcceptKey,
    /// The permessage-deflate answer, when the route compresses and the client offered it.
    deflate: Option<ringws_proto::deflate::Agreement>,
    /// Bytes that came after the request head (frames sent before the 101).
    rest: Vec<u8>,
    state: Arc<crate::later::LaterState>,
}

/// One connection's engine state: what an idle connection costs beside the driver's slot and
/// one timer-wheel entry (a unit test guards its size).
struct Conn {
    phase: Phase,
    /// Where it comes from (known before its first byte).
    peer: Peer,
    /// Only while a frame or message is partial (see [`budget::Lent`]).
    codec: Option<Box<Lent>>,
    ctl: Control,
}

/// Codecs kept for reuse per worker: enough for every connection active in a burst.
const CODEC_POOL: usize = 4096;

/// One worker's engine.
pub(crate) struct Engine {
    shared: Arc<Shared>,
    routes: Vec<Box<dyn Route>>,
    conns: ConnTable<Conn>,
    /// Boxed: a codec moves between the pool and a connection as one pointer.
    #[allow(clippy::vec_box)]
    codecs: Vec<Box<Lent>>,
    pubsub: PubSub,
    /// IPv6 peer addresses (IPv4 ones live in the connections).
    peers: Peers,
    /// Subscribers that went over their limit during a fan-out (reused between publishes).
    slow: Vec<(ConnId, usize)>,
    log: LogLimiter,
    /// This worker's figures (written here only).
    metrics: Arc<WorkerMetrics>,
    /// The worker's compressor and inflater (permessage-deflate, shared mode).
    zip: crate::compress::Zip,
    /// wss://: the plaintext of the records just read (reused between reads).
    tls_plain: Vec<u8>,
}

impl Engine {
    /// A worker's engine, with its own instance of every route's handler.
    pub(crate) fn new(shared: Arc<Shared>, routes: Vec<Box<dyn Route>>, worker: usize) -> Self {
        let metrics = shared.metrics.workers[worker].clone();
        Self {
            zip: crate::compress::Zip::default(),
            tls_plain: Vec::new(),
            metrics,
            shared,
            routes,
            conns: ConnTable::new(),
            codecs: Vec::new(),
            pubsub: PubSub::default(),
            peers: Peers::default(),
            slow: Vec::new(),
            log: LogLimiter::new(20, Instant::now()),
        }
    }

    fn warn(&mut self, now: Instant, id: ConnId, what: &str, detail: &dyn std::fmt::Display) {
        if let Some(suppressed) = self.log.allow(now) {
            if suppressed > 0 {
                tracing::warn!(suppressed, "earlier peer errors not logged (rate limit)");
            }
            let peer = self.peer_of(id);
            tracing::warn!(%peer, conn = %id, "{what}: {detail}");
        }
    }

    /// `id`'s client is at `addr` (a trusted proxy said so): logs and the upgrade show it.
    fn set_client(&mut self, id: ConnId, addr: std::net::SocketAddr) {
        if let Some(conn) = self.conns.get_mut(id) {
            self.peers.forget(id, conn.peer);
            conn.peer = self.peers.record(id, addr);
        }
    }

    /// The peer of `id`, for log lines.
    fn peer_of(&self, id: ConnId) -> Shown {
        Shown(self.conns.get(id).and_then(|c| self.peers.addr(id, c.peer)))
    }

    fn event(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, route: usize, event: Event<'_>) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Open { data, .. } = &mut conn.phase else { return };
        let ctx = Ctx {
            io: io.reborrow(),
            id,
            data: data.as_mut(),
            ctl: &mut conn.ctl,
            pubsub: &mut self.pubsub,
            shared: &self.shared,
            counts: &self.metrics.routes[route],
            zip: &mut self.zip,
        };
        if deliver(self.routes[route].as_mut(), ctx, event).is_err() {
            self.fail_panicked(io, id);
        }
    }

    /// Runs a closure another thread sent for `id`: with the connection if it is open, with
    /// `None` if it is gone (a panic in it fails the connection as a handler's would).
    fn run_job(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, job: crate::mailbox::Job) {
        let open = self.conns.get_mut(id).and_then(|conn| match &mut conn.phase {
            Phase::Open { data, route } => Some((data, *route, &mut conn.ctl)),
            _ => None,
        });
        let metrics = &self.metrics;
        let ctx = open.map(|(data, route, ctl)| Ctx {
            io: io.reborrow(),
            id,
            data: data.as_mut(),
            ctl,
            pubsub: &mut self.pubsub,
            shared: &self.shared,
            counts: &metrics.routes[route],
            zip: &mut self.zip,
        });
        if catch_unwind(AssertUnwindSafe(|| (job.0)(ctx))).is_err() {
            self.fail_panicked(io, id);
        }
    }

    /// A handler panicked on `id`: that connection is closed with 1011 and the worker goes on
    /// (the handler's own state may be half updated; `docs/architecture.md` says what that means).
    fn fail_panicked(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId) {
        let peer = self.peer_of(id);
        tracing::error!(%peer, conn = %id, "the handler panicked: closing this connection with 1011");
        if let Some(conn) = self.conns.get_mut(id) {
            conn.ctl.session.abandon();
            let code = CloseCode::INTERNAL_ERROR;
            close_with_deadline(io, id, &mut conn.ctl, &self.shared, code, "internal error");
        }
    }

    /// Reads frames from `bytes` through the connection's session and does what they ask.
    fn frames(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, bytes: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Open { route, data } = &mut conn.phase else { return };
        let route = *route;
        let handler = &mut self.routes[route];
        let mut lent = match conn.codec.take() {
            Some(lent) => lent,
            None => {
                let mut lent = self.codecs.pop().unwrap_or_else(|| Lent::new(&self.shared.limits));
                lent.codec.set_max_message_size(self.shared.max_message_size(route));
                lent
            }
        };
        lent.codec.set_deflate(conn.ctl.deflate > 0);
        // The connection's own inflater if the client keeps its context, else the worker's.
        let own = conn.ctl.dedicated().and_then(|d| d.lend_inflater());
        let own_inflater = own.is_some();
        if let Some(inflater) =
            own.or_else(|| (conn.ctl.deflate > 0).then(|| self.zip.inflater.take()).flatten())
        {
            lent.codec.lend_inflater(inflater);
        }
        let codec = &mut lent.codec;
        let ctl = &mut conn.ctl;
        let mut pos = 0;
        let mut error = None;
        let mut panicked = false;
        while let Read::Took(used, action) = ctl.session.read(codec, &mut bytes[pos..]) {
            pos += used;
            let counts = &self.metrics.routes[route];
            let event = match action {
                None => continue,
                Some(Action::Text(t)) => {
                    counts.received.add(1);
                    counts.received_bytes.add(t.len() as u64);
                    Event::Message(Message::Text(t))
                }
                Some(Action::Binary(b)) => {
                    counts.received.add(1);
                    counts.received_bytes.add(b.len() as u64);
                    Event::Message(Message::Binary(b))
                }
                Some(Action::Ping(p)) => {
                    let _ = send_frame(io, id, ctl, OpCode::Pong, p, None);
                    Event::Ping(p)
                }
                Some(Action::Pong(p)) => {
                    ctl.ping_outstanding = false;
                    Event::Pong(p)
                }
                Some(Action::Closed { frame, reply, close_transport }) => {
                    let (code, reason) =
                        frame.map_or((CloseCode::NO_STATUS, ""), |f| (f.code, f.reason));
                    ctl.note_code(code.0, reason);
                    if let Some(reply) = reply {
                        queue_close(io, id, ctl, &reply);
                    }
                    if close_transport {
                        io.close(id);
                    }
                    continue;
                }
                Some(Action::Fail { error: e, close, close_now }) => {
                    // RFC 6455 §7.1.7: our close frame with the error's code, then a FIN so the
                    // peer answers and closes even if we can no longer parse its bytes.
                    let code = e.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
                    ctl.note_code(code.0, &e.to_string());
                    if let Some(close) = close {
                        queue_close(io, id, ctl, &close);
                    }
                    if close_now {
                        io.close(id);
                    } else {
                        io.shutdown_write(id);
                        set_close_deadline(io, id, ctl, &self.shared);
                    }
                    self.metrics.protocol_errors.add(1);
                    error = Some(e);
                    continue;
                }
            };
            let ctx = Ctx {
                io: io.reborrow(),
                id,
                data: data.as_mut(),
                ctl: &mut *ctl,
                pubsub: &mut self.pubsub,
                shared: &self.shared,
                counts,
                zip: &mut self.zip,
            };
            if deliver(handler.as_mut(), ctx, event).is_err() {
                panicked = true;
                break;
            }
        }
        if let Some(mut inflater) = lent.codec.take_inflater() {
            if !own_inflater {
                inflater.release(64 << 10);
                self.zip.inflater = Some(inflater);
            } else if let Some(d) = self.conns.get_mut(id).and_then(|c| c.ctl.dedicated()) {
                d.give_back(inflater);
            }
        }
        self.settle(io, id, &mut lent);
        if lent.codec.release() {
            if self.codecs.len() < CODEC_POOL {
                self.codecs.push(lent);
            }
        } else if let Some(conn) = self.conns.get_mut(id) {
            conn.codec = Some(lent);
        }
        if panicked {
            self.fail_panicked(io, id);
        } else if let Some(e) = error {
            self.warn(io.now(), id, "protocol error", &e);
        }
    }

    /// Bytes from the peer, in the clear: the request head, or frames.
    fn plain_data(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        // Before the upgrade, `last_seen` stays the accept time: the handshake's duration is
        // measured from it (its deadline is the connection's timer, not idleness).
        if matches!(conn.phase, Phase::Open { .. }) {
            conn.ctl.last_seen = self.shared.clock.now(io);
        }
        match &mut conn.phase {
            Phase::Handshake(buf) => {
                buf.extend_from_slice(data);
                self.handshake(io, id);
            }
            Phase::Open { .. } => self.frames(io, id, data),
            Phase::Deferred(d) => {
                // Frames before the 101: kept for after it, within the handshake's limit.
                if d.rest.len() + data.len() > self.shared.limits.max_header_bytes {
                    io.abort(id);
                } else {
                    d.rest.extend_from_slice(data);
                }
            }
            Phase::Done => {}
        }
        self.flush_publishes(io);
    }
}

impl ringws_uring::Handler for Engine {
    type Message = EngineMsg;

    fn on_open(&mut self, io: &mut Io<'_, EngineMsg>, conn: ConnId) {
        let (limits, clock) = (&self.shared.limits, self.shared.clock);
        let now = clock.now(io);
        let mut ctl = Control::new(now, limits.max_backpressure);
        clock.arm(io, conn, &mut ctl.timer, now.after(limits.handshake_timeout));
        if let Some(tls) =
            self.shared.tls.as_ref().filter(|_| io.listener() == self.shared.tls_listener)
        {
            let config = tls.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
            match crate::tls::TlsSession::new(config) {
                Ok(session) => ctl.set_tls(session),
                Err(e) => {
                    tracing::error!(conn = %conn, "cannot start a TLS session: {e}");
                    io.abort(conn);
                    return;
                }
            }
        }
        let phase = Phase::Handshake(Vec::new());
        let slots = io.ring_slots(conn.ring());
        self.conns.insert(conn, slots, Conn { phase, peer: Peer::Unknown, codec: None, ctl });
    }

    fn on_data(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, data: &mut [u8]) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        if let Some(tls) = conn.ctl.tls() {
            // wss://: the records decrypted into the worker's scratch, then read as plain bytes.
            let mut plain = std::mem::take(&mut self.tls_plain);
            let mut records = Vec::new();
            let read = tls.read(data, &mut plain, &mut records);
            if !records.is_empty() {
                io.send_bytes(id, Bytes::from(records));
            }
            match read {
                Err(e) => {
                    self.metrics.protocol_errors.add(1);
                    self.warn(io.now(), id, "TLS error", &e);
                    io.close(id);
                }
                Ok(outcome) => {
                    if !plain.is_empty() {
                        self.plain_data(io, id, &mut plain);
                    }
                    if outcome.peer_closed {
                        io.close(id);
                    }
                }
            }
            plain.clear();
            if plain.capacity() > 64 << 10 {
                plain = Vec::new();
            }
            self.tls_plain = plain;
            return;
        }
        self.plain_data(io, id, data);
    }

    /// The queue emptied: the handler hears it only if a send had reported backpressure (as
    /// uWebSockets' `drain`), not after every send.
    fn on_drain(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Open { route, .. } = conn.phase else { return };
        if !std::mem::take(&mut conn.ctl.backpressured) {
            return;
        }
        self.metrics.drained.add(1);
        self.event(io, id, route, Event::Drain);
        self.flush_publishes(io);
    }

    fn on_close(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, cause: &CloseCause) {
        self.closed(id, cause);
        self.flush_publishes(io);
    }

    fn on_peer(&mut self, _io: &mut Io<'_, EngineMsg>, id: ConnId, peer: std::net::SocketAddr) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.peer = self.peers.record(id, peer);
            let proxy = self.shared.proxy.as_ref();
            conn.ctl.proxy_header_due =
                proxy.is_some_and(|p| p.header == ProxyHeader::Protocol && p.trusts(peer.ip()));
        }
    }

    fn on_limit(&mut self, io: &mut Io<'_, EngineMsg>, limit: ringws_uring::Limit) {
        tracing::warn!(worker = io.worker(), "{limit}");
    }

    fn on_timer(&mut self, io: &mut Io<'_, EngineMsg>, key: u64) {
        self.on_timer_for(io, ConnId::from_u64(key));
        self.flush_publishes(io);
    }

    fn on_message(&mut self, io: &mut Io<'_, EngineMsg>, msg: EngineMsg) {
        match msg {
            EngineMsg::Publish { topic, frame, compress } => {
                let compress = compress == crate::Compress::Auto;
                let publish = Publish { topic, frame, skip: None, local_origin: false, compress };
                self.fan_out(io, &publish);
            }
            EngineMsg::Send { conn, opcode, payload, compress } => {
                if let Some(c) = self.conns.get_mut(conn)
                    && let Phase::Open { route, .. } = c.phase
                {
                    let counts = &self.metrics.routes[route];
                    let out = Out { shared: &self.shared, zip: &mut self.zip, counts };
                    let ctl = &mut c.ctl;
                    let _ = send_message(io, conn, ctl, out, opcode, &[], Some(payload), compress);
                }
            }
            EngineMsg::Close { conn, code, reason } => {
                let open =
                    self.conns.get_mut(conn).filter(|c| matches!(c.phase, Phase::Open { .. }));
                if let Some(c) = open {
                    let ctl = &mut c.ctl;
                    close_with_deadline(io, conn, ctl, &self.shared, CloseCode(code), &reason);
                }
            }
            EngineMsg::Run { conn, job } => self.run_job(io, conn, job),
            EngineMsg::Upgrade { conn, answer } => self.answer_later(io, conn, answer),
        }
        self.flush_publishes(io);
    }

    fn on_shutdown(&mut self, io: &mut Io<'_, EngineMsg>) {
        let worker = io.worker() as u8;
        for (id, conn) in self.conns.iter_mut(worker) {
            if matches!(conn.phase, Phase::Open { .. }) {
                send_close(io, id, &mut conn.ctl, CloseCode::GOING_AWAY, "server shutting down");
            }
        }
        io.shutdown(self.shared.limits.close_timeout);
    }
}

#[cfg(test)]
mod tests {
    /// What an idle open connection costs the engine, without a codec: a regression guard for
    /// the 200-bytes-per-idle-connection goal (with the driver's 24-byte slot, a 16-byte wheel
    /// entry and the table's generation).
    #[test]
    fn idle_connection_state_stays_small() {
        let conn = size_of::<super::Conn>();
        println!(
            "engine state per connection: {conn} bytes (+ the codec only while active: {})",
            size_of::<super::Lent>()
        );
        assert!(conn <= 80, "{conn} bytes");
    }
}
