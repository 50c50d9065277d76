//! Rules that fixtures cannot show well: GWLB's target quotas (hundreds of targets), the
//! zone-coverage decision, alternative TOML spellings, and validation of configurations
//! changed in code (as the management API will).

#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test at the line that matters"
)]

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use sluice_config::schema::gateway::{Target, TargetFailover};
use sluice_config::{Config, parse};

const GATEWAY: &str = r#"
role = "gateway"

[dataplane]
worker_cores = [1]

[[dataplane.port]]
name = "uplink"
device = "net_af_packet0,iface=veth-gw"
address = "10.0.0.1/16"

[load_balancer]
name = "gwlb-1"
zone = "use1-az1"

[target_group]
name = "appliances"
"#;

/// `GATEWAY` plus `counts[i]` targets in zone `use1-az{i+1}`.
fn with_targets(counts: &[usize]) -> String {
    let mut source = GATEWAY.to_owned();
    let mut n = 0u32;
    for (zone, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            n += 1;
            let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 1, 0)) + n);
            write!(
                source,
                "\n[[target]]\nip = \"{ip}\"\nzone = \"use1-az{}\"\n",
                zone + 1
            )
            .unwrap();
        }
    }
    source
}

fn valid(source: &str) -> Config {
    parse(source, "rules.toml").unwrap_or_else(|d| panic!("{d}"))
}

fn messages(source: &str) -> Vec<String> {
    match parse(source, "rules.toml") {
        Ok(_) => panic!("accepted"),
        Err(d) => d
            .iter()
            .map(|d| format!("{}: {}", d.key, d.message))
            .collect(),
    }
}

#[test]
fn three_hundred_targets_per_zone_and_in_total_are_allowed() {
    let config = valid(&with_targets(&[300]));
    assert_eq!(config.gateway().unwrap().targets.len(), 300);
}

#[test]
fn a_zone_with_301_targets_is_refused() {
    let found = messages(&with_targets(&[301]));
    assert_eq!(
        found,
        vec![
            // Sorted by position: the [[target]] header comes before its zone.
            "target[300]: 301 targets: GWLB allows at most 300 targets per load balancer",
            "target[300].zone: zone \"use1-az1\" has 301 targets: GWLB allows at most 300 targets per zone",
        ]
    );
}

#[test]
fn more_than_300_targets_in_total_are_refused() {
    let found = messages(&with_targets(&[200, 101]));
    assert_eq!(
        found,
        vec!["target[300]: 301 targets: GWLB allows at most 300 targets per load balancer"]
    );
}

#[test]
fn the_load_balancer_zone_needs_a_target_unless_cross_zone_is_on() {
    // No targets at all is fine: they may be registered later through the API.
    valid(GATEWAY);
    // Targets only in another zone are not.
    let other_zone = with_targets(&[0, 2]);
    assert_eq!(
        messages(&other_zone),
        vec![
            "load_balancer.zone: zone \"use1-az1\" has no [[target]]: GWLB needs a registered \
             target in each enabled zone (or set load_balancing.cross_zone.enabled = true)"
        ]
    );
    // With cross-zone load balancing, targets anywhere serve this zone.
    let cross_zone = other_zone.replace(
        "zone = \"use1-az1\"\n\n[target_group]",
        "zone = \"use1-az1\"\n\n[load_balancer.attributes]\n\
         \"load_balancing.cross_zone.enabled\" = true\n\n[target_group]",
    );
    assert!(cross_zone.contains("cross_zone.enabled\" = true"));
    valid(&cross_zone);
}

#[test]
fn attribute_names_may_be_quoted_or_dotted() {
    let quoted = format!(
        "{GATEWAY}\n[target_group.attributes]\n\"stickiness.enabled\" = true\n\
         \"stickiness.type\" = \"source_ip_dest_ip\"\n\
         \"target_failover.on_deregistration\" = \"rebalance\"\n\
         \"target_failover.on_unhealthy\" = \"rebalance\"\n"
    );
    let dotted = format!(
        "{GATEWAY}\n[target_group.attributes]\nstickiness.enabled = true\n\
         stickiness.type = \"source_ip_dest_ip\"\n\
         target_failover = {{ on_deregistration = \"rebalance\", on_unhealthy = \"rebalance\" }}\n"
    );
    let quoted = valid(&quoted);
    assert_eq!(quoted, valid(&dotted));
    let attributes = &quoted.gateway().unwrap().target_group.attributes;
    assert_eq!(
        attributes.target_failover_on_unhealthy,
        TargetFailover::Rebalance
    );
}

