//! The examples, run as a user would and driven by a real client (`cargo test` builds them).

use super::{Ws, raw_exchange, upgrade_head};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// Starts `examples/NAME` on a free port; returns it and its address (from its first line).
fn start_example(name: &str) -> (Child, SocketAddr) {
    let deps = std::env::current_exe().unwrap();
    let bin = deps.parent().and_then(|d| d.parent()).unwrap().join("examples").join(name);
    let mut child = Command::new(&bin)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (built by `cargo test`)", bin.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line}"));
    (child, addr.parse().unwrap())
}

/// Reads text messages until one satisfies `want`, skipping the rest (the room's ticks).
fn read_until(ws: &mut Ws, want: impl Fn(&str) -> bool) -> String {
    for _ in 0..1000 {
        if let tungstenite::Message::Text(t) = ws.read().unwrap()
            && want(t.as_str())
        {
            return t.to_string();
        }
    }
    panic!("never came");
}

#[test]
fn the_game_room_example_relays_ticks_and_says_who_left() {
    let (mut child, addr) = start_example("game_room");
    let join =
        |name: &str| tungstenite::connect(format!("ws://{addr}/room/1?name={name}")).unwrap().0;
    let mut ann = join("ann");
    let mut bob = join("bob");
    read_until(&mut ann, |t| t == "bob joined");
    ann.send(tungstenite::Message::text("hi")).unwrap();
    read_until(&mut bob, |t| t == "ann: hi");
    read_until(&mut bob, |t| t.starts_with("tick ") && t.ends_with(": 2 players"));
    ann.close(None).unwrap();
    read_until(&mut bob, |t| t == "ann left");
    read_until(&mut bob, |t| t.ends_with(": 1 players"));
    let nameless = raw_exchange(addr, upgrade_head("/room/1", "").as_bytes());
    assert!(nameless.starts_with("HTTP/1.1 400"), "{nameless}");
    child.kill().unwrap();
    child.wait().unwrap();
}
