//! IPv6 headers (RFC 8200) and a bounded walk over the extension-header chain.
//!
//! This module exists because GWLB carries inner IPv6 traffic, and the gateway must find the
//! transport header behind any extension headers to identify a flow. [`Ipv6Packet::new_checked`]
//! guarantees the fixed 40-byte header and the payload its length field claims are present;
//! bytes beyond that are not payload. Jumbograms (payload length 0 with a Jumbo Payload option)
//! are not supported: a payload length of 0 means an empty payload.
//!
//! The walk ([`Ipv6ExtHeaders`], [`upper_layer`]) never reads past the IPv6 payload, stops
//! after [`MAX_EXT_HEADERS`] headers, accepts Hop-by-Hop only as the first header, and stops at
//! a non-first fragment, whose upper-layer header is in another packet. Offsets it reports are
//! relative to the start of the IPv6 *payload*, that is, to the byte after the fixed header.

use core::fmt;
use core::net::Ipv6Addr;

use crate::ip::IpProtocol;
use crate::{Error, Result, read_u16, read_u32, write_u16, write_u32};

/// The length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// The most extension headers [`Ipv6ExtHeaders`] walks before giving up with
/// [`Error::ExtensionChainTooLong`].
pub const MAX_EXT_HEADERS: usize = 8;

mod field {
    use crate::Field;

    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub(super) const VER_TC_FLOW: Field = 0..4;
    /// Payload length, extension headers included.
    pub(super) const LENGTH: Field = 4..6;
    /// Type of the first extension header or of the upper layer.
    pub(super) const NXT_HDR: usize = 6;
    /// Hop limit.
    pub(super) const HOP_LIMIT: usize = 7;
    /// Source address.
    pub(super) const SRC_ADDR: Field = 8..24;
    /// Destination address.
    pub(super) const DST_ADDR: Field = 24..40;
    /// First byte of the payload.
    pub(super) const PAYLOAD: usize = 40;

    /// Extension headers: Next Header.
    pub(super) const EXT_NXT_HDR: usize = 0;
    /// Extension headers: Hdr Ext Len (AH: Payload Len).
    pub(super) const EXT_LEN: usize = 1;
    /// Fragment header: offset (13 bits, 8-byte units), two reserved bits, M flag.
    pub(super) const FRAG_OFF_M: Field = 2..4;
    /// Fragment header: identification.
    pub(super) const FRAG_IDENT: Field = 4..8;
    /// Fragment header: total length.
    pub(super) const FRAG_LEN: usize = 8;
}

/// A read/write view over an IPv6 packet.
///
/// Accessors on a view from [`Ipv6Packet::new_unchecked`] panic if the buffer is shorter than
/// [`HEADER_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn ipv6_at(bytes: &[u8], field: crate::Field) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[field]);
    Ipv6Addr::from(octets)
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv6Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps a buffer that must hold the fixed header but may end before the payload length
    /// (the quoted packet inside an ICMPv6 error). [`Ipv6Packet::payload`] then returns only
    /// the bytes present.
    pub fn new_truncated(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        if packet.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(packet)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the fixed header or than the
    /// payload length claims.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN || len < self.total_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the fixed header length, always [`HEADER_LEN`]; extension headers count as
    /// payload.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the length of the whole packet the header describes: 40 plus the payload
    /// length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }

    fn first_word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// Returns the version field (6 for IPv6).
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Returns the traffic class.
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// Returns the flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }

    /// Returns the payload length, extension headers included.
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Returns the type of the header that follows the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Returns the hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Returns the source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Returns the destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        ipv6_at(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Returns true if the buffer ends before the payload length (possible only on views from
    /// [`Ipv6Packet::new_truncated`] or [`Ipv6Packet::new_unchecked`]).
    pub fn is_truncated(&self) -> bool {
        self.buffer.as_ref().len() < self.total_len()
    }

    fn payload_range(&self) -> core::ops::Range<usize> {
        let end = self.total_len().min(self.buffer.as_ref().len());
        field::PAYLOAD..end.max(field::PAYLOAD)
    }

    /// Returns an iterator over the extension headers, borrowing the packet.
    pub fn ext_headers(&self) -> Ipv6ExtHeaders<'_> {
        Ipv6ExtHeaders::new(
            self.next_header(),
            &self.buffer.as_ref()[self.payload_range()],
        )
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// Returns the payload (extension headers included), up to the payload length; on a
    /// truncated view, up to the end of the buffer.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.payload_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn set_first_word(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW, value);
    }

    /// Sets the version field; only the low 4 bits are used.
    pub fn set_version(&mut self, value: u8) {
        let word = (self.first_word() & 0x0fff_ffff) | (u32::from(value & 0x0f) << 28);
        self.set_first_word(word);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, value: u8) {
        let word = (self.first_word() & 0xf00f_ffff) | (u32::from(value) << 20);
        self.set_first_word(word);
    }

    /// Sets the flow label; only the low 20 bits are used.
    pub fn set_flow_label(&mut self, value: u32) {
        let word = (self.first_word() & 0xfff0_0000) | (value & 0x000f_ffff);
        self.set_first_word(word);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the type of the header that follows the fixed header.
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&value.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, value: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&value.octets());
    }

    /// Returns the payload for writing, with the same bounds as [`Ipv6Packet::payload`].
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        &mut self.buffer.as_mut()[range]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Ipv6Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Ipv6Repr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(error) => write!(f, "IPv6 ({error})"),
        }
    }
}

