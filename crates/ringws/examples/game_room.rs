//! A game-room server: players join `/room/{id}?name=...`, their messages go to everyone else
//! in the room, a tokio task publishes a snapshot of every room 20 times a second through the
//! `ServerHandle`, and a player who leaves is announced to the room from `on_close`.
//!
//! `cargo run --release -p ringws --example game_room -- 127.0.0.1:9002`
//! then `ws://127.0.0.1:9002/room/1?name=ann` from any client. Prints `listening on ADDR`.
//!
//! Handlers are per worker (one instance per core, never shared), so the player counts live in
//! shared state the application owns: here an `Arc<Mutex<..>>` the tick reads.

use ringws::{Accept, App, Closed, Handler, Kind, Message, Reject, UpgradeRequest, WebSocket};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Players per room, over all workers.
type Rooms = Arc<Mutex<BTreeMap<String, usize>>>;

struct Room {
    rooms: Rooms,
}

/// What each connection carries: its room's topic and the player's name.
struct Player {
    topic: String,
    name: String,
}

impl Room {
    fn count(&self, topic: &str, delta: isize) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let n = rooms.entry(topic.to_owned()).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            rooms.remove(topic);
        }
    }
}

impl Handler for Room {
    type Data = Player;

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<Player>, Reject> {
        let id = req.param("id").unwrap_or_default();
        let name = req.query_param("name").filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| Reject::new(400, "join with ?name=..."))?;
        Ok(Accept::new(Player { topic: format!("room/{id}"), name: name.into_owned() }))
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, Player>) {
        let (topic, name) = (ws.data().topic.clone(), ws.data().name.clone());
        ws.subscribe(&topic);
        self.count(&topic, 1);
        ws.publish(&topic, Kind::Text, format!("{name} joined").as_bytes());
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, Player>, message: Message<'_>) {
        let Message::Text(text) = message else { return };
        let line = format!("{}: {text}", ws.data().name);
        let topic = ws.data().topic.clone();
        ws.publish(&topic, Kind::Text, line.as_bytes());
    }

    fn on_close(&mut self, mut closed: Closed<'_, Player>) {
        let Player { topic, name } = closed.data();
        let (topic, left) = (topic.clone(), format!("{name} left"));
        self.count(&topic, -1);
        closed.publish(&topic, Kind::Text, left.as_bytes());
    }
}

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into())
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let (server, _tick) = serve(addr)?;
    println!("listening on {}", server.local_addr());
    server.join()
}

/// Starts the rooms on `addr`, and the tick on a tokio runtime (returned: it runs while kept).
pub(crate) fn serve(
    addr: SocketAddr,
) -> std::io::Result<(ringws::Server, tokio::runtime::Runtime)> {
    let rooms = Rooms::default();
    let for_workers = rooms.clone();
    let server = App::new()
        .bind(addr)
        .ws("/room/:id", move || Room { rooms: for_workers.clone() })
        .start()?;
    let handle = server.handle();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_time().build()?;
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        for frame in 0u64.. {
            tick.tick().await;
            let snapshot: Vec<(String, usize)> = {
                let rooms = rooms.lock().unwrap_or_else(|e| e.into_inner());
                rooms.iter().map(|(t, n)| (t.clone(), *n)).collect()
            };
            for (topic, players) in snapshot {
                let state = format!("tick {frame}: {players} players");
                if handle.publish(&topic, Kind::Text, state.as_bytes()).is_err() {
                    return; // shutting down
                }
            }
        }
    });
    Ok((server, runtime))
}
