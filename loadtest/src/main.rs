//! `ringws-load`: drives any `ws://` server on loopback with one of five scenarios and reports
//! rates, latency percentiles (hdrhistogram), the server's CPU and memory (given its pid), and its
//! own CPU use, loudly flagged when it was the bottleneck.
//!
//! ```text
//! ringws-load echo   ws://127.0.0.1:9001/echo   --connections 100 --size 20 --duration 10
//! ringws-load fanout ws://127.0.0.1:9001/pubsub --subscribers 10000 --rate 100
//! ringws-load idle   ws://127.0.0.1:9001/echo   --connections 200000 --server-pid PID
//! ringws-load churn  ws://127.0.0.1:9001/echo   --rate 5000 --duration 10
//! ringws-load slow   ws://127.0.0.1:9001/pubsub --slow 10 --rate 2000 --size 1024
//! ```
#![forbid(unsafe_code)]

mod client;
mod procfs;
mod report;
mod scenario;
mod stats;
mod target;

use clap::{Args, Parser, Subcommand};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::{LoadWorker, Scenario, Shared, sources};
use report::{Report, ServerUse};
use scenario::{Window, share};
use stats::{Progress, Stats};
use target::Target;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Load-test any ws:// server on loopback.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// N connections, K messages in flight each: messages/s and round-trip latency.
    Echo {
        #[command(flatten)]
        common: Common,
        /// Connections.
        #[arg(long, default_value_t = 100)]
        connections: u64,
        /// Payload bytes per message (at least 16: the send time is stamped in front).
        #[arg(long, default_value_t = 20)]
        size: usize,
        /// Messages in flight per connection.
        #[arg(long, default_value_t = 1)]
        inflight: usize,
        /// Send text frames instead of binary.
        #[arg(long)]
        text: bool,
    },
    /// S subscribers, P publishers at a total rate: deliveries/s and publish-to-receive latency.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Subscribers.
        #[arg(long, default_value_t = 10_000)]
        subscribers: u64,
        /// Publishers.
        #[arg(long, default_value_t = 1)]
        publishers: u64,
        /// Publishes per second, all publishers together.
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Text each subscriber sends after connecting; empty for servers that broadcast to all.
        #[arg(long, default_value = r#"{"op":"sub","topic":"bench"}"#)]
        subscribe: String,
        /// Publish message; `$TS` becomes the 20-digit send time (keep the default for 64-byte
        /// messages to ringws /pubsub).
        #[arg(long, default_value = r#"{"op":"pub","topic":"bench","data":"$TS"}"#)]
        publish: String,
    },
    /// Open and hold N connections; connect rate, and server RSS per connection with its pid.
    Idle {
        #[command(flatten)]
        common: Common,
        /// Connections to open and hold.
        #[arg(long, default_value_t = 10_000)]
        connections: u64,
        /// Ping every connection this often (seconds); 0 for none.
        #[arg(long, default_value_t = 0.0)]
        ping_interval: f64,
    },
    /// Connect, upgrade and close at a target rate: handshakes/s and handshake latency.
    Churn {
        #[command(flatten)]
        common: Common,
        /// Handshakes per second to attempt.
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
    },
    /// Subscribers that stop reading: what the server does to them, and to its memory.
    Slow {
        #[command(flatten)]
        common: Common,
        /// Subscribers that never read after subscribing.
        #[arg(long, default_value_t = 10)]
        slow: usize,
        /// Publishes per second.
        #[arg(long, default_value_t = 1_000.0)]
        rate: f64,
        /// Bytes per published message (the payload, at least 20).
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Text each subscriber sends after connecting.
        #[arg(long, default_value = r#"{"op":"sub","topic":"slow"}"#)]
        subscribe: String,
        /// Publish message; `$TS` becomes the send time plus padding up to --size.
        #[arg(long, default_value = r#"{"op":"pub","topic":"slow","data":"$TS"}"#)]
        publish: String,
    },
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// The server, ws://host:port/path (loopback only).
    url: String,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Load-generator threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// CPUs to run the load generator on, e.g. `1` or `2,3` (keep them apart from the server's).
    #[arg(long, value_delimiter = ',')]
    cpus: Vec<usize>,
    /// The server's pid: its CPU per event and memory go into the report.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Connections per source address in 127.0.0.0/8 (one address tops out near 12,000).
    #[arg(long, default_value_t = 10_000)]
    per_source: u64,
    /// New connections started per second (all threads); the server's listen backlog is finite.
    #[arg(long, default_value_t = 20_000)]
    connect_rate: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Write an SVG plot (throughput over time, latency distribution) here.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringws-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let report = match cli.scenario {
        Command::Echo { common, connections, size, inflight, text } => {
            let window = Arc::new(Window::default());
            let w = window.clone();
            let threads = common.threads;
            drive(&common, "echo", "messages", connections, window, move |worker| {
                scenario::echo::Echo::new(
                    share(connections, threads, worker),
                    size,
                    inflight,
                    !text,
                    w.clone(),
                )
            })?
        }
        Command::Fanout { common, subscribers, publishers, rate, subscribe, publish } => {
            if !publish.contains("$TS") {
                return Err(
                    "--publish must contain $TS (the send time the latency is measured from)"
                        .into(),
                );
            }
            let window = Arc::new(Window::default());
            let w = window.clone();
            let threads = common.threads;
            let subscribe = (!subscribe.is_empty()).then_some(subscribe);
            let per_publisher = rate / publishers.max(1) as f64;
            drive(
                &common,
                "fanout",
                "deliveries",
                subscribers + publishers,
                window,
                move |worker| {
                    let subs = share(subscribers, threads, worker);
                    let pubs = share(publishers, threads, worker);
                    let pubs = subscribers + pubs.start..subscribers + pubs.end;
                    scenario::fanout::Fanout::new(
                        subs,
                        pubs,
                        per_publisher,
                        subscribe.clone(),
                        publish.clone(),
                        w.clone(),
                    )
                },
            )?
        }
        Command::Idle { common, connections, ping_interval } => {
            let threads = common.threads;
            let ping = (ping_interval > 0.0).then_some((ping_interval * 1e9) as u64);
            let window = Arc::new(Window::default());
            drive(&common, "idle", "connections", connections, window, move |worker| {
                scenario::idle::Idle::new(share(connections, threads, worker), ping)
            })?
        }
        Command::Churn { common, rate, .. } => {
            let window = Arc::new(Window::default());
            let w = window.clone();
            let threads = common.threads;
            drive(&common, "churn", "handshakes", 0, window, move |worker| {
                scenario::churn::Churn::new(
                    rate / threads.max(1) as f64,
                    worker,
                    threads,
                    w.clone(),
                )
            })?
        }
        Command::Slow { common, slow, rate, size, subscribe, publish } => {
            slow_run(&common, slow, rate, size, subscribe, publish)?
        }
    };
    print!("{}", report.table());
    Ok(())
}