/// The fields of an IPv6 Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Offset of this fragment's data within the fragmentable part, in bytes (a multiple of
    /// 8).
    pub offset: u16,
    /// M flag: more fragments follow.
    pub more: bool,
    /// Identification shared by all fragments of one packet.
    pub ident: u32,
}

/// One extension header found by [`Ipv6ExtHeaders`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6ExtHeader {
    /// The kind of this header (the Next Header value that announced it).
    pub kind: IpProtocol,
    /// Offset of this header from the start of the IPv6 payload.
    pub offset: usize,
    /// Length of this header in bytes.
    pub len: usize,
    /// The Next Header value this header carries.
    pub next_header: IpProtocol,
    /// The fragment fields, when this is a Fragment header.
    pub fragment: Option<Ipv6Fragment>,
}

/// Where the upper-layer (transport) header of an IPv6 packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UpperLayer {
    /// The protocol of the upper layer: the last Next Header value in the chain.
    pub protocol: IpProtocol,
    /// Offset of the upper-layer header from the start of the IPv6 payload (add
    /// [`HEADER_LEN`] for an offset within the packet).
    pub offset: usize,
    /// The Fragment header's fields, if the packet has one.
    pub fragment: Option<Ipv6Fragment>,
}

impl UpperLayer {
    /// Returns false for a non-first fragment: the bytes at [`UpperLayer::offset`] are then
    /// the middle of the original payload, not an upper-layer header, and the extension
    /// headers after the Fragment header were not walked.
    pub fn has_header(&self) -> bool {
        self.fragment.is_none_or(|fragment| fragment.offset == 0)
    }
}

/// The state of an [`Ipv6ExtHeaders`] walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WalkState {
    /// More headers may follow.
    Walking,
    /// The upper layer (or a non-first fragment) was reached.
    Done,
    /// The walk failed with this error, which was reported once.
    Failed(Error),
}

/// An iterator over the extension headers of an IPv6 payload, yielding each header or the
/// error that ends the walk.
///
/// Recognised extension headers: Hop-by-Hop, Routing, Fragment, Destination Options and
/// Authentication Header (whose length is `(len + 2) * 4` bytes, RFC 4302). Anything else,
/// ESP and "no next header" included, is the upper layer. After an error the iterator yields
/// nothing more.
#[derive(Debug, Clone)]
pub struct Ipv6ExtHeaders<'a> {
    payload: &'a [u8],
    next: IpProtocol,
    offset: usize,
    count: usize,
    fragment: Option<Ipv6Fragment>,
    state: WalkState,
}

impl<'a> Ipv6ExtHeaders<'a> {
    /// Starts a walk over `payload` (the bytes after the fixed header), whose first header is
    /// of type `next_header`.
    pub fn new(next_header: IpProtocol, payload: &'a [u8]) -> Self {
        Ipv6ExtHeaders {
            payload,
            next: next_header,
            offset: 0,
            count: 0,
            fragment: None,
            state: WalkState::Walking,
        }
    }

