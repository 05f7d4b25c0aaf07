//! Peer: a broadcast server on tokio-tungstenite, single-threaded: every message a client sends
//! goes to every other client (the shape of uWebSockets' broadcast test). For fan-out
//! comparisons, with `ringws-load fanout --subscribe ''`.
//! `peer-broadcast PORT`
#![forbid(unsafe_code)]

use futures_util::{SinkExt, StreamExt};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Clients = Rc<RefCell<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

fn main() -> std::io::Result<()> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "9704".into());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TcpListener::bind(format!("127.0.0.1:{port}")).await?;
        let clients: Clients = Rc::default();
        let mut next_id = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let id = next_id;
            next_id += 1;
            let clients = clients.clone();
            tokio::task::spawn_local(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
                let (mut sink, mut source) = ws.split();
                let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
                clients.borrow_mut().insert(id, tx);
                let writer = tokio::task::spawn_local(async move {
                    while let Some(msg) = rx.recv().await {
                        if sink.send(msg).await.is_err() {
                            break;
                        }
                    }
                });
                while let Some(Ok(msg)) = source.next().await {
                    if msg.is_text() || msg.is_binary() {
                        // The message is shared (Bytes inside): no copy per client.
                        for (other, tx) in clients.borrow().iter() {
                            if *other != id {
                                let _ = tx.send(msg.clone());
                            }
                        }
                    }
                }
                clients.borrow_mut().remove(&id);
                writer.abort();
            });
        }
    })
}
