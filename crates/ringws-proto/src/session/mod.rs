//! The WebSocket session, sans-IO: received bytes in (any split), what to do out.
//!
//! ```text
//!  bytes ─► Session::read(&mut Codec, bytes) ─► Read::Took(used, Some(Action)) | NeedMore
//!             Action::Text/Binary ─► the application
//!             Action::Ping(p)     ─► send a pong carrying p (and tell the application)
//!             Action::Closed      ─► send `reply` if there is one, then close the transport
//!                                    (server) or wait for the server to (client)
//!             Action::Fail        ─► send `close` if there is one, then shut down writing and wait
//!                                    for the peer's close, or close now when `close_now`
//!  send ─► Session::check_send (what the state forbids) ─► frame::write_frame / FrameHeader
//!  close ─► Session::start_close ─► ClosePayload
//! ```
//!
//! The state is split by what it costs. [`Session`] is four bytes every connection keeps: the
//! closing handshake and whether the stream failed. [`Codec`] (decoder and assembler, a few
//! hundred bytes) matters only while a frame or message is partial, so a server may lend one
//! from a pool to whichever connection is mid-message, as `ringws`' engine does.
//!
//! One frame per call, so the caller's loop owns each action while it uses it: a message
//! borrowed from the receive buffer can be handed to the application with no copy, and the
//! application may send through the same session meanwhile.

use crate::close::{CloseAction, CloseFrame, CloseHandshake, CloseState};
use crate::deflate::Inflater;
use crate::error::Error;
use crate::frame::{FrameDecoder, OpCode, RSV1};
use crate::message::{Message, MessageAssembler};
use crate::{CloseCode, Role};

