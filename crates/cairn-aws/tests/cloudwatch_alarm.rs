//! Conformance of `aws:cloudwatch:Alarm` against the emulator (TESTING.md layer 3).

#![cfg(feature = "cloudwatch")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_cloudwatch::types::{ComparisonOperator, MetricAlarm, Statistic, Tag};
use cairn_aws::kinds::cloudwatch_alarm::Alarm;
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:cloudwatch:Alarm";

fn topic(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:{ACCOUNT_ID}:{name}")
}

async fn describe(cw: &aws_sdk_cloudwatch::Client, name: &str) -> Option<MetricAlarm> {
    let out = cw.describe_alarms().alarm_names(name).send().await.unwrap();
    out.metric_alarms().first().cloned()
}

async fn live_tags(cw: &aws_sdk_cloudwatch::Client, arn: &str) -> BTreeMap<String, String> {
    let out = cw.list_tags_for_resource().resource_arn(arn).send().await.unwrap();
    out.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

fn base() -> Value {
    json!({
        "metric": {"namespace": "CISBenchmark", "name": "UnauthorizedAttempts", "statistic": "Sum", "period": 300},
        "comparison": "GreaterThanOrEqualToThreshold",
        "threshold": 1.0
    })
}

/// A plan reads a stack's alarms in one DescribeAlarms: the batch gives
/// what single reads give, and one that is gone reads as gone.
#[tokio::test]
async fn reads_in_one_batch() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("alarmbatch");
    let mut items = Vec::new();
    for (id, threshold) in [("a", 1.0), ("b", 2.0), ("c", 3.0)] {
        let cx = op_ctx(&stack, id);
        let mut props = base();
        props["threshold"] = json!(threshold);
        let desired = common::checked(&*kind, &stack, id, props);
        let created = kind.create(&cx, &desired).await.unwrap();
        items.push((cx, created.physical_id, desired));
    }
    let (cx, gone, desired) = (op_ctx(&stack, "gone"), format!("{stack}-gone"), items[0].2.clone());
    items.push((cx, gone, desired));

    let many = common::assert_read_many_is_read(&*kind, &items).await;
    for (item, live) in items.iter().zip(&many).take(3) {
        assert_eq!(live.as_ref().expect("exists").props, item.2);
    }
    assert!(many[3].is_none(), "an alarm that does not exist reads as gone");
    for (cx, id, desired) in &items[..3] {
        kind.delete(cx, id, desired).await.unwrap();
    }
}

#[test]
fn replace_on_is_name() {
    assert_eq!(Alarm::REPLACE_ON, &["name"]);
    assert_eq!(Alarm::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, a changed name plans a replace,
/// update each other prop in place, unset the optional ones, delete, delete
/// again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let cw = provider.clients().cloudwatch().await.clone();
    let stack = unique_stack("alarm");
    let cx = op_ctx(&stack, "denied");
    let name = format!("{stack}-denied");

    let mut full = base();
    full["description"] = json!("unauthorized API calls");
    full["metric"]["dimensions"] = json!({"Service": "iam", "Region": "us-east-1"});
    full["evaluation_periods"] = json!(3);
    full["datapoints_to_alarm"] = json!(2);
    full["treat_missing_data"] = json!("notBreaching");
    full["alarm_actions"] = json!([topic("alerts"), topic("pager")]);
    full["ok_actions"] = json!([topic("alerts")]);
    full["insufficient_data_actions"] = json!([topic("ops")]);
    let desired = common::checked(&*kind, &stack, "denied", full);
    assert_eq!(desired["name"], json!(name));

    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    let arn = created.attrs["arn"].as_str().unwrap().to_string();
    assert!(arn.ends_with(&format!(":alarm:{name}")), "{arn}");
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("alarm exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; a changed name plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "denied", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));

    // Direct SDK reads.
    let a = describe(&cw, &name).await.unwrap();
    assert_eq!(a.alarm_description(), Some("unauthorized API calls"));
    assert_eq!(a.statistic(), Some(&Statistic::Sum));
    assert_eq!(a.comparison_operator(), Some(&ComparisonOperator::GreaterThanOrEqualToThreshold));
    assert_eq!((a.period(), a.evaluation_periods(), a.datapoints_to_alarm()), (Some(300), Some(3), Some(2)));
    assert_eq!(a.dimensions().len(), 2);
    assert_eq!(a.alarm_actions().len(), 2);
    let tags = live_tags(&cw, &arn).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("denied"));

    // Update each prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "denied",
        json!({
            "description": "root usage",
            "metric": {"namespace": "CIS", "name": "RootUsage", "dimensions": {"Service": "sts"}, "statistic": "Maximum", "period": 60},
            "comparison": "GreaterThanThreshold",
            "threshold": 5.5,
            "evaluation_periods": 2,
            "datapoints_to_alarm": 1,
            "treat_missing_data": "breaching",
            "alarm_actions": [topic("pager")],
            "ok_actions": [],
            "insufficient_data_actions": [topic("alerts")]
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&[
            "alarm_actions",
            "comparison",
            "datapoints_to_alarm",
            "description",
            "evaluation_periods",
            "insufficient_data_actions",
            "metric",
            "ok_actions",
            "threshold",
            "treat_missing_data"
        ])
    );
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, name);
    assert_eq!(after.attrs["arn"], json!(arn));
    let read = kind.read(&cx, &name, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let a = describe(&cw, &name).await.unwrap();
    assert_eq!((a.threshold(), a.treat_missing_data()), (Some(5.5), Some("breaching")));
    assert!(a.ok_actions().is_empty());
    assert_eq!(live_tags(&cw, &arn).await.get(TAG_STACK), Some(&stack), "tags survive PutMetricAlarm");

    // Unset the optional props.
    let bare = common::checked(&*kind, &stack, "denied", base());
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);

    kind.delete(&cx, &name, &bare).await.unwrap();
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(kind.read(&cx, &name, &bare).await.unwrap().is_none());
    assert!(describe(&cw, &name).await.is_none());
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let cw = provider.clients().cloudwatch().await.clone();
    let stack = unique_stack("alarmgone");
    let cx = op_ctx(&stack, "denied");
    let desired = common::checked(&*kind, &stack, "denied", base());
    let created = kind.create(&cx, &desired).await.unwrap();
    cw.delete_alarms().alarm_names(&created.physical_id).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "denied",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// PutMetricAlarm would overwrite someone else's alarm of the same name: the
/// kind refuses it, and adopts only its own.
#[tokio::test]
async fn existing_alarm_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let cw = provider.clients().cloudwatch().await.clone();
    let stack = unique_stack("alarmown");

    let put = |name: String, tags: Vec<Tag>| {
        cw.put_metric_alarm()
            .alarm_name(name)
            .namespace("Other")
            .metric_name("Theirs")
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(1)
            .threshold(9.0)
            .comparison_operator(ComparisonOperator::LessThanThreshold)
            .set_tags(Some(tags))
            .send()
    };

    let foreign = format!("{stack}-denied");
    put(foreign.clone(), vec![Tag::builder().key("team").value("other").build()]).await.unwrap();
    let cx = op_ctx(&stack, "denied");
    let desired = common::checked(&*kind, &stack, "denied", base());
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("CloudWatch alarm {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert_eq!(describe(&cw, &foreign).await.unwrap().metric_name(), Some("Theirs"), "untouched");
    cw.delete_alarms().alarm_names(&foreign).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    put(own.clone(), cx.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()).await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", base());
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    assert_eq!(kind.read(&cx, &own, &desired).await.unwrap().unwrap().props, desired);
    kind.delete(&cx, &own, &desired).await.unwrap();
}
