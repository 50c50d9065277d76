//! GENEVE (RFC 8926): the base header and generic variable-length options.
//!
//! This module exists because GWLB delivers every packet to its appliances inside GENEVE on
//! UDP port [`UDP_PORT`]. It knows nothing about AWS; the GWLB options are interpreted by
//! [`crate::gwlb`] on top of the generic [`GeneveOptions`] walk.
//!
//! Guarantees: [`GenevePacket::new_checked`] ensures the 8-byte base header and the whole
//! options area (`opt_len * 4` bytes) are in the buffer, so [`GenevePacket::options`] and
//! [`GenevePacket::payload`] never go out of bounds. [`GeneveOptions`] never reads past the
//! options area: an option whose length runs past it is reported once as
//! [`Error::BadOptionLength`] and the walk stops. Unknown option classes and types are yielded
//! like any other; skipping them is the caller's choice (RFC 8926 §3.5.1 says what to do with
//! unknown critical options, and that decision belongs to the tunnel endpoint, not to a parser).

use core::fmt;

use crate::ethernet::EtherType;
use crate::{Error, Result, read_u16, write_u16};

/// The UDP destination port assigned to GENEVE.
pub const UDP_PORT: u16 = 6081;

/// The length of the GENEVE base header, without options.
pub const HEADER_LEN: usize = 8;

/// The length of a GENEVE option header (class, type, length), without data.
pub const OPTION_HEADER_LEN: usize = 4;

/// The largest options area the 6-bit `opt_len` can describe, in bytes.
pub const MAX_OPTIONS_LEN: usize = 63 * 4;

/// The largest option data the 5-bit option length can describe, in bytes.
pub const MAX_OPTION_DATA_LEN: usize = 31 * 4;

mod field {
    use crate::Field;

    /// Version (2 bits) and options length in 4-byte words (6 bits).
    pub(super) const VER_OPT_LEN: usize = 0;
    /// O (OAM) bit, C (critical options present) bit, 6 reserved bits.
    pub(super) const FLAGS: usize = 1;
    /// Protocol type of the payload, an EtherType.
    pub(super) const PROTOCOL: Field = 2..4;
    /// Virtual network identifier (24 bits).
    pub(super) const VNI: Field = 4..7;
    /// Reserved byte after the VNI.
    pub(super) const RESERVED: usize = 7;
    /// First byte of the options.
    pub(super) const OPTIONS: usize = 8;

    /// The O bit within `FLAGS`.
    pub(super) const FLAG_OAM: u8 = 0x80;
    /// The C bit within `FLAGS`.
    pub(super) const FLAG_CRITICAL: u8 = 0x40;

    /// Option: class.
    pub(super) const OPT_CLASS: Field = 0..2;
    /// Option: type; its high bit is the critical bit.
    pub(super) const OPT_TYPE: usize = 2;
    /// Option: three reserved bits and the data length in 4-byte words (5 bits).
    pub(super) const OPT_LEN: usize = 3;
    /// Option: first byte of the data.
    pub(super) const OPT_DATA: usize = 4;
}

