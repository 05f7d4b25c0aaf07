//! Topics and encode-once fan-out.
//!
//! Each worker keeps its own subscribers per topic. A publish is encoded once into one `Bytes`
//! (header and payload together); every local subscriber's queue gets a reference to it, and each
//! other worker gets it once through its mailbox and fans out to its own subscribers. Publishes
//! made inside a callback are queued in an outbox and fanned out when the callback returns (the
//! callback holds its own connection, so the table cannot be walked yet).

use bytes::Bytes;
use ringws_proto::OpCode;
use ringws_proto::frame::write_frame;
use ringws_uring::ConnId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// A topic name, shared between the topic table and the subscriptions of each connection.
pub(crate) type TopicName = Arc<str>;

/// One publish waiting for fan-out on this worker.
#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) topic: TopicName,
    /// The whole frame, header included.
    pub(crate) frame: Bytes,
    /// A local connection that must not receive it (the publisher).
    pub(crate) skip: Option<ConnId>,
    /// Made on this worker: the other workers still need it.
    pub(crate) local_origin: bool,
    /// May go out compressed to subscribers that negotiated permessage-deflate.
    pub(crate) compress: bool,
}

/// One worker's topic table and publish outbox.
#[derive(Debug, Default)]
pub(crate) struct PubSub {
    topics: HashMap<TopicName, HashSet<ConnId>>,
    pub(crate) outbox: Vec<Publish>,
}

impl PubSub {
    /// Adds `conn` to `topic`; the shared name if it was not subscribed yet.
    pub(crate) fn subscribe(&mut self, topic: &str, conn: ConnId) -> Option<TopicName> {
        if let Some(subs) = self.topics.get_mut(topic) {
            if !subs.insert(conn) {
                return None;
            }
            return self.topics.get_key_value(topic).map(|(name, _)| name.clone());
        }
        let name: TopicName = Arc::from(topic);
        self.topics.insert(name.clone(), HashSet::from([conn]));
        Some(name)
    }

    /// Removes `conn` from `topic`; whether it was subscribed. A topic with no subscriber left is
    /// dropped, so 100,000 short-lived topics do not stay behind.
    pub(crate) fn unsubscribe(&mut self, topic: &str, conn: ConnId) -> bool {
        let Some(subs) = self.topics.get_mut(topic) else { return false };
        let removed = subs.remove(&conn);
        if subs.is_empty() {
            self.topics.remove(topic);
        }
        removed
    }

    /// This worker's subscribers of `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> impl Iterator<Item = ConnId> + '_ {
        self.topics.get(topic).into_iter().flatten().copied()
    }

    /// The number of topics with at least one subscriber on this worker.
    #[cfg(test)]
    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }
}

/// Subscriber counts per topic over all workers, for `subscriber_count`. Only subscribe,
/// unsubscribe and close touch it, never a publish.
#[derive(Default)]
pub(crate) struct Counts {
    counts: Mutex<HashMap<TopicName, usize>>,
    /// Told when a topic gets its first subscriber on this node and loses its last (under the
    /// lock, so the two never arrive out of order).
    broker: Option<Arc<dyn crate::bridge::Broker>>,
}

impl std::fmt::Debug for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counts").field("bridged", &self.broker.is_some()).finish()
    }
}

impl Counts {
    /// Counts that tell `broker` when a topic's interest on this node begins and ends.
    pub(crate) fn with_broker(broker: Option<Arc<dyn crate::bridge::Broker>>) -> Self {
        Self { counts: Mutex::default(), broker }
    }

    pub(crate) fn add(&self, topic: &TopicName, delta: isize) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(topic.clone()).or_insert(0);
        let was = *entry;
        *entry = entry.saturating_add_signed(delta);
        let now = *entry;
        if now == 0 {
            counts.remove(topic);
        }
        if let Some(broker) = &self.broker
            && (was == 0) != (now == 0)
        {
            broker.interest(topic, now > 0);
        }
    }

    pub(crate) fn get(&self, topic: &str) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).get(topic).copied().unwrap_or(0)
    }
}

/// Encodes one unmasked frame, header and payload, into a single buffer shared by every
/// subscriber.
pub(crate) fn encode_frame(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut frame = Vec::new();
    write_frame(&mut frame, opcode, payload, None);
    Bytes::from(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ConnId {
        ConnId::from_u64(n)
    }

    #[test]
    fn subscribe_unsubscribe_and_empty_topics_are_dropped() {
        let mut ps = PubSub::default();
        assert!(ps.subscribe("t", id(1)).is_some());
        assert!(ps.subscribe("t", id(1)).is_none(), "twice is once");
        assert!(ps.subscribe("t", id(2)).is_some());
        let mut subs: Vec<ConnId> = ps.subscribers("t").collect();
        subs.sort_unstable();
        assert_eq!(subs, vec![id(1), id(2)]);
        assert!(ps.unsubscribe("t", id(1)));
        assert!(!ps.unsubscribe("t", id(1)));
        assert!(ps.unsubscribe("t", id(2)));
        assert_eq!(ps.topic_count(), 0);
        assert_eq!(ps.subscribers("t").count(), 0);
    }

    /// One topic with 100,000 subscribers and 100,000 topics with three each: both built and torn
    /// down in linear time (a quadratic unsubscribe would take minutes here), leaving nothing.
    #[test]
    fn scale_of_topics_is_linear_and_leaves_nothing() {
        let started = std::time::Instant::now();
        let mut ps = PubSub::default();
        for conn in 0..100_000u64 {
            ps.subscribe("everyone", id(conn));
        }
        assert_eq!(ps.subscribers("everyone").count(), 100_000);
        let names: Vec<String> = (0..100_000).map(|t| format!("room-{t}")).collect();
        for (t, name) in names.iter().enumerate() {
            for k in 0..3u64 {
                ps.subscribe(name, id(1_000_000 + t as u64 * 3 + k));
            }
        }
        assert_eq!(ps.topic_count(), 100_001);
        for conn in 0..100_000u64 {
            assert!(ps.unsubscribe("everyone", id(conn)));
        }
        for (t, name) in names.iter().enumerate() {
            for k in 0..3u64 {
                assert!(ps.unsubscribe(name, id(1_000_000 + t as u64 * 3 + k)));
            }
        }
        assert_eq!(ps.topic_count(), 0);
        let took = started.elapsed();
        println!("100k-subscriber topic + 100k topics x 3, built and torn down in {took:?}");
        assert!(took < std::time::Duration::from_secs(20), "not linear: {took:?}");
    }

    #[test]
    fn counts_go_to_zero_and_vanish() {
        let counts = Counts::default();
        let t: TopicName = Arc::from("t");
        counts.add(&t, 1);
        counts.add(&t, 1);
        assert_eq!(counts.get("t"), 2);
        counts.add(&t, -2);
        assert_eq!(counts.get("t"), 0);
    }

    #[test]
    fn frame_is_encoded_once_with_its_header() {
        let f = encode_frame(OpCode::Text, b"hello");
        assert_eq!(&f[..], b"\x81\x05hello");
        let big = encode_frame(OpCode::Binary, &[0u8; 300]);
        assert_eq!(&big[..4], &[0x82, 126, 1, 44]);
    }
}
