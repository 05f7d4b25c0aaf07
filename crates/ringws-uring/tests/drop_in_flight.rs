//! A worker that dies with a send in flight (its handler panicked): the peer gets only bytes of
//! the payload (never freed or reused memory), then the end of the stream, not a hang. The
//! worker's memory that the kernel may still read is leaked, not freed (`Core`'s drop), and the
//! thread's exit cancels its requests; `docs/unsafe.md` has the argument.

mod common;

use ringws_uring::{Chunk, ConnId, Handler, Io, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const LEN: usize = 16 << 20;

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

struct Dies;

impl Handler for Dies {
    type Message = ();

    fn on_data(&mut self, io: &mut Io<'_, ()>, conn: ConnId, data: &mut [u8]) {
        match &*data {
            b"go" => {
                let payload: Vec<u8> = (0..LEN).map(pattern).collect();
                io.send(conn, Chunk::Shared(payload.into()));
            }
            b"boom" => panic!("the handler fails with a send in flight (on purpose)"),
            _ => {}
        }
    }
}

#[test]
fn a_worker_dying_mid_send_sends_only_payload_bytes_then_ends() {
    let config = common::config(1);
    let server = Server::start(config, |_| Dies).expect("server starts");
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    client.write_all(b"go").unwrap();
    let mut got = vec![0u8; LEN];
    let mut n = client.read(&mut got).unwrap();
    assert!(n > 0 && n < LEN, "the send is in flight, held back by the unread socket");
    client.write_all(b"boom").unwrap();
    std::thread::sleep(Duration::from_millis(200)); // the worker is gone by now
    // Reuse whatever was freed, with other bytes.
    let noise: Vec<Vec<u8>> = (0..64).map(|_| vec![0xEE; 1 << 20]).collect();
    while n < LEN {
        match client.read(&mut got[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the stream neither ended nor went on: {e}"),
        }
    }
    drop(noise);
    let bad = got[..n].iter().enumerate().position(|(i, b)| *b != pattern(i));
    assert_eq!(bad, None, "every byte that arrived ({n}) is the payload's");
    let mut rest = [0u8; 1];
    let end = client.read(&mut rest);
    assert!(
        matches!(end, Ok(0))
            || end.as_ref().is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock
                && e.kind() != std::io::ErrorKind::TimedOut),
        "the stream ends: {end:?}"
    );
    assert!(server.join().is_err(), "the worker's panic is reported");
}
