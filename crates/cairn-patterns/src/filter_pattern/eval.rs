//! Matching a log event against a parsed filter pattern.

use super::parse::number;
use super::{Body, Column, Condition, Expr, FieldTest, Miss, Op, Operand, Selector, Step, Term, TermMode, Test};
use serde_json::Value;

/// A failure before it is worded: equality misses on one field are kept
/// apart so that `a = x || a = y` can say "is not one of x, y".
struct Failure {
    at: Option<String>,
    kind: Kind,
}

enum Kind {
    NotEqual { actual: String, wanted: Vec<String> },
    Absent { wanted: Vec<String> },
    Other(String),
}

impl Failure {
    fn other(at: Option<String>, reason: String) -> Self {
        Failure { at, kind: Kind::Other(reason) }
    }

    fn reason(&self) -> String {
        match &self.kind {
            Kind::NotEqual { actual, wanted } if wanted.len() == 1 => format!("{actual} is not {}", wanted[0]),
            Kind::NotEqual { actual, wanted } => format!("{actual} is not one of {}", wanted.join(", ")),
            Kind::Absent { wanted } => format!("is absent; the pattern wants {}", wanted.join(" or ")),
            Kind::Other(reason) => reason.clone(),
        }
    }

    fn into_miss(self) -> Miss {
        let reason = self.reason();
        Miss { at: self.at, reason }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.at {
            Some(at) => write!(f, "{at}: {}", self.reason()),
            None => write!(f, "{}", self.reason()),
        }
    }
}

pub(super) fn body(body: &Body, event: &str) -> Result<(), Miss> {
    match body {
        Body::Everything => Ok(()),
        Body::Terms(terms) => self::terms(terms, event),
        Body::Regex(r) if r.is_match(event) => Ok(()),
        Body::Regex(r) => Err(Miss { at: None, reason: format!("the event does not match {r}") }),
        Body::Json(expr) => {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(event.trim()) else {
                return Err(Miss {
                    at: None,
                    reason: "the event is not a JSON object, and a JSON pattern matches only JSON objects".into(),
                });
            };
            let root = Value::Object(map);
            eval(expr, &mut |c| condition(c, &root)).map_err(Failure::into_miss)
        }
        Body::Delimited(columns) => delimited(columns, event).map_err(Failure::into_miss),
    }
}

fn shown(term: &Term) -> String {
    if term.quoted { format!("\"{}\"", term.text) } else { term.text.clone() }
}

fn contains(term: &Term, event: &str) -> bool {
    // The page: `" "` matches every event.
    (term.quoted && term.text.trim().is_empty()) || event.contains(term.text.as_str())
}

fn terms(terms: &[Term], event: &str) -> Result<(), Miss> {
    let of = |mode: TermMode| terms.iter().filter(move |t| t.mode == mode);
    let only_optional = terms.iter().all(|t| t.mode == TermMode::Optional);
    if only_optional && !terms.is_empty() {
        if terms.iter().any(|t| contains(t, event)) {
            return Ok(());
        }
        let list: Vec<String> = terms.iter().map(|t| format!("`{}`", shown(t))).collect();
        return Err(Miss { at: None, reason: format!("none of the terms {} appears", list.join(", ")) });
    }
    if let Some(t) = of(TermMode::Required).find(|t| !contains(t, event)) {
        return Err(Miss { at: None, reason: format!("the term `{}` does not appear", shown(t)) });
    }
    if let Some(t) = of(TermMode::Excluded).find(|t| contains(t, event)) {
        return Err(Miss { at: None, reason: format!("the excluded term `{}` appears", shown(t)) });
    }
    Ok(())
}

fn eval<T>(expr: &Expr<T>, leaf: &mut dyn FnMut(&T) -> Result<(), Failure>) -> Result<(), Failure> {
    match expr {
        Expr::Leaf(t) => leaf(t),
        Expr::And(children) => children.iter().try_for_each(|c| eval(c, leaf)),
        Expr::Or(children) => {
            let mut failures = Vec::new();
            for child in children {
                match eval(child, leaf) {
                    Ok(()) => return Ok(()),
                    Err(f) => failures.push(f),
                }
            }
            Err(merge(failures))
        }
    }
}

