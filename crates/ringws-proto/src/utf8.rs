//! Incremental UTF-8 validation for text messages that arrive in pieces.
//!
//! A text message can be split over frames and each frame over receive buffers, so a code point
//! can straddle two pieces. [`Utf8Validator`] carries at most three bytes of an unfinished code
//! point between pieces, and fails as soon as the bytes seen so far cannot start valid UTF-8
//! (Autobahn 6.4.x checks this "fail fast" behaviour), not at the end of the message.

use crate::error::{Error, Result};

/// Validates a stream of bytes as UTF-8, one piece at a time.
#[derive(Debug, Default, Clone)]
pub struct Utf8Validator {
    /// The start of a code point whose remaining bytes have not arrived yet.
    pending: [u8; 4],
    /// How many bytes of `pending` are used: 0 to 3.
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece. Errors as soon as the bytes so far cannot be a prefix of valid
    /// UTF-8.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<()> {
        if self.pending_len > 0 {
            let have = usize::from(self.pending_len);
            let width = char_width(self.pending[0]);
            let take = (width - have).min(piece.len());
            self.pending[have..have + take].copy_from_slice(&piece[..take]);
            let now = have + take;
            piece = &piece[take..];
            match simdutf8::compat::from_utf8(&self.pending[..now]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    // Still a valid prefix; only possible when the piece ran out.
                    self.pending_len = now as u8;
                    return Ok(());
                }
                Err(_) => return Err(Error::InvalidUtf8),
            }
        }
        match simdutf8::compat::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let tail = &piece[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(Error::InvalidUtf8),
        }
    }

    /// Ends the message: an unfinished code point is an error. Resets for the next message.
    pub fn finish(&mut self) -> Result<()> {
        let complete = self.pending_len == 0;
        self.pending_len = 0;
        if complete { Ok(()) } else { Err(Error::InvalidUtf8) }
    }

    /// Forgets any unfinished code point.
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }
}

/// The length of the code point a valid lead byte starts. Only called on bytes that the
/// validator accepted as the start of an unfinished code point, so never on ASCII or
/// continuation bytes.
fn char_width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(bytes: &[u8], at: &[usize]) -> Result<()> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &cut in at {
            v.feed(&bytes[start..cut])?;
            start = cut;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn valid_text_split_at_every_point_is_accepted() {
        let text = "κόσμε a€𝄞 ü".as_bytes();
        for cut in 0..=text.len() {
            assert_eq!(feed_split(text, &[cut]), Ok(()), "cut at {cut}");
            for cut2 in cut..=text.len() {
                assert_eq!(feed_split(text, &[cut, cut2]), Ok(()));
            }
        }
    }

    #[test]
    fn fails_as_soon_as_the_bad_byte_arrives() {
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        // 0xed 0xa0 starts a UTF-16 surrogate: invalid before the third byte arrives.
        v.feed(&[0xce, 0xba]).unwrap();
        assert_eq!(v.feed(&[0xed]), Ok(()));
        assert_eq!(v.feed(&[0xa0]), Err(Error::InvalidUtf8));
        // A byte that can never appear.
        assert_eq!(Utf8Validator::new().feed(&[b'a', 0xff]), Err(Error::InvalidUtf8));
        // 0xf4 0x90 is above U+10FFFF.
        let mut v = Utf8Validator::new();
        v.feed(&[0xf4]).unwrap();
        assert_eq!(v.feed(&[0x90]), Err(Error::InvalidUtf8));
    }

    #[test]
    fn unfinished_code_point_fails_at_finish() {
        let mut v = Utf8Validator::new();
        v.feed(&[b'a', 0xe2, 0x82]).unwrap();
        assert_eq!(v.finish(), Err(Error::InvalidUtf8));
        // finish resets: the next message starts clean.
        assert_eq!(v.feed(b"ok"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }

    proptest! {
        #[test]
        fn agrees_with_std_on_any_split(bytes in proptest::collection::vec(any::<u8>(), 0..64),
                                        a in any::<usize>(), b in any::<usize>()) {
            let mut cuts = [a % (bytes.len() + 1), b % (bytes.len() + 1)];
            cuts.sort_unstable();
            let expected = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(feed_split(&bytes, &cuts).is_ok(), expected);
        }

        #[test]
        fn agrees_with_std_on_mostly_valid_text(s in "\\PC{0,20}", junk in any::<u8>(), at in any::<usize>(),
                                                cut in any::<usize>()) {
            let mut bytes = s.into_bytes();
            let at = at % (bytes.len() + 1);
            bytes.insert(at, junk);
            let cut = cut % (bytes.len() + 1);
            let expected = std::str::from_utf8(&bytes).is_ok();
            prop_assert_eq!(feed_split(&bytes, &[cut]).is_ok(), expected);
        }
    }
}
