//! The immutable policy the workers read: what the control thread compiled from the
//! configuration, the health checks and the API, published as one epoch.
//!
//! A worker holds an `Arc<Snapshot>` and swaps it between bursts when the control thread sends
//! a new epoch; nothing in a snapshot changes after it is built, so workers read it without
//! locks. Everything the packet path needs is precomputed here: Maglev tables for new flows,
//! the endpoint of every (port, VLAN) attachment, the targets by address, idle timeouts in
//! nanoseconds, next-hop MAC addresses.

use core::net::Ipv4Addr;
use std::sync::Arc;

use sluice_wire::ethernet::EthernetAddress;
use sluice_wire::ip::IpProtocol;

use crate::encap::EncapTemplate;
use crate::flow::{FlowKey, Stickiness};
use crate::maglev::{TargetState, ZoneView};
use crate::policy::Policy;

/// One epoch of policy.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Increases with every snapshot the control thread publishes.
    pub epoch: u64,
    /// The ports, indexed by port id (the order of `[[dataplane.port]]`).
    pub ports: Vec<PortInfo>,
    /// What the role needs.
    pub role: RoleSnapshot,
}

/// A port's own identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The port's name.
    pub name: String,
    /// The port's MAC address.
    pub mac: EthernetAddress,
    /// The port's IPv4 address.
    pub address: Ipv4Addr,
    /// The prefix length of the port's subnet.
    pub prefix_len: u8,
    /// Resolved neighbours on this port (static entries and what ARP learned), sorted by
    /// address for binary search.
    pub neighbors: Vec<(Ipv4Addr, EthernetAddress)>,
    /// The default next hop for destinations outside the subnet, if any.
    pub gateway: Option<Ipv4Addr>,
}

impl PortInfo {
    /// Whether `ip` is inside this port's subnet.
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        (ip.to_bits() ^ self.address.to_bits()) & mask == 0
    }

    /// The MAC address of a resolved neighbour.
    pub fn neighbor(&self, ip: Ipv4Addr) -> Option<EthernetAddress> {
        self.neighbors
            .binary_search_by_key(&ip, |(a, _)| *a)
            .ok()
            .map(|i| self.neighbors[i].1)
    }

    /// The MAC address to send a packet for `ip` to: the neighbour itself when on-link,
    /// else the port's gateway.
    pub fn next_hop_mac(&self, ip: Ipv4Addr) -> Option<EthernetAddress> {
        if self.on_link(ip) {
            self.neighbor(ip)
        } else {
            self.neighbor(self.gateway?)
        }
    }
}

/// The role-specific part of a snapshot.
#[derive(Debug, Clone)]
pub enum RoleSnapshot {
    /// The load balancer.
    Gateway(GatewaySnapshot),
    /// The inspection appliance behind a GWLB.
    Appliance(ApplianceSnapshot),
}

/// What the appliance pipeline reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplianceSnapshot {
    /// GENEVE is accepted only from these IPv4 networks (`appliance.gwlb_sources`), as
    /// `(network address, prefix length)`.
    pub gwlb_sources: Vec<(Ipv4Addr, u8)>,
    /// Idle timeout of a TCP flow's record (match the GWLB's `tcp.idle_timeout.seconds`),
    /// nanoseconds.
    pub tcp_idle_timeout_ns: u64,
    /// Idle timeout of every other flow's record, nanoseconds.
    pub other_idle_timeout_ns: u64,
    /// Clamp the MSS option of TCP SYNs to this value, if set.
    pub mss_clamp: Option<u16>,
    /// The inspection policy. The control thread keeps the same `Arc` (and generation) from
    /// snapshot to snapshot until the policy itself changes.
    pub policy: Arc<Policy>,
}

impl ApplianceSnapshot {
    /// The idle timeout of a flow's record, by its protocol.
    pub fn idle_timeout_ns(&self, key: &FlowKey) -> u64 {
        if key.protocol() == u8::from(IpProtocol::Tcp) {
            self.tcp_idle_timeout_ns
        } else {
            self.other_idle_timeout_ns
        }
    }

    /// Whether GENEVE from `ip` is accepted.
    #[inline]
    pub fn is_gwlb_source(&self, ip: Ipv4Addr) -> bool {
        // A loop rather than `Iterator::any`, which stayed out of line on the packet path.
        for (net, len) in &self.gwlb_sources {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            if (ip.to_bits() ^ net.to_bits()) & mask == 0 {
                return true;
            }
        }
        false
    }
}

