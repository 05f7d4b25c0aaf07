//! The API a game backend builds on: `/room/:id` answers `/room/42` with the parameter in
//! `on_upgrade`, query parameters arrive decoded, a pattern the router cannot take fails the
//! start; `on_drain` comes after backpressure, not after every send.

use super::{raw_exchange, stop, upgrade_head};
use ringws::{Accept, App, Handler, Reject, UpgradeRequest, WebSocket};
use std::net::SocketAddr;

/// Greets each player with what the upgrade request said.
struct Room;

impl Handler for Room {
    type Data = String;

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<String>, Reject> {
        let room = req.param("id").ok_or_else(|| Reject::new(500, "no id"))?;
        let name = req.query_param("name").ok_or_else(|| Reject::new(400, "name?"))?;
        Ok(Accept::new(format!("room {room}, {name}")))
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, String>) {
        let hello = ws.data().clone();
        let _ = ws.send_text(&hello);
    }
}

fn app() -> App {
    App::new().bind(SocketAddr::from(([127, 0, 0, 1], 0))).workers(1)
}

#[test]
fn a_route_with_a_parameter_gives_it_to_on_upgrade() {
    let server = app().ws("/room/:id", || Room).ws("/game/{game}/lobby", || Room).start().unwrap();
    let addr = server.local_addr();
    let url = format!("ws://{addr}/room/42?name=al%20ice+b");
    let (mut ws, _) = tungstenite::connect(url).expect("upgrade");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("room 42, al ice b"));
    let missing = raw_exchange(addr, upgrade_head("/room/42", "").as_bytes());
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    let no_such = raw_exchange(addr, upgrade_head("/room/42/x?name=a", "").as_bytes());
    assert!(no_such.starts_with("HTTP/1.1 404"), "{no_such}");
    let no_id = raw_exchange(addr, upgrade_head("/game/g1/lobby?name=a", "").as_bytes());
    assert!(no_id.starts_with("HTTP/1.1 500"), "a pattern without `id`: {no_id}");
    stop(server);
}

#[test]
fn a_pattern_the_router_cannot_take_fails_the_start() {
    let err = app().ws("/room/:id/*rest/more", || Room).start().expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("/room/:id/*rest/more"), "{err}");
    let conflict = app().ws("/a/:x", || Room).ws("/a/:y", || Room).start().err();
    assert!(conflict.is_some(), "two routes that conflict");
}

/// Sends 2 MiB on open (over its 64 KiB backpressure limit), echoes, and answers "count" with
/// how many times `on_drain` ran.
struct Heavy {
    drains: usize,
}

impl Handler for Heavy {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, ()>) {
        let status = ws.send_binary(&vec![7u8; 2 << 20]);
        assert_eq!(status, ringws::SendStatus::Backpressure);
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: ringws::Message<'_>) {
        if message == ringws::Message::Text("count") {
            let _ = ws.send_text(&format!("drains={}", self.drains));
        } else {
            let _ = ws.send(message);
        }
    }

    fn on_drain(&mut self, _ws: &mut WebSocket<'_, ()>) {
        self.drains += 1;
    }
}

#[test]
fn on_drain_follows_backpressure_only() {
    let options = ringws::RouteOptions::new(64 << 10, ringws::SlowConsumer::Drop);
    let server = app().ws_with("/heavy", options, || Heavy { drains: 0 }).start().unwrap();
    let url = format!("ws://{}/heavy", server.local_addr());
    let (mut ws, _) = tungstenite::connect(url).expect("upgrade");
    assert_eq!(ws.read().unwrap().len(), 2 << 20);
    for _ in 0..3 {
        ws.send(tungstenite::Message::text("x")).unwrap();
        assert_eq!(ws.read().unwrap(), tungstenite::Message::text("x"));
    }
    ws.send(tungstenite::Message::text("count")).unwrap();
    let answer = ws.read().unwrap();
    assert_eq!(answer, tungstenite::Message::text("drains=1"), "once, after the backpressure");
    stop(server);
}

