//! The metrics endpoint as Prometheus sees it: a snapshot served on 127.0.0.1, scraped over
//! a real TCP socket, the OpenMetrics text parsed back and every family checked for its
//! type, its HELP (which names the CloudWatch metric), its labels and its values; the
//! latency histograms against the HdrHistograms they come from; and the peak-rate tracker
//! on a scripted minute of traffic.

#![cfg(feature = "dpdk")]
#![expect(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice::metrics::{
    LATENCY_BUCKETS_SECONDS, MetricsServer, MetricsSnapshot, PeakTracker, PolicyMetrics,
    PortMetrics, RuleMetrics, ZoneMetrics,
};
use sluice_dpdk::PortStats;
use sluice_engine::counters::{DropReason, WorkerCounters};

/// A sample's labels, sorted.
type Labels = BTreeMap<String, String>;

/// A scrape, parsed: types and help by family, values by sample name and labels.
#[derive(Debug, Default)]
struct Scrape {
    types: BTreeMap<String, String>,
    help: BTreeMap<String, String>,
    units: BTreeMap<String, String>,
    samples: Vec<(String, Labels, f64)>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut s = Scrape::default();
        assert!(text.ends_with("# EOF\n"), "no EOF marker: {text}");
        for line in text.lines() {
            if line == "# EOF" {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                s.types.insert(name.into(), kind.into());
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap();
                s.help.insert(name.into(), help.into());
            } else if let Some(rest) = line.strip_prefix("# UNIT ") {
                let (name, unit) = rest.split_once(' ').unwrap();
                s.units.insert(name.into(), unit.into());
            } else {
                s.samples.push(parse_sample(line));
            }
        }
        s
    }

    /// The value of the sample `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let found: Vec<f64> = self
            .samples
            .iter()
            .filter(|(n, l, _)| n == name && *l == want)
            .map(|s| s.2)
            .collect();
        assert_eq!(found.len(), 1, "{name}{want:?}: {found:?}");
        found[0]
    }

    /// Every sample of `name`.
    fn all(&self, name: &str) -> Vec<(Labels, f64)> {
        self.samples
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, l, v)| (l.clone(), *v))
            .collect()
    }
}

/// `name{k="v",…} value`, with `\"`, `\\` and `\n` escapes in values.
fn parse_sample(line: &str) -> (String, Labels, f64) {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (name, value) = line.split_once(' ').unwrap();
            return (name.into(), Labels::new(), parse_value(value));
        }
    };
    let mut labels = Labels::new();
    let mut chars = rest.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next().unwrap() {
                '\\' => match chars.next().unwrap() {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        match chars.next().unwrap() {
            ',' => continue,
            '}' => break,
            c => panic!("unexpected {c:?} in {line}"),
        }
    }
    let value: String = chars.collect();
    (name.into(), labels, parse_value(value.trim()))
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap(),
    }
}

/// One HTTP request over TCP; the status line, the headers and the body.
fn get(addr: SocketAddr, request: &str) -> (String, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap();
    (status.into(), headers.into(), body.into())
}

const TSC_HZ: u64 = 2_000_000_000;

/// A snapshot with something in every family.
fn snapshot() -> MetricsSnapshot {
    let mut s = MetricsSnapshot::new("gateway");
    s.load_balancer = Some("gwlb-1".into());
    s.target_group = Some("appliances".into());
    s.zones = vec![
        ZoneMetrics {
            zone: "use1-az1".into(),
            target_group: "appliances".into(),
            active_flows: 1200,
            new_flows: 56_789,
            processed_bytes: 9_876_543_210,
            healthy_hosts: 2,
            unhealthy_hosts: 1,
            tcp_resets: 17,
            peak_bytes_per_second: 1.25e9,
            peak_packets_per_second: 812_345.5,
        },
        ZoneMetrics {
            zone: "use1-az2".into(),
            target_group: "appliances".into(),
            active_flows: 3,
            new_flows: 4,
            processed_bytes: 5,
            healthy_hosts: 1,
            unhealthy_hosts: 0,
            tcp_resets: 0,
            peak_bytes_per_second: 0.0,
            peak_packets_per_second: 0.0,
        },
    ];
    let mut counters = WorkerCounters::new();
    counters.rx_packets = 1_000_000;
    counters.rx_bytes = 800_000_000;
    counters.tx_packets = 999_000;
    counters.tx_bytes = 860_000_000;
    counters.drop(DropReason::NoTarget);
    counters.drop(DropReason::NoTarget);
    counters.drop(DropReason::TcpNoFlow);
    s.set_counters(&counters);
    s.drops.insert("tx_full".into(), 9);
    s.ports = vec![
        PortMetrics::from_stats(
            "uplink",
            &PortStats {
                ipackets: 10,
                opackets: 11,
                ibytes: 12,
                obytes: 13,
                imissed: 14,
                ierrors: 15,
                oerrors: 16,
                rx_nombuf: 17,
            },
        ),
        PortMetrics {
            name: "targets".into(),
            ..PortMetrics::default()
        },
    ];
    s.policy = Some(PolicyMetrics {
        rejects: 5,
        rules: vec![
            RuleMetrics {
                rule: "block \"telnet\"".into(),
                action: "reject".into(),
                flows: 3,
            },
            RuleMetrics {
                rule: "(default)".into(),
                action: "allow".into(),
                flows: 40,
            },
        ],
    });
    s.tsc_hz = TSC_HZ;
    // Cycles at 2 GHz: 150 ns, 400 ns, 3 µs, 40 µs, 20 ms.
    for (ns, n) in [
        (150_u64, 5_u64),
        (400, 3),
        (3_000, 2),
        (40_000, 1),
        (20_000_000, 1),
    ] {
        s.packet_latency.record_n(ns * 2, n).unwrap();
    }
    for (ns, n) in [(2_500_u64, 7_u64), (60_000, 1)] {
        s.burst_latency.record_n(ns * 2, n).unwrap();
    }
    s
}

