//! Builders for CloudTrail trails.

pub use cairn_aws::kinds::cloudtrail_trail::ManagementEvents;
use cairn_aws::kinds::cloudtrail_trail::{CloudWatchLogs, TrailProps};

use crate::stack::{Builder, Kind, attributes};

/// `aws:cloudtrail:Trail`.
pub struct Trail;

impl Kind for Trail {
    const TYPE: &'static str = "aws:cloudtrail:Trail";
    type Props = TrailProps;
}

attributes!(Trail: arn, name);

impl Trail {
    /// A multi-region, validated, logging trail writing to `bucket` (a name),
    /// named `<stack>-<id>` unless [`Builder::name`] says otherwise.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(bucket: impl Into<String>) -> Builder<Trail> {
        Builder::from_props(TrailProps { bucket: bucket.into(), ..TrailProps::default() })
    }
}

impl Builder<Trail> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    #[must_use]
    pub fn key_prefix(self, prefix: impl Into<String>) -> Self {
        self.with(|p| p.key_prefix = Some(prefix.into()))
    }
    #[must_use]
    pub fn multi_region(self, on: bool) -> Self {
        self.with(|p| p.multi_region = on)
    }
    #[must_use]
    pub fn log_file_validation(self, on: bool) -> Self {
        self.with(|p| p.log_file_validation = on)
    }
    #[must_use]
    pub fn include_global_events(self, on: bool) -> Self {
        self.with(|p| p.include_global_events = on)
    }
    /// Whether the trail records (started after create; stopped when false).
    #[must_use]
    pub fn logging(self, on: bool) -> Self {
        self.with(|p| p.logging = on)
    }
    #[must_use]
    pub fn management_events(self, which: ManagementEvents) -> Self {
        self.with(|p| p.management_events = which)
    }
    /// Records S3 object-level events for a bucket or prefix ARN.
    #[must_use]
    pub fn s3_data_events(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.data_events.s3.push(arn.into()))
    }
    /// Records Lambda invocations of a function ARN.
    #[must_use]
    pub fn lambda_data_events(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.data_events.lambda.push(arn.into()))
    }
    /// Delivers events to a log group (name or ARN) too, through `role`
    /// (derived when `None`).
    #[must_use]
    pub fn cloudwatch_logs(self, log_group: impl Into<String>, role: Option<String>) -> Self {
        self.with(|p| p.cloudwatch_logs = Some(CloudWatchLogs { log_group: log_group.into(), role }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stack;
    use cairn_engine::kind::NameCtx;

    #[test]
    fn builder_props_pass_the_kinds_check() {
        let mut stack = Stack::new("lab3");
        let trail = stack.add(
            "trail",
            Trail::new("lab3-logs")
                .management_events(ManagementEvents::ReadOnly)
                .s3_data_events("arn:aws:s3:::lab3-logs/")
                .cloudwatch_logs("lab3-trail", None),
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
