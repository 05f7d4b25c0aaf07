//! The Prometheus text format of a [`Hub`], through `prometheus-client`: the hub is a
//! `Collector` that reads the workers' figures when scraped, so nothing is copied into the
//! library's own metric types on the hot path; an embedder's own metrics sit in the same
//! registry.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{HANDSHAKE_BUCKETS_MS, Hub, RouteCounts};

/// The hub as a collector.
#[derive(Debug)]
pub(crate) struct HubCollector(pub(crate) Arc<Hub>);

/// Renders `registry` (the hub's collector and the embedder's metrics) as Prometheus text.
pub(crate) fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry);
    out
}

type Fmt = Result<(), std::fmt::Error>;

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> Fmt {
    let metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> Fmt {
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value as i64).encode(metric)
}

/// A counter (or gauge, by `kind`) with one label, a sample per key.
fn family<K: ToString>(
    e: &mut DescriptorEncoder<'_>,
    kind: MetricType,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (K, u64)>,
) -> Fmt {
    let mut metric = e.encode_descriptor(name, help, None, kind)?;
    for (key, value) in samples {
        let labels = [(label, key.to_string())];
        let sample = metric.encode_family(&labels)?;
        match kind {
            MetricType::Gauge => ConstGauge::new(value as i64).encode(sample)?,
            _ => ConstCounter::new(value).encode(sample)?,
        }
    }
    Ok(())
}

/// A counter with one label.
fn labelled<K: ToString>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    samples: impl IntoIterator<Item = (K, u64)>,
) -> Fmt {
    family(e, MetricType::Counter, name, help, label, samples)
}

impl Hub {
    fn per_route(&self, f: fn(&RouteCounts) -> u64) -> Vec<(String, u64)> {
        (0..self.routes.len())
            .map(|r| {
                let sum = self.workers.iter().map(|w| f(&w.routes[r])).sum();
                (self.routes[r].clone(), sum)
            })
            .collect()
    }

    fn per_worker(&self, f: impl Fn(&ringws_uring::Counters) -> u64) -> Vec<(usize, u64)> {
        let driver = self.driver.get().map(|d| d.iter().map(|c| f(c)).collect::<Vec<_>>());
        driver.unwrap_or_default().into_iter().enumerate().collect()
    }
}

