//! What `sluice run` will set up, worked out from the configuration before anything starts:
//! the EAL arguments, every port with its queues and kernel (TAP) interface, the mbuf pool
//! and the memory it all takes. `sluice run --dry-run` prints it; the runtime follows it.
//!
//! Nothing here touches DPDK, so the plan and its checks are testable anywhere.

use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use sluice_config::schema::dataplane::PollMode;
use sluice_config::{Config, Role};
use sluice_engine::appliance::FlowRecords;
use sluice_engine::flow_table::FlowTable;

/// Bytes of headroom DPDK keeps in front of each mbuf's data (`RTE_PKTMBUF_HEADROOM`).
pub const MBUF_HEADROOM: u32 = 128;
/// The smallest data room sluice gives an mbuf (`RTE_MBUF_DEFAULT_BUF_SIZE`).
pub const MIN_DATA_ROOM: u32 = 2048 + MBUF_HEADROOM;
/// What DPDK spends per mbuf besides its data room: the `rte_mbuf` header (two cache lines)
/// and the mempool's object header and padding.
const MBUF_OVERHEAD: u64 = 128 + 64;
/// Descriptors per queue of a kernel (TAP) interface: the exception path is light.
pub const KERNEL_DESCRIPTORS: u16 = 256;
/// Memory EAL needs besides the pool when it runs without hugepages (rings, descriptors,
/// driver state), and the margin `-m` adds on top of the pool.
const EAL_BASE_MIB: u64 = 64;

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `gateway` or `appliance`.
    pub role: &'static str,
    /// The arguments `rte_eal_init` receives (after the program name).
    pub eal_args: Vec<String>,
    /// The control thread's core (EAL's main lcore).
    pub control_core: u16,
    /// One worker per core, in order; worker `i` owns queue `i` of every port.
    pub worker_cores: Vec<u16>,
    /// Busy or adaptive polling.
    pub poll_mode: PollMode,
    /// Packets per burst.
    pub burst: u16,
    /// The ports, in configuration order (their index is the engine's port id).
    pub ports: Vec<PortPlan>,
    /// The mbuf pool shared by every port.
    pub pool: PoolPlan,
    /// Flow-table entries.
    pub flow_capacity: u32,
    /// Whether EAL runs on hugepages (no `--no-huge` among the arguments).
    pub hugepages: bool,
}

/// One port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// The configured name (also the kernel interface's name).
    pub name: String,
    /// The DPDK device as configured, with arguments sluice added (af_packet's `qpairs`).
    pub device: String,
    /// The device name EAL registers the port under: a PCI address or the virtual device's
    /// name before its first comma.
    pub device_name: String,
    /// Whether it is a PCI device (else a virtual one given with `--vdev`).
    pub pci: bool,
    /// The DPDK name of its exception-path TAP device.
    pub tap_name: String,
    /// RX queues (one per worker).
    pub rx_queues: u16,
    /// TX queues (one per worker).
    pub tx_queues: u16,
    /// Descriptors per RX queue.
    pub rx_descriptors: u16,
    /// Descriptors per TX queue.
    pub tx_descriptors: u16,
    /// The MTU.
    pub mtu: u16,
    /// The port's address and prefix length.
    pub address: (Ipv4Addr, u8),
    /// The configured MAC address, if any (else the device's).
    pub mac: Option<[u8; 6]>,
}

/// The mbuf pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPlan {
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// Per-core cache.
    pub cache: u32,
    /// Bytes of buffer per mbuf, headroom included: the largest frame of any port fits one
    /// mbuf, so packets are never chained.
    pub data_room: u16,
    /// The fewest mbufs that keep every descriptor ring, cache and burst supplied.
    pub needed: u32,
}

