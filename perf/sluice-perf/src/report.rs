//! The Markdown report drawn from [`Results`]: goals, throughput beside the ceilings,
//! sluice's latency, flow-table scaling, packet size, notes, and every run's numbers.

use std::fmt::Write as _;

use crate::results::{Results, ScenarioResult, Tool};
use crate::scenario::Role;

/// The plots the report links (written by `plots::draw` beside it), by file stem.
pub const PLOTS: [(&str, &str); 3] = [
    ("mpps-vs-flows", "Mpps versus established flows"),
    ("mpps-vs-size", "Mpps versus inner packet size"),
    ("latency", "sluice's burst latency distribution"),
];

fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

fn flows(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} Mi", n >> 20),
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{} M", n / 1_000_000),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} Ki", n >> 10),
        n if n >= 1000 && n % 1000 == 0 => format!("{} K", n / 1000),
        n => n.to_string(),
    }
}

/// A flow count on a plot's axis: 1 K, 100 K, 1 M, 10 M.
pub fn flows_label(x: f64) -> String {
    let (v, unit) = if x >= 1e6 {
        (x / 1e6, " M")
    } else if x >= 1e3 {
        (x / 1e3, " K")
    } else {
        (x, "")
    };
    let digits = if v < 10.0 && v.fract().abs() > 0.05 {
        1
    } else {
        0
    };
    format!("{v:.digits$}{unit}")
}

fn sizes(s: &ScenarioResult) -> String {
    let mut v = s.traffic.inner_sizes.clone();
    v.sort_unstable();
    v.dedup();
    if v.len() > 3 {
        format!("mix of {}", v.len())
    } else {
        v.iter().map(u16::to_string).collect::<Vec<_>>().join("/")
    }
}

/// The traffic in a few words: IPv4/IPv6 and UDP/TCP shares.
fn mix(s: &ScenarioResult) -> String {
    let t = &s.traffic;
    let part = |share: f64, a: &str, b: &str| match share {
        x if x <= 0.0 => a.to_owned(),
        x if x >= 1.0 => b.to_owned(),
        x => format!("{a}+{:.0}% {b}", x * 100.0),
    };
    let mut text = format!(
        "{} {}",
        part(t.ipv6_share, "IPv4", "IPv6"),
        part(t.tcp_share, "UDP", "TCP")
    );
    if t.packets_per_flow > 1 {
        let _ = write!(text, ", {} pkt/flow", t.packets_per_flow);
    }
    text
}

/// Scenarios with a tag, sorted by `key`.
pub fn tagged<'a>(
    r: &'a Results,
    tag: &str,
    key: impl Fn(&ScenarioResult) -> u64,
) -> Vec<&'a ScenarioResult> {
    let mut v: Vec<&ScenarioResult> = r
        .scenarios
        .iter()
        .filter(|s| s.tags.iter().any(|t| t == tag))
        .collect();
    v.sort_by_key(|s| key(s));
    v
}

/// The report.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let date = r.created.get(..10).unwrap_or(&r.created);
    let _ = writeln!(s, "# sluice perf lab — {date}\n");
    let _ = writeln!(
        s,
        "- **Machine:** `{}`: {} ({} CPUs), {:.1} GiB, {}, kernel {}, DPDK {}{}.",
        m.hostname,
        m.cpu_model,
        m.cores,
        m.memory_gib,
        m.os,
        m.kernel,
        m.dpdk,
        m.tsc_hz.map_or(String::new(), |hz| format!(
            ", TSC {:.3} GHz",
            hz as f64 / 1e9
        ))
    );
    let build = |b: &crate::results::Build| {
        format!(
            "{} (commit {}{})",
            b.label,
            b.commit,
            if b.dirty {
                ", with uncommitted changes"
            } else {
                ""
            }
        )
    };
    let _ = writeln!(s, "- **sluice:** {}.", build(&r.sluice));
    let _ = writeln!(
        s,
        "- **Memory:** {}.",
        match r.memory {
            crate::lab::Memory::Hugepages => "2 MiB hugepages (`--in-memory`) for both tools",
            crate::lab::Memory::NoHuge =>
                "4 KiB pages (`--no-huge`) for both tools: no hugepages were free; every mbuf of \
                 the default size takes a page of its own, so large captures cost TLB misses",
        }
    );
    if let Some(c) = &r.compare {
        let _ = writeln!(s, "- **Compared with:** {}.", build(c));
    }
    let _ = writeln!(
        s,
        "- **Started** {}; the measurements took {:.1} min.\n",
        r.created,
        r.total_seconds / 60.0
    );
    s.push_str(METHOD);

    goals(&mut s, r);
    throughput(&mut s, r);
    latency(&mut s, r);
    scaling(&mut s, r);
    packet_size(&mut s, r);
    s.push_str("\n## Plots\n\n");
    for (stem, title) in PLOTS {
        let _ = writeln!(
            s,
            "**{title}** ([SVG]({stem}.svg), [PNG]({stem}.png))\n\n![{title}]({stem}.svg)\n"
        );
    }
    notes(&mut s, r);
    runs(&mut s, r);
    s
}

