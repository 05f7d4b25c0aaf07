//! Every setting of the binary, as a flag. Each is also a key of the config file (`settings`),
//! and the common ones read `RINGWS_*` environment variables. Sizes take units (`16MiB`,
//! `256KiB`, `1GB`), durations too (`30s`, `500ms`, `2m`; a bare number is seconds).

use clap::Parser;
use ringws::{Compression, IpNet, ProxyHeader, SlowConsumer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `ringws --version`: the version and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("RINGWS_GIT_COMMIT"), ")");

/// The ringws WebSocket server.
#[derive(Parser, Debug)]
#[command(name = "ringws", version = VERSION, about)]
pub(crate) struct Args {
    /// A TOML file with any of these settings (keys as the flags, with `_`; per-route ones in
    /// `[route.echo]` and `[route.pubsub]`). Flags and environment variables win over it.
    #[arg(long, env = "RINGWS_CONFIG")]
    pub(crate) config: Option<std::path::PathBuf>,
    /// Print every setting's effective value and where it came from, then exit.
    #[arg(long)]
    pub(crate) print_config: bool,
    /// Address to listen on.
    #[arg(long, env = "RINGWS_ADDR", default_value = "127.0.0.1:9001")]
    pub(crate) addr: SocketAddr,
    /// Share /pubsub's topics with other ringws nodes through this NATS server
    /// (nats://host:4222; several comma-separated). At-most-once across nodes.
    #[arg(long, env = "RINGWS_NATS")]
    pub(crate) nats: Option<String>,
    /// NATS subjects are `<prefix>.<topic>`: give each application sharing a broker its own.
    #[arg(long, default_value = "ringws")]
    pub(crate) nats_prefix: String,
    /// How long a topic's NATS subscription outlives its last subscriber here (at least 1s).
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub(crate) nats_unsubscribe_delay: Duration,
    /// wss://: the certificate chain (PEM, leaf first). With --tls-key, the address speaks TLS
    /// only (wss:// and https://); SIGHUP reloads both files for new connections.
    #[arg(long, env = "RINGWS_TLS_CERT")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// wss:// on an address of its own (e.g. 127.0.0.1:9443), with --addr staying plain (ws://
    /// and http://): one server, the same routes and topics behind both [default: TLS on --addr].
    #[arg(long, env = "RINGWS_TLS_ADDR")]
    pub(crate) tls_addr: Option<SocketAddr>,
    /// wss://: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "RINGWS_TLS_KEY")]
    pub(crate) tls_key: Option<PathBuf>,
    /// wss://: another certificate for clients that ask for NAME (SNI), as NAME=CERT,KEY
    /// (repeatable; the --tls-cert one serves every other name).
    #[arg(long, value_parser = sni)]
    pub(crate) tls_sni: Vec<(String, PathBuf, PathBuf)>,
    /// Worker threads, one per core [default: the number of CPUs this process may use].
    #[arg(long, env = "RINGWS_WORKERS")]
    pub(crate) workers: Option<usize>,
    /// Largest message, after reassembly; larger ones are closed with 1009.
    #[arg(long, env = "RINGWS_MAX_MESSAGE_SIZE", default_value = "16MiB", value_parser = size)]
    pub(crate) max_message_size: u64,
    /// Largest frame.
    #[arg(long, default_value = "16MiB", value_parser = size)]
    pub(crate) max_frame_size: u64,
    /// Time allowed to complete the opening handshake (then 408).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub(crate) handshake_timeout: Duration,
    /// Silence before a connection is dropped (a ping goes out at half); 0: never.
    #[arg(long, env = "RINGWS_IDLE_TIMEOUT", default_value = "120s", value_parser = duration)]
    pub(crate) idle_timeout: Duration,
    /// Open WebSocket connections allowed; beyond, upgrades get 503.
    #[arg(long, env = "RINGWS_MAX_CONNECTIONS", default_value_t = 100_000)]
    pub(crate) max_connections: usize,
    /// Bytes queued per connection beyond which new messages to it are dropped.
    #[arg(long, default_value = "16MiB", value_parser = size)]
    pub(crate) max_backpressure: u64,
    /// Bytes all connections together may hold in partial messages and send queues (past it:
    /// 1013 for messages that do not fit, sends to the largest queues dropped)
    /// [default: an eighth of the machine's memory].
    #[arg(long, env = "RINGWS_MEMORY_BUDGET", value_parser = size)]
    pub(crate) memory_budget: Option<u64>,
    /// Allowed browser origins (repeatable); without any, every origin is allowed.
    #[arg(long = "allow-origin", env = "RINGWS_ALLOW_ORIGIN", value_delimiter = ',')]
    pub(crate) allow_origin: Vec<String>,
    /// Path of the echo endpoint. Load generators that always dial `/` (uWebSockets'
    /// `load_test`) need `--echo-path /`; the demo page at `/` stays, as plain GET.
    #[arg(long, default_value = "/echo", value_parser = path)]
    pub(crate) echo_path: String,
    /// A proxy (address or network, e.g. 10.0.0.0/8; repeatable) whose word about the client's
    /// address is taken, from the header --proxy-header names.
    #[arg(long, env = "RINGWS_TRUSTED_PROXY", value_delimiter = ',', value_parser = trusted)]
    pub(crate) trusted_proxy: Vec<IpNet>,
    /// Where trusted proxies put the client's address: `protocol` (a PROXY protocol v1/v2
    /// header opens each of their connections) or `forwarded-for` (X-Forwarded-For).
    #[arg(long, value_parser = proxy_header, default_value = "forwarded-for")]
    pub(crate) proxy_header: ProxyHeader,
    /// How log lines are written: `text`, or `json` (one object per line).
    #[arg(long, env = "RINGWS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Log every upgrade answered (path, status, handshake time, peer) at info level, under the
    /// target `ringws::access`.
    #[arg(long, env = "RINGWS_ACCESS_LOG")]
    pub(crate) access_log: bool,
    /// Where the Prometheus metrics are served on the server's port; empty: not served.
    #[arg(long, env = "RINGWS_METRICS_PATH", default_value = "/metrics", value_parser = optional_path)]
    pub(crate) metrics_path: String,
    /// Also serve the metrics (at --metrics-path, or /metrics) on this address of their own,
    /// e.g. a private interface for the scraper.
    #[arg(long, env = "RINGWS_METRICS_ADDR")]
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Where the status page (live plots from the metrics) is served; empty: not served.
    #[arg(long, env = "RINGWS_STATUS_PATH", default_value = "/status", value_parser = optional_path)]
    pub(crate) status_path: String,

