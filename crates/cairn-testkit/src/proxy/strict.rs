//! The strict layer: what AWS refuses, delays or rewrites and moto does
//! not, reproduced between cairn and the emulator.
//!
//! Each rule is named, listed in [`RULES`] with the AWS behaviour it
//! reproduces, and switched on or off by name in [`Strict`] (part of
//! [`super::Faults`]; off by default, [`Strict::all`] for every rule).
//! Rules that judge a request read what they need from the emulator
//! itself (a bucket's policy, a role's trust policy), so they see exactly
//! what cairn wrote. Each answer a rule gives is counted in
//! [`super::Stats::injected`] under `strict:<rule>`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response};
use serde_json::Value as Json;

use super::classify::Call;
use super::{Shared, UPSTREAM_TIMEOUT, forward, shape};
use crate::emulator::ACCOUNT_ID;
use crate::policy::{self, Principal};

/// One rule of the strict layer.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The name that switches it (`cloudtrail-bucket-policy`).
    pub name: &'static str,
    /// What AWS does, and where that is documented or seen.
    pub aws: &'static str,
}

/// The names of the rules.
pub mod rule {
    pub const TRAIL_BUCKET_POLICY: &str = "cloudtrail-bucket-policy";
    pub const TRAIL_LOGS_ROLE: &str = "cloudtrail-logs-role";
    pub const TRAIL_KMS_POLICY: &str = "cloudtrail-kms-policy";
    pub const TRAIL_DELIVERS: &str = "cloudtrail-delivers";
    pub const LOGS_ONE_WRITE_PER_GROUP: &str = "logs-one-write-per-group";
    pub const S3_NEW_BUCKET_LAG: &str = "s3-new-bucket-lag";
    pub const SSM_EMPTY_PAGES: &str = "ssm-empty-pages";
    pub const LAMBDA_BLOCKED_RUNTIMES: &str = "lambda-blocked-runtimes";
    pub const LAMBDA_PENDING: &str = "lambda-pending";
    pub const LAMBDA_MAPPING_STATES: &str = "lambda-mapping-states";
    pub const SNS_PENDING_EMAIL: &str = "sns-pending-email";
    pub const ACCOUNT_PRINCIPAL_REWRITE: &str = "account-principal-rewrite";
    pub const INVALID_TAGS: &str = "invalid-tags";
    pub const S3_ONE_WRITE_PER_BUCKET: &str = "s3-one-write-per-bucket";
    pub const SQS_DELETED_RECENTLY: &str = "sqs-deleted-recently";
    pub const LAMBDA_RATE: &str = "lambda-rate";
}

mod answers;
pub mod queues;
mod states;
mod tags;

