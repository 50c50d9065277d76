//! The bit layout of a slot's control word, the single atomic that says what a slot holds.
//!
//! Every state change of a slot is one atomic write or compare-and-swap of this word, and every
//! reader decides from one load of it whether the rest of the slot is worth reading, so its
//! layout is kept in one place:
//!
//! ```text
//!  63                32 31      24 23               2 1    0
//! +--------------------+----------+------------------+------+
//! | tag (hash >> 32)   | protocol | generation (22)  | state|
//! +--------------------+----------+------------------+------+
//! ```
//!
//! The tag and protocol form the slot's *identity*: a lookup compares the full key only when
//! they match. The generation changes every time the slot becomes empty, which is what makes
//! stale handles and cookies miss and what lets a reader detect (seqlock-style) that the slot
//! changed while it read the key.

/// The two state bits.
pub(super) const STATE_MASK: u64 = 0b11;

/// Nobody owns the slot.
pub(super) const EMPTY: u64 = 0;
/// An inserter owns the slot and is writing its key; nothing but the identity is readable.
pub(super) const RESERVED: u64 = 1;
/// The key is written and its inserter is checking the window for a concurrent insert of the
/// same key. Lookups ignore the slot; concurrent inserters of the same key take it into account.
pub(super) const TENTATIVE: u64 = 2;
/// The slot holds a live flow; only removal, expiry or eviction changes it.
pub(super) const VALID: u64 = 3;

/// How far the generation is shifted.
const GENERATION_SHIFT: u32 = 2;
/// How many bits of generation a slot keeps; enough for every bit a cookie can carry
/// (32 minus the 10 index bits of the smallest table).
pub(super) const GENERATION_BITS: u32 = 22;
/// The generation's bits, unshifted.
pub(super) const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;

/// How far the protocol is shifted.
const PROTOCOL_SHIFT: u32 = 24;
/// How far the tag is shifted.
const TAG_SHIFT: u32 = 32;
/// The identity's bits (protocol and tag), in place.
pub(super) const IDENTITY_MASK: u64 = !0 << PROTOCOL_SHIFT;

/// The state of a control word.
pub(super) const fn state(ctrl: u64) -> u64 {
    ctrl & STATE_MASK
}

/// The generation of a control word.
pub(super) const fn generation(ctrl: u64) -> u32 {
    (ctrl >> GENERATION_SHIFT) as u32 & GENERATION_MASK
}

/// The protocol stored in a control word's identity.
pub(super) const fn protocol(ctrl: u64) -> u8 {
    (ctrl >> PROTOCOL_SHIFT) as u8
}

/// The identity (protocol and tag, in place) of a flow with this protocol and hash.
pub(super) const fn identity(protocol: u8, hash: u64) -> u64 {
    (hash >> TAG_SHIFT) << TAG_SHIFT | (protocol as u64) << PROTOCOL_SHIFT
}

/// An empty control word of the given generation.
pub(super) const fn empty(generation: u32) -> u64 {
    ((generation & GENERATION_MASK) as u64) << GENERATION_SHIFT
}

/// The empty control word that follows an occupied one: same slot, next generation.
pub(super) const fn emptied(ctrl: u64) -> u64 {
    empty(generation(ctrl).wrapping_add(1))
}

/// An occupied control word: a state, a generation and an identity.
pub(super) const fn occupied(state: u64, generation: u32, identity: u64) -> u64 {
    identity | empty(generation) | state
}

/// The same control word in another state.
pub(super) const fn with_state(ctrl: u64, state: u64) -> u64 {
    ctrl & !STATE_MASK | state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let identity = identity(0xab, 0x1234_5678_9abc_def0);
        let word = occupied(VALID, GENERATION_MASK, identity);
        assert_eq!(state(word), VALID);
        assert_eq!(generation(word), GENERATION_MASK);
        assert_eq!(protocol(word), 0xab);
        assert_eq!(word & IDENTITY_MASK, identity);
        assert_eq!(word >> 32, 0x1234_5678);
        assert_eq!(generation(with_state(word, RESERVED)), GENERATION_MASK);
        assert_eq!(state(with_state(word, RESERVED)), RESERVED);
    }

    #[test]
    fn emptying_bumps_the_generation_and_wraps() {
        let word = occupied(VALID, 5, identity(6, u64::MAX));
        assert_eq!(emptied(word), empty(6));
        assert_eq!(state(emptied(word)), EMPTY);
        assert_eq!(emptied(empty(GENERATION_MASK)), empty(0));
    }
}
