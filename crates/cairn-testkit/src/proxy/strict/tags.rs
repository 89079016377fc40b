//! [`super::rule::INVALID_TAGS`]: the tag rules every service applies on create
//! and on its TagResource-like calls, answered with each service's own error.

use serde_json::Value as Json;

use super::super::classify::{Call, Protocol};
use super::{percent_decode, unescape_xml, xml_fields};

/// At most this many tags per resource.
const MAX_TAGS: usize = 50;
const MAX_KEY: usize = 128;
const MAX_VALUE: usize = 256;

/// The tags a write carries, in any protocol's shape: a JSON map or list
/// of `{Key, Value}` (`Tags`, `tags`, `TagsList`), query form fields
/// (`Tags.member.N.Key`, `TagSpecification.N.Tag.M.Key`) or S3's
/// `<Tagging>` document.
pub(super) fn carried(call: &Call, body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    match call.protocol {
        Protocol::AwsJson | Protocol::RestJson => {
            let json: Json = serde_json::from_str(&text).unwrap_or(Json::Null);
            let mut out = Vec::new();
            for key in ["Tags", "tags", "TagsList", "TagList"] {
                match json.get(key) {
                    Some(Json::Object(map)) => {
                        out.extend(map.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())));
                    }
                    Some(Json::Array(list)) => out.extend(list.iter().map(|t| {
                        let get = |f: &str| t.get(f).and_then(Json::as_str).unwrap_or_default().to_string();
                        (get("Key"), get("Value"))
                    })),
                    _ => {}
                }
            }
            out
        }
        Protocol::AwsQuery | Protocol::Ec2Query => {
            let pairs: Vec<(String, String)> = text
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (percent_decode(k), percent_decode(v)))
                .collect();
            pairs
                .iter()
                .filter(|(k, _)| k.contains("Tag") && k.ends_with(".Key"))
                .map(|(k, v)| {
                    let value_key = format!("{}.Value", k.trim_end_matches(".Key"));
                    let value = pairs.iter().find(|(k, _)| *k == value_key).map(|(_, v)| v.clone());
                    (v.clone(), value.unwrap_or_default())
                })
                .collect()
        }
        Protocol::S3 if call.operation == "PutBucketTagging" => {
            let keys = xml_fields(&text, "Key");
            let values = xml_fields(&text, "Value");
            keys.into_iter()
                .zip(values.into_iter().chain(std::iter::repeat(String::new())))
                .map(|(k, v)| (unescape_xml(&k), unescape_xml(&v)))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// What AWS says about these tags, or `None` when it takes them.
pub(super) fn problem(tags: &[(String, String)]) -> Option<String> {
    if tags.len() > MAX_TAGS {
        return Some(format!("Too many tags: {} given, at most {MAX_TAGS} are allowed per resource", tags.len()));
    }
    for (key, value) in tags {
        if key.len() >= 4 && key[..4].eq_ignore_ascii_case("aws:") {
            return Some(format!("Tag keys starting with 'aws:' are reserved for AWS use: {key}"));
        }
        if key.chars().count() > MAX_KEY {
            return Some(format!("Tag key must be at most {MAX_KEY} characters long: {key}"));
        }
        if value.chars().count() > MAX_VALUE {
            return Some(format!("Tag value must be at most {MAX_VALUE} characters long (key {key})"));
        }
    }
    None
}

/// Each service's error for a tag it refuses: (status, code).
pub(super) fn error_of(service: &str) -> (u16, &'static str) {
    match service {
        "lambda" => (400, "InvalidParameterValueException"),
        "sns" => (400, "InvalidParameter"),
        "iam" => (400, "InvalidInput"),
        "s3" => (400, "InvalidTag"),
        "logs" => (400, "InvalidParameterException"),
        "events" | "ssm" => (400, "ValidationException"),
        "cloudtrail" => (400, "InvalidTagParameterException"),
        _ => (400, "InvalidParameterValue"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_problems() {
        let t = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        assert_eq!(problem(&t("team", "ops")), None);
        assert!(problem(&t("AWS:x", "1")).is_some_and(|p| p.contains("reserved")));
        assert!(problem(&t(&"k".repeat(129), "1")).is_some_and(|p| p.contains("128")));
        assert!(problem(&t("k", &"v".repeat(257))).is_some_and(|p| p.contains("256")));
        let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(problem(&many).is_some_and(|p| p.contains("51")));
    }
}
