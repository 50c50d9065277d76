//! What both roles do alike: the verdict type, counting, answering ARP for own addresses,
//! telling own-address traffic from transit traffic, and reading an incoming GWLB GENEVE
//! packet with every check GWLB's format calls for.

use core::net::Ipv4Addr;

use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetFrame};
use sluice_wire::geneve::{self, GenevePacket};
use sluice_wire::gwlb::{self, GwlbOptions};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::udp::UdpPacket;

use crate::counters::{DropReason, WorkerCounters};
use crate::packet::PacketBuf;
use crate::parse::{self, IpFlow, LinkLayer};
use crate::snapshot::PortInfo;

/// What to do with a packet after a pipeline processed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of this port.
    Transmit {
        /// The port id.
        port: u16,
    },
    /// Hand the frame, unchanged, to the kernel through this port's exception path.
    Exception {
        /// The port id.
        port: u16,
    },
    /// Drop the frame; counted under the reason.
    Drop(DropReason),
}

impl Verdict {
    /// Turns a pipeline's result into a verdict and counts it; `rx_len` is the received
    /// frame's length, `tx_len` the frame's length after processing.
    pub(crate) fn counted(
        result: Result<Verdict, DropReason>,
        counters: &mut WorkerCounters,
        rx_len: usize,
        tx_len: usize,
    ) -> Verdict {
        counters.rx_packets += 1;
        counters.rx_bytes += rx_len as u64;
        let verdict = result.unwrap_or_else(Verdict::Drop);
        match verdict {
            Verdict::Transmit { .. } => {
                counters.tx_packets += 1;
                counters.tx_bytes += tx_len as u64;
            }
            Verdict::Exception { .. } => counters.exception_packets += 1,
            Verdict::Drop(reason) => counters.drop(reason),
        }
        verdict
    }
}

/// Where a frame goes once the part both roles share has looked at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intake {
    /// Settled here: an ARP request answered, or own-address traffic for the kernel.
    Done(Verdict),
    /// GENEVE addressed to the port's own address, from `src`.
    Geneve {
        /// The frame's link layer.
        link: LinkLayer,
        /// The outer source address.
        src: Ipv4Addr,
    },
    /// An IP packet addressed to someone else (transit for the gateway).
    Transit(LinkLayer),
}

/// What every pipeline does first with a frame received on `port`: check it is addressed to
/// the port, answer ARP for its address, hand own-address traffic that is not GENEVE to the
/// kernel, and tell GENEVE to the port from transit traffic.
pub(crate) fn intake<P: PacketBuf>(
    ports: &[PortInfo],
    port: u16,
    packet: &mut P,
    counters: &mut WorkerCounters,
) -> Result<Intake, DropReason> {
    let me = ports
        .get(usize::from(port))
        .ok_or(DropReason::UnknownAttachment)?;
    let link = our_frame(me, packet.data())?;
    match link.ethertype {
        EtherType::Arp => answer_arp(me, port, &link, packet, counters).map(Intake::Done),
        EtherType::Ipv4 | EtherType::Ipv6 => Ok(
            match own_traffic(&packet.data()[link.payload_offset..], me.address)? {
                Some(OwnTraffic::Geneve(src)) => Intake::Geneve { link, src },
                Some(OwnTraffic::Other) => Intake::Done(Verdict::Exception { port }),
                None => Intake::Transit(link),
            },
        ),
        _ => Err(DropReason::UnsupportedEtherType),
    }
}

/// Reads a frame's link layer and checks it is addressed to the port (or broadcast).
fn our_frame(me: &PortInfo, frame: &[u8]) -> Result<LinkLayer, DropReason> {
    let link = parse::link_layer(frame)?;
    if link.dst != me.mac && !link.dst.is_broadcast() {
        return Err(DropReason::NotOurMac);
    }
    Ok(link)
}

