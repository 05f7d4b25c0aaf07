//! Decoding (header parse + unmask in place + message assembly) of small and large frames.
#![forbid(unsafe_code)]
// Benchmark inputs are fixed and valid; a panic here is a broken benchmark, not peer input.
#![allow(clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ringws_benches::masked_frame;
use ringws_proto::frame::{FrameDecoder, FrameHeader, MAX_HEADER_LEN, OpCode};
use ringws_proto::{MessageAssembler, Role};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for size in [20usize, 16 * 1024] {
        let wire = masked_frame(OpCode::Binary, &vec![7u8; size]);
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let mut buf = wire.clone();
        group.bench_with_input(BenchmarkId::new("frame", size), &size, |b, _| {
            let mut decoder = FrameDecoder::new(Role::Server);
            b.iter(|| {
                buf.copy_from_slice(&wire);
                let (part, used) = decoder.decode(black_box(&mut buf)).unwrap().unwrap();
                black_box((part.payload.len(), used))
            })
        });
        group.bench_with_input(BenchmarkId::new("frame+message", size), &size, |b, _| {
            let mut decoder = FrameDecoder::new(Role::Server);
            let mut assembler = MessageAssembler::new();
            b.iter(|| {
                buf.copy_from_slice(&wire);
                let (part, _) = decoder.decode(black_box(&mut buf)).unwrap().unwrap();
                black_box(assembler.push(part).unwrap().is_some())
            })
        });
        group.bench_with_input(BenchmarkId::new("copy-only", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&wire)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("header", |b| {
        let mut out = [0u8; MAX_HEADER_LEN];
        b.iter(|| FrameHeader::new(OpCode::Text, black_box(20)).encode(&mut out))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
