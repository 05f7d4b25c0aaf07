//! `ringws-load` end to end against an in-process ringws server: each scenario runs briefly,
//! stops by itself, and reports what the server did in JSON.
// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ringws::{
    Accept, App, Handler, Kind, Limits, Message, Reject, RouteOptions, Server, SlowConsumer,
    UpgradeRequest, WebSocket,
};
use std::net::SocketAddr;
use std::process::Command;

struct Echo;
impl Handler for Echo {
    type Data = ();
    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }
    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, m: Message<'_>) {
        let _ = ws.send(m);
    }
}

/// Subscribes on "sub", publishes anything else to everyone (like a broadcast server).
struct Topic;
impl Handler for Topic {
    type Data = ();
    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }
    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, m: Message<'_>) {
        match m {
            Message::Text("sub") => {
                ws.subscribe("t");
            }
            Message::Text(t) => {
                ws.publish("t", Kind::Text, t.as_bytes());
            }
            Message::Binary(_) => {}
        }
    }
}

fn server() -> Server {
    server_with(|app| app)
}

fn server_with(tls: impl FnOnce(App) -> App) -> Server {
    tls(App::new())
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .limits(Limits::default())
        .ws("/echo", || Echo)
        // 1 MiB: the slow subscribers (12 MB/s, never reading) pass it within the run, the healthy
        // one (a debug build of the tool) does not.
        .ws_with("/t", RouteOptions::new(1 << 20, SlowConsumer::Close), || Topic)
        .start()
        .unwrap()
}

fn stop(server: Server) {
    server.handle().shutdown();
    server.join().unwrap();
}

/// What one run of the tool left: its exit status, JSON report (if it wrote one) and stderr.
struct Run {
    code: Option<i32>,
    json: serde_json::Value,
    stderr: String,
}

