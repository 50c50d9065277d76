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
    /// GENEVE addressed to the port's own address, from this outer source address.
    Geneve(Ipv4Addr),
    /// An IP packet addressed to someone else (transit for the gateway).
    Transit,
}

/// What every pipeline does first with a frame received on `port`: check it is addressed to
/// the port, answer ARP for its address, hand own-address traffic that is not GENEVE to the
/// kernel, and tell GENEVE to the port from transit traffic.
///
/// The frame's link layer goes to `link`, where the pipeline reads it next: returned inside
/// the result, it would be copied with wide loads of just-stored narrow fields, which stalls
/// (see [`parse::read_ip_flow`]).
#[inline]
pub(crate) fn intake<P: PacketBuf>(
    ports: &[PortInfo],
    port: u16,
    packet: &mut P,
    counters: &mut WorkerCounters,
    link: &mut LinkLayer,
) -> Result<Intake, DropReason> {
    let me = ports
        .get(usize::from(port))
        .ok_or(DropReason::UnknownAttachment)?;
    our_frame(me, packet.data(), link)?;
    match link.ethertype {
        EtherType::Arp => answer_arp(me, port, link, packet, counters).map(Intake::Done),
        EtherType::Ipv4 | EtherType::Ipv6 => Ok(
            match own_traffic(&packet.data()[link.payload_offset..], me.address)? {
                Some(OwnTraffic::Geneve(src)) => Intake::Geneve(src),
                Some(OwnTraffic::Other) => Intake::Done(Verdict::Exception { port }),
                None => Intake::Transit,
            },
        ),
        _ => Err(DropReason::UnsupportedEtherType),
    }
}

/// Reads a frame's link layer and checks it is addressed to the port (or broadcast).
#[inline]
fn our_frame(me: &PortInfo, frame: &[u8], link: &mut LinkLayer) -> Result<(), DropReason> {
    parse::read_link_layer(frame, link)?;
    if link.dst != me.mac && !link.dst.is_broadcast() {
        return Err(DropReason::NotOurMac);
    }
    Ok(())
}

/// Answers an ARP request for the port's address in place; other ARP about the address
/// (replies the control thread's resolver waits for) goes to the exception path.
#[cold]
#[inline(never)]
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
#[inline]
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

/// The headers of an incoming GWLB GENEVE packet, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GeneveIn {
    /// The GWLB options.
    pub options: GwlbOptions,
    /// Where the GENEVE header starts, from the start of the outer IP header.
    pub geneve_offset: usize,
    /// Where the inner packet starts, from the start of the outer IP header.
    pub inner_offset: usize,
}

impl GeneveIn {
    /// A placeholder for [`geneve_in`] to overwrite.
    pub(crate) const UNREAD: GeneveIn = GeneveIn {
        options: GwlbOptions {
            endpoint_id: 0,
            attachment_id: 0,
            flow_cookie: 0,
        },
        geneve_offset: 0,
        inner_offset: 0,
    };
}

/// Reads and checks the GENEVE packet in the outer IPv4 packet `l3`: UDP, GENEVE version 0,
/// protocol type IPv4 or IPv6 and matching the inner packet, the three GWLB options, an inner
/// packet that parses and is at most 8,500 bytes. The headers go to `geneve` and the inner
/// packet's flow to `flow`, where the caller reads them (see [`parse::read_ip_flow`] for why
/// they are not returned); on error both may hold partial facts.
#[inline]
pub(crate) fn geneve_in(
    l3: &[u8],
    geneve_in: &mut GeneveIn,
    flow: &mut IpFlow,
) -> Result<(), DropReason> {
    let ip = Ipv4Packet::new_checked(l3).map_err(|_| DropReason::MalformedIp)?;
    // The header checksum is what keeps a bit flip in GWLB's addresses from sending a reply
    // (or a decapsulated packet) somewhere else; 20 bytes, a few nanoseconds.
    if !ip.verify_checksum() {
        return Err(DropReason::MalformedIp);
    }
    let udp = UdpPacket::new_checked(ip.payload()).map_err(|_| DropReason::MalformedTransport)?;
    let geneve =
        GenevePacket::new_checked(udp.payload()).map_err(|_| DropReason::MalformedGeneve)?;
    if geneve.version() != 0 {
        return Err(DropReason::MalformedGeneve);
    }
    if !matches!(geneve.protocol_type(), EtherType::Ipv4 | EtherType::Ipv6) {
        return Err(DropReason::GeneveNotIp);
    }
    match canonical_options(geneve.options()) {
        Some(options) => geneve_in.options = options,
        None => geneve_in.options = gwlb_options(&geneve)?,
    }
    parse::read_ip_flow(geneve.payload(), flow)?;
    if (geneve.protocol_type() == EtherType::Ipv6) != flow.src.is_ipv6() {
        return Err(DropReason::GeneveNotIp);
    }
    if flow.len > gwlb::MAX_INNER_LEN {
        return Err(DropReason::InnerTooLarge);
    }
    geneve_in.geneve_offset = ip.header_len() + sluice_wire::udp::HEADER_LEN;
    geneve_in.inner_offset = geneve_in.geneve_offset + geneve.header_len();
    Ok(())
}

