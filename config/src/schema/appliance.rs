//! The `[appliance]` section of the appliance role: which GWLB nodes to trust, flow
//! timeouts, the health-check responder, the inspection policy and the flow log.
//!
//! The appliance must work behind AWS's real GWLB as well as behind a sluice gateway, so its
//! defaults match GWLB's (350 s TCP idle timeout, 120 s for other protocols).

use std::path::PathBuf;

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;

use super::types::{IpProtocol, PortRange, keyword_enum};

/// `[appliance]`: the inspection appliance behind a GWLB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Appliance {
    /// `gwlb_sources`: IPv4 networks GENEVE is accepted from (the GWLB nodes' subnets);
    /// everything else is dropped. Required, non-empty, unique, host bits zero.
    pub gwlb_sources: Vec<Ipv4Net>,
    /// `tcp_idle_timeout_seconds`: how long a TCP flow's GENEVE header is remembered without
    /// traffic, 60–6000 seconds. Default: 350. Set it to the GWLB's
    /// `tcp.idle_timeout.seconds`, or replies lose their header.
    pub tcp_idle_timeout_seconds: u16,
    /// `non_tcp_idle_timeout_seconds`: the same for UDP, ICMP and other protocols,
    /// 10–6000 seconds. Default: 120 (GWLB's fixed value).
    pub non_tcp_idle_timeout_seconds: u16,
    /// `mss_clamp`: clamp the MSS of TCP SYNs to this value: 0 turns clamping off
    /// (default), otherwise 536–8460 (8460 keeps inner packets within GWLB's 8500-byte MTU).
    pub mss_clamp: u16,
    /// `[appliance.health_check]`: the responder GWLB health checks probe. Optional.
    pub health_check: ApplianceHealthCheck,
    /// `[appliance.policy]`: the inspection policy. Optional; defaults to allow everything.
    pub policy: InspectionPolicy,
    /// `[appliance.flow_log]`: one JSON line per finished flow. Optional; off by default.
    pub flow_log: FlowLog,
}

/// `[appliance.health_check]`: the health-check responder on the appliance's own address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplianceHealthCheck {
    /// `protocol`: `TCP` (accept and close) or `HTTP` (answer `200 OK` to any GET).
    /// Default: `HTTP`.
    pub protocol: ApplianceHealthCheckProtocol,
    /// `port`: the TCP port to listen on, 1–65535. Default: 8080.
    pub port: u16,
}

/// `[appliance.policy]`: the stateful inspection policy. Rules are tried in order; the first
/// match decides, and `default_action` applies when none matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectionPolicy {
    /// `default_action`: `allow`, `deny` or `reject`. Default: `allow`.
    pub default_action: PolicyAction,
    /// `strict_tcp`: drop TCP packets that do not belong to a flow that began with a SYN.
    /// Default: false.
    pub strict_tcp: bool,
    /// `[[appliance.policy.rule]]`: the ordered rules. Default: none.
    #[serde(rename = "rule")]
    pub rules: Vec<PolicyRule>,
}

/// `[[appliance.policy.rule]]`: one policy rule. Every match key is optional and an absent
/// key matches anything; a rule matches a flow when all of its present keys do. The first
/// packet of a flow decides, and the flow then keeps that decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    /// `name`: 1–64 characters of ASCII letters, digits, `_`, `.` and `-`. Required, unique.
    pub name: String,
    /// `action`: `allow`, `deny` (drop silently) or `reject` (drop and answer with a TCP
    /// RST or ICMP unreachable). Required.
    pub action: PolicyAction,
    /// `endpoints`: GWLB endpoint ids (`vpce-…`, from GENEVE option type 1) to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
    /// `sources`: IPv4 or IPv6 networks matched against the inner source address; host bits
    /// zero.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<IpNet>>,
    /// `destinations`: the same for the inner destination address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destinations: Option<Vec<IpNet>>,
    /// `protocols`: IP protocols by name (`tcp`, `udp`, `icmp`, `icmpv6`) or number 0–255.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<IpProtocol>>,
    /// `ports`: destination ports, as numbers or `"LO-HI"` ranges. Only when `protocols` is
    /// given and lists only `tcp` and `udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortRange>>,
    /// `icmp_types`: ICMP or ICMPv6 message types, 0–255. Only when `protocols` is given and
    /// lists only `icmp` and `icmpv6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_types: Option<Vec<u8>>,
}

