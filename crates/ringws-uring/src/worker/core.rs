//! The part of a worker a handler reaches through `Io`: the rings and their connection slots,
//! and every operation on them (send, close, teardown, receive arming, accept), submitted at the
//! end of each loop turn.

use super::prelude::*;

/// The most chunks one sendmsg carries; the rest wait for the next.
const MAX_IOVECS: usize = 64;

/// Outboxes kept for reuse: as many as connections with data in flight in a busy turn. Beyond,
/// a finished outbox is freed (a fan-out to 100,000 subscribers needs one each for a moment).
const OUTBOX_POOL: usize = 16_384;

/// Extra enters per turn to run the home ring's deferred completion work while it is flagged.
pub(super) const MAX_TASKRUN_ENTERS: usize = 16;

/// The part of the worker a handler may touch, through [`Io`].
pub(crate) struct Core<M> {
    pub(super) id: u8,
    pub(super) rings: Vec<RingCtx>,
    /// One per address (`Config::addr`, then `Config::also_listen`); none for a driver that only
    /// dials (the load tester): it must not take a share of some server's connections on a
    /// port it never meant to serve.
    pub(super) listeners: Vec<OwnedFd>,
    /// Each listener's multishot accept (the listener's number is the accept's `UserData`
    /// index).
    pub(super) accept: Vec<AcceptState>,
    pub(super) accepting: bool,
    /// The listener the connection being opened came through (read by `Io::listener` during
    /// `on_open`).
    pub(super) accepted_on: usize,
    pub(super) timers: TimerWheel,
    pub(super) fired: Vec<u64>,
    /// Completions reaped while making room to submit (EBUSY), dispatched next turn.
    pub(super) stashed: Vec<(u8, u64, i32, u32)>,
    /// A submission the kernel refused for good: the worker stops with it at the end of the
    /// turn rather than leave an operation counted that will never complete.
    pub(super) fatal: Option<io::Error>,
    pub(super) boxes: Mailboxes<M>,
    pub(super) self_posted: bool,
    pub(super) dirty: Vec<(u8, u32)>,
    /// Receives to re-arm (after ENOBUFS or a multishot that ended), oldest first.
    pub(super) rearm: VecDeque<(u8, u32)>,
    /// The most re-arms per turn: a receive re-armed while the buffer ring is empty fails again
    /// at once, so re-arming more connections than there are buffers only burns CPU (measured:
    /// 100,000 subscribers over 512 buffers spent their time re-arming).
    pub(super) rearm_per_turn: usize,
    /// Outboxes of connections that had nothing more to send, for reuse. Boxed: a connection's
    /// outbox moves in and out as one pointer, and a submitted msghdr never moves.
    #[allow(clippy::vec_box)]
    pub(super) outboxes: Vec<Box<Outbox>>,
    pub(super) counters: Arc<Counters>,
    pub(super) shutdown_deadline: Option<Instant>,
    pub(super) now: Instant,
    pub(super) buf_size: u32,
    /// Receive bundles (several buffers per completion) instead of one buffer per completion.
    pub(super) recv_bundle: bool,
    /// Outgoing connections in progress; the index is their `UserData` index.
    pub(super) dials: Vec<Option<Dial>>,
    pub(super) free_dials: Vec<u32>,
    /// Loop turns and io_uring enters so far (also published in `counters`, once a turn).
    pub(super) turns: u64,
    pub(super) enters: u64,
    /// Bytes queued or in flight over all connections (every outbox's `buffered`).
    pub(super) queued: usize,
    /// When the loop last came back from waiting, and its working time so far.
    pub(super) woke: Instant,
    pub(super) busy_ns: u64,
    /// Peer-address queries in flight, by their `user_data`: the kernel writes into each.
    pub(super) peers: std::collections::HashMap<u64, super::peer::PeerBuf>,
    /// The sockaddr length SO_PEERNAME is asked with (the listener's family), or `None` when
    /// peer addresses are not read.
    pub(super) peer_len: Option<u32>,
    /// The receive buffer being handed to `on_data`, which `Io::send_received` may lend.
    pub(super) window: Option<crate::loan::Window>,
    /// The handle `Io::remote` hands out, made on first use.
    pub(super) remote: Option<crate::Remote<Envelope<M>>>,
    /// Limits hit this turn, for the handler (`on_limit`).
    pub(super) limits: Vec<Limit>,
    /// Accepting is paused because every ring is full (reported once per pause).
    pub(super) paused: bool,
    /// Finished dials to report (tag, result), after the completion loop.
    pub(super) dialed: Vec<(u64, io::Result<ConnId>)>,
}

