//! A table reader over a span-keeping `toml_edit` document that never stops at the first
//! problem.
//!
//! Each [`TableReader`] hands out the keys a section asks for, decodes them with a
//! [`Decode`] implementation, records where every value sits, and reports bad values,
//! missing keys and (in [`TableReader::finish`]) unknown keys to the [`Decoder`], carrying on
//! with a placeholder so that the rest of the file is still checked.

use std::marker::PhantomData;
use std::ops::Range;
use std::path::PathBuf;
use std::str::FromStr;

use toml_edit::{Item, Table, TableLike, Value};

use super::{DecodeError, Decoder};
use crate::diagnostic::shorten;
use crate::limits::Limit;
use crate::path;
use crate::schema::types::{IpProtocol, Keyword, PortRange};

/// A node of the document: a table item, a table in an array of tables, or a value.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    /// An item of a table.
    Item(&'a Item),
    /// A table of an array of tables.
    Table(&'a Table),
    /// A value inside an array.
    Value(&'a Value),
}

/// The result of looking a key up.
pub(crate) enum Got<T> {
    /// The key is not in the table.
    Absent,
    /// The key is there but its value is bad; the problem has been reported.
    Bad,
    /// The key is there and its value decoded.
    Ok(T),
}

/// One key of a table as the reader sees it.
struct Entry<'a> {
    /// The key, with the keys of flattened tables joined by dots.
    name: String,
    /// Where the key starts.
    key_at: usize,
    /// Its value.
    node: Node<'a>,
    /// Whether a section asked for it.
    used: bool,
}

/// Reads the keys of one table, remembering which ones were asked for.
pub(crate) struct TableReader<'a> {
    /// The table's key path.
    path: String,
    /// Where the table starts: its header, or its key for inline and dotted tables.
    at: usize,
    entries: Vec<Entry<'a>>,
    /// Every key asked for, in order: the allowed keys of unknown-key messages.
    known: Vec<&'static str>,
    /// "key" or "attribute", for messages.
    noun: &'static str,
    /// A stand-in for a table that is missing or broken: reports nothing.
    muted: bool,
    /// Explains unknown keys that name something real elsewhere (ELB-only attributes).
    explain: fn(&str) -> Option<&'static str>,
}

/// Turns a TOML value into a typed value.
pub(crate) trait Decode {
    /// The decoded type.
    type Out;
    /// What the value should look like, for messages ("an integer").
    fn expected(&self) -> &'static str;
    /// Decodes `value`, whose source text is `raw`.
    fn decode(&self, value: &Value, raw: &str) -> Result<Self::Out, DecodeError>;
}

/// A string.
pub(crate) struct Str;
/// A boolean.
pub(crate) struct Bool;
/// An integer that must fit its type; the limit is quoted when it does not.
pub(crate) struct Int<T: 'static>(pub(crate) &'static Limit<T>);
/// A keyword of a [`Keyword`] enum.
pub(crate) struct Kw<K>(PhantomData<K>);
/// A string parsed with `FromStr`.
pub(crate) struct Parsed<T> {
    expected: &'static str,
    detail: bool,
    marker: PhantomData<T>,
}
/// A filesystem path.
pub(crate) struct FilePath;
/// An IP protocol, by name or number.
pub(crate) struct Protocol;
/// A port number or a `"LO-HI"` range.
pub(crate) struct Ports;

impl<'a> Node<'a> {
    /// Returns the value of a value node.
    pub(crate) fn value(self) -> Option<&'a Value> {
        match self {
            Node::Item(Item::Value(value)) | Node::Value(value) => Some(value),
            _ => None,
        }
    }

    /// Returns the table of a table node (standard, dotted or inline).
    fn table(self) -> Option<&'a dyn TableLike> {
        match self {
            Node::Item(Item::Table(table)) | Node::Table(table) => Some(table),
            Node::Item(Item::Value(Value::InlineTable(table)))
            | Node::Value(Value::InlineTable(table)) => Some(table),
            _ => None,
        }
    }

    /// Returns the elements of an array of tables (or of an inline array).
    fn elements(self) -> Option<Vec<Node<'a>>> {
        match self {
            Node::Item(Item::ArrayOfTables(array)) => Some(array.iter().map(Node::Table).collect()),
            Node::Item(Item::Value(Value::Array(array))) | Node::Value(Value::Array(array)) => {
                Some(array.iter().map(Node::Value).collect())
            }
            _ => None,
        }
    }

    /// The node's span in the source, if it has one.
    pub(crate) fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(item) => item.span(),
            Node::Table(table) => table.span(),
            Node::Value(value) => value.span(),
        }
    }

    /// The TOML type of the node, for messages.
    fn type_name(self) -> &'static str {
        match self {
            Node::Item(item) => item.type_name(),
            Node::Table(_) => "table",
            Node::Value(value) => value.type_name(),
        }
    }

    /// Where the node starts, or `fallback` when it has no span.
    pub(crate) fn start_or(self, fallback: usize) -> usize {
        match self.span() {
            Some(span) if span != (0..0) => span.start,
            _ => fallback,
        }
    }
}

