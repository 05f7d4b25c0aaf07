//! The TLS session against rustls' own client, in memory: the hand-over to the lean record layer,
//! data both ways under each TLS 1.3 AEAD, key updates from either side, any split of the bytes,
//! and what a broken record or a closing peer gets.

use super::{ReadOutcome, TlsSession};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, ClientConfig, ClientConnection, Error, SupportedCipherSuite};
use std::io::{Read, Write};
use std::sync::Arc;

struct Pair {
    server: TlsSession,
    client: ClientConnection,
    /// Plaintext the server read.
    got: Vec<u8>,
    /// Plaintext the client read.
    heard: Vec<u8>,
}

fn certificate() -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let key = PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("a key");
    (cert.cert.der().clone(), key)
}

/// A handshaken pair; the client offers `suite` only.
fn pair(suite: SupportedCipherSuite) -> Pair {
    let (cert, key) = certificate();
    let server = super::Certificates::new(vec![cert.clone()], key).expect("certificate");
    pair_with(server.into_config().expect("config"), cert, suite)
}

fn pair_with(
    server: Arc<rustls::ServerConfig>,
    cert: CertificateDer<'static>,
    suite: SupportedCipherSuite,
) -> Pair {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let provider = CryptoProvider { cipher_suites: vec![suite], ..aws_lc_rs::default_provider() };
    let client = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[suite.version()])
        .expect("version")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = "localhost".try_into().expect("name");
    let mut client = ClientConnection::new(Arc::new(client), name).expect("client");
    client.set_buffer_limit(None);
    let mut pair = Pair {
        server: TlsSession::new(server).expect("session"),
        client,
        got: vec![],
        heard: vec![],
    };
    for _ in 0..10 {
        pair.pump_to_server(usize::MAX).expect("handshake");
        if !pair.client.is_handshaking() {
            break;
        }
    }
    // The client's Finished (a real client sends its first request with it).
    pair.pump_to_server(usize::MAX).expect("handshake");
    assert!(!pair.client.is_handshaking());
    pair
}

impl Pair {
    /// What the client has to send goes to the server in pieces of `piece` bytes; what the
    /// server answers goes back to the client.
    fn pump_to_server(&mut self, piece: usize) -> Result<ReadOutcome, Error> {
        let mut wire = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut wire).expect("to a Vec");
        }
        let mut outcome = ReadOutcome::default();
        let mut answer = Vec::new();
        for chunk in wire.chunks_mut(piece.max(1)) {
            let read = self.server.read(chunk, &mut self.got, &mut answer);
            self.pump_to_client(&answer);
            answer.clear();
            outcome.peer_closed |= read?.peer_closed;
        }
        Ok(outcome)
    }

    fn pump_to_client(&mut self, mut records: &[u8]) {
        while !records.is_empty() {
            self.client.read_tls(&mut records).expect("from a slice");
            self.client.process_new_packets().expect("the server's records are good");
            match self.client.reader().read_to_end(&mut self.heard) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("the client reads: {e}"),
            }
        }
    }

    fn client_sends(&mut self, text: &[u8]) {
        self.client.writer().write_all(text).expect("to rustls");
        self.pump_to_server(usize::MAX).expect("the server reads");
    }

    fn server_sends(&mut self, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.server.seal(&[text], &mut out).expect("seals");
        self.pump_to_client(&out);
        std::mem::take(&mut self.heard)
    }

    fn lean(&mut self) -> &mut super::Lean {
        match &mut self.server {
            TlsSession::Lean(lean) => lean,
            other => panic!("not handed over: {other:?}"),
        }
    }
}

fn tls13_suites() -> [SupportedCipherSuite; 3] {
    use aws_lc_rs::cipher_suite::*;
    [TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256]
}

#[test]
fn tls13_is_handed_over_and_carries_data_both_ways_under_each_aead() {
    for suite in tls13_suites() {
        let mut pair = pair(suite);
        assert!(pair.server.is_lean(), "{suite:?}");
        pair.client_sends(b"GET /echo HTTP/1.1\r\n\r\n");
        assert_eq!(pair.got, b"GET /echo HTTP/1.1\r\n\r\n");
        // More than one record each way, and an empty send.
        let big: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        pair.got.clear();
        pair.client_sends(&big);
        assert_eq!(pair.got, big, "{suite:?}");
        assert_eq!(pair.server_sends(&big), big, "{suite:?}");
        assert_eq!(pair.server_sends(b""), b"");
        assert_eq!(pair.server_sends(b"hello"), b"hello");
    }
}

/// One send in several parts (a frame's header, its payload) is sealed as the run of its bytes,
/// records cut at 16 KiB wherever the parts meet, on either layer.
#[test]
fn a_send_in_parts_is_one_run_of_bytes() {
    let tls12 = aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    for suite in [tls13_suites()[0], tls12] {
        let mut pair = pair(suite);
        let text: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        for cuts in [[0, 0], [10, 16_384], [16_380, 16_390], [1, 39_999], [40_000, 40_000]] {
            let parts = [&text[..cuts[0]], &text[cuts[0]..cuts[1]], &[][..], &text[cuts[1]..]];
            let mut out = Vec::new();
            pair.server.seal(&parts, &mut out).expect("seals");
            pair.pump_to_client(&out);
            assert_eq!(std::mem::take(&mut pair.heard), text, "{suite:?} cut at {cuts:?}");
        }
    }
}

