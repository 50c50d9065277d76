//! The sections of the gateway role: the load balancer, its listener, the target group and
//! its targets, the endpoint service and its endpoints.
//!
//! Names, ranges and defaults follow AWS Gateway Load Balancer (`gwlb-spec.md` §2–§6).
//! GWLB attributes keep their ELB spelling (`stickiness.type`, `target_failover.on_unhealthy`)
//! as keys of the `attributes` tables, so GWLB documentation applies word for word.

use std::net::Ipv4Addr;

use serde::Serialize;

use super::types::{StatusMatcher, keyword_enum};

/// `[load_balancer]`: the Gateway Load Balancer this node is part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadBalancer {
    /// `name`: 1–32 characters of ASCII letters, digits and hyphens, not starting or ending
    /// with a hyphen and not starting with `internal-` (ELB's rules). Required.
    pub name: String,
    /// `zone`: the zone (AWS AZ id such as `use1-az1`) this gateway node serves: 1–64
    /// characters of `a-z`, `0-9` and `-`. Required.
    pub zone: String,
    /// `ip_address_type`: `ipv4` or `dualstack` (inner IPv6 traffic accepted). Default:
    /// `ipv4`.
    pub ip_address_type: IpAddressType,
    /// `[load_balancer.attributes]`: GWLB load balancer attributes. Optional; all default.
    pub attributes: LoadBalancerAttributes,
}

/// `[load_balancer.attributes]`, keyed by GWLB attribute names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadBalancerAttributes {
    /// `load_balancing.cross_zone.enabled`: when true, new flows may go to healthy targets in
    /// every zone, not only this node's zone. Default: false.
    #[serde(rename = "load_balancing.cross_zone.enabled")]
    pub cross_zone_enabled: bool,
    /// `deletion_protection.enabled`: when true, the management API refuses to delete the
    /// load balancer. Default: false.
    #[serde(rename = "deletion_protection.enabled")]
    pub deletion_protection_enabled: bool,
}

/// `[listener]`: GWLB's single listener (all IP traffic, no protocol or port).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// `[listener.attributes]`: GWLB listener attributes. Optional; all default.
    pub attributes: ListenerAttributes,
}

/// `[listener.attributes]`, keyed by GWLB attribute names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerAttributes {
    /// `tcp.idle_timeout.seconds`: TCP flow idle timeout, 60–6000 seconds. Default: 350.
    /// Values other than 350 need 5-tuple stickiness (`stickiness.enabled = false`).
    #[serde(rename = "tcp.idle_timeout.seconds")]
    pub tcp_idle_timeout_seconds: u16,
    /// `send_tcp_reset.on_idle_timeout.enabled`: send a TCP RST to the sender when a TCP
    /// flow idles out, or when a non-SYN packet has no flow. Default: false.
    #[serde(rename = "send_tcp_reset.on_idle_timeout.enabled")]
    pub send_tcp_reset_on_idle_timeout_enabled: bool,
}

/// `[target_group]`: the GENEVE target group of appliances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroup {
    /// `name`: same rules as `load_balancer.name`. Required.
    pub name: String,
    /// `protocol`: only `GENEVE`. Default: `GENEVE`.
    pub protocol: TargetGroupProtocol,
    /// `port`: only 6081. Default: 6081.
    pub port: u16,
    /// `target_type`: only `ip`. Default: `ip`.
    pub target_type: TargetType,
    /// `[target_group.attributes]`: GWLB target group attributes. Optional; all default.
    pub attributes: TargetGroupAttributes,
    /// `[target_group.health_check]`: how targets are checked. Optional; all default.
    pub health_check: HealthCheck,
}

/// `[target_group.attributes]`, keyed by GWLB attribute names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetGroupAttributes {
    /// `deregistration_delay.timeout_seconds`: how long a deregistered target drains,
    /// 0–3600 seconds. Default: 300.
    #[serde(rename = "deregistration_delay.timeout_seconds")]
    pub deregistration_delay_timeout_seconds: u16,
    /// `stickiness.enabled`: false (default) hashes flows on the 5-tuple; true uses
    /// `stickiness.type`.
    #[serde(rename = "stickiness.enabled")]
    pub stickiness_enabled: bool,
    /// `stickiness.type`: the 2- or 3-tuple to hash on. Required when `stickiness.enabled`
    /// is true, refused when it is false.
    #[serde(rename = "stickiness.type", skip_serializing_if = "Option::is_none")]
    pub stickiness_type: Option<StickinessType>,
    /// `target_failover.on_deregistration`: what happens to existing flows of a
    /// deregistered target. Default: `no_rebalance`. Must equal `on_unhealthy`.
    #[serde(rename = "target_failover.on_deregistration")]
    pub target_failover_on_deregistration: TargetFailover,
    /// `target_failover.on_unhealthy`: what happens to existing flows of an unhealthy target.
    /// Default: `no_rebalance`. Must equal `on_deregistration`.
    #[serde(rename = "target_failover.on_unhealthy")]
    pub target_failover_on_unhealthy: TargetFailover,
    /// `send_tcp_reset.on_unhealthy.enabled`: reset existing TCP flows of a target that turns
    /// unhealthy. Default: false. Needs 5-tuple stickiness.
    #[serde(rename = "send_tcp_reset.on_unhealthy.enabled")]
    pub send_tcp_reset_on_unhealthy_enabled: bool,
    /// `send_tcp_reset.on_deregistration.enabled`: reset existing TCP flows of a target once
    /// its deregistration delay ends. Default: false. Needs 5-tuple stickiness.
    #[serde(rename = "send_tcp_reset.on_deregistration.enabled")]
    pub send_tcp_reset_on_deregistration_enabled: bool,
}

