//! Raw TCP echo over the driver (no WebSocket): the driver's overhead, measured against
//! `raw_echo` (a minimal hand-written io_uring echo) with `echo_client`.
//!
//! `cargo run --release -p ringws-uring --example echo -- PORT CPU [MAX_CONNECTIONS]`

use ringws_uring::{Chunk, Config, ConnId, Handler, Io, Server};
use std::net::SocketAddr;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Echo;

impl Handler for Echo {
    type Message = ();

    fn on_data(&mut self, io: &mut Io<'_, ()>, conn: ConnId, data: &mut [u8]) {
        // Small replies go inline (no allocation); larger ones in one shared buffer.
        let chunk =
            Chunk::inline(data).unwrap_or_else(|| Chunk::from(bytes::Bytes::copy_from_slice(data)));
        io.send(conn, chunk);
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(9100);
    let cpu: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let max_connections: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    if let Some(cpu) = cpu {
        ringws_uring::sys::pin_to_cpu(cpu)?;
    }
    let config = Config {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        workers: 1,
        pin: cpu.is_none(),
        max_connections,
        // RINGWS_BUNDLE=1 turns receive bundles on, for the A/B in docs/benchmarks.md.
        recv_bundle: std::env::var_os("RINGWS_BUNDLE").is_some_and(|v| v == "1"),
        ..Config::default()
    };
    let server = Server::start(config, |_| Echo)?;
    eprintln!("driver echo on {}", server.local_addr());
    server.join()?;
    Ok(())
}
