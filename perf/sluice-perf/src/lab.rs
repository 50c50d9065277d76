//! The lab's setup: sluice's configuration files and `dpdk-testpmd`'s command lines for one
//! scenario, sized alike so the two tools run on the same devices with the same memory.
//!
//! The addresses are those of `perf/run-vs-testpmd` and the engine's test kit: the gateway's
//! uplink 10.0.0.1/24 (MAC 02:00:00:00:00:01) behind the router 10.0.0.254 (…:fe), its
//! appliance port 10.0.1.1/24 (…:02), targets 10.0.1.10 and 10.0.1.11 (…:01:10, …:01:11);
//! the appliance is 10.0.1.10. Neighbours are static, so nothing waits for ARP.
//!
//! Sizing follows sluice's own plan (`control/src/run/plan.rs`): an mbuf's data room is the
//! largest frame a port's MTU allows plus DPDK's headroom, at least 2176 bytes, rounded to
//! 64; testpmd gets the same data room and the same number of mbufs. `net_pcap` with
//! `infinite_rx=1` keeps the whole capture in mbufs from the start, so both pools hold the
//! capture plus [`SPARE_MBUFS`] for rings, caches and bursts.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::scenario::{Baseline, PollMode, Traffic};

/// The memory both tools run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Memory {
    /// 2 MiB hugepages (`--in-memory`): what production runs on.
    Hugepages,
    /// 4 KiB pages (`--no-huge --no-shconf -m`): works anywhere, costs TLB misses (every
    /// mbuf of the default size takes a page of its own).
    NoHuge,
}

/// Mbufs beyond the capture's: descriptors, caches and bursts of a one-worker run (sluice's
/// plan needs about 5 K of them with two ports).
pub const SPARE_MBUFS: u64 = 16_383;
/// DPDK's mbuf headroom.
const HEADROOM: u32 = 128;
/// The smallest data room sluice's plan uses (DPDK's default mbuf).
const MIN_DATA_ROOM: u32 = 2048 + HEADROOM;
/// Bytes an mbuf costs beyond its data room (the mbuf header and the mempool's own).
const MBUF_OVERHEAD: u64 = 128 + 64;
/// The page size of memory without hugepages.
const PAGE: u64 = 4096;
/// EAL memory beyond the pool (rings, descriptors, driver state, the malloc heap).
const EAL_MARGIN_MIB: u64 = 256;
/// GWLB's GENEVE adds this much to an inner packet inside the outer IPv4 (IPv4 20, UDP 8,
/// GENEVE 8, the three options 32).
pub const GENEVE_OVERHEAD: u16 = 68;

/// The ports' MTUs: 1500 when the traffic fits, else 9001 (the appliance port carries the
/// GENEVE, 68 bytes more than the inner packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mtus {
    /// The gateway's uplink (inner packets).
    pub uplink: u16,
    /// The gateway's appliance port and the appliance's port (GENEVE).
    pub geneve: u16,
}

impl Mtus {
    /// The MTUs traffic `t` needs.
    pub fn for_traffic(t: &Traffic) -> Mtus {
        let largest = t.inner_sizes.iter().copied().max().unwrap_or(64);
        let mtu = |bytes: u16| if bytes <= 1500 { 1500 } else { 9001 };
        Mtus {
            uplink: mtu(largest),
            geneve: mtu(largest.saturating_add(GENEVE_OVERHEAD)),
        }
    }

    /// The data room of sluice's mbufs with these MTUs (as its plan computes it).
    pub fn data_room(&self) -> u32 {
        let largest_frame = u32::from(self.uplink.max(self.geneve)) + 26;
        (largest_frame + HEADROOM).max(MIN_DATA_ROOM).div_ceil(64) * 64
    }
}

/// The flow table's capacity for traffic `t`: four slots per packet of a pass, a power of two
/// of at least 1024 — the capacity `sluice simulate` picks for that capture, so the gateway
/// hands out the cookies the generated returns carry.
pub fn flow_capacity(t: &Traffic) -> u32 {
    let want = t.packets().saturating_mul(4).next_power_of_two().max(1024);
    u32::try_from(want.min(1 << 26)).unwrap_or(1 << 26)
}

