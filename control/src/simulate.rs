//! `sluice simulate`: the configured role's pipeline run over a capture, without DPDK, NIC or
//! root, so behaviour can be checked (and taught) with pcaps.
//!
//! The configuration is compiled into the same engine snapshot the data plane will run, and
//! every packet of the capture goes through the role's pipeline (the gateway's or the
//! appliance's) one at a time, single-threaded, so a run is deterministic: the same capture
//! and configuration give the same output, flow cookies included. What the offline world
//! cannot know is replaced by documented, deterministic rules:
//!
//! - **Time.** A packet's capture timestamp is the engine's `now` (nanoseconds since the Unix
//!   epoch; a timestamp earlier than the one before it counts as no time passing). Before each
//!   packet the flow table's incremental expiry runs with a budget proportional to the time
//!   that passed, a whole sweep of the table per [`SWEEP_PERIOD_NS`] of capture time, so a
//!   flow is gone at most one second (of capture time) after its idle timeout.
//! - **Arrival port.** A capture does not say which port a frame arrived on, so: `--port NAME`
//!   forces one for every frame; otherwise a frame whose IPv4 destination (or ARP target) is
//!   a port's own address arrives on that port (GENEVE returns, health checks, ARP); otherwise
//!   it arrives on the port of an endpoint attached with the frame's VLAN (untagged frames:
//!   an untagged endpoint; appliances have none), preferring the one whose port MAC is the
//!   frame's destination; otherwise on the port whose MAC is the frame's destination;
//!   otherwise on the first port. The pipeline then judges the frame as it would on that port.
//! - **MAC addresses.** A port without a configured `mac` gets [`derived_mac`] of its
//!   address. Every neighbour the pipeline may need (targets, endpoint next hops, port
//!   gateways, when on-link) resolves to [`derived_mac`] of its address, unless the
//!   configuration has a static `neighbor` entry for it, which wins.
//! - **Health.** Every target is healthy except those named with `--unhealthy`.
//! - **Flow table.** The configured capacity, or less when the capture is too small to fill
//!   a quarter of it (at least 1024 entries): memory and sweep time stay proportional to the
//!   capture, and a capture that could fill the configured table still meets its limit.
//! - **Raw-IP captures** get an untagged Ethernet header: to the MAC of the port the
//!   destination rule picks (own address, else an untagged endpoint's port, else the first),
//!   from [`derived_mac`] of the IPv4 source (`02:00:00:00:00:00` for IPv6).
//!
//! The result is the list of transmitted frames (with the input timestamps) and a
//! [`Summary`]: packets in, transmitted and to the exception path per port, drops by
//! [`DropReason::name`] as the engine counts them, TCP resets, flows created, expired,
//! rebalanced and live, and (gateway) how flows and packets spread over the targets.
//!
//! [`DropReason::name`]: sluice_engine::counters::DropReason::name

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use serde::Serialize;
use sluice_config::compile::{PortFacts, RuntimeFacts, TargetFacts};
use sluice_config::{CompileError, Config};
use sluice_engine::appliance::{Appliance, FlowRecords};
use sluice_engine::counters::WorkerCounters;
use sluice_engine::flow::FlowKey;
use sluice_engine::flow_table::{ExpiryCursor, FlowTable, FlowTableError};
use sluice_engine::gateway::{Gateway, Verdict};
use sluice_engine::maglev::TargetState;
use sluice_engine::packet::{HeapPacket, PacketBuf};
use sluice_engine::parse;
use sluice_engine::policy::Policy;
use sluice_engine::snapshot::{
    ApplianceSnapshot, Endpoint, GatewaySnapshot, PortInfo, RoleSnapshot, Target,
};
use sluice_wire::arp::{ArpPacket, ArpRepr};
use sluice_wire::ethernet::{EtherType, EthernetAddress, EthernetFrame, EthernetRepr};
use sluice_wire::geneve;
use sluice_wire::ip::IpProtocol;
use sluice_wire::ipv4::Ipv4Packet;
use sluice_wire::udp::UdpPacket;

use crate::capture::{CapturedPacket, LinkType};

/// Capture time in which the incremental expiry visits every slot of the flow table once.
pub const SWEEP_PERIOD_NS: u64 = 1_000_000_000;

/// The epoch of the one snapshot a simulation compiles.
pub const EPOCH: u64 = 1;

/// The snap length written into the output capture's header (tcpdump's default); every frame
/// the pipelines emit is far shorter.
const SNAPLEN: u32 = 262_144;

/// What the command line adds to the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Every frame arrives on the port with this name, instead of the arrival-port rule.
    pub port: Option<String>,
    /// Targets whose health state is `unhealthy`; every other target is `healthy`.
    pub unhealthy: Vec<Ipv4Addr>,
}

/// A frame the pipeline transmitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    /// The timestamp of the input packet it came from.
    pub timestamp: Duration,
    /// The port id it left on.
    pub port: u16,
    /// The frame, from its Ethernet header.
    pub data: Vec<u8>,
}