impl<T> Got<T> {
    /// The value, if it decoded.
    pub(crate) fn ok(self) -> Option<T> {
        match self {
            Got::Ok(value) => Some(value),
            Got::Absent | Got::Bad => None,
        }
    }
}

impl<'a> TableReader<'a> {
    /// Reads the table `node` at `path`; `key_at` is where its key starts in the parent.
    /// Returns `None` when the node is not a table.
    pub(crate) fn new(
        d: &mut Decoder<'_>,
        path: String,
        node: Node<'a>,
        key_at: usize,
    ) -> Option<Self> {
        let table = node.table()?;
        let at = node.start_or(key_at);
        d.locate(&path, at);
        let entries = table
            .iter()
            .map(|(name, item)| Entry {
                name: name.to_owned(),
                key_at: key_start(table, name).unwrap_or(at),
                node: Node::Item(item),
                used: false,
            })
            .collect();
        Some(Self {
            path,
            at,
            entries,
            known: Vec::new(),
            noun: "key",
            muted: false,
            explain: |_| None,
        })
    }

    /// Reads an `attributes` table: nested tables (from unquoted dotted keys such as
    /// `stickiness.enabled = true`) are flattened into dotted names, so both spellings of a
    /// GWLB attribute name work. `explain` describes known attributes that do not apply.
    pub(crate) fn attributes(
        d: &mut Decoder<'_>,
        path: String,
        node: Node<'a>,
        key_at: usize,
        explain: fn(&str) -> Option<&'static str>,
    ) -> Option<Self> {
        fn flatten<'a>(
            d: &mut Decoder<'_>,
            path: &str,
            prefix: &str,
            table: &'a dyn TableLike,
            fallback: usize,
            out: &mut Vec<Entry<'a>>,
        ) {
            for (name, item) in table.iter() {
                let full = format!("{prefix}{name}");
                let key_at = key_start(table, name).unwrap_or(fallback);
                match Node::Item(item).table() {
                    Some(inner) => flatten(d, path, &format!("{full}."), inner, key_at, out),
                    None if out.iter().any(|e| e.name == full) => d.report(
                        path::child(path, &full),
                        key_at,
                        DecodeError::DuplicateAttribute(full),
                    ),
                    None => out.push(Entry {
                        name: full,
                        key_at,
                        node: Node::Item(item),
                        used: false,
                    }),
                }
            }
        }
        let mut reader = Self::new(d, path, node, key_at)?;
        let table = node.table()?;
        let mut entries = Vec::new();
        flatten(d, &reader.path, "", table, reader.at, &mut entries);
        reader.entries = entries;
        reader.noun = "attribute";
        reader.explain = explain;
        Some(reader)
    }

    /// A stand-in for a table that is missing or broken, positioned at `at`: every key is
    /// absent and nothing is reported, so a section decoder can build its placeholder.
    pub(crate) fn muted(path: String, at: usize) -> Self {
        Self {
            path,
            at,
            entries: Vec::new(),
            known: Vec::new(),
            noun: "key",
            muted: true,
            explain: |_| None,
        }
    }

    /// Marks `key` as asked for and returns its path, key position and node if present.
    pub(crate) fn take(&mut self, key: &'static str) -> Option<(String, usize, Node<'a>)> {
        if !self.known.contains(&key) {
            self.known.push(key);
        }
        let entry = self.entries.iter_mut().find(|e| !e.used && e.name == key)?;
        entry.used = true;
        Some((path::child(&self.path, key), entry.key_at, entry.node))
    }

    /// Looks up and decodes a single value.
    pub(crate) fn get<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
    ) -> Got<D::Out> {
        let Some((path, key_at, node)) = self.take(key) else {
            return Got::Absent;
        };
        let at = node.start_or(key_at);
        d.locate(&path, at);
        match node.value() {
            Some(value) if !matches!(value, Value::InlineTable(_)) => {
                match dec.decode(value, d.raw(value.span())) {
                    Ok(out) => Got::Ok(out),
                    Err(error) => {
                        d.fail(path, at, error);
                        Got::Bad
                    }
                }
            }
            _ => {
                let error = DecodeError::WrongType {
                    expected: dec.expected(),
                    found: node.type_name().to_owned(),
                };
                d.fail(path, at, error);
                Got::Bad
            }
        }
    }

    /// An optional value: `None` when absent or bad.
    pub(crate) fn opt<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
    ) -> Option<D::Out> {
        self.get(d, key, dec).ok()
    }

    /// A value with a default, used when the key is absent (and when it is bad).
    pub(crate) fn or<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
        default: D::Out,
    ) -> D::Out {
        self.get(d, key, dec).ok().unwrap_or(default)
    }

    /// A required value; a missing key is reported at the table and `placeholder` stands in.
    pub(crate) fn req<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
        placeholder: D::Out,
    ) -> D::Out {
        match self.get(d, key, dec) {
            Got::Ok(out) => out,
            Got::Bad => placeholder,
            Got::Absent => {
                self.missing(d, key);
                placeholder
            }
        }
    }

    /// Reports that the required `key` is missing (unless muted) and marks it failed.
    pub(crate) fn missing(&self, d: &mut Decoder<'_>, key: &'static str) {
        let path = path::child(&self.path, key);
        if self.muted {
            d.failed.push(path);
        } else {
            d.fail(path, self.at, DecodeError::MissingKey(key));
        }
    }

    /// Looks up an array and decodes each element; bad elements are reported and replaced by
    /// `placeholder` so that indices stay right.
    pub(crate) fn list<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
        placeholder: impl Fn() -> D::Out,
    ) -> Got<Vec<D::Out>> {
        let Some((path, key_at, node)) = self.take(key) else {
            return Got::Absent;
        };
        let at = node.start_or(key_at);
        d.locate(&path, at);
        let Some(Value::Array(array)) = node.value() else {
            let error = DecodeError::WrongType {
                expected: "an array",
                found: node.type_name().to_owned(),
            };
            d.fail(path, at, error);
            return Got::Bad;
        };
        let mut out = Vec::with_capacity(array.len());
        for (i, value) in array.iter().enumerate() {
            let element = path::index(&path, i);
            let element_at = Node::Value(value).start_or(at);
            d.locate(&element, element_at);
            match dec.decode(value, d.raw(value.span())) {
                Ok(decoded) => out.push(decoded),
                Err(error) => {
                    d.fail(element, element_at, error);
                    out.push(placeholder());
                }
            }
        }
        Got::Ok(out)
    }

    /// A required array.
    pub(crate) fn req_list<D: Decode>(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        dec: &D,
        placeholder: impl Fn() -> D::Out,
    ) -> Vec<D::Out> {
        match self.list(d, key, dec, placeholder) {
            Got::Ok(out) => out,
            Got::Bad => Vec::new(),
            Got::Absent => {
                self.missing(d, key);
                Vec::new()
            }
        }
    }

    /// A sub-table. Absent gives [`Got::Absent`]; a value that is not a table is reported.
    pub(crate) fn table(&mut self, d: &mut Decoder<'_>, key: &'static str) -> Got<Self> {
        let Some((path, key_at, node)) = self.take(key) else {
            return Got::Absent;
        };
        match Self::new(d, path.clone(), node, key_at) {
            Some(reader) => Got::Ok(reader),
            None => {
                let at = node.start_or(key_at);
                d.locate(&path, at);
                let error = DecodeError::WrongType {
                    expected: "a table",
                    found: node.type_name().to_owned(),
                };
                d.fail(path, at, error);
                Got::Bad
            }
        }
    }

    /// A sub-table whose keys all have defaults: absent or broken tables read as empty.
    pub(crate) fn table_or_empty(&mut self, d: &mut Decoder<'_>, key: &'static str) -> Self {
        let path = path::child(&self.path, key);
        match self.table(d, key) {
            Got::Ok(reader) => reader,
            Got::Absent | Got::Bad => Self::muted(path, self.at),
        }
    }

    /// An `attributes` sub-table (see [`TableReader::attributes`]); absent or broken tables
    /// read as empty.
    pub(crate) fn attributes_table(
        &mut self,
        d: &mut Decoder<'_>,
        key: &'static str,
        explain: fn(&str) -> Option<&'static str>,
    ) -> Self {
        let path = path::child(&self.path, key);
        let Some((path, key_at, node)) = self.take(key) else {
            return Self::muted(path, self.at);
        };
        match Self::attributes(d, path.clone(), node, key_at, explain) {
            Some(reader) => reader,
            None => {
                let at = node.start_or(key_at);
                let error = DecodeError::WrongType {
                    expected: "a table",
                    found: node.type_name().to_owned(),
                };
                d.fail(path.clone(), at, error);
                Self::muted(path, at)
            }
        }
    }

    /// An array of tables (`[[key]]`, or an inline array of inline tables). Elements that
    /// are not tables are reported and read as muted empty tables, so indices stay right.
    pub(crate) fn tables(&mut self, d: &mut Decoder<'_>, key: &'static str) -> Vec<Self> {
        let Some((path, key_at, node)) = self.take(key) else {
            return Vec::new();
        };
        let at = node.start_or(key_at);
        d.locate(&path, at);
        let Some(elements) = node.elements() else {
            let error = DecodeError::WrongType {
                expected: "an array of tables",
                found: node.type_name().to_owned(),
            };
            d.fail(path, at, error);
            return Vec::new();
        };
        elements
            .into_iter()
            .enumerate()
            .map(|(i, element)| {
                let element_path = path::index(&path, i);
                let element_at = element.start_or(at);
                match Self::new(d, element_path.clone(), element, element_at) {
                    Some(reader) => reader,
                    None => {
                        let error = DecodeError::WrongType {
                            expected: "a table",
                            found: element.type_name().to_owned(),
                        };
                        d.fail(element_path.clone(), element_at, error);
                        Self::muted(element_path, element_at)
                    }
                }
            })
            .collect()
    }

    /// Reports every key nobody asked for, naming the allowed ones.
    pub(crate) fn finish(self, d: &mut Decoder<'_>) {
        if self.muted {
            return;
        }
        for entry in self.entries.iter().filter(|e| !e.used) {
            let note = match (self.explain)(&entry.name) {
                Some(why) => format!(" ({why})"),
                None => suggestion(&entry.name, &self.known)
                    .map(|best| format!(" (did you mean `{best}`?)"))
                    .unwrap_or_default(),
            };
            let error = DecodeError::Unknown {
                noun: self.noun,
                name: entry.name.clone(),
                note,
                allowed: self.known.join(", "),
            };
            d.report(path::child(&self.path, &entry.name), entry.key_at, error);
        }
    }
}