/// Every rule, in the order they are checked.
pub const RULES: &[Rule] = &[
    Rule {
        name: rule::TRAIL_BUCKET_POLICY,
        aws: "CreateTrail/UpdateTrail answer InsufficientS3BucketPolicyException unless the bucket policy lets \
              cloudtrail.amazonaws.com s3:GetBucketAcl the bucket and s3:PutObject under [prefix/]AWSLogs/<account>/ \
              (CloudTrail user guide, \"Amazon S3 bucket policy for CloudTrail\"); moto creates the trail anyway",
    },
    Rule {
        name: rule::TRAIL_LOGS_ROLE,
        aws: "CreateTrail/UpdateTrail with CloudWatch Logs answer InvalidCloudWatchLogsRoleArnException when the role \
              does not trust cloudtrail.amazonaws.com, and InvalidCloudWatchLogsLogGroupArnException (\"Access denied. \
              Check the permissions for your role.\") when its policies do not allow logs:CreateLogStream and \
              logs:PutLogEvents on the group's streams (CloudTrail user guide, \"Sending events to CloudWatch Logs\")",
    },
    Rule {
        name: rule::TRAIL_KMS_POLICY,
        aws: "CreateTrail/UpdateTrail with a KmsKeyId answer InsufficientEncryptionPolicyException unless the key \
              policy lets cloudtrail.amazonaws.com kms:GenerateDataKey* for that trail (aws:SourceArn and the \
              kms:EncryptionContext:aws:cloudtrail:arn it sends) and KmsKeyNotFoundException for a key that does \
              not exist or is pending deletion (CloudTrail user guide, \"Configure AWS KMS key policies for \
              CloudTrail\"); moto takes any key id",
    },
    Rule {
        name: rule::TRAIL_DELIVERS,
        aws: "a logging trail writes log files into its bucket, and can still deliver one after StopLogging or \
              DeleteTrail, so a bucket emptied right before DeleteBucket can answer BucketNotEmpty \
              (CloudTrail delivers about every 5 minutes); moto never writes to the bucket",
    },
    Rule {
        name: rule::LOGS_ONE_WRITE_PER_GROUP,
        aws: "CloudWatch Logs answers OperationAbortedException (\"A conflicting operation is currently in progress \
              against this resource\") to a write on a log group while another write on it is in flight; \
              terraform-provider-aws serializes metric filters per group for this; moto runs them all",
    },
    Rule {
        name: rule::S3_NEW_BUCKET_LAG,
        aws: "right after CreateBucket succeeds, the next call on the bucket can still answer 404 NoSuchBucket \
              (S3 bucket creation is eventually consistent; terraform-provider-aws retries it); moto knows it at once",
    },
    Rule {
        name: rule::SSM_EMPTY_PAGES,
        aws: "SSM DescribeParameters can answer an empty page with a NextToken (filters apply after paging: \
              \"the response might include an empty list and a NextToken\", DescribeParameters API reference); \
              moto answers the match on the first page",
    },
    Rule {
        name: rule::LAMBDA_BLOCKED_RUNTIMES,
        aws: "CreateFunction and UpdateFunctionConfiguration answer InvalidParameterValueException for a runtime past \
              its block-function-create date (Lambda developer guide, \"Runtime deprecation policy\"); moto accepts any",
    },
    Rule {
        name: rule::LAMBDA_PENDING,
        aws: "after CreateFunction a function is State Pending (StateReasonCode Creating) and after \
              UpdateFunctionCode/UpdateFunctionConfiguration its LastUpdateStatus is InProgress, for a while; \
              meanwhile updates, PublishVersion and AddPermission/RemovePermission answer 409 \
              ResourceConflictException (\"The operation cannot be performed at this time. An update is in progress \
              for resource: ...\"; Lambda developer guide, \"Lambda function states\"; terraform-provider-aws waits \
              for Active and Successful); moto answers Active and Successful at once",
    },
    Rule {
        name: rule::LAMBDA_MAPPING_STATES,
        aws: "an event source mapping is Creating, then Enabling, before Enabled, Updating after an update and \
              Deleting (still readable) after DeleteEventSourceMapping; UpdateEventSourceMapping and \
              DeleteEventSourceMapping on one not settled answer ResourceInUseException (\"Cannot update the event \
              source mapping because it is in use.\"; terraform-provider-aws waits for each state); moto settles at once",
    },
    Rule {
        name: rule::SNS_PENDING_EMAIL,
        aws: "an email/email-json subscription waits for its owner's confirmation: Subscribe answers \
              \"pending confirmation\" as SubscriptionArn (the ARN only with ReturnSubscriptionArn=true), the List* \
              calls show PendingConfirmation, GetSubscriptionAttributes PendingConfirmation=true, and Unsubscribe \
              answers InvalidParameter (\"Cannot unsubscribe a subscription that is pending confirmation\"; AWS \
              deletes it after 3 days or with its topic; SNS Subscribe API reference); moto confirms at once",
    },
    Rule {
        name: rule::ACCOUNT_PRINCIPAL_REWRITE,
        aws: "a policy naming an account as \"AWS\": \"123456789012\" is stored, and read back, as \
              arn:aws:iam::123456789012:root (IAM user guide, \"AWS JSON policy elements: Principal\"), in queue, \
              topic, bucket, function and trust policies; moto hands back what was written",
    },
    Rule {
        name: rule::INVALID_TAGS,
        aws: "creates and tagging calls refuse tags AWS reserves or cannot hold: keys starting with aws:, keys over \
              128 or values over 256 characters, more than 50 tags (\"Tagging AWS resources\", tag naming limits), \
              each service with its own error (InvalidParameterValueException, InvalidParameter, InvalidInput, \
              InvalidTag, ValidationException, ...); moto takes them",
    },
    Rule {
        name: rule::S3_ONE_WRITE_PER_BUCKET,
        aws: "S3 answers 409 OperationAborted (\"A conflicting conditional operation is currently in progress against \
              this resource. Please try again.\") to a bucket configuration write while another on the same bucket is \
              in flight; terraform-provider-aws retries it; moto runs them all",
    },
    Rule {
        name: rule::SQS_DELETED_RECENTLY,
        aws: "for 60 s after DeleteQueue, CreateQueue of that name answers AWS.SimpleQueueService.QueueDeletedRecently \
              (\"You must wait 60 seconds after deleting a queue before you can create another with the same \
              name\"), while requests involving the dying queue \"might succeed\" (DeleteQueue API reference): \
              GetQueueUrl, ListQueueTags and GetQueueAttributes still answer with its old tags; moto frees the name \
              at once (held 3 s here, not 60, to keep tests short)",
    },
    Rule {
        name: rule::LAMBDA_RATE,
        aws: "Lambda's control plane answers 429 TooManyRequestsException (\"Rate exceeded\") past 15 requests a \
              second per API and region, GetFunction past 100, invocations aside (Lambda quotas, \"API requests\"); \
              moto answers every call",
    },
];

