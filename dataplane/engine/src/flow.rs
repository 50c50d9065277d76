//! Flow keys: what makes two packets "the same flow" for GWLB, and the stable hash of a flow.
//!
//! This module exists because three parts of the gateway must agree on a flow's identity: the
//! flow table (which finds the flow's entry), Maglev (which picks the flow's target from the
//! hash) and the encapsulation (which derives the outer UDP source port from the hash). It
//! follows GWLB's stickiness modes (`gwlb-spec.md` §2.1): the 5-tuple for TCP and UDP, the
//! 3-tuple (source IP, destination IP, protocol) for every other protocol and for IP
//! fragments, and the 3- or 2-tuple for all traffic when stickiness asks for it.
//!
//! Guarantees:
//!
//! - Symmetry: both directions of a flow produce the same [`FlowKey`] (the two endpoints are
//!   stored in a canonical order), and [`FlowKey::new`] reports which [`Direction`] the packet
//!   travels in.
//! - Scoping: the key carries the endpoint attachment's index, so identical tuples behind
//!   different endpoints (overlapping client address ranges) are different flows.
//! - Stability: [`FlowKey::hash`] is a fixed function of the key's bytes, with fixed constants,
//!   and gives the same value on every machine, build and version of sluice. Several gateway
//!   nodes with the same configuration must pick the same target for the same flow, and an
//!   upgrade must not move established flows; a golden test pins the values. Changing the
//!   function, its constants or the key's layout is a breaking change of the data plane.
//!
//! The hash is not keyed, so it is not a defence against hash flooding: anyone who knows it
//! can craft colliding flows. It only has to spread honest traffic well.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::parse::IpFlow;

/// The IP protocol number of TCP.
const PROTOCOL_TCP: u8 = 6;
/// The IP protocol number of UDP.
const PROTOCOL_UDP: u8 = 17;

/// The first port of the IANA dynamic (ephemeral) range, where outer source ports are chosen.
pub const ENTROPY_PORT_MIN: u16 = 49152;

/// Which fields of a packet make up its flow, after GWLB's `stickiness.type`.
///
/// Whatever the mode, the key is symmetric: both directions of a flow map to the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stickiness {
    /// Source IP, destination IP, protocol and both ports for TCP and UDP; other protocols and
    /// IP fragments fall back to the 3-tuple. GWLB's default (`stickiness.enabled = false`).
    #[default]
    FiveTuple,
    /// Source IP, destination IP and protocol (`source_ip_dest_ip_proto`).
    ThreeTuple,
    /// Source IP and destination IP only (`source_ip_dest_ip`).
    TwoTuple,
}

/// Which way a packet travels relative to its flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The packet's source is the key's first endpoint.
    Forward,
    /// The packet's source is the key's second endpoint.
    Reverse,
}

/// The identity of a flow: the endpoint attachment it arrived on and its canonical tuple.
///
/// Addresses are kept as 16 bytes (IPv4 as the IPv4-mapped IPv6 address `::ffff:a.b.c.d`), and
/// the two (address, port) endpoints are stored smaller first, so a packet and its reply give
/// the same key. Fields that the stickiness mode ignores are stored as zero. The type is
/// deliberately not `Hash`: [`FlowKey::hash`] is the only hash of a flow, so that every part of
/// sluice (and every node) uses the same one.
#[derive(Clone, Copy)]
pub struct FlowKey {
    /// The key packed into the words the flow table stores: the first address (high, low
    /// 64 bits), the second address (high, low), then `scope << 32 | first_port << 16 |
    /// second_port`. Addresses are read big-endian, so comparing words compares addresses.
    words: [u64; 5],
    /// The IP protocol number, or 0 in 2-tuple mode. Held in a full word although it fits a
    /// byte: the hash reads it as a wider load, and a wide load of a just-stored byte cannot
    /// be served from the store buffer (a stall on every packet).
    protocol: u64,
}

impl Direction {
    /// The opposite direction.
    #[must_use]
    pub const fn reverse(self) -> Self {
        match self {
            Self::Forward => Self::Reverse,
            Self::Reverse => Self::Forward,
        }
    }
}