/// A finished simulation.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// What happened, counted.
    pub summary: Summary,
    /// Every transmitted frame, in the order the pipeline sent them.
    pub frames: Vec<OutFrame>,
}

/// What happened, counted; printed as text or serialised as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The role that ran (`gateway` or `appliance`).
    pub role: &'static str,
    /// Packets read from the capture.
    pub packets_in: u64,
    /// Seconds between the first and the last packet's timestamps.
    pub capture_seconds: f64,
    /// Frames transmitted (and written to the output capture), in total and by port name.
    pub transmitted: PortTally,
    /// Frames handed to the exception path (the kernel), in total and by port name.
    pub exception: PortTally,
    /// Frames dropped, in total and by [`DropReason::name`], as the engine counts them.
    ///
    /// [`DropReason::name`]: sluice_engine::counters::DropReason::name
    pub dropped: DropTally,
    /// TCP resets sent (GWLB's TCP_ELB_Reset_Count).
    pub tcp_resets: u64,
    /// Flow counts.
    pub flows: FlowTally,
    /// Every registered target, in configuration order, with what it received.
    pub targets: Vec<TargetTally>,
    /// The appliance's inspection policy: the flows each rule decided (`None` for the
    /// gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyTally>,
    /// One record per input packet, in capture order (JSON only).
    pub packets: Vec<PacketRecord>,
}

/// Frames counted by port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortTally {
    /// All of them.
    pub total: u64,
    /// By port name; ports with none are left out.
    pub by_port: BTreeMap<String, u64>,
}

/// Drops counted by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropTally {
    /// All of them.
    pub total: u64,
    /// By [`DropReason::name`]; reasons with none are left out.
    ///
    /// [`DropReason::name`]: sluice_engine::counters::DropReason::name
    pub by_reason: BTreeMap<&'static str, u64>,
}

/// What the appliance's inspection policy decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyTally {
    /// The action for flows no rule matches.
    pub default_action: &'static str,
    /// Packets of rejected flows answered with a TCP RST or an ICMP unreachable.
    pub rejects: u64,
    /// Each rule in order, then `(default)`: its action and the flows it decided.
    pub rules: Vec<RuleTally>,
}

/// One rule's share of a [`PolicyTally`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTally {
    /// The rule's name, or `(default)`.
    pub name: String,
    /// `allow`, `deny` or `reject`.
    pub action: &'static str,
    /// Flows it decided.
    pub flows: u64,
}

impl PolicyTally {
    fn of(policy: &Policy, rejects: u64) -> Self {
        let definition = policy.definition();
        let names = definition
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.action.name()))
            .chain([("(default)".to_owned(), definition.default_action.name())]);
        PolicyTally {
            default_action: definition.default_action.name(),
            rejects,
            rules: names
                .zip(policy.hits())
                .map(|((name, action), flows)| RuleTally {
                    name,
                    action,
                    flows,
                })
                .collect(),
        }
    }
}

/// Flow counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FlowTally {
    /// Flows created (GWLB's NewFlowCount).
    pub created: u64,
    /// Flows removed because they were idle past their timeout (swept or evicted).
    pub expired: u64,
    /// Existing flows moved to another target (`target_failover.* = rebalance`).
    pub rebalanced: u64,
    /// Flows still in the table after the last packet.
    pub live: u64,
}

/// What one target received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetTally {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its zone.
    pub zone: String,
    /// Its health state in the simulation.
    pub state: &'static str,
    /// New flows pinned to it.
    pub flows: u64,
    /// Encapsulated packets sent to it.
    pub sent: u64,
    /// Packets it returned that were accepted and decapsulated.
    pub returned: u64,
}

/// What became of one input packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketRecord {
    /// Position in the capture, from 1.
    pub index: usize,
    /// The port it was taken to arrive on.
    pub in_port: String,
    /// `transmit`, `exception` or `drop`.
    pub verdict: &'static str,
    /// The port it left on (transmit) or was handed to the kernel through (exception).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_port: Option<String>,
    /// Why it was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The target it was encapsulated to, or the target that returned it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Ipv4Addr>,
    /// Whether it created a flow.
    pub new_flow: bool,
    /// Whether the pipeline answered it with a TCP reset (the transmitted frame is the RST).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tcp_reset: bool,
    /// Its position among the transmitted frames (in the output capture), from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_index: Option<usize>,
}

/// Why a simulation could not run or its output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// `--port` names a port the configuration does not have.
    #[error("--port {name}: no such port (configured: {known})")]
    UnknownPort {
        /// The name given.
        name: String,
        /// The configured port names, comma-separated.
        known: String,
    },
    /// `--unhealthy` names an address that is not a registered target.
    #[error("--unhealthy {ip}: not a registered target")]
    NotATarget {
        /// The address given.
        ip: Ipv4Addr,
    },
    /// The configuration is valid but does not compile into a snapshot.
    #[error("the configuration does not compile into a snapshot: {0}")]
    Compile(#[from] CompileError),
    /// The flow table could not be allocated.
    #[error("the flow table could not be allocated: {0}")]
    FlowTable(#[from] FlowTableError),
    /// The output capture could not be created or written.
    #[error("{path}: {source}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What failed.
        source: PcapError,
    },
}