/// A read/write view over a GENEVE packet: base header, options and payload.
///
/// Accessors on a view from [`GenevePacket::new_unchecked`] panic if the buffer is shorter
/// than [`HEADER_LEN`]; [`GenevePacket::options`], [`GenevePacket::options_iter`] and
/// [`GenevePacket::payload`] also panic if it is shorter than [`GenevePacket::header_len`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenevePacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GenevePacket<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        GenevePacket { buffer }
    }

    /// Wraps a buffer after [`GenevePacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the base header, and
    /// [`Error::OptionsTooLong`] if the options area runs past the buffer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.header_len() > len {
            return Err(Error::OptionsTooLong);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the version (2 bits; 0 is the only one defined).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPT_LEN] >> 6
    }

    /// Returns the options length in 4-byte words (6 bits).
    pub fn opt_len(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPT_LEN] & 0x3f
    }

    /// Returns the options length in bytes.
    pub fn options_len(&self) -> usize {
        usize::from(self.opt_len()) * 4
    }

    /// Returns the header length: the base header plus the options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Returns the O bit: the packet is an OAM (control) message.
    pub fn oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & field::FLAG_OAM != 0
    }

    /// Returns the C bit: at least one critical option is present.
    pub fn critical(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & field::FLAG_CRITICAL != 0
    }

    /// Returns the protocol type of the payload (for GWLB, [`EtherType::Ipv4`] or
    /// [`EtherType::Ipv6`]: the payload is a raw L3 packet).
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::PROTOCOL))
    }

    /// Returns the virtual network identifier (24 bits).
    pub fn vni(&self) -> u32 {
        let bytes = &self.buffer.as_ref()[field::VNI];
        u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]])
    }

    /// Returns an iterator over the options, borrowing the packet.
    pub fn options_iter(&self) -> GeneveOptions<'_> {
        GeneveOptions::new(&self.buffer.as_ref()[field::OPTIONS..self.header_len()])
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GenevePacket<&'a T> {
    /// Returns the options area (`opt_len * 4` bytes).
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Returns the payload after the options.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GenevePacket<T> {
    /// Sets the version; only the low 2 bits are used.
    pub fn set_version(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_OPT_LEN];
        *byte = (*byte & 0x3f) | ((value & 0x03) << 6);
    }

    /// Sets the options length in 4-byte words; only the low 6 bits are used.
    pub fn set_opt_len(&mut self, value: u8) {
        let byte = &mut self.buffer.as_mut()[field::VER_OPT_LEN];
        *byte = (*byte & 0xc0) | (value & 0x3f);
    }

    /// Sets the O bit.
    pub fn set_oam(&mut self, value: bool) {
        let byte = &mut self.buffer.as_mut()[field::FLAGS];
        *byte = (*byte & !field::FLAG_OAM) | if value { field::FLAG_OAM } else { 0 };
    }

    /// Sets the C bit.
    pub fn set_critical(&mut self, value: bool) {
        let byte = &mut self.buffer.as_mut()[field::FLAGS];
        *byte = (*byte & !field::FLAG_CRITICAL) | if value { field::FLAG_CRITICAL } else { 0 };
    }

    /// Clears the six reserved flag bits and the reserved byte after the VNI.
    pub fn clear_reserved(&mut self) {
        let buffer = self.buffer.as_mut();
        buffer[field::FLAGS] &= field::FLAG_OAM | field::FLAG_CRITICAL;
        buffer[field::RESERVED] = 0;
    }

    /// Sets the protocol type of the payload.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::PROTOCOL, value.into());
    }

    /// Sets the virtual network identifier; only the low 24 bits are used.
    pub fn set_vni(&mut self, value: u32) {
        let [_, a, b, c] = value.to_be_bytes();
        self.buffer.as_mut()[field::VNI].copy_from_slice(&[a, b, c]);
    }

    /// Returns the options area for writing.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Returns the payload for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for GenevePacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match GeneveRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(error) => write!(f, "GENEVE ({error})"),
        }
    }
}

