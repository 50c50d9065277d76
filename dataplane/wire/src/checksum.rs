//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! This module exists so that every header computes, verifies and patches checksums the same
//! way. Its functions work on *folded sums*: a folded sum is the 16-bit one's-complement sum
//! of a sequence of big-endian 16-bit words, with all carries added back in. Sums of several
//! pieces are merged with [`combine`], and the value written into a header is the bitwise
//! complement of the final sum (`!sum`). A buffer whose checksum field is correct sums to
//! `0xffff`.
//!
//! Guarantees: [`data`] never returns `0` for input that contains a non-zero byte (so a
//! computed checksum is `0x0000` only when it must be, never by an accident of representation),
//! and [`update`]/[`update_u32`] give the same field value as a full recomputation whenever
//! the covered data contains at least one non-zero word, which every real header does.

use core::net::{Ipv4Addr, Ipv6Addr};

use crate::ip::IpProtocol;

/// Folds a wide one's-complement accumulator into 16 bits, adding the carries back in.
///
/// Folding preserves "non-zero": a non-zero accumulator never folds to `0`.
fn fold(mut accumulator: u64) -> u16 {
    while accumulator > 0xffff {
        accumulator = (accumulator & 0xffff) + (accumulator >> 16);
    }
    accumulator as u16
}

/// Returns the folded one's-complement sum of `bytes`, read as big-endian 16-bit words.
///
/// An odd trailing byte is treated as the high byte of a word whose low byte is zero, as RFC
/// 1071 prescribes. The result is not complemented: write `!sum` (after [`combine`] with any
/// pseudo-header) into a checksum field.
///
/// The loop sums eight bytes at a time into a 64-bit accumulator with end-around carry; since
/// 2^64 is congruent to 1 modulo 2^16 − 1, that is the same sum as word-by-word addition.
pub fn data(bytes: &[u8]) -> u16 {
    let (quads, rest) = bytes.as_chunks::<8>();
    let mut accumulator: u64 = 0;
    for quad in quads {
        let (sum, carry) = accumulator.overflowing_add(u64::from_be_bytes(*quad));
        accumulator = sum + u64::from(carry);
    }
    // The accumulator may sit just below 2^64; fold it to 33 bits (2^32 is 1 modulo 0xffff)
    // so the at most four tail words below cannot overflow it.
    accumulator = (accumulator >> 32) + (accumulator & 0xffff_ffff);
    let (words, odd) = rest.as_chunks::<2>();
    for word in words {
        accumulator += u64::from(u16::from_be_bytes(*word));
    }
    if let [last] = odd {
        accumulator += u64::from(*last) << 8;
    }
    fold(accumulator)
}

/// Combines folded sums (from [`data`], the pseudo-header helpers, or plain 16-bit words)
/// into one folded sum.
pub fn combine(sums: &[u16]) -> u16 {
    let accumulator = sums.iter().map(|&sum| u64::from(sum)).sum::<u64>();
    fold(accumulator)
}

/// Returns the folded sum of the IPv4 pseudo-header used by UDP and TCP (RFC 768, RFC 9293):
/// source and destination address, zero, protocol, and the upper-layer length.
pub fn pseudo_header_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    combine(&[
        data(&src.octets()),
        data(&dst.octets()),
        u16::from(u8::from(protocol)),
        length,
    ])
}

/// Returns the folded sum of the IPv6 pseudo-header (RFC 8200 §8.1): source and destination
/// address, 32-bit upper-layer length, zero, next header.
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    combine(&[
        data(&src.octets()),
        data(&dst.octets()),
        (length >> 16) as u16,
        length as u16,
        u16::from(u8::from(next_header)),
    ])
}

/// Returns the new checksum field value after one 16-bit word covered by it changed from
/// `old_word` to `new_word`, using RFC 1624 equation 3: `HC' = ~(~HC + ~m + m')`.
///
/// `old_checksum` and the result are checksum *field* values (already complemented). Unlike
/// RFC 1141's equation, this one never produces `0xffff` where a full recomputation would
/// produce `0x0000`.
///
/// A word at an odd byte offset from the start of the checksummed data straddles two aligned
/// words; pass it byte-swapped (`u16::swap_bytes`) and the result is still exact, because the
/// one's-complement sum commutes with byte swapping (RFC 1071 §2(B)).
///
/// UDP callers must still map a result of `0x0000` to `0xffff`, and must not update a UDP
/// checksum of `0` (which means "no checksum" over IPv4).
pub fn update(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let sum = u64::from(!old_checksum) + u64::from(!old_word) + u64::from(new_word);
    !fold(sum)
}

