//! wss://: one connection's TLS session between the driver's bytes and the engine's HTTP and
//! WebSocket layers, so plain and TLS connections share every other line of the engine and the
//! driver never hears of TLS.
//!
//! ```text
//!  received bytes (the provided buffer) ─► TlsSession::read ─► plaintext (the worker's scratch)
//!      ─► the engine's handshake / frames, as for a plain connection
//!      a partial record: kept (up to one record), freed once it completes
//!  every send of the engine (frames, the 101, HTTP answers) ─► TlsSession::seal ─► one buffer
//!
//!  handshake:  rustls' unbuffered connection (rustls_session), its records sent as they are
//!  after it:   TLS 1.3 ─► the lean record layer (record): rustls hands the keys over and is
//!              dropped; records sealed and opened in place, expanded keys in a cache per
//!              worker (keys), key updates from the traffic secrets (secrets)
//!              TLS 1.2, or a configuration that keeps its keys ─► rustls goes on
//! ```
//! An idle TLS 1.3 connection holds its raw keys and secrets and two sequence numbers (under
//! 300 bytes) and no buffer; `docs/benchmarks.md` has it measured.

use rustls::ServerConfig;
use std::sync::Arc;

mod config;
mod keys;
mod record;
mod rustls_session;
mod secrets;

pub(crate) use config::with_hand_over;
pub use config::{Certificates, server_config};
use record::Lean;
use rustls_session::RustlsSession;

/// One connection's TLS state.
#[derive(Debug)]
pub(crate) enum TlsSession {
    /// The handshake, or after it a session rustls keeps (TLS 1.2).
    Rustls(Box<RustlsSession>),
    /// TLS 1.3 after the handshake.
    Lean(Box<Lean>),
    /// The hand-over failed: the connection is being closed.
    Lost,
}

/// What a read found besides plaintext.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    /// The peer sent close_notify: no more data will come.
    pub(crate) peer_closed: bool,
}

/// The session cannot encrypt application data now (handshake not done, or closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealError;

impl TlsSession {
    /// A session for a new connection.
    pub(crate) fn new(config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Self::Rustls(Box::new(RustlsSession::new(config)?)))
    }

    /// Takes in received bytes: plaintext is appended to `plain`, TLS records to send (the
    /// handshake's, a key update, an alert) to `out`.
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
        match self {
            Self::Lean(lean) => lean.read(data, plain, out),
            Self::Rustls(session) => {
                let outcome = session.read(data, plain, out)?;
                if let Some(suite) = session.lean_suite() {
                    self.hand_over(suite)?;
                    tracing::debug!(suite = ?suite.common.suite, "TLS 1.3 handed over to the lean record layer");
                }
                Ok(outcome)
            }
            Self::Lost => Err(rustls::Error::HandshakeNotComplete),
        }
    }

    /// Encrypts `parts` (application data, one send's bytes in order: frames, HTTP answers) into
    /// records appended to `out`, with any handshake records still owed (session tickets)
    /// before them.
    ///
    /// # Errors
    /// The handshake is not done, or the session can no longer encrypt (closed, or its
    /// sequence numbers exhausted): nothing can be sent on this connection.
    pub(crate) fn seal(&mut self, parts: &[&[u8]], out: &mut Vec<u8>) -> Result<(), SealError> {
        match self {
            Self::Lean(lean) => lean.seal(parts, out),
            Self::Rustls(session) => session.seal(parts, out),
            Self::Lost => Err(SealError),
        }
    }

    /// rustls hands the keys to the lean record layer.
    fn hand_over(&mut self, suite: &'static rustls::Tls13CipherSuite) -> Result<(), rustls::Error> {
        let Self::Rustls(session) = std::mem::replace(self, Self::Lost) else { return Ok(()) };
        let lean = session.hand_over(suite).and_then(Lean::new)?;
        *self = Self::Lean(Box::new(lean));
        Ok(())
    }

    /// Whether the lean record layer has taken over.
    #[cfg(test)]
    pub(crate) fn is_lean(&self) -> bool {
        matches!(self, Self::Lean(_))
    }
}

/// After a read of `partial` (if `buffered`) or of `data`, up to `at`: keeps what follows the
/// last whole record (at most one record and a bit), and frees the buffer once it is empty.
fn keep_rest(partial: &mut Vec<u8>, buffered: bool, data: &[u8], at: usize) {
    if buffered {
        partial.drain(..at);
        if partial.is_empty() {
            *partial = Vec::new(); // the record completed: the buffer goes back
        }
    } else if at < data.len() {
        partial.extend_from_slice(&data[at..]);
    }
}

#[cfg(test)]
mod tests;
