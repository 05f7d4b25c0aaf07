//! `ringws-uring`: the thread-per-core io_uring driver of ringws, and the only crate with real
//! `unsafe` code (see `docs/unsafe.md`).
//!
//! Each worker is a pinned thread that drives one or more rings: multishot accept into direct
//! descriptors (no regular descriptor per connection), multishot receive into a provided-buffer
//! ring (an idle connection holds no buffer), vectored sends batched once per loop turn, a timer
//! wheel, and a mailbox woken by ring messages. It knows nothing about WebSocket: a [`Handler`]
//! gets bytes in and queues [`Chunk`]s out.
//!
//! The connection ceiling is not RLIMIT_NOFILE: a ring's fixed-file table is capped at the soft
//! limit, so a worker drives as many rings as its share of `max_connections` needs.
#![doc(test(attr(deny(warnings))))]

pub mod bufring;
mod chunk;
mod mailbox;
mod occupancy;
pub mod ring;
mod server;
pub mod slot;
pub mod sys;
pub mod timer;
mod worker;

pub use chunk::Chunk;
pub use mailbox::Remote;
pub use ring::{Features, RingConfig};
pub use server::{Config, Server, ServerHandle, WorkerInfo};
pub use slot::ConnId;
pub use worker::{CloseCause, Counters, ExitReport, Handler, Io};
