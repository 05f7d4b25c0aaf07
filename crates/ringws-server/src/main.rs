//! `ringws`: the default server. With no arguments it listens on 127.0.0.1:9001 and serves
//! `/echo` (every message back, same type), `/pubsub` (a JSON pub/sub protocol, see `pubsub.rs`),
//! `/` (a chat page over `/pubsub`) and `/healthz` (200; 503 once SIGUSR1 asked it to drain). SIGINT or SIGTERM shut it down gracefully: no new connections, 1001 to every
//! open one, queues drained within the close timeout, exit 0.
#![forbid(unsafe_code)]

mod args;
mod metrics_listener;
mod pubsub;
mod settings;
mod tls_files;

use args::{Args, LogFormat};

use ringws::{
    Accept, App, Handler, Limits, Message, Reject, RouteOptions, UpgradeRequest, WebSocket,
};
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn echo_options(args: &Args) -> RouteOptions {
    let mut options = RouteOptions::default();
    options.max_backpressure = args.echo_backpressure.map(clamp_usize);
    options.idle_timeout = args.echo_idle_timeout;
    options.max_message_size = args.echo_max_message_size;
    options.auto_ping = args.echo_auto_ping;
    // Shared: browsers offer compression by default, and text and JSON shrink 3-10x; shared
    // mode costs an idle connection nothing.
    options.compression = args.echo_compression;
    options
}

fn pubsub_options(args: &Args) -> RouteOptions {
    let mut options =
        RouteOptions::new(clamp_usize(args.pubsub_backpressure), args.pubsub_slow_consumer);
    options.idle_timeout = args.pubsub_idle_timeout;
    options.max_message_size = args.pubsub_max_message_size;
    options.auto_ping = args.pubsub_auto_ping;
    options.compression = args.pubsub_compression;
    options
}

fn clamp_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
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
    let settings = match settings::load(std::env::args_os().collect()) {
        Ok(s) => s,
        Err(settings::Failure::Clap(e)) => e.exit(),
        Err(settings::Failure::Config(e)) => {
            eprintln!("error: config file {e}");
            return ExitCode::from(2);
        }
    };
    if settings.args.print_config {
        print!("{}", settings.report);
        return ExitCode::SUCCESS;
    }
    let args = settings.args;
    init_logs(args.log_format);
    let mut limits = Limits::default();
    limits.max_message_size = args.max_message_size;
    limits.max_frame_size = args.max_frame_size;
    limits.handshake_timeout = args.handshake_timeout;
    limits.idle_timeout = args.idle_timeout;
    limits.max_connections = args.max_connections;
    limits.max_backpressure = clamp_usize(args.max_backpressure);
    if let Some(budget) = args.memory_budget {
        limits.memory_budget = clamp_usize(budget);
    }
    let tls = match tls_files::TlsFiles::from_args(&args) {
        Ok(None) => None,
        Ok(Some(files)) => match files.load() {
            Ok(config) => Some((config, files)),
            Err(e) => {
                tracing::error!("cannot load the TLS certificate: {e}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut app = App::new()
        .bind(args.addr)
        .limits(limits)
        .ws_with(&args.echo_path, echo_options(&args), || Echo)
        .ws_with("/pubsub", pubsub_options(&args), pubsub::PubSub::default)
        .get("/", "text/html; charset=utf-8", INDEX)
        .health_path("/healthz");
    if let Some(workers) = args.workers {
        app = app.workers(workers);
    }
    if !args.allow_origin.is_empty() {
        app = app.allowed_origins(args.allow_origin.clone());
    }
    if args.access_log {
        app = app.access_log(true);
    }
    let metrics_path = Some(args.metrics_path.as_str()).filter(|p| !p.is_empty());
    app = app.metrics_path(metrics_path);
    app = app.status_path(Some(args.status_path.as_str()).filter(|p| !p.is_empty()));
    if !args.trusted_proxy.is_empty() {
        app = app.behind_proxy(args.proxy_header, args.trusted_proxy.clone());
    }
    if let Some(url) = &args.nats {
        let bridge = ringws::NatsBridge::new(url)
            .prefix(&args.nats_prefix)
            .unsubscribe_delay(args.nats_unsubscribe_delay);
        app = app.bridge(bridge);
    }
    match (&tls, args.tls_addr) {
        (Some((config, _)), Some(addr)) => app = app.tls_on(addr, config.clone()),
        (Some((config, _)), None) => app = app.tls(config.clone()),
        (None, Some(_)) => {
            tracing::error!("--tls-addr needs --tls-cert and --tls-key");
            return ExitCode::from(2);
        }
        (None, None) => {}
    }
    let server = match app.start() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (ws, http) =
        if tls.is_some() && args.tls_addr.is_none() { ("wss", "https") } else { ("ws", "http") };
    tracing::info!(
        "ringws listening on {ws}://{}{} ({http}://{}/ for the demo page)",
        server.local_addr(),
        args.echo_path,
        server.local_addr()
    );
    if let (Some(addr), Some(_)) = (server.tls_addr(), args.tls_addr) {
        tracing::info!("ringws listening on wss://{addr}{} (https://{addr}/)", args.echo_path);
    }
    let handle = server.handle();
    if let Some(addr) = args.metrics_addr {
        let path = if args.metrics_path.is_empty() {
            "/metrics".to_owned()
        } else {
            args.metrics_path.clone()
        };
        match metrics_listener::serve(addr, path, handle.clone()) {
            Ok(bound) => tracing::info!("metrics also on http://{bound}"),
            Err(e) => {
                tracing::error!("cannot serve metrics on {addr}: {e}");
                handle.shutdown();
                let _ = server.join();
                return ExitCode::FAILURE;
            }
        }
    }
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
    match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGHUP]) {
        Ok(mut signals) => {
            std::thread::spawn(move || {
                for sig in signals.forever() {
                    if sig == SIGUSR1 {
                        // Out of the load balancer first (docs/operations.md), then SIGTERM.
                        handle.drain();
                        continue;
                    }
                    if sig == SIGHUP {
                        tls_files::reload(&handle, tls.as_ref().map(|(_, files)| files));
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
