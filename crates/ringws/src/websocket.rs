//! The connection handle callbacks get, and the sends behind it.

use bytes::Bytes;
use ringws_proto::frame::{FrameHeader, MAX_HEADER_LEN};
use ringws_proto::{CloseCode, ClosePayload, OpCode};
use ringws_uring::{Chunk, ConnId, Io};
use std::any::Any;

use crate::compress::Zip;
use crate::control::Control;
use crate::mailbox::EngineMsg;
use crate::metrics::RouteCounts;
use crate::pubsub::{PubSub, Publish, TopicName, encode_frame};
use crate::sending::{Compress, InvalidCloseCode, Kind, SendStatus, sendable};
use crate::shared::Shared;

/// Queues a publish made on this worker; returns the subscribers it is addressed to (all
/// workers, as counted now).
pub(crate) fn queue_publish(
    pubsub: &mut PubSub,
    shared: &Shared,
    topic: TopicName,
    opcode: OpCode,
    payload: &[u8],
    skip: Option<ConnId>,
    compress: Compress,
) -> usize {
    let reached = shared.counts.get(&topic);
    let frame = encode_frame(opcode, payload);
    let compress = compress == Compress::Auto;
    pubsub.outbox.push(Publish { topic, frame, skip, local_origin: true, compress });
    reached
}

/// Sends one data frame, ping or pong, if the session allows it and the connection is under its
/// backpressure limit.
pub(crate) fn send_frame(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    opcode: OpCode,
    payload: &[u8],
    shared: Option<Bytes>,
) -> SendStatus {
    let len = shared.as_ref().map_or(payload.len(), Bytes::len);
    checked(io, id, ctl, opcode, len, |io, ctl| queue_frame(io, id, ctl, opcode, payload, shared))
}

/// Sends a data frame already encoded whole (a compressed one), with `send_frame`'s checks.
fn send_encoded(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    opcode: OpCode,
    frame: Bytes,
) -> SendStatus {
    checked(io, id, ctl, opcode, frame.len(), |io, ctl| wire(io, id, ctl, [Chunk::Shared(frame)]))
}

