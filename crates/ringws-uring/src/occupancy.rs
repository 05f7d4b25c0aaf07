//! How full one ring's fixed-file table is: the live descriptors, the cap accepting stops at, and
//! whether the kernel said the table is full. Pure bookkeeping, tested without a kernel.

/// One ring's descriptor accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Occupancy {
    /// Descriptors in use: accepted or dialed connections whose close has not completed.
    live: u32,
    /// Accept no more beyond this many (the table size less a margin for connections a
    /// multishot accept takes from the backlog before its cancel lands).
    cap: u32,
    /// A direct accept failed with ENFILE: the table is full whatever `live` says (the margin
    /// was not enough). Cleared by the next close, which frees a descriptor.
    table_full: bool,
}

impl Occupancy {
    pub(crate) fn new(cap: u32) -> Self {
        Self { live: 0, cap, table_full: false }
    }

    /// Whether new connections must go to another ring.
    pub(crate) fn full(&self) -> bool {
        self.table_full || self.live >= self.cap
    }

    pub(crate) fn live(&self) -> u32 {
        self.live
    }

    /// A descriptor was taken (an accept completed, or a dial's socket is being made).
    pub(crate) fn opened(&mut self) {
        self.live += 1;
    }

    /// A descriptor was freed. Never below zero: a close without an open is a driver bug, and
    /// it must not wrap the count to four billion.
    pub(crate) fn closed(&mut self) {
        debug_assert!(self.live > 0, "a descriptor closed that was never counted open");
        self.live = self.live.saturating_sub(1);
        self.table_full = false;
    }

    /// A direct accept failed with ENFILE: the kernel already closed that connection.
    pub(crate) fn table_was_full(&mut self) {
        self.table_full = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enfile_marks_the_ring_full_without_losing_the_live_count() {
        // The old code set `live = cap` on ENFILE. With the table full, live was above cap (the
        // margin's worth of backlog accepted after the cancel was due), so the count dropped
        // below the truth and the closes that followed wrapped it below zero.
        let mut ring = Occupancy::new(8);
        for _ in 0..10 {
            ring.opened(); // 2 past the cap: the accept's cancel had not landed yet
        }
        ring.table_was_full();
        assert!(ring.full());
        for _ in 0..10 {
            ring.closed();
        }
        assert_eq!(ring.live(), 0, "every close counted against a real open");
        assert!(!ring.full());
    }

    #[test]
    fn a_close_after_enfile_makes_room_again() {
        let mut ring = Occupancy::new(100);
        ring.opened();
        ring.opened();
        ring.table_was_full();
        assert!(ring.full(), "under the cap, but the kernel said the table is full");
        ring.closed();
        assert!(!ring.full());
        assert_eq!(ring.live(), 1);
    }

    #[test]
    fn the_cap_stops_accepting() {
        let mut ring = Occupancy::new(2);
        ring.opened();
        assert!(!ring.full());
        ring.opened();
        assert!(ring.full());
    }
}
