//! The runtime's help with the flow-sized tables' memory: transparent huge pages, and the
//! prefetch instruction the engine's burst forms issue ([`Prefetcher`]).
//!
//! The flow table, the appliance's header records and the flow-log counts are each one large
//! allocation indexed by flow hash, so every packet of a large flow population touches pages
//! no TLB still holds. With 4 KiB pages a 1 Mi-flow table spans some 18,000 pages, and each
//! lookup pays a page walk besides its cache misses; with 2 MiB pages it spans 36. mbufs
//! already live in DPDK's hugepages when the host has them; these tables are ordinary heap
//! memory, so the runtime asks the kernel for transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`) before their pages are first written (the engine allocates them
//! zeroed and untouched), then faults them in before the workers start.

use core::ops::Range;
use std::io;

use sluice_engine::burst::Prefetch;

use crate::ffi;

/// The engine's [`Prefetch`] with the CPU's prefetch instruction (`prefetcht0`, what DPDK's
/// `rte_prefetch0` issues): the runtime passes it to the pipelines' `process_burst_with`, so
/// a chunk's flow-table lines are all on their way before any is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prefetcher;

impl Prefetch for Prefetcher {
    #[inline(always)]
    fn prefetch(&self, address: usize) {
        ffi::prefetch_address(address);
    }
}

/// The page size `madvise` aligns to.
const PAGE: usize = 4096;

/// Where the kernel's transparent huge page mode is read.
const THP_MODE: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// How the kernel treats [`advise_huge_pages`] (its `transparent_hugepage/enabled` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugePageMode {
    /// `always`: every large anonymous mapping gets huge pages, advised or not.
    Always,
    /// `madvise`: only advised memory does (the default of most distributions).
    Advised,
    /// `never`, or the kernel has no transparent huge pages: the advice is ignored.
    Never,
}

impl HugePageMode {
    /// Reads the kernel's mode; `Never` when it cannot be read.
    #[must_use]
    pub fn current() -> Self {
        std::fs::read_to_string(THP_MODE).map_or(HugePageMode::Never, |text| Self::parse(&text))
    }

    /// The mode a `transparent_hugepage/enabled` text selects (the word in brackets).
    fn parse(text: &str) -> Self {
        let selected = text
            .split_whitespace()
            .find(|word| word.starts_with('[') && word.ends_with(']'));
        match selected {
            Some("[always]") => HugePageMode::Always,
            Some("[madvise]") => HugePageMode::Advised,
            _ => HugePageMode::Never,
        }
    }

    /// Whether advised memory gets huge pages in this mode.
    #[must_use]
    pub fn applies(self) -> bool {
        self != HugePageMode::Never
    }
}

