//! The Prometheus/OpenMetrics endpoint of `sluice run` (`management.metrics_listen`): GWLB's
//! CloudWatch metric set by zone and target group, drops by reason, per-port counters, the
//! appliance policy's counts and the workers' merged latency histograms.
//!
//! The control thread owns the numbers: once a second it fills a plain-data
//! [`MetricsSnapshot`] behind a mutex, and [`MetricsServer`] turns the latest one into the
//! OpenMetrics text encoding of the `prometheus-client` crate on every `GET /metrics`. The
//! server copies what it needs while it holds the lock and encodes after letting go, so a
//! slow scraper never holds up the control thread. No exposition text is written by hand:
//! every family goes through the crate's encoder, which names, escapes and orders it.
//!
//! # Metrics
//!
//! Names are Prometheus-style; each HELP text starts with the CloudWatch name it stands for.
//! Counters are cumulative since the start (a restart resets them, as Prometheus expects);
//! CloudWatch's per-period sums are `increase()` over them.
//!
//! | Family | Type | Labels | CloudWatch |
//! |---|---|---|---|
//! | `sluice_info` | info | `role`, `load_balancer`, `target_group` | — |
//! | `sluice_active_flows` | gauge | `zone`, `target_group` | `ActiveFlowCount` |
//! | `sluice_new_flows_total` | counter | `zone`, `target_group` | `NewFlowCount` |
//! | `sluice_processed_bytes_total` | counter | `zone`, `target_group` | `ProcessedBytes` |
//! | `sluice_healthy_hosts` | gauge | `zone`, `target_group` | `HealthyHostCount` |
//! | `sluice_unhealthy_hosts` | gauge | `zone`, `target_group` | `UnHealthyHostCount` |
//! | `sluice_peak_bytes_per_second` | gauge | `zone`, `target_group` | `PeakBytesPerSecond` |
//! | `sluice_peak_packets_per_second` | gauge | `zone`, `target_group` | `PeakPacketsPerSecond` |
//! | `sluice_tcp_resets_total` | counter | `zone`, `target_group` | `TCP_ELB_Reset_Count` |
//! | `sluice_drops_total` | counter | `reason` | — |
//! | `sluice_rx_packets_total`, `sluice_rx_bytes_total`, `sluice_tx_packets_total`, `sluice_tx_bytes_total` | counter | — | — |
//! | `sluice_port_rx_packets_total`, `…_rx_bytes_total`, `…_tx_packets_total`, `…_tx_bytes_total`, `…_rx_missed_total`, `…_rx_errors_total`, `…_tx_errors_total`, `…_rx_no_mbuf_total` | counter | `port` | — |
//! | `sluice_policy_rejects_total` | counter | — | — |
//! | `sluice_policy_rule_flows_total` | counter | `rule`, `action` | — |
//! | `sluice_packet_latency_seconds`, `sluice_burst_latency_seconds` | histogram | — | — |
//!
//! The peak rates follow AWS's definition ("the highest average rate, computed every 10
//! seconds in the sampling window"); [`PeakTracker`] states exactly how. The latency
//! histograms are the workers' HdrHistograms (TSC cycles) merged on the control thread and
//! cut into [`LATENCY_BUCKETS_SECONDS`].
//!
//! # Bounds
//!
//! The server serves one request per connection, at most [`ServerLimits::max_connections`]
//! at once (more are closed at once), with a timeout on every read and write and a cap on
//! the request head, on threads of the control core with small stacks.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use sluice_dpdk::PortStats;
use sluice_engine::counters::{DropReason, WorkerCounters};

/// The upper bounds of the latency histograms' buckets, in seconds: 100 ns to 10 ms in
/// 1-2-5 steps (a `+Inf` bucket follows). Per-packet latency sits at the low end, per-burst
/// latency higher up.
pub const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    100e-9, 200e-9, 500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6, 1e-3,
    2e-3, 5e-3, 10e-3,
];

/// The content type of the answer to `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long the listener naps when no connection is waiting.
const ACCEPT_NAP: Duration = Duration::from_millis(10);
/// A connection thread's stack: the encoding happens on it.
const STACK_SIZE: usize = 256 * 1024;

