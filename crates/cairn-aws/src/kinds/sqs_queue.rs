//! `aws:sqs:Queue`: an SQS queue. Physical id: the queue URL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::{found_nothing, known_name, unresolved, validate_policy};
use crate::normalize::{parse_document, policy_as_read};
use crate::retry::{Bound, Wait, retrying};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// An SQS queue, standard or FIFO, with an optional dead-letter queue.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueueProps {
    /// Queue name: 1-80 of `A-Z a-z 0-9 _ -`, the `.fifo` suffix included
    /// for a FIFO queue. Default `<stack>-<id>` (with `.fifo` for FIFO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A FIFO queue: ordered, exactly-once processing. Cannot change in place.
    #[serde(default)]
    pub fifo: bool,
    /// Seconds a received message stays hidden from other consumers,
    /// 0-43200; default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility_timeout: Option<u32>,
    /// Seconds a message is kept, 60-1209600 (14 days); default 345600 (4 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<u32>,
    /// Seconds each new message is delayed, 0-900; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<u32>,
    /// Seconds a receive call waits for a message (long polling), 0-20; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_wait: Option<u32>,
    /// Where messages go after too many failed receives (the redrive policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<DeadLetter>,
    /// SQS-managed server-side encryption; default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<bool>,
    /// The queue's access policy document; unset means no queue policy, so
    /// only this account's principals with IAM permissions may use it. AWS
    /// services that send to the queue (SNS, EventBridge) need a statement
    /// here: cairn derives one for each topic subscription and rule target
    /// (or dead-letter queue) in the stack, scoped by `aws:SourceArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// A queue's dead-letter target.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeadLetter {
    /// The dead-letter queue's ARN.
    pub queue: String,
    /// Receives before a message moves to the dead-letter queue, 1-1000.
    pub max_receive_count: u32,
}

/// The `aws:sqs:Queue` kind.
pub struct Queue {
    clients: Arc<Clients>,
}

impl Queue {
    pub fn new(clients: Arc<Clients>) -> Self {
        Queue { clients }
    }
}

const FIFO_SUFFIX: &str = ".fifo";
const MAX_NAME: usize = 80;
const DEFAULT_VISIBILITY_TIMEOUT: u32 = 30;
const DEFAULT_RETENTION: u32 = 345_600;

