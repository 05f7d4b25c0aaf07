//! HTTP answers: the 101 that accepts an upgrade, the refusals, and plain responses.

use super::accept::AcceptKey;
use crate::error::Error;

/// Writes the `101 Switching Protocols` answer into `out`.
///
/// `protocol` is the chosen subprotocol, `extensions` the negotiated
/// `Sec-WebSocket-Extensions` value; each header is left out when `None`.
pub fn write_accept(
    out: &mut Vec<u8>,
    accept: &AcceptKey,
    protocol: Option<&str>,
    extensions: Option<&str>,
) {
    out.extend_from_slice(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: ",
    );
    out.extend_from_slice(accept.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(protocol) = protocol {
        push_header(out, "Sec-WebSocket-Protocol", protocol);
    }
    if let Some(extensions) = extensions {
        push_header(out, "Sec-WebSocket-Extensions", extensions);
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes the HTTP refusal for a handshake error: its status, the headers that status needs
/// (`Sec-WebSocket-Version: 13` with 426, `Allow: GET` with 405), and the error's text as the
/// body. The connection is to be closed after it.
pub fn write_reject(out: &mut Vec<u8>, error: &Error) {
    let status = error.http_status().unwrap_or(400);
    let extra: &[(&str, &str)] = match status {
        426 => &[("Sec-WebSocket-Version", "13"), ("Connection", "close")],
        405 => &[("Allow", "GET"), ("Connection", "close")],
        _ => &[("Connection", "close")],
    };
    let body = format!("{error}\n");
    write_response(out, status, extra, "text/plain; charset=utf-8", body.as_bytes());
}

/// Writes a complete HTTP/1.1 response with a `Content-Length` body.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        push_header(out, name, value);
    }
    push_header(out, "Content-Type", content_type);
    push_header(out, "Content-Length", &body.len().to_string());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The standard reason phrase for the statuses a WebSocket server sends.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
