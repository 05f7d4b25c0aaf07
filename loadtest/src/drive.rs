//! A driven run: start the load-generator threads, open the connections (saying why when that
//! stalls), warm up, measure the window, let in-window work drain (the tail), stop, and build the
//! report.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::client::{LoadWorker, Scenario, Shared, sources};
use crate::report::{Report, ServerUse};
use crate::scenario::Window;
use crate::stats::{Progress, Stats};
use crate::target::Target;
use crate::{Common, procfs};

/// What a scenario asks of the run.
pub(crate) struct Plan {
    pub(crate) name: &'static str,
    /// The unit of the figure: "messages", "deliveries", "handshakes", "connections".
    pub(crate) unit: &'static str,
    /// Connections to open before measuring (0: the scenario opens them as it goes).
    pub(crate) connections: u64,
    /// The rate the scenario schedules, in `unit` per second; `None` for a closed loop.
    pub(crate) target_per_s: Option<f64>,
    /// Open loop: events of the window may complete after it, so wait for them (the tail).
    pub(crate) tail: bool,
    /// The largest message the server sends back, if the scenario knows it (echo).
    pub(crate) largest_reply: Option<usize>,
    /// Connections with tags from this one on dial this URL instead (fan-out's publishers on
    /// another node, `--publish-url`).
    pub(crate) second_target: Option<(String, u64)>,
}

/// Silence in the connect phase after which the tool says what it is waiting for.
const STALL_AFTER: Duration = Duration::from_secs(2);
/// The tail ends when no in-window event arrived for this long, or at `TAIL_MAX`.
const TAIL_QUIET: Duration = Duration::from_millis(250);
const TAIL_MAX: Duration = Duration::from_secs(5);