/// Runtimes whose block-create date (Lambda's deprecation table, as AWS
/// revised it in 2026: most 2026 blocks moved to 2027-02-01) is past by
/// December 2026: AWS's own list, kept apart from cairn's.
const BLOCKED_RUNTIMES: &[&str] = &[
    "python2.7",
    "python3.6",
    "python3.7",
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "ruby2.5",
    "ruby2.7",
    "java8",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "go1.x",
    "provided",
];

/// How long a log-group or bucket configuration write stays in flight at
/// least: AWS is not instant, and overlapping writes must overlap here too.
const ONE_WRITE: Duration = Duration::from_millis(25);

/// The token of the empty page [`rule::SSM_EMPTY_PAGES`] answers first.
const EMPTY_PAGE_TOKEN: &str = "cairn-strict-empty-page";

/// Which rules are on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Strict {
    on: BTreeSet<&'static str>,
}

impl Strict {
    /// Every rule on.
    pub fn all() -> Strict {
        Strict { on: RULES.iter().map(|r| r.name).collect() }
    }

    /// No rule on (the default).
    pub fn none() -> Strict {
        Strict::default()
    }

    /// These rules off; unknown names are an error.
    pub fn without(mut self, names: &[&str]) -> Result<Strict, String> {
        for name in names {
            let rule = find(name)?;
            self.on.remove(rule.name);
        }
        Ok(self)
    }

    /// Only these rules on; unknown names are an error.
    pub fn only(names: &[&str]) -> Result<Strict, String> {
        let mut on = BTreeSet::new();
        for name in names {
            on.insert(find(name)?.name);
        }
        Ok(Strict { on })
    }

    /// From a command line: `all`, `none`, or names separated by commas,
    /// where `all,-NAME` turns one off.
    pub fn parse(text: &str) -> Result<Strict, String> {
        let mut strict = Strict::none();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            strict = match part {
                "all" => Strict::all(),
                "none" => Strict::none(),
                _ => match part.strip_prefix('-') {
                    Some(name) => strict.without(&[name])?,
                    None => {
                        strict.on.insert(find(part)?.name);
                        strict
                    }
                },
            };
        }
        Ok(strict)
    }

    /// Whether the rule is on.
    pub fn is_on(&self, name: &str) -> bool {
        self.on.contains(name)
    }

    /// Whether no rule is on.
    pub fn is_empty(&self) -> bool {
        self.on.is_empty()
    }
}

fn find(name: &str) -> Result<&'static Rule, String> {
    RULES.iter().find(|r| r.name == name).ok_or_else(|| {
        let names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        format!("no strict rule `{name}`; the rules are {}", names.join(", "))
    })
}

/// What the rules remember between calls.
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Buckets just created: the next call on each answers NoSuchBucket.
    new_buckets: HashSet<String>,
    /// Writes in flight per log group.
    busy_groups: HashMap<String, u32>,
    /// Buckets a trail was created on, with the trail's key prefix.
    trail_buckets: HashMap<String, String>,
    /// Buckets that got their late delivery already.
    late_delivered: HashSet<String>,
    /// Bucket configuration writes in flight per bucket.
    busy_buckets: HashMap<String, u32>,
    /// Functions and mappings settling.
    states: states::Memory,
    /// Pending e-mail subscriptions.
    answers: answers::Memory,
    /// Queues deleted moments ago.
    queues: queues::Memory,
    /// Lambda's request-rate buckets, by region and operation.
    lambda_rate: HashMap<String, RateBucket>,
}

/// A token bucket of [`rule::LAMBDA_RATE`]: tokens left, and when counted.
#[derive(Debug)]
struct RateBucket {
    tokens: f64,
    at: std::time::Instant,
}

/// Lambda's quota for an operation, in requests a second (also its burst),
/// or `None` for calls outside the control-plane quota.
fn lambda_quota(operation: &str) -> Option<f64> {
    match operation {
        "Invoke" | "InvokeAsync" | "InvokeWithResponseStream" => None,
        "GetFunction" => Some(100.0),
        _ => Some(15.0),
    }
}

/// Whether a Lambda call is within its quota, spending a token if so.
fn within_lambda_rate(shared: &Shared, region: &str, operation: &str) -> bool {
    let Some(quota) = lambda_quota(operation) else { return true };
    let now = std::time::Instant::now();
    let mut state = shared.state();
    let bucket = state
        .strict
        .lambda_rate
        .entry(format!("{region} {operation}"))
        .or_insert(RateBucket { tokens: quota, at: now });
    bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * quota).min(quota);
    bucket.at = now;
    if bucket.tokens < 1.0 {
        return false;
    }
    bucket.tokens -= 1.0;
    true
}

