//! Starting workers: one pinned thread per core, each with its SO_REUSEPORT listener and rings.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::mailbox::{Mailbox, Remote};
use crate::ring::RingConfig;
use crate::sys;
use crate::worker::{Counters, Envelope, ExitReport, Handler, Mailboxes, Worker, WorkerConfig};

/// Server-wide driver settings. Every default says why it was chosen.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen. Default 127.0.0.1:9001 (loopback: nothing is exposed by accident).
    pub addr: SocketAddr,
    /// Worker threads. Default: one per CPU this process may use.
    pub workers: usize,
    /// Pin worker `i` to the `i`-th allowed CPU. Default true (thread-per-core).
    pub pin: bool,
    /// Connections the whole server may hold. Default 100,000. Each worker gets an equal share and
    /// drives as many rings as its share needs, since one ring's fixed-file table is capped at the
    /// soft RLIMIT_NOFILE.
    pub max_connections: usize,
    /// Receive buffer size. Default 64 KiB: a 16 KiB message and its header land in one buffer
    /// and are delivered without reassembly (measured: 9.1 us of server CPU per 16 KiB echo
    /// against 11.7 us with 16 KiB buffers, see docs/benchmarks.md). Buffers are only touched
    /// when data arrives, so idle connections do not pay for the size.
    pub buf_size: u32,
    /// Receive buffers of a worker's home ring (a power of two, at most 32768). Default 512 (32
    /// MiB of address space).
    pub buf_count: u16,
    /// Receive buffers of each further ring, which exist only because one ring's descriptor
    /// table is capped at the soft RLIMIT_NOFILE (a million connections under a 20,000 limit
    /// take 27 rings per worker). Default 64: every buffer in a ring is touched as receives
    /// cycle through it, so each ring keeps at least a page per buffer resident (2 MiB for 512,
    /// 108 bytes per connection over a million); with 64, 256 KiB. A ring out of buffers
    /// re-arms its receives (ENOBUFS), at a cost only under heavy traffic on those rings.
    pub sub_ring_buf_count: u16,
    /// Ring sizes and flags.
    pub ring: RingConfig,
    /// Timer wheel resolution (at least 10 us). Default 50 ms: a server's deadlines are seconds
    /// long; a load generator's schedule wants 50 us.
    pub timer_tick: Duration,
    /// listen(2) backlog. Default 1024 (the kernel caps it at net.core.somaxconn).
    pub backlog: i32,
    /// Accept connections. Default true; a client (the load tester) sets false and only dials
    /// out with [`crate::Io::connect`].
    pub listen: bool,
    /// Receive bundles: one completion may fill several buffers (kernel 6.10). Default false:
    /// measured no better here (docs/benchmarks.md).
    pub recv_bundle: bool,
    /// Let another process (of the same user) listen on the same address and take a share of
    /// the connections, as a zero-downtime restart does: the new server starts beside the old
    /// one, which then stops accepting. Default false: a server started on an address another
    /// server holds fails at start with an error naming the address, instead of silently
    /// splitting the traffic with it.
    pub reuse_port: bool,
    /// Read each accepted connection's peer address ([`crate::Handler::on_peer`]): one
    /// getsockopt(SO_PEERNAME) submission per connection (measured in docs/benchmarks.md).
    /// Default true.
    pub peer_addresses: bool,
    /// More addresses to listen on, each with a listener per worker like `addr`'s
    /// ([`crate::Io::listener`] tells which one a connection came through). Of the same family
    /// as `addr` (the peer-address query is sized by it). Default: none.
    pub also_listen: Vec<SocketAddr>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
            workers: sys::allowed_cpus().len().max(1),
            pin: true,
            max_connections: 100_000,
            buf_size: 64 * 1024,
            buf_count: 512,
            sub_ring_buf_count: 64,
            ring: RingConfig::default(),
            timer_tick: Duration::from_millis(50),
            backlog: 1024,
            listen: true,
            recv_bundle: false,
            reuse_port: false,
            peer_addresses: true,
            also_listen: Vec::new(),
        }
    }
}

