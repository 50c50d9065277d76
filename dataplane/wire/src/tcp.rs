//! TCP segments (RFC 9293): header view, flags, options, checksums and an in-place MSS rewrite.
//!
//! This module exists because the gateway identifies inner TCP flows by port, tracks their
//! flags, and clamps the MSS of SYNs so that tunnelled segments fit the path
//! ([`TcpPacket::set_mss_in_place`], which patches the checksum incrementally instead of
//! recomputing it). The view's buffer is the whole segment, that is, the IP payload;
//! [`TcpPacket::new_checked`] guarantees that the fixed header is present, that the data offset
//! is at least 5 words and that the options it covers are inside the buffer. Options are
//! parsed lazily by [`TcpOptions`], which never reads past the header.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::ops;

use crate::checksum;
use crate::ip::IpProtocol;
use crate::{Error, Result, read_u16, read_u32, write_u16, write_u32};

/// The length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

mod field {
    use crate::Field;

    /// Source port.
    pub(super) const SRC_PORT: Field = 0..2;
    /// Destination port.
    pub(super) const DST_PORT: Field = 2..4;
    /// Sequence number.
    pub(super) const SEQ_NUM: Field = 4..8;
    /// Acknowledgment number.
    pub(super) const ACK_NUM: Field = 8..12;
    /// Data offset (4 bits), reserved (3 bits), and the nine flag bits.
    pub(super) const FLAGS: Field = 12..14;
    /// Window.
    pub(super) const WINDOW: Field = 14..16;
    /// Checksum.
    pub(super) const CHECKSUM: Field = 16..18;
    /// Urgent pointer.
    pub(super) const URGENT: Field = 18..20;
    /// First byte of the options.
    pub(super) const OPTIONS: usize = 20;

    /// Option kind: end of option list.
    pub(super) const OPT_END: u8 = 0;
    /// Option kind: no-operation.
    pub(super) const OPT_NOP: u8 = 1;
    /// Option kind: maximum segment size.
    pub(super) const OPT_MSS: u8 = 2;
    /// Option kind: window scale.
    pub(super) const OPT_WS: u8 = 3;
    /// Option kind: SACK permitted.
    pub(super) const OPT_SACKPERM: u8 = 4;
    /// Option kind: SACK blocks.
    pub(super) const OPT_SACKRNG: u8 = 5;
    /// Option kind: timestamps.
    pub(super) const OPT_TSTAMP: u8 = 8;
}

/// The nine TCP control bits, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// Urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x080);
    /// ECN nonce (historic, RFC 3540).
    pub const NS: TcpFlags = TcpFlags(0x100);

    /// All flags in display order, with their names and one-letter abbreviations.
    const NAMES: [(TcpFlags, &'static str, char); 9] = [
        (Self::FIN, "FIN", 'F'),
        (Self::SYN, "SYN", 'S'),
        (Self::RST, "RST", 'R'),
        (Self::PSH, "PSH", 'P'),
        (Self::ACK, "ACK", 'A'),
        (Self::URG, "URG", 'U'),
        (Self::ECE, "ECE", 'E'),
        (Self::CWR, "CWR", 'C'),
        (Self::NS, "NS", 'N'),
    ];

    /// The empty set.
    pub const fn empty() -> Self {
        TcpFlags(0)
    }

    /// Builds a set from raw bits, dropping any outside the nine flags.
    pub const fn from_bits_truncate(bits: u16) -> Self {
        TcpFlags(bits & 0x1ff)
    }

    /// Returns the raw bits.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Returns true if every flag in `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns true if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags in `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags in `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// Sets or clears the flags in `other`.
    pub fn set(&mut self, other: TcpFlags, value: bool) {
        if value {
            self.insert(other);
        } else {
            self.remove(other);
        }
    }
}

