//! Per-flow packet and byte counts for flow logs, beside the flow table and indexed by its
//! slots.
//!
//! Flow logs need, for every flow that ends, when it started and how many packets and bytes
//! went each way. The flow table keeps one cache line per flow and nothing to spare, so the
//! counts live here, in an array of one cache line per slot allocated once
//! ([`FlowStats::new`]) and shared by every worker, like the appliance's header records.
//!
//! # Protocol
//!
//! - The worker whose insert *created* a flow calls [`FlowStats::start`] with the flow's
//!   handle, the time and the direction of the first packet (relative to the flow key). That
//!   zeroes the slot's counts and tags the slot with the handle's generation. The flow table
//!   tells exactly one inserter that it created the flow, so each generation has one writer.
//! - Every packet of the flow, on any worker, calls [`FlowStats::account`]: a relaxed load
//!   and two relaxed `fetch_add`s on the slot's one line, no branch but the bounds check.
//!   The direction is the packet's, relative to the key; the slot maps it to forward (the
//!   first packet's way) or reverse.
//! - Whoever learns that the flow ended calls [`FlowStats::take`] with the flow's handle:
//!   the control thread for the flows [`crate::flow_table::FlowTable::expire`] reports, the
//!   inserting worker for a flow its insert evicted (before it starts the new flow, which
//!   often reuses the same slot). `take` returns the totals only if the slot still belongs
//!   to that generation, and only once.
//!
//! # What the counts mean
//!
//! A flow's totals are what was accounted between its `start` and its `take`. Counting is
//! not checked against the generation (a check per packet would cost a load and a branch on
//! the hottest path), so two rare races blur the edges of a flow, and only by the packets in
//! flight at that instant: packets that another worker accounts after the flow's insert but
//! before its creator's `start` are lost (rare: GWLB sends a flow's direction from one outer
//! UDP port, so its next packets reach the same RX queue and worker, after the `start`, and
//! the reverse direction cannot have been sent before the first packet was returned), and
//! packets a worker accounts on a handle it looked up just before the flow expired land on
//! the slot's next flow, if that one has started already. Never does [`FlowStats::take`] return totals that were
//! reset for another generation while it read them: it reads seqlock-style against the
//! slot's tag word.
//!
//! # Layout
//!
//! Each slot is one 64-byte line: a tag word (generation, state, first direction), the
//! start time and a packet and a byte counter per direction, 48 bytes padded to 64. The
//! padding costs a quarter of the memory (64 rather than 48 bytes a slot, as much again as
//! the flow table itself) and buys two things: a packet's two `fetch_add`s and the tag load
//! always touch exactly one line (at 48 bytes, every other slot would straddle two), and two
//! workers counting flows in neighbouring slots never contend for a line (at 48 bytes,
//! neighbours share one, and a contended line moves between cores for about 100 ns per
//! write, a whole packet's budget at 10 Mpps).

use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicU64, fence};
use zerocopy::FromZeros;

use crate::flow::{Direction, FlowKey};
use crate::flow_table::{Expired, FlowTime, Handle};

/// The generation bits of a [`Handle`] (the flow table keeps 22).
const GENERATION_BITS: u32 = 22;
/// The generation's bits, unshifted.
const GENERATION_MASK: u64 = (1 << GENERATION_BITS) - 1;

/// Where the state sits in the tag word (above the generation).
const STATE_SHIFT: u32 = 32;
/// Never started.
const STATE_EMPTY: u64 = 0;
/// A `start` is resetting the slot.
const STATE_BUSY: u64 = 1;
/// Started and not yet taken.
const STATE_LIVE: u64 = 2;
/// Taken: the totals were handed out.
const STATE_TAKEN: u64 = 3;
/// The bit of the tag word that holds the first packet's direction (set: the first packet
/// travelled in [`Direction::Reverse`] of the key).
const FIRST_REVERSE_BIT: u32 = 34;

