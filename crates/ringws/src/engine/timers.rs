//! A connection's one timer: the handshake deadline (408, or 503 for a deferred upgrade), the
//! close deadline, the idle ping at half the route's idle timeout and the drop at the full one.

use super::*;

impl Engine {
    /// The connection's one timer fired; it is re-armed for the next deadline it has.
    pub(super) fn on_timer_for(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId) {
        let clock = self.shared.clock;
        let now = clock.now(io);
        let Some(conn) = self.conns.get_mut(id) else { return };
        if !clock.fired(io, &mut conn.ctl.timer) {
            return;
        }
        match conn.phase {
            // The only timer a connection in its handshake has is the handshake deadline.
            Phase::Handshake(_) => self.answer(io, id, crate::http::handshake_timeout()),
            Phase::Deferred(_) => self.refuse(io, id, crate::http::not_answered_in_time()),
            Phase::Done => {}
            Phase::Open { route, .. } => {
                let ctl = &mut conn.ctl;
                let timeout = self.shared.idle_timeout(route);
                let auto_ping = self.shared.route_options[route].auto_ping;
                if ctl.close_deadline().is_some_and(|d| !now.before(d)) {
                    io.abort(id);
                    return;
                }
                let idle = now.since(ctl.last_seen);
                if !timeout.is_zero() && idle >= timeout {
                    // Silent through a whole idle timeout, ping included: the peer is gone.
                    let pinged = ctl.ping_outstanding;
                    io.abort(id);
                    self.metrics.idle_timeouts.add(1);
                    let why = format!("{idle:.1?} without a byte (ping sent: {pinged})");
                    self.warn(io.now(), id, "idle timeout", &why);
                    return;
                }
                let half = timeout / 2;
                if auto_ping
                    && !timeout.is_zero()
                    && idle >= half
                    && !ctl.ping_outstanding
                    && ctl.session.can_send()
                {
                    ctl.ping_outstanding = true;
                    let _ = send_frame(io, id, ctl, OpCode::Ping, b"", None);
                    self.metrics.pings.add(1);
                }
                // An idle timeout of zero means none: only a close deadline needs the timer.
                let idle_next = (!timeout.is_zero()).then(|| {
                    let ping_due = auto_ping && !ctl.ping_outstanding;
                    ctl.last_seen.after(if ping_due { half } else { timeout })
                });
                let next = match (idle_next, ctl.close_deadline()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if let Some(next) = next {
                    let next = if next.before(now) { now } else { next };
                    clock.arm(io, id, &mut ctl.timer, next);
                }
            }
        }
    }
}
