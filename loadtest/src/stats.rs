//! Measurements: latency histograms, counts, a per-second timeline, and live progress counters.

use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters the progress bar reads while the run goes on.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) open: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) messages: AtomicU64,
}

impl Progress {
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// One thread's measurements; merged over threads at the end.
#[derive(Debug)]
pub(crate) struct Stats {
    /// Latency in microseconds (round trip, publish-to-receive, or handshake).
    pub(crate) latency: Histogram<u64>,
    /// Messages (or handshakes) counted in the measured window.
    pub(crate) count: u64,
    /// Counts per second of the run, from the start of measuring.
    pub(crate) timeline: Vec<u64>,
    /// Scenario-specific numbers (name, value), merged as `add_extra` says.
    pub(crate) extra: Vec<(&'static str, f64)>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            // 1 us to 60 s at 3 significant digits: fixed, valid bounds.
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
            count: 0,
            timeline: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// Records one event at `second` of the measured window, with a latency in nanoseconds.
    pub(crate) fn record(&mut self, second: usize, latency_ns: Option<u64>) {
        self.count += 1;
        if self.timeline.len() <= second {
            self.timeline.resize(second + 1, 0);
        }
        self.timeline[second] += 1;
        if let Some(ns) = latency_ns {
            let _ = self.latency.record((ns / 1000).max(1));
        }
    }

    /// Adds a named figure; merged by sum, or by maximum for names ending in `_max`.
    pub(crate) fn add_extra(&mut self, name: &'static str, value: f64) {
        match self.extra.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) if name.ends_with("_max") => *v = v.max(value),
            Some((_, v)) => *v += value,
            None => self.extra.push((name, value)),
        }
    }

    pub(crate) fn merge(mut self, other: Stats) -> Stats {
        let _ = self.latency.add(&other.latency);
        self.count += other.count;
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
        a.record(0, Some(1_000));
        a.add_extra("published", 3.0);
        a.add_extra("connect_seconds_max", 2.0);
        let mut b = Stats::new();
        b.record(1, Some(5_000));
        b.add_extra("published", 4.0);
        b.add_extra("connect_seconds_max", 1.5);
        let m = a.merge(b);
        assert_eq!(m.count, 2);
        assert_eq!(m.timeline, vec![1, 1]);
        assert_eq!(m.extra, vec![("published", 7.0), ("connect_seconds_max", 2.0)]);
        assert_eq!(m.latency.max(), 5);
    }
}
