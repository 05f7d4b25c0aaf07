//! What an application implements: a handler per route, in the spirit of uWebSockets' behavior
//! struct (`open`, `message`, `drain`, `close`), with typed per-connection data.

use ringws_proto::CloseCode;

use crate::later::Later;
use crate::websocket::{Closed, WebSocket};

/// A data message, borrowed: from the receive buffer when it arrived in one frame (no copy), or
/// from the connection's reassembly buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Text, validated UTF-8.
    Text(&'a str),
    /// Binary.
    Binary(&'a [u8]),
}

/// The kind of a message the application sends: text or binary. The send API offers no raw
/// opcodes (a close, ping or pong goes through [`crate::WebSocket::close`] and [`crate::WebSocket::ping`],
/// which keep the protocol's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A text message: the payload must be UTF-8.
    Text,
    /// A binary message.
    Binary,
}

impl Kind {
    pub(crate) fn opcode(self) -> ringws_proto::OpCode {
        match self {
            Self::Text => ringws_proto::OpCode::Text,
            Self::Binary => ringws_proto::OpCode::Binary,
        }
    }
}

/// A close code the application may not send: 1005, 1006 and 1015 are for reporting only, and
/// codes outside 1000-1003, 1007-1014 and 3000-4999 are reserved or unassigned (RFC 6455 §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidCloseCode(pub CloseCode);

impl std::fmt::Display for InvalidCloseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "close code {} may not be sent (1000-1003, 1007-1014 and 3000-4999 may)", self.0)
    }
}

impl std::error::Error for InvalidCloseCode {}

/// Checks a close code the application wants to send.
pub(crate) fn sendable(code: CloseCode) -> Result<CloseCode, InvalidCloseCode> {
    if code.is_valid_on_wire() { Ok(code) } else { Err(InvalidCloseCode(code)) }
}

/// What a send did. Never ignore it on a fan-out path: it is the backpressure signal.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Queued, and the connection's buffered amount is within `max_backpressure`.
    Sent,
    /// Queued, but the buffered amount is now over `max_backpressure`; wait for `on_drain`.
    Backpressure,
    /// Not queued: the connection is closing or gone, or was already over `max_backpressure`.
    Dropped,
}

/// The answer to an upgrade request: accept, with the connection's data and an optional
/// subprotocol.
#[derive(Debug)]
pub struct Accept<D> {
    /// The connection's typed data, handed to every callback.
    pub data: D,
    /// The chosen subprotocol (one the client offered), or `None`.
    pub protocol: Option<String>,
    /// Extra headers on the 101 (a `Set-Cookie`, say); see [`Accept::with_header`].
    pub headers: Vec<(String, String)>,
}

impl<D> Accept<D> {
    /// Accepts with `data` and no subprotocol.
    pub fn new(data: D) -> Self {
        Self { data, protocol: None, headers: Vec::new() }
    }

    /// Adds a header to the 101. A name that is not an HTTP token, or a value with a control
    /// character (a CR or LF would split the response), is left out and logged.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the subprotocol to answer with.
    pub fn with_protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }
}

/// Refuses an upgrade with an HTTP status and a short body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// The HTTP status, e.g. 401 or 403.
    pub status: u16,
    /// The body, for humans.
    pub body: String,
    /// Extra headers (`WWW-Authenticate` with 401, `Retry-After` with 503); see
    /// [`Reject::with_header`].
    pub headers: Vec<(String, String)>,
}

impl Reject {
    /// A refusal with `status` and `body`.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self { status, body: body.into(), headers: Vec::new() }
    }

    /// Adds a header to the refusal; checked as [`Accept::with_header`].
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// The upgrade request as the handler sees it.
#[derive(Debug)]
pub struct UpgradeRequest<'a> {
    pub(crate) request: &'a ringws_proto::handshake::Request<'a>,
    pub(crate) upgrade: &'a ringws_proto::handshake::Upgrade<'a>,
    pub(crate) params: &'a matchit::Params<'a, 'a>,
    pub(crate) peer: Option<std::net::SocketAddr>,
}

