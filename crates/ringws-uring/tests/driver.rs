//! The driver on the real kernel: echo, accept/recv re-arm, ENOBUFS recovery, stale ids after
//! slot reuse, cross-worker messages, shutdown.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Event, Msg, config, shutdown_clean, start, start_with, wait_until};
use ringws_uring::{Config, ConnId, Handler, Io, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// `clients` connections at once each send `bytes` bytes of their own pattern while reading the
/// echo back; true if every one got exactly its bytes, in order.
fn echo_in_parallel(addr: std::net::SocketAddr, clients: u8, bytes: u32) -> bool {
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let data: Vec<u8> =
                    (0..bytes).map(|i| (i as u8).wrapping_mul(7).wrapping_add(c)).collect();
                let mut reader = s.try_clone().unwrap();
                let expect = data.clone();
                let r = std::thread::spawn(move || {
                    let mut back = vec![0u8; expect.len()];
                    reader.read_exact(&mut back).unwrap();
                    back == expect
                });
                s.write_all(&data).unwrap();
                r.join().unwrap()
            })
        })
        .collect();
    threads.into_iter().all(|t| t.join().unwrap())
}

#[test]
fn echoes_bytes_and_rearms_recv() {
    let (server, _rx) = start(config(2));
    let mut stream = TcpStream::connect(server.local_addr()).unwrap();
    let mut buf = [0u8; 5];
    for round in 0..200u32 {
        let msg = format!("{:05}", round);
        stream.write_all(msg.as_bytes()).unwrap();
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, msg.as_bytes());
    }
    // A message larger than one receive buffer arrives in several completions.
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    stream.write_all(&big).unwrap();
    let mut back = vec![0u8; big.len()];
    stream.read_exact(&mut back).unwrap();
    assert!(back == big, "large echo differs");
    drop(stream);
    shutdown_clean(server);
}

#[test]
fn enobufs_loses_no_bytes() {
    // Four 64-byte buffers for 32 busy connections: the buffer ring runs dry.
    let (server, _rx) = start(Config { buf_count: 4, buf_size: 64, ..config(1) });
    assert!(echo_in_parallel(server.local_addr(), 32, 50_000), "every byte echoed in order");
    let enobufs: u64 = server
        .handle()
        .counters()
        .iter()
        .map(|c| c.enobufs.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!(enobufs > 0, "the test must actually exhaust the buffer ring");
    println!("ENOBUFS re-arms: {enobufs}");
    shutdown_clean(server);
}

#[test]
fn stale_id_after_slot_reuse_reaches_nobody() {
    let (server, rx) = start(config(1));
    let handle = server.handle();
    let first = TcpStream::connect(server.local_addr()).unwrap();
    let Event::Open(_, old) = rx.recv().unwrap() else { panic!() };
    drop(first);
    let Event::Closed(closed, cause) = rx.recv().unwrap() else { panic!() };
    assert_eq!(closed, old);
    assert!(cause.contains("PeerClosed"), "{cause}");
    let mut second = TcpStream::connect(server.local_addr()).unwrap();
    let Event::Open(_, new) = rx.recv().unwrap() else { panic!() };
    assert_eq!(new.index(), old.index(), "the kernel reuses the lowest free slot");
    assert_ne!(new.generation(), old.generation());
    handle.post(0, Msg::SendToClosed).unwrap();
    let Event::SendResult(result) = rx.recv().unwrap() else { panic!() };
    assert_eq!(result, None, "a send to the stale id is refused");
    // The new connection received nothing from it and still echoes.
    second.write_all(b"ok").unwrap();
    let mut buf = [0u8; 2];
    second.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
    drop(second);
    shutdown_clean(server);
}

#[test]
fn messages_cross_workers() {
    let (server, rx) = start(config(2));
    let handle = server.handle();
    // From a foreign thread to each worker, then worker to worker by msg_ring.
    handle.post(0, Msg::Hop { value: 100, hops: 3 }).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
            Event::Message(worker, value) => seen.push((worker, value)),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, vec![(0, 100), (1, 101), (0, 102), (1, 103)]);
    // Many posts from many threads all arrive.
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let h = handle.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    h.post(i % 2, Msg::Hop { value: t * 10_000 + i as u64, hops: 0 }).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut count = 0;
    while count < 4000 {
        match rx.recv_timeout(Duration::from_secs(5)).expect("every post arrives") {
            Event::Message(..) => count += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    shutdown_clean(server);
}

#[test]
fn shutdown_closes_open_connections() {
    let (server, rx) = start(config(2));
    let streams: Vec<_> =
        (0..50).map(|_| TcpStream::connect(server.local_addr()).unwrap()).collect();
    let handle = server.handle();
    wait_until("50 open", || handle.live_connections() == 50);
    shutdown_clean(server);
    let closed = rx.try_iter().filter(|e| matches!(e, Event::Closed(..))).count();
    assert_eq!(closed, 50);
    for mut s in streams {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).unwrap_or(0), 0, "the client sees EOF");
    }
}

