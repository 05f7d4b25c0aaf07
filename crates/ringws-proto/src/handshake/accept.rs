//! `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::fmt;

/// The GUID every WebSocket server appends to the client's key.
pub const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A `Sec-WebSocket-Accept` value: 28 ASCII bytes, no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AcceptKey([u8; 28]);

impl AcceptKey {
    /// Computes the accept value for a client's `Sec-WebSocket-Key` (as sent, base64).
    pub fn from_key(key: &[u8]) -> Self {
        let mut sha = sha1_smol::Sha1::new();
        sha.update(key);
        sha.update(GUID);
        let digest = sha.digest().bytes();
        let mut out = [0u8; 28];
        // 20 bytes always encode to exactly 28 base64 characters, so this cannot fail.
        let written = STANDARD.encode_slice(digest, &mut out).unwrap_or(0);
        debug_assert_eq!(written, 28);
        Self(out)
    }

    /// The value as text.
    pub fn as_str(&self) -> &str {
        // Base64 output is ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The value as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AcceptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcceptKey({})", self.as_str())
    }
}
