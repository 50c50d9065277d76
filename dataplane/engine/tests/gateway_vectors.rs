//! Packet vectors for the gateway pipeline: a frame in, at a time, on a port; the verdict and
//! the exact frame out. Each test names the GWLB behaviour (gwlb-spec §10, [LB]) it holds.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on fixtures that must be valid"
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use sluice_engine::counters::DropReason;
use sluice_engine::flow::Stickiness;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{ENCAP_LEN, Gateway, Verdict};
use sluice_engine::maglev::{self, TargetInfo, TargetState};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{
    APPLIANCES, GW_APPLIANCES, GW_UPLINK, ROUTER, ROUTER_MAC, SEC, UPLINK, endpoint, frame,
    gateway_snapshot, ipv4, lab_ports, mac, swap_outer, tcp4, udp4, udp6,
};
use sluice_wire::arp::{ArpOperation, ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::geneve::GenevePacket;
use sluice_wire::gwlb::{EndpointId, GwlbOptions};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::tcp::{TcpFlags, TcpPacket};
use sluice_wire::udp::UdpPacket;
use sluice_wire::vlan::VlanHeader;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 20);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const TARGETS: [(Ipv4Addr, &str); 3] = [
    (Ipv4Addr::new(10, 0, 1, 10), "az1"),
    (Ipv4Addr::new(10, 0, 1, 11), "az1"),
    (Ipv4Addr::new(10, 0, 1, 20), "az2"),
];
const VPCE_A: u64 = 0x0a1b_2c3d_4e5f_6071;
const VPCE_B: u64 = 0x0f1e_2d3c_4b5a_6978;
const VPCE_PENDING: u64 = 3;

fn ports() -> Vec<PortInfo> {
    lab_ports(&TARGETS.map(|(ip, _)| ip))
}

fn snapshot(states: [TargetState; 3], stickiness: Stickiness) -> GatewaySnapshot {
    let infos: Vec<TargetInfo> = TARGETS
        .iter()
        .zip(states)
        .map(|((ip, zone), state)| TargetInfo {
            ip: *ip,
            zone: (*zone).into(),
            state,
        })
        .collect();
    let endpoints = vec![
        endpoint(VPCE_A, None, true),
        endpoint(VPCE_B, Some(100), true),
        endpoint(VPCE_PENDING, Some(200), false),
    ];
    gateway_snapshot(&infos, false, stickiness, endpoints)
}

fn healthy() -> GatewaySnapshot {
    snapshot([TargetState::Healthy; 3], Stickiness::FiveTuple)
}

// ---- frame builders (independent of the pipeline: wire's Reprs, checksums filled) ----------

/// A frame from the consumer-side router to the gateway's uplink.
fn from_router(vlan: Option<u16>, l3: &[u8]) -> HeapPacket {
    HeapPacket::new(&frame(mac(1), mac(ROUTER_MAC), vlan, l3))
}

// ---- the harness -------------------------------------------------------------------------

struct Lab {
    table: FlowTable,
    ports: Vec<PortInfo>,
}

impl Lab {
    fn new() -> Self {
        Lab {
            table: FlowTable::new(1024).unwrap(),
            ports: ports(),
        }
    }
}

/// What an encapsulated frame says, read back with wire's views.
#[derive(Debug)]
struct Encapsulated {
    dst_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    src_port: u16,
    options: GwlbOptions,
    inner: Vec<u8>,
}

fn read_encap(frame: &[u8]) -> Encapsulated {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.ethertype(), EtherType::Ipv4, "outer is always IPv4");
    assert_eq!(eth.src_addr(), mac(2));
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert!(ip.dont_frag(), "outer packets are never fragmented");
    assert_eq!(ip.protocol(), IpProtocol::Udp);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(udp.dst_port(), 6081);
    assert!((49152..=65535).contains(&udp.src_port()));
    assert_eq!(usize::from(udp.len()), ip.payload().len());
    let geneve = GenevePacket::new_checked(udp.payload()).unwrap();
    assert_eq!(geneve.version(), 0);
    assert_eq!(geneve.vni(), 0);
    assert!(!geneve.oam() && !geneve.critical());
    assert_eq!(geneve.opt_len(), 8, "exactly the three GWLB options");
    let inner = geneve.payload();
    let want = if inner[0] >> 4 == 6 {
        EtherType::Ipv6
    } else {
        EtherType::Ipv4
    };
    assert_eq!(geneve.protocol_type(), want);
    // The canonical layout, byte for byte: type 1, 2, 3 in order.
    let o = geneve.options();
    assert_eq!(&o[0..4], &[0x01, 0x08, 0x01, 0x02]);
    assert_eq!(&o[12..16], &[0x01, 0x08, 0x02, 0x02]);
    assert_eq!(&o[24..28], &[0x01, 0x08, 0x03, 0x01]);
    Encapsulated {
        dst_mac: eth.dst_addr(),
        src_ip: ip.src_addr(),
        dst_ip: ip.dst_addr(),
        src_port: udp.src_port(),
        options: GwlbOptions::parse(geneve.options_iter()).unwrap(),
        inner: inner.to_vec(),
    }
}

