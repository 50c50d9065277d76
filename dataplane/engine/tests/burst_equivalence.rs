//! The burst forms of both pipelines answer exactly as the one-packet forms called in order:
//! randomized bursts of a mixed traffic pool (new and established flows in both directions,
//! several packets of one new flow in a burst, resets, rebalancing, ICMP errors, returns with
//! live and stale cookies, ARP, the kernel's traffic, drops, empty slots) go through both
//! forms over twin flow tables, and every verdict, every frame, the counters, the tables and
//! the appliance's header records must agree after every burst.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail loudly on fixtures that must be valid"
)]

use std::net::{Ipv4Addr, Ipv6Addr};

use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::counters::DropReason;
use sluice_engine::flow::Stickiness;
use sluice_engine::flow_table::{ExpiryCursor, FlowTable};
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::maglev::{TargetInfo, TargetState};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::policy::{Action, Cidr, Policy, PolicyDefinition, Rule};
use sluice_engine::snapshot::{ApplianceSnapshot, GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{
    APPLIANCES, GW_UPLINK, ROUTER, ROUTER_MAC, SEC, UPLINK, endpoint, frame, gateway_snapshot,
    ipv4, lab_ports, mac, swap_outer, tcp4, udp4, udp6,
};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::tcp::TcpFlags;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const TARGETS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 1, 10),
    Ipv4Addr::new(10, 0, 1, 11),
    Ipv4Addr::new(10, 0, 1, 12),
];
const ENDPOINT: u64 = 0x0a1b_2c3d_4e5f_6071;
const VLAN_ENDPOINT: u64 = 0x0f1e_2d3c_4b5a_6978;
/// Clients in the pool: more than a chunk's worth of flows.
const CLIENTS: u8 = 40;
/// Flow-table capacity of every table here (small, so windows fill and flows get evicted).
const CAPACITY: usize = 1024;

/// SplitMix64: a small deterministic generator, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn client(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 7, n)
}

fn from_router(vlan: Option<u16>, l3: &[u8]) -> Vec<u8> {
    frame(mac(1), mac(ROUTER_MAC), vlan, l3)
}

/// An ARP request from the router for `target`.
fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&mac(ROUTER_MAC).0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac(ROUTER_MAC).0);
    f.extend_from_slice(&ROUTER.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

/// An ICMPv4 destination-unreachable from a router toward client `n`, quoting the client's
/// TCP packet to the server (so it rides that flow).
fn icmp_error(n: u8) -> Vec<u8> {
    let quoted = tcp4(
        client(n),
        SERVER,
        40000 + u16::from(n),
        443,
        TcpFlags::ACK,
        &[],
    );
    let mut l3 = ipv4(
        Ipv4Addr::new(192, 168, 7, 254),
        client(n),
        IpProtocol::Icmp,
        8 + 28,
    );
    l3[20] = 3;
    l3[21] = 1;
    l3[28..].copy_from_slice(&quoted[..28]);
    from_router(None, &l3)
}

/// The gateway's traffic pool, on the uplink.
fn gateway_pool() -> Vec<Vec<u8>> {
    let mut pool = Vec::new();
    for n in 1..=CLIENTS {
        let sport = 40000 + u16::from(n);
        for flags in [TcpFlags::SYN, TcpFlags::ACK, TcpFlags::ACK | TcpFlags::PSH] {
            pool.push(from_router(
                None,
                &tcp4(client(n), SERVER, sport, 443, flags, b"x"),
            ));
        }
        // The server's side of the same flow.
        pool.push(from_router(
            None,
            &tcp4(SERVER, client(n), 443, sport, TcpFlags::ACK, &[]),
        ));
        pool.push(from_router(
            None,
            &udp4(client(n), SERVER, sport, 53, b"query"),
        ));
        pool.push(from_router(
            None,
            &udp4(SERVER, client(n), 53, sport, b"answer"),
        ));
    }
    for n in 1..=8u8 {
        pool.push(from_router(
            Some(100),
            &udp4(client(n), SERVER, 5000, 53, b"tagged"),
        ));
        let v6 = |last: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last);
        pool.push(from_router(
            None,
            &udp6(v6(u16::from(n)), v6(0x100), 6000, 53, b"six"),
        ));
        pool.push(icmp_error(n));
    }
    pool.push(arp_request(GW_UPLINK));
    pool.push(arp_request(Ipv4Addr::new(10, 0, 0, 99)));
    pool.push(from_router(
        None,
        &udp4(ROUTER, GW_UPLINK, 5000, 161, b"kernel"),
    ));
    pool.push(from_router(
        Some(300),
        &udp4(client(1), SERVER, 1, 2, b"nowhere"),
    ));
    pool.push(vec![0; 10]);
    let mut other_mac = from_router(None, &udp4(client(1), SERVER, 1, 2, b"not ours"));
    other_mac[5] = 0x77;
    pool.push(other_mac);
    pool
}

