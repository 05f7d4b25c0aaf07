//! What a worker counts, readable from any thread, and what it reports when it exits.

use super::prelude::*;

/// Counters a worker keeps, readable from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections closed (slot freed).
    pub closed: AtomicU64,
    /// Multishot receives ended by an empty buffer ring, and re-armed.
    pub enobufs: AtomicU64,
    /// Completions that named a slot generation no longer live.
    pub stale: AtomicU64,
    /// Times accepting stopped because every ring's table was at its limit.
    pub limit_hits: AtomicU64,
    /// Dialed sockets given TCP_NODELAY.
    pub nodelay_set: AtomicU64,
    /// Socket options (TCP_NODELAY on dialed sockets) the kernel refused.
    pub sockopt_failed: AtomicU64,
    /// Timer-wheel entries pending (a gauge, as of the end of the last loop turn).
    pub timers: AtomicU64,
    /// Loop turns (each waits on the home ring once).
    pub turns: AtomicU64,
    /// io_uring_enter calls: the wait, and submissions outside it (sub-rings with work, a full
    /// submission queue, deferred work the kernel flagged).
    pub enters: AtomicU64,
    /// Bytes queued for sending or in flight over all connections (a gauge, as of the end of
    /// the last loop turn).
    pub queued_bytes: AtomicU64,
    /// Nanoseconds the loop spent working, not waiting in the kernel for events.
    pub busy_ns: AtomicU64,
    /// Times a submission found its ring's submission queue full (and submitted to make room).
    pub sq_full: AtomicU64,
    /// Receive buffers the driver holds at the end of a turn (a gauge): against
    /// `buffers_total`, the buffer rings' occupancy.
    pub buffers_held: AtomicU64,
    /// Receive buffers in the worker's buffer rings.
    pub buffers_total: AtomicU64,
}

impl Counters {
    /// Connections open now. `closed` is read first: a connection is counted accepted before
    /// it can be counted closed, so `accepted` read later is never behind it (read the other
    /// way round, a close landing between the loads made the difference negative).
    pub fn live(&self) -> u64 {
        let closed = self.closed.load(Ordering::Acquire);
        let accepted = self.accepted.load(Ordering::Acquire);
        accepted.saturating_sub(closed)
    }
}

/// A snapshot of a worker's state when it exits: what the leak tests check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitReport {
    /// Connections still in their slots (should be zero).
    pub live: usize,
    /// Provided buffers still held by the driver (should be zero).
    pub held_buffers: usize,
    /// Operations still in flight (should be zero).
    pub ops_in_flight: usize,
    /// Rings this worker drove.
    pub rings: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn live_never_goes_below_zero_while_connections_close() {
        // One connection at a time opens and closes on a worker while another thread reads the
        // live count. The two loads are not one snapshot, so the count may run ahead by the
        // opens between them, but never below zero: reading `accepted` before `closed` let a
        // close land between the loads, and the subtraction wrapped (or panicked in a debug
        // build).
        let counters = Arc::new(Counters::default());
        let worker = counters.clone();
        let churn = std::thread::spawn(move || {
            for _ in 0..2_000_000 {
                worker.accepted.fetch_add(1, Ordering::Release);
                worker.closed.fetch_add(1, Ordering::Release);
            }
        });
        while !churn.is_finished() {
            let live = counters.live();
            assert!(live < 1 << 40, "live connections read as {live}");
        }
        churn.join().unwrap();
        assert_eq!(counters.live(), 0);
    }
}
