//! `slow`: subscribers that stop reading. A publisher at a fixed rate and one healthy subscriber
//! run on the driver; the slow subscribers are plain sockets that subscribe and then never read.
//! The report says what the server did to them (dropped messages silently, or closed them) and,
//! given its pid, how its memory behaved.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Window, find_timestamp};
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

const TICK: u64 = 1;

/// Tag 0 is the healthy subscriber, tag 1 the publisher.
pub(crate) struct Slow {
    subscribe: Option<String>,
    template: String,
    payload_pad: String,
    interval_ns: u64,
    publisher: Option<(ConnId, u64)>,
    window: Arc<Window>,
    stats: Stats,
    published: u64,
}

impl Slow {
    pub(crate) fn new(
        subscribe: Option<String>,
        template: String,
        size: usize,
        rate: f64,
        window: Arc<Window>,
    ) -> Self {
        let payload_pad = "p".repeat(size.saturating_sub(20));
        Self {
            subscribe,
            template,
            payload_pad,
            interval_ns: (1e9 / rate.max(0.001)) as u64,
            publisher: None,
            window,
            stats: Stats::new(),
            published: 0,
        }
    }
}

impl Scenario for Slow {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        ctx.dial(0);
        ctx.dial(1);
        ctx.timer(ctx.now_ns() + 1_000_000, TICK);
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64) {
        if tag == 1 {
            self.publisher = Some((conn, 0));
        } else if let Some(sub) = self.subscribe.clone() {
            ctx.send(conn, OpCode::Text, sub.as_bytes());
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, _conn: ConnId, _tag: u64, payload: &[u8]) {
        let now = ctx.now_ns();
        if let (Some(second), Some(sent)) = (self.window.second(now), find_timestamp(payload)) {
            self.stats.record(second, Some(now.saturating_sub(sent)));
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let now = ctx.now_ns();
        if let (true, Some((conn, due))) = (self.window.begun(), self.publisher.as_mut()) {
            if *due == 0 {
                *due = now;
            }
            while *due <= now {
                let stamp = format!("{:020}{}", *due, self.payload_pad);
                let message = self.template.replace("$TS", &stamp);
                ctx.send(*conn, OpCode::Text, message.as_bytes());
                self.published += 1;
                *due += self.interval_ns;
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