/// One failure for an `||` none of whose sides held.
fn merge(failures: Vec<Failure>) -> Failure {
    let Some(first) = failures.first() else { return Failure::other(None, "no alternative matched".into()) };
    let at = first.at.clone();
    if at.is_some() && failures.iter().all(|f| f.at == at) {
        if failures.iter().all(|f| matches!(f.kind, Kind::Absent { .. })) {
            let wanted = failures
                .into_iter()
                .flat_map(|f| match f.kind {
                    Kind::Absent { wanted } => wanted,
                    _ => Vec::new(),
                })
                .collect();
            return Failure { at, kind: Kind::Absent { wanted } };
        }
        let actual = match &first.kind {
            Kind::NotEqual { actual, .. } => Some(actual.clone()),
            _ => None,
        };
        let same_actual =
            failures.iter().all(|f| matches!(&f.kind, Kind::NotEqual { actual: a, .. } if Some(a) == actual.as_ref()));
        if let (Some(actual), true) = (actual, same_actual) {
            let wanted = failures
                .into_iter()
                .flat_map(|f| match f.kind {
                    Kind::NotEqual { wanted, .. } => wanted,
                    _ => Vec::new(),
                })
                .collect();
            return Failure { at, kind: Kind::NotEqual { actual, wanted } };
        }
        let reasons: Vec<String> = failures.iter().map(Failure::reason).collect();
        return Failure::other(at, reasons.join("; and "));
    }
    let each: Vec<String> = failures.iter().enumerate().map(|(i, f)| format!("({}) {f}", i + 1)).collect();
    Failure::other(None, format!("no alternative matched: {}", each.join("; ")))
}

fn resolve<'v>(selector: &Selector, root: &'v Value) -> Vec<&'v Value> {
    let mut current = vec![root];
    for step in &selector.steps {
        let mut next = Vec::new();
        for v in current {
            match (step, v) {
                (Step::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                (Step::AnyKey, Value::Object(m)) => next.extend(m.values()),
                (Step::AnyIndex, Value::Array(a)) => next.extend(a.iter()),
                _ => {}
            }
        }
        current = next;
    }
    current
}

fn show(v: &Value) -> String {
    match v {
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
        scalar => scalar.to_string(),
    }
}

fn condition(c: &Condition, root: &Value) -> Result<(), Failure> {
    let at = Some(c.selector.to_string());
    let found = resolve(&c.selector, root);
    let first = found.first().map(|v| show(v));
    let fail = |reason: String| Err(Failure::other(at.clone(), reason));
    let absent = |wanted: String| Err(Failure { at: at.clone(), kind: Kind::Absent { wanted: vec![wanted] } });
    let state_test = |want: &dyn Fn(&Value) -> bool, name: &str| match &first {
        _ if found.iter().any(|v| want(v)) => Ok(()),
        None => absent(name.to_string()),
        Some(v) => fail(format!("{v} is not {name}")),
    };
    match &c.test {
        Test::NotExists => match &first {
            None => Ok(()),
            Some(v) => fail(format!("is present ({v}); the pattern wants it absent")),
        },
        Test::IsNull => state_test(&Value::is_null, "null"),
        Test::IsTrue => state_test(&|v| v.as_bool() == Some(true), "true"),
        Test::IsFalse => state_test(&|v| v.as_bool() == Some(false), "false"),
        Test::Compare(op, operand) => {
            if found.iter().any(|v| compare_value(*op, operand, v)) {
                return Ok(());
            }
            let Some(v) = found.iter().find(|v| is_value(v)).or(found.first()) else {
                return absent(format!("{op} {operand}"));
            };
            Err(compare_failure(at.clone(), *op, operand, v))
        }
    }
}

fn is_value(v: &Value) -> bool {
    !(v.is_array() || v.is_object() || v.is_null())
}

