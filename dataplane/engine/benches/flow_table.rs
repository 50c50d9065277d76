//! Criterion benchmarks of the flow table from 1 K to 10 M live flows, and of building and
//! hashing a flow key.
//!
//! Each table has a capacity of the next power of two at or above twice its flows (so 16 Mi
//! slots, 1 GiB, for 10 M flows) and is built once per size. Keys and hashes are precomputed
//! and visited in a random order, so the numbers measure the table's memory accesses, not key
//! construction (which has its own benchmark). Consecutive lookups are independent, so the
//! CPU overlaps their cache misses as a burst-processing worker would: the numbers are
//! throughput per operation, not the latency of one isolated lookup.
//!
//! Run: `cargo bench -p sluice-engine --bench flow_table -- --warm-up-time 1 --measurement-time 3`

#![expect(
    clippy::unwrap_used,
    reason = "benchmark fixtures are built to be valid"
)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_engine::flow::{FlowKey, Stickiness};
use sluice_engine::flow_table::{FlowTable, Handle};

/// The live-flow counts benchmarked.
const SIZES: [usize; 4] = [1_000, 100_000, 1_000_000, 10_000_000];
/// Fresh keys cycled through by the insert benchmark, enough to leave caches cold at 10 M.
const FRESH_KEYS: usize = 1 << 18;

/// A small deterministic generator (xorshift64).
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A random IPv4 TCP or UDP flow key of one of a few endpoints.
fn random_key(state: &mut u64) -> FlowKey {
    let r = next(state);
    let client = IpAddr::V4(Ipv4Addr::from(r as u32));
    let server = IpAddr::V4(Ipv4Addr::from((r >> 32) as u32));
    let p = next(state);
    let protocol = if p & 1 == 0 { 6 } else { 17 };
    let (sport, dport) = ((p >> 8) as u16, (p >> 24) as u16);
    FlowKey::new(
        (p >> 40) as u32 & 7,
        client,
        server,
        protocol,
        sport,
        dport,
        Stickiness::FiveTuple,
        false,
    )
    .0
}

/// `n` random keys with their hashes.
fn keys(seed: u64, n: usize) -> Vec<(FlowKey, u64)> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            let key = random_key(&mut state);
            (key, key.hash())
        })
        .collect()
}

/// Shuffles in place (Fisher–Yates).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        items.swap(i, (next(&mut state) % (i as u64 + 1)) as usize);
    }
}

fn never(_: &FlowKey) -> u64 {
    u64::MAX
}

fn flow_table(c: &mut Criterion) {
    for flows in SIZES {
        let capacity = (2 * flows).next_power_of_two().max(FlowTable::MIN_CAPACITY);
        let table = FlowTable::new(capacity).unwrap();
        let mut live = keys(0x5eed_0001 + flows as u64, flows);
        for (key, hash) in &live {
            table.insert(key, *hash, 0, 0, never).unwrap();
        }
        shuffle(&mut live, 7);
        let cookies: Vec<u32> = live
            .iter()
            .map(|(k, h)| table.cookie(table.lookup(k, *h).unwrap()))
            .collect();
        let fresh = keys(0xf7e5_0002 + flows as u64, FRESH_KEYS);
        // Insert at most an eighth of the flows before removing them again, so the load stays
        // near 50 %.
        let chunk = (flows / 8).clamp(1, 4096);

        let mut group = c.benchmark_group("flow_table");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("lookup_hit", flows), |b| {
            let mut i = 0;
            b.iter(|| {
                let (key, hash) = &live[i];
                i = if i + 1 == live.len() { 0 } else { i + 1 };
                black_box(table.lookup(black_box(key), *hash))
            });
        });
        let live_keys: Vec<FlowKey> = live.iter().map(|(k, _)| *k).collect();
        let live_hashes: Vec<u64> = live.iter().map(|(_, h)| *h).collect();
        let burst = FlowTable::BURST;
        group.throughput(Throughput::Elements(burst as u64));
        group.bench_function(BenchmarkId::new("lookup_burst_hit", flows), |b| {
            let mut found = vec![None; burst];
            let mut i = 0;
            b.iter(|| {
                if i + burst > live_keys.len() {
                    i = 0;
                }
                let range = i..i + burst;
                i += burst;
                table.lookup_burst(&live_keys[range.clone()], &live_hashes[range], &mut found);
                black_box(&found);
            });
        });
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("lookup_miss", flows), |b| {
            let mut i = 0;
            b.iter(|| {
                let (key, hash) = &fresh[i];
                i = (i + 1) % FRESH_KEYS;
                black_box(table.lookup(black_box(key), *hash))
            });
        });
        group.bench_function(BenchmarkId::new("by_cookie", flows), |b| {
            let mut i = 0;
            b.iter(|| {
                let cookie = cookies[i];
                i = if i + 1 == cookies.len() { 0 } else { i + 1 };
                black_box(table.by_cookie(black_box(cookie)))
            });
        });
        group.bench_function(BenchmarkId::new("insert_new", flows), |b| {
            let mut next_fresh = 0;
            let mut handles: Vec<Handle> = Vec::with_capacity(chunk);
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = chunk.min((iters - done) as usize);
                    let start = Instant::now();
                    for _ in 0..n {
                        let (key, hash) = &fresh[next_fresh];
                        next_fresh = (next_fresh + 1) % FRESH_KEYS;
                        if let Ok(ins) = table.insert(black_box(key), *hash, 0, 0, never) {
                            handles.push(ins.handle);
                        }
                    }
                    measured += start.elapsed();
                    // Untimed: remove what was inserted, back to the benchmarked size.
                    for handle in handles.drain(..) {
                        table.remove(handle);
                    }
                    done += n as u64;
                }
                measured
            });
        });
        group.finish();
        assert_eq!(table.len(), flows);
        assert_eq!(table.stats().full, 0, "{flows} flows overflowed a window");
    }
}

fn flow_key(c: &mut Criterion) {
    let mut state = 0xabcd_ef01;
    let tuples: Vec<(IpAddr, IpAddr, u16, u16)> = (0..1024)
        .map(|_| {
            let r = next(&mut state);
            let src = IpAddr::V4(Ipv4Addr::from(r as u32));
            let dst = IpAddr::V4(Ipv4Addr::from((r >> 32) as u32));
            let p = next(&mut state);
            (src, dst, p as u16, (p >> 16) as u16)
        })
        .collect();
    let mut group = c.benchmark_group("flow_key");
    group.throughput(Throughput::Elements(1));
    group.bench_function("flow_key_new_and_hash", |b| {
        let mut i = 0;
        b.iter(|| {
            let (src, dst, sport, dport) = tuples[i];
            i = (i + 1) & 1023;
            let (key, direction) = FlowKey::new(
                3,
                black_box(src),
                black_box(dst),
                6,
                sport,
                dport,
                Stickiness::FiveTuple,
                false,
            );
            black_box((key.hash(), direction))
        });
    });
    let prebuilt = keys(9, 1024);
    group.bench_function("flow_key_hash", |b| {
        let mut i = 0;
        b.iter(|| {
            let key = &prebuilt[i].0;
            i = (i + 1) & 1023;
            black_box(black_box(key).hash())
        });
    });
    group.finish();
}

criterion_group!(benches, flow_key, flow_table);
criterion_main!(benches);
