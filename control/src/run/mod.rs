//! `sluice run`: the data plane on DPDK.
//!
//! The process's main thread is the control thread (EAL's main lcore). It plans the run
//! ([`plan`]), checks the machine ([`preflight`]), starts EAL, the mbuf pool and every port
//! with a kernel TAP interface beside it, then spawns one pinned worker per configured core
//! ([`worker`]) and loops until SIGINT/SIGTERM or `--duration`:
//!
//! - frames the workers hand to the kernel go to the port's TAP interface (ARP replies are
//!   read on the way: the neighbour resolver learns from them), and what the kernel sends on
//!   a TAP interface goes to a worker to leave through the port;
//! - the resolver ([`neighbors`]) asks for the next hops the snapshot needs;
//! - a new snapshot is compiled and published whenever neighbours or (on SIGHUP) the
//!   configuration change; workers swap it between bursts and send the old one back;
//! - idle flows are expired a slice of the table at a time;
//! - the gateway health-checks its targets ([`crate::health::Checker`], threads on this
//!   core): a target's change of state is printed and published as a new snapshot at once;
//!   the appliance answers health checks ([`crate::health::Responder`]) by the data plane's
//!   health, which this thread judges once a second;
//! - reports from the workers are merged, and a status line printed.
//!
//! On stop the workers drain TX and send a last report, and the final counters are printed.

pub mod clock;
pub mod flow_log;
pub mod manage;
pub mod neighbors;
pub mod plan;
pub mod preflight;
mod summary;
pub mod worker;

use std::io::IsTerminal as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Value, json};
use sluice_config::Role;
use sluice_config::compile::{PortFacts, TargetFacts};
use sluice_config::schema::dataplane::PollMode;
use sluice_config::schema::gateway::Target as TargetConfig;
use sluice_config::{Config, RuntimeFacts};
use sluice_dpdk::{DpdkError, Eal, Mempool, Port, PortConfig, RxQueue, TxBuffer, TxQueue};
use sluice_engine::appliance::FlowRecords;
use sluice_engine::flow_stats::FlowStats;
use sluice_engine::flow_table::{Expired, ExpiryCursor, FlowTable};
use sluice_engine::maglev::TargetState;
use sluice_engine::packet::PacketBuf;
use sluice_engine::snapshot::{RoleSnapshot, Snapshot};
use sluice_wire::ethernet::EthernetAddress;
use sluice_wire::gwlb::EndpointId;

use crate::api::ApiError;
use crate::health::{self, Checker, DataPlaneStatus, Reason, Responder, ResponderLimits};

use self::clock::Clock;
use self::flow_log::{FlowEndReason, FlowLogError, FlowLogWriter, FlowLogger};
use self::manage::ApiState;
use self::neighbors::Resolver;
use self::plan::Plan;
use self::summary::{TargetReport, Totals};
use self::worker::{Mailbox, Pipeline, Worker};
use crate::metrics::{MetricsServer, MetricsSnapshot, PeakTracker};

/// Depth of each queue between a worker and the control thread (frames to and from the
/// kernel).
pub const QUEUE_DEPTH: usize = 1024;
/// How often workers report.
const REPORT_PERIOD_NS: u64 = 100_000_000;
/// How often the resolver is asked for due requests.
const RESOLVER_PERIOD: Duration = Duration::from_millis(100);
/// The control loop's nap when a round found nothing to do.
const CONTROL_NAP: Duration = Duration::from_micros(500);
/// The whole flow table is swept for idle flows once per this many nanoseconds.
const SWEEP_PERIOD_NS: u64 = 1_000_000_000;
/// How often the appliance's data-plane health (workers reporting, links up) is judged.
const DATAPLANE_HEALTH_PERIOD: Duration = Duration::from_secs(1);
/// A worker whose last report is older than this is not running.
const WORKER_SILENCE: Duration = Duration::from_secs(1);

/// What `sluice run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The configuration file.
    pub config: PathBuf,
    /// Print the plan and stop.
    pub dry_run: bool,
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    /// Print a status line this often (by default once a second when stdout is a terminal,
    /// else never).
    pub status_interval: Option<Duration>,
    /// Gateway: do not health-check targets, treat every registered one as healthy (as
    /// `sluice simulate` does).
    pub no_health_checks: bool,
    /// Also write the final summary as JSON to this file (`--summary-json`).
    pub summary_json: Option<PathBuf>,
}

