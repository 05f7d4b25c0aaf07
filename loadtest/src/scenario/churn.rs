//! `churn`: connect, upgrade and close at a target rate; handshakes/s and handshake latency
//! (from the connect call to the 101's arrival).

use ringws_uring::ConnId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Window;
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

const TICK: u64 = 1;

pub(crate) struct Churn {
    /// Dials per millisecond for this thread (fractional rates accumulate).
    per_ms: f64,
    credit: f64,
    next_tag: u64,
    tag_step: u64,
    max_in_flight: usize,
    /// Dials in flight (queued or connecting), to bound them.
    dialed_at: HashMap<u64, u64>,
    window: Arc<Window>,
    stats: Stats,
}

impl Churn {
    pub(crate) fn new(rate: f64, worker: usize, workers: usize, window: Arc<Window>) -> Self {
        Self {
            per_ms: rate / 1000.0,
            credit: 0.0,
            next_tag: worker as u64,
            tag_step: workers.max(1) as u64,
            max_in_flight: 2000,
            dialed_at: HashMap::new(),
            window,
            stats: Stats::new(),
        }
    }
}

impl Scenario for Churn {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        ctx.timer(ctx.now_ns() + 1_000_000, TICK);
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, tag: u64) {
        let now = ctx.now_ns();
        if let (Some(dialed), Some(second)) = (self.dialed_at.remove(&tag), self.window.second(now))
        {
            self.stats.record(second, Some(now - dialed));
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
        ctx.close(conn);
    }

    fn on_gone(&mut self, _ctx: &mut Ctx<'_, '_>, tag: u64, _opened: bool) {
        self.dialed_at.remove(&tag);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let now = ctx.now_ns();
        if self.window.begun() {
            self.credit += self.per_ms;
            while self.credit >= 1.0 && self.dialed_at.len() < self.max_in_flight {
                self.credit -= 1.0;
                let tag = self.next_tag;
                self.next_tag += self.tag_step;
                self.dialed_at.insert(tag, now);
                ctx.dial(tag);
            }
            self.credit = self.credit.min(self.per_ms * 10.0);
        }
        ctx.timer(now + 1_000_000, TICK);
    }

    fn finish(&mut self) -> Stats {
        std::mem::replace(&mut self.stats, Stats::new())
    }
}