/// Why a configuration cannot be run as planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Too few mbufs for the rings, caches and bursts.
    #[error(
        "not enough mbufs: the rings, caches and bursts of {ports} ports with {workers} workers need {needed}, dataplane.mbufs is {mbufs}\n  hint: raise dataplane.mbufs to at least {needed} (2^n - 1 packs best), or lower rx_descriptors/tx_descriptors"
    )]
    NotEnoughMbufs {
        /// Ports, kernel interfaces included.
        ports: usize,
        /// Workers.
        workers: usize,
        /// The minimum.
        needed: u32,
        /// The configured count.
        mbufs: u32,
    },
    /// An EAL argument in the configuration conflicts with one sluice must set.
    #[error(
        "dataplane.eal_args: {arg:?} cannot be combined with {with:?}\n  hint: DPDK 22.11 refuses that pair; without hugepages use --no-huge --no-shconf, with hugepages --in-memory"
    )]
    EalConflict {
        /// The argument.
        arg: String,
        /// What it conflicts with.
        with: String,
    },
    /// A port's frames (MTU plus GENEVE) do not fit the largest mbuf.
    #[error("port {port}: an MTU of {mtu} needs mbufs larger than 65535 bytes")]
    MtuTooLarge {
        /// The port.
        port: String,
        /// Its MTU.
        mtu: u16,
    },
}

/// Whether `device` is a PCI address (`DDDD:BB:DD.F`).
fn is_pci(device: &str) -> bool {
    let name = device.split(',').next().unwrap_or(device);
    let parts: Vec<&str> = name.split([':', '.']).collect();
    parts.len() == 4 && parts.iter().all(|p| u32::from_str_radix(p, 16).is_ok())
}

/// Whether `args` has `flag`, alone or as `flag=...`.
fn has_arg(args: &[String], flag: &str) -> bool {
    args.iter()
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
}

