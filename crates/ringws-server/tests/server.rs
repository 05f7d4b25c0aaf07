//! The `ringws` binary as a user runs it: its routes, the /pubsub JSON protocol, and a graceful
//! exit on SIGTERM.
// Helpers here are test code too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

struct Running {
    child: Child,
    port: u16,
    /// The server's log lines after its "listening" line.
    log: std::sync::mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port no other test of this run was given: the server binds with SO_REUSEPORT, so two
/// tests handed the same released port would share it, and one test's connections could land on
/// the other's server (seen once: a pubsub client reached the server another test had stopped).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn start(extra: &[&str]) -> Running {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringws"))
        .args(["--addr", &format!("127.0.0.1:{port}"), "--workers", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Ready when it says it listens (a TCP probe would succeed as soon as the first listener is
    // bound, before the workers are up or the start has failed); the log is drained after.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains("listening on") => {
                assert!(!line.contains('\x1b'), "colour escapes in a log that is not a terminal");
                break;
            }
            Ok(line) => log.push(line),
            Err(_) => panic!("the server did not start: {}", log.join("\n")),
        }
    }
    Running { child, port, log: rx }
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn ws(port: u16, path: &str) -> Ws {
    tungstenite::connect(format!("ws://127.0.0.1:{port}{path}")).unwrap().0
}

fn send(ws: &mut Ws, text: &str) {
    ws.send(tungstenite::Message::text(text)).unwrap();
}

fn recv(ws: &mut Ws) -> String {
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Close(Some(f))) => return u16::from(f.code),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame: {e}"),
        }
    }
}

#[test]
fn serves_the_chat_page_health_and_echo() {
    let server = start(&[]);
    assert!(get(server.port, "/healthz").ends_with("\r\n\r\nok\n"));
    let page = get(server.port, "/");
    assert!(page.starts_with("HTTP/1.1 200 OK") && page.contains("/pubsub"), "{page:.200}");
    let mut echo = ws(server.port, "/echo");
    send(&mut echo, "hi");
    assert_eq!(recv(&mut echo), "hi");
}

