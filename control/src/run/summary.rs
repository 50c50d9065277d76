//! What the control thread makes of the workers' reports: merged counters and latency, the
//! periodic status line and the final summary (as text, and as JSON for `--summary-json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use sluice_dpdk::PortStats;
use sluice_engine::counters::WorkerCounters;
use sluice_engine::flow_table::FlowTable;
use sluice_engine::maglev::TargetState;

use crate::health::{Reason, state_name};

use super::neighbors::Resolver;
use super::worker::{IoCounters, Report};

/// A port's counters at the end of a run.
#[derive(Debug)]
pub(crate) struct PortReport {
    /// The port's name.
    pub(crate) name: String,
    /// `rte_eth_stats`, when the driver gave them.
    pub(crate) stats: Option<PortStats>,
    /// The driver's non-zero error, miss and drop counters (xstats).
    pub(crate) trouble: Vec<(String, u64)>,
}

/// A registered target at the end of a run.
#[derive(Debug, Clone)]
pub(crate) struct TargetReport {
    /// Its address.
    pub(crate) ip: Ipv4Addr,
    /// Its zone.
    pub(crate) zone: String,
    /// Its state.
    pub(crate) state: TargetState,
    /// The state's reason code.
    pub(crate) reason: Option<Reason>,
    /// What its latest health check found.
    pub(crate) last_check: Option<String>,
}

/// One worker's counters and liveness, for the appliance's `?detail`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorkerDetail {
    /// The worker's index.
    pub(crate) index: usize,
    /// Packets received.
    pub(crate) rx_packets: u64,
    /// Packets transmitted.
    pub(crate) tx_packets: u64,
    /// Packets dropped, engine and I/O.
    pub(crate) drops: u64,
    /// Time since its last report (`None`: it never reported).
    pub(crate) silent_for: Option<Duration>,
}

/// Everything counted so far.
#[derive(Debug)]
pub(crate) struct Totals {
    /// The latest (cumulative) counters of each worker.
    workers: Vec<(WorkerCounters, IoCounters)>,
    /// When each worker last reported.
    reported: Vec<Option<Instant>>,
    burst_cycles: Histogram<u64>,
    packet_cycles: Histogram<u64>,
    /// Frames between workers and the kernel dropped on the control thread (full queues).
    pub(crate) kernel_drops: u64,
    /// Frames from the kernel handed to workers.
    pub(crate) from_kernel: u64,
    /// Flows the control thread's sweep expired.
    pub(crate) expired: u64,
    /// Totals at the last status line: rx, tx, drops.
    last: (u64, u64, u64),
}

impl Totals {
    pub(crate) fn new(workers: usize) -> Self {
        let empty = Report::new();
        Totals {
            workers: vec![(WorkerCounters::new(), IoCounters::default()); workers],
            reported: vec![None; workers],
            burst_cycles: empty.burst_cycles.clone(),
            packet_cycles: empty.packet_cycles.clone(),
            kernel_drops: 0,
            from_kernel: 0,
            expired: 0,
            last: (0, 0, 0),
        }
    }

