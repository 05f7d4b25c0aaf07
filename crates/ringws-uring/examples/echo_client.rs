//! A TCP echo client over io_uring: N connections, each with one message in flight, for a fixed
//! time. Prints round trips per second and, given the server's pid, the server's CPU time per
//! round trip (from /proc/PID/stat) and this client's own CPU use.
//!
//! `cargo run --release -p ringws-uring --example echo_client -- PORT CONNS SIZE SECONDS CPU [PID]`
#![allow(clippy::undocumented_unsafe_blocks)]

use io_uring::{IoUring, opcode, types};
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (port, conns, size, secs, cpu) =
        (arg(0, 9100), arg(1, 100), arg(2, 64), arg(3, 5), arg(4, 1));
    let pid = args.get(5).cloned();
    ringws_uring::sys::pin_to_cpu(cpu as usize)?;
    let streams: Vec<TcpStream> = (0..conns)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port as u16))?;
            s.set_nodelay(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let size = size as usize;
    let msg = vec![0x5au8; size];
    let mut bufs = vec![vec![0u8; size]; streams.len()];
    let mut got = vec![0usize; streams.len()];
    let mut ring: IoUring =
        IoUring::builder().setup_single_issuer().setup_defer_taskrun().build(4096)?;
    let send = |i: usize| {
        opcode::Send::new(types::Fd(streams[i].as_raw_fd()), msg.as_ptr(), size as u32)
            .build()
            .user_data((i as u64) << 1 | 1)
    };
    for i in 0..streams.len() {
        unsafe { ring.submission().push(&send(i)).expect("sq") };
    }
    let warmup = Duration::from_secs(1);
    let start = Instant::now();
    let mut measuring = false;
    let (mut t0, mut ticks0, mut self0) = (start, 0, 0);
    let mut round_trips = 0u64;
    let me = std::process::id().to_string();
    let deadline = start + warmup + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if !measuring && start.elapsed() >= warmup {
            measuring = true;
            t0 = Instant::now();
            ticks0 = pid.as_deref().and_then(cpu_ticks).unwrap_or(0);
            self0 = cpu_ticks(&me).unwrap_or(0);
            round_trips = 0;
        }
        ring.submit_and_wait(1)?;
        let cqes: Vec<_> = ring.completion().map(|c| (c.user_data(), c.result())).collect();
        for (ud, res) in cqes {
            let i = (ud >> 1) as usize;
            assert!(res > 0, "connection {i} failed: {res}");
            let next = if ud & 1 == 1 {
                got[i] = 0;
                opcode::Recv::new(
                    types::Fd(streams[i].as_raw_fd()),
                    bufs[i].as_mut_ptr(),
                    size as u32,
                )
                .build()
                .user_data((i as u64) << 1)
            } else {
                got[i] += res as usize;
                if got[i] < size {
                    let rest = unsafe { bufs[i].as_mut_ptr().add(got[i]) };
                    opcode::Recv::new(
                        types::Fd(streams[i].as_raw_fd()),
                        rest,
                        (size - got[i]) as u32,
                    )
                    .build()
                    .user_data((i as u64) << 1)
                } else {
                    round_trips += 1;
                    send(i)
                }
            };
            unsafe { ring.submission().push(&next).expect("sq") };
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let hz = 100.0; // USER_HZ on Linux
    let rate = round_trips as f64 / elapsed;
    let client_cpu = (cpu_ticks(&me).unwrap_or(0) - self0) as f64 / hz / elapsed;
    let mut out = format!("round_trips_per_s={rate:.0} client_cpu={:.0}%", client_cpu * 100.0);
    if let Some(server) = pid.as_deref().and_then(cpu_ticks) {
        let server_s = (server - ticks0) as f64 / hz;
        out += &format!(
            " server_cpu={:.0}% server_us_per_rt={:.2}",
            server_s / elapsed * 100.0,
            server_s * 1e6 / round_trips as f64
        );
    }
    writeln!(std::io::stdout(), "{out}")?;
    Ok(())
}
