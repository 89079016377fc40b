//! Rules that change what AWS answers, not whether it accepts: e-mail
//! subscriptions pending confirmation, and account principals read back
//! as their root ARNs.

use std::collections::HashSet;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Response;
use serde_json::Value as Json;

use super::super::classify::Call;
use super::super::shape::{error_response, xml_escape};
use super::super::{Shared, forward};
use super::{count, form_field, percent_decode, rebuilt_bytes, rule, unescape_xml};

/// What [`rule::SNS_PENDING_EMAIL`] remembers.
#[derive(Debug, Default)]
pub(in crate::proxy) struct Memory {
    /// E-mail subscriptions nobody confirmed, by ARN.
    pending: HashSet<String>,
}

/// The placeholder Subscribe answers for a subscription pending confirmation.
const PENDING_ANSWER: &str = "pending confirmation";
/// The placeholder the List* calls show for one.
const PENDING_LISTED: &str = "PendingConfirmation";

/// SNS calls with [`rule::SNS_PENDING_EMAIL`] on.
pub(super) async fn sns(
    shared: &Shared,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let form = String::from_utf8_lossy(&body).to_string();
    let field = |k: &str| form_field(&form, k);
    match call.operation.as_str() {
        "Unsubscribe" => {
            let arn = field("SubscriptionArn").unwrap_or_default();
            if shared.state().strict.answers.pending.contains(&arn) {
                count(shared, rule::SNS_PENDING_EMAIL);
                let message = "Invalid parameter: SubscriptionArn Reason: Cannot unsubscribe a subscription that is pending confirmation";
                return error_response(call, 400, "InvalidParameter", message, request_id);
            }
            forward(shared, call, parts, body, request_id).await
        }
        "Subscribe" if matches!(field("Protocol").as_deref(), Some("email" | "email-json")) => {
            let answer = forward(shared, call, parts, body, request_id).await;
            if !answer.status().is_success() {
                return answer;
            }
            let (parts, text) = text_body(answer).await;
            let Some(arn) = super::xml_field(&text, "SubscriptionArn") else {
                return rebuilt_bytes(parts, text.into());
            };
            shared.state().strict.answers.pending.insert(arn.clone());
            count(shared, rule::SNS_PENDING_EMAIL);
            let shown = if field("ReturnSubscriptionArn").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                arn.clone()
            } else {
                PENDING_ANSWER.to_string()
            };
            let text =
                text.replace(&format!("<SubscriptionArn>{arn}</SubscriptionArn>"), &element("SubscriptionArn", &shown));
            rebuilt_bytes(parts, text.into())
        }
        "ListSubscriptions" | "ListSubscriptionsByTopic" => {
            let answer = forward(shared, call, parts, body, request_id).await;
            let pending: Vec<String> = shared.state().strict.answers.pending.iter().cloned().collect();
            if !answer.status().is_success() || pending.is_empty() {
                return answer;
            }
            let (parts, mut text) = text_body(answer).await;
            for arn in pending {
                let listed = format!("<SubscriptionArn>{arn}</SubscriptionArn>");
                if text.contains(&listed) {
                    text = text.replace(&listed, &element("SubscriptionArn", PENDING_LISTED));
                    count(shared, rule::SNS_PENDING_EMAIL);
                }
            }
            rebuilt_bytes(parts, text.into())
        }
        "GetSubscriptionAttributes" => {
            let arn = field("SubscriptionArn").unwrap_or_default();
            let answer = forward(shared, call, parts, body, request_id).await;
            if !answer.status().is_success() || !shared.state().strict.answers.pending.contains(&arn) {
                return answer;
            }
            let (parts, text) = text_body(answer).await;
            count(shared, rule::SNS_PENDING_EMAIL);
            let text = with_entry(&text, "PendingConfirmation", |_| "true".into());
            rebuilt_bytes(parts, text.into())
        }
        "DeleteTopic" => {
            let topic = field("TopicArn").unwrap_or_default();
            let answer = forward(shared, call, parts, body, request_id).await;
            if answer.status().is_success() {
                // Its subscriptions, pending ones too, go with the topic.
                shared.state().strict.answers.pending.retain(|arn| !arn.starts_with(&format!("{topic}:")));
            }
            answer
        }
        _ => forward(shared, call, parts, body, request_id).await,
    }
}

fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", xml_escape(text))
}

async fn text_body(answer: Response<Full<Bytes>>) -> (hyper::http::response::Parts, String) {
    let (parts, body) = answer.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    (parts, String::from_utf8_lossy(&bytes).to_string())
}

