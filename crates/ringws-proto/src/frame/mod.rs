//! Frames (RFC 6455 §5): the opcode, the header codec, and the streaming decoder.

mod decoder;
mod header;
mod opcode;

pub use decoder::{DEFAULT_MAX_FRAME_SIZE, FrameDecoder, FramePart};
pub use header::{FrameHeader, MAX_HEADER_LEN, RSV1, RSV2, RSV3, write_frame, write_frame_with};
pub use opcode::OpCode;

#[cfg(test)]
mod tests;