/// The gateway's snapshots, one chosen per burst: all healthy, a target unhealthy with its
/// TCP flows reset, a target unhealthy with its flows rebalanced. Non-SYN misses are reset.
fn gateway_snapshots() -> Vec<GatewaySnapshot> {
    let make = |states: [TargetState; 3], rebalance: bool, reset_on_unhealthy: bool| {
        let infos: Vec<TargetInfo> = TARGETS
            .iter()
            .zip(states)
            .map(|(ip, state)| TargetInfo {
                ip: *ip,
                zone: "az1".into(),
                state,
            })
            .collect();
        let mut s = gateway_snapshot(
            &infos,
            false,
            Stickiness::FiveTuple,
            vec![
                endpoint(ENDPOINT, None, true),
                endpoint(VLAN_ENDPOINT, Some(100), true),
            ],
        );
        s.attributes.reset_on_idle_timeout = true;
        s.attributes.rebalance = rebalance;
        s.attributes.reset_on_unhealthy = reset_on_unhealthy;
        s
    };
    use TargetState::{Healthy, Unhealthy};
    vec![
        make([Healthy; 3], false, false),
        make([Unhealthy, Healthy, Healthy], false, true),
        make([Healthy, Unhealthy, Healthy], true, false),
    ]
}

/// One side of the comparison: a pipeline's frames and verdicts for one burst.
type Outcome = Vec<Option<(Verdict, Vec<u8>)>>;

/// A burst of frames drawn from `source`, with a few empty slots.
fn burst(rng: &mut Rng, source: &[Vec<u8>]) -> Vec<Option<Vec<u8>>> {
    // Mostly the runtime's bursts (up to 32), sometimes long ones that span chunks.
    let len = if rng.chance(30) {
        1 + rng.below(256)
    } else {
        1 + rng.below(32)
    };
    (0..len)
        .map(|_| (!rng.chance(5)).then(|| source[rng.below(source.len())].clone()))
        .collect()
}

/// Runs a burst through `one` packet at a time and returns the verdicts and frames.
fn one_by_one(
    slots: &[Option<Vec<u8>>],
    mut process: impl FnMut(&mut HeapPacket) -> Verdict,
) -> Outcome {
    slots
        .iter()
        .map(|slot| {
            slot.as_ref().map(|f| {
                let mut p = HeapPacket::new(f);
                let v = process(&mut p);
                (v, p.data().to_vec())
            })
        })
        .collect()
}

/// Runs a burst through a burst form and returns the verdicts and frames; empty slots must
/// get no verdict.
fn as_burst(
    slots: &[Option<Vec<u8>>],
    process: impl FnOnce(&mut [Option<HeapPacket>], &mut [Option<Verdict>]),
) -> Outcome {
    let mut packets: Vec<Option<HeapPacket>> = slots
        .iter()
        .map(|s| s.as_ref().map(|f| HeapPacket::new(f)))
        .collect();
    // Stale verdicts, which the burst form must overwrite.
    let mut verdicts = vec![Some(Verdict::Exception { port: 99 }); packets.len()];
    process(&mut packets, &mut verdicts);
    packets
        .iter()
        .zip(&verdicts)
        .map(|(p, v)| {
            assert_eq!(p.is_some(), v.is_some(), "a verdict for each frame only");
            p.as_ref().map(|p| (v.unwrap(), p.data().to_vec()))
        })
        .collect()
}

/// Asserts two outcomes agree, slot by slot (a whole burst would be too long to read).
fn same(got: &Outcome, expected: &Outcome, round: usize) {
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(
            g, e,
            "round {round}, slot {i}: burst form left, one by one right"
        );
    }
}

