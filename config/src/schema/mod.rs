//! The typed configuration: what a valid sluice TOML file means.
//!
//! These are plain structs and enums with public, documented fields; the engine compiles them
//! into its snapshots and `sluice check-config --output json` serializes them to show the
//! effective configuration with every default filled in. A value of these types that came
//! from [`crate::parse`] or [`crate::load`] has passed [`Config::validate`].

pub mod appliance;
pub mod dataplane;
pub mod gateway;
pub mod management;
pub mod types;

use std::collections::BTreeSet;

use serde::Serialize;

use appliance::Appliance;
use dataplane::Dataplane;
use gateway::{
    Endpoint, EndpointService, EndpointState, Listener, LoadBalancer, Target, TargetGroup,
};
use management::Management;
use types::keyword_enum;

/// A whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `role` and the sections that belong to it.
    #[serde(flatten)]
    pub role: Role,
    /// `[dataplane]`: cores, DPDK resources and ports. Required for both roles.
    pub dataplane: Dataplane,
    /// `[management]`: the management API. Optional; all fields default.
    pub management: Management,
}

/// The role of this sluice instance, with the sections only that role has. Serialized as the
/// `role` key beside those sections, as in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Role {
    /// `role = "gateway"`: the load balancer.
    Gateway(Box<GatewayConfig>),
    /// `role = "appliance"`: the inspection appliance behind a GWLB.
    Appliance(Box<ApplianceConfig>),
}

keyword_enum! {
    /// The value of the top-level `role` key.
    pub enum RoleKind {
        /// The load balancer.
        Gateway = "gateway",
        /// The inspection appliance.
        Appliance = "appliance",
    }
}

/// The sections of the gateway role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayConfig {
    /// `[load_balancer]`. Required.
    pub load_balancer: LoadBalancer,
    /// `[listener]`. Optional; all fields default.
    pub listener: Listener,
    /// `[target_group]`. Required.
    pub target_group: TargetGroup,
    /// `[[target]]`: the registered appliances, 0–300 (at most 300 per zone).
    #[serde(rename = "target")]
    pub targets: Vec<Target>,
    /// `[endpoint_service]`. Optional; all fields default.
    pub endpoint_service: EndpointService,
    /// `[[endpoint]]`: the endpoints attached to this gateway. Default: none.
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<Endpoint>,
}

/// The sections of the appliance role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplianceConfig {
    /// `[appliance]`. Required.
    pub appliance: Appliance,
}

impl Config {
    /// Which role this configuration is for.
    pub fn kind(&self) -> RoleKind {
        match self.role {
            Role::Gateway(_) => RoleKind::Gateway,
            Role::Appliance(_) => RoleKind::Appliance,
        }
    }

    /// The gateway sections, for a gateway configuration.
    pub fn gateway(&self) -> Option<&GatewayConfig> {
        match &self.role {
            Role::Gateway(gateway) => Some(gateway),
            Role::Appliance(_) => None,
        }
    }

    /// The `[appliance]` section, for an appliance configuration.
    pub fn appliance(&self) -> Option<&Appliance> {
        match &self.role {
            Role::Appliance(appliance) => Some(&appliance.appliance),
            Role::Gateway(_) => None,
        }
    }

    /// A one-line description for logs and `sluice check-config`, such as
    /// `gateway "gwlb-1" in zone use1-az1: 2 ports, 2 workers, 4 targets in 2 zones,
    /// 3 endpoints (2 available), flow table 1048576`, or for an appliance
    /// `appliance: 1 port, 1 worker, GWLB sources 10.0.1.0/24, policy: 3 rules, default
    /// allow` followed by `, flow log /var/log/sluice/flows.jsonl` when the flow log is on.
    pub fn summary(&self) -> String {
        let dataplane = &self.dataplane;
        let ports = count(dataplane.ports.len(), "port");
        let workers = count(dataplane.worker_cores.len(), "worker");
        match &self.role {
            Role::Gateway(gateway) => {
                let zones: BTreeSet<&str> =
                    gateway.targets.iter().map(|t| t.zone.as_str()).collect();
                let available = gateway
                    .endpoints
                    .iter()
                    .filter(|e| e.state == EndpointState::Available)
                    .count();
                format!(
                    "gateway \"{}\" in zone {}: {ports}, {workers}, {} in {}, {} ({available} available), flow table {}",
                    gateway.load_balancer.name,
                    gateway.load_balancer.zone,
                    count(gateway.targets.len(), "target"),
                    count(zones.len(), "zone"),
                    count(gateway.endpoints.len(), "endpoint"),
                    dataplane.flow_table.capacity,
                )
            }
            Role::Appliance(appliance) => {
                let appliance = &appliance.appliance;
                let sources: Vec<String> = appliance
                    .gwlb_sources
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let flow_log = match (appliance.flow_log.enabled, &appliance.flow_log.path) {
                    (true, Some(path)) => format!(", flow log {}", path.display()),
                    _ => String::new(),
                };
                format!(
                    "appliance: {ports}, {workers}, GWLB sources {}, policy: {}, default {}{flow_log}",
                    sources.join(", "),
                    count(appliance.policy.rules.len(), "rule"),
                    appliance.policy.default_action,
                )
            }
        }
    }
}

/// Formats `n` with `noun`, pluralized with `s` unless `n` is 1.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
