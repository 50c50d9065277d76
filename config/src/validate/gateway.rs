//! Rules for the gateway role: GWLB's names, attributes, health checks, targets and
//! quotas, and the endpoint service with its endpoints.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{Checker, Rule, check_zone};
use crate::limits;
use crate::schema::GatewayConfig;
use crate::schema::dataplane::Dataplane;
use crate::schema::gateway::{
    EndpointService, HealthCheck, IpAddressFamily, IpAddressType, ListenerAttributes, TargetGroup,
    parse_vpce_id,
};

const IDLE_TIMEOUT: &str = r#"listener.attributes."tcp.idle_timeout.seconds""#;
const STICKINESS_ENABLED: &str = r#"target_group.attributes."stickiness.enabled""#;
const STICKINESS_TYPE: &str = r#"target_group.attributes."stickiness.type""#;
const DEREGISTRATION_DELAY: &str =
    r#"target_group.attributes."deregistration_delay.timeout_seconds""#;
const FAILOVER_ON_DEREGISTRATION: &str =
    r#"target_group.attributes."target_failover.on_deregistration""#;
const FAILOVER_ON_UNHEALTHY: &str = r#"target_group.attributes."target_failover.on_unhealthy""#;
const RESET_ON_UNHEALTHY: &str = r#"target_group.attributes."send_tcp_reset.on_unhealthy.enabled""#;
const RESET_ON_DEREGISTRATION: &str =
    r#"target_group.attributes."send_tcp_reset.on_deregistration.enabled""#;

/// The address ranges GWLB accepts as IP targets.
const PRIVATE_RANGES: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

pub(super) fn check(check: &mut Checker, gateway: &GatewayConfig, dataplane: &Dataplane) {
    let lb = &gateway.load_balancer;
    check_elb_name(check, "load_balancer.name", &lb.name);
    check_zone(check, "load_balancer.zone".to_owned(), &lb.zone);

    check_listener(check, &gateway.listener.attributes, &gateway.target_group);
    check_target_group(check, &gateway.target_group);
    check_targets(check, gateway, dataplane);
    check_endpoint_service(check, &gateway.endpoint_service, lb.ip_address_type);
    check_endpoints(check, gateway, dataplane);
}

fn check_elb_name(check: &mut Checker, key: &str, name: &str) {
    let spelled = super::spelled_with(name, 32, |c| c.is_ascii_alphanumeric() || c == '-');
    if !spelled || name.starts_with('-') || name.ends_with('-') || name.starts_with("internal-") {
        let rule = Rule::BadElbName {
            value: name.to_owned(),
        };
        check.push(key, &[], rule);
    }
}

fn check_listener(check: &mut Checker, attributes: &ListenerAttributes, tg: &TargetGroup) {
    let timeout = attributes.tcp_idle_timeout_seconds;
    check.range(IDLE_TIMEOUT, timeout, &limits::TCP_IDLE_TIMEOUT);
    if tg.attributes.stickiness_enabled
        && timeout != ListenerAttributes::DEFAULT_TCP_IDLE_TIMEOUT_SECONDS
    {
        let rule = Rule::IdleTimeoutNeedsFiveTuple { value: timeout };
        check.push(IDLE_TIMEOUT, &[STICKINESS_ENABLED], rule);
    }
}

