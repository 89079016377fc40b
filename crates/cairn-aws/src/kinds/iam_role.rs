//! `aws:iam:Role`: an IAM role with its trust policy, attached managed
//! policies and inline policies. Physical id: the role name.
//!
//! `trusted_by: [lambda.amazonaws.com]` is shorthand: `check` turns it into
//! the equivalent `assume_role_policy` and drops it, so the canonical props
//! (and every diff) only ever carry the policy document.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use futures::FutureExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::{Call, all, call_retrying, unresolved};
use crate::normalize::{optional_text, parse_document, policy_as_read};
use crate::retry::{Bound, Wait, Waits, retrying};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// An IAM role: its trust policy, attached managed policies and inline
/// policies.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleProps {
    /// Role name: 1-64 of `A-Z a-z 0-9 + = , . @ _ -`. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role's path, `/` or `/a/b/`. Default `/`. Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Who may assume the role (the trust policy). Give this or `trusted_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role_policy: Option<Value>,
    /// Shorthand for a trust policy letting these AWS services assume the
    /// role, e.g. `[lambda.amazonaws.com]`; `check` turns it into
    /// `assume_role_policy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_by: Option<Vec<String>>,
    /// ARNs of managed policies to attach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_policies: Vec<String>,
    /// Inline policies: name -> policy document.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline_policies: BTreeMap<String, Value>,
    /// Maximum session duration in seconds, 3600-43200. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session: Option<u32>,
    /// What the role is for; at most 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The `aws:iam:Role` kind.
pub struct Role {
    clients: Arc<Clients>,
}

impl Role {
    pub fn new(clients: Arc<Clients>) -> Self {
        Role { clients }
    }
}

const MAX_NAME: usize = 64;
const DEFAULT_PATH: &str = "/";
const DEFAULT_MAX_SESSION: u32 = 3600;
const MAX_SESSION_RANGE: std::ops::RangeInclusive<u32> = 3600..=43200;
const MAX_DESCRIPTION: usize = 1000;
const MAX_INLINE_NAME: usize = 128;

