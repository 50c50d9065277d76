//! IPv4 headers (RFC 791), including options and fragment fields.
//!
//! This module exists because IPv4 is both the outer header of every GENEVE packet and one of
//! the two inner protocols. [`Ipv4Packet::new_checked`] guarantees that the buffer holds the
//! whole header including options (IHL ≥ 5) and the whole datagram its total length claims, so
//! [`Ipv4Packet::options`] and [`Ipv4Packet::payload`] never go out of bounds; bytes beyond the
//! total length (Ethernet minimum-size padding) are not part of the payload.
//!
//! Fragments are recognised, not rejected: the view reports them and [`Ipv4Repr`] records them
//! in [`Ipv4Repr::frag`]. For the IPv4 packet quoted inside an ICMP error, whose tail is
//! usually cut off, [`Ipv4Packet::new_truncated`] checks the header only.

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, Result, read_u16, write_u16};

/// The length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// The largest payload an IPv4 header without options can describe.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - HEADER_LEN;

mod field {
    use crate::Field;

    /// Version (high nibble) and IHL (low nibble).
    pub(super) const VER_IHL: usize = 0;
    /// DSCP (high six bits) and ECN (low two bits).
    pub(super) const DSCP_ECN: usize = 1;
    /// Total length of the datagram.
    pub(super) const LENGTH: Field = 2..4;
    /// Identification.
    pub(super) const IDENT: Field = 4..6;
    /// Flags (three high bits) and fragment offset (thirteen bits, in 8-byte units).
    pub(super) const FLG_OFF: Field = 6..8;
    /// Time to live.
    pub(super) const TTL: usize = 8;
    /// Protocol of the payload.
    pub(super) const PROTOCOL: usize = 9;
    /// Header checksum.
    pub(super) const CHECKSUM: Field = 10..12;
    /// Source address.
    pub(super) const SRC_ADDR: Field = 12..16;
    /// Destination address.
    pub(super) const DST_ADDR: Field = 16..20;
    /// First byte of the options, when IHL > 5.
    pub(super) const OPTIONS: usize = 20;

    /// The Don't Fragment flag within `FLG_OFF`.
    pub(super) const FLAG_DF: u16 = 0x4000;
    /// The More Fragments flag within `FLG_OFF`.
    pub(super) const FLAG_MF: u16 = 0x2000;
    /// The fragment offset bits within `FLG_OFF`.
    pub(super) const OFFSET_MASK: u16 = 0x1fff;
}

