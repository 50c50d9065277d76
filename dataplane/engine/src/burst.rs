//! What the pipelines' burst forms share: the chunk they stage at a time and the flow-table
//! lookups of a chunk.
//!
//! [`Gateway::process_burst`](crate::gateway::Gateway::process_burst) and
//! [`Appliance::process_burst`](crate::appliance::Appliance::process_burst) work in three
//! stages over [`CHUNK`] packets at a time: every packet is parsed and its flow key hashed,
//! then every key is looked up at once ([`FlowTable::lookup_burst`], so the cache and TLB
//! misses of the table overlap instead of following one another), then every packet is
//! finished in order.
//!
//! The burst forms answer exactly as the one-packet forms called in order would. Parsing
//! reads only the packet and the snapshot, so doing it early changes nothing; a lookup does
//! read the table, which a packet finished earlier in the chunk may have changed (a new flow,
//! a reset, an eviction). So a staged answer is used only while it is still the answer a
//! lookup would give now: a handle still live is the key's entry (a key has at most one live
//! entry), and anything else — a miss, or a handle gone stale — is looked up again. Both are
//! rare on the established path, which is what the early lookup is for.

use core::fmt;

use crate::flow::FlowKey;
use crate::flow_table::{FlowTable, Handle};
use crate::local::GeneveIn;
use crate::parse::{IpFlow, LinkLayer};

/// Starts loading cache lines before the pipeline reads them: the platform's prefetch
/// instruction, which the burst forms issue for every flow of a chunk before they read any.
///
/// Safe Rust has no prefetch (the intrinsics take raw pointers, so calling them is `unsafe`,
/// which the engine forbids); the runtime passes the DPDK crate's implementation, and
/// everything else [`NoPrefetch`], with which the burst forms still overlap their misses the
/// way safe code can: by loading a whole chunk's control lines before using any. A real
/// prefetch does better because it retires at once, where a load that misses holds up the
/// core's reorder window until its line arrives.
pub trait Prefetch {
    /// Whether [`Prefetch::prefetch`] issues real prefetches. Without them the burst forms
    /// fall back on what safe code can do: loading the lines they will need (and waiting for
    /// them) a stage early.
    const ISSUES_PREFETCHES: bool = true;

    /// Starts loading the cache line holding `address` (an address inside one of the engine's
    /// own tables) for reading, without waiting for it. It must never fault and must change
    /// nothing a program can observe but time.
    fn prefetch(&self, address: usize);
}

/// No prefetch instructions: the burst forms of the engine alone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPrefetch;

impl Prefetch for NoPrefetch {
    const ISSUES_PREFETCHES: bool = false;

    #[inline(always)]
    fn prefetch(&self, _address: usize) {}
}

/// The flow-table size (bytes, [`FlowTable::memory_bytes`]) above which the gateway's burst
/// form pays for itself.
///
/// Staging costs every packet some cycles (its facts go through memory between the stages);
/// the overlap saves a cache or TLB miss per packet. A table this small stays in a core's L2
/// cache, where a lookup misses only L1 and there is little to overlap. Measured with one
/// DPDK worker (64-byte frames, the perf lab's `gateway-64b-1k`), the burst form was about
/// 15 % slower with 1 K flows in a 128 KiB table before stage one wrote its results in place,
/// and is even with it since (10.77 against 10.84 Mpps, medians of five alternating runs);
/// it was 35–50 % faster with 64 K flows in 8 MiB. The runtime processes the gateway's bursts
/// one packet at a time up to this size.
pub const STAGING_PAYS_ABOVE_BYTES: usize = 1 << 20;

/// The same threshold for the appliance: none. Its burst form measured faster even with the
/// smallest tables: 9.34 against 8.88 Mpps with 1 K flows (perf lab, `appliance-64b-1k`,
/// medians of five alternating runs), and 65 against 74 ns per packet with 1 K flows in the
/// pipeline benchmark.
pub const APPLIANCE_STAGING_PAYS_ABOVE_BYTES: usize = 0;

