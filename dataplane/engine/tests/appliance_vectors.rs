//! Packet vectors for the appliance pipeline, fed with the golden captures scapy made in the
//! shape AWS's GWLB sends (`dataplane/wire/tests/data/`, written by `make_captures.py`), plus
//! edits of them. Each test names the [APP] behaviour of gwlb-spec §10 it holds; every [APP]
//! line is held here as follows (`appliance.pcap #n` is packet n of that capture, whose
//! expected verdicts are the table [`APPLIANCE_PCAP`]):
//!
//! | [APP] line of gwlb-spec §10 | Held by |
//! |---|---|
//! | GENEVE version ≠ 0 dropped | `hostile_geneve_is_dropped_with_its_reason` (malformed.pcap #2); `every_appliance_vector_gets_its_verdict` (appliance.pcap #26) |
//! | Protocol Type not 0x0800/0x86DD dropped | malformed.pcap #5 (0x6558); appliance.pcap #29 (0x0806), and #27/#28 (type and inner version disagree) |
//! | Lacking any of the three GWLB options dropped | malformed.pcap #1, #6; appliance.pcap #22–#25 (no endpoint id, no attachment id, no options, a repeated cookie) |
//! | Options walked generically, unknown classes/types skipped | `reordered_and_unknown_options_come_back_byte_for_byte` (appliance.pcap #1–#5: orders 3,1,2 and 2,3,1; class 0x0103 first, unknown 0x0108 types between and before GWLB's); gwlb.pcap #3, #4 |
//! | Options length larger than the packet rejected | malformed.pcap #3, #4; appliance.pcap #31, #32; with the other lying lengths (#30, #33, #34) in `lying_and_truncated_lengths_are_dropped` |
//! | Replies reuse the last-received GENEVE header and options byte for byte | [`assert_reply`] on every reply; `header_records_hold_the_last_header_gwlb_sent` |
//! | Reply outer IPs swapped | [`assert_reply`]; appliance.pcap #20 from a second GWLB node goes back to it |
//! | Reply outer UDP keeps GWLB's source port, destination 6081 | [`assert_reply`] |
//! | Cached header refreshed on every inbound packet (new cookie on 5-tuple reuse wins) | `the_header_record_follows_the_newest_cookie_on_five_tuple_reuse`; `header_records_hold_the_last_header_gwlb_sent` (appliance.pcap #6–#8) |
//! | Packets of flows never seen from GWLB not sent into GWLB | `nothing_but_gwlb_geneve_goes_back_into_gwlb` (appliance.pcap #35, every plain.pcap frame); `arp_own_traffic_and_strangers` |
//! | ICMP errors about a forwarded packet returned with that flow's header | `icmp_errors_about_a_seen_flow_go_back_with_its_header` (appliance.pcap #5 ICMPv4 unreachable, #14 ICMPv6 packet too big) |
//! | Outer UDP checksum valid (or zero) on replies | [`assert_reply`], over replies to packets with and without a checksum (`every_appliance_vector_gets_its_verdict`) |
//! | Accepts outer packets of at least 8,568 bytes | `inner_packets_of_8500_bytes_come_back_and_longer_ones_do_not` (appliance.pcap #16, #17); jumbo.pcap #1 |
//! | Never emits replies whose inner packet exceeds 8,500 bytes | appliance.pcap #18, #19; `inner_packets_over_8500_bytes_get_no_reply` (jumbo.pcap #2) |
//! | Receive path does not rely on GRO/LRO-merged packets | `a_burst_answers_packet_by_packet` (one reply per packet, of its own length; flow C's packets back to back); the DPDK ports ask for no RX offloads (`dataplane/dpdk/src/ffi.rs`, `rxmode.offloads` stays 0) |
//! | Health endpoint on the health-check port | not a packet vector: `control/tests/health.rs` (`the_responder_answers_200_while_healthy_and_503_otherwise`, `the_tcp_responder_accepts_and_closes`) |
//! | GENEVE accepted only from the GWLB subnets | `geneve_only_from_the_configured_gwlb_sources`; appliance.pcap #21 |
//! | Health-check port and UDP 6081 the only inbound ports needed | `arp_own_traffic_and_strangers` (health check to the kernel); `only_udp_6081_is_geneve` |
//!
//! The same capture goes through `sluice simulate` (`control/tests/simulate.rs`) and through
//! `sluice run` on `net_pcap` (`control/tests/run.rs`).

