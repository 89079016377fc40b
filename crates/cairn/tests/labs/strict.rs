//! Stacks that moto deploys but real AWS refuses, applied through the
//! strict layer of the test proxy (see docs/real-aws.md): each test failed
//! before the fix it covers.

use std::collections::BTreeMap;

use cairn_aws::AwsOptions;
use cairn_engine::StackSpec;
use cairn_testkit::emulator;
use cairn_testkit::proxy::strict::{Strict, rule};
use cairn_testkit::proxy::{Faults, Proxy};

use crate::harness::{self, Deployed, R};

fn spec(text: &str) -> StackSpec {
    let parsed = cairn_stack::parse("strict.yaml", text);
    match parsed.spec {
        Some(s) if !parsed.diagnostics.has_errors() => s,
        _ => panic!("the test stack does not parse: {:?}", parsed.diagnostics),
    }
}

/// A round trip through a proxy with only `rules` on; returns how often
/// each rule answered in AWS's place.
async fn round_trip_with_rules(
    spec: StackSpec,
    rules: &[&str],
    check: impl AsyncFnOnce(&Deployed) -> R,
) -> Result<BTreeMap<String, u64>, Box<dyn std::error::Error>> {
    let strict = Strict::only(rules)?;
    let proxy = Proxy::start_with(&emulator::endpoint(), Faults { strict, ..Faults::default() }).await?;
    let options = AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() };
    harness::round_trip_with(spec, &BTreeMap::new(), options, check).await?;
    Ok(proxy.stats().injected)
}

/// Issue 19 item 1: the bucket had no policy (its name was chosen only at
/// create), so CloudTrail refused the trail.
#[tokio::test]
async fn a_trail_on_an_unnamed_bucket_gets_the_policy_cloudtrail_needs() -> R {
    let stack = spec(
        "stack: strict-trail\nresources:\n  logs:\n    type: aws:s3:Bucket\n    properties:\n      force_destroy: true\n  \
         trail:\n    type: aws:cloudtrail:Trail\n    properties:\n      bucket: ${logs.name}\n      key_prefix: audit\n",
    );
    let injected = round_trip_with_rules(stack, &[rule::TRAIL_BUCKET_POLICY], async |d: &Deployed| {
        let bucket = d.id("logs");
        assert_eq!(bucket, format!("{}-logs-{}-us-east-1", d.stack, emulator::ACCOUNT_ID));
        let trail = d.clients.cloudtrail().await.get_trail().name(d.id("trail")).send().await?;
        assert_eq!(trail.trail().and_then(|t| t.s3_bucket_name()), Some(bucket));
        Ok(())
    })
    .await?;
    assert_eq!(injected.get("strict:cloudtrail-bucket-policy"), None, "CloudTrail refused the trail: {injected:?}");
    Ok(())
}

/// Issue 19 item 3: the filters of one log group were put (and deleted)
/// together, which CloudWatch Logs aborts.
#[tokio::test]
async fn metric_filters_on_one_group_are_written_one_at_a_time() -> R {
    let mut text = String::from(
        "stack: strict-filters\nresources:\n  group:\n    type: aws:logs:LogGroup\n    properties: {retention_days: 1}\n",
    );
    for i in 0..4 {
        text.push_str(&format!(
            "  filter-{i}:\n    type: aws:logs:MetricFilter\n    properties:\n      log_group: ${{group.name}}\n      \
             pattern: '{{ $.eventName = \"Event{i}\" }}'\n      metric: {{namespace: Strict, name: M{i}}}\n"
        ));
    }
    let injected = round_trip_with_rules(spec(&text), &[rule::LOGS_ONE_WRITE_PER_GROUP], async |d: &Deployed| {
        let logs = d.clients.logs().await;
        let found = logs.describe_metric_filters().log_group_name(d.id("group")).send().await?;
        assert_eq!(found.metric_filters().len(), 4);
        Ok(())
    })
    .await?;
    assert_eq!(injected.get("strict:logs-one-write-per-group"), None, "writes overlapped: {injected:?}");
    Ok(())
}

/// Issue 19 items 7 and 8: a queue had no policy, so SNS and EventBridge
/// could not send to it (nor to a rule's dead-letter queue); and a topic's
/// derived EventBridge policy replaced SNS's default one, so the alarm on
/// the same topic could no longer publish. The delivery check of every
/// round trip judges each wiring from the live policies.
#[tokio::test]
async fn topics_rules_and_alarms_can_deliver_with_no_policy_written() -> R {
    let stack = spec(
        "stack: strict-wiring
resources:
  alerts:
    type: aws:sns:Topic
  inbox:
    type: aws:sqs:Queue
  failed:
    type: aws:sqs:Queue
  to-inbox:
    type: aws:sns:Subscription
    properties: {topic: '${alerts.arn}', protocol: sqs, endpoint: '${inbox.arn}'}
  stopped:
    type: aws:events:Rule
    properties:
      event_pattern: {source: [aws.ec2]}
      targets:
        - {id: topic, arn: '${alerts.arn}'}
        - {id: queue, arn: '${inbox.arn}', dead_letter_queue: '${failed.arn}'}
  errors:
    type: aws:cloudwatch:Alarm
    properties:
      metric: {namespace: Strict, name: Errors, statistic: Sum, period: 60}
      comparison: GreaterThanOrEqualToThreshold
      threshold: 1
      evaluation_periods: 1
      alarm_actions: ['${alerts.arn}']
",
    );
    round_trip_with_rules(stack, &[], async |d: &Deployed| {
        // What the check judged: the queue's policy as AWS holds it.
        let sqs = d.clients.sqs().await;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(d.attr("inbox", "url"))
            .attribute_names("Policy".into())
            .send()
            .await?;
        let policy = harness::json(attrs.attributes().and_then(|a| a.get(&"Policy".into())).map(String::as_str));
        assert_eq!(policy["Statement"].as_array().map(Vec::len), Some(2), "{policy}");
        Ok(())
    })
    .await?;
    Ok(())
}
