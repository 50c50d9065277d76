//! The `sluice` commands that talk to a running instance: clients of the management API
//! ([`crate::api`]), one `POST /v1/<Action>` per call with the principal's bearer token.
//!
//! `status`, `targets`, `register`, `deregister`, `endpoints`, `flows`, `stats`, `top` and
//! `reload`. Each prints text for people or, with `--output json`, the API's `result`
//! object as it came (`status` joins two results; `top` prints one object per view).
//!
//! # Reaching sluice
//!
//! The Unix socket by default: `--socket PATH`, else `management.socket` of `--config
//! FILE`, else `/run/sluice/sluice.sock`. Or the TLS listener (`management.tls`) with
//! `--endpoint-url https://HOST:PORT --ca FILE` (builds with the `dpdk` feature, which
//! brings rustls). The token comes from `--token-file FILE` or the `SLUICE_TOKEN`
//! environment variable; there is no `--token`, because arguments show in `ps` to every
//! user of the machine.
//!
//! # Exit codes
//!
//! | Code | Meaning |
//! |---|---|
//! | 0 | the request succeeded |
//! | 1 | the server refused or failed the request (any 4xx but 401/403, any 5xx), or some endpoints of `endpoints accept/reject` were not changed |
//! | 2 | bad command line (clap's), or a file it names cannot be read |
//! | 3 | cannot reach sluice: no socket, connection refused, timeout, TLS failure |
//! | 4 | authentication or authorization failed: no token, or the server said 401/403 |
//! | 5 | a bad response: not HTTP, not JSON, not the API's protocol |
//!
//! Every error prints the server's code and message and a hint on what to do.

mod client;
mod render;
#[cfg(feature = "dpdk")]
mod tls;
mod top;

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};

pub use client::{CallError, Client, MAX_RESPONSE, Transport};

/// Exit code: the request succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the server refused or failed the request (4xx but 401/403, 5xx).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: bad command line, or a file it names cannot be read.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: sluice cannot be reached (no socket, refused, timeout, TLS failure).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: authentication or authorization failed (no token, 401, 403).
pub const EXIT_AUTH: u8 = 4;
/// Exit code: the answer is not the API's protocol.
pub const EXIT_BAD_RESPONSE: u8 = 5;

/// The socket used when neither `--socket` nor `--config` names one.
pub const DEFAULT_SOCKET: &str = "/run/sluice/sluice.sock";
/// The environment variable holding the bearer token.
pub const TOKEN_ENV: &str = "SLUICE_TOKEN";

/// The exit codes of the API commands, for their `--help` (a macro, so that `concat!` can
/// join it to literals).
macro_rules! exit_codes {
    () => {
        "\n\nExit codes: 0 ok; 1 the server refused or failed the request; 2 bad command \
         line; 3 cannot reach sluice; 4 authentication or authorization failed (token, access \
         policy); 5 a response that is not sluice's API."
    };
}

/// The API commands, flattened into `sluice`'s subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ApiCommand {
    /// How a running sluice is doing: traffic, flows, drops, targets and latency at a glance.
    ///
    /// Calls DescribeMetrics and, for the gateway, DescribeTargetHealth, and lists the
    /// targets that are not healthy. `--output json` prints {"metrics": …, "targets": …}
    /// (targets null for the appliance).
    #[command(after_long_help = concat!("Examples:\n  \