    /// Takes in a worker's report.
    pub(crate) fn take(&mut self, worker: usize, report: &Report) {
        if let Some(slot) = self.workers.get_mut(worker) {
            slot.0.clone_from(&report.counters);
            slot.1 = report.io;
        }
        if let Some(at) = self.reported.get_mut(worker) {
            *at = Some(Instant::now());
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = self.burst_cycles.add(&report.burst_cycles);
        let _ = self.packet_cycles.add(&report.packet_cycles);
    }

    /// The merged latency histograms, in TSC cycles: per burst, then per packet.
    pub(crate) fn latency(&self) -> (&Histogram<u64>, &Histogram<u64>) {
        (&self.burst_cycles, &self.packet_cycles)
    }

    /// The workers' counters, merged.
    pub(crate) fn merged(&self) -> (WorkerCounters, IoCounters) {
        let mut counters = WorkerCounters::new();
        let mut io = IoCounters::default();
        for (c, i) in &self.workers {
            counters.merge(c);
            io.add(i);
        }
        (counters, io)
    }

    /// Each worker's counters and how long it has been silent, as of `now`.
    pub(crate) fn worker_details(&self, now: Instant) -> Vec<WorkerDetail> {
        self.workers
            .iter()
            .zip(&self.reported)
            .enumerate()
            .map(|(index, ((c, io), at))| WorkerDetail {
                index,
                rx_packets: c.rx_packets,
                tx_packets: c.tx_packets,
                drops: Self::drops(c, io),
                silent_for: at.map(|t| now.saturating_duration_since(t)),
            })
            .collect()
    }

    /// Every drop, engine and I/O.
    fn drops(counters: &WorkerCounters, io: &IoCounters) -> u64 {
        counters.total_drops() + io.tx_full + io.exception_full + io.bad_port
    }

    /// Prints the status line: rates since the last one, drops, live flows.
    pub(crate) fn status(&mut self, table: &FlowTable, every: Duration, interactive: bool) {
        let (c, io) = self.merged();
        let drops = Self::drops(&c, &io) + self.kernel_drops;
        let secs = every.as_secs_f64().max(1e-3);
        let rx_pps = (c.rx_packets - self.last.0.min(c.rx_packets)) as f64 / secs;
        let tx_pps = (c.tx_packets - self.last.1.min(c.tx_packets)) as f64 / secs;
        let new_drops = drops - self.last.2.min(drops);
        self.last = (c.rx_packets, c.tx_packets, drops);
        let line = format!(
            "status: rx {} pps, tx {} pps, drops {new_drops} (total {drops}), flows {}, rx {} pkt, tx {} pkt",
            rate(rx_pps),
            rate(tx_pps),
            table.len(),
            c.rx_packets,
            c.tx_packets,
        );
        let mut out = std::io::stdout().lock();
        if interactive {
            let _ = write!(out, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    /// Ends an interactive status line.
    #[expect(clippy::print_stdout, reason = "the status line goes to stdout")]
    pub(crate) fn end_status_line(&self) {
        println!();
    }

    /// The final summary.
    pub(crate) fn render(
        &self,
        elapsed: Duration,
        table: &FlowTable,
        ports: &[PortReport],
        resolver: &Resolver,
        targets: &[TargetReport],
        tsc_hz: u64,
    ) -> String {
        let (c, io) = self.merged();
        let secs = elapsed.as_secs_f64().max(1e-3);
        let mut s = String::new();
        let _ = writeln!(s, "sluice stopped after {secs:.1} s");
        let _ = writeln!(
            s,
            "  rx packets      {} ({} bytes, {} pps average)",
            c.rx_packets,
            c.rx_bytes,
            rate(c.rx_packets as f64 / secs)
        );
        let _ = writeln!(
            s,
            "  tx packets      {} ({} bytes)",
            c.tx_packets, c.tx_bytes
        );
        let _ = writeln!(
            s,
            "  to kernel       {} (from kernel {}, ARP answered {})",
            c.exception_packets, self.from_kernel, c.arp_replies
        );
        let drops = Self::drops(&c, &io) + self.kernel_drops;
        let _ = writeln!(s, "  dropped         {drops}");
        for (reason, n) in c.nonzero_drops() {
            let _ = writeln!(
                s,
                "    {:<22} {n:>10}  {}",
                reason.name(),
                reason.description()
            );
        }
        for (name, n, what) in [
            ("tx_full", io.tx_full, "a TX queue stayed full"),
            (
                "exception_full",
                io.exception_full,
                "the queue to the kernel was full",
            ),
            (
                "kernel_queue_full",
                self.kernel_drops,
                "a kernel interface's queue was full",
            ),
            ("bad_port", io.bad_port, "a verdict named no port (a bug)"),
        ] {
            if n > 0 {
                let _ = writeln!(s, "    {name:<22} {n:>10}  {what}");
            }
        }
        let _ = writeln!(
            s,
            "  flows           {} live, {} created, {} expired, {} rebalanced, {} TCP resets",
            table.len(),
            c.new_flows,
            self.expired + c.expired_flows,
            c.rebalanced_flows,
            c.tcp_resets
        );
        let (resolved, wanted) = resolver.resolved();
        let _ = writeln!(
            s,
            "  neighbours      {resolved} of {wanted} resolved ({} ARP requests sent)",
            resolver.requests_sent
        );
        if !targets.is_empty() {
            let healthy = targets
                .iter()
                .filter(|t| t.state == TargetState::Healthy)
                .count();
            let _ = writeln!(
                s,
                "  targets         {} registered, {healthy} healthy",
                targets.len()
            );
            for t in targets {
                let _ = write!(
                    s,
                    "    {:<15} {:<12} {}",
                    t.ip.to_string(),
                    t.zone,
                    state_name(t.state)
                );
                if let Some(r) = t.reason {
                    let _ = write!(s, " ({})", r.code());
                }
                if let Some(last) = &t.last_check {
                    let _ = write!(s, "; last check: {last}");
                }
                let _ = writeln!(s);
            }
        }
        let ns = |cycles: u64| cycles as f64 * 1e9 / tsc_hz.max(1) as f64;
        if !self.packet_cycles.is_empty() {
            let _ = writeln!(
                s,
                "  latency         per packet p50 {:.0} ns, p99 {:.0} ns, max {:.0} ns; per burst p50 {:.0} ns, p99 {:.0} ns ({} bursts)",
                ns(self.packet_cycles.value_at_quantile(0.5)),
                ns(self.packet_cycles.value_at_quantile(0.99)),
                ns(self.packet_cycles.max()),
                ns(self.burst_cycles.value_at_quantile(0.5)),
                ns(self.burst_cycles.value_at_quantile(0.99)),
                self.burst_cycles.len()
            );
        }
        for PortReport {
            name,
            stats,
            trouble,
        } in ports
        {
            if let Some(p) = stats {
                let _ = writeln!(
                    s,
                    "  port {name:<10} rx {} tx {} missed {} rx errors {} tx errors {} no mbuf {}",
                    p.ipackets, p.opackets, p.imissed, p.ierrors, p.oerrors, p.rx_nombuf
                );
            }
            for (xname, value) in trouble {
                let _ = writeln!(s, "    {xname:<28} {value:>10}  (driver counter)");
            }
        }
        s
    }
}

/// The final summary for scripts, as `sluice run --summary-json PATH` writes it. The schema
/// is named by `schema`; a field is only ever added to it, never changed.
#[derive(Debug, Serialize)]
pub(crate) struct SummaryJson {
    /// `"sluice-run-summary/v1"`.
    schema: &'static str,
    /// Seconds from the workers' start to the stop.
    elapsed_seconds: f64,
    /// Packets and bytes received from the ports.
    rx_packets: u64,
    /// Bytes received.
    rx_bytes: u64,
    /// Packets and bytes transmitted.
    tx_packets: u64,
    /// Bytes transmitted.
    tx_bytes: u64,
    /// Received packets per second over the whole run, in millions (start-up included).
    rx_mpps: f64,
    /// Every drop, engine and I/O.
    drops: u64,
    /// The non-zero drop counters by name: the engine's reasons and the I/O counters of the
    /// text summary (`tx_full`, `exception_full`, `kernel_queue_full`, `bad_port`).
    drops_by_reason: BTreeMap<&'static str, u64>,
    /// Flows live at the end, created and expired during the run.
    flows: FlowsJson,
    /// The time-stamp counter's frequency: cycles per second.
    tsc_hz: u64,
    /// Cycles from RX to the end of TX of every burst (`None` when no burst was received).
    burst_latency: Option<LatencyJson>,
    /// The same divided by the burst's packets: the cost of one packet.
    packet_latency: Option<LatencyJson>,
}

/// Flow counts in [`SummaryJson`].
#[derive(Debug, Serialize)]
struct FlowsJson {
    live: usize,
    created: u64,
    expired: u64,
}

/// One latency histogram in [`SummaryJson`]: percentiles in TSC cycles and in nanoseconds.
#[derive(Debug, Serialize)]
struct LatencyJson {
    /// Values recorded.
    count: u64,
    /// Percentiles (p50, p90, p99, p99.9, max, mean) in cycles.
    cycles: Percentiles,
    /// The same in nanoseconds.
    ns: Percentiles,
    /// The percentile distribution: `[quantile, cycles]` pairs, quantile ascending to 1.
    distribution: Vec<(f64, u64)>,
}

/// Percentiles of one histogram.
#[derive(Debug, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
    mean: f64,
}

impl LatencyJson {
    fn of(h: &Histogram<u64>, tsc_hz: u64) -> Option<LatencyJson> {
        if h.is_empty() {
            return None;
        }
        let at = |q: f64| h.value_at_quantile(q) as f64;
        let cycles = Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p99_9: at(0.999),
            max: h.max() as f64,
            mean: h.mean(),
        };
        let ns = |c: f64| c * 1e9 / tsc_hz.max(1) as f64;
        let in_ns = Percentiles {
            p50: ns(cycles.p50),
            p90: ns(cycles.p90),
            p99: ns(cycles.p99),
            p99_9: ns(cycles.p99_9),
            max: ns(cycles.max),
            mean: ns(cycles.mean),
        };
        let mut distribution: Vec<(f64, u64)> = Vec::new();
        for v in h.iter_quantiles(4) {
            let point = (v.quantile_iterated_to(), v.value_iterated_to());
            if distribution.last().is_none_or(|last| last.0 < point.0) {
                distribution.push(point);
            }
        }
        Some(LatencyJson {
            count: h.len(),
            cycles,
            ns: in_ns,
            distribution,
        })
    }
}

impl Totals {
    /// The final summary for scripts (see [`SummaryJson`]).
    pub(crate) fn summary_json(
        &self,
        elapsed: Duration,
        table: &FlowTable,
        tsc_hz: u64,
    ) -> SummaryJson {
        let (c, io) = self.merged();
        let secs = elapsed.as_secs_f64().max(1e-3);
        let mut drops_by_reason: BTreeMap<&'static str, u64> = c
            .nonzero_drops()
            .map(|(reason, n)| (reason.name(), n))
            .collect();
        for (name, n) in [
            ("tx_full", io.tx_full),
            ("exception_full", io.exception_full),
            ("kernel_queue_full", self.kernel_drops),
            ("bad_port", io.bad_port),
        ] {
            if n > 0 {
                drops_by_reason.insert(name, n);
            }
        }
        SummaryJson {
            schema: "sluice-run-summary/v1",
            elapsed_seconds: secs,
            rx_packets: c.rx_packets,
            rx_bytes: c.rx_bytes,
            tx_packets: c.tx_packets,
            tx_bytes: c.tx_bytes,
            rx_mpps: c.rx_packets as f64 / secs / 1e6,
            drops: Self::drops(&c, &io) + self.kernel_drops,
            drops_by_reason,
            flows: FlowsJson {
                live: table.len(),
                created: c.new_flows,
                expired: self.expired + c.expired_flows,
            },
            tsc_hz,
            burst_latency: LatencyJson::of(&self.burst_cycles, tsc_hz),
            packet_latency: LatencyJson::of(&self.packet_cycles, tsc_hz),
        }
    }

    /// Writes [`Totals::summary_json`] to `path` (through a temporary file beside it, so a
    /// reader never sees half of it).
    pub(crate) fn write_json(
        &self,
        path: &Path,
        elapsed: Duration,
        table: &FlowTable,
        tsc_hz: u64,
    ) -> std::io::Result<()> {
        let summary = self.summary_json(elapsed, table, tsc_hz);
        let mut text = serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?;
        text.push('\n');
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }
}

impl WorkerDetail {
    /// Whether the worker reported within `within`.
    pub(crate) fn alive_within(&self, within: Duration) -> bool {
        self.silent_for.is_some_and(|d| d <= within)
    }
}

/// A packet rate for people: 950, 12.3k, 4.56M.
fn rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2}M", pps / 1e6)
    } else if pps >= 1e4 {
        format!("{:.1}k", pps / 1e3)
    } else {
        format!("{pps:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_json_has_counters_and_latency_in_cycles_and_ns() {
        let table = FlowTable::new(1024).unwrap();
        let mut totals = Totals::new(1);
        let mut report = Report::new();
        report.counters.rx_packets = 3000;
        report.counters.tx_packets = 2990;
        report.io.tx_full = 10;
        for cycles in [1000_u64, 2000, 3000, 40_000] {
            report.burst_cycles.record(cycles).unwrap();
            report.packet_cycles.record(cycles / 32).unwrap();
        }
        totals.take(0, &report);
        let json = serde_json::to_value(totals.summary_json(
            Duration::from_secs(2),
            &table,
            2_000_000_000,
        ))
        .unwrap();
        assert_eq!(json["schema"], "sluice-run-summary/v1");
        assert_eq!(json["rx_packets"], 3000);
        assert_eq!(json["drops"], 10);
        assert_eq!(json["drops_by_reason"]["tx_full"], 10);
        assert!((json["rx_mpps"].as_f64().unwrap() - 0.0015).abs() < 1e-9);
        assert_eq!(json["tsc_hz"], 2_000_000_000_u64);
        let burst = &json["burst_latency"];
        assert_eq!(burst["count"], 4);
        // 2 cycles per ns: the nanoseconds are half the cycles (within the histogram's
        // two significant digits).
        let (c, ns) = (
            burst["cycles"]["p50"].as_f64().unwrap(),
            burst["ns"]["p50"].as_f64().unwrap(),
        );
        assert!((2000.0..2020.0).contains(&c), "{c}");
        assert!((ns * 2.0 - c).abs() < 1e-6);
        assert!(burst["cycles"]["max"].as_f64().unwrap() >= 40_000.0);
        let distribution = burst["distribution"].as_array().unwrap();
        assert_eq!(distribution.last().unwrap()[0], 1.0);
        assert!(json["packet_latency"]["cycles"]["p50"].as_f64().unwrap() > 0.0);
    }

    #[test]
    fn summary_json_without_bursts_has_no_latency() {
        let table = FlowTable::new(1024).unwrap();
        let json =
            serde_json::to_value(Totals::new(2).summary_json(Duration::ZERO, &table, 1)).unwrap();
        assert!(json["burst_latency"].is_null());
        assert_eq!(json["drops_by_reason"], serde_json::json!({}));
    }
}
