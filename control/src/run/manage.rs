//! The control thread's side of the management API: the state that API changes add to the
//! configuration file, persisted beside it, and the execution of each action.
//!
//! # The state file
//!
//! What the API changes — targets registered or deregistered, target group and listener
//! attributes, endpoints created, accepted or rejected — is kept in [`ApiState`] and written
//! atomically (a temporary file, `fsync`, `rename`, mode 0600) to `management.state_file`
//! before it takes effect, so that it survives a restart. The running configuration is
//! always the file's configuration with the state laid over it ([`effective`]), validated as
//! a whole: a change the configuration rules refuse is refused, and a reload of the file
//! keeps the API's changes.
//!
//! # Requests
//!
//! The API server's threads authenticate, authorize and audit a request, then hand it to the
//! control thread through a bounded channel ([`ControlBackend`]) and wait for the answer. The
//! control loop takes requests between its other duties; each is a short computation (a
//! listing of flows is bounded by the table's capacity and the request's limit).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_config::schema::gateway::{
    Endpoint as EndpointConfig, EndpointState, StickinessType, Target as TargetConfig,
    TargetFailover,
};
use sluice_config::{Config, Role};

use ipnet::IpNet;
use serde_json::json;
use sluice_config::schema::types::IpProtocol;
use sluice_engine::flow::{Direction, FlowKey};
use sluice_engine::flow_table::FlowTime;
use sluice_engine::maglev::TargetState;
use sluice_engine::policy::FlowVerdict;
use sluice_engine::snapshot::RoleSnapshot;
use sluice_wire::gwlb::EndpointId;

use super::{Control, Io};
use crate::api::{ApiError, Backend, Request, ResourceNames};
use crate::metrics::{MetricsSnapshot, PeakTracker, PolicyMetrics, RuleMetrics, ZoneMetrics};

/// The version of the state file's format.
const STATE_VERSION: u32 = 1;

/// How long an API thread waits for the control thread's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the management API changed, laid over the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiState {
    /// The format's version (1).
    pub version: u32,
    /// Targets registered through the API (not in the file).
    #[serde(default)]
    pub registered: Vec<StateTarget>,
    /// Targets of the file deregistered through the API.
    #[serde(default)]
    pub deregistered: Vec<Ipv4Addr>,
    /// Target group attributes set through the API, by GWLB name.
    #[serde(default)]
    pub target_group_attributes: BTreeMap<String, String>,
    /// Listener attributes set through the API, by GWLB name.
    #[serde(default)]
    pub listener_attributes: BTreeMap<String, String>,
    /// Endpoints created through the API.
    #[serde(default)]
    pub created_endpoints: Vec<StateEndpoint>,
    /// Endpoint states set through the API (accepted, rejected), by endpoint id.
    #[serde(default)]
    pub endpoint_states: BTreeMap<String, String>,
}

/// A target registered through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateTarget {
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its zone.
    pub zone: String,
}

/// An endpoint created through the API (`CreateEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateEndpoint {
    /// Its id (`vpce-…`).
    pub id: String,
    /// The port its traffic arrives on.
    pub port: String,
    /// Its VLAN, if tagged.
    pub vlan: Option<u16>,
    /// Where inspected traffic goes back to.
    pub next_hop: Ipv4Addr,
    /// Its zone.
    pub zone: String,
    /// The principal that created it.
    pub principal: String,
}

/// Why the state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file could not be read.
    #[error(
        "state file {path}: {source}\n  hint: check its permissions, or move it away to start from the configuration alone"
    )]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The file is not a state file of this version.
    #[error(
        "state file {path}: {message}\n  hint: it is written by sluice's management API; restore a backup or move it away to start from the configuration alone"
    )]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file could not be written.
    #[error("state file {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
}

impl ApiState {
    /// Reads the state file; a missing file is an empty state.
    ///
    /// # Errors
    ///
    /// A [`StateError`] for an unreadable file or one that is not a state of this version.
    pub fn load(path: &Path) -> Result<Self, StateError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ApiState {
                    version: STATE_VERSION,
                    ..ApiState::default()
                });
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let state: ApiState = serde_json::from_str(&text).map_err(|e| StateError::Parse {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Parse {
                path: path.display().to_string(),
                message: format!(
                    "version {} (this sluice reads version {STATE_VERSION})",
                    state.version
                ),
            });
        }
        Ok(state)
    }

    /// Writes the state atomically: a temporary file beside it (mode 0600), synced, renamed
    /// over it, and the directory synced.
    ///
    /// # Errors
    ///
    /// A [`StateError::Write`]; the previous file is then unchanged.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let failed = |source| StateError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| failed(std::io::Error::other(e.to_string())))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(failed)?;
        file.write_all(text.as_bytes()).map_err(failed)?;
        file.write_all(b"\n").map_err(failed)?;
        file.sync_all().map_err(failed)?;
        fs::rename(&tmp, path).map_err(failed)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = fs::File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The running configuration: the file's, with the API's state laid over it, validated.