/// What the control thread knows, once a second: the numbers every scrape is made of.
///
/// Counters are cumulative since the start; gauges are the latest values. A family with no
/// rows (say, no zones for the appliance role) is exported with its description and no
/// samples.
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    /// `gateway` or `appliance`.
    pub role: String,
    /// The gateway's load balancer name (`None` for the appliance).
    pub load_balancer: Option<String>,
    /// The gateway's target group name (`None` for the appliance).
    pub target_group: Option<String>,
    /// GWLB's metric set, one row per (zone, target group).
    pub zones: Vec<ZoneMetrics>,
    /// Packets dropped by reason name, cumulative: every [`DropReason`] (see
    /// [`MetricsSnapshot::set_drops`]) and whatever I/O reasons the control thread adds
    /// (`tx_full`, `kernel_queue_full`, …).
    pub drops: BTreeMap<String, u64>,
    /// Packets received from the ports, cumulative.
    pub rx_packets: u64,
    /// Bytes received from the ports, cumulative.
    pub rx_bytes: u64,
    /// Packets transmitted, cumulative.
    pub tx_packets: u64,
    /// Bytes transmitted, cumulative.
    pub tx_bytes: u64,
    /// Each port's device counters.
    pub ports: Vec<PortMetrics>,
    /// The appliance's inspection policy (`None` for the gateway).
    pub policy: Option<PolicyMetrics>,
    /// The time-stamp counter's frequency: cycles per second (0 while unknown: the latency
    /// histograms are then exported empty).
    pub tsc_hz: u64,
    /// Per-packet latency in TSC cycles (a burst's RX-to-TX time divided by its packets),
    /// merged from the workers, cumulative.
    pub packet_latency: Histogram<u64>,
    /// Per-burst latency in TSC cycles (RX to the end of TX), merged from the workers,
    /// cumulative.
    pub burst_latency: Histogram<u64>,
}

/// GWLB's CloudWatch metrics for one zone of one target group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneMetrics {
    /// The availability zone (`AvailabilityZone`).
    pub zone: String,
    /// The target group's name (`TargetGroup`).
    pub target_group: String,
    /// `ActiveFlowCount`: flows live now.
    pub active_flows: u64,
    /// `NewFlowCount`: flows created, cumulative.
    pub new_flows: u64,
    /// `ProcessedBytes`: bytes processed, to and from targets, health checks excluded,
    /// cumulative.
    pub processed_bytes: u64,
    /// `HealthyHostCount`: healthy targets now.
    pub healthy_hosts: u64,
    /// `UnHealthyHostCount`: unhealthy targets now.
    pub unhealthy_hosts: u64,
    /// `TCP_ELB_Reset_Count`: TCP resets sent, cumulative.
    pub tcp_resets: u64,
    /// `PeakBytesPerSecond`, from a [`PeakTracker`].
    pub peak_bytes_per_second: f64,
    /// `PeakPacketsPerSecond`, from a [`PeakTracker`].
    pub peak_packets_per_second: f64,
}

/// One port's device counters (`rte_eth_stats`), cumulative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMetrics {
    /// The port's name from the configuration.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the device dropped because its RX queues were full.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Receive buffer allocation failures.
    pub rx_no_mbuf: u64,
}

/// The appliance's inspection policy counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyMetrics {
    /// Packets of rejected flows answered with a TCP RST or an ICMP unreachable, cumulative.
    pub rejects: u64,
    /// Flows each rule decided, in rule order, then the default action.
    pub rules: Vec<RuleMetrics>,
}

/// How many flows one policy rule decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleMetrics {
    /// The rule's name (`(default)` for the default action).
    pub rule: String,
    /// Its action: `allow`, `deny` or `reject`.
    pub action: String,
    /// Flows it decided under the current policy. The count starts again from zero when a
    /// reload changes the policy, which Prometheus's `rate()` reads as a counter reset.
    pub flows: u64,
}

