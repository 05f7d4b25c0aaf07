use super::*;
use crate::error::Error;
use crate::handshake::parse_extensions;

fn offers(value: &str) -> Vec<crate::handshake::ExtensionOffer<'_>> {
    parse_extensions(value).unwrap()
}

#[test]
fn shared_mode_answers_no_context_takeover_both_ways() {
    let a = negotiate(&offers("permessage-deflate; client_max_window_bits"), DeflateMode::Shared)
        .unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert!(a.params.server_no_context_takeover && a.params.client_no_context_takeover);
    assert_eq!((a.params.server_max_window_bits, a.params.client_max_window_bits), (15, 15));
}

#[test]
fn the_first_valid_offer_wins_and_bad_ones_are_declined() {
    let value = "permessage-deflate; server_max_window_bits=16, \
                 permessage-deflate; client_no_context_takeover; client_no_context_takeover, \
                 permessage-deflate; mystery, \
                 permessage-deflate; server_max_window_bits=010, \
                 permessage-deflate; server_no_context_takeover=1, \
                 permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=9";
    let a = negotiate(&offers(value), DeflateMode::Dedicated { window_bits: 15 }).unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; server_max_window_bits=10; client_max_window_bits=9"
    );
    assert_eq!((a.params.server_max_window_bits, a.params.client_max_window_bits), (10, 9));
    assert!(!a.params.server_no_context_takeover);
    assert!(
        negotiate(&offers("permessage-deflate; x=1, x-webkit-deflate-frame"), DeflateMode::Shared)
            .is_none()
    );
    assert!(negotiate(&offers("foo"), DeflateMode::Shared).is_none());
}

#[test]
fn dedicated_mode_honours_what_the_client_asks() {
    let value = "permessage-deflate; server_no_context_takeover; server_max_window_bits=8";
    let a = negotiate(&offers(value), DeflateMode::Dedicated { window_bits: 12 }).unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=8"
    );
    assert_eq!(a.params.server_max_window_bits, 8);
    let a = negotiate(&offers("permessage-deflate"), DeflateMode::Dedicated { window_bits: 11 })
        .unwrap();
    assert_eq!(a.response, "permessage-deflate; server_max_window_bits=11", "ours, named");
}

#[test]
fn the_client_checks_the_answer() {
    let ours = &offers("permessage-deflate; server_max_window_bits=10")[0];
    let ok = &offers("permessage-deflate; server_max_window_bits=9; client_no_context_takeover")[0];
    let params = accept_response(ours, ok).unwrap();
    assert_eq!(params.server_max_window_bits, 9);
    let wider = &offers("permessage-deflate; server_max_window_bits=12")[0];
    assert!(accept_response(ours, wider).is_err());
    let unasked = &offers("permessage-deflate; client_max_window_bits=10")[0];
    assert!(accept_response(ours, unasked).is_err());
    let other = &offers("x-other")[0];
    assert!(accept_response(ours, other).is_err());
}

fn roundtrip(payload: &[u8], bits: u8, takeover: bool) {
    let mut d = Deflater::new(6, bits, takeover);
    let mut i = Inflater::new(takeover);
    for _ in 0..3 {
        let mut wire = Vec::new();
        d.deflate(payload, &mut wire);
        assert!(!wire.ends_with(&TRAILER));
        let mut out = Vec::new();
        i.inflate(&[&wire], 1 << 24, &mut out).unwrap();
        assert_eq!(out, payload);
    }
}