/// What one frame asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// A text message (valid UTF-8) for the application.
    Text(&'a str),
    /// A binary message for the application.
    Binary(&'a [u8]),
    /// A ping: send a pong carrying this payload (RFC 6455 §5.5.2); the application may hear
    /// of it too.
    Ping(&'a [u8]),
    /// A pong: the peer is alive.
    Pong(&'a [u8]),
    /// The peer's close frame (`None`: it carried no code, reported as 1005).
    Closed {
        /// What the peer sent.
        frame: Option<CloseFrame<'a>>,
        /// Our answer, echoing the peer's code, when the peer closed first; send it now.
        reply: Option<ClosePayload>,
        /// Close the transport once `reply` is written (a server; a client waits for the
        /// server to close TCP, RFC 6455 §7.1.1).
        close_transport: bool,
    },
    /// The peer broke the protocol: fail the connection (RFC 6455 §7.1.7).
    Fail {
        /// What was wrong; [`Error::close_code`] is the code `close` carries.
        error: Error,
        /// Our close frame, unless we had sent one already.
        close: Option<ClosePayload>,
        /// The stream cannot be parsed any more and no close frame can be sent: close the
        /// transport now. Otherwise send `close`, shut down writing, and wait (bounded) for
        /// the peer's close frame or its end of the stream.
        close_now: bool,
    },
}

/// The result of reading one frame's worth of bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a> {
    /// Every byte given was taken in (kept for the next call if partial); give more.
    NeedMore,
    /// `used` bytes were taken; call again with the rest.
    Took(usize, Option<Action<'a>>),
}

/// A close frame's payload (code and reason, at most 125 bytes), ready to send.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClosePayload {
    bytes: [u8; 125],
    len: u8,
}

impl ClosePayload {
    /// The payload for `code` and `reason` (cut to 123 bytes at a character boundary).
    pub fn new(code: CloseCode, reason: &str) -> Self {
        let mut bytes = [0; 125];
        let len = CloseFrame { code, reason }.encode(&mut bytes) as u8;
        Self { bytes, len }
    }

    /// An empty payload: the answer to a close frame that had no code.
    pub fn empty() -> Self {
        Self { bytes: [0; 125], len: 0 }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for ClosePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ClosePayload").field(&self.as_bytes()).finish()
    }
}

/// Why a frame may not be sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Our close frame is out: no data or ping may follow it (RFC 6455 §5.5.1).
    #[error("the closing handshake has started: nothing may follow our close frame")]
    Closing,
    /// A control frame's payload is over 125 bytes (RFC 6455 §5.5).
    #[error("a control frame carries at most 125 bytes, not {0}")]
    ControlTooLong(usize),
    /// Close frames come from [`Session::start_close`] or an [`Action`], which keep the
    /// handshake's state.
    #[error("close frames are sent through Session::start_close")]
    CloseOutsideHandshake,
}

/// The frame decoder and message assembler: the part of a session that holds bytes between
/// calls. Idle (see [`Codec::release`]) it holds no heap memory and may serve another session.
#[derive(Debug)]
pub struct Codec {
    decoder: FrameDecoder,
    assembler: MessageAssembler,
    /// For permessage-deflate: the inflater (the worker's, lent for a read, or the
    /// connection's own with context takeover); made on first use if none was lent.
    inflater: Option<Box<Inflater>>,
}

impl Codec {
    /// A codec for `role` with the default limits.
    pub fn new(role: Role) -> Self {
        Self {
            decoder: FrameDecoder::new(role),
            assembler: MessageAssembler::new(),
            inflater: None,
        }
    }

    /// Sets the largest frame (bytes in one frame's payload).
    pub fn with_max_frame_size(mut self, limit: u64) -> Self {
        self.decoder = self.decoder.with_max_frame_size(limit);
        self
    }

    /// Sets the largest message.
    pub fn with_max_message_size(mut self, limit: u64) -> Self {
        self.assembler.set_max_message_size(limit);
        self
    }

    /// Changes the largest message for the messages that start from now (a pooled codec lent
    /// to a connection with its own limit).
    pub fn set_max_message_size(&mut self, limit: u64) {
        self.assembler.set_max_message_size(limit);
    }

    /// Accepts compressed messages (RSV1) for what starts from now: permessage-deflate was
    /// negotiated on the connection this codec reads for.
    pub fn set_deflate(&mut self, on: bool) {
        self.decoder.set_allowed_rsv(if on { RSV1 } else { 0 });
    }

    /// Lends the codec an inflater for compressed messages (the worker's shared one, or the
    /// connection's own); take it back with [`Codec::take_inflater`].
    pub fn lend_inflater(&mut self, inflater: Box<Inflater>) {
        self.inflater = Some(inflater);
    }

    /// The inflater lent or made, taken back.
    pub fn take_inflater(&mut self) -> Option<Box<Inflater>> {
        self.inflater.take()
    }

    /// The size announced so far for the data message in progress (0 when none is): what this
    /// codec will hold by the time it completes (a message that arrived whole in one buffer is
    /// never held: it is borrowed).
    pub fn pending_len(&self) -> u64 {
        self.assembler.pending_len()
    }

    /// Drops the data message in progress and its memory (the caller is failing the connection,
    /// e.g. over a memory budget). Frames keep being decoded, so the peer's close is still found.
    pub fn discard_message(&mut self) {
        self.assembler.discard();
    }

    /// Frees what a delivered message held and says whether nothing is pending, so the codec
    /// can go back to a pool.
    pub fn release(&mut self) -> bool {
        self.assembler.release();
        self.decoder.is_idle() && self.assembler.is_idle()
    }
}

/// One connection's protocol state: the closing handshake and whether it failed. Small and
/// `Copy`; see the module docs for how it pairs with a [`Codec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    role: Role,
    close: CloseHandshake,
    /// We failed the connection: only the peer's close frame matters now.
    failed: bool,
    /// A framing error: the byte stream can no longer be parsed, and is ignored.
    lost_sync: bool,
}

impl Session {
    /// An open session playing `role`.
    pub fn new(role: Role) -> Self {
        Self { role, close: CloseHandshake::new(), failed: false, lost_sync: false }
    }

    /// Where the closing handshake stands.
    pub fn close_state(&self) -> CloseState {
        self.close.state()
    }

    /// Whether data messages are still delivered (open, and not failed).
    pub fn is_open(&self) -> bool {
        self.close.can_receive() && !self.failed
    }

    /// Whether this session failed the connection.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Whether data frames may still be sent (our close frame is not out).
    pub fn can_send(&self) -> bool {
        self.close.can_send()
    }

    /// The application gave up on the connection (a handler failed): data is no longer
    /// delivered, only the peer's close frame is still read. Send a close with
    /// [`Session::start_close`].
    pub fn abandon(&mut self) {
        self.failed = true;
    }

