//! The fast path, in safe code: the key repeated to 32 bytes and XORed a whole chunk at a time.
//!
//! The inner loop over fixed-size arrays compiles to vector XORs without any intrinsics (SSE2 is
//! in the x86_64 baseline). `docs/benchmarks.md` records the measurement that decided against
//! hand-written AVX2.

use super::{rotate, unmask_scalar};

const CHUNK: usize = 32;

/// Same contract as [`super::unmask`], for any length.
pub fn unmask_words(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let key = rotate(key, phase);
    let mut wide = [0u8; CHUNK];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i & 3];
    }
    let mut chunks = buf.chunks_exact_mut(CHUNK);
    for chunk in &mut chunks {
        for (byte, k) in chunk.iter_mut().zip(wide.iter()) {
            *byte ^= k;
        }
    }
    // Every chunk is a multiple of 4 bytes long, so the tail starts at key byte 0 of `key`.
    let tail = chunks.into_remainder();
    unmask_scalar(tail, key, 0);
    (phase + buf.len()) & 3
}