#[async_trait]
impl TypedKind for Queue {
    const TYPE: &'static str = "aws:sqs:Queue";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name", "url"];
    const REPLACE_ON: &'static [&'static str] = &["name", "fifo"];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["dead_letter", "queue"], when: None, accepts: &[AttrType::Arn("aws:sqs:Queue")] }];
    type Props = QueueProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the queue's URL",
        attributes: &[
            ("arn", "the queue's ARN, what subscriptions, mappings and dead-letter targets take"),
            ("name", "the queue's name"),
            ("url", "the queue's URL, what SDK calls to send and receive take"),
        ],
        quirks: &[
            "CreateQueue answers with an existing queue of the same attributes as if it had made it: cairn looks first and takes over only its own.",
            "A queue deleted less than 60 s ago cannot be made again under its name (`QueueDeletedRecently`): a replace waits and retries, saying so.",
            "For 60 s after a delete the dying queue still answers reads: a queue found by name is taken over only once CreateQueue agrees it exists.",
            "Names, FIFO suffix and the attribute ranges are checked offline.",
        ],
    };

    fn defaults(props: &mut QueueProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            let suffix = if props.fifo { FIFO_SUFFIX } else { "" };
            props.name = Some(format!("{}{suffix}", cx.default_name()));
        }
        props.visibility_timeout.get_or_insert(DEFAULT_VISIBILITY_TIMEOUT);
        props.retention.get_or_insert(DEFAULT_RETENTION);
        props.delay.get_or_insert(0);
        props.receive_wait.get_or_insert(0);
        props.sse.get_or_insert(true);
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &QueueProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name {
            validate_name(name, props.fifo, errors);
        }
        let ranges: [(&str, Option<u32>, u32, u32); 4] = [
            ("visibility_timeout", props.visibility_timeout, 0, 43_200),
            ("retention", props.retention, 60, 1_209_600),
            ("delay", props.delay, 0, 900),
            ("receive_wait", props.receive_wait, 0, 20),
        ];
        for (field, value, min, max) in ranges {
            if let Some(v) = value
                && !(min..=max).contains(&v)
            {
                errors.push(
                    PropError::new(&[field], format!("{field} is {v} seconds"))
                        .expected(format!("{min} to {max} seconds")),
                );
            }
        }
        if let Some(p) = &props.policy {
            validate_policy(p, errors);
        }
        if let Some(dl) = &props.dead_letter {
            if !unresolved(&dl.queue) && !dl.queue.starts_with("arn:") {
                errors.push(
                    PropError::new(&["dead_letter", "queue"], format!("`{}` is not a queue ARN", dl.queue))
                        .expected("the dead-letter queue's ARN, like `${dlq.arn}`"),
                );
            }
            if !(1..=1000).contains(&dl.max_receive_count) {
                errors.push(
                    PropError::new(
                        &["dead_letter", "max_receive_count"],
                        format!("max_receive_count is {}", dl.max_receive_count),
                    )
                    .expected("1 to 1000"),
                );
            }
        }
    }

    // ---- create ----------------------------------------------------------------

    /// The look before a create, made early by apply (see `Kind::absent`).
    async fn absent(&self, cx: &OpCtx, props: &Value) -> Option<bool> {
        let name = &known_name(props, cx)?;
        found_nothing(find_queue_url(self.clients.sqs().await, name).await)
    }

    async fn create(&self, cx: &OpCtx, props: &QueueProps) -> Result<Observed<QueueProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let sqs = self.clients.sqs().await;
        let action = format!("creating SQS queue {name}");

        // CreateQueue returns an existing queue with the same attributes as if
        // it had made it, so look first: only this stack's own may be adopted.
        let existing = if cx.absent {
            None
        } else {
            find_queue_url(sqs, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        };
        let mut req = sqs.create_queue().queue_name(&name);
        for (k, v) in attributes_for(props) {
            req = req.attributes(k, v);
        }
        for (k, v) in &cx.tags {
            req = req.tags(k, v);
        }
        if let Some(url) = existing {
            let tags = list_tags(sqs, &url).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            cx.ensure_owns(&tags, format!("SQS queue {name}"))?;
            // Within 60 s of a delete, GetQueueUrl and the queue's reads can
            // still answer for the dying queue, tags and all: ask CreateQueue,
            // which says QueueDeletedRecently for it, before adopting.
            if let Err(e) = req.clone().send().await
                && e.code().is_some_and(|c| c.ends_with("QueueDeletedRecently"))
            {
                (cx.notify)(&format!("{action}: the queue of that name is being deleted; creating it anew"));
                return self.create_new(cx, &req, &name, props, &action).await;
            }
            let Some(attrs) =
                find_attributes(sqs, &url).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
            else {
                return Err(OpError::failed(format!("{action}: the queue vanished while being adopted")));
            };
            let live = props_from_attributes(&attrs, &url, props);
            if live.fifo != props.fifo {
                return Err(OpError::failed(format!(
                    "{action}: a queue of that name already exists with fifo = {}; it cannot change in place",
                    live.fifo
                )));
            }
            self.converge(cx, &url, &live, props, &action).await?;
            return self.observe(&url, props.clone(), &action).await;
        }

        self.create_new(cx, &req, &name, props, &action).await
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, _cx: &OpCtx, url: &str, last: &QueueProps) -> Result<Option<Observed<QueueProps>>, OpError> {
        let sqs = self.clients.sqs().await;
        let Some(attrs) = find_attributes(sqs, url)
            .await
            .map_err(|e| OpError::failed(format!("reading SQS queue {}: {e}", name_from_url(url))))?
        else {
            return Ok(None);
        };
        let arn = attrs.get(&QueueAttributeName::QueueArn).cloned().unwrap_or_default();
        Ok(Some(observed(url, &arn, props_from_attributes(&attrs, url, last))))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, url: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let sqs = self.clients.sqs().await;
        live_tags_of(&format!("SQS queue {}", name_from_url(url)), find_attributes(sqs, url), |_| list_tags(sqs, url))
            .await
    }

    async fn add_tags(&self, _cx: &OpCtx, url: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let sqs = self.clients.sqs().await;
        add_tags_to(&format!("SQS queue {}", name_from_url(url)), find_attributes(sqs, url), |_, action| async move {
            set_tags(sqs, url, tags, &action).await
        })
        .await
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        url: &str,
        old: &QueueProps,
        new: &QueueProps,
    ) -> Result<Observed<QueueProps>, OpError> {
        let action = format!("updating SQS queue {}", name_from_url(url));
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read(cx, url, old).await? else {
            return Err(OpError::failed(format!("{action}: the queue no longer exists")));
        };
        self.converge(cx, url, &live.props, new, &action).await?;
        self.observe(url, new.clone(), &action).await
    }

    // ---- delete ----------------------------------------------------------------

    /// See [`Queue::messages_at_risk`] (at the end of this file).
    async fn data_at_risk(&self, _cx: &OpCtx, url: &str, _props: &QueueProps) -> Option<String> {
        self.messages_at_risk(url).await
    }

    async fn delete(&self, _cx: &OpCtx, url: &str, _props: &QueueProps) -> Result<(), OpError> {
        let sqs = self.clients.sqs().await;
        match sqs.delete_queue().queue_url(url).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_missing_queue(e.code()) => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting SQS queue {}", name_from_url(url)), &e)),
        }
    }
}

