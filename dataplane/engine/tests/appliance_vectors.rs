//! Packet vectors for the appliance pipeline, fed with the golden captures scapy made in the
//! shape AWS's GWLB sends (`dataplane/wire/tests/data/`), plus edits of them. Each test names
//! the [APP] behaviour of gwlb-spec §10 it holds.

#![expect(clippy::unwrap_used, reason = "fixtures must be valid")]

use std::net::Ipv4Addr;

use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::counters::DropReason;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::Verdict;
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{ApplianceSnapshot, PortInfo};
use sluice_wire::ethernet::{EthernetAddress, EthernetFrame};
use sluice_wire::geneve::GenevePacket;
use sluice_wire::gwlb::GwlbOptions;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::tcp::TcpPacket;
use sluice_wire::udp::UdpPacket;

const SEC: u64 = 1_000_000_000;
/// The captures' GWLB node and appliance.
const GWLB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const APPLIANCE: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const APPLIANCE_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x01, 0x0a]);

/// The frames of a classic pcap file of the golden set.
fn capture(name: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/../wire/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut frames = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        frames.push(bytes[at + 16..at + 16 + len].to_vec());
        at += 16 + len;
    }
    frames
}

fn ports() -> Vec<PortInfo> {
    vec![PortInfo {
        name: "gwlb".into(),
        mac: APPLIANCE_MAC,
        address: APPLIANCE,
        prefix_len: 16,
        neighbors: vec![],
        gateway: None,
    }]
}

fn snapshot() -> ApplianceSnapshot {
    ApplianceSnapshot {
        gwlb_sources: vec![(Ipv4Addr::new(10, 0, 0, 0), 24)],
        tcp_idle_timeout_ns: 350 * SEC,
        other_idle_timeout_ns: 120 * SEC,
        mss_clamp: None,
    }
}

struct Lab {
    table: FlowTable,
    records: FlowRecords,
    ports: Vec<PortInfo>,
}

impl Lab {
    fn new() -> Self {
        Lab {
            table: FlowTable::new(1024).unwrap(),
            records: FlowRecords::new(1024),
            ports: ports(),
        }
    }
}

/// Checks a reply against the packet that provoked it: MACs and IPs swapped, UDP ports and
/// the whole GENEVE header (options included) and inner packet unchanged, checksums valid.
fn assert_reply(request: &[u8], reply: &[u8]) {
    let (q, r) = (
        EthernetFrame::new_checked(request).unwrap(),
        EthernetFrame::new_checked(reply).unwrap(),
    );
    assert_eq!((r.src_addr(), r.dst_addr()), (q.dst_addr(), q.src_addr()));
    let (qi, ri) = (
        Ipv4Packet::new_checked(q.payload()).unwrap(),
        Ipv4Packet::new_checked(r.payload()).unwrap(),
    );
    assert_eq!(
        (ri.src_addr(), ri.dst_addr()),
        (qi.dst_addr(), qi.src_addr())
    );
    assert!(ri.verify_checksum());
    let (qu, ru) = (
        UdpPacket::new_checked(qi.payload()).unwrap(),
        UdpPacket::new_checked(ri.payload()).unwrap(),
    );
    assert_eq!(
        (ru.src_port(), ru.dst_port()),
        (qu.src_port(), 6081),
        "UDP ports kept"
    );
    assert!(ru.checksum() == 0 || ru.verify_checksum_v4(&ri.src_addr(), &ri.dst_addr()));
    assert_eq!(
        ru.payload(),
        qu.payload(),
        "GENEVE header, options and inner packet byte for byte"
    );
}

#[test]
fn every_golden_gwlb_packet_comes_back_as_gwlb_expects() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("gwlb.pcap");
    let mut replies = 0;
    for (i, frame) in frames.iter().enumerate() {
        let mut p = HeapPacket::new(frame);
        let from_gwlb = Ipv4Packet::new_checked(&frame[14..]).unwrap().src_addr() == GWLB;
        let v = app.process(&snapshot(), &lab.ports, 0, &mut p, SEC);
        if from_gwlb {
            assert_eq!(v, Verdict::Transmit { port: 0 }, "packet {}", i + 1);
            assert_reply(frame, p.data());
            replies += 1;
        } else {
            // Packet 5 is the appliance's own return; its MAC is the GWLB's, not ours.
            assert_eq!(v, Verdict::Drop(DropReason::NotOurMac), "packet {}", i + 1);
        }
    }
    assert_eq!(replies, 6);
    assert_eq!(app.counters.tx_packets, 6);
}

