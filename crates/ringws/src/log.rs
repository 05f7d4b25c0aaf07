//! Rate-limited logging of peer misbehaviour: a flood of bad clients must not flood the log.

use std::time::{Duration, Instant};

/// Allows `per_second` lines a second and counts the rest, reporting the count with the next
/// line that gets through.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    per_second: u32,
    window_start: Instant,
    used: u32,
    suppressed: u64,
}

impl LogLimiter {
    pub(crate) fn new(per_second: u32, now: Instant) -> Self {
        Self { per_second, window_start: now, used: 0, suppressed: 0 }
    }

    /// `Some(n)` when a line may be logged now (`n` lines were suppressed before it).
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.per_second {
            self.used += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_lines_per_second_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(2, t0);
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), Some(0));
        assert_eq!(l.allow(t0), None);
        assert_eq!(l.allow(t0), None);
        assert_eq!(l.allow(t0 + Duration::from_secs(1)), Some(2));
    }
}