#![expect(clippy::unwrap_used, reason = "fixtures must be valid")]

use std::net::Ipv4Addr;

use sluice_engine::appliance::{Appliance, FlowRecords, HeaderRecord};
use sluice_engine::counters::DropReason;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::Verdict;
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{ApplianceSnapshot, PortInfo};
use sluice_wire::ethernet::{EthernetAddress, EthernetFrame};
use sluice_wire::geneve::{GeneveOptions, GenevePacket};
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
        policy: std::sync::Arc::new(sluice_engine::policy::Policy::allow_all()),
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
    assert_eq!(
        reply.len(),
        request.len(),
        "one reply per packet, of its length"
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
    let key = app.flow_of(options.endpoint_id, &flow).0;
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

// ---- appliance.pcap: every shape of the [APP] lines in one capture ---------------------------

/// What the appliance must do with a packet of `appliance.pcap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Returned to the GWLB node that sent it, as [`assert_reply`] checks.
    Reply,
    /// Dropped for this reason.
    Dropped(DropReason),
}

use Expect::{Dropped, Reply};

/// `appliance.pcap`, packet by packet (from 1): what each is and what the appliance must do.
/// Flows A to F are the capture's inner flows; see `make_captures.py`'s `appliance_captures`.
const APPLIANCE_PCAP: [(&str, Expect); 35] = [
    ("A: SYN, options in order 3,1,2", Reply),
    ("A: SYN-ACK, options in order 2,3,1, no UDP checksum", Reply),
    (
        "A: ACK, class 0x0103 first, unknown 0x0108 type 0x7f between",
        Reply,
    ),
    (
        "A: data, unknown 0x0108 type 0x04 first, no UDP checksum",
        Reply,
    ),
    ("ICMPv4 unreachable quoting A's data, A's header", Reply),
    ("B: SYN, cookie b0000001", Reply),
    (
        "B: SYN again, new cookie b0000002 and port, no UDP checksum",
        Reply,
    ),
    ("B: SYN-ACK, cookie b0000002", Reply),
    ("C: inner IPv6 TCP SYN", Reply),
    ("C: inner IPv6 SYN-ACK, no UDP checksum", Reply),
    ("C: inner IPv6 data", Reply),
    ("D: inner IPv6 UDP", Reply),
    ("D: inner IPv6 UDP answer, no UDP checksum", Reply),
    ("ICMPv6 packet too big quoting C's data, C's header", Reply),
    ("E: VNI 0x0abcde", Reply),
    ("inner IPv4 UDP of 8,500 bytes (outer 8,568)", Reply),
    ("C: inner IPv6 TCP of 8,500 bytes, no UDP checksum", Reply),
    (
        "inner IPv4 UDP of 8,501 bytes",
        Dropped(DropReason::InnerTooLarge),
    ),
    (
        "inner IPv6 UDP of 8,501 bytes",
        Dropped(DropReason::InnerTooLarge),
    ),
    ("from the second GWLB node 10.0.0.2", Reply),
    (
        "from 10.0.2.1, outside the GWLB subnet",
        Dropped(DropReason::GeneveSourceNotAllowed),
    ),
    (
        "no endpoint id option",
        Dropped(DropReason::GwlbOptionsInvalid),
    ),
    (
        "no attachment id option",
        Dropped(DropReason::GwlbOptionsInvalid),
    ),
    ("no options at all", Dropped(DropReason::GwlbOptionsInvalid)),
    (
        "the cookie option twice",
        Dropped(DropReason::GwlbOptionsInvalid),
    ),
    ("GENEVE version 2", Dropped(DropReason::MalformedGeneve)),
    (
        "protocol type IPv6, inner IPv4",
        Dropped(DropReason::GeneveNotIp),
    ),
    (
        "protocol type IPv4, inner IPv6",
        Dropped(DropReason::GeneveNotIp),
    ),
    ("protocol type ARP", Dropped(DropReason::GeneveNotIp)),
    (
        "outer UDP length past the datagram",
        Dropped(DropReason::MalformedTransport),
    ),
    (
        "GENEVE header cut after 4 bytes",
        Dropped(DropReason::MalformedGeneve),
    ),
    ("Opt Len 63", Dropped(DropReason::MalformedGeneve)),
    (
        "inner IPv4 total length past the packet",
        Dropped(DropReason::MalformedIp),
    ),
    (
        "inner IPv6 payload length past the packet",
        Dropped(DropReason::MalformedIp),
    ),
    (
        "inner TCP without GENEVE, to the appliance's MAC",
        Dropped(DropReason::NotForUs),
    ),
];

