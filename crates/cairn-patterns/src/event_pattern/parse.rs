//! From JSON to [`Object`]: every rule EventBridge (event-ruler's compiler)
//! enforces, each broken rule a [`PatternError`] at its path.

use super::{
    AnythingBut, Bound, Cidr, Field, Matcher, Node, Object, PathSeg, PatternError, Range, exact_f64, ip_address,
};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// The content filter operators, in the order messages list them.
pub(super) const OPERATORS: &[&str] =
    &["prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists", "cidr", "exactly"];

/// Names event-ruler refuses as field names inside `$or`: its operators,
/// the numeric comparisons and words it keeps for later.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

const VALUES: &str = "strings, numbers, true, false, null or content filters like {\"prefix\": \"i-\"}";
const NUMERIC: &str = "[\">\", 0], [\"=\", 5] or [\">=\", 0, \"<\", 10]: =, <, <=, > or >= each followed by a number, \
     a lower bound (> or >=) before an upper one (< or <=)";
const ANYTHING_BUT: &str = "a string, a number, a list of strings or of numbers, or \
     {\"prefix\" | \"suffix\" | \"equals-ignore-case\" | \"wildcard\": a string or a list of strings}";

pub(super) struct Parser<'a> {
    placeholder: Option<&'a dyn Fn(&str) -> bool>,
    path: Vec<PathSeg>,
    pub(super) errors: Vec<PatternError>,
}

impl<'a> Parser<'a> {
    pub(super) fn new(placeholder: Option<&'a dyn Fn(&str) -> bool>) -> Self {
        Parser { placeholder, path: Vec::new(), errors: Vec::new() }
    }

    fn is_placeholder(&self, v: &Value) -> bool {
        match (self.placeholder, v) {
            (Some(p), Value::String(s)) => p(s),
            _ => false,
        }
    }

    fn error(&mut self, message: impl Into<String>, expected: impl Into<String>) -> &mut PatternError {
        self.errors.push(PatternError {
            path: self.path.clone(),
            message: message.into(),
            expected: expected.into(),
            suggestion: None,
            unsupported: false,
        });
        let last = self.errors.len() - 1;
        &mut self.errors[last]
    }

    /// Runs `f` with `seg` appended to the path.
    fn at<T>(&mut self, seg: PathSeg, f: impl FnOnce(&mut Self) -> T) -> T {
        self.path.push(seg);
        let out = f(self);
        self.path.pop();
        out
    }

    pub(super) fn root(&mut self, pattern: &Value) -> Option<Object> {
        let object = match pattern {
            Value::Object(m) if m.is_empty() => {
                self.error(
                    "the event pattern is empty",
                    "at least one field to match, like {\"source\": [\"aws.ec2\"]}",
                );
                return None;
            }
            Value::Object(m) => self.object(m, false),
            v if self.is_placeholder(v) => return None,
            _ => {
                self.error("the event pattern is not a JSON object", "an object like {\"source\": [\"aws.ec2\"]}");
                return None;
            }
        };
        let mut fixed = BTreeSet::new();
        leaf_paths(&object, "", &mut fixed);
        self.or_overrides(&object, "", &fixed);
        Some(object)
    }

    fn object(&mut self, fields: &Map<String, Value>, in_or: bool) -> Object {
        let mut out = Vec::new();
        for (key, value) in fields {
            self.at(PathSeg::Key(key.clone()), |p| {
                if key == "$or" {
                    if let Some(alternatives) = p.any_of(value) {
                        out.push(Field::AnyOf(alternatives));
                    }
                    return;
                }
                if in_or && RESERVED_IN_OR.contains(&key.as_str()) {
                    p.error(
                        format!("`{key}` cannot name a field inside `$or`: EventBridge reserves it"),
                        "field names that are not operators or reserved words",
                    );
                }
                if key.contains('.') {
                    let e = p.error(
                        format!("the field name `{key}` contains `.`"),
                        "field names without dots, nested as objects",
                    );
                    e.unsupported = true;
                    e.suggestion = Some("EventBridge also reads a dotted name as a path of nested fields; nest the fields as objects instead".into());
                }
                if let Some(node) = p.field(key, value, in_or) {
                    out.push(Field::Match { name: key.clone(), node });
                }
            });
        }
        Object { fields: out }
    }