/// `[target_group.health_check]`: GWLB health checks of the targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// `protocol`: `TCP` (default), `HTTP` or `HTTPS`.
    pub protocol: HealthCheckProtocol,
    /// `port`: the port probed on each target, 1–65535. Default: 80.
    pub port: u16,
    /// `path`: the HTTP(S) request path, starting with `/`, at most 1024 characters.
    /// Refused for `TCP` (so `None` there); defaults to `/` for HTTP and HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `interval_seconds`: time between checks, 5–300 seconds, at least `timeout_seconds`.
    /// Default: 10.
    pub interval_seconds: u16,
    /// `timeout_seconds`: time to wait for an answer, 2–120 seconds. Default: 5.
    pub timeout_seconds: u16,
    /// `healthy_threshold_count`: consecutive successes to turn healthy, 2–10. Default: 5.
    pub healthy_threshold_count: u8,
    /// `unhealthy_threshold_count`: consecutive failures to turn unhealthy, 2–10. Default: 2.
    pub unhealthy_threshold_count: u8,
    /// `matcher`: accepted HTTP codes, each within 200–399. Refused for `TCP` (so `None`
    /// there); defaults to `200-399` for HTTP and HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matcher: Option<StatusMatcher>,
}

/// `[[target]]`: a registered appliance, by IP address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `ip`: the appliance's IPv4 address, in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12 or
    /// 192.168.0.0/16 (GWLB refuses public addresses). Required, unique, not one of the
    /// gateway's own port addresses, and reachable: inside a port's subnet or through the
    /// port that has a `gateway`.
    pub ip: Ipv4Addr,
    /// `zone`: the target's zone, same spelling rules as `load_balancer.zone`. Required.
    pub zone: String,
}

/// `[endpoint_service]`: the PrivateLink-style service consumers attach endpoints to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointService {
    /// `acceptance_required`: new endpoints start `pendingAcceptance` until accepted.
    /// Default: true.
    pub acceptance_required: bool,
    /// `allowed_principals`: who may own endpoints (AWS-style ARNs or `*`); empty means
    /// anyone. Each entry non-empty and unique. Default: empty.
    pub allowed_principals: Vec<String>,
    /// `supported_ip_address_types`: a non-empty set of `ipv4` and `ipv6`; `ipv6` needs
    /// `load_balancer.ip_address_type = "dualstack"`. Default: `["ipv4"]`.
    pub supported_ip_address_types: Vec<IpAddressFamily>,
}

/// `[[endpoint]]`: a GWLB endpoint attached to this gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// `id`: `vpce-` followed by exactly 17 lowercase hex digits whose value fits in 64 bits
    /// (it travels in GENEVE option type 1), such as `vpce-0123456789abcdef0`. Required,
    /// unique.
    pub id: String,
    /// `port`: the name of the `[[dataplane.port]]` the endpoint's traffic arrives on.
    /// Required.
    pub port: String,
    /// `vlan`: the 802.1Q VLAN id of the attachment, 1–4094. Optional (untagged). The pair
    /// (`port`, `vlan`) identifies the attachment and is unique.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// `next_hop`: where inspected traffic is returned: an IPv4 address inside the port's
    /// subnet that is not the port's own address. Required.
    pub next_hop: Ipv4Addr,
    /// `zone`: the endpoint's zone, same spelling rules as `load_balancer.zone`. Required.
    pub zone: String,
    /// `state`: `pendingAcceptance`, `available` or `rejected`; only `available` endpoints
    /// pass traffic. Default: `pendingAcceptance` when `endpoint_service.acceptance_required`
    /// is true, else `available`.
    pub state: EndpointState,
    /// `principal`: who owns the endpoint. Optional; when present and
    /// `endpoint_service.allowed_principals` is not empty, it must be listed there (or the
    /// list must contain `*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `attachment_id`: the value carried in GENEVE option type 2, 0–2^63−1 (TOML integers
    /// are signed 64-bit). Default: 0.
    pub attachment_id: u64,
}

