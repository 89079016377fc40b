//! EventBridge event patterns: parse a pattern (JSON) into an
//! [`EventPattern`], validate it as EventBridge does, and match an event
//! against it, naming the first field that failed. [`EventPattern::sample`]
//! goes the other way: it builds an event the pattern matches, on a
//! [`skeleton`] envelope.
//!
//! ```
//! use cairn_patterns::event_pattern::{EventPattern, Verdict};
//! use serde_json::json;
//!
//! let pattern = EventPattern::parse(&json!({"source": ["aws.ec2"], "detail": {"state": ["stopped"]}})).unwrap();
//! let event = json!({"source": "aws.ec2", "detail": {"state": "running"}});
//! match pattern.matches(&event) {
//!     Verdict::Match => unreachable!(),
//!     Verdict::Miss(miss) => assert_eq!(miss.to_string(), r#"detail.state: "running" is not one of ["stopped"]"#),
//! }
//! ```
//!
//! # Semantics
//!
//! Taken from AWS's "Event patterns", "Content filtering" and "Arrays in
//! event patterns" pages, and, where those are silent, from aws/event-ruler,
//! the matcher EventBridge runs (facts read from its tests and compiler,
//! no code taken):
//!
//! - Fields of one object must all match (AND); the values listed for a
//!   field are alternatives (OR); `$or` lists at least two objects, one of
//!   which must match, evaluated at the level where `$or` stands.
//! - A field whose event value is an array matches if any element matches
//!   (nested arrays are flattened). An array of objects is matched element
//!   by element, so two fields of one nested pattern must be found in the
//!   same element ("array consistency", as event-ruler's JSON matcher does).
//! - Exact values are type-aware: `"5"` does not match `5`; numbers match
//!   by value (`5` matches `5.0`) when both are exact doubles, else by
//!   their text; a string that is an IP address matches the same address
//!   written another way (`2001:db8::1` and `2001:0db8:0:0:0:0:0:1`).
//! - `prefix`, `suffix`, `equals-ignore-case` and `wildcard` match strings
//!   only. Ignoring case compares Unicode lower case.
//! - `wildcard`: `*` matches any run of characters; `\*` is a literal
//!   star and `\\` a literal backslash; `**` and any other escape are
//!   rejected, as EventBridge rejects them.
//! - `numeric` matches JSON numbers only (never a numeric string), as
//!   doubles; a bound that is not an exact double (an integer past 2^53
//!   that a double rounds) is rejected, as event-ruler rejects it. The
//!   ±1e9 range in older AWS pages is not enforced: event-ruler compares
//!   any double.
//! - `anything-but` matches any present value that is not excluded: a
//!   string list excludes only those strings (a number, `true` or `null`
//!   still match), a number list only those numbers, and the `prefix`,
//!   `suffix`, `equals-ignore-case` and `wildcard` forms only strings that
//!   have them. A missing field never matches `anything-but`.
//! - `exists` looks at leaf values: `true` matches a field with at least
//!   one value (`null` is a value; an object or an empty array is not),
//!   `false` matches its absence (and, as event-ruler documents, a field
//!   whose value is an object).
//! - `cidr` takes `address/bits`, IPv4 or IPv6, and matches strings that
//!   are addresses in that range. The prefix length must be below 32
//!   (IPv4) or 128 (IPv6), as event-ruler requires; a single address is
//!   written as an exact value.
//!
//! # Not supported (reported, never silently mismatched)
//!
//! A [`PatternError`] with `unsupported: true` marks a pattern that AWS
//! accepts but whose AWS meaning this crate does not reproduce; a caller
//! that deploys may let it through, a caller that tests must not:
//!
//! - field names containing `.`: event-ruler joins paths with dots, so
//!   `{"a.b": [1]}` also matches `{"a": {"b": 1}}`, which this matcher
//!   does not;
//! - the same field both outside and inside a `$or` alternative:
//!   event-ruler lets the alternative replace the outer condition.
//!
//! Not checked: the pattern's size (2048 characters by default, a quota
//! AWS can raise to 4096) and event-ruler's complexity limit on wildcards.
//! Event field names containing `.` are looked up literally.

mod eval;
mod parse;
mod sample;

pub use sample::skeleton;

use serde_json::{Map, Value};
use std::fmt;
use std::net::IpAddr;

/// One step of a path into a pattern: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

impl fmt::Display for PathSeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSeg::Key(k) => write!(f, "{k}"),
            PathSeg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A problem with an event pattern, at a path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Where in the pattern, e.g. `["detail", "state"]` or
    /// `["detail", "size", 0, "numeric"]`.
    pub path: Vec<PathSeg>,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// What would have been accepted.
    pub expected: String,
    /// A likely fix, when there is one.
    pub suggestion: Option<String>,
    /// AWS accepts the pattern (as far as its documentation and
    /// event-ruler say) but this crate cannot match it as AWS would.
    pub unsupported: bool,
}

