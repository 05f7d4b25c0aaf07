//! The lean TLS 1.3 record layer: once rustls has finished the handshake it hands the traffic
//! keys over (as it does for kernel TLS) and is dropped; the records (RFC 8446 section 5) are
//! sealed and opened here, in place, with the expanded keys in the worker's cache (`keys`), and
//! key updates derive the next keys from the traffic secrets (`secrets`). An idle connection
//! then holds its raw keys and secrets and two sequence numbers: under 300 bytes, where rustls'
//! whole connection holds 3.6 KiB.
//!
//! What a client may send after the handshake: application data, alerts, and KeyUpdate (a
//! handshake message split across records is refused: KeyUpdate is 5 bytes).

use rustls::{AlertDescription, Error, InvalidMessage, PeerMisbehaved};

use super::keys::{TrafficKey, aead_of};
use super::rustls_session::HandOver;
use super::{ReadOutcome, SealError, keep_rest};

/// The most plaintext a record carries, and its ciphertext allowance (RFC 8446 5.1, 5.2).
const MAX_PLAINTEXT: usize = 1 << 14;
const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;
const HEADER: usize = 5;
const TAG: usize = 16;

/// Content types (RFC 8446 5.1).
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const KEY_UPDATE: u8 = 24;

/// Key updates a peer may ask for without application data between them.
const MAX_KEY_UPDATES: u8 = 16;

/// A TLS 1.3 connection after its handshake.
pub(crate) struct Lean {
    tx: TrafficKey,
    rx: TrafficKey,
    /// Records one key may seal before it is replaced (AES-GCM: 2^24; RFC 8446 5.5).
    limit: u64,
    /// The bytes of a record not yet whole; empty, with no allocation, otherwise.
    partial: Vec<u8>,
    key_updates: u8,
    /// The peer closed (close_notify) or a fatal error was met: nothing more is read.
    read_closed: bool,
    /// A fatal error was met: nothing more is sent either.
    failed: bool,
}

impl std::fmt::Debug for Lean {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tx, rx) = (self.tx.seq, self.rx.seq);
        f.debug_struct("Lean")
            .field("tx", &tx)
            .field("rx", &rx)
            .field("partial", &self.partial.len())
            .finish()
    }
}

impl Lean {
    /// The layer for a connection rustls hands over; an error loses the connection.
    pub(super) fn new(hand_over: HandOver) -> Result<Self, Error> {
        let HandOver { extracted, traffic, suite, partial } = hand_over;
        let fail = |why: &str| Error::General(format!("TLS hand-over: {why}"));
        let alg =
            aead_of(suite.common.suite).ok_or_else(|| fail("an AEAD without a lean layer"))?;
        let (Some(client), Some(server)) = (traffic.client.clone(), traffic.server.clone()) else {
            return Err(fail("the traffic secrets were not heard"));
        };
        let tx = TrafficKey::new(alg, server, extracted.tx.0);
        let rx = TrafficKey::new(alg, client, extracted.rx.0);
        if !(tx.is(&extracted.tx.1) && rx.is(&extracted.rx.1)) {
            return Err(fail("the traffic secrets heard are not the connection's"));
        }
        let limit = suite.common.confidentiality_limit;
        Ok(Self { tx, rx, limit, partial, key_updates: 0, read_closed: false, failed: false })
    }