/// The GWLB options when they are in GWLB's canonical layout, which GWLB always sends
/// (`gwlb-spec.md` §1.2): exactly the three options, in order, reserved bits zero.
///
/// [`GwlbOptions::parse`] checks this layout first too, but it is out of reach of inlining
/// in another crate and returns its result through memory, which the caller then copies
/// with wide loads of narrow stores (a store-forwarding stall on every packet). This check
/// accepts nothing that `GwlbOptions::parse` rejects and reads the same values; anything
/// else goes to [`gwlb_options`].
#[inline]
fn canonical_options(options: &[u8]) -> Option<GwlbOptions> {
    /// The three option headers: class 0x0108, type 1, 2 or 3, length 2, 2 or 1 words.
    const HEADERS: [(usize, [u8; 4]); 3] = [
        (0, [0x01, 0x08, 0x01, 0x02]),
        (12, [0x01, 0x08, 0x02, 0x02]),
        (24, [0x01, 0x08, 0x03, 0x01]),
    ];
    let options: &[u8; gwlb::OPTIONS_LEN] = options.try_into().ok()?;
    // Constant offsets into a fixed-size array: no bounds checks survive.
    let bytes = |at: usize| -> [u8; 8] {
        let mut word = [0; 8];
        word.copy_from_slice(&options[at..at + 8]);
        word
    };
    if HEADERS
        .iter()
        .any(|(at, header)| options[*at..*at + 4] != header[..])
    {
        return None;
    }
    let cookie = bytes(24);
    Some(GwlbOptions {
        endpoint_id: u64::from_be_bytes(bytes(4)),
        attachment_id: u64::from_be_bytes(bytes(16)),
        flow_cookie: u32::from_be_bytes([cookie[4], cookie[5], cookie[6], cookie[7]]),
    })
}

/// The GWLB options of any GENEVE packet, by the generic walk.
#[cold]
#[inline(never)]
fn gwlb_options(geneve: &GenevePacket<&[u8]>) -> Result<GwlbOptions, DropReason> {
    GwlbOptions::parse(geneve.options_iter()).map_err(|_| {
        // Tell a broken option list (GENEVE's fault) from wrong GWLB options.
        if geneve.options_iter().any(|o| o.is_err()) {
            DropReason::MalformedGeneve
        } else {
            DropReason::GwlbOptionsInvalid
        }
    })
}

#[cfg(test)]
mod tests {
    use sluice_wire::geneve::GeneveOptions;

    use super::*;

    /// The fast path agrees with the wire crate's parser on GWLB's layout and leaves every
    /// other layout (a changed header byte, a missing or extra option) to it.
    #[test]
    fn canonical_options_agree_with_the_walk() {
        let options = GwlbOptions {
            endpoint_id: 0x0123_4567_89ab_cdef,
            attachment_id: 0xfedc_ba98_7654_3210,
            flow_cookie: 0xdead_beef,
        };
        let mut bytes = [0u8; gwlb::OPTIONS_LEN];
        options.emit(&mut bytes).unwrap();
        assert_eq!(canonical_options(&bytes), Some(options));
        assert_eq!(GwlbOptions::parse(GeneveOptions::new(&bytes)), Ok(options));
        for at in (0..4).chain(12..16).chain(24..28) {
            let mut changed = bytes;
            changed[at] ^= 0x10;
            assert_eq!(canonical_options(&changed), None, "header byte {at}");
        }
        assert_eq!(canonical_options(&bytes[..24]), None);
        let mut longer = [0u8; gwlb::OPTIONS_LEN + 4];
        longer[..gwlb::OPTIONS_LEN].copy_from_slice(&bytes);
        assert_eq!(canonical_options(&longer), None);
    }
}
