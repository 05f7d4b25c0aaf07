//! `--metrics-addr`: the metrics on an address of their own (a private interface a scraper
//! reaches, while the WebSocket port faces the internet). A plain blocking listener on one
//! thread: a scrape every few seconds needs nothing more, and it stays off the workers.

use ringws::ServerHandle;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Binds `addr` and answers `GET <path>` there with the server's metrics, on its own thread.
///
/// # Errors
/// The address cannot be bound.
pub(crate) fn serve(
    addr: SocketAddr,
    path: String,
    handle: ServerHandle,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("ringws-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Err(e) = answer(stream, &path, &handle) {
                tracing::debug!("metrics listener: {e}");
            }
        }
    })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, path: &str, handle: &ServerHandle) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    let request_path =
        loop {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
            match ringws_proto::handshake::parse_request(&head, 8192) {
                Ok(Some(request)) => break request.path().to_owned(),
                Ok(None) => continue,
                Err(_) => return stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                ),
            }
        };
    let mut out = Vec::new();
    let close = [("Connection", "close")];
    if request_path == path {
        let text = handle.metrics_text();
        let kind = "text/plain; version=0.0.4; charset=utf-8";
        ringws_proto::handshake::write_response(&mut out, 200, &close, kind, text.as_bytes());
    } else {
        ringws_proto::handshake::write_response(
            &mut out,
            404,
            &close,
            "text/plain",
            b"not found\n",
        );
    }
    stream.write_all(&out)
}
