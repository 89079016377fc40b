//! Conformance of `aws:logs:MetricFilter` against the emulator (TESTING.md
//! layer 3). Metric filters carry no tags, so there is no tag check.

#![cfg(feature = "logs")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_cloudwatchlogs::types::{MetricFilter as AwsMetricFilter, MetricTransformation};
use cairn_aws::kinds::logs_metric_filter::MetricFilter;
use cairn_engine::kind::{OpError, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:logs:MetricFilter";
const DENIED: &str = r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#;

async fn describe(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, name: &str) -> Option<AwsMetricFilter> {
    let out = logs.describe_metric_filters().log_group_name(group).filter_name_prefix(name).send().await.unwrap();
    // moto appends a filter per PutMetricFilter instead of replacing it; AWS
    // keeps one: the newest is the last.
    out.metric_filters().iter().rfind(|f| f.filter_name() == Some(name)).cloned()
}

/// A log group for the filters, made directly.
async fn group(logs: &aws_sdk_cloudwatchlogs::Client, stack: &str) -> String {
    let name = format!("/cairn/{stack}/trail");
    logs.create_log_group().log_group_name(&name).send().await.unwrap();
    name
}

fn props(group: &str, pattern: &str, metric: Value) -> Value {
    json!({"log_group": group, "pattern": pattern, "metric": metric})
}

#[test]
fn replace_on_is_name_and_log_group() {
    assert_eq!(MetricFilter::REPLACE_ON, &["name", "log_group"]);
    assert_eq!(MetricFilter::ATTRIBUTES, &["name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update pattern and metric in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("filter");
    let group = group(&logs, &stack).await;
    let cx = op_ctx(&stack, "denied");
    let name = format!("{stack}-denied");

    let desired = common::checked(
        &*kind,
        &stack,
        "denied",
        props(&group, DENIED, json!({"name": "UnauthorizedAttempts", "namespace": "CISBenchmark"})),
    );
    assert_eq!(desired["name"], json!(name));
    assert_eq!(desired["metric"]["value"], json!("1"));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, format!("{group}:{name}"));
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().expect("filter exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &created.physical_id, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "denied",
        physical_id: &created.physical_id,
    };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let moved = common::with(&desired, "log_group", json!(format!("{group}-2")));
    assert_eq!(re.step(&desired, &moved).await, common::replace(&["log_group"]));

    // Direct SDK read.
    let f = describe(&logs, &group, &name).await.unwrap();
    assert_eq!(f.filter_pattern(), Some(DENIED));
    let t = &f.metric_transformations()[0];
    assert_eq!(
        (t.metric_name(), t.metric_namespace(), t.metric_value()),
        ("UnauthorizedAttempts", "CISBenchmark", "1")
    );

    // Update pattern and every metric field in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "denied",
        props(
            &group,
            r#"{ $.userIdentity.type = "Root" }"#,
            json!({"name": "RootUsage", "namespace": "CIS", "value": "2", "default_value": 0.0, "unit": "Count"}),
        ),
    );
    assert_eq!(re.step(&desired, &updated).await, common::update(&["metric", "pattern"]));
    let after = kind.update(&cx, &created.physical_id, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, created.physical_id);
    let read = kind.read(&cx, &created.physical_id, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let f = describe(&logs, &group, &name).await.unwrap();
    let t = &f.metric_transformations()[0];
    assert_eq!((t.metric_name(), t.metric_value(), t.default_value()), ("RootUsage", "2", Some(0.0)));

    kind.delete(&cx, &created.physical_id, &updated).await.unwrap();
    kind.delete(&cx, &created.physical_id, &updated).await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &updated).await.unwrap().is_none());
    assert!(describe(&logs, &group, &name).await.is_none());
    logs.delete_log_group().log_group_name(&group).send().await.unwrap();
}

/// A plan reads all of a log group's filters in one call: the batch, over
/// two groups, gives what single reads give; a missing filter and a filter
/// on a missing group read as gone.
#[tokio::test]
async fn reads_in_one_batch() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("filterbatch");
    let first = group(&logs, &stack).await;
    let second = format!("{first}-2");
    logs.create_log_group().log_group_name(&second).send().await.unwrap();
    let mut items = Vec::new();
    for (id, g, metric) in [("a", &first, "A"), ("b", &first, "B"), ("c", &second, "C")] {
        let cx = op_ctx(&stack, id);
        let desired = common::checked(&*kind, &stack, id, props(g, "", json!({"name": metric, "namespace": "N"})));
        let created = kind.create(&cx, &desired).await.unwrap();
        items.push((cx, created.physical_id, desired));
    }
    // Put again: moto then holds two of that name; the newest is the one.
    let again = common::with(&items[0].2, "pattern", json!("ERROR"));
    kind.update(&items[0].0, &items[0].1, &items[0].2, &again).await.unwrap();
    items[0].2 = again;
    let missing = [
        (op_ctx(&stack, "d"), format!("{first}:{stack}-d"), items[0].2.clone()),
        (op_ctx(&stack, "e"), format!("/cairn/{stack}/nothing:{stack}-e"), items[0].2.clone()),
    ];
    items.extend(missing);

    let many = common::assert_read_many_is_read(&*kind, &items).await;
    for (item, live) in items.iter().zip(&many).take(3) {
        assert_eq!(live.as_ref().expect("exists").props, item.2);
    }
    assert!(many[3].is_none() && many[4].is_none(), "missing filters read as gone");
    for g in [&first, &second] {
        logs.delete_log_group().log_group_name(g).send().await.unwrap();
    }
}

/// Deleted behind cairn's back: read says gone. (moto keeps the filters of
/// a deleted group, so the group-deleted case cannot be tested here.)
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("filtergone");
    let group = group(&logs, &stack).await;
    let cx = op_ctx(&stack, "root");
    let desired = common::checked(&*kind, &stack, "root", props(&group, "", json!({"name": "M", "namespace": "N"})));
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = format!("{stack}-root");
    logs.delete_metric_filter().log_group_name(&group).filter_name(&name).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "root",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
    logs.delete_log_group().log_group_name(&group).send().await.unwrap();
}

/// Filters carry no tags: an existing one of the same name is never
/// overwritten.
#[tokio::test]
async fn existing_filter_is_refused() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let logs = provider.clients().logs().await.clone();
    let stack = unique_stack("filterown");
    let group = group(&logs, &stack).await;
    let name = format!("{stack}-denied");
    let t = MetricTransformation::builder().metric_name("Theirs").metric_namespace("Other").metric_value("1").build();
    logs.put_metric_filter()
        .log_group_name(&group)
        .filter_name(&name)
        .filter_pattern("ERROR")
        .metric_transformations(t.unwrap())
        .send()
        .await
        .unwrap();
    let cx = op_ctx(&stack, "denied");
    let desired =
        common::checked(&*kind, &stack, "denied", props(&group, DENIED, json!({"name": "Mine", "namespace": "N"})));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("metric filter {name} on log group {group}"));
            assert!(owner.contains("no tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert_eq!(describe(&logs, &group, &name).await.unwrap().filter_pattern(), Some("ERROR"), "untouched");
    logs.delete_log_group().log_group_name(&group).send().await.unwrap();
}