/// A read/write view over one GENEVE option: the 4-byte option header and its data.
///
/// Views yielded by [`GeneveOptions`] cover exactly one option. Accessors on a view from
/// [`GeneveOption::new_unchecked`] panic if the buffer is shorter than [`OPTION_HEADER_LEN`];
/// [`GeneveOption::data`] also panics if it is shorter than the option's length claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GeneveOption<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        GeneveOption { buffer }
    }

    /// Wraps a buffer after [`GeneveOption::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let option = Self::new_unchecked(buffer);
        option.check_len()?;
        Ok(option)
    }

    /// Returns [`Error::BadOptionLength`] if the buffer is shorter than the option header or
    /// than the data length the option claims.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < OPTION_HEADER_LEN || len < self.total_len() {
            return Err(Error::BadOptionLength);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the option class.
    pub fn class(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPT_CLASS)
    }

    /// Returns the option type, all 8 bits (the critical bit included).
    pub fn option_type(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_TYPE]
    }

    /// Returns the critical bit: the high bit of the type.
    pub fn critical(&self) -> bool {
        self.option_type() & 0x80 != 0
    }

    /// Returns the data length in 4-byte words (5 bits).
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_LEN] & 0x1f
    }

    /// Returns the three reserved bits above the length.
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::OPT_LEN] >> 5
    }

    /// Returns the data length in bytes.
    pub fn data_len(&self) -> usize {
        usize::from(self.length()) * 4
    }

    /// Returns the length of the whole option: header plus data.
    pub fn total_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data_len()
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> GeneveOption<&'a T> {
    /// Returns the option data (`length * 4` bytes).
    pub fn data(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPT_DATA..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveOption<T> {
    /// Sets the option class.
    pub fn set_class(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::OPT_CLASS, value);
    }

    /// Sets the option type (all 8 bits).
    pub fn set_option_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::OPT_TYPE] = value;
    }

    /// Sets the data length in 4-byte words and clears the reserved bits; only the low 5 bits
    /// are used.
    pub fn set_length(&mut self, value: u8) {
        self.buffer.as_mut()[field::OPT_LEN] = value & 0x1f;
    }

    /// Returns the option data for writing.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[field::OPT_DATA..end]
    }
}

/// An iterator over the options area of a GENEVE header, yielding one view per option.
///
/// An option whose header or data runs past the options area yields
/// `Err(`[`Error::BadOptionLength`]`)` once, and the iterator then stops.
#[derive(Debug, Clone)]
pub struct GeneveOptions<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> GeneveOptions<'a> {
    /// Iterates over an options area.
    pub const fn new(options: &'a [u8]) -> Self {
        GeneveOptions {
            rest: options,
            failed: false,
        }
    }

    /// Returns the options not walked yet, as raw bytes.
    pub const fn remaining(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for GeneveOptions<'a> {
    type Item = Result<GeneveOption<&'a [u8]>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match GeneveOption::new_checked(self.rest) {
            Ok(option) => {
                let (this, rest) = self.rest.split_at(option.total_len());
                self.rest = rest;
                Some(Ok(GeneveOption::new_unchecked(this)))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(error))
            }
        }
    }
}

impl core::iter::FusedIterator for GeneveOptions<'_> {}

/// The owned contents of a GENEVE base header.
///
/// The version is not represented: parse rejects anything but 0 and emit writes 0. The options
/// themselves are written separately (with [`GeneveOptionRepr::emit`] or
/// [`crate::gwlb::GwlbOptions::emit`]) into [`GenevePacket::options_mut`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveRepr {
    /// O bit.
    pub oam: bool,
    /// C bit.
    pub critical: bool,
    /// Protocol type of the payload.
    pub protocol_type: EtherType,
    /// Virtual network identifier (24 bits).
    pub vni: u32,
    /// Length of the options area in bytes; a multiple of 4, at most [`MAX_OPTIONS_LEN`].
    pub options_len: usize,
}

impl GeneveRepr {
    /// Reads a base header: checks lengths and the version ([`Error::BadVersion`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &GenevePacket<T>) -> Result<Self> {
        packet.check_len()?;
        if packet.version() != 0 {
            return Err(Error::BadVersion);
        }
        Ok(GeneveRepr {
            oam: packet.oam(),
            critical: packet.critical(),
            protocol_type: packet.protocol_type(),
            vni: packet.vni(),
            options_len: packet.options_len(),
        })
    }

    /// Returns the header length: base header plus options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    /// Writes the base header (version 0, reserved bits zero); the options area and payload
    /// are left untouched.
    ///
    /// `options_len` is written as `options_len / 4` masked to 6 bits. Panics if the buffer is
    /// shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut GenevePacket<T>) {
        packet.buffer.as_mut()[..HEADER_LEN].fill(0);
        packet.set_opt_len((self.options_len / 4) as u8);
        packet.set_oam(self.oam);
        packet.set_critical(self.critical);
        packet.set_protocol_type(self.protocol_type);
        packet.set_vni(self.vni);
    }
}

