//! Peer: an echo server on tokio-tungstenite, single-threaded (tokio current_thread runtime).
//! `peer-tokio-tungstenite PORT`
#![forbid(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() -> std::io::Result<()> {
    ringws_benches::serve_peer(9701, |stream| async move {
        let config = WebSocketConfig::default().max_message_size(Some(64 << 20));
        let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
        else {
            return;
        };
        while let Some(Ok(msg)) = ws.next().await {
            if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}
