//! More connections than one ring's fixed-file table can hold: the soft RLIMIT_NOFILE is lowered
//! for this test process so that a worker must drive several rings, and every connection on
//! every ring still echoes. A binary of its own, since the limit is process-wide.

mod common;

use common::{Event, config, set_nofile, shutdown_clean, start, wait_until};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn a_worker_spreads_connections_over_several_rings() {
    // Tables of 1000 - 64 = 936 slots, less the 16-connection accept margin: 920 per ring.
    let (soft, _) = ringws_uring::sys::nofile_limit().expect("getrlimit");
    set_nofile(1000);
    let (server, rx) =
        start(ringws_uring::Config { max_connections: 2400, backlog: 16, ..config(1) });
    // The rings are sized now; give the limit back so the client sockets of this same process
    // fit.
    set_nofile(soft);
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
