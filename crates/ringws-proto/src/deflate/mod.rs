//! permessage-deflate (RFC 7692), sans-IO: the negotiation, and the codec that compresses and
//! inflates whole messages with a bound on the inflated size.
//!
//! ```text
//!  offers (Sec-WebSocket-Extensions) ─► negotiate(offers, mode) ─► Agreement { params, response }
//!  received: RSV1 on a message's first frame ─► its payload gathered ─► Inflater::inflate
//!            (+ 00 00 ff ff, checked against the message limit while inflating) ─► UTF-8 ─► app
//!  sent:     Deflater::deflate (sync flush, 00 00 ff ff removed) ─► a frame with RSV1
//! ```

mod codec;
mod negotiate;

pub use codec::{Deflater, Inflater, TRAILER};
pub use negotiate::{Agreement, DeflateMode, DeflateParams, NAME, accept_response, negotiate};

#[cfg(test)]
mod tests;