impl FlowKey {
    /// Builds the key of a packet and says which direction the packet travels in.
    ///
    /// `scope` is the index of the endpoint attachment the flow belongs to. Ports are ignored
    /// (stored as zero) unless the mode is [`Stickiness::FiveTuple`], the protocol is TCP (6)
    /// or UDP (17) and the packet is not an IP fragment; `is_fragment` should be true for every
    /// fragment of a datagram, the first one included, so that all its pieces share a key. The
    /// protocol is ignored in [`Stickiness::TwoTuple`] mode. The endpoint with the smaller
    /// (address, port) pair becomes the first one; when both are equal the direction is
    /// [`Direction::Forward`].
    #[expect(
        clippy::too_many_arguments,
        reason = "the arguments are the packet's fields one to one; a struct would only rename them"
    )]
    #[must_use]
    // Always inlined (it is small: the general case is out of line) so that the key is built in
    // the caller's registers; returned from a call, its words come back through memory and are
    // re-read with wider loads than the stores that wrote them, which stalls.
    #[inline(always)]
    pub fn new(
        scope: u32,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
        stickiness: Stickiness,
        is_fragment: bool,
    ) -> (Self, Direction) {
        let (protocol, src_port, dst_port) =
            kept(protocol, src_port, dst_port, stickiness, is_fragment);
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                Self::new_v4(scope, src, dst, protocol, src_port, dst_port)
            }
            _ => Self::new_mapped(scope, src, dst, protocol, src_port, dst_port),
        }
    }

    /// [`FlowKey::new`] of the flow the pipelines read from a packet.
    ///
    /// The addresses are matched where they are, not copied out first: an address is written
    /// as a tag byte and four (or sixteen) address bytes, and a copy of the whole `IpAddr`
    /// would re-read them with one wider load, which the store buffer cannot serve (a stall
    /// on every packet, which the compiler left in or took out depending on what else it
    /// inlined).
    #[inline(always)]
    pub(crate) fn of_flow(scope: u32, flow: &IpFlow, stickiness: Stickiness) -> (Self, Direction) {
        let (protocol, src_port, dst_port) = kept(
            u8::from(flow.protocol),
            flow.src_port,
            flow.dst_port,
            stickiness,
            flow.is_fragment,
        );
        match (&flow.src, &flow.dst) {
            (&IpAddr::V4(src), &IpAddr::V4(dst)) => {
                Self::new_v4(scope, src, dst, protocol, src_port, dst_port)
            }
            (&src, &dst) => Self::new_mapped(scope, src, dst, protocol, src_port, dst_port),
        }
    }

    /// [`FlowKey::new`] for any two addresses, with the ports and protocol already reduced to
    /// what the stickiness keeps.
    ///
    /// Kept out of line so that [`FlowKey::new`] stays small enough to inline into the packet
    /// path, where the IPv4 key is then built in registers instead of returned through memory.
    #[inline(never)]
    fn new_mapped(
        scope: u32,
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
    ) -> (Self, Direction) {
        let src = (mapped(src), src_port);
        let dst = (mapped(dst), dst_port);
        let (first, second, direction) = if src <= dst {
            (src, dst, Direction::Forward)
        } else {
            (dst, src, Direction::Reverse)
        };
        let key = Self {
            words: [
                (first.0 >> 64) as u64,
                first.0 as u64,
                (second.0 >> 64) as u64,
                second.0 as u64,
                u64::from(scope) << 32 | u64::from(first.1) << 16 | u64::from(second.1),
            ],
            protocol: u64::from(protocol),
        };
        (key, direction)
    }

    /// [`FlowKey::new`] for two IPv4 endpoints, with the ports and protocol already reduced
    /// to what the stickiness keeps: the same key, without 128-bit arithmetic.
    ///
    /// An IPv4-mapped address is `::ffff:0:0` plus the IPv4 address, so its high word is 0,
    /// its low word `0xffff << 32 | address`, and ordering mapped (address, port) pairs is
    /// ordering `address << 16 | port`.
    #[inline]
    fn new_v4(
        scope: u32,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        src_port: u16,
        dst_port: u16,
    ) -> (Self, Direction) {
        const MAPPED: u64 = 0xffff << 32;
        let src = u64::from(src.to_bits()) << 16 | u64::from(src_port);
        let dst = u64::from(dst.to_bits()) << 16 | u64::from(dst_port);
        let (first, second, direction) = if src <= dst {
            (src, dst, Direction::Forward)
        } else {
            (dst, src, Direction::Reverse)
        };
        let key = Self {
            words: [
                0,
                MAPPED | first >> 16,
                0,
                MAPPED | second >> 16,
                u64::from(scope) << 32 | (first & 0xffff) << 16 | second & 0xffff,
            ],
            protocol: u64::from(protocol),
        };
        (key, direction)
    }

    /// The index of the endpoint attachment the flow belongs to.
    #[must_use]
    pub const fn scope(&self) -> u32 {
        (self.words[4] >> 32) as u32
    }

    /// The first endpoint's address (the smaller endpoint). IPv4-mapped addresses come back
    /// as IPv4.
    #[must_use]
    pub fn first_addr(&self) -> IpAddr {
        unmapped(u128::from(self.words[0]) << 64 | u128::from(self.words[1]))
    }

    /// The second endpoint's address. IPv4-mapped addresses come back as IPv4.
    #[must_use]
    pub fn second_addr(&self) -> IpAddr {
        unmapped(u128::from(self.words[2]) << 64 | u128::from(self.words[3]))
    }

    /// The first endpoint's port, or 0 when the key has no ports.
    #[must_use]
    pub const fn first_port(&self) -> u16 {
        (self.words[4] >> 16) as u16
    }

    /// The second endpoint's port, or 0 when the key has no ports.
    #[must_use]
    pub const fn second_port(&self) -> u16 {
        self.words[4] as u16
    }

    /// The IP protocol number, or 0 when the key ignores it (2-tuple mode).
    #[must_use]
    pub const fn protocol(&self) -> u8 {
        self.protocol as u8
    }

    /// The (source, destination) endpoints, as (address, port), of a packet of this flow that
    /// travels in `direction`; for example to build a TCP reset towards either side.
    #[must_use]
    pub fn endpoints(&self, direction: Direction) -> ((IpAddr, u16), (IpAddr, u16)) {
        let first = (self.first_addr(), self.first_port());
        let second = (self.second_addr(), self.second_port());
        match direction {
            Direction::Forward => (first, second),
            Direction::Reverse => (second, first),
        }
    }

    /// The flow's stable 64-bit hash, used by the flow table and by Maglev.
    ///
    /// The function is fixed forever (see the module documentation): three independent
    /// wyhash-style folded 64×64→128-bit multiplications over the five key words and the
    /// protocol, each operand masked with a fixed secret, combined by one more fold and
    /// finished with the SplitMix64 finaliser so that every output bit depends on every input
    /// bit. The folds xor their operands back into the product ("condom" mode of wyhash), so an
    /// operand that happens to equal its secret does not erase the other operand. Because the
    /// key is canonical, both directions of a flow hash alike.
    #[must_use]
    #[inline]
    pub const fn hash(&self) -> u64 {
        let [w0, w1, w2, w3, w4] = self.words;
        let x = fold(w0 ^ SECRET[0], w1 ^ SECRET[1]);
        let y = fold(w2 ^ SECRET[2], w3 ^ SECRET[3]);
        let tail = self.protocol << 56 | KEY_LEN;
        let z = fold(w4 ^ SECRET[4], tail ^ SECRET[0]);
        finalise(fold(x ^ SECRET[1], y ^ z.rotate_left(32)))
    }

    /// The outer UDP source port for this flow's GENEVE packets: the same for both directions
    /// and on every node, in the ephemeral range 49152–65535, for ECMP entropy in the underlay.
    #[must_use]
    pub const fn entropy_port(&self) -> u16 {
        entropy_port_for_hash(self.hash())
    }

    /// The key's packed words, as the flow table stores them.
    pub(crate) const fn words(&self) -> &[u64; 5] {
        &self.words
    }

    /// Rebuilds a key from words written by [`FlowKey::words`] and its protocol.
    pub(crate) const fn from_words(words: [u64; 5], protocol: u8) -> Self {
        Self {
            words,
            protocol: protocol as u64,
        }
    }
}

