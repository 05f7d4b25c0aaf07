//! A game room: players join `/room/{id}`, a publish says how many it reached, a player who
//! leaves is announced from `on_close`, and a handle refuses work once the server shuts down.

use ringws::{Accept, App, Closed, Handler, Kind, Message, Reject, UpgradeRequest, WebSocket};
use std::net::SocketAddr;
use std::time::Duration;

struct Room;

/// A player: the room's topic and a name.
struct Player {
    topic: String,
    name: String,
}

impl Handler for Room {
    type Data = Player;

    fn on_upgrade(&mut self, req: &UpgradeRequest<'_>) -> Result<Accept<Player>, Reject> {
        let topic = format!("room/{}", req.param("id").unwrap_or("?"));
        let name = req.query_param("name").unwrap_or_default().into_owned();
        Ok(Accept::new(Player { topic, name }))
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, Player>) {
        let topic = ws.data().topic.clone();
        ws.subscribe(&topic);
        let _ = ws.send_text("joined");
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, Player>, message: Message<'_>) {
        let Message::Text(text) = message else { return };
        let topic = ws.data().topic.clone();
        let reached = ws.publish(&topic, Kind::Text, text.as_bytes());
        let _ = ws.send_text(&format!("reached {reached}"));
    }

    fn on_close(&mut self, mut closed: Closed<'_, Player>) {
        let left = format!("{} left ({})", closed.data().name, closed.code());
        let topic = closed.data().topic.clone();
        closed.publish(&topic, Kind::Text, left.as_bytes());
    }
}

fn join(addr: SocketAddr, room: &str, name: &str) -> super::Ws {
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/room/{room}?name={name}")).unwrap();
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("joined"));
    ws
}

#[test]
fn a_room_counts_its_publishes_and_hears_who_left() {
    let bind = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = App::new().bind(bind).workers(2).ws("/room/:id", || Room).start().unwrap();
    let addr = server.local_addr();
    let mut ann = join(addr, "7", "ann");
    let mut bob = join(addr, "7", "bob");
    let _other_room = join(addr, "8", "cy");
    let handle = server.handle();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handle.subscriber_count("room/7") < 2 {
        assert!(std::time::Instant::now() < deadline, "both players subscribed");
        std::thread::sleep(Duration::from_millis(5));
    }
    ann.send(tungstenite::Message::text("hi")).unwrap();
    assert_eq!(ann.read().unwrap(), tungstenite::Message::text("reached 1"), "bob, not ann");
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("hi"));
    assert_eq!(handle.publish("room/7", Kind::Text, b"tick").unwrap(), 2);
    assert_eq!(ann.read().unwrap(), tungstenite::Message::text("tick"));
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("tick"));
    ann.close(None).unwrap();
    assert_eq!(bob.read().unwrap(), tungstenite::Message::text("ann left (1005)"));
    handle.shutdown();
    let after = handle.send_text(ringws::ConnId::from_u64(0), "late");
    assert_eq!(after.unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    assert!(handle.publish("room/7", Kind::Text, b"late").is_err());
    // Ann's "left" was posted to the other worker in the last turns before shutdown: the
    // server must still stop (a wake queued but never submitted hung it).
    server.join().expect("clean exit");
}
