//! Criterion benchmarks of the pipelines per packet: the gateway's established-flow
//! encapsulation, return-path decapsulation and new-flow creation, and the appliance's return
//! of established flows, with 1 K and 1 M live flows.
//!
//! Run: `cargo bench -p sluice-dpdk --bench pipeline` (ns/packet medians). Each iteration
//! copies a ~100-byte frame into a reused buffer (as a NIC fills an mbuf) and processes it.
//! The `_burst` variants do the same for bursts of [`BURST`] frames through the burst forms
//! (`process_burst`, the engine alone), and the `_burst_prefetch` ones through
//! `process_burst_with` and the runtime's [`Prefetcher`]: what `sluice run` does with a flow
//! table over 1 MiB. They report the time per packet too.
//!
//! The `1000000` cases cycle a sample of 4,096 of the million flows, whose table lines stay
//! in L2 once visited: a workload with a hot set. The `1M_uniform` ones draw every packet's
//! flow uniformly from the million (2^20 frames), so nearly every lookup misses L2: the
//! worst case.
//!
//! The tables' memory is what the runtime gives the workers: transparent huge pages (glibc
//! advises them for its large blocks, `GLIBC_TUNABLES` in `.cargo/config.toml`; the runtime
//! advises them itself) with the kernel's THP mode `madvise` or `always`.

#![expect(
    clippy::unwrap_used,
    reason = "benchmark fixtures are built to be valid"
)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_dpdk::memory::Prefetcher;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::snapshot::{GatewaySnapshot, PortInfo};
use sluice_engine::testkit::{SEC, mac, simple_lab};
use sluice_wire::ethernet::EthernetAddress;

/// Frames per burst in the `_burst` variants: the runtime's default burst size.
const BURST: usize = 32;

/// Criterion's `iter_custom` body for a burst form: `iters` packets in bursts of [`BURST`]
/// (`run(first, burst)` fills and processes one burst, starting at sample `first`), timed
/// together and reported per packet, over a sample of 4,096 frames.
fn per_packet(iters: u64, run: impl FnMut(usize)) -> Duration {
    per_packet_over(iters, &mut 0, 4096, run)
}

/// [`per_packet`] over a sample of `len` frames (a power of two), from `cursor` on, which
/// it advances: successive calls go on through the sample rather than start it again.
fn per_packet_over(
    iters: u64,
    cursor: &mut usize,
    len: usize,
    mut run: impl FnMut(usize),
) -> Duration {
    let bursts = iters.div_ceil(BURST as u64);
    let start = Instant::now();
    for _ in 0..bursts {
        run(*cursor);
        *cursor = (*cursor + BURST) & (len - 1);
    }
    // The last burst may run past `iters`: scale to what was asked.
    start
        .elapsed()
        .mul_f64(iters as f64 / (bursts * BURST as u64) as f64)
}

/// Frames in the `1M_uniform` samples: every packet's flow drawn uniformly from the million.
const UNIFORM: usize = 1 << 20;

/// A small deterministic generator (xorshift64) for the uniform samples.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Buffers for one burst, as the runtime's mbufs: reused, refilled per burst.
fn burst_buffers() -> (Vec<Option<HeapPacket>>, Vec<Option<Verdict>>) {
    (
        (0..BURST).map(|_| Some(HeapPacket::new(&[]))).collect(),
        vec![None; BURST],
    )
}

/// How a benchmark hands its frames to a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `process`, one frame at a time.
    OnePacket,
    /// `process_burst`: the engine alone.
    Burst,
    /// `process_burst_with` and the runtime's [`Prefetcher`].
    BurstPrefetch,
}

/// Runs a filled burst through the gateway in `form` (a burst form).
fn gateway_burst(
    gw: &mut Gateway<'_>,
    (snapshot, ports, port): (&GatewaySnapshot, &[PortInfo], u16),
    burst: &mut [Option<HeapPacket>],
    now: u64,
    verdicts: &mut [Option<Verdict>],
    form: Form,
) {
    if form == Form::BurstPrefetch {
        gw.process_burst_with(snapshot, ports, port, burst, now, verdicts, &Prefetcher);
    } else {
        gw.process_burst(snapshot, ports, port, burst, now, verdicts);
    }
    black_box(verdicts);
}

/// Copies `frames[first..first + BURST]` into the burst's buffers.
fn fill(packets: &mut [Option<HeapPacket>], frames: &[Vec<u8>], first: usize) {
    for (slot, frame) in packets.iter_mut().zip(&frames[first..first + BURST]) {
        if let Some(p) = slot {
            p.reset(frame);
        }
    }
}

