//! sluice's configuration: the TOML schema of both roles (gateway and appliance), its
//! defaults, strict parsing and validation with positioned errors.
//!
//! [`load`] and [`parse`] turn a file into a [`Config`] or into [`Diagnostics`] that list
//! *every* problem at once, each as `FILE:LINE:COLUMN: KEY: MESSAGE`. Parsing happens in
//! three stages:
//!
//! 1. The decoder parses the TOML with `toml_edit` (which keeps spans) and walks it section by
//!    section: unknown keys, wrong types, malformed values, missing keys and sections of the
//!    wrong role are reported, and decoding carries on with placeholders.
//! 2. [`validate`] checks ranges and cross-field rules on the typed [`Config`]; it is public
//!    as [`Config::validate`] so that configurations changed through the management API are
//!    held to the same rules.
//! 3. Findings are placed at the line and column of the value they name (or of the nearest
//!    table header for keys that are absent); findings that depend on a value that already
//!    failed to decode are dropped, so one mistake is reported once.
//!
//! The schema is documented field by field in [`schema`] and, with every default and range,
//! in `config/examples/*.toml`. [`compile()`](mod@compile) turns a validated [`Config`] and
//! what the running process knows (device MACs, resolved neighbours, target health) into the
//! engine's immutable snapshot.

pub mod compile;
mod decode;
pub mod diagnostic;
pub mod limits;
mod path;
pub mod schema;
pub mod time;
pub mod validate;

use std::path::Path;

pub use compile::{CompileError, RuntimeFacts, compile};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use schema::{ApplianceConfig, Config, GatewayConfig, Role, RoleKind};
pub use validate::Violation;

/// Reads, parses and validates the configuration file at `path`.
///
/// A file that cannot be read yields one diagnostic at 1:1 with an empty key and the
/// operating system's message. The default `management.state_file` is derived from the
/// absolute form of `path`, as in [`parse`].
pub fn load(path: &Path) -> Result<Config, Diagnostics> {
    let file_name = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|error| Diagnostics::from_one(Diagnostic::io(&file_name, &error)))?;
    parse(&source, &file_name)
}

/// Parses and validates configuration text. `file_name` names the text in diagnostics, and
/// its absolute form (resolved against the current directory) is the base of the default
/// `management.state_file`.
pub fn parse(source: &str, file_name: &str) -> Result<Config, Diagnostics> {
    let state_base = std::path::absolute(file_name)
        .map_or_else(|_| file_name.to_owned(), |path| path.display().to_string());
    let decoded = decode::decode(source, &state_base);
    let index = diagnostic::LineIndex::new(source);
    let mut found: Vec<Diagnostic> = Vec::new();
    let mut place = |key: String, at: usize, message: String| {
        let (line, column) = index.position(at);
        found.push(Diagnostic {
            file: file_name.to_owned(),
            line,
            column,
            key,
            message,
        });
    };
    for problem in decoded.problems {
        place(problem.key, problem.at, problem.error.to_string());
    }
    let Some(config) = decoded.config else {
        return Err(Diagnostics::new(found).unwrap_or_else(|| {
            Diagnostics::from_one(Diagnostic {
                file: file_name.to_owned(),
                line: 1,
                column: 1,
                key: String::new(),
                message: "the configuration could not be decoded".to_owned(),
            })
        }));
    };
    for violation in config.violations() {
        let depends_on_failure = std::iter::once(&violation.key)
            .chain(&violation.related)
            .any(|key| {
                decoded
                    .failed
                    .iter()
                    .any(|failed| path::touches(failed, key))
            });
        if depends_on_failure {
            continue;
        }
        let at = locate(&decoded.locations, &violation);
        place(violation.key, at, violation.message);
    }
    match Diagnostics::new(found) {
        None => Ok(config),
        Some(diagnostics) => Err(diagnostics),
    }
}

/// Where a violation should point: its key's value if written, else the first related key
/// that is written, else the nearest enclosing table that is written, else the file start.
fn locate(locations: &std::collections::HashMap<String, usize>, violation: &Violation) -> usize {
    if let Some(&at) = locations.get(&violation.key) {
        return at;
    }
    if let Some(&at) = violation.related.iter().find_map(|key| locations.get(key)) {
        return at;
    }
    let mut key = violation.key.as_str();
    while let Some(parent) = path::parent(key) {
        if let Some(&at) = locations.get(parent) {
            return at;
        }
        key = parent;
    }
    0
}
