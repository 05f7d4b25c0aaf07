//! `ringws-load` end to end against an in-process ringws server: each scenario runs briefly,
//! stops by itself, and reports what the server did in JSON.
// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ringws::{
    Accept, App, Handler, Limits, Message, OpCode, Reject, RouteOptions, Server, SlowConsumer,
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
            Message::Text(t) => ws.publish("t", OpCode::Text, t.as_bytes()),
            Message::Binary(_) => {}
        }
    }
}

fn server() -> Server {
    App::new()
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

fn load(args: &[&str]) -> serde_json::Value {
    let json =
        std::env::temp_dir().join(format!("ringws-load-{}-{}.json", std::process::id(), args[0]));
    let status = Command::new(env!("CARGO_BIN_EXE_ringws-load"))
        .args(args)
        .args(["--duration", "1", "--warmup", "0.2", "--quiet", "--json"])
        .arg(&json)
        .status()
        .unwrap();
    assert!(status.success(), "ringws-load {args:?} failed");
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let _ = std::fs::remove_file(json);
    report
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
    stop(s);
}

#[test]
fn fanout_delivers_every_publish_to_every_subscriber() {
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
    let count = r["count"].as_u64().unwrap();
    // About 20 publishes in the window, each to 200 subscribers; a multiple of 200 (all or
    // none of a publish falls in the window for each subscriber, give or take the edges).
    assert!(count >= 200 * 15, "deliveries {count}");
    stop(s);
}

#[test]
fn churn_and_idle_open_connections() {
    let s = server();
    let url = format!("ws://{}/echo", s.local_addr());
    let churn = load(&["churn", &url, "--rate", "500"]);
    assert!(churn["count"].as_u64().unwrap() > 200, "{churn}");
    let idle = load(&["idle", &url, "--connections", "300"]);
    assert_eq!(idle["connections"], 300);
    assert_eq!(idle["errors"], 0);
    stop(s);
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
