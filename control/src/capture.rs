//! Reading packet captures (pcap and pcapng) for `sluice decode` and the tests.
//!
//! A capture is read whole into memory (the files this tool meets are fixtures, lab traces
//! and perf inputs, not multi-gigabyte archives) and handed out as [`CapturedPacket`]s with
//! the link type that says where the first header starts. Unreadable files, unknown formats
//! and unsupported link types are errors that name the file; a damaged record ends the walk
//! with an error after the packets read before it.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

/// What the first byte of a captured packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// An Ethernet II frame (pcap link type 1).
    Ethernet,
    /// A bare IPv4 or IPv6 packet, version in the first nibble (link types 101, 228, 229).
    RawIp,
}

/// One packet of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Time of capture since the Unix epoch.
    pub timestamp: Duration,
    /// Length of the packet on the wire; larger than `data.len()` when the capture cut it.
    pub orig_len: u32,
    /// What the first header is.
    pub link: LinkType,
    /// The captured bytes.
    pub data: Vec<u8>,
}

/// Why a capture could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The capture file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file does not start with a pcap or pcapng magic number.
    #[error("{path}: not a pcap or pcapng file (magic {magic:02x?})")]
    UnknownFormat {
        /// The capture file.
        path: PathBuf,
        /// The first bytes of the file.
        magic: Vec<u8>,
    },
    /// The capture's link type is not one sluice decodes.
    #[error("{path}: link type {link:?} is not supported (Ethernet and raw IP are)")]
    UnsupportedLink {
        /// The capture file.
        path: PathBuf,
        /// The link type the file declares.
        link: DataLink,
    },
    /// A header or record of the file is damaged.
    #[error("{path}: damaged capture after {packets} packets: {source}")]
    Damaged {
        /// The capture file.
        path: PathBuf,
        /// How many packets were read before the damage.
        packets: usize,
        /// What the pcap reader said.
        source: pcap_file::PcapError,
    },
}

/// Reads every packet of a pcap or pcapng file.
///
/// On a damaged record the packets read before it are returned with the error, so a decoder
/// can show what it has and then say where the file broke.
pub fn read(path: &Path) -> Result<(Vec<CapturedPacket>, Option<CaptureError>), CaptureError> {
    let bytes = std::fs::read(path).map_err(|source| CaptureError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes, path)
}

/// Reads every packet of a pcap or pcapng image held in memory; `path` names it in errors.
pub fn parse(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<CapturedPacket>, Option<CaptureError>), CaptureError> {
    let magic = bytes.get(..4).unwrap_or(bytes);
    match magic {
        [0xa1, 0xb2, 0xc3, 0xd4]
        | [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x4d, 0x3c, 0xb2, 0xa1] => parse_pcap(bytes, path),
        [0x0a, 0x0d, 0x0d, 0x0a] => parse_pcapng(bytes, path),
        _ => Err(CaptureError::UnknownFormat {
            path: path.to_owned(),
            magic: magic.to_vec(),
        }),
    }
}

fn link_type(link: DataLink, path: &Path) -> Result<LinkType, CaptureError> {
    match link {
        DataLink::ETHERNET => Ok(LinkType::Ethernet),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => Ok(LinkType::RawIp),
        other => Err(CaptureError::UnsupportedLink {
            path: path.to_owned(),
            link: other,
        }),
    }
}

fn parse_pcap(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<CapturedPacket>, Option<CaptureError>), CaptureError> {
    let damaged = |packets, source| CaptureError::Damaged {
        path: path.to_owned(),
        packets,
        source,
    };
    let mut reader = PcapReader::new(Cursor::new(bytes)).map_err(|e| damaged(0, e))?;
    let link = link_type(reader.header().datalink, path)?;
    let mut packets = Vec::new();
    while let Some(next) = reader.next_packet() {
        match next {
            Ok(p) => packets.push(CapturedPacket {
                timestamp: p.timestamp,
                orig_len: p.orig_len,
                link,
                data: p.data.into_owned(),
            }),
            Err(e) => {
                let n = packets.len();
                return Ok((packets, Some(damaged(n, e))));
            }
        }
    }
    Ok((packets, None))
}

fn parse_pcapng(
    bytes: &[u8],
    path: &Path,
) -> Result<(Vec<CapturedPacket>, Option<CaptureError>), CaptureError> {
    let damaged = |packets, source| CaptureError::Damaged {
        path: path.to_owned(),
        packets,
        source,
    };
    let mut reader = PcapNgReader::new(Cursor::new(bytes)).map_err(|e| damaged(0, e))?;
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                let n = packets.len();
                return Ok((packets, Some(damaged(n, e))));
            }
        };
        if let Block::EnhancedPacket(epb) = block {
            let epb = epb.into_owned();
            let linktype = reader
                .interfaces()
                .get(epb.interface_id as usize)
                .map(|i| i.linktype);
            let Some(linktype) = linktype else {
                let n = packets.len();
                let e = pcap_file::PcapError::InvalidField("packet names an undeclared interface");
                return Ok((packets, Some(damaged(n, e))));
            };
            packets.push(CapturedPacket {
                timestamp: epb.timestamp,
                orig_len: epb.original_len,
                link: link_type(linktype, path)?,
                data: epb.data.into_owned(),
            });
        }
    }
    Ok((packets, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../dataplane/wire/tests/data")
            .join(name)
    }

    #[test]
    fn reads_the_golden_pcap() {
        let (packets, err) = read(&data("gwlb.pcap")).expect("readable");
        assert!(err.is_none());
        assert_eq!(packets.len(), 7);
        assert!(packets.iter().all(|p| p.link == LinkType::Ethernet));
        assert_eq!(packets[0].timestamp, Duration::from_secs(1_767_225_600));
        assert_eq!(packets[0].orig_len as usize, packets[0].data.len());
    }

    #[test]
    fn rejects_what_is_not_a_capture() {
        let err = parse(b"hello world", Path::new("x.txt")).expect_err("not a capture");
        assert!(
            err.to_string().contains("not a pcap or pcapng file"),
            "{err}"
        );
        let err = parse(b"", Path::new("empty")).expect_err("empty");
        assert!(matches!(err, CaptureError::UnknownFormat { .. }));
    }

    #[test]
    fn a_cut_file_keeps_the_packets_before_the_cut() {
        let bytes = std::fs::read(data("gwlb.pcap")).expect("fixture");
        let (all, _) = parse(&bytes, Path::new("gwlb.pcap")).expect("whole");
        let (some, err) = parse(&bytes[..bytes.len() - 10], Path::new("cut")).expect("cut");
        assert_eq!(some.len(), all.len() - 1);
        assert!(
            matches!(err, Some(CaptureError::Damaged { packets, .. }) if packets == some.len())
        );
    }

    #[test]
    fn a_cut_header_is_an_error() {
        let bytes = std::fs::read(data("gwlb.pcap")).expect("fixture");
        assert!(parse(&bytes[..10], Path::new("cut")).is_err());
    }
}
