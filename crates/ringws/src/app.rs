//! The builder users start from, and the running server with its handle.

use bytes::Bytes;
use ringws_proto::CloseCode;
use ringws_uring::ConnId;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::{Limits, RouteOptions};
use crate::deadline::Clock;
use crate::engine::Engine;
use crate::handler::Handler;
use crate::sending::{Compress, Kind, sendable};

use crate::mailbox::EngineMsg;
use crate::metrics::{Hub, HubCollector, Metrics};
use crate::proxy::{ProxyHeader, Trusted};
use crate::pubsub::{Counts, encode_frame};
use crate::route::{Route, Typed};
use crate::router::Routes;
use crate::shared::{Shared, StaticResponse};
use prometheus_client::registry::Registry;

type RouteFactory = Box<dyn Fn() -> Box<dyn Route> + Send + Sync>;

struct RouteSpec {
    path: String,
    factory: RouteFactory,
    options: RouteOptions,
}

/// Builds a server: address, workers, limits, WebSocket routes and static HTTP routes.
///
/// ```no_run
/// use ringws::{Accept, App, Handler, Message, Reject, UpgradeRequest, WebSocket};
///
/// struct Echo;
/// impl Handler for Echo {
///     type Data = ();
///     fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
///         Ok(Accept::new(()))
///     }
///     fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
///         let _ = ws.send(message);
///     }
/// }
///
/// let server = App::new().ws("/echo", || Echo).start().expect("listening");
/// server.join().expect("clean exit");
/// ```
pub struct App {
    driver: ringws_uring::Config,
    limits: Limits,
    routes: Vec<RouteSpec>,
    statics: Vec<(String, StaticResponse)>,
    origins: Option<Vec<String>>,
    proxy: Option<Trusted>,
    registry: Option<Registry>,
    metrics_path: Option<String>,
    health_path: Option<String>,
    status_path: Option<String>,
    access_log: bool,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// TLS on an address of its own (the main one stays plain).
    tls_addr: Option<SocketAddr>,
    #[cfg(feature = "nats")]
    bridge: Option<crate::NatsBridge>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("addr", &self.driver.addr)
            .field("workers", &self.driver.workers)
            .field("routes", &self.routes.iter().map(|r| &r.path).collect::<Vec<_>>())
            .finish()
    }
}

impl Default for App {
    fn default() -> Self {
        Self::new()
    }
}

impl App {
    /// 127.0.0.1:9001, one worker per core, default [`Limits`], no routes.
    pub fn new() -> Self {
        Self {
            driver: ringws_uring::Config::default(),
            limits: Limits::default(),
            routes: Vec::new(),
            statics: Vec::new(),
            origins: None,
            proxy: None,
            registry: None,
            metrics_path: Some("/metrics".to_owned()),
            health_path: None,
            status_path: None,
            access_log: false,
            tls: None,
            tls_addr: None,
            #[cfg(feature = "nats")]
            bridge: None,
        }
    }

