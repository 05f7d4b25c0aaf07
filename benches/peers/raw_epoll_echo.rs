//! The epoll floor: a minimal raw TCP echo on one thread over epoll (through mio), no WebSocket:
//! what a `recv` and a `send` per message cost an epoll server on this kernel, beside the
//! io_uring driver's own raw echo (`crates/ringws-uring/examples/echo.rs`) in
//! `benches/scripts/echo_paired.py`.
//!
//! `peer-raw-epoll-echo PORT`

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet written back.
    pending: Vec<u8>,
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(9102);
    let mut listener = TcpListener::bind(([127, 0, 0, 1], port).into())?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    stream.set_nodelay(true)?;
                    let slot = conns.iter().position(Option::is_none).unwrap_or(conns.len());
                    poll.registry().register(
                        &mut stream,
                        Token(slot),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    let conn = Some(Conn { stream, pending: Vec::new() });
                    if slot == conns.len() { conns.push(conn) } else { conns[slot] = conn }
                }
                continue;
            }
            let slot = event.token().0;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else { continue };
            if !serve(conn, &mut buf) {
                poll.registry().deregister(&mut conn.stream)?;
                conns[slot] = None;
            }
        }
    }
}

/// Reads what is there and writes it back (edge-triggered: until the socket would block).
/// Returns false once the connection is done.
fn serve(conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        if !conn.pending.is_empty() {
            match conn.stream.write(&conn.pending) {
                Ok(n) => {
                    conn.pending.drain(..n);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => match conn.stream.write(&buf[..n]) {
                Ok(w) => conn.pending.extend_from_slice(&buf[w..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    conn.pending.extend_from_slice(&buf[..n])
                }
                Err(_) => return false,
            },
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}