const METHOD: &str = "\
One worker on core 1 (busy polling unless a scenario says otherwise), DPDK's `net_pcap` with \
`infinite_rx=1` replaying the scenario's capture as input and `net_null` (or the `net_pcap` \
port's own transmit, which drops) as output; `dpdk-testpmd` on the identical devices, pool and \
burst, one forwarding core, as the ceilings: `5tswap` (swaps MACs, IPs and ports: touches what \
a load balancer touches) and `io` (forwards untouched). Each tool runs the given number of times \
per scenario, alternating (the order rotates each repetition). A run's rate is the mean of its \
per-second rates after the warm-up (sluice's status lines; testpmd's summed `Rx-pps`); the \
tables give the **median of the runs**. Gbit/s count the frames (Ethernet header to the end, \
no FCS). Cycles per packet are TSC cycles per second over the rate: what one busy core spends \
on each packet, I/O included. Latency is sluice's own: its workers' HdrHistograms of TSC cycles \
from the end of an RX burst to the end of its TX (*burst*, the longest any packet of the \
burst waits inside sluice) and that divided by the burst's packets (*packet*, its cost), \
median of the runs for each percentile.\n";

fn goals(s: &mut String, r: &Results) {
    let all: Vec<_> = r
        .scenarios
        .iter()
        .flat_map(|sc| sc.goals.iter().map(move |g| (sc, g)))
        .collect();
    if all.is_empty() {
        return;
    }
    s.push_str("\n## Goals\n\n| scenario | goal | measured | met |\n|---|---|---:|:---:|\n");
    for (sc, g) in all {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {met} |",
            sc.name,
            g.text,
            num(g.value, 2)
        );
    }
}

fn throughput(s: &mut String, r: &Results) {
    let compare = r.compare.is_some();
    s.push_str("\n## Throughput\n\n");
    s.push_str(
        "| scenario | role | flows | inner bytes | traffic | frame bytes | sluice Mpps | Gbit/s | cycles/pkt | testpmd 5tswap Mpps | testpmd io Mpps | sluice / 5tswap | sluice / io |",
    );
    if compare {
        s.push_str(" compared Mpps | this / compared |");
    }
    s.push_str("\n|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    if compare {
        s.push_str("---:|---:|");
    }
    s.push('\n');
    for sc in &r.scenarios {
        let sluice = sc.tool(Tool::Sluice);
        let _ = write!(
            s,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
            sc.name,
            sc.role,
            flows(sc.traffic.flows),
            sizes(sc),
            mix(sc),
            sc.capture.mean_frame_bytes,
            num(sc.mpps(Tool::Sluice), 2),
            num(sluice.and_then(|t| t.median_gbps), 2),
            num(sluice.and_then(|t| t.cycles_per_packet), 0),
            num(sc.mpps(Tool::Testpmd5tswap), 2),
            num(sc.mpps(Tool::TestpmdIo), 2),
            num(sc.ratios.to_5tswap, 2),
            num(sc.ratios.to_io, 2),
        );
        if compare {
            let _ = write!(
                s,
                " {} | {} |",
                num(sc.mpps(Tool::SluiceCompare), 2),
                num(sc.ratios.to_compare, 3)
            );
        }
        s.push('\n');
    }
}

fn latency(s: &mut String, r: &Results) {
    s.push_str(
        "\n## Latency inside sluice\n\nPer burst (RX to the end of TX), µs; per packet, ns. \
         Median of the runs for each percentile.\n\n\
         | scenario | burst size | burst p50 | p90 | p99 | p99.9 | max | packet p50 ns | packet p99 ns | packet cycles p50 |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for sc in &r.scenarios {
        let Some(l) = sc.tool(Tool::Sluice).and_then(|t| t.latency.as_ref()) else {
            continue;
        };
        let us = |ns: f64| format!("{:.2}", ns / 1000.0);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} |",
            sc.name,
            sc.run.burst,
            us(l.burst_ns.p50),
            us(l.burst_ns.p90),
            us(l.burst_ns.p99),
            us(l.burst_ns.p99_9),
            us(l.burst_ns.max),
            l.packet_ns.p50,
            l.packet_ns.p99,
            l.packet_cycles.p50
        );
    }
}

