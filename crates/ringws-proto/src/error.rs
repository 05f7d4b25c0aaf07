//! The one error type of the protocol core, and what each error puts on the wire.
//!
//! Handshake errors become an HTTP status (the connection is not a WebSocket yet); frame and
//! message errors become a close code (RFC 6455 §7.4.1). [`Error::answer`] is the only place that
//! mapping lives.

use crate::close::CloseCode;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while speaking RFC 6455 to a peer.
///
/// Every variant is the peer's fault (or a limit this side set); none of them is a bug here. The
/// caller answers with [`Error::answer`] and then drops the connection; the display text names
/// the problem and is meant for logs and HTTP bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- Server side of the opening handshake (RFC 6455 §4.2.1) ----
    /// The request is not valid HTTP/1.1, or a header the handshake needs is malformed.
    #[error("malformed HTTP request: {0}")]
    MalformedRequest(&'static str),
    /// The upgrade request used a method other than GET.
    #[error("a WebSocket upgrade must use GET")]
    MethodNotAllowed,
    /// The upgrade request is not HTTP/1.1 or later.
    #[error("a WebSocket upgrade needs HTTP/1.1 or later")]
    HttpVersion,
    /// The request carries no `Host` header.
    #[error("missing Host header")]
    MissingHost,
    /// `Upgrade: websocket` or `Connection: Upgrade` is missing.
    #[error("not a WebSocket upgrade: {0}")]
    NotUpgrade(&'static str),
    /// No `Sec-WebSocket-Version` header.
    #[error("missing Sec-WebSocket-Version header")]
    MissingVersion,
    /// `Sec-WebSocket-Version` is not 13; the answer tells the client which version we speak.
    #[error("unsupported Sec-WebSocket-Version; this server speaks 13")]
    UnsupportedVersion,
    /// No `Sec-WebSocket-Key` header.
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    /// `Sec-WebSocket-Key` does not decode (base64) to 16 bytes.
    #[error("Sec-WebSocket-Key must be 16 bytes in base64")]
    BadKey,
    /// The request head grew past the configured limit before it ended.
    #[error("request headers exceed the limit of {limit} bytes")]
    HeadersTooLarge {
        /// The limit in bytes.
        limit: usize,
    },

    // ---- Client side of the opening handshake (RFC 6455 §4.1) ----
    /// The server's response is not valid HTTP/1.1.
    #[error("malformed HTTP response: {0}")]
    MalformedResponse(&'static str),
    /// The server answered with a status other than 101.
    #[error("the server refused the upgrade with status {0}")]
    UpgradeRefused(u16),
    /// `Sec-WebSocket-Accept` is missing or does not match the key we sent.
    #[error("Sec-WebSocket-Accept does not match the key sent")]
    AcceptMismatch,
    /// The server selected a subprotocol the client did not offer.
    #[error("the server selected a subprotocol that was not offered")]
    UnofferedProtocol,
    /// The server selected an extension the client did not offer.
    #[error("the server selected an extension that was not offered")]
    UnofferedExtension,

    // ---- Frames (RFC 6455 §5) ----
    /// A client sent an unmasked frame (§5.1).
    #[error("frame from a client is not masked")]
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    #[error("frame from a server is masked")]
    MaskedFrame,
    /// A compressed message that is not a valid deflate stream (RFC 7692 §7.2.2).
    #[error("a compressed message that does not inflate")]
    InvalidCompressedData,
    /// An RSV bit is set that no negotiated extension defines (§5.2).
    #[error("reserved bits set without a negotiated extension")]
    ReservedBits,
    /// The opcode is one of the reserved values (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame carries more than 125 bytes (§5.5).
    #[error("control frame of {0} bytes; the limit is 125")]
    ControlFrameTooLong(u64),
    /// A control frame has FIN clear (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A 64-bit payload length has its most significant bit set (§5.2).
    #[error("64-bit payload length with the top bit set")]
    LengthOverflow,
    /// A frame's declared length is over the configured maximum.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A message would grow over the configured maximum.
    #[error("message of at least {len} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// The length the message would reach with the frame just announced.
        len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A text message or close reason is not valid UTF-8 (§8.1).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A continuation frame arrived with no fragmented message open (§5.4).
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A text or binary frame arrived while a fragmented message was open (§5.4).
    #[error("new data frame inside a fragmented message")]
    ExpectedContinuation,

    // ---- Close frames (RFC 6455 §5.5.1, §7.4) ----
    /// A close payload of exactly one byte (a code needs two).
    #[error("close frame payload of one byte")]
    CloseTooShort,
    /// A close code that may not appear on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A close reason that is not valid UTF-8.
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
}

/// What to put on the wire after an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Still in the handshake: reply with this HTTP status, then close.
    Http(u16),
    /// A WebSocket connection: send a close frame with this code, then close.
    Close(CloseCode),
    /// Nothing to say (we are the client and the server misbehaved): close the transport.
    Drop,
}

impl Error {
    /// The one mapping from error to wire answer.
    pub fn answer(&self) -> Answer {
        use Error::*;
        match self {
            MalformedRequest(_) | HttpVersion | MissingHost | NotUpgrade(_) | MissingVersion
            | MissingKey | BadKey => Answer::Http(400),
            MethodNotAllowed => Answer::Http(405),
            UnsupportedVersion => Answer::Http(426),
            HeadersTooLarge { .. } => Answer::Http(431),
            MalformedResponse(_) | UpgradeRefused(_) | AcceptMismatch | UnofferedProtocol
            | UnofferedExtension => Answer::Drop,
            UnmaskedFrame
            | MaskedFrame
            | ReservedBits
            | ReservedOpcode(_)
            | ControlFrameTooLong(_)
            | FragmentedControlFrame
            | LengthOverflow
            | UnexpectedContinuation
            | ExpectedContinuation
            | CloseTooShort
            | InvalidCloseCode(_) => Answer::Close(CloseCode::PROTOCOL_ERROR),
            FrameTooLarge { .. } | MessageTooLarge { .. } => Answer::Close(CloseCode::TOO_BIG),
            InvalidUtf8 | InvalidCloseReason | InvalidCompressedData => {
                Answer::Close(CloseCode::INVALID_PAYLOAD)
            }
        }
    }

    /// The close code to send, if this error happens on an open WebSocket connection.
    pub fn close_code(&self) -> Option<CloseCode> {
        match self.answer() {
            Answer::Close(code) => Some(code),
            _ => None,
        }
    }

    /// The HTTP status to answer, if this error happens during the handshake.
    pub fn http_status(&self) -> Option<u16> {
        match self.answer() {
            Answer::Http(status) => Some(status),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_map_to_the_issue_statuses() {
        assert_eq!(Error::MalformedRequest("x").http_status(), Some(400));
        assert_eq!(Error::BadKey.http_status(), Some(400));
        assert_eq!(Error::MethodNotAllowed.http_status(), Some(405));
        assert_eq!(Error::UnsupportedVersion.http_status(), Some(426));
        assert_eq!(Error::HeadersTooLarge { limit: 8192 }.http_status(), Some(431));
        assert_eq!(Error::BadKey.close_code(), None);
    }

    #[test]
    fn frame_errors_map_to_close_codes() {
        assert_eq!(Error::UnmaskedFrame.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        assert_eq!(Error::LengthOverflow.close_code(), Some(CloseCode::PROTOCOL_ERROR));
        let too_big = Error::FrameTooLarge { len: 2, limit: 1 };
        assert_eq!(too_big.close_code(), Some(CloseCode::TOO_BIG));
        assert_eq!(Error::InvalidUtf8.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        assert_eq!(Error::InvalidCloseReason.close_code(), Some(CloseCode::INVALID_PAYLOAD));
        assert_eq!(Error::AcceptMismatch.answer(), Answer::Drop);
    }
}
