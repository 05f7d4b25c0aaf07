//! The scenarios, one module each, and the measurement window they share.

pub(crate) mod churn;
pub(crate) mod echo;
pub(crate) mod fanout;
pub(crate) mod idle;
pub(crate) mod publisher;
pub(crate) mod slow;

use std::sync::atomic::{AtomicU64, Ordering};

/// Where an event falls on the run clock, for counting: only the measured window is reported as
/// the figure; warm-up and tail are reported apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Before the measured window (the connect phase and the warm-up).
    Warmup,
    /// In the measured window, at this second of it.
    Measured(usize),
    /// After the window: in-window work draining, or load that keeps the tail honest.
    Tail,
}

/// The measured window on the run clock (nanoseconds), set by the main thread once every
/// connection is open; zero until then.
#[derive(Debug, Default)]
pub(crate) struct Window {
    from: AtomicU64,
    until: AtomicU64,
}

impl Window {
    pub(crate) fn set(&self, from: u64, until: u64) {
        self.until.store(until, Ordering::Relaxed);
        self.from.store(from, Ordering::Release);
    }

    /// Whether the window has been set (the run's load phase has begun).
    pub(crate) fn begun(&self) -> bool {
        self.from.load(Ordering::Acquire) != 0
    }

    /// The phase a time on the run clock falls in.
    pub(crate) fn phase(&self, at: u64) -> Phase {
        let from = self.from.load(Ordering::Acquire);
        let until = self.until.load(Ordering::Relaxed);
        if from == 0 || at < from {
            Phase::Warmup
        } else if at < until {
            Phase::Measured(((at - from) / 1_000_000_000) as usize)
        } else {
            Phase::Tail
        }
    }
}

/// This thread's share of `total` tags: a contiguous range.
pub(crate) fn share(total: u64, workers: usize, worker: usize) -> std::ops::Range<u64> {
    let workers = workers.max(1) as u64;
    let w = worker as u64;
    (total * w / workers)..(total * (w + 1) / workers)
}

/// Reads the first run of exactly 20 digits in `text` (a `$TS` timestamp put there by a
/// publisher), wherever the server placed it in its message.
pub(crate) fn find_timestamp(text: &[u8]) -> Option<u64> {
    let mut run = 0usize;
    for (i, b) in text.iter().enumerate() {
        if b.is_ascii_digit() {
            run += 1;
            if run == 20 && text.get(i + 1).is_none_or(|c| !c.is_ascii_digit()) {
                return std::str::from_utf8(&text[i + 1 - 20..=i]).ok()?.parse().ok();
            }
        } else {
            run = 0;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_fall_in_warmup_window_or_tail() {
        let w = Window::default();
        assert_eq!(w.phase(5), Phase::Warmup, "before the window is set");
        w.set(1_000_000_000, 3_000_000_000);
        assert_eq!(w.phase(999_999_999), Phase::Warmup);
        assert_eq!(w.phase(1_000_000_000), Phase::Measured(0));
        assert_eq!(w.phase(2_999_999_999), Phase::Measured(1));
        assert_eq!(w.phase(3_000_000_000), Phase::Tail);
    }

    #[test]
    fn shares_cover_every_tag_once() {
        let ranges: Vec<_> = (0..3).map(|w| share(10, 3, w)).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..10]);
    }

    #[test]
    fn timestamps_are_found_where_the_server_put_them() {
        let msg = br#"{"topic":"t","data":"00000000000123456789"}"#;
        assert_eq!(find_timestamp(msg), Some(123_456_789));
        assert_eq!(find_timestamp(b"no digits 123"), None);
        assert_eq!(find_timestamp(b"123456789012345678901"), None, "21 digits is not a stamp");
    }
}
