//! Builders for IAM roles and instance profiles.

use cairn_aws::kinds::iam_instance_profile::InstanceProfileProps;
use cairn_aws::kinds::iam_role::RoleProps;
use cairn_engine::value::Json;

use crate::stack::{Builder, Handle, Kind, Ref, attributes};

/// `aws:iam:Role`.
pub struct Role;

impl Kind for Role {
    const TYPE: &'static str = "aws:iam:Role";
    type Props = RoleProps;
}

attributes!(Role: arn, name);

impl Handle<Role> {
    /// A reference to its `id` attribute (the role's unique id); `id()` is
    /// the resource id in the stack.
    pub fn role_id(&self) -> Ref {
        self.attr("id")
    }
}

impl Role {
    /// A role these AWS services may assume, e.g. `&["lambda.amazonaws.com"]`.
    pub fn trusted_by(services: &[&str]) -> Builder<Role> {
        Builder::from_props(RoleProps {
            trusted_by: Some(services.iter().map(ToString::to_string).collect()),
            ..RoleProps::default()
        })
    }
    /// A role with a full trust policy document.
    pub fn with_trust_policy(policy: Json) -> Builder<Role> {
        Builder::from_props(RoleProps { assume_role_policy: Some(policy), ..RoleProps::default() })
    }
}

impl Builder<Role> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    #[must_use]
    pub fn path(self, path: impl Into<String>) -> Self {
        self.with(|p| p.path = Some(path.into()))
    }
    /// Attaches a managed policy by ARN.
    #[must_use]
    pub fn managed_policy(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.managed_policies.push(arn.into()))
    }
    /// Adds an inline policy document under `name`.
    #[must_use]
    pub fn inline_policy(self, name: impl Into<String>, document: Json) -> Self {
        self.with(|p| {
            p.inline_policies.insert(name.into(), document);
        })
    }
    /// Maximum session duration in seconds (3600-43200).
    #[must_use]
    pub fn max_session(self, seconds: u32) -> Self {
        self.with(|p| p.max_session = Some(seconds))
    }
    #[must_use]
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
}

/// `aws:iam:InstanceProfile`.
pub struct InstanceProfile;

impl Kind for InstanceProfile {
    const TYPE: &'static str = "aws:iam:InstanceProfile";
    type Props = InstanceProfileProps;
}

attributes!(InstanceProfile: arn, name);

impl InstanceProfile {
    /// A profile holding the role named `role` (e.g. `role.name()`).
    pub fn for_role(role: impl Into<String>) -> Builder<InstanceProfile> {
        Builder::from_props(InstanceProfileProps { role: role.into(), ..InstanceProfileProps::default() })
    }
}

impl Builder<InstanceProfile> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
}