keyword_enum! {
    /// `load_balancer.ip_address_type`.
    pub enum IpAddressType {
        /// IPv4 clients only.
        Ipv4 = "ipv4",
        /// IPv4 and IPv6 clients (the outer GENEVE header stays IPv4).
        Dualstack = "dualstack",
    }
}

keyword_enum! {
    /// `target_group.protocol`: GWLB target groups speak GENEVE only.
    pub enum TargetGroupProtocol {
        /// GENEVE on UDP port 6081.
        Geneve = "GENEVE",
    }
    rejected {
        "TCP" => "a Gateway Load Balancer target group only speaks GENEVE",
        "UDP" => "a Gateway Load Balancer target group only speaks GENEVE",
        "HTTP" => "a Gateway Load Balancer target group only speaks GENEVE",
        "HTTPS" => "a Gateway Load Balancer target group only speaks GENEVE",
        "TLS" => "a Gateway Load Balancer target group only speaks GENEVE",
        "TCP_UDP" => "a Gateway Load Balancer target group only speaks GENEVE",
    }
}

keyword_enum! {
    /// `target_group.target_type`: sluice registers appliances by IP address.
    pub enum TargetType {
        /// Targets are IP addresses.
        Ip = "ip",
    }
    rejected {
        "instance" => "sluice has no EC2 API to resolve instance ids, so it registers appliances by IP address; list them as [[target]] ip = \"...\"",
        "lambda" => "Gateway Load Balancers cannot target Lambda functions",
        "alb" => "Gateway Load Balancers cannot target Application Load Balancers",
    }
}

keyword_enum! {
    /// `stickiness.type`: the tuple flows are hashed on when stickiness is enabled.
    pub enum StickinessType {
        /// 2-tuple: source and destination IP.
        SourceIpDestIp = "source_ip_dest_ip",
        /// 3-tuple: source IP, destination IP and protocol.
        SourceIpDestIpProto = "source_ip_dest_ip_proto",
    }
}

keyword_enum! {
    /// `target_failover.on_deregistration` and `target_failover.on_unhealthy`.
    pub enum TargetFailover {
        /// Existing flows are rehashed to healthy targets.
        Rebalance = "rebalance",
        /// Existing flows stay on their target until they end.
        NoRebalance = "no_rebalance",
    }
}

keyword_enum! {
    /// `target_group.health_check.protocol`.
    pub enum HealthCheckProtocol {
        /// A TCP connect to the port.
        Tcp = "TCP",
        /// An HTTP GET of `path`, judged by `matcher`.
        Http = "HTTP",
        /// An HTTPS GET of `path` (TLS 1.2 or earlier), judged by `matcher`.
        Https = "HTTPS",
    }
}

keyword_enum! {
    /// An entry of `endpoint_service.supported_ip_address_types`.
    pub enum IpAddressFamily {
        /// IPv4.
        Ipv4 = "ipv4",
        /// IPv6.
        Ipv6 = "ipv6",
    }
}

keyword_enum! {
    /// `endpoint.state`: the endpoint connection state.
    pub enum EndpointState {
        /// Waiting for the service owner to accept it; traffic is dropped.
        PendingAcceptance = "pendingAcceptance",
        /// Accepted; traffic flows.
        Available = "available",
        /// Rejected by the service owner; traffic is dropped.
        Rejected = "rejected",
    }
}

/// The flow key a target group hashes on, derived from its stickiness attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stickiness {
    /// 5-tuple for TCP and UDP, 3-tuple for other protocols (`stickiness.enabled = false`).
    FiveTuple,
    /// Source IP, destination IP, protocol.
    ThreeTuple,
    /// Source IP, destination IP.
    TwoTuple,
}

impl LoadBalancer {
    /// Default `ip_address_type`.
    pub const DEFAULT_IP_ADDRESS_TYPE: IpAddressType = IpAddressType::Ipv4;
}

impl ListenerAttributes {
    /// Default `tcp.idle_timeout.seconds`.
    pub const DEFAULT_TCP_IDLE_TIMEOUT_SECONDS: u16 = 350;
}

impl Default for ListenerAttributes {
    fn default() -> Self {
        Self {
            tcp_idle_timeout_seconds: Self::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS,
            send_tcp_reset_on_idle_timeout_enabled: false,
        }
    }
}

impl TargetGroupAttributes {
    /// Default `deregistration_delay.timeout_seconds`.
    pub const DEFAULT_DEREGISTRATION_DELAY_SECONDS: u16 = 300;
    /// Default `target_failover.*`.
    pub const DEFAULT_TARGET_FAILOVER: TargetFailover = TargetFailover::NoRebalance;