/// Where the sweep of the flow table stands and when it last ran.
#[derive(Debug)]
struct Sweeper {
    cursor: ExpiryCursor,
    last: Option<u64>,
    capacity: usize,
}

/// What one run of a pipeline counts besides the engine's own counters.
#[derive(Debug)]
struct Tally {
    summary: Summary,
    frames: Vec<OutFrame>,
    /// Flows the sweep removed.
    expired: u64,
}

/// One input packet's fate, as [`Tally::record`] keeps it.
#[derive(Debug, Clone, Copy)]
struct Packet {
    index: usize,
    in_port: u16,
    verdict: Verdict,
    target: Option<Ipv4Addr>,
    new_flow: bool,
    tcp_reset: bool,
    timestamp: Duration,
}

/// What [`drive`] needs from a role: its pipeline and the parts of its snapshot the
/// simulation reads. A role added to the engine plugs in with one more implementation.
trait Role {
    /// The role's name in the summary.
    fn name(&self) -> &'static str;
    /// Runs the pipeline on one frame.
    fn process(
        &mut self,
        ports: &[PortInfo],
        port: u16,
        packet: &mut HeapPacket,
        now: u64,
    ) -> Verdict;
    /// The pipeline's counters.
    fn counters(&self) -> &WorkerCounters;
    /// The idle timeout of a flow, as the pipeline set it when it created the flow.
    fn idle_timeout_ns(&self, key: &FlowKey) -> u64;
    /// The endpoint attachments (for the arrival-port rule); none for an appliance.
    fn endpoints(&self) -> &[Endpoint];
    /// The registered targets; none for an appliance.
    fn targets(&self) -> &[Target];
    /// The appliance's inspection policy; none for the gateway.
    fn policy(&self) -> Option<&Policy> {
        None
    }
    /// The target a packet went to (`false`) or came back from (`true`), by index.
    fn target_of(
        &self,
        ports: &[PortInfo],
        in_port: u16,
        input: &[u8],
        verdict: Verdict,
        output: &[u8],
    ) -> Option<(u16, bool)>;
}

/// The gateway pipeline with its snapshot.
#[derive(Debug)]
struct GatewayRole<'a> {
    pipeline: Gateway<'a>,
    snapshot: &'a GatewaySnapshot,
}

/// The appliance pipeline with its snapshot.
#[derive(Debug)]
struct ApplianceRole<'a> {
    pipeline: Appliance<'a>,
    snapshot: &'a ApplianceSnapshot,
}

impl Sweeper {
    fn new(capacity: usize) -> Self {
        Sweeper {
            cursor: ExpiryCursor::default(),
            last: None,
            capacity,
        }
    }

    /// Moves the clock to `now` and expires what became idle; returns how many flows left.
    fn advance(&mut self, table: &FlowTable, now: u64, timeout: impl Fn(&FlowKey) -> u64) -> u64 {
        let Some(last) = self.last.replace(now) else {
            return 0;
        };
        let elapsed = now.saturating_sub(last);
        if elapsed == 0 || table.is_empty() {
            return 0;
        }
        let share = u128::from(elapsed) * self.capacity as u128 / u128::from(SWEEP_PERIOD_NS);
        let budget = usize::try_from(share)
            .unwrap_or(usize::MAX)
            .clamp(1, self.capacity);
        let removed = table.expire(now, &mut self.cursor, budget, timeout, |_| {});
        removed as u64
    }
}

