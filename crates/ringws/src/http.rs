//! Every plain HTTP answer the server writes, in one room: static routes (HEAD with the GET
//! answer's real Content-Length), 404, 405, 426, a malformed request, refused upgrades with the
//! application's status, headers and body, and the 101 that opens a WebSocket.

use ringws_proto::handshake::{self, AcceptKey, Request};
use ringws_uring::ConnId;

use crate::answer::{Reject, header_ok};
use crate::peer::Shown;
use crate::shared::StaticResponse;

/// The answer to a request that is not an upgrade: a static route, 405 for a method other than
/// GET and HEAD there, 426 on a WebSocket path (`speaks_websocket`), or 404.
pub(crate) fn plain(
    statics: &[(String, StaticResponse)],
    speaks_websocket: bool,
    request: &Request<'_>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let close = [("Connection", "close")];
    let text = "text/plain";
    match statics.iter().find(|(p, _)| p == request.path()) {
        Some(_) if !matches!(request.method(), "GET" | "HEAD") => {
            let headers = [("Allow", "GET, HEAD"), ("Connection", "close")];
            handshake::write_response(&mut out, 405, &headers, text, b"method not allowed\n");
        }
        Some((_, r)) => {
            handshake::write_response(&mut out, 200, &close, &r.content_type, &r.body);
        }
        None if speaks_websocket => {
            let headers = [("Upgrade", "websocket"), ("Connection", "close")];
            let body = b"this path speaks WebSocket\n";
            handshake::write_response(&mut out, 426, &headers, text, body);
        }
        None => handshake::write_response(&mut out, 404, &close, text, b"not found\n"),
    }
    if request.method() == "HEAD" {
        head_only(&mut out);
    }
    out
}

/// `/metrics`: the Prometheus text format (GET; HEAD gets the head).
pub(crate) fn metrics(request: &Request<'_>, text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let close = [("Connection", "close")];
    if !matches!(request.method(), "GET" | "HEAD") {
        let headers = [("Allow", "GET, HEAD"), ("Connection", "close")];
        handshake::write_response(&mut out, 405, &headers, "text/plain", b"method not allowed\n");
        return out;
    }
    let kind = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
    handshake::write_response(&mut out, 200, &close, kind, text.as_bytes());
    if request.method() == "HEAD" {
        head_only(&mut out);
    }
    out
}

/// Cuts an answer to its head (its Content-Length stays the GET answer's, RFC 9110 §9.3.2).
fn head_only(out: &mut Vec<u8>) {
    if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
        out.truncate(end + 4);
    }
}

/// The status page: plots drawn in the browser from `metrics_path` (`status.html`, no external
/// script or font), or 404 when the metrics are not served.
pub(crate) fn status(request: &Request<'_>, metrics_path: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    let close = [("Connection", "close"), ("Cache-Control", "no-store")];
    let Some(metrics) = metrics_path else {
        let body = b"the status page reads the metrics, which are not served\n";
        handshake::write_response(&mut out, 404, &close, "text/plain", body);
        return out;
    };
    // Inside a JavaScript string literal in the page.
    let escaped = metrics.replace('\\', "\\\\").replace('\'', "\\'").replace('<', "\\x3c");
    let page = STATUS_PAGE.replace("__METRICS_PATH__", &escaped);
    handshake::write_response(&mut out, 200, &close, "text/html; charset=utf-8", page.as_bytes());
    if request.method() == "HEAD" {
        head_only(&mut out);
    }
    out
}

const STATUS_PAGE: &str = include_str!("status.html");

/// The health check: 200 `ok`, or 503 `draining` (GET and HEAD).
pub(crate) fn health(request: &Request<'_>, draining: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let (status, body): (u16, &[u8]) = if draining { (503, b"draining\n") } else { (200, b"ok\n") };
    let headers = [("Connection", "close"), ("Cache-Control", "no-store")];
    handshake::write_response(&mut out, status, &headers, "text/plain", body);
    if request.method() == "HEAD" {
        head_only(&mut out);
    }
    out
}

/// 408: the request head did not arrive within the handshake timeout.
pub(crate) fn handshake_timeout() -> Vec<u8> {
    let mut out = Vec::new();
    let headers = [("Connection", "close")];
    handshake::write_response(&mut out, 408, &headers, "text/plain", b"handshake timeout\n");
    out
}

/// 503: a deferred upgrade the application did not answer within the handshake timeout.
pub(crate) fn not_answered_in_time() -> Vec<u8> {
    let mut out = Vec::new();
    let headers = [("Retry-After", "1"), ("Connection", "close")];
    let body = b"the upgrade was not answered in time\n";
    handshake::write_response(&mut out, 503, &headers, "text/plain", body);
    out
}