impl Collector for HubCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Fmt {
        let hub = &self.0;
        let m = hub.snapshot();
        let e = &mut e;
        gauge(e, "ringws_connections_open", "WebSocket connections open", m.connections_open)?;
        counter(e, "ringws_tcp_accepted", "TCP connections accepted", m.tcp_accepted)?;
        counter(e, "ringws_upgrades", "Upgrades answered 101", m.upgrades)?;
        let refused = m.refused_by_status.iter().map(|(s, n)| (*s, *n));
        labelled(e, "ringws_upgrades_refused", "Upgrades refused, by status", "status", refused)?;
        let http = hub.table(|w| &w.http, |i| i as u16);
        labelled(e, "ringws_http_responses", "Plain HTTP answers, by status", "status", http)?;
        let closed = m
            .closed_by_code
            .iter()
            .map(|(&c, &n)| (if c == 0 { "other".to_owned() } else { c.to_string() }, n));
        let help = "WebSocket connections closed, by close code (1006: no close frame)";
        labelled(e, "ringws_connections_closed", help, "code", closed)?;
        let mut buckets: Vec<(f64, u64)> = HANDSHAKE_BUCKETS_MS
            .iter()
            .enumerate()
            .map(|(i, ms)| (*ms as f64 / 1000.0, hub.sum(|w| w.handshake[i].get())))
            .collect();
        let over = hub.sum(|w| w.handshake[HANDSHAKE_BUCKETS_MS.len()].get());
        buckets.push((f64::INFINITY, over));
        let help = "Time from accept to the 101 (millisecond clock)";
        let mut metric = e.encode_descriptor(
            "ringws_handshake_duration",
            help,
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        let sum = hub.sum(|w| w.handshake_ms.get()) as f64 / 1000.0;
        metric.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            sum, m.upgrades, &buckets, None,
        )?;
        let help = "Data messages received, by route";
        labelled(
            e,
            "ringws_messages_received",
            help,
            "route",
            hub.per_route(|r| r.received.get()),
        )?;
        let help = "Payload bytes of data messages received, by route";
        let bytes = hub.per_route(|r| r.received_bytes.get());
        labelled(e, "ringws_received_bytes", help, "route", bytes)?;
        let help = "Data messages sent by handlers and ServerHandle, by route";
        labelled(e, "ringws_messages_sent", help, "route", hub.per_route(|r| r.sent.get()))?;
        let help = "Payload bytes of data messages sent, by route";
        labelled(e, "ringws_sent_bytes", help, "route", hub.per_route(|r| r.sent_bytes.get()))?;
        counter(e, "ringws_publishes", "Publishes made", m.publishes)?;
        counter(e, "ringws_deliveries", "Publish frames queued to subscribers", m.deliveries)?;
        let help = "Bridge: publishes of this node handed to the broker";
        counter(e, "ringws_bridge_published", help, m.bridge_published)?;
        let help = "Bridge: publishes not sent, the broker being unreachable";
        counter(e, "ringws_bridge_not_sent", help, m.bridge_not_sent)?;
        let help = "Bridge: publishes dropped, the queue to the broker being full";
        counter(e, "ringws_bridge_dropped", help, m.bridge_dropped)?;
        let help = "Bridge: publishes of other nodes delivered here";
        counter(e, "ringws_bridge_received", help, m.bridge_received)?;
        let help = "Bridge: broker messages that were not one data frame";
        counter(e, "ringws_bridge_invalid", help, m.bridge_invalid)?;
        let help = "Bridge: broker subscriptions held";
        gauge(e, "ringws_bridge_subjects", help, m.bridge_subjects)?;
        let help = "Bridge: 1 while connected to the broker";
        gauge(e, "ringws_bridge_connected", help, m.bridge_connected)?;
        let help = "Publish frames dropped for subscribers over their backpressure limit";
        counter(e, "ringws_deliveries_dropped", help, m.deliveries_dropped)?;
        let help = "Subscribers closed (1008) by the slow-consumer policy";
        counter(e, "ringws_slow_consumers_closed", help, m.slow_consumers_closed)?;
        let help = "Connections over their backpressure limit that drained back";
        counter(e, "ringws_backpressure_drained", help, m.backpressure_drained)?;
        gauge(e, "ringws_queued_bytes", "Bytes queued for sending", m.queued_bytes)?;
        counter(e, "ringws_pings_sent", "Keep-alive pings sent", m.pings_sent)?;
        counter(e, "ringws_idle_timeouts", "Connections dropped idle", m.idle_timeouts)?;
        let help = "Connections failed for a protocol error";
        counter(e, "ringws_protocol_errors", help, m.protocol_errors)?;
        let help = "Bytes reserved by partial messages (their announced sizes)";
        gauge(e, "ringws_assembling_bytes", help, m.assembling_bytes)?;
        let help = "Connections closed with 1013: their message did not fit the memory budget";
        counter(e, "ringws_budget_closes", help, m.budget_closes)?;
        let help = "Sends and deliveries dropped while a worker was over its memory budget";
        counter(e, "ringws_budget_drops", help, m.budget_drops)?;
        let relaxed = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let help = "Receives re-armed after the buffer ring ran empty (ENOBUFS)";
        counter(e, "ringws_enobufs", help, hub.driver_sum(|c| relaxed(&c.enobufs)))?;
        let help = "Times accepting paused with every descriptor slot in use";
        counter(e, "ringws_accept_limit_hits", help, hub.driver_sum(|c| relaxed(&c.limit_hits)))?;
        let help = "Times a submission found its ring's submission queue full";
        counter(e, "ringws_sq_full", help, hub.driver_sum(|c| relaxed(&c.sq_full)))?;
        let help = "Receive buffers held by the driver at the end of its last turn, by worker";
        let held = hub.per_worker(|c| relaxed(&c.buffers_held));
        family(e, MetricType::Gauge, "ringws_recv_buffers_held", help, "worker", held)?;
        let help = "Receive buffers in the buffer rings, by worker";
        let total = hub.per_worker(|c| relaxed(&c.buffers_total));
        family(e, MetricType::Gauge, "ringws_recv_buffers", help, "worker", total)?;
        let help =
            "TCP connections held by the driver (WebSocket, handshaking, plain HTTP), by worker";
        family(
            e,
            MetricType::Gauge,
            "ringws_tcp_connections",
            help,
            "worker",
            hub.per_worker(|c| c.live()),
        )?;
        let help = "Timer-wheel entries pending";
        gauge(e, "ringws_timers_pending", help, hub.driver_sum(|c| relaxed(&c.timers)))?;
        let help = "Worker loop turns, by worker";
        labelled(e, "ringws_loop_turns", help, "worker", hub.per_worker(|c| relaxed(&c.turns)))?;
        let help = "io_uring_enter calls, by worker";
        labelled(
            e,
            "ringws_io_uring_enters",
            help,
            "worker",
            hub.per_worker(|c| relaxed(&c.enters)),
        )?;
        let mut metric = e.encode_descriptor(
            "ringws_loop_busy",
            "Time the worker loop spent working, not waiting for events, by worker",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for (worker, ns) in hub.per_worker(|c| relaxed(&c.busy_ns)) {
            let labels = [("worker", worker.to_string())];
            ConstCounter::new(ns as f64 / 1e9).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
