//! The flow table shared by all workers: fixed capacity, lock-free, addressed by flow cookies.
//!
//! It exists because a flow's two directions and the appliance's returns can arrive on
//! different RX queues (outer RSS hashes GENEVE ports, not the inner flow), so every worker
//! must find every flow (DESIGN.md §4). One table, shared by reference, replaces per-worker
//! tables and the cross-core messaging they would need.
//!
//! # Guarantees
//!
//! - **No allocation after [`FlowTable::new`]**, which allocates the whole table once: lookups,
//!   inserts, removals, expiry and eviction only read and write atomics. The table is `Sync`.
//! - **Lock-free reads.** [`FlowTable::lookup`], [`FlowTable::by_cookie`] and the accessors never
//!   wait. A lookup racing a removal, an expiry or a reuse of the slot never returns an entry
//!   whose key differs from the one asked for: every key read is validated seqlock-style against
//!   the slot's control word, whose generation changes whenever the slot is emptied.
//! - **One entry per flow.** Two workers inserting the same new flow at once end up with the
//!   same [`Handle`], and exactly one of them is told it created it. At no time are two live
//!   entries of the same key visible.
//! - **Inserts wait only for a bounded spin**, and only in the rare case that another worker is
//!   inserting a key with the same 32-bit tag in the same window at the same moment; if the
//!   spin runs out (the other worker was descheduled), the insert gives up with
//!   [`InsertError::Busy`] and the caller drops the packet.
//! - **O(1) cookies.** A flow cookie (GWLB's GENEVE option type 3) names a slot and carries its
//!   generation, so [`FlowTable::by_cookie`] reads one control word, and a stale cookie (the
//!   slot was emptied since) misses.
//!
//! # Layout
//!
//! Slots come in groups of eight: one cache line of eight control words (state, generation and
//! an identity made of 32 hash bits and the protocol; see the `ctrl` submodule) followed by the
//! eight slots' bodies (the key as five words, a generation-tagged 32-bit value, creation and
//! last-seen times: 56 bytes, each on a cache line of its own), 576 bytes in all, so each slot
//! costs 72 bytes. A key may live in either of
//! two groups chosen by its hash (its *window* of 16 slots) and nowhere else: there is no
//! probing beyond the window. A new flow goes to its first group while that group is less than
//! half full, otherwise to the emptier of the two. Two choices keep every window usable to
//! about 70 % load, where a single group of eight starts rejecting flows at about 20 %; the
//! first-group preference keeps about 85 % of hits at 50 % load to one control line. A lookup
//! therefore reads one or two control lines and one slot body; [`FlowTable::lookup_burst`]
//! loads the control lines of a whole burst before comparing any key, so that their cache and
//! TLB misses overlap. The counters sit on cache lines of their own, and inserts and removals
//! each add to one of them; the live count is derived from them.
//!
//! # Inserting without locks
//!
//! An insert first looks the key up. On a miss it claims an empty slot of the window (CAS
//! `EMPTY → RESERVED`, carrying the identity), writes the key, publishes `TENTATIVE` and then
//! re-scans the whole window in a fixed order for another copy of the same key:
//!
//! - a `VALID` copy wins: the inserter withdraws its slot and adopts that entry;
//! - a `TENTATIVE` copy earlier in the window wins: the inserter withdraws and waits for it to
//!   become `VALID` (adopt) or vanish (start again);
//! - a `TENTATIVE` copy later in the window must resolve first: the inserter waits until it
//!   becomes `VALID` (withdraw, adopt) or vanishes (carry on);
//! - a `RESERVED` slot with the same identity is waited out (its key is being written).
//!
//! With nothing left in the way the inserter publishes `VALID` and reports the entry created.
//! The claim (a CAS) and the re-scan's loads are `SeqCst`: of two racing inserters, each
//! writes its own control word and then loads the other's, and sequential consistency forbids
//! both loads from missing both claims (the store-buffering pattern). So at least one of them
//! sees the other's claim, waits out its `RESERVED` state and reads its key, and the rules
//! above then let exactly one reach `VALID`. The claim is a locked read-modify-write anyway,
//! which orders the re-scan after it at no extra cost; the `TENTATIVE` publish is then a plain
//! release store, so an insert does not wait for its key's writes to drain before re-scanning.
//! Waiting cannot form a cycle: an inserter that still holds its slot only waits for slots
//! later in the window (or for a `RESERVED` slot, whose owner waits for nobody).
//!
//! # Time, expiry and a full window
//!
//! Times are the caller's `now` in nanoseconds from any epoch (the engine never reads a
//! clock), stored as milliseconds modulo 2³² ([`FlowTime`]): resolution 1 ms, and elapsed times
//! are computed wrap-safely for up to 2³¹ ms (24.8 days), far above GWLB's longest idle timeout
//! (6000 s). [`FlowTable::expire`] removes idle flows a budgeted number of slots at a time from
//! an [`ExpiryCursor`], so no sweep ever stops the world; the sweep must visit every slot at
//! least once every 24 days, or a flow idle that long would look fresh. When an insert finds
//! no empty slot in its window, it evicts one entry of the window that is already idle past its
//! timeout (the same timeout function as `expire` takes) and reports it; if there is none it
//! fails with [`InsertError::Full`].
//!
//! Cookies carry `32 - log2(capacity)` generation bits (22 at 1 Ki slots, 12 at 1 Mi, 6 at
//! 64 Mi): a cookie is confused with a later flow in the same slot only after that many bits'
//! worth of reuses (4096 at 1 Mi slots), and the gateway also checks that a returned packet's
//! inner key matches [`FlowTable::key`] of the flow. Handles carry the full 22-bit generation.

mod ctrl;

use core::fmt;
use core::hint::spin_loop;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use core::sync::atomic::{AtomicU32, AtomicU64, fence};

use core::ops::Range;

use zerocopy::FromZeros;

use crate::burst::{NoPrefetch, Prefetch};
use crate::flow::FlowKey;
use crate::memory::{memory_of, prefault};

/// Slots per group (one cache line of control words).
const GROUP_SLOTS: usize = 8;
/// log2 of [`GROUP_SLOTS`].
const GROUP_SHIFT: u32 = 3;
/// Slots in a window: a key's two groups.
const WINDOW_SLOTS: usize = 2 * GROUP_SLOTS;
/// While its first group holds fewer entries than this, a new flow goes there.
const PREFER_FIRST_BELOW: u32 = GROUP_SLOTS as u32 / 2;
/// How many times an insert spins waiting for another insert of the same identity. Such a wait
/// normally lasts the few nanoseconds another core needs to write a key; this bound (a few tens
/// of microseconds) is only reached when that core was descheduled.
const SPIN_LIMIT: u32 = 1 << 11;
/// How many times an insert starts over (after losing a claim or a race) before giving up.
const MAX_ATTEMPTS: u32 = 16;
/// Nanoseconds per stored time unit.
const NANOS_PER_MILLI: u64 = 1_000_000;

/// A reference to a live flow: its slot and the slot's generation when the handle was made.
///
/// Every operation that takes a handle first checks that the slot still holds the same flow
/// (is live with the same generation), so a stale handle is harmless: it misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handle {
    /// The slot's index in the table.
    slot: u32,
    /// The slot's generation (22 bits).
    generation: u32,
}

/// A time stamp as the table stores it: milliseconds of the caller's clock, modulo 2³².
///
/// Only differences between stamps are meaningful, and only up to 2³¹ ms (24.8 days); a stamp
/// from "the future" (another worker's slightly later `now`) counts as no time elapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowTime(u32);

/// What a successful [`FlowTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inserted {
    /// The flow's entry, new or existing.
    pub handle: Handle,
    /// True for exactly one of the workers that inserted this flow concurrently: the one whose
    /// value and times the entry holds. False when the flow existed or another worker won.
    pub created: bool,
    /// An entry of the window, idle past its timeout, that was evicted to make room; the caller
    /// treats it like an expired flow (counts it, may send TCP resets). An insert that evicts
    /// and then still fails (with [`InsertError::Busy`], when a concurrent insert of the same
    /// identity stalls) counts the eviction but cannot report it.
    pub evicted: Option<Expired>,
}

/// A flow that left the table because it was idle past its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// The handle the flow had; stale now.
    pub handle: Handle,
    /// The flow's key.
    pub key: FlowKey,
    /// The flow's value (for the gateway, its target).
    pub value: u32,
    /// When the flow was created.
    pub created: FlowTime,
    /// When the flow was last touched.
    pub last_seen: FlowTime,
}

/// Why [`FlowTable::insert`] did not insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The key's window (its 16 candidate slots) is full of live, unexpired flows. The caller
    /// drops the packet and counts `FlowTableFull`.
    Full,
    /// Another worker inserting a flow of the same identity in the same window did not finish
    /// within the spin bound (it was most likely descheduled). Retrying later is safe.
    Busy,
}

/// Why [`FlowTable::new`] could not build a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowTableError {
    /// The capacity is not a power of two between [`FlowTable::MIN_CAPACITY`] and
    /// [`FlowTable::MAX_CAPACITY`].
    BadCapacity(usize),
    /// The allocator refused the table's memory.
    OutOfMemory {
        /// The capacity asked for.
        capacity: usize,
        /// The bytes that could not be allocated.
        bytes: usize,
    },
}