/// Serves a call the fault layer would forward, with the rules in `strict`.
pub(super) async fn serve(
    shared: &Shared,
    strict: &Strict,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    if strict.is_on(rule::INVALID_TAGS)
        && call.write
        && let Some(problem) = tags::problem(&tags::carried(call, &body))
    {
        count(shared, rule::INVALID_TAGS);
        let (status, code) = tags::error_of(call.service.as_deref().unwrap_or(""));
        return shape::error_response(call, status, code, &problem, request_id);
    }
    if strict.is_on(rule::LAMBDA_RATE)
        && call.service.as_deref() == Some("lambda")
        && !within_lambda_rate(shared, &region(&parts.headers), &call.operation)
    {
        count(shared, rule::LAMBDA_RATE);
        return shape::error_response(call, 429, "TooManyRequestsException", "Rate exceeded", request_id);
    }
    let answer = serve_rules(shared, strict, call, parts, body, request_id).await;
    if strict.is_on(rule::ACCOUNT_PRINCIPAL_REWRITE) {
        return answers::rooted_answer(shared, call, answer).await;
    }
    answer
}

/// [`serve`] past the rules that apply to every service.
async fn serve_rules(
    shared: &Shared,
    strict: &Strict,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let refuse = |rule: &str, status: u16, code: &str, message: &str| {
        shared.state().count(&format!("strict:{rule}"));
        shape::error_response(call, status, code, message, request_id)
    };
    let service = call.service.as_deref().unwrap_or("");
    let region = region(&parts.headers);
    // Only the JSON protocols' bodies are read (not S3 objects).
    let json: Json = match service {
        "cloudtrail" | "logs" | "ssm" | "lambda" => serde_json::from_slice(&body).unwrap_or(Json::Null),
        _ => Json::Null,
    };
    let field = |k: &str| json.get(k).and_then(Json::as_str).map(str::to_string);

    match (service, call.operation.as_str()) {
        ("cloudtrail", "CreateTrail" | "UpdateTrail") => {
            let name = field("Name").unwrap_or_default();
            let trail_arn = if name.starts_with("arn:") {
                name.clone()
            } else {
                format!("arn:aws:cloudtrail:{region}:{ACCOUNT_ID}:trail/{name}")
            };
            if strict.is_on(rule::TRAIL_BUCKET_POLICY)
                && let Some(bucket) = field("S3BucketName")
                && let Some(problem) = trail_bucket_problem(
                    shared,
                    &bucket,
                    &field("S3KeyPrefix").unwrap_or_default(),
                    &trail_arn,
                    &region,
                )
                .await
            {
                let message = format!("Incorrect S3 bucket policy is detected for bucket: {bucket} ({problem})");
                return refuse(rule::TRAIL_BUCKET_POLICY, 400, "InsufficientS3BucketPolicyException", &message);
            }
            if strict.is_on(rule::TRAIL_KMS_POLICY)
                && let Some(key) = field("KmsKeyId").filter(|k| !k.is_empty())
                && let Some((code, message)) = trail_key_problem(shared, &key, &trail_arn).await
            {
                return refuse(rule::TRAIL_KMS_POLICY, 400, code, &message);
            }
            if strict.is_on(rule::TRAIL_LOGS_ROLE)
                && let (Some(role), Some(group)) = (field("CloudWatchLogsRoleArn"), field("CloudWatchLogsLogGroupArn"))
                && let Some((code, message)) = trail_role_problem(shared, &role, &group).await
            {
                return refuse(rule::TRAIL_LOGS_ROLE, 400, code, message);
            }
            let answer = forward(shared, call, parts, body, request_id).await;
            if strict.is_on(rule::TRAIL_DELIVERS)
                && call.operation == "CreateTrail"
                && answer.status().is_success()
                && let Some(bucket) = field("S3BucketName")
            {
                let prefix = field("S3KeyPrefix").unwrap_or_default();
                shared.state().strict.trail_buckets.insert(bucket.clone(), prefix.clone());
                deliver(shared, &bucket, &prefix, &region, "first").await;
            }
            answer
        }
        ("logs", _)
            if call.write && strict.is_on(rule::LOGS_ONE_WRITE_PER_GROUP) && field("logGroupName").is_some() =>
        {
            let group = field("logGroupName").unwrap_or_default();
            let message = "A conflicting operation is currently in progress against this resource. Please try again.";
            let refused = (rule::LOGS_ONE_WRITE_PER_GROUP, 400, "OperationAbortedException", message);
            one_at_a_time(shared, call, parts, body, request_id, Busy::Group(group), refused).await
        }
        ("s3", op) => {
            let bucket = parts.uri.path().trim_start_matches('/').split('/').next().unwrap_or("").to_string();
            if op == "CreateBucket" {
                let answer = forward(shared, call, parts, body, request_id).await;
                if strict.is_on(rule::S3_NEW_BUCKET_LAG) && answer.status().is_success() {
                    shared.state().strict.new_buckets.insert(bucket);
                }
                return answer;
            }
            if strict.is_on(rule::S3_NEW_BUCKET_LAG) && shared.state().strict.new_buckets.remove(&bucket) {
                return refuse(rule::S3_NEW_BUCKET_LAG, 404, "NoSuchBucket", "The specified bucket does not exist");
            }
            if strict.is_on(rule::S3_ONE_WRITE_PER_BUCKET) && is_bucket_setting(call, &parts) {
                let message = "A conflicting conditional operation is currently in progress against this resource. Please try again.";
                let refused = (rule::S3_ONE_WRITE_PER_BUCKET, 409, "OperationAborted", message);
                return one_at_a_time(shared, call, parts, body, request_id, Busy::Bucket(bucket), refused).await;
            }
            if op == "DeleteBucket" && strict.is_on(rule::TRAIL_DELIVERS) {
                let late = {
                    let mut state = shared.state();
                    let prefix = state.strict.trail_buckets.get(&bucket).cloned();
                    prefix.filter(|_| state.strict.late_delivered.insert(bucket.clone()))
                };
                // The late file lands once the bucket was emptied, right
                // before the DeleteBucket that would have succeeded.
                if let Some(prefix) = late {
                    if is_empty(shared, &bucket).await {
                        deliver(shared, &bucket, &prefix, &region, "late").await;
                        shared.state().count(&format!("strict:{}", rule::TRAIL_DELIVERS));
                    } else {
                        shared.state().strict.late_delivered.remove(&bucket);
                    }
                }
            }
            forward(shared, call, parts, body, request_id).await
        }
        ("ssm", "DescribeParameters") if strict.is_on(rule::SSM_EMPTY_PAGES) => {
            match json.get("NextToken").and_then(Json::as_str) {
                None => {
                    shared.state().count(&format!("strict:{}", rule::SSM_EMPTY_PAGES));
                    let page = serde_json::json!({"Parameters": [], "NextToken": EMPTY_PAGE_TOKEN});
                    json_response(call, 200, page)
                }
                Some(EMPTY_PAGE_TOKEN) => {
                    let mut json = json.clone();
                    if let Some(o) = json.as_object_mut() {
                        o.remove("NextToken");
                    }
                    let body = Bytes::from(json.to_string());
                    forward(shared, call, parts, body, request_id).await
                }
                Some(_) => forward(shared, call, parts, body, request_id).await,
            }
        }
        ("lambda", "CreateFunction" | "UpdateFunctionConfiguration")
            if strict.is_on(rule::LAMBDA_BLOCKED_RUNTIMES)
                && field("Runtime").is_some_and(|r| BLOCKED_RUNTIMES.contains(&r.as_str())) =>
        {
            let runtime = field("Runtime").unwrap_or_default();
            let message = format!(
                "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda \
                 functions. We recommend you use a supported runtime while creating or updating functions."
            );
            refuse(rule::LAMBDA_BLOCKED_RUNTIMES, 400, "InvalidParameterValueException", &message)
        }
        ("lambda", _) if strict.is_on(rule::LAMBDA_PENDING) || strict.is_on(rule::LAMBDA_MAPPING_STATES) => {
            let (functions, mappings) = (strict.is_on(rule::LAMBDA_PENDING), strict.is_on(rule::LAMBDA_MAPPING_STATES));
            states::serve(shared, (functions, mappings), call, parts, body, request_id, &region).await
        }
        ("sns", _) if strict.is_on(rule::SNS_PENDING_EMAIL) => {
            answers::sns(shared, call, parts, body, request_id).await
        }
        ("sqs", _) if strict.is_on(rule::SQS_DELETED_RECENTLY) => {
            queues::sqs(shared, call, parts, body, request_id).await
        }
        _ => forward(shared, call, parts, body, request_id).await,
    }
}

