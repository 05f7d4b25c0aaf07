//! `/pubsub`: a JSON pub/sub protocol over the engine's topics, parsed with simd-json.
//!
//! Client to server: `{"op":"sub","topic":"t"}`, `{"op":"unsub","topic":"t"}`,
//! `{"op":"pub","topic":"t","data":<any JSON>}`. Subscribers receive `{"topic":"t","data":...}`
//! (the publisher does not receive its own). A bad message gets `{"error":"..."}` on the socket;
//! after [`MAX_ERRORS`] of them the connection is closed: 1007 when the last one was not JSON,
//! 1003 when it was JSON asking for something unsupported (unknown op, binary frame).

use ringws::{Accept, CloseCode, Handler, Kind, Message, Reject, UpgradeRequest, WebSocket};
use simd_json::prelude::*;
use simd_json::{BorrowedValue, Buffers};

/// Topics one connection may hold: a chat or a game lobby needs a handful; 64 leaves room while
/// keeping one client from filling the topic table.
pub(crate) const MAX_TOPICS: usize = 64;
/// Longest topic name in bytes.
pub(crate) const MAX_TOPIC_LEN: usize = 128;
/// Bad messages tolerated per connection before it is closed.
pub(crate) const MAX_ERRORS: u32 = 10;

/// The route handler, one per worker: its buffers are reused for every message.
#[derive(Default)]
pub(crate) struct PubSub {
    scratch: Vec<u8>,
    buffers: Buffers,
}

/// Per-connection state: bad messages so far.
#[derive(Debug, Default)]
pub(crate) struct Client {
    errors: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Not JSON, or not the shape the protocol needs: 1007 after too many.
    Malformed,
    /// Well-formed but unsupported: 1003 after too many.
    Unsupported,
}

impl PubSub {
    fn handle(
        &mut self,
        ws: &mut WebSocket<'_, Client>,
        text: &str,
    ) -> Result<(), (Fault, String)> {
        self.scratch.clear();
        self.scratch.extend_from_slice(text.as_bytes());
        let value = simd_json::to_borrowed_value_with_buffers(&mut self.scratch, &mut self.buffers)
            .map_err(|e| (Fault::Malformed, format!("invalid JSON: {e}")))?;
        let malformed = |what: &str| (Fault::Malformed, what.to_owned());
        let op = value.get_str("op").ok_or_else(|| malformed("missing \"op\""))?;
        let topic = value.get_str("topic").ok_or_else(|| malformed("missing \"topic\""))?;
        if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
            return Err(malformed(&format!("topic must be 1 to {MAX_TOPIC_LEN} bytes")));
        }
        match op {
            "sub" => {
                if !ws.is_subscribed(topic) && ws.subscriptions().count() >= MAX_TOPICS {
                    return Err((
                        Fault::Unsupported,
                        format!("at most {MAX_TOPICS} topics per connection"),
                    ));
                }
                ws.subscribe(topic);
            }
            "unsub" => {
                ws.unsubscribe(topic);
            }
            "pub" => {
                let null = BorrowedValue::null();
                let data = value.get("data").unwrap_or(&null);
                let out = format!(
                    "{{\"topic\":{},\"data\":{}}}",
                    BorrowedValue::from(topic).encode(),
                    data.encode()
                );
                ws.publish(topic, Kind::Text, out.as_bytes());
            }
            other => return Err((Fault::Unsupported, format!("unknown op {:?}", other))),
        }
        Ok(())
    }
}

impl Handler for PubSub {
    type Data = Client;

    fn on_upgrade(&mut self, _: &UpgradeRequest<'_>) -> Result<Accept<Client>, Reject> {
        Ok(Accept::new(Client::default()))
    }

    fn on_message(&mut self, ws: &mut WebSocket<'_, Client>, message: Message<'_>) {
        let result = match message {
            Message::Text(text) => self.handle(ws, text),
            Message::Binary(_) => {
                Err((Fault::Unsupported, "binary messages are not part of this protocol".into()))
            }
        };
        let Err((fault, reason)) = result else { return };
        ws.data_mut().errors += 1;
        let error = format!("{{\"error\":{}}}", BorrowedValue::from(reason.as_str()).encode());
        let _ = ws.send_text(&error);
        if ws.data().errors >= MAX_ERRORS {
            let code = match fault {
                Fault::Malformed => CloseCode::INVALID_PAYLOAD,
                Fault::Unsupported => CloseCode::UNSUPPORTED_DATA,
            };
            // Both codes may be sent: this cannot fail.
            let _ = ws.close(code, "too many bad messages");
        }
    }
}