/// Tries to close with the code a message names, and says what happened.
struct Closer;

impl Handler for Closer {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: ringws::Message<'_>) {
        let ringws::Message::Text(code) = message else { return };
        let code = ringws::CloseCode(code.parse().unwrap());
        if let Err(e) = ws.close(code, "bye") {
            let _ = ws.send_text(&e.to_string());
        }
    }
}

#[test]
fn close_codes_that_may_not_be_sent_are_refused_before_the_wire() {
    let server = app().ws("/close", || Closer).start().unwrap();
    let url = format!("ws://{}/close", server.local_addr());
    let (mut ws, _) = tungstenite::connect(url).expect("upgrade");
    for bad in ["1005", "1006", "1015", "0", "1004", "2000"] {
        ws.send(tungstenite::Message::text(bad)).unwrap();
        let said = ws.read().unwrap().into_text().unwrap();
        assert!(said.starts_with(&format!("close code {bad} may not be sent")), "{said}");
    }
    ws.send(tungstenite::Message::text("4001")).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4001),
        other => panic!("{other:?}"),
    }
    // Any id: the code is refused before the id is looked at.
    let id = ringws::ConnId::from_u64(0);
    let refused = server.handle().close(id, ringws::CloseCode::ABNORMAL, "no");
    assert_eq!(refused.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    stop(server);
}

/// Echoes.
struct Plain;

impl Handler for Plain {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: ringws::Message<'_>) {
        let _ = ws.send(message);
    }
}

#[test]
fn each_route_has_its_own_idle_timeout_pings_and_message_limit() {
    use ringws::RouteOptions;
    use std::time::{Duration, Instant};
    let quiet = RouteOptions::default()
        .with_idle_timeout(Duration::from_millis(600))
        .without_auto_ping()
        .with_max_message_size(100);
    let server = app().ws("/echo", || Plain).ws_with("/quiet", quiet, || Plain).start().unwrap();
    let addr = server.local_addr();
    // The small limit on /quiet only.
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/quiet")).unwrap();
    ws.send(tungstenite::Message::binary(vec![1u8; 200])).unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1009),
        other => panic!("expected 1009, got {other:?}"),
    }
    let (mut big, _) = tungstenite::connect(format!("ws://{addr}/echo")).unwrap();
    big.send(tungstenite::Message::binary(vec![1u8; 200])).unwrap();
    assert_eq!(big.read().unwrap().len(), 200, "the server-wide limit on /echo");
    // Silence on /quiet: dropped after 600 ms, with no ping first.
    let (mut silent, _) = tungstenite::connect(format!("ws://{addr}/quiet")).unwrap();
    let t0 = Instant::now();
    match silent.read() {
        Err(_) | Ok(tungstenite::Message::Close(_)) => {}
        Ok(other) => panic!("no ping on /quiet, got {other:?}"),
    }
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(550), "not before its idle timeout: {waited:?}");
    assert!(waited < Duration::from_secs(5), "dropped at its idle timeout: {waited:?}");
    stop(server);
}

#[test]
fn head_answers_with_the_get_answers_length_and_no_body() {
    let server = app().ws("/echo", || Plain).get("/page", "text/plain", "twelve bytes").start();
    let server = server.unwrap();
    let addr = server.local_addr();
    let head = raw_exchange(addr, b"HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-length: 12\r\n"), "{head}");
    assert!(head.ends_with("\r\n\r\n"), "no body: {head:?}");
    let missing = raw_exchange(addr, b"HEAD /nothing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404") && missing.ends_with("\r\n\r\n"), "{missing}");
    stop(server);
}

/// Tells each client where it comes from.
struct Mirror;

impl Handler for Mirror {
    type Data = String;

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<String>, Reject> {
        let peer = req.peer().ok_or_else(|| Reject::new(500, "no peer address"))?;
        Ok(Accept::new(peer.to_string()))
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, String>) {
        let peer = ws.data().clone();
        let _ = ws.send_text(&peer);
    }
}

