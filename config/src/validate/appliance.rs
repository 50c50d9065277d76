//! Rules for the appliance role: GWLB sources, timeouts, the health-check responder, the
//! inspection policy rules and the flow log.

use std::path::Path;

use ipnet::IpNet;

use super::{Checker, Rule};
use crate::limits;
use crate::schema::appliance::{Appliance, FlowLog, PolicyRule};
use crate::schema::gateway::parse_vpce_id;

pub(super) fn check(check: &mut Checker, appliance: &Appliance) {
    const SOURCES: &str = "appliance.gwlb_sources";
    if appliance.gwlb_sources.is_empty() {
        let rule = Rule::Empty {
            hint: ": list the GWLB subnets GENEVE may come from",
        };
        check.push(SOURCES, &[], rule);
    }
    for (i, source) in appliance.gwlb_sources.iter().enumerate() {
        check_host_bits(check, format!("{SOURCES}[{i}]"), IpNet::V4(*source));
    }
    check.unique(
        appliance
            .gwlb_sources
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("{SOURCES}[{i}]"), *s)),
        |net| format!("source {net}"),
    );
    check.range(
        "appliance.tcp_idle_timeout_seconds",
        appliance.tcp_idle_timeout_seconds,
        &limits::TCP_IDLE_TIMEOUT,
    );
    check.range(
        "appliance.non_tcp_idle_timeout_seconds",
        appliance.non_tcp_idle_timeout_seconds,
        &limits::NON_TCP_IDLE_TIMEOUT,
    );
    let mss = appliance.mss_clamp;
    if mss != 0 && !limits::MSS_CLAMP.contains(mss) {
        let rule = Rule::MssClamp {
            value: mss,
            limit: limits::MSS_CLAMP.to_string(),
        };
        check.push("appliance.mss_clamp", &[], rule);
    }
    check.range(
        "appliance.health_check.port",
        appliance.health_check.port,
        &limits::HEALTH_CHECK_PORT,
    );

    let rules = &appliance.policy.rules;
    for (i, rule) in rules.iter().enumerate() {
        check_rule(check, &format!("appliance.policy.rule[{i}]"), rule);
    }
    check.unique(
        rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("appliance.policy.rule[{i}].name"), r.name.clone())),
        |name| format!("rule name \"{name}\""),
    );
    check_flow_log(check, &appliance.flow_log);
}

fn check_flow_log(check: &mut Checker, flow_log: &FlowLog) {
    const KEY: &str = "appliance.flow_log";
    match &flow_log.path {
        Some(path) => check_absolute(check, &format!("{KEY}.path"), path),
        None if flow_log.enabled => check.push(
            format!("{KEY}.path"),
            &["appliance.flow_log.enabled"],
            Rule::FlowLogPathRequired,
        ),
        None => {}
    }
    check.range(
        format!("{KEY}.max_bytes"),
        flow_log.max_bytes,
        &limits::FLOW_LOG_MAX_BYTES,
    );
    check.range(
        format!("{KEY}.max_files"),
        flow_log.max_files,
        &limits::FLOW_LOG_MAX_FILES,
    );
}

/// The same rule as for `[management]`'s files: a relative path would depend on the
/// directory sluice happens to be started from.
fn check_absolute(check: &mut Checker, key: &str, path: &Path) {
    if !path.is_absolute() {
        let rule = Rule::NotAbsolute {
            value: path.display().to_string(),
        };
        check.push(key, &[], rule);
    }
}

fn check_rule(check: &mut Checker, key: &str, rule: &PolicyRule) {
    let field = |name: &str| format!("{key}.{name}");
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !super::spelled_with(&rule.name, 64, is_name_char) {
        let bad = Rule::BadName {
            value: rule.name.clone(),
            what: "rule name",
            rule: "use 1–64 characters of A-Z, a-z, 0-9, _, . and -",
        };
        check.push(field("name"), &[], bad);
    }
    let empty = Rule::Empty {
        hint: " (omit the key to match anything)",
    };
    let lists = [
        ("endpoints", rule.endpoints.as_ref().map(Vec::len)),
        ("sources", rule.sources.as_ref().map(Vec::len)),
        ("destinations", rule.destinations.as_ref().map(Vec::len)),
        ("protocols", rule.protocols.as_ref().map(Vec::len)),
        ("ports", rule.ports.as_ref().map(Vec::len)),
        ("icmp_types", rule.icmp_types.as_ref().map(Vec::len)),
    ];
    for (name, len) in lists {
        if len == Some(0) {
            check.push(field(name), &[], empty.clone());
        }
    }
    for (i, id) in rule.endpoints.iter().flatten().enumerate() {
        if parse_vpce_id(id).is_none() {
            let bad = Rule::BadEndpointId { value: id.clone() };
            check.push(format!("{key}.endpoints[{i}]"), &[], bad);
        }
    }
    for (name, nets) in [
        ("sources", &rule.sources),
        ("destinations", &rule.destinations),
    ] {
        for (i, net) in nets.iter().flatten().enumerate() {
            check_host_bits(check, format!("{key}.{name}[{i}]"), *net);
        }
    }
    let protocols = field("protocols");
    let protocol_list = rule.protocols.as_deref().unwrap_or_default();
    if rule.ports.is_some()
        && (protocol_list.is_empty() || !protocol_list.iter().all(|p| p.has_ports()))
    {
        check.push(field("ports"), &[&protocols], Rule::PortsNeedTcpOrUdp);
    }
    if rule.icmp_types.is_some()
        && (protocol_list.is_empty() || !protocol_list.iter().all(|p| p.is_icmp()))
    {
        check.push(field("icmp_types"), &[&protocols], Rule::IcmpTypesNeedIcmp);
    }
}

fn check_host_bits(check: &mut Checker, key: String, net: IpNet) {
    if net.trunc() != net {
        let rule = Rule::HostBits {
            net: net.to_string(),
            network: net.trunc().to_string(),
        };
        check.push(key, &[], rule);
    }
}