    /// /echo: largest message [default: --max-message-size].
    #[arg(long, value_parser = size)]
    pub(crate) echo_max_message_size: Option<u64>,
    /// /echo: idle timeout [default: --idle-timeout].
    #[arg(long, value_parser = duration)]
    pub(crate) echo_idle_timeout: Option<Duration>,
    /// /echo: bytes queued per connection before sends are dropped [default: --max-backpressure].
    #[arg(long, value_parser = size)]
    pub(crate) echo_backpressure: Option<u64>,
    /// /echo: permessage-deflate for clients that offer it: `shared` (no context takeover, one
    /// compressor per worker), `dedicated[:BITS]` (context takeover, a compressor per
    /// connection with a 2^BITS window, 15 by default: better ratios, more memory) or `off`.
    #[arg(long, default_value = "shared", value_parser = compression)]
    pub(crate) echo_compression: Compression,
    /// /echo: ping silent connections at half the idle timeout.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) echo_auto_ping: bool,
    /// /pubsub: largest message [default: --max-message-size].
    #[arg(long, value_parser = size)]
    pub(crate) pubsub_max_message_size: Option<u64>,
    /// /pubsub: idle timeout [default: --idle-timeout].
    #[arg(long, value_parser = duration)]
    pub(crate) pubsub_idle_timeout: Option<Duration>,
    /// /pubsub: bytes queued per subscriber beyond which publishes to it are dropped (or it is
    /// closed: --pubsub-slow-consumer close).
    #[arg(long, default_value = "256KiB", value_parser = size)]
    pub(crate) pubsub_backpressure: u64,
    /// /pubsub: what happens to a subscriber over its backpressure: `drop` its messages, or
    /// `close` it (1008).
    #[arg(long, default_value = "drop", value_parser = slow_consumer)]
    pub(crate) pubsub_slow_consumer: SlowConsumer,
    /// /pubsub: permessage-deflate (`shared`: a publish is compressed once for all its
    /// compressing subscribers; `dedicated[:BITS]`: once per subscriber, with its context;
    /// `off`).
    #[arg(long, default_value = "shared", value_parser = compression)]
    pub(crate) pubsub_compression: Compression,
    /// /pubsub: ping silent connections at half the idle timeout.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) pubsub_auto_ping: bool,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// For people: one line per event (colours on a terminal only).
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// A size: bytes, or with a unit (`KiB`, `MiB`, `GiB` are powers of 1024; `KB`, `MB`, `GB`
/// of 1000), through `bytesize`.
pub(crate) fn size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{text:?}: {e}"))
}