/// Starts the load-generator threads with one scenario each, waits for the connections, measures
/// the window, stops, and builds the report.
fn drive<S, F>(
    common: &Common,
    name: &'static str,
    unit: &'static str,
    connections: u64,
    window: Arc<Window>,
    make: F,
) -> Result<Report, String>
where
    S: Scenario,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let target = Target::parse(&common.url)?;
    let rss_at_start = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);
    if !common.cpus.is_empty() {
        ringws_uring::sys::pin_to_cpus(&common.cpus)
            .map_err(|e| format!("pinning to {:?}: {e}", common.cpus))?;
    }
    let needed_sources = connections.div_ceil(common.per_source.max(1)).max(1) as usize;
    let shared = Arc::new(Shared {
        target: target.clone(),
        sources: sources([127, 0, 0, 10], needed_sources),
        per_source: common.per_source.max(1),
        dials_per_ms: (common.connect_rate / 1000 / common.threads.max(1) as u64).max(1) as usize,
        start: Instant::now(),
        progress: Progress::default(),
        results: Mutex::new(Vec::new()),
    });
    let config = ringws_uring::Config {
        workers: common.threads.max(1),
        listen: false,
        pin: !common.cpus.is_empty(),
        max_connections: connections as usize + 4096,
        timer_tick: Duration::from_millis(1),
        // Many small buffers: subscribers receive small messages all at once, and a receive
        // finding the buffer ring empty has to be re-armed.
        buf_size: 16 * 1024,
        buf_count: 4096,
        ring: ringws_uring::RingConfig { cq_entries: 65536, ..ringws_uring::RingConfig::default() },
        ..ringws_uring::Config::default()
    };
    let for_workers = shared.clone();
    let make = Arc::new(make);
    let driver = ringws_uring::Server::start(config, move |info| {
        LoadWorker::new(make(info.id), for_workers.clone(), info.id)
    })
    .map_err(|e| format!("starting the load generator: {e}"))?;
    let handle = driver.handle();

    // Connect phase: until every connection is open (or failed), bounded.
    let progress = &shared.progress;
    let bar = progress_bar(common, connections, "connecting");
    let connect_deadline = Instant::now() + Duration::from_secs(120);
    while progress.open.load(Ordering::Relaxed) + progress.errors.load(Ordering::Relaxed)
        < connections
    {
        if Instant::now() > connect_deadline {
            break;
        }
        bar.set_position(progress.open.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.finish_and_clear();
    let opened = progress.open.load(Ordering::Relaxed);
    // Subscriptions travel after the handshake: give them a moment before the clock starts.
    std::thread::sleep(Duration::from_millis(if name == "fanout" { 1000 } else { 100 }));

    let warmup = Duration::from_secs_f64(common.warmup.max(0.0));
    let duration = Duration::from_secs_f64(common.duration.max(0.1));
    let begin = shared.start.elapsed() + warmup;
    window.set(begin.as_nanos() as u64, (begin + duration).as_nanos() as u64);
    std::thread::sleep(warmup);
    let me = std::process::id();
    let tool_mark = procfs::CpuMark::take(me);
    let server_mark = common.server_pid.and_then(procfs::CpuMark::take);
    let rss_before = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);
    let bar = progress_bar(common, (duration.as_secs_f64() * 10.0) as u64, unit);
    let measure_start = Instant::now();
    while measure_start.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(100));
        bar.set_position((measure_start.elapsed().as_secs_f64() * 10.0) as u64);
        bar.set_message(format!("{} {unit}", progress.messages.load(Ordering::Relaxed)));
    }
    bar.finish_and_clear();
    let tool = tool_mark.and_then(|m| m.since(me));
    let server = server_mark.zip(common.server_pid).and_then(|(m, pid)| m.since(pid));
    let rss_after = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);

    handle.shutdown();
    driver.join().map_err(|e| format!("load generator: {e}"))?;
    let stats = shared
        .results
        .lock()
        .map_err(|_| "a load thread panicked")?
        .drain(..)
        .fold(Stats::new(), Stats::merge);
    let threads = common.threads.max(1);
    let mut report = Report {
        scenario: name,
        target: common.url.clone(),
        unit,
        seconds: duration.as_secs_f64(),
        connections: if name == "churn" { stats.count } else { opened },
        errors: progress.errors.load(Ordering::Relaxed),
        tool_cpu_percent: tool.map_or(0.0, |(cpu, wall)| 100.0 * cpu / wall / threads as f64),
        tool_threads: threads,
        server: None,
        notes: Vec::new(),
        stats,
    };
    if name == "idle" {
        // The idle rate is the connect rate over the connect phase, not the hold window.
        let span = report
            .stats
            .extra
            .iter()
            .find(|(k, _)| *k == "connect_seconds_max")
            .map_or(0.0, |(_, v)| *v);
        report.seconds = span.max(1e-9);
        if rss_after > 0 && opened > 0 {
            let per = (rss_after.saturating_sub(rss_at_start)) as f64 * 1024.0 / opened as f64;
            report.notes.push(format!(
                "server RSS {rss_at_start} KiB before connecting, {rss_after} KiB holding {opened} connections: {per:.0} bytes per connection"
            ));
        }
    }
    if let Some((cpu, wall)) = server {
        report.server = Some(ServerUse {
            cpu_percent: 100.0 * cpu / wall,
            cpu_us_per_event: if report.stats.count > 0 {
                cpu * 1e6 / report.stats.count as f64
            } else {
                0.0
            },
            rss_kib_before: rss_before,
            rss_kib_after: rss_after,
        });
    }
    if connections > 0 && opened < connections {
        report.notes.push(format!("only {opened} of {connections} connections opened"));
    }
    if report.tool_cpu_percent > 90.0 {
        let warning = format!(
            "WARNING: the load generator used {:.0}% of its {} core(s): this figure measures the tool, \
             not the server. Add --threads (on more --cpus) and run again.",
            report.tool_cpu_percent, threads
        );
        eprintln!("\n*** {warning} ***\n");
        report.notes.push(warning);
    }
    finish_report(common, &report)?;
    Ok(report)
}