fn setup() -> (Vec<PortInfo>, GatewaySnapshot) {
    simple_lab(10)
}

/// An Ethernet/IPv4/UDP frame with 18 bytes of payload (64 B on the wire with the FCS) from
/// client `n` (192.168.x.y:port) to 198.51.100.7:53. The IPv4 header checksum is not filled:
/// the gateway does not check the inner header.
fn client_frame(n: u32) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 18];
    f[0..6].copy_from_slice(&mac(1).0);
    f[6..12].copy_from_slice(&mac(0xfe).0);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&46u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[192, 168, (n >> 8) as u8, n as u8]);
    ip[16..20].copy_from_slice(&[198, 51, 100, 7]);
    let udp = &mut ip[20..];
    udp[0..2].copy_from_slice(&(1024 + (n >> 16) as u16).to_be_bytes());
    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
    udp[4..6].copy_from_slice(&26u16.to_be_bytes());
    f
}

fn bench_gateway(c: &mut Criterion) {
    let (ports, snapshot) = setup();
    let mut group = c.benchmark_group("gateway");
    group.throughput(Throughput::Elements(1));
    for flows in [1_000u32, 1_000_000] {
        // Built by the first of these benchmarks that runs, so that a filtered run builds only
        // what it measures. The table is leaked: it lives as long as the process anyway.
        let build = || {
            let capacity = (flows as usize * 2).next_power_of_two().max(1024);
            let table: &'static FlowTable = Box::leak(Box::new(FlowTable::new(capacity).unwrap()));
            table.prefault();
            let mut gw = Gateway::new(table);
            let mut packet = HeapPacket::new(&[]);
            let sample: Vec<Vec<u8>> = (0..4096u32)
                .map(|i| client_frame(i * (flows / 4096).max(1) % flows))
                .collect();
            for n in 0..flows {
                packet.reset(&client_frame(n));
                assert!(matches!(
                    gw.process(&snapshot, &ports, 0, &mut packet, SEC),
                    Verdict::Transmit { .. }
                ));
            }
            let returns = returns_of(&mut gw, &snapshot, &ports, &sample);
            // Port 0 sends endpoint traffic, port 1 the appliances' returns.
            (gw, [sample, returns])
        };
        let mut fixture = None;
        let mut packet = HeapPacket::new(&[]);
        let (mut burst, mut verdicts) = burst_buffers();
        for (name, port) in [("encap_established", 0), ("decap_return", 1)] {
            group.bench_function(BenchmarkId::new(name, flows), |b| {
                let (gw, frames) = fixture.get_or_insert_with(build);
                let frames = &frames[port];
                let mut i = 0;
                b.iter(|| {
                    i = (i + 1) & 4095;
                    packet.reset(&frames[i]);
                    black_box(gw.process(&snapshot, &ports, port as u16, &mut packet, 2 * SEC))
                })
            });
        }
        for (name, port, form) in [
            ("encap_established_burst", 0, Form::Burst),
            ("decap_return_burst", 1, Form::Burst),
            ("encap_established_burst_prefetch", 0, Form::BurstPrefetch),
            ("decap_return_burst_prefetch", 1, Form::BurstPrefetch),
        ] {
            group.bench_function(BenchmarkId::new(name, flows), |b| {
                let (gw, frames) = fixture.get_or_insert_with(build);
                let frames = &frames[port];
                let at = (&snapshot, &ports[..], port as u16);
                b.iter_custom(|iters| {
                    per_packet(iters, |first| {
                        fill(&mut burst, frames, first);
                        gateway_burst(gw, at, &mut burst, 2 * SEC, &mut verdicts, form);
                    })
                })
            });
        }
    }
    // The runtime's path at 1 M flows with no hot set: every packet's flow drawn uniformly
    // from the million (2^20 frames, each flow's lines mostly out of the caches when its
    // packet comes), against the 4,096-flow sample above, whose lines stay in L2.
    let mut uniform = None;
    let mut cursor = 0;
    let (mut burst, mut verdicts) = burst_buffers();
    // The `frames_only` cases copy the same frames into the burst and process nothing: the
    // part of the `1M_uniform` cost that is the benchmark's own frames coming from memory.
    for (name, port) in [
        ("encap_established_burst_prefetch", 0),
        ("decap_return_burst_prefetch", 1),
        ("encap_frames_only", 0),
        ("decap_frames_only", 1),
    ] {
        let process = !name.ends_with("frames_only");
        group.bench_function(BenchmarkId::new(name, "1M_uniform"), |b| {
            let (gw, frames) = uniform.get_or_insert_with(|| {
                let flows = 1_000_000u32;
                let table: &'static FlowTable =
                    Box::leak(Box::new(FlowTable::new(1 << 21).unwrap()));
                table.prefault();
                let mut gw = Gateway::new(table);
                let mut packet = HeapPacket::new(&[]);
                for n in 0..flows {
                    packet.reset(&client_frame(n));
                    gw.process(&snapshot, &ports, 0, &mut packet, SEC);
                }
                let mut state = 0x9e37_79b9_7f4a_7c15;
                let sample: Vec<Vec<u8>> = (0..UNIFORM)
                    .map(|_| client_frame((next_random(&mut state) % u64::from(flows)) as u32))
                    .collect();
                let returns = returns_of(&mut gw, &snapshot, &ports, &sample);
                (gw, [sample, returns])
            });
            let frames = &frames[port];
            b.iter_custom(|iters| {
                per_packet_over(iters, &mut cursor, UNIFORM, |first| {
                    fill(&mut burst, frames, first);
                    if process {
                        let at = (&snapshot, &ports[..], port as u16);
                        gateway_burst(
                            gw,
                            at,
                            &mut burst,
                            2 * SEC,
                            &mut verdicts,
                            Form::BurstPrefetch,
                        );
                    }
                    black_box(&burst);
                })
            })
        });
    }
    bench_new_flows(&mut group, &ports, &snapshot);
    group.finish();
}

