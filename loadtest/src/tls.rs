//! wss:// for the load generator: a rustls client session per connection between the driver's
//! bytes and the WebSocket client, so every scenario runs over TLS unchanged. The generator's
//! own TLS work shows in its CPU figure, as it should: TLS costs the client too.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::io::{Read, Write};
use std::sync::Arc;

/// How the generator checks the server's certificate.
pub(crate) enum Trust {
    /// Only certificates signed by these (a self-signed server's own certificate, say).
    Roots(std::path::PathBuf),
    /// Any certificate (`--insecure`): for self-signed test servers; the traffic is still
    /// encrypted and costs what it costs.
    Anything,
}

/// The run-wide TLS settings.
pub(crate) struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// Settings for connections to `host` (the name sent in SNI and checked in the certificate).
    ///
    /// # Errors
    /// An unreadable or empty CA file, or a host that is not a valid server name.
    pub(crate) fn new(host: &str, trust: &Trust) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let config = match trust {
            Trust::Anything => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
                .with_no_client_auth(),
            Trust::Roots(path) => {
                use rustls::pki_types::pem::PemObject;
                let mut roots = RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|c| c.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                if certs.is_empty() {
                    return Err(format!("{}: no certificate", path.display()));
                }
                for cert in certs {
                    roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
        };
        let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
        Ok(Self { config: Arc::new(config), name })
    }

    /// A blocking TLS stream over `tcp` (the slow scenario's subscribers).
    ///
    /// # Errors
    /// rustls refuses the settings (not with these).
    pub(crate) fn blocking(
        &self,
        tcp: std::net::TcpStream,
    ) -> Result<rustls::StreamOwned<ClientConnection, std::net::TcpStream>, rustls::Error> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }

    /// A session for a new connection.
    pub(crate) fn session(&self) -> Result<Box<ClientTls>, rustls::Error> {
        let conn = ClientConnection::new(self.config.clone(), self.name.clone())?;
        Ok(Box::new(ClientTls { conn }))
    }
}

/// One connection's TLS session.
pub(crate) struct ClientTls {
    conn: ClientConnection,
}

impl ClientTls {
    /// Queues `plaintext` (sent once the handshake allows) and appends every record ready to go
    /// to `out`.
    pub(crate) fn seal(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        // Writing into rustls' own buffer cannot fail (it is memory).
        let _ = self.conn.writer().write_all(plaintext);
        self.records(out);
    }

    /// Appends every record rustls has ready (handshake, or sealed application data) to `out`.
    pub(crate) fn records(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(out).is_err() {
                return;
            }
        }
    }

    /// Takes in received bytes: plaintext is appended to `plain`, records to send to `out`.
    ///
    /// # Errors
    /// The server broke TLS (a bad record, a failed handshake, its certificate refused).
    pub(crate) fn read(
        &mut self,
        mut data: &[u8],
        plain: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), rustls::Error> {
        while !data.is_empty() {
            // Reading from a slice cannot fail; rustls takes what fits its buffer.
            if self.conn.read_tls(&mut data).is_err() {
                break;
            }
            let state = self.conn.process_new_packets();
            self.records(out);
            state?;
            let _ = self.conn.reader().read_to_end(plain);
        }
        Ok(())
    }
}

/// `--insecure`: every certificate is taken (signatures on the handshake are still checked, so
/// the session is a real one).
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
