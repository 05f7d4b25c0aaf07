//! `slow`: subscribers that stop reading. A publisher at a fixed rate and one healthy subscriber
//! run on the driver; the slow subscribers are plain sockets that subscribe and then never read.
//! The report says what the server did to them (dropped messages silently, or closed them) and,
//! given its pid, how its memory behaved.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::publisher::Publishers;
use super::{Window, find_timestamp};
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

const TICK: u64 = 1;
/// The healthy subscriber's tag; the publisher is tag 1.
const HEALTHY: u64 = 0;

pub(crate) struct Slow {
    subscribe: Option<String>,
    publishing: Publishers,
    window: Arc<Window>,
    stats: Stats,
}

impl Slow {
    pub(crate) fn new(
        subscribe: Option<String>,
        template: String,
        size: usize,
        rate: f64,
        window: Arc<Window>,
    ) -> Self {
        let pad = "p".repeat(size.saturating_sub(20));
        let publishing = Publishers::new(&template, pad, rate, window.clone());
        Self { subscribe, publishing, window, stats: Stats::new() }
    }
}

impl Scenario for Slow {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        ctx.dial(HEALTHY);
        ctx.dial(1);
        ctx.timer(ctx.now_ns() + 1_000_000, TICK);
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64) {
        if tag != HEALTHY {
            self.publishing.add(conn);
        } else if let Some(sub) = self.subscribe.clone() {
            ctx.send(conn, OpCode::Text, sub.as_bytes());
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, _conn: ConnId, tag: u64, payload: &[u8]) {
        let (HEALTHY, Some(sent)) = (tag, find_timestamp(payload)) else { return };
        let now = ctx.now_ns();
        if self.stats.record(self.window.phase(sent), Some(now.saturating_sub(sent))) {
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let next = self.publishing.tick(ctx, &mut self.stats);
        ctx.timer(next, TICK);
    }

    fn finish(&mut self) -> Stats {
        let mut stats = std::mem::replace(&mut self.stats, Stats::new());
        self.publishing.report(&mut stats);
        stats
    }
}
