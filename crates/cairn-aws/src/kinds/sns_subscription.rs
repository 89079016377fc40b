//! `aws:sns:Subscription`: a subscription of an endpoint to an SNS topic.
//!
//! Physical id: the subscription ARN once AWS gave one. An email (or http)
//! subscription on real AWS stays pending until its owner confirms it: AWS
//! answers Subscribe with "pending confirmation" instead of an ARN, and a
//! pending subscription can be neither read by ARN nor unsubscribed. Such a
//! subscription gets the id `pending:<topic-arn>|<protocol>|<endpoint>`
//! (see [`SubscriptionId`]) and is found again with ListSubscriptionsByTopic:
//! - read: still pending, the last props are returned as they are (AWS cannot
//!   report them, and the plan must not show a perpetual change); confirmed,
//!   it reads like any subscription, under its real ARN;
//! - delete: still pending is success, since AWS removes it with its topic
//!   (or after three days unconfirmed); confirmed, it is unsubscribed.
//!
//! moto confirms every subscription at once, so the pending paths are tested
//! only through the pure functions at the bottom of this file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::unresolved;
use crate::normalize::parse_document;

// ---- props -----------------------------------------------------------------

/// A subscription delivering a topic's messages to an endpoint: an address, a
/// queue, a function, a URL.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionProps {
    /// The topic's ARN.
    pub topic: String,
    /// One of email, email-json, sqs, lambda, http, https, sms, application,
    /// firehose.
    pub protocol: String,
    /// Where messages go: an address, URL, phone number or ARN, by protocol.
    pub endpoint: String,
    /// Which messages this subscriber receives (an SNS filter policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_policy: Option<Value>,
    /// Deliver the message body as is, without SNS's JSON envelope (sqs,
    /// http, https and firehose only).
    #[serde(default)]
    pub raw_message_delivery: bool,
}

/// The `aws:sns:Subscription` kind.
pub struct Subscription {
    clients: Arc<Clients>,
}

impl Subscription {
    pub fn new(clients: Arc<Clients>) -> Self {
        Subscription { clients }
    }
}

pub const PROTOCOLS: &[&str] =
    &["email", "email-json", "sqs", "lambda", "http", "https", "sms", "application", "firehose"];
/// Protocols whose endpoint is an ARN.
const ARN_PROTOCOLS: &[&str] = &["sqs", "lambda", "application", "firehose"];
/// Protocols that may deliver raw messages.
const RAW_PROTOCOLS: &[&str] = &["sqs", "http", "https", "firehose"];

const ATTR_FILTER_POLICY: &str = "FilterPolicy";
const ATTR_RAW: &str = "RawMessageDelivery";

