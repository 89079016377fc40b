//! The resource kinds, one file each, in the order props, validate, create,
//! read, update, delete, then waiters and finders.

use std::sync::Arc;

use cairn_engine::kind::{Registry, typed};

use crate::clients::Clients;

#[cfg(feature = "cloudtrail")]
pub mod cloudtrail_trail;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch_alarm;
#[cfg(feature = "ec2")]
pub mod ec2_instance;
#[cfg(feature = "ec2")]
pub mod ec2_security_group;
#[cfg(feature = "events")]
pub mod events_rule;
#[cfg(feature = "iam")]
pub mod iam_instance_profile;
#[cfg(feature = "iam")]
pub mod iam_role;
#[cfg(feature = "kms")]
pub mod kms_key;
#[cfg(feature = "lambda")]
pub mod lambda_event_source_mapping;
#[cfg(feature = "lambda")]
pub mod lambda_function;
#[cfg(feature = "lambda")]
pub mod lambda_permission;
#[cfg(feature = "logs")]
pub mod logs_log_group;
#[cfg(feature = "logs")]
pub mod logs_metric_filter;
#[cfg(feature = "s3")]
pub mod s3_bucket;
#[cfg(feature = "sns")]
pub mod sns_subscription;
#[cfg(feature = "sns")]
pub mod sns_topic;
#[cfg(feature = "sqs")]
pub mod sqs_queue;
#[cfg(feature = "ssm")]
pub mod ssm_parameter;

/// Every kind this build offers, sharing one set of lazily built clients.
pub(crate) fn registry(clients: &Arc<Clients>) -> Registry {
    let mut r = Registry::new();
    #[cfg(feature = "sns")]
    r.add(typed(sns_topic::Topic::new(Arc::clone(clients))));
    #[cfg(feature = "s3")]
    r.add(typed(s3_bucket::Bucket::new(Arc::clone(clients))));
    #[cfg(feature = "ssm")]
    r.add(typed(ssm_parameter::Parameter::new(Arc::clone(clients))));
    #[cfg(feature = "cloudtrail")]
    r.add(typed(cloudtrail_trail::Trail::new(Arc::clone(clients))));
    #[cfg(feature = "sns")]
    r.add(typed(sns_subscription::Subscription::new(Arc::clone(clients))));
    #[cfg(feature = "events")]
    r.add(typed(events_rule::Rule::new(Arc::clone(clients))));
    #[cfg(feature = "sqs")]
    r.add(typed(sqs_queue::Queue::new(Arc::clone(clients))));
    #[cfg(feature = "logs")]
    r.add(typed(logs_log_group::LogGroup::new(Arc::clone(clients))));
    #[cfg(feature = "logs")]
    r.add(typed(logs_metric_filter::MetricFilter::new(Arc::clone(clients))));
    #[cfg(feature = "cloudwatch")]
    r.add(typed(cloudwatch_alarm::Alarm::new(Arc::clone(clients))));
    #[cfg(feature = "iam")]
    r.add(typed(iam_role::Role::new(Arc::clone(clients))));
    #[cfg(feature = "iam")]
    r.add(typed(iam_instance_profile::InstanceProfile::new(Arc::clone(clients))));
    #[cfg(feature = "lambda")]
    r.add(typed(lambda_function::Function::new(Arc::clone(clients))));
    #[cfg(feature = "lambda")]
    r.add(typed(lambda_event_source_mapping::EventSourceMapping::new(Arc::clone(clients))));
    #[cfg(feature = "lambda")]
    r.add(typed(lambda_permission::Permission::new(Arc::clone(clients))));
    #[cfg(feature = "ec2")]
    r.add(typed(ec2_security_group::SecurityGroup::new(Arc::clone(clients))));
    #[cfg(feature = "ec2")]
    r.add(typed(ec2_instance::Instance::new(Arc::clone(clients))));
    #[cfg(feature = "kms")]
    r.add(typed(kms_key::Key::new(Arc::clone(clients))));
    r.set_glue(Arc::new(crate::glue::AwsGlue));
    r
}

