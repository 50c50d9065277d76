//! ICMP for IPv6 (RFC 4443): echo, error messages and access to the packet an error quotes.
//!
//! This module exists for the same reasons as [`crate::icmpv4`]: answering pings and mapping
//! errors, above all "Packet Too Big" (the only PMTU signal IPv6 has), to the flow of the
//! packet they quote. The view's buffer is the whole ICMPv6 message; [`Icmpv6Packet::new_checked`]
//! guarantees the 8-byte header is present. Neighbour Discovery and MLD messages are recognised
//! by type in [`Icmpv6Message`] but not parsed further.
//!
//! The checksum covers the IPv6 pseudo-header, so verifying and filling it needs the
//! addresses, and [`Icmpv6Repr::parse`] does not verify it: call
//! [`Icmpv6Packet::verify_checksum`]. As with ICMPv4, the repr records data lengths only, and
//! `emit` writes the 8-byte header with a zero checksum.

use core::fmt;
use core::net::Ipv6Addr;

use crate::checksum;
use crate::icmpv4::ports_at;
use crate::ip::IpProtocol;
use crate::ipv6::{self, Ipv6Packet};
use crate::{Error, Result, read_u16, read_u32, write_u16, write_u32};

/// The length of the ICMPv6 header: type, code, checksum and four message-specific bytes.
pub const HEADER_LEN: usize = 8;

mod field {
    use crate::Field;

    /// Message type.
    pub(super) const TYPE: usize = 0;
    /// Message code.
    pub(super) const CODE: usize = 1;
    /// Checksum over the pseudo-header and the whole message.
    pub(super) const CHECKSUM: Field = 2..4;
    /// Echo: identifier.
    pub(super) const ECHO_IDENT: Field = 4..6;
    /// Echo: sequence number.
    pub(super) const ECHO_SEQNO: Field = 6..8;
    /// Packet Too Big: MTU of the next-hop link.
    pub(super) const MTU: Field = 4..8;
    /// Parameter Problem: offset of the offending octet.
    pub(super) const POINTER: Field = 4..8;
    /// The four message-specific bytes.
    pub(super) const REST: Field = 4..8;
    /// First byte of the data or quoted packet.
    pub(super) const PAYLOAD: usize = 8;
}

enum_with_unknown! {
    /// An ICMPv6 message type.
    pub enum Icmpv6Message(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big.
        PktTooBig = 2,
        /// Time exceeded.
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Multicast listener query.
        MldQuery = 130,
        /// Multicast listener report (version 1).
        MldReport = 131,
        /// Multicast listener done.
        MldDone = 132,
        /// Router solicitation.
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbor solicitation.
        NeighborSolicit = 135,
        /// Neighbor advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
        /// Multicast listener report (version 2).
        MldV2Report = 143,
    }
}

impl Icmpv6Message {
    /// Returns true for error messages (types below 128, RFC 4443 §2.1).
    pub fn is_error(self) -> bool {
        u8::from(self) < 128
    }

    /// Returns true for the four error messages whose body is the quoted invoking packet.
    pub fn quotes_packet(self) -> bool {
        matches!(
            self,
            Icmpv6Message::DstUnreachable
                | Icmpv6Message::PktTooBig
                | Icmpv6Message::TimeExceeded
                | Icmpv6Message::ParamProblem
        )
    }
}

impl fmt::Display for Icmpv6Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Icmpv6Message::DstUnreachable => "destination unreachable",
            Icmpv6Message::PktTooBig => "packet too big",
            Icmpv6Message::TimeExceeded => "time exceeded",
            Icmpv6Message::ParamProblem => "parameter problem",
            Icmpv6Message::EchoRequest => "echo request",
            Icmpv6Message::EchoReply => "echo reply",
            Icmpv6Message::MldQuery => "MLD query",
            Icmpv6Message::MldReport => "MLD report",
            Icmpv6Message::MldDone => "MLD done",
            Icmpv6Message::RouterSolicit => "router solicitation",
            Icmpv6Message::RouterAdvert => "router advertisement",
            Icmpv6Message::NeighborSolicit => "neighbor solicitation",
            Icmpv6Message::NeighborAdvert => "neighbor advertisement",
            Icmpv6Message::Redirect => "redirect",
            Icmpv6Message::MldV2Report => "MLDv2 report",
            Icmpv6Message::Unknown(number) => return write!(f, "type {number}"),
        };
        f.write_str(name)
    }
}

