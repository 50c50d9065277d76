//! Scenario files (`perf/scenarios/*.toml`): what traffic a run generates, which role of
//! sluice it feeds, how it is measured and which goals it is judged against.
//!
//! A scenario is named by its file's stem. The format is strict (unknown keys are errors) and
//! every field but `description`, `role` and `traffic.flows` has a default; `perf/README.md`
//! documents it key by key. [`Scenario::validate`] checks what serde cannot: ranges, sizes
//! that fit their headers, goals that name a metric they can be judged by.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The largest inner packet GWLB carries (bytes of the inner IP packet).
pub const MAX_INNER_SIZE: u16 = 8500;
/// The most flows a scenario may ask for (the flow table's largest capacity is 64 Mi; the
/// table is sized at four times the flows).
pub const MAX_FLOWS: u64 = 16 << 20;

/// One scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file's stem (not a key of the file).
    #[serde(skip)]
    pub name: String,
    /// One sentence for the report.
    pub description: String,
    /// Which role of sluice runs, and on which traffic.
    pub role: Role,
    /// Part of the default set (`perf/run` with no scenario named). Default: true.
    #[serde(default = "yes")]
    pub default: bool,
    /// Which plots and tables of the report it belongs to: `flow-scaling` (Mpps versus flow
    /// count), `packet-size` (Mpps versus inner size). Default: none.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The traffic generated for it.
    pub traffic: Traffic,
    /// How it is run and measured.
    #[serde(default)]
    pub run: RunSettings,
    /// The goals the report judges it by.
    #[serde(default, rename = "goal")]
    pub goals: Vec<Goal>,
}

/// Which role runs, fed with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The gateway on endpoint traffic (uplink in, GENEVE out to `net_null`).
    Gateway,
    /// The gateway's return path: appliance returns in (GENEVE), decapsulated traffic out;
    /// the flows are created by one pass of the endpoint traffic on the uplink.
    GatewayReturn,
    /// The appliance on GWLB GENEVE (in and out of one `net_pcap` port).
    Appliance,
}

/// The generated traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Distinct flows (5-tuples), 1 to [`MAX_FLOWS`].
    pub flows: u64,
    /// Inner IP packet sizes in bytes (what GWLB's 8500-byte limit counts); packets take
    /// them in turn, so `[64, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500]` is IMIX.
    /// Default: `[64]`.
    #[serde(default = "default_sizes")]
    pub inner_sizes: Vec<u16>,
    /// Share of flows that are IPv6, 0 to 1. Default: 0.
    #[serde(default)]
    pub ipv6_share: f64,
    /// Share of flows that are TCP (the rest UDP), 0 to 1. Default: 0.
    #[serde(default)]
    pub tcp_share: f64,
    /// Packets of each flow in one pass of the capture; the first opens the flow (a SYN for
    /// TCP), so one pass has `1 / packets_per_flow` new-flow packets. Default: 1.
    #[serde(default = "one")]
    pub packets_per_flow: u32,
}

/// How a scenario is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Runs of each tool, alternating tool by tool. At least 1; default 5.
    #[serde(default = "five")]
    pub repetitions: u32,
    /// Seconds measured in each run, after the warm-up. Default: 2.
    #[serde(default = "two")]
    pub seconds: u32,
    /// Seconds of each run not measured (sluice creates the flows then). Default: 1.
    #[serde(default = "one")]
    pub warmup_seconds: u32,
    /// sluice's `dataplane.burst_size` and testpmd's `--burst`. Default: 32.
    #[serde(default = "thirty_two")]
    pub burst: u16,
    /// sluice's `dataplane.poll_mode`, `busy` or `adaptive`. Default: busy.
    #[serde(default)]
    pub poll_mode: PollMode,
    /// The `dpdk-testpmd` forwarding modes run beside sluice as ceilings. Default: both.
    #[serde(default = "all_baselines")]
    pub baselines: Vec<Baseline>,
}

