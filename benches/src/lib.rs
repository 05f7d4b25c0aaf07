//! Criterion benchmarks for ringws live in `benches/`; run them with
//! `cargo bench -p ringws-benches`. This library only holds inputs they share.
#![forbid(unsafe_code)]

use ringws_proto::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use ringws_proto::mask::unmask_scalar;

/// The bytes of one masked frame as a client sends it.
pub fn masked_frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut header = FrameHeader::new(opcode, payload.len() as u64);
    header.masking_key = Some(key);
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    out.extend_from_slice(payload);
    unmask_scalar(&mut out[n..], key, 0);
    out
}
