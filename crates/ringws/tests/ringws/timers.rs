//! Each connection's one deadline: one timer-wheel entry per connection, whatever the kind of
//! deadline, and an idle timeout of zero meaning none.

use super::{connect, server_with, stop, wait_until};
use ringws::Limits;
use std::time::Duration;

#[test]
fn open_connections_hold_one_timer_each() {
    // The defaults: a 10 s handshake timeout, a 120 s idle timeout (a ping at 60 s). The
    // handshake's entry is still pending at the upgrade and fires first, so nothing is added.
    let (server, _rx) = server_with(Limits::default(), |a| a);
    let clients: Vec<_> = (0..50).map(|_| connect(&server)).collect();
    let handle = server.handle();
    wait_until("every upgrade", || handle.open_connections() == 50);
    // The gauge is written at the end of a loop turn: give both workers one.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(handle.pending_timers(), 50, "one wheel entry per connection");
    drop(clients);
    stop(server);
}

#[test]
fn an_idle_timeout_of_zero_means_none() {
    let mut limits = Limits::default();
    limits.idle_timeout = Duration::ZERO;
    let (server, _rx) = server_with(limits, |a| a);
    let mut ws = connect(&server);
    std::thread::sleep(Duration::from_millis(300));
    ws.send(tungstenite::Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("still here"), "no ping, no drop");
    stop(server);
}