/// Turns cumulative byte and packet counts, sampled about once a second, into GWLB's
/// `PeakBytesPerSecond` and `PeakPacketsPerSecond`.
///
/// AWS: "the highest average rate, computed every 10 seconds in the sampling window".
/// Exactly, here:
///
/// - Time is cut into consecutive windows of [`PeakTracker::WINDOW`] (10 s), the first one
///   opening at the first sample. A window closes at the first sample at least 10 s after it
///   opened, and the next opens there; with a sample a second a window spans 10 s and a
///   little.
/// - A window's rate is its increase divided by its actual length in seconds: the per-second
///   average over the window.
/// - The peak is the highest rate among the windows that closed within the last
///   [`PeakTracker::PERIOD`] (60 s, CloudWatch's period for GWLB metrics), so it falls again
///   a minute after a burst. It is 0 until the first window closes.
/// - A count that goes backwards (a restart of the counters) opens a new window without
///   closing one.
#[derive(Debug, Clone)]
pub struct PeakTracker {
    window: Duration,
    period: Duration,
    /// When the open window opened, and the counts then.
    open: Option<(Instant, u64, u64)>,
    /// Closed windows within the period: when each closed, bytes/s, packets/s.
    closed: VecDeque<(Instant, f64, f64)>,
}

/// The metrics endpoint's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// The most bytes of a request head (request line and headers).
    pub max_request: usize,
    /// The most connections served at once.
    pub max_connections: usize,
    /// The longest a read or a write may wait.
    pub io_timeout: Duration,
}

/// A running metrics endpoint. [`MetricsServer::shutdown`] (or dropping it) stops it.
#[derive(Debug)]
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    listener: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// A latency histogram cut into Prometheus buckets.
#[derive(Debug, Clone, PartialEq)]
struct Buckets {
    /// Sum of the values in seconds.
    sum: f64,
    /// Number of values.
    count: u64,
    /// `(upper bound in seconds, values in this bucket alone)`, ending with `+Inf`.
    buckets: Vec<(f64, u64)>,
}

/// What one scrape exports: the snapshot's numbers with its histograms already cut into
/// buckets, so that it is taken out of the lock cheaply and encoded after.
#[derive(Debug)]
struct Exposition {
    role: String,
    load_balancer: String,
    target_group: String,
    zones: Vec<ZoneMetrics>,
    drops: BTreeMap<String, u64>,
    totals: [u64; 4],
    ports: Vec<PortMetrics>,
    policy: PolicyMetrics,
    packet_latency: Buckets,
    burst_latency: Buckets,
}

/// One sample's value: a count, or a rate.
#[derive(Debug, Clone, Copy)]
enum Sample {
    Count(u64),
    Rate(f64),
}

impl MetricsSnapshot {
    /// An empty snapshot of `role` (`gateway` or `appliance`), with empty latency
    /// histograms of the bounds the workers use.
    pub fn new(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            load_balancer: None,
            target_group: None,
            zones: Vec::new(),
            drops: BTreeMap::new(),
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            ports: Vec::new(),
            policy: None,
            tsc_hz: 0,
            packet_latency: latency_histogram(),
            burst_latency: latency_histogram(),
        }
    }

    /// Sets every engine drop reason's count ([`DropReason::ALL`], zeros included so that
    /// every series exists from the start) and the rx/tx totals from merged worker counters.
    /// Other entries of [`MetricsSnapshot::drops`] are kept.
    pub fn set_counters(&mut self, counters: &WorkerCounters) {
        self.set_drops(counters);
        self.rx_packets = counters.rx_packets;
        self.rx_bytes = counters.rx_bytes;
        self.tx_packets = counters.tx_packets;
        self.tx_bytes = counters.tx_bytes;
    }

    /// Sets every engine drop reason's count ([`DropReason::ALL`], zeros included) from
    /// merged worker counters; other entries are kept.
    pub fn set_drops(&mut self, counters: &WorkerCounters) {
        for &reason in DropReason::ALL {
            let n = counters.drops_of(reason);
            match self.drops.get_mut(reason.name()) {
                Some(slot) => *slot = n,
                None => {
                    self.drops.insert(reason.name().to_owned(), n);
                }
            }
        }
    }
}

impl PortMetrics {
    /// A port's metrics from its device counters.
    pub fn from_stats(name: &str, stats: &PortStats) -> Self {
        Self {
            name: name.to_owned(),
            rx_packets: stats.ipackets,
            rx_bytes: stats.ibytes,
            tx_packets: stats.opackets,
            tx_bytes: stats.obytes,
            rx_missed: stats.imissed,
            rx_errors: stats.ierrors,
            tx_errors: stats.oerrors,
            rx_no_mbuf: stats.rx_nombuf,
        }
    }
}

