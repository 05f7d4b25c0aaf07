//! permessage-deflate end to end, with a raw client built from `ringws-proto`'s codec: the
//! offer answered, a compressed message inflated and its echo compressed, a publish compressed
//! once and sent compressed to the clients that negotiated it and plain to the others; in
//! dedicated mode, each direction's context kept across messages (a publish compressed per
//! subscriber), and a per-send choice to go plain.

use super::stop;
use ringws::{Accept, App, Compress, Compression, Handler, Kind, Message, Reject, RouteOptions};
use ringws::{UpgradeRequest, WebSocket};
use ringws_proto::deflate::{Deflater, Inflater};
use ringws_proto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode, RSV1};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Echoes; "sub" subscribes to "news"; "pub:<text>" publishes it there; "plain:<text>" and
/// "pubplain:<text>" do the same, never compressed.
struct EchoNews;

impl Handler for EchoNews {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
        match message {
            Message::Text("sub") => {
                ws.subscribe("news");
                let _ = ws.send_text("subscribed");
            }
            Message::Text(t) if t.starts_with("pub:") => {
                ws.publish("news", Kind::Text, &t.as_bytes()[4..]);
            }
            Message::Text(t) if t.starts_with("plain:") => {
                let _ = ws.send_with(Message::Text(&t[6..]), Compress::Never);
            }
            Message::Text(t) if t.starts_with("pubplain:") => {
                ws.publish_with("news", Kind::Text, &t.as_bytes()[9..], Compress::Never);
            }
            other => {
                let _ = ws.send(other);
            }
        }
    }
}

fn server() -> ringws::Server {
    server_with(Compression::Shared)
}

fn server_with(compression: Compression) -> ringws::Server {
    let mut options = RouteOptions::default();
    options.compression = compression;
    App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .ws_with("/", options, || EchoNews)
        .start()
        .unwrap()
}

/// A client on a socket: upgrades with or without an offer, sends masked frames, reads frames.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(server: &ringws::Server, offer: Option<&str>) -> (Self, String) {
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let ext = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}\r\n")).unwrap_or_default();
        write!(
            s,
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
        )
        .unwrap();
        let mut c = Client { s, buf: Vec::new() };
        let end = loop {
            if let Some(p) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            c.fill();
        };
        let head = String::from_utf8_lossy(&c.buf[..end]).into_owned();
        c.buf.drain(..end);
        (c, head)
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.s.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn send(&mut self, opcode: OpCode, rsv1: bool, payload: &[u8]) {
        let key = [7, 1, 9, 3];
        let header = FrameHeader {
            rsv: if rsv1 { RSV1 } else { 0 },
            masking_key: Some(key),
            ..FrameHeader::new(opcode, payload.len() as u64)
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        let mut frame = head[..n].to_vec();
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        self.s.write_all(&frame).unwrap();
    }

    /// The next frame: (RSV1 set, payload).
    fn read(&mut self) -> (bool, Vec<u8>) {
        loop {
            if let Ok(Some((header, n))) = FrameHeader::parse(&self.buf) {
                let len = header.payload_len as usize;
                if self.buf.len() >= n + len {
                    let payload = self.buf[n..n + len].to_vec();
                    self.buf.drain(..n + len);
                    return (header.rsv & RSV1 != 0, payload);
                }
            }
            self.fill();
        }
    }
}

fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Deflater::new(6, 15, false).deflate(payload, &mut out);
    out
}

fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Inflater::new(false).inflate(&[payload], 1 << 20, &mut out).unwrap();
    out
}

#[test]
fn an_offer_is_answered_and_messages_go_both_ways_compressed() {
    let server = server();
    let (mut c, head) =
        Client::connect(&server, Some("permessage-deflate; client_max_window_bits"));
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n"
        ),
        "{head}"
    );
    let text = r#"{"player":7,"x":12.5,"y":-3.25,"facing":"north"}"#.repeat(10);
    c.send(OpCode::Text, true, &deflate(text.as_bytes()));
    let (compressed, payload) = c.read();
    assert!(compressed, "the echo comes back compressed");
    assert!(payload.len() < text.len() / 3);
    assert_eq!(inflate(&payload), text.as_bytes());
    // A short message goes plain, and a plain one is read as it is.
    c.send(OpCode::Text, false, b"hi");
    assert_eq!(c.read(), (false, b"hi".to_vec()));
    stop(server);
}

#[test]
fn a_publish_is_compressed_for_those_who_negotiated_it() {
    let server = server();
    let offer = Some("permessage-deflate");
    let mut zipped: Vec<Client> = (0..3).map(|_| Client::connect(&server, offer).0).collect();
    let (mut plain, head) = Client::connect(&server, None);
    assert!(!head.contains("Sec-WebSocket-Extensions"), "no offer, no extension: {head}");
    for c in zipped.iter_mut().chain([&mut plain]) {
        c.send(OpCode::Text, false, b"sub");
        assert_eq!(c.read().1, b"subscribed");
    }
    let (mut publisher, _) = Client::connect(&server, None);
    let news = "market update: bid 101.25 ask 101.50 size 300 ".repeat(8);
    publisher.send(OpCode::Text, false, format!("pub:{news}").as_bytes());
    for c in &mut zipped {
        let (compressed, payload) = c.read();
        assert!(compressed);
        assert_eq!(inflate(&payload), news.as_bytes());
    }
    assert_eq!(plain.read(), (false, news.into_bytes()), "plain for the one that did not offer");
    stop(server);
}

#[test]
fn a_route_without_compression_declines_the_offer() {
    let server = App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .ws("/", || EchoNews)
        .start()
        .unwrap();
    let (mut c, head) = Client::connect(&server, Some("permessage-deflate"));
    assert!(!head.contains("Sec-WebSocket-Extensions"), "{head}");
    // RSV1 without the extension is a protocol error: close 1002.
    c.send(OpCode::Text, true, &deflate(b"not negotiated"));
    let (_, close) = c.read();
    assert_eq!(close[..2], 1002u16.to_be_bytes());
    stop(server);
}