/// Why `sluice run` could not start or stopped with an error. Every variant's text ends in a
/// hint saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is invalid (the diagnostics were printed).
    #[error("{0}: invalid configuration")]
    Config(String),
    /// The plan cannot work.
    #[error(transparent)]
    Plan(#[from] plan::PlanError),
    /// The machine lacks what the plan needs.
    #[error(transparent)]
    Preflight(#[from] preflight::PreflightError),
    /// A DPDK call failed.
    #[error("{what}: {source}\n  hint: {hint}")]
    Dpdk {
        /// What sluice was doing.
        what: String,
        /// DPDK's error.
        source: DpdkError,
        /// What to do about it.
        hint: String,
    },
    /// Setting up a kernel interface failed.
    #[error("{0}")]
    Kernel(String),
    /// The configuration could not be compiled into a snapshot.
    #[error("{0}\n  hint: check the ports' addresses, MACs and the targets' reachability")]
    Compile(#[from] sluice_config::CompileError),
    /// The flow table could not be allocated.
    #[error("the flow table: {0}\n  hint: lower dataplane.flow_table.capacity")]
    FlowTable(String),
    /// The health checker or the health-check responder could not start.
    #[error(transparent)]
    Health(#[from] health::HealthError),
    /// The management API could not start.
    #[error("{0}")]
    Api(crate::api::ApiStartError),
    /// The metrics listener could not start.
    #[error(
        "management.metrics_listen {addr}: {source}\n  hint: pick a free address and port, or remove metrics_listen"
    )]
    Metrics {
        /// The address.
        addr: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The management API's state file could not be read.
    #[error(transparent)]
    StateFile(#[from] manage::StateError),
    /// The management API's state does not fit the configuration any more.
    #[error(
        "state file {path}: {message}\n  hint: the configuration file changed in a way the API's changes no longer fit; fix it, or move the state file away to drop those changes"
    )]
    State {
        /// The state file.
        path: String,
        /// What does not fit.
        message: String,
    },
    /// The flow log could not be opened.
    #[error("{0}\n  hint: appliance.flow_log.path must be in an existing directory root can write")]
    FlowLog(#[from] FlowLogError),
    /// The `--summary-json` file could not be written.
    #[error(
        "--summary-json {path}: {source}\n  hint: check that its directory exists and is writable"
    )]
    SummaryJson {
        /// The file.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
}

fn dpdk(what: impl Into<String>, hint: impl Into<String>) -> impl FnOnce(DpdkError) -> RunError {
    move |source| RunError::Dpdk {
        what: what.into(),
        source,
        hint: hint.into(),
    }
}

/// Loads the configuration, printing its diagnostics when it is invalid.
fn load(path: &Path) -> Result<Config, RunError> {
    sluice_config::load(path).map_err(|d| {
        eprintln!("{d}");
        RunError::Config(path.display().to_string())
    })
}

/// Runs `sluice run`.
///
/// # Errors
///
/// A [`RunError`] for anything that stops the start (configuration, machine, DPDK) — each
/// with a hint.
#[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
pub fn run(options: &RunOptions) -> Result<(), RunError> {
    let file_config = load(&options.config)?;
    // What the management API changed earlier, laid over the file.
    let state_path = file_config.management.state_file.clone();
    let state = ApiState::load(&state_path)?;
    let config = manage::effective(&file_config, &state).map_err(|e| RunError::State {
        path: state_path.display().to_string(),
        message: e.message,
    })?;
    let plan = plan::plan(&config, std::process::id())?;
    if options.dry_run {
        print!("{plan}");
        println!("dry run: nothing started");
        return Ok(());
    }
    preflight::check(&plan)?;

    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping ends the process at once.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop));
        let _ = signal_hook::flag::register(signal, Arc::clone(&stop));
    }
    let _ = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload));
    // The appliance drains on SIGUSR1 and stops draining on SIGUSR2.
    let drain = Arc::new(AtomicBool::new(false));
    let undrain = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&drain));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGUSR2, Arc::clone(&undrain));

    let eal = Eal::init(&plan.eal_args).map_err(dpdk(
        "starting DPDK's EAL",
        "the EAL arguments are shown by `sluice run --dry-run`; with hugepages, check they are mounted and free (scripts/setup --hugepages), or add \"--no-huge\", \"--no-shconf\" to dataplane.eal_args",
    ))?;
    let pool = Mempool::new(
        &eal,
        "sluice",
        plan.pool.mbufs,
        plan.pool.cache,
        plan.pool.data_room,
        sluice_dpdk::SOCKET_ID_ANY,
    )
    .map_err(dpdk(
        format!(
            "allocating {} mbufs of {} bytes ({} MiB)",
            plan.pool.mbufs,
            plan.pool.data_room,
            plan.pool_memory() >> 20
        ),
        if plan.hugepages {
            "reserve more hugepages (scripts/setup --hugepages N) or lower dataplane.mbufs"
        } else {
            "lower dataplane.mbufs, or give EAL more memory with \"-m\", \"MIB\" in dataplane.eal_args"
        },
    ))?;

    let mut ports = Vec::with_capacity(plan.ports.len());
    let mut taps = Vec::with_capacity(plan.ports.len());
    let mut macs = Vec::with_capacity(plan.ports.len());
    let mut port_lines = Vec::with_capacity(plan.ports.len());
    for p in &plan.ports {
        let port = start_port(&eal, &pool, p)?;
        let mac = port.mac().map_err(dpdk(
            format!("port {}: reading its MAC", p.name),
            "the driver reports no MAC; set `mac` on the port",
        ))?;
        // The engine answers for the configured MAC when there is one (even where the device
        // cannot take it), and the kernel side must use the same.
        let tap = start_tap(&eal, &pool, p, p.mac.unwrap_or(mac))?;
        let link = match port.link() {
            Ok(l) if l.up => format!(
                "link up{}",
                if l.speed_mbps > 0 {
                    format!(" at {} Mbit/s", l.speed_mbps)
                } else {
                    String::new()
                }
            ),
            Ok(_) => "link down".to_owned(),
            Err(_) => "link unknown".to_owned(),
        };
        port_lines.push(format!(
            "  port {} on {}: MAC {}, {link}; kernel interface {} has {}/{}",
            p.name,
            p.device_name,
            p.mac
                .unwrap_or(mac)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            p.name,
            p.address.0,
            p.address.1
        ));
        ports.push(port);
        taps.push(tap);
        macs.push(mac);
    }

    let table = FlowTable::new(plan.flow_capacity as usize)
        .map_err(|e| RunError::FlowTable(e.to_string()))?;
    let records = FlowRecords::new(match config.role {
        Role::Appliance(_) => plan.flow_capacity as usize,
        Role::Gateway(_) => 1,
    });
    let clock = Clock::new(eal.tsc_hz(), eal.tsc());
    let flow_log = match &config.role {
        Role::Appliance(a) if a.appliance.flow_log.enabled => Some(a.appliance.flow_log.clone()),
        _ => None,
    };
    let stats = match &flow_log {
        Some(_) => Some(
            FlowStats::new(plan.flow_capacity as usize)
                .map_err(|e| RunError::FlowTable(e.to_string()))?,
        ),
        None => None,
    };
    let memory_line = prepare_flow_memory(&table, &records, stats.as_ref());
    let flow_logger = match flow_log {
        Some(settings) => {
            let path = settings.path.unwrap_or_default();
            let (writer, tightened) =
                FlowLogWriter::open(path, settings.max_bytes, settings.max_files)?;
            if let Some(t) = tightened {
                eprintln!(
                    "sluice: flow log {}: permissions {:o} were too open; now 0600",
                    t.path.display(),
                    t.mode
                );
            }
            Some(FlowLogger::new(writer, clock.ns(eal.tsc())))
        }
        None => None,
    };

    let mut control = Control::new(
        config,
        &plan,
        &macs,
        clock,
        &options.config,
        options.no_health_checks,
    )?;
    control.file_config = file_config;
    control.state = state;
    control.state_path = state_path;
    // The management API: its threads hand requests to the control loop.
    let (backend, calls) = manage::ControlBackend::new(manage::names_of(&control.config));
    let backend = Arc::new(backend);
    control.calls = Some(calls);
    control.backend = Some(Arc::clone(&backend));
    let as_backend: Arc<dyn crate::api::Backend> = backend;
    control.api = Some(
        crate::api::ApiServer::start(&control.config.management, as_backend)
            .map_err(RunError::Api)?,
    );
    if let Some(addr) = control.config.management.metrics_listen {
        let snapshot = Arc::new(std::sync::Mutex::new(MetricsSnapshot::new(
            control.config.kind().as_str(),
        )));
        let server = MetricsServer::start(addr, Arc::clone(&snapshot)).map_err(|source| {
            RunError::Metrics {
                addr: addr.to_string(),
                source,
            }
        })?;
        control.metrics = Some((server, snapshot));
    }
    control.flow_log = flow_logger;
    if let (Some(log), RoleSnapshot::Appliance(a)) = (&mut control.flow_log, &control.snapshot.role)
    {
        log.note_policy(&a.policy);
    }
    // The appliance answers health checks on each port's own address (its TAP has it).
    let responder = match &control.config.role {
        Role::Appliance(a) => {
            let addresses: Vec<_> = plan
                .ports
                .iter()
                .map(|p| std::net::SocketAddrV4::new(p.address.0, a.appliance.health_check.port))
                .collect();
            let status = Arc::new(DataPlaneStatus::new());
            let responder = Responder::start(
                a.appliance.health_check.protocol,
                &addresses,
                Arc::clone(&status),
                ResponderLimits::default(),
            )?;
            control.dataplane_status = Some(status);
            Some(responder)
        }
        Role::Gateway(_) => None,
    };

    // Queue `i` of every port goes to worker `i`.
    let workers = plan.worker_cores.len();
    let mut queues: Vec<(Vec<RxQueue<'_, '_>>, Vec<TxQueue<'_, '_>>)> =
        (0..workers).map(|_| (Vec::new(), Vec::new())).collect();
    for (port, p) in ports.iter().zip(&plan.ports) {
        let (rx, tx) = port.queues().map_err(dpdk(
            format!("port {}: taking its queues", p.name),
            "this is a bug",
        ))?;
        for (i, q) in rx.into_iter().enumerate() {
            queues[i].0.push(q);
        }
        for (i, q) in tx.into_iter().enumerate() {
            queues[i].1.push(q);
        }
    }
    let mut kernel = Vec::with_capacity(taps.len());
    for (tap, p) in taps.iter().zip(&plan.ports) {
        let (mut rx, mut tx) = tap.queues().map_err(dpdk(
            format!("kernel interface {}: taking its queues", p.name),
            "this is a bug",
        ))?;
        if let (Some(rx), Some(tx)) = (rx.pop(), tx.pop()) {
            kernel.push(KernelPort {
                rx,
                tx,
                out: TxBuffer::with_capacity(QUEUE_DEPTH),
            });
        }
    }
    let mailboxes: Vec<Mailbox<'_>> = (0..workers).map(|_| Mailbox::new(QUEUE_DEPTH)).collect();
    let mut links = Vec::with_capacity(workers);
    let mut worker_ends = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (snap_tx, snap_rx) = crossbeam_channel::bounded::<Arc<Snapshot>>(4);
        let (ret_tx, ret_rx) = crossbeam_channel::bounded::<Arc<Snapshot>>(8);
        links.push(WorkerLink {
            snapshots: snap_tx,
            retired: ret_rx,
        });
        worker_ends.push((snap_rx, ret_tx));
    }

    let worker_stop = AtomicBool::new(false);
    let started = Instant::now();
    let status_interval = options.status_interval.or_else(|| {
        std::io::stdout()
            .is_terminal()
            .then_some(Duration::from_secs(1))
    });
    let interactive = options.status_interval.is_none() && std::io::stdout().is_terminal();
    println!(
        "sluice {}: {} worker{} on core{} {}, {} port{}; SIGINT or SIGTERM stops, SIGHUP reloads {}",
        plan.role,
        workers,
        if workers == 1 { "" } else { "s" },
        if workers == 1 { "" } else { "s" },
        plan.worker_cores
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        plan.ports.len(),
        if plan.ports.len() == 1 { "" } else { "s" },
        options.config.display()
    );
    for line in &port_lines {
        println!("{line}");
    }
    println!("{memory_line}");
    if let Some(h) = &control.health {
        println!(
            "  health checks: {}, from {}",
            h.settings().describe(),
            describe_source(&control.health_source())
        );
    } else if matches!(control.config.role, Role::Gateway(_)) {
        println!("  health checks: off (--no-health-checks): every registered target is healthy");
    }
    if let (Some(r), Role::Appliance(a)) = (&responder, &control.config.role) {
        println!(
            "  health-check responder: {} on {}",
            a.appliance.health_check.protocol.as_str(),
            r.addresses()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(workers);
        for (i, (((rx, tx), mailbox), (snap_rx, ret_tx))) in queues
            .into_iter()
            .zip(&mailboxes)
            .zip(worker_ends)
            .enumerate()
        {
            let core = plan.worker_cores[i];
            let worker = Worker {
                index: i,
                eal: &eal,
                clock,
                pipeline: Pipeline::new(&control.snapshot.role, &table, &records, stats.as_ref()),
                rx,
                tx,
                mailbox,
                snapshots: snap_rx,
                retired: ret_tx,
                snapshot: Arc::clone(&control.snapshot),
                stop: &worker_stop,
                burst: usize::from(plan.burst),
                adaptive: plan.poll_mode == PollMode::Adaptive,
                report_period_ns: REPORT_PERIOD_NS,
            };
            let eal = &eal;
            handles.push(scope.spawn(move || {
                // Pinning and registration were checked in preflight; a failure here only
                // costs performance, so the worker runs anyway.
                if !core_affinity::set_for_current(core_affinity::CoreId {
                    id: usize::from(core),
                }) {
                    eprintln!("sluice: worker {i}: could not pin to core {core}");
                }
                if let Err(e) = eal.register_thread() {
                    eprintln!(
                        "sluice: worker {i}: not registered with EAL ({e}); mempool caches are off"
                    );
                }
                worker.run();
            }));
        }

        let io = Io {
            eal: &eal,
            pool: &pool,
            ports: &ports,
            mailboxes: &mailboxes,
            links: &links,
            table: &table,
            records: &records,
            stats: stats.as_ref(),
            stop: &stop,
            reload: &reload,
            drain: &drain,
            undrain: &undrain,
            started,
            duration: options.duration,
            status_interval,
            interactive,
        };
        control.run_loop(&io, &mut kernel);
        // Requests still waiting get 503 at once; then the API's threads end.
        control.calls = None;
        if let Some(api) = control.api.take() {
            api.shutdown();
        }
        if let Some((server, _)) = control.metrics.take() {
            server.shutdown();
        }

        // From here on the appliance's responder says 503.
        if let Some(status) = &control.dataplane_status {
            status.set_unhealthy();
        }
        worker_stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        // The workers' last reports.
        for (w, mailbox) in mailboxes.iter().enumerate() {
            while let Some(r) = mailbox.reports.pop() {
                control.totals.take(w, &r);
            }
        }
        control.close_flow_log(&io);
    });

    // Frames still queued for the kernel or from it are freed with the queues.
    for m in &mailboxes {
        while m.exceptions.pop().is_some() {}
        while m.inject.pop().is_some() {}
    }
    let port_stats: Vec<_> = ports
        .iter()
        .zip(&plan.ports)
        .map(|(port, p)| {
            // The driver's own counters of trouble, where it has any to report.
            let trouble = port
                .xstats()
                .unwrap_or_default()
                .into_iter()
                .filter(|(name, value)| {
                    *value > 0
                        && ["error", "miss", "drop", "nombuf", "discard"]
                            .iter()
                            .any(|w| name.contains(w))
                })
                .collect();
            summary::PortReport {
                name: p.name.clone(),
                stats: port.stats().ok(),
                trouble,
            }
        })
        .collect();
    if let Some(r) = responder {
        r.stop();
    }
    let now = control.clock.ns(eal.tsc());
    let targets = control.target_reports(now);
    print!(
        "{}",
        control.totals.render(
            started.elapsed(),
            &table,
            &port_stats,
            &control.resolver,
            &targets,
            eal.tsc_hz()
        )
    );
    if let RoleSnapshot::Appliance(a) = &control.snapshot.role {
        print!(
            "{}",
            policy_report(&a.policy, control.totals.merged().0.policy_rejects)
        );
    }
    let summary_json = options.summary_json.as_ref().map_or(Ok(()), |path| {
        let written = control
            .totals
            .write_json(path, started.elapsed(), &table, eal.tsc_hz());
        written.map_err(|source| RunError::SummaryJson {
            path: path.display().to_string(),
            source,
        })
    });
    // Teardown in reverse order of setup: queues, kernel and data ports (stopped and
    // closed), then the pool and EAL.
    drop(kernel);
    drop(taps);
    drop(ports);
    summary_json
}

