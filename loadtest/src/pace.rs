//! Pacing from elapsed time: a schedule of evenly spaced send times. Whatever the timer's
//! granularity or lateness, every event that is due by `now` is handed out, each with the time it
//! was scheduled for, so the achieved rate is the target rate and latency is measured from the
//! schedule (a late sender is counted against the figure, not hidden).

/// Events `i = 0, 1, 2, ...` due at `start + i * interval`, computed from `i` (no accumulated
/// rounding: after a million events the schedule is exactly a million intervals long).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    start_ns: u64,
    interval_ns: f64,
    /// Events handed out so far.
    issued: u64,
}

impl Schedule {
    /// `rate` events per second from `start_ns` (the run clock); a rate of zero or less never
    /// falls due.
    pub(crate) fn new(start_ns: u64, rate: f64) -> Self {
        let interval_ns = if rate > 0.0 { 1e9 / rate } else { f64::INFINITY };
        Self { start_ns, interval_ns, issued: 0 }
    }

    /// When the next event is due.
    pub(crate) fn next_due(&self) -> u64 {
        let offset = self.issued as f64 * self.interval_ns;
        if offset.is_finite() { self.start_ns.saturating_add(offset as u64) } else { u64::MAX }
    }

    /// The scheduled time of the next event if it is due by `now`, and counts it as issued.
    pub(crate) fn take_due(&mut self, now: u64) -> Option<u64> {
        let due = self.next_due();
        (due <= now).then(|| {
            self.issued += 1;
            due
        })
    }

    /// Starts over at `start_ns`: for a pacer that went idle, so the idle time is not owed.
    pub(crate) fn restart(&mut self, start_ns: u64) {
        self.start_ns = start_ns;
        self.issued = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a schedule with a timer that fires `late_ns` after each requested time, and
    /// returns how many events were handed out in `span_ns`.
    fn drive(rate: f64, late_ns: u64, span_ns: u64) -> u64 {
        let mut s = Schedule::new(0, rate);
        let mut now = 0;
        let mut n = 0;
        while now < span_ns {
            while s.take_due(now).is_some() {
                n += 1;
            }
            now = s.next_due() + late_ns;
        }
        n
    }

    #[test]
    fn the_rate_is_exact_whatever_the_timer_lateness() {
        // The old pacer credited a fixed amount per 1 ms callback, and the callback came every
        // 2 ms: 2,000/s became 984/s. A schedule hands out what is due by the clock.
        for rate in [100.0, 500.0, 2_000.0, 20_000.0, 333.3] {
            for late_ns in [0, 50_000, 1_000_000, 2_500_000] {
                let got = drive(rate, late_ns, 10_000_000_000) as f64;
                let want = rate * 10.0;
                assert!((got - want).abs() <= want * 0.001 + 1.0, "{rate}/s late {late_ns}: {got}");
            }
        }
    }

    #[test]
    fn due_times_are_the_scheduled_ones_not_the_firing_ones() {
        let mut s = Schedule::new(1_000, 1_000.0); // one per millisecond from t = 1 us
        assert_eq!(s.take_due(999), None);
        // Fired 2.5 ms late: three events were due, each stamped with its own time.
        let due: Vec<u64> = std::iter::from_fn(|| s.take_due(2_501_000)).collect();
        assert_eq!(due, vec![1_000, 1_001_000, 2_001_000]);
        assert_eq!(s.next_due(), 3_001_000);
    }

    #[test]
    fn no_drift_over_many_events() {
        let mut s = Schedule::new(0, 3.0); // 333,333,333.3 ns apart
        for _ in 0..3_000_000 {
            s.take_due(u64::MAX);
        }
        let end = s.next_due();
        assert!(end.abs_diff(1_000_000_000_000_000) <= 1, "a million seconds, to the ns: {end}");
    }

    #[test]
    fn a_restarted_schedule_owes_nothing_for_the_idle_time() {
        let mut s = Schedule::new(0, 1_000.0);
        assert!(s.take_due(0).is_some());
        s.restart(5_000_000_000);
        assert_eq!(s.take_due(5_000_000_000), Some(5_000_000_000));
        assert_eq!(s.take_due(5_000_000_000), None);
    }

    #[test]
    fn a_zero_rate_never_falls_due() {
        let mut s = Schedule::new(0, 0.0);
        assert_eq!(s.take_due(u64::MAX - 1), None);
    }
}
