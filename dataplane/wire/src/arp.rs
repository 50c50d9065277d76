//! ARP packets (RFC 826), represented for IPv4 over Ethernet only.
//!
//! This module exists so that the data plane can answer and learn from ARP on its Ethernet
//! ports. The view reads any ARP packet: its address fields are slices whose lengths come from
//! the packet's own hardware and protocol length fields, and [`ArpPacket::new_checked`]
//! guarantees that all four fit in the buffer. [`ArpRepr`] only represents the combination
//! sluice uses (hardware type Ethernet, protocol IPv4, lengths 6 and 4); anything else parses
//! to [`Error::Unsupported`].

use core::fmt;
use core::net::Ipv4Addr;

use crate::ethernet::{EtherType, EthernetAddress};
use crate::{Error, Result, read_u16, write_u16};

/// The length of the fixed part of an ARP packet, before the address fields.
pub const FIXED_LEN: usize = 8;

/// The length of an Ethernet/IPv4 ARP packet.
pub const ETHERNET_IPV4_LEN: usize = 28;

mod field {
    use crate::Field;

    /// Hardware type.
    pub(super) const HTYPE: Field = 0..2;
    /// Protocol type, an EtherType.
    pub(super) const PTYPE: Field = 2..4;
    /// Hardware address length.
    pub(super) const HLEN: usize = 4;
    /// Protocol address length.
    pub(super) const PLEN: usize = 5;
    /// Operation.
    pub(super) const OPER: Field = 6..8;

    /// Sender hardware address.
    pub(super) const fn sha(hlen: u8, _plen: u8) -> Field {
        let start = super::FIXED_LEN;
        start..start + hlen as usize
    }

    /// Sender protocol address.
    pub(super) const fn spa(hlen: u8, plen: u8) -> Field {
        let start = super::FIXED_LEN + hlen as usize;
        start..start + plen as usize
    }

    /// Target hardware address.
    pub(super) const fn tha(hlen: u8, plen: u8) -> Field {
        let start = super::FIXED_LEN + hlen as usize + plen as usize;
        start..start + hlen as usize
    }

    /// Target protocol address.
    pub(super) const fn tpa(hlen: u8, plen: u8) -> Field {
        let start = super::FIXED_LEN + 2 * hlen as usize + plen as usize;
        start..start + plen as usize
    }
}

enum_with_unknown! {
    /// An ARP hardware type.
    pub enum ArpHardware(u16) {
        /// Ethernet (10 Mb and everything since).
        Ethernet = 1,
    }
}

enum_with_unknown! {
    /// An ARP operation.
    pub enum ArpOperation(u16) {
        /// Who has this protocol address?
        Request = 1,
        /// This protocol address is at this hardware address.
        Reply = 2,
    }
}

