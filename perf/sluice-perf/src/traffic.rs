//! Traffic generation: the captures a scenario replays.
//!
//! - **Endpoint traffic** (what a GWLB endpoint delivers to the gateway's uplink) is built
//!   here, frame by frame, with `sluice_wire`'s Reprs: Ethernet from the consumer-side router
//!   to the gateway, IPv4 or IPv6, UDP or TCP, checksums filled, so every frame is what a
//!   real sender puts on the wire. Flow `i` has a 5-tuple of its own (IPv4 172.16.0.0/12 or
//!   fd00:a::/64 clients by `i`, servers in 192.168.0.0/20 or fd00:b::/116), and the shares of
//!   IPv6 and TCP flows are spread evenly over the flows by two Weyl sequences (exact shares,
//!   no correlation between version and protocol).
//! - **GENEVE for the appliance** and **appliance returns for the gateway** are what sluice's
//!   own pipelines make of that traffic (`sluice simulate`'s library, one worker, in capture
//!   order): GWLB's format byte for byte, with the flow cookies the gateway's flow table hands
//!   out. A gateway with the same flow-table capacity that sees the endpoint traffic in the
//!   same order hands out the same cookies, so its return path recognises the returns.
//!
//! One pass of a capture holds `flows * packets_per_flow` packets; packet `j` belongs to flow
//! `j % flows`, so every flow opens (a TCP SYN, a first UDP datagram) in the first `flows`
//! packets and the rest of the pass is established traffic. Inner sizes are taken in turn.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sluice::capture::{CapturedPacket, LinkType};
use sluice::simulate::{self, OutFrame};
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::{Ipv4Packet, Ipv4Repr};
use sluice_wire::ipv6::{Ipv6Packet, Ipv6Repr};
use sluice_wire::tcp::{TcpFlags, TcpPacket, TcpRepr};
use sluice_wire::udp::{UdpPacket, UdpRepr};

use crate::lab;
use crate::scenario::Traffic;

/// The consumer-side router's MAC: the source of endpoint traffic.
pub const ROUTER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
/// The gateway uplink's MAC: the destination of endpoint traffic.
pub const UPLINK_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
/// The first capture timestamp (packets follow one microsecond apart).
const EPOCH: Duration = Duration::from_secs(1_800_000_000);
/// Client ports per client address.
const PORTS_PER_CLIENT: u64 = 64;

/// Which captures to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    /// GWLB GENEVE toward one appliance (the appliance's input).
    pub geneve: bool,
    /// That appliance's returns (the gateway's return-path input).
    pub returns: bool,
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Captures {
    /// Endpoint traffic: `endpoint.pcap`.
    pub endpoint: CaptureInfo,
    /// GENEVE toward the appliance: `geneve.pcap`.
    pub geneve: Option<CaptureInfo>,
    /// The appliance's returns: `returns.pcap`.
    pub returns: Option<CaptureInfo>,
}

/// One capture file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// Where it is.
    pub path: PathBuf,
    /// Its packets.
    pub packets: u64,
    /// The mean frame length in bytes (Ethernet header to the end, no FCS).
    pub mean_frame_bytes: f64,
    /// The longest frame.
    pub max_frame_bytes: usize,
}

/// Shape of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowShape {
    /// IPv6 rather than IPv4.
    pub ipv6: bool,
    /// TCP rather than UDP.
    pub tcp: bool,
}

/// Whether item `i` of a sequence falls in a share `share` of it: a Weyl sequence with
/// step `step` (irrational), so that the first `n` items hold `share * n` of them to within
/// a few, and two steps give uncorrelated choices.
fn in_share(i: u64, share: f64, step: f64) -> bool {
    if share >= 1.0 {
        return true;
    }
    let x = (i as f64 * step).fract();
    x < share
}

/// Flow `i`'s IP version and protocol.
pub fn flow_shape(t: &Traffic, i: u64) -> FlowShape {
    FlowShape {
        // 1/φ and 1/ρ (the plastic number): badly approximable, so evenly spread.
        ipv6: in_share(i, t.ipv6_share, 0.618_033_988_749_894_8),
        tcp: in_share(i, t.tcp_share, 0.754_877_666_246_692_7),
    }
}

