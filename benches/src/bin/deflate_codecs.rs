//! permessage-deflate's codec, measured against the alternatives: compress and inflate speed on
//! JSON messages of 1 KiB and 16 KiB (each message on its own, as shared mode does), the size
//! they reach, and the memory one stream holds once used (RSS over 1,000 streams).
//!
//! `cargo run --release -p ringws-benches --bin deflate-codecs` prints a markdown table; the
//! codecs run interleaved, five rounds, and the median is reported, so host drift hits them all
//! alike. Candidates:
//! - ours: flate2 on zlib-rs (`ringws_proto::deflate`), at the windows the engine uses;
//! - miniz_oxide (flate2's default backend): a 15-bit window only, which cannot honour a
//!   client's `server_max_window_bits`;
//! - libdeflate (`libdeflater`): whole buffers, no streaming and no window choice, so neither
//!   context takeover nor incremental, bounded inflation (the bomb check) fit it.
#![forbid(unsafe_code)]

use libdeflater::{CompressionLvl, Compressor, Decompressor};
use miniz_oxide::deflate::core::{CompressorOxide, TDEFLFlush, compress};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZFlush};
use ringws_proto::deflate::{Deflater, Inflater, TRAILER};
use std::time::Instant;

const LEVEL: u8 = 3;

/// Market-data-like JSON: the same keys, varying numbers, cut to `size` bytes.
fn corpus(size: usize, count: usize) -> Vec<Vec<u8>> {
    let mut x = 0x2545_f491_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..count)
        .map(|_| {
            let mut s = String::from("{\"op\":\"quotes\",\"data\":[");
            while s.len() < size {
                let r = next();
                s.push_str(&format!(
                    "{{\"symbol\":\"S{:03}\",\"bid\":{}.{:02},\"ask\":{}.{:02},\"size\":{},\"seq\":{}}},",
                    r % 500,
                    100 + r % 50,
                    (r >> 8) % 100,
                    100 + (r >> 16) % 50,
                    (r >> 24) % 100,
                    (r >> 32) % 10_000,
                    r >> 40
                ));
            }
            s.truncate(size);
            s.into_bytes()
        })
        .collect()
}

trait Codec {
    fn name(&self) -> String;
    /// Compresses `msg` on its own into `out` (cleared first).
    fn deflate(&mut self, msg: &[u8], out: &mut Vec<u8>);
    /// Inflates one message compressed by `deflate` (its original length given) into `out`.
    fn inflate(&mut self, wire: &[u8], len: usize, out: &mut Vec<u8>);
}

struct Ours {
    bits: u8,
    takeover: bool,
    d: Deflater,
    i: Inflater,
}

impl Ours {
    fn new(bits: u8, takeover: bool) -> Self {
        let d = Deflater::new(u32::from(LEVEL), bits, takeover);
        Self { bits, takeover, d, i: Inflater::with_window(bits, takeover) }
    }
}

impl Codec for Ours {
    fn name(&self) -> String {
        let mode =
            if self.takeover { "context kept (dedicated)" } else { "reset per message (shared)" };
        format!("flate2 + zlib-rs, {}-bit window, {mode}", self.bits)
    }
    fn deflate(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        out.clear();
        self.d.deflate(msg, out);
    }
    fn inflate(&mut self, wire: &[u8], _len: usize, out: &mut Vec<u8>) {
        self.i.inflate(&[wire], 1 << 24, out).expect("inflates");
    }
}

struct Miniz {
    d: Box<CompressorOxide>,
    i: Box<InflateState>,
}

impl Codec for Miniz {
    fn name(&self) -> String {
        "miniz_oxide, 15-bit window".into()
    }
    fn deflate(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        self.d.reset();
        out.clear();
        out.resize(msg.len() + msg.len() / 8 + 64, 0);
        let (_, _, written) = compress(&mut self.d, msg, out, TDEFLFlush::Sync);
        out.truncate(written);
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
    }
    fn inflate(&mut self, wire: &[u8], len: usize, out: &mut Vec<u8>) {
        self.i.reset(DataFormat::Raw);
        let input = [wire, &TRAILER].concat();
        out.clear();
        out.resize(len + 64, 0);
        let r = miniz_oxide::inflate::stream::inflate(&mut self.i, &input, out, MZFlush::Sync);
        assert!(r.status.is_ok(), "miniz inflates");
        out.truncate(r.bytes_written);
    }
}

struct Libdeflate {
    d: Compressor,
    i: Decompressor,
}

impl Codec for Libdeflate {
    fn name(&self) -> String {
        "libdeflate (whole buffers, 15-bit)".into()
    }
    fn deflate(&mut self, msg: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.resize(self.d.deflate_compress_bound(msg.len()), 0);
        let n = self.d.deflate_compress(msg, out).expect("compresses");
        out.truncate(n);
    }
    fn inflate(&mut self, wire: &[u8], len: usize, out: &mut Vec<u8>) {
        out.clear();
        out.resize(len, 0);
        let n = self.i.deflate_decompress(wire, out).expect("inflates");
        out.truncate(n);
    }
}