fn scaling(s: &mut String, r: &Results) {
    let v = tagged(r, "flow-scaling", |sc| sc.traffic.flows);
    if v.is_empty() {
        return;
    }
    s.push_str(
        "\n## Flow-table scaling\n\nThe same traffic over more established flows: every flow is \
         one frame of the replayed capture, so the capture (in mbufs) grows with the flow table \
         and testpmd slows down too. *sluice − 5tswap* is what sluice spends per packet beyond \
         the ceiling's I/O and header swap: its lookup, encapsulation and state, as the \
         working set grows.\n\n",
    );
    if let (Some(first), Some(last)) = (v.first(), v.last())
        && v.len() > 1
    {
        let _ = writeln!(
            s,
            "From {} to {} flows sluice keeps {} of its rate; testpmd 5tswap, which only \
             forwards, keeps {}.\n",
            flows(first.traffic.flows),
            flows(last.traffic.flows),
            num(
                crate::stats::ratio(last.mpps(Tool::Sluice), first.mpps(Tool::Sluice)),
                2
            ),
            num(
                crate::stats::ratio(
                    last.mpps(Tool::Testpmd5tswap),
                    first.mpps(Tool::Testpmd5tswap)
                ),
                2
            ),
        );
    }
    s.push_str(
        "| flows | sluice Mpps | of the smallest | cycles/pkt | testpmd 5tswap Mpps | 5tswap cycles/pkt | sluice − 5tswap cycles/pkt | sluice / 5tswap |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let base = v.first().and_then(|sc| sc.mpps(Tool::Sluice));
    for sc in &v {
        let cycles = sc.tool(Tool::Sluice).and_then(|t| t.cycles_per_packet);
        let ceiling = sc
            .tool(Tool::Testpmd5tswap)
            .and_then(|t| t.cycles_per_packet);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            flows(sc.traffic.flows),
            num(sc.mpps(Tool::Sluice), 2),
            num(crate::stats::ratio(sc.mpps(Tool::Sluice), base), 2),
            num(cycles, 0),
            num(sc.mpps(Tool::Testpmd5tswap), 2),
            num(ceiling, 0),
            num(cycles.zip(ceiling).map(|(c, b)| c - b), 0),
            num(sc.ratios.to_5tswap, 2),
        );
    }
}

fn packet_size(s: &mut String, r: &Results) {
    let v = tagged(r, "packet-size", |sc| {
        u64::from(sc.traffic.inner_sizes.iter().copied().max().unwrap_or(0))
    });
    if v.is_empty() {
        return;
    }
    s.push_str(
        "\n## Packet size\n\n| inner bytes | flows | sluice Mpps | sluice Gbit/s | testpmd 5tswap Mpps | testpmd io Mpps | sluice / 5tswap |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for sc in v {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            sizes(sc),
            flows(sc.traffic.flows),
            num(sc.mpps(Tool::Sluice), 2),
            num(sc.tool(Tool::Sluice).and_then(|t| t.median_gbps), 2),
            num(sc.mpps(Tool::Testpmd5tswap), 2),
            num(sc.mpps(Tool::TestpmdIo), 2),
            num(sc.ratios.to_5tswap, 2),
        );
    }
}

