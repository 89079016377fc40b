//! Conformance of `aws:sqs:Queue` against the emulator (TESTING.md layer 3).

#![cfg(feature = "sqs")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sqs::types::QueueAttributeName as A;
use cairn_aws::kinds::sqs_queue::{Queue, QueueProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:sqs:Queue";

fn arn_of(name: &str) -> String {
    format!("arn:aws:sqs:us-east-1:{ACCOUNT_ID}:{name}")
}

async fn live_attrs(sqs: &aws_sdk_sqs::Client, url: &str) -> HashMap<A, String> {
    let out = sqs.get_queue_attributes().queue_url(url).attribute_names(A::All).send().await.unwrap();
    out.attributes().cloned().unwrap_or_default()
}

#[test]
fn replace_on_is_name_and_fifo() {
    assert_eq!(Queue::REPLACE_ON, &["name", "fifo"]);
    assert_eq!(Queue::ATTRIBUTES, &["arn", "name", "url"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update each updatable prop in place, unset the dead-letter
/// queue, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sqs = provider.clients().sqs().await.clone();
    let stack = unique_stack("queue");

    // A dead-letter queue to point at.
    let dlq_cx = op_ctx(&stack, "dlq");
    let dlq_props = common::checked(&*kind, &stack, "dlq", json!({}));
    let dlq = kind.create(&dlq_cx, &dlq_props).await.unwrap();
    let dlq_arn = arn_of(&format!("{stack}-dlq"));
    assert_eq!(dlq.attrs["arn"], json!(dlq_arn));

    let cx = op_ctx(&stack, "jobs");
    let name = format!("{stack}-jobs");
    let desired = common::checked(
        &*kind,
        &stack,
        "jobs",
        json!({
            "visibility_timeout": 60, "retention": 86_400, "delay": 5, "receive_wait": 10,
            "dead_letter": {"queue": dlq_arn, "max_receive_count": 3}
        }),
    );
    assert_eq!(desired["name"], json!(name));
    assert_eq!(desired["sse"], json!(true));

    let created = kind.create(&cx, &desired).await.unwrap();
    let url = created.physical_id.clone();
    assert!(url.ends_with(&format!("/{name}")), "{url}");
    assert_eq!(created.attrs["url"], json!(url));
    assert_eq!(created.attrs["arn"], json!(arn_of(&name)));
    assert_eq!(created.attrs["name"], json!(name));

    // Read back every prop; reading twice still shows no change.
    let read = kind.read(&cx, &url, &desired).await.unwrap().expect("queue exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &url, &read.props).await.unwrap().expect("queue exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "jobs", physical_id: &url };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let fifo = common::with(&desired, "fifo", json!(true));
    assert_eq!(re.step(&desired, &fifo).await, common::replace(&["fifo"]));

    // Direct SDK reads, not through the kind.
    let attrs = live_attrs(&sqs, &url).await;
    assert_eq!(attrs[&A::VisibilityTimeout], "60");
    assert_eq!(attrs[&A::MessageRetentionPeriod], "86400");
    assert_eq!(attrs[&A::DelaySeconds], "5");
    assert_eq!(attrs[&A::ReceiveMessageWaitTimeSeconds], "10");
    assert_eq!(attrs[&A::SqsManagedSseEnabled], "true");
    let redrive: Value = serde_json::from_str(&attrs[&A::RedrivePolicy]).unwrap();
    assert_eq!(redrive["deadLetterTargetArn"], json!(dlq_arn));
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("jobs"));

    // Update each updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "jobs",
        json!({
            "visibility_timeout": 120, "retention": 3_600, "delay": 0, "receive_wait": 20,
            "dead_letter": {"queue": dlq_arn, "max_receive_count": 7}, "sse": false
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&["dead_letter", "delay", "receive_wait", "retention", "sse", "visibility_timeout"])
    );
    let after = kind.update(&cx, &url, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, url);
    let read = kind.read(&cx, &url, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let attrs = live_attrs(&sqs, &url).await;
    assert_eq!(attrs[&A::VisibilityTimeout], "120");
    assert_eq!(attrs[&A::ReceiveMessageWaitTimeSeconds], "20");
    assert_eq!(attrs[&A::SqsManagedSseEnabled], "false");

    // Unset: back to the defaults, no dead-letter queue.
    let bare = common::checked(&*kind, &stack, "jobs", json!({}));
    kind.update(&cx, &url, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &url, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);
    assert!(read.props.get("dead_letter").is_none());

    // Delete; delete again is success; then it is gone from the emulator
    // (AWS, and the strict layer, can still answer reads of a queue for 60 s
    // after its deletion: `disappears` reads one deleted long ago).
    kind.delete(&cx, &url, &bare).await.unwrap();
    kind.delete(&cx, &url, &bare).await.unwrap();
    let direct = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions::default());
    assert!(common::kind(&direct, KIND).read(&cx, &url, &bare).await.unwrap().is_none());
    kind.delete(&dlq_cx, &dlq.physical_id, &dlq_props).await.unwrap();
}

#[tokio::test]
async fn fifo_queue() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sqs = provider.clients().sqs().await.clone();
    let stack = unique_stack("queuefifo");
    let cx = op_ctx(&stack, "orders");
    let desired = common::checked(&*kind, &stack, "orders", json!({"fifo": true}));
    assert_eq!(desired["name"], json!(format!("{stack}-orders.fifo")));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(live_attrs(&sqs, &created.physical_id).await[&A::FifoQueue], "true");
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("queuegone");
    let cx = op_ctx(&stack, "jobs");
    let desired = common::checked(&*kind, &stack, "jobs", json!({}));
    let created = kind.create(&cx, &desired).await.unwrap();
    // Deleted long enough ago to be gone: straight on the emulator, past the
    // strict layer, which would still answer reads for a queue deleted
    // moments ago, as AWS can for 60 s.
    let direct = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions::default());
    let sqs = direct.clients().sqs().await.clone();
    sqs.delete_queue().queue_url(&created.physical_id).send().await.unwrap();
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "jobs",
        physical_id: &created.physical_id,
    };
    re.assert_gone_plans_create(&*kind, &cx, &desired).await;
}