/// What [`FlowStats::take`] returns for a flow that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTotals {
    /// The time [`FlowStats::start`] was given, in the caller's nanoseconds.
    pub start_ns: u64,
    /// The direction, relative to the flow key, of the flow's first packet: its source is
    /// the flow's initiator (see [`crate::flow::FlowKey::endpoints`]).
    pub initiator: Direction,
    /// Packets in the first packet's direction.
    pub packets_forward: u64,
    /// Bytes in the first packet's direction, as passed to [`FlowStats::account`].
    pub bytes_forward: u64,
    /// Packets in the other direction.
    pub packets_reverse: u64,
    /// Bytes in the other direction.
    pub bytes_reverse: u64,
}

/// Why [`FlowStats::new`] could not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowStatsError {
    /// The capacity asked for.
    pub capacity: usize,
    /// The bytes that could not be allocated.
    pub bytes: usize,
}

/// The counts of every slot of a flow table. See the module documentation.
#[derive(Debug)]
pub struct FlowStats {
    /// One line per flow-table slot.
    slots: Box<[StatsSlot]>,
    /// Flows evicted by workers, on their way to the control thread.
    retired: Box<[RetiredSlot]>,
    /// How many flows were ever retired (the next one's sequence number).
    retired_head: AtomicU64,
}

/// How many evicted flows wait for the control thread at most; beyond that the oldest are
/// overwritten (and counted as lost when the reader finds them gone).
pub const RETIRED_CAPACITY: usize = 4096;

/// A flow a worker evicted from a full table, with everything its flow-log record needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retired {
    /// Its key.
    pub key: FlowKey,
    /// Its flow-table value (the appliance's verdict).
    pub value: u32,
    /// When it was last seen.
    pub last_seen: FlowTime,
    /// Its GWLB endpoint id (0 if unknown).
    pub endpoint: u64,
    /// Its packets and bytes.
    pub totals: FlowTotals,
}

/// Words of a retired flow: key (5), protocol, value, last seen and initiator, endpoint,
/// start, then packets and bytes each way.
const RETIRED_WORDS: usize = 14;

/// One retired flow under a sequence word: `2n + 1` while the `n`th retirement writes it,
/// `2n + 2` once written.
#[derive(Debug)]
struct RetiredSlot {
    seq: AtomicU64,
    words: [AtomicU64; RETIRED_WORDS],
}

/// One slot's counts, one cache line.
#[derive(Debug, FromZeros)]
#[repr(C, align(64))]
struct StatsSlot {
    /// `first_reverse << 34 | state << 32 | generation`: the seqlock word.
    tag: AtomicU64,
    /// The flow's start, in the caller's nanoseconds.
    start_ns: AtomicU64,
    /// Packets and bytes by direction relative to the first packet: `[forward, reverse]`.
    counts: [Counts; 2],
}

/// A direction's counters.
#[derive(Debug, FromZeros)]
struct Counts {
    packets: AtomicU64,
    bytes: AtomicU64,
}

const _: () = assert!(size_of::<StatsSlot>() == 64);

impl FlowStats {
    /// Bytes per slot.
    pub const BYTES_PER_SLOT: usize = size_of::<StatsSlot>();

