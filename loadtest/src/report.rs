//! The report: a table for people, JSON for tools, an SVG plot for both.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::fmt::Write as _;

use crate::check::{MISS_TOLERANCE, Outcome};
use crate::meta::RunMeta;
use crate::stats::{RESOLUTION_NS, Stats};

/// Everything a run produced.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) scenario: &'static str,
    pub(crate) target: String,
    /// The rate's unit: "messages", "deliveries", "handshakes", "connections".
    pub(crate) unit: &'static str,
    pub(crate) seconds: f64,
    pub(crate) stats: Stats,
    /// The rate the run was asked for, in `unit` per second (none for closed-loop echo).
    pub(crate) target_per_s: Option<f64>,
    /// Connections the run asked for (0 where it opens them as it goes, as churn does).
    pub(crate) requested_connections: u64,
    pub(crate) connections: u64,
    pub(crate) errors: u64,
    pub(crate) tool_cpu_percent: f64,
    pub(crate) tool_threads: usize,
    pub(crate) server: Option<ServerUse>,
    pub(crate) notes: Vec<String>,
    /// The outcome of `--expect`, `--fail-if` and `--strict`.
    pub(crate) checks: Vec<Outcome>,
    pub(crate) meta: RunMeta,
}

/// The server's resource use over the measured window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerUse {
    pub(crate) cpu_percent: f64,
    pub(crate) cpu_us_per_event: f64,
    pub(crate) rss_kib_before: u64,
    pub(crate) rss_kib_after: u64,
}