    /// The address to listen on (port 0 picks a free one; see [`Server::local_addr`]).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.driver.addr = addr;
        self
    }

    /// The number of worker threads (default: one per core).
    pub fn workers(mut self, workers: usize) -> Self {
        self.driver.workers = workers.max(1);
        self
    }

    /// The limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The driver's settings (buffer sizes, ring sizes, pinning).
    pub fn driver(mut self, config: ringws_uring::Config) -> Self {
        let (addr, workers) = (self.driver.addr, self.driver.workers);
        self.driver = ringws_uring::Config { addr, workers, ..config };
        self
    }

    /// Only browsers whose `Origin` is on this list may upgrade (others get 403); requests
    /// without an `Origin` header are not browsers and pass. Default: no list, every origin.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Behind a load balancer or reverse proxy: a connection from one of `trusted` (addresses or
    /// networks, `"10.0.0.0/8".parse()`) carries the client's address in `header`, and that
    /// address is what [`crate::UpgradeRequest::peer`] and every log line about the connection
    /// show. Connections from anywhere else keep their own address (and a PROXY header from
    /// them is a malformed request: 400). Needs the driver's peer addresses (the default).
    pub fn behind_proxy<I>(mut self, header: ProxyHeader, trusted: I) -> Self
    where
        I: IntoIterator<Item = ipnet::IpNet>,
    {
        self.proxy = Some(Trusted::new(header, trusted.into_iter().collect()));
        self
    }

    /// Where the Prometheus metrics are served (default `/metrics`; `None`: not served, still
    /// readable through [`ServerHandle::metrics`]).
    pub fn metrics_path(mut self, path: Option<&str>) -> Self {
        self.metrics_path = path.map(str::to_owned);
        self
    }

    /// A health check at `path` for load balancers: 200 `ok`, or 503 `draining` once
    /// [`ServerHandle::drain`] was called (default: none).
    pub fn health_path(mut self, path: &str) -> Self {
        self.health_path = Some(path.to_owned());
        self
    }

    /// A status page at `path`: live plots of connections, upgrades and closes, messages,
    /// deliveries and drops, queued bytes and worker load over the last minutes, drawn in the
    /// browser from the metrics (self-contained: no external script or font). Default: none.
    pub fn status_path(mut self, path: Option<&str>) -> Self {
        self.status_path = path.map(str::to_owned);
        self
    }

    /// Logs every upgrade answered (path, status, handshake time since accept, peer) at info
    /// level under the target `ringws::access` (default: off).
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Serves wss:// on the server's address: every connection speaks TLS with `config` (from
    /// PEM files: [`crate::tls::server_config`]; or a `rustls::ServerConfig` of your own, which
    /// should offer ALPN `http/1.1`). A client speaking plain HTTP there gets its connection
    /// closed; the TLS handshake counts against the handshake timeout. Replace the certificate
    /// while running with [`ServerHandle::set_tls`].
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(crate::tls::with_hand_over(config));
        self
    }

    /// Serves wss:// on `addr` as well, with `config`, while the server's address stays plain
    /// (ws:// and http://): the same routes, topics and workers behind both. The bound address
    /// (the real port for port 0) is [`Server::tls_addr`]. Of the same family as the main one.
    pub fn tls_on(mut self, addr: SocketAddr, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(crate::tls::with_hand_over(config));
        self.tls_addr = Some(addr);
        self
    }

    /// Shares topics with other `ringws` nodes through a NATS server: a publish here reaches
    /// subscribers on every node (at most once across nodes; local delivery never waits for
    /// the broker). One broker subscription per node per topic, while the topic has
    /// subscribers here.
    #[cfg(feature = "nats")]
    pub fn bridge(mut self, bridge: crate::NatsBridge) -> Self {
        self.bridge = Some(bridge);
        self
    }

    /// The application's own metrics: this registry is rendered at the metrics path with the
    /// server's figures (`prometheus-client`; register counters, gauges, histograms or
    /// collectors on it before starting).
    pub fn metrics_registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// A WebSocket route: `factory` makes one handler per worker. `path` is a pattern:
    /// `/room/{id}` (or `/room/:id`) takes one segment as the parameter `id`, `/assets/{*path}`
    /// (or `/assets/*path`, or `/assets/*`, named `rest`) the rest of the path; read them with
    /// [`crate::UpgradeRequest::param`]. A pattern that cannot be routed makes [`App::start`]
    /// fail with a message naming it.
    pub fn ws<H, F>(self, path: &str, factory: F) -> Self
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        self.ws_with(path, RouteOptions::default(), factory)
    }

    /// A WebSocket route with its own backpressure limit and slow-consumer policy.
    pub fn ws_with<H, F>(mut self, path: &str, options: RouteOptions, factory: F) -> Self
    where
        H: Handler,
        F: Fn() -> H + Send + Sync + 'static,
    {
        let factory: RouteFactory = Box::new(move || Box::new(Typed(factory())));
        self.routes.push(RouteSpec { path: path.to_owned(), factory, options });
        self
    }

    /// A static HTTP route answered to GET and HEAD.
    pub fn get(mut self, path: &str, content_type: &str, body: impl Into<Bytes>) -> Self {
        let response = StaticResponse { content_type: content_type.to_owned(), body: body.into() };
        self.statics.push((path.to_owned(), response));
        self
    }

    /// Starts the workers and returns once they listen.
    ///
    /// # Errors
    /// A route pattern the router cannot take (the message names it), the address cannot be
    /// bound, or io_uring is unavailable (the message says why).
    pub fn start(self) -> io::Result<Server> {
        let router = Routes::new(self.routes.iter().map(|r| r.path.as_str()))?;
        let mut driver = self.driver;
        // Room for handshakes and plain HTTP beyond the WebSocket limit, which answers 503.
        driver.max_connections =
            self.limits.max_connections + self.limits.max_connections / 10 + 1024;
        driver.also_listen.extend(self.tls_addr);
        let workers = driver.workers.clamp(1, 255);
        let paths = self.routes.iter().map(|r| r.path.clone()).collect();
        let metrics = Arc::new(Hub::new(workers, paths));
        let mut registry = self.registry.unwrap_or_default();
        registry.register_collector(Box::new(HubCollector(metrics.clone())));
        let (factories, route_options): (Vec<RouteFactory>, Vec<RouteOptions>) =
            self.routes.into_iter().map(|r| (r.factory, r.options)).unzip();
        #[cfg(feature = "nats")]
        let broker = match self.bridge {
            Some(bridge) => Some(bridge.start(metrics.bridge.clone())?),
            None => None,
        };
        #[cfg(not(feature = "nats"))]
        let broker: Option<Arc<dyn crate::bridge::Broker>> = None;
        let shared = Arc::new(Shared {
            route_options,
            router,
            statics: self.statics,
            origins: self.origins,
            proxy: self.proxy,
            limits: self.limits.clone(),
            open: AtomicUsize::new(0),
            counts: Counts::with_broker(broker.clone()),
            bridge: broker.clone(),
            clock: Clock { epoch: std::time::Instant::now() },
            stopping: AtomicBool::new(false),
            metrics: metrics.clone(),
            registry,
            metrics_path: self.metrics_path,
            health_path: self.health_path,
            status_path: self.status_path,
            draining: AtomicBool::new(false),
            access_log: self.access_log,
            tls: self.tls.map(std::sync::RwLock::new),
            // The driver numbers its listeners: the main address 0, `also_listen` from 1.
            tls_listener: usize::from(self.tls_addr.is_some()),
            budget_share: (self.limits.memory_budget / workers) as u64,
        });
        let for_workers = shared.clone();
        let started = broker;
        let inner = ringws_uring::Server::start(driver, move |info| {
            let routes = factories.iter().map(|make| make()).collect();
            Engine::new(for_workers.clone(), routes, info.id)
        })?;
        let _ = metrics.driver.set(inner.handle().counters().iter().cloned().collect());
        let handle = ServerHandle { inner: inner.handle(), shared };
        if let Some(broker) = started {
            broker.started(handle.clone());
        }
        Ok(Server { handle, inner })
    }
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    inner: ringws_uring::Server<EngineMsg>,
    handle: ServerHandle,
}

