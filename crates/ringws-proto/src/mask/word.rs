//! The fast path, in safe code: the key repeated to 32 bytes and XORed a whole chunk at a time.
//!
//! The inner loop over fixed-size arrays compiles to vector XORs without any intrinsics (SSE2 is
//! in the x86_64 baseline). `docs/benchmarks.md` records the measurement that decided against
//! hand-written AVX2.

use super::{rotate, unmask_scalar};

const CHUNK: usize = 32;

/// Same contract as [`super::unmask`], for any length.
#[inline]
pub fn unmask_words(buf: &mut [u8], key: [u8; 4], phase: usize) -> usize {
    let key = rotate(key, phase);
    let lane = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut wide = [0u8; CHUNK];
    for part in wide.as_chunks_mut::<8>().0 {
        *part = lane.to_ne_bytes();
    }
    let (chunks, tail) = buf.as_chunks_mut::<CHUNK>();
    for chunk in chunks {
        for i in 0..CHUNK {
            chunk[i] ^= wide[i];
        }
    }
    // Every chunk is a multiple of 4 bytes long, so the tail starts at key byte 0 of `key`.
    unmask_scalar(tail, key, 0);
    (phase + buf.len()) & 3
}
