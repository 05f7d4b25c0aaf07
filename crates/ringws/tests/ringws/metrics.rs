//! The figures an embedder reads (`ServerHandle::metrics`) follow what clients did, and the
//! application's own metrics are served next to the server's at `/metrics`.

use super::{raw_exchange, server_with, stop, wait_until};
use ringws::Limits;
use ringws::prometheus_client::metrics::counter::Counter;
use ringws::prometheus_client::registry::Registry;

#[test]
fn metrics_follow_the_traffic_and_carry_the_applications_own() {
    let mut registry = Registry::default();
    let logins: Counter = Counter::default();
    registry.register("game_logins", "Players who logged in", logins.clone());
    let (server, _seen) = server_with(Limits::default(), |app| app.metrics_registry(registry));
    let handle = server.handle();
    let mut ws = super::connect(&server);
    for n in 0..7 {
        ws.send(tungstenite::Message::text(format!("hello {n}"))).unwrap();
        ws.read().unwrap();
    }
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    // A close frame without a code: reported as 1005.
    wait_until("the close counted", || handle.metrics().closed_by_code.get(&1005) == Some(&1));
    let m = handle.metrics();
    assert_eq!((m.upgrades, m.connections_open), (1, 0));
    assert_eq!((m.messages_received, m.bytes_received), (7, 7 * 7));
    assert_eq!((m.messages_sent, m.bytes_sent), (7, 7 * 7), "the echoes");
    let refused = raw_exchange(server.local_addr(), super::upgrade_head("/nope", "").as_bytes());
    assert!(refused.starts_with("HTTP/1.1 404"), "{refused}");
    assert_eq!(handle.metrics().refused_by_status.get(&404), Some(&1));

    logins.inc_by(3);
    let text = raw_exchange(server.local_addr(), b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\nringws_upgrades_total 1\n"), "{text}");
    assert!(text.contains("ringws_messages_received_total{route=\"/echo\"} 7\n"), "{text}");
    assert!(text.contains("\ngame_logins_total 3\n"), "the application's own: {text}");
    stop(server);
}

#[test]
fn the_metrics_path_can_move_or_go() {
    let (server, _seen) = server_with(Limits::default(), |app| app.metrics_path(None));
    let answer = raw_exchange(server.local_addr(), b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(server.handle().metrics_text().contains("ringws_upgrades_total 0"));
    stop(server);
    let (server, _seen) = server_with(Limits::default(), |app| app.metrics_path(Some("/m")));
    let answer = raw_exchange(server.local_addr(), b"GET /m HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(answer.contains("ringws_connections_open 0"), "{answer}");
    stop(server);
}
