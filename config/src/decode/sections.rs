//! One decoder per section of the schema, in file order: the root and role, `[dataplane]`,
//! the gateway sections, `[appliance]` and `[management]`.
//!
//! Each function asks its [`TableReader`] for exactly the keys the schema defines, with
//! their defaults, and so is also the authority on which keys exist: anything it does not
//! ask for is reported as unknown.

use std::net::{Ipv4Addr, SocketAddr};

use ipnet::{IpNet, Ipv4Net};
use toml_edit::{Table, Value};

use super::reader::{
    Bool, Decode, FilePath, Got, Int, Kw, Node, Parsed, Ports, Protocol, Str, TableReader,
};
use super::{DecodeError, Decoder};
use crate::diagnostic::shorten;
use crate::limits;
use crate::schema::appliance::{
    Appliance, ApplianceHealthCheck, FlowLog, InspectionPolicy, PolicyAction, PolicyRule,
};
use crate::schema::dataplane::{Dataplane, FlowTable, Neighbor, Port};
use crate::schema::gateway::{
    Endpoint, EndpointService, EndpointState, HealthCheck, IpAddressFamily, Listener,
    ListenerAttributes, LoadBalancer, LoadBalancerAttributes, Target, TargetGroup,
    TargetGroupAttributes,
};
use crate::schema::management::{AccessPolicy, Effect, Management, Principal, Timestamp, Tls};
use crate::schema::types::MacAddr;
use crate::schema::{ApplianceConfig, Config, GatewayConfig, Role, RoleKind};

/// Expected-value descriptions shared by several keys.
const IPV4: Parsed<Ipv4Addr> = Parsed::new("an IPv4 address such as 10.0.0.1", false);
const IPV4_INTERFACE: Parsed<Ipv4Net> = Parsed::new(
    "an IPv4 address with a prefix length such as 10.0.0.1/24",
    false,
);
const IPV4_NETWORK: Parsed<Ipv4Net> = Parsed::new("an IPv4 network such as 10.0.0.0/24", false);
const IP_NETWORK: Parsed<IpNet> = Parsed::new(
    "an IPv4 or IPv6 network such as 10.0.0.0/8 or 2001:db8::/32",
    false,
);
const MAC: Parsed<MacAddr> = Parsed::new("a MAC address such as 02:00:00:00:00:01", false);
const SOCKET_ADDR: Parsed<SocketAddr> =
    Parsed::new("a socket address such as 127.0.0.1:9090", false);

/// The gateway's top-level sections: key and header as printed in messages.
const GATEWAY_SECTIONS: [(&str, &str); 6] = [
    ("load_balancer", "[load_balancer]"),
    ("listener", "[listener]"),
    ("target_group", "[target_group]"),
    ("target", "[[target]]"),
    ("endpoint_service", "[endpoint_service]"),
    ("endpoint", "[[endpoint]]"),
];

/// GWLB attribute names by the table they belong in, to explain misplaced attributes.
const LOAD_BALANCER_ATTRIBUTES: [&str; 2] = [
    "load_balancing.cross_zone.enabled",
    "deletion_protection.enabled",
];
const LISTENER_ATTRIBUTES: [&str; 2] = [
    "tcp.idle_timeout.seconds",
    "send_tcp_reset.on_idle_timeout.enabled",
];
const TARGET_GROUP_ATTRIBUTES: [&str; 7] = [
    "deregistration_delay.timeout_seconds",
    "stickiness.enabled",
    "stickiness.type",
    "target_failover.on_deregistration",
    "target_failover.on_unhealthy",
    "send_tcp_reset.on_unhealthy.enabled",
    "send_tcp_reset.on_deregistration.enabled",
];