///
/// # Errors
///
/// A `400 ValidationError` naming what the state makes invalid.
pub fn effective(file: &Config, state: &ApiState) -> Result<Config, ApiError> {
    let mut config = file.clone();
    if let Role::Gateway(g) = &mut config.role {
        g.targets.retain(|t| !state.deregistered.contains(&t.ip));
        for t in &state.registered {
            if !g.targets.iter().any(|c| c.ip == t.ip) {
                g.targets.push(TargetConfig {
                    ip: t.ip,
                    zone: t.zone.clone(),
                });
            }
        }
        for (name, value) in &state.target_group_attributes {
            set_target_group_attribute(&mut g.target_group.attributes, name, value)?;
        }
        for (name, value) in &state.listener_attributes {
            set_listener_attribute(&mut g.listener.attributes, name, value)?;
        }
        for e in &state.created_endpoints {
            if !g.endpoints.iter().any(|c| c.id == e.id) {
                g.endpoints.push(EndpointConfig {
                    id: e.id.clone(),
                    port: e.port.clone(),
                    vlan: e.vlan,
                    next_hop: e.next_hop,
                    zone: e.zone.clone(),
                    state: if g.endpoint_service.acceptance_required {
                        EndpointState::PendingAcceptance
                    } else {
                        EndpointState::Available
                    },
                    principal: Some(e.principal.clone()),
                    attachment_id: 0,
                });
            }
        }
        for (id, state) in &state.endpoint_states {
            if let Some(e) = g.endpoints.iter_mut().find(|e| &e.id == id) {
                e.state = endpoint_state(state)?;
            }
        }
    }
    config.validate().map_err(|violations| {
        ApiError::validation(
            violations
                .iter()
                .map(|v| format!("{}: {}", v.key, v.message))
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    Ok(config)
}

fn endpoint_state(text: &str) -> Result<EndpointState, ApiError> {
    [
        EndpointState::PendingAcceptance,
        EndpointState::Available,
        EndpointState::Rejected,
    ]
    .into_iter()
    .find(|s| s.as_str() == text)
    .ok_or_else(|| ApiError::validation(format!("unknown endpoint state \"{text}\"")))
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::validation(format!(
            "{name}: \"{value}\" is not \"true\" or \"false\""
        ))),
    }
}

fn parse_number(name: &str, value: &str) -> Result<u16, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::validation(format!("{name}: \"{value}\" is not a number")))
}

/// The target group attributes the API can change, by GWLB name.
pub const TARGET_GROUP_ATTRIBUTES: [&str; 7] = [
    "deregistration_delay.timeout_seconds",
    "stickiness.enabled",
    "stickiness.type",
    "target_failover.on_deregistration",
    "target_failover.on_unhealthy",
    "send_tcp_reset.on_unhealthy.enabled",
    "send_tcp_reset.on_deregistration.enabled",
];

/// The listener attributes the API can change, by GWLB name.
pub const LISTENER_ATTRIBUTES: [&str; 2] = [
    "tcp.idle_timeout.seconds",
    "send_tcp_reset.on_idle_timeout.enabled",
];

fn set_target_group_attribute(
    a: &mut sluice_config::schema::gateway::TargetGroupAttributes,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    let failover = |value: &str| {
        [TargetFailover::Rebalance, TargetFailover::NoRebalance]
            .into_iter()
            .find(|f| f.as_str() == value)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "{name}: \"{value}\" is not \"rebalance\" or \"no_rebalance\""
                ))
            })
    };
    match name {
        "deregistration_delay.timeout_seconds" => {
            a.deregistration_delay_timeout_seconds = parse_number(name, value)?;
        }
        "stickiness.enabled" => a.stickiness_enabled = parse_bool(name, value)?,
        "stickiness.type" => {
            a.stickiness_type = Some(
                [
                    StickinessType::SourceIpDestIp,
                    StickinessType::SourceIpDestIpProto,
                ]
                .into_iter()
                .find(|t| t.as_str() == value)
                .ok_or_else(|| {
                    ApiError::validation(format!(
                        "{name}: \"{value}\" is not \"source_ip_dest_ip\" or \"source_ip_dest_ip_proto\""
                    ))
                })?,
            );
        }
        "target_failover.on_deregistration" => {
            a.target_failover_on_deregistration = failover(value)?;
        }
        "target_failover.on_unhealthy" => a.target_failover_on_unhealthy = failover(value)?,
        "send_tcp_reset.on_unhealthy.enabled" => {
            a.send_tcp_reset_on_unhealthy_enabled = parse_bool(name, value)?;
        }
        "send_tcp_reset.on_deregistration.enabled" => {
            a.send_tcp_reset_on_deregistration_enabled = parse_bool(name, value)?;
        }
        _ => {
            return Err(ApiError::validation(format!(
                "unknown target group attribute \"{name}\"; the API can change: {}",
                TARGET_GROUP_ATTRIBUTES.join(", ")
            )));
        }
    }
    Ok(())
}

fn set_listener_attribute(
    a: &mut sluice_config::schema::gateway::ListenerAttributes,
    name: &str,
    value: &str,
) -> Result<(), ApiError> {
    match name {
        "tcp.idle_timeout.seconds" => a.tcp_idle_timeout_seconds = parse_number(name, value)?,
        "send_tcp_reset.on_idle_timeout.enabled" => {
            a.send_tcp_reset_on_idle_timeout_enabled = parse_bool(name, value)?;
        }
        _ => {
            return Err(ApiError::validation(format!(
                "unknown listener attribute \"{name}\"; the API can change: {}",
                LISTENER_ATTRIBUTES.join(", ")
            )));
        }
    }
    Ok(())
}