impl Queue {
    /// CreateQueue, waiting out a name AWS still holds for a queue deleted
    /// moments ago.
    async fn create_new(
        &self,
        cx: &OpCtx,
        req: &CreateQueueFluentBuilder,
        name: &str,
        props: &QueueProps,
        action: &str,
    ) -> Result<Observed<QueueProps>, OpError> {
        let out = retrying(cx, self.clients.waits(), action, retry_reason, || req.clone().send())
            .await
            .map_err(|f| f.op_error(action))?;
        let url = out.queue_url().unwrap_or_default().to_string();
        if url.is_empty() {
            return Err(OpError::failed(format!("{action}: AWS returned no queue URL")));
        }
        // CreateQueue answers only the URL; the ARN follows from the name,
        // which saves reading the attributes back.
        let arn = format!("arn:{}:sqs:{}:{}:{name}", cx.env.partition, cx.env.region, cx.env.account_id);
        Ok(observed(&url, &arn, props.clone()))
    }

    /// Sets every attribute where `live` differs from `want`, then the tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        url: &str,
        live: &QueueProps,
        want: &QueueProps,
        action: &str,
    ) -> Result<(), OpError> {
        let sqs = self.clients.sqs().await;
        let changes = attribute_changes(live, want);
        if !changes.is_empty() {
            let mut req = sqs.set_queue_attributes().queue_url(url);
            for (k, v) in changes {
                req = req.attributes(k, v);
            }
            req.send().await.map_err(|e| aws_error(&format!("{action}: setting attributes"), &e))?;
        }
        let live_tags = list_tags(sqs, url).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(sqs, url, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            sqs.untag_queue()
                .queue_url(url)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }

    /// The observed queue with its ARN, which only GetQueueAttributes reports.
    async fn observe(&self, url: &str, props: QueueProps, action: &str) -> Result<Observed<QueueProps>, OpError> {
        let sqs = self.clients.sqs().await;
        let attrs = find_attributes(sqs, url)
            .await
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?
            .ok_or_else(|| OpError::failed(format!("{action}: the queue vanished right after being written")))?;
        let arn = attrs.get(&QueueAttributeName::QueueArn).cloned().unwrap_or_default();
        Ok(observed(url, &arn, props))
    }
}

// ---- pure helpers ------------------------------------------------------------

fn validate_name(name: &str, fifo: bool, errors: &mut Vec<PropError>) {
    crate::kinds::validate_fifo_name("queue", name, fifo, MAX_NAME, errors);
}

