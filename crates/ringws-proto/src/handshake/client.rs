//! The client side: build the upgrade request and check the server's answer (RFC 6455 §4.1).

use super::accept::AcceptKey;
use super::tokens::{has_token, parse_extensions};
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// An upgrade request to send.
#[derive(Debug, Clone, Copy)]
pub struct ClientRequest<'a> {
    /// The `Host` header (`host:port`).
    pub host: &'a str,
    /// The request target: path and query.
    pub target: &'a str,
    /// The 16 random bytes of `Sec-WebSocket-Key`; the caller draws them, keeping this crate free
    /// of randomness and I/O.
    pub nonce: [u8; 16],
    /// The `Origin` header, if any.
    pub origin: Option<&'a str>,
    /// Subprotocols to offer, in order of preference.
    pub protocols: &'a [&'a str],
    /// A `Sec-WebSocket-Extensions` value to offer.
    pub extensions: Option<&'a str>,
}

impl<'a> ClientRequest<'a> {
    /// A request for `target` on `host` with no subprotocols or extensions.
    pub fn new(host: &'a str, target: &'a str, nonce: [u8; 16]) -> Self {
        Self { host, target, nonce, origin: None, protocols: &[], extensions: None }
    }

    /// Appends the request to `out` and returns the accept value the server must answer with.
    pub fn write(&self, out: &mut Vec<u8>) -> AcceptKey {
        let mut key = [0u8; 24];
        // 16 bytes always encode to exactly 24 base64 characters.
        let _ = STANDARD.encode_slice(self.nonce, &mut key);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(self.target.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(self.host.as_bytes());
        out.extend_from_slice(
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: ",
        );
        out.extend_from_slice(&key);
        out.extend_from_slice(b"\r\n");
        if let Some(origin) = self.origin {
            out.extend_from_slice(b"Origin: ");
            out.extend_from_slice(origin.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !self.protocols.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(self.protocols.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(extensions) = self.extensions {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
            out.extend_from_slice(extensions.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        AcceptKey::from_key(&key)
    }
}

/// The server's accepted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse<'a> {
    /// The subprotocol the server chose, if any.
    pub protocol: Option<&'a str>,
    /// The extensions the server accepted (raw header value), if any.
    pub extensions: Option<&'a str>,
    /// The length of the response head; bytes after it are WebSocket frames.
    pub len: usize,
}

/// Parses and checks the server's answer to `request` from the start of `buf`: `Ok(None)` while
/// it is incomplete.
///
/// # Errors
/// Malformed HTTP; a status other than 101; a missing `Upgrade`/`Connection` token; an accept
/// value that does not match; a subprotocol or extension that was not offered.
pub fn parse_response<'a>(
    buf: &'a [u8],
    request: &ClientRequest<'_>,
    expected: &AcceptKey,
) -> Result<Option<ClientResponse<'a>>> {
    let mut raw = [httparse::EMPTY_HEADER; super::MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut raw);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(Error::MalformedResponse("invalid HTTP")),
    };
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(Error::UpgradeRefused(code));
    }
    let header = |name: &str| resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name));
    let header_str = |name: &str| header(name).and_then(|h| std::str::from_utf8(h.value).ok());
    if !header("upgrade").is_some_and(|h| has_token(h.value, "websocket")) {
        return Err(Error::MalformedResponse("no Upgrade: websocket"));
    }
    if !header("connection").is_some_and(|h| has_token(h.value, "upgrade")) {
        return Err(Error::MalformedResponse("no Connection: Upgrade"));
    }
    if header("sec-websocket-accept").map(|h| h.value.trim_ascii()) != Some(expected.as_bytes()) {
        return Err(Error::AcceptMismatch);
    }
    let protocol = header_str("sec-websocket-protocol").map(str::trim);
    if protocol.is_some_and(|p| !request.protocols.contains(&p)) {
        return Err(Error::UnofferedProtocol);
    }
    let extensions = header_str("sec-websocket-extensions").map(str::trim);
    if let Some(accepted) = extensions {
        let offered = request.extensions.map(parse_extensions).transpose()?.unwrap_or_default();
        let accepted =
            parse_extensions(accepted).map_err(|_| Error::MalformedResponse("extensions"))?;
        if accepted.iter().any(|a| !offered.iter().any(|o| o.name == a.name)) {
            return Err(Error::UnofferedExtension);
        }
    }
    Ok(Some(ClientResponse { protocol, extensions, len }))
}
