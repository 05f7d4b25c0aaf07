//! `Io`: what a handler may do with its worker.

use super::prelude::*;
use crate::loan::Loan;

/// The handler's access to its worker: send, close, timers, messages.
pub struct Io<'a, M> {
    pub(super) core: &'a mut Core<M>,
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

    /// During `on_open` of an accepted connection: the listener it came through (0: `addr`,
    /// then `also_listen` in order), so a handler can treat addresses differently (TLS on one).
    pub fn listener(&self) -> usize {
        self.core.accepted_on
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

    /// Queues `head` (at most 22 bytes: a frame header) and then `payload`. When `payload` lies
    /// in the receive buffer being handed to this `on_data` call (an echo, a relay to another
    /// connection of this worker) and is large, it is sent from there: the buffer is held until
    /// that send completes instead of going back to the kernel, and the bytes are copied once,
    /// by the kernel. Anything else is copied into one buffer, as a plain send would. At most
    /// half a ring's buffers are held this way; past that, payloads are copied.
    pub fn send_received(&mut self, conn: ConnId, head: &[u8], payload: &[u8]) -> Option<usize> {
        let head_chunk = Chunk::inline(head);
        if let (Some(head_chunk), Some(w)) = (head_chunk, self.core.window.as_mut())
            && w.covers(payload)
        {
            let at = payload.as_ptr().expose_provenance();
            // SAFETY: `covers` checked that the bytes lie in the buffer being dispatched, which
            // the driver holds; `w.lent` is counted into the buffer ring (`BufRing::lend`) right
            // after this `on_data` returns, before the worker next repays loans, and the ring
            // is dropped after the core whose queues hold the chunks.
            let loan = unsafe { Loan::new(w.ring_uid, w.ring, w.bid, at, payload.len()) };
            w.lent += 1;
            return self.send_all(conn, [head_chunk, Chunk::Lent(loan)]);
        }
        let mut frame = Vec::with_capacity(head.len() + payload.len());
        frame.extend_from_slice(head);
        frame.extend_from_slice(payload);
        self.core.send(conn, Chunk::Shared(Bytes::from(frame)))
    }

    /// Queues a shared payload.
    pub fn send_bytes(&mut self, conn: ConnId, bytes: Bytes) -> Option<usize> {
        self.core.send(conn, Chunk::Shared(bytes))
    }

    /// How many connection slots ring `ring` of this worker has (its descriptor table): the
    /// most slot indexes a per-connection table for that ring will see.
    pub fn ring_slots(&self, ring: u8) -> usize {
        self.core.rings.get(usize::from(ring)).map_or(0, |ctx| ctx.table as usize)
    }

    /// Bytes queued or in flight for `conn` (0 if it is gone).
    pub fn buffered(&self, conn: ConnId) -> usize {
        self.core.conn(conn).map_or(0, Conn::buffered)
    }

    /// Bytes queued or in flight over all of this worker's connections.
    pub fn queued_total(&self) -> usize {
        self.core.queued
    }

    /// Whether `conn` is open and not closing.
    pub fn is_open(&self, conn: ConnId) -> bool {
        self.core.conn(conn).is_some_and(|c| matches!(c.life, Life::Open(_)))
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

    /// A handle any thread can post to this server's workers with (one per worker, made on
    /// first use and then cloned: its waker ring is shared).
    pub fn poster(&mut self) -> Poster<M> {
        let boxes = &self.core.boxes;
        Poster(self.core.remote.get_or_insert_with(|| crate::Remote::new(boxes.clone())).clone())
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

/// Posts messages to a server's workers from any thread (see [`Io::poster`]).
pub struct Poster<M: Send + 'static>(crate::Remote<Envelope<M>>);

impl<M: Send + 'static> Clone for Poster<M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<M: Send + 'static> std::fmt::Debug for Poster<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Poster").field(&self.0).finish()
    }
}

impl<M: Send + 'static> Poster<M> {
    /// Sends `msg` to worker `worker`'s `on_message`.
    ///
    /// # Errors
    /// No such worker, the worker has stopped, or it could not be woken.
    pub fn post(&self, worker: usize, msg: M) -> io::Result<()> {
        self.0.post(worker, Envelope::User(msg))
    }
}