/// The appliance's side: outer MACs and IPs swapped, UDP ports and GENEVE kept.
fn appliance_return(encapsulated: &[u8]) -> HeapPacket {
    HeapPacket::new(&swap_outer(encapsulated))
}

fn run(
    gw: &mut Gateway<'_>,
    snap: &GatewaySnapshot,
    lab: &Lab,
    port: u16,
    p: &mut HeapPacket,
    now: u64,
) -> Verdict {
    gw.process(snap, &lab.ports, port, p, now)
}

// ---- the vectors -------------------------------------------------------------------------

#[test]
fn encapsulates_a_new_tcp_flow_exactly_as_gwlb() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let inner = tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]);
    let mut p = from_router(None, &inner);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    assert_eq!(
        p.data().len(),
        ENCAP_LEN + inner.len(),
        "68 bytes of L3 overhead"
    );
    let e = read_encap(p.data());
    assert_eq!(e.inner, inner, "the inner packet is untouched");
    assert_eq!(e.src_ip, GW_APPLIANCES);
    assert!(
        TARGETS[..2].iter().any(|(ip, _)| *ip == e.dst_ip),
        "own-zone healthy target"
    );
    assert_eq!(e.dst_mac, mac(e.dst_ip.octets()[3]));
    assert_eq!(
        EndpointId(e.options.endpoint_id).to_string(),
        "vpce-00a1b2c3d4e5f6071"
    );
    assert_eq!(e.options.attachment_id, VPCE_A ^ 0xff);
    assert_eq!(gw.counters.new_flows, 1);
}

#[test]
fn both_directions_and_later_packets_stick_to_one_target_cookie_and_port() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let mut syn = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]));
    run(&mut gw, &snap, &lab, UPLINK, &mut syn, SEC);
    let first = read_encap(syn.data());
    let reply = tcp4(
        SERVER,
        CLIENT,
        443,
        51000,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
    );
    let data = tcp4(
        CLIENT,
        SERVER,
        51000,
        443,
        TcpFlags::ACK | TcpFlags::PSH,
        b"hello",
    );
    for (i, l3) in [reply, data].iter().enumerate() {
        let mut p = from_router(None, l3);
        assert_eq!(
            run(&mut gw, &snap, &lab, UPLINK, &mut p, 2 * SEC),
            Verdict::Transmit { port: APPLIANCES }
        );
        let e = read_encap(p.data());
        assert_eq!(
            (e.dst_ip, e.src_port, e.options),
            (first.dst_ip, first.src_port, first.options),
            "packet {i}"
        );
    }
    assert_eq!(gw.counters.new_flows, 1);
}

#[test]
fn tcp_without_syn_and_without_flow_is_dropped() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::ACK, b"x"));
    assert_eq!(
        run(&mut gw, &healthy(), &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::TcpNoFlow)
    );
    assert_eq!(gw.counters.drops_of(DropReason::TcpNoFlow), 1);
    assert_eq!(lab.table.len(), 0);
}

#[test]
fn udp_and_ipv6_flows_are_created_by_any_packet() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &udp4(CLIENT, SERVER, 53000, 53, b"query"));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    let c6: Ipv6Addr = "2001:db8:10::20".parse().unwrap();
    let s6: Ipv6Addr = "2001:db8:51::7".parse().unwrap();
    let inner = udp6(c6, s6, 53000, 53, b"query6");
    let mut p = from_router(None, &inner);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    let e = read_encap(p.data());
    assert_eq!(e.inner, inner, "inner IPv6 under outer IPv4");
    assert_eq!(gw.counters.new_flows, 2);
}

#[test]
fn endpoints_are_kept_apart_even_with_the_same_five_tuple() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let inner = udp4(CLIENT, SERVER, 53000, 53, b"q");
    let mut a = from_router(None, &inner);
    let mut b = from_router(Some(100), &inner);
    run(&mut gw, &snap, &lab, UPLINK, &mut a, SEC);
    run(&mut gw, &snap, &lab, UPLINK, &mut b, SEC);
    let (a, b) = (read_encap(a.data()), read_encap(b.data()));
    assert_eq!(a.options.endpoint_id, VPCE_A);
    assert_eq!(b.options.endpoint_id, VPCE_B);
    assert_ne!(a.options.flow_cookie, b.options.flow_cookie);
    assert_eq!(gw.counters.new_flows, 2);
}

