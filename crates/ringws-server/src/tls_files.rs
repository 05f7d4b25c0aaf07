//! The binary's certificates: the files named by --tls-cert, --tls-key and --tls-sni, loaded at
//! start and again on SIGHUP.

use ringws::rustls::ServerConfig;
use ringws::tls::Certificates;
use std::path::PathBuf;
use std::sync::Arc;

use crate::args::Args;

/// Where the certificates are read from.
pub(crate) struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    /// (server name, certificate, key) for SNI.
    names: Vec<(String, PathBuf, PathBuf)>,
}

impl TlsFiles {
    /// The files the flags name; `None` when the server speaks plain (no certificate given).
    ///
    /// # Errors
    /// One of --tls-cert and --tls-key without the other, or --tls-sni without them.
    pub(crate) fn from_args(args: &Args) -> Result<Option<Self>, String> {
        match (&args.tls_cert, &args.tls_key) {
            (None, None) if args.tls_sni.is_empty() => Ok(None),
            (Some(cert), Some(key)) => {
                let (cert, key, names) = (cert.clone(), key.clone(), args.tls_sni.clone());
                Ok(Some(Self { cert, key, names }))
            }
            (None, None) => {
                Err("--tls-sni needs --tls-cert and --tls-key (the default certificate)".into())
            }
            _ => Err("--tls-cert and --tls-key go together: give both, or neither".into()),
        }
    }

    /// Reads every file.
    ///
    /// # Errors
    /// A file that does not load: the message names it.
    pub(crate) fn load(&self) -> std::io::Result<Arc<ServerConfig>> {
        let mut certs = Certificates::from_pem(&self.cert, &self.key)?;
        for (name, cert, key) in &self.names {
            certs = certs.with_name(name, cert, key)?;
        }
        certs.into_config()
    }
}

/// SIGHUP: the certificate files read again; new connections get them, open ones keep theirs.
/// A file that no longer loads leaves the running certificates in place.
pub(crate) fn reload(handle: &ringws::ServerHandle, files: Option<&TlsFiles>) {
    let Some(files) = files else {
        tracing::info!("SIGHUP: no TLS certificate to reload");
        return;
    };
    match files.load().and_then(|config| handle.set_tls(config)) {
        Ok(()) => tracing::info!(cert = %files.cert.display(), "SIGHUP: TLS certificates reloaded"),
        Err(e) => tracing::error!("SIGHUP: TLS certificates not reloaded, the old ones stay: {e}"),
    }
}