/// The name rules SNS topics and SQS queues share (`what` is `topic` or
/// `queue`): at most `max` characters of letters, digits, `-` and `_`, and
/// the `.fifo` suffix exactly when the resource is FIFO.
#[cfg(any(feature = "sns", feature = "sqs"))]
pub(crate) fn validate_fifo_name(
    what: &str,
    name: &str,
    fifo: bool,
    max: usize,
    errors: &mut Vec<cairn_engine::kind::PropError>,
) {
    use cairn_engine::kind::PropError;
    const FIFO_SUFFIX: &str = ".fifo";
    if unresolved(name) {
        return;
    }
    let base = match (name.strip_suffix(FIFO_SUFFIX), fifo) {
        (Some(base), true) => base,
        (None, false) => name,
        (None, true) => {
            errors.push(
                PropError::new(&["name"], format!("FIFO {what} name `{name}` does not end in `.fifo`"))
                    .expected(format!("a name ending in `.fifo`, like `{name}.fifo`")),
            );
            name
        }
        (Some(base), false) => {
            errors.push(
                PropError::new(&["name"], format!("{what} name `{name}` ends in `.fifo` but the {what} is not FIFO"))
                    .expected("`fifo: true`, or a name without the `.fifo` suffix"),
            );
            base
        }
    };
    if name.is_empty() || name.len() > max {
        errors.push(
            PropError::new(&["name"], format!("{what} name is {} characters long", name.len()))
                .expected(format!("1 to {max} characters, the `.fifo` suffix included")),
        );
    }
    if let Some(bad) = base.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
        errors.push(
            PropError::new(&["name"], format!("{what} name `{name}` contains `{bad}`"))
                .expected(format!("letters, digits, `-` and `_` (and the `.fifo` suffix for FIFO {what}s)")),
        );
    }
}

/// The retention periods CloudWatch Logs' PutRetentionPolicy accepts (for
/// log groups, and for the log group derived for a Lambda function).
pub const RETENTION_DAYS: &[i32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// Checks a retention period in days against [`RETENTION_DAYS`].
pub(crate) fn validate_retention(field: &str, days: i32, errors: &mut Vec<cairn_engine::kind::PropError>) {
    if RETENTION_DAYS.contains(&days) {
        return;
    }
    let nearest = RETENTION_DAYS.iter().copied().find(|d| *d >= days).unwrap_or(3653);
    let allowed: Vec<String> = RETENTION_DAYS.iter().map(ToString::to_string).collect();
    let mut e = cairn_engine::kind::PropError::new(&[field], format!("CloudWatch Logs cannot keep events {days} days"))
        .expected(format!("one of {}", allowed.join(", ")));
    e.suggestion = Some(format!("{field}: {nearest}"));
    errors.push(e);
}

/// Whether a string still holds a `${…}` reference, so that checks on its
/// final value must wait.
pub(crate) fn unresolved(s: &str) -> bool {
    cairn_engine::kind::is_ref(s)
}

/// One AWS call (or a few in a row) of a create or update.
pub(crate) type Call<'a> = futures::future::BoxFuture<'a, Result<(), cairn_engine::kind::OpError>>;

/// Runs independent calls all at once and waits for every one of them (none
/// is cancelled half-sent because another failed); the first error wins.
pub(crate) async fn all(calls: Vec<Call<'_>>) -> Result<(), cairn_engine::kind::OpError> {
    futures::future::join_all(calls).await.into_iter().collect()
}

/// A string prop as planned, if it is known already (not a value another
/// resource gives at apply time): what an early look
/// ([`cairn_engine::kind::Kind::absent`]) may use.
pub(crate) fn known_str<'a>(props: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    props.get(key)?.as_str().filter(|s| !unresolved(s))
}

/// An early look's answer from a finder's: nothing found is `Some(true)`; a
/// failed look says nothing, and the create looks for itself.
pub(crate) fn found_nothing<T, E>(found: Result<Option<T>, E>) -> Option<bool> {
    found.ok().map(|f| f.is_none())
}