#[test]
fn gateway_bursts_match_packets_in_order() {
    let ports = lab_ports(&TARGETS);
    let snapshots = gateway_snapshots();
    let pool = gateway_pool();
    let (one_table, burst_table) = (
        FlowTable::new(CAPACITY).unwrap(),
        FlowTable::new(CAPACITY).unwrap(),
    );
    let mut one = Gateway::new(&one_table);
    let mut many = Gateway::new(&burst_table);
    let (mut one_cursor, mut burst_cursor) = (ExpiryCursor::new(), ExpiryCursor::new());
    let mut rng = Rng(0x5eed);
    let mut returns: Vec<Vec<u8>> = Vec::new();
    let mut now = SEC;
    for round in 0..400 {
        let snapshot = &snapshots[rng.below(snapshots.len())];
        now += rng.below(40) as u64 * SEC;
        if rng.chance(10) {
            // Idle flows go, alike in both tables.
            let timeout = |k: &_| snapshot.attributes.idle_timeout_ns(k);
            one_table.expire(now, &mut one_cursor, CAPACITY, timeout, |_| {});
            burst_table.expire(now, &mut burst_cursor, CAPACITY, timeout, |_| {});
        }
        // Returns come on the appliances' port, the rest on the uplink; a burst has one port.
        let port = if !returns.is_empty() && rng.chance(30) {
            APPLIANCES
        } else {
            UPLINK
        };
        let slots = burst(&mut rng, if port == APPLIANCES { &returns } else { &pool });
        let expected = one_by_one(&slots, |p| one.process(snapshot, &ports, port, p, now));
        let got = as_burst(&slots, |packets, verdicts| {
            many.process_burst(snapshot, &ports, port, packets, now, verdicts)
        });
        same(&got, &expected, round);
        assert_eq!(many.counters, one.counters, "round {round}");
        assert_eq!(burst_table.stats(), one_table.stats(), "round {round}");

        // Encapsulated frames come back later as the appliance's returns, cookies and all.
        for (v, f) in expected.iter().flatten() {
            if *v == (Verdict::Transmit { port: APPLIANCES }) && returns.len() < 256 {
                returns.push(swap_outer(f));
            } else if *v == (Verdict::Transmit { port: APPLIANCES }) {
                let at = rng.below(returns.len());
                returns[at] = swap_outer(f);
            }
        }
    }
    // The mix reached every path the burst form treats apart.
    let c = &one.counters;
    assert!(
        c.new_flows > 100 && c.tcp_resets > 10 && c.rebalanced_flows > 0,
        "{c:?}"
    );
    assert!(c.exception_packets > 0 && c.arp_replies > 0, "{c:?}");
    assert!(one_table.stats().removals > 0, "{:?}", one_table.stats());
}

