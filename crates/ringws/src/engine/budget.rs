//! The worker's share of the memory budget (`Limits::memory_budget`): what partial messages
//! reserve, and what send queues hold. A connection whose message does not fit is closed with
//! 1013 and its partial message freed; past the share, sends to connections already holding
//! `shared::FAIR_SHARE` or more are dropped (`Shared::refuses_send`), so the connections
//! holding the most give way and the others are served.

use super::*;

/// A codec (`ringws-proto`'s decoder and assembler) lent to a connection while a frame or
/// message is partial, and the bytes its message reserves from the budget. The ~250 bytes are
/// paid per active connection, not per open one.
pub(super) struct Lent {
    pub(super) codec: Codec,
    /// The announced size of the message in progress, counted in the worker's `assembling`.
    pub(super) reserved: u64,
}

impl Lent {
    pub(super) fn new(limits: &crate::config::Limits) -> Box<Self> {
        let codec = Codec::new(Role::Server)
            .with_max_frame_size(limits.max_frame_size)
            .with_max_message_size(limits.max_message_size);
        Box::new(Self { codec, reserved: 0 })
    }
}

impl Engine {
    /// After a read: the codec's message in progress reserves its announced size. If that does
    /// not fit, the message is dropped and the connection closed with 1013 (try again later).
    pub(super) fn settle(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, lent: &mut Lent) {
        let want = lent.codec.pending_len();
        let assembling = &self.metrics.assembling;
        if want <= lent.reserved {
            assembling.sub(lent.reserved - want);
            lent.reserved = want;
            return;
        }
        let more = want - lent.reserved;
        let used = assembling.get() + io.queued_total() as u64;
        if used + more <= self.shared.budget_share {
            assembling.add(more);
            lent.reserved = want;
            return;
        }
        lent.codec.discard_message();
        assembling.sub(lent.reserved);
        lent.reserved = 0;
        self.metrics.budget_closes.add(1);
        let Some(conn) = self.conns.get_mut(id) else { return };
        let ctl = &mut conn.ctl;
        ctl.session.abandon();
        let why = "try again later: the server's message memory is in use";
        if send_close(io, id, ctl, CloseCode::TRY_AGAIN_LATER, why) {
            io.shutdown_write(id);
            set_close_deadline(io, id, ctl, &self.shared);
        }
        let detail = format!("a {want}-byte message would pass the memory budget");
        self.warn(io.now(), id, "closed with 1013", &detail);
    }

    /// A connection is gone: its reservation goes back.
    pub(super) fn unreserve(&mut self, lent: &Lent) {
        self.metrics.assembling.sub(lent.reserved);
    }
}
