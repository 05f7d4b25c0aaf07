//! Message assembly: the opt-in layer that turns frame parts into whole messages.
//!
//! A message that arrives as one whole frame is handed back borrowed from the receive buffer, so
//! the common case copies nothing. Only a message that is fragmented, or a frame split over
//! several receive buffers, is gathered into a buffer owned here; that buffer is released after
//! delivery, so an idle connection holds no heap memory. Control frames may arrive between the
//! fragments of a message and are delivered at once.

use crate::close::CloseFrame;
use crate::error::{Error, Result};
use crate::frame::{FramePart, OpCode, RSV1};
use crate::utf8::Utf8Validator;

/// A complete message (or control frame), borrowed from the input or from the assembler.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message, validated as UTF-8.
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping, with its application data.
    Ping(&'a [u8]),
    /// A pong, with its application data.
    Pong(&'a [u8]),
    /// A close frame: `None` when it carried no status code.
    Close(Option<CloseFrame<'a>>),
    /// A message compressed with permessage-deflate (RSV1 on its first frame), still
    /// compressed: the caller inflates it, then checks text as UTF-8.
    Compressed {
        /// Whether it is a text message.
        text: bool,
        /// The compressed payload, every frame's in order (the trailer not included).
        payload: &'a [u8],
    },
}

/// The default largest message: 16 MiB (see `docs/protocol.md`).
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 16 << 20;

/// Gathers frame parts into messages, enforcing the fragmentation rules (RFC 6455 §5.4), the
/// message size limit and UTF-8 validity of text (§8.1).
#[derive(Debug)]
pub struct MessageAssembler {
    max_message_size: u64,
    /// The data message being received, if its first frame has arrived.
    open: Option<OpenMessage>,
    /// Payload of a data message gathered across parts. Empty (and unallocated) otherwise.
    data: Vec<u8>,
    /// Validates text as it arrives, so bad bytes fail before the message ends.
    utf8: Utf8Validator,
    /// A control frame split over inputs (at most 125 bytes).
    control: [u8; 125],
    control_len: u8,
    /// A message was just handed out from `data`; release it on the next call.
    delivered: bool,
}

#[derive(Debug, Clone, Copy)]
struct OpenMessage {
    text: bool,
    /// RSV1 on its first frame: permessage-deflate (text is checked after inflating).
    compressed: bool,
    /// Bytes announced so far by the headers of this message's frames.
    announced: u64,
    /// Whether the frame carrying the message's final bytes (FIN) has started.
    fin: bool,
}

impl Default for MessageAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageAssembler {
    /// An assembler with the default 16 MiB message limit.
    pub fn new() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            open: None,
            data: Vec::new(),
            utf8: Utf8Validator::new(),
            control: [0; 125],
            control_len: 0,
            delivered: false,
        }
    }

    /// Sets the largest message; a frame whose header would take the message past it fails with
    /// [`Error::MessageTooLarge`] before any of its payload is kept.
    pub fn with_max_message_size(mut self, limit: u64) -> Self {
        self.max_message_size = limit;
        self
    }

    /// Changes the largest message, for the messages that start from now (an assembler reused
    /// by a connection with another limit).
    pub fn set_max_message_size(&mut self, limit: u64) {
        self.max_message_size = limit;
    }

    /// The size announced so far by the frame headers of the data message in progress (0 when
    /// none is): what finishing it will hold, for a caller keeping a memory budget.
    pub fn pending_len(&self) -> u64 {
        self.open.map_or(0, |o| o.announced)
    }

    /// The largest message.
    pub fn max_message_size(&self) -> u64 {
        self.max_message_size
    }

    /// Drops the data message in progress and its buffer (the connection is being failed and
    /// its remaining data frames are not kept). A control frame split across inputs stays.
    pub fn discard(&mut self) {
        self.open = None;
        self.data = Vec::new();
        self.delivered = false;
        self.utf8.reset();
    }

    /// Whether no message is in progress and no memory is held.
    pub fn is_idle(&self) -> bool {
        self.open.is_none() && self.control_len == 0 && self.data.capacity() == 0
    }

    /// Frees the buffer of a message already handed out. [`MessageAssembler::push`] does this
    /// itself; call it when the connection goes quiet so that it holds no heap memory.
    pub fn release(&mut self) {
        if self.delivered {
            self.delivered = false;
            self.data = Vec::new();
        }
    }

    /// Takes the next frame part. Returns a message when this part completes one.
    ///
    /// # Errors
    /// Continuation without a message, a new message inside a fragmented one (1002), a message
    /// over the limit (1009), invalid UTF-8 in text or in a close reason (1007), an invalid close
    /// payload (1002).
    pub fn push<'a>(&'a mut self, part: FramePart<'a>) -> Result<Option<Message<'a>>> {
        self.release();
        let opcode = part.header.opcode;
        if opcode.is_control() {
            // RSV1 is allowed (permessage-deflate) only on a data message's first frame.
            if part.header.rsv & RSV1 != 0 {
                return Err(Error::ReservedBits);
            }
            return self.push_control(part);
        }
        if part.is_first {
            self.start_frame(&part)?;
        }
        let Some(open) = self.open else {
            // `start_frame` opened the message or failed.
            return Err(Error::UnexpectedContinuation);
        };
        let whole_message = part.is_whole() && open.fin && self.data.is_empty();
        if whole_message {
            // The common case: one frame, one buffer. Hand out the caller's bytes.
            self.open = None;
            let payload: &'a [u8] = part.payload;
            if open.compressed {
                return Ok(Some(Message::Compressed { text: open.text, payload }));
            }
            return if open.text {
                let text = simdutf8::basic::from_utf8(payload).map_err(|_| Error::InvalidUtf8)?;
                Ok(Some(Message::Text(text)))
            } else {
                Ok(Some(Message::Binary(payload)))
            };
        }
        if open.text && !open.compressed {
            self.utf8.feed(part.payload)?;
        }
        self.data.extend_from_slice(part.payload);
        if !(part.is_last && open.fin) {
            return Ok(None);
        }
        self.open = None;
        self.delivered = true;
        if open.compressed {
            return Ok(Some(Message::Compressed { text: open.text, payload: &self.data }));
        }
        if open.text {
            self.utf8.finish()?;
            // Validated piece by piece above; this pass (simdutf8, many GB/s) produces the &str
            // without unsafe code.
            let text = simdutf8::basic::from_utf8(&self.data).map_err(|_| Error::InvalidUtf8)?;
            Ok(Some(Message::Text(text)))
        } else {
            Ok(Some(Message::Binary(&self.data)))
        }
    }

    /// Applies the rules that a data frame's header decides: fragmentation order and size.
    fn start_frame(&mut self, part: &FramePart<'_>) -> Result<()> {
        let header = part.header;
        let announced = match (header.opcode, self.open) {
            (OpCode::Continuation, None) => return Err(Error::UnexpectedContinuation),
            (OpCode::Continuation, Some(open)) => open.announced + header.payload_len,
            (_, Some(_)) => return Err(Error::ExpectedContinuation),
            (_, None) => header.payload_len,
        };
        if announced > self.max_message_size {
            return Err(Error::MessageTooLarge { len: announced, limit: self.max_message_size });
        }
        let rsv1 = header.rsv & RSV1 != 0;
        let (text, compressed) = match self.open {
            // RSV1 marks a message, on its first frame only (RFC 7692 §6.1).
            Some(_) if rsv1 => return Err(Error::ReservedBits),
            Some(open) => (open.text, open.compressed),
            None => {
                self.utf8.reset();
                (header.opcode == OpCode::Text, rsv1)
            }
        };
        self.open = Some(OpenMessage { text, compressed, announced, fin: header.fin });
        Ok(())
    }

    fn push_control<'a>(&'a mut self, part: FramePart<'a>) -> Result<Option<Message<'a>>> {
        let payload: &'a [u8] = if part.is_whole() {
            part.payload
        } else {
            let start = usize::from(self.control_len);
            let end = start + part.payload.len();
            // The decoder has checked that control payloads fit; a hand-made part may not.
            let slot =
                self.control.get_mut(start..end).ok_or(Error::ControlFrameTooLong(end as u64))?;
            slot.copy_from_slice(part.payload);
            if !part.is_last {
                self.control_len = end as u8;
                return Ok(None);
            }
            self.control_len = 0;
            &self.control[..end]
        };
        Ok(Some(match part.header.opcode {
            OpCode::Ping => Message::Ping(payload),
            OpCode::Pong => Message::Pong(payload),
            _ => Message::Close(CloseFrame::parse(payload)?),
        }))
    }
}

#[cfg(test)]
mod tests;