/// The protocol and ports a key keeps under `stickiness` (see [`FlowKey::new`]).
#[inline(always)]
const fn kept(
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    stickiness: Stickiness,
    is_fragment: bool,
) -> (u8, u16, u16) {
    let keeps_ports = matches!(stickiness, Stickiness::FiveTuple)
        && !is_fragment
        && (protocol == PROTOCOL_TCP || protocol == PROTOCOL_UDP);
    let (src_port, dst_port) = if keeps_ports {
        (src_port, dst_port)
    } else {
        (0, 0)
    };
    let protocol = if matches!(stickiness, Stickiness::TwoTuple) {
        0
    } else {
        protocol
    };
    (protocol, src_port, dst_port)
}

/// The fixed secrets of [`FlowKey::hash`]: wyhash's default secret (final version 4.2), plus
/// its seed constant. Never change them: doing so reshuffles every flow in production.
const SECRET: [u64; 5] = [
    0x2d35_8dcc_aa6c_78a5,
    0x8bb8_4b93_962e_acc9,
    0x4b33_a62e_d433_d4a3,
    0x4d5a_2da5_1de1_aa47,
    0xa076_1d64_78bd_642f,
];

/// The number of meaningful key bytes (two 16-byte addresses, scope, two ports, protocol),
/// mixed in as a length the way wyhash does.
const KEY_LEN: u64 = 41;