impl Server {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr()
    }

    /// The address wss:// is served on: the main one with [`App::tls`], its own with
    /// [`App::tls_on`] (with the real port); `None` without TLS.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        let shared = &self.handle.shared;
        shared.tls.as_ref()?;
        self.inner.local_addrs().get(shared.tls_listener).copied()
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Waits until every worker has shut down.
    ///
    /// # Errors
    /// A worker failed or panicked.
    pub fn join(self) -> io::Result<()> {
        self.inner.join().map(drop)
    }
}

/// Sends to connections and shuts the server down, from any thread. `Send + Sync`, cheap to
/// clone.
#[derive(Clone)]
pub struct ServerHandle {
    inner: ringws_uring::ServerHandle<EngineMsg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("open", &self.open_connections()).finish()
    }
}

impl ServerHandle {
    /// Sends a text message to `conn` (on whichever worker owns it).
    ///
    /// # Errors
    /// `NotConnected` once the server is shutting down or the worker has stopped; the worker
    /// could not be woken.
    pub fn send_text(&self, conn: ConnId, text: impl Into<Bytes>) -> io::Result<()> {
        self.send_with(conn, Kind::Text, text.into(), Compress::Auto)
    }

    /// Sends a binary message to `conn`.
    ///
    /// # Errors
    /// `NotConnected` once the server is shutting down or the worker has stopped; the worker
    /// could not be woken.
    pub fn send_binary(&self, conn: ConnId, payload: impl Into<Bytes>) -> io::Result<()> {
        self.send_with(conn, Kind::Binary, payload.into(), Compress::Auto)
    }