/// Fails when another socket listens on `addr`. Our workers share the address through
/// SO_REUSEPORT, which would also let any other process of this user join the group; a bind
/// without it (which refuses to join one, and never listens) shows whether someone is there.
fn ensure_unclaimed(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(()); // a fresh port nobody holds
    }
    match sys::probe_bind(addr) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{addr} is already in use by another server (set `reuse_port` to share it on \
                 purpose, for a zero-downtime restart)"
            ),
        )),
        Err(e) => Err(io::Error::new(e.kind(), format!("binding {addr}: {e}"))),
    }
}

/// Information a handler factory gets for each worker.
#[derive(Debug, Clone, Copy)]
pub struct WorkerInfo {
    /// The worker's index.
    pub id: usize,
    /// How many workers there are.
    pub workers: usize,
}

/// A running server: its address, a handle for other threads, and the worker threads.
#[derive(Debug)]
pub struct Server<M: Send + 'static> {
    addr: SocketAddr,
    /// Every bound address: `addr`, then `also_listen`'s (with their real ports).
    addrs: Vec<SocketAddr>,
    handle: ServerHandle<M>,
    threads: Vec<JoinHandle<io::Result<ExitReport>>>,
}

/// Talks to a running server from any thread. `Send + Sync`, cheap to clone.
#[derive(Debug)]
pub struct ServerHandle<M: Send + 'static> {
    remote: Remote<Envelope<M>>,
    counters: Arc<[Arc<Counters>]>,
}

impl<M: Send + 'static> Clone for ServerHandle<M> {
    fn clone(&self) -> Self {
        Self { remote: self.remote.clone(), counters: self.counters.clone() }
    }
}

impl<M: Send + 'static> ServerHandle<M> {
    /// Sends `msg` to worker `worker`'s `on_message`.
    ///
    /// # Errors
    /// No such worker, or the wakeup could not be submitted.
    pub fn post(&self, worker: usize, msg: M) -> io::Result<()> {
        self.remote.post(worker, Envelope::User(msg))
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.remote.workers()
    }

    /// Asks every worker to shut down (each calls its handler's `on_shutdown`).
    pub fn shutdown(&self) {
        for w in 0..self.remote.workers() {
            let _ = self.remote.post(w, Envelope::Shutdown);
        }
    }

    /// Connections open now, over all workers.
    pub fn live_connections(&self) -> u64 {
        self.counters.iter().map(|c| c.live()).sum()
    }

    /// Timer-wheel entries pending over all workers.
    pub fn pending_timers(&self) -> u64 {
        self.counters.iter().map(|c| c.timers.load(Ordering::Relaxed)).sum()
    }

    /// Per-worker counters.
    pub fn counters(&self) -> &[Arc<Counters>] {
        &self.counters
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counters.iter().map(|c| c.accepted.load(Ordering::Relaxed)).sum()
    }
}

