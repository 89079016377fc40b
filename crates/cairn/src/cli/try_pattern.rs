//! `cairn test-pattern` and `cairn test-filter`: a rule's event pattern or a
//! metric filter's pattern tried on sample input, offline, saying for each
//! sample whether it matches and, for a miss, which field failed.

use std::path::{Path, PathBuf};

use cairn_patterns::{EventPattern, FilterPattern, event_pattern, filter_pattern};
use serde_json::Value as Json;

use super::{App, Exit, pretty};

/// Which of the two testers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tester {
    /// An `aws:events:Rule`'s `event_pattern` on events.
    Rule,
    /// An `aws:logs:MetricFilter`'s `pattern` on log lines.
    Filter,
}

impl Tester {
    fn kind(self) -> &'static str {
        match self {
            Tester::Rule => "aws:events:Rule",
            Tester::Filter => "aws:logs:MetricFilter",
        }
    }
    fn prop(self) -> &'static str {
        match self {
            Tester::Rule => "event_pattern",
            Tester::Filter => "pattern",
        }
    }
}

/// One sample's outcome.
struct Tried {
    /// Where the sample came from: `EVENT.json`, `LOG.jsonl:3`, `sample 2`.
    from: String,
    miss: Option<String>,
}

impl App {
    /// `args`: `[STACK.yaml] ID [SAMPLE]` (the stack from -f or the Rust
    /// program when only two are given; with no SAMPLE, for a filter, the
    /// bundled CloudTrail records).
    pub(super) fn cmd_try_pattern(&mut self, tester: Tester, mut args: Vec<String>) -> Exit {
        let usage = match tester {
            Tester::Rule => "cairn test-pattern STACK.yaml RULE-ID EVENT.json",
            Tester::Filter => "cairn test-filter STACK.yaml FILTER-ID [LOG.jsonl | LINE]",
        };
        let file = match (&self.origin, self.g.file.is_some(), args.len()) {
            (super::Origin::Yaml, false, 2..=3) if tester == Tester::Filter || args.len() == 3 => {
                Some(PathBuf::from(args.remove(0)))
            }
            (super::Origin::Yaml, true, 1..=2) | (super::Origin::Rust(_), _, 1..=2) => None,
            _ => {
                eprintln!(
                    "error: expected `{usage}`\n  = help: `cairn {} --help`",
                    usage.split(' ').nth(1).unwrap_or("")
                );
                return Exit::Invalid;
            }
        };
        let (v, _) = match self.validated_with(file, false) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let id = args.remove(0);
        let sample = args.pop();
        let candidates: Vec<&str> =
            v.spec.resources.iter().filter(|r| r.kind == tester.kind()).map(|r| r.id.as_str()).collect();
        let known = || {
            if candidates.is_empty() {
                format!("the stack has no {}", tester.kind())
            } else {
                format!("one of {}", candidates.join(", "))
            }
        };
        let Some(resource) = v.spec.resource(&id) else {
            eprintln!("error: stack {} has no resource `{id}`\n  = expected: {}", v.spec.name, known());
            return Exit::Invalid;
        };
        if resource.kind != tester.kind() {
            eprintln!("error: `{id}` is an {}, not an {}\n  = expected: {}", resource.kind, tester.kind(), known());
            return Exit::Invalid;
        }
        let Some(pattern) = v.props.get(&id).and_then(|p| p.get(tester.prop())).cloned() else {
            eprintln!("error: `{id}` has no `{}` to try", tester.prop());
            return Exit::Invalid;
        };
        if let Some(reference) = unresolved(&pattern) {
            eprintln!(
                "error: the {} of `{id}` refers to `{reference}`, known only once the stack is applied, so it cannot be tried offline",
                tester.prop()
            );
            return Exit::Invalid;
        }
        let tried = match tester {
            Tester::Rule => try_rule(&pattern, sample.as_deref()),
            Tester::Filter => try_filter(&pattern, sample.as_deref()),
        };
        let tried = match tried {
            Ok(t) => t,
            Err(message) => {
                eprintln!("error: {message}");
                return Exit::Invalid;
            }
        };
        self.report_tried(&id, &tried)
    }

    fn report_tried(&self, id: &str, tried: &[Tried]) -> Exit {
        let matched = tried.iter().filter(|t| t.miss.is_none()).count();
        if self.g.json {
            let samples: Vec<Json> = tried
                .iter()
                .map(|t| serde_json::json!({"sample": t.from, "matched": t.miss.is_none(), "miss": t.miss}))
                .collect();
            println!("{}", pretty(&serde_json::json!({"id": id, "matched": matched, "samples": samples})));
        }
        for t in tried {
            match &t.miss {
                None => self.say(&format!("match     {}\n", t.from)),
                Some(why) => self.say(&format!("no match  {}: {why}\n", t.from)),
            }
        }
        self.say(&format!("{id}: {matched} of {} sample(s) match\n", tried.len()));
        if matched == 0 { Exit::Failed } else { Exit::Ok }
    }
}

