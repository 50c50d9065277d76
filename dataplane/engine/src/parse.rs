//! The few facts the pipelines need from a frame, read once: the link layer (MACs, VLAN,
//! where the IP header starts) and an IP packet's flow (addresses, protocol, ports,
//! fragment, TCP flags, length).
//!
//! Everything goes through `sluice_wire`'s checked views, so hostile bytes turn into a
//! [`DropReason`], never a panic; nothing allocates.

use core::net::IpAddr;

use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame};
use sluice_wire::icmpv4::Icmpv4Packet;
use sluice_wire::icmpv6::Icmpv6Packet;
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::ipv6::{self, Ipv6Packet};
use sluice_wire::tcp::{TcpFlags, TcpPacket};
use sluice_wire::vlan::VlanHeader;

use crate::counters::DropReason;

/// The link layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLayer {
    /// Destination MAC.
    pub dst: EthernetAddress,
    /// Source MAC.
    pub src: EthernetAddress,
    /// The 802.1Q VLAN id, when the frame has one tag.
    pub vlan: Option<u16>,
    /// The EtherType of the payload (after the tag).
    pub ethertype: EtherType,
    /// Where the payload (the IP or ARP header) starts.
    pub payload_offset: usize,
}

/// Reads the Ethernet header and at most one 802.1Q tag.
pub fn link_layer(frame: &[u8]) -> Result<LinkLayer, DropReason> {
    let mut link = LinkLayer::UNREAD;
    read_link_layer(frame, &mut link)?;
    Ok(link)
}

/// [`link_layer`] into a link layer the caller holds (see [`read_ip_flow`] for why); on error
/// `link` holds partial facts.
#[inline]
pub(crate) fn read_link_layer(frame: &[u8], link: &mut LinkLayer) -> Result<(), DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::MalformedEthernet)?;
    *link = LinkLayer {
        dst: eth.dst_addr(),
        src: eth.src_addr(),
        vlan: None,
        ethertype: eth.ethertype(),
        payload_offset: sluice_wire::ethernet::HEADER_LEN,
    };
    if link.ethertype == EtherType::Vlan {
        let tag = VlanHeader::new_checked(&frame[link.payload_offset..])
            .map_err(|_| DropReason::MalformedEthernet)?;
        link.vlan = Some(tag.vlan_id());
        link.ethertype = tag.ethertype();
        link.payload_offset += tag.header_len();
        if link.ethertype.is_vlan_tag() {
            return Err(DropReason::MalformedEthernet);
        }
    }
    Ok(())
}

impl LinkLayer {
    /// A placeholder for [`read_link_layer`] to overwrite.
    pub(crate) const UNREAD: LinkLayer = LinkLayer {
        dst: EthernetAddress([0; 6]),
        src: EthernetAddress([0; 6]),
        vlan: None,
        ethertype: EtherType::Unknown(0),
        payload_offset: 0,
    };
}

/// The flow facts of one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpFlow {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The upper-layer protocol (after IPv6 extension headers).
    pub protocol: IpProtocol,
    /// Source port (0 when the packet has no ports, or is a non-first fragment).
    pub src_port: u16,
    /// Destination port, likewise.
    pub dst_port: u16,
    /// Whether the packet is an IP fragment (first or not).
    pub is_fragment: bool,
    /// The TCP flags, for an unfragmented or first-fragment TCP packet.
    pub tcp_flags: Option<TcpFlags>,
    /// The IP packet's length by its own header (without link padding).
    pub len: usize,
    /// Where the transport header starts, from the start of the IP header (after IPv4
    /// options and IPv6 extension headers).
    pub l4_offset: usize,
    /// For an ICMP or ICMPv6 error message: the flow of the packet it quotes, so the error
    /// can follow that flow.
    pub quoted: Option<QuotedFlow>,
}

/// The flow of the packet an ICMP error quotes (as it was sent, so the error goes back
/// toward its source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedFlow {
    /// Source address of the quoted packet.
    pub src: IpAddr,
    /// Destination address of the quoted packet.
    pub dst: IpAddr,
    /// Its protocol.
    pub protocol: IpProtocol,
    /// Its source port (0 without ports).
    pub src_port: u16,
    /// Its destination port (0 without ports).
    pub dst_port: u16,
    /// Whether the quoted packet was a fragment.
    pub is_fragment: bool,
}

