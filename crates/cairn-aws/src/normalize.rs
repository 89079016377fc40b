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
/// list equals its element), and scalars compare as text (`true` = `"true"`).
/// Key order and whitespace already vanish in [`Value`].
pub(crate) fn policy_canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), policy_canonical(v))).collect()),
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

    #[test]
    fn non_json_documents_are_kept_as_text() {
        assert_eq!(parse_document("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(parse_document("not json"), json!("not json"));
    }
}
