//! A hashed timer wheel per worker: handshake, idle and close deadlines for any number of
//! connections, with no syscall per timer. The worker waits on its ring with a timeout up to the
//! first tick with a timer due (looking a bounded way ahead), so the whole wheel costs one
//! io_uring wait timeout, and an idle worker does not wake on ticks with nothing due.
//!
//! Timers are not cancelled: a fired key is checked by its owner, who ignores it if the deadline
//! moved (an idle connection that received data) and sets a new one. That keeps refreshing a
//! deadline free of work on the hot path.

use std::time::{Duration, Instant};

/// Wheel slots; with the default 50 ms tick one rotation is about 51 s. Longer deadlines wait in
/// their slot for more rotations.
const SLOTS: usize = 1024;

/// Slots and entries [`TimerWheel::next_wait`] looks through for the next timer due, at most
/// (the longest wait is then 256 ticks: 12.8 ms at a load generator's 50 us, 12.8 s at 50 ms).
const LOOKAHEAD: u64 = 256;
const LOOKAHEAD_ENTRIES: usize = 256;

/// The finest tick: a load generator's publish schedule wants well under a millisecond.
pub(crate) const MIN_TICK: Duration = Duration::from_micros(10);

/// A timer wheel with a fixed tick.
#[derive(Debug)]
pub(crate) struct TimerWheel {
    start: Instant,
    tick: Duration,
    /// The next tick to process.
    next_tick: u64,
    slots: Vec<Vec<(u64, u64)>>,
    len: usize,
}

impl TimerWheel {
    /// A wheel whose ticks are `tick` long, starting now.
    pub(crate) fn new(tick: Duration) -> Self {
        Self::starting_at(Instant::now(), tick)
    }

    /// A wheel with an explicit start time (for tests).
    pub(crate) fn starting_at(start: Instant, tick: Duration) -> Self {
        // Finer than this and the wheel's own waits would cost more than they resolve.
        let tick = tick.max(MIN_TICK);
        Self { start, tick, next_tick: 0, slots: vec![Vec::new(); SLOTS], len: 0 }
    }

    /// The number of pending timers.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn tick_of(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.start);
        (since.as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Schedules `key` to fire at or after `at`: at the first tick boundary not before it.
    pub(crate) fn insert(&mut self, at: Instant, key: u64) {
        let since = at.saturating_duration_since(self.start).as_nanos();
        let tick = (since.div_ceil(self.tick.as_nanos()) as u64).max(self.next_tick);
        self.slots[(tick as usize) % SLOTS].push((tick, key));
        self.len += 1;
    }

    /// How long to wait before a timer may be due, or `None` when nothing is pending.
    pub(crate) fn next_wait(&self, now: Instant) -> Option<Duration> {
        if self.len == 0 {
            return None;
        }
        let next = self.start + self.tick_duration(self.next_due_tick());
        Some(next.saturating_duration_since(now))
    }

    /// The first tick that may have a timer due: the first slot from `next_tick` holding an
    /// entry for its own tick (not a later rotation's), looking at most [`LOOKAHEAD`] slots and
    /// [`LOOKAHEAD_ENTRIES`] entries ahead. Waking early is harmless (the turn finds nothing due
    /// and waits again); waking every tick was not: a load generator's 50 us wheel with one
    /// publish due in 50 ms woke 20,000 times a second, a third of a core here.
    fn next_due_tick(&self) -> u64 {
        let mut budget = LOOKAHEAD_ENTRIES;
        for tick in self.next_tick..self.next_tick + LOOKAHEAD {
            let slot = &self.slots[(tick as usize) % SLOTS];
            if slot.len() > budget {
                return tick;
            }
            budget -= slot.len();
            if slot.iter().any(|&(due, _)| due <= tick) {
                return tick;
            }
        }
        self.next_tick + LOOKAHEAD
    }

    fn tick_duration(&self, tick: u64) -> Duration {
        Duration::from_nanos((self.tick.as_nanos() as u64).saturating_mul(tick))
    }

    /// Fires every timer due by `now`, in tick order, calling `fire(key)` for each.
    pub(crate) fn advance(&mut self, now: Instant, mut fire: impl FnMut(u64)) {
        let now_tick = self.tick_of(now);
        // Never scan more than one rotation: every slot is visited once.
        let last = now_tick.min(self.next_tick + SLOTS as u64 - 1);
        while self.next_tick <= last {
            let slot = &mut self.slots[(self.next_tick as usize) % SLOTS];
            let mut i = 0;
            while i < slot.len() {
                if slot[i].0 <= now_tick {
                    let (_, key) = slot.swap_remove(i);
                    self.len -= 1;
                    fire(key);
                } else {
                    i += 1;
                }
            }
            if slot.is_empty() && slot.capacity() > 64 {
                slot.shrink_to_fit();
            }
            self.next_tick += 1;
        }
        if now_tick > last {
            self.next_tick = now_tick + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut wheel = TimerWheel::starting_at(t0, ms(10));
        wheel.insert(t0 + ms(25), 1);
        wheel.insert(t0 + ms(5), 2);
        wheel.insert(t0 + ms(60_000), 3); // more than one rotation away
        assert_eq!(wheel.len(), 3);
        let mut fired = Vec::new();
        wheel.advance(t0 + ms(9), |k| fired.push(k));
        assert!(fired.is_empty(), "not due before its tick");
        wheel.advance(t0 + ms(20), |k| fired.push(k));
        assert_eq!(fired, vec![2]);
        wheel.advance(t0 + ms(40), |k| fired.push(k));
        assert_eq!(fired, vec![2, 1]);
        for step in 1..=70 {
            wheel.advance(t0 + ms(1000 * step), |k| fired.push(k));
        }
        assert_eq!(fired, vec![2, 1, 3]);
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_wait(t0), None);
    }

    #[test]
    fn a_long_sleep_fires_everything_due() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut wheel = TimerWheel::starting_at(t0, ms(1));
        for k in 0..5000 {
            wheel.insert(t0 + ms(k), k);
        }
        let mut fired = 0;
        wheel.advance(t0 + ms(100_000), |_| fired += 1);
        assert_eq!(fired, 5000);
        assert!(wheel.is_empty());
    }

