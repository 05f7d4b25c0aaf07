//! `echo`: N connections, each with K messages in flight; messages/s and round-trip latency.
//! The first 8 payload bytes carry the send time, so any echo server works unchanged.

use ringws_proto::OpCode;
use ringws_uring::ConnId;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Window;
use crate::client::{Ctx, Scenario};
use crate::stats::Stats;

pub(crate) struct Echo {
    tags: Range<u64>,
    inflight: usize,
    payload: Vec<u8>,
    binary: bool,
    window: Arc<Window>,
    stats: Stats,
}

impl Echo {
    pub(crate) fn new(
        tags: Range<u64>,
        size: usize,
        inflight: usize,
        binary: bool,
        window: Arc<Window>,
    ) -> Self {
        // Text payloads stay ASCII so the server's UTF-8 check passes; the stamp is hex.
        let payload = vec![b'x'; size.max(16)];
        Self { tags, inflight: inflight.max(1), payload, binary, window, stats: Stats::new() }
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
    }

    fn on_open(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64) {
        for _ in 0..self.inflight {
            let now = ctx.now_ns();
            self.send(ctx, conn, now);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, '_>, conn: ConnId, _tag: u64, payload: &[u8]) {
        let now = ctx.now_ns();
        // Closed loop: a reply counts in the phase it arrives in.
        let latency = read_hex_stamp(payload).map(|sent| now.saturating_sub(sent));
        if self.stats.record(self.window.phase(now), latency) {
            ctx.shared().progress.messages.fetch_add(1, Ordering::Relaxed);
        }
        self.send(ctx, conn, now);
    }

    fn finish(&mut self) -> Stats {
        std::mem::replace(&mut self.stats, Stats::new())
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
