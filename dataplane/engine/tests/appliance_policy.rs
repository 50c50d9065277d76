//! Packet vectors for the appliance's inspection policy: GENEVE made by the gateway pipeline
//! (GWLB's format) goes through an appliance with rules, and what comes back — a returned
//! packet, a RST or ICMP unreachable inside the tunnel, or a counted drop — is checked byte by
//! byte; rejects are fed on into the gateway's return path, which must accept them.

#![expect(clippy::unwrap_used, reason = "fixtures must be valid")]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::counters::DropReason;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::policy::{Action, Cidr, Policy, PolicyDefinition, Rule};
use sluice_engine::snapshot::{ApplianceSnapshot, GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{
    APPLIANCES, ROUTER_MAC, SEC, SIMPLE_ENDPOINT, UPLINK, frame, ipv4, mac, simple_lab, tcp4, udp4,
    udp6,
};
use sluice_wire::icmpv4::{Icmpv4Packet, Icmpv4Repr};
use sluice_wire::icmpv6::Icmpv6Packet;
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::ipv6::Ipv6Packet;
use sluice_wire::tcp::{TcpFlags, TcpPacket};
use sluice_wire::udp::UdpPacket;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 7, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const APPLIANCE: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
/// Outer Ethernet + IPv4 + UDP: where GENEVE starts in the gateway's frames.
const GENEVE_AT: usize = 14 + 20 + 8;
/// The gateway's GENEVE header with GWLB's three options.
const GENEVE_LEN: usize = 40;
const INNER_AT: usize = GENEVE_AT + GENEVE_LEN;

/// The gateway (GWLB), the appliance behind it, and their state.
struct Lab {
    gw_ports: Vec<PortInfo>,
    gw_snapshot: GatewaySnapshot,
    gw_table: FlowTable,
    app_ports: Vec<PortInfo>,
    app_table: FlowTable,
    records: FlowRecords,
    snapshot: ApplianceSnapshot,
}

impl Lab {
    fn new(definition: PolicyDefinition) -> Self {
        let (gw_ports, gw_snapshot) = simple_lab(1);
        Lab {
            gw_ports,
            gw_snapshot,
            gw_table: FlowTable::new(1024).unwrap(),
            app_ports: vec![PortInfo {
                name: "gwlb".into(),
                mac: mac(10),
                address: APPLIANCE,
                prefix_len: 24,
                neighbors: vec![],
                gateway: None,
            }],
            app_table: FlowTable::new(1024).unwrap(),
            records: FlowRecords::new(1024),
            snapshot: ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 1, 0), 24)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: None,
                policy: Arc::new(Policy::new(definition).unwrap()),
            },
        }
    }

    /// What GWLB sends the appliance for an endpoint's packet (`l3`, either direction).
    fn geneve(&self, l3: &[u8]) -> Vec<u8> {
        let mut gw = Gateway::new(&self.gw_table);
        let mut p = HeapPacket::new(&frame(mac(1), mac(ROUTER_MAC), None, l3));
        let verdict = gw.process(&self.gw_snapshot, &self.gw_ports, UPLINK, &mut p, SEC);
        assert_eq!(verdict, Verdict::Transmit { port: APPLIANCES }, "{gw:?}");
        p.data().to_vec()
    }

    /// The appliance's verdict on a GENEVE frame, and the frame as it leaves.
    fn inspect(&self, app: &mut Appliance<'_>, request: &[u8]) -> (Verdict, Vec<u8>) {
        let mut p = HeapPacket::new(request);
        let verdict = app.process(&self.snapshot, &self.app_ports, 0, &mut p, 2 * SEC);
        (verdict, p.data().to_vec())
    }

    /// Whether GWLB's return path takes the appliance's reply: it must come out decapsulated
    /// toward the endpoint, as `inner`.
    fn gateway_accepts(&self, reply: &[u8], inner: &[u8]) {
        let mut gw = Gateway::new(&self.gw_table);
        let mut p = HeapPacket::new(reply);
        let verdict = gw.process(
            &self.gw_snapshot,
            &self.gw_ports,
            APPLIANCES,
            &mut p,
            3 * SEC,
        );
        assert_eq!(
            verdict,
            Verdict::Transmit { port: UPLINK },
            "{:?}",
            gw.counters
        );
        assert_eq!(&p.data()[14..], inner, "the endpoint gets the inner packet");
    }
}

fn rule(name: &str, action: Action) -> Rule {
    Rule {
        name: name.into(),
        action,
        endpoints: None,
        sources: None,
        destinations: None,
        protocols: None,
        ports: None,
        icmp_types: None,
    }
}

