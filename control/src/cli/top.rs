//! `sluice top`: rates from successive `DescribeMetrics` results.
//!
//! Two results make one view: the counters' increase divided by the time between them. The
//! time is the server's (`uptime_seconds`) when both results carry it and it advanced,
//! else the client's clock, so a slow answer does not bend the rates. A counter that went
//! backwards (sluice restarted) makes no view; the next one starts from the new counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use serde_json::{Value, json};

use super::render::{count, nanos, num, si};

/// The counters of one `DescribeMetrics` result, and when it arrived.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    at: Instant,
    uptime: Option<f64>,
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
    created: u64,
    active: u64,
    drops: BTreeMap<String, u64>,
}

/// The rates between two samples.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rates {
    /// Seconds between the samples.
    pub(crate) seconds: f64,
    pub(crate) rx_pps: f64,
    pub(crate) rx_bps: f64,
    pub(crate) tx_pps: f64,
    pub(crate) tx_bps: f64,
    pub(crate) new_flows: f64,
    pub(crate) drops: f64,
    /// Flows live at the second sample.
    pub(crate) active: u64,
    /// Drops per second by reason, the non-zero ones, largest first.
    pub(crate) drops_by_reason: Vec<(String, f64)>,
}

impl Sample {
    /// The counters of a `DescribeMetrics` result received at `at`.
    pub(crate) fn of(metrics: &Value, at: Instant) -> Self {
        let flows = metrics.get("flows").cloned().unwrap_or(Value::Null);
        Self {
            at,
            uptime: metrics.get("uptime_seconds").and_then(Value::as_f64),
            rx_packets: count(metrics, "rx_packets"),
            rx_bytes: count(metrics, "rx_bytes"),
            tx_packets: count(metrics, "tx_packets"),
            tx_bytes: count(metrics, "tx_bytes"),
            created: count(&flows, "created"),
            active: count(&flows, "active"),
            drops: metrics
                .get("drops")
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The rates from `earlier` to this sample; `None` when a counter went backwards or no
    /// time passed.
    pub(crate) fn rates_since(&self, earlier: &Sample) -> Option<Rates> {
        let seconds = match (earlier.uptime, self.uptime) {
            (Some(a), Some(b)) if b > a => b - a,
            (Some(a), Some(b)) if b < a => return None,
            _ => self.at.saturating_duration_since(earlier.at).as_secs_f64(),
        };
        if seconds <= 0.0 {
            return None;
        }
        let rate = |a: u64, b: u64| b.checked_sub(a).map(|d| d as f64 / seconds);
        let mut drops_by_reason = Vec::new();
        let mut drops = 0.0;
        for (reason, &n) in &self.drops {
            let before = earlier.drops.get(reason).copied().unwrap_or(0);
            let r = rate(before, n)?;
            drops += r;
            if r > 0.0 {
                drops_by_reason.push((reason.clone(), r));
            }
        }
        drops_by_reason.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Some(Rates {
            seconds,
            rx_pps: rate(earlier.rx_packets, self.rx_packets)?,
            rx_bps: rate(earlier.rx_bytes, self.rx_bytes)? * 8.0,
            tx_pps: rate(earlier.tx_packets, self.tx_packets)?,
            tx_bps: rate(earlier.tx_bytes, self.tx_bytes)? * 8.0,
            new_flows: rate(earlier.created, self.created)?,
            drops,
            active: self.active,
            drops_by_reason,
        })
    }
}

impl Rates {
    /// One plain line, for output that is not a terminal.
    pub(crate) fn line(&self, elapsed: f64) -> String {
        format!(
            "t+{elapsed:.1}s  rx {}pps {}bit/s  tx {}pps {}bit/s  new flows {}/s  active {}  drops {}/s",
            si(self.rx_pps),
            si(self.rx_bps),
            si(self.tx_pps),
            si(self.tx_bps),
            si(self.new_flows),
            self.active,
            si(self.drops)
        )
    }

    /// A full screen, for a terminal: rates, flows, the top drop reasons and latency.
    pub(crate) fn screen(&self, metrics: &Value, interval: f64) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sluice top: every {interval} s, up {} (Ctrl-C to stop)\n",
            super::render::duration(num(metrics, "uptime_seconds"))
        );
        let _ = writeln!(
            s,
            "  rx      {:>10}pps  {:>10}bit/s",
            si(self.rx_pps),
            si(self.rx_bps)
        );
        let _ = writeln!(
            s,
            "  tx      {:>10}pps  {:>10}bit/s",
            si(self.tx_pps),
            si(self.tx_bps)
        );
        let _ = writeln!(
            s,
            "  flows   {:>10} active, {}/s new",
            self.active,
            si(self.new_flows)
        );
        let _ = writeln!(s, "  drops   {:>10}/s", si(self.drops));
        for (reason, r) in self.drops_by_reason.iter().take(8) {
            let _ = writeln!(s, "    {reason:<28} {:>10}/s", si(*r));
        }
        if let Some(t) = metrics.get("targets").filter(|t| !t.is_null()) {
            let _ = writeln!(
                s,
                "  targets {:>10} healthy, {} unhealthy",
                count(t, "healthy"),
                count(t, "unhealthy")
            );
        }
        if let Some(h) = metrics.get("latency").and_then(|l| l.get("packet_ns")) {
            let _ = writeln!(
                s,
                "  latency   per packet p50 {}, p99 {}, max {}",
                nanos(num(h, "p50")),
                nanos(num(h, "p99")),
                nanos(num(h, "max"))
            );
        }
        s
    }

