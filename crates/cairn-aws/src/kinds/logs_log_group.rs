//! `aws:logs:LogGroup`: a CloudWatch Logs log group. Physical id: its name.
//!
//! The `arn` attribute is the group's ARN without the trailing `:*` that
//! DescribeLogGroups reports, the form IAM and tagging take; services that
//! want the `:*` form (CloudTrail) append it themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::LogGroup as AwsLogGroup;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{
    AttrType, Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, RefProp, TypedKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::unresolved;
use crate::retry::{Bound, Wait, retrying};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A CloudWatch Logs log group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogGroupProps {
    /// Group name: 1-512 of `A-Z a-z 0-9 _ - / . #`. Default `/cairn/<stack>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Days to keep events, one of the values CloudWatch Logs allows
    /// (1, 3, 5, 7, 14, 30, …, 3653); unset keeps them forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<i32>,
    /// ARN of the KMS key that encrypts the group's data. Cannot change in
    /// place. A key of the stack (`${key.arn}`) gets the statement letting
    /// CloudWatch Logs use it for this group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// The `aws:logs:LogGroup` kind.
pub struct LogGroup {
    clients: Arc<Clients>,
}

impl LogGroup {
    pub fn new(clients: Arc<Clients>) -> Self {
        LogGroup { clients }
    }
}

const MAX_NAME: usize = 512;

pub use crate::kinds::RETENTION_DAYS;

#[async_trait]
impl TypedKind for LogGroup {
    const TYPE: &'static str = "aws:logs:LogGroup";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name", "kms_key"];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["kms_key"], when: None, accepts: &[AttrType::Arn("aws:kms:Key")] }];
    type Props = LogGroupProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the group's name (not its ARN)",
        attributes: &[
            ("arn", "the group's ARN without the trailing `:*` (the form IAM and tagging take)"),
            ("name", "the group's name"),
        ],
        quirks: &[
            "DescribeLogGroups reports the ARN with `:*`; the attribute drops it, and services that need it (CloudTrail) get it added.",
            "Lambda makes `/aws/lambda/<name>` itself on a function's first run: a group of that name that is not this stack's is refused, never silently taken over.",
            "Retention is checked offline against the periods CloudWatch Logs accepts, with the nearest one suggested.",
        ],
    };

    fn defaults(props: &mut LogGroupProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(format!("/cairn/{}/{}", cx.stack, cx.id));
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &LogGroupProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name {
            validate_name(name, errors);
        }
        if let Some(days) = props.retention_days {
            crate::kinds::validate_retention("retention_days", days, errors);
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &LogGroupProps) -> Result<Observed<LogGroupProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("/cairn/{}/{}", cx.stack, cx.resource));
        let logs = self.clients.logs().await;
        let action = format!("creating log group {name}");
        let arn = log_group_arn(&cx.env, &name);

        let sent = retrying(cx, self.clients.waits(), &action, key_not_yet_usable, || {
            let mut req = logs.create_log_group().log_group_name(&name).set_kms_key_id(props.kms_key.clone());
            for (k, v) in &cx.tags {
                req = req.tags(k, v);
            }
            req.send()
        })
        .await;
        match sent {
            Ok(_) => {}
            // CreateLogGroup fails on an existing name, so no look first. A
            // group of that name may be left by a crashed run or by an earlier
            // try of this call whose answer was lost (ours: adopt it), or made
            // by someone else, such as Lambda on a first invocation (refused).
            Err(f) if f.error.code() == Some("ResourceAlreadyExistsException") => {
                let group = find_log_group(logs, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(group) = group else { return Err(f.op_error(&action)) };
                return self.adopt(cx, &name, &arn, &group, props, &action).await;
            }
            Err(f) => return Err(f.op_error(&action)),
        }
        if let Some(days) = props.retention_days {
            logs.put_retention_policy()
                .log_group_name(&name)
                .retention_in_days(days)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting retention"), &e))?;
        }
        Ok(observed(&arn, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        cx: &OpCtx,
        name: &str,
        last: &LogGroupProps,
    ) -> Result<Option<Observed<LogGroupProps>>, OpError> {
        let logs = self.clients.logs().await;
        let Some(group) =
            find_log_group(logs, name).await.map_err(|e| OpError::failed(format!("reading log group {name}: {e}")))?
        else {
            return Ok(None);
        };
        let arn = group.arn().map_or_else(|| log_group_arn(&cx.env, name), |a| without_wildcard(a).to_string());
        Ok(Some(observed(&arn, props_from_group(&group, name, last))))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let logs = self.clients.logs().await;
        let arn = log_group_arn(&cx.env, name);
        live_tags_of(&format!("log group {name}"), find_log_group(logs, name), |_| list_tags(logs, &arn)).await
    }

    async fn add_tags(&self, cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let logs = self.clients.logs().await;
        let arn = log_group_arn(&cx.env, name);
        add_tags_to(&format!("log group {name}"), find_log_group(logs, name), |_, action| async move {
            set_tags(logs, &arn, tags, &action).await
        })
        .await
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        old: &LogGroupProps,
        new: &LogGroupProps,
    ) -> Result<Observed<LogGroupProps>, OpError> {
        let action = format!("updating log group {name}");
        let Some(live) = self.read(cx, name, old).await? else {
            return Err(OpError::failed(format!("{action}: the group no longer exists")));
        };
        let arn = live.attrs.get("arn").and_then(Value::as_str).map(ToString::to_string).unwrap_or_default();
        self.converge(cx, &arn, &live.props, new, &action).await?;
        Ok(observed(&arn, new.clone()))
    }

    // ---- delete ----------------------------------------------------------------

    async fn data_at_risk(&self, _cx: &OpCtx, name: &str, _props: &LogGroupProps) -> Option<String> {
        self.events_at_risk(name).await
    }

    async fn delete(&self, _cx: &OpCtx, name: &str, _props: &LogGroupProps) -> Result<(), OpError> {
        let logs = self.clients.logs().await;
        match logs.delete_log_group().log_group_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting log group {name}"), &e)),
        }
    }
}

impl LogGroup {
    /// Takes over an existing group if its tags say it is this resource's,
    /// and brings it to `want`.
    async fn adopt(
        &self,
        cx: &OpCtx,
        name: &str,
        arn: &str,
        group: &AwsLogGroup,
        want: &LogGroupProps,
        action: &str,
    ) -> Result<Observed<LogGroupProps>, OpError> {
        let logs = self.clients.logs().await;
        let tags = list_tags(logs, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        cx.ensure_owns(&tags, format!("log group {name}"))?;
        let live = props_from_group(group, name, want);
        if live.kms_key != want.kms_key {
            return Err(OpError::failed(format!(
                "{action}: a group of that name already exists with another KMS key; it cannot change in place"
            )));
        }
        self.converge(cx, arn, &live, want, action).await?;
        Ok(observed(arn, want.clone()))
    }

    /// Sets the retention where `live` differs from `want`, then the tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        arn: &str,
        live: &LogGroupProps,
        want: &LogGroupProps,
        action: &str,
    ) -> Result<(), OpError> {
        let logs = self.clients.logs().await;
        let name = want.name.clone().unwrap_or_default();
        if live.retention_days != want.retention_days {
            match want.retention_days {
                Some(days) => logs
                    .put_retention_policy()
                    .log_group_name(&name)
                    .retention_in_days(days)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error(&format!("{action}: setting retention"), &e))?,
                None => logs
                    .delete_retention_policy()
                    .log_group_name(&name)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error(&format!("{action}: removing retention"), &e))?,
            }
        }
        let live_tags = list_tags(logs, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(logs, arn, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            logs.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }
}

/// A key policy just written (the glue's grant for this group) takes a
/// moment to count: CloudWatch Logs answers AccessDeniedException naming
/// the key meanwhile.
fn key_not_yet_usable(code: Option<&str>, message: Option<&str>) -> Option<Wait> {
    (code == Some("AccessDeniedException") && message.is_some_and(|m| m.contains("KMS key")))
        .then_some(Wait::new("waiting for the KMS key policy to allow CloudWatch Logs", Bound::Propagation))
}

// ---- pure helpers ------------------------------------------------------------

fn validate_name(name: &str, errors: &mut Vec<PropError>) {
    if unresolved(name) {
        return;
    }
    if name.is_empty() || name.len() > MAX_NAME {
        errors.push(
            PropError::new(&["name"], format!("log group name is {} characters long", name.len()))
                .expected(format!("1 to {MAX_NAME} characters")),
        );
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-/.#".contains(*c))) {
        errors.push(
            PropError::new(&["name"], format!("log group name `{name}` contains `{bad}`"))
                .expected("letters, digits, `_`, `-`, `/`, `.` and `#`"),
        );
    }
}

/// `arn:{partition}:logs:{region}:{account}:log-group:{name}`, without `:*`.
pub fn log_group_arn(env: &Environment, name: &str) -> String {
    format!("arn:{}:logs:{}:{}:log-group:{name}", env.partition, env.region, env.account_id)
}

fn without_wildcard(arn: &str) -> &str {
    arn.strip_suffix(":*").unwrap_or(arn)
}

fn observed(arn: &str, props: LogGroupProps) -> Observed<LogGroupProps> {
    let name = props.name.clone().unwrap_or_default();
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(arn.to_string()));
    attrs.insert("name".to_string(), Value::String(name.clone()));
    Observed { physical_id: name, props, attrs }
}