/// A duration: `30s`, `500ms`, `2m`, `1h` (through `humantime`), or a bare number of seconds.
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e} (e.g. 30s, 500ms, 2m)"))
}

pub(crate) fn path(path: &str) -> Result<String, String> {
    match path.starts_with('/') {
        true => Ok(path.to_owned()),
        false => Err(format!("{path:?} must start with /")),
    }
}

fn optional_path(text: &str) -> Result<String, String> {
    if text.is_empty() { Ok(String::new()) } else { path(text) }
}

fn trusted(text: &str) -> Result<IpNet, String> {
    let net = text.parse::<IpNet>();
    let bare = || text.parse::<std::net::IpAddr>().map(IpNet::from);
    net.or_else(|_| bare()).map_err(|_| format!("{text:?}: not an address or network"))
}

fn proxy_header(name: &str) -> Result<ProxyHeader, String> {
    match name {
        "protocol" => Ok(ProxyHeader::Protocol),
        "forwarded-for" => Ok(ProxyHeader::ForwardedFor),
        other => Err(format!("{other:?}: expected `protocol` or `forwarded-for`")),
    }
}

fn compression(name: &str) -> Result<Compression, String> {
    let expected = "expected `shared`, `dedicated`, `dedicated:BITS` (9-15) or `off`";
    match name.split_once(':') {
        None if name == "off" => Ok(Compression::Off),
        None if name == "shared" => Ok(Compression::Shared),
        None if name == "dedicated" => Ok(Compression::Dedicated { window_bits: 15 }),
        Some(("dedicated", bits)) => match bits.parse::<u8>() {
            Ok(window_bits @ 9..=15) => Ok(Compression::Dedicated { window_bits }),
            _ => Err(format!("{name:?}: the window is 9 to 15 bits; {expected}")),
        },
        _ => Err(format!("{name:?}: {expected}")),
    }
}

fn sni(value: &str) -> Result<(String, PathBuf, PathBuf), String> {
    let expected = "expected NAME=CERT.pem,KEY.pem";
    let (name, files) = value.split_once('=').ok_or_else(|| format!("{value:?}: {expected}"))?;
    let (cert, key) = files.split_once(',').ok_or_else(|| format!("{value:?}: {expected}"))?;
    if name.is_empty() || cert.is_empty() || key.is_empty() {
        return Err(format!("{value:?}: {expected}"));
    }
    Ok((name.to_owned(), PathBuf::from(cert), PathBuf::from(key)))
}

fn slow_consumer(name: &str) -> Result<SlowConsumer, String> {
    match name {
        "drop" => Ok(SlowConsumer::Drop),
        "close" => Ok(SlowConsumer::Close),
        other => Err(format!("{other:?}: expected `drop` or `close`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_as_people_write_them() {
        assert_eq!(size("16MiB"), Ok(16 << 20));
        assert_eq!(size("256 KiB"), Ok(256 << 10));
        assert_eq!(size("1GB"), Ok(1_000_000_000));
        assert_eq!(size("4096"), Ok(4096));
        assert!(size("lots").is_err());
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("120"), Ok(Duration::from_secs(120)), "a bare number is seconds");
        assert!(duration("soon").unwrap_err().contains("30s"));
    }

    #[test]
    fn compression_modes_and_their_windows() {
        assert_eq!(compression("off"), Ok(Compression::Off));
        assert_eq!(compression("shared"), Ok(Compression::Shared));
        assert_eq!(compression("dedicated"), Ok(Compression::Dedicated { window_bits: 15 }));
        assert_eq!(compression("dedicated:10"), Ok(Compression::Dedicated { window_bits: 10 }));
        assert!(compression("dedicated:8").unwrap_err().contains("9 to 15"));
        assert!(compression("dedicated:x").unwrap_err().contains("9 to 15"));
        assert!(compression("zip").unwrap_err().contains("`dedicated:BITS`"));
    }

    #[test]
    fn sni_certificates_name_their_files() {
        let (name, cert, key) = sni("a.example=a.pem,a-key.pem").unwrap();
        assert_eq!(
            (name.as_str(), cert.to_str(), key.to_str()),
            ("a.example", Some("a.pem"), Some("a-key.pem"))
        );
        assert!(sni("a.example=a.pem").unwrap_err().contains("NAME=CERT.pem,KEY.pem"));
        assert!(sni("=a.pem,b.pem").is_err());
    }
}