#[test]
fn messages_round_trip_at_every_window_and_either_takeover() {
    let json = br#"{"topic":"prices","bid":101.25,"ask":101.5,"seq":42}"#.repeat(200);
    for bits in 8..=15 {
        roundtrip(&json, bits, true);
        roundtrip(&json, bits, false);
    }
    roundtrip(b"", 15, false);
    let noise: Vec<u8> =
        (0..100_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    roundtrip(&noise, 15, true);
}

#[test]
fn an_empty_message_is_one_zero_byte() {
    let mut wire = Vec::new();
    Deflater::new(6, 15, false).deflate(b"", &mut wire);
    assert_eq!(wire, [0x00]);
}

#[test]
fn fragments_inflate_as_one_message() {
    let text = b"fragmented and compressed ".repeat(100);
    let mut wire = Vec::new();
    Deflater::new(6, 15, false).deflate(&text, &mut wire);
    let (a, b) = wire.split_at(wire.len() / 3);
    let (b, c) = b.split_at(b.len() / 2);
    let mut out = Vec::new();
    Inflater::new(false).inflate(&[a, b, c], 1 << 20, &mut out).unwrap();
    assert_eq!(out, text);
}

/// A bomb: a message that inflates to 1 GiB of zeros (about 1 MB on the wire, deflate's
/// ratio tops out near 1030:1) is stopped at the 1 MiB limit, never holding more than the limit
/// and one step.
#[test]
fn a_bomb_stops_at_the_limit() {
    let mut d = Deflater::new(9, 15, true);
    let zeros = vec![0u8; 1 << 20];
    let mut bomb = Vec::new();
    for _ in 0..1024 {
        d.deflate(&zeros, &mut bomb);
        bomb.extend_from_slice(&TRAILER); // one stream, sync-flushed piece by piece
    }
    bomb.truncate(bomb.len() - TRAILER.len());
    println!("a {}-byte message inflating to 1 GiB", bomb.len());
    let mut out = Vec::new();
    let err = Inflater::new(false).inflate(&[&bomb], 1 << 20, &mut out).unwrap_err();
    assert!(matches!(err, Error::MessageTooLarge { limit, .. } if limit == 1 << 20), "{err:?}");
    assert!(out.capacity() <= (1 << 20) + (32 << 10), "held {} bytes", out.capacity());
}

#[test]
fn garbage_does_not_inflate() {
    let mut out = Vec::new();
    let err = Inflater::new(false).inflate(&[&[0xff, 0xff, 0xff, 0x00]], 1 << 20, &mut out);
    assert_eq!(err, Err(Error::InvalidCompressedData));
    // The inflater is usable afterwards.
    let mut wire = Vec::new();
    Deflater::new(6, 15, false).deflate(b"fine", &mut wire);
    Inflater::new(false).inflate(&[&wire], 100, &mut out).unwrap();
    assert_eq!(out, b"fine");
}

#[test]
fn dedicated_mode_bounds_the_client_window_where_it_may() {
    let dedicated = DeflateMode::Dedicated { window_bits: 11 };
    // Offered without a value: the client takes the window we name.
    let a = negotiate(&offers("permessage-deflate; client_max_window_bits"), dedicated).unwrap();
    assert_eq!(
        a.response,
        "permessage-deflate; server_max_window_bits=11; client_max_window_bits=11"
    );
    assert_eq!(a.params.client_max_window_bits, 11);
    // Offered with a smaller value: theirs.
    let a = negotiate(&offers("permessage-deflate; client_max_window_bits=9"), dedicated).unwrap();
    assert_eq!(a.params.client_max_window_bits, 9);
    // Not offered: it may not be named, and the client compresses with up to 15 bits.
    let a = negotiate(&offers("permessage-deflate"), dedicated).unwrap();
    assert_eq!(a.response, "permessage-deflate; server_max_window_bits=11");
    assert_eq!(a.params.client_max_window_bits, 15);
    // Shared mode never narrows it (the worker's inflater has a 15-bit window).
    let a = negotiate(&offers("permessage-deflate; client_max_window_bits"), DeflateMode::Shared)
        .unwrap();
    assert!(!a.response.contains("client_max_window_bits"), "{}", a.response);
}

/// With context takeover, later messages refer back into earlier ones: the inflater must keep
/// its window between messages, within the window agreed.
#[test]
fn context_takeover_spans_messages_within_a_small_window() {
    let line = br#"{"player":7,"x":10.5,"y":-3.25,"hp":97,"state":"running"}"#;
    for bits in [9, 11, 15] {
        let mut d = Deflater::new(6, bits, true);
        let mut i = Inflater::with_window(bits, true);
        let mut sizes = Vec::new();
        for _ in 0..5 {
            let mut wire = Vec::new();
            d.deflate(line, &mut wire);
            sizes.push(wire.len());
            let mut out = Vec::new();
            i.inflate(&[&wire], 1 << 20, &mut out).unwrap();
            assert_eq!(out, line);
        }
        assert!(sizes[1] < sizes[0] / 2, "{bits} bits: the second refers to the first: {sizes:?}");
        // An inflater without the earlier messages cannot follow a later one.
        let mut wire = Vec::new();
        d.deflate(line, &mut wire);
        let fresh = Inflater::with_window(bits, true).inflate(&[&wire], 1 << 20, &mut Vec::new());
        assert_eq!(fresh, Err(Error::InvalidCompressedData), "{bits} bits");
    }
}
