//! Shared by the driver's test binaries: an echo handler that reports its events, and helpers.
#![allow(dead_code)]

use ringws_uring::{Chunk, CloseCause, Config, ConnId, Handler, Io, Server};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Echoes every byte; answers test messages.
pub(crate) struct Echo {
    pub(crate) events: mpsc::Sender<Event>,
    pub(crate) last_closed: Option<ConnId>,
    /// Close each connection this long after it opened (a timer-wheel deadline).
    pub(crate) close_after: Option<Duration>,
    /// Report peer addresses and data arrivals too (`Event::Peer`, `Event::Data`).
    pub(crate) report_peers: bool,
}

#[derive(Debug)]
pub(crate) enum Event {
    Open(usize, ConnId),
    Closed(ConnId, String),
    Message(usize, u64),
    SendResult(Option<usize>),
    Limit(String),
    Peer(ConnId, std::net::SocketAddr),
    Data(ConnId),
}

pub(crate) enum Msg {
    /// Record this value, then pass it on to worker `next` with one hop less.
    Hop { value: u64, hops: u32 },
    /// Try to send to the last closed connection's id.
    SendToClosed,
}

impl Handler for Echo {
    type Message = Msg;

    fn on_open(&mut self, io: &mut Io<'_, Msg>, conn: ConnId) {
        let _ = self.events.send(Event::Open(io.worker(), conn));
        if let Some(after) = self.close_after {
            let at = io.now() + after;
            io.set_timer(at, conn.to_u64());
        }
    }

    fn on_timer(&mut self, io: &mut Io<'_, Msg>, key: u64) {
        io.close(ConnId::from_u64(key));
    }

    fn on_data(&mut self, io: &mut Io<'_, Msg>, conn: ConnId, data: &mut [u8]) {
        if self.report_peers {
            let _ = self.events.send(Event::Data(conn));
        }
        if data == b"FIN" {
            io.send(conn, Chunk::inline(b"bye").expect("fits inline"));
            io.shutdown_write(conn);
            return;
        }
        let chunk = Chunk::from(bytes::Bytes::copy_from_slice(data));
        io.send(conn, chunk);
    }

    fn on_peer(&mut self, _io: &mut Io<'_, Msg>, conn: ConnId, peer: SocketAddr) {
        if self.report_peers {
            let _ = self.events.send(Event::Peer(conn, peer));
        }
    }

    fn on_limit(&mut self, _io: &mut Io<'_, Msg>, limit: ringws_uring::Limit) {
        let _ = self.events.send(Event::Limit(limit.to_string()));
    }

    fn on_close(&mut self, _io: &mut Io<'_, Msg>, conn: ConnId, cause: &CloseCause) {
        self.last_closed = Some(conn);
        let _ = self.events.send(Event::Closed(conn, format!("{cause:?}")));
    }

    fn on_message(&mut self, io: &mut Io<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Hop { value, hops } => {
                let _ = self.events.send(Event::Message(io.worker(), value));
                if hops > 0 {
                    let next = (io.worker() + 1) % io.workers();
                    io.post(next, Msg::Hop { value: value + 1, hops: hops - 1 });
                }
            }
            Msg::SendToClosed => {
                let result = self
                    .last_closed
                    .and_then(|id| io.send(id, Chunk::inline(b"x").expect("fits inline")));
                let _ = self.events.send(Event::SendResult(result));
            }
        }
    }
}

pub(crate) fn config(workers: usize) -> Config {
    Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers,
        max_connections: 4096,
        buf_count: 256,
        ..Config::default()
    }
}

pub(crate) fn start(config: Config) -> (Server<Msg>, mpsc::Receiver<Event>) {
    start_with(config, None)
}

pub(crate) fn start_with(
    config: Config,
    close_after: Option<Duration>,
) -> (Server<Msg>, mpsc::Receiver<Event>) {
    start_echo(config, close_after, false)
}

/// An echo server whose handler also reports peer addresses and data arrivals.
pub(crate) fn start_reporting_peers(config: Config) -> (Server<Msg>, mpsc::Receiver<Event>) {
    start_echo(config, None, true)
}

fn start_echo(
    config: Config,
    close_after: Option<Duration>,
    report_peers: bool,
) -> (Server<Msg>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = Server::start(config, move |_| Echo {
        events: tx.clone(),
        last_closed: None,
        close_after,
        report_peers,
    })
    .expect("server starts");
    (server, rx)
}

pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn shutdown_clean(server: Server<Msg>) {
    let handle = server.handle();
    handle.shutdown();
    let reports = server.join().expect("workers exit cleanly");
    for r in reports {
        assert_eq!(r.live, 0, "no live connection left: {r:?}");
        assert_eq!(r.held_buffers, 0, "every buffer id back in its ring: {r:?}");
        assert_eq!(r.ops_in_flight, 0, "no operation in flight: {r:?}");
    }
}

/// The open-file limit is process-wide: tests that lower it to size their rings take turns.
static NOFILE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Starts an echo server whose rings are sized under a soft RLIMIT_NOFILE of `limit` (each
/// ring's table is `limit` - 64 slots), then gives the limit back so the client sockets of this
/// same process fit.
pub(crate) fn start_under_nofile(
    limit: u64,
    config: Config,
) -> (Server<Msg>, mpsc::Receiver<Event>) {
    let _turn = NOFILE.lock().unwrap_or_else(|e| e.into_inner());
    let (soft, _) = ringws_uring::sys::nofile_limit().expect("getrlimit");
    set_nofile(limit);
    let started = start(config);
    set_nofile(soft);
    started
}

/// Sets the soft RLIMIT_NOFILE of this whole process (ring tables are sized from it at start).
fn set_nofile(soft: u64) {
    let (_, hard) = ringws_uring::sys::nofile_limit().expect("getrlimit");
    let lim = libc::rlimit { rlim_cur: soft, rlim_max: hard };
    // SAFETY: a valid rlimit for the call; a soft limit up to the hard one is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}
