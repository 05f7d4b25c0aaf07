//! Criterion benchmarks for ringws live in `benches/`; run them with
//! `cargo bench -p ringws-benches`. This library holds what they and the peer servers share.
#![forbid(unsafe_code)]

use ringws_proto::frame::{OpCode, write_frame};

/// The bytes of one masked frame as a client sends it.
pub fn masked_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(&mut out, opcode, payload, Some([0x37, 0xfa, 0x21, 0x3d]));
    out
}

/// Runs a peer server the same way for every peer: a single-threaded tokio runtime, a listener on
/// 127.0.0.1 at the port given as the first argument (or `default_port`), TCP_NODELAY on every
/// connection, and `serve` spawned for each.
pub fn serve_peer<F, Fut>(default_port: u16, serve: F) -> std::io::Result<()>
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let port = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(default_port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(serve(stream));
        }
    })
}