/// What one write at a time is counted by.
enum Busy {
    Group(String),
    Bucket(String),
}

impl Busy {
    fn counter<'a>(&self, memory: &'a mut Memory) -> &'a mut u32 {
        match self {
            Busy::Group(g) => memory.busy_groups.entry(g.clone()).or_default(),
            Busy::Bucket(b) => memory.busy_buckets.entry(b.clone()).or_default(),
        }
    }
}

/// Forwards a write unless another on the same group or bucket is in
/// flight, which is refused with `(rule, status, code, message)`.
async fn one_at_a_time(
    shared: &Shared,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
    what: Busy,
    (rule, status, code, message): (&str, u16, &str, &str),
) -> Response<Full<Bytes>> {
    {
        let mut state = shared.state();
        let busy = what.counter(&mut state.strict);
        if *busy > 0 {
            drop(state);
            count(shared, rule);
            return shape::error_response(call, status, code, message, request_id);
        }
        *busy += 1;
    }
    tokio::time::sleep(ONE_WRITE).await;
    let answer = forward(shared, call, parts, body, request_id).await;
    let mut state = shared.state();
    let busy = what.counter(&mut state.strict);
    *busy = busy.saturating_sub(1);
    answer
}

/// Whether an S3 call writes a bucket's configuration (a PUT or DELETE of
/// a bucket sub-resource such as `?policy` or `?versioning`).
fn is_bucket_setting(call: &Call, parts: &hyper::http::request::Parts) -> bool {
    let bucket_only = parts.uri.path().trim_matches('/').split('/').count() == 1;
    let sub_resource = parts.uri.query().is_some_and(|q| !q.is_empty());
    let method = parts.method.as_str();
    call.write && bucket_only && sub_resource && matches!(method, "PUT" | "DELETE")
}

