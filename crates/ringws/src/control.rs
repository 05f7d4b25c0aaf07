//! The per-connection state callbacks may change through a [`crate::WebSocket`], kept small:
//! an idle connection pays for it a million times.

use ringws_proto::{Role, Session};

use crate::compress::Dedicated;
use crate::deadline::Stamp;
use crate::pubsub::TopicName;
use crate::tls::TlsSession;

/// Per-connection state that callbacks may change through [`crate::WebSocket`]: the protocol
/// session (closing handshake, failure), liveness, the one timer, limits. What few connections
/// need lives in [`Extra`], allocated on first use.
#[derive(Debug)]
pub(crate) struct Control {
    /// What the protocol allows now (`ringws-proto`'s sans-IO session; the codec that goes
    /// with it is lent per message, see the engine).
    pub(crate) session: Session,
    pub(crate) ping_outstanding: bool,
    /// A send reported backpressure (or was dropped over the limit): `on_drain` is owed once the
    /// queue empties.
    pub(crate) backpressured: bool,
    /// A trusted proxy's PROXY protocol header is still to come, before the request.
    pub(crate) proxy_header_due: bool,
    /// permessage-deflate: 0 when not negotiated, else the server window agreed (8..=15).
    /// A direction that keeps its context has its codec in [`Dedicated`] (see `Extra`).
    pub(crate) deflate: u8,
    pub(crate) last_seen: Stamp,
    /// The connection's pending timer-wheel entry ([`crate::deadline`]).
    pub(crate) timer: Option<Stamp>,
    /// Bytes queued beyond which sends are refused (4 bytes here; limits over 4 GiB are cut).
    max_backpressure: u32,
    extra: Option<Box<Extra>>,
}

/// What only some connections need: a closing handshake under way, subscriptions, drops.
#[derive(Debug, Default)]
struct Extra {
    /// The code and reason `on_close` will report, once known.
    code: Option<(u16, String)>,
    /// The transport is dropped if the peer has not answered our close by then.
    close_deadline: Option<Stamp>,
    /// Topics this connection is subscribed to (on its worker's table).
    subscriptions: Vec<TopicName>,
    /// Publishes dropped for it by backpressure.
    dropped: u64,
    /// permessage-deflate's dedicated mode: the directions that keep their context.
    dedicated: Option<Box<Dedicated>>,
    /// wss://: the connection's TLS session.
    tls: Option<TlsSession>,
}

impl Control {
    pub(crate) fn new(now: Stamp, max_backpressure: usize) -> Self {
        Self {
            session: Session::new(Role::Server),
            ping_outstanding: false,
            backpressured: false,
            proxy_header_due: false,
            deflate: 0,
            last_seen: now,
            timer: None,
            max_backpressure: u32::try_from(max_backpressure).unwrap_or(u32::MAX),
            extra: None,
        }
    }

    pub(crate) fn max_backpressure(&self) -> usize {
        self.max_backpressure as usize
    }

    pub(crate) fn set_max_backpressure(&mut self, bytes: usize) {
        self.max_backpressure = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_default()
    }

    /// The code and reason `on_close` will report, if known.
    pub(crate) fn code(&self) -> Option<&(u16, String)> {
        self.extra.as_ref()?.code.as_ref()
    }

    /// Records the close code and reason unless one is already known.
    pub(crate) fn note_code(&mut self, code: u16, reason: &str) {
        if self.code().is_none() {
            self.extra().code = Some((code, reason.to_owned()));
        }
    }

    /// The code and reason to report, taken.
    pub(crate) fn take_code(&mut self) -> Option<(u16, String)> {
        self.extra.as_mut()?.code.take()
    }

    pub(crate) fn close_deadline(&self) -> Option<Stamp> {
        self.extra.as_ref()?.close_deadline
    }

    pub(crate) fn set_close_deadline(&mut self, at: Stamp) {
        self.extra().close_deadline = Some(at);
    }

    pub(crate) fn subscriptions(&self) -> &[TopicName] {
        self.extra.as_ref().map_or(&[], |e| &e.subscriptions)
    }

    pub(crate) fn subscriptions_mut(&mut self) -> &mut Vec<TopicName> {
        &mut self.extra().subscriptions
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.dropped)
    }

    pub(crate) fn count_drop(&mut self) {
        self.extra().dropped += 1;
    }

    /// The connection's dedicated-mode state, if it keeps a context in either direction.
    pub(crate) fn dedicated(&mut self) -> Option<&mut Dedicated> {
        self.extra.as_mut()?.dedicated.as_deref_mut()
    }

    pub(crate) fn set_dedicated(&mut self, dedicated: Option<Box<Dedicated>>) {
        if dedicated.is_some() {
            self.extra().dedicated = dedicated;
        }
    }

    /// Whether what we send is compressed with this connection's own context.
    pub(crate) fn keeps_send_context(&self) -> bool {
        let dedicated = self.extra.as_ref().and_then(|e| e.dedicated.as_deref());
        dedicated.is_some_and(Dedicated::keeps_send_context)
    }

    /// The connection's TLS session (wss://), if it has one.
    pub(crate) fn tls(&mut self) -> Option<&mut TlsSession> {
        self.extra.as_mut()?.tls.as_mut()
    }

    pub(crate) fn set_tls(&mut self, session: TlsSession) {
        self.extra().tls = Some(session);
    }
}
