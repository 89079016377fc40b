//! `aws:iam:InstanceProfile`: the container that hands a role to EC2
//! instances. Physical id: the profile name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::unresolved;
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// An IAM instance profile: the container that hands one role to EC2 instances.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileProps {
    /// Profile name: 1-128 of `A-Z a-z 0-9 + = , . @ _ -`. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role's name (not its ARN).
    pub role: String,
}

/// The `aws:iam:InstanceProfile` kind.
pub struct InstanceProfile {
    clients: Arc<Clients>,
}

impl InstanceProfile {
    pub fn new(clients: Arc<Clients>) -> Self {
        InstanceProfile { clients }
    }
}

const MAX_NAME: usize = 128;

#[async_trait]
impl TypedKind for InstanceProfile {
    const TYPE: &'static str = "aws:iam:InstanceProfile";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["role"], when: None, accepts: &[AttrType::Name("aws:iam:Role")] }];
    type Props = InstanceProfileProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the profile's name",
        attributes: &[
            ("arn", "the profile's ARN"),
            ("name", "the profile's name, what an instance's `instance_profile` takes"),
        ],
        quirks: &[
            "DeleteInstanceProfile refuses a profile that still holds a role: the role is removed first.",
            "A profile holds at most one role: a changed `role` is swapped in place.",
        ],
    };

    fn defaults(props: &mut InstanceProfileProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &InstanceProfileProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
            && (name.is_empty()
                || name.len() > MAX_NAME
                || name.chars().any(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))))
        {
            errors.push(
                PropError::new(&["name"], format!("instance profile name `{name}` is not valid"))
                    .expected(format!("1 to {MAX_NAME} of letters, digits and `+ = , . @ _ -`")),
            );
        }
        if !unresolved(&props.role) && (props.role.is_empty() || props.role.starts_with("arn:")) {
            errors.push(
                PropError::new(&["role"], format!("`{}` is not a role name", props.role))
                    .expected("the role's name, e.g. `${web-role.name}`"),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(
        &self,
        cx: &OpCtx,
        props: &InstanceProfileProps,
    ) -> Result<Observed<InstanceProfileProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let iam = self.clients.iam().await;
        let action = format!("creating IAM instance profile {name}");

        let tags = iam_tags(&cx.tags).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let out = match iam.create_instance_profile().instance_profile_name(&name).set_tags(Some(tags)).send().await {
            Ok(out) => out,
            // CreateInstanceProfile fails on an existing name, so no look
            // first: a profile left by a run that died, or by an earlier try
            // of this call whose answer was lost, is adopted only if its tags
            // say it is this resource's.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let live = find_profile(iam, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(live) = live else { return Err(aws_error(&action, &e)) };
                cx.ensure_owns(&live.tags, format!("IAM instance profile {name}"))?;
                return self.converge(cx, &live, props, &action).await;
            }
            Err(e) => return Err(aws_error(&action, &e)),
        };
        iam.add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(&props.role)
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: adding role {}", props.role), &e))?;
        let created = out.instance_profile();
        let live = LiveProfile {
            name: created.map_or(name.clone(), |p| p.instance_profile_name().to_string()),
            arn: created.map(|p| p.arn().to_string()).unwrap_or_default(),
            roles: vec![props.role.clone()],
            tags: cx.tags.clone(),
        };
        Ok(observed(&live, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        name: &str,
        _last: &InstanceProfileProps,
    ) -> Result<Option<Observed<InstanceProfileProps>>, OpError> {
        let iam = self.clients.iam().await;
        let live = find_profile(iam, name)
            .await
            .map_err(|e| OpError::failed(format!("reading IAM instance profile {name}: {e}")))?;
        Ok(live.map(|l| observed(&l, l.props())))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        _old: &InstanceProfileProps,
        new: &InstanceProfileProps,
    ) -> Result<Observed<InstanceProfileProps>, OpError> {
        let iam = self.clients.iam().await;
        let action = format!("updating IAM instance profile {name}");
        let Some(live) = find_profile(iam, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Err(OpError::failed(format!("{action}: the profile no longer exists")));
        };
        self.converge(cx, &live, new, &action).await
    }

    // ---- tags, for import -------------------------------------------------------

    /// From GetInstanceProfile, which carries the tags (moto lacks
    /// ListInstanceProfileTags).
    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let iam = self.clients.iam().await;
        live_tags_of(&format!("IAM instance profile {name}"), find_profile(iam, name), |p| async move { Ok(p.tags) })
            .await
    }

    async fn add_tags(&self, _cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let iam = self.clients.iam().await;
        add_tags_to(&format!("IAM instance profile {name}"), find_profile(iam, name), |_, action| async move {
            set_tags(iam, name, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, _cx: &OpCtx, name: &str, _props: &InstanceProfileProps) -> Result<(), OpError> {
        let iam = self.clients.iam().await;
        let action = format!("deleting IAM instance profile {name}");
        let Some(live) = find_profile(iam, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Ok(());
        };
        // DeleteInstanceProfile refuses a profile that still holds a role.
        for role in &live.roles {
            match iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(role).send().await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(aws_error(&format!("{action}: removing role {role}"), &e)),
            }
        }
        match iam.delete_instance_profile().instance_profile_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(aws_error(&action, &e)),
        }
    }
}

impl InstanceProfile {
    /// Swaps the role if it differs (a profile holds at most one), then tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        live: &LiveProfile,
        want: &InstanceProfileProps,
        action: &str,
    ) -> Result<Observed<InstanceProfileProps>, OpError> {
        let iam = self.clients.iam().await;
        let name = &live.name;
        if live.roles != [want.role.clone()] {
            for role in live.roles.iter().filter(|r| **r != want.role) {
                match iam.remove_role_from_instance_profile().instance_profile_name(name).role_name(role).send().await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(aws_error(&format!("{action}: removing role {role}"), &e)),
                }
            }
            if !live.roles.contains(&want.role) {
                iam.add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(&want.role)
                    .send()
                    .await
                    .map_err(|e| aws_error(&format!("{action}: adding role {}", want.role), &e))?;
            }
        }
        let changes = tag_changes(&live.tags, &cx.tags);
        set_tags(iam, name, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            iam.untag_instance_profile()
                .instance_profile_name(name)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(observed(live, want.clone()))
    }
}

