//! `idle`: open and hold N connections (optionally pinging each every interval); connect rate
//! and handshake latency. With the server's pid, the report adds its RSS per connection.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

const PING_TICK: u64 = 2;

pub(crate) struct Idle {
    tags: Range<u64>,
    ping_every_ns: Option<u64>,
    open: Vec<ConnId>,
    next_ping: usize,
    stats: Stats,
    first_dial: u64,
    last_open: u64,
}

impl Idle {
    pub(crate) fn new(tags: Range<u64>, ping_every_ns: Option<u64>) -> Self {
        Self {
            tags,
            ping_every_ns,
            open: Vec::new(),
            next_ping: 0,
            stats: Stats::new(),
            first_dial: 0,
            last_open: 0,
        }
    }
}

impl Scenario for Idle {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        self.first_dial = ctx.now_ns();
        for tag in self.tags.clone() {
            ctx.dial(tag);
        }
        if let Some(every) = self.ping_every_ns {
            ctx.timer(ctx.now_ns() + every / 100, PING_TICK);
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64) {
        let now = ctx.now_ns();
        let dialed = ctx.dialed_ns(tag).unwrap_or(now);
        // The connect phase is what idle measures: every open counts, by its second.
        let second = ((now - self.first_dial) / 1_000_000_000) as usize;
        self.stats.record(super::Phase::Measured(second), Some(now - dialed));
        self.last_open = now;
        self.open.push(conn);
        ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, key: u64) {
        let (PING_TICK, Some(every)) = (key, self.ping_every_ns) else { return };
        // Ping one hundredth of the connections per tick: each once per interval.
        let batch = self.open.len().div_ceil(100);
        for _ in 0..batch {
            if self.open.is_empty() {
                break;
            }
            self.next_ping %= self.open.len();
            let conn = self.open[self.next_ping];
            ctx.send(conn, OpCode::Ping, b"");
            self.next_ping += 1;
        }
        ctx.timer(ctx.now_ns() + every / 100, PING_TICK);
    }

    fn finish(&mut self) -> Stats {
        let mut stats = std::mem::replace(&mut self.stats, Stats::new());
        let span = (self.last_open.saturating_sub(self.first_dial)) as f64 / 1e9;
        stats.add_extra("connect_seconds_max", span);
        stats
    }
}