impl IpFlow {
    /// A placeholder for [`read_ip_flow`] to overwrite.
    pub(crate) const UNREAD: IpFlow = IpFlow {
        src: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
        protocol: IpProtocol::Unknown(255),
        src_port: 0,
        dst_port: 0,
        is_fragment: false,
        tcp_flags: None,
        len: 0,
        l4_offset: 0,
        quoted: None,
    };

    /// Whether this is a TCP packet that may open a flow: SYN without ACK.
    pub fn is_tcp_syn(&self) -> bool {
        self.tcp_flags
            .is_some_and(|f| f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK))
    }

    /// Whether this is TCP.
    pub fn is_tcp(&self) -> bool {
        self.protocol == IpProtocol::Tcp
    }
}

/// Reads the flow of an IPv4 or IPv6 packet (version from the first nibble).
pub fn ip_flow(packet: &[u8]) -> Result<IpFlow, DropReason> {
    let mut flow = IpFlow::UNREAD;
    read_ip_flow(packet, &mut flow)?;
    Ok(flow)
}

/// [`ip_flow`] into a flow the caller holds; on error `flow` holds partial facts.
///
/// This is the packet path's form: inlined (with the IPv4 and TCP/UDP parts), it writes each
/// fact once where the caller keeps it. Returned through a `Result`, the large flow would be
/// copied with wide loads of its narrow fields just written, and such loads cannot be served
/// from the store buffer: a stall of a dozen cycles per copy, on every packet.
#[inline]
pub(crate) fn read_ip_flow(packet: &[u8], flow: &mut IpFlow) -> Result<(), DropReason> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => ipv4_flow(packet, flow),
        Some(6) => ipv6_flow(packet, flow),
        _ => Err(DropReason::MalformedIp),
    }
}

#[inline]
fn ipv4_flow(packet: &[u8], flow: &mut IpFlow) -> Result<(), DropReason> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| DropReason::MalformedIp)?;
    let protocol = ip.protocol();
    let is_fragment = ip.is_fragment();
    *flow = IpFlow {
        src: IpAddr::V4(ip.src_addr()),
        dst: IpAddr::V4(ip.dst_addr()),
        protocol,
        src_port: 0,
        dst_port: 0,
        is_fragment,
        tcp_flags: None,
        len: usize::from(ip.total_len()),
        l4_offset: ip.header_len(),
        quoted: None,
    };
    if ip.frag_offset() == 0 {
        transport(ip.payload(), flow)?;
    }
    Ok(())
}

fn ipv6_flow(packet: &[u8], flow: &mut IpFlow) -> Result<(), DropReason> {
    let ip = Ipv6Packet::new_checked(packet).map_err(|_| DropReason::MalformedIp)?;
    let upper = ipv6::upper_layer(&ip).map_err(|_| DropReason::MalformedIp)?;
    *flow = IpFlow {
        src: IpAddr::V6(ip.src_addr()),
        dst: IpAddr::V6(ip.dst_addr()),
        protocol: upper.protocol,
        src_port: 0,
        dst_port: 0,
        is_fragment: upper.fragment.is_some(),
        tcp_flags: None,
        len: ipv6::HEADER_LEN + usize::from(ip.payload_len()),
        l4_offset: ipv6::HEADER_LEN + upper.offset,
        quoted: None,
    };
    if upper.has_header() {
        let l4 = ip.payload().get(upper.offset..).unwrap_or(&[]);
        transport(l4, flow)?;
    }
    Ok(())
}

/// Reads ports (and TCP flags) from the first bytes of a transport header. Only the first
/// eight bytes (ports) or the TCP fixed header are needed, so a first fragment works too.
///
/// TCP and UDP are the packet path's common case and stay inline; ICMP errors, which quote
/// another packet, are read out of line.
#[inline]
fn transport(l4: &[u8], flow: &mut IpFlow) -> Result<(), DropReason> {
    match flow.protocol {
        IpProtocol::Tcp => {
            let tcp = TcpPacket::new_checked(l4).map_err(|_| DropReason::MalformedTransport)?;
            flow.src_port = tcp.src_port();
            flow.dst_port = tcp.dst_port();
            flow.tcp_flags = Some(tcp.flags());
        }
        IpProtocol::Udp => {
            let ports = l4.get(..4).ok_or(DropReason::MalformedTransport)?;
            flow.src_port = u16::from_be_bytes([ports[0], ports[1]]);
            flow.dst_port = u16::from_be_bytes([ports[2], ports[3]]);
        }
        IpProtocol::Icmp | IpProtocol::Icmpv6 if !flow.is_fragment => icmp(l4, flow)?,
        _ => {}
    }
    Ok(())
}

