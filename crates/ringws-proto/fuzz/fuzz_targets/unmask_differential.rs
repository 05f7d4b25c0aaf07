//! The fast unmask against the byte-at-a-time reference, at any length, offset and phase, and
//! split at any point: the bytes must be identical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringws_proto::mask::{unmask, unmask_scalar};

fuzz_target!(|input: (([u8; 4], u8, u8, u16), Vec<u8>)| {
    let ((key, phase, offset, cut), mut data) = input;
    let phase = usize::from(phase & 3);
    let offset = usize::from(offset).min(data.len());
    let data = &mut data[offset..];
    let mut expected = data.to_vec();
    let end_phase = unmask_scalar(&mut expected, key, phase);
    let cut = usize::from(cut).min(data.len());
    let (a, b) = data.split_at_mut(cut);
    let mid = unmask(a, key, phase);
    assert_eq!(unmask(b, key, mid), end_phase);
    assert_eq!(&*data, &expected[..]);
});
