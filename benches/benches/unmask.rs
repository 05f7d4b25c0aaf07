//! Unmasking throughput next to a same-size memcpy, the ceiling an in-place XOR can approach.
#![forbid(unsafe_code)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ringws_proto::mask::{unmask, unmask_scalar};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut group = c.benchmark_group("unmask");
    for size in [16usize, 1024, 64 * 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5au8; size];
        let src = vec![0xa5u8; size];
        group.bench_with_input(BenchmarkId::new("fast", size), &size, |b, _| {
            b.iter(|| unmask(black_box(&mut buf), key, 1))
        });
        group.bench_with_input(BenchmarkId::new("scalar", size), &size, |b, _| {
            b.iter(|| unmask_scalar(black_box(&mut buf), key, 1))
        });
        group.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| black_box(&mut buf).copy_from_slice(black_box(&src)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