    /// Sends a message to `conn`, compressed or not as `compress` says.
    ///
    /// # Errors
    /// As [`ServerHandle::send_text`].
    pub fn send_with(
        &self,
        conn: ConnId,
        kind: Kind,
        payload: Bytes,
        compress: Compress,
    ) -> io::Result<()> {
        let msg = EngineMsg::Send { conn, opcode: kind.opcode(), payload, compress };
        self.post(usize::from(conn.worker()), msg)
    }

    /// Posts to a worker, refused once the server is shutting down or the worker has stopped.
    fn post(&self, worker: usize, msg: EngineMsg) -> io::Result<()> {
        if self.shared.stopping.load(Ordering::Acquire) {
            let why = "the server is shutting down: the message was not delivered";
            return Err(io::Error::new(io::ErrorKind::NotConnected, why));
        }
        self.inner.post(worker, msg)
    }

    /// Runs `f` on `conn`'s own worker, with the connection as its callbacks see it (send with
    /// the real [`crate::SendStatus`], subscribe, unsubscribe, close, its data), or with `None`
    /// if it is gone or its data is not a `D` (another route's). Answer back through a channel of
    /// your choice (a tokio oneshot from an async task).
    ///
    /// # Errors
    /// `NotConnected` once the server is shutting down or the worker has stopped; the worker
    /// could not be woken.
    pub fn run<D, F>(&self, conn: ConnId, f: F) -> io::Result<()>
    where
        D: 'static,
        F: for<'w> FnOnce(Option<&mut crate::WebSocket<'w, D>>) + Send + 'static,
    {
        let job = crate::mailbox::Job(Box::new(move |ctx: Option<crate::websocket::Ctx<'_>>| {
            let Some(ctx) = ctx else { return f(None) };
            let Some(data) = ctx.data.downcast_mut::<D>() else { return f(None) };
            let (io, id, ctl, pubsub, shared) = (ctx.io, ctx.id, ctx.ctl, ctx.pubsub, ctx.shared);
            let (counts, zip) = (ctx.counts, ctx.zip);
            f(Some(&mut crate::WebSocket { io, id, data, ctl, pubsub, shared, counts, zip }));
        }));
        self.post(usize::from(conn.worker()), EngineMsg::Run { conn, job })
    }

    /// Starts the closing handshake on `conn`.
    ///
    /// # Errors
    /// `InvalidInput` for a code that may not be sent ([`crate::InvalidCloseCode`]);
    /// `NotConnected` once the server is shutting down or the worker has stopped; the worker
    /// could not be woken.
    pub fn close(&self, conn: ConnId, code: CloseCode, reason: &str) -> io::Result<()> {
        let code = sendable(code).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let msg = EngineMsg::Close { conn, code: code.0, reason: reason.to_owned() };
        self.post(usize::from(conn.worker()), msg)
    }

    /// Publishes to every subscriber of `topic` on every worker, from any thread (a tokio task
    /// of the application, say). The frame is encoded once here and shared by all. Returns how
    /// many subscribers it is addressed to (all workers, as counted now; delivery is at most
    /// once).
    ///
    /// # Errors
    /// `NotConnected` once the server is shutting down or a worker has stopped; a worker could
    /// not be woken.
    pub fn publish(&self, topic: &str, kind: Kind, payload: &[u8]) -> io::Result<usize> {
        self.publish_with(topic, kind, payload, Compress::Auto)
    }

    /// Like [`ServerHandle::publish`], compressed for compressing subscribers or not as
    /// `compress` says.
    ///
    /// # Errors
    /// As [`ServerHandle::publish`].
    pub fn publish_with(
        &self,
        topic: &str,
        kind: Kind,
        payload: &[u8],
        compress: Compress,
    ) -> io::Result<usize> {
        let reached = self.shared.counts.get(topic);
        let frame = encode_frame(kind.opcode(), payload);
        let topic: Arc<str> = Arc::from(topic);
        if let Some(broker) = &self.shared.bridge {
            broker.publish(&topic, &frame);
        }
        self.shared.metrics.handle_publishes.fetch_add(1, Ordering::Relaxed);
        for worker in 0..self.inner.workers() {
            let msg = EngineMsg::Publish { topic: topic.clone(), frame: frame.clone(), compress };
            self.post(worker, msg)?;
        }
        Ok(reached)
    }

    /// Replaces the TLS configuration (a renewed certificate): connections accepted from now on
    /// use `config`, open ones keep the one they started with.
    ///
    /// # Errors
    /// `InvalidInput` if the server was not started with [`App::tls`].
    pub fn set_tls(&self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        let Some(tls) = &self.shared.tls else {
            let why = "the server does not serve TLS (start it with App::tls)";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        };
        let config = crate::tls::with_hand_over(config);
        *tls.write().unwrap_or_else(std::sync::PoisonError::into_inner) = config;
        Ok(())
    }

    /// A publish from another node (through the bridge): to every worker's subscribers, never
    /// back to the broker.
    #[cfg(feature = "nats")]
    pub(crate) fn deliver_remote(&self, topic: Arc<str>, frame: Bytes) -> io::Result<()> {
        for worker in 0..self.inner.workers() {
            let msg = EngineMsg::Publish {
                topic: topic.clone(),
                frame: frame.clone(),
                compress: Compress::Auto,
            };
            self.post(worker, msg)?;
        }
        Ok(())
    }

    /// Subscribers of `topic` over all workers.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.shared.counts.get(topic)
    }

    /// Graceful shutdown: stop accepting, 1001 to every connection, drain send queues within the
    /// close timeout, then the workers exit and [`Server::join`] returns.
    pub fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.inner.shutdown();
    }

    /// Takes this node out of its load balancer before stopping it: the health check answers
    /// 503 and new upgrades are refused with 503 and `Retry-After`, while open connections carry
    /// on (the listener stays open, so the balancer's checks see the 503 rather than time out).
    /// [`ServerHandle::shutdown`] then closes what is left with 1001.
    pub fn drain(&self) {
        if !self.shared.draining.swap(true, Ordering::AcqRel) {
            tracing::info!("draining: health check 503, new upgrades refused");
        }
    }

    /// Whether [`ServerHandle::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Acquire)
    }

    /// The server's figures, summed over its workers: what `/metrics` shows.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.snapshot()
    }

    /// The metrics in the Prometheus text format (the server's and the application's), as
    /// the metrics path serves them.
    pub fn metrics_text(&self) -> String {
        crate::metrics::render(&self.shared.registry)
    }

    /// Open WebSocket connections (all workers).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// TCP connections held by the driver (WebSocket, handshaking and plain HTTP).
    pub fn tcp_connections(&self) -> u64 {
        self.inner.live_connections()
    }

    /// Timers pending over all workers: one per connection (its next deadline), plus any
    /// superseded by an earlier deadline and not yet fired.
    pub fn pending_timers(&self) -> u64 {
        self.inner.pending_timers()
    }
}
