//! Property tests for sluice-wire: every repr survives `parse(emit(r)) == r`, incremental
//! checksum updates agree with full recomputation, and no parser panics on arbitrary bytes.

#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap is a failed property, and the message points at the line"
)]

use core::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::checksum;
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::geneve::{self, GeneveOptionRepr, GeneveOptions, GenevePacket, GeneveRepr};
use sluice_wire::gwlb::{self, EndpointId, GwlbOptions};
use sluice_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use sluice_wire::icmpv6::{Icmpv6Packet, Icmpv6Repr};
use sluice_wire::ip::{IpProtocol, IpVersion};
use sluice_wire::ipv4::{Ipv4Fragment, Ipv4Packet, Ipv4Repr};
use sluice_wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use sluice_wire::tcp::{TcpFlags, TcpOption, TcpOptions, TcpPacket, TcpRepr};
use sluice_wire::udp::{UdpPacket, UdpRepr};
use sluice_wire::vlan::{VlanHeader, VlanRepr};

fn mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ethertype() -> impl Strategy<Value = EtherType> {
    any::<u16>().prop_map(EtherType::from)
}

fn protocol() -> impl Strategy<Value = IpProtocol> {
    any::<u8>().prop_map(IpProtocol::from)
}

fn ipv4_fragment() -> impl Strategy<Value = Option<Ipv4Fragment>> {
    (0u16..8192, any::<bool>()).prop_map(|(units, more)| {
        (units != 0 || more).then_some(Ipv4Fragment {
            offset: units * 8,
            more,
        })
    })
}

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    (
        (ipv4(), ipv4(), protocol(), 0usize..1500),
        (any::<u8>(), 0u8..64, 0u8..4, any::<u16>(), any::<bool>()),
        ipv4_fragment(),
    )
        .prop_map(
            |(
                (src_addr, dst_addr, next_header, payload_len),
                (hop_limit, dscp, ecn, ident, dont_frag),
                frag,
            )| Ipv4Repr {
                src_addr,
                dst_addr,
                next_header,
                payload_len,
                hop_limit,
                dscp,
                ecn,
                ident,
                dont_frag,
                frag,
            },
        )
}

fn tcp_repr() -> impl Strategy<Value = (TcpRepr, Vec<u8>)> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>()),
        (
            proptest::option::of(any::<u32>()),
            any::<u16>(),
            any::<u16>(),
        ),
        proptest::option::of(any::<u16>()),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(
            |((src_port, dst_port, seq_number), (ack_number, raw_flags, window_len), mss, data)| {
                let mut flags = TcpFlags::from_bits_truncate(raw_flags);
                flags.set(TcpFlags::ACK, ack_number.is_some());
                let repr = TcpRepr {
                    src_port,
                    dst_port,
                    seq_number,
                    ack_number,
                    flags,
                    window_len,
                    mss,
                    payload_len: data.len(),
                };
                (repr, data)
            },
        )
}

fn icmpv4_repr() -> impl Strategy<Value = Icmpv4Repr> {
    let len = 0usize..128;
    prop_oneof![
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u8>(), any::<u16>(), len.clone()).prop_map(|(code, next_hop_mtu, quoted_len)| {
            Icmpv4Repr::DstUnreachable {
                code,
                next_hop_mtu,
                quoted_len,
            }
        }),
        (any::<u8>(), ipv4(), len.clone()).prop_map(|(code, gateway, quoted_len)| {
            Icmpv4Repr::Redirect {
                code,
                gateway,
                quoted_len,
            }
        }),
        (any::<u8>(), len.clone())
            .prop_map(|(code, quoted_len)| Icmpv4Repr::TimeExceeded { code, quoted_len }),
        (any::<u8>(), any::<u8>(), len).prop_map(|(code, pointer, quoted_len)| {
            Icmpv4Repr::ParamProblem {
                code,
                pointer,
                quoted_len,
            }
        }),
    ]
}