#[test]
fn pubsub_delivers_json_to_other_subscribers() {
    let server = start(&[]);
    let mut alice = ws(server.port, "/pubsub");
    let mut bob = ws(server.port, "/pubsub");
    send(&mut bob, r#"{"op":"sub","topic":"chat"}"#);
    // Bob's subscription may land on the other worker a moment later: publish until it arrives.
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = bob.get_mut() {
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        send(&mut alice, r#"{"op":"pub","topic":"chat","data":"probe"}"#);
        if let Ok(tungstenite::Message::Text(t)) = bob.read() {
            assert_eq!(t.as_str(), r#"{"topic":"chat","data":"probe"}"#);
            break;
        }
        assert!(Instant::now() < deadline, "bob never received a publish");
    }
    while bob.read().is_ok() {} // drain extra probes
    send(
        &mut alice,
        r#"{"op":"pub","topic":"chat","data":{"name":"alice","text":"héllo \"you\""}}"#,
    );
    let got = loop {
        if let Ok(tungstenite::Message::Text(t)) = bob.read() {
            break t.to_string();
        }
    };
    assert_eq!(got, r#"{"topic":"chat","data":{"name":"alice","text":"héllo \"you\""}}"#);
    // Alice is not subscribed and gets nothing; after unsubscribing, neither does Bob.
    send(&mut bob, r#"{"op":"unsub","topic":"chat"}"#);
    send(&mut bob, r#"{"op":"sub","topic":"other"}"#);
    send(&mut alice, r#"{"op":"pub","topic":"chat","data":1}"#);
    send(&mut alice, r#"{"op":"pub","topic":"other","data":2}"#);
    let next = loop {
        if let Ok(tungstenite::Message::Text(t)) = bob.read() {
            break t.to_string();
        }
    };
    assert_eq!(next, r#"{"topic":"other","data":2}"#, "nothing from chat after unsub");
}

#[test]
fn bad_messages_get_errors_then_a_close() {
    let server = start(&[]);
    let mut c = ws(server.port, "/pubsub");
    send(&mut c, "{not json");
    assert!(recv(&mut c).starts_with(r#"{"error":"invalid JSON"#));
    send(&mut c, r#"{"op":"dance","topic":"t"}"#);
    assert_eq!(recv(&mut c), r#"{"error":"unknown op \"dance\""}"#);
    send(&mut c, &format!(r#"{{"op":"sub","topic":"{}"}}"#, "x".repeat(200)));
    assert!(recv(&mut c).contains("topic must be 1 to 128 bytes"));
    for _ in 0..6 {
        send(&mut c, "nope");
        recv(&mut c);
    }
    send(&mut c, "[1,2"); // the tenth bad message: malformed, so 1007
    recv(&mut c);
    assert_eq!(close_code(&mut c), 1007);

    let mut d = ws(server.port, "/pubsub");
    for _ in 0..10 {
        d.send(tungstenite::Message::binary(vec![1u8])).unwrap();
    }
    for _ in 0..10 {
        assert!(recv(&mut d).contains("binary"));
    }
    assert_eq!(close_code(&mut d), 1003, "well-formed but unsupported");
}

#[test]
fn topics_per_connection_are_limited() {
    let server = start(&[]);
    let mut c = ws(server.port, "/pubsub");
    for i in 0..64 {
        send(&mut c, &format!(r#"{{"op":"sub","topic":"t{i}"}}"#));
    }
    send(&mut c, r#"{"op":"sub","topic":"one-too-many"}"#);
    assert!(recv(&mut c).contains("at most 64 topics"));
}

#[test]
fn sigterm_closes_clients_with_1001_and_exits_zero() {
    let mut server = start(&[]);
    let mut clients: Vec<Ws> = (0..5).map(|_| ws(server.port, "/echo")).collect();
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for c in &mut clients {
        assert_eq!(close_code(c), 1001);
    }
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

/// The drain sequence an orchestrator runs: SIGUSR1 takes the node out of the load balancer
/// (health 503, new upgrades 503) while a client that stays connected keeps being served; SIGTERM
/// then closes it with 1001.
#[test]
fn sigusr1_drains_then_sigterm_closes() {
    let mut server = start(&[]);
    let mut stays = ws(server.port, "/echo");
    let pid = server.child.id().to_string();
    assert!(get(server.port, "/healthz").starts_with("HTTP/1.1 200"));
    assert!(Command::new("kill").args(["-USR1", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !get(server.port, "/healthz").starts_with("HTTP/1.1 503") {
        assert!(Instant::now() < deadline, "the health check never said 503");
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = tungstenite::connect(format!("ws://127.0.0.1:{}/echo", server.port));
    match refused {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("a new upgrade while draining: {:?}", other.map(|(_, r)| r.status())),
    }
    send(&mut stays, "still here");
    assert_eq!(recv(&mut stays), "still here");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert_eq!(close_code(&mut stays), 1001);
    assert!(server.child.wait().unwrap().success());
}

/// `--log-format json`: every line one JSON object, the access log's lines among them with the
/// upgrade's path, status and peer.
#[test]
fn json_logs_parse_line_by_line_with_the_access_log() {
    let server = start(&["--log-format", "json", "--access-log"]);
    let mut c = ws(server.port, "/echo");
    send(&mut c, "hi");
    assert_eq!(recv(&mut c), "hi");
    let refused = tungstenite::connect(format!("ws://127.0.0.1:{}/nowhere", server.port));
    assert!(refused.is_err());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = server.log.recv_timeout(left).expect("two access-log lines");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        if v["target"] == "ringws::access" {
            seen.push(v["fields"].clone());
        }
    }
    assert_eq!((seen[0]["path"].as_str(), seen[0]["status"].as_u64()), (Some("/echo"), Some(101)));
    assert_eq!(
        (seen[1]["path"].as_str(), seen[1]["status"].as_u64()),
        (Some("/nowhere"), Some(404))
    );
    assert!(seen[0]["peer"].as_str().is_some_and(|p| p.starts_with("127.0.0.1:")), "{seen:?}");
}

#[test]
fn version_names_the_binary_and_its_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringws")).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!("ringws {} (", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected) && text.trim_end().ends_with(')'), "{text}");
}

#[test]
fn the_echo_path_can_move_to_the_root_beside_the_page() {
    // What a generator that always dials `/` needs (uWebSockets' load_test).
    let server = start(&["--echo-path", "/"]);
    let mut c = ws(server.port, "/");
    send(&mut c, "hi");
    assert_eq!(recv(&mut c), "hi");
    assert!(get(server.port, "/").contains("<html"), "the demo page is still served to GET /");
    let out = Command::new(env!("CARGO_BIN_EXE_ringws")).args(["--echo-path", "echo"]).output();
    let out = out.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must start with /"));
}

/// Precedence as an operator meets it: flag over `RINGWS_*` over the file over the default,
/// shown by `--print-config`; a file with a mistake stops the server with the key named.
#[test]
fn settings_precedence_flag_env_file_default() {
    let file = std::env::temp_dir().join(format!("ringws-precedence-{}.toml", std::process::id()));
    std::fs::write(&file, "idle_timeout = \"30s\"\nmax_connections = 10\nworkers = 1\n").unwrap();
    let print = |flags: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ringws"))
            .arg("--config")
            .arg(&file)
            .args(["--print-config"])
            .args(flags)
            .env("RINGWS_IDLE_TIMEOUT", "45s")
            .env("RINGWS_MAX_CONNECTIONS", "20")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = print(&["--max-connections", "30"]);
    assert!(shown.contains("max_connections = 30  # flag\n"), "{shown}");
    assert!(shown.contains("idle_timeout = \"45s\"  # env\n"), "{shown}");
    assert!(shown.contains("workers = 1  # file\n"), "{shown}");
    assert!(shown.contains("handshake_timeout = \"10s\"  # default\n"), "{shown}");

    std::fs::write(&file, "workers = 1\nidel_timeout = \"30s\"\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_ringws")).arg("--config").arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key `idel_timeout`"), "{err}");
}

/// The server's resident memory, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// A metric's value from the Prometheus text (the first sample of that name).
fn metric(text: &str, name: &str) -> u64 {
    let line = text.lines().find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '));
    line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// What 400 connections that each send most of a maximum-size message (200 of 256 KiB) and
/// stall do to a server with `budget`: how many got 1013, the bytes it reserves, how much its
/// RSS grew, and whether an ordinary client was still served.
fn stall(budget: &str) -> (u64, u64, u64) {
    let server = start(&["--max-message-size", "256KiB", "--memory-budget", budget]);
    let before = rss_bytes(server.child.id());
    let mut head = vec![0x82, 0x80 | 127]; // binary, masked, 64-bit length
    head.extend((256u64 << 10).to_be_bytes());
    head.extend([0, 0, 0, 0]); // a zero mask: the payload goes as it is
    let payload = vec![0x5a; 200 << 10];
    let mut stalled = Vec::new();
    for _ in 0..400 {
        let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(
            s,
            "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        s.write_all(&head).unwrap();
        s.write_all(&payload).unwrap();
        stalled.push(s);
    }
    let mut c = ws(server.port, "/echo");
    send(&mut c, "still served");
    assert_eq!(recv(&mut c), "still served");
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        // Every byte sent is in: 400 x 200 KiB reserved or refused.
        let m = get(server.port, "/metrics");
        let seen = metric(&m, "ringws_assembling_bytes") / (256 << 10)
            + metric(&m, "ringws_budget_closes_total");
        if seen >= 400 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Those over the budget were told why: a close frame with 1013 after their 101. Everything
    // the server sent is in the sockets by now; read what is there without waiting.
    std::thread::sleep(Duration::from_millis(300));
    let mut told = 0;
    for s in &mut stalled {
        s.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        let end = got.windows(4).position(|w| w == b"\r\n\r\n").map_or(got.len(), |p| p + 4);
        if got[end..].starts_with(&[0x88]) && got.get(end + 2..end + 4) == Some(&[0x03, 0xf5][..]) {
            told += 1;
        }
    }
    let refused = metric(&metrics, "ringws_budget_closes_total");
    assert_eq!(told, refused, "every connection closed for the budget got a 1013 frame");
    let held = metric(&metrics, "ringws_assembling_bytes");
    let grown = rss_bytes(server.child.id()).saturating_sub(before);
    println!("budget {budget}: {refused} closed with 1013, {held} bytes reserved, RSS +{grown} B");
    (refused, held, grown)
}

/// Unbounded, the stalled messages hold 80 MB; with a 16 MiB budget the server keeps what fits,
/// closes the rest with 1013 and frees their bytes, and still serves an ordinary client. (RSS
/// alone misleads here: the receive-buffer ring's pages become resident as traffic passes, so
/// the two runs are compared.)
#[test]
fn a_memory_budget_holds_against_stalled_large_messages() {
    let (refused, held, bounded) = stall("16MiB");
    assert!(held <= 16 << 20, "reserved {held} bytes over a 16 MiB budget");
    assert!(refused >= 300, "only {refused} of 400 were closed with 1013");
    let (refused, held, unbounded) = stall("1GiB");
    assert_eq!((refused, held), (0, 400 * (256 << 10)), "a budget that fits refuses nobody");
    assert!(
        bounded + (40 << 20) < unbounded,
        "the budget saved little: RSS +{bounded} with it, +{unbounded} without"
    );
}

/// `--metrics-addr`: the same figures on an address of their own.
#[test]
fn metrics_on_an_address_of_their_own() {
    let port = free_port();
    let server = start(&["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let mut c = ws(server.port, "/echo");
    send(&mut c, "one");
    recv(&mut c);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            break out;
        }
        assert!(Instant::now() < deadline, "nothing listens on the metrics address");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert_eq!(metric(&text, "ringws_upgrades_total"), 1, "{text}");
}
