//! Peer: an echo server on tokio-websockets, single-threaded (tokio current_thread runtime).
//! `peer-tokio-websockets PORT`
#![forbid(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio_websockets::{Config, Limits, ServerBuilder};

fn main() -> std::io::Result<()> {
    ringws_benches::serve_peer(9703, |stream| async move {
        let builder = ServerBuilder::new()
            .config(Config::default())
            .limits(Limits::default().max_payload_len(Some(64 << 20)));
        let Ok((_request, mut ws)) = builder.accept(stream).await else { return };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}
