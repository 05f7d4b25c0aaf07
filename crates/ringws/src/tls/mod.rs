//! wss://: one connection's TLS session, driven through rustls' unbuffered API between the
//! driver's bytes and the engine's HTTP and WebSocket layers, so plain and TLS connections share
//! every other line of the engine and the driver never hears of TLS.
//!
//! ```text
//!  received bytes (the provided buffer) ─► TlsSession::read ─► plaintext (the worker's scratch)
//!      ─► the engine's handshake / frames, as for a plain connection
//!      a partial record: kept in `partial` (up to one record), freed once it completes
//!  handshake records rustls produces ─► `out` ─► sent as they are
//!  every send of the engine (frames, the 101, HTTP answers) ─► TlsSession::seal ─► one buffer
//! ```
//! An idle TLS connection holds its rustls state (keys, record sequence numbers) and no buffer.
//! rustls 0.23 decrypts a record in the caller's buffer, then hands its plaintext over in a
//! buffer of its own (in-place delivery is on its roadmap); the engine copies it once more into
//! a scratch buffer per worker, which the handshake and frame layers read.

use rustls::ServerConfig;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, UnbufferedStatus,
};
use std::sync::Arc;

mod config;
pub use config::{Certificates, server_config};

/// Record overhead allowance per 16 KiB of plaintext (TLS 1.3: 22 bytes; TLS 1.2 GCM: 29).
const RECORD_SLACK: usize = 64;

/// One connection's TLS state.
pub(crate) struct TlsSession {
    conn: UnbufferedServerConnection,
    /// The bytes of a record not yet whole (never more than one record and a bit); empty, with
    /// no allocation, otherwise.
    partial: Vec<u8>,
}

impl std::fmt::Debug for TlsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSession").field("partial", &self.partial.len()).finish()
    }
}

/// What a read found besides plaintext.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    /// The peer sent close_notify: no more data will come.
    pub(crate) peer_closed: bool,
}

impl TlsSession {
    /// A session for a new connection.
    pub(crate) fn new(config: Arc<ServerConfig>) -> Result<Box<Self>, rustls::Error> {
        Ok(Box::new(Self { conn: UnbufferedServerConnection::new(config)?, partial: Vec::new() }))
    }

    /// Takes in received bytes: plaintext is appended to `plain`, TLS records to send (the
    /// handshake's, an alert) to `out`.
    ///
    /// # Errors
    /// The peer broke TLS (not TLS at all, a bad record, a failed handshake): the connection
    /// is to be closed once `out` (which may hold an alert) is sent.
    pub(crate) fn read(
        &mut self,
        data: &mut [u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<ReadOutcome, rustls::Error> {
        let Self { conn, partial } = self;
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
                // Waiting for bytes (BlockedHandshake, or a partial record with the handshake
                // done: WriteTraffic), closed, or early data (not enabled): nothing more now.
                _ => false,
            };
            consumed += discard;
            if !more {
                break Ok(outcome);
            }
        };
        if result.is_err() {
            // rustls queues an alert for the peer on most errors: it comes out as a record to
            // encode before the error is reported again.
            flush_alert(conn, out);
        }
        if buffered {
            partial.drain(..consumed);
            if partial.is_empty() {
                *partial = Vec::new(); // the record completed: the buffer goes back
            }
        } else if consumed < data.len() {
            partial.extend_from_slice(&data[consumed..]);
        }
        result
    }

    /// Encrypts `plaintext` (application data: frames, HTTP answers) into records appended to
    /// `out`, with any handshake records still owed (session tickets) before them.
    ///
    /// # Errors
    /// The handshake is not done, or the session can no longer encrypt (closed, or its
    /// sequence numbers exhausted): nothing can be sent on this connection.
    pub(crate) fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), SealError> {
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

/// The session cannot encrypt application data now (handshake not done, or closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealError;

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

#[cfg(test)]
mod tests {
    /// What a TLS connection pays inline, before rustls' own allocations (keys, record
    /// buffers); `docs/benchmarks.md` has the whole cost measured per connection.
    #[test]
    fn the_session_size_is_known() {
        let size = size_of::<super::TlsSession>();
        println!("TlsSession: {size} bytes inline (boxed once per TLS connection)");
        assert!(size < 4096, "{size}");
    }
}
