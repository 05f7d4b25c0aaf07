//! Parsing a browser-sized upgrade request, validating it, and writing the 101 answer.
#![forbid(unsafe_code)]
// Benchmark inputs are fixed and valid; a panic here is a broken benchmark, not peer input.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringws_proto::handshake::{DEFAULT_MAX_HEADER_BYTES, parse_request, write_accept};
use std::hint::black_box;

const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: server.example.com:9001\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n\
Sec-WebSocket-Version: 13\r\nOrigin: http://server.example.com:9001\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Connection: keep-alive, Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\n\
Upgrade: websocket\r\n\r\n";

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(256);
    group.bench_function("parse+validate+respond", |b| {
        b.iter(|| {
            let req = parse_request(black_box(REQUEST), DEFAULT_MAX_HEADER_BYTES).unwrap().unwrap();
            let upgrade = req.websocket().unwrap();
            out.clear();
            write_accept(&mut out, upgrade.accept_key(), None, None);
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