/// The current target group attributes, by GWLB name, as strings.
pub fn target_group_attributes(
    a: &sluice_config::schema::gateway::TargetGroupAttributes,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "deregistration_delay.timeout_seconds".to_owned(),
            a.deregistration_delay_timeout_seconds.to_string(),
        ),
        (
            "stickiness.enabled".to_owned(),
            a.stickiness_enabled.to_string(),
        ),
        (
            "stickiness.type".to_owned(),
            a.stickiness_type
                .map_or(String::new(), |t| t.as_str().to_owned()),
        ),
        (
            "target_failover.on_deregistration".to_owned(),
            a.target_failover_on_deregistration.as_str().to_owned(),
        ),
        (
            "target_failover.on_unhealthy".to_owned(),
            a.target_failover_on_unhealthy.as_str().to_owned(),
        ),
        (
            "send_tcp_reset.on_unhealthy.enabled".to_owned(),
            a.send_tcp_reset_on_unhealthy_enabled.to_string(),
        ),
        (
            "send_tcp_reset.on_deregistration.enabled".to_owned(),
            a.send_tcp_reset_on_deregistration_enabled.to_string(),
        ),
    ])
}

/// The current listener attributes, by GWLB name, as strings.
pub fn listener_attributes(
    a: &sluice_config::schema::gateway::ListenerAttributes,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "tcp.idle_timeout.seconds".to_owned(),
            a.tcp_idle_timeout_seconds.to_string(),
        ),
        (
            "send_tcp_reset.on_idle_timeout.enabled".to_owned(),
            a.send_tcp_reset_on_idle_timeout_enabled.to_string(),
        ),
    ])
}

/// The state after a request that changes it, or `None` for requests that only read.
///
/// # Errors
///
/// A `400 ValidationError` for bad parameters, `404` for unknown targets or endpoints, `403`
/// for a `CreateEndpoint` by a principal the endpoint service does not allow.
pub fn changed_state(
    config: &Config,
    state: &ApiState,
    request: &Request,
) -> Result<Option<ApiState>, ApiError> {
    let Role::Gateway(g) = &config.role else {
        return match request.action.as_str() {
            "DescribeFlows" | "DescribeMetrics" | "ReloadConfiguration" => Ok(None),
            other => Err(ApiError::new(
                400,
                "UnsupportedOperation",
                format!("{other} applies to the gateway role; this instance is an appliance"),
            )),
        };
    };
    let mut next = state.clone();
    let params = &request.params;
    match request.action.as_str() {
        "RegisterTargets" => {
            for t in list(params, "targets")? {
                let ip = ip_param(t, "ip")?;
                let zone = match t.get("zone").and_then(Value::as_str) {
                    Some(z) => z.to_owned(),
                    None => g.load_balancer.zone.clone(),
                };
                next.deregistered.retain(|d| *d != ip);
                let in_file = config_has_target(config, ip) && !state.deregistered.contains(&ip);
                if !in_file && !next.registered.iter().any(|r| r.ip == ip) {
                    next.registered.push(StateTarget { ip, zone });
                }
            }
        }
        "DeregisterTargets" => {
            for t in list(params, "targets")? {
                let ip = ip_param(t, "ip")?;
                if !g.targets.iter().any(|c| c.ip == ip) {
                    return Err(ApiError::new(
                        404,
                        "InvalidTarget",
                        format!("{ip} is not a registered target; see `sluice targets`"),
                    ));
                }
                if next.registered.iter().any(|r| r.ip == ip) {
                    next.registered.retain(|r| r.ip != ip);
                } else if !next.deregistered.contains(&ip) {
                    next.deregistered.push(ip);
                }
            }
        }
        "ModifyTargetGroupAttributes" | "ModifyListenerAttributes" => {
            let attributes = params
                .get("attributes")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    ApiError::validation("\"attributes\" must be an object of name: value")
                })?;
            let target = if request.action == "ModifyListenerAttributes" {
                &mut next.listener_attributes
            } else {
                &mut next.target_group_attributes
            };
            for (name, value) in attributes {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(ApiError::validation(format!(
                            "{name}: values are strings, as in ELB"
                        )));
                    }
                };
                target.insert(name.clone(), value);
            }
        }
        "AcceptEndpointConnections" | "RejectEndpointConnections" => {
            let to = if request.action == "AcceptEndpointConnections" {
                EndpointState::Available
            } else {
                EndpointState::Rejected
            };
            for id in list(params, "endpoint_ids")? {
                let id = id
                    .as_str()
                    .ok_or_else(|| ApiError::validation("endpoint_ids are vpce-… strings"))?;
                if !g.endpoints.iter().any(|e| e.id == id) {
                    return Err(ApiError::new(
                        404,
                        "InvalidVpcEndpointId.NotFound",
                        format!("no endpoint {id}; see `sluice endpoints`"),
                    ));
                }
                next.endpoint_states
                    .insert(id.to_owned(), to.as_str().to_owned());
            }
        }
        "CreateEndpoint" => {
            let allowed = &g.endpoint_service.allowed_principals;
            if !allowed.is_empty() && !allowed.iter().any(|p| p == "*" || *p == request.principal) {
                return Err(ApiError::new(
                    403,
                    "AccessDenied",
                    format!(
                        "principal {} is not one of the endpoint service's allowed_principals",
                        request.principal
                    ),
                ));
            }
            let id = match params.get("id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => new_endpoint_id(config, state),
            };
            if g.endpoints.iter().any(|e| e.id == id) {
                return Err(ApiError::new(
                    409,
                    "DuplicateEndpoint",
                    format!("endpoint {id} exists already"),
                ));
            }
            let port = params
                .get("port")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    ApiError::validation("\"port\": the dataplane port name is required")
                })?
                .to_owned();
            let vlan = match params.get("vlan") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|v| u16::try_from(v).ok())
                        .ok_or_else(|| ApiError::validation("\"vlan\" is a number 1–4094"))?,
                ),
            };
            next.created_endpoints.push(StateEndpoint {
                id,
                port,
                vlan,
                next_hop: ip_param(params, "next_hop")?,
                zone: params
                    .get("zone")
                    .and_then(Value::as_str)
                    .unwrap_or(&g.load_balancer.zone)
                    .to_owned(),
                principal: request.principal.clone(),
            });
        }
        "DescribeTargetHealth"
        | "DescribeFlows"
        | "DescribeEndpointConnections"
        | "DescribeMetrics"
        | "ReloadConfiguration" => return Ok(None),
        other => {
            return Err(ApiError::new(
                404,
                "UnknownOperation",
                format!("no action {other}"),
            ));
        }
    }
    Ok(Some(next))
}