fn tcp_port(name: &str, action: Action, port: u16) -> Rule {
    Rule {
        protocols: Some(vec![6]),
        ports: Some(vec![(port, port)]),
        ..rule(name, action)
    }
}

fn allow_by_default(rules: Vec<Rule>) -> PolicyDefinition {
    PolicyDefinition {
        rules,
        default_action: Action::Allow,
        strict_tcp: false,
    }
}

fn syn(sport: u16, dport: u16) -> Vec<u8> {
    tcp4(CLIENT, SERVER, sport, dport, TcpFlags::SYN, &[])
}

fn syn_ack(sport: u16, dport: u16) -> Vec<u8> {
    tcp4(
        SERVER,
        CLIENT,
        dport,
        sport,
        TcpFlags::SYN | TcpFlags::ACK,
        &[],
    )
}

/// Checks a reply's outer headers against its request: MACs and IPs swapped, UDP ports and
/// the GENEVE header byte for byte kept, lengths and checksums right.
fn assert_outer(request: &[u8], reply: &[u8]) {
    assert_eq!(reply[0..6], request[6..12], "dst MAC = the GWLB's");
    assert_eq!(reply[6..12], mac(10).0, "src MAC = own");
    let ip = Ipv4Packet::new_checked(&reply[14..]).unwrap();
    let asked = Ipv4Packet::new_checked(&request[14..]).unwrap();
    assert_eq!(
        (ip.src_addr(), ip.dst_addr()),
        (asked.dst_addr(), asked.src_addr())
    );
    assert!(ip.verify_checksum());
    assert_eq!(usize::from(ip.total_len()), reply.len() - 14);
    let udp = UdpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!(reply[34..38], request[34..38], "UDP ports kept");
    assert_eq!(usize::from(udp.len()), reply.len() - 34);
    assert!(udp.checksum() == 0 || udp.verify_checksum_v4(&ip.src_addr(), &ip.dst_addr()));
    assert_eq!(
        reply[GENEVE_AT..INNER_AT],
        request[GENEVE_AT..INNER_AT],
        "the GENEVE header and options, cookie included"
    );
}

