//! A TCP echo client over io_uring: N connections, each with one message in flight, for a fixed
//! time. Prints round trips per second and, given the server's pid, the server's CPU time per
//! round trip (from /proc/PID/stat) and this client's own CPU use.
//!
//! `cargo run --release -p ringws-uring --example echo_client -- PORT CONNS SIZE SECONDS CPU [PID [WS_PATH]]`
//!
//! CPU time is read from `/proc/PID/task/*/schedstat` (nanoseconds, every thread), so a window of
//! a second or two is measured to well under 1 %; the server's context switches and the host's
//! TCP segments sent (`/proc/net/snmp` OutSegs, both ends on loopback) are counted per round trip
//! too. `ECHO_WARMUP_MS` sets the unmeasured start (1,000 ms by default).
//!
//! With `WS_PATH` (e.g. `/echo`) each connection first upgrades to WebSocket and every message is
//! a masked binary frame of SIZE payload bytes; the reply is the server's unmasked frame.

use io_uring::{IoUring, opcode, types};
use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// What a process has used so far: CPU time over all its threads, and context switches.
#[derive(Clone, Copy, Default)]
struct Usage {
    cpu_ns: u64,
    switches: u64,
}

fn usage(pid: &str) -> Option<Usage> {
    let mut total = Usage::default();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let Ok(sched) = std::fs::read_to_string(dir.join("schedstat")) else { continue };
        total.cpu_ns += sched.split_whitespace().next()?.parse::<u64>().ok()?;
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        // voluntary_ctxt_switches and nonvoluntary_ctxt_switches
        for line in status.lines().filter(|l| l.contains("ctxt_switches:")) {
            total.switches += line.rsplit('\t').next()?.trim().parse::<u64>().unwrap_or(0);
        }
    }
    Some(total)
}

/// TCP segments this host has sent (OutSegs): on loopback, both ends' segments.
fn out_segments() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else { return 0 };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "OutSegs")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Upgrades one connection with a blocking exchange before the measured loop.
fn upgrade(stream: &TcpStream, port: u16, path: &str) -> std::io::Result<()> {
    use std::io::Read;
    let host = format!("127.0.0.1:{port}");
    let request = ringws_proto::handshake::ClientRequest::new(&host, path, [7; 16]);
    let mut out = Vec::new();
    let expected = request.write(&mut out);
    let mut s = stream;
    s.write_all(&out)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    ringws_proto::handshake::parse_response(&head, &request, &expected)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

/// The masked frame a client sends for a SIZE-byte binary message, and the length of the
/// server's unmasked reply frame.
fn ws_frames(size: usize) -> (Vec<u8>, usize) {
    use ringws_proto::frame::{FrameHeader, OpCode, write_frame};
    let mut frame = Vec::new();
    write_frame(&mut frame, OpCode::Binary, &vec![0x5a; size], Some([1, 2, 3, 4]));
    let reply = FrameHeader::new(OpCode::Binary, size as u64).encoded_len() + size;
    (frame, reply)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (port, conns, size, secs, cpu) =
        (arg(0, 9100), arg(1, 100), arg(2, 64), arg(3, 5), arg(4, 1));
    let pid = args.get(5).cloned().filter(|p| p != "-");
    let ws_path = args.get(6).cloned();
    ringws_uring::sys::pin_to_cpu(cpu as usize)?;
    let streams: Vec<TcpStream> = (0..conns)
        .map(|_| {
            let s = TcpStream::connect(("127.0.0.1", port as u16))?;
            s.set_nodelay(true)?;
            Ok(s)
        })
        .collect::<std::io::Result<_>>()?;
    let (msg, size) = match &ws_path {
        Some(path) => {
            for s in &streams {
                upgrade(s, port as u16, path)?;
            }
            ws_frames(size as usize)
        }
        None => (vec![0x5au8; size as usize], size as usize),
    };
    let mut bufs = vec![vec![0u8; size]; streams.len()];
    let mut got = vec![0usize; streams.len()];
    let mut ring: IoUring =
        IoUring::builder().setup_single_issuer().setup_defer_taskrun().build(4096)?;
    let send = |i: usize| {
        opcode::Send::new(types::Fd(streams[i].as_raw_fd()), msg.as_ptr(), msg.len() as u32)
            .build()
            .user_data((i as u64) << 1 | 1)
    };
    for i in 0..streams.len() {
        // SAFETY: the send names `msg` and a socket in `streams`, both alive until the end of
        // main, after the last completion has been reaped or the ring dropped.
        unsafe { ring.submission().push(&send(i)).expect("sq") };
    }
    let warmup_ms = std::env::var("ECHO_WARMUP_MS").ok().and_then(|v| v.parse().ok());
    let warmup = Duration::from_millis(warmup_ms.unwrap_or(1000));
    let start = Instant::now();
    let mut measuring = false;
    let (mut t0, mut server0, mut self0, mut segs0) = (start, None, Usage::default(), 0);
    let mut round_trips = 0u64;
    let me = std::process::id().to_string();
    let deadline = start + warmup + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if !measuring && start.elapsed() >= warmup {
            measuring = true;
            t0 = Instant::now();
            server0 = pid.as_deref().and_then(usage);
            self0 = usage(&me).unwrap_or_default();
            segs0 = out_segments();
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
                    // SAFETY: got[i] < size = bufs[i].len(), so the pointer stays in the buffer.
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
            // SAFETY: the receive names bufs[i] (or its tail), the send `msg`; both outlive the
            // ring's operations, and each connection has one operation in flight at a time.
            unsafe { ring.submission().push(&next).expect("sq") };
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let rate = round_trips as f64 / elapsed;
    let per_rt = |n: u64| n as f64 / round_trips.max(1) as f64;
    let segments = per_rt(out_segments().saturating_sub(segs0));
    let client_ns = usage(&me).unwrap_or_default().cpu_ns.saturating_sub(self0.cpu_ns);
    let mut out = format!(
        "round_trips_per_s={rate:.0} client_cpu={:.0}% client_us_per_rt={:.3} segments_per_rt={segments:.3}",
        client_ns as f64 / 1e9 / elapsed * 100.0,
        per_rt(client_ns) / 1e3,
    );
    if let (Some(before), Some(after)) = (server0, pid.as_deref().and_then(usage)) {
        let server_ns = after.cpu_ns.saturating_sub(before.cpu_ns);
        out += &format!(
            " server_cpu={:.0}% server_us_per_rt={:.3} server_switches_per_rt={:.4}",
            server_ns as f64 / 1e9 / elapsed * 100.0,
            per_rt(server_ns) / 1e3,
            per_rt(after.switches.saturating_sub(before.switches)),
        );
    }
    writeln!(std::io::stdout(), "{out}")?;
    Ok(())
}