fn run_tool(args: &[&str]) -> Run {
    let json = std::env::temp_dir().join(format!(
        "ringws-load-{}-{}-{:?}.json",
        std::process::id(),
        args[0],
        std::thread::current().id()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ringws-load"))
        .args(args)
        .args(["--quiet", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&json).unwrap_or_default();
    let _ = std::fs::remove_file(json);
    Run {
        code: out.status.code(),
        json: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A short run that must succeed.
fn load(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--duration", "1", "--warmup", "0.2"]);
    let run = run_tool(&all);
    assert_eq!(run.code, Some(0), "ringws-load {args:?} failed: {}", run.stderr);
    run.json
}

#[test]
fn echo_reports_messages_and_latency() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let r = load(&["echo", &url, "--connections", "20", "--size", "64"]);
    assert_eq!(r["errors"], 0);
    assert_eq!(r["connections"], 20);
    assert!(r["count"].as_u64().unwrap() > 100, "{r}");
    assert!(r["latency_us"]["p50"].as_u64().unwrap() > 0);
    assert!(r["latency_us"]["p99_9"].as_u64().unwrap() >= r["latency_us"]["p50"].as_u64().unwrap());
    assert!(r["warmup_count"].as_u64().unwrap() > 0, "the warm-up is counted apart: {r}");
    assert_eq!(r["target_rate_per_s"], serde_json::Value::Null, "echo is a closed loop");
    stop(s);
}

#[test]
fn an_open_loop_echo_sends_at_its_rate_and_counts_every_reply_of_the_window() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let r = load(&["echo", &url, "--connections", "10", "--size", "64", "--rate", "2000"]);
    assert_eq!(r["errors"], 0);
    assert_eq!(r["target_rate_per_s"], 2000.0);
    // One second at 2,000/s: the window's messages, every one echoed (the tail waits for them).
    let sent = r["extra"]["published"].as_f64().unwrap();
    assert!((1900.0..=2100.0).contains(&sent), "{r}");
    assert_eq!(r["count"].as_f64().unwrap(), sent, "each of the window's messages came back: {r}");
    assert!(r["achieved_ratio"].as_f64().unwrap() > 0.95, "{r}");
    stop(s);
}

#[test]
fn fanout_counts_every_delivery_of_the_windows_publishes() {
    let s = server();
    let url = format!("ws://{}/t", s.local_addr());
    let r = load(&[
        "fanout",
        &url,
        "--subscribers",
        "200",
        "--rate",
        "20",
        "--subscribe",
        "sub",
        "--publish",
        "m $TS",
    ]);
    assert_eq!(r["errors"], 0);
    // Counted by the publish's scheduled time, tail included: exactly the window's publishes
    // times the subscribers, never a publish cut in half by the window's edge.
    let published = r["extra"]["published"].as_f64().unwrap() as u64;
    assert_eq!(published, 20, "20/s for 1 s: {r}");
    assert_eq!(r["count"].as_u64().unwrap(), published * 200, "{r}");
    assert!(r["extra"]["published_warmup"].as_f64().unwrap() >= 3.0, "{r}");
    let ratio = r["achieved_ratio"].as_f64().unwrap();
    assert!((ratio - 1.0).abs() <= 0.02, "achieved {ratio} of the target: {r}");
    // The tool's own lateness is the floor under the latencies: well under a millisecond.
    let late = r["schedule_lateness_us"]["p50"].as_u64().unwrap();
    assert!(late < 1_000, "the publisher ran {late} us behind its schedule: {r}");
    stop(s);
}

#[test]
fn churn_meets_its_target_rate_at_several_rates() {
    // The old pacer credited a fixed amount per timer callback, which came every 2 ms instead
    // of 1: 100/s gave 48, 500/s gave 250, 2000/s gave 984.
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    for rate in ["100", "500", "2000"] {
        let r = load(&["churn", &url, "--rate", rate]);
        let ratio = r["achieved_ratio"].as_f64().unwrap();
        assert!((ratio - 1.0).abs() <= 0.02, "--rate {rate}: achieved {ratio} of it: {r}");
        assert_eq!(r["missed_target"], false);
    }
    stop(s);
}

#[test]
fn idle_opens_every_connection_at_the_connect_rate() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let idle = load(&["idle", &url, "--connections", "300", "--connect-rate", "1000"]);
    assert_eq!(idle["connections"], 300);
    assert_eq!(idle["errors"], 0);
    // 300 dials paced at 1,000/s take 0.3 s (the old pacer started at least 1 per ms per
    // thread whatever the rate, and rounded 1,500/s down to 1,000/s).
    let span = idle["extra"]["connect_seconds_max"].as_f64().unwrap();
    assert!((0.29..0.5).contains(&span), "connect phase took {span} s");
    stop(s);
}

/// A TCP listener that never answers an upgrade: every handshake hangs.
fn mute_server() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

#[test]
fn strict_fails_a_run_that_misses_its_target() {
    let mute = mute_server();
    let url = format!("ws://{}/echo", mute.local_addr().unwrap());
    let args = ["churn", &url, "--rate", "200", "--duration", "1", "--warmup", "0"];
    let lenient = run_tool(&args);
    assert_eq!(lenient.code, Some(0), "{}", lenient.stderr);
    assert_eq!(lenient.json["missed_target"], true);
    assert!(lenient.stderr.contains("MISSED THE TARGET RATE"), "said loudly: {}", lenient.stderr);
    let strict = run_tool(&[&args[..], &["--strict"]].concat());
    assert_eq!(strict.code, Some(2), "{}", strict.stderr);
    let checks = strict.json["checks"].to_string();
    assert!(checks.contains("strict: rate within 5 %"), "{checks}");
}

#[test]
fn expect_and_fail_if_decide_the_exit_status() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let base = ["echo", &url, "--connections", "5", "--duration", "0.5", "--warmup", "0"];
    let pass = run_tool(&[&base[..], &["--expect", "p99<60s,errors<1,per_s>1"]].concat());
    assert_eq!(pass.code, Some(0), "{}", pass.stderr);
    assert_eq!(pass.json["checks"].as_array().unwrap().len(), 3);
    let fail = run_tool(&[&base[..], &["--expect", "p50<1us"]].concat());
    assert_eq!(fail.code, Some(2), "{}", fail.stderr);
    let fail_if = run_tool(&[&base[..], &["--fail-if", "errors<1"]].concat());
    assert_eq!(fail_if.code, Some(2), "{}", fail_if.stderr);
    // A rate check on a closed loop cannot be evaluated: it fails, saying why.
    let no_target = run_tool(&[&base[..], &["--expect", "rate>=0.98"]].concat());
    assert_eq!(no_target.code, Some(2));
    assert!(no_target.json["checks"].to_string().contains("no target rate"));
    // A malformed condition is refused before any load is made.
    let bad = run_tool(&[&base[..], &["--expect", "p99<5"]].concat());
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("is not a time"), "{}", bad.stderr);
    stop(s);
}