    /// As [`super::TlsSession::read`].
    pub(super) fn read(
        &mut self,
        data: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<ReadOutcome, Error> {
        let mut outcome = ReadOutcome::default();
        if self.read_closed {
            return Ok(outcome);
        }
        let mut partial = std::mem::take(&mut self.partial);
        let buffered = !partial.is_empty();
        if buffered {
            partial.extend_from_slice(data);
        }
        let buf: &mut [u8] = if buffered { &mut partial } else { data };
        let mut at = 0;
        let result = loop {
            let Some(header) = buf.get(at..at + HEADER) else { break Ok(()) };
            let header: [u8; HEADER] = header.try_into().expect("HEADER bytes");
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if header[0] != APPLICATION_DATA {
                break Err((
                    AlertDescription::UnexpectedMessage,
                    InvalidMessage::InvalidContentType.into(),
                ));
            }
            if len > MAX_CIPHERTEXT {
                break Err((
                    AlertDescription::RecordOverflow,
                    InvalidMessage::MessageTooLarge.into(),
                ));
            }
            let Some(payload) = buf.get_mut(at + HEADER..at + HEADER + len) else { break Ok(()) };
            at += HEADER + len;
            if let Err(e) = self.record(header, payload, plain, out, &mut outcome) {
                break Err(e);
            }
            if outcome.peer_closed {
                // What follows close_notify is ignored (RFC 8446 6.1); we may still send.
                self.read_closed = true;
                break Ok(());
            }
        };
        match result {
            Ok(()) => {
                if !self.read_closed {
                    keep_rest(&mut partial, buffered, data, at);
                    self.partial = partial;
                }
                Ok(outcome)
            }
            Err((alert, e)) => {
                (self.read_closed, self.failed) = (true, true);
                // A fatal alert the peer sent is not answered; ours goes out under the keys.
                if !matches!(e, Error::AlertReceived(_)) {
                    self.seal_record(ALERT, &[&[2, u8::from(alert)]], out);
                }
                Err(e)
            }
        }
    }

    /// Opens one record and acts on what it holds.
    fn record(
        &mut self,
        header: [u8; HEADER],
        payload: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
        outcome: &mut ReadOutcome,
    ) -> Result<(), (AlertDescription, Error)> {
        if payload.len() < TAG + 1 {
            return Err((AlertDescription::DecodeError, InvalidMessage::MessageTooShort.into()));
        }
        let inner = self
            .rx
            .open(header, payload)
            .map_err(|_| (AlertDescription::BadRecordMac, Error::DecryptError))?;
        // The content type is the last non-zero byte; zeros after it are padding.
        let Some(end) = inner.iter().rposition(|&b| b != 0) else {
            return Err((
                AlertDescription::UnexpectedMessage,
                InvalidMessage::InvalidEmptyPayload.into(),
            ));
        };
        if end > MAX_PLAINTEXT {
            return Err((AlertDescription::RecordOverflow, InvalidMessage::MessageTooLarge.into()));
        }
        let (content, kind) = (&inner[..end], inner[end]);
        match kind {
            APPLICATION_DATA => {
                self.key_updates = 0;
                plain.extend_from_slice(content);
                Ok(())
            }
            ALERT => match *content {
                [_, 0] => {
                    outcome.peer_closed = true;
                    Ok(())
                }
                // user_canceled: a close_notify follows (RFC 8446 6.1).
                [_, 90] => Ok(()),
                [_, alert] => {
                    Err((AlertDescription::from(alert), Error::AlertReceived(alert.into())))
                }
                _ => Err((AlertDescription::DecodeError, InvalidMessage::MessageTooShort.into())),
            },
            HANDSHAKE => self.handshake(content, out),
            _ => Err((
                AlertDescription::UnexpectedMessage,
                InvalidMessage::InvalidContentType.into(),
            )),
        }
    }

    /// A handshake record after the handshake: KeyUpdate only (RFC 8446 4.6.3), which must end
    /// its record (the keys change after it).
    fn handshake(
        &mut self,
        content: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), (AlertDescription, Error)> {
        let request = match *content {
            [KEY_UPDATE, 0, 0, 1, request @ (0 | 1)] => request,
            [KEY_UPDATE, 0, 0, 1, _] => {
                return Err((
                    AlertDescription::IllegalParameter,
                    InvalidMessage::InvalidKeyUpdate.into(),
                ));
            }
            [KEY_UPDATE, 0, 0, 1, _, ..] => {
                let e = PeerMisbehaved::KeyEpochWithPendingFragment;
                return Err((AlertDescription::UnexpectedMessage, e.into()));
            }
            [KEY_UPDATE, ..] => {
                let why = "a KeyUpdate split across records, or of a wrong length";
                return Err((
                    AlertDescription::DecodeError,
                    InvalidMessage::MissingData(why).into(),
                ));
            }
            _ => {
                let why = "a handshake message other than KeyUpdate after the handshake";
                return Err((
                    AlertDescription::UnexpectedMessage,
                    InvalidMessage::UnexpectedMessage(why).into(),
                ));
            }
        };
        self.key_updates += 1;
        if self.key_updates > MAX_KEY_UPDATES {
            let e = PeerMisbehaved::TooManyKeyUpdateRequests;
            return Err((AlertDescription::UnexpectedMessage, e.into()));
        }
        self.rx = self.rx.updated();
        if request == 1 {
            // Our own KeyUpdate, under the old key, before any more application data.
            self.update_tx(out);
        }
        Ok(())
    }

    /// Sends a KeyUpdate (not asking the peer for one) and moves to the next key.
    fn update_tx(&mut self, out: &mut Vec<u8>) {
        let message = [KEY_UPDATE, 0, 0, 1, 0];
        self.seal_one(HANDSHAKE, message.len(), |out| out.extend_from_slice(&message), out);
        self.tx = self.tx.updated();
    }

    /// Encrypts `parts` (application data: one send's bytes, in order) into records appended to
    /// `out`, each part copied once, straight into its record.
    pub(super) fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        if self.failed {
            return Err(SealError);
        }
        self.seal_record(APPLICATION_DATA, parts, out);
        Ok(())
    }

