//! Peer: an echo server on fastwebsockets, single-threaded (tokio current_thread runtime). The
//! opening handshake is answered with ringws-proto (fastwebsockets leaves it to hyper); frames are
//! fastwebsockets' own, with its FragmentCollector and automatic pong/close.
//! `peer-fastwebsockets PORT`
#![forbid(unsafe_code)]

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use ringws_proto::handshake::{DEFAULT_MAX_HEADER_BYTES, parse_request, write_accept};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn upgrade(stream: &mut TcpStream) -> Option<()> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse_request(&buf, DEFAULT_MAX_HEADER_BYTES).ok()? {
            let upgrade = request.websocket().ok()?;
            let mut out = Vec::new();
            write_accept(&mut out, upgrade.accept_key(), None, None);
            stream.write_all(&out).await.ok()?;
            // Clients wait for the 101 before sending frames, so nothing follows the head.
            return Some(());
        }
    }
}

fn main() -> std::io::Result<()> {
    ringws_benches::serve_peer(9702, |mut stream| async move {
        if upgrade(&mut stream).await.is_none() {
            return;
        }
        let mut ws = WebSocket::after_handshake(stream, Role::Server);
        ws.set_max_message_size(64 << 20);
        let mut ws = FragmentCollector::new(ws);
        while let Ok(frame) = ws.read_frame().await {
            let echo = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
            if frame.opcode == OpCode::Close || (echo && ws.write_frame(frame).await.is_err()) {
                break;
            }
        }
    })
}
