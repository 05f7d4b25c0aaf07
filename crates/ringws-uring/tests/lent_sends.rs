//! Receive buffers lent to sends (`Io::send_received`): the bytes go out exactly as they came in,
//! every buffer returns to the kernel once its sends are done or its connection is gone, and a
//! reader that never reads cannot hold more than half the ring.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::wait_until;
use ringws_uring::{Config, ConnId, Handler, Io, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Echoes every receive from the buffer it arrived in.
struct LentEcho;

impl Handler for LentEcho {
    type Message = ();

    fn on_data(&mut self, io: &mut Io<'_, ()>, conn: ConnId, data: &mut [u8]) {
        io.send_received(conn, &[], data);
    }
}

fn start(buf_count: u16) -> Server<()> {
    let config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 1,
        max_connections: 64,
        buf_count,
        buf_size: 16 * 1024,
        ..Config::default()
    };
    Server::start(config, |_| LentEcho).unwrap()
}

fn held(server: &Server<()>) -> u64 {
    server.handle().counters().iter().map(|c| c.buffers_held.load(Ordering::Relaxed)).sum()
}

/// Shuts the server down and checks every buffer came back and no send was left in flight.
fn shut_down(server: Server<()>) {
    server.handle().shutdown();
    for r in server.join().expect("workers exit cleanly") {
        assert_eq!(r.held_buffers, 0, "every buffer back in its ring: {r:?}");
        assert_eq!(r.ops_in_flight, 0, "no operation in flight: {r:?}");
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn lent_echo_returns_every_byte_and_every_buffer() {
    let server = start(64);
    let sent = pattern(4 << 20);
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let mut reader = client.try_clone().unwrap();
    let expected = sent.len();
    let read = std::thread::spawn(move || {
        let mut got = vec![0u8; expected];
        reader.read_exact(&mut got).unwrap();
        got
    });
    client.write_all(&sent).unwrap();
    let got = read.join().unwrap();
    assert!(got == sent, "the echo differs from what was sent");
    wait_until("every lent buffer back in the ring", || held(&server) == 0);
    drop(client);
    wait_until("closed", || server.handle().live_connections() == 0);
    shut_down(server);
}

#[test]
fn a_reader_that_never_reads_holds_at_most_half_the_ring_and_gives_it_back() {
    let buf_count = 8;
    let server = start(buf_count);
    let mut stuck = TcpStream::connect(server.local_addr()).unwrap();
    stuck.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // Never read: the echoes fill both socket buffers, then the server's queue.
    let chunk = pattern(64 * 1024);
    for _ in 0..64 {
        if stuck.write_all(&chunk).is_err() {
            break; // our send buffer is full too: enough
        }
    }
    wait_until("some buffers lent to waiting sends", || held(&server) > 0);
    std::thread::sleep(Duration::from_millis(200));
    let most = held(&server);
    assert!(most <= u64::from(buf_count) / 2, "{most} of {buf_count} buffers held by sends");
    // Another connection is still served: the other half of the ring receives.
    let mut other = TcpStream::connect(server.local_addr()).unwrap();
    let small = pattern(6000);
    other.write_all(&small).unwrap();
    let mut back = vec![0u8; small.len()];
    other.read_exact(&mut back).unwrap();
    assert!(back == small);
    drop(stuck);
    wait_until("the stuck connection closed", || server.handle().live_connections() == 1);
    wait_until("its lent buffers back in the ring", || held(&server) == 0);
    drop(other);
    shut_down(server);
}