fn compare_failure(at: Option<String>, op: Op, operand: &Operand, v: &Value) -> Failure {
    let actual = show(v);
    let reason = match v {
        Value::Null => "is null, which no comparison matches (`IS NULL` tests for it)".to_string(),
        Value::Array(_) | Value::Object(_) => format!("is {actual}, not a value, so no comparison matches it"),
        _ => return mismatch(at, op, operand, actual),
    };
    Failure::other(at, reason)
}

fn mismatch(at: Option<String>, op: Op, operand: &Operand, actual: String) -> Failure {
    match op {
        Op::Eq => Failure { at, kind: Kind::NotEqual { actual, wanted: vec![operand.to_string()] } },
        Op::Ne => Failure::other(at, format!("{actual} is {operand}, which `!=` excludes")),
        _ => Failure::other(at, format!("{actual} is not {op} {operand}")),
    }
}

/// A plain decimal in a JSON string: the page says strings do not support
/// scientific notation.
fn plain_decimal(s: &str) -> Option<f64> {
    if s.contains(['e', 'E']) { None } else { number(s) }
}

fn compare_value(op: Op, operand: &Operand, v: &Value) -> bool {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return false,
    };
    let numeric = || match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => plain_decimal(s),
        _ => None,
    };
    compare(op, operand, &text, numeric)
}

fn compare(op: Op, operand: &Operand, text: &str, numeric: impl FnOnce() -> Option<f64>) -> bool {
    let equal = match operand {
        Operand::Text { text: pattern, .. } => glob(pattern, text),
        Operand::Regex(r) => r.is_match(text),
        Operand::Number { value, .. } => {
            let x = numeric();
            return match op {
                Op::Eq => x == Some(*value),
                Op::Ne => x != Some(*value),
                Op::Lt => x.is_some_and(|x| x < *value),
                Op::Le => x.is_some_and(|x| x <= *value),
                Op::Gt => x.is_some_and(|x| x > *value),
                Op::Ge => x.is_some_and(|x| x >= *value),
            };
        }
    };
    match op {
        Op::Eq => equal,
        Op::Ne => !equal,
        _ => false,
    }
}

/// `*` alone matches anything; at the start or the end it matches any run
/// of characters; elsewhere it is a literal star.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let lead = pattern.starts_with('*');
    let trail = pattern.ends_with('*');
    let core = &pattern[usize::from(lead)..pattern.len() - usize::from(trail)];
    match (lead, trail) {
        (true, true) => text.contains(core),
        (true, false) => text.ends_with(core),
        (false, true) => text.starts_with(core),
        (false, false) => text == core,
    }
}

// ---- space-delimited ---------------------------------------------------------------

struct Token {
    text: String,
    start: usize,
}

/// Splits on spaces and tabs; `"..."` and `[...]` are one field each,
/// without their quotes or brackets.
fn tokenize(line: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c == ' ' || c == '\t' {
            chars.next();
            continue;
        }
        let close = match c {
            '"' => Some('"'),
            '[' => Some(']'),
            _ => None,
        };
        let mut text = String::new();
        match close {
            Some(close) => {
                chars.next();
                for (_, c) in chars.by_ref() {
                    if c == close {
                        break;
                    }
                    text.push(c);
                }
            }
            None => {
                while let Some(&(_, c)) = chars.peek() {
                    if c == ' ' || c == '\t' {
                        break;
                    }
                    text.push(c);
                    chars.next();
                }
            }
        }
        tokens.push(Token { text, start });
    }
    tokens
}

/// Ways of aligning fields tried before giving up on a line.
const MAX_ALIGNMENTS: usize = 10_000;

