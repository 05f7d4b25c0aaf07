//! More connections than one ring's fixed-file table can hold: the soft RLIMIT_NOFILE is lowered
//! for this test process so that a worker must drive several rings, and every connection on
//! every ring still echoes. A binary of its own, since the limit is process-wide.

mod common;

use common::{Event, config, shutdown_clean, start_under_nofile, wait_until};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn a_worker_spreads_connections_over_several_rings() {
    // Tables of 1000 - 64 = 936 slots, less the 16-connection accept margin: 920 per ring.
    let (server, rx) = start_under_nofile(
        1000,
        ringws_uring::Config { max_connections: 2400, backlog: 16, ..config(1) },
    );
    let addr = server.local_addr();
    let mut held = Vec::new();
    for i in 0..1900 {
        match TcpStream::connect(addr) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connect {i}: {e}"),
        }
    }
    let handle = server.handle();
    wait_until("1900 open", || handle.live_connections() == 1900);
    let mut per_ring = BTreeMap::new();
    for e in rx.try_iter() {
        if let Event::Open(_, id) = e {
            *per_ring.entry(id.ring()).or_insert(0) += 1;
        }
    }
    println!("connections per ring: {per_ring:?}");
    assert!(per_ring.len() >= 3, "1900 connections need three rings of 920: {per_ring:?}");
    // Every ring's connections echo (their completions reach the home ring's wait).
    for (i, s) in held.iter_mut().enumerate().step_by(97) {
        let msg = (i as u32).to_be_bytes();
        s.write_all(&msg).unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, msg);
    }
    drop(held);
    wait_until("all closed", || handle.live_connections() == 0);
    shutdown_clean(server);
}

#[test]
fn idle_sub_rings_cost_no_enter() {
    // Six rings (sized for 5,000 connections under a 1,000-descriptor limit), one connection:
    // each echo turn should enter the kernel about once, not once per ring.
    let (server, _rx) = start_under_nofile(
        1000,
        ringws_uring::Config { max_connections: 5000, backlog: 16, ..config(1) },
    );
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    let handle = server.handle();
    wait_until("open", || handle.live_connections() == 1);
    let counters = &handle.counters()[0];
    let read = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let (turns0, enters0) = (read(&counters.turns), read(&counters.enters));
    for i in 0..2000u32 {
        s.write_all(&i.to_be_bytes()).unwrap();
        let mut back = [0u8; 4];
        s.read_exact(&mut back).unwrap();
    }
    let turns = read(&counters.turns) - turns0;
    let enters = read(&counters.enters) - enters0;
    println!("{turns} turns, {enters} enters");
    assert!(turns >= 2000, "a turn per round trip at least: {turns}");
    assert!(enters * 10 <= turns * 15, "{enters} enters for {turns} turns over six rings");
    drop(s);
    wait_until("closed", || handle.live_connections() == 0);
    shutdown_clean(server);
}
