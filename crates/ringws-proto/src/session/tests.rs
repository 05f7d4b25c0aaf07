use super::*;
use crate::frame::write_frame;
use crate::test_util::{client_frame, frame};
use proptest::prelude::*;

/// An action with its borrows turned into owned values, to compare runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Closed { code: Option<u16>, reply: Option<Vec<u8>>, close_transport: bool },
    Fail { code: u16, close: Option<Vec<u8>>, close_now: bool },
}

fn own(action: Action<'_>) -> Seen {
    match action {
        Action::Text(t) => Seen::Text(t.to_owned()),
        Action::Binary(b) => Seen::Binary(b.to_vec()),
        Action::Ping(p) => Seen::Ping(p.to_vec()),
        Action::Pong(p) => Seen::Pong(p.to_vec()),
        Action::Closed { frame, reply, close_transport } => Seen::Closed {
            code: frame.map(|f| f.code.0),
            reply: reply.map(|r| r.as_bytes().to_vec()),
            close_transport,
        },
        Action::Fail { error, close, close_now } => Seen::Fail {
            code: error.close_code().map_or(0, |c| c.0),
            close: close.map(|c| c.as_bytes()[..2].to_vec()),
            close_now,
        },
    }
}

/// Feeds `input` cut at `cuts`, as a caller's receive loop does, and collects the actions.
fn drive(session: &mut Session, codec: &mut Codec, input: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut seen = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    let mut start = 0;
    for end in bounds {
        let mut chunk = input[start..end].to_vec();
        start = end;
        let mut pos = 0;
        while let Read::Took(used, action) = session.read(codec, &mut chunk[pos..]) {
            pos += used;
            seen.extend(action.map(own));
        }
    }
    seen
}

fn server() -> (Session, Codec) {
    (Session::new(Role::Server), Codec::new(Role::Server))
}