/// Runs the configuration's pipeline over `packets`.
///
/// # Errors
///
/// [`SimulateError::UnknownPort`] and [`SimulateError::NotATarget`] for options that do not
/// fit the configuration, [`SimulateError::Compile`] and [`SimulateError::FlowTable`] when the
/// snapshot or the flow table cannot be built.
pub fn run(
    config: &Config,
    packets: &[CapturedPacket],
    options: &Options,
) -> Result<Simulation, SimulateError> {
    let facts = runtime_facts(config, &options.unhealthy);
    let snapshot = sluice_config::compile(config, &facts, EPOCH)?;
    let forced = options
        .port
        .as_deref()
        .map(|name| {
            snapshot
                .ports
                .iter()
                .position(|p| p.name == name)
                .map(port_id)
                .ok_or_else(|| SimulateError::UnknownPort {
                    name: name.to_owned(),
                    known: snapshot
                        .ports
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        })
        .transpose()?;
    let capacity = table_capacity(config.dataplane.flow_table.capacity, packets.len());
    let table = FlowTable::new(capacity)?;
    match &snapshot.role {
        RoleSnapshot::Gateway(gateway) => {
            if let Some(ip) = options
                .unhealthy
                .iter()
                .find(|ip| gateway.target_by_ip(**ip).is_none())
            {
                return Err(SimulateError::NotATarget { ip: *ip });
            }
            let mut role = GatewayRole {
                pipeline: Gateway::new(&table),
                snapshot: gateway,
            };
            Ok(drive(&mut role, &snapshot.ports, &table, packets, forced))
        }
        RoleSnapshot::Appliance(appliance) => {
            if let Some(ip) = options.unhealthy.first() {
                return Err(SimulateError::NotATarget { ip: *ip });
            }
            let records = FlowRecords::new(capacity);
            let mut role = ApplianceRole {
                pipeline: Appliance::new(&table, &records),
                snapshot: appliance,
            };
            Ok(drive(&mut role, &snapshot.ports, &table, packets, forced))
        }
    }
}

/// The locally administered MAC address `02:00:a:b:c:d` the simulation gives the IPv4
/// address `a.b.c.d`, for ports without a configured `mac` and neighbours without a static
/// entry.
pub fn derived_mac(ip: Ipv4Addr) -> EthernetAddress {
    let [a, b, c, d] = ip.octets();
    EthernetAddress([0x02, 0x00, a, b, c, d])
}

/// The facts a simulation assumes: derived MACs for ports and the neighbours they need, and
/// every target healthy except the `unhealthy` ones.
pub fn runtime_facts(config: &Config, unhealthy: &[Ipv4Addr]) -> RuntimeFacts {
    let mut facts = RuntimeFacts::default();
    let gateway = config.gateway();
    for port in &config.dataplane.ports {
        let mut wanted: Vec<Ipv4Addr> = port.gateway.into_iter().collect();
        if let Some(gateway) = gateway {
            wanted.extend(gateway.targets.iter().map(|t| t.ip));
            wanted.extend(
                gateway
                    .endpoints
                    .iter()
                    .filter(|e| e.port == port.name)
                    .map(|e| e.next_hop),
            );
        }
        let neighbors = wanted
            .into_iter()
            .filter(|ip| port.address.contains(ip) && *ip != port.address.addr())
            .map(|ip| (ip, derived_mac(ip)))
            .collect();
        facts.ports.insert(
            port.name.clone(),
            PortFacts {
                device_mac: Some(derived_mac(port.address.addr())),
                neighbors,
            },
        );
    }
    for target in gateway.iter().flat_map(|g| &g.targets) {
        let state = if unhealthy.contains(&target.ip) {
            TargetState::Unhealthy
        } else {
            TargetState::Healthy
        };
        facts.targets.insert(
            target.ip,
            TargetFacts {
                state,
                draining_since_ns: None,
            },
        );
    }
    facts
}

/// Writes frames to a pcap file: Ethernet link type, nanosecond timestamps.
///
/// # Errors
///
/// [`SimulateError::Write`] when the file cannot be created or written.
pub fn write_pcap(path: &Path, frames: &[OutFrame]) -> Result<(), SimulateError> {
    let fail = |source| SimulateError::Write {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(|e| fail(PcapError::IoError(e)))?;
    let header = PcapHeader {
        snaplen: SNAPLEN,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::NanoSecond,
        endianness: Endianness::native(),
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(BufWriter::new(file), header).map_err(fail)?;
    for frame in frames {
        let len = u32::try_from(frame.data.len()).unwrap_or(u32::MAX);
        writer
            .write_packet(&PcapPacket::new(frame.timestamp, len, &frame.data))
            .map_err(fail)?;
    }
    writer
        .into_writer()
        .flush()
        .map_err(|e| fail(PcapError::IoError(e)))
}

/// Renders a summary for people.
pub fn render_text(summary: &Summary) -> String {
    let mut out = String::new();
    let tally = |t: &PortTally| {
        let parts: Vec<String> = t.by_port.iter().map(|(p, n)| format!("{p} {n}")).collect();
        if parts.is_empty() {
            t.total.to_string()
        } else {
            format!("{}  ({})", t.total, parts.join(", "))
        }
    };
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "{} pipeline: {} packets in over {:.3} s",
        summary.role, summary.packets_in, summary.capture_seconds
    );
    let _ = writeln!(out, "  transmitted     {}", tally(&summary.transmitted));
    let _ = writeln!(out, "  exception path  {}", tally(&summary.exception));
    let reasons: Vec<String> = summary
        .dropped
        .by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    if reasons.is_empty() {
        let _ = writeln!(out, "  dropped         0");
    } else {
        let _ = writeln!(
            out,
            "  dropped         {}  ({})",
            summary.dropped.total,
            reasons.join(", ")
        );
    }
    let _ = writeln!(out, "  tcp resets      {}", summary.tcp_resets);
    let f = summary.flows;
    let _ = writeln!(
        out,
        "  flows           {} created, {} expired, {} rebalanced, {} live",
        f.created, f.expired, f.rebalanced, f.live
    );
    if let Some(policy) = &summary.policy {
        let _ = writeln!(
            out,
            "  policy          {} rules, default {}, {} rejects answered",
            policy.rules.len() - 1,
            policy.default_action,
            policy.rejects
        );
        for rule in policy.rules.iter().filter(|r| r.flows > 0) {
            let _ = writeln!(
                out,
                "    {:<22} {:<7} {:>7} flows",
                rule.name, rule.action, rule.flows
            );
        }
    }
    if !summary.targets.is_empty() {
        let _ = writeln!(
            out,
            "  {:<15} {:<10} {:<11} {:>7} {:>7} {:>9}",
            "target", "zone", "state", "flows", "sent", "returned"
        );
        for t in &summary.targets {
            let _ = writeln!(
                out,
                "  {:<15} {:<10} {:<11} {:>7} {:>7} {:>9}",
                t.ip.to_string(),
                t.zone,
                t.state,
                t.flows,
                t.sent,
                t.returned
            );
        }
    }
    out
}

/// Runs a role's pipeline over the capture: the clock, the sweep, the arrival port, the
/// tally.
fn drive<R: Role>(
    role: &mut R,
    ports: &[PortInfo],
    table: &FlowTable,
    packets: &[CapturedPacket],
    forced: Option<u16>,
) -> Simulation {
    let mut sweeper = Sweeper::new(table.capacity());
    let mut tally = Tally::new(role.name(), role.targets(), packets);
    let mut clock = 0;
    for (i, packet) in packets.iter().enumerate() {
        clock = nanos(packet.timestamp).max(clock);
        tally.expired += sweeper.advance(table, clock, |key| role.idle_timeout_ns(key));
        let frame = ethernet_frame(packet, ports, role.endpoints(), forced);
        let port = forced.unwrap_or_else(|| arrival_port(&frame, ports, role.endpoints()));
        let (flows_before, resets_before) = {
            let c = role.counters();
            (c.new_flows, c.tcp_resets)
        };
        let mut buf = HeapPacket::new(&frame);
        let verdict = role.process(ports, port, &mut buf, clock);
        let new_flow = role.counters().new_flows > flows_before;
        let tcp_reset = role.counters().tcp_resets > resets_before;
        let target = role.target_of(ports, port, &frame, verdict, buf.data());
        if let Some((index, returned)) = target
            && let Some(t) = tally.summary.targets.get_mut(usize::from(index))
        {
            if returned {
                t.returned += 1;
            } else {
                t.sent += 1;
                t.flows += u64::from(new_flow);
            }
        }
        let target_ip = target
            .and_then(|(index, _)| tally.summary.targets.get(usize::from(index)))
            .map(|t| t.ip);
        tally.record(
            ports,
            Packet {
                index: i + 1,
                in_port: port,
                verdict,
                target: target_ip,
                new_flow,
                tcp_reset,
                timestamp: packet.timestamp,
            },
            buf.data(),
        );
    }
    let mut simulation = tally.finish(role.counters(), table);
    simulation.summary.policy = role
        .policy()
        .map(|p| PolicyTally::of(p, role.counters().policy_rejects));
    simulation
}

impl Tally {
    fn new(role: &'static str, targets: &[Target], packets: &[CapturedPacket]) -> Self {
        let first = packets
            .iter()
            .map(|p| p.timestamp)
            .min()
            .unwrap_or_default();
        let last = packets
            .iter()
            .map(|p| p.timestamp)
            .max()
            .unwrap_or_default();
        Tally {
            summary: Summary {
                role,
                packets_in: packets.len() as u64,
                capture_seconds: last.saturating_sub(first).as_secs_f64(),
                transmitted: PortTally::default(),
                exception: PortTally::default(),
                dropped: DropTally::default(),
                tcp_resets: 0,
                flows: FlowTally::default(),
                targets: targets
                    .iter()
                    .map(|t| TargetTally {
                        ip: t.ip,
                        zone: t.zone.clone(),
                        state: state_name(t.state),
                        flows: 0,
                        sent: 0,
                        returned: 0,
                    })
                    .collect(),
                policy: None,
                packets: Vec::with_capacity(packets.len()),
            },
            frames: Vec::new(),
            expired: 0,
        }
    }

    /// Records one packet's fate and keeps its frame when it was transmitted.
    fn record(&mut self, ports: &[PortInfo], packet: Packet, frame: &[u8]) {
        let name = |port: u16| {
            ports
                .get(usize::from(port))
                .map_or_else(|| format!("#{port}"), |p| p.name.clone())
        };
        let mut record = PacketRecord {
            index: packet.index,
            in_port: name(packet.in_port),
            verdict: "drop",
            out_port: None,
            reason: None,
            target: packet.target,
            new_flow: packet.new_flow,
            tcp_reset: packet.tcp_reset,
            out_index: None,
        };
        match packet.verdict {
            Verdict::Transmit { port } => {
                record.verdict = "transmit";
                record.out_port = Some(name(port));
                count(&mut self.summary.transmitted, name(port));
                self.frames.push(OutFrame {
                    timestamp: packet.timestamp,
                    port,
                    data: frame.to_vec(),
                });
                record.out_index = Some(self.frames.len());
            }
            Verdict::Exception { port } => {
                record.verdict = "exception";
                record.out_port = Some(name(port));
                count(&mut self.summary.exception, name(port));
            }
            Verdict::Drop(reason) => record.reason = Some(reason.name()),
        }
        self.summary.packets.push(record);
    }

    /// Takes the engine's own counts (drops, flows, resets) and hands the result over.
    fn finish(mut self, counters: &WorkerCounters, table: &FlowTable) -> Simulation {
        let summary = &mut self.summary;
        // The engine's drop counters, not the verdicts: a TCP packet without a flow that is
        // answered with a reset counts as `tcp_no_flow` although its reset is transmitted.
        summary.dropped.total = counters.total_drops();
        summary.dropped.by_reason = counters
            .nonzero_drops()
            .map(|(reason, n)| (reason.name(), n))
            .collect();
        summary.tcp_resets = counters.tcp_resets;
        summary.flows = FlowTally {
            created: counters.new_flows,
            // Flows evicted by inserts into a full window were idle past their timeout too.
            expired: self.expired + counters.expired_flows,
            rebalanced: counters.rebalanced_flows,
            live: table.len() as u64,
        };
        Simulation {
            summary: self.summary,
            frames: self.frames,
        }
    }
}

impl Role for GatewayRole<'_> {
    fn name(&self) -> &'static str {
        "gateway"
    }

    fn process(
        &mut self,
        ports: &[PortInfo],
        port: u16,
        packet: &mut HeapPacket,
        now: u64,
    ) -> Verdict {
        self.pipeline
            .process(self.snapshot, ports, port, packet, now)
    }

    fn counters(&self) -> &WorkerCounters {
        &self.pipeline.counters
    }

    fn idle_timeout_ns(&self, key: &FlowKey) -> u64 {
        self.snapshot.attributes.idle_timeout_ns(key)
    }

    fn endpoints(&self) -> &[Endpoint] {
        &self.snapshot.endpoints
    }

    fn targets(&self) -> &[Target] {
        &self.snapshot.targets
    }

    fn target_of(
        &self,
        ports: &[PortInfo],
        in_port: u16,
        input: &[u8],
        verdict: Verdict,
        output: &[u8],
    ) -> Option<(u16, bool)> {
        let Verdict::Transmit { port: out } = verdict else {
            return None;
        };
        let own = ports.get(usize::from(in_port))?.address;
        if let Some((src, _)) = geneve_between(input, |_, dst| dst == own) {
            return self.snapshot.target_by_ip(src).map(|t| (t, true));
        }
        if out != self.snapshot.target_port {
            return None;
        }
        let (_, dst) = geneve_between(output, |_, _| true)?;
        self.snapshot.target_by_ip(dst).map(|t| (t, false))
    }
}

impl Role for ApplianceRole<'_> {
    fn name(&self) -> &'static str {
        "appliance"
    }

    fn process(
        &mut self,
        ports: &[PortInfo],
        port: u16,
        packet: &mut HeapPacket,
        now: u64,
    ) -> Verdict {
        self.pipeline
            .process(self.snapshot, ports, port, packet, now)
    }

    fn counters(&self) -> &WorkerCounters {
        &self.pipeline.counters
    }

    fn idle_timeout_ns(&self, key: &FlowKey) -> u64 {
        self.snapshot.idle_timeout_ns(key)
    }

    fn policy(&self) -> Option<&Policy> {
        Some(&self.snapshot.policy)
    }

    fn endpoints(&self) -> &[Endpoint] {
        &[]
    }

    fn targets(&self) -> &[Target] {
        &[]
    }

    fn target_of(
        &self,
        _: &[PortInfo],
        _: u16,
        _: &[u8],
        _: Verdict,
        _: &[u8],
    ) -> Option<(u16, bool)> {
        None
    }
}

