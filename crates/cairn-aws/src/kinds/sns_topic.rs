//! `aws:sns:Topic`: an SNS topic. Physical id: the topic ARN.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use cairn_engine::kind::{
    AttrType, Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, RefProp, TypedKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::{found_nothing, known_name, sns_default_statement, unresolved, validate_policy};
use crate::normalize::{optional_text, parse_document, policy_as_read};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// An SNS topic: a channel that fans messages out to its subscriptions.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopicProps {
    /// Topic name: 1-256 of `A-Z a-z 0-9 _ -`, plus `.fifo` for a FIFO topic.
    /// Default `<stack>-<id>` (with `.fifo` for a FIFO topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The sender name shown in SMS and email notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// A FIFO topic: ordered, deduplicated delivery. Cannot change in place.
    #[serde(default)]
    pub fifo: bool,
    /// KMS key (id, alias or ARN) for server-side encryption; unset means
    /// no encryption. Not the AWS managed key `alias/aws/sns` for a topic
    /// that CloudWatch alarms or EventBridge rules publish to: its policy
    /// cannot be changed to let `cloudwatch.amazonaws.com` or
    /// `events.amazonaws.com` use it, so their messages are dropped without
    /// an error (validate refuses it). Use a customer managed key whose
    /// policy lets those services use `kms:Decrypt` and
    /// `kms:GenerateDataKey*`: a key of the stack (`${key.arn}`) gets
    /// those statements from cairn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// The topic's access policy document; unset keeps AWS's default policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

/// The `aws:sns:Topic` kind.
pub struct Topic {
    clients: Arc<Clients>,
}

impl Topic {
    pub fn new(clients: Arc<Clients>) -> Self {
        Topic { clients }
    }
}

const FIFO_SUFFIX: &str = ".fifo";
const MAX_NAME: usize = 256;
const MAX_DISPLAY_NAME: usize = 100;

// SNS attribute names.
const ATTR_DISPLAY_NAME: &str = "DisplayName";
const ATTR_FIFO: &str = "FifoTopic";
const ATTR_KMS: &str = "KmsMasterKeyId";
const ATTR_POLICY: &str = "Policy";

