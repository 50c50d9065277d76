//! Ethernet II frames: addresses, EtherTypes, the 14-byte header view and its repr.
//!
//! This module exists because every packet sluice receives from a port starts with an Ethernet
//! header. It guarantees that a frame accepted by [`EthernetFrame::new_checked`] is at least
//! [`HEADER_LEN`] bytes long, so every accessor is in bounds. Frames carrying an 802.1Q or
//! 802.1ad tag are read as Ethernet first; the tag is then a [`crate::vlan::VlanHeader`] over
//! [`EthernetFrame::payload`]. The frame check sequence is not part of the buffer (NICs strip
//! it), and minimum-size padding is left in the payload for the L3 parser to ignore.

use core::fmt;

use crate::{Error, Result, read_u16, write_u16};

/// The length of an Ethernet II header: two addresses and the EtherType.
pub const HEADER_LEN: usize = 14;

mod field {
    use crate::Field;

    /// Destination MAC address.
    pub(super) const DESTINATION: Field = 0..6;
    /// Source MAC address.
    pub(super) const SOURCE: Field = 6..12;
    /// EtherType of the payload (or of the VLAN tag that follows).
    pub(super) const ETHERTYPE: Field = 12..14;
    /// First byte of the payload.
    pub(super) const PAYLOAD: usize = 14;
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Builds an address from a six-byte slice, or returns `None` for any other length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut octets = [0u8; 6];
        if bytes.len() != octets.len() {
            return None;
        }
        octets.copy_from_slice(bytes);
        Some(EthernetAddress(octets))
    }

    /// Returns the six octets of the address.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Returns true for the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Returns true for group addresses (the I/G bit, the low bit of the first octet, is set);
    /// broadcast is a multicast address too.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Returns true for individual (unicast) addresses.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Returns true for locally administered addresses (the U/L bit is set).
    pub fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

enum_with_unknown! {
    /// The EtherType of an Ethernet payload (or of the payload after a VLAN tag).
    pub enum EtherType(u16) {
        /// Internet Protocol version 4.
        Ipv4 = 0x0800,
        /// Address Resolution Protocol.
        Arp = 0x0806,
        /// IEEE 802.1Q VLAN tag.
        Vlan = 0x8100,
        /// IEEE 802.1ad service tag (Q-in-Q).
        QinQ = 0x88a8,
        /// Internet Protocol version 6.
        Ipv6 = 0x86dd,
    }
}

impl EtherType {
    /// Returns true for the two tag EtherTypes after which a VLAN tag follows.
    pub fn is_vlan_tag(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ)
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::QinQ => f.write_str("802.1ad"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Unknown(value) => write!(f, "0x{value:04x}"),
        }
    }
}

/// A read/write view over an Ethernet II frame.
///
/// Accessors on a view from [`EthernetFrame::new_unchecked`] panic if the buffer is shorter
/// than [`HEADER_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        EthernetFrame { buffer }
    }

    /// Wraps a buffer after checking that it holds a whole header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(&self.buffer.as_ref()[field::DESTINATION]);
        EthernetAddress(octets)
    }

    /// Returns the source address.
    pub fn src_addr(&self) -> EthernetAddress {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(&self.buffer.as_ref()[field::SOURCE]);
        EthernetAddress(octets)
    }

    /// Returns the EtherType.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// Returns everything after the header, including any minimum-size padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&value.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&value.0);
    }

    /// Sets the EtherType.
    pub fn set_ethertype(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, value.into());
    }

    /// Returns the payload for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for EthernetFrame<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match EthernetRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(error) => write!(f, "Ethernet ({error})"),
        }
    }
}

/// The owned contents of an Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src_addr: EthernetAddress,
    /// Destination address.
    pub dst_addr: EthernetAddress,
    /// EtherType of the payload.
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the header of a frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Result<Self> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Returns the header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the length of a frame carrying `payload_len` bytes of payload.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header into a frame; the payload is left untouched.
    ///
    /// Panics if the frame's buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut EthernetFrame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        frame.set_ethertype(self.ethertype);
    }
}

impl fmt::Display for EthernetRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Ethernet src={} dst={} type={}",
            self.src_addr, self.dst_addr, self.ethertype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broadcast ARP request frame header followed by two payload bytes.
    const FRAME: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02, // source
        0x08, 0x06, // ARP
        0xaa, 0xbb, // payload
    ];

    #[test]
    fn fixture_accessors() {
        let frame = EthernetFrame::new_checked(&FRAME[..]).expect("fixture is valid");
        assert!(frame.dst_addr().is_broadcast());
        assert!(frame.dst_addr().is_multicast());
        assert_eq!(
            frame.src_addr(),
            EthernetAddress([0x02, 0x42, 0xac, 0x11, 0x00, 0x02])
        );
        assert!(frame.src_addr().is_unicast());
        assert!(frame.src_addr().is_local());
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(frame.header_len(), 14);
        assert_eq!(frame.payload(), &[0xaa, 0xbb]);
        assert_eq!(
            frame.to_string(),
            "Ethernet src=02:42:ac:11:00:02 dst=ff:ff:ff:ff:ff:ff type=ARP"
        );
    }

    #[test]
    fn truncated_header_is_rejected() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                EthernetFrame::new_checked(&FRAME[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
        assert!(EthernetFrame::new_checked(&FRAME[..HEADER_LEN]).is_ok());
    }

    #[test]
    fn emit_matches_fixture() {
        let repr = EthernetRepr::parse(&EthernetFrame::new_unchecked(&FRAME[..]))
            .expect("fixture is valid");
        let mut bytes = [0u8; 16];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        repr.emit(&mut frame);
        frame.payload_mut().copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(bytes, FRAME);
        assert_eq!(repr.buffer_len(2), 16);
    }

    #[test]
    fn ethertype_conversions() {
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
        assert_eq!(u16::from(EtherType::QinQ), 0x88a8);
        assert_eq!(EtherType::from(0x1234), EtherType::Unknown(0x1234));
        assert_eq!(EtherType::Unknown(0x1234).to_string(), "0x1234");
        assert!(EtherType::Vlan.is_vlan_tag());
        assert!(!EtherType::Ipv4.is_vlan_tag());
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3]), None);
    }
}
