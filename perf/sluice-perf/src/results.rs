//! `results.json`: everything a lab run measured, in a documented schema
//! (`perf/README.md`, "results.json"), from which the report and the plots are drawn
//! (`sluice-perf report` draws them again from the file alone).
//!
//! The schema is named by [`SCHEMA`]; fields are only ever added to it. Rates are in
//! millions of packets a second (Mpps) and gigabits a second of frames (Ethernet header to
//! the end, no FCS); latencies in nanoseconds unless named `_cycles`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::scenario::{Goal, Role, RunSettings, Traffic};
use crate::stats;

/// The schema's name and version.
pub const SCHEMA: &str = "sluice-perf/results/v1";

/// One lab run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// [`SCHEMA`].
    pub schema: String,
    /// When the run started (UTC, RFC 3339).
    pub created: String,
    /// Wall-clock seconds the measurements took (generation included, builds not).
    pub total_seconds: f64,
    /// The machine.
    pub machine: Machine,
    /// The memory both tools ran on: `hugepages` or `no-huge` (4 KiB pages).
    pub memory: crate::lab::Memory,
    /// The sluice under test.
    pub sluice: Build,
    /// The other revision, with `perf/run --compare REV`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Build>,
    /// Every scenario run, in order.
    pub scenarios: Vec<ScenarioResult>,
}

/// The machine a run was made on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPU model (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// CPUs available.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Operating system.
    pub os: String,
    /// DPDK's version (the `dpdk` package).
    pub dpdk: String,
    /// The time-stamp counter's frequency as sluice reported it.
    pub tsc_hz: Option<u64>,
}

/// A sluice binary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// What the report calls it (`work tree`, or the `--compare` revision as given).
    pub label: String,
    /// Its commit (short hash), when known.
    pub commit: String,
    /// Whether the working tree had uncommitted changes (the binary is not the commit).
    pub dirty: bool,
}

/// One scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario's name (its file's stem).
    pub name: String,
    /// Its description.
    pub description: String,
    /// The role run.
    pub role: Role,
    /// Its tags.
    pub tags: Vec<String>,
    /// The traffic asked for.
    pub traffic: Traffic,
    /// The replayed capture.
    pub capture: CaptureSummary,
    /// How it was run.
    pub run: RunSettings,
    /// Every tool's runs and medians: sluice first, the compared sluice, then the ceilings.
    pub tools: Vec<ToolResult>,
    /// Ratios of the medians.
    pub ratios: Ratios,
    /// The goals and whether they were met.
    pub goals: Vec<GoalResult>,
    /// Anything the reader must know (skips, failures, approximations).
    pub notes: Vec<String>,
}

/// The capture a scenario replays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureSummary {
    /// Packets in the replayed capture (the one on the infinite `net_pcap` port).
    pub packets: u64,
    /// Mean frame length in bytes (no FCS).
    pub mean_frame_bytes: f64,
    /// Longest frame.
    pub max_frame_bytes: usize,
    /// The mbufs each tool's pool had.
    pub mbufs: u32,
    /// Data room per mbuf.
    pub data_room: u32,
    /// Memory per mbuf (data room, headers, and the page rounding without hugepages).
    pub mbuf_bytes: u64,
}

/// A tool that was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// `sluice run`, the build under test.
    Sluice,
    /// `sluice run`, the `--compare` revision.
    SluiceCompare,
    /// `dpdk-testpmd --forward-mode=5tswap`.
    #[serde(rename = "testpmd-5tswap")]
    Testpmd5tswap,
    /// `dpdk-testpmd --forward-mode=io`.
    TestpmdIo,
}

/// One tool's runs in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    /// Which tool.
    pub tool: Tool,
    /// Its label in the report (`sluice work tree`, `sluice v1`, `testpmd 5tswap`).
    pub label: String,
    /// Every run, in the order made.
    pub runs: Vec<RunResult>,
    /// The median of the runs' Mpps.
    pub median_mpps: Option<f64>,
    /// The same in Gbit/s of frames.
    pub median_gbps: Option<f64>,
    /// TSC cycles per packet at the median rate (one busy core).
    pub cycles_per_packet: Option<f64>,
    /// sluice only: the median over runs of each latency percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// One run of one tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The mean of the measured samples: the run's rate.
    pub mpps: f64,
    /// The per-second rates measured (after the warm-up).
    pub samples_mpps: Vec<f64>,
    /// sluice: packets received and transmitted over the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_packets: Option<u64>,
    /// Transmitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_packets: Option<u64>,
    /// sluice: every drop, and the non-zero ones by reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drops: Option<u64>,
    /// Drops by reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drops_by_reason: BTreeMap<String, u64>,
    /// sluice: its latency histograms' percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// sluice's latency: per burst (RX to the end of TX: what a packet waits inside sluice at
