//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): the client's offers, checked one by
//! one; the first valid one is accepted, answered with exactly the parameters the server uses.
//! An offer that breaks the grammar (a duplicate or unknown parameter, a bad value) is declined,
//! not an error: the client may have offered something else after it.

use crate::handshake::ExtensionOffer;

/// The extension's registered name.
pub const NAME: &str = "permessage-deflate";

/// How the server compresses, chosen per route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeflateMode {
    /// No context takeover in either direction: every message is compressed and inflated on
    /// its own, so one deflater and one inflater per worker serve every connection, and an idle
    /// compressed connection costs nothing extra.
    Shared,
    /// Context takeover (unless the client asks otherwise): better ratios on similar messages,
    /// at a deflater and an inflater per connection, `window_bits` (9..=15) for what we send.
    Dedicated {
        /// The server's window, 9..=15 (a smaller window costs less memory).
        window_bits: u8,
    },
}

/// What both ends agreed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server's window (8..=15; 8 is compressed with zlib's 9-bit window, whose matches
    /// never reach further than 250 bytes, within what 8 bits allow).
    pub server_max_window_bits: u8,
    /// The client's window (8..=15).
    pub client_max_window_bits: u8,
}

/// An accepted offer: the parameters, and the `Sec-WebSocket-Extensions` value to answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agreement {
    /// The parameters in force.
    pub params: DeflateParams,
    /// The response header's value.
    pub response: String,
}

/// One offer's parameters, checked.
#[derive(Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value (the client can take any we name).
    client_max_window_bits: Option<Option<u8>>,
}

fn window_bits(value: &str) -> Option<u8> {
    // 1*DIGIT, 8..=15, no sign, no leading zero.
    if value.is_empty() || value.len() > 2 || value.starts_with('0') {
        return None;
    }
    let bits: u8 = value.parse().ok()?;
    (8..=15).contains(&bits).then_some(bits)
}

impl Offer {
    fn parse(offer: &ExtensionOffer<'_>) -> Option<Self> {
        let mut out = Offer::default();
        let mut seen = Vec::new();
        for &(name, value) in &offer.params {
            if seen.contains(&name) {
                return None;
            }
            seen.push(name);
            match (name, value) {
                ("server_no_context_takeover", None) => out.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => out.client_no_context_takeover = true,
                ("server_max_window_bits", Some(v)) => {
                    out.server_max_window_bits = Some(window_bits(v)?)
                }
                ("client_max_window_bits", None) => out.client_max_window_bits = Some(None),
                ("client_max_window_bits", Some(v)) => {
                    out.client_max_window_bits = Some(Some(window_bits(v)?));
                }
                _ => return None,
            }
        }
        Some(out)
    }
}

/// Accepts the first valid permessage-deflate offer among `offers`, or none.
pub fn negotiate(offers: &[ExtensionOffer<'_>], mode: DeflateMode) -> Option<Agreement> {
    offers
        .iter()
        .filter(|o| o.name.eq_ignore_ascii_case(NAME))
        .find_map(Offer::parse)
        .map(|offer| agree(&offer, mode))
}

fn agree(offer: &Offer, mode: DeflateMode) -> Agreement {
    let (server_no_context_takeover, client_no_context_takeover, ours) = match mode {
        // Both may be answered although not offered (RFC 7692 §7.1.1.1, §7.1.1.2).
        DeflateMode::Shared => (true, true, 15),
        DeflateMode::Dedicated { window_bits } => (
            offer.server_no_context_takeover,
            offer.client_no_context_takeover,
            window_bits.clamp(9, 15),
        ),
    };
    let server_bits = offer.server_max_window_bits.map_or(ours, |asked| asked.min(ours));
    // Named when the client asked for a limit, or when ours is below the default.
    let name_server_bits = offer.server_max_window_bits.is_some() || server_bits < 15;
    // The client's window may only be named if it offered the parameter. In shared mode the
    // worker's 15-bit inflater takes any window, so the client's own value (or 15) stands; in
    // dedicated mode each connection keeps an inflater with its window, so the route's window
    // bounds it too where the client lets us name one.
    let offered_client = offer.client_max_window_bits;
    let client_bits = match (mode, offered_client) {
        (DeflateMode::Dedicated { .. }, Some(bits)) => bits.unwrap_or(15).min(ours),
        _ => offered_client.flatten().unwrap_or(15),
    };
    let mut response = NAME.to_owned();
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if name_server_bits {
        response.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    let name_client_bits = match mode {
        DeflateMode::Dedicated { .. } => offered_client.is_some() && client_bits < 15,
        DeflateMode::Shared => false,
    } || matches!(offered_client, Some(Some(_)));
    if name_client_bits {
        response.push_str(&format!("; client_max_window_bits={client_bits}"));
    }
    let params = DeflateParams {
        server_no_context_takeover,
        client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    };
    Agreement { params, response }
}

/// The client side: checks the server's answer against what was offered (one
/// permessage-deflate offer, `offered`) and returns the parameters in force.
///
/// # Errors
/// A response the client cannot accept: another extension, a parameter it did not allow
/// (`client_max_window_bits` it did not offer), a window wider than it asked, a malformed
/// value. The client fails the handshake (RFC 7692 §5).
pub fn accept_response(
    offered: &ExtensionOffer<'_>,
    response: &ExtensionOffer<'_>,
) -> Result<DeflateParams, &'static str> {
    if !response.name.eq_ignore_ascii_case(NAME) {
        return Err("an extension that was not offered");
    }
    let offer = Offer::parse(offered).ok_or("our own offer is malformed")?;
    let answer = Offer::parse(response).ok_or("a malformed permessage-deflate response")?;
    if answer.client_max_window_bits == Some(None) {
        return Err("client_max_window_bits without a value");
    }
    if answer.client_max_window_bits.is_some() && offer.client_max_window_bits.is_none() {
        return Err("client_max_window_bits that was not offered");
    }
    let (asked, got) = (offer.server_max_window_bits, answer.server_max_window_bits);
    if asked.zip(got).is_some_and(|(asked, got)| got > asked) {
        return Err("server_max_window_bits wider than asked");
    }
    if offer.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err("server_no_context_takeover was asked and not granted");
    }
    Ok(DeflateParams {
        server_no_context_takeover: answer.server_no_context_takeover,
        client_no_context_takeover: answer.client_no_context_takeover,
        server_max_window_bits: answer.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: answer.client_max_window_bits.flatten().unwrap_or(15),
    })
}