/// A read/write view over an IPv4 packet.
///
/// Accessors on a view from [`Ipv4Packet::new_unchecked`] panic if the buffer is shorter than
/// [`HEADER_LEN`]; [`Ipv4Packet::options`], [`Ipv4Packet::payload`] and
/// [`Ipv4Packet::verify_checksum`] also panic if it is shorter than the IHL claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn ipv4_at(bytes: &[u8], field: crate::Field) -> Ipv4Addr {
    let mut octets = [0u8; 4];
    octets.copy_from_slice(&bytes[field]);
    Ipv4Addr::from(octets)
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps a buffer that must hold the whole header but may end before the total length
    /// (the quoted packet inside an ICMP error); see [`Ipv4Packet::check_header_len`].
    ///
    /// On such a view [`Ipv4Packet::payload`] returns only the bytes present.
    pub fn new_truncated(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_header_len()?;
        Ok(packet)
    }

    /// Checks the header alone: [`Error::Truncated`] if the buffer is shorter than 20 bytes or
    /// than the IHL, [`Error::BadHeaderLength`] if IHL < 5, [`Error::BadLength`] if the total
    /// length is smaller than the header.
    pub fn check_header_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.header_len() < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if len < self.header_len() {
            return Err(Error::Truncated);
        }
        if usize::from(self.total_len()) < self.header_len() {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Checks the header as [`Ipv4Packet::check_header_len`] does, and also returns
    /// [`Error::Truncated`] if the buffer is shorter than the total length.
    pub fn check_len(&self) -> Result<()> {
        self.check_header_len()?;
        if self.buffer.as_ref().len() < usize::from(self.total_len()) {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Returns the Internet Header Length field, in 4-byte words.
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }

    /// Returns the header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// Returns the Differentiated Services Code Point.
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Returns the Explicit Congestion Notification bits.
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Returns the total length of the datagram, header included.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Returns the identification field.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    fn flags_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF)
    }

    /// Returns the Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & field::FLAG_DF != 0
    }

    /// Returns the More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flags_offset() & field::FLAG_MF != 0
    }

    /// Returns the fragment offset in bytes (the field times 8).
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & field::OFFSET_MASK) << 3
    }

    /// Returns true if the packet is a fragment: More Fragments is set or the offset is
    /// non-zero.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Returns true for the first fragment of a fragmented datagram (More Fragments set,
    /// offset zero); an unfragmented packet is not a first fragment.
    ///
    /// The transport header is readable when `!is_fragment() || is_first_fragment()`, that
    /// is, whenever [`Ipv4Packet::frag_offset`] is zero.
    pub fn is_first_fragment(&self) -> bool {
        self.more_frags() && self.frag_offset() == 0
    }

    /// Returns the time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Returns the protocol of the payload.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Returns the header checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Returns the source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Returns the destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        ipv4_at(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Returns true if the header checksum (over the header and its options) is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(&self.buffer.as_ref()[..self.header_len()]) == 0xffff
    }

    /// Returns true if the buffer ends before the total length (possible only on views from
    /// [`Ipv4Packet::new_truncated`] or [`Ipv4Packet::new_unchecked`]).
    pub fn is_truncated(&self) -> bool {
        self.buffer.as_ref().len() < usize::from(self.total_len())
    }

    /// The payload's byte range: from the header length to the total length, or to the end of
    /// the buffer if that comes first.
    fn payload_range(&self) -> core::ops::Range<usize> {
        let header_len = self.header_len();
        let end = usize::from(self.total_len())
            .min(self.buffer.as_ref().len())
            .max(header_len);
        header_len..end
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// Returns the options, between the fixed header and the header length.
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Returns the payload: the bytes from the header length to the total length. Padding
    /// beyond the total length is excluded; on a truncated view the payload is cut short.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version field; only the low 4 bits of `value` are used.
    pub fn set_version(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0x0f) | (value << 4);
    }

    /// Sets the header length in bytes; it must be a multiple of 4 between 20 and 60.
    pub fn set_header_len(&mut self, value: usize) {
        let byte = &mut self.buffer.as_mut()[field::VER_IHL];
        *byte = (*byte & 0xf0) | ((value / 4) as u8 & 0x0f);
    }

    /// Sets the Differentiated Services Code Point; only the low 6 bits are used.
    pub fn set_dscp(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & 0x03) | (value << 2);
    }

    /// Sets the Explicit Congestion Notification bits; only the low 2 bits are used.
    pub fn set_ecn(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *byte = (*byte & 0xfc) | (value & 0x03);
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the identification field.
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    fn set_flags_offset(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF, value);
    }

    /// Clears all three flag bits, the reserved one included.
    pub fn clear_flags(&mut self) {
        let value = self.flags_offset() & field::OFFSET_MASK;
        self.set_flags_offset(value);
    }

    /// Sets the Don't Fragment flag.
    pub fn set_dont_frag(&mut self, value: bool) {
        let raw = self.flags_offset() & !field::FLAG_DF;
        self.set_flags_offset(raw | if value { field::FLAG_DF } else { 0 });
    }

    /// Sets the More Fragments flag.
    pub fn set_more_frags(&mut self, value: bool) {
        let raw = self.flags_offset() & !field::FLAG_MF;
        self.set_flags_offset(raw | if value { field::FLAG_MF } else { 0 });
    }

    /// Sets the fragment offset in bytes; it must be a multiple of 8 (the low 3 bits are
    /// dropped).
    pub fn set_frag_offset(&mut self, value: u16) {
        let raw = self.flags_offset() & !field::OFFSET_MASK;
        self.set_flags_offset(raw | (value >> 3));
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol of the payload.
    pub fn set_protocol(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = value.into();
    }

    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Computes the header checksum (options included) and writes it.
    ///
    /// Panics if the buffer is shorter than the header length.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(!sum);
    }

    /// Returns the options for writing.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..header_len]
    }

    /// Returns the payload for writing, with the same bounds as [`Ipv4Packet::payload`].
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Ipv4Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Ipv4Repr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(error) => write!(f, "IPv4 ({error})"),
        }
    }
}

/// The fragment fields of an IPv4 packet that is a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Fragment {
    /// Offset of this fragment's payload within the original payload, in bytes (a multiple
    /// of 8).
    pub offset: u16,
    /// More Fragments: another fragment follows this one.
    pub more: bool,
}

