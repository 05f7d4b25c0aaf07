//! The provided-buffer ring: receive buffers the kernel picks from when data arrives, so an idle
//! connection holds no buffer at all.
//!
//! Two mmap'd regions: the ring of `io_uring_buf` entries (shared with the kernel) and the buffer
//! memory. A buffer id is lent to the driver by a receive completion and must come back with
//! [`BufRing::recycle`] as soon as its bytes are consumed.

use io_uring::IoUring;
use io_uring::types::BufRingEntry;
use std::io;
use std::mem::offset_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// A registered provided-buffer ring.
///
/// It keeps its own descriptor of the io_uring it is registered with, so that dropping it
/// unregisters the group before unmapping the buffers, whatever else still holds the ring open
/// (a mailbox's duplicate, receives in flight): once unregistered, the kernel can pick no buffer
/// from it, so it never writes into the unmapped memory. If unregistering fails, the memory is
/// leaked rather than unmapped.
#[derive(Debug)]
pub(crate) struct BufRing {
    /// A duplicate of the ring's descriptor, for unregistering at drop.
    uring: OwnedFd,
    bgid: u16,
    /// `entries` ring entries, page-aligned (mmap), registered under `bgid`. Invariant: valid for
    /// reads and writes until `Drop`.
    ring: NonNull<BufRingEntry>,
    ring_bytes: usize,
    /// `entries * buf_size` bytes of buffer memory. Invariant: valid until `Drop`; buffer `bid`
    /// is `[bid * buf_size, (bid + 1) * buf_size)`.
    bufs: NonNull<u8>,
    bufs_bytes: usize,
    /// Number of entries: a power of two, at most 32768.
    entries: u16,
    /// The size of one buffer in bytes.
    buf_size: u32,
    /// Our copy of the tail; published to the kernel by `publish`.
    tail: u16,
    /// Which buffer ids the kernel has lent out and the driver has not recycled yet. The only
    /// buffers `take` hands out; the kernel never writes to them until they are recycled.
    held: Vec<bool>,
    held_count: usize,
    /// The buffer id last placed at each ring index, and the ring index of each buffer id: a
    /// bundle receive names its first buffer only, and the rest follow in ring order.
    bid_at: Vec<u16>,
    pos_of: Vec<u16>,
    /// Live loans of each buffer (`crate::loan`): a buffer with loans is recycled only when its
    /// last loan ends. `lent_buffers` counts the buffers with any.
    loans: Vec<u16>,
    lent_buffers: usize,
    /// Unique in the process: loans name their ring by it.
    uid: u64,
}