#[test]
fn hostile_geneve_is_dropped_with_its_reason() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let expected = [
        DropReason::GwlbOptionsInvalid, // cookie option missing
        DropReason::MalformedGeneve,    // version 1
        DropReason::MalformedGeneve,    // options run past the packet
        DropReason::MalformedGeneve,    // an option runs past the options
        DropReason::GeneveNotIp,        // protocol type 0x6558
        DropReason::GwlbOptionsInvalid, // endpoint id of 4 bytes
        DropReason::MalformedIp,        // outer length lies
        DropReason::MalformedIp,        // inner IHL 4
        DropReason::MalformedTransport, // inner TCP data offset lies
        DropReason::MalformedIp,        // frame cut in the UDP header
    ];
    let frames = capture("malformed.pcap");
    assert_eq!(frames.len(), expected.len());
    for (i, (frame, reason)) in frames.iter().zip(expected).enumerate() {
        let mut p = HeapPacket::new(frame);
        assert_eq!(
            app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
            Verdict::Drop(reason),
            "packet {}",
            i + 1
        );
        assert!(app.counters.drops_of(reason) > 0);
    }
    assert_eq!(app.counters.tx_packets, 0);
}

#[test]
fn geneve_only_from_the_configured_gwlb_sources() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let mut snap = snapshot();
    snap.gwlb_sources = vec![(Ipv4Addr::new(10, 9, 0, 0), 16)];
    let frame = &capture("gwlb.pcap")[0];
    let mut p = HeapPacket::new(frame);
    assert_eq!(
        app.process(&snap, &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::GeneveSourceNotAllowed)
    );
}

#[test]
fn inner_packets_over_8500_bytes_get_no_reply() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("jumbo.pcap");
    let mut ok = HeapPacket::new(&frames[0]);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut ok, SEC),
        Verdict::Transmit { port: 0 }
    );
    let mut big = HeapPacket::new(&frames[1]);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut big, SEC),
        Verdict::Drop(DropReason::InnerTooLarge)
    );
}

#[test]
fn the_header_record_follows_the_newest_cookie_on_five_tuple_reuse() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let first = capture("gwlb.pcap")[0].clone();
    let mut p = HeapPacket::new(&first);
    app.process(&snapshot(), &lab.ports, 0, &mut p, SEC);
    // GWLB reuses the 5-tuple for a new flow: same packet, another cookie.
    let mut reused = first.clone();
    let cookie_at = 14 + 20 + 8 + 8 + 28;
    reused[cookie_at..cookie_at + 4].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
    reused[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]); // no outer UDP checksum
    let mut p = HeapPacket::new(&reused);
    app.process(&snapshot(), &lab.ports, 0, &mut p, 2 * SEC);
    assert_reply(&reused, p.data());
    // The appliance's flows are its own (GWLB's cookie is not its key): find it by key.
    let geneve = GenevePacket::new_checked(&reused[14 + 20 + 8..]).unwrap();
    let options = GwlbOptions::parse(geneve.options_iter()).unwrap();
    let flow = sluice_engine::parse::ip_flow(geneve.payload()).unwrap();
    let key = app.flow_of(options.endpoint_id, &flow);
    let handle = lab.table.lookup(&key, key.hash());
    let record = lab.records.load(handle.unwrap().slot()).unwrap();
    assert_eq!(record.gwlb, GWLB);
    assert_eq!(record.appliance, APPLIANCE);
    assert_eq!(
        record.geneve_header(),
        &reused[14 + 20 + 8..14 + 20 + 8 + 40]
    );
    assert_eq!(app.counters.new_flows, 1);
}

#[test]
fn the_mss_clamp_rewrites_syns_and_keeps_checksums_valid() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let mut snap = snapshot();
    snap.mss_clamp = Some(1200);
    let syn = capture("gwlb.pcap")[0].clone();
    let mut p = HeapPacket::new(&syn);
    assert_eq!(
        app.process(&snap, &lab.ports, 0, &mut p, SEC),
        Verdict::Transmit { port: 0 }
    );
    let inner = &p.data()[14 + 20 + 8 + 40..];
    let ip = Ipv4Packet::new_checked(inner).unwrap();
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(tcp.mss(), Some(1200));
    assert!(tcp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()));
    let outer = Ipv4Packet::new_checked(&p.data()[14..]).unwrap();
    let udp = UdpPacket::new_checked(outer.payload()).unwrap();
    assert!(udp.checksum() == 0 || udp.verify_checksum_v4(&outer.src_addr(), &outer.dst_addr()));
}

#[test]
fn arp_own_traffic_and_strangers() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    // The golden ARP request asks for 10.0.0.1; make it ask for the appliance.
    let mut arp = capture("plain.pcap")[0].clone();
    arp[14 + 24..14 + 28].copy_from_slice(&APPLIANCE.octets());
    let mut p = HeapPacket::new(&arp);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Transmit { port: 0 }
    );
    assert_eq!(app.counters.arp_replies, 1);
    // A golden GWLB packet turned into TCP to the health-check port goes to the kernel.
    let mut hc = capture("gwlb.pcap")[0].clone();
    hc[14 + 9] = 6;
    Ipv4Packet::new_unchecked(&mut hc[14..]).fill_checksum();
    let mut p = HeapPacket::new(&hc);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Exception { port: 0 }
    );
    // Traffic for another address is not routed.
    let mut other = capture("gwlb.pcap")[0].clone();
    other[14 + 19] = 99;
    Ipv4Packet::new_unchecked(&mut other[14..]).fill_checksum();
    let mut p = HeapPacket::new(&other);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::NotForUs)
    );
}