#[test]
fn appliance_bursts_match_packets_in_order() {
    // The gateway makes GWLB-shaped requests toward all three targets; the appliance is the
    // first, so requests for the others are not its own.
    let ports = lab_ports(&TARGETS);
    let snapshot = &gateway_snapshots()[0];
    let mut requests = Vec::new();
    for gateway_round in 0..2 {
        // A second gateway table gives the same flows other cookies (the header record of a
        // flow then changes).
        let table = FlowTable::new(CAPACITY).unwrap();
        let mut gw = Gateway::new(&table);
        for n in 1..=CLIENTS {
            let sport = 40000 + u16::from(n) + gateway_round;
            for l3 in [
                tcp4(client(n), SERVER, sport, 443, TcpFlags::SYN, &[]),
                tcp4(client(n), SERVER, sport, 443, TcpFlags::ACK, b"data"),
                udp4(client(n), SERVER, 7000, 53, b"query"),
            ] {
                let mut p = HeapPacket::new(&from_router(None, &l3));
                if gw.process(snapshot, &ports, UPLINK, &mut p, SEC)
                    == (Verdict::Transmit { port: APPLIANCES })
                {
                    requests.push(p.data().to_vec());
                }
            }
            // ICMP errors about the TCP flows, which ride them through GWLB and the appliance.
            {
                let mut p = HeapPacket::new(&icmp_error(n));
                if gw.process(snapshot, &ports, UPLINK, &mut p, SEC)
                    == (Verdict::Transmit { port: APPLIANCES })
                {
                    requests.push(p.data().to_vec());
                }
            }
        }
    }
    let template = requests[0].clone();
    let app_ports = vec![PortInfo {
        name: "gwlb".into(),
        mac: mac(TARGETS[0].octets()[3]),
        address: TARGETS[0],
        prefix_len: 24,
        neighbors: vec![],
        gateway: None,
    }];
    let mut foreign = template.clone();
    foreign[26..30].copy_from_slice(&[10, 9, 9, 9]);
    Ipv4Packet::new_unchecked(&mut foreign[14..]).fill_checksum();
    requests.push(foreign);
    requests.push(arp_request(TARGETS[0]));
    requests.push(frame(
        mac(10),
        mac(2),
        None,
        &udp4(Ipv4Addr::new(10, 0, 1, 1), TARGETS[0], 5000, 22, b"ssh"),
    ));
    requests.push(vec![1; 20]);

    // Two policies that deny and reject different clients (strict TCP in the first), swapped
    // every 60 rounds as a reload would, so that flows are decided again at their next packet.
    let policies = [policy(1, true), policy(2, false)];
    let mut app_snapshot = ApplianceSnapshot {
        gwlb_sources: vec![(Ipv4Addr::new(10, 0, 1, 0), 24)],
        tcp_idle_timeout_ns: 350 * SEC,
        other_idle_timeout_ns: 120 * SEC,
        mss_clamp: Some(1200),
        policy: std::sync::Arc::new(policies[0].clone_with_generation(0)),
    };
    let (one_table, burst_table) = (
        FlowTable::new(CAPACITY).unwrap(),
        FlowTable::new(CAPACITY).unwrap(),
    );
    let (one_records, burst_records) = (FlowRecords::new(CAPACITY), FlowRecords::new(CAPACITY));
    let mut one = Appliance::new(&one_table, &one_records);
    let mut many = Appliance::new(&burst_table, &burst_records);
    let (mut one_cursor, mut burst_cursor) = (ExpiryCursor::new(), ExpiryCursor::new());
    let mut rng = Rng(0xa991_1a4c);
    let mut now = SEC;
    for round in 0..300 {
        if round % 60 == 59 {
            let generation = app_snapshot.policy.generation() + 1;
            app_snapshot.policy = std::sync::Arc::new(
                policies[generation as usize % 2].clone_with_generation(generation),
            );
        }
        now += rng.below(60) as u64 * SEC;
        if rng.chance(10) {
            let timeout = |k: &_| app_snapshot.idle_timeout_ns(k);
            one_table.expire(now, &mut one_cursor, CAPACITY, timeout, |_| {});
            burst_table.expire(now, &mut burst_cursor, CAPACITY, timeout, |_| {});
        }
        let slots = burst(&mut rng, &requests);
        let expected = one_by_one(&slots, |p| {
            one.process(&app_snapshot, &app_ports, 0, p, now)
        });
        let got = as_burst(&slots, |packets, verdicts| {
            many.process_burst(&app_snapshot, &app_ports, 0, packets, now, verdicts)
        });
        same(&got, &expected, round);
        assert_eq!(many.counters, one.counters, "round {round}");
        assert_eq!(burst_table.stats(), one_table.stats(), "round {round}");
        for slot in 0..CAPACITY as u32 {
            assert_eq!(
                burst_records.load(slot),
                one_records.load(slot),
                "round {round} record {slot}"
            );
        }
    }
    let c = &one.counters;
    assert!(c.new_flows > 50 && c.tx_packets > 1000, "{c:?}");
    assert!(c.arp_replies > 0 && c.exception_packets > 0, "{c:?}");
    assert!(one_table.stats().expiries > 0, "{:?}", one_table.stats());
    assert!(c.policy_rejects > 0, "{c:?}");
    for reason in [DropReason::PolicyDenied, DropReason::TcpNoFlow] {
        assert!(c.drops_of(reason) > 0, "{reason}: {c:?}");
    }
}

/// A policy over the clients: policy `n` denies clients whose number is `n` modulo 5 and
/// rejects those `n + 1` modulo 5; the rest are allowed by default.
fn policy(n: u8, strict_tcp: bool) -> PolicyDefinition {
    let clients = |residue: u8| -> Vec<Cidr> {
        (1..=CLIENTS)
            .filter(|c| c % 5 == residue % 5)
            .map(|c| Cidr {
                addr: client(c).into(),
                prefix_len: 32,
            })
            .collect()
    };
    let rule = |name: &str, action, residue| Rule {
        name: name.into(),
        action,
        endpoints: None,
        sources: Some(clients(residue)),
        destinations: None,
        protocols: None,
        ports: None,
        icmp_types: None,
    };
    PolicyDefinition {
        rules: vec![
            rule("deny", Action::Deny, n),
            rule("reject", Action::Reject, n + 1),
        ],
        default_action: Action::Allow,
        strict_tcp,
    }
}

/// Compiles a policy definition under a generation.
trait CloneWithGeneration {
    fn clone_with_generation(&self, generation: u32) -> Policy;
}

impl CloneWithGeneration for PolicyDefinition {
    fn clone_with_generation(&self, generation: u32) -> Policy {
        let mut policy = Policy::new(self.clone()).unwrap();
        policy.set_generation(generation);
        policy
    }
}
