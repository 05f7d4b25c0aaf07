//! The server-side handshake parser on arbitrary bytes, cut at an arbitrary point: never a panic,
//! and a prefix never succeeds where the whole fails differently.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringws_proto::handshake::{parse_request, write_accept, write_reject};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else { return };
    let cut = usize::from(cut).min(data.len());
    // A prefix either needs more bytes, or already has the same verdict as the whole.
    let prefix = parse_request(&data[..cut], 1024);
    let whole = parse_request(data, 1024);
    if let (Ok(Some(p)), Ok(Some(w))) = (&prefix, &whole) {
        assert_eq!(p.len(), w.len(), "a complete head must not change with more bytes");
    }
    let mut out = Vec::new();
    match whole {
        Ok(Some(req)) => match req.websocket() {
            Ok(up) => {
                let proto = up.choose_protocol(&["chat", "superchat"]);
                write_accept(&mut out, up.accept_key(), proto, None);
            }
            Err(e) => {
                assert!(e.http_status().is_some(), "handshake errors answer with HTTP: {e:?}");
                write_reject(&mut out, &e);
            }
        },
        Ok(None) => assert!(data.len() <= 1024),
        Err(e) => assert!(e.http_status().is_some()),
    }
});
