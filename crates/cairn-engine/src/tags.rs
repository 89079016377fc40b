//! AWS's rules for tags, checked on the stack's `tags:` before any create:
//! a tag AWS refuses fails every create of the stack, one resource at a time.

use std::collections::BTreeMap;

use crate::diag::{At, Diagnostic};
use crate::kind::{TAG_EXPIRES, TAG_RESOURCE, TAG_RETAINED, TAG_STACK, TAG_STATE};

/// What a tag key or value may hold, in the words of the error.
pub const ALLOWED: &str = "letters, digits, spaces and `_ . : / = + - @`";

/// Tags AWS allows per resource.
const MAX_TAGS: usize = 50;
/// Tags cairn puts on every resource besides the stack's.
const CAIRN_TAGS: [&str; 3] = [TAG_STACK, TAG_RESOURCE, TAG_STATE];
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// Checks the stack's tags against the rules AWS applies to every resource.
pub fn check_stack_tags(tags: &BTreeMap<String, String>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let room = MAX_TAGS - CAIRN_TAGS.len();
    if tags.len() > room {
        diags.push(
            Diagnostic::error(
                At::StackKey { key: "tags".into() },
                format!(
                    "the stack has {} tags: with cairn's `{TAG_STACK}`, `{TAG_RESOURCE}` and `{TAG_STATE}`, every resource would carry {}",
                    tags.len(),
                    tags.len() + CAIRN_TAGS.len()
                ),
            )
            .expected(format!("at most {room} tags: AWS allows {MAX_TAGS} per resource and cairn adds {}", CAIRN_TAGS.len())),
        );
    }
    for (key, value) in tags {
        let at = || At::Tag { key: key.clone() };
        if let Some(rest) = key.get(..4).filter(|p| p.eq_ignore_ascii_case("aws:")).map(|_| &key[4..]) {
            let suggestion = (!rest.is_empty()).then(|| format!("drop the prefix: `{rest}`"));
            diags.push(
                Diagnostic::error(
                    at(),
                    format!("tag key `{key}` starts with `aws:`, which AWS reserves for its own tags"),
                )
                .expected("a key that does not start with `aws:` in any case")
                .suggest(suggestion),
            );
        } else if CAIRN_TAGS.contains(&key.as_str()) || key == TAG_EXPIRES || key == TAG_RETAINED {
            diags.push(Diagnostic::error(at(), format!("tag key `{key}` is set by cairn on every resource")).expected(
                format!(
                    "keys other than `{TAG_STACK}`, `{TAG_RESOURCE}`, `{TAG_STATE}`, `{TAG_EXPIRES}` and `{TAG_RETAINED}`: cairn uses them to know what it owns"
                ),
            ));
        }
        let key_len = key.chars().count();
        if key_len == 0 {
            diags.push(Diagnostic::error(at(), "tag key is empty").expected(format!("1 to {MAX_KEY} characters")));
        } else if key_len > MAX_KEY {
            diags.push(
                Diagnostic::error(at(), format!("tag key is {key_len} characters long"))
                    .expected(format!("1 to {MAX_KEY} characters")),
            );
        }
        if let Some(bad) = key.chars().find(|c| !allowed(*c)) {
            diags.push(Diagnostic::error(at(), format!("tag key `{key}` contains {}", shown(bad))).expected(ALLOWED));
        }
        let value_len = value.chars().count();
        if value_len > MAX_VALUE {
            diags.push(
                Diagnostic::error(at(), format!("value of tag `{key}` is {value_len} characters long"))
                    .expected(format!("at most {MAX_VALUE} characters")),
            );
        }
        if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
            diags.push(
                Diagnostic::error(at(), format!("value of tag `{key}` contains {}", shown(bad))).expected(ALLOWED),
            );
        }
    }
    diags
}

/// With a time to live cairn adds `cairn:expires` too: the stack's tags
/// must leave room for it.
pub fn check_expiry_room(tags: &BTreeMap<String, String>) -> Option<Diagnostic> {
    let room = MAX_TAGS - CAIRN_TAGS.len() - 1;
    (tags.len() > room).then(|| {
        Diagnostic::error(
            At::StackKey { key: "tags".into() },
            format!(
                "the stack has {} tags: with cairn's three and `{TAG_EXPIRES}` for its time to live, every resource would carry {}",
                tags.len(),
                tags.len() + CAIRN_TAGS.len() + 1
            ),
        )
        .expected(format!("at most {room} tags with a time to live: AWS allows {MAX_TAGS} per resource"))
    })
}

