//! `sluice`: the command-line entry point of the sluice Gateway Load Balancer data plane.
//!
//! Each subcommand is a thin shell over the library: parse arguments, call, print, and exit
//! with a code that means something (see [`ExitCode`] values below and `sluice --help`).

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use sluice::{capture, decode, simulate};

/// Exit code for success.
const EXIT_OK: u8 = 0;
/// Exit code when the input (a config, a capture) is invalid or unreadable.
const EXIT_INVALID: u8 = 1;
/// Exit code for a bad command line (clap uses it too).
#[cfg(feature = "dpdk")]
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A Gateway Load Balancer data plane on DPDK",
    long_about = "sluice steers every IP flow from its endpoints through a fleet of inspection \
appliances over GENEVE, sticky per flow and health-checked, as AWS Gateway Load Balancer does \
(role = \"gateway\"), and plays the inspection appliance behind any GWLB, AWS's included \
(role = \"appliance\"). Both roles are configured in one TOML file; see config/examples/.",
    after_help = "Exit codes: 0 success, 1 invalid or unreadable input, 2 bad command line.\n\
The commands that talk to a running sluice (status, targets, register, deregister, endpoints, \
flows, stats, top, reload): 0 ok, 1 the server refused or failed the request, 2 bad command \
line, 3 cannot reach sluice, 4 authentication or authorization failed, 5 a response that is \
not sluice's API. They take the token from SLUICE_TOKEN or --token-file, never from the \
command line.\n\n\
Examples:\n  sluice run --config gateway.toml\n  sluice check-config config/examples/gateway.toml\n  \
sluice decode capture.pcap\n  sluice decode --output json capture.pcap | jq '.[0].gwlb'\n  \
sluice simulate --config config/examples/gateway.toml --in in.pcap --out out.pcap\n  \
SLUICE_TOKEN=$(cat token) sluice status\n  \
sluice targets --config /etc/sluice/gateway.toml --token-file token"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the data plane on DPDK: the configured role on the configured ports and cores.
    ///
    /// Starts DPDK's EAL (cores, devices and memory derived from [dataplane]), one
    /// poll-mode worker pinned to each worker core, and beside every port a kernel TAP
    /// interface of the port's name carrying its address (the exception path: ping, health
    /// checks and management use ordinary kernel sockets). Next hops are resolved by ARP.
    ///
    /// The gateway health-checks every registered target from the address of the port that
    /// faces them ([target_group.health_check]; GWLB's defaults when absent) and sends new
    /// flows only to healthy ones; each change of a target's state is printed as one line
    /// ("target 10.0.1.11: healthy -> unhealthy (Target.Timeout)"). The appliance answers
    /// health checks on [appliance.health_check]'s port of every port's address: HTTP 200
    /// while its workers run and links are up, 503 otherwise; "GET /?detail" adds counters.
    ///
    /// SIGINT or SIGTERM stops cleanly (receive stops, transmit drains, final counters are
    /// printed); a second one ends the process at once. SIGHUP (or `sluice reload`) reloads
    /// the configuration: a bad file is reported and changes nothing; targets removed from it
    /// drain for `deregistration_delay.timeout_seconds`; [dataplane] changes wait for a
    /// restart. An appliance drains on SIGUSR1 (health checks get 503, traffic still flows)
    /// until SIGUSR2.
    ///
    /// The management API listens on management.socket (and management.tls when set); the
    /// commands status, targets, register, deregister, endpoints, flows, stats, top and
    /// reload are its client. What it changes is kept in management.state_file, beside the
    /// configuration, and survives a restart. With management.metrics_listen, Prometheus
    /// metrics are served there.
    ///
    /// Exit 0 after a clean stop, 1 when the configuration is invalid or the start fails
    /// (the message says why, with a hint).
    #[cfg(feature = "dpdk")]
    #[command(
        after_long_help = "Examples:\n  sluice run --config gateway.toml --dry-run\n  \
ip netns exec lab sluice run --config appliance.toml --status-interval 5\n  \
sluice run --config perf.toml --duration 10 --summary-json summary.json"
    )]
    Run {
        /// The TOML configuration (gateway or appliance role).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print the plan (cores, queues, ports, kernel interfaces, memory, EAL arguments)
        /// and exit without starting anything.
        #[arg(long)]
        dry_run: bool,
        /// Stop by itself after this many seconds (as on SIGTERM).
        #[arg(long, value_name = "SECONDS")]
        duration: Option<f64>,
        /// Print a status line (rates, drops, flows) every SECONDS. Default: every second
        /// when stdout is a terminal (updated in place), else never.
        #[arg(long, value_name = "SECONDS")]
        status_interval: Option<f64>,
        /// Gateway: do not health-check the targets; every registered target counts as
        /// healthy, as in `sluice simulate`. For replays and tests whose targets cannot
        /// answer; without it targets are `initial` until their checks pass.
        #[arg(long)]
        no_health_checks: bool,
        /// At the stop, also write the final summary as one JSON object to FILE, for
        /// scripts (perf/run reads it): "schema" ("sluice-run-summary/v1"),
        /// "elapsed_seconds", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_mpps"
        /// (the average over the run), "drops", "drops_by_reason" (name: count),
        /// "flows" (live, created, expired), "tsc_hz", and "burst_latency" and
        /// "packet_latency" (null before the first burst): "count", "cycles" and "ns" (each
        /// p50, p90, p99, p99_9, max, mean), "distribution" ([quantile, cycles] pairs). Burst
        /// latency is RX to the end of TX of a burst; packet latency is that divided by the
        /// burst's packets.
        #[arg(long, value_name = "FILE")]
        summary_json: Option<PathBuf>,
    },
    /// Validate a configuration file and print a one-line summary.
    ///
    /// Every problem in the file is reported at once, each as FILE:LINE:COLUMN: KEY: MESSAGE,
    /// naming the bad value and what is allowed. Exit 0 when the file is valid, 1 when not.
    #[command(name = "check-config")]
    CheckConfig {
        /// The TOML configuration file (gateway or appliance role).
        file: PathBuf,
        /// `text` prints the summary; `json` prints the effective configuration, defaults
        /// filled in, or the errors as a JSON array.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Decode a pcap or pcapng capture layer by layer, knowing GWLB's GENEVE options.
    ///
    /// For every packet: Ethernet, VLAN, ARP, IPv4 (options, fragments), IPv6 (extension
    /// headers), UDP, TCP (flags, MSS), ICMPv4/ICMPv6 (echo, errors and the flow they quote),
    /// GENEVE with every option, and the AWS GWLB options (endpoint id as vpce-..., attachment
    /// id, flow cookie) with the inner packet and its flow. Checksums are verified. A malformed
    /// packet is reported with the reason and the byte offset of the layer that fails; the
    /// packets after it are still decoded. Exit 0 when the capture was read (even if some
    /// packets are malformed: they are reported), 1 when it could not be read.
    Decode {
        /// The capture file (pcap or pcapng; Ethernet or raw IP link type).
        file: PathBuf,
        /// `text` for people, `json` (an array, one object per packet) for scripts.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Run the configured pipeline over a capture, without DPDK, and write what it transmits.
    ///
    /// The configuration is compiled into the snapshot the data plane runs, and every packet of
    /// IN.pcap goes through the role's pipeline (gateway or appliance), one at a time and
    /// deterministically; every frame it transmits is written to
    /// OUT.pcap (Ethernet, the input packet's timestamp). Then a summary: packets in,
    /// transmitted and handed to the kernel per port, drops by reason, TCP resets, flows
    /// created, expired, rebalanced and live, and how flows and packets spread over the
    /// targets (`--output json` adds one record per packet: arrival port, verdict, reason,
    /// target, output frame).
    ///
    /// What a capture cannot say is decided by fixed rules:
    ///
    /// - Time: a packet's timestamp is the engine's clock. Idle flows are swept as it
    ///   advances (the whole table once per second of capture time), so a capture longer
    ///   than an idle timeout shows expiry.
    ///
    /// - Arrival port: --port NAME if given; else the port whose address is the frame's IPv4
    ///   destination or ARP target (GENEVE returns from targets, health checks); else the
    ///   port of an endpoint attached with the frame's VLAN (or untagged); else the port
    ///   whose MAC is the frame's destination; else the first port. Raw-IP captures get an
    ///   Ethernet header to that port's MAC.
    ///
    /// - MACs: a port without `mac` and every neighbour without a static `neighbor` entry
    ///   get 02:00:a:b:c:d, derived from the IPv4 address a.b.c.d.
    ///
    /// - Health: every target is healthy except those named by --unhealthy.
    ///
    /// Exit 0 when the capture was processed, 1 when the configuration or the capture is
    /// invalid or unreadable (configuration errors are printed as check-config prints them)
    /// or OUT.pcap cannot be written.
    #[command(
        after_long_help = "Example: feed a capture from the consumer side through the example gateway, \
then look at what went to the appliances:\n  \
sluice simulate --config config/examples/gateway.toml --in client.pcap --out geneve.pcap\n  \
sluice decode geneve.pcap"
    )]
    Simulate {
        /// The TOML configuration (gateway or appliance role).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The input capture (pcap or pcapng; Ethernet or raw IP).
        #[arg(long = "in", value_name = "IN.pcap")]
        input: PathBuf,
        /// Where every transmitted frame is written (pcap, Ethernet, nanosecond timestamps).
        #[arg(long = "out", value_name = "OUT.pcap")]
        out: PathBuf,
        /// Every frame arrives on this port (by name), instead of the arrival-port rule.
        #[arg(long, value_name = "NAME")]
        port: Option<String>,
        /// This target is unhealthy (repeatable); all other targets are healthy.
        #[arg(long, value_name = "IP")]
        unhealthy: Vec<Ipv4Addr>,
        /// `text` for people, `json` for scripts.
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// The commands that talk to a running sluice through its management API.
    #[command(flatten)]
    Api(sluice::cli::ApiCommand),
}

