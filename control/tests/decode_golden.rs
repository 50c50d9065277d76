//! `sluice decode` against the golden captures written by scapy.
//!
//! `dataplane/wire/tests/data/make_captures.py` builds every packet with scapy (an
//! implementation independent of `sluice-wire`) and records in `captures.json` what each one
//! is, or which error a decoder must report where. This test runs the real binary with
//! `--output json` and checks every recorded fact; any key it does not know fails the test, so
//! the expectations cannot silently go unchecked. A second test pins the text output (golden
//! files under `control/tests/golden/`; regenerate with `UPDATE_GOLDEN=1`).

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dataplane/wire/tests/data")
}

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn decode_json(capture: &Path) -> Vec<Value> {
    let out = sluice(&["decode", "--output", "json", capture.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "sluice decode {} failed: {}",
        capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The layer names as the expectations write them: payload left out, `gwlb` after `geneve`
/// when the options were found.
fn layer_names(packet: &Value) -> Vec<String> {
    let mut names = Vec::new();
    for layer in packet["layers"].as_array().unwrap() {
        let name = layer["layer"].as_str().unwrap();
        if name == "payload" {
            continue;
        }
        names.push(name.to_owned());
        if name == "geneve" && !packet["gwlb"].is_null() {
            names.push("gwlb".to_owned());
        }
    }
    names
}

fn layers<'a>(packet: &'a Value, name: &str) -> Vec<&'a Value> {
    packet["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["layer"] == name)
        .collect()
}

fn last_ip(packet: &Value) -> &Value {
    packet["layers"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|l| l["layer"] == "ipv4" || l["layer"] == "ipv6")
        .unwrap()
}

fn check(capture: &str, index: usize, packet: &Value, expected: &serde_json::Map<String, Value>) {
    let at = format!("{capture} packet {}", index + 1);
    if !expected.contains_key("error") {
        assert!(
            packet["error"].is_null(),
            "{at}: unexpected error {}",
            packet["error"]
        );
    }
    for (key, want) in expected {
        match key.as_str() {
            "layers" => {
                let want: Vec<String> = serde_json::from_value(want.clone()).unwrap();
                assert_eq!(layer_names(packet), want, "{at}: layers");
            }
            "gwlb" => assert_eq!(&packet["gwlb"], want, "{at}: gwlb options"),
            "flow" => assert_eq!(&packet["flow"], want, "{at}: flow"),
            "error" => {
                let got = &packet["error"];
                for field in ["layer", "kind", "offset"] {
                    assert_eq!(got[field], want[field], "{at}: error {field}: {got}");
                }
            }
            "tcp_mss" => {
                let tcp = layers(packet, "tcp");
                assert_eq!(&tcp.last().unwrap()["mss"], want, "{at}: mss");
            }
            "checksums_ok" => {
                assert_eq!(want, &Value::Bool(true));
                for l in packet["layers"].as_array().unwrap() {
                    if l["layer"] == "ipv4" {
                        assert_eq!(l["checksum_ok"], true, "{at}: ipv4 checksum");
                    }
                    if let Some(c) = l.get("checksum") {
                        assert!(
                            c == "ok" || c == "none",
                            "{at}: {} checksum {c}",
                            l["layer"]
                        );
                    }
                }
            }
            "geneve_options" => {
                let g = layers(packet, "geneve");
                assert_eq!(
                    g[0]["options"].as_array().unwrap().len() as u64,
                    want.as_u64().unwrap(),
                    "{at}: option count"
                );
            }
            "icmp_quoted_flow" => {
                let icmp = packet["layers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .rev()
                    .find(|l| l["layer"] == "icmpv4" || l["layer"] == "icmpv6")
                    .unwrap();
                assert_eq!(&icmp["quoted_flow"], want, "{at}: quoted flow");
            }
            "arp" => {
                let arp = layers(packet, "arp")[0];
                assert_eq!(arp["operation"], want["operation"], "{at}: arp operation");
                assert_eq!(arp["target_ip"], want["target"], "{at}: arp target");
            }
            "vlan" => assert_eq!(&layers(packet, "vlan")[0]["id"], want, "{at}: vlan id"),
            "ipv4_header_len" => {
                assert_eq!(&layers(packet, "ipv4")[0]["header_len"], want, "{at}: ihl");
            }
            "fragment" => assert_eq!(&last_ip(packet)["fragment"], want, "{at}: fragment"),
            "ipv6_ext" => assert_eq!(&last_ip(packet)["extensions"], want, "{at}: extensions"),
            "inner_len" => assert_eq!(&last_ip(packet)["total_len"], want, "{at}: inner length"),
            "over_gwlb_mtu" => {
                let noted = packet["notes"]
                    .as_array()
                    .is_some_and(|n| n.iter().any(|n| n.as_str().unwrap().contains("8500")));
                assert_eq!(Value::Bool(noted), *want, "{at}: 8500-byte note");
            }
            other => panic!("{at}: expectation key {other:?} is not checked by this test"),
        }
    }
}

#[test]
fn decode_agrees_with_scapy_on_every_golden_packet() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir().join("captures.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    for (capture, expectations) in manifest.as_object().unwrap() {
        let packets = decode_json(&data_dir().join(capture));
        let expectations = expectations.as_array().unwrap();
        assert_eq!(packets.len(), expectations.len(), "{capture}: packet count");
        for (i, (packet, expected)) in packets.iter().zip(expectations).enumerate() {
            check(capture, i, packet, expected.as_object().unwrap());
            checked += 1;
        }
    }
    assert!(checked >= 28, "only {checked} golden packets checked");
}

#[test]
fn text_output_is_stable() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for capture in ["gwlb", "malformed", "plain", "jumbo"] {
        let path = data_dir().join(format!("{capture}.pcap"));
        let out = sluice(&["decode", path.to_str().unwrap()]);
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let golden = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(format!("decode-{capture}.txt"));
        if update {
            std::fs::write(&golden, &text).unwrap();
        } else {
            let want = std::fs::read_to_string(&golden).unwrap_or_else(|_| {
                panic!("{} missing: run with UPDATE_GOLDEN=1", golden.display())
            });
            assert_eq!(
                text, want,
                "{capture}: text output changed (UPDATE_GOLDEN=1 to accept)"
            );
        }
    }
}

#[test]
fn unreadable_and_foreign_files_exit_1_with_a_message() {
    let out = sluice(&["decode", "/nonexistent/capture.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/capture.pcap"));
    let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let out = sluice(&["decode", toml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
}

#[test]
fn a_cut_capture_shows_what_it_has_then_fails() {
    let bytes = std::fs::read(data_dir().join("gwlb.pcap")).unwrap();
    let dir = std::env::temp_dir().join(format!("sluice-decode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 7]).unwrap();
    let out = sluice(&["decode", cut.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("6 packets: 6 with GWLB options, 0 malformed"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged capture after 6 packets"));
}

#[test]
fn version_and_help() {
    let out = sluice(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("sluice {}", env!("CARGO_PKG_VERSION"))
    );
    let out = sluice(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["check-config", "decode", "Exit codes"] {
        assert!(help.contains(word), "--help lacks {word}");
    }
    let out = sluice(&["decode"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
}

#[test]
fn geneve_ends_where_its_udp_datagram_does() {
    // The first golden GWLB packet with the outer UDP length cut to 16: the datagram holds
    // GENEVE's base header only, so its options are not there, whatever follows in the frame
    // (the engine drops such a packet as malformed GENEVE too).
    let (packets, _) = sluice::capture::read(&data_dir().join("gwlb.pcap")).unwrap();
    let mut frame = packets[0].data.clone();
    frame[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&16u16.to_be_bytes());
    frame[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
    let decoded = sluice::decode::decode_frame(&frame);
    let error = decoded.error.expect("malformed");
    assert_eq!(
        (error.layer, error.offset),
        ("geneve", 14 + 20 + 8),
        "{error:?}"
    );
    assert!(decoded.gwlb.is_none(), "no options read past the datagram");
}
