//! Type erasure for routes: each route has its own handler type and data type; the engine holds
//! them all as `Box<dyn Route>` and the data as `Box<dyn Any>` (no allocation for `()` data).

use ringws_uring::ConnId;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::answer::{Accept, Reject};
use crate::handler::{Handler, Message, UpgradeRequest};
use crate::later::Later;
use crate::mailbox::EngineMsg;
use crate::websocket::{Closed, Ctx, WebSocket};

/// What the engine needs from a route's handler, whatever its types.
pub(crate) trait Route {
    /// `None`: deferred, answered later through the `Later` made of `later`.
    fn upgrade(
        &mut self,
        request: &UpgradeRequest<'_>,
        later: LaterParts,
    ) -> Option<Result<Accept<Box<dyn Any>>, Reject>>;
    fn event(&mut self, ws: Ctx<'_>, event: Event<'_>);
    fn close(&mut self, closed: Closed<'_, Box<dyn Any>>);
}

/// What a typed [`Later`] is made of.
pub(crate) type LaterParts =
    (ConnId, ringws_uring::Poster<EngineMsg>, std::sync::Arc<crate::later::LaterState>);

pub(crate) enum Event<'a> {
    Open,
    Message(Message<'a>),
    Ping(&'a [u8]),
    Pong(&'a [u8]),
    Drain,
    Dropped(usize),
}

/// A handler callback panicked; the engine fails that connection with 1011.
#[derive(Debug)]
pub(crate) struct Panicked;

/// Calls the route's handler for `event`, containing a panic to this one call: one bad message
/// must not take the worker's other connections down with it.
pub(crate) fn deliver(
    route: &mut dyn Route,
    ctx: Ctx<'_>,
    event: Event<'_>,
) -> Result<(), Panicked> {
    catch_unwind(AssertUnwindSafe(|| route.event(ctx, event))).map_err(|_| Panicked)
}

pub(crate) struct Typed<H>(pub(crate) H);

impl<H: Handler> Route for Typed<H> {
    fn upgrade(
        &mut self,
        request: &UpgradeRequest<'_>,
        (conn, poster, state): LaterParts,
    ) -> Option<Result<Accept<Box<dyn Any>>, Reject>> {
        let later = Later::new(conn, poster, state);
        let answer = self.0.on_upgrade_later(request, later)?;
        Some(answer.map(|Accept { data, protocol, headers }| {
            let data: Box<dyn Any> = Box::new(data);
            Accept { data, protocol, headers }
        }))
    }

    fn event(&mut self, ctx: Ctx<'_>, event: Event<'_>) {
        // The engine only ever stores this route's own data type for its connections.
        let Some(data) = ctx.data.downcast_mut::<H::Data>() else { return };
        let mut ws = WebSocket {
            io: ctx.io,
            id: ctx.id,
            data,
            ctl: ctx.ctl,
            pubsub: ctx.pubsub,
            shared: ctx.shared,
            counts: ctx.counts,
            zip: ctx.zip,
        };
        match event {
            Event::Open => self.0.on_open(&mut ws),
            Event::Message(m) => self.0.on_message(&mut ws, m),
            Event::Ping(p) => self.0.on_ping(&mut ws, p),
            Event::Pong(p) => self.0.on_pong(&mut ws, p),
            Event::Drain => self.0.on_drain(&mut ws),
            Event::Dropped(bytes) => self.0.on_dropped(&mut ws, bytes),
        }
    }

    fn close(&mut self, closed: Closed<'_, Box<dyn Any>>) {
        let Closed { id, data, code, reason, pubsub, shared } = closed;
        if let Ok(data) = data.downcast::<H::Data>() {
            self.0.on_close(Closed { id, data: *data, code, reason, pubsub, shared });
        }
    }
}