/// Why a failed CreateQueue is worth trying again: only
/// `QueueDeletedRecently` (`AWS.SimpleQueueService.QueueDeletedRecently` in
/// the query protocol), since AWS holds a name for 60 s after a deletion.
fn retry_reason(code: Option<&str>, _message: Option<&str>) -> Option<Wait> {
    code.filter(|c| c.ends_with("QueueDeletedRecently")).map(|_| {
        Wait::new("waiting to re-use the queue name, which AWS holds for 60 s after a deletion", Bound::QueueNameReuse)
    })
}

/// SQS says "no such queue" as `AWS.SimpleQueueService.NonExistentQueue`
/// (query protocol) or `QueueDoesNotExist` (JSON protocol).
fn is_missing_queue(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.ends_with("NonExistentQueue") || c.ends_with("QueueDoesNotExist"))
}

/// The queue name: the last segment of its URL.
fn name_from_url(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

fn observed(url: &str, arn: &str, props: QueueProps) -> Observed<QueueProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(arn.to_string()));
    attrs.insert("name".to_string(), Value::String(name_from_url(url).to_string()));
    attrs.insert("url".to_string(), Value::String(url.to_string()));
    Observed { physical_id: url.to_string(), props, attrs }
}

fn redrive_policy(dl: &DeadLetter) -> String {
    json!({"deadLetterTargetArn": dl.queue, "maxReceiveCount": dl.max_receive_count}).to_string()
}

/// The attributes CreateQueue gets for these (canonical) props.
fn attributes_for(props: &QueueProps) -> Vec<(QueueAttributeName, String)> {
    let mut attrs = vec![
        (
            QueueAttributeName::VisibilityTimeout,
            props.visibility_timeout.unwrap_or(DEFAULT_VISIBILITY_TIMEOUT).to_string(),
        ),
        (QueueAttributeName::MessageRetentionPeriod, props.retention.unwrap_or(DEFAULT_RETENTION).to_string()),
        (QueueAttributeName::DelaySeconds, props.delay.unwrap_or(0).to_string()),
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, props.receive_wait.unwrap_or(0).to_string()),
        (QueueAttributeName::SqsManagedSseEnabled, props.sse.unwrap_or(true).to_string()),
    ];
    if props.fifo {
        attrs.push((QueueAttributeName::FifoQueue, "true".to_string()));
    }
    if let Some(dl) = &props.dead_letter {
        attrs.push((QueueAttributeName::RedrivePolicy, redrive_policy(dl)));
    }
    if let Some(policy) = &props.policy {
        attrs.push((QueueAttributeName::Policy, policy.to_string()));
    }
    attrs
}

/// SetQueueAttributes entries that turn `live` into `want`; an empty
/// RedrivePolicy removes the dead-letter queue.
fn attribute_changes(live: &QueueProps, want: &QueueProps) -> Vec<(QueueAttributeName, String)> {
    let mut changes = Vec::new();
    let numbers = [
        (QueueAttributeName::VisibilityTimeout, live.visibility_timeout, want.visibility_timeout),
        (QueueAttributeName::MessageRetentionPeriod, live.retention, want.retention),
        (QueueAttributeName::DelaySeconds, live.delay, want.delay),
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, live.receive_wait, want.receive_wait),
    ];
    for (attr, l, w) in numbers {
        if let Some(w) = w
            && l != Some(w)
        {
            changes.push((attr, w.to_string()));
        }
    }
    if let Some(w) = want.sse
        && live.sse != Some(w)
    {
        changes.push((QueueAttributeName::SqsManagedSseEnabled, w.to_string()));
    }
    if live.dead_letter != want.dead_letter {
        changes.push((
            QueueAttributeName::RedrivePolicy,
            want.dead_letter.as_ref().map(redrive_policy).unwrap_or_default(),
        ));
    }
    // An empty Policy removes the queue policy.
    if live.policy != want.policy {
        changes.push((QueueAttributeName::Policy, want.policy.as_ref().map(Value::to_string).unwrap_or_default()));
    }
    changes
}

