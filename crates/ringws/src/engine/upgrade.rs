//! The opening handshake: the upgrade to a WebSocket, refused or deferred (the answers' bytes
//! come from [`crate::http`]).

use super::*;
use crate::answer::Reject;
use crate::compress::Dedicated;
use crate::config::Compression;
use crate::http::{bad_request, refusal, switching};
use crate::proxy::{ProxyLine, parse_proxy_header};
use ringws_proto::deflate::{self, DeflateMode};

impl Engine {
    pub(super) fn handshake(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Handshake(mut buf) = std::mem::replace(&mut conn.phase, Phase::Done) else {
            return;
        };
        if conn.ctl.proxy_header_due {
            match parse_proxy_header(&buf) {
                Ok(ProxyLine::Partial) if buf.len() <= self.shared.limits.max_header_bytes => {
                    conn.phase = Phase::Handshake(buf);
                    return;
                }
                Ok(ProxyLine::Partial) => {
                    let e = "a PROXY protocol header longer than max_header_bytes";
                    return self.refuse_proxy_line(io, id, e.into());
                }
                Err(e) => return self.refuse_proxy_line(io, id, e),
                Ok(ProxyLine::Done { client, len }) => {
                    conn.ctl.proxy_header_due = false;
                    buf.drain(..len);
                    if let Some(client) = client {
                        self.peers.forget(id, conn.peer);
                        conn.peer = self.peers.record(id, client);
                    }
                }
            }
        }
        let limits = &self.shared.limits;
        let request = match handshake::parse_request(&buf, limits.max_header_bytes) {
            Ok(Some(r)) => r,
            Ok(None) => {
                conn.phase = Phase::Handshake(buf);
                return;
            }
            Err(e) => {
                self.refuse(io, id, bad_request(&e));
                self.warn(io.now(), id, "bad request", &e);
                return;
            }
        };
        if !request.is_upgrade() {
            if self.shared.health_path.as_deref() == Some(request.path()) {
                let draining = self.shared.draining.load(Ordering::Acquire);
                self.answer(io, id, crate::http::health(&request, draining));
                return;
            }
            if self.shared.status_path.as_deref() == Some(request.path()) {
                let out = crate::http::status(&request, self.shared.metrics_path.as_deref());
                self.answer(io, id, out);
                return;
            }
            if self.shared.metrics_path.as_deref() == Some(request.path()) {
                let text = crate::metrics::render(&self.shared.registry);
                let out = crate::http::metrics(&request, &text);
                self.answer(io, id, out);
                return;
            }
            let ws_path = self.shared.route_of(request.path()).is_some();
            let out = crate::http::plain(&self.shared.statics, ws_path, &request);
            self.answer(io, id, out);
            return;
        }
        let rest = buf[request.len()..].to_vec();
        match self.upgrade(io, id, &request, rest) {
            Ok(Some((route, rest))) => {
                self.access(io, id, request.path(), 101);
                self.open(io, id, route, rest);
            }
            Ok(None) => {} // deferred: the answer comes as a message
            Err(out) => {
                self.access(io, id, request.path(), crate::http::status_of(&out));
                self.refuse(io, id, out);
            }
        }
    }

    /// One line of the access log (when on): an upgrade answered, with the handshake's time
    /// since accept (before `open`, `last_seen` is still the accept time).
    fn access(&self, io: &Io<'_, EngineMsg>, id: ConnId, path: &str, status: u16) {
        if !self.shared.access_log {
            return;
        }
        let Some(conn) = self.conns.get(id) else { return };
        let ms = self.shared.clock.now(io).since(conn.ctl.last_seen).as_millis() as u64;
        let peer = self.peer_of(id);
        tracing::info!(target: "ringws::access", %peer, conn = %id, path, status, handshake_ms = ms, "upgrade");
    }

    /// A trusted proxy's connection did not start with a valid PROXY header: 400, logged.
    fn refuse_proxy_line(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, why: String) {
        let reply = Reject::new(400, "bad PROXY protocol header");
        let out = refusal(&reply, &self.peer_of(id), id);
        self.refuse(io, id, out);
        self.warn(io.now(), id, "bad PROXY protocol header", &why);
    }

