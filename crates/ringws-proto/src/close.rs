//! Close frames: codes, payload parsing and validation, and the closing handshake (RFC 6455 §7).

use crate::error::{Error, Result};
use std::fmt;

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection is fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigated away).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: no code was present. Never sent on the wire.
    pub const NO_STATUS: Self = Self(1005);
    /// 1006: the connection dropped without a close frame. Never sent on the wire.
    pub const ABNORMAL: Self = Self(1006);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a policy violation.
    pub const POLICY: Self = Self(1008);
    /// 1009: a message too big to process.
    pub const TOO_BIG: Self = Self(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry); used for overload.
    pub const TRY_AGAIN_LATER: Self = Self(1013);

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// 1000-1003 and 1007-1014 are defined (RFC 6455 and the IANA registry); 3000-4999 belong to
    /// libraries and applications. 1004 is reserved, 1005/1006/1015 are for local reporting only,
    /// and everything below 1000 or in 1016-2999 is unassigned (Autobahn 7.7 and 7.9).
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The largest reason that fits in a control frame: 125 bytes less the 2-byte code.
pub const MAX_REASON_LEN: usize = 123;

/// A parsed and validated close payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code.
    pub code: CloseCode,
    /// The reason, possibly empty.
    pub reason: &'a str,
}

impl<'a> CloseFrame<'a> {
    /// Parses a close payload. `Ok(None)` for an empty payload (no status code, which the
    /// receiver reports as 1005).
    ///
    /// # Errors
    /// A one-byte payload or a code not valid on the wire: 1002. A reason that is not UTF-8:
    /// 1007.
    pub fn parse(payload: &'a [u8]) -> Result<Option<Self>> {
        match payload {
            [] => Ok(None),
            [_] => Err(Error::CloseTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(Error::InvalidCloseCode(code.0));
                }
                let reason =
                    simdutf8::basic::from_utf8(reason).map_err(|_| Error::InvalidCloseReason)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// Writes the close payload (code, then the reason cut to [`MAX_REASON_LEN`] bytes at a
    /// character boundary) into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8; 125]) -> usize {
        out[..2].copy_from_slice(&self.code.0.to_be_bytes());
        let mut end = self.reason.len().min(MAX_REASON_LEN);
        while !self.reason.is_char_boundary(end) {
            end -= 1;
        }
        out[2..2 + end].copy_from_slice(&self.reason.as_bytes()[..end]);
        2 + end
    }
}

/// Where the closing handshake stands (names after the RFC and tungstenite).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseState {
    /// Data flows both ways.
    Open,
    /// We sent a close frame and wait for the peer's; we send no more data.
    ClosedByUs,
    /// The peer sent a close frame; we owe it ours.
    ClosedByPeer,
    /// Both close frames have been exchanged; the transport may be closed.
    CloseAcknowledged,
}

/// What the caller must do after a close event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Send our close frame (echoing the peer's code when answering; call
    /// [`CloseHandshake::reply_sent`] after an answer), then, if we are the server, close the
    /// transport once it is written.
    SendClose,
    /// The handshake is complete: close the transport.
    CloseTransport,
    /// Nothing to do (a duplicate call).
    Nothing,
}

/// The closing handshake as a state machine (RFC 6455 §7.1.2 - §7.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseHandshake {
    state: CloseState,
}

impl Default for CloseHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl CloseHandshake {
    /// A connection that is open.
    pub fn new() -> Self {
        Self { state: CloseState::Open }
    }

    /// The current state.
    pub fn state(&self) -> CloseState {
        self.state
    }

    /// We start the closing handshake.
    pub fn start_close(&mut self) -> CloseAction {
        match self.state {
            CloseState::Open => {
                self.state = CloseState::ClosedByUs;
                CloseAction::SendClose
            }
            // Closing already; an answer to the peer is owed by `receive_close`'s action.
            _ => CloseAction::Nothing,
        }
    }

    /// A close frame arrived from the peer.
    pub fn receive_close(&mut self) -> CloseAction {
        match self.state {
            CloseState::Open => {
                // The peer closed first: we owe it our close frame as soon as practical (§5.5.1).
                self.state = CloseState::ClosedByPeer;
                CloseAction::SendClose
            }
            CloseState::ClosedByUs => {
                self.state = CloseState::CloseAcknowledged;
                CloseAction::CloseTransport
            }
            CloseState::ClosedByPeer | CloseState::CloseAcknowledged => CloseAction::Nothing,
        }
    }

    /// Our answer to the peer's close frame has been queued.
    pub fn reply_sent(&mut self) {
        if self.state == CloseState::ClosedByPeer {
            self.state = CloseState::CloseAcknowledged;
        }
    }

    /// Whether data frames may still be sent.
    pub fn can_send(&self) -> bool {
        matches!(self.state, CloseState::Open | CloseState::ClosedByPeer)
    }

    /// Whether data frames from the peer are still expected (after our close they are
    /// discarded, per §5.5.1).
    pub fn can_receive(&self) -> bool {
        matches!(self.state, CloseState::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_payload_has_no_status() {
        assert_eq!(CloseFrame::parse(&[]), Ok(None));
    }

    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(CloseFrame::parse(&[0x03]), Err(Error::CloseTooShort));
    }

    #[test]
    fn codes_autobahn_treats_as_valid_are_accepted() {
        for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            let payload = u16::to_be_bytes(code);
            let frame = CloseFrame::parse(&payload).unwrap().unwrap();
            assert_eq!(frame.code, CloseCode(code));
        }
    }

    #[test]
    fn codes_autobahn_treats_as_invalid_are_rejected() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            let payload = u16::to_be_bytes(code);
            assert_eq!(CloseFrame::parse(&payload), Err(Error::InvalidCloseCode(code)));
        }
    }

    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(CloseFrame::parse(&[0x03, 0xe8, 0xff]), Err(Error::InvalidCloseReason));
        let ok = CloseFrame::parse(b"\x03\xe8bye").unwrap().unwrap();
        assert_eq!(ok.reason, "bye");
    }

    #[test]
    fn encode_cuts_a_long_reason_at_a_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes
        let frame = CloseFrame { code: CloseCode::NORMAL, reason: &reason };
        let mut out = [0; 125];
        let len = frame.encode(&mut out);
        assert_eq!(len, 2 + 122);
        let back = CloseFrame::parse(&out[..len]).unwrap().unwrap();
        assert_eq!(back.reason.len(), 122);
    }

    #[test]
    fn handshake_initiated_by_us() {
        let mut h = CloseHandshake::new();
        assert_eq!(h.start_close(), CloseAction::SendClose);
        assert_eq!(h.state(), CloseState::ClosedByUs);
        assert!(!h.can_send() && !h.can_receive());
        assert_eq!(h.start_close(), CloseAction::Nothing);
        assert_eq!(h.receive_close(), CloseAction::CloseTransport);
        assert_eq!(h.state(), CloseState::CloseAcknowledged);
        assert_eq!(h.receive_close(), CloseAction::Nothing);
    }

    #[test]
    fn handshake_initiated_by_peer() {
        let mut h = CloseHandshake::new();
        assert_eq!(h.receive_close(), CloseAction::SendClose);
        assert_eq!(h.state(), CloseState::ClosedByPeer);
        assert!(h.can_send() && !h.can_receive());
        assert_eq!(h.start_close(), CloseAction::Nothing);
        assert_eq!(h.receive_close(), CloseAction::Nothing);
        h.reply_sent();
        assert_eq!(h.state(), CloseState::CloseAcknowledged);
    }
}