/// Counts one frame on a port.
fn count(tally: &mut PortTally, port: String) {
    tally.total += 1;
    *tally.by_port.entry(port).or_default() += 1;
}

/// A port id from a port's index; the configuration has far fewer than 2^16 ports, and an
/// impossible index becomes an id the pipeline drops as an unknown attachment.
fn port_id(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

/// A timestamp in nanoseconds, saturating far beyond any real capture.
fn nanos(timestamp: Duration) -> u64 {
    u64::try_from(timestamp.as_nanos()).unwrap_or(u64::MAX)
}

/// The flow table's capacity in a simulation (see the module documentation).
fn table_capacity(configured: u32, packets: usize) -> usize {
    let enough = packets
        .saturating_mul(4)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .max(FlowTable::MIN_CAPACITY);
    (configured as usize).min(enough)
}

/// The name `sluice` uses for a health state.
fn state_name(state: TargetState) -> &'static str {
    match state {
        TargetState::Initial => "initial",
        TargetState::Healthy => "healthy",
        TargetState::Unhealthy => "unhealthy",
        TargetState::Draining => "draining",
        TargetState::Unused => "unused",
        TargetState::Unavailable => "unavailable",
    }
}

/// The packet as an Ethernet frame: as captured, or with a header put in front of a raw IP
/// packet (see the module documentation).
fn ethernet_frame(
    packet: &CapturedPacket,
    ports: &[PortInfo],
    endpoints: &[Endpoint],
    forced: Option<u16>,
) -> Vec<u8> {
    if packet.link == LinkType::Ethernet {
        return packet.data.clone();
    }
    let ipv4 = Ipv4Packet::new_checked(&packet.data[..]).ok();
    let port = forced
        .or_else(|| {
            let dst = ipv4.as_ref()?.dst_addr();
            ports.iter().position(|p| p.address == dst).map(port_id)
        })
        .or_else(|| endpoints.iter().find(|e| e.vlan.is_none()).map(|e| e.port))
        .unwrap_or(0);
    let dst = ports
        .get(usize::from(port))
        .map_or(EthernetAddress::BROADCAST, |p| p.mac);
    let src = ipv4.map_or(EthernetAddress([2, 0, 0, 0, 0, 0]), |ip| {
        derived_mac(ip.src_addr())
    });
    let ethertype = if packet.data.first().is_some_and(|b| b >> 4 == 6) {
        EtherType::Ipv6
    } else {
        EtherType::Ipv4
    };
    let mut frame = vec![0; sluice_wire::ethernet::HEADER_LEN + packet.data.len()];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame[sluice_wire::ethernet::HEADER_LEN..].copy_from_slice(&packet.data);
    frame
}

