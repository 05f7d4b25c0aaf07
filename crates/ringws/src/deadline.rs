//! One deadline per connection. A connection keeps the time of its one pending timer-wheel
//! entry; asking for a later deadline changes nothing (the pending entry fires first and re-arms
//! for what is due then), asking for an earlier one adds an entry and the later one goes stale.
//! So a million idle connections hold a million wheel entries, not a chain per kind of timer, and
//! refreshing the idle deadline on every message costs nothing.
//!
//! Times are [`Stamp`]s: milliseconds since the server's start in a wrapping `u32` (4 bytes in
//! each connection instead of a 16-byte `Instant`); every span compared is far below the 24 days
//! at which wrapping comparisons would fail.

use ringws_uring::{ConnId, Io};
use std::time::{Duration, Instant};

/// A point in time: milliseconds since an epoch, wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp(u32);

impl Stamp {
    /// `t` on the clock that starts at `epoch`.
    pub(crate) fn at(epoch: Instant, t: Instant) -> Self {
        // Truncation is the wrap: the clock runs modulo 2^32 ms.
        Self(t.saturating_duration_since(epoch).as_millis() as u32)
    }

    /// How long after `earlier` this is (zero if it is not after it).
    pub(crate) fn since(self, earlier: Stamp) -> Duration {
        if self.before(earlier) {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::from(self.0.wrapping_sub(earlier.0)))
    }

    /// Whether this is strictly before `other`.
    pub(crate) fn before(self, other: Stamp) -> bool {
        (self.0.wrapping_sub(other.0) as i32) < 0
    }

    /// This plus `d` (spans over 24 days are cut to that).
    pub(crate) fn after(self, d: Duration) -> Stamp {
        let ms = d.as_millis().min(i32::MAX as u128) as u32;
        Self(self.0.wrapping_add(ms))
    }

    /// The earlier of the two.
    pub(crate) fn min(self, other: Stamp) -> Stamp {
        if other.before(self) { other } else { self }
    }
}

/// The server's clock for stamps: its epoch, and the time of the current loop turn.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    pub(crate) epoch: Instant,
}

impl Clock {
    /// The current loop turn's time.
    pub(crate) fn now<M: Send + 'static>(&self, io: &Io<'_, M>) -> Stamp {
        Stamp::at(self.epoch, io.now())
    }

    /// Makes sure the connection's timer fires at or before `at`: a wheel entry is added only
    /// when the pending one would fire later (or there is none).
    pub(crate) fn arm<M: Send + 'static>(
        &self,
        io: &mut Io<'_, M>,
        id: ConnId,
        pending: &mut Option<Stamp>,
        at: Stamp,
    ) {
        if pending.is_some_and(|p| !at.before(p)) {
            return;
        }
        *pending = Some(at);
        let now = io.now();
        io.set_timer(now + at.since(self.now(io)), id.to_u64());
    }

    /// A wheel entry fired: whether it is the connection's pending one (or a later stale one
    /// firing when the pending one is due anyway). A stale entry that fires early is ignored. On
    /// `true`, nothing is pending any more: the caller re-arms what it still needs.
    pub(crate) fn fired<M: Send + 'static>(
        &self,
        io: &Io<'_, M>,
        pending: &mut Option<Stamp>,
    ) -> bool {
        if pending.is_some_and(|p| self.now(io).before(p)) {
            return false;
        }
        *pending = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Stamp;
    use std::time::{Duration, Instant};

    #[test]
    fn stamps_compare_across_the_wrap() {
        let near_wrap = Stamp(u32::MAX - 5);
        let later = near_wrap.after(Duration::from_millis(10));
        assert_eq!(later, Stamp(4));
        assert!(near_wrap.before(later) && !later.before(near_wrap));
        assert_eq!(later.since(near_wrap), Duration::from_millis(10));
        assert_eq!(near_wrap.since(later), Duration::ZERO);
        assert_eq!(later.min(near_wrap), near_wrap);
    }

    #[test]
    fn a_stamp_is_milliseconds_since_the_epoch() {
        let epoch = Instant::now();
        let t = epoch + Duration::from_millis(1500);
        assert_eq!(Stamp::at(epoch, t), Stamp(1500));
        assert_eq!(Stamp::at(t, epoch), Stamp(0), "before the epoch is the epoch");
    }
}