/// Finds, configures and starts a port.
fn start_port<'pool>(
    eal: &Eal,
    pool: &'pool Mempool<'_>,
    p: &plan::PortPlan,
) -> Result<Port<'pool>, RunError> {
    let id = Port::by_name(eal, &p.device_name).ok_or_else(|| {
        RunError::Kernel(format!(
            "port {}: DPDK found no device {:?}\n  hint: {}",
            p.name,
            p.device_name,
            if p.pci {
                "bind it to vfio-pci (dpdk-devbind.py -b vfio-pci ADDRESS) and check `dpdk-devbind.py --status`"
            } else {
                "check the device's arguments (`sluice run --dry-run` shows the --vdev EAL got)"
            }
        ))
    })?;
    let config = PortConfig {
        rx_queues: p.rx_queues,
        tx_queues: p.tx_queues,
        rx_desc: p.rx_descriptors,
        tx_desc: p.tx_descriptors,
        mtu: p.mtu,
    };
    let mut port = Port::configure(id, &config, pool).map_err(|e| {
        let hint = match &e {
            DpdkError::Mtu { min, max, .. } => {
                format!("set the port's mtu within {min}..={max}")
            }
            DpdkError::QueueCount { max, .. } => format!(
                "the device has {max} queue(s): run at most {max} worker(s), or give the device more (net_af_packet: qpairs=N, net_pcap: one rx_pcap= per queue)"
            ),
            _ => "check the device with `sluice run --dry-run` and DPDK's log above".to_owned(),
        };
        RunError::Dpdk {
            what: format!("port {} ({})", p.name, p.device),
            source: e,
            hint,
        }
    })?;
    if let Some(mac) = p.mac
        && let Err(e) = port.set_mac(mac)
    {
        // The engine uses the configured MAC either way; the device then needs to be
        // promiscuous to receive frames for it.
        eprintln!(
            "sluice: port {}: the device keeps its own MAC ({e}); receiving in promiscuous mode",
            p.name
        );
    }

    // Devices that cannot be promiscuous still deliver frames to their own MAC.
    let _ = port.set_promiscuous();
    port.start().map_err(dpdk(
        format!("starting port {}", p.name),
        "see DPDK's log above",
    ))?;
    Ok(port)
}