#[test]
fn deny_drops_a_flow_both_ways_while_other_flows_pass() {
    let lab = Lab::new(allow_by_default(vec![
        tcp_port("no-telnet", Action::Deny, 23),
        Rule {
            destinations: Some(vec![Cidr {
                addr: Ipv4Addr::new(203, 0, 113, 0).into(),
                prefix_len: 24,
            }]),
            endpoints: Some(vec![SIMPLE_ENDPOINT]),
            ..rule("blocked-net", Action::Deny)
        },
    ]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let telnet = lab.geneve(&syn(40000, 23));
    assert_eq!(
        lab.inspect(&mut app, &telnet).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
    // The server's answer belongs to the denied flow: dropped without another classification.
    let answer = lab.geneve(&syn_ack(40000, 23));
    assert_eq!(
        lab.inspect(&mut app, &answer).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
    let blocked = lab.geneve(&udp4(CLIENT, Ipv4Addr::new(203, 0, 113, 9), 5000, 53, b"q"));
    assert_eq!(
        lab.inspect(&mut app, &blocked).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
    // Another endpoint's rule does not apply.
    let mut other_endpoint = lab.snapshot.policy.definition().clone();
    other_endpoint.rules[1].endpoints = Some(vec![SIMPLE_ENDPOINT + 1]);
    let other_endpoint = Policy::new(other_endpoint).unwrap();
    let query = sluice_engine::policy::Query {
        endpoint: SIMPLE_ENDPOINT,
        src: CLIENT.into(),
        dst: Ipv4Addr::new(203, 0, 113, 9).into(),
        protocol: 17,
        transport: 53,
    };
    assert_eq!(other_endpoint.decide(&query).rule, None);
    assert_eq!(lab.snapshot.policy.decide(&query).rule, Some(1));
    let https = lab.geneve(&syn(40001, 443));
    let (verdict, reply) = lab.inspect(&mut app, &https);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&https, &reply);
    assert_eq!(
        reply[INNER_AT..],
        https[INNER_AT..],
        "allowed: inner unchanged"
    );
    assert_eq!(app.counters.drops_of(DropReason::PolicyDenied), 3);
    assert_eq!(
        lab.snapshot.policy.hits(),
        vec![1, 1, 1],
        "flows, not packets"
    );
    let by_endpoint: Vec<_> = app.counters.endpoints.iter().copied().collect();
    assert_eq!(by_endpoint.len(), 1);
    let counts = by_endpoint[0];
    assert_eq!(
        (
            counts.endpoint,
            counts.flows,
            counts.denied,
            counts.rejected
        ),
        (SIMPLE_ENDPOINT, 3, 3, 0)
    );
}

#[test]
fn replies_of_an_allowed_flow_pass_where_a_new_flow_would_not() {
    let lab = Lab::new(allow_by_default(vec![Rule {
        sources: Some(vec![Cidr {
            addr: SERVER.into(),
            prefix_len: 32,
        }]),
        ..rule("server-may-not-initiate", Action::Deny)
    }]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let request = lab.geneve(&syn(40000, 443));
    assert_eq!(
        lab.inspect(&mut app, &request).0,
        Verdict::Transmit { port: 0 }
    );
    let answer = lab.geneve(&syn_ack(40000, 443));
    assert_eq!(
        lab.inspect(&mut app, &answer).0,
        Verdict::Transmit { port: 0 }
    );
    let initiated = lab.geneve(&tcp4(SERVER, CLIENT, 443, 40001, TcpFlags::SYN, &[]));
    assert_eq!(
        lab.inspect(&mut app, &initiated).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
}

#[test]
fn reject_answers_tcp_with_a_reset_inside_the_tunnel() {
    let lab = Lab::new(allow_by_default(vec![tcp_port(
        "no-ssh",
        Action::Reject,
        22,
    )]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let request = lab.geneve(&syn(40000, 22));
    let (verdict, reply) = lab.inspect(&mut app, &request);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&request, &reply);
    let ip = Ipv4Packet::new_checked(&reply[INNER_AT..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER, CLIENT));
    assert!(ip.verify_checksum());
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((tcp.src_port(), tcp.dst_port()), (22, 40000));
    assert_eq!(tcp.flags(), TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(
        (tcp.seq_number(), tcp.ack_number()),
        (0, 1001),
        "acknowledges the SYN"
    );
    assert!(tcp.verify_checksum_v4(&SERVER, &CLIENT));
    assert_eq!(app.counters.policy_rejects, 1);
    lab.gateway_accepts(&reply, &reply[INNER_AT..]);

    // A reset of the rejected flow gets no reset back.
    let reset = lab.geneve(&tcp4(CLIENT, SERVER, 40000, 22, TcpFlags::RST, &[]));
    assert_eq!(
        lab.inspect(&mut app, &reset).0,
        Verdict::Drop(DropReason::PolicyRejected)
    );
}

#[test]
fn reject_answers_udp_with_port_unreachable_quoting_the_datagram() {
    let lab = Lab::new(allow_by_default(vec![Rule {
        protocols: Some(vec![17]),
        ports: Some(vec![(50, 60)]),
        ..rule("no-dns", Action::Reject)
    }]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let datagram = udp4(CLIENT, SERVER, 5000, 53, b"a query");
    let request = lab.geneve(&datagram);
    let (verdict, reply) = lab.inspect(&mut app, &request);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&request, &reply);
    let ip = Ipv4Packet::new_checked(&reply[INNER_AT..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER, CLIENT));
    assert_eq!(ip.protocol(), IpProtocol::Icmp);
    assert!(ip.verify_checksum());
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 3));
    assert_eq!(
        icmp.quoted().unwrap(),
        &datagram[..],
        "the whole datagram is quoted"
    );
    lab.gateway_accepts(&reply, &reply[INNER_AT..]);
}

#[test]
fn reject_answers_other_protocols_administratively_prohibited() {
    let lab = Lab::new(PolicyDefinition {
        rules: vec![],
        default_action: Action::Reject,
        strict_tcp: false,
    });
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let mut ping = ipv4(CLIENT, SERVER, IpProtocol::Icmp, 8 + 4);
    let mut echo = Icmpv4Packet::new_unchecked(&mut ping[20..]);
    Icmpv4Repr::EchoRequest {
        ident: 1,
        seq_no: 2,
        data_len: 4,
    }
    .emit(&mut echo);
    echo.fill_checksum();
    let request = lab.geneve(&ping);
    let (verdict, reply) = lab.inspect(&mut app, &request);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&request, &reply);
    let ip = Ipv4Packet::new_checked(&reply[INNER_AT..]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (3, 13));
    assert_eq!(lab.snapshot.policy.hits(), vec![1], "the default decided");
}

#[test]
fn reject_answers_ipv6_udp_with_an_icmpv6_port_unreachable() {
    let lab = Lab::new(allow_by_default(vec![Rule {
        protocols: Some(vec![17]),
        ..rule("no-udp", Action::Reject)
    }]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    let (c6, s6) = (
        Ipv6Addr::new(0x2001, 0xdb8, 7, 0, 0, 0, 0, 1),
        Ipv6Addr::new(0x2001, 0xdb8, 51, 0, 0, 0, 0, 7),
    );
    let datagram = udp6(c6, s6, 5000, 53, b"q");
    let request = lab.geneve(&datagram);
    let (verdict, reply) = lab.inspect(&mut app, &request);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&request, &reply);
    let ip = Ipv6Packet::new_checked(&reply[INNER_AT..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (s6, c6));
    let icmp = Icmpv6Packet::new_checked(&reply[INNER_AT + 40..]).unwrap();
    assert!(icmp.verify_checksum(&s6, &c6));
    assert_eq!((u8::from(icmp.msg_type()), icmp.msg_code()), (1, 4));
    assert_eq!(&reply[INNER_AT + 48..], &datagram[..], "quoted");
    lab.gateway_accepts(&reply, &reply[INNER_AT..]);
}

#[test]
fn strict_tcp_admits_only_flows_that_begin_with_a_syn() {
    let lab = Lab::new(PolicyDefinition {
        strict_tcp: true,
        ..allow_by_default(vec![])
    });
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    // The gateway itself admits only SYNs: its flow comes first, then the ACK reaches the
    // appliance before the SYN does.
    let syn = lab.geneve(&syn(40000, 443));
    let ack = lab.geneve(&tcp4(CLIENT, SERVER, 40000, 443, TcpFlags::ACK, b"x"));
    assert_eq!(
        lab.inspect(&mut app, &ack).0,
        Verdict::Drop(DropReason::TcpNoFlow)
    );
    assert_eq!(lab.inspect(&mut app, &syn).0, Verdict::Transmit { port: 0 });
    assert_eq!(lab.inspect(&mut app, &ack).0, Verdict::Transmit { port: 0 });
}

#[test]
fn a_new_policy_decides_each_flow_again_at_its_next_packet() {
    let mut lab = Lab::new(allow_by_default(vec![]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    for port in [443, 8080] {
        let request = lab.geneve(&syn(40000, port));
        assert_eq!(
            lab.inspect(&mut app, &request).0,
            Verdict::Transmit { port: 0 }
        );
    }
    // A reload denies 8080. The flow's next packet is the server's: it is judged as the
    // client's flow it belongs to.
    let mut denying = Policy::new(allow_by_default(vec![tcp_port(
        "no-8080",
        Action::Deny,
        8080,
    )]))
    .unwrap();
    denying.set_generation(1);
    lab.snapshot.policy = Arc::new(denying);
    let answer = lab.geneve(&syn_ack(40000, 8080));
    assert_eq!(
        lab.inspect(&mut app, &answer).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
    let other = lab.geneve(&syn_ack(40000, 443));
    assert_eq!(
        lab.inspect(&mut app, &other).0,
        Verdict::Transmit { port: 0 }
    );
    assert_eq!(
        lab.snapshot.policy.hits(),
        vec![1, 1],
        "each decided once again"
    );
    // Allowed again by the next policy.
    let mut allowing = Policy::new(allow_by_default(vec![])).unwrap();
    allowing.set_generation(2);
    lab.snapshot.policy = Arc::new(allowing);
    assert_eq!(
        lab.inspect(&mut app, &answer).0,
        Verdict::Transmit { port: 0 }
    );
}

/// An ICMPv4 destination unreachable from a router toward the client, quoting the client's
/// TCP packet to the server on `dport`.
fn icmp_error(dport: u16) -> Vec<u8> {
    let quoted = tcp4(CLIENT, SERVER, 40000, dport, TcpFlags::ACK, &[]);
    let mut l3 = ipv4(
        Ipv4Addr::new(192, 168, 7, 254),
        CLIENT,
        IpProtocol::Icmp,
        8 + 28,
    );
    l3[20] = 3;
    l3[21] = 1;
    l3[28..].copy_from_slice(&quoted[..28]);
    let mut icmp = Icmpv4Packet::new_unchecked(&mut l3[20..]);
    icmp.fill_checksum();
    l3
}

#[test]
fn icmp_errors_follow_the_verdict_of_the_flow_they_quote() {
    let lab = Lab::new(allow_by_default(vec![tcp_port(
        "no-8080",
        Action::Deny,
        8080,
    )]));
    let mut app = Appliance::new(&lab.app_table, &lab.records);
    for port in [443, 8080] {
        let _ = lab.inspect(&mut app, &lab.geneve(&syn(40000, port)));
    }
    let about_allowed = lab.geneve(&icmp_error(443));
    let (verdict, reply) = lab.inspect(&mut app, &about_allowed);
    assert_eq!(verdict, Verdict::Transmit { port: 0 });
    assert_outer(&about_allowed, &reply);
    let about_denied = lab.geneve(&icmp_error(8080));
    assert_eq!(
        lab.inspect(&mut app, &about_denied).0,
        Verdict::Drop(DropReason::PolicyDenied)
    );
    assert_eq!(
        lab.snapshot.policy.hits(),
        vec![1, 1],
        "errors are no flows of their own"
    );
}

#[test]
fn flow_stats_count_each_way_from_the_first_packet_dropped_ones_included() {
    use sluice_engine::flow_stats::FlowStats;
    use sluice_engine::parse::ip_flow;

    let lab = Lab::new(allow_by_default(vec![tcp_port(
        "no-telnet",
        Action::Deny,
        23,
    )]));
    let stats = FlowStats::new(1024).unwrap();
    let mut app = Appliance::new(&lab.app_table, &lab.records).with_flow_stats(&stats);
    for (sport, dport) in [(40000, 443), (40001, 23)] {
        let (request, answer) = (syn(sport, dport), syn_ack(sport, dport));
        for l3 in [&request, &answer, &request] {
            let _ = lab.inspect(&mut app, &lab.geneve(l3));
        }
        let (key, direction) = app.flow_of(SIMPLE_ENDPOINT, &ip_flow(&request).unwrap());
        let handle = lab.app_table.lookup(&key, key.hash()).unwrap();
        let totals = stats.take(handle).unwrap();
        assert_eq!(totals.initiator, direction, "the client began it");
        assert_eq!((totals.packets_forward, totals.packets_reverse), (2, 1));
        let len = |l3: &[u8]| l3.len() as u64;
        assert_eq!(
            (totals.bytes_forward, totals.bytes_reverse),
            (2 * len(&request), len(&answer))
        );
        assert_eq!(totals.start_ns, 2 * SEC);
        assert_eq!(stats.take(handle), None, "taken once");
    }
}

#[test]
fn flows_evicted_from_a_full_table_are_handed_over_with_their_totals() {
    use sluice_engine::flow_stats::FlowStats;

    let lab = Lab::new(allow_by_default(vec![]));
    let stats = FlowStats::new(1024).unwrap();
    let mut app = Appliance::new(&lab.app_table, &lab.records).with_flow_stats(&stats);
    // One GENEVE frame from GWLB, its inner UDP source port rewritten for each flow (the
    // appliance does not check inner checksums).
    let template = lab.geneve(&udp4(CLIENT, SERVER, 1000, 53, b"q"));
    let mut send = |sport: u16, now: u64| {
        let mut frame = template.clone();
        frame[INNER_AT + 20..INNER_AT + 22].copy_from_slice(&sport.to_be_bytes());
        let mut p = HeapPacket::new(&frame);
        app.process(&lab.snapshot, &lab.app_ports, 0, &mut p, now)
    };
    // More flows than the table holds: the windows fill and further inserts are refused.
    for sport in 2000..5000 {
        let _ = send(sport, 2 * SEC);
    }
    // Past the UDP timeout, new flows evict idle ones from their windows.
    for sport in 10_000..10_600 {
        assert_eq!(send(sport, 200 * SEC), Verdict::Transmit { port: 0 });
    }
    let mut cursor = 0;
    let mut evicted = Vec::new();
    assert_eq!(stats.drain_retired(&mut cursor, |r| evicted.push(*r)), 0);
    assert!(evicted.len() > 400, "{} evicted", evicted.len());
    assert_eq!(evicted.len() as u64, app.counters.expired_flows);
    for r in &evicted {
        assert_eq!(r.endpoint, SIMPLE_ENDPOINT);
        assert_eq!((r.totals.packets_forward, r.totals.packets_reverse), (1, 0));
        assert_eq!(r.totals.start_ns, 2 * SEC);
        let ((_, a_port), (_, b_port)) = r.key.endpoints(r.totals.initiator);
        assert!(
            (2000..5000).contains(&a_port) && b_port == 53,
            "{a_port} {b_port}"
        );
    }
}
