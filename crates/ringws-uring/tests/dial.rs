//! Outgoing connections from the driver (what the load tester uses): into direct descriptors,
//! from chosen source addresses, with failures reported.

mod common;

use common::{config, shutdown_clean, start};
use ringws_uring::{Chunk, Config, ConnId, Handler, Io, Server};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

/// What the dialer reports: the echoed tag and the worker, or the dial error.
type Report = Result<(u64, usize), String>;

/// Dials `count` connections on start, sends each a greeting, and reports echoes and failures.
struct Dialer {
    target: SocketAddr,
    count: u64,
    report: mpsc::Sender<Report>,
}

impl Handler for Dialer {
    type Message = ();

    fn on_start(&mut self, io: &mut Io<'_, ()>) {
        for tag in 0..self.count {
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (tag % 3) as u8));
            io.connect(self.target, Some(source), tag);
        }
    }

    fn on_connect(&mut self, io: &mut Io<'_, ()>, tag: u64, result: std::io::Result<ConnId>) {
        match result {
            Ok(conn) => {
                io.send(conn, Chunk::inline(&tag.to_be_bytes()).expect("fits"));
            }
            Err(e) => {
                let _ = self.report.send(Err(e.to_string()));
            }
        }
    }

    fn on_data(&mut self, io: &mut Io<'_, ()>, conn: ConnId, data: &mut [u8]) {
        let tag = u64::from_be_bytes(data[..8].try_into().expect("8 bytes"));
        let _ = self.report.send(Ok((tag, io.worker())));
        io.close(conn);
    }
}

fn client(target: SocketAddr, count: u64) -> (Server<()>, mpsc::Receiver<Report>) {
    let (tx, rx) = mpsc::channel();
    let config = Config { listen: false, ..config(1) };
    let server = Server::start(config, move |_| Dialer { target, count, report: tx.clone() })
        .expect("client starts");
    (server, rx)
}

#[test]
fn dials_from_several_source_addresses_and_echoes() {
    let (server, _events) = start(config(2));
    let (client, rx) = client(server.local_addr(), 300);
    let mut tags: Vec<u64> = (0..300)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("reply").expect("connected").0)
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, (0..300).collect::<Vec<_>>());
    client.handle().shutdown();
    let reports = client.join().unwrap();
    assert_eq!(reports[0].live, 0);
    assert_eq!(reports[0].ops_in_flight, 0);
    shutdown_clean(server);
}

#[test]
fn a_refused_dial_is_reported() {
    // A port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (client, rx) = client(SocketAddr::from(([127, 0, 0, 1], port)), 1);
    let err = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap_err();
    assert!(err.contains("refused"), "{err}");
    client.handle().shutdown();
    let reports = client.join().unwrap();
    assert_eq!((reports[0].live, reports[0].ops_in_flight), (0, 0), "the failed socket was closed");
}

#[test]
fn a_driver_that_only_dials_binds_no_listener() {
    // Another program holds the configured address (without SO_REUSEPORT). A listener of ours
    // would fail to bind, or worse, share the port and take part of that program's connections.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (tx, _rx) = mpsc::channel();
    let config = Config { listen: false, addr, ..config(1) };
    let client =
        Server::start(config, move |_| Dialer { target: addr, count: 0, report: tx.clone() })
            .expect("a dialing driver starts beside a server on its configured address");
    client.handle().shutdown();
    client.join().unwrap();
}

#[test]
fn dialed_sockets_get_tcp_nodelay() {
    // Accepted sockets inherit TCP_NODELAY from the listener; a dialed one has it set through
    // io_uring, and the kernel accepted it for every dial.
    let (server, _events) = start(config(1));
    let (client, rx) = client(server.local_addr(), 20);
    for _ in 0..20 {
        rx.recv_timeout(Duration::from_secs(10)).expect("reply").expect("connected");
    }
    let handle = client.handle();
    let counters = &handle.counters()[0];
    let refused = counters.sockopt_failed.load(Ordering::Relaxed);
    assert_eq!(refused, 0, "the kernel refused TCP_NODELAY on {refused} dialed sockets");
    assert_eq!(counters.nodelay_set.load(Ordering::Relaxed), 20);
    client.handle().shutdown();
    client.join().unwrap();
    shutdown_clean(server);
}
