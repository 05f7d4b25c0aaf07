//! What an application implements: a handler per route, in the spirit of uWebSockets' behavior
//! struct (`open`, `message`, `drain`, `close`), with typed per-connection data.

use crate::answer::{Accept, Reject};
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

    /// The send queue emptied after a send reported [`crate::SendStatus::Backpressure`] (or was
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
