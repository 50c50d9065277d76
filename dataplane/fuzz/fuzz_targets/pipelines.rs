//! Whole pipelines on arbitrary frames: the gateway (on its endpoint port and its target
//! port) and the appliance never panic, never report a transmit of an empty frame, and keep
//! their counters consistent; under a policy that rejects, the answers it makes in place
//! have whole outer headers. Frames that are GWLB GENEVE in shape reach the deep paths
//! because the fuzzer starts from the golden captures.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::flow::Stickiness;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::maglev::{TargetInfo, TargetState};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::policy::{Action, Policy, PolicyDefinition, Rule};
use sluice_engine::snapshot::{ApplianceSnapshot, GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{SEC, endpoint, gateway_snapshot, lab_ports};
use sluice_wire::ethernet::EthernetAddress;
use sluice_wire::ipv4::Ipv4Packet;

struct World {
    ports: Vec<PortInfo>,
    gateway: GatewaySnapshot,
    appliance: ApplianceSnapshot,
    /// The same appliance under a policy that denies, rejects and requires SYNs, so that
    /// the reset and unreachable rewrites see arbitrary packets too.
    strict: ApplianceSnapshot,
    strict_table: FlowTable,
    gateway_table: FlowTable,
    appliance_table: FlowTable,
    records: FlowRecords,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        // The lab of sluice_engine::testkit, with its appliance port at 10.0.1.10 (MAC
        // 02:00:00:00:01:0a) and GWLB at 10.0.0.0/24, the addresses of the golden captures.
        let targets: Vec<TargetInfo> = [10u8, 11]
            .iter()
            .map(|i| TargetInfo {
                ip: Ipv4Addr::new(10, 0, 1, *i),
                zone: "az1".into(),
                state: TargetState::Healthy,
            })
            .collect();
        let mut ports = lab_ports(&targets.iter().map(|t| t.ip).collect::<Vec<_>>());
        ports[1].address = Ipv4Addr::new(10, 0, 1, 10);
        ports[1].mac = EthernetAddress([0x02, 0, 0, 0, 0x01, 0x0a]);
        let mut gateway = gateway_snapshot(
            &targets,
            false,
            Stickiness::FiveTuple,
            vec![
                endpoint(0x0123_4567_89ab_cdef, None, true),
                endpoint(7, Some(100), true),
            ],
        );
        gateway.attributes.rebalance = true;
        gateway.attributes.reset_on_idle_timeout = true;
        gateway.attributes.reset_on_unhealthy = true;
        gateway.attributes.reset_on_deregistration = true;
        gateway.resolve_targets(&ports);
        World {
            gateway,
            appliance: ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 0, 0), 24)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: Some(1200),
                policy: std::sync::Arc::new(sluice_engine::policy::Policy::allow_all()),
            },
            strict: ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 0, 0), 24)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: None,
                policy: std::sync::Arc::new(strict_policy()),
            },
            strict_table: FlowTable::new(1024).expect("table"),
            ports,
            gateway_table: FlowTable::new(1024).expect("table"),
            appliance_table: FlowTable::new(1024).expect("table"),
            records: FlowRecords::new(1024),
        }
    })
}

/// Rejects TCP below 1024 and all UDP, denies ICMP echo, allows the rest; strict TCP.
fn strict_policy() -> Policy {
    let rule = |name: &str, action, protocols: Vec<u8>| Rule {
        name: name.into(),
        action,
        endpoints: None,
        sources: None,
        destinations: None,
        protocols: Some(protocols),
        ports: None,
        icmp_types: None,
    };
    Policy::new(PolicyDefinition {
        rules: vec![
            Rule {
                ports: Some(vec![(0, 1023)]),
                ..rule("low-tcp", Action::Reject, vec![6])
            },
            rule("udp", Action::Reject, vec![17]),
            Rule {
                icmp_types: Some(vec![8, 128]),
                ..rule("echo", Action::Deny, vec![1, 58])
            },
        ],
        default_action: Action::Allow,
        strict_tcp: true,
    })
    .expect("policy")
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let mut gateway = Gateway::new(&w.gateway_table);
    let mut appliance = Appliance::new(&w.appliance_table, &w.records);
    let mut strict = Appliance::new(&w.strict_table, &w.records);
    for port in 0..2u16 {
        let mut packet = HeapPacket::new(data);
        let v = gateway.process(&w.gateway, &w.ports, port, &mut packet, SEC);
        if let Verdict::Transmit { .. } = v {
            assert!(!packet.data().is_empty());
        }
        let mut packet = HeapPacket::new(data);
        let v = appliance.process(&w.appliance, &w.ports[1..], 0, &mut packet, SEC);
        if let Verdict::Transmit { .. } = v {
            assert_eq!(
                packet.data().len(),
                data.len(),
                "replies keep the packet's length"
            );
        }
        let mut packet = HeapPacket::new(data);
        let v = strict.process(&w.strict, &w.ports[1..], 0, &mut packet, SEC);
        if let Verdict::Transmit { .. } = v {
            // A reply or an answer made in place: whole outer headers with a valid IPv4
            // checksum whose lengths match the frame (untagged, as GWLB sends).
            let frame = packet.data();
            if frame.get(12..14) == Some(&[0x08, 0x00]) {
                let ip = Ipv4Packet::new_checked(&frame[14..]).expect("outer IPv4");
                assert!(ip.verify_checksum());
                assert!(usize::from(ip.total_len()) <= frame.len() - 14);
            }
        }
    }
    // Every packet has one verdict; a reset is also counted as the drop it answers.
    let c = &gateway.counters;
    assert_eq!(
        c.rx_packets + c.tcp_resets,
        c.tx_packets + c.exception_packets + c.total_drops()
    );
    for c in [&appliance.counters, &strict.counters] {
        assert_eq!(
            c.rx_packets,
            c.tx_packets + c.exception_packets + c.total_drops()
        );
    }
});
