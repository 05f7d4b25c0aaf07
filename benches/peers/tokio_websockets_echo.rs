//! Peer: an echo server on tokio-websockets, single-threaded (tokio current_thread runtime).
//! `peer-tokio-websockets PORT`
#![forbid(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::{Config, Limits, ServerBuilder};

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "9703".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let builder = ServerBuilder::new()
                    .config(Config::default())
                    .limits(Limits::default().max_payload_len(Some(64 << 20)));
                let Ok((_request, mut ws)) = builder.accept(stream).await else { return };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    })
}
