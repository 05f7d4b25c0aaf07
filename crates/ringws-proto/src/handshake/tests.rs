use super::*;
use crate::error::Error;

const VECTORS: [(&str, &str); 4] = [
    ("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ("x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="),
    ("Iv8io/9s+lYFgZWcXczP8Q==", "hsBlbuDTkk24srzEOTBUlZAlC2g="),
    ("sN9cRrP/n9NdMgdcy2VJFQ==", "fFBooB7FAkLlXgRSz0BT3v4hq5s="),
];

fn upgrade_request(extra: &str) -> String {
    format!(
        "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn parse(text: &str) -> Request<'_> {
    parse_request(text.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap().unwrap()
}

fn reject(text: &str) -> Error {
    parse(text).websocket().unwrap_err()
}

#[test]
fn accept_key_known_vectors() {
    for (key, accept) in VECTORS {
        assert_eq!(AcceptKey::from_key(key.as_bytes()).as_str(), accept);
    }
}

#[test]
fn rfc_example_request_is_accepted() {
    let text = upgrade_request("Sec-WebSocket-Protocol: chat, superchat\r\n");
    let req = parse(&text);
    assert_eq!(req.path(), "/chat");
    assert_eq!(req.query(), Some("room=1"));
    assert_eq!(req.host(), Some("server.example.com"));
    assert_eq!(req.origin(), Some("http://example.com"));
    assert_eq!(req.len(), text.len());
    let up = req.websocket().unwrap();
    assert_eq!(up.accept_key().as_str(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(up.protocols(), &["chat", "superchat"]);
    assert_eq!(up.choose_protocol(&["superchat", "chat"]), Some("superchat"));
    assert_eq!(up.choose_protocol(&["mqtt"]), None);

    let mut out = Vec::new();
    write_accept(&mut out, up.accept_key(), Some("chat"), None);
    assert_eq!(
        out,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    );
}

#[test]
fn every_split_point_parses_the_same() {
    let text = upgrade_request("");
    let bytes = text.as_bytes();
    for cut in 0..bytes.len() {
        assert!(parse_request(&bytes[..cut], DEFAULT_MAX_HEADER_BYTES).unwrap().is_none());
    }
    let req = parse_request(bytes, DEFAULT_MAX_HEADER_BYTES).unwrap().unwrap();
    assert!(req.websocket().is_ok());
}

#[test]
fn bytes_after_the_head_are_not_consumed() {
    let mut text = upgrade_request("");
    let head = text.len();
    text.push_str("\u{81}\u{0}");
    assert_eq!(parse(&text).len(), head);
}

#[test]
fn token_lists_are_case_insensitive() {
    let text =
        upgrade_request("").replace("Connection: Upgrade", "Connection: keep-alive, UPGRADE");
    let text = text.replace("Upgrade: websocket", "upgrade: WebSocket");
    assert!(parse(&text).websocket().is_ok());
}

#[test]
fn method_other_than_get_is_405() {
    let text = upgrade_request("").replacen("GET", "POST", 1);
    assert_eq!(reject(&text), Error::MethodNotAllowed);
    let mut out = Vec::new();
    write_reject(&mut out, &Error::MethodNotAllowed);
    assert!(out.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
    assert!(out.windows(12).any(|w| w == b"Allow: GET\r\n"));
}

#[test]
fn wrong_version_is_426_with_version_header() {
    let text = upgrade_request("").replace("Version: 13", "Version: 8");
    let err = reject(&text);
    assert_eq!(err, Error::UnsupportedVersion);
    let mut out = Vec::new();
    write_reject(&mut out, &err);
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{out}");
    assert!(out.contains("\r\nSec-WebSocket-Version: 13\r\n"));
}

#[test]
fn missing_or_bad_key_is_400() {
    let no_key = upgrade_request("").replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", "");
    assert_eq!(reject(&no_key), Error::MissingKey);
    for bad in ["dGhlIHNhbXBsZQ==", "not base64 at all!!!!!!!", "dGhlIHNhbXBsZSBub25jZQ", ""] {
        let text = upgrade_request("").replace("dGhlIHNhbXBsZSBub25jZQ==", bad);
        let err = reject(&text);
        assert_eq!(err.http_status(), Some(400), "{bad}: {err:?}");
    }
    let twice = upgrade_request("Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n");
    assert_eq!(reject(&twice).http_status(), Some(400));
}

#[test]
fn missing_upgrade_connection_host_or_version_is_400() {
    let base = upgrade_request("");
    for (from, to) in [
        ("Connection: Upgrade", "Connection: keep-alive"),
        ("Host: server.example.com\r\n", ""),
        ("Sec-WebSocket-Version: 13\r\n", ""),
        ("HTTP/1.1", "HTTP/1.0"),
    ] {
        let err = reject(&base.replace(from, to));
        assert_eq!(err.http_status(), Some(400), "{from}: {err:?}");
    }
}

#[test]
fn plain_request_is_not_an_upgrade() {
    let req = parse("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!req.is_upgrade());
    let req = parse("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    assert!(!req.is_upgrade());
}

#[test]
fn oversized_head_is_431_even_before_it_ends() {
    let long = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n", "a".repeat(9000));
    let err = parse_request(long.as_bytes(), DEFAULT_MAX_HEADER_BYTES).unwrap_err();
    assert_eq!(err, Error::HeadersTooLarge { limit: DEFAULT_MAX_HEADER_BYTES });
    assert_eq!(err.http_status(), Some(431));
    let complete = format!("{long}\r\n");
    assert_eq!(parse_request(complete.as_bytes(), 8192).unwrap_err().http_status(), Some(431));
    let many: String = (0..70).map(|i| format!("X-{i}: y\r\n")).collect();
    let text = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(parse_request(text.as_bytes(), 8192).unwrap_err().http_status(), Some(431));
}

#[test]
fn malformed_http_is_400() {
    for text in
        ["GET\x01 / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET http://x/ HTTP/1.1\r\n\r\n"]
    {
        let err = parse_request(text.as_bytes(), 8192).unwrap_err();
        assert_eq!(err.http_status(), Some(400), "{text:?}: {err:?}");
    }
}

#[test]
fn extension_offers_are_parsed() {
    let text = upgrade_request(
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, \
         permessage-deflate; server_max_window_bits=\"10\"\r\nSec-WebSocket-Extensions: x-foo\r\n",
    );
    let req = parse(&text);
    let up = req.websocket().unwrap();
    let ext = up.extensions();
    assert_eq!(ext.len(), 3);
    assert_eq!(ext[0].name, "permessage-deflate");
    assert_eq!(ext[0].params, vec![("client_max_window_bits", None)]);
    assert_eq!(ext[1].params, vec![("server_max_window_bits", Some("10"))]);
    assert_eq!(ext[2].name, "x-foo");
    let bad = upgrade_request("Sec-WebSocket-Extensions: ; =x\r\n");
    assert_eq!(reject(&bad).http_status(), Some(400));
}

#[test]
fn client_request_round_trips_through_the_server_side() {
    let protocols = ["v2.proto", "v1.proto"];
    let mut request = ClientRequest::new("127.0.0.1:9001", "/echo?x=1", [7; 16]);
    request.protocols = &protocols;
    request.origin = Some("http://localhost");
    let mut out = Vec::new();
    let expected = request.write(&mut out);

    let req = parse_request(&out, DEFAULT_MAX_HEADER_BYTES).unwrap().unwrap();
    assert_eq!(req.path(), "/echo");
    assert_eq!(req.origin(), Some("http://localhost"));
    let up = req.websocket().unwrap();
    assert_eq!(up.accept_key(), &expected);
    let chosen = up.choose_protocol(&["v1.proto"]);

    let mut answer = Vec::new();
    write_accept(&mut answer, up.accept_key(), chosen, None);
    answer.extend_from_slice(b"\x81\x00");
    for cut in 0..answer.len() - 2 {
        assert_eq!(parse_response(&answer[..cut], &request, &expected), Ok(None));
    }
    let resp = parse_response(&answer, &request, &expected).unwrap().unwrap();
    assert_eq!(resp.protocol, Some("v1.proto"));
    assert_eq!(resp.len, answer.len() - 2);
}

#[test]
fn client_rejects_bad_answers() {
    let request = ClientRequest::new("h", "/", [1; 16]);
    let expected = request.write(&mut Vec::new());
    let wrong = AcceptKey::from_key(b"x3JJHMbDL1EzLkh9GBhXDw==");
    let mut answer = Vec::new();
    write_accept(&mut answer, &wrong, None, None);
    assert_eq!(parse_response(&answer, &request, &expected), Err(Error::AcceptMismatch));

    let mut answer = Vec::new();
    write_accept(&mut answer, &expected, Some("chat"), None);
    assert_eq!(parse_response(&answer, &request, &expected), Err(Error::UnofferedProtocol));

    let mut answer = Vec::new();
    write_accept(&mut answer, &expected, None, Some("permessage-deflate"));
    assert_eq!(parse_response(&answer, &request, &expected), Err(Error::UnofferedExtension));

    let mut answer = Vec::new();
    write_reject(&mut answer, &Error::BadKey);
    assert_eq!(parse_response(&answer, &request, &expected), Err(Error::UpgradeRefused(400)));
}
