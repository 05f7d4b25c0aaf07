//! The examples, served in-process (each has a `serve` its `main` calls) and driven by a real
//! client.

use super::{Ws, raw_exchange, upgrade_head};

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../../examples/game_room.rs"]
mod game_room;

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
    let (server, tick) = game_room::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
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
    server.handle().shutdown();
    server.join().unwrap();
    drop(tick);
}

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../../examples/market_feed.rs"]
mod market_feed;

#[test]
fn the_market_feed_example_fans_each_symbol_out_to_its_subscribers() {
    let server = market_feed::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    let subscribe =
        |symbol: &str| tungstenite::connect(format!("ws://{addr}/feed/{symbol}")).unwrap().0;
    let mut readers: Vec<Ws> = (0..20).map(|i| subscribe(["ACME", "GLOBEX"][i % 2])).collect();
    for (i, reader) in readers.iter_mut().enumerate() {
        let symbol = ["ACME", "GLOBEX"][i % 2];
        let first = read_until(reader, |_| true);
        assert!(first.contains(&format!("\"s\":\"{symbol}\"")), "only its symbol: {first}");
        let next = read_until(reader, |_| true);
        assert_ne!(first, next, "ticks keep coming");
    }
    let unknown = raw_exchange(addr, upgrade_head("/feed/NOPE", "").as_bytes());
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    server.handle().shutdown();
    server.join().unwrap();
}

#[allow(dead_code)] // its `main` is the example's, not the test's
#[path = "../../examples/token_auth.rs"]
mod token_auth;

#[test]
fn the_token_auth_example_checks_the_token_off_the_core() {
    let (server, auth) = token_auth::serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.local_addr();
    let (mut ann, _) = tungstenite::connect(format!("ws://{addr}/chat?token=secret-ann")).unwrap();
    assert_eq!(ann.read().unwrap(), tungstenite::Message::text("welcome, ann"));
    let bad = raw_exchange(addr, upgrade_head("/chat?token=guess", "").as_bytes());
    assert!(bad.starts_with("HTTP/1.1 401") && bad.contains("WWW-Authenticate: Bearer"), "{bad}");
    let none = raw_exchange(addr, upgrade_head("/chat", "").as_bytes());
    assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    server.handle().shutdown();
    server.join().unwrap();
    drop(auth);
}