/// Where an incremental expiry sweep resumes.
///
/// Each caller of [`FlowTable::expire`] keeps its own cursor; cursors that start at different
/// slots let several workers share the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryCursor {
    /// The next slot to visit.
    next: u32,
}

/// A snapshot of the table's counters. All counts are since the table was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowTableStats {
    /// Entries created (inserts that reported `created`), plus any insert in progress at the
    /// moment: an insert counts itself when it claims its slot and takes it back if it
    /// withdraws.
    pub inserts: u64,
    /// Inserts that lost a race and adopted another worker's entry for the same flow.
    pub races_lost: u64,
    /// Inserts refused because the key's window was full ([`InsertError::Full`]).
    pub full: u64,
    /// Inserts that gave up waiting for a concurrent insert ([`InsertError::Busy`]).
    pub busy: u64,
    /// Idle entries evicted by inserts into a full window.
    pub evictions: u64,
    /// Entries removed by [`FlowTable::remove`].
    pub removals: u64,
    /// Entries removed by [`FlowTable::expire`].
    pub expiries: u64,
    /// Live entries (approximate while other threads change the table).
    pub live: u64,
}

/// The flow table. See the module documentation for its design and guarantees.
pub struct FlowTable {
    /// The counters, on cache lines of their own so that counting never slows lookups.
    counters: Counters,
    /// The groups of slots; `capacity / 8` of them.
    groups: Box<[Group]>,
    /// `groups.len() - 1`.
    group_mask: usize,
    /// log2 of the number of groups.
    group_bits: u32,
    /// log2 of the capacity: how many low bits of a cookie name the slot.
    index_bits: u32,
    /// The generation bits a cookie carries, unshifted.
    cookie_generation_mask: u32,
}

/// Eight control words, then the eight slots they control. All zeros is a group of empty
/// slots of generation 0, which is how [`FlowTable::new`] allocates it.
#[derive(FromZeros)]
#[repr(C, align(64))]
struct Group {
    /// The slots' control words (see the `ctrl` submodule).
    ctrl: [AtomicU64; GROUP_SLOTS],
    /// The slots' bodies.
    slots: [Slot; GROUP_SLOTS],
}

/// The body of a slot. Written only by the inserter that owns the slot (between its claim and
/// its publish), except for the last-seen time and the value, which live entries update, and
/// the slot word, which belongs to the table's user.
///
/// Each body has a cache line of its own: packed at 56 bytes, six of a group's
/// eight bodies would straddle two lines, and a hit would miss on three lines instead of two.
#[derive(FromZeros)]
#[repr(C, align(64))]
struct Slot {
    /// The key's words (see [`FlowKey`]); the protocol is in the control word.
    key: [AtomicU64; 5],
    /// `generation << 32 | value`: tagging the value with the generation lets
    /// [`FlowTable::set_value`] update it by CAS without ever writing into a reused slot.
    value: AtomicU64,
    /// The creation time, in [`FlowTime`] units.
    created: AtomicU32,
    /// The last-activity time, in [`FlowTime`] units.
    last_seen: AtomicU32,
    /// [`FlowTable::slot_word`]: the slot's, not a flow's; never reset by the table.
    word: AtomicU64,
}

/// The table's counters; see [`FlowTableStats`].
#[repr(align(128))]
#[derive(Default)]
struct Counters {
    inserts: AtomicU64,
    races_lost: AtomicU64,
    full: AtomicU64,
    busy: AtomicU64,
    evictions: AtomicU64,
    removals: AtomicU64,
    expiries: AtomicU64,
}

/// A key's window: its two groups and the identity its slots must carry.
struct Window {
    /// The first and second group.
    groups: [usize; 2],
    /// The identity bits of the key's control words.
    identity: u64,
}

/// What an insert's first scan of the window found.
struct Scan {
    /// The key's live entry, if any.
    found: Option<Handle>,
    /// The control words as loaded, by window position.
    ctrl: [u64; WINDOW_SLOTS],
    /// The empty slots, one bit per window position.
    empty: u32,
}

/// How an inserter's re-scan of the window ended.
enum Settle {
    /// No other copy of the key: the inserter's slot becomes the entry.
    Won,
    /// Another copy won; the inserter withdrew and adopts it.
    Adopt(Handle),
    /// The copy the inserter deferred to vanished; it withdrew and starts again.
    Retry,
    /// A wait ran out; the inserter withdrew.
    Busy,
}

const _: () = assert!(size_of::<Slot>() == 64);
const _: () = assert!(size_of::<Group>() == 64 * (GROUP_SLOTS + 1));
const _: () = assert!(1 << GROUP_SHIFT == GROUP_SLOTS);

impl FlowTime {
    /// The stamp of a time given in nanoseconds (truncated to the millisecond).
    #[must_use]
    pub const fn from_nanos(nanos: u64) -> Self {
        Self((nanos / NANOS_PER_MILLI) as u32)
    }

    /// The stamp's raw value: milliseconds modulo 2³².
    #[must_use]
    pub const fn as_millis(self) -> u32 {
        self.0
    }

    /// A stamp from its raw value ([`FlowTime::as_millis`]).
    #[must_use]
    pub const fn from_millis(millis: u32) -> Self {
        Self(millis)
    }

    /// Nanoseconds elapsed from this stamp to `now` (nanoseconds), at millisecond resolution;
    /// zero if `now` is earlier, or more than 2³¹ ms later, than the stamp.
    #[must_use]
    pub const fn elapsed_nanos(self, now: u64) -> u64 {
        let millis = Self::from_nanos(now).0.wrapping_sub(self.0);
        if millis > i32::MAX as u32 {
            0
        } else {
            millis as u64 * NANOS_PER_MILLI
        }
    }
}

impl Handle {
    /// The slot's index in the table (the low bits of the flow cookie).
    #[must_use]
    pub const fn slot(self) -> u32 {
        self.slot
    }

    /// The slot's generation when the handle was made.
    #[must_use]
    pub const fn generation(self) -> u32 {
        self.generation
    }

    /// Whether a control word still describes this handle's flow.
    const fn is_current(self, ctrl: u64) -> bool {
        ctrl::state(ctrl) == ctrl::VALID && ctrl::generation(ctrl) == self.generation
    }
}

impl ExpiryCursor {
    /// A cursor at slot 0.
    #[must_use]
    pub const fn new() -> Self {
        Self { next: 0 }
    }

    /// A cursor at `slot` (wrapped to the table's capacity when used).
    #[must_use]
    pub const fn starting_at(slot: u32) -> Self {
        Self { next: slot }
    }

    /// The next slot the sweep will visit.
    #[must_use]
    pub const fn position(self) -> u32 {
        self.next
    }
}

impl Window {
    /// The slot index at a window position (0–7 in the first group, 8–15 in the second).
    const fn slot(&self, position: usize) -> usize {
        self.groups[position >> GROUP_SHIFT] << GROUP_SHIFT | position & (GROUP_SLOTS - 1)
    }
}

impl Scan {
    /// The window position where a new entry should go, following the placement rule of the
    /// module documentation, or `None` if both groups are full.
    fn placement(&self) -> Option<usize> {
        let group_bits = (1 << GROUP_SLOTS) - 1;
        let first = self.empty & group_bits;
        let second = self.empty >> GROUP_SLOTS;
        // Occupied counts are `8 - empty`, so "fewer occupied" is "more empty".
        let (preferred, other) = if GROUP_SLOTS as u32 - first.count_ones() < PREFER_FIRST_BELOW
            || first.count_ones() >= second.count_ones()
        {
            (first, second << GROUP_SLOTS)
        } else {
            (second << GROUP_SLOTS, first)
        };
        [preferred, other]
            .into_iter()
            .find(|&bits| bits != 0)
            .map(|bits| bits.trailing_zeros() as usize)
    }
}

impl FlowTable {
    /// The smallest capacity [`FlowTable::new`] accepts.
    pub const MIN_CAPACITY: usize = 1 << 10;
    /// The largest capacity [`FlowTable::new`] accepts (64 Mi flows, 4 GiB).
    pub const MAX_CAPACITY: usize = 1 << 26;
    /// Bytes of table memory per slot.
    pub const BYTES_PER_SLOT: usize = size_of::<Group>() / GROUP_SLOTS;
    /// How many keys [`FlowTable::lookup_burst`] stages at once; a typical RX burst.
    pub const BURST: usize = 32;

    /// Allocates a table of `capacity` empty slots, which must be a power of two between
    /// [`FlowTable::MIN_CAPACITY`] and [`FlowTable::MAX_CAPACITY`]. This is the table's only
    /// allocation. Aim for about twice the flows expected: windows start to fill up from about
    /// 70 % load.
    ///
    /// # Errors
    ///
    /// [`FlowTableError::BadCapacity`] for a capacity out of range or not a power of two, and
    /// [`FlowTableError::OutOfMemory`] when the allocation fails.
    pub fn new(capacity: usize) -> Result<Self, FlowTableError> {
        if !capacity.is_power_of_two()
            || !(Self::MIN_CAPACITY..=Self::MAX_CAPACITY).contains(&capacity)
        {
            return Err(FlowTableError::BadCapacity(capacity));
        }
        let group_count = capacity / GROUP_SLOTS;
        // Zeroed by the allocator (fresh pages, untouched until used; see
        // [`FlowTable::memory`]): every slot empty, of generation 0.
        let groups = <[Group]>::new_box_zeroed_with_elems(group_count).map_err(|_| {
            FlowTableError::OutOfMemory {
                capacity,
                bytes: Self::memory_bytes_for(capacity),
            }
        })?;
        let index_bits = capacity.trailing_zeros();
        Ok(Self {
            counters: Counters::default(),
            groups,
            group_mask: group_count - 1,
            group_bits: group_count.trailing_zeros(),
            index_bits,
            cookie_generation_mask: ctrl::GENERATION_MASK
                >> (index_bits - Self::MIN_CAPACITY.trailing_zeros()),
        })
    }

