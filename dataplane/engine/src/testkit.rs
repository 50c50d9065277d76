//! Fixtures for the engine's tests, benchmarks and fuzz targets: a two-port gateway lab, its
//! snapshots, and frame builders made with `sluice_wire`'s Reprs (checksums filled, so the
//! frames are what a real sender puts on the wire).
//!
//! Compiled only with the `testkit` feature: the engine's own tests and benches turn it on
//! through a dev-dependency on the crate itself, and nothing else should.

use core::net::{Ipv4Addr, Ipv6Addr};

use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use sluice_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use sluice_wire::tcp::{TcpFlags, TcpPacket, TcpRepr};
use sluice_wire::udp::{UdpPacket, UdpRepr};
use sluice_wire::vlan::{VlanHeader, VlanRepr};

use crate::flow::Stickiness;
use crate::maglev::{self, TargetInfo};
use crate::snapshot::{Endpoint, FlowAttributes, GatewaySnapshot, PortInfo, Target};

/// One second on the engine's clock.
pub const SEC: u64 = 1_000_000_000;
/// The lab's endpoint port (port id 0): the gateway's uplink, 10.0.0.1/24.
pub const UPLINK: u16 = 0;
/// The lab's target port (port id 1): 10.0.1.1/24, the appliances' subnet.
pub const APPLIANCES: u16 = 1;
/// The gateway's uplink address.
pub const GW_UPLINK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The gateway's address toward the appliances.
pub const GW_APPLIANCES: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The consumer-side router: the endpoints' next hop and the uplink's gateway.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
/// The last byte of the router's MAC.
pub const ROUTER_MAC: u8 = 0xfe;

/// The lab's MAC addresses: `02:00:00:00:00:<last>`. The uplink is 1, the appliance port 2,
/// a target's is the last byte of its address.
pub fn mac(last: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, last])
}

/// The lab's two ports, with the router and every target in `targets` resolved.
pub fn lab_ports(targets: &[Ipv4Addr]) -> Vec<PortInfo> {
    let mut neighbors: Vec<_> = targets
        .iter()
        .map(|ip| (*ip, mac(ip.octets()[3])))
        .collect();
    neighbors.sort();
    vec![
        PortInfo {
            name: "uplink".into(),
            mac: mac(1),
            address: GW_UPLINK,
            prefix_len: 24,
            neighbors: vec![(ROUTER, mac(ROUTER_MAC))],
            gateway: Some(ROUTER),
        },
        PortInfo {
            name: "appliances".into(),
            mac: mac(2),
            address: GW_APPLIANCES,
            prefix_len: 24,
            neighbors,
            gateway: None,
        },
    ]
}

/// GWLB's default attributes (TCP 350 s, others 120 s, draining 300 s, `no_rebalance`, no
/// resets) with the given stickiness.
pub fn attributes(stickiness: Stickiness) -> FlowAttributes {
    FlowAttributes {
        stickiness,
        tcp_idle_timeout_ns: 350 * SEC,
        other_idle_timeout_ns: 120 * SEC,
        rebalance: false,
        deregistration_delay_ns: 300 * SEC,
        reset_on_idle_timeout: false,
        reset_on_unhealthy: false,
        reset_on_deregistration: false,
    }
}

/// An endpoint on the uplink whose next hop is the router; its attachment id is
/// `id ^ 0xff`, so tests can tell the two apart.
pub fn endpoint(id: u64, vlan: Option<u16>, available: bool) -> Endpoint {
    Endpoint {
        id,
        attachment_id: id ^ 0xff,
        port: UPLINK,
        vlan,
        next_hop: ROUTER,
        available,
        zone: "az1".into(),
    }
}

