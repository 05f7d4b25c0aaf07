//! End-to-end tests of the engine on the real kernel, with tungstenite (a client nobody here
//! wrote) and with raw sockets for what no well-behaved client does.

// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use ringws::{
    Accept, App, ConnId, Handler, Limits, Message, Reject, Server, UpgradeRequest, WebSocket,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::stream::MaybeTlsStream;

#[path = "ringws/api.rs"]
mod api;
#[path = "ringws/budget.rs"]
mod budget;
#[path = "ringws/deflate.rs"]
mod deflate;
#[path = "ringws/examples.rs"]
mod examples;
#[path = "ringws/faults.rs"]
mod faults;
#[path = "ringws/later.rs"]
mod later;
#[path = "ringws/metrics.rs"]
mod metrics;
#[path = "ringws/pubsub.rs"]
mod pubsub;
#[path = "ringws/room.rs"]
mod room;
#[path = "ringws/timers.rs"]
mod timers;
#[path = "ringws/tls.rs"]
mod tls;

type Ws = tungstenite::WebSocket<MaybeTlsStream<TcpStream>>;

#[derive(Debug)]
enum Seen {
    Open(ConnId),
    Close(ConnId, u16, String),
}

/// Echoes, and reports opens and closes.
struct Echo {
    seen: mpsc::Sender<Seen>,
}

impl Handler for Echo {
    type Data = ();

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        if req.query() == Some("reject") {
            return Err(Reject::new(401, "no token"));
        }
        let accept = Accept::new(());
        Ok(match req.choose_protocol(&["v2.echo", "v1.echo"]) {
            Some(p) => accept.with_protocol(p),
            None => accept,
        })
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, ()>) {
        let _ = self.seen.send(Seen::Open(ws.id()));
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
        let _ = ws.send(message);
    }

    fn on_close(&mut self, closed: ringws::Closed<'_, ()>) {
        let seen = Seen::Close(closed.id(), closed.code(), closed.reason().to_owned());
        let _ = self.seen.send(seen);
    }
}

fn server_with(limits: Limits, app: impl FnOnce(App) -> App) -> (Server, mpsc::Receiver<Seen>) {
    let (tx, rx) = mpsc::channel();
    let base = App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .limits(limits)
        .ws("/echo", move || Echo { seen: tx.clone() })
        .get("/healthz", "text/plain", "ok\n");
    (app(base).start().expect("server starts"), rx)
}

fn server() -> (Server, mpsc::Receiver<Seen>) {
    server_with(Limits::default(), |a| a)
}

fn connect(server: &Server) -> Ws {
    let url = format!("ws://{}/echo", server.local_addr());
    let (ws, response) = tungstenite::connect(url).expect("upgrade");
    assert_eq!(response.status(), 101);
    ws
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `text` goes out on `ws` and comes back: the connection (and the server) still work.
fn assert_echoes(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text(text));
}

fn stop(server: Server) {
    server.handle().shutdown();
    server.join().expect("workers exit");
}

/// Sends raw bytes (a request head) and returns everything the server answers until it closes.
fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn upgrade_head(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A raw upgraded connection (handshake done), for sending hand-made frames.
fn raw_ws(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(upgrade_head("/echo", "").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// Reads one unmasked server frame: (opcode, payload).
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0f, payload)
}

fn close_code(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

#[test]
fn echo_text_binary_fragmented_large_ping_and_close_with_tungstenite() {
    let (server, rx) = server();
    let mut ws = connect(&server);
    let Seen::Open(id) = rx.recv().unwrap() else { panic!("open first") };

    ws.send(tungstenite::Message::text("hello, κόσμε")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hello, κόσμε"));

    ws.send(tungstenite::Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::binary(vec![0u8, 1, 2, 255]));

    // Fragmented: three frames, a ping between them.
    ws.write(tungstenite::Message::Frame(Frame::message("frag", OpCode::Data(Data::Text), false)))
        .unwrap();
    ws.write(tungstenite::Message::Ping("mid".into())).unwrap();
    ws.write(tungstenite::Message::Frame(Frame::message(
        "men",
        OpCode::Data(Data::Continue),
        false,
    )))
    .unwrap();
    ws.write(tungstenite::Message::Frame(Frame::message(
        "ted",
        OpCode::Data(Data::Continue),
        true,
    )))
    .unwrap();
    ws.flush().unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::Pong("mid".into()));
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("fragmented"));

    let big: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i % 253) as u8).collect();
    ws.send(tungstenite::Message::binary(big.clone())).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Binary(b) => assert!(b[..] == big[..], "1 MiB echo differs"),
        other => panic!("expected binary, got {other:?}"),
    }

    ws.close(Some(CloseFrame { code: CloseCode::from(4000), reason: "bye".into() })).unwrap();
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 4000, "the server echoes the code");
            }
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    match rx.recv_timeout(Duration::from_secs(5)).unwrap() {
        Seen::Close(closed, code, reason) => {
            assert_eq!((closed, code, reason.as_str()), (id, 4000, "bye"))
        }
        other => panic!("{other:?}"),
    }
    stop(server);
}