/// The slot `ud` names in `rings`, if it is still that generation's: borrows only the rings,
/// so the caller may update the core's other fields (the queued total) meanwhile.
pub(super) fn slot_in(rings: &mut [RingCtx], r: u8, ud: UserData) -> Option<&mut Conn> {
    let conn = rings.get_mut(usize::from(r))?.conns.get_mut(ud.index() as usize)?;
    (conn.generation == ud.generation()).then_some(conn)
}

impl<M: Send + 'static> Core<M> {
    /// A new connection (accepted or dialed) in the slot of direct descriptor `index`: the next
    /// generation, fresh state, a multishot receive armed.
    /// A new connection (accepted or dialed) in the slot of direct descriptor `index`: the next
    /// generation, fresh state, a multishot receive armed.
    pub(super) fn open_slot(&mut self, r: u8, index: u32) -> ConnId {
        let ctx = &mut self.rings[usize::from(r)];
        if ctx.conns.len() <= index as usize {
            ctx.conns.resize_with(index as usize + 1, Conn::empty);
        }
        let conn = &mut ctx.conns[index as usize];
        let generation = next_generation(conn.generation);
        *conn = Conn { generation, life: Life::Open(Write::Open), ..Conn::empty() };
        self.counters.accepted.fetch_add(1, Ordering::Release);
        // Before the receive: its completion comes first, so the peer is known before the data.
        self.ask_peer(r, index, generation);
        self.arm_recv(r, index);
        ConnId::new(self.id, r, generation, index)
    }

    /// The slot a completion names, if its connection is still the one in the slot.
    pub(super) fn slot_mut(&mut self, r: u8, ud: UserData) -> Option<&mut Conn> {
        slot_in(&mut self.rings, r, ud)
    }

    pub(super) fn conn(&self, id: ConnId) -> Option<&Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get(usize::from(id.ring()))?.conns.get(id.index() as usize)?;
        (conn.life != Life::Free && conn.generation == id.generation()).then_some(conn)
    }

    fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get_mut(usize::from(id.ring()))?.conns.get_mut(id.index() as usize)?;
        (conn.life != Life::Free && conn.generation == id.generation()).then_some(conn)
    }

    pub(super) fn open_ids(&self) -> Vec<ConnId> {
        let mut ids = Vec::new();
        for (r, ctx) in self.rings.iter().enumerate() {
            for (i, c) in ctx.conns.iter().enumerate() {
                if matches!(c.life, Life::Open(_)) {
                    ids.push(ConnId::new(self.id, r as u8, c.generation, i as u32));
                }
            }
        }
        ids
    }

    pub(super) fn send(&mut self, id: ConnId, chunk: Chunk) -> Option<usize> {
        let (r, index) = (id.ring(), id.index());
        if !self.conn(id)?.life.can_send() {
            return None;
        }
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        let out = conn.out.get_or_insert_with(|| self.outboxes.pop().unwrap_or_else(Outbox::new));
        out.set_buffered(out.buffered() + chunk.len(), &mut self.queued);
        out.queue.push_back(chunk);
        let buffered = out.buffered();
        if !conn.in_dirty {
            conn.in_dirty = true;
            self.dirty.push((r, index));
        }
        Some(buffered)
    }

    /// Takes back an outbox with nothing left in it, for the next connection that sends.
    pub(super) fn recycle_outbox(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        if !conn.out.as_ref().is_some_and(|o| o.is_empty()) {
            return;
        }
        let Some(mut out) = conn.out.take() else { return };
        out.set_buffered(0, &mut self.queued);
        if self.outboxes.len() < OUTBOX_POOL {
            self.outboxes.push(out);
        }
    }

    pub(super) fn close(&mut self, id: ConnId, now: bool) {
        let Some(conn) = self.conn_mut(id) else { return };
        let (life, step) = conn.life.close(now, conn.flushed());
        conn.life = life;
        self.take_step(id.ring(), id.index(), step);
    }

    pub(super) fn shutdown_write(&mut self, id: ConnId) {
        let Some(conn) = self.conn_mut(id) else { return };
        let (life, step) = conn.life.shut_write(conn.flushed());
        conn.life = life;
        self.take_step(id.ring(), id.index(), step);
    }

    /// Does what a transition asked for; `Drained` is for the caller, who holds the handler.
    pub(super) fn take_step(&mut self, r: u8, index: u32, step: Step) {
        match step {
            Step::Teardown => self.teardown(r, index),
            Step::Shutdown => self.submit_shutdown(r, index),
            Step::Drained | Step::Nothing => {}
        }
    }

    fn submit_shutdown(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        conn.ops += 1;
        let ud = UserData::new(OpKind::Shutdown, r, conn.generation, index);
        let entry =
            opcode::Shutdown::new(Fixed(index), libc::SHUT_WR).build().user_data(ud.to_u64());
        // SAFETY: a shutdown names no memory.
        unsafe { self.push(r, &entry) };
    }

    /// Closes for a reason other than our own request, keeping the first reason.
    pub(super) fn fail(&mut self, r: u8, index: u32, ended: Ended) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        if conn.ended.is_none() && !matches!(conn.life, Life::Closing | Life::Free) {
            conn.ended = Some(ended);
        }
        let (life, step) = conn.life.fail();
        conn.life = life;
        self.take_step(r, index, step);
    }

    /// Drops queued data and cancels every operation on the descriptor; the close follows when
    /// the last of them has completed (`maybe_finish`). Runs once per connection: only the
    /// transitions into `Cancelling` ask for it.
    fn teardown(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        let sending = match conn.out.as_deref_mut() {
            Some(out) => {
                out.queue.clear();
                out.set_buffered(out.chunks.iter().map(Chunk::len).sum(), &mut self.queued);
                out.sending
            }
            None => false,
        };
        // Cancel by user_data, one per operation: the kernel finds those in a hash table, while a
        // cancel by descriptor scans every request in flight (quadratic when 100,000 connections
        // close together).
        let generation = conn.generation;
        let recv = conn.recv_armed.then_some(OpKind::Recv);
        let send = sending.then_some(OpKind::Send);
        for target in [recv, send].into_iter().flatten() {
            self.rings[usize::from(r)].conns[index as usize].ops += 1;
            let target = UserData::new(target, r, generation, index);
            let ud = UserData::new(OpKind::Cancel, r, generation, index);
            let entry = opcode::AsyncCancel::new(target.to_u64()).build().user_data(ud.to_u64());
            // SAFETY: a cancel names no memory.
            unsafe { self.push(r, &entry) };
        }
        self.recycle_outbox(r, index);
        self.maybe_finish(r, index);
    }

    /// Submits the descriptor's close once the slot is ready for it.
    pub(super) fn maybe_finish(&mut self, r: u8, index: u32) {
        let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) else { return };
        if conn.ready_to_close() {
            conn.life = Life::Closing;
            conn.ops += 1;
            let ud = UserData::new(OpKind::Close, r, conn.generation, index);
            let entry = opcode::Close::new(Fixed(index)).build().user_data(ud.to_u64());
            // SAFETY: a close names no memory.
            unsafe { self.push(r, &entry) };
        }
    }

    pub(super) fn arm_recv(&mut self, r: u8, index: u32) {
        let recv_bundle = self.recv_bundle;
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        if conn.recv_armed || !conn.life.serving() {
            return;
        }
        conn.recv_armed = true;
        conn.ops += 1;
        let ud = UserData::new(OpKind::Recv, r, conn.generation, index);
        let entry = if recv_bundle {
            opcode::RecvMultiBundle::new(Fixed(index), 0).build()
        } else {
            opcode::RecvMulti::new(Fixed(index), 0).build()
        };
        let entry = entry.user_data(ud.to_u64());
        // SAFETY: the receive names no memory of ours but the buffer ring, which the worker owns
        // for as long as the ring exists (`BufRing`'s drop contract).
        unsafe { self.push(r, &entry) };
    }

    /// Pushes an SQE on ring `r`, submitting first if the queue is full.
    ///
    /// # Safety
    /// Every piece of memory `entry` names (a buffer, an iovec array, a msghdr, a socket
    /// address) must stay valid, and unmoved, until the operation's final completion has been
    /// reaped; if the worker is dropped before that, it must not be freed (see `Worker`'s drop).
    pub(super) unsafe fn push(&mut self, r: u8, entry: &squeue::Entry) {
        let ring = &mut self.rings[usize::from(r)].ring;
        loop {
            // SAFETY: what `entry` names outlives the operation (this function's contract).
            let pushed = unsafe { ring.submission().push(entry) };
            if pushed.is_ok() {
                return;
            }
            // A full queue is submitted to make room.
            self.enters += 1;
            self.counters.sq_full.fetch_add(1, Ordering::Relaxed);
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

    pub(super) fn submit_send(&mut self, r: u8, index: u32) {
        let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) else { return };
        if !conn.life.serving() {
            return;
        }
        let Some(out) = conn.out.as_deref_mut() else { return };
        if out.sending || out.queue.is_empty() {
            return;
        }
        out.chunks.clear();
        while out.chunks.len() < MAX_IOVECS {
            let Some(chunk) = out.queue.pop_front() else { break };
            out.chunks.push(chunk);
        }
        let ud = UserData::new(OpKind::Send, r, conn.generation, index);
        let entry = if let [single] = out.chunks.as_slice() {
            // One piece: a plain send, which spares the kernel copying in a msghdr and an
            // iovec array (a load generator's frames, a whole small frame).
            let s = single.as_slice();
            let send = opcode::Send::new(Fixed(index), s.as_ptr(), s.len() as u32);
            send.flags(libc::MSG_NOSIGNAL).build()
        } else {
            out.iovecs.clear();
            for chunk in &out.chunks {
                let s = chunk.as_slice();
                out.iovecs.push(libc::iovec {
                    iov_base: s.as_ptr() as *mut libc::c_void,
                    iov_len: s.len(),
                });
            }
            out.msg.msg_iov = out.iovecs.as_mut_ptr();
            out.msg.msg_iovlen = out.iovecs.len();
            let send = opcode::SendMsg::new(Fixed(index), &out.msg as *const libc::msghdr);
            send.flags(libc::MSG_NOSIGNAL as u32).build()
        };
        let entry = entry.user_data(ud.to_u64());
        out.sending = true;
        conn.ops += 1;
        // SAFETY: the send names the outbox's chunks (their bytes live in the chunks, inline or
        // shared, which stay in `out.chunks` untouched), iovecs and msghdr; the outbox is boxed
        // and stays with the connection, unmodified, until the send's completion (`on_send`
        // clears `sending`); `recycle_outbox` refuses an outbox with a send in flight.
        unsafe { self.push(r, &entry) };
    }

    pub(super) fn post(&mut self, worker: usize, msg: Envelope<M>) {
        let Some(mailbox) = self.boxes.get(worker).cloned() else { return };
        let wake = mailbox.push(msg);
        if worker == usize::from(self.id) {
            self.self_posted = true;
        } else if let Some(fd) = wake {
            // SAFETY: a msg_ring names no memory of ours (the target ring's descriptor, kept open
            // by the mailbox for the life of the process's workers, and a user_data).
            unsafe { self.push(0, &wake_entry(fd)) };
        }
    }

    /// Cancels every armed accept (each ring's table is filling, or the worker stops).
    pub(super) fn cancel_accept(&mut self) {
        for l in 0..self.accept.len() {
            if let AcceptState::Armed(r) = self.accept[l] {
                self.accept[l] = AcceptState::Cancelling(r);
                let target = UserData::new(OpKind::Accept, r, 0, l as u32).to_u64();
                let entry = opcode::AsyncCancel::new(target)
                    .build()
                    .user_data(UserData::new(OpKind::AcceptCancel, r, 0, l as u32).to_u64());
                // SAFETY: a cancel names no memory.
                unsafe { self.push(r, &entry) };
            }
        }
    }

    /// Arms a multishot accept on every listener that has none, into a ring with room.
    pub(super) fn arm_accept(&mut self) {
        if !self.accepting {
            return;
        }
        for l in 0..self.listeners.len() {
            if self.accept[l] != AcceptState::Idle {
                continue;
            }
            let Some(r) = self.rings.iter().position(|c| !ctx_full(c)) else {
                return;
            };
            let r = r as u8;
            self.accept[l] = AcceptState::Armed(r);
            let entry = opcode::AcceptMulti::new(Fd(self.listeners[l].as_raw_fd()))
                .allocate_file_index(true)
                .build()
                .user_data(UserData::new(OpKind::Accept, r, 0, l as u32).to_u64());
            // SAFETY: the accept names no memory (no peer address is asked for) and a listener
            // the worker owns until it is dropped.
            unsafe { self.push(r, &entry) };
        }
    }

    /// Whether no accept is armed or being cancelled.
    pub(super) fn accepts_idle(&self) -> bool {
        self.accept.iter().all(|a| *a == AcceptState::Idle)
    }

    pub(super) fn begin_shutdown(&mut self, grace: Duration) {
        self.accepting = false;
        self.cancel_accept();
        self.shutdown_deadline = Some(self.now + grace);
        for id in self.open_ids() {
            self.close(id, grace.is_zero());
        }
    }

    /// Cancels outgoing connections still connecting (a connect to a busy server can wait
    /// minutes in SYN retries); each then closes its socket and reports an error.
    pub(super) fn cancel_dials(&mut self) {
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
            // SAFETY: a cancel names no memory.
            unsafe { self.push(r, &entry) };
        }
    }

    pub(super) fn abort_all(&mut self) {
        self.cancel_dials();
        for r in 0..self.rings.len() {
            for i in 0..self.rings[r].conns.len() {
                // Our own request: no `Ended` reason, so the handler hears `CloseCause::Local`.
                let conn = &mut self.rings[r].conns[i];
                let (life, step) = conn.life.fail();
                conn.life = life;
                self.take_step(r as u8, i as u32, step);
            }
        }
    }

    pub(super) fn finished(&self) -> bool {
        self.shutdown_deadline.is_some()
            && self.accepts_idle()
            && self.dials.len() == self.free_dials.len()
            && self.rings.iter().all(|c| c.slots.live() == 0 && c.conns.iter().all(|c| c.ops == 0))
    }
}

