//! `sluice-perf`: sluice's perf lab. It generates the traffic of each scenario
//! (`perf/scenarios/*.toml`), runs `sluice run` beside `dpdk-testpmd` on identical DPDK
//! virtual devices, and writes `results.json`, a Markdown report and plots.
//!
//! `perf/run` is the one command people use: it builds what is needed (and, with
//! `--compare REV`, another revision) and calls `sluice-perf run`. The method is that of
//! `shared/DESIGN.md` §9: the real binary, testpmd as the ceiling in the same run, medians
//! over repeated, alternating runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use sluice_perf::results::{Build, Results, Tool};
use sluice_perf::scenario::{self, Scenario, Traffic};
use sluice_perf::{lab, machine, measure, plots, report, runner, traffic};

#[derive(Parser)]
#[command(
    name = "sluice-perf",
    version,
    about = "sluice's perf lab: traffic generation, sluice beside dpdk-testpmd, reports",
    long_about = "sluice's perf lab. `gen` writes the captures of a scenario; `run` measures \
`sluice run` beside `dpdk-testpmd` (5tswap and io) on identical DPDK virtual devices, scenario \
by scenario, and writes results.json, report.md and plots; `report` draws the report and the \
plots again from a results.json. `perf/run` builds and calls `run`: use it.",
    after_help = "Examples:\n  perf/run\n  perf/run gateway-64b-1k appliance-64b-1k\n  \
perf/run --compare HEAD~3\n  sluice-perf gen --scenario perf/scenarios/gateway-mix-1k.toml --out /tmp/caps\n  \
sluice-perf gen --flows 1000 --inner-size 64 --inner-size 1500 --ipv6-share 0.5 --geneve --out /tmp/caps\n  \
sluice-perf report perf/results/2026-11-29-lab/results.json"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the captures of a scenario (or of the traffic given by the options).
    ///
    /// endpoint.pcap is the endpoint traffic for the gateway's uplink, built frame by frame
    /// with sluice-wire. With --geneve, geneve.pcap is the GWLB GENEVE a gateway (sluice's
    /// pipeline, one target 10.0.1.10) makes of it: the appliance's input. With --returns,
    /// returns.pcap is what that appliance sends back: the gateway's return-path input,
    /// whose flow cookies a gateway of the same flow-table capacity recognises.
    Gen {
        /// Take the traffic from this scenario file (the options below override it).
        #[arg(long, value_name = "FILE")]
        scenario: Option<PathBuf>,
        /// Distinct flows.
        #[arg(long)]
        flows: Option<u64>,
        /// Inner IP packet size in bytes (repeat for a mix; packets take them in turn).
        #[arg(long = "inner-size", value_name = "BYTES")]
        inner_sizes: Vec<u16>,
        /// Share of flows that are IPv6 (0 to 1).
        #[arg(long)]
        ipv6_share: Option<f64>,
        /// Share of flows that are TCP (0 to 1).
        #[arg(long)]
        tcp_share: Option<f64>,
        /// Packets per flow in one pass (the first opens the flow).
        #[arg(long)]
        packets_per_flow: Option<u32>,
        /// Also write geneve.pcap.
        #[arg(long)]
        geneve: bool,
        /// Also write returns.pcap.
        #[arg(long)]
        returns: bool,
        /// The directory to write into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Measure scenarios: sluice beside dpdk-testpmd, alternating; write the results.
    ///
    /// Needs root (a network namespace for sluice's TAP interfaces), dpdk-testpmd and a
    /// release build of sluice; `perf/run` sees to all three. Without scenario names, every
    /// scenario of --scenarios-dir whose `default` is true runs. Writes results.json, report.md
    /// and the plots (SVG and PNG) into --out.
    Run {
        /// Scenario names (file stems in --scenarios-dir) or paths of scenario files.
        scenarios: Vec<String>,
        /// The directory of scenario files.
        #[arg(long, value_name = "DIR", default_value = "perf/scenarios")]
        scenarios_dir: PathBuf,
        /// Run every scenario of the directory, opt-in ones included.
        #[arg(long)]
        all: bool,
        /// The sluice binary under test.
        #[arg(long, value_name = "PATH", default_value = "target/release/sluice")]
        sluice: PathBuf,
        /// What the report calls it (its commit, and whether the tree had changes, are
        /// reported beside).
        #[arg(long, default_value = "work tree")]
        label: String,
        /// A second sluice binary, run in alternation with the first (A/B).
        #[arg(long, value_name = "PATH")]
        compare_sluice: Option<PathBuf>,
        /// What the report calls the second binary (the revision it was built from).
        #[arg(long, value_name = "REV", requires = "compare_sluice")]
        compare_label: Option<String>,
        /// The second binary's commit.
        #[arg(long, value_name = "HASH", requires = "compare_sluice")]
        compare_commit: Option<String>,
        /// Override every scenario's repetitions.
        #[arg(long)]
        repetitions: Option<u32>,
        /// Override every scenario's measured seconds per run.
        #[arg(long)]
        seconds: Option<u32>,
        /// Where results.json, report.md and the plots go. Default: perf/out/DATE.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Keep the work directory (captures, configurations, tool logs) and say where.
        #[arg(long)]
        keep_work: bool,
        /// List the scenarios that would run, with an estimate of the time, and stop.
        #[arg(long)]
        list: bool,
        /// The memory both tools run on: hugepages (mounted and free: scripts/setup
        /// --hugepages N), no-huge (4 KiB pages), or auto: hugepages when enough are free
        /// for every scenario, else no-huge.
        #[arg(long, value_enum, default_value_t = MemoryArg::Auto)]
        memory: MemoryArg,
    },
    /// Write report.md and the plots again from a results.json.
    Report {
        /// The results file.
        results: PathBuf,
        /// Where to write (default: beside the results file).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// `--memory`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MemoryArg {
    /// Hugepages if enough are free, else no-huge.
    Auto,
    /// 2 MiB hugepages.
    Hugepages,
    /// 4 KiB pages.
    NoHuge,
}

fn main() -> ExitCode {
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(
            signal,
            130,
            Arc::clone(&measure::INTERRUPTED),
        );
        let _ = signal_hook::flag::register(signal, Arc::clone(&measure::INTERRUPTED));
    }
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Gen {
            scenario,
            flows,
            inner_sizes,
            ipv6_share,
            tcp_share,
            packets_per_flow,
            geneve,
            returns,
            out,
        } => gen_command(
            scenario.as_deref(),
            TrafficOverrides {
                flows,
                inner_sizes,
                ipv6_share,
                tcp_share,
                packets_per_flow,
            },
            traffic::Kinds { geneve, returns },
            &out,
        ),
        Command::Run {
            scenarios,
            scenarios_dir,
            all,
            sluice,
            label,
            compare_sluice,
            compare_label,
            compare_commit,
            repetitions,
            seconds,
            out,
            keep_work,
            list,
            memory,
        } => run_command(RunArgs {
            names: scenarios,
            dir: scenarios_dir,
            all,
            sluice,
            label,
            compare: compare_sluice.map(|path| {
                (
                    path,
                    Build {
                        label: compare_label.unwrap_or_else(|| "compare".into()),
                        commit: compare_commit.unwrap_or_default(),
                        dirty: false,
                    },
                )
            }),
            repetitions,
            seconds,
            out,
            keep_work,
            list,
            memory: match memory {
                MemoryArg::Auto => None,
                MemoryArg::Hugepages => Some(lab::Memory::Hugepages),
                MemoryArg::NoHuge => Some(lab::Memory::NoHuge),
            },
        }),
        Command::Report { results, out } => report_command(&results, out.as_deref()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-perf: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Traffic options of `gen` that override a scenario's.
struct TrafficOverrides {
    flows: Option<u64>,
    inner_sizes: Vec<u16>,
    ipv6_share: Option<f64>,
    tcp_share: Option<f64>,
    packets_per_flow: Option<u32>,
}

fn gen_command(
    scenario: Option<&Path>,
    o: TrafficOverrides,
    kinds: traffic::Kinds,
    out: &Path,
) -> anyhow::Result<()> {
    let mut t = match scenario {
        Some(path) => Scenario::load(path)?.traffic,
        None => Traffic {
            flows: 1000,
            inner_sizes: vec![64],
            ipv6_share: 0.0,
            tcp_share: 0.0,
            packets_per_flow: 1,
        },
    };
    if let Some(v) = o.flows {
        t.flows = v;
    }
    if !o.inner_sizes.is_empty() {
        t.inner_sizes = o.inner_sizes;
    }
    if let Some(v) = o.ipv6_share {
        t.ipv6_share = v;
    }
    if let Some(v) = o.tcp_share {
        t.tcp_share = v;
    }
    if let Some(v) = o.packets_per_flow {
        t.packets_per_flow = v;
    }
    // Validate through a scenario, so the messages are the same as for files.
    let check = Scenario {
        name: "gen".into(),
        description: String::new(),
        role: scenario::Role::Gateway,
        default: true,
        tags: Vec::new(),
        traffic: t.clone(),
        run: scenario::RunSettings::default(),
        goals: Vec::new(),
    };
    check.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let captures = traffic::generate(&t, out, kinds)?;
    for c in [
        Some(&captures.endpoint),
        captures.geneve.as_ref(),
        captures.returns.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        eprintln!(
            "wrote {}: {} frames, {:.1} bytes on average, {} at most",
            c.path.display(),
            c.packets,
            c.mean_frame_bytes,
            c.max_frame_bytes
        );
    }
    Ok(())
}

/// `run`'s arguments.
struct RunArgs {
    names: Vec<String>,
    dir: PathBuf,
    all: bool,
    sluice: PathBuf,
    label: String,
    compare: Option<(PathBuf, Build)>,
    repetitions: Option<u32>,
    seconds: Option<u32>,
    out: Option<PathBuf>,
    keep_work: bool,
    list: bool,
    memory: Option<lab::Memory>,
}

/// The scenarios `run` was asked for.
fn select(args: &RunArgs) -> anyhow::Result<Vec<Scenario>> {
    let mut chosen = if args.names.is_empty() {
        scenario::load_dir(&args.dir)?
            .into_iter()
            .filter(|s| args.all || s.default)
            .collect()
    } else {
        let mut v = Vec::new();
        for name in &args.names {
            let as_path = Path::new(name);
            let path = if as_path.extension().is_some_and(|e| e == "toml") {
                as_path.to_owned()
            } else {
                args.dir.join(format!("{name}.toml"))
            };
            v.push(Scenario::load(&path)?);
        }
        v
    };
    if args.names.is_empty() {
        // The headline first: by role, then flows, size and burst (largest first).
        let rank = |r: scenario::Role| match r {
            scenario::Role::Gateway => 0,
            scenario::Role::GatewayReturn => 1,
            scenario::Role::Appliance => 2,
        };
        chosen.sort_by_key(|s| {
            (
                rank(s.role),
                s.traffic.flows,
                s.traffic.inner_sizes.iter().copied().max().unwrap_or(0),
                std::cmp::Reverse(s.run.burst),
                s.name.clone(),
            )
        });
    }
    for s in &mut chosen {
        if let Some(r) = args.repetitions {
            s.run.repetitions = r;
        }
        if let Some(sec) = args.seconds {
            s.run.seconds = sec;
        }
        s.validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", s.name))?;
    }
    if chosen.is_empty() {
        bail!("no scenario to run in {}", args.dir.display());
    }
    Ok(chosen)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

#[expect(clippy::print_stdout, reason = "the plan and the summary go to stdout")]
fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let scenarios = select(&args)?;
    let binaries = 1 + usize::from(args.compare.is_some());
    let estimate: f64 = scenarios
        .iter()
        .map(|s| s.estimated_seconds(binaries))
        .sum();
    if args.list {
        for s in &scenarios {
            println!(
                "{:<28} {:<15} {:>9} flows  {:>3} runs/tool  ~{:>4.0} s  {}",
                s.name,
                s.role.to_string(),
                s.traffic.flows,
                s.run.repetitions,
                s.estimated_seconds(binaries),
                s.description
            );
        }
        println!("about {:.1} minutes", estimate / 60.0);
        return Ok(());
    }
    if !is_root() {
        bail!("run needs root (sluice runs in a network namespace): use perf/run as root");
    }
    let sluice = std::fs::canonicalize(&args.sluice).with_context(|| {
        format!(
            "{}: no sluice binary (perf/run builds it)",
            args.sluice.display()
        )
    })?;
    let compare = match args.compare {
        Some((path, build)) => Some((
            std::fs::canonicalize(&path)
                .with_context(|| format!("{}: no such binary", path.display()))?,
            build,
        )),
        None => None,
    };
    let now = SystemTime::now();
    let stamp = machine::rfc3339(now).replace([':', '-'], "");
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("perf/out").join(stamp.trim_end_matches('Z')));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let work = std::env::temp_dir().join(format!("sluice-perf-{}", std::process::id()));
    eprintln!(
        "sluice-perf: {} scenarios, about {:.0} minutes; results into {}",
        scenarios.len(),
        estimate / 60.0,
        out.display()
    );
    let repo = Path::new(".");
    let results = runner::run(&runner::Options {
        sluice,
        build: machine::build_of_work_tree(repo, &args.label),
        compare,
        scenarios,
        work: work.clone(),
        keep_work: args.keep_work,
        memory: args.memory,
    })?;
    if args.keep_work {
        eprintln!(
            "sluice-perf: captures, configurations and logs kept in {}",
            work.display()
        );
    }
    write_outputs(&results, &out)?;
    print!("{}", summary_table(&results));
    println!("report: {}", out.join("report.md").display());
    Ok(())
}

/// Writes results.json, report.md and the plots into `out`.
fn write_outputs(results: &Results, out: &Path) -> anyhow::Result<()> {
    results.save(&out.join("results.json"))?;
    std::fs::write(out.join("report.md"), report::render(results))
        .with_context(|| format!("writing {}", out.join("report.md").display()))?;
    if let Err(e) = plots::draw(results, out) {
        eprintln!("sluice-perf: no plots: {e:#}");
    }
    Ok(())
}

/// A few lines for the terminal.
fn summary_table(r: &Results) -> String {
    let compare = r.compare.is_some();
    let mut s = format!(
        "{:<28} {:>10} {:>10} {:>10} {:>8} {:>10}{}\n",
        "scenario",
        "sluice",
        "5tswap",
        "io",
        "ratio",
        "p99 burst",
        if compare { "   compared    A/B" } else { "" }
    );
    for sc in &r.scenarios {
        let f = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}"));
        let p99 = sc
            .tool(Tool::Sluice)
            .and_then(|t| t.latency.as_ref())
            .map_or("–".to_owned(), |l| {
                format!("{:.1} µs", l.burst_ns.p99 / 1000.0)
            });
        s.push_str(&format!(
            "{:<28} {:>10} {:>10} {:>10} {:>8} {:>10}",
            sc.name,
            f(sc.mpps(Tool::Sluice)),
            f(sc.mpps(Tool::Testpmd5tswap)),
            f(sc.mpps(Tool::TestpmdIo)),
            f(sc.ratios.to_5tswap),
            p99
        ));
        if compare {
            s.push_str(&format!(
                " {:>10} {:>6}",
                f(sc.mpps(Tool::SluiceCompare)),
                sc.ratios
                    .to_compare
                    .map_or("–".to_owned(), |v| format!("{v:.3}"))
            ));
        }
        s.push('\n');
    }
    s
}

fn report_command(path: &Path, out: Option<&Path>) -> anyhow::Result<()> {
    let mut results = Results::load(path)?;
    runner::judge_goals(&mut results);
    let out = out
        .map(Path::to_owned)
        .or_else(|| path.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out)?;
    write_outputs(&results, &out)?;
    eprintln!("sluice-perf: wrote {}", out.join("report.md").display());
    Ok(())
}
