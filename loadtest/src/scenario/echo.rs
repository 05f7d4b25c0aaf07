//! `echo`: N connections, each with K messages in flight (closed loop), or, with `--rate`, a
//! fixed total rate whatever the replies do (open loop); messages/s and round-trip latency. The
//! payload carries its send time (closed loop: 16 hex digits in front; open loop: the 20-digit
//! *scheduled* time, so a late sender counts against the figure), so any echo server works
//! unchanged. The open loop is the fair way to compare servers' CPU per message: below
//! saturation, neither process's CPU is pinned at 100 %.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::publisher::Publishers;
use super::{Window, find_timestamp};
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

pub(crate) struct Echo {
    tags: Range<u64>,
    inflight: usize,
    payload: Vec<u8>,
    binary: bool,
    window: Arc<Window>,
    stats: Stats,
    /// Open loop: every connection sends on a schedule (text frames).
    paced: Option<Publishers>,
}

/// The timer key of the open loop's sending tick.
const TICK: u64 = 1;

impl Echo {
    pub(crate) fn new(
        tags: Range<u64>,
        size: usize,
        inflight: usize,
        binary: bool,
        window: Arc<Window>,
    ) -> Self {
        // Text payloads stay ASCII so the server's UTF-8 check passes; the stamp is hex. The
        // rest is JSON-like text, what compression (--deflate) meets in practice; plain runs
        // send the same bytes.
        let record = br#"{"id":4711,"name":"player","x":12.5,"y":-3.25,"hp":100,"team":"red"},"#;
        let payload = record.iter().cycle().take(size.max(16)).copied().collect();
        let stats = Stats::new();
        Self { tags, inflight: inflight.max(1), payload, binary, window, stats, paced: None }
    }

    /// The open loop: each connection sends `rate_per_connection` messages/s of `size` bytes
    /// (at least 20, the scheduled time), as text frames.
    pub(crate) fn paced(mut self, rate_per_connection: f64) -> Self {
        let pad = "x".repeat(self.payload.len().saturating_sub(20));
        let window = self.window.clone();
        self.paced = Some(Publishers::new("$TS", pad, rate_per_connection, window));
        self
    }

    /// Sends the next message, stamped `now` (one clock read serves a receive and the send it
    /// triggers).
    fn send(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, now: u64) {
        write_hex_stamp(&mut self.payload, now);
        let opcode = if self.binary { OpCode::Binary } else { OpCode::Text };
        ctx.send(conn, opcode, &self.payload);
    }
}

impl Scenario for Echo {
    fn start(&mut self, ctx: &mut Ctx<'_, '_>) {
        for tag in self.tags.clone() {
            ctx.dial(tag);
        }
        if self.paced.is_some() {
            let now = ctx.now_ns();
            ctx.timer(now + 1_000_000, TICK);
        }
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64) {
        if let Some(paced) = &mut self.paced {
            paced.add(conn);
            return;
        }
        for _ in 0..self.inflight {
            let now = ctx.now_ns();
            self.send(ctx, conn, now);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64, payload: &[u8]) {
        let now = ctx.now_ns();
        if self.paced.is_some() {
            // Open loop: a reply counts in the phase of its scheduled send time.
            let Some(due) = find_timestamp(payload) else { return };
            if self.stats.record(self.window.phase(due), Some(now.saturating_sub(due))) {
                ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        // Closed loop: a reply counts in the phase it arrives in.
        let latency = read_hex_stamp(payload).map(|sent| now.saturating_sub(sent));
        if self.stats.record(self.window.phase(now), latency) {
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
        self.send(ctx, conn, now);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, '_>, _key: u64) {
        let Some(paced) = &mut self.paced else { return };
        let next = paced.tick(ctx, &mut self.stats);
        ctx.timer(next, TICK);
    }

    fn finish(&mut self) -> Stats {
        let mut stats = std::mem::replace(&mut self.stats, Stats::new());
        if let Some(paced) = &self.paced {
            paced.report(&mut stats);
        }
        stats
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `ns` as 16 lower-case hex digits at the front of `payload` (ASCII, so a text frame
/// stays valid UTF-8), without formatting machinery on the per-message path.
fn write_hex_stamp(payload: &mut [u8], ns: u64) {
    for (i, b) in payload[..16].iter_mut().enumerate() {
        *b = HEX[((ns >> (60 - 4 * i)) & 0xf) as usize];
    }
}

/// The stamp `write_hex_stamp` wrote, if the echo carries one.
fn read_hex_stamp(payload: &[u8]) -> Option<u64> {
    payload.get(..16)?.iter().try_fold(0u64, |acc, &b| {
        let digit = (b as char).to_digit(16)?;
        Some(acc << 4 | u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_garbage_is_refused() {
        let mut p = [b'x'; 20];
        for ns in [0, 1, 0xdead_beef, u64::MAX] {
            write_hex_stamp(&mut p, ns);
            assert_eq!(read_hex_stamp(&p), Some(ns));
            assert_eq!(&p[..16], format!("{ns:016x}").as_bytes());
        }
        assert_eq!(read_hex_stamp(b"not a stamp at all"), None);
        assert_eq!(read_hex_stamp(b"short"), None);
    }
}