/// A worker that stops with operations in flight (an error, a panicking handler) must neither
/// leave its connections open nor free what the kernel may still read. The ring's file outlives
/// this value while a mailbox holds a duplicate of its descriptor (and the thread's exit cancels
/// only some requests), so: every request is cancelled synchronously, then the descriptor table
/// is dropped, which closes the sockets. Memory a send or dial may still name is leaked if the
/// cancel did not finish; a worker that finished cleanly has nothing in flight and skips all of
/// this. (Receive buffers are `BufRing`'s own concern.)
impl<M> Drop for Core<M> {
    fn drop(&mut self) {
        if let Some(mailbox) = self.boxes.get(usize::from(self.id)) {
            mailbox.close();
        }
        let busy = |c: &Conn| c.ops > 0 || c.life != Life::Free;
        if self.rings.iter().all(|ctx| !ctx.conns.iter().any(busy)) && self.dials.is_empty() {
            return;
        }
        let mut cancelled = true;
        for ctx in &mut self.rings {
            let timeout = Timespec::new().sec(1);
            let cancel =
                ctx.ring.submitter().register_sync_cancel(Some(timeout), CancelBuilder::any());
            // ENOENT: nothing was left to cancel.
            let gone = match &cancel {
                Ok(()) => true,
                Err(e) => e.raw_os_error() == Some(libc::ENOENT),
            };
            cancelled &= gone;
            // The cancelled requests end (and let go of their sockets) in deferred work, which
            // runs only when the ring is entered.
            for _ in 0..MAX_TASKRUN_ENTERS {
                if !ctx.ring.submission().taskrun() || ctx.ring.submit().is_err() {
                    break;
                }
            }
            let _ = ctx.ring.submitter().unregister_files();
        }
        if cancelled {
            return;
        }
        for ctx in &mut self.rings {
            for conn in &mut ctx.conns {
                if let Some(out) = conn.out.take_if(|o| o.sending) {
                    std::mem::forget(out);
                }
            }
        }
        for dial in self.dials.iter_mut().filter_map(Option::take) {
            std::mem::forget(dial);
        }
        std::mem::forget(std::mem::take(&mut self.peers));
    }
}
