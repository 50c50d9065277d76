//! Running the tools and reading their rates: one `sluice run` or one `dpdk-testpmd` at a
//! time, each bounded in time, each leaving nothing behind (its EAL runtime directory is
//! removed after it; `--no-huge` leaves no hugepage files).
//!
//! - **sluice** runs in a network namespace of its own (it creates kernel TAP interfaces)
//!   with `--duration`, `--status-interval 1` and `--summary-json`. Its rate is the mean of
//!   the per-second status lines after the warm-up; its counters and latency percentiles
//!   come from the summary.
//! - **testpmd** prints port statistics every second; its rate is the mean of the summed
//!   `Rx-pps` of every port over the blocks after the first (which is always zero) and the
//!   warm-up. It is killed once it has printed enough.
//!
//! Each tool's output goes to a log file beside the results, to be read when a run fails.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::results::{Latency, Percentiles, RunResult};
use crate::stats;

/// Where DPDK keeps each process's runtime files, by file prefix.
const DPDK_RUNTIME_DIR: &str = "/var/run/dpdk";

/// Set by SIGINT/SIGTERM (see `main`): stop the current run and clean up.
pub static INTERRUPTED: LazyLock<Arc<AtomicBool>> =
    LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// A network namespace, deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name`.
    ///
    /// # Errors
    ///
    /// When `ip netns add` fails (not root, or the name is taken).
    pub fn create(name: &str) -> anyhow::Result<Netns> {
        let status = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .context("running `ip netns add` (iproute2)")?;
        if !status.success() {
            bail!("`ip netns add {name}` failed: perf/run needs root");
        }
        Ok(Netns {
            name: name.to_owned(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Removes the EAL runtime directory of `prefix`.
pub fn remove_runtime_dir(prefix: &str) {
    let _ = std::fs::remove_dir_all(Path::new(DPDK_RUNTIME_DIR).join(prefix));
}

/// A child's stdout, line by line, through a thread (so reading can time out); every line is
/// also written to the log.
struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    fn new(child: &mut Child, mut log: File) -> anyhow::Result<Lines> {
        let stdout = child.stdout.take().context("the child's stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Lines { rx })
    }

    /// The next line; `Ok(None)` at the end of the output; an error past `deadline` or on an
    /// interrupt.
    fn next(&self, deadline: Instant) -> anyhow::Result<Option<String>> {
        loop {
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("timed out");
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => return Ok(Some(line)),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}

/// Waits for a child to exit, killing it after `grace`.
fn reap(child: &mut Child, grace: Duration) -> Option<std::process::ExitStatus> {
    let until = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

/// The last lines of a log, for error messages.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// One `sluice run`.
#[derive(Debug, Clone)]
pub struct SluiceRun<'a> {
    /// The binary.
    pub binary: &'a Path,
    /// Its configuration file.
    pub config: &'a Path,
    /// The namespace it runs in.
    pub netns: &'a str,
    /// Seconds not measured.
    pub warmup: u32,
    /// Seconds measured.
    pub seconds: u32,
    /// Where it writes its summary, when the binary has `--summary-json`.
    pub summary_json: Option<PathBuf>,
    /// Its output.
    pub log: PathBuf,
    /// Seconds it may take to start (EAL, the pool, loading the capture).
    pub startup_allowance: u64,
}

/// The part of `sluice run --summary-json` this tool reads.
#[derive(Debug, Deserialize)]
struct SummaryFile {
    rx_packets: u64,
    tx_packets: u64,
    drops: u64,
    #[serde(default)]
    drops_by_reason: BTreeMap<String, u64>,
    tsc_hz: u64,
    burst_latency: Option<HistogramFile>,
    packet_latency: Option<HistogramFile>,
}

#[derive(Debug, Deserialize)]
struct HistogramFile {
    cycles: Percentiles,
    ns: Percentiles,
    #[serde(default)]
    distribution: Vec<(f64, u64)>,
}

/// What a sluice run measured, and the TSC frequency it reported.
#[derive(Debug, Clone)]
pub struct SluiceMeasurement {
    /// The run.
    pub run: RunResult,
    /// The TSC frequency, from the summary.
    pub tsc_hz: Option<u64>,
}

/// The rate of one sluice status line ("status: rx 14.18M pps, ...") in packets a second.
pub fn status_rate(line: &str) -> Option<f64> {
    let rest = line.strip_prefix("status: rx ")?;
    let (rate, _) = rest.split_once(" pps")?;
    stats::parse_rate(rate)
}

/// Runs sluice once.
///
/// # Errors
///
/// When it fails to start, prints too few status lines, or is interrupted; the message holds
/// the end of its output.
pub fn run_sluice(r: &SluiceRun<'_>) -> anyhow::Result<SluiceMeasurement> {
    // A status line every second; the stop comes just after the last one wanted.
    let duration = f64::from(r.warmup + r.seconds) + 0.3;
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", r.netns])
        .arg(r.binary)
        .args(["run", "--config"])
        .arg(r.config)
        .args([
            "--duration",
            &duration.to_string(),
            "--status-interval",
            "1",
        ])
        .arg("--no-health-checks");
    if let Some(path) = &r.summary_json {
        let _ = std::fs::remove_file(path);
        cmd.arg("--summary-json").arg(path);
    }
    let log = File::create(&r.log).with_context(|| format!("creating {}", r.log.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone()?))
        .spawn()
        .context("starting sluice run")?;
    let lines = Lines::new(&mut child, log)?;
    let deadline = Instant::now()
        + Duration::from_secs(r.startup_allowance)
        + Duration::from_secs_f64(duration + 30.0);
    let mut rates = Vec::new();
    let outcome = loop {
        match lines.next(deadline) {
            Ok(Some(line)) => {
                if let Some(rate) = status_rate(&line) {
                    rates.push(rate);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    if let Err(e) = outcome {
        let _ = child.kill();
        let _ = child.wait();
        bail!("sluice run: {e}; its output ends:\n{}", tail(&r.log, 15));
    }
    let status = reap(&mut child, Duration::from_secs(30));
    if !status.is_some_and(|s| s.success()) {
        bail!(
            "sluice run failed ({status:?}); its output ends:\n{}",
            tail(&r.log, 15)
        );
    }
    let warmup = r.warmup as usize;
    let wanted = r.seconds as usize;
    if rates.len() < warmup + wanted {
        bail!(
            "sluice run printed {} status lines, {} wanted; its output ends:\n{}",
            rates.len(),
            warmup + wanted,
            tail(&r.log, 15)
        );
    }
    let samples: Vec<f64> = rates[warmup..warmup + wanted]
        .iter()
        .map(|pps| pps / 1e6)
        .collect();
    let mut run = RunResult {
        mpps: stats::mean(&samples).unwrap_or(0.0),
        samples_mpps: samples,
        ..RunResult::default()
    };
    let mut tsc_hz = None;
    if let Some(path) = &r.summary_json {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("sluice wrote no summary to {}", path.display()))?;
        let summary: SummaryFile = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a sluice run summary", path.display()))?;
        run.rx_packets = Some(summary.rx_packets);
        run.tx_packets = Some(summary.tx_packets);
        run.drops = Some(summary.drops);
        run.drops_by_reason = summary.drops_by_reason;
        tsc_hz = Some(summary.tsc_hz);
        if let (Some(burst), Some(packet)) = (summary.burst_latency, summary.packet_latency) {
            let ns_per_cycle = 1e9 / summary.tsc_hz.max(1) as f64;
            run.latency = Some(Latency {
                burst_ns: burst.ns,
                packet_ns: packet.ns,
                burst_cycles: burst.cycles,
                packet_cycles: packet.cycles,
                burst_distribution_ns: burst
                    .distribution
                    .iter()
                    .map(|&(q, c)| (q, c as f64 * ns_per_cycle))
                    .collect(),
            });
        }
    }
    Ok(SluiceMeasurement { run, tsc_hz })
}

/// Whether a sluice binary has `--summary-json` (older revisions do not).
pub fn has_summary_json(binary: &Path) -> bool {
    Command::new(binary)
        .args(["run", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--summary-json"))
}

/// One `dpdk-testpmd` run.
#[derive(Debug, Clone)]
pub struct TestpmdRun<'a> {
    /// Its arguments.
    pub args: &'a [String],
    /// Ports it forwards between (one `Rx-pps` line each per block).
    pub ports: usize,
    /// Seconds not measured (after the first block).
    pub warmup: u32,
    /// Seconds measured.
    pub seconds: u32,
    /// Its output.
    pub log: PathBuf,
    /// Seconds it may take to start.
    pub startup_allowance: u64,
}

/// The `Rx-pps` value of a testpmd statistics line.
pub fn rx_pps(line: &str) -> Option<f64> {
    let rest = line.trim_start().strip_prefix("Rx-pps:")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Runs testpmd once.
///
/// # Errors
///
/// When it fails to start, stops printing statistics, or is interrupted.
pub fn run_testpmd(r: &TestpmdRun<'_>) -> anyhow::Result<RunResult> {
    let log = File::create(&r.log).with_context(|| format!("creating {}", r.log.display()))?;
    let mut child = Command::new("dpdk-testpmd")
        .args(r.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log.try_clone()?))
        .spawn()
        .context("starting dpdk-testpmd (package dpdk: scripts/setup)")?;
    let lines = Lines::new(&mut child, log)?;
    let blocks_wanted = 1 + (r.warmup + r.seconds) as usize;
    let deadline = Instant::now()
        + Duration::from_secs(r.startup_allowance + u64::from(r.warmup + r.seconds) + 30);
    let mut blocks: Vec<f64> = Vec::new();
    let (mut in_block, mut sum) = (0, 0.0);
    let outcome = loop {
        match lines.next(deadline) {
            Ok(Some(line)) => {
                if let Some(pps) = rx_pps(&line) {
                    sum += pps;
                    in_block += 1;
                    if in_block == r.ports {
                        blocks.push(sum);
                        (in_block, sum) = (0, 0.0);
                        if blocks.len() >= blocks_wanted {
                            break Ok(());
                        }
                    }
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    // testpmd notices SIGINT only at its next statistics period, a second later; it holds
    // nothing a kill leaves behind (no hugepage files, and the runtime directory goes after
    // it), so it is killed.
    let _ = child.kill();
    let status = reap(&mut child, Duration::from_secs(15));
    if let Err(e) = outcome {
        bail!("dpdk-testpmd: {e}; its output ends:\n{}", tail(&r.log, 15));
    }
    if blocks.len() < blocks_wanted {
        bail!(
            "dpdk-testpmd printed {} statistics blocks, {blocks_wanted} wanted ({status:?}); its output ends:\n{}",
            blocks.len(),
            tail(&r.log, 15)
        );
    }
    let samples: Vec<f64> = blocks[1 + r.warmup as usize..]
        .iter()
        .map(|pps| pps / 1e6)
        .collect();
    Ok(RunResult {
        mpps: stats::mean(&samples).unwrap_or(0.0),
        samples_mpps: samples,
        ..RunResult::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse() {
        let line = "status: rx 14.18M pps, tx 14.18M pps, drops 0 (total 0), flows 1024, rx 1 pkt, tx 1 pkt";
        assert!((status_rate(line).unwrap() - 14.18e6).abs() < 1e-3);
        assert_eq!(status_rate("status: rx 950 pps, tx 0 pps"), Some(950.0));
        assert_eq!(status_rate("sluice stopped after 3.5 s"), None);
    }

    #[test]
    fn testpmd_lines_parse() {
        assert_eq!(
            rx_pps("  Rx-pps:     26343318          Rx-bps:  12644792712"),
            Some(26_343_318.0)
        );
        assert_eq!(rx_pps("  Tx-pps:     26343603          Tx-bps:  0"), None);
        assert_eq!(rx_pps("  RX-packets: 250016"), None);
    }
}