/// A read/write view over an ICMPv6 message; the buffer is the whole message.
///
/// Accessors on a view from [`Icmpv6Packet::new_unchecked`] panic if the buffer is shorter
/// than [`HEADER_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps a buffer after checking that it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
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

    /// Returns the message type.
    pub fn msg_type(&self) -> Icmpv6Message {
        Icmpv6Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Returns the message code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Returns the checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Returns the echo identifier (meaningful for echo messages).
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Returns the echo sequence number (meaningful for echo messages).
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Returns the MTU (meaningful for Packet Too Big).
    pub fn mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::MTU)
    }

    /// Returns the pointer to the offending octet (meaningful for Parameter Problem).
    pub fn pointer(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::POINTER)
    }

    fn pseudo_header(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let len = self.buffer.as_ref().len() as u32;
        checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, len)
    }

    /// Returns true if the checksum over the IPv6 pseudo-header and the whole buffer
    /// verifies.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let pseudo = self.pseudo_header(src, dst);
        checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]) == 0xffff
    }

    /// Returns the TCP or UDP ports of the packet an error message quotes, as (source,
    /// destination) of that quoted packet.
    ///
    /// The quoted packet's extension headers are walked within the bytes present. Returns
    /// `None` for messages that quote nothing, a quoted packet without a whole fixed header,
    /// a malformed or cut-off extension chain, a protocol without ports, a non-first
    /// fragment, or fewer than four quoted transport bytes.
    pub fn quoted_ports(&self) -> Option<(u16, u16)> {
        if !self.msg_type().quotes_packet() {
            return None;
        }
        let quoted = Ipv6Packet::new_truncated(&self.buffer.as_ref()[field::PAYLOAD..]).ok()?;
        let upper = ipv6::upper_layer(&quoted).ok()?;
        if !upper.has_header() || !upper.protocol.has_ports() {
            return None;
        }
        ports_at(quoted.payload().get(upper.offset..)?)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv6Packet<&'a T> {
    /// Returns everything after the 8-byte header: echo data, the quoted packet of an error,
    /// or the body of another message.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Returns the quoted packet of the four error messages that carry one, or `None`.
    pub fn quoted(&self) -> Option<&'a [u8]> {
        self.msg_type().quotes_packet().then(|| self.payload())
    }

    /// Returns a view over the quoted IPv6 packet of an error message.
    ///
    /// The quoted fixed header must be whole; the rest may be cut short (the view comes from
    /// [`Ipv6Packet::new_truncated`]). Returns [`Error::Unsupported`] for messages that quote
    /// nothing and [`Error::Truncated`] for a cut fixed header.
    pub fn quoted_ipv6(&self) -> Result<Ipv6Packet<&'a [u8]>> {
        let quoted = self.quoted().ok_or(Error::Unsupported)?;
        Ipv6Packet::new_truncated(quoted)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Icmpv6Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets the Packet Too Big MTU.
    pub fn set_mtu(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::MTU, value);
    }

    /// Sets the Parameter Problem pointer.
    pub fn set_pointer(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::POINTER, value);
    }

    /// Zeroes the four message-specific bytes.
    pub fn clear_rest(&mut self) {
        self.buffer.as_mut()[field::REST].fill(0);
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and the whole buffer.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let pseudo = self.pseudo_header(src, dst);
        let sum = checksum::combine(&[pseudo, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(!sum);
    }

    /// Returns everything after the header for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Icmpv6Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Icmpv6Repr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(Error::Unsupported) => {
                write!(f, "ICMPv6 {} code={}", self.msg_type(), self.msg_code())
            }
            Err(error) => write!(f, "ICMPv6 ({error})"),
        }
    }
}

