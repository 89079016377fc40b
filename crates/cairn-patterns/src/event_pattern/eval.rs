//! Matching an event against a parsed pattern, keeping the first failure.

use super::{AnythingBut, Field, Matcher, Miss, Node, Object, exact_f64, ip_address};
use serde_json::Value;

/// Matches `object` against the event value at `path` (absent when
/// `None`). An array is matched element by element.
pub(super) fn object(object: &Object, event: Option<&Value>, path: &mut Vec<String>) -> Result<(), Miss> {
    if let Some(Value::Array(_)) = event {
        let elements = flatten(event);
        if !elements.is_empty() {
            let mut first = None;
            for element in &elements {
                match fields(object, Some(element), path) {
                    Ok(()) => return Ok(()),
                    Err(miss) => {
                        first.get_or_insert(miss);
                    }
                }
            }
            let mut miss = first.unwrap_or_else(|| Miss { path: path.clone(), reason: String::new() });
            if elements.len() > 1 {
                miss.reason = format!(
                    "{} (in the first of {} elements of {}; no element matched)",
                    miss.reason,
                    elements.len(),
                    shown(path)
                );
            }
            return Err(miss);
        }
        return fields(object, None, path);
    }
    fields(object, event, path)
}

fn shown(path: &[String]) -> String {
    if path.is_empty() { "the event".into() } else { path.join(".") }
}

