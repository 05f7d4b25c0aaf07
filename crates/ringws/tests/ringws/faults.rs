//! What the engine does when things go wrong on its side or at the end of a connection: a
//! handler that panics, and who closes TCP after the closing handshake.

use super::{close_code, raw_exchange, raw_ws, read_frame, stop, upgrade_head};
use ringws::{Accept, App, Handler, Message, Reject, Server, UpgradeRequest, WebSocket};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Echoes, but panics on the message "boom" and on an upgrade asking for `?boom`.
struct Fragile;

impl Handler for Fragile {
    type Data = ();

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        assert!(req.query() != Some("boom"), "a handler bug in on_upgrade");
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
        assert!(!matches!(message, Message::Text("boom")), "a handler bug in on_message");
        let _ = ws.send(message);
    }
}

fn fragile_server() -> Server {
    App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .ws("/echo", || Fragile)
        .start()
        .expect("server starts")
}

/// A masked client frame.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [7u8, 1, 2, 3];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

#[test]
fn a_panicking_handler_fails_only_its_connection_with_1011() {
    let server = fragile_server();
    let addr = server.local_addr();
    // Both on the one worker: the panic must not take the other connection down.
    let mut bad = raw_ws(addr);
    let mut good = raw_ws(addr);
    bad.write_all(&masked(0x1, b"boom")).unwrap();
    let (opcode, payload) = read_frame(&mut bad);
    assert_eq!((opcode, close_code(&payload)), (0x8, 1011), "the panicking connection gets 1011");
    good.write_all(&masked(0x1, b"still here")).unwrap();
    assert_eq!(read_frame(&mut good), (0x1, b"still here".to_vec()), "the other one is served");
    // A panic in on_upgrade is a 500, and the worker goes on accepting.
    let answer = raw_exchange(addr, upgrade_head("/echo?boom", "").as_bytes());
    assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
    let mut after = raw_ws(addr);
    after.write_all(&masked(0x1, b"hi")).unwrap();
    assert_eq!(read_frame(&mut after), (0x1, b"hi".to_vec()));
    stop(server);
}

#[test]
fn the_server_closes_tcp_first_after_the_closing_handshake() {
    // RFC 6455 §7.1.1: the server closes the TCP connection first, so TIME_WAIT stays with it.
    let server = fragile_server();
    let mut client = raw_ws(server.local_addr());
    client.write_all(&masked(0x8, &1000u16.to_be_bytes())).unwrap();
    let (opcode, payload) = read_frame(&mut client);
    assert_eq!((opcode, close_code(&payload)), (0x8, 1000));
    // We never close: the server's FIN must come on its own.
    client.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let start = Instant::now();
    let mut rest = [0u8; 16];
    assert_eq!(client.read(&mut rest).unwrap(), 0, "EOF from the server");
    assert!(start.elapsed() < Duration::from_secs(1), "closed at once, not at a timeout");
    stop(server);
}
