//! Raw bindings to the system DPDK (>= 22.11), for `sluice-dpdk` and nothing else.
//!
//! Two halves, both generated or compiled by the build script:
//! - bindgen's declarations of the exported DPDK calls sluice makes (EAL, mempools, ethdev)
//!   and of `struct rte_mbuf`, whose `buf_addr`, `data_off` and `data_len` the safe layer
//!   reads directly instead of calling into C per packet;
//! - `sluice_*` functions from `csrc/shim.c`, one per static-inline DPDK function (bursts,
//!   mbuf alloc/free/prepend/adj/append, `rte_rdtsc`, `rte_lcore_id`, `rte_errno`,
//!   prefetch) that no shared library exports.
//!
//! Everything here is `unsafe` to call; the safe API is `sluice-dpdk`.

#![no_std]

/// The generated bindings.
#[allow(
    missing_docs,
    reason = "generated from DPDK's headers, whose doc comments bindgen carries where it can"
)]
#[allow(
    non_camel_case_types,
    non_snake_case,
    non_upper_case_globals,
    reason = "DPDK's C names are kept so its documentation applies unchanged"
)]
#[allow(
    unreachable_pub,
    clippy::allow_attributes_without_reason,
    clippy::all,
    clippy::pedantic,
    reason = "generated code, not written to this crate's style"
)]
#[allow(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    reason = "bindgen's generated accessors carry no SAFETY comments"
)]
#[allow(
    rustdoc::broken_intra_doc_links,
    rustdoc::bare_urls,
    rustdoc::invalid_html_tags,
    reason = "DPDK's Doxygen comments, carried over as written, are not rustdoc markdown"
)]
mod bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use bindings::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbuf_layout_is_dpdk_22_11() {
        // The fields the safe layer reads per packet, at their C offsets (bindgen's own
        // layout assertions check the rest at compile time).
        assert_eq!(core::mem::offset_of!(rte_mbuf, buf_addr), 0);
        assert_eq!(core::mem::offset_of!(rte_mbuf, data_off), 16);
        assert_eq!(core::mem::offset_of!(rte_mbuf, pkt_len), 36);
        assert_eq!(core::mem::offset_of!(rte_mbuf, data_len), 40);
        assert_eq!(core::mem::size_of::<rte_mbuf>(), 128);
        assert_eq!(RTE_PKTMBUF_HEADROOM, 128);
    }

    #[test]
    fn shim_links_and_runs_without_eal() {
        // SAFETY: `rte_rdtsc` and `rte_errno` touch no EAL state.
        let (a, b, errno) = unsafe { (sluice_rte_rdtsc(), sluice_rte_rdtsc(), sluice_rte_errno()) };
        assert!(b >= a);
        assert_eq!(errno, 0);
    }
}
