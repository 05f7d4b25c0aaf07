//! The rustls-driven session: the handshake, and TLS 1.2 connections after it.

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus,
};
use rustls::{ExtractedSecrets, ServerConfig, SupportedCipherSuite, Tls13CipherSuite};
use std::sync::Arc;

use super::keys::aead_of;
use super::secrets::{self, Traffic};
use super::{ReadOutcome, SealError, keep_rest};

/// Record overhead allowance per 16 KiB of plaintext (TLS 1.3: 22 bytes; TLS 1.2 GCM: 29).
const RECORD_SLACK: usize = 64;

/// A connection's TLS state while rustls drives it: during the handshake, and after it where the
/// lean record layer cannot take over (TLS 1.2, a configuration without secret extraction).
pub(crate) struct RustlsSession {
    conn: UnbufferedServerConnection,
    /// The bytes of a record not yet whole (never more than one record and a bit); empty, with
    /// no allocation, otherwise.
    partial: Vec<u8>,
    /// The last read left rustls with nothing to send and the handshake done.
    writable: bool,
    /// The configuration lets rustls hand the traffic keys over (`enable_secret_extraction`).
    extractable: bool,
    /// The traffic secrets, once the handshake has derived them.
    traffic: Option<Box<Traffic>>,
}

impl std::fmt::Debug for RustlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsSession").field("partial", &self.partial.len()).finish()
    }
}

impl RustlsSession {
    /// A session for a new connection.
    pub(super) fn new(config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        let extractable = config.enable_secret_extraction;
        let conn = UnbufferedServerConnection::new(config)?;
        Ok(Self { conn, partial: Vec::new(), writable: false, extractable, traffic: None })
    }

    /// Takes in received bytes: plaintext is appended to `plain`, TLS records to send (the
    /// handshake's, an alert) to `out`.
    ///
    /// # Errors
    /// The peer broke TLS (not TLS at all, a bad record, a failed handshake): the connection
    /// is to be closed once `out` (which may hold an alert) is sent.
    pub(super) fn read(
        &mut self,
        data: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<ReadOutcome, rustls::Error> {
        let Self { conn, partial, writable, traffic, .. } = self;
        *writable = false;
        // The secrets come once per handshake; a TLS 1.2 session never has them: stop listening
        // once heard, or once the handshake is over.
        let listening = traffic.is_none() && conn.is_handshaking();
        if listening {
            secrets::listen();
        }
        let buffered = !partial.is_empty();
        if buffered {
            partial.extend_from_slice(data);
        }
        let buf: &mut [u8] = if buffered { partial } else { data };
        let mut consumed = 0;
        let mut outcome = ReadOutcome::default();
        let result = loop {
            let UnbufferedStatus { discard, state } =
                conn.process_tls_records(&mut buf[consumed..]);
            let state = match state {
                Ok(state) => state,
                Err(e) => {
                    consumed += discard;
                    break Err(e);
                }
            };
            let more = match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => plain.extend_from_slice(record.payload),
                            Err(e) => return Err(e),
                        }
                    }
                    true
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    encode_into(&mut encode, out);
                    true
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    transmit.done();
                    true
                }
                ConnectionState::PeerClosed => {
                    outcome.peer_closed = true;
                    true
                }
                ConnectionState::WriteTraffic(_) => {
                    *writable = !outcome.peer_closed;
                    false
                }
                // Waiting for bytes (BlockedHandshake), closed, or early data (not enabled):
                // nothing more now.
                _ => false,
            };
            consumed += discard;
            if !more {
                break Ok(outcome);
            }
        };
        if listening && let Some(heard) = secrets::heard() {
            *traffic = Some(heard);
        }
        if result.is_err() {
            // rustls queues an alert for the peer on most errors: it comes out as a record to
            // encode before the error is reported again.
            flush_alert(conn, out);
        }
        keep_rest(partial, buffered, data, consumed);
        result
    }

    /// Encrypts `plaintext` (application data: frames, HTTP answers) into records appended to
    /// `out`, with any handshake records still owed (session tickets) before them.
    ///
    /// # Errors
    /// The handshake is not done, or the session can no longer encrypt (closed, or its
    /// sequence numbers exhausted): nothing can be sent on this connection.
    pub(super) fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        let joined;
        let plaintext = match parts {
            [one] => *one,
            _ => {
                joined = parts.concat();
                &joined[..]
            }
        };
        for _ in 0..16 {
            let UnbufferedStatus { state, .. } = self.conn.process_tls_records(&mut []);
            match state.map_err(|_| SealError)? {
                ConnectionState::EncodeTlsData(mut encode) => encode_into(&mut encode, out),
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::WriteTraffic(mut traffic) => {
                    let start = out.len();
                    let mut room =
                        plaintext.len() + (plaintext.len() / (16 << 10) + 1) * RECORD_SLACK;
                    loop {
                        out.resize(start + room, 0);
                        match traffic.encrypt(plaintext, &mut out[start..]) {
                            Ok(n) => {
                                out.truncate(start + n);
                                return Ok(());
                            }
                            Err(EncryptError::InsufficientSize(e)) if e.required_size > room => {
                                room = e.required_size;
                            }
                            Err(_) => {
                                out.truncate(start);
                                return Err(SealError);
                            }
                        }
                    }
                }
                _ => return Err(SealError),
            }
        }
        Err(SealError)
    }
}

