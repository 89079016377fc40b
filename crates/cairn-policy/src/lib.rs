//! A small evaluator of AWS policy documents, as AWS reads them: does this
//! document let this principal do this action on this resource, in this
//! request context? The test proxy's strict layer and the lab delivery
//! tests judge what cairn writes with it, and `cairn check` judges what is
//! deployed (a topic's, queue's or function's policy, for the rule that
//! sends to it).
//!
//! It is an independent reading of IAM's documented evaluation rules
//! (explicit Deny wins, else an Allow must match; `NotAction`,
//! `NotResource`, `NotPrincipal`; `*` and `?` wildcards; the condition
//! operators resource policies use), not cairn's own code, so that a
//! document cairn writes is judged by something that did not write it.
//! Operators it does not know never match, so an unknown condition denies.

use serde_json::Value as Json;

/// Who makes the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An AWS service acting on its own (`events.amazonaws.com`).
    Service(String),
    /// A principal of this account (a role, a user, or the root).
    Account(String),
}

/// One request to judge.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub principal: Principal,
    pub action: &'a str,
    pub resource: &'a str,
    /// Condition keys and their values (`aws:SourceArn`, …); keys are
    /// compared without regard to case, as IAM does.
    pub context: Vec<(&'a str, String)>,
}

/// What a document decides for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it (an implicit deny).
    NotAllowed,
    /// A statement denies it.
    Deny,
}