fn config_has_target(config: &Config, ip: Ipv4Addr) -> bool {
    matches!(&config.role, Role::Gateway(g) if g.targets.iter().any(|t| t.ip == ip))
}

/// A fresh endpoint id: `vpce-` and 17 hex digits, unused in the configuration and state.
fn new_endpoint_id(config: &Config, state: &ApiState) -> String {
    let used = |id: &str| {
        matches!(&config.role, Role::Gateway(g) if g.endpoints.iter().any(|e| e.id == id))
            || state.created_endpoints.iter().any(|e| e.id == id)
    };
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut n = seed ^ u64::from(std::process::id()).rotate_left(32);
    loop {
        // 17 hex digits of a 64-bit value: the first digit is 0.
        let id = format!("vpce-0{:016x}", n);
        if !used(&id) {
            return id;
        }
        n = n.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
    }
}

fn list<'a>(params: &'a Value, key: &str) -> Result<&'a Vec<Value>, ApiError> {
    match params.get(key).and_then(Value::as_array) {
        Some(list) if !list.is_empty() => Ok(list),
        _ => Err(ApiError::validation(format!(
            "\"{key}\" must be a non-empty list"
        ))),
    }
}

fn ip_param(value: &Value, key: &str) -> Result<Ipv4Addr, ApiError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ApiError::validation(format!("\"{key}\" must be an IPv4 address")))
}

/// A request on its way to the control thread, with where to send the answer.
pub type Call = (Request, Sender<Result<Value, ApiError>>);

/// The API server's way to the control thread: requests go through a bounded channel, and
/// each waits for its answer.
#[derive(Debug)]
pub struct ControlBackend {
    calls: Sender<Call>,
    names: Mutex<ResourceNames>,
}

impl ControlBackend {
    /// A backend and the receiving end the control loop polls.
    pub fn new(names: ResourceNames) -> (Self, Receiver<Call>) {
        let (calls, receiver) = bounded(64);
        (
            ControlBackend {
                calls,
                names: Mutex::new(names),
            },
            receiver,
        )
    }

    /// Updates the resource names (after a reload).
    pub fn set_names(&self, names: ResourceNames) {
        if let Ok(mut n) = self.names.lock() {
            *n = names;
        }
    }
}

impl Backend for ControlBackend {
    fn execute(&self, request: &Request) -> Result<Value, ApiError> {
        let busy = || {
            ApiError::new(
                503,
                "ServiceUnavailable",
                "the control thread did not answer in time; try again",
            )
        };
        let (answer, answered) = bounded(1);
        self.calls
            .send_timeout((request.clone(), answer), ANSWER_TIMEOUT)
            .map_err(|_| busy())?;
        answered.recv_timeout(ANSWER_TIMEOUT).map_err(|_| busy())?
    }

