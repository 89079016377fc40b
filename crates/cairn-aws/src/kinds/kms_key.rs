//! `aws:kms:Key`: a customer managed KMS key for encryption, with an
//! optional alias. Physical id: the key id.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeyState, KeyUsageType, Tag};
use cairn_engine::kind::{AttrType, Environment, KindDoc, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::{found_nothing, kms_root_statement, known_str, unresolved, validate_policy};
use crate::normalize::{optional_text, parse_document, policy_as_read};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A customer managed KMS key (symmetric, for encrypting and decrypting):
/// what a trail, a topic or a bucket encrypts with when AWS's own keys will
/// not do. Rotation is on unless told otherwise; destroy schedules the
/// key's deletion after `deletion_window_days`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyProps {
    /// What the key is for, shown in the console (up to 8192 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A friendly name for the key, `alias/<name>`: letters, digits, `/`,
    /// `_` and `-`, not starting `alias/aws/` (AWS's own). It is also how
    /// cairn finds a key it made when the answer to its create was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Rotate the key material every year (CIS AWS 3.6). On by default.
    #[serde(default = "yes")]
    pub rotation: bool,
    /// Days AWS waits, after destroy schedules the key's deletion, before it
    /// deletes the key for good (7-30; the key can be brought back until
    /// then, and costs nothing meanwhile). Default 30.
    #[serde(default = "thirty")]
    pub deletion_window_days: u8,
    /// The key policy document. Unset keeps AWS's default: the account's
    /// IAM policies decide who may use the key. cairn merges into it the
    /// statements the services of the stack need (a trail encrypting its
    /// logs, alarms and rules publishing to an encrypted topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
}

fn yes() -> bool {
    true
}

fn thirty() -> u8 {
    DEFAULT_WINDOW
}

impl Default for KeyProps {
    fn default() -> Self {
        KeyProps { description: None, alias: None, rotation: true, deletion_window_days: DEFAULT_WINDOW, policy: None }
    }
}

/// The `aws:kms:Key` kind.
pub struct Key {
    clients: Arc<Clients>,
}

impl Key {
    pub fn new(clients: Arc<Clients>) -> Self {
        Key { clients }
    }
}

const DEFAULT_WINDOW: u8 = 30;
const MIN_WINDOW: u8 = 7;
const MAX_DESCRIPTION: usize = 8192;
const MAX_ALIAS: usize = 256;
const ALIAS_PREFIX: &str = "alias/";
const AWS_ALIAS_PREFIX: &str = "alias/aws/";
/// A key has one policy, and this is its name.
const POLICY_NAME: &str = "default";
/// KMS's answer to a call on a key whose state forbids it (a key already
/// pending deletion).
const INVALID_STATE: &str = "KMSInvalidStateException";

