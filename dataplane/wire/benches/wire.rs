//! Criterion benchmarks of the per-packet work `wire` does on the data plane's hot paths:
//! walking a GWLB packet from Ethernet to the inner 5-tuple (what the appliance and the
//! gateway's return path do first), the checksums, and the appliance's in-place MSS clamp.
//!
//! Run: `cargo bench -p sluice-wire` (ns per packet; compare medians, never timed tests).

#![expect(
    clippy::unwrap_used,
    reason = "benchmark fixtures are built to be valid"
)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_wire::checksum;
use sluice_wire::ethernet::{EtherType, EthernetFrame};
use sluice_wire::geneve::GenevePacket;
use sluice_wire::gwlb::GwlbOptions;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::tcp::TcpPacket;
use sluice_wire::udp::UdpPacket;

/// The first packet of `tests/data/gwlb.pcap`: Ethernet / IPv4 / UDP 6081 / GENEVE with the
/// three GWLB options / IPv4 / TCP SYN with MSS 1460 (pcap record header skipped).
fn gwlb_syn() -> Vec<u8> {
    let pcap = include_bytes!("../tests/data/gwlb.pcap");
    let len = u32::from_le_bytes(pcap[24 + 8..24 + 12].try_into().unwrap()) as usize;
    pcap[24 + 16..24 + 16 + len].to_vec()
}

/// What a worker extracts from an appliance-bound packet before it looks the flow up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Parsed {
    outer_src: u32,
    udp_src_port: u16,
    endpoint_id: u64,
    cookie: u32,
    inner: (u32, u32, u16, u16, u8),
}

fn parse_gwlb(frame: &[u8]) -> Option<Parsed> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let geneve = GenevePacket::new_checked(udp.payload()).ok()?;
    let options = GwlbOptions::parse(geneve.options_iter()).ok()?;
    let inner = Ipv4Packet::new_checked(geneve.payload()).ok()?;
    let tcp = TcpPacket::new_checked(inner.payload()).ok()?;
    Some(Parsed {
        outer_src: ip.src_addr().to_bits(),
        udp_src_port: udp.src_port(),
        endpoint_id: options.endpoint_id,
        cookie: options.flow_cookie,
        inner: (
            inner.src_addr().to_bits(),
            inner.dst_addr().to_bits(),
            tcp.src_port(),
            tcp.dst_port(),
            u8::from(inner.protocol()),
        ),
    })
}

fn bench_parse(c: &mut Criterion) {
    let frame = gwlb_syn();
    assert!(parse_gwlb(&frame).is_some());
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("gwlb_frame_to_inner_5tuple", |b| {
        b.iter(|| parse_gwlb(black_box(&frame)))
    });
    let options = {
        let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        udp.payload()[..40].to_vec()
    };
    group.bench_function("gwlb_options_only", |b| {
        b.iter(|| {
            let geneve = GenevePacket::new_checked(black_box(&options[..])).unwrap();
            GwlbOptions::parse(geneve.options_iter())
        })
    });
    group.finish();
}

fn bench_checksum(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for len in [20usize, 64, 1500, 8500] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("data_{len}B"), |b| {
            b.iter(|| checksum::data(black_box(&data)))
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("rfc1624_update", |b| {
        b.iter(|| checksum::update(black_box(0x1234), black_box(0xabcd), black_box(0x4321)))
    });
    group.finish();
}

fn bench_mss_clamp(c: &mut Criterion) {
    let frame = gwlb_syn();
    // The inner TCP header starts after 14 + 20 + 8 + 40 + 20 bytes.
    let tcp_at = 14 + 20 + 8 + 40 + 20;
    let mut segment = frame[tcp_at..].to_vec();
    let (src, dst) = (
        Ipv4Addr::new(192, 168, 10, 20),
        Ipv4Addr::new(198, 51, 100, 7),
    );
    let mut group = c.benchmark_group("tcp");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mss_clamp_in_place", |b| {
        let mut mss = 1460u16;
        b.iter(|| {
            mss ^= 0x0100;
            let mut tcp = TcpPacket::new_unchecked(&mut segment[..]);
            tcp.set_mss_in_place(black_box(mss)).unwrap()
        })
    });
    assert!(
        TcpPacket::new_checked(&segment[..])
            .unwrap()
            .verify_checksum_v4(&src, &dst)
    );
    group.finish();
}

criterion_group!(benches, bench_parse, bench_checksum, bench_mss_clamp);
criterion_main!(benches);
