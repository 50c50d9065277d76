//! IEEE 802.1Q / 802.1ad VLAN tags.
//!
//! This module exists because ports facing a switch may deliver tagged frames. A tag is read
//! as a 4-byte header over the payload of an Ethernet frame whose EtherType is
//! [`EtherType::Vlan`] or [`EtherType::QinQ`]: the Tag Control Information (priority code point,
//! drop eligible indicator, VLAN identifier) followed by the EtherType of what comes next,
//! which may itself be another tag. A tag accepted by [`VlanHeader::new_checked`] is at least
//! [`HEADER_LEN`] bytes long, so every accessor is in bounds.

use core::fmt;

use crate::ethernet::EtherType;
use crate::{Error, Result, read_u16, write_u16};

/// The length of one VLAN tag.
pub const HEADER_LEN: usize = 4;

mod field {
    use crate::Field;

    /// Tag Control Information: PCP (3 bits), DEI (1 bit), VID (12 bits).
    pub(super) const TCI: Field = 0..2;
    /// EtherType of the encapsulated payload.
    pub(super) const ETHERTYPE: Field = 2..4;
    /// First byte of the encapsulated payload.
    pub(super) const PAYLOAD: usize = 4;
}

/// A read/write view over one VLAN tag and what follows it.
///
/// Accessors on a view from [`VlanHeader::new_unchecked`] panic if the buffer is shorter than
/// [`HEADER_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanHeader { buffer }
    }

    /// Wraps a buffer after checking that it holds a whole tag.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than a tag.
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

    /// Returns the tag length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TCI)
    }

    /// Returns the priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Returns the drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// Returns the VLAN identifier (12 bits).
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Returns the EtherType of the encapsulated payload.
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> VlanHeader<&'a T> {
    /// Returns everything after the tag.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    fn set_tci(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::TCI, value);
    }

    /// Sets the priority code point; only the low 3 bits of `value` are used.
    pub fn set_pcp(&mut self, value: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(value & 0x07) << 13);
        self.set_tci(tci);
    }

    /// Sets the drop eligible indicator.
    pub fn set_dei(&mut self, value: bool) {
        let tci = (self.tci() & !0x1000) | if value { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    /// Sets the VLAN identifier; only the low 12 bits of `value` are used.
    pub fn set_vlan_id(&mut self, value: u16) {
        let tci = (self.tci() & 0xf000) | (value & 0x0fff);
        self.set_tci(tci);
    }

    /// Sets the EtherType of the encapsulated payload.
    pub fn set_ethertype(&mut self, value: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE, value.into());
    }

    /// Returns the encapsulated payload for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD..]
    }
}

/// The owned contents of a VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point, 0 to 7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0 to 4095.
    pub vlan_id: u16,
    /// EtherType of the encapsulated payload.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a tag.
    pub fn parse<T: AsRef<[u8]>>(header: &VlanHeader<T>) -> Result<Self> {
        header.check_len()?;
        Ok(VlanRepr {
            pcp: header.pcp(),
            dei: header.dei(),
            vlan_id: header.vlan_id(),
            ethertype: header.ethertype(),
        })
    }

    /// Returns the tag length, always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the tag; out-of-range `pcp` and `vlan_id` are masked to their field widths.
    ///
    /// Panics if the buffer is shorter than [`HEADER_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut VlanHeader<T>) {
        header.set_tci(0);
        header.set_pcp(self.pcp);
        header.set_dei(self.dei);
        header.set_vlan_id(self.vlan_id);
        header.set_ethertype(self.ethertype);
    }
}

impl fmt::Display for VlanRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "VLAN id={} pcp={}{} type={}",
            self.vlan_id,
            self.pcp,
            if self.dei { " dei" } else { "" },
            self.ethertype
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ethernet::EthernetFrame;

    /// An Ethernet frame with an 802.1Q tag (PCP 5, DEI set, VID 100) around IPv4.
    const TAGGED: [u8; 19] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // destination
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // source
        0x81, 0x00, // 802.1Q
        0xb0, 0x64, // PCP 5, DEI 1, VID 100
        0x08, 0x00, // IPv4
        0x45, // first byte of the inner packet
    ];

    #[test]
    fn tagged_frame_fixture() {
        let frame = EthernetFrame::new_checked(&TAGGED[..]).expect("fixture is valid");
        assert!(frame.ethertype().is_vlan_tag());
        let tag = VlanHeader::new_checked(frame.payload()).expect("tag is complete");
        assert_eq!(tag.pcp(), 5);
        assert!(tag.dei());
        assert_eq!(tag.vlan_id(), 100);
        assert_eq!(tag.ethertype(), EtherType::Ipv4);
        assert_eq!(tag.payload(), &[0x45]);
        let repr = VlanRepr::parse(&tag).expect("tag is complete");
        assert_eq!(repr.to_string(), "VLAN id=100 pcp=5 dei type=IPv4");

        let mut bytes = [0xffu8; 4];
        repr.emit(&mut VlanHeader::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes, TAGGED[14..18]);
    }

    #[test]
    fn truncated_tag_is_rejected() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                VlanHeader::new_checked(&TAGGED[14..14 + len]).err(),
                Some(Error::Truncated)
            );
        }
    }
}