/// Asks the kernel to back the whole pages inside `range` (an address range a table's
/// `memory()` reported) with transparent huge pages. Only pages not yet written get them at
/// once (the kernel's background collapsing may convert the rest later), so call this before
/// the table is faulted in. Returns the bytes advised (0 for a range within one page).
///
/// # Errors
///
/// The `madvise` error: `EINVAL` where the kernel has no transparent huge pages.
pub fn advise_huge_pages(range: Range<usize>) -> io::Result<usize> {
    let start = range.start.next_multiple_of(PAGE);
    let end = range.end - range.end % PAGE;
    if end <= start {
        return Ok(0);
    }
    ffi::advise_huge_pages(start, end - start)?;
    Ok(end - start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_any_address_is_harmless() {
        let word = 7_u64;
        for address in [0, 1, usize::MAX, core::ptr::from_ref(&word).addr()] {
            Prefetcher.prefetch(address);
        }
        assert_eq!(word, 7);
    }

    /// The prefetching burst form answers exactly as the plain one: same verdicts, same
    /// bytes, for new flows, established flows and returns (prefetches change only timing,
    /// and the candidate slots they are issued for are guesses the answers never depend on).
    #[test]
    fn prefetching_bursts_answer_as_plain_bursts() {
        use sluice_engine::flow_table::FlowTable;
        use sluice_engine::gateway::{Gateway, Verdict};
        use sluice_engine::packet::{HeapPacket, PacketBuf};
        use sluice_engine::testkit::{ROUTER_MAC, SEC, frame, mac, simple_lab, swap_outer, udp4};
        use std::net::Ipv4Addr;

        let (ports, snapshot) = simple_lab(4);
        let client = |n: u16| {
            frame(
                mac(1),
                mac(ROUTER_MAC),
                None,
                &udp4(
                    Ipv4Addr::new(192, 168, 0, (n % 7) as u8),
                    Ipv4Addr::new(198, 51, 100, 7),
                    1000 + n,
                    53,
                    b"x",
                ),
            )
        };
        let tables = [
            FlowTable::new(1 << 16).unwrap(),
            FlowTable::new(1 << 16).unwrap(),
        ];
        let mut pipelines = tables.each_ref().map(Gateway::new);
        // Three rounds over 48 flows (new, then established), in bursts of 32 that mix
        // repeats; then the encapsulated packets come back from the appliances.
        let requests: Vec<Vec<u8>> = (0..144).map(|i| client(i % 48)).collect();
        let mut outputs: [Vec<(Option<Verdict>, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        for (which, (gw, out)) in pipelines.iter_mut().zip(outputs.iter_mut()).enumerate() {
            let mut run = |frames: &[Vec<u8>],
                           port: u16,
                           out: &mut Vec<(Option<Verdict>, Vec<u8>)>| {
                for chunk in frames.chunks(32) {
                    let mut packets: Vec<Option<HeapPacket>> =
                        chunk.iter().map(|f| Some(HeapPacket::new(f))).collect();
                    let mut verdicts = vec![None; packets.len()];
                    if which == 0 {
                        gw.process_burst(&snapshot, &ports, port, &mut packets, SEC, &mut verdicts);
                    } else {
                        gw.process_burst_with(
                            &snapshot,
                            &ports,
                            port,
                            &mut packets,
                            SEC,
                            &mut verdicts,
                            &Prefetcher,
                        );
                    }
                    for (v, p) in verdicts.into_iter().zip(packets) {
                        out.push((v, p.map(|p| p.data().to_vec()).unwrap_or_default()));
                    }
                }
            };
            run(&requests, 0, out);
            let returns: Vec<Vec<u8>> = out
                .iter()
                .filter(|(v, _)| matches!(v, Some(Verdict::Transmit { .. })))
                .map(|(_, f)| swap_outer(f))
                .collect();
            assert_eq!(returns.len(), 144, "every request encapsulated");
            run(&returns, 1, out);
        }
        assert_eq!(outputs[0], outputs[1]);
        assert_eq!(tables[0].stats().inserts, 48);
        assert_eq!(tables[1].stats().inserts, 48);
    }

    #[test]
    fn reads_the_selected_mode() {
        assert_eq!(
            HugePageMode::parse("always [madvise] never\n"),
            HugePageMode::Advised
        );
        assert_eq!(
            HugePageMode::parse("[always] madvise never"),
            HugePageMode::Always
        );
        assert_eq!(
            HugePageMode::parse("always madvise [never]"),
            HugePageMode::Never
        );
        assert_eq!(HugePageMode::parse(""), HugePageMode::Never);
        assert!(HugePageMode::Advised.applies() && !HugePageMode::Never.applies());
    }

    #[test]
    fn advises_a_flow_table_and_refuses_unmapped_memory() {
        let table = sluice_engine::flow_table::FlowTable::new(1 << 16).unwrap();
        let range = table.memory();
        match advise_huge_pages(range.clone()) {
            Ok(bytes) => {
                assert!(bytes > range.len() - 2 * PAGE && bytes <= range.len());
            }
            // A kernel without transparent huge pages refuses the advice itself.
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
        }
        table.prefault();
        assert!(table.is_empty());
        // Within one page: nothing to advise.
        assert_eq!(advise_huge_pages(range.start..range.start + 1).unwrap(), 0);
        // Page 0 is never mapped.
        let err = advise_huge_pages(PAGE..3 * PAGE).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOMEM | libc::EINVAL)),
            "{err}"
        );
    }
}