/// The first `${…}` left in a pattern after parameters were substituted.
fn unresolved(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => {
            let start = s.find("${")?;
            let end = s[start..].find('}')?;
            Some(s[start..=start + end].to_string())
        }
        Json::Array(items) => items.iter().find_map(unresolved),
        Json::Object(map) => {
            map.iter().find_map(|(k, v)| unresolved(&Json::String(k.clone())).or_else(|| unresolved(v)))
        }
        _ => None,
    }
}

fn try_rule(pattern: &Json, sample: Option<&str>) -> Result<Vec<Tried>, String> {
    let pattern = EventPattern::parse(pattern).map_err(|errors| {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("the event pattern does not parse: {}", all.join("; "))
    })?;
    let Some(sample) = sample else {
        return Err("give an event to try it on: a JSON file, such as one `aws events put-events` would send".into());
    };
    let text = std::fs::read_to_string(sample).map_err(|e| format!("reading {sample}: {e}"))?;
    // One event, a list of events, or one per line.
    let events: Vec<(String, Json)> = match serde_json::from_str::<Json>(&text) {
        Ok(Json::Array(events)) => events.into_iter().enumerate().map(|(i, e)| (format!("{sample}[{i}]"), e)).collect(),
        Ok(event) => vec![(sample.to_string(), event)],
        Err(whole) => json_lines(sample, &text).map_err(|line| format!("{sample}: not JSON ({whole}); {line}"))?,
    };
    Ok(events
        .into_iter()
        .map(|(from, event)| Tried {
            from,
            miss: match pattern.matches(&event) {
                event_pattern::Verdict::Match => None,
                event_pattern::Verdict::Miss(m) => Some(m.to_string()),
            },
        })
        .collect())
}

/// `path`'s lines, each a JSON document; the first that is not, as an error.
fn json_lines(path: &str, text: &str) -> Result<Vec<(String, Json)>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map(|j| (format!("{path}:{}", i + 1), j))
                .map_err(|e| format!("line {} is not JSON either: {e}", i + 1))
        })
        .collect()
}

fn try_filter(pattern: &Json, sample: Option<&str>) -> Result<Vec<Tried>, String> {
    let text = pattern.as_str().ok_or("the filter pattern is not text")?;
    let pattern = FilterPattern::parse(text).map_err(|e| format!("the filter pattern does not parse: {e}"))?;
    // A file of log lines, a literal line, or the bundled CloudTrail records.
    let lines: Vec<(String, String)> = match sample {
        Some(s) if Path::new(s).is_file() => {
            let text = std::fs::read_to_string(s).map_err(|e| format!("reading {s}: {e}"))?;
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (format!("{s}:{}", i + 1), l.to_string()))
                .collect()
        }
        Some(line) => vec![("the line given".to_string(), line.to_string())],
        None => cairn_patterns::samples::CLOUDTRAIL
            .lines()
            .enumerate()
            .map(|(i, l)| (sample_name(i, l), l.to_string()))
            .collect(),
    };
    Ok(lines
        .into_iter()
        .map(|(from, line)| Tried {
            from,
            miss: match pattern.matches(&line) {
                filter_pattern::Verdict::Match => None,
                filter_pattern::Verdict::Miss(m) => Some(m.to_string()),
            },
        })
        .collect())
}

/// `sample 3 (iam PutRolePolicy, errorCode AccessDenied)`: a bundled record
/// named by what a filter looks at.
fn sample_name(i: usize, line: &str) -> String {
    let r: Json = serde_json::from_str(line).unwrap_or_default();
    let source = r["eventSource"].as_str().unwrap_or("?").trim_end_matches(".amazonaws.com");
    let mut name = format!("sample {} ({source} {}", i + 1, r["eventName"].as_str().unwrap_or("?"));
    let message = if r["errorCode"].is_string() { &Json::Null } else { &r["errorMessage"] };
    for (field, value) in
        [("userIdentity.type", &r["userIdentity"]["type"]), ("errorCode", &r["errorCode"]), ("errorMessage", message)]
    {
        if let Some(v) = value.as_str().filter(|v| *v != "IAMUser") {
            name.push_str(&format!(", {field} {v}"));
        }
    }
    name.push(')');
    name
}
