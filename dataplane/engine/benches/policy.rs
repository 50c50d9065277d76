//! Criterion benchmarks of the inspection policy's classifier: the cost of deciding a flow's
//! first packet with 10, 1,000 and 10,000 rules, beside a linear scan of the same rules.
//!
//! Run: `cargo bench -p sluice-engine --bench policy` (ns per classification, medians). The
//! rules and queries come from `testkit::policy` (networks, protocols, ports, ICMP types and
//! endpoint ids in the shape operators write; queries near the rules' networks). The build
//! time and memory of each classifier are printed once before its runs.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark fixtures are built to be valid"
)]
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use sluice_engine::policy::Policy;
use sluice_engine::testkit::policy::{definition, queries};

/// Distinct queries cycled through (so that the branch predictor cannot learn one).
const QUERIES: usize = 4096;

fn classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("policy_first_packet");
    for rules in [10usize, 1_000, 10_000] {
        let def = definition(42, rules);
        let started = Instant::now();
        let policy = Policy::new(def.clone()).unwrap();
        let built = started.elapsed();
        let qs = queries(&def, 7, QUERIES);
        let matched = qs
            .iter()
            .filter(|q| policy.decide(q).rule.is_some())
            .count();
        println!(
            "{rules} rules: built in {built:?}, {} KiB, {matched}/{QUERIES} queries match a rule",
            policy.classifier_bytes() / 1024
        );
        group.bench_with_input(BenchmarkId::new("classifier", rules), &qs, |b, qs| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(policy.decide(black_box(&qs[i])))
            });
        });
        group.bench_with_input(BenchmarkId::new("linear_scan", rules), &qs, |b, qs| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % QUERIES;
                black_box(policy.first_match_linear(black_box(&qs[i])))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
