//! The AWS Gateway Load Balancer GENEVE options (class 0x0108): typed parse and emit.
//!
//! This module exists because every packet GWLB sends to an appliance carries three GENEVE
//! options in class 0x0108: the GWLB endpoint ID (type 1, 8 bytes), the attachment ID (type 2,
//! 8 bytes) and the flow cookie (type 3, 4 bytes), and the appliance must echo them back
//! unchanged on the return path (`gwlb-spec.md` §1.2 to §1.4, from AWS's tunnel handler
//! sample `GenevePacket.cpp`).
//!
//! Guarantees: [`GwlbOptions::parse`] walks the options generically, in any order, skipping
//! other classes and unknown types of class 0x0108, so it accepts anything AWS's own sample
//! accepts; it fails if one of the three is missing, repeated or of the wrong length.
//! [`GwlbOptions::emit`] writes exactly GWLB's canonical 32-byte layout (types 1, 2, 3 in that
//! order, reserved bits zero). [`EndpointId`] converts the endpoint ID to and from the
//! `vpce-` + 17 hex digits form used in the AWS console and API.

use core::fmt;
use core::str::FromStr;

use crate::geneve::{self, GeneveOption, GeneveOptions};
use crate::{Error, Result, read_u32, read_u64, write_u32, write_u64};

/// The GENEVE option class AWS uses for GWLB metadata.
pub const OPTION_CLASS: u16 = 0x0108;

/// The length of the three GWLB options in canonical form: three 4-byte option headers plus
/// 8 + 8 + 4 bytes of data, so GENEVE `opt_len` = 8 (`gwlb-spec.md` §1.2).
pub const OPTIONS_LEN: usize = 32;

/// The GENEVE header length as GWLB sends it: the 8-byte base header plus [`OPTIONS_LEN`].
pub const GENEVE_HEADER_LEN: usize = geneve::HEADER_LEN + OPTIONS_LEN;

/// The L3 overhead GWLB encapsulation adds to an inner packet: outer IPv4 (20) + UDP (8) +
/// GENEVE base (8) + options (32) = 68 bytes, the figure the current GWLB User Guide gives
/// (`gwlb-spec.md` §1.3 and §1.5; 82 with the outer Ethernet header).
pub const GWLB_OVERHEAD: usize = 20 + 8 + GENEVE_HEADER_LEN;

/// The largest inner packet GWLB supports: 8,500 bytes ("Gateway Load Balancers support 8500
/// MTU", GWLB and ELB user guides, `gwlb-spec.md` §1.5). Appliances therefore need an MTU of at
/// least `MAX_INNER_LEN + GWLB_OVERHEAD` = 8,568 bytes.
pub const MAX_INNER_LEN: usize = 8500;

/// The three option types GWLB defines in class [`OPTION_CLASS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OptionType {
    /// The GWLB endpoint (VPC endpoint) the flow came through; 8 bytes.
    EndpointId = 1,
    /// The customer-visible attachment ID; 8 bytes.
    AttachmentId = 2,
    /// The opaque per-flow cookie GWLB expects back; 4 bytes.
    FlowCookie = 3,
}

impl OptionType {
    /// Returns the GWLB option type with this number, or `None`.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(OptionType::EndpointId),
            2 => Some(OptionType::AttachmentId),
            3 => Some(OptionType::FlowCookie),
            _ => None,
        }
    }

    /// Returns the option's GENEVE length field: its data length in 4-byte words.
    pub const fn length_words(self) -> u8 {
        match self {
            OptionType::EndpointId | OptionType::AttachmentId => 2,
            OptionType::FlowCookie => 1,
        }
    }
}

/// The three GWLB options of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GwlbOptions {
    /// The GWLB endpoint ID (see [`EndpointId`] for its text form).
    pub endpoint_id: u64,
    /// The attachment ID.
    pub attachment_id: u64,
    /// The flow cookie, to be echoed on return traffic of the flow.
    pub flow_cookie: u32,
}

/// Stores `value` in `slot`, or reports a duplicate.
fn fill_once<V>(slot: &mut Option<V>, value: V) -> Result<()> {
    if slot.is_some() {
        return Err(Error::DuplicateOption);
    }
    *slot = Some(value);
    Ok(())
}