/// The client (source) and server (destination) of flow `i` and its ports.
fn flow_ends(i: u64, shape: FlowShape) -> (std::net::IpAddr, std::net::IpAddr, u16, u16) {
    let client_index = i / PORTS_PER_CLIENT;
    let sport = 1024 + (i % PORTS_PER_CLIENT) as u16;
    let dport = if shape.tcp { 443 } else { 53 };
    let server = (i % 4096) as u32;
    if shape.ipv6 {
        let client = Ipv6Addr::from(0xfd00_000a_u128 << 96 | u128::from(client_index));
        let server = Ipv6Addr::from(0xfd00_000b_u128 << 96 | u128::from(server + 1));
        (client.into(), server.into(), sport, dport)
    } else {
        // 172.16.0.0/12 holds 2^20 clients of 64 ports: 64 Mi flows.
        let client = Ipv4Addr::from(0xac10_0000_u32 + (client_index as u32 & 0x000f_ffff));
        let server = Ipv4Addr::from(0xc0a8_0000_u32 + server);
        (client.into(), server.into(), sport, dport)
    }
}

/// Packet `j` of one pass: its flow, shape and bytes (an Ethernet frame to the gateway).
pub fn endpoint_frame(t: &Traffic, j: u64) -> Vec<u8> {
    let flow = j % t.flows;
    let nth = j / t.flows;
    let shape = flow_shape(t, flow);
    let sizes = &t.inner_sizes;
    let size = usize::from(sizes[(j % sizes.len() as u64) as usize]);
    let (src, dst, sport, dport) = flow_ends(flow, shape);
    let l3 = match (src, dst) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            ipv4_packet(s, d, shape.tcp, sport, dport, nth, size)
        }
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
            ipv6_packet(s, d, shape.tcp, sport, dport, nth, size)
        }
        _ => unreachable!("flow_ends gives both ends one version"),
    };
    let mut frame = vec![0_u8; 14 + l3.len()];
    EthernetRepr {
        src_addr: ROUTER_MAC,
        dst_addr: UPLINK_MAC,
        ethertype: if shape.ipv6 {
            EtherType::Ipv6
        } else {
            EtherType::Ipv4
        },
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame[14..].copy_from_slice(&l3);
    frame
}

/// The TCP header of the `nth` packet of a flow: a SYN with an MSS option first, then ACKs
/// (with PSH when they carry data).
fn tcp_repr(sport: u16, dport: u16, nth: u64, payload_len: usize) -> TcpRepr {
    let syn = nth == 0;
    let flags = if syn {
        TcpFlags::SYN
    } else if payload_len > 0 {
        TcpFlags::ACK | TcpFlags::PSH
    } else {
        TcpFlags::ACK
    };
    TcpRepr {
        src_port: sport,
        dst_port: dport,
        seq_number: 1000 + nth as u32,
        ack_number: (!syn).then_some(1),
        flags,
        window_len: 65_535,
        mss: syn.then_some(1460),
        payload_len,
    }
}

/// The transport header's length for a packet of a flow: TCP (20, or 24 with the SYN's MSS)
/// or UDP (8).
fn l4_len(tcp: bool, nth: u64) -> usize {
    match (tcp, nth) {
        (true, 0) => 24,
        (true, _) => 20,
        (false, _) => 8,
    }
}

/// Fills `l4` (transport header and zero payload) and its checksum, given the pseudo
/// header's filler.
fn emit_l4(l4: &mut [u8], tcp: bool, sport: u16, dport: u16, nth: u64, fill: impl Fn(&mut [u8])) {
    let header = l4_len(tcp, nth);
    let payload = l4.len() - header;
    if tcp {
        tcp_repr(sport, dport, nth, payload).emit(&mut TcpPacket::new_unchecked(&mut *l4));
    } else {
        UdpRepr {
            src_port: sport,
            dst_port: dport,
        }
        .emit(&mut UdpPacket::new_unchecked(&mut *l4), payload);
    }
    fill(l4);
}

fn ipv4_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tcp: bool,
    sport: u16,
    dport: u16,
    nth: u64,
    size: usize,
) -> Vec<u8> {
    let mut buf = vec![0_u8; size.max(20 + l4_len(tcp, nth))];
    let payload_len = buf.len() - 20;
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: if tcp {
            IpProtocol::Tcp
        } else {
            IpProtocol::Udp
        },
        payload_len,
        hop_limit: 64,
        dscp: 0,
        ecn: 0,
        ident: (nth as u16).wrapping_add(1),
        dont_frag: true,
        frag: None,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
    emit_l4(&mut buf[20..], tcp, sport, dport, nth, |l4| {
        if tcp {
            TcpPacket::new_unchecked(l4).fill_checksum_v4(&src, &dst);
        } else {
            UdpPacket::new_unchecked(l4).fill_checksum_v4(&src, &dst);
        }
    });
    buf
}

