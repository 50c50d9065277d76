//! A lab run: for each scenario, its captures, then every tool `repetitions` times in
//! alternation (the order rotates by one each repetition, so no tool always runs first after
//! another), then the medians, ratios and goals.
//!
//! Everything temporary (captures, configurations, logs) lives in a work directory that is
//! removed at the end; each tool run removes its EAL runtime directory; the network
//! namespace sluice runs in is deleted at the end, also on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};

use crate::lab::{self, Memory, Mtus};
use crate::machine;
use crate::measure::{self, INTERRUPTED, Netns};
use crate::results::{
    Build, CaptureSummary, GoalResult, Results, RunResult, SCHEMA, ScenarioResult, Tool, ToolResult,
};
use crate::scenario::{Baseline, Metric, Role, Scenario};
use crate::traffic::{self, CaptureInfo, Kinds};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The sluice binary under test, and what the report calls it.
    pub sluice: PathBuf,
    /// Its build.
    pub build: Build,
    /// The other binary with `--compare`, and its build.
    pub compare: Option<(PathBuf, Build)>,
    /// The scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// The work directory (removed at the end unless `keep_work`).
    pub work: PathBuf,
    /// Keep the work directory (captures, configurations, logs).
    pub keep_work: bool,
    /// Hugepages, 4 KiB pages, or (`None`) hugepages when enough are free for every
    /// scenario.
    pub memory: Option<Memory>,
}

/// One tool of a scenario, ready to run.
#[derive(Debug, Clone)]
enum Runner {
    Sluice {
        tool: Tool,
        binary: PathBuf,
        summary: bool,
    },
    Testpmd(Baseline),
}

impl Runner {
    fn tool(&self) -> Tool {
        match self {
            Runner::Sluice { tool, .. } => *tool,
            Runner::Testpmd(Baseline::FiveTupleSwap) => Tool::Testpmd5tswap,
            Runner::Testpmd(Baseline::Io) => Tool::TestpmdIo,
        }
    }
}

/// The sizes of one scenario's lab, known before its traffic is generated.
#[derive(Debug, Clone, Copy)]
struct Sizing {
    mtus: Mtus,
    capacity: u32,
    /// Frames of the replayed capture (every role replays one pass of `flows *
    /// packets_per_flow` frames).
    frames: u64,
    mbufs: u32,
}

impl Sizing {
    fn of(scenario: &Scenario) -> Sizing {
        let frames = scenario.traffic.packets();
        Sizing {
            mtus: Mtus::for_traffic(&scenario.traffic),
            capacity: lab::flow_capacity(&scenario.traffic),
            frames,
            mbufs: lab::mbufs(frames),
        }
    }

    fn data_room(&self) -> u32 {
        self.mtus.data_room()
    }

    /// Bytes of the pool (hugepages or not).
    fn pool_bytes(&self, memory: Memory) -> u64 {
        lab::pool_bytes(self.mbufs, self.data_room(), memory)
    }

    /// Bytes of the flow table (ordinary memory).
    fn table_bytes(&self, role: Role) -> u64 {
        let per_flow = if role == Role::Appliance { 128 } else { 64 };
        u64::from(self.capacity) * per_flow
    }

    fn startup_allowance(&self) -> u64 {
        30 + self.frames / 100_000
    }

    /// Why the scenario cannot run with `memory`, if it cannot.
    fn too_big(&self, role: Role, memory: Memory) -> Option<String> {
        let available = machine::memory_available().unwrap_or(u64::MAX);
        let (needed, have, what) = match memory {
            Memory::Hugepages => (
                self.pool_bytes(memory),
                machine::hugepages_free(),
                "of hugepages free",
            ),
            Memory::NoHuge => (
                self.pool_bytes(memory) + self.table_bytes(role),
                available / 10 * 9,
                "of memory available",
            ),
        };
        (needed > have).then(|| {
            format!(
                "not run: needs about {:.1} GiB ({} mbufs of {} bytes each{}), this machine has {:.1} GiB {what}",
                needed as f64 / f64::from(1 << 30),
                self.mbufs,
                lab::mbuf_bytes(self.data_room(), memory),
                if memory == Memory::NoHuge {
                    ", and the flow table"
                } else {
                    ""
                },
                have as f64 / f64::from(1 << 30),
            )
        })
    }
}

