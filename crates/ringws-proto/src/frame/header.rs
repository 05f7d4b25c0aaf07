//! The frame header: 2 to 14 bytes, parsed and encoded without touching the payload.

use super::OpCode;
use crate::error::{Error, Result};
use crate::mask::unmask;

/// The longest header: 2 fixed bytes, 8 bytes of extended length, 4 bytes of masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// RSV1 as it appears in [`FrameHeader::rsv`]; permessage-deflate's "compressed" bit.
pub const RSV1: u8 = 0x40;
/// RSV2 as it appears in [`FrameHeader::rsv`].
pub const RSV2: u8 = 0x20;
/// RSV3 as it appears in [`FrameHeader::rsv`].
pub const RSV3: u8 = 0x10;

/// A parsed frame header (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The RSV1-3 bits, in their wire positions ([`RSV1`] | [`RSV2`] | [`RSV3`]).
    pub rsv: u8,
    /// The frame type.
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends.
    pub masking_key: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// A final, unmasked frame header: what a server sends.
    pub fn new(opcode: OpCode, payload_len: u64) -> Self {
        Self { fin: true, rsv: 0, opcode, masking_key: None, payload_len }
    }

    /// How many bytes [`FrameHeader::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.masking_key.is_some() { 4 } else { 0 }
    }

    /// Writes the header into `out` and returns its length (2 to 14). The payload goes after it,
    /// from wherever the caller keeps it: the encoder never copies a payload.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | (self.rsv & 0x70) | self.opcode as u8;
        let mask_bit = if self.masking_key.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.masking_key {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }

    /// Parses a header from the start of `buf`: `Ok(None)` until all of it is there, else the
    /// header and its length.
    ///
    /// The rules that need no context are checked here, each as soon as the bytes that decide it
    /// are present: reserved opcodes, control frames that are fragmented or over 125 bytes, and
    /// a 64-bit length with the top bit set. Masking and RSV rules depend on the role and the
    /// negotiated extensions, so [`super::FrameDecoder`] checks those.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>> {
        let [b0, b1, rest @ ..] = buf else {
            return Ok(None);
        };
        let opcode = OpCode::try_from(b0 & 0x0f)?;
        let fin = b0 & 0x80 != 0;
        let short_len = b1 & 0x7f;
        if opcode.is_control() {
            if !fin {
                return Err(Error::FragmentedControlFrame);
            }
            if short_len > 125 {
                return Err(Error::ControlFrameTooLong(u64::from(short_len)));
            }
        }
        let (payload_len, ext) = match short_len {
            126 => match rest {
                [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 2),
                _ => return Ok(None),
            },
            127 => match rest.first_chunk::<8>() {
                Some(bytes) => {
                    let n = u64::from_be_bytes(*bytes);
                    if n >> 63 != 0 {
                        return Err(Error::LengthOverflow);
                    }
                    (n, 8)
                }
                None => return Ok(None),
            },
            n => (u64::from(n), 0),
        };
        let masked = b1 & 0x80 != 0;
        let masking_key = if masked {
            match rest[ext..].first_chunk::<4>() {
                Some(key) => Some(*key),
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = Self { fin, rsv: b0 & 0x70, opcode, masking_key, payload_len };
        Ok(Some((header, 2 + ext + if masked { 4 } else { 0 })))
    }
}

/// Appends one whole final frame, header and payload, to `out`: masked with `mask` when given
/// (a client's frame), plain otherwise (a server's). The one place a frame is built in a
/// single buffer; a caller that keeps the payload elsewhere sends [`FrameHeader::encode`]'s
/// bytes before it instead.
pub fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8], mask: Option<[u8; 4]>) {
    let header =
        FrameHeader { masking_key: mask, ..FrameHeader::new(opcode, payload.len() as u64) };
    write_frame_with(out, &header, payload);
}

/// Appends one whole frame with `header` (its FIN, RSV bits, mask; the length is `payload`'s)
/// to `out`, the payload masked when the header has a key.
pub fn write_frame_with(out: &mut Vec<u8>, header: &FrameHeader, payload: &[u8]) {
    let header = FrameHeader { payload_len: payload.len() as u64, ..*header };
    let mask = header.masking_key;
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    out.reserve(n + payload.len());
    out.extend_from_slice(&head[..n]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        unmask(&mut out[start..], key, 0);
    }
}