fn ipv6_packet(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    tcp: bool,
    sport: u16,
    dport: u16,
    nth: u64,
    size: usize,
) -> Vec<u8> {
    let mut buf = vec![0_u8; size.max(40 + l4_len(tcp, nth))];
    let payload_len = buf.len() - 40;
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: if tcp {
            IpProtocol::Tcp
        } else {
            IpProtocol::Udp
        },
        payload_len,
        hop_limit: 64,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    emit_l4(&mut buf[40..], tcp, sport, dport, nth, |l4| {
        if tcp {
            TcpPacket::new_unchecked(l4).fill_checksum_v6(&src, &dst);
        } else {
            UdpPacket::new_unchecked(l4).fill_checksum_v6(&src, &dst);
        }
    });
    buf
}

/// Every frame of one pass of the endpoint traffic, timestamped one microsecond apart.
pub fn endpoint_frames(t: &Traffic) -> Vec<OutFrame> {
    (0..t.packets())
        .map(|j| OutFrame {
            timestamp: EPOCH + Duration::from_micros(j),
            port: 0,
            data: endpoint_frame(t, j),
        })
        .collect()
}

/// Summarises frames written to `path`.
fn info(path: &Path, frames: &[OutFrame]) -> CaptureInfo {
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    CaptureInfo {
        path: path.to_owned(),
        packets: frames.len() as u64,
        mean_frame_bytes: bytes as f64 / frames.len().max(1) as f64,
        max_frame_bytes: frames.iter().map(|f| f.data.len()).max().unwrap_or(0),
    }
}

/// Runs `frames` through the pipeline configured by `config` (TOML text), arriving on
/// `port`, and returns what it transmitted on port id `out_port`.
fn simulate_frames(
    config: &str,
    what: &str,
    frames: Vec<OutFrame>,
    port: &str,
    out_port: u16,
) -> anyhow::Result<Vec<OutFrame>> {
    let config = sluice_config::parse(config, what)
        .map_err(|d| anyhow::anyhow!("the {what} configuration is invalid:\n{d}"))?;
    let packets: Vec<CapturedPacket> = frames
        .into_iter()
        .map(|f| CapturedPacket {
            timestamp: f.timestamp,
            orig_len: u32::try_from(f.data.len()).unwrap_or(u32::MAX),
            link: LinkType::Ethernet,
            data: f.data,
        })
        .collect();
    let options = simulate::Options {
        port: Some(port.to_owned()),
        unhealthy: Vec::new(),
    };
    let simulation = simulate::run(&config, &packets, &options)
        .with_context(|| format!("simulating the {what}"))?;
    let dropped = simulation.summary.dropped.total;
    if dropped > 0 {
        bail!(
            "the {what} dropped {dropped} of {} packets ({:?}): the generated traffic does not fit the lab",
            packets.len(),
            simulation.summary.dropped.by_reason
        );
    }
    Ok(simulation
        .frames
        .into_iter()
        .filter(|f| f.port == out_port)
        .collect())
}

/// Writes `endpoint.pcap` (and `geneve.pcap`, `returns.pcap` when asked) for `t` into `dir`.
///
/// # Errors
///
/// When a file cannot be written or sluice's pipelines drop generated traffic (a bug in the
/// generator or the lab's configuration).
pub fn generate(t: &Traffic, dir: &Path, kinds: Kinds) -> anyhow::Result<Captures> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let frames = endpoint_frames(t);
    let endpoint_path = dir.join("endpoint.pcap");
    simulate::write_pcap(&endpoint_path, &frames)?;
    let endpoint = info(&endpoint_path, &frames);
    let (mut geneve, mut returns) = (None, None);
    if kinds.geneve || kinds.returns {
        let capacity = lab::flow_capacity(t);
        let mtus = lab::Mtus::for_traffic(t);
        let gateway = lab::gateway_config(&lab::GatewayLab {
            uplink: "net_null10".into(),
            appliances: "net_null11".into(),
            targets: 1,
            mtus,
            capacity,
            mbufs: 16_383,
            burst: 32,
            poll_mode: crate::scenario::PollMode::Busy,
            eal_args: Vec::new(),
        });
        let encapsulated = simulate_frames(&gateway, "gateway", frames, "uplink", 1)?;
        if encapsulated.len() as u64 != t.packets() {
            bail!(
                "the gateway encapsulated {} of {} packets",
                encapsulated.len(),
                t.packets()
            );
        }
        if kinds.geneve {
            let path = dir.join("geneve.pcap");
            simulate::write_pcap(&path, &encapsulated)?;
            geneve = Some(info(&path, &encapsulated));
        }
        if kinds.returns {
            let appliance = lab::appliance_config(&lab::ApplianceLab {
                device: "net_null12".into(),
                mtus,
                capacity,
                mbufs: 16_383,
                burst: 32,
                poll_mode: crate::scenario::PollMode::Busy,
                eal_args: Vec::new(),
            });
            let back = simulate_frames(&appliance, "appliance", encapsulated, "geneve", 0)?;
            let path = dir.join("returns.pcap");
            simulate::write_pcap(&path, &back)?;
            returns = Some(info(&path, &back));
        }
    }
    Ok(Captures {
        endpoint,
        geneve,
        returns,
    })
}