/// The second GWLB node of the capture.
const GWLB2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Where the GENEVE header starts in the captures' frames (outer IPv4 without options).
const GENEVE_AT: usize = 14 + 20 + 8;

/// The GENEVE header (base and options) of a frame from GWLB.
fn geneve_header(frame: &[u8]) -> &[u8] {
    let geneve = GenevePacket::new_checked(&frame[GENEVE_AT..]).unwrap();
    &frame[GENEVE_AT..GENEVE_AT + geneve.header_len()]
}

/// The (class, type) of each GENEVE option of a frame, in order.
fn option_order(frame: &[u8]) -> Vec<(u16, u8)> {
    GeneveOptions::new(&geneve_header(frame)[8..])
        .map(|o| {
            let o = o.unwrap();
            (o.class(), o.option_type())
        })
        .collect()
}

/// The header record of the flow of a GWLB frame (found by key: the appliance's flows are
/// its own, GWLB's cookie is not their key).
fn record_of(app: &Appliance<'_>, lab: &Lab, frame: &[u8]) -> Option<HeaderRecord> {
    let geneve = GenevePacket::new_checked(&frame[GENEVE_AT..]).unwrap();
    let options = GwlbOptions::parse(geneve.options_iter()).unwrap();
    let flow = sluice_engine::parse::ip_flow(geneve.payload()).unwrap();
    let key = app.flow_of(options.endpoint_id, &flow).0;
    let handle = lab.table.lookup(&key, key.hash())?;
    lab.records.load(handle.slot())
}

/// Runs packets `range` (from 1, inclusive) of `frames` through `app`, one second apart.
fn feed(
    app: &mut Appliance<'_>,
    lab: &Lab,
    frames: &[Vec<u8>],
    range: core::ops::RangeInclusive<usize>,
) {
    for n in range {
        let mut p = HeapPacket::new(&frames[n - 1]);
        app.process(&snapshot(), &lab.ports, 0, &mut p, n as u64 * SEC);
    }
}

#[test]
fn every_appliance_vector_gets_its_verdict() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    assert_eq!(frames.len(), APPLIANCE_PCAP.len());
    let (mut with_checksum, mut without_checksum) = (0, 0);
    for (i, (frame, (what, expect))) in frames.iter().zip(APPLIANCE_PCAP).enumerate() {
        let n = i + 1;
        let mut p = HeapPacket::new(frame);
        let verdict = app.process(&snapshot(), &lab.ports, 0, &mut p, n as u64 * SEC);
        match expect {
            Reply => {
                assert_eq!(verdict, Verdict::Transmit { port: 0 }, "#{n} {what}");
                assert_reply(frame, p.data());
                let udp = UdpPacket::new_checked(&p.data()[14 + 20..]).unwrap();
                if udp.checksum() == 0 {
                    without_checksum += 1;
                } else {
                    with_checksum += 1;
                }
            }
            Dropped(reason) => {
                assert_eq!(verdict, Verdict::Drop(reason), "#{n} {what}");
            }
        }
    }
    assert!(
        with_checksum > 0 && without_checksum > 0,
        "replies to packets with and without an outer UDP checksum"
    );
    let replies = APPLIANCE_PCAP.iter().filter(|(_, e)| *e == Reply).count() as u64;
    assert_eq!(replies, 18);
    assert_eq!(app.counters.tx_packets, replies);
    assert_eq!(app.counters.total_drops(), 35 - replies);
    for reason in [
        DropReason::InnerTooLarge,
        DropReason::GeneveSourceNotAllowed,
        DropReason::GwlbOptionsInvalid,
        DropReason::MalformedGeneve,
        DropReason::GeneveNotIp,
        DropReason::MalformedTransport,
        DropReason::MalformedIp,
        DropReason::NotForUs,
    ] {
        let expected = APPLIANCE_PCAP
            .iter()
            .filter(|(_, e)| *e == Dropped(reason))
            .count() as u64;
        assert_eq!(app.counters.drops_of(reason), expected, "{reason}");
    }
}

