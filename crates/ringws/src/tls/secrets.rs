//! TLS 1.3 application traffic secrets, so the lean record layer can run key updates itself
//! (RFC 8446 7.2) and rustls can be dropped whole after the handshake.
//!
//! rustls' own way to keep key updates after handing the keys over is its `KernelConnection`:
//! 560 bytes inline (most of it QUIC state a TLS-over-TCP server never uses) and about 280 on
//! the heap, per connection, for two secrets of at most 48 bytes. Instead the secrets are taken
//! where rustls offers them to an application, its `KeyLog` hook: the handshake runs on the
//! worker's thread inside one `read` of one connection, so what the hook hears during that call
//! is that connection's (a slot per thread, emptied before each call). The keys derived from the
//! secrets are checked against the ones rustls hands over before they are used.

use aws_lc_rs::hkdf;
use rustls::KeyLog;
use std::cell::RefCell;
use std::sync::Arc;
use zeroize::Zeroize;

const CLIENT: &str = "CLIENT_TRAFFIC_SECRET_0";
const SERVER: &str = "SERVER_TRAFFIC_SECRET_0";

thread_local! {
    static HEARD: RefCell<Option<Box<Traffic>>> = const { RefCell::new(None) };
}

/// One direction's current traffic secret (the hash's length: 32 or 48 bytes).
#[derive(Clone)]
pub(super) struct Secret {
    bytes: [u8; 48],
    len: u8,
}

/// Both directions' first application traffic secrets of a handshake.
#[derive(Default)]
pub(super) struct Traffic {
    pub(super) client: Option<Secret>,
    pub(super) server: Option<Secret>,
}

/// The `KeyLog` a server configuration gets (`with_hand_over`): it keeps the two traffic
/// secrets for the connection being read and passes everything on to the embedder's own
/// `KeyLog`, if it has one that logs.
#[derive(Debug)]
pub(super) struct Capture {
    pub(super) inner: Arc<dyn KeyLog>,
}

impl KeyLog for Capture {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == CLIENT || label == SERVER {
            HEARD.with_borrow_mut(|heard| {
                let heard = heard.get_or_insert_with(Box::default);
                let slot = if label == CLIENT { &mut heard.client } else { &mut heard.server };
                *slot = Secret::new(secret);
            });
        }
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == CLIENT || label == SERVER || self.inner.will_log(label)
    }
}

/// Forgets what an earlier connection's read left (a failed handshake's).
pub(super) fn listen() {
    HEARD.with_borrow_mut(|heard| *heard = None);
}

/// What the hook heard since [`listen`].
pub(super) fn heard() -> Option<Box<Traffic>> {
    HEARD.with_borrow_mut(Option::take)
}

impl Secret {
    pub(super) fn new(secret: &[u8]) -> Option<Self> {
        let len = u8::try_from(secret.len()).ok().filter(|&len| len == 32 || len == 48)?;
        let mut bytes = [0; 48];
        bytes[..secret.len()].copy_from_slice(secret);
        Some(Self { bytes, len })
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    fn hkdf(&self) -> hkdf::Prk {
        let alg = if self.len == 48 { hkdf::HKDF_SHA384 } else { hkdf::HKDF_SHA256 };
        hkdf::Prk::new_less_safe(alg, self.as_bytes())
    }

    /// HKDF-Expand-Label(secret, label, "", out.len()) (RFC 8446 7.1).
    fn expand_label(&self, label: &[u8], out: &mut [u8]) {
        let length = u16::try_from(out.len()).expect("a short output").to_be_bytes();
        let label_len = [u8::try_from(6 + label.len()).expect("a short label")];
        let info: [&[u8]; 5] = [&length, &label_len, b"tls13 ", label, &[0]];
        self.hkdf()
            .expand(&info, Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .expect("HKDF gives up to 255 hash lengths");
    }

    /// The traffic key and iv of this secret.
    pub(super) fn key_and_iv(&self, key_len: usize) -> ([u8; 32], [u8; 12]) {
        let (mut key, mut iv) = ([0; 32], [0; 12]);
        self.expand_label(b"key", &mut key[..key_len]);
        self.expand_label(b"iv", &mut iv);
        (key, iv)
    }

    /// The next secret, after a key update (RFC 8446 7.2).
    pub(super) fn next(&self) -> Self {
        let mut next = Self { bytes: [0; 48], len: self.len };
        let len = usize::from(self.len);
        self.expand_label(b"traffic upd", &mut next.bytes[..len]);
        next
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// RFC 8448 section 3 (a simple 1-RTT handshake, TLS_AES_128_GCM_SHA256): the server's
    /// application traffic secret, and the key and iv it gives.
    #[test]
    fn keys_follow_rfc_8448() {
        let secret =
            Secret::new(&hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643"))
                .expect("32 bytes");
        let (key, iv) = secret.key_and_iv(16);
        assert_eq!(key[..16], hex("9f02283b6c9c07efc26bb9f2ac92e356")[..]);
        assert_eq!(iv[..], hex("cf782b88dd83549aadf1e984")[..]);
        assert_ne!(secret.next().as_bytes(), secret.as_bytes());
        assert_eq!(secret.next().as_bytes().len(), 32);
    }
}