#[test]
fn timer_wheel_deadline_closes_the_connection() {
    let (server, rx) = start_with(config(1), Some(Duration::from_millis(300)));
    let started = Instant::now();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut b = [0u8; 1];
    assert_eq!(s.read(&mut b).unwrap(), 0, "closed by the server's timer");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "not before the deadline: {took:?}");
    assert!(took < Duration::from_secs(2), "soon after the deadline: {took:?}");
    assert!(rx.iter().any(|e| matches!(e, Event::Closed(_, ref c) if c.contains("Local"))));
    shutdown_clean(server);
}

#[test]
fn shutdown_write_sends_fin_and_keeps_receiving() {
    let (server, rx) = start(config(1));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"FIN").unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye", "queued bytes leave before the FIN");
    // Still open for reading on the server: it sees our data and then our close.
    s.write_all(b"late").unwrap();
    let handle = server.handle();
    assert_eq!(handle.live_connections(), 1);
    drop(s);
    wait_until("peer close", || handle.live_connections() == 0);
    assert!(
        rx.try_iter().any(|e| matches!(e, Event::Closed(_, ref c) if c.contains("PeerClosed")))
    );
    shutdown_clean(server);
}

#[test]
fn receive_bundles_deliver_every_byte_in_order() {
    // Small buffers: one bundle completion spans many of them.
    let (server, _rx) =
        start(Config { recv_bundle: true, buf_count: 64, buf_size: 256, ..config(1) });
    assert!(echo_in_parallel(server.local_addr(), 8, 100_000), "every byte echoed in order");
    shutdown_clean(server);
}

#[test]
fn a_second_server_on_a_busy_address_fails_naming_it() {
    let (first, _events) = start(config(1));
    let addr = first.local_addr();
    let err = Server::start(Config { addr, ..config(1) }, |_| Quiet).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    // Sharing on purpose (a zero-downtime restart) is an explicit choice.
    let second = Server::start(Config { addr, reuse_port: true, ..config(1) }, |_| Quiet)
        .expect("reuse_port shares the address");
    second.handle().shutdown();
    second.join().unwrap();
    shutdown_clean(first);
}

/// A handler that does nothing.
struct Quiet;
impl Handler for Quiet {
    type Message = ();
    fn on_data(&mut self, _: &mut Io<'_, ()>, _: ConnId, _: &mut [u8]) {}
}

#[test]
fn an_overflowing_completion_queue_never_stalls_the_worker() {
    // Rings of 8 submissions and 16 completions under 100 clients at once: completions
    // overflow, and a submission then meets EBUSY until some are reaped. The worker used to
    // retry without reaping, forever.
    let ring = ringws_uring::RingConfig { entries: 8, cq_entries: 16, ..Default::default() };
    let (server, _rx) = start(Config { ring, ..config(1) });
    let (tx, rx) = std::sync::mpsc::channel();
    let addr = server.local_addr();
    std::thread::spawn(move || {
        let _ = tx.send(echo_in_parallel(addr, 100, 20_000));
    });
    let echoed = rx.recv_timeout(Duration::from_secs(30)).expect("the worker kept serving");
    assert!(echoed, "every byte came back in order");
    shutdown_clean(server);
}

#[test]
fn an_accepted_connection_reports_its_peer_before_its_data() {
    let (server, rx) = common::start_reporting_peers(config(1));
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"hello").unwrap();
    let mut back = [0u8; 5];
    s.read_exact(&mut back).unwrap();
    let events: Vec<Event> = rx.try_iter().collect();
    let peer = events.iter().position(|e| matches!(e, Event::Peer(..)));
    let data = events.iter().position(|e| matches!(e, Event::Data(..)));
    let (Some(peer), Some(data)) = (peer, data) else { panic!("{events:?}") };
    assert!(peer < data, "the peer is known before the first bytes: {events:?}");
    let Event::Peer(_, addr) = events[peer] else { unreachable!() };
    assert_eq!(addr, s.local_addr().unwrap(), "the client's own address");
    drop(s);
    shutdown_clean(server);
}

/// The worker's gauge of bytes queued: up while a client does not read what it is sent, back to
/// zero once it has read everything, and the loop's busy time counts.
#[test]
fn the_queued_bytes_gauge_follows_a_slow_reader() {
    use std::io::{Read, Write};
    let (server, _events) = common::start(common::config(1));
    let counters = server.handle().counters()[0].clone();
    let mut client = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let total = 32 << 20;
    let writer = {
        let mut client = client.try_clone().unwrap();
        std::thread::spawn(move || client.write_all(&vec![7u8; total]).unwrap())
    };
    common::wait_until("bytes queued while the client does not read", || {
        counters.queued_bytes.load(std::sync::atomic::Ordering::Relaxed) > 1 << 20
    });
    let mut got = vec![0u8; 1 << 16];
    let mut read = 0;
    while read < total {
        read += client.read(&mut got).unwrap();
    }
    writer.join().unwrap();
    common::wait_until("nothing queued once all is read", || {
        counters.queued_bytes.load(std::sync::atomic::Ordering::Relaxed) == 0
    });
    assert!(counters.busy_ns.load(std::sync::atomic::Ordering::Relaxed) > 0);
    drop(client);
    common::shutdown_clean(server);
}
