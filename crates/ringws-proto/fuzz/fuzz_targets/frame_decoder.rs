//! The frame decoder on arbitrary bytes in both roles, fed whole and split: the parts it returns
//! are the same either way, and it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringws_proto::{FrameDecoder, Role};

type Frames = (Vec<(u8, bool, Vec<u8>)>, bool);

fn run(role: Role, data: &[u8], cut: usize) -> Frames {
    let mut decoder = FrameDecoder::new(role).with_max_frame_size(1 << 16);
    let mut frames = Vec::new();
    let mut current = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        let mut piece = piece.to_vec();
        let mut pos = 0;
        loop {
            match decoder.decode(&mut piece[pos..]) {
                Ok(Some((part, used))) => {
                    assert!(used > 0 || part.is_last, "progress or end of frame");
                    pos += used;
                    current.extend_from_slice(part.payload);
                    if part.is_last {
                        let h = part.header;
                        frames.push((h.opcode as u8, h.fin, std::mem::take(&mut current)));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    assert!(e.close_code().is_some(), "frame errors answer with a close code");
                    return (frames, true);
                }
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else { return };
    let cut = usize::from(cut).min(data.len());
    for role in [Role::Server, Role::Client] {
        let whole = run(role, data, data.len());
        let split = run(role, data, cut);
        assert_eq!(whole, split, "splitting the input must not change the frames");
    }
});