#[test]
fn attachment_and_endpoint_state_gate_traffic() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let inner = udp4(CLIENT, SERVER, 53000, 53, b"q");
    let mut p = from_router(Some(999), &inner);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::UnknownAttachment)
    );
    let mut p = from_router(Some(200), &inner);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::EndpointNotAvailable)
    );
    let mut p = HeapPacket::new(&frame(mac(9), mac(ROUTER_MAC), None, &inner));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::NotOurMac)
    );
}

#[test]
fn inner_packets_over_8500_bytes_are_dropped_not_fragmented() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let ok = udp4(CLIENT, SERVER, 7000, 7001, &vec![0u8; 8500 - 28]);
    let big = udp4(CLIENT, SERVER, 7000, 7001, &vec![0u8; 8501 - 28]);
    let mut p = from_router(None, &ok);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    let mut p = from_router(None, &big);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::InnerTooLarge)
    );
}

#[test]
fn the_return_path_decapsulates_to_the_endpoint_unmodified() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    for vlan in [None, Some(100)] {
        let mut p = from_router(vlan, &udp4(CLIENT, SERVER, 53000, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
        let e = read_encap(p.data());
        // The appliance answers inside the tunnel with the reply's inner packet.
        let answer = udp4(SERVER, CLIENT, 53, 53000, b"answer");
        let mut back = p.data().to_vec();
        back.truncate(ENCAP_LEN);
        back.extend_from_slice(&answer);
        let len = (back.len() - 14) as u16;
        Ipv4Packet::new_unchecked(&mut back[14..]).set_total_len(len);
        Ipv4Packet::new_unchecked(&mut back[14..]).fill_checksum();
        UdpPacket::new_unchecked(&mut back[34..]).set_len(len - 20);
        let mut r = appliance_return(&back);
        assert_eq!(
            run(&mut gw, &snap, &lab, APPLIANCES, &mut r, 2 * SEC),
            Verdict::Transmit { port: UPLINK },
            "{vlan:?} via {}",
            e.dst_ip
        );
        assert_eq!(r.data(), frame(mac(ROUTER_MAC), mac(1), vlan, &answer));
    }
}

#[test]
fn the_return_path_checks_source_cookie_target_and_flow() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &udp4(CLIENT, SERVER, 53000, 53, b"q"));
    run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
    let sent = p.data().to_vec();
    let e = read_encap(&sent);
    let returned = appliance_return(&sent);

    // From an address that is not a registered target.
    let mut stranger = returned.clone();
    Ipv4Packet::new_unchecked(&mut stranger.data_mut()[14..])
        .set_src_addr(Ipv4Addr::new(10, 0, 1, 99));
    Ipv4Packet::new_unchecked(&mut stranger.data_mut()[14..]).fill_checksum();
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut stranger, SEC),
        Verdict::Drop(DropReason::GeneveSourceNotAllowed)
    );

    // From another registered target than the flow's.
    let other = TARGETS
        .iter()
        .map(|t| t.0)
        .find(|ip| *ip != e.dst_ip)
        .unwrap();
    let mut wrong = returned.clone();
    Ipv4Packet::new_unchecked(&mut wrong.data_mut()[14..]).set_src_addr(other);
    Ipv4Packet::new_unchecked(&mut wrong.data_mut()[14..]).fill_checksum();
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut wrong, SEC),
        Verdict::Drop(DropReason::WrongTarget)
    );

    // An unknown cookie.
    let cookie_at = 14 + 20 + 8 + 8 + 28;
    let mut unknown = returned.clone();
    unknown.data_mut()[cookie_at..cookie_at + 4].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut unknown, SEC),
        Verdict::Drop(DropReason::UnknownCookie)
    );

    // The right cookie around another flow's inner packet.
    let mut foreign = returned.clone();
    let inner_at = ENCAP_LEN;
    foreign.data_mut()[inner_at + 12..inner_at + 16].copy_from_slice(&[203, 0, 113, 9]);
    Ipv4Packet::new_unchecked(&mut foreign.data_mut()[inner_at..]).fill_checksum();
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut foreign, SEC),
        Verdict::Drop(DropReason::CookieFlowMismatch)
    );

    // Another endpoint's id with this flow's cookie.
    let mut endpoint = returned.clone();
    endpoint.data_mut()[inner_at - 32 + 4..inner_at - 32 + 12]
        .copy_from_slice(&VPCE_B.to_be_bytes());
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut endpoint, SEC),
        Verdict::Drop(DropReason::WrongEndpoint)
    );

    // A missing option (the cookie's type changed to an unknown one).
    let mut missing = returned.clone();
    missing.data_mut()[inner_at - 32 + 26] = 0x7f;
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut missing, SEC),
        Verdict::Drop(DropReason::GwlbOptionsInvalid)
    );

    // A stale cookie: the flow was removed, and the same 5-tuple came back as a new flow.
    let mut ok = returned.clone();
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut ok, SEC),
        Verdict::Transmit { port: UPLINK }
    );
    let handle = lab.table.by_cookie(e.options.flow_cookie).unwrap();
    assert!(lab.table.remove(handle));
    let mut again = from_router(None, &udp4(CLIENT, SERVER, 53000, 53, b"q"));
    run(&mut gw, &snap, &lab, UPLINK, &mut again, 3 * SEC);
    assert_ne!(
        read_encap(again.data()).options.flow_cookie,
        e.options.flow_cookie
    );
    let mut stale = returned.clone();
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut stale, SEC),
        Verdict::Drop(DropReason::UnknownCookie)
    );
}

