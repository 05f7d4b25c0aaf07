//! The streaming frame decoder: any split of the input, payloads unmasked in place.

use super::{FrameHeader, MAX_HEADER_LEN};
use crate::Role;
use crate::error::{Error, Result};
use crate::mask::unmask;

/// A piece of one frame's payload, borrowed from the caller's input and already unmasked.
///
/// A frame that arrives whole comes back as one part with [`FramePart::is_whole`] true. A frame
/// split over several inputs comes back as several parts, in order, the last with
/// `is_last == true`. A frame with an empty payload is one empty part, and a header that arrives
/// without payload bytes is reported at once as an empty part with `is_last == false`.
#[derive(Debug)]
pub struct FramePart<'a> {
    /// The frame's header (the same for every part of the frame).
    pub header: FrameHeader,
    /// Where `payload` starts within the frame's payload.
    pub offset: u64,
    /// Unmasked payload bytes.
    pub payload: &'a mut [u8],
    /// Whether this part starts the frame (the first part reported for its header).
    pub is_first: bool,
    /// Whether this part ends the frame.
    pub is_last: bool,
}

impl FramePart<'_> {
    /// Whether this part is the whole frame.
    pub fn is_whole(&self) -> bool {
        self.is_first && self.is_last
    }
}

/// Decodes frames from a byte stream delivered in pieces of any size.
///
/// Call [`FrameDecoder::decode`] on the bytes received so far; it either returns a frame part
/// and how many bytes of the input it used (call again on the rest), or `Ok(None)` once it has
/// taken every byte and needs more. A partial header (at most 13 bytes) is kept inside the
/// decoder, so the caller never has to hold bytes back; payload bytes are never copied.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    role: Role,
    max_frame_size: u64,
    /// RSV bits a negotiated extension gave a meaning to.
    allowed_rsv: u8,
    /// Bytes of a header that arrived split across inputs.
    header_buf: [u8; MAX_HEADER_LEN],
    header_len: u8,
    /// The frame whose payload is being delivered.
    current: Option<InFrame>,
}

#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes delivered so far; also the masking phase (modulo 4).
    delivered: u64,
}

/// The default largest frame: 16 MiB, as for messages (see `docs/protocol.md`).
pub const DEFAULT_MAX_FRAME_SIZE: u64 = 16 << 20;

impl FrameDecoder {
    /// A decoder for the given role, with a 16 MiB frame limit and no RSV bits allowed.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            allowed_rsv: 0,
            header_buf: [0; MAX_HEADER_LEN],
            header_len: 0,
            current: None,
        }
    }

    /// Sets the largest payload a single frame may declare; larger frames fail with
    /// [`Error::FrameTooLarge`] as soon as their header is read.
    pub fn with_max_frame_size(mut self, limit: u64) -> Self {
        self.max_frame_size = limit;
        self
    }

    /// Allows RSV bits that a negotiated extension defines (for permessage-deflate: RSV1).
    pub fn with_allowed_rsv(mut self, rsv: u8) -> Self {
        self.allowed_rsv = rsv;
        self
    }

    /// Changes the allowed RSV bits for the frames that start from now (a decoder reused by a
    /// connection that negotiated otherwise).
    pub fn set_allowed_rsv(&mut self, rsv: u8) {
        self.allowed_rsv = rsv;
    }

    /// Whether the decoder sits between frames with no partial header: nothing is pending.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.header_len == 0
    }

    /// Decodes the next frame part from `input`.
    ///
    /// Returns `Ok(Some((part, used)))` where `used` counts the input bytes consumed (header and
    /// payload), or `Ok(None)` when every input byte was consumed and more are needed.
    ///
    /// # Errors
    /// Any violation of RFC 6455 §5 in the header, and a declared length over the limit, as soon
    /// as the bytes that show it arrive. After an error the stream is unusable.
    pub fn decode<'a>(&mut self, input: &'a mut [u8]) -> Result<Option<(FramePart<'a>, usize)>> {
        let mut used = 0;
        let frame = match self.current {
            Some(frame) => frame,
            None => {
                let Some((header, header_used)) = self.read_header(input)? else {
                    return Ok(None);
                };
                used = header_used;
                let frame = InFrame { header, delivered: 0 };
                self.current = Some(frame);
                frame
            }
        };
        let remaining = frame.header.payload_len - frame.delivered;
        let available = (input.len() - used) as u64;
        let take = remaining.min(available) as usize;
        if take == 0 && remaining > 0 && used == 0 {
            return Ok(None);
        }
        // A header that just completed is reported even with no payload yet (an empty part), so
        // the layers above can apply their limits before any payload is kept.
        let payload = &mut input[used..used + take];
        if let Some(key) = frame.header.masking_key {
            unmask(payload, key, (frame.delivered & 3) as usize);
        }
        let is_last = take as u64 == remaining;
        self.current = if is_last {
            None
        } else {
            Some(InFrame { delivered: frame.delivered + take as u64, ..frame })
        };
        let part = FramePart {
            header: frame.header,
            offset: frame.delivered,
            payload,
            is_first: used > 0,
            is_last,
        };
        Ok(Some((part, used + take)))
    }

    /// Reads a header from the stash plus `input`. `Ok(None)` means all of `input` went into the
    /// stash; otherwise returns the header and how many bytes of `input` it used.
    fn read_header(&mut self, input: &[u8]) -> Result<Option<(FrameHeader, usize)>> {
        let stashed = usize::from(self.header_len);
        let parsed = if stashed == 0 {
            FrameHeader::parse(input)?
        } else {
            let take = input.len().min(MAX_HEADER_LEN - stashed);
            self.header_buf[stashed..stashed + take].copy_from_slice(&input[..take]);
            FrameHeader::parse(&self.header_buf[..stashed + take])?
        };
        match parsed {
            None => {
                // Incomplete, so stash + input is shorter than this header (at most 14 bytes).
                let start = stashed;
                let end = stashed + input.len();
                self.header_buf[start..end].copy_from_slice(input);
                self.header_len = end as u8;
                Ok(None)
            }
            Some((header, len)) => {
                self.header_len = 0;
                self.check(&header)?;
                Ok(Some((header, len - stashed)))
            }
        }
    }

    /// The header rules that depend on the role, the extensions and the limits.
    fn check(&self, header: &FrameHeader) -> Result<()> {
        match (self.role, header.masking_key.is_some()) {
            (Role::Server, false) => return Err(Error::UnmaskedFrame),
            (Role::Client, true) => return Err(Error::MaskedFrame),
            _ => {}
        }
        if header.rsv & !self.allowed_rsv != 0 {
            return Err(Error::ReservedBits);
        }
        if header.payload_len > self.max_frame_size {
            return Err(Error::FrameTooLarge {
                len: header.payload_len,
                limit: self.max_frame_size,
            });
        }
        Ok(())
    }
}