#[async_trait]
impl TypedKind for Role {
    const TYPE: &'static str = "aws:iam:Role";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name", "id"];
    const REPLACE_ON: &'static [&'static str] = &["name", "path"];
    type Props = RoleProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the role's name (not its ARN)",
        attributes: &[
            ("arn", "the role's ARN, what a function's `role` takes"),
            ("name", "the role's name, what an instance profile's `role` takes"),
            ("id", "the role's unique id (`AROA…`)"),
        ],
        quirks: &[
            "IAM returns policy documents URL-encoded and reordered: they are decoded and compared by meaning, so no perpetual diff.",
            "A role is refused by other services for seconds after it is made: the kinds that use one (function, trail, instance) retry those refusals, bounded.",
            "DeleteRole refuses a role with policies or instance profiles: they are removed first.",
            "Calls on one role sent together may meet `ConcurrentModification`: retried with backoff.",
            "`trusted_by` is shorthand for the trust policy, so plans only ever show the policy document.",
        ],
    };

    fn defaults(props: &mut RoleProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        if props.path.is_none() {
            props.path = Some(DEFAULT_PATH.to_string());
        }
        if props.max_session.is_none() {
            props.max_session = Some(DEFAULT_MAX_SESSION);
        }
        // Both given, or a bad principal, is an error `validate` reports, so
        // leave them as written.
        if props.assume_role_policy.is_none()
            && let Some(services) = &props.trusted_by
            && services.iter().all(|s| is_service_principal(s))
        {
            props.assume_role_policy = Some(trust_policy(services));
            props.trusted_by = None;
        }
        props.managed_policies.sort();
        props.managed_policies.dedup();
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &RoleProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name {
            validate_name(name, errors);
        }
        if let Some(path) = &props.path
            && !unresolved(path)
            && !(path.starts_with('/') && path.ends_with('/') && path.len() <= 512)
        {
            errors.push(
                PropError::new(&["path"], format!("role path `{path}` is not valid"))
                    .expected("`/` or a path that starts and ends with `/`, like `/service/`"),
            );
        }
        match (&props.assume_role_policy, &props.trusted_by) {
            (Some(_), Some(_)) => errors.push(
                PropError::new(&["trusted_by"], "both `assume_role_policy` and `trusted_by` are given")
                    .expected("exactly one of them"),
            ),
            (None, None) => errors.push(
                PropError::new(&["assume_role_policy"], "the role has no trust policy")
                    .expected("`assume_role_policy` or `trusted_by: [lambda.amazonaws.com]`"),
            ),
            (Some(p), None) => validate_document(p, &["assume_role_policy"], errors),
            (None, Some(_)) => {}
        }
        if let Some(services) = &props.trusted_by {
            for s in services.iter().filter(|s| !is_service_principal(s)) {
                errors.push(
                    PropError::new(&["trusted_by"], format!("`{s}` is not an AWS service principal"))
                        .expected("a service principal like `lambda.amazonaws.com`"),
                );
            }
        }
        for arn in props.managed_policies.iter().filter(|a| !unresolved(a)) {
            if !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":policy/")) {
                errors.push(
                    PropError::new(&["managed_policies"], format!("`{arn}` is not a managed policy ARN"))
                        .expected("an ARN like `arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole`"),
                );
            }
        }
        for (name, doc) in &props.inline_policies {
            if name.is_empty() || name.len() > MAX_INLINE_NAME {
                errors.push(
                    PropError::new(&["inline_policies", name], "inline policy name length")
                        .expected(format!("1 to {MAX_INLINE_NAME} characters")),
                );
            }
            validate_document(doc, &["inline_policies", name], errors);
        }
        if let Some(s) = props.max_session
            && !MAX_SESSION_RANGE.contains(&s)
        {
            errors.push(
                PropError::new(&["max_session"], format!("maximum session is {s} seconds"))
                    .expected("3600 to 43200 seconds (1 to 12 hours)"),
            );
        }
        if let Some(d) = &props.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            errors.push(
                PropError::new(&["description"], format!("description is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DESCRIPTION} characters")),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &RoleProps) -> Result<Observed<RoleProps>, OpError> {
        let name = role_name(props, cx);
        let iam = self.clients.iam().await;
        let action = format!("creating IAM role {name}");

        let tags = cx
            .tags
            .iter()
            .map(|(k, v)| iam_tag(k, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let out = iam
            .create_role()
            .role_name(&name)
            .path(props.path.as_deref().unwrap_or(DEFAULT_PATH))
            .assume_role_policy_document(props.assume_role_policy.as_ref().map(Value::to_string).unwrap_or_default())
            .set_description(props.description.clone())
            .set_max_session_duration(props.max_session.map(to_i32))
            .set_tags(Some(tags))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // CreateRole fails on an existing name, so no look first: a role
            // left by a run that died before saving state, or by an earlier
            // try of this call whose answer was lost, is adopted if its tags
            // say it is this resource's; anything else is refused.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let role = find_role(iam, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(role) = role else { return Err(aws_error(&action, &e)) };
                return self.adopt(cx, &name, &role, props, &action).await;
            }
            Err(e) => return Err(aws_error(&action, &e)),
        };
        let Some(role) = out.role() else {
            return Err(OpError::failed(format!("{action}: AWS returned no role")));
        };
        let created = RoleProps { managed_policies: Vec::new(), inline_policies: BTreeMap::new(), ..props.clone() };
        self.converge(cx, &name, &created, Some(&cx.tags), props, &action).await?;
        Ok(observed(role, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, _cx: &OpCtx, name: &str, last: &RoleProps) -> Result<Option<Observed<RoleProps>>, OpError> {
        let iam = self.clients.iam().await;
        let action = format!("reading IAM role {name}");
        // The role and its policies at once: two round trips, not four.
        let (role, policies) = tokio::join!(find_role(iam, name), policies(iam, name, last));
        let Some(role) = role.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Ok(None);
        };
        match policies.map(|p| role_props(&role, last, p)) {
            Ok(props) => Ok(Some(observed(&role, props))),
            // Deleted between the calls.
            Err(LiveError::Gone) => Ok(None),
            Err(e) => Err(OpError::failed(format!("{action}: {e}"))),
        }
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        old: &RoleProps,
        new: &RoleProps,
    ) -> Result<Observed<RoleProps>, OpError> {
        let iam = self.clients.iam().await;
        let action = format!("updating IAM role {name}");
        let Some(role) = find_role(iam, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Err(OpError::failed(format!("{action}: the role no longer exists")));
        };
        // Compare against what is live, not only `old`, so drift is repaired too.
        let live = self.live_props(iam, &role, old).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        self.converge(cx, name, &live, None, new, &action).await?;
        Ok(observed(&role, new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let iam = self.clients.iam().await;
        live_tags_of(&format!("IAM role {name}"), find_role(iam, name), |_| role_tags(iam, name)).await
    }

    async fn add_tags(&self, cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let iam = self.clients.iam().await;
        add_tags_to(&format!("IAM role {name}"), find_role(iam, name), |_, action| async move {
            if tags.is_empty() {
                return Ok(());
            }
            tag_role(cx, self.clients.waits(), iam, name, tags, action)?.await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, name: &str, props: &RoleProps) -> Result<(), OpError> {
        let iam = self.clients.iam().await;
        let waits = self.clients.waits();
        let action = format!("deleting IAM role {name}");
        let fail = |e: String| OpError::failed(format!("{action}: {e}"));
        // DeleteRole refuses a role with policies or instance profiles. The
        // policies last applied are removed while all three lists are read,
        // then whatever else the lists show, then the role: two round trips
        // for a role nobody changed behind cairn's back.
        let mut known: Vec<Call<'_>> = Vec::new();
        known.extend(props.managed_policies.iter().map(|arn| detach(cx, waits, iam, name, arn, &action).boxed()));
        known.extend(
            props.inline_policies.keys().map(|policy| delete_inline(cx, waits, iam, name, policy, &action).boxed()),
        );
        let ((attached, inline, profiles), known) = tokio::join!(
            async {
                tokio::join!(
                    attached_policies(iam, name),
                    inline_policy_names(iam, name),
                    iam.list_instance_profiles_for_role().role_name(name).send()
                )
            },
            all(known)
        );
        let (attached, inline) = match (attached, inline) {
            (Err(LiveError::Gone), _) | (_, Err(LiveError::Gone)) => return Ok(()),
            (Ok(a), Ok(i)) => (a, i),
            (Err(e), _) | (_, Err(e)) => return Err(fail(e.to_string())),
        };
        known?;
        let profiles: Vec<String> = match profiles {
            Ok(out) => out.instance_profiles().iter().map(|p| p.instance_profile_name().to_string()).collect(),
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(aws_error(&format!("{action}: listing instance profiles"), &e)),
        };
        let mut calls: Vec<Call<'_>> = Vec::new();
        calls.extend(
            attached
                .iter()
                .filter(|arn| !props.managed_policies.contains(arn))
                .map(|arn| detach(cx, waits, iam, name, arn, &action).boxed()),
        );
        calls.extend(
            inline
                .iter()
                .filter(|policy| !props.inline_policies.contains_key(*policy))
                .map(|policy| delete_inline(cx, waits, iam, name, policy, &action).boxed()),
        );
        calls.extend(profiles.iter().map(|p| {
            let action = &action;
            async move {
                match iam.remove_role_from_instance_profile().instance_profile_name(p).role_name(name).send().await {
                    Ok(_) => Ok(()),
                    Err(e) if is_not_found(&e) => Ok(()),
                    Err(e) => Err(aws_error(&format!("{action}: removing it from instance profile {p}"), &e)),
                }
            }
            .boxed()
        }));
        all(calls).await?;
        match iam.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_error(&action, &e)),
        }
    }
}

impl Role {
    /// Takes over an existing role if its tags say it is this resource's,
    /// and brings it to `want`.
    async fn adopt(
        &self,
        cx: &OpCtx,
        name: &str,
        role: &aws_sdk_iam::types::Role,
        want: &RoleProps,
        action: &str,
    ) -> Result<Observed<RoleProps>, OpError> {
        let iam = self.clients.iam().await;
        let tags = role_tags(iam, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        cx.ensure_owns(&tags, format!("IAM role {name}"))?;
        if role.path() != want.path.as_deref().unwrap_or(DEFAULT_PATH) {
            return Err(OpError::failed(format!(
                "{action}: a role of that name already exists with path {}; it cannot change in place",
                role.path()
            )));
        }
        let live = self.live_props(iam, role, want).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        self.converge(cx, name, &live, Some(&tags), want, action).await?;
        Ok(observed(role, want.clone()))
    }

    /// The live props: the role itself, its attached and inline policies.
    async fn live_props(
        &self,
        iam: &aws_sdk_iam::Client,
        role: &aws_sdk_iam::types::Role,
        last: &RoleProps,
    ) -> Result<RoleProps, LiveError> {
        Ok(role_props(role, last, policies(iam, role.role_name(), last).await?))
    }

    /// Makes the role match `want`, given that it is `live` now (and its
    /// tags `live_tags`, read here when `None`). The calls touch different
    /// parts of the role, so they are all in flight at once: one round trip.
    async fn converge(
        &self,
        cx: &OpCtx,
        name: &str,
        live: &RoleProps,
        live_tags: Option<&BTreeMap<String, String>>,
        want: &RoleProps,
        action: &str,
    ) -> Result<(), OpError> {
        let iam = self.clients.iam().await;
        // Calls on one role sent together may meet IAM's ConcurrentModification.
        let waits = self.clients.waits();
        let live_tags = match live_tags {
            Some(tags) => tags.clone(),
            None => role_tags(iam, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?,
        };
        let mut calls: Vec<Call<'_>> = Vec::new();
        if live.assume_role_policy != want.assume_role_policy
            && let Some(policy) = &want.assume_role_policy
        {
            calls.push(call_retrying(cx, waits, format!("{action}: updating the trust policy"), iam_busy, move || {
                iam.update_assume_role_policy().role_name(name).policy_document(policy.to_string()).send()
            }));
        }
        if live.description != want.description || live.max_session != want.max_session {
            let what = format!("{action}: updating description and session duration");
            calls.push(call_retrying(cx, waits, what, iam_busy, move || {
                iam.update_role()
                    .role_name(name)
                    .description(want.description.clone().unwrap_or_default())
                    .max_session_duration(to_i32(want.max_session.unwrap_or(DEFAULT_MAX_SESSION)))
                    .send()
            }));
        }
        for arn in want.managed_policies.iter().filter(|a| !live.managed_policies.contains(a)) {
            calls.push(call_retrying(cx, waits, format!("{action}: attaching {arn}"), iam_busy, move || {
                iam.attach_role_policy().role_name(name).policy_arn(arn).send()
            }));
        }
        for arn in live.managed_policies.iter().filter(|a| !want.managed_policies.contains(a)) {
            calls.push(detach(cx, waits, iam, name, arn, action).boxed());
        }
        for (policy, doc) in &want.inline_policies {
            if live.inline_policies.get(policy) != Some(doc) {
                let what = format!("{action}: putting inline policy {policy}");
                calls.push(call_retrying(cx, waits, what, iam_busy, move || {
                    iam.put_role_policy().role_name(name).policy_name(policy).policy_document(doc.to_string()).send()
                }));
            }
        }
        for policy in live.inline_policies.keys().filter(|p| !want.inline_policies.contains_key(*p)) {
            calls.push(delete_inline(cx, waits, iam, name, policy, action).boxed());
        }
        let changes = tag_changes(&live_tags, &cx.tags);
        if !changes.set.is_empty() {
            calls.push(tag_role(cx, waits, iam, name, &changes.set, format!("{action}: tagging"))?);
        }
        if !changes.remove.is_empty() {
            let keys = changes.remove;
            calls.push(call_retrying(cx, waits, format!("{action}: untagging"), iam_busy, move || {
                iam.untag_role().role_name(name).set_tag_keys(Some(keys.clone())).send()
            }));
        }
        all(calls).await
    }
}

/// The TagRole call that sets these tags on the role, leaving its others
/// alone, sent again while IAM is busy with the role; errors start with
/// `what`.
fn tag_role<'a>(
    cx: &'a OpCtx,
    waits: &'a Waits,
    iam: &'a aws_sdk_iam::Client,
    name: &'a str,
    tags: &BTreeMap<String, String>,
    what: String,
) -> Result<Call<'a>, OpError> {
    let tags = tags
        .iter()
        .map(|(k, v)| iam_tag(k, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| OpError::failed(format!("{what}: {e}")))?;
    Ok(call_retrying(cx, waits, what, iam_busy, move || {
        iam.tag_role().role_name(name).set_tags(Some(tags.clone())).send()
    }))
}

// ---- pure helpers ------------------------------------------------------------

fn role_name(props: &RoleProps, cx: &OpCtx) -> String {
    props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource))
}

fn validate_name(name: &str, errors: &mut Vec<PropError>) {
    if unresolved(name) {
        return;
    }
    if name.is_empty() || name.len() > MAX_NAME {
        errors.push(
            PropError::new(&["name"], format!("role name is {} characters long", name.len()))
                .expected(format!("1 to {MAX_NAME} characters")),
        );
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))) {
        errors.push(
            PropError::new(&["name"], format!("role name `{name}` contains `{bad}`"))
                .expected("letters, digits and `+ = , . @ _ -`"),
        );
    }
}

