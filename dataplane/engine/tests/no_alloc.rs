//! The packet path never allocates: an instrumented global allocator watches the gateway
//! process new flows, established flows, returns, resets and drops, one packet at a time and
//! in bursts, and the appliance answer its flows both ways too.
//!
//! This file is its own test binary, so the allocator counts nothing but this test.

#![expect(clippy::unwrap_used, reason = "fixtures must be valid")]

use std::alloc::System;
use std::net::Ipv4Addr;

use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{ROUTER_MAC, SEC, frame, mac, simple_lab, tcp4};
use sluice_wire::ethernet::EthernetAddress;
use sluice_wire::tcp::TcpFlags;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn setup() -> (Vec<PortInfo>, GatewaySnapshot) {
    let (ports, mut snapshot) = simple_lab(4);
    snapshot.attributes.rebalance = true;
    snapshot.attributes.reset_on_idle_timeout = true;
    (ports, snapshot)
}

/// Ethernet / IPv4 / TCP from client 192.168.0.`n`:51000 to 198.51.100.7:443.
fn tcp_frame(n: u8, flags: TcpFlags) -> Vec<u8> {
    let l3 = tcp4(
        Ipv4Addr::new(192, 168, 0, n),
        Ipv4Addr::new(198, 51, 100, 7),
        51000,
        443,
        flags,
        &[],
    );
    frame(mac(1), mac(ROUTER_MAC), None, &l3)
}

/// One test function: the allocator's counts are process-wide, and the harness allocates
/// when it starts another test's thread, so both pipelines are measured in turn here.
#[test]
fn the_packet_paths_allocate_nothing() {
    gateway_allocates_nothing();
    appliance_allocates_nothing();
}

fn gateway_allocates_nothing() {
    let (ports, snapshot) = setup();
    let table = FlowTable::new(1024).unwrap();
    let mut gw = Gateway::new(&table);
    let syns: Vec<Vec<u8>> = (0..64).map(|n| tcp_frame(n, TcpFlags::SYN)).collect();
    let acks: Vec<Vec<u8>> = (0..64).map(|n| tcp_frame(n, TcpFlags::ACK)).collect();
    let strays: Vec<Vec<u8>> = (64..128).map(|n| tcp_frame(n, TcpFlags::ACK)).collect();
    let mut packet = HeapPacket::new(&[0; 2048]);
    let mut returned = vec![0u8; 2048];
    let mut verdicts = [0usize; 3];
    // A burst longer than a chunk, in buffers sized before the region starts.
    let mut burst: Vec<Option<HeapPacket>> = (0..100)
        .map(|_| Some(HeapPacket::new(&[0; 2048])))
        .collect();
    let mut burst_verdicts = vec![None; burst.len()];

    let region = Region::new(GLOBAL);
    for round in 0..4u64 {
        let now = (round + 1) * SEC;
        for (syn, ack) in syns.iter().zip(&acks) {
            for frame in [syn, ack] {
                packet.reset(frame);
                let v = gw.process(&snapshot, &ports, 0, &mut packet, now);
                assert!(matches!(v, Verdict::Transmit { port: 1 }));
                verdicts[0] += 1;
            }
            // The appliance's return of the last packet: outer addresses swapped.
            let len = packet.data().len();
            returned[..len].copy_from_slice(packet.data());
            // Outer MACs and IPs swapped, through the spare bytes past the frame.
            returned.copy_within(0..6, len);
            returned.copy_within(6..12, 0);
            returned.copy_within(len..len + 6, 6);
            returned.copy_within(26..30, len);
            returned.copy_within(30..34, 26);
            returned.copy_within(len..len + 4, 30);
            packet.reset(&returned[..len]);
            let v = gw.process(&snapshot, &ports, 1, &mut packet, now);
            assert_eq!(v, Verdict::Transmit { port: 0 });
            verdicts[1] += 1;
        }
        for stray in &strays {
            packet.reset(stray);
            let v = gw.process(&snapshot, &ports, 0, &mut packet, now);
            assert_eq!(v, Verdict::Transmit { port: 0 }, "answered with a reset");
            verdicts[2] += 1;
        }
    }
    // Established flows, new flows and resets in bursts.
    for round in 0..4u64 {
        for (i, slot) in burst.iter_mut().enumerate() {
            let frames = [&acks, &strays, &syns][i % 3];
            if let Some(p) = slot {
                p.reset(&frames[i % 64]);
            }
        }
        let now = (round + 5) * SEC;
        gw.process_burst(&snapshot, &ports, 0, &mut burst, now, &mut burst_verdicts);
        assert!(
            burst_verdicts
                .iter()
                .all(|v| matches!(v, Some(Verdict::Transmit { .. })))
        );
    }
    let stats = region.change();
    assert_eq!(verdicts, [512, 256, 256]);
    assert_eq!(gw.counters.new_flows, 64);
    assert_eq!(gw.counters.tcp_resets, 256 + 4 * 33);
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "the packet path allocated: {stats:?}"
    );
}

