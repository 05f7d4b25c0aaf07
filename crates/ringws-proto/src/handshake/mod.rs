//! The opening handshake (RFC 6455 §4): the server side (parse, validate, answer) and the client
//! side (request builder, response validation) used by the load tester and the tests.
//!
//! Parsing is incremental: call [`parse_request`] on everything received so far; it answers
//! `Ok(None)` until the request head is complete and fails with 431 once the head outgrows its
//! limit, so a client that trickles bytes cannot make the server buffer without bound.

mod accept;
mod client;
mod request;
mod response;
mod tokens;

pub use accept::{AcceptKey, GUID};
pub use client::{ClientRequest, ClientResponse, parse_response};
pub use request::{
    DEFAULT_MAX_HEADER_BYTES, MAX_HEADERS, Request, Upgrade, parse_request, validate_key,
};
pub use response::{reason_phrase, write_accept, write_reject, write_response};
pub use tokens::{ExtensionOffer, has_token, parse_extensions, tokens};

#[cfg(test)]
mod tests;
