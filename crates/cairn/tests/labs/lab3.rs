//! Lab 3: a CloudTrail trail to S3 and CloudWatch Logs, metric filters and
//! alarms for access events, and the topic the alarms notify. Destroy empties
//! the trail bucket, log objects and their versions included.

use std::collections::BTreeSet;

use crate::harness::{self, Deployed, R};
use crate::lab3_example;

const FILE: &str = "lab3-access-alerts.yaml";
const METRICS: [&str; 4] = ["ConsoleSigninFailures", "IAMPolicyChanges", "RootAccountUsage", "UnauthorizedAPICalls"];

fn params() -> std::collections::BTreeMap<String, String> {
    harness::params(&[("email", "security@example.com")])
}

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab3_example::lab3().into(), &params());
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &params(), check).await
}

#[tokio::test]
async fn hand_written_form_round_trips() -> R {
    harness::round_trip(harness::hand_written(FILE), &params(), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab3_example::lab3().into(), &params(), check).await
}

async fn check(d: &Deployed) -> R {
    let bucket = d.id("trail-bucket");
    // The trail's delivery role: written by hand, or derived by cairn.
    let role = if d.state.resources.contains_key("trail-role") { "trail-role" } else { "trail-logs-role" };
    assert_eq!(d.state.resources[role].derived, role == "trail-logs-role");
    assert_eq!(bucket, format!("{}-trail-{}", d.stack, cairn_testkit::emulator::ACCOUNT_ID));
    let trail_arn = d.attr("trail", "arn");

    // The bucket: private, encrypted, expiring old logs, writable by this trail.
    let s3 = d.clients.s3().await;
    let block = s3.get_public_access_block().bucket(bucket).send().await?;
    let block = block.public_access_block_configuration().ok_or("no public access block")?;
    assert_eq!(
        [
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ],
        [Some(true); 4]
    );
    let enc = s3.get_bucket_encryption().bucket(bucket).send().await?;
    assert!(enc.server_side_encryption_configuration().is_some_and(|c| !c.rules().is_empty()));
    let lifecycle = s3.get_bucket_lifecycle_configuration().bucket(bucket).send().await?;
    let rule = lifecycle.rules().first().ok_or("no lifecycle rule")?;
    assert_eq!(rule.id(), Some("expire-old-logs"));
    assert_eq!(rule.expiration().and_then(|e| e.days()), Some(365));
    let policy = s3.get_bucket_policy().bucket(bucket).send().await?;
    let policy = harness::json(policy.policy());
    let statements = policy["Statement"].as_array().ok_or("no statements")?;
    assert_eq!(statements.len(), 3, "the two CloudTrail statements and the TLS deny, once each: {policy}");
    let (cloudtrail, others): (Vec<_>, Vec<_>) =
        statements.iter().partition(|s| s["Principal"]["Service"] == "cloudtrail.amazonaws.com");
    assert_eq!(cloudtrail.len(), 2, "{policy}");
    for statement in cloudtrail {
        assert_eq!(statement["Condition"]["StringEquals"]["aws:SourceArn"], trail_arn.as_str());
    }
    // Secure defaults (issue 21): plain HTTP denied, ACLs off, old versions kept.
    let tls = others.first().ok_or("no TLS deny")?;
    assert_eq!(
        (tls["Effect"].as_str(), tls["Principal"].as_str(), tls["Action"].as_str()),
        (Some("Deny"), Some("*"), Some("s3:*"))
    );
    assert_eq!(tls["Condition"]["Bool"]["aws:SecureTransport"], "false", "{policy}");
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    assert_eq!(tls["Resource"], serde_json::json!([bucket_arn, format!("{bucket_arn}/*")]), "{policy}");
    let ownership = s3.get_bucket_ownership_controls().bucket(bucket).send().await?;
    let rule = ownership.ownership_controls().and_then(|c| c.rules().first()).ok_or("no ownership rule")?;
    assert_eq!(rule.object_ownership().as_str(), "BucketOwnerEnforced");
    // moto answers with another XML root than S3's, which the SDK refuses:
    // the status is then read from the raw body.
    let enabled = match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => out.status().map(|s| s.as_str().to_string()),
        Err(e) => {
            let body = e.raw_response().and_then(|r| r.body().bytes()).map(String::from_utf8_lossy).unwrap_or_default();
            body.contains("<Status>Enabled</Status>").then(|| "Enabled".to_string())
        }
    };
    assert_eq!(enabled.as_deref(), Some("Enabled"), "a trail's bucket keeps old versions");
    // Server access logging (issue 21) into a bucket of its own, which keeps
    // versions and whose policy lets S3's logging service write there.
    let logging = s3.get_bucket_logging().bucket(bucket).send().await?;
    let logging = logging.logging_enabled().ok_or("no access logging on the trail's bucket")?;
    assert_eq!(logging.target_bucket(), d.id("access-logs"));
    assert_eq!(logging.target_prefix(), "trail-bucket/");
    let log_policy = s3.get_bucket_policy().bucket(d.id("access-logs")).send().await?;
    let log_policy = harness::json(log_policy.policy());
    let grants: Vec<_> = log_policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["Principal"]["Service"] == "logging.s3.amazonaws.com")
        .collect();
    assert_eq!(grants.len(), 1, "{log_policy}");
    assert_eq!(grants[0]["Condition"]["ArnLike"]["aws:SourceArn"], format!("arn:aws:s3:::{bucket}"));
    let tagging = s3.get_bucket_tagging().bucket(bucket).send().await?;
    assert!(harness::has_stack_tag(tagging.tag_set().iter().map(|t| (t.key(), t.value())), &d.stack));

    // The trail: multi-region, validated, logging, all management events, to Logs.
    let cloudtrail = d.clients.cloudtrail().await;
    let trail = cloudtrail.get_trail().name(d.id("trail")).send().await?;
    let trail = trail.trail().ok_or("no trail")?;
    assert_eq!(trail.s3_bucket_name(), Some(bucket));
    assert_eq!(trail.is_multi_region_trail(), Some(true));
    assert_eq!(trail.log_file_validation_enabled(), Some(true));
    assert_eq!(trail.include_global_service_events(), Some(true));
    assert_eq!(trail.cloud_watch_logs_log_group_arn(), Some(format!("{}:*", d.attr("trail-logs", "arn")).as_str()));
    assert_eq!(trail.cloud_watch_logs_role_arn(), Some(d.attr(role, "arn").as_str()));
    let status = cloudtrail.get_trail_status().name(d.id("trail")).send().await?;
    assert_eq!(status.is_logging(), Some(true));
    let selectors = cloudtrail.get_event_selectors().trail_name(d.id("trail")).send().await?;
    let selector = selectors.event_selectors().first().ok_or("no event selector")?;
    assert_eq!(selector.read_write_type().map(|t| t.as_str()), Some("All"));
    assert_eq!(selector.include_management_events(), Some(true));

    // The trail's key (issue 21): the trail and its log group encrypt with
    // it, rotation is on, and its policy lets CloudTrail in for this trail
    // only and CloudWatch Logs for this group only, once each, beside the
    // account's own statement.
    let key_arn = d.attr("trail-key", "arn");
    assert_eq!(trail.kms_key_id(), Some(key_arn.as_str()));
    let kms = d.clients.kms().await;
    let key_id = d.id("trail-key");
    assert!(kms.get_key_rotation_status().key_id(key_id).send().await?.key_rotation_enabled());
    let policy = kms.get_key_policy().key_id(key_id).policy_name("default").send().await?;
    let policy = harness::json(policy.policy());
    let statements = policy["Statement"].as_array().ok_or("no key policy statements")?;
    assert_eq!(statements.len(), 4, "account, CloudTrail twice, CloudWatch Logs, once each: {policy}");
    let by = |service: &str| statements.iter().filter(|s| s["Principal"]["Service"] == service).collect::<Vec<_>>();
    for statement in by("cloudtrail.amazonaws.com") {
        assert_eq!(statement["Condition"]["StringEquals"]["aws:SourceArn"], trail_arn.as_str(), "{policy}");
    }
    let encrypt = by("cloudtrail.amazonaws.com").into_iter().find(|s| s["Action"] == "kms:GenerateDataKey*");
    let context = encrypt.map(|s| &s["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"]);
    let trail_name = trail_arn.rsplit('/').next().unwrap_or_default();
    let any_region = format!("arn:aws:cloudtrail:*:{}:trail/{trail_name}", cairn_testkit::emulator::ACCOUNT_ID);
    assert_eq!(context.and_then(|c| c.as_str()), Some(any_region.as_str()), "{policy}");
    let logs_grant = by("logs.us-east-1.amazonaws.com");
    assert_eq!(logs_grant.len(), 1, "{policy}");
    let group_arn = d.attr("trail-logs", "arn");
    assert_eq!(
        logs_grant[0]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"],
        group_arn.trim_end_matches(":*"),
        "{policy}"
    );
    let group = d.clients.logs().await.describe_log_groups().log_group_name_prefix(d.id("trail-logs")).send().await?;
    let group = group.log_groups().first().ok_or("no log group")?;
    assert_eq!(group.kms_key_id(), Some(key_arn.as_str()));
    assert_eq!(group.retention_in_days(), Some(365));

    // The trail's role may write to its log group only.
    let iam = d.clients.iam().await;
    let inline = iam.get_role_policy().role_name(d.id(role)).policy_name("deliver-to-logs").send().await?;
    let doc = harness::json(Some(inline.policy_document()));
    assert_eq!(doc["Statement"][0]["Resource"], format!("{}:log-stream:*", d.attr("trail-logs", "arn")).as_str());

    // Four filters on the trail's group, four alarms telling the topic.
    let logs = d.clients.logs().await;
    let filters = logs.describe_metric_filters().log_group_name(d.id("trail-logs")).send().await?;
    let metrics: BTreeSet<_> = filters
        .metric_filters()
        .iter()
        .flat_map(|f| f.metric_transformations())
        .map(|m| (m.metric_namespace(), m.metric_name()))
        .collect();
    assert_eq!(metrics, METRICS.iter().map(|m| ("CloudTrailMetrics", *m)).collect());
    let topic = d.id("alerts");
    let cloudwatch = d.clients.cloudwatch().await;
    let alarms = cloudwatch.describe_alarms().alarm_name_prefix(&d.stack).send().await?;
    let mut names = Vec::new();
    for a in alarms.metric_alarms() {
        assert_eq!(a.alarm_actions(), [topic.to_string()]);
        assert_eq!((a.threshold(), a.period(), a.evaluation_periods()), (Some(1.0), Some(300), Some(1)));
        assert_eq!(a.statistic().map(|s| s.as_str()), Some("Sum"));
        assert_eq!(a.comparison_operator().map(|c| c.as_str()), Some("GreaterThanOrEqualToThreshold"));
        names.push(a.metric_name().unwrap_or_default());
    }
    names.sort_unstable();
    assert_eq!(names, METRICS);
    let subs = d.clients.sns().await.list_subscriptions_by_topic().topic_arn(topic).send().await?;
    assert!(subs.subscriptions().iter().any(|s| s.endpoint() == Some("security@example.com")));

    // Log files as CloudTrail writes them, one written twice: destroy must
    // empty the bucket before deleting it.
    let prefix = format!("AWSLogs/{}/CloudTrail/us-east-1/2026/11/25", cairn_testkit::emulator::ACCOUNT_ID);
    for (key, body) in [("a.json.gz", "first"), ("b.json.gz", "second"), ("a.json.gz", "again")] {
        let object =
            s3.put_object().bucket(bucket).key(format!("{prefix}/{key}")).body(body.as_bytes().to_vec().into());
        object.send().await?;
    }
    Ok(())
}
