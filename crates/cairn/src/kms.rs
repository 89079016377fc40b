//! Builders for KMS keys.

use cairn_aws::kinds::kms_key::KeyProps;
use cairn_engine::value::Json;

use crate::stack::{Value, attributes, builder};

builder!(
    /// A customer managed KMS key (`aws:kms:Key`): rotation on, deleted 30
    /// days after destroy schedules it. Its handle gives `arn()`
    /// ([`Arn<Key>`](crate::Arn), what a trail's or topic's `kms_key` takes) and
    /// `key_id()`. The statements the stack's services need (a trail encrypting
    /// its logs, alarms and rules publishing to an encrypted topic) are
    /// merged into its policy.
    Key = "aws:kms:Key", KeyProps
);

attributes!(Key: arn => Arn, key_id => Id);

impl Key {
    /// A key with AWS's default policy (the account's IAM policies decide)
    /// plus what the stack's services need.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn description(self, text: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(text.into()))
    }
    /// `alias/<name>`: how people and a lost create find the key.
    pub fn alias(self, alias: impl Into<String>) -> Self {
        self.with(|p| p.alias = Some(alias.into()))
    }
    /// Yearly rotation of the key material (on unless turned off).
    pub fn rotation(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/rotation", on, |p, v| p.rotation = v)
    }
    /// Days (7-30) between destroy and the key's deletion.
    pub fn deletion_window_days(self, days: u8) -> Self {
        self.with(|p| p.deletion_window_days = days)
    }
    /// The key policy document.
    pub fn policy(self, policy: Json) -> Self {
        self.with(|p| p.policy = Some(policy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stack;

    #[test]
    fn a_trail_encrypting_with_a_key_of_the_stack_gets_its_grant() {
        let mut stack = Stack::new("lab3");
        let key = stack.add("trail-key", Key::new().alias("alias/lab3-trail"));
        let bucket = stack.add("bucket", crate::s3::Bucket::new().name("lab3-logs"));
        stack.add("trail", crate::cloudtrail::Trail::new(bucket.name()).kms_key(key.arn()));
        let (valid, diags) =
            cairn_engine::validate::validate(stack.spec(), &cairn_aws::registry(), &Default::default());
        let Some(valid) = valid else { panic!("{diags:?}") };
        let statements = valid.props["trail-key"]["policy"]["Statement"].as_array().cloned().unwrap_or_default();
        assert!(statements.iter().any(|s| s["Principal"]["Service"] == "cloudtrail.amazonaws.com"), "{statements:?}");
    }
}