/// Decodes the whole document. Returns `None` when the role is missing or unknown; the
/// sections present are still decoded so that their problems are reported.
pub(super) fn root(d: &mut Decoder<'_>, table: &Table, file_name: &str) -> Option<Config> {
    let mut root = TableReader::new(d, String::new(), Node::Table(table), 0)?;
    let role = match root.get(d, "role", &Kw::<RoleKind>::new()) {
        Got::Ok(role) => Some(role),
        Got::Bad => None,
        Got::Absent => {
            d.fail("role".to_owned(), 0, DecodeError::MissingRole);
            None
        }
    };
    // Missing sections are reported at the role, which is what makes them required.
    let role_at = d.locations.get("role").copied().unwrap_or(0);

    let dataplane = required_section(
        d,
        &mut root,
        ("dataplane", "[dataplane]"),
        Some((
            role_at,
            "every role needs worker_cores and at least one [[dataplane.port]]",
        )),
        dataplane,
    );
    let management_table = root.table_or_empty(d, "management");
    let management = management(d, management_table, file_name);

    let role = match role {
        Some(RoleKind::Gateway) => {
            wrong_role(
                d,
                &mut root,
                ("appliance", "[appliance]"),
                RoleKind::Gateway,
            );
            Some(Role::Gateway(Box::new(gateway(
                d,
                &mut root,
                Some(role_at),
            ))))
        }
        Some(RoleKind::Appliance) => {
            for section in GATEWAY_SECTIONS {
                wrong_role(d, &mut root, section, RoleKind::Appliance);
            }
            let appliance = appliance(d, &mut root, Some(role_at));
            Some(Role::Appliance(Box::new(ApplianceConfig { appliance })))
        }
        None => {
            gateway(d, &mut root, None);
            appliance(d, &mut root, None);
            None
        }
    };
    root.finish(d);
    Some(Config {
        role: role?,
        dataplane,
        management,
    })
}

/// Decodes a section that may be required. When it is missing and `required` gives a
/// position and a reason, that is reported; either way a placeholder is decoded from an
/// empty, muted table.
fn required_section<T>(
    d: &mut Decoder<'_>,
    root: &mut TableReader<'_>,
    (key, section): (&'static str, &'static str),
    required: Option<(usize, &str)>,
    decode: fn(&mut Decoder<'_>, TableReader<'_>) -> T,
) -> T {
    match root.table(d, key) {
        Got::Ok(table) => decode(d, table),
        Got::Absent => {
            match required {
                Some((at, why)) => d.fail(
                    key.to_owned(),
                    at,
                    DecodeError::MissingSection {
                        section,
                        why: why.to_owned(),
                    },
                ),
                None => d.failed.push(key.to_owned()),
            }
            decode(d, TableReader::muted(key.to_owned(), 0))
        }
        Got::Bad => decode(d, TableReader::muted(key.to_owned(), 0)),
    }
}

/// Reports a section that belongs to the other role, if present.
fn wrong_role(
    d: &mut Decoder<'_>,
    root: &mut TableReader<'_>,
    (key, section): (&'static str, &'static str),
    role: RoleKind,
) {
    if let Some((path, key_at, node)) = root.take(key) {
        let allowed = match role {
            RoleKind::Gateway => RoleKind::Appliance,
            RoleKind::Appliance => RoleKind::Gateway,
        };
        let error = DecodeError::WrongRole {
            section,
            allowed,
            role,
        };
        d.fail(path, node.start_or(key_at), error);
    }
}