    /// One JSON object per view, for `--output json`: the rates and the result they end on.
    pub(crate) fn json(&self, elapsed: f64, metrics: &Value) -> Value {
        json!({
            "elapsed_seconds": elapsed,
            "interval_seconds": self.seconds,
            "rates": {
                "rx_pps": self.rx_pps,
                "rx_bps": self.rx_bps,
                "tx_pps": self.tx_pps,
                "tx_bps": self.tx_bps,
                "new_flows_per_second": self.new_flows,
                "drops_per_second": self.drops,
                "drops_per_second_by_reason": self.drops_by_reason.iter().cloned().collect::<BTreeMap<_, _>>(),
            },
            "active_flows": self.active,
            "metrics": metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rates_use_the_servers_clock() {
        let t0 = Instant::now();
        let a = Sample::of(
            &json!({"uptime_seconds": 10.0, "rx_packets": 100, "rx_bytes": 1000,
                    "tx_packets": 50, "tx_bytes": 500, "flows": {"active": 3, "created": 10},
                    "drops": {"no_target": 1, "tcp_no_flow": 0}}),
            t0,
        );
        let b = Sample::of(
            &json!({"uptime_seconds": 12.0, "rx_packets": 300, "rx_bytes": 3000,
                    "tx_packets": 250, "tx_bytes": 2500, "flows": {"active": 5, "created": 14},
                    "drops": {"no_target": 5, "tcp_no_flow": 2}}),
            t0 + Duration::from_secs(7),
        );
        let r = b.rates_since(&a).unwrap();
        assert_eq!(r.seconds, 2.0);
        assert_eq!((r.rx_pps, r.rx_bps), (100.0, 8000.0));
        assert_eq!((r.tx_pps, r.tx_bps), (100.0, 8000.0));
        assert_eq!((r.new_flows, r.active, r.drops), (2.0, 5, 3.0));
        assert_eq!(
            r.drops_by_reason,
            vec![("no_target".into(), 2.0), ("tcp_no_flow".into(), 1.0)]
        );
        assert!(r.line(2.0).starts_with("t+2.0s  rx 100pps 8.00 kbit/s"));
    }

    #[test]
    fn a_restart_makes_no_view() {
        let t0 = Instant::now();
        let a = Sample::of(&json!({"uptime_seconds": 100.0, "rx_packets": 1000}), t0);
        let b = Sample::of(&json!({"uptime_seconds": 1.0, "rx_packets": 10}), t0);
        assert!(b.rates_since(&a).is_none());
        // Without uptime the client's clock counts.
        let c = Sample::of(&json!({"rx_packets": 0}), t0);
        let d = Sample::of(&json!({"rx_packets": 50}), t0 + Duration::from_millis(500));
        assert_eq!(d.rates_since(&c).unwrap().rx_pps, 100.0);
    }
}