/// The ICMP part of [`transport`]: an error message's quoted flow.
#[cold]
#[inline(never)]
fn icmp(l4: &[u8], flow: &mut IpFlow) -> Result<(), DropReason> {
    match flow.protocol {
        IpProtocol::Icmp => {
            let icmp = Icmpv4Packet::new_checked(l4).map_err(|_| DropReason::MalformedTransport)?;
            if let Ok(quoted) = icmp.quoted_ipv4() {
                let (src_port, dst_port) = icmp.quoted_ports().unwrap_or((0, 0));
                flow.quoted = Some(QuotedFlow {
                    src: IpAddr::V4(quoted.src_addr()),
                    dst: IpAddr::V4(quoted.dst_addr()),
                    protocol: quoted.protocol(),
                    src_port,
                    dst_port,
                    is_fragment: quoted.is_fragment(),
                });
            }
        }
        IpProtocol::Icmpv6 => {
            let icmp = Icmpv6Packet::new_checked(l4).map_err(|_| DropReason::MalformedTransport)?;
            if let Ok(quoted) = icmp.quoted_ipv6() {
                let upper = ipv6::upper_layer(&quoted).ok();
                let (src_port, dst_port) = icmp.quoted_ports().unwrap_or((0, 0));
                flow.quoted = Some(QuotedFlow {
                    src: IpAddr::V6(quoted.src_addr()),
                    dst: IpAddr::V6(quoted.dst_addr()),
                    protocol: upper.map_or(quoted.next_header(), |u| u.protocol),
                    src_port,
                    dst_port,
                    is_fragment: upper.is_some_and(|u| u.fragment.is_some()),
                });
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYN_V4: [u8; 40] = [
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 192, 168, 10, 20, 198, 51, 100, 7, // IPv4
        0xc7, 0x38, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0,
        0, // TCP
    ];

    #[test]
    fn reads_a_tcp_syn() {
        let flow = ip_flow(&SYN_V4).unwrap();
        assert_eq!(flow.src, "192.168.10.20".parse::<IpAddr>().unwrap());
        assert_eq!(flow.dst_port, 443);
        assert_eq!(flow.src_port, 51000);
        assert!(flow.is_tcp_syn());
        assert!(!flow.is_fragment);
        assert_eq!(flow.len, 40);
    }

    #[test]
    fn a_non_first_fragment_has_no_ports() {
        let mut p = SYN_V4;
        p[6] = 0x00;
        p[7] = 0x03; // offset 24 bytes
        let flow = ip_flow(&p).unwrap();
        assert!(flow.is_fragment);
        assert_eq!((flow.src_port, flow.dst_port, flow.tcp_flags), (0, 0, None));
    }

    #[test]
    fn hostile_bytes_are_drop_reasons() {
        assert_eq!(ip_flow(&[]), Err(DropReason::MalformedIp));
        assert_eq!(ip_flow(&SYN_V4[..10]), Err(DropReason::MalformedIp));
        assert_eq!(ip_flow(&SYN_V4[..30]), Err(DropReason::MalformedIp));
        let mut short = SYN_V4;
        short[3] = 28;
        assert_eq!(ip_flow(&short[..28]), Err(DropReason::MalformedTransport));
        assert_eq!(link_layer(&[0; 13]), Err(DropReason::MalformedEthernet));
    }

    #[test]
    fn reads_a_vlan_tag() {
        let mut frame = vec![0u8; 18];
        frame[12] = 0x81;
        frame[14] = 0x00;
        frame[15] = 100;
        frame[16] = 0x08;
        let link = link_layer(&frame).unwrap();
        assert_eq!(link.vlan, Some(100));
        assert_eq!(link.ethertype, EtherType::Ipv4);
        assert_eq!(link.payload_offset, 18);
        frame[16] = 0x81;
        assert_eq!(link_layer(&frame), Err(DropReason::MalformedEthernet));
    }
}