/// Counts one answer of `rule`.
fn count(shared: &Shared, rule: &str) {
    shared.state().count(&format!("strict:{rule}"));
}

/// A response's JSON body, or the response itself when it has none.
async fn json_body(
    answer: Response<Full<Bytes>>,
) -> Result<(hyper::http::response::Parts, Json), Response<Full<Bytes>>> {
    let (parts, body) = answer.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    match serde_json::from_slice(&bytes) {
        Ok(json) => Ok((parts, json)),
        Err(_) => Err(rebuilt_bytes(parts, bytes)),
    }
}

/// A response with a new JSON body.
fn rebuilt(parts: hyper::http::response::Parts, json: &Json) -> Response<Full<Bytes>> {
    rebuilt_bytes(parts, Bytes::from(json.to_string()))
}

/// A response with a new body (and its length).
fn rebuilt_bytes(mut parts: hyper::http::response::Parts, body: Bytes) -> Response<Full<Bytes>> {
    parts.headers.insert(hyper::header::CONTENT_LENGTH, body.len().into());
    Response::from_parts(parts, Full::new(body))
}

/// A field of a query-protocol form body, decoded.
fn form_field(form: &str, key: &str) -> Option<String> {
    form.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| percent_decode(v))
}

/// The region of a signed request's credential scope.
fn region(headers: &hyper::HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split([',', ' ']).next())
        .and_then(|cred| cred.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_string()
}

fn json_response(call: &Call, status: u16, body: Json) -> Response<Full<Bytes>> {
    let ct = call.content_type.clone().unwrap_or_else(|| "application/json".into());
    let mut out = Response::new(Full::new(Bytes::from(body.to_string())));
    *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(&ct) {
        out.headers_mut().insert(CONTENT_TYPE, v);
    }
    out
}

/// One request of the rules' own to the emulator, signed (unverified, as
/// moto does not check) for `service`: the status and body.
async fn upstream(
    shared: &Shared,
    service: &str,
    method: Method,
    path_and_query: &str,
    form: Option<String>,
    body: Option<Bytes>,
) -> Option<(u16, Bytes)> {
    upstream_with(shared, service, method, path_and_query, form, body, &[]).await
}

/// A call of a JSON-protocol service (`TrentService.GetKeyPolicy`) to the
/// emulator: status and body.
async fn upstream_json(shared: &Shared, service: &str, target: &str, body: Json) -> Option<(u16, Bytes)> {
    let headers = [("x-amz-target", target), (CONTENT_TYPE.as_str(), "application/x-amz-json-1.1")];
    upstream_with(shared, service, Method::POST, "/", None, Some(Bytes::from(body.to_string())), &headers).await
}

/// [`upstream`] with extra headers.
async fn upstream_with(
    shared: &Shared,
    service: &str,
    method: Method,
    path_and_query: &str,
    form: Option<String>,
    body: Option<Bytes>,
    headers: &[(&str, &str)],
) -> Option<(u16, Bytes)> {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{}{path_and_query}", shared.upstream))
        .header("authorization", auth);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let body = match (form, body) {
        (Some(form), _) => {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
            Bytes::from(form)
        }
        (None, Some(b)) => b,
        (None, None) => Bytes::new(),
    };
    builder = builder.header(hyper::header::CONTENT_LENGTH, body.len());
    let request = builder.body(Full::new(body)).ok()?;
    let response = tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(request)).await.ok()?.ok()?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, bytes))
}

