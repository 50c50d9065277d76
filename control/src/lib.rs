//! The library behind the `sluice` binary.
//!
//! It holds what the binary's subcommands do, so that integration tests and fuzz targets can
//! call the same code: reading captures ([`capture`]), decoding packets layer by layer with
//! knowledge of GWLB's GENEVE options ([`decode`]) and running the engine's pipeline over a
//! capture without DPDK ([`simulate`]). The data plane proper (engine, DPDK
//! runtime, control loop) arrives with its own issues and is wired in here.

pub mod capture;
pub mod decode;
pub mod simulate;
