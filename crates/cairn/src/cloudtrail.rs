//! Builders for CloudTrail trails.

pub use cairn_aws::kinds::cloudtrail_trail::ManagementEvents;
use cairn_aws::kinds::cloudtrail_trail::{CloudWatchLogs, TrailProps};

use crate::stack::{Arn, Name, NameOrArn, Value, attributes, builder};
use crate::{iam, logs, s3};

builder!(
    /// A CloudTrail trail (`aws:cloudtrail:Trail`). Its handle gives `arn()`
    /// and `name()`.
    Trail = "aws:cloudtrail:Trail", TrailProps
);

attributes!(Trail: arn => Arn, name => Name);

impl Trail {
    /// A multi-region, validated, logging trail writing to the bucket
    /// `bucket` (like `bucket.name()`), named `<stack>-<id>` unless
    /// [`Trail::name`] says otherwise.
    pub fn new(bucket: Name<s3::Bucket>) -> Self {
        Self::from_props(TrailProps { bucket: bucket.into(), ..TrailProps::default() })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        self.with(|p| p.key_prefix = Some(prefix.into()))
    }
    pub fn multi_region(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/multi_region", on, |p, v| p.multi_region = v)
    }
    pub fn log_file_validation(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/log_file_validation", on, |p, v| p.log_file_validation = v)
    }
    pub fn include_global_events(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/include_global_events", on, |p, v| p.include_global_events = v)
    }
    /// Whether the trail records (started after create; stopped when false).
    pub fn logging(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/logging", on, |p, v| p.logging = v)
    }
    pub fn management_events(self, which: ManagementEvents) -> Self {
        self.with(|p| p.management_events = which)
    }
    /// Records S3 object-level events for a bucket or prefix ARN.
    pub fn s3_data_events(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.data_events.s3.push(arn.into()))
    }
    /// Records Lambda invocations of a function (like `function.arn()`).
    #[cfg(feature = "lambda")]
    pub fn lambda_data_events(self, arn: Arn<crate::lambda::Function>) -> Self {
        self.with(|p| p.data_events.lambda.push(arn.into()))
    }
    /// Encrypts the log files with a KMS key: a key of the stack
    /// (`key.arn()`, whose policy then lets this trail use it) or an alias ARN.
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.kms_key = Some(key.into()))
    }
    /// Delivers events to a log group (its name or ARN) too, through the
    /// role `role` (derived when `None`).
    pub fn cloudwatch_logs(self, log_group: impl NameOrArn<logs::LogGroup>, role: Option<Arn<iam::Role>>) -> Self {
        let logs = CloudWatchLogs { log_group: log_group.into_text(), role: role.map(String::from) };
        self.with(|p| p.cloudwatch_logs = Some(logs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resource;
    use crate::Stack;
    use cairn_engine::kind::NameCtx;

    #[test]
    fn builder_props_pass_the_kinds_check() {
        let mut stack = Stack::new("lab3");
        let trail = stack.add(
            "trail",
            Trail::new(Name::literal("lab3-logs"))
                .management_events(ManagementEvents::ReadOnly)
                .s3_data_events("arn:aws:s3:::lab3-logs/")
                .cloudwatch_logs(Name::literal("lab3-trail"), None),
        );
        assert_eq!(trail.arn().text(), "${trail.arn}");
        let spec = &stack.spec().resources[0];
        let registry = cairn_aws::registry();
        let kind = registry
            .get(Trail::TYPE)
            .map(|k| k.check(&spec.props, &NameCtx { stack: "lab3", id: "trail", base_dir: std::path::Path::new("") }));
        let props = kind.and_then(Result::ok).unwrap_or_default();
        assert_eq!(props["name"], "lab3-trail");
        assert_eq!(props["multi_region"], true);
        assert_eq!(props["logging"], true);
        assert_eq!(props["management_events"], "read_only");
        assert_eq!(props["cloudwatch_logs"]["log_group"], "lab3-trail");
    }
}