#[async_trait]
impl TypedKind for Topic {
    const TYPE: &'static str = "aws:sns:Topic";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name", "fifo"];
    const REF_PROPS: &'static [RefProp] = &[RefProp {
        path: &["kms_key"],
        when: None,
        accepts: &[AttrType::Arn("aws:kms:Key"), AttrType::Id("aws:kms:Key")],
    }];
    type Props = TopicProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the topic's ARN",
        attributes: &[
            ("arn", "the topic's ARN, what subscriptions, rule targets and alarm actions take"),
            ("name", "the topic's name"),
        ],
        quirks: &[
            "CreateTopic answers with an existing topic of the same name as if it had made it: cairn looks first and takes over only a topic tagged as this resource.",
            "Policies come back from AWS reordered and with one-element lists collapsed: they are compared by meaning, so no perpetual diff.",
            "Unsetting `display_name`, `kms_key` or `policy` restores AWS's default rather than leaving the last value.",
            "Names are checked offline: 1-256 of letters, digits, `-`, `_`, and the `.fifo` suffix exactly when `fifo` is set.",
        ],
    };

    fn defaults(props: &mut TopicProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            let suffix = if props.fifo { FIFO_SUFFIX } else { "" };
            props.name = Some(format!("{}{suffix}", cx.default_name()));
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &TopicProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name {
            validate_name(name, props.fifo, errors);
        }
        if let Some(d) = &props.display_name
            && !unresolved(d)
            && d.chars().count() > MAX_DISPLAY_NAME
        {
            errors.push(
                PropError::new(&["display_name"], format!("display name is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DISPLAY_NAME} characters")),
            );
        }
        if let Some(p) = &props.policy {
            validate_policy(p, errors);
        }
    }

    // ---- create ----------------------------------------------------------------

    /// The look before a create, made early by apply (see `Kind::absent`).
    async fn absent(&self, cx: &OpCtx, props: &Value) -> Option<bool> {
        let name = &known_name(props, cx)?;
        found_nothing(find_topic(self.clients.sns().await, &topic_arn(&cx.env, name)).await)
    }

    async fn create(&self, cx: &OpCtx, props: &TopicProps) -> Result<Observed<TopicProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let arn = topic_arn(&cx.env, &name);
        let sns = self.clients.sns().await;
        let action = format!("creating SNS topic {name}");

        // CreateTopic returns an existing topic of the same name as if it had
        // made it, so look first: only this stack's own topic may be adopted.
        let existing = if cx.absent {
            None
        } else {
            find_topic(sns, &arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        };
        if let Some(attrs) = existing {
            let tags = list_tags(sns, &arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            cx.ensure_owns(&tags, format!("SNS topic {name}"))?;
            let live = props_from_attributes(&attrs, &arn, props);
            if live.fifo != props.fifo {
                return Err(OpError::failed(format!(
                    "{action}: a topic of that name already exists with fifo = {}; it cannot change in place",
                    live.fifo
                )));
            }
            self.converge(cx, &arn, &live, props, &action).await?;
            return Ok(observed(arn, props.clone()));
        }

        let mut req = sns.create_topic().name(&name);
        for (k, v) in attributes_for(props) {
            req = req.attributes(k, v);
        }
        for (k, v) in &cx.tags {
            req = req.tags(sns_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
        }
        let out = req.send().await.map_err(|e| aws_error(&action, &e))?;
        let arn = out.topic_arn().map_or(arn, ToString::to_string);
        Ok(observed(arn, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, _cx: &OpCtx, arn: &str, last: &TopicProps) -> Result<Option<Observed<TopicProps>>, OpError> {
        let sns = self.clients.sns().await;
        let Some(attrs) = find_topic(sns, arn)
            .await
            .map_err(|e| OpError::failed(format!("reading SNS topic {}: {e}", name_from_arn(arn))))?
        else {
            return Ok(None);
        };
        Ok(Some(observed(arn.to_string(), props_from_attributes(&attrs, arn, last))))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        arn: &str,
        old: &TopicProps,
        new: &TopicProps,
    ) -> Result<Observed<TopicProps>, OpError> {
        let action = format!("updating SNS topic {}", name_from_arn(arn));
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read(cx, arn, old).await? else {
            return Err(OpError::failed(format!("{action}: the topic no longer exists")));
        };
        self.converge(cx, arn, &live.props, new, &action).await?;
        Ok(observed(arn.to_string(), new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, arn: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let sns = self.clients.sns().await;
        let what = format!("SNS topic {}", name_from_arn(arn));
        live_tags_of(&what, find_topic(sns, arn), |_| list_tags(sns, arn)).await
    }

    async fn add_tags(&self, _cx: &OpCtx, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let sns = self.clients.sns().await;
        let what = format!("SNS topic {}", name_from_arn(arn));
        add_tags_to(&what, find_topic(sns, arn), |_, action| async move { set_tags(sns, arn, tags, &action).await })
            .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, _cx: &OpCtx, arn: &str, _props: &TopicProps) -> Result<(), OpError> {
        let sns = self.clients.sns().await;
        match sns.delete_topic().topic_arn(arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting SNS topic {}", name_from_arn(arn)), &e)),
        }
    }
}

/// Sets these tags on the topic (TagResource), leaving its others alone;
/// errors start with `action`.
async fn set_tags(
    sns: &aws_sdk_sns::Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut req = sns.tag_resource().resource_arn(arn);
    for (k, v) in tags {
        req = req.tags(sns_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
    }
    req.send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

impl Topic {
    /// Sets every attribute where `live` differs from `want`, then the tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        arn: &str,
        live: &TopicProps,
        want: &TopicProps,
        action: &str,
    ) -> Result<(), OpError> {
        let sns = self.clients.sns().await;
        for (name, value) in attribute_changes(live, want, arn, &cx.env.account_id) {
            sns.set_topic_attributes()
                .topic_arn(arn)
                .attribute_name(name)
                .attribute_value(value)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting {name}"), &e))?;
        }
        let live_tags = list_tags(sns, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(sns, arn, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            sns.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }
}

// ---- pure helpers ------------------------------------------------------------

fn validate_name(name: &str, fifo: bool, errors: &mut Vec<PropError>) {
    crate::kinds::validate_fifo_name("topic", name, fifo, MAX_NAME, errors);
}

/// `arn:{partition}:sns:{region}:{account}:{name}`.
pub fn topic_arn(env: &Environment, name: &str) -> String {
    format!("arn:{}:sns:{}:{}:{name}", env.partition, env.region, env.account_id)
}

fn name_from_arn(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn observed(arn: String, props: TopicProps) -> Observed<TopicProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), Value::String(name_from_arn(&arn).to_string()));
    attrs.insert("arn".to_string(), Value::String(arn.clone()));
    Observed { physical_id: arn, props, attrs }
}

/// The attributes CreateTopic gets for these props.
fn attributes_for(props: &TopicProps) -> Vec<(&'static str, String)> {
    let mut attrs = Vec::new();
    if let Some(d) = &props.display_name {
        attrs.push((ATTR_DISPLAY_NAME, d.clone()));
    }
    if props.fifo {
        attrs.push((ATTR_FIFO, "true".to_string()));
    }
    if let Some(k) = &props.kms_key {
        attrs.push((ATTR_KMS, k.clone()));
    }
    if let Some(p) = &props.policy {
        attrs.push((ATTR_POLICY, p.to_string()));
    }
    attrs
}

/// SetTopicAttributes calls that turn `live` into `want`. Unsetting a prop
/// restores AWS's default: no display name, no encryption, the default policy.
fn attribute_changes(live: &TopicProps, want: &TopicProps, arn: &str, account: &str) -> Vec<(&'static str, String)> {
    let mut changes = Vec::new();
    if live.display_name != want.display_name {
        changes.push((ATTR_DISPLAY_NAME, want.display_name.clone().unwrap_or_default()));
    }
    if live.kms_key != want.kms_key {
        changes.push((ATTR_KMS, want.kms_key.clone().unwrap_or_default()));
    }
    if live.policy != want.policy {
        let policy = want.policy.clone().unwrap_or_else(|| default_policy(arn, account));
        changes.push((ATTR_POLICY, policy.to_string()));
    }
    changes
}

/// Props as AWS reports them, in the canonical form `check` produces: what
/// AWS reports as unset reads as unset unless `last` wrote it so, and a
/// policy that means the same as the last one reads as the last one. An
/// unmanaged policy (`last.policy` unset) is not reported: AWS always has one.
fn props_from_attributes(attrs: &HashMap<String, String>, arn: &str, last: &TopicProps) -> TopicProps {
    let get = |k: &str| attrs.get(k).map(String::as_str);
    TopicProps {
        name: Some(name_from_arn(arn).to_string()),
        display_name: optional_text(get(ATTR_DISPLAY_NAME), last.display_name.as_ref()),
        fifo: get(ATTR_FIFO) == Some("true"),
        kms_key: optional_text(get(ATTR_KMS), last.kms_key.as_ref()),
        policy: match (get(ATTR_POLICY), &last.policy) {
            (Some(text), Some(last_policy)) if !text.is_empty() => {
                Some(policy_as_read(parse_document(text), Some(last_policy)))
            }
            _ => None,
        },
    }
}

/// The policy SNS gives a new topic: the owning account may do everything.
fn default_policy(arn: &str, account: &str) -> Value {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [sns_default_statement(arn, account)]
    })
}

fn sns_tag(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))
}

// ---- finders -----------------------------------------------------------------

/// The topic's attributes, or `None` when it does not exist.
async fn find_topic(sns: &aws_sdk_sns::Client, arn: &str) -> Result<Option<HashMap<String, String>>, String> {
    match sns.get_topic_attributes().topic_arn(arn).send().await {
        Ok(out) => Ok(Some(out.attributes().cloned().unwrap_or_default())),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_error("GetTopicAttributes", &e).to_string()),
    }
}

/// The topic's tags.
pub(crate) async fn list_tags(sns: &aws_sdk_sns::Client, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let out = sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsForResource", &e).to_string())?;
    Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(props: Value) -> Result<TopicProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Topic::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab1", id: "alerts", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn default_name_is_stack_dash_id_with_fifo_suffix() {
        assert_eq!(check(json!({})).ok().and_then(|p| p.name), Some("lab1-alerts".into()));
        assert_eq!(check(json!({"fifo": true})).ok().and_then(|p| p.name), Some("lab1-alerts.fifo".into()));
    }

    #[test]
    fn names_are_checked_offline() {
        assert!(check(json!({"name": "ok_name-1"})).is_ok());
        assert!(check(json!({"name": "has space"})).is_err());
        assert!(check(json!({"name": "x".repeat(257)})).is_err());
        assert!(check(json!({"name": "q", "fifo": true})).is_err());
        assert!(check(json!({"name": "q.fifo"})).is_err());
        assert!(check(json!({"name": "q.fifo", "fifo": true})).is_ok());
        assert!(check(json!({"name": "${param.topic}"})).is_ok());
        assert!(check(json!({"nmae": "x"})).is_err());
    }

    #[test]
    fn policy_must_be_an_object() {
        assert!(check(json!({"policy": "not a policy"})).is_err());
        assert!(check(json!({"policy": {"Statement": []}})).is_ok());
    }

    #[test]
    fn read_maps_aws_defaults_to_what_the_user_wrote() {
        let arn = "arn:aws:sns:us-east-1:123456789012:lab1-alerts";
        let mut attrs = HashMap::new();
        attrs.insert(ATTR_DISPLAY_NAME.to_string(), String::new());
        attrs.insert(ATTR_POLICY.to_string(), default_policy(arn, "123456789012").to_string());
        let last = TopicProps { name: Some("lab1-alerts".into()), ..TopicProps::default() };
        assert_eq!(props_from_attributes(&attrs, arn, &last), last);

        let policy = json!({"Statement": [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": arn}]});
        attrs.insert(
            ATTR_POLICY.to_string(),
            r#"{"Statement":{"Resource":"RES","Action":"sns:Publish","Effect":"Allow"}}"#.replace("RES", arn),
        );
        let last = TopicProps { policy: Some(policy.clone()), ..last };
        assert_eq!(props_from_attributes(&attrs, arn, &last).policy, Some(policy));
    }

    #[test]
    fn unsetting_restores_aws_defaults() {
        let arn = "arn:aws:sns:us-east-1:1:t";
        let live = TopicProps {
            display_name: Some("x".into()),
            kms_key: Some("alias/k".into()),
            policy: Some(json!({})),
            ..TopicProps::default()
        };
        let changes = attribute_changes(&live, &TopicProps::default(), arn, "1");
        assert_eq!(changes[0], (ATTR_DISPLAY_NAME, String::new()));
        assert_eq!(changes[1], (ATTR_KMS, String::new()));
        assert_eq!(changes[2], (ATTR_POLICY, default_policy(arn, "1").to_string()));
        assert!(attribute_changes(&live, &live, arn, "1").is_empty());
    }

    #[test]
    fn topic_arn_uses_the_environment() {
        let env = Environment { account_id: "1".into(), region: "cn-north-1".into(), partition: "aws-cn".into() };
        assert_eq!(topic_arn(&env, "t"), "arn:aws-cn:sns:cn-north-1:1:t");
    }
}
