//! Topics: delivery across workers, self-delivery, unsubscribe and close, the slow-consumer
//! policies with bounded memory, and publishing from a tokio task.

use super::{stop, wait_until};
use ringws::{
    Accept, App, Handler, Kind, Limits, Message, Reject, RouteOptions, Server, SlowConsumer,
    UpgradeRequest, WebSocket,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Debug)]
enum Event {
    Dropped { buffered: usize },
    Closed(u16),
}

/// Text commands: `sub T`, `unsub T`, `pub T PAYLOAD`, `pubself T PAYLOAD`. Answers `ok W` to a
/// subscribe, W being the worker.
struct Topics {
    events: mpsc::Sender<Event>,
}

impl Handler for Topics {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, ()>, message: Message<'_>) {
        let Message::Text(text) = message else { return };
        let mut parts = text.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("sub"), Some(t), None) => {
                ws.subscribe(t);
                let reply = format!("ok {}", ws.worker());
                let _ = ws.send_text(&reply);
            }
            (Some("unsub"), Some(t), None) => {
                ws.unsubscribe(t);
                let _ = ws.send_text("unsubscribed");
            }
            (Some("pub"), Some(t), Some(p)) => {
                ws.publish(t, Kind::Text, p.as_bytes());
            }
            (Some("pubself"), Some(t), Some(p)) => {
                ws.publish_with_self(t, Kind::Text, p.as_bytes());
            }
            _ => {}
        }
    }

    fn on_dropped(&mut self, ws: &mut WebSocket<'_, ()>, _bytes: usize) {
        let _ = self.events.send(Event::Dropped { buffered: ws.buffered_amount() });
    }

    fn on_close(&mut self, closed: ringws::Closed<'_, ()>) {
        let _ = self.events.send(Event::Closed(closed.code()));
    }
}

fn start(options: RouteOptions, limits: Limits) -> (Server, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel();
    let server = App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .limits(limits)
        .ws_with("/ps", options, move || Topics { events: tx.clone() })
        .start()
        .expect("server starts");
    (server, rx)
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

fn client(server: &Server) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://{}/ps", server.local_addr())).unwrap();
    ws
}

fn text(ws: &mut Ws) -> String {
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Subscribes and returns the worker the connection landed on.
fn subscribe(ws: &mut Ws, topic: &str) -> usize {
    ws.send(tungstenite::Message::text(format!("sub {topic}"))).unwrap();
    let reply = text(ws);
    reply.strip_prefix("ok ").unwrap().parse().unwrap()
}

fn set_timeout(ws: &mut Ws, t: Duration) {
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_read_timeout(Some(t)).unwrap();
    }
}

#[test]
fn publish_reaches_every_subscriber_on_both_workers_but_not_the_publisher() {
    let (server, _rx) = start(RouteOptions::default(), Limits::default());
    let mut subs: Vec<Ws> = (0..24).map(|_| client(&server)).collect();
    let workers: Vec<usize> = subs.iter_mut().map(|ws| subscribe(ws, "scores")).collect();
    assert!(
        workers.contains(&0) && workers.contains(&1),
        "subscribers on both workers: {workers:?}"
    );
    let mut publisher = client(&server);
    let publisher_worker = subscribe(&mut publisher, "scores");
    assert_eq!(server.handle().subscriber_count("scores"), 25);
    for i in 0..10 {
        publisher.send(tungstenite::Message::text(format!("pub scores goal {i}"))).unwrap();
    }
    for ws in &mut subs {
        for i in 0..10 {
            assert_eq!(text(ws), format!("goal {i}"), "in order, each exactly once");
        }
    }
    // The publisher, though subscribed, got nothing (no self-delivery by default)...
    set_timeout(&mut publisher, Duration::from_millis(300));
    assert!(publisher.read().is_err(), "no self-delivery (publisher on worker {publisher_worker})");
    stop(server);
}

#[test]
fn publish_with_self_includes_the_publisher() {
    let (server, _rx) = start(RouteOptions::default(), Limits::default());
    let mut ws = client(&server);
    subscribe(&mut ws, "echoes");
    ws.send(tungstenite::Message::text("pubself echoes me too")).unwrap();
    assert_eq!(text(&mut ws), "me too");
    stop(server);
}