    /// Walks the rest of the chain and returns where the upper layer is, or the first error.
    pub fn upper_layer(mut self) -> Result<UpperLayer> {
        for header in self.by_ref() {
            header?;
        }
        match self.state {
            WalkState::Failed(error) => Err(error),
            WalkState::Walking | WalkState::Done => Ok(UpperLayer {
                protocol: self.next,
                offset: self.offset,
                fragment: self.fragment,
            }),
        }
    }

    fn is_extension(kind: IpProtocol) -> bool {
        matches!(
            kind,
            IpProtocol::HopByHop
                | IpProtocol::Ipv6Route
                | IpProtocol::Ipv6Frag
                | IpProtocol::Ipv6Opts
                | IpProtocol::Ah
        )
    }

    /// Reads the header at the current offset; the caller has checked that `self.next` is an
    /// extension header.
    fn step(&mut self) -> Result<Ipv6ExtHeader> {
        if self.count == MAX_EXT_HEADERS {
            return Err(Error::ExtensionChainTooLong);
        }
        let kind = self.next;
        if kind == IpProtocol::HopByHop && self.count != 0 {
            return Err(Error::Malformed);
        }
        let rest = self.payload.get(self.offset..).unwrap_or_default();
        let (Some(&next_raw), Some(&len_raw)) =
            (rest.get(field::EXT_NXT_HDR), rest.get(field::EXT_LEN))
        else {
            return Err(Error::Truncated);
        };
        let len = match kind {
            IpProtocol::Ah => (usize::from(len_raw) + 2) * 4,
            IpProtocol::Ipv6Frag => field::FRAG_LEN,
            _ => (usize::from(len_raw) + 1) * 8,
        };
        if len > rest.len() {
            return Err(Error::Truncated);
        }
        let fragment = if kind == IpProtocol::Ipv6Frag {
            if self.fragment.is_some() {
                return Err(Error::Malformed);
            }
            let off_m = read_u16(rest, field::FRAG_OFF_M);
            let fragment = Ipv6Fragment {
                offset: off_m & 0xfff8,
                more: off_m & 0x0001 != 0,
                ident: read_u32(rest, field::FRAG_IDENT),
            };
            self.fragment = Some(fragment);
            Some(fragment)
        } else {
            None
        };
        let header = Ipv6ExtHeader {
            kind,
            offset: self.offset,
            len,
            next_header: IpProtocol::from(next_raw),
            fragment,
        };
        self.offset += len;
        self.count += 1;
        self.next = header.next_header;
        Ok(header)
    }
}

impl Iterator for Ipv6ExtHeaders<'_> {
    type Item = Result<Ipv6ExtHeader>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != WalkState::Walking {
            return None;
        }
        let past_non_first_fragment = self.fragment.is_some_and(|f| f.offset != 0);
        if !Self::is_extension(self.next) || past_non_first_fragment {
            self.state = WalkState::Done;
            return None;
        }
        match self.step() {
            Ok(header) => Some(Ok(header)),
            Err(error) => {
                self.state = WalkState::Failed(error);
                Some(Err(error))
            }
        }
    }
}

impl core::iter::FusedIterator for Ipv6ExtHeaders<'_> {}

/// Walks the extension headers of `packet` and returns where its upper-layer header is.
///
/// The offset in the result is relative to the IPv6 payload. For a non-first fragment the
/// walk stops at the Fragment header and [`UpperLayer::has_header`] is false.
pub fn upper_layer<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<UpperLayer> {
    if packet.buffer.as_ref().len() < HEADER_LEN {
        return Err(Error::Truncated);
    }
    packet.ext_headers().upper_layer()
}

/// The owned contents of the fixed IPv6 header.
///
/// Traffic class and flow label are not represented and are emitted as zero; extension
/// headers count as payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Type of the header after the fixed header.
    pub next_header: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads the fixed header: checks lengths and the version ([`Error::BadVersion`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(Error::BadVersion);
        }
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
        })
    }

    /// Returns the header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the emitted packet length, header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header with traffic class and flow label zero; the payload is left
    /// untouched.
    ///
    /// `payload_len` must fit in 16 bits. Panics if the buffer is shorter than
    /// [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        packet.set_first_word(0);
        packet.set_version(6);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