/// The appliance's returns of endpoint frames of established flows: each frame encapsulated
/// by `gw`, with outer addresses and MACs swapped, as an appliance sends it back.
fn returns_of(
    gw: &mut Gateway<'_>,
    snapshot: &GatewaySnapshot,
    ports: &[PortInfo],
    frames: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut packet = HeapPacket::new(&[]);
    frames
        .iter()
        .map(|f| {
            packet.reset(f);
            gw.process(snapshot, ports, 0, &mut packet, SEC);
            let mut r = packet.data().to_vec();
            let (s, d) = (r[26..30].to_vec(), r[30..34].to_vec());
            r[26..30].copy_from_slice(&d);
            r[30..34].copy_from_slice(&s);
            let (ms, md) = (r[0..6].to_vec(), r[6..12].to_vec());
            r[0..6].copy_from_slice(&md);
            r[6..12].copy_from_slice(&ms);
            r
        })
        .collect()
}

/// Live flows in the steady-state new-flow benches.
const STEADY_LIVE: u64 = 1 << 20;

/// New flows: every packet a 5-tuple never seen (source 10.a.b.c, source port from the
/// count's high bits), one at a time and in bursts (as the runtime processes them with a
/// table over 1 MiB, with and without its prefetch).
///
/// `*/1M_live`: the steady state of a busy gateway with about a million live flows in a
/// table of 2 Mi slots (the size the established benches use for 1 M flows). The clock
/// advances so that a flow's 120 s idle timeout passes after 3/4 Mi newer flows, and between
/// bursts, outside the timed part, an expiry sweep visits 8 slots per packet (the control
/// thread's job in `sluice run`): flows live for 3/4 to 1 Mi new flows after them. The table
/// is brought to that state before measuring.
///
/// `new_flow_burst_prefetch/64Mi_empty`: the same packets into an empty table of 64 Mi slots
/// (4.5 GiB, larger than any cache and the TLB's reach with 2 MiB pages), which criterion's
/// iterations never fill past about a third.
fn bench_new_flows(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ports: &[PortInfo],
    snapshot: &GatewaySnapshot,
) {
    use sluice_engine::flow_table::ExpiryCursor;

    let attributes = snapshot.attributes;
    let step = attributes.other_idle_timeout_ns / (STEADY_LIVE * 3 / 4);
    let sweep_per_burst = 8 * BURST;
    let mut n = 0u64;
    let mut next_frame = move |f: &mut Vec<u8>| {
        n += 1;
        f[14 + 12..14 + 16]
            .copy_from_slice(&(0x0a00_0000 | (n as u32 & 0x00ff_ffff)).to_be_bytes());
        f[14 + 20..14 + 22].copy_from_slice(&(1024 + (n >> 24) as u16).to_be_bytes());
    };
    let mut frames: Vec<Vec<u8>> = vec![client_frame(0); BURST];
    let (mut burst, mut verdicts) = burst_buffers();
    let mut packet = HeapPacket::new(&[]);

    // Built by the first of these benchmarks that runs (see `bench_gateway`).
    let table: &'static FlowTable =
        Box::leak(Box::new(FlowTable::new(2 * STEADY_LIVE as usize).unwrap()));
    let mut gw = Gateway::new(table);
    let mut steady = false;
    let mut cursor = ExpiryCursor::new();
    let mut now = SEC;
    // One burst of new flows: processed in `form` (timed); the sweep follows, untimed.
    let mut steady_burst = |gw: &mut Gateway<'_>,
                            form: Form,
                            burst: &mut Vec<Option<HeapPacket>>,
                            verdicts: &mut Vec<Option<Verdict>>|
     -> Duration {
        frames.iter_mut().for_each(&mut next_frame);
        let start = Instant::now();
        if form == Form::OnePacket {
            for (i, frame) in frames.iter().enumerate() {
                packet.reset(frame);
                black_box(gw.process(snapshot, ports, 0, &mut packet, now + i as u64 * step));
            }
        } else {
            fill(burst, &frames, 0);
            gateway_burst(gw, (snapshot, ports, 0), burst, now, verdicts, form);
        }
        let elapsed = start.elapsed();
        now += BURST as u64 * step;
        table.expire(
            now,
            &mut cursor,
            sweep_per_burst,
            |k| attributes.idle_timeout_ns(k),
            |_| {},
        );
        elapsed
    };
    for (variant, form) in [
        ("new_flow", Form::OnePacket),
        ("new_flow_burst", Form::Burst),
        ("new_flow_burst_prefetch", Form::BurstPrefetch),
    ] {
        group.bench_function(BenchmarkId::new(variant, "1M_live"), |b| {
            if !steady {
                // To the steady state: two lifetimes of new flows.
                table.prefault();
                for _ in 0..2 * STEADY_LIVE as usize / BURST {
                    steady_burst(&mut gw, Form::BurstPrefetch, &mut burst, &mut verdicts);
                }
                steady = true;
            }
            b.iter_custom(|iters| {
                let bursts = iters.div_ceil(BURST as u64);
                let total: Duration = (0..bursts)
                    .map(|_| steady_burst(&mut gw, form, &mut burst, &mut verdicts))
                    .sum();
                total.mul_f64(iters as f64 / (bursts * BURST as u64) as f64)
            })
        });
    }
    if steady {
        let stats = table.stats();
        eprintln!(
            "new flows, steady state: {} live of {} slots; {} created, {} expired, {} evicted, \
             {} refused as full",
            stats.live,
            table.capacity(),
            stats.inserts,
            stats.expiries,
            stats.evictions,
            stats.full
        );
    }

    let mut empty = None;
    group.bench_function(
        BenchmarkId::new("new_flow_burst_prefetch", "64Mi_empty"),
        |b| {
            let gw = empty.get_or_insert_with(|| {
                let table: &'static FlowTable =
                    Box::leak(Box::new(FlowTable::new(1 << 26).unwrap()));
                table.prefault();
                Gateway::new(table)
            });
            b.iter_custom(|iters| {
                per_packet(iters, |_| {
                    frames.iter_mut().for_each(&mut next_frame);
                    fill(&mut burst, &frames, 0);
                    let at = (snapshot, ports, 0);
                    gateway_burst(
                        gw,
                        at,
                        &mut burst,
                        3 * SEC,
                        &mut verdicts,
                        Form::BurstPrefetch,
                    );
                })
            })
        },
    );
    if let Some(gw) = empty {
        let stats = gw.table.stats();
        eprintln!(
            "new flows, 64 Mi slots: {} created, {} refused as full, table {} MiB",
            stats.inserts,
            stats.full,
            gw.table.memory_bytes() >> 20
        );
    }
}

