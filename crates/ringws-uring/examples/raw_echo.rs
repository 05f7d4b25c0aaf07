//! The baseline: a minimal hand-written io_uring TCP echo with the same ring flags as the driver
//! (SINGLE_ISSUER + DEFER_TASKRUN), multishot accept, one recv and one send per message into a
//! per-connection buffer. No buffer ring, no timers, no mailbox, no bookkeeping.
//!
//! `cargo run --release -p ringws-uring --example raw_echo -- PORT CPU`

use io_uring::{IoUring, cqueue, opcode, types};
use std::os::fd::AsRawFd;

/// As the driver's receive buffers (and the epoll floor's): a 16 KiB message in one piece.
const BUF: usize = 64 * 1024;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(9101);
    if let Some(cpu) = args.next().and_then(|a| a.parse().ok()) {
        ringws_uring::sys::pin_to_cpu(cpu)?;
    }
    // The driver's listener: TCP_NODELAY set on it is inherited by every accepted socket
    // (without it, Nagle and the client's delayed ACK stall a reply sent in pieces for 40 ms).
    let listener = ringws_uring::sys::reuseport_listener(([127, 0, 0, 1], port).into(), 1024)?;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .setup_cqsize(8192)
        .build(4096)?;
    eprintln!("raw echo on {}", ringws_uring::sys::local_addr(&listener)?);
    let mut bufs: Vec<Box<[u8; BUF]>> = Vec::new();
    let accept =
        opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd())).build().user_data(u64::MAX);
    // SAFETY: the accept names only the listener, which outlives the ring.
    unsafe { ring.submission().push(&accept).expect("sq") };
    loop {
        ring.submit_and_wait(1)?;
        let cqes: Vec<_> =
            ring.completion().map(|c| (c.user_data(), c.result(), c.flags())).collect();
        for (ud, res, flags) in cqes {
            if ud == u64::MAX {
                if res >= 0 {
                    let fd = res;
                    let slot = bufs.len();
                    bufs.push(Box::new([0u8; BUF]));
                    let e = opcode::Recv::new(types::Fd(fd), bufs[slot].as_mut_ptr(), BUF as u32)
                        .build()
                        .user_data(((fd as u64) << 32) | (slot as u64) << 1);
                    // SAFETY: the buffer is boxed and never freed while the ring runs.
                    unsafe { ring.submission().push(&e).expect("sq") };
                }
                if !cqueue::more(flags) {
                    // SAFETY: as above, only the listener.
                    unsafe { ring.submission().push(&accept).expect("sq") };
                }
                continue;
            }
            let fd = (ud >> 32) as i32;
            let slot = ((ud & 0xffff_ffff) >> 1) as usize;
            let is_send = ud & 1 == 1;
            if res <= 0 {
                // SAFETY: `fd` came from this accept and is closed once, its op finished.
                unsafe { libc::close(fd) };
                continue;
            }
            let e = if is_send {
                opcode::Recv::new(types::Fd(fd), bufs[slot].as_mut_ptr(), BUF as u32)
                    .build()
                    .user_data(ud & !1)
            } else {
                opcode::Send::new(types::Fd(fd), bufs[slot].as_ptr(), res as u32)
                    .build()
                    .user_data(ud | 1)
            };
            // SAFETY: the op names the connection's boxed buffer, never freed while the ring
            // runs, with one op in flight per connection.
            unsafe { ring.submission().push(&e).expect("sq") };
        }
    }
}