impl fmt::Display for Ipv6Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IPv6 src={} dst={} nxt={} hlim={} len={}",
            self.src_addr, self.dst_addr, self.next_header, self.hop_limit, self.payload_len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    /// Builds a packet: fixed header (traffic class 0xb8, flow label 0x12345, hop limit 64)
    /// announcing `first`, followed by `payload`.
    fn build(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x6b, 0x81, 0x23, 0x45];
        bytes.extend((payload.len() as u16).to_be_bytes());
        bytes.extend([first, 64]);
        bytes.extend(SRC);
        bytes.extend(DST);
        bytes.extend(payload);
        bytes
    }

    /// A UDP header from port 53 to port 1024 with 4 bytes of data.
    const UDP: [u8; 12] = [0, 53, 4, 0, 0, 12, 0, 0, 1, 2, 3, 4];

    /// Hop-by-Hop (8 bytes, PadN) announcing `next`.
    fn hop_by_hop(next: u8) -> [u8; 8] {
        [next, 0, 1, 4, 0, 0, 0, 0]
    }

    /// Destination Options (16 bytes) announcing `next`.
    fn dst_opts(next: u8) -> [u8; 16] {
        [next, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    }

    /// A Fragment header announcing `next` with the given offset (bytes), M flag and ident.
    fn fragment(next: u8, offset: u16, more: bool) -> [u8; 8] {
        let off_m = offset | u16::from(more);
        let [a, b] = off_m.to_be_bytes();
        [next, 0, a, b, 0xde, 0xad, 0xbe, 0xef]
    }

    #[test]
    fn fixed_header_accessors() {
        let bytes = build(17, &UDP);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("fixture is valid");
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0xb8);
        assert_eq!(packet.flow_label(), 0x12345);
        assert_eq!(packet.payload_len(), 12);
        assert_eq!(packet.next_header(), IpProtocol::Udp);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src_addr(), Ipv6Addr::from(SRC));
        assert_eq!(packet.dst_addr(), Ipv6Addr::from(DST));
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.total_len(), 52);
        assert_eq!(packet.payload(), &UDP);
        assert_eq!(
            packet.to_string(),
            "IPv6 src=2001:db8::1 dst=2001:db8::2 nxt=UDP hlim=64 len=12"
        );
        let upper = upper_layer(&packet).expect("no extension headers");
        assert_eq!(
            upper,
            UpperLayer {
                protocol: IpProtocol::Udp,
                offset: 0,
                fragment: None
            }
        );
        assert!(upper.has_header());
    }

    #[test]
    fn padding_is_not_payload() {
        let mut bytes = build(17, &UDP);
        bytes.extend([0xee; 6]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("fixture is valid");
        assert_eq!(packet.payload(), &UDP);
    }

    #[test]
    fn truncation_and_lying_payload_length() {
        let bytes = build(17, &UDP);
        for len in 0..bytes.len() {
            assert_eq!(
                Ipv6Packet::new_checked(&bytes[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
        let packet = Ipv6Packet::new_truncated(&bytes[..44]).expect("fixed header is whole");
        assert!(packet.is_truncated());
        assert_eq!(packet.payload(), &UDP[..4]);
    }

    #[test]
    fn repr_checks_version_and_round_trips() {
        let mut bytes = build(17, &UDP);
        let repr =
            Ipv6Repr::parse(&Ipv6Packet::new_checked(&bytes[..]).expect("valid")).expect("valid");
        let mut out = [0u8; 40];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut out[..]));
        assert_eq!(out[0..4], [0x60, 0, 0, 0]);
        assert_eq!(out[4..], bytes[4..40]);

        bytes[0] = 0x4b;
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("lengths are fine");
        assert_eq!(Ipv6Repr::parse(&packet), Err(Error::BadVersion));
    }

    #[test]
    fn walks_hop_by_hop_dst_opts_and_first_fragment() {
        let mut payload = Vec::new();
        payload.extend(hop_by_hop(60));
        payload.extend(dst_opts(44));
        payload.extend(fragment(17, 0, true));
        payload.extend(UDP);
        let bytes = build(0, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");

        let headers: Vec<_> = packet
            .ext_headers()
            .collect::<Result<_>>()
            .expect("chain is valid");
        let summary: Vec<_> = headers.iter().map(|h| (h.kind, h.offset, h.len)).collect();
        assert_eq!(
            summary,
            [
                (IpProtocol::HopByHop, 0, 8),
                (IpProtocol::Ipv6Opts, 8, 16),
                (IpProtocol::Ipv6Frag, 24, 8),
            ]
        );
        let frag = Ipv6Fragment {
            offset: 0,
            more: true,
            ident: 0xdead_beef,
        };
        assert_eq!(headers[2].fragment, Some(frag));
        let upper = upper_layer(&packet).expect("chain is valid");
        assert_eq!(upper.protocol, IpProtocol::Udp);
        assert_eq!(upper.offset, 32);
        assert_eq!(upper.fragment, Some(frag));
        assert!(upper.has_header());
        assert_eq!(&packet.payload()[upper.offset..], &UDP);
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        let mut payload = Vec::new();
        // The Fragment header claims TCP follows, and the fragment data happens to look like
        // another extension header; neither may be parsed.
        payload.extend(fragment(60, 1232, false));
        payload.extend([0xff; 16]);
        let bytes = build(44, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        let upper = upper_layer(&packet).expect("chain is valid");
        assert_eq!(upper.protocol, IpProtocol::Ipv6Opts);
        assert_eq!(upper.offset, 8);
        assert_eq!(upper.fragment.map(|f| f.offset), Some(1232));
        assert!(!upper.has_header());
        assert_eq!(packet.ext_headers().count(), 1);
    }

    #[test]
    fn authentication_header_uses_rfc4302_length() {
        // AH with Payload Len 4: (4 + 2) * 4 = 24 bytes.
        let mut payload = vec![6, 4, 0, 0];
        payload.extend([0; 20]);
        payload.extend([0; 20]);
        let bytes = build(51, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        let upper = upper_layer(&packet).expect("chain is valid");
        assert_eq!(upper.protocol, IpProtocol::Tcp);
        assert_eq!(upper.offset, 24);
    }

    #[test]
    fn hop_by_hop_must_be_first() {
        let mut payload = Vec::new();
        payload.extend(dst_opts(0));
        payload.extend(hop_by_hop(17));
        payload.extend(UDP);
        let bytes = build(60, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::Malformed));
        let mut walk = packet.ext_headers();
        assert!(matches!(walk.next(), Some(Ok(_))));
        assert_eq!(walk.next(), Some(Err(Error::Malformed)));
        assert_eq!(walk.next(), None, "the walk is fused after an error");
    }

    #[test]
    fn two_fragment_headers_are_malformed() {
        let mut payload = Vec::new();
        payload.extend(fragment(44, 0, true));
        payload.extend(fragment(17, 0, true));
        payload.extend(UDP);
        let bytes = build(44, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::Malformed));
    }

    #[test]
    fn chain_too_long() {
        let mut payload = Vec::new();
        for _ in 0..MAX_EXT_HEADERS {
            payload.extend(dst_opts(60));
        }
        payload.extend(dst_opts(17));
        payload.extend(UDP);
        let bytes = build(60, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::ExtensionChainTooLong));

        // Exactly the maximum is fine.
        let mut payload = Vec::new();
        for _ in 0..MAX_EXT_HEADERS - 1 {
            payload.extend(dst_opts(60));
        }
        payload.extend(dst_opts(17));
        payload.extend(UDP);
        let bytes = build(60, &payload);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(
            upper_layer(&packet).map(|u| u.offset),
            Ok(16 * MAX_EXT_HEADERS)
        );
    }

    #[test]
    fn extension_header_running_past_payload() {
        // Destination Options claims 16 bytes but the payload holds 12.
        let bytes = build(60, &dst_opts(17)[..12]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::Truncated));

        // One byte of extension header: not even Next Header and length.
        let bytes = build(60, &[17]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::Truncated));

        // Bytes beyond the payload length do not count, even if present in the buffer.
        let mut bytes = build(60, &dst_opts(17)[..8]);
        bytes.extend([0; 8]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(upper_layer(&packet), Err(Error::Truncated));
    }

    #[test]
    fn no_next_header_and_esp_end_the_walk() {
        let bytes = build(59, &[]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(
            upper_layer(&packet).map(|u| u.protocol),
            Ok(IpProtocol::Ipv6NoNxt)
        );
        let bytes = build(50, &[0; 16]);
        let packet = Ipv6Packet::new_checked(&bytes[..]).expect("valid");
        assert_eq!(
            upper_layer(&packet).map(|u| u.protocol),
            Ok(IpProtocol::Esp)
        );
    }
}
