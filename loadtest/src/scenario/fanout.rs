//! `fanout`: S subscribers (each sends a subscribe message, if the server needs one) and P
//! publishers at a fixed total rate; deliveries/s and publish-to-receive latency. The publish
//! message is a template whose `$TS` becomes a 20-digit send time, found again in whatever the
//! server delivers.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Window, find_timestamp};
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

/// The timer key of the publishing tick.
const TICK: u64 = 1;

pub(crate) struct Fanout {
    subscribers: Range<u64>,
    publishers: Range<u64>,
    /// Nanoseconds between two publishes of one publisher.
    interval_ns: u64,
    subscribe: Option<String>,
    template: String,
    window: Arc<Window>,
    open_publishers: Vec<(ConnId, u64)>,
    stats: Stats,
    published: u64,
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
        let interval_ns = (1e9 / rate_per_publisher.max(0.001)) as u64;
        Self {
            subscribers,
            publishers,
            interval_ns,
            subscribe,
            template,
            window,
            open_publishers: Vec::new(),
            stats: Stats::new(),
            published: 0,
        }
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
            self.open_publishers.push((conn, 0));
        } else if let Some(sub) = &self.subscribe {
            let sub = sub.clone();
            ctx.send(conn, OpCode::Text, sub.as_bytes());
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, _conn: ConnId, _tag: u64, payload: &[u8]) {
        let now = ctx.now_ns();
        let (Some(second), Some(sent)) = (self.window.second(now), find_timestamp(payload)) else {
            return;
        };
        self.stats.record(second, Some(now.saturating_sub(sent)));
        ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let now = ctx.now_ns();
        if self.window.begun() {
            for i in 0..self.open_publishers.len() {
                let (conn, mut due) = self.open_publishers[i];
                if due == 0 {
                    // Spread publishers over the interval instead of firing them together.
                    due = now + self.interval_ns * i as u64 / self.open_publishers.len() as u64;
                }
                while due <= now {
                    let message = self.template.replace("$TS", &format!("{due:020}"));
                    ctx.send(conn, OpCode::Text, message.as_bytes());
                    self.published += 1;
                    due += self.interval_ns;
                }
                self.open_publishers[i].1 = due;
            }
        }
        ctx.timer(now + 1_000_000, TICK);
    }

    fn finish(&mut self) -> Stats {
        let mut stats = std::mem::replace(&mut self.stats, Stats::new());
        stats.add_extra("published", self.published as f64);
        stats
    }
}
