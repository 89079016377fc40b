//! Property values and the `${…}` references inside them.
//!
//! Props are plain JSON. A string may hold references: a string that is one
//! whole reference (`"${alerts.arn}"`) resolves to the referenced value with
//! its own type; a reference inside a longer string is interpolated as text.
//! `$${` stands for a literal `${`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::diag::PathSeg;

pub type Json = serde_json::Value;

/// What a reference points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "to")]
pub enum RefTarget {
    /// `${id.attr}`: an attribute of another resource.
    Resource { id: String, attr: String },
    /// `${param.name}`.
    Param { name: String },
    /// `${aws.region}`, `${aws.account_id}`, `${aws.partition}`, `${stack.name}`.
    Pseudo { name: String },
}

/// A reference as written, with its target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ref {
    pub target: RefTarget,
    /// The text between `${` and `}`.
    pub text: String,
}

pub const PSEUDO_VALUES: &[&str] = &["aws.region", "aws.account_id", "aws.partition", "stack.name"];

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}}}", self.text)
    }
}

/// A piece of a string: literal text or a reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Ref(Ref),
}

/// An error in the `${…}` syntax of a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefSyntaxError {
    pub message: String,
    pub expected: String,
}

/// Splits a string into literal text and references.
pub fn parse_template(s: &str) -> Result<Vec<Part>, RefSyntaxError> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        lit.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            lit.push_str("${");
            rest = tail;
        } else if let Some(body) = after.strip_prefix("${") {
            let Some(end) = body.find('}') else {
                return Err(RefSyntaxError {
                    message: format!("unclosed reference in {s:?}"),
                    expected: "a reference like ${resource.attribute} closed by `}`".into(),
                });
            };
            let text = &body[..end];
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Ref(parse_ref(text)?));
            rest = &body[end + 1..];
        } else {
            lit.push('$');
            rest = &after[1..];
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

fn parse_ref(text: &str) -> Result<Ref, RefSyntaxError> {
    let trimmed = text.trim();
    let bad = || RefSyntaxError {
        message: format!("malformed reference ${{{text}}}"),
        expected:
            "${resource.attribute}, ${param.name}, ${aws.region}, ${aws.account_id}, ${aws.partition} or ${stack.name}"
                .into(),
    };
    let (head, tail) = trimmed.split_once('.').ok_or_else(bad)?;
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ident(head) || !ident(tail) {
        return Err(bad());
    }
    let target = match head {
        "param" => RefTarget::Param { name: tail.to_string() },
        "aws" | "stack" => {
            if !PSEUDO_VALUES.contains(&trimmed) {
                return Err(RefSyntaxError {
                    message: format!("unknown pseudo value ${{{trimmed}}}"),
                    expected: format!(
                        "one of {}",
                        PSEUDO_VALUES.iter().map(|p| format!("${{{p}}}")).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
            RefTarget::Pseudo { name: trimmed.to_string() }
        }
        _ => RefTarget::Resource { id: head.to_string(), attr: tail.to_string() },
    };
    Ok(Ref { target, text: trimmed.to_string() })
}

/// Every reference in a value, with the path to the string holding it.
pub fn refs_in(value: &Json) -> Vec<(Vec<PathSeg>, Result<Ref, RefSyntaxError>)> {
    let mut out = Vec::new();
    walk_strings(value, &mut Vec::new(), &mut |path, s| {
        if !s.contains('$') {
            return;
        }
        match parse_template(s) {
            Ok(parts) => {
                for p in parts {
                    if let Part::Ref(r) = p {
                        out.push((path.to_vec(), Ok(r)));
                    }
                }
            }
            Err(e) => out.push((path.to_vec(), Err(e))),
        }
    });
    out
}

fn walk_strings(value: &Json, path: &mut Vec<PathSeg>, f: &mut dyn FnMut(&[PathSeg], &str)) {
    match value {
        Json::String(s) => f(path, s),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                walk_strings(item, path, f);
                path.pop();
            }
        }
        Json::Object(map) => {
            for (k, v) in map {
                path.push(PathSeg::Key(k.clone()));
                walk_strings(v, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

/// The marker left where a value is not known until apply.
pub const UNKNOWN_KEY: &str = "$cairn_unknown";

/// A value that is known only after apply, standing for `what`.
pub fn unknown(what: &str) -> Json {
    let mut m = serde_json::Map::new();
    m.insert(UNKNOWN_KEY.to_string(), Json::String(what.to_string()));
    Json::Object(m)
}

/// The reference an unknown value stands for, if it is one.
pub fn as_unknown(value: &Json) -> Option<&str> {
    match value {
        Json::Object(m) if m.len() == 1 => m.get(UNKNOWN_KEY).and_then(Json::as_str),
        _ => None,
    }
}

/// Whether any part of a value is unknown.
pub fn has_unknown(value: &Json) -> bool {
    match value {
        Json::Object(m) => as_unknown(value).is_some() || m.values().any(has_unknown),
        Json::Array(items) => items.iter().any(has_unknown),
        _ => false,
    }
}

/// What references resolve to; `None` means "known after apply".
pub trait Resolver {
    fn lookup(&self, target: &RefTarget) -> Option<Json>;
}

impl Resolver for BTreeMap<RefTarget, Json> {
    fn lookup(&self, target: &RefTarget) -> Option<Json> {
        self.get(target).cloned()
    }
}

/// Replaces references by their values. A whole-string reference keeps the
/// referenced value's type; an interpolated one is rendered as text. A value
/// the resolver does not know becomes [`unknown`].
pub fn resolve(value: &Json, resolver: &dyn Resolver) -> Json {
    match value {
        Json::String(s) if s.contains('$') => resolve_str(s, resolver),
        Json::Array(items) => Json::Array(items.iter().map(|v| resolve(v, resolver)).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, resolver))).collect()),
        other => other.clone(),
    }
}

fn resolve_str(s: &str, resolver: &dyn Resolver) -> Json {
    // Syntax errors were reported by validation; leave such a string as it is.
    let Ok(parts) = parse_template(s) else { return Json::String(s.to_string()) };
    if let [Part::Ref(r)] = parts.as_slice() {
        return resolver.lookup(&r.target).unwrap_or_else(|| unknown(&r.text));
    }
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(l) => out.push_str(&l),
            Part::Ref(r) => match resolver.lookup(&r.target) {
                Some(Json::String(v)) => out.push_str(&v),
                Some(other) => out.push_str(&other.to_string()),
                None => return unknown(s),
            },
        }
    }
    Json::String(out)
}

/// Substitutes the references that `known` can answer now (parameters,
/// `${stack.name}`), leaving strings with any other reference as written.
/// The result is still a template: literal `${` stays escaped, so resolving
/// it later reads the same text.
pub fn substitute(value: &Json, known: &dyn Resolver) -> Json {
    match value {
        Json::String(s) if s.contains('$') => {
            let Ok(parts) = parse_template(s) else { return value.clone() };
            let mut values = Vec::new();
            for p in &parts {
                if let Part::Ref(r) = p {
                    match known.lookup(&r.target) {
                        Some(v) => values.push(v),
                        None => return value.clone(),
                    }
                }
            }
            if let ([Part::Ref(_)], [v]) = (parts.as_slice(), values.as_slice()) {
                return escape_all(v);
            }
            let mut out = String::new();
            let mut values = values.into_iter();
            for p in parts {
                match p {
                    Part::Lit(l) => out.push_str(&escape(&l)),
                    Part::Ref(_) => match values.next() {
                        Some(Json::String(v)) => out.push_str(&escape(&v)),
                        Some(other) => out.push_str(&escape(&other.to_string())),
                        None => {}
                    },
                }
            }
            Json::String(out)
        }
        Json::Array(items) => Json::Array(items.iter().map(|v| substitute(v, known)).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, known))).collect()),
        other => other.clone(),
    }
}

