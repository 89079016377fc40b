//! Conformance of `aws:sns:Subscription` against the emulator (TESTING.md
//! layer 3), including the pending-confirmation id path. moto confirms
//! email subscriptions at once, so pending ids are exercised by handing the
//! kind a `pending:` id, as a real-AWS create would have recorded.

#![cfg(feature = "sns")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cairn_aws::kinds::sns_subscription::{Subscription, SubscriptionId};
use cairn_engine::kind::{OpCtx, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:sns:Subscription";

fn queue_arn(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{name}")
}

/// A topic made through the topic kind, for subscriptions to hang off.
async fn topic(provider: &cairn_aws::AwsProvider, stack: &str) -> (String, OpCtx, Value) {
    let kind = common::kind(provider, "aws:sns:Topic");
    let cx = op_ctx(stack, "alerts");
    let props = common::checked(&*kind, stack, "alerts", json!({}));
    let created = kind.create(&cx, &props).await.unwrap();
    (created.physical_id, cx, props)
}

async fn delete_topic(provider: &cairn_aws::AwsProvider, topic: &(String, OpCtx, Value)) {
    let kind = common::kind(provider, "aws:sns:Topic");
    kind.delete(&topic.1, &topic.0, &topic.2).await.unwrap();
}

#[test]
fn replace_on_is_topic_protocol_endpoint() {
    assert_eq!(Subscription::REPLACE_ON, &["topic", "protocol", "endpoint"]);
    assert_eq!(Subscription::ATTRIBUTES, &["arn"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update the filter policy and raw delivery in place, unset them,
/// delete, delete again, gone.
#[tokio::test]
async fn sqs_lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("subsqs");
    let t = topic(&provider, &stack).await;
    let cx = op_ctx(&stack, "jobs-sub");

    let desired = common::checked(
        &*kind,
        &stack,
        "jobs-sub",
        json!({"topic": t.0, "protocol": "sqs", "endpoint": queue_arn("jobs"), "filter_policy": {"severity": ["critical"]}, "raw_message_delivery": true}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let arn = created.physical_id.clone();
    assert!(arn.starts_with(&format!("{}:", t.0)), "{arn}");
    assert_eq!(created.attrs["arn"], json!(arn));

    let read = kind.read(&cx, &arn, &desired).await.unwrap().expect("subscription exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &arn, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "jobs-sub", physical_id: &arn };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let other_topic = format!("{}-other", t.0);
    assert_eq!(
        re.step(&desired, &common::with(&desired, "topic", json!(other_topic))).await,
        common::replace(&["topic"])
    );
    assert_eq!(
        re.step(&desired, &common::with(&desired, "endpoint", json!(queue_arn("other")))).await,
        common::replace(&["endpoint"])
    );
    assert_eq!(
        re.step(&desired, &common::with(&desired, "protocol", json!("lambda"))).await,
        common::replace(&["protocol"])
    );

    // Direct SDK read.
    let attrs = sns.get_subscription_attributes().subscription_arn(&arn).send().await.unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs["RawMessageDelivery"], "true");
    assert_eq!(serde_json::from_str::<Value>(&attrs["FilterPolicy"]).unwrap(), json!({"severity": ["critical"]}));

    // Update in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "jobs-sub",
        json!({"topic": t.0, "protocol": "sqs", "endpoint": queue_arn("jobs"), "filter_policy": {"severity": ["critical", "high"]}}),
    );
    assert_eq!(re.step(&desired, &updated).await, common::update(&["filter_policy", "raw_message_delivery"]));
    let after = kind.update(&cx, &arn, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, arn);
    assert_eq!(kind.read(&cx, &arn, &updated).await.unwrap().unwrap().props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");

    // Unset the filter policy.
    let bare = common::checked(
        &*kind,
        &stack,
        "jobs-sub",
        json!({"topic": t.0, "protocol": "sqs", "endpoint": queue_arn("jobs")}),
    );
    kind.update(&cx, &arn, &updated, &bare).await.unwrap();
    assert_eq!(kind.read(&cx, &arn, &bare).await.unwrap().unwrap().props, bare);

    kind.delete(&cx, &arn, &bare).await.unwrap();
    kind.delete(&cx, &arn, &bare).await.unwrap();
    assert!(kind.read(&cx, &arn, &bare).await.unwrap().is_none());
    delete_topic(&provider, &t).await;
}

/// Unsubscribed behind cairn's back, or its topic deleted: read says gone.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("subgone");
    let t = topic(&provider, &stack).await;
    let cx = op_ctx(&stack, "sub");
    let desired =
        common::checked(&*kind, &stack, "sub", json!({"topic": t.0, "protocol": "sqs", "endpoint": queue_arn("q")}));
    let created = kind.create(&cx, &desired).await.unwrap();
    sns.unsubscribe().subscription_arn(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "sub", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();

    // Subscribed again, then its topic deleted behind cairn's back.
    let created = kind.create(&cx, &desired).await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_some());
    sns.delete_topic().topic_arn(&t.0).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "sub", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// An email subscription: on moto it is confirmed at once and behaves like
/// any other; the plan after create shows no change.
#[tokio::test]
async fn email_subscription() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("submail");
    let t = topic(&provider, &stack).await;
    let cx = op_ctx(&stack, "ops-email");
    let desired = common::checked(
        &*kind,
        &stack,
        "ops-email",
        json!({"topic": t.0, "protocol": "email", "endpoint": "ops@example.com"}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    delete_topic(&provider, &t).await;
}

/// A `pending:` id, as recorded when AWS answered "pending confirmation":
/// once the subscription is confirmed, read finds it by topic listing and
/// reports its real ARN with the props; delete unsubscribes it.
#[tokio::test]
async fn pending_id_follows_the_confirmed_subscription() {
    // The confirmed path: straight to the emulator, which confirms at once,
    // as the endpoint's owner would; the strict layer's `sns-pending-email`
    // keeps every e-mail subscription pending (its own test covers that).
    let provider = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions {
        endpoint_url: Some(cairn_testkit::emulator::endpoint()),
        ..cairn_aws::AwsOptions::default()
    });
    let kind = common::kind(&provider, KIND);
    let sns = provider.clients().sns().await.clone();
    let stack = unique_stack("subpend");
    let t = topic(&provider, &stack).await;
    let cx = op_ctx(&stack, "ops-email");
    let desired = common::checked(
        &*kind,
        &stack,
        "ops-email",
        json!({"topic": t.0, "protocol": "email", "endpoint": "ops@example.com"}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();

    let pending =
        SubscriptionId::Pending { topic: t.0.clone(), protocol: "email".into(), endpoint: "ops@example.com".into() }
            .to_physical_id();
    let read = kind.read(&cx, &pending, &desired).await.unwrap().expect("found through the topic");
    assert_eq!(read.physical_id, created.physical_id);
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs["arn"], json!(created.physical_id));

    kind.delete(&cx, &pending, &desired).await.unwrap();
    let left = sns.list_subscriptions_by_topic().topic_arn(&t.0).send().await.unwrap();
    assert!(left.subscriptions().is_empty(), "unsubscribed through the pending id");
    // Gone now: read says so, delete again is success.
    assert!(kind.read(&cx, &pending, &desired).await.unwrap().is_none());
    kind.delete(&cx, &pending, &desired).await.unwrap();

    // Its topic deleted too (destroy order): still gone, still success.
    delete_topic(&provider, &t).await;
    assert!(kind.read(&cx, &pending, &desired).await.unwrap().is_none());
    kind.delete(&cx, &pending, &desired).await.unwrap();
}

/// The typed kind is reachable for builders, and the check is the engine's.
#[test]
fn protocol_enum_is_checked() {
    let kind = cairn_engine::kind::typed(Subscription::new(cairn_aws::AwsProvider::new(Default::default()).clients()));
    let bad = json!({"topic": "arn:aws:sns:us-east-1:1:t", "protocol": "smtp", "endpoint": "a@b.c"});
    let errors = kind
        .check(&bad, &cairn_engine::kind::NameCtx { stack: "s", id: "x", base_dir: std::path::Path::new("") })
        .unwrap_err();
    assert!(errors[0].expected.as_deref().unwrap().contains("email-json"));
}