/// The owned contents of an ICMPv6 message header; data is not copied, only its length kept.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Length of the echo data.
        data_len: usize,
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Length of the echo data.
        data_len: usize,
    },
    /// Destination unreachable.
    DstUnreachable {
        /// Reason code.
        code: u8,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Packet too big.
    PktTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Time exceeded.
    TimeExceeded {
        /// 0 for hop limit exceeded in transit, 1 for reassembly time exceeded.
        code: u8,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Parameter problem.
    ParamProblem {
        /// Problem code.
        code: u8,
        /// Offset of the offending octet in the quoted packet.
        pointer: u32,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
}

impl Icmpv6Repr {
    /// Reads a message header after checking its length; the checksum is not verified.
    /// Message types without a variant give [`Error::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Icmpv6Packet<T>) -> Result<Self> {
        packet.check_len()?;
        let rest_len = packet.buffer.as_ref().len() - HEADER_LEN;
        let code = packet.msg_code();
        Ok(match packet.msg_type() {
            Icmpv6Message::EchoRequest => Icmpv6Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: rest_len,
            },
            Icmpv6Message::EchoReply => Icmpv6Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: rest_len,
            },
            Icmpv6Message::DstUnreachable => Icmpv6Repr::DstUnreachable {
                code,
                quoted_len: rest_len,
            },
            Icmpv6Message::PktTooBig => Icmpv6Repr::PktTooBig {
                mtu: packet.mtu(),
                quoted_len: rest_len,
            },
            Icmpv6Message::TimeExceeded => Icmpv6Repr::TimeExceeded {
                code,
                quoted_len: rest_len,
            },
            Icmpv6Message::ParamProblem => Icmpv6Repr::ParamProblem {
                code,
                pointer: packet.pointer(),
                quoted_len: rest_len,
            },
            _ => return Err(Error::Unsupported),
        })
    }

    /// Returns the header length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Returns the message length: header plus data or quoted packet.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match *self {
                Icmpv6Repr::EchoRequest { data_len, .. }
                | Icmpv6Repr::EchoReply { data_len, .. } => data_len,
                Icmpv6Repr::DstUnreachable { quoted_len, .. }
                | Icmpv6Repr::PktTooBig { quoted_len, .. }
                | Icmpv6Repr::TimeExceeded { quoted_len, .. }
                | Icmpv6Repr::ParamProblem { quoted_len, .. } => quoted_len,
            }
    }

    /// Writes the 8-byte header with a zero checksum; the data is left untouched.
    ///
    /// Write the data or quoted packet next, then call [`Icmpv6Packet::fill_checksum`] on a
    /// view over exactly [`Icmpv6Repr::buffer_len`] bytes. Panics if the buffer is shorter
    /// than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv6Packet<T>) {
        packet.set_checksum(0);
        packet.clear_rest();
        match *self {
            Icmpv6Repr::EchoRequest { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv6Message::EchoRequest);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv6Repr::EchoReply { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv6Message::EchoReply);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv6Repr::DstUnreachable { code, .. } => {
                packet.set_msg_type(Icmpv6Message::DstUnreachable);
                packet.set_msg_code(code);
            }
            Icmpv6Repr::PktTooBig { mtu, .. } => {
                packet.set_msg_type(Icmpv6Message::PktTooBig);
                packet.set_msg_code(0);
                packet.set_mtu(mtu);
            }
            Icmpv6Repr::TimeExceeded { code, .. } => {
                packet.set_msg_type(Icmpv6Message::TimeExceeded);
                packet.set_msg_code(code);
            }
            Icmpv6Repr::ParamProblem { code, pointer, .. } => {
                packet.set_msg_type(Icmpv6Message::ParamProblem);
                packet.set_msg_code(code);
                packet.set_pointer(pointer);
            }
        }
    }
}

