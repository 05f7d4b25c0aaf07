//! `ringws-proto`: the sans-IO RFC 6455 core of ringws.
//!
//! No sockets, no threads, no io_uring: you feed bytes in and get frames, messages, answers and
//! errors out. Everything here is tested without a socket, fuzzed, and reused by the load tester
//! for client-side framing.
//!
//! ```text
//!  bytes in ──► handshake::parse_request ──► Request::websocket() ──► handshake::write_accept
//!  bytes in ──► FrameDecoder::decode ──► FramePart (payload unmasked in place)
//!                                          └─► MessageAssembler::push ──► Message (borrowed)
//!  bytes in ──► Session::read(&mut Codec, ..) ──► Action: deliver, pong, reply to a close, fail
//!               (the decoder, the assembler and the closing handshake in one state machine)
//!  bytes out ◄── FrameHeader::encode (2..14 bytes) + the caller's payload, never copied
//! ```
//!
//! Every error is one [`Error`] variant, and [`Error::answer`] says what goes on the wire: a
//! close code once the connection is a WebSocket, or an HTTP status during the handshake.
#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

pub mod close;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod session;
pub mod utf8;

pub use close::{CloseCode, CloseFrame, CloseHandshake, CloseState};
pub use error::{Answer, Error, Result};
pub use frame::{FrameDecoder, FrameHeader, FramePart, OpCode};
pub use message::{Message, MessageAssembler};
pub use session::{Action, ClosePayload, Codec, Read, SendError, Session};

/// Which end of the connection this side plays. It decides the masking rules (RFC 6455 §5.1):
/// a client masks every frame it sends, a server masks none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections; expects masked frames, sends unmasked ones.
    Server,
    /// Opens connections; expects unmasked frames, sends masked ones.
    Client,
}

#[cfg(test)]
mod test_util;