    fn names(&self) -> ResourceNames {
        self.names.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

/// The resource names of a configuration.
pub fn names_of(config: &Config) -> ResourceNames {
    match &config.role {
        Role::Gateway(g) => ResourceNames {
            load_balancer: Some(g.load_balancer.name.clone()),
            target_group: Some(g.target_group.name.clone()),
        },
        Role::Appliance(_) => ResourceNames::default(),
    }
}

/// An endpoint as the API shows it.
pub fn endpoint_json(e: &EndpointConfig) -> Value {
    serde_json::json!({
        "id": e.id,
        "state": e.state.as_str(),
        "principal": e.principal,
        "port": e.port,
        "vlan": e.vlan,
        "zone": e.zone,
        "next_hop": e.next_hop.to_string(),
    })
}

/// How many flows `DescribeFlows` lists unless asked for fewer, and at most.
const FLOWS_DEFAULT: usize = 100;
const FLOWS_MAX: usize = 10_000;

impl Control {
    /// Executes one request of the management API on the control thread.
    pub(super) fn execute(
        &mut self,
        io: &Io<'_, '_, '_>,
        request: &Request,
        now: u64,
    ) -> Result<Value, ApiError> {
        match request.action.as_str() {
            "DescribeTargetHealth" => return self.describe_target_health(now),
            "DescribeFlows" => return self.describe_flows(io, &request.params, now),
            "DescribeEndpointConnections" => return self.describe_endpoints(),
            "DescribeMetrics" => return Ok(self.describe_metrics(io)),
            "ReloadConfiguration" => {
                let epoch = self.reload_file(io, now)?;
                return Ok(json!({"reloaded": true, "epoch": epoch}));
            }
            _ => {}
        }
        let Some(next) = changed_state(&self.config, &self.state, request)? else {
            return Err(ApiError::new(404, "UnknownOperation", "no such action"));
        };
        let running = effective(&self.file_config, &next)?;
        next.save(&self.state_path)
            .map_err(|e| ApiError::new(500, "InternalFailure", e.to_string()))?;
        self.state = next;
        self.apply_config(io, running, now)?;
        let Role::Gateway(g) = &self.config.role else {
            return Ok(json!({}));
        };
        let ips = |key: &str| -> Vec<Value> {
            request
                .params
                .get(key)
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(|t| t.get("ip").cloned()).collect())
                .unwrap_or_default()
        };
        Ok(match request.action.as_str() {
            "RegisterTargets" => json!({"registered": ips("targets")}),
            "DeregisterTargets" => json!({"deregistered": ips("targets")}),
            "ModifyTargetGroupAttributes" => {
                json!({"attributes": target_group_attributes(&g.target_group.attributes)})
            }
            "ModifyListenerAttributes" => {
                json!({"attributes": listener_attributes(&g.listener.attributes)})
            }
            "CreateEndpoint" => {
                let created = self.state.created_endpoints.last().map(|c| c.id.clone());
                let endpoint = g.endpoints.iter().find(|e| Some(&e.id) == created.as_ref());
                json!({"endpoint": endpoint.map(endpoint_json)})
            }
            _ => {
                let ids: Vec<&str> = request
                    .params
                    .get("endpoint_ids")
                    .and_then(Value::as_array)
                    .map(|l| l.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let endpoints: Vec<Value> = g
                    .endpoints
                    .iter()
                    .filter(|e| ids.contains(&e.id.as_str()))
                    .map(|e| json!({"id": e.id, "state": e.state.as_str()}))
                    .collect();
                json!({"endpoints": endpoints, "unsuccessful": []})
            }
        })
    }

    /// Refreshes the metrics listener's snapshot (once a second).
    pub(super) fn fill_metrics(&mut self, io: &Io<'_, '_, '_>) {
        let Some((_, shared)) = &self.metrics else {
            return;
        };
        let now_ns = self.clock.ns(io.eal.tsc());
        let (counters, io_counters) = self.totals.merged();
        let mut m = MetricsSnapshot::new(self.config.kind().as_str());
        m.set_counters(&counters);
        for (name, n) in [
            ("tx_full", io_counters.tx_full),
            ("exception_full", io_counters.exception_full),
            ("kernel_queue_full", self.totals.kernel_drops),
            ("bad_port", io_counters.bad_port),
        ] {
            m.drops.insert(name.to_owned(), n);
        }
        m.tsc_hz = io.eal.tsc_hz();
        let (burst, packet) = self.totals.latency();
        m.burst_latency = burst.clone();
        m.packet_latency = packet.clone();
        m.ports = io
            .ports
            .iter()
            .zip(&self.snapshot.ports)
            .filter_map(|(port, info)| {
                port.stats()
                    .ok()
                    .map(|s| crate::metrics::PortMetrics::from_stats(&info.name, &s))
            })
            .collect();
        let active = io.table.len() as u64;
        match &self.config.role {
            Role::Gateway(g) => {
                m.load_balancer = Some(g.load_balancer.name.clone());
                m.target_group = Some(g.target_group.name.clone());
                // One row per zone with targets (and the node's own): host counts by zone;
                // the traffic this node carried is its own zone's.
                let reports = self.target_reports(now_ns);
                let mut zones: Vec<String> = vec![g.load_balancer.zone.clone()];
                for t in &reports {
                    if !zones.contains(&t.zone) {
                        zones.push(t.zone.clone());
                    }
                }
                self.peaks.resize_with(zones.len(), PeakTracker::new);
                for (i, zone) in zones.iter().enumerate() {
                    let own = *zone == g.load_balancer.zone;
                    let in_zone = reports.iter().filter(|t| &t.zone == zone);
                    let healthy = in_zone
                        .clone()
                        .filter(|t| t.state == TargetState::Healthy)
                        .count() as u64;
                    let unhealthy = in_zone
                        .filter(|t| t.state == TargetState::Unhealthy)
                        .count() as u64;
                    let (bytes, packets) = if own {
                        (counters.processed_bytes, counters.rx_packets)
                    } else {
                        (0, 0)
                    };
                    self.peaks[i].observe(std::time::Instant::now(), bytes, packets);
                    m.zones.push(ZoneMetrics {
                        zone: zone.clone(),
                        target_group: g.target_group.name.clone(),
                        active_flows: if own { active } else { 0 },
                        new_flows: if own { counters.new_flows } else { 0 },
                        processed_bytes: bytes,
                        healthy_hosts: healthy,
                        unhealthy_hosts: unhealthy,
                        tcp_resets: if own { counters.tcp_resets } else { 0 },
                        peak_bytes_per_second: self.peaks[i].peak_bytes_per_second(),
                        peak_packets_per_second: self.peaks[i].peak_packets_per_second(),
                    });
                }
            }
            Role::Appliance(_) => {
                self.peaks.resize_with(1, PeakTracker::new);
                self.peaks[0].observe(
                    std::time::Instant::now(),
                    counters.processed_bytes,
                    counters.rx_packets,
                );
                m.zones.push(ZoneMetrics {
                    zone: "local".to_owned(),
                    target_group: "appliance".to_owned(),
                    active_flows: active,
                    new_flows: counters.new_flows,
                    processed_bytes: counters.processed_bytes,
                    healthy_hosts: 0,
                    unhealthy_hosts: 0,
                    tcp_resets: counters.tcp_resets,
                    peak_bytes_per_second: self.peaks[0].peak_bytes_per_second(),
                    peak_packets_per_second: self.peaks[0].peak_packets_per_second(),
                });
                if let RoleSnapshot::Appliance(a) = &self.snapshot.role {
                    let definition = a.policy.definition();
                    let names = definition
                        .rules
                        .iter()
                        .map(|r| (r.name.clone(), r.action.name()))
                        .chain([("(default)".to_owned(), definition.default_action.name())]);
                    m.policy = Some(PolicyMetrics {
                        rejects: counters.policy_rejects,
                        rules: names
                            .zip(a.policy.hits())
                            .map(|((rule, action), flows)| RuleMetrics {
                                rule,
                                action: action.to_owned(),
                                flows,
                            })
                            .collect(),
                    });
                }
            }
        }
        if let Ok(mut shared) = shared.lock() {
            *shared = m;
        }
    }

    fn describe_target_health(&self, now: u64) -> Result<Value, ApiError> {
        let Role::Gateway(g) = &self.config.role else {
            return Err(ApiError::new(
                400,
                "UnsupportedOperation",
                "DescribeTargetHealth applies to the gateway role; this instance is an appliance",
            ));
        };
        let delay_ns = u64::from(
            g.target_group
                .attributes
                .deregistration_delay_timeout_seconds,
        ) * 1_000_000_000;
        let targets: Vec<Value> = self
            .target_reports(now)
            .into_iter()
            .zip(&self.registry)
            .map(|(t, r)| {
                let left = r.deregistered_ns.and_then(|at| {
                    (at + delay_ns)
                        .checked_sub(now)
                        .map(|ns| ns.div_ceil(1_000_000_000))
                });
                json!({
                    "ip": t.ip.to_string(),
                    "zone": t.zone,
                    "state": crate::health::state_name(t.state),
                    "reason": t.reason.map(|r| r.code()),
                    "description": t.last_check,
                    "draining_seconds_left": left,
                })
            })
            .collect();
        Ok(json!({"targets": targets}))
    }

    fn describe_endpoints(&self) -> Result<Value, ApiError> {
        let Role::Gateway(g) = &self.config.role else {
            return Err(ApiError::new(
                400,
                "UnsupportedOperation",
                "endpoints belong to the gateway role; this instance is an appliance",
            ));
        };
        let endpoints: Vec<Value> = g.endpoints.iter().map(endpoint_json).collect();
        Ok(json!({"endpoints": endpoints}))
    }

    fn describe_flows(
        &self,
        io: &Io<'_, '_, '_>,
        params: &Value,
        now: u64,
    ) -> Result<Value, ApiError> {
        let filter = FlowFilter::from_params(params)?;
        let limit = match params.get("limit") {
            None | Some(Value::Null) => FLOWS_DEFAULT,
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=FLOWS_MAX).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(format!("\"limit\" is a number 1–{FLOWS_MAX}"))
                })?,
        };
        let mut flows = Vec::new();
        let mut truncated = false;
        let mut scanned = 0;
        for slot in 0..io.table.capacity() {
            scanned += 1;
            let Some(handle) = io.table.handle_at(slot) else {
                continue;
            };
            let (Some(key), Some(value)) = (io.table.key(handle), io.table.value(handle)) else {
                continue;
            };
            let ((a, a_port), (b, b_port)) = key.endpoints(Direction::Forward);
            let (endpoint, target, verdict) = match &self.snapshot.role {
                RoleSnapshot::Gateway(g) => (
                    g.endpoints
                        .get(key.scope() as usize)
                        .map(|e| EndpointId(e.id).to_string()),
                    g.targets.get(value as usize).map(|t| t.ip),
                    None,
                ),
                RoleSnapshot::Appliance(a) => (
                    io.records
                        .load(handle.slot())
                        .and_then(|r| {
                            sluice_engine::appliance::recorded_endpoint(r.geneve_header())
                        })
                        .map(|id| EndpointId(id).to_string()),
                    None,
                    FlowVerdict::from_value(value).map(|v| {
                        let rule = v
                            .decision
                            .rule
                            .filter(|_| v.decided_under(a.policy.generation()))
                            .and_then(|i| a.policy.rule_name(i));
                        json!({"action": v.decision.action.name(), "rule": rule})
                    }),
                ),
            };
            if !filter.matches(&key, endpoint.as_deref(), target) {
                continue;
            }
            if flows.len() == limit {
                truncated = true;
                break;
            }
            let seconds = |t: Option<FlowTime>| t.map(|t| t.elapsed_nanos(now) as f64 / 1e9);
            let side = |ip: std::net::IpAddr, port: u16| {
                if port == 0 {
                    ip.to_string()
                } else if ip.is_ipv6() {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                }
            };
            flows.push(json!({
                "endpoint": endpoint,
                "protocol": protocol_name(key.protocol()),
                "a": side(a, a_port),
                "b": side(b, b_port),
                "target": target.map(|t| t.to_string()),
                "verdict": verdict,
                "cookie": io.table.cookie(handle),
                "age_seconds": seconds(io.table.created(handle)),
                "idle_seconds": seconds(io.table.last_seen(handle)),
            }));
        }
        Ok(json!({"flows": flows, "scanned": scanned, "truncated": truncated}))
    }

    fn describe_metrics(&self, io: &Io<'_, '_, '_>) -> Value {
        let elapsed = io.started.elapsed();
        let summary =
            serde_json::to_value(self.totals.summary_json(elapsed, io.table, io.eal.tsc_hz()))
                .unwrap_or_default();
        let latency = |name: &str| summary.get(name).and_then(|l| l.get("ns")).cloned();
        let targets = match &self.config.role {
            Role::Gateway(_) => {
                let reports = self.target_reports(self.clock.ns(io.eal.tsc()));
                let healthy = reports
                    .iter()
                    .filter(|t| t.state == TargetState::Healthy)
                    .count();
                let unhealthy = reports
                    .iter()
                    .filter(|t| t.state == TargetState::Unhealthy)
                    .count();
                json!({"healthy": healthy, "unhealthy": unhealthy, "total": reports.len()})
            }
            Role::Appliance(_) => Value::Null,
        };
        let policy = match &self.snapshot.role {
            RoleSnapshot::Appliance(a) => {
                let definition = a.policy.definition();
                let mut names: Vec<&str> =
                    definition.rules.iter().map(|r| r.name.as_str()).collect();
                names.push("(default)");
                let flows: serde_json::Map<String, Value> = names
                    .into_iter()
                    .zip(a.policy.hits())
                    .map(|(n, h)| (n.to_owned(), json!(h)))
                    .collect();
                json!({
                    "generation": a.policy.generation(),
                    "rejects": self.totals.merged().0.policy_rejects,
                    "flows_by_rule": flows,
                })
            }
            RoleSnapshot::Gateway(_) => Value::Null,
        };
        let field = |name: &str| summary.get(name).cloned().unwrap_or(json!(0));
        let flows = summary.get("flows").cloned().unwrap_or_default();
        json!({
            "uptime_seconds": elapsed.as_secs_f64(),
            "rx_packets": field("rx_packets"),
            "rx_bytes": field("rx_bytes"),
            "tx_packets": field("tx_packets"),
            "tx_bytes": field("tx_bytes"),
            "drops": summary.get("drops_by_reason").cloned().unwrap_or_default(),
            "flows": {
                "active": flows.get("live").cloned().unwrap_or(json!(0)),
                "created": flows.get("created").cloned().unwrap_or(json!(0)),
                "expired": flows.get("expired").cloned().unwrap_or(json!(0)),
            },
            "rates": {"pps": self.rates.pps, "bps": self.rates.bps},
            "latency": match (latency("packet_latency"), latency("burst_latency")) {
                (Some(p), Some(b)) => json!({"packet_ns": p, "burst_ns": b}),
                _ => Value::Null,
            },
            "targets": targets,
            "policy": policy,
        })
    }
}