    /// Reads one frame from `input` (the bytes after those already taken) and says what it asks.
    /// Masked payloads are unmasked in place; a message that came whole is borrowed from
    /// `input`, others from `codec`.
    pub fn read<'a>(&mut self, codec: &'a mut Codec, input: &'a mut [u8]) -> Read<'a> {
        if self.lost_sync {
            // Nothing after a framing error can be trusted; wait for the end of the stream.
            return Read::NeedMore;
        }
        let len = input.len();
        let Codec { decoder, assembler, inflater } = codec;
        let (part, used) = match decoder.decode(input) {
            Ok(Some(x)) => x,
            Ok(None) => return Read::NeedMore,
            Err(error) => {
                self.lost_sync = true;
                return Read::Took(len, Some(self.fail(error)));
            }
        };
        if self.failed && !part.header.opcode.is_control() {
            // Failed already: data is not kept (nor its memory), only the peer's close matters.
            return Read::Took(used, None);
        }
        let limit = assembler.max_message_size();
        let action = match assembler.push(part) {
            Ok(Some(Message::Compressed { text, payload })) => {
                self.inflate(inflater, text, payload, limit)
            }
            Ok(Some(message)) => self.receive(message),
            Ok(None) => None,
            Err(error) if !self.failed => Some(self.fail(error)),
            // Failed already: we only look for the peer's close frame.
            Err(_) => None,
        };
        Read::Took(used, action)
    }

    /// A compressed message: inflated (bounded by the message limit), then text checked.
    fn inflate<'a>(
        &mut self,
        inflater: &'a mut Option<Box<Inflater>>,
        text: bool,
        payload: &[u8],
        limit: u64,
    ) -> Option<Action<'a>> {
        if !self.is_open() {
            return None; // discarded after our close, as any data
        }
        let inflater = inflater.get_or_insert_with(|| Box::new(Inflater::new(false)));
        let bytes = match inflater.inflate_message(&[payload], limit) {
            Ok(bytes) => bytes,
            Err(error) => return Some(self.fail(error)),
        };
        if !text {
            return Some(Action::Binary(bytes));
        }
        match simdutf8::basic::from_utf8(bytes) {
            Ok(t) => Some(Action::Text(t)),
            Err(_) => Some(self.fail(Error::InvalidUtf8)),
        }
    }

    fn receive<'a>(&mut self, message: Message<'a>) -> Option<Action<'a>> {
        let open = self.is_open();
        match message {
            Message::Text(t) if open => Some(Action::Text(t)),
            Message::Binary(b) if open => Some(Action::Binary(b)),
            Message::Ping(p) if open => Some(Action::Ping(p)),
            Message::Pong(p) if open => Some(Action::Pong(p)),
            Message::Close(frame) => self.peer_close(frame),
            // After our close (or a failure) data is discarded (§5.5.1).
            _ => None,
        }
    }

    fn peer_close<'a>(&mut self, frame: Option<CloseFrame<'a>>) -> Option<Action<'a>> {
        let reply = match self.close.receive_close() {
            CloseAction::Nothing => return None,
            CloseAction::CloseTransport => None,
            CloseAction::SendClose => {
                self.close.reply_sent();
                Some(frame.map_or(ClosePayload::empty(), |f| ClosePayload::new(f.code, "")))
            }
        };
        let close_transport = self.role == Role::Server;
        Some(Action::Closed { frame, reply, close_transport })
    }

    fn fail<'a>(&mut self, error: Error) -> Action<'a> {
        self.failed = true;
        let code = error.close_code().unwrap_or(CloseCode::PROTOCOL_ERROR);
        let close = self.start_close(code, &error.to_string());
        let close_now = close.is_none() && self.lost_sync;
        Action::Fail { error, close, close_now }
    }

    /// Starts the closing handshake from our side: the close frame's payload to send, or `None`
    /// when a close frame was sent or owed already (the state decides, once).
    pub fn start_close(&mut self, code: CloseCode, reason: &str) -> Option<ClosePayload> {
        match self.close.start_close() {
            CloseAction::SendClose => Some(ClosePayload::new(code, reason)),
            _ => None,
        }
    }

    /// Whether a frame of `opcode` with `len` payload bytes may be sent now.
    ///
    /// # Errors
    /// Data or a ping after our close frame, a control payload over 125 bytes, a close frame
    /// (those come from [`Session::start_close`] and [`Action`]s).
    pub fn check_send(&self, opcode: OpCode, len: usize) -> Result<(), SendError> {
        if opcode == OpCode::Close {
            return Err(SendError::CloseOutsideHandshake);
        }
        if opcode.is_control() && len > 125 {
            return Err(SendError::ControlTooLong(len));
        }
        if !self.close.can_send() {
            return Err(SendError::Closing);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