#[test]
fn arp_for_own_addresses_is_answered_and_other_traffic_to_them_goes_to_the_kernel() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let request = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: mac(ROUTER_MAC),
        source_protocol_addr: ROUTER,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: GW_UPLINK,
    };
    let mut buf = vec![0u8; 14 + 28];
    EthernetRepr {
        src_addr: mac(ROUTER_MAC),
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EtherType::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    request.emit(&mut ArpPacket::new_unchecked(&mut buf[14..]));
    let mut p = HeapPacket::new(&buf);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: UPLINK }
    );
    let eth = EthernetFrame::new_checked(p.data()).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (mac(ROUTER_MAC), mac(1)));
    let reply = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    assert_eq!(
        reply,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac(1),
            source_protocol_addr: GW_UPLINK,
            target_hardware_addr: mac(ROUTER_MAC),
            target_protocol_addr: ROUTER,
        }
    );
    assert_eq!(gw.counters.arp_replies, 1);

    // An ARP request for someone else is not ours to answer.
    let mut other = buf.clone();
    other[14 + 24..14 + 28].copy_from_slice(&[10, 0, 0, 77]);
    let mut p = HeapPacket::new(&other);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Drop(DropReason::ArpIgnored)
    );

    // TCP to the gateway's own address (management, health-check replies) goes to the kernel.
    let mut p = from_router(
        None,
        &tcp4(ROUTER, GW_UPLINK, 40000, 22, TcpFlags::SYN, &[]),
    );
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Exception { port: UPLINK }
    );
    assert_eq!(gw.counters.exception_packets, 1);
}

#[test]
fn new_flows_go_only_to_healthy_own_zone_targets_and_fail_open_when_none() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    // Only target 1 (az1) is healthy: every new flow goes there.
    let snap = snapshot(
        [
            TargetState::Unhealthy,
            TargetState::Healthy,
            TargetState::Healthy,
        ],
        Stickiness::FiveTuple,
    );
    for port in 0..50u16 {
        let mut p = from_router(None, &udp4(CLIENT, SERVER, 20000 + port, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
        assert_eq!(read_encap(p.data()).dst_ip, TARGETS[1].0);
    }
    // None of az1 is healthy: fail open to the registered az1 targets, never to az2.
    let snap = snapshot(
        [
            TargetState::Unhealthy,
            TargetState::Unhealthy,
            TargetState::Healthy,
        ],
        Stickiness::FiveTuple,
    );
    let mut seen = std::collections::BTreeSet::new();
    for port in 0..50u16 {
        let mut p = from_router(None, &udp4(CLIENT, SERVER, 30000 + port, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
        seen.insert(read_encap(p.data()).dst_ip);
    }
    assert!(!seen.contains(&TARGETS[2].0));
    assert_eq!(seen.len(), 2, "spread over both registered az1 targets");
}

#[test]
fn a_flow_stays_on_its_target_when_health_changes() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let before = healthy();
    let mut p = from_router(None, &udp4(CLIENT, SERVER, 53000, 53, b"q"));
    run(&mut gw, &before, &lab, UPLINK, &mut p, SEC);
    let target = read_encap(p.data()).dst_ip;
    let i = TARGETS.iter().position(|t| t.0 == target).unwrap();
    let mut states = [TargetState::Healthy; 3];
    states[i] = TargetState::Unhealthy;
    let after = snapshot(states, Stickiness::FiveTuple);
    let mut p = from_router(None, &udp4(CLIENT, SERVER, 53000, 53, b"q"));
    run(&mut gw, &after, &lab, UPLINK, &mut p, 2 * SEC);
    assert_eq!(
        read_encap(p.data()).dst_ip,
        target,
        "no_rebalance keeps the flow"
    );
}

#[test]
fn idle_flows_expire_and_the_next_syn_is_a_new_flow() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]));
    run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
    let attributes = snap.attributes;
    let mut cursor = Default::default();
    let timeout = |k: &_| attributes.idle_timeout_ns(k);
    // A keepalive at 300 s refreshes the timer: nothing expires at 600 s.
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::ACK, &[]));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 300 * SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    assert_eq!(
        lab.table
            .expire(600 * SEC, &mut cursor, 1024, timeout, |_| {}),
        0
    );
    assert_eq!(
        lab.table
            .expire(651 * SEC, &mut cursor, 1024, timeout, |_| {}),
        1
    );
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::ACK, &[]));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 652 * SEC),
        Verdict::Drop(DropReason::TcpNoFlow)
    );
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 653 * SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    assert_eq!(gw.counters.new_flows, 2);
}

