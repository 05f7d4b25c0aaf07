//! Limits, with their defaults and the reason for each.

use std::time::Duration;

/// Per-connection limits and deadlines. Every field says its default and why.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message, after reassembling fragments. Default 1 MiB: game state, chat and
    /// market data fit many times over, and a client holding a partial message costs at most
    /// that (uWebSockets defaults to 16 KiB; the Autobahn suite needs 16 MiB, which its CI run
    /// sets). Over it: close 1009, decided from the frame header before the payload is kept.
    pub max_message_size: u64,
    /// Largest single frame. Default 1 MiB, as for messages.
    pub max_frame_size: u64,
    /// Largest request head of the opening handshake. Default 8 KiB (nginx's default header
    /// buffer; browsers send under 2 KiB). Over it: 431.
    pub max_header_bytes: usize,
    /// Time allowed to complete the opening handshake from accept. Default 10 s: a slow mobile
    /// client needs a few seconds, a client trickling bytes to hold a slot gets none. Over it: 408.
    pub handshake_timeout: Duration,
    /// A connection silent for half of this gets a ping; silent for all of it, it is dropped (the
    /// application sees 1006). Default 120 s: longer than most NAT idle timeouts' ping needs,
    /// short enough to reclaim vanished peers.
    pub idle_timeout: Duration,
    /// Time to wait for the peer's close frame after ours. Default 5 s.
    pub close_timeout: Duration,
    /// Open WebSocket connections the server accepts (all workers). Default 100,000. Beyond it an
    /// upgrade is answered 503.
    pub max_connections: usize,
    /// Bytes queued for one connection beyond which new sends are dropped
    /// ([`crate::SendStatus::Dropped`]). Default 1 MiB: a maximum-size message can always be
    /// queued (a send to an empty queue always is), and a reader that stopped costs at most
    /// that; set it near 64 KiB for fan-out to many small subscribers (uWebSockets' default).
    pub max_backpressure: usize,
    /// Bytes all connections together may hold in partial messages and send queues, split
    /// evenly over the workers. Default: an eighth of the machine's memory (`MemTotal`), at
    /// least 64 MiB, so that 100,000 clients each sending most of a maximum-size message
    /// cannot take the server's memory. Past a worker's share, a connection whose message
    /// does not fit is closed with 1013 (try again later) and its partial message freed, and
    /// sends to connections already holding 64 KiB or more are dropped, while the others are
    /// served.
    pub memory_budget: usize,
}

/// An eighth of the machine's memory, at least 64 MiB (64 MiB when it cannot be read).
fn default_memory_budget() -> usize {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    let eighth = total.map_or(0, |t| t / 8);
    usize::try_from(eighth.max(64 << 20)).unwrap_or(usize::MAX)
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            max_header_bytes: 8 * 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            close_timeout: Duration::from_secs(5),
            max_connections: 100_000,
            max_backpressure: 1 << 20,
            memory_budget: default_memory_budget(),
        }
    }
}

/// What happens to a subscriber whose queue is over its route's `max_backpressure` when a
/// publish arrives for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Skip this message for it (counted; `Handler::on_dropped` is called). Default: a game
    /// client that falls behind gets fresher state soon anyway.
    #[default]
    Drop,
    /// Close it with 1008 (policy violation): it broke the contract of reading what it
    /// subscribed to. (1013, "try again later", speaks of server overload, which this is not.)
    Close,
}

/// Per-route settings, as uWebSockets' behaviors: each `None` takes the server-wide [`Limits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteOptions {
    /// Bytes queued for one connection beyond which publishes and sends to it are not queued.
    /// Default `None`: the server-wide `Limits::max_backpressure` (1 MiB). For fan-out to many
    /// subscribers 64 KiB to 1 MiB keeps a slow reader's cost bounded (uWebSockets uses 64 KiB).
    pub max_backpressure: Option<usize>,
    /// What to do with a subscriber over the limit. Default [`SlowConsumer::Drop`].
    pub slow_consumer: SlowConsumer,
    /// Silence after which a connection is dropped; zero means never. Default `None`: the
    /// server-wide `Limits::idle_timeout` (120 s).
    pub idle_timeout: Option<Duration>,
    /// Largest message, after reassembly (1009 beyond). Default `None`: the server-wide
    /// `Limits::max_message_size` (1 MiB). A chat or game route wants far less.
    pub max_message_size: Option<u64>,
    /// Ping a silent connection at half its idle timeout, so a live client that only listens
    /// (a market-data subscriber) is not dropped. Default true; without it, silence for the
    /// idle timeout drops the connection.
    pub auto_ping: bool,
    /// permessage-deflate (RFC 7692) for clients that offer it. Default
    /// [`Compression::Off`]: compressing costs CPU on every message, which a route of small
    /// binary game messages does not win back; turn it on for JSON and text (3-10x smaller).
    pub compression: Compression,
}

/// permessage-deflate on a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Offers are declined: no connection of the route compresses.
    #[default]
    Off,
    /// No context takeover either way: each message is compressed and inflated on its own, one
    /// deflater and one inflater per worker serve every connection, a publish is compressed
    /// once for all its compressing subscribers, and an idle compressed connection costs
    /// nothing more than a plain one. What a server with many connections wants.
    Shared,
    /// Context takeover (unless the client declines it): each connection keeps its own
    /// deflater and inflater, so a message may refer back into earlier ones (game state or
    /// quotes that repeat field names and values compress several times better than alone).
    /// The price is memory per connection once it has compressed in a direction (zlib's window
    /// and hash tables, measured in `docs/benchmarks.md`) and a publish compressed once per
    /// subscriber. `window_bits` (9..=15) bounds our window and, where the client lets us name
    /// it, the client's.
    Dedicated {
        /// The window, 9..=15 (each bit less halves the window's memory).
        window_bits: u8,
    },
}

impl Default for RouteOptions {
    fn default() -> Self {
        Self {
            max_backpressure: None,
            slow_consumer: SlowConsumer::Drop,
            idle_timeout: None,
            max_message_size: None,
            auto_ping: true,
            compression: Compression::Off,
        }
    }
}

impl RouteOptions {
    /// Options with this backpressure limit and policy.
    pub fn new(max_backpressure: usize, slow_consumer: SlowConsumer) -> Self {
        Self { max_backpressure: Some(max_backpressure), slow_consumer, ..Self::default() }
    }

    /// This route's idle timeout (zero: none).
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// This route's largest message.
    pub fn with_max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// No automatic pings on this route.
    pub fn without_auto_ping(mut self) -> Self {
        self.auto_ping = false;
        self
    }
}