/// Props as AWS reports them, in the canonical form `check` produces.
/// Attributes AWS leaves out read as what was last applied.
fn props_from_attributes(attrs: &HashMap<QueueAttributeName, String>, url: &str, last: &QueueProps) -> QueueProps {
    let number = |k: QueueAttributeName, last: Option<u32>| attrs.get(&k).and_then(|v| v.parse().ok()).or(last);
    QueueProps {
        name: Some(name_from_url(url).to_string()),
        fifo: attrs.get(&QueueAttributeName::FifoQueue).is_some_and(|v| v == "true"),
        visibility_timeout: number(QueueAttributeName::VisibilityTimeout, last.visibility_timeout),
        retention: number(QueueAttributeName::MessageRetentionPeriod, last.retention),
        delay: number(QueueAttributeName::DelaySeconds, last.delay),
        receive_wait: number(QueueAttributeName::ReceiveMessageWaitTimeSeconds, last.receive_wait),
        dead_letter: attrs.get(&QueueAttributeName::RedrivePolicy).and_then(|v| parse_redrive_policy(v)),
        sse: match attrs.get(&QueueAttributeName::SqsManagedSseEnabled).map(String::as_str) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => last.sse,
        },
        // A policy that means the same as the last one reads as the last one.
        policy: attrs
            .get(&QueueAttributeName::Policy)
            .filter(|text| !text.is_empty())
            .map(|text| policy_as_read(parse_document(text), last.policy.as_ref())),
    }
}

/// The redrive policy AWS reports; `maxReceiveCount` may come as a number
/// or as text.
fn parse_redrive_policy(text: &str) -> Option<DeadLetter> {
    let v: Value = serde_json::from_str(text).ok()?;
    let queue = v.get("deadLetterTargetArn")?.as_str()?.to_string();
    let count = match v.get("maxReceiveCount")? {
        Value::Number(n) => u32::try_from(n.as_u64()?).ok()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    Some(DeadLetter { queue, max_receive_count: count })
}

// ---- finders -----------------------------------------------------------------

/// The URL of the queue of that name, or `None` when there is none.
async fn find_queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<Option<String>, String> {
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(out) => Ok(out.queue_url().map(ToString::to_string)),
        Err(e) if is_missing_queue(e.code()) => Ok(None),
        Err(e) => Err(aws_error("GetQueueUrl", &e).to_string()),
    }
}

/// The queue's attributes, or `None` when it does not exist.
async fn find_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Result<Option<HashMap<QueueAttributeName, String>>, String> {
    match sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await {
        Ok(out) => Ok(Some(out.attributes().cloned().unwrap_or_default())),
        Err(e) if is_missing_queue(e.code()) => Ok(None),
        Err(e) => Err(aws_error("GetQueueAttributes", &e).to_string()),
    }
}