/// The devices of one scenario, its captures generated.
#[derive(Debug, Clone)]
struct Setup {
    sizing: Sizing,
    /// The capture on the infinite port.
    replayed: CaptureInfo,
    /// The endpoint capture (the gateway-return's uplink reads it once).
    endpoint: CaptureInfo,
}

impl Setup {
    /// The `--vdev`s, in port order.
    fn devices(&self, role: Role) -> Vec<String> {
        let infinite = |n: u8, c: &CaptureInfo| {
            format!(
                "net_pcap{n},rx_pcap={},infinite_rx=1",
                c.path.to_string_lossy()
            )
        };
        match role {
            Role::Gateway => vec![infinite(0, &self.replayed), "net_null0,no-rx=1".into()],
            Role::GatewayReturn => vec![
                format!("net_pcap0,rx_pcap={}", self.endpoint.path.to_string_lossy()),
                infinite(1, &self.replayed),
            ],
            Role::Appliance => vec![infinite(0, &self.replayed)],
        }
    }
}

/// Runs the lab.
///
/// # Errors
///
/// When the work directory or the namespace cannot be made, or on Ctrl-C. A tool that fails
/// in one run is noted in the results and the lab goes on.
pub fn run(opts: &Options) -> anyhow::Result<Results> {
    let started = Instant::now();
    let created = machine::rfc3339(SystemTime::now());
    std::fs::create_dir_all(&opts.work)
        .with_context(|| format!("creating {}", opts.work.display()))?;
    let _work = WorkDir {
        path: opts.work.clone(),
        keep: opts.keep_work,
    };
    let netns = Netns::create(&format!("slperf-{}", std::process::id()))?;
    let summary_ok = measure::has_summary_json(&opts.sluice);
    let mut runners = vec![Runner::Sluice {
        tool: Tool::Sluice,
        binary: opts.sluice.clone(),
        summary: summary_ok,
    }];
    if let Some((binary, _)) = &opts.compare {
        runners.push(Runner::Sluice {
            tool: Tool::SluiceCompare,
            binary: binary.clone(),
            summary: measure::has_summary_json(binary),
        });
    }
    let sizings: Vec<Sizing> = opts.scenarios.iter().map(Sizing::of).collect();
    // Hugepages when enough are free for every scenario that fits in memory at all.
    let memory = opts.memory.unwrap_or_else(|| {
        let free = machine::hugepages_free();
        let fits = opts
            .scenarios
            .iter()
            .zip(&sizings)
            .filter(|(s, z)| z.too_big(s.role, Memory::NoHuge).is_none())
            .all(|(_, z)| z.pool_bytes(Memory::Hugepages) + (128 << 20) <= free);
        if free > 0 && fits {
            Memory::Hugepages
        } else {
            Memory::NoHuge
        }
    });
    let total: u64 = opts
        .scenarios
        .iter()
        .map(|s| u64::from(s.run.repetitions) * (runners.len() + s.run.baselines.len()) as u64)
        .sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:32.cyan/blue}] {pos}/{len} runs, about {eta} left  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let say = |bar: &ProgressBar, line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };

    let mut results = Results {
        schema: SCHEMA.into(),
        created,
        total_seconds: 0.0,
        machine: machine::machine(),
        memory,
        sluice: opts.build.clone(),
        compare: opts.compare.as_ref().map(|(_, b)| b.clone()),
        scenarios: Vec::new(),
    };
    let mut counter = 0_u32;
    for (scenario, sizing) in opts.scenarios.iter().zip(sizings) {
        let mut tools: Vec<Runner> = runners.clone();
        tools.extend(scenario.run.baselines.iter().map(|b| Runner::Testpmd(*b)));
        let runs_of_scenario = u64::from(scenario.run.repetitions) * tools.len() as u64;
        let dir = opts.work.join(&scenario.name);
        let mut result = empty_result(scenario, &sizing, memory);
        if let Some(note) = sizing.too_big(scenario.role, memory) {
            say(&bar, format!("{}: {note}", scenario.name));
            result.notes.push(note);
            bar.inc(runs_of_scenario);
            results.scenarios.push(result);
            continue;
        }
        bar.set_message(format!("{}: generating traffic", scenario.name));
        let setup = match prepare(scenario, sizing, &dir) {
            Ok(setup) => setup,
            Err(e) => {
                say(&bar, format!("{}: not run: {e:#}", scenario.name));
                result.notes.push(format!("not run: {e:#}"));
                bar.inc(runs_of_scenario);
                results.scenarios.push(result);
                continue;
            }
        };
        result.capture.mean_frame_bytes = setup.replayed.mean_frame_bytes;
        result.capture.max_frame_bytes = setup.replayed.max_frame_bytes;
        let mut runs: Vec<Vec<RunResult>> = vec![Vec::new(); tools.len()];
        for rep in 0..scenario.run.repetitions {
            for k in 0..tools.len() {
                let i = (k + rep as usize) % tools.len();
                if INTERRUPTED.load(Ordering::Relaxed) {
                    anyhow::bail!("interrupted");
                }
                counter += 1;
                let tool = &tools[i];
                let label = label(tool.tool(), opts);
                bar.set_message(format!(
                    "{}: {label}, run {}/{}",
                    scenario.name,
                    rep + 1,
                    scenario.run.repetitions
                ));
                let began = Instant::now();
                match run_one(scenario, &setup, tool, &dir, counter, netns.name(), memory) {
                    Ok((run, tsc)) => {
                        if results.machine.tsc_hz.is_none() {
                            results.machine.tsc_hz = tsc;
                        }
                        say(
                            &bar,
                            format!(
                                "{}: {label} run {}: {:.2} Mpps ({:.1} s)",
                                scenario.name,
                                rep + 1,
                                run.mpps,
                                began.elapsed().as_secs_f64()
                            ),
                        );
                        runs[i].push(run);
                    }
                    Err(e) => {
                        if INTERRUPTED.load(Ordering::Relaxed) {
                            anyhow::bail!("interrupted");
                        }
                        let note = format!("{label} run {} failed: {e:#}", rep + 1);
                        say(&bar, format!("{}: {note}", scenario.name));
                        result.notes.push(note);
                    }
                }
                bar.inc(1);
            }
        }
        result.tools = tools
            .iter()
            .zip(runs)
            .map(|(t, r)| {
                ToolResult::from_runs(
                    t.tool(),
                    label(t.tool(), opts),
                    r,
                    setup.replayed.mean_frame_bytes,
                    results.machine.tsc_hz,
                )
            })
            .collect();
        if !summary_ok {
            result
                .notes
                .push("this sluice has no --summary-json: no latency or drop counts".into());
        }
        note_drops(&mut result);
        result.compute_ratios();
        results.scenarios.push(result);
        if !opts.keep_work {
            // The captures of large scenarios are large: go as soon as they are done.
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    bar.finish_and_clear();
    drop(netns);
    judge_goals(&mut results);
    results.total_seconds = started.elapsed().as_secs_f64();
    Ok(results)
}

/// The work directory, removed when the run ends (also on an error or Ctrl-C).
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What the report calls a tool.
fn label(tool: Tool, opts: &Options) -> String {
    match tool {
        Tool::Sluice => format!("sluice {}", opts.build.label),
        Tool::SluiceCompare => format!(
            "sluice {}",
            opts.compare
                .as_ref()
                .map_or("(compare)", |(_, b)| b.label.as_str())
        ),
        Tool::Testpmd5tswap => "testpmd 5tswap".into(),
        Tool::TestpmdIo => "testpmd io".into(),
    }
}

/// Generates a scenario's captures.
fn prepare(scenario: &Scenario, sizing: Sizing, dir: &Path) -> anyhow::Result<Setup> {
    let kinds = Kinds {
        geneve: scenario.role == Role::Appliance,
        returns: scenario.role == Role::GatewayReturn,
    };
    let captures = traffic::generate(&scenario.traffic, dir, kinds)?;
    let replayed = match scenario.role {
        Role::Gateway => captures.endpoint.clone(),
        Role::Appliance => captures.geneve.clone().context("no GENEVE capture")?,
        Role::GatewayReturn => captures.returns.clone().context("no returns capture")?,
    };
    anyhow::ensure!(
        replayed.packets == sizing.frames,
        "the replayed capture has {} frames, {} expected",
        replayed.packets,
        sizing.frames
    );
    Ok(Setup {
        sizing,
        replayed,
        endpoint: captures.endpoint,
    })
}

/// A scenario's result before any run.
fn empty_result(scenario: &Scenario, sizing: &Sizing, memory: Memory) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name.clone(),
        description: scenario.description.clone(),
        role: scenario.role,
        tags: scenario.tags.clone(),
        traffic: scenario.traffic.clone(),
        capture: CaptureSummary {
            packets: sizing.frames,
            mean_frame_bytes: 0.0,
            max_frame_bytes: 0,
            mbufs: sizing.mbufs,
            data_room: sizing.data_room(),
            mbuf_bytes: lab::mbuf_bytes(sizing.data_room(), memory),
        },
        run: scenario.run.clone(),
        tools: Vec::new(),
        ratios: Default::default(),
        goals: scenario
            .goals
            .iter()
            .map(|g| GoalResult {
                goal: g.clone(),
                text: String::new(),
                value: None,
                met: None,
            })
            .collect(),
        notes: Vec::new(),
    }
}

