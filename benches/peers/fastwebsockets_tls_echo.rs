//! Peer: the fastwebsockets echo server behind tokio-rustls (rustls' buffered connection, the
//! way every tokio server does TLS), single-threaded, the aws-lc-rs provider as ringws uses.
//! `peer-fastwebsockets-tls PORT CERT.pem KEY.pem`
#![forbid(unsafe_code)]

use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use ringws_proto::handshake::{DEFAULT_MAX_HEADER_BYTES, parse_request, write_accept};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> Option<()> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(request) = parse_request(&buf, DEFAULT_MAX_HEADER_BYTES).ok()? {
            let upgrade = request.websocket().ok()?;
            let mut out = Vec::new();
            write_accept(&mut out, upgrade.accept_key(), None, None);
            stream.write_all(&out).await.ok()?;
            stream.flush().await.ok()?;
            return Some(());
        }
    }
}

fn config(cert: &str, key: &str) -> Result<Arc<rustls::ServerConfig>, Box<dyn std::error::Error>> {
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(cert), Some(key)) = (args.get(2), args.get(3)) else {
        eprintln!("usage: peer-fastwebsockets-tls PORT CERT.pem KEY.pem");
        std::process::exit(2);
    };
    let config = config(cert, key).unwrap_or_else(|e| {
        eprintln!("peer-fastwebsockets-tls: {e}");
        std::process::exit(2);
    });
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    ringws_benches::serve_peer(9712, move |stream| {
        let acceptor = acceptor.clone();
        async move {
            let Ok(mut stream) = acceptor.accept(stream).await else { return };
            if upgrade(&mut stream).await.is_none() {
                return;
            }
            let mut ws = WebSocket::after_handshake(stream, Role::Server);
            ws.set_max_message_size(64 << 20);
            let mut ws = FragmentCollector::new(ws);
            while let Ok(frame) = ws.read_frame().await {
                let echo = matches!(frame.opcode, OpCode::Text | OpCode::Binary);
                if frame.opcode == OpCode::Close || (echo && ws.write_frame(frame).await.is_err()) {
                    break;
                }
            }
        }
    })
}