fn icmpv6_repr() -> impl Strategy<Value = Icmpv6Repr> {
    let len = 0usize..128;
    prop_oneof![
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u16>(), any::<u16>(), len.clone()).prop_map(|(ident, seq_no, data_len)| {
            Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data_len,
            }
        }),
        (any::<u8>(), len.clone())
            .prop_map(|(code, quoted_len)| Icmpv6Repr::DstUnreachable { code, quoted_len }),
        (any::<u32>(), len.clone())
            .prop_map(|(mtu, quoted_len)| Icmpv6Repr::PktTooBig { mtu, quoted_len }),
        (any::<u8>(), len.clone())
            .prop_map(|(code, quoted_len)| Icmpv6Repr::TimeExceeded { code, quoted_len }),
        (any::<u8>(), any::<u32>(), len).prop_map(|(code, pointer, quoted_len)| {
            Icmpv6Repr::ParamProblem {
                code,
                pointer,
                quoted_len,
            }
        }),
    ]
}

/// Recomputes a checksum field the slow way: sum everything with the field zeroed.
fn recompute(bytes: &[u8], field_at: usize) -> u16 {
    let mut copy = bytes.to_vec();
    copy[field_at..field_at + 2].fill(0);
    !checksum::data(&copy)
}

proptest! {
    #[test]
    fn ethernet_round_trip(src_addr in mac(), dst_addr in mac(), ethertype in ethertype()) {
        let repr = EthernetRepr { src_addr, dst_addr, ethertype };
        let mut bytes = vec![0; repr.buffer_len(0)];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut bytes[..]));
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
    }

    #[test]
    fn vlan_round_trip(pcp in 0u8..8, dei in any::<bool>(), vlan_id in 0u16..4096,
                       ethertype in ethertype()) {
        let repr = VlanRepr { pcp, dei, vlan_id, ethertype };
        let mut bytes = [0u8; 4];
        repr.emit(&mut VlanHeader::new_unchecked(&mut bytes[..]));
        let header = VlanHeader::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(VlanRepr::parse(&header), Ok(repr));
    }

    #[test]
    fn arp_round_trip(operation in any::<u16>().prop_map(ArpOperation::from),
                      sha in mac(), spa in ipv4(), tha in mac(), tpa in ipv4()) {
        let repr = ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        };
        let mut bytes = vec![0; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut bytes[..]));
        let packet = ArpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(ArpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn ipv4_round_trip(repr in ipv4_repr()) {
        let mut bytes = vec![0; repr.buffer_len()];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..]));
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn ipv6_round_trip(src_addr in ipv6(), dst_addr in ipv6(), next_header in protocol(),
                       payload_len in 0usize..1500, hop_limit in any::<u8>()) {
        let repr = Ipv6Repr { src_addr, dst_addr, next_header, payload_len, hop_limit };
        let mut bytes = vec![0; repr.buffer_len()];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut bytes[..]));
        let packet = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn udp_round_trip(src_port in any::<u16>(), dst_port in any::<u16>(),
                      data in proptest::collection::vec(any::<u8>(), 0..64),
                      src4 in ipv4(), dst4 in ipv4(), src6 in ipv6(), dst6 in ipv6()) {
        let repr = UdpRepr { src_port, dst_port };
        let mut bytes = vec![0; repr.buffer_len(data.len())];
        let mut packet = UdpPacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet, data.len());
        packet.payload_mut().copy_from_slice(&data);
        packet.fill_checksum_v4(&src4, &dst4);
        prop_assert_ne!(packet.checksum(), 0);
        prop_assert!(packet.verify_checksum_v4(&src4, &dst4));
        packet.fill_checksum_v6(&src6, &dst6);
        prop_assert!(packet.verify_checksum_v6(&src6, &dst6));
        let packet = UdpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(packet.payload(), &data[..]);
        prop_assert_eq!(UdpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn tcp_round_trip((repr, data) in tcp_repr(), src in ipv4(), dst in ipv4(),
                      src6 in ipv6(), dst6 in ipv6()) {
        let mut bytes = vec![0; repr.buffer_len()];
        let mut packet = TcpPacket::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(&data);
        packet.fill_checksum_v6(&src6, &dst6);
        prop_assert!(packet.verify_checksum_v6(&src6, &dst6));
        packet.fill_checksum_v4(&src, &dst);
        let packet = TcpPacket::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum_v4(&src, &dst));
        prop_assert_eq!(packet.mss(), repr.mss);
        prop_assert_eq!(TcpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn tcp_mss_clamp_equals_recompute(leading_nops in 0usize..4, old in any::<u16>(),
                                      new in any::<u16>(), src in ipv4(), dst in ipv4(),
                                      data in proptest::collection::vec(any::<u8>(), 0..32)) {
        // NOPs before the MSS option move it to every alignment; pad the rest with NOPs.
        let mut options = vec![1u8; leading_nops];
        options.extend([2, 4]);
        options.extend(old.to_be_bytes());
        while options.len() % 4 != 0 {
            options.push(1);
        }
        let header_len = 20 + options.len();
        let mut bytes = vec![0u8; header_len];
        bytes[12] = ((header_len / 4) as u8) << 4;
        bytes[13] = TcpFlags::SYN.bits() as u8;
        bytes[20..].copy_from_slice(&options);
        bytes.extend(&data);
        let mut packet = TcpPacket::new_checked(&mut bytes[..]).unwrap();
        packet.fill_checksum_v4(&src, &dst);
        prop_assert_eq!(packet.set_mss_in_place(new), Ok(Some(old)));
        prop_assert_eq!(packet.mss(), Some(new));
        let patched = packet.checksum();
        packet.fill_checksum_v4(&src, &dst);
        prop_assert_eq!(patched, packet.checksum());
    }

    #[test]
    fn icmpv4_round_trip(repr in icmpv4_repr(), fill in any::<u8>()) {
        let mut bytes = vec![fill; repr.buffer_len()];
        let mut packet = Icmpv4Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet.fill_checksum();
        let packet = Icmpv4Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn icmpv6_round_trip(repr in icmpv6_repr(), fill in any::<u8>(), src in ipv6(),
                         dst in ipv6()) {
        let mut bytes = vec![fill; repr.buffer_len()];
        let mut packet = Icmpv6Packet::new_unchecked(&mut bytes[..]);
        repr.emit(&mut packet);
        packet.fill_checksum(&src, &dst);
        let packet = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(packet.verify_checksum(&src, &dst));
        prop_assert_eq!(Icmpv6Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn geneve_round_trip(oam in any::<bool>(), critical in any::<bool>(),
                         protocol_type in ethertype(), vni in 0u32..1 << 24,
                         words in 0usize..64) {
        let repr = GeneveRepr { oam, critical, protocol_type, vni, options_len: words * 4 };
        let mut bytes = vec![0; repr.header_len()];
        repr.emit(&mut GenevePacket::new_unchecked(&mut bytes[..]));
        let packet = GenevePacket::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(GeneveRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn geneve_option_round_trip(class in any::<u16>(), option_type in any::<u8>(),
                                data in (0usize..32).prop_flat_map(|words| {
                                    proptest::collection::vec(any::<u8>(), words * 4)
                                })) {
        let repr = GeneveOptionRepr { class, option_type, data: &data };
        let mut bytes = vec![0; repr.buffer_len()];
        prop_assert_eq!(repr.emit(&mut bytes), Ok(bytes.len()));
        let mut options = GeneveOptions::new(&bytes);
        let option = options.next().unwrap().unwrap();
        prop_assert_eq!(GeneveOptionRepr::parse(&option), Ok(repr));
        prop_assert!(options.next().is_none());
    }

    #[test]
    fn gwlb_options_round_trip(endpoint_id in any::<u64>(), attachment_id in any::<u64>(),
                               flow_cookie in any::<u32>()) {
        let repr = GwlbOptions { endpoint_id, attachment_id, flow_cookie };
        let mut bytes = [0u8; gwlb::OPTIONS_LEN];
        repr.emit(&mut bytes).unwrap();
        prop_assert_eq!(GwlbOptions::parse(GeneveOptions::new(&bytes)), Ok(repr));
    }

    #[test]
    fn gwlb_options_in_any_order_among_others(
        endpoint_id in any::<u64>(), attachment_id in any::<u64>(), flow_cookie in any::<u32>(),
        foreign in proptest::collection::vec((0u16..0x0108, any::<u8>(), 0usize..4), 0..4),
        order in Just(vec![0usize, 1, 2, 3, 4, 5, 6]).prop_shuffle(),
    ) {
        let repr = GwlbOptions { endpoint_id, attachment_id, flow_cookie };
        let mut canonical = [0u8; gwlb::OPTIONS_LEN];
        repr.emit(&mut canonical).unwrap();
        // Pieces: the three GWLB options and up to four options of other classes.
        let mut pieces: Vec<Vec<u8>> = vec![
            canonical[..12].to_vec(),
            canonical[12..24].to_vec(),
            canonical[24..].to_vec(),
        ];
        for &(class, option_type, words) in &foreign {
            let data = vec![0xa5; words * 4];
            let mut bytes = vec![0; 4 + data.len()];
            GeneveOptionRepr { class, option_type, data: &data }.emit(&mut bytes).unwrap();
            pieces.push(bytes);
        }
        let area: Vec<u8> = order
            .iter()
            .filter_map(|&index| pieces.get(index))
            .flatten()
            .copied()
            .collect();
        prop_assert_eq!(GwlbOptions::parse(GeneveOptions::new(&area)), Ok(repr));
    }

    #[test]
    fn endpoint_id_text_round_trip(value in any::<u64>()) {
        let id = EndpointId(value);
        let text = id.to_string();
        prop_assert_eq!(text.len(), 22);
        prop_assert_eq!(text.parse::<EndpointId>(), Ok(id));
    }

    #[test]
    fn checksum_data_matches_word_by_word(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            let word = u16::from(pair[0]) << 8 | u16::from(pair.get(1).copied().unwrap_or(0));
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        prop_assert_eq!(checksum::data(&bytes), sum as u16);
    }

    #[test]
    fn checksum_update_equals_recompute(
        words in proptest::collection::vec(any::<u16>(), 2..40),
        index in any::<prop::sample::Index>(),
        new in any::<u16>(),
    ) {
        // Word 0 plays an IPv4 header's first word (never zero); word 1 is the checksum.
        let mut bytes: Vec<u8> =
            [0x4500u16, 0].iter().chain(&words).flat_map(|w| w.to_be_bytes()).collect();
        let field = 2;
        let old_checksum = recompute(&bytes, field);
        let at = 4 + 2 * index.index(words.len());
        let old = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        bytes[at..at + 2].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(checksum::update(old_checksum, old, new), recompute(&bytes, field));
    }

    #[test]
    fn checksum_update_u32_equals_recompute(
        words in proptest::collection::vec(any::<u32>(), 1..20),
        index in any::<prop::sample::Index>(),
        new in any::<u32>(),
    ) {
        // Word 0 holds an IPv4-like first half and the checksum field (bytes 2 and 3).
        let mut bytes: Vec<u8> =
            [0x4500_0000u32].iter().chain(&words).flat_map(|w| w.to_be_bytes()).collect();
        let field = 2;
        let old_checksum = recompute(&bytes, field);
        let at = 4 + 4 * index.index(words.len());
        let old = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        bytes[at..at + 4].copy_from_slice(&new.to_be_bytes());
        prop_assert_eq!(checksum::update_u32(old_checksum, old, new), recompute(&bytes, field));
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        exercise_everything(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_plausible_headers(
        first in prop::sample::select(vec![0x45u8, 0x46, 0x4f, 0x60, 0x08, 0x02, 0x50, 0xa0]),
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Random bytes rarely get past the first length check; a plausible first byte makes
        // the deeper paths (options, extension headers, quoted packets) run too.
        let mut bytes = vec![first];
        bytes.extend(rest);
        exercise_everything(&bytes);
        for icmp_type in [3u8, 11, 1, 2] {
            let mut icmp = vec![icmp_type, 0, 0, 0, 0, 0, 0, 0];
            icmp.extend(&bytes);
            exercise_everything(&icmp);
        }
    }
}

/// Runs every constructor, repr parser, accessor, walker and formatter over `bytes`.
fn exercise_everything(bytes: &[u8]) {
    let _ = IpVersion::of_packet(bytes);
    let mut sink = String::new();
    let mut show = |value: &dyn core::fmt::Display| {
        use core::fmt::Write;
        let _ = write!(sink, "{value}");
    };

    if let Ok(frame) = EthernetFrame::new_checked(bytes) {
        let _ = EthernetRepr::parse(&frame);
        let _ = (
            frame.src_addr(),
            frame.dst_addr(),
            frame.ethertype(),
            frame.payload(),
        );
        show(&frame);
        if let Ok(tag) = VlanHeader::new_checked(frame.payload()) {
            let _ = VlanRepr::parse(&tag);
            let _ = (
                tag.pcp(),
                tag.dei(),
                tag.vlan_id(),
                tag.ethertype(),
                tag.payload(),
            );
        }
    }
    if let Ok(packet) = ArpPacket::new_checked(bytes) {
        if let Ok(repr) = ArpRepr::parse(&packet) {
            show(&repr);
        }
        let _ = (
            packet.source_hardware_addr(),
            packet.source_protocol_addr(),
            packet.target_hardware_addr(),
            packet.target_protocol_addr(),
        );
    }
    for packet in [
        Ipv4Packet::new_checked(bytes),
        Ipv4Packet::new_truncated(bytes),
    ]
    .into_iter()
    .flatten()
    {
        let _ = Ipv4Repr::parse(&packet);
        let _ = (packet.options(), packet.payload(), packet.verify_checksum());
        let _ = (
            packet.is_fragment(),
            packet.is_first_fragment(),
            packet.frag_offset(),
        );
        show(&packet);
    }
    for packet in [
        Ipv6Packet::new_checked(bytes),
        Ipv6Packet::new_truncated(bytes),
    ]
    .into_iter()
    .flatten()
    {
        let _ = Ipv6Repr::parse(&packet);
        let _ = (
            packet.payload(),
            packet.flow_label(),
            packet.traffic_class(),
        );
        let _ = ipv6::upper_layer(&packet);
        let _ = packet.ext_headers().count();
        show(&packet);
    }
    if let Ok(packet) = UdpPacket::new_checked(bytes) {
        let _ = UdpRepr::parse(&packet);
        let _ = packet.payload();
        let _ = packet.verify_checksum_v4(&Ipv4Addr::LOCALHOST, &Ipv4Addr::LOCALHOST);
        let _ = packet.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
        show(&packet);
    }
    if let Ok(packet) = TcpPacket::new_checked(bytes) {
        let _ = TcpRepr::parse(&packet);
        let _ = (packet.options(), packet.payload(), packet.mss());
        let _ = packet.options_iter().count();
        show(&packet);
        let mut copy = bytes.to_vec();
        let mut writable = TcpPacket::new_checked(&mut copy[..]).unwrap();
        let _ = writable.set_mss_in_place(1200);
    }
    for at in 0..bytes.len().min(64) {
        let _ = TcpOption::parse(&bytes[at..]);
    }
    let _ = TcpOptions::new(bytes).count();
    if let Ok(packet) = Icmpv4Packet::new_checked(bytes) {
        let _ = Icmpv4Repr::parse(&packet);
        let _ = (packet.quoted(), packet.quoted_ports(), packet.payload());
        if let Ok(quoted) = packet.quoted_ipv4() {
            let _ = (quoted.payload(), quoted.options(), quoted.protocol());
        }
        show(&packet);
    }
    if let Ok(packet) = Icmpv6Packet::new_checked(bytes) {
        let _ = Icmpv6Repr::parse(&packet);
        let _ = (packet.quoted(), packet.quoted_ports(), packet.payload());
        if let Ok(quoted) = packet.quoted_ipv6() {
            let _ = (quoted.payload(), ipv6::upper_layer(&quoted));
        }
        show(&packet);
    }
    if let Ok(packet) = GenevePacket::new_checked(bytes) {
        let _ = GeneveRepr::parse(&packet);
        let _ = (packet.options(), packet.payload(), packet.vni());
        for option in packet.options_iter().flatten() {
            let _ = GeneveOptionRepr::parse(&option);
            let _ = (option.class(), option.option_type(), option.data());
        }
        let _ = GwlbOptions::parse(packet.options_iter());
        show(&packet);
    }
    let _ = GeneveOptions::new(bytes).count();
    let _ = GwlbOptions::parse(GeneveOptions::new(bytes));
    let _ = core::str::from_utf8(bytes).map(str::parse::<EndpointId>);
    let _ = geneve::UDP_PORT;
}