/// The last second's packet and bit rates, sampled by the control loop.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Rates {
    /// Packets received per second.
    pub(super) pps: f64,
    /// Bits received per second.
    pub(super) bps: f64,
    /// The sample the next rate is taken against: (time, packets, bytes).
    last: Option<(std::time::Instant, u64, u64)>,
}

impl Rates {
    /// Whether a second has passed since the last sample (or none was taken).
    pub(super) fn due(&self) -> bool {
        self.last
            .is_none_or(|(at, _, _)| at.elapsed() >= Duration::from_secs(1))
    }

    /// Takes a sample of the cumulative counters and the rates since the previous one.
    pub(super) fn sample(&mut self, packets: u64, bytes: u64) {
        let now = std::time::Instant::now();
        if let Some((at, p, b)) = self.last {
            let secs = now.duration_since(at).as_secs_f64().max(1e-3);
            self.pps = packets.saturating_sub(p) as f64 / secs;
            self.bps = bytes.saturating_sub(b) as f64 * 8.0 / secs;
        }
        self.last = Some((now, packets, bytes));
    }
}

/// `DescribeFlows`' filters.
#[derive(Debug, Default)]
struct FlowFilter {
    source: Option<IpNet>,
    destination: Option<IpNet>,
    protocol: Option<u8>,
    port: Option<u16>,
    target: Option<Ipv4Addr>,
    endpoint: Option<String>,
}

