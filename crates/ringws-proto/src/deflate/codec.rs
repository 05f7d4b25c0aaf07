//! Compressing and inflating whole messages (RFC 7692 §7.2), with flate2 on zlib-rs.
//!
//! A message is compressed with a sync flush and its trailing `00 00 ff ff` removed; an
//! inflater gets the trailer back after the message's last byte. Inflation checks the output
//! against the message limit as it goes, in steps of at most [`STEP`] bytes, so a small frame
//! that would inflate to gigabytes stops at the limit (1009) and never holds more than it.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use crate::error::{Error, Result};

/// The bytes a sync flush ends with, removed from a sent message and restored before inflating.
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Output is grown by at most this much between limit checks.
const STEP: usize = 16 << 10;

/// Inflates the messages of one direction, into a buffer of its own that the last message
/// borrows (so one inflater per worker serves every connection in shared mode).
pub struct Inflater {
    inner: Decompress,
    /// Keep the window between messages (the peer's context takeover).
    takeover: bool,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("takeover", &self.takeover).finish()
    }
}

impl Inflater {
    /// An inflater for raw deflate with a 15-bit window (it inflates any smaller window too);
    /// `takeover`: the sender keeps its context between messages.
    pub fn new(takeover: bool) -> Self {
        Self { inner: Decompress::new(false), takeover, out: Vec::new() }
    }

    /// An inflater whose window is `window_bits` (8..=15, the `client_max_window_bits` agreed;
    /// 8 is run as 9, which inflates 8-bit streams too): a smaller window costs less memory
    /// while a connection keeps its context between messages.
    pub fn with_window(window_bits: u8, takeover: bool) -> Self {
        let bits = window_bits.clamp(9, 15);
        let inner = Decompress::new_with_window_bits(false, bits);
        Self { inner, takeover, out: Vec::new() }
    }

    /// Inflates one message (see [`Inflater::inflate`]) into the inflater's own buffer and
    /// returns it.
    ///
    /// # Errors
    /// As [`Inflater::inflate`].
    pub fn inflate_message(&mut self, pieces: &[&[u8]], limit: u64) -> Result<&[u8]> {
        let mut out = std::mem::take(&mut self.out);
        let result = self.inflate(pieces, limit, &mut out);
        self.out = out;
        result.map(|()| &self.out[..])
    }

    /// Frees the output buffer when it grew past `keep` bytes (after a large message), so an
    /// idle inflater holds little.
    pub fn release(&mut self, keep: usize) {
        if self.out.capacity() > keep {
            self.out = Vec::new();
        }
    }

    /// Inflates one message, given as its compressed pieces in order (the frames' payloads),
    /// into `out` (replacing what it held).
    ///
    /// # Errors
    /// The output would pass `limit`: [`Error::MessageTooLarge`] (1009), with at most `limit`
    /// bytes (plus one step) ever held. Not a deflate stream: [`Error::InvalidCompressedData`].
    pub fn inflate(&mut self, pieces: &[&[u8]], limit: u64, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let result = self.inflate_pieces(pieces, limit, out);
        if result.is_err() || !self.takeover {
            // A failed message ends the connection (1007/1009), so a context lost here is
            // never needed again.
            self.inner.reset(false);
        }
        if result.is_err() {
            out.clear();
        }
        result
    }

    fn inflate_pieces(&mut self, pieces: &[&[u8]], limit: u64, out: &mut Vec<u8>) -> Result<()> {
        for piece in pieces.iter().copied().chain([&TRAILER[..]]) {
            let mut rest = piece;
            loop {
                let room = (limit + 1).saturating_sub(out.len() as u64).min(STEP as u64) as usize;
                if room == 0 {
                    return Err(Error::MessageTooLarge { len: out.len() as u64, limit });
                }
                out.reserve_exact(room);
                let (in_before, out_before) = (self.inner.total_in(), out.len());
                self.inner
                    .decompress_vec(rest, out, FlushDecompress::Sync)
                    .map_err(|_| Error::InvalidCompressedData)?;
                if out.len() as u64 > limit {
                    return Err(Error::MessageTooLarge { len: out.len() as u64, limit });
                }
                let took = (self.inner.total_in() - in_before) as usize;
                rest = &rest[took..];
                let progressed = took > 0 || out.len() > out_before;
                // Done with this piece once it is all in and the output stopped short of the room
                // it had (nothing more is pending).
                if rest.is_empty() && out.len() - out_before < room {
                    break;
                }
                if !progressed {
                    return Err(Error::InvalidCompressedData);
                }
            }
        }
        Ok(())
    }
}

/// Compresses the messages of one direction.
pub struct Deflater {
    inner: Compress,
    takeover: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").field("takeover", &self.takeover).finish()
    }
}

impl Deflater {
    /// A deflater with `window_bits` (8..=15; 8 is run as zlib's 9, see
    /// [`super::DeflateParams::server_max_window_bits`]) at `level` (0..=9);
    /// `takeover`: keep the context between messages.
    pub fn new(level: u32, window_bits: u8, takeover: bool) -> Self {
        let bits = window_bits.clamp(9, 15);
        Self {
            inner: Compress::new_with_window_bits(Compression::new(level), false, bits),
            takeover,
        }
    }

    /// Appends `payload` compressed as one message to `out` (the trailer removed: what goes on
    /// the wire after a header with RSV1).
    pub fn deflate(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let mut rest = payload;
        loop {
            out.reserve(rest.len() / 2 + 64);
            let (in_before, out_before) = (self.inner.total_in(), out.len());
            // Only an internal error of the compressor could fail here; then nothing is
            // appended (the caller sends the message plain).
            if self.inner.compress_vec(rest, out, FlushCompress::Sync).is_err() {
                out.truncate(start);
                self.inner.reset();
                return;
            }
            rest = &rest[(self.inner.total_in() - in_before) as usize..];
            // Finished once every byte is in and the flush did not fill the room it had.
            let stuck = self.inner.total_in() == in_before && out.len() == out_before;
            if rest.is_empty() && (out.len() < out.capacity() || stuck) {
                break;
            }
        }
        if out[start..].ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        if out.len() == start {
            // An empty message: a single empty stored block (RFC 7692 §7.2.3.6).
            out.push(0x00);
        }
        if !self.takeover {
            self.inner.reset();
        }
    }
}