fn delimited(columns: &[Column], line: &str) -> Result<(), Failure> {
    let tokens = tokenize(line);
    let named = columns.iter().filter(|c| matches!(c, Column::Field { .. })).count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if !columns.iter().any(|c| matches!(c, Column::Ellipsis)) {
        let n = columns.len();
        if tokens.len() < n {
            return Err(Failure::other(
                None,
                format!("the event has {} field{}; the pattern names {n}", tokens.len(), plural(tokens.len())),
            ));
        }
        let mut bound: Vec<(&str, String)> = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            if let Column::Field { name, .. } = column {
                // The last field takes the rest of the line.
                let text = if i + 1 == n && tokens.len() > n {
                    line[tokens[i].start..].trim_end().to_string()
                } else {
                    tokens[i].text.clone()
                };
                bound.push((name, text));
            }
        }
        return conditions(columns, &bound);
    }
    let mut search = Alignment { columns, tokens: &tokens, bound: Vec::new(), first: None, tried: 0 };
    if search.run(0, 0) {
        return Ok(());
    }
    match search.first {
        Some(failure) => Err(failure),
        None if search.tried >= MAX_ALIGNMENTS => Err(Failure::other(
            None,
            format!("gave up after {MAX_ALIGNMENTS} ways of aligning the event's fields with the pattern's"),
        )),
        None => Err(Failure::other(
            None,
            format!("the event has {} field{}; the pattern needs at least {named}", tokens.len(), plural(tokens.len())),
        )),
    }
}

/// A search over the ways `...` can split the event's fields.
struct Alignment<'a> {
    columns: &'a [Column],
    tokens: &'a [Token],
    bound: Vec<(&'a str, String)>,
    first: Option<Failure>,
    tried: usize,
}

impl Alignment<'_> {
    fn run(&mut self, column: usize, token: usize) -> bool {
        if self.tried >= MAX_ALIGNMENTS {
            return false;
        }
        let Some(c) = self.columns.get(column) else {
            if token != self.tokens.len() {
                return false;
            }
            self.tried += 1;
            return match conditions(self.columns, &self.bound) {
                Ok(()) => true,
                Err(f) => {
                    self.first.get_or_insert(f);
                    false
                }
            };
        };
        match c {
            Column::Ellipsis => (token..=self.tokens.len()).any(|next| self.run(column + 1, next)),
            Column::Field { name, .. } => {
                let Some(t) = self.tokens.get(token) else { return false };
                self.bound.push((name, t.text.clone()));
                let found = self.run(column + 1, token + 1);
                self.bound.pop();
                found
            }
        }
    }
}

fn conditions(columns: &[Column], bound: &[(&str, String)]) -> Result<(), Failure> {
    for column in columns {
        if let Column::Field { condition: Some(expr), .. } = column {
            eval(expr, &mut |t| field_test(t, bound))?;
        }
    }
    Ok(())
}

fn field_test(t: &FieldTest, bound: &[(&str, String)]) -> Result<(), Failure> {
    let at = Some(t.field.clone());
    let Some((_, text)) = bound.iter().find(|(name, _)| *name == t.field) else {
        return Err(Failure::other(at, "is not among the event's fields".into()));
    };
    if compare(t.op, &t.value, text, || number(text)) {
        return Ok(());
    }
    Err(mismatch(at, t.op, &t.value, Value::String(text.clone()).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_the_page() {
        assert!(
            glob("*Event", "PutEvent") && glob("Event*", "EventName") && glob("*html*", "GET /index.html HTTP/1.0")
        );
        assert!(glob("Ev*ent", "Ev*ent") && !glob("Ev*ent", "Evzent"));
        assert!(glob("*", "") && glob("123.123.*", "123.123.0.1") && !glob("123.123.*", "111.111.111.111"));
    }

    #[test]
    fn fields_split_on_spaces_with_quoted_and_bracketed_groups() {
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534"#;
        let texts: Vec<String> = tokenize(line).into_iter().map(|t| t.text).collect();
        assert_eq!(
            texts,
            ["127.0.0.1", "-", "frank", "10/Oct/2000:13:25:15 -0700", "GET /apache_pb.gif HTTP/1.0", "200", "1534"]
        );
        assert_eq!(tokenize("  a\t b  ").len(), 2);
    }
}