/// What the session forbids and a queue over its limit refuse; otherwise `queue` queues the
/// frame, and the status says whether the queue went over the limit with it.
fn checked(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    opcode: OpCode,
    len: usize,
    queue: impl FnOnce(&mut Io<'_, EngineMsg>, &mut Control) -> Option<usize>,
) -> SendStatus {
    if let Some(refused) = refuse(io, id, ctl, opcode, len) {
        return refused;
    }
    let queued = queue(io, ctl);
    status_after(ctl, queued)
}

/// `Some(Dropped)` if the session forbids the frame or the queue is over its limit already.
fn refuse(
    io: &Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    opcode: OpCode,
    len: usize,
) -> Option<SendStatus> {
    if ctl.session.check_send(opcode, len).is_err() {
        return Some(SendStatus::Dropped);
    }
    if io.buffered(id) > ctl.max_backpressure() {
        ctl.backpressured = true;
        return Some(SendStatus::Dropped);
    }
    None
}

/// The status of a frame queued (`Some(bytes now buffered)`) or not (`None`: gone).
fn status_after(ctl: &mut Control, queued: Option<usize>) -> SendStatus {
    match queued {
        None => SendStatus::Dropped,
        Some(buffered) if buffered > ctl.max_backpressure() => {
            ctl.backpressured = true;
            SendStatus::Backpressure
        }
        Some(_) => SendStatus::Sent,
    }
}

/// Queues one frame, unchecked. Payloads that fit next to the header (22 bytes in all) travel
/// inline with no allocation; others are copied once, with the header, into one `Bytes` (one
/// chunk, one plain send), or not at all when they already are a shared `Bytes` (then the
/// header goes inline). Returns the bytes queued, or `None` if the connection is gone.
fn queue_frame(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    opcode: OpCode,
    payload: &[u8],
    shared: Option<Bytes>,
) -> Option<usize> {
    let len = shared.as_ref().map_or(payload.len(), Bytes::len);
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = FrameHeader::new(opcode, len as u64).encode(&mut head);
    if let Some(bytes) = shared {
        let chunks = [Chunk::inline(&head[..n]), Some(Chunk::Shared(bytes))];
        return wire(io, id, ctl, chunks.into_iter().flatten());
    }
    let mut joined = [0u8; 22];
    if n + payload.len() <= joined.len() {
        joined[..n].copy_from_slice(&head[..n]);
        joined[n..n + payload.len()].copy_from_slice(payload);
        Chunk::inline(&joined[..n + payload.len()]).and_then(|c| wire(io, id, ctl, [c]))
    } else if ctl.tls().is_some() {
        // Sealing copies the payload into its record: no frame buffer before it.
        seal(io, id, ctl, &[&head[..n], payload])
    } else {
        // A large payload still in the receive buffer it came in (an echo, a relay) is sent from
        // there; anything else is copied with its header into one buffer (a plain send).
        io.send_received(id, &head[..n], payload)
    }
}

/// Queues bytes for the peer: as they are, or sealed into TLS records on a wss:// connection
/// (one buffer for all the chunks). Returns the bytes now queued, or `None` if the connection
/// is gone, or its TLS session cannot encrypt (then it is dropped).
pub(crate) fn wire(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    chunks: impl IntoIterator<Item = Chunk>,
) -> Option<usize> {
    if ctl.tls().is_none() {
        return io.send_all(id, chunks);
    }
    let mut chunks = chunks.into_iter();
    let first = chunks.next()?;
    let Some(second) = chunks.next() else { return seal(io, id, ctl, &[first.as_slice()]) };
    let rest: Vec<Chunk> = chunks.collect();
    if rest.is_empty() {
        return seal(io, id, ctl, &[first.as_slice(), second.as_slice()]);
    }
    let mut parts = vec![first.as_slice(), second.as_slice()];
    parts.extend(rest.iter().map(Chunk::as_slice));
    seal(io, id, ctl, &parts)
}

/// wss://: seals `parts` (one send's bytes, in order) into records, each part copied once,
/// and queues them. `None` if the connection is gone or its TLS session cannot encrypt (then it
/// is dropped).
fn seal(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    parts: &[&[u8]],
) -> Option<usize> {
    let mut out = Vec::new();
    if ctl.tls()?.seal(parts, &mut out).is_err() {
        io.abort(id);
        return None;
    }
    io.send(id, Chunk::Shared(Bytes::from(out)))
}

/// Queues a close frame the session produced (never refused for backpressure: it ends the
/// connection's queue).
pub(crate) fn queue_close(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    payload: &ClosePayload,
) {
    let _ = queue_frame(io, id, ctl, OpCode::Close, payload.as_bytes(), None);
}

/// Sends our close frame (if the handshake lets us) and records what `on_close` will report.
/// Returns whether a close frame was queued.
pub(crate) fn send_close(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    code: CloseCode,
    reason: &str,
) -> bool {
    let Some(payload) = ctl.session.start_close(code, reason) else { return false };
    ctl.note_code(code.0, reason);
    queue_close(io, id, ctl, &payload);
    true
}

/// Starts the closing handshake we initiate: our close frame, then the transport is dropped if
/// the peer has not answered within the close timeout (the connection's timer checks it).
pub(crate) fn close_with_deadline(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    shared: &Shared,
    code: CloseCode,
    reason: &str,
) {
    if send_close(io, id, ctl, code, reason) {
        set_close_deadline(io, id, ctl, shared);
    }
}

/// The peer has the close timeout to answer our close (or our FIN) before the transport is
/// dropped.
pub(crate) fn set_close_deadline(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    shared: &Shared,
) {
    let at = shared.clock.now(io).after(shared.limits.close_timeout);
    ctl.set_close_deadline(at);
    shared.clock.arm(io, id, &mut ctl.timer, at);
}

/// What a data send reads and counts on the worker beside the connection.
pub(crate) struct Out<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) zip: &'a mut Zip,
    pub(crate) counts: &'a RouteCounts,
}

