//! Messages between workers: a queue per worker, woken with one ring message (msg_ring) when it
//! goes from empty to non-empty, so a burst of posts costs one wakeup.

use io_uring::{IoUring, opcode, squeue, types};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::slot::{OpKind, UserData};

/// One worker's inbox.
#[derive(Debug)]
pub(crate) struct Mailbox<M> {
    queue: Mutex<Vec<M>>,
    /// Set by the first post after a drain; whoever sets it sends the wakeup.
    pending: AtomicBool,
    /// A duplicate of the worker's home ring descriptor: keeps that ring alive for senders.
    ring_fd: OnceLock<OwnedFd>,
    /// The worker has stopped: posts are refused, not queued for nobody.
    closed: AtomicBool,
}

impl<M> Mailbox<M> {
    pub(crate) fn new() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            ring_fd: OnceLock::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// The worker stopped (cleanly or not).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn set_ring_fd(&self, fd: OwnedFd) {
        let _ = self.ring_fd.set(fd);
    }

    /// Queues `msg`; returns the ring to wake if this post must send the wakeup.
    pub(crate) fn push(&self, msg: M) -> Option<i32> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(msg);
        if self.pending.swap(true, Ordering::AcqRel) {
            None
        } else {
            self.ring_fd.get().map(AsRawFd::as_raw_fd)
        }
    }

    /// Takes everything queued. Clears `pending` first, so a post racing with the drain either
    /// lands in this batch or sends a new wakeup.
    pub(crate) fn drain(&self, into: &mut Vec<M>) {
        self.pending.store(false, Ordering::Release);
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut queue);
    }
}

/// The SQE that wakes the worker whose home ring is `ring_fd`.
pub(crate) fn wake_entry(ring_fd: i32) -> squeue::Entry {
    let ud = UserData::new(OpKind::Mailbox, 0, 0, 0).to_u64();
    opcode::MsgRingData::new(types::Fd(ring_fd), 0, ud, None)
        .build()
        .flags(squeue::Flags::SKIP_SUCCESS)
        .user_data(UserData::new(OpKind::MsgSent, 0, 0, 0).to_u64())
}

/// Posts to workers from any thread (an embedding application's tokio task, a signal handler
/// thread). Cheap to clone.
pub struct Remote<M> {
    pub(crate) boxes: Arc<[Arc<Mailbox<M>>]>,
    /// A small ring of its own, used to send msg_ring from threads that have none.
    waker: Arc<Mutex<Option<IoUring>>>,
}

impl<M> std::fmt::Debug for Remote<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("workers", &self.boxes.len()).finish()
    }
}

impl<M> Clone for Remote<M> {
    fn clone(&self) -> Self {
        Self { boxes: self.boxes.clone(), waker: self.waker.clone() }
    }
}

impl<M: Send> Remote<M> {
    pub(crate) fn new(boxes: Arc<[Arc<Mailbox<M>>]>) -> Self {
        Self { boxes, waker: Arc::new(Mutex::new(None)) }
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.boxes.len()
    }

    /// Sends `msg` to `worker`'s `on_message`.
    ///
    /// # Errors
    /// No such worker, or the wakeup could not be submitted.
    pub fn post(&self, worker: usize, msg: M) -> io::Result<()> {
        let mailbox = self
            .boxes
            .get(worker)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no such worker"))?;
        if mailbox.is_closed() {
            let stopped = format!("worker {worker} has stopped: the message was not delivered");
            return Err(io::Error::new(io::ErrorKind::NotConnected, stopped));
        }
        let Some(fd) = mailbox.push(msg) else { return Ok(()) };
        let mut guard = self.waker.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(IoUring::new(8)?);
        }
        let Some(ring) = guard.as_mut() else { return Ok(()) };
        // Completions only report failures (SKIP_SUCCESS); drop them so the CQ never fills.
        ring.completion().for_each(drop);
        let entry = wake_entry(fd);
        // SAFETY: a msg_ring SQE names no memory of ours, only the target ring's descriptor,
        // which the mailbox keeps open (a duplicate) for as long as it exists.
        unsafe {
            ring.submission().push(&entry).map_err(|_| io::Error::other("waker ring full"))?;
        }
        ring.submit()?;
        Ok(())
    }
}