impl PeakTracker {
    /// The window over which a rate is averaged: 10 s, as AWS computes the peaks.
    pub const WINDOW: Duration = Duration::from_secs(10);
    /// How long a window's rate counts toward the peak: 60 s, CloudWatch's period.
    pub const PERIOD: Duration = Duration::from_secs(60);

    /// A tracker with AWS's windows ([`PeakTracker::WINDOW`], [`PeakTracker::PERIOD`]).
    pub fn new() -> Self {
        Self::with_windows(Self::WINDOW, Self::PERIOD)
    }

    /// A tracker averaging over `window` and keeping the highest rate for `period`.
    pub fn with_windows(window: Duration, period: Duration) -> Self {
        Self {
            window,
            period,
            open: None,
            closed: VecDeque::new(),
        }
    }

    /// Takes in the cumulative counts at `now` (`now` never goes backwards).
    pub fn observe(&mut self, now: Instant, bytes: u64, packets: u64) {
        while let Some(&(at, _, _)) = self.closed.front() {
            if now.saturating_duration_since(at) > self.period {
                self.closed.pop_front();
            } else {
                break;
            }
        }
        let Some((opened, bytes0, packets0)) = self.open else {
            self.open = Some((now, bytes, packets));
            return;
        };
        if bytes < bytes0 || packets < packets0 {
            // The counters started again: nothing to average over.
            self.open = Some((now, bytes, packets));
            return;
        }
        let length = now.saturating_duration_since(opened);
        if length < self.window {
            return;
        }
        let seconds = length.as_secs_f64();
        self.closed.push_back((
            now,
            (bytes - bytes0) as f64 / seconds,
            (packets - packets0) as f64 / seconds,
        ));
        self.open = Some((now, bytes, packets));
    }

    /// `PeakBytesPerSecond`: the highest per-second byte rate of a window within the period.
    pub fn peak_bytes_per_second(&self) -> f64 {
        self.closed.iter().map(|w| w.1).fold(0.0, f64::max)
    }

    /// `PeakPacketsPerSecond`: the highest per-second packet rate of a window within the
    /// period.
    pub fn peak_packets_per_second(&self) -> f64 {
        self.closed.iter().map(|w| w.2).fold(0.0, f64::max)
    }
}

impl Default for PeakTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_request: 8 * 1024,
            max_connections: 16,
            io_timeout: Duration::from_secs(5),
        }
    }
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free port: see [`MetricsServer::local_addr`]) and
    /// serves `GET /metrics` from the latest `snapshot`, with the default
    /// [`ServerLimits`].
    ///
    /// # Errors
    ///
    /// When `addr` cannot be listened on or the listener thread cannot start.
    pub fn start(
        addr: SocketAddr,
        snapshot: Arc<Mutex<MetricsSnapshot>>,
    ) -> io::Result<MetricsServer> {
        Self::start_with_limits(addr, snapshot, ServerLimits::default())
    }

    /// [`MetricsServer::start`] with chosen bounds.
    ///
    /// # Errors
    ///
    /// When `addr` cannot be listened on or the listener thread cannot start.
    pub fn start_with_limits(
        addr: SocketAddr,
        snapshot: Arc<Mutex<MetricsSnapshot>>,
        limits: ServerLimits,
    ) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("metrics {local_addr}"))
            .spawn(move || listen(&listener, &snapshot, limits, &stop2))?;
        Ok(MetricsServer {
            stop,
            listener: Some(handle),
            local_addr,
        })
    }

    /// The address listened on, with the port the kernel chose.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and waits for the listener (scrapes being served finish within the
    /// I/O timeout on their own).
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Buckets {
    /// Cuts a histogram of TSC cycles into [`LATENCY_BUCKETS_SECONDS`].
    ///
    /// HdrHistogram keeps values to 2 significant digits: each recorded value stands for a
    /// small range, and it is counted in the first bucket whose bound is at least the
    /// highest value of that range (so a value within 1% below a bound may land in the next
    /// bucket; latency is never reported lower than it was). The sum uses the middle of each
    /// range, as HdrHistogram's mean does.
    fn of(h: &Histogram<u64>, tsc_hz: u64) -> Self {
        let mut buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_SECONDS
            .iter()
            .map(|&b| (b, 0))
            .chain([(f64::INFINITY, 0)])
            .collect();
        if tsc_hz == 0 || h.is_empty() {
            return Self {
                sum: 0.0,
                count: 0,
                buckets,
            };
        }
        let hz = tsc_hz as f64;
        for v in h.iter_recorded() {
            let cycles = v.value_iterated_to() as f64;
            let slot = LATENCY_BUCKETS_SECONDS
                .iter()
                .position(|&bound| cycles <= bound * hz)
                .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
            if let Some(bucket) = buckets.get_mut(slot) {
                bucket.1 += v.count_at_value();
            }
        }
        Self {
            sum: h.mean() * h.len() as f64 / hz,
            count: h.len(),
            buckets,
        }
    }
}

