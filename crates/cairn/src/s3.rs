//! Builders for S3 buckets.

use cairn_aws::kinds::s3_bucket::{AccessLogging, BucketProps, Encryption, SseAlgorithm};
pub use cairn_aws::kinds::s3_bucket::{LifecycleRule, ObjectOwnership, PublicAccessBlock};
use cairn_engine::value::Json;

use crate::stack::{Name, Ref, Value, attributes, builder};

builder!(
    /// An S3 bucket (`aws:s3:Bucket`). Its handle gives `arn()`, `name()`
    /// ([`Name<Bucket>`](crate::Name)) and `domain_name()`.
    Bucket = "aws:s3:Bucket", BucketProps
);

attributes!(Bucket: arn => Arn, name => Name);

impl crate::stack::Handle<Bucket> {
    /// A reference to its `domain_name` attribute.
    pub fn domain_name(&self) -> Ref {
        self.text_attr("domain_name")
    }
}

impl Bucket {
    /// A private bucket encrypted with SSE-S3, named `<stack>-<id>` plus a
    /// stable suffix unless [`Bucket::name`] says otherwise.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// The bucket policy document.
    pub fn policy(self, policy: Json) -> Self {
        self.with(|p| p.policy = Some(policy))
    }
    /// Sets the four Block Public Access settings (all on by default).
    pub fn public_access_block(self, block: PublicAccessBlock) -> Self {
        self.with(|p| p.public_access_block = block)
    }
    /// Turns every Block Public Access setting off.
    pub fn allow_public_access(self) -> Self {
        self.public_access_block(PublicAccessBlock::off())
    }
    /// SSE-KMS with this key (id, alias or ARN) instead of SSE-S3.
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.encryption = Encryption { algorithm: SseAlgorithm::Kms, kms_key: Some(key.into()) })
    }
    /// Whether requests without TLS are denied by a statement merged into
    /// the bucket policy (on unless turned off).
    pub fn require_tls(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/require_tls", on, |p, v| p.require_tls = v)
    }
    /// Who owns objects others write: `BucketOwnerEnforced` (the default,
    /// ACLs off), `BucketOwnerPreferred` or `ObjectWriter`.
    pub fn object_ownership(self, ownership: ObjectOwnership) -> Self {
        self.with(|p| p.object_ownership = ownership)
    }
    /// SSE-KMS with S3's AWS managed key (`aws/s3`) instead of SSE-S3.
    pub fn sse_kms(self) -> Self {
        self.with(|p| p.encryption = Encryption { algorithm: SseAlgorithm::Kms, kms_key: None })
    }
    pub fn versioning(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/versioning", on, |p, v| p.versioning = v)
    }
    /// Adds a lifecycle rule; see [`expire_after`].
    pub fn lifecycle_rule(self, rule: LifecycleRule) -> Self {
        self.with(|p| p.lifecycle.push(rule))
    }
    /// Server access logging into the bucket `bucket` (like
    /// `logs.name()`, which also makes this bucket after it), each log
    /// object's key starting with `prefix` (none when empty; end it with
    /// `/`). The glue lets S3 write there when that bucket is in the stack.
    pub fn access_logging(self, bucket: Name<Bucket>, prefix: &str) -> Self {
        let prefix = (!prefix.is_empty()).then(|| prefix.to_string());
        self.with(|p| p.access_logging = Some(AccessLogging { bucket: bucket.into(), prefix }))
    }
    /// Lets destroy delete every object (and version) in the bucket.
    pub fn force_destroy(self, on: impl Into<Value<bool>>) -> Self {
        self.set_value("/force_destroy", on, |p, v| p.force_destroy = v)
    }
}

/// A lifecycle rule `id` expiring objects under `prefix` (all when empty)
/// after `days`; set the other fields for versions and uploads.
pub fn expire_after(id: impl Into<String>, prefix: &str, days: i32) -> LifecycleRule {
    LifecycleRule {
        id: id.into(),
        prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
        expiration_days: Some(days),
        ..LifecycleRule::default()
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
        let logs = stack.add(
            "logs",
            Bucket::new().versioning(true).lifecycle_rule(expire_after("old", "AWSLogs/", 365)).force_destroy(true),
        );
        assert_eq!(logs.arn().text(), "${logs.arn}");
        assert_eq!(logs.domain_name().text(), "${logs.domain_name}");
        let spec = &stack.spec().resources[0];
        let registry = cairn_aws::registry();
        let kind = registry
            .get(Bucket::TYPE)
            .map(|k| k.check(&spec.props, &NameCtx { stack: "lab3", id: "logs", base_dir: std::path::Path::new("") }));
        let props = kind.and_then(Result::ok).unwrap_or_default();
        assert_eq!(props["versioning"], true);
        assert_eq!(props["lifecycle"][0]["prefix"], "AWSLogs/");
        assert_eq!(props["public_access_block"]["block_public_policy"], true);
    }

    #[test]
    fn access_logging_takes_a_buckets_name() {
        let mut stack = Stack::new("s");
        let logs = stack.add("logs", Bucket::new());
        stack.add("data", Bucket::new().access_logging(logs.name(), "access/"));
        stack.add("raw", Bucket::new().access_logging(crate::Name::literal("shared-logs"), ""));
        let spec = stack.spec();
        assert_eq!(
            spec.resources[1].props["access_logging"],
            serde_json::json!({"bucket": "${logs.name}", "prefix": "access/"})
        );
        assert_eq!(spec.resources[2].props["access_logging"], serde_json::json!({"bucket": "shared-logs"}));
    }

    /// A parameter reaches a field that is left out at its default
    /// (`versioning: false` is not written out).
    #[test]
    fn a_parameter_reaches_a_field_left_out_at_its_default() {
        let mut stack = Stack::new("s");
        let keep = stack.declare(crate::Param::<bool>::new("keep_versions").default(false));
        stack.add("logs", Bucket::new().versioning(&keep));
        assert_eq!(stack.spec().resources[0].props["versioning"], "${param.keep_versions}");
    }

    /// The secure defaults can be turned off from Rust as from YAML.
    #[test]
    fn secure_defaults_turn_off() {
        let mut stack = Stack::new("s");
        stack.add("site", Bucket::new().require_tls(false).object_ownership(ObjectOwnership::ObjectWriter));
        let props = &stack.spec().resources[0].props;
        assert_eq!(props["require_tls"], false);
        assert_eq!(props["object_ownership"], "ObjectWriter");
    }
}