#[test]
fn stickiness_modes_key_flows_on_fewer_fields() {
    for (mode, flows) in [
        (Stickiness::FiveTuple, 3),
        (Stickiness::ThreeTuple, 2),
        (Stickiness::TwoTuple, 1),
    ] {
        let lab = Lab::new();
        let snap = snapshot([TargetState::Healthy; 3], mode);
        let mut gw = Gateway::new(&lab.table);
        for l3 in [
            udp4(CLIENT, SERVER, 1000, 53, b"a"),
            udp4(CLIENT, SERVER, 2000, 53, b"b"),
            tcp4(CLIENT, SERVER, 3000, 443, TcpFlags::SYN, &[]),
        ] {
            let mut p = from_router(None, &l3);
            assert_eq!(
                run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
                Verdict::Transmit { port: APPLIANCES }
            );
        }
        assert_eq!(gw.counters.new_flows, flows, "{mode:?}");
    }
}

#[test]
fn malformed_frames_are_counted_drops() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let good = frame(
        mac(1),
        mac(ROUTER_MAC),
        None,
        &udp4(CLIENT, SERVER, 1, 2, b"x"),
    );
    for cut in 0..good.len() {
        let mut p = HeapPacket::new(&good[..cut]);
        assert!(
            matches!(
                run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
                Verdict::Drop(_)
            ),
            "cut at {cut}"
        );
    }
    assert_eq!(gw.counters.rx_packets, good.len() as u64);
    assert_eq!(gw.counters.total_drops(), good.len() as u64);
}

fn target_of(p: &HeapPacket) -> usize {
    let ip = read_encap(p.data()).dst_ip;
    TARGETS.iter().position(|t| t.0 == ip).unwrap()
}

fn failed(i: usize, state: TargetState) -> [TargetState; 3] {
    let mut states = [TargetState::Healthy; 3];
    states[i] = state;
    states
}

#[test]
fn a_non_syn_miss_is_answered_with_a_reset_when_enabled() {
    let lab = Lab::new();
    let mut snap = healthy();
    snap.attributes.reset_on_idle_timeout = true;
    let mut gw = Gateway::new(&lab.table);
    let data = tcp4(
        CLIENT,
        SERVER,
        51000,
        443,
        TcpFlags::ACK | TcpFlags::PSH,
        b"late",
    );
    let mut p = from_router(Some(100), &data);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC),
        Verdict::Transmit { port: UPLINK }
    );
    let eth = EthernetFrame::new_checked(p.data()).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (mac(ROUTER_MAC), mac(1)));
    let tag = VlanHeader::new_checked(eth.payload()).unwrap();
    assert_eq!(
        tag.vlan_id(),
        100,
        "the reset leaves on the endpoint's attachment"
    );
    let ip = Ipv4Packet::new_checked(tag.payload()).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER, CLIENT));
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert!(tcp.verify_checksum_v4(&SERVER, &CLIENT));
    assert_eq!((tcp.src_port(), tcp.dst_port()), (443, 51000));
    assert_eq!(tcp.flags(), TcpFlags::RST);
    assert_eq!(
        tcp.seq_number(),
        2000,
        "the sequence number is the packet's ACK"
    );
    assert_eq!(gw.counters.tcp_resets, 1);
    assert_eq!(gw.counters.drops_of(DropReason::TcpNoFlow), 1);
    assert_eq!(lab.table.len(), 0);
    // A RST is never answered with a RST.
    let mut rst = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::RST, &[]));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut rst, SEC),
        Verdict::Drop(DropReason::TcpNoFlow)
    );
}

#[test]
fn rebalance_moves_flows_of_an_unhealthy_target_and_no_rebalance_keeps_them() {
    for rebalance in [false, true] {
        let lab = Lab::new();
        let mut gw = Gateway::new(&lab.table);
        let mut flows = Vec::new();
        for port in 0..40u16 {
            let l3 = udp4(CLIENT, SERVER, 40000 + port, 53, b"q");
            let mut p = from_router(None, &l3);
            run(&mut gw, &healthy(), &lab, UPLINK, &mut p, SEC);
            flows.push((l3, target_of(&p)));
        }
        let victim = flows[0].1;
        let mut snap = snapshot(
            failed(victim, TargetState::Unhealthy),
            Stickiness::FiveTuple,
        );
        snap.attributes.rebalance = rebalance;
        for (l3, before) in &flows {
            let mut p = from_router(None, l3);
            run(&mut gw, &snap, &lab, UPLINK, &mut p, 2 * SEC);
            let after = target_of(&p);
            if *before != victim || !rebalance {
                assert_eq!(after, *before, "rebalance={rebalance}");
            } else {
                assert_ne!(after, victim);
                assert_eq!(TARGETS[after].1, "az1", "moved within the zone");
            }
        }
        let moved = flows.iter().filter(|(_, t)| *t == victim).count() as u64;
        assert_eq!(
            gw.counters.rebalanced_flows,
            if rebalance { moved } else { 0 }
        );
    }
}

