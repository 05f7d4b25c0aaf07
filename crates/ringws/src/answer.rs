//! How an application answers an upgrade: [`Accept`] with the connection's data, or [`Reject`]
//! with an HTTP status; [`Answer`] carries a deferred one to the connection's worker.

use std::any::Any;

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

/// The answer to a deferred upgrade, carried to the connection's worker.
pub struct Answer(pub(crate) Result<Accept<Box<dyn Any + Send>>, Reject>);

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Ok(_) => f.write_str("Answer(accept)"),
            Err(r) => write!(f, "Answer(reject {})", r.status),
        }
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
