//! Lab 4: a Lambda function with inline source, its role and its log group.

use crate::harness::{self, Deployed, R};
use crate::lab4_example;

const FILE: &str = "lab4-simple-lambda.yaml";

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab4_example::lab4().into(), &harness::params(&[]));
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &harness::params(&[]), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab4_example::lab4().into(), &harness::params(&[]), check).await
}

async fn check(d: &Deployed) -> R {
    let name = d.id("hello");
    assert_eq!(name, format!("{}-hello", d.stack));
    let lambda = d.clients.lambda().await;
    let f = lambda.get_function().function_name(name).send().await?;
    let c = f.configuration().ok_or("GetFunction has no configuration")?;
    assert_eq!(c.runtime().map(|r| r.as_str()), Some("python3.13"));
    assert_eq!(c.handler(), Some("index.handler"));
    assert_eq!((c.memory_size(), c.timeout()), (Some(128), Some(10)));
    assert_eq!(c.role(), Some(d.attr("role", "arn").as_str()));
    let env = c.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    assert_eq!(env.get("GREETING").map(String::as_str), Some("Hello"));
    let tags = f.tags().cloned().unwrap_or_default();
    assert!(harness::has_stack_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), &d.stack));

    // The function's log group is the stack's, with the retention asked for.
    let logs = d.clients.logs().await;
    let group_name = format!("/aws/lambda/{name}");
    assert_eq!(d.id("hello-logs"), group_name);
    assert!(d.state.resources["hello-logs"].derived, "the log group is derived from the function");
    let groups = logs.describe_log_groups().log_group_name_prefix(&group_name).send().await?;
    let group = groups.log_groups().first().ok_or("no log group")?;
    assert_eq!(group.retention_in_days(), Some(7));
    let tags = logs.list_tags_for_resource().resource_arn(d.attr("hello-logs", "arn")).send().await?;
    let tags = tags.tags().cloned().unwrap_or_default();
    assert!(harness::has_stack_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), &d.stack));

    // The role is Lambda's, with the basic execution policy.
    let iam = d.clients.iam().await;
    let role = iam.get_role().role_name(d.id("role")).send().await?;
    let trust = harness::json(role.role().and_then(|r| r.assume_role_policy_document()));
    assert_eq!(trust["Statement"][0]["Principal"]["Service"], serde_json::json!(["lambda.amazonaws.com"]));
    let attached = iam.list_attached_role_policies().role_name(d.id("role")).send().await?;
    let arns: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(arns, vec!["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]);
    Ok(())
}