/// Packets a burst form stages at a time: the flow table's own burst width, and the
/// runtime's default burst size. Larger bursts are processed chunk by chunk.
pub const CHUNK: usize = FlowTable::BURST;

/// What stage one found in each frame of a chunk, for stage three, by the frame's index in
/// the chunk; `S` is the pipeline's own summary of a frame.
///
/// A pipeline keeps one (allocated when it is made) and reuses it for every chunk: on the
/// stack, these arrays would have to be initialized on every burst, some 8 KiB of stores
/// before the first frame is read.
pub(crate) struct Chunk<S> {
    /// The frames' link layers.
    pub(crate) links: [LinkLayer; CHUNK],
    /// The flows of their IP packets (the inner packets of GENEVE).
    pub(crate) flows: [IpFlow; CHUNK],
    /// The GENEVE headers of GENEVE frames.
    pub(crate) geneves: [GeneveIn; CHUNK],
    /// The pipeline's summary of each frame.
    pub(crate) staged: [S; CHUNK],
    /// The frames' lengths as received.
    pub(crate) rx_lens: [usize; CHUNK],
    /// The chunk's flow-table lookups.
    pub(crate) lookups: Lookups,
}

impl<S: Copy> Chunk<S> {
    /// A chunk with every summary `empty`.
    pub(crate) fn new(empty: S) -> Box<Self> {
        Box::new(Chunk {
            links: [LinkLayer::UNREAD; CHUNK],
            flows: [IpFlow::UNREAD; CHUNK],
            geneves: [GeneveIn::UNREAD; CHUNK],
            staged: [empty; CHUNK],
            rx_lens: [0; CHUNK],
            lookups: Lookups::new(),
        })
    }
}

impl<S> fmt::Debug for Chunk<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Scratch space: its contents mean nothing between bursts.
        f.write_str("Chunk")
    }
}

/// The flow-table lookups of one chunk, in the order they were staged.
pub(crate) struct Lookups {
    /// The keys, in [`FlowTable::lookup_burst`]'s layout.
    keys: [FlowKey; CHUNK],
    /// Their hashes.
    hashes: [u64; CHUNK],
    /// What the lookups found, once [`Lookups::run`] ran.
    found: [Option<Handle>; CHUNK],
    /// How many are staged.
    len: usize,
}

impl Lookups {
    /// No lookups staged.
    pub(crate) const fn new() -> Self {
        Lookups {
            keys: [FlowKey::from_words([0; 5], 0); CHUNK],
            hashes: [0; CHUNK],
            found: [None; CHUNK],
            len: 0,
        }
    }

    /// Forgets the staged lookups (the arrays are reused, not cleared).
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Stages the lookup of `key` and returns its index. At most [`CHUNK`] lookups are staged
    /// between two [`Lookups::clear`]s: a chunk holds no more packets.
    #[inline]
    pub(crate) fn push(&mut self, key: FlowKey, hash: u64) -> usize {
        let index = self.len;
        self.keys[index] = key;
        self.hashes[index] = hash;
        self.len += 1;
        index
    }

    /// Looks every staged key up at once, prefetching with `prefetch` what the lookups read.
    #[inline]
    pub(crate) fn run<F: Prefetch>(&mut self, table: &FlowTable, prefetch: &F) {
        let n = self.len;
        table.lookup_burst_with(
            &self.keys[..n],
            &self.hashes[..n],
            &mut self.found[..n],
            prefetch,
        );
    }

    /// The staged key at `index`.
    #[inline]
    pub(crate) fn key(&self, index: usize) -> &FlowKey {
        &self.keys[index]
    }

    /// The staged hash at `index`.
    #[inline]
    pub(crate) fn hash(&self, index: usize) -> u64 {
        self.hashes[index]
    }

    /// What [`FlowTable::lookup`] of the key at `index` answers now: the staged handle while
    /// it is still live, else a fresh lookup (see the module documentation).
    #[inline]
    pub(crate) fn current(&self, table: &FlowTable, index: usize) -> Option<Handle> {
        match self.found[index] {
            Some(handle) if table.is_live(handle) => Some(handle),
            _ => table.lookup(&self.keys[index], self.hashes[index]),
        }
    }
}