    /// Validates the upgrade and asks the route; on success the 101 is queued and the
    /// connection's phase is `Open` (`Some`: its route, and the bytes after the head), or the
    /// route deferred its answer (`None`). On refusal, the HTTP answer to send.
    pub(super) fn upgrade(
        &mut self,
        io: &mut Io<'_, EngineMsg>,
        id: ConnId,
        request: &Request<'_>,
        rest: Vec<u8>,
    ) -> Result<Option<(usize, Vec<u8>)>, Vec<u8>> {
        if let Some(proxy) = &self.shared.proxy {
            let forwarded = request.header_values("x-forwarded-for");
            let peer = self.peer_of(id).0;
            if let Some(client) = peer.and_then(|p| proxy.forwarded_client(p, forwarded)) {
                self.set_client(id, client);
            }
        }
        let peer = self.peer_of(id);
        let shared = &self.shared;
        let reply = |status: u16, body: &str| refusal(&Reject::new(status, body), &peer, id);
        let Some(matched) = shared.router.at(request.path()) else {
            return Err(reply(404, "no WebSocket endpoint at this path"));
        };
        let route = matched.route;
        let upgrade = request.websocket().map_err(|e| bad_request(&e))?;
        if !shared.origin_allowed(request.origin()) {
            return Err(reply(403, "origin not allowed"));
        }
        if shared.draining.load(Ordering::Acquire) {
            let draining =
                Reject::new(503, "draining: try another node").with_header("Retry-After", "1");
            return Err(refusal(&draining, &peer, id));
        }
        if shared.open.load(Ordering::Relaxed) >= shared.limits.max_connections {
            if self.log.allow(io.now()).is_some() {
                let max = shared.limits.max_connections;
                tracing::warn!(
                    %peer,
                    conn = %id,
                    "connection limit reached: {max} WebSocket connections open \
                     (max_connections); upgrades are answered 503"
                );
            }
            return Err(reply(503, "connection limit reached"));
        }
        let params = &matched.params;
        let view = UpgradeRequest { request, upgrade: &upgrade, params, peer: peer.0 };
        let handler = &mut self.routes[route];
        let state = Arc::new(crate::later::LaterState::default());
        let later = (id, io.poster(), state.clone());
        let answer = catch_unwind(AssertUnwindSafe(|| handler.upgrade(&view, later)))
            .unwrap_or_else(|_| {
                tracing::error!(%peer, conn = %id, "the handler panicked in on_upgrade: 500");
                Some(Err(Reject::new(500, "internal error")))
            });
        let key = *upgrade.accept_key();
        let deflate = match shared.route_options[route].compression {
            Compression::Off => None,
            Compression::Shared => deflate::negotiate(upgrade.extensions(), DeflateMode::Shared),
            Compression::Dedicated { window_bits } => {
                deflate::negotiate(upgrade.extensions(), DeflateMode::Dedicated { window_bits })
            }
        };
        let Some(answer) = answer else {
            // Kept by the application, or dropped at once (then nobody will answer: 500 now).
            if Arc::strong_count(&state) == 1 {
                return Err(refusal(&Reject::new(500, "the upgrade was dropped"), &peer, id));
            }
            state.deferred.store(true, Ordering::Release);
            if let Some(conn) = self.conns.get_mut(id) {
                let deferred = Deferred { route, key, deflate, rest, state };
                conn.phase = Phase::Deferred(Box::new(deferred));
            }
            return Ok(None);
        };
        let accept = answer.map_err(|r| refusal(&r, &peer, id))?;
        self.accept(io, id, route, &key, deflate.as_ref(), accept);
        Ok(Some((route, rest)))
    }