static NEXT_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl BufRing {
    /// Maps and registers a ring of `entries` buffers of `buf_size` bytes under group `bgid`,
    /// and gives every buffer to the kernel.
    ///
    /// # Errors
    /// `entries` not a power of two or over 32768; mmap or registration failing.
    pub(crate) fn new(uring: &IoUring, bgid: u16, entries: u16, buf_size: u32) -> io::Result<Self> {
        if !entries.is_power_of_two() || entries > 32768 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "buffer ring entries must be a power of two up to 32768",
            ));
        }
        let ring_bytes = usize::from(entries) * size_of::<BufRingEntry>();
        let bufs_bytes = usize::from(entries) * buf_size as usize;
        let uring_fd = dup(uring.as_raw_fd())?;
        let ring = map(ring_bytes)?;
        let bufs = match map(bufs_bytes) {
            Ok(b) => b,
            Err(e) => {
                unmap(ring, ring_bytes);
                return Err(e);
            }
        };
        let mut this = Self {
            uring: uring_fd,
            bgid,
            ring: ring.cast(),
            ring_bytes,
            bufs,
            bufs_bytes,
            entries,
            buf_size,
            tail: 0,
            held: vec![true; usize::from(entries)],
            held_count: usize::from(entries),
            bid_at: vec![0; usize::from(entries)],
            pos_of: vec![0; usize::from(entries)],
            loans: vec![0; usize::from(entries)],
            lent_buffers: 0,
            uid: NEXT_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        // SAFETY: `ring` is page-aligned (mmap) and holds `entries` entries that stay mapped
        // until `Drop`, which unregisters the group before unmapping them (see type docs).
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                ring.as_ptr() as u64,
                entries,
                bgid,
                0,
            )?;
        }
        for bid in 0..entries {
            this.recycle(bid);
        }
        this.publish();
        Ok(this)
    }

    /// How many buffers the ring has.
    pub(crate) fn capacity(&self) -> usize {
        usize::from(self.entries)
    }

    /// How many buffers the driver holds (lent by the kernel, not yet recycled).
    pub(crate) fn held(&self) -> usize {
        self.held_count
    }

    /// Takes the buffer a completion named, with the `len` bytes the kernel wrote. `None` if the
    /// id is out of range or already held (which a correct kernel never does).
    pub(crate) fn take(&mut self, bid: u16, len: usize) -> Option<&mut [u8]> {
        let slot = self.held.get_mut(usize::from(bid))?;
        if *slot || len > self.buf_size as usize {
            return None;
        }
        *slot = true;
        self.held_count += 1;
        let offset = usize::from(bid) * self.buf_size as usize;
        // SAFETY: `bid < entries`, so `offset + len <= bufs_bytes` (len <= buf_size): the pointer
        // stays inside the mapping.
        let start = unsafe { self.bufs.as_ptr().add(offset) };
        // SAFETY: `start..start + len` is inside the mapping; the kernel lent this buffer (it
        // completed a receive into it) and will not touch it until `recycle`, and `held` makes
        // sure no second slice to it exists: `take` refuses an id that is already held.
        Some(unsafe { std::slice::from_raw_parts_mut(start, len) })
    }

    /// The buffers a receive of `len` bytes starting in buffer `first` filled, with their
    /// lengths, in order: one for a plain receive, several for a bundle (the kernel fills whole
    /// buffers in ring order). Appended to `out`; read them all before recycling any.
    pub(crate) fn pieces(&self, first: u16, len: usize, out: &mut Vec<(u16, usize)>) {
        let size = self.buf_size as usize;
        let start = usize::from(self.pos_of.get(usize::from(first)).copied().unwrap_or(0));
        let mask = usize::from(self.entries - 1);
        let mut remaining = len;
        let mut k = 0;
        while remaining > 0 && k < usize::from(self.entries) {
            let bid = if k == 0 { first } else { self.bid_at[(start + k) & mask] };
            let piece = remaining.min(size);
            out.push((bid, piece));
            remaining -= piece;
            k += 1;
        }
    }

    /// This ring's process-unique id.
    pub(crate) fn uid(&self) -> u64 {
        self.uid
    }

    /// Whether one more buffer may be lent to sends: half the ring stays for receives, so
    /// connections whose sends wait (a slow reader) cannot starve the others' receives.
    pub(crate) fn may_lend(&self) -> bool {
        self.lent_buffers < usize::from(self.entries) / 2
    }

    /// Counts `n` loans made of held buffer `bid` (`crate::loan::Loan::new`'s contract).
    pub(crate) fn lend(&mut self, bid: u16, n: u16) {
        let Some(count) = self.loans.get_mut(usize::from(bid)) else { return };
        if n == 0 || !self.held[usize::from(bid)] {
            return;
        }
        if *count == 0 {
            self.lent_buffers += 1;
        }
        *count = count.saturating_add(n);
    }

    /// One loan of `bid` ended; the last one gives the buffer back. A lent buffer was always
    /// consumed first: loans are repaid between turns, after the receive that lent it recycled
    /// its buffers (which `recycle` left held while loans lived).
    pub(crate) fn repay(&mut self, bid: u16) {
        let Some(count) = self.loans.get_mut(usize::from(bid)) else { return };
        if *count == 0 {
            return;
        }
        *count -= 1;
        if *count == 0 {
            self.lent_buffers -= 1;
            self.recycle(bid);
        }
    }

    /// Gives a held buffer back to the kernel (visible after [`BufRing::publish`]), or, while
    /// sends hold loans of it, leaves it held for the last repayment. Ignores an id that is not
    /// held.
    pub(crate) fn recycle(&mut self, bid: u16) {
        let Some(slot) = self.held.get_mut(usize::from(bid)) else { return };
        if !*slot {
            return;
        }
        if self.loans[usize::from(bid)] > 0 {
            return;
        }
        *slot = false;
        self.held_count -= 1;
        let index = usize::from(self.tail & (self.entries - 1));
        self.bid_at[index] = bid;
        self.pos_of[usize::from(bid)] = index as u16;
        // `bid < entries`, so the address is inside `bufs`.
        let addr = self.bufs.as_ptr() as u64 + u64::from(bid) * u64::from(self.buf_size);
        // `index < entries`, so this names an entry inside the mapped ring, aligned for it. It is
        // written field by field through raw pointers, never a reference: entry 0's last field is
        // the shared tail the kernel reads, so a `&mut` to that entry would claim exclusive access
        // to memory the kernel reads concurrently, and the tail is not ours to write here.
        let entry = self.ring.as_ptr().wrapping_add(index).cast::<u8>();
        let field = |offset: usize| entry.wrapping_add(offset);
        // The kernel reads only entries between its head and the published tail; this one is past
        // the published tail, so no read of it is in progress.
        // SAFETY: a field of a valid, aligned entry of the mapped ring, not being read (above).
        unsafe { field(offset_of!(RawEntry, addr)).cast::<u64>().write(addr) };
        // SAFETY: as above.
        unsafe { field(offset_of!(RawEntry, len)).cast::<u32>().write(self.buf_size) };
        // SAFETY: as above.
        unsafe { field(offset_of!(RawEntry, bid)).cast::<u16>().write(bid) };
        self.tail = self.tail.wrapping_add(1);
    }

    /// Gives back a buffer that a completion lent and nobody read (its connection was gone):
    /// `recycle` alone ignores it, since it only takes back what `take` handed out, and the
    /// buffer would never return to the kernel.
    pub(crate) fn release_unread(&mut self, bid: u16) {
        if self.take(bid, 0).is_some() {
            self.recycle(bid);
        }
    }

    /// Publishes recycled buffers to the kernel.
    pub(crate) fn publish(&mut self) {
        // SAFETY: `ring` points at entry 0 of the mapped, initialised ring (the function's
        // requirement); it only computes the address of the tail field.
        let tail = unsafe { BufRingEntry::tail(self.ring.as_ptr()) };
        // SAFETY: the tail field lives in entry 0's reserved bytes of the mapped ring, valid and
        // 2-byte aligned; the kernel reads it concurrently, hence the atomic store.
        let tail = unsafe { &*(tail as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if let Err(e) = unregister(&self.uring, self.bgid) {
            // The kernel may still pick these buffers: leaking them is the only safe choice.
            eprintln!(
                "ringws-uring: unregistering a buffer ring failed ({e}); its memory is leaked"
            );
            return;
        }
        unmap(self.ring.cast(), self.ring_bytes);
        unmap(self.bufs, self.bufs_bytes);
    }
}

/// The kernel's `struct io_uring_buf` (one ring entry); the `io-uring` crate's `BufRingEntry`
/// is written only through `&mut`, which this module avoids (see `recycle`).
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    /// The ring's tail, in entry 0.
    resv: u16,
}

