//! permessage-deflate's state on a worker and per connection.
//!
//! Shared mode: one deflater per server window serves every connection, each message
//! compressed on its own (no context takeover), so a publish is compressed once for all of its
//! compressing subscribers; one inflater is lent to whichever connection is reading.
//! Dedicated mode ([`Dedicated`]): a connection that keeps its context in a direction owns that
//! direction's deflater or inflater, made on its first compressed message, and each of its
//! messages (a publish too) is compressed for it alone.

use bytes::Bytes;
use ringws_proto::OpCode;
use ringws_proto::deflate::{DeflateParams, Deflater, Inflater};
use ringws_proto::frame::{FrameHeader, RSV1, write_frame_with};

/// Messages shorter than this go out plain: a deflate block's overhead eats what they save.
pub(crate) const MIN_COMPRESS: usize = 64;

/// zlib level 3: most of level 6's ratio on JSON and text at well under its cost per byte (a
/// server compresses every message it sends a compressing client).
const LEVEL: u32 = 3;

/// A worker's compression state.
pub(crate) struct Zip {
    /// One per server window a client asked for (`server_max_window_bits` 9..=15, 8 running as
    /// 9), made on first use: a message compressed with a wider window than agreed cannot be
    /// inflated by the client.
    deflaters: [Option<Deflater>; 7],
    /// The compressed payload of the message at hand.
    scratch: Vec<u8>,
    /// Lent to the codec of a connection that reads compressed messages.
    pub(crate) inflater: Option<Box<Inflater>>,
}

impl Default for Zip {
    fn default() -> Self {
        Self {
            deflaters: Default::default(),
            scratch: Vec::new(),
            inflater: Some(Box::new(Inflater::new(false))),
        }
    }
}

impl std::fmt::Debug for Zip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Zip")
    }
}

impl Zip {
    /// `payload` as one whole compressed frame (RSV1 set) for a connection that agreed on a
    /// `window`-bit server window, if compressing makes it smaller; `None`: send it plain.
    pub(crate) fn frame(&mut self, window: u8, opcode: OpCode, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < MIN_COMPRESS {
            return None;
        }
        let bits = window.clamp(9, 15);
        let deflater = self.deflaters[usize::from(bits - 9)]
            .get_or_insert_with(|| Deflater::new(LEVEL, bits, false));
        self.scratch.clear();
        deflater.deflate(payload, &mut self.scratch);
        if self.scratch.len() >= payload.len() {
            return None;
        }
        self.take_frame(opcode)
    }

    /// A plain, whole frame (a publish's) compressed for `window`, if that makes it smaller.
    pub(crate) fn recompress(&mut self, window: u8, plain: &[u8]) -> Option<Bytes> {
        let (header, n) = FrameHeader::parse(plain).ok().flatten()?;
        self.frame(window, header.opcode, &plain[n..])
    }

    /// `payload` compressed with a connection's own deflater (context takeover). Once it is
    /// compressed, its bytes are in that deflater's context, so it goes out compressed even if
    /// it did not shrink: the client's inflater must see it to follow later messages. `None`:
    /// under the threshold (the context is untouched), or the compressor failed (it was reset,
    /// so a plain send is safe).
    pub(crate) fn frame_with(
        &mut self,
        deflater: &mut Deflater,
        opcode: OpCode,
        payload: &[u8],
    ) -> Option<Bytes> {
        if payload.len() < MIN_COMPRESS {
            return None;
        }
        self.scratch.clear();
        deflater.deflate(payload, &mut self.scratch);
        self.take_frame(opcode)
    }

    /// A plain, whole frame compressed with a connection's own deflater, as
    /// [`Zip::frame_with`].
    pub(crate) fn recompress_with(
        &mut self,
        deflater: &mut Deflater,
        plain: &[u8],
    ) -> Option<Bytes> {
        let (header, n) = FrameHeader::parse(plain).ok().flatten()?;
        self.frame_with(deflater, header.opcode, &plain[n..])
    }

    /// The compressed payload in `scratch` as a whole frame with RSV1 (none if it is empty:
    /// the compressor failed).
    fn take_frame(&mut self, opcode: OpCode) -> Option<Bytes> {
        if self.scratch.is_empty() {
            return None;
        }
        let header = FrameHeader { rsv: RSV1, ..FrameHeader::new(opcode, 0) };
        let mut frame = Vec::new();
        write_frame_with(&mut frame, &header, &self.scratch);
        if self.scratch.capacity() > 256 << 10 {
            self.scratch = Vec::new(); // a large message's buffer is not kept
        }
        Some(Bytes::from(frame))
    }
}

/// What a dedicated-mode connection keeps (boxed, beside its control state, only for
/// connections that negotiated context takeover in at least one direction): the deflater and
/// inflater of each direction that keeps its context, made on its first compressed message.
/// Measured in `docs/benchmarks.md`: tens of KiB per direction in use, so a route of many
/// mostly idle connections wants [`crate::Compression::Shared`].
pub(crate) struct Dedicated {
    /// Ours, keeping its context; `None` until the first compressed send.
    deflater: Option<Deflater>,
    /// The client's direction, keeping its context; `None` until the first compressed message
    /// read (or while lent to the codec).
    inflater: Option<Box<Inflater>>,
    /// The server window agreed (9..=15; 8 runs as 9).
    window: u8,
    /// The client window agreed: the inflater's.
    client_window: u8,
    server_takeover: bool,
    client_takeover: bool,
}

