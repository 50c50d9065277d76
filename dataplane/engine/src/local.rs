//! What both roles do alike: the verdict type, counting, answering ARP for own addresses,
//! telling own-address traffic from transit traffic, and reading an incoming GWLB GENEVE
//! packet with every check GWLB's format calls for.

use core::net::{IpAddr, Ipv4Addr};

use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame};
use sluice_wire::geneve::{self, GenevePacket};
use sluice_wire::gwlb::{self, GwlbOptions};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::tcp::TcpPacket;
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

/// Where GWLB's own frame layout puts things, from the start of the frame: Ethernet without a
/// VLAN tag, outer IPv4 without options, UDP, GWLB's 40-byte GENEVE header, inner IPv4
/// without options, then the inner TCP or UDP header.
mod canonical {
    use sluice_wire::{ethernet, gwlb, ipv4, tcp, udp};

    /// The outer IPv4 header.
    pub(super) const OUTER: usize = ethernet::HEADER_LEN;
    /// The outer UDP header.
    pub(super) const UDP: usize = OUTER + ipv4::HEADER_LEN;
    /// The GENEVE header.
    pub(super) const GENEVE: usize = UDP + udp::HEADER_LEN;
    /// The GWLB options.
    pub(super) const OPTIONS: usize = GENEVE + sluice_wire::geneve::HEADER_LEN;
    /// The inner IPv4 header.
    pub(super) const INNER: usize = GENEVE + gwlb::GENEVE_HEADER_LEN;
    /// The inner transport header.
    pub(super) const L4: usize = INNER + ipv4::HEADER_LEN;
    /// The bytes the layout is read from: up to the end of a TCP header without options.
    pub(super) const WINDOW: usize = L4 + tcp::HEADER_LEN;
}

