//! The inflate path of permessage-deflate on arbitrary input, with the bomb oracle: whatever
//! the bytes, inflation ends in a message within the limit, 1009, or invalid data (1007),
//! never a panic, and the output never holds more than the limit and one step. The first byte
//! cuts the input into two pieces (two frames of one message).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringws_proto::Error;
use ringws_proto::deflate::Inflater;

const LIMIT: u64 = 64 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else { return };
    let (a, b) = data.split_at(usize::from(cut).min(data.len()));
    let mut inflater = Inflater::new(false);
    let mut out = Vec::new();
    match inflater.inflate(&[a, b], LIMIT, &mut out) {
        Ok(()) => assert!(out.len() as u64 <= LIMIT),
        Err(Error::MessageTooLarge { .. } | Error::InvalidCompressedData) => assert!(out.is_empty()),
        Err(other) => panic!("unexpected error {other:?}"),
    }
    assert!(out.capacity() as u64 <= LIMIT + (32 << 10), "held {}", out.capacity());
    // The inflater serves the next message after any outcome.
    let mut again = Vec::new();
    inflater.inflate(&[&[0x00]], LIMIT, &mut again).unwrap();
});
