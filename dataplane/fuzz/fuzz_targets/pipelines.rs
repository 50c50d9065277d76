//! Whole pipelines on arbitrary frames: the gateway (on its endpoint port and its target
//! port) and the appliance never panic, never report a transmit of an empty frame, and keep
//! their counters consistent. Frames that are GWLB GENEVE in shape reach the deep paths
//! because the fuzzer starts from the golden captures.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::flow::Stickiness;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::maglev::{self, TargetInfo, TargetState};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{
    ApplianceSnapshot, Endpoint, FlowAttributes, GatewaySnapshot, PortInfo, Target,
};
use sluice_wire::ethernet::EthernetAddress;

const SEC: u64 = 1_000_000_000;

struct World {
    ports: Vec<PortInfo>,
    gateway: GatewaySnapshot,
    appliance: ApplianceSnapshot,
    gateway_table: FlowTable,
    appliance_table: FlowTable,
    records: FlowRecords,
}

fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, last])
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // The golden captures' addresses: GWLB node 10.0.0.1 (MAC ..:01), appliance 10.0.1.10.
        let targets: Vec<TargetInfo> = [10u8, 11]
            .iter()
            .map(|i| TargetInfo {
                ip: Ipv4Addr::new(10, 0, 1, *i),
                zone: "az1".into(),
                state: TargetState::Healthy,
            })
            .collect();
        let ports = vec![
            PortInfo {
                name: "a".into(),
                mac: mac(1),
                address: Ipv4Addr::new(10, 0, 0, 1),
                prefix_len: 24,
                neighbors: vec![(Ipv4Addr::new(10, 0, 0, 254), mac(0xfe))],
                gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
            },
            PortInfo {
                name: "b".into(),
                mac: EthernetAddress([0x02, 0, 0, 0, 0x01, 0x0a]),
                address: Ipv4Addr::new(10, 0, 1, 10),
                prefix_len: 24,
                neighbors: targets.iter().map(|t| (t.ip, mac(t.ip.octets()[3]))).collect(),
                gateway: None,
            },
        ];
        World {
            gateway: GatewaySnapshot {
                attributes: FlowAttributes {
                    stickiness: Stickiness::FiveTuple,
                    tcp_idle_timeout_ns: 350 * SEC,
                    other_idle_timeout_ns: 120 * SEC,
                    rebalance: true,
                    deregistration_delay_ns: 300 * SEC,
                    reset_on_idle_timeout: true,
                    reset_on_unhealthy: true,
                    reset_on_deregistration: true,
                },
                new_flows: maglev::build_view(&targets, "az1", false, 251).expect("view"),
                target_index: targets.iter().enumerate().map(|(i, t)| (t.ip, i as u16)).collect(),
                targets: targets
                    .iter()
                    .map(|t| Target {
                        ip: t.ip,
                        zone: t.zone.clone(),
                        state: t.state,
                        draining_since_ns: None,
                    })
                    .collect(),
                endpoints: vec![
                    Endpoint {
                        id: 0x0123_4567_89ab_cdef,
                        attachment_id: 0x1122_3344_5566_7788,
                        port: 0,
                        vlan: None,
                        next_hop: Ipv4Addr::new(10, 0, 0, 254),
                        available: true,
                        zone: "az1".into(),
                    },
                    Endpoint {
                        id: 7,
                        attachment_id: 7,
                        port: 0,
                        vlan: Some(100),
                        next_hop: Ipv4Addr::new(10, 0, 0, 254),
                        available: true,
                        zone: "az1".into(),
                    },
                ],
                target_port: 1,
            },
            appliance: ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 0, 0), 24)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: Some(1200),
            },
            ports,
            gateway_table: FlowTable::new(1024).expect("table"),
            appliance_table: FlowTable::new(1024).expect("table"),
            records: FlowRecords::new(1024),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let mut gateway = Gateway::new(&w.gateway_table);
    let mut appliance = Appliance::new(&w.appliance_table, &w.records);
    for port in 0..2u16 {
        let mut packet = HeapPacket::new(data);
        let v = gateway.process(&w.gateway, &w.ports, port, &mut packet, SEC);
        if let Verdict::Transmit { .. } = v {
            assert!(!packet.data().is_empty());
        }
        let mut packet = HeapPacket::new(data);
        let v = appliance.process(&w.appliance, &w.ports[1..], 0, &mut packet, SEC);
        if let Verdict::Transmit { .. } = v {
            assert_eq!(packet.data().len(), data.len(), "replies keep the packet's length");
        }
    }
    // Every packet has one verdict; a reset is also counted as the drop it answers.
    let c = &gateway.counters;
    assert_eq!(
        c.rx_packets + c.tcp_resets,
        c.tx_packets + c.exception_packets + c.total_drops()
    );
    let c = &appliance.counters;
    assert_eq!(c.rx_packets, c.tx_packets + c.exception_packets + c.total_drops());
});
