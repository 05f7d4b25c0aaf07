use super::*;
use crate::Role;
use crate::error::Error;
use crate::test_util::{client_frame, frame};
use proptest::prelude::*;

/// Feeds `input` in pieces cut at `cuts` and returns every frame, reassembled from its parts, as
/// (header, payload).
fn decode_all(
    decoder: &mut FrameDecoder,
    input: &[u8],
    cuts: &[usize],
) -> Result<Vec<(FrameHeader, Vec<u8>)>, Error> {
    let mut frames = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(input.len());
    for w in bounds.windows(2) {
        let mut piece = input[w[0]..w[1]].to_vec();
        let mut pos = 0;
        while let Some((part, used)) = decoder.decode(&mut piece[pos..])? {
            pos += used;
            assert_eq!(part.offset, current.len() as u64);
            current.extend_from_slice(part.payload);
            if part.is_last {
                frames.push((part.header, std::mem::take(&mut current)));
            }
        }
    }
    Ok(frames)
}

fn server() -> FrameDecoder {
    FrameDecoder::new(Role::Server)
}

fn first_error(decoder: &mut FrameDecoder, bytes: &[u8]) -> Error {
    decode_all(decoder, bytes, &[]).unwrap_err()
}

#[test]
fn rfc_examples_decode() {
    // §5.7: unmasked "Hello" (client role) and masked "Hello" (server role).
    let mut client = FrameDecoder::new(Role::Client);
    let frames = decode_all(&mut client, b"\x81\x05\x48\x65\x6c\x6c\x6f", &[]).unwrap();
    assert_eq!(frames[0].1, b"Hello");
    assert_eq!(frames[0].0.opcode, OpCode::Text);
    let masked = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let frames = decode_all(&mut server(), masked, &[]).unwrap();
    assert_eq!(frames[0].1, b"Hello");
    assert_eq!(frames[0].0.masking_key, Some([0x37, 0xfa, 0x21, 0x3d]));
}

#[test]
fn every_split_point_of_a_multi_frame_input() {
    let mut input = Vec::new();
    let payloads: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"Hello".to_vec(),
        (0..200u8).collect(),
        (0..=255u8).cycle().take(70_000).collect(),
        b"ping".to_vec(),
    ];
    input.extend(client_frame(true, OpCode::Text, &payloads[0]));
    input.extend(client_frame(false, OpCode::Binary, &payloads[1]));
    input.extend(client_frame(true, OpCode::Continuation, &payloads[2]));
    input.extend(client_frame(true, OpCode::Binary, &payloads[3]));
    input.extend(client_frame(true, OpCode::Ping, &payloads[4]));
    let expected = decode_all(&mut server(), &input, &[]).unwrap();
    assert_eq!(expected.len(), 5);
    for (got, want) in expected.iter().zip(&payloads) {
        assert_eq!(&got.1, want);
    }
    // One cut anywhere, and two cuts around every header boundary region.
    for cut in 0..=input.len() {
        if cut > 400 && cut < input.len() - 400 && cut % 97 != 0 {
            continue; // the middle of the 70 KB payload: sampled, not exhaustive
        }
        let got = decode_all(&mut server(), &input, &[cut]).unwrap();
        assert_eq!(got, expected, "cut at {cut}");
    }
    // One byte at a time over the small frames.
    let small_end = input.len() - client_frame(true, OpCode::Ping, b"ping").len() - 70_014;
    let cuts: Vec<usize> = (1..small_end).collect();
    let got = decode_all(&mut server(), &input[..small_end], &cuts).unwrap();
    assert_eq!(got, expected[..3]);
    // Every pair of cut points over the small frames.
    for a in 0..=small_end {
        for b in a..=small_end {
            let got = decode_all(&mut server(), &input[..small_end], &[a, b]).unwrap();
            assert_eq!(got, expected[..3], "cuts at {a}, {b}");
        }
    }
}

#[test]
fn unmasked_client_frame_is_1002() {
    let bytes = frame(true, OpCode::Text, None, b"hi");
    let err = first_error(&mut server(), &bytes);
    assert_eq!(err, Error::UnmaskedFrame);
    assert_eq!(err.close_code().unwrap().0, 1002);
}

#[test]
fn masked_server_frame_is_1002() {
    let bytes = client_frame(true, OpCode::Text, b"hi");
    let err = first_error(&mut FrameDecoder::new(Role::Client), &bytes);
    assert_eq!(err, Error::MaskedFrame);
    assert_eq!(err.close_code().unwrap().0, 1002);
}

