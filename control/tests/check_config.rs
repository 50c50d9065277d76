//! `sluice check-config` as users run it: exit codes, the summary line, every error with its
//! position on stderr, and the JSON forms.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("check-config")
        .args(args)
        .output()
        .expect("run sluice")
}

#[test]
fn the_examples_pass_with_a_one_line_summary() {
    for (example, summary) in [
        (
            "gateway.toml",
            "gateway \"gwlb-1\" in zone use1-az1: 2 ports",
        ),
        ("appliance.toml", "appliance: 1 port, 1 worker"),
        ("minimal-gateway.toml", "gateway \"gwlb-1\""),
    ] {
        let path = repo(&format!("config/examples/{example}"));
        let out = check(&[path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{example}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{example}: {stdout}");
        assert!(
            stdout.contains(": ok: ") && stdout.contains(summary),
            "{stdout}"
        );
    }
}

#[test]
fn an_invalid_file_exits_1_with_every_error_positioned() {
    let path = repo("config/tests/invalid/030-reserved-eal-arg.toml");
    let out = check(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    let prefix = format!("{}:", path.display());
    assert!(first.starts_with(&prefix), "{first}");
    let position: Vec<&str> = first[prefix.len()..].splitn(3, ':').collect();
    assert!(position[0].parse::<usize>().unwrap() >= 1, "{first}");
    assert!(position[1].parse::<usize>().unwrap() >= 1, "{first}");
    assert!(stderr.trim_end().ends_with("error") || stderr.trim_end().ends_with("errors"));
}

#[test]
fn several_mistakes_are_reported_together() {
    let text = std::fs::read_to_string(repo("config/examples/gateway.toml")).unwrap();
    let broken = text
        .replace("interval_seconds = 10", "interval_seconds = 30000")
        .replace("ip = \"10.0.1.10\"", "ip = \"8.8.8.8\"")
        .replace("id = \"vpce-0a1b2c3d4e5f60718\"", "id = \"vpce-XYZ\"");
    let dir = std::env::temp_dir().join(format!("sluice-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("broken.toml");
    std::fs::write(&file, broken).unwrap();
    let out = check(&["--output", "json", file.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let errors: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys: Vec<&str> = errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    for key in [
        "target_group.health_check.interval_seconds",
        "target[0].ip",
        "endpoint[0].id",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    for e in errors.as_array().unwrap() {
        assert!(e["line"].as_u64().unwrap() >= 1 && e["column"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn json_output_is_the_effective_config_with_defaults() {
    let path = repo("config/examples/minimal-gateway.toml");
    let out = check(&["--output", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let config: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["role"], "gateway");
    assert_eq!(config["dataplane"]["flow_table"]["capacity"], 1_048_576);
    let text = serde_json::to_string(&config).unwrap();
    assert!(
        text.contains("\"deregistration_delay.timeout_seconds\":300"),
        "{text}"
    );
    assert!(text.contains("\"tcp.idle_timeout.seconds\":350"), "{text}");
}

#[test]
fn a_missing_file_is_an_error_not_a_panic() {
    let out = check(&["/nonexistent/sluice.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sluice.toml"));
}