/// What the gateway pipeline reads.
#[derive(Debug, Clone)]
pub struct GatewaySnapshot {
    /// Flow attributes (GWLB's listener and target-group attributes).
    pub attributes: FlowAttributes,
    /// Registered targets, in a fixed order that `flow` records and Maglev tables index.
    pub targets: Vec<Target>,
    /// `(address, index into targets)`, sorted by address: the return path's "is this a
    /// registered target" check.
    pub target_index: Vec<(Ipv4Addr, u16)>,
    /// The Maglev view new flows are placed with (own zone, or all zones with cross-zone;
    /// healthy targets, or every registered one when none is healthy).
    pub new_flows: ZoneView,
    /// Endpoints, in a fixed order that flow scopes index.
    pub endpoints: Vec<Endpoint>,
    /// The port that faces the targets (where GENEVE leaves and returns).
    pub target_port: u16,
}

impl GatewaySnapshot {
    /// Precomputes each target's encapsulation from the ports: the target port's MAC and
    /// address, and the target's resolved MAC (a target whose MAC is unknown gets none, and
    /// its packets are dropped as `no_neighbor` until ARP resolves it and a new snapshot
    /// comes). Call it whenever the targets or the ports' neighbours change.
    pub fn resolve_targets(&mut self, ports: &[PortInfo]) {
        let out = ports.get(usize::from(self.target_port));
        for target in &mut self.targets {
            target.encap = out.and_then(|port| {
                let mac = port.next_hop_mac(target.ip)?;
                Some(EncapTemplate::new(port.mac, mac, port.address, target.ip))
            });
        }
    }

    /// The target registered with this address.
    pub fn target_by_ip(&self, ip: Ipv4Addr) -> Option<u16> {
        self.target_index
            .binary_search_by_key(&ip, |(a, _)| *a)
            .ok()
            .map(|i| self.target_index[i].1)
    }

    /// The endpoint attached to `port` with this VLAN (`None` = untagged).
    pub fn endpoint_at(&self, port: u16, vlan: Option<u16>) -> Option<u16> {
        self.endpoints
            .iter()
            .position(|e| e.port == port && e.vlan == vlan)
            .and_then(|i| u16::try_from(i).ok())
    }
}

/// GWLB's flow attributes, in the units the packet path uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowAttributes {
    /// How flows are keyed.
    pub stickiness: Stickiness,
    /// TCP idle timeout (`tcp.idle_timeout.seconds`), nanoseconds.
    pub tcp_idle_timeout_ns: u64,
    /// Idle timeout of every other protocol (120 s), nanoseconds.
    pub other_idle_timeout_ns: u64,
    /// `target_failover.* = rebalance`: flows of unhealthy or deregistered targets move.
    pub rebalance: bool,
    /// `deregistration_delay.timeout_seconds`, nanoseconds.
    pub deregistration_delay_ns: u64,
    /// `send_tcp_reset.on_idle_timeout.enabled`.
    pub reset_on_idle_timeout: bool,
    /// `send_tcp_reset.on_unhealthy.enabled`.
    pub reset_on_unhealthy: bool,
    /// `send_tcp_reset.on_deregistration.enabled`.
    pub reset_on_deregistration: bool,
}

impl FlowAttributes {
    /// The idle timeout of a flow, by its protocol: TCP's attribute, 120 s for the rest.
    pub fn idle_timeout_ns(&self, key: &FlowKey) -> u64 {
        // In 2-tuple mode keys carry no protocol; GWLB then uses the default for TCP.
        if key.protocol() == u8::from(IpProtocol::Tcp) || key.protocol() == 0 {
            self.tcp_idle_timeout_ns
        } else {
            self.other_idle_timeout_ns
        }
    }
}

/// A registered target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its address: GENEVE goes there and must come back from there.
    pub ip: Ipv4Addr,
    /// Its zone.
    pub zone: String,
    /// Its health state.
    pub state: TargetState,
    /// When it started draining (deregistration), nanoseconds on the engine's clock.
    pub draining_since_ns: Option<u64>,
    /// The encapsulation toward it, set by [`GatewaySnapshot::resolve_targets`]; `None`
    /// while its MAC address is not resolved.
    pub encap: Option<EncapTemplate>,
}

/// An endpoint attachment: where a GWLB endpoint's traffic enters and returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The numeric endpoint id (GENEVE option type 1).
    pub id: u64,
    /// The attachment id (GENEVE option type 2).
    pub attachment_id: u64,
    /// The port its traffic arrives on.
    pub port: u16,
    /// Its VLAN, or `None` for untagged.
    pub vlan: Option<u16>,
    /// Where decapsulated traffic is sent back to.
    pub next_hop: Ipv4Addr,
    /// Whether it may pass traffic (state `available`).
    pub available: bool,
    /// Its zone.
    pub zone: String,
}
