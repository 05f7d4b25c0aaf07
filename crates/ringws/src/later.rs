//! Deferred upgrades: `on_upgrade_later` may keep the request's [`Later`] and answer from any
//! thread (a tokio task that checked a token with another service), so a slow authentication
//! never blocks the I/O core. The connection waits in its handshake meanwhile; if no answer comes
//! within the handshake timeout it gets 503, and a client that leaves first is reported
//! ([`Later::client_gone`], and an answer then returns `NotConnected`).

use std::any::Any;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringws_uring::ConnId;

use crate::answer::{Accept, Answer, Reject};
use crate::mailbox::EngineMsg;

/// What the engine and a [`Later`] share about one deferred upgrade.
#[derive(Debug, Default)]
pub(crate) struct LaterState {
    /// The handler kept its `Later`: the answer comes through it.
    pub(crate) deferred: AtomicBool,
    /// An answer was sent.
    answered: AtomicBool,
    /// The connection closed (client gone, or timed out) before an answer.
    pub(crate) gone: AtomicBool,
}

/// An upgrade to answer later, from any thread: [`Later::accept`] or [`Later::reject`]. Dropped
/// unanswered after the handler deferred, it refuses the upgrade with 500.
pub struct Later<D> {
    conn: ConnId,
    handle: ringws_uring::Poster<EngineMsg>,
    state: Arc<LaterState>,
    _data: PhantomData<fn(D)>,
}

impl<D> std::fmt::Debug for Later<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Later").field("conn", &self.conn).finish()
    }
}

impl<D> Later<D> {
    pub(crate) fn new(
        conn: ConnId,
        handle: ringws_uring::Poster<EngineMsg>,
        state: Arc<LaterState>,
    ) -> Self {
        Self { conn, handle, state, _data: PhantomData }
    }

    /// The connection this upgrade is for.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Whether the client left (or the handshake timed out) before an answer.
    pub fn client_gone(&self) -> bool {
        self.state.gone.load(Ordering::Acquire)
    }

    fn send(&self, answer: Answer) -> io::Result<()> {
        if self.state.answered.swap(true, Ordering::AcqRel) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "already answered"));
        }
        if self.client_gone() {
            let why = "the client left (or the handshake timed out) before the answer";
            return Err(io::Error::new(io::ErrorKind::NotConnected, why));
        }
        let msg = EngineMsg::Upgrade { conn: self.conn, answer };
        self.handle.post(usize::from(self.conn.worker()), msg)
    }

    /// Refuses the upgrade with the rejection's status, headers and body.
    ///
    /// # Errors
    /// `NotConnected` if the client is gone; the worker could not be woken.
    pub fn reject(self, reject: Reject) -> io::Result<()> {
        self.send(Answer(Err(reject)))
    }
}

impl<D: Send + 'static> Later<D> {
    /// Accepts the upgrade: the 101 goes out on the connection's worker, then `on_open`.
    ///
    /// # Errors
    /// `NotConnected` if the client is gone; the worker could not be woken.
    pub fn accept(self, accept: Accept<D>) -> io::Result<()> {
        let Accept { data, protocol, headers } = accept;
        let data: Box<dyn Any + Send> = Box::new(data);
        self.send(Answer(Ok(Accept { data, protocol, headers })))
    }
}

impl<D> Drop for Later<D> {
    fn drop(&mut self) {
        let deferred = self.state.deferred.load(Ordering::Acquire);
        if deferred && !self.state.answered.load(Ordering::Acquire) && !self.client_gone() {
            let reject = Reject::new(500, "the upgrade was dropped unanswered");
            let _ = self.send(Answer(Err(reject)));
        }
    }
}