fn close_payload(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

#[test]
fn messages_and_control_frames_in_one_buffer() {
    let (mut s, mut c) = server();
    let mut input = client_frame(true, OpCode::Text, b"hello");
    input.extend(client_frame(true, OpCode::Ping, b"p"));
    input.extend(client_frame(true, OpCode::Binary, &[1, 2, 3]));
    input.extend(client_frame(true, OpCode::Pong, b""));
    assert_eq!(
        drive(&mut s, &mut c, &input, &[]),
        [
            Seen::Text("hello".into()),
            Seen::Ping(b"p".to_vec()),
            Seen::Binary(vec![1, 2, 3]),
            Seen::Pong(vec![])
        ]
    );
    assert!(c.release(), "nothing pending after whole messages");
}

#[test]
fn a_fragmented_message_holds_the_codec_until_it_ends() {
    let (mut s, mut c) = server();
    let first = client_frame(false, OpCode::Text, b"hel");
    assert!(drive(&mut s, &mut c, &first, &[]).is_empty());
    assert!(!c.release(), "a message in progress keeps the codec");
    let mut rest = client_frame(true, OpCode::Ping, b"");
    rest.extend(client_frame(true, OpCode::Continuation, b"lo"));
    let seen = drive(&mut s, &mut c, &rest, &[]);
    assert_eq!(seen, [Seen::Ping(vec![]), Seen::Text("hello".into())]);
    assert!(c.release());
}

#[test]
fn the_peer_closes_first_the_server_answers_and_closes() {
    let (mut s, mut c) = server();
    let mut input = client_frame(true, OpCode::Close, b"\x03\xe8bye");
    input.extend(client_frame(true, OpCode::Text, b"late"));
    input.extend(client_frame(true, OpCode::Close, b"\x03\xe8"));
    let seen = drive(&mut s, &mut c, &input, &[]);
    let reply = Some(close_payload(1000));
    assert_eq!(seen, [Seen::Closed { code: Some(1000), reply, close_transport: true }]);
    assert_eq!(s.close_state(), CloseState::CloseAcknowledged);
    assert_eq!(s.check_send(OpCode::Text, 1), Err(SendError::Closing));
}

#[test]
fn a_close_without_code_is_answered_without_code() {
    let (mut s, mut c) = server();
    let seen = drive(&mut s, &mut c, &client_frame(true, OpCode::Close, b""), &[]);
    let expected = Seen::Closed { code: None, reply: Some(vec![]), close_transport: true };
    assert_eq!(seen, [expected]);
}

#[test]
fn a_client_waits_for_the_server_to_close_tcp() {
    let mut s = Session::new(Role::Client);
    let mut c = Codec::new(Role::Client);
    let seen = drive(&mut s, &mut c, &frame(true, OpCode::Close, None, b"\x03\xe9"), &[]);
    let reply = Some(close_payload(1001));
    assert_eq!(seen, [Seen::Closed { code: Some(1001), reply, close_transport: false }]);
}

#[test]
fn we_close_first_then_the_peer_answers() {
    let (mut s, mut c) = server();
    let ours = s.start_close(CloseCode::GOING_AWAY, "bye").expect("open");
    assert_eq!(ours.as_bytes(), b"\x03\xe9bye");
    assert_eq!(s.start_close(CloseCode::NORMAL, ""), None, "one close frame only");
    assert_eq!(s.check_send(OpCode::Binary, 1), Err(SendError::Closing));
    assert_eq!(s.check_send(OpCode::Ping, 0), Err(SendError::Closing));
    // Data the peer sent before it saw our close is dropped; its close completes the handshake.
    let mut input = client_frame(true, OpCode::Text, b"in flight");
    input.extend(client_frame(true, OpCode::Close, b"\x03\xe9"));
    let seen = drive(&mut s, &mut c, &input, &[]);
    assert_eq!(seen, [Seen::Closed { code: Some(1001), reply: None, close_transport: true }]);
}

#[test]
fn a_framing_error_fails_with_1002_and_ignores_the_rest() {
    let (mut s, mut c) = server();
    let mut input = frame(true, OpCode::Text, None, b"unmasked");
    input.extend(client_frame(true, OpCode::Close, b"\x03\xe8"));
    let seen = drive(&mut s, &mut c, &input, &[]);
    let close = Some(close_payload(1002));
    assert_eq!(seen, [Seen::Fail { code: 1002, close, close_now: false }]);
    assert!(s.failed());
    assert!(drive(&mut s, &mut c, &client_frame(true, OpCode::Text, b"x"), &[]).is_empty());
}

#[test]
fn a_framing_error_after_our_close_closes_at_once() {
    let (mut s, mut c) = server();
    s.start_close(CloseCode::NORMAL, "").unwrap();
    let seen = drive(&mut s, &mut c, &[0x83, 0x80, 0, 0, 0, 0], &[]);
    assert_eq!(seen, [Seen::Fail { code: 1002, close: None, close_now: true }]);
}

#[test]
fn bad_utf8_fails_with_1007_then_waits_for_the_peers_close() {
    let (mut s, mut c) = server();
    let mut input = client_frame(true, OpCode::Text, &[0xff, 0xfe]);
    input.extend(client_frame(true, OpCode::Text, b"ignored"));
    input.extend(client_frame(true, OpCode::Ping, b"ignored"));
    input.extend(client_frame(true, OpCode::Close, b"\x03\xe8"));
    let seen = drive(&mut s, &mut c, &input, &[]);
    assert_eq!(
        seen,
        [
            Seen::Fail { code: 1007, close: Some(close_payload(1007)), close_now: false },
            Seen::Closed { code: Some(1000), reply: None, close_transport: true },
        ]
    );
}

#[test]
fn a_message_over_the_limit_fails_with_1009_before_its_payload() {
    let mut s = Session::new(Role::Server);
    let mut c = Codec::new(Role::Server).with_max_message_size(10);
    let input = client_frame(true, OpCode::Binary, &[0; 11]);
    let seen = drive(&mut s, &mut c, &input[..7], &[]); // the header and one byte
    assert_eq!(
        seen,
        [Seen::Fail { code: 1009, close: Some(close_payload(1009)), close_now: false }]
    );
}

#[test]
fn the_send_side_refuses_what_the_state_forbids() {
    let (mut s, mut c) = server();
    assert_eq!(s.check_send(OpCode::Text, 1 << 20), Ok(()));
    assert_eq!(s.check_send(OpCode::Ping, 126), Err(SendError::ControlTooLong(126)));
    assert_eq!(s.check_send(OpCode::Close, 2), Err(SendError::CloseOutsideHandshake));
    // The peer closed first: our answer is part of the action, data is still ours to stop.
    drive(&mut s, &mut c, &client_frame(true, OpCode::Close, b""), &[]);
    assert_eq!(s.check_send(OpCode::Text, 1), Err(SendError::Closing));
    assert_eq!(s.start_close(CloseCode::NORMAL, ""), None, "the answer was sent already");
}

#[test]
fn write_frame_is_what_the_other_role_reads() {
    let mut s = Session::new(Role::Server);
    let mut c = Codec::new(Role::Server);
    let mut input = Vec::new();
    write_frame(&mut input, OpCode::Text, "masked by a client".as_bytes(), Some([9, 8, 7, 6]));
    let seen = drive(&mut s, &mut c, &input, &[]);
    assert_eq!(seen, [Seen::Text("masked by a client".into())]);

    let mut s = Session::new(Role::Client);
    let mut c = Codec::new(Role::Client);
    let mut input = Vec::new();
    write_frame(&mut input, OpCode::Binary, &[7; 300], None);
    assert_eq!(drive(&mut s, &mut c, &input, &[]), [Seen::Binary(vec![7; 300])]);
}

#[test]
fn the_session_is_small() {
    assert!(size_of::<Session>() <= 4, "{} bytes", size_of::<Session>());
}

proptest! {
    /// However the bytes are cut, the actions are the same.
    #[test]
    fn any_split_gives_the_same_actions(
        cuts in proptest::collection::vec(0usize..200, 0..6),
        text in "[a-zé€]{0,40}",
    ) {
        let mut input = client_frame(false, OpCode::Text, &text.as_bytes()[..text.len() / 2]);
        input.extend(client_frame(true, OpCode::Ping, b"keepalive"));
        input.extend(client_frame(true, OpCode::Continuation, &text.as_bytes()[text.len() / 2..]));
        input.extend(client_frame(true, OpCode::Binary, &[5; 130]));
        input.extend(client_frame(true, OpCode::Close, b"\x0f\xa0done"));
        let (mut s, mut c) = server();
        let whole = drive(&mut s, &mut c, &input, &[]);
        let (mut s, mut c) = server();
        prop_assert_eq!(drive(&mut s, &mut c, &input, &cuts), whole);
    }
}

/// A client frame with RSV1 (a compressed message's first frame) when `rsv1`.
fn client_frame_rsv(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut bytes = client_frame(fin, opcode, payload);
    if rsv1 {
        bytes[0] |= crate::frame::RSV1;
    }
    bytes
}

fn compressed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    crate::deflate::Deflater::new(6, 15, false).deflate(payload, &mut out);
    out
}