/// An attributes map answer (`<entry><key>K</key><value>V</value></entry>`)
/// with the value of `key` changed by `change` (given it unescaped).
fn with_entry(xml: &str, key: &str, mut change: impl FnMut(&str) -> String) -> String {
    let marker = format!("<key>{key}</key>");
    let Some(at) = xml.find(&marker) else { return xml.to_string() };
    let after = at + marker.len();
    let Some(open) = xml[after..].find("<value>").map(|i| after + i + "<value>".len()) else {
        return xml.to_string();
    };
    let Some(close) = xml[open..].find("</value>").map(|i| open + i) else { return xml.to_string() };
    let value = change(&unescape_xml(&xml[open..close]));
    format!("{}{}{}", &xml[..open], xml_escape(&value), &xml[close..])
}

/// A policy document with each account id principal (`"AWS": "<12
/// digits>"`) as its root ARN, as AWS stores it; `None` when it names none.
pub(super) fn rooted(text: &str) -> Option<String> {
    let mut doc: Json = serde_json::from_str(text).ok()?;
    let mut changed = false;
    let statements = match doc.get_mut("Statement")? {
        Json::Array(list) => list.iter_mut().collect::<Vec<_>>(),
        one => vec![one],
    };
    for statement in statements {
        for key in ["Principal", "NotPrincipal"] {
            let Some(aws) = statement.get_mut(key).and_then(|p| p.get_mut("AWS")) else { continue };
            let ids = match aws {
                Json::Array(list) => list.iter_mut().collect::<Vec<_>>(),
                one => vec![one],
            };
            for id in ids {
                if let Some(s) = id.as_str()
                    && s.len() == 12
                    && s.bytes().all(|b| b.is_ascii_digit())
                {
                    *id = Json::String(format!("arn:aws:iam::{s}:root"));
                    changed = true;
                }
            }
        }
    }
    changed.then(|| doc.to_string())
}

/// The answers that carry a policy, with account principals rooted.
pub(super) async fn rooted_answer(
    shared: &Shared,
    call: &Call,
    answer: Response<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    let service = call.service.as_deref().unwrap_or("");
    let reads_policy = matches!(
        (service, call.operation.as_str()),
        ("sqs", "GetQueueAttributes")
            | ("sns", "GetTopicAttributes")
            | ("lambda", "GetPolicy")
            | ("s3", "GetBucketPolicy")
            | ("iam", "GetRole")
    );
    if !reads_policy || !answer.status().is_success() {
        return answer;
    }
    let (parts, text) = text_body(answer).await;
    let new = match service {
        "s3" => rooted(&text),
        "sqs" | "lambda" => serde_json::from_str::<Json>(&text).ok().and_then(|mut json| {
            let slot = if service == "sqs" { json.pointer_mut("/Attributes/Policy") } else { json.get_mut("Policy") };
            let policy = rooted(slot.as_ref()?.as_str()?)?;
            *slot? = Json::String(policy);
            Some(json.to_string())
        }),
        "sns" => {
            let mut changed = false;
            let text = with_entry(&text, "Policy", |doc| match rooted(doc) {
                Some(new) => {
                    changed = true;
                    new
                }
                None => doc.to_string(),
            });
            changed.then_some(text)
        }
        _ => super::xml_field(&text, "AssumeRolePolicyDocument").and_then(|raw| {
            let decoded = if raw.trim_start().starts_with('{') { raw.clone() } else { percent_decode(&raw) };
            let new = rooted(&decoded)?;
            Some(text.replace(&format!(">{}<", xml_escape(&raw)), &format!(">{}<", xml_escape(&percent_encode(&new)))))
        }),
    };
    match new {
        Some(new) => {
            count(shared, rule::ACCOUNT_PRINCIPAL_REWRITE);
            rebuilt_bytes(parts, new.into())
        }
        None => rebuilt_bytes(parts, text.into()),
    }
}

/// URL-encoding, as IAM answers documents.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_read_back_as_root_arns() {
        let doc = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::1:role/r"]}},
                     {"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"}}]}"#;
        let new: Json = serde_json::from_str(&rooted(doc).unwrap_or_default()).unwrap_or_default();
        assert_eq!(new["Statement"][0]["Principal"]["AWS"][0], "arn:aws:iam::111122223333:root");
        assert_eq!(new["Statement"][0]["Principal"]["AWS"][1], "arn:aws:iam::1:role/r");
        assert_eq!(rooted(r#"{"Statement":{"Principal":"*"}}"#), None);
        let one = rooted(r#"{"Statement":{"Principal":{"AWS":"111122223333"}}}"#).unwrap_or_default();
        assert!(one.contains("arn:aws:iam::111122223333:root"), "{one}");
        assert_eq!(percent_decode(&percent_encode("{\"a\": \"b c\"}")), "{\"a\": \"b c\"}");
    }

    #[test]
    fn entries_change_by_key() {
        let xml = "<entry><key>A</key><value>x</value></entry><entry><key>PendingConfirmation</key>\n<value>false</value></entry>";
        let new = with_entry(xml, "PendingConfirmation", |_| "true".into());
        assert!(new.ends_with("<value>true</value></entry>") && new.contains("<value>x</value>"), "{new}");
    }
}
