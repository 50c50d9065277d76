//! Criterion benchmarks of Maglev: building a table on the control thread (how long a health
//! change takes to reach the workers' tables) and the lookup a worker does for each new flow.
//!
//! Run: `cargo bench -p sluice-engine --bench maglev` (compare medians, never timed tests).

#![expect(
    clippy::unwrap_used,
    reason = "benchmark fixtures are built to be valid"
)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_engine::maglev::{Backend, DEFAULT_TABLE_SIZE, MaglevTable};

/// `n` distinct private addresses, as a target group of `n` appliances.
fn backends(n: u32) -> Vec<Backend> {
    (0..n)
        .map(|i| {
            Backend::new(Ipv4Addr::from_bits(
                0x0A00_0000 | (i.wrapping_mul(40_503) & 0x00FF_FFFF),
            ))
        })
        .collect()
}

fn build(c: &mut Criterion) {
    let mut group = c.benchmark_group("maglev_build_65537");
    for n in [3, 10, 300] {
        let backends = backends(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &backends, |b, backends| {
            b.iter(|| MaglevTable::build(black_box(backends), DEFAULT_TABLE_SIZE).unwrap());
        });
    }
    group.finish();
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("maglev_lookup_65537");
    // Flow hashes as a flow table would hand them over: distinct, well spread.
    let hashes: Vec<u64> = (1..=1024u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    group.throughput(Throughput::Elements(hashes.len() as u64));
    for n in [10, 300] {
        let table = MaglevTable::build(&backends(n), DEFAULT_TABLE_SIZE).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(n), &table, |b, table| {
            b.iter(|| {
                let mut sum = 0u32;
                for &hash in black_box(&hashes) {
                    sum += u32::from(table.lookup(hash).unwrap_or(0));
                }
                sum
            });
        });
    }
    group.finish();

    // One lookup at a time, each hash depending on the previous answer: the latency a
    // worker sees for a lone new flow, rather than the throughput of a burst.
    let table = MaglevTable::build(&backends(300), DEFAULT_TABLE_SIZE).unwrap();
    c.bench_function("maglev_lookup_65537/300_dependent", |b| {
        let mut hash = 0x9E37_79B9_7F4A_7C15u64;
        b.iter(|| {
            let index = table.lookup(black_box(hash)).unwrap_or(0);
            hash = hash.wrapping_add(u64::from(index) | 1 << 40);
            index
        });
    });
}

criterion_group!(benches, build, lookup);
criterion_main!(benches);