#[test]
fn an_unhealthy_target_resets_its_tcp_flows_when_enabled() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]));
    run(&mut gw, &healthy(), &lab, UPLINK, &mut p, SEC);
    let victim = target_of(&p);
    let mut snap = snapshot(
        failed(victim, TargetState::Unhealthy),
        Stickiness::FiveTuple,
    );
    snap.attributes.reset_on_unhealthy = true;
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::ACK, b"x"));
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 2 * SEC),
        Verdict::Transmit { port: UPLINK }
    );
    assert_eq!(gw.counters.tcp_resets, 1);
    assert_eq!(lab.table.len(), 0, "the reset flow is gone");
}

#[test]
fn draining_keeps_flows_for_the_delay_then_rebalances() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let l3 = udp4(CLIENT, SERVER, 40001, 53, b"q");
    let mut p = from_router(None, &l3);
    run(&mut gw, &healthy(), &lab, UPLINK, &mut p, SEC);
    let victim = target_of(&p);
    let mut snap = snapshot(failed(victim, TargetState::Draining), Stickiness::FiveTuple);
    snap.targets[victim].draining_since_ns = Some(10 * SEC);
    snap.attributes.rebalance = true;
    snap.attributes.deregistration_delay_ns = 300 * SEC;
    let mut p = from_router(None, &l3);
    run(&mut gw, &snap, &lab, UPLINK, &mut p, 309 * SEC);
    assert_eq!(target_of(&p), victim, "still draining: the flow stays");
    let mut p = from_router(None, &l3);
    run(&mut gw, &snap, &lab, UPLINK, &mut p, 310 * SEC);
    assert_ne!(target_of(&p), victim, "delay over: rebalanced");
    // No new flow ever goes to a draining target.
    for port in 0..40u16 {
        let mut p = from_router(None, &udp4(CLIENT, SERVER, 50000 + port, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 311 * SEC);
        assert_ne!(target_of(&p), victim);
    }
}

#[test]
fn icmp_errors_follow_the_flow_they_quote_both_ways() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let original = udp4(CLIENT, SERVER, 40000, 33434, b"probe");
    let mut p = from_router(None, &original);
    run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
    let flow = read_encap(p.data());
    // A router on the consumer side reports the packet as undeliverable to the client.
    let mut icmp = ipv4(
        Ipv4Addr::new(192, 168, 10, 1),
        CLIENT,
        IpProtocol::Icmp,
        8 + 28,
    );
    icmp[20] = 3; // destination unreachable
    icmp[21] = 3; // port unreachable
    icmp[28..].copy_from_slice(&original[..28]);
    let sum = !sluice_wire::checksum::data(&icmp[20..]);
    icmp[22..24].copy_from_slice(&sum.to_be_bytes());
    let mut p = from_router(None, &icmp);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 2 * SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    let e = read_encap(p.data());
    assert_eq!(
        (e.dst_ip, e.options.flow_cookie),
        (flow.dst_ip, flow.options.flow_cookie)
    );
    assert_eq!(gw.counters.new_flows, 1, "no flow of its own");
    // The same error coming back from the appliance with the flow's cookie is accepted.
    let mut back = appliance_return(p.data());
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut back, 2 * SEC),
        Verdict::Transmit { port: UPLINK }
    );
}

#[test]
fn cross_zone_spreads_new_flows_over_every_zone() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let mut snap = healthy();
    let infos: Vec<TargetInfo> = TARGETS
        .iter()
        .map(|(ip, zone)| TargetInfo {
            ip: *ip,
            zone: (*zone).into(),
            state: TargetState::Healthy,
        })
        .collect();
    snap.new_flows = maglev::build_view(&infos, "az1", true, maglev::DEFAULT_TABLE_SIZE).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for port in 0..60u16 {
        let mut p = from_router(None, &udp4(CLIENT, SERVER, 10000 + port, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
        seen.insert(target_of(&p));
    }
    assert_eq!(seen.len(), 3, "targets of both zones take new flows");
}

#[test]
fn initial_targets_take_no_new_flows() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let snap = snapshot(failed(0, TargetState::Initial), Stickiness::FiveTuple);
    for port in 0..40u16 {
        let mut p = from_router(None, &udp4(CLIENT, SERVER, 10000 + port, 53, b"q"));
        run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
        assert_eq!(
            target_of(&p),
            1,
            "registration completes only after the first checks"
        );
    }
}