fn escape_all(value: &Json) -> Json {
    match value {
        Json::String(s) => Json::String(escape(s)),
        Json::Array(items) => Json::Array(items.iter().map(escape_all).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), escape_all(v))).collect()),
        other => other.clone(),
    }
}

/// What masked values are shown as.
pub const MASKED: &str = "(secret)";

/// Replaces every string that contains one of `secrets` by [`MASKED`].
pub fn mask(value: &Json, secrets: &[String]) -> Json {
    match value {
        Json::String(s) if secrets.iter().any(|x| !x.is_empty() && s.contains(x.as_str())) => {
            Json::String(MASKED.into())
        }
        Json::Array(items) => Json::Array(items.iter().map(|v| mask(v, secrets)).collect()),
        Json::Object(map) => Json::Object(map.iter().map(|(k, v)| (k.clone(), mask(v, secrets))).collect()),
        other => other.clone(),
    }
}

/// Escapes a literal string so that no `${` in it is read as a reference.
pub fn escape(s: &str) -> String {
    s.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_whole_and_interpolated_refs() {
        let parts = parse_template("arn:aws:s3:::${logs.name}/*").unwrap_or_default();
        assert_eq!(parts.len(), 3);
        assert!(
            matches!(&parts[1], Part::Ref(r) if r.target == RefTarget::Resource { id: "logs".into(), attr: "name".into() })
        );
        let parts = parse_template("${param.email}").unwrap_or_default();
        assert!(matches!(&parts[..], [Part::Ref(r)] if r.target == RefTarget::Param { name: "email".into() }));
    }

    #[test]
    fn escaped_dollar_brace_is_literal() {
        assert_eq!(parse_template("$${not.a.ref} $5").ok(), Some(vec![Part::Lit("${not.a.ref} $5".into())]));
    }

    #[test]
    fn rejects_malformed_refs() {
        assert!(parse_template("${alerts}").is_err());
        assert!(parse_template("${alerts.arn").is_err());
        assert!(parse_template("${aws.acount_id}").is_err());
    }

    #[test]
    fn whole_ref_keeps_type_and_interpolation_renders_text() {
        let mut values = BTreeMap::new();
        values.insert(RefTarget::Param { name: "states".into() }, json!(["stopped", "terminated"]));
        values.insert(RefTarget::Resource { id: "logs".into(), attr: "name".into() }, json!("b1"));
        let v = json!({"a": "${param.states}", "b": "arn:aws:s3:::${logs.name}/*", "c": "${x.arn}"});
        let r = resolve(&v, &values);
        assert_eq!(r["a"], json!(["stopped", "terminated"]));
        assert_eq!(r["b"], json!("arn:aws:s3:::b1/*"));
        assert_eq!(as_unknown(&r["c"]), Some("x.arn"));
        assert!(has_unknown(&r));
    }

    #[test]
    fn masks_strings_holding_a_secret() {
        let v = json!({"a": "pw=hunter2;", "b": ["x", "hunter2"], "c": 5});
        assert_eq!(mask(&v, &["hunter2".into()]), json!({"a": MASKED, "b": ["x", MASKED], "c": 5}));
        assert_eq!(mask(&v, &[String::new()]), v);
    }

    #[test]
    fn substitution_keeps_other_refs_and_escapes() {
        let mut known = BTreeMap::new();
        known.insert(RefTarget::Param { name: "p".into() }, json!("a${b"));
        let v = json!({"x": "${param.p}-$${lit}", "y": "${param.p}/${r.arn}", "z": "${param.p}"});
        let s = substitute(&v, &known);
        assert_eq!(s["x"], json!("a$${b-$${lit}"));
        assert_eq!(s["y"], json!("${param.p}/${r.arn}"));
        assert_eq!(resolve(&s["x"], &known), json!("a${b-${lit}"));
        assert_eq!(resolve(&s["z"], &known), json!("a${b"));
    }
}