/// sluice's poll mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PollMode {
    /// Spin on the queues.
    #[default]
    Busy,
    /// Sleep when idle.
    Adaptive,
}

/// A `dpdk-testpmd` forwarding mode used as a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Baseline {
    /// `--forward-mode=5tswap`: swaps MACs, IPs and ports (reads and writes every header a
    /// load balancer touches).
    #[serde(rename = "5tswap")]
    FiveTupleSwap,
    /// `--forward-mode=io`: forwards without touching the packet (the I/O alone).
    #[serde(rename = "io")]
    Io,
}

/// A goal the report judges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Goal {
    /// What is measured.
    pub metric: Metric,
    /// With `mpps_relative_to`: the scenario whose sluice rate is the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<String>,
    /// The value must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must be below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// The metrics a goal may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// sluice's median Mpps over testpmd 5tswap's.
    #[serde(rename = "ratio_to_5tswap")]
    RatioTo5tswap,
    /// sluice's median Mpps over testpmd io's.
    RatioToIo,
    /// sluice's median Mpps over its median Mpps in the scenario named by `of`.
    MppsRelativeTo,
    /// sluice's p99 burst latency (RX to the end of TX) in microseconds, median of the runs.
    P99LatencyUs,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn five() -> u32 {
    5
}
fn thirty_two() -> u16 {
    32
}
fn default_sizes() -> Vec<u16> {
    vec![64]
}
fn all_baselines() -> Vec<Baseline> {
    vec![Baseline::FiveTupleSwap, Baseline::Io]
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            repetitions: five(),
            seconds: two(),
            warmup_seconds: one(),
            burst: thirty_two(),
            poll_mode: PollMode::Busy,
            baselines: all_baselines(),
        }
    }
}

/// Why a scenario file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the TOML reader said (with line and column).
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
}