SLUICE_TOKEN=$(cat ~/.sluice-token) sluice status\n  \
sluice status --config /etc/sluice/gateway.toml --token-file ~/.sluice-token\n  \
sluice status --endpoint-url https://gw1.example.net:8443 --ca ca.pem --output json", exit_codes!()))]
    Status {
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The registered targets and their health (DescribeTargetHealth).
    ///
    /// One row per target: address, zone, state (initial, healthy, unhealthy, unused,
    /// draining, unavailable), the reason code and description of a state other than
    /// healthy, and the seconds a draining target has left.
    #[command(after_long_help = concat!("Examples:\n  sluice targets\n  \
sluice targets --output json | jq -r '.targets[] | select(.state != \"healthy\") | .ip'", exit_codes!()))]
    Targets {
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Register targets with the target group (RegisterTargets).
    ///
    /// New targets start `initial` and take flows once their health checks pass. The change
    /// persists across restarts (management.state_file).
    #[command(after_long_help = concat!("Examples:\n  \
sluice register --target 10.0.1.13,use1-az1\n  \
sluice register --target 10.0.1.13 --target 10.0.2.13,use1-az2", exit_codes!()))]
    Register {
        /// A target: its IPv4 address and, after a comma, its zone (without one, sluice's
        /// default zone applies). Repeatable.
        #[arg(long = "target", value_name = "IP[,ZONE]", required = true, value_parser = parse_target)]
        targets: Vec<(Ipv4Addr, Option<String>)>,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Deregister targets from the target group (DeregisterTargets).
    ///
    /// A deregistered target takes no new flows and drains for
    /// deregistration_delay.timeout_seconds; its existing flows go on until then.
    #[command(after_long_help = concat!("Example:\n  sluice deregister --target 10.0.1.13", exit_codes!()))]
    Deregister {
        /// A target's IPv4 address. Repeatable.
        #[arg(long = "target", value_name = "IP", required = true)]
        targets: Vec<Ipv4Addr>,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The endpoint connections of the endpoint service: list, accept or reject them.
    ///
    /// As with PrivateLink, an endpoint's traffic flows only once its connection is accepted
    /// (`available`); pending and rejected endpoints are dropped. Without an action, lists.
    #[command(after_long_help = concat!("Examples:\n  sluice endpoints\n  \
sluice endpoints accept vpce-0123456789abcdef0\n  \
sluice endpoints reject vpce-0123456789abcdef1 --output json", exit_codes!()))]
    Endpoints {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<EndpointsAction>,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// The flows in the flow table, filtered (DescribeFlows).
    ///
    /// Filters combine (all must match). Flows are symmetric (a flow and its replies are one
    /// flow), so --source and --destination match its two sides A and B in either order. At
    /// most --limit flows are shown; the line after the table says how many were scanned and
    /// whether more matched.
    #[command(after_long_help = concat!("Examples:\n  sluice flows --limit 20\n  \
sluice flows --source 192.0.2.0/24 --protocol tcp --port 443\n  \
sluice flows --target 10.0.1.11 --output json | jq '.flows | length'", exit_codes!()))]
    Flows {
        /// Flows with one side in CIDR (or at IP).
        #[arg(long, value_name = "CIDR|IP", value_parser = parse_prefix)]
        source: Option<String>,
        /// Flows whose other side is in CIDR (or at IP).
        #[arg(long, value_name = "CIDR|IP", value_parser = parse_prefix)]
        destination: Option<String>,
        /// Flows of this IP protocol: tcp, udp, icmp, icmpv6 or a number 0-255 (sent as the
        /// number).
        #[arg(long, value_name = "tcp|udp|icmp|N", value_parser = parse_protocol)]
        protocol: Option<u8>,
        /// Flows with this port on either side.
        #[arg(long, value_name = "N")]
        port: Option<u16>,
        /// Flows sent to this target.
        #[arg(long, value_name = "IP")]
        target: Option<Ipv4Addr>,
        /// Flows from this endpoint.
        #[arg(long, value_name = "vpce-…", value_parser = parse_endpoint_id)]
        endpoint: Option<String>,
        /// Show at most N flows (the server's default when absent).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        limit: Option<u32>,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Counters since the start: packets, bytes, flows, drops by reason, targets, policy.
    ///
    /// With --latency also the per-packet and per-burst latency percentiles (p50, p90,
    /// p99, p99.9, max) of the workers' merged HdrHistograms. From DescribeMetrics.
    #[command(after_long_help = concat!("Examples:\n  sluice stats\n  sluice stats --latency\n  \
sluice stats --output json | jq .drops", exit_codes!()))]
    Stats {
        /// Also print the latency percentiles.
        #[arg(long)]
        latency: bool,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// A live per-second view: rates from successive DescribeMetrics.
    ///
    /// On a terminal the view is redrawn in place; otherwise (a pipe, a file) one line is
    /// printed per interval, and with --output json one JSON object per line. The first view
    /// comes one interval after the start. Runs until Ctrl-C, or for --count views.
    #[command(after_long_help = concat!("Examples:\n  sluice top\n  sluice top --interval 5\n  \
sluice top --count 10 --output json > rates.jsonl", exit_codes!()))]
    Top {
        /// Seconds between views (0.05 to 3600).
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        interval: f64,
        /// Stop after N views (default: run until interrupted).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        count: Option<u64>,
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
    /// Reload the configuration file (ReloadConfiguration), as SIGHUP does.
    ///
    /// The new file is validated first: when it is invalid, sluice keeps running on the old
    /// configuration and this command prints why (exit 1). Targets removed from it drain;
    /// changes to the dataplane section wait for a restart.
    #[command(after_long_help = concat!("Example:\n  sluice reload && sluice targets", exit_codes!()))]
    Reload {
        /// How to reach sluice, and the output format.
        #[command(flatten)]
        api: ApiOptions,
    },
}

/// `sluice endpoints` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum EndpointsAction {
    /// List the endpoint connections and their states (DescribeEndpointConnections).
    List,
    /// Accept endpoint connections: their traffic flows (AcceptEndpointConnections).
    Accept {
        /// Endpoint IDs (vpce-…).
        #[arg(required = true, value_name = "ID", value_parser = parse_endpoint_id)]
        ids: Vec<String>,
    },
    /// Reject endpoint connections: their traffic is dropped (RejectEndpointConnections).
    Reject {
        /// Endpoint IDs (vpce-…).
        #[arg(required = true, value_name = "ID", value_parser = parse_endpoint_id)]
        ids: Vec<String>,
    },
}

/// How an API command reaches sluice and prints its answer; every API command takes these.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Reaching sluice")]
pub struct ApiOptions {
    /// The management API's Unix socket. Default: management.socket of --config, else
    /// /run/sluice/sluice.sock.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,
    /// The configuration sluice runs with: its management.socket is the socket to use.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Reach the API's TLS listener (management.tls) instead of the socket:
    /// https://HOST:PORT. Needs --ca.
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint_url: Option<String>,
    /// The CA certificate(s), PEM, that signed management.tls.certificate.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca: Option<PathBuf>,
    /// Read the bearer token from FILE (surrounding whitespace ignored). Default: the
    /// SLUICE_TOKEN environment variable. There is no --token option on purpose: command
    /// lines show in `ps` to every user of the machine.
    #[arg(long, value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// `text` for people; `json` prints the API's result object as it came, for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
    /// Give up when sluice has not answered after SECONDS.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, global = true)]
    pub timeout: f64,
}

/// How an API command prints its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Lines and tables for people.
    Text,
    /// The API's result as JSON, for scripts.
    Json,
}

/// A failed command: what to print and the exit code.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
}

impl ApiCommand {
    /// The subcommand's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            ApiCommand::Status { .. } => "status",
            ApiCommand::Targets { .. } => "targets",
            ApiCommand::Register { .. } => "register",
            ApiCommand::Deregister { .. } => "deregister",
            ApiCommand::Endpoints { .. } => "endpoints",
            ApiCommand::Flows { .. } => "flows",
            ApiCommand::Stats { .. } => "stats",
            ApiCommand::Top { .. } => "top",
            ApiCommand::Reload { .. } => "reload",
        }
    }

    /// The options every API command has.
    pub fn options(&self) -> &ApiOptions {
        match self {
            ApiCommand::Status { api }
            | ApiCommand::Targets { api }
            | ApiCommand::Register { api, .. }
            | ApiCommand::Deregister { api, .. }
            | ApiCommand::Endpoints { api, .. }
            | ApiCommand::Flows { api, .. }
            | ApiCommand::Stats { api, .. }
            | ApiCommand::Top { api, .. }
            | ApiCommand::Reload { api } => api,
        }
    }
}

impl ApiOptions {
    /// Where to connect, from --endpoint-url/--ca, --socket, --config or the default.
    ///
    /// # Errors
    ///
    /// [`CallError::Usage`] when the options contradict each other or --config cannot be
    /// read.
    pub fn transport(&self) -> Result<Transport, CallError> {
        if let Some(url) = &self.endpoint_url {
            if self.socket.is_some() {
                return Err(CallError::Usage(
                    "--socket and --endpoint-url name two ways to reach sluice: give one".into(),
                ));
            }
            let (host, port) = parse_url(url)?;
            let Some(ca) = self.ca.clone() else {
                return Err(CallError::Usage(
                    "--endpoint-url needs --ca FILE: the CA certificate that signed \
                     management.tls.certificate"
                        .into(),
                ));
            };
            return Ok(Transport::Tls { host, port, ca });
        }
        if self.ca.is_some() {
            return Err(CallError::Usage(
                "--ca is for --endpoint-url; the Unix socket needs no certificate".into(),
            ));
        }
        if let Some(socket) = &self.socket {
            return Ok(Transport::Unix(socket.clone()));
        }
        if let Some(file) = &self.config {
            return match sluice_config::load(file) {
                Ok(config) => Ok(Transport::Unix(config.management.socket)),
                Err(diagnostics) => Err(CallError::Usage(format!(
                    "--config: {diagnostics}\n(`sluice check-config {}` lists every problem; \
                     or pass --socket PATH)",
                    file.display()
                ))),
            };
        }
        Ok(Transport::Unix(PathBuf::from(DEFAULT_SOCKET)))
    }

    /// The bearer token, from --token-file or `SLUICE_TOKEN`.
    ///
    /// # Errors
    ///
    /// [`CallError::Usage`] when --token-file cannot be read, [`CallError::Denied`] when
    /// there is no token at all.
    pub fn token(&self) -> Result<String, CallError> {
        if let Some(file) = &self.token_file {
            return std::fs::read_to_string(file)
                .map_err(|e| CallError::Usage(format!("--token-file {}: {e}", file.display())));
        }
        match std::env::var(TOKEN_ENV) {
            Ok(token) => Ok(token),
            Err(_) => Err(CallError::Denied {
                status: 0,
                code: "MissingToken".into(),
                message: format!("no token: {TOKEN_ENV} is not set and no --token-file given"),
            }),
        }
    }

    /// A client from these options.
    ///
    /// # Errors
    ///
    /// As [`ApiOptions::transport`] and [`ApiOptions::token`], and [`CallError::Usage`] for a
    /// bad --timeout.
    pub fn client(&self) -> Result<Client, CallError> {
        let timeout = seconds(self.timeout, "--timeout")?;
        let transport = self.transport()?;
        let token = self.token()?;
        Client::new(transport, &token, timeout)
    }
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }

    fn call(e: &CallError, action: &str) -> Self {
        let message = match e {
            CallError::Denied { status, .. } | CallError::Failed { status, .. } if *status != 0 => {
                format!("{action}: {e} (HTTP {status})")
            }
            _ => e.to_string(),
        };
        Self {
            code: e.exit_code(),
            message,
            hint: e.hint(action),
        }
    }
}

/// Runs an API command, printing to stdout (and errors to stderr), and returns its exit
/// code.
pub fn run(command: &ApiCommand) -> u8 {
    let mut stdout = std::io::stdout().lock();
    let terminal = std::io::stdout().is_terminal();
    match execute(command, &mut stdout, terminal) {
        Ok(code) => code,
        Err(f) => {
            let _ = stdout.flush();
            eprintln!("sluice {}: {}", command.name(), f.message);
            if let Some(hint) = f.hint {
                eprintln!("hint: {hint}");
            }
            f.code
        }
    }
}

/// Runs a command against the API; `terminal` says whether `out` is one (for `top`).
fn execute(command: &ApiCommand, out: &mut dyn Write, terminal: bool) -> Result<u8, Failure> {
    let options = command.options();
    let client = options.client().map_err(|e| Failure::call(&e, "-"))?;
    let json = options.output == Output::Json;
    let call = |action: &str, params: Value| {
        client
            .call(action, &params)
            .map_err(|e| Failure::call(&e, action))
    };
    let emit = |out: &mut dyn Write, text: &str| -> Result<(), Failure> {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| Failure::usage(format!("cannot write the output: {e}")))
    };
    let pretty = |v: &Value| format!("{v:#}\n");
    match command {
        ApiCommand::Status { .. } => {
            let metrics = call("DescribeMetrics", json!({}))?;
            let gateway = metrics.get("targets").is_some_and(|t| !t.is_null());
            let targets = if gateway {
                Some(call("DescribeTargetHealth", json!({}))?)
            } else {
                None
            };
            if json {
                emit(
                    out,
                    &pretty(&json!({"metrics": metrics, "targets": targets})),
                )?;
            } else {
                emit(out, &render::status(&metrics, targets.as_ref()))?;
            }
        }
        ApiCommand::Targets { .. } => {
            let r = call("DescribeTargetHealth", json!({}))?;
            emit(
                out,
                &if json {
                    pretty(&r)
                } else {
                    render::targets(&r)
                },
            )?;
        }
        ApiCommand::Register { targets, .. } => {
            let list: Vec<Value> = targets
                .iter()
                .map(|(ip, zone)| match zone {
                    Some(zone) => json!({"ip": ip.to_string(), "zone": zone}),
                    None => json!({"ip": ip.to_string()}),
                })
                .collect();
            let r = call("RegisterTargets", json!({ "targets": list }))?;
            emit(
                out,
                &if json {
                    pretty(&r)
                } else {
                    render::changed_targets(&r, "registered")
                },
            )?;
        }
        ApiCommand::Deregister { targets, .. } => {
            let list: Vec<Value> = targets
                .iter()
                .map(|ip| json!({"ip": ip.to_string()}))
                .collect();
            let r = call("DeregisterTargets", json!({ "targets": list }))?;
            emit(
                out,
                &if json {
                    pretty(&r)
                } else {
                    render::changed_targets(&r, "deregistered")
                },
            )?;
        }
        ApiCommand::Endpoints { action, .. } => {
            let (name, ids) = match action {
                None | Some(EndpointsAction::List) => {
                    let r = call("DescribeEndpointConnections", json!({}))?;
                    emit(
                        out,
                        &if json {
                            pretty(&r)
                        } else {
                            render::endpoints(&r)
                        },
                    )?;
                    return Ok(EXIT_OK);
                }
                Some(EndpointsAction::Accept { ids }) => ("AcceptEndpointConnections", ids),
                Some(EndpointsAction::Reject { ids }) => ("RejectEndpointConnections", ids),
            };
            let r = call(name, json!({ "endpoint_ids": ids }))?;
            let (text, failed) = render::endpoint_changes(&r);
            emit(out, &if json { pretty(&r) } else { text })?;
            if !failed.is_empty() {
                for line in &failed {
                    eprintln!("sluice endpoints: not changed: {line}");
                }
                return Ok(EXIT_FAILED);
            }
        }
        ApiCommand::Flows {
            source,
            destination,
            protocol,
            port,
            target,
            endpoint,
            limit,
            ..
        } => {
            let mut params = Map::new();
            let mut put = |key: &str, v: Option<Value>| {
                if let Some(v) = v {
                    params.insert(key.to_owned(), v);
                }
            };
            put("source", source.clone().map(Value::from));
            put("destination", destination.clone().map(Value::from));
            put("protocol", protocol.map(Value::from));
            put("port", port.map(Value::from));
            put("target", target.map(|t| Value::from(t.to_string())));
            put("endpoint", endpoint.clone().map(Value::from));
            put("limit", limit.map(Value::from));
            let r = call("DescribeFlows", Value::Object(params))?;
            emit(out, &if json { pretty(&r) } else { render::flows(&r) })?;
        }
        ApiCommand::Stats { latency, .. } => {
            let r = call("DescribeMetrics", json!({}))?;
            emit(
                out,
                &if json {
                    pretty(&r)
                } else {
                    render::stats(&r, *latency)
                },
            )?;
        }
        ApiCommand::Top {
            interval, count, ..
        } => {
            if !(0.05..=3600.0).contains(interval) {
                return Err(Failure::usage(format!(
                    "--interval must be 0.05 to 3600 seconds, not {interval}"
                )));
            }
            let every = Duration::from_secs_f64(*interval);
            let start = Instant::now();
            let mut previous = top::Sample::of(&call("DescribeMetrics", json!({}))?, start);
            let mut shown = 0_u64;
            while count.is_none_or(|n| shown < n) {
                std::thread::sleep(every);
                let metrics = call("DescribeMetrics", json!({}))?;
                let now = Instant::now();
                let sample = top::Sample::of(&metrics, now);
                let elapsed = now.duration_since(start).as_secs_f64();
                match sample.rates_since(&previous) {
                    Some(rates) if json => {
                        emit(out, &format!("{}\n", rates.json(elapsed, &metrics)))?;
                    }
                    Some(rates) if terminal => {
                        let screen = rates.screen(&metrics, *interval);
                        emit(out, &format!("\x1b[H\x1b[2J{screen}"))?;
                    }
                    Some(rates) => emit(out, &format!("{}\n", rates.line(elapsed)))?,
                    None => {
                        emit(out, "sluice restarted: the counters start again\n")?;
                    }
                }
                previous = sample;
                shown += 1;
            }
        }
        ApiCommand::Reload { .. } => {
            let r = call("ReloadConfiguration", json!({}))?;
            emit(
                out,
                &if json {
                    pretty(&r)
                } else {
                    render::reloaded(&r)
                },
            )?;
        }
    }
    Ok(EXIT_OK)
}

