//! Strictness at every depth: an unknown key under any table header of the examples is
//! reported, at its line, naming the table it was put in.

#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test at the line that matters"
)]

use std::path::Path;

use sluice_config::parse;

/// Inserts `bogus_key = 1` after each table header (and at the top) of an example, one at a
/// time, and checks that exactly that key is reported.
fn check_every_table(example: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(example);
    let source = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let mut headers: Vec<(usize, String)> = vec![(0, String::new())];
    let mut array_counts: std::collections::HashMap<String, usize> = Default::default();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let table = if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.strip_suffix("]]"))
        {
            // The element index counts previous elements of the same array, which holds for
            // the examples because nested arrays follow their (only or last) parent.
            let count = array_counts.entry(name.to_owned()).or_default();
            *count += 1;
            let index = *count - 1;
            let (parent, last) = name.rsplit_once('.').unwrap_or(("", name));
            let parent = match array_counts.get(parent) {
                Some(&n) => format!("{parent}[{}].", n - 1),
                None if parent.is_empty() => String::new(),
                None => format!("{parent}."),
            };
            format!("{parent}{last}[{index}]")
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let (parent, last) = name.rsplit_once('.').unwrap_or(("", name));
            match array_counts.get(parent) {
                Some(&n) => format!("{parent}[{}].{last}", n - 1),
                None => name.to_owned(),
            }
        } else {
            continue;
        };
        headers.push((i + 1, table));
    }
    assert!(
        headers.len() > 10,
        "{example}: only {} tables",
        headers.len()
    );
    for (after, table) in headers {
        let mut patched: Vec<&str> = lines.clone();
        patched.insert(after, "bogus_key = 1");
        let patched = patched.join("\n");
        let diagnostics = match parse(&patched, example) {
            Ok(_) => panic!("{example}: bogus_key under [{table}] accepted"),
            Err(diagnostics) => diagnostics,
        };
        assert_eq!(diagnostics.len(), 1, "[{table}]:\n{diagnostics}");
        let diagnostic = diagnostics.first();
        let expected_key = if table.is_empty() {
            "bogus_key".to_owned()
        } else {
            format!("{table}.bogus_key")
        };
        assert_eq!(diagnostic.key, expected_key, "{diagnostics}");
        assert_eq!(diagnostic.line, after + 1, "{diagnostics}");
        assert!(
            diagnostic.message.starts_with("unknown key `bogus_key`")
                || diagnostic
                    .message
                    .starts_with("unknown attribute `bogus_key`"),
            "{diagnostics}"
        );
    }
}

#[test]
fn every_gateway_table_refuses_unknown_keys() {
    check_every_table("gateway.toml");
}

#[test]
fn every_appliance_table_refuses_unknown_keys() {
    check_every_table("appliance.toml");
}