#[test]
fn a_burst_answers_packet_by_packet() {
    // No merging, no reordering: the burst form answers each packet of the capture on its
    // own, with the verdict and bytes of the one-packet form.
    let frames = capture("appliance.pcap");
    let one = Lab::new();
    let mut single = Appliance::new(&one.table, &one.records);
    let expected: Vec<(Verdict, Vec<u8>)> = frames
        .iter()
        .map(|f| {
            let mut p = HeapPacket::new(f);
            let v = single.process(&snapshot(), &one.ports, 0, &mut p, SEC);
            (v, p.data().to_vec())
        })
        .collect();
    let burst = Lab::new();
    let mut app = Appliance::new(&burst.table, &burst.records);
    let mut packets: Vec<Option<HeapPacket>> =
        frames.iter().map(|f| Some(HeapPacket::new(f))).collect();
    let mut verdicts = vec![None; frames.len()];
    app.process_burst(
        &snapshot(),
        &burst.ports,
        0,
        &mut packets,
        SEC,
        &mut verdicts,
    );
    for (n, ((p, v), (want_v, want_frame))) in
        packets.iter().zip(&verdicts).zip(&expected).enumerate()
    {
        assert_eq!(v.as_ref(), Some(want_v), "#{}", n + 1);
        assert_eq!(p.as_ref().unwrap().data(), &want_frame[..], "#{}", n + 1);
    }
    assert_eq!(app.counters, single.counters);
}

#[test]
fn reordered_and_unknown_options_come_back_byte_for_byte() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    let gwlb = |t: u8| (0x0108, t);
    let orders = [
        vec![gwlb(3), gwlb(1), gwlb(2)],
        vec![gwlb(2), gwlb(3), gwlb(1)],
        vec![(0x0103, 0x42), gwlb(1), gwlb(0x7f), gwlb(2), gwlb(3)],
        vec![gwlb(4), gwlb(1), gwlb(2), gwlb(3)],
    ];
    for (i, order) in orders.iter().enumerate() {
        let frame = &frames[i];
        assert_eq!(&option_order(frame), order, "#{} as captured", i + 1);
        let mut p = HeapPacket::new(frame);
        assert_eq!(
            app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
            Verdict::Transmit { port: 0 },
            "#{}",
            i + 1
        );
        assert_reply(frame, p.data());
        assert_eq!(&option_order(p.data()), order, "#{} as returned", i + 1);
        assert_eq!(geneve_header(p.data()), geneve_header(frame));
    }
    // A non-zero VNI is GWLB's to set: it comes back unchanged too.
    let vni = &frames[14];
    let mut p = HeapPacket::new(vni);
    app.process(&snapshot(), &lab.ports, 0, &mut p, SEC);
    assert_reply(vni, p.data());
    let geneve = GenevePacket::new_checked(&p.data()[GENEVE_AT..]).unwrap();
    assert_eq!(geneve.vni(), 0x0a_bcde);
}

#[test]
fn header_records_hold_the_last_header_gwlb_sent() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    let frame = |n: usize| &frames[n - 1][..];

    // Flow A: each packet's header is the record, in whatever order its options came.
    for n in [1, 2] {
        feed(&mut app, &lab, &frames, n..=n);
        let record = record_of(&app, &lab, frame(n)).unwrap();
        assert_eq!(record.geneve_header(), geneve_header(frame(n)), "#{n}");
        assert_eq!((record.gwlb, record.appliance), (GWLB, APPLIANCE));
        assert_eq!(record.udp_src_port, 49200);
    }
    // #3's header (60 bytes with the unknown options) is longer than a record holds: it is
    // returned on its own reply but counted instead of recorded.
    feed(&mut app, &lab, &frames, 3..=3);
    assert_eq!(lab.records.too_long(), 1);
    assert_eq!(
        record_of(&app, &lab, frame(3)).unwrap().geneve_header(),
        geneve_header(frame(2))
    );
    // #4's (44 bytes, with an unknown option of no data) fits.
    feed(&mut app, &lab, &frames, 4..=4);
    assert_eq!(
        record_of(&app, &lab, frame(4)).unwrap().geneve_header(),
        geneve_header(frame(4))
    );

    // Flow B: GWLB reuses the 5-tuple with a new cookie and source port; the new header wins
    // at once, and it is still one flow of the appliance's.
    let before = app.counters.new_flows;
    feed(&mut app, &lab, &frames, 6..=6);
    assert_eq!(record_of(&app, &lab, frame(6)).unwrap().udp_src_port, 49201);
    feed(&mut app, &lab, &frames, 7..=7);
    let record = record_of(&app, &lab, frame(6)).unwrap();
    assert_eq!(record.geneve_header(), geneve_header(frame(7)));
    assert_eq!(
        &record.geneve_header()[36..40],
        &0xb000_0002u32.to_be_bytes()
    );
    assert_eq!(record.udp_src_port, 49202);
    feed(&mut app, &lab, &frames, 8..=8);
    assert_eq!(
        record_of(&app, &lab, frame(6)).unwrap(),
        record_of(&app, &lab, frame(8)).unwrap(),
        "both directions share the flow"
    );
    assert_eq!(app.counters.new_flows - before, 1);

    // A flow from the second GWLB node records that node.
    feed(&mut app, &lab, &frames, 20..=20);
    assert_eq!(record_of(&app, &lab, frame(20)).unwrap().gwlb, GWLB2);
}

