use super::*;
use proptest::prelude::*;

/// A deterministic byte pattern, different at every position.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

#[test]
fn fast_equals_reference_at_every_length_offset_and_phase() {
    let keys = [[0u8; 4], [0xff; 4], [0x37, 0xfa, 0x21, 0x3d], [1, 2, 3, 4], [0x80, 0, 0x7f, 0xaa]];
    let backing = pattern(257 + 32, 7);
    for key in keys {
        for phase in 0..4 {
            for offset in 0..=31 {
                for len in 0..=257 {
                    let mut expected = backing.clone();
                    let mut actual = backing.clone();
                    let a = unmask_scalar(&mut expected[offset..offset + len], key, phase);
                    let b = unmask(&mut actual[offset..offset + len], key, phase);
                    assert_eq!(a, b, "phase len={len} offset={offset} phase={phase}");
                    assert_eq!(expected, actual, "len={len} offset={offset} phase={phase}");
                    let c = unmask_words(&mut actual[offset..offset + len], key, phase);
                    assert_eq!(a, c);
                    assert_eq!(&actual, &backing, "unmasking twice restores the input");
                }
            }
        }
    }
}

#[test]
fn rfc_6455_example() {
    // §5.7: a single-frame masked text message containing "Hello".
    let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
    assert_eq!(unmask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0), 1);
    assert_eq!(&payload, b"Hello");
}

proptest! {
    #[test]
    fn split_anywhere_equals_whole(data in proptest::collection::vec(any::<u8>(), 0..600),
                                   key in any::<[u8; 4]>(), cuts in proptest::collection::vec(any::<usize>(), 0..5)) {
        let mut whole = data.clone();
        unmask_scalar(&mut whole, key, 0);
        let mut pieces = data.clone();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        let mut phase = 0;
        for w in points.windows(2) {
            phase = unmask(&mut pieces[w[0]..w[1]], key, phase);
        }
        prop_assert_eq!(whole, pieces);
    }
}
