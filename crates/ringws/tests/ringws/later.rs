//! Deferred upgrades: answered from another thread after a slow check, refused with headers,
//! timed out with 503, dropped (500), and a client that leaves before the answer is reported.

use super::{raw_exchange, stop, upgrade_head};
use ringws::{Accept, App, Handler, Later, Limits, Reject, UpgradeRequest, WebSocket};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Checks `?token=...` "with another service" (a thread that sleeps), then answers.
struct Auth {
    /// Upgrades told to wait forever, kept alive here.
    parked: Arc<Mutex<Vec<Later<String>>>>,
    /// What a check saw when its client had left.
    gone: mpsc::Sender<std::io::ErrorKind>,
}

impl Handler for Auth {
    type Data = String;

    fn on_upgrade_later(
        &mut self,
        req: &UpgradeRequest<'_>,
        later: Later<String>,
    ) -> Option<Result<Accept<String>, Reject>> {
        let token = req.query_param("token").unwrap_or_default().into_owned();
        if token == "now" {
            return Some(Ok(Accept::new("fast".into())));
        }
        let (parked, gone) = (self.parked.clone(), self.gone.clone());
        std::thread::spawn(move || match token.as_str() {
            "good" => {
                std::thread::sleep(Duration::from_millis(50));
                later.accept(Accept::new("ann".into()).with_header("Set-Cookie", "s=1")).unwrap();
            }
            "bad" => {
                let no = Reject::new(401, "bad token").with_header("WWW-Authenticate", "Bearer");
                later.reject(no).unwrap();
            }
            "never" => parked.lock().unwrap().push(later),
            "drop" => drop(later),
            _ => {
                while !later.client_gone() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let err = later.accept(Accept::new("late".into())).unwrap_err();
                gone.send(err.kind()).unwrap();
            }
        });
        None
    }

    fn on_open(&mut self, ws: &mut WebSocket<'_, String>) {
        let hello = format!("hello {}", ws.data());
        let _ = ws.send_text(&hello);
    }
}

#[test]
fn a_deferred_upgrade_is_answered_from_another_thread_or_times_out() {
    let mut limits = Limits::default();
    limits.handshake_timeout = Duration::from_millis(500);
    let (gone_tx, gone_rx) = mpsc::channel();
    let parked = Arc::new(Mutex::new(Vec::new()));
    let p = parked.clone();
    let server = App::new()
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .workers(2)
        .limits(limits)
        .ws("/auth", move || Auth { parked: p.clone(), gone: gone_tx.clone() })
        .start()
        .unwrap();
    let addr = server.local_addr();
    let (mut ws, response) = tungstenite::connect(format!("ws://{addr}/auth?token=good")).unwrap();
    assert_eq!(response.headers()["set-cookie"], "s=1");
    assert_eq!(ws.read().unwrap(), tungstenite::Message::text("hello ann"));
    let (mut fast, _) = tungstenite::connect(format!("ws://{addr}/auth?token=now")).unwrap();
    assert_eq!(fast.read().unwrap(), tungstenite::Message::text("hello fast"));
    let bad = raw_exchange(addr, upgrade_head("/auth?token=bad", "").as_bytes());
    assert!(bad.starts_with("HTTP/1.1 401") && bad.contains("WWW-Authenticate: Bearer"), "{bad}");
    let never = raw_exchange(addr, upgrade_head("/auth?token=never", "").as_bytes());
    assert!(never.starts_with("HTTP/1.1 503") && never.contains("Retry-After"), "{never}");
    let dropped = raw_exchange(addr, upgrade_head("/auth?token=drop", "").as_bytes());
    assert!(dropped.starts_with("HTTP/1.1 500"), "{dropped}");
    // A client that leaves while its upgrade is being checked.
    let mut leaving = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut leaving, upgrade_head("/auth?token=slow", "").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(leaving);
    let kind = gone_rx.recv_timeout(Duration::from_secs(5)).expect("the check saw it leave");
    assert_eq!(kind, std::io::ErrorKind::NotConnected);
    assert_eq!(parked.lock().unwrap().len(), 1, "the parked one is still held");
    stop(server);
}