/// Runs one tool once.
fn run_one(
    scenario: &Scenario,
    setup: &Setup,
    runner: &Runner,
    dir: &Path,
    counter: u32,
    netns: &str,
    memory: Memory,
) -> anyhow::Result<(RunResult, Option<u64>)> {
    let prefix = format!("slperf-{}-{counter}", std::process::id());
    let devices = setup.devices(scenario.role);
    let log = dir.join(format!("run-{counter}.log"));
    let outcome = match runner {
        Runner::Sluice {
            binary, summary, ..
        } => {
            let eal_args = lab::eal_memory_args(
                memory,
                setup.sizing.mbufs,
                setup.sizing.data_room(),
                &prefix,
            );
            let config = match scenario.role {
                Role::Gateway | Role::GatewayReturn => lab::gateway_config(&lab::GatewayLab {
                    uplink: devices[0].clone(),
                    appliances: devices[1].clone(),
                    targets: if scenario.role == Role::Gateway { 2 } else { 1 },
                    mtus: setup.sizing.mtus,
                    capacity: setup.sizing.capacity,
                    mbufs: setup.sizing.mbufs,
                    burst: scenario.run.burst,
                    poll_mode: scenario.run.poll_mode,
                    eal_args,
                }),
                Role::Appliance => lab::appliance_config(&lab::ApplianceLab {
                    device: devices[0].clone(),
                    mtus: setup.sizing.mtus,
                    capacity: setup.sizing.capacity,
                    mbufs: setup.sizing.mbufs,
                    burst: scenario.run.burst,
                    poll_mode: scenario.run.poll_mode,
                    eal_args,
                }),
            };
            let config_path = dir.join(format!("run-{counter}.toml"));
            std::fs::write(&config_path, config)
                .with_context(|| format!("writing {}", config_path.display()))?;
            measure::run_sluice(&measure::SluiceRun {
                binary,
                config: &config_path,
                netns,
                warmup: scenario.run.warmup_seconds,
                seconds: scenario.run.seconds,
                summary_json: summary.then(|| dir.join(format!("run-{counter}.json"))),
                log,
                startup_allowance: setup.sizing.startup_allowance(),
            })
            .map(|m| (m.run, m.tsc_hz))
        }
        Runner::Testpmd(mode) => {
            let args = lab::testpmd_args(&lab::TestpmdLab {
                vdevs: devices.clone(),
                mode: *mode,
                mbufs: setup.sizing.mbufs,
                data_room: setup.sizing.data_room(),
                burst: scenario.run.burst,
                file_prefix: prefix.clone(),
                memory,
            });
            measure::run_testpmd(&measure::TestpmdRun {
                args: &args,
                ports: devices.len(),
                warmup: scenario.run.warmup_seconds,
                seconds: scenario.run.seconds,
                log,
                startup_allowance: setup.sizing.startup_allowance(),
            })
            .map(|r| (r, None))
        }
    };
    measure::remove_runtime_dir(&prefix);
    outcome
}