impl fmt::Display for GeneveRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GENEVE vni={} proto={} opts={}",
            self.vni, self.protocol_type, self.options_len
        )?;
        if self.oam {
            f.write_str(" O")?;
        }
        if self.critical {
            f.write_str(" C")?;
        }
        Ok(())
    }
}

/// The owned contents of one GENEVE option; the data is borrowed, not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GeneveOptionRepr<'a> {
    /// Option class.
    pub class: u16,
    /// Option type (all 8 bits, the critical bit included).
    pub option_type: u8,
    /// Option data: a multiple of 4 bytes, at most [`MAX_OPTION_DATA_LEN`].
    pub data: &'a [u8],
}

impl<'a> GeneveOptionRepr<'a> {
    /// Reads an option; the reserved bits are ignored.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(option: &GeneveOption<&'a T>) -> Result<Self> {
        option.check_len()?;
        Ok(GeneveOptionRepr {
            class: option.class(),
            option_type: option.option_type(),
            data: option.data(),
        })
    }

    /// Returns the length of the emitted option: header plus data.
    pub const fn buffer_len(&self) -> usize {
        OPTION_HEADER_LEN + self.data.len()
    }

    /// Writes the option at the start of `buffer` and returns its length.
    ///
    /// Returns [`Error::BadOptionLength`] if the data is not a multiple of 4 bytes or longer
    /// than [`MAX_OPTION_DATA_LEN`], and [`Error::Truncated`] if `buffer` is too short.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        if !self.data.len().is_multiple_of(4) || self.data.len() > MAX_OPTION_DATA_LEN {
            return Err(Error::BadOptionLength);
        }
        let len = self.buffer_len();
        let target = buffer.get_mut(..len).ok_or(Error::Truncated)?;
        let mut option = GeneveOption::new_unchecked(target);
        option.set_class(self.class);
        option.set_option_type(self.option_type);
        option.set_length((self.data.len() / 4) as u8);
        option.data_mut().copy_from_slice(self.data);
        Ok(len)
    }
}