impl std::fmt::Debug for Dedicated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dedicated")
            .field("server_takeover", &self.server_takeover)
            .field("client_takeover", &self.client_takeover)
            .finish()
    }
}

impl Dedicated {
    /// The state for `params`, or `None` when no direction keeps its context (shared mode, or a
    /// client that asked for no takeover both ways): the worker's codecs serve it then.
    pub(crate) fn new(params: &DeflateParams) -> Option<Box<Self>> {
        let server_takeover = !params.server_no_context_takeover;
        let client_takeover = !params.client_no_context_takeover;
        (server_takeover || client_takeover).then(|| {
            Box::new(Self {
                deflater: None,
                inflater: None,
                window: params.server_max_window_bits,
                client_window: params.client_max_window_bits,
                server_takeover,
                client_takeover,
            })
        })
    }

    /// Whether we keep our context: every compressed send uses [`Dedicated::deflater`].
    pub(crate) fn keeps_send_context(&self) -> bool {
        self.server_takeover
    }

    /// Our own deflater, if we keep our context (made now if needed).
    pub(crate) fn deflater(&mut self) -> Option<&mut Deflater> {
        let window = self.window;
        self.server_takeover
            .then(|| self.deflater.get_or_insert_with(|| Deflater::new(LEVEL, window, true)))
    }

    /// The connection's inflater, lent to its codec for a read, if the client keeps its
    /// context (made now if needed); give it back with [`Dedicated::give_back`].
    pub(crate) fn lend_inflater(&mut self) -> Option<Box<Inflater>> {
        let window = self.client_window;
        self.client_takeover.then(|| {
            self.inflater.take().unwrap_or_else(|| Box::new(Inflater::with_window(window, true)))
        })
    }

    /// The inflater back after a read, its output buffer cut to a few KiB (a connection keeps
    /// its window, not its last message).
    pub(crate) fn give_back(&mut self, mut inflater: Box<Inflater>) {
        inflater.release(4 << 10);
        self.inflater = Some(inflater);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringws_proto::frame::write_frame;

    #[test]
    fn a_frame_is_compressed_only_when_it_shrinks() {
        let mut zip = Zip::default();
        assert!(zip.frame(15, OpCode::Text, b"short").is_none(), "under the threshold");
        let mut x = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        let got = zip.frame(15, OpCode::Binary, &noise);
        assert!(
            got.is_none(),
            "incompressible stays plain: {:?} of {}",
            got.map(|f| f.len()),
            noise.len()
        );
        let json = br#"{"price":101.25,"size":300,"side":"bid"}"#.repeat(20);
        let frame = zip.frame(15, OpCode::Text, &json).unwrap();
        assert_eq!(frame[0], 0x80 | 0x40 | 0x01, "FIN, RSV1, text");
        assert!(frame.len() < json.len() / 3, "{} of {}", frame.len(), json.len());
        let mut plain = Vec::new();
        write_frame(&mut plain, OpCode::Text, &json, None);
        assert_eq!(zip.recompress(15, &plain).unwrap(), frame, "the same bytes from a plain frame");
        // A client that asked for a 9-bit server window can inflate what it gets: 2000 bytes
        // of 16 symbols, twice; a 15-bit window would reach 2000 bytes back for the copy.
        let half: Vec<u8> = (0..2000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b'a' + (x >> 28) as u8
            })
            .collect();
        let long = [half.clone(), half].concat();
        let wide = zip.frame(15, OpCode::Binary, &long).unwrap();
        let frame = zip.frame(9, OpCode::Binary, &long).unwrap();
        assert!(wide.len() < frame.len(), "the wide window used the far copy");
        // Inflated 64 bytes at a time, so that back references must come from the 9-bit window
        // (within one call's output a lenient inflater would follow any distance).
        let inflate_9 = |frame: &[u8]| {
            let (_, n) = FrameHeader::parse(frame).unwrap().unwrap();
            let mut inflater = flate2::Decompress::new_with_window_bits(false, 9);
            let mut wire = frame[n..].to_vec();
            wire.extend_from_slice(&ringws_proto::deflate::TRAILER);
            let (mut out, mut used) = (Vec::new(), 0);
            while used < wire.len() || out.len() < long.len() {
                out.reserve_exact(64);
                let before = (inflater.total_in(), out.len());
                inflater.decompress_vec(&wire[used..], &mut out, flate2::FlushDecompress::Sync)?;
                used = inflater.total_in() as usize;
                if (inflater.total_in(), out.len()) == before {
                    break;
                }
            }
            Ok::<_, flate2::DecompressError>(out)
        };
        assert_eq!(inflate_9(&frame).unwrap(), long);
    }
}