/// Mbufs for a run that preloads `preloaded` packets.
pub fn mbufs(preloaded: u64) -> u32 {
    u32::try_from(preloaded + SPARE_MBUFS).unwrap_or(u32::MAX)
}

/// Bytes one mbuf takes in a pool: the data room, the mbuf header (128) and the mempool's
/// object header (64); without hugepages, because DPDK keeps an object that fits in a page
/// from crossing a page boundary and the pages are 4 KiB, a whole page for objects of 2 to
/// 4 KiB (the default data room of 2176 takes 4096 bytes, not 2368).
pub fn mbuf_bytes(data_room: u32, memory: Memory) -> u64 {
    let object = u64::from(data_room) + MBUF_OVERHEAD;
    if memory == Memory::NoHuge && object <= PAGE {
        PAGE / (PAGE / object)
    } else {
        object
    }
}

/// Bytes of a pool of `mbufs` mbufs of `data_room` bytes.
pub fn pool_bytes(mbufs: u32, data_room: u32, memory: Memory) -> u64 {
    u64::from(mbufs) * mbuf_bytes(data_room, memory)
}

/// EAL's `-m` for such a pool without hugepages: the pool and a margin for rings, drivers
/// and the heap. Both tools get this (sluice's own estimate counts 2368 bytes per mbuf and
/// runs short of memory with large pools).
pub fn eal_memory_mib(mbufs: u32, data_room: u32) -> u64 {
    pool_bytes(mbufs, data_room, Memory::NoHuge).div_ceil(1 << 20) + EAL_MARGIN_MIB
}

/// The EAL arguments (memory and file prefix) of either tool.
pub fn eal_memory_args(memory: Memory, mbufs: u32, data_room: u32, prefix: &str) -> Vec<String> {
    let mut args = match memory {
        Memory::Hugepages => vec!["--in-memory".to_owned()],
        Memory::NoHuge => vec![
            "--no-huge".to_owned(),
            "--no-shconf".to_owned(),
            "-m".to_owned(),
            eal_memory_mib(mbufs, data_room).to_string(),
        ],
    };
    args.push(format!("--file-prefix={prefix}"));
    args
}

/// A gateway lab.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayLab {
    /// The uplink's DPDK device.
    pub uplink: String,
    /// The appliance port's DPDK device.
    pub appliances: String,
    /// Targets registered (1 or 2).
    pub targets: u8,
    /// Port MTUs.
    pub mtus: Mtus,
    /// Flow-table capacity.
    pub capacity: u32,
    /// Mbufs.
    pub mbufs: u32,
    /// Burst size.
    pub burst: u16,
    /// Poll mode.
    pub poll_mode: PollMode,
    /// EAL arguments.
    pub eal_args: Vec<String>,
}

/// An appliance lab.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplianceLab {
    /// The one port's DPDK device.
    pub device: String,
    /// Port MTUs (the GENEVE one applies).
    pub mtus: Mtus,
    /// Flow-table capacity.
    pub capacity: u32,
    /// Mbufs.
    pub mbufs: u32,
    /// Burst size.
    pub burst: u16,
    /// Poll mode.
    pub poll_mode: PollMode,
    /// EAL arguments.
    pub eal_args: Vec<String>,
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

fn poll_mode(p: PollMode) -> &'static str {
    match p {
        PollMode::Busy => "busy",
        PollMode::Adaptive => "adaptive",
    }
}

/// The `[dataplane]` head shared by both roles.
fn dataplane(
    out: &mut String,
    eal_args: &[String],
    mbufs: u32,
    burst: u16,
    mode: PollMode,
    capacity: u32,
) {
    let _ = write!(
        out,
        "[dataplane]\neal_args = {}\nworker_cores = [1]\ncontrol_core = 0\nmbufs = {mbufs}\n\
         burst_size = {burst}\npoll_mode = \"{}\"\n[dataplane.flow_table]\ncapacity = {capacity}\n",
        toml_list(eal_args),
        poll_mode(mode)
    );
}

