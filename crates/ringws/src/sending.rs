//! What the send API takes and returns: the kind of a message, what a send did, and the close
//! codes an application may not send.

use ringws_proto::CloseCode;

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

/// Whether a data message may go out compressed (permessage-deflate), chosen per send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    /// As the route's [`crate::Compression`] says: compressed when the connection negotiated
    /// permessage-deflate and the message is at least 64 bytes (in shared mode, also only if
    /// compressing shrinks it). What `send_text`, `send_binary` and `publish` do.
    #[default]
    Auto,
    /// Plain, whatever was negotiated: payloads that are compressed already (images, archives)
    /// or where the CPU matters more than the bytes.
    Never,
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
