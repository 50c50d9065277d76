//! Ranges and cross-field rules over a typed [`Config`].
//!
//! Decoding guarantees types and shapes; this module guarantees meaning: every range from
//! `gwlb-spec.md` and DPDK, the GWLB rules that tie attributes together (stickiness and idle
//! timeout, failover symmetry, health-check timing, quotas, zones), uniqueness, and the
//! references between sections (endpoints to ports, policies to principals). It works on
//! the typed value rather than on TOML so that configurations changed through the
//! management API are checked by the very same code. Each finding is a [`Violation`] naming
//! the key path it is about and the other keys it depends on.

mod appliance;
mod dataplane;
mod gateway;
mod management;

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;

use crate::limits::Limit;
use crate::schema::{Config, Role};

/// A broken rule, found by [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The key path the finding is about, such as `target[2].ip`.
    pub key: String,
    /// What is wrong, naming the bad value and what is allowed.
    pub message: String,
    /// Other key paths the rule depends on (for cross-field rules), used to place the
    /// finding when `key` itself is not written in the file.
    pub related: Vec<String>,
}

/// The rules, one variant per kind of finding; `Display` is the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rule {
    /// A number outside its range.
    #[error("{value} is out of range: allowed {limit}")]
    OutOfRange { value: String, limit: String },
    /// A ring or table size that is not a power of two.
    #[error("{value} is not a power of two: allowed powers of two in {limit}")]
    NotPowerOfTwo { value: String, limit: String },
    /// A value that must be unique appears twice.
    #[error("duplicate {value}: already used by {first}")]
    Duplicate { value: String, first: String },
    /// A list that must not be empty.
    #[error("must not be empty{hint}")]
    Empty { hint: &'static str },
    /// A string that must not be empty.
    #[error("must not be an empty string")]
    EmptyString,
    /// A name that breaks its spelling rules.
    #[error("\"{value}\" is not a valid {what}: {rule}")]
    BadName {
        value: String,
        what: &'static str,
        rule: &'static str,
    },

    /// `dataplane.control_core` is also a worker.
    #[error(
        "core {core} is also a worker core ({worker}); the control thread needs a core of its own"
    )]
    ControlCoreIsWorker { core: u16, worker: String },
    /// An EAL argument sluice sets itself.
    #[error(
        "\"{arg}\" is set by sluice: cores come from worker_cores and control_core, devices from [[dataplane.port]] device"
    )]
    ReservedEalArg { arg: String },
    /// DPDK's mempool rule `cache_size * 1.5 <= n`.
    #[error(
        "{cache} is too large for mbufs = {mbufs}: DPDK requires mbuf_cache <= mbufs / 1.5 ({max})"
    )]
    MbufCacheTooLarge { cache: u32, mbufs: u32, max: u32 },
    /// No `[[dataplane.port]]`.
    #[error("at least one [[dataplane.port]] is required")]
    NoPorts,
    /// A device that is neither a known vdev nor a PCI address.
    #[error(
        "\"{value}\" is not a DPDK device: expected a PCI address DDDD:BB:DD.F or a virtual device of net_af_packet, net_tap, net_pcap, net_ring or net_null with an optional \",key=value,...\" list (such as \"net_af_packet0,iface=eth0\")"
    )]
    BadDevice { value: String },
    /// A port address that is the network or broadcast address of its subnet.
    #[error("{address} is the {which} address of its subnet; use a host address")]
    NotHostAddress {
        address: String,
        which: &'static str,
    },
    /// A port address with prefix length 0.
    #[error("{address} has prefix length 0; give the subnet's real prefix length")]
    ZeroPrefix { address: String },
    /// Two ports whose subnets overlap.
    #[error("subnet {subnet} overlaps {other} ({other_subnet}); each port needs its own subnet")]
    SubnetOverlap {
        subnet: String,
        other: String,
        other_subnet: String,
    },
    /// A multicast, broadcast or all-zero MAC where a unicast one is needed.
    #[error("{mac} is not a unicast MAC address")]
    NotUnicast { mac: String },
    /// An address outside the subnet it must be in.
    #[error("{ip} is outside the subnet of {port} ({subnet})")]
    OutsideSubnet {
        ip: String,
        port: String,
        subnet: String,
    },
    /// An address that is the port's own.
    #[error("{ip} is the address of {port} itself")]
    OwnAddress { ip: String, port: String },
    /// A second port with a default gateway.
    #[error("only one port may have a gateway (the default route), and {first} already has one")]
    SecondGateway { first: String },

    /// A load balancer or target group name that breaks ELB's rules.
    #[error(
        "\"{value}\" is not a valid name: use 1–32 ASCII letters, digits and hyphens, not starting or ending with a hyphen and not starting with \"internal-\""
    )]
    BadElbName { value: String },
    /// `tcp.idle_timeout.seconds` changed with 2- or 3-tuple stickiness.
    #[error(
        "{value} needs 5-tuple stickiness: with stickiness.enabled = true GWLB keeps the default of 350 seconds"
    )]
    IdleTimeoutNeedsFiveTuple { value: u16 },
    /// A TCP-reset target group attribute with 2- or 3-tuple stickiness.
    #[error(
        "true needs 5-tuple stickiness (stickiness.enabled = false): GWLB resets flows on target events only for 5-tuple flows"
    )]
    ResetNeedsFiveTuple,
    /// `stickiness.enabled = true` without `stickiness.type`.
    #[error(
        "required when stickiness.enabled = true: set \"source_ip_dest_ip\" (2-tuple) or \"source_ip_dest_ip_proto\" (3-tuple)"
    )]
    StickinessTypeRequired,
    /// `stickiness.type` without `stickiness.enabled = true`.
    #[error(
        "\"{value}\" has no effect while stickiness.enabled = false (5-tuple): remove it or set stickiness.enabled = true"
    )]
    StickinessTypeWithoutStickiness { value: String },
    /// The two `target_failover` attributes differ.
    #[error(
        "\"{on_unhealthy}\" differs from target_failover.on_deregistration (\"{on_deregistration}\"): GWLB requires both to be the same"
    )]
    FailoverMismatch {
        on_unhealthy: String,
        on_deregistration: String,
    },
    /// A target group port other than 6081.
    #[error("{value} is not allowed: a GWLB target group uses GENEVE on port 6081 only")]
    NotGenevePort { value: u16 },
    /// Health-check interval shorter than its timeout.
    #[error("{interval} must be >= timeout_seconds ({timeout})")]
    IntervalBelowTimeout { interval: u16, timeout: u16 },
    /// `path` or `matcher` on a TCP health check.
    #[error("{key} is only used by HTTP and HTTPS health checks, and protocol is TCP")]
    HttpOnly { key: &'static str },
    /// A health-check path that does not start with `/` or is too long.
    #[error(
        "\"{value}\" is not a valid path: it must start with \"/\" and be at most 1024 characters"
    )]
    BadHealthCheckPath { value: String },
    /// A matcher code outside 200–399.
    #[error("\"{value}\" names codes outside 200–399: GWLB health checks accept only 200–399")]
    MatcherOutOfRange { value: String },
    /// A public target address.
    #[error(
        "{ip} is not a private address: GWLB targets must be in 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12 or 192.168.0.0/16"
    )]
    PublicTarget { ip: String },
    /// A target that is the gateway itself.
    #[error("{ip} is this gateway's own address ({port})")]
    TargetIsGateway { ip: String, port: String },
    /// A target no port can reach.
    #[error("{ip} is unreachable: it is outside every port's subnet and no port has a gateway")]
    Unreachable { ip: String },
    /// Too many targets in one zone.
    #[error("zone \"{zone}\" has {count} targets: GWLB allows at most {max} targets per zone")]
    TooManyTargetsInZone {
        zone: String,
        count: usize,
        max: usize,
    },
    /// Too many targets in total.
    #[error("{count} targets: GWLB allows at most {max} targets per load balancer")]
    TooManyTargets { count: usize, max: usize },
    /// This node's zone has no target while cross-zone is off.
    #[error(
        "zone \"{zone}\" has no [[target]]: GWLB needs a registered target in each enabled zone (or set load_balancing.cross_zone.enabled = true)"
    )]
    ZoneWithoutTarget { zone: String },
    /// IPv6 endpoints without a dualstack load balancer.
    #[error("\"ipv6\" needs load_balancer.ip_address_type = \"dualstack\"")]
    Ipv6NeedsDualstack,
    /// A malformed endpoint id.
    #[error(
        "\"{value}\" is not a GWLB endpoint id: expected \"vpce-\" and 17 lowercase hex digits whose value fits in 64 bits, such as vpce-0123456789abcdef0"
    )]
    BadEndpointId { value: String },
    /// An endpoint naming a port that does not exist.
    #[error("no [[dataplane.port]] is named \"{name}\" (ports: {known})")]
    UnknownPort { name: String, known: String },
    /// Two endpoints on the same attachment.
    #[error("attachment (port \"{port}\", {vlan}) is already used by {first}")]
    DuplicateAttachment {
        port: String,
        vlan: String,
        first: String,
    },
    /// An endpoint owner not in the allowed list.
    #[error("\"{principal}\" is not in endpoint_service.allowed_principals")]
    PrincipalNotAllowed { principal: String },

    /// A network with host bits set.
    #[error("{net} has host bits set: did you mean {network}?")]
    HostBits { net: String, network: String },
    /// An MSS clamp that is neither 0 nor in range.
    #[error("{value} is out of range: allowed 0 (off) or {limit}")]
    MssClamp { value: u16, limit: String },
    /// `ports` without TCP/UDP-only protocols.
    #[error("ports need protocols that list only tcp and udp")]
    PortsNeedTcpOrUdp,
    /// `icmp_types` without ICMP-only protocols.
    #[error("icmp_types need protocols that list only icmp and icmpv6")]
    IcmpTypesNeedIcmp,
    /// `appliance.flow_log.enabled = true` without a `path`.
    #[error(
        "required when enabled = true: the file flow records are appended to, an absolute path such as \"/var/log/sluice/flows.jsonl\""
    )]
    FlowLogPathRequired,

    /// A path that must be absolute.
    #[error("\"{value}\" is not an absolute path")]
    NotAbsolute { value: String },
    /// A token hash that is not 64 lowercase hex digits.
    #[error(
        "expected 64 lowercase hex digits (the SHA-256 of the bearer token, as printed by sha256sum), found {found}"
    )]
    BadTokenHash { found: String },
    /// A policy naming an unknown principal.
    #[error(
        "no [[management.principal]] is named \"{name}\" (principals: {known}, or \"*\" for all)"
    )]
    UnknownPrincipal { name: String, known: String },
    /// A malformed action pattern.
    #[error(
        "\"{value}\" is not an action: expected \"*\" or \"sluice:\" followed by an operation name with optional * wildcards, such as sluice:Describe*"
    )]
    BadAction { value: String },
    /// A malformed resource pattern.
    #[error(
        "\"{value}\" is not a resource: expected \"*\" or TYPE/NAME with TYPE one of loadbalancer, listener, targetgroup, endpointservice, endpoint, appliance, management (such as targetgroup/appliances)"
    )]
    BadResource { value: String },
    /// Two listeners on one socket address.
    #[error(
        "{addr} is also management.tls.listen; the metrics and TLS listeners need different addresses"
    )]
    SameListenAddress { addr: String },
}

