//! What the flow-sized tables ([`FlowTable`](crate::flow_table::FlowTable),
//! [`FlowRecords`](crate::appliance::FlowRecords), [`FlowStats`](crate::flow_stats::FlowStats))
//! share about their memory: where it is, and faulting it in before the packet path does.
//!
//! Each table is one zeroed allocation, made with `calloc`-style allocation so that its pages
//! stay untouched until written. That lets the runtime advise the kernel first (transparent
//! huge pages: with 4 KiB pages, every flow of a table larger than the TLB's reach costs a
//! page walk besides its cache misses), and then fault every page in before the workers
//! start. The engine itself only reports addresses and writes; it never advises the kernel.

use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

/// The bytes of a page as the kernel first maps it (huge pages are multiples of it).
const PAGE_BYTES: usize = 4096;

/// The address range of `items`.
pub(crate) fn memory_of<T>(items: &[T]) -> Range<usize> {
    let start = items.as_ptr() as usize;
    start..start + size_of_val(items)
}

/// Writes one word (chosen by `word`) of one item in every page `items` start in, plus the
/// last item, leaving each value as it was (`fetch_or(0)`, an atomic write of the same value,
/// harmless while other threads use the table).
pub(crate) fn prefault<T>(items: &[T], word: impl Fn(&T) -> &AtomicU64) {
    let stride = (PAGE_BYTES / size_of::<T>().max(1)).max(1);
    for item in items.iter().step_by(stride).chain(items.last()) {
        word(item).fetch_or(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefault_writes_a_word_in_every_page_and_changes_nothing() {
        let words: Vec<AtomicU64> = (0..3000).map(AtomicU64::new).collect();
        let touched = core::cell::Cell::new(0);
        prefault(&words, |w| {
            touched.set(touched.get() + 1);
            w
        });
        // 3000 words of 8 bytes: one per 512 words, and the last.
        assert_eq!(touched.get(), 3000_usize.div_ceil(512) + 1);
        assert!(
            words
                .iter()
                .enumerate()
                .all(|(i, w)| w.load(Ordering::Relaxed) == i as u64)
        );
        let range = memory_of(&words);
        assert_eq!(range.len(), 3000 * 8);
        assert_eq!(range.start, words.as_ptr() as usize);
    }
}
