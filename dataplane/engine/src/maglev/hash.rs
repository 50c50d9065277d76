//! The fixed hash functions behind Maglev's tables: the per-backend permutation and the remix
//! of a flow hash before it picks an entry.
//!
//! Both are SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; the generator `java.util.SplittableRandom` and Vigna's xoshiro
//! seeding use): pure integer arithmetic on fixed, published constants, with no key, no
//! `RandomState`, no dependence on the platform's endianness or word size. Their outputs are
//! therefore the same on every machine and in every version of sluice, which is what lets
//! independent gateway nodes agree on a target. They are pinned by the golden tests; changing
//! them reshuffles flows in production.

use core::net::Ipv4Addr;

/// SplitMix64's increment, ⌊2⁶⁴/φ⌋ made odd.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser (Stafford's "Mix13" variant of MurmurHash3's `fmix64`): a bijection
/// on `u64` in which every input bit affects every output bit.
#[inline]
pub(super) const fn mix64(value: u64) -> u64 {
    let mut z = value;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The Maglev permutation of the backend at `ip` in a table of prime size `size`: its
/// `(offset, skip)`, with offset in 0..size and skip in 1..size.
///
/// SplitMix64 is seeded with the address read as a big-endian `u32` (10.0.0.1 is
/// 0x0A00_0001); its first output mod `size` is the offset and its second output
/// mod (`size` − 1), plus 1, is the skip. Consecutive outputs are independent, and the offset
/// of one address never equals the raw skip of another, since the two draw on disjoint
/// generator states.
pub(super) fn permutation(ip: Ipv4Addr, size: usize) -> (usize, usize) {
    let seed = u64::from(ip.to_bits());
    let first = mix64(seed.wrapping_add(GAMMA));
    let second = mix64(seed.wrapping_add(GAMMA.wrapping_mul(2)));
    let size = size as u64;
    let offset = first % size;
    let skip = second % (size - 1) + 1;
    (offset as usize, skip as usize)
}
