//! What every worker of a server reads: the routes' settings and patterns, static answers,
//! limits, trusted proxies, the clock; and the few counts they share (open connections, topic
//! subscribers, whether the server is stopping).

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use prometheus_client::registry::Registry;
use std::sync::Arc;

use crate::config::{Limits, RouteOptions};
use crate::deadline::Clock;
use crate::metrics::Hub;
use crate::proxy::Trusted;
use crate::pubsub::Counts;
use crate::router::Routes;

/// Read-only configuration every worker shares, plus the open-connection count.
pub(crate) struct Shared {
    /// Each route's settings, by route index.
    pub(crate) route_options: Vec<RouteOptions>,
    /// The routes' patterns, matched.
    pub(crate) router: Routes,
    pub(crate) statics: Vec<(String, StaticResponse)>,
    pub(crate) origins: Option<Vec<String>>,
    /// Trusted proxies and where they put the client's address.
    pub(crate) proxy: Option<Trusted>,
    pub(crate) limits: Limits,
    /// Open WebSocket connections over all workers (for `max_connections` and metrics).
    pub(crate) open: AtomicUsize,
    /// Subscribers per topic over all workers.
    pub(crate) counts: Counts,
    /// The clock connections' deadlines are kept on.
    pub(crate) clock: Clock,
    /// `ServerHandle::shutdown` was called: handles refuse further messages.
    pub(crate) stopping: AtomicBool,
    /// Every worker's figures.
    pub(crate) metrics: Arc<Hub>,
    /// What `/metrics` renders: the hub, and the embedder's own metrics.
    pub(crate) registry: Registry,
    /// Where the metrics are served (`None`: not served).
    pub(crate) metrics_path: Option<String>,
    /// Where the status page is served (`None`: not served).
    pub(crate) status_path: Option<String>,
    /// Where the health check is answered (`None`: not answered).
    pub(crate) health_path: Option<String>,
    /// Draining: the health check answers 503 and upgrades are refused, so a load balancer
    /// takes this node out while its connections carry on.
    pub(crate) draining: AtomicBool,
    /// Each worker's share of `limits.memory_budget`.
    pub(crate) budget_share: u64,
    /// Log every upgrade answered (`ringws::access`).
    pub(crate) access_log: bool,
    /// wss://: the TLS configuration new connections take (replaced by
    /// `ServerHandle::set_tls`; open connections keep the one they started with).
    pub(crate) tls: Option<std::sync::RwLock<Arc<rustls::ServerConfig>>>,
    /// The bridge to other nodes (`App::bridge`), if any.
    pub(crate) bridge: Option<Arc<dyn crate::bridge::Broker>>,
    /// The driver's listener that speaks TLS (0: the main address; 1: `App::tls_on`'s).
    pub(crate) tls_listener: usize,
}

impl Shared {
    /// Route `route`'s idle timeout (zero: none).
    pub(crate) fn idle_timeout(&self, route: usize) -> std::time::Duration {
        self.route_options[route].idle_timeout.unwrap_or(self.limits.idle_timeout)
    }

    /// Route `route`'s largest message.
    pub(crate) fn max_message_size(&self, route: usize) -> u64 {
        self.route_options[route].max_message_size.unwrap_or(self.limits.max_message_size)
    }

    pub(crate) fn route_of(&self, path: &str) -> Option<usize> {
        self.router.at(path).map(|m| m.route)
    }

    /// An Origin passes when no allow-list is set, when the request has no Origin (not a
    /// browser: cross-site hijacking needs a browser), or when it is on the list.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match (&self.origins, origin) {
            (None, _) | (_, None) => true,
            (Some(list), Some(o)) => list.iter().any(|a| a.eq_ignore_ascii_case(o)),
        }
    }
}

/// A connection already holding this much queued is the one refused when its worker is over
/// its memory budget: a small subscriber's next message still goes.
pub(crate) const FAIR_SHARE: usize = 64 << 10;

impl Shared {
    /// Whether a data send to a connection holding `buffered` bytes is refused: its worker
    /// (holding `queued` in send queues) is over its share of the memory budget, and this
    /// connection holds its fair share already. Counted.
    pub(crate) fn refuses_send(&self, worker: usize, queued: usize, buffered: usize) -> bool {
        if buffered < FAIR_SHARE {
            return false;
        }
        let Some(metrics) = self.metrics.workers.get(worker) else { return false };
        let over = metrics.assembling.get() + queued as u64 > self.budget_share;
        if over {
            metrics.budget_drops.add(1);
        }
        over
    }
}

/// A static route's answer.
pub(crate) struct StaticResponse {
    pub(crate) content_type: String,
    pub(crate) body: Bytes,
}