    /// Counts for every slot of a flow table of `capacity` slots, zeroed. This is the only
    /// allocation.
    ///
    /// # Errors
    ///
    /// [`FlowStatsError`] when the allocator refuses the memory
    /// ([`FlowStats::memory_bytes_for`]).
    pub fn new(capacity: usize) -> Result<Self, FlowStatsError> {
        // Zeroed by the allocator, untouched until used (see `FlowTable::memory`): all zeros
        // is a slot never started.
        const _: () = assert!(STATE_EMPTY == 0);
        let slots =
            <[StatsSlot]>::new_box_zeroed_with_elems(capacity).map_err(|_| FlowStatsError {
                capacity,
                bytes: Self::memory_bytes_for(capacity),
            })?;
        Ok(Self {
            slots,
            retired: (0..RETIRED_CAPACITY)
                .map(|_| RetiredSlot {
                    seq: AtomicU64::new(0),
                    words: core::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
            retired_head: AtomicU64::new(0),
        })
    }

    /// Hands over a flow the caller's insert evicted (before the new flow is started, which
    /// reuses the slot's counts): takes its totals and queues them, with `endpoint`, for
    /// [`FlowStats::drain_retired`]. Returns false when the flow had no totals to take.
    /// Off the established-flow path: only inserts into a full window evict.
    pub fn retire(&self, evicted: &Expired, endpoint: u64) -> bool {
        let Some(totals) = self.take(evicted.handle) else {
            return false;
        };
        let n = self.retired_head.fetch_add(1, Relaxed);
        let slot = &self.retired[(n % RETIRED_CAPACITY as u64) as usize];
        slot.seq.store(2 * n + 1, Relaxed);
        fence(Release);
        let key = evicted.key.words();
        let words: [u64; RETIRED_WORDS] = [
            key[0],
            key[1],
            key[2],
            key[3],
            key[4],
            u64::from(evicted.key.protocol()),
            u64::from(evicted.value),
            u64::from(evicted.last_seen.as_millis())
                | u64::from(totals.initiator == Direction::Reverse) << 32,
            endpoint,
            totals.start_ns,
            totals.packets_forward,
            totals.bytes_forward,
            totals.packets_reverse,
            totals.bytes_reverse,
        ];
        for (word, value) in slot.words.iter().zip(words) {
            word.store(value, Relaxed);
        }
        slot.seq.store(2 * n + 2, Release);
        true
    }

    /// Hands the flows retired since `cursor` to `each`, oldest first, and moves the cursor
    /// on; the one reader (the control thread) keeps the cursor. A retirement still being
    /// written stops the drain until the next call. Returns how many were lost: overwritten
    /// before they were read.
    pub fn drain_retired(&self, cursor: &mut u64, mut each: impl FnMut(&Retired)) -> u64 {
        let capacity = RETIRED_CAPACITY as u64;
        let head = self.retired_head.load(Acquire);
        let mut lost = 0;
        if head > *cursor + capacity {
            lost += head - capacity - *cursor;
            *cursor = head - capacity;
        }
        while *cursor < head {
            let slot = &self.retired[(*cursor % capacity) as usize];
            let written = 2 * *cursor + 2;
            let before = slot.seq.load(Acquire);
            if before < written {
                break;
            }
            let mut words = [0u64; RETIRED_WORDS];
            for (value, word) in words.iter_mut().zip(&slot.words) {
                *value = word.load(Relaxed);
            }
            fence(Acquire);
            *cursor += 1;
            if before != written || slot.seq.load(Relaxed) != written {
                lost += 1;
                continue;
            }
            let key = FlowKey::from_words(
                [words[0], words[1], words[2], words[3], words[4]],
                words[5] as u8,
            );
            each(&Retired {
                key,
                value: words[6] as u32,
                last_seen: FlowTime::from_millis(words[7] as u32),
                endpoint: words[8],
                totals: FlowTotals {
                    start_ns: words[9],
                    initiator: if words[7] >> 32 & 1 == 1 {
                        Direction::Reverse
                    } else {
                        Direction::Forward
                    },
                    packets_forward: words[10],
                    bytes_forward: words[11],
                    packets_reverse: words[12],
                    bytes_reverse: words[13],
                },
            });
        }
        lost
    }

    /// The bytes counts for a table of `capacity` slots occupy, for planning.
    #[must_use]
    pub const fn memory_bytes_for(capacity: usize) -> usize {
        capacity
            .saturating_mul(Self::BYTES_PER_SLOT)
            .saturating_add(RETIRED_CAPACITY * size_of::<RetiredSlot>())
    }

    /// The addresses of the per-slot counts, as
    /// [`FlowTable::memory`](crate::flow_table::FlowTable::memory) gives the table's.
    #[must_use]
    pub fn memory(&self) -> core::ops::Range<usize> {
        crate::memory::memory_of(&self.slots)
    }

    /// Writes every page of the counts once, as
    /// [`FlowTable::prefault`](crate::flow_table::FlowTable::prefault) does the table's.
    pub fn prefault(&self) {
        crate::memory::prefault(&self.slots, |slot| &slot.tag);
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Starts counting the flow `handle`, which the caller's insert has just created, at
    /// `now_ns`; `first` is the direction of its first packet relative to the flow key.
    /// Zeroes the slot's counts. Call it before accounting the first packet.
    ///
    /// Returns false, changing nothing, when the slot is out of range, another `start` is
    /// resetting it, or it already belongs to a newer generation (the flow ended and its slot
    /// was reused while the caller was descheduled between its insert and this call).
    pub fn start(&self, handle: Handle, now_ns: u64, first: Direction) -> bool {
        let Some(slot) = self.slots.get(handle.slot() as usize) else {
            return false;
        };
        let generation = u64::from(handle.generation()) & GENERATION_MASK;
        let busy = STATE_BUSY << STATE_SHIFT | generation;
        let mut current = slot.tag.load(Relaxed);
        // The exchange fails only when another thread moved the tag on (a `take` of the
        // slot's previous flow, at most once, or another start), so the loop is lock-free.
        loop {
            let state = state(current);
            if state == STATE_BUSY || (state != STATE_EMPTY && is_newer(current, generation)) {
                return false;
            }
            match slot
                .tag
                .compare_exchange_weak(current, busy, Relaxed, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // Seqlock writer: a reader that sees any of the stores below also sees `busy` (or a
        // later tag) when it checks the tag again, and gives up.
        fence(Release);
        slot.start_ns.store(now_ns, Relaxed);
        for counts in &slot.counts {
            counts.packets.store(0, Relaxed);
            counts.bytes.store(0, Relaxed);
        }
        let first_reverse = u64::from(first == Direction::Reverse) << FIRST_REVERSE_BIT;
        let live = first_reverse | STATE_LIVE << STATE_SHIFT | generation;
        slot.tag.store(live, Release);
        true
    }

    /// Counts one packet of `bytes` bytes of the flow `handle`, travelling in `direction`
    /// relative to the flow key. Any worker may call it for any live flow; it never waits.
    #[inline]
    pub fn account(&self, handle: Handle, direction: Direction, bytes: u64) {
        let Some(slot) = self.slots.get(handle.slot() as usize) else {
            return;
        };
        // Reverse of the key, xor "the first packet was reverse of the key": 1 when the
        // packet goes the other way than the first one. Arithmetic, not a branch.
        let tag = slot.tag.load(Relaxed);
        let packet_reverse = u64::from(direction == Direction::Reverse);
        let index = ((tag >> FIRST_REVERSE_BIT) ^ packet_reverse) & 1;
        let counts = &slot.counts[index as usize];
        counts.packets.fetch_add(1, Relaxed);
        counts.bytes.fetch_add(bytes, Relaxed);
    }

    /// The totals of the flow `handle`, which has ended, or `None` if the slot no longer
    /// belongs to it (another flow started in it), was never started for it, or its totals
    /// were taken already. Each generation's totals are handed out at most once.
    ///
    /// The four counts are read one after another while late packets may still arrive, so
    /// they are a snapshot of monotonic counters rather than one instant; they never include
    /// a count reset by another generation's start.
    pub fn take(&self, handle: Handle) -> Option<FlowTotals> {
        self.take_with(handle, || {})
    }

    /// [`FlowStats::take`], calling `midway` between reading the forward and the reverse
    /// counts: the tests start another generation there, the moment a torn read would
    /// otherwise go unnoticed.
    #[inline]
    fn take_with(&self, handle: Handle, midway: impl FnOnce()) -> Option<FlowTotals> {
        let slot = self.slots.get(handle.slot() as usize)?;
        let generation = u64::from(handle.generation()) & GENERATION_MASK;
        let before = slot.tag.load(Acquire);
        if state(before) != STATE_LIVE || before & GENERATION_MASK != generation {
            return None;
        }
        let start_ns = slot.start_ns.load(Relaxed);
        let [forward, reverse] = &slot.counts;
        let packets_forward = forward.packets.load(Relaxed);
        let bytes_forward = forward.bytes.load(Relaxed);
        midway();
        let packets_reverse = reverse.packets.load(Relaxed);
        let bytes_reverse = reverse.bytes.load(Relaxed);
        // Seqlock reader: if any load above saw a store of a later `start`, this fence
        // makes the exchange below see that start's tag, and fail.
        fence(Acquire);
        let taken = before & !(0b11 << STATE_SHIFT) | STATE_TAKEN << STATE_SHIFT;
        slot.tag
            .compare_exchange(before, taken, Relaxed, Relaxed)
            .ok()?;
        Some(FlowTotals {
            start_ns,
            initiator: if before >> FIRST_REVERSE_BIT & 1 == 1 {
                Direction::Reverse
            } else {
                Direction::Forward
            },
            packets_forward,
            bytes_forward,
            packets_reverse,
            bytes_reverse,
        })
    }
}

/// The state of a tag word.
const fn state(tag: u64) -> u64 {
    tag >> STATE_SHIFT & 0b11
}

/// Whether the tag's generation is newer than `generation`: ahead of it by less than half
/// the generation space, as a slot's generation only ever counts up (and wraps).
const fn is_newer(tag: u64, generation: u64) -> bool {
    let ahead = (tag & GENERATION_MASK).wrapping_sub(generation) & GENERATION_MASK;
    ahead != 0 && ahead < 1 << (GENERATION_BITS - 1)
}

impl core::fmt::Display for FlowStatsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "cannot allocate {} bytes for the flow counts of {} slots",
            self.bytes, self.capacity
        )
    }
}

impl std::error::Error for FlowStatsError {}

#[cfg(test)]
mod tests {
    #[test]
    fn retired_flows_reach_the_reader_in_order_and_overwritten_ones_are_counted() {
        use crate::flow::Stickiness;
        use crate::flow_table::{FlowTable, FlowTime};

        let table = FlowTable::new(1024).unwrap();
        let stats = FlowStats::new(1024).unwrap();
        let key = |n: u16| {
            FlowKey::new(
                3,
                core::net::Ipv4Addr::new(10, 0, 0, 1).into(),
                core::net::Ipv4Addr::new(10, 0, 0, 2).into(),
                17,
                n,
                53,
                Stickiness::FiveTuple,
                false,
            )
            .0
        };
        let retire = |n: u16| {
            let k = key(n);
            let handle = table
                .insert(&k, k.hash(), 7, 1_000_000, |_| 0)
                .unwrap()
                .handle;
            assert!(stats.start(handle, 5, Direction::Reverse));
            stats.account(handle, Direction::Reverse, 100);
            stats.account(handle, Direction::Forward, 40);
            let evicted = Expired {
                handle,
                key: k,
                value: 7,
                created: FlowTime::from_nanos(1_000_000),
                last_seen: FlowTime::from_nanos(2_000_000),
            };
            assert!(stats.retire(&evicted, 0xabc));
            assert!(!stats.retire(&evicted, 0xabc), "totals are taken once");
            assert!(table.remove(handle));
        };
        for n in 0..3 {
            retire(n);
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        assert_eq!(stats.drain_retired(&mut cursor, |r| seen.push(*r)), 0);
        assert_eq!(seen.len(), 3);
        for (n, r) in seen.iter().enumerate() {
            assert_eq!(r.key, key(n as u16));
            assert_eq!((r.value, r.endpoint), (7, 0xabc));
            assert_eq!(r.last_seen, FlowTime::from_nanos(2_000_000));
            assert_eq!(r.totals.initiator, Direction::Reverse);
            assert_eq!((r.totals.packets_forward, r.totals.bytes_forward), (1, 100));
            assert_eq!((r.totals.packets_reverse, r.totals.bytes_reverse), (1, 40));
            assert_eq!(r.totals.start_ns, 5);
        }
        // A reader that falls a whole ring behind loses the oldest, and says how many.
        for n in 0..(RETIRED_CAPACITY as u16 + 5) {
            retire(n % 512);
        }
        let mut count = 0;
        let lost = stats.drain_retired(&mut cursor, |_| count += 1);
        assert_eq!((lost, count), (5, RETIRED_CAPACITY as u64));
        assert_eq!(stats.drain_retired(&mut cursor, |_| count += 1), 0);
    }

    use core::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;

    use super::*;
    use crate::flow::{FlowKey, Stickiness};
    use crate::flow_table::FlowTable;

    /// The key of a TCP flow from 10.0.0.1:`port` to 10.0.0.2:80, and its direction.
    fn key(port: u16) -> (FlowKey, Direction) {
        FlowKey::new(
            0,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            6,
            port,
            80,
            Stickiness::FiveTuple,
            false,
        )
    }

    fn insert(table: &FlowTable, key: &FlowKey) -> Handle {
        let inserted = table.insert(key, key.hash(), 0, 1, |_| u64::MAX);
        let inserted = inserted.expect("room in the table");
        assert!(inserted.created);
        inserted.handle
    }

    /// Two handles of the same slot, of consecutive generations.
    fn reused_slot(table: &FlowTable) -> (Handle, Handle) {
        let (k, _) = key(1000);
        let old = insert(table, &k);
        assert!(table.remove(old));
        let new = insert(table, &k);
        assert_eq!(old.slot(), new.slot(), "a lone key goes back to its slot");
        assert_ne!(old.generation(), new.generation());
        (old, new)
    }

    #[test]
    fn counts_both_directions_relative_to_the_first_packet() {
        let table = FlowTable::new(1024).expect("table");
        let stats = FlowStats::new(table.capacity()).expect("stats");
        let (k, first) = key(40000);
        let h = insert(&table, &k);
        assert!(stats.start(h, 5_000, first));
        stats.account(h, first, 60);
        stats.account(h, first, 1500);
        stats.account(h, first.reverse(), 40);
        let totals = stats.take(h).expect("totals");
        assert_eq!(
            totals,
            FlowTotals {
                start_ns: 5_000,
                initiator: first,
                packets_forward: 2,
                bytes_forward: 1560,
                packets_reverse: 1,
                bytes_reverse: 40,
            }
        );
        assert_eq!(stats.take(h), None, "totals are handed out once");
    }

    #[test]
    fn a_flow_that_began_in_the_keys_reverse_direction_is_mapped_back() {
        let stats = FlowStats::new(1024).expect("stats");
        let table = FlowTable::new(1024).expect("table");
        let h = insert(&table, &key(7).0);
        assert!(stats.start(h, 1, Direction::Reverse));
        stats.account(h, Direction::Reverse, 100);
        stats.account(h, Direction::Forward, 10);
        stats.account(h, Direction::Forward, 10);
        let totals = stats.take(h).expect("totals");
        assert_eq!(totals.initiator, Direction::Reverse);
        assert_eq!((totals.packets_forward, totals.bytes_forward), (1, 100));
        assert_eq!((totals.packets_reverse, totals.bytes_reverse), (2, 20));
    }

    #[test]
    fn a_reused_slot_belongs_to_its_new_generation() {
        let table = FlowTable::new(1024).expect("table");
        let stats = FlowStats::new(table.capacity()).expect("stats");
        let (old, new) = reused_slot(&table);
        assert_eq!(stats.take(old), None, "never started");
        assert!(stats.start(old, 10, Direction::Forward));
        stats.account(old, Direction::Forward, 100);
        assert!(stats.start(new, 20, Direction::Forward));
        assert!(
            !stats.start(old, 30, Direction::Forward),
            "a late start of the older generation changes nothing"
        );
        stats.account(new, Direction::Forward, 7);
        assert_eq!(stats.take(old), None, "the slot moved on");
        let totals = stats.take(new).expect("totals");
        assert_eq!(
            (
                totals.start_ns,
                totals.packets_forward,
                totals.bytes_forward
            ),
            (20, 1, 7),
            "the old generation's counts were reset"
        );
    }

    #[test]
    fn handles_out_of_range_are_ignored() {
        let table = FlowTable::new(2048).expect("table");
        let stats = FlowStats::new(8).expect("stats");
        let far = (0..2000)
            .map(|port| insert(&table, &key(port).0))
            .find(|h| h.slot() >= 8)
            .expect("a slot past 8");
        assert!(!stats.start(far, 1, Direction::Forward));
        stats.account(far, Direction::Forward, 1);
        assert_eq!(stats.take(far), None);
        assert_eq!(stats.capacity(), 8);
        // Eight lines, and the ring of evicted flows on its way to the control thread.
        assert_eq!(
            FlowStats::memory_bytes_for(8),
            512 + RETIRED_CAPACITY * size_of::<RetiredSlot>()
        );
    }

    #[test]
    fn generations_compare_across_the_wrap() {
        let tag = |generation: u64| STATE_LIVE << STATE_SHIFT | generation;
        assert!(is_newer(tag(5), 4));
        assert!(!is_newer(tag(4), 4));
        assert!(!is_newer(tag(4), 5));
        assert!(
            is_newer(tag(0), GENERATION_MASK),
            "0 follows the last generation"
        );
        assert!(!is_newer(tag(GENERATION_MASK), 0));
    }

    /// Two workers account packets of a slot's flow while a third thread takes the totals,
    /// racing the start of the slot's next generation. Worker A starts generation g, accounts
    /// `N` forward packets of g + 1 bytes, publishes g, waits for worker B to account `M`
    /// reverse packets of g + 1 bytes, and starts g + 1. So a total taken for g that read a
    /// count after g + 1's reset, or g + 1's packets, would break its sizes.
    #[test]
    fn take_never_returns_another_generations_totals() {
        const GENERATIONS: usize = 2_000;
        const N: u64 = 50;
        const M: u64 = 20;
        let table = FlowTable::new(1024).expect("table");
        let stats = Arc::new(FlowStats::new(table.capacity()).expect("stats"));
        let (k, _) = key(1000);
        // The handles of consecutive generations of one slot, made up front.
        let mut handles = Vec::new();
        for _ in 0..GENERATIONS {
            let h = insert(&table, &k);
            assert!(table.remove(h));
            handles.push(h);
        }
        assert!(handles.iter().all(|h| h.slot() == handles[0].slot()));
        let handles = Arc::new(handles);
        // The generation published by A (index into `handles`, plus one; 0: none yet), and
        // the last one B finished (plus one).
        let published = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicU64::new(0));
        let shared = || {
            (
                Arc::clone(&stats),
                Arc::clone(&handles),
                Arc::clone(&published),
                Arc::clone(&finished),
            )
        };

        let (a_stats, a_handles, a_published, a_finished) = shared();
        let worker_a = std::thread::spawn(move || {
            for (g, &h) in a_handles.iter().enumerate() {
                let size = g as u64 + 1;
                assert!(a_stats.start(h, size, Direction::Forward), "start {g}");
                for _ in 0..N {
                    a_stats.account(h, Direction::Forward, size);
                }
                a_published.store(size, Release);
                while a_finished.load(Acquire) != size {
                    std::thread::yield_now();
                }
            }
        });
        let (b_stats, b_handles, b_published, b_finished) = shared();
        let worker_b = std::thread::spawn(move || {
            for (g, &h) in b_handles.iter().enumerate() {
                let size = g as u64 + 1;
                while b_published.load(Acquire) != size {
                    std::thread::yield_now();
                }
                for _ in 0..M {
                    b_stats.account(h, Direction::Reverse, size);
                }
                b_finished.store(size, Release);
            }
        });

        let mut taken = 0;
        let mut last = 0;
        while last < GENERATIONS as u64 {
            let size = published.load(Acquire);
            if size == last {
                std::thread::yield_now();
                continue;
            }
            last = size;
            let Some(totals) = stats.take(handles[size as usize - 1]) else {
                continue;
            };
            taken += 1;
            assert_eq!(totals.start_ns, size);
            assert_eq!(totals.initiator, Direction::Forward);
            assert_eq!(
                (totals.packets_forward, totals.bytes_forward),
                (N, N * size),
                "generation {}: forward counts were final when it was published",
                size - 1
            );
            assert!(totals.packets_reverse <= M, "{totals:?}");
            assert_eq!(totals.bytes_reverse % size, 0, "{totals:?}");
            assert!(totals.bytes_reverse <= M * size, "{totals:?}");
        }
        worker_a.join().expect("worker A");
        worker_b.join().expect("worker B");
        assert!(taken > 0, "the taker never won a race");
    }

    /// A start of the next generation in the middle of a take makes the take give up,
    /// rather than return the old forward counts with the new (reset) reverse ones.
    #[test]
    fn a_start_during_a_take_makes_it_give_up() {
        let table = FlowTable::new(1024).expect("table");
        let stats = FlowStats::new(table.capacity()).expect("stats");
        let (old, new) = reused_slot(&table);
        assert!(stats.start(old, 1, Direction::Forward));
        stats.account(old, Direction::Forward, 100);
        stats.account(old, Direction::Reverse, 50);
        let taken = stats.take_with(old, || {
            assert!(stats.start(new, 2, Direction::Forward));
        });
        assert_eq!(taken, None);
        assert_eq!(stats.take(old), None, "the slot moved on");
        let totals = stats.take(new).expect("the new generation's totals");
        assert_eq!((totals.start_ns, totals.packets_reverse), (2, 0));
    }

    /// A take that finishes before the next start gets the whole totals, and that start
    /// still succeeds (it retries over the take's change of the tag).
    #[test]
    fn a_start_after_a_take_succeeds() {
        let table = FlowTable::new(1024).expect("table");
        let stats = FlowStats::new(table.capacity()).expect("stats");
        let (old, new) = reused_slot(&table);
        assert!(stats.start(old, 1, Direction::Forward));
        stats.account(old, Direction::Reverse, 50);
        let totals = stats.take(old).expect("totals");
        assert_eq!((totals.packets_reverse, totals.bytes_reverse), (1, 50));
        assert!(stats.start(new, 2, Direction::Forward));
    }

    /// A taker and a starter released at the same moment, many times: the taker gets the
    /// old generation's whole totals or nothing, and the starter always starts.
    #[test]
    fn take_racing_a_restart_gets_old_totals_or_nothing() {
        const ROUNDS: u64 = 5_000;
        /// Waits for `cell` to reach `value`, spinning so that both threads run at once
        /// when there are cores for them, yielding now and then when there are not.
        fn wait_for(cell: &AtomicU64, value: u64) {
            let mut spins = 0u32;
            while cell.load(Acquire) != value {
                spins = spins.wrapping_add(1);
                if spins.is_multiple_of(256) {
                    std::thread::yield_now();
                } else {
                    core::hint::spin_loop();
                }
            }
        }
        let table = FlowTable::new(1024).expect("table");
        let stats = Arc::new(FlowStats::new(table.capacity()).expect("stats"));
        let (old, new) = reused_slot(&table);
        let go = Arc::new(AtomicU64::new(0));
        let started = Arc::new(AtomicU64::new(0));
        let starter = {
            let (stats, go, started) = (Arc::clone(&stats), Arc::clone(&go), Arc::clone(&started));
            std::thread::spawn(move || {
                for round in 1..=ROUNDS {
                    wait_for(&go, round);
                    assert!(stats.start(new, u64::MAX, Direction::Forward));
                    started.store(round, Release);
                }
            })
        };
        for round in 1..=ROUNDS {
            // Back to the old generation: a test-only rewind of the tag.
            stats.slots[old.slot() as usize].tag.store(0, Relaxed);
            assert!(stats.start(old, round, Direction::Forward));
            for _ in 0..3 {
                stats.account(old, Direction::Forward, 10);
            }
            stats.account(old, Direction::Reverse, 7);
            go.store(round, Release);
            if let Some(totals) = stats.take(old) {
                assert_eq!(totals.start_ns, round);
                assert_eq!((totals.packets_forward, totals.bytes_forward), (3, 30));
                assert_eq!((totals.packets_reverse, totals.bytes_reverse), (1, 7));
            }
            wait_for(&started, round);
        }
        starter.join().expect("starter");
    }
}