/// [`intake`] and [`geneve_in`] at once, for a frame in GWLB's own layout (module
/// [`canonical`]) carrying an unfragmented inner IPv4 TCP or UDP packet: what GWLB sends for
/// nearly every packet. Returns the outer source address when the frame is that, addressed to
/// the port `me`, and both [`intake`] and [`geneve_in`] would accept it (`Intake::Geneve`,
/// then `Ok`), with the same facts in `link`, `geneve` and `flow` as theirs. `None` for any
/// other frame, which the caller then reads with them (and `link`, `geneve` and `flow` may
/// hold partial facts).
///
/// Every field sits at a fixed offset of one fixed-size window, so one bounds check covers
/// them all; the general path re-reads the outer header and checks each layer's length on
/// its own. The window reaches past the end of the shortest UDP packets, which take the
/// general path. `tests::the_canonical_path_agrees_with_the_general_one` holds the two alike.
///
/// Always inlined, so that what it reads stays in registers for the caller; a caller on
/// whose path GENEVE is rare keeps it in an out-of-line function of its own.
#[inline(always)]
pub(crate) fn canonical_geneve(
    frame: &[u8],
    me: &PortInfo,
    link: &mut LinkLayer,
    geneve_in: &mut GeneveIn,
    flow: &mut IpFlow,
) -> Option<Ipv4Addr> {
    use canonical::{GENEVE, INNER, L4, OPTIONS, OUTER, UDP, WINDOW};
    let f: &[u8; WINDOW] = frame.get(..WINDOW)?.try_into().ok()?;
    let u16_at = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
    let u32_at = |at: usize| u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]]);
    let dst_mac = EthernetAddress([f[0], f[1], f[2], f[3], f[4], f[5]]);
    if (dst_mac != me.mac && !dst_mac.is_broadcast()) || u16_at(12) != 0x0800 {
        return None;
    }
    // Outer IPv4: version 4 without options, not a fragment, UDP to the port's address and
    // GENEVE's port, with the whole packet in the frame.
    let outer_len = usize::from(u16_at(OUTER + 2));
    if f[OUTER] != 0x45
        || outer_len < INNER - OUTER
        || outer_len > frame.len() - OUTER
        || u16_at(OUTER + 6) & 0x3fff != 0
        || f[OUTER + 9] != 17
        || Ipv4Addr::from_bits(u32_at(OUTER + 16)) != me.address
        || u16_at(UDP + 2) != geneve::UDP_PORT
    {
        return None;
    }
    // The header checksum, as `Ipv4Packet::verify_checksum` checks it; the sum written out,
    // because through an array or an iterator its words went through the stack.
    let word = |at: usize| u64::from(u32_at(OUTER + at));
    let sum = word(0) + word(4) + word(8) + word(12) + word(16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    if (sum & 0xffff) + (sum >> 16) != 0xffff {
        return None;
    }
    // UDP inside the outer packet, holding GENEVE version 0 with GWLB's 32 bytes of options
    // and an IPv4 payload.
    let udp_len = usize::from(u16_at(UDP + 4));
    if udp_len > outer_len - (UDP - OUTER)
        || udp_len < INNER - UDP
        || f[GENEVE] != (gwlb::OPTIONS_LEN / 4) as u8
        || u16_at(GENEVE + 2) != 0x0800
    {
        return None;
    }
    let options = canonical_options(&f[OPTIONS..INNER])?;
    // Inner IPv4 without options, not a fragment, inside the UDP payload, and TCP with a
    // whole header or UDP with its ports.
    let inner_len = usize::from(u16_at(INNER + 2));
    let protocol = f[INNER + 9];
    if f[INNER] != 0x45
        || inner_len < L4 - INNER
        || inner_len > udp_len - (INNER - UDP)
        || inner_len > gwlb::MAX_INNER_LEN
        || u16_at(INNER + 6) & 0x3fff != 0
    {
        return None;
    }
    let l4_len = inner_len - (L4 - INNER);
    let tcp_flags = match protocol {
        6 => {
            let tcp = TcpPacket::new_unchecked(&f[L4..]);
            let header_len = tcp.header_len();
            if l4_len < sluice_wire::tcp::HEADER_LEN
                || header_len < sluice_wire::tcp::HEADER_LEN
                || header_len > l4_len
            {
                return None;
            }
            Some(tcp.flags())
        }
        17 if l4_len >= 4 => None,
        _ => return None,
    };
    *link = LinkLayer {
        dst: dst_mac,
        src: EthernetAddress([f[6], f[7], f[8], f[9], f[10], f[11]]),
        vlan: None,
        ethertype: EtherType::Ipv4,
        payload_offset: OUTER,
    };
    *geneve_in = GeneveIn {
        options,
        geneve_offset: GENEVE - OUTER,
        inner_offset: INNER - OUTER,
    };
    *flow = IpFlow {
        src: IpAddr::V4(Ipv4Addr::from_bits(u32_at(INNER + 12))),
        dst: IpAddr::V4(Ipv4Addr::from_bits(u32_at(INNER + 16))),
        protocol: IpProtocol::from(protocol),
        src_port: u16_at(L4),
        dst_port: u16_at(L4 + 2),
        is_fragment: false,
        tcp_flags,
        len: inner_len,
        l4_offset: L4 - INNER,
        quoted: None,
    };
    Some(Ipv4Addr::from_bits(u32_at(OUTER + 12)))
}

