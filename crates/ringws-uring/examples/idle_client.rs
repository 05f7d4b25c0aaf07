//! Opens and holds idle TCP connections from one source address in 127.0.0.0/8, for the idle
//! scale test (one source address tops out near 12,000 connections to one destination before
//! connects slow down here, and one process at its 20,000 descriptors).
//!
//! `idle_client PORT COUNT SOURCE_IP HOLD_SECONDS`: prints `connected N in S s`, holds, exits.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

fn sockaddr(ip: Ipv4Addr, port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = args[0].parse().expect("PORT");
    let count: usize = args[1].parse().expect("COUNT");
    let source: Ipv4Addr = args[2].parse().expect("SOURCE_IP");
    let hold: u64 = args[3].parse().expect("HOLD_SECONDS");
    let dest = sockaddr(Ipv4Addr::LOCALHOST, port);
    let src = sockaddr(source, 0);
    let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let start = Instant::now();
    let mut fds = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: plain socket(2); the result is checked.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        assert!(fd >= 0, "socket {i}: {}", std::io::Error::last_os_error());
        let one: libc::c_int = 1;
        // Let the kernel pick the port at connect time, per destination, not at bind.
        // SAFETY: `one` is a valid c_int for the length given; `fd` is our socket.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // SAFETY: `src` is a sockaddr_in of `len` bytes.
        let rc = unsafe { libc::bind(fd, (&src as *const libc::sockaddr_in).cast(), len) };
        assert_eq!(rc, 0, "bind {source}: {}", std::io::Error::last_os_error());
        // SAFETY: `dest` is a sockaddr_in of `len` bytes.
        let rc = unsafe { libc::connect(fd, (&dest as *const libc::sockaddr_in).cast(), len) };
        assert_eq!(rc, 0, "connect {i}: {}", std::io::Error::last_os_error());
        fds.push(fd);
        // Pace the storm a little: somaxconn is 4096.
        if i % 2000 == 1999 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!("connected {} in {:.2} s from {source}", fds.len(), start.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(hold));
    for fd in fds {
        // SAFETY: each fd is a socket this program opened and closes once.
        unsafe { libc::close(fd) };
    }
}