/// Works out the plan for `config`. `pid` makes the EAL file prefix unique, so that several
/// sluice processes (a lab, tests) never collide on DPDK's runtime files.
pub fn plan(config: &Config, pid: u32) -> Result<Plan, PlanError> {
    let dp = &config.dataplane;
    let workers = u16::try_from(dp.worker_cores.len()).unwrap_or(u16::MAX);
    let hugepages = !has_arg(&dp.eal_args, "--no-huge");
    if !hugepages && has_arg(&dp.eal_args, "--in-memory") {
        return Err(PlanError::EalConflict {
            arg: "--in-memory".into(),
            with: "--no-huge".into(),
        });
    }

    let mut ports = Vec::with_capacity(dp.ports.len());
    let mut largest_frame = 0_u32;
    for (i, port) in dp.ports.iter().enumerate() {
        let mut device = port.device.clone();
        let device_name = device.split(',').next().unwrap_or(&device).to_owned();
        // af_packet gives one queue pair unless asked: one per worker.
        if device_name.starts_with("net_af_packet") && !device.contains("qpairs=") {
            device.push_str(&format!(",qpairs={workers}"));
        }
        // The frame (Ethernet, two VLAN tags, FCS) of the MTU, and the GENEVE a gateway
        // prepends in the headroom, must fit one mbuf.
        largest_frame = largest_frame.max(u32::from(port.mtu) + 26);
        if u32::from(port.mtu) + 26 + MBUF_HEADROOM > u32::from(u16::MAX) {
            return Err(PlanError::MtuTooLarge {
                port: port.name.clone(),
                mtu: port.mtu,
            });
        }
        ports.push(PortPlan {
            name: port.name.clone(),
            pci: is_pci(&device_name),
            device,
            device_name,
            tap_name: format!("net_tap_sluice{i}"),
            rx_queues: workers,
            tx_queues: workers,
            rx_descriptors: dp.rx_descriptors,
            tx_descriptors: dp.tx_descriptors,
            mtu: port.mtu,
            address: (port.address.addr(), port.address.prefix_len()),
            mac: port.mac.map(|m| m.0),
        });
    }
    let data_room = (largest_frame + MBUF_HEADROOM).max(MIN_DATA_ROOM);
    // Round to whole cache lines.
    let data_room = u16::try_from(data_room.div_ceil(64) * 64).unwrap_or(u16::MAX);

    // Every RX descriptor holds an mbuf; TX rings may hold theirs until the driver frees
    // them; each lcore's cache; and the bursts in flight (RX array, TX buffers). Kernel
    // (TAP) ports have one queue pair of KERNEL_DESCRIPTORS each. Frames on their way to or
    // from the kernel are few and transient: a pool that runs dry shows as `no mbuf`.
    let (rx_desc, tx_desc) = (u32::from(dp.rx_descriptors), u32::from(dp.tx_descriptors));
    let n_ports = u32::try_from(ports.len()).unwrap_or(u32::MAX);
    let workers32 = u32::from(workers);
    let burst = u32::from(dp.burst_size);
    let needed = n_ports * workers32 * (rx_desc + tx_desc)
        + n_ports * 2 * u32::from(KERNEL_DESCRIPTORS)
        + (workers32 + 1) * dp.mbuf_cache
        + workers32 * burst * (1 + 2 * n_ports);
    if dp.mbufs < needed {
        return Err(PlanError::NotEnoughMbufs {
            ports: ports.len() * 2,
            workers: dp.worker_cores.len(),
            needed,
            mbufs: dp.mbufs,
        });
    }
    let pool = PoolPlan {
        mbufs: dp.mbufs,
        cache: dp.mbuf_cache,
        data_room,
        needed,
    };

    let mut eal_args = vec![
        "-l".to_owned(),
        dp.control_core.to_string(),
        "--main-lcore".to_owned(),
        dp.control_core.to_string(),
    ];
    if !has_arg(&dp.eal_args, "--file-prefix") {
        eal_args.push(format!("--file-prefix=sluice-{pid}"));
    }
    if hugepages {
        if !has_arg(&dp.eal_args, "--in-memory") && !has_arg(&dp.eal_args, "--huge-unlink") {
            eal_args.push("--in-memory".to_owned());
        }
    } else if !has_arg(&dp.eal_args, "-m") && !has_arg(&dp.eal_args, "--socket-mem") {
        // Without hugepages EAL reserves 64 MiB unless told: give it the pool and a margin.
        let mib = memory_of_pool(&pool, false).div_ceil(1 << 20) + EAL_BASE_MIB;
        eal_args.push("-m".to_owned());
        eal_args.push(mib.to_string());
    }
    if !has_arg(&dp.eal_args, "--log-level") {
        eal_args.push("--log-level=lib.eal:error".to_owned());
        // The TAP driver logs harmless failures as errors (no multiq qdisc in the kernel,
        // no secondary processes); sluice reports real TAP failures itself.
        eal_args.push("--log-level=pmd.net.tap:critical".to_owned());
    }
    if !has_arg(&dp.eal_args, "--telemetry") && !has_arg(&dp.eal_args, "--no-telemetry") {
        // sluice exports its own metrics; DPDK's telemetry socket would be one per process.
        eal_args.push("--no-telemetry".to_owned());
    }
    let pci: Vec<&PortPlan> = ports.iter().filter(|p| p.pci).collect();
    if pci.is_empty() {
        eal_args.push("--no-pci".to_owned());
    }
    for port in &ports {
        if port.pci {
            eal_args.push("-a".to_owned());
            eal_args.push(port.device.clone());
        } else {
            eal_args.push(format!("--vdev={}", port.device));
        }
        eal_args.push(format!("--vdev={},iface={}", port.tap_name, port.name));
    }
    eal_args.extend(dp.eal_args.iter().cloned());

    Ok(Plan {
        role: match config.role {
            Role::Gateway(_) => "gateway",
            Role::Appliance(_) => "appliance",
        },
        eal_args,
        control_core: dp.control_core,
        worker_cores: dp.worker_cores.clone(),
        poll_mode: dp.poll_mode,
        burst: dp.burst_size,
        ports,
        pool,
        flow_capacity: dp.flow_table.capacity,
        hugepages,
    })
}