    /// The bytes a table of `capacity` slots occupies, for planning before allocating it.
    #[must_use]
    pub const fn memory_bytes_for(capacity: usize) -> usize {
        capacity
            .saturating_mul(Self::BYTES_PER_SLOT)
            .saturating_add(size_of::<Self>())
    }

    /// The addresses of the table's slots, for the runtime to advise the kernel about them
    /// (transparent huge pages: a 1 Mi-flow table spans tens of thousands of 4 KiB pages, far
    /// more than a TLB holds). The memory comes from the allocator untouched, so advice given
    /// before [`FlowTable::prefault`] or the first insert applies to every page.
    #[must_use]
    pub fn memory(&self) -> Range<usize> {
        memory_of(&self.groups)
    }

    /// Writes every page of the table once (without changing it), so that the kernel maps
    /// them all now rather than on the packet path, where a first write into an untouched
    /// page costs a page fault (tens of microseconds for a huge page, which it clears).
    /// Harmless at any time, even while the table is in use.
    pub fn prefault(&self) {
        prefault(&self.groups, |group| &group.ctrl[0]);
    }

    /// The number of slots.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.groups.len() * GROUP_SLOTS
    }

    /// The bytes this table occupies.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        Self::memory_bytes_for(self.capacity())
    }

    /// The number of live flows; approximate while other threads change the table.
    #[must_use]
    pub fn len(&self) -> usize {
        // Derived from the monotonic counters rather than kept in a counter of its own, so
        // inserts and removals pay one atomic add each, not two.
        let c = &self.counters;
        let gone = c.removals.load(Relaxed) + c.expiries.load(Relaxed) + c.evictions.load(Relaxed);
        usize::try_from(c.inserts.load(Relaxed).saturating_sub(gone)).unwrap_or(usize::MAX)
    }

    /// Whether the table holds no live flow (approximate, like [`FlowTable::len`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn stats(&self) -> FlowTableStats {
        let c = &self.counters;
        FlowTableStats {
            inserts: c.inserts.load(Relaxed),
            races_lost: c.races_lost.load(Relaxed),
            full: c.full.load(Relaxed),
            busy: c.busy.load(Relaxed),
            evictions: c.evictions.load(Relaxed),
            removals: c.removals.load(Relaxed),
            expiries: c.expiries.load(Relaxed),
            live: self.len() as u64,
        }
    }

    /// Finds the live entry of `key`.
    ///
    /// `hash` must be the hash every caller uses for this key (the pipeline passes
    /// [`FlowKey::hash`], which Maglev needs too, so it is computed once); the table never
    /// recomputes it. Lock-free; never returns an entry of another key.
    #[must_use]
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<Handle> {
        // Most keys live in their first group (see the module documentation), so the second
        // group's index is computed only when the first misses.
        let identity = ctrl::identity(key.protocol(), hash);
        let first = self.first_group(hash);
        self.find_in_group(first, key, identity)
            .or_else(|| self.find_in_group(self.second_group(hash, first), key, identity))
    }

    /// Looks up a burst of keys: `found[i]` becomes [`FlowTable::lookup`] of `keys[i]` with
    /// `hashes[i]`, for every `i` below the shortest of the three lengths.
    ///
    /// Same answers as one lookup at a time, but faster on a table larger than the caches:
    /// the control lines of up to [`FlowTable::BURST`] keys are loaded before any key is
    /// compared, so their cache and TLB misses overlap instead of following one another
    /// (DPDK's bulk-lookup technique; [`FlowTable::lookup_burst_with`] adds the prefetch
    /// instructions a platform provides).
    pub fn lookup_burst(&self, keys: &[FlowKey], hashes: &[u64], found: &mut [Option<Handle>]) {
        self.lookup_burst_with(keys, hashes, found, &NoPrefetch);
    }

    /// [`FlowTable::lookup_burst`] with prefetch instructions: every key's first control line
    /// is prefetched before any is loaded, and the body of the slot each key most likely
    /// occupies (its first identity match) as soon as its control line is loaded, or for a
    /// key with no match (most likely a new flow), its second group's control line and the
    /// first empty slot, where its insert will most likely write. Same answers as
    /// [`FlowTable::lookup`].
    pub fn lookup_burst_with<F: Prefetch>(
        &self,
        keys: &[FlowKey],
        hashes: &[u64],
        found: &mut [Option<Handle>],
        prefetch: &F,
    ) {
        let n = keys.len().min(hashes.len()).min(found.len());
        for start in (0..n).step_by(Self::BURST) {
            let end = (start + Self::BURST).min(n);
            // Stage zero: every key's first control line on its way.
            for &hash in &hashes[start..end] {
                prefetch.prefetch(self.group_address(self.first_group(hash)));
            }
            // Stage one: every key's first control line, with no branch on what was loaded.
            let mut first = [(0_usize, [0_u64; GROUP_SLOTS], 0_u32); Self::BURST];
            for (i, staged) in (start..end).zip(first.iter_mut()) {
                let window = self.window(&keys[i], hashes[i]);
                let group = window.groups[0];
                let words = self.load_group(group);
                let matches = live_matches(&words, window.identity);
                *staged = (group, words, matches);
                if !F::ISSUES_PREFETCHES {
                    // Nothing to issue: no candidate slot to work out either.
                } else if matches != 0 {
                    let slot = group << GROUP_SHIFT | matches.trailing_zeros() as usize;
                    prefetch.prefetch(core::ptr::from_ref(self.slot(slot)).addr());
                } else {
                    // No match in the first group: stage two reads the second group's control
                    // line (as an insert's scan does), so it is fetched now, while the rest
                    // of the chunk's first lines are compared.
                    prefetch.prefetch(self.group_address(window.groups[1]));
                    if let Some(position) = first_empty(&words) {
                        // Most likely a new flow, which an insert will write here: its body's
                        // miss then overlaps the chunk's instead of stalling the insert's
                        // publish.
                        let slot = group << GROUP_SHIFT | position;
                        prefetch.prefetch(core::ptr::from_ref(self.slot(slot)).addr());
                    }
                }
            }
            // Stage two: compare keys; the few that miss in their first group try the second.
            for (i, (group, words, matches)) in (start..end).zip(&first) {
                let key = &keys[i];
                found[i] = self.find_among(*group, words, *matches, key).or_else(|| {
                    let window = self.window(key, hashes[i]);
                    self.find_in_group(window.groups[1], key, window.identity)
                });
            }
        }
    }

    /// Finds or creates the entry of `key`; see the module documentation for how concurrent
    /// inserts of the same key agree on one entry.
    ///
    /// A new entry starts with `value` (for the gateway, the target picked by Maglev) and with
    /// `now` as its creation and last-seen time. An existing entry is returned unchanged, so a
    /// caller that gets `created == false` reads the flow's value with [`FlowTable::value`].
    /// When the window is full, one entry idle for longer than `timeout(key)` nanoseconds is
    /// evicted and returned in [`Inserted::evicted`]. `hash` is as for [`FlowTable::lookup`].
    ///
    /// # Errors
    ///
    /// [`InsertError::Full`] when the window holds no empty or expired slot, and
    /// [`InsertError::Busy`] when a concurrent insert of the same identity did not finish
    /// within the spin bound.
    pub fn insert(
        &self,
        key: &FlowKey,
        hash: u64,
        value: u32,
        now: u64,
        timeout: impl Fn(&FlowKey) -> u64,
    ) -> Result<Inserted, InsertError> {
        let window = self.window(key, hash);
        let mut evicted = None;
        for _ in 0..MAX_ATTEMPTS {
            let scan = self.scan(&window, key);
            if let Some(handle) = scan.found {
                return Ok(Inserted {
                    handle,
                    created: false,
                    evicted,
                });
            }
            // Where the entry goes: an empty slot, or else the slot of an idle entry, which the
            // claim below evicts in the same CAS (so no other insert can take the slot first).
            let (position, expected, idle) = match scan.placement() {
                Some(position) => (position, scan.ctrl[position], None),
                None => match self.idle_in(&window, now, &timeout, evicted.is_none()) {
                    Some((position, word, expired)) => (position, word, Some(expired)),
                    None => {
                        self.counters.full.fetch_add(1, Relaxed);
                        return Err(InsertError::Full);
                    }
                },
            };
            let slot = window.slot(position);
            let control = self.ctrl(slot);
            let generation = ctrl::generation(if idle.is_some() {
                ctrl::emptied(expected)
            } else {
                expected
            });
            let reserved = ctrl::occupied(ctrl::RESERVED, generation, window.identity);
            // SeqCst: the claim is the store of the store-buffering argument in the module
            // documentation (the re-scan's SeqCst loads follow it). It also acquires: whoever
            // emptied the slot finished reading its old body before we write.
            if control
                .compare_exchange(expected, reserved, SeqCst, Relaxed)
                .is_err()
            {
                // Another thread took or changed the slot; look again.
                continue;
            }
            // Counted as created now, while the claim has just emptied the store buffer, and
            // taken back below if the insert withdraws: counted at the publish, the locked add
            // would wait for the key's writes to reach the cache (a store-buffer drain per new
            // flow). The live count may run one ahead for the length of an insert.
            self.counters.inserts.fetch_add(1, Relaxed);
            if idle.is_some() {
                self.counters.evictions.fetch_add(1, Relaxed);
                evicted = idle;
            }
            // Release fence: a reader that sees any of the writes below also sees the claim when
            // it re-reads the control word, so it cannot mistake the new key for the old entry's.
            fence(Release);
            self.write_body(slot, key, generation, value, FlowTime::from_nanos(now));
            // Release: a re-scanning inserter that sees `TENTATIVE` reads the whole key. The
            // SeqCst claim above already orders this insert's re-scan after its claim.
            let tentative = ctrl::with_state(reserved, ctrl::TENTATIVE);
            control.store(tentative, Release);
            match self.settle(&window, key, position, tentative) {
                Settle::Won => {
                    control.store(ctrl::with_state(reserved, ctrl::VALID), Release);
                    return Ok(Inserted {
                        handle: handle(slot, reserved),
                        created: true,
                        evicted,
                    });
                }
                Settle::Adopt(handle) => {
                    self.counters.inserts.fetch_sub(1, Relaxed);
                    self.counters.races_lost.fetch_add(1, Relaxed);
                    return Ok(Inserted {
                        handle,
                        created: false,
                        evicted,
                    });
                }
                Settle::Retry => {
                    self.counters.inserts.fetch_sub(1, Relaxed);
                }
                Settle::Busy => {
                    self.counters.inserts.fetch_sub(1, Relaxed);
                    break;
                }
            }
        }
        self.counters.busy.fetch_add(1, Relaxed);
        Err(InsertError::Busy)
    }

    /// Removes the flow if `handle` is still current, and bumps the slot's generation so that
    /// the handle and its cookie go stale. Returns whether this call removed it.
    pub fn remove(&self, handle: Handle) -> bool {
        let Some(control) = self.ctrl_of(handle) else {
            return false;
        };
        let word = control.load(Relaxed);
        if !handle.is_current(word) {
            return false;
        }
        // A live control word only changes by being emptied, so a failed CAS means another
        // thread removed, expired or evicted the flow first.
        let removed = control
            .compare_exchange(word, ctrl::emptied(word), AcqRel, Relaxed)
            .is_ok();
        if removed {
            self.counters.removals.fetch_add(1, Relaxed);
        }
        removed
    }

    /// The flow cookie of a handle: `generation << log2(capacity) | slot`, the generation
    /// masked to the bits left.
    #[must_use]
    #[inline]
    pub fn cookie(&self, handle: Handle) -> u32 {
        (handle.generation & self.cookie_generation_mask) << self.index_bits | handle.slot
    }

    /// The live flow a cookie names, in O(1): `None` if its slot holds no live flow or one of
    /// another generation (a stale cookie).
    #[must_use]
    #[inline]
    pub fn by_cookie(&self, cookie: u32) -> Option<Handle> {
        let slot = self.cookie_slot(cookie);
        let generation = cookie >> self.index_bits;
        let word = self.ctrl(slot).load(Acquire);
        (ctrl::state(word) == ctrl::VALID
            && ctrl::generation(word) & self.cookie_generation_mask == generation)
            .then(|| handle(slot, word))
    }

    /// Prefetches what [`FlowTable::by_cookie`] and then [`FlowTable::key`] of `cookie` read:
    /// its slot's control line and body.
    #[inline]
    pub fn prefetch_cookie<F: Prefetch>(&self, cookie: u32, prefetch: &F) {
        let slot = self.cookie_slot(cookie);
        if let Some(group) = self.groups.get(slot >> GROUP_SHIFT) {
            prefetch.prefetch(core::ptr::from_ref(group).addr());
            prefetch.prefetch(core::ptr::from_ref(&group.slots[slot & (GROUP_SLOTS - 1)]).addr());
        }
    }

    /// Whether a handle still names a live flow: the entry [`FlowTable::lookup`] of its key
    /// would return, since a key has at most one live entry.
    #[must_use]
    #[inline]
    pub fn is_live(&self, handle: Handle) -> bool {
        self.ctrl_of(handle)
            .is_some_and(|control| handle.is_current(control.load(Acquire)))
    }

    /// The key of a live flow, or `None` if the handle is stale.
    #[must_use]
    #[inline]
    pub fn key(&self, handle: Handle) -> Option<FlowKey> {
        let word = self.ctrl_of(handle)?.load(Acquire);
        if !handle.is_current(word) {
            return None;
        }
        self.read_key(handle.slot as usize, word)
    }

    /// A handle to the flow living in `slot`, if one does: for listing flows off the packet
    /// path (every other accessor re-checks the handle, so a flow that ends meanwhile just
    /// misses).
    #[must_use]
    pub fn handle_at(&self, slot: usize) -> Option<Handle> {
        let word = self
            .groups
            .get(slot >> GROUP_SHIFT)?
            .ctrl
            .get(slot & (GROUP_SLOTS - 1))?
            .load(Acquire);
        (ctrl::state(word) == ctrl::VALID).then(|| Handle {
            slot: slot as u32,
            generation: ctrl::generation(word),
        })
    }

    /// The value of a live flow, or `None` if the handle is stale.
    #[must_use]
    #[inline]
    pub fn value(&self, handle: Handle) -> Option<u32> {
        let word = self.ctrl_of(handle)?.load(Acquire);
        if !handle.is_current(word) {
            return None;
        }
        let tagged = self.slot(handle.slot as usize).value.load(Acquire);
        ((tagged >> 32) as u32 == handle.generation).then_some(tagged as u32)
    }

    /// Replaces the value of a live flow (for example when flows are rebalanced to another
    /// target). Returns false, and writes nothing, if the handle is stale, even if the slot is
    /// reused concurrently.
    pub fn set_value(&self, handle: Handle, value: u32) -> bool {
        let Some(control) = self.ctrl_of(handle) else {
            return false;
        };
        if !handle.is_current(control.load(Acquire)) {
            return false;
        }
        let tag = u64::from(handle.generation) << 32;
        self.slot(handle.slot as usize)
            .value
            .fetch_update(AcqRel, Acquire, |old| {
                (old & !u64::from(u32::MAX) == tag).then_some(tag | u64::from(value))
            })
            .is_ok()
    }

    /// Records activity on a live flow at `now` (nanoseconds). Returns false if the handle is
    /// stale.
    ///
    /// Writes only when the millisecond changed, so packets of a busy flow on several cores do
    /// not keep stealing the slot's cache line from each other. A touch racing the flow's
    /// removal and the slot's reuse may refresh the new flow's time instead, which only delays
    /// its expiry by the age of a just-created flow, that is hardly at all.
    #[inline]
    pub fn touch(&self, handle: Handle, now: u64) -> bool {
        let Some(control) = self.ctrl_of(handle) else {
            return false;
        };
        if !handle.is_current(control.load(Relaxed)) {
            return false;
        }
        let stamp = FlowTime::from_nanos(now).0;
        let last_seen = &self.slot(handle.slot as usize).last_seen;
        if last_seen.load(Relaxed) != stamp {
            last_seen.store(stamp, Relaxed);
        }
        true
    }

    /// [`FlowTable::touch`] and [`FlowTable::value`] in one: records activity on a live flow
    /// at `now` and returns its value, or `None` (touching nothing) if the handle is stale.
    /// The packet path's form: one check of the control word, one visit to the slot.
    #[inline]
    pub fn touch_value(&self, handle: Handle, now: u64) -> Option<u32> {
        self.touch_body(handle, now).map(|(value, _)| value)
    }

    /// [`FlowTable::touch_value`] that also returns the slot's [`FlowTable::slot_word`], read
    /// from the same cache line.
    #[inline]
    pub fn touch_value_word(&self, handle: Handle, now: u64) -> Option<(u32, u64)> {
        self.touch_body(handle, now)
            .map(|(value, body)| (value, body.word.load(Relaxed)))
    }

    /// [`FlowTable::touch_value`], with the slot's body for the caller's further reads.
    #[inline]
    fn touch_body(&self, handle: Handle, now: u64) -> Option<(u32, &Slot)> {
        let control = self.ctrl_of(handle)?;
        if !handle.is_current(control.load(Acquire)) {
            return None;
        }
        let body = self.slot(handle.slot as usize);
        let stamp = FlowTime::from_nanos(now).0;
        if body.last_seen.load(Relaxed) != stamp {
            body.last_seen.store(stamp, Relaxed);
        }
        let tagged = body.value.load(Acquire);
        ((tagged >> 32) as u32 == handle.generation).then_some((tagged as u32, body))
    }

    /// The word the table keeps for its user beside each slot's body, in the same cache line:
    /// the slot's and not a flow's (the table never writes it, so it outlives the flows in the
    /// slot), zero at first. The appliance keeps the fingerprint of the slot's header record
    /// there, so that an unchanged header costs no visit to the record. Any handle of the
    /// slot, stale or not, names it; a handle of a larger table reads 0.
    #[must_use]
    pub fn slot_word(&self, handle: Handle) -> u64 {
        self.body_of(handle)
            .map_or(0, |body| body.word.load(Relaxed))
    }

    /// Sets [`FlowTable::slot_word`] of the slot `handle` names (stale or not); nothing for a
    /// handle of a larger table.
    pub fn set_slot_word(&self, handle: Handle, word: u64) {
        if let Some(body) = self.body_of(handle) {
            body.word.store(word, Relaxed);
        }
    }

    /// The body of the slot a handle names, if the table has that slot.
    #[inline]
    fn body_of(&self, handle: Handle) -> Option<&Slot> {
        let slot = handle.slot as usize;
        self.groups
            .get(slot >> GROUP_SHIFT)
            .map(|group| &group.slots[slot & (GROUP_SLOTS - 1)])
    }

    /// When a live flow was last touched (or created), or `None` if the handle is stale.
    #[must_use]
    pub fn last_seen(&self, handle: Handle) -> Option<FlowTime> {
        self.read_time(handle, |slot| &slot.last_seen)
    }

    /// When a live flow was created, or `None` if the handle is stale.
    #[must_use]
    pub fn created(&self, handle: Handle) -> Option<FlowTime> {
        self.read_time(handle, |slot| &slot.created)
    }

    /// Visits up to `budget` slots from `cursor` (wrapping around the table, never more than
    /// once per call), removes every live flow idle for longer than `timeout(key)` nanoseconds
    /// at `now`, calls `on_expired` for each, and returns how many it removed.
    ///
    /// Any thread may call it, a little at a time; lookups racing it never see a wrong entry.
    /// A flow touched between the idle check and the removal is removed anyway: it was idle
    /// past its timeout when checked.
    pub fn expire(
        &self,
        now: u64,
        cursor: &mut ExpiryCursor,
        budget: usize,
        timeout: impl Fn(&FlowKey) -> u64,
        mut on_expired: impl FnMut(&Expired),
    ) -> usize {
        let mask = self.capacity() - 1;
        let mut removed = 0;
        for _ in 0..budget.min(self.capacity()) {
            let slot = cursor.next as usize & mask;
            cursor.next = ((slot + 1) & mask) as u32;
            if let Some(expired) = self.remove_if_idle(slot, now, &timeout) {
                self.counters.expiries.fetch_add(1, Relaxed);
                removed += 1;
                on_expired(&expired);
            }
        }
        removed
    }

    /// The window of a key.
    #[inline]
    fn window(&self, key: &FlowKey, hash: u64) -> Window {
        let first = self.first_group(hash);
        Window {
            groups: [first, self.second_group(hash, first)],
            identity: ctrl::identity(key.protocol(), hash),
        }
    }

    /// The first group of a key's window.
    #[inline]
    const fn first_group(&self, hash: u64) -> usize {
        hash as usize & self.group_mask
    }

    /// The second group of a key's window, whose first group is `first`.
    #[inline]
    const fn second_group(&self, hash: u64, first: usize) -> usize {
        // The top bits of a multiplicative remix, which depend on every bit of the hash; it
        // must differ from the first so the window has 16 slots.
        let second = (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.group_bits)) as usize;
        if second == first { second ^ 1 } else { second }
    }

    /// Loads a window's control words, finds the key's live entry and notes the empty slots.
    fn scan(&self, window: &Window, key: &FlowKey) -> Scan {
        let mut scan = Scan {
            found: None,
            ctrl: [0; WINDOW_SLOTS],
            empty: 0,
        };
        for (half, group) in window.groups.into_iter().enumerate() {
            let words = self.load_group(group);
            scan.found = self.find_among(group, &words, live_matches(&words, window.identity), key);
            if scan.found.is_some() {
                return scan;
            }
            let mut empty = 0;
            for (index, &word) in words.iter().enumerate() {
                empty |= u32::from(ctrl::state(word) == ctrl::EMPTY) << index;
            }
            scan.empty |= empty << (half * GROUP_SLOTS);
            scan.ctrl[half * GROUP_SLOTS..(half + 1) * GROUP_SLOTS].copy_from_slice(&words);
        }
        scan
    }

    /// Finds the live entry of `key` in one group.
    #[inline]
    fn find_in_group(&self, group: usize, key: &FlowKey, identity: u64) -> Option<Handle> {
        let words = self.load_group(group);
        self.find_among(group, &words, live_matches(&words, identity), key)
    }

    /// Finds the live entry of `key` among the slots of `group` flagged in `matches`, whose
    /// control words were loaded as `words`.
    #[inline]
    fn find_among(
        &self,
        group: usize,
        words: &[u64; GROUP_SLOTS],
        mut matches: u32,
        key: &FlowKey,
    ) -> Option<Handle> {
        while matches != 0 {
            let index = matches.trailing_zeros() as usize;
            matches &= matches - 1;
            let slot = group << GROUP_SHIFT | index;
            if self.read_key(slot, words[index]).is_some_and(|k| k == *key) {
                return Some(handle(slot, words[index]));
            }
        }
        None
    }

    /// The slot a cookie names (its low `index_bits`).
    #[inline]
    const fn cookie_slot(&self, cookie: u32) -> usize {
        (cookie & ((1 << self.index_bits) - 1)) as usize
    }

    /// The address of a group (its control line), for prefetching.
    #[inline]
    fn group_address(&self, group: usize) -> usize {
        core::ptr::from_ref(&self.groups[group]).addr()
    }

    /// Loads a group's eight control words (`Acquire`, so a live word's key is readable).
    #[inline]
    fn load_group(&self, group: usize) -> [u64; GROUP_SLOTS] {
        self.groups[group].ctrl.each_ref().map(|c| c.load(Acquire))
    }

    /// The re-scan of an inserter that holds `mine` (window position) as `TENTATIVE`: decides,
    /// by the rules of the module documentation, whether it keeps the slot. Withdraws the slot
    /// for every outcome but [`Settle::Won`].
    fn settle(&self, window: &Window, key: &FlowKey, mine: usize, tentative: u64) -> Settle {
        let my_control = self.ctrl(window.slot(mine));
        let withdraw = || my_control.store(ctrl::emptied(tentative), Release);
        for position in (0..WINDOW_SLOTS).filter(|&p| p != mine) {
            let slot = window.slot(position);
            let mut spins = 0;
            loop {
                let word = self.ctrl(slot).load(SeqCst);
                let state = ctrl::state(word);
                if state == ctrl::EMPTY || word & ctrl::IDENTITY_MASK != window.identity {
                    break;
                }
                if state != ctrl::RESERVED {
                    match self.read_key(slot, word) {
                        // The slot changed while we read it: look again.
                        None => {}
                        Some(other) if other != *key => break,
                        Some(_) if state == ctrl::VALID => {
                            withdraw();
                            return Settle::Adopt(handle(slot, word));
                        }
                        Some(_) if position < mine => {
                            withdraw();
                            return self.await_winner(slot, window, key);
                        }
                        // A later tentative copy: wait until it resolves.
                        Some(_) => {}
                    }
                }
                spins += 1;
                if spins > SPIN_LIMIT {
                    withdraw();
                    return Settle::Busy;
                }
                spin_loop();
            }
        }
        Settle::Won
    }

    /// After withdrawing in favour of an earlier tentative copy in `slot`, waits for it to
    /// become the entry (adopt it) or to vanish (start again).
    fn await_winner(&self, slot: usize, window: &Window, key: &FlowKey) -> Settle {
        for _ in 0..SPIN_LIMIT {
            let word = self.ctrl(slot).load(Acquire);
            let state = ctrl::state(word);
            if state == ctrl::EMPTY || word & ctrl::IDENTITY_MASK != window.identity {
                return Settle::Retry;
            }
            if state != ctrl::RESERVED {
                match self.read_key(slot, word) {
                    None => {}
                    Some(other) if other != *key => return Settle::Retry,
                    Some(_) if state == ctrl::VALID => return Settle::Adopt(handle(slot, word)),
                    Some(_) => {}
                }
            }
            spin_loop();
        }
        Settle::Busy
    }

    /// Finds the first entry of a (full) window that is idle past its timeout, if `allowed`:
    /// its window position, its control word and what evicting it would report.
    fn idle_in(
        &self,
        window: &Window,
        now: u64,
        timeout: &impl Fn(&FlowKey) -> u64,
        allowed: bool,
    ) -> Option<(usize, u64, Expired)> {
        if !allowed {
            return None;
        }
        (0..WINDOW_SLOTS).find_map(|position| {
            let (word, expired) = self.idle_entry(window.slot(position), now, timeout)?;
            Some((position, word, expired))
        })
    }

    /// Removes the flow in `slot` if it is live and idle for longer than its timeout. The
    /// caller counts the removal as an expiry.
    fn remove_if_idle(
        &self,
        slot: usize,
        now: u64,
        timeout: &impl Fn(&FlowKey) -> u64,
    ) -> Option<Expired> {
        let (word, expired) = self.idle_entry(slot, now, timeout)?;
        // A live control word only changes by being emptied, so the CAS fails only if another
        // thread removed the flow first.
        self.ctrl(slot)
            .compare_exchange(word, ctrl::emptied(word), AcqRel, Relaxed)
            .ok()?;
        Some(expired)
    }

    /// Reads the live flow in `slot`, validated like [`FlowTable::read_key`], and returns its
    /// control word and description if it is idle for longer than `timeout(key)` at `now`.
    fn idle_entry(
        &self,
        slot: usize,
        now: u64,
        timeout: &impl Fn(&FlowKey) -> u64,
    ) -> Option<(u64, Expired)> {
        let control = self.ctrl(slot);
        let word = control.load(Acquire);
        if ctrl::state(word) != ctrl::VALID {
            return None;
        }
        let body = self.slot(slot);
        let key_words = body.key.each_ref().map(|w| w.load(Relaxed));
        let value = body.value.load(Relaxed) as u32;
        let created = FlowTime(body.created.load(Relaxed));
        let last_seen = FlowTime(body.last_seen.load(Relaxed));
        fence(Acquire);
        if control.load(Relaxed) != word {
            return None;
        }
        let key = FlowKey::from_words(key_words, ctrl::protocol(word));
        if last_seen.elapsed_nanos(now) <= timeout(&key) {
            return None;
        }
        let expired = Expired {
            handle: handle(slot, word),
            key,
            value,
            created,
            last_seen,
        };
        Some((word, expired))
    }

    /// Writes a claimed slot's body.
    fn write_body(&self, slot: usize, key: &FlowKey, generation: u32, value: u32, now: FlowTime) {
        let body = self.slot(slot);
        for (cell, &word) in body.key.iter().zip(key.words()) {
            cell.store(word, Relaxed);
        }
        body.value
            .store(u64::from(generation) << 32 | u64::from(value), Relaxed);
        body.created.store(now.0, Relaxed);
        body.last_seen.store(now.0, Relaxed);
    }

    /// Reads the key of `slot`, whose control word the caller loaded (with `Acquire` or
    /// stronger) as `word`, and returns it only if the control word is unchanged afterwards:
    /// the seqlock-style check that no removal or reuse tore the read.
    #[inline]
    fn read_key(&self, slot: usize, word: u64) -> Option<FlowKey> {
        let words = self.slot(slot).key.each_ref().map(|w| w.load(Relaxed));
        // The fence orders the key loads before the re-load: if any of them saw a later
        // occupant's write, the re-load sees that occupant's claim (see `insert`).
        fence(Acquire);
        (self.ctrl(slot).load(Relaxed) == word)
            .then(|| FlowKey::from_words(words, ctrl::protocol(word)))
    }

    /// Reads a time field of a live flow, validated like [`FlowTable::read_key`].
    fn read_time(&self, handle: Handle, field: impl Fn(&Slot) -> &AtomicU32) -> Option<FlowTime> {
        let control = self.ctrl_of(handle)?;
        let word = control.load(Acquire);
        if !handle.is_current(word) {
            return None;
        }
        let stamp = field(self.slot(handle.slot as usize)).load(Relaxed);
        fence(Acquire);
        (control.load(Relaxed) == word).then_some(FlowTime(stamp))
    }

    /// The control word of a slot index the table computed itself (always in range).
    #[inline]
    fn ctrl(&self, slot: usize) -> &AtomicU64 {
        &self.groups[slot >> GROUP_SHIFT].ctrl[slot & (GROUP_SLOTS - 1)]
    }

    /// The body of a slot index the table computed or validated itself.
    #[inline]
    fn slot(&self, slot: usize) -> &Slot {
        &self.groups[slot >> GROUP_SHIFT].slots[slot & (GROUP_SLOTS - 1)]
    }

    /// The control word of a handle's slot, or `None` if the handle is out of range (it came
    /// from a larger table).
    #[inline]
    fn ctrl_of(&self, handle: Handle) -> Option<&AtomicU64> {
        let slot = handle.slot as usize;
        Some(&self.groups.get(slot >> GROUP_SHIFT)?.ctrl[slot & (GROUP_SLOTS - 1)])
    }
}

