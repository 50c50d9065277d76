//! Positioned error reports for configuration files.
//!
//! Every problem sluice finds in a configuration file, from a TOML syntax error to a broken
//! cross-field rule, ends up as one [`Diagnostic`] that names the file, the 1-based line and
//! column, the dotted key path and a message. [`Diagnostics`] is the non-empty list that
//! [`crate::load`] and [`crate::parse`] return, printed one problem per line in the
//! `FILE:LINE:COLUMN: KEY: MESSAGE` form that editors and CI logs understand.

use std::fmt;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given to [`crate::load`] or [`crate::parse`].
    pub file: String,
    /// The 1-based line of the offending text.
    pub line: usize,
    /// The 1-based column (in characters, not bytes) of the offending text.
    pub column: usize,
    /// The dotted key path of the offending value, such as
    /// `target_group.health_check.interval_seconds`, `target[2].ip` or
    /// `target_group.attributes."stickiness.type"`; empty for problems that belong to no key
    /// (I/O and TOML syntax errors).
    pub key: String,
    /// What is wrong, naming the bad value and what is allowed.
    pub message: String,
}

/// A non-empty list of [`Diagnostic`]s, sorted by position in the file.
///
/// Its `Display` prints one diagnostic per line, without a trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

/// Maps byte offsets in a source text to 1-based line and column numbers.
#[derive(Debug, Clone)]
pub(crate) struct LineIndex<'s> {
    source: &'s str,
    starts: Vec<usize>,
}

impl Diagnostic {
    /// Builds the diagnostic for a file that could not be read: it sits at 1:1 and has no key.
    pub fn io(file: &str, error: &std::io::Error) -> Self {
        Self {
            file: file.to_owned(),
            line: 1,
            column: 1,
            key: String::new(),
            message: error.to_string(),
        }
    }
}

impl Diagnostics {
    /// Wraps a list of diagnostics, sorting them by line and column (stably, so problems at
    /// the same position keep the order they were found in). Returns `None` for an empty list,
    /// because a `Diagnostics` always reports at least one problem.
    pub fn new(mut items: Vec<Diagnostic>) -> Option<Self> {
        if items.is_empty() {
            return None;
        }
        items.sort_by_key(|d| (d.line, d.column));
        Some(Self { items })
    }

    /// A list of exactly one diagnostic.
    pub fn from_one(diagnostic: Diagnostic) -> Self {
        Self {
            items: vec![diagnostic],
        }
    }

    /// The number of problems, always at least one.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Always `false`: a `Diagnostics` is never empty. Present for API completeness.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The problems in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// The first problem in file order.
    pub fn first(&self) -> &Diagnostic {
        // The constructor guarantees at least one element; index 0 is present.
        &self.items[0]
    }

    /// The problems as a slice, in file order.
    pub fn as_slice(&self) -> &[Diagnostic] {
        &self.items
    }
}

impl<'s> LineIndex<'s> {
    /// Indexes the line starts of `source`.
    pub(crate) fn new(source: &'s str) -> Self {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Self { source, starts }
    }

    /// Returns the 1-based (line, column) of a byte offset; offsets past the end are clamped
    /// to the end, and offsets inside a multi-byte character count as that character.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.source.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        let column = self
            .source
            .get(start..)
            .unwrap_or("")
            .char_indices()
            .take_while(|&(i, _)| start + i < offset)
            .count();
        (line, column + 1)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Cuts long text quoted in messages to 60 characters.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(line: usize, column: usize, key: &str) -> Diagnostic {
        Diagnostic {
            file: "f.toml".into(),
            line,
            column,
            key: key.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let index = LineIndex::new("ab\ncé d\n\nx");
        assert_eq!(index.position(0), (1, 1));
        assert_eq!(index.position(1), (1, 2));
        assert_eq!(index.position(3), (2, 1));
        // "é" is two bytes: the space after it is the third character of line 2.
        assert_eq!(index.position(6), (2, 3));
        assert_eq!(index.position(9), (3, 1));
        assert_eq!(index.position(10), (4, 1));
        assert_eq!(index.position(1000), (4, 2));
    }

    #[test]
    fn display_prints_one_problem_per_line_sorted() {
        let all = Diagnostics::new(vec![diagnostic(3, 1, "b"), diagnostic(1, 5, "")]);
        let all = all.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all.to_string(), "f.toml:1:5: bad\nf.toml:3:1: b: bad");
        assert!(Diagnostics::new(Vec::new()).is_none());
    }
}