fn finish_report(common: &Common, report: &Report) -> Result<(), String> {
    if let Some(path) = &common.json {
        let text = serde_json::to_string_pretty(&report.to_json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &common.plot {
        std::fs::write(path, report.svg()).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn progress_bar(common: &Common, len: u64, what: &str) -> indicatif::ProgressBar {
    // Only runs longer than a few seconds get a bar, and only on a terminal.
    if common.quiet || common.duration < 3.0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style =
        indicatif::ProgressStyle::with_template("{spinner} {prefix} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_owned());
    bar
}

/// The `slow` scenario: the slow subscribers are plain blocking sockets that subscribe and stop
/// reading; the rest is an ordinary driven run.
fn slow_run(
    common: &Common,
    slow: usize,
    rate: f64,
    size: usize,
    subscribe: String,
    publish: String,
) -> Result<Report, String> {
    let target = Target::parse(&common.url)?;
    let mut sockets = Vec::with_capacity(slow);
    for _ in 0..slow {
        let mut s = upgrade_blocking(&target)?;
        let frame =
            client::masked_frame(ringws_proto::OpCode::Text, subscribe.as_bytes(), [1, 2, 3, 4]);
        s.write_all(&frame).map_err(|e| e.to_string())?;
        // Shrink our receive buffer so the server feels the backpressure sooner.
        sockets.push(s);
    }
    let window = Arc::new(Window::default());
    let w = window.clone();
    let sub = (!subscribe.is_empty()).then_some(subscribe);
    let mut report = drive(common, "slow", "deliveries", 2, window, move |_| {
        scenario::slow::Slow::new(sub.clone(), publish.clone(), size, rate, w.clone())
    })?;
    // What happened to the slow ones: read what the server left in their sockets.
    let mut eof = 0;
    let mut close_codes = Vec::new();
    for s in &mut sockets {
        s.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        let mut seen = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    eof += 1;
                    break;
                }
                Ok(n) => seen.extend_from_slice(&buf[..n.min(buf.len())]),
                Err(_) => break,
            }
            if seen.len() > 64 << 20 {
                break;
            }
        }
        if let Some(code) = last_close_code(&seen) {
            close_codes.push(code);
        }
    }
    let closed = close_codes.len().max(eof);
    let codes =
        if close_codes.is_empty() { String::new() } else { format!(" with codes {close_codes:?}") };
    report.notes.push(format!(
        "{slow} slow subscriber(s): {closed} closed by the server ({} close frames{codes}, {eof} saw \
         the connection end); the others had their messages dropped or still queued",
        close_codes.len()
    ));
    finish_report(common, &report)?;
    Ok(report)
}

/// The code of the last close frame in a byte stream from a server, if one is there.
fn last_close_code(stream: &[u8]) -> Option<u16> {
    let mut decoder = ringws_proto::FrameDecoder::new(ringws_proto::Role::Client)
        .with_max_frame_size(u64::MAX >> 1);
    let mut bytes = stream.to_vec();
    let mut pos = 0;
    let mut code = None;
    while let Ok(Some((part, used))) = decoder.decode(&mut bytes[pos..]) {
        if part.header.opcode == ringws_proto::OpCode::Close && part.payload.len() >= 2 {
            code = Some(u16::from_be_bytes([part.payload[0], part.payload[1]]));
        }
        pos += used;
    }
    code
}

fn upgrade_blocking(target: &Target) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(target.addr).map_err(|e| format!("{}: {e}", target.addr))?;
    let request = ringws_proto::handshake::ClientRequest::new(&target.host, &target.path, [9; 16]);
    let mut out = Vec::new();
    let accept = request.write(&mut out);
    s.write_all(&out).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).map_err(|e| e.to_string())?;
        head.push(byte[0]);
    }
    ringws_proto::handshake::parse_response(&head, &request, &accept).map_err(|e| e.to_string())?;
    Ok(s)
}