/// The kernel's `struct io_uring_buf_reg`.
#[repr(C)]
struct BufReg {
    ring_addr: u64,
    ring_entries: u32,
    bgid: u16,
    flags: u16,
    resv: [u64; 3],
}

const _: () = assert!(size_of::<RawEntry>() == size_of::<BufRingEntry>());
const _: () = assert!(size_of::<BufReg>() == 40);

/// IORING_UNREGISTER_PBUF_RING; done by hand because the `io-uring` crate offers it only
/// through an `IoUring`, and the buffer ring must outlive (or not depend on) that value.
fn unregister(uring: &OwnedFd, bgid: u16) -> io::Result<()> {
    const IORING_UNREGISTER_PBUF_RING: libc::c_uint = 23;
    let reg = BufReg { ring_addr: 0, ring_entries: 0, bgid, flags: 0, resv: [0; 3] };
    // SAFETY: a register call on a descriptor we own, with a pointer to a live, initialised
    // io_uring_buf_reg and a count of one; the kernel only reads it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            uring.as_raw_fd(),
            IORING_UNREGISTER_PBUF_RING,
            &reg as *const BufReg,
            1,
        )
    };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

fn dup(fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor the caller keeps open; the result is checked.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

fn map(len: usize) -> io::Result<NonNull<u8>> {
    // SAFETY: an anonymous private mapping with no address hint; the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))
}

fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `ptr`/`len` describe a mapping made by `map` and not unmapped before.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::{cqueue, opcode, types};
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// Receives once into the one-buffer ring from `fd`: the completion's result and buffer id.
    fn recv_once(ring: &mut IoUring, fd: i32) -> (i32, Option<u16>) {
        let entry = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), 0)
            .buf_group(0)
            .build()
            .flags(io_uring::squeue::Flags::BUFFER_SELECT);
        // SAFETY: the receive names no memory of ours: the kernel picks a buffer from the
        // registered ring, which outlives the wait below.
        unsafe { ring.submission().push(&entry).unwrap() };
        ring.submit_and_wait(1).unwrap();
        let cqe = ring.completion().next().unwrap();
        (cqe.result(), cqueue::buffer_select(cqe.flags()))
    }

    #[test]
    fn a_lent_buffer_nobody_read_goes_back_to_the_kernel() {
        let mut ring = IoUring::new(8).unwrap();
        let mut bufs = BufRing::new(&ring, 0, 1, 64).unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"one").unwrap();
        let (res, bid) = recv_once(&mut ring, b.as_raw_fd());
        assert_eq!(res, 3);
        // The connection this was for is gone: nobody takes the bytes.
        bufs.release_unread(bid.unwrap());
        bufs.publish();
        assert_eq!(bufs.held(), 0);
        a.write_all(b"two").unwrap();
        let (res, _) = recv_once(&mut ring, b.as_raw_fd());
        assert_eq!(res, 3, "the only buffer is back in the ring (not -ENOBUFS)");
        drop(ring);
    }

    #[test]
    fn a_buffer_lent_to_sends_returns_after_its_last_loan() {
        let mut ring = IoUring::new(8).unwrap();
        let mut bufs = BufRing::new(&ring, 0, 2, 64).unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        a.write_all(b"one").unwrap();
        let (res, bid) = recv_once(&mut ring, b.as_raw_fd());
        let bid = bid.unwrap();
        assert_eq!(res, 3);
        assert!(bufs.take(bid, 3).is_some());
        assert!(bufs.may_lend(), "one of two buffers may go to sends");
        bufs.lend(bid, 2);
        assert!(!bufs.may_lend(), "the other stays for receives");
        bufs.recycle(bid); // consumed, but two sends still name it
        bufs.publish();
        assert_eq!(bufs.held(), 1);
        bufs.repay(bid);
        assert_eq!(bufs.held(), 1, "one loan left");
        bufs.repay(bid);
        bufs.publish();
        assert_eq!(bufs.held(), 0, "the last loan gave it back");
        assert!(bufs.may_lend());
        bufs.repay(bid); // a stray repayment changes nothing
        assert_eq!(bufs.held(), 0);
        drop(ring);
    }

    #[test]
    fn dropped_before_its_ring_it_unregisters_first() {
        let mut ring = IoUring::new(8).unwrap();
        let bufs = BufRing::new(&ring, 3, 2, 64).unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        drop(bufs); // the ring lives on, with the group gone
        a.write_all(b"late").unwrap();
        let entry = opcode::Recv::new(types::Fd(b.as_raw_fd()), std::ptr::null_mut(), 0)
            .buf_group(3)
            .build()
            .flags(io_uring::squeue::Flags::BUFFER_SELECT);
        // SAFETY: the receive names no memory of ours; its group is no longer registered.
        unsafe { ring.submission().push(&entry).unwrap() };
        ring.submit_and_wait(1).unwrap();
        let res = ring.completion().next().unwrap().result();
        assert_eq!(res, -libc::ENOBUFS, "no buffer can be picked from the dropped ring");
    }
}
