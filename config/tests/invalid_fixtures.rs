//! Every file in `tests/invalid/` must be refused, and says how in its header:
//!
//! - `# expect: TEXT` (one or more): TEXT appears in the printed diagnostics, usually as
//!   `KEY: MESSAGE`;
//! - `# expect-line: N`: the first diagnostic is on line N;
//! - `# expect-count: N` (optional, default 1): exactly N diagnostics, so that each fixture
//!   tests one rule and nothing else creeps in.

#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap fails the test at the line that matters"
)]

use std::path::{Path, PathBuf};

use sluice_config::load;

/// The header of a fixture.
struct Expectations {
    substrings: Vec<String>,
    line: usize,
    count: usize,
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
}

fn expectations(path: &Path, text: &str) -> Expectations {
    let header = |prefix: &str| {
        text.lines()
            .filter_map(|line| line.strip_prefix(prefix))
            .map(|rest| rest.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let number = |prefix: &str| header(prefix).first().map(|n| n.parse::<usize>().unwrap());
    let expectations = Expectations {
        substrings: header("# expect: "),
        line: number("# expect-line: ")
            .unwrap_or_else(|| panic!("{}: no `# expect-line:`", path.display())),
        count: number("# expect-count: ").unwrap_or(1),
    };
    assert!(
        !expectations.substrings.is_empty(),
        "{}: no `# expect:` line",
        path.display()
    );
    expectations
}

#[test]
fn every_invalid_fixture_is_refused_as_expected() {
    let paths = fixtures();
    assert!(paths.len() >= 40, "only {} fixtures", paths.len());
    let mut failures = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let expected = expectations(path, &text);
        let diagnostics = match load(path) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, but it is invalid"));
                continue;
            }
            Err(diagnostics) => diagnostics,
        };
        let shown = diagnostics.to_string();
        for substring in &expected.substrings {
            if !shown.contains(substring.as_str()) {
                failures.push(format!("{name}: missing `{substring}` in:\n{shown}"));
            }
        }
        if diagnostics.first().line != expected.line {
            failures.push(format!(
                "{name}: first error on line {}, expected {}:\n{shown}",
                diagnostics.first().line,
                expected.line
            ));
        }
        if diagnostics.len() != expected.count {
            failures.push(format!(
                "{name}: {} diagnostics, expected {}:\n{shown}",
                diagnostics.len(),
                expected.count
            ));
        }
        for diagnostic in &diagnostics {
            assert_eq!(diagnostic.file, path.display().to_string());
            assert!(diagnostic.line >= 1 && diagnostic.column >= 1);
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