/// A policy must be a JSON object (or a reference that will become one).
fn validate_document(p: &Value, path: &[&str], errors: &mut Vec<PropError>) {
    match p {
        Value::Object(_) => {}
        Value::String(s) if unresolved(s) => {}
        _ => errors.push(
            PropError::new(path, "the policy is not a JSON object")
                .expected("a policy document like {\"Version\": \"2012-10-17\", \"Statement\": [...]}"),
        ),
    }
}

fn is_service_principal(s: &str) -> bool {
    unresolved(s) || (s.ends_with(".amazonaws.com") && s.len() > ".amazonaws.com".len())
}

/// The trust policy `trusted_by` stands for: the services, sorted, may
/// `sts:AssumeRole`.
pub fn trust_policy(services: &[String]) -> Value {
    let mut services = services.to_vec();
    services.sort();
    services.dedup();
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": services},
            "Action": "sts:AssumeRole"
        }]
    })
}

/// A policy document as IAM returns it: URL-encoded on AWS (plain in some
/// emulators), so plain JSON is taken as is and anything else is decoded.
pub(crate) fn iam_document(text: &str) -> Value {
    match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => parse_document(&url_decode(text)),
    }
}

/// Decodes `%XX` escapes and `+` (query-string form, as IAM encodes).
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(b) = hex {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn observed(role: &aws_sdk_iam::types::Role, props: RoleProps) -> Observed<RoleProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(role.arn().to_string()));
    attrs.insert("name".to_string(), Value::String(role.role_name().to_string()));
    attrs.insert("id".to_string(), Value::String(role.role_id().to_string()));
    Observed { physical_id: role.role_name().to_string(), props, attrs }
}

