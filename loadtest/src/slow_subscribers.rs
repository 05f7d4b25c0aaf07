//! The `slow` scenario's slow subscribers: plain blocking sockets that subscribe and then never
//! read, beside an ordinary driven run (a publisher and one healthy subscriber); afterwards, what
//! the server left in their sockets says what it did to them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::Common;
use crate::drive::{Plan, drive};
use crate::report::Report;
use crate::scenario::Window;
use crate::target::Target;

/// The `slow` scenario: the slow subscribers are plain blocking sockets that subscribe and stop
/// reading; the rest is an ordinary driven run.
pub(crate) fn run(
    common: &Common,
    slow: usize,
    rate: f64,
    size: usize,
    subscribe: String,
    publish: String,
) -> Result<Report, String> {
    let target = Target::parse(&common.url)?;
    let tls = common.tls(&target)?;
    let mut sockets = Vec::with_capacity(slow);
    for _ in 0..slow {
        let mut s = upgrade_blocking(&target, tls.as_ref())?;
        let mut frame = Vec::new();
        let text = ringws_proto::OpCode::Text;
        ringws_proto::frame::write_frame(
            &mut frame,
            text,
            subscribe.as_bytes(),
            Some([1, 2, 3, 4]),
        );
        s.write_all(&frame).map_err(|e| e.to_string())?;
        // Shrink our receive buffer so the server feels the backpressure sooner.
        sockets.push(s);
    }
    let window = Arc::new(Window::default());
    let w = window.clone();
    let sub = (!subscribe.is_empty()).then_some(subscribe);
    let plan = Plan {
        name: "slow",
        unit: "deliveries",
        connections: 2,
        // The healthy subscriber receives every publish.
        target_per_s: Some(rate),
        tail: true,
        largest_reply: None,
        second_target: None,
    };
    let mut report = drive(common, plan, window, move |_| {
        crate::scenario::slow::Slow::new(sub.clone(), publish.clone(), size, rate, w.clone())
    })?;
    // What happened to the slow ones: read what the server left in their sockets.
    let mut eof = 0;
    let mut close_codes = Vec::new();
    for s in &mut sockets {
        s.set_read_timeout(Some(Duration::from_millis(200))).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 1 << 20];
        let mut seen = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    eof += 1;
                    break;
                }
                Ok(n) => seen.extend_from_slice(&buf[..n.min(buf.len())]),
                Err(_) => break,
            }
            if seen.len() > 64 << 20 {
                break;
            }
        }
        if let Some(code) = last_close_code(&seen) {
            close_codes.push(code);
        }
    }
    let closed = close_codes.len().max(eof);
    let codes =
        if close_codes.is_empty() { String::new() } else { format!(" with codes {close_codes:?}") };
    report.notes.push(format!(
        "{slow} slow subscriber(s): {closed} closed by the server ({} close frames{codes}, {eof} saw \
         the connection end); the others had their messages dropped or still queued",
        close_codes.len()
    ));
    Ok(report)
}

/// The code of the last close frame in a byte stream from a server, if one is there.
fn last_close_code(stream: &[u8]) -> Option<u16> {
    let mut decoder = ringws_proto::FrameDecoder::new(ringws_proto::Role::Client)
        .with_max_frame_size(u64::MAX >> 1);
    let mut bytes = stream.to_vec();
    let mut pos = 0;
    let mut code = None;
    while let Ok(Some((part, used))) = decoder.decode(&mut bytes[pos..]) {
        if part.header.opcode == ringws_proto::OpCode::Close && part.payload.len() >= 2 {
            code = Some(u16::from_be_bytes([part.payload[0], part.payload[1]]));
        }
        pos += used;
    }
    code
}

/// A slow subscriber's socket: blocking, plain or TLS.
enum Blocking {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Blocking {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.set_read_timeout(timeout),
            Self::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }
}

impl Read for Blocking {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Blocking {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

fn upgrade_blocking(
    target: &Target,
    tls: Option<&crate::tls::TlsClient>,
) -> Result<Blocking, String> {
    let tcp = TcpStream::connect(target.addr).map_err(|e| format!("{}: {e}", target.addr))?;
    let mut s = match tls {
        None => Blocking::Plain(tcp),
        Some(tls) => Blocking::Tls(Box::new(tls.blocking(tcp).map_err(|e| e.to_string())?)),
    };
    let request = ringws_proto::handshake::ClientRequest::new(&target.host, &target.path, [9; 16]);
    let mut out = Vec::new();
    let accept = request.write(&mut out);
    s.write_all(&out).map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).map_err(|e| e.to_string())?;
        head.push(byte[0]);
    }
    ringws_proto::handshake::parse_response(&head, &request, &accept).map_err(|e| e.to_string())?;
    Ok(s)
}
