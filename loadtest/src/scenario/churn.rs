//! `churn`: connect, upgrade and close at a target rate; handshakes/s and handshake latency,
//! from the dial's *scheduled* time to the 101's arrival (a late dialer counts against the
//! figure). A handshake counts in the phase its dial was scheduled in.

use ringws_uring::ConnId;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Window;
use crate::client::{Ctx, Scenario};
use crate::pace::Schedule;
use crate::stats::Stats;

const TICK: u64 = 1;
/// Handshakes allowed in flight at once; a dial falling due beyond this is not started and is
/// counted as missed (the server is not keeping up; the report says so).
const MAX_IN_FLIGHT: usize = 2_000;

pub(crate) struct Churn {
    rate: f64,
    schedule: Option<Schedule>,
    next_tag: u64,
    tag_step: u64,
    /// Scheduled dial times of the handshakes in flight, by tag.
    dialed_at: HashMap<u64, u64>,
    /// Dials due in the window but not started (in-flight cap reached).
    missed: u64,
    window: Arc<Window>,
    stats: Stats,
}

impl Churn {
    pub(crate) fn new(rate: f64, worker: usize, workers: usize, window: Arc<Window>) -> Self {
        Self {
            rate,
            schedule: None,
            next_tag: worker as u64,
            tag_step: workers.max(1) as u64,
            dialed_at: HashMap::new(),
            missed: 0,
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
        if let Some(due) = self.dialed_at.remove(&tag) {
            let latency = ctx.now_ns().saturating_sub(due);
            if self.stats.record(self.window.phase(due), Some(latency)) {
                ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
            }
        }
        ctx.close(conn);
    }

    fn on_gone(&mut self, _ctx: &mut Ctx<'_, '_>, tag: u64, _opened: bool) {
        self.dialed_at.remove(&tag);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let now = ctx.now_ns();
        if !self.window.begun() {
            ctx.timer(now + 1_000_000, TICK);
            return;
        }
        let schedule = self.schedule.get_or_insert_with(|| Schedule::new(now, self.rate));
        while let Some(due) = schedule.take_due(now) {
            let measured = matches!(self.window.phase(due), super::Phase::Measured(_));
            if self.dialed_at.len() >= MAX_IN_FLIGHT {
                self.missed += u64::from(measured);
                continue;
            }
            if measured {
                self.stats.record_lateness(now - due);
            }
            let tag = self.next_tag;
            self.next_tag += self.tag_step;
            self.dialed_at.insert(tag, due);
            ctx.dial_now(tag);
        }
        ctx.timer(schedule.next_due(), TICK);
    }

    fn finish(&mut self) -> Stats {
        let mut stats = std::mem::replace(&mut self.stats, Stats::new());
        stats.add_extra("missed_in_flight_cap", self.missed as f64);
        stats
    }
}