#[async_trait]
impl TypedKind for Subscription {
    const TYPE: &'static str = "aws:sns:Subscription";
    const ATTRIBUTES: &'static [&'static str] = &["arn"];
    const REPLACE_ON: &'static [&'static str] = &["topic", "protocol", "endpoint"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp { path: &["topic"], when: None, accepts: &[AttrType::Arn("aws:sns:Topic")] },
        RefProp { path: &["endpoint"], when: Some(("protocol", "sqs")), accepts: &[AttrType::Arn("aws:sqs:Queue")] },
        RefProp {
            path: &["endpoint"],
            when: Some(("protocol", "lambda")),
            accepts: &[AttrType::Arn("aws:lambda:Function")],
        },
    ];
    type Props = SubscriptionProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the subscription's ARN; while an e-mail or HTTP subscription awaits confirmation, `pending:<topic-arn>|<protocol>|<endpoint>`",
        attributes: &[("arn", "the subscription's ARN (the pending form until the endpoint's owner confirms)")],
        quirks: &[
            "An e-mail subscription stays pending until confirmed, with no ARN: cairn finds it again on its topic, shows no perpetual diff for it, and leaves it to go with its topic on destroy (AWS cannot unsubscribe it).",
            "Subscribe is idempotent for the same topic, protocol and endpoint, so a retried create gets the same subscription.",
            "An empty filter policy is how AWS reports a removed one: both read as no filter.",
            "E-mail endpoints are checked offline against the address form SNS accepts.",
        ],
    };

    fn defaults(_props: &mut SubscriptionProps, _cx: &NameCtx<'_>) {}

    // ---- validate --------------------------------------------------------------

    fn validate(props: &SubscriptionProps, errors: &mut Vec<PropError>) {
        let topic = &props.topic;
        let is_topic_arn = topic.starts_with("arn:") && topic.split(':').nth(2) == Some("sns");
        if !unresolved(topic) && !is_topic_arn {
            errors.push(PropError::new(&["topic"], format!("`{topic}` is not an SNS topic ARN")).expected(
                "a topic ARN like arn:aws:sns:us-east-1:123456789012:alerts, or a reference like ${alerts.arn}",
            ));
        }
        let protocol = props.protocol.as_str();
        if unresolved(protocol) {
            return;
        }
        if !PROTOCOLS.contains(&protocol) {
            let mut e = PropError::new(&["protocol"], format!("unknown protocol `{protocol}`"))
                .expected(format!("one of {}", PROTOCOLS.join(", ")));
            let lower = protocol.to_ascii_lowercase();
            if PROTOCOLS.contains(&lower.as_str()) {
                e.suggestion = Some(format!("did you mean `{lower}`?"));
            }
            errors.push(e);
            return;
        }
        if let Some(e) = endpoint_problem(protocol, &props.endpoint) {
            errors.push(e);
        }
        if props.raw_message_delivery && !RAW_PROTOCOLS.contains(&protocol) {
            errors.push(
                PropError::new(
                    &["raw_message_delivery"],
                    format!("raw message delivery is not available for protocol {protocol}"),
                )
                .expected(format!("one of the protocols {}", RAW_PROTOCOLS.join(", "))),
            );
        }
        if let Some(p) = &props.filter_policy
            && !matches!(p, Value::Object(_))
            && !matches!(p, Value::String(s) if unresolved(s))
        {
            errors.push(
                PropError::new(&["filter_policy"], "the filter policy is not a JSON object")
                    .expected("an object like {\"severity\": [\"critical\"]}"),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, _cx: &OpCtx, props: &SubscriptionProps) -> Result<Observed<SubscriptionProps>, OpError> {
        let sns = self.clients.sns().await;
        let action =
            format!("subscribing {} {} to SNS topic {}", props.protocol, props.endpoint, topic_name(&props.topic));
        let mut req = sns.subscribe().topic_arn(&props.topic).protocol(&props.protocol).endpoint(&props.endpoint);
        if let Some(p) = &props.filter_policy {
            req = req.attributes(ATTR_FILTER_POLICY, p.to_string());
        }
        if props.raw_message_delivery {
            req = req.attributes(ATTR_RAW, "true");
        }
        // Subscribe is idempotent for the same topic, protocol and endpoint: a
        // re-run after a lost response gets the same subscription back.
        let out = req.send().await.map_err(|e| aws_error(&action, &e))?;
        let id = SubscriptionId::from_subscribe(out.subscription_arn(), props);
        Ok(observed(&id, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        physical_id: &str,
        last: &SubscriptionProps,
    ) -> Result<Option<Observed<SubscriptionProps>>, OpError> {
        let id = SubscriptionId::parse(physical_id);
        let action = format!("reading SNS subscription {}", id.describe());
        let arn = match self.resolve(&id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            Resolved::Gone => return Ok(None),
            Resolved::Pending => return Ok(Some(observed(&id, last.clone()))),
            Resolved::Arn(arn) => arn,
        };
        let sns = self.clients.sns().await;
        let attrs = match sns.get_subscription_attributes().subscription_arn(&arn).send().await {
            Ok(out) => out.attributes().cloned().unwrap_or_default(),
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_error(&action, &e)),
        };
        let id = SubscriptionId::Arn(arn);
        if attrs.get("PendingConfirmation").map(String::as_str) == Some("true") {
            return Ok(Some(observed(&id, last.clone())));
        }
        Ok(Some(observed(&id, props_from_attributes(&attrs, last))))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        _cx: &OpCtx,
        physical_id: &str,
        _old: &SubscriptionProps,
        new: &SubscriptionProps,
    ) -> Result<Observed<SubscriptionProps>, OpError> {
        let id = SubscriptionId::parse(physical_id);
        let action = format!("updating SNS subscription {}", id.describe());
        let arn = match self.resolve(&id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            Resolved::Arn(arn) => arn,
            Resolved::Gone => return Err(OpError::failed(format!("{action}: the subscription no longer exists"))),
            Resolved::Pending => {
                return Err(OpError::failed(format!(
                    "{action}: the subscription is pending confirmation and AWS cannot change it until the endpoint owner confirms it"
                )));
            }
        };
        let sns = self.clients.sns().await;
        // Set both attributes every time: two calls, and drift is repaired.
        // AWS removes a filter policy when given an empty JSON object.
        let filter = new.filter_policy.as_ref().map_or_else(|| NO_FILTER.to_string(), Value::to_string);
        let raw = if new.raw_message_delivery { "true" } else { "false" };
        for (name, value) in [(ATTR_FILTER_POLICY, filter.as_str()), (ATTR_RAW, raw)] {
            if name == ATTR_RAW && !RAW_PROTOCOLS.contains(&new.protocol.as_str()) {
                continue;
            }
            sns.set_subscription_attributes()
                .subscription_arn(&arn)
                .attribute_name(name)
                .attribute_value(value)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting {name}"), &e))?;
        }
        Ok(observed(&SubscriptionId::Arn(arn), new.clone()))
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, physical_id: &str, _props: &SubscriptionProps) -> Result<(), OpError> {
        let id = SubscriptionId::parse(physical_id);
        let action = format!("deleting SNS subscription {}", id.describe());
        let arn = match self.resolve(&id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            Resolved::Gone => return Ok(()),
            Resolved::Pending => {
                (cx.notify)(&format!(
                    "SNS subscription {} is pending confirmation and AWS cannot unsubscribe it; it goes with its topic",
                    id.describe()
                ));
                return Ok(());
            }
            Resolved::Arn(arn) => arn,
        };
        let sns = self.clients.sns().await;
        match sns.unsubscribe().subscription_arn(&arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => {
                // A subscription whose confirmation is still pending cannot be
                // unsubscribed; its topic's deletion removes it.
                if self.is_pending(&arn).await {
                    (cx.notify)(&format!(
                        "SNS subscription {arn} is pending confirmation and AWS cannot unsubscribe it; it goes with its topic"
                    ));
                    Ok(())
                } else {
                    Err(aws_error(&action, &e))
                }
            }
        }
    }
}

// ---- finders -----------------------------------------------------------------

/// Where a subscription id leads now.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A subscription with a real ARN (confirmed, or pending but addressable).
    Arn(String),
    /// Still waiting for confirmation: AWS has no ARN to act on.
    Pending,
    /// No such subscription (or its topic is gone).
    Gone,
}

impl Subscription {
    /// Follows a pending id to the subscription it became, if any.
    async fn resolve(&self, id: &SubscriptionId) -> Result<Resolved, String> {
        let (topic, protocol, endpoint) = match id {
            SubscriptionId::Arn(arn) => return Ok(Resolved::Arn(arn.clone())),
            SubscriptionId::Pending { topic, protocol, endpoint } => (topic, protocol, endpoint),
        };
        let sns = self.clients.sns().await;
        let mut listed = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let out = match sns.list_subscriptions_by_topic().topic_arn(topic).set_next_token(next.take()).send().await
            {
                Ok(out) => out,
                Err(e) if is_not_found(&e) => return Ok(Resolved::Gone),
                Err(e) => return Err(aws_error("ListSubscriptionsByTopic", &e).to_string()),
            };
            listed.extend(out.subscriptions().iter().map(|s| ListedSubscription {
                arn: s.subscription_arn().unwrap_or_default().to_string(),
                protocol: s.protocol().unwrap_or_default().to_string(),
                endpoint: s.endpoint().unwrap_or_default().to_string(),
            }));
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(match_listed(&listed, protocol, endpoint))
    }

    /// Whether AWS says the subscription is still waiting for confirmation.
    async fn is_pending(&self, arn: &str) -> bool {
        let sns = self.clients.sns().await;
        match sns.get_subscription_attributes().subscription_arn(arn).send().await {
            Ok(out) => out.attributes().and_then(|a| a.get("PendingConfirmation")).is_some_and(|v| v == "true"),
            Err(_) => false,
        }
    }
}

// ---- pure helpers ------------------------------------------------------------

/// How cairn names a subscription: its ARN, or, while AWS has none (pending
/// confirmation), the triple that identifies it on its topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionId {
    Arn(String),
    Pending { topic: String, protocol: String, endpoint: String },
}

const PENDING_PREFIX: &str = "pending:";

impl SubscriptionId {
    /// The id for what Subscribe returned: AWS answers "pending confirmation"
    /// (or, in older responses, "PendingConfirmation") when it has no ARN yet.
    pub fn from_subscribe(returned: Option<&str>, props: &SubscriptionProps) -> Self {
        match returned {
            Some(arn) if is_real_arn(arn) => SubscriptionId::Arn(arn.to_string()),
            _ => SubscriptionId::Pending {
                topic: props.topic.clone(),
                protocol: props.protocol.clone(),
                endpoint: props.endpoint.clone(),
            },
        }
    }

    /// Reads a physical id written by [`SubscriptionId::to_physical_id`].
    /// The topic ARN and protocol contain no `|`; the endpoint is the rest.
    pub fn parse(physical_id: &str) -> Self {
        if let Some(rest) = physical_id.strip_prefix(PENDING_PREFIX)
            && let Some((topic, rest)) = rest.split_once('|')
            && let Some((protocol, endpoint)) = rest.split_once('|')
        {
            return SubscriptionId::Pending {
                topic: topic.to_string(),
                protocol: protocol.to_string(),
                endpoint: endpoint.to_string(),
            };
        }
        SubscriptionId::Arn(physical_id.to_string())
    }

    pub fn to_physical_id(&self) -> String {
        match self {
            SubscriptionId::Arn(arn) => arn.clone(),
            SubscriptionId::Pending { topic, protocol, endpoint } => {
                format!("{PENDING_PREFIX}{topic}|{protocol}|{endpoint}")
            }
        }
    }

    /// For messages: the ARN, or "pending <protocol> <endpoint> on <topic>".
    fn describe(&self) -> String {
        match self {
            SubscriptionId::Arn(arn) => arn.clone(),
            SubscriptionId::Pending { topic, protocol, endpoint } => {
                format!("(pending confirmation) {protocol} {endpoint} on topic {}", topic_name(topic))
            }
        }
    }
}

/// Whether Subscribe/ListSubscriptions returned an actual ARN rather than a
/// placeholder such as "pending confirmation", "PendingConfirmation" or
/// "Deleted".
pub fn is_real_arn(s: &str) -> bool {
    s.starts_with("arn:")
}

/// One row of ListSubscriptionsByTopic.
#[derive(Clone, Debug)]
struct ListedSubscription {
    arn: String,
    protocol: String,
    endpoint: String,
}

/// Finds a pending subscription among a topic's subscriptions. Email
/// addresses compare without regard to case, as AWS delivers them.
fn match_listed(listed: &[ListedSubscription], protocol: &str, endpoint: &str) -> Resolved {
    let same_endpoint =
        |e: &str| if protocol.starts_with("email") { e.eq_ignore_ascii_case(endpoint) } else { e == endpoint };
    let mut found = Resolved::Gone;
    for s in listed.iter().filter(|s| s.protocol == protocol && same_endpoint(&s.endpoint)) {
        if is_real_arn(&s.arn) {
            return Resolved::Arn(s.arn.clone());
        }
        found = Resolved::Pending;
    }
    found
}

/// What SetSubscriptionAttributes takes to remove a filter policy.
const NO_FILTER: &str = "{}";

/// Whether a filter policy filters nothing (how AWS may report a removed one).
fn is_no_filter(p: &Value) -> bool {
    p.as_object().is_some_and(serde_json::Map::is_empty)
}

fn topic_name(topic_arn: &str) -> &str {
    topic_arn.rsplit(':').next().unwrap_or(topic_arn)
}

fn endpoint_problem(protocol: &str, endpoint: &str) -> Option<PropError> {
    if unresolved(endpoint) {
        return None;
    }
    if matches!(protocol, "email" | "email-json") {
        return email_problem(endpoint).map(|why| {
            PropError::new(&["endpoint"], format!("`{endpoint}` is not a valid {protocol} endpoint: {why}"))
                .expected("an e-mail address such as ops@example.com")
        });
    }
    let (ok, expected) = match protocol {
        "http" => (endpoint.starts_with("http://"), "a URL starting with http://"),
        "https" => (endpoint.starts_with("https://"), "a URL starting with https://"),
        "sms" => (
            endpoint.trim_start_matches('+').chars().all(|c| c.is_ascii_digit() || c == '-' || c == ' ')
                && endpoint.chars().any(|c| c.is_ascii_digit()),
            "a phone number like +15555550100",
        ),
        p if ARN_PROTOCOLS.contains(&p) => (endpoint.starts_with("arn:"), "an ARN"),
        _ => (true, ""),
    };
    (!ok).then(|| {
        PropError::new(&["endpoint"], format!("`{endpoint}` is not a valid {protocol} endpoint")).expected(expected)
    })
}

/// Why `address` is not an e-mail address SNS accepts (an RFC 5322
/// addr-spec in its dot-atom form: `local@domain.tld`), or `None`.
fn email_problem(address: &str) -> Option<&'static str> {
    const LOCAL_CHARS: &str = "!#$%&'*+/=?^_`{|}~-.";
    if address.chars().any(char::is_whitespace) {
        return Some("it contains a space");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Some("it has no `@`");
    };
    if domain.contains('@') {
        return Some("it has more than one `@`");
    }
    if local.is_empty() || local.len() > 64 {
        return Some("the part before `@` must be 1 to 64 characters");
    }
    if !local.chars().all(|c| c.is_ascii_alphanumeric() || LOCAL_CHARS.contains(c)) {
        return Some("the part before `@` has a character an address cannot hold");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some("the part before `@` cannot start or end with a dot, or hold two in a row");
    }
    if domain.is_empty()
        || domain.len() > 253
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Some("the domain must be names separated by single dots");
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Some("the domain needs a dot (example.com)");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(|l| label_ok(l)) {
        return Some("each name of the domain is letters, digits and inner hyphens, 1 to 63 of them");
    }
    None
}

