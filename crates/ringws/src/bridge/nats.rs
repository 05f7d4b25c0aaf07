//! The NATS bridge: `async-nats` (tokio-only) on one thread of its own with a small runtime, so
//! no worker ever waits on the broker. One connection per process, with NATS' no-echo option:
//! a node never gets its own publishes back.

use async_nats::{Client, ConnectOptions, Event};
use bytes::Bytes;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::subject::{check_prefix, subject};
use super::{BridgeCounters, Broker, TopicName};

/// Topics shared with other `ringws` nodes through a NATS server ([`crate::App::bridge`]).
#[derive(Debug, Clone)]
pub struct NatsBridge {
    url: String,
    prefix: String,
    unsubscribe_delay: Duration,
    queue: usize,
}

impl NatsBridge {
    /// A bridge to the NATS server at `url` (`nats://127.0.0.1:4222`; several, comma-separated,
    /// for a cluster). Subjects `ringws.<topic>`, unsubscribed 2 s after a topic's last
    /// subscriber here left, 65,536 publishes queued at most.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: "ringws".into(),
            unsubscribe_delay: Duration::from_secs(2),
            queue: 1 << 16,
        }
    }

    /// The subject prefix (`<prefix>.<topic>`), so several applications share a broker.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// How long a topic's broker subscription outlives its last subscriber here (at least 1 s:
    /// subscribe churn does not reach the broker).
    pub fn unsubscribe_delay(mut self, delay: Duration) -> Self {
        self.unsubscribe_delay = delay.max(Duration::from_secs(1));
        self
    }

    /// Publishes waiting for the broker at most; beyond, they are dropped and counted.
    pub fn queue(mut self, publishes: usize) -> Self {
        self.queue = publishes.max(1);
        self
    }

    /// Starts the bridge thread; the connection is made (and remade) in the background.
    pub(crate) fn start(self, counters: Arc<BridgeCounters>) -> std::io::Result<Arc<dyn Broker>> {
        check_prefix(&self.prefix)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let (publishes, publish_rx) = mpsc::channel(self.queue);
        let (control, control_rx) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let link = Arc::new(Link {
            publishes,
            control,
            prefix: self.prefix.clone(),
            counters: counters.clone(),
        });
        std::thread::Builder::new().name("ringws-nats".into()).spawn(move || {
            runtime.block_on(run(self, counters, publish_rx, control_rx));
        })?;
        Ok(link)
    }
}

enum Control {
    Interest(TopicName, bool),
    Started(crate::ServerHandle),
}

/// The workers' side: channels to the bridge thread.
struct Link {
    publishes: mpsc::Sender<(String, Bytes)>,
    control: mpsc::UnboundedSender<Control>,
    prefix: String,
    counters: Arc<BridgeCounters>,
}

impl Broker for Link {
    fn publish(&self, topic: &TopicName, frame: &Bytes) {
        let counters = &self.counters;
        if counters.connected.load(Ordering::Relaxed) == 0 {
            BridgeCounters::bump(&counters.not_sent);
            return;
        }
        let item = (subject(&self.prefix, topic), frame.clone());
        if self.publishes.try_send(item).is_err() {
            BridgeCounters::bump(&counters.dropped);
        }
    }

    fn interest(&self, topic: &TopicName, on: bool) {
        let _ = self.control.send(Control::Interest(topic.clone(), on));
    }

    fn started(&self, handle: crate::ServerHandle) {
        let _ = self.control.send(Control::Started(handle));
    }
}

/// A topic's broker subscription: the task that delivers its messages (aborting it drops the
/// subscriber, which unsubscribes), and when it goes if nobody here wants it by then.
struct Held {
    task: tokio::task::JoinHandle<()>,
    drop_at: Option<Instant>,
}