/// Notes sluice runs that dropped packets beyond the warm-up's few.
fn note_drops(result: &mut ScenarioResult) {
    let mut notes = Vec::new();
    for t in &result.tools {
        if !matches!(t.tool, Tool::Sluice | Tool::SluiceCompare) {
            continue;
        }
        for (i, r) in t.runs.iter().enumerate() {
            if let (Some(drops), Some(rx)) = (r.drops, r.rx_packets)
                && drops * 1000 > rx
            {
                notes.push(format!(
                    "{} run {}: dropped {drops} of {rx} packets ({:?})",
                    t.label,
                    i + 1,
                    r.drops_by_reason
                ));
            }
        }
    }
    result.notes.extend(notes);
}

/// Judges every scenario's goals against the medians.
pub fn judge_goals(results: &mut Results) {
    let sluice_rates: Vec<(String, Option<f64>)> = results
        .scenarios
        .iter()
        .map(|s| (s.name.clone(), s.mpps(Tool::Sluice)))
        .collect();
    for s in &mut results.scenarios {
        let scenario_goals = goals_of(s);
        s.goals = scenario_goals
            .into_iter()
            .map(|goal| {
                let (text, value) = match goal.metric {
                    Metric::RatioTo5tswap => {
                        ("sluice / testpmd 5tswap".to_owned(), s.ratios.to_5tswap)
                    }
                    Metric::RatioToIo => ("sluice / testpmd io".to_owned(), s.ratios.to_io),
                    Metric::MppsRelativeTo => {
                        let of = goal.of.clone().unwrap_or_default();
                        let reference = sluice_rates
                            .iter()
                            .find(|(n, _)| *n == of)
                            .and_then(|(_, r)| *r);
                        (
                            format!("sluice Mpps / sluice Mpps in {of}"),
                            crate::stats::ratio(s.mpps(Tool::Sluice), reference),
                        )
                    }
                    Metric::P99LatencyUs => (
                        "sluice p99 burst latency (µs)".to_owned(),
                        s.tool(Tool::Sluice)
                            .and_then(|t| t.latency.as_ref())
                            .map(|l| l.burst_ns.p99 / 1000.0),
                    ),
                };
                let (bound, met) = match (goal.min, goal.max) {
                    (Some(min), _) => (format!(">= {min}"), value.map(|v| v >= min)),
                    (_, Some(max)) => (format!("< {max}"), value.map(|v| v < max)),
                    _ => (String::new(), None),
                };
                GoalResult {
                    goal,
                    text: format!("{text} {bound}"),
                    value,
                    met,
                }
            })
            .collect();
    }
}

