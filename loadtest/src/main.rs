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

mod check;
mod client;
mod drive;
mod meta;
mod pace;
mod procfs;
mod report;
mod scenario;
mod slow_subscribers;
mod stats;
mod target;
mod tls;
mod wire;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

use check::Sense;
use drive::{Plan, drive};
use report::Report;
use scenario::{Window, share};

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
        /// Open loop: send this many messages per second in all, spread over the connections,
        /// whatever the replies do (text frames, at least 20 bytes: the scheduled send time).
        /// Below saturation, servers' CPU per message compares fairly.
        #[arg(long)]
        rate: Option<f64>,
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
        /// Publishers connect here instead (another node of a cluster; the same scheme): the
        /// deliveries then measure the way across nodes.
        #[arg(long)]
        publish_url: Option<String>,
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
pub(crate) struct Common {
    /// The server, ws://host:port/path or wss://... (loopback only).
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
    /// Handshakes in flight at most (all threads): dials wait while this many have no answer
    /// yet, so a server slower than --connect-rate is not flooded past its listen backlog
    /// (whose overflow the kernel drops).
    #[arg(long, default_value_t = 2_048)]
    max_pending: u64,
    /// Seconds the connect phase may take; then the run goes on with what opened, and says why
    /// the rest did not.
    #[arg(long, default_value_t = 120.0)]
    connect_timeout: f64,
    /// Offer permessage-deflate (no context takeover either way), compress what is sent and
    /// inflate what arrives; a connection the server does not accept it on counts as an error.
    #[arg(long)]
    deflate: bool,
    /// wss://: accept any server certificate (a self-signed test server); the traffic is
    /// encrypted all the same.
    #[arg(long)]
    insecure: bool,
    /// wss://: trust the certificates in this PEM file (the server's own, if self-signed).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Write an SVG plot (throughput over time, latency distribution) here.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Conditions that must hold, else exit status 2: `p50|p90|p99|p99.9|max` against a time
    /// (`500us`, `5ms`, `1.5s`), `rate` (achieved / target), `per_s`, `errors`; e.g.
    /// `--expect 'p99<5ms,rate>=0.98,errors<1'`.
    #[arg(long)]
    expect: Option<String>,
    /// Conditions under which the run fails (exit status 2), same figures as --expect; e.g.
    /// `--fail-if 'p99>5ms,errors>0'`.
    #[arg(long)]
    fail_if: Option<String>,
    /// Fail (exit status 2) when the achieved rate misses the target by more than 5 %, or not
    /// every connection opened.
    #[arg(long)]
    strict: bool,
}

/// Exit status of a run whose checks failed (1 is a run that could not be made).
const CHECKS_FAILED: u8 = 2;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(report) if report.failed_checks() > 0 => {
            eprintln!("ringws-load: {} check(s) failed", report.failed_checks());
            ExitCode::from(CHECKS_FAILED)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ringws-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<Report, String> {
    let common = match &cli.scenario {
        Command::Echo { common, .. }
        | Command::Fanout { common, .. }
        | Command::Idle { common, .. }
        | Command::Churn { common, .. }
        | Command::Slow { common, .. } => common.clone(),
    };
    // Bad conditions are refused before any load is made.
    let mut conditions = Vec::new();
    if let Some(spec) = &common.expect {
        conditions.extend(check::parse(spec, Sense::Expect)?);
    }
    if let Some(spec) = &common.fail_if {
        conditions.extend(check::parse(spec, Sense::FailIf)?);
    }
    let mut report = match cli.scenario {
        Command::Echo { common, connections, size, inflight, text, rate } => {
            if rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
                return Err("--rate must be above 0".into());
            }
            let window = Arc::new(Window::default());
            let w = window.clone();
            let threads = common.threads;
            let plan = Plan {
                name: "echo",
                unit: "messages",
                connections,
                target_per_s: rate,
                tail: rate.is_some(),
                largest_reply: Some(size.max(20)),
                second_target: None,
            };
            let per_connection = rate.map(|r| r / connections.max(1) as f64);
            drive(&common, plan, window, move |worker| {
                let echo = scenario::echo::Echo::new(
                    share(connections, threads, worker),
                    size,
                    inflight,
                    !text,
                    w.clone(),
                );
                match per_connection {
                    Some(rate) => echo.paced(rate),
                    None => echo,
                }
            })?
        }
        Command::Fanout {
            common,
            subscribers,
            publishers,
            rate,
            subscribe,
            publish,
            publish_url,
        } => {
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
            let plan = Plan {
                name: "fanout",
                unit: "deliveries",
                connections: subscribers + publishers,
                // Every subscriber receives every publish.
                target_per_s: Some(rate * subscribers as f64),
                tail: true,
                largest_reply: None,
                second_target: publish_url.map(|url| (url, subscribers)),
            };
            drive(&common, plan, window, move |worker| {
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
            })?
        }
        Command::Idle { common, connections, ping_interval } => {
            let threads = common.threads;
            let ping = (ping_interval > 0.0).then_some((ping_interval * 1e9) as u64);
            let window = Arc::new(Window::default());
            // The connect rate is capped by --connect-rate, not a target: what the server
            // sustains is the finding.
            let plan = Plan {
                name: "idle",
                unit: "connections",
                connections,
                target_per_s: None,
                tail: false,
                largest_reply: None,
                second_target: None,
            };
            drive(&common, plan, window, move |worker| {
                scenario::idle::Idle::new(share(connections, threads, worker), ping)
            })?
        }
        Command::Churn { common, rate } => {
            let window = Arc::new(Window::default());
            let w = window.clone();
            let threads = common.threads;
            let plan = Plan {
                name: "churn",
                unit: "handshakes",
                connections: 0,
                target_per_s: Some(rate),
                tail: true,
                largest_reply: None,
                second_target: None,
            };
            drive(&common, plan, window, move |worker| {
                scenario::churn::Churn::new(
                    rate / threads.max(1) as f64,
                    worker,
                    threads,
                    w.clone(),
                )
            })?
        }
        Command::Slow { common, slow, rate, size, subscribe, publish } => {
            slow_subscribers::run(&common, slow, rate, size, subscribe, publish)?
        }
    };
    report.checks = check::evaluate(&conditions, &report);
    if common.strict {
        report.checks.extend(check::strict(&report));
    }
    finish_report(&common, &report)?;
    print!("{}", report.table());
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

impl Common {
    /// The TLS client settings for a wss:// target; `None` for ws://.
    ///
    /// # Errors
    /// wss:// without a way to check the certificate (--ca or --insecure), or a bad CA file;
    /// --ca or --insecure with a ws:// target.
    pub(crate) fn tls(&self, target: &target::Target) -> Result<Option<tls::TlsClient>, String> {
        let trust = match (&self.ca, self.insecure) {
            (Some(ca), false) => Some(tls::Trust::Roots(ca.clone())),
            (None, true) => Some(tls::Trust::Anything),
            (None, false) => None,
            (Some(_), true) => return Err("--ca and --insecure exclude each other".into()),
        };
        match (&target.tls_name, trust) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err("--ca and --insecure are for wss:// targets".into()),
            (Some(name), Some(trust)) => tls::TlsClient::new(name, &trust).map(Some),
            (Some(_), None) => Err(format!(
                "{}: give --ca FILE (the certificate to trust) or --insecure (accept any)",
                self.url
            )),
        }
    }
}