#[test]
fn deregistration_resets_tcp_flows_after_the_delay_when_enabled() {
    let lab = Lab::new();
    let mut gw = Gateway::new(&lab.table);
    let mut p = from_router(None, &tcp4(CLIENT, SERVER, 51000, 443, TcpFlags::SYN, &[]));
    run(&mut gw, &healthy(), &lab, UPLINK, &mut p, SEC);
    let victim = target_of(&p);
    let mut snap = snapshot(failed(victim, TargetState::Draining), Stickiness::FiveTuple);
    snap.targets[victim].draining_since_ns = Some(SEC);
    snap.attributes.reset_on_deregistration = true;
    let ack = tcp4(SERVER, CLIENT, 443, 51000, TcpFlags::ACK, b"reply");
    let mut p = from_router(None, &ack);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 100 * SEC),
        Verdict::Transmit { port: APPLIANCES }
    );
    let mut p = from_router(None, &ack);
    assert_eq!(
        run(&mut gw, &snap, &lab, UPLINK, &mut p, 301 * SEC),
        Verdict::Transmit { port: UPLINK }
    );
    let ip = Ipv4Packet::new_checked(&p.data()[14..]).unwrap();
    assert_eq!(
        ip.dst_addr(),
        SERVER,
        "the server, which sent the packet, gets the reset"
    );
    assert_eq!(gw.counters.tcp_resets, 1);
}

#[test]
fn ipv6_flows_return_through_the_tunnel() {
    let lab = Lab::new();
    let snap = healthy();
    let mut gw = Gateway::new(&lab.table);
    let c6: Ipv6Addr = "2001:db8:10::20".parse().unwrap();
    let s6: Ipv6Addr = "2001:db8:51::7".parse().unwrap();
    let mut p = from_router(Some(100), &udp6(c6, s6, 5353, 53, b"q6"));
    run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
    let answer = udp6(s6, c6, 53, 5353, b"answer6");
    let mut back = p.data()[..ENCAP_LEN].to_vec();
    back.extend_from_slice(&answer);
    let len = (back.len() - 14) as u16;
    Ipv4Packet::new_unchecked(&mut back[14..]).set_total_len(len);
    Ipv4Packet::new_unchecked(&mut back[14..]).fill_checksum();
    UdpPacket::new_unchecked(&mut back[34..]).set_len(len - 20);
    let mut r = appliance_return(&back);
    assert_eq!(
        run(&mut gw, &snap, &lab, APPLIANCES, &mut r, SEC),
        Verdict::Transmit { port: UPLINK }
    );
    assert_eq!(r.data(), frame(mac(ROUTER_MAC), mac(1), Some(100), &answer));
}