/// A gateway snapshot for the lab: the targets in the given order, the new-flow view of
/// zone "az1", targets behind [`APPLIANCES`], encapsulations resolved against
/// [`lab_ports`].
///
/// # Panics
///
/// If the Maglev view cannot be built (duplicate target addresses).
#[expect(
    clippy::expect_used,
    reason = "a fixture with duplicate targets is a broken test"
)]
pub fn gateway_snapshot(
    targets: &[TargetInfo],
    cross_zone: bool,
    stickiness: Stickiness,
    endpoints: Vec<Endpoint>,
) -> GatewaySnapshot {
    let mut target_index: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| (t.ip, i as u16))
        .collect();
    target_index.sort();
    let mut snapshot = GatewaySnapshot {
        attributes: attributes(stickiness),
        new_flows: maglev::build_view(targets, "az1", cross_zone, maglev::DEFAULT_TABLE_SIZE)
            .expect("a valid Maglev view"),
        targets: targets
            .iter()
            .map(|t| Target {
                ip: t.ip,
                zone: t.zone.clone(),
                state: t.state,
                draining_since_ns: None,
                encap: None,
            })
            .collect(),
        target_index,
        endpoints,
        target_port: APPLIANCES,
    };
    snapshot.resolve_targets(&lab_ports(
        &targets.iter().map(|t| t.ip).collect::<Vec<_>>(),
    ));
    snapshot
}

/// The endpoint id of [`simple_lab`]'s one endpoint: `vpce-00123456789abcdef`.
pub const SIMPLE_ENDPOINT: u64 = 0x0123_4567_89ab_cdef;

/// The lab with `targets` healthy targets 10.0.1.10, .11, … in zone "az1", 5-tuple
/// stickiness and one untagged endpoint ([`SIMPLE_ENDPOINT`]): what benches and smoke tests
/// need when the behaviour under test is not the placement itself.
pub fn simple_lab(targets: u8) -> (Vec<PortInfo>, GatewaySnapshot) {
    let targets: Vec<TargetInfo> = (0..targets)
        .map(|i| TargetInfo {
            ip: Ipv4Addr::new(10, 0, 1, 10 + i),
            zone: "az1".into(),
            state: crate::maglev::TargetState::Healthy,
        })
        .collect();
    let ports = lab_ports(&targets.iter().map(|t| t.ip).collect::<Vec<_>>());
    let snapshot = gateway_snapshot(
        &targets,
        false,
        Stickiness::FiveTuple,
        vec![endpoint(SIMPLE_ENDPOINT, None, true)],
    );
    (ports, snapshot)
}

/// An IPv4 header (TTL 63, identification 7, checksum filled) followed by `payload_len`
/// zero bytes.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload_len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + payload_len];
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len,
        hop_limit: 63,
        dscp: 0,
        ecn: 0,
        ident: 7,
        dont_frag: false,
        frag: None,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
    buf
}

/// An IPv4 TCP segment: sequence 1000, ACK 2000 when the ACK flag is set, an MSS option of
/// 1460 on SYNs, checksums filled.
pub fn tcp4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: TcpFlags,
    data: &[u8],
) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: 1000,
        ack_number: flags.contains(TcpFlags::ACK).then_some(2000),
        flags,
        window_len: 8192,
        mss: flags.contains(TcpFlags::SYN).then_some(1460),
        payload_len: data.len(),
    };
    let mut ip = ipv4(src, dst, IpProtocol::Tcp, tcp.header_len() + data.len());
    let l4 = &mut ip[20..];
    tcp.emit(&mut TcpPacket::new_unchecked(&mut *l4));
    let header_len = tcp.header_len();
    l4[header_len..].copy_from_slice(data);
    TcpPacket::new_unchecked(&mut *l4).fill_checksum_v4(&src, &dst);
    ip
}

/// An IPv4 UDP datagram with checksums filled.
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut ip = ipv4(src, dst, IpProtocol::Udp, 8 + data.len());
    let l4 = &mut ip[20..];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut UdpPacket::new_unchecked(&mut *l4), data.len());
    l4[8..].copy_from_slice(data);
    UdpPacket::new_unchecked(&mut *l4).fill_checksum_v4(&src, &dst);
    ip
}

/// An IPv6 UDP datagram (hop limit 63) with its checksum filled.
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + 8 + data.len()];
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: 8 + data.len(),
        hop_limit: 63,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    let l4 = &mut buf[40..];
    UdpRepr {
        src_port: sport,
        dst_port: dport,
    }
    .emit(&mut UdpPacket::new_unchecked(&mut *l4), data.len());
    l4[8..].copy_from_slice(data);
    UdpPacket::new_unchecked(&mut *l4).fill_checksum_v6(&src, &dst);
    buf
}

