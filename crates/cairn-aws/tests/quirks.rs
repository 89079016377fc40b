//! AWS behaviour the emulator lacks, replayed by the fault proxy's scripted
//! faults (TESTING.md layer 6), one test per quirk of KINDS.md:
//!
//! - eventual consistency: each error AWS answers while a fresh role, bucket
//!   policy or queue name is not usable yet, or while a function or mapping
//!   is busy, is waited out with no user action, and each wait is reported
//!   through `OpCtx::notify`; a wait that runs out fails with AWS's own
//!   message and what cairn waited for;
//! - lost answers to creates: the request reaches AWS, the answer does not,
//!   the SDK sends it again and meets "already exists" (or, for a mapping on
//!   the emulator, makes a second one); the kind adopts what its first try
//!   made when its ownership tags say so, and only then.
//!
//! Kinds are called through a provider whose endpoint is the proxy, with the
//! default waits (the first retry comes after 200 ms, so a few scripted
//! failures cost about a second), except where a test shortens a bound.
//! What the tests need around the kind under test is made, checked and
//! removed straight on the emulator.

#![cfg(all(
    feature = "lambda",
    feature = "iam",
    feature = "sqs",
    feature = "cloudtrail",
    feature = "s3",
    feature = "logs"
))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_aws::{AwsOptions, AwsProvider, Clients, Waits};
use cairn_engine::kind::{Kind, Live, NameCtx, OpCtx, OpError, Provider, TAG_RESOURCE, TAG_STACK};
use cairn_testkit::emulator::{self, op_ctx, unique_stack};
use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted, injected};
use serde_json::{Value, json};

const ROLE: &str = "aws:iam:Role";
const FUNCTION: &str = "aws:lambda:Function";
const MAPPING: &str = "aws:lambda:EventSourceMapping";
const PERMISSION: &str = "aws:lambda:Permission";
const TRAIL: &str = "aws:cloudtrail:Trail";
const BUCKET: &str = "aws:s3:Bucket";
const LOG_GROUP: &str = "aws:logs:LogGroup";
const QUEUE: &str = "aws:sqs:Queue";

const CANNOT_BE_ASSUMED: &str = "The role defined for the function cannot be assumed by Lambda.";
const UPDATE_IN_PROGRESS: &str =
    "The operation cannot be performed at this time. An update is in progress for resource: the function";

/// A stack name, a proxy in front of the emulator, a provider through it
/// (what is under test) and one straight to the emulator (set-up and
/// checks), and the waits the kinds reported.
struct Rig {
    stack: String,
    proxy: Proxy,
    via: AwsProvider,
    direct: AwsProvider,
    /// The direct provider's SDK clients.
    aws: Arc<Clients>,
    notes: Arc<Mutex<Vec<String>>>,
}

impl Rig {
    async fn new(prefix: &str) -> Rig {
        Rig::with_waits(prefix, Waits::default()).await
    }

    async fn with_waits(prefix: &str, waits: Waits) -> Rig {
        let upstream = emulator::endpoint();
        let proxy = Proxy::start(&upstream).await.unwrap();
        let via = AwsProvider::new(AwsOptions { endpoint_url: Some(proxy.url()), waits, ..AwsOptions::default() });
        let direct = AwsProvider::new(AwsOptions::default());
        let aws = direct.clients();
        Rig { stack: unique_stack(prefix), proxy, via, direct, aws, notes: Arc::default() }
    }

    /// The engine's context for resource `id`, its waits recorded.
    fn cx(&self, id: &str) -> OpCtx {
        let mut cx = op_ctx(&self.stack, id);
        let notes = Arc::clone(&self.notes);
        cx.notify = Arc::new(move |m: &str| notes.lock().unwrap().push(m.to_string()));
        cx
    }

    fn kind(&self, type_name: &str) -> Arc<dyn Kind> {
        kind(&self.via, type_name)
    }

    /// The canonical props of resource `id`, as the engine computes them.
    fn props(&self, type_name: &str, id: &str, props: Value) -> Value {
        let cx = NameCtx { stack: &self.stack, id, base_dir: std::path::Path::new("") };
        match self.kind(type_name).check(&props, &cx) {
            Ok(v) => v,
            Err(errors) => panic!("{type_name} props do not check: {errors:?}"),
        }
    }

    /// Creates resource `id` straight on the emulator, as the engine would.
    async fn make(&self, type_name: &str, id: &str, props: Value) -> (Live, Value) {
        let props = self.props(type_name, id, props);
        let live = kind(&self.direct, type_name).create(&op_ctx(&self.stack, id), &props).await.unwrap();
        (live, props)
    }

    /// Deletes resources made for the test, straight on the emulator.
    async fn remove(&self, made: &[(&str, &str, &Live, &Value)]) {
        for (type_name, id, live, props) in made {
            let kind = kind(&self.direct, type_name);
            kind.delete(&op_ctx(&self.stack, id), &live.physical_id, props).await.unwrap();
        }
    }

    /// From now on, the proxy answers per `scripted` (and nothing else).
    fn script(&self, scripted: Vec<Scripted>) {
        self.proxy.set(Faults::scripted(scripted));
        self.proxy.reset_stats();
        self.notes.lock().unwrap().clear();
    }

    fn calls(&self, operation: &str) -> u64 {
        self.proxy.stats().calls(operation)
    }

    fn scripted(&self) -> u64 {
        self.proxy.stats().injected(injected::SCRIPTED)
    }

    /// The reported waits that contain `text`.
    fn notes_with(&self, text: &str) -> Vec<String> {
        self.notes.lock().unwrap().iter().filter(|n| n.contains(text)).cloned().collect()
    }