impl<'a> UpgradeRequest<'a> {
    /// The path, without the query.
    pub fn path(&self) -> &'a str {
        self.request.path()
    }

    /// The query string, if any, as sent (still percent-encoded).
    pub fn query(&self) -> Option<&'a str> {
        self.request.query()
    }

    /// The peer's address as the kernel saw it (behind a proxy, the proxy's). `None` only when
    /// the driver does not read peer addresses (`Config::peer_addresses` off).
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        self.peer
    }

    /// The path parameter `name` of the route's pattern (`id` in `/room/{id}`), as it appears
    /// in the path.
    pub fn param(&self, name: &str) -> Option<&'a str> {
        self.params.get(name)
    }

    /// Every path parameter, in the pattern's order.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.params.iter()
    }

    /// The first query parameter `name`, decoded (`%XX` and `+` as in a form). `Some("")` for
    /// `?name` or `?name=`; `None` if it is absent.
    pub fn query_param(&self, name: &str) -> Option<std::borrow::Cow<'a, str>> {
        let query = self.request.query()?;
        form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The first header named `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.request.header(name)
    }

    /// The `Origin` header.
    pub fn origin(&self) -> Option<&'a str> {
        self.request.origin()
    }

    /// The subprotocols the client offered, in its order.
    pub fn protocols(&self) -> &[&'a str] {
        self.upgrade.protocols()
    }

    /// The server's first preference among the client's offers.
    pub fn choose_protocol<'p>(&self, server_preference: &[&'p str]) -> Option<&'p str> {
        self.upgrade.choose_protocol(server_preference)
    }
}

/// The callbacks of one route. One instance per worker thread (made by the route's factory), so
/// it may keep non-`Send` state; every method but `on_upgrade` has a default that does nothing.
pub trait Handler: 'static {
    /// Per-connection data, created by `on_upgrade`.
    type Data: 'static;

    /// Decides on an upgrade: accept with data (and maybe a subprotocol) or reject with a status.
    ///
    /// # Errors
    /// A [`Reject`] is answered as an HTTP response and the connection closed.
    /// The default refuses with 500: implement this or [`Handler::on_upgrade_later`].
    fn on_upgrade(&mut self, request: &UpgradeRequest<'_>) -> Result<Accept<Self::Data>, Reject> {
        let _ = request;
        Err(Reject::new(500, "this route answers no upgrade (no on_upgrade)"))
    }

    /// Decides on an upgrade now (`Some`), or later (`None`, keeping `later` and answering
    /// through it from any thread: a tokio task that checks a token, say; see [`Later`]). The
    /// default answers now with [`Handler::on_upgrade`]. Meanwhile the connection waits in its
    /// handshake; without an answer within the handshake timeout it gets 503.
    fn on_upgrade_later(
        &mut self,
        request: &UpgradeRequest<'_>,
        later: Later<Self::Data>,
    ) -> Option<Result<Accept<Self::Data>, Reject>> {
        let _ = later;
        Some(self.on_upgrade(request))
    }

    /// The connection is open.
    fn on_open(&mut self, ws: &mut WebSocket<'_, Self::Data>) {
        let _ = ws;
    }

    /// A message arrived. The payload is borrowed: copy what must outlive the call.
    fn on_message(&mut self, ws: &mut WebSocket<'_, Self::Data>, message: Message<'_>) {
        let _ = (ws, message);
    }

    /// A ping arrived (the pong has already been queued).
    fn on_ping(&mut self, ws: &mut WebSocket<'_, Self::Data>, payload: &[u8]) {
        let _ = (ws, payload);
    }

    /// A pong arrived.
    fn on_pong(&mut self, ws: &mut WebSocket<'_, Self::Data>, payload: &[u8]) {
        let _ = (ws, payload);
    }

    /// The send queue emptied after a send reported [`SendStatus::Backpressure`] (or was
    /// dropped over the limit): the connection can take more. Not called after sends that
    /// stayed within the limit.
    fn on_drain(&mut self, ws: &mut WebSocket<'_, Self::Data>) {
        let _ = ws;
    }

    /// A publish to this subscriber was dropped because its queue was over `max_backpressure`
    /// (with [`crate::SlowConsumer::Drop`]). `bytes` is the dropped frame's size.
    fn on_dropped(&mut self, ws: &mut WebSocket<'_, Self::Data>, bytes: usize) {
        let _ = (ws, bytes);
    }

    /// The connection is closed: [`Closed`] has its id, code and reason, its data, and can
    /// publish (a "player left" to the room).
    fn on_close(&mut self, closed: Closed<'_, Self::Data>) {
        let _ = closed;
    }
}

/// Whether an application's header may go on the wire: the name an HTTP token (RFC 9110 §5.1),
/// the value free of control characters but tab (no CR or LF to split the response).
pub(crate) fn header_ok(name: &str, value: &str) -> bool {
    let token = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    !name.is_empty()
        && name.bytes().all(token)
        && value.bytes().all(|c| c == b'\t' || (c >= 0x20 && c != 0x7f))
}