    fn field(&mut self, key: &str, value: &Value, in_or: bool) -> Option<Node> {
        match value {
            Value::Object(inner) if inner.is_empty() => {
                self.error(
                    format!("pattern field `{key}` is an empty object"),
                    "fields to match inside it, or a list of values",
                );
                None
            }
            Value::Object(inner) => Some(Node::Object(self.object(inner, in_or))),
            Value::Array(items) if items.is_empty() => {
                self.error(format!("pattern field `{key}` lists no values"), "at least one value to match");
                None
            }
            Value::Array(items) => Some(Node::Values(self.values(key, items))),
            v if self.is_placeholder(v) => None,
            scalar => {
                let text = match scalar {
                    Value::String(s) => format!("\"{s}\""),
                    other => other.to_string(),
                };
                let e = self.error(
                    format!("pattern field `{key}` is a single value, not a list"),
                    "a list of values to match (EventBridge matches only lists), or an object of fields",
                );
                e.suggestion = Some(format!("write `\"{key}\": [{text}]`"));
                None
            }
        }
    }

    fn any_of(&mut self, value: &Value) -> Option<Vec<Object>> {
        let Value::Array(items) = value else {
            self.error(
                "`$or` is not a list",
                "a list of at least two pattern objects, like \"$or\": [{\"source\": [\"aws.ec2\"]}, {\"source\": [\"aws.s3\"]}]",
            );
            return None;
        };
        let mut alternatives = Vec::new();
        for (i, item) in items.iter().enumerate() {
            self.at(PathSeg::Index(i), |p| match item {
                Value::Object(m) if !m.is_empty() => alternatives.push(p.object(m, true)),
                Value::Object(_) => {
                    p.error(
                        "an alternative of `$or` is an empty object",
                        "fields to match, like {\"source\": [\"aws.ec2\"]}",
                    );
                }
                _ => {
                    p.error(
                        "an alternative of `$or` is not a pattern object",
                        "an object of fields, like {\"source\": [\"aws.ec2\"]}",
                    );
                }
            });
        }
        if items.len() < 2 {
            self.error(
                format!("`$or` has {} alternative{}", items.len(), if items.len() == 1 { "" } else { "s" }),
                "at least two pattern objects",
            );
        }
        Some(alternatives)
    }