impl Scenario {
    /// Reads and validates a scenario file; its name is the file's stem.
    ///
    /// # Errors
    ///
    /// [`ScenarioError`] when the file cannot be read, parsed or validated.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Scenario::parse(&text, &name).map_err(|e| match e {
            ScenarioError::Parse { message, .. } => ScenarioError::Parse {
                path: path.to_owned(),
                message,
            },
            ScenarioError::Invalid { message, .. } => ScenarioError::Invalid {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates a scenario from TOML text.
    ///
    /// # Errors
    ///
    /// [`ScenarioError::Parse`] or [`ScenarioError::Invalid`] (with the name as path).
    pub fn parse(text: &str, name: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
            path: PathBuf::from(name),
            message: e.to_string().trim_end().to_owned(),
        })?;
        scenario.name = name.to_owned();
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                path: PathBuf::from(name),
                message,
            })?;
        Ok(scenario)
    }

    /// Checks ranges and consistency; the message names the key.
    ///
    /// # Errors
    ///
    /// The first problem found, as text naming the key.
    pub fn validate(&self) -> Result<(), String> {
        let t = &self.traffic;
        if !(1..=MAX_FLOWS).contains(&t.flows) {
            return Err(format!(
                "traffic.flows = {}: must be 1 to {MAX_FLOWS}",
                t.flows
            ));
        }
        if t.inner_sizes.is_empty() {
            return Err("traffic.inner_sizes: must name at least one size".into());
        }
        for (key, share) in [("ipv6_share", t.ipv6_share), ("tcp_share", t.tcp_share)] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("traffic.{key} = {share}: must be 0 to 1"));
            }
        }
        let smallest = t.smallest_inner_size();
        for &size in &t.inner_sizes {
            if size < smallest || size > MAX_INNER_SIZE {
                return Err(format!(
                    "traffic.inner_sizes: {size} bytes: must be {smallest} to {MAX_INNER_SIZE} \
                     for this mix of IP versions and protocols (headers included)"
                ));
            }
        }
        if t.packets_per_flow == 0 || t.packets_per_flow > 1000 {
            return Err(format!(
                "traffic.packets_per_flow = {}: must be 1 to 1000",
                t.packets_per_flow
            ));
        }
        if t.packets() > MAX_FLOWS {
            return Err(format!(
                "traffic: {} flows of {} packets make {} packets in a capture; at most {MAX_FLOWS}",
                t.flows,
                t.packets_per_flow,
                t.packets()
            ));
        }
        let r = &self.run;
        if r.repetitions == 0 || r.repetitions > 100 {
            return Err(format!(
                "run.repetitions = {}: must be 1 to 100",
                r.repetitions
            ));
        }
        if r.seconds == 0 || r.seconds > 600 {
            return Err(format!("run.seconds = {}: must be 1 to 600", r.seconds));
        }
        if r.warmup_seconds > 60 {
            return Err(format!(
                "run.warmup_seconds = {}: must be 0 to 60",
                r.warmup_seconds
            ));
        }
        if r.burst == 0 || r.burst > 256 {
            return Err(format!("run.burst = {}: must be 1 to 256", r.burst));
        }
        for tag in &self.tags {
            if !KNOWN_TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "tags: unknown tag {tag:?} (known: {})",
                    KNOWN_TAGS.join(", ")
                ));
            }
        }
        for (i, goal) in self.goals.iter().enumerate() {
            let at = format!("goal[{i}]");
            if goal.min.is_none() == goal.max.is_none() {
                return Err(format!("{at}: give exactly one of min and max"));
            }
            match goal.metric {
                Metric::MppsRelativeTo if goal.of.is_none() => {
                    return Err(format!(
                        "{at}: metric mpps_relative_to needs `of` (a scenario name)"
                    ));
                }
                Metric::RatioTo5tswap if !r.baselines.contains(&Baseline::FiveTupleSwap) => {
                    return Err(format!(
                        "{at}: ratio_to_5tswap needs \"5tswap\" in run.baselines"
                    ));
                }
                Metric::RatioToIo if !r.baselines.contains(&Baseline::Io) => {
                    return Err(format!("{at}: ratio_to_io needs \"io\" in run.baselines"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Seconds this scenario's runs take, start-up included (an estimate for the plan).
    pub fn estimated_seconds(&self, sluice_binaries: usize) -> f64 {
        let per_run = f64::from(self.run.seconds + self.run.warmup_seconds)
            + 2.0
            + self.traffic.packets() as f64 * 2e-6;
        let tools = sluice_binaries + self.run.baselines.len();
        per_run * tools as f64 * f64::from(self.run.repetitions)
    }
}

/// The tags the report knows.
pub const KNOWN_TAGS: &[&str] = &["flow-scaling", "packet-size"];

impl Traffic {
    /// Packets in one pass of the capture.
    pub fn packets(&self) -> u64 {
        self.flows * u64::from(self.packets_per_flow)
    }

    /// The smallest inner size this mix can build: IP and transport headers (a TCP SYN with
    /// its MSS option), IPv6 when any flow is IPv6, TCP when any is.
    pub fn smallest_inner_size(&self) -> u16 {
        let ip = if self.ipv6_share > 0.0 { 40 } else { 20 };
        let l4 = if self.tcp_share > 0.0 { 24 } else { 8 };
        ip + l4
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Gateway => "gateway",
            Role::GatewayReturn => "gateway-return",
            Role::Appliance => "appliance",
        })
    }
}

impl fmt::Display for Baseline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Baseline::FiveTupleSwap => "5tswap",
            Baseline::Io => "io",
        })
    }
}

