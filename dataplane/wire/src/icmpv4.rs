//! ICMP for IPv4 (RFC 792): echo, error messages and access to the packet an error quotes.
//!
//! This module exists because the gateway must answer pings and must map an ICMP error (for
//! example "fragmentation needed", RFC 1191) to the flow of the packet it quotes. The view's
//! buffer is the whole ICMP message (the IP payload); [`Icmpv4Packet::new_checked`] guarantees
//! the 8-byte header is present. The quoted packet of an error is read with
//! [`Icmpv4Packet::quoted_ipv4`], which requires a whole IP header but tolerates the usual
//! truncation after 8 bytes of transport header, and [`Icmpv4Packet::quoted_ports`] reads the
//! TCP/UDP ports from those 8 bytes.
//!
//! [`Icmpv4Repr`] does not copy message data: it records its length, and `emit` writes only the
//! 8-byte header with a zero checksum. The caller writes the data (echo payload or quoted
//! packet) and then calls [`Icmpv4Packet::fill_checksum`].

use core::fmt;
use core::net::Ipv4Addr;

use crate::checksum;
use crate::ipv4::Ipv4Packet;
use crate::{Error, Result, read_u16, write_u16};

/// The length of the ICMPv4 header: type, code, checksum and four message-specific bytes.
pub const HEADER_LEN: usize = 8;

/// The Destination Unreachable code for "fragmentation needed and DF set" (RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;

mod field {
    use crate::Field;

    /// Message type.
    pub(super) const TYPE: usize = 0;
    /// Message code.
    pub(super) const CODE: usize = 1;
    /// Checksum over the whole message.
    pub(super) const CHECKSUM: Field = 2..4;
    /// Echo: identifier.
    pub(super) const ECHO_IDENT: Field = 4..6;
    /// Echo: sequence number.
    pub(super) const ECHO_SEQNO: Field = 6..8;
    /// Destination Unreachable, code 4: next-hop MTU (RFC 1191).
    pub(super) const NEXT_HOP_MTU: Field = 6..8;
    /// Parameter Problem: pointer to the offending octet.
    pub(super) const POINTER: usize = 4;
    /// Redirect: gateway address.
    pub(super) const GATEWAY: Field = 4..8;
    /// The four message-specific bytes.
    pub(super) const REST: Field = 4..8;
    /// First byte of the data or quoted packet.
    pub(super) const PAYLOAD: usize = 8;
}

enum_with_unknown! {
    /// An ICMPv4 message type.
    pub enum Icmpv4Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable.
        DstUnreachable = 3,
        /// Source quench (deprecated by RFC 6633, still recognised).
        SourceQuench = 4,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement.
        RouterAdvert = 9,
        /// Router solicitation.
        RouterSolicit = 10,
        /// Time exceeded.
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp request.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
    }
}

impl Icmpv4Message {
    /// Returns true for the error messages, which quote the packet that caused them.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Icmpv4Message::DstUnreachable
                | Icmpv4Message::SourceQuench
                | Icmpv4Message::Redirect
                | Icmpv4Message::TimeExceeded
                | Icmpv4Message::ParamProblem
        )
    }
}

impl fmt::Display for Icmpv4Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Icmpv4Message::EchoReply => f.write_str("echo reply"),
            Icmpv4Message::DstUnreachable => f.write_str("destination unreachable"),
            Icmpv4Message::SourceQuench => f.write_str("source quench"),
            Icmpv4Message::Redirect => f.write_str("redirect"),
            Icmpv4Message::EchoRequest => f.write_str("echo request"),
            Icmpv4Message::RouterAdvert => f.write_str("router advertisement"),
            Icmpv4Message::RouterSolicit => f.write_str("router solicitation"),
            Icmpv4Message::TimeExceeded => f.write_str("time exceeded"),
            Icmpv4Message::ParamProblem => f.write_str("parameter problem"),
            Icmpv4Message::Timestamp => f.write_str("timestamp"),
            Icmpv4Message::TimestampReply => f.write_str("timestamp reply"),
            Icmpv4Message::Unknown(number) => write!(f, "type {number}"),
        }
    }
}

/// Reads the two ports at the start of a quoted transport header, if there are four bytes.
pub(crate) fn ports_at(transport: &[u8]) -> Option<(u16, u16)> {
    match *transport {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
        _ => None,
    }
}

