//! The shipped example configurations must stay valid, say what they claim, and survive a
//! round trip through serialization.

use std::path::PathBuf;

use sluice_config::schema::gateway::EndpointState;
use sluice_config::{Config, RoleKind, load, parse};

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn load_example(name: &str) -> Config {
    match load(&example(name)) {
        Ok(config) => config,
        Err(diagnostics) => panic!("{name} does not validate:\n{diagnostics}"),
    }
}

#[test]
fn gateway_example_validates_and_summarises() {
    let config = load_example("gateway.toml");
    assert_eq!(config.kind(), RoleKind::Gateway);
    assert_eq!(
        config.summary(),
        "gateway \"gwlb-1\" in zone use1-az1: 2 ports, 2 workers, 4 targets in 2 zones, \
         3 endpoints (2 available), flow table 1048576"
    );
    let gateway = config.gateway().unwrap();
    assert_eq!(gateway.endpoints[2].state, EndpointState::PendingAcceptance);
    assert_eq!(gateway.endpoints[1].vlan, Some(100));
    assert_eq!(
        gateway.endpoints[0].numeric_id(),
        Some(0xa1b2_c3d4_e5f6_0718)
    );
    // The default state file sits beside the configuration.
    assert_eq!(config.management.state_file, example("gateway.state"));
}

#[test]
fn appliance_example_validates_and_summarises() {
    let config = load_example("appliance.toml");
    assert_eq!(config.kind(), RoleKind::Appliance);
    assert_eq!(
        config.summary(),
        "appliance: 1 port, 1 worker, GWLB sources 10.0.1.0/24, policy: 3 rules, default allow"
    );
}

#[test]
fn minimal_gateway_example_validates() {
    let config = load_example("minimal-gateway.toml");
    assert_eq!(
        config.summary(),
        "gateway \"gwlb-1\" in zone use1-az1: 1 port, 1 worker, 0 targets in 0 zones, \
         0 endpoints (0 available), flow table 1048576"
    );
}

/// The effective configuration, serialized back to TOML, parses to the same value: what
/// `check-config --output json` shows is exactly what runs.
#[test]
fn examples_round_trip_through_serialization() {
    for name in ["gateway.toml", "appliance.toml", "minimal-gateway.toml"] {
        let config = load_example(name);
        let text = toml::to_string(&config).unwrap();
        let again = match parse(&text, "round-trip.toml") {
            Ok(again) => again,
            Err(diagnostics) => panic!("{name} round trip fails:\n{diagnostics}\n{text}"),
        };
        assert_eq!(again, config, "{name} round trip differs:\n{text}");
    }
}