/// `[appliance.flow_log]`: the flow log, one JSON object per line for every flow that ends
/// (expired, evicted, closed, or still open at shutdown): endpoint, 5-tuple as the initiator
/// sent it, packets and bytes each way, verdict and rule, start and end. Never a payload
/// byte. The file is created with mode 0600 and rotated by size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowLog {
    /// `enabled`: write the flow log. Default: false.
    pub enabled: bool,
    /// `path`: the file records are appended to, an absolute path such as
    /// `/var/log/sluice/flows.jsonl`; its directory must exist. Required when `enabled` is
    /// true; no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `max_bytes`: the size a file may reach. A record that would take the file past it
    /// first rotates `path` to `path.1` (`path.1` to `path.2`, and so on), 1 MiB–16 GiB
    /// (1048576–17179869184). Default: 67108864 (64 MiB).
    pub max_bytes: u64,
    /// `max_files`: how many rotated files (`path.1` to `path.N`) are kept; the oldest is
    /// dropped, 1–100. Default: 5.
    pub max_files: u32,
}

keyword_enum! {
    /// `appliance.health_check.protocol`.
    pub enum ApplianceHealthCheckProtocol {
        /// Accept the connection and close it.
        Tcp = "TCP",
        /// Answer any HTTP GET with `200 OK`.
        Http = "HTTP",
    }
    rejected {
        "HTTPS" => "the appliance's responder does not terminate TLS; point an HTTPS health check at an HTTP responder on another port, or use TCP or HTTP",
    }
}

keyword_enum! {
    /// What a policy does with a flow.
    pub enum PolicyAction {
        /// Return the traffic to the GWLB.
        Allow = "allow",
        /// Drop the traffic silently.
        Deny = "deny",
        /// Drop the traffic and answer with a TCP RST or an ICMP unreachable.
        Reject = "reject",
    }
}

impl Appliance {
    /// Default `tcp_idle_timeout_seconds`.
    pub const DEFAULT_TCP_IDLE_TIMEOUT_SECONDS: u16 = 350;
    /// Default `non_tcp_idle_timeout_seconds`.
    pub const DEFAULT_NON_TCP_IDLE_TIMEOUT_SECONDS: u16 = 120;
    /// Default `mss_clamp` (off).
    pub const DEFAULT_MSS_CLAMP: u16 = 0;
}

impl ApplianceHealthCheck {
    /// Default `protocol`.
    pub const DEFAULT_PROTOCOL: ApplianceHealthCheckProtocol = ApplianceHealthCheckProtocol::Http;
    /// Default `port`.
    pub const DEFAULT_PORT: u16 = 8080;
}

impl Default for ApplianceHealthCheck {
    fn default() -> Self {
        Self {
            protocol: Self::DEFAULT_PROTOCOL,
            port: Self::DEFAULT_PORT,
        }
    }
}

impl FlowLog {
    /// Default `max_bytes` (64 MiB).
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
    /// Default `max_files`.
    pub const DEFAULT_MAX_FILES: u32 = 5;
}

impl Default for FlowLog {
    fn default() -> Self {
        Self {
            enabled: false,
            path: None,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_files: Self::DEFAULT_MAX_FILES,
        }
    }
}

impl InspectionPolicy {
    /// Default `default_action`.
    pub const DEFAULT_ACTION: PolicyAction = PolicyAction::Allow;
}

impl Default for InspectionPolicy {
    fn default() -> Self {
        Self {
            default_action: Self::DEFAULT_ACTION,
            strict_tcp: false,
            rules: Vec::new(),
        }
    }
}