/// CreateQueue would hand back someone else's queue of the same name: the
/// kind refuses it, and adopts only its own (a crashed earlier run).
#[tokio::test]
async fn existing_queue_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let sqs = provider.clients().sqs().await.clone();
    let stack = unique_stack("queueown");

    let foreign = format!("{stack}-jobs");
    let out = sqs.create_queue().queue_name(&foreign).tags("team", "other").send().await.unwrap();
    let foreign_url = out.queue_url().unwrap().to_string();
    let cx = op_ctx(&stack, "jobs");
    let desired = common::checked(&*kind, &stack, "jobs", json!({"visibility_timeout": 99}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("SQS queue {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert_eq!(live_attrs(&sqs, &foreign_url).await[&A::VisibilityTimeout], "30", "a foreign queue is untouched");
    sqs.delete_queue().queue_url(&foreign_url).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    let mut req = sqs.create_queue().queue_name(&own);
    for (k, v) in &cx.tags {
        req = req.tags(k, v);
    }
    let own_url = req.send().await.unwrap().queue_url().unwrap().to_string();
    let desired = common::checked(&*kind, &stack, "mine", json!({"visibility_timeout": 99}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own_url);
    let read = kind.read(&cx, &own_url, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &own_url, &desired).await.unwrap();
}

/// Seen (issue 19, item 13): within 60 s of a queue's deletion, GetQueueUrl
/// and the queue's reads still answer for the dying queue, its ownership
/// tags included, so a create right after a delete (destroy then apply
/// again) adopted a queue that was about to vanish. Through the strict
/// layer's `sqs-deleted-recently`, the create must wait out the name and
/// make a queue that is really there.
#[tokio::test]
async fn a_queue_deleted_moments_ago_is_created_anew_not_adopted() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("queuedying");
    let mut cx = op_ctx(&stack, "jobs");
    let notes: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&notes);
    cx.notify = Arc::new(move |m: &str| seen.lock().unwrap().push(m.to_string()));
    let desired = common::checked(&*kind, &stack, "jobs", json!({"visibility_timeout": 45}));

    let first = kind.create(&cx, &desired).await.unwrap();
    kind.delete(&cx, &first.physical_id, &desired).await.unwrap();
    let again = kind.create(&cx, &desired).await.unwrap();

    // Straight on the emulator, past the strict layer: the queue exists,
    // with the stack's props and tags.
    let direct = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions::default());
    let sqs = direct.clients().sqs().await.clone();
    let url = sqs.get_queue_url().queue_name(format!("{stack}-jobs")).send().await;
    let url = url.expect("the queue made again exists").queue_url().unwrap().to_string();
    assert_eq!(name_of(&url), name_of(&again.physical_id));
    assert_eq!(live_attrs(&sqs, &url).await[&A::VisibilityTimeout], "45");
    let tags = sqs.list_queue_tags().queue_url(&url).send().await.unwrap().tags().cloned().unwrap_or_default();
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    let notes = notes.lock().unwrap().clone();
    assert!(notes.iter().any(|n| n.contains("is being deleted; creating it anew")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains("waiting to re-use the queue name")), "{notes:?}");
    kind.delete(&cx, &again.physical_id, &desired).await.unwrap();
}

fn name_of(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = QueueProps { name: Some("q".into()), ..QueueProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"name": "q", "fifo": false}));
}