#[cfg(test)]
mod tests {
    use sluice_wire::geneve::GenevePacket;
    use sluice_wire::gwlb::GwlbOptions;
    use sluice_wire::ipv6;
    use sluice_wire::tcp::TcpRepr;
    use sluice_wire::udp::UdpRepr;

    use super::*;

    fn traffic(flows: u64, sizes: &[u16], v6: f64, tcp: f64, ppf: u32) -> Traffic {
        Traffic {
            flows,
            inner_sizes: sizes.to_vec(),
            ipv6_share: v6,
            tcp_share: tcp,
            packets_per_flow: ppf,
        }
    }

    /// What a frame parses to with sluice-wire: (ipv6, tcp, inner length, 5-tuple text, TCP
    /// flags), with every checksum verified.
    fn parse(frame: &[u8]) -> (bool, bool, usize, String, Option<TcpFlags>) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(eth_repr.src_addr, ROUTER_MAC);
        assert_eq!(eth_repr.dst_addr, UPLINK_MAC);
        match eth_repr.ethertype {
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                let repr = Ipv4Repr::parse(&ip).unwrap();
                let (tuple, flags, tcp) = l4(repr.next_header, ip.payload(), |p, tcp| {
                    if tcp {
                        TcpPacket::new_checked(p)
                            .unwrap()
                            .verify_checksum_v4(&repr.src_addr, &repr.dst_addr)
                    } else {
                        UdpPacket::new_checked(p)
                            .unwrap()
                            .verify_checksum_v4(&repr.src_addr, &repr.dst_addr)
                    }
                });
                let text = format!("{}:{} {}", repr.src_addr, repr.dst_addr, tuple);
                (false, tcp, eth.payload().len(), text, flags)
            }
            EtherType::Ipv6 => {
                let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
                let repr = Ipv6Repr::parse(&ip).unwrap();
                assert!(ipv6::upper_layer(&ip).is_ok());
                let (tuple, flags, tcp) = l4(repr.next_header, ip.payload(), |p, tcp| {
                    if tcp {
                        TcpPacket::new_checked(p)
                            .unwrap()
                            .verify_checksum_v6(&repr.src_addr, &repr.dst_addr)
                    } else {
                        UdpPacket::new_checked(p)
                            .unwrap()
                            .verify_checksum_v6(&repr.src_addr, &repr.dst_addr)
                    }
                });
                let text = format!("{}:{} {}", repr.src_addr, repr.dst_addr, tuple);
                (true, tcp, eth.payload().len(), text, flags)
            }
            other => panic!("ethertype {other:?}"),
        }
    }

    fn l4(
        protocol: IpProtocol,
        payload: &[u8],
        checksum_ok: impl Fn(&[u8], bool) -> bool,
    ) -> (String, Option<TcpFlags>, bool) {
        match protocol {
            IpProtocol::Tcp => {
                let p = TcpPacket::new_checked(payload).unwrap();
                let r = TcpRepr::parse(&p).unwrap();
                assert!(checksum_ok(payload, true), "TCP checksum");
                (
                    format!("tcp {}>{}", r.src_port, r.dst_port),
                    Some(r.flags),
                    true,
                )
            }
            IpProtocol::Udp => {
                let p = UdpPacket::new_checked(payload).unwrap();
                let r = UdpRepr::parse(&p).unwrap();
                assert!(checksum_ok(payload, false), "UDP checksum");
                (format!("udp {}>{}", r.src_port, r.dst_port), None, false)
            }
            other => panic!("protocol {other:?}"),
        }
    }

    #[test]
    fn frames_parse_back_with_the_asked_sizes_shares_and_distinct_flows() {
        let t = traffic(1000, &[64, 200, 1500], 0.25, 0.5, 2);
        let frames = endpoint_frames(&t);
        assert_eq!(frames.len(), 2000);
        let mut tuples = std::collections::BTreeSet::new();
        let (mut v6, mut tcp) = (0, 0);
        for (j, f) in frames.iter().enumerate() {
            let (is_v6, is_tcp, len, tuple, flags) = parse(&f.data);
            assert_eq!(len, usize::from(t.inner_sizes[j % 3]), "packet {j}");
            if j < 1000 {
                tuples.insert(tuple.clone());
                v6 += usize::from(is_v6);
                tcp += usize::from(is_tcp);
                // The first packet of a TCP flow opens it.
                if is_tcp {
                    assert_eq!(flags, Some(TcpFlags::SYN));
                }
            } else {
                // The second pass is the same flows, established.
                assert!(tuples.contains(&tuple), "packet {j}: {tuple}");
                if is_tcp {
                    assert!(flags.unwrap().contains(TcpFlags::ACK));
                }
            }
        }
        assert_eq!(tuples.len(), 1000, "one 5-tuple per flow");
        assert!((245..=255).contains(&v6), "{v6} IPv6 flows of 1000");
        assert!((495..=505).contains(&tcp), "{tcp} TCP flows of 1000");
    }

    #[test]
    fn smallest_sizes_fit_every_header() {
        for (v6, tcp, size) in [
            (0.0, 0.0, 28),
            (1.0, 0.0, 48),
            (0.0, 1.0, 44),
            (1.0, 1.0, 64),
        ] {
            let t = traffic(3, &[size], v6, tcp, 2);
            assert_eq!(t.smallest_inner_size(), size);
            for f in endpoint_frames(&t) {
                let (_, _, len, _, _) = parse(&f.data);
                // ACKs without the MSS option could be shorter; they are padded to the size.
                assert_eq!(len, usize::from(size));
            }
        }
    }

    #[test]
    fn many_flows_stay_distinct() {
        let t = traffic(200_000, &[64], 0.0, 0.0, 1);
        let mut seen = std::collections::HashSet::new();
        for j in (0..t.packets()).step_by(7) {
            assert!(seen.insert(endpoint_frame(&t, j)[26..38].to_vec()));
        }
    }

    #[test]
    fn geneve_and_returns_are_gwlb_frames_with_one_cookie_per_flow() {
        let dir = std::env::temp_dir().join(format!("sluice-perf-test-{}", std::process::id()));
        let t = traffic(64, &[100], 0.5, 0.5, 2);
        let captures = generate(
            &t,
            &dir,
            Kinds {
                geneve: true,
                returns: true,
            },
        )
        .unwrap();
        assert_eq!(captures.endpoint.packets, 128);
        let geneve = captures.geneve.unwrap();
        let returns = captures.returns.unwrap();
        assert_eq!(geneve.packets, 128);
        assert_eq!(returns.packets, 128);
        // Outer Ethernet 14, IPv4 20, UDP 8, GENEVE 8 + 32 of options, then the inner packet.
        assert!((geneve.mean_frame_bytes - (14.0 + 68.0 + 100.0)).abs() < 1e-9);
        for (path, to_gateway) in [(&geneve.path, false), (&returns.path, true)] {
            let (packets, damage) = sluice::capture::read(path).unwrap();
            assert!(damage.is_none());
            let mut cookies = std::collections::BTreeMap::new();
            for (j, p) in packets.iter().enumerate() {
                let eth = EthernetFrame::new_checked(&p.data[..]).unwrap();
                let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                let outer = Ipv4Repr::parse(&ip).unwrap();
                let gateway = Ipv4Addr::new(10, 0, 1, 1);
                let appliance = Ipv4Addr::new(10, 0, 1, 10);
                if to_gateway {
                    assert_eq!((outer.src_addr, outer.dst_addr), (appliance, gateway));
                } else {
                    assert_eq!((outer.src_addr, outer.dst_addr), (gateway, appliance));
                }
                let udp = UdpPacket::new_checked(ip.payload()).unwrap();
                assert_eq!(udp.dst_port(), 6081);
                let g = GenevePacket::new_checked(udp.payload()).unwrap();
                let options = GwlbOptions::parse(g.options_iter()).unwrap();
                assert_eq!(g.payload().len(), 100);
                let flow = j % 64;
                assert_eq!(
                    *cookies.entry(flow).or_insert(options.flow_cookie),
                    options.flow_cookie
                );
            }
            let distinct: std::collections::BTreeSet<_> = cookies.values().collect();
            assert_eq!(distinct.len(), 64, "a cookie per flow");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
