//! `ringws`: the WebSocket engine applications embed.
//!
//! An [`App`] binds an address, sets [`Limits`], and maps paths to routes; each route is a
//! [`Handler`] (one instance per worker thread) with typed per-connection data. Plain HTTP is
//! answered on the same port (static routes, or 404).
//!
//! ```text
//!  ringws-uring worker ── on_data(&mut [u8]) ──► Engine (one per worker)
//!      Handshake: ringws_proto::handshake ──► route.on_upgrade ──► 101 | HTTP refusal
//!      Open: ringws_proto::Session::read (decode, unmask in place, assemble, close handshake)
//!            ──► route.on_message(&mut WebSocket, Message<'_>)  (payload borrowed from the
//!            receive buffer)
//!      WebSocket::send_* ──► header (inline) + payload (shared Bytes) ──► per-connection queue
//!            ──► one vectored send per connection per loop turn
//! ```
#![forbid(unsafe_code)]
#![doc(test(attr(deny(warnings))))]

mod answer;
mod app;
mod bridge;
mod compress;
mod config;
mod control;
mod deadline;
mod engine;
mod handler;
mod http;
mod later;
mod log;
mod mailbox;
mod metrics;
mod peer;
mod proxy;
mod pubsub;
mod route;
mod router;
mod sending;
mod shared;
mod table;
pub mod tls;
mod websocket;

pub use answer::{Accept, Answer, Reject};
pub use app::{App, Server, ServerHandle};
#[cfg(feature = "nats")]
pub use bridge::nats::NatsBridge;
pub use bytes::Bytes;
pub use config::{Compression, Limits, RouteOptions, SlowConsumer};
pub use handler::{Handler, Message, UpgradeRequest};
pub use ipnet::IpNet;
pub use later::Later;
pub use mailbox::EngineMsg;
pub use mailbox::Job;
pub use metrics::Metrics;
/// The metrics library `/metrics` is built on, for [`App::metrics_registry`].
pub use prometheus_client;
pub use proxy::ProxyHeader;
pub use ringws_proto::{CloseCode, OpCode};
/// The driver's settings ([`App::driver`]): rings, buffers, peer addresses, port sharing.
pub use ringws_uring::Config as DriverConfig;
pub use ringws_uring::ConnId;
/// The TLS library wss:// is built on, for [`App::tls`] with a configuration of your own.
pub use rustls;
pub use sending::{Compress, InvalidCloseCode, Kind, SendStatus};
pub use websocket::{Closed, WebSocket};