/// A positive number of seconds, below a billion.
fn seconds(value: f64, what: &str) -> Result<Duration, CallError> {
    if value.is_finite() && value > 0.0 && value < 1e9 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(CallError::Usage(format!(
            "{what} must be a positive number of seconds, not {value}"
        )))
    }
}

/// `https://HOST:PORT` (no path) → host and port.
fn parse_url(url: &str) -> Result<(String, u16), CallError> {
    let usage = |why: &str| {
        CallError::Usage(format!(
            "--endpoint-url {url:?}: {why}; write https://HOST:PORT, as management.tls.listen"
        ))
    };
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| usage("only https:// is spoken"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(usage("the API's paths are its own: give no path"));
    }
    let (host, port) = match rest.strip_prefix('[') {
        // [IPv6]:PORT
        Some(v6) => {
            let (host, port) = v6.split_once("]:").ok_or_else(|| usage("no port"))?;
            (host, port)
        }
        None => rest.rsplit_once(':').ok_or_else(|| usage("no port"))?,
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| usage("the port is not 1-65535"))?;
    if host.is_empty() {
        return Err(usage("no host"));
    }
    Ok((host.to_owned(), port))
}

/// `IP[,ZONE]` for `register --target`.
fn parse_target(s: &str) -> Result<(Ipv4Addr, Option<String>), String> {
    let (ip, zone) = match s.split_once(',') {
        Some((ip, zone)) => (ip, Some(zone.trim())),
        None => (s, None),
    };
    let ip: Ipv4Addr = ip
        .trim()
        .parse()
        .map_err(|_| format!("{ip:?} is not an IPv4 address (write IP or IP,ZONE)"))?;
    match zone {
        Some("") => Err("the zone after the comma is empty (write IP or IP,ZONE)".into()),
        Some(zone) => Ok((ip, Some(zone.to_owned()))),
        None => Ok((ip, None)),
    }
}

