//! sluice's perf lab, the library behind the `sluice-perf` binary.
//!
//! It generates the traffic of each scenario ([`traffic`], from [`scenario`] files), sets up
//! sluice and `dpdk-testpmd` alike on DPDK virtual devices ([`lab`]), runs them in
//! alternation and reads their rates and sluice's latency ([`measure`], [`runner`]), and
//! writes what they measured ([`results`]) as a Markdown report ([`report`]) with plots
//! ([`plots`]). The method is that of `shared/DESIGN.md` §9: the real binary, testpmd as
//! the ceiling in the same run, medians over repeated, alternating runs.

pub mod lab;
pub mod machine;
pub mod measure;
pub mod plots;
pub mod report;
pub mod results;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod traffic;
