//! Comparing JSON documents AWS hands back against what the user wrote, so
//! that reformatting by AWS never shows up as a change.

use serde_json::Value;

/// Parses a document AWS returned as text; text that is not JSON is kept as
/// a string so that it shows up as a difference instead of failing a read.
pub(crate) fn parse_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The form in which two IAM-style policies compare equal when they mean the
/// same: lists are sets (order and duplicates do not matter, a one-element
/// list equals its element), scalars compare as text (`true` = `"true"`),
/// and an account named as a principal is its id, in whichever form it was
/// written (see [`account_principals`]). Key order and whitespace already
/// vanish in [`Value`].
pub(crate) fn policy_canonical(v: &Value) -> Value {
    match v {
        // Keys sorted, so that the text a list is sorted by does not depend
        // on the order keys were written in.
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match k.as_str() {
                            "Principal" | "NotPrincipal" => policy_canonical(&account_principals(v)),
                            _ => policy_canonical(v),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(policy_canonical).collect();
            items.sort_by_cached_key(ToString::to_string);
            items.dedup();
            if items.len() == 1 { items.pop().unwrap_or(Value::Null) } else { Value::Array(items) }
        }
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Null | Value::String(_) => v.clone(),
    }
}

/// A `Principal` (or `NotPrincipal`) with each account under `AWS` as its
/// bare id: AWS stores `"AWS": "123456789012"` as
/// `arn:aws:iam::123456789012:root` and hands that back. The id, not the
/// ARN, so that no partition has to be guessed (a trust policy may name no
/// other ARN to take it from).
fn account_principals(principal: &Value) -> Value {
    let mut principal = principal.clone();
    let as_id = |v: &mut Value| {
        if let Some(id) = v.as_str().and_then(account_of_root) {
            *v = Value::String(id.to_string());
        }
    };
    match principal.get_mut("AWS") {
        Some(Value::Array(items)) => items.iter_mut().for_each(as_id),
        Some(one) => as_id(one),
        None => {}
    }
    principal
}

/// The account of an account's root ARN (`arn:<partition>:iam::<id>:root`).
pub(crate) fn account_of_root(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let id = rest.strip_prefix("iam::")?.strip_suffix(":root")?;
    // aws, aws-cn, aws-us-gov and the isolated partitions.
    (partition.starts_with("aws") && is_account_id(id)).then_some(id)
}

/// Twelve digits.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether two policies mean the same, per [`policy_canonical`].
pub(crate) fn policies_equivalent(a: &Value, b: &Value) -> bool {
    policy_canonical(a) == policy_canonical(b)
}

/// The policy a read reports: the one last applied when AWS's copy means
/// the same (so the plan stays empty), else AWS's copy (drift).
pub(crate) fn policy_as_read(live: Value, last: Option<&Value>) -> Value {
    match last {
        Some(last) if policies_equivalent(&live, last) => last.clone(),
        _ => live,
    }
}

