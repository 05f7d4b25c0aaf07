//! Building a TLS server configuration: certificates and keys from PEM files, one default and
//! any number chosen by the name the client asks for (SNI), on the aws-lc-rs provider with ALPN
//! `http/1.1`.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::HashMap;
use std::io::{Error, ErrorKind};
use std::path::Path;
use std::sync::Arc;

/// A TLS server configuration from PEM files: the certificate chain (leaf first) and its
/// private key (PKCS#8, PKCS#1 or SEC1), TLS 1.2 and 1.3 with rustls' safe defaults, ALPN
/// `http/1.1`, on the aws-lc-rs provider (`docs/dependencies.md` says why). For several
/// certificates chosen by server name, see [`Certificates`].
///
/// # Errors
/// A file that cannot be read, holds no certificate or no key, or a key that does not match
/// the certificate: the error names the file and the problem.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> std::io::Result<Arc<ServerConfig>> {
    Certificates::from_pem(cert_pem, key_pem)?.into_config()
}

/// The certificates a TLS server presents: a default one, and others for the server names
/// clients ask for (SNI; a name is matched exactly, ASCII case ignored).
#[derive(Debug, Clone)]
pub struct Certificates {
    provider: Arc<CryptoProvider>,
    default: Arc<CertifiedKey>,
    by_name: HashMap<String, Arc<CertifiedKey>>,
}

impl Certificates {
    /// The default certificate, from PEM files.
    ///
    /// # Errors
    /// As [`server_config`].
    pub fn from_pem(cert_pem: &Path, key_pem: &Path) -> std::io::Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let default = load(&provider, cert_pem, key_pem)?;
        Ok(Self { provider, default, by_name: HashMap::new() })
    }

    /// The default certificate, already loaded.
    ///
    /// # Errors
    /// The key cannot be used, or does not match the certificate.
    pub fn new(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let default = Arc::new(CertifiedKey::from_der(certs, key, &provider)?);
        Ok(Self { provider, default, by_name: HashMap::new() })
    }

    /// Presents the certificate in these PEM files to clients that ask for `name`.
    ///
    /// # Errors
    /// As [`server_config`].
    pub fn with_name(
        mut self,
        name: &str,
        cert_pem: &Path,
        key_pem: &Path,
    ) -> std::io::Result<Self> {
        let key = load(&self.provider, cert_pem, key_pem)?;
        self.by_name.insert(name.to_ascii_lowercase(), key);
        Ok(self)
    }

    /// Presents this certificate to clients that ask for `name`.
    ///
    /// # Errors
    /// The key cannot be used, or does not match the certificate.
    pub fn with_name_der(
        mut self,
        name: &str,
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Self, rustls::Error> {
        let key = Arc::new(CertifiedKey::from_der(certs, key, &self.provider)?);
        self.by_name.insert(name.to_ascii_lowercase(), key);
        Ok(self)
    }

    /// The server configuration: TLS 1.2 and 1.3, no client certificates, ALPN `http/1.1`.
    ///
    /// # Errors
    /// rustls refuses the protocol versions for the provider (not with the default one).
    pub fn into_config(self) -> std::io::Result<Arc<ServerConfig>> {
        let provider = self.provider.clone();
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(self));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(with_hand_over(Arc::new(config)))
    }
}

/// A copy of `config` with which rustls hands a TLS 1.3 connection over to the engine's lean
/// record layer after the handshake: the keys (`enable_secret_extraction`) and the traffic
/// secrets, for key updates (through its `KeyLog`, which still reaches the embedder's own one).
/// The keys stay in the process; an idle connection then holds under 300 bytes of TLS state
/// instead of 3.6 KiB.
pub(crate) fn with_hand_over(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut config = Arc::unwrap_or_clone(config);
    config.enable_secret_extraction = true;
    config.key_log = Arc::new(super::secrets::Capture { inner: config.key_log.clone() });
    Arc::new(config)
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let named = hello.server_name().and_then(|name| {
            // Clients send names in lower case as a rule; a mixed-case one is folded.
            self.by_name.get(name).or_else(|| self.by_name.get(&name.to_ascii_lowercase()))
        });
        Some(named.unwrap_or(&self.default).clone())
    }
}

fn load(
    provider: &CryptoProvider,
    cert_pem: &Path,
    key_pem: &Path,
) -> std::io::Result<Arc<CertifiedKey>> {
    let bad = |path: &Path, what: String| {
        Error::new(ErrorKind::InvalidInput, format!("{}: {what}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert_pem, format!("cannot read certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(cert_pem, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key_pem)
        .map_err(|e| bad(key_pem, format!("cannot read a private key: {e}")))?;
    let key = CertifiedKey::from_der(certs, key, provider)
        .map_err(|e| bad(cert_pem, format!("with {}: {e}", key_pem.display())))?;
    Ok(Arc::new(key))
}