/// Answers an ARP request for the port's address in place; other ARP about the address
/// (replies the control thread's resolver waits for) goes to the exception path.
fn answer_arp<P: PacketBuf>(
    me: &PortInfo,
    port: u16,
    link: &LinkLayer,
    packet: &mut P,
    counters: &mut WorkerCounters,
) -> Result<Verdict, DropReason> {
    let off = link.payload_offset;
    let repr = ArpPacket::new_checked(&packet.data()[off..])
        .and_then(|p| ArpRepr::parse(&p))
        .map_err(|_| DropReason::ArpIgnored)?;
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = repr
    else {
        return Err(DropReason::ArpIgnored);
    };
    if target_protocol_addr != me.address {
        return Err(DropReason::ArpIgnored);
    }
    if operation != ArpOperation::Request {
        return Ok(Verdict::Exception { port });
    }
    let reply = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: me.mac,
        source_protocol_addr: me.address,
        target_hardware_addr: source_hardware_addr,
        target_protocol_addr: source_protocol_addr,
    };
    let data = packet.data_mut();
    let mut eth = EthernetFrame::new_unchecked(&mut *data);
    eth.set_dst_addr(source_hardware_addr);
    eth.set_src_addr(me.mac);
    reply.emit(&mut ArpPacket::new_unchecked(&mut data[off..]));
    counters.arp_replies += 1;
    Ok(Verdict::Transmit { port })
}

/// What a packet addressed to an own IPv4 address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnTraffic {
    /// UDP to the GENEVE port, from this source.
    Geneve(Ipv4Addr),
    /// Anything else: the kernel's business.
    Other,
}

/// Classifies an IP packet (`l3`) addressed to `own`; `None` if it is not addressed to it
/// (IPv6 never is: own addresses are IPv4).
fn own_traffic(l3: &[u8], own: Ipv4Addr) -> Result<Option<OwnTraffic>, DropReason> {
    if l3.first().map(|b| b >> 4) != Some(4) {
        return Ok(None);
    }
    let ip = Ipv4Packet::new_checked(l3).map_err(|_| DropReason::MalformedIp)?;
    if ip.dst_addr() != own {
        return Ok(None);
    }
    let geneve = ip.protocol() == IpProtocol::Udp
        && !ip.is_fragment()
        && ip.payload().get(2..4) == Some(&geneve::UDP_PORT.to_be_bytes()[..]);
    Ok(Some(if geneve {
        OwnTraffic::Geneve(ip.src_addr())
    } else {
        OwnTraffic::Other
    }))
}

/// An incoming GWLB GENEVE packet, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GeneveIn {
    /// The GWLB options.
    pub options: GwlbOptions,
    /// Where the GENEVE header starts, from the start of the outer IP header.
    pub geneve_offset: usize,
    /// Where the inner packet starts, from the start of the outer IP header.
    pub inner_offset: usize,
    /// The inner packet's flow.
    pub flow: IpFlow,
}

/// Reads and checks the GENEVE packet in the outer IPv4 packet `l3`: UDP, GENEVE version 0,
/// protocol type IPv4 or IPv6 and matching the inner packet, the three GWLB options, an inner
/// packet that parses and is at most 8,500 bytes.
pub(crate) fn geneve_in(l3: &[u8]) -> Result<GeneveIn, DropReason> {
    let ip = Ipv4Packet::new_checked(l3).map_err(|_| DropReason::MalformedIp)?;
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::MalformedTransport)?;
    let geneve =
        GenevePacket::new_checked(udp.payload()).map_err(|_| DropReason::MalformedGeneve)?;
    if geneve.version() != 0 {
        return Err(DropReason::MalformedGeneve);
    }
    if !matches!(geneve.protocol_type(), EtherType::Ipv4 | EtherType::Ipv6) {
        return Err(DropReason::GeneveNotIp);
    }
    let options = GwlbOptions::parse(geneve.options_iter()).map_err(|_| {
        // Tell a broken option list (GENEVE's fault) from wrong GWLB options.
        if geneve.options_iter().any(|o| o.is_err()) {
            DropReason::MalformedGeneve
        } else {
            DropReason::GwlbOptionsInvalid
        }
    })?;
    let flow = parse::ip_flow(geneve.payload())?;
    if (geneve.protocol_type() == EtherType::Ipv6) != flow.src.is_ipv6() {
        return Err(DropReason::GeneveNotIp);
    }
    if flow.len > gwlb::MAX_INNER_LEN {
        return Err(DropReason::InnerTooLarge);
    }
    let geneve_offset = ip.header_len() + sluice_wire::udp::HEADER_LEN;
    Ok(GeneveIn {
        options,
        geneve_offset,
        inner_offset: geneve_offset + geneve.header_len(),
        flow,
    })
}