/// Returns the new checksum field value after a 32-bit value covered by it (for example an
/// IPv4 address) changed from `old_value` to `new_value`; both halves are updated at once.
///
/// The 32-bit value must start at an even offset of the checksummed data, as IPv4 addresses
/// do in every header and pseudo-header.
pub fn update_u32(old_checksum: u16, old_value: u32, new_value: u32) -> u16 {
    let sum = u64::from(!old_checksum)
        + u64::from(!((old_value >> 16) as u16))
        + u64::from(!(old_value as u16))
        + u64::from((new_value >> 16) as u16)
        + u64::from(new_value as u16);
    !fold(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-at-a-time reference, written as plainly as possible.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            let word = u16::from(pair[0]) << 8 | pair.get(1).map_or(0, |&b| u16::from(b));
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    #[test]
    fn a_full_accumulator_keeps_the_tail_carry() {
        // Found by the `checksum` fuzz target: eight bytes that leave the 64-bit accumulator
        // just below 2^64, then a tail word whose carry was lost.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x79, 0x7e, 0x79];
        // 0xffff counts as zero, so the sum is 0xff79 + 0x7e79 folded: 0x7df3.
        assert_eq!(data(&bytes), 0x7df3);
        // Seven words of 0xffff (zero) and an odd byte padded to 0xff00.
        assert_eq!(data(&[0xff; 15]), 0xff00);
    }

    #[test]
    fn rfc1071_example_sum() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero_low_byte() {
        assert_eq!(data(&[0x12]), 0x1200);
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn data_matches_reference_at_every_length() {
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8 | 0x80).collect();
        for end in 0..bytes.len() {
            assert_eq!(
                data(&bytes[..end]),
                reference(&bytes[..end]),
                "length {end}"
            );
        }
    }

    #[test]
    fn all_ones_stays_negative_zero() {
        // A sum that is congruent to zero is represented as 0xffff, never 0.
        assert_eq!(data(&[0xff; 64]), 0xffff);
        assert_eq!(data(&[0x00, 0x01, 0xff, 0xfe]), 0xffff);
    }

    #[test]
    fn rfc1624_corner_case() {
        // RFC 1624's worked example: HC = 0xdd2f, m = 0x5555 changes to m' = 0x3285; the new
        // checksum is 0x0000, where RFC 1141's formula would have given 0xffff.
        assert_eq!(update(0xdd2f, 0x5555, 0x3285), 0x0000);
    }

    #[test]
    fn pseudo_header_v4_matches_manual_layout() {
        let src = Ipv4Addr::new(192, 168, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 0, 199);
        let manual = [192, 168, 0, 1, 192, 168, 0, 199, 0, 17, 0, 0x5f];
        assert_eq!(
            pseudo_header_v4(&src, &dst, IpProtocol::Udp, 0x5f),
            data(&manual)
        );
    }

    #[test]
    fn pseudo_header_v6_matches_manual_layout() {
        let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let mut manual = [0u8; 40];
        manual[..16].copy_from_slice(&src.octets());
        manual[16..32].copy_from_slice(&dst.octets());
        manual[32..36].copy_from_slice(&0x0001_0203u32.to_be_bytes());
        manual[39] = 6;
        assert_eq!(
            pseudo_header_v6(&src, &dst, IpProtocol::Tcp, 0x0001_0203),
            data(&manual)
        );
    }

    #[test]
    fn update_at_odd_offset_with_swapped_bytes() {
        let mut buf = [0x45, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc];
        let before = !data(&buf);
        let old = u16::from_be_bytes([buf[3], buf[4]]);
        buf[3] = 0xaa;
        buf[4] = 0x01;
        let new = u16::from_be_bytes([buf[3], buf[4]]);
        let patched = update(before, old.swap_bytes(), new.swap_bytes());
        assert_eq!(patched, !data(&buf));
    }
}
