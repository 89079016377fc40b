//! CloudWatch Logs filter patterns (metric filters, subscription filters,
//! FilterLogEvents, Live Tail): parse and validate a pattern into a
//! [`FilterPattern`], and match a log event against it, naming the part
//! that failed.
//!
//! ```
//! use cairn_patterns::filter_pattern::{FilterPattern, Verdict};
//!
//! let pattern = FilterPattern::parse(r#"{ $.errorCode = "AccessDenied*" }"#).unwrap();
//! assert!(pattern.matches(r#"{"errorCode": "AccessDeniedException"}"#).is_match());
//! let Verdict::Miss(miss) = pattern.matches(r#"{"errorCode": "ThrottlingException"}"#) else { unreachable!() };
//! assert_eq!(miss.to_string(), r#"$.errorCode: "ThrottlingException" is not "AccessDenied*""#);
//! ```
//!
//! # Semantics
//!
//! From AWS's "Filter pattern syntax for metric filters, subscription
//! filters, filter log events, and Live Tail" page (and its older "Filter
//! and pattern syntax" edition where the new one is silent):
//!
//! - The empty pattern matches every event.
//! - Terms: every term must appear in the event, case-sensitively, as a
//!   substring (the older page's example has `ERROR` matching `ERRORCODE`);
//!   `-term` must not appear; `"quoted phrases"` are terms with spaces or
//!   other characters. A phrase of only spaces matches every event, as the
//!   page says of `" "`. Unquoted terms are letters, digits and `_`; the
//!   page requires quotes for anything else, so this parser does too.
//! - `?term`: any one of the `?` terms must appear — but only when every
//!   term has `?`. Mixed with other terms the `?` terms are ignored, as the
//!   page says; [`FilterPattern::warnings`] points this out.
//! - `%regex%` alone is a pattern: it matches if the regular expression
//!   matches anywhere in the event. The supported subset is the page's:
//!   letters, digits, `: _ # = @ / ; , -` and space, the operators
//!   `^ $ ? [ ] { } | \ * + .`, and `\d \D \s \S \w \W \xhh`; no groups, no
//!   other character (write it as `\xhh`), no multi-byte characters.
//! - JSON patterns (`{ ... }`) match events that are JSON objects; on any
//!   other event they miss. `&&` binds tighter than `||` (the page's
//!   "() > && > ||"); [`FilterPattern::warnings`] flags a `||` beside an
//!   unparenthesised `&&`, where that precedence is easily misread.
//! - A selector (`$.a.b`, `$.list[0]`, `$.['dotted.name']`, `$.list[*]`,
//!   `$.*`) must reach a string, a number or a boolean for a comparison to
//!   hold: one that reaches an object, an array, `null` or nothing fails
//!   every comparison, `!=` included (the page: such a filter "won't match
//!   the log format"; `null` is for `IS NULL`). Steps do not reach into an
//!   array without an index. With a `*` step, the condition holds if it
//!   holds for any value reached. A selector has at most one `*`, a pattern
//!   at most three.
//! - `=` and `!=` with a quoted or unquoted word compare the value's text
//!   (a number's JSON text, `true`, `false`): `*` at the start or end is a
//!   wildcard, `*` alone matches any value but null; a `*` in the middle is
//!   a literal star, as the older page says of `Ev*ent`. With a number
//!   (`400`, `-1.5`, `1e3`) they compare numerically: a JSON number, or a
//!   string holding a plain decimal number (not scientific notation, which
//!   the page says strings do not support). `<`, `<=`, `>`, `>=` take
//!   numbers only. `= %regex%` and `!= %regex%` test the value's text.
//! - `IS NULL`, `IS TRUE`, `IS FALSE` test the value; `NOT EXISTS` holds
//!   when the selector reaches nothing. Keywords are read in any case.
//! - Space-delimited patterns (`[a, b, ...]`) split the event on spaces;
//!   text inside `"..."` or `[...]` is one field, without its quotes or
//!   brackets. Each name takes one field and `...` any number of fields.
//!   Without `...` the last name takes the rest of the line, which is why
//!   the page's `[w1=ERROR, w2]` needs its `w2`. A condition on a field
//!   (`status_code = 4*`, `bytes > 1000`, `w1=ERROR || w1=WARN`) may name
//!   any field of the pattern; numbers compare numerically, words as above.
//!
//! # Not supported (reported as parse errors)
//!
//! - `EXISTS` and `IS NOT`: the page says CloudWatch Logs does not support
//!   them (write `$.field = *` for a field that has a value);
//! - regular expressions mixed with terms (the page allows them alone, in
//!   JSON conditions and in field conditions only);
//! - more than two regular expressions in one JSON or space-delimited
//!   pattern, or more than three `*` selectors (AWS's quotas);
//! - patterns longer than 1024 characters (the API's limit).
//!
//! Not modelled: the quota of five regex patterns per log group (a
//! property of the group, not of one pattern).