/// Where `name`'s key starts inside `table`.
fn key_start(table: &dyn TableLike, name: &str) -> Option<usize> {
    table
        .key(name)
        .and_then(|key| key.span())
        .map(|span| span.start)
}

/// The known key closest to `name`, if it is close enough to be a likely typo.
fn suggestion<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|&candidate| (edit_distance(name, candidate), candidate))
        .filter(|&(distance, candidate)| distance <= candidate.len().div_ceil(3))
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, candidate)| candidate)
}

/// The Levenshtein distance between two strings, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The error for a value of the wrong TOML type.
fn wrong_type(expected: &'static str, value: &Value, raw: &str) -> DecodeError {
    DecodeError::WrongType {
        expected,
        found: format!("{} {}", value.type_name(), shorten(raw)),
    }
}

impl Decode for Str {
    type Out = String;

    fn expected(&self) -> &'static str {
        "a string"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<String, DecodeError> {
        match value {
            Value::String(s) => Ok(s.value().clone()),
            other => Err(wrong_type(self.expected(), other, raw)),
        }
    }
}

impl Decode for Bool {
    type Out = bool;

    fn expected(&self) -> &'static str {
        "a boolean (true or false)"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<bool, DecodeError> {
        match value {
            Value::Boolean(b) => Ok(*b.value()),
            other => Err(wrong_type(self.expected(), other, raw)),
        }
    }
}