/// Collects violations.
#[derive(Default)]
pub(crate) struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    /// Records a finding about `key` that also depends on `related`.
    pub(crate) fn push(&mut self, key: impl Into<String>, related: &[&str], rule: Rule) {
        self.out.push(Violation {
            key: key.into(),
            message: rule.to_string(),
            related: related.iter().map(|&r| r.to_owned()).collect(),
        });
    }

    /// Checks that `value` lies in `limit`.
    pub(crate) fn range<T>(&mut self, key: impl Into<String>, value: T, limit: &Limit<T>)
    where
        T: PartialOrd + Copy + Display,
    {
        if !limit.contains(value) {
            let rule = Rule::OutOfRange {
                value: value.to_string(),
                limit: limit.to_string(),
            };
            self.push(key, &[], rule);
        }
    }

    /// Checks that `value` is a power of two in `limit`.
    pub(crate) fn power_of_two<T>(&mut self, key: impl Into<String>, value: T, limit: &Limit<T>)
    where
        T: PartialOrd + Copy + Display + Into<u64>,
    {
        if !limit.contains(value) || !value.into().is_power_of_two() {
            let rule = Rule::NotPowerOfTwo {
                value: value.to_string(),
                limit: limit.to_string(),
            };
            self.push(key, &[], rule);
        }
    }

    /// Checks that the values are unique, reporting each repeat at its own key and naming
    /// the key of the first occurrence. `shown` formats a value for the message.
    pub(crate) fn unique<T: Eq + Hash>(
        &mut self,
        items: impl IntoIterator<Item = (String, T)>,
        shown: impl Fn(&T) -> String,
    ) {
        let mut first: HashMap<T, String> = HashMap::new();
        for (key, value) in items {
            match first.get(&value) {
                Some(first_key) => {
                    let rule = Rule::Duplicate {
                        value: shown(&value),
                        first: first_key.clone(),
                    };
                    let related = [first_key.as_str()];
                    self.push(key, &related, rule);
                }
                None => {
                    first.insert(value, key);
                }
            }
        }
    }

    /// Checks that a string is not empty.
    pub(crate) fn non_empty(&mut self, key: impl Into<String>, value: &str) {
        if value.is_empty() {
            self.push(key, &[], Rule::EmptyString);
        }
    }
}

