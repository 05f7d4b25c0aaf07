use super::*;
use crate::Role;
use crate::close::CloseCode;
use crate::frame::FrameDecoder;
use crate::test_util::client_frame;

/// What a message turned into, owned, so tests can compare whole sequences.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Compressed(bool, Vec<u8>),
}

impl From<Message<'_>> for Got {
    fn from(m: Message<'_>) -> Self {
        match m {
            Message::Text(t) => Got::Text(t.to_owned()),
            Message::Binary(b) => Got::Binary(b.to_vec()),
            Message::Ping(b) => Got::Ping(b.to_vec()),
            Message::Pong(b) => Got::Pong(b.to_vec()),
            Message::Close(c) => Got::Close(c.map(|c| (c.code.0, c.reason.to_owned()))),
            Message::Compressed { text, payload } => Got::Compressed(text, payload.to_vec()),
        }
    }
}

/// Runs bytes through decoder and assembler, cut at `cuts`; stops at the first error.
fn run(
    assembler: &mut MessageAssembler,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<Got>, Option<Error>) {
    let mut decoder = FrameDecoder::new(Role::Server);
    let mut out = Vec::new();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(input.len());
    for w in bounds.windows(2) {
        let mut piece = input[w[0]..w[1]].to_vec();
        let mut pos = 0;
        loop {
            let (part, used) = match decoder.decode(&mut piece[pos..]) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            };
            pos += used;
            match assembler.push(part) {
                Ok(Some(m)) => out.push(Got::from(m)),
                Ok(None) => {}
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn concat(frames: &[Vec<u8>]) -> Vec<u8> {
    frames.concat()
}

#[test]
fn fragmented_message_with_control_frames_between() {
    let input = concat(&[
        client_frame(false, OpCode::Text, "Hel".as_bytes()),
        client_frame(true, OpCode::Ping, b"p1"),
        client_frame(false, OpCode::Continuation, "lo, wör".as_bytes()),
        client_frame(true, OpCode::Pong, b""),
        client_frame(true, OpCode::Continuation, "ld".as_bytes()),
        client_frame(true, OpCode::Binary, &[1, 2, 3]),
        client_frame(true, OpCode::Close, b"\x03\xe8bye"),
    ]);
    let expected = vec![
        Got::Ping(b"p1".to_vec()),
        Got::Pong(vec![]),
        Got::Text("Hello, wörld".into()),
        Got::Binary(vec![1, 2, 3]),
        Got::Close(Some((1000, "bye".into()))),
    ];
    for a in 0..=input.len() {
        for b in (a..=input.len()).step_by(3) {
            let mut asm = MessageAssembler::new();
            let (got, err) = run(&mut asm, &input, &[a, b]);
            assert_eq!(err, None, "cuts {a} {b}");
            assert_eq!(got, expected, "cuts {a} {b}");
            assert!(asm.open.is_none());
        }
    }
}

#[test]
fn whole_frame_message_borrows_the_input() {
    let mut bytes = client_frame(true, OpCode::Binary, b"zero copy");
    let range = bytes.as_ptr_range();
    let mut decoder = FrameDecoder::new(Role::Server);
    let (part, _) = decoder.decode(&mut bytes).unwrap().unwrap();
    let mut asm = MessageAssembler::new();
    let Some(Message::Binary(payload)) = asm.push(part).unwrap() else { panic!("no message") };
    assert!(range.contains(&payload.as_ptr()), "payload must point into the input buffer");
    assert!(asm.is_idle());
}

#[test]
fn assembled_buffer_is_released_after_delivery() {
    let input = concat(&[
        client_frame(false, OpCode::Binary, &[1; 100]),
        client_frame(true, OpCode::Continuation, &[2; 100]),
    ]);
    let mut asm = MessageAssembler::new();
    let (got, err) = run(&mut asm, &input, &[]);
    assert_eq!((got.len(), err), (1, None));
    assert!(!asm.is_idle());
    asm.release();
    assert!(asm.is_idle());
}

#[test]
fn continuation_without_start_is_1002() {
    let input = client_frame(true, OpCode::Continuation, b"x");
    let (_, err) = run(&mut MessageAssembler::new(), &input, &[]);
    assert_eq!(err, Some(Error::UnexpectedContinuation));
    assert_eq!(err.unwrap().close_code(), Some(CloseCode::PROTOCOL_ERROR));
}

#[test]
fn new_data_frame_inside_fragmented_message_is_1002() {
    let input = concat(&[
        client_frame(false, OpCode::Text, b"a"),
        client_frame(true, OpCode::Binary, b"b"),
    ]);
    let (_, err) = run(&mut MessageAssembler::new(), &input, &[]);
    assert_eq!(err, Some(Error::ExpectedContinuation));
}

#[test]
fn message_over_limit_is_1009_before_the_payload_arrives() {
    let input = concat(&[
        client_frame(false, OpCode::Binary, &[0; 600]),
        client_frame(true, OpCode::Continuation, &[0; 600]),
    ]);
    let mut asm = MessageAssembler::new().with_max_message_size(1000);
    // Only the second frame's header is given: the limit is decided from it.
    let second_header_end = 600 + 8 + 8;
    let (got, err) = run(&mut asm, &input[..second_header_end], &[]);
    assert!(got.is_empty());
    assert_eq!(err, Some(Error::MessageTooLarge { len: 1200, limit: 1000 }));
    assert!(asm.data.len() <= 600, "nothing of the second frame was kept");
}

#[test]
fn invalid_utf8_fails_fast_across_fragments() {
    // Valid text in the first fragment, then a byte that can never be UTF-8 in the middle of a
    // second, unfinished fragment: the error comes before the message ends.
    let mut second = b"ok".to_vec();
    second.push(0xff);
    second.extend_from_slice(&[b'a'; 50]);
    let input = concat(&[
        client_frame(false, OpCode::Text, "κόσμε".as_bytes()),
        client_frame(false, OpCode::Continuation, &second),
    ]);
    let cut = input.len() - 40; // the second frame is still incomplete here
    let (_, err) = run(&mut MessageAssembler::new(), &input[..cut], &[]);
    assert_eq!(err, Some(Error::InvalidUtf8));
    assert_eq!(err.unwrap().close_code(), Some(CloseCode::INVALID_PAYLOAD));
    // A whole single-frame text message with bad UTF-8.
    let input = client_frame(true, OpCode::Text, &[0xce, 0xba, 0xe1, 0xbd]);
    let (_, err) = run(&mut MessageAssembler::new(), &input, &[]);
    assert_eq!(err, Some(Error::InvalidUtf8));
}

#[test]
fn code_point_split_across_fragments_is_valid() {
    let euro = "€".as_bytes(); // three bytes
    let input = concat(&[
        client_frame(false, OpCode::Text, &euro[..1]),
        client_frame(false, OpCode::Continuation, &euro[1..2]),
        client_frame(true, OpCode::Continuation, &euro[2..]),
    ]);
    let (got, err) = run(&mut MessageAssembler::new(), &input, &[]);
    assert_eq!(err, None);
    assert_eq!(got, vec![Got::Text("€".into())]);
}

#[test]
fn bad_close_payloads() {
    for (payload, code) in [
        (&b"\x03"[..], 1002),
        (&b"\x03\xed"[..], 1002), // 1005 may not be sent
        (&b"\x00\x00"[..], 1002),
        (&b"\x03\xe8\xff"[..], 1007),
    ] {
        let input = client_frame(true, OpCode::Close, payload);
        let (_, err) = run(&mut MessageAssembler::new(), &input, &[]);
        assert_eq!(err.unwrap().close_code(), Some(CloseCode(code)), "{payload:?}");
    }
    let input = client_frame(true, OpCode::Close, b"");
    let (got, err) = run(&mut MessageAssembler::new(), &input, &[]);
    assert_eq!((got, err), (vec![Got::Close(None)], None));
}