impl GwlbOptions {
    /// Reads the GWLB options from a GENEVE options walk (for example
    /// [`geneve::GenevePacket::options_iter`]).
    ///
    /// Every option is visited, in whatever order. Options of other classes and unknown types
    /// of class 0x0108 are skipped. Errors: [`Error::BadOptionLength`] if the walk finds an
    /// option running past the options area or a GWLB option of the wrong length,
    /// [`Error::DuplicateOption`] if one appears twice, [`Error::MissingOption`] if one is
    /// absent.
    pub fn parse(options: GeneveOptions<'_>) -> Result<Self> {
        if let Some(canonical) = Self::parse_canonical(options.remaining()) {
            return Ok(canonical);
        }
        let mut endpoint_id = None;
        let mut attachment_id = None;
        let mut flow_cookie = None;
        for option in options {
            let option = option?;
            if option.class() != OPTION_CLASS {
                continue;
            }
            let Some(kind) = OptionType::from_u8(option.option_type()) else {
                continue;
            };
            if option.length() != kind.length_words() {
                return Err(Error::BadOptionLength);
            }
            let data = option.data();
            match kind {
                OptionType::EndpointId => fill_once(&mut endpoint_id, read_u64(data, 0..8))?,
                OptionType::AttachmentId => fill_once(&mut attachment_id, read_u64(data, 0..8))?,
                OptionType::FlowCookie => fill_once(&mut flow_cookie, read_u32(data, 0..4))?,
            }
        }
        match (endpoint_id, attachment_id, flow_cookie) {
            (Some(endpoint_id), Some(attachment_id), Some(flow_cookie)) => Ok(GwlbOptions {
                endpoint_id,
                attachment_id,
                flow_cookie,
            }),
            _ => Err(Error::MissingOption),
        }
    }

    /// The fast path: GWLB always sends exactly the three options, in order, with reserved
    /// bits zero (`gwlb-spec.md` §1.2), so three 4-byte header compares decide the common case
    /// and the generic walk runs only for anything else. It accepts nothing the walk rejects.
    fn parse_canonical(options: &[u8]) -> Option<Self> {
        const HEADERS: [(usize, [u8; 4]); 3] = [
            (0, [0x01, 0x08, 0x01, 0x02]),
            (12, [0x01, 0x08, 0x02, 0x02]),
            (24, [0x01, 0x08, 0x03, 0x01]),
        ];
        if options.len() != OPTIONS_LEN
            || HEADERS
                .iter()
                .any(|(at, header)| options.get(*at..*at + 4) != Some(&header[..]))
        {
            return None;
        }
        Some(GwlbOptions {
            endpoint_id: read_u64(options, 4..12),
            attachment_id: read_u64(options, 16..24),
            flow_cookie: read_u32(options, 28..32),
        })
    }

    /// Returns the endpoint ID in its `vpce-…` form.
    pub const fn endpoint(&self) -> EndpointId {
        EndpointId(self.endpoint_id)
    }

    /// Returns the length of the emitted options, always [`OPTIONS_LEN`].
    pub const fn buffer_len(&self) -> usize {
        OPTIONS_LEN
    }

    /// Writes the three options in GWLB's canonical layout into the first [`OPTIONS_LEN`]
    /// bytes of `buffer`:
    /// `01 08 01 02 <8 bytes> 01 08 02 02 <8 bytes> 01 08 03 01 <4 bytes>`.
    ///
    /// Returns [`Error::Truncated`] if `buffer` is shorter than [`OPTIONS_LEN`].
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let target = buffer.get_mut(..OPTIONS_LEN).ok_or(Error::Truncated)?;
        let (endpoint, rest) = target.split_at_mut(12);
        let (attachment, cookie) = rest.split_at_mut(12);
        for (bytes, kind) in [
            (endpoint, OptionType::EndpointId),
            (attachment, OptionType::AttachmentId),
            (cookie, OptionType::FlowCookie),
        ] {
            let mut option = GeneveOption::new_unchecked(bytes);
            option.set_class(OPTION_CLASS);
            option.set_option_type(kind as u8);
            option.set_length(kind.length_words());
            let data = option.data_mut();
            match kind {
                OptionType::EndpointId => write_u64(data, 0..8, self.endpoint_id),
                OptionType::AttachmentId => write_u64(data, 0..8, self.attachment_id),
                OptionType::FlowCookie => write_u32(data, 0..4, self.flow_cookie),
            }
        }
        Ok(())
    }
}

impl fmt::Display for GwlbOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GWLB endpoint={} attachment=0x{:016x} cookie=0x{:08x}",
            self.endpoint(),
            self.attachment_id,
            self.flow_cookie
        )
    }
}

/// A GWLB endpoint ID, shown as the VPC endpoint ID `vpce-` + 17 lowercase hex digits.
///
/// The 64-bit option value is the hexadecimal part of the ID (as the third-party gwlb-xdp
/// implementation reads it, `gwlb-spec.md` §1.2), zero-padded to 17 digits; so an ID whose
/// first digit is not `0` does not fit and fails to parse with
/// [`ParseEndpointIdError::Overflow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(pub u64);

