//! Receive buffers lent to sends: a large message echoed or relayed from the buffer it arrived in
//! ([`crate::Io::send_received`]), so its bytes are copied once, by the kernel, instead of twice.
//!
//! A [`Loan`] names bytes of one provided buffer. While any loan of a buffer lives, the buffer
//! is not given back to the kernel, so nothing writes into the bytes a send names; when the last
//! loan drops (its send completed, or the connection was torn down and its queue cleared), the
//! buffer goes back. A loan can drop anywhere a chunk drops, so it reports its end to a
//! per-thread list that its worker drains each turn (the worker owns the buffer ring; a chunk
//! cannot reach it). A worker and its chunks live on one thread.

use std::cell::RefCell;

/// Below this a message is copied: a copy of a few KiB costs less than holding a buffer.
pub(crate) const LEND_MIN: usize = 4096;

thread_local! {
    /// Loans that ended on this thread: (buffer ring, ring index, buffer id).
    static ENDED: RefCell<Vec<(u64, u8, u16)>> = const { RefCell::new(Vec::new()) };
}

/// Bytes of a receive buffer, held out of the kernel's reach until this drops. Only the driver
/// makes one (its fields are private), and it never leaves the connection's send queue.
#[derive(Debug)]
pub struct Loan {
    /// The buffer ring's process-unique id, so a loan never returns a buffer to another ring.
    ring_uid: u64,
    ring: u8,
    bid: u16,
    addr: usize,
    len: usize,
}

impl Loan {
    /// A loan of `len` bytes at `addr`, in buffer `bid` of ring `ring` (unique id `ring_uid`).
    ///
    /// # Safety
    /// `addr..addr + len` must lie in that buffer, which the driver holds (the kernel lent it
    /// and it was not recycled), and the buffer must stay held, its memory mapped and unwritten,
    /// until this loan drops: the caller counts the loan in the buffer ring (`BufRing::lend`)
    /// before the worker next drains ended loans, and the ring outlives every chunk.
    pub(crate) unsafe fn new(ring_uid: u64, ring: u8, bid: u16, addr: usize, len: usize) -> Self {
        Self { ring_uid, ring, bid, addr, len }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `new`'s contract: the bytes lie in a held buffer that stays mapped and
        // unwritten (the kernel cannot pick it, the driver hands out no `&mut` to it) for as long
        // as this loan lives.
        // The address was exposed where the loan was made (`Io::send_received`).
        unsafe {
            std::slice::from_raw_parts(std::ptr::with_exposed_provenance(self.addr), self.len)
        }
    }

    pub(crate) fn advance(&mut self, n: usize) {
        let n = n.min(self.len);
        self.addr += n;
        self.len -= n;
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        let ended = (self.ring_uid, self.ring, self.bid);
        // At thread exit the list may be gone; so is the worker that would have drained it.
        let _ = ENDED.try_with(|list| list.borrow_mut().push(ended));
    }
}

/// Moves the loans that ended on this thread since the last call into `into`.
pub(crate) fn take_ended(into: &mut Vec<(u64, u8, u16)>) {
    ENDED.with(|list| into.append(&mut list.borrow_mut()));
}

/// The receive buffer being handed to `Handler::on_data`: what `Io::send_received` may lend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    pub(crate) ring_uid: u64,
    pub(crate) ring: u8,
    pub(crate) bid: u16,
    pub(crate) start: usize,
    pub(crate) len: usize,
    /// Whether the ring may hold one more buffer for sends (it keeps half for receives).
    pub(crate) may_lend: bool,
    /// Loans made of this buffer during this call.
    pub(crate) lent: u16,
}

impl Window {
    /// Whether `bytes` lie wholly inside this buffer and are worth lending.
    pub(crate) fn covers(&self, bytes: &[u8]) -> bool {
        let at = bytes.as_ptr() as usize;
        self.may_lend
            && self.lent < u16::MAX
            && bytes.len() >= LEND_MIN
            && at >= self.start
            && at + bytes.len() <= self.start + self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_covers_only_its_own_large_bytes() {
        let buf = vec![0u8; 3 * LEND_MIN];
        let w = Window {
            ring_uid: 1,
            ring: 0,
            bid: 0,
            start: buf[LEND_MIN..].as_ptr() as usize,
            len: 2 * LEND_MIN,
            may_lend: true,
            lent: 0,
        };
        assert!(w.covers(&buf[LEND_MIN..2 * LEND_MIN]));
        assert!(w.covers(&buf[2 * LEND_MIN..]));
        assert!(!w.covers(&buf[LEND_MIN..2 * LEND_MIN - 1]), "too small to lend");
        assert!(!w.covers(&buf[LEND_MIN - 1..2 * LEND_MIN]), "starts before the buffer");
        assert!(!w.covers(&buf[..]), "larger than the buffer");
        assert!(!Window { may_lend: false, ..w }.covers(&buf[LEND_MIN..2 * LEND_MIN]));
    }

    #[test]
    fn a_dropped_loan_is_reported_once() {
        let bytes = [7u8; 16];
        let at = bytes.as_ptr().expose_provenance();
        // SAFETY: `bytes` outlives the loan and nothing writes it (this test only reads).
        let mut loan = unsafe { Loan::new(42, 1, 3, at, bytes.len()) };
        loan.advance(10);
        assert_eq!(loan.as_slice(), &bytes[10..]);
        let mut ended = Vec::new();
        take_ended(&mut ended);
        assert!(ended.is_empty());
        drop(loan);
        take_ended(&mut ended);
        assert_eq!(ended, [(42, 1, 3)]);
        take_ended(&mut ended);
        assert_eq!(ended.len(), 1);
    }
}
