//! What other threads send a worker (through its driver mailbox, woken by msg_ring): sends,
//! closes and closures for one of its connections, publishes for its subscribers, the answers
//! to deferred upgrades.

use bytes::Bytes;
use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::sync::Arc;

use crate::answer::Answer;
use crate::sending::Compress;
use crate::websocket::Ctx;

/// Messages to a worker from other threads ([`crate::ServerHandle`]).
#[derive(Debug)]
pub enum EngineMsg {
    /// Send a message to a connection of this worker.
    Send {
        /// The connection.
        conn: ConnId,
        /// Text or binary.
        opcode: OpCode,
        /// The payload, shared.
        payload: Bytes,
        /// Whether it may go out compressed.
        compress: Compress,
    },
    /// Fan a publish out to this worker's subscribers (sent once per worker).
    Publish {
        /// The topic.
        topic: Arc<str>,
        /// The encoded frame, shared by every subscriber.
        frame: Bytes,
        /// May go out compressed to subscribers that negotiated permessage-deflate.
        compress: Compress,
    },
    /// The answer to a deferred upgrade ([`crate::Later`]).
    Upgrade {
        /// The connection.
        conn: ConnId,
        /// Accept or reject.
        answer: Answer,
    },
    /// Run a closure on a connection of this worker ([`crate::ServerHandle::run`]).
    Run {
        /// The connection.
        conn: ConnId,
        /// The closure.
        job: Job,
    },
    /// Close a connection of this worker.
    Close {
        /// The connection.
        conn: ConnId,
        /// The close code.
        code: u16,
        /// The reason.
        reason: String,
    },
}

/// A closure sent from another thread to run on a connection's worker
/// ([`crate::ServerHandle::run`]); opaque.
pub struct Job(pub(crate) Box<JobFn>);

/// What a [`Job`] runs: the connection's untyped parts, or `None` if it is gone.
pub(crate) type JobFn = dyn for<'a> FnOnce(Option<Ctx<'a>>) + Send;

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}