impl ops::BitOr for TcpFlags {
    type Output = TcpFlags;

    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl ops::BitAnd for TcpFlags {
    type Output = TcpFlags;

    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl fmt::Display for TcpFlags {
    /// Formats as `[SYN, ACK]`, or with `{:#}` as the compact `SA`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = Self::NAMES
            .iter()
            .filter(|(flag, _, _)| self.contains(*flag));
        if f.alternate() {
            for (_, _, letter) in set {
                write!(f, "{letter}")?;
            }
            return Ok(());
        }
        f.write_str("[")?;
        for (index, (_, name, _)) in set.enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        f.write_str("]")
    }
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0); the rest of the options area is padding.
    EndOfList,
    /// No-operation (kind 1), used for alignment.
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): up to four left/right edge pairs.
    SackRange([Option<(u32, u32)>; 4]),
    /// Timestamps (kind 8).
    Timestamps {
        /// Timestamp value.
        tsval: u32,
        /// Timestamp echo reply.
        tsecr: u32,
    },
    /// Any other option, with its data (the bytes after kind and length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `bytes` and returns it with its length in bytes.
    ///
    /// Returns [`Error::BadOptionLength`] if the length byte is missing, below 2, runs past
    /// `bytes`, or is wrong for a known kind.
    pub fn parse(bytes: &'a [u8]) -> Result<(TcpOption<'a>, usize)> {
        let Some(&kind) = bytes.first() else {
            return Err(Error::BadOptionLength);
        };
        match kind {
            field::OPT_END => return Ok((TcpOption::EndOfList, 1)),
            field::OPT_NOP => return Ok((TcpOption::NoOperation, 1)),
            _ => {}
        }
        let len = usize::from(*bytes.get(1).ok_or(Error::BadOptionLength)?);
        if len < 2 || len > bytes.len() {
            return Err(Error::BadOptionLength);
        }
        let data = &bytes[2..len];
        let option = match (kind, len) {
            (field::OPT_MSS, 4) => TcpOption::MaxSegmentSize(read_u16(data, 0..2)),
            (field::OPT_WS, 3) => TcpOption::WindowScale(data[0]),
            (field::OPT_SACKPERM, 2) => TcpOption::SackPermitted,
            (field::OPT_SACKRNG, 10 | 18 | 26 | 34) => {
                let mut blocks = [None; 4];
                for (slot, edges) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((read_u32(edges, 0..4), read_u32(edges, 4..8)));
                }
                TcpOption::SackRange(blocks)
            }
            (field::OPT_TSTAMP, 10) => TcpOption::Timestamps {
                tsval: read_u32(data, 0..4),
                tsecr: read_u32(data, 4..8),
            },
            (
                field::OPT_MSS
                | field::OPT_WS
                | field::OPT_SACKPERM
                | field::OPT_SACKRNG
                | field::OPT_TSTAMP,
                _,
            ) => return Err(Error::BadOptionLength),
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((option, len))
    }
}

