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
//!
//! # The data path, per worker
//! ```text
//!  SO_REUSEPORT listener (one per worker; refused if another server holds the address)
//!    └─ AcceptMulti ── direct descriptor in a ring with room ── slot = descriptor index
//!  home ring (0) ── wait (timeout = next timer tick) ──► completions of every ring
//!    ├─ Accept ── slot opened, multishot recv armed ──► Handler::on_open
//!    ├─ Recv ── provided buffer ──► Handler::on_data(&mut [u8]) ──► buffer back at once
//!    │          (or, lent to a send by Io::send_received, back when that send is done)
//!    ├─ Send ── partial? the rest goes back to the queue front ──► empty ──► Handler::on_drain
//!    ├─ Cancel / Close ── operations reach zero ──► Close ──► slot free ──► Handler::on_close
//!    ├─ Dial* ── Socket, Bind, SetSockOpt(TCP_NODELAY), Connect ──► Handler::on_connect
//!    └─ RingPoll (a sub-ring has completions) / Mailbox (msg_ring from another thread)
//!  end of turn: one send per dirty connection (Send for one chunk, SendMsg for several),
//!               receives re-armed after ENOBUFS, buffers published, accept moved to a ring
//!               with room; completions reaped while making room to submit wait for the next turn
//! ```
//!
//! Ownership rule: every buffer, iovec and msghdr a submission names lives in the connection
//! slot (or the send-op pool) until the completion arrives, and a slot is only reused after its
//! last operation completed, so no completion can ever see freed memory. A `ConnId` carries the
//! slot's generation: an id kept after close never reaches the next connection in that slot.
#![doc(test(attr(deny(warnings))))]

mod bufring;
mod chunk;
mod loan;
mod mailbox;
mod occupancy;
mod ring;
mod server;
mod slot;
pub mod sys;
mod timer;
mod worker;

pub use chunk::Chunk;
pub use loan::Loan;
pub use mailbox::Remote;
pub use ring::{Features, RingConfig};
pub use server::{Config, Server, ServerHandle, WorkerInfo};
pub use slot::ConnId;
pub use worker::{CloseCause, Counters, ExitReport, Handler, Io, Limit, Poster};