impl Report {
    pub(crate) fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.stats.count as f64 / self.seconds } else { 0.0 }
    }

    /// Achieved over target rate, where the scenario has a target.
    pub(crate) fn achieved_ratio(&self) -> Option<f64> {
        self.target_per_s.filter(|t| *t > 0.0).map(|t| self.rate() / t)
    }

    /// Whether the run fell short of its target rate by more than the tolerance.
    pub(crate) fn missed_target(&self) -> bool {
        self.achieved_ratio().is_some_and(|r| r < 1.0 - MISS_TOLERANCE)
    }

    /// The failed checks, if any.
    pub(crate) fn failed_checks(&self) -> usize {
        self.checks.iter().filter(|c| c.failed).count()
    }

    fn percentiles(h: &Histogram<u64>) -> Value {
        if h.is_empty() {
            return Value::Null;
        }
        json!({
            "p50": h.value_at_quantile(0.50), "p90": h.value_at_quantile(0.90),
            "p99": h.value_at_quantile(0.99), "p99_9": h.value_at_quantile(0.999), "max": h.max(),
        })
    }

    pub(crate) fn to_json(&self) -> Value {
        let server = self.server.map(|s| {
            json!({ "cpu_percent": s.cpu_percent, "cpu_us_per_event": s.cpu_us_per_event,
                    "rss_kib_before": s.rss_kib_before, "rss_kib_after": s.rss_kib_after })
        });
        let extra: serde_json::Map<String, Value> =
            self.stats.extra.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| json!({ "check": c.check, "failed": c.failed, "detail": c.detail }))
            .collect();
        let mut out = json!({
            "scenario": self.scenario, "target": self.target, "unit": self.unit,
            "seconds": self.seconds, "count": self.stats.count, "rate_per_s": self.rate(),
            "target_rate_per_s": self.target_per_s, "achieved_ratio": self.achieved_ratio(),
            "missed_target": self.missed_target(),
            "warmup_count": self.stats.warmup, "tail_count": self.stats.tail,
            "latency_us": Self::percentiles(&self.stats.latency),
            "latency_resolution_us": RESOLUTION_NS as f64 / 1000.0,
            "schedule_lateness_us": Self::percentiles(&self.stats.lateness),
            "timeline_per_s": self.stats.timeline,
            "requested_connections": self.requested_connections, "connections": self.connections,
            "errors": self.errors, "tool_cpu_percent": self.tool_cpu_percent,
            "tool_threads": self.tool_threads, "server": server, "extra": extra, "notes": self.notes,
            "checks": checks,
        });
        if let (Value::Object(map), Value::Object(meta)) = (&mut out, self.meta.to_json()) {
            map.extend(meta);
        }
        out
    }

    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ringws-load {} -> {}", self.scenario, self.target);
        let _ = writeln!(out, "  connections      {}", self.connections);
        let _ = writeln!(
            out,
            "  {:<16} {} in {:.2} s = {:.0}/s",
            self.unit,
            self.stats.count,
            self.seconds,
            self.rate()
        );
        if let (Some(target), Some(ratio)) = (self.target_per_s, self.achieved_ratio()) {
            let verdict = if self.missed_target() { "  << MISSED THE TARGET" } else { "" };
            let _ = writeln!(
                out,
                "  target rate      {target:.0}/s, achieved {:.0}/s = {:.1} %{verdict}",
                self.rate(),
                ratio * 100.0
            );
        }
        if self.stats.warmup + self.stats.tail > 0 {
            let _ = writeln!(
                out,
                "  not measured     {} in the warm-up, {} in the tail",
                self.stats.warmup, self.stats.tail
            );
        }
        let h = &self.stats.latency;
        if !h.is_empty() {
            let _ = writeln!(
                out,
                "  latency (us)     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.9),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max()
            );
        }
        let late = &self.stats.lateness;
        if !late.is_empty() {
            // The sender's own delay behind its schedule is inside every latency above: it is
            // the floor this tool puts under them.
            let _ = writeln!(
                out,
                "  sender late (us) p50 {}  p99 {}  max {}  (the tool's floor, inside the latencies)",
                late.value_at_quantile(0.5),
                late.value_at_quantile(0.99),
                late.max()
            );
        }
        for (k, v) in &self.stats.extra {
            let _ = writeln!(out, "  {k:<16} {v:.2}");
        }
        if let Some(s) = self.server {
            let _ = writeln!(
                out,
                "  server           cpu {:.0}%  {:.2} us per {}  rss {} -> {} KiB",
                s.cpu_percent,
                s.cpu_us_per_event,
                singular(self.unit),
                s.rss_kib_before,
                s.rss_kib_after
            );
        }
        let _ = writeln!(out, "  errors           {}", self.errors);
        let _ = writeln!(
            out,
            "  load tool cpu    {:.0}% of {} thread(s)",
            self.tool_cpu_percent, self.tool_threads
        );
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        for c in &self.checks {
            let _ = writeln!(out, "  {c}");
        }
        out
    }

    /// A self-contained SVG: throughput per second on the left, the latency distribution
    /// (percentile against latency, log scale) on the right.
    pub(crate) fn svg(&self) -> String {
        let (w, h, pad) = (900.0, 320.0, 40.0);
        let panel = (w - 3.0 * pad) / 2.0;
        let mut svg = format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='11'>\
             <rect width='100%' height='100%' fill='white'/>\
             <text x='{pad}' y='18' font-size='13'>ringws-load {} {}: {} per second</text>",
            self.scenario, self.target, self.unit
        );
        let tl = &self.stats.timeline;
        let max = tl.iter().copied().max().unwrap_or(1).max(1) as f64;
        let bar = panel / tl.len().max(1) as f64;
        for (i, v) in tl.iter().enumerate() {
            let bh = (h - 2.0 * pad) * (*v as f64 / max);
            let _ = write!(
                svg,
                "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{bh:.1}' fill='#4a7bd0'/>",
                pad + i as f64 * bar,
                h - pad - bh,
                (bar - 1.0).max(1.0)
            );
        }
        let _ = write!(
            svg,
            "<text x='{pad}' y='{}'>0 .. {} s; peak {max:.0}/s</text>",
            h - pad + 16.0,
            tl.len()
        );
        let hist = &self.stats.latency;
        if !hist.is_empty() {
            let x0 = 2.0 * pad + panel;
            let (lo, hi) = ((hist.min().max(1) as f64).ln(), (hist.max().max(2) as f64).ln());
            let span = (hi - lo).max(1e-9);
            let plot_h = h - 2.0 * pad;
            // x: quantiles packed towards the tail (each step of 0.1 halves the remaining
            // fraction), so p99.9 has as much room as p50; y: latency on a log scale.
            let x_of = |q: f64| x0 + panel * ((-(1.0 - q).max(1e-6).log2()) / 10.0).min(1.0);
            let y_of = |v: u64| h - pad - plot_h * (((v.max(1) as f64).ln() - lo) / span);
            let mut points = String::new();
            for i in 0..=100 {
                let q = 1.0 - 0.5f64.powf(i as f64 / 10.0);
                let v = hist.value_at_quantile(q);
                let _ = write!(points, "{:.1},{:.1} ", x_of(q), y_of(v));
            }
            let _ = write!(
                svg,
                "<polyline fill='none' stroke='#d04a4a' stroke-width='2' points='{points}'/>"
            );
            for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999)] {
                let v = hist.value_at_quantile(q);
                let (x, y) = (x_of(q), y_of(v));
                let _ = write!(
                    svg,
                    "<circle cx='{x:.1}' cy='{y:.1}' r='3' fill='#d04a4a'/><text x='{:.1}' y='{:.1}'>{label} {v} us</text>",
                    (x - 30.0).min(w - 120.0),
                    y - 8.0
                );
            }
            let _ = write!(
                svg,
                "<text x='{x0}' y='{}'>latency by percentile (log scale, {} .. {} us)</text>",
                h - pad + 16.0,
                hist.min(),
                hist.max()
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// "deliveries" -> "delivery", "messages" -> "message".
fn singular(unit: &str) -> &str {
    match unit {
        "deliveries" => "delivery",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}