mod eval;
mod parse;
mod regex;

pub use regex::Regex;

use std::fmt;

/// The longest pattern the CloudWatch Logs API takes.
pub const MAX_LEN: usize = 1024;

/// A parsed, valid filter pattern. Two patterns are equal when they say
/// the same thing, however they were written.
#[derive(Debug, Clone)]
pub struct FilterPattern {
    body: Body,
    warnings: Vec<Warning>,
}

impl PartialEq for FilterPattern {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body
    }
}

/// What kind of pattern, and its parts.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// The empty pattern: every event matches.
    Everything,
    /// Terms and phrases, in the order written.
    Terms(Vec<Term>),
    /// A regular expression as the whole pattern.
    Regex(Regex),
    /// `{ conditions }` on a JSON event.
    Json(Expr<Condition>),
    /// `[field, field = value, ...]` on a space-delimited event.
    Delimited(Vec<Column>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub mode: TermMode,
    pub text: String,
    pub quoted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermMode {
    /// Must appear.
    Required,
    /// `-term`: must not appear.
    Excluded,
    /// `?term`: one of these must appear.
    Optional,
}

/// Conditions joined by `&&` and `||`; nested operators of one kind are
/// flattened and parentheses are implied by the nesting.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr<T> {
    Leaf(T),
    And(Vec<Expr<T>>),
    Or(Vec<Expr<T>>),
}

/// `$.selector <test>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub selector: Selector,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare(Op, Operand),
    IsNull,
    IsTrue,
    IsFalse,
    NotExists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A number as written, and its value.
    Number { text: String, value: f64 },
    /// A word or quoted string; `*` at either end is a wildcard.
    Text { text: String, quoted: bool },
    /// `%regex%`.
    Regex(Regex),
}

/// A JSON selector: `$` and the steps after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name` or `.['name']`.
    Key(String),
    /// `[n]`.
    Index(usize),
    /// `.*`: any value of an object.
    AnyKey,
    /// `[*]`: any element of an array.
    AnyIndex,
}

/// One position of a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// `...`: any number of fields.
    Ellipsis,
    /// A named field, with the condition written in its place if any (whose
    /// first comparison names the field).
    Field { name: String, condition: Option<Expr<FieldTest>> },
}

/// `name <op> value` in a space-delimited pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTest {
    pub field: String,
    pub op: Op,
    pub value: Operand,
}

/// A pattern that parses but probably does not say what its author meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Characters before the part concerned (0 is the first character).
    pub offset: usize,
    pub message: String,
}