#[test]
fn icmp_errors_about_a_seen_flow_go_back_with_its_header() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    // (the flows' packets, the error about the last of them)
    for (flow, error) in [(1..=4, 5), (9..=11, 14)] {
        let last = *flow.end();
        feed(&mut app, &lab, &frames, flow);
        let quoted = &frames[last - 1];
        let header = record_of(&app, &lab, quoted).unwrap();
        assert_eq!(header.geneve_header(), geneve_header(quoted));

        let frame = &frames[error - 1];
        let geneve = GenevePacket::new_checked(&frame[GENEVE_AT..]).unwrap();
        let inner = sluice_engine::parse::ip_flow(geneve.payload()).unwrap();
        let about = inner.quoted.unwrap();
        let seen = sluice_engine::parse::ip_flow(
            GenevePacket::new_checked(&quoted[GENEVE_AT..])
                .unwrap()
                .payload(),
        )
        .unwrap();
        assert_eq!(
            (about.src, about.dst, about.src_port, about.dst_port),
            (seen.src, seen.dst, seen.src_port, seen.dst_port),
            "#{error} quotes #{last}"
        );
        let mut p = HeapPacket::new(frame);
        assert_eq!(
            app.process(&snapshot(), &lab.ports, 0, &mut p, 20 * SEC),
            Verdict::Transmit { port: 0 },
            "#{error}"
        );
        assert_reply(frame, p.data());
        assert_eq!(
            geneve_header(p.data()),
            header.geneve_header(),
            "#{error} goes back with the flow's header"
        );
        assert_eq!(
            record_of(&app, &lab, quoted).unwrap(),
            header,
            "the flow's record is unchanged"
        );
    }
}

#[test]
fn inner_packets_of_8500_bytes_come_back_and_longer_ones_do_not() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    for n in [16, 17] {
        let frame = &frames[n - 1];
        let outer = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert_eq!(outer.total_len(), 8568, "#{n}");
        let inner = GenevePacket::new_checked(&frame[GENEVE_AT..]).unwrap();
        assert_eq!(inner.payload().len(), 8500, "#{n}");
        let mut p = HeapPacket::new(frame);
        assert_eq!(
            app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
            Verdict::Transmit { port: 0 },
            "#{n}"
        );
        assert_reply(frame, p.data());
    }
    for n in [18, 19] {
        let frame = &frames[n - 1];
        let inner = GenevePacket::new_checked(&frame[GENEVE_AT..]).unwrap();
        assert_eq!(inner.payload().len(), 8501, "#{n}");
        let mut p = HeapPacket::new(frame);
        assert_eq!(
            app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
            Verdict::Drop(DropReason::InnerTooLarge),
            "#{n}"
        );
    }
    assert_eq!(app.counters.drops_of(DropReason::InnerTooLarge), 2);
    assert_eq!(app.counters.tx_packets, 2);
}