    /// A role that `service` may assume.
    async fn role(&self, id: &str, service: &str) -> (Live, Value) {
        self.make(ROLE, id, json!({"trusted_by": [service]})).await
    }
}

/// An inline policy for a role.
fn send_policy() -> Value {
    json!({"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]})
}

fn kind(provider: &AwsProvider, type_name: &str) -> Arc<dyn Kind> {
    Arc::clone(provider.registry().get(type_name).expect("kind is registered"))
}

/// A Python function's props, with this role and source.
fn function(role: &Live, source: &str) -> Value {
    json!({"runtime": "python3.13", "handler": "index.handler", "role": role.attrs["arn"], "code": {"inline": source}})
}

const SOURCE: &str = "def handler(event, context):\n    return 1\n";

fn ours(tags: &BTreeMap<String, String>, stack: &str, id: &str) -> bool {
    tags.get(TAG_STACK).map(String::as_str) == Some(stack) && tags.get(TAG_RESOURCE).map(String::as_str) == Some(id)
}

async fn function_tags(rig: &Rig, arn: &str) -> BTreeMap<String, String> {
    let out = rig.aws.lambda().await.list_tags().resource(arn).send().await.unwrap();
    out.tags().cloned().unwrap_or_default().into_iter().collect()
}

// ---- eventual consistency -----------------------------------------------------------

/// IAM propagation: Lambda refuses a fresh role ("cannot be assumed") for a
/// while; CreateFunction is tried again until it takes it.
#[tokio::test]
async fn lambda_create_waits_for_a_fresh_role() {
    let rig = Rig::new("q-fnrole").await;
    let (role, role_props) = rig.role("role", "lambda.amazonaws.com").await;
    rig.script(vec![Scripted::error(
        "lambda:CreateFunction",
        3,
        400,
        "InvalidParameterValueException",
        CANNOT_BE_ASSUMED,
    )]);

    let props = rig.props(FUNCTION, "worker", function(&role, SOURCE));
    let created = rig.kind(FUNCTION).create(&rig.cx("worker"), &props).await.unwrap();

    assert_eq!((rig.calls("lambda:CreateFunction"), rig.scripted()), (4, 3));
    let waits = rig.notes_with("waiting for the IAM role to propagate");
    assert_eq!(waits.len(), 3, "{:?}", rig.notes);
    assert!(waits[0].contains(CANNOT_BE_ASSUMED), "{waits:?}");
    let lambda = rig.aws.lambda().await;
    let live = lambda.get_function().function_name(&created.physical_id).send().await.unwrap();
    assert_eq!(live.configuration().and_then(|c| c.role()), role.attrs["arn"].as_str());
    rig.remove(&[(FUNCTION, "worker", &created, &props), (ROLE, "role", &role, &role_props)]).await;
}

/// A bucket's settings are sent together after its create, and S3 may
/// refuse one while another is under way (`OperationAborted`, 409): it is
/// sent again until S3 takes it, and the bucket ends up as asked.
#[tokio::test]
async fn bucket_settings_sent_together_wait_out_operation_aborted() {
    let rig = Rig::new("q-s3busy").await;
    let conflict =
        "A conflicting conditional operation is currently in progress against this resource. Please try again.";
    rig.script(vec![Scripted::error("s3:PutBucketEncryption", 2, 409, "OperationAborted", conflict)]);
    let props = rig.props(BUCKET, "logs", json!({"force_destroy": true, "versioning": true}));

    let created = rig.kind(BUCKET).create(&rig.cx("logs"), &props).await.unwrap();

    assert_eq!((rig.calls("s3:PutBucketEncryption"), rig.scripted()), (3, 2));
    let waits = rig.notes_with("waiting for S3 to finish another change to the bucket");
    assert_eq!(waits.len(), 2, "{:?}", rig.notes);
    let direct = kind(&rig.direct, BUCKET);
    let read = direct.read(&op_ctx(&rig.stack, "logs"), &created.physical_id, &props).await.unwrap().unwrap();
    assert_eq!(read.props, props);
    rig.remove(&[(BUCKET, "logs", &created, &props)]).await;
}

/// S3 may answer `NoSuchBucket` for a moment to calls on a bucket it has
/// just created: a create's follow-up calls wait it out.
#[tokio::test]
async fn bucket_settings_right_after_the_create_wait_out_no_such_bucket() {
    let rig = Rig::new("q-s3new").await;
    let missing = "The specified bucket does not exist";
    rig.script(vec![
        Scripted::error("s3:PutBucketTagging", 2, 404, "NoSuchBucket", missing),
        Scripted::error("s3:PutPublicAccessBlock", 1, 404, "NoSuchBucket", missing),
    ]);
    let props = rig.props(BUCKET, "logs", json!({"force_destroy": true}));

    let created = rig.kind(BUCKET).create(&rig.cx("logs"), &props).await.unwrap();

    assert_eq!((rig.calls("s3:PutBucketTagging"), rig.calls("s3:PutPublicAccessBlock"), rig.scripted()), (3, 2, 3));
    let waits = rig.notes_with("waiting for S3 to finish creating the bucket");
    assert_eq!(waits.len(), 3, "{:?}", rig.notes);
    assert!(waits[0].contains(missing), "{waits:?}");
    let direct = kind(&rig.direct, BUCKET);
    let read = direct.read(&op_ctx(&rig.stack, "logs"), &created.physical_id, &props).await.unwrap().unwrap();
    assert_eq!(read.props, props);
    let s3 = rig.aws.s3().await;
    let tags = s3.get_bucket_tagging().bucket(&created.physical_id).send().await.unwrap();
    let tags = tags.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert!(ours(&tags, &rig.stack, "logs"), "{tags:?}");

    // On a bucket made earlier, `NoSuchBucket` means what it says.
    rig.script(vec![Scripted::error("s3:PutBucketVersioning", 1, 404, "NoSuchBucket", missing)]);
    let versioned = rig.props(BUCKET, "logs", json!({"force_destroy": true, "versioning": true}));
    let err = rig.kind(BUCKET).update(&rig.cx("logs"), &created.physical_id, &props, &versioned).await.unwrap_err();
    assert!(err.to_string().contains("NoSuchBucket"), "{err}");
    assert_eq!(rig.calls("s3:PutBucketVersioning"), 1);
    rig.remove(&[(BUCKET, "logs", &created, &props)]).await;
}

/// What CloudTrail writes to its bucket, under `AWSLogs/<account>/`: the
/// test object, a log file and a digest file.
fn cloudtrail_keys() -> Vec<String> {
    let account = emulator::ACCOUNT_ID;
    vec![
        format!("AWSLogs/{account}/"),
        format!(
            "AWSLogs/{account}/CloudTrail/us-east-1/2025/01/02/{account}_CloudTrail_us-east-1_20250102T0305Z_a1b2.json.gz"
        ),
        format!(
            "AWSLogs/{account}/CloudTrail-Digest/us-east-1/2025/01/02/{account}_CloudTrail-Digest_us-east-1_trail_us-east-1_20250102T0305Z.json.gz"
        ),
    ]
}

/// A bucket holding `keys`, made straight on the emulator with these props.
async fn bucket_holding(rig: &Rig, props: Value, keys: &[String]) -> (Live, Value) {
    let (bucket, props) = rig.make(BUCKET, "logs", props).await;
    let s3 = rig.aws.s3().await;
    for key in keys {
        let body = aws_sdk_s3::primitives::ByteStream::from_static(b"{}");
        s3.put_object().bucket(&bucket.physical_id).key(key).body(body).send().await.unwrap();
    }
    (bucket, props)
}

async fn keys_in(rig: &Rig, bucket: &str) -> Vec<String> {
    let s3 = rig.aws.s3().await;
    let out = s3.list_object_versions().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = out.versions().iter().filter_map(|v| v.key().map(ToString::to_string)).collect();
    keys.sort();
    keys
}

async fn bucket_exists(rig: &Rig, bucket: &str) -> bool {
    rig.aws.s3().await.head_bucket().bucket(bucket).send().await.is_ok()
}

/// A bucket that holds only what CloudTrail delivered to it is emptied and
/// deleted on destroy, without `force_destroy`: a trail's bucket would
/// otherwise never go away with its stack.
#[tokio::test]
async fn a_bucket_holding_only_cloudtrail_logs_is_emptied_on_delete() {
    let rig = Rig::new("q-s3trail").await;
    let (bucket, props) = bucket_holding(&rig, json!({"versioning": true}), &cloudtrail_keys()).await;
    rig.script(Vec::new());

    rig.kind(BUCKET).delete(&rig.cx("logs"), &bucket.physical_id, &props).await.unwrap();

    assert!(!bucket_exists(&rig, &bucket.physical_id).await, "the bucket is gone");
}

/// Any object CloudTrail did not write stops the delete, nothing is
/// deleted, and the message names one such object.
#[tokio::test]
async fn a_bucket_holding_other_objects_is_not_emptied_without_force_destroy() {
    let rig = Rig::new("q-s3mixed").await;
    let mut keys = cloudtrail_keys();
    keys.push("exports/report.csv".to_string());
    // Under AWSLogs/, but not this account's CloudTrail files.
    keys.push(format!("AWSLogs/{}/elasticloadbalancing/x.log", emulator::ACCOUNT_ID));
    let (bucket, props) = bucket_holding(&rig, json!({}), &keys).await;
    rig.script(Vec::new());

    let err = rig.kind(BUCKET).delete(&rig.cx("logs"), &bucket.physical_id, &props).await.unwrap_err().to_string();

    assert!(err.starts_with(&format!("deleting S3 bucket {}: ", bucket.physical_id)), "{err}");
    assert!(err.contains("force_destroy"), "{err}");
    // The first such key in S3's (lexicographic) listing order.
    let first = format!("`AWSLogs/{}/elasticloadbalancing/x.log`", emulator::ACCOUNT_ID);
    assert!(err.contains(&first), "names an object CloudTrail did not write: {err}");
    keys.sort();
    assert_eq!(keys_in(&rig, &bucket.physical_id).await, keys, "nothing was deleted");
    let forced = rig.props(BUCKET, "logs", json!({"force_destroy": true}));
    rig.remove(&[(BUCKET, "logs", &bucket, &forced)]).await;
}

/// CloudTrail may still deliver a log file after its trail is stopped or
/// deleted, so the bucket emptied a moment ago is not empty again: it is
/// emptied again and its delete tried again.
#[tokio::test]
async fn a_bucket_filled_again_while_being_deleted_is_emptied_again() {
    let rig = Rig::new("q-s3late").await;
    let (bucket, props) = bucket_holding(&rig, json!({"force_destroy": true}), &cloudtrail_keys()).await;
    let not_empty = "The bucket you tried to delete is not empty";
    // The first answer is true (objects are there); the second comes after
    // the emptying, as if a late delivery had landed.
    rig.script(vec![Scripted::error("s3:DeleteBucket", 2, 409, "BucketNotEmpty", not_empty)]);

    rig.kind(BUCKET).delete(&rig.cx("logs"), &bucket.physical_id, &props).await.unwrap();

    assert_eq!((rig.calls("s3:DeleteBucket"), rig.scripted()), (3, 2));
    let waits = rig.notes_with("emptying it again");
    assert_eq!(waits.len(), 1, "{:?}", rig.notes);
    assert!(!bucket_exists(&rig, &bucket.physical_id).await, "the bucket is gone");
}

/// A role's policies and tags are sent together, and IAM may refuse one
/// while another change to the role is under way (`ConcurrentModification`):
/// it is sent again, on create and on delete alike.
#[tokio::test]
async fn role_changes_sent_together_wait_out_concurrent_modification() {
    let rig = Rig::new("q-iambusy").await;
    let busy = "Rate exceeded for concurrent modifications of the role.";
    let props = rig.props(
        ROLE,
        "role",
        json!({"trusted_by": ["lambda.amazonaws.com"], "inline_policies": {"send": send_policy()},
               "managed_policies": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]}),
    );
    rig.script(vec![
        Scripted::error("iam:PutRolePolicy", 1, 409, "ConcurrentModification", busy),
        Scripted::error("iam:AttachRolePolicy", 1, 409, "ConcurrentModification", busy),
    ]);

    let created = rig.kind(ROLE).create(&rig.cx("role"), &props).await.unwrap();

    assert_eq!((rig.calls("iam:PutRolePolicy"), rig.calls("iam:AttachRolePolicy"), rig.scripted()), (2, 2, 2));
    assert_eq!(rig.notes_with("waiting for IAM to finish another change to the role").len(), 2, "{:?}", rig.notes);
    let read = kind(&rig.direct, ROLE).read(&op_ctx(&rig.stack, "role"), &created.physical_id, &props).await.unwrap();
    assert_eq!(read.unwrap().props, props);

    rig.script(vec![Scripted::error("iam:DetachRolePolicy", 1, 409, "ConcurrentModification", busy)]);
    rig.kind(ROLE).delete(&rig.cx("role"), &created.physical_id, &props).await.unwrap();
    assert_eq!(rig.calls("iam:DetachRolePolicy"), 2);
    assert_eq!(rig.calls("iam:DeleteRole"), 1);
}

/// Lambda updates are asynchronous: a code or configuration update while an
/// earlier one runs meets `ResourceConflictException`, and is tried again.
#[tokio::test]
async fn lambda_updates_wait_out_conflicts() {
    let rig = Rig::new("q-fnbusy").await;
    let (role, role_props) = rig.role("role", "lambda.amazonaws.com").await;
    let (created, old) = rig.make(FUNCTION, "worker", function(&role, SOURCE)).await;
    let mut new = function(&role, "def handler(event, context):\n    return 2\n");
    new["memory"] = json!(256);
    let new = rig.props(FUNCTION, "worker", new);
    rig.script(vec![
        Scripted::error("lambda:UpdateFunctionCode", 2, 409, "ResourceConflictException", UPDATE_IN_PROGRESS),
        Scripted::error("lambda:UpdateFunctionConfiguration", 2, 409, "ResourceConflictException", UPDATE_IN_PROGRESS),
    ]);

    rig.kind(FUNCTION).update(&rig.cx("worker"), &created.physical_id, &old, &new).await.unwrap();

    assert_eq!(rig.calls("lambda:UpdateFunctionCode"), 3);
    assert_eq!(rig.calls("lambda:UpdateFunctionConfiguration"), 3);
    let waits = rig.notes_with("waiting for an earlier change to the function to finish");
    assert_eq!(waits.len(), 4, "{:?}", rig.notes);
    let lambda = rig.aws.lambda().await;
    let live = lambda.get_function_configuration().function_name(&created.physical_id).send().await.unwrap();
    assert_eq!((live.memory_size(), live.code_sha256()), (Some(256), new["code_sha256"].as_str()));
    rig.remove(&[(FUNCTION, "worker", &created, &new), (ROLE, "role", &role, &role_props)]).await;
}

/// A trail delivering to CloudWatch Logs, created while CloudTrail answers
/// `code` twice: the wait is reported as `why`.
async fn trail_waits_out(prefix: &str, code: &str, message: &str, why: &str) {
    let rig = Rig::new(prefix).await;
    let (bucket, bucket_props) = rig.make(BUCKET, "logs", json!({"force_destroy": true})).await;
    let (group, group_props) = rig.make(LOG_GROUP, "events", json!({})).await;
    let (role, role_props) = rig.role("delivery", "cloudtrail.amazonaws.com").await;
    rig.script(vec![Scripted::error("cloudtrail:CreateTrail", 2, 400, code, message)]);

    let props = rig.props(
        TRAIL,
        "trail",
        json!({"bucket": bucket.physical_id,
               "cloudwatch_logs": {"log_group": group.attrs["arn"], "role": role.attrs["arn"]}}),
    );
    let created = rig.kind(TRAIL).create(&rig.cx("trail"), &props).await.unwrap();

    assert_eq!((rig.calls("cloudtrail:CreateTrail"), rig.scripted()), (3, 2));
    let waits = rig.notes_with(why);
    assert_eq!(waits.len(), 2, "{:?}", rig.notes);
    assert!(waits[0].contains(message), "{waits:?}");
    let cloudtrail = rig.aws.cloudtrail().await;
    let trail = cloudtrail.get_trail().name(&created.physical_id).send().await.unwrap();
    let trail = trail.trail().unwrap();
    assert_eq!(trail.s3_bucket_name(), Some(bucket.physical_id.as_str()));
    assert_eq!(trail.cloud_watch_logs_role_arn(), role.attrs["arn"].as_str());
    rig.remove(&[
        (TRAIL, "trail", &created, &props),
        (ROLE, "delivery", &role, &role_props),
        (LOG_GROUP, "events", &group, &group_props),
        (BUCKET, "logs", &bucket, &bucket_props),
    ])
    .await;
}

/// IAM propagation: CloudTrail refuses a fresh role for its log group.
#[tokio::test]
async fn trail_create_waits_for_the_logs_role() {
    trail_waits_out(
        "q-trailrole",
        "InvalidCloudWatchLogsRoleArnException",
        "Access denied. Verify in IAM that the role has adequate permissions.",
        "waiting for IAM to propagate the CloudWatch Logs role",
    )
    .await;
}

/// IAM propagation of a fresh role's inline policy: CloudTrail cannot yet
/// write to the log group as the role, and says the group's ARN is invalid.
#[tokio::test]
async fn trail_create_waits_for_the_logs_role_policy() {
    trail_waits_out(
        "q-trailgrp",
        "InvalidCloudWatchLogsLogGroupArnException",
        "Access denied. Check the permissions for your role.",
        "waiting for IAM to propagate the CloudWatch Logs role",
    )
    .await;
}

/// A log group ARN CloudTrail refuses for another reason is really wrong:
/// no wait.
#[tokio::test]
async fn trail_create_fails_at_once_on_a_wrong_log_group_arn() {
    let rig = Rig::new("q-trailbadgrp").await;
    let (bucket, bucket_props) = rig.make(BUCKET, "logs", json!({"force_destroy": true})).await;
    let (group, group_props) = rig.make(LOG_GROUP, "events", json!({})).await;
    let (role, role_props) = rig.role("delivery", "cloudtrail.amazonaws.com").await;
    let wrong = "CloudWatch Logs log group ARN is not valid.";
    rig.script(vec![Scripted::error(
        "cloudtrail:CreateTrail",
        5,
        400,
        "InvalidCloudWatchLogsLogGroupArnException",
        wrong,
    )]);

    let props = rig.props(
        TRAIL,
        "trail",
        json!({"bucket": bucket.physical_id,
               "cloudwatch_logs": {"log_group": group.attrs["arn"], "role": role.attrs["arn"]}}),
    );
    let err = rig.kind(TRAIL).create(&rig.cx("trail"), &props).await.unwrap_err().to_string();

    assert!(err.contains(&format!("InvalidCloudWatchLogsLogGroupArnException: {wrong}")), "{err}");
    assert_eq!(rig.calls("cloudtrail:CreateTrail"), 1);
    assert_eq!(rig.notes_with("waiting"), Vec::<String>::new());
    rig.remove(&[
        (ROLE, "delivery", &role, &role_props),
        (LOG_GROUP, "events", &group, &group_props),
        (BUCKET, "logs", &bucket, &bucket_props),
    ])
    .await;
}

/// A bucket policy written moments ago is not yet seen by CloudTrail.
#[tokio::test]
async fn trail_create_waits_for_the_bucket_policy() {
    trail_waits_out(
        "q-trailpol",
        "InsufficientS3BucketPolicyException",
        "Incorrect S3 bucket policy is detected for bucket: the trail's",
        "waiting for the bucket policy to allow CloudTrail",
    )
    .await;
}

/// A queue name is refused for 60 s after its queue's deletion (a replace).
#[tokio::test]
async fn queue_create_waits_for_a_recently_deleted_name() {
    let rig = Rig::new("q-queue").await;
    let message = "You must wait 60 seconds after deleting a queue before you can create another with the same name.";
    rig.script(vec![Scripted::error(
        "sqs:CreateQueue",
        2,
        400,
        "AWS.SimpleQueueService.QueueDeletedRecently",
        message,
    )]);

    let props = rig.props(QUEUE, "jobs", json!({}));
    let created = rig.kind(QUEUE).create(&rig.cx("jobs"), &props).await.unwrap();

    assert_eq!((rig.calls("sqs:CreateQueue"), rig.scripted()), (3, 2));
    let waits = rig.notes_with("waiting to re-use the queue name");
    assert_eq!(waits.len(), 2, "{:?}", rig.notes);
    assert!(waits[0].contains(message), "{waits:?}");
    let sqs = rig.aws.sqs().await;
    let tags = sqs.list_queue_tags().queue_url(&created.physical_id).send().await.unwrap();
    assert!(ours(&tags.tags().cloned().unwrap_or_default().into_iter().collect(), &rig.stack, "jobs"));
    rig.remove(&[(QUEUE, "jobs", &created, &props)]).await;
}

/// What a mapping needs: a role, a function, a queue.
struct MappingSetUp {
    role: (Live, Value),
    function: (Live, Value),
    queue: (Live, Value),
}

impl MappingSetUp {
    async fn new(rig: &Rig) -> MappingSetUp {
        let role = rig.role("role", "lambda.amazonaws.com").await;
        let function = rig.make(FUNCTION, "worker", function(&role.0, SOURCE)).await;
        let queue = rig.make(QUEUE, "jobs", json!({"visibility_timeout": 60})).await;
        MappingSetUp { role, function, queue }
    }

    fn mapping(&self, rig: &Rig, batch_size: u32) -> Value {
        let (f, q) = (&self.function.0.attrs["arn"], &self.queue.0.attrs["arn"]);
        rig.props(MAPPING, "trigger", json!({"function": f, "source": q, "batch_size": batch_size}))
    }

    /// The UUIDs of the mappings of the queue and function, on the emulator.
    async fn mappings(&self, rig: &Rig) -> Vec<String> {
        let lambda = rig.aws.lambda().await;
        let out = lambda
            .list_event_source_mappings()
            .function_name(self.function.0.attrs["arn"].as_str().unwrap())
            .event_source_arn(self.queue.0.attrs["arn"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        out.event_source_mappings().iter().filter_map(|m| m.uuid().map(ToString::to_string)).collect()
    }

    async fn remove(&self, rig: &Rig) {
        rig.remove(&[
            (QUEUE, "jobs", &self.queue.0, &self.queue.1),
            (FUNCTION, "worker", &self.function.0, &self.function.1),
            (ROLE, "role", &self.role.0, &self.role.1),
        ])
        .await;
    }
}

/// A mapping being created or updated refuses other changes with
/// `ResourceInUseException` until it settles; update and delete wait.
/// (Its in-between states, `Creating`, `Updating`, `Deleting`, cannot be
/// replayed: the proxy changes no answer, and moto settles at once.)
#[tokio::test]
async fn mapping_changes_wait_while_it_is_in_use() {
    let rig = Rig::new("q-esmbusy").await;
    let set_up = MappingSetUp::new(&rig).await;
    let (mapping, old) = rig.make(MAPPING, "trigger", set_up.mapping(&rig, 10)).await;
    let in_use = "Cannot update the event source mapping because it is in use.";
    rig.script(vec![
        Scripted::error("lambda:UpdateEventSourceMapping", 2, 400, "ResourceInUseException", in_use),
        Scripted::error("lambda:DeleteEventSourceMapping", 2, 400, "ResourceInUseException", in_use),
    ]);

    let new = set_up.mapping(&rig, 5);
    let kind = rig.kind(MAPPING);
    kind.update(&rig.cx("trigger"), &mapping.physical_id, &old, &new).await.unwrap();
    let lambda = rig.aws.lambda().await;
    let live = lambda.get_event_source_mapping().uuid(&mapping.physical_id).send().await.unwrap();
    assert_eq!(live.batch_size(), Some(5));
    kind.delete(&rig.cx("trigger"), &mapping.physical_id, &new).await.unwrap();

    assert_eq!(rig.calls("lambda:UpdateEventSourceMapping"), 3);
    assert_eq!(rig.calls("lambda:DeleteEventSourceMapping"), 3);
    let waits = rig.notes_with("waiting for an earlier change to finish");
    assert_eq!(waits.len(), 4, "{:?}", rig.notes);
    assert_eq!(set_up.mappings(&rig).await, Vec::<String>::new());
    set_up.remove(&rig).await;
}

/// A wait that runs out fails with AWS's own message and what cairn waited
/// for. The bound is shortened through `AwsOptions::waits` (1 s where real
/// use waits 2 minutes), so AWS answers the same error throughout.
#[tokio::test]
async fn a_wait_that_runs_out_fails_with_the_aws_message() {
    let waits = Waits { lambda_role: Duration::from_secs(1), ..Waits::default() };
    let rig = Rig::with_waits("q-giveup", waits).await;
    let (role, role_props) = rig.role("role", "lambda.amazonaws.com").await;
    rig.script(vec![Scripted::error(
        "lambda:CreateFunction",
        1000,
        400,
        "InvalidParameterValueException",
        CANNOT_BE_ASSUMED,
    )]);

    let props = rig.props(FUNCTION, "worker", function(&role, SOURCE));
    let err = rig.kind(FUNCTION).create(&rig.cx("worker"), &props).await.unwrap_err().to_string();

    let name = format!("{}-worker", rig.stack);
    let aws = format!("creating Lambda function {name}: InvalidParameterValueException: {CANNOT_BE_ASSUMED}");
    assert!(err.starts_with(&aws), "{err}");
    assert!(err.contains("gave up after ") && err.ends_with(" of waiting for the IAM role to propagate)"), "{err}");
    // It did wait: every try but the last was reported.
    let tries = rig.calls("lambda:CreateFunction");
    assert!(tries >= 2, "{tries}");
    assert_eq!(rig.notes_with("waiting for the IAM role to propagate").len() as u64, tries - 1);
    let lambda = rig.aws.lambda().await;
    assert!(lambda.get_function().function_name(&name).send().await.is_err(), "no function was made");
    rig.remove(&[(ROLE, "role", &role, &role_props)]).await;
}

// ---- lost answers to creates ----------------------------------------------------------

/// The first call of `operation` reaches the emulator but its answer is
/// lost; the SDK's second try gets the emulator's own answer.
fn lost(operation: &str) -> Vec<Scripted> {
    vec![Scripted::new(operation, 1, Fault::LostResponse)]
}

/// As [`lost`], but the second try gets AWS's answer where the emulator's
/// differs (moto overwrites a trail, appends a second statement or mapping).
fn lost_then(operation: &str, status: u16, code: &str, message: &str) -> Vec<Scripted> {
    vec![Scripted::new(operation, 1, Fault::LostResponse), Scripted::error(operation, 1, status, code, message)]
}

/// IAM answers `EntityAlreadyExists`: the role is adopted, and its policies
/// are then put.
#[tokio::test]
async fn a_role_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-lostrole").await;
    rig.script(lost("iam:CreateRole"));
    let policy = send_policy();
    let props =
        rig.props(ROLE, "role", json!({"trusted_by": ["lambda.amazonaws.com"], "inline_policies": {"send": policy}}));

    let created = rig.kind(ROLE).create(&rig.cx("role"), &props).await.unwrap();

    assert_eq!((rig.calls("iam:CreateRole"), rig.scripted()), (2, 1));
    let iam = rig.aws.iam().await;
    let tags = iam.list_role_tags().role_name(&created.physical_id).send().await.unwrap();
    let tags = tags.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert!(ours(&tags, &rig.stack, "role"), "{tags:?}");
    let names = iam.list_role_policies().role_name(&created.physical_id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["send"]);
    rig.remove(&[(ROLE, "role", &created, &props)]).await;
}

/// The other side of adoption: a role that turns out to exist (CreateRole
/// says so; there is no look first) and is not this stack's is refused, and
/// left as it was.
#[tokio::test]
async fn a_role_that_turns_out_to_be_someone_elses_is_refused() {
    let rig = Rig::new("q-notours").await;
    let name = format!("{}-role", rig.stack);
    let iam = rig.aws.iam().await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"}}]});
    let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();
    iam.create_role()
        .role_name(&name)
        .assume_role_policy_document(trust.to_string())
        .tags(tag(TAG_STACK, "someone-else"))
        .tags(tag(TAG_RESOURCE, "role"))
        .send()
        .await
        .unwrap();
    let policy = send_policy();
    let props =
        rig.props(ROLE, "role", json!({"trusted_by": ["lambda.amazonaws.com"], "inline_policies": {"send": policy}}));

    let err = rig.kind(ROLE).create(&rig.cx("role"), &props).await.unwrap_err();

    assert!(matches!(&err, OpError::NotOwned { owner, .. } if owner.contains("someone-else")), "{err}");
    assert_eq!(rig.calls("iam:CreateRole"), 1);
    let names = iam.list_role_policies().role_name(&name).send().await.unwrap();
    assert!(names.policy_names().is_empty(), "the role was changed");
    iam.delete_role().role_name(&name).send().await.unwrap();
}

/// CloudWatch Logs answers `ResourceAlreadyExistsException`: the group is
/// adopted, and its retention then set.
#[tokio::test]
async fn a_log_group_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-lostgroup").await;
    rig.script(lost("logs:CreateLogGroup"));
    let props = rig.props(LOG_GROUP, "events", json!({"retention_days": 7}));

    let created = rig.kind(LOG_GROUP).create(&rig.cx("events"), &props).await.unwrap();

    assert_eq!(rig.calls("logs:CreateLogGroup"), 2);
    let logs = rig.aws.logs().await;
    let name = props["name"].as_str().unwrap();
    let groups = logs.describe_log_groups().log_group_name_prefix(name).send().await.unwrap();
    let retention: Vec<_> = groups.log_groups().iter().map(|g| g.retention_in_days()).collect();
    assert_eq!(retention, [Some(7)]);
    let tags = logs.list_tags_for_resource().resource_arn(created.attrs["arn"].as_str().unwrap()).send().await;
    assert!(ours(&tags.unwrap().tags().cloned().unwrap_or_default().into_iter().collect(), &rig.stack, "events"));
    rig.remove(&[(LOG_GROUP, "events", &created, &props)]).await;
}

/// Lambda answers `ResourceConflictException` ("Function already exist"),
/// which must not be taken for "busy, wait": the function is adopted at
/// once.
#[tokio::test]
async fn a_function_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-lostfn").await;
    let (role, role_props) = rig.role("role", "lambda.amazonaws.com").await;
    rig.script(lost("lambda:CreateFunction"));
    let props = rig.props(FUNCTION, "worker", function(&role, SOURCE));

    let created = rig.kind(FUNCTION).create(&rig.cx("worker"), &props).await.unwrap();

    assert_eq!(rig.calls("lambda:CreateFunction"), 2);
    assert_eq!(rig.notes_with("waiting for an earlier change"), Vec::<String>::new());
    let tags = function_tags(&rig, created.attrs["arn"].as_str().unwrap()).await;
    assert!(ours(&tags, &rig.stack, "worker"), "{tags:?}");
    rig.remove(&[(FUNCTION, "worker", &created, &props), (ROLE, "role", &role, &role_props)]).await;
}

