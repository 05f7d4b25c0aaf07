//! A market-data fan-out: one feed thread publishes ticks for a few symbols, any number of
//! subscribers listen on `/feed/{symbol}`, each tick is encoded once and shared by every
//! subscriber, and a subscriber that stops reading is closed (1008) once 64 KiB wait for it, so
//! one slow client never costs the others memory or time.
//!
//! `cargo run --release -p ringws --example market_feed -- 127.0.0.1:9003`
//! then `ws://127.0.0.1:9003/feed/ACME` from any client. Prints `listening on ADDR`.

use ringws::{Accept, App, Handler, Kind, Reject, RouteOptions, SlowConsumer, UpgradeRequest};
use ringws::{Server, WebSocket};
use std::net::SocketAddr;
use std::time::Duration;

const SYMBOLS: [&str; 3] = ["ACME", "GLOBEX", "INITECH"];

struct Feed;

impl Handler for Feed {
    /// The symbol's topic.
    type Data = String;

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<String>, Reject> {
        match req.param("symbol") {
            Some(s) if SYMBOLS.contains(&s) => Ok(Accept::new(format!("ticks/{s}"))),
            _ => Err(Reject::new(404, format!("symbols: {}", SYMBOLS.join(", ")))),
        }
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, String>) {
        let topic = ws.data().clone();
        ws.subscribe(&topic);
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let server = serve(addr)?;
    println!("listening on {}", server.local_addr());
    server.join()
}

/// Starts the feed route on `addr` and the feed thread (it stops when the server shuts down).
pub(crate) fn serve(addr: SocketAddr) -> std::io::Result<Server> {
    // A subscriber 64 KiB behind is closed, not buffered for without bound.
    let slow = RouteOptions::new(64 << 10, SlowConsumer::Close);
    let server = App::new().bind(addr).ws_with("/feed/:symbol", slow, || Feed).start()?;
    let handle = server.handle();
    std::thread::spawn(move || {
        for seq in 0u64.. {
            for (i, symbol) in SYMBOLS.iter().enumerate() {
                let price = 100.0 + ((seq + i as u64 * 7) % 50) as f64 / 10.0;
                let tick = format!("{{\"s\":\"{symbol}\",\"seq\":{seq},\"px\":{price:.2}}}");
                let topic = format!("ticks/{symbol}");
                if handle.publish(&topic, Kind::Text, tick.as_bytes()).is_err() {
                    return; // the server is shutting down
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    Ok(server)
}