#[test]
fn tls12_stays_with_rustls_and_works() {
    let mut pair = pair(aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
    assert!(!pair.server.is_lean());
    pair.client_sends(b"ping");
    assert_eq!(pair.got, b"ping");
    assert_eq!(pair.server_sends(b"pong"), b"pong");
}

#[test]
fn any_split_of_the_bytes_reads_the_same() {
    for piece in [1, 2, 5, 6, 7, 100, 16_400] {
        let mut pair = pair(tls13_suites()[0]);
        pair.client.writer().write_all(&[7; 40_000]).expect("to rustls");
        pair.client.writer().write_all(b"end").expect("to rustls");
        pair.pump_to_server(piece).expect("reads");
        assert_eq!(pair.got.len(), 40_003, "piece {piece}");
        assert!(pair.got.ends_with(b"end"));
        assert!(pair.lean().partial_is_empty());
    }
}

#[test]
fn a_key_update_from_the_client_is_answered_and_both_keys_move_on() {
    for suite in tls13_suites() {
        let mut pair = pair(suite);
        for round in 0..3 {
            pair.client.refresh_traffic_keys().expect("the client asks");
            pair.got.clear();
            pair.client_sends(b"after");
            assert_eq!(pair.got, b"after", "{suite:?} round {round}");
            assert_eq!(pair.server_sends(b"answer"), b"answer");
            // Our KeyUpdate went under the old key; the answer is the new key's first record.
            assert_eq!(pair.lean().tx_seq(), 1, "{suite:?} round {round}");
        }
    }
}

#[test]
fn our_key_is_replaced_at_the_suites_limit() {
    let mut pair = pair(tls13_suites()[0]);
    // AES-128-GCM's limit is 2^24 records per key: here it is two records away.
    pair.lean().tx_limit_in(2);
    let text = vec![9; 40_000]; // three records: the last one under a new key
    assert_eq!(pair.server_sends(&text), text);
    assert_eq!(pair.lean().tx_seq(), 1);
    pair.client_sends(b"still here");
    assert_eq!(pair.got, b"still here");
}

#[test]
fn a_corrupted_record_fails_with_an_alert_and_nothing_more_is_read() {
    let mut pair = pair(tls13_suites()[2]);
    pair.client.writer().write_all(b"secret").expect("to rustls");
    let mut wire = Vec::new();
    pair.client.write_tls(&mut wire).expect("to a Vec");
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let mut alert = Vec::new();
    let read = pair.server.read(&mut wire, &mut pair.got, &mut alert);
    assert!(matches!(read, Err(Error::DecryptError)), "{read:?}");
    assert!(pair.got.is_empty());
    // The client hears bad_record_mac.
    let mut records = &alert[..];
    pair.client.read_tls(&mut records).expect("from a slice");
    let heard = pair.client.process_new_packets();
    assert!(
        matches!(heard, Err(Error::AlertReceived(AlertDescription::BadRecordMac))),
        "{heard:?}"
    );
    assert!(pair.server.read(&mut [23, 3, 3, 0, 0], &mut pair.got, &mut alert).is_ok());
    assert!(pair.server.seal(&[b"x"], &mut Vec::new()).is_err());
}

#[test]
fn records_a_client_may_not_send_are_refused_by_name() {
    // A plaintext record after the handshake, and one longer than TLS allows.
    for (record, alert) in [
        (vec![22, 3, 3, 0, 1, 0], AlertDescription::UnexpectedMessage),
        (vec![23, 3, 3, 0x41, 0x01], AlertDescription::RecordOverflow),
    ] {
        let mut pair = pair(tls13_suites()[1]);
        let (mut record, mut out) = (record, Vec::new());
        let read = pair.server.read(&mut record, &mut pair.got, &mut out);
        assert!(read.is_err(), "{read:?}");
        let mut records = &out[..];
        pair.client.read_tls(&mut records).expect("from a slice");
        let heard = pair.client.process_new_packets();
        assert!(matches!(heard, Err(Error::AlertReceived(a)) if a == alert), "{heard:?}");
    }
}

#[test]
fn close_notify_ends_the_reading() {
    let mut pair = pair(tls13_suites()[0]);
    pair.client.writer().write_all(b"last words").expect("to rustls");
    pair.client.send_close_notify();
    let outcome = pair.pump_to_server(usize::MAX).expect("reads");
    assert!(outcome.peer_closed);
    assert_eq!(pair.got, b"last words");
    // Our side may still send (the engine's close frame, say).
    assert_eq!(pair.server_sends(b"goodbye"), b"goodbye");
}

/// What a TLS connection keeps once the lean layer has it, before rustls' key schedule (about
/// 280 bytes) and the expanded keys (in the worker's cache); `docs/benchmarks.md` has the whole
/// cost measured per connection.
#[test]
fn the_session_size_is_known() {
    let (inline, lean) = (size_of::<TlsSession>(), size_of::<super::Lean>());
    println!("TlsSession: {inline} bytes inline; Lean: {lean} bytes (boxed)");
    assert_eq!(inline, 16);
    assert!(lean < 1024, "{lean}");
}

/// A HelloRetryRequest (the client's key share is for a group the server does not take): the
/// handshake spans another read, and the secrets heard on the second are the ones used.
#[test]
fn a_hello_retry_is_handed_over_too() {
    use aws_lc_rs::kx_group::{SECP384R1, X25519};
    let (cert, key) = certificate();
    let server_provider =
        CryptoProvider { kx_groups: vec![X25519], ..aws_lc_rs::default_provider() };
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(server_provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client_provider =
        CryptoProvider { kx_groups: vec![SECP384R1, X25519], ..aws_lc_rs::default_provider() };
    let client = ClientConfig::builder_with_provider(Arc::new(client_provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = ClientConnection::new(Arc::new(client), "localhost".try_into().expect("name"));
    let server = TlsSession::new(super::with_hand_over(Arc::new(server))).expect("session");
    let mut pair = Pair { server, client: client.expect("client"), got: vec![], heard: vec![] };
    let mut reads = 0;
    while !pair.server.is_lean() && reads < 10 {
        pair.pump_to_server(usize::MAX).expect("handshake");
        reads += 1;
    }
    assert!(pair.server.is_lean(), "after {reads} reads");
    assert_eq!(pair.client.negotiated_key_exchange_group().map(|g| g.name()), Some(X25519.name()));
    assert!(reads >= 3, "a retry takes a read more ({reads})");
    pair.client_sends(b"after a retry");
    assert_eq!(pair.got, b"after a retry");
    assert_eq!(pair.server_sends(b"fine"), b"fine");
}

/// The embedder's own `KeyLog` keeps hearing every secret while the engine takes the traffic
/// secrets it needs from the same hook.
#[test]
fn the_embedders_key_log_still_hears_everything() {
    #[derive(Debug, Default)]
    struct Labels(std::sync::Mutex<Vec<String>>);
    impl rustls::KeyLog for Labels {
        fn log(&self, label: &str, _client_random: &[u8], _secret: &[u8]) {
            self.0.lock().expect("not poisoned").push(label.to_owned());
        }
    }
    let (cert, key) = certificate();
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("certificate");
    let labels = Arc::new(Labels::default());
    config.key_log = labels.clone();
    let server = super::with_hand_over(Arc::new(config));
    let mut pair = pair_with(server, cert, tls13_suites()[0]);
    assert!(pair.server.is_lean());
    let heard = labels.0.lock().expect("not poisoned").clone();
    for label in [
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    ] {
        assert!(heard.iter().any(|l| l == label), "{label} not in {heard:?}");
    }
    pair.client_sends(b"still fine");
    assert_eq!(pair.got, b"still fine");
}

mod any_bytes {
    use super::*;
    use proptest::prelude::*;

    /// What a client would send for `text`, as bytes on the wire.
    fn wire_for(pair: &mut Pair, text: &[u8]) -> Vec<u8> {
        pair.client.writer().write_all(text).expect("to rustls");
        let mut wire = Vec::new();
        while pair.client.wants_write() {
            pair.client.write_tls(&mut wire).expect("to a Vec");
        }
        wire
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// One byte changed anywhere in a client's records: the read fails, and what was
        /// delivered before the change is a prefix of what was sent, never other bytes.
        #[test]
        fn a_changed_byte_is_refused_and_nothing_else_delivered(
            text in proptest::collection::vec(any::<u8>(), 1..40_000),
            at in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let mut pair = pair(tls13_suites()[0]);
            let mut wire = wire_for(&mut pair, &text);
            let at = at.index(wire.len());
            wire[at] ^= flip;
            let mut out = Vec::new();
            let mut failed = false;
            for piece in wire.chunks_mut(4096) {
                if pair.server.read(piece, &mut pair.got, &mut out).is_err() {
                    failed = true;
                    break;
                }
            }
            // A changed length can leave the last record waiting for bytes that never come.
            let waiting = match &pair.server {
                TlsSession::Lean(lean) => !lean.partial_is_empty(),
                _ => false,
            };
            prop_assert!(failed || waiting, "a changed byte at {at} went through");
            prop_assert!(text.starts_with(&pair.got));
            prop_assert!(pair.got.len() < text.len());
        }

        /// Any bytes at all after the handshake: an error or nothing, never a panic.
        #[test]
        fn any_bytes_after_the_handshake_never_panic(
            junk in proptest::collection::vec(any::<u8>(), 0..20_000),
        ) {
            let mut pair = pair(tls13_suites()[2]);
            let mut junk = junk;
            let mut out = Vec::new();
            let _ = pair.server.read(&mut junk, &mut pair.got, &mut out);
            prop_assert!(pair.got.is_empty(), "junk decrypted to {} bytes", pair.got.len());
        }
    }
}
