//! Definitions shared by IPv4 and IPv6: protocol numbers and version detection.
//!
//! This module exists so that both IP versions, the ICMP quoting code and the GENEVE inner
//! payload handling name protocols the same way. [`IpProtocol`] converts losslessly to and
//! from the 8-bit IANA protocol number; [`IpVersion::of_packet`] classifies a raw L3 packet by
//! its first nibble without reading anything else.

use core::fmt;

use crate::{Error, Result};

enum_with_unknown! {
    /// An IP protocol number (IPv4 `Protocol`, IPv6 `Next Header`), as assigned by IANA.
    pub enum IpProtocol(u8) {
        /// IPv6 Hop-by-Hop Options header.
        HopByHop = 0,
        /// Internet Control Message Protocol (RFC 792).
        Icmp = 1,
        /// Internet Group Management Protocol.
        Igmp = 2,
        /// Transmission Control Protocol.
        Tcp = 6,
        /// User Datagram Protocol.
        Udp = 17,
        /// IPv6 Routing header.
        Ipv6Route = 43,
        /// IPv6 Fragment header.
        Ipv6Frag = 44,
        /// Encapsulating Security Payload.
        Esp = 50,
        /// Authentication Header.
        Ah = 51,
        /// ICMP for IPv6 (RFC 4443).
        Icmpv6 = 58,
        /// IPv6 "no next header".
        Ipv6NoNxt = 59,
        /// IPv6 Destination Options header.
        Ipv6Opts = 60,
    }
}

impl IpProtocol {
    /// Returns true for the TCP and UDP protocols, whose first four bytes are the source and
    /// destination ports.
    pub fn has_ports(self) -> bool {
        matches!(self, IpProtocol::Tcp | IpProtocol::Udp)
    }
}

impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpProtocol::HopByHop => f.write_str("Hop-by-Hop"),
            IpProtocol::Icmp => f.write_str("ICMP"),
            IpProtocol::Igmp => f.write_str("IGMP"),
            IpProtocol::Tcp => f.write_str("TCP"),
            IpProtocol::Udp => f.write_str("UDP"),
            IpProtocol::Ipv6Route => f.write_str("IPv6-Route"),
            IpProtocol::Ipv6Frag => f.write_str("IPv6-Frag"),
            IpProtocol::Esp => f.write_str("ESP"),
            IpProtocol::Ah => f.write_str("AH"),
            IpProtocol::Icmpv6 => f.write_str("ICMPv6"),
            IpProtocol::Ipv6NoNxt => f.write_str("IPv6-NoNxt"),
            IpProtocol::Ipv6Opts => f.write_str("IPv6-Opts"),
            IpProtocol::Unknown(number) => write!(f, "proto-{number}"),
        }
    }
}

/// The version of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// Internet Protocol version 4.
    Ipv4,
    /// Internet Protocol version 6.
    Ipv6,
}

impl IpVersion {
    /// Classifies a raw L3 packet (for example the inner packet of a GENEVE tunnel) by the
    /// version nibble of its first byte.
    ///
    /// Returns [`Error::Truncated`] for an empty buffer and [`Error::BadVersion`] for any
    /// version other than 4 or 6.
    pub fn of_packet(packet: &[u8]) -> Result<Self> {
        match packet.first().map(|byte| byte >> 4) {
            None => Err(Error::Truncated),
            Some(4) => Ok(IpVersion::Ipv4),
            Some(6) => Ok(IpVersion::Ipv6),
            Some(_) => Err(Error::BadVersion),
        }
    }
}

impl fmt::Display for IpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpVersion::Ipv4 => f.write_str("IPv4"),
            IpVersion::Ipv6 => f.write_str("IPv6"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_numbers_round_trip() {
        for number in 0..=u8::MAX {
            assert_eq!(u8::from(IpProtocol::from(number)), number);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(58), IpProtocol::Icmpv6);
        assert_eq!(IpProtocol::from(132), IpProtocol::Unknown(132));
        assert_eq!(IpProtocol::Udp.to_string(), "UDP");
        assert_eq!(IpProtocol::Unknown(132).to_string(), "proto-132");
    }

    #[test]
    fn version_of_packet() {
        assert_eq!(IpVersion::of_packet(&[0x45]), Ok(IpVersion::Ipv4));
        assert_eq!(IpVersion::of_packet(&[0x60, 0]), Ok(IpVersion::Ipv6));
        assert_eq!(IpVersion::of_packet(&[0x55]), Err(Error::BadVersion));
        assert_eq!(IpVersion::of_packet(&[]), Err(Error::Truncated));
    }
}