/// CloudTrail answers `TrailAlreadyExistsException`: the trail is adopted,
/// and then started.
#[tokio::test]
async fn a_trail_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-losttrail").await;
    let (bucket, bucket_props) = rig.make(BUCKET, "logs", json!({"force_destroy": true})).await;
    let props = rig.props(TRAIL, "trail", json!({"bucket": bucket.physical_id}));
    let name = props["name"].as_str().unwrap();
    let exists = format!("Trail {name} already exists for customer: {}", emulator::ACCOUNT_ID);
    rig.script(lost_then("cloudtrail:CreateTrail", 400, "TrailAlreadyExistsException", &exists));

    let created = rig.kind(TRAIL).create(&rig.cx("trail"), &props).await.unwrap();

    assert_eq!((rig.calls("cloudtrail:CreateTrail"), rig.scripted()), (2, 2));
    let cloudtrail = rig.aws.cloudtrail().await;
    let status = cloudtrail.get_trail_status().name(name).send().await.unwrap();
    assert_eq!(status.is_logging(), Some(true));
    let tags = cloudtrail.list_tags().resource_id_list(&created.physical_id).send().await.unwrap();
    let tags = tags
        .resource_tag_list()
        .iter()
        .flat_map(|r| r.tags_list())
        .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()));
    assert!(ours(&tags.collect(), &rig.stack, "trail"));
    rig.remove(&[(TRAIL, "trail", &created, &props), (BUCKET, "logs", &bucket, &bucket_props)]).await;
}