fn iam_tag(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))
}

// ---- finders -----------------------------------------------------------------

/// Why live state could not be read.
#[derive(Debug)]
enum LiveError {
    Gone,
    Aws(String),
}

impl std::fmt::Display for LiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LiveError::Gone => f.write_str("the role no longer exists"),
            LiveError::Aws(e) => f.write_str(e),
        }
    }
}

/// Detaches a managed policy; one already detached is fine.
async fn detach(
    cx: &OpCtx,
    waits: &Waits,
    iam: &aws_sdk_iam::Client,
    role: &str,
    arn: &str,
    action: &str,
) -> Result<(), OpError> {
    let what = format!("{action}: detaching {arn}");
    match retrying(cx, waits, &what, iam_busy, || iam.detach_role_policy().role_name(role).policy_arn(arn).send()).await
    {
        Ok(_) => Ok(()),
        Err(f) if is_not_found(&f.error) => Ok(()),
        Err(f) => Err(f.op_error(&what)),
    }
}

/// Deletes an inline policy; one already gone is fine.
async fn delete_inline(
    cx: &OpCtx,
    waits: &Waits,
    iam: &aws_sdk_iam::Client,
    role: &str,
    policy: &str,
    action: &str,
) -> Result<(), OpError> {
    let what = format!("{action}: deleting inline policy {policy}");
    let delete = || iam.delete_role_policy().role_name(role).policy_name(policy).send();
    match retrying(cx, waits, &what, iam_busy, delete).await {
        Ok(_) => Ok(()),
        Err(f) if is_not_found(&f.error) => Ok(()),
        Err(f) => Err(f.op_error(&what)),
    }
}