/// most) and per packet (that divided by the burst's packets: its cost).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Per burst, nanoseconds.
    pub burst_ns: Percentiles,
    /// Per packet, nanoseconds.
    pub packet_ns: Percentiles,
    /// Per burst, TSC cycles.
    pub burst_cycles: Percentiles,
    /// Per packet, TSC cycles.
    pub packet_cycles: Percentiles,
    /// The burst latency's percentile distribution: `[quantile, ns]`, quantile ascending
    /// (in a tool's median latency only; empty in each run's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub burst_distribution_ns: Vec<(f64, f64)>,
}

/// Percentiles of one histogram.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Ratios of sluice's median Mpps to the others'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratios {
    /// To testpmd 5tswap.
    pub to_5tswap: Option<f64>,
    /// To testpmd io.
    pub to_io: Option<f64>,
    /// To the `--compare` revision (above 1: the build under test is faster).
    pub to_compare: Option<f64>,
}

/// A goal, judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalResult {
    /// The goal as the scenario states it.
    pub goal: Goal,
    /// The goal in words (`sluice / testpmd 5tswap >= 0.75`).
    pub text: String,
    /// The measured value.
    pub value: Option<f64>,
    /// Whether it was met (`None`: not measured).
    pub met: Option<bool>,
}

impl Percentiles {
    /// The median of each percentile over `all`.
    pub fn median_of(all: &[Percentiles]) -> Percentiles {
        let m = |f: fn(&Percentiles) -> f64| {
            stats::median(&all.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0)
        };
        Percentiles {
            p50: m(|p| p.p50),
            p90: m(|p| p.p90),
            p99: m(|p| p.p99),
            p99_9: m(|p| p.p99_9),
            max: m(|p| p.max),
            mean: m(|p| p.mean),
        }
    }
}

impl Latency {
    /// Each percentile's median over the runs; the distribution of the run whose p99 is
    /// closest to that median.
    pub fn median_of(all: &[&Latency]) -> Option<Latency> {
        if all.is_empty() {
            return None;
        }
        let pick = |f: fn(&Latency) -> Percentiles| {
            Percentiles::median_of(&all.iter().map(|l| f(l)).collect::<Vec<_>>())
        };
        let burst_ns = pick(|l| l.burst_ns);
        let typical = all
            .iter()
            .min_by(|a, b| {
                (a.burst_ns.p99 - burst_ns.p99)
                    .abs()
                    .total_cmp(&(b.burst_ns.p99 - burst_ns.p99).abs())
            })
            .map(|l| l.burst_distribution_ns.clone())
            .unwrap_or_default();
        Some(Latency {
            burst_ns,
            packet_ns: pick(|l| l.packet_ns),
            burst_cycles: pick(|l| l.burst_cycles),
            packet_cycles: pick(|l| l.packet_cycles),
            burst_distribution_ns: typical,
        })
    }
}

impl ToolResult {
    /// Medians over `runs` for a tool, with the rate in Gbit/s of `frame_bytes` frames and
    /// cycles per packet at `tsc_hz`.
    pub fn from_runs(
        tool: Tool,
        label: String,
        runs: Vec<RunResult>,
        frame_bytes: f64,
        tsc_hz: Option<u64>,
    ) -> ToolResult {
        let rates: Vec<f64> = runs.iter().map(|r| r.mpps).collect();
        let median_mpps = stats::median(&rates);
        let latencies: Vec<&Latency> = runs.iter().filter_map(|r| r.latency.as_ref()).collect();
        let latency = Latency::median_of(&latencies);
        // One distribution per tool is enough (the runs keep their percentiles).
        let mut runs = runs;
        for r in &mut runs {
            if let Some(l) = r.latency.as_mut() {
                l.burst_distribution_ns.clear();
            }
        }
        ToolResult {
            tool,
            label,
            median_gbps: median_mpps.map(|m| stats::gbps(m, frame_bytes)),
            cycles_per_packet: median_mpps
                .zip(tsc_hz)
                .and_then(|(m, hz)| stats::cycles_per_packet(hz as f64, m)),
            latency,
            median_mpps,
            runs,
        }
    }
}