/// A read/write view over an ICMPv4 message; the buffer is the whole message.
///
/// Accessors on a view from [`Icmpv4Packet::new_unchecked`] panic if the buffer is shorter
/// than [`HEADER_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
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
    pub fn msg_type(&self) -> Icmpv4Message {
        Icmpv4Message::from(self.buffer.as_ref()[field::TYPE])
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

    /// Returns the next-hop MTU (meaningful for Destination Unreachable, code 4).
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Returns the pointer to the offending octet (meaningful for Parameter Problem).
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Returns the gateway address (meaningful for Redirect).
    pub fn gateway(&self) -> Ipv4Addr {
        let mut octets = [0u8; 4];
        octets.copy_from_slice(&self.buffer.as_ref()[field::GATEWAY]);
        Ipv4Addr::from(octets)
    }

    /// Returns true if the checksum over the whole buffer verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }

    /// Returns the TCP or UDP ports of the packet an error message quotes, as (source,
    /// destination) of that quoted packet.
    ///
    /// Returns `None` for non-error messages, a quoted packet without a whole IPv4 header, a
    /// protocol without ports, a non-first fragment, or fewer than four quoted transport
    /// bytes.
    pub fn quoted_ports(&self) -> Option<(u16, u16)> {
        if !self.msg_type().is_error() {
            return None;
        }
        let quoted = Ipv4Packet::new_truncated(&self.buffer.as_ref()[field::PAYLOAD..]).ok()?;
        if quoted.frag_offset() != 0 || !quoted.protocol().has_ports() {
            return None;
        }
        ports_at(quoted.payload())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// Returns everything after the 8-byte header: echo data, or the quoted packet of an
    /// error.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }

    /// Returns the quoted packet of an error message (the bytes after the header), or `None`
    /// for other messages.
    pub fn quoted(&self) -> Option<&'a [u8]> {
        self.msg_type().is_error().then(|| self.payload())
    }

    /// Returns a view over the quoted IPv4 packet of an error message.
    ///
    /// The quoted header must be whole; its payload may be cut short (the view comes from
    /// [`Ipv4Packet::new_truncated`]). Returns [`Error::Unsupported`] for non-error messages
    /// and the header errors of [`Ipv4Packet::check_header_len`] otherwise.
    pub fn quoted_ipv4(&self) -> Result<Ipv4Packet<&'a [u8]>> {
        let quoted = self.quoted().ok_or(Error::Unsupported)?;
        Ipv4Packet::new_truncated(quoted)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: Icmpv4Message) {
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

    /// Sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    /// Sets the Parameter Problem pointer.
    pub fn set_pointer(&mut self, value: u8) {
        self.buffer.as_mut()[field::POINTER] = value;
    }

    /// Sets the Redirect gateway address.
    pub fn set_gateway(&mut self, value: Ipv4Addr) {
        self.buffer.as_mut()[field::GATEWAY].copy_from_slice(&value.octets());
    }

    /// Zeroes the four message-specific bytes.
    pub fn clear_rest(&mut self) {
        self.buffer.as_mut()[field::REST].fill(0);
    }

    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }

    /// Returns everything after the header for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for Icmpv4Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Icmpv4Repr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(Error::Unsupported) => {
                write!(f, "ICMPv4 {} code={}", self.msg_type(), self.msg_code())
            }
            Err(error) => write!(f, "ICMPv4 ({error})"),
        }
    }
}

