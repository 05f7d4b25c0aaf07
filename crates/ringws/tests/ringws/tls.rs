//! wss:// end to end: a self-signed certificate (rcgen), rustls as the client (verifying the
//! certificate for `localhost`), tungstenite speaking WebSocket over it; plain HTTP, garbage and
//! a stalled handshake on the TLS port closed without harming others; a certificate replaced
//! while running.

use super::{Seen, server_with, stop};
use ringws::{App, Limits, Server};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

struct Cert {
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn self_signed() -> Cert {
    self_signed_for("localhost")
}

fn self_signed_for(name: &str) -> Cert {
    let cert = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
    Cert {
        der: cert.cert.der().clone(),
        key: PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap(),
    }
}

fn config(cert: &Cert) -> Arc<rustls::ServerConfig> {
    let certs = ringws::tls::Certificates::new(vec![cert.der.clone()], cert.key.clone_key());
    certs.unwrap().into_config().unwrap()
}

fn tls_server(cert: &Cert, limits: Limits) -> (Server, mpsc::Receiver<Seen>) {
    let config = config(cert);
    server_with(limits, move |app: App| app.tls(config))
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS client that trusts only `cert`, connected and through its handshake.
fn tls_connect(server: &Server, cert: &Cert) -> Tls {
    tls_connect_to(server, cert, "localhost")
}

/// A TLS client that trusts only `cert` and asks for `name` (SNI).
fn tls_connect_to(server: &Server, cert: &Cert, name: &str) -> Tls {
    tls_connect_addr(server.local_addr(), cert, name)
}

/// A TLS client of `addr` that trusts only `cert` and asks for `name` (SNI).
fn tls_connect_addr(addr: std::net::SocketAddr, cert: &Cert, name: &str) -> Tls {
    let mut roots = RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let conn = ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

fn wss(server: &Server, cert: &Cert) -> tungstenite::WebSocket<Tls> {
    let stream = tls_connect(server, cert);
    let url = format!("wss://localhost:{}/echo", server.local_addr().port());
    let (ws, response) = tungstenite::client(url, stream).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

fn echoes(ws: &mut tungstenite::WebSocket<Tls>, message: tungstenite::Message) {
    ws.send(message.clone()).unwrap();
    assert_eq!(ws.read().unwrap(), message);
}

#[test]
fn wss_echo_of_small_large_and_binary_messages() {
    let cert = self_signed();
    let (server, _) = tls_server(&cert, Limits::default());
    let mut ws = wss(&server, &cert);
    echoes(&mut ws, tungstenite::Message::text("hello over TLS"));
    echoes(&mut ws, tungstenite::Message::binary(vec![0u8, 1, 2, 255]));
    // Larger than one TLS record (16 KiB) each way, and than the receive buffer.
    let big: String = (0..200_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    echoes(&mut ws, tungstenite::Message::text(big));
    // Plain HTTP over TLS on the same port.
    let mut tls = tls_connect(&server, &cert);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok\n"), "{answer}");
    ws.close(None).unwrap();
    stop(server);
}

/// Reads until the server closes: returns what it sent and how long the close took.
fn read_until_closed(mut s: TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return (got, start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn plain_http_garbage_and_truncated_records_are_closed_and_others_served() {
    let cert = self_signed();
    let (server, _) = tls_server(&cert, Limits::default());
    let mut ws = wss(&server, &cert);
    let addr = server.local_addr();
    // Plain HTTP on the TLS port: not a TLS record; an alert at most, then the close.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (got, took) = read_until_closed(s);
    assert!(!got.starts_with(b"HTTP"), "no HTTP answer in the clear");
    assert!(took < Duration::from_secs(5), "closed at once, took {took:?}");
    // Garbage records, and a record header that promises more than ever comes.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[
        0x17, 0x03, 0x03, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    ])
    .unwrap();
    let (_, took) = read_until_closed(s);
    assert!(took < Duration::from_secs(5), "garbage closed at once, took {took:?}");
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00, 0x01]).unwrap(); // a 16 KiB hello, cut
    drop(s);
    // After the handshake: garbage in place of a record.
    let mut tls = tls_connect(&server, &cert);
    tls.sock.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20]).unwrap();
    tls.sock.write_all(&[0xAB; 32]).unwrap();
    let (_, took) = read_until_closed(tls.sock);
    assert!(took < Duration::from_secs(5), "a bad record closed at once, took {took:?}");
    echoes(&mut ws, tungstenite::Message::text("still here"));
    stop(server);
}

#[test]
fn a_stalled_tls_handshake_is_cut_at_the_handshake_timeout() {
    let cert = self_signed();
    let mut limits = Limits::default();
    limits.handshake_timeout = Duration::from_millis(500);
    let (server, _) = tls_server(&cert, limits);
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    // The first bytes of a ClientHello, one at a time, then nothing more.
    for b in [0x16u8, 0x03, 0x01, 0x00, 0xc8, 0x01] {
        s.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, took) = read_until_closed(s);
    assert!(
        took > Duration::from_millis(100) && took < Duration::from_secs(3),
        "cut at about 0.5 s, took {took:?}"
    );
    stop(server);
}

#[test]
fn a_new_certificate_serves_new_connections_and_open_ones_keep_theirs() {
    let (first, second) = (self_signed(), self_signed());
    let (server, _) = tls_server(&first, Limits::default());
    let mut old = wss(&server, &first);
    server.handle().set_tls(config(&second)).unwrap();
    let fresh = tls_connect(&server, &second);
    let seen = fresh.conn.peer_certificates().unwrap()[0].clone();
    assert_eq!(seen, second.der, "a new connection gets the new certificate");
    echoes(&mut old, tungstenite::Message::text("the old connection carries on"));
    // A plain server refuses a TLS configuration.
    let (plain, _) = server_with(Limits::default(), |a| a);
    assert!(plain.handle().set_tls(config(&second)).is_err());
    stop(plain);
    stop(server);
}

#[test]
fn pem_files_are_loaded_and_bad_ones_named() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("ringws-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    assert!(ringws::tls::server_config(&cert_path, &key_path).is_ok());
    let err = ringws::tls::server_config(&key_path, &key_path).unwrap_err().to_string();
    assert!(err.contains("key.pem") && err.contains("no certificate"), "{err}");
    let err = ringws::tls::server_config(&cert_path, &dir.join("missing.pem")).unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_server_name_gets_its_certificate() {
    let (default, a, b) = (self_signed(), self_signed_for("a.test"), self_signed_for("b.test"));
    let certs = ringws::tls::Certificates::new(vec![default.der.clone()], default.key.clone_key())
        .unwrap()
        .with_name_der("a.test", vec![a.der.clone()], a.key.clone_key())
        .unwrap()
        .with_name_der("B.test", vec![b.der.clone()], b.key.clone_key())
        .unwrap();
    let config = certs.into_config().unwrap();
    let (server, _) = server_with(Limits::default(), move |app: App| app.tls(config));
    for (name, cert) in [("a.test", &a), ("b.test", &b), ("localhost", &default)] {
        let tls = tls_connect_to(&server, cert, name);
        let seen = tls.conn.peer_certificates().unwrap()[0].clone();
        assert_eq!(seen, cert.der, "{name}");
    }
    stop(server);
}

#[test]
fn plain_and_tls_on_two_addresses_of_one_server() {
    let cert = self_signed();
    let config = config(&cert);
    let tls_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (server, _) = server_with(Limits::default(), move |app: App| app.tls_on(tls_addr, config));
    let tls_addr = server.tls_addr().unwrap();
    assert_ne!(tls_addr, server.local_addr());
    // wss:// on its address.
    let stream = tls_connect_addr(tls_addr, &cert, "localhost");
    let url = format!("wss://localhost:{}/echo", tls_addr.port());
    let (mut secure, _) = tungstenite::client(url, stream).unwrap();
    echoes(&mut secure, tungstenite::Message::text("over TLS"));
    // ws:// on the main address, the same server.
    let mut plain = super::connect(&server);
    super::assert_echoes(&mut plain, "in the clear");
    // A TLS hello on the plain address is a bad request; plain HTTP on the TLS one is closed.
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(&[
        0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00, b'\r', b'\n', b'\r', b'\n',
    ])
    .unwrap();
    let (got, _) = read_until_closed(s);
    assert!(got.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&got));
    let mut s = TcpStream::connect(tls_addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let (got, _) = read_until_closed(s);
    assert!(!got.starts_with(b"HTTP"), "no answer in the clear on the TLS address");
    stop(server);
}