fn check_target_group(check: &mut Checker, tg: &TargetGroup) {
    check_elb_name(check, "target_group.name", &tg.name);
    if tg.port != limits::GENEVE_PORT {
        check.push(
            "target_group.port",
            &[],
            Rule::NotGenevePort { value: tg.port },
        );
    }

    let a = &tg.attributes;
    check.range(
        DEREGISTRATION_DELAY,
        a.deregistration_delay_timeout_seconds,
        &limits::DEREGISTRATION_DELAY,
    );
    match (a.stickiness_enabled, a.stickiness_type) {
        (true, None) => check.push(
            STICKINESS_TYPE,
            &[STICKINESS_ENABLED],
            Rule::StickinessTypeRequired,
        ),
        (false, Some(kind)) => {
            let rule = Rule::StickinessTypeWithoutStickiness {
                value: kind.to_string(),
            };
            check.push(STICKINESS_TYPE, &[STICKINESS_ENABLED], rule);
        }
        _ => {}
    }
    if a.target_failover_on_unhealthy != a.target_failover_on_deregistration {
        let rule = Rule::FailoverMismatch {
            on_unhealthy: a.target_failover_on_unhealthy.to_string(),
            on_deregistration: a.target_failover_on_deregistration.to_string(),
        };
        check.push(FAILOVER_ON_UNHEALTHY, &[FAILOVER_ON_DEREGISTRATION], rule);
    }
    if a.stickiness_enabled {
        if a.send_tcp_reset_on_unhealthy_enabled {
            check.push(
                RESET_ON_UNHEALTHY,
                &[STICKINESS_ENABLED],
                Rule::ResetNeedsFiveTuple,
            );
        }
        if a.send_tcp_reset_on_deregistration_enabled {
            check.push(
                RESET_ON_DEREGISTRATION,
                &[STICKINESS_ENABLED],
                Rule::ResetNeedsFiveTuple,
            );
        }
    }
    check_health_check(check, &tg.health_check);
}

fn check_health_check(check: &mut Checker, hc: &HealthCheck) {
    const PROTOCOL: &str = "target_group.health_check.protocol";
    const PATH: &str = "target_group.health_check.path";
    const MATCHER: &str = "target_group.health_check.matcher";
    const INTERVAL: &str = "target_group.health_check.interval_seconds";
    const TIMEOUT: &str = "target_group.health_check.timeout_seconds";
    check.range(
        "target_group.health_check.port",
        hc.port,
        &limits::HEALTH_CHECK_PORT,
    );
    check.range(
        INTERVAL,
        hc.interval_seconds,
        &limits::HEALTH_CHECK_INTERVAL,
    );
    check.range(TIMEOUT, hc.timeout_seconds, &limits::HEALTH_CHECK_TIMEOUT);
    if hc.interval_seconds < hc.timeout_seconds {
        let rule = Rule::IntervalBelowTimeout {
            interval: hc.interval_seconds,
            timeout: hc.timeout_seconds,
        };
        check.push(INTERVAL, &[TIMEOUT], rule);
    }
    check.range(
        "target_group.health_check.healthy_threshold_count",
        hc.healthy_threshold_count,
        &limits::HEALTH_CHECK_THRESHOLD,
    );
    check.range(
        "target_group.health_check.unhealthy_threshold_count",
        hc.unhealthy_threshold_count,
        &limits::HEALTH_CHECK_THRESHOLD,
    );
    if let Some(path) = &hc.path {
        if !hc.protocol.is_http() {
            check.push(PATH, &[PROTOCOL], Rule::HttpOnly { key: "path" });
        } else if !path.starts_with('/') || path.chars().count() > limits::HEALTH_CHECK_PATH_LEN {
            let rule = Rule::BadHealthCheckPath {
                value: crate::diagnostic::shorten(path),
            };
            check.push(PATH, &[], rule);
        }
    }
    if let Some(matcher) = &hc.matcher {
        let codes = &limits::HEALTH_CHECK_CODES;
        if !hc.protocol.is_http() {
            check.push(MATCHER, &[PROTOCOL], Rule::HttpOnly { key: "matcher" });
        } else if matcher.ranges.is_empty()
            || !matcher
                .ranges
                .iter()
                .all(|&(first, last)| codes.contains(first) && codes.contains(last))
        {
            let rule = Rule::MatcherOutOfRange {
                value: matcher.to_string(),
            };
            check.push(MATCHER, &[], rule);
        }
    }
}

