//! Publishes leaving this worker's subscribers: one shared frame each, with the slow-consumer
//! policy for those over their backpressure limit.

use super::*;
use crate::sending::Compress;

impl Engine {
    /// Fans out every publish queued by callbacks or received from other workers.
    pub(super) fn flush_publishes(&mut self, io: &mut Io<'_, EngineMsg>) {
        while !self.pubsub.outbox.is_empty() {
            let batch = std::mem::take(&mut self.pubsub.outbox);
            for publish in &batch {
                if publish.local_origin {
                    self.metrics.publishes.add(1);
                    if let Some(broker) = &self.shared.bridge {
                        broker.publish(&publish.topic, &publish.frame);
                    }
                    let (workers, me) = (io.workers(), io.worker());
                    for worker in (0..workers).filter(|&w| w != me) {
                        let msg = EngineMsg::Publish {
                            topic: publish.topic.clone(),
                            frame: publish.frame.clone(),
                            compress: if publish.compress {
                                Compress::Auto
                            } else {
                                Compress::Never
                            },
                        };
                        io.post(worker, msg);
                    }
                }
                self.fan_out(io, publish);
            }
        }
    }

    /// Queues one publish for every local subscriber: a reference to the same frame each.
    /// A compressing subscriber in shared mode gets the frame compressed once per publish and
    /// worker (made when the first one is met; the plain frame when compressing does not shrink
    /// it); one that keeps its context (dedicated mode) gets it compressed for it alone.
    pub(super) fn fan_out(&mut self, io: &mut Io<'_, EngineMsg>, publish: &Publish) {
        let mut slow = std::mem::take(&mut self.slow);
        // Per server window agreed (9..=15), made when the first subscriber with it is met.
        let mut packed: [Option<Option<bytes::Bytes>>; 7] = Default::default();
        for id in self.pubsub.subscribers(&publish.topic) {
            if Some(id) == publish.skip {
                continue;
            }
            let Some(conn) = self.conns.get_mut(id) else { continue };
            let ctl = &mut conn.ctl;
            if !ctl.session.can_send() {
                continue;
            }
            let buffered = io.buffered(id);
            let budget = self.shared.refuses_send(io.worker(), io.queued_total(), buffered);
            if budget || buffered > ctl.max_backpressure() {
                ctl.count_drop();
                self.metrics.dropped.add(1);
                ctl.backpressured = true;
                slow.push((id, publish.frame.len()));
                continue;
            }
            let window = if publish.compress { ctl.deflate } else { 0 };
            let frame = if window == 0 {
                None
            } else if let Some(deflater) = ctl.dedicated().and_then(|d| d.deflater()) {
                // Dedicated mode: compressed with this subscriber's own context, for it alone.
                self.zip.recompress_with(deflater, &publish.frame)
            } else {
                packed[usize::from(window.clamp(9, 15) - 9)]
                    .get_or_insert_with(|| self.zip.recompress(window, &publish.frame))
                    .clone()
            };
            let frame = frame.unwrap_or_else(|| publish.frame.clone());
            if wire(io, id, ctl, [Chunk::Shared(frame)]).is_some() {
                self.metrics.deliveries.add(1);
            }
        }
        for (id, bytes) in slow.drain(..) {
            self.slow_consumer(io, id, bytes);
        }
        self.slow = slow;
    }

    /// A subscriber over its backpressure limit: tell its handler (drop), or close it (1008).
    pub(super) fn slow_consumer(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, bytes: usize) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Open { route, .. } = conn.phase else { return };
        // The route's policy (not kept per connection: an idle connection's state stays small).
        match self.shared.route_options[route].slow_consumer {
            SlowConsumer::Drop => self.event(io, id, route, Event::Dropped(bytes)),
            SlowConsumer::Close => {
                self.metrics.slow_closed.add(1);
                let code = CloseCode::POLICY;
                close_with_deadline(io, id, &mut conn.ctl, &self.shared, code, "slow consumer");
            }
        }
    }
}