#[test]
fn subprotocol_is_the_servers_preference_among_offers() {
    let (server, _rx) = server();
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/echo",
        server.local_addr()
    ))
    .unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "v1.echo, v2.echo".parse().unwrap());
    let (_ws, response) = tungstenite::connect(request).unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "v2.echo");
    stop(server);
}

#[test]
fn oversize_declared_length_is_1009_without_allocating() {
    let (server, _rx) = server();
    let mut s = raw_ws(server.local_addr());
    // A masked binary frame announcing 2^62 bytes, and no payload.
    let mut frame = vec![0x82, 0xff];
    frame.extend_from_slice(&(1u64 << 62).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    s.write_all(&frame).unwrap();
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!((opcode, close_code(&payload)), (0x8, 1009));
    // Then the server half-closes: the client sees EOF after the close frame.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // The server is still fine for everyone else.
    assert_echoes(&mut connect(&server), "still here");
    stop(server);
}

#[test]
fn message_over_the_limit_across_fragments_is_1009() {
    let mut limits = Limits::default();
    limits.max_message_size = 64 * 1024;
    let (server, _rx) = server_with(limits, |a| a);
    let mut ws = connect(&server);
    let chunk = vec![7u8; 20 * 1024];
    for i in 0..4 {
        let op = if i == 0 { Data::Binary } else { Data::Continue };
        let _ = ws.write(tungstenite::Message::Frame(Frame::message(
            chunk.clone(),
            OpCode::Data(op),
            false,
        )));
    }
    let _ = ws.flush();
    match ws.read() {
        Ok(tungstenite::Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
    stop(server);
}

#[test]
fn protocol_errors_close_with_their_codes() {
    let (server, rx) = server();
    let addr = server.local_addr();
    // Unmasked client frame: 1002.
    let mut s = raw_ws(addr);
    s.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, close_code(&payload)), (0x8, 1002));
    // Invalid UTF-8 in text: 1007.
    let mut s = raw_ws(addr);
    s.write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]).unwrap();
    let (op, payload) = read_frame(&mut s);
    assert_eq!((op, close_code(&payload)), (0x8, 1007));
    // The application sees our code for both.
    let codes: Vec<u16> = rx
        .iter()
        .filter_map(|e| if let Seen::Close(_, code, _) = e { Some(code) } else { None })
        .take(2)
        .collect();
    assert_eq!(
        codes.iter().filter(|&&c| c == 1002).count() + codes.iter().filter(|&&c| c == 1007).count(),
        2
    );
    stop(server);
}

#[test]
fn client_reset_mid_frame_leaves_others_untouched() {
    let (server, rx) = server();
    let mut other = connect(&server);
    let mut s = raw_ws(server.local_addr());
    // A ping whose pong we leave unread: closing a socket with unread data sends RST, not FIN.
    s.write_all(&[0x89, 0x80, 1, 2, 3, 4]).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // Half a frame, then the reset.
    s.write_all(&[0x82, 0x85, 1, 2, 3, 4, 9, 9]).unwrap();
    drop(s);
    let code = rx
        .iter()
        .find_map(|e| if let Seen::Close(_, code, _) = e { Some(code) } else { None })
        .unwrap();
    assert_eq!(code, 1006, "a peer that vanished is reported as 1006");
    assert_echoes(&mut other, "unaffected");
    stop(server);
}

#[test]
fn trickled_handshake_is_cut_at_the_handshake_timeout() {
    let mut limits = Limits::default();
    limits.handshake_timeout = Duration::from_millis(800);
    let (server, _rx) = server_with(limits, |a| a);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let head = upgrade_head("/echo", "");
    let mut answer = Vec::new();
    for byte in head.as_bytes() {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
        if s.set_nonblocking(true).is_ok() {
            let mut buf = [0u8; 256];
            if let Ok(n) = s.read(&mut buf) {
                answer.extend_from_slice(&buf[..n]);
                if n == 0 || !answer.is_empty() {
                    break;
                }
            }
            s.set_nonblocking(false).unwrap();
        }
    }
    s.set_nonblocking(false).unwrap();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "got {answer:?}");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(800) && took < Duration::from_secs(3), "{took:?}");
    stop(server);
}

