//! The part of a worker a handler reaches through `Io`: the rings and their connection slots,
//! and every operation on them (send, close, teardown, receive arming, accept), submitted at the
//! end of each loop turn.

use super::prelude::*;

/// The most chunks one sendmsg carries; the rest wait for the next.
const MAX_IOVECS: usize = 64;

/// Extra enters per turn to run the home ring's deferred completion work while it is flagged.
const MAX_TASKRUN_ENTERS: usize = 16;

/// The part of the worker a handler may touch, through [`Io`].
pub(crate) struct Core<M> {
    pub(super) id: u8,
    pub(super) rings: Vec<RingCtx>,
    /// `None` for a driver that only dials (the load tester): it must not take a share of some
    /// server's connections on a port it never meant to serve.
    pub(super) listener: Option<OwnedFd>,
    pub(super) accept: AcceptState,
    pub(super) accepting: bool,
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
    /// Boxed so that a submitted msghdr never moves, whatever happens to the pool's vector.
    #[allow(clippy::vec_box)]
    pub(super) pool: Vec<Box<SendOp>>,
    pub(super) counters: Arc<Counters>,
    pub(super) shutdown_deadline: Option<Instant>,
    pub(super) now: Instant,
    pub(super) buf_size: u32,
    /// Receive bundles (several buffers per completion) instead of one buffer per completion.
    pub(super) recv_bundle: bool,
    /// Outgoing connections in progress; the index is their `UserData` index.
    pub(super) dials: Vec<Option<Dial>>,
    pub(super) free_dials: Vec<u32>,
    /// Finished dials to report (tag, result), after the completion loop.
    pub(super) dialed: Vec<(u64, io::Result<ConnId>)>,
}

impl<M: Send + 'static> Core<M> {
    /// A new connection (accepted or dialed) in the slot of direct descriptor `index`: the next
    /// generation, fresh state, a multishot receive armed.
    pub(super) fn open_slot(&mut self, r: u8, index: u32) -> ConnId {
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

    pub(super) fn slot_mut(&mut self, r: u8, ud: UserData) -> Option<&mut Conn> {
        let conn = self.rings.get_mut(usize::from(r))?.conns.get_mut(ud.index() as usize)?;
        (conn.generation == ud.generation()).then_some(conn)
    }

    pub(super) fn conn(&self, id: ConnId) -> Option<&Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get(usize::from(id.ring()))?.conns.get(id.index() as usize)?;
        (conn.open && conn.generation == id.generation()).then_some(conn)
    }

    pub(super) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        if id.worker() != self.id {
            return None;
        }
        let conn = self.rings.get_mut(usize::from(id.ring()))?.conns.get_mut(id.index() as usize)?;
        (conn.open && conn.generation == id.generation()).then_some(conn)
    }

    pub(super) fn open_ids(&self) -> Vec<ConnId> {
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

    pub(super) fn send(&mut self, id: ConnId, chunk: Chunk) -> Option<usize> {
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

    pub(super) fn close(&mut self, id: ConnId, now: bool) {
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

    pub(super) fn shutdown_write(&mut self, id: ConnId) {
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.closing != Closing::Open || conn.shut_write != ShutWrite::No {
            return;
        }
        conn.shut_write = ShutWrite::AfterFlush;
        if conn.inflight.is_none() && conn.queue.is_empty() {
            self.submit_shutdown(id.ring(), id.index());
        }
    }

    pub(super) fn submit_shutdown(&mut self, r: u8, index: u32) {
        let conn = &mut self.rings[usize::from(r)].conns[index as usize];
        conn.shut_write = ShutWrite::Done;
        conn.ops += 1;
        let ud = UserData::new(OpKind::Shutdown, r, conn.generation, index);
        let entry =
            opcode::Shutdown::new(Fixed(index), libc::SHUT_WR).build().user_data(ud.to_u64());
        self.push(r, &entry);
    }

    /// Closes for a reason other than our own request, keeping the first cause.
    pub(super) fn close_with(&mut self, r: u8, index: u32, cause: CloseCause) {
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
    pub(super) fn teardown(&mut self, r: u8, index: u32) {
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

    pub(super) fn maybe_finish(&mut self, r: u8, index: u32) {
        let Some(conn) = self.rings[usize::from(r)].conns.get_mut(index as usize) else { return };
        if conn.closing == Closing::Teardown && conn.ops == 0 {
            conn.closing = Closing::CloseSubmitted;
            conn.ops += 1;
            let ud = UserData::new(OpKind::Close, r, conn.generation, index);
            let entry = opcode::Close::new(Fixed(index)).build().user_data(ud.to_u64());
            self.push(r, &entry);
        }
    }

    pub(super) fn arm_recv(&mut self, r: u8, index: u32) {
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
    pub(super) fn push(&mut self, r: u8, entry: &squeue::Entry) {
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

    pub(super) fn submit_send(&mut self, r: u8, index: u32) {
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

    pub(super) fn post(&mut self, worker: usize, msg: Envelope<M>) {
        let Some(mailbox) = self.boxes.get(worker).cloned() else { return };
        let wake = mailbox.push(msg);
        if worker == usize::from(self.id) {
            self.self_posted = true;
        } else if let Some(fd) = wake {
            self.push(0, &wake_entry(fd));
        }
    }

    pub(super) fn cancel_accept(&mut self) {
        if let AcceptState::Armed(r) = self.accept {
            self.accept = AcceptState::Cancelling(r);
            let target = UserData::new(OpKind::Accept, r, 0, 0).to_u64();
            let entry = opcode::AsyncCancel::new(target)
                .build()
                .user_data(UserData::new(OpKind::AcceptCancel, r, 0, 0).to_u64());
            self.push(r, &entry);
        }
    }

    pub(super) fn arm_accept(&mut self) {
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
            self.push(r, &entry);
        }
    }

    pub(super) fn abort_all(&mut self) {
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

    pub(super) fn finished(&self) -> bool {
        self.shutdown_deadline.is_some()
            && self.accept == AcceptState::Idle
            && self.dials.len() == self.free_dials.len()
            && self.rings.iter().all(|c| c.slots.live() == 0 && c.conns.iter().all(|c| c.ops == 0))
    }

    /// Everything batched for the end of a loop turn.
    pub(super) fn end_turn(&mut self, bufs: &mut [BufRing]) {
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

    pub(super) fn wait(&mut self) -> io::Result<()> {
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
        if want == 0 {
            // The kernel runs deferred completion work in capped batches per enter; a loop that
            // always has work in hand enters once a turn and fell behind on its home ring under
            // a burst (a server answering 50,000 pongs/s). Drain it while the kernel says more
            // waits, within a bound.
            for _ in 0..MAX_TASKRUN_ENTERS {
                let home = &mut self.rings[0].ring;
                if !home.submission().taskrun() || home.submit().is_err() {
                    break;
                }
            }
        }
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