/// The decision of `doc` (a policy document, or `Null` for none) for `req`.
pub fn decide(doc: &Json, req: &Request<'_>) -> Decision {
    let mut allowed = false;
    for s in statements(doc) {
        if !statement_matches(&s, req) {
            continue;
        }
        match s.get("Effect").and_then(Json::as_str) {
            Some("Deny") => return Decision::Deny,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed { Decision::Allow } else { Decision::NotAllowed }
}

/// Whether `doc` allows `req`.
pub fn allows(doc: &Json, req: &Request<'_>) -> bool {
    decide(doc, req) == Decision::Allow
}

/// The statements of a document (one statement object counts as a list).
pub fn statements(doc: &Json) -> Vec<Json> {
    match doc.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(one @ Json::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
        Some(Json::Bool(b)) => vec![b.to_string()],
        Some(Json::Number(n)) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

fn statement_matches(s: &Json, req: &Request<'_>) -> bool {
    let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
        (Some(p), _) => principal_matches(p, &req.principal),
        (None, Some(np)) => !principal_matches(np, &req.principal),
        // Identity policies (a role's own) have no principal: they apply to it.
        (None, None) => true,
    };
    let action = match (s.get("Action"), s.get("NotAction")) {
        (Some(a), _) => strings(Some(a)).iter().any(|p| glob(p, req.action, true)),
        (None, Some(na)) => !strings(Some(na)).iter().any(|p| glob(p, req.action, true)),
        (None, None) => false,
    };
    let resource = match (s.get("Resource"), s.get("NotResource")) {
        (Some(r), _) => strings(Some(r)).iter().any(|p| glob(p, req.resource, false)),
        (None, Some(nr)) => !strings(Some(nr)).iter().any(|p| glob(p, req.resource, false)),
        // Some resource policies leave it out: the resource they sit on.
        (None, None) => true,
    };
    principal && action && resource && conditions_match(s.get("Condition"), req)
}

fn principal_matches(p: &Json, who: &Principal) -> bool {
    if p.as_str() == Some("*") {
        return true;
    }
    let services = strings(p.get("Service"));
    let aws = strings(p.get("AWS"));
    if aws.iter().any(|a| a == "*") {
        return true;
    }
    match who {
        Principal::Service(name) => services.iter().any(|s| s == name),
        Principal::Account(account) => aws.iter().any(|a| {
            a == account
                || a.strip_prefix("arn:")
                    .and_then(|rest| rest.split(':').nth(3))
                    .is_some_and(|acct| acct == account.as_str())
        }),
    }
}

fn conditions_match(conditions: Option<&Json>, req: &Request<'_>) -> bool {
    let Some(conditions) = conditions.and_then(Json::as_object) else { return true };
    conditions.iter().all(|(operator, tests)| {
        let Some(tests) = tests.as_object() else { return false };
        tests.iter().all(|(key, wanted)| condition(operator, key, &strings(Some(wanted)), req))
    })
}

fn condition(operator: &str, key: &str, wanted: &[String], req: &Request<'_>) -> bool {
    let (operator, if_exists) = match operator.strip_suffix("IfExists") {
        Some(op) => (op, true),
        None => (operator, false),
    };
    let Some(value) = req.context.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str()) else {
        // An absent key matches only the negated operators and `...IfExists`.
        return if_exists || operator.contains("Not") || operator == "Null";
    };
    let any = |f: &dyn Fn(&str) -> bool| wanted.iter().any(|w| f(w));
    match operator {
        "StringEquals" | "ArnEquals" => any(&|w| w == value),
        "StringEqualsIgnoreCase" => any(&|w| w.eq_ignore_ascii_case(value)),
        "StringLike" | "ArnLike" => any(&|w| glob(w, value, false)),
        "StringNotEquals" | "ArnNotEquals" => !any(&|w| w == value),
        "StringNotLike" | "ArnNotLike" => !any(&|w| glob(w, value, false)),
        "Bool" => any(&|w| w.eq_ignore_ascii_case(value)),
        "Null" => any(&|w| w == "false"),
        _ => false,
    }
}

/// IAM's wildcards: `*` any run of characters, `?` any one; actions match
/// without regard to case.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (pattern.to_ascii_lowercase().chars().collect(), text.to_ascii_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, action: &'static str, resource: &'static str, source: &str) -> Request<'static> {
        Request {
            principal: Principal::Service(name.into()),
            action,
            resource,
            context: vec![("aws:SourceArn", source.to_string())],
        }
    }

    #[test]
    fn wildcards() {
        assert!(glob("sns:*", "SNS:Publish", true));
        assert!(glob("arn:aws:s3:::b/AWSLogs/1/*", "arn:aws:s3:::b/AWSLogs/1/CloudTrail/x", false));
        assert!(!glob("arn:aws:s3:::b/AWSLogs/1/*", "arn:aws:s3:::b/other/x", false));
        assert!(glob("a?c*", "abcdef", false) && !glob("a?c", "ac", false));
        assert!(glob("*", "", false) && !glob("", "x", false));
    }

    #[test]
    fn service_statement_scoped_by_source_arn() {
        let doc = json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": "arn:aws:sns:us-east-1:1:t",
            "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:1:rule/r"}},
        }]});
        let t = "arn:aws:sns:us-east-1:1:t";
        assert!(allows(&doc, &service("events.amazonaws.com", "sns:Publish", t, "arn:aws:events:us-east-1:1:rule/r")));
        assert!(!allows(&doc, &service("events.amazonaws.com", "sns:Publish", t, "arn:aws:events:us-east-1:1:rule/x")));
        assert!(!allows(&doc, &service("cloudwatch.amazonaws.com", "sns:Publish", t, "x")));
        assert!(!allows(&Json::Null, &service("events.amazonaws.com", "sns:Publish", t, "x")));
    }

    #[test]
    fn deny_wins_and_absent_keys_fail_positive_conditions() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ]});
        let mut req = service("cloudtrail.amazonaws.com", "s3:PutObject", "arn:aws:s3:::b/k", "x");
        assert_eq!(decide(&doc, &req), Decision::Allow);
        req.context.push(("aws:securetransport", "false".into()));
        assert_eq!(decide(&doc, &req), Decision::Deny);
        let scoped = json!({"Statement": {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "1"}}}});
        assert!(!allows(&scoped, &service("s", "s3:GetObject", "r", "x")));
    }

    #[test]
    fn account_principals_in_both_forms() {
        for aws in [json!("123456789012"), json!("arn:aws:iam::123456789012:root"), json!(["*"])] {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "sqs:*"}]});
            let req = Request {
                principal: Principal::Account("123456789012".into()),
                action: "sqs:SendMessage",
                resource: "q",
                context: vec![],
            };
            assert!(allows(&doc, &req), "{doc}");
        }
    }
}
