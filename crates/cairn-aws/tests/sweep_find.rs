//! `cairn_aws::sweep::find` against the emulator: one resource of each kind
//! it covers, made through the kinds' own `create` (so that the physical
//! ids compared are the ones cairn records), under one stack, plus one of
//! another stack and untagged ones that must not be found.

#![cfg(all(
    feature = "sqs",
    feature = "sns",
    feature = "events",
    feature = "cloudtrail",
    feature = "logs",
    feature = "cloudwatch",
    feature = "s3",
    feature = "ssm",
    feature = "lambda",
    feature = "iam",
    feature = "ec2"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::{InstanceType, ResourceType, Tag, TagSpecification};
use cairn_aws::sweep::{Found, find};
use cairn_engine::kind::{OpCtx, TAG_RESOURCE, TAG_STACK};
use cairn_testkit::emulator::{op_ctx, unique_stack};
use serde_json::{Value, json};

const AMI: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

/// Creates `id` of `kind` in `stack` through the kind; returns what `create`
/// returned: the physical id and the attributes.
async fn create(
    provider: &cairn_aws::AwsProvider,
    kind: &str,
    stack: &str,
    id: &str,
    props: Value,
) -> (String, serde_json::Map<String, Value>) {
    let k = common::kind(provider, kind);
    let cx: OpCtx = op_ctx(stack, id);
    let desired = common::checked(&*k, stack, id, props);
    let created = k.create(&cx, &desired).await.unwrap_or_else(|e| panic!("creating {kind} {id}: {e}"));
    (created.physical_id, created.attrs.into_iter().collect())
}

/// EC2 instances, run directly (the instance kind waits for them to run),
/// tagged as `id` of `stack`.
async fn instance(ec2: &aws_sdk_ec2::Client, ami: &str, stack: &str, id: &str) -> String {
    let tagging = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key(TAG_STACK).value(stack).build())
        .tags(Tag::builder().key(TAG_RESOURCE).value(id).build())
        .build();
    let out = ec2
        .run_instances()
        .image_id(ami)
        .instance_type(InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(tagging)
        .send()
        .await
        .unwrap();
    out.instances()[0].instance_id().unwrap().to_string()
}

fn ids(found: &[Found]) -> BTreeSet<(String, String)> {
    found.iter().map(|f| (f.kind.to_string(), f.physical_id.clone())).collect()
}

fn pair(kind: &str, id: &str) -> (String, String) {
    (kind.to_string(), id.to_string())
}