/// The appliance answering GWLB packets of established flows, with 1 K and 1 M flows in its
/// table. The packets are the gateway's own GENEVE output with the inner source address
/// varied per flow (the appliance does not check inner checksums).
fn bench_appliance(c: &mut Criterion) {
    use sluice_engine::appliance::{Appliance, FlowRecords};
    use sluice_engine::snapshot::ApplianceSnapshot;

    let (ports, snapshot) = setup();
    let table = FlowTable::new(1024).unwrap();
    let mut gw = Gateway::new(&table);
    let mut packet = HeapPacket::new(&client_frame(0));
    gw.process(&snapshot, &ports, 0, &mut packet, SEC);
    let template = packet.data().to_vec();
    let inner_src = 14 + 20 + 8 + 40 + 12;
    let request = |n: u32| {
        let mut f = template.clone();
        f[inner_src..inner_src + 4].copy_from_slice(&(0x0a00_0000 | n).to_be_bytes());
        f
    };
    let app_ports = vec![PortInfo {
        name: "gwlb".into(),
        mac: EthernetAddress(template[0..6].try_into().unwrap()),
        address: Ipv4Addr::new(template[30], template[31], template[32], template[33]),
        prefix_len: 24,
        neighbors: vec![],
        gateway: None,
    }];
    let app_snapshot = ApplianceSnapshot {
        gwlb_sources: vec![(Ipv4Addr::new(10, 0, 1, 0), 24)],
        tcp_idle_timeout_ns: 350 * SEC,
        other_idle_timeout_ns: 120 * SEC,
        mss_clamp: None,
        policy: std::sync::Arc::new(sluice_engine::policy::Policy::allow_all()),
    };
    // Runs a filled burst through the appliance in `form` (a burst form).
    let appliance_burst = |app: &mut Appliance<'_>,
                           burst: &mut [Option<HeapPacket>],
                           verdicts: &mut [Option<Verdict>],
                           form: Form| {
        let (snapshot, ports) = (&app_snapshot, &app_ports[..]);
        if form == Form::BurstPrefetch {
            app.process_burst_with(snapshot, ports, 0, burst, 2 * SEC, verdicts, &Prefetcher);
        } else {
            app.process_burst(snapshot, ports, 0, burst, 2 * SEC, verdicts);
        }
        black_box(verdicts);
    };
    let mut group = c.benchmark_group("appliance");
    group.throughput(Throughput::Elements(1));
    // An appliance with `flows` flows, and requests of the flows `picks` names (built by the
    // first benchmark that needs them: see `bench_gateway`).
    let build = |flows: u32, picks: Vec<u32>| {
        let capacity = (flows as usize * 2).next_power_of_two().max(1024);
        let table: &'static FlowTable = Box::leak(Box::new(FlowTable::new(capacity).unwrap()));
        let records: &'static FlowRecords = Box::leak(Box::new(FlowRecords::new(capacity)));
        table.prefault();
        records.prefault();
        let mut app = Appliance::new(table, records);
        let mut packet = HeapPacket::new(&[]);
        for n in 0..flows {
            packet.reset(&request(n));
            assert_eq!(
                app.process(&app_snapshot, &app_ports, 0, &mut packet, SEC),
                Verdict::Transmit { port: 0 }
            );
        }
        (app, picks.into_iter().map(request).collect::<Vec<_>>())
    };
    for flows in [1_000u32, 1_000_000] {
        let build = || {
            build(
                flows,
                (0..4096u32)
                    .map(|i| i * (flows / 4096).max(1) % flows)
                    .collect(),
            )
        };
        let mut fixture = None;
        group.bench_function(BenchmarkId::new("return_established", flows), |b| {
            let (app, sample) = fixture.get_or_insert_with(build);
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) & 4095;
                packet.reset(&sample[i]);
                black_box(app.process(&app_snapshot, &app_ports, 0, &mut packet, 2 * SEC))
            })
        });
        let (mut burst, mut verdicts) = burst_buffers();
        for (name, form) in [
            ("return_established_burst", Form::Burst),
            ("return_established_burst_prefetch", Form::BurstPrefetch),
        ] {
            group.bench_function(BenchmarkId::new(name, flows), |b| {
                let (app, sample) = fixture.get_or_insert_with(build);
                b.iter_custom(|iters| {
                    per_packet(iters, |first| {
                        fill(&mut burst, sample, first);
                        appliance_burst(app, &mut burst, &mut verdicts, form);
                    })
                })
            });
        }
    }
    // No hot set (see `bench_gateway`): every request's flow drawn uniformly from a million.
    let mut uniform = None;
    let mut cursor = 0;
    let (mut burst, mut verdicts) = burst_buffers();
    for name in ["return_established_burst_prefetch", "frames_only"] {
        let process = name != "frames_only";
        group.bench_function(BenchmarkId::new(name, "1M_uniform"), |b| {
            let (app, sample) = uniform.get_or_insert_with(|| {
                let mut state = 0x9e37_79b9_7f4a_7c15;
                let picks = (0..UNIFORM)
                    .map(|_| (next_random(&mut state) % 1_000_000) as u32)
                    .collect();
                build(1_000_000, picks)
            });
            b.iter_custom(|iters| {
                per_packet_over(iters, &mut cursor, UNIFORM, |first| {
                    fill(&mut burst, sample, first);
                    if process {
                        appliance_burst(app, &mut burst, &mut verdicts, Form::BurstPrefetch);
                    }
                    black_box(&burst);
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gateway, bench_appliance);
criterion_main!(benches);