impl ScenarioResult {
    /// The result of one tool, if it ran.
    pub fn tool(&self, tool: Tool) -> Option<&ToolResult> {
        self.tools.iter().find(|t| t.tool == tool)
    }

    /// The median Mpps of one tool.
    pub fn mpps(&self, tool: Tool) -> Option<f64> {
        self.tool(tool).and_then(|t| t.median_mpps)
    }

    /// Fills [`ScenarioResult::ratios`] from the tools' medians.
    pub fn compute_ratios(&mut self) {
        let sluice = self.mpps(Tool::Sluice);
        self.ratios = Ratios {
            to_5tswap: stats::ratio(sluice, self.mpps(Tool::Testpmd5tswap)),
            to_io: stats::ratio(sluice, self.mpps(Tool::TestpmdIo)),
            to_compare: stats::ratio(sluice, self.mpps(Tool::SluiceCompare)),
        };
    }
}

impl Results {
    /// Writes the results as pretty JSON.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }

    /// Reads results written by [`Results::save`].
    ///
    /// # Errors
    ///
    /// When the file cannot be read, is not JSON of this schema, or names another schema.
    pub fn load(path: &Path) -> anyhow::Result<Results> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a results.json of {SCHEMA}", path.display()))?;
        anyhow::ensure!(
            results.schema == SCHEMA,
            "{}: schema {:?}, this tool reads {SCHEMA:?}",
            path.display(),
            results.schema
        );
        Ok(results)
    }

    /// The result of the scenario named `name`.
    pub fn scenario(&self, name: &str) -> Option<&ScenarioResult> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::scenario::{Baseline, Metric, Scenario};

    fn percentiles(base: f64) -> Percentiles {
        Percentiles {
            p50: base,
            p90: base * 1.5,
            p99: base * 2.0,
            p99_9: base * 3.0,
            max: base * 10.0,
            mean: base * 1.1,
        }
    }

    fn latency(base: f64) -> Latency {
        Latency {
            burst_ns: percentiles(base * 32.0),
            packet_ns: percentiles(base),
            burst_cycles: percentiles(base * 64.0),
            packet_cycles: percentiles(base * 2.0),
            burst_distribution_ns: vec![(0.0, base), (0.5, base * 32.0), (1.0, base * 320.0)],
        }
    }

    /// A plausible result for a scenario, with the given sluice and testpmd rates.
    pub(crate) fn scenario_result(
        name: &str,
        flows: u64,
        size: u16,
        sluice: f64,
    ) -> ScenarioResult {
        let text = format!(
            "description = \"test {name}\"\nrole = \"gateway\"\ntags = [\"flow-scaling\", \"packet-size\"]\n\
             [traffic]\nflows = {flows}\ninner_sizes = [{size}]\n\
             [[goal]]\nmetric = \"ratio_to_5tswap\"\nmin = 0.75\n"
        );
        let s = Scenario::parse(&text, name).unwrap();
        let run = |mpps: f64, lat: Option<f64>| RunResult {
            mpps,
            samples_mpps: vec![mpps * 0.99, mpps * 1.01],
            rx_packets: lat.map(|_| 1_000_000),
            tx_packets: lat.map(|_| 1_000_000),
            drops: lat.map(|_| 0),
            drops_by_reason: BTreeMap::new(),
            latency: lat.map(latency),
        };
        let tool = |tool, label: &str, mpps: f64, lat: Option<f64>| {
            ToolResult::from_runs(
                tool,
                label.into(),
                (0..5)
                    .map(|i| run(mpps + f64::from(i) * 0.1, lat))
                    .collect(),
                f64::from(size) + 14.0,
                Some(2_000_000_000),
            )
        };
        let mut r = ScenarioResult {
            name: s.name.clone(),
            description: s.description.clone(),
            role: s.role,
            tags: s.tags.clone(),
            traffic: s.traffic.clone(),
            capture: CaptureSummary {
                packets: flows,
                mean_frame_bytes: f64::from(size) + 14.0,
                max_frame_bytes: usize::from(size) + 14,
                mbufs: 17_407,
                data_room: 2176,
                mbuf_bytes: 4096,
            },
            run: s.run.clone(),
            tools: vec![
                tool(Tool::Sluice, "sluice HEAD", sluice, Some(100.0)),
                tool(Tool::Testpmd5tswap, "testpmd 5tswap", 20.0, None),
                tool(Tool::TestpmdIo, "testpmd io", 30.0, None),
            ],
            ratios: Ratios::default(),
            goals: vec![GoalResult {
                goal: s.goals[0].clone(),
                text: "sluice / testpmd 5tswap >= 0.75".into(),
                value: Some(sluice / 20.0),
                met: Some(sluice / 20.0 >= 0.75),
            }],
            notes: vec![],
        };
        assert_eq!(s.run.baselines, vec![Baseline::FiveTupleSwap, Baseline::Io]);
        assert_eq!(s.goals[0].metric, Metric::RatioTo5tswap);
        r.compute_ratios();
        r
    }

    pub(crate) fn results() -> Results {
        Results {
            schema: SCHEMA.into(),
            created: "2026-11-29T18:00:00Z".into(),
            total_seconds: 600.0,
            machine: Machine {
                hostname: "lab".into(),
                cpu_model: "Test CPU".into(),
                cores: 2,
                memory_gib: 23.4,
                kernel: "6.1".into(),
                os: "Debian 12".into(),
                dpdk: "22.11".into(),
                tsc_hz: Some(2_000_000_000),
            },
            memory: crate::lab::Memory::NoHuge,
            sluice: Build {
                label: "HEAD".into(),
                commit: "abc1234".into(),
                dirty: false,
            },
            compare: None,
            scenarios: vec![
                scenario_result("gateway-64b-1k", 1024, 64, 15.0),
                scenario_result("gateway-64b-1m", 1 << 20, 64, 9.0),
                scenario_result("gateway-1500b-1k", 1024, 1500, 5.0),
            ],
        }
    }

    #[test]
    fn json_round_trip_keeps_everything() {
        let r = results();
        let dir = std::env::temp_dir().join(format!("sluice-perf-results-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.json");
        r.save(&path).unwrap();
        let back = Results::load(&path).unwrap();
        assert_eq!(back, r);
        // The documented field names are what the file holds.
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let s = &v["scenarios"][0];
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(s["role"], "gateway");
        assert_eq!(s["tools"][0]["tool"], "sluice");
        assert_eq!(s["tools"][1]["tool"], "testpmd-5tswap");
        assert!(s["tools"][0]["latency"]["burst_ns"]["p99_9"].is_number());
        assert!(s["ratios"]["to_5tswap"].is_number());
        assert!(s["ratios"]["to_compare"].is_null());
        assert_eq!(s["goals"][0]["goal"]["metric"], "ratio_to_5tswap");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_schema_is_refused() {
        let dir = std::env::temp_dir().join(format!("sluice-perf-schema-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("results.json");
        let mut r = results();
        r.schema = "sluice-perf/results/v0".into();
        r.save(&path).unwrap();
        let e = Results::load(&path).unwrap_err().to_string();
        assert!(e.contains("v0"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn medians_ratios_and_cycles() {
        let r = scenario_result("x", 1024, 64, 15.0);
        let sluice = r.tool(Tool::Sluice).unwrap();
        // Runs at 15.0, 15.1, ..., 15.4: the median is 15.2.
        assert!((sluice.median_mpps.unwrap() - 15.2).abs() < 1e-9);
        assert!((r.ratios.to_5tswap.unwrap() - 15.2 / 20.2).abs() < 1e-9);
        assert!((r.ratios.to_io.unwrap() - 15.2 / 30.2).abs() < 1e-9);
        // 2 GHz / 15.2 Mpps.
        assert!((sluice.cycles_per_packet.unwrap() - 2e9 / 15.2e6).abs() < 1e-6);
        // 15.2 Mpps of 78-byte frames.
        assert!((sluice.median_gbps.unwrap() - 15.2 * 78.0 * 8.0 / 1000.0).abs() < 1e-9);
        let lat = sluice.latency.as_ref().unwrap();
        assert_eq!(lat.burst_ns.p99, 6400.0);
        assert_eq!(lat.burst_distribution_ns.len(), 3);
        assert!(r.tool(Tool::Testpmd5tswap).unwrap().latency.is_none());
    }
}