/// A read/write view over an ARP packet.
///
/// Accessors on a view from [`ArpPacket::new_unchecked`] panic if the buffer is shorter than
/// [`FIXED_LEN`] or than the address fields its length bytes describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after checking that the fixed part and all four addresses fit.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the fixed part or than the
    /// addresses the length fields describe.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the length of the packet the length fields describe: the fixed part plus two
    /// hardware and two protocol addresses.
    pub fn header_len(&self) -> usize {
        FIXED_LEN + 2 * usize::from(self.hardware_len()) + 2 * usize::from(self.protocol_len())
    }

    /// Returns the hardware type.
    pub fn hardware_type(&self) -> ArpHardware {
        ArpHardware::from(read_u16(self.buffer.as_ref(), field::HTYPE))
    }

    /// Returns the protocol type.
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::PTYPE))
    }

    /// Returns the hardware address length in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Returns the protocol address length in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Returns the operation.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(read_u16(self.buffer.as_ref(), field::OPER))
    }

    fn lens(&self) -> (u8, u8) {
        (self.hardware_len(), self.protocol_len())
    }

    /// Returns the sender hardware address.
    pub fn source_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::sha(h, p)]
    }

    /// Returns the sender protocol address.
    pub fn source_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::spa(h, p)]
    }

    /// Returns the target hardware address.
    pub fn target_hardware_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tha(h, p)]
    }

    /// Returns the target protocol address.
    pub fn target_protocol_addr(&self) -> &[u8] {
        let (h, p) = self.lens();
        &self.buffer.as_ref()[field::tpa(h, p)]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: ArpHardware) {
        write_u16(self.buffer.as_mut(), field::HTYPE, value.into());
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::PTYPE, value.into());
    }

    /// Sets the hardware address length; the address setters use it.
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length; the address setters use it.
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    pub fn set_operation(&mut self, value: ArpOperation) {
        write_u16(self.buffer.as_mut(), field::OPER, value.into());
    }

    /// Sets the sender hardware address.
    ///
    /// Panics if `value` is not [`ArpPacket::hardware_len`] bytes long.
    pub fn set_source_hardware_addr(&mut self, value: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::sha(h, p)].copy_from_slice(value);
    }

    /// Sets the sender protocol address.
    ///
    /// Panics if `value` is not [`ArpPacket::protocol_len`] bytes long.
    pub fn set_source_protocol_addr(&mut self, value: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::spa(h, p)].copy_from_slice(value);
    }

    /// Sets the target hardware address.
    ///
    /// Panics if `value` is not [`ArpPacket::hardware_len`] bytes long.
    pub fn set_target_hardware_addr(&mut self, value: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::tha(h, p)].copy_from_slice(value);
    }

    /// Sets the target protocol address.
    ///
    /// Panics if `value` is not [`ArpPacket::protocol_len`] bytes long.
    pub fn set_target_protocol_addr(&mut self, value: &[u8]) {
        let (h, p) = self.lens();
        self.buffer.as_mut()[field::tpa(h, p)].copy_from_slice(value);
    }
}

/// The owned contents of an ARP packet of a kind sluice handles.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpRepr {
    /// IPv4 over Ethernet: hardware type 1, protocol 0x0800, address lengths 6 and 4.
    EthernetIpv4 {
        /// Request, reply, or another operation.
        operation: ArpOperation,
        /// Sender MAC address.
        source_hardware_addr: EthernetAddress,
        /// Sender IPv4 address.
        source_protocol_addr: Ipv4Addr,
        /// Target MAC address (zero in a request).
        target_hardware_addr: EthernetAddress,
        /// Target IPv4 address.
        target_protocol_addr: Ipv4Addr,
    },
}

/// Converts a checked four-byte slice into an IPv4 address.
fn ipv4_from(bytes: &[u8]) -> Option<Ipv4Addr> {
    match *bytes {
        [a, b, c, d] => Some(Ipv4Addr::new(a, b, c, d)),
        _ => None,
    }
}

impl ArpRepr {
    /// Reads an ARP packet; returns [`Error::Unsupported`] unless it is IPv4 over Ethernet.
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.hardware_type() != ArpHardware::Ethernet
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        let (Some(sha), Some(spa), Some(tha), Some(tpa)) = (
            EthernetAddress::from_bytes(packet.source_hardware_addr()),
            ipv4_from(packet.source_protocol_addr()),
            EthernetAddress::from_bytes(packet.target_hardware_addr()),
            ipv4_from(packet.target_protocol_addr()),
        ) else {
            return Err(Error::Malformed);
        };
        Ok(ArpRepr::EthernetIpv4 {
            operation: packet.operation(),
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        })
    }

    /// Returns the length of the emitted packet.
    pub const fn buffer_len(&self) -> usize {
        match self {
            ArpRepr::EthernetIpv4 { .. } => ETHERNET_IPV4_LEN,
        }
    }

    /// Writes the packet.
    ///
    /// Panics if the buffer is shorter than [`ArpRepr::buffer_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        match *self {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            } => {
                packet.set_hardware_type(ArpHardware::Ethernet);
                packet.set_protocol_type(EtherType::Ipv4);
                packet.set_hardware_len(6);
                packet.set_protocol_len(4);
                packet.set_operation(operation);
                packet.set_source_hardware_addr(source_hardware_addr.as_bytes());
                packet.set_source_protocol_addr(&source_protocol_addr.octets());
                packet.set_target_hardware_addr(target_hardware_addr.as_bytes());
                packet.set_target_protocol_addr(&target_protocol_addr.octets());
            }
        }
    }
}