fn fields(object: &Object, event: Option<&Value>, path: &mut Vec<String>) -> Result<(), Miss> {
    for field in &object.fields {
        match field {
            Field::Match { name, node } => {
                let child = event.and_then(Value::as_object).and_then(|m| m.get(name));
                path.push(name.clone());
                let outcome = match node {
                    Node::Object(inner) => self::object(inner, child, path),
                    Node::Values(matchers) => leaf(matchers, child, path),
                };
                path.pop();
                outcome?;
            }
            Field::AnyOf(alternatives) => {
                let mut misses = Vec::new();
                for alternative in alternatives {
                    match self::object(alternative, event, path) {
                        Ok(()) => {
                            misses.clear();
                            break;
                        }
                        Err(miss) => misses.push(miss),
                    }
                }
                if !misses.is_empty() {
                    let each: Vec<String> = misses.iter().enumerate().map(|(i, m)| format!("{}) {m}", i + 1)).collect();
                    return Err(Miss {
                        path: path.clone(),
                        reason: format!(
                            "none of the {} alternatives of `$or` matched: {}",
                            alternatives.len(),
                            each.join("; ")
                        ),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The non-array items of a value, arrays flattened.
fn flatten(value: Option<&Value>) -> Vec<&Value> {
    fn walk<'v>(v: &'v Value, out: &mut Vec<&'v Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(other),
        }
    }
    let mut out = Vec::new();
    if let Some(v) = value {
        walk(v, &mut out);
    }
    out
}

/// The leaf values of a field: its scalar, or the scalars of its array.
fn leaf_values(value: Option<&Value>) -> Vec<&Value> {
    flatten(value).into_iter().filter(|v| !(v.is_object())).collect()
}

fn leaf(matchers: &[Matcher], event: Option<&Value>, path: &[String]) -> Result<(), Miss> {
    let values = leaf_values(event);
    let matched = matchers.iter().any(|m| match m {
        Matcher::Exists(want) => *want != values.is_empty(),
        m => values.iter().any(|v| test(m, v)),
    });
    if matched {
        return Ok(());
    }
    Err(Miss { path: path.to_vec(), reason: describe(matchers, event, &values) })
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

fn describe(matchers: &[Matcher], event: Option<&Value>, values: &[&Value]) -> String {
    let wanted = list(matchers.iter().map(|m| m.to_value().to_string()));
    let all_exact = matchers.iter().all(|m| matches!(m, Matcher::Equals(_)));
    let only = |want: bool| matchers.iter().all(|m| matches!(m, Matcher::Exists(b) if *b == want));
    if values.is_empty() {
        let what = match event {
            None => "is absent",
            Some(Value::Object(_)) => "is an object, not a value",
            Some(_) => "is an empty list",
        };
        return if only(true) {
            format!("{what}; the pattern wants it present")
        } else if all_exact {
            format!("{what}; the pattern wants one of {wanted}")
        } else {
            format!("{what}; the pattern wants {wanted}")
        };
    }
    let shown = match values {
        [one] => one.to_string(),
        many => list(many.iter().map(|v| v.to_string())),
    };
    if only(false) {
        return format!("is present ({shown}); the pattern wants it absent");
    }
    match (values.len(), all_exact) {
        (1, true) => format!("{shown} is not one of {wanted}"),
        (1, false) => format!("{shown} matches none of {wanted}"),
        (_, true) => format!("none of {shown} is one of {wanted}"),
        (_, false) => format!("none of {shown} matches any of {wanted}"),
    }
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Whether one leaf value passes one matcher (`exists` is decided by the
/// caller, over all of a field's values).
pub(super) fn test(m: &Matcher, v: &Value) -> bool {
    let s = v.as_str();
    match m {
        Matcher::Equals(p) => equal(p, v),
        Matcher::Exactly(p) => s == Some(p.as_str()),
        Matcher::Prefix(p) => s.is_some_and(|s| s.starts_with(p.as_str())),
        Matcher::PrefixIgnoreCase(p) => s.is_some_and(|s| lower(s).starts_with(&lower(p))),
        Matcher::Suffix(p) => s.is_some_and(|s| s.ends_with(p.as_str())),
        Matcher::SuffixIgnoreCase(p) => s.is_some_and(|s| lower(s).ends_with(&lower(p))),
        Matcher::EqualsIgnoreCase(p) => s.is_some_and(|s| lower(s) == lower(p)),
        Matcher::Wildcard(p) => s.is_some_and(|s| wildcard(p, s)),
        Matcher::AnythingBut(ab) => !excluded(ab, v),
        Matcher::Numeric(r) => v.as_number().and_then(exact_f64).is_some_and(|x| r.contains(x)),
        Matcher::Exists(_) => false,
        Matcher::Cidr(c) => s.and_then(ip_address).is_some_and(|ip| c.contains(ip)),
    }
}

fn excluded(ab: &AnythingBut, v: &Value) -> bool {
    let s = v.as_str();
    match ab {
        AnythingBut::Strings(l) => s.is_some_and(|s| l.iter().any(|x| x == s)),
        AnythingBut::Numbers(l) => v.as_number().is_some_and(|n| l.iter().any(|x| numbers_equal(x, n))),
        AnythingBut::Prefixes(l) => s.is_some_and(|s| l.iter().any(|x| s.starts_with(x.as_str()))),
        AnythingBut::Suffixes(l) => s.is_some_and(|s| l.iter().any(|x| s.ends_with(x.as_str()))),
        AnythingBut::EqualsIgnoreCase(l) => s.is_some_and(|s| l.iter().any(|x| lower(x) == lower(s))),
        AnythingBut::Wildcards(l) => s.is_some_and(|s| l.iter().any(|x| wildcard(x, s))),
    }
}

fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    a == b || matches!((exact_f64(a), exact_f64(b)), (Some(x), Some(y)) if x == y)
}

/// Exact equality, by type: numbers by value, IP addresses by address.
fn equal(pattern: &Value, v: &Value) -> bool {
    match (pattern, v) {
        (Value::String(a), Value::String(b)) => {
            a == b || matches!((ip_address(a), ip_address(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Null, Value::Null) => true,
        _ => false,
    }
}

enum Piece {
    Char(char),
    Star,
}

/// EventBridge wildcard matching: `*` is any run of characters, `\*` and
/// `\\` are literal. The pattern was checked when parsed.
pub(super) fn wildcard(pattern: &str, s: &str) -> bool {
    let mut pieces = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => pieces.push(Piece::Star),
            '\\' => pieces.push(Piece::Char(chars.next().unwrap_or('\\'))),
            c => pieces.push(Piece::Char(c)),
        }
    }
    let text: Vec<char> = s.chars().collect();
    // Greedy matching with one remembered star: linear backtracking.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Piece::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pieces[p..].iter().all(|piece| matches!(piece, Piece::Star))
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards_match_runs_and_escapes() {
        assert!(wildcard("Simple*Service", "SimpleNotificationService"));
        assert!(wildcard("Simple*Service", "SimpleService"));
        assert!(!wildcard("Simple*Service", "SimpleServices"));
        assert!(wildcard("*/bin/*.jar", "/usr/bin/app.jar"));
        assert!(wildcard("a\\*b", "a*b"));
        assert!(!wildcard("a\\*b", "axb"));
        assert!(wildcard("a\\\\b", "a\\b"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("a", ""));
    }
}