/// A data message to one connection, from a callback or from another thread: refused past the
/// worker's memory budget when the connection holds its fair share already, compressed when it
/// negotiated permessage-deflate and `compress` allows, counted in its route's figures when
/// queued. `shared`: the payload already in a `Bytes` (then `payload` is ignored).
#[allow(clippy::too_many_arguments)]
pub(crate) fn send_message(
    io: &mut Io<'_, EngineMsg>,
    id: ConnId,
    ctl: &mut Control,
    out: Out<'_>,
    opcode: OpCode,
    payload: &[u8],
    shared: Option<Bytes>,
    compress: Compress,
) -> SendStatus {
    let len = shared.as_ref().map_or(payload.len(), Bytes::len);
    if out.shared.refuses_send(io.worker(), io.queued_total(), io.buffered(id)) {
        ctl.backpressured = true;
        return SendStatus::Dropped;
    }
    let bytes = shared.as_deref().unwrap_or(payload);
    let window = if compress == Compress::Auto { ctl.deflate } else { 0 };
    let status = if window == 0 {
        send_frame(io, id, ctl, opcode, payload, shared)
    } else if ctl.keeps_send_context() {
        // Checked before compressing: the connection's deflater takes the message into its
        // context, so once compressed it must go out.
        match refuse(io, id, ctl, opcode, len) {
            Some(refused) => refused,
            None => {
                let deflater = ctl.dedicated().and_then(|d| d.deflater());
                let queued = match deflater.and_then(|d| out.zip.frame_with(d, opcode, bytes)) {
                    Some(frame) => wire(io, id, ctl, [Chunk::Shared(frame)]),
                    None => queue_frame(io, id, ctl, opcode, payload, shared),
                };
                status_after(ctl, queued)
            }
        }
    } else {
        match out.zip.frame(window, opcode, bytes) {
            Some(frame) => send_encoded(io, id, ctl, opcode, frame),
            None => send_frame(io, id, ctl, opcode, payload, shared),
        }
    };
    if status != SendStatus::Dropped {
        out.counts.sent.add(1);
        out.counts.sent_bytes.add(len as u64);
    }
    status
}

/// The untyped parts of a callback's `WebSocket`.
pub(crate) struct Ctx<'a> {
    pub(crate) io: Io<'a, EngineMsg>,
    pub(crate) id: ConnId,
    pub(crate) data: &'a mut dyn Any,
    pub(crate) ctl: &'a mut Control,
    pub(crate) pubsub: &'a mut PubSub,
    pub(crate) shared: &'a Shared,
    /// The route's traffic counters.
    pub(crate) counts: &'a RouteCounts,
    /// The worker's compressor (permessage-deflate).
    pub(crate) zip: &'a mut Zip,
}

/// One connection, as callbacks see it: send, close, and the typed data.
pub struct WebSocket<'a, D> {
    pub(crate) io: Io<'a, EngineMsg>,
    pub(crate) id: ConnId,
    pub(crate) data: &'a mut D,
    pub(crate) ctl: &'a mut Control,
    pub(crate) pubsub: &'a mut PubSub,
    pub(crate) shared: &'a Shared,
    pub(crate) counts: &'a RouteCounts,
    pub(crate) zip: &'a mut Zip,
}

impl<D> std::fmt::Debug for WebSocket<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket").field("id", &self.id).finish()
    }
}

