//! A worker that always has work in hand still serves its home ring. The home ring defers its
//! completion work (DEFER_TASKRUN) until an enter carries GETEVENTS; a loop that found work
//! pending on another ring at every turn entered without it, and the home ring's connections
//! went unserved for as long as the load lasted (40 s and more in the million-connection run).
//! A binary of its own: the soft RLIMIT_NOFILE is lowered for the process to force two rings.

mod common;

use common::{config, start_under_nofile, wait_until};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[test]
fn the_home_ring_is_served_while_another_ring_is_busy() {
    let (server, _rx) = start_under_nofile(
        1000,
        ringws_uring::Config { max_connections: 1500, backlog: 16, ..config(1) },
    );
    let addr = server.local_addr();
    // 920 fill the home ring's table; the next ones land on the second ring.
    let mut home: Vec<TcpStream> = (0..920).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let handle = server.handle();
    wait_until("920 open", || handle.live_connections() == 920);
    let busy: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    wait_until("924 open", || handle.live_connections() == 924);
    // Keep the second ring busy: echo traffic without pause on its connections.
    let stop = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = busy
        .into_iter()
        .map(|s| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reader = s.try_clone().unwrap();
                let mut writer = s;
                let drain = std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    while reader.read(&mut buf).is_ok_and(|n| n > 0) {}
                });
                let block = [7u8; 4096];
                while !stop.load(Ordering::Relaxed) && writer.write_all(&block).is_ok() {}
                let _ = writer.shutdown(std::net::Shutdown::Both);
                let _ = drain.join();
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile a home-ring connection must get its echo promptly, again and again.
    let probe = &mut home[0];
    probe.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut worst = Duration::ZERO;
    for round in 0..20u32 {
        let start = Instant::now();
        probe.write_all(&round.to_be_bytes()).unwrap();
        let mut back = [0u8; 4];
        probe.read_exact(&mut back).unwrap_or_else(|e| panic!("round {round}: no echo: {e}"));
        assert_eq!(u32::from_be_bytes(back), round);
        worst = worst.max(start.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    for f in floods {
        let _ = f.join();
    }
    assert!(worst < Duration::from_secs(1), "a home-ring echo took {worst:?}");
    drop(home);
    handle.shutdown();
    let _ = server.join();
}
