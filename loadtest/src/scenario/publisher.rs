//! Publishers on a schedule, shared by `fanout` and `slow`: each publish carries its *scheduled*
//! send time as a 20-digit stamp (`$TS` in the template), so latency counts a late publisher
//! against the figure, and every publish is counted in the phase its scheduled time falls in.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::fmt::Write as _;
use std::sync::Arc;

use super::{Phase, Window};
use crate::client::Ctx;
use crate::pace::Schedule;
use crate::stats::Stats;

/// How often to look again while nothing can be published yet (the window not begun, no
/// publisher open).
const IDLE_POLL_NS: u64 = 1_000_000;

pub(crate) struct Publishers {
    head: String,
    tail: String,
    pad: String,
    rate: f64,
    window: Arc<Window>,
    /// Open publishers and, once the load phase began, their schedules.
    open: Vec<(ConnId, Option<Schedule>)>,
    /// Publishes by the phase of their scheduled time: warm-up, window, tail.
    published: [u64; 3],
}

impl Publishers {
    /// `template` must hold `$TS`; it becomes the 20-digit stamp followed by `pad` (to reach a
    /// payload size). `rate` is per publisher.
    pub(crate) fn new(template: &str, pad: String, rate: f64, window: Arc<Window>) -> Self {
        let (head, tail) = template.split_once("$TS").unwrap_or((template, ""));
        Self {
            head: head.to_owned(),
            tail: tail.to_owned(),
            pad,
            rate,
            window,
            open: Vec::new(),
            published: [0; 3],
        }
    }

    pub(crate) fn add(&mut self, conn: ConnId) {
        self.open.push((conn, None));
    }

    /// Sends every publish due by now; returns when to call again (run clock).
    pub(crate) fn tick(&mut self, ctx: &mut Ctx<'_, '_>, stats: &mut Stats) -> u64 {
        let now = ctx.now_ns();
        if !self.window.begun() || self.open.is_empty() {
            return now + IDLE_POLL_NS;
        }
        let count = self.open.len() as f64;
        let interval = 1e9 / self.rate.max(1e-3);
        let mut next = u64::MAX;
        let mut message = String::new();
        for (i, (conn, schedule)) in self.open.iter_mut().enumerate() {
            // Publishers spread over one interval instead of firing together.
            let schedule = schedule.get_or_insert_with(|| {
                Schedule::new(now + (interval * i as f64 / count) as u64, self.rate)
            });
            while let Some(due) = schedule.take_due(now) {
                message.clear();
                let _ = write!(message, "{}{due:020}{}{}", self.head, self.pad, self.tail);
                ctx.send(*conn, OpCode::Text, message.as_bytes());
                let phase = self.window.phase(due);
                let slot = match phase {
                    Phase::Warmup => 0,
                    Phase::Measured(_) => 1,
                    Phase::Tail => 2,
                };
                self.published[slot] += 1;
                if slot == 1 {
                    stats.record_lateness(now - due);
                }
            }
            next = next.min(schedule.next_due());
        }
        next
    }

    /// The publish counts, by phase, into the run's figures.
    pub(crate) fn report(&self, stats: &mut Stats) {
        stats.add_extra("published", self.published[1] as f64);
        stats.add_extra("published_warmup", self.published[0] as f64);
        stats.add_extra("published_tail", self.published[2] as f64);
    }
}