/// The owned contents of an ICMPv4 message header; data is not copied, only its length kept.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr {
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
        /// Reason code ([`CODE_FRAG_NEEDED`] for "fragmentation needed").
        code: u8,
        /// Next-hop MTU; meaningful for code 4, otherwise the field as received (normally 0).
        next_hop_mtu: u16,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Redirect.
    Redirect {
        /// Redirect code.
        code: u8,
        /// The better first-hop router.
        gateway: Ipv4Addr,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Time exceeded.
    TimeExceeded {
        /// 0 for TTL exceeded in transit, 1 for reassembly time exceeded.
        code: u8,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
    /// Parameter problem.
    ParamProblem {
        /// Problem code.
        code: u8,
        /// Offset of the offending octet in the quoted packet.
        pointer: u8,
        /// Length of the quoted packet.
        quoted_len: usize,
    },
}

impl Icmpv4Repr {
    /// Reads a message header: checks the length and the checksum ([`Error::BadChecksum`]).
    /// Message types without a variant give [`Error::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Icmpv4Packet<T>) -> Result<Self> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let rest_len = packet.buffer.as_ref().len() - HEADER_LEN;
        let code = packet.msg_code();
        Ok(match packet.msg_type() {
            Icmpv4Message::EchoRequest => Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: rest_len,
            },
            Icmpv4Message::EchoReply => Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data_len: rest_len,
            },
            Icmpv4Message::DstUnreachable => Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu: packet.next_hop_mtu(),
                quoted_len: rest_len,
            },
            Icmpv4Message::Redirect => Icmpv4Repr::Redirect {
                code,
                gateway: packet.gateway(),
                quoted_len: rest_len,
            },
            Icmpv4Message::TimeExceeded => Icmpv4Repr::TimeExceeded {
                code,
                quoted_len: rest_len,
            },
            Icmpv4Message::ParamProblem => Icmpv4Repr::ParamProblem {
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
                Icmpv4Repr::EchoRequest { data_len, .. }
                | Icmpv4Repr::EchoReply { data_len, .. } => data_len,
                Icmpv4Repr::DstUnreachable { quoted_len, .. }
                | Icmpv4Repr::Redirect { quoted_len, .. }
                | Icmpv4Repr::TimeExceeded { quoted_len, .. }
                | Icmpv4Repr::ParamProblem { quoted_len, .. } => quoted_len,
            }
    }

    /// Writes the 8-byte header with a zero checksum; the data is left untouched.
    ///
    /// Write the data or quoted packet next, then call [`Icmpv4Packet::fill_checksum`] on a
    /// view over exactly [`Icmpv4Repr::buffer_len`] bytes. Panics if the buffer is shorter
    /// than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        packet.set_checksum(0);
        packet.clear_rest();
        match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoRequest);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::EchoReply { ident, seq_no, .. } => {
                packet.set_msg_type(Icmpv4Message::EchoReply);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Icmpv4Repr::DstUnreachable {
                code, next_hop_mtu, ..
            } => {
                packet.set_msg_type(Icmpv4Message::DstUnreachable);
                packet.set_msg_code(code);
                packet.set_next_hop_mtu(next_hop_mtu);
            }
            Icmpv4Repr::Redirect { code, gateway, .. } => {
                packet.set_msg_type(Icmpv4Message::Redirect);
                packet.set_msg_code(code);
                packet.set_gateway(gateway);
            }
            Icmpv4Repr::TimeExceeded { code, .. } => {
                packet.set_msg_type(Icmpv4Message::TimeExceeded);
                packet.set_msg_code(code);
            }
            Icmpv4Repr::ParamProblem { code, pointer, .. } => {
                packet.set_msg_type(Icmpv4Message::ParamProblem);
                packet.set_msg_code(code);
                packet.set_pointer(pointer);
            }
        }
    }
}

