//! Compilation of a validated [`Config`] into the engine's immutable [`Snapshot`]: the tables
//! the workers read, in the units the packet path uses.
//!
//! The configuration says what the operator wants; a snapshot also needs what only the running
//! process knows — each port's device MAC address, the neighbours ARP resolved, each target's
//! health — and those come in as [`RuntimeFacts`]. [`compile`] is a pure function of the two
//! and an epoch number, so the control thread can rebuild a snapshot whenever either changes
//! (a reload, a health transition, an ARP reply) and tests can build one without a NIC.
//!
//! What it guarantees, on success:
//!
//! - **Ports** keep the order of `[[dataplane.port]]`: a port's id is its index there. A
//!   port's MAC is its configured `mac`, else the device MAC from the facts. Its neighbours
//!   are the configured static entries and the learned ones merged, **static entries winning**
//!   over learned ones for the same address (as permanent ARP entries do), sorted by address
//!   as [`PortInfo::neighbors`] requires.
//! - **Targets** keep the order of `[[target]]` (flow records and Maglev tables index it),
//!   with `target_index` sorted by address. A target the facts do not mention is
//!   [`TargetState::Initial`]: it takes no new flows until its health checks pass.
//! - **New flows** use the Maglev view of the load balancer's zone (all zones with cross-zone
//!   load balancing), built with [`maglev::build_view`] at [`maglev::DEFAULT_TABLE_SIZE`], so
//!   its healthy / fail-open rules are the engine's, not re-implemented here.
//! - **The target port** is the port every target is reached through: the port whose subnet
//!   contains the target, else the port that has a `gateway`. The GENEVE side of a gateway is
//!   one port, so targets reached through different ports are an error
//!   ([`CompileError::TargetsOnSeveralPorts`]). With no targets at all it is the port that has
//!   a `gateway`, else port 0; nothing is sent there until targets are registered.
//! - **Endpoints** keep the order of `[[endpoint]]` (flow keys are scoped by that index); an
//!   endpoint passes traffic only when its state is `available`.
//!
//! [`compile`] trusts validation (ranges, unique names, ids that parse) but does not rely on
//! it for memory safety or panics: whatever it cannot map is a [`CompileError`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::IpNet;

use sluice_engine::flow::Stickiness as EngineStickiness;
use sluice_engine::maglev::{self, BuildError, TargetInfo, TargetState};
use sluice_engine::policy::{Action, Cidr, Policy, PolicyDefinition, PolicyError, Rule};
use sluice_engine::snapshot::{
    ApplianceSnapshot, Endpoint, FlowAttributes, GatewaySnapshot, PortInfo, RoleSnapshot, Snapshot,
    Target,
};
use sluice_wire::ethernet::EthernetAddress;
use sluice_wire::gwlb::{EndpointId, ParseEndpointIdError};

use crate::schema::appliance::{Appliance, InspectionPolicy, PolicyAction};
use crate::schema::dataplane::Port;
use crate::schema::gateway::{EndpointState, Stickiness, TargetFailover, parse_vpce_id};
use crate::schema::types::MacAddr;
use crate::schema::{Config, GatewayConfig, Role};

/// Nanoseconds per second.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// GWLB's idle timeout of every flow that is not TCP, fixed at 120 seconds
/// (`gwlb-spec.md` §2.3); only the TCP timeout is an attribute.
pub const NON_TCP_IDLE_TIMEOUT_SECONDS: u64 = 120;

/// What only the running process knows, and a snapshot needs besides the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeFacts {
    /// Facts about ports, by port name. Ports the configuration does not have are ignored.
    pub ports: BTreeMap<String, PortFacts>,
    /// Facts about targets, by address. Targets the configuration does not have are ignored;
    /// configured targets missing here are [`TargetState::Initial`].
    pub targets: BTreeMap<Ipv4Addr, TargetFacts>,
}

/// What the process learned about one port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortFacts {
    /// The device's own MAC address, used when the port has no configured `mac`.
    pub device_mac: Option<EthernetAddress>,
    /// Neighbours resolved by ARP, in any order. Static `neighbor` entries of the
    /// configuration take precedence over these.
    pub neighbors: Vec<(Ipv4Addr, EthernetAddress)>,
}

