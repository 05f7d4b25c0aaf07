//! What the engine counts, per worker, and how it is read.
//!
//! Each worker writes only its own [`WorkerMetrics`]: a counter is bumped with a relaxed load
//! and store, never a locked read-modify-write, and no cache line is written by two cores. A
//! scrape (or [`crate::ServerHandle::metrics`]) sums the workers' figures with relaxed loads:
//! each figure is exact, two figures are not one snapshot. `render` turns them into the
//! Prometheus text format through `prometheus-client`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

mod render;

pub(crate) use render::{HubCollector, render};

/// A counter (or gauge) written by one thread only, read by any.
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicU64);

impl Count {
    /// Adds `n` (the owning worker only: a plain load and store, no lock prefix).
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n` (a gauge going down; the owning worker only).
    pub(crate) fn sub(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).saturating_sub(n), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Close codes counted one by one: 1000 to 1015; everything else (3000-4999) as "other".
pub(crate) const CLOSE_CODES: std::ops::RangeInclusive<u16> = 1000..=1015;

/// The handshake-time buckets, in milliseconds (the engine's clock ticks in milliseconds).
pub(crate) const HANDSHAKE_BUCKETS_MS: [u64; 12] =
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// A route's traffic.
#[derive(Debug, Default)]
pub(crate) struct RouteCounts {
    pub(crate) received: Count,
    pub(crate) received_bytes: Count,
    pub(crate) sent: Count,
    pub(crate) sent_bytes: Count,
}

/// One worker's figures.
#[derive(Debug)]
pub(crate) struct WorkerMetrics {
    /// WebSocket connections open on this worker (a gauge).
    pub(crate) open: Count,
    /// Upgrades answered 101.
    pub(crate) upgrades: Count,
    /// Upgrades refused, by HTTP status (index = status, 0..600).
    pub(crate) refused: Box<[Count]>,
    /// Plain HTTP answers (static routes, 404, refusals), by status.
    pub(crate) http: Box<[Count]>,
    /// WebSocket connections closed, by the code `on_close` reports: 1000..=1015, then other.
    pub(crate) closed: Box<[Count]>,
    /// Time from accept to the 101, per bucket of [`HANDSHAKE_BUCKETS_MS`] (+Inf last), and
    /// the sum in milliseconds.
    pub(crate) handshake: Box<[Count]>,
    pub(crate) handshake_ms: Count,
    /// Traffic per route (index = route).
    pub(crate) routes: Box<[RouteCounts]>,
    /// Publishes made on this worker (by its connections' handlers).
    pub(crate) publishes: Count,
    /// Publish frames queued to subscribers here.
    pub(crate) deliveries: Count,
    /// Publish frames dropped for subscribers over their backpressure limit.
    pub(crate) dropped: Count,
    /// Subscribers closed (1008) by the slow-consumer policy.
    pub(crate) slow_closed: Count,
    /// Connections that went over their backpressure limit and drained back (`on_drain`).
    pub(crate) drained: Count,
    pub(crate) pings: Count,
    pub(crate) idle_timeouts: Count,
    /// Connections failed for a protocol error (our close frame with 1002, 1007, 1009, ...).
    pub(crate) protocol_errors: Count,
    /// Bytes reserved by partial messages on this worker (a gauge; see `Limits::memory_budget`).
    pub(crate) assembling: Count,
    /// Connections closed with 1013 because their message did not fit the memory budget.
    pub(crate) budget_closes: Count,
    /// Sends and publish deliveries dropped because the worker was over its memory budget.
    pub(crate) budget_drops: Count,
}

fn counts(n: usize) -> Box<[Count]> {
    (0..n).map(|_| Count::default()).collect()
}

impl WorkerMetrics {
    pub(crate) fn new(routes: usize) -> Self {
        Self {
            open: Count::default(),
            upgrades: Count::default(),
            refused: counts(600),
            http: counts(600),
            closed: counts(CLOSE_CODES.len() + 1),
            handshake: counts(HANDSHAKE_BUCKETS_MS.len() + 1),
            handshake_ms: Count::default(),
            routes: (0..routes).map(|_| RouteCounts::default()).collect(),
            publishes: Count::default(),
            deliveries: Count::default(),
            dropped: Count::default(),
            slow_closed: Count::default(),
            drained: Count::default(),
            pings: Count::default(),
            idle_timeouts: Count::default(),
            protocol_errors: Count::default(),
            assembling: Count::default(),
            budget_closes: Count::default(),
            budget_drops: Count::default(),
        }
    }

    /// An HTTP answer with `status` (refused: the answer to an upgrade request).
    pub(crate) fn answered(&self, status: u16, refused: bool) {
        let i = usize::from(status).min(599);
        self.http[i].add(1);
        if refused {
            self.refused[i].add(1);
        }
    }

    /// A WebSocket connection closed with `code`.
    pub(crate) fn closed(&self, code: u16) {
        let i = if CLOSE_CODES.contains(&code) { usize::from(code - 1000) } else { 16 };
        self.closed[i].add(1);
        self.open.sub(1);
    }

    /// An upgrade answered 101, `ms` after its connection was accepted.
    pub(crate) fn upgraded(&self, ms: u64) {
        self.upgrades.add(1);
        self.open.add(1);
        let bucket = HANDSHAKE_BUCKETS_MS.iter().position(|&b| ms <= b);
        self.handshake[bucket.unwrap_or(HANDSHAKE_BUCKETS_MS.len())].add(1);
        self.handshake_ms.add(ms);
    }
}

/// Every figure of a server: its workers' engine figures and, once started, the driver's.
#[derive(Debug)]
pub(crate) struct Hub {
    pub(crate) workers: Vec<Arc<WorkerMetrics>>,
    pub(crate) routes: Vec<String>,
    pub(crate) driver: OnceLock<Arc<[Arc<ringws_uring::Counters>]>>,
    /// Publishes made through `ServerHandle` (from any thread: a shared atomic, off the hot path).
    pub(crate) handle_publishes: AtomicU64,
    /// The bridge to other nodes' figures (zero without one).
    pub(crate) bridge: Arc<crate::bridge::BridgeCounters>,
}

impl Hub {
    pub(crate) fn new(workers: usize, routes: Vec<String>) -> Self {
        let n = routes.len();
        Self {
            workers: (0..workers).map(|_| Arc::new(WorkerMetrics::new(n))).collect(),
            routes,
            driver: OnceLock::new(),
            handle_publishes: AtomicU64::new(0),
            bridge: Arc::default(),
        }
    }

    pub(super) fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().map(|w| f(w)).sum()
    }

    pub(super) fn driver_sum(&self, f: impl Fn(&ringws_uring::Counters) -> u64) -> u64 {
        self.driver.get().map_or(0, |d| d.iter().map(|c| f(c)).sum())
    }

    /// Nonzero entries of a by-index table summed over workers, keyed by `key(index)`.
    pub(super) fn table(
        &self,
        pick: impl Fn(&WorkerMetrics) -> &[Count],
        key: impl Fn(usize) -> u16,
    ) -> BTreeMap<u16, u64> {
        let mut out = BTreeMap::new();
        for w in &self.workers {
            for (i, c) in pick(w).iter().enumerate() {
                let n = c.get();
                if n > 0 {
                    *out.entry(key(i)).or_insert(0) += n;
                }
            }
        }
        out
    }

    /// The figures summed over workers.
    pub(crate) fn snapshot(&self) -> Metrics {
        let route = |f: fn(&RouteCounts) -> u64| self.sum(|w| w.routes.iter().map(f).sum());
        let relaxed = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Metrics {
            connections_open: self.sum(|w| w.open.get()),
            tcp_accepted: self.driver_sum(|c| relaxed(&c.accepted)),
            upgrades: self.sum(|w| w.upgrades.get()),
            refused_by_status: self.table(|w| &w.refused, |i| i as u16),
            closed_by_code: self.table(|w| &w.closed, close_code_of),
            messages_received: route(|r| r.received.get()),
            bytes_received: route(|r| r.received_bytes.get()),
            messages_sent: route(|r| r.sent.get()),
            bytes_sent: route(|r| r.sent_bytes.get()),
            publishes: self.sum(|w| w.publishes.get()) + relaxed(&self.handle_publishes),
            deliveries: self.sum(|w| w.deliveries.get()),
            bridge_published: relaxed(&self.bridge.published),
            bridge_not_sent: relaxed(&self.bridge.not_sent),
            bridge_dropped: relaxed(&self.bridge.dropped),
            bridge_received: relaxed(&self.bridge.received),
            bridge_invalid: relaxed(&self.bridge.invalid),
            bridge_subjects: relaxed(&self.bridge.subjects),
            bridge_connected: relaxed(&self.bridge.connected),
            deliveries_dropped: self.sum(|w| w.dropped.get()),
            slow_consumers_closed: self.sum(|w| w.slow_closed.get()),
            backpressure_drained: self.sum(|w| w.drained.get()),
            queued_bytes: self.driver_sum(|c| relaxed(&c.queued_bytes)),
            pings_sent: self.sum(|w| w.pings.get()),
            idle_timeouts: self.sum(|w| w.idle_timeouts.get()),
            protocol_errors: self.sum(|w| w.protocol_errors.get()),
            assembling_bytes: self.sum(|w| w.assembling.get()),
            budget_closes: self.sum(|w| w.budget_closes.get()),
            budget_drops: self.sum(|w| w.budget_drops.get()),
        }
    }
}

/// The close code of row `i` of a closed-by-code table (0 for "other").
pub(crate) fn close_code_of(i: usize) -> u16 {
    if i < CLOSE_CODES.len() { 1000 + i as u16 } else { 0 }
}

/// A server's figures, summed over its workers ([`crate::ServerHandle::metrics`]): the same
/// numbers `/metrics` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// WebSocket connections open.
    pub connections_open: u64,
    /// TCP connections accepted (WebSocket or plain HTTP).
    pub tcp_accepted: u64,
    /// Upgrades answered 101.
    pub upgrades: u64,
    /// Upgrades refused, by HTTP status.
    pub refused_by_status: BTreeMap<u16, u64>,
    /// WebSocket connections closed, by the code `on_close` saw (0: a code outside 1000-1015).
    pub closed_by_code: BTreeMap<u16, u64>,
    /// Data messages received, over all routes.
    pub messages_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Data messages sent by handlers and `ServerHandle` (publishes not included).
    pub messages_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Publishes made (by handlers and through `ServerHandle`).
    pub publishes: u64,
    /// Publish frames queued to subscribers.
    pub deliveries: u64,
    /// Bridge (NATS): publishes of this node handed to the broker.
    pub bridge_published: u64,
    /// Bridge: publishes not sent, the broker being unreachable.
    pub bridge_not_sent: u64,
    /// Bridge: publishes dropped, the queue to a slow broker being full.
    pub bridge_dropped: u64,
    /// Bridge: publishes of other nodes delivered here.
    pub bridge_received: u64,
    /// Bridge: broker messages that were not one data frame (dropped).
    pub bridge_invalid: u64,
    /// Bridge: broker subscriptions held (one per topic with subscribers here).
    pub bridge_subjects: u64,
    /// Bridge: 1 while connected to the broker.
    pub bridge_connected: u64,
    /// Publish frames dropped for subscribers over their backpressure limit.
    pub deliveries_dropped: u64,
    /// Subscribers closed (1008) by the slow-consumer policy.
    pub slow_consumers_closed: u64,
    /// Connections that went over their backpressure limit and drained back.
    pub backpressure_drained: u64,
    /// Bytes queued for sending now, over all connections.
    pub queued_bytes: u64,
    /// Pings the server sent (automatic keep-alive).
    pub pings_sent: u64,
    /// Connections dropped by the idle timeout.
    pub idle_timeouts: u64,
    /// Connections failed for a protocol error.
    pub protocol_errors: u64,
    /// Bytes reserved now by partial messages (announced sizes), over all workers.
    pub assembling_bytes: u64,
    /// Connections closed with 1013: their message did not fit the memory budget.
    pub budget_closes: u64,
    /// Sends and deliveries dropped while a worker was over its memory budget.
    pub budget_drops: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_over_workers_and_tables_keep_their_keys() {
        let hub = Hub::new(2, vec!["/echo".into()]);
        hub.workers[0].upgraded(3);
        hub.workers[1].upgraded(7000);
        hub.workers[0].closed(1000);
        hub.workers[1].closed(4001);
        hub.workers[0].answered(404, true);
        hub.workers[1].answered(404, true);
        hub.workers[1].answered(200, false);
        hub.workers[1].routes[0].received.add(5);
        let m = hub.snapshot();
        assert_eq!(m.upgrades, 2);
        assert_eq!(m.connections_open, 0);
        assert_eq!(m.closed_by_code, BTreeMap::from([(0, 1), (1000, 1)]));
        assert_eq!(m.refused_by_status, BTreeMap::from([(404, 2)]));
        assert_eq!(m.messages_received, 5);
        let w = &hub.workers[0];
        assert_eq!(w.handshake[2].get(), 1, "3 ms falls in the 5 ms bucket");
        assert_eq!(hub.workers[1].handshake[HANDSHAKE_BUCKETS_MS.len()].get(), 1, "+Inf");
    }
}