/// IAM's answer to a change to a role while another one is under way
/// (calls on one role are sent together): worth sending again.
fn iam_busy(code: Option<&str>, _message: Option<&str>) -> Option<Wait> {
    (code == Some("ConcurrentModification"))
        .then(|| Wait::new("waiting for IAM to finish another change to the role", Bound::Busy))
}

/// The role, or `None` when it does not exist.
async fn find_role(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<aws_sdk_iam::types::Role>, String> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role().cloned()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(aws_error("GetRole", &e).to_string()),
    }
}

pub(crate) async fn role_tags(iam: &aws_sdk_iam::Client, name: &str) -> Result<BTreeMap<String, String>, String> {
    let mut tags = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let out = iam
            .list_role_tags()
            .role_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| aws_error("ListRoleTags", &e).to_string())?;
        tags.extend(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())));
        match out.marker() {
            Some(m) if out.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(tags),
        }
    }
}

/// A role's attached policy ARNs (sorted) and inline policies by name, as
/// read. The documents of the inline policies `last` knows are fetched
/// alongside both lists, so an unchanged role takes one round trip; a policy
/// the list shows and `last` does not is fetched after it.
async fn policies(
    iam: &aws_sdk_iam::Client,
    name: &str,
    last: &RoleProps,
) -> Result<(Vec<String>, BTreeMap<String, Value>), LiveError> {
    let known: Vec<&String> = last.inline_policies.keys().collect();
    let (managed, names, mut docs) =
        tokio::join!(attached_policies(iam, name), inline_policy_names(iam, name), inline_documents(iam, name, known));
    let mut managed = managed?;
    managed.sort();
    let names = names?;
    let missing: Vec<&String> = names.iter().filter(|n| !docs.contains_key(*n)).collect();
    docs.extend(inline_documents(iam, name, missing).await);
    let mut inline = BTreeMap::new();
    for policy in names {
        let Some(out) = docs.remove(&policy) else { continue };
        let Some(doc) = out? else { continue };
        let doc = policy_as_read(doc, last.inline_policies.get(&policy));
        inline.insert(policy, doc);
    }
    Ok((managed, inline))
}