fn codecs() -> Vec<Box<dyn Codec>> {
    vec![
        Box::new(Ours::new(15, false)),
        Box::new(Ours::new(12, false)),
        Box::new(Ours::new(9, false)),
        Box::new(Ours::new(15, true)),
        Box::new(Miniz {
            d: Box::new(CompressorOxide::new(
                miniz_oxide::deflate::core::create_comp_flags_from_zip_params(
                    i32::from(LEVEL),
                    -15,
                    0,
                ),
            )),
            i: InflateState::new_boxed(DataFormat::Raw),
        }),
        Box::new(Libdeflate {
            d: Compressor::new(CompressionLvl::new(i32::from(LEVEL)).expect("level")),
            i: Decompressor::new(),
        }),
    ]
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// RSS per stream: 1,000 of one kind, each having compressed (or inflated) one message.
fn memory_per_stream(msg: &[u8]) -> Vec<(String, u64)> {
    const N: u64 = 1000;
    let mut out = Vec::new();
    let mut wire = Vec::new();
    Deflater::new(u32::from(LEVEL), 15, false).deflate(msg, &mut wire);
    let mut measure = |name: String, make: &mut dyn FnMut() -> Box<dyn std::any::Any>| {
        let before = rss();
        let kept: Vec<_> = (0..N).map(|_| make()).collect();
        out.push((name, rss().saturating_sub(before) / N));
        drop(kept);
    };
    for bits in [15u8, 12, 9] {
        measure(format!("deflater, flate2 + zlib-rs, {bits}-bit window"), &mut || {
            let mut d = Deflater::new(u32::from(LEVEL), bits, true);
            d.deflate(msg, &mut Vec::new());
            Box::new(d)
        });
        measure(format!("inflater, flate2 + zlib-rs, {bits}-bit window"), &mut || {
            let mut i = Inflater::with_window(bits, true);
            i.inflate(&[&wire], 1 << 24, &mut Vec::new()).expect("inflates");
            i.release(0);
            Box::new(i)
        });
    }
    measure("deflater, miniz_oxide".into(), &mut || {
        let flags = miniz_oxide::deflate::core::create_comp_flags_from_zip_params(3, -15, 0);
        let mut d = Box::new(CompressorOxide::new(flags));
        let mut o = vec![0; msg.len() * 2 + 64];
        compress(&mut d, msg, &mut o, TDEFLFlush::Sync);
        Box::new(d)
    });
    measure("deflater, libdeflate".into(), &mut || {
        let mut d = Compressor::new(CompressionLvl::new(3).expect("level"));
        let mut o = vec![0; d.deflate_compress_bound(msg.len())];
        d.deflate_compress(msg, &mut o).expect("compresses");
        Box::new(d)
    });
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    const ROUNDS: usize = 5;
    println!("| messages | codec | ratio | deflate MB/s | inflate MB/s |");
    println!("| --- | --- | --- | --- | --- |");
    for (size, count) in [(1024, 2000), (16 << 10, 200)] {
        let msgs = corpus(size, count);
        let total = (size * count) as f64;
        let mut codecs = codecs();
        let mut times = vec![(Vec::new(), Vec::new()); codecs.len()];
        let mut ratios = vec![0.0; codecs.len()];
        let (mut wire, mut back) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for (k, codec) in codecs.iter_mut().enumerate() {
                let (mut squeezed, mut t_deflate, mut t_inflate) = (0usize, 0.0, 0.0);
                for msg in &msgs {
                    let t = Instant::now();
                    codec.deflate(msg, &mut wire);
                    t_deflate += t.elapsed().as_secs_f64();
                    squeezed += wire.len();
                    let t = Instant::now();
                    codec.inflate(&wire, msg.len(), &mut back);
                    t_inflate += t.elapsed().as_secs_f64();
                    assert_eq!(&back, msg, "{} round-trips", codec.name());
                }
                ratios[k] = total / squeezed as f64;
                times[k].0.push(total / t_deflate / 1e6);
                times[k].1.push(total / t_inflate / 1e6);
            }
        }
        for (k, codec) in codecs.iter().enumerate() {
            let (d, i) = (median(times[k].0.clone()), median(times[k].1.clone()));
            let label = format!("{count} x {} KiB JSON", size >> 10);
            println!("| {label} | {} | {:.2}x | {d:.0} | {i:.0} |", codec.name(), ratios[k]);
        }
    }
    println!();
    println!("| stream (used once, context kept) | RSS per stream |");
    println!("| --- | --- |");
    let msg = &corpus(1024, 1)[0];
    for (name, bytes) in memory_per_stream(msg) {
        println!("| {name} | {:.1} KiB |", bytes as f64 / 1024.0);
    }
}