/// Every scenario file of a directory, sorted by name.
///
/// # Errors
///
/// The first file that cannot be read or is invalid, or the directory itself.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScenarioError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| Scenario::load(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_every_default() {
        let s = Scenario::parse(
            "description = \"d\"\nrole = \"gateway\"\n[traffic]\nflows = 1024\n",
            "x",
        )
        .unwrap();
        assert_eq!(s.name, "x");
        assert!(s.default);
        assert_eq!(s.traffic.inner_sizes, vec![64]);
        assert_eq!(s.traffic.packets_per_flow, 1);
        assert_eq!(s.run, RunSettings::default());
        assert_eq!(s.run.repetitions, 5);
        assert_eq!(s.run.baselines, vec![Baseline::FiveTupleSwap, Baseline::Io]);
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
description = "mix"
role = "gateway-return"
default = false
tags = ["flow-scaling", "packet-size"]
[traffic]
flows = 100000
inner_sizes = [64, 1500]
ipv6_share = 0.5
tcp_share = 0.25
packets_per_flow = 4
[run]
repetitions = 7
seconds = 3
warmup_seconds = 2
burst = 16
poll_mode = "adaptive"
baselines = ["io"]
[[goal]]
metric = "mpps_relative_to"
of = "gateway-64b-1k"
min = 0.6
[[goal]]
metric = "p99_latency_us"
max = 20
"#;
        let s = Scenario::parse(text, "mix").unwrap();
        assert_eq!(s.role, Role::GatewayReturn);
        assert!(!s.default);
        assert_eq!(s.traffic.packets(), 400_000);
        assert_eq!(s.run.poll_mode, PollMode::Adaptive);
        assert_eq!(s.run.baselines, vec![Baseline::Io]);
        assert_eq!(s.goals.len(), 2);
        assert_eq!(s.goals[0].of.as_deref(), Some("gateway-64b-1k"));
        assert_eq!(s.goals[1].max, Some(20.0));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_key() {
        let base = "description = \"d\"\nrole = \"gateway\"\n";
        let cases = [
            (
                format!("{base}[traffic]\nflows = 1\nflowz = 2\n"),
                "unknown field",
            ),
            (format!("{base}[traffic]\nflows = 0\n"), "traffic.flows"),
            (
                format!("{base}[traffic]\nflows = 1\ninner_sizes = [8501]\n"),
                "inner_sizes",
            ),
            (
                format!("{base}[traffic]\nflows = 1\ninner_sizes = [40]\ntcp_share = 0.5\n"),
                "40 bytes: must be 44",
            ),
            (
                format!("{base}[traffic]\nflows = 1\nipv6_share = 1.5\n"),
                "ipv6_share",
            ),
            (
                format!("{base}[traffic]\nflows = 1\n[run]\nburst = 0\n"),
                "run.burst",
            ),
            (
                format!("{base}tags = [\"nope\"]\n[traffic]\nflows = 1\n"),
                "unknown tag",
            ),
            (
                format!(
                    "{base}[traffic]\nflows = 1\n[[goal]]\nmetric = \"mpps_relative_to\"\nmin = 1\n"
                ),
                "needs `of`",
            ),
            (
                format!(
                    "{base}[traffic]\nflows = 1\n[run]\nbaselines = [\"io\"]\n[[goal]]\nmetric = \"ratio_to_5tswap\"\nmin = 1\n"
                ),
                "needs \"5tswap\"",
            ),
            (
                format!("{base}[traffic]\nflows = 1\n[[goal]]\nmetric = \"ratio_to_io\"\n"),
                "exactly one of min and max",
            ),
            (
                "description = \"d\"\nrole = \"router\"\n[traffic]\nflows = 1\n".to_owned(),
                "unknown variant",
            ),
        ];
        for (text, expected) in cases {
            let e = Scenario::parse(&text, "bad").unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} lacks {expected:?}");
            assert!(e.starts_with("bad: "), "{e}");
        }
    }

    #[test]
    fn the_committed_scenarios_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let all = load_dir(&dir).unwrap();
        assert!(all.iter().any(|s| s.default));
        for s in &all {
            for g in &s.goals {
                if let Some(of) = &g.of {
                    assert!(
                        all.iter().any(|o| &o.name == of),
                        "{}: goal refers to unknown scenario {of}",
                        s.name
                    );
                }
            }
        }
    }
}