/// Bytes of the mbuf pool. Without hugepages EAL's memory is in 4 KiB pages and a mempool
/// object does not straddle a page boundary, so an mbuf of a little over 2 KiB takes a whole
/// page and a jumbo one whole pages.
fn memory_of_pool(pool: &PoolPlan, hugepages: bool) -> u64 {
    const PAGE: u64 = 4096;
    let element = u64::from(pool.data_room) + MBUF_OVERHEAD;
    let per_mbuf = if hugepages {
        element
    } else if element <= PAGE {
        PAGE / (PAGE / element)
    } else {
        element.div_ceil(PAGE) * PAGE
    };
    u64::from(pool.mbufs) * per_mbuf
}

impl Plan {
    /// Bytes of the flow table (and, for an appliance, its header records), on the heap.
    pub fn flow_memory(&self) -> u64 {
        let per_flow = if self.role == "appliance" {
            FlowTable::BYTES_PER_SLOT + FlowRecords::BYTES_PER_SLOT
        } else {
            FlowTable::BYTES_PER_SLOT
        };
        u64::from(self.flow_capacity) * per_flow as u64
    }

    /// Bytes of DPDK memory the mbuf pool takes.
    pub fn pool_memory(&self) -> u64 {
        memory_of_pool(&self.pool, self.hugepages)
    }
}

/// Mebibytes, rounded, for people.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cores: Vec<String> = self.worker_cores.iter().map(u16::to_string).collect();
        writeln!(f, "role       {}", self.role)?;
        writeln!(
            f,
            "cores      control on {}, {} worker{} on {} ({} polling, bursts of {})",
            self.control_core,
            cores.len(),
            if cores.len() == 1 { "" } else { "s" },
            cores.join(", "),
            match self.poll_mode {
                PollMode::Busy => "busy",
                PollMode::Adaptive => "adaptive",
            },
            self.burst
        )?;
        for (i, p) in self.ports.iter().enumerate() {
            let mac = p.mac.map_or_else(
                || "the device's".to_owned(),
                |m| {
                    let mut s = String::new();
                    for (j, b) in m.iter().enumerate() {
                        let _ = write!(s, "{}{b:02x}", if j == 0 { "" } else { ":" });
                    }
                    s
                },
            );
            writeln!(
                f,
                "port {i}     {} on {} ({}): {}/{}, MAC {mac}, MTU {}, {} RX x {} + {} TX x {} descriptors",
                p.name,
                p.device,
                if p.pci { "PCI" } else { "virtual device" },
                p.address.0,
                p.address.1,
                p.mtu,
                p.rx_queues,
                p.rx_descriptors,
                p.tx_queues,
                p.tx_descriptors,
            )?;
            writeln!(
                f,
                "           kernel interface {} ({}) carries {}/{} for the exception path",
                p.name, p.tap_name, p.address.0, p.address.1
            )?;
        }
        writeln!(
            f,
            "mbufs      {} x {} bytes (cache {} per core; at least {} needed) = {} of {}",
            self.pool.mbufs,
            self.pool.data_room,
            self.pool.cache,
            self.pool.needed,
            mib(self.pool_memory()),
            if self.hugepages {
                "hugepages"
            } else {
                "ordinary memory (--no-huge)"
            }
        )?;
        writeln!(
            f,
            "flows      {} entries = {} on the heap",
            self.flow_capacity,
            mib(self.flow_memory())
        )?;
        writeln!(f, "EAL        {}", self.eal_args.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        sluice_config::parse(text, "test.toml").unwrap()
    }

    const BASE: &str = r#"