/// An address or a CIDR prefix, IPv4 or IPv6, written back in canonical form.
fn parse_prefix(s: &str) -> Result<String, String> {
    let (ip, len) = match s.split_once('/') {
        Some((ip, len)) => (ip, Some(len)),
        None => (s, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address (write IP or IP/LENGTH)"))?;
    match len {
        None => Ok(ip.to_string()),
        Some(len) => {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            match len.parse::<u8>() {
                Ok(n) if n <= max => Ok(format!("{ip}/{n}")),
                _ => Err(format!("the prefix length {len:?} is not 0-{max}")),
            }
        }
    }
}

/// `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
fn parse_protocol(s: &str) -> Result<u8, String> {
    match s.to_ascii_lowercase().as_str() {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "icmp" => Ok(1),
        "icmpv6" | "ipv6-icmp" => Ok(58),
        other => other
            .parse()
            .map_err(|_| format!("{s:?} is not tcp, udp, icmp, icmpv6 or a number 0-255")),
    }
}

/// A `vpce-` endpoint ID.
fn parse_endpoint_id(s: &str) -> Result<String, String> {
    let hex = s
        .strip_prefix("vpce-")
        .ok_or_else(|| format!("{s:?} is not an endpoint ID (vpce-…)"))?;
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!(
            "{s:?} is not an endpoint ID (vpce- and hex digits)"
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_parse() {
        assert_eq!(
            parse_target("10.0.1.1,use1-az1").unwrap(),
            ("10.0.1.1".parse().unwrap(), Some("use1-az1".into()))
        );
        assert_eq!(parse_target("10.0.1.1").unwrap().1, None);
        assert!(parse_target("10.0.1.1,").is_err());
        assert!(parse_target("::1").is_err());
        assert_eq!(parse_prefix("192.0.2.7").unwrap(), "192.0.2.7");
        assert_eq!(parse_prefix("2001:db8::/32").unwrap(), "2001:db8::/32");
        assert!(parse_prefix("192.0.2.0/33").is_err());
        assert_eq!(parse_protocol("TCP").unwrap(), 6);
        assert_eq!(parse_protocol("47").unwrap(), 47);
        assert!(parse_protocol("gre").is_err());
        assert!(parse_endpoint_id("vpce-0a1b").is_ok());
        assert!(parse_endpoint_id("vpc-0a1b").is_err());
        assert!(parse_endpoint_id("vpce-").is_err());
    }

    #[test]
    fn urls_name_host_and_port() {
        assert_eq!(
            parse_url("https://gw1.example.net:8443").unwrap(),
            ("gw1.example.net".into(), 8443)
        );
        assert_eq!(
            parse_url("https://[2001:db8::1]:8443/").unwrap(),
            ("2001:db8::1".into(), 8443)
        );
        for bad in [
            "http://h:1",
            "https://h",
            "https://h:0",
            "https://:1",
            "https://h:1/v1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