#[test]
fn a_send_or_publish_may_choose_to_go_plain() {
    let server = server();
    let (mut c, _) = Client::connect(&server, Some("permessage-deflate"));
    c.send(OpCode::Text, false, b"sub");
    assert_eq!(c.read().1, b"subscribed");
    let text = "the same words again and again, ".repeat(10);
    c.send(OpCode::Text, false, format!("plain:{text}").as_bytes());
    assert_eq!(c.read(), (false, text.clone().into_bytes()), "Compress::Never on a send");
    let (mut publisher, _) = Client::connect(&server, None);
    publisher.send(OpCode::Text, false, format!("pubplain:{text}").as_bytes());
    assert_eq!(c.read(), (false, text.clone().into_bytes()), "Compress::Never on a publish");
    publisher.send(OpCode::Text, false, format!("pub:{text}").as_bytes());
    let (compressed, payload) = c.read();
    assert!(compressed, "the default compresses");
    assert_eq!(inflate(&payload), text.as_bytes());
    stop(server);
}

/// One direction of a dedicated-mode connection, as a client sees it: its deflater and
/// inflater keep their context across messages, as the server's must.
struct Contexts {
    deflater: Deflater,
    inflater: Inflater,
}

impl Contexts {
    fn new(bits: u8) -> Self {
        Self { deflater: Deflater::new(6, bits, true), inflater: Inflater::with_window(bits, true) }
    }

    fn deflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.deflater.deflate(payload, &mut out);
        out
    }

    fn inflate(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.inflater.inflate(&[payload], 1 << 20, &mut out).unwrap();
        out
    }
}

#[test]
fn dedicated_mode_keeps_each_directions_context() {
    let server = server_with(Compression::Dedicated { window_bits: 11 });
    let (mut c, head) =
        Client::connect(&server, Some("permessage-deflate; client_max_window_bits"));
    assert!(
        head.contains(
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11; \
             client_max_window_bits=11\r\n"
        ),
        "{head}"
    );
    let mut ctx = Contexts::new(11);
    let state = br#"{"tick":1,"players":[{"id":7,"x":12.5,"y":-3.25,"hp":97,"state":"running"}]}"#;
    let mut echo_sizes = Vec::new();
    for _ in 0..4 {
        // Our messages refer back into the previous ones: the server's inflater keeps them.
        let wire = ctx.deflate(state);
        c.send(OpCode::Text, true, &wire);
        let (compressed, payload) = c.read();
        assert!(compressed);
        echo_sizes.push(payload.len());
        assert_eq!(ctx.inflate(&payload), state, "the echo inflates with our kept context");
    }
    assert!(echo_sizes[1] * 3 < echo_sizes[0], "later echoes refer back: {echo_sizes:?}");
    // A message that does not shrink still goes compressed (its bytes are in the server's
    // context), and what follows inflates.
    let mut x = 0x9e37_79b9_u32;
    let noise: Vec<u8> = (0..300)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    c.send(OpCode::Binary, false, &noise);
    let (compressed, payload) = c.read();
    assert!(compressed, "once compressed with the context, it goes compressed");
    assert_eq!(ctx.inflate(&payload), noise);
    c.send(OpCode::Text, true, &ctx.deflate(state));
    let (_, payload) = c.read();
    assert_eq!(ctx.inflate(&payload), state);
    stop(server);
}

#[test]
fn a_dedicated_publish_is_compressed_for_each_subscriber_in_its_context() {
    let server = server_with(Compression::Dedicated { window_bits: 15 });
    let mut subs: Vec<(Client, Contexts)> = (0..3)
        .map(|_| (Client::connect(&server, Some("permessage-deflate")).0, Contexts::new(15)))
        .collect();
    for (c, _) in &mut subs {
        c.send(OpCode::Text, false, b"sub");
        assert_eq!(c.read().1, b"subscribed");
    }
    // One subscriber has had more traffic: its context differs from the others'.
    let (first, ctx) = &mut subs[0];
    let warm = "market update: bid 101.25 ask 101.50 size 300 ".repeat(3);
    first.send(OpCode::Text, false, warm.as_bytes());
    let (compressed, payload) = first.read();
    assert!(compressed);
    assert_eq!(ctx.inflate(&payload), warm.as_bytes());
    let (mut publisher, _) = Client::connect(&server, None);
    for i in 0..3 {
        let news = format!("market update: bid 101.{i}5 ask 101.50 size 300 seq {i}").repeat(3);
        publisher.send(OpCode::Text, false, format!("pub:{news}").as_bytes());
        for (c, ctx) in &mut subs {
            let (compressed, payload) = c.read();
            assert!(compressed);
            assert_eq!(ctx.inflate(&payload), news.as_bytes(), "publish {i}");
        }
    }
    stop(server);
}

#[test]
fn dedicated_mode_follows_a_client_that_declines_takeover() {
    let server = server_with(Compression::Dedicated { window_bits: 15 });
    let offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    let (mut c, head) = Client::connect(&server, Some(offer));
    assert!(head.contains(&format!("Sec-WebSocket-Extensions: {offer}\r\n")), "{head}");
    let text = r#"{"player":7,"x":12.5,"y":-3.25,"facing":"north"}"#.repeat(4);
    for _ in 0..3 {
        c.send(OpCode::Text, true, &deflate(text.as_bytes()));
        let (compressed, payload) = c.read();
        assert!(compressed);
        assert_eq!(inflate(&payload), text.as_bytes(), "each message on its own");
    }
    stop(server);
}