/// AWS's tag pattern, `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, separators
/// (spaces, not tabs or line breaks, which are control characters), numbers.
fn allowed(c: char) -> bool {
    c.is_alphabetic() || c.is_numeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// A character for a message: visible ones in backquotes, others escaped.
fn shown(c: char) -> String {
    if c.is_control() || c.is_whitespace() { format!("{c:?}") } else { format!("`{c}`") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::diag::Severity;
    use crate::kind::Registry;
    use crate::spec::StackSpec;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    fn one(pairs: &[(&str, &str)]) -> Diagnostic {
        let d = check_stack_tags(&tags(pairs));
        assert_eq!(d.len(), 1, "{d:?}");
        d.into_iter().next().unwrap()
    }

    #[test]
    fn good_tags_pass() {
        let ok = tags(&[
            ("project", "labs"),
            ("cost-centre", "4711"),
            ("team/owner", "ops@example.com"),
            ("Ünïcödé Schlüssel", "wert mit leerzeichen"),
            ("a.b:c=d+e_f", ""),
            (&"k".repeat(128), &"v".repeat(256)),
        ]);
        assert_eq!(check_stack_tags(&ok), Vec::new());
        assert_eq!(check_stack_tags(&BTreeMap::new()), Vec::new());
    }

    #[test]
    fn aws_prefix_is_reserved_in_any_case() {
        for (key, rest) in [("aws:owner", "owner"), ("AWS:owner", "owner"), ("Aws:cf:stack-name", "cf:stack-name")] {
            let d = one(&[(key, "x")]);
            assert_eq!(d.severity, Severity::Error);
            assert_eq!(d.at, At::Tag { key: key.into() });
            assert_eq!(d.message, format!("tag key `{key}` starts with `aws:`, which AWS reserves for its own tags"));
            assert_eq!(d.suggestion, Some(format!("drop the prefix: `{rest}`")));
        }
        // Only the prefix is reserved.
        assert_eq!(check_stack_tags(&tags(&[("my-aws:thing", "x"), ("aws", "x")])), Vec::new());
    }

    #[test]
    fn lengths_are_checked_in_characters() {
        let d = one(&[(&"k".repeat(129), "x")]);
        assert_eq!(d.message, "tag key is 129 characters long");
        assert_eq!(d.expected.as_deref(), Some("1 to 128 characters"));
        let d = one(&[("", "x")]);
        assert_eq!(d.message, "tag key is empty");
        let d = one(&[("k", &"v".repeat(257))]);
        assert_eq!(d.at, At::Tag { key: "k".into() });
        assert_eq!(d.message, "value of tag `k` is 257 characters long");
        assert_eq!(d.expected.as_deref(), Some("at most 256 characters"));
        // 128 two-byte characters are 128 characters, not 256.
        assert_eq!(check_stack_tags(&tags(&[(&"é".repeat(128), &"é".repeat(256))])), Vec::new());
    }

    #[test]
    fn characters_outside_the_allowed_set_are_named() {
        let d = one(&[("cost$centre", "x")]);
        assert_eq!(d.message, "tag key `cost$centre` contains `$`");
        assert_eq!(d.expected.as_deref(), Some(ALLOWED));
        let d = one(&[("owner", "me, you")]);
        assert_eq!(d.message, "value of tag `owner` contains `,`");
        let d = one(&[("note", "two\nlines")]);
        assert_eq!(d.message, "value of tag `note` contains '\\n'");
    }

    #[test]
    fn cairns_own_keys_cannot_be_set() {
        for key in CAIRN_TAGS {
            let d = one(&[(key, "mine")]);
            assert_eq!(d.message, format!("tag key `{key}` is set by cairn on every resource"));
        }
    }

    #[test]
    fn a_time_to_live_needs_room_for_its_tag_and_its_key_is_cairns() {
        let many = |n: usize| -> BTreeMap<String, String> { (0..n).map(|i| (format!("t{i}"), "x".into())).collect() };
        assert_eq!(check_expiry_room(&many(46)), None);
        let d = check_expiry_room(&many(47)).unwrap();
        assert!(d.message.contains("every resource would carry 51"), "{}", d.message);
        assert!(one(&[("cairn:expires", "2026-01-01T00:00:00Z")]).message.contains("is set by cairn"));
    }

    #[test]
    fn at_most_47_tags_leave_room_for_cairns_three() {
        let many = |n: usize| -> BTreeMap<String, String> { (0..n).map(|i| (format!("t{i}"), "x".into())).collect() };
        assert_eq!(check_stack_tags(&many(47)), Vec::new());
        let d = check_stack_tags(&many(48));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].at, At::StackKey { key: "tags".into() });
        assert_eq!(
            d[0].message,
            "the stack has 48 tags: with cairn's `cairn:stack`, `cairn:resource` and `cairn:state`, every resource would carry 51"
        );
        assert_eq!(d[0].expected.as_deref(), Some("at most 47 tags: AWS allows 50 per resource and cairn adds 3"));
    }

    #[test]
    fn validate_reports_bad_tags_and_refuses_the_stack() {
        let spec = StackSpec { name: "s".into(), tags: tags(&[("aws:team", "x")]), ..StackSpec::default() };
        let (v, d) = crate::validate::validate(&spec, &Registry::new(), &BTreeMap::new());
        assert!(v.is_none(), "a stack with a reserved tag key validated");
        assert_eq!(d.errors(), 1, "{d:?}");
        assert_eq!(d.0[0].at, At::Tag { key: "aws:team".into() });
    }
}