fn appliance_allocates_nothing() {
    use sluice_engine::appliance::{Appliance, FlowRecords};
    use sluice_engine::snapshot::ApplianceSnapshot;

    // The gateway makes GWLB-shaped packets; the appliance answers them.
    let (ports, snapshot) = setup();
    let table = FlowTable::new(1024).unwrap();
    let mut gw = Gateway::new(&table);
    let mut packet = HeapPacket::new(&[0; 2048]);
    let requests: Vec<Vec<u8>> = (0..64)
        .map(|n| {
            packet.reset(&tcp_frame(n, TcpFlags::SYN));
            gw.process(&snapshot, &ports, 0, &mut packet, SEC);
            packet.data().to_vec()
        })
        .collect();
    let appliance_ports: Vec<PortInfo> = requests
        .iter()
        .take(1)
        .map(|r| PortInfo {
            name: "gwlb".into(),
            mac: EthernetAddress(r[0..6].try_into().unwrap()),
            address: Ipv4Addr::new(r[30], r[31], r[32], r[33]),
            prefix_len: 24,
            neighbors: vec![],
            gateway: None,
        })
        .collect();
    let app_snapshot = ApplianceSnapshot {
        gwlb_sources: vec![(Ipv4Addr::new(10, 0, 1, 0), 24)],
        tcp_idle_timeout_ns: 350 * SEC,
        other_idle_timeout_ns: 120 * SEC,
        mss_clamp: Some(1200),
        policy: std::sync::Arc::new(sluice_engine::policy::Policy::allow_all()),
    };
    let app_table = FlowTable::new(1024).unwrap();
    let records = FlowRecords::new(1024);
    let mut app = Appliance::new(&app_table, &records);
    let mut transmitted = 0;
    let mut burst: Vec<Option<HeapPacket>> = (0..requests.len())
        .map(|_| Some(HeapPacket::new(&[0; 2048])))
        .collect();
    let mut burst_verdicts = vec![None; burst.len()];

    let region = Region::new(GLOBAL);
    for round in 0..4u64 {
        for request in &requests {
            packet.reset(request);
            let v = app.process(
                &app_snapshot,
                &appliance_ports,
                0,
                &mut packet,
                (round + 1) * SEC,
            );
            transmitted += usize::from(v == Verdict::Transmit { port: 0 });
        }
    }
    for round in 0..4u64 {
        for (slot, request) in burst.iter_mut().zip(&requests) {
            if let Some(p) = slot {
                p.reset(request);
            }
        }
        app.process_burst(
            &app_snapshot,
            &appliance_ports,
            0,
            &mut burst,
            (round + 5) * SEC,
            &mut burst_verdicts,
        );
        transmitted += burst_verdicts
            .iter()
            .filter(|v| **v == Some(Verdict::Transmit { port: 0 }))
            .count();
    }
    let stats = region.change();
    // Only requests to the first target's address are the appliance's (one address).
    assert!(transmitted > 0);
    assert_eq!(app.counters.tx_packets as usize, transmitted);
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{stats:?}"
    );
}