/// What the lean record layer takes over from rustls after the handshake.
pub(super) struct HandOver {
    /// The keys and sequence numbers, from rustls.
    pub(super) extracted: ExtractedSecrets,
    /// The secrets the keys come from, as the handshake told its `KeyLog`.
    pub(super) traffic: Box<Traffic>,
    pub(super) suite: &'static Tls13CipherSuite,
    /// The start of a record not yet whole.
    pub(super) partial: Vec<u8>,
}

impl RustlsSession {
    /// The negotiated suite, if the lean record layer can take over now: TLS 1.3 with one of
    /// its three AEADs, the handshake done, nothing owed to the peer, and the keys extractable.
    pub(super) fn lean_suite(&self) -> Option<&'static Tls13CipherSuite> {
        let heard = self.traffic.as_ref().is_some_and(|t| t.client.is_some() && t.server.is_some());
        if !(self.writable && self.extractable && heard) {
            return None;
        }
        let SupportedCipherSuite::Tls13(suite) = self.conn.negotiated_cipher_suite()? else {
            return None;
        };
        aead_of(suite.common.suite).map(|_| suite)
    }

    /// Hands the connection's keys over (see [`Self::lean_suite`]).
    pub(super) fn hand_over(
        self,
        suite: &'static Tls13CipherSuite,
    ) -> Result<HandOver, rustls::Error> {
        // Deprecated for not running key updates or session tickets after it: the lean layer runs
        // key updates from the secrets, and a server receives no tickets.
        #[allow(deprecated)]
        let extracted = self.conn.dangerous_extract_secrets()?;
        let traffic = self.traffic.unwrap_or_default();
        Ok(HandOver { extracted, traffic, suite, partial: self.partial })
    }
}

/// Appends a handshake record rustls has ready to `out`.
fn encode_into(
    encode: &mut EncodeTlsData<'_, rustls::server::ServerConnectionData>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let mut room = 4096;
    loop {
        out.resize(start + room, 0);
        match encode.encode(&mut out[start..]) {
            Ok(n) => {
                out.truncate(start + n);
                return;
            }
            Err(EncodeError::InsufficientSize(e)) if e.required_size > room => {
                room = e.required_size;
            }
            Err(_) => {
                out.truncate(start);
                return;
            }
        }
    }
}

/// After an error: the alert rustls queued, if any, appended to `out`.
fn flush_alert(conn: &mut UnbufferedServerConnection, out: &mut Vec<u8>) {
    for _ in 0..4 {
        let UnbufferedStatus { state, .. } = conn.process_tls_records(&mut []);
        match state {
            Ok(ConnectionState::EncodeTlsData(mut encode)) => encode_into(&mut encode, out),
            Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
            _ => return,
        }
    }
}
