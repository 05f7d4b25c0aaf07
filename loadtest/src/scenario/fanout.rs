//! `fanout`: S subscribers (each sends a subscribe message, if the server needs one) and P
//! publishers at a fixed total rate; deliveries/s and publish-to-receive latency. The publish
//! message is a template whose `$TS` becomes the 20-digit scheduled send time, found again in
//! whatever the server delivers. A delivery counts in the phase of its publish: the measured
//! figure is "deliveries of the publishes scheduled in the window", tail included.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::publisher::Publishers;
use super::{Window, find_timestamp};
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

/// The timer key of the publishing tick.
const TICK: u64 = 1;

pub(crate) struct Fanout {
    subscribers: Range<u64>,
    publishers: Range<u64>,
    subscribe: Option<String>,
    publishing: Publishers,
    window: Arc<Window>,
    stats: Stats,
}

impl Fanout {
    pub(crate) fn new(
        subscribers: Range<u64>,
        publishers: Range<u64>,
        rate_per_publisher: f64,
        subscribe: Option<String>,
        template: String,
        window: Arc<Window>,
    ) -> Self {
        let publishing =
            Publishers::new(&template, String::new(), rate_per_publisher, window.clone());
        Self { subscribers, publishers, subscribe, publishing, window, stats: Stats::new() }
    }
}

impl Scenario for Fanout {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        for tag in self.subscribers.clone().chain(self.publishers.clone()) {
            ctx.dial(tag);
        }
        let now = ctx.now_ns();
        ctx.timer(now + 1_000_000, TICK);
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64) {
        if self.publishers.contains(&tag) {
            self.publishing.add(conn);
        } else if let Some(sub) = &self.subscribe {
            ctx.send(conn, OpCode::Text, sub.as_bytes());
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, _conn: ConnId, tag: u64, payload: &[u8]) {
        // A broadcast server may send publishers their own messages: not deliveries.
        if !self.subscribers.contains(&tag) {
            return;
        }
        let Some(sent) = find_timestamp(payload) else { return };
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