/// What the health checks and the API say about one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFacts {
    /// Its health state.
    pub state: TargetState,
    /// When it started draining (deregistration), nanoseconds on the engine's clock.
    pub draining_since_ns: Option<u64>,
}

/// Why a configuration could not be compiled into a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// A port has no configured `mac` and the runtime facts give no device MAC for it.
    #[error(
        "port \"{port}\" has no MAC address: no `mac` is configured and the device reported none"
    )]
    NoPortMac {
        /// The port's name.
        port: String,
    },
    /// The appliance's inspection policy does not compile.
    #[error("appliance.policy: {0}")]
    Policy(#[from] PolicyError),
    /// More ports than a port id (16 bits) can number.
    #[error("{count} ports do not fit 16-bit port ids")]
    TooManyPorts {
        /// How many ports are configured.
        count: usize,
    },
    /// More targets or endpoints than their 16-bit indices can number.
    #[error("{count} {what} do not fit 16-bit indices")]
    TooMany {
        /// `targets` or `endpoints`.
        what: &'static str,
        /// How many are configured.
        count: usize,
    },
    /// A target is neither inside a port's subnet nor behind a port with a `gateway`.
    #[error("target {ip} is not reachable: no port's subnet contains it and no port has a gateway")]
    TargetUnreachable {
        /// The target's address.
        ip: Ipv4Addr,
    },
    /// Targets are reached through more than one port; the gateway sends all GENEVE out of one.
    #[error(
        "targets must all be reached through one port: {first_ip} is reached through \"{first_port}\" but {other_ip} through \"{other_port}\""
    )]
    TargetsOnSeveralPorts {
        /// The first target.
        first_ip: Ipv4Addr,
        /// The port the first target is reached through.
        first_port: String,
        /// The first target reached through another port.
        other_ip: Ipv4Addr,
        /// That other port.
        other_port: String,
    },
    /// An endpoint's `id` is not a valid `vpce-` id.
    #[error("endpoint \"{id}\": {source}")]
    BadEndpointId {
        /// The id as configured.
        id: String,
        /// Why it does not parse.
        source: ParseEndpointIdError,
    },
    /// An endpoint names a port that is not configured.
    #[error("endpoint \"{id}\" names port \"{port}\", which is not configured")]
    UnknownPort {
        /// The endpoint's id.
        id: String,
        /// The port name it gives.
        port: String,
    },
    /// The Maglev view of the targets could not be built.
    #[error("the Maglev table of new flows could not be built: {0}")]
    Maglev(#[from] BuildError),
}

/// Compiles a validated configuration and the runtime facts into snapshot number `epoch`.
///
/// # Errors
///
/// A [`CompileError`] when a port has no MAC, when targets are unreachable or spread over
/// several ports, when an endpoint's id or port does not resolve, when counts overflow the
/// engine's 16-bit indices, or when the Maglev table cannot be built.
pub fn compile(
    config: &Config,
    runtime: &RuntimeFacts,
    epoch: u64,
) -> Result<Snapshot, CompileError> {
    let ports = config
        .dataplane
        .ports
        .iter()
        .map(|port| compile_port(port, runtime.ports.get(&port.name)))
        .collect::<Result<Vec<_>, _>>()?;
    if u16::try_from(ports.len()).is_err() {
        return Err(CompileError::TooManyPorts { count: ports.len() });
    }
    let role = match &config.role {
        Role::Gateway(gateway) => {
            let mut snapshot = compile_gateway(gateway, &config.dataplane.ports, runtime)?;
            snapshot.resolve_targets(&ports);
            RoleSnapshot::Gateway(snapshot)
        }
        Role::Appliance(appliance) => {
            RoleSnapshot::Appliance(compile_appliance(&appliance.appliance)?)
        }
    };
    Ok(Snapshot { epoch, ports, role })
}

/// Converts a configured MAC address to the wire crate's type.
fn to_ethernet(configured: MacAddr) -> EthernetAddress {
    EthernetAddress(configured.0)
}