impl FlowFilter {
    fn from_params(params: &Value) -> Result<Self, ApiError> {
        let text = |key: &str| params.get(key).and_then(Value::as_str);
        let net = |key: &str| -> Result<Option<IpNet>, ApiError> {
            text(key)
                .map(|t| {
                    t.parse::<IpNet>()
                        .or_else(|_| t.parse::<std::net::IpAddr>().map(IpNet::from))
                        .map_err(|_| {
                            ApiError::validation(format!("\"{key}\": \"{t}\" is not an IP or CIDR"))
                        })
                })
                .transpose()
        };
        let protocol = match params.get("protocol") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| ApiError::validation("\"protocol\" is 0–255 or a name"))?,
            ),
            Some(Value::String(s)) => Some(
                IpProtocol::from_name(s)
                    .map(IpProtocol::number)
                    .or_else(|| s.parse().ok())
                    .ok_or_else(|| {
                        ApiError::validation(format!("\"protocol\": unknown protocol \"{s}\""))
                    })?,
            ),
            Some(_) => return Err(ApiError::validation("\"protocol\" is 0–255 or a name")),
        };
        let port = match params.get("port") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| ApiError::validation("\"port\" is 0–65535"))?,
            ),
        };
        let target = text("target")
            .map(|t| {
                t.parse()
                    .map_err(|_| ApiError::validation("\"target\" is an IPv4 address"))
            })
            .transpose()?;
        Ok(FlowFilter {
            source: net("source")?,
            destination: net("destination")?,
            protocol,
            port,
            target,
            endpoint: text("endpoint").map(str::to_owned),
        })
    }

    /// Whether a flow passes. Flows are symmetric: `source` and `destination` match its two
    /// sides in either order, `port` either side's port.
    fn matches(&self, key: &FlowKey, endpoint: Option<&str>, target: Option<Ipv4Addr>) -> bool {
        let ((a, a_port), (b, b_port)) = key.endpoints(Direction::Forward);
        let within = |net: &Option<IpNet>, ip| net.is_none_or(|n| n.contains(&ip));
        let sides = (within(&self.source, a) && within(&self.destination, b))
            || (within(&self.source, b) && within(&self.destination, a));
        sides
            && self.protocol.is_none_or(|p| p == key.protocol())
            && self.port.is_none_or(|p| p == a_port || p == b_port)
            && self.target.is_none_or(|t| Some(t) == target)
            && self.endpoint.as_deref().is_none_or(|e| Some(e) == endpoint)
    }
}

