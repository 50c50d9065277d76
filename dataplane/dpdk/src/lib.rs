//! The safe layer over DPDK that sluice's runtime uses: the EAL, mbuf pools, mbufs, Ethernet
//! ports and their queue bursts, each an RAII value whose `Drop` undoes its setup.
//!
//! Lifetimes encode DPDK's teardown order: a [`Mempool`] borrows the [`Eal`], a [`Port`]
//! borrows the pool its RX queues fill from, queues borrow their port, and an [`Mbuf`]
//! cannot outlive its pool. Dropping them in reverse (queues, port, mbufs, pool, EAL) is what
//! the borrow checker already demands.
//!
//! Every call into DPDK goes through one private module, `ffi`, the only place in the crate
//! where `unsafe` is allowed; each block there says why it holds. The hot path (bursts and
//! mbuf access) allocates nothing: bursts fill caller-provided arrays, and mbuf data is read
//! from the `rte_mbuf` fields in Rust rather than through a C call per packet.
//!
//! [`Mbuf`] implements the engine's [`sluice_engine::packet::PacketBuf`], so the gateway and
//! appliance pipelines run on mbufs unchanged.

#![deny(unsafe_code)]

mod eal;
mod error;
#[allow(unsafe_code, reason = "the one module that calls into DPDK")]
mod ffi;
mod mbuf;
pub mod memory;
mod mempool;
mod port;

pub use eal::{Eal, SOCKET_ID_ANY};
pub use error::DpdkError;
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConfig, PortInfo, PortStats, RxQueue, TxBuffer, TxQueue};
