//! A configuration with only the required keys gets exactly the documented defaults.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use sluice_config::schema::appliance::{ApplianceHealthCheckProtocol, PolicyAction};
use sluice_config::schema::dataplane::PollMode;
use sluice_config::schema::gateway::{
    EndpointState, HealthCheckProtocol, IpAddressFamily, IpAddressType, Stickiness, TargetFailover,
    TargetGroupProtocol, TargetType,
};
use sluice_config::schema::management::TlsVersion;
use sluice_config::schema::types::StatusMatcher;
use sluice_config::{Config, parse};

const MINIMAL_GATEWAY: &str = r#"
role = "gateway"

[dataplane]
worker_cores = [1]

[[dataplane.port]]
name = "uplink"
device = "net_af_packet0,iface=veth-gw"
address = "10.0.0.1/24"

[load_balancer]
name = "gwlb-1"
zone = "use1-az1"

[target_group]
name = "appliances"
"#;

const MINIMAL_APPLIANCE: &str = r#"
role = "appliance"

[dataplane]
worker_cores = [1]

[[dataplane.port]]
name = "geneve"
device = "0000:00:05.0"
address = "10.0.1.10/24"

[appliance]
gwlb_sources = ["10.0.1.0/24"]
"#;

fn valid(source: &str, file_name: &str) -> Config {
    parse(source, file_name).unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn dataplane_and_management_defaults() {
    let config = valid(MINIMAL_GATEWAY, "/etc/sluice/gw.toml");
    let dataplane = &config.dataplane;
    assert!(dataplane.eal_args.is_empty());
    assert_eq!(dataplane.control_core, 0);
    assert_eq!(dataplane.poll_mode, PollMode::Busy);
    assert_eq!(dataplane.burst_size, 32);
    assert_eq!(dataplane.rx_descriptors, 1024);
    assert_eq!(dataplane.tx_descriptors, 1024);
    assert_eq!(dataplane.mbufs, 16383);
    assert_eq!(dataplane.mbuf_cache, 256);
    assert_eq!(dataplane.flow_table.capacity, 1_048_576);
    let port = &dataplane.ports[0];
    assert_eq!(port.mtu, 1500);
    assert_eq!(port.mac, None);
    assert_eq!(port.gateway, None);
    assert!(port.neighbors.is_empty());
    assert_eq!(port.device_name(), "net_af_packet0");

    let management = &config.management;
    assert_eq!(management.socket, PathBuf::from("/run/sluice/sluice.sock"));
    assert_eq!(management.metrics_listen, None);
    assert_eq!(
        management.audit_log,
        PathBuf::from("/var/log/sluice/audit.jsonl")
    );
    assert_eq!(management.state_file, PathBuf::from("/etc/sluice/gw.state"));
    assert_eq!(management.tls, None);
    assert!(management.principals.is_empty() && management.policies.is_empty());
}

#[test]
fn gateway_defaults() {
    let config = valid(MINIMAL_GATEWAY, "/etc/sluice/gw.toml");
    let gateway = config.gateway().unwrap();
    let lb = &gateway.load_balancer;
    assert_eq!(lb.ip_address_type, IpAddressType::Ipv4);
    assert!(!lb.attributes.cross_zone_enabled);
    assert!(!lb.attributes.deletion_protection_enabled);

    let listener = &gateway.listener.attributes;
    assert_eq!(listener.tcp_idle_timeout_seconds, 350);
    assert!(!listener.send_tcp_reset_on_idle_timeout_enabled);

    let tg = &gateway.target_group;
    assert_eq!(tg.protocol, TargetGroupProtocol::Geneve);
    assert_eq!(tg.port, 6081);
    assert_eq!(tg.target_type, TargetType::Ip);
    let a = &tg.attributes;
    assert_eq!(a.deregistration_delay_timeout_seconds, 300);
    assert!(!a.stickiness_enabled);
    assert_eq!(a.stickiness_type, None);
    assert_eq!(a.stickiness(), Stickiness::FiveTuple);
    assert_eq!(
        a.target_failover_on_deregistration,
        TargetFailover::NoRebalance
    );
    assert_eq!(a.target_failover_on_unhealthy, TargetFailover::NoRebalance);
    assert!(!a.send_tcp_reset_on_unhealthy_enabled);
    assert!(!a.send_tcp_reset_on_deregistration_enabled);

    let hc = &tg.health_check;
    assert_eq!(hc.protocol, HealthCheckProtocol::Tcp);
    assert_eq!(hc.port, 80);
    assert_eq!(hc.path, None);
    assert_eq!(hc.matcher, None);
    assert_eq!(hc.interval_seconds, 10);
    assert_eq!(hc.timeout_seconds, 5);
    assert_eq!(hc.healthy_threshold_count, 5);
    assert_eq!(hc.unhealthy_threshold_count, 2);

    assert!(gateway.targets.is_empty());
    let service = &gateway.endpoint_service;
    assert!(service.acceptance_required);
    assert!(service.allowed_principals.is_empty());
    assert_eq!(
        service.supported_ip_address_types,
        vec![IpAddressFamily::Ipv4]
    );
    assert!(gateway.endpoints.is_empty());
}

#[test]
fn http_health_checks_default_their_path_and_matcher() {
    let source = format!("{MINIMAL_GATEWAY}\n[target_group.health_check]\nprotocol = \"HTTPS\"\n");
    let config = valid(&source, "gw.toml");
    let hc = &config.gateway().unwrap().target_group.health_check;
    assert_eq!(hc.path.as_deref(), Some("/"));
    assert_eq!(hc.matcher, Some(StatusMatcher::default()));
    assert_eq!(hc.matcher.as_ref().unwrap().to_string(), "200-399");
}

#[test]
fn endpoint_state_defaults_follow_acceptance() {
    let endpoint = r#"
[[endpoint]]
id = "vpce-0123456789abcdef0"
port = "uplink"
next_hop = "10.0.0.254"
zone = "use1-az1"
"#;
    let pending = valid(&format!("{MINIMAL_GATEWAY}{endpoint}"), "gw.toml");
    let e = &pending.gateway().unwrap().endpoints[0];
    assert_eq!(e.state, EndpointState::PendingAcceptance);
    assert_eq!(
        (e.vlan, e.principal.as_deref(), e.attachment_id),
        (None, None, 0)
    );
    assert_eq!(e.next_hop, Ipv4Addr::new(10, 0, 0, 254));

    let source =
        format!("{MINIMAL_GATEWAY}{endpoint}\n[endpoint_service]\nacceptance_required = false\n");
    let available = valid(&source, "gw.toml");
    assert_eq!(
        available.gateway().unwrap().endpoints[0].state,
        EndpointState::Available
    );
}

#[test]
fn appliance_defaults() {
    let config = valid(MINIMAL_APPLIANCE, "/etc/sluice/app.toml");
    let appliance = config.appliance().unwrap();
    assert_eq!(appliance.tcp_idle_timeout_seconds, 350);
    assert_eq!(appliance.non_tcp_idle_timeout_seconds, 120);
    assert_eq!(appliance.mss_clamp, 0);
    assert_eq!(
        appliance.health_check.protocol,
        ApplianceHealthCheckProtocol::Http
    );
    assert_eq!(appliance.health_check.port, 8080);
    assert_eq!(appliance.policy.default_action, PolicyAction::Allow);
    assert!(!appliance.policy.strict_tcp);
    assert!(appliance.policy.rules.is_empty());
    let flow_log = &appliance.flow_log;
    assert!(!flow_log.enabled);
    assert_eq!(flow_log.path, None);
    assert_eq!(flow_log.max_bytes, 64 * 1024 * 1024);
    assert_eq!(flow_log.max_files, 5);
    assert_eq!(
        config.summary(),
        "appliance: 1 port, 1 worker, GWLB sources 10.0.1.0/24, policy: 0 rules, default allow"
    );
}

#[test]
fn an_enabled_flow_log_needs_only_a_path_and_shows_in_the_summary() {
    let source = format!(
        "{MINIMAL_APPLIANCE}\n[appliance.flow_log]\nenabled = true\n\
         path = \"/var/log/sluice/flows.jsonl\"\n"
    );
    let config = valid(&source, "app.toml");
    let flow_log = &config.appliance().unwrap().flow_log;
    assert!(flow_log.enabled);
    assert_eq!(
        flow_log.path.as_deref(),
        Some(std::path::Path::new("/var/log/sluice/flows.jsonl"))
    );
    assert_eq!((flow_log.max_bytes, flow_log.max_files), (64 << 20, 5));
    assert_eq!(
        config.summary(),
        "appliance: 1 port, 1 worker, GWLB sources 10.0.1.0/24, policy: 0 rules, default allow, \
         flow log /var/log/sluice/flows.jsonl"
    );
}

#[test]
fn tls_defaults_to_version_1_2() {
    let source = format!(
        "{MINIMAL_GATEWAY}\n[management.tls]\nlisten = \"0.0.0.0:8443\"\n\
         certificate = \"/etc/sluice/cert.pem\"\nprivate_key = \"/etc/sluice/key.pem\"\n"
    );
    let config = valid(&source, "gw.toml");
    assert_eq!(
        config.management.tls.unwrap().min_version,
        TlsVersion::Tls12
    );
}