/// The live slots among a group's control words whose identity is `identity`, one bit per
/// slot. Computed without branches, so a hit's position costs no misprediction.
#[inline]
fn live_matches(words: &[u64; GROUP_SLOTS], identity: u64) -> u32 {
    let wanted = identity | ctrl::VALID;
    let mut bits = 0;
    for (index, &word) in words.iter().enumerate() {
        bits |= u32::from(word & (ctrl::IDENTITY_MASK | ctrl::STATE_MASK) == wanted) << index;
    }
    bits
}

/// The first empty slot among a group's control words, if any.
#[inline]
fn first_empty(words: &[u64; GROUP_SLOTS]) -> Option<usize> {
    words
        .iter()
        .position(|&word| ctrl::state(word) == ctrl::EMPTY)
}

/// The handle of `slot` as described by its (live) control word.
#[inline]
const fn handle(slot: usize, word: u64) -> Handle {
    Handle {
        slot: slot as u32,
        generation: ctrl::generation(word),
    }
}

impl fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowTable")
            .field("capacity", &self.capacity())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for InsertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the flow's window in the flow table is full",
            Self::Busy => "a concurrent insert of a colliding flow did not finish in time",
        })
    }
}

impl std::error::Error for InsertError {}

impl fmt::Display for FlowTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCapacity(capacity) => write!(
                f,
                "flow table capacity {capacity} is not a power of two between {} and {}",
                FlowTable::MIN_CAPACITY,
                FlowTable::MAX_CAPACITY
            ),
            Self::OutOfMemory { capacity, bytes } => write!(
                f,
                "cannot allocate {bytes} bytes for a flow table of {capacity} slots"
            ),
        }
    }
}