    #[test]
    fn a_deadline_fires_within_one_tick_of_its_time() {
        // A deadline on a tick boundary fires at that tick, not one later: a 1 ms periodic
        // timer on a 1 ms wheel must not run every 2 ms.
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut wheel = TimerWheel::starting_at(t0, us(1000));
        wheel.insert(t0 + us(1000), 1);
        wheel.insert(t0 + us(1001), 2);
        let mut fired = Vec::new();
        wheel.advance(t0 + us(1000), |k| fired.push(k));
        assert_eq!(fired, vec![1]);
        wheel.advance(t0 + us(1999), |k| fired.push(k));
        assert_eq!(fired, vec![1], "never before its deadline");
        wheel.advance(t0 + us(2000), |k| fired.push(k));
        assert_eq!(fired, vec![1, 2]);
    }

    #[test]
    fn sub_millisecond_ticks_resolve_sub_millisecond_deadlines() {
        let t0 = Instant::now();
        let us = Duration::from_micros;
        let mut wheel = TimerWheel::starting_at(t0, us(50));
        wheel.insert(t0 + us(120), 1);
        let mut fired = Vec::new();
        wheel.advance(t0 + us(149), |k| fired.push(k));
        assert!(fired.is_empty());
        wheel.advance(t0 + us(150), |k| fired.push(k));
        assert_eq!(fired, vec![1]);
    }

    #[test]
    fn next_wait_points_at_the_first_timer_due_not_the_next_tick() {
        let t0 = Instant::now();
        let (us, ms) = (Duration::from_micros, Duration::from_millis);
        let mut wheel = TimerWheel::starting_at(t0, ms(50));
        wheel.insert(t0 + ms(120), 7);
        assert_eq!(wheel.next_wait(t0), Some(ms(150)), "the tick boundary at or after 120 ms");
        // A load generator's wheel: 50 us ticks, one publish 5 ms away.
        let mut wheel = TimerWheel::starting_at(t0, us(50));
        wheel.insert(t0 + ms(5), 1);
        assert_eq!(wheel.next_wait(t0), Some(ms(5)));
        // Further than the lookahead: wait the lookahead, then look again.
        let mut far = TimerWheel::starting_at(t0, us(50));
        far.insert(t0 + ms(50), 3);
        assert_eq!(far.next_wait(t0), Some(us(50) * LOOKAHEAD as u32));
        // A timer of a later rotation in a nearer slot does not count as due.
        let mut wheel = TimerWheel::starting_at(t0, ms(1));
        wheel.insert(t0 + ms(SLOTS as u64 + 2), 4); // slot 2, next rotation
        wheel.insert(t0 + ms(7), 5);
        assert_eq!(wheel.next_wait(t0), Some(ms(7)));
        let mut fired = Vec::new();
        wheel.advance(t0 + ms(7), |k| fired.push(k));
        assert_eq!(fired, vec![5]);
    }

    #[test]
    fn a_crowded_wheel_wakes_early_rather_than_scan_it_all() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut wheel = TimerWheel::starting_at(t0, ms(1));
        // A thousand timers a rotation away, all in the next slot.
        for k in 0..1000 {
            wheel.insert(t0 + ms(SLOTS as u64 + 1), k);
        }
        assert_eq!(wheel.next_wait(t0), Some(ms(1)), "more than the budget: wake at that tick");
        let mut fired = 0;
        wheel.advance(t0 + ms(1), |_| fired += 1);
        assert_eq!(fired, 0, "none of them is due yet");
    }
}
