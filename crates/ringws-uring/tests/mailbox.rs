//! Messages between workers that are posted before the target worker is running.

mod common;

use common::config;
use ringws_uring::{Config, ConnId, Handler, Io, Server};
use std::sync::mpsc;
use std::time::Duration;

struct Poster {
    id: usize,
    got: mpsc::Sender<u64>,
}

impl Handler for Poster {
    type Message = u64;

    fn on_start(&mut self, io: &mut Io<'_, u64>) {
        if self.id == 0 {
            io.post(1, 42);
        }
    }

    fn on_data(&mut self, _: &mut Io<'_, u64>, _: ConnId, _: &mut [u8]) {}

    fn on_message(&mut self, _: &mut Io<'_, u64>, msg: u64) {
        let _ = self.got.send(msg);
    }
}

#[test]
fn a_post_before_the_target_worker_runs_is_delivered() {
    // Worker 1 is slow to set up; worker 0 posts to it from on_start, before worker 1 has
    // published its ring descriptor, so no wakeup can be sent. The post used to wait forever
    // (and every later post behind it, since only the first post after a drain wakes).
    let (tx, rx) = mpsc::channel();
    let config = Config { listen: false, ..config(2) };
    let server = Server::start(config, move |info| {
        if info.id == 1 {
            std::thread::sleep(Duration::from_millis(300));
        }
        Poster { id: info.id, got: tx.clone() }
    })
    .unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(42), "the early post arrived");
    server.handle().post(1, 7).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(7), "and later posts still wake it");
    server.handle().shutdown();
    server.join().unwrap();
}