/// An iterator over the options area of a TCP header.
///
/// It yields [`TcpOption::EndOfList`] and then stops; after an error it yields nothing more.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> TcpOptions<'a> {
    /// Iterates over an options area (the bytes between the fixed header and the data
    /// offset).
    pub const fn new(bytes: &'a [u8]) -> Self {
        TcpOptions {
            bytes,
            offset: 0,
            done: false,
        }
    }

    /// Returns the next option together with its offset within the options area.
    fn next_with_offset(&mut self) -> Option<Result<(usize, TcpOption<'a>)>> {
        if self.done || self.offset >= self.bytes.len() {
            self.done = true;
            return None;
        }
        let at = self.offset;
        match TcpOption::parse(&self.bytes[at..]) {
            Ok((option, len)) => {
                self.offset += len;
                if option == TcpOption::EndOfList {
                    self.done = true;
                }
                Some(Ok((at, option)))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_offset()
            .map(|item| item.map(|(_, option)| option))
    }
}

impl core::iter::FusedIterator for TcpOptions<'_> {}

/// A read/write view over a TCP segment; the buffer is the whole segment.
///
/// Accessors on a view from [`TcpPacket::new_unchecked`] panic if the buffer is shorter than
/// [`HEADER_LEN`]; the option and payload accessors also panic if it is shorter than the data
/// offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`TcpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Returns [`Error::Truncated`] if the buffer is shorter than the fixed header or the data
    /// offset, and [`Error::BadHeaderLength`] if the data offset is below 5.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadHeaderLength);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Returns the source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Returns the destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Returns the sequence number.
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Returns the acknowledgment number (meaningful only with [`TcpFlags::ACK`]).
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    fn flags_word(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS)
    }

    /// Returns the data offset field, in 4-byte words.
    pub fn data_offset(&self) -> u8 {
        (self.flags_word() >> 12) as u8
    }

    /// Returns the header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// Returns the control flags.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits_truncate(self.flags_word())
    }

    /// Returns the window.
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Returns the checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Returns the urgent pointer.
    pub fn urgent_pointer(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Returns the segment length: the whole buffer.
    pub fn segment_len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Returns an iterator over the options, borrowing the packet.
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(&self.buffer.as_ref()[field::OPTIONS..self.header_len()])
    }

    /// Returns the first MSS option's value, or `None` if there is none or the options are
    /// malformed before it.
    pub fn mss(&self) -> Option<u16> {
        self.options_iter()
            .map_while(|option| option.ok())
            .find_map(|option| match option {
                TcpOption::MaxSegmentSize(mss) => Some(mss),
                _ => None,
            })
    }

    /// Returns true if the checksum verifies against the IPv4 pseudo-header.
    pub fn verify_checksum_v4(&self, src: &Ipv4Addr, dst: &Ipv4Addr) -> bool {
        let segment = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, segment.len() as u16);
        checksum::combine(&[pseudo, checksum::data(segment)]) == 0xffff
    }

    /// Returns true if the checksum verifies against the IPv6 pseudo-header.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let segment = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, segment.len() as u32);
        checksum::combine(&[pseudo, checksum::data(segment)]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// Returns the options area.
    pub fn options(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Returns the data after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets the header length in bytes; it must be a multiple of 4 between 20 and 60.
    pub fn set_header_len(&mut self, value: usize) {
        let word = (self.flags_word() & 0x0fff) | (((value / 4) as u16 & 0x0f) << 12);
        write_u16(self.buffer.as_mut(), field::FLAGS, word);
    }

    /// Sets the control flags; the reserved bits are cleared.
    pub fn set_flags(&mut self, value: TcpFlags) {
        let word = (self.flags_word() & 0xf000) | value.bits();
        write_u16(self.buffer.as_mut(), field::FLAGS, word);
    }

    /// Sets the window.
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_pointer(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Computes and writes the checksum over the IPv4 pseudo-header and the whole buffer.
    pub fn fill_checksum_v4(&mut self, src: &Ipv4Addr, dst: &Ipv4Addr) {
        self.set_checksum(0);
        let segment = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::Tcp, segment.len() as u16);
        let sum = checksum::combine(&[pseudo, checksum::data(segment)]);
        self.set_checksum(!sum);
    }

    /// Computes and writes the checksum over the IPv6 pseudo-header and the whole buffer.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let segment = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::Tcp, segment.len() as u32);
        let sum = checksum::combine(&[pseudo, checksum::data(segment)]);
        self.set_checksum(!sum);
    }

    /// Rewrites the value of the first MSS option to `mss` and patches the checksum
    /// incrementally (RFC 1624), so a correct checksum stays correct without touching the
    /// payload.
    ///
    /// Returns the previous value, `Ok(None)` if there is no MSS option (nothing is written),
    /// or [`Error::BadOptionLength`] if the options are malformed before an MSS option is
    /// found. The option may sit at an odd offset (after a single NOP); the checksum patch
    /// handles that. Panics only on an unchecked view shorter than its data offset.
    pub fn set_mss_in_place(&mut self, mss: u16) -> Result<Option<u16>> {
        let mut options = self.options_iter();
        let found = loop {
            match options.next_with_offset() {
                None => break None,
                Some(Err(error)) => return Err(error),
                Some(Ok((at, TcpOption::MaxSegmentSize(old)))) => break Some((at, old)),
                Some(Ok(_)) => {}
            }
        };
        let Some((at, old)) = found else {
            return Ok(None);
        };
        let value_at = field::OPTIONS + at + 2;
        write_u16(self.buffer.as_mut(), value_at..value_at + 2, mss);
        let patched = if value_at.is_multiple_of(2) {
            checksum::update(self.checksum(), old, mss)
        } else {
            checksum::update(self.checksum(), old.swap_bytes(), mss.swap_bytes())
        };
        self.set_checksum(patched);
        Ok(Some(old))
    }

    /// Returns the options area for writing.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..header_len]
    }

    /// Returns the data after the header for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        &mut self.buffer.as_mut()[header_len..]
    }
}