/// How a subcommand prints its result.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Lines for people.
    Text,
    /// JSON for scripts.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        #[cfg(feature = "dpdk")]
        Command::Run {
            config,
            dry_run,
            duration,
            status_interval,
            no_health_checks,
            summary_json,
        } => run_dataplane(
            config,
            dry_run,
            duration,
            status_interval,
            no_health_checks,
            summary_json,
        ),
        Command::CheckConfig { file, output } => check_config(&file, output),
        Command::Decode { file, output } => decode_capture(&file, output),
        Command::Simulate {
            config,
            input,
            out,
            port,
            unhealthy,
            output,
        } => simulate_capture(
            &config,
            &input,
            &out,
            &simulate::Options { port, unhealthy },
            output,
        ),
        Command::Api(command) => sluice::cli::run(&command),
    };
    ExitCode::from(code)
}

/// `sluice run`.
#[cfg(feature = "dpdk")]
fn run_dataplane(
    config: PathBuf,
    dry_run: bool,
    duration: Option<f64>,
    status_interval: Option<f64>,
    no_health_checks: bool,
    summary_json: Option<PathBuf>,
) -> u8 {
    let seconds = |s: Option<f64>, what: &str| -> Result<Option<std::time::Duration>, u8> {
        match s {
            None => Ok(None),
            Some(v) if v.is_finite() && v > 0.0 && v < 1e9 => {
                Ok(Some(std::time::Duration::from_secs_f64(v)))
            }
            Some(v) => {
                eprintln!("sluice run: --{what} must be a positive number of seconds, not {v}");
                Err(EXIT_USAGE)
            }
        }
    };
    let (duration, status_interval) = match (
        seconds(duration, "duration"),
        seconds(status_interval, "status-interval"),
    ) {
        (Ok(d), Ok(s)) => (d, s),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let options = sluice::run::RunOptions {
        config,
        dry_run,
        duration,
        status_interval,
        no_health_checks,
        summary_json,
    };
    match sluice::run::run(&options) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("sluice run: {e}");
            EXIT_INVALID
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
fn check_config(file: &Path, output: Output) -> u8 {
    match sluice_config::load(file) {
        Ok(config) => {
            match output {
                Output::Text => println!("{}: ok: {}", file.display(), config.summary()),
                Output::Json => println!("{}", to_json(&config)),
            }
            EXIT_OK
        }
        Err(diagnostics) => {
            print_diagnostics(file, &diagnostics, output);
            EXIT_INVALID
        }
    }
}

/// Prints a configuration's errors: as lines on stderr with a count, or as a JSON array on
/// stdout.
#[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
fn print_diagnostics(file: &Path, diagnostics: &sluice_config::Diagnostics, output: Output) {
    match output {
        Output::Text => {
            eprintln!("{diagnostics}");
            eprintln!(
                "{}: {} error{}",
                file.display(),
                diagnostics.len(),
                if diagnostics.len() == 1 { "" } else { "s" }
            );
        }
        Output::Json => {
            let errors: Vec<_> = diagnostics
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "file": d.file, "line": d.line, "column": d.column,
                        "key": d.key, "message": d.message,
                    })
                })
                .collect();
            println!("{}", to_json(&errors));
        }
    }
}

