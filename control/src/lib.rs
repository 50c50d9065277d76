//! The library behind the `sluice` binary.
//!
//! It holds what the binary's subcommands do, so that integration tests and fuzz targets can
//! call the same code: reading captures ([`capture`]), decoding packets layer by layer with
//! knowledge of GWLB's GENEVE options ([`decode`]), running the engine's pipeline over a
//! capture without DPDK ([`simulate`]), health checks of targets and the appliance's answer to
//! them ([`health`]), the management API ([`api`]), and the DPDK runtime of `sluice run`
//! ([`run`], with the default `dpdk` feature).

pub mod api;
pub mod capture;
pub mod cli;
pub mod decode;
#[cfg(feature = "dpdk")]
pub mod health;
#[cfg(feature = "dpdk")]
pub mod metrics;
#[cfg(feature = "dpdk")]
pub mod run;
pub mod simulate;