    fn seal_record(&mut self, kind: u8, parts: &[&[u8]], out: &mut Vec<u8>) {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let records = total.div_ceil(MAX_PLAINTEXT).max(1);
        out.reserve(total + records * (HEADER + 1 + TAG));
        let mut gather = Gather { parts, part: 0, at: 0 };
        let mut left = total;
        loop {
            if self.tx.seq >= self.limit {
                self.update_tx(out);
            }
            let len = left.min(MAX_PLAINTEXT);
            self.seal_one(kind, len, |out| gather.take(len, out), out);
            left -= len;
            if left == 0 {
                return;
            }
        }
    }

    /// One record of `len` content bytes that `content` appends: header, content, its type,
    /// the tag.
    fn seal_one(
        &mut self,
        kind: u8,
        len: usize,
        content: impl FnOnce(&mut Vec<u8>),
        out: &mut Vec<u8>,
    ) {
        let record = u16::try_from(len + 1 + TAG).expect("a record is under 2^14 + 17");
        let [hi, lo] = record.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        out.extend_from_slice(&header);
        let start = out.len();
        content(out);
        debug_assert_eq!(out.len(), start + len);
        out.push(kind);
        let tag = self.tx.seal(header, &mut out[start..]);
        out.extend_from_slice(tag.as_ref());
    }
}

/// Reads several slices as one run of bytes, a record's worth at a time.
struct Gather<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    at: usize,
}

impl Gather<'_> {
    /// Appends the next `n` bytes (there are at least `n` left).
    fn take(&mut self, mut n: usize, out: &mut Vec<u8>) {
        while n > 0 {
            let part = &self.parts[self.part][self.at..];
            let k = part.len().min(n);
            out.extend_from_slice(&part[..k]);
            (n, self.at) = (n - k, self.at + k);
            if self.at == self.parts[self.part].len() {
                (self.part, self.at) = (self.part + 1, 0);
            }
        }
    }
}

#[cfg(test)]
impl Lean {
    pub(super) fn tx_limit_in(&mut self, records: u64) {
        self.limit = self.tx.seq + records;
    }

    pub(super) fn tx_seq(&self) -> u64 {
        self.tx.seq
    }

    pub(super) fn partial_is_empty(&self) -> bool {
        self.partial.is_empty() && self.partial.capacity() == 0
    }
}
