//! A sub-ring whose completion queue overflows keeps serving its connections. A binary of its
//! own: the soft RLIMIT_NOFILE is lowered for the whole process to force several rings.

mod common;

use common::{config, shutdown_clean, start_under_nofile, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn every_ring_serves_a_burst_larger_than_its_completion_queue() {
    let ring = ringws_uring::RingConfig { entries: 64, cq_entries: 128, ..Default::default() };
    let config = ringws_uring::Config { max_connections: 2400, backlog: 16, ring, ..config(1) };
    let (server, _rx) = start_under_nofile(1000, config);
    let addr = server.local_addr();
    let mut held: Vec<TcpStream> = (0..1900).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let handle = server.handle();
    wait_until("1900 open", || handle.live_connections() == 1900);
    for round in 0..3u32 {
        // Every connection at once: each ring gets hundreds of receive and send completions in
        // one go, far more than 128.
        for (i, s) in held.iter_mut().enumerate() {
            s.write_all(&(i as u32 ^ round).to_be_bytes()).unwrap();
        }
        for (i, s) in held.iter_mut().enumerate() {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut back = [0u8; 4];
            s.read_exact(&mut back).unwrap_or_else(|e| panic!("round {round}, conn {i}: {e}"));
            assert_eq!(u32::from_be_bytes(back), i as u32 ^ round);
        }
    }
    drop(held);
    wait_until("all closed", || handle.live_connections() == 0);
    shutdown_clean(server);
}
