//! The send side of the memory budget: past its worker's share, a connection already holding
//! 64 KiB is refused new data, and the refusal is counted.

use super::stop;
use ringws::{Accept, App, Handler, Limits, Reject, RouteOptions, SendStatus, UpgradeRequest};
use std::net::SocketAddr;
use std::sync::mpsc;

/// On open, queues 64 messages of 64 KiB to a client that has not read anything yet.
struct Flood(mpsc::Sender<Vec<SendStatus>>);

impl Handler for Flood {
    type Data = ();

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<()>, Reject> {
        Ok(Accept::new(()))
    }

    fn on_open(&mut self, ws: &mut ringws::WebSocket<'_, ()>) {
        let chunk = vec![1u8; 64 << 10];
        let statuses = (0..64).map(|_| ws.send_binary(&chunk)).collect();
        let _ = self.0.send(statuses);
    }
}

#[test]
fn past_the_budget_the_largest_queues_are_refused() {
    let mut limits = Limits::default();
    limits.memory_budget = 1 << 20;
    let (tx, rx) = mpsc::channel();
    // The route's own limit is far above the budget: the budget is what refuses.
    let options = RouteOptions::new(64 << 20, ringws::SlowConsumer::Drop);
    let server = App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(1)
        .limits(limits)
        .ws_with("/flood", options, move || Flood(tx.clone()))
        .start()
        .unwrap();
    let url = format!("ws://{}/flood", server.local_addr());
    let (mut client, _) = tungstenite::connect(url).unwrap();
    let statuses = rx.recv().unwrap();
    let queued = statuses.iter().filter(|s| **s != SendStatus::Dropped).count();
    // 16 of them with their frame headers pass the 1 MiB share; the 17th finds the worker over
    // it and this connection holding more than 64 KiB.
    assert_eq!(queued, 16, "{statuses:?}");
    assert_eq!(server.handle().metrics().budget_drops, 64 - 16);
    for _ in 0..queued {
        assert_eq!(client.read().unwrap().len(), 64 << 10, "what was queued arrives whole");
    }
    stop(server);
}