#[test]
fn lying_and_truncated_lengths_are_dropped() {
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let frames = capture("appliance.pcap");
    for n in 30..=34 {
        let mut p = HeapPacket::new(&frames[n - 1]);
        assert_eq!(
            Expect::Dropped(match app.process(&snapshot(), &lab.ports, 0, &mut p, SEC) {
                Verdict::Drop(reason) => reason,
                other => panic!("#{n}: {other:?}"),
            }),
            APPLIANCE_PCAP[n - 1].1,
            "#{n} {}",
            APPLIANCE_PCAP[n - 1].0
        );
    }
    // An outer UDP length that ends after the GENEVE base header: the options lie past the
    // datagram, whatever bytes follow it in the IP packet.
    let mut short = frames[0].clone();
    short[14 + 20 + 4..14 + 20 + 8].copy_from_slice(&[0, 16, 0, 0]);
    let mut p = HeapPacket::new(&short);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::MalformedGeneve)
    );
    // An outer IPv4 total length shorter than the UDP datagram.
    let mut cut = frames[0].clone();
    let len = Ipv4Packet::new_checked(&cut[14..]).unwrap().total_len();
    let mut ip = Ipv4Packet::new_unchecked(&mut cut[14..]);
    ip.set_total_len(len - 20);
    ip.fill_checksum();
    let mut p = HeapPacket::new(&cut);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::MalformedTransport)
    );
    assert_eq!(app.counters.tx_packets, 0);
}

#[test]
fn nothing_but_gwlb_geneve_goes_back_into_gwlb() {
    // The appliance only ever answers GENEVE from a GWLB: a packet of a flow GWLB never sent,
    // unencapsulated, is not routed into GWLB, and nor is anything in plain.pcap, even
    // addressed to the appliance's MAC.
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let stray = &capture("appliance.pcap")[34];
    let mut p = HeapPacket::new(stray);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::NotForUs)
    );
    for (i, frame) in capture("plain.pcap").iter().enumerate() {
        let mut frame = frame.clone();
        if frame[..6] != [0xff; 6] {
            frame[..6].copy_from_slice(&APPLIANCE_MAC.0);
        }
        let mut p = HeapPacket::new(&frame);
        let verdict = app.process(&snapshot(), &lab.ports, 0, &mut p, SEC);
        assert!(
            matches!(verdict, Verdict::Drop(_)),
            "plain.pcap #{}: {verdict:?}",
            i + 1
        );
    }
    assert_eq!(app.counters.tx_packets, 0);
    assert_eq!(app.counters.new_flows, 0);
}

#[test]
fn only_udp_6081_is_geneve() {
    // GENEVE to another UDP port of the appliance is the kernel's business, never returned.
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let mut other = capture("appliance.pcap")[1].clone(); // no UDP checksum to patch
    other[14 + 20 + 2..14 + 20 + 4].copy_from_slice(&6082u16.to_be_bytes());
    let mut p = HeapPacket::new(&other);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Exception { port: 0 }
    );
    assert_eq!(p.data(), &other[..], "handed over unchanged");
    assert_eq!(app.counters.tx_packets, 0);
}

/// Whether a frame the appliance transmitted has valid outer checksums (a UDP checksum of 0 is
/// valid: none, for IPv4).
fn outer_checksums_valid(reply: &[u8]) -> bool {
    let ip = Ipv4Packet::new_checked(&reply[14..]).unwrap();
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    ip.verify_checksum()
        && (udp.checksum() == 0 || udp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()))
}

#[test]
fn a_bad_outer_udp_checksum_is_never_laundered() {
    // appliance.pcap #1 (UDP checksum 0x5a82) with one checksum byte flipped. The appliance
    // does not verify outer UDP checksums (a full pass over every packet); it only swaps the
    // outer addresses, which leaves the one's-complement sum as it was, so a packet corrupted
    // on the way in is still detectably corrupt on the way back and GWLB drops it. What it
    // must never do is recompute the checksum over corrupted bytes.
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let mut bad = capture("appliance.pcap")[0].clone();
    bad[14 + 20 + 6] ^= 0x55;
    let mut p = HeapPacket::new(&bad);
    let verdict = app.process(&snapshot(), &lab.ports, 0, &mut p, SEC);
    assert!(
        matches!(verdict, Verdict::Drop(_)) || !outer_checksums_valid(p.data()),
        "{verdict:?}: a corrupt packet went back with a valid checksum"
    );
}

#[test]
fn a_bad_outer_ipv4_header_checksum_is_dropped() {
    // appliance.pcap #1 with its outer IPv4 header checksum flipped: dropped as MalformedIp,
    // never answered.
    let lab = Lab::new();
    let mut app = Appliance::new(&lab.table, &lab.records);
    let mut bad = capture("appliance.pcap")[0].clone();
    bad[14 + 10] ^= 0x55;
    let mut p = HeapPacket::new(&bad);
    assert_eq!(
        app.process(&snapshot(), &lab.ports, 0, &mut p, SEC),
        Verdict::Drop(DropReason::MalformedIp)
    );
}