    /// The flow key these attributes select.
    pub fn stickiness(&self) -> Stickiness {
        match (self.stickiness_enabled, self.stickiness_type) {
            (false, _) | (true, None) => Stickiness::FiveTuple,
            (true, Some(StickinessType::SourceIpDestIpProto)) => Stickiness::ThreeTuple,
            (true, Some(StickinessType::SourceIpDestIp)) => Stickiness::TwoTuple,
        }
    }
}

impl Default for TargetGroupAttributes {
    fn default() -> Self {
        Self {
            deregistration_delay_timeout_seconds: Self::DEFAULT_DEREGISTRATION_DELAY_SECONDS,
            stickiness_enabled: false,
            stickiness_type: None,
            target_failover_on_deregistration: Self::DEFAULT_TARGET_FAILOVER,
            target_failover_on_unhealthy: Self::DEFAULT_TARGET_FAILOVER,
            send_tcp_reset_on_unhealthy_enabled: false,
            send_tcp_reset_on_deregistration_enabled: false,
        }
    }
}

impl HealthCheck {
    /// Default `protocol`.
    pub const DEFAULT_PROTOCOL: HealthCheckProtocol = HealthCheckProtocol::Tcp;
    /// Default `port`.
    pub const DEFAULT_PORT: u16 = 80;
    /// Default `path` for HTTP and HTTPS.
    pub const DEFAULT_PATH: &'static str = "/";
    /// Default `interval_seconds`.
    pub const DEFAULT_INTERVAL_SECONDS: u16 = 10;
    /// Default `timeout_seconds`.
    pub const DEFAULT_TIMEOUT_SECONDS: u16 = 5;
    /// Default `healthy_threshold_count`.
    pub const DEFAULT_HEALTHY_THRESHOLD: u8 = 5;
    /// Default `unhealthy_threshold_count`.
    pub const DEFAULT_UNHEALTHY_THRESHOLD: u8 = 2;
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            protocol: Self::DEFAULT_PROTOCOL,
            port: Self::DEFAULT_PORT,
            path: None,
            interval_seconds: Self::DEFAULT_INTERVAL_SECONDS,
            timeout_seconds: Self::DEFAULT_TIMEOUT_SECONDS,
            healthy_threshold_count: Self::DEFAULT_HEALTHY_THRESHOLD,
            unhealthy_threshold_count: Self::DEFAULT_UNHEALTHY_THRESHOLD,
            matcher: None,
        }
    }
}

impl HealthCheckProtocol {
    /// Returns whether the protocol is HTTP or HTTPS (and so has a path and a matcher).
    pub fn is_http(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }
}

impl EndpointService {
    /// Default `acceptance_required`.
    pub const DEFAULT_ACCEPTANCE_REQUIRED: bool = true;
}

impl Default for EndpointService {
    fn default() -> Self {
        Self {
            acceptance_required: Self::DEFAULT_ACCEPTANCE_REQUIRED,
            allowed_principals: Vec::new(),
            supported_ip_address_types: vec![IpAddressFamily::Ipv4],
        }
    }
}

impl Endpoint {
    /// The numeric endpoint id carried in GENEVE option type 1: the 17 hex digits of `id`.
    /// `None` when `id` is malformed (never for a validated configuration).
    pub fn numeric_id(&self) -> Option<u64> {
        parse_vpce_id(&self.id)
    }
}

/// Parses a `vpce-` id into the 64-bit value GWLB carries in GENEVE option type 1: `vpce-`
/// then exactly 17 lowercase hex digits whose value fits in 64 bits.
pub fn parse_vpce_id(id: &str) -> Option<u64> {
    let hex = id.strip_prefix("vpce-")?;
    if hex.len() != 17 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpce_ids_need_17_lowercase_hex_digits_that_fit_64_bits() {
        assert_eq!(
            parse_vpce_id("vpce-0123456789abcdef0"),
            Some(0x1234_5678_9abc_def0)
        );
        assert_eq!(parse_vpce_id("vpce-0123456789ABCDEF0"), None);
        assert_eq!(parse_vpce_id("vpce-0123456789abcdef"), None);
        assert_eq!(parse_vpce_id("vpce-1123456789abcdef0"), None);
        assert_eq!(parse_vpce_id("vpc-0123456789abcdef0"), None);
    }

    #[test]
    fn stickiness_follows_the_attributes() {
        let mut attributes = TargetGroupAttributes::default();
        assert_eq!(attributes.stickiness(), Stickiness::FiveTuple);
        attributes.stickiness_enabled = true;
        attributes.stickiness_type = Some(StickinessType::SourceIpDestIp);
        assert_eq!(attributes.stickiness(), Stickiness::TwoTuple);
    }
}