impl<T: AsRef<[u8]>> fmt::Display for TcpPacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match TcpRepr::parse(self) {
            Ok(repr) => write!(f, "{repr}"),
            Err(error) => write!(f, "TCP ({error})"),
        }
    }
}

/// The owned contents of a TCP header.
///
/// Only the MSS option is represented; other options are skipped on parse (but must be well
/// formed) and never emitted. The urgent pointer is emitted as zero. [`TcpRepr::parse`] does
/// not verify the checksum, which needs the IP addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number; `Some` exactly when the ACK flag is set.
    pub ack_number: Option<u32>,
    /// Control flags as on the wire. On emit the ACK bit follows `ack_number`, whatever this
    /// field says.
    pub flags: TcpFlags,
    /// Window.
    pub window_len: u16,
    /// Maximum segment size option.
    pub mss: Option<u16>,
    /// Data length in bytes.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Reads a header: checks lengths and that every option is well formed
    /// ([`Error::BadOptionLength`]), and takes the first MSS option.
    pub fn parse<T: AsRef<[u8]>>(packet: &TcpPacket<T>) -> Result<Self> {
        packet.check_len()?;
        let mut mss = None;
        for option in packet.options_iter() {
            if let TcpOption::MaxSegmentSize(value) = option? {
                mss = mss.or(Some(value));
            }
        }
        let flags = packet.flags();
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: flags.contains(TcpFlags::ACK).then(|| packet.ack_number()),
            flags,
            window_len: packet.window_len(),
            mss,
            payload_len: packet.segment_len() - packet.header_len(),
        })
    }

    /// Returns the emitted header length: 20, plus 4 with an MSS option.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + if self.mss.is_some() { 4 } else { 0 }
    }

    /// Returns the emitted segment length, header and data.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header and the MSS option, with a zero checksum; the data is left
    /// untouched.
    ///
    /// Write the data next, then call [`TcpPacket::fill_checksum_v4`] or
    /// [`TcpPacket::fill_checksum_v6`] on a view over exactly [`TcpRepr::buffer_len`] bytes.
    /// Panics if the buffer is shorter than [`TcpRepr::header_len`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack_number.is_some());
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number.unwrap_or(0));
        write_u16(packet.buffer.as_mut(), field::FLAGS, 0);
        packet.set_header_len(self.header_len());
        packet.set_flags(flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_pointer(0);
        if let Some(mss) = self.mss {
            let [high, low] = mss.to_be_bytes();
            packet.options_mut()[..4].copy_from_slice(&[field::OPT_MSS, 4, high, low]);
        }
    }
}