/// Props as AWS reports them, in the canonical form `check` produces.
fn props_from_group(group: &AwsLogGroup, name: &str, _last: &LogGroupProps) -> LogGroupProps {
    LogGroupProps {
        name: Some(name.to_string()),
        retention_days: group.retention_in_days(),
        kms_key: group.kms_key_id().filter(|k| !k.is_empty()).map(ToString::to_string),
    }
}

// ---- finders -----------------------------------------------------------------

/// The log group of exactly that name, or `None`. DescribeLogGroups only
/// filters by prefix, so other groups sharing the prefix are skipped.
async fn find_log_group(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> Result<Option<AwsLogGroup>, String> {
    let mut token = None;
    loop {
        let out = logs
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("DescribeLogGroups", &e).to_string())?;
        if let Some(g) = out.log_groups().iter().find(|g| g.log_group_name() == Some(name)) {
            return Ok(Some(g.clone()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(None),
        }
    }
}

/// Sets these tags on the group (TagResource, by its ARN without `:*`),
/// leaving its others alone; errors start with `action`.
async fn set_tags(
    logs: &aws_sdk_cloudwatchlogs::Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    logs.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

/// The group's tags, by its ARN without `:*`.
async fn list_tags(logs: &aws_sdk_cloudwatchlogs::Client, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let out = logs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsForResource", &e).to_string())?;
    Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
}

// ---- what a delete loses (issue 15) ------------------------------------------------

impl LogGroup {
    /// The stored log events a delete of the group would lose, from one
    /// DescribeLogGroups (its `storedBytes`, which CloudWatch Logs updates
    /// with some delay); `None` when nothing is stored or it is unreadable.
    async fn events_at_risk(&self, name: &str) -> Option<String> {
        let logs = self.clients.logs().await;
        let out = logs.describe_log_groups().log_group_name_prefix(name).send().await.ok()?;
        let group = out.log_groups().iter().find(|g| g.log_group_name() == Some(name))?;
        let bytes = group.stored_bytes().filter(|b| *b > 0)?;
        Some(format!("{bytes} bytes of stored log events"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<LogGroupProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(LogGroup::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab2", id: "messages", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn default_name_is_a_path() {
        assert_eq!(check(json!({})).ok().and_then(|p| p.name), Some("/cairn/lab2/messages".into()));
    }

    #[test]
    fn names_and_retention_are_checked_offline() {
        assert!(check(json!({"name": "/aws/lambda/fn_1.x#2"})).is_ok());
        assert!(check(json!({"name": "has space"})).is_err());
        assert!(check(json!({"name": "x".repeat(513)})).is_err());
        assert!(check(json!({"name": "${fn.name}"})).is_ok());
        assert!(check(json!({"retention_days": 14})).is_ok());
        assert!(check(json!({"retention_days": 3653})).is_ok());
        let errors = check(json!({"retention_days": 10})).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].suggestion.as_deref(), Some("retention_days: 14"));
        assert!(check(json!({"retention": 14})).is_err());
    }

    #[test]
    fn arn_has_no_wildcard() {
        let env = Environment { account_id: "1".into(), region: "eu-west-1".into(), partition: "aws".into() };
        assert_eq!(log_group_arn(&env, "/a/b"), "arn:aws:logs:eu-west-1:1:log-group:/a/b");
        assert_eq!(without_wildcard("arn:aws:logs:r:1:log-group:/a:*"), "arn:aws:logs:r:1:log-group:/a");
    }
}
