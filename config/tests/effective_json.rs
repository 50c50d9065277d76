//! The effective configuration as JSON (what `sluice check-config --output json` prints) is
//! a golden file: scripts read it, so its shape must not change by accident. To update it
//! on purpose, run with `SLUICE_UPDATE_GOLDEN=1` and review the diff.

#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test at the line that matters"
)]

use std::path::Path;

use sluice_config::parse;

fn check_golden(example: &str, golden: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(dir.join("examples").join(example)).unwrap();
    // A fixed absolute file name keeps the derived state file stable.
    let config = parse(&source, &format!("/etc/sluice/{example}")).unwrap();
    let json = serde_json::to_string_pretty(&config).unwrap() + "\n";
    let golden_path = dir.join("tests/golden").join(golden);
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden_path, &json).unwrap();
    }
    let expected = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(json, expected, "effective JSON of {example} changed");
}

#[test]
fn minimal_gateway_effective_json() {
    check_golden("minimal-gateway.toml", "minimal-gateway.json");
}

#[test]
fn appliance_effective_json() {
    check_golden("appliance.toml", "appliance.json");
}