impl fmt::Display for Icmpv4Repr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data_len,
            } => write!(
                f,
                "ICMPv4 echo request id={ident} seq={seq_no} len={data_len}"
            ),
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data_len,
            } => write!(
                f,
                "ICMPv4 echo reply id={ident} seq={seq_no} len={data_len}"
            ),
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted_len,
            } => {
                write!(f, "ICMPv4 destination unreachable code={code}")?;
                if code == CODE_FRAG_NEEDED {
                    write!(f, " mtu={next_hop_mtu}")?;
                }
                write!(f, " quoted={quoted_len}")
            }
            Icmpv4Repr::Redirect {
                code,
                gateway,
                quoted_len,
            } => write!(
                f,
                "ICMPv4 redirect code={code} gateway={gateway} quoted={quoted_len}"
            ),
            Icmpv4Repr::TimeExceeded { code, quoted_len } => {
                write!(f, "ICMPv4 time exceeded code={code} quoted={quoted_len}")
            }
            Icmpv4Repr::ParamProblem {
                code,
                pointer,
                quoted_len,
            } => write!(
                f,
                "ICMPv4 parameter problem code={code} pointer={pointer} quoted={quoted_len}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::IpProtocol;

    /// An echo request (id 0x1234, seq 1) with 23 bytes of data; checksum computed
    /// independently.
    const ECHO: [u8; 31] = [
        0x08, 0x00, 0xd1, 0x21, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd', b'e', b'f', b'g',
        b'h', b'i', b'j', b'k', b'l', b'm', b'n', b'o', b'p', b'q', b'r', b's', b't', b'u', b'v',
        b'w',
    ];

    /// "Fragmentation needed", next-hop MTU 1400, quoting the Wikipedia checksum example's
    /// IPv4 header (UDP, 192.168.0.1 → 192.168.0.199, total length 115) and the first 8 bytes
    /// of its UDP header (51000 → 53); checksum computed independently.
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0x2f, 0xb7, 0x00, 0x00, 0x05, 0x78, // ICMP header
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7, // quoted IPv4 header
        0xc7, 0x38, 0x00, 0x35, 0x00, 0x5f, 0x00, 0x00, // quoted UDP header
    ];

    #[test]
    fn echo_fixture() {
        let packet = Icmpv4Packet::new_checked(&ECHO[..]).expect("fixture is valid");
        assert_eq!(packet.msg_type(), Icmpv4Message::EchoRequest);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0xd121);
        assert_eq!(packet.echo_ident(), 0x1234);
        assert_eq!(packet.echo_seq_no(), 1);
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &ECHO[8..]);
        assert_eq!(packet.quoted(), None);
        assert_eq!(packet.quoted_ipv4().err(), Some(Error::Unsupported));
        assert_eq!(packet.quoted_ports(), None);
        let repr = Icmpv4Repr::parse(&packet).expect("fixture is valid");
        assert_eq!(
            repr,
            Icmpv4Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data_len: 23
            }
        );
        assert_eq!(
            packet.to_string(),
            "ICMPv4 echo request id=4660 seq=1 len=23"
        );

        let mut bytes = [0xffu8; 31];
        let mut out = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(&ECHO[8..]);
        out.fill_checksum();
        assert_eq!(bytes, ECHO);
    }

    #[test]
    fn frag_needed_fixture_and_quoted_flow() {
        let packet = Icmpv4Packet::new_checked(&FRAG_NEEDED[..]).expect("fixture is valid");
        assert_eq!(packet.msg_type(), Icmpv4Message::DstUnreachable);
        assert!(packet.msg_type().is_error());
        assert_eq!(packet.msg_code(), CODE_FRAG_NEEDED);
        assert_eq!(packet.next_hop_mtu(), 1400);
        assert!(packet.verify_checksum());
        assert_eq!(packet.quoted(), Some(&FRAG_NEEDED[8..]));

        let quoted = packet.quoted_ipv4().expect("quoted header is whole");
        assert!(quoted.is_truncated());
        assert!(quoted.verify_checksum());
        assert_eq!(quoted.protocol(), IpProtocol::Udp);
        assert_eq!(quoted.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(quoted.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(quoted.payload().len(), 8);
        assert_eq!(packet.quoted_ports(), Some((51000, 53)));

        let repr = Icmpv4Repr::parse(&packet).expect("fixture is valid");
        assert_eq!(
            repr,
            Icmpv4Repr::DstUnreachable {
                code: 4,
                next_hop_mtu: 1400,
                quoted_len: 28
            }
        );
        assert_eq!(
            repr.to_string(),
            "ICMPv4 destination unreachable code=4 mtu=1400 quoted=28"
        );
    }

    #[test]
    fn quoted_packet_edge_cases() {
        // Only the quoted IP header, no transport bytes: a view but no ports.
        let mut short = FRAG_NEEDED[..28].to_vec();
        let mut packet = Icmpv4Packet::new_unchecked(&mut short[..]);
        packet.fill_checksum();
        let packet = Icmpv4Packet::new_checked(&short[..]).expect("header is whole");
        assert!(packet.quoted_ipv4().is_ok());
        assert_eq!(packet.quoted_ports(), None);

        // A quoted header cut inside its fixed part.
        let packet = Icmpv4Packet::new_checked(&FRAG_NEEDED[..20]).expect("header is whole");
        assert_eq!(packet.quoted_ipv4().err(), Some(Error::Truncated));
        assert_eq!(packet.quoted_ports(), None);

        // A quoted non-first fragment carries no ports.
        let mut bytes = FRAG_NEEDED;
        bytes[8 + 6] = 0x00;
        bytes[8 + 7] = 0x10;
        let packet = Icmpv4Packet::new_checked(&bytes[..]).expect("header is whole");
        assert_eq!(packet.quoted_ports(), None);
    }

    #[test]
    fn errors() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Icmpv4Packet::new_checked(&ECHO[..len]).err(),
                Some(Error::Truncated)
            );
        }
        let mut bytes = ECHO;
        bytes[30] ^= 0x01;
        let packet = Icmpv4Packet::new_checked(&bytes[..]).expect("length is fine");
        assert_eq!(Icmpv4Repr::parse(&packet), Err(Error::BadChecksum));

        let mut bytes = [13u8, 0, 0, 0, 0, 0, 0, 0];
        let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum();
        assert_eq!(Icmpv4Repr::parse(&packet), Err(Error::Unsupported));
        assert_eq!(packet.to_string(), "ICMPv4 timestamp code=0");
    }
}