role = "appliance"
[dataplane]
eal_args = ["--no-huge", "--no-shconf"]
worker_cores = [1]
[[dataplane.port]]
name = "geneve"
device = "net_af_packet0,iface=app"
address = "10.0.1.10/24"
mtu = 9001
[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#;

    #[test]
    fn af_packet_gets_a_queue_pair_per_worker_and_a_tap() {
        let plan = plan(&config(BASE), 42).unwrap();
        assert_eq!(plan.ports[0].device, "net_af_packet0,iface=app,qpairs=1");
        assert_eq!(plan.ports[0].device_name, "net_af_packet0");
        assert!(!plan.ports[0].pci);
        let args = plan.eal_args.join(" ");
        assert!(
            args.contains("--vdev=net_af_packet0,iface=app,qpairs=1"),
            "{args}"
        );
        assert!(
            args.contains("--vdev=net_tap_sluice0,iface=geneve"),
            "{args}"
        );
        assert!(args.contains("--file-prefix=sluice-42"), "{args}");
        assert!(args.contains("--no-pci"), "{args}");
        assert!(args.starts_with("-l 0 --main-lcore 0"), "{args}");
        // Without hugepages EAL is told how much memory the pool needs.
        let m = plan.eal_args.iter().position(|a| a == "-m").unwrap();
        let mib: u64 = plan.eal_args[m + 1].parse().unwrap();
        assert!(mib * (1 << 20) > plan.pool_memory(), "{mib} MiB");
        // 4 KiB pages: an mbuf takes whole pages (a jumbo one here), never a part of two.
        let element = u64::from(plan.pool.data_room) + MBUF_OVERHEAD;
        assert_eq!(
            plan.pool_memory(),
            u64::from(plan.pool.mbufs) * element.div_ceil(4096) * 4096
        );
        let small = PoolPlan {
            data_room: 2176,
            ..plan.pool
        };
        assert_eq!(memory_of_pool(&small, false), u64::from(small.mbufs) * 4096);
        assert!(memory_of_pool(&small, true) < memory_of_pool(&small, false));
        assert!(!plan.hugepages);
    }

    #[test]
    fn mbufs_hold_the_largest_frame() {
        let plan = plan(&config(BASE), 1).unwrap();
        // 9001 + Ethernet, two tags and FCS + headroom, in cache lines.
        assert!(u32::from(plan.pool.data_room) >= 9001 + 26 + MBUF_HEADROOM);
        assert_eq!(plan.pool.data_room % 64, 0);
        let small = plan_of(&BASE.replace("mtu = 9001", "mtu = 1500"));
        assert_eq!(u32::from(small.pool.data_room), MIN_DATA_ROOM);
    }

    fn plan_of(text: &str) -> Plan {
        plan(&config(text), 1).unwrap()
    }

    #[test]
    fn pci_devices_are_allowed_by_address() {
        let plan = plan_of(&BASE.replace("net_af_packet0,iface=app", "0000:00:05.0"));
        assert!(plan.ports[0].pci);
        let args = plan.eal_args.join(" ");
        assert!(args.contains("-a 0000:00:05.0"), "{args}");
        assert!(!args.contains("--no-pci"), "{args}");
    }

    #[test]
    fn hugepages_run_in_memory() {
        let plan = plan_of(&BASE.replace(r#"["--no-huge", "--no-shconf"]"#, "[]"));
        assert!(plan.hugepages);
        assert!(plan.eal_args.iter().any(|a| a == "--in-memory"));
        assert!(!plan.eal_args.iter().any(|a| a == "-m"));
    }

    #[test]
    fn too_few_mbufs_is_an_error_with_the_number_needed() {
        let text = BASE.replace("worker_cores = [1]", "worker_cores = [1]\nmbufs = 1023");
        let err = plan(&config(&text), 1).unwrap_err();
        let PlanError::NotEnoughMbufs { needed, mbufs, .. } = err else {
            panic!("{err}");
        };
        assert_eq!(mbufs, 1023);
        assert!(needed > 1023);
        assert!(err.to_string().contains("hint: raise dataplane.mbufs"));
    }

    #[test]
    fn in_memory_without_hugepages_is_refused() {
        let text = BASE.replace(r#""--no-shconf""#, r#""--in-memory""#);
        assert!(matches!(
            plan(&config(&text), 1),
            Err(PlanError::EalConflict { .. })
        ));
    }

    #[test]
    fn the_printed_plan_names_cores_ports_and_memory() {
        let text = plan_of(BASE).to_string();
        for needle in [
            "role       appliance",
            "control on 0, 1 worker on 1",
            "geneve on net_af_packet0,iface=app,qpairs=1",
            "kernel interface geneve",
            "MTU 9001",
            "mbufs      16383 x",
            "flows      1048576 entries = 136.0 MiB",
            "EAL        -l 0",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
    }
}