impl std::error::Error for FlowTableError {}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::flow::{Direction, Stickiness};

    const SECOND: u64 = 1_000_000_000;
    /// A timeout function: 350 s for TCP, 120 s for everything else.
    fn gwlb_timeout(key: &FlowKey) -> u64 {
        if key.protocol() == 6 {
            350 * SECOND
        } else {
            120 * SECOND
        }
    }
    fn never(_: &FlowKey) -> u64 {
        u64::MAX
    }

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n))
    }

    fn tcp(n: u32) -> FlowKey {
        FlowKey::new(
            1,
            v4(n),
            v4(0xffff),
            6,
            40000,
            443,
            Stickiness::FiveTuple,
            false,
        )
        .0
    }

    fn table() -> FlowTable {
        FlowTable::new(1024).unwrap()
    }

    fn insert(t: &FlowTable, key: &FlowKey, value: u32, now: u64) -> Inserted {
        t.insert(key, key.hash(), value, now, gwlb_timeout).unwrap()
    }

    #[test]
    fn capacity_must_be_a_power_of_two_in_range() {
        for bad in [0, 1, 512, 1000, 1025, 1 << 27] {
            assert_eq!(
                FlowTable::new(bad).unwrap_err(),
                FlowTableError::BadCapacity(bad)
            );
        }
        let t = table();
        assert_eq!(t.capacity(), 1024);
        assert_eq!(FlowTable::BYTES_PER_SLOT, 72);
        assert_eq!(t.memory_bytes(), FlowTable::memory_bytes_for(1024));
        assert!(t.memory_bytes() >= 72 * 1024 && t.memory_bytes() < 72 * 1024 + 1024);
        assert!(t.is_empty());
        assert!(
            FlowTableError::BadCapacity(3)
                .to_string()
                .contains("power of two")
        );
    }

    #[test]
    fn insert_then_lookup_from_both_directions() {
        let t = table();
        let (a, b) = (v4(1), v4(2));
        let (fwd, d1) = FlowKey::new(3, a, b, 6, 1234, 80, Stickiness::FiveTuple, false);
        let (rev, d2) = FlowKey::new(3, b, a, 6, 80, 1234, Stickiness::FiveTuple, false);
        assert_eq!(d1, d2.reverse());
        assert_eq!(t.lookup(&fwd, fwd.hash()), None);
        let ins = insert(&t, &fwd, 42, 5 * SECOND);
        assert!(ins.created);
        assert_eq!(ins.evicted, None);
        assert_eq!(t.lookup(&rev, rev.hash()), Some(ins.handle));
        assert_eq!(t.key(ins.handle), Some(fwd));
        assert_eq!(t.value(ins.handle), Some(42));
        assert_eq!(t.len(), 1);
        // Inserting again finds the entry and keeps its value.
        let again = insert(&t, &rev, 7, 6 * SECOND);
        assert_eq!((again.handle, again.created), (ins.handle, false));
        assert_eq!(t.value(ins.handle), Some(42));
        // Other ports are another flow.
        let (other, _) = FlowKey::new(3, a, b, 6, 1235, 80, Stickiness::FiveTuple, false);
        assert_eq!(t.lookup(&other, other.hash()), None);
    }

    #[test]
    fn every_stickiness_mode_with_ipv4_and_ipv6() {
        let pairs = [
            (v4(1), v4(2)),
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
            ),
        ];
        let t = table();
        for (a, b) in pairs {
            for mode in [
                Stickiness::FiveTuple,
                Stickiness::ThreeTuple,
                Stickiness::TwoTuple,
            ] {
                let (k, _) = FlowKey::new(9, a, b, 17, 1000, 53, mode, false);
                let h = insert(&t, &k, 1, 0).handle;
                // The reply, and in 3-/2-tuple mode any other ports, find the same entry.
                let (reply, _) = FlowKey::new(9, b, a, 17, 53, 1000, mode, false);
                assert_eq!(t.lookup(&reply, reply.hash()), Some(h), "{mode:?}");
                let (ports, _) = FlowKey::new(9, b, a, 17, 5353, 5353, mode, false);
                let found = t.lookup(&ports, ports.hash());
                assert_eq!(found == Some(h), mode != Stickiness::FiveTuple, "{mode:?}");
                let (proto, _) = FlowKey::new(9, a, b, 6, 0, 0, mode, false);
                let found = t.lookup(&proto, proto.hash());
                assert_eq!(found == Some(h), mode == Stickiness::TwoTuple, "{mode:?}");
            }
        }
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn scopes_never_mix() {
        let t = table();
        let key =
            |scope| FlowKey::new(scope, v4(1), v4(2), 6, 1, 2, Stickiness::FiveTuple, false).0;
        let h1 = insert(&t, &key(1), 10, 0).handle;
        let h2 = insert(&t, &key(2), 20, 0).handle;
        assert_ne!(h1, h2);
        assert_eq!(t.lookup(&key(1), key(1).hash()), Some(h1));
        assert_eq!(t.lookup(&key(2), key(2).hash()), Some(h2));
        assert_eq!(t.lookup(&key(3), key(3).hash()), None);
        assert_eq!((t.value(h1), t.value(h2)), (Some(10), Some(20)));
    }

    #[test]
    fn cookies_round_trip_and_go_stale() {
        let t = table();
        let key = tcp(1);
        let h = insert(&t, &key, 0, 0).handle;
        let cookie = t.cookie(h);
        assert_eq!(cookie & 1023, h.slot());
        assert_eq!(cookie >> 10, h.generation());
        assert_eq!(t.by_cookie(cookie), Some(h));
        // Remove and reinsert the same key: same slot, next generation; the old cookie misses.
        assert!(t.remove(h));
        assert_eq!(t.by_cookie(cookie), None);
        let h2 = insert(&t, &key, 0, 0).handle;
        assert_eq!(h2.slot(), h.slot());
        assert_eq!(h2.generation(), h.generation() + 1);
        assert_eq!(t.by_cookie(cookie), None);
        assert_eq!(t.by_cookie(t.cookie(h2)), Some(h2));
        assert_eq!(t.key(h), None);
        assert_eq!(t.key(h2), Some(key));
        // Cookies of empty slots miss.
        assert_eq!(t.by_cookie(h2.slot() ^ 1), None);
    }

    #[test]
    fn cookie_generation_bits_shrink_with_capacity() {
        let t = FlowTable::new(1 << 20).unwrap();
        let h = Handle {
            slot: 5,
            generation: 0x3f_f001,
        };
        assert_eq!(t.cookie(h), 0x001 << 20 | 5);
        let t = table();
        assert_eq!(t.cookie(h), 0x3f_f001 << 10 | 5);
    }

    #[test]
    fn stale_handles_miss_everywhere() {
        let t = table();
        let h = insert(&t, &tcp(1), 3, 0).handle;
        assert!(t.remove(h));
        assert!(!t.remove(h), "removing twice");
        assert_eq!(t.len(), 0);
        assert_eq!(t.key(h), None);
        assert_eq!(t.value(h), None);
        assert!(!t.set_value(h, 4));
        assert!(!t.touch(h, 1));
        assert_eq!(t.last_seen(h), None);
        assert_eq!(t.created(h), None);
        // A handle from a larger table is out of range, not a panic.
        let far = Handle {
            slot: 1 << 20,
            generation: 0,
        };
        assert!(!t.remove(far));
        assert_eq!(t.key(far), None);
        assert!(!t.touch(far, 0));
        let s = t.stats();
        assert_eq!((s.inserts, s.removals, s.live), (1, 1, 0));
    }

    /// The slot word belongs to the slot: it starts at zero, outlives the flows in the slot
    /// (the table never writes it) and is read beside the value by `touch_value_word`.
    #[test]
    fn slot_words_belong_to_slots_not_flows() {
        let t = table();
        let h = insert(&t, &tcp(1), 3, 0).handle;
        assert_eq!(t.slot_word(h), 0);
        t.set_slot_word(h, 0xfeed);
        assert_eq!(t.touch_value_word(h, SECOND), Some((3, 0xfeed)));
        assert_eq!(t.last_seen(h), Some(FlowTime::from_nanos(SECOND)));
        assert!(t.remove(h));
        assert_eq!(t.touch_value_word(h, SECOND), None, "stale: no value");
        assert_eq!(t.slot_word(h), 0xfeed, "still the slot's");
        let next = insert(&t, &tcp(1), 4, 0).handle;
        assert_eq!(next.slot, h.slot);
        assert_eq!(t.touch_value_word(next, 0), Some((4, 0xfeed)));
        // A handle from a larger table reads 0 and writes nothing.
        let far = Handle {
            slot: 1 << 20,
            generation: 0,
        };
        t.set_slot_word(far, 1);
        assert_eq!(t.slot_word(far), 0);
        assert_eq!(t.touch_value_word(far, 0), None);
    }

    #[test]
    fn handles_at_slots_list_exactly_the_live_flows() {
        let t = table();
        let a = insert(&t, &tcp(1), 1, SECOND).handle;
        let b = insert(&t, &tcp(2), 2, SECOND).handle;
        let listed: Vec<Handle> = (0..t.capacity()).filter_map(|s| t.handle_at(s)).collect();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&a) && listed.contains(&b));
        assert!(t.remove(a));
        let listed: Vec<Handle> = (0..t.capacity() + 5)
            .filter_map(|s| t.handle_at(s))
            .collect();
        assert_eq!(
            listed,
            vec![b],
            "removed flows and slots past the end list nothing"
        );
    }

    #[test]
    fn times_and_values() {
        let t = table();
        let h = insert(&t, &tcp(1), 1, 10 * SECOND + 999_999).handle;
        assert_eq!(t.created(h), Some(FlowTime::from_nanos(10 * SECOND)));
        assert_eq!(t.last_seen(h).unwrap().as_millis(), 10_000);
        assert!(t.touch(h, 12 * SECOND));
        assert_eq!(t.last_seen(h).unwrap().as_millis(), 12_000);
        assert_eq!(t.created(h).unwrap().as_millis(), 10_000);
        assert_eq!(
            t.last_seen(h).unwrap().elapsed_nanos(15 * SECOND),
            3 * SECOND
        );
        assert!(t.set_value(h, 77));
        assert_eq!(t.value(h), Some(77));
    }

    #[test]
    fn flow_time_is_wrap_safe() {
        let t = FlowTime::from_nanos(u64::from(u32::MAX) * NANOS_PER_MILLI);
        assert_eq!(t.as_millis(), u32::MAX);
        // Two milliseconds later the counter has wrapped.
        let later = (u64::from(u32::MAX) + 2) * NANOS_PER_MILLI;
        assert_eq!(FlowTime::from_nanos(later).as_millis(), 1);
        assert_eq!(t.elapsed_nanos(later), 2 * NANOS_PER_MILLI);
        // A slightly earlier `now` (another worker's) is no time at all.
        assert_eq!(
            FlowTime::from_nanos(5 * SECOND).elapsed_nanos(4 * SECOND),
            0
        );
    }

    /// Keys that all share one window and one tag: the worst case the table must survive.
    fn colliding(n: u32) -> FlowKey {
        tcp(n)
    }
    const COLLIDING_HASH: u64 = 0x0123_4567_89ab_cdef;

    #[test]
    fn a_full_window_rejects_new_flows() {
        let t = table();
        let handles: Vec<Handle> = (0..WINDOW_SLOTS as u32)
            .map(|n| {
                let ins = t
                    .insert(&colliding(n), COLLIDING_HASH, n, 0, never)
                    .unwrap();
                assert!(ins.created);
                ins.handle
            })
            .collect();
        let slots: std::collections::HashSet<u32> = handles.iter().map(|h| h.slot()).collect();
        assert_eq!(slots.len(), WINDOW_SLOTS);
        let extra = colliding(99);
        assert_eq!(
            t.insert(&extra, COLLIDING_HASH, 0, 1000 * SECOND, never),
            Err(InsertError::Full)
        );
        assert_eq!(t.stats().full, 1);
        // Every key is still found (full key comparison despite identical tags).
        for (n, h) in handles.iter().enumerate() {
            assert_eq!(t.lookup(&colliding(n as u32), COLLIDING_HASH), Some(*h));
            assert_eq!(t.value(*h), Some(n as u32));
        }
        assert_eq!(t.lookup(&extra, COLLIDING_HASH), None);
        // Removing one makes room again.
        assert!(t.remove(handles[3]));
        assert!(
            t.insert(&extra, COLLIDING_HASH, 0, 0, never)
                .unwrap()
                .created
        );
    }

    #[test]
    fn a_full_window_evicts_an_idle_flow() {
        let t = table();
        for n in 0..WINDOW_SLOTS as u32 {
            t.insert(&colliding(n), COLLIDING_HASH, n, 0, gwlb_timeout)
                .unwrap();
        }
        // Keep all but flow 5 busy, then insert after the timeout.
        let now = 400 * SECOND;
        for n in (0..WINDOW_SLOTS as u32).filter(|&n| n != 5) {
            let h = t.lookup(&colliding(n), COLLIDING_HASH).unwrap();
            assert!(t.touch(h, now - SECOND));
        }
        let old = t.lookup(&colliding(5), COLLIDING_HASH).unwrap();
        let ins = t
            .insert(&colliding(99), COLLIDING_HASH, 99, now, gwlb_timeout)
            .unwrap();
        assert!(ins.created);
        let evicted = ins.evicted.unwrap();
        assert_eq!(evicted.key, colliding(5));
        assert_eq!((evicted.handle, evicted.value), (old, 5));
        assert_eq!(evicted.last_seen, FlowTime::from_nanos(0));
        assert_eq!(ins.handle.slot(), old.slot());
        assert_ne!(ins.handle.generation(), old.generation());
        assert_eq!(t.lookup(&colliding(5), COLLIDING_HASH), None);
        assert_eq!(t.key(old), None);
        let s = t.stats();
        assert_eq!(
            (s.evictions, s.live, s.inserts),
            (1, WINDOW_SLOTS as u64, 17)
        );
        // Nothing else is idle: the next one is full.
        assert_eq!(
            t.insert(&colliding(100), COLLIDING_HASH, 0, now, gwlb_timeout),
            Err(InsertError::Full)
        );
    }

    #[test]
    fn expiry_follows_its_budget_and_wraps() {
        let t = table();
        let mut handles = Vec::new();
        for n in 0..100 {
            let (k, _) = FlowKey::new(1, v4(n), v4(0xffff), 17, 1, 2, Stickiness::FiveTuple, false);
            handles.push(insert(&t, &k, n, 0).handle);
        }
        // Flow 0 stays active.
        let now = 121 * SECOND;
        assert!(t.touch(handles[0], now));
        // Start near the end so the sweep wraps.
        let mut cursor = ExpiryCursor::starting_at(1000);
        let mut seen = Vec::new();
        let mut total = 0;
        let mut calls = 0;
        while calls * 100 < 1024 {
            total += t.expire(now, &mut cursor, 100, gwlb_timeout, |e| seen.push(*e));
            calls += 1;
        }
        assert_eq!(cursor.position(), (1000 + 1100) % 1024);
        assert_eq!(total, 99);
        assert_eq!(seen.len(), 99);
        assert!(
            seen.iter()
                .all(|e| e.handle != handles[0] && t.key(e.handle).is_none())
        );
        assert_eq!(t.key(handles[0]).map(|k| k.scope()), Some(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.stats().expiries, 99);
        // A budget above the capacity visits each slot once.
        let mut cursor = ExpiryCursor::new();
        assert_eq!(
            t.expire(
                now + 400 * SECOND,
                &mut cursor,
                usize::MAX,
                gwlb_timeout,
                |_| ()
            ),
            1
        );
        assert_eq!(cursor.position(), 0);
        assert!(t.is_empty());
    }

    #[test]
    fn tcp_and_udp_expire_on_their_own_timeouts() {
        let t = table();
        let tcp_flow = insert(&t, &tcp(1), 0, 0).handle;
        let (udp, _) = FlowKey::new(1, v4(1), v4(2), 17, 1, 2, Stickiness::FiveTuple, false);
        let udp_flow = insert(&t, &udp, 0, 0).handle;
        let mut cursor = ExpiryCursor::new();
        // Exactly at the timeout nothing expires; just past it the UDP flow does.
        assert_eq!(
            t.expire(120 * SECOND, &mut cursor, 1024, gwlb_timeout, |_| ()),
            0
        );
        assert_eq!(
            t.expire(
                120 * SECOND + 1_000_000,
                &mut cursor,
                1024,
                gwlb_timeout,
                |_| ()
            ),
            1
        );
        assert_eq!(t.key(udp_flow), None);
        assert!(t.key(tcp_flow).is_some());
        assert_eq!(
            t.expire(351 * SECOND, &mut cursor, 1024, gwlb_timeout, |_| ()),
            1
        );
        assert!(t.is_empty());
    }

    #[test]
    fn placement_prefers_the_first_group() {
        let t = table();
        let key = tcp(1);
        let window = t.window(&key, COLLIDING_HASH);
        assert_ne!(window.groups[0], window.groups[1]);
        for n in 0..6 {
            let h = t
                .insert(&colliding(n), COLLIDING_HASH, 0, 0, never)
                .unwrap()
                .handle;
            let group = h.slot() as usize >> GROUP_SHIFT;
            // Four go to the first group, then the emptier second group takes over.
            let expected = if n < 4 { 0 } else { 1 };
            assert_eq!(group, window.groups[expected], "flow {n}");
        }
    }

    /// Puts a copy of `key` in `state` at a window position, as a stalled concurrent inserter
    /// would leave it, and returns its slot.
    fn plant(t: &FlowTable, key: &FlowKey, position: usize, state: u64) -> usize {
        let window = t.window(key, COLLIDING_HASH);
        let slot = window.slot(position);
        let generation = ctrl::generation(t.ctrl(slot).load(Relaxed));
        t.write_body(slot, key, generation, 999, FlowTime(0));
        t.ctrl(slot)
            .store(ctrl::occupied(state, generation, window.identity), SeqCst);
        slot
    }

    /// The state of the slot at a window position of the colliding keys.
    fn state_at(t: &FlowTable, position: usize) -> u64 {
        let slot = t.window(&tcp(0), COLLIDING_HASH).slot(position);
        ctrl::state(t.ctrl(slot).load(Relaxed))
    }

    #[test]
    fn a_later_tentative_copy_blocks_the_publish() {
        let t = table();
        let key = colliding(1);
        plant(&t, &key, 15, ctrl::TENTATIVE);
        // The insert claims position 0, sees the later copy unresolved and must not publish;
        // alone on this thread, its wait runs out.
        assert_eq!(
            t.insert(&key, COLLIDING_HASH, 0, 0, never),
            Err(InsertError::Busy)
        );
        assert_eq!(state_at(&t, 0), ctrl::EMPTY, "withdrawn, never published");
        assert_eq!(t.lookup(&key, COLLIDING_HASH), None);
        assert_eq!((t.stats().busy, t.len()), (1, 0));
    }

    #[test]
    fn an_earlier_tentative_copy_wins() {
        let t = table();
        let key = colliding(1);
        plant(&t, &key, 0, ctrl::TENTATIVE);
        // The insert claims position 1, defers to position 0 and withdraws at once.
        assert_eq!(
            t.insert(&key, COLLIDING_HASH, 0, 0, never),
            Err(InsertError::Busy)
        );
        assert_eq!(state_at(&t, 1), ctrl::EMPTY);
        assert_eq!(state_at(&t, 0), ctrl::TENTATIVE);
        // Once position 0 is published, inserts find it.
        let slot = t.window(&key, COLLIDING_HASH).slot(0);
        let word = t.ctrl(slot).load(Relaxed);
        t.ctrl(slot)
            .store(ctrl::with_state(word, ctrl::VALID), SeqCst);
        let ins = t.insert(&key, COLLIDING_HASH, 0, 0, never).unwrap();
        assert_eq!((ins.handle.slot() as usize, ins.created), (slot, false));
        assert_eq!(t.value(ins.handle), Some(999));
    }

    #[test]
    fn a_reserved_slot_of_the_same_identity_is_waited_for() {
        let t = table();
        plant(&t, &colliding(2), 9, ctrl::RESERVED);
        assert_eq!(
            t.insert(&colliding(1), COLLIDING_HASH, 0, 0, never),
            Err(InsertError::Busy)
        );
        assert_eq!(state_at(&t, 0), ctrl::EMPTY);
    }

    #[test]
    fn copies_of_other_keys_or_identities_do_not_interfere() {
        let t = table();
        // A tentative copy of another key with the same identity, and a reserved slot of
        // another identity (another protocol).
        plant(&t, &colliding(2), 12, ctrl::TENTATIVE);
        let (udp, _) = FlowKey::new(1, v4(3), v4(4), 17, 1, 2, Stickiness::FiveTuple, false);
        plant(&t, &udp, 13, ctrl::RESERVED);
        let ins = t
            .insert(&colliding(1), COLLIDING_HASH, 0, 0, never)
            .unwrap();
        assert!(ins.created);
        assert_eq!(state_at(&t, 0), ctrl::VALID);
    }

    #[test]
    fn burst_lookups_match_single_lookups() {
        let t = table();
        // Ordinary keys, and colliding ones of which some sit in the second group.
        let mut keys: Vec<FlowKey> = (0..60).map(tcp).collect();
        let mut hashes: Vec<u64> = keys.iter().map(FlowKey::hash).collect();
        for n in 0..12 {
            keys.push(colliding(1000 + n));
            hashes.push(COLLIDING_HASH);
        }
        for (i, (k, h)) in keys.iter().zip(&hashes).enumerate() {
            if i % 3 != 0 {
                t.insert(k, *h, 0, 0, never).unwrap();
            }
        }
        let mut found = vec![None; keys.len()];
        t.lookup_burst(&keys, &hashes, &mut found);
        assert!(keys.len() > 2 * FlowTable::BURST);
        for (i, (k, h)) in keys.iter().zip(&hashes).enumerate() {
            assert_eq!(found[i], t.lookup(k, *h), "key {i}");
            assert_eq!(found[i].is_some(), i % 3 != 0, "key {i}");
        }
        // Only the shortest length is processed.
        let mut short = vec![None; 5];
        t.lookup_burst(&keys, &hashes[..3], &mut short);
        assert_eq!(&short[..3], &found[..3]);
        assert_eq!(&short[3..], &[None, None]);
    }

    #[test]
    fn insert_errors_display() {
        assert!(InsertError::Full.to_string().contains("full"));
        assert!(InsertError::Busy.to_string().contains("concurrent"));
        let _ = Direction::Forward;
    }
}
