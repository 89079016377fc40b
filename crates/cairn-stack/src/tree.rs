//! A YAML document read into a tree of nodes that each know where they were
//! written.
//!
//! serde-saphyr gives positions only through `Spanned<T>`, so every node of
//! this tree (mapping keys included) is read as a `Spanned<Value>`. Duplicate
//! keys are passed through and reported by the envelope reader, so that all of
//! them are found in one run; anchors and aliases are bounded by the budget
//! and alias limits set in [`options`].

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Budget, DuplicateKeyPolicy, Error, Location, Spanned};

/// A 1-based position; line 0 means unknown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos { line: 0, col: 0 };

    fn from_location(loc: Location) -> Pos {
        if loc == Location::UNKNOWN || loc.line() == 0 {
            return Pos::UNKNOWN;
        }
        Pos { line: usize::try_from(loc.line()).unwrap_or(0), col: usize::try_from(loc.column()).unwrap_or(0).max(1) }
    }
}

/// A YAML node with the position where it is written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// In the order written, duplicates included.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What this value is, for "found …" in messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// A scalar as written (near enough) for messages.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some("null".into()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::UInt(u) => Some(u.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Str(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        // `defined` is where the text is, even for a node replayed through an alias.
        let loc = if spanned.defined == Location::UNKNOWN { spanned.referenced } else { spanned.defined };
        Ok(Node { pos: Pos::from_location(loc), value: spanned.value })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(Value::Map(entries))
    }
}

/// A problem the YAML reader itself found: syntax, budget, alias limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReadError {
    pub pos: Pos,
    pub message: String,
    pub expected: Option<String>,
}

/// Limits sized for stack files (a few hundred lines), far below the
/// crate's defaults, so that an alias bomb fails fast and small.
fn options() -> serde_saphyr::Options {
    let mut budget = Budget::default();
    budget.max_events = 200_000;
    budget.max_nodes = 100_000;
    budget.max_aliases = 5_000;
    budget.max_anchors = 5_000;
    budget.max_depth = 64;
    budget.max_documents = 1;
    budget.max_total_scalar_bytes = 16 * 1024 * 1024;
    let mut opts = serde_saphyr::options! {
        budget: Some(budget),
        // Reported by the envelope reader, all at once and located.
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        // YAML 1.2: only true/false are booleans; `yes`, `on` stay strings.
        strict_booleans: true,
        // AWS account ids and the like keep their leading zeros.
        leading_zero_numbers_as_strings: true,
        with_snippet: false,
    };
    opts.alias_limits.max_total_replayed_events = 100_000;
    opts.alias_limits.max_replay_stack_depth = 32;
    opts
}

/// Reads a document; `Ok(None)` for a document with no content.
pub(crate) fn read(text: &str) -> Result<Option<Node>, ReadError> {
    if !has_content(text) {
        return Ok(None);
    }
    match serde_saphyr::from_str_with_options::<Node>(text, options()) {
        Ok(node) => Ok(Some(node)),
        Err(err) => Err(read_error(&err)),
    }
}

/// Whether the text holds anything besides blank lines, comments and
/// document markers.
fn has_content(text: &str) -> bool {
    text.lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .any(|l| !l.is_empty() && !l.starts_with('#') && l != "---" && l != "...")
}

fn read_error(err: &Error) -> ReadError {
    let mut inner = err;
    while let Error::AliasError { error, .. } | Error::WithSnippet { error, .. } = inner {
        inner = error;
    }
    let pos = err.location().or_else(|| inner.location()).map_or(Pos::UNKNOWN, Pos::from_location);
    let (message, expected) = match inner {
        Error::MultipleDocuments { .. } | Error::Budget { breach: BudgetBreach::Documents { .. }, .. } => {
            ("the file holds more than one YAML document".to_string(), Some("one stack per file".to_string()))
        }
        Error::Budget { .. }
        | Error::AliasReplayLimitExceeded { .. }
        | Error::AliasReplayStackDepthExceeded { .. }
        | Error::AliasReplayCounterOverflow { .. } => (
            format!(
                "the document is too large or expands too much through anchors and aliases ({})",
                message_of(inner)
            ),
            Some(
                "a stack file of ordinary size; anchors and aliases are allowed but their expansion is bounded"
                    .to_string(),
            ),
        ),
        _ => (format!("invalid YAML: {}", message_of(inner)), None),
    };
    ReadError { pos, message, expected }
}

/// serde-saphyr's message without its location suffix, on one line, and
/// without a trailing period.
fn message_of(err: &Error) -> String {
    use serde_saphyr::MessageFormatter;
    let text = serde_saphyr::UserMessageFormatter.format_message(err);
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = one_line.trim().trim_end_matches('.');
    let mut chars = trimmed.chars();
    match (chars.next(), chars.next()) {
        // Lowercase the first letter unless it starts an acronym ("YAML").
        (Some(first), second) if first.is_uppercase() && !second.is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(trimmed.chars().skip(1)).collect()
        }
        _ => trimmed.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are() {
        let root = read("a: 1\nb:\n  - x\n  - {c: true}\n").unwrap().unwrap();
        let Value::Map(entries) = &root.value else { panic!("{root:?}") };
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert_eq!(entries[0].1, Node { pos: Pos { line: 1, col: 4 }, value: Value::UInt(1) });
        assert_eq!(entries[1].0.pos, Pos { line: 2, col: 1 });
        let Value::Seq(items) = &entries[1].1.value else { panic!() };
        assert_eq!(items[0].pos, Pos { line: 3, col: 5 });
        let Value::Map(inner) = &items[1].value else { panic!() };
        assert_eq!(inner[0].0.pos, Pos { line: 4, col: 6 });
        assert_eq!(inner[0].1.value, Value::Bool(true));
    }

    #[test]
    fn duplicates_are_kept_for_the_reader() {
        let root = read("a: 1\na: 2\n").unwrap().unwrap();
        let Value::Map(entries) = &root.value else { panic!() };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].0.pos, Pos { line: 2, col: 1 });
    }

    #[test]
    fn scalars_follow_yaml_1_2() {
        let root = read("[yes, on, true, 012, 12, -3, 1.5, ~, '7']").unwrap().unwrap();
        let Value::Seq(items) = root.value else { panic!() };
        let values: Vec<Value> = items.into_iter().map(|n| n.value).collect();
        assert_eq!(
            values,
            vec![
                Value::Str("yes".into()),
                Value::Str("on".into()),
                Value::Bool(true),
                Value::Str("012".into()),
                Value::UInt(12),
                Value::Int(-3),
                Value::Float(1.5),
                Value::Null,
                Value::Str("7".into()),
            ]
        );
    }

    #[test]
    fn empty_documents_have_no_root() {
        assert_eq!(read("").unwrap(), None);
        assert_eq!(read("# only a comment\n---\n").unwrap(), None);
    }
}