/// Runs `plan` with one scenario per load-generator thread, made by `make`.
pub(crate) fn drive<S, F>(
    common: &Common,
    plan: Plan,
    window: Arc<Window>,
    make: F,
) -> Result<Report, String>
where
    S: Scenario,
    F: Fn(usize) -> S + Send + Sync + 'static,
{
    let meta = crate::meta::RunMeta::now();
    let target = Target::parse(&common.url)?;
    let rss_at_start = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);
    if !common.cpus.is_empty() {
        ringws_uring::sys::pin_to_cpus(&common.cpus)
            .map_err(|e| format!("pinning to {:?}: {e}", common.cpus))?;
    }
    let threads = common.threads.max(1);
    let needed_sources = plan.connections.div_ceil(common.per_source.max(1)).max(1) as usize;
    let shared = Arc::new(Shared {
        target: target.clone(),
        sources: sources([127, 0, 0, 10], needed_sources),
        per_source: common.per_source.max(1),
        dials_per_s: common.connect_rate as f64 / threads as f64,
        max_pending_per_thread: (common.max_pending / threads as u64).max(1) as usize,
        start: Instant::now(),
        progress: Progress::default(),
        results: Mutex::new(Vec::new()),
        deflate: common.deflate,
        second: match &plan.second_target {
            Some((url, from)) => {
                let second = Target::parse(url)?;
                if second.tls_name.is_some() != target.tls_name.is_some() {
                    return Err(format!(
                        "{url}: the publish URL must have the scheme of {}",
                        common.url
                    ));
                }
                Some((second, *from))
            }
            None => None,
        },
        tls: common.tls(&target)?,
        tls_error: Mutex::new(None),
    });
    // Many small buffers by default: subscribers receive small messages all at once, and a
    // receive finding the buffer ring empty has to be re-armed. An echo of large messages gets
    // buffers that hold a whole reply, as the server's do: split over two, each one is
    // reassembled (measured: the tool spent 15.7 us per 16 KiB echo with 16 KiB buffers).
    let (buf_size, buf_count) = match plan.largest_reply {
        Some(n) if n + 14 > 16 * 1024 => (64 * 1024, 1024),
        _ => (16 * 1024, 4096),
    };
    let config = ringws_uring::Config {
        workers: threads,
        listen: false,
        pin: !common.cpus.is_empty(),
        max_connections: plan.connections as usize + 4096,
        // Fine enough that a publish or dial goes out within tens of microseconds of its
        // scheduled time: the tool's own lateness is the floor under every latency it reports.
        timer_tick: Duration::from_micros(50),
        buf_size,
        buf_count,
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

    let mut notes = Vec::new();
    let opened = connect_phase(common, &shared.progress, plan.connections, &target, &mut notes);
    // Subscriptions travel after the handshake: give them a moment before the clock starts.
    std::thread::sleep(Duration::from_millis(if plan.name == "fanout" { 1000 } else { 100 }));

    let warmup = Duration::from_secs_f64(common.warmup.max(0.0));
    let duration = Duration::from_secs_f64(common.duration.max(0.1));
    let begin = shared.start.elapsed() + warmup;
    window.set(begin.as_nanos() as u64, (begin + duration).as_nanos() as u64);
    std::thread::sleep(warmup);
    let me = std::process::id();
    let tool_mark = procfs::CpuMark::take(me);
    let server_mark = common.server_pid.and_then(procfs::CpuMark::take);
    let rss_before = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);
    let progress = &shared.progress;
    let bar = progress_bar(common, (duration.as_secs_f64() * 10.0) as u64, plan.unit);
    let measure_start = Instant::now();
    while measure_start.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(100));
        bar.set_position((measure_start.elapsed().as_secs_f64() * 10.0) as u64);
        bar.set_message(format!("{} {}", progress.messages.load(Ordering::Relaxed), plan.unit));
    }
    bar.finish_and_clear();
    let tool = tool_mark.and_then(|m| m.since(me));
    let server = server_mark.zip(common.server_pid).and_then(|(m, pid)| m.since(pid));
    let rss_after = common.server_pid.and_then(procfs::rss_kib).unwrap_or(0);
    let open_at_end = progress.open.load(Ordering::Relaxed);
    // Before the shutdown, which closes every connection on purpose.
    let read = Progress::read;
    let (by_peer, by_error, locally) = (
        read(&progress.ended_by_peer),
        read(&progress.ended_by_error),
        read(&progress.ended_locally),
    );
    if plan.tail {
        wait_for_tail(progress);
    }

    handle.shutdown();
    driver.join().map_err(|e| format!("load generator: {e}"))?;
    let stats = shared
        .results
        .lock()
        .map_err(|_| "a load thread panicked")?
        .drain(..)
        .fold(Stats::new(), Stats::merge);
    let mut report = Report {
        scenario: plan.name,
        target: common.url.clone(),
        unit: plan.unit,
        seconds: duration.as_secs_f64(),
        target_per_s: plan.target_per_s,
        requested_connections: plan.connections,
        connections: if plan.name == "churn" { stats.count } else { opened },
        errors: progress.errors.load(Ordering::Relaxed),
        tool_cpu_percent: tool.map_or(0.0, |(cpu, wall)| 100.0 * cpu / wall / threads as f64),
        tool_threads: threads,
        server: None,
        notes,
        checks: Vec::new(),
        meta,
        stats,
    };
    let cut = shared.progress.cut_at_end.load(std::sync::atomic::Ordering::Relaxed);
    if cut > 0 {
        report.notes.push(format!(
            "{cut} connect(s) or handshake(s) were still in flight when the run ended (cut by the \
             tool, not counted as errors)"
        ));
    }
    if let Some(e) = shared.tls_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let hint = if e.contains("CaUsedAsEndEntity") {
            " (the --ca certificate is a CA serving as the server's own, which webpki refuses: \
             make it with basicConstraints CA:FALSE, or use --insecure)"
        } else {
            ""
        };
        report.notes.push(format!("TLS failed on a connection: {e}{hint}"));
    }
    if plan.name == "idle" {
        let pings = progress.pings.load(Ordering::Relaxed);
        let held = Held { opened, open_at_end, pings, rss_kib: (rss_at_start, rss_after) };
        report.notes.extend(held.notes());
        // The idle rate is the connect rate over the connect phase, not the hold window.
        report.seconds = report.stats.extra("connect_seconds_max").unwrap_or(0.0).max(1e-9);
    }
    if let Some((cpu, wall)) = server {
        let count = report.stats.count;
        report.server = Some(ServerUse {
            cpu_percent: 100.0 * cpu / wall,
            cpu_us_per_event: if count > 0 { cpu * 1e6 / count as f64 } else { 0.0 },
            rss_kib_before: rss_before,
            rss_kib_after: rss_after,
        });
    }
    if by_peer + by_error + locally > 0 {
        report.notes.push(format!(
            "open connections that ended unasked: {by_peer} closed by the server, {by_error} by \
             a socket error, {locally} by this tool on a protocol error"
        ));
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
    if report.missed_target() {
        let warning = format!(
            "WARNING: MISSED THE TARGET RATE: {:.0} {} per second achieved of {:.0} asked ({:.1} %).",
            report.rate(),
            plan.unit,
            report.target_per_s.unwrap_or(0.0),
            report.achieved_ratio().unwrap_or(0.0) * 100.0
        );
        eprintln!("\n*** {warning} ***\n");
        report.notes.push(warning);
    }
    Ok(report)
}

