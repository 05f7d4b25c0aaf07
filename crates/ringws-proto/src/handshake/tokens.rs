//! Header value grammar: comma-separated token lists and extension offers (RFC 7230 §7,
//! RFC 6455 §9.1).

use crate::error::{Error, Result};

/// The comma-separated elements of a header value, trimmed, empty ones skipped.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|t| t.trim_ascii()).filter(|t| !t.is_empty())
}

/// Whether a token list contains `token`, compared case-insensitively
/// (`Connection: keep-alive, Upgrade` contains `upgrade`).
pub fn has_token(value: &[u8], token: &str) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// One extension the client offered, with its parameters, e.g.
/// `permessage-deflate; client_max_window_bits=10`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionOffer<'a> {
    /// The extension's name.
    pub name: &'a str,
    /// Its parameters: name and optional value (quotes removed).
    pub params: Vec<(&'a str, Option<&'a str>)>,
}

/// Parses a `Sec-WebSocket-Extensions` value into offers, in the client's order of preference.
///
/// # Errors
/// An element with an empty name or parameter name: [`Error::MalformedRequest`].
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer<'_>>> {
    let malformed = Error::MalformedRequest("Sec-WebSocket-Extensions");
    let mut offers = Vec::new();
    for element in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let mut parts = element.split(';').map(str::trim);
        let name = parts.next().filter(|n| is_token(n)).ok_or(malformed.clone())?;
        let mut params = Vec::new();
        for param in parts {
            let (key, value) = match param.split_once('=') {
                Some((k, v)) => (k.trim(), Some(unquote(v.trim()))),
                None => (param, None),
            };
            if !is_token(key) {
                return Err(malformed);
            }
            params.push((key, value));
        }
        offers.push(ExtensionOffer { name, params });
    }
    Ok(offers)
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
}

/// RFC 7230 `token`: visible ASCII except separators.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}