/// The documents of these inline policies, all requested at once; `None`
/// for one that does not exist.
async fn inline_documents(
    iam: &aws_sdk_iam::Client,
    role: &str,
    policies: Vec<&String>,
) -> BTreeMap<String, Result<Option<Value>, LiveError>> {
    let reads = policies.into_iter().map(|policy| async move {
        let doc = match iam.get_role_policy().role_name(role).policy_name(policy).send().await {
            Ok(out) => Ok(Some(iam_document(out.policy_document()))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(LiveError::Aws(aws_error(&format!("GetRolePolicy {policy}"), &e).to_string())),
        };
        (policy.clone(), doc)
    });
    futures::future::join_all(reads).await.into_iter().collect()
}

/// The props of a live role, given its policies.
fn role_props(
    role: &aws_sdk_iam::types::Role,
    last: &RoleProps,
    (managed_policies, inline_policies): (Vec<String>, BTreeMap<String, Value>),
) -> RoleProps {
    RoleProps {
        name: Some(role.role_name().to_string()),
        path: Some(role.path().to_string()),
        assume_role_policy: role
            .assume_role_policy_document()
            .map(|d| policy_as_read(iam_document(d), last.assume_role_policy.as_ref())),
        trusted_by: None,
        managed_policies,
        inline_policies,
        max_session: role.max_session_duration().and_then(|s| u32::try_from(s).ok()),
        description: optional_text(role.description(), last.description.as_ref()),
    }
}

async fn attached_policies(iam: &aws_sdk_iam::Client, name: &str) -> Result<Vec<String>, LiveError> {
    let mut arns = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match iam.list_attached_role_policies().role_name(name).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Err(LiveError::Gone),
            Err(e) => return Err(LiveError::Aws(aws_error("ListAttachedRolePolicies", &e).to_string())),
        };
        arns.extend(out.attached_policies().iter().filter_map(|p| p.policy_arn().map(ToString::to_string)));
        match out.marker() {
            Some(m) if out.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(arns),
        }
    }
}