impl<M: Send + 'static> Server<M> {
    /// Starts the workers; returns once every one is listening.
    ///
    /// # Errors
    /// The address cannot be bound, io_uring is unavailable or lacks a needed feature (the
    /// message names it), or a worker failed to set up.
    pub fn start<H, F>(config: Config, factory: F) -> io::Result<Self>
    where
        H: Handler<Message = M>,
        F: Fn(WorkerInfo) -> H + Send + Sync + 'static,
    {
        let workers = config.workers.clamp(1, 255);
        let mut listeners: Vec<Vec<OwnedFd>> = (0..workers).map(|_| Vec::new()).collect();
        let mut addrs = Vec::new();
        // A driver that only dials binds nothing: a listener here would take a share of the
        // connections meant for a server on the same address.
        let wanted: Vec<SocketAddr> = if config.listen {
            std::iter::once(config.addr).chain(config.also_listen.iter().copied()).collect()
        } else {
            Vec::new()
        };
        for want in wanted {
            if want.is_ipv4() != config.addr.is_ipv4() {
                let why = format!("{want} and {} are of two families: listen on one", config.addr);
                return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
            }
            if !config.reuse_port {
                ensure_unclaimed(want)?;
            }
            // The first listener fixes the port (the address may say port 0); the others join it.
            let first = sys::reuseport_listener(want, config.backlog)
                .map_err(|e| io::Error::new(e.kind(), format!("listening on {want}: {e}")))?;
            let bound = sys::local_addr(&first)?;
            listeners[0].push(first);
            for worker in listeners.iter_mut().skip(1) {
                worker.push(sys::reuseport_listener(bound, config.backlog)?);
            }
            addrs.push(bound);
        }
        let addr = addrs.first().copied().unwrap_or(config.addr);
        let boxes: Mailboxes<M> = (0..workers).map(|_| Arc::new(Mailbox::new())).collect();
        let counters: Arc<[Arc<Counters>]> =
            (0..workers).map(|_| Arc::new(Counters::default())).collect();
        let cpus = sys::allowed_cpus();
        let factory = Arc::new(factory);
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        let mut threads = Vec::with_capacity(workers);
        for (id, listener) in listeners.into_iter().enumerate() {
            let wc = WorkerConfig {
                id: id as u8,
                max_connections: config.max_connections.div_ceil(workers),
                buf_size: config.buf_size,
                buf_count: config.buf_count,
                sub_ring_buf_count: config.sub_ring_buf_count.min(config.buf_count),
                ring: config.ring,
                timer_tick: config.timer_tick,
                accept_margin: config.backlog.max(16) as u32,
                recv_bundle: config.recv_bundle,
                peer_addresses: config.peer_addresses,
            };
            let cpu = config.pin.then(|| cpus.get(id % cpus.len().max(1)).copied()).flatten();
            let boxes = boxes.clone();
            let counters = counters[id].clone();
            let factory = factory.clone();
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new().name(format!("ringws-worker-{id}")).spawn(
                move || {
                    if let Some(cpu) = cpu {
                        let _ = sys::pin_to_cpu(cpu);
                    }
                    let handler = factory(WorkerInfo { id, workers });
                    let setup = Worker::new(&wc, listener, boxes.clone(), counters, handler)
                        .and_then(|w| w.home_ring_fd().map(|fd| (w, fd)));
                    let worker = match setup {
                        Ok((w, fd)) => {
                            boxes[id].set_ring_fd(fd);
                            let _ = ready.send(Ok(()));
                            w
                        }
                        Err(e) => {
                            let msg = e.to_string();
                            let _ = ready.send(Err(e));
                            return Err(io::Error::other(msg));
                        }
                    };
                    worker.run()
                },
            )?;
            threads.push(thread);
        }
        drop(ready_tx);
        let handle = ServerHandle { remote: Remote::new(boxes), counters };
        for _ in 0..workers {
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    handle.shutdown();
                    return Err(e);
                }
                Err(_) => return Err(io::Error::other("a worker thread died during setup")),
            }
        }
        Ok(Self { addr, addrs, handle, threads })
    }

    /// The bound address (with the real port when the configured one was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every bound address, in the order of [`Io::listener`](crate::Io::listener): `addr`, then
    /// `also_listen`'s (with their real ports).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ServerHandle<M> {
        self.handle.clone()
    }

    /// Waits for every worker to finish (after a shutdown) and returns their exit reports.
    ///
    /// # Errors
    /// A worker's loop failed, or its thread panicked.
    pub fn join(self) -> io::Result<Vec<ExitReport>> {
        let mut reports = Vec::new();
        for t in self.threads {
            match t.join() {
                Ok(r) => reports.push(r?),
                Err(_) => return Err(io::Error::other("a worker thread panicked")),
            }
        }
        Ok(reports)
    }
}