#[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
fn simulate_capture(
    config_file: &Path,
    input: &Path,
    out: &Path,
    options: &simulate::Options,
    output: Output,
) -> u8 {
    let config = match sluice_config::load(config_file) {
        Ok(config) => config,
        Err(diagnostics) => {
            print_diagnostics(config_file, &diagnostics, output);
            return EXIT_INVALID;
        }
    };
    let (packets, damage) = match capture::read(input) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("sluice simulate: {e}");
            return EXIT_INVALID;
        }
    };
    let simulation = match simulate::run(&config, &packets, options) {
        Ok(simulation) => simulation,
        Err(e) => {
            eprintln!("sluice simulate: {}: {e}", config_file.display());
            return EXIT_INVALID;
        }
    };
    if let Err(e) = simulate::write_pcap(out, &simulation.frames) {
        eprintln!("sluice simulate: {e}");
        return EXIT_INVALID;
    }
    match output {
        Output::Text => {
            print!("{}", simulate::render_text(&simulation.summary));
            println!(
                "wrote {} frames to {}",
                simulation.frames.len(),
                out.display()
            );
        }
        Output::Json => println!("{}", to_json(&simulation.summary)),
    }
    if let Some(e) = damage {
        eprintln!("sluice simulate: {e}");
        return EXIT_INVALID;
    }
    EXIT_OK
}

fn decode_capture(file: &std::path::Path, output: Output) -> u8 {
    let (packets, damage) = match capture::read(file) {
        Ok(read) => read,
        Err(e) => {
            eprintln!("sluice decode: {e}");
            return EXIT_INVALID;
        }
    };
    let decoded: Vec<_> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| decode::decode_packet(i + 1, p))
        .collect();
    match output {
        Output::Text => {
            let mut out = String::new();
            for d in &decoded {
                decode::render_text(d, &mut out);
            }
            // A reader that went away (`sluice decode x.pcap | head`) is not an error.
            let _ = writeln!(
                std::io::stdout().lock(),
                "{out}{}",
                decode::summary(&decoded)
            );
        }
        Output::Json => {
            let _ = writeln!(std::io::stdout().lock(), "{}", to_json(&decoded));
        }
    }
    if let Some(e) = damage {
        eprintln!("sluice decode: {e}");
        return EXIT_INVALID;
    }
    EXIT_OK
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Serialising these types cannot fail: they hold no maps with non-string keys.
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
