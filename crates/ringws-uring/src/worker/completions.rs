//! What each completion means for its connection: accepts, receives, sends and closes.

use super::prelude::*;

impl<H: Handler> Worker<H> {
    pub(super) fn on_accept(&mut self, r: u8, res: i32, flags: u32) {
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

    pub(super) fn on_send(&mut self, r: u8, ud: UserData, res: i32) {
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

    pub(super) fn on_closed(&mut self, r: u8, ud: UserData) {
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

    pub(super) fn maybe_finish(&mut self, r: u8, index: u32) {
        self.core.maybe_finish(r, index);
    }
}