impl<T> Decode for Int<T>
where
    T: TryFrom<i64> + Copy + std::fmt::Display + 'static,
{
    type Out = T;

    fn expected(&self) -> &'static str {
        "an integer"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<T, DecodeError> {
        match value {
            Value::Integer(i) => T::try_from(*i.value()).map_err(|_| DecodeError::OutOfRange {
                value: i.value().to_string(),
                allowed: self.0.to_string(),
            }),
            other => Err(wrong_type(self.expected(), other, raw)),
        }
    }
}

impl<K> Kw<K> {
    /// A keyword decoder for `K`.
    pub(crate) const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<K: Keyword> Decode for Kw<K> {
    type Out = K;

    fn expected(&self) -> &'static str {
        "a string"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<K, DecodeError> {
        let Value::String(text) = value else {
            return Err(wrong_type(self.expected(), value, raw));
        };
        let text = text.value();
        if let Some(&keyword) = K::all().iter().find(|k| k.text() == text) {
            return Ok(keyword);
        }
        let hint = if let Some(why) = K::rejected(text) {
            format!(" ({why})")
        } else if K::all().iter().any(|k| k.text().eq_ignore_ascii_case(text)) {
            " (keywords are case-sensitive)".to_owned()
        } else {
            String::new()
        };
        let allowed: Vec<&str> = K::all().iter().map(|k| k.text()).collect();
        Err(DecodeError::Keyword {
            value: shorten(raw),
            allowed: one_of(&allowed),
            hint,
        })
    }
}

/// Formats alternatives: `a`, `a or b`, `one of a, b, c`.
fn one_of(items: &[&str]) -> String {
    match items {
        [one] => format!("\"{one}\""),
        [a, b] => format!("\"{a}\" or \"{b}\""),
        _ => {
            let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

impl<T> Parsed<T> {
    /// A decoder for strings in `T`'s `FromStr` syntax; `detail` appends the parse error.
    pub(crate) const fn new(expected: &'static str, detail: bool) -> Self {
        Self {
            expected,
            detail,
            marker: PhantomData,
        }
    }
}

impl<T> Decode for Parsed<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    type Out = T;

    fn expected(&self) -> &'static str {
        self.expected
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<T, DecodeError> {
        let Value::String(text) = value else {
            return Err(wrong_type(self.expected, value, raw));
        };
        text.value()
            .parse()
            .map_err(|error: T::Err| DecodeError::BadText {
                value: shorten(raw),
                expected: self.expected,
                detail: if self.detail {
                    format!(" ({error})")
                } else {
                    String::new()
                },
            })
    }
}

impl Decode for FilePath {
    type Out = PathBuf;

    fn expected(&self) -> &'static str {
        "a path string"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<PathBuf, DecodeError> {
        Str.decode(value, raw)
            .map(PathBuf::from)
            .map_err(|_| wrong_type(self.expected(), value, raw))
    }
}

impl Decode for Protocol {
    type Out = IpProtocol;

    fn expected(&self) -> &'static str {
        "a protocol name (\"tcp\", \"udp\", \"icmp\", \"icmpv6\") or number 0–255"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<IpProtocol, DecodeError> {
        match value {
            Value::String(name) => {
                IpProtocol::from_name(name.value()).ok_or_else(|| DecodeError::Keyword {
                    value: shorten(raw),
                    allowed: format!("{} or a number 0–255", one_of(&IpProtocol::NAMES)),
                    hint: String::new(),
                })
            }
            Value::Integer(_) => Int(&crate::limits::IP_PROTOCOL)
                .decode(value, raw)
                .map(IpProtocol::from_number),
            other => Err(wrong_type(self.expected(), other, raw)),
        }
    }
}

impl Decode for Ports {
    type Out = PortRange;

    fn expected(&self) -> &'static str {
        "a port number or a \"LO-HI\" range string"
    }

    fn decode(&self, value: &Value, raw: &str) -> Result<PortRange, DecodeError> {
        match value {
            Value::String(_) => {
                Parsed::<PortRange>::new("a port range \"LO-HI\" such as \"8000-8080\"", true)
                    .decode(value, raw)
            }
            Value::Integer(_) => Int(&crate::limits::ANY_PORT)
                .decode(value, raw)
                .map(|port| PortRange {
                    first: port,
                    last: port,
                }),
            other => Err(wrong_type(self.expected(), other, raw)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_small_typos_only() {
        let known = ["interval_seconds", "timeout_seconds", "port"];
        assert_eq!(
            suggestion("intervall_seconds", &known),
            Some("interval_seconds")
        );
        assert_eq!(suggestion("prot", &known), Some("port"));
        assert_eq!(suggestion("colour", &known), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
