//! Several addresses: a listener per worker for each, every one accepting, and the handler told
//! which address a connection came through (a server speaks TLS on one of them).

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use ringws_uring::{Chunk, ConnId, Handler, Io, Server};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Answers every connection's first bytes with the number of the listener it came through.
#[derive(Default)]
struct Which {
    listener: HashMap<ConnId, usize>,
}

impl Handler for Which {
    type Message = ();

    fn on_open(&mut self, io: &mut Io<'_, ()>, conn: ConnId) {
        self.listener.insert(conn, io.listener());
    }

    fn on_data(&mut self, io: &mut Io<'_, ()>, conn: ConnId, _: &mut [u8]) {
        let l = self.listener.get(&conn).copied().unwrap_or(99);
        io.send(conn, Chunk::Shared(format!("{l}").into_bytes().into()));
    }
}

fn which(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"?").unwrap();
    let mut buf = [0u8; 8];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn each_address_accepts_and_the_handler_knows_which() {
    let mut config = common::config(2);
    config.also_listen =
        vec![SocketAddr::from(([127, 0, 0, 1], 0)), SocketAddr::from(([127, 0, 0, 1], 0))];
    let server = Server::start(config, |_| Which::default()).expect("server starts");
    let addrs = server.local_addrs().to_vec();
    assert_eq!(addrs.len(), 3);
    assert_eq!(addrs[0], server.local_addr());
    assert!(addrs[1].port() != 0 && addrs[1] != addrs[2], "{addrs:?}");
    // Enough connections that both workers take some on every address.
    for _ in 0..20 {
        for (l, addr) in addrs.iter().enumerate() {
            assert_eq!(which(*addr), l.to_string(), "through {addr}");
        }
    }
    server.handle().shutdown();
    server.join().unwrap();
}

#[test]
fn a_second_address_of_another_family_or_taken_is_refused() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = common::config(1);
    config.also_listen = vec![taken.local_addr().unwrap()];
    let err = Server::start(config, |_| Which::default()).unwrap_err().to_string();
    assert!(err.contains(&taken.local_addr().unwrap().to_string()), "{err}");
    let mut config = common::config(1);
    config.also_listen = vec!["[::1]:0".parse().unwrap()];
    let err = Server::start(config, |_| Which::default()).unwrap_err().to_string();
    assert!(err.contains("two families"), "{err}");
}
