//! Measurements: latency histograms, counts by phase (warm-up, measured window, tail), a
//! per-second timeline, the sender's lateness against its schedule, and live progress counters.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::scenario::Phase;

/// Live counters the main thread reads while the run goes on (progress bar, stall messages).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Connections upgraded and not closed.
    pub(crate) open: AtomicU64,
    /// Dials, upgrades or connections that failed.
    pub(crate) errors: AtomicU64,
    /// Events counted in the measured window so far.
    pub(crate) messages: AtomicU64,
    /// TCP connects started.
    pub(crate) dialed: AtomicU64,
    /// TCP connects that completed (the upgrade request went out).
    pub(crate) connected: AtomicU64,
    /// TCP connects that failed.
    pub(crate) dial_failed: AtomicU64,
    /// Pings from the server, answered with pongs.
    pub(crate) pings: AtomicU64,
    /// Connections that opened and have closed since.
    pub(crate) ended: AtomicU64,
    /// Open connections that ended without the tool closing them: by the server (EOF), by a
    /// socket error (reset), or closed by this side (a protocol error in what the server sent).
    pub(crate) ended_by_peer: AtomicU64,
    pub(crate) ended_by_error: AtomicU64,
    pub(crate) ended_locally: AtomicU64,
    /// Handshakes still in flight when the run ended (cut by the tool, not errors).
    pub(crate) cut_at_end: AtomicU64,
}

impl Progress {
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn closed(&self) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The value of one of these counters now.
    pub(crate) fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The unit latencies are recorded in, and so the resolution of every latency reported.
pub(crate) const RESOLUTION_NS: u64 = 1_000;

fn histogram() -> Histogram<u64> {
    // 1 us to 60 s at 3 significant digits: fixed, valid bounds.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// One thread's measurements; merged over threads at the end.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Latency in microseconds (round trip, publish-to-receive, or handshake), measured window
    /// only.
    pub(crate) latency: Histogram<u64>,
    /// Events counted in the measured window.
    pub(crate) count: u64,
    /// Events before the window (warm-up): load, but not measured.
    pub(crate) warmup: u64,
    /// Events after the window (the tail, while in-window work drains): not measured.
    pub(crate) tail: u64,
    /// Counts per second of the measured window.
    pub(crate) timeline: Vec<u64>,
    /// How late the sender was against its schedule, in microseconds (open-loop scenarios):
    /// the floor under every latency they report.
    pub(crate) lateness: Histogram<u64>,
    /// Scenario-specific numbers (name, value), merged as `add_extra` says.
    pub(crate) extra: Vec<(&'static str, f64)>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            latency: histogram(),
            count: 0,
            warmup: 0,
            tail: 0,
            timeline: Vec::new(),
            lateness: histogram(),
            extra: Vec::new(),
        }
    }

    /// Records one event in `phase`, with a latency in nanoseconds (kept for the measured window
    /// only). Returns whether it was measured.
    pub(crate) fn record(&mut self, phase: Phase, latency_ns: Option<u64>) -> bool {
        let second = match phase {
            Phase::Warmup => {
                self.warmup += 1;
                return false;
            }
            Phase::Tail => {
                self.tail += 1;
                return false;
            }
            Phase::Measured(second) => second,
        };
        self.count += 1;
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, 0);
        }
        self.timeline[second] += 1;
        if let Some(ns) = latency_ns {
            let _ = self.latency.record((ns / RESOLUTION_NS).max(1));
        }
        true
    }

    /// Records how late a scheduled send went out, in nanoseconds.
    pub(crate) fn record_lateness(&mut self, ns: u64) {
        let _ = self.lateness.record((ns / RESOLUTION_NS).max(1));
    }

    /// Adds a named figure; merged by sum, or by maximum for names ending in `_max`.
    pub(crate) fn add_extra(&mut self, name: &'static str, value: f64) {
        match self.extra.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) if name.ends_with("_max") => *v = v.max(value),
            Some((_, v)) => *v += value,
            None => self.extra.push((name, value)),
        }
    }

    /// The named figure, if a scenario added it.
    pub(crate) fn extra(&self, name: &str) -> Option<f64> {
        self.extra.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    pub(crate) fn merge(mut self, other: Stats) -> Stats {
        let _ = self.latency.add(&other.latency);
        let _ = self.lateness.add(&other.lateness);
        self.count += other.count;
        self.warmup += other.warmup;
        self.tail += other.tail;
        if self.timeline.len() < other.timeline.len() {
            self.timeline.resize(other.timeline.len(), 0);
        }
        for (a, b) in self.timeline.iter_mut().zip(&other.timeline) {
            *a += b;
        }
        for (name, value) in other.extra {
            self.add_extra(name, value);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_sums_counts_and_keeps_maxima() {
        let mut a = Stats::new();
        a.record(Phase::Measured(0), Some(1_000));
        a.record(Phase::Warmup, Some(9_000_000));
        a.add_extra("published", 3.0);
        a.add_extra("connect_seconds_max", 2.0);
        let mut b = Stats::new();
        b.record(Phase::Measured(1), Some(5_000));
        b.record(Phase::Tail, None);
        b.add_extra("published", 4.0);
        b.add_extra("connect_seconds_max", 1.5);
        let m = a.merge(b);
        assert_eq!((m.count, m.warmup, m.tail), (2, 1, 1));
        assert_eq!(m.timeline, vec![1, 1]);
        assert_eq!(m.extra, vec![("published", 7.0), ("connect_seconds_max", 2.0)]);
        assert_eq!(m.latency.max(), 5, "the warm-up's 9 ms latency is not in the histogram");
    }
}