/// The port a frame is taken to arrive on (see the module documentation).
fn arrival_port(frame: &[u8], ports: &[PortInfo], endpoints: &[Endpoint]) -> u16 {
    let Ok(link) = parse::link_layer(frame) else {
        return 0;
    };
    let l3 = &frame[link.payload_offset..];
    let own = match link.ethertype {
        EtherType::Ipv4 => Ipv4Packet::new_checked(l3).ok().map(|ip| ip.dst_addr()),
        EtherType::Arp => ArpPacket::new_checked(l3)
            .and_then(|p| ArpRepr::parse(&p))
            .ok()
            .and_then(|repr| match repr {
                ArpRepr::EthernetIpv4 {
                    target_protocol_addr,
                    ..
                } => Some(target_protocol_addr),
                _ => None,
            }),
        _ => None,
    };
    if let Some(i) = own.and_then(|dst| ports.iter().position(|p| p.address == dst)) {
        return port_id(i);
    }
    let attached = || {
        endpoints
            .iter()
            .filter(|e| e.vlan == link.vlan)
            .map(|e| e.port)
    };
    let mac_of = |port: u16| ports.get(usize::from(port)).map(|p| p.mac);
    if let Some(port) = attached()
        .find(|p| mac_of(*p) == Some(link.dst))
        .or_else(|| attached().next())
    {
        return port;
    }
    ports
        .iter()
        .position(|p| p.mac == link.dst)
        .map_or(0, port_id)
}