/// What an idle run held, read at the end of its hold.
struct Held {
    /// Open when the connect phase ended.
    opened: u64,
    open_at_end: u64,
    pings: u64,
    /// The server's RSS before connecting and at the end of the hold (0: not known).
    rss_kib: (u64, u64),
}

impl Held {
    fn notes(&self) -> Vec<String> {
        let Self { opened, open_at_end, pings, rss_kib: (before, holding) } = *self;
        let mut notes = vec![if open_at_end > opened {
            // Handshakes still in flight when a cut connect phase ended completed in the hold.
            format!(
                "{open_at_end} connections open at the end of the hold: {opened} when the connect \
                 phase ended, {} more completed after it; {pings} pings from the server answered",
                open_at_end - opened
            )
        } else {
            format!(
                "{open_at_end} of {opened} connections still open at the end of the hold; {pings} \
                 pings from the server answered"
            )
        }];
        // Over the connections open when the RSS was read (the end of the hold).
        if holding > 0 && open_at_end > 0 {
            let per = holding.saturating_sub(before) as f64 * 1024.0 / open_at_end as f64;
            notes.push(format!(
                "server RSS {before} KiB before connecting, {holding} KiB holding {open_at_end} \
                 connections: {per:.0} bytes per connection"
            ));
        }
        notes
    }
}

/// Waits until every connection opened or failed, saying what it waits for whenever nothing
/// moved for a while; returns how many opened.
fn connect_phase(
    common: &Common,
    progress: &Progress,
    connections: u64,
    target: &Target,
    notes: &mut Vec<String>,
) -> u64 {
    let bar = progress_bar(common, connections, "connecting");
    let timeout = Duration::from_secs_f64(common.connect_timeout.max(0.0));
    let start = Instant::now();
    let (mut last_seen, mut last_move, mut last_said) = (u64::MAX, start, start);
    // Opened, failed, or opened and already closed again: none of them is waited for.
    let settled = || {
        let read = Progress::read;
        read(&progress.open) + read(&progress.errors) + read(&progress.ended)
    };
    while settled() < connections {
        let now = Instant::now();
        let seen = settled();
        if seen != last_seen {
            (last_seen, last_move) = (seen, now);
        }
        if now - start > timeout {
            let why = stall(progress, connections, target);
            eprintln!("ringws-load: gave up waiting after {timeout:?}: {why}");
            notes.push(format!("connect phase cut at {timeout:?}: {why}"));
            break;
        }
        if now - last_move >= STALL_AFTER && now - last_said >= STALL_AFTER {
            bar.suspend(|| {
                eprintln!("ringws-load: connecting: {}", stall(progress, connections, target))
            });
            last_said = now;
        }
        bar.set_position(progress.open.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(50));
    }
    bar.finish_and_clear();
    let opened = progress.open.load(Ordering::Relaxed);
    if connections > 0 && opened < connections {
        let ended = progress.ended.load(Ordering::Relaxed);
        notes.push(format!(
            "only {opened} of {connections} connections opened and still open ({ended} \
             opened and were closed again)"
        ));
    }
    opened
}

