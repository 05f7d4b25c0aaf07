//! Helpers shared by the unit tests: build frames as a peer would send them.

use crate::frame::{FrameHeader, MAX_HEADER_LEN, OpCode};
use crate::mask::unmask_scalar;

/// The bytes of one frame, masked with `key` when given (`fin` free, unlike `write_frame`).
pub(crate) fn frame(fin: bool, opcode: OpCode, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let header =
        FrameHeader { fin, rsv: 0, opcode, masking_key: key, payload_len: payload.len() as u64 };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = key {
        unmask_scalar(&mut out[start..], key, 0);
    }
    out
}

/// A frame as a client sends it (masked).
pub(crate) fn client_frame(fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    frame(fin, opcode, Some([0x12, 0x34, 0x56, 0x78]), payload)
}
