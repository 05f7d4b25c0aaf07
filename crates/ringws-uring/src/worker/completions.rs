//! What each completion means for its connection: accepts, receives, sends and closes.

use super::prelude::*;

impl<H: Handler> Worker<H> {
    pub(super) fn on_accept(&mut self, r: u8, ud: UserData, res: i32, flags: u32) {
        let listener = ud.index() as usize;
        if !cqueue::more(flags)
            && let Some(state) = self.core.accept.get_mut(listener)
        {
            *state = AcceptState::Idle;
        }
        if res < 0 {
            if -res == libc::ENFILE {
                // The table filled before the cancel landed: that client was dropped by the
                // kernel. Move on to a ring with room.
                self.core.rings[usize::from(r)].slots.table_was_full();
                self.core.counters.limit_hits.fetch_add(1, Ordering::Relaxed);
                self.core.limits.push(Limit::AcceptDropped { ring: r });
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
        core.accepted_on = listener;
        self.handler.on_open(&mut Io { core: &mut self.core }, id);
    }

    pub(super) fn on_recv(&mut self, r: u8, ud: UserData, res: i32, flags: u32) {
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
        let id = ConnId::new(self.core.id, r, ud.generation(), index);
        let serving = |core: &Core<H::Message>| {
            core.rings[usize::from(r)].conns[index as usize].life.serving()
        };
        if res > 0 {
            for &(b, len) in &pieces {
                let bufs = &mut self.bufs[usize::from(r)];
                let (ring_uid, may_lend) = (bufs.uid(), bufs.may_lend());
                let data = bufs.take(b, len);
                // A handler may abort the connection on the first piece; the rest are dropped.
                if let Some(data) = data.filter(|_| serving(&self.core)) {
                    let (start, len) = (data.as_ptr() as usize, data.len());
                    self.core.window = Some(crate::loan::Window {
                        ring_uid,
                        ring: r,
                        bid: b,
                        start,
                        len,
                        may_lend,
                        lent: 0,
                    });
                    self.handler.on_data(&mut Io { core: &mut self.core }, id, data);
                    // Counted before any loan can be repaid (the worker repays between turns).
                    let lent = self.core.window.take().map_or(0, |w| w.lent);
                    self.bufs[usize::from(r)].lend(b, lent);
                }
            }
            for &(b, _) in &pieces {
                self.bufs[usize::from(r)].recycle(b);
            }
            if !more && serving(&self.core) {
                self.core.rearm.push_back((r, index));
            }
        } else if res == 0 {
            self.core.fail(r, index, Ended::PeerClosed);
        } else if -res == libc::ENOBUFS {
            self.core.counters.enobufs.fetch_add(1, Ordering::Relaxed);
            if serving(&self.core) {
                self.core.rearm.push_back((r, index));
            }
        } else if -res != libc::ECANCELED {
            self.core.fail(r, index, Ended::Errno(-res));
        }
        self.pieces = pieces;
        self.maybe_finish(r, index);
    }

    pub(super) fn on_send(&mut self, r: u8, ud: UserData, res: i32) {
        let index = ud.index();
        let core = &mut self.core;
        let Some(conn) = super::core::slot_in(&mut core.rings, r, ud) else {
            core.counters.stale.fetch_add(1, Ordering::Relaxed);
            return;
        };
        conn.ops -= 1;
        let Some(out) = conn.out.as_deref_mut().filter(|o| o.sending) else { return };
        out.sending = false;
        out.iovecs.clear();
        if res >= 0 {
            let mut sent = res as usize;
            out.set_buffered(out.buffered().saturating_sub(sent), &mut core.queued);
            // What the kernel did not take goes back to the front of the queue, in order.
            let mut rest = out.chunks.len();
            for (i, chunk) in out.chunks.iter_mut().enumerate() {
                if sent < chunk.len() {
                    chunk.advance(sent);
                    rest = i;
                    break;
                }
                sent -= chunk.len();
            }
            for chunk in out.chunks.drain(rest..).rev() {
                out.queue.push_front(chunk);
            }
            out.chunks.clear();
            if !conn.life.serving() {
                out.queue.clear(); // torn down while this send was in flight
                out.set_buffered(0, &mut core.queued);
            }
            if !out.queue.is_empty() {
                if !conn.in_dirty {
                    conn.in_dirty = true;
                    core.dirty.push((r, index));
                }
            } else {
                let (life, step) = conn.life.flushed();
                conn.life = life;
                core.recycle_outbox(r, index);
                core.take_step(r, index, step);
                if step == Step::Drained {
                    let id = ConnId::new(core.id, r, ud.generation(), index);
                    self.handler.on_drain(&mut Io { core: &mut self.core }, id);
                }
            }
        } else {
            out.chunks.clear();
            out.set_buffered(out.queue.iter().map(Chunk::len).sum(), &mut core.queued);
            if -res != libc::ECANCELED {
                core.fail(r, index, Ended::Errno(-res));
            }
            core.recycle_outbox(r, index);
        }
        self.maybe_finish(r, index);
    }

    pub(super) fn on_closed(&mut self, r: u8, ud: UserData) {
        let index = ud.index();
        let core = &mut self.core;
        let Some(conn) = core.slot_mut(r, ud) else { return };
        conn.ops -= 1;
        conn.life = Life::Free;
        if let Some(out) = conn.out.as_deref_mut() {
            out.queue.clear(); // nothing is in flight: the slot had no operation left
        }
        let cause = Ended::cause(conn.ended.take());
        core.recycle_outbox(r, index);
        core.rings[usize::from(r)].slots.closed();
        core.counters.closed.fetch_add(1, Ordering::Release);
        let id = ConnId::new(core.id, r, ud.generation(), index);
        self.handler.on_close(&mut Io { core: &mut self.core }, id, &cause);
    }

    pub(super) fn maybe_finish(&mut self, r: u8, index: u32) {
        self.core.maybe_finish(r, index);
    }
}