impl<D> WebSocket<'_, D> {
    /// This connection's id: valid for its whole life, never reused after it.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The connection's data.
    pub fn data(&self) -> &D {
        self.data
    }

    /// The connection's data, mutably.
    pub fn data_mut(&mut self) -> &mut D {
        self.data
    }

    /// Sends a text message (the payload is copied once unless it fits inline with its header).
    pub fn send_text(&mut self, text: &str) -> SendStatus {
        self.send_data(OpCode::Text, text.as_bytes(), None, Compress::Auto)
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, payload: &[u8]) -> SendStatus {
        self.send_data(OpCode::Binary, payload, None, Compress::Auto)
    }

    /// A data message: refused past the worker's memory budget when this connection holds its
    /// fair share already, counted in the route's figures when queued.
    fn send_data(
        &mut self,
        opcode: OpCode,
        payload: &[u8],
        shared: Option<Bytes>,
        compress: Compress,
    ) -> SendStatus {
        let out = Out { shared: self.shared, zip: &mut *self.zip, counts: self.counts };
        send_message(&mut self.io, self.id, self.ctl, out, opcode, payload, shared, compress)
    }

    /// Sends a message of the same kind as `message`, compressed or not as `compress` says
    /// (the other sends use [`Compress::Auto`]).
    pub fn send_with(&mut self, message: crate::Message<'_>, compress: Compress) -> SendStatus {
        match message {
            crate::Message::Text(t) => self.send_data(OpCode::Text, t.as_bytes(), None, compress),
            crate::Message::Binary(b) => self.send_data(OpCode::Binary, b, None, compress),
        }
    }

    /// Sends a message of the same kind as `message` (an echo).
    pub fn send(&mut self, message: crate::Message<'_>) -> SendStatus {
        match message {
            crate::Message::Text(t) => self.send_text(t),
            crate::Message::Binary(b) => self.send_binary(b),
        }
    }

    /// Sends a payload that is already a shared `Bytes`: no copy, however many connections it
    /// goes to.
    pub fn send_shared(&mut self, kind: Kind, payload: Bytes) -> SendStatus {
        self.send_data(kind.opcode(), &[], Some(payload), Compress::Auto)
    }

    /// Sends a ping (at most 125 bytes; longer payloads are cut).
    pub fn ping(&mut self, payload: &[u8]) -> SendStatus {
        let payload = &payload[..payload.len().min(125)];
        send_frame(&mut self.io, self.id, self.ctl, OpCode::Ping, payload, None)
    }

    /// Bytes queued for this connection and not yet sent.
    pub fn buffered_amount(&self) -> usize {
        self.io.buffered(self.id)
    }

    /// Starts the closing handshake with `code` and `reason` (cut to 123 bytes, at a character
    /// boundary); the transport closes when the peer answers, or after the close timeout.
    ///
    /// # Errors
    /// A code that may not be sent (1005, 1006, 1015, reserved or unassigned ones): nothing is
    /// sent and the connection stays open.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), InvalidCloseCode> {
        let code = sendable(code)?;
        close_with_deadline(&mut self.io, self.id, self.ctl, self.shared, code, reason);
        Ok(())
    }

    /// Closes the transport at once, without a close frame (the peer sees a dropped connection).
    pub fn terminate(&mut self) {
        self.io.abort(self.id);
    }

    /// The worker (core) this connection lives on.
    pub fn worker(&self) -> usize {
        self.io.worker()
    }

    /// Subscribes to `topic`. Returns false if it already was subscribed.
    pub fn subscribe(&mut self, topic: &str) -> bool {
        let Some(name) = self.pubsub.subscribe(topic, self.id) else { return false };
        self.shared.counts.add(&name, 1);
        self.ctl.subscriptions_mut().push(name);
        true
    }

    /// Unsubscribes from `topic`. Returns false if it was not subscribed.
    pub fn unsubscribe(&mut self, topic: &str) -> bool {
        if !self.pubsub.unsubscribe(topic, self.id) {
            return false;
        }
        if let Some(i) = self.ctl.subscriptions().iter().position(|t| &**t == topic) {
            let name = self.ctl.subscriptions_mut().swap_remove(i);
            self.shared.counts.add(&name, -1);
        }
        true
    }

    /// Whether this connection is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.ctl.subscriptions().iter().any(|t| &**t == topic)
    }

    /// The topics this connection is subscribed to.
    pub fn subscriptions(&self) -> impl Iterator<Item = &str> {
        self.ctl.subscriptions().iter().map(|t| &**t)
    }

    /// Subscribers of `topic` over all workers.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shared.counts.get(topic)
    }

    /// Publishes to every subscriber of `topic` on every worker, except this connection. The frame
    /// is encoded once and shared; it leaves when this callback returns. Returns how many
    /// subscribers it is addressed to (over all workers, as counted now; delivery is at most
    /// once: a slow subscriber may drop it).
    pub fn publish(&mut self, topic: &str, kind: Kind, payload: &[u8]) -> usize {
        self.publish_inner(topic, kind.opcode(), payload, Some(self.id), Compress::Auto)
    }

    /// Like [`WebSocket::publish`], compressed for compressing subscribers or not as `compress`
    /// says.
    pub fn publish_with(
        &mut self,
        topic: &str,
        kind: Kind,
        payload: &[u8],
        compress: Compress,
    ) -> usize {
        self.publish_inner(topic, kind.opcode(), payload, Some(self.id), compress)
    }

    /// Like [`WebSocket::publish`], this connection included if it is subscribed.
    pub fn publish_with_self(&mut self, topic: &str, kind: Kind, payload: &[u8]) -> usize {
        self.publish_inner(topic, kind.opcode(), payload, None, Compress::Auto)
    }

    fn publish_inner(
        &mut self,
        topic: &str,
        opcode: ringws_proto::OpCode,
        payload: &[u8],
        skip: Option<ConnId>,
        compress: Compress,
    ) -> usize {
        // One scan: the topic's shared name if this connection is subscribed (then, when it is
        // skipped, it is not counted among the subscribers reached).
        let mine = self.ctl.subscriptions().iter().find(|t| &***t == topic).cloned();
        let skipped = usize::from(mine.is_some() && skip.is_some());
        let name = mine.unwrap_or_else(|| topic.into());
        let publish =
            queue_publish(self.pubsub, self.shared, name, opcode, payload, skip, compress);
        publish.saturating_sub(skipped)
    }

    /// Publishes dropped for this connection by backpressure so far.
    pub fn dropped(&self) -> u64 {
        self.ctl.dropped()
    }
}