/// A port's identity: configured values first, then what the device and ARP said.
fn compile_port(port: &Port, facts: Option<&PortFacts>) -> Result<PortInfo, CompileError> {
    let mac = port
        .mac
        .map(to_ethernet)
        .or_else(|| facts.and_then(|f| f.device_mac))
        .ok_or_else(|| CompileError::NoPortMac {
            port: port.name.clone(),
        })?;
    // Static entries go first so that the dedup below keeps them over learned ones.
    let mut neighbors: Vec<(Ipv4Addr, EthernetAddress)> = port
        .neighbors
        .iter()
        .map(|n| (n.ip, to_ethernet(n.mac)))
        .collect();
    if let Some(facts) = facts {
        neighbors.extend(facts.neighbors.iter().copied());
    }
    // A stable sort keeps the static entry first among equal addresses.
    neighbors.sort_by_key(|(ip, _)| *ip);
    neighbors.dedup_by_key(|(ip, _)| *ip);
    Ok(PortInfo {
        name: port.name.clone(),
        mac,
        address: port.address.addr(),
        prefix_len: port.address.prefix_len(),
        neighbors,
        gateway: port.gateway,
    })
}

/// The gateway's tables: attributes, targets, the Maglev view, endpoints, the target port.
fn compile_gateway(
    gateway: &GatewayConfig,
    ports: &[Port],
    runtime: &RuntimeFacts,
) -> Result<GatewaySnapshot, CompileError> {
    let listener = &gateway.listener.attributes;
    let group = &gateway.target_group.attributes;
    // Validation requires `on_deregistration` to equal `on_unhealthy`, as GWLB does.
    let rebalance = group.target_failover_on_unhealthy == TargetFailover::Rebalance;
    let attributes = FlowAttributes {
        stickiness: match group.stickiness() {
            Stickiness::FiveTuple => EngineStickiness::FiveTuple,
            Stickiness::ThreeTuple => EngineStickiness::ThreeTuple,
            Stickiness::TwoTuple => EngineStickiness::TwoTuple,
        },
        tcp_idle_timeout_ns: seconds(u64::from(listener.tcp_idle_timeout_seconds)),
        other_idle_timeout_ns: seconds(NON_TCP_IDLE_TIMEOUT_SECONDS),
        rebalance,
        deregistration_delay_ns: seconds(u64::from(group.deregistration_delay_timeout_seconds)),
        reset_on_idle_timeout: listener.send_tcp_reset_on_idle_timeout_enabled,
        reset_on_unhealthy: group.send_tcp_reset_on_unhealthy_enabled,
        reset_on_deregistration: group.send_tcp_reset_on_deregistration_enabled,
    };

    let infos: Vec<TargetInfo> = gateway
        .targets
        .iter()
        .map(|t| TargetInfo {
            ip: t.ip,
            zone: t.zone.clone(),
            state: runtime
                .targets
                .get(&t.ip)
                .map_or(TargetState::Initial, |f| f.state),
        })
        .collect();
    let targets: Vec<Target> = infos
        .iter()
        .map(|t| Target {
            ip: t.ip,
            zone: t.zone.clone(),
            state: t.state,
            draining_since_ns: runtime.targets.get(&t.ip).and_then(|f| f.draining_since_ns),
            encap: None,
        })
        .collect();
    let mut target_index = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let i = u16::try_from(i).map_err(|_| CompileError::TooMany {
            what: "targets",
            count: targets.len(),
        })?;
        target_index.push((target.ip, i));
    }
    target_index.sort_unstable();
    let lb = &gateway.load_balancer;
    let new_flows = maglev::build_view(
        &infos,
        &lb.zone,
        lb.attributes.cross_zone_enabled,
        maglev::DEFAULT_TABLE_SIZE,
    )?;

    if u16::try_from(gateway.endpoints.len()).is_err() {
        return Err(CompileError::TooMany {
            what: "endpoints",
            count: gateway.endpoints.len(),
        });
    }
    let endpoints = gateway
        .endpoints
        .iter()
        .map(|e| {
            let id =
                e.id.parse::<EndpointId>()
                    .map_err(|source| CompileError::BadEndpointId {
                        id: e.id.clone(),
                        source,
                    })?;
            let port = port_index(ports, &e.port).ok_or_else(|| CompileError::UnknownPort {
                id: e.id.clone(),
                port: e.port.clone(),
            })?;
            Ok(Endpoint {
                id: id.0,
                attachment_id: e.attachment_id,
                port,
                vlan: e.vlan,
                next_hop: e.next_hop,
                available: e.state == EndpointState::Available,
                zone: e.zone.clone(),
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;

    Ok(GatewaySnapshot {
        attributes,
        targets,
        target_index,
        new_flows,
        endpoints,
        target_port: target_port(gateway, ports)?,
    })
}

/// The one port all targets are reached through (see the module documentation).
fn target_port(gateway: &GatewayConfig, ports: &[Port]) -> Result<u16, CompileError> {
    let gateway_port = ports.iter().position(|p| p.gateway.is_some());
    let mut chosen: Option<(Ipv4Addr, usize)> = None;
    for target in &gateway.targets {
        let port = ports
            .iter()
            .position(|p| p.address.contains(&target.ip))
            .or(gateway_port)
            .ok_or(CompileError::TargetUnreachable { ip: target.ip })?;
        match chosen {
            None => chosen = Some((target.ip, port)),
            Some((_, first)) if first == port => {}
            Some((first_ip, first)) => {
                return Err(CompileError::TargetsOnSeveralPorts {
                    first_ip,
                    first_port: ports[first].name.clone(),
                    other_ip: target.ip,
                    other_port: ports[port].name.clone(),
                });
            }
        }
    }
    let index = chosen.map(|(_, port)| port).or(gateway_port).unwrap_or(0);
    u16::try_from(index).map_err(|_| CompileError::TooManyPorts { count: ports.len() })
}

/// The id of the port called `name`.
fn port_index(ports: &[Port], name: &str) -> Option<u16> {
    ports
        .iter()
        .position(|p| p.name == name)
        .and_then(|i| u16::try_from(i).ok())
}

/// The appliance's tables.
fn compile_appliance(appliance: &Appliance) -> Result<ApplianceSnapshot, CompileError> {
    Ok(ApplianceSnapshot {
        gwlb_sources: appliance
            .gwlb_sources
            .iter()
            .map(|net| (net.network(), net.prefix_len()))
            .collect(),
        tcp_idle_timeout_ns: seconds(u64::from(appliance.tcp_idle_timeout_seconds)),
        other_idle_timeout_ns: seconds(u64::from(appliance.non_tcp_idle_timeout_seconds)),
        mss_clamp: (appliance.mss_clamp != 0).then_some(appliance.mss_clamp),
        policy: Arc::new(Policy::new(policy_definition(&appliance.policy))?),
    })
}

/// The engine's form of the configured inspection policy (validation has checked the
/// endpoint ids, networks and keys it converts).
pub fn policy_definition(policy: &InspectionPolicy) -> PolicyDefinition {
    let action = |a: PolicyAction| match a {
        PolicyAction::Allow => Action::Allow,
        PolicyAction::Deny => Action::Deny,
        PolicyAction::Reject => Action::Reject,
    };
    let nets = |nets: &Option<Vec<IpNet>>| {
        nets.as_ref().map(|nets| {
            nets.iter()
                .map(|n| Cidr {
                    addr: n.network(),
                    prefix_len: n.prefix_len(),
                })
                .collect()
        })
    };
    PolicyDefinition {
        rules: policy
            .rules
            .iter()
            .map(|r| Rule {
                name: r.name.clone(),
                action: action(r.action),
                endpoints: r
                    .endpoints
                    .as_ref()
                    .map(|ids| ids.iter().filter_map(|id| parse_vpce_id(id)).collect()),
                sources: nets(&r.sources),
                destinations: nets(&r.destinations),
                protocols: r
                    .protocols
                    .as_ref()
                    .map(|p| p.iter().map(|p| p.number()).collect()),
                ports: r
                    .ports
                    .as_ref()
                    .map(|p| p.iter().map(|p| (p.first, p.last)).collect()),
                icmp_types: r.icmp_types.clone(),
            })
            .collect(),
        default_action: action(policy.default_action),
        strict_tcp: policy.strict_tcp,
    }
}

/// Seconds to nanoseconds; every configured timeout is far below the overflow.
const fn seconds(s: u64) -> u64 {
    s.saturating_mul(NANOS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const SEC: u64 = NANOS_PER_SECOND;

    fn example(name: &str) -> Config {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        crate::load(&path).unwrap()
    }

    fn mac(last: u8) -> EthernetAddress {
        EthernetAddress([0x02, 0xaa, 0, 0, 0, last])
    }

    /// Facts that give every port a device MAC and every target the same state.
    fn facts(config: &Config, state: TargetState) -> RuntimeFacts {
        let mut facts = RuntimeFacts::default();
        for (i, port) in config.dataplane.ports.iter().enumerate() {
            facts.ports.insert(
                port.name.clone(),
                PortFacts {
                    device_mac: Some(mac(0x80 + i as u8)),
                    neighbors: Vec::new(),
                },
            );
        }
        if let Some(gateway) = config.gateway() {
            for target in &gateway.targets {
                facts.targets.insert(
                    target.ip,
                    TargetFacts {
                        state,
                        draining_since_ns: None,
                    },
                );
            }
        }
        facts
    }

    fn gateway_of(snapshot: &Snapshot) -> &GatewaySnapshot {
        match &snapshot.role {
            RoleSnapshot::Gateway(gateway) => gateway,
            RoleSnapshot::Appliance(_) => panic!("not a gateway snapshot"),
        }
    }

    #[test]
    fn every_example_compiles() {
        for name in ["gateway.toml", "minimal-gateway.toml", "appliance.toml"] {
            let config = example(name);
            let snapshot = compile(&config, &facts(&config, TargetState::Healthy), 7)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(snapshot.epoch, 7);
            assert_eq!(snapshot.ports.len(), config.dataplane.ports.len(), "{name}");
        }
    }

    #[test]
    fn ports_keep_their_order_mac_and_merged_sorted_neighbours() {
        let config = example("gateway.toml");
        let mut facts = facts(&config, TargetState::Healthy);
        let uplink = facts.ports.get_mut("uplink").unwrap();
        // A learned entry for the statically configured router loses to the static one.
        uplink.neighbors = vec![
            (Ipv4Addr::new(10, 0, 0, 254), mac(1)),
            (Ipv4Addr::new(10, 0, 0, 253), mac(2)),
            (Ipv4Addr::new(10, 0, 0, 9), mac(3)),
        ];
        let snapshot = compile(&config, &facts, 1).unwrap();
        let [up, app] = &snapshot.ports[..] else {
            panic!("two ports")
        };
        assert_eq!(up.name, "uplink");
        assert_eq!(
            up.mac,
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            "configured mac wins"
        );
        assert_eq!(up.address, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(up.prefix_len, 24);
        assert_eq!(up.gateway, Some(Ipv4Addr::new(10, 0, 0, 254)));
        assert_eq!(
            up.neighbors,
            vec![
                (Ipv4Addr::new(10, 0, 0, 9), mac(3)),
                (Ipv4Addr::new(10, 0, 0, 253), mac(2)),
                (
                    Ipv4Addr::new(10, 0, 0, 254),
                    EthernetAddress([2, 0, 0, 0, 0, 0xfe])
                ),
            ]
        );
        assert_eq!(app.name, "appliances");
        assert_eq!(app.mac, mac(0x81), "the device MAC when none is configured");
        assert_eq!(app.gateway, None);
        assert!(app.neighbors.is_empty());

        facts.ports.remove("appliances");
        assert_eq!(
            compile(&config, &facts, 1).unwrap_err(),
            CompileError::NoPortMac {
                port: "appliances".into()
            }
        );
    }

    #[test]
    fn gateway_attributes_targets_and_endpoints_map_field_by_field() {
        let config = example("gateway.toml");
        let mut facts = facts(&config, TargetState::Healthy);
        facts.targets.insert(
            Ipv4Addr::new(10, 0, 1, 21),
            TargetFacts {
                state: TargetState::Draining,
                draining_since_ns: Some(5 * SEC),
            },
        );
        facts.targets.remove(&Ipv4Addr::new(10, 0, 1, 20));
        let snapshot = compile(&config, &facts, 1).unwrap();
        let gw = gateway_of(&snapshot);

        assert_eq!(
            gw.attributes,
            FlowAttributes {
                stickiness: EngineStickiness::FiveTuple,
                tcp_idle_timeout_ns: 600 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                rebalance: true,
                deregistration_delay_ns: 120 * SEC,
                reset_on_idle_timeout: true,
                reset_on_unhealthy: true,
                reset_on_deregistration: false,
            }
        );

        let ips: Vec<Ipv4Addr> = gw.targets.iter().map(|t| t.ip).collect();
        assert_eq!(
            ips,
            [
                [10, 0, 1, 10],
                [10, 0, 1, 11],
                [10, 0, 1, 20],
                [10, 0, 1, 21]
            ]
            .map(Ipv4Addr::from)
        );
        assert_eq!(gw.targets[0].zone, "use1-az1");
        assert_eq!(gw.targets[2].zone, "use1-az2");
        assert_eq!(gw.targets[0].state, TargetState::Healthy);
        assert_eq!(
            gw.targets[2].state,
            TargetState::Initial,
            "unknown → initial"
        );
        assert_eq!(gw.targets[3].state, TargetState::Draining);
        assert_eq!(gw.targets[3].draining_since_ns, Some(5 * SEC));
        assert!(gw.target_index.is_sorted());
        for (i, target) in gw.targets.iter().enumerate() {
            assert_eq!(gw.target_by_ip(target.ip), Some(i as u16));
        }
        assert_eq!(
            gw.target_port, 1,
            "the targets are in the appliances subnet"
        );
        assert_eq!(gw.new_flows.candidates, [0, 1], "own zone, healthy");
        assert!(!gw.new_flows.fail_open);

        let [a, b, pending] = &gw.endpoints[..] else {
            panic!("three endpoints")
        };
        assert_eq!(
            *a,
            Endpoint {
                id: 0xa1b2_c3d4_e5f6_0718,
                attachment_id: 1,
                port: 0,
                vlan: None,
                next_hop: Ipv4Addr::new(10, 0, 0, 254),
                available: true,
                zone: "use1-az1".into(),
            }
        );
        assert_eq!(EndpointId(b.id).to_string(), "vpce-0f1e2d3c4b5a69788");
        assert_eq!((b.vlan, b.attachment_id, b.available), (Some(100), 2, true));
        assert_eq!(b.next_hop, Ipv4Addr::new(10, 0, 0, 253));
        assert_eq!(pending.id, 3);
        assert_eq!(pending.vlan, Some(200));
        assert!(!pending.available, "pendingAcceptance passes no traffic");
        assert_eq!(gw.endpoint_at(0, Some(100)), Some(1));
    }

    #[test]
    fn stickiness_and_failover_follow_the_attributes() {
        let mut config = example("gateway.toml");
        let Role::Gateway(gateway) = &mut config.role else {
            panic!("gateway")
        };
        let attributes = &mut gateway.target_group.attributes;
        attributes.stickiness_enabled = true;
        attributes.stickiness_type = Some(crate::schema::gateway::StickinessType::SourceIpDestIp);
        attributes.target_failover_on_unhealthy = TargetFailover::NoRebalance;
        attributes.target_failover_on_deregistration = TargetFailover::NoRebalance;
        gateway.listener.attributes.tcp_idle_timeout_seconds = 350;
        let facts = facts(&config, TargetState::Healthy);
        let snapshot = compile(&config, &facts, 1).unwrap();
        let attributes = gateway_of(&snapshot).attributes;
        assert_eq!(attributes.stickiness, EngineStickiness::TwoTuple);
        assert!(!attributes.rebalance);
        assert_eq!(attributes.tcp_idle_timeout_ns, 350 * SEC);
    }

    #[test]
    fn health_states_shape_the_new_flow_view() {
        let config = example("gateway.toml");
        // Nothing known yet: every target is initial, and initial targets take no flows,
        // not even in fail-open.
        let snapshot = compile(
            &config,
            &RuntimeFacts {
                ports: facts(&config, TargetState::Healthy).ports,
                targets: BTreeMap::new(),
            },
            1,
        )
        .unwrap();
        let view = &gateway_of(&snapshot).new_flows;
        assert!(view.candidates.is_empty());
        assert!(view.table.is_empty());
        assert!(view.table.lookup(42).is_none());

        // Every target unhealthy: fail open over the own zone's registered targets.
        let snapshot = compile(&config, &facts(&config, TargetState::Unhealthy), 1).unwrap();
        let view = &gateway_of(&snapshot).new_flows;
        assert!(view.fail_open);
        assert_eq!(view.candidates, [0, 1]);

        // One own-zone target healthy: it takes every new flow.
        let mut one = facts(&config, TargetState::Unhealthy);
        one.targets
            .get_mut(&Ipv4Addr::new(10, 0, 1, 11))
            .unwrap()
            .state = TargetState::Healthy;
        let snapshot = compile(&config, &one, 1).unwrap();
        let view = &gateway_of(&snapshot).new_flows;
        assert!(!view.fail_open);
        assert_eq!(view.candidates, [1]);
        assert!((0..100u64).all(|h| view.table.lookup(h) == Some(1)));
    }

    #[test]
    fn cross_zone_widens_the_view() {
        let mut config = example("gateway.toml");
        let Role::Gateway(gateway) = &mut config.role else {
            panic!("gateway")
        };
        gateway.load_balancer.attributes.cross_zone_enabled = true;
        let snapshot = compile(&config, &facts(&config, TargetState::Healthy), 1).unwrap();
        assert_eq!(gateway_of(&snapshot).new_flows.candidates, [0, 1, 2, 3]);
    }

    #[test]
    fn targets_behind_two_ports_are_refused() {
        let mut config = example("gateway.toml");
        let Role::Gateway(gateway) = &mut config.role else {
            panic!("gateway")
        };
        gateway.targets[3].ip = Ipv4Addr::new(10, 0, 0, 50);
        let err = compile(&config, &facts(&config, TargetState::Healthy), 1).unwrap_err();
        assert_eq!(
            err,
            CompileError::TargetsOnSeveralPorts {
                first_ip: Ipv4Addr::new(10, 0, 1, 10),
                first_port: "appliances".into(),
                other_ip: Ipv4Addr::new(10, 0, 0, 50),
                other_port: "uplink".into(),
            }
        );
        assert!(err.to_string().contains("one port"), "{err}");
    }

    #[test]
    fn a_gateway_without_targets_compiles_to_an_empty_view() {
        let config = example("minimal-gateway.toml");
        let snapshot = compile(&config, &facts(&config, TargetState::Healthy), 1).unwrap();
        let gw = gateway_of(&snapshot);
        assert!(gw.targets.is_empty() && gw.endpoints.is_empty());
        assert!(gw.new_flows.table.is_empty());
        assert_eq!(gw.target_port, 0);
        assert_eq!(gw.attributes.tcp_idle_timeout_ns, 350 * SEC);
    }

    #[test]
    fn the_appliance_snapshot_maps_sources_timeouts_and_clamp() {
        let mut config = example("appliance.toml");
        let snapshot = compile(&config, &facts(&config, TargetState::Healthy), 1).unwrap();
        let RoleSnapshot::Appliance(app) = &snapshot.role else {
            panic!("appliance")
        };
        let Role::Appliance(configured) = &config.role else {
            panic!("appliance")
        };
        let policy = policy_definition(&configured.appliance.policy);
        assert_eq!(policy.rules.len(), configured.appliance.policy.rules.len());
        assert_eq!(
            *app,
            ApplianceSnapshot {
                gwlb_sources: vec![(Ipv4Addr::new(10, 0, 1, 0), 24)],
                tcp_idle_timeout_ns: 350 * SEC,
                other_idle_timeout_ns: 120 * SEC,
                mss_clamp: Some(8460),
                policy: Arc::new(Policy::new(policy).unwrap()),
            }
        );
        assert_eq!(snapshot.ports[0].gateway, Some(Ipv4Addr::new(10, 0, 1, 1)));
        let Role::Appliance(appliance) = &mut config.role else {
            panic!("appliance")
        };
        appliance.appliance.mss_clamp = 0;
        let snapshot = compile(&config, &facts(&config, TargetState::Healthy), 1).unwrap();
        let RoleSnapshot::Appliance(app) = &snapshot.role else {
            panic!("appliance")
        };
        assert_eq!(app.mss_clamp, None, "0 turns clamping off");
    }
}