impl fmt::Display for GeneveOptionRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "option class=0x{:04x} type=0x{:02x} len={}",
            self.class,
            self.option_type,
            self.data.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A base header with opt_len 3 (O clear, C set, IPv6 payload, VNI 0x123456), one option
    /// of class 0xffff type 0x81 carrying 8 bytes, and a two-byte payload.
    const PACKET: [u8; 22] = [
        0x03, 0x40, 0x86, 0xdd, 0x12, 0x34, 0x56, 0x00, // base header
        0xff, 0xff, 0x81, 0x02, 1, 2, 3, 4, 5, 6, 7, 8, // option
        0x60, 0x00, // payload
    ];

    #[test]
    fn fixture_accessors() {
        let packet = GenevePacket::new_checked(&PACKET[..]).expect("fixture is valid");
        assert_eq!(packet.version(), 0);
        assert_eq!(packet.opt_len(), 3);
        assert_eq!(packet.options_len(), 12);
        assert_eq!(packet.header_len(), 20);
        assert!(!packet.oam());
        assert!(packet.critical());
        assert_eq!(packet.protocol_type(), EtherType::Ipv6);
        assert_eq!(packet.vni(), 0x0012_3456);
        assert_eq!(packet.options(), &PACKET[8..20]);
        assert_eq!(packet.payload(), &[0x60, 0x00]);

        let options: Vec<_> = packet.options_iter().collect();
        assert_eq!(options.len(), 1);
        let option = options[0].expect("option is whole");
        assert_eq!(option.class(), 0xffff);
        assert_eq!(option.option_type(), 0x81);
        assert!(option.critical());
        assert_eq!(option.length(), 2);
        assert_eq!(option.reserved(), 0);
        assert_eq!(option.data(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            packet.to_string(),
            "GENEVE vni=1193046 proto=IPv6 opts=12 C"
        );
    }

    #[test]
    fn emit_reproduces_fixture() {
        let packet = GenevePacket::new_checked(&PACKET[..]).expect("fixture is valid");
        let repr = GeneveRepr::parse(&packet).expect("fixture is valid");
        let option =
            GeneveOptionRepr::parse(&packet.options_iter().next().expect("one").expect("whole"))
                .expect("whole");
        let mut bytes = [0xffu8; 22];
        let mut out = GenevePacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut out);
        assert_eq!(option.emit(out.options_mut()), Ok(12));
        out.payload_mut().copy_from_slice(&[0x60, 0x00]);
        assert_eq!(bytes, PACKET);
    }

    #[test]
    fn base_header_errors() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                GenevePacket::new_checked(&PACKET[..len]).err(),
                Some(Error::Truncated)
            );
        }
        for len in HEADER_LEN..20 {
            assert_eq!(
                GenevePacket::new_checked(&PACKET[..len]).err(),
                Some(Error::OptionsTooLong),
                "length {len}"
            );
        }
        let mut bytes = PACKET;
        bytes[0] = 0x3f;
        assert_eq!(
            GenevePacket::new_checked(&bytes[..]).err(),
            Some(Error::OptionsTooLong)
        );
        let mut bytes = PACKET;
        bytes[0] |= 0x40;
        let packet = GenevePacket::new_checked(&bytes[..]).expect("lengths are fine");
        assert_eq!(packet.version(), 1);
        assert_eq!(GeneveRepr::parse(&packet), Err(Error::BadVersion));
    }

    #[test]
    fn option_running_past_the_options_area() {
        // The option claims 12 bytes of data (length 3) in a 12-byte options area.
        let mut bytes = PACKET;
        bytes[11] = 0x03;
        let packet = GenevePacket::new_checked(&bytes[..]).expect("base header is fine");
        let mut options = packet.options_iter();
        assert_eq!(options.next(), Some(Err(Error::BadOptionLength)));
        assert_eq!(options.next(), None, "the walk stops after an error");

        // Three bytes left over: not even an option header.
        let area = [0x01, 0x08, 0x03, 0x00, 0xaa, 0xbb, 0xcc];
        let results: Vec<_> = GeneveOptions::new(&area)
            .map(|r| r.map(|o| o.class()))
            .collect();
        assert_eq!(results, [Ok(0x0108), Err(Error::BadOptionLength)]);
    }

    #[test]
    fn reserved_bits_are_ignored_on_parse() {
        let area = [0x01, 0x08, 0x03, 0xe1, 0xde, 0xad, 0xbe, 0xef];
        let option = GeneveOptions::new(&area)
            .next()
            .expect("one option")
            .expect("whole");
        assert_eq!(option.reserved(), 7);
        assert_eq!(option.length(), 1);
        assert_eq!(option.data(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn option_emit_errors() {
        let odd = GeneveOptionRepr {
            class: 1,
            option_type: 1,
            data: &[1, 2, 3],
        };
        assert_eq!(odd.emit(&mut [0; 16]), Err(Error::BadOptionLength));
        let too_long = GeneveOptionRepr {
            class: 1,
            option_type: 1,
            data: &[0; 128],
        };
        assert_eq!(too_long.emit(&mut [0; 256]), Err(Error::BadOptionLength));
        let fine = GeneveOptionRepr {
            class: 1,
            option_type: 1,
            data: &[0; 4],
        };
        assert_eq!(fine.emit(&mut [0; 7]), Err(Error::Truncated));
    }
}