/// A gateway's configuration file.
pub fn gateway_config(lab: &GatewayLab) -> String {
    let mut s = String::from("# Written by sluice-perf for one run.\nrole = \"gateway\"\n");
    dataplane(
        &mut s,
        &lab.eal_args,
        lab.mbufs,
        lab.burst,
        lab.poll_mode,
        lab.capacity,
    );
    let _ = write!(
        s,
        r#"[[dataplane.port]]
name = "uplink"
device = "{uplink}"
address = "10.0.0.1/24"
mac = "02:00:00:00:00:01"
gateway = "10.0.0.254"
mtu = {uplink_mtu}
[[dataplane.port.neighbor]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
[[dataplane.port]]
name = "appliances"
device = "{appliances}"
address = "10.0.1.1/24"
mac = "02:00:00:00:00:02"
mtu = {geneve_mtu}
[[dataplane.port.neighbor]]
ip = "10.0.1.10"
mac = "02:00:00:00:01:10"
[[dataplane.port.neighbor]]
ip = "10.0.1.11"
mac = "02:00:00:00:01:11"
[load_balancer]
name = "perf"
zone = "az1"
[target_group]
name = "appliances"
"#,
        uplink = lab.uplink,
        appliances = lab.appliances,
        uplink_mtu = lab.mtus.uplink,
        geneve_mtu = lab.mtus.geneve,
    );
    for i in 0..lab.targets.clamp(1, 2) {
        let _ = write!(
            s,
            "[[target]]\nip = \"10.0.1.{}\"\nzone = \"az1\"\n",
            10 + i
        );
    }
    s.push_str(
        r#"[endpoint_service]
acceptance_required = false
[[endpoint]]
id = "vpce-0a1b2c3d4e5f60718"
port = "uplink"
next_hop = "10.0.0.254"
zone = "az1"
"#,
    );
    s
}

/// An appliance's configuration file.
pub fn appliance_config(lab: &ApplianceLab) -> String {
    let mut s = String::from("# Written by sluice-perf for one run.\nrole = \"appliance\"\n");
    dataplane(
        &mut s,
        &lab.eal_args,
        lab.mbufs,
        lab.burst,
        lab.poll_mode,
        lab.capacity,
    );
    let _ = write!(
        s,
        r#"[[dataplane.port]]
name = "geneve"
device = "{device}"
address = "10.0.1.10/24"
mac = "02:00:00:00:01:10"
mtu = {mtu}
[[dataplane.port.neighbor]]
ip = "10.0.1.1"
mac = "02:00:00:00:00:02"
[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#,
        device = lab.device,
        mtu = lab.mtus.geneve,
    );
    s
}

/// What one `dpdk-testpmd` run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TestpmdLab {
    /// The `--vdev` devices, in port order.
    pub vdevs: Vec<String>,
    /// The forwarding mode.
    pub mode: Baseline,
    /// Mbufs.
    pub mbufs: u32,
    /// Data room of each mbuf.
    pub data_room: u32,
    /// Burst size.
    pub burst: u16,
    /// The EAL file prefix.
    pub file_prefix: String,
    /// Hugepages or not.
    pub memory: Memory,
}

/// `dpdk-testpmd`'s arguments: main lcore 0, one forwarding core (1) as sluice's worker,
/// the memory sluice gets, statistics every second.
pub fn testpmd_args(lab: &TestpmdLab) -> Vec<String> {
    let mut args: Vec<String> = [
        "-l",
        "0,1",
        "--no-pci",
        "--no-telemetry",
        "--log-level=lib.eal:error",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(eal_memory_args(
        lab.memory,
        lab.mbufs,
        lab.data_room,
        &lab.file_prefix,
    ));
    for v in &lab.vdevs {
        args.push(format!("--vdev={v}"));
    }
    args.push("--".into());
    args.push(format!("--forward-mode={}", lab.mode));
    args.extend(
        [
            "--port-topology=chained",
            "--nb-cores=1",
            "--stats-period=1",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args.push(format!("--burst={}", lab.burst));
    args.push(format!("--total-num-mbufs={}", lab.mbufs));
    args.push(format!("--mbuf-size={}", lab.data_room));
    if lab.data_room > MIN_DATA_ROOM {
        args.push(format!("--max-pkt-len={}", lab.data_room - HEADROOM));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(flows: u64, sizes: &[u16]) -> Traffic {
        Traffic {
            flows,
            inner_sizes: sizes.to_vec(),
            ipv6_share: 0.0,
            tcp_share: 0.0,
            packets_per_flow: 1,
        }
    }

    #[test]
    fn mtus_and_data_room_follow_the_largest_packet() {
        let small = Mtus::for_traffic(&traffic(1, &[64]));
        assert_eq!((small.uplink, small.geneve), (1500, 1500));
        assert_eq!(small.data_room(), 2176);
        let edge = Mtus::for_traffic(&traffic(1, &[1500]));
        assert_eq!((edge.uplink, edge.geneve), (1500, 9001));
        let jumbo = Mtus::for_traffic(&traffic(1, &[64, 8500]));
        assert_eq!((jumbo.uplink, jumbo.geneve), (9001, 9001));
        // 9001 + 26 + 128 = 9155, rounded up to 64.
        assert_eq!(jumbo.data_room(), 9216);
    }

    #[test]
    fn capacity_is_what_simulate_picks() {
        assert_eq!(flow_capacity(&traffic(1, &[64])), 1024);
        assert_eq!(flow_capacity(&traffic(1024, &[64])), 4096);
        assert_eq!(flow_capacity(&traffic(1_000_000, &[64])), 4 << 20);
        assert_eq!(flow_capacity(&traffic(16 << 20, &[64])), 1 << 26);
    }

    #[test]
    fn configs_are_valid_sluice_configurations() {
        let mtus = Mtus::for_traffic(&traffic(1, &[8500]));
        let gw = gateway_config(&GatewayLab {
            uplink: "net_pcap0,rx_pcap=/tmp/x.pcap,infinite_rx=1".into(),
            appliances: "net_null0,no-rx=1".into(),
            targets: 2,
            mtus,
            capacity: 4096,
            mbufs: mbufs(1024),
            burst: 16,
            poll_mode: PollMode::Adaptive,
            eal_args: vec!["--no-huge".into(), "--no-shconf".into()],
        });
        let config = sluice_config::parse(&gw, "gateway.toml").unwrap();
        assert_eq!(config.dataplane.burst_size, 16);
        assert_eq!(config.dataplane.flow_table.capacity, 4096);
        assert_eq!(config.dataplane.ports[1].mtu, 9001);
        let app = appliance_config(&ApplianceLab {
            device: "net_pcap0,rx_pcap=/tmp/g.pcap,infinite_rx=1".into(),
            mtus,
            capacity: 4096,
            mbufs: mbufs(1024),
            burst: 32,
            poll_mode: PollMode::Busy,
            eal_args: vec![],
        });
        sluice_config::parse(&app, "appliance.toml").unwrap();
    }

    #[test]
    fn testpmd_gets_the_same_pool_as_sluice() {
        let args = testpmd_args(&TestpmdLab {
            vdevs: vec!["net_pcap0,rx_pcap=a.pcap,infinite_rx=1".into()],
            mode: Baseline::FiveTupleSwap,
            mbufs: 20_000,
            data_room: 9216,
            burst: 32,
            file_prefix: "p".into(),
            memory: Memory::NoHuge,
        });
        let has = |a: &str| args.iter().any(|x| x == a);
        assert!(has("--forward-mode=5tswap"));
        assert!(has("--total-num-mbufs=20000"));
        assert!(has("--mbuf-size=9216"));
        assert!(has("--max-pkt-len=9088"));
        assert!(has("--vdev=net_pcap0,rx_pcap=a.pcap,infinite_rx=1"));
        let m = args.iter().position(|a| a == "-m").unwrap();
        // 20000 * (9216 + 192) bytes = 179.5 MiB, rounded up, plus 256.
        assert_eq!(args[m + 1], "436");
    }

    #[test]
    fn mbufs_of_two_to_four_kib_take_a_page() {
        assert_eq!(mbuf_bytes(2176, Memory::NoHuge), 4096);
        assert_eq!(mbuf_bytes(1856, Memory::NoHuge), 2048);
        assert_eq!(mbuf_bytes(9216, Memory::NoHuge), 9408);
        assert_eq!(mbuf_bytes(2176, Memory::Hugepages), 2368);
        let huge = eal_memory_args(Memory::Hugepages, 1000, 2176, "x");
        assert_eq!(huge, ["--in-memory", "--file-prefix=x"]);
        // 1 M mbufs of 2176 bytes: 4 GiB, plus the margin.
        assert_eq!(eal_memory_mib(1 << 20, 2176), 4096 + 256);
    }
}
