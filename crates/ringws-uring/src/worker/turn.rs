//! The end of a loop turn: what was batched is submitted (buffer ring tails, re-armed
//! receives, one send per dirty connection, the accept), the figures are published, and the
//! loop waits on its home ring for the next completion or timer.

use super::core::MAX_TASKRUN_ENTERS;
use super::prelude::*;

impl<M: Send + 'static> Core<M> {
    /// Everything batched for the end of a loop turn.
    pub(super) fn end_turn(&mut self, bufs: &mut [BufRing]) {
        self.counters.timers.store(self.timers.len() as u64, Ordering::Relaxed);
        let (mut held, mut total) = (0, 0);
        for b in bufs.iter_mut() {
            b.publish();
            held += b.held();
            total += b.capacity();
        }
        self.counters.buffers_held.store(held as u64, Ordering::Relaxed);
        self.counters.buffers_total.store(total as u64, Ordering::Relaxed);
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
            let full = self.accepts_idle() && self.rings.iter().all(ctx_full);
            if full && !self.paused {
                self.counters.limit_hits.fetch_add(1, Ordering::Relaxed);
                let slots = self.rings.iter().map(|c| c.slots.live() as usize).sum();
                self.limits.push(Limit::AllSlotsInUse { slots, rings: self.rings.len() });
            }
            self.paused = full;
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
                // SAFETY: a poll names no memory but the sub-ring's descriptor, which lives as
                // long as the home ring (both belong to this worker).
                unsafe { self.push(0, &entry) };
            }
            // Entered only with something to submit or a kernel flag asking for it: an idle
            // sub-ring's enter did nothing and cost a syscall per sub-ring per turn (measured:
            // 83 % of a default server's enters, five sub-rings, at 50,000 messages/s).
            let sq = self.rings[r].ring.submission();
            if !sq.is_empty() || sq.cq_overflow() || sq.taskrun() {
                drop(sq);
                self.enters += 1;
                let _ = self.rings[r].ring.submit();
            }
        }
    }

    pub(super) fn wait(&mut self) -> io::Result<()> {
        // Re-arms still queued must not wait for an event that only they would cause.
        let pending = !self.rearm.is_empty()
            || !self.stashed.is_empty()
            || self.rings.iter_mut().any(|c| !c.ring.completion().is_empty());
        let want = usize::from(!pending);
        self.enters += 1;
        self.turns += 1;
        self.counters.turns.store(self.turns, Ordering::Relaxed);
        self.counters.queued_bytes.store(self.queued as u64, Ordering::Relaxed);
        let now = Instant::now();
        self.busy_ns += now.saturating_duration_since(self.woke).as_nanos() as u64;
        self.counters.busy_ns.store(self.busy_ns, Ordering::Relaxed);
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
                if !home.submission().taskrun() {
                    break;
                }
                self.enters += 1;
                if home.submit().is_err() {
                    break;
                }
            }
        }
        self.counters.enters.store(self.enters, Ordering::Relaxed);
        self.woke = Instant::now();
        match result {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR | libc::EBUSY)) => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}