/// The resource's name as planned: its `name` prop when known, or the
/// default `<stack>-<id>` most kinds give when it is not set.
pub(crate) fn known_name(props: &serde_json::Value, cx: &cairn_engine::kind::OpCtx) -> Option<String> {
    match props.get("name") {
        None | Some(serde_json::Value::Null) => Some(format!("{}-{}", cx.stack, cx.resource)),
        Some(_) => known_str(props, "name").map(ToString::to_string),
    }
}

/// One SDK request as a [`Call`], for a request AWS may refuse while another
/// change to the same resource is under way (S3's `OperationAborted`, IAM's
/// `ConcurrentModification`), which is what sending a create's follow-up
/// calls together can meet: `make` builds the request, sent again with
/// backoff for as long as `busy` says so.
pub(crate) fn call_retrying<'a, T, E, R, F, Fut>(
    cx: &'a cairn_engine::kind::OpCtx,
    waits: &'a crate::retry::Waits,
    what: String,
    busy: fn(Option<&str>, Option<&str>) -> Option<crate::retry::Wait>,
    make: F,
) -> Call<'a>
where
    F: FnMut() -> Fut + Send + 'a,
    Fut: std::future::Future<Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, R>>> + Send + 'a,
    T: Send + 'a,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + Send + 'static,
    R: crate::error::Answer + Send,
{
    Box::pin(async move {
        crate::retry::retrying(cx, waits, &what, busy, make).await.map(drop).map_err(|f| f.op_error(&what))
    })
}

/// A policy must be a JSON object (or a reference that will become one).
pub(crate) fn validate_policy(p: &serde_json::Value, errors: &mut Vec<cairn_engine::kind::PropError>) {
    match p {
        serde_json::Value::Object(_) => {}
        serde_json::Value::String(s) if unresolved(s) => {}
        _ => errors.push(
            cairn_engine::kind::PropError::new(&["policy"], "the policy is not a JSON object")
                .expected("a policy document like {\"Version\": \"2012-10-17\", \"Statement\": [...]}"),
        ),
    }
}

/// Hex digits of the suffix that ends a bucket's default name.
pub(crate) const BUCKET_SUFFIX_LEN: usize = 8;

/// `<stack>-<id>` lower-cased, made DNS-safe and cut to fit S3's 63
/// characters, then `-<suffix>`: a bucket's default name with its suffix
/// (see `s3_bucket::default_name`). Outside the `s3` feature, since the
/// glue writes policies naming such buckets.
pub(crate) fn bucket_name_with_suffix(stack: &str, id: &str, suffix: &str) -> String {
    let mut base = String::new();
    for c in format!("{stack}-{id}").chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' };
        // No runs of hyphens: they read badly and `--` is reserved in places.
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    base.truncate(63 - BUCKET_SUFFIX_LEN - 1);
    let base = base.trim_matches('-');
    if base.is_empty() { format!("cairn-{suffix}") } else { format!("{base}-{suffix}") }
}

/// An IAM pattern (for `ArnLike`) matching the default name of the bucket
/// `id` of `stack` in every account and region, a `?` for each character
/// of the suffix: all a policy written before the bucket exists can say of
/// its name.
pub(crate) fn default_bucket_name_pattern(stack: &str, id: &str) -> String {
    bucket_name_with_suffix(stack, id, &"?".repeat(BUCKET_SUFFIX_LEN))
}

/// The one statement of the policy SNS gives a new topic: the owning
/// account's principals may manage and use it. Outside the `sns` feature,
/// since the glue keeps it in a topic policy it derives.
pub(crate) fn sns_default_statement(topic_arn: &str, account: &str) -> serde_json::Value {
    serde_json::json!({
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": [
            "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
            "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
        ],
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
    })
}

/// The statement of the policy KMS gives a key created without one: the
/// account's IAM policies decide who may use and manage the key. Outside
/// the `kms` feature, since the glue keeps it in a key policy it derives
/// (a key policy without it is one the account can be locked out of).
pub(crate) fn kms_root_statement(partition: &str, account: &str) -> serde_json::Value {
    serde_json::json!({
        "Sid": "Enable IAM User Permissions",
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:{partition}:iam::{account}:root")},
        "Action": "kms:*",
        "Resource": "*"
    })
}