/// Why a bucket's policy does not let CloudTrail deliver for `trail_arn`,
/// or `None` when it does (or the bucket is not there: AWS's own error
/// for that comes from the emulator).
async fn trail_bucket_problem(
    shared: &Shared,
    bucket: &str,
    prefix: &str,
    trail_arn: &str,
    region: &str,
) -> Option<String> {
    let (status, body) = upstream(shared, "s3", Method::GET, &format!("/{bucket}?policy"), None, None).await?;
    if status == 404 && String::from_utf8_lossy(&body).contains("NoSuchBucket<") {
        return None;
    }
    let doc: Json = if status == 200 { serde_json::from_slice(&body).unwrap_or(Json::Null) } else { Json::Null };
    if doc.is_null() {
        return Some("the bucket has no policy".into());
    }
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    let key = format!("arn:aws:s3:::{bucket}/{prefix}AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/2026/12/03/log.json.gz");
    let context = |acl: bool| {
        let mut c = vec![
            ("aws:SourceArn", trail_arn.to_string()),
            ("aws:SourceAccount", ACCOUNT_ID.to_string()),
            ("aws:SecureTransport", "true".to_string()),
        ];
        if acl {
            c.push(("s3:x-amz-acl", "bucket-owner-full-control".to_string()));
        }
        c
    };
    let cloudtrail = Principal::Service("cloudtrail.amazonaws.com".into());
    let acl = policy::Request {
        principal: cloudtrail.clone(),
        action: "s3:GetBucketAcl",
        resource: &format!("arn:aws:s3:::{bucket}"),
        context: context(false),
    };
    if !policy::allows(&doc, &acl) {
        return Some("CloudTrail may not s3:GetBucketAcl the bucket".into());
    }
    let put = policy::Request { principal: cloudtrail, action: "s3:PutObject", resource: &key, context: context(true) };
    if !policy::allows(&doc, &put) {
        return Some(format!("CloudTrail may not s3:PutObject under {prefix}AWSLogs/{ACCOUNT_ID}/"));
    }
    None
}

/// What AWS answers when the trail's KMS key cannot serve it: the key is
/// missing or pending deletion, or its policy does not let CloudTrail make
/// data keys for this trail.
async fn trail_key_problem(shared: &Shared, key: &str, trail_arn: &str) -> Option<(&'static str, String)> {
    let not_found = || Some(("KmsKeyNotFoundException", format!("KMS key {key} does not exist or is not usable")));
    let (status, body) =
        upstream_json(shared, "kms", "TrentService.DescribeKey", serde_json::json!({"KeyId": key})).await?;
    let meta: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let state = meta.pointer("/KeyMetadata/KeyState").and_then(Json::as_str);
    if status != 200 || state.is_some_and(|s| s.starts_with("Pending")) {
        return not_found();
    }
    let id = meta.pointer("/KeyMetadata/KeyId").and_then(Json::as_str)?.to_string();
    let key_arn = meta.pointer("/KeyMetadata/Arn").and_then(Json::as_str).unwrap_or(key).to_string();
    let target = "TrentService.GetKeyPolicy";
    let (status, body) =
        upstream_json(shared, "kms", target, serde_json::json!({"KeyId": id, "PolicyName": "default"})).await?;
    if status != 200 {
        return None;
    }
    let text: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let doc: Json = text.get("Policy").and_then(Json::as_str).and_then(|p| serde_json::from_str(p).ok())?;
    let request = policy::Request {
        principal: Principal::Service("cloudtrail.amazonaws.com".into()),
        action: "kms:GenerateDataKey",
        resource: &key_arn,
        context: vec![
            ("aws:SourceArn", trail_arn.to_string()),
            ("aws:SourceAccount", ACCOUNT_ID.to_string()),
            ("kms:EncryptionContext:aws:cloudtrail:arn", trail_arn.to_string()),
        ],
    };
    if policy::allows(&doc, &request) {
        return None;
    }
    Some((
        "InsufficientEncryptionPolicyException",
        format!("Insufficient permissions to access S3 bucket or KMS key {key_arn}."),
    ))
}