async fn run(
    bridge: NatsBridge,
    counters: Arc<BridgeCounters>,
    mut publishes: mpsc::Receiver<(String, Bytes)>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    let events = counters.clone();
    let options =
        ConnectOptions::new().no_echo().retry_on_initial_connect().name("ringws").event_callback(
            move |event| {
                let counters = events.clone();
                async move {
                    match event {
                        Event::Connected => {
                            counters.connected.store(1, Ordering::Relaxed);
                            tracing::info!("NATS bridge: connected");
                        }
                        Event::Disconnected => {
                            counters.connected.store(0, Ordering::Relaxed);
                            tracing::warn!(
                                "NATS bridge: disconnected; local delivery goes on, \
                                        publishes are not bridged until it is back"
                            );
                        }
                        other => tracing::debug!("NATS bridge: {other}"),
                    }
                }
            },
        );
    let client = match options.connect(bridge.url.as_str()).await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!("NATS bridge: {}: {e}; topics stay local to this node", bridge.url);
            return;
        }
    };
    // Delivery needs the server's handle; interest may come first and waits for it.
    let handle = Arc::new(Mutex::new(None::<crate::ServerHandle>));
    let mut held: HashMap<TopicName, Held> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            item = publishes.recv() => {
                let Some((subject, frame)) = item else { break };
                match client.publish(subject, frame).await {
                    Ok(()) => BridgeCounters::bump(&counters.published),
                    Err(_) => BridgeCounters::bump(&counters.not_sent),
                }
            }
            command = control.recv() => match command {
                None => break,
                Some(Control::Started(h)) => {
                    *handle.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                }
                Some(Control::Interest(topic, true)) => {
                    if let Some(h) = held.get_mut(&topic) {
                        h.drop_at = None;
                    } else {
                        let task = subscribe(&client, &bridge.prefix, &topic, &handle, &counters).await;
                        held.insert(topic, Held { task, drop_at: None });
                    }
                }
                Some(Control::Interest(topic, false)) => {
                    if let Some(h) = held.get_mut(&topic) {
                        h.drop_at = Some(Instant::now() + bridge.unsubscribe_delay);
                    }
                }
            },
            _ = tick.tick() => {
                let now = Instant::now();
                held.retain(|_, h| {
                    let keep = h.drop_at.is_none_or(|at| at > now);
                    if !keep {
                        h.task.abort();
                    }
                    keep
                });
            }
        }
        counters.subjects.store(held.len() as u64, Ordering::Relaxed);
    }
}

/// Subscribes to `topic`'s subject; its messages go to every worker's fan-out.
async fn subscribe(
    client: &Client,
    prefix: &str,
    topic: &TopicName,
    handle: &Arc<Mutex<Option<crate::ServerHandle>>>,
    counters: &Arc<BridgeCounters>,
) -> tokio::task::JoinHandle<()> {
    let (topic, handle, counters) = (topic.clone(), handle.clone(), counters.clone());
    let subscriber = client.subscribe(subject(prefix, &topic)).await;
    tokio::spawn(async move {
        let mut subscriber = match subscriber {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(topic = %topic, "NATS bridge: cannot subscribe: {e}");
                return;
            }
        };
        while let Some(message) = subscriber.next().await {
            if !super::is_publishable(&message.payload) {
                BridgeCounters::bump(&counters.invalid);
                continue;
            }
            let h = handle.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(h) = h
                && h.deliver_remote(topic.clone(), message.payload).is_ok()
            {
                BridgeCounters::bump(&counters.received);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slow broker: publishes beyond the queue are dropped and counted, never waited for;
    /// with the broker unreachable they are counted as not sent.
    #[test]
    fn a_full_queue_drops_and_a_lost_broker_does_not_send() {
        let (publishes, mut queued) = mpsc::channel(2);
        let (control, _control) = mpsc::unbounded_channel();
        let counters = Arc::new(BridgeCounters::default());
        let link = Link { publishes, control, prefix: "p".into(), counters: counters.clone() };
        let topic: TopicName = Arc::from("a.b");
        let frame = Bytes::from_static(b"\x81\x01x");
        link.publish(&topic, &frame);
        assert_eq!(counters.not_sent.load(Ordering::Relaxed), 1, "not connected: not sent");
        counters.connected.store(1, Ordering::Relaxed);
        for _ in 0..5 {
            link.publish(&topic, &frame);
        }
        assert_eq!(counters.dropped.load(Ordering::Relaxed), 3, "two fit the queue");
        let (subject, _) = queued.try_recv().unwrap_or_else(|e| panic!("queued: {e}"));
        assert_eq!(subject, "p.a%2Eb");
    }
}