fn start(s: MetricsSnapshot) -> (MetricsServer, Arc<Mutex<MetricsSnapshot>>) {
    let shared = Arc::new(Mutex::new(s));
    let server = MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&shared)).unwrap();
    (server, shared)
}

#[test]
fn a_scrape_has_every_family_with_its_labels_and_values() {
    let (server, _) = start(snapshot());
    let (status, headers, body) = get(
        server.local_addr(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        headers
            .contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{headers}"
    );
    let m = Scrape::parse(&body);

    // Types, and HELP naming the CloudWatch metric.
    for (family, kind, aws) in [
        ("sluice_active_flows", "gauge", "GWLB ActiveFlowCount"),
        ("sluice_new_flows", "counter", "GWLB NewFlowCount"),
        ("sluice_processed_bytes", "counter", "GWLB ProcessedBytes"),
        ("sluice_healthy_hosts", "gauge", "GWLB HealthyHostCount"),
        ("sluice_unhealthy_hosts", "gauge", "GWLB UnHealthyHostCount"),
        (
            "sluice_peak_bytes_per_second",
            "gauge",
            "GWLB PeakBytesPerSecond",
        ),
        (
            "sluice_peak_packets_per_second",
            "gauge",
            "GWLB PeakPacketsPerSecond",
        ),
        ("sluice_tcp_resets", "counter", "GWLB TCP_ELB_Reset_Count"),
        ("sluice_drops", "counter", "Packets dropped"),
        ("sluice_rx_packets", "counter", "Packets received"),
        ("sluice_rx_bytes", "counter", "Bytes received"),
        ("sluice_tx_packets", "counter", "Packets transmitted"),
        ("sluice_tx_bytes", "counter", "Bytes transmitted"),
        (
            "sluice_port_rx_packets",
            "counter",
            "Packets the port received",
        ),
        ("sluice_port_rx_bytes", "counter", "Bytes the port received"),
        ("sluice_port_tx_packets", "counter", "Packets the port sent"),
        ("sluice_port_tx_bytes", "counter", "Bytes the port sent"),
        (
            "sluice_port_rx_missed",
            "counter",
            "receive queues were full",
        ),
        ("sluice_port_rx_errors", "counter", "Receive errors"),
        ("sluice_port_tx_errors", "counter", "Transmit errors"),
        ("sluice_port_rx_no_mbuf", "counter", "allocation failures"),
        ("sluice_policy_rejects", "counter", "policy rejects"),
        ("sluice_policy_rule_flows", "counter", "Flows each rule"),
        (
            "sluice_packet_latency_seconds",
            "histogram",
            "Per-packet latency",
        ),
        (
            "sluice_burst_latency_seconds",
            "histogram",
            "Per-burst latency",
        ),
        ("sluice", "info", "The role"),
    ] {
        assert_eq!(
            m.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
        let help = m.help.get(family).unwrap();
        assert!(
            help.starts_with(aws) || help.contains(aws),
            "{family}: {help}"
        );
    }
    assert_eq!(m.units["sluice_processed_bytes"], "bytes");
    assert_eq!(m.units["sluice_packet_latency_seconds"], "seconds");

    assert_eq!(
        m.value(
            "sluice_info",
            &[
                ("role", "gateway"),
                ("load_balancer", "gwlb-1"),
                ("target_group", "appliances")
            ]
        ),
        1.0
    );

    let az1 = [("zone", "use1-az1"), ("target_group", "appliances")];
    let az2 = [("zone", "use1-az2"), ("target_group", "appliances")];
    assert_eq!(m.value("sluice_active_flows", &az1), 1200.0);
    assert_eq!(m.value("sluice_new_flows_total", &az1), 56_789.0);
    assert_eq!(
        m.value("sluice_processed_bytes_total", &az1),
        9_876_543_210.0
    );
    assert_eq!(m.value("sluice_healthy_hosts", &az1), 2.0);
    assert_eq!(m.value("sluice_unhealthy_hosts", &az1), 1.0);
    assert_eq!(m.value("sluice_tcp_resets_total", &az1), 17.0);
    assert_eq!(m.value("sluice_peak_bytes_per_second", &az1), 1.25e9);
    assert_eq!(m.value("sluice_peak_packets_per_second", &az1), 812_345.5);
    assert_eq!(m.value("sluice_active_flows", &az2), 3.0);
    assert_eq!(m.value("sluice_processed_bytes_total", &az2), 5.0);
    assert_eq!(m.all("sluice_active_flows").len(), 2);

    // Every engine reason, zeros included, and the control thread's own.
    let drops = m.all("sluice_drops_total");
    assert_eq!(drops.len(), DropReason::ALL.len() + 1);
    for &reason in DropReason::ALL {
        let expected = match reason {
            DropReason::NoTarget => 2.0,
            DropReason::TcpNoFlow => 1.0,
            _ => 0.0,
        };
        assert_eq!(
            m.value("sluice_drops_total", &[("reason", reason.name())]),
            expected
        );
    }
    assert_eq!(m.value("sluice_drops_total", &[("reason", "tx_full")]), 9.0);

    assert_eq!(m.value("sluice_rx_packets_total", &[]), 1_000_000.0);
    assert_eq!(m.value("sluice_rx_bytes_total", &[]), 800_000_000.0);
    assert_eq!(m.value("sluice_tx_packets_total", &[]), 999_000.0);
    assert_eq!(m.value("sluice_tx_bytes_total", &[]), 860_000_000.0);

    let uplink = [("port", "uplink")];
    for (name, v) in [
        ("sluice_port_rx_packets_total", 10.0),
        ("sluice_port_tx_packets_total", 11.0),
        ("sluice_port_rx_bytes_total", 12.0),
        ("sluice_port_tx_bytes_total", 13.0),
        ("sluice_port_rx_missed_total", 14.0),
        ("sluice_port_rx_errors_total", 15.0),
        ("sluice_port_tx_errors_total", 16.0),
        ("sluice_port_rx_no_mbuf_total", 17.0),
    ] {
        assert_eq!(m.value(name, &uplink), v, "{name}");
        assert_eq!(m.value(name, &[("port", "targets")]), 0.0, "{name}");
    }

    assert_eq!(m.value("sluice_policy_rejects_total", &[]), 5.0);
    assert_eq!(
        m.value(
            "sluice_policy_rule_flows_total",
            &[("rule", "block \"telnet\""), ("action", "reject")]
        ),
        3.0
    );
    assert_eq!(
        m.value(
            "sluice_policy_rule_flows_total",
            &[("rule", "(default)"), ("action", "allow")]
        ),
        40.0
    );
    server.shutdown();
}

#[test]
fn histogram_buckets_are_cumulative_and_match_the_hdr_histogram() {
    let s = snapshot();
    let text = sluice::metrics::encode(&s).unwrap();
    let m = Scrape::parse(&text);
    for (name, h) in [
        ("sluice_packet_latency_seconds", &s.packet_latency),
        ("sluice_burst_latency_seconds", &s.burst_latency),
    ] {
        let mut buckets: Vec<(f64, f64)> = m
            .all(&format!("{name}_bucket"))
            .into_iter()
            .map(|(l, v)| (parse_value(&l["le"]), v))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let bounds: Vec<f64> = buckets.iter().map(|b| b.0).collect();
        let mut expected_bounds = LATENCY_BUCKETS_SECONDS.to_vec();
        expected_bounds.push(f64::INFINITY);
        assert_eq!(bounds, expected_bounds, "{name}");
        // Cumulative: never decreasing, ending at the count.
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{name}: {buckets:?}"
        );
        let count = m.value(&format!("{name}_count"), &[]);
        assert_eq!(count, h.len() as f64);
        assert_eq!(buckets.last().unwrap().1, count);
        // Each bucket holds exactly the recorded values at or below its bound.
        for &(bound, n) in &buckets {
            let cycles = if bound.is_finite() {
                (bound * TSC_HZ as f64) as u64
            } else {
                u64::MAX
            };
            let truth: u64 = h
                .iter_recorded()
                .filter(|v| v.value_iterated_to() <= cycles)
                .map(|v| v.count_at_value())
                .sum();
            assert_eq!(n, truth as f64, "{name} le={bound}");
        }
        let sum = m.value(&format!("{name}_sum"), &[]);
        let exact = h.mean() * h.len() as f64 / TSC_HZ as f64;
        assert!(
            (sum - exact).abs() <= exact * 1e-9,
            "{name}: {sum} vs {exact}"
        );
    }
    // The values recorded, by hand: 5 at 150 ns, 3 at 400 ns, 2 at 3 µs, 1 at 40 µs, 1 at 20 ms.
    let buckets = m.all("sluice_packet_latency_seconds_bucket");
    let b = |le: f64| {
        buckets
            .iter()
            .find(|(l, _)| parse_value(&l["le"]) == le)
            .map(|(_, v)| *v)
            .unwrap()
    };
    assert_eq!(b(100e-9), 0.0);
    assert_eq!(b(200e-9), 5.0);
    assert_eq!(b(500e-9), 8.0);
    assert_eq!(b(2e-6), 8.0);
    assert_eq!(b(5e-6), 10.0);
    assert_eq!(b(50e-6), 11.0);
    assert_eq!(b(10e-3), 11.0);
    assert_eq!(b(f64::INFINITY), 12.0);
}

#[test]
fn an_empty_snapshot_exports_every_family_and_empty_histograms() {
    let text = sluice::metrics::encode(&MetricsSnapshot::new("appliance")).unwrap();
    let m = Scrape::parse(&text);
    assert_eq!(m.types.len(), 26);
    assert_eq!(m.value("sluice_packet_latency_seconds_count", &[]), 0.0);
    assert_eq!(
        m.value("sluice_burst_latency_seconds_bucket", &[("le", "+Inf")]),
        0.0
    );
    assert!(m.all("sluice_active_flows").is_empty());
    assert_eq!(
        m.value(
            "sluice_info",
            &[
                ("role", "appliance"),
                ("load_balancer", ""),
                ("target_group", "")
            ]
        ),
        1.0
    );
}

#[test]
fn scrapes_see_the_latest_snapshot_and_other_paths_are_refused() {
    let (server, shared) = start(MetricsSnapshot::new("gateway"));
    let addr = server.local_addr();
    let scrape = || Scrape::parse(&get(addr, "GET /metrics HTTP/1.0\r\n\r\n").2);
    assert_eq!(scrape().value("sluice_rx_packets_total", &[]), 0.0);
    shared.lock().unwrap().rx_packets = 77;
    assert_eq!(scrape().value("sluice_rx_packets_total", &[]), 77.0);

    let (status, _, _) = get(addr, "GET / HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let (status, _, _) = get(addr, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    let (status, headers, body) = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(headers.contains("Content-Length: "), "{headers}");
    assert!(body.is_empty());
    // A client that sends nothing is dropped after the timeout without harm; a head over the
    // cap is dropped at once.
    let mut big = TcpStream::connect(addr).unwrap();
    let _ = big.write_all(&vec![b'a'; 20_000]);
    let mut rest = Vec::new();
    big.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = big.read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(scrape().value("sluice_rx_packets_total", &[]), 77.0);
    server.shutdown();
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after shutdown"
    );
}

#[test]
fn peaks_on_a_scripted_minute() {
    // One sample a second for 40 s: packets of 100 bytes at 1000/s, except 5000/s from
    // second 12 to 17 (a burst inside the second window).
    let t0 = Instant::now();
    let mut p = PeakTracker::new();
    let (mut bytes, mut packets) = (0_u64, 0_u64);
    let mut peaks = Vec::new();
    for s in 0..=40_u64 {
        p.observe(t0 + Duration::from_secs(s), bytes, packets);
        peaks.push((p.peak_bytes_per_second(), p.peak_packets_per_second()));
        let rate = if (12..17).contains(&s) { 5000 } else { 1000 };
        packets += rate;
        bytes += rate * 100;
    }
    // Windows close at 10, 20, 30 and 40 s.
    assert_eq!(peaks[9], (0.0, 0.0), "no window closed before 10 s");
    assert_eq!(peaks[10], (100_000.0, 1000.0));
    // Second window [10, 20): 5 s at 5000/s and 5 s at 1000/s: 3000/s on average.
    assert_eq!(peaks[19], (100_000.0, 1000.0));
    assert_eq!(peaks[20], (300_000.0, 3000.0));
    assert_eq!(peaks[40], (300_000.0, 3000.0));
    // The burst's window closed at 20 s; a minute later it no longer counts.
    for s in 41..=80_u64 {
        p.observe(t0 + Duration::from_secs(s), bytes, packets);
    }
    assert_eq!(p.peak_packets_per_second(), 3000.0);
    p.observe(t0 + Duration::from_secs(81), bytes, packets);
    // What is left is the windows since: 1000/s until 40 s, less after.
    assert_eq!(
        p.peak_packets_per_second(),
        1000.0,
        "the burst no longer counts"
    );
}
