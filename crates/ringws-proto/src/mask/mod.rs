//! Masking and unmasking payloads (RFC 6455 §5.3), in place.
//!
//! The XOR is its own inverse, so one function masks and unmasks. A payload may be split over
//! several receive buffers, so every function takes the *phase*: the index of the key byte that
//! applies to `buf[0]` (the payload offset modulo 4), and returns the phase for the next piece.
//!
//! [`unmask_scalar`] is the byte-at-a-time reference, kept forever as the test oracle; [`unmask`]
//! is the fast path (see `docs/benchmarks.md` for why it is written the way it is).

mod scalar;
mod word;

pub use scalar::unmask_scalar;
pub use word::unmask_words;

/// XORs `buf` with the masking key, starting at key byte `phase` (taken modulo 4), and returns
/// the phase for the bytes that follow `buf`.
///
/// This is the fast path; it gives exactly the same bytes as [`unmask_scalar`].
///
/// ```
/// use ringws_proto::mask::unmask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut wire = *b"\x7f\x9f\x4d\x51\x58"; // "Hello" masked, RFC 6455 §5.7
/// let phase = unmask(&mut wire[..2], key, 0);
/// unmask(&mut wire[2..], key, phase);
/// assert_eq!(&wire, b"Hello");
/// ```
#[inline]
pub fn unmask(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    // Below two chunks the setup of the wide key costs more than it saves (see benchmarks.md).
    if buf.len() < 64 { unmask_scalar(buf, key, phase) } else { unmask_words(buf, key, phase) }
}

/// The masking key rotated so that its first byte is the one that applies at `phase`.
#[inline]
fn rotate(key: [u8; 4], phase: usize) -> [u8; 4] {
    let mut k = u32::from_be_bytes(key);
    k = k.rotate_left(8 * (phase as u32 & 3));
    k.to_be_bytes()
}

#[cfg(test)]
mod tests;
