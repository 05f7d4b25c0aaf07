//! What a send queue holds: small inline bytes (a frame header), a shared `Bytes` payload, or
//! bytes of the receive buffer they arrived in (a [`Loan`], made only by the driver).

use crate::loan::Loan;
use bytes::{Buf, Bytes};

const INLINE: usize = 22;

/// One piece of outgoing data. A WebSocket frame is typically two chunks: its 2..14-byte header
/// inline, and its payload as a shared `Bytes` that many connections may point at.
#[derive(Debug)]
pub enum Chunk {
    /// Up to 22 bytes stored in the chunk itself.
    Inline {
        /// The bytes; `start..end` are pending.
        buf: [u8; INLINE],
        /// First pending byte.
        start: u8,
        /// One past the last byte.
        end: u8,
    },
    /// A reference-counted buffer, never copied.
    Shared(Bytes),
    /// Bytes of a receive buffer, sent from where they arrived ([`crate::Io::send_received`]).
    Lent(Loan),
}

impl Clone for Chunk {
    /// A lent chunk clones into a copy of its bytes: the loan is its buffer's, once.
    fn clone(&self) -> Self {
        match self {
            Self::Inline { buf, start, end } => {
                Self::Inline { buf: *buf, start: *start, end: *end }
            }
            Self::Shared(b) => Self::Shared(b.clone()),
            Self::Lent(loan) => Self::Shared(Bytes::copy_from_slice(loan.as_slice())),
        }
    }
}

impl Chunk {
    /// Copies up to 22 bytes inline; `None` if `bytes` is longer.
    pub fn inline(bytes: &[u8]) -> Option<Self> {
        let mut buf = [0u8; INLINE];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self::Inline { buf, start: 0, end: bytes.len() as u8 })
    }

    /// The pending bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline { buf, start, end } => &buf[usize::from(*start)..usize::from(*end)],
            Self::Shared(b) => b,
            Self::Lent(loan) => loan.as_slice(),
        }
    }

    /// The number of pending bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Inline { start, end, .. } => usize::from(*end - *start),
            Self::Shared(b) => b.len(),
            Self::Lent(loan) => loan.len(),
        }
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the first `n` pending bytes (after a partial send).
    pub(crate) fn advance(&mut self, n: usize) {
        match self {
            Self::Inline { start, end, .. } => {
                *start = (usize::from(*start) + n).min(usize::from(*end)) as u8
            }
            Self::Shared(b) => b.advance(n.min(b.len())),
            Self::Lent(loan) => loan.advance(n),
        }
    }
}

impl From<Bytes> for Chunk {
    fn from(b: Bytes) -> Self {
        Self::Shared(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_shared_advance() {
        let mut c = Chunk::inline(b"hello").unwrap();
        c.advance(2);
        assert_eq!(c.as_slice(), b"llo");
        c.advance(10);
        assert!(c.is_empty());
        assert!(Chunk::inline(&[0; 23]).is_none());
        let mut s = Chunk::from(Bytes::from_static(b"payload"));
        s.advance(3);
        assert_eq!(s.as_slice(), b"load");
    }
}