/// A mapping create answered on its first try was sent once, so it cannot
/// have made a duplicate: no sweep for one (only the look before the create
/// lists the mappings of the queue and function).
#[tokio::test]
async fn a_mapping_answered_at_once_is_not_swept_for_duplicates() {
    let rig = Rig::new("q-oneesm").await;
    let set_up = MappingSetUp::new(&rig).await;
    rig.script(Vec::new());
    let props = set_up.mapping(&rig, 10);

    let created = rig.kind(MAPPING).create(&rig.cx("trigger"), &props).await.unwrap();

    assert_eq!(rig.calls("lambda:CreateEventSourceMapping"), 1);
    assert_eq!(rig.calls("lambda:ListEventSourceMappings"), 1, "the look only");
    assert_eq!(set_up.mappings(&rig).await, vec![created.physical_id.clone()]);
    rig.remove(&[(MAPPING, "trigger", &created, &props)]).await;
    set_up.remove(&rig).await;
}

/// moto makes a second mapping of the same queue and function where AWS
/// refuses it: the one the lost answer was about is deleted, one is left.
#[tokio::test]
async fn a_mapping_made_twice_after_a_lost_answer_is_made_once() {
    let rig = Rig::new("q-lostesm").await;
    let set_up = MappingSetUp::new(&rig).await;
    rig.script(lost("lambda:CreateEventSourceMapping"));
    let props = set_up.mapping(&rig, 10);

    let created = rig.kind(MAPPING).create(&rig.cx("trigger"), &props).await.unwrap();

    assert_eq!(rig.calls("lambda:CreateEventSourceMapping"), 2);
    assert_eq!(set_up.mappings(&rig).await, vec![created.physical_id.clone()]);
    assert_eq!(rig.notes_with("deleting duplicate mapping").len(), 1, "{:?}", rig.notes);
    rig.remove(&[(MAPPING, "trigger", &created, &props)]).await;
    set_up.remove(&rig).await;
}