/// The GWLB options when they are in GWLB's canonical layout, which GWLB always sends
/// (`gwlb-spec.md` §1.2): exactly the three options, in order, reserved bits zero.
///
/// [`GwlbOptions::parse`] checks this layout first too, but it is out of reach of inlining
/// in another crate and returns its result through memory, which the caller then copies
/// with wide loads of narrow stores (a store-forwarding stall on every packet). This check
/// accepts nothing that `GwlbOptions::parse` rejects and reads the same values; anything
/// else goes to [`gwlb_options`]. Always inlined for the same reason: its result must stay
/// in registers.
#[inline(always)]
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
    use crate::packet::HeapPacket;

    /// The port the frames below are sent to.
    fn port() -> PortInfo {
        PortInfo {
            name: "gwlb".into(),
            mac: EthernetAddress([2, 0, 0, 0, 0, 1]),
            address: Ipv4Addr::new(10, 0, 1, 2),
            prefix_len: 24,
            neighbors: vec![],
            gateway: None,
        }
    }

    /// An IPv4 header of `total_len` bytes (checksum filled) from `src` to `dst`.
    fn ipv4_header(src: [u8; 4], dst: [u8; 4], protocol: u8, total_len: usize) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 0, 0, 7, 0, 0, 64, protocol, 0, 0];
        ip[2..4].copy_from_slice(&(total_len as u16).to_be_bytes());
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        ip
    }

    /// A frame as GWLB sends it to `me`: GWLB's GENEVE header (with `protocol_type`) around
    /// `inner`.
    fn gwlb_frame(me: &PortInfo, protocol_type: u16, inner: &[u8]) -> Vec<u8> {
        let mut geneve = vec![0u8; gwlb::GENEVE_HEADER_LEN];
        geneve[0] = (gwlb::OPTIONS_LEN / 4) as u8;
        geneve[2..4].copy_from_slice(&protocol_type.to_be_bytes());
        GwlbOptions {
            endpoint_id: 0x0123_4567_89ab_cdef,
            attachment_id: 0x0fed_cba9_8765_4321,
            flow_cookie: 0x1234_5678,
        }
        .emit(&mut geneve[8..])
        .unwrap();
        geneve.extend_from_slice(inner);
        let udp_len = 8 + geneve.len();
        let mut frame = me.mac.0.to_vec();
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 9, 0x08, 0x00]);
        frame.extend(ipv4_header(
            [10, 0, 1, 9],
            me.address.octets(),
            17,
            20 + udp_len,
        ));
        frame.extend_from_slice(&[0xc3, 0x50, 0x17, 0xc1]);
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend(geneve);
        frame
    }

    /// Inner packets: TCP with options, TCP with data, UDP with and without data, ICMP, a
    /// fragment, and IPv6.
    fn inner_packets() -> Vec<Vec<u8>> {
        let (a, b) = ([192, 168, 10, 20], [198, 51, 100, 7]);
        let mut syn = ipv4_header(a, b, 6, 44);
        syn.extend_from_slice(&[0xc7, 0x38, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02]);
        syn.extend_from_slice(&[0x20, 0, 0, 0, 0, 0, 2, 4, 5, 0xb4]);
        let mut ack = ipv4_header(b, a, 6, 42);
        ack.extend_from_slice(&[0x01, 0xbb, 0xc7, 0x38, 0, 0, 0, 9, 0, 0, 0, 2, 0x50, 0x10]);
        ack.extend_from_slice(&[0x20, 0, 0, 0, 0, 0, b'h', b'i']);
        let mut udp = ipv4_header(a, b, 17, 46);
        udp.extend_from_slice(&[0xc7, 0x38, 0, 53, 0, 26, 0, 0]);
        udp.extend_from_slice(&[7; 18]);
        let mut empty_udp = ipv4_header(a, b, 17, 28);
        empty_udp.extend_from_slice(&[0xc7, 0x38, 0, 53, 0, 8, 0, 0]);
        let mut icmp = ipv4_header(a, b, 1, 48);
        icmp.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
        icmp.extend_from_slice(&[0; 20]);
        let mut fragment = udp.clone();
        fragment[6] = 0x20;
        Ipv4Packet::new_unchecked(&mut fragment[..]).fill_checksum();
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 17, 64];
        v6.extend_from_slice(&[0x20; 32]);
        v6.extend_from_slice(&[0xc7, 0x38, 0, 53, 0, 8, 0, 0]);
        v6.extend_from_slice(&[0; 20]);
        vec![syn, ack, udp, empty_udp, icmp, fragment, v6]
    }

    /// What the general path reads of a frame: [`intake`]'s outer source and link layer, then
    /// [`geneve_in`]'s headers and flow.
    fn general(me: &PortInfo, frame: &[u8]) -> Option<(Ipv4Addr, LinkLayer, GeneveIn, IpFlow)> {
        let mut packet = HeapPacket::new(frame);
        let mut link = LinkLayer::UNREAD;
        let ports = [me.clone()];
        let mut counters = WorkerCounters::new();
        let Ok(Intake::Geneve(src)) = intake(&ports, 0, &mut packet, &mut counters, &mut link)
        else {
            return None;
        };
        let (mut geneve, mut flow) = (GeneveIn::UNREAD, IpFlow::UNREAD);
        geneve_in(&frame[link.payload_offset..], &mut geneve, &mut flow).ok()?;
        Some((src, link, geneve, flow))
    }

    /// What the canonical path reads of a frame.
    fn canonical(me: &PortInfo, frame: &[u8]) -> Option<(Ipv4Addr, LinkLayer, GeneveIn, IpFlow)> {
        let (mut link, mut geneve, mut flow) =
            (LinkLayer::UNREAD, GeneveIn::UNREAD, IpFlow::UNREAD);
        let src = canonical_geneve(frame, me, &mut link, &mut geneve, &mut flow)?;
        Some((src, link, geneve, flow))
    }

    /// The canonical path reads GWLB's TCP and UDP frames, leaves everything else to the
    /// general path, and never accepts a frame the general path refuses or reads it
    /// differently: checked on the frames above and on 200,000 mutations of them (bytes of
    /// every header changed, lengths moved, frames cut or padded), with the outer checksum
    /// refilled half the time so that the checks behind it are reached.
    #[test]
    fn the_canonical_path_agrees_with_the_general_one() {
        let me = port();
        let frames: Vec<Vec<u8>> = inner_packets()
            .iter()
            .map(|inner| {
                let protocol_type = if inner[0] >> 4 == 6 { 0x86dd } else { 0x0800 };
                gwlb_frame(&me, protocol_type, inner)
            })
            .collect();
        for (i, frame) in frames.iter().enumerate() {
            let general = general(&me, frame);
            assert!(general.is_some(), "frame {i} is valid");
            // TCP, TCP, UDP with data: canonical; the rest is the general path's.
            assert_eq!(canonical(&me, frame).is_some(), i < 3, "frame {i}");
            if i < 3 {
                assert_eq!(canonical(&me, frame), general, "frame {i}");
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |below: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % below as u64) as usize
        };
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..200_000 {
            let mut frame = frames[next(frames.len())].clone();
            for _ in 0..1 + next(3) {
                match next(4) {
                    // A byte of the headers (Ethernet to the inner transport).
                    0 | 1 => {
                        let at = next(canonical::WINDOW.min(frame.len()));
                        frame[at] = if next(2) == 0 {
                            next(256) as u8
                        } else {
                            frame[at] ^ 1
                        };
                    }
                    // A length field, moved by a little.
                    2 => {
                        let at = [16, 38, 84][next(3)];
                        let value = u16::from_be_bytes([frame[at], frame[at + 1]]);
                        let moved = value.wrapping_add(next(9) as u16).wrapping_sub(4);
                        frame[at..at + 2].copy_from_slice(&moved.to_be_bytes());
                    }
                    // Cut or padded.
                    _ => frame.resize(frame.len() + next(9) - 4 - 8 * next(2), 0),
                }
            }
            if next(2) == 0 && frame.len() >= canonical::UDP {
                let mut ip = Ipv4Packet::new_unchecked(&mut frame[canonical::OUTER..]);
                if ip.header_len() == 20 {
                    ip.fill_checksum();
                }
            }
            let general = general(&me, &frame);
            match canonical(&me, &frame) {
                Some(read) => {
                    assert_eq!(Some(read), general, "{frame:02x?}");
                    accepted += 1;
                }
                None => refused += usize::from(general.is_none()),
            }
        }
        // Both outcomes were reached often: the mutations test the checks, not just one side.
        assert!(
            accepted > 10_000 && refused > 10_000,
            "{accepted} {refused}"
        );
    }

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