impl PatternError {
    /// `detail.size[0].numeric`, or `(the pattern)` at the root.
    pub fn path_text(&self) -> String {
        path_text(&self.path)
    }
}

pub(crate) fn path_text(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) if out.is_empty() => out.push_str(k),
            PathSeg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() { "(the pattern)".into() } else { out }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; expected {}", self.path_text(), self.message, self.expected)?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PatternError {}

/// A parsed, valid event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern {
    root: Object,
}

/// The fields of one pattern object, all of which must match.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub fields: Vec<Field>,
}

/// One entry of a pattern object.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A named event field and what it must match.
    Match { name: String, node: Node },
    /// `$or`: at least one of these objects must match at this level.
    AnyOf(Vec<Object>),
}

/// What a field must match.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A nested object of fields.
    Object(Object),
    /// A list of alternatives for a leaf value.
    Values(Vec<Matcher>),
}

/// One alternative in a field's list.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// An exact string, number, boolean or null.
    Equals(Value),
    /// `{"exactly": "..."}` (event-ruler's spelling of an exact string).
    Exactly(String),
    Prefix(String),
    /// `{"prefix": {"equals-ignore-case": "..."}}`.
    PrefixIgnoreCase(String),
    Suffix(String),
    /// `{"suffix": {"equals-ignore-case": "..."}}`.
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(String),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

/// What `anything-but` excludes.
#[derive(Debug, Clone, PartialEq)]
pub enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<serde_json::Number>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    EqualsIgnoreCase(Vec<String>),
    Wildcards(Vec<String>),
}

/// A `numeric` range; `=` is both bounds inclusive at one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub inclusive: bool,
}

/// A `cidr` block as written, with its parsed network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    pub text: String,
    pub address: IpAddr,
    pub prefix_len: u8,
}

/// The outcome of matching an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Match,
    Miss(Miss),
}

impl Verdict {
    pub fn is_match(&self) -> bool {
        matches!(self, Verdict::Match)
    }
}

/// Why an event did not match: the first field that failed, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// Field names from the event's root, e.g. `["detail", "state"]`.
    pub path: Vec<String>,
    /// e.g. `"running" is not one of ["stopped"]`.
    pub reason: String,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path.join("."), self.reason)
        }
    }
}

impl EventPattern {
    /// Parses and validates a pattern; every problem found is returned.
    pub fn parse(pattern: &Value) -> Result<Self, Vec<PatternError>> {
        let mut parser = parse::Parser::new(None);
        let root = parser.root(pattern);
        match (root, parser.errors.is_empty()) {
            (Some(root), true) => Ok(EventPattern { root }),
            _ => Err(parser.errors),
        }
    }

    /// Parses a pattern from JSON text.
    pub fn from_json(text: &str) -> Result<Self, Vec<PatternError>> {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => Self::parse(&v),
            Err(e) => Err(vec![PatternError {
                path: vec![],
                message: format!("the event pattern is not valid JSON: {e}"),
                expected: "a JSON object like {\"source\": [\"aws.ec2\"]}".into(),
                suggestion: None,
                unsupported: false,
            }]),
        }
    }

    /// The fields at the pattern's top level.
    pub fn root(&self) -> &Object {
        &self.root
    }

    /// The pattern as JSON, in the form AWS takes; parsing it gives this
    /// pattern back.
    pub fn to_value(&self) -> Value {
        self.root.to_value()
    }

    /// Matches an event, naming the first field that failed on a miss.
    pub fn matches(&self, event: &Value) -> Verdict {
        let mut path = Vec::new();
        match eval::object(&self.root, Some(event), &mut path) {
            Ok(()) => Verdict::Match,
            Err(miss) => Verdict::Miss(miss),
        }
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

impl std::str::FromStr for EventPattern {
    type Err = Vec<PatternError>;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_json(s)
    }
}

/// Every problem with a pattern, as EventBridge would report it (and the
/// constructs this crate cannot match, marked `unsupported`).
pub fn validate(pattern: &Value) -> Vec<PatternError> {
    let mut parser = parse::Parser::new(None);
    parser.root(pattern);
    parser.errors
}

/// [`validate`], accepting unchecked any string that `is_placeholder`
/// claims (a reference not yet resolved, such as `${param.states}`) where a
/// pattern, a list of values, a value or a number is expected.
pub fn validate_with(pattern: &Value, is_placeholder: &dyn Fn(&str) -> bool) -> Vec<PatternError> {
    let mut parser = parse::Parser::new(Some(is_placeholder));
    parser.root(pattern);
    parser.errors
}