    fn values(&mut self, key: &str, items: &[Value]) -> Vec<Matcher> {
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            self.at(PathSeg::Index(i), |p| match item {
                Value::Object(filter) => {
                    if let Some(m) = p.filter(filter) {
                        out.push(m);
                    }
                }
                Value::Array(_) => {
                    p.error(format!("pattern field `{key}` has a list inside its list"), VALUES);
                }
                scalar => out.push(Matcher::Equals(scalar.clone())),
            });
        }
        out
    }

    /// One content filter such as `{"prefix": "i-"}`.
    fn filter(&mut self, filter: &Map<String, Value>) -> Option<Matcher> {
        let expected = format!("one operator of {}", OPERATORS.join(", "));
        if filter.len() != 1 {
            let names: Vec<String> = filter.keys().map(|k| format!("`{k}`")).collect();
            let message = if names.is_empty() {
                "a content filter is an empty object".to_string()
            } else {
                format!("a content filter has {} operators ({})", names.len(), names.join(", "))
            };
            self.error(message, expected);
            return None;
        }
        let (op, arg) = filter.iter().next()?;
        if !OPERATORS.contains(&op.as_str()) {
            let suggestion = crate::did_you_mean(op, OPERATORS.iter().copied()).map(|c| format!("did you mean `{c}`?"));
            self.error(format!("unknown content filter operator `{op}`"), expected).suggestion = suggestion;
            return None;
        }
        self.at(PathSeg::Key(op.clone()), |p| p.operator(op, arg))
    }

    fn operator(&mut self, op: &str, arg: &Value) -> Option<Matcher> {
        if self.is_placeholder(arg) {
            return None;
        }
        let string = |want: &str, p: &mut Self| -> Option<String> {
            match arg {
                Value::String(s) => Some(s.clone()),
                _ => {
                    p.error(format!("`{op}` takes {want}, not {}", kind(arg)), want.to_string());
                    None
                }
            }
        };
        match op {
            "prefix" | "suffix" => {
                let ignore_case = match arg {
                    Value::String(s) => {
                        return Some(if op == "prefix" {
                            Matcher::Prefix(s.clone())
                        } else {
                            Matcher::Suffix(s.clone())
                        });
                    }
                    Value::Object(m) if m.len() == 1 => m.get("equals-ignore-case"),
                    _ => None,
                };
                match ignore_case {
                    Some(Value::String(s)) => Some(if op == "prefix" {
                        Matcher::PrefixIgnoreCase(s.clone())
                    } else {
                        Matcher::SuffixIgnoreCase(s.clone())
                    }),
                    _ => {
                        self.error(
                            format!("`{op}` takes a string or {{\"equals-ignore-case\": <string>}}, not {}", kind(arg)),
                            "a string, or {\"equals-ignore-case\": <string>}",
                        );
                        None
                    }
                }
            }
            "equals-ignore-case" => string("a string", self).map(Matcher::EqualsIgnoreCase),
            "exactly" => string("a string", self).map(Matcher::Exactly),
            "wildcard" => {
                let s = string("a string", self)?;
                match check_wildcard(&s) {
                    Ok(()) => Some(Matcher::Wildcard(s)),
                    Err(problem) => {
                        self.error(format!("wildcard `{s}`: {problem}"), WILDCARD);
                        None
                    }
                }
            }
            "exists" => match arg {
                Value::Bool(b) => Some(Matcher::Exists(*b)),
                _ => {
                    let e = self.error(format!("`exists` takes true or false, not {}", kind(arg)), "true or false");
                    if let Value::String(s) = arg
                        && (s == "true" || s == "false")
                    {
                        e.suggestion = Some(format!("write {{\"exists\": {s}}} without quotes"));
                    }
                    None
                }
            },
            "cidr" => {
                let s = string("a string like \"10.0.0.0/24\"", self)?;
                match parse_cidr(&s) {
                    Ok(c) => Some(Matcher::Cidr(c)),
                    Err((problem, want)) => {
                        self.error(format!("cidr `{s}`: {problem}"), want);
                        None
                    }
                }
            }
            "numeric" => self.numeric(arg).map(Matcher::Numeric),
            "anything-but" => self.anything_but(arg).map(Matcher::AnythingBut),
            _ => None,
        }
    }

    /// `[op, n]` or `[lower-op, n, upper-op, n]`.
    fn numeric(&mut self, arg: &Value) -> Option<Range> {
        let Value::Array(items) = arg else {
            self.error(format!("`numeric` takes a list, not {}", kind(arg)), NUMERIC);
            return None;
        };
        if !(items.len() == 2 || items.len() == 4) {
            self.error(
                format!("`numeric` has {} item{}, not 2 or 4", items.len(), if items.len() == 1 { "" } else { "s" }),
                NUMERIC,
            );
            return None;
        }
        let mut bounds = Vec::new();
        let mut ok = true;
        for (pair_at, pair) in items.chunks(2).enumerate() {
            let op = pair[0].as_str();
            if !matches!(op, Some("=" | "<" | "<=" | ">" | ">=")) {
                self.at(PathSeg::Index(pair_at * 2), |p| {
                    p.error(format!("`{}` is not a numeric operator", text_of(&pair[0])), NUMERIC);
                });
                ok = false;
                continue;
            }
            let value = match &pair[1] {
                Value::Number(n) => match exact_f64(n) {
                    Some(x) => Some(x),
                    None => {
                        self.at(PathSeg::Index(pair_at * 2 + 1), |p| {
                            p.error(
                                format!("{n} cannot be compared exactly: it is not a double"),
                                "a number a double holds exactly",
                            );
                        });
                        ok = false;
                        None
                    }
                },
                v if self.is_placeholder(v) => None,
                other => {
                    self.at(PathSeg::Index(pair_at * 2 + 1), |p| {
                        p.error(
                            format!("`{}` must be followed by a number, not {}", op.unwrap_or(""), kind(other)),
                            NUMERIC,
                        );
                    });
                    ok = false;
                    None
                }
            };
            bounds.push((op.unwrap_or(""), value));
        }
        if !ok {
            return None;
        }
        let bound = |x: Option<f64>, inclusive: bool| x.map(|value| Bound { value, inclusive });
        let range = match bounds.as_slice() {
            [("=", x)] => Range { lower: bound(*x, true), upper: bound(*x, true) },
            [(">", x)] => Range { lower: bound(*x, false), upper: None },
            [(">=", x)] => Range { lower: bound(*x, true), upper: None },
            [("<", x)] => Range { lower: None, upper: bound(*x, false) },
            [("<=", x)] => Range { lower: None, upper: bound(*x, true) },
            [(lo @ (">" | ">="), x), (hi @ ("<" | "<="), y)] => {
                if let (Some(x), Some(y)) = (x, y)
                    && x >= y
                {
                    self.error(
                        format!("the range's lower bound {x} is not below its upper bound {y}"),
                        "a lower bound below the upper one",
                    );
                    return None;
                }
                Range { lower: bound(*x, *lo == ">="), upper: bound(*y, *hi == "<=") }
            }
            [("=", _), _] => {
                self.error("`=` takes one number and nothing after it", "[\"=\", 5]");
                return None;
            }
            _ => {
                self.error("the range's bounds are out of order", NUMERIC);
                return None;
            }
        };
        let complete = bounds.iter().all(|(_, v)| v.is_some());
        complete.then_some(range)
    }

    fn anything_but(&mut self, arg: &Value) -> Option<AnythingBut> {
        match arg {
            Value::String(s) => Some(AnythingBut::Strings(vec![s.clone()])),
            Value::Number(n) => self.exact_number(n).then(|| AnythingBut::Numbers(vec![n.clone()])),
            Value::Array(items) => {
                let strings: Option<Vec<String>> = items.iter().map(|v| v.as_str().map(str::to_string)).collect();
                let numbers: Option<Vec<serde_json::Number>> = items.iter().map(|v| v.as_number().cloned()).collect();
                match (strings, numbers) {
                    _ if items.is_empty() => {
                        self.error("`anything-but` lists no values", ANYTHING_BUT);
                        None
                    }
                    (Some(strings), _) => Some(AnythingBut::Strings(strings)),
                    (_, Some(numbers)) => {
                        numbers.iter().all(|n| self.exact_number(n)).then_some(AnythingBut::Numbers(numbers))
                    }
                    _ => {
                        self.error(
                            "`anything-but` lists values that are not all strings or all numbers",
                            "a list of strings, or a list of numbers",
                        );
                        None
                    }
                }
            }
            Value::Object(m) if m.len() == 1 => {
                let (op, inner) = m.iter().next()?;
                if !matches!(op.as_str(), "prefix" | "suffix" | "equals-ignore-case" | "wildcard") {
                    let e = self.error(format!("`anything-but` cannot take `{op}`"), ANYTHING_BUT);
                    e.suggestion = crate::did_you_mean(op, ["prefix", "suffix", "equals-ignore-case", "wildcard"])
                        .map(|c| format!("did you mean `{c}`?"));
                    return None;
                }
                self.at(PathSeg::Key(op.clone()), |p| p.anything_but_strings(op, inner))
            }
            _ => {
                self.error(format!("`anything-but` cannot take {}", kind(arg)), ANYTHING_BUT);
                None
            }
        }
    }

    fn anything_but_strings(&mut self, op: &str, inner: &Value) -> Option<AnythingBut> {
        let strings: Vec<String> = match inner {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) => match items.iter().map(|v| v.as_str().map(str::to_string)).collect() {
                Some(strings) => strings,
                None => {
                    self.error(format!("`{op}` inside `anything-but` lists something other than strings"), "strings");
                    return None;
                }
            },
            other => {
                self.error(
                    format!("`{op}` inside `anything-but` takes a string or a list of strings, not {}", kind(other)),
                    "a string or a list of strings",
                );
                return None;
            }
        };
        if matches!(op, "prefix" | "suffix") && strings.iter().any(String::is_empty) {
            self.error(format!("an empty {op} inside `anything-but`"), format!("a non-empty {op}"));
            return None;
        }
        if op == "wildcard" {
            for s in &strings {
                if let Err(problem) = check_wildcard(s) {
                    self.error(format!("wildcard `{s}`: {problem}"), WILDCARD);
                    return None;
                }
            }
        }
        Some(match op {
            "prefix" => AnythingBut::Prefixes(strings),
            "suffix" => AnythingBut::Suffixes(strings),
            "equals-ignore-case" => AnythingBut::EqualsIgnoreCase(strings),
            _ => AnythingBut::Wildcards(strings),
        })
    }

    fn exact_number(&mut self, n: &serde_json::Number) -> bool {
        let exact = exact_f64(n).is_some();
        if !exact {
            self.error(
                format!("{n} cannot be compared exactly: it is not a double"),
                "a number a double holds exactly",
            );
        }
        exact
    }

    /// Reports a field constrained both outside a `$or` and inside one of
    /// its alternatives: event-ruler keeps only the alternative's condition.
    fn or_overrides(&mut self, object: &Object, prefix: &str, fixed: &BTreeSet<String>) {
        for field in &object.fields {
            match field {
                Field::Match { name, node: Node::Object(inner) } => {
                    self.or_overrides(inner, &join(prefix, name), fixed);
                }
                Field::Match { .. } => {}
                Field::AnyOf(alternatives) => {
                    for alternative in alternatives {
                        let mut own = BTreeSet::new();
                        leaf_paths(alternative, prefix, &mut own);
                        if let Some(clash) = own.intersection(fixed).next() {
                            let e = self.error(
                                format!("`{clash}` is matched both outside `$or` and inside one of its alternatives"),
                                "each field either outside `$or` or inside its alternatives",
                            );
                            e.unsupported = true;
                            e.suggestion = Some("EventBridge lets the alternative's condition replace the outer one; move the field into every alternative".into());
                            return;
                        }
                        let inner: BTreeSet<String> = fixed.union(&own).cloned().collect();
                        self.or_overrides(alternative, prefix, &inner);
                    }
                }
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// The dotted paths of an object's leaves, not counting those under `$or`.
fn leaf_paths(object: &Object, prefix: &str, out: &mut BTreeSet<String>) {
    for field in &object.fields {
        if let Field::Match { name, node } = field {
            match node {
                Node::Object(inner) => leaf_paths(inner, &join(prefix, name), out),
                Node::Values(_) => {
                    out.insert(join(prefix, name));
                }
            }
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

const WILDCARD: &str =
    "a string where `*` matches any run of characters, with no `**`, and `\\` escaping only `*` or `\\`";

/// EventBridge's rules for a wildcard value: no consecutive `*`, and a
/// backslash only before `*` or another backslash.
pub(super) fn check_wildcard(s: &str) -> Result<(), String> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                return Err(format!("consecutive `*` at character {}", i + 1));
            }
            '\\' => match chars.get(i + 1) {
                Some('*' | '\\') => i += 1,
                _ => return Err(format!("`\\` at character {} escapes neither `*` nor `\\`", i + 1)),
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// `address/bits`, as event-ruler reads a CIDR block.
pub(super) fn parse_cidr(s: &str) -> Result<Cidr, (String, String)> {
    const WANT: &str = "an IPv4 or IPv6 block like \"10.0.0.0/24\" or \"2001:db8::/32\"";
    let parts: Vec<&str> = s.split('/').collect();
    let [address, bits] = parts.as_slice() else {
        return Err(("a CIDR block has exactly one `/`".into(), WANT.into()));
    };
    let Ok(prefix_len) = bits.parse::<u8>() else {
        return Err((format!("`{bits}` is not a prefix length"), WANT.into()));
    };
    let Some(ip) = ip_address(address) else {
        return Err((format!("`{address}` is not an IP address"), WANT.into()));
    };
    let max = if ip.is_ipv4() { 31 } else { 127 };
    if prefix_len > max {
        return Err((
            format!("the prefix length {prefix_len} is over {max}"),
            format!("a prefix length of 0 to {max}; a single address is an exact value, like [\"{address}\"]"),
        ));
    }
    Ok(Cidr { text: s.to_string(), address: ip, prefix_len })
}
