//! The `[dataplane]` section: cores, DPDK resources, the flow table and the ports.
//!
//! Both roles share it. Everything here is fixed when the data plane starts: DPDK sizes its
//! mempools and rings once, and the flow table is allocated once, so changing these values
//! needs a restart rather than a reload.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use super::types::{MacAddr, keyword_enum};

/// `[dataplane]`: how the DPDK data plane runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataplane {
    /// `eal_args`: extra DPDK EAL arguments, passed after the ones sluice derives (cores from
    /// `worker_cores` and `control_core`, devices from the ports). Default: empty. Core
    /// selection (`-l`, `-c`, `--lcores`, `--main-lcore`) and `--vdev` are refused because
    /// sluice sets them.
    pub eal_args: Vec<String>,
    /// `worker_cores`: the CPU cores that run packet workers, one worker per core. Required,
    /// non-empty, unique, each in [`crate::limits::CORE`] (0–1023).
    pub worker_cores: Vec<u16>,
    /// `control_core`: the CPU core of the control thread (EAL main lcore). Default: 0.
    /// Must not be a worker core.
    pub control_core: u16,
    /// `poll_mode`: how idle workers poll. Default: `busy`.
    pub poll_mode: PollMode,
    /// `burst_size`: packets per receive/transmit burst, 1–256. Default: 32.
    pub burst_size: u16,
    /// `rx_descriptors`: receive ring size per queue, a power of two in 64–16384.
    /// Default: 1024.
    pub rx_descriptors: u16,
    /// `tx_descriptors`: transmit ring size per queue, a power of two in 64–16384.
    /// Default: 1024.
    pub tx_descriptors: u16,
    /// `mbufs`: packet buffers per mempool, 1023–16777215. Default: 16383 (DPDK pools are
    /// most memory-efficient at 2^n − 1).
    pub mbufs: u32,
    /// `mbuf_cache`: per-core mempool cache, 0–512 and at most `mbufs / 1.5` (DPDK's rule).
    /// Default: 256.
    pub mbuf_cache: u32,
    /// `[dataplane.flow_table]`: flow table sizing. Optional; all fields default.
    pub flow_table: FlowTable,
    /// `[[dataplane.port]]`: the network ports, at least one.
    #[serde(rename = "port")]
    pub ports: Vec<Port>,
}

/// `[dataplane.flow_table]`: the shared flow table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowTable {
    /// `capacity`: the number of flow entries, allocated at start. A power of two in
    /// 1024–67108864 (64 Mi). Default: 1048576.
    pub capacity: u32,
}

/// `[[dataplane.port]]`: one DPDK port with its IPv4 interface address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Port {
    /// `name`: the port's name, used by endpoints and in metrics and the kernel TAP
    /// interface: 1–15 characters of `a-z`, `0-9`, `_` and `-`. Required, unique.
    pub name: String,
    /// `device`: the DPDK device: a virtual device spec whose driver is `net_af_packet`,
    /// `net_tap`, `net_pcap`, `net_ring` or `net_null` (such as
    /// `net_af_packet0,iface=veth-gw`), or a PCI address `DDDD:BB:DD.F`. Required; the device
    /// name (before the first comma) is unique.
    pub device: String,
    /// `mtu`: the port MTU in bytes, 68–9216. Default: 1500.
    pub mtu: u16,
    /// `address`: the port's IPv4 address with its prefix length, such as `10.0.0.1/24`.
    /// Required; neither the network nor the broadcast address of its subnet; unique, and
    /// the subnets of two ports must not overlap.
    pub address: Ipv4Net,
    /// `mac`: overrides the device's MAC address; must be unicast. Optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// `gateway`: the default next hop out of this port; inside the port's subnet and not
    /// the port's own address. Optional; at most one port may have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// `[[dataplane.port.neighbor]]`: static ARP entries. Default: none.
    #[serde(rename = "neighbor")]
    pub neighbors: Vec<Neighbor>,
}

/// `[[dataplane.port.neighbor]]`: a static ARP entry on a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Neighbor {
    /// `ip`: the neighbour's IPv4 address, inside the port's subnet, not the port's own
    /// address, unique on the port. Required.
    pub ip: Ipv4Addr,
    /// `mac`: the neighbour's unicast MAC address. Required.
    pub mac: MacAddr,
}

keyword_enum! {
    /// `dataplane.poll_mode`: how workers poll their queues.
    pub enum PollMode {
        /// Spin on the queues without pause: lowest latency, one full core per worker.
        Busy = "busy",
        /// Back off (pause, then sleep briefly) after empty polls: saves power and shared
        /// cores in labs, at the cost of wake-up latency.
        Adaptive = "adaptive",
    }
}

impl Dataplane {
    /// Default `control_core`.
    pub const DEFAULT_CONTROL_CORE: u16 = 0;
    /// Default `poll_mode`.
    pub const DEFAULT_POLL_MODE: PollMode = PollMode::Busy;
    /// Default `burst_size`.
    pub const DEFAULT_BURST_SIZE: u16 = 32;
    /// Default `rx_descriptors` and `tx_descriptors`.
    pub const DEFAULT_DESCRIPTORS: u16 = 1024;
    /// Default `mbufs`.
    pub const DEFAULT_MBUFS: u32 = 16383;
    /// Default `mbuf_cache`.
    pub const DEFAULT_MBUF_CACHE: u32 = 256;
    /// EAL arguments sluice derives itself and refuses in `eal_args`.
    pub const RESERVED_EAL_ARGS: [&'static str; 6] = [
        "-l",
        "-c",
        "--lcores",
        "--main-lcore",
        "--master-lcore",
        "--vdev",
    ];

    /// Returns the port called `name`.
    pub fn port(&self, name: &str) -> Option<&Port> {
        self.ports.iter().find(|port| port.name == name)
    }
}

impl FlowTable {
    /// Default `capacity`.
    pub const DEFAULT_CAPACITY: u32 = 1 << 20;
}

impl Default for FlowTable {
    fn default() -> Self {
        Self {
            capacity: Self::DEFAULT_CAPACITY,
        }
    }
}

impl Port {
    /// Default `mtu`.
    pub const DEFAULT_MTU: u16 = 1500;
    /// The virtual-device drivers a `device` may name.
    pub const VDEV_DRIVERS: [&'static str; 5] = [
        "net_af_packet",
        "net_tap",
        "net_pcap",
        "net_ring",
        "net_null",
    ];

    /// The DPDK device name: the part of `device` before the first comma.
    pub fn device_name(&self) -> &str {
        self.device.split(',').next().unwrap_or_default()
    }
}