impl fmt::Display for TcpRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TCP src={} dst={} seq={}",
            self.src_port, self.dst_port, self.seq_number
        )?;
        if let Some(ack) = self.ack_number {
            write!(f, " ack={ack}")?;
        }
        write!(f, " flags={} win={}", self.flags, self.window_len)?;
        if let Some(mss) = self.mss {
            write!(f, " mss={mss}")?;
        }
        write!(f, " len={}", self.payload_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
    const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 199);

    /// A Linux-style SYN from 192.168.0.1:51000 to 192.168.0.199:443 with MSS 1460, SACK
    /// permitted, timestamps, NOP and window scale 7; checksum computed independently.
    const SYN: [u8; 40] = [
        0xc7, 0x38, 0x01, 0xbb, // ports
        0x12, 0x34, 0x56, 0x78, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, // data offset 10, SYN
        0xfa, 0xf0, // window 64240
        0xb7, 0x14, // checksum
        0x00, 0x00, // urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40, 0x00, 0x00, 0x00, 0x00, // timestamps
        0x01, // NOP
        0x03, 0x03, 0x07, // window scale 7
    ];

    /// A SYN-ACK back whose MSS option sits at an odd offset (after one NOP), with three bytes
    /// of data; checksum 0x94ba, and 0xd0ba after clamping MSS to 1400, both computed
    /// independently.
    const SYN_ACK: [u8; 31] = [
        0x01, 0xbb, 0xc7, 0x38, 0xab, 0xcd, 0xef, 0x01, 0x12, 0x34, 0x56, 0x79, 0x70, 0x12, 0xff,
        0xff, 0x94, 0xba, 0x00, 0x00, 0x01, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x01, b'x', b'y',
        b'z',
    ];

    #[test]
    fn syn_fixture_accessors() {
        let packet = TcpPacket::new_checked(&SYN[..]).expect("fixture is valid");
        assert_eq!(packet.src_port(), 51000);
        assert_eq!(packet.dst_port(), 443);
        assert_eq!(packet.seq_number(), 0x1234_5678);
        assert_eq!(packet.ack_number(), 0);
        assert_eq!(packet.data_offset(), 10);
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), TcpFlags::SYN);
        assert_eq!(packet.window_len(), 64240);
        assert_eq!(packet.checksum(), 0xb714);
        assert_eq!(packet.urgent_pointer(), 0);
        assert_eq!(packet.options().len(), 20);
        assert!(packet.payload().is_empty());
        assert!(packet.verify_checksum_v4(&CLIENT, &SERVER));
        assert!(!packet.verify_checksum_v4(&SERVER, &Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(packet.mss(), Some(1460));

        let options: Vec<_> = packet
            .options_iter()
            .collect::<Result<_>>()
            .expect("options are valid");
        assert_eq!(
            options,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 0x0001_e240,
                    tsecr: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(7),
            ]
        );
        assert_eq!(
            packet.to_string(),
            "TCP src=51000 dst=443 seq=305419896 flags=[SYN] win=64240 mss=1460 len=0"
        );
    }

    #[test]
    fn checksum_over_ipv6_pseudo_header() {
        let src = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
        let mut bytes = SYN;
        let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
        packet.fill_checksum_v6(&src, &dst);
        assert_eq!(packet.checksum(), 0xddb8);
        assert!(packet.verify_checksum_v6(&src, &dst));
        packet.fill_checksum_v4(&CLIENT, &SERVER);
        assert_eq!(packet.checksum(), 0xb714);
    }

    #[test]
    fn header_length_errors() {
        for len in 0..SYN.len() {
            assert_eq!(
                TcpPacket::new_checked(&SYN[..len]).err(),
                Some(Error::Truncated),
                "length {len}"
            );
        }
        let mut bytes = SYN;
        bytes[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).err(),
            Some(Error::BadHeaderLength)
        );
        // Data offset 15 (60 bytes) past a 40-byte buffer.
        bytes[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&bytes[..]).err(),
            Some(Error::Truncated)
        );
    }

    #[test]
    fn options_running_past_the_header() {
        // Timestamps claims 10 bytes but only 8 remain in the options area.
        let mut bytes = [0u8; 28];
        bytes[..20].copy_from_slice(&SYN[..20]);
        bytes[12] = 0x70;
        bytes[20..28].copy_from_slice(&[0x08, 0x0a, 0, 0, 0, 0, 0, 0]);
        let packet = TcpPacket::new_checked(&bytes[..]).expect("lengths are fine");
        let mut options = packet.options_iter();
        assert_eq!(options.next(), Some(Err(Error::BadOptionLength)));
        assert_eq!(options.next(), None);
        assert_eq!(TcpRepr::parse(&packet), Err(Error::BadOptionLength));
        assert_eq!(packet.mss(), None);
    }

    #[test]
    fn option_parse_errors() {
        assert_eq!(TcpOption::parse(&[2]), Err(Error::BadOptionLength));
        assert_eq!(TcpOption::parse(&[30, 0]), Err(Error::BadOptionLength));
        assert_eq!(TcpOption::parse(&[30, 1]), Err(Error::BadOptionLength));
        assert_eq!(TcpOption::parse(&[2, 3, 5]), Err(Error::BadOptionLength));
        assert_eq!(
            TcpOption::parse(&[5, 6, 0, 0, 0, 0]),
            Err(Error::BadOptionLength)
        );
        assert_eq!(
            TcpOption::parse(&[30, 4, 0xaa, 0xbb]),
            Ok((
                TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa, 0xbb]
                },
                4
            ))
        );
        let sack = [5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
        assert_eq!(
            TcpOption::parse(&sack),
            Ok((
                TcpOption::SackRange([Some((1, 2)), Some((3, 4)), None, None]),
                18
            ))
        );
    }

    #[test]
    fn end_of_list_stops_iteration() {
        let mut bytes = [0u8; 28];
        bytes[..20].copy_from_slice(&SYN[..20]);
        bytes[12] = 0x70;
        // NOP, EOL, then garbage that must not be parsed.
        bytes[20..28].copy_from_slice(&[1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let packet = TcpPacket::new_checked(&bytes[..]).expect("lengths are fine");
        let options: Vec<_> = packet.options_iter().collect();
        assert_eq!(
            options,
            [Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]
        );
    }

    #[test]
    fn mss_clamp_at_odd_offset_patches_checksum() {
        let mut bytes = SYN_ACK;
        let packet = TcpPacket::new_checked(&bytes[..]).expect("fixture is valid");
        assert!(packet.verify_checksum_v4(&SERVER, &CLIENT));
        assert_eq!(packet.payload(), b"xyz");
        assert_eq!(packet.flags(), TcpFlags::SYN | TcpFlags::ACK);

        let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.set_mss_in_place(1400), Ok(Some(1460)));
        assert_eq!(packet.mss(), Some(1400));
        assert_eq!(packet.checksum(), 0xd0ba);
        assert!(packet.verify_checksum_v4(&SERVER, &CLIENT));
    }

    #[test]
    fn mss_clamp_at_even_offset_patches_checksum() {
        let mut bytes = SYN;
        let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.set_mss_in_place(8460), Ok(Some(1460)));
        assert!(packet.verify_checksum_v4(&CLIENT, &SERVER));
        let patched = packet.checksum();
        packet.fill_checksum_v4(&CLIENT, &SERVER);
        assert_eq!(packet.checksum(), patched);
    }

    #[test]
    fn mss_clamp_without_option_writes_nothing() {
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&SYN[..20]);
        bytes[12] = 0x50;
        let before = bytes;
        let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
        assert_eq!(packet.set_mss_in_place(1400), Ok(None));
        assert_eq!(bytes, before);
    }

    #[test]
    fn repr_parse_and_emit() {
        let packet = TcpPacket::new_checked(&SYN_ACK[..]).expect("fixture is valid");
        let repr = TcpRepr::parse(&packet).expect("fixture is valid");
        assert_eq!(
            repr,
            TcpRepr {
                src_port: 443,
                dst_port: 51000,
                seq_number: 0xabcd_ef01,
                ack_number: Some(0x1234_5679),
                flags: TcpFlags::SYN | TcpFlags::ACK,
                window_len: 65535,
                mss: Some(1460),
                payload_len: 3,
            }
        );
        let mut bytes = vec![0xffu8; repr.buffer_len()];
        let mut out = TcpPacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(b"xyz");
        out.fill_checksum_v4(&SERVER, &CLIENT);
        let reparsed = TcpPacket::new_checked(&bytes[..]).expect("emitted is valid");
        assert_eq!(reparsed.header_len(), 24);
        assert_eq!(reparsed.options(), &[2, 4, 0x05, 0xb4]);
        assert!(reparsed.verify_checksum_v4(&SERVER, &CLIENT));
        assert_eq!(TcpRepr::parse(&reparsed), Ok(repr));
    }

    #[test]
    fn flags_display() {
        let syn_ack = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(syn_ack.to_string(), "[SYN, ACK]");
        assert_eq!(format!("{syn_ack:#}"), "SA");
        assert_eq!(TcpFlags::empty().to_string(), "[]");
        assert!(syn_ack.contains(TcpFlags::ACK));
        assert!(!syn_ack.contains(TcpFlags::FIN | TcpFlags::ACK));
        assert_eq!(TcpFlags::from_bits_truncate(0xffff).bits(), 0x1ff);
    }
}