impl fmt::Display for ArpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_hardware_addr,
                target_protocol_addr,
            } => {
                match operation {
                    ArpOperation::Request => f.write_str("ARP request")?,
                    ArpOperation::Reply => f.write_str("ARP reply")?,
                    ArpOperation::Unknown(op) => write!(f, "ARP op={op}")?,
                }
                write!(
                    f,
                    " src={source_hardware_addr}/{source_protocol_addr} \
                     tgt={target_hardware_addr}/{target_protocol_addr}"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Who has 192.168.1.2? Tell 192.168.1.1", from 00:0c:29:3e:5b:7a.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, // Ethernet
        0x08, 0x00, // IPv4
        0x06, 0x04, // lengths
        0x00, 0x01, // request
        0x00, 0x0c, 0x29, 0x3e, 0x5b, 0x7a, // sender MAC
        192, 168, 1, 1, // sender IP
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC
        192, 168, 1, 2, // target IP
    ];

    #[test]
    fn request_fixture() {
        let packet = ArpPacket::new_checked(&REQUEST[..]).expect("fixture is valid");
        assert_eq!(packet.hardware_type(), ArpHardware::Ethernet);
        assert_eq!(packet.protocol_type(), EtherType::Ipv4);
        assert_eq!(packet.hardware_len(), 6);
        assert_eq!(packet.protocol_len(), 4);
        assert_eq!(packet.operation(), ArpOperation::Request);
        assert_eq!(packet.header_len(), 28);
        assert_eq!(packet.source_hardware_addr(), &REQUEST[8..14]);
        assert_eq!(packet.source_protocol_addr(), &[192, 168, 1, 1]);
        assert_eq!(packet.target_hardware_addr(), &[0; 6]);
        assert_eq!(packet.target_protocol_addr(), &[192, 168, 1, 2]);

        let repr = ArpRepr::parse(&packet).expect("fixture is Ethernet/IPv4");
        assert_eq!(
            repr,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr: EthernetAddress([0x00, 0x0c, 0x29, 0x3e, 0x5b, 0x7a]),
                source_protocol_addr: Ipv4Addr::new(192, 168, 1, 1),
                target_hardware_addr: EthernetAddress([0; 6]),
                target_protocol_addr: Ipv4Addr::new(192, 168, 1, 2),
            }
        );
        assert_eq!(
            repr.to_string(),
            "ARP request src=00:0c:29:3e:5b:7a/192.168.1.1 tgt=00:00:00:00:00:00/192.168.1.2"
        );

        let mut bytes = [0xffu8; 28];
        repr.emit(&mut ArpPacket::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, REQUEST);
    }

    #[test]
    fn truncation_at_every_length() {
        for len in 0..REQUEST.len() {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
    }

    #[test]
    fn lying_address_lengths_are_truncated() {
        let mut bytes = REQUEST;
        bytes[4] = 200;
        assert_eq!(
            ArpPacket::new_checked(&bytes[..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn other_kinds_are_unsupported() {
        let mut ieee802 = REQUEST;
        ieee802[1] = 6;
        let mut ipv6 = REQUEST;
        ipv6[2..4].copy_from_slice(&[0x86, 0xdd]);
        // Hardware length 4 with protocol length 6 still fits the buffer.
        let mut swapped = REQUEST;
        swapped[4..6].copy_from_slice(&[4, 6]);
        for bytes in [ieee802, ipv6, swapped] {
            let packet = ArpPacket::new_checked(&bytes[..]).expect("lengths fit");
            assert_eq!(ArpRepr::parse(&packet), Err(Error::Unsupported));
        }
    }
}
