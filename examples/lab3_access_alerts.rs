//! Lab 3 in Rust: e-mail an operator when someone is denied, signs in as
//! root, fails to sign in to the console, or changes an IAM policy.
//!
//! The same resources as `stacks/lab3-access-alerts.yaml`: a multi-region
//! CloudTrail trail writes every management event to an S3 bucket and streams
//! it to a CloudWatch Logs group; metric filters count the events that matter,
//! and an alarm per metric (Sum >= 1 over 300 s) notifies the alerts topic,
//! which e-mails the address given as `email`.
//!
//! ```text
//! cargo run --example lab3_access_alerts -- apply --yes -p email=ops@example.com
//! cargo run --example lab3_access_alerts -- destroy --yes
//! ```

use cairn::{Arn, Name, Stack, cloudtrail, cloudwatch, kms, logs, pseudo, s3, sns};

/// The namespace of every metric the filters publish.
const NAMESPACE: &str = "CloudTrailMetrics";

/// The IAM calls that create, change, attach or detach a policy.
const IAM_POLICY_EVENTS: [&str; 16] = [
    "DeleteGroupPolicy",
    "DeleteRolePolicy",
    "DeleteUserPolicy",
    "PutGroupPolicy",
    "PutRolePolicy",
    "PutUserPolicy",
    "CreatePolicy",
    "DeletePolicy",
    "CreatePolicyVersion",
    "DeletePolicyVersion",
    "AttachRolePolicy",
    "DetachRolePolicy",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "AttachGroupPolicy",
    "DetachGroupPolicy",
];

/// The lab 3 stack.
pub fn lab3() -> Stack {
    let mut stack = Stack::new("lab3-access-alerts");
    let email = stack.param("email", "where alerts are sent (AWS asks the recipient to confirm)");
    stack.tag("lab", "3");

    // ---- where the trail's events go ----------------------------------------
    // The bucket is named so that cairn can write its policy: a bucket's
    // default name is known only once it is created.
    let stack_name = pseudo::stack_name();
    let expire = s3::LifecycleRule {
        noncurrent_expiration_days: Some(30),
        abort_incomplete_multipart_days: Some(7),
        ..s3::expire_after("expire-old-logs", "", 365)
    };
    // cairn derives the bucket policy CloudTrail needs (read the ACL, write
    // AWSLogs/<account>/ with bucket-owner-full-control, for this trail only).
    // The key the trail encrypts its log files and log events with; cairn
    // writes its policy (the account's IAM policies, CloudTrail for this
    // trail, CloudWatch Logs for this group). Destroy schedules its deletion.
    let key = stack.add(
        "trail-key",
        kms::Key::new()
            .description(format!("encrypts the log files and log events of {stack_name}'s trail"))
            .alias(format!("alias/{stack_name}-trail"))
            .deletion_window_days(7),
    );
    // Who read or wrote the trail's bucket goes to a bucket of its own
    // (logging a bucket into itself logs its own log writes); cairn writes
    // its policy for S3's logging service. SSE-S3, which access logs need.
    let expire_access_logs = s3::LifecycleRule {
        noncurrent_expiration_days: Some(30),
        abort_incomplete_multipart_days: Some(7),
        ..s3::expire_after("expire-old-access-logs", "", 90)
    };
    let access_logs = stack.add(
        "access-logs",
        s3::Bucket::new()
            .name(format!("{stack_name}-access-logs-{}", pseudo::account_id()))
            .versioning(true)
            .force_destroy(true)
            .lifecycle_rule(expire_access_logs),
    );
    let bucket = stack.add(
        "trail-bucket",
        s3::Bucket::new()
            .name(format!("{stack_name}-trail-{}", pseudo::account_id()))
            .sse_kms()
            .access_logging(access_logs.name(), "trail-bucket/")
            // The bucket only holds this trail's logs, which destroy deletes.
            .lifecycle_rule(expire),
    );
    let trail_logs = stack.add(
        "trail-logs",
        logs::LogGroup::named(format!("/cairn/{stack_name}/cloudtrail")).retention_days(365).kms_key(key.arn()),
    );
    let trail = stack.add(
        "trail",
        cloudtrail::Trail::new(bucket.name())
            .name(format!("{stack_name}-trail"))
            .multi_region(true)
            .log_file_validation(true)
            .include_global_events(true)
            .logging(true)
            .management_events(cloudtrail::ManagementEvents::All)
            .kms_key(key.arn())
            // cairn derives the role CloudTrail delivers with.
            .cloudwatch_logs(trail_logs.arn(), None),
    );

    // ---- who is told ----------------------------------------------------------
    let alerts = stack.add("alerts", sns::Topic::new().display_name("Access alerts"));
    stack.add("ops-email", sns::Subscription::email(alerts.arn(), email));

    // ---- what is counted, and when to tell ------------------------------------
    let iam_policy_changes =
        IAM_POLICY_EVENTS.iter().map(|name| format!("($.eventName = {name})")).collect::<Vec<_>>().join(" || ");
    let iam_policy_changes = format!("{{ {iam_policy_changes} }}");
    let watched = [
        (
            "unauthorized-calls",
            "UnauthorizedAPICalls",
            r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#,
            "API calls refused as unauthorized or access denied",
        ),
        (
            "root-usage",
            "RootAccountUsage",
            concat!(
                r#"{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS"#,
                r#" && $.eventType != "AwsServiceEvent" }"#,
            ),
            "The root user made a call",
        ),
        (
            "console-signin-failures",
            "ConsoleSigninFailures",
            r#"{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }"#,
            "A console sign-in failed",
        ),
        (
            "iam-policy-changes",
            "IAMPolicyChanges",
            iam_policy_changes.as_str(),
            "An IAM policy was created, changed, attached or detached",
        ),
    ];
    for (id, metric, pattern, description) in watched {
        alert(&mut stack, id, metric, pattern, description, &trail_logs.name(), &alerts.arn());
    }

    stack.output("trail_arn", trail.arn());
    stack.output("bucket", bucket.name());
    stack.output("log_group", trail_logs.name());
    stack.output("topic_arn", alerts.arn());
    stack
}

/// Adds the metric filter `id` on the trail's log group (`log_group`, a
/// name), counting the events matching `pattern` as `metric`, and the alarm
/// `<id>-alarm`, notifying `topic_arn` whenever the count over 5 minutes is at
/// least one.
fn alert(
    stack: &mut Stack,
    id: &str,
    metric: &str,
    pattern: &str,
    description: &str,
    log_group: &Name<logs::LogGroup>,
    topic_arn: &Arn<sns::Topic>,
) {
    let filter = stack
        .add(id, logs::MetricFilter::new(log_group.clone(), pattern, NAMESPACE, metric).value("1").default_value(0.0));
    stack.add(
        &format!("{id}-alarm"),
        cloudwatch::Alarm::at_least(NAMESPACE, metric, 1.0)
            .description(description)
            .evaluation_periods(1)
            .treat_missing_data("notBreaching")
            .alarm_action(topic_arn.clone())
            .depends_on(&filter),
    );
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab3())
}