fn check_targets(check: &mut Checker, gateway: &GatewayConfig, dataplane: &Dataplane) {
    let targets = &gateway.targets;
    let has_gateway = dataplane.ports.iter().any(|p| p.gateway.is_some());
    for (i, target) in targets.iter().enumerate() {
        let ip_key = format!("target[{i}].ip");
        let ip = target.ip;
        if !PRIVATE_RANGES
            .iter()
            .any(|&(network, len)| Ipv4Net::new(network, len).is_ok_and(|net| net.contains(&ip)))
        {
            let rule = Rule::PublicTarget { ip: ip.to_string() };
            check.push(ip_key, &[], rule);
        } else if let Some(j) = dataplane.ports.iter().position(|p| p.address.addr() == ip) {
            let port = format!("dataplane.port[{j}].address");
            let rule = Rule::TargetIsGateway {
                ip: ip.to_string(),
                port: port.clone(),
            };
            check.push(ip_key, &[&port], rule);
        } else if !has_gateway && !dataplane.ports.iter().any(|p| p.address.contains(&ip)) {
            let rule = Rule::Unreachable { ip: ip.to_string() };
            check.push(ip_key, &["dataplane.port"], rule);
        }
        check_zone(check, format!("target[{i}].zone"), &target.zone);
    }
    check.unique(
        targets
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("target[{i}].ip"), t.ip)),
        |ip| format!("target {ip}"),
    );

    // GWLB quotas, not adjustable: 300 targets per zone and 300 per load balancer.
    let mut per_zone: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, target) in targets.iter().enumerate() {
        per_zone.entry(target.zone.as_str()).or_default().push(i);
    }
    for (zone, indices) in &per_zone {
        if indices.len() > limits::MAX_TARGETS_PER_ZONE {
            let rule = Rule::TooManyTargetsInZone {
                zone: (*zone).to_owned(),
                count: indices.len(),
                max: limits::MAX_TARGETS_PER_ZONE,
            };
            let first_over = indices[limits::MAX_TARGETS_PER_ZONE];
            check.push(format!("target[{first_over}].zone"), &["target"], rule);
        }
    }
    if targets.len() > limits::MAX_TARGETS {
        let rule = Rule::TooManyTargets {
            count: targets.len(),
            max: limits::MAX_TARGETS,
        };
        check.push(
            format!("target[{}]", limits::MAX_TARGETS),
            &["target"],
            rule,
        );
    }

    // GWLB needs a registered target in each enabled zone. This node serves one zone, so
    // that zone needs a target unless cross-zone balancing lets it use the others. A
    // gateway with no targets at all is accepted: targets may be registered later through
    // the management API, and traffic is dropped (and counted) until then.
    // Zones with invalid names are reported already, and would only add noise here.
    let lb = &gateway.load_balancer;
    let zones_valid = super::is_zone(&lb.zone) && targets.iter().all(|t| super::is_zone(&t.zone));
    if zones_valid
        && !targets.is_empty()
        && !lb.attributes.cross_zone_enabled
        && !per_zone.contains_key(lb.zone.as_str())
    {
        let rule = Rule::ZoneWithoutTarget {
            zone: lb.zone.clone(),
        };
        let cross_zone = r#"load_balancer.attributes."load_balancing.cross_zone.enabled""#;
        check.push("load_balancer.zone", &["target", cross_zone], rule);
    }
}

