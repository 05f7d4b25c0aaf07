//! A connection's end: its subscriptions dropped, the open count, and the route's `on_close`
//! with a [`Closed`] view that may still publish.

use super::*;

impl Engine {
    /// The driver closed `id`: forget it, and tell its route (a panic there is logged).
    pub(super) fn closed(&mut self, id: ConnId, cause: &CloseCause) {
        let Some(mut conn) = self.conns.remove(id) else { return };
        if let Some(lent) = conn.codec.take() {
            self.unreserve(&lent);
        }
        let peer = Shown(self.peers.addr(id, conn.peer));
        self.peers.forget(id, conn.peer);
        for topic in conn.ctl.subscriptions() {
            if self.pubsub.unsubscribe(topic, id) {
                self.shared.counts.add(topic, -1);
            }
        }
        if let Phase::Deferred(d) = &conn.phase {
            d.state.gone.store(true, Ordering::Release);
        }
        if let Phase::Open { route, data } = conn.phase {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            let (code, reason) =
                conn.ctl.take_code().unwrap_or((CloseCode::ABNORMAL.0, String::new()));
            self.metrics.closed(code);
            if let CloseCause::Error(e) = cause {
                tracing::debug!(%peer, conn = %id, "connection error: {e}");
            }
            let handler = &mut self.routes[route];
            let pubsub = &mut self.pubsub;
            let shared = &self.shared;
            let closed = Closed { id, data, code, reason: &reason, pubsub, shared };
            if catch_unwind(AssertUnwindSafe(|| handler.close(closed))).is_err() {
                tracing::error!(%peer, conn = %id, "the handler panicked in on_close");
            }
        }
    }
}
