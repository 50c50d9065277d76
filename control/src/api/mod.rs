//! The management API: HTTP/JSON on a Unix socket (and optionally TCP with TLS ≥ 1.2),
//! every request authenticated by a bearer token, authorized by IAM-style policies and
//! written to an append-only audit log, then executed by the control thread.
//!
//! # Protocol
//!
//! `POST /v1/<Action>` with a JSON object of parameters as the body (an empty body is `{}`),
//! and `Authorization: Bearer <token>`. Actions are named after ELB's ([`ACTIONS`]). The
//! answer is `200` with `{"result": …}`, or an error status with
//! `{"error": {"code": "…", "message": "…"}}` ([`ApiError`]). One request per connection.
//!
//! # Result shapes
//!
//! - `DescribeTargetHealth` → `{"targets": [{"ip", "zone", "state", "reason", "description",
//!   "draining_seconds_left"}]}`.
//! - `RegisterTargets` (`{"targets": [{"ip", "zone"?}]}`) → `{"registered": [ip, …]}`;
//!   `DeregisterTargets` (`{"targets": [{"ip"}]}`) → `{"deregistered": [ip, …]}`.
//! - `ModifyTargetGroupAttributes` / `ModifyListenerAttributes` (`{"attributes": {name:
//!   value}}`, values as strings as in ELB) → `{"attributes": {every current name: value}}`.
//! - `DescribeFlows` (`{"source"?, "destination"?, "protocol"?, "port"?, "target"?,
//!   "endpoint"?, "limit"?}`) → `{"flows": [{"endpoint", "protocol", "a", "b", "target",
//!   "verdict", "cookie", "age_seconds", "idle_seconds"}], "scanned", "truncated"}`.
//! - `DescribeEndpointConnections` → `{"endpoints": [{"id", "state", "principal", "port",
//!   "vlan", "zone"}]}`; `AcceptEndpointConnections` / `RejectEndpointConnections`
//!   (`{"endpoint_ids": […]}`) → `{"endpoints": [{"id", "state"}], "unsuccessful": [{"id",
//!   "error"}]}`; `CreateEndpoint` (`{"id"?, "port", "vlan"?, "next_hop", "zone"?}`) →
//!   `{"endpoint": {…}}`.
//! - `ReloadConfiguration` → `{"reloaded": true, "epoch"}`.
//! - `DescribeMetrics` → `{"uptime_seconds", "rx_packets", "rx_bytes", "tx_packets",
//!   "tx_bytes", "drops": {reason: n}, "flows": {"active", "created", "expired"}, "rates":
//!   {"pps", "bps"}, "latency": {"packet_ns": {"p50", "p90", "p99", "p99_9", "max"},
//!   "burst_ns": {…}} | null, "targets": {"healthy", "unhealthy", "total"} | null, "policy":
//!   {…} | null}`.
//!
//! # The server
//!
//! With the default `dpdk` feature: [`auth`] (bearer tokens and IAM-style policies),
//! [`audit`] (the JSON-lines audit log) and [`server`] ([`ApiServer`], the listeners). The
//! types above are always built, for the CLI's client.

use serde_json::Value;

#[cfg(feature = "dpdk")]
pub mod audit;
#[cfg(feature = "dpdk")]
pub mod auth;
#[cfg(feature = "dpdk")]
pub mod server;

#[cfg(feature = "dpdk")]
pub use server::{ApiLimits, ApiServer, ApiStartError};

/// Every action the API knows, in ELB's spelling.
pub const ACTIONS: [&str; 12] = [
    "DescribeTargetHealth",
    "RegisterTargets",
    "DeregisterTargets",
    "ModifyTargetGroupAttributes",
    "ModifyListenerAttributes",
    "DescribeFlows",
    "DescribeEndpointConnections",
    "AcceptEndpointConnections",
    "RejectEndpointConnections",
    "CreateEndpoint",
    "ReloadConfiguration",
    "DescribeMetrics",
];

/// An authenticated, authorized request, as the control thread executes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The action, one of [`ACTIONS`].
    pub action: String,
    /// Its parameters (a JSON object).
    pub params: Value,
    /// The principal that made it.
    pub principal: String,
    /// Where it came from: `unix:uid=…,pid=…` or `tcp:ADDRESS:PORT`.
    pub source: String,
}

/// A failed request: the HTTP status, an ELB-style error code and a message that says what
/// to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The error code (`ValidationError`, `AccessDenied`, `TargetNotFound`, …).
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// A `400 ValidationError`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(400, "ValidationError", message)
    }

    /// An error of any status and code.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The names the resources of a running instance are made of, for authorization.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceNames {
    /// The gateway's load balancer name (`None` for the appliance role).
    pub load_balancer: Option<String>,
    /// The gateway's target group name (`None` for the appliance role).
    pub target_group: Option<String>,
}

/// What executes authorized requests: the control thread, reached through a channel.
pub trait Backend: Send + Sync {
    /// Executes a request that passed authentication and authorization.
    ///
    /// # Errors
    ///
    /// An [`ApiError`] the caller sees as is.
    fn execute(&self, request: &Request) -> Result<Value, ApiError>;

    /// The current resource names.
    fn names(&self) -> ResourceNames;
}

/// The resource a request acts on, as access policies name it (`TYPE/NAME`).
pub fn resource_for(action: &str, names: &ResourceNames) -> String {
    let lb = names.load_balancer.as_deref().unwrap_or("appliance");
    let tg = names.target_group.as_deref().unwrap_or("appliance");
    match action {
        "DescribeTargetHealth"
        | "RegisterTargets"
        | "DeregisterTargets"
        | "ModifyTargetGroupAttributes" => format!("targetgroup/{tg}"),
        "ModifyListenerAttributes" => format!("listener/{lb}"),
        "DescribeEndpointConnections"
        | "AcceptEndpointConnections"
        | "RejectEndpointConnections"
        | "CreateEndpoint" => format!("endpointservice/{lb}"),
        "ReloadConfiguration" => "management/configuration".to_owned(),
        _ if names.load_balancer.is_none() => format!("appliance/{}", action_noun(action)),
        _ => format!("loadbalancer/{lb}"),
    }
}

/// `DescribeFlows` → `flows`, `DescribeMetrics` → `metrics`.
fn action_noun(action: &str) -> String {
    action
        .strip_prefix("Describe")
        .unwrap_or(action)
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_name_the_instance() {
        let gw = ResourceNames {
            load_balancer: Some("edge".into()),
            target_group: Some("fw".into()),
        };
        assert_eq!(resource_for("RegisterTargets", &gw), "targetgroup/fw");
        assert_eq!(
            resource_for("ModifyListenerAttributes", &gw),
            "listener/edge"
        );
        assert_eq!(resource_for("CreateEndpoint", &gw), "endpointservice/edge");
        assert_eq!(resource_for("DescribeFlows", &gw), "loadbalancer/edge");
        let app = ResourceNames::default();
        assert_eq!(resource_for("DescribeFlows", &app), "appliance/flows");
        assert_eq!(resource_for("DescribeMetrics", &app), "appliance/metrics");
        assert_eq!(
            resource_for("ReloadConfiguration", &app),
            "management/configuration"
        );
    }
}