#[test]
fn the_upgrade_request_knows_the_peers_address() {
    let server = app().ws("/mirror", || Mirror).start().unwrap();
    let stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let mine = stream.local_addr().unwrap();
    let url = format!("ws://{}/mirror", server.local_addr());
    let (mut ws, _) = tungstenite::client(url, stream).expect("upgrade");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text(mine.to_string()));
    stop(server);
}

#[test]
fn a_closure_runs_on_the_connections_worker_from_another_thread() {
    use ringws::SendStatus;
    use std::time::Duration;
    let (server, rx) = super::server();
    let mut ws = super::connect(&server);
    let super::Seen::Open(id) = rx.recv().unwrap() else { panic!("an open first") };
    let (tx, answers) = std::sync::mpsc::channel();
    let (handle, t) = (server.handle(), tx.clone());
    std::thread::spawn(move || {
        handle.run::<(), _>(id, move |ws| {
            let status = ws.map(|ws| {
                ws.subscribe("news");
                ws.send_text("from outside")
            });
            t.send(status).unwrap();
        })
    })
    .join()
    .unwrap()
    .unwrap();
    let wait = Duration::from_secs(5);
    assert_eq!(answers.recv_timeout(wait).unwrap(), Some(SendStatus::Sent), "the real status");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("from outside"));
    assert_eq!(server.handle().subscriber_count("news"), 1, "subscribed from outside");
    // Another route's data type, or a connection that is gone: `None`.
    let t = tx.clone();
    server
        .handle()
        .run::<String, _>(id, move |ws| t.send(ws.map(|_| SendStatus::Sent)).unwrap())
        .unwrap();
    assert_eq!(answers.recv_timeout(wait).unwrap(), None);
    drop(ws);
    while server.handle().open_connections() > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    server
        .handle()
        .run::<(), _>(id, move |ws| tx.send(ws.map(|_| SendStatus::Sent)).unwrap())
        .unwrap();
    assert_eq!(answers.recv_timeout(wait).unwrap(), None, "gone");
    stop(server);
}

/// Accepts `?ok` with a cookie, refuses the rest with a challenge; tries to inject a header.
struct Gate;

impl Handler for Gate {
    type Data = ();

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        if req.query() == Some("ok") {
            return Ok(Accept::new(())
                .with_header("Set-Cookie", "session=abc")
                .with_header("X-Evil", "a\r\nInjected: yes"));
        }
        Err(Reject::new(401, "who are you?").with_header("WWW-Authenticate", "Bearer"))
    }
}

#[test]
fn the_101_and_refusals_carry_the_applications_headers_and_nothing_injected() {
    use std::io::{Read, Write};
    let server = app().ws("/gate", || Gate).start().unwrap();
    let addr = server.local_addr();
    let refused = raw_exchange(addr, upgrade_head("/gate", "").as_bytes());
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(refused.contains("\r\nWWW-Authenticate: Bearer\r\n"), "{refused}");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(upgrade_head("/gate?ok", "").as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("\r\nSet-Cookie: session=abc\r\n"), "{head}");
    assert!(!head.contains("Injected") && !head.contains("X-Evil"), "{head}");
    stop(server);
}

fn behind_proxy(header: ringws::ProxyHeader, trusted: &str) -> ringws::Server {
    let trusted: ringws::IpNet = trusted.parse().unwrap();
    app().behind_proxy(header, [trusted]).ws("/mirror", || Mirror).start().unwrap()
}

/// A WebSocket client over `stream`, whose first bytes were already written by the "proxy".
fn mirror_over(server: &ringws::Server, stream: std::net::TcpStream) -> String {
    let url = format!("ws://{}/mirror", server.local_addr());
    let (mut ws, _) = tungstenite::client(url, stream).expect("upgrade");
    ws.read().unwrap().into_text().unwrap().to_string()
}