impl Exposition {
    /// Takes what a scrape needs out of the shared snapshot.
    fn of(s: &MetricsSnapshot) -> Self {
        Self {
            role: s.role.clone(),
            load_balancer: s.load_balancer.clone().unwrap_or_default(),
            target_group: s.target_group.clone().unwrap_or_default(),
            zones: s.zones.clone(),
            drops: s.drops.clone(),
            totals: [s.rx_packets, s.rx_bytes, s.tx_packets, s.tx_bytes],
            ports: s.ports.clone(),
            policy: s.policy.clone().unwrap_or_default(),
            packet_latency: Buckets::of(&s.packet_latency, s.tsc_hz),
            burst_latency: Buckets::of(&s.burst_latency, s.tsc_hz),
        }
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let info = Info::new(vec![
            ("role", self.role.clone()),
            ("load_balancer", self.load_balancer.clone()),
            ("target_group", self.target_group.clone()),
        ]);
        info.encode(encoder.encode_descriptor(
            "sluice",
            "The role of this sluice instance and the names of its load balancer and target \
             group (empty for the appliance)",
            None,
            info.metric_type(),
        )?)?;

        for (name, help, unit, kind, value) in ZONE_FAMILIES {
            let mut family = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
            for z in &self.zones {
                let labels = [
                    ("zone", z.zone.as_str()),
                    ("target_group", z.target_group.as_str()),
                ];
                encode_sample(family.encode_family(&labels)?, kind, value(z))?;
            }
        }

        let mut drops = encoder.encode_descriptor(
            "sluice_drops",
            "Packets dropped, by reason (the names of the stop summary and `sluice simulate`)",
            None,
            MetricType::Counter,
        )?;
        for (reason, &n) in &self.drops {
            let labels = [("reason", reason.as_str())];
            ConstCounter::new(n).encode(drops.encode_family(&labels)?)?;
        }

        let [rx_packets, rx_bytes, tx_packets, tx_bytes] = self.totals;
        for (name, help, unit, n) in [
            (
                "sluice_rx_packets",
                "Packets received from the ports",
                None,
                rx_packets,
            ),
            (
                "sluice_rx",
                "Bytes received from the ports",
                Some(Unit::Bytes),
                rx_bytes,
            ),
            (
                "sluice_tx_packets",
                "Packets transmitted on the ports",
                None,
                tx_packets,
            ),
            (
                "sluice_tx",
                "Bytes transmitted on the ports",
                Some(Unit::Bytes),
                tx_bytes,
            ),
        ] {
            ConstCounter::new(n).encode(encoder.encode_descriptor(
                name,
                help,
                unit.as_ref(),
                MetricType::Counter,
            )?)?;
        }

        for (name, help, unit, value) in PORT_FAMILIES {
            let mut family =
                encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
            for p in &self.ports {
                let labels = [("port", p.name.as_str())];
                ConstCounter::new(value(p)).encode(family.encode_family(&labels)?)?;
            }
        }

        ConstCounter::new(self.policy.rejects).encode(encoder.encode_descriptor(
            "sluice_policy_rejects",
            "Packets of flows the appliance's policy rejects, answered with a TCP RST or an \
             ICMP unreachable",
            None,
            MetricType::Counter,
        )?)?;
        let mut rule_flows = encoder.encode_descriptor(
            "sluice_policy_rule_flows",
            "Flows each rule of the appliance's policy decided (rule \"(default)\": the default \
             action); starts again when a reload changes the policy",
            None,
            MetricType::Counter,
        )?;
        for r in &self.policy.rules {
            let labels = [("rule", r.rule.as_str()), ("action", r.action.as_str())];
            ConstCounter::new(r.flows).encode(rule_flows.encode_family(&labels)?)?;
        }

        for (name, help, buckets) in [
            (
                "sluice_packet_latency",
                "Per-packet latency: a burst's time from RX to the end of TX divided by its \
                 packets, merged from the workers",
                &self.packet_latency,
            ),
            (
                "sluice_burst_latency",
                "Per-burst latency: the time from RX to the end of TX of a burst, merged from \
                 the workers",
                &self.burst_latency,
            ),
        ] {
            encoder
                .encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?
                .encode_histogram::<NoLabelSet>(
                    buckets.sum,
                    buckets.count,
                    &buckets.buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

/// A family of [`ZoneMetrics`]: name, help, unit, type and how to read its value.
type ZoneFamily = (
    &'static str,
    &'static str,
    Option<Unit>,
    MetricType,
    fn(&ZoneMetrics) -> Sample,
);

/// GWLB's metric set, labelled by zone and target group.
const ZONE_FAMILIES: [ZoneFamily; 8] = [
    (
        "sluice_active_flows",
        "GWLB ActiveFlowCount: flows (connections) from endpoints to targets live now",
        None,
        MetricType::Gauge,
        |z| Sample::Count(z.active_flows),
    ),
    (
        "sluice_new_flows",
        "GWLB NewFlowCount: flows created from endpoints to targets",
        None,
        MetricType::Counter,
        |z| Sample::Count(z.new_flows),
    ),
    (
        "sluice_processed",
        "GWLB ProcessedBytes: bytes processed, to and from targets, health checks excluded",
        Some(Unit::Bytes),
        MetricType::Counter,
        |z| Sample::Count(z.processed_bytes),
    ),
    (
        "sluice_healthy_hosts",
        "GWLB HealthyHostCount: targets that pass their health checks",
        None,
        MetricType::Gauge,
        |z| Sample::Count(z.healthy_hosts),
    ),
    (
        "sluice_unhealthy_hosts",
        "GWLB UnHealthyHostCount: targets that fail their health checks",
        None,
        MetricType::Gauge,
        |z| Sample::Count(z.unhealthy_hosts),
    ),
    (
        "sluice_peak_bytes_per_second",
        "GWLB PeakBytesPerSecond: the highest byte rate averaged over a 10 s window, among \
         the windows that closed in the last 60 s",
        None,
        MetricType::Gauge,
        |z| Sample::Rate(z.peak_bytes_per_second),
    ),
    (
        "sluice_peak_packets_per_second",
        "GWLB PeakPacketsPerSecond: the highest packet rate averaged over a 10 s window, \
         among the windows that closed in the last 60 s",
        None,
        MetricType::Gauge,
        |z| Sample::Rate(z.peak_packets_per_second),
    ),
    (
        "sluice_tcp_resets",
        "GWLB TCP_ELB_Reset_Count: TCP resets sent by the load balancer",
        None,
        MetricType::Counter,
        |z| Sample::Count(z.tcp_resets),
    ),
];

/// A family of [`PortMetrics`] counters: name, help, unit and how to read its value.
type PortFamily = (
    &'static str,
    &'static str,
    Option<Unit>,
    fn(&PortMetrics) -> u64,
);

/// The ports' device counters, labelled by port.
const PORT_FAMILIES: [PortFamily; 8] = [
    (
        "sluice_port_rx_packets",
        "Packets the port received (device counter)",
        None,
        |p| p.rx_packets,
    ),
    (
        "sluice_port_rx",
        "Bytes the port received (device counter)",
        Some(Unit::Bytes),
        |p| p.rx_bytes,
    ),
    (
        "sluice_port_tx_packets",
        "Packets the port sent (device counter)",
        None,
        |p| p.tx_packets,
    ),
    (
        "sluice_port_tx",
        "Bytes the port sent (device counter)",
        Some(Unit::Bytes),
        |p| p.tx_bytes,
    ),
    (
        "sluice_port_rx_missed",
        "Packets the port dropped because its receive queues were full",
        None,
        |p| p.rx_missed,
    ),
    (
        "sluice_port_rx_errors",
        "Receive errors of the port",
        None,
        |p| p.rx_errors,
    ),
    (
        "sluice_port_tx_errors",
        "Transmit errors of the port",
        None,
        |p| p.tx_errors,
    ),
    (
        "sluice_port_rx_no_mbuf",
        "Receive buffer allocation failures of the port",
        None,
        |p| p.rx_no_mbuf,
    ),
];

/// Encodes one sample as a counter or a gauge.
fn encode_sample(
    mut encoder: MetricEncoder<'_>,
    kind: MetricType,
    value: Sample,
) -> Result<(), std::fmt::Error> {
    match (kind, value) {
        (MetricType::Counter, Sample::Count(n)) => ConstCounter::new(n).encode(encoder),
        (MetricType::Counter, Sample::Rate(x)) => ConstCounter::new(x).encode(encoder),
        (_, Sample::Count(n)) => encoder.encode_gauge(&n),
        (_, Sample::Rate(x)) => encoder.encode_gauge(&x),
    }
}

/// A latency histogram of the bounds the workers use: 1 cycle to 2^40, 2 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    // Valid bounds (low >= 1, high >= 2 * low, sigfig <= 5) cannot fail.
    Histogram::new_with_bounds(1, 1 << 40, 2)
        .unwrap_or_else(|e| unreachable!("fixed histogram bounds: {e}"))
}

/// The OpenMetrics text of a snapshot, as `GET /metrics` answers it (ending with `# EOF`).
///
/// # Errors
///
/// When the encoder fails (it writes to a `String`, so only on a bug in it).
pub fn encode(snapshot: &MetricsSnapshot) -> Result<String, std::fmt::Error> {
    encode_exposition(Exposition::of(snapshot))
}

/// Encodes a prepared exposition through a registry of one collector.
fn encode_exposition(exposition: Exposition) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(exposition));
    let mut text = String::with_capacity(16 * 1024);
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The listener thread.
fn listen(
    listener: &TcpListener,
    snapshot: &Arc<Mutex<MetricsSnapshot>>,
    limits: ServerLimits,
    stop: &AtomicBool,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            // WouldBlock: nobody waiting. ECONNABORTED, EMFILE and the like: the next accept
            // may work.
            Err(_) => {
                std::thread::sleep(ACCEPT_NAP);
                continue;
            }
        };
        if active.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
            active.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (snapshot, active2) = (Arc::clone(snapshot), Arc::clone(&active));
        let spawned = std::thread::Builder::new()
            .name("metrics conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                serve(stream, &snapshot, limits);
                active2.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Serves one connection: one request, one answer, closed.
fn serve(mut stream: TcpStream, snapshot: &Mutex<MetricsSnapshot>, limits: ServerLimits) {
    // The listener is non-blocking; the connection must block, within the timeouts.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(limits.io_timeout)).is_err()
        || stream.set_write_timeout(Some(limits.io_timeout)).is_err()
    {
        return;
    }
    let answer = match read_head(&mut stream, limits.max_request) {
        Some(head) => respond(&head, snapshot),
        None => return,
    };
    let _ = stream.write_all(&answer);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Reads a request head (up to the blank line) of at most `max` bytes; `None` when it is
/// longer, or the client goes away or is too slow.
fn read_head(stream: &mut impl Read, max: usize) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0_u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Some(head);
        }
        if head.len() > max {
            return None;
        }
        match stream.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => return head.contains(&b'\n').then_some(head),
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
}

/// The answer to a request head.
fn respond(head: &[u8], snapshot: &Mutex<MetricsSnapshot>) -> Vec<u8> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return response(400, "Bad Request", "text/plain", b"bad request\n");
    };
    if !version.starts_with("HTTP/1.") {
        return response(400, "Bad Request", "text/plain", b"bad request\n");
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if path != "/metrics" {
        return response(404, "Not Found", "text/plain", b"metrics are at /metrics\n");
    }
    if method != "GET" && method != "HEAD" {
        return response(405, "Method Not Allowed", "text/plain", b"GET only\n");
    }
    let exposition = {
        let snapshot = snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        Exposition::of(&snapshot)
    };
    let mut answer = match encode_exposition(exposition) {
        Ok(text) => response(200, "OK", CONTENT_TYPE, text.as_bytes()),
        Err(_) => response(
            500,
            "Internal Server Error",
            "text/plain",
            b"the metrics could not be encoded\n",
        ),
    };
    if method == "HEAD"
        && let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n")
    {
        answer.truncate(end + 4);
    }
    answer
}

/// A complete HTTP/1.1 response that closes the connection.
fn response(code: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut answer = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(body);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_follow_ten_second_windows() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut p = PeakTracker::new();
        // 100 B/s and 1 packet/s for 10 s, then 1000 B/s and 10 packets/s for 10 s.
        let mut bytes = 0;
        let mut packets = 0;
        for s in 0..=20 {
            p.observe(at(s), bytes, packets);
            if s == 9 {
                assert_eq!(p.peak_bytes_per_second(), 0.0, "no window closed yet");
            }
            let (db, dp) = if s < 10 { (100, 1) } else { (1000, 10) };
            bytes += db;
            packets += dp;
        }
        assert_eq!(p.peak_bytes_per_second(), 1000.0);
        assert_eq!(p.peak_packets_per_second(), 10.0);
        // Idle afterwards (but for the last second's 1000 bytes, in the window that closes at
        // 30 s): the peak holds for 60 s after its window closed, then falls.
        for s in 21..=80 {
            p.observe(at(s), bytes, packets);
        }
        assert_eq!(p.peak_bytes_per_second(), 1000.0);
        // 61 s after the burst's window closed only the quieter windows since count.
        p.observe(at(81), bytes, packets);
        assert_eq!(p.peak_bytes_per_second(), 100.0);
    }