#[test]
fn reports_say_what_made_them() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let r = load(&["echo", &url, "--connections", "2"]);
    assert_eq!(r["schema_version"], 2);
    assert_eq!(r["tool"]["name"], "ringws-load");
    assert!(r["tool"]["git_commit"].as_str().unwrap().len() >= 7, "{r}");
    assert!(r["command_line"].to_string().contains("--connections"), "{r}");
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(r["machine"]["kernel"].as_str().unwrap().contains('.'));
    assert!(r["started_at"].as_str().unwrap().ends_with('Z'));
    stop(s);
}

#[test]
fn a_stalled_connect_phase_says_what_it_waits_for() {
    let mute = mute_server();
    let url = format!("ws://{}/echo", mute.local_addr().unwrap());
    let r = run_tool(&[
        "idle",
        &url,
        "--connections",
        "5",
        "--connect-timeout",
        "2.5",
        "--duration",
        "0.1",
        "--warmup",
        "0",
    ]);
    assert!(
        r.stderr.contains("5 upgrades sent with no answer")
            && r.stderr.contains("does not answer these upgrades"),
        "{}",
        r.stderr
    );
    assert!(r.json["notes"].to_string().contains("only 0 of 5 connections opened"));
}

#[test]
fn slow_subscribers_are_reported_closed_with_1008() {
    let s = server();
    let url = format!("ws://{}/t", s.local_addr());
    let r = load(&[
        "slow",
        &url,
        "--slow",
        "3",
        "--rate",
        "3000",
        "--size",
        "4096",
        "--subscribe",
        "sub",
        "--publish",
        "$TS",
    ]);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("3 closed by the server") && notes.contains("[1008, 1008, 1008]"),
        "{notes}"
    );
    stop(s);
}

#[test]
fn remote_targets_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringws-load"))
        .args(["echo", "ws://192.0.2.1:80/", "--duration", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn two_generator_threads_share_the_load_and_the_rate() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let echo = load(&["echo", &url, "--connections", "21", "--threads", "2"]);
    assert_eq!(echo["connections"], 21, "both threads' connections opened: {echo}");
    assert_eq!(echo["tool_threads"], 2);
    assert!(echo["count"].as_u64().unwrap() > 100, "{echo}");
    // The target is split over the threads and met by their sum.
    let churn = load(&["churn", &url, "--rate", "700", "--threads", "2"]);
    let ratio = churn["achieved_ratio"].as_f64().unwrap();
    assert!((ratio - 1.0).abs() <= 0.02, "achieved {ratio} of 700/s on two threads: {churn}");
    stop(s);
}

/// TIME_WAIT sockets on loopback with `port` at one end: (held by the side at `port`, held by
/// the other side), from /proc/net/tcp.
fn time_wait(port: u16) -> (usize, usize) {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_of = |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
    let (mut ours, mut theirs) = (0, 0);
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(3) != Some(&"06") {
            continue;
        }
        if port_of(f[1]) == port {
            ours += 1;
        } else if port_of(f[2]) == port {
            theirs += 1;
        }
    }
    (ours, theirs)
}