async fn inline_policy_names(iam: &aws_sdk_iam::Client, name: &str) -> Result<Vec<String>, LiveError> {
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match iam.list_role_policies().role_name(name).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Err(LiveError::Gone),
            Err(e) => return Err(LiveError::Aws(aws_error("ListRolePolicies", &e).to_string())),
        };
        names.extend(out.policy_names().iter().cloned());
        match out.marker() {
            Some(m) if out.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(props: Value) -> Result<RoleProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Role::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab4", id: "fn-role", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn trusted_by_becomes_the_trust_policy() {
        let p = check(json!({"trusted_by": ["lambda.amazonaws.com"]})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab4-fn-role"));
        assert_eq!(p.path.as_deref(), Some("/"));
        assert_eq!(p.max_session, Some(3600));
        assert_eq!(p.trusted_by, None);
        assert_eq!(p.assume_role_policy, Some(trust_policy(&["lambda.amazonaws.com".to_string()])));
        // The canonical form is stable: checking it again changes nothing.
        let again = check(serde_json::to_value(&p).unwrap_or_default()).unwrap_or_default();
        assert_eq!(again, p);
    }

    #[test]
    fn exactly_one_trust_form() {
        assert!(check(json!({})).is_err());
        assert!(check(json!({"trusted_by": ["lambda.amazonaws.com"], "assume_role_policy": {}})).is_err());
        assert!(check(json!({"assume_role_policy": "nope"})).is_err());
        assert!(check(json!({"trusted_by": ["lambda"]})).is_err());
    }

    #[test]
    fn limits_are_checked_offline() {
        let t = json!(["lambda.amazonaws.com"]);
        assert!(check(json!({"trusted_by": t, "name": "x".repeat(65)})).is_err());
        assert!(check(json!({"trusted_by": t, "name": "a b"})).is_err());
        assert!(check(json!({"trusted_by": t, "path": "svc"})).is_err());
        assert!(check(json!({"trusted_by": t, "max_session": 60})).is_err());
        assert!(check(json!({"trusted_by": t, "max_session": 43200})).is_ok());
        assert!(check(json!({"trusted_by": t, "managed_policies": ["AWSLambdaBasicExecutionRole"]})).is_err());
        assert!(check(json!({"trusted_by": t, "inline_policies": {"p": []}})).is_err());
    }

    #[test]
    fn managed_policies_are_a_sorted_set() {
        let p = check(json!({"trusted_by": ["lambda.amazonaws.com"], "managed_policies": [
            "arn:aws:iam::aws:policy/b", "arn:aws:iam::aws:policy/a", "arn:aws:iam::aws:policy/b"]}))
        .unwrap_or_default();
        assert_eq!(p.managed_policies, vec!["arn:aws:iam::aws:policy/a", "arn:aws:iam::aws:policy/b"]);
    }

    #[test]
    fn iam_documents_are_url_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AGet%2A%22%2C%22Resource%22%3A%22a+b%22%7D%5D%7D";
        assert_eq!(
            iam_document(encoded),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "a b"}]})
        );
        assert_eq!(iam_document("{\"a\": \"50%\"}"), json!({"a": "50%"}));
        assert_eq!(url_decode("100%"), "100%");
    }
}