impl Config {
    /// Checks every range and cross-field rule; `Err` lists each broken rule.
    pub fn validate(&self) -> Result<(), Vec<Violation>> {
        let violations = self.violations();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Every broken rule, in schema order.
    pub(crate) fn violations(&self) -> Vec<Violation> {
        let mut check = Checker::default();
        dataplane::check(&mut check, &self.dataplane);
        match &self.role {
            Role::Gateway(gateway) => gateway::check(&mut check, gateway, &self.dataplane),
            Role::Appliance(appliance) => appliance::check(&mut check, &appliance.appliance),
        }
        management::check(&mut check, &self.management);
        check.out
    }
}

/// Returns whether `value` is 1–`max` characters from `allowed`.
pub(crate) fn spelled_with(value: &str, max: usize, allowed: impl Fn(char) -> bool) -> bool {
    (1..=max).contains(&value.chars().count()) && value.chars().all(allowed)
}

/// Returns whether `value` is a zone name: 1–64 characters of `a-z`, `0-9` and `-`.
pub(crate) fn is_zone(value: &str) -> bool {
    spelled_with(value, 64, |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })
}

/// Checks a zone name.
pub(crate) fn check_zone(check: &mut Checker, key: String, zone: &str) {
    if !is_zone(zone) {
        let rule = Rule::BadName {
            value: zone.to_owned(),
            what: "zone",
            rule: "use 1–64 characters of a-z, 0-9 and -, such as an AWS AZ id (use1-az1)",
        };
        check.push(key, &[], rule);
    }
}
