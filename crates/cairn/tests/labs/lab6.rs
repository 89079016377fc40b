//! Lab 6: an SQS queue with a dead-letter queue triggers a Lambda function
//! through an event source mapping; the role may read that queue only.

use crate::harness::{self, Deployed, R};
use crate::lab6_example;

const FILE: &str = "lab6-sqs-lambda.yaml";

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab6_example::lab6().into(), &harness::params(&[]));
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &harness::params(&[]), check).await
}

#[tokio::test]
async fn hand_written_form_round_trips() -> R {
    harness::round_trip(harness::hand_written(FILE), &harness::params(&[]), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab6_example::lab6().into(), &harness::params(&[]), check).await
}

async fn check(d: &Deployed) -> R {
    let (jobs_arn, dlq_arn) = (d.attr("jobs", "arn"), d.attr("dead-letters", "arn"));
    let sqs = d.clients.sqs().await;
    let attrs =
        sqs.get_queue_attributes().queue_url(d.attr("jobs", "url")).attribute_names("All".into()).send().await?;
    let attrs = attrs.attributes().cloned().unwrap_or_default();
    let get = |k: &str| attrs.iter().find(|(n, _)| n.as_str() == k).map(|(_, v)| v.clone());
    assert_eq!(get("VisibilityTimeout").as_deref(), Some("60"));
    assert_eq!(get("ReceiveMessageWaitTimeSeconds").as_deref(), Some("10"));
    let redrive = harness::json(get("RedrivePolicy").as_deref());
    assert_eq!(redrive["deadLetterTargetArn"], dlq_arn.as_str());
    assert_eq!(redrive["maxReceiveCount"].to_string().trim_matches('"'), "5");
    let tags = sqs.list_queue_tags().queue_url(d.attr("jobs", "url")).send().await?;
    let tags = tags.tags().cloned().unwrap_or_default();
    assert!(harness::has_stack_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), &d.stack));

    // Least privilege: the role reads and deletes messages of this queue only
    // (one inline policy, written by hand or derived by cairn).
    let iam = d.clients.iam().await;
    let names = iam.list_role_policies().role_name(d.id("role")).send().await?;
    let [name] = names.policy_names() else { panic!("not one inline policy: {names:?}") };
    let inline = iam.get_role_policy().role_name(d.id("role")).policy_name(name).send().await?;
    let doc = harness::json(Some(inline.policy_document()));
    let statement = &doc["Statement"][0];
    assert_eq!(statement["Resource"], jobs_arn.as_str());
    assert_eq!(
        statement["Action"],
        serde_json::json!(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"])
    );

    let lambda = d.clients.lambda().await;
    let f = lambda.get_function().function_name(d.id("worker")).send().await?;
    assert_eq!(f.configuration().and_then(|c| c.timeout()), Some(30));
    let m = lambda.get_event_source_mapping().uuid(d.id("trigger")).send().await?;
    assert_eq!(m.function_arn(), Some(d.attr("worker", "arn").as_str()));
    assert_eq!(m.event_source_arn(), Some(jobs_arn.as_str()));
    assert_eq!((m.batch_size(), m.maximum_batching_window_in_seconds()), (Some(10), Some(5)));
    assert_eq!(m.state(), Some("Enabled"));
    assert!(m.function_response_types().iter().any(|t| t.as_str() == "ReportBatchItemFailures"));
    Ok(())
}