#[test]
fn sections_may_be_inline_tables() {
    let inline = r#"
role = "gateway"
dataplane = { worker_cores = [1], port = [{ name = "uplink", device = "net_tap0", address = "10.0.0.1/16" }] }
load_balancer = { name = "gwlb-1", zone = "use1-az1" }
target_group = { name = "appliances", health_check = { interval_seconds = 30 } }
target = [{ ip = "10.0.1.1", zone = "use1-az1" }]
"#;
    let config = valid(inline);
    let gateway = config.gateway().unwrap();
    assert_eq!(gateway.target_group.health_check.interval_seconds, 30);
    assert_eq!(gateway.targets[0].ip, Ipv4Addr::new(10, 0, 1, 1));
}

#[test]
fn the_default_idle_timeout_is_allowed_with_any_stickiness() {
    let source = format!(
        "{GATEWAY}\n[target_group.attributes]\n\"stickiness.enabled\" = true\n\
         \"stickiness.type\" = \"source_ip_dest_ip_proto\"\n\
         [listener.attributes]\n\"tcp.idle_timeout.seconds\" = 350\n"
    );
    valid(&source);
}

#[test]
fn a_wildcard_allows_every_endpoint_principal() {
    let source = format!(
        "{GATEWAY}\n[endpoint_service]\nallowed_principals = [\"*\"]\n\n[[endpoint]]\n\
         id = \"vpce-0123456789abcdef0\"\nport = \"uplink\"\nnext_hop = \"10.0.0.254\"\n\
         zone = \"use1-az1\"\nprincipal = \"arn:aws:iam::999999999999:root\"\n"
    );
    valid(&source);
}

#[test]
fn two_untagged_endpoints_on_one_port_collide() {
    let endpoint = |id: &str| {
        format!(
            "\n[[endpoint]]\nid = \"{id}\"\nport = \"uplink\"\nnext_hop = \"10.0.0.254\"\n\
             zone = \"use1-az1\"\n"
        )
    };
    let source = format!(
        "{GATEWAY}{}{}",
        endpoint("vpce-0123456789abcdef0"),
        endpoint("vpce-0123456789abcdef1")
    );
    assert_eq!(
        messages(&source),
        vec![
            "endpoint[1].port: attachment (port \"uplink\", untagged) is already used by endpoint[0]"
        ]
    );
}

#[test]
fn configurations_changed_in_code_are_validated_too() {
    let mut config = valid(&with_targets(&[1]));
    assert_eq!(config.validate(), Ok(()));
    let sluice_config::Role::Gateway(gateway) = &mut config.role else {
        panic!("not a gateway");
    };
    gateway.targets.push(Target {
        ip: Ipv4Addr::new(203, 0, 113, 7),
        zone: "use1-az1".to_owned(),
    });
    let violations = config.validate().unwrap_err();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].key, "target[1].ip");
    assert!(
        violations[0]
            .message
            .contains("203.0.113.7 is not a private address")
    );
}

#[test]
fn the_mbuf_cache_must_fit_the_pool() {
    // Within the allowed ranges DPDK's rule always holds, so break the pool size in code.
    let mut config = valid(GATEWAY);
    config.dataplane.mbufs = 600;
    config.dataplane.mbuf_cache = 512;
    let messages: Vec<String> = config
        .validate()
        .unwrap_err()
        .into_iter()
        .map(|v| format!("{}: {}", v.key, v.message))
        .collect();
    assert_eq!(
        messages,
        vec![
            "dataplane.mbufs: 600 is out of range: allowed 1023–16777215 mbufs",
            "dataplane.mbuf_cache: 512 is too large for mbufs = 600: DPDK requires mbuf_cache \
             <= mbufs / 1.5 (400)",
        ]
    );
}