/// Where the connections stand, and the likely reason for the wait.
pub(crate) fn stall(progress: &Progress, connections: u64, target: &Target) -> String {
    let load = Progress::read;
    let (open, errors, ended) =
        (load(&progress.open), load(&progress.errors), load(&progress.ended));
    let (dialed, connected, dial_failed) =
        (load(&progress.dialed), load(&progress.connected), load(&progress.dial_failed));
    let tcp_pending = dialed.saturating_sub(connected + dial_failed);
    let upgrade_pending =
        connected.saturating_sub(open + ended + errors.saturating_sub(dial_failed));
    let not_dialed = connections.saturating_sub(dialed);
    let mut why = format!(
        "{open} of {connections} open, {errors} failed, {ended} opened and closed again; {tcp_pending} TCP connects pending, \
         {upgrade_pending} upgrades sent with no answer, {not_dialed} not dialed yet"
    );
    if upgrade_pending > 0 && upgrade_pending >= tcp_pending {
        why += &format!(
            " -- the server at {} does not answer these upgrades: is {} a WebSocket endpoint, \
             is the server keeping up, or did its listen backlog overflow (the client's connect \
             completes, the server's kernel drops it: `nstat -az TcpExtListenOverflows`)?",
            target.addr, target.path
        );
    } else if tcp_pending > 0 {
        why += &format!(
            " -- connects to {} are not completing: the listen backlog may be full \
             (lower --connect-rate) or nothing accepts on that port",
            target.addr
        );
        // Measured: with 131,072 TIME_WAIT sockets left by an earlier run, the kernel's search
        // for a free source port (bind to port 0) took the tool's whole core for a minute.
        if let Some(tw) = time_wait_sockets().filter(|&tw| tw >= 10_000) {
            why += &format!(
                "; {tw} sockets are in TIME_WAIT on this machine, which slows the kernel's search \
                 for free source ports (they expire within 60 s)"
            );
        }
    } else if not_dialed > 0 {
        why += " -- dials are paced by --connect-rate";
    }
    why
}

/// TCP sockets in TIME_WAIT on this machine (`/proc/net/sockstat`), if readable.
fn time_wait_sockets() -> Option<u64> {
    time_wait_in(&std::fs::read_to_string("/proc/net/sockstat").ok()?)
}

fn time_wait_in(stat: &str) -> Option<u64> {
    let tcp = stat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = tcp.split_whitespace();
    words.position(|w| w == "tw")?;
    words.next()?.parse().ok()
}

/// Waits while in-window events still arrive (deliveries of the window's last publishes).
fn wait_for_tail(progress: &Progress) {
    let start = Instant::now();
    let mut last = progress.messages.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    while start.elapsed() < TAIL_MAX && quiet_since.elapsed() < TAIL_QUIET {
        std::thread::sleep(Duration::from_millis(25));
        let now = progress.messages.load(Ordering::Relaxed);
        if now != last {
            (last, quiet_since) = (now, Instant::now());
        }
    }
}

pub(crate) fn progress_bar(common: &Common, len: u64, what: &str) -> indicatif::ProgressBar {
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

#[cfg(test)]
mod tests {
    use super::Held;

    #[test]
    fn time_wait_sockets_are_read_from_sockstat() {
        let stat = "sockets: used 4\nTCP: inuse 3 orphan 0 tw 131072 alloc 9 mem 1\nUDP: inuse 0\n";
        assert_eq!(super::time_wait_in(stat), Some(131_072));
        assert_eq!(super::time_wait_in("TCP: inuse 3\n"), None);
        assert!(super::time_wait_sockets().is_some(), "this machine's own sockstat");
    }

    #[test]
    fn memory_per_connection_is_over_the_connections_held_when_it_was_read() {
        // A cut connect phase: 95,000 open then, 97,000 once the stragglers completed.
        let held = Held { opened: 95_000, open_at_end: 97_000, pings: 0, rss_kib: (1000, 20_000) };
        let notes = held.notes();
        assert!(
            notes[0].contains("97000 connections open at the end of the hold: 95000"),
            "{notes:?}"
        );
        assert!(notes[0].contains("2000 more completed after it"), "{notes:?}");
        assert!(
            notes[1].ends_with("holding 97000 connections: 201 bytes per connection"),
            "{notes:?}"
        );
        // Some closed during the hold.
        let held = Held { opened: 100, open_at_end: 90, pings: 5, rss_kib: (0, 0) };
        assert_eq!(
            held.notes(),
            [
                "90 of 100 connections still open at the end of the hold; 5 pings from the server answered"
            ]
        );
    }
}