/// A connection that has closed, as `on_close` sees it: its id, close code and reason, its data
/// (now owned by the handler), and the worker's pub/sub, so a game can tell the room that a
/// player left. Its subscriptions are already gone.
pub struct Closed<'a, D> {
    pub(crate) id: ConnId,
    pub(crate) data: D,
    pub(crate) code: u16,
    pub(crate) reason: &'a str,
    pub(crate) pubsub: &'a mut PubSub,
    pub(crate) shared: &'a Shared,
}

impl<D> std::fmt::Debug for Closed<'_, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closed").field("id", &self.id).field("code", &self.code).finish()
    }
}

impl<D> Closed<'_, D> {
    /// The connection's id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The peer's close code (1005 if its close frame had none), ours if we closed or failed the
    /// connection, or 1006 if the peer vanished without a close.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The close reason that came with the code.
    pub fn reason(&self) -> &str {
        self.reason
    }

    /// The connection's data.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// The connection's data, taken.
    pub fn into_data(self) -> D {
        self.data
    }

    /// Publishes to every subscriber of `topic` on every worker ("player left"); returns how many
    /// subscribers it is addressed to, as [`WebSocket::publish`].
    pub fn publish(&mut self, topic: &str, kind: Kind, payload: &[u8]) -> usize {
        let (topic, opcode) = (topic.into(), kind.opcode());
        queue_publish(self.pubsub, self.shared, topic, opcode, payload, None, Compress::Auto)
    }

    /// Subscribers of `topic` over all workers.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shared.counts.get(topic)
    }
}