/// Starts a port's TAP device and gives its kernel interface the port's MAC, MTU and
/// address.
fn start_tap<'pool>(
    eal: &Eal,
    pool: &'pool Mempool<'_>,
    p: &plan::PortPlan,
    mac: [u8; 6],
) -> Result<Port<'pool>, RunError> {
    let id = Port::by_name(eal, &p.tap_name).ok_or_else(|| {
        RunError::Kernel(format!(
            "kernel interface {}: DPDK could not create it\n  hint: it needs /dev/net/tun and CAP_NET_ADMIN, and no other interface named {:?} in this network namespace",
            p.name, p.name
        ))
    })?;
    // The TAP driver takes frames up to 1522 bytes: the kernel's own traffic (ping, health
    // checks, management) stays within an MTU of 1500 even on jumbo ports.
    let info = Port::info(eal, id).map_err(dpdk(
        format!("kernel interface {}", p.name),
        "see DPDK's log above",
    ))?;
    // DPDK checks MTU + Ethernet header + FCS against the largest frame.
    let largest = u16::try_from(info.max_rx_pktlen.saturating_sub(18)).unwrap_or(u16::MAX);
    let mtu = p.mtu.min(info.max_mtu).min(largest);
    let config = PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        rx_desc: plan::KERNEL_DESCRIPTORS,
        tx_desc: plan::KERNEL_DESCRIPTORS,
        mtu,
    };
    let mut tap = Port::configure(id, &config, pool).map_err(dpdk(
        format!("kernel interface {}", p.name),
        "see DPDK's log above",
    ))?;
    // Through the driver: it re-applies its own MAC to the interface when the port starts.
    tap.set_mac(mac).map_err(dpdk(
        format!("kernel interface {}: setting its MAC", p.name),
        "see DPDK's log above",
    ))?;
    preflight::setup_kernel_interface(&p.name, mac, p.address, mtu).map_err(RunError::Kernel)?;
    tap.start().map_err(dpdk(
        format!("starting kernel interface {}", p.name),
        "see DPDK's log above",
    ))?;
    preflight::kernel_interface_up(&p.name).map_err(RunError::Kernel)?;
    Ok(tap)
}

/// A port's TAP device, polled by the control thread.
struct KernelPort<'port, 'pool> {
    rx: RxQueue<'port, 'pool>,
    tx: TxQueue<'port, 'pool>,
    out: TxBuffer<'pool>,
}

/// The control thread's ends of a worker's snapshot channels.
struct WorkerLink {
    snapshots: Sender<Arc<Snapshot>>,
    retired: Receiver<Arc<Snapshot>>,
}

/// What the control loop borrows.
struct Io<'a, 'pool, 'eal> {
    eal: &'a Eal,
    pool: &'pool Mempool<'eal>,
    /// The data ports, for their link state.
    ports: &'a [Port<'pool>],
    mailboxes: &'a [Mailbox<'pool>],
    links: &'a [WorkerLink],
    table: &'a FlowTable,
    /// Appliance: the flows' header records (their GWLB endpoints, for the flow log).
    records: &'a FlowRecords,
    /// Appliance with a flow log: the flows' packet and byte counts.
    stats: Option<&'a FlowStats>,
    stop: &'a AtomicBool,
    reload: &'a AtomicBool,
    /// Set by SIGUSR1: the appliance starts draining.
    drain: &'a AtomicBool,
    /// Set by SIGUSR2: it stops draining.
    undrain: &'a AtomicBool,
    started: Instant,
    duration: Option<Duration>,
    status_interval: Option<Duration>,
    interactive: bool,
}

/// A target the control thread keeps in its place in the snapshot's target list (flows name
/// targets by index), with what deregistration made of it.
#[derive(Debug, Clone)]
struct Registered {
    target: TargetConfig,
    /// When it was deregistered, on the engine's clock.
    deregistered_ns: Option<u64>,
}

/// The control thread's state.
struct Control {
    config_path: PathBuf,
    config: Config,
    /// Targets in snapshot order: configured ones, then deregistered ones kept in place.
    registry: Vec<Registered>,
    device_macs: Vec<[u8; 6]>,
    clock: Clock,
    epoch: u64,
    snapshot: Arc<Snapshot>,
    resolver: Resolver,
    totals: Totals,
    cursor: ExpiryCursor,
    capacity: usize,
    /// Workers the latest snapshot could not be sent to yet (their channel was full).
    unsent: Vec<bool>,
    /// Gateway: the health checks of the registered targets (`None` for the appliance and
    /// with `--no-health-checks`).
    health: Option<Checker>,
    /// Gateway, `--no-health-checks`: every registered target is healthy.
    assume_healthy: bool,
    /// Each registry entry's state as last printed, to print changes once.
    printed: Vec<TargetState>,
    /// Appliance: what the health-check responder reports.
    dataplane_status: Option<Arc<DataPlaneStatus>>,
    /// Appliance with `[appliance.flow_log]`: the log of flows that end.
    flow_log: Option<FlowLogger>,
    /// Flows the last sweep removed, for the flow log (reused).
    ended: Vec<Expired>,
    /// How far the flow log has read the flows workers evicted.
    retired_cursor: u64,
    /// The configuration file as read, before the API's state is laid over it.
    file_config: Config,
    /// What the management API changed.
    state: ApiState,
    /// Where that is persisted.
    state_path: PathBuf,
    /// The management API's requests, when it runs.
    calls: Option<crossbeam_channel::Receiver<manage::Call>>,
    /// The management API's backend (to update its resource names on reloads).
    backend: Option<Arc<manage::ControlBackend>>,
    /// The last second's rates, for `DescribeMetrics`.
    rates: manage::Rates,
    /// Appliance: told to drain (SIGUSR1 until SIGUSR2): health checks get 503 so the GWLB
    /// moves new flows away, while the data plane keeps serving.
    draining: bool,
    /// The management API server.
    api: Option<crate::api::ApiServer>,
    /// The metrics listener and the snapshot it serves, refreshed every second.
    metrics: Option<(MetricsServer, Arc<std::sync::Mutex<MetricsSnapshot>>)>,
    /// Peak rates per zone row of the metrics.
    peaks: Vec<PeakTracker>,
}

