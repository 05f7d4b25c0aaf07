//! The way out of a generator thread: frames masked with a fresh key each (RFC 6455 §5.3), and
//! sealed into TLS records on a wss:// connection.

use bytes::Bytes;
use ringws_proto::OpCode;
use ringws_proto::frame::{FrameHeader, write_frame_with};
use ringws_uring::{Chunk, ConnId, Io};
use rustc_hash::FxHashMap as HashMap;

use crate::tls::ClientTls;

/// Sends one frame masked with the next key from `seed` (RFC 6455 §5.3); `rsv`: RSV1 for a
/// compressed message.
pub(crate) fn send_masked(
    io: &mut Io<'_, ()>,
    wire: &mut Wire,
    conn: ConnId,
    opcode: OpCode,
    rsv: u8,
    payload: &[u8],
) -> bool {
    let seed = &mut wire.mask_seed;
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;
    let key = Some(seed.to_ne_bytes());
    let header = FrameHeader { rsv, masking_key: key, ..FrameHeader::new(opcode, 0) };
    let mut frame = Vec::new();
    write_frame_with(&mut frame, &header, payload);
    wire.send(io, conn, frame)
}

/// The way out of a generator thread: the masking keys, and each wss:// connection's TLS
/// session, which seals what is sent.
pub(crate) struct Wire {
    pub(crate) mask_seed: u32,
    pub(crate) sessions: HashMap<u64, Box<ClientTls>>,
}

impl Wire {
    /// Sends `bytes` on `conn`: as they are, or sealed on a wss:// connection (before its
    /// handshake is done rustls keeps them and sends them after). Whether the connection is
    /// still there.
    pub(crate) fn send(&mut self, io: &mut Io<'_, ()>, conn: ConnId, bytes: Vec<u8>) -> bool {
        let Some(tls) = self.sessions.get_mut(&conn.to_u64()) else {
            return io.send(conn, Chunk::Shared(Bytes::from(bytes))).is_some();
        };
        let mut out = Vec::new();
        tls.seal(&bytes, &mut out);
        out.is_empty() || io.send(conn, Chunk::Shared(Bytes::from(out))).is_some()
    }
}