#[test]
fn after_churn_the_server_holds_time_wait_not_the_generator() {
    // RFC 6455 §7.1.1: the server closes TCP first, so TIME_WAIT stays with it. A generator that
    // closed right after its close frame kept every TIME_WAIT itself and ran out of ports at
    // high churn rates (13.7k client-side against 192 server-side in one run).
    // The kernel keeps at most tcp_max_tw_buckets TIME_WAIT sockets and destroys the rest at
    // once: with the table nearly full (after a million-connection run, for a minute), there
    // is nothing to count.
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let max_tw: u64 = read("/proc/sys/net/ipv4/tcp_max_tw_buckets").trim().parse().unwrap_or(0);
    let tw_now: u64 = read("/proc/net/sockstat")
        .split_whitespace()
        .skip_while(|w| *w != "tw")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if tw_now + 10_000 > max_tw {
        eprintln!("SKIPPED: the TIME_WAIT table is nearly full ({tw_now} of {max_tw})");
        return;
    }
    let s = server();
    let port = s.local_addr().port();
    let url = format!("ws://{}/echo", s.local_addr());
    let r = load(&["churn", &url, "--rate", "300"]);
    assert!(r["count"].as_u64().unwrap() >= 290, "{r}");
    let (server_side, client_side) = time_wait(port);
    assert!(
        server_side >= 300 && client_side * 20 <= server_side,
        "TIME_WAIT: {server_side} at the server, {client_side} at the generator"
    );
    stop(s);
}

/// A wss:// server with a self-signed certificate for `localhost`, and that certificate's PEM
/// file (for --ca).
fn tls_server() -> (Server, std::path::PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let pem = std::env::temp_dir().join(format!(
        "ringws-load-ca-{}-{:?}.pem",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&pem, cert.cert.pem()).unwrap();
    let key = ringws::rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der());
    let certs = ringws::tls::Certificates::new(vec![cert.cert.der().clone()], key.unwrap());
    let config = certs.unwrap().into_config().unwrap();
    (server_with(move |app| app.tls(config)), pem)
}

#[test]
fn every_scenario_runs_over_wss() {
    let (s, ca) = tls_server();
    let port = s.local_addr().port();
    let (echo, topic) =
        (format!("wss://localhost:{port}/echo"), format!("wss://localhost:{port}/t"));
    let ca = ca.to_str().unwrap();
    let r = load(&["echo", &echo, "--connections", "20", "--size", "2000", "--ca", ca]);
    assert_eq!((r["errors"].as_u64(), r["connections"].as_u64()), (Some(0), Some(20)), "{r}");
    assert!(r["count"].as_u64().unwrap() > 100, "{r}");
    let sub = ["--subscribe", "sub", "--publish", "m $TS"];
    let mut args = vec!["fanout", &topic, "--subscribers", "50", "--rate", "20", "--insecure"];
    args.extend(sub);
    let r = load(&args);
    assert_eq!(r["errors"], 0, "{r}");
    assert_eq!(r["count"].as_u64().unwrap(), r["extra"]["published"].as_f64().unwrap() as u64 * 50);
    let r = load(&["idle", &echo, "--connections", "100", "--insecure"]);
    assert_eq!((r["errors"].as_u64(), r["connections"].as_u64()), (Some(0), Some(100)), "{r}");
    let r = load(&["churn", &echo, "--rate", "100", "--insecure"]);
    assert_eq!(r["errors"], 0, "{r}");
    assert!(r["count"].as_u64().unwrap() >= 90, "{r}");
    let mut args = vec!["slow", &topic, "--slow", "2", "--rate", "3000", "--size", "4096"];
    args.extend(["--subscribe", "sub", "--publish", "$TS", "--insecure"]);
    let r = load(&args);
    assert!(r["notes"].to_string().contains("2 closed by the server"), "{r}");
    // Without a way to check the certificate, the tool says what to give it.
    let run = run_tool(&["echo", &echo, "--duration", "0.2"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("--ca FILE") && run.stderr.contains("--insecure"),
        "{}",
        run.stderr
    );
    stop(s);
    let _ = std::fs::remove_file(ca);
}