/// The status of an answer written here ("HTTP/1.1 404 ..."), for the metrics.
pub(crate) fn status_of(answer: &[u8]) -> u16 {
    let digits = answer.get(9..12).and_then(|d| std::str::from_utf8(d).ok());
    digits.and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// The answer to a request the handshake parser refused (400, 405, 426, 431, ...).
pub(crate) fn bad_request(error: &ringws_proto::Error) -> Vec<u8> {
    let mut out = Vec::new();
    handshake::write_reject(&mut out, error);
    out
}

/// The answer to a refused upgrade: its status, the application's headers, its body.
pub(crate) fn refusal(r: &Reject, peer: &Shown, id: ConnId) -> Vec<u8> {
    let mut headers = checked(&r.headers, peer, id);
    headers.push(("Connection", "close"));
    let mut out = Vec::new();
    let body = format!("{}\n", r.body);
    let kind = "text/plain; charset=utf-8";
    handshake::write_response(&mut out, r.status, &headers, kind, body.as_bytes());
    out
}

/// The 101 that accepts an upgrade, with the chosen subprotocol and the application's headers.
pub(crate) fn switching(
    key: &AcceptKey,
    protocol: Option<&str>,
    extensions: Option<&str>,
    headers: &[(String, String)],
    peer: &Shown,
    id: ConnId,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    handshake::write_accept(&mut out, key, protocol, extensions);
    // The application's headers go before the blank line that ends the head.
    out.truncate(out.len() - 2);
    for (name, value) in checked(headers, peer, id) {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The application's headers that may go on the wire; the others are logged and left out.
fn checked<'h>(
    headers: &'h [(String, String)],
    peer: &Shown,
    id: ConnId,
) -> Vec<(&'h str, &'h str)> {
    headers
        .iter()
        .filter(|(name, value)| {
            let ok = header_ok(name, value);
            if !ok {
                tracing::warn!(%peer, conn = %id, "header {name:?} left out: not a valid header");
            }
            ok
        })
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(method: &str, path: &str, speaks_websocket: bool) -> String {
        let statics = [(
            "/hello".to_owned(),
            StaticResponse { content_type: "text/plain".into(), body: Bytes::from("hi there\n") },
        )];
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let request = handshake::parse_request(head.as_bytes(), 8192).unwrap().unwrap();
        String::from_utf8(plain(&statics, speaks_websocket, &request)).unwrap()
    }

    #[test]
    fn static_routes_and_their_head() {
        let get = answer("GET", "/hello", false);
        assert!(get.starts_with("HTTP/1.1 200 ") && get.ends_with("\r\n\r\nhi there\n"), "{get}");
        let head = answer("HEAD", "/hello", false);
        assert!(head.contains("Content-Length: 9\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "no body after HEAD: {head}");
        let post = answer("POST", "/hello", false);
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"), "{post}");
    }

    #[test]
    fn the_status_page_reads_the_metrics_path_it_is_given() {
        let head = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
        let request = handshake::parse_request(head.as_bytes(), 8192).unwrap().unwrap();
        let page = String::from_utf8(status(&request, Some("/m'<x"))).unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("<canvas"), "{page}");
        assert!(page.contains("const METRICS = '/m\\'\\x3cx';"), "escaped into the script");
        assert!(!page.contains("__METRICS_PATH__"));
        assert!(!page.contains("http://") && !page.contains("https://"), "nothing external");
        let off = String::from_utf8(status(&request, None)).unwrap();
        assert!(off.starts_with("HTTP/1.1 404"), "{off}");
    }

    #[test]
    fn statuses_read_back() {
        assert_eq!(status_of(&handshake_timeout()), 408);
        assert_eq!(status_of(&not_answered_in_time()), 503);
        assert_eq!(status_of(b"HTTP/1.1"), 0);
    }

    #[test]
    fn unknown_and_websocket_paths() {
        assert!(answer("GET", "/nope", false).starts_with("HTTP/1.1 404 "));
        let ws = answer("GET", "/chat", true);
        assert!(ws.starts_with("HTTP/1.1 426 ") && ws.contains("Upgrade: websocket"), "{ws}");
    }

    #[test]
    fn a_refusal_carries_valid_headers_only() {
        let reject = Reject::new(401, "who are you")
            .with_header("WWW-Authenticate", "Bearer")
            .with_header("Bad\r\nName", "x");
        let out = String::from_utf8(refusal(&reject, &Shown(None), ConnId::from_u64(1))).unwrap();
        assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
        assert!(out.contains("WWW-Authenticate: Bearer\r\n") && out.contains("Connection: close"));
        assert!(!out.contains("Bad"), "{out}");
        assert!(out.ends_with("\r\n\r\nwho are you\n"), "{out}");
    }

    #[test]
    fn the_101_carries_the_applications_headers() {
        let key = handshake::AcceptKey::from_key(b"dGhlIHNhbXBsZSBub25jZQ==");
        let headers = [("Set-Cookie".to_owned(), "s=1".to_owned())];
        let out = switching(&key, Some("chat"), None, &headers, &Shown(None), ConnId::from_u64(1));
        let out = String::from_utf8(out).unwrap();
        assert!(out.starts_with("HTTP/1.1 101 "), "{out}");
        assert!(out.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{out}");
        assert!(out.contains("Sec-WebSocket-Protocol: chat\r\nSet-Cookie: s=1\r\n\r\n"), "{out}");
    }
}
