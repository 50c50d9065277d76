//! UDP datagrams (RFC 768) and their pseudo-header checksums over IPv4 and IPv6.
//!
//! This module exists because UDP carries GENEVE (port 6081) on the outside of every tunnel
//! packet, and inner UDP flows must be identified by port. The view's buffer is the IP payload;
//! [`UdpPacket::new_checked`] guarantees the 8-byte header is present, that the length field is
//! at least 8 and that the buffer holds as many bytes as the length field claims. Bytes beyond
//! the length field are not payload.
//!
//! Checksums: a zero checksum means "none" over IPv4 and always verifies there; over IPv6 it is
//! invalid (RFC 8200 §8.1). A computed checksum of zero is written as `0xffff`.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, Result, read_u16, write_u16};

/// The length of a UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use crate::Field;

    /// Source port.
    pub(super) const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub(super) const DST_PORT: Field = 2..4;
    /// Length of header and data.
    pub(super) const LENGTH: Field = 4..6;
    /// Checksum.
    pub(super) const CHECKSUM: Field = 6..8;
    /// First byte of the data.
    pub(super) const PAYLOAD: usize = 8;
}

/// A read/write view over a UDP datagram; the buffer is the IP payload.
///
/// Accessors on a view from [`UdpPacket::new_unchecked`] panic if the buffer is shorter than
/// [`HEADER_LEN`]; [`UdpPacket::payload`] and the checksum methods also panic if it is shorter
/// than the length field, or if that field is below 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`UdpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the header or than the
    /// length field, and [`Error::BadLength`] if the length field is below 8.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let claimed = usize::from(self.len());
        if claimed < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if claimed > len {
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

    /// Returns the source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Returns the destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Returns the length field: header plus data, in bytes.
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Returns true if the length field says there is no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Returns the checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram as the length field delimits it.
    fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// Returns true if the checksum verifies against the IPv4 pseudo-header, or is zero
    /// ("no checksum").
    pub fn verify_checksum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len());
        checksum::combine(&[pseudo, checksum::data(self.datagram())]) == 0xffff
    }

    /// Returns true if the checksum verifies against the IPv6 pseudo-header; a zero checksum
    /// never verifies.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        checksum::combine(&[pseudo, checksum::data(self.datagram())]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// Returns the data, up to the length field.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..usize::from(self.len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Writes the checksum field from a folded pseudo-header sum, mapping a computed zero to
    /// `0xffff`.
    fn fill_with(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let sum = checksum::combine(&[pseudo, checksum::data(self.datagram())]);
        let value = match !sum {
            0 => 0xffff,
            value => value,
        };
        self.set_checksum(value);
    }

    /// Computes and writes the checksum over the IPv4 pseudo-header and the datagram.
    pub fn fill_checksum_v4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Udp, self.len());
        self.fill_with(pseudo);
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and the datagram.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Udp, u32::from(self.len()));
        self.fill_with(pseudo);
    }

    /// Returns the data for writing, up to the length field.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[field::PAYLOAD..end]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for UdpPacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.check_len() {
            Ok(()) => write!(
                f,
                "UDP src={} dst={} len={}",
                self.src_port(),
                self.dst_port(),
                self.len()
            ),
            Err(error) => write!(f, "UDP ({error})"),
        }
    }
}

/// The owned contents of a UDP header; the data length is taken at emit time.
///
/// [`UdpRepr::parse`] does not verify the checksum, which needs the IP addresses: call
/// [`UdpPacket::verify_checksum_v4`] or [`UdpPacket::verify_checksum_v6`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Reads the ports of a datagram after checking its lengths.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<Self> {
        packet.check_len()?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Returns the header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the datagram length for `payload_len` bytes of data.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header for `payload_len` bytes of data, with a zero checksum.
    ///
    /// Write the data next, then call [`UdpPacket::fill_checksum_v4`] or
    /// [`UdpPacket::fill_checksum_v6`] (or leave zero over IPv4). `payload_len` must not
    /// exceed 65527. Panics if the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut UdpPacket<T>,
        payload_len: usize,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len(payload_len) as u16);
        packet.set_checksum(0);
    }
}