/// A registered target's state as the snapshot gets it, with its reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TargetStatus {
    state: TargetState,
    reason: Option<Reason>,
    /// When its deregistration began (engine clock), for draining and unused targets.
    since: Option<u64>,
}

impl Control {
    fn new(
        config: Config,
        plan: &Plan,
        macs: &[[u8; 6]],
        clock: Clock,
        path: &Path,
        no_health_checks: bool,
    ) -> Result<Self, RunError> {
        let registry = match &config.role {
            Role::Gateway(g) => g
                .targets
                .iter()
                .map(|t| Registered {
                    target: t.clone(),
                    deregistered_ns: None,
                })
                .collect(),
            Role::Appliance(_) => Vec::new(),
        };
        let resolver = Resolver::new();
        let statuses = target_statuses(&config, &registry, None, no_health_checks, 0);
        let snapshot = Arc::new(compile_snapshot(
            &config, &registry, &statuses, macs, &resolver, 1,
        )?);
        let mut control = Control {
            config_path: path.to_owned(),
            file_config: config.clone(),
            config,
            registry,
            device_macs: macs.to_vec(),
            clock,
            epoch: 1,
            snapshot,
            resolver,
            unsent: vec![false; plan.worker_cores.len()],
            totals: Totals::new(plan.worker_cores.len()),
            cursor: ExpiryCursor::default(),
            capacity: plan.flow_capacity as usize,
            health: None,
            assume_healthy: no_health_checks,
            printed: statuses.iter().map(|s| s.state).collect(),
            dataplane_status: None,
            flow_log: None,
            ended: Vec::new(),
            retired_cursor: 0,
            state: ApiState::default(),
            state_path: PathBuf::new(),
            calls: None,
            backend: None,
            rates: manage::Rates::default(),
            draining: false,
            api: None,
            metrics: None,
            peaks: Vec::new(),
        };
        if let Role::Gateway(g) = &control.config.role
            && !no_health_checks
        {
            let settings = health::Settings::from_config(&g.target_group.health_check);
            control.health = Some(Checker::new(settings, control.health_source())?);
            control.sync_health();
        }
        let wanted = control.wanted();
        control.resolver.set_wanted(&wanted, 0);
        Ok(control)
    }

    /// Compiles the current configuration, registry, health and neighbours into the next
    /// snapshot.
    fn compile(&mut self, now: u64) -> Result<Snapshot, RunError> {
        self.epoch += 1;
        let statuses = self.target_statuses(now);
        let mut snapshot = compile_snapshot(
            &self.config,
            &self.registry,
            &statuses,
            &self.device_macs,
            &self.resolver,
            self.epoch,
        )?;
        carry_policy(&mut snapshot, &self.snapshot);
        Ok(snapshot)
    }

    /// Each registry entry's state now.
    fn target_statuses(&self, now: u64) -> Vec<TargetStatus> {
        target_statuses(
            &self.config,
            &self.registry,
            self.health.as_ref(),
            self.assume_healthy,
            now,
        )
    }

    /// Where health checks leave from: the address and kernel interface of the port that
    /// faces the targets.
    fn health_source(&self) -> health::Source {
        let RoleSnapshot::Gateway(g) = &self.snapshot.role else {
            return health::Source::default();
        };
        match self.snapshot.ports.get(usize::from(g.target_port)) {
            Some(port) => health::Source {
                address: Some(port.address),
                device: Some(port.name.clone()),
            },
            None => health::Source::default(),
        }
    }

    /// Points the health checker at the registered (not deregistered) targets, with the
    /// configuration's settings and the current source.
    fn sync_health(&mut self) {
        let Role::Gateway(g) = &self.config.role else {
            return;
        };
        let settings = health::Settings::from_config(&g.target_group.health_check);
        let source = self.health_source();
        let registered: Vec<Ipv4Addr> = self
            .registry
            .iter()
            .filter(|r| r.deregistered_ns.is_none())
            .map(|r| r.target.ip)
            .collect();
        if let Some(h) = &mut self.health {
            h.update(settings, source);
            if let Err(e) = h.set_targets(&registered) {
                eprintln!("sluice: {e}");
            }
        }
    }