/// Multiplies two words to 128 bits and folds the halves together with both operands.
#[inline]
const fn fold(a: u64, b: u64) -> u64 {
    let product = (a as u128) * (b as u128);
    a ^ b ^ (product as u64) ^ ((product >> 64) as u64)
}

/// The SplitMix64 finaliser: a bijection with full avalanche.
#[inline]
const fn finalise(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The outer UDP source port that [`FlowKey::entropy_port`] derives from a flow hash: the top
/// 14 bits of the hash on top of 49152, so always in 49152–65535.
///
/// Exposed so that a caller holding the hash already (it needs it for Maglev) does not hash
/// twice.
#[must_use]
pub const fn entropy_port_for_hash(hash: u64) -> u16 {
    ENTROPY_PORT_MIN | (hash >> 50) as u16
}

/// An address as 128 bits, IPv4 as IPv4-mapped IPv6.
fn mapped(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The inverse of [`mapped`]: an IPv4-mapped address becomes IPv4 again.
fn unmapped(bits: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(bits);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

impl fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowKey")
            .field("scope", &self.scope())
            .field("first", &(self.first_addr(), self.first_port()))
            .field("second", &(self.second_addr(), self.second_port()))
            .field("protocol", &self.protocol())
            .finish()
    }
}

impl PartialEq for FlowKey {
    /// Compares all words at once without branching; the derived comparison of the word
    /// array calls `memcmp`, which costs more than the rest of a flow-table lookup.
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .words
            .iter()
            .zip(&other.words)
            .fold(0, |diff, (a, b)| diff | (a ^ b));
        diff == 0 && self.protocol == other.protocol
    }
}

impl Eq for FlowKey {}

impl Default for FlowKey {
    /// The all-zero key: scope 0, `::` to `::`, no ports, protocol 0.
    fn default() -> Self {
        Self::from_words([0; 5], 0)
    }
}

#[cfg(test)]
mod tests {
    use core::net::Ipv4Addr;

    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    fn key(
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        ports: (u16, u16),
        mode: Stickiness,
    ) -> (FlowKey, Direction) {
        FlowKey::new(7, src, dst, protocol, ports.0, ports.1, mode, false)
    }

    #[test]
    fn both_directions_give_the_same_key_and_opposite_directions() {
        let cases = [
            (v4(10, 0, 0, 1), v4(192, 168, 1, 2)),
            (v4(192, 168, 1, 2), v4(10, 0, 0, 1)),
            (v6("2001:db8::1"), v6("2001:db8::2")),
            (v6("fe80::2"), v6("2001:db8::1")),
        ];
        for (a, b) in cases {
            for mode in [
                Stickiness::FiveTuple,
                Stickiness::ThreeTuple,
                Stickiness::TwoTuple,
            ] {
                for protocol in [6, 17, 1, 58, 47] {
                    let (k1, d1) = key(a, b, protocol, (40000, 443), mode);
                    let (k2, d2) = key(b, a, protocol, (443, 40000), mode);
                    assert_eq!(k1, k2, "{a} {b} {protocol} {mode:?}");
                    assert_eq!(k1.hash(), k2.hash());
                    assert_eq!(d1, d2.reverse());
                    assert_eq!(k1.endpoints(d1).0.0, a);
                    assert_eq!(k2.endpoints(d2).0.0, b);
                }
            }
        }
    }