/// A string attribute as read: AWS reports "unset" as an empty string or
/// leaves it out; both read back as `None` unless the user wrote `""`.
pub(crate) fn optional_text(live: Option<&str>, last: Option<&String>) -> Option<String> {
    match live {
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ => last.filter(|l| l.is_empty()).cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies_compare_as_sets_of_statements() {
        let written = json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": ["sns:Publish"], "Resource": "*"}]
        });
        let returned = json!({
            "Statement": {"Resource": "*", "Action": "sns:Publish", "Principal": {"Service": ["events.amazonaws.com"]}, "Effect": "Allow"},
            "Version": "2012-10-17"
        });
        assert!(policies_equivalent(&written, &returned));
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sns:Publish", "Resource": "*"}]});
        assert!(!policies_equivalent(&written, &other));
    }

    #[test]
    fn policy_canonical_is_idempotent() {
        let p = json!({"A": [3, "b", ["x"], {"k": [true]}], "B": [1, 1]});
        let once = policy_canonical(&p);
        assert_eq!(policy_canonical(&once), once);
    }

    /// A one-statement policy granting `principal`.
    fn granting(principal: &Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal,
               "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    }

    #[test]
    fn an_account_reads_the_same_as_its_root_arn() {
        let id = json!({"AWS": "123456789012"});
        let root = json!({"AWS": "arn:aws:iam::123456789012:root"});
        assert!(policies_equivalent(&granting(&id), &granting(&root)));
        assert!(policies_equivalent(&granting(&root), &granting(&id)));
        // In lists, mixed with other principals, and in other partitions.
        let ids = json!({"AWS": ["111111111111", "arn:aws:iam::222222222222:role/r"], "Service": "x.amazonaws.com"});
        let roots = json!({"Service": ["x.amazonaws.com"],
                           "AWS": ["arn:aws:iam::222222222222:role/r", "arn:aws:iam::111111111111:root"]});
        assert!(policies_equivalent(&granting(&ids), &granting(&roots)));
        for partition in ["aws-cn", "aws-us-gov"] {
            let root = json!({"AWS": format!("arn:{partition}:iam::123456789012:root")});
            assert!(policies_equivalent(&granting(&id), &granting(&root)), "{partition}");
        }
        // Both forms of one account in a list are one principal.
        let both = json!({"AWS": ["123456789012", "arn:aws:iam::123456789012:root"]});
        assert!(policies_equivalent(&granting(&both), &granting(&id)));
        // NotPrincipal too.
        let not = |p: &Value| json!({"Statement": {"Effect": "Deny", "NotPrincipal": p, "Action": "*"}});
        assert!(policies_equivalent(&not(&id), &not(&root)));
    }

    #[test]
    fn only_account_principals_are_rewritten() {
        let id = json!({"AWS": "123456789012"});
        // Another account, a role of the account, a short number, a service.
        for other in [
            json!({"AWS": "arn:aws:iam::210987654321:root"}),
            json!({"AWS": "arn:aws:iam::123456789012:role/root"}),
            json!({"AWS": "arn:aws:iam::123456789012:user/root"}),
            json!({"AWS": "12345678901"}),
            json!({"Service": "123456789012"}),
        ] {
            assert!(!policies_equivalent(&granting(&id), &granting(&other)), "{other}");
        }
        // An account id anywhere else is left as it is.
        let cond = |v: &str| {
            json!({"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*",
                                    "Condition": {"StringEquals": {"aws:SourceAccount": v}}}})
        };
        assert!(!policies_equivalent(&cond("123456789012"), &cond("arn:aws:iam::123456789012:root")));
    }

    #[test]
    fn account_principals_canonical_form_is_idempotent() {
        for p in
            [json!({"AWS": "123456789012"}), json!({"AWS": ["arn:aws-cn:iam::123456789012:root", "111111111111", "*"]})]
        {
            let once = policy_canonical(&granting(&p));
            assert_eq!(policy_canonical(&once), once, "{p}");
        }
    }

    #[test]
    fn read_keeps_the_written_policy_when_equivalent() {
        let last = json!({"Statement": [{"Action": ["a", "b"]}]});
        let live = json!({"Statement": [{"Action": ["b", "a"]}]});
        assert_eq!(policy_as_read(live, Some(&last)), last);
        let drifted = json!({"Statement": [{"Action": ["c"]}]});
        assert_eq!(policy_as_read(drifted.clone(), Some(&last)), drifted);
    }

    #[test]
    fn empty_strings_read_as_unset() {
        assert_eq!(optional_text(Some(""), None), None);
        assert_eq!(optional_text(None, None), None);
        assert_eq!(optional_text(Some(""), Some(&String::new())), Some(String::new()));
        assert_eq!(optional_text(Some("x"), None), Some("x".into()));
        assert_eq!(optional_text(Some("x"), Some(&"y".to_string())), Some("x".into()));
    }

    /// A small deterministic generator (xorshift), so the property tests
    /// need no extra crate and replay the same cases on every machine.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    /// A random IAM-style policy of one to four statements.
    fn policy(rng: &mut Rng) -> Value {
        let actions = ["sns:Publish", "sqs:SendMessage", "s3:GetObject", "s3:PutObject", "logs:PutLogEvents"];
        let services = ["events.amazonaws.com", "cloudtrail.amazonaws.com", "lambda.amazonaws.com"];
        let accounts = ["111122223333", "444455556666", "arn:aws:iam::111122223333:role/r"];
        let statements: Vec<Value> = (0..1 + rng.below(4))
            .map(|i| {
                let mut s = serde_json::Map::new();
                s.insert("Sid".into(), json!(format!("S{i}")));
                s.insert("Effect".into(), json!(rng.pick(&["Allow", "Deny"])));
                let n = 1 + rng.below(3);
                s.insert("Action".into(), json!((0..n).map(|_| rng.pick(&actions)).collect::<Vec<_>>()));
                if rng.below(3) == 0 {
                    s.insert("Principal".into(), json!({"AWS": [rng.pick(&accounts), rng.pick(&accounts)]}));
                } else {
                    s.insert("Principal".into(), json!({"Service": [rng.pick(&services)]}));
                }
                s.insert("Resource".into(), json!(format!("arn:aws:sns:us-east-1:1:t{}", rng.below(3))));
                if rng.below(2) == 0 {
                    s.insert(
                        "Condition".into(),
                        json!({"ArnEquals": {"aws:SourceArn": format!("arn:r{}", rng.below(3))}}),
                    );
                }
                Value::Object(s)
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    /// The same policy as AWS might hand it back: keys and list items
    /// reordered, one-element lists as scalars (and scalars as lists),
    /// duplicates in lists, numbers and booleans as text, account ids as
    /// their root ARNs.
    fn rewritten(v: &Value, rng: &mut Rng) -> Value {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().map(|(k, v)| (k.clone(), rewritten(v, rng))).collect();
                for i in (1..entries.len()).rev() {
                    entries.swap(i, rng.below(i + 1));
                }
                Value::Object(entries.into_iter().collect())
            }
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(|i| rewritten(i, rng)).collect();
                for i in (1..items.len()).rev() {
                    items.swap(i, rng.below(i + 1));
                }
                if !items.is_empty() && rng.below(4) == 0 {
                    items.push(items[0].clone());
                }
                if items.len() == 1 && rng.below(2) == 0 { items.remove(0) } else { Value::Array(items) }
            }
            Value::String(s) if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) && rng.below(2) == 0 => {
                json!(format!("arn:aws:iam::{s}:root"))
            }
            Value::String(_) if rng.below(4) == 0 => json!([v]),
            Value::Bool(b) => json!(b.to_string()),
            Value::Number(n) => json!(n.to_string()),
            _ => v.clone(),
        }
    }

    #[test]
    fn property_equivalent_rewrites_compare_equal_and_canonical_is_idempotent() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for case in 0..500 {
            let p = policy(&mut rng);
            let q = rewritten(&p, &mut rng);
            assert!(policies_equivalent(&p, &q), "case {case}: {p} vs {q}");
            let once = policy_canonical(&q);
            assert_eq!(policy_canonical(&once), once, "case {case}: not idempotent");
            // What a read reports for the rewritten form is what was written:
            // the plan after an apply is empty.
            assert_eq!(policy_as_read(q, Some(&p)), p, "case {case}");
        }
    }

    #[test]
    fn property_a_changed_grant_is_a_change() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..200 {
            let p = policy(&mut rng);
            let mut q = rewritten(&p, &mut rng);
            // Change one statement's effect, in whatever shape it came back.
            let statement = match &mut q["Statement"] {
                Value::Array(items) => &mut items[0],
                one => one,
            };
            // The effect may have come back as a one-element list.
            let flipped = if policy_canonical(&statement["Effect"]) == json!("Allow") { "Deny" } else { "Allow" };
            let before = statement.clone();
            statement["Effect"] = json!(flipped);
            // Unless an identical twin of that statement is still there (a
            // duplicate), the policies must now differ.
            let twins = match &q["Statement"] {
                Value::Array(items) => items.iter().filter(|s| **s == before).count(),
                _ => 0,
            };
            if twins == 0 {
                assert!(!policies_equivalent(&p, &q), "case {case}: {p} vs {q}");
            }
        }
    }

    #[test]
    fn non_json_documents_are_kept_as_text() {
        assert_eq!(parse_document("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_document("not json"), json!("not json"));
    }
}