/// Why a pattern does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Characters before the problem (0 is the first character); messages
    /// count characters from 1, as an editor's column does.
    pub offset: usize,
    /// What is wrong, as a lowercase fragment.
    pub message: String,
    /// What would have been accepted there.
    pub expected: String,
    /// A likely fix, when there is one.
    pub suggestion: Option<String>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}; expected {}", self.offset + 1, self.message, self.expected)?;
        if let Some(s) = &self.suggestion {
            write!(f, " ({s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {}

/// The outcome of matching a log event.
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

/// Why a log event did not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// The selector (`$.errorCode`) or field name (`status_code`) that
    /// failed, when one part is to blame.
    pub at: Option<String>,
    /// e.g. `"ThrottlingException" is not "AccessDenied*"`.
    pub reason: String,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{at}: {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl FilterPattern {
    /// Parses and validates a pattern.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let (body, warnings) = parse::parse(text)?;
        Ok(FilterPattern { body, warnings })
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    /// Parts that parse but are easily misread (ignored `?` terms, `&&`
    /// and `||` mixed without parentheses).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Matches one log event (a line of text; JSON patterns need it to be
    /// a JSON object).
    pub fn matches(&self, event: &str) -> Verdict {
        match eval::body(&self.body, event) {
            Ok(()) => Verdict::Match,
            Err(miss) => Verdict::Miss(miss),
        }
    }
}

impl std::str::FromStr for FilterPattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Checks a pattern's syntax, as CloudWatch Logs would on PutMetricFilter.
pub fn validate(text: &str) -> Result<(), ParseError> {
    parse::parse(text).map(|_| ())
}

// ---- display: the canonical text, which parses back to the same pattern ----

fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl fmt::Display for FilterPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.body)
    }
}

impl fmt::Display for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Everything => Ok(()),
            Body::Terms(terms) => {
                let parts: Vec<String> = terms.iter().map(Term::to_string).collect();
                write!(f, "{}", parts.join(" "))
            }
            Body::Regex(r) => write!(f, "{r}"),
            Body::Json(e) => write!(f, "{{ {e} }}"),
            Body::Delimited(columns) => {
                let parts: Vec<String> = columns.iter().map(Column::to_string).collect();
                write!(f, "[{}]", parts.join(", "))
            }
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.mode {
            TermMode::Required => "",
            TermMode::Excluded => "-",
            TermMode::Optional => "?",
        };
        if self.quoted { write!(f, "{mark}{}", quote(&self.text)) } else { write!(f, "{mark}{}", self.text) }
    }
}

impl<T: fmt::Display> fmt::Display for Expr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Leaf(t) => write!(f, "{t}"),
            // Parentheses around every nested group, so that no reader has
            // to know that `&&` binds tighter than `||`.
            Expr::Or(children) | Expr::And(children) => {
                let parts: Vec<String> = children
                    .iter()
                    .map(|c| match c {
                        Expr::Leaf(_) => c.to_string(),
                        _ => format!("({c})"),
                    })
                    .collect();
                let join = if matches!(self, Expr::Or(_)) { " || " } else { " && " };
                write!(f, "{}", parts.join(join))
            }
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.test {
            Test::Compare(op, value) => write!(f, "{} {op} {value}", self.selector),
            Test::IsNull => write!(f, "{} IS NULL", self.selector),
            Test::IsTrue => write!(f, "{} IS TRUE", self.selector),
            Test::IsFalse => write!(f, "{} IS FALSE", self.selector),
            Test::NotExists => write!(f, "{} NOT EXISTS", self.selector),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Number { text, .. } => f.write_str(text),
            Operand::Text { text, quoted: true } => f.write_str(&quote(text)),
            Operand::Text { text, quoted: false } => f.write_str(text),
            Operand::Regex(r) => write!(f, "{r}"),
        }
    }
}

/// Whether a property name can follow `.` without brackets.
pub(crate) fn plain_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for step in &self.steps {
            match step {
                Step::Key(k) if plain_key(k) => write!(f, ".{k}")?,
                Step::Key(k) if k.contains('\'') => write!(f, ".[\"{k}\"]")?,
                Step::Key(k) => write!(f, ".['{k}']")?,
                Step::Index(i) => write!(f, "[{i}]")?,
                Step::AnyKey => f.write_str(".*")?,
                Step::AnyIndex => f.write_str("[*]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Ellipsis => f.write_str("..."),
            Column::Field { name, condition: None } => f.write_str(name),
            Column::Field { condition: Some(c), .. } => write!(f, "{c}"),
        }
    }
}

impl fmt::Display for FieldTest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.field, self.op, self.value)
    }
}