fn notes(s: &mut String, r: &Results) {
    s.push_str("\n## Notes\n\n");
    s.push_str(
        "- **Half load.** `net_pcap` cannot be rate-limited: every run offers as much as the \
         core takes. Scenarios that name half load approximate it with a burst of 16 instead of \
         32 (half the packets a burst carries, so half the time a packet waits for the rest of \
         its burst); the other latencies are at full load.\n\
         - **New flows.** A replayed capture creates its flows in the first pass only (within \
         the warm-up); the measured seconds are established traffic. `packets_per_flow` sets \
         the share of flow-opening packets in one pass (a SYN for TCP), not a sustained rate \
         of new flows.\n\
         - **Tails.** The burst latency's p99.9 and max include whatever stops the core: \
         on a machine of shared vCPUs, the host's interruptions (tens to hundreds of µs).\n\
         - **Ceilings.** testpmd forwards the same frames between the same devices; it does no \
         lookup, no encapsulation and no per-flow state, so a ratio of 1 is not reachable.\n",
    );
    if r.scenarios.iter().any(|sc| sc.role == Role::GatewayReturn) {
        s.push_str(
            "- **Return path.** The gateway's uplink reads the endpoint capture once (creating \
             every flow, all in the warm-up) while its appliance port replays the appliance's \
             returns forever; the measured rate is decapsulation of returns.\n",
        );
    }
    if !r.scenarios.iter().any(|sc| sc.traffic.flows >= 10_000_000) {
        let mbufs = crate::lab::mbufs(10_000_000);
        let gib = |memory| crate::lab::pool_bytes(mbufs, 2176, memory) as f64 / f64::from(1 << 30);
        let _ = writeln!(
            s,
            "- **10 M flows** are opt-in (`perf/run gateway-64b-10m`): every flow is a frame of \
             the replayed capture, held in an mbuf from the start, so each tool needs 10 M mbufs: \
             {:.0} GiB without hugepages (an mbuf takes a 4 KiB page), {:.0} GiB with them, and \
             sluice {:.0} GiB more for the flow table — more than this machine's {:.0} GiB.",
            gib(crate::lab::Memory::NoHuge),
            gib(crate::lab::Memory::Hugepages),
            (u64::from(crate::lab::flow_capacity(&crate::scenario::Traffic {
                flows: 10_000_000,
                inner_sizes: vec![64],
                ipv6_share: 0.0,
                tcp_share: 0.0,
                packets_per_flow: 1,
            })) * 64) as f64
                / f64::from(1 << 30),
            r.machine.memory_gib
        );
    }
    for sc in &r.scenarios {
        for n in &sc.notes {
            let _ = writeln!(s, "- **{}:** {}", sc.name, n.replace('\n', " "));
        }
    }
}

fn runs(s: &mut String, r: &Results) {
    s.push_str("\n## Every run\n\nMpps of each run, in the order made.\n\n");
    for sc in &r.scenarios {
        if sc.tools.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "- **{}** — {} ({} runs of {} s after {} s of warm-up; capture of {} frames, {} mbufs of {} bytes):",
            sc.name,
            sc.description,
            sc.run.repetitions,
            sc.run.seconds,
            sc.run.warmup_seconds,
            sc.capture.packets,
            sc.capture.mbufs,
            sc.capture.data_room
        );
        for t in &sc.tools {
            let rates: Vec<String> = t.runs.iter().map(|x| format!("{:.2}", x.mpps)).collect();
            let _ = writeln!(
                s,
                "  - {}: {} (median {})",
                t.label,
                if rates.is_empty() {
                    "no run succeeded".to_owned()
                } else {
                    rates.join(", ")
                },
                num(t.median_mpps, 2)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::results;

    #[test]
    fn report_has_every_section_and_number() {
        let mut r = results();
        crate::runner::judge_goals(&mut r);
        r.scenarios[0].notes.push("a note".into());
        let md = render(&r);
        for section in [
            "# sluice perf lab — 2026-11-29",
            "## Goals",
            "## Throughput",
            "## Latency inside sluice",
            "## Flow-table scaling",
            "## Packet size",
            "## Plots",
            "## Notes",
            "## Every run",
            "![Mpps versus established flows](mpps-vs-flows.svg)",
            "**gateway-64b-1k:** a note",
        ] {
            assert!(md.contains(section), "missing {section:?}");
        }
        // The headline row: 15.2 Mpps, 20.2 for 5tswap, ratio 0.75.
        assert!(md.contains("| gateway-64b-1k | gateway | 1 Ki | 64 | IPv4 UDP | 78 | 15.20 |"));
        assert!(md.contains("| 0.75 |"));
        // Scaling: 1 Ki then 1 Mi at 9.2 / 15.2 = 0.61 of the smallest.
        let scaling = md.split("## Flow-table scaling").nth(1).unwrap();
        let k = scaling.find("| 1 Ki |").unwrap();
        let m = scaling.find("| 1 Mi | 9.20 | 0.61 |").unwrap();
        assert!(k < m);
    }

    #[test]
    fn flow_counts_read_well() {
        assert_eq!(flows(1024), "1 Ki");
        assert_eq!(flows(100_000), "100 K");
        assert_eq!(flows(1 << 20), "1 Mi");
        assert_eq!(flows(10_000_000), "10 M");
        assert_eq!(flows(1000), "1 K");
        assert_eq!(flows(7), "7");
        assert_eq!(flows_label(1000.0), "1 K");
        assert_eq!(flows_label(2500.0), "2.5 K");
        assert_eq!(flows_label(100_000.0), "100 K");
        assert_eq!(flows_label(1e7), "10 M");
    }
}