#[test]
fn unsubscribe_and_close_remove_subscriptions() {
    let (server, _rx) = start(RouteOptions::default(), Limits::default());
    let handle = server.handle();
    let mut a = client(&server);
    let mut b = client(&server);
    subscribe(&mut a, "t");
    subscribe(&mut b, "t");
    assert_eq!(handle.subscriber_count("t"), 2);
    a.send(tungstenite::Message::text("unsub t")).unwrap();
    assert_eq!(text(&mut a), "unsubscribed");
    assert_eq!(handle.subscriber_count("t"), 1);
    handle.publish("t", Kind::Text, b"only b").unwrap();
    assert_eq!(text(&mut b), "only b");
    set_timeout(&mut a, Duration::from_millis(300));
    assert!(a.read().is_err(), "a unsubscribed");
    drop(b);
    wait_until("close unsubscribes", || handle.subscriber_count("t") == 0);
    stop(server);
}

/// A subscriber that never reads after subscribing: a raw socket.
fn silent_subscriber(addr: SocketAddr, topic: &str) -> TcpStream {
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/ps")).unwrap();
    subscribe(&mut ws, topic);
    match ws.into_inner() {
        tungstenite::stream::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn slow_consumer_drop_policy_bounds_its_queue() {
    let limit = 64 * 1024;
    let (server, rx) = start(RouteOptions::new(limit, SlowConsumer::Drop), Limits::default());
    let handle = server.handle();
    let _silent = silent_subscriber(server.local_addr(), "feed");
    let mut reader = client(&server);
    subscribe(&mut reader, "feed");
    let payload = vec![b'x'; 4096];
    // 12 MB published, one at a time: far more than the socket buffers and the limit hold for
    // the silent subscriber, while the reader keeps up and gets every one.
    for _ in 0..3_000 {
        handle.publish("feed", Kind::Binary, &payload).unwrap();
        match reader.read().unwrap() {
            tungstenite::Message::Binary(b) => assert_eq!(b.len(), 4096),
            other => panic!("{other:?}"),
        }
    }
    let drops: Vec<usize> = rx
        .try_iter()
        .filter_map(|e| if let Event::Dropped { buffered } = e { Some(buffered) } else { None })
        .collect();
    assert!(!drops.is_empty(), "the silent subscriber must hit its limit");
    let worst = drops.iter().max().copied().unwrap();
    assert!(worst <= limit + 4096 + 16, "queue bounded by the limit plus one frame: {worst}");
    println!("silent subscriber: {} publishes dropped, queue at most {worst} bytes", drops.len());
    stop(server);
}

#[test]
fn slow_consumer_close_policy_closes_with_1008() {
    let mut limits = Limits::default();
    limits.close_timeout = Duration::from_millis(300);
    let (server, rx) = start(RouteOptions::new(64 * 1024, SlowConsumer::Close), limits);
    let handle = server.handle();
    let mut silent = silent_subscriber(server.local_addr(), "feed");
    let payload = vec![b'x'; 4096];
    for _ in 0..5_000 {
        handle.publish("feed", Kind::Binary, &payload).unwrap();
    }
    let code = rx
        .iter()
        .find_map(|e| if let Event::Closed(code) = e { Some(code) } else { None })
        .unwrap();
    assert_eq!(code, 1008);
    wait_until("closed", || handle.open_connections() == 0);
    // The socket is gone on the server side: the client reads until EOF or reset.
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sink = Vec::new();
    let _ = silent.read_to_end(&mut sink);
    let _ = silent.write_all(b"x");
    stop(server);
}

#[test]
fn publish_from_a_tokio_task_reaches_subscribers() {
    let (server, _rx) = start(RouteOptions::default(), Limits::default());
    let mut subs: Vec<Ws> = (0..6).map(|_| client(&server)).collect();
    for ws in &mut subs {
        subscribe(ws, "market");
    }
    let handle = server.handle();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    runtime.block_on(async move {
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let handle = handle.clone();
                tokio::spawn(async move {
                    handle.publish("market", Kind::Text, format!("tick {i}").as_bytes()).unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    for ws in &mut subs {
        let mut got: Vec<String> = (0..3).map(|_| text(ws)).collect();
        got.sort();
        assert_eq!(got, vec!["tick 0", "tick 1", "tick 2"]);
    }
    stop(server);
}
