//! permessage-deflate's send side on a worker (shared mode): one deflater serves every
//! connection, each message compressed on its own (no context takeover), so a publish is
//! compressed once for all of its compressing subscribers.

use bytes::Bytes;
use ringws_proto::OpCode;
use ringws_proto::deflate::{Deflater, Inflater};
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
        if self.scratch.is_empty() || self.scratch.len() >= payload.len() {
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

    /// A plain, whole frame (a publish's) compressed for `window`, if that makes it smaller.
    pub(crate) fn recompress(&mut self, window: u8, plain: &[u8]) -> Option<Bytes> {
        let (header, n) = FrameHeader::parse(plain).ok().flatten()?;
        self.frame(window, header.opcode, &plain[n..])
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