#[test]
fn five_thousand_connections_opened_and_dropped_leave_none() {
    let (server, _rx) = server();
    let handle = server.handle();
    let addr = server.local_addr();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..1250 {
                    if (i + t) % 2 == 0 {
                        drop(raw_ws(addr));
                    } else {
                        drop(TcpStream::connect(addr).unwrap());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wait_until("zero live connections", || {
        handle.open_connections() == 0 && handle.tcp_connections() == 0
    });
    stop(server);
}

#[test]
fn plain_http_on_the_same_port() {
    let (server, _rx) = server();
    let addr = server.local_addr();
    let ok = raw_exchange(addr, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nok\n"), "{ok}");
    let missing = raw_exchange(addr, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let not_upgrade = raw_exchange(addr, b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(not_upgrade.starts_with("HTTP/1.1 426"), "{not_upgrade}");
    let unknown_ws = raw_exchange(addr, upgrade_head("/nowhere", "").as_bytes());
    assert!(unknown_ws.starts_with("HTTP/1.1 404"), "{unknown_ws}");
    let garbage = raw_exchange(addr, b"\x16\x03\x01 not http\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    stop(server);
}

#[test]
fn handshake_refusals_carry_the_right_status() {
    let (server, _rx) = server();
    let addr = server.local_addr();
    let v8 = raw_exchange(
        addr,
        upgrade_head("/echo", "").replace("Version: 13", "Version: 8").as_bytes(),
    );
    assert!(v8.starts_with("HTTP/1.1 426") && v8.contains("Sec-WebSocket-Version: 13"), "{v8}");
    let post = raw_exchange(addr, upgrade_head("/echo", "").replacen("GET", "POST", 1).as_bytes());
    assert!(post.starts_with("HTTP/1.1 405"), "{post}");
    let bad_key = raw_exchange(
        addr,
        upgrade_head("/echo", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "short").as_bytes(),
    );
    assert!(bad_key.starts_with("HTTP/1.1 400"), "{bad_key}");
    let huge = format!("GET /echo HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "a".repeat(10_000));
    assert!(raw_exchange(addr, huge.as_bytes()).starts_with("HTTP/1.1 431"));
    let refused = raw_exchange(addr, upgrade_head("/echo?reject", "").as_bytes());
    assert!(refused.starts_with("HTTP/1.1 401") && refused.ends_with("no token\n"), "{refused}");
    stop(server);
}

#[test]
fn origin_allow_list_refuses_other_browsers_with_403() {
    let (server, _rx) =
        server_with(Limits::default(), |a| a.allowed_origins(["https://game.example"]));
    let addr = server.local_addr();
    let evil =
        raw_exchange(addr, upgrade_head("/echo", "Origin: https://evil.example\r\n").as_bytes());
    assert!(evil.starts_with("HTTP/1.1 403"), "{evil}");
    let good = raw_ws_with(addr, "Origin: https://game.example\r\n");
    assert!(good.starts_with("HTTP/1.1 101"), "{good}");
    let no_origin = raw_ws_with(addr, "");
    assert!(no_origin.starts_with("HTTP/1.1 101"), "{no_origin}");
    stop(server);
}

fn raw_ws_with(addr: SocketAddr, extra: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(upgrade_head("/echo", extra).as_bytes()).unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn connections_beyond_the_limit_get_503() {
    let mut limits = Limits::default();
    limits.max_connections = 3;
    let (server, _rx) = server_with(limits, |a| a);
    let held: Vec<Ws> = (0..3).map(|_| connect(&server)).collect();
    let over = raw_exchange(server.local_addr(), upgrade_head("/echo", "").as_bytes());
    assert!(over.starts_with("HTTP/1.1 503"), "{over}");
    drop(held);
    let handle = server.handle();
    wait_until("slots free", || handle.open_connections() == 0);
    let _again = connect(&server);
    stop(server);
}

#[test]
fn server_handle_sends_and_closes_from_another_thread() {
    let (server, rx) = server();
    let mut ws = connect(&server);
    let Seen::Open(id) = rx.recv().unwrap() else { panic!() };
    let handle = server.handle();
    std::thread::spawn(move || {
        handle.send_text(id, "pushed").unwrap();
        handle.close(id, ringws::CloseCode(4001), "kicked").unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("pushed"));
    match ws.read().unwrap() {
        tungstenite::Message::Close(Some(f)) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "kicked"))
        }
        other => panic!("{other:?}"),
    }
    stop(server);
}

#[test]
fn idle_connection_gets_pinged() {
    let mut limits = Limits::default();
    limits.idle_timeout = Duration::from_millis(600);
    let (server, _rx) = server_with(limits, |a| a);
    let mut ws = connect(&server);
    match ws.read().unwrap() {
        tungstenite::Message::Ping(p) => assert!(p.is_empty()),
        other => panic!("expected a ping, got {other:?}"),
    }
    stop(server);
}

#[test]
fn shutdown_sends_1001_and_the_server_exits() {
    let (server, _rx) = server();
    let mut clients: Vec<Ws> = (0..10).map(|_| connect(&server)).collect();
    let handle = server.handle();
    let joiner = std::thread::spawn(move || server.join());
    handle.shutdown();
    for ws in &mut clients {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected 1001, got {other:?}"),
        }
    }
    joiner.join().unwrap().expect("clean exit");
}