#[test]
fn rsv_bits_without_extension_are_1002() {
    for rsv in [RSV1, RSV2, RSV3] {
        let mut bytes = client_frame(true, OpCode::Binary, b"x");
        bytes[0] |= rsv;
        assert_eq!(first_error(&mut server(), &bytes), Error::ReservedBits);
        let allowed = decode_all(&mut server().with_allowed_rsv(rsv), &bytes, &[]).unwrap();
        assert_eq!(allowed[0].0.rsv, rsv);
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        let mut bytes = client_frame(true, OpCode::Binary, b"");
        bytes[0] = 0x80 | op;
        // Decided from the first two bytes alone.
        assert_eq!(first_error(&mut server(), &bytes[..2]), Error::ReservedOpcode(op));
    }
}

#[test]
fn long_or_fragmented_control_frames_are_1002() {
    let bytes = client_frame(true, OpCode::Ping, &[0; 126]);
    assert_eq!(first_error(&mut server(), &bytes[..2]), Error::ControlFrameTooLong(126));
    let bytes = client_frame(false, OpCode::Pong, b"");
    assert_eq!(first_error(&mut server(), &bytes), Error::FragmentedControlFrame);
    let ok = client_frame(true, OpCode::Ping, &[0; 125]);
    assert_eq!(decode_all(&mut server(), &ok, &[]).unwrap()[0].1.len(), 125);
}

#[test]
fn length_with_top_bit_set_is_1002() {
    let mut bytes = vec![0x82, 0xff];
    bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    assert_eq!(first_error(&mut server(), &bytes), Error::LengthOverflow);
}

#[test]
fn oversized_frame_is_1009_from_the_header_alone() {
    let mut decoder = server().with_max_frame_size(1000);
    // The header of a frame announcing 2^62 bytes, with no payload at all: decided at once.
    let mut bytes = vec![0x82, 0xff];
    bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4]);
    let err = first_error(&mut decoder, &bytes);
    assert_eq!(err, Error::FrameTooLarge { len: 1 << 62, limit: 1000 });
    assert_eq!(err.close_code().unwrap().0, 1009);
    let at_limit = client_frame(true, OpCode::Binary, &[9; 1000]);
    assert!(decode_all(&mut server().with_max_frame_size(1000), &at_limit, &[]).is_ok());
}

#[test]
fn decoder_is_idle_only_between_frames() {
    let bytes = client_frame(true, OpCode::Binary, b"abcdef");
    let mut decoder = server();
    assert!(decoder.is_idle());
    let mut head = bytes[..3].to_vec();
    assert!(decoder.decode(&mut head).unwrap().is_none());
    assert!(!decoder.is_idle());
    let mut rest = bytes[3..].to_vec();
    let (part, used) = decoder.decode(&mut rest).unwrap().unwrap();
    assert_eq!(part.payload, b"abcdef");
    assert_eq!(used, rest.len());
    assert!(decoder.is_idle());
}

#[test]
fn header_lengths_encode_minimally() {
    for (len, expected) in [(0u64, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (1 << 40, 10)] {
        let header = FrameHeader::new(OpCode::Binary, len);
        let mut out = [0; MAX_HEADER_LEN];
        assert_eq!(header.encode(&mut out), expected);
        assert_eq!(header.encoded_len(), expected);
        assert_eq!(FrameHeader::parse(&out[..expected]).unwrap(), Some((header, expected)));
    }
}

fn opcode_strategy() -> impl Strategy<Value = OpCode> {
    prop_oneof![
        Just(OpCode::Continuation),
        Just(OpCode::Text),
        Just(OpCode::Binary),
        Just(OpCode::Close),
        Just(OpCode::Ping),
        Just(OpCode::Pong),
    ]
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(
        opcode in opcode_strategy(),
        fin in any::<bool>(),
        key in proptest::option::of(any::<[u8; 4]>()),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<usize>(),
    ) {
        let fin = fin || opcode.is_control();
        let payload = if opcode.is_control() { &payload[..payload.len().min(125)] } else { &payload[..] };
        let bytes = frame(fin, opcode, key, payload);
        let role = if key.is_some() { Role::Server } else { Role::Client };
        let cut = cut % (bytes.len() + 1);
        let frames = decode_all(&mut FrameDecoder::new(role), &bytes, &[cut]).unwrap();
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(frames[0].0.fin, fin);
        prop_assert_eq!(frames[0].0.opcode, opcode);
        prop_assert_eq!(frames[0].0.masking_key, key);
        prop_assert_eq!(&frames[0].1[..], payload);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                   cut in any::<usize>()) {
        let cut = cut % (bytes.len() + 1);
        let _ = decode_all(&mut server(), &bytes, &[cut]);
    }
}
