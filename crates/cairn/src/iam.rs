//! Builders for IAM roles and instance profiles.

use cairn_aws::kinds::iam_instance_profile::InstanceProfileProps;
use cairn_aws::kinds::iam_role::RoleProps;
use cairn_engine::value::Json;

use crate::stack::{Handle, Id, Name, Value, attributes, builder};

builder!(
    /// An IAM role (`aws:iam:Role`). Its handle gives `arn()`
    /// ([`Arn<Role>`](crate::Arn)), `name()` and `role_id()`.
    Role = "aws:iam:Role", RoleProps
);

attributes!(Role: arn => Arn, name => Name);

impl Handle<Role> {
    /// A reference to its `id` attribute (the role's unique id); `id()` is
    /// the resource id in the stack.
    pub fn role_id(&self) -> Id<Role> {
        Id::reference(self.attr("id"))
    }
}

impl Role {
    /// A role these AWS services may assume, e.g. `&["lambda.amazonaws.com"]`.
    pub fn trusted_by(services: &[&str]) -> Self {
        Self::from_props(RoleProps {
            trusted_by: Some(services.iter().map(ToString::to_string).collect()),
            ..RoleProps::default()
        })
    }
    /// A role with a full trust policy document.
    pub fn with_trust_policy(policy: Json) -> Self {
        Self::from_props(RoleProps { assume_role_policy: Some(policy), ..RoleProps::default() })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn path(self, path: impl Into<String>) -> Self {
        self.with(|p| p.path = Some(path.into()))
    }
    /// Attaches a managed policy by ARN.
    pub fn managed_policy(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.managed_policies.push(arn.into()))
    }
    /// Adds an inline policy document under `name`.
    pub fn inline_policy(self, name: impl Into<String>, document: Json) -> Self {
        self.with(|p| {
            p.inline_policies.insert(name.into(), document);
        })
    }
    /// Maximum session duration in seconds (3600-43200).
    pub fn max_session(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/max_session", seconds, |p, v| p.max_session = Some(v))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
}

builder!(
    /// An IAM instance profile holding one role, for EC2
    /// (`aws:iam:InstanceProfile`). Its handle gives `arn()` and `name()`.
    InstanceProfile = "aws:iam:InstanceProfile", InstanceProfileProps
);

attributes!(InstanceProfile: arn => Arn, name => Name);

impl InstanceProfile {
    /// A profile holding the role named `role` (like `role.name()`).
    pub fn for_role(role: Name<Role>) -> Self {
        Self::from_props(InstanceProfileProps { role: role.into(), ..InstanceProfileProps::default() })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
}
