//! Maglev consistent hashing of new flows onto targets (Eisenbud et al., "Maglev: A Fast and
//! Reliable Software Network Load Balancer", NSDI 2016, §3.4), and the per-zone views of a
//! target group that GWLB balances over.
//!
//! A gateway picks a target once per flow, when the flow is created, and the flow table pins
//! it from then on. The pick must be the same on every gateway node that has the same targets
//! and the same health view, because ECMP may send a flow's packets to any node and the nodes
//! share no state; it must move as few flows as possible when a target comes or goes; and it
//! must spread flows evenly. Maglev gives all three with an O(1) lookup in a flat table.
//!
//! What this module guarantees:
//!
//! - **Same input, same table, everywhere.** A [`MaglevTable`] depends only on the *set* of
//!   backend identities (their IPv4 addresses) and the table size: not on the order the caller
//!   lists them in, not on the machine, the process or the build. The per-backend permutation
//!   comes from fixed hash functions (see [`Backend`]), never from `RandomState`.
//! - **Balance.** Every backend owns either ⌊M/N⌋ or ⌈M/N⌉ of the M entries: the population
//!   runs in rounds in which each backend takes exactly one entry.
//! - **Small disruption.** Removing one of N backends moves its ≈ M/N entries and only a small
//!   fraction of the others (the tests measure it); adding it back restores the table exactly.
//! - **A cheap lookup.** [`MaglevTable::lookup`] is a multiply, a shift and one load of a `u16`;
//!   it never allocates and never fails except on an empty table.
//!
//! Tables are built on the control thread ([`MaglevTable::build`], [`build_view`]) and shipped
//! to workers inside a snapshot; workers only call [`MaglevTable::lookup`].
//!
//! Changing the hash functions, the population order or the way `lookup` maps a flow hash to
//! an entry reshuffles flows on every upgraded node. The golden tests pin all three; change
//! them only deliberately.

use core::fmt;
use core::net::Ipv4Addr;

mod hash;
mod zone;

#[cfg(test)]
mod tests;

pub use zone::{TargetInfo, TargetState, ZoneView, build_view};

/// The table size sluice uses: the prime 65 537, at least 100 × 300 targets (GWLB's quota of
/// targets per zone and per load balancer), which the paper recommends for small disruption.
pub const DEFAULT_TABLE_SIZE: usize = 65_537;

/// The largest table size [`MaglevTable::build`] accepts (2²⁴ entries, 32 MiB of `u16`s).
///
/// The bound keeps a mistyped size from allocating gigabytes and keeps the primality check
/// cheap; sizes sluice uses are far below it.
pub const MAX_TABLE_SIZE: usize = 1 << 24;

/// The most backends one table can hold: their indices are stored as `u16`, and `u16::MAX`
/// itself marks a free entry while the table is built.
pub const MAX_BACKENDS: usize = u16::MAX as usize;

/// A marker for an entry nobody has taken yet, used only while a table is populated.
const FREE: u16 = u16::MAX;

/// One backend (a GWLB target) as Maglev sees it: its identity and nothing else.
///
/// **The identity is the target's IPv4 address.** Its permutation through the table is
/// derived from the address alone, with two fixed hash functions: the first two outputs of
/// SplitMix64 seeded with the address as a big-endian `u32` give the offset (first output
/// mod M) and the skip (second output mod (M − 1), plus 1). So every gateway node that
/// registers the same target addresses builds the same table, whatever order its
/// configuration lists them in. GWLB targets carry no weight, so a backend has none either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// The target's address: its identity for hashing.
    pub ip: Ipv4Addr,
}

/// An immutable Maglev lookup table: M entries, each the index of a backend.
///
/// The indices are positions in the slice the table was built from (for [`build_view`], in
/// its `targets` slice), so the caller maps an index back to its own target record. They are
/// stable only together with that slice: rebuild the table whenever the slice changes.
#[derive(Clone, PartialEq, Eq)]
pub struct MaglevTable {
    /// The entries, indexed by a flow's slot; empty when the table has no backends.
    entries: Box<[u16]>,
    /// The table size M, a prime, kept even when `entries` is empty.
    size: usize,
    /// How many backends the table was built from.
    backends: usize,
}

/// Why a [`MaglevTable`] or a [`ZoneView`] could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The table size is not a prime, so a backend's permutation would not visit every entry.
    SizeNotPrime {
        /// The size that was asked for.
        size: usize,
    },
    /// The table size is above [`MAX_TABLE_SIZE`].
    SizeTooLarge {
        /// The size that was asked for.
        size: usize,
    },
    /// More backends than the table can hold: at most M − 1 and at most [`MAX_BACKENDS`].
    TooManyBackends {
        /// How many backends (or registered targets) were given.
        backends: usize,
        /// The most this table size allows.
        limit: usize,
    },
    /// Two backends (or registered targets) share one address, so the address would not
    /// identify one of them.
    DuplicateBackend {
        /// The address listed twice.
        ip: Ipv4Addr,
    },
}

/// One backend's walk through the table while it is populated: the position of its next
/// preferred entry and its stride, per the paper's `offset` and `skip`.
struct Cursor {
    /// The next entry this backend will try.
    next: usize,
    /// How far its preference list steps, in 1..M.
    skip: usize,
    /// The backend's index in the caller's slice, which is what the entries store.
    index: u16,
}

impl Backend {
    /// A backend identified by `ip`.
    #[must_use]
    pub const fn new(ip: Ipv4Addr) -> Self {
        Self { ip }
    }
}