    /// Prints one line per target whose state changed since the last print.
    #[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
    fn print_changes(&mut self, statuses: &[TargetStatus]) {
        for (i, (r, s)) in self.registry.iter().zip(statuses).enumerate() {
            let before = self.printed.get(i).copied();
            if before == Some(s.state) {
                continue;
            }
            let from = before.map_or("new", health::state_name);
            let reason = s
                .reason
                .map(|r| format!(" ({})", r.code()))
                .unwrap_or_default();
            // Why a check failed, when one did: what people need to act on.
            let last = match s.state {
                TargetState::Unhealthy | TargetState::Unavailable => self
                    .health
                    .as_ref()
                    .and_then(|h| h.health(r.target.ip))
                    .and_then(|h| h.last())
                    .map(|l| format!("; last check: {l}"))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            println!(
                "target {}: {from} -> {}{reason}{last}",
                r.target.ip,
                health::state_name(s.state)
            );
        }
        self.printed = statuses.iter().map(|s| s.state).collect();
    }

    /// Every registered target's state for the final summary.
    fn target_reports(&self, now: u64) -> Vec<TargetReport> {
        self.registry
            .iter()
            .zip(self.target_statuses(now))
            .map(|(r, s)| TargetReport {
                ip: r.target.ip,
                zone: r.target.zone.clone(),
                state: s.state,
                reason: s.reason,
                last_check: self
                    .health
                    .as_ref()
                    .and_then(|h| h.health(r.target.ip))
                    .and_then(|h| h.last().map(str::to_owned)),
            })
            .collect()
    }

    /// Appliance: judges the data plane's health (every worker reported lately, every
    /// port's link up) and hands it, with per-worker counters, to the responder.
    fn judge_dataplane(&self, io: &Io<'_, '_, '_>) {
        let Some(status) = &self.dataplane_status else {
            return;
        };
        let now = Instant::now();
        let workers = self.totals.worker_details(now);
        let workers_ok = workers.iter().all(|w| w.alive_within(WORKER_SILENCE));
        let mut ports = Vec::with_capacity(io.ports.len());
        let mut links_ok = true;
        for (port, info) in io.ports.iter().zip(&self.snapshot.ports) {
            let up = port.link().is_ok_and(|l| l.up);
            links_ok &= up;
            ports.push(json!({"name": info.name, "link": if up { "up" } else { "down" }}));
        }
        let draining = self.draining;
        let healthy = workers_ok && links_ok && !draining && !io.stop.load(Ordering::Relaxed);
        let (merged, _) = self.totals.merged();
        let endpoints: Vec<Value> = merged
            .endpoints
            .iter()
            .map(|e| {
                json!({
                    "endpoint": EndpointId(e.endpoint).to_string(),
                    "flows": e.flows,
                    "denied": e.denied,
                    "rejected": e.rejected,
                })
            })
            .collect();
        let detail = json!({
            "status": if draining { "draining" } else if healthy { "healthy" } else { "unhealthy" },
            "endpoints": endpoints,
            "other_endpoints": {
                "flows": merged.endpoints.other.flows,
                "denied": merged.endpoints.other.denied,
                "rejected": merged.endpoints.other.rejected,
            },
            "workers": workers.iter().map(|w| json!({
                "worker": w.index,
                "running": w.alive_within(WORKER_SILENCE),
                "rx_packets": w.rx_packets,
                "tx_packets": w.tx_packets,
                "drops": w.drops,
            })).collect::<Vec<_>>(),
            "ports": ports,
            "flows": io.table.len(),
        });
        status.set(healthy, detail.to_string());
    }

    /// The next hops the snapshot needs MACs for that no static entry gives.
    fn wanted(&self) -> Vec<(u16, Ipv4Addr)> {
        let snapshot = &self.snapshot;
        let mut wanted = Vec::new();
        let mut want = |port: u16, ip: Ipv4Addr| {
            let Some(info) = snapshot.ports.get(usize::from(port)) else {
                return;
            };
            let hop = if info.on_link(ip) {
                Some(ip)
            } else {
                info.gateway
            };
            let Some(hop) = hop else { return };
            let is_static = self.config.dataplane.ports[usize::from(port)]
                .neighbors
                .iter()
                .any(|n| n.ip == hop);
            if !is_static && hop != info.address && !wanted.contains(&(port, hop)) {
                wanted.push((port, hop));
            }
        };
        for (i, port) in snapshot.ports.iter().enumerate() {
            if let Some(gw) = port.gateway {
                want(i as u16, gw);
            }
        }
        if let RoleSnapshot::Gateway(g) = &snapshot.role {
            for t in &g.targets {
                want(g.target_port, t.ip);
            }
            for e in &g.endpoints {
                want(e.port, e.next_hop);
            }
        }
        wanted
    }

    /// Compiles and sends a new snapshot to every worker, and prints the targets' changes
    /// of state it carries.
    fn publish(&mut self, io: &Io<'_, '_, '_>, now: u64) {
        match self.compile(now) {
            Ok(snapshot) => {
                let statuses = self.target_statuses(now);
                self.print_changes(&statuses);
                if let (Some(log), RoleSnapshot::Appliance(a)) =
                    (&mut self.flow_log, &snapshot.role)
                {
                    log.note_policy(&a.policy);
                }
                self.snapshot = Arc::new(snapshot);
                self.unsent.clear();
                self.unsent.resize(io.links.len(), true);
                self.send_snapshot(io);
            }
            Err(e) => eprintln!("sluice: kept snapshot {}: {e}", self.snapshot.epoch),
        }
    }

    /// Writes the flows in `self.ended` to the flow log, if there is one, and empties it.
    fn log_ended(&mut self, io: &Io<'_, '_, '_>, reason: FlowEndReason, now: u64) {
        let (Some(log), Some(stats)) = (&mut self.flow_log, io.stats) else {
            self.ended.clear();
            return;
        };
        if self.ended.is_empty() {
            return;
        }
        for flow in self.ended.drain(..) {
            if let Err(e) = log.ended(&flow, stats, io.records, reason, now) {
                eprintln!("sluice: {e}");
            }
        }
        if let Err(e) = log.flush() {
            eprintln!("sluice: {e}");
        }
    }

    /// Writes the flows workers evicted from a full table since the last call to the flow
    /// log, if there is one.
    fn log_evicted(&mut self, io: &Io<'_, '_, '_>, now: u64) {
        let (Some(log), Some(stats)) = (&mut self.flow_log, io.stats) else {
            return;
        };
        let mut failed = None;
        let lost = stats.drain_retired(&mut self.retired_cursor, |flow| {
            if let Err(e) = log.evicted(flow, now) {
                failed = Some(e);
            }
        });
        log.lost(lost);
        if let Some(e) = failed {
            eprintln!("sluice: {e}");
        }
    }

    /// At shutdown, after the workers stopped: every flow still live ends in the flow log
    /// (reason `shutdown`), which is then closed, with what it wrote said on stderr.
    fn close_flow_log(&mut self, io: &Io<'_, '_, '_>) {
        if self.flow_log.is_none() {
            return;
        }
        let now = self.clock.ns(io.eal.tsc());
        self.log_evicted(io, now);
        let ended = &mut self.ended;
        // Every flow is idle for more than zero at a second from now.
        io.table.expire(
            now + 1_000_000_000,
            &mut ExpiryCursor::new(),
            self.capacity,
            |_| 0,
            |flow| ended.push(*flow),
        );
        self.log_ended(io, FlowEndReason::Shutdown, now);
        if let Some(log) = self.flow_log.take() {
            let missed = log.missed();
            match log.close() {
                Ok(stats) => eprintln!(
                    "sluice: flow log: {} records written, {} lost, {} rotations, {missed} flows without totals",
                    stats.records, stats.lost, stats.rotations
                ),
                Err(e) => eprintln!("sluice: {e}"),
            }
        }
    }

    /// Sends the latest snapshot to every worker that has not got it yet. A worker takes one
    /// per round, so its channel is full only while it stalls; it is then sent again on the
    /// next round of the control loop, so that no worker stays on an old epoch.
    fn send_snapshot(&mut self, io: &Io<'_, '_, '_>) {
        for (link, unsent) in io.links.iter().zip(self.unsent.iter_mut()) {
            if *unsent && link.snapshots.try_send(Arc::clone(&self.snapshot)).is_ok() {
                *unsent = false;
            }
        }
    }

    /// Re-reads the configuration on SIGHUP, printing what happened. A bad file changes
    /// nothing; changes to `[dataplane]` or the role wait for a restart.
    #[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
    fn reload(&mut self, io: &Io<'_, '_, '_>, now: u64) {
        match self.reload_file(io, now) {
            Ok(epoch) => println!(
                "sluice: reloaded {}: snapshot {epoch}",
                self.config_path.display()
            ),
            Err(e) => {
                eprintln!("{}", e.message);
                eprintln!(
                    "sluice: reload of {}: still running the previous configuration",
                    self.config_path.display()
                );
            }
        }
    }

    /// Re-reads the configuration file, lays the API's state over it and applies the
    /// result; returns the new snapshot's epoch. On any error nothing changes.
    fn reload_file(&mut self, io: &Io<'_, '_, '_>, now: u64) -> Result<u64, ApiError> {
        let path = self.config_path.clone();
        let file = sluice_config::load(&path).map_err(|d| {
            ApiError::validation(format!("{d}{} error(s) in {}", d.len(), path.display()))
        })?;
        let running = manage::effective(&file, &self.state)?;
        self.apply_config(io, running, now)?;
        self.file_config = file;
        Ok(self.snapshot.epoch)
    }

    /// Runs `new` from now on: the registry follows its targets (removed ones drain, added
    /// ones start `initial`), health checks follow, and a new snapshot is published.
    #[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
    fn apply_config(
        &mut self,
        io: &Io<'_, '_, '_>,
        mut new: Config,
        now: u64,
    ) -> Result<(), ApiError> {
        if core::mem::discriminant(&new.role) != core::mem::discriminant(&self.config.role) {
            return Err(ApiError::validation(
                "the role cannot change while running; restart sluice",
            ));
        }
        if new.dataplane != self.config.dataplane {
            eprintln!(
                "sluice: [dataplane] changes in {} take effect at the next restart",
                self.config_path.display()
            );
            new.dataplane = self.config.dataplane.clone();
        }
        let (mut added, mut removed) = (0, 0);
        if let Role::Gateway(g) = &new.role {
            for r in &mut self.registry {
                let still = g.targets.iter().find(|t| t.ip == r.target.ip);
                match (still, r.deregistered_ns) {
                    (Some(t), Some(_)) => {
                        r.deregistered_ns = None;
                        r.target = t.clone();
                        added += 1;
                    }
                    (Some(t), None) => r.target = t.clone(),
                    (None, None) => {
                        r.deregistered_ns = Some(now);
                        removed += 1;
                    }
                    (None, Some(_)) => {}
                }
            }
            for t in &g.targets {
                if !self.registry.iter().any(|r| r.target.ip == t.ip) {
                    self.registry.push(Registered {
                        target: t.clone(),
                        deregistered_ns: None,
                    });
                    added += 1;
                }
            }
        }
        self.config = new;
        if let Some(backend) = &self.backend {
            backend.set_names(manage::names_of(&self.config));
        }
        if let Some(api) = &self.api {
            api.update(&self.config.management);
        }
        // Removed targets stop being checked and added ones start `initial` before the
        // snapshot that has them.
        self.sync_health();
        self.publish(io, now);
        // The port facing the targets may have changed with them.
        self.sync_health();
        let wanted = self.wanted();
        if self.resolver.set_wanted(&wanted, now) {
            self.publish(io, now);
        }
        if added + removed > 0 {
            println!("sluice: {added} target(s) registered, {removed} deregistered");
        }
        Ok(())
    }

    /// The control loop; returns when told to stop or the duration is over.
    #[expect(clippy::print_stdout, reason = "the CLI's output goes to stdout")]
    fn run_loop<'pool>(&mut self, io: &Io<'_, 'pool, '_>, kernel: &mut [KernelPort<'_, 'pool>]) {
        let mut next_resolve = Instant::now();
        let mut next_status = io.status_interval.map(|d| Instant::now() + d);
        let mut last_sweep = self.clock.ns(io.eal.tsc());
        let mut next_inject = 0_usize;
        let mut next_dataplane_check = Instant::now();
        let mut burst: [Option<sluice_dpdk::Mbuf<'pool>>; 64] = [const { None }; 64];
        loop {
            if io.stop.load(Ordering::Relaxed) {
                break;
            }
            if io.duration.is_some_and(|d| io.started.elapsed() >= d) {
                break;
            }
            let now = self.clock.ns(io.eal.tsc());
            let mut busy = false;
            let mut learned = false;

            // Workers -> kernel, reading ARP on the way.
            for mailbox in io.mailboxes {
                for _ in 0..QUEUE_DEPTH {
                    let Some((port, m)) = mailbox.exceptions.pop() else {
                        break;
                    };
                    busy = true;
                    if let Some((ip, mac)) = neighbors::arp_sender(m.data()) {
                        learned |= self.resolver.learn(port, ip, mac, now);
                    }
                    match kernel.get_mut(usize::from(port)) {
                        Some(k) => {
                            if k.out.push(m).is_err() {
                                self.totals.kernel_drops += 1;
                            }
                        }
                        None => self.totals.kernel_drops += 1,
                    }
                }
            }
            // Kernel -> workers.
            for (port, k) in kernel.iter_mut().enumerate() {
                k.tx.tx_burst(&mut k.out);
                // What the kernel's queue refuses now is dropped: the kernel retransmits.
                self.totals.kernel_drops += k.out.clear() as u64;
                let n = k.rx.rx_burst(&mut burst);
                for slot in &mut burst[..n] {
                    let Some(m) = slot.take() else { continue };
                    busy = true;
                    next_inject = (next_inject + 1) % io.mailboxes.len();
                    if io.mailboxes[next_inject]
                        .inject
                        .push((port as u16, m))
                        .is_err()
                    {
                        self.totals.kernel_drops += 1;
                    } else {
                        self.totals.from_kernel += 1;
                    }
                }
            }

            // ARP requests.
            if Instant::now() >= next_resolve {
                next_resolve = Instant::now() + RESOLVER_PERIOD;
                let mut due = Vec::new();
                learned |= self.resolver.due(now, &mut due);
                for (port, ip) in due {
                    self.send_arp_request(io, port, ip);
                }
            }
            if learned {
                self.publish(io, now);
            }

            // Health-check outcomes; a change of state is published at once.
            let health_changed = self.health.as_mut().is_some_and(|h| !h.poll().is_empty());
            // Deregistered targets whose delay ended become unused.
            let delay_over = if let Role::Gateway(g) = &self.config.role {
                let delay = u64::from(
                    g.target_group
                        .attributes
                        .deregistration_delay_timeout_seconds,
                ) * 1_000_000_000;
                self.registry.iter().zip(&self.printed).any(|(r, printed)| {
                    *printed == TargetState::Draining
                        && r.deregistered_ns
                            .is_some_and(|t| now.saturating_sub(t) >= delay)
                })
            } else {
                false
            };
            if health_changed || delay_over {
                self.publish(io, now);
            }
            if self.dataplane_status.is_some() && Instant::now() >= next_dataplane_check {
                next_dataplane_check = Instant::now() + DATAPLANE_HEALTH_PERIOD;
                self.judge_dataplane(io);
            }

            if io.drain.swap(false, Ordering::Relaxed) && !self.draining {
                self.draining = true;
                println!("sluice: draining (SIGUSR1): health checks now get 503");
                self.judge_dataplane(io);
            }
            if io.undrain.swap(false, Ordering::Relaxed) && self.draining {
                self.draining = false;
                println!("sluice: no longer draining (SIGUSR2)");
                self.judge_dataplane(io);
            }
            if io.reload.swap(false, Ordering::Relaxed) {
                self.reload(io, now);
            }

            // Reports and retired snapshots.
            for (w, mailbox) in io.mailboxes.iter().enumerate() {
                while let Some(mut r) = mailbox.reports.pop() {
                    self.totals.take(w, &r);
                    r.burst_cycles.reset();
                    r.packet_cycles.reset();
                    let _ = mailbox.free_reports.push(r);
                }
            }
            for link in io.links {
                while link.retired.try_recv().is_ok() {}
            }
            if self.unsent.contains(&true) {
                self.send_snapshot(io);
            }

            // Management API requests, answered in order.
            if let Some(calls) = self.calls.clone() {
                for _ in 0..16 {
                    let Ok((request, answer)) = calls.try_recv() else {
                        break;
                    };
                    busy = true;
                    let result = self.execute(io, &request, now);
                    let _ = answer.send(result);
                }
            }
            if self.rates.due() {
                let (c, _) = self.totals.merged();
                self.rates.sample(c.rx_packets, c.rx_bytes);
                self.fill_metrics(io);
            }

            // Idle flows, a slice of the table at a time.
            let elapsed = now.saturating_sub(last_sweep);
            if elapsed >= 10_000_000 {
                last_sweep = now;
                let budget = usize::try_from(
                    u128::from(elapsed) * self.capacity as u128 / u128::from(SWEEP_PERIOD_NS),
                )
                .unwrap_or(usize::MAX)
                .clamp(1, self.capacity);
                let snapshot = Arc::clone(&self.snapshot);
                let logging = self.flow_log.is_some();
                let ended = &mut self.ended;
                let expired = io.table.expire(
                    now,
                    &mut self.cursor,
                    budget,
                    |key| match &snapshot.role {
                        RoleSnapshot::Gateway(g) => g.attributes.idle_timeout_ns(key),
                        RoleSnapshot::Appliance(a) => a.idle_timeout_ns(key),
                    },
                    |flow| {
                        if logging {
                            ended.push(*flow);
                        }
                    },
                );
                self.totals.expired += expired as u64;
                self.log_ended(io, FlowEndReason::Expired, now);
                self.log_evicted(io, now);
            }

            if let (Some(at), Some(every)) = (next_status, io.status_interval)
                && Instant::now() >= at
            {
                next_status = Some(at + every);
                self.totals.status(io.table, every, io.interactive);
            }

            if !busy {
                std::thread::sleep(CONTROL_NAP);
            }
        }
        if io.interactive {
            self.totals.end_status_line();
        }
    }

    /// Sends a broadcast ARP request for `ip` out of `port`, through worker 0.
    fn send_arp_request(&mut self, io: &Io<'_, '_, '_>, port: u16, ip: Ipv4Addr) {
        let Some(info) = self.snapshot.ports.get(usize::from(port)) else {
            return;
        };
        let Some(mut m) = io.pool.alloc() else {
            self.totals.kernel_drops += 1;
            return;
        };
        // Padded to Ethernet's 60-byte minimum.
        let Some(frame) = m.append(60) else { return };
        frame.fill(0);
        neighbors::write_request(frame, info.mac, info.address, ip);
        if io.mailboxes[0].inject.push((port, m)).is_err() {
            self.totals.kernel_drops += 1;
        }
    }
}

/// Each registry entry's state: deregistered ones drain for the deregistration delay, then
/// are unused; registered ones have what their health checks show (`initial` before any),
/// or are healthy when health checks are off.
fn target_statuses(
    config: &Config,
    registry: &[Registered],
    health: Option<&Checker>,
    assume_healthy: bool,
    now: u64,
) -> Vec<TargetStatus> {
    let Role::Gateway(g) = &config.role else {
        return Vec::new();
    };
    let delay_ns = u64::from(
        g.target_group
            .attributes
            .deregistration_delay_timeout_seconds,
    ) * 1_000_000_000;
    registry
        .iter()
        .map(|r| match r.deregistered_ns {
            None if assume_healthy => TargetStatus {
                state: TargetState::Healthy,
                reason: None,
                since: None,
            },
            None => {
                let h = health.and_then(|h| h.health(r.target.ip));
                TargetStatus {
                    state: h.map_or(TargetState::Initial, health::TargetHealth::state),
                    reason: h.map_or(Some(Reason::RegistrationInProgress), |h| h.reason()),
                    since: None,
                }
            }
            Some(t) if now.saturating_sub(t) < delay_ns => TargetStatus {
                state: TargetState::Draining,
                reason: Some(Reason::DeregistrationInProgress),
                since: Some(t),
            },
            Some(t) => TargetStatus {
                state: TargetState::Unused,
                reason: Some(Reason::NotRegistered),
                since: Some(t),
            },
        })
        .collect()
}

/// Compiles `config` with the targets of `registry` (in its order, which flows index) in
/// the states of `statuses` (one per entry) and the neighbours the resolver learned into
/// snapshot `epoch`.
fn compile_snapshot(
    config: &Config,
    registry: &[Registered],
    statuses: &[TargetStatus],
    device_macs: &[[u8; 6]],
    resolver: &Resolver,
    epoch: u64,
) -> Result<Snapshot, RunError> {
    let mut config = config.clone();
    let mut facts = RuntimeFacts::default();
    for (i, port) in config.dataplane.ports.iter().enumerate() {
        facts.ports.insert(
            port.name.clone(),
            PortFacts {
                device_mac: device_macs.get(i).map(|m| EthernetAddress(*m)),
                neighbors: resolver.neighbors(u16::try_from(i).unwrap_or(u16::MAX)),
            },
        );
    }
    if let Role::Gateway(g) = &mut config.role {
        g.targets = registry.iter().map(|r| r.target.clone()).collect();
        for (r, s) in registry.iter().zip(statuses) {
            facts.targets.insert(
                r.target.ip,
                TargetFacts {
                    state: s.state,
                    draining_since_ns: s.since,
                },
            );
        }
    }
    Ok(sluice_config::compile(&config, &facts, epoch)?)
}

/// Where health checks leave from, for people.
/// Asks for transparent huge pages for the flow-sized tables, then faults every page in, so
/// that neither TLB misses on 4 KiB pages nor first-touch page faults reach the workers (see
/// `sluice_dpdk::memory`). Returns the line the start-up banner prints about it.
fn prepare_flow_memory(
    table: &FlowTable,
    records: &FlowRecords,
    stats: Option<&FlowStats>,
) -> String {
    let mode = sluice_dpdk::memory::HugePageMode::current();
    let regions = [
        Some(table.memory()),
        Some(records.memory()),
        stats.map(FlowStats::memory),
    ];
    let mut total = 0;
    let mut refused = None;
    for range in regions.into_iter().flatten() {
        total += range.len();
        if mode.applies()
            && let Err(e) = sluice_dpdk::memory::advise_huge_pages(range)
        {
            refused = Some(e);
        }
    }
    table.prefault();
    records.prefault();
    if let Some(s) = stats {
        s.prefault();
    }
    let mib = total as f64 / f64::from(1 << 20);
    match (mode, refused) {
        (_, Some(e)) => format!(
            "  flow memory: {mib:.1} MiB in 4 KiB pages (transparent huge pages refused: {e})"
        ),
        (sluice_dpdk::memory::HugePageMode::Never, None) => format!(
            "  flow memory: {mib:.1} MiB in 4 KiB pages (transparent huge pages are off: \
             echo madvise > /sys/kernel/mm/transparent_hugepage/enabled)"
        ),
        (_, None) => format!("  flow memory: {mib:.1} MiB, transparent huge pages advised"),
    }
}

fn describe_source(source: &health::Source) -> String {
    match (&source.address, &source.device) {
        (Some(a), Some(d)) => format!("{a} on {d}"),
        (Some(a), None) => a.to_string(),
        (None, Some(d)) => d.clone(),
        (None, None) => "the kernel's choice of address".to_owned(),
    }
}

/// Keeps the previous snapshot's inspection policy (its generation, and the hit counts that
/// go with it) when the new one compiled the same definition; a changed policy gets the next
/// generation, so that every flow decided under the previous one is classified again at its
/// next packet.
fn carry_policy(new: &mut Snapshot, old: &Snapshot) {
    if let (RoleSnapshot::Appliance(new), RoleSnapshot::Appliance(old)) = (&mut new.role, &old.role)
    {
        if new.policy.definition() == old.policy.definition() {
            new.policy = Arc::clone(&old.policy);
        } else if let Some(policy) = Arc::get_mut(&mut new.policy) {
            policy.set_generation(old.policy.generation().wrapping_add(1));
        }
    }
}

/// The appliance's policy at the stop: how many flows each rule (and the default) decided
/// under the current policy, and how many rejects were answered.
fn policy_report(policy: &sluice_engine::policy::Policy, rejects: u64) -> String {
    use std::fmt::Write as _;
    let definition = policy.definition();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  policy          generation {}, {} rules, default {}, {} policy rejects answered",
        policy.generation(),
        definition.rules.len(),
        definition.default_action.name(),
        rejects
    );
    let hits = policy.hits();
    let names = definition
        .rules
        .iter()
        .map(|r| (r.name.as_str(), r.action.name()))
        .chain([("(default)", definition.default_action.name())]);
    for ((name, action), n) in names.zip(hits) {
        if n > 0 {
            let _ = writeln!(s, "    {name:<22} {n:>10}  flows, {action}");
        }
    }
    s
}
