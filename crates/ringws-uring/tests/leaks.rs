//! Connect/close cycles leave nothing behind. A test binary of its own, so that no other test
//! opens descriptors while this one counts them.

mod common;

use common::{config, shutdown_clean, start, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;

#[test]
fn ten_thousand_connect_close_cycles_leak_nothing() {
    let fds_before = ringws_uring::sys::open_fd_count();
    let (server, _rx) = start(config(2));
    let handle = server.handle();
    let addr = server.local_addr();
    let cycles = 10_000;
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                for i in 0..cycles / 4 {
                    let mut s = TcpStream::connect(addr).unwrap();
                    if i % 2 == 0 {
                        s.write_all(b"x").unwrap();
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_until("all closes", || handle.accepted() == cycles && handle.live_connections() == 0);
    let per_worker: Vec<u64> = handle
        .counters()
        .iter()
        .map(|c| c.accepted.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    println!("accepted per worker: {per_worker:?}");
    assert!(
        per_worker.iter().all(|&n| n > cycles / 10),
        "SO_REUSEPORT spreads accepts: {per_worker:?}"
    );
    shutdown_clean(server);
    // The handle keeps a duplicate of each home ring's descriptor (for msg_ring) and its own
    // waker ring; both go with it.
    drop(handle);
    assert_eq!(ringws_uring::sys::open_fd_count(), fds_before, "no descriptor leaked");
}
