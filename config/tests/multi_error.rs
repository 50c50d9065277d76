//! A file with many independent mistakes gets every one reported at once, each at its own
//! line, and a mistake is reported once rather than again through the rules that depend on
//! the bad value.

use sluice_config::{Diagnostics, parse};

/// Each mistake is marked with its number; see `reports_every_independent_error`.
const MANY_ERRORS: &str = r#"role = "gateway"

[dataplane]
worker_cores = [1, 2]
burst = 64

[[dataplane.port]]
name = "uplink"
device = "net_af_packet0,iface=veth-gw"
address = "10.0.0.1/24"

[load_balancer]
name = "gwlb-1"
zone = "use1-az1"

[target_group]
name = "appliances"

[target_group.attributes]
"target_failover.on_deregistration" = "rebalance"

[target_group.health_check]
interval_seconds = 5
timeout_seconds = 6
colour = "red"

[[target]]
ip = "10.0.0.10"
zone = 1

[[target]]
ip = "8.8.8.8"
zone = "use1-az1"
"#;

fn errors(source: &str) -> Diagnostics {
    match parse(source, "many.toml") {
        Ok(config) => panic!("accepted: {}", config.summary()),
        Err(diagnostics) => diagnostics,
    }
}

fn summary(diagnostics: &Diagnostics) -> Vec<(usize, &str)> {
    diagnostics
        .iter()
        .map(|d| (d.line, d.key.as_str()))
        .collect()
}

#[test]
fn reports_every_independent_error() {
    let diagnostics = errors(MANY_ERRORS);
    let shown = diagnostics.to_string();
    assert_eq!(
        summary(&diagnostics),
        vec![
            // An unknown key in [dataplane].
            (5, "dataplane.burst"),
            // Cross-field: on_unhealthy (absent, so "no_rebalance") differs from
            // on_deregistration; placed at the attribute that is written.
            (
                20,
                r#"target_group.attributes."target_failover.on_unhealthy""#
            ),
            // Cross-field: interval shorter than timeout.
            (23, "target_group.health_check.interval_seconds"),
            // An unknown key in [target_group.health_check].
            (25, "target_group.health_check.colour"),
            // A type error in the first target.
            (29, "target[0].zone"),
            // A range error (public address) in the second target.
            (32, "target[1].ip"),
        ],
        "{shown}"
    );
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines[0],
        "many.toml:5:1: dataplane.burst: unknown key `burst`: allowed keys are eal_args, \
         worker_cores, control_core, poll_mode, burst_size, rx_descriptors, tx_descriptors, \
         mbufs, mbuf_cache, flow_table, port"
    );
    assert!(lines[1].contains(
        "\"no_rebalance\" differs from target_failover.on_deregistration (\"rebalance\")"
    ));
    assert_eq!(
        lines[2],
        "many.toml:23:20: target_group.health_check.interval_seconds: 5 must be >= \
         timeout_seconds (6)"
    );
    assert!(lines[3].contains("unknown key `colour`"));
    assert_eq!(
        lines[4],
        "many.toml:29:8: target[0].zone: expected a string, found integer 1"
    );
    assert!(lines[5].starts_with("many.toml:32:6: target[1].ip: 8.8.8.8 is not a private address"));
}

#[test]
fn a_bad_value_is_reported_once() {
    // The timeout does not decode, so the interval >= timeout rule (which would compare the
    // interval with a stand-in) stays silent, and so does the zone rule, which would count
    // a target whose zone did not decode.
    let source = MANY_ERRORS
        .replace("timeout_seconds = 6", "timeout_seconds = \"six\"")
        .replace("interval_seconds = 5", "interval_seconds = 2");
    let diagnostics = errors(&source);
    let keys: Vec<&str> = diagnostics.iter().map(|d| d.key.as_str()).collect();
    assert!(keys.contains(&"target_group.health_check.timeout_seconds"));
    // The range error of the interval is independent and still reported.
    assert!(keys.contains(&"target_group.health_check.interval_seconds"));
    let interval_messages: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.key == "target_group.health_check.interval_seconds")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        interval_messages,
        vec!["2 is out of range: allowed 5–300 seconds"]
    );
}

#[test]
fn several_problems_in_one_table_are_all_reported() {
    let source = r#"role = "appliance"

[dataplane]
worker_cores = [1]

[[dataplane.port]]
name = "geneve"
device = "net_tap0"
address = "10.0.1.10/24"

[appliance]
gwlb_sources = ["10.0.1.0/24"]
tcp_idle_timeout_seconds = "long"
non_tcp_idle_timeout_seconds = 1
mss_clamp = 9000
unknown_one = 1
unknown_two = 2
"#;
    let diagnostics = errors(source);
    assert_eq!(
        summary(&diagnostics),
        vec![
            (13, "appliance.tcp_idle_timeout_seconds"),
            (14, "appliance.non_tcp_idle_timeout_seconds"),
            (15, "appliance.mss_clamp"),
            (16, "appliance.unknown_one"),
            (17, "appliance.unknown_two"),
        ],
        "{diagnostics}"
    );
}

#[test]
fn several_syntax_errors_are_reported() {
    let source = "role = \"gateway\"\na = = 1\nb = \"x\" \"y\"\n[c\n";
    let diagnostics = errors(source);
    let lines: Vec<usize> = diagnostics.iter().map(|d| d.line).collect();
    assert_eq!(lines, vec![2, 3, 4], "{diagnostics}");
    assert!(diagnostics.iter().all(|d| d.key.is_empty()));
    assert!(
        diagnostics
            .iter()
            .all(|d| d.message.starts_with("invalid TOML: "))
    );
}

#[test]
fn a_missing_file_is_one_diagnostic_at_the_start() {
    let path = std::path::Path::new("/nonexistent/sluice/config.toml");
    let diagnostics = sluice_config::load(path).unwrap_err();
    assert_eq!(diagnostics.len(), 1);
    let diagnostic = diagnostics.first();
    assert_eq!(
        (diagnostic.line, diagnostic.column, diagnostic.key.as_str()),
        (1, 1, "")
    );
    assert_eq!(diagnostic.file, "/nonexistent/sluice/config.toml");
    assert!(
        diagnostics
            .to_string()
            .starts_with("/nonexistent/sluice/config.toml:1:1: "),
        "{diagnostics}"
    );
}