impl MaglevTable {
    /// Builds the table of size `size` (a prime) over `backends`.
    ///
    /// Each entry holds an index into `backends`. The result depends only on the set of
    /// addresses and on `size`: the backends are sorted by address internally, and the
    /// population takes them round-robin in that order, each claiming the next free entry of
    /// its own permutation, until the table is full (NSDI 2016, §3.4, Pseudocode 1). An empty
    /// `backends` gives an empty table whose lookups return `None`.
    ///
    /// The cost is about M·ln M probes (under 2 ms for 300 backends at M = 65 537), and the
    /// only memory besides the table is one cursor per backend: permutations are walked, not
    /// materialised. Run it off the packet path.
    ///
    /// # Errors
    ///
    /// [`BuildError::SizeNotPrime`], [`BuildError::SizeTooLarge`], [`BuildError::TooManyBackends`]
    /// (as many backends as entries, or more than [`MAX_BACKENDS`]) and
    /// [`BuildError::DuplicateBackend`].
    pub fn build(backends: &[Backend], size: usize) -> Result<Self, BuildError> {
        check_size(size)?;
        let limit = (size - 1).min(MAX_BACKENDS);
        if backends.len() > limit {
            return Err(BuildError::TooManyBackends {
                backends: backends.len(),
                limit,
            });
        }
        let mut order: Vec<(Ipv4Addr, u16)> = backends
            .iter()
            .zip(0..=u16::MAX)
            .map(|(backend, index)| (backend.ip, index))
            .collect();
        order.sort_unstable();
        if let Some(pair) = order.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(BuildError::DuplicateBackend { ip: pair[0].0 });
        }
        if order.is_empty() {
            return Ok(Self {
                entries: Box::default(),
                size,
                backends: 0,
            });
        }

        let mut cursors: Vec<Cursor> = order
            .iter()
            .map(|&(ip, index)| {
                let (offset, skip) = hash::permutation(ip, size);
                Cursor {
                    next: offset,
                    skip,
                    index,
                }
            })
            .collect();
        let mut entries = vec![FREE; size].into_boxed_slice();
        let mut filled = 0;
        'populate: loop {
            for cursor in &mut cursors {
                let slot = cursor.claim(&entries, size);
                entries[slot] = cursor.index;
                filled += 1;
                if filled == size {
                    break 'populate;
                }
            }
        }
        Ok(Self {
            entries,
            size,
            backends: order.len(),
        })
    }

    /// The backend a new flow with hash `flow_hash` goes to, as an index into the slice the
    /// table was built from; `None` only when the table has no backends.
    ///
    /// Any 64-bit flow hash works, even one whose entropy sits in a few bits: the hash is
    /// first remixed with the SplitMix64 finaliser (a bijection, so distinct flows stay
    /// distinct), and the entry is chosen by multiply-high, `(mixed × M) >> 64`, which is as
    /// uniform as `mixed mod M` without a division.
    #[inline]
    #[must_use]
    pub fn lookup(&self, flow_hash: u64) -> Option<u16> {
        let mixed = u128::from(hash::mix64(flow_hash));
        let slot = (mixed * self.entries.len() as u128) >> 64;
        self.entries.get(slot as usize).copied()
    }

    /// The table size M.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// How many backends the table spreads flows over.
    #[must_use]
    pub const fn backend_count(&self) -> usize {
        self.backends
    }

    /// Whether the table has no backends, so every lookup returns `None`.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.backends == 0
    }

    /// The entries (M backend indices, or none for an empty table), for diagnostics such as
    /// counting how many entries each target owns.
    #[must_use]
    pub fn entries(&self) -> &[u16] {
        &self.entries
    }
}

impl fmt::Debug for MaglevTable {
    /// Summarises the table; its M entries would drown any log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaglevTable")
            .field("size", &self.size)
            .field("backends", &self.backends)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SizeNotPrime { size } => {
                write!(f, "Maglev table size {size} is not a prime")
            }
            Self::SizeTooLarge { size } => write!(
                f,
                "Maglev table size {size} is above the maximum of {MAX_TABLE_SIZE}"
            ),
            Self::TooManyBackends { backends, limit } => write!(
                f,
                "{backends} backends do not fit a Maglev table that holds at most {limit}"
            ),
            Self::DuplicateBackend { ip } => {
                write!(f, "target {ip} is listed more than once")
            }
        }
    }
}

impl core::error::Error for BuildError {}

impl Cursor {
    /// Walks this backend's permutation to its next free entry and returns it, leaving the
    /// cursor on the entry after it.
    ///
    /// Every entry the cursor has passed is taken, and taken entries never free up, so the
    /// free entry that must exist (the table is not full) lies ahead; M prime and skip in
    /// 1..M make the permutation visit every entry, so the walk ends.
    fn claim(&mut self, entries: &[u16], size: usize) -> usize {
        loop {
            let slot = self.next;
            self.next += self.skip;
            if self.next >= size {
                self.next -= size;
            }
            if entries[slot] == FREE {
                return slot;
            }
        }
    }
}

/// Checks that `size` is a prime no larger than [`MAX_TABLE_SIZE`].
fn check_size(size: usize) -> Result<(), BuildError> {
    if size > MAX_TABLE_SIZE {
        return Err(BuildError::SizeTooLarge { size });
    }
    if !is_prime(size) {
        return Err(BuildError::SizeNotPrime { size });
    }
    Ok(())
}

/// Trial division, which is plenty for sizes up to [`MAX_TABLE_SIZE`] (at most 2 048 odd
/// divisors).
fn is_prime(n: usize) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut divisor = 3;
    while divisor * divisor <= n {
        if n.is_multiple_of(divisor) {
            return false;
        }
        divisor += 2;
    }
    true
}
