//! The sans-IO packet engine of sluice: everything a worker decides about a packet, with no
//! I/O, no clock and no DPDK.
//!
//! The engine takes packets and `now` and returns decisions, so every GWLB behaviour (flow
//! stickiness, idle timeouts, draining, failover) is testable deterministically; the DPDK
//! runtime only moves packets. It depends on `sluice-wire`, and on `zerocopy` for zeroed
//! allocation of its flow-sized tables without unsafe code.
//!
//! - [`flow`]: the flow key (5-, 3- or 2-tuple, symmetric, scoped by endpoint) and its hash.
//! - [`flow_table`]: the lock-free flow table shared by all workers, with flow cookies.
//! - [`maglev`]: consistent hashing of flows onto targets (Maglev, NSDI 2016 §3.4), and the
//!   zone views GWLB's health and cross-zone rules make of the registered targets.
//! - [`snapshot`]: the immutable policy workers read, one epoch at a time.
//! - [`parse`]: the link layer and IP flow facts of a frame, read once.
//! - [`packet`]: the in-place packet buffer contract ([`packet::PacketBuf`]).
//! - [`gateway`]: the load balancer's pipeline.
//! - [`burst`]: how the pipelines process a burst with its flow-table lookups overlapped.
//! - [`appliance`]: the pipeline of the appliance behind a GWLB, with per-flow header records.
//! - [`policy`]: the appliance's inspection policy and its classifier.
//! - [`counters`]: drop reasons and per-worker counters.

#![forbid(unsafe_code)]

pub mod appliance;
pub mod burst;
pub mod counters;
pub mod encap;
pub mod flow;
pub mod flow_stats;
pub mod flow_table;
pub mod gateway;
mod local;
pub mod maglev;
mod memory;
pub mod packet;
pub mod parse;
pub mod policy;
pub mod rst;
pub mod snapshot;
#[cfg(feature = "testkit")]
pub mod testkit;