    #[test]
    fn a_counter_reset_opens_a_new_window() {
        let t0 = Instant::now();
        let mut p = PeakTracker::new();
        p.observe(t0, 1_000_000, 1000);
        p.observe(t0 + Duration::from_secs(5), 10, 1);
        p.observe(t0 + Duration::from_secs(15), 510, 11);
        assert_eq!(p.peak_bytes_per_second(), 50.0);
        assert_eq!(p.peak_packets_per_second(), 1.0);
    }

    #[test]
    fn late_samples_average_over_the_real_length() {
        let t0 = Instant::now();
        let mut p = PeakTracker::new();
        p.observe(t0, 0, 0);
        p.observe(t0 + Duration::from_secs(8), 800, 8);
        p.observe(t0 + Duration::from_secs(16), 1600, 16);
        assert_eq!(p.peak_bytes_per_second(), 100.0);
    }

    #[test]
    fn buckets_hold_each_value_once() {
        let mut h = latency_histogram();
        // 1 cycle = 1 ns.
        h.record_n(150, 3).unwrap();
        h.record_n(3_000, 2).unwrap();
        h.record(20_000_000).unwrap();
        let b = Buckets::of(&h, 1_000_000_000);
        assert_eq!(b.count, 6);
        assert_eq!(b.buckets.iter().map(|b| b.1).sum::<u64>(), 6);
        assert_eq!(b.buckets[1], (200e-9, 3));
        assert_eq!(b.buckets[5], (5e-6, 2));
        assert_eq!(b.buckets[16], (f64::INFINITY, 1));
        let empty = Buckets::of(&h, 0);
        assert_eq!(empty.count, 0);
    }

    #[test]
    fn only_metrics_is_served() {
        let s = Mutex::new(MetricsSnapshot::new("gateway"));
        let ok = respond(b"GET /metrics HTTP/1.1\r\n\r\n", &s);
        assert!(ok.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(ok.ends_with(b"# EOF\n"));
        let head = respond(b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", &s);
        assert!(head.ends_with(b"\r\n\r\n"));
        assert!(respond(b"GET / HTTP/1.1\r\n\r\n", &s).starts_with(b"HTTP/1.1 404 "));
        assert!(respond(b"POST /metrics HTTP/1.1\r\n\r\n", &s).starts_with(b"HTTP/1.1 405 "));
        assert!(respond(b"GET /metrics\r\n\r\n", &s).starts_with(b"HTTP/1.1 400 "));
        assert!(respond(b"", &s).starts_with(b"HTTP/1.1 400 "));
    }
}