fn observed(id: &SubscriptionId, props: SubscriptionProps) -> Observed<SubscriptionProps> {
    let arn = match id {
        SubscriptionId::Arn(arn) => arn.clone(),
        // What AWS itself reports in place of the ARN.
        SubscriptionId::Pending { .. } => "pending confirmation".to_string(),
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(arn));
    Observed { physical_id: id.to_physical_id(), props, attrs }
}

/// Props from GetSubscriptionAttributes, in canonical form: a filter policy
/// that equals the last one (as JSON, whatever its formatting) reads as it.
fn props_from_attributes(attrs: &HashMap<String, String>, last: &SubscriptionProps) -> SubscriptionProps {
    let get = |k: &str| attrs.get(k).map(String::as_str).filter(|v| !v.is_empty());
    SubscriptionProps {
        topic: get("TopicArn").map_or_else(|| last.topic.clone(), ToString::to_string),
        protocol: get("Protocol").map_or_else(|| last.protocol.clone(), ToString::to_string),
        endpoint: get("Endpoint").map_or_else(|| last.endpoint.clone(), ToString::to_string),
        filter_policy: get(ATTR_FILTER_POLICY)
            .map(parse_document)
            .filter(|p| !(is_no_filter(p) && last.filter_policy.as_ref().is_none_or(|l| !is_no_filter(l)))),
        raw_message_delivery: get(ATTR_RAW) == Some("true"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:lab1-alerts";

    fn email_props() -> SubscriptionProps {
        SubscriptionProps {
            topic: TOPIC.into(),
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
            ..Default::default()
        }
    }

    fn check(props: Value) -> Result<Value, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Subscription::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab1", id: "ops-email", base_dir: std::path::Path::new("") })
    }

    #[test]
    fn protocols_and_endpoints_are_checked_offline() {
        let ok = json!({"topic": TOPIC, "protocol": "email", "endpoint": "ops@example.com"});
        assert_eq!(
            check(ok.clone()).ok(),
            Some(
                json!({"topic": TOPIC, "protocol": "email", "endpoint": "ops@example.com", "raw_message_delivery": false})
            )
        );
        let errs = check(json!({"topic": TOPIC, "protocol": "EMAIL", "endpoint": "ops@example.com"}))
            .err()
            .unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].suggestion.as_deref(), Some("did you mean `email`?"));
        assert!(check(json!({"topic": TOPIC, "protocol": "pigeon", "endpoint": "x"})).is_err());
        assert!(check(json!({"topic": TOPIC, "protocol": "email", "endpoint": "not-an-address"})).is_err());
        assert!(check(json!({"topic": TOPIC, "protocol": "https", "endpoint": "http://x"})).is_err());
        assert!(check(json!({"topic": TOPIC, "protocol": "sqs", "endpoint": "queue"})).is_err());
        assert!(check(json!({"topic": "alerts", "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:1:q"})).is_err());
        assert!(check(json!({"topic": "${alerts.arn}", "protocol": "email", "endpoint": "${param.email}"})).is_ok());
        assert!(
            check(json!({"topic": TOPIC, "protocol": "email", "endpoint": "a@b.c", "raw_message_delivery": true}))
                .is_err()
        );
        assert!(check(json!({"topic": TOPIC, "protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:1:q", "raw_message_delivery": true})).is_ok());
        assert!(check(json!({"topic": TOPIC, "protocol": "sms", "endpoint": "+15555550100"})).is_ok());
    }

    /// Seen: `ops@@example`, `ops @example.com` and `ops@@example..com`
    /// passed validate.
    #[test]
    fn email_endpoints_must_be_addresses_sns_accepts() {
        for good in
            ["ops@example.com", "first.last+lab@mail.example.co.uk", "o'neil@example.org", "a@b.c", "x_1@ex-ample.io"]
        {
            assert_eq!(email_problem(good), None, "{good}");
        }
        let bad = [
            ("ops@@example", "more than one `@`"),
            ("ops @example.com", "a space"),
            ("ops@@example..com", "more than one `@`"),
            ("ops@example..com", "single dots"),
            ("ops@example", "needs a dot"),
            ("ops.example.com", "no `@`"),
            ("@example.com", "1 to 64"),
            (".ops@example.com", "start or end with a dot"),
            ("ops..x@example.com", "two in a row"),
            ("ops(x)@example.com", "cannot hold"),
            ("ops@-example.com", "inner hyphens"),
            ("ops@exa_mple.com", "inner hyphens"),
        ];
        for (address, why) in bad {
            let problem = email_problem(address);
            assert!(problem.is_some_and(|p| p.contains(why)), "{address}: {problem:?}");
        }
        let errs = check(json!({"topic": TOPIC, "protocol": "email-json", "endpoint": "ops@@example"})).err();
        let message = errs.unwrap_or_default().first().map(|e| e.message.clone()).unwrap_or_default();
        assert!(message.contains("is not a valid email-json endpoint: it has more than one `@`"), "{message}");
    }

    #[test]
    fn pending_subscribe_answer_gives_a_pending_id_that_round_trips() {
        let props = email_props();
        for answer in [Some("pending confirmation"), Some("PendingConfirmation"), None] {
            let id = SubscriptionId::from_subscribe(answer, &props);
            assert_eq!(
                id,
                SubscriptionId::Pending {
                    topic: TOPIC.into(),
                    protocol: "email".into(),
                    endpoint: "ops@example.com".into()
                }
            );
            let physical = id.to_physical_id();
            assert_eq!(physical, format!("pending:{TOPIC}|email|ops@example.com"));
            assert_eq!(SubscriptionId::parse(&physical), id);
        }
        let arn = format!("{TOPIC}:8a21d249-4329-4871-acc6-7be709c6ea7f");
        let id = SubscriptionId::from_subscribe(Some(&arn), &props);
        assert_eq!(id, SubscriptionId::Arn(arn.clone()));
        assert_eq!(SubscriptionId::parse(&id.to_physical_id()), id);
    }

    #[test]
    fn an_endpoint_containing_the_separator_survives() {
        let id = SubscriptionId::Pending {
            topic: TOPIC.into(),
            protocol: "https".into(),
            endpoint: "https://h/x?a=1|2".into(),
        };
        assert_eq!(SubscriptionId::parse(&id.to_physical_id()), id);
    }

    #[test]
    fn a_pending_id_resolves_through_the_topic_listing() {
        let row = |arn: &str, protocol: &str, endpoint: &str| ListedSubscription {
            arn: arn.into(),
            protocol: protocol.into(),
            endpoint: endpoint.into(),
        };
        let other = row(&format!("{TOPIC}:1"), "sqs", "arn:aws:sqs:us-east-1:1:q");
        // Still pending: found, no ARN.
        let listed = [other.clone(), row("PendingConfirmation", "email", "ops@example.com")];
        assert_eq!(match_listed(&listed, "email", "ops@example.com"), Resolved::Pending);
        // Confirmed since: the real ARN (address case does not matter).
        let listed = [other.clone(), row(&format!("{TOPIC}:2"), "email", "Ops@Example.com")];
        assert_eq!(match_listed(&listed, "email", "ops@example.com"), Resolved::Arn(format!("{TOPIC}:2")));
        // Expired unconfirmed or deleted: gone, so the plan shows a create.
        assert_eq!(match_listed(&[other], "email", "ops@example.com"), Resolved::Gone);
    }

    #[test]
    fn a_pending_subscription_reads_as_its_last_props() {
        let id = SubscriptionId::Pending {
            topic: TOPIC.into(),
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
        };
        let o = observed(&id, email_props());
        assert_eq!(o.props, email_props());
        assert_eq!(o.physical_id, id.to_physical_id());
        assert_eq!(o.attrs.get("arn"), Some(&json!("pending confirmation")));
    }

    #[test]
    fn attributes_read_back_in_canonical_form() {
        let mut attrs = HashMap::new();
        attrs.insert("TopicArn".to_string(), TOPIC.to_string());
        attrs.insert("Protocol".to_string(), "sqs".to_string());
        attrs.insert("Endpoint".to_string(), "arn:aws:sqs:us-east-1:1:q".to_string());
        attrs.insert(ATTR_FILTER_POLICY.to_string(), "{\"b\": [1], \"a\": [\"x\"]}".to_string());
        attrs.insert(ATTR_RAW.to_string(), "true".to_string());
        let p = props_from_attributes(&attrs, &SubscriptionProps::default());
        assert_eq!(p.filter_policy, Some(json!({"a": ["x"], "b": [1]})));
        assert!(p.raw_message_delivery);
        attrs.insert(ATTR_FILTER_POLICY.to_string(), String::new());
        assert_eq!(props_from_attributes(&attrs, &SubscriptionProps::default()).filter_policy, None);
        // A removed policy may read back as `{}`: unset, unless the user wrote `{}`.
        attrs.insert(ATTR_FILTER_POLICY.to_string(), "{}".to_string());
        assert_eq!(props_from_attributes(&attrs, &SubscriptionProps::default()).filter_policy, None);
        let wrote_empty = SubscriptionProps { filter_policy: Some(json!({})), ..SubscriptionProps::default() };
        assert_eq!(props_from_attributes(&attrs, &wrote_empty).filter_policy, Some(json!({})));
    }
}