/// Sets these tags on the profile (TagInstanceProfile), leaving its others
/// alone; errors start with `action`.
async fn set_tags(
    iam: &aws_sdk_iam::Client,
    name: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = iam_tags(tags).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
    iam.tag_instance_profile()
        .instance_profile_name(name)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_error(action, &e))?;
    Ok(())
}

// ---- pure helpers ------------------------------------------------------------

fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, String> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))).collect()
}

fn observed(live: &LiveProfile, props: InstanceProfileProps) -> Observed<InstanceProfileProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(live.arn.clone()));
    attrs.insert("name".to_string(), Value::String(live.name.clone()));
    Observed { physical_id: live.name.clone(), props, attrs }
}

// ---- finders -----------------------------------------------------------------

struct LiveProfile {
    name: String,
    arn: String,
    roles: Vec<String>,
    tags: BTreeMap<String, String>,
}

impl LiveProfile {
    /// Props in canonical form; no role reads as an empty role (drift).
    fn props(&self) -> InstanceProfileProps {
        InstanceProfileProps { name: Some(self.name.clone()), role: self.roles.first().cloned().unwrap_or_default() }
    }
}

async fn find_profile(iam: &aws_sdk_iam::Client, name: &str) -> Result<Option<LiveProfile>, String> {
    let out = match iam.get_instance_profile().instance_profile_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_error("GetInstanceProfile", &e).to_string()),
    };
    let Some(p) = out.instance_profile() else { return Ok(None) };
    // GetInstanceProfile carries the tags (moto lacks ListInstanceProfileTags).
    let tags = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    Ok(Some(LiveProfile {
        name: p.instance_profile_name().to_string(),
        arn: p.arn().to_string(),
        roles: p.roles().iter().map(|r| r.role_name().to_string()).collect(),
        tags,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<InstanceProfileProps, Vec<PropError>> {
        let kind =
            cairn_engine::kind::typed(InstanceProfile::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "web", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn defaults_and_limits() {
        assert_eq!(check(json!({"role": "r"})).unwrap_or_default().name.as_deref(), Some("lab3-web"));
        assert!(check(json!({"role": "arn:aws:iam::1:role/r"})).is_err());
        assert!(check(json!({"role": "${r.name}"})).is_ok());
        assert!(check(json!({"role": "r", "name": "a b"})).is_err());
        assert!(check(json!({})).is_err());
    }
}
