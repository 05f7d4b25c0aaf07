//! Topics shared across nodes through a broker: what the engine tells a bridge (a publish made
//! here; interest in a topic beginning or ending on this node) and the figures it keeps. The
//! NATS bridge (`nats`, behind the `nats` feature) is the one implementation.
//!
//! ```text
//!  publish on this node ─► local fan-out at once, and Broker::publish once (not per worker,
//!                          not per subscriber) ─► the broker ─► every other interested node
//!  a topic's first subscriber on this node ─► Broker::interest(topic, true): one broker
//!      subscription per node per topic; its last one leaves ─► interest(topic, false), dropped
//!      after a delay so churn does not reach the broker
//!  from the broker ─► ServerHandle::deliver_remote ─► every worker's fan-out, never back out
//! ```
//! Delivery across nodes is at most once: a broker that is down, slow or full loses messages
//! (counted), local delivery never waits for it.

use bytes::Bytes;
use std::sync::atomic::AtomicU64;

/// A topic name (the same `Arc<str>` the topic table keys on).
pub(crate) type TopicName = std::sync::Arc<str>;

#[cfg(feature = "nats")]
pub(crate) mod subject;

#[cfg(feature = "nats")]
pub(crate) mod nats;

/// What the engine asks of a broker bridge. Every call returns at once (a worker never waits
/// on the broker).
pub(crate) trait Broker: Send + Sync {
    /// A publish made on this node, as its encoded frame, for the other nodes.
    fn publish(&self, topic: &TopicName, frame: &Bytes);
    /// The first subscriber to `topic` on this node arrived (`true`), or the last one left.
    fn interest(&self, topic: &TopicName, on: bool);
    /// The server runs: what other nodes publish can be delivered through `handle`.
    fn started(&self, handle: crate::ServerHandle);
}

/// The bridge's figures, read by `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct BridgeCounters {
    /// Publishes handed to the broker.
    pub(crate) published: AtomicU64,
    /// Publishes not sent because the broker was unreachable.
    pub(crate) not_sent: AtomicU64,
    /// Publishes dropped because the queue to the broker was full (a slow broker).
    pub(crate) dropped: AtomicU64,
    /// Messages from other nodes delivered here.
    pub(crate) received: AtomicU64,
    /// Messages from the broker that were not a single data frame (dropped).
    pub(crate) invalid: AtomicU64,
    /// Broker subscriptions held (topics with subscribers here, or in their unsubscribe delay).
    pub(crate) subjects: AtomicU64,
    /// 1 while connected to the broker.
    pub(crate) connected: AtomicU64,
}

#[cfg(feature = "nats")]
impl BridgeCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(feature = "nats")]
/// Whether `frame` is one whole unmasked data frame, as a ringws node publishes (anything else
/// from the broker is dropped, not fanned out).
pub(crate) fn is_publishable(frame: &[u8]) -> bool {
    use ringws_proto::frame::FrameHeader;
    match FrameHeader::parse(frame) {
        Ok(Some((h, n))) => {
            h.fin
                && h.rsv == 0
                && h.masking_key.is_none()
                && matches!(h.opcode, ringws_proto::OpCode::Text | ringws_proto::OpCode::Binary)
                && (n as u64).checked_add(h.payload_len) == Some(frame.len() as u64)
        }
        _ => false,
    }
}

#[cfg(all(test, feature = "nats"))]
mod tests {
    use super::*;
    use ringws_proto::frame::write_frame;

    #[test]
    fn only_whole_unmasked_data_frames_are_publishable() {
        let mut frame = Vec::new();
        write_frame(&mut frame, ringws_proto::OpCode::Text, b"hello", None);
        assert!(is_publishable(&frame));
        assert!(!is_publishable(&frame[..frame.len() - 1]), "cut");
        let mut two = frame.clone();
        two.extend_from_slice(&frame);
        assert!(!is_publishable(&two), "two frames");
        let mut masked = Vec::new();
        write_frame(&mut masked, ringws_proto::OpCode::Text, b"hello", Some([1, 2, 3, 4]));
        assert!(!is_publishable(&masked));
        let mut ping = Vec::new();
        write_frame(&mut ping, ringws_proto::OpCode::Ping, b"", None);
        assert!(!is_publishable(&ping));
        assert!(!is_publishable(b"garbage"));
    }
}