/// The owned contents of an IPv4 header.
///
/// Options are skipped on parse and never emitted; [`Ipv4Repr::payload_len`] is the length
/// after the options, so a parsed packet with options re-emits shorter by their length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload.
    pub next_header: IpProtocol,
    /// Length of the payload in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub hop_limit: u8,
    /// Differentiated Services Code Point (6 bits).
    pub dscp: u8,
    /// Explicit Congestion Notification (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
    /// The fragment fields, when the packet is a fragment (More Fragments set or a non-zero
    /// offset); `None` for a whole datagram.
    pub frag: Option<Ipv4Fragment>,
}

impl Ipv4Repr {
    /// Reads a header: checks lengths, the version ([`Error::BadVersion`]) and the checksum
    /// ([`Error::BadChecksum`]). Fragments are accepted and recorded in `frag`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(Error::BadVersion);
        }
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let frag = packet.is_fragment().then(|| Ipv4Fragment {
            offset: packet.frag_offset(),
            more: packet.more_frags(),
        });
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            hop_limit: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            frag,
        })
    }

    /// Returns the emitted header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the emitted datagram length, header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header without options and fills its checksum; the payload is left
    /// untouched.
    ///
    /// `payload_len` must not exceed [`MAX_PAYLOAD_LEN`] (the total length is truncated to 16
    /// bits otherwise). Panics if the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        packet.set_version(4);
        packet.set_header_len(HEADER_LEN);
        packet.set_dscp(self.dscp);
        packet.set_ecn(self.ecn);
        packet.set_total_len(self.buffer_len() as u16);
        packet.set_ident(self.ident);
        packet.set_flags_offset(0);
        packet.set_dont_frag(self.dont_frag);
        if let Some(frag) = self.frag {
            packet.set_more_frags(frag.more);
            packet.set_frag_offset(frag.offset);
        }
        packet.set_ttl(self.hop_limit);
        packet.set_protocol(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

impl fmt::Display for Ipv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv4 src={} dst={} proto={} ttl={} len={} id={}",
            self.src_addr,
            self.dst_addr,
            self.next_header,
            self.hop_limit,
            self.payload_len,
            self.ident
        )?;
        if self.dont_frag {
            f.write_str(" DF")?;
        }
        if let Some(frag) = self.frag {
            write!(
                f,
                " frag={}{}",
                frag.offset,
                if frag.more { "+" } else { "" }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header of Wikipedia's "IPv4 header checksum" example (UDP from 192.168.0.1 to
    /// 192.168.0.199, checksum 0xb861), followed by a payload that fills its total length of
    /// 115 bytes, plus four bytes of link-layer padding.
    fn wikipedia_packet() -> Vec<u8> {
        let mut bytes = vec![
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        bytes.extend((0..95).map(|i| i as u8));
        bytes.extend([0xee; 4]);
        bytes
    }

    /// An IGMPv3 report with a Router Alert option (IHL 6), checksum computed independently.
    const WITH_OPTIONS: [u8; 40] = [
        0x46, 0xc0, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x01, 0x02, 0xf9, 0xf8, 0x0a, 0x00, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x16, 0x94, 0x04, 0x00, 0x00, // Router Alert
        0x22, 0x00, 0xf9, 0x02, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0xef, 0x01, 0x02,
        0x03,
    ];

    #[test]
    fn wikipedia_fixture_accessors() {
        let bytes = wikipedia_packet();
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("fixture is valid");
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.ihl(), 5);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.dscp(), 0);
        assert_eq!(packet.ecn(), 0);
        assert_eq!(packet.total_len(), 115);
        assert_eq!(packet.ident(), 0);
        assert!(packet.dont_frag());
        assert!(!packet.more_frags());
        assert_eq!(packet.frag_offset(), 0);
        assert!(!packet.is_fragment());
        assert!(!packet.is_first_fragment());
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), IpProtocol::Udp);
        assert_eq!(packet.checksum(), 0xb861);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert!(packet.verify_checksum());
        assert!(packet.options().is_empty());
        assert_eq!(packet.payload().len(), 95, "padding is not payload");
        assert_eq!(packet.payload()[94], 94);
        assert!(!packet.is_truncated());
        assert_eq!(
            packet.to_string(),
            "IPv4 src=192.168.0.1 dst=192.168.0.199 proto=UDP ttl=64 len=95 id=0 DF"
        );
    }

    #[test]
    fn emit_reproduces_wikipedia_header() {
        let bytes = wikipedia_packet();
        let repr =
            Ipv4Repr::parse(&Ipv4Packet::new_checked(&bytes[..]).expect("valid")).expect("valid");
        assert_eq!(repr.payload_len, 95);
        assert_eq!(repr.frag, None);
        let mut out = [0u8; 20];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[..], bytes[..20]);
    }

    #[test]
    fn options_are_skipped() {
        let packet = Ipv4Packet::new_checked(&WITH_OPTIONS[..]).expect("fixture is valid");
        assert_eq!(packet.ihl(), 6);
        assert_eq!(packet.header_len(), 24);
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(
            packet.payload()[0],
            0x22,
            "payload starts after the options"
        );
        assert_eq!(packet.payload().len(), 16);
        assert_eq!(packet.dscp(), 48);
        assert_eq!(packet.protocol(), IpProtocol::Igmp);
        assert!(packet.verify_checksum());
        let repr = Ipv4Repr::parse(&packet).expect("valid");
        assert_eq!(repr.payload_len, 16);
        assert_eq!(repr.dscp, 48);
    }

    #[test]
    fn fill_checksum_covers_options() {
        let mut bytes = WITH_OPTIONS;
        bytes[10] = 0;
        bytes[11] = 0;
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum();
        assert_eq!(packet.checksum(), 0xf9f8);
    }

    #[test]
    fn truncation_at_every_header_boundary() {
        let bytes = wikipedia_packet();
        for len in 0..115 {
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
        for len in 20..24 {
            assert_eq!(
                Ipv4Packet::new_checked(&WITH_OPTIONS[..len]).err(),
                Some(Error::Truncated),
                "options cut at {len}"
            );
        }
    }

    #[test]
    fn bad_ihl_and_lying_lengths() {
        let mut bytes = wikipedia_packet();
        bytes[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).err(),
            Some(Error::BadHeaderLength)
        );

        let mut bytes = wikipedia_packet();
        bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).err(),
            Some(Error::BadLength)
        );

        let mut bytes = wikipedia_packet();
        bytes[2..4].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).err(),
            Some(Error::Truncated)
        );

        // IHL 15 claims 60 bytes of header; a 40-byte buffer cannot hold it.
        let mut bytes = WITH_OPTIONS;
        bytes[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn repr_rejects_bad_version_and_checksum() {
        let mut bytes = wikipedia_packet();
        bytes[0] = 0x65;
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("lengths are fine");
        assert_eq!(Ipv4Repr::parse(&packet), Err(Error::BadVersion));

        let mut bytes = wikipedia_packet();
        bytes[11] ^= 1;
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("lengths are fine");
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), Err(Error::BadChecksum));
    }

    #[test]
    fn fragments_are_recorded() {
        let mut bytes = wikipedia_packet();
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.set_dont_frag(false);
        packet.set_more_frags(true);
        packet.fill_checksum();
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("valid");
        assert!(packet.is_fragment());
        assert!(packet.is_first_fragment());
        let repr = Ipv4Repr::parse(&packet).expect("fragments parse");
        assert_eq!(
            repr.frag,
            Some(Ipv4Fragment {
                offset: 0,
                more: true
            })
        );

        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.set_more_frags(false);
        packet.set_frag_offset(1480);
        packet.fill_checksum();
        let packet = Ipv4Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(packet.frag_offset(), 1480);
        assert!(packet.is_fragment());
        assert!(!packet.is_first_fragment());
        let repr = Ipv4Repr::parse(&packet).expect("fragments parse");
        assert_eq!(
            repr.frag,
            Some(Ipv4Fragment {
                offset: 1480,
                more: false
            })
        );
        assert!(repr.to_string().ends_with(" frag=1480"));
    }

    #[test]
    fn truncated_view_for_quoted_packets() {
        let bytes = wikipedia_packet();
        let quoted = &bytes[..28];
        assert_eq!(
            Ipv4Packet::new_checked(quoted).err(),
            Some(Error::Truncated)
        );
        let packet = Ipv4Packet::new_truncated(quoted).expect("header is whole");
        assert!(packet.is_truncated());
        assert_eq!(packet.payload(), &bytes[20..28]);
        assert_eq!(
            Ipv4Packet::new_truncated(&bytes[..19]).err(),
            Some(Error::Truncated)
        );
    }
}
