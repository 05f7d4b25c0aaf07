//! The byte-at-a-time reference. Slow and obviously right: every fast path is tested against it.

/// XORs each byte with the key byte its position selects, starting at key byte `phase`.
/// Returns the phase for the bytes that follow.
pub fn unmask_scalar(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(phase + i) & 3];
    }
    (phase + buf.len()) & 3
}