/// The number of hex digits in a VPC endpoint ID.
const ENDPOINT_DIGITS: usize = 17;

/// The prefix of a VPC endpoint ID.
const ENDPOINT_PREFIX: &str = "vpce-";

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ENDPOINT_PREFIX}{:017x}", self.0)
    }
}

/// Why a string is not a VPC endpoint ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseEndpointIdError {
    /// The string does not start with `vpce-`.
    MissingPrefix,
    /// The part after `vpce-` is not 17 characters long.
    WrongLength,
    /// A character after `vpce-` is not a lowercase hex digit.
    InvalidDigit,
    /// The 17 digits describe a value above `u64::MAX`.
    Overflow,
}

impl fmt::Display for ParseEndpointIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseEndpointIdError::MissingPrefix => "endpoint id does not start with \"vpce-\"",
            ParseEndpointIdError::WrongLength => "endpoint id does not have 17 hex digits",
            ParseEndpointIdError::InvalidDigit => "endpoint id has a non-lowercase-hex digit",
            ParseEndpointIdError::Overflow => "endpoint id does not fit in 64 bits",
        })
    }
}

impl core::error::Error for ParseEndpointIdError {}

impl FromStr for EndpointId {
    type Err = ParseEndpointIdError;

    fn from_str(text: &str) -> core::result::Result<Self, Self::Err> {
        let digits = text
            .strip_prefix(ENDPOINT_PREFIX)
            .ok_or(ParseEndpointIdError::MissingPrefix)?;
        if digits.len() != ENDPOINT_DIGITS {
            return Err(ParseEndpointIdError::WrongLength);
        }
        let mut value: u64 = 0;
        for byte in digits.bytes() {
            let digit = match byte {
                b'0'..=b'9' => byte - b'0',
                b'a'..=b'f' => byte - b'a' + 10,
                _ => return Err(ParseEndpointIdError::InvalidDigit),
            };
            value = value
                .checked_mul(16)
                .and_then(|shifted| shifted.checked_add(u64::from(digit)))
                .ok_or(ParseEndpointIdError::Overflow)?;
        }
        Ok(EndpointId(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::EtherType;
    use crate::geneve::{GenevePacket, GeneveRepr, UDP_PORT};
    use crate::ip::IpProtocol;
    use crate::ipv4::Ipv4Packet;
    use crate::udp::UdpPacket;
    use core::net::Ipv4Addr;

    const OPTIONS: GwlbOptions = GwlbOptions {
        endpoint_id: 0x0123_4567_89ab_cdef,
        attachment_id: 0x0011_2233_4455_6677,
        flow_cookie: 0x89ab_cdef,
    };

    /// The three options in canonical form for [`OPTIONS`].
    const CANONICAL: [u8; 32] = [
        0x01, 0x08, 0x01, 0x02, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, // endpoint
        0x01, 0x08, 0x02, 0x02, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, // attachment
        0x01, 0x08, 0x03, 0x01, 0x89, 0xab, 0xcd, 0xef, // cookie
    ];

    /// A packet exactly as GWLB sends it to an appliance (`gwlb-spec.md` §1.3), without the
    /// Ethernet header: outer IPv4 10.0.1.100 → 10.0.1.200 (DF, TTL 255, checksum computed
    /// independently), UDP 51234 → 6081 without checksum, GENEVE opt_len 8 with IPv4 payload
    /// and VNI 0, the three options, and an inner ICMP echo 10.0.0.10 → 10.0.1.10.
    fn gwlb_packet() -> Vec<u8> {
        let mut bytes = vec![
            0x45, 0x00, 0x00, 0x60, 0x00, 0x00, 0x40, 0x00, 0xff, 0x11, 0x64, 0x61, 0x0a, 0x00,
            0x01, 0x64, 0x0a, 0x00, 0x01, 0xc8, // outer IPv4
            0xc8, 0x22, 0x17, 0xc1, 0x00, 0x4c, 0x00, 0x00, // UDP
            0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // GENEVE base
        ];
        bytes.extend(CANONICAL);
        bytes.extend([
            0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x01, 0x65, 0xcd, 0x0a, 0x00,
            0x00, 0x0a, 0x0a, 0x00, 0x01, 0x0a, // inner IPv4
            0x08, 0x00, 0xf7, 0xfd, 0x00, 0x01, 0x00, 0x01, // inner ICMP echo
        ]);
        bytes
    }

    #[test]
    fn canonical_fast_path_agrees_with_the_generic_walk() {
        let fast = GwlbOptions::parse(GeneveOptions::new(&CANONICAL)).unwrap();
        assert_eq!(fast, OPTIONS);
        // A fourth, foreign option forces the generic walk over the same three.
        let mut longer = CANONICAL.to_vec();
        longer.extend([0x01, 0x03, 0x42, 0x01, 0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(
            GwlbOptions::parse(GeneveOptions::new(&longer)).unwrap(),
            fast
        );
        // Reserved bits set: not canonical, but the walk ignores them and agrees.
        let mut reserved = CANONICAL;
        reserved[3] |= 0xe0;
        assert_eq!(
            GwlbOptions::parse(GeneveOptions::new(&reserved)).unwrap(),
            fast
        );
        // A canonical-looking prefix with a wrong length field is still rejected.
        let mut wrong = CANONICAL;
        wrong[27] = 0x02;
        assert!(GwlbOptions::parse(GeneveOptions::new(&wrong)).is_err());
    }

    #[test]
    fn aws_shaped_packet_parses_layer_by_layer() {
        let bytes = gwlb_packet();
        assert_eq!(bytes.len(), GWLB_OVERHEAD + 28);

        let outer = Ipv4Packet::new_checked(&bytes[..]).expect("outer IPv4 is valid");
        assert!(outer.verify_checksum());
        assert_eq!(outer.protocol(), IpProtocol::Udp);
        assert_eq!(outer.src_addr(), Ipv4Addr::new(10, 0, 1, 100));

        let udp = UdpPacket::new_checked(outer.payload()).expect("UDP is valid");
        assert_eq!(udp.dst_port(), UDP_PORT);
        assert!(udp.verify_checksum_v4(&outer.src_addr(), &outer.dst_addr()));

        let geneve = GenevePacket::new_checked(udp.payload()).expect("GENEVE is valid");
        assert_eq!(geneve.version(), 0);
        assert_eq!(geneve.opt_len(), 8);
        assert_eq!(geneve.header_len(), GENEVE_HEADER_LEN);
        assert_eq!(geneve.protocol_type(), EtherType::Ipv4);
        assert_eq!(geneve.vni(), 0);
        assert_eq!(geneve.options(), &CANONICAL);
        assert_eq!(
            &geneve.options()[..4],
            &[0x01, 0x08, 0x01, 0x02],
            "endpoint option header"
        );
        assert_eq!(&geneve.options()[12..16], &[0x01, 0x08, 0x02, 0x02]);
        assert_eq!(&geneve.options()[24..28], &[0x01, 0x08, 0x03, 0x01]);

        let options = GwlbOptions::parse(geneve.options_iter()).expect("options are valid");
        assert_eq!(options, OPTIONS);
        assert_eq!(options.endpoint().to_string(), "vpce-00123456789abcdef");

        let inner = Ipv4Packet::new_checked(geneve.payload()).expect("inner IPv4 is valid");
        assert!(inner.verify_checksum());
        assert_eq!(inner.protocol(), IpProtocol::Icmp);
        assert_eq!(inner.dst_addr(), Ipv4Addr::new(10, 0, 1, 10));
    }

    #[test]
    fn emit_writes_canonical_layout() {
        let mut bytes = [0xffu8; 40];
        let repr = GeneveRepr {
            oam: false,
            critical: false,
            protocol_type: EtherType::Ipv4,
            vni: 0,
            options_len: OPTIONS_LEN,
        };
        let mut packet = GenevePacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        OPTIONS.emit(packet.options_mut()).expect("32 bytes fit");
        assert_eq!(bytes[..], gwlb_packet()[28..68]);
        assert_eq!(OPTIONS.emit(&mut [0; 31]), Err(Error::Truncated));
    }

    /// Builds an options area from (class, type, length field, data) tuples.
    fn area(options: &[(u16, u8, u8, &[u8])]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for &(class, kind, length, data) in options {
            bytes.extend(class.to_be_bytes());
            bytes.extend([kind, length]);
            bytes.extend(data);
        }
        bytes
    }

    const ENDPOINT: &[u8] = &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
    const ATTACHMENT: &[u8] = &[0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77];
    const COOKIE: &[u8] = &[0x89, 0xab, 0xcd, 0xef];

    fn parse(bytes: &[u8]) -> Result<GwlbOptions> {
        GwlbOptions::parse(GeneveOptions::new(bytes))
    }

    #[test]
    fn reordered_and_interleaved_options_are_accepted() {
        let bytes = area(&[
            (0x0108, 3, 1, COOKIE),
            (0xffff, 0x80, 1, &[0; 4]), // another class, critical
            (0x0108, 0x07, 0, &[]),     // unknown GWLB type, empty
            (0x0108, 1, 2, ENDPOINT),
            (0x0108, 0x81, 2, &[0; 8]), // type 1 with the critical bit is another type
            (0x0108, 2, 2, ATTACHMENT),
        ]);
        assert_eq!(parse(&bytes), Ok(OPTIONS));
    }

    #[test]
    fn missing_options() {
        assert_eq!(parse(&[]), Err(Error::MissingOption));
        for skip in 0..3 {
            let all = [
                (0x0108, 1, 2, ENDPOINT),
                (0x0108, 2, 2, ATTACHMENT),
                (0x0108, 3, 1, COOKIE),
            ];
            let kept: Vec<_> = (0..3).filter(|&i| i != skip).map(|i| all[i]).collect();
            assert_eq!(
                parse(&area(&kept)),
                Err(Error::MissingOption),
                "without {skip}"
            );
        }
        // Right types in the wrong class do not count.
        let bytes = area(&[
            (0x0109, 1, 2, ENDPOINT),
            (0x0108, 2, 2, ATTACHMENT),
            (0x0108, 3, 1, COOKIE),
        ]);
        assert_eq!(parse(&bytes), Err(Error::MissingOption));
    }

    #[test]
    fn duplicate_option() {
        let bytes = area(&[
            (0x0108, 1, 2, ENDPOINT),
            (0x0108, 2, 2, ATTACHMENT),
            (0x0108, 3, 1, COOKIE),
            (0x0108, 3, 1, COOKIE),
        ]);
        assert_eq!(parse(&bytes), Err(Error::DuplicateOption));
    }

    #[test]
    fn wrong_length_gwlb_option() {
        let bytes = area(&[
            (0x0108, 1, 2, ENDPOINT),
            (0x0108, 2, 2, ATTACHMENT),
            (0x0108, 3, 2, &[0x89, 0xab, 0xcd, 0xef, 0, 0, 0, 0]),
        ]);
        assert_eq!(parse(&bytes), Err(Error::BadOptionLength));
        let bytes = area(&[
            (0x0108, 1, 1, &ENDPOINT[..4]),
            (0x0108, 2, 2, ATTACHMENT),
            (0x0108, 3, 1, COOKIE),
        ]);
        assert_eq!(parse(&bytes), Err(Error::BadOptionLength));
    }

    #[test]
    fn option_running_past_area_after_all_three() {
        let mut bytes = CANONICAL.to_vec();
        bytes.extend([0xff, 0xff, 0x01, 0x05, 0, 0, 0, 0]);
        assert_eq!(parse(&bytes), Err(Error::BadOptionLength));
    }

    #[test]
    fn endpoint_id_text_form() {
        let id: EndpointId = "vpce-0123456789abcdef0".parse().expect("valid id");
        assert_eq!(id, EndpointId(0x1234_5678_9abc_def0));
        assert_eq!(id.to_string(), "vpce-0123456789abcdef0");
        assert_eq!(EndpointId(1).to_string(), "vpce-00000000000000001");
        assert_eq!(EndpointId(u64::MAX).to_string(), "vpce-0ffffffffffffffff");

        let errors = [
            ("vpc-0123456789abcdef0", ParseEndpointIdError::MissingPrefix),
            ("0123456789abcdef0", ParseEndpointIdError::MissingPrefix),
            ("vpce-0123456789abcdef", ParseEndpointIdError::WrongLength),
            ("vpce-0123456789abcdef00", ParseEndpointIdError::WrongLength),
            ("vpce-0123456789ABCDEF0", ParseEndpointIdError::InvalidDigit),
            ("vpce-0123456789abcdefg", ParseEndpointIdError::InvalidDigit),
            ("vpce-+123456789abcdef0", ParseEndpointIdError::InvalidDigit),
            ("vpce-10000000000000000", ParseEndpointIdError::Overflow),
            ("vpce-é123456789abcdef", ParseEndpointIdError::InvalidDigit),
        ];
        for (text, error) in errors {
            assert_eq!(text.parse::<EndpointId>(), Err(error), "{text}");
        }
    }

    #[test]
    fn overhead_constants() {
        assert_eq!(GWLB_OVERHEAD, 68);
        assert_eq!(GENEVE_HEADER_LEN, 40);
        assert_eq!(MAX_INNER_LEN + GWLB_OVERHEAD, 8568);
    }
}