/// If `frame` is untagged IPv4 UDP to the GENEVE port and `accept(src, dst)` holds for its
/// outer addresses, returns them.
fn geneve_between(
    frame: &[u8],
    accept: impl Fn(Ipv4Addr, Ipv4Addr) -> bool,
) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.protocol() != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok()?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    (udp.dst_port() == geneve::UDP_PORT && accept(src, dst)).then_some((src, dst))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway_config() -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/examples/gateway.toml");
        sluice_config::load(&path).unwrap()
    }

    fn compiled() -> sluice_engine::snapshot::Snapshot {
        let config = gateway_config();
        sluice_config::compile(&config, &runtime_facts(&config, &[]), EPOCH).unwrap()
    }

    fn frame(dst: EthernetAddress, vlan: Option<u16>, l3: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[..6].copy_from_slice(&dst.0);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xfe]);
        match vlan {
            Some(id) => {
                f[12..14].copy_from_slice(&[0x81, 0x00]);
                f.extend_from_slice(&id.to_be_bytes());
                f.extend_from_slice(&[0x08, 0x00]);
            }
            None => f[12..14].copy_from_slice(&[0x08, 0x00]),
        }
        f.extend_from_slice(l3);
        f
    }

    fn ipv4_to(dst: Ipv4Addr) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 168, 10, 20];
        ip.extend_from_slice(&dst.octets());
        Ipv4Packet::new_unchecked(&mut ip[..]).fill_checksum();
        ip
    }

    #[test]
    fn macs_are_derived_from_addresses_unless_configured() {
        assert_eq!(
            derived_mac(Ipv4Addr::new(10, 0, 1, 20)),
            EthernetAddress([2, 0, 10, 0, 1, 20])
        );
        let snapshot = compiled();
        assert_eq!(snapshot.ports[0].mac, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            snapshot.ports[1].mac,
            derived_mac(Ipv4Addr::new(10, 0, 1, 1))
        );
        let up = &snapshot.ports[0];
        // The router has a static entry; the other next hops are derived.
        assert_eq!(
            up.neighbor(Ipv4Addr::new(10, 0, 0, 254)),
            Some(EthernetAddress([2, 0, 0, 0, 0, 0xfe]))
        );
        assert_eq!(
            up.neighbor(Ipv4Addr::new(10, 0, 0, 253)),
            Some(derived_mac(Ipv4Addr::new(10, 0, 0, 253)))
        );
        let app = &snapshot.ports[1];
        assert_eq!(app.neighbors.len(), 4, "the four targets");
        assert!(
            up.neighbor(Ipv4Addr::new(10, 0, 1, 10)).is_none(),
            "targets are not on the uplink"
        );
    }

    #[test]
    fn arrival_port_rules() {
        let snapshot = compiled();
        let RoleSnapshot::Gateway(gw) = &snapshot.role else {
            panic!("gateway")
        };
        let (ports, endpoints) = (&snapshot.ports[..], &gw.endpoints[..]);
        let up_mac = ports[0].mac;
        let client = ipv4_to(Ipv4Addr::new(198, 51, 100, 7));
        // Own address: the port that owns it, whatever the MAC says.
        let to_app = frame(up_mac, None, &ipv4_to(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(arrival_port(&to_app, ports, endpoints), 1);
        // Endpoint traffic: the port of the endpoint with that VLAN.
        assert_eq!(
            arrival_port(&frame(up_mac, None, &client), ports, endpoints),
            0
        );
        assert_eq!(
            arrival_port(&frame(up_mac, Some(100), &client), ports, endpoints),
            0
        );
        // No endpoint with this VLAN: the port whose MAC the frame is addressed to.
        let app_mac = ports[1].mac;
        assert_eq!(
            arrival_port(&frame(app_mac, Some(999), &client), ports, endpoints),
            1
        );
        // Nothing matches: the first port.
        let stranger = EthernetAddress([2, 9, 9, 9, 9, 9]);
        assert_eq!(
            arrival_port(&frame(stranger, Some(999), &client), ports, endpoints),
            0
        );
        assert_eq!(arrival_port(&[1, 2, 3], ports, endpoints), 0);
    }

    #[test]
    fn raw_ip_gets_an_ethernet_header_to_the_arrival_port() {
        let snapshot = compiled();
        let RoleSnapshot::Gateway(gw) = &snapshot.role else {
            panic!("gateway")
        };
        let packet = CapturedPacket {
            timestamp: Duration::ZERO,
            orig_len: 20,
            link: LinkType::RawIp,
            data: ipv4_to(Ipv4Addr::new(10, 0, 1, 1)),
        };
        let f = ethernet_frame(&packet, &snapshot.ports, &gw.endpoints, None);
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.dst_addr(), snapshot.ports[1].mac);
        assert_eq!(eth.src_addr(), derived_mac(Ipv4Addr::new(192, 168, 10, 20)));
        assert_eq!(eth.ethertype(), EtherType::Ipv4);
        assert_eq!(eth.payload(), &packet.data[..]);
    }

    #[test]
    fn the_table_shrinks_to_the_capture_but_never_grows() {
        assert_eq!(table_capacity(1 << 20, 3), 1024);
        assert_eq!(table_capacity(1 << 20, 1000), 4096);
        assert_eq!(table_capacity(2048, 100_000), 2048);
    }

    #[test]
    fn the_sweep_budget_follows_the_clock() {
        let table = FlowTable::new(1024).unwrap();
        let mut sweeper = Sweeper::new(1024);
        let timeout = |_: &FlowKey| 10;
        assert_eq!(
            sweeper.advance(&table, 0, timeout),
            0,
            "the first call starts the clock"
        );
        let (key, _) = sluice_engine::flow::FlowKey::new(
            0,
            Ipv4Addr::new(192, 168, 10, 20).into(),
            Ipv4Addr::new(198, 51, 100, 7).into(),
            17,
            1000,
            53,
            sluice_engine::flow::Stickiness::FiveTuple,
            false,
        );
        table.insert(&key, key.hash(), 0, 0, |_| 10).unwrap();
        assert_eq!(sweeper.advance(&table, 0, timeout), 0, "no time passed");
        assert_eq!(
            sweeper.advance(&table, 2 * SWEEP_PERIOD_NS, timeout),
            1,
            "a whole sweep"
        );
        assert!(table.is_empty());
    }
}