    #[test]
    fn canonical_order_compares_address_then_port() {
        let (k, d) = key(
            v4(10, 0, 0, 2),
            v4(10, 0, 0, 1),
            6,
            (1, 2),
            Stickiness::FiveTuple,
        );
        assert_eq!(d, Direction::Reverse);
        assert_eq!((k.first_addr(), k.first_port()), (v4(10, 0, 0, 1), 2));
        assert_eq!((k.second_addr(), k.second_port()), (v4(10, 0, 0, 2), 1));
        // Same address on both sides: the port decides.
        let (k, d) = key(
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 1),
            17,
            (9, 5),
            Stickiness::FiveTuple,
        );
        assert_eq!(d, Direction::Reverse);
        assert_eq!((k.first_port(), k.second_port()), (5, 9));
        // Fully equal endpoints: forward.
        let (_, d) = key(
            v4(10, 0, 0, 1),
            v4(10, 0, 0, 1),
            17,
            (5, 5),
            Stickiness::FiveTuple,
        );
        assert_eq!(d, Direction::Forward);
    }

    #[test]
    fn five_tuple_keeps_ports_for_tcp_and_udp_only() {
        let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
        let (k, _) = key(a, b, 6, (1000, 80), Stickiness::FiveTuple);
        assert_eq!(
            (k.first_port(), k.second_port(), k.protocol()),
            (1000, 80, 6)
        );
        let (k, _) = key(a, b, 17, (1000, 53), Stickiness::FiveTuple);
        assert_eq!(
            (k.first_port(), k.second_port(), k.protocol()),
            (1000, 53, 17)
        );
        // ICMP, GRE, SCTP: 3-tuple even in 5-tuple mode.
        for protocol in [1, 47, 132] {
            let (k, _) = key(a, b, protocol, (1000, 80), Stickiness::FiveTuple);
            assert_eq!((k.first_port(), k.second_port()), (0, 0));
            assert_eq!(k.protocol(), protocol);
        }
        // Different ports are different flows in 5-tuple mode.
        let (k1, _) = key(a, b, 6, (1000, 80), Stickiness::FiveTuple);
        let (k2, _) = key(a, b, 6, (1001, 80), Stickiness::FiveTuple);
        assert_ne!(k1, k2);
        assert_ne!(k1.hash(), k2.hash());
    }

    #[test]
    fn fragments_use_the_three_tuple_even_in_five_tuple_mode() {
        let (a, b) = (v6("2001:db8::1"), v6("2001:db8::2"));
        let (frag, _) = FlowKey::new(1, a, b, 17, 1000, 53, Stickiness::FiveTuple, true);
        let (three, _) = FlowKey::new(1, a, b, 17, 0, 0, Stickiness::ThreeTuple, false);
        assert_eq!(frag, three);
        assert_eq!(
            (frag.first_port(), frag.second_port(), frag.protocol()),
            (0, 0, 17)
        );
    }

    #[test]
    fn three_and_two_tuple_modes_drop_ports_and_protocol() {
        let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
        let (t1, _) = key(a, b, 6, (1000, 80), Stickiness::ThreeTuple);
        let (t2, _) = key(a, b, 6, (2000, 443), Stickiness::ThreeTuple);
        let (t3, _) = key(a, b, 17, (1000, 80), Stickiness::ThreeTuple);
        assert_eq!(t1, t2);
        assert_ne!(t1, t3);
        let (w1, _) = key(a, b, 6, (1000, 80), Stickiness::TwoTuple);
        let (w2, _) = key(b, a, 17, (53, 9), Stickiness::TwoTuple);
        let (w3, _) = key(a, b, 1, (0, 0), Stickiness::TwoTuple);
        assert_eq!(w1, w2);
        assert_eq!(w1, w3);
        assert_eq!(w1.protocol(), 0);
    }

    #[test]
    fn scope_separates_identical_tuples() {
        let (a, b) = (v4(10, 0, 0, 1), v4(10, 0, 0, 2));
        let (k1, _) = FlowKey::new(1, a, b, 6, 1000, 80, Stickiness::FiveTuple, false);
        let (k2, _) = FlowKey::new(2, a, b, 6, 1000, 80, Stickiness::FiveTuple, false);
        assert_ne!(k1, k2);
        assert_ne!(k1.hash(), k2.hash());
        assert_eq!((k1.scope(), k2.scope()), (1, 2));
    }

    #[test]
    fn accessors_read_the_key_back() {
        let (k, d) = FlowKey::new(
            u32::MAX,
            v6("2001:db8::ff"),
            v6("2001:db8::1"),
            6,
            443,
            65535,
            Stickiness::FiveTuple,
            false,
        );
        assert_eq!(d, Direction::Reverse);
        assert_eq!(k.scope(), u32::MAX);
        assert_eq!(k.first_addr(), v6("2001:db8::1"));
        assert_eq!(k.second_addr(), v6("2001:db8::ff"));
        assert_eq!(
            (k.first_port(), k.second_port(), k.protocol()),
            (65535, 443, 6)
        );
        // IPv4 comes back as IPv4, and IPv4-mapped IPv6 is the same address as IPv4.
        let (k4, _) = key(
            v4(1, 2, 3, 4),
            v4(5, 6, 7, 8),
            6,
            (1, 2),
            Stickiness::FiveTuple,
        );
        assert_eq!(k4.first_addr(), v4(1, 2, 3, 4));
        let (k6, _) = key(
            v6("::ffff:1.2.3.4"),
            v6("::ffff:5.6.7.8"),
            6,
            (1, 2),
            Stickiness::FiveTuple,
        );
        assert_eq!(k4, k6);
        let ((src, sport), (dst, dport)) = k4.endpoints(Direction::Reverse);
        assert_eq!(
            (src, sport, dst, dport),
            (v4(5, 6, 7, 8), 2, v4(1, 2, 3, 4), 1)
        );
        assert_eq!(FlowKey::from_words(*k.words(), k.protocol()), k);
    }

    #[test]
    fn the_ipv4_fast_path_builds_the_mapped_key() {
        // The same pairs written as IPv4-mapped IPv6 go through the general path.
        let addrs = [
            Ipv4Addr::new(0, 0, 0, 0),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(192, 168, 255, 1),
            Ipv4Addr::new(255, 255, 255, 255),
        ];
        for &a in &addrs {
            for &b in &addrs {
                for ports in [(0, 0), (1, 2), (2, 1), (443, 443), (65535, 0)] {
                    for protocol in [6, 17, 1] {
                        for mode in [
                            Stickiness::FiveTuple,
                            Stickiness::ThreeTuple,
                            Stickiness::TwoTuple,
                        ] {
                            for fragment in [false, true] {
                                let fast = FlowKey::new(
                                    9,
                                    a.into(),
                                    b.into(),
                                    protocol,
                                    ports.0,
                                    ports.1,
                                    mode,
                                    fragment,
                                );
                                let general = FlowKey::new(
                                    9,
                                    IpAddr::V6(a.to_ipv6_mapped()),
                                    IpAddr::V6(b.to_ipv6_mapped()),
                                    protocol,
                                    ports.0,
                                    ports.1,
                                    mode,
                                    fragment,
                                );
                                assert_eq!(fast, general, "{a} {b} {ports:?} {protocol}");
                                assert_eq!(fast.0.words, general.0.words);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The golden values of the flow hash and of the entropy port.
    ///
    /// Changing any of these values reshuffles flows in production: gateway nodes on different
    /// versions would pick different targets for the same flow, and an upgrade would move
    /// established flows. If this test fails, the hash function changed; revert the change
    /// rather than the expected values.
    #[test]
    fn hash_is_pinned_forever() {
        let samples = [
            key(
                v4(10, 0, 0, 1),
                v4(10, 0, 0, 2),
                6,
                (40000, 443),
                Stickiness::FiveTuple,
            ),
            key(
                v4(10, 0, 0, 2),
                v4(10, 0, 0, 1),
                17,
                (53, 5353),
                Stickiness::FiveTuple,
            ),
            key(
                v4(192, 168, 0, 1),
                v4(8, 8, 8, 8),
                1,
                (0, 0),
                Stickiness::FiveTuple,
            ),
            key(
                v4(172, 16, 5, 4),
                v4(172, 16, 9, 9),
                6,
                (1, 2),
                Stickiness::ThreeTuple,
            ),
            key(
                v4(172, 16, 5, 4),
                v4(172, 16, 9, 9),
                17,
                (1, 2),
                Stickiness::TwoTuple,
            ),
            key(
                v6("2001:db8::1"),
                v6("2001:db8::2"),
                6,
                (12345, 80),
                Stickiness::FiveTuple,
            ),
            key(
                v6("2001:db8::1"),
                v6("2001:db8::2"),
                58,
                (0, 0),
                Stickiness::FiveTuple,
            ),
            key(
                v6("fe80::1"),
                v6("ff02::1"),
                17,
                (546, 547),
                Stickiness::ThreeTuple,
            ),
            key(
                v6("2001:db8:1::a"),
                v6("2001:db8:2::b"),
                6,
                (9, 9),
                Stickiness::TwoTuple,
            ),
            FlowKey::new(
                0xdead_beef,
                v4(100, 64, 0, 1),
                v4(100, 64, 0, 2),
                6,
                1000,
                2000,
                Stickiness::FiveTuple,
                true,
            ),
            (FlowKey::default(), Direction::Forward),
        ];
        let hashes: Vec<(u64, u16)> = samples
            .iter()
            .map(|(k, _)| (k.hash(), k.entropy_port()))
            .collect();
        let expected: [(u64, u16); 11] = [
            (0x7138_8217_d883_8979, 56398),
            (0x98c4_0c11_0d2c_fae9, 58929),
            (0x6963_cb83_1b5f_879a, 55896),
            (0xf3f8_fc7c_f21a_6b41, 64766),
            (0x13ca_fda9_2761_0709, 50418),
            (0xad95_1844_5ecd_a353, 60261),
            (0xc333_a077_74a2_4ac1, 61644),
            (0x4777_b1b1_9cb6_2249, 53725),
            (0x0a98_84dd_9ca6_5e64, 49830),
            (0x0c09_3ee9_4f28_a42b, 49922),
            (0x43ac_7a4b_d223_444f, 53483),
        ];
        assert_eq!(hashes, expected);
    }

    #[test]
    fn entropy_port_is_ephemeral() {
        for h in [0, 1, u64::MAX, 0x8000_0000_0000_0000, 0x3fff_ffff_ffff_ffff] {
            assert!(entropy_port_for_hash(h) >= ENTROPY_PORT_MIN);
        }
        assert_eq!(entropy_port_for_hash(0), 49152);
        assert_eq!(entropy_port_for_hash(u64::MAX), 65535);
    }

    /// A small xorshift generator, so the statistical tests are deterministic.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Flipping any single input bit flips each output bit with probability close to 1/2.
    #[test]
    fn hash_avalanches() {
        const SAMPLES: u32 = 200;
        let mut state = 0x1234_5678_9abc_def1;
        // Input bits: the five words and the protocol's eight bits.
        let mut flips = vec![[0u32; 64]; 5 * 64 + 8];
        for _ in 0..SAMPLES {
            let words = [(); 5].map(|()| next(&mut state));
            let protocol = next(&mut state) as u8;
            let base = FlowKey::from_words(words, protocol).hash();
            for (bit, row) in flips.iter_mut().enumerate() {
                let mut w = words;
                let mut p = protocol;
                if bit < 320 {
                    w[bit / 64] ^= 1 << (bit % 64);
                } else {
                    p ^= 1 << (bit - 320);
                }
                let diff = base ^ FlowKey::from_words(w, p).hash();
                for (out, count) in row.iter_mut().enumerate() {
                    *count += u32::from(diff >> out & 1 == 1);
                }
            }
        }
        for (bit, row) in flips.iter().enumerate() {
            for (out, &count) in row.iter().enumerate() {
                // The expectation is 100 with a standard deviation of 7; over the 21 000
                // (input, output) pairs only a defect, not chance, goes beyond ±40.
                assert!(
                    (60..=140).contains(&count),
                    "input bit {bit} flips output bit {out} {count}/{SAMPLES} times"
                );
            }
        }
    }

    /// Consecutive IPv4 clients spread evenly over the low bits (the flow table's groups) and
    /// the high bits (the tags and the entropy port).
    #[test]
    fn hash_spreads_sequential_clients() {
        const BUCKETS: usize = 64;
        const KEYS: u32 = 64 * 200;
        let mut low = [0u32; BUCKETS];
        let mut high = [0u32; BUCKETS];
        for i in 0..KEYS {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            let (k, _) = key(
                client,
                v4(10, 1, 0, 1),
                6,
                (40000, 443),
                Stickiness::FiveTuple,
            );
            let h = k.hash();
            low[(h % BUCKETS as u64) as usize] += 1;
            high[(h >> 58) as usize] += 1;
        }
        for counts in [low, high] {
            // Expect 200 per bucket; 5 standard deviations is about ±70.
            assert!(
                counts.iter().all(|&c| (130..=270).contains(&c)),
                "{counts:?}"
            );
        }
    }
}
