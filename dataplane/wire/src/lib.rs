//! Zero-copy packet views and owned representations for the sluice data plane.
//!
//! The crate exists so that every other part of sluice reads and writes packet headers through
//! one audited layer instead of poking at byte offsets. It follows the shape of smoltcp's
//! `wire` module: each protocol has a *view* (`Ipv4Packet<T: AsRef<[u8]>>` and friends) that
//! reads and writes fields in place, and a small owned, `Copy` *repr* (`Ipv4Repr`) with
//! `parse` and `emit`.
//!
//! Guarantees:
//!
//! - Nothing allocates and nothing is `unsafe`; the crate is `no_std` outside its own tests.
//! - A view built with `new_checked` has had every length that its accessors depend on
//!   validated once, so no accessor on it panics, whatever the bytes were. A view built with
//!   `new_unchecked` skips that check, and its accessors may panic on a short buffer; that
//!   constructor is meant for buffers the caller has sized itself (for example before `emit`).
//! - Setters never validate: writing a length field can invalidate what `new_checked`
//!   established, and re-checking is the writer's business.
//! - Every `Repr::parse` re-runs the length checks first, so it never panics either, even on an
//!   unchecked view.
//! - Errors are the small `Copy` enum [`Error`]; nothing formats or allocates on a failure.
//!
//! Checksums that cover a payload (UDP, TCP, ICMPv4, ICMPv6) are never filled by `emit`: the
//! repr writes its header with a zero checksum, the caller writes the payload and then calls
//! the view's `fill_checksum_v4`/`fill_checksum_v6` (UDP, TCP) or `fill_checksum` (ICMP). The
//! IPv4 header checksum covers only the header, so `Ipv4Repr::emit` fills it.
//!
//! Layering: a frame is read outside in, each view over the previous one's `payload()`, for
//! example `EthernetFrame` → `Ipv4Packet` → `UdpPacket` → `GenevePacket` →
//! [`GwlbOptions::parse`] on its options, then the inner `Ipv4Packet` or `Ipv6Packet` chosen
//! by [`GenevePacket::protocol_type`] or [`IpVersion::of_packet`].

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

/// Declares a `Copy` enum over an integer type with one catch-all `Unknown` variant, and the
/// lossless conversions in both directions.
///
/// Values are always converted through `From`, so a known value never ends up inside
/// `Unknown`; comparing two values of the enum is then the same as comparing their integers.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident($ty:ty) {
            $(
                $(#[$variant_attr:meta])*
                $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                $(#[$variant_attr])*
                $variant,
            )+
            /// A value this crate has no name for, kept as it was on the wire.
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod geneve;
pub mod gwlb;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
pub use geneve::{GeneveOption, GeneveOptionRepr, GeneveOptions, GenevePacket, GeneveRepr};
pub use gwlb::{EndpointId, GwlbOptions};
pub use icmpv4::{Icmpv4Message, Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Message, Icmpv6Packet, Icmpv6Repr};
pub use ip::{IpProtocol, IpVersion};
pub use ipv4::{Ipv4Fragment, Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6ExtHeader, Ipv6ExtHeaders, Ipv6Fragment, Ipv6Packet, Ipv6Repr, UpperLayer};
pub use tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};

/// Why a buffer could not be read as the header that was asked for.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the fixed header, or than a length field inside it claims.
    Truncated,
    /// The version field holds a value this parser does not handle.
    BadVersion,
    /// A header-length field is below the protocol's minimum (IPv4 IHL < 5, TCP data
    /// offset < 5).
    BadHeaderLength,
    /// A total or payload length field is inconsistent with the header (for example an IPv4
    /// total length below the header length, or a UDP length below 8).
    BadLength,
    /// An option's length runs past the options area, or is zero (or otherwise wrong) where
    /// the protocol forbids it.
    BadOptionLength,
    /// The GENEVE option length runs past the end of the packet.
    OptionsTooLong,
    /// A checksum did not verify.
    BadChecksum,
    /// The packet is well formed but of a kind this crate does not represent (ARP for other
    /// than Ethernet/IPv4, an ICMP message without a repr).
    Unsupported,
    /// A required option (one of the three AWS GWLB options) is absent.
    MissingOption,
    /// An option that may appear once appeared twice.
    DuplicateOption,
    /// The IPv6 extension-header chain is longer than [`ipv6::MAX_EXT_HEADERS`].
    ExtensionChainTooLong,
    /// The packet breaks a protocol rule not covered by another variant.
    Malformed,
}

/// The result of parsing a header.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Truncated => "truncated packet",
            Error::BadVersion => "unsupported version",
            Error::BadHeaderLength => "bad header length",
            Error::BadLength => "inconsistent length field",
            Error::BadOptionLength => "bad option length",
            Error::OptionsTooLong => "options run past the packet",
            Error::BadChecksum => "bad checksum",
            Error::Unsupported => "unsupported packet kind",
            Error::MissingOption => "missing required option",
            Error::DuplicateOption => "duplicate option",
            Error::ExtensionChainTooLong => "extension header chain too long",
            Error::Malformed => "malformed packet",
        };
        f.write_str(text)
    }
}

impl core::error::Error for Error {}

/// A byte range inside a header, as used by the per-module `field` tables.
pub(crate) type Field = core::ops::Range<usize>;

/// Reads a big-endian `u16` from a two-byte field.
///
/// Panics if the field is out of bounds; callers index only checked ranges.
pub(crate) fn read_u16(bytes: &[u8], field: Field) -> u16 {
    let mut raw = [0u8; 2];
    raw.copy_from_slice(&bytes[field]);
    u16::from_be_bytes(raw)
}

/// Reads a big-endian `u32` from a four-byte field.
pub(crate) fn read_u32(bytes: &[u8], field: Field) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&bytes[field]);
    u32::from_be_bytes(raw)
}

/// Reads a big-endian `u64` from an eight-byte field.
pub(crate) fn read_u64(bytes: &[u8], field: Field) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&bytes[field]);
    u64::from_be_bytes(raw)
}

/// Writes a big-endian `u16` into a two-byte field.
pub(crate) fn write_u16(bytes: &mut [u8], field: Field, value: u16) {
    bytes[field].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u32` into a four-byte field.
pub(crate) fn write_u32(bytes: &mut [u8], field: Field, value: u32) {
    bytes[field].copy_from_slice(&value.to_be_bytes());
}

/// Writes a big-endian `u64` into an eight-byte field.
pub(crate) fn write_u64(bytes: &mut [u8], field: Field, value: u64) {
    bytes[field].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn error_display_is_short_lowercase_text() {
        let all = [
            Error::Truncated,
            Error::BadVersion,
            Error::BadHeaderLength,
            Error::BadLength,
            Error::BadOptionLength,
            Error::OptionsTooLong,
            Error::BadChecksum,
            Error::Unsupported,
            Error::MissingOption,
            Error::DuplicateOption,
            Error::ExtensionChainTooLong,
            Error::Malformed,
        ];
        for error in all {
            let text = error.to_string();
            assert!(!text.is_empty());
            assert_eq!(text, text.to_lowercase());
        }
        assert_eq!(Error::Truncated.to_string(), "truncated packet");
    }
}