impl fmt::Display for Icmpv6Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data_len,
            } => write!(
                f,
                "ICMPv6 echo request id={ident} seq={seq_no} len={data_len}"
            ),
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data_len,
            } => write!(
                f,
                "ICMPv6 echo reply id={ident} seq={seq_no} len={data_len}"
            ),
            Icmpv6Repr::DstUnreachable { code, quoted_len } => write!(
                f,
                "ICMPv6 destination unreachable code={code} quoted={quoted_len}"
            ),
            Icmpv6Repr::PktTooBig { mtu, quoted_len } => {
                write!(f, "ICMPv6 packet too big mtu={mtu} quoted={quoted_len}")
            }
            Icmpv6Repr::TimeExceeded { code, quoted_len } => {
                write!(f, "ICMPv6 time exceeded code={code} quoted={quoted_len}")
            }
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted_len,
            } => write!(
                f,
                "ICMPv6 parameter problem code={code} pointer={pointer} quoted={quoted_len}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const PEER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);

    /// An echo request (id 0xbeef, seq 7, data "ping6") from HOST to PEER; checksum computed
    /// independently.
    const ECHO: [u8; 13] = [
        0x80, 0x00, 0x50, 0x7b, 0xbe, 0xef, 0x00, 0x07, b'p', b'i', b'n', b'g', b'6',
    ];

    /// Packet Too Big (MTU 1280) from ROUTER to HOST, quoting the fixed header of a TCP packet
    /// HOST:40000 → PEER:443 (payload length 1400) and its first 8 TCP bytes; checksum
    /// computed independently.
    fn packet_too_big() -> Vec<u8> {
        let mut bytes = vec![0x02, 0x00, 0x32, 0xed, 0x00, 0x00, 0x05, 0x00];
        bytes.extend([0x60, 0, 0, 0, 0x05, 0x78, 6, 64]);
        bytes.extend(HOST.octets());
        bytes.extend(PEER.octets());
        bytes.extend([0x9c, 0x40, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04]);
        bytes
    }

    #[test]
    fn echo_fixture() {
        let packet = Icmpv6Packet::new_checked(&ECHO[..]).expect("fixture is valid");
        assert_eq!(packet.msg_type(), Icmpv6Message::EchoRequest);
        assert!(!packet.msg_type().is_error());
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0x507b);
        assert_eq!(packet.echo_ident(), 0xbeef);
        assert_eq!(packet.echo_seq_no(), 7);
        assert_eq!(packet.payload(), b"ping6");
        assert!(packet.verify_checksum(&HOST, &PEER));
        assert!(!packet.verify_checksum(&PEER, &ROUTER));
        assert_eq!(packet.quoted(), None);
        assert_eq!(packet.quoted_ports(), None);
        let repr = Icmpv6Repr::parse(&packet).expect("fixture is valid");
        assert_eq!(
            repr,
            Icmpv6Repr::EchoRequest {
                ident: 0xbeef,
                seq_no: 7,
                data_len: 5
            }
        );

        let mut bytes = [0xffu8; 13];
        let mut out = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(b"ping6");
        out.fill_checksum(&HOST, &PEER);
        assert_eq!(bytes, ECHO);
    }

    #[test]
    fn packet_too_big_fixture_and_quoted_flow() {
        let bytes = packet_too_big();
        let packet = Icmpv6Packet::new_checked(&bytes[..]).expect("fixture is valid");
        assert_eq!(packet.msg_type(), Icmpv6Message::PktTooBig);
        assert!(packet.msg_type().is_error());
        assert_eq!(packet.mtu(), 1280);
        assert!(packet.verify_checksum(&ROUTER, &HOST));
        let quoted = packet.quoted_ipv6().expect("quoted header is whole");
        assert!(quoted.is_truncated());
        assert_eq!(quoted.next_header(), IpProtocol::Tcp);
        assert_eq!(quoted.src_addr(), HOST);
        assert_eq!(packet.quoted_ports(), Some((40000, 443)));
        let repr = Icmpv6Repr::parse(&packet).expect("fixture is valid");
        assert_eq!(
            repr,
            Icmpv6Repr::PktTooBig {
                mtu: 1280,
                quoted_len: 48
            }
        );
        assert_eq!(
            packet.to_string(),
            "ICMPv6 packet too big mtu=1280 quoted=48"
        );
    }

    #[test]
    fn quoted_packet_with_extension_header() {
        // Insert an 8-byte Destination Options header between the quoted fixed header and
        // TCP; the ports are still found.
        let mut bytes = packet_too_big();
        bytes[8 + 6] = 60;
        let tail = bytes.split_off(48);
        bytes.extend([6, 0, 1, 4, 0, 0, 0, 0]);
        bytes.extend(tail);
        let packet = Icmpv6Packet::new_checked(&bytes[..]).expect("header is whole");
        assert_eq!(packet.quoted_ports(), Some((40000, 443)));

        // Cut inside the extension header: no ports, no panic.
        let packet = Icmpv6Packet::new_checked(&bytes[..52]).expect("header is whole");
        assert_eq!(packet.quoted_ports(), None);
        // Cut inside the quoted fixed header.
        let packet = Icmpv6Packet::new_checked(&bytes[..40]).expect("header is whole");
        assert_eq!(packet.quoted_ipv6().err(), Some(Error::Truncated));
        assert_eq!(packet.quoted_ports(), None);
    }

    #[test]
    fn neighbour_discovery_is_recognised_not_parsed() {
        let mut bytes = [135u8, 0, 0, 0, 0, 0, 0, 0];
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum(&HOST, &PEER);
        assert_eq!(packet.msg_type(), Icmpv6Message::NeighborSolicit);
        assert_eq!(Icmpv6Repr::parse(&packet), Err(Error::Unsupported));
        assert_eq!(packet.to_string(), "ICMPv6 neighbor solicitation code=0");
        for len in 0..HEADER_LEN {
            assert_eq!(
                Icmpv6Packet::new_checked(&ECHO[..len]).err(),
                Some(Error::Truncated)
            );
        }
    }
}