fn deflating_server() -> (Session, Codec) {
    let mut codec = Codec::new(Role::Server).with_max_message_size(1 << 20);
    codec.set_deflate(true);
    (Session::new(Role::Server), codec)
}

#[test]
fn compressed_messages_whole_and_fragmented() {
    let (mut s, mut c) = deflating_server();
    let text = "compressed text, ".repeat(50);
    let wire = compressed(text.as_bytes());
    let mut input = client_frame_rsv(true, true, OpCode::Text, &wire);
    let (a, b) = wire.split_at(wire.len() / 2);
    input.extend(client_frame_rsv(false, true, OpCode::Binary, a));
    input.extend(client_frame(true, OpCode::Ping, b"in between"));
    input.extend(client_frame_rsv(true, false, OpCode::Continuation, b));
    input.extend(client_frame(true, OpCode::Text, b"plain"));
    let seen = drive(&mut s, &mut c, &input, &[]);
    assert_eq!(
        seen,
        [
            Seen::Text(text.clone()),
            Seen::Ping(b"in between".to_vec()),
            Seen::Binary(text.clone().into_bytes()),
            Seen::Text("plain".into())
        ]
    );
}

#[test]
fn rsv1_where_it_does_not_belong_is_1002() {
    let cases = [
        // On a continuation frame.
        [
            client_frame_rsv(false, true, OpCode::Text, &compressed(b"a")),
            client_frame_rsv(true, true, OpCode::Continuation, b""),
        ]
        .concat(),
        // On a control frame.
        client_frame_rsv(true, true, OpCode::Ping, b""),
    ];
    for input in cases {
        let (mut s, mut c) = deflating_server();
        let seen = drive(&mut s, &mut c, &input, &[]);
        assert!(matches!(seen.last(), Some(Seen::Fail { code: 1002, .. })), "{seen:?}");
    }
    // Without permessage-deflate negotiated, RSV1 is a framing error.
    let (mut s, mut c) = server();
    let seen = drive(&mut s, &mut c, &client_frame_rsv(true, true, OpCode::Text, b"x"), &[]);
    assert!(matches!(seen.last(), Some(Seen::Fail { code: 1002, .. })), "{seen:?}");
}

#[test]
fn inflated_text_is_checked_and_bounded() {
    let (mut s, mut c) = deflating_server();
    let bad = client_frame_rsv(true, true, OpCode::Text, &compressed(&[0xc3, 0x28]));
    let seen = drive(&mut s, &mut c, &bad, &[]);
    assert!(matches!(seen.last(), Some(Seen::Fail { code: 1007, .. })), "{seen:?}");
    // 2 MiB of zeros, a few KB on the wire, against a 1 MiB limit: 1009 while inflating.
    let (mut s, mut c) = deflating_server();
    let big = client_frame_rsv(true, true, OpCode::Binary, &compressed(&vec![0; 2 << 20]));
    assert!(big.len() < 10_000);
    let seen = drive(&mut s, &mut c, &big, &[]);
    assert!(matches!(seen.last(), Some(Seen::Fail { code: 1009, .. })), "{seen:?}");
}

proptest! {
    /// Compressed messages too: however the bytes are cut, the same actions.
    #[test]
    fn compressed_any_split_gives_the_same_actions(
        cuts in proptest::collection::vec(0usize..400, 0..6),
        text in "[a-z€ ]{0,300}",
    ) {
        let wire = compressed(text.as_bytes());
        let (a, b) = wire.split_at(wire.len() / 2);
        let mut input = client_frame_rsv(false, true, OpCode::Text, a);
        input.extend(client_frame(true, OpCode::Pong, b""));
        input.extend(client_frame_rsv(true, false, OpCode::Continuation, b));
        let (mut s, mut c) = deflating_server();
        let whole = drive(&mut s, &mut c, &input, &[]);
        prop_assert_eq!(&whole, &vec![Seen::Pong(vec![]), Seen::Text(text.clone())]);
        let (mut s, mut c) = deflating_server();
        prop_assert_eq!(drive(&mut s, &mut c, &input, &cuts), whole);
    }
}