/// Every drop reason is reached by a packet and moves its own counter. The match is
/// exhaustive, so a new reason cannot be added without a scenario here.
#[test]
fn every_drop_reason_is_reached_and_counted() {
    use sluice_engine::appliance::{Appliance, FlowRecords};
    use sluice_engine::snapshot::ApplianceSnapshot;

    let udp = udp4(CLIENT, SERVER, 53000, 53, b"q");
    for reason in DropReason::ALL.iter().copied() {
        let lab = Lab::new();
        let mut snap = healthy();
        let mut gw = Gateway::new(&lab.table);
        let mut ports = lab.ports.clone();
        let mut port = UPLINK;
        let mut packet = from_router(None, &udp);
        let mut appliance = false;
        match reason {
            DropReason::MalformedEthernet => packet = HeapPacket::new(&[0u8; 10]),
            DropReason::NotOurMac => {
                packet = HeapPacket::new(&frame(mac(9), mac(ROUTER_MAC), None, &udp))
            }
            DropReason::UnsupportedEtherType => {
                let mut f = frame(mac(1), mac(ROUTER_MAC), None, &udp);
                f[12..14].copy_from_slice(&[0x88, 0xcc]);
                packet = HeapPacket::new(&f);
            }
            DropReason::ArpIgnored => {
                let mut f = vec![0u8; 42];
                f[..6].copy_from_slice(&mac(1).0);
                f[12..14].copy_from_slice(&[0x08, 0x06]);
                packet = HeapPacket::new(&f);
            }
            DropReason::MalformedIp => packet = from_router(None, &udp[..20]),
            DropReason::MalformedTransport => {
                let mut short = tcp4(CLIENT, SERVER, 1, 2, TcpFlags::SYN, &[]);
                short.truncate(30);
                short[3] = 30;
                packet = from_router(None, &short);
            }
            DropReason::UnknownAttachment => packet = from_router(Some(999), &udp),
            DropReason::EndpointNotAvailable => packet = from_router(Some(200), &udp),
            DropReason::TcpNoFlow => {
                packet = from_router(None, &tcp4(CLIENT, SERVER, 1, 2, TcpFlags::ACK, &[]))
            }
            DropReason::InnerTooLarge => {
                packet = from_router(None, &udp4(CLIENT, SERVER, 1, 2, &vec![0; 8500]))
            }
            DropReason::NoTarget => {
                snap.new_flows = maglev::build_view(&[], "az1", false, 4099).unwrap();
            }
            DropReason::FlowTableFull => {
                // 1,024 slots: distinct flows fill some window well before 2,000.
                for n in 0..2000u16 {
                    let mut p = from_router(None, &udp4(CLIENT, SERVER, n, 53, b"q"));
                    run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
                }
            }
            DropReason::FlowTableBusy => {
                // Reached only when a concurrent insert of the same flow stalls; the flow
                // table's race tests plant that state (flow_table::tests), and the mapping to
                // this reason is one match arm in each pipeline.
                continue;
            }
            DropReason::NoHeadroom => {
                packet = HeapPacket::with_headroom(&frame(mac(1), mac(ROUTER_MAC), None, &udp), 0)
            }
            DropReason::NoNeighbor => {
                ports[1].neighbors.clear();
                snap.resolve_targets(&ports);
            }
            DropReason::GeneveSourceNotAllowed
            | DropReason::MalformedGeneve
            | DropReason::GeneveNotIp
            | DropReason::GwlbOptionsInvalid
            | DropReason::UnknownCookie
            | DropReason::CookieFlowMismatch
            | DropReason::WrongTarget
            | DropReason::WrongEndpoint => {
                let mut p = from_router(None, &udp);
                run(&mut gw, &snap, &lab, UPLINK, &mut p, SEC);
                let mut back = appliance_return(p.data()).data().to_vec();
                let geneve = 14 + 20 + 8;
                let options = geneve + 8;
                match reason {
                    DropReason::GeneveSourceNotAllowed => {
                        back[14 + 12..14 + 16].copy_from_slice(&[10, 0, 1, 99])
                    }
                    DropReason::WrongTarget => {
                        back[14 + 12..14 + 16].copy_from_slice(&[10, 0, 1, 20])
                    }
                    DropReason::MalformedGeneve => back[geneve] |= 0x40,
                    DropReason::GeneveNotIp => {
                        back[geneve + 2..geneve + 4].copy_from_slice(&[0x65, 0x58])
                    }
                    DropReason::GwlbOptionsInvalid => back[options + 26] = 0x7f,
                    DropReason::UnknownCookie => {
                        back[options + 28..options + 32].copy_from_slice(&[0, 0xff, 0xff, 0xff])
                    }
                    DropReason::CookieFlowMismatch => back[ENCAP_LEN + 12] = 203,
                    _ => back[options + 4..options + 12].copy_from_slice(&VPCE_B.to_be_bytes()),
                }
                // WrongTarget needs a registered target other than the flow's own.
                if reason == DropReason::WrongTarget && read_encap(p.data()).dst_ip == TARGETS[2].0
                {
                    back[14 + 12..14 + 16].copy_from_slice(&[10, 0, 1, 10]);
                }
                Ipv4Packet::new_unchecked(&mut back[14..]).fill_checksum();
                packet = HeapPacket::new(&back);
                port = APPLIANCES;
            }
            DropReason::NotForUs => appliance = true,
            DropReason::PolicyDenied | DropReason::PolicyRejected => {
                // The appliance's policy drops: tests/appliance_policy.rs reaches each with
                // GWLB's GENEVE and asserts its counter.
                continue;
            }
        }
        let verdict = if appliance {
            let table = FlowTable::new(1024).unwrap();
            let records = FlowRecords::new(1024);
            let mut app = Appliance::new(&table, &records);
            let snap = ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 0, 0), 16)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: None,
                policy: std::sync::Arc::new(sluice_engine::policy::Policy::allow_all()),
            };
            let v = app.process(&snap, &ports, port, &mut packet, SEC);
            assert_eq!(app.counters.drops_of(reason), 1, "{reason}");
            v
        } else {
            let before = gw.counters.drops_of(reason);
            let v = gw.process(&snap, &ports, port, &mut packet, SEC);
            if reason == DropReason::FlowTableFull {
                assert!(gw.counters.drops_of(reason) > 0, "{reason}");
                continue;
            }
            assert_eq!(gw.counters.drops_of(reason), before + 1, "{reason}");
            v
        };
        assert_eq!(
            verdict,
            Verdict::Drop(reason),
            "{reason}: {}",
            reason.description()
        );
    }
}