impl fmt::Display for UdpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UDP src={} dst={}", self.src_port, self.dst_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC4: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const DST4: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);
    const SRC6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const DST6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    /// Port 51000 to port 53 carrying "hello sluice!"; the checksums over the IPv4 and IPv6
    /// pseudo-headers (0xb66f and 0x2bb4) were computed independently.
    fn datagram(checksum: u16) -> Vec<u8> {
        let mut bytes = vec![0xc7, 0x38, 0x00, 0x35, 0x00, 0x15];
        bytes.extend(checksum.to_be_bytes());
        bytes.extend(b"hello sluice!");
        bytes
    }

    #[test]
    fn fixture_accessors_and_checksums() {
        let bytes = datagram(0xb66f);
        let packet = UdpPacket::new_checked(&bytes[..]).expect("fixture is valid");
        assert_eq!(packet.src_port(), 51000);
        assert_eq!(packet.dst_port(), 53);
        assert_eq!(packet.len(), 21);
        assert!(!packet.is_empty());
        assert_eq!(packet.checksum(), 0xb66f);
        assert_eq!(packet.payload(), b"hello sluice!");
        assert!(packet.verify_checksum_v4(&SRC4, &DST4));
        assert!(!packet.verify_checksum_v4(&SRC4, &Ipv4Addr::new(8, 8, 4, 4)));
        assert_eq!(packet.to_string(), "UDP src=51000 dst=53 len=21");

        let bytes = datagram(0x2bb4);
        let packet = UdpPacket::new_checked(&bytes[..]).expect("fixture is valid");
        assert!(packet.verify_checksum_v6(&SRC6, &DST6));
        assert!(!packet.verify_checksum_v4(&SRC4, &DST4));
    }

    #[test]
    fn fill_checksum_matches_independent_values() {
        let mut bytes = datagram(0);
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        packet.fill_checksum_v4(&SRC4, &DST4);
        assert_eq!(packet.checksum(), 0xb66f);
        packet.fill_checksum_v6(&SRC6, &DST6);
        assert_eq!(packet.checksum(), 0x2bb4);
    }

    #[test]
    fn zero_checksum_means_none_over_ipv4_only() {
        let bytes = datagram(0);
        let packet = UdpPacket::new_checked(&bytes[..]).expect("fixture is valid");
        assert!(packet.verify_checksum_v4(&SRC4, &DST4));
        assert!(!packet.verify_checksum_v6(&SRC6, &DST6));
    }

    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        // With this data word the one's-complement sum is 0xffff, so the checksum computes
        // to 0, which must be transmitted as 0xffff.
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        let mut bytes = [0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0a, 0x00, 0x00, 0xe0, 0x1f];
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        packet.fill_checksum_v4(&src, &dst);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum_v4(&src, &dst));
    }

    #[test]
    fn length_errors() {
        let bytes = datagram(0);
        for len in 0..bytes.len() {
            assert_eq!(
                UdpPacket::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
        let mut short = datagram(0);
        short[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            UdpPacket::new_checked(&short[..]).err(),
            Some(Error::BadLength)
        );
        // A length field shorter than the buffer delimits the payload.
        let mut padded = datagram(0);
        padded.extend([0; 3]);
        let packet = UdpPacket::new_checked(&padded[..]).expect("padding is fine");
        assert_eq!(packet.payload().len(), 13);
    }

    #[test]
    fn emit_writes_header() {
        let repr = UdpRepr {
            src_port: 51000,
            dst_port: 53,
        };
        let mut bytes = vec![0xffu8; repr.buffer_len(13)];
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet, 13);
        packet.payload_mut().copy_from_slice(b"hello sluice!");
        packet.fill_checksum_v4(&SRC4, &DST4);
        assert_eq!(bytes, datagram(0xb66f));
        let parsed = UdpRepr::parse(&UdpPacket::new_checked(&bytes[..]).expect("valid"));
        assert_eq!(parsed, Ok(repr));
    }
}
