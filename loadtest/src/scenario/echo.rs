//! `echo`: N connections, each with K messages in flight; messages/s and round-trip latency.
//! The first 8 payload bytes carry the send time, so any echo server works unchanged.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Window;
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

pub(crate) struct Echo {
    tags: Range<u64>,
    inflight: usize,
    payload: Vec<u8>,
    binary: bool,
    window: Arc<Window>,
    stats: Stats,
}

impl Echo {
    pub(crate) fn new(
        tags: Range<u64>,
        size: usize,
        inflight: usize,
        binary: bool,
        window: Arc<Window>,
    ) -> Self {
        // Text payloads stay ASCII so the server's UTF-8 check passes; the stamp is hex.
        let payload = vec![b'x'; size.max(16)];
        Self { tags, inflight: inflight.max(1), payload, binary, window, stats: Stats::new() }
    }

    fn send(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId) {
        let stamp = format!("{:016x}", ctx.now_ns());
        self.payload[..16].copy_from_slice(stamp.as_bytes());
        let opcode = if self.binary { OpCode::Binary } else { OpCode::Text };
        ctx.send(conn, opcode, &self.payload);
    }
}

impl Scenario for Echo {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        for tag in self.tags.clone() {
            ctx.dial(tag);
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64) {
        for _ in 0..self.inflight {
            self.send(ctx, conn);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64, payload: &[u8]) {
        let now = ctx.now_ns();
        let sent = payload
            .get(..16)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| u64::from_str_radix(s, 16).ok());
        if let (Some(second), Some(sent)) = (self.window.second(now), sent) {
            self.stats.record(second, Some(now.saturating_sub(sent)));
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
        self.send(ctx, conn);
    }

    fn finish(&mut self) -> Stats {
        std::mem::replace(&mut self.stats, Stats::new())
    }
}