/// The goals a scenario result carries (as its file stated them).
fn goals_of(s: &ScenarioResult) -> Vec<crate::scenario::Goal> {
    s.goals.iter().map(|g| g.goal.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::tests::results;

    #[test]
    fn goals_are_judged_against_the_medians() {
        let mut r = results();
        // The 1 M scenario is judged against the 1 K one's rate.
        r.scenarios[1].goals[0].goal = crate::scenario::Goal {
            metric: Metric::MppsRelativeTo,
            of: Some("gateway-64b-1k".into()),
            min: Some(0.6),
            max: None,
        };
        r.scenarios[2].goals[0].goal = crate::scenario::Goal {
            metric: Metric::P99LatencyUs,
            of: None,
            min: None,
            max: Some(20.0),
        };
        judge_goals(&mut r);
        let g = &r.scenarios[0].goals[0];
        assert_eq!(g.text, "sluice / testpmd 5tswap >= 0.75");
        assert!((g.value.unwrap() - 15.2 / 20.2).abs() < 1e-9);
        assert_eq!(g.met, Some(true));
        let g = &r.scenarios[1].goals[0];
        assert!((g.value.unwrap() - 9.2 / 15.2).abs() < 1e-9);
        assert_eq!(g.met, Some(true));
        let g = &r.scenarios[2].goals[0];
        // Burst p99 of the fixture: 100 * 32 * 2 ns = 6.4 µs.
        assert!((g.value.unwrap() - 6.4).abs() < 1e-9);
        assert_eq!(g.met, Some(true));
        assert_eq!(g.text, "sluice p99 burst latency (µs) < 20");
    }

    #[test]
    fn devices_per_role() {
        let info = |p: &str| CaptureInfo {
            path: PathBuf::from(p),
            packets: 10,
            mean_frame_bytes: 60.0,
            max_frame_bytes: 60,
        };
        let setup = Setup {
            sizing: Sizing {
                mtus: Mtus {
                    uplink: 1500,
                    geneve: 1500,
                },
                capacity: 1024,
                frames: 10,
                mbufs: lab::mbufs(10),
            },
            replayed: info("/w/r.pcap"),
            endpoint: info("/w/e.pcap"),
        };
        assert_eq!(
            setup.devices(Role::Gateway),
            [
                "net_pcap0,rx_pcap=/w/r.pcap,infinite_rx=1",
                "net_null0,no-rx=1"
            ]
        );
        assert_eq!(
            setup.devices(Role::GatewayReturn),
            [
                "net_pcap0,rx_pcap=/w/e.pcap",
                "net_pcap1,rx_pcap=/w/r.pcap,infinite_rx=1"
            ]
        );
        assert_eq!(
            setup.devices(Role::Appliance),
            ["net_pcap0,rx_pcap=/w/r.pcap,infinite_rx=1"]
        );
    }
}