/// An Ethernet frame around an IP packet, with an 802.1Q tag when `vlan` is set.
pub fn frame(dst: EthernetAddress, src: EthernetAddress, vlan: Option<u16>, l3: &[u8]) -> Vec<u8> {
    let ethertype = if l3.first().map(|b| b >> 4) == Some(6) {
        EtherType::Ipv6
    } else {
        EtherType::Ipv4
    };
    let l2 = if vlan.is_some() { 18 } else { 14 };
    let mut buf = vec![0u8; l2 + l3.len()];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: if vlan.is_some() {
            EtherType::Vlan
        } else {
            ethertype
        },
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    if let Some(vlan_id) = vlan {
        VlanRepr {
            pcp: 0,
            dei: false,
            vlan_id,
            ethertype,
        }
        .emit(&mut VlanHeader::new_unchecked(&mut buf[14..]));
    }
    buf[l2..].copy_from_slice(l3);
    buf
}

/// What an appliance does to a GENEVE frame it passes: outer MACs and IPv4 addresses
/// swapped (header checksum refilled), UDP ports, GENEVE and the inner packet kept.
pub fn swap_outer(encapsulated: &[u8]) -> Vec<u8> {
    let mut f = encapsulated.to_vec();
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    let (s, d) = (eth.src_addr(), eth.dst_addr());
    eth.set_src_addr(d);
    eth.set_dst_addr(s);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    ip.set_src_addr(d);
    ip.set_dst_addr(s);
    ip.fill_checksum();
    f
}

/// Rule sets and queries for the policy classifier's tests and benchmarks, from a seed.
pub mod policy {
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use crate::policy::{Action, Cidr, PolicyDefinition, Query, Rule};

    /// A small deterministic generator (SplitMix64).
    #[derive(Debug, Clone)]
    pub struct Rng(u64);

    impl Rng {
        /// A generator from a seed.
        pub fn new(seed: u64) -> Self {
            Rng(seed)
        }

        /// The next 64 random bits.
        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// A number below `n` (`n > 0`).
        pub fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }

        /// True with probability `percent` / 100.
        pub fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }
    }

    /// The endpoint ids rules and queries use.
    pub const ENDPOINTS: [u64; 4] = [0x0123_4567_89ab_cdef, 7, 0x1111, 0xfeed_beef];

    /// Networks in the shape of a real site: a few /8 and /16 aggregates, many /24 subnets
    /// and /32 hosts inside them, and IPv6 /48 to /128.
    fn network(rng: &mut Rng) -> Cidr {
        if rng.chance(15) {
            let len = rng.pick(&[32u8, 48, 56, 64, 128]);
            let addr = Ipv6Addr::new(
                0x2001,
                0xdb8,
                rng.below(16) as u16,
                rng.below(64) as u16,
                0,
                0,
                0,
                rng.below(256) as u16,
            );
            return Cidr {
                addr: IpAddr::V6(addr),
                prefix_len: len,
            };
        }
        let len = rng.pick(&[8u8, 16, 24, 24, 24, 32, 32]);
        let base = rng.pick(&[10u8, 172, 192, 198]);
        let addr = Ipv4Addr::new(
            base,
            rng.below(32) as u8,
            rng.below(64) as u8,
            rng.below(256) as u8,
        );
        Cidr {
            addr: IpAddr::V4(addr),
            prefix_len: len,
        }
    }

    /// Ports services listen on, and ranges.
    fn ports(rng: &mut Rng) -> Vec<(u16, u16)> {
        const WELL_KNOWN: [u16; 12] = [22, 25, 53, 80, 123, 443, 445, 3306, 3389, 5432, 6379, 8080];
        (0..1 + rng.below(3))
            .map(|_| {
                if rng.chance(25) {
                    let first = 1024 + rng.below(60_000) as u16;
                    (first, first.saturating_add(rng.below(1000) as u16))
                } else {
                    let p = rng.pick(&WELL_KNOWN);
                    (p, p)
                }
            })
            .collect()
    }

    /// `count` rules in the shape operators write: networks, protocols, ports, some ICMP
    /// types and endpoint ids; actions mixed; deny by default.
    pub fn definition(seed: u64, count: usize) -> PolicyDefinition {
        let mut rng = Rng::new(seed);
        let rules = (0..count)
            .map(|i| {
                let protocols: Option<Vec<u8>> = match rng.below(10) {
                    0..=3 => Some(vec![6]),
                    4..=5 => Some(vec![17]),
                    6 => Some(vec![6, 17]),
                    7 => Some(vec![1]),
                    8 => Some(vec![rng.pick(&[47u8, 50, 58])]),
                    _ => None,
                };
                let has_ports = protocols
                    .as_ref()
                    .is_some_and(|p| p.iter().all(|p| *p == 6 || *p == 17));
                let has_types = protocols
                    .as_ref()
                    .is_some_and(|p| p.iter().all(|p| *p == 1 || *p == 58));
                let nets = |rng: &mut Rng| (0..1 + rng.below(3)).map(|_| network(rng)).collect();
                Rule {
                    name: format!("rule-{i}"),
                    action: match rng.below(3) {
                        0 => Action::Deny,
                        1 => Action::Reject,
                        _ => Action::Allow,
                    },
                    endpoints: rng.chance(15).then(|| vec![rng.pick(&ENDPOINTS)]),
                    sources: rng.chance(60).then(|| nets(&mut rng)),
                    destinations: rng.chance(75).then(|| nets(&mut rng)),
                    ports: (has_ports && rng.chance(85)).then(|| ports(&mut rng)),
                    icmp_types: (has_types && rng.chance(50))
                        .then(|| vec![rng.pick(&[0u8, 3, 8, 11])]),
                    protocols,
                }
            })
            .collect();
        PolicyDefinition {
            rules,
            default_action: Action::Deny,
            strict_tcp: false,
        }
    }

    /// Queries near what `definition` rules name: addresses inside (or just outside) their
    /// networks, their ports, and strangers.
    pub fn queries(definition: &PolicyDefinition, seed: u64, count: usize) -> Vec<Query> {
        let mut rng = Rng::new(seed);
        let nets: Vec<Cidr> = definition
            .rules
            .iter()
            .flat_map(|r| r.sources.iter().chain(r.destinations.iter()).flatten())
            .copied()
            .collect();
        let address = |rng: &mut Rng, v6: bool| -> IpAddr {
            let near = nets
                .iter()
                .filter(|n| n.addr.is_ipv6() == v6)
                .nth(if nets.is_empty() {
                    0
                } else {
                    rng.below(nets.len() as u64) as usize / 2
                });
            match (near, v6) {
                (Some(n), false) => {
                    let IpAddr::V4(a) = n.addr else {
                        unreachable!()
                    };
                    IpAddr::V4(Ipv4Addr::from_bits(
                        a.to_bits() ^ (rng.next_u64() as u32 >> n.prefix_len.min(31)),
                    ))
                }
                (Some(n), true) => {
                    let IpAddr::V6(a) = n.addr else {
                        unreachable!()
                    };
                    let noise = u128::from(rng.next_u64()) >> (n.prefix_len.min(127) / 2);
                    IpAddr::V6(Ipv6Addr::from_bits(a.to_bits() ^ noise))
                }
                (None, false) => IpAddr::V4(Ipv4Addr::from_bits(rng.next_u64() as u32)),
                (None, true) => IpAddr::V6(Ipv6Addr::from_bits(u128::from(rng.next_u64()))),
            }
        };
        (0..count)
            .map(|_| {
                let v6 = rng.chance(15);
                let protocol = rng.pick(&[6u8, 6, 6, 17, 17, 1, 58, 47]);
                let transport = match protocol {
                    6 | 17 => rng.pick(&[22u16, 53, 80, 443, 3389, 8080, 40000, 1]),
                    1 | 58 => rng.pick(&[0u16, 3, 8, 11, 128]),
                    _ => 0,
                };
                Query {
                    endpoint: rng.pick(&ENDPOINTS),
                    src: address(&mut rng, v6),
                    dst: address(&mut rng, v6),
                    protocol,
                    transport,
                }
            })
            .collect()
    }
}