    /// Queues the 101 and makes the connection open on `route`.
    fn accept(
        &mut self,
        io: &mut Io<'_, EngineMsg>,
        id: ConnId,
        route: usize,
        key: &handshake::AcceptKey,
        deflate: Option<&deflate::Agreement>,
        accept: Accept<Box<dyn Any>>,
    ) {
        let peer = self.peer_of(id);
        let shared = &self.shared;
        let Accept { data, protocol, headers } = accept;
        let extensions = deflate.map(|d| d.response.as_str());
        let out = switching(key, protocol.as_deref(), extensions, &headers, &peer, id);
        shared.open.fetch_add(1, Ordering::Relaxed);
        let now = shared.clock.now(io);
        if let Some(conn) = self.conns.get_mut(id) {
            wire(io, id, &mut conn.ctl, [Chunk::Shared(Bytes::from(out))]);
            self.metrics.upgraded(now.since(conn.ctl.last_seen).as_millis() as u64);
            conn.phase = Phase::Open { route, data };
            let options = shared.route_options[route];
            let limit = options.max_backpressure.unwrap_or(shared.limits.max_backpressure);
            conn.ctl.set_max_backpressure(limit);
            conn.ctl.deflate = deflate.map_or(0, |d| d.params.server_max_window_bits);
            conn.ctl.set_dedicated(deflate.and_then(|d| Dedicated::new(&d.params)));
        }
    }

    /// A deferred upgrade's answer arrived from another thread.
    pub(super) fn answer_later(
        &mut self,
        io: &mut Io<'_, EngineMsg>,
        id: ConnId,
        answer: crate::answer::Answer,
    ) {
        let Some(conn) = self.conns.get_mut(id) else { return };
        let Phase::Deferred(_) = conn.phase else { return };
        let Phase::Deferred(d) = std::mem::replace(&mut conn.phase, Phase::Done) else { return };
        let Deferred { route, key, deflate, rest, .. } = *d;
        let status =
            if answer.0.is_ok() { 101 } else { answer.0.as_ref().err().map_or(0, |r| r.status) };
        self.access(io, id, "(deferred)", status);
        match answer.0 {
            Ok(Accept { data, protocol, headers }) => {
                let data: Box<dyn Any> = data;
                let accept = Accept { data, protocol, headers };
                self.accept(io, id, route, &key, deflate.as_ref(), accept);
                self.open(io, id, route, rest);
            }
            Err(reject) => {
                let peer = self.peer_of(id);
                let out = refusal(&reject, &peer, id);
                self.refuse(io, id, out);
            }
        }
    }

    pub(super) fn open(
        &mut self,
        io: &mut Io<'_, EngineMsg>,
        id: ConnId,
        route: usize,
        mut rest: Vec<u8>,
    ) {
        // The handshake's timer is usually still pending and earlier than the first idle
        // deadline: then nothing is added, and when it fires the connection's timer moves on to
        // the idle deadlines (one wheel entry at a time).
        let (clock, idle) = (self.shared.clock, self.shared.idle_timeout(route));
        let first = if self.shared.route_options[route].auto_ping { idle / 2 } else { idle };
        if let Some(conn) = self.conns.get_mut(id) {
            let now = clock.now(io);
            conn.ctl.last_seen = now;
            if !idle.is_zero() {
                clock.arm(io, id, &mut conn.ctl.timer, now.after(first));
            }
        }
        self.event(io, id, route, Event::Open);
        if !rest.is_empty() {
            self.frames(io, id, &mut rest);
        }
    }

    /// Refuses an upgrade request with the HTTP answer `out` (counted by its status).
    pub(super) fn refuse(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, out: Vec<u8>) {
        self.metrics.answered(crate::http::status_of(&out), true);
        self.send_answer(io, id, out);
    }

    /// Sends a plain HTTP answer (counted by its status) and closes once it is out.
    pub(super) fn answer(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, out: Vec<u8>) {
        self.metrics.answered(crate::http::status_of(&out), false);
        self.send_answer(io, id, out);
    }

    fn send_answer(&mut self, io: &mut Io<'_, EngineMsg>, id: ConnId, out: Vec<u8>) {
        if let Some(conn) = self.conns.get_mut(id) {
            wire(io, id, &mut conn.ctl, [Chunk::Shared(Bytes::from(out))]);
            conn.phase = Phase::Done;
        }
        io.close(id);
    }
}
