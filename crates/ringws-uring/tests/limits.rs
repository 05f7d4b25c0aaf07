//! A worker whose connection slots are all in use says so, in words, once per pause, and
//! accepts again when a slot frees. A binary of its own: it lowers the process-wide open-file
//! limit that sizes the rings.

mod common;

use common::{Event, config, shutdown_clean, start_under_nofile, wait_until};
use std::net::TcpStream;
use std::sync::mpsc::Receiver;
use std::time::Duration;

fn limits(rx: &Receiver<Event>) -> Vec<String> {
    rx.try_iter()
        .filter_map(|e| match e {
            Event::Limit(words) => Some(words),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_worker_says_which_limit_in_words_and_recovers() {
    // One ring sized for 100 connections (plus a 16-slot accept margin).
    let (server, rx) = start_under_nofile(
        200,
        ringws_uring::Config { max_connections: 100, backlog: 16, ..config(1) },
    );
    let addr = server.local_addr();
    let mut held: Vec<TcpStream> = (0..100).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let handle = server.handle();
    wait_until("100 open", || handle.live_connections() == 100);
    // One more waits in the listen backlog.
    held.push(TcpStream::connect(addr).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(handle.live_connections(), 100, "no slot for the 101st yet");
    let said = limits(&rx);
    assert_eq!(said.len(), 1, "said once per pause: {said:?}");
    assert!(said[0].contains("all 100 connection slots"), "{}", said[0]);
    assert!(said[0].contains("accepting pauses"), "{}", said[0]);
    // A slot frees: the waiting client is accepted.
    drop(held.remove(0));
    wait_until("the waiting client accepted", || {
        handle.counters()[0].accepted.load(std::sync::atomic::Ordering::Relaxed) == 101
    });
    drop(held);
    wait_until("all closed", || handle.live_connections() == 0);
    shutdown_clean(server);
}
