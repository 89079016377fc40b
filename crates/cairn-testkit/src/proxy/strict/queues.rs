//! [`rule::SQS_DELETED_RECENTLY`]: a deleted queue's name stays taken for
//! a while, and the dying queue still answers reads.
//!
//! AWS: "After you delete a queue, you must wait at least 60 seconds
//! before creating a queue with the same name" (CreateQueue answers
//! `QueueDeletedRecently`), and "requests you send involving that queue
//! during the 60 seconds might succeed" (DeleteQueue API reference). So
//! GetQueueUrl, ListQueueTags and GetQueueAttributes still answer for the
//! dying queue, with its old tags: a tool that adopts an existing queue by
//! its tags adopts one that is about to vanish. moto deletes at once and
//! frees the name.
//!
//! The emulator deletes the queue when asked; the rule keeps what it read
//! just before (tags, attributes) and answers those reads itself until the
//! hold ends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response};
use serde_json::Value as Json;

use super::super::classify::Call;
use super::super::shape::error_response;
use super::super::{Shared, UPSTREAM_TIMEOUT, forward};
use super::{count, json_response, rule};

/// How long a deleted queue's name stays taken here. AWS holds it 60 s;
/// the tests would wait that long at each re-use, so the hold is shorter,
/// long enough that a client must wait it out rather than win a race.
pub const HOLD: Duration = Duration::from_secs(3);

/// What AWS says to a CreateQueue during the hold.
const DELETED_RECENTLY: &str =
    "You must wait 60 seconds after deleting a queue before you can create another with the same name.";

/// A queue deleted moments ago, as it still answers.
#[derive(Debug, Clone)]
struct Dying {
    url: String,
    until: Instant,
    /// The answers of ListQueueTags and GetQueueAttributes (All) read just
    /// before the delete.
    tags: Json,
    attributes: Json,
}

/// What the rule remembers: dying queues by name.
#[derive(Debug, Default)]
pub(in crate::proxy) struct Memory {
    dying: HashMap<String, Dying>,
}

impl Memory {
    /// The dying queue of that name, forgetting those whose hold is over.
    fn by_name(&mut self, name: &str) -> Option<Dying> {
        self.dying.retain(|_, d| d.until > Instant::now());
        self.dying.get(name).cloned()
    }

    fn by_url(&mut self, url: &str) -> Option<Dying> {
        self.by_name(name_of(url))
    }
}

/// The queue name: the last segment of its URL.
fn name_of(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// SQS calls with the rule on (the JSON protocol, as the SDK speaks it).
pub(super) async fn sqs(
    shared: &Shared,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
) -> Response<Full<Bytes>> {
    let json: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
    let field = |k: &str| json.get(k).and_then(Json::as_str).map(str::to_string);
    let memory = |f: &dyn Fn(&mut Memory) -> Option<Dying>| f(&mut shared.state().strict.queues);
    match call.operation.as_str() {
        "CreateQueue" => {
            let name = field("QueueName").unwrap_or_default();
            if memory(&|m| m.by_name(&name)).is_some() {
                count(shared, rule::SQS_DELETED_RECENTLY);
                let code = "AWS.SimpleQueueService.QueueDeletedRecently";
                return error_response(call, 400, code, DELETED_RECENTLY, request_id);
            }
            forward(shared, call, parts, body, request_id).await
        }
        "GetQueueUrl" => {
            let name = field("QueueName").unwrap_or_default();
            match memory(&|m| m.by_name(&name)) {
                Some(d) => {
                    count(shared, rule::SQS_DELETED_RECENTLY);
                    json_response(call, 200, serde_json::json!({"QueueUrl": d.url}))
                }
                None => forward(shared, call, parts, body, request_id).await,
            }
        }
        "ListQueueTags" | "GetQueueAttributes" => {
            let url = field("QueueUrl").unwrap_or_default();
            match memory(&|m| m.by_url(&url)) {
                Some(d) => {
                    count(shared, rule::SQS_DELETED_RECENTLY);
                    let answer = if call.operation == "ListQueueTags" { d.tags } else { d.attributes };
                    json_response(call, 200, answer)
                }
                None => forward(shared, call, parts, body, request_id).await,
            }
        }
        "DeleteQueue" => {
            let url = field("QueueUrl").unwrap_or_default();
            if memory(&|m| m.by_url(&url)).is_some() {
                // Deleting a dying queue again succeeds, as its reads do.
                count(shared, rule::SQS_DELETED_RECENTLY);
                return json_response(call, 200, serde_json::json!({}));
            }
            let tags = read(shared, "ListQueueTags", serde_json::json!({"QueueUrl": url})).await;
            let attributes =
                read(shared, "GetQueueAttributes", serde_json::json!({"QueueUrl": url, "AttributeNames": ["All"]}))
                    .await;
            let answer = forward(shared, call, parts, body, request_id).await;
            if answer.status().is_success()
                && let (Some(tags), Some(attributes)) = (tags, attributes)
            {
                let dying = Dying { url: url.clone(), until: Instant::now() + HOLD, tags, attributes };
                shared.state().strict.queues.dying.insert(name_of(&url).to_string(), dying);
            }
            answer
        }
        _ => forward(shared, call, parts, body, request_id).await,
    }
}

/// One read of the rule's own on the emulator, in the SQS JSON protocol:
/// its answer, or `None` when it failed.
async fn read(shared: &Shared, operation: &str, body: Json) -> Option<Json> {
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0";
    let body = Bytes::from(body.to_string());
    let request = Request::builder()
        .method(Method::POST)
        .uri(format!("{}/", shared.upstream))
        .header("authorization", auth)
        .header("x-amz-target", format!("AmazonSQS.{operation}"))
        .header(CONTENT_TYPE, "application/x-amz-json-1.0")
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(body))
        .ok()?;
    let response = tokio::time::timeout(UPSTREAM_TIMEOUT, shared.client.request(request)).await.ok()?.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}
