//! From TOML text to a typed [`Config`], reporting every structural problem at once.
//!
//! The text is parsed with `toml_edit`, which keeps the byte span of every key, value and
//! table header. The section decoders in [`sections`] then walk the document with
//! [`reader::TableReader`]s: unknown keys, values of the wrong type or form, missing
//! required keys and sections that do not belong to the role are all reported with their
//! position, and decoding goes on with placeholders so that one bad value hides nothing
//! else. The decoder also records where each value sits, so that the validator's findings,
//! which name values only by key path, can be placed too.

mod reader;
mod sections;

use std::collections::HashMap;
use std::ops::Range;

use toml_edit::Document;

use crate::schema::{Config, RoleKind};

/// A structural problem found while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The text is not valid TOML.
    #[error("invalid TOML: {0}")]
    Syntax(String),
    /// A key that the table does not have.
    #[error("unknown {noun} `{name}`{note}: allowed {noun}s are {allowed}")]
    Unknown {
        /// "key" or "attribute".
        noun: &'static str,
        /// The unknown key.
        name: String,
        /// A suggestion or explanation in parentheses, or empty.
        note: String,
        /// The allowed keys, comma-separated.
        allowed: String,
    },
    /// An attribute set twice, once quoted and once as dotted keys.
    #[error("attribute `{0}` is set more than once")]
    DuplicateAttribute(String),
    /// A value of the wrong TOML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// The TOML type found, with the value's text.
        found: String,
    },
    /// A required key that is not there.
    #[error("missing required key `{0}`")]
    MissingKey(&'static str),
    /// The top-level `role` key is missing.
    #[error("missing required key `role`: set role = \"gateway\" or role = \"appliance\"")]
    MissingRole,
    /// A required section that is not there.
    #[error("missing section {section}: {why}")]
    MissingSection {
        /// The section header, such as `[load_balancer]`.
        section: &'static str,
        /// Why it is required.
        why: String,
    },
    /// A section of the other role.
    #[error(
        "section {section} is only allowed when role = \"{allowed}\" (this file has role = \"{role}\")"
    )]
    WrongRole {
        /// The section header, such as `[appliance]`.
        section: &'static str,
        /// The role that has the section.
        allowed: RoleKind,
        /// The file's role.
        role: RoleKind,
    },
    /// An integer too large or too small for its field.
    #[error("{value} is out of range: allowed {allowed}")]
    OutOfRange {
        /// The integer as written.
        value: String,
        /// The allowed range.
        allowed: String,
    },
    /// A string that does not parse as the value it should hold.
    #[error("{value} is not {expected}{detail}")]
    BadText {
        /// The text as written.
        value: String,
        /// What it should look like.
        expected: &'static str,
        /// The parser's explanation in parentheses, or empty.
        detail: String,
    },
    /// A string outside a closed set of keywords.
    #[error("{value} is not allowed: expected {allowed}{hint}")]
    Keyword {
        /// The text as written.
        value: String,
        /// The allowed spellings.
        allowed: String,
        /// An explanation in parentheses, or empty.
        hint: String,
    },
}

/// A decoding problem with its key path and byte offset.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    /// The key path of the offending value.
    pub(crate) key: String,
    /// Where in the source the problem is.
    pub(crate) at: usize,
    /// What is wrong.
    pub(crate) error: DecodeError,
}

/// The collected state of one decoding run.
pub(crate) struct Decoder<'s> {
    source: &'s str,
    /// Every problem found, in discovery order.
    pub(crate) problems: Vec<Problem>,
    /// Where each decoded value (or table header) starts, by key path.
    pub(crate) locations: HashMap<String, usize>,
    /// Key paths whose values could not be decoded; placeholders stand in for them, and
    /// validation findings that depend on them are dropped.
    pub(crate) failed: Vec<String>,
}

/// What decoding produced.
pub(crate) struct Decoded {
    /// The configuration, unless the role is unknown; built with placeholders where values
    /// were bad, so only trustworthy when `problems` is empty.
    pub(crate) config: Option<Config>,
    /// Every problem found.
    pub(crate) problems: Vec<Problem>,
    /// Where each value starts, by key path.
    pub(crate) locations: HashMap<String, usize>,
    /// Key paths that failed to decode.
    pub(crate) failed: Vec<String>,
}

impl<'s> Decoder<'s> {
    /// Records where the value at `path` starts (the first record wins).
    pub(crate) fn locate(&mut self, path: &str, at: usize) {
        self.locations.entry(path.to_owned()).or_insert(at);
    }

    /// Reports a problem that does not invalidate the value at `key` (an unknown key).
    pub(crate) fn report(&mut self, key: String, at: usize, error: DecodeError) {
        self.problems.push(Problem { key, at, error });
    }

    /// Reports a problem with the value at `key` and marks the value failed.
    pub(crate) fn fail(&mut self, key: String, at: usize, error: DecodeError) {
        self.failed.push(key.clone());
        self.report(key, at, error);
    }

    /// The source text of a span, or "" when the span is unknown.
    pub(crate) fn raw(&self, span: Option<Range<usize>>) -> &'s str {
        span.and_then(|span| self.source.get(span)).unwrap_or("")
    }
}

/// Parses and decodes `source`. Syntax errors are returned alone: a document that does not
/// parse cannot be decoded.
pub(crate) fn decode(source: &str, file_name: &str) -> Decoded {
    let mut d = Decoder {
        source,
        problems: Vec::new(),
        locations: HashMap::new(),
        failed: Vec::new(),
    };
    let config = match Document::parse(source) {
        Ok(document) => sections::root(&mut d, document.as_table(), file_name),
        Err(error) => {
            syntax_errors(&mut d, &error);
            None
        }
    };
    Decoded {
        config,
        problems: d.problems,
        locations: d.locations,
        failed: d.failed,
    }
}

/// Reports the syntax errors of the source, one per line. `toml_edit` stops at the first;
/// the `toml` crate's recovering parser (the same `toml_parser` underneath) finds the others.
/// Recovery cascades after an unclosed array (every following line reads as a missing
/// comma), so the first such symptom gets a hint and ends the list.
fn syntax_errors(d: &mut Decoder<'_>, first: &toml_edit::TomlError) {
    let (_, mut errors) = toml::de::DeTable::parse_recoverable(d.source);
    if errors.is_empty() {
        let at = first.span().map_or(0, |span| span.start);
        let message = first.message().trim().to_owned();
        d.report(String::new(), at, DecodeError::Syntax(message));
        return;
    }
    errors.sort_by_key(|error| error.span().map_or(0, |span| span.start));
    let mut last_line = None;
    for error in &errors {
        let at = error.span().map_or(0, |span| span.start);
        let line_start = d.source[..at.min(d.source.len())]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        if last_line == Some(line_start) {
            continue;
        }
        last_line = Some(line_start);
        let mut message = error.message().trim().to_owned();
        let starts_line = d.source[line_start..at.min(d.source.len())]
            .trim()
            .is_empty();
        let cascade = starts_line && message.starts_with("missing comma between array elements");
        if cascade {
            message.push_str(" (is an array on an earlier line missing its closing `]`?)");
        }
        d.report(String::new(), at, DecodeError::Syntax(message));
        if cascade {
            break;
        }
    }
}