/// What AWS answers when the logs role cannot serve the trail.
async fn trail_role_problem(shared: &Shared, role_arn: &str, group_arn: &str) -> Option<(&'static str, &'static str)> {
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let iam = |form: String| upstream(shared, "iam", Method::POST, "/", Some(form), None);
    let (status, body) = iam(format!("Action=GetRole&Version=2010-05-08&RoleName={role}")).await?;
    let text = String::from_utf8_lossy(&body).to_string();
    let trust = xml_field(&text, "AssumeRolePolicyDocument").map(|d| decode_document(&d)).unwrap_or(Json::Null);
    let assume = policy::Request {
        principal: Principal::Service("cloudtrail.amazonaws.com".into()),
        action: "sts:AssumeRole",
        resource: role_arn,
        context: vec![],
    };
    if status != 200 || !policy::allows(&trust, &assume) {
        return Some((
            "InvalidCloudWatchLogsRoleArnException",
            "Access denied. Verify in IAM that the role has adequate permissions.",
        ));
    }
    let (_, attached) = iam(format!("Action=ListAttachedRolePolicies&Version=2010-05-08&RoleName={role}")).await?;
    if String::from_utf8_lossy(&attached).contains("<PolicyArn>") {
        // Managed policies are trusted to grant what they name.
        return None;
    }
    let (_, names) = iam(format!("Action=ListRolePolicies&Version=2010-05-08&RoleName={role}")).await?;
    let names = String::from_utf8_lossy(&names).to_string();
    let mut docs = Vec::new();
    for name in xml_fields(&names, "member") {
        let (_, doc) =
            iam(format!("Action=GetRolePolicy&Version=2010-05-08&RoleName={role}&PolicyName={name}")).await?;
        if let Some(d) = xml_field(&String::from_utf8_lossy(&doc), "PolicyDocument") {
            docs.push(decode_document(&d));
        }
    }
    let stream = format!("{}:log-stream:{ACCOUNT_ID}_CloudTrail_us-east-1", group_arn.trim_end_matches(":*"));
    let may = |action: &'static str| {
        let req = policy::Request {
            principal: Principal::Account(ACCOUNT_ID.into()),
            action,
            resource: &stream,
            context: vec![],
        };
        docs.iter().any(|d| policy::allows(d, &req))
    };
    if !(may("logs:CreateLogStream") && may("logs:PutLogEvents")) {
        return Some((
            "InvalidCloudWatchLogsLogGroupArnException",
            "Access denied. Check the permissions for your role.",
        ));
    }
    None
}

/// Whether a bucket holds no object version (nor delete marker).
async fn is_empty(shared: &Shared, bucket: &str) -> bool {
    match upstream(shared, "s3", Method::GET, &format!("/{bucket}?versions&max-keys=1"), None, None).await {
        Some((200, body)) => {
            let text = String::from_utf8_lossy(&body);
            !text.contains("<Version>") && !text.contains("<DeleteMarker>")
        }
        _ => false,
    }
}

/// Writes one log file into a trail's bucket, as CloudTrail would.
async fn deliver(shared: &Shared, bucket: &str, prefix: &str, region: &str, what: &str) {
    let prefix = match prefix.trim_matches('/') {
        "" => String::new(),
        p => format!("{p}/"),
    };
    let key = format!(
        "{prefix}AWSLogs/{ACCOUNT_ID}/CloudTrail/{region}/2026/12/03/{ACCOUNT_ID}_CloudTrail_{region}_cairn-strict-{what}.json.gz"
    );
    let body = Bytes::from_static(b"{\"Records\":[]}");
    let _ = upstream(shared, "s3", Method::PUT, &format!("/{bucket}/{key}"), None, Some(body)).await;
}

/// The text of the first `<name>…</name>` element, entities unescaped.
fn xml_field(xml: &str, name: &str) -> Option<String> {
    xml_fields(xml, name).into_iter().next()
}

fn xml_fields(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(unescape_xml(&after[..end]));
        rest = &after[end + close.len()..];
    }
    out
}

fn unescape_xml(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// An IAM policy document as IAM answers it: URL-encoded JSON.
fn decode_document(text: &str) -> Json {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::from_str(&percent_decode(text)).unwrap_or(Json::Null))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_by_name() {
        assert_eq!(Strict::parse("all").unwrap_or_default(), Strict::all());
        let s = Strict::parse("all,-ssm-empty-pages").unwrap_or_default();
        assert!(!s.is_on(rule::SSM_EMPTY_PAGES) && s.is_on(rule::S3_NEW_BUCKET_LAG));
        let s = Strict::parse("s3-new-bucket-lag").unwrap_or_default();
        assert!(s.is_on(rule::S3_NEW_BUCKET_LAG) && !s.is_on(rule::SSM_EMPTY_PAGES));
        let err = Strict::parse("all,-nope").err().unwrap_or_default();
        assert!(err.contains("no strict rule `nope`") && err.contains(rule::TRAIL_BUCKET_POLICY), "{err}");
        assert!(Strict::parse("none").unwrap_or_default().is_empty());
    }

    #[test]
    fn every_rule_is_documented_once() {
        let names: BTreeSet<&str> = RULES.iter().map(|r| r.name).collect();
        assert_eq!(names.len(), RULES.len());
        assert!(RULES.iter().all(|r| r.aws.len() > 40), "each rule says what AWS does");
    }

    #[test]
    fn iam_documents_decode() {
        let doc = decode_document("%7B%22Statement%22%3A%5B%5D%7D");
        assert_eq!(doc, serde_json::json!({"Statement": []}));
        assert_eq!(xml_fields("<a><member>x</member><member>y&amp;</member></a>", "member"), vec!["x", "y&"]);
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