fn check_endpoint_service(check: &mut Checker, service: &EndpointService, ip_type: IpAddressType) {
    const TYPES: &str = "endpoint_service.supported_ip_address_types";
    for (i, principal) in service.allowed_principals.iter().enumerate() {
        check.non_empty(
            format!("endpoint_service.allowed_principals[{i}]"),
            principal,
        );
    }
    check.unique(
        service.allowed_principals.iter().enumerate().map(|(i, p)| {
            (
                format!("endpoint_service.allowed_principals[{i}]"),
                p.clone(),
            )
        }),
        |p| format!("principal \"{p}\""),
    );
    if service.supported_ip_address_types.is_empty() {
        let rule = Rule::Empty {
            hint: ": list \"ipv4\", \"ipv6\" or both",
        };
        check.push(TYPES, &[], rule);
    }
    let types = || service.supported_ip_address_types.iter().enumerate();
    check.unique(types().map(|(i, t)| (format!("{TYPES}[{i}]"), *t)), |t| {
        format!("\"{t}\"")
    });
    if ip_type != IpAddressType::Dualstack
        && let Some((i, _)) = types().find(|&(_, &t)| t == IpAddressFamily::Ipv6)
    {
        check.push(
            format!("{TYPES}[{i}]"),
            &["load_balancer.ip_address_type"],
            Rule::Ipv6NeedsDualstack,
        );
    }
}

fn check_endpoints(check: &mut Checker, gateway: &GatewayConfig, dataplane: &Dataplane) {
    let allowed = &gateway.endpoint_service.allowed_principals;
    let known_ports = || {
        let names: Vec<&str> = dataplane.ports.iter().map(|p| p.name.as_str()).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    for (i, endpoint) in gateway.endpoints.iter().enumerate() {
        let key = |field: &str| format!("endpoint[{i}].{field}");
        if parse_vpce_id(&endpoint.id).is_none() {
            let rule = Rule::BadEndpointId {
                value: endpoint.id.clone(),
            };
            check.push(key("id"), &[], rule);
        }
        match dataplane.ports.iter().position(|p| p.name == endpoint.port) {
            Some(j) => {
                let port_key = format!("dataplane.port[{j}]");
                let address = dataplane.ports[j].address;
                super::dataplane::check_on_link(
                    check,
                    key("next_hop"),
                    endpoint.next_hop,
                    &port_key,
                    address,
                );
            }
            None => {
                let rule = Rule::UnknownPort {
                    name: endpoint.port.clone(),
                    known: known_ports(),
                };
                check.push(key("port"), &["dataplane.port"], rule);
            }
        }
        if let Some(vlan) = endpoint.vlan {
            check.range(key("vlan"), vlan, &limits::VLAN);
        }
        check_zone(check, key("zone"), &endpoint.zone);
        if let Some(principal) = &endpoint.principal {
            check.non_empty(key("principal"), principal);
            let listed = allowed.iter().any(|a| a == principal || a == "*");
            if !allowed.is_empty() && !principal.is_empty() && !listed {
                let rule = Rule::PrincipalNotAllowed {
                    principal: principal.clone(),
                };
                check.push(
                    key("principal"),
                    &["endpoint_service.allowed_principals"],
                    rule,
                );
            }
        }
    }
    let endpoints = || gateway.endpoints.iter().enumerate();
    check.unique(
        endpoints().map(|(i, e)| (format!("endpoint[{i}].id"), e.id.clone())),
        |id| format!("endpoint id \"{id}\""),
    );
    // The (port, vlan) pair identifies an attachment: two endpoints cannot share one.
    let mut first: BTreeMap<(&str, Option<u16>), usize> = BTreeMap::new();
    for (i, endpoint) in endpoints() {
        let pair = (endpoint.port.as_str(), endpoint.vlan);
        if let Some(&j) = first.get(&pair) {
            let vlan = endpoint
                .vlan
                .map_or("untagged".to_owned(), |v| format!("vlan {v}"));
            let first_key = format!("endpoint[{j}]");
            let rule = Rule::DuplicateAttachment {
                port: endpoint.port.clone(),
                vlan,
                first: first_key.clone(),
            };
            let key = match endpoint.vlan {
                Some(_) => format!("endpoint[{i}].vlan"),
                None => format!("endpoint[{i}].port"),
            };
            check.push(key, &[&first_key], rule);
        } else {
            first.insert(pair, i);
        }
    }
}