impl Object {
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        for field in &self.fields {
            match field {
                Field::Match { name, node } => {
                    map.insert(name.clone(), node.to_value());
                }
                Field::AnyOf(alternatives) => {
                    map.insert("$or".into(), Value::Array(alternatives.iter().map(Object::to_value).collect()));
                }
            }
        }
        Value::Object(map)
    }
}

impl Node {
    pub fn to_value(&self) -> Value {
        match self {
            Node::Object(o) => o.to_value(),
            Node::Values(ms) => Value::Array(ms.iter().map(Matcher::to_value).collect()),
        }
    }
}

fn op(name: &str, arg: Value) -> Value {
    let mut map = Map::new();
    map.insert(name.into(), arg);
    Value::Object(map)
}

/// A single value stays single; anything else is a list.
fn one_or_list<T: Clone + Into<Value>>(items: &[T]) -> Value {
    match items {
        [one] => one.clone().into(),
        _ => Value::Array(items.iter().cloned().map(Into::into).collect()),
    }
}

/// A double as JSON: whole numbers without a fraction, as written.
pub(crate) fn number_value(x: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() <= EXACT {
        // In range and whole, so the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

impl Matcher {
    pub fn to_value(&self) -> Value {
        match self {
            Matcher::Equals(v) => v.clone(),
            Matcher::Exactly(s) => op("exactly", s.as_str().into()),
            Matcher::Prefix(s) => op("prefix", s.as_str().into()),
            Matcher::PrefixIgnoreCase(s) => op("prefix", op("equals-ignore-case", s.as_str().into())),
            Matcher::Suffix(s) => op("suffix", s.as_str().into()),
            Matcher::SuffixIgnoreCase(s) => op("suffix", op("equals-ignore-case", s.as_str().into())),
            Matcher::EqualsIgnoreCase(s) => op("equals-ignore-case", s.as_str().into()),
            Matcher::Wildcard(s) => op("wildcard", s.as_str().into()),
            Matcher::AnythingBut(ab) => op(
                "anything-but",
                match ab {
                    AnythingBut::Strings(l) => one_or_list(l),
                    AnythingBut::Numbers(l) => one_or_list(l),
                    AnythingBut::Prefixes(l) => op("prefix", one_or_list(l)),
                    AnythingBut::Suffixes(l) => op("suffix", one_or_list(l)),
                    AnythingBut::EqualsIgnoreCase(l) => op("equals-ignore-case", one_or_list(l)),
                    AnythingBut::Wildcards(l) => op("wildcard", one_or_list(l)),
                },
            ),
            Matcher::Numeric(r) => op("numeric", r.to_value()),
            Matcher::Exists(b) => op("exists", Value::Bool(*b)),
            Matcher::Cidr(c) => op("cidr", c.text.as_str().into()),
        }
    }
}

impl Range {
    pub fn contains(&self, x: f64) -> bool {
        let above = self.lower.is_none_or(|b| if b.inclusive { x >= b.value } else { x > b.value });
        let below = self.upper.is_none_or(|b| if b.inclusive { x <= b.value } else { x < b.value });
        above && below
    }

    /// `[">", 0, "<=", 5]` and the like.
    pub fn to_value(&self) -> Value {
        let mut items = Vec::new();
        if let (Some(l), Some(u)) = (self.lower, self.upper)
            && l.inclusive
            && u.inclusive
            && l.value == u.value
        {
            return Value::Array(vec!["=".into(), number_value(l.value)]);
        }
        if let Some(l) = self.lower {
            items.push(Value::from(if l.inclusive { ">=" } else { ">" }));
            items.push(number_value(l.value));
        }
        if let Some(u) = self.upper {
            items.push(Value::from(if u.inclusive { "<=" } else { "<" }));
            items.push(number_value(u.value));
        }
        Value::Array(items)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix_len)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix_len)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IP address as event-ruler recognises one: dotted decimal, or hex
/// digits and colons, that parses as an address.
pub(crate) fn ip_address(s: &str) -> Option<IpAddr> {
    let v4 = {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let v6 = s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    if v4 || v6 { s.parse().ok() } else { None }
}

/// A JSON number as an exact double, if it is one.
pub(crate) fn exact_f64(n: &serde_json::Number) -> Option<f64> {
    if let Some(i) = n.as_i64() {
        // The cast rounds; the round trip through i128 says whether it did.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let f = i as f64;
        #[allow(clippy::cast_possible_truncation)]
        return (f as i128 == i128::from(i)).then_some(f);
    }
    if let Some(u) = n.as_u64() {
        #[allow(clippy::cast_precision_loss)]
        let f = u as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        return (f as u128 == u128::from(u)).then_some(f);
    }
    n.as_f64().filter(|f| f.is_finite())
}
