//! Frame decoding plus message assembly on arbitrary (server-role) input: messages or a close
//! code, never a panic, and a text message is always valid UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringws_proto::{FrameDecoder, Message, MessageAssembler, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else { return };
    let cut = usize::from(cut).min(data.len());
    let mut decoder = FrameDecoder::new(Role::Server).with_max_frame_size(4096);
    let mut assembler = MessageAssembler::new().with_max_message_size(8192);
    for piece in [&data[..cut], &data[cut..]] {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        loop {
            let (part, used) = match decoder.decode(&mut piece[pos..]) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    assert!(e.close_code().is_some());
                    return;
                }
            };
            pos += used;
            match assembler.push(part) {
                Ok(Some(Message::Text(t))) => assert!(std::str::from_utf8(t.as_bytes()).is_ok()),
                Ok(Some(Message::Binary(b))) => assert!(b.len() <= 8192),
                Ok(Some(Message::Ping(p) | Message::Pong(p))) => assert!(p.len() <= 125),
                Ok(Some(Message::Close(c))) => {
                    if let Some(c) = c {
                        assert!(c.code.is_valid_on_wire());
                    }
                }
                // The decoder allows no RSV bit here: a compressed message cannot get through.
                Ok(Some(Message::Compressed { .. })) => panic!("RSV1 got past the decoder"),
                Ok(None) => {}
                Err(e) => {
                    assert!(e.close_code().is_some());
                    return;
                }
            }
        }
    }
});
