//! `ringws`: the default server. With no arguments it listens on 127.0.0.1:9001 and serves
//! `/echo` (every message back, same type), `/pubsub` (a JSON pub/sub protocol, see `pubsub.rs`),
//! `/` (a chat page over `/pubsub`) and `/healthz` (200; 503 once SIGUSR1 asked it to drain). SIGINT or SIGTERM shut it down gracefully: no new connections, 1001 to every
//! open one, queues drained within the close timeout, exit 0.
#![forbid(unsafe_code)]

mod pubsub;

use clap::Parser;
use ringws::{
    Accept, App, Handler, Limits, Message, ProxyHeader, Reject, RouteOptions, SlowConsumer,
    UpgradeRequest, WebSocket,
};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The ringws WebSocket server.
#[derive(Parser, Debug)]
#[command(name = "ringws", version = VERSION, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    addr: SocketAddr,
    /// Worker threads, one per core [default: the number of CPUs this process may use].
    #[arg(long)]
    workers: Option<usize>,
    /// Largest message in bytes, after reassembly; larger ones are closed with 1009.
    #[arg(long, default_value_t = 16 << 20)]
    max_message_size: u64,
    /// Largest frame in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_frame_size: u64,
    /// Seconds allowed to complete the opening handshake (then 408).
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds of silence before a connection is dropped (a ping goes out at half).
    #[arg(long, default_value_t = 120)]
    idle_timeout: u64,
    /// Open WebSocket connections allowed; beyond, upgrades get 503.
    #[arg(long, default_value_t = 100_000)]
    max_connections: usize,
    /// Bytes queued per connection beyond which new messages to it are dropped.
    #[arg(long, default_value_t = 16 << 20)]
    max_backpressure: usize,
    /// Bytes queued per /pubsub subscriber beyond which publishes to it are dropped (or it is
    /// closed with --close-slow-subscribers).
    #[arg(long, default_value_t = 256 * 1024)]
    pubsub_backpressure: usize,
    /// Close /pubsub subscribers that fall behind (1008) instead of dropping their messages.
    #[arg(long)]
    close_slow_subscribers: bool,
    /// Allowed browser origins (repeatable); without any, every origin is allowed.
    #[arg(long = "allow-origin")]
    allowed_origins: Vec<String>,
    /// Path of the echo endpoint. Load generators that always dial `/` (uWebSockets'
    /// `load_test`) need `--echo-path /`; the demo page at `/` stays, as plain GET.
    #[arg(long, default_value = "/echo", value_parser = parse_path)]
    echo_path: String,
    /// A proxy (address or network, e.g. 10.0.0.0/8; repeatable) whose word about the client's
    /// address is taken, from the header --proxy-header names.
    #[arg(long = "trusted-proxy", value_parser = parse_trusted)]
    trusted_proxies: Vec<ringws::IpNet>,
    /// Where trusted proxies put the client's address: `protocol` (a PROXY protocol v1/v2
    /// header opens each of their connections) or `forwarded-for` (X-Forwarded-For).
    #[arg(long, value_parser = parse_proxy_header, default_value = "forwarded-for")]
    proxy_header: ProxyHeader,
    /// How log lines are written: `text`, or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Log every upgrade answered (path, status, handshake time, peer) at info level, under the
    /// target `ringws::access`.
    #[arg(long)]
    access_log: bool,
    /// Where the Prometheus metrics are served on the server's port; empty: not served.
    #[arg(long, default_value = "/metrics", value_parser = parse_optional_path)]
    metrics_path: String,
}

fn parse_optional_path(path: &str) -> Result<String, String> {
    if path.is_empty() { Ok(String::new()) } else { parse_path(path) }
}

fn parse_trusted(text: &str) -> Result<ringws::IpNet, String> {
    let net = text.parse::<ringws::IpNet>();
    let bare = || text.parse::<std::net::IpAddr>().map(ringws::IpNet::from);
    net.or_else(|_| bare()).map_err(|_| format!("{text:?}: not an address or network"))
}

fn parse_proxy_header(name: &str) -> Result<ProxyHeader, String> {
    match name {
        "protocol" => Ok(ProxyHeader::Protocol),
        "forwarded-for" => Ok(ProxyHeader::ForwardedFor),
        other => Err(format!("{other:?}: expected `protocol` or `forwarded-for`")),
    }
}

/// `ringws --version`: the version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("RINGWS_GIT_COMMIT"), ")");

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// For people: one line per event (colours on a terminal only).
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

fn parse_path(path: &str) -> Result<String, String> {
    match path.starts_with('/') {
        true => Ok(path.to_owned()),
        false => Err(format!("{path:?} must start with /")),
    }
}

/// Echoes every message with its type.
struct Echo;

impl Handler for Echo {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
        // Dropped only when the client stopped reading past max_backpressure: nothing to do.
        let _ = ws.send(message);
    }
}

const INDEX: &str = include_str!("index.html");

fn pubsub_options(args: &Args) -> RouteOptions {
    let policy = if args.close_slow_subscribers { SlowConsumer::Close } else { SlowConsumer::Drop };
    RouteOptions::new(args.pubsub_backpressure, policy)
}

fn init_logs(format: LogFormat) {
    // Colours only on a terminal: a log file or a collector gets plain text.
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logs(args.log_format);
    let mut limits = Limits::default();
    limits.max_message_size = args.max_message_size;
    limits.max_frame_size = args.max_frame_size;
    limits.handshake_timeout = Duration::from_secs(args.handshake_timeout);
    limits.idle_timeout = Duration::from_secs(args.idle_timeout);
    limits.max_connections = args.max_connections;
    limits.max_backpressure = args.max_backpressure;
    let mut app = App::new()
        .bind(args.addr)
        .limits(limits)
        .ws(&args.echo_path, || Echo)
        .ws_with("/pubsub", pubsub_options(&args), pubsub::PubSub::default)
        .get("/", "text/html; charset=utf-8", INDEX)
        .health_path("/healthz");
    if let Some(workers) = args.workers {
        app = app.workers(workers);
    }
    if !args.allowed_origins.is_empty() {
        app = app.allowed_origins(args.allowed_origins);
    }
    if args.access_log {
        app = app.access_log(true);
    }
    let metrics_path = Some(args.metrics_path.as_str()).filter(|p| !p.is_empty());
    app = app.metrics_path(metrics_path);
    if !args.trusted_proxies.is_empty() {
        app = app.behind_proxy(args.proxy_header, args.trusted_proxies);
    }
    let server = match app.start() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        "ringws listening on ws://{}{} (http://{}/ for the demo page)",
        server.local_addr(),
        args.echo_path,
        server.local_addr()
    );
    let handle = server.handle();
    use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGUSR1 {
                        // Out of the load balancer first (docs/operations.md), then SIGTERM.
                        handle.drain();
                        continue;
                    }
                    tracing::info!(signal = sig, "shutting down: closing connections with 1001");
                    handle.shutdown();
                    break;
                }
            });
        }
        Err(e) => tracing::warn!("no signal handling ({e}); stop with kill -9"),
    }
    match server.join() {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("worker failed: {e}");
            ExitCode::FAILURE
        }
    }
}