/// Sets these tags on the queue (TagQueue), leaving its others alone; errors
/// start with `action`.
async fn set_tags(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    sqs.tag_queue().queue_url(url).set_tags(Some(tags)).send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

/// The queue's tags.
async fn list_tags(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<BTreeMap<String, String>, String> {
    let out =
        sqs.list_queue_tags().queue_url(url).send().await.map_err(|e| aws_error("ListQueueTags", &e).to_string())?;
    Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
}

// ---- what a delete loses (issue 15) ------------------------------------------------

impl Queue {
    /// The messages a delete of the queue would lose, from one
    /// GetQueueAttributes: visible, in flight and delayed (all approximate,
    /// as SQS counts them); `None` when empty or unreadable.
    async fn messages_at_risk(&self, url: &str) -> Option<String> {
        let sqs = self.clients.sqs().await;
        let out = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok()?;
        let attrs = out.attributes()?;
        let count = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let total = count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            + count(QueueAttributeName::ApproximateNumberOfMessagesDelayed);
        (total > 0).then(|| format!("{total} message{}", if total == 1 { "" } else { "s" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(props: Value) -> Result<QueueProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Queue::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab6", id: "jobs", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn defaults_are_filled() {
        let p = check(json!({})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab6-jobs"));
        assert_eq!(p.visibility_timeout, Some(30));
        assert_eq!(p.retention, Some(345_600));
        assert_eq!((p.delay, p.receive_wait, p.sse), (Some(0), Some(0), Some(true)));
        assert_eq!(check(json!({"fifo": true})).ok().and_then(|p| p.name), Some("lab6-jobs.fifo".into()));
    }

    #[test]
    fn names_and_ranges_are_checked_offline() {
        assert!(check(json!({"name": "ok_name-1"})).is_ok());
        assert!(check(json!({"name": "has.dot"})).is_err());
        assert!(check(json!({"name": "x".repeat(81)})).is_err());
        assert!(check(json!({"name": format!("{}.fifo", "x".repeat(76)), "fifo": true})).is_err());
        assert!(check(json!({"name": format!("{}.fifo", "x".repeat(75)), "fifo": true})).is_ok());
        assert!(check(json!({"name": "q", "fifo": true})).is_err());
        assert!(check(json!({"name": "${param.q}"})).is_ok());
        assert!(check(json!({"visibility_timeout": 43_201})).is_err());
        assert!(check(json!({"retention": 59})).is_err());
        assert!(check(json!({"delay": 901})).is_err());
        assert!(check(json!({"receive_wait": 21})).is_err());
        assert!(check(json!({"dead_letter": {"queue": "dlq", "max_receive_count": 3}})).is_err());
        assert!(check(json!({"dead_letter": {"queue": "arn:aws:sqs:us-east-1:1:d", "max_receive_count": 0}})).is_err());
        assert!(check(json!({"dead_letter": {"queue": "${dlq.arn}", "max_receive_count": 5}})).is_ok());
        assert!(check(json!({"visibilty_timeout": 5})).is_err());
    }

    #[test]
    fn only_queue_deleted_recently_is_retried() {
        let wait = retry_reason(Some("AWS.SimpleQueueService.QueueDeletedRecently"), None);
        assert_eq!(wait.map(|w| w.bound), Some(Bound::QueueNameReuse));
        assert!(retry_reason(Some("QueueDeletedRecently"), None).is_some());
        assert!(retry_reason(Some("QueueAlreadyExists"), None).is_none());
        assert!(retry_reason(None, None).is_none());
    }

    #[test]
    fn redrive_policy_reads_back_either_form() {
        let dl = DeadLetter { queue: "arn:aws:sqs:us-east-1:1:d".into(), max_receive_count: 4 };
        assert_eq!(parse_redrive_policy(&redrive_policy(&dl)), Some(dl.clone()));
        let text = r#"{"maxReceiveCount":"4","deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:d"}"#;
        assert_eq!(parse_redrive_policy(text), Some(dl));
        assert_eq!(parse_redrive_policy(""), None);
    }

    #[test]
    fn unsetting_the_dead_letter_queue_clears_the_redrive_policy() {
        let live = QueueProps {
            dead_letter: Some(DeadLetter { queue: "arn:x".into(), max_receive_count: 2 }),
            ..QueueProps::default()
        };
        let changes = attribute_changes(&live, &QueueProps::default());
        assert_eq!(changes, vec![(QueueAttributeName::RedrivePolicy, String::new())]);
        assert!(attribute_changes(&live, &live).is_empty());
    }

    #[test]
    fn a_policy_is_set_read_back_by_meaning_and_removed() {
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": "arn:q"}]});
        let want = QueueProps { policy: Some(policy.clone()), ..QueueProps::default() };
        assert!(attributes_for(&want).contains(&(QueueAttributeName::Policy, policy.to_string())));
        // AWS answers the document reordered, lists collapsed or not.
        let answered = r#"{"Statement":[{"Resource":"arn:q","Action":["sqs:SendMessage"],
            "Principal":{"Service":["sns.amazonaws.com"]},"Effect":"Allow"}],"Version":"2012-10-17"}"#;
        let mut attrs = HashMap::new();
        attrs.insert(QueueAttributeName::Policy, answered.to_string());
        let live = props_from_attributes(&attrs, "https://q/1/q", &want);
        assert_eq!(live.policy, Some(policy));
        assert!(attribute_changes(&live, &want).is_empty());
        assert_eq!(attribute_changes(&live, &QueueProps::default()), vec![(QueueAttributeName::Policy, String::new())]);
        assert!(check(json!({"policy": "text"})).is_err());
    }
}