#[test]
fn a_trusted_proxys_proxy_protocol_header_names_the_client() {
    use std::io::Write;
    let server = behind_proxy(ringws::ProxyHeader::Protocol, "127.0.0.1/32");
    let port = server.local_addr().port();
    // v1, split across two writes just before the last port (which `ppp` alone refuses).
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(b"PROXY TCP4 203.0.113.7 127.0.0.1 51000 ").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(50));
    stream.write_all(format!("{port}\r\n").as_bytes()).unwrap();
    assert_eq!(mirror_over(&server, stream), "203.0.113.7:51000");
    // v2 (binary), IPv6.
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    v2.extend([0x21, 0x21, 0, 36]);
    v2.extend("2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    v2.extend(std::net::Ipv6Addr::LOCALHOST.octets());
    v2.extend(4000u16.to_be_bytes());
    v2.extend(port.to_be_bytes());
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    stream.write_all(&v2).unwrap();
    assert_eq!(mirror_over(&server, stream), "[2001:db8::7]:4000");
    // A trusted peer without the header: refused, and it says why.
    let missing = raw_exchange(server.local_addr(), upgrade_head("/mirror", "").as_bytes());
    assert!(missing.starts_with("HTTP/1.1 400") && missing.contains("PROXY"), "{missing}");
    stop(server);
}

#[test]
fn a_proxy_header_from_an_untrusted_peer_is_not_believed() {
    let server = behind_proxy(ringws::ProxyHeader::Protocol, "10.0.0.0/8");
    let line = format!("PROXY TCP4 203.0.113.7 127.0.0.1 51000 80\r\n{}", upgrade_head("/m", ""));
    let answer = raw_exchange(server.local_addr(), line.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // And without one it is served, under its own address.
    let stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    let mine = stream.local_addr().unwrap().to_string();
    assert_eq!(mirror_over(&server, stream), mine);
    stop(server);
}

#[test]
fn x_forwarded_for_from_a_trusted_proxy_names_the_client() {
    use tungstenite::client::IntoClientRequest;
    let server = behind_proxy(ringws::ProxyHeader::ForwardedFor, "127.0.0.0/8");
    let mut request = format!("ws://{}/mirror", server.local_addr()).into_client_request().unwrap();
    let chain = "198.51.100.1, 203.0.113.9, 127.0.0.5".parse().unwrap();
    request.headers_mut().insert("X-Forwarded-For", chain);
    let (mut ws, _) = tungstenite::connect(request).expect("upgrade");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("203.0.113.9:0"));
    stop(server);
    // From an untrusted peer, the header is anyone's word: ignored.
    let server = behind_proxy(ringws::ProxyHeader::ForwardedFor, "10.0.0.0/8");
    let mut request = format!("ws://{}/mirror", server.local_addr()).into_client_request().unwrap();
    request.headers_mut().insert("X-Forwarded-For", "203.0.113.9".parse().unwrap());
    let (mut ws, _) = tungstenite::connect(request).expect("upgrade");
    let seen = ws.read().unwrap().into_text().unwrap().to_string();
    assert!(seen.starts_with("127.0.0.1:"), "{seen}");
    stop(server);
}

#[test]
fn draining_refuses_new_upgrades_while_connections_carry_on() {
    let (server, _seen) = super::server_with(ringws::Limits::default(), |a| a.health_path("/up"));
    let handle = server.handle();
    let mut ws = super::connect(&server);
    let health = || raw_exchange(server.local_addr(), b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(health().starts_with("HTTP/1.1 200") && health().ends_with("ok\n"));
    handle.drain();
    assert!(handle.is_draining());
    assert!(health().starts_with("HTTP/1.1 503"), "{}", health());
    let refused = raw_exchange(server.local_addr(), upgrade_head("/echo", "").as_bytes());
    assert!(refused.starts_with("HTTP/1.1 503") && refused.contains("Retry-After: 1"), "{refused}");
    ws.send(tungstenite::Message::text("still")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("still"));
    assert_eq!(handle.metrics().refused_by_status.get(&503), Some(&1));
    stop(server);
}