fn protocol_name(number: u8) -> String {
    IpProtocol::from_number(number).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> Config {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/examples/gateway.toml"
        );
        sluice_config::load(Path::new(path)).unwrap()
    }

    fn request(action: &str, params: Value) -> Request {
        Request {
            action: action.into(),
            params,
            principal: "ops".into(),
            source: "test".into(),
        }
    }

    fn apply(config: &Config, state: &ApiState, action: &str, params: Value) -> ApiState {
        changed_state(config, state, &request(action, params))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn state_round_trips_through_an_atomic_private_file() {
        let dir = std::env::temp_dir().join(format!("sluice-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("gw.state");
        let _ = fs::remove_file(&path);
        let empty = ApiState::load(&path).unwrap();
        assert_eq!(empty.version, STATE_VERSION);
        let config = gateway();
        let state = apply(
            &config,
            &empty,
            "RegisterTargets",
            serde_json::json!({"targets": [{"ip": "10.0.1.99"}]}),
        );
        state.save(&path).unwrap();
        assert_eq!(ApiState::load(&path).unwrap(), state);
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, "{\"version\": 7}").unwrap();
        assert!(matches!(
            ApiState::load(&path),
            Err(StateError::Parse { .. })
        ));
        fs::write(&path, "not json").unwrap();
        assert!(matches!(
            ApiState::load(&path),
            Err(StateError::Parse { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn registrations_attributes_and_endpoints_lay_over_the_file() {
        let config = gateway();
        let Role::Gateway(g) = &config.role else {
            panic!("gateway")
        };
        let first = g.targets[0].ip;
        let state = ApiState::default();
        let state = apply(
            &config,
            &state,
            "RegisterTargets",
            serde_json::json!({"targets": [{"ip": "10.0.1.99"}]}),
        );
        let state = apply(
            &config,
            &state,
            "DeregisterTargets",
            serde_json::json!({"targets": [{"ip": first.to_string()}]}),
        );
        let state = apply(
            &config,
            &state,
            "ModifyTargetGroupAttributes",
            serde_json::json!({"attributes": {"deregistration_delay.timeout_seconds": "30"}}),
        );
        let running = effective(&config, &state).unwrap();
        let Role::Gateway(r) = &running.role else {
            panic!("gateway")
        };
        assert!(
            r.targets
                .iter()
                .any(|t| t.ip == Ipv4Addr::new(10, 0, 1, 99))
        );
        assert!(!r.targets.iter().any(|t| t.ip == first));
        assert_eq!(
            r.target_group
                .attributes
                .deregistration_delay_timeout_seconds,
            30
        );
        // A value the configuration rules refuse is refused as a whole.
        let bad = apply(
            &config,
            &state,
            "ModifyListenerAttributes",
            serde_json::json!({"attributes": {"tcp.idle_timeout.seconds": "7"}}),
        );
        let err = effective(&config, &bad).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "ValidationError"));
        // Unknown attributes and targets are named.
        let err = effective(
            &config,
            &apply(
                &config,
                &state,
                "ModifyTargetGroupAttributes",
                serde_json::json!({"attributes": {"no.such": "1"}}),
            ),
        )
        .unwrap_err();
        assert!(err.message.contains("no.such"), "{err}");
        let err = changed_state(
            &config,
            &state,
            &request(
                "DeregisterTargets",
                serde_json::json!({"targets": [{"ip": "10.9.9.9"}]}),
            ),
        )
        .unwrap_err();
        assert_eq!(err.status, 404);
    }

    #[test]
    fn endpoints_are_created_pending_then_accepted() {
        let config = gateway();
        let Role::Gateway(g) = &config.role else {
            panic!("gateway")
        };
        let port = g.endpoints[0].port.clone();
        let next_hop = g.endpoints[0].next_hop.to_string();
        let params = serde_json::json!({"id": "vpce-0000000000000abcd", "port": port, "vlan": 3999, "next_hop": next_hop});
        let allowed = &g.endpoint_service.allowed_principals;
        assert!(!allowed.is_empty() && !allowed.iter().any(|p| p == "*" || p == "ops"));
        let err = changed_state(
            &config,
            &ApiState::default(),
            &request("CreateEndpoint", params.clone()),
        )
        .unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (403, "AccessDenied"));
        let by_owner = Request {
            principal: allowed[0].clone(),
            ..request("CreateEndpoint", params)
        };
        let state = changed_state(&config, &ApiState::default(), &by_owner)
            .unwrap()
            .unwrap();
        let running = effective(&config, &state).unwrap();
        let Role::Gateway(r) = &running.role else {
            panic!("gateway")
        };
        let created = r
            .endpoints
            .iter()
            .find(|e| e.id == "vpce-0000000000000abcd")
            .unwrap();
        let expected = if g.endpoint_service.acceptance_required {
            EndpointState::PendingAcceptance
        } else {
            EndpointState::Available
        };
        assert_eq!(created.state, expected);
        assert_eq!(created.principal.as_ref(), Some(&allowed[0]));
        let accepted = apply(
            &running,
            &state,
            "AcceptEndpointConnections",
            serde_json::json!({"endpoint_ids": ["vpce-0000000000000abcd"]}),
        );
        let running = effective(&config, &accepted).unwrap();
        let Role::Gateway(r) = &running.role else {
            panic!("gateway")
        };
        assert!(
            r.endpoints
                .iter()
                .any(|e| e.id == "vpce-0000000000000abcd" && e.state == EndpointState::Available)
        );
    }
}