#[async_trait]
impl TypedKind for Key {
    const TYPE: &'static str = "aws:kms:Key";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "key_id"];
    const ATTRIBUTE_TYPES: &'static [(&'static str, AttrType)] = &[("key_id", AttrType::Id("aws:kms:Key"))];
    const REPLACE_ON: &'static [&'static str] = &[];
    type Props = KeyProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the key's id (a UUID)",
        attributes: &[
            ("arn", "the key's ARN, what a trail's, topic's or bucket's `kms_key` takes"),
            ("key_id", "the key's id"),
        ],
        quirks: &[
            "A key is never deleted at once: destroy deletes its alias and schedules the key's deletion after `deletion_window_days`, and says so; `aws kms cancel-key-deletion` brings it back until then. A key pending deletion reads as gone.",
            "A key has no name of its own: with an `alias`, a create whose answer was lost finds the key by it; without one, the key is left for `cairn sweep`, which finds it by its tags.",
            "A key policy that no longer lets the account manage the key is refused by AWS; cairn keeps AWS's default statement (the account's IAM policies decide) in a policy it derives.",
            "Key policies come back reordered: they are compared by meaning. Unsetting `policy` restores AWS's default policy.",
        ],
    };

    fn found_props() -> KeyProps {
        KeyProps::default()
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &KeyProps, errors: &mut Vec<PropError>) {
        if let Some(alias) = &props.alias {
            validate_alias(alias, errors);
        }
        if !(MIN_WINDOW..=DEFAULT_WINDOW).contains(&props.deletion_window_days) {
            let mut e = PropError::new(
                &["deletion_window_days"],
                format!("KMS cannot wait {} days before deleting a key", props.deletion_window_days),
            )
            .expected(format!("{MIN_WINDOW} to {DEFAULT_WINDOW} days"));
            e.suggestion =
                Some(format!("deletion_window_days: {}", props.deletion_window_days.clamp(MIN_WINDOW, DEFAULT_WINDOW)));
            errors.push(e);
        }
        if let Some(d) = &props.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            errors.push(
                PropError::new(&["description"], format!("description is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DESCRIPTION} characters")),
            );
        }
        if let Some(p) = &props.policy {
            validate_policy(p, errors);
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn absent(&self, _cx: &OpCtx, props: &Value) -> Option<bool> {
        let alias = known_str(props, "alias")?;
        found_nothing(find_key(self.clients.kms().await, alias).await)
    }

    async fn create(&self, cx: &OpCtx, props: &KeyProps) -> Result<Observed<KeyProps>, OpError> {
        let kms = self.clients.kms().await;
        let action = match &props.alias {
            Some(a) => format!("creating KMS key {a}"),
            None => format!("creating KMS key for {}", cx.resource),
        };
        // An alias names one key: the key behind an existing one is taken
        // over only when its tags say it is this resource.
        if let Some(alias) = &props.alias
            && !cx.absent
            && let Some(found) = find_key(kms, alias).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        {
            let tags = list_tags(kms, &found.id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            cx.ensure_owns(&tags, format!("KMS key {alias}"))?;
            let live = self.live_props(&found, props).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            self.converge(cx, &found.id, &live, props, &action).await?;
            return Ok(observed(found.id, found.arn, props.clone()));
        }

        let mut req =
            kms.create_key().key_usage(KeyUsageType::EncryptDecrypt).set_description(props.description.clone());
        if let Some(p) = &props.policy {
            req = req.policy(p.to_string());
        }
        for (k, v) in &cx.tags {
            req = req.tags(kms_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
        }
        let out = req.send().await.map_err(|e| aws_error(&action, &e))?;
        let meta = out.key_metadata().ok_or_else(|| OpError::failed(format!("{action}: AWS answered with no key")))?;
        let id = meta.key_id().to_string();
        let arn = meta.arn().map_or_else(|| key_arn(&cx.env, &id), ToString::to_string);
        // The key exists from here: a failure below leaves it for the next
        // apply to converge (through its alias) or for sweep (by its tags).
        if props.rotation {
            kms.enable_key_rotation()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: enabling rotation"), &e))?;
        }
        if let Some(alias) = &props.alias {
            kms.create_alias()
                .alias_name(alias)
                .target_key_id(&id)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: naming it"), &e))?;
        }
        Ok(observed(id, arn, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, _cx: &OpCtx, id: &str, last: &KeyProps) -> Result<Option<Observed<KeyProps>>, OpError> {
        let kms = self.clients.kms().await;
        let what = format!("reading KMS key {id}");
        let Some(found) = find_key(kms, id).await.map_err(|e| OpError::failed(format!("{what}: {e}")))? else {
            return Ok(None);
        };
        let props = self.live_props(&found, last).await.map_err(|e| OpError::failed(format!("{what}: {e}")))?;
        Ok(Some(observed(found.id, found.arn, props)))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        id: &str,
        old: &KeyProps,
        new: &KeyProps,
    ) -> Result<Observed<KeyProps>, OpError> {
        let action = format!("updating KMS key {id}");
        let Some(live) = self.read(cx, id, old).await? else {
            return Err(OpError::failed(format!("{action}: the key no longer exists (or is pending deletion)")));
        };
        self.converge(cx, id, &live.props, new, &action).await?;
        let arn =
            live.attrs.get("arn").and_then(Value::as_str).map_or_else(|| key_arn(&cx.env, id), ToString::to_string);
        Ok(observed(id.to_string(), arn, new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let kms = self.clients.kms().await;
        live_tags_of(&format!("KMS key {id}"), find_key(kms, id), |k| async move { list_tags(kms, &k.id).await }).await
    }

    async fn add_tags(&self, _cx: &OpCtx, id: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let kms = self.clients.kms().await;
        add_tags_to(&format!("KMS key {id}"), find_key(kms, id), |k, action| async move {
            set_tags(kms, &k.id, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    /// Deletes the alias, then schedules the key's deletion: KMS never
    /// deletes a key at once.
    async fn delete(&self, cx: &OpCtx, id: &str, props: &KeyProps) -> Result<(), OpError> {
        let kms = self.clients.kms().await;
        let action = format!("deleting KMS key {id}");
        let aliases = match key_aliases(kms, id).await {
            Ok(a) => a,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_error(&format!("{action}: listing its aliases"), &e)),
        };
        for alias in aliases {
            delete_alias(kms, &alias, &action).await?;
        }
        let days = props.deletion_window_days.clamp(MIN_WINDOW, DEFAULT_WINDOW);
        match kms.schedule_key_deletion().key_id(id).pending_window_in_days(i32::from(days)).send().await {
            Ok(_) => {
                (cx.notify)(&format!(
                    "KMS deletes key {id} in {days} days (its deletion window); until then \
                     `aws kms cancel-key-deletion --key-id {id}` brings it back"
                ));
                Ok(())
            }
            // Already pending deletion (an earlier try, or by hand): done.
            Err(e) if is_not_found(&e) || e.as_service_error().and_then(|s| s.meta().code()) == Some(INVALID_STATE) => {
                Ok(())
            }
            Err(e) => Err(aws_error(&action, &e)),
        }
    }
}

/// The key as DescribeKey tells it.
struct FoundKey {
    id: String,
    arn: String,
    description: Option<String>,
}

impl Key {
    /// Everything a read compares, from the key's policy, rotation, aliases.
    async fn live_props(&self, found: &FoundKey, last: &KeyProps) -> Result<KeyProps, String> {
        let kms = self.clients.kms().await;
        let id = found.id.as_str();
        let (policy, rotation, aliases) = futures::try_join!(
            async {
                if last.policy.is_none() {
                    // Unmanaged: AWS always has one, and it is not ours to report.
                    return Ok(None);
                }
                let out = kms
                    .get_key_policy()
                    .key_id(id)
                    .policy_name(POLICY_NAME)
                    .send()
                    .await
                    .map_err(|e| aws_error("GetKeyPolicy", &e).to_string())?;
                Ok(out.policy().map(|text| policy_as_read(parse_document(text), last.policy.as_ref())))
            },
            async {
                kms.get_key_rotation_status()
                    .key_id(id)
                    .send()
                    .await
                    .map(|o| o.key_rotation_enabled())
                    .map_err(|e| aws_error("GetKeyRotationStatus", &e).to_string())
            },
            async { key_aliases(kms, id).await.map_err(|e| aws_error("ListAliases", &e).to_string()) },
        )?;
        let alias = match &last.alias {
            Some(a) if aliases.contains(a) => Some(a.clone()),
            _ => aliases.into_iter().next(),
        };
        Ok(KeyProps {
            description: optional_text(found.description.as_deref(), last.description.as_ref()),
            alias,
            rotation,
            deletion_window_days: last.deletion_window_days,
            policy,
        })
    }

    /// Turns `live` into `want`: description, policy, rotation, alias, tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        id: &str,
        live: &KeyProps,
        want: &KeyProps,
        action: &str,
    ) -> Result<(), OpError> {
        let kms = self.clients.kms().await;
        if live.description != want.description {
            kms.update_key_description()
                .key_id(id)
                .description(want.description.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting its description"), &e))?;
        }
        if live.policy != want.policy {
            let policy = want.policy.clone().unwrap_or_else(|| default_policy(&cx.env));
            kms.put_key_policy()
                .key_id(id)
                .policy_name(POLICY_NAME)
                .policy(policy.to_string())
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting its policy"), &e))?;
        }
        if live.rotation != want.rotation {
            let what = format!("{action}: turning rotation {}", on_off(want.rotation));
            if want.rotation {
                kms.enable_key_rotation().key_id(id).send().await.map_err(|e| aws_error(&what, &e))?;
            } else {
                kms.disable_key_rotation().key_id(id).send().await.map_err(|e| aws_error(&what, &e))?;
            }
        }
        if live.alias != want.alias {
            if let Some(old) = &live.alias {
                delete_alias(kms, old, action).await?;
            }
            if let Some(new) = &want.alias {
                kms.create_alias()
                    .alias_name(new)
                    .target_key_id(id)
                    .send()
                    .await
                    .map_err(|e| aws_error(&format!("{action}: naming it {new}"), &e))?;
            }
        }
        let live_tags = list_tags(kms, id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(kms, id, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            kms.untag_resource()
                .key_id(id)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

// ---- pure helpers ------------------------------------------------------------

fn validate_alias(alias: &str, errors: &mut Vec<PropError>) {
    if unresolved(alias) {
        return;
    }
    let Some(name) = alias.strip_prefix(ALIAS_PREFIX) else {
        let mut e = PropError::new(&["alias"], format!("alias `{alias}` does not start with `alias/`"))
            .expected("`alias/<name>`");
        e.suggestion = Some(format!("alias: alias/{alias}"));
        errors.push(e);
        return;
    };
    if alias.starts_with(AWS_ALIAS_PREFIX) {
        errors.push(
            PropError::new(&["alias"], format!("alias `{alias}` is in `alias/aws/`, which AWS keeps for its own keys"))
                .expected("another name, like `alias/my-key`"),
        );
    }
    if name.is_empty() || alias.len() > MAX_ALIAS {
        errors.push(
            PropError::new(&["alias"], format!("alias `{alias}` is {} characters long", alias.len()))
                .expected(format!("`alias/` and a name, {MAX_ALIAS} characters in all at most")),
        );
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'))) {
        errors.push(
            PropError::new(&["alias"], format!("alias `{alias}` contains `{bad}`"))
                .expected("letters, digits, `/`, `_` and `-` after `alias/`"),
        );
    }
}

/// `arn:{partition}:kms:{region}:{account}:key/{id}`.
fn key_arn(env: &Environment, id: &str) -> String {
    format!("arn:{}:kms:{}:{}:key/{id}", env.partition, env.region, env.account_id)
}

fn observed(id: String, arn: String, props: KeyProps) -> Observed<KeyProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("key_id".to_string(), Value::String(id.clone()));
    attrs.insert("arn".to_string(), Value::String(arn));
    Observed { physical_id: id, props, attrs }
}

/// The policy KMS gives a key created without one.
fn default_policy(env: &Environment) -> Value {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [kms_root_statement(&env.partition, &env.account_id)]
    })
}

fn kms_tag(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder().tag_key(k).tag_value(v).build().map_err(|e| format!("tag {k}: {e}"))
}

/// Sets these tags on the key, leaving its others alone.
async fn set_tags(
    kms: &aws_sdk_kms::Client,
    id: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut req = kms.tag_resource().key_id(id);
    for (k, v) in tags {
        req = req.tags(kms_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
    }
    req.send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

// ---- finders -----------------------------------------------------------------

/// The key that an id, ARN or alias names, or `None` when there is none or
/// it is pending deletion (as good as gone: it cannot be used, and only a
/// cancel by hand brings it back).
async fn find_key(kms: &aws_sdk_kms::Client, key: &str) -> Result<Option<FoundKey>, String> {
    let out = match kms.describe_key().key_id(key).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_error("DescribeKey", &e).to_string()),
    };
    let Some(meta) = out.key_metadata() else { return Ok(None) };
    if pending_deletion(meta) {
        return Ok(None);
    }
    Ok(Some(FoundKey {
        id: meta.key_id().to_string(),
        arn: meta.arn().unwrap_or_default().to_string(),
        description: meta.description().map(ToString::to_string),
    }))
}

/// Whether KMS is waiting out the key's deletion window: for cairn (a read,
/// a sweep) the key is gone.
pub(crate) fn pending_deletion(meta: &aws_sdk_kms::types::KeyMetadata) -> bool {
    matches!(meta.key_state(), Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion))
}

/// Deletes an alias; one already gone is success.
async fn delete_alias(kms: &aws_sdk_kms::Client, alias: &str, action: &str) -> Result<(), OpError> {
    match kms.delete_alias().alias_name(alias).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(aws_error(&format!("{action}: deleting alias {alias}"), &e)),
    }
}

/// The key's own aliases (not AWS's `alias/aws/…`).
async fn key_aliases(
    kms: &aws_sdk_kms::Client,
    id: &str,
) -> Result<
    Vec<String>,
    aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_kms::operation::list_aliases::ListAliasesError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
> {
    let pages: Vec<_> = kms.list_aliases().key_id(id).into_paginator().send().collect().await;
    let mut aliases = Vec::new();
    for page in pages {
        for a in page?.aliases() {
            if let Some(name) = a.alias_name().filter(|n| !n.starts_with(AWS_ALIAS_PREFIX)) {
                aliases.push(name.to_string());
            }
        }
    }
    Ok(aliases)
}

/// The key's tags.
pub(crate) async fn list_tags(kms: &aws_sdk_kms::Client, id: &str) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let out = kms
            .list_resource_tags()
            .key_id(id)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| aws_error("ListResourceTags", &e).to_string())?;
        tags.extend(out.tags().iter().map(|t| (t.tag_key().to_string(), t.tag_value().to_string())));
        match out.next_marker().filter(|_| out.truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(tags),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_engine::kind::NameCtx;

    fn check(props: Value) -> Result<KeyProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Key::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "trail-key", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn rotation_is_on_and_the_window_is_thirty_days_unless_told() {
        let p = check(json!({})).unwrap_or_default();
        assert!(p.rotation);
        assert_eq!(p.deletion_window_days, 30);
        let p = check(json!({"rotation": false, "deletion_window_days": 7})).unwrap_or_default();
        assert!(!p.rotation);
        assert_eq!(p.deletion_window_days, 7);
    }

    #[test]
    fn the_window_is_seven_to_thirty_days() {
        assert!(check(json!({"deletion_window_days": 6})).is_err());
        assert!(check(json!({"deletion_window_days": 31})).is_err());
        let Err(errors) = check(json!({"deletion_window_days": 90})) else { panic!("90 days accepted") };
        assert_eq!(errors[0].suggestion.as_deref(), Some("deletion_window_days: 30"));
    }

    #[test]
    fn aliases_are_checked_offline() {
        assert!(check(json!({"alias": "alias/lab3-trail"})).is_ok());
        assert!(check(json!({"alias": "alias/${stack.name}-trail"})).is_ok());
        let Err(errors) = check(json!({"alias": "lab3-trail"})) else { panic!("alias without prefix accepted") };
        assert_eq!(errors[0].suggestion.as_deref(), Some("alias: alias/lab3-trail"));
        assert!(check(json!({"alias": "alias/aws/sns"})).is_err());
        assert!(check(json!({"alias": "alias/"})).is_err());
        assert!(check(json!({"alias": "alias/has space"})).is_err());
        assert!(check(json!({"alias": format!("alias/{}", "k".repeat(251))})).is_err());
    }

    #[test]
    fn a_policy_must_be_an_object() {
        assert!(check(json!({"policy": "nope"})).is_err());
        assert!(check(json!({"policy": {"Statement": []}})).is_ok());
    }

    #[test]
    fn the_default_policy_lets_the_account_decide() {
        let env =
            Environment { account_id: "123456789012".into(), region: "eu-west-1".into(), partition: "aws".into() };
        let p = default_policy(&env);
        assert_eq!(p["Statement"][0]["Principal"]["AWS"], "arn:aws:iam::123456789012:root");
        assert_eq!(p["Statement"][0]["Action"], "kms:*");
        assert_eq!(key_arn(&env, "k-1"), "arn:aws:kms:eu-west-1:123456789012:key/k-1");
    }
}