/// AWS answers `ResourceConflictException` to the second try: the mapping
/// the first made, for the same queue and function, is adopted.
#[tokio::test]
async fn a_mapping_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-lostesm2").await;
    let set_up = MappingSetUp::new(&rig).await;
    let (f, q) = (set_up.function.0.attrs["arn"].as_str().unwrap(), set_up.queue.0.attrs["arn"].as_str().unwrap());
    let exists = format!(
        "An event source mapping with SQS arn (\" {q} \") and function (\" {f} \") already exists. \
         Please update or delete the existing mapping with UUID 0"
    );
    rig.script(lost_then("lambda:CreateEventSourceMapping", 409, "ResourceConflictException", &exists));
    let props = set_up.mapping(&rig, 10);

    let created = rig.kind(MAPPING).create(&rig.cx("trigger"), &props).await.unwrap();

    assert_eq!((rig.calls("lambda:CreateEventSourceMapping"), rig.scripted()), (2, 2));
    assert_eq!(set_up.mappings(&rig).await, vec![created.physical_id.clone()]);
    assert_eq!(rig.notes_with("waiting for an earlier change"), Vec::<String>::new());
    rig.remove(&[(MAPPING, "trigger", &created, &props)]).await;
    set_up.remove(&rig).await;
}

/// Lambda answers `ResourceConflictException` ("The statement id (…)
/// provided already exists"): the statement, granting the same, is adopted.
#[tokio::test]
async fn a_permission_whose_create_answer_was_lost_is_adopted() {
    let rig = Rig::new("q-lostperm").await;
    let (role, role_props) = rig.role("role", "lambda.amazonaws.com").await;
    let (function_live, function_props) = rig.make(FUNCTION, "worker", function(&role, SOURCE)).await;
    let props = rig.props(
        PERMISSION,
        "invoke",
        json!({"function": function_live.physical_id, "principal": "events.amazonaws.com"}),
    );
    let sid = format!("{}-invoke", rig.stack);
    let exists = format!(
        "The statement id ({sid}) provided already exists. \
         Please provide a new statement id, or remove the existing statement."
    );
    rig.script(lost_then("lambda:AddPermission", 409, "ResourceConflictException", &exists));

    let created = rig.kind(PERMISSION).create(&rig.cx("invoke"), &props).await.unwrap();

    assert_eq!((rig.calls("lambda:AddPermission"), rig.scripted()), (2, 2));
    let lambda = rig.aws.lambda().await;
    let policy = lambda.get_policy().function_name(&function_live.physical_id).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let sids: Vec<_> = policy["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].clone()).collect();
    assert_eq!(sids, [json!(sid)]);
    rig.remove(&[
        (PERMISSION, "invoke", &created, &props),
        (FUNCTION, "worker", &function_live, &function_props),
        (ROLE, "role", &role, &role_props),
    ])
    .await;
}

/// Seen (issue 19, item 15): nothing kept cairn under Lambda's 15 requests
/// a second per API, so a wide apply spent its retries on throttling. Forty
/// control-plane calls at once through the strict layer's `lambda-rate`
/// (AWS's quota) all pass, and none of them was throttled.
#[tokio::test]
async fn lambda_calls_at_once_are_paced_under_the_quota() {
    use cairn_testkit::proxy::strict::{Strict, rule};
    let strict = Strict::only(&[rule::LAMBDA_RATE]).unwrap();
    let proxy = Proxy::start_with(&emulator::endpoint(), Faults { strict, ..Faults::default() }).await.unwrap();
    let provider = AwsProvider::new(AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() });
    let lambda = provider.clients().lambda().await.clone();

    let calls = (0..40).map(|_| {
        let lambda = lambda.clone();
        async move { lambda.list_event_source_mappings().send().await }
    });
    let answers = futures::future::join_all(calls).await;

    let failed: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(proxy.stats().calls("lambda:ListEventSourceMappings"), 40, "one try each");
    assert_eq!(proxy.stats().injected(&format!("strict:{}", rule::LAMBDA_RATE)), 0);
}
