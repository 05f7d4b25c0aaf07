//! The server side: parse the upgrade request and decide whether to accept it (RFC 6455 §4.2.1).

use super::accept::AcceptKey;
use super::tokens::{ExtensionOffer, has_token, parse_extensions, tokens};
use crate::error::{Error, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The default limit on the request head: 8 KiB, like nginx's default header buffer. Browsers
/// send well under 2 KiB; raise it only for clients with very large cookies.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 8 * 1024;

/// The most header lines a request may carry; more is answered with 431.
pub const MAX_HEADERS: usize = 64;

/// An HTTP request head, borrowed from the receive buffer. Any request, upgrade or not: the
/// server answers plain HTTP on the same port.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    method: &'a str,
    path: &'a str,
    query: Option<&'a str>,
    minor_version: u8,
    headers: Vec<(&'a str, &'a [u8])>,
    len: usize,
}

/// Parses a request head from the start of `buf` (everything received so far).
///
/// Returns `Ok(None)` while the head is incomplete, and the request once it is; the request's
/// [`Request::len`] says where the head ended (bytes after it belong to the connection).
///
/// # Errors
/// Malformed HTTP: 400. A head over `max_header_bytes` (checked on partial input too) or with more
/// than [`MAX_HEADERS`] lines: 431.
pub fn parse_request(buf: &[u8], max_header_bytes: usize) -> Result<Option<Request<'_>>> {
    let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut raw);
    let too_large = Error::HeadersTooLarge { limit: max_header_bytes };
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_header_bytes => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(e) => return Err(Error::MalformedRequest(describe(e))),
    };
    if len > max_header_bytes {
        return Err(too_large);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(Error::MalformedRequest("incomplete request line"));
    };
    if !target.starts_with('/') {
        return Err(Error::MalformedRequest("request target must be a path"));
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let headers = req.headers.iter().map(|h| (h.name, h.value)).collect();
    Ok(Some(Request { method, path, query, minor_version, headers, len }))
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid token in request line",
        httparse::Error::Version => "invalid HTTP version",
        _ => "invalid request",
    }
}

impl<'a> Request<'a> {
    /// The method, e.g. `GET`.
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The path of the request target, without the query.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The length of the request head in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a parsed head has at least a request line.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the request is HTTP/1.1 (rather than 1.0).
    pub fn is_http11(&self) -> bool {
        self.minor_version == 1
    }

    /// All header lines, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers.iter().copied()
    }

    /// The values of every header line named `name` (case-insensitive).
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The first header named `name`, as text if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&'a str> {
        self.header("host")
    }

    /// The `Origin` header (sent by browsers; the basis of an Origin policy).
    pub fn origin(&self) -> Option<&'a str> {
        self.header("origin")
    }

    /// Whether the client asks to switch to WebSocket (`Upgrade: websocket`). Anything else is
    /// a plain HTTP request.
    pub fn is_upgrade(&self) -> bool {
        self.header_values("upgrade").any(|v| has_token(v, "websocket"))
    }

    /// Validates the request as a WebSocket upgrade.
    ///
    /// # Errors
    /// Not GET: 405. Not HTTP/1.1, no Host, no `Upgrade: websocket` or `Connection: upgrade`
    /// token, no or bad `Sec-WebSocket-Key` (not 16 bytes in base64), no version: 400. A version
    /// other than 13: 426. A malformed extensions header: 400.
    pub fn websocket(&self) -> Result<Upgrade<'a>> {
        if self.method != "GET" {
            return Err(Error::MethodNotAllowed);
        }
        if !self.is_http11() {
            return Err(Error::HttpVersion);
        }
        if self.host().is_none() {
            return Err(Error::MissingHost);
        }
        if !self.is_upgrade() {
            return Err(Error::NotUpgrade("no Upgrade: websocket"));
        }
        if !self.header_values("connection").any(|v| has_token(v, "upgrade")) {
            return Err(Error::NotUpgrade("no Connection: Upgrade"));
        }
        match self.header("sec-websocket-version").map(str::trim) {
            None => return Err(Error::MissingVersion),
            Some("13") => {}
            Some(_) => return Err(Error::UnsupportedVersion),
        }
        let mut keys = self.header_values("sec-websocket-key");
        let key = keys.next().ok_or(Error::MissingKey)?.trim_ascii();
        if keys.next().is_some() {
            return Err(Error::MalformedRequest("more than one Sec-WebSocket-Key"));
        }
        validate_key(key)?;
        let mut protocols = Vec::new();
        for value in self.header_values("sec-websocket-protocol") {
            for token in tokens(value) {
                let token = std::str::from_utf8(token)
                    .map_err(|_| Error::MalformedRequest("Sec-WebSocket-Protocol"))?;
                protocols.push(token);
            }
        }
        let mut extensions = Vec::new();
        for value in self.header_values("sec-websocket-extensions") {
            let value = std::str::from_utf8(value)
                .map_err(|_| Error::MalformedRequest("Sec-WebSocket-Extensions"))?;
            extensions.extend(parse_extensions(value)?);
        }
        Ok(Upgrade { accept: AcceptKey::from_key(key), protocols, extensions })
    }
}

/// Checks a `Sec-WebSocket-Key`: base64 of exactly 16 bytes (RFC 6455 §4.1, item 7).
///
/// # Errors
/// [`Error::BadKey`] otherwise.
pub fn validate_key(key: &[u8]) -> Result<()> {
    let mut nonce = [0u8; 18];
    match STANDARD.decode_slice(key, &mut nonce) {
        Ok(16) if key.len() == 24 => Ok(()),
        _ => Err(Error::BadKey),
    }
}

/// A validated upgrade request: what the server needs to answer it.
#[derive(Debug, Clone)]
pub struct Upgrade<'a> {
    accept: AcceptKey,
    protocols: Vec<&'a str>,
    extensions: Vec<ExtensionOffer<'a>>,
}

impl<'a> Upgrade<'a> {
    /// The `Sec-WebSocket-Accept` value for the answer.
    pub fn accept_key(&self) -> &AcceptKey {
        &self.accept
    }

    /// The subprotocols the client offered, in its order.
    pub fn protocols(&self) -> &[&'a str] {
        &self.protocols
    }

    /// The extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> &[ExtensionOffer<'a>] {
        &self.extensions
    }

    /// The server's first preference that the client offered, or `None` (then the answer
    /// carries no `Sec-WebSocket-Protocol` and the client decides whether to go on).
    pub fn choose_protocol<'p>(&self, server_preference: &[&'p str]) -> Option<&'p str> {
        server_preference.iter().copied().find(|p| self.protocols.contains(p))
    }
}