/// Every kind's resource of the stack is found with the physical id its
/// `create` returned, and nothing else; without a stack, other stacks'
/// are found too, untagged ones never.
#[tokio::test]
async fn finds_each_kind_by_its_stack_tag() {
    let provider = common::provider();
    let clients = provider.clients();
    let stack = unique_stack("sweep");
    let other = unique_stack("sweepother");
    let mut want = BTreeSet::new();

    let (queue, attrs) = create(&provider, "aws:sqs:Queue", &stack, "q", json!({})).await;
    let queue_arn = attrs["arn"].as_str().unwrap().to_string();
    want.insert(pair("aws:sqs:Queue", &queue));
    let (topic, _) = create(&provider, "aws:sns:Topic", &stack, "t", json!({})).await;
    want.insert(pair("aws:sns:Topic", &topic));
    let (rule, _) = create(&provider, "aws:events:Rule", &stack, "r", json!({"schedule": "rate(5 minutes)"})).await;
    want.insert(pair("aws:events:Rule", &rule));
    let (bucket, _) = create(&provider, "aws:s3:Bucket", &stack, "logs", json!({})).await;
    want.insert(pair("aws:s3:Bucket", &bucket));
    let (trail, _) = create(&provider, "aws:cloudtrail:Trail", &stack, "trail", json!({"bucket": bucket})).await;
    want.insert(pair("aws:cloudtrail:Trail", &trail));
    let (group, _) = create(&provider, "aws:logs:LogGroup", &stack, "lg", json!({})).await;
    want.insert(pair("aws:logs:LogGroup", &group));
    let alarm_props = json!({
        "metric": {"namespace": "Sweep", "name": "Errors", "statistic": "Sum", "period": 300},
        "comparison": "GreaterThanOrEqualToThreshold",
        "threshold": 1.0
    });
    let (alarm, _) = create(&provider, "aws:cloudwatch:Alarm", &stack, "alarm", alarm_props).await;
    want.insert(pair("aws:cloudwatch:Alarm", &alarm));
    // A path name (the default) and a flat one, which its ARN alone cannot
    // tell from `/name`.
    let (param, _) = create(&provider, "aws:ssm:Parameter", &stack, "param", json!({"value": "v"})).await;
    assert!(param.starts_with('/'), "{param}");
    want.insert(pair("aws:ssm:Parameter", &param));
    let flat_name = format!("{stack}-flat");
    let (flat, _) =
        create(&provider, "aws:ssm:Parameter", &stack, "flat", json!({"name": flat_name, "value": "v"})).await;
    assert_eq!(flat, flat_name);
    want.insert(pair("aws:ssm:Parameter", &flat));
    let (role, attrs) =
        create(&provider, "aws:iam:Role", &stack, "role", json!({"trusted_by": ["lambda.amazonaws.com"]})).await;
    let role_arn = attrs["arn"].as_str().unwrap().to_string();
    want.insert(pair("aws:iam:Role", &role));
    let (profile, _) = create(&provider, "aws:iam:InstanceProfile", &stack, "profile", json!({"role": role})).await;
    want.insert(pair("aws:iam:InstanceProfile", &profile));
    let function_props = json!({
        "runtime": "python3.12", "handler": "index.handler", "role": role_arn,
        "code": {"inline": "def handler(event, context):\n    return 'hi'\n"}
    });
    let (function, _) = create(&provider, "aws:lambda:Function", &stack, "fn", function_props).await;
    want.insert(pair("aws:lambda:Function", &function));
    let mapping_props = json!({"function": function, "source": queue_arn});
    let (mapping, _) = create(&provider, "aws:lambda:EventSourceMapping", &stack, "map", mapping_props).await;
    want.insert(pair("aws:lambda:EventSourceMapping", &mapping));
    let (group_id, _) = create(&provider, "aws:ec2:SecurityGroup", &stack, "sg", json!({})).await;
    want.insert(pair("aws:ec2:SecurityGroup", &group_id));

    let ec2 = clients.ec2().await;
    let ami = clients.ssm().await.get_parameter().name(AMI).send().await.unwrap();
    let ami = ami.parameter().unwrap().value().unwrap().to_string();
    let host = instance(ec2, &ami, &stack, "host").await;
    want.insert(pair("aws:ec2:Instance", &host));
    // Terminated: gone, though EC2 still lists it, tags and all.
    let gone = instance(ec2, &ami, &stack, "gone").await;
    ec2.terminate_instances().instance_ids(&gone).send().await.unwrap();

    // Another stack's, and untagged ones.
    let (other_queue, _) = create(&provider, "aws:sqs:Queue", &other, "q", json!({})).await;
    let (other_role, _) =
        create(&provider, "aws:iam:Role", &other, "role", json!({"trusted_by": ["lambda.amazonaws.com"]})).await;
    let sqs = clients.sqs().await;
    let untagged_queue = sqs
        .create_queue()
        .queue_name(format!("{stack}-untagged"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let untagged_topic = clients
        .sns()
        .await
        .create_topic()
        .name(format!("{stack}-untagged"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();

    let found = find(&clients, std::slice::from_ref(&stack), true).await.unwrap();
    assert_eq!(ids(&found), want, "found for {stack}: {found:#?}");
    assert_eq!(found.len(), want.len(), "no duplicates: {found:#?}");
    for f in &found {
        assert_eq!(f.tags.get(TAG_STACK).map(String::as_str), Some(stack.as_str()), "{f:?}");
        assert!(f.tags.contains_key(TAG_RESOURCE), "{f:?}");
        assert!(f.arn.starts_with("arn:aws:"), "{f:?}");
    }
    let arn_of = |kind: &str| found.iter().find(|f| f.kind == kind).unwrap().arn.clone();
    assert_eq!(arn_of("aws:sqs:Queue"), queue_arn);
    assert_eq!(arn_of("aws:iam:Role"), role_arn);

    let all = ids(&find(&clients, &[], true).await.unwrap());
    assert!(all.is_superset(&want), "find(None) misses some of {stack}'s: {:?}", want.difference(&all));
    assert!(all.contains(&pair("aws:sqs:Queue", &other_queue)), "find(None) misses {other}'s queue");
    assert!(all.contains(&pair("aws:iam:Role", &other_role)), "find(None) misses {other}'s role");
    assert!(!all.contains(&pair("aws:sqs:Queue", &untagged_queue)), "found an untagged queue");
    assert!(!all.contains(&pair("aws:sns:Topic", &untagged_topic)), "found an untagged topic");
    assert!(!all.contains(&pair("aws:ec2:Instance", &gone)), "found a terminated instance");

    let theirs = ids(&find(&clients, std::slice::from_ref(&other), true).await.unwrap());
    let expected = BTreeSet::from([pair("aws:sqs:Queue", &other_queue), pair("aws:iam:Role", &other_role)]);
    assert_eq!(theirs, expected);
}