fn dataplane(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> Dataplane {
    let eal_args = t
        .list(d, "eal_args", &Str, String::new)
        .ok()
        .unwrap_or_default();
    let worker_cores = t.req_list(d, "worker_cores", &Int(&limits::CORE), || 0);
    let control_core = t.or(
        d,
        "control_core",
        &Int(&limits::CORE),
        Dataplane::DEFAULT_CONTROL_CORE,
    );
    let poll_mode = t.or(d, "poll_mode", &Kw::new(), Dataplane::DEFAULT_POLL_MODE);
    let burst_size = t.or(
        d,
        "burst_size",
        &Int(&limits::BURST_SIZE),
        Dataplane::DEFAULT_BURST_SIZE,
    );
    let rx_descriptors = t.or(
        d,
        "rx_descriptors",
        &Int(&limits::DESCRIPTORS),
        Dataplane::DEFAULT_DESCRIPTORS,
    );
    let tx_descriptors = t.or(
        d,
        "tx_descriptors",
        &Int(&limits::DESCRIPTORS),
        Dataplane::DEFAULT_DESCRIPTORS,
    );
    let mbufs = t.or(d, "mbufs", &Int(&limits::MBUFS), Dataplane::DEFAULT_MBUFS);
    let mbuf_cache = t.or(
        d,
        "mbuf_cache",
        &Int(&limits::MBUF_CACHE),
        Dataplane::DEFAULT_MBUF_CACHE,
    );
    let mut flow_table = t.table_or_empty(d, "flow_table");
    let capacity = flow_table.or(
        d,
        "capacity",
        &Int(&limits::FLOW_TABLE_CAPACITY),
        FlowTable::DEFAULT_CAPACITY,
    );
    flow_table.finish(d);
    let ports = t
        .tables(d, "port")
        .into_iter()
        .map(|table| port(d, table))
        .collect();
    t.finish(d);
    Dataplane {
        eal_args,
        worker_cores,
        control_core,
        poll_mode,
        burst_size,
        rx_descriptors,
        tx_descriptors,
        mbufs,
        mbuf_cache,
        flow_table: FlowTable { capacity },
        ports,
    }
}

fn port(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> Port {
    let port = Port {
        name: t.req(d, "name", &Str, String::new()),
        device: t.req(d, "device", &Str, String::new()),
        mtu: t.or(d, "mtu", &Int(&limits::MTU), Port::DEFAULT_MTU),
        address: t.req(d, "address", &IPV4_INTERFACE, Ipv4Net::default()),
        mac: t.opt(d, "mac", &MAC),
        gateway: t.opt(d, "gateway", &IPV4),
        neighbors: t
            .tables(d, "neighbor")
            .into_iter()
            .map(|mut n| {
                let neighbor = Neighbor {
                    ip: n.req(d, "ip", &IPV4, Ipv4Addr::UNSPECIFIED),
                    mac: n.req(d, "mac", &MAC, MacAddr([0; 6])),
                };
                n.finish(d);
                neighbor
            })
            .collect(),
    };
    t.finish(d);
    port
}

fn gateway(
    d: &mut Decoder<'_>,
    root: &mut TableReader<'_>,
    required_at: Option<usize>,
) -> GatewayConfig {
    let why = "a gateway needs it";
    let load_balancer = required_section(
        d,
        root,
        GATEWAY_SECTIONS[0],
        required_at.map(|at| (at, why)),
        load_balancer,
    );
    let listener_table = root.table_or_empty(d, "listener");
    let listener = listener(d, listener_table);
    let target_group = required_section(
        d,
        root,
        GATEWAY_SECTIONS[2],
        required_at.map(|at| (at, why)),
        target_group,
    );
    let targets = root
        .tables(d, "target")
        .into_iter()
        .map(|mut t| {
            let target = Target {
                ip: t.req(d, "ip", &IPV4, Ipv4Addr::UNSPECIFIED),
                zone: t.req(d, "zone", &Str, String::new()),
            };
            t.finish(d);
            target
        })
        .collect();
    let service_table = root.table_or_empty(d, "endpoint_service");
    let endpoint_service = endpoint_service(d, service_table);
    let default_state = if endpoint_service.acceptance_required {
        EndpointState::PendingAcceptance
    } else {
        EndpointState::Available
    };
    let endpoints = root
        .tables(d, "endpoint")
        .into_iter()
        .map(|t| endpoint(d, t, default_state))
        .collect();
    GatewayConfig {
        load_balancer,
        listener,
        target_group,
        targets,
        endpoint_service,
        endpoints,
    }
}

fn load_balancer(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> LoadBalancer {
    let name = t.req(d, "name", &Str, String::new());
    let zone = t.req(d, "zone", &Str, String::new());
    let ip_address_type = t.or(
        d,
        "ip_address_type",
        &Kw::new(),
        LoadBalancer::DEFAULT_IP_ADDRESS_TYPE,
    );
    let mut a = t.attributes_table(d, "attributes", explain_load_balancer_attribute);
    let attributes = LoadBalancerAttributes {
        cross_zone_enabled: a.or(d, "load_balancing.cross_zone.enabled", &Bool, false),
        deletion_protection_enabled: a.or(d, "deletion_protection.enabled", &Bool, false),
    };
    a.finish(d);
    t.finish(d);
    LoadBalancer {
        name,
        zone,
        ip_address_type,
        attributes,
    }
}

fn listener(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> Listener {
    let mut a = t.attributes_table(d, "attributes", explain_listener_attribute);
    let attributes = ListenerAttributes {
        tcp_idle_timeout_seconds: a.or(
            d,
            "tcp.idle_timeout.seconds",
            &Int(&limits::TCP_IDLE_TIMEOUT),
            ListenerAttributes::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS,
        ),
        send_tcp_reset_on_idle_timeout_enabled: a.or(
            d,
            "send_tcp_reset.on_idle_timeout.enabled",
            &Bool,
            false,
        ),
    };
    a.finish(d);
    t.finish(d);
    Listener { attributes }
}

fn target_group(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> TargetGroup {
    let name = t.req(d, "name", &Str, String::new());
    let protocol = t.or(
        d,
        "protocol",
        &Kw::new(),
        crate::schema::gateway::TargetGroupProtocol::Geneve,
    );
    let port = t.or(d, "port", &Int(&limits::ANY_PORT), limits::GENEVE_PORT);
    let target_type = t.or(
        d,
        "target_type",
        &Kw::new(),
        crate::schema::gateway::TargetType::Ip,
    );
    let mut a = t.attributes_table(d, "attributes", explain_target_group_attribute);
    let attributes = TargetGroupAttributes {
        deregistration_delay_timeout_seconds: a.or(
            d,
            "deregistration_delay.timeout_seconds",
            &Int(&limits::DEREGISTRATION_DELAY),
            TargetGroupAttributes::DEFAULT_DEREGISTRATION_DELAY_SECONDS,
        ),
        stickiness_enabled: a.or(d, "stickiness.enabled", &Bool, false),
        stickiness_type: a.opt(d, "stickiness.type", &Kw::new()),
        target_failover_on_deregistration: a.or(
            d,
            "target_failover.on_deregistration",
            &Kw::new(),
            TargetGroupAttributes::DEFAULT_TARGET_FAILOVER,
        ),
        target_failover_on_unhealthy: a.or(
            d,
            "target_failover.on_unhealthy",
            &Kw::new(),
            TargetGroupAttributes::DEFAULT_TARGET_FAILOVER,
        ),
        send_tcp_reset_on_unhealthy_enabled: a.or(
            d,
            "send_tcp_reset.on_unhealthy.enabled",
            &Bool,
            false,
        ),
        send_tcp_reset_on_deregistration_enabled: a.or(
            d,
            "send_tcp_reset.on_deregistration.enabled",
            &Bool,
            false,
        ),
    };
    a.finish(d);
    let health_table = t.table_or_empty(d, "health_check");
    let health_check = health_check(d, health_table);
    t.finish(d);
    TargetGroup {
        name,
        protocol,
        port,
        target_type,
        attributes,
        health_check,
    }
}

fn health_check(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> HealthCheck {
    let protocol = t.or(d, "protocol", &Kw::new(), HealthCheck::DEFAULT_PROTOCOL);
    let port = t.or(
        d,
        "port",
        &Int(&limits::HEALTH_CHECK_PORT),
        HealthCheck::DEFAULT_PORT,
    );
    let path = t.opt(d, "path", &Str);
    let interval_seconds = t.or(
        d,
        "interval_seconds",
        &Int(&limits::HEALTH_CHECK_INTERVAL),
        HealthCheck::DEFAULT_INTERVAL_SECONDS,
    );
    let timeout_seconds = t.or(
        d,
        "timeout_seconds",
        &Int(&limits::HEALTH_CHECK_TIMEOUT),
        HealthCheck::DEFAULT_TIMEOUT_SECONDS,
    );
    let healthy_threshold_count = t.or(
        d,
        "healthy_threshold_count",
        &Int(&limits::HEALTH_CHECK_THRESHOLD),
        HealthCheck::DEFAULT_HEALTHY_THRESHOLD,
    );
    let unhealthy_threshold_count = t.or(
        d,
        "unhealthy_threshold_count",
        &Int(&limits::HEALTH_CHECK_THRESHOLD),
        HealthCheck::DEFAULT_UNHEALTHY_THRESHOLD,
    );
    let matcher = t.opt(
        d,
        "matcher",
        &Parsed::new(
            "a list of HTTP codes such as \"200\", \"200,202\" or \"200-299\"",
            true,
        ),
    );
    t.finish(d);
    // HTTP and HTTPS checks always have a path and a matcher; a TCP check keeps whatever was
    // written so that the validator can refuse it.
    let (path, matcher) = if protocol.is_http() {
        (
            Some(path.unwrap_or_else(|| HealthCheck::DEFAULT_PATH.to_owned())),
            Some(matcher.unwrap_or_default()),
        )
    } else {
        (path, matcher)
    };
    HealthCheck {
        protocol,
        port,
        path,
        interval_seconds,
        timeout_seconds,
        healthy_threshold_count,
        unhealthy_threshold_count,
        matcher,
    }
}

fn endpoint_service(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> EndpointService {
    let service = EndpointService {
        acceptance_required: t.or(
            d,
            "acceptance_required",
            &Bool,
            EndpointService::DEFAULT_ACCEPTANCE_REQUIRED,
        ),
        allowed_principals: t
            .list(d, "allowed_principals", &Str, String::new)
            .ok()
            .unwrap_or_default(),
        supported_ip_address_types: t
            .list(d, "supported_ip_address_types", &Kw::new(), || {
                IpAddressFamily::Ipv4
            })
            .ok()
            .unwrap_or_else(|| vec![IpAddressFamily::Ipv4]),
    };
    t.finish(d);
    service
}

fn endpoint(d: &mut Decoder<'_>, mut t: TableReader<'_>, default_state: EndpointState) -> Endpoint {
    let endpoint = Endpoint {
        id: t.req(d, "id", &Str, String::new()),
        port: t.req(d, "port", &Str, String::new()),
        vlan: t.opt(d, "vlan", &Int(&limits::VLAN)),
        next_hop: t.req(d, "next_hop", &IPV4, Ipv4Addr::UNSPECIFIED),
        zone: t.req(d, "zone", &Str, String::new()),
        state: t.or(d, "state", &Kw::new(), default_state),
        principal: t.opt(d, "principal", &Str),
        attachment_id: t.or(d, "attachment_id", &Int(&limits::ATTACHMENT_ID), 0),
    };
    t.finish(d);
    endpoint
}

fn appliance(
    d: &mut Decoder<'_>,
    root: &mut TableReader<'_>,
    required_at: Option<usize>,
) -> Appliance {
    required_section(
        d,
        root,
        ("appliance", "[appliance]"),
        required_at.map(|at| (at, "an appliance needs at least gwlb_sources")),
        appliance_section,
    )
}

fn appliance_section(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> Appliance {
    let gwlb_sources = t.req_list(d, "gwlb_sources", &IPV4_NETWORK, Ipv4Net::default);
    let tcp_idle_timeout_seconds = t.or(
        d,
        "tcp_idle_timeout_seconds",
        &Int(&limits::TCP_IDLE_TIMEOUT),
        Appliance::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS,
    );
    let non_tcp_idle_timeout_seconds = t.or(
        d,
        "non_tcp_idle_timeout_seconds",
        &Int(&limits::NON_TCP_IDLE_TIMEOUT),
        Appliance::DEFAULT_NON_TCP_IDLE_TIMEOUT_SECONDS,
    );
    let mss_clamp = t.or(
        d,
        "mss_clamp",
        &Int(&limits::MSS_CLAMP),
        Appliance::DEFAULT_MSS_CLAMP,
    );
    let mut h = t.table_or_empty(d, "health_check");
    let health_check = ApplianceHealthCheck {
        protocol: h.or(
            d,
            "protocol",
            &Kw::new(),
            ApplianceHealthCheck::DEFAULT_PROTOCOL,
        ),
        port: h.or(
            d,
            "port",
            &Int(&limits::HEALTH_CHECK_PORT),
            ApplianceHealthCheck::DEFAULT_PORT,
        ),
    };
    h.finish(d);
    let mut p = t.table_or_empty(d, "policy");
    let default_action = p.or(
        d,
        "default_action",
        &Kw::new(),
        InspectionPolicy::DEFAULT_ACTION,
    );
    let strict_tcp = p.or(d, "strict_tcp", &Bool, false);
    let rules = p
        .tables(d, "rule")
        .into_iter()
        .map(|r| policy_rule(d, r))
        .collect();
    p.finish(d);
    let flow_log_table = t.table_or_empty(d, "flow_log");
    let flow_log = flow_log(d, flow_log_table);
    t.finish(d);
    Appliance {
        gwlb_sources,
        tcp_idle_timeout_seconds,
        non_tcp_idle_timeout_seconds,
        mss_clamp,
        health_check,
        policy: InspectionPolicy {
            default_action,
            strict_tcp,
            rules,
        },
        flow_log,
    }
}

fn flow_log(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> FlowLog {
    let flow_log = FlowLog {
        enabled: t.or(d, "enabled", &Bool, false),
        path: t.opt(d, "path", &FilePath),
        max_bytes: t.or(
            d,
            "max_bytes",
            &Int(&limits::FLOW_LOG_MAX_BYTES),
            FlowLog::DEFAULT_MAX_BYTES,
        ),
        max_files: t.or(
            d,
            "max_files",
            &Int(&limits::FLOW_LOG_MAX_FILES),
            FlowLog::DEFAULT_MAX_FILES,
        ),
    };
    t.finish(d);
    flow_log
}

fn policy_rule(d: &mut Decoder<'_>, mut t: TableReader<'_>) -> PolicyRule {
    let rule = PolicyRule {
        name: t.req(d, "name", &Str, String::new()),
        action: t.req(d, "action", &Kw::new(), PolicyAction::Deny),
        endpoints: t.list(d, "endpoints", &Str, String::new).ok(),
        sources: t.list(d, "sources", &IP_NETWORK, unspecified_net).ok(),
        destinations: t.list(d, "destinations", &IP_NETWORK, unspecified_net).ok(),
        protocols: t
            .list(d, "protocols", &Protocol, || {
                crate::schema::types::IpProtocol::Other(0)
            })
            .ok(),
        ports: t
            .list(d, "ports", &Ports, || crate::schema::types::PortRange {
                first: 0,
                last: 0,
            })
            .ok(),
        icmp_types: t.list(d, "icmp_types", &Int(&limits::ICMP_TYPE), || 0).ok(),
    };
    t.finish(d);
    rule
}

fn unspecified_net() -> IpNet {
    IpNet::V4(Ipv4Net::default())
}

fn management(d: &mut Decoder<'_>, mut t: TableReader<'_>, file_name: &str) -> Management {
    let defaults = Management::defaults_for(file_name);
    let socket = t.or(d, "socket", &FilePath, defaults.socket);
    let metrics_listen = t.opt(d, "metrics_listen", &SOCKET_ADDR);
    let audit_log = t.or(d, "audit_log", &FilePath, defaults.audit_log);
    let state_file = t.or(d, "state_file", &FilePath, defaults.state_file);
    let tls = match t.table(d, "tls") {
        Got::Ok(mut tls) => {
            let value = Tls {
                listen: tls.req(
                    d,
                    "listen",
                    &SOCKET_ADDR,
                    SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                ),
                certificate: tls.req(d, "certificate", &FilePath, Default::default()),
                private_key: tls.req(d, "private_key", &FilePath, Default::default()),
                min_version: tls.or(d, "min_version", &Kw::new(), Tls::DEFAULT_MIN_VERSION),
            };
            tls.finish(d);
            Some(value)
        }
        Got::Absent | Got::Bad => None,
    };
    let principals = t
        .tables(d, "principal")
        .into_iter()
        .map(|mut p| {
            let principal = Principal {
                name: p.req(d, "name", &Str, String::new()),
                token_sha256: p.req(d, "token_sha256", &Str, String::new()),
                expires: p.opt(d, "expires", &Expiry),
            };
            p.finish(d);
            principal
        })
        .collect();
    let policies = t
        .tables(d, "policy")
        .into_iter()
        .map(|mut p| {
            let policy = AccessPolicy {
                principals: p.req_list(d, "principals", &Str, String::new),
                effect: p.req(d, "effect", &Kw::new(), Effect::Deny),
                actions: p.req_list(d, "actions", &Str, String::new),
                resources: p.req_list(d, "resources", &Str, String::new),
            };
            p.finish(d);
            policy
        })
        .collect();
    t.finish(d);
    Management {
        socket,
        metrics_listen,
        audit_log,
        state_file,
        tls,
        principals,
        policies,
    }
}

/// `management.principal.expires`: an RFC 3339 UTC timestamp, as a string or as a TOML
/// offset date-time (which reads the same without quotes).
struct Expiry;

impl Expiry {
    /// The decoder of the string form.
    const TEXT: Parsed<Timestamp> = Parsed::new(
        "an RFC 3339 UTC timestamp such as \"2027-01-01T00:00:00Z\"",
        true,
    );
}

impl Decode for Expiry {
    type Out = Timestamp;

    fn expected(&self) -> &'static str {
        Self::TEXT.expected()
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<Timestamp, DecodeError> {
        match value {
            Value::Datetime(datetime) => {
                datetime
                    .value()
                    .to_string()
                    .parse()
                    .map_err(|error| DecodeError::BadText {
                        value: shorten(raw),
                        expected: self.expected(),
                        detail: format!(" ({error})"),
                    })
            }
            _ => Self::TEXT.decode(value, raw),
        }
    }
}

/// Explains attributes that do not belong in `[load_balancer.attributes]`.
fn explain_load_balancer_attribute(name: &str) -> Option<&'static str> {
    misplaced(name).or(match name {
        "access_logs.s3.enabled" | "access_logs.s3.bucket" | "access_logs.s3.prefix" => {
            Some("Gateway Load Balancers have no access logs")
        }
        "idle_timeout.timeout_seconds" => Some(
            "an Application Load Balancer attribute; GWLB's idle timeout is the listener attribute tcp.idle_timeout.seconds",
        ),
        _ if name.starts_with("routing.http") || name.starts_with("waf.") => {
            Some("an Application Load Balancer attribute that Gateway Load Balancers do not support")
        }
        _ => None,
    })
    .filter(|_| !LOAD_BALANCER_ATTRIBUTES.contains(&name))
}

/// Explains attributes that do not belong in `[listener.attributes]`.
fn explain_listener_attribute(name: &str) -> Option<&'static str> {
    misplaced(name).filter(|_| !LISTENER_ATTRIBUTES.contains(&name))
}

/// Explains attributes that do not belong in `[target_group.attributes]`.
fn explain_target_group_attribute(name: &str) -> Option<&'static str> {
    let elb_only = matches!(
        name,
        "preserve_client_ip.enabled"
            | "proxy_protocol_v2.enabled"
            | "deregistration_delay.connection_termination.enabled"
            | "load_balancing.algorithm.type"
            | "slow_start.duration_seconds"
            | "stickiness.lb_cookie.duration_seconds"
    ) || name.starts_with("target_health_state.")
        || name.starts_with("stickiness.app_cookie.");
    if elb_only {
        return Some(
            "an Application or Network Load Balancer target group attribute that Gateway Load Balancers do not support",
        );
    }
    if name == "load_balancing.cross_zone.enabled" {
        return Some("for a Gateway Load Balancer, set it in [load_balancer.attributes]");
    }
    misplaced(name).filter(|_| !TARGET_GROUP_ATTRIBUTES.contains(&name))
}

/// Says where a GWLB attribute belongs.
fn misplaced(name: &str) -> Option<&'static str> {
    if LOAD_BALANCER_ATTRIBUTES.contains(&name) {
        Some("a load balancer attribute: set it in [load_balancer.attributes]")
    } else if LISTENER_ATTRIBUTES.contains(&name) {
        Some("a listener attribute: set it in [listener.attributes]")
    } else if TARGET_GROUP_ATTRIBUTES.contains(&name) {
        Some("a target group attribute: set it in [target_group.attributes]")
    } else {
        None
    }
}
