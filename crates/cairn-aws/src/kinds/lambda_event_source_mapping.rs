//! `aws:lambda:EventSourceMapping`: a Lambda function polling an SQS queue.
//! Physical id: the mapping's UUID.
//!
//! Mappings move through Creating/Enabling/Updating/Disabling/Deleting:
//! create and update wait for a stable state, delete waits until it is gone.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::types::{FunctionResponseType, ScalingConfig};
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::lambda_function::set_tags;
use crate::kinds::lambda_function::{already_exists, retrying};
use crate::kinds::unresolved;
use crate::retry::{self, Backoff, Waits};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A mapping that makes Lambda poll an SQS queue and invoke a function with
/// batches of messages.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventSourceMappingProps {
    /// The function: name or ARN.
    pub function: String,
    /// The source: an SQS queue ARN.
    pub source: String,
    /// Records per batch, 1-10000 (at most 10 for a FIFO queue, and above 10
    /// only with a batching window). Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Seconds to gather records before invoking, 0-300. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching_window: Option<u32>,
    /// Whether Lambda polls. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Most concurrent invocations from this queue, 2-1000; unset: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_max_concurrency: Option<u32>,
    /// The function reports failed items, so only those are retried.
    #[serde(default)]
    pub report_batch_item_failures: bool,
}

/// The `aws:lambda:EventSourceMapping` kind.
pub struct EventSourceMapping {
    clients: Arc<Clients>,
}

impl EventSourceMapping {
    pub fn new(clients: Arc<Clients>) -> Self {
        EventSourceMapping { clients }
    }
}

const DEFAULT_BATCH_SIZE: u32 = 10;

#[async_trait]
impl TypedKind for EventSourceMapping {
    const TYPE: &'static str = "aws:lambda:EventSourceMapping";
    const ATTRIBUTES: &'static [&'static str] = &["id", "arn"];
    const REPLACE_ON: &'static [&'static str] = &["function", "source"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp {
            path: &["function"],
            when: None,
            accepts: &[AttrType::Arn("aws:lambda:Function"), AttrType::Name("aws:lambda:Function")],
        },
        RefProp { path: &["source"], when: None, accepts: &[AttrType::Arn("aws:sqs:Queue")] },
    ];
    type Props = EventSourceMappingProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the mapping's UUID",
        attributes: &[("id", "the mapping's UUID"), ("arn", "the mapping's ARN")],
        quirks: &[
            "Mappings move through Creating, Enabling, Updating and Deleting: create and update wait for a stable state, delete until it is gone.",
            "AWS refuses a second mapping of the same queue and function: the create is sent once before any retry, and a mapping an earlier try made is found by its tags.",
            "Lambda checks the function's role when the mapping is made: cairn derives the role's queue permissions and makes the mapping wait for them.",
            "A queue whose visibility timeout is shorter than the function's timeout is refused at validate, as AWS would at apply.",
        ],
    };

    fn defaults(props: &mut EventSourceMappingProps, _cx: &NameCtx<'_>) {
        props.batch_size.get_or_insert(DEFAULT_BATCH_SIZE);
        props.batching_window.get_or_insert(0);
        props.enabled.get_or_insert(true);
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &EventSourceMappingProps, errors: &mut Vec<PropError>) {
        if props.function.is_empty() {
            errors.push(PropError::new(&["function"], "the function is empty").expected("a function name or ARN"));
        }
        if !(unresolved(&props.source) || props.source.starts_with("arn:")) {
            errors.push(
                PropError::new(&["source"], format!("`{}` is not an ARN", props.source))
                    .expected("an SQS queue ARN, e.g. `${jobs.arn}`"),
            );
        }
        let fifo = props.source.ends_with(".fifo");
        let window = props.batching_window.unwrap_or(0);
        if let Some(b) = props.batch_size {
            let max = if fifo { 10 } else { 10_000 };
            if !(1..=max).contains(&b) {
                errors.push(
                    PropError::new(&["batch_size"], format!("batch size is {b}")).expected(format!("1 to {max}")),
                );
            } else if b > 10 && window == 0 {
                errors.push(
                    PropError::new(&["batch_size"], format!("batch size {b} needs a batching window"))
                        .expected("`batching_window` of at least 1 second, or a batch size of at most 10"),
                );
            }
        }
        if window > 300 {
            errors.push(
                PropError::new(&["batching_window"], format!("batching window is {window} seconds"))
                    .expected("0 to 300 seconds"),
            );
        }
        if let Some(c) = props.scaling_max_concurrency
            && !(2..=1000).contains(&c)
        {
            errors.push(
                PropError::new(&["scaling_max_concurrency"], format!("maximum concurrency is {c}"))
                    .expected("2 to 1000"),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(
        &self,
        cx: &OpCtx,
        props: &EventSourceMappingProps,
    ) -> Result<Observed<EventSourceMappingProps>, OpError> {
        let lambda = self.clients.lambda().await;
        let action = format!("creating Lambda event source mapping {} -> {}", props.source, props.function);

        // AWS refuses a second mapping of the same queue and function; this
        // stack's own (from a run that died before saving state) is adopted.
        if let Some(adopted) = self.adopt(cx, props, &action).await? {
            return Ok(adopted);
        }

        let waits = self.clients.waits();
        let req = lambda
            .create_event_source_mapping()
            .function_name(&props.function)
            .event_source_arn(&props.source)
            .set_batch_size(props.batch_size.map(to_i32))
            .set_maximum_batching_window_in_seconds(props.batching_window.map(to_i32))
            .enabled(props.enabled.unwrap_or(true))
            .set_scaling_config(props.scaling_max_concurrency.map(scaling))
            .set_function_response_types(Some(response_types(props.report_batch_item_failures)))
            .set_tags(Some(cx.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
        // One try first, with the SDK's own retries off: if it is answered,
        // exactly one request reached AWS, so no duplicate can exist. Only
        // when it was not (throttled, 5xx, lost answer, IAM not ready) does
        // the usual path run, and then each try may have made a mapping.
        let single = aws_sdk_lambda::config::Builder::default()
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled());
        let first = req.clone().customize().config_override(single).send().await;
        let (out, retried) = match first {
            Ok(out) => (out, false),
            Err(_) => match retrying(cx, waits, &action, || req.clone().send()).await {
                Ok(out) => (out, true),
                // An earlier try of this call made the mapping, but its answer
                // was lost: the tags sent with it tell.
                Err(f) if already_exists(&f.error) => {
                    return match self.adopt(cx, props, &action).await? {
                        Some(adopted) => Ok(adopted),
                        None => Err(f.op_error(&action)),
                    };
                }
                Err(f) => return Err(f.op_error(&action)),
            },
        };
        let Some(uuid) = out.uuid() else {
            return Err(OpError::failed(format!("{action}: AWS returned no mapping id")));
        };
        let created = live_mapping!(out, uuid);
        let live = if retried {
            // Independent: the duplicates check lists (and deletes), the wait
            // gets; both run to their end, whichever fails.
            let (swept, live) = tokio::join!(
                self.remove_duplicates(cx, props, uuid, &action),
                wait_until_settled(lambda, cx, waits, uuid, &action)
            );
            swept?;
            live?
        } else if is_settled(&created.state) {
            created
        } else {
            wait_until_settled(lambda, cx, waits, uuid, &action).await?
        };
        Ok(observed(&live, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        uuid: &str,
        last: &EventSourceMappingProps,
    ) -> Result<Option<Observed<EventSourceMappingProps>>, OpError> {
        let lambda = self.clients.lambda().await;
        let live = find_mapping(lambda, uuid)
            .await
            .map_err(|e| OpError::failed(format!("reading Lambda event source mapping {uuid}: {e}")))?;
        // A mapping being deleted is as good as gone.
        Ok(live.filter(|l| l.state != "Deleting").map(|l| observed(&l, l.props(last))))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        uuid: &str,
        _old: &EventSourceMappingProps,
        new: &EventSourceMappingProps,
    ) -> Result<Observed<EventSourceMappingProps>, OpError> {
        let lambda = self.clients.lambda().await;
        let action = format!("updating Lambda event source mapping {uuid}");
        let Some(live) = find_mapping(lambda, uuid).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Err(OpError::failed(format!("{action}: the mapping no longer exists")));
        };
        self.converge(cx, &live, new, &action).await
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, uuid: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let lambda = self.clients.lambda().await;
        let what = format!("Lambda event source mapping {uuid}");
        live_tags_of(&what, find_mapping_arn(lambda, uuid), |arn| async move { mapping_tags(lambda, &arn).await }).await
    }

    async fn add_tags(&self, _cx: &OpCtx, uuid: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let lambda = self.clients.lambda().await;
        let what = format!("Lambda event source mapping {uuid}");
        add_tags_to(&what, find_mapping_arn(lambda, uuid), |arn, action| async move {
            set_tags(lambda, &arn, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, uuid: &str, _props: &EventSourceMappingProps) -> Result<(), OpError> {
        let lambda = self.clients.lambda().await;
        let action = format!("deleting Lambda event source mapping {uuid}");
        let waits = self.clients.waits();
        let req = lambda.delete_event_source_mapping().uuid(uuid);
        match retrying(cx, waits, &action, || req.clone().send()).await {
            Ok(_) => {}
            Err(f) if is_not_found(&f.error) => return Ok(()),
            Err(f) => return Err(f.op_error(&action)),
        }
        wait_until_gone(lambda, cx, waits, uuid, &action).await
    }
}

impl EventSourceMapping {
    /// The existing mapping of this queue and function (AWS allows one),
    /// taken over if its tags say it is this resource's and brought to
    /// `want`; `None` if there is none.
    async fn adopt(
        &self,
        cx: &OpCtx,
        want: &EventSourceMappingProps,
        action: &str,
    ) -> Result<Option<Observed<EventSourceMappingProps>>, OpError> {
        let lambda = self.clients.lambda().await;
        let existing = same_mappings(lambda, want).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        for (uuid, _) in existing {
            let Some(live) =
                find_mapping(lambda, &uuid).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
            else {
                continue;
            };
            if live.state == "Deleting" {
                continue;
            }
            let tags = mapping_tags(lambda, &live.arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            cx.ensure_owns(&tags, format!("Lambda event source mapping {uuid}"))?;
            let live = wait_until_settled(lambda, cx, self.clients.waits(), &uuid, action).await?;
            return self.converge(cx, &live, want, action).await.map(Some);
        }
        Ok(None)
    }

    /// Deletes the other mappings of this queue and function that carry this
    /// resource's tags, keeping `keep`. AWS refuses a second mapping, but an
    /// emulator that does not makes one per try of a create whose answer was
    /// lost; the tags prove they were made for this resource.
    async fn remove_duplicates(
        &self,
        cx: &OpCtx,
        want: &EventSourceMappingProps,
        keep: &str,
        action: &str,
    ) -> Result<(), OpError> {
        let lambda = self.clients.lambda().await;
        let waits = self.clients.waits();
        let existing = same_mappings(lambda, want).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        for (uuid, arn) in existing.into_iter().filter(|(uuid, _)| uuid != keep) {
            let tags = match mapping_tags(lambda, &arn).await {
                Ok(tags) => tags,
                Err(e) => return Err(OpError::failed(format!("{action}: {e}"))),
            };
            if !cx.owns(&tags) {
                continue;
            }
            (cx.notify)(&format!("{action}: deleting duplicate mapping {uuid}, made by a try whose answer was lost"));
            let req = lambda.delete_event_source_mapping().uuid(&uuid);
            match retrying(cx, waits, action, || req.clone().send()).await {
                Ok(_) => wait_until_gone(lambda, cx, waits, &uuid, action).await?,
                Err(f) if is_not_found(&f.error) => {}
                Err(f) => return Err(f.op_error(&format!("{action}: deleting duplicate mapping {uuid}"))),
            }
        }
        Ok(())
    }

    async fn converge(
        &self,
        cx: &OpCtx,
        live: &LiveMapping,
        want: &EventSourceMappingProps,
        action: &str,
    ) -> Result<Observed<EventSourceMappingProps>, OpError> {
        let lambda = self.clients.lambda().await;
        let have = live.props(want);
        let live = if settings_differ(&have, want) {
            let req = lambda
                .update_event_source_mapping()
                .uuid(&live.uuid)
                .set_batch_size(want.batch_size.map(to_i32))
                .maximum_batching_window_in_seconds(to_i32(want.batching_window.unwrap_or(0)))
                .enabled(want.enabled.unwrap_or(true))
                // An empty scaling config removes the limit.
                .scaling_config(want.scaling_max_concurrency.map_or_else(|| ScalingConfig::builder().build(), scaling))
                .set_function_response_types(Some(response_types(want.report_batch_item_failures)));
            let waits = self.clients.waits();
            retrying(cx, waits, action, || req.clone().send()).await.map_err(|f| f.op_error(action))?;
            wait_until_settled(lambda, cx, waits, &live.uuid, action).await?
        } else {
            live.clone()
        };
        let tags = mapping_tags(lambda, &live.arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&tags, &cx.tags);
        set_tags(lambda, &live.arn, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            lambda
                .untag_resource()
                .resource(&live.arn)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(observed(&live, want.clone()))
    }
}

// ---- pure helpers ------------------------------------------------------------

fn settings_differ(have: &EventSourceMappingProps, want: &EventSourceMappingProps) -> bool {
    have.batch_size != want.batch_size
        || have.batching_window != want.batching_window
        || have.enabled != want.enabled
        || have.scaling_max_concurrency != want.scaling_max_concurrency
        || have.report_batch_item_failures != want.report_batch_item_failures
}

fn scaling(max: u32) -> ScalingConfig {
    ScalingConfig::builder().maximum_concurrency(to_i32(max)).build()
}

fn response_types(report: bool) -> Vec<FunctionResponseType> {
    if report { vec![FunctionResponseType::ReportBatchItemFailures] } else { Vec::new() }
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Whether a state is one a mapping rests in.
fn is_settled(state: &str) -> bool {
    matches!(state, "Enabled" | "Disabled" | "")
}

/// The function as the user named it when `live_arn` is that function.
fn function_as_read(live_arn: &str, last: &str) -> String {
    let name = live_arn.split(':').nth(6).unwrap_or(live_arn);
    if last == live_arn || last == name { last.to_string() } else { live_arn.to_string() }
}

fn observed(live: &LiveMapping, props: EventSourceMappingProps) -> Observed<EventSourceMappingProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("id".to_string(), Value::String(live.uuid.clone()));
    attrs.insert("arn".to_string(), Value::String(live.arn.clone()));
    Observed { physical_id: live.uuid.clone(), props, attrs }
}

// ---- waiters -------------------------------------------------------------------

async fn wait_until_settled(
    lambda: &aws_sdk_lambda::Client,
    cx: &OpCtx,
    waits: &Waits,
    uuid: &str,
    action: &str,
) -> Result<LiveMapping, OpError> {
    let mut backoff = Backoff::new(waits);
    loop {
        let live = find_mapping(lambda, uuid)
            .await
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?
            .ok_or_else(|| OpError::failed(format!("{action}: the mapping vanished")))?;
        if is_settled(&live.state) {
            return Ok(live);
        }
        let waiting = format!("waiting for the mapping to leave state {}", live.state);
        let Some(delay) = backoff.next_delay(waits.busy) else {
            return Err(OpError::failed(format!("{action}: {}", retry::gave_up(&waiting, backoff.elapsed()))));
        };
        (cx.notify)(&format!("{action}: {waiting}"));
        tokio::time::sleep(delay).await;
    }
}

async fn wait_until_gone(
    lambda: &aws_sdk_lambda::Client,
    cx: &OpCtx,
    waits: &Waits,
    uuid: &str,
    action: &str,
) -> Result<(), OpError> {
    let mut backoff = Backoff::new(waits);
    loop {
        let Some(live) = find_mapping(lambda, uuid).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Ok(());
        };
        let waiting = format!("waiting for the deletion to finish (state {})", live.state);
        let Some(delay) = backoff.next_delay(waits.busy) else {
            return Err(OpError::failed(format!("{action}: {}", retry::gave_up(&waiting, backoff.elapsed()))));
        };
        (cx.notify)(&format!("{action}: {waiting}"));
        tokio::time::sleep(delay).await;
    }
}

// ---- finders -----------------------------------------------------------------

/// A mapping as GetEventSourceMapping reports it.
#[derive(Clone, Debug)]
struct LiveMapping {
    uuid: String,
    arn: String,
    state: String,
    function_arn: String,
    source: String,
    batch_size: Option<u32>,
    batching_window: Option<u32>,
    scaling_max_concurrency: Option<u32>,
    report_batch_item_failures: bool,
}

impl LiveMapping {
    /// Props in canonical form; unset window reads as 0, and the function
    /// reads as the user wrote it (name or ARN) when it is the same one.
    fn props(&self, last: &EventSourceMappingProps) -> EventSourceMappingProps {
        EventSourceMappingProps {
            function: function_as_read(&self.function_arn, &last.function),
            source: self.source.clone(),
            batch_size: self.batch_size,
            batching_window: Some(self.batching_window.unwrap_or(0)),
            enabled: Some(matches!(self.state.as_str(), "Enabled" | "Enabling" | "Creating")),
            scaling_max_concurrency: self.scaling_max_concurrency,
            report_batch_item_failures: self.report_batch_item_failures,
        }
    }
}

/// A [`LiveMapping`] from an answer that describes one (Get, Create and
/// Update answer with the same fields, in different types).
macro_rules! live_mapping {
    ($out:expr, $uuid:expr) => {{
        let out = &$out;
        let to_u32 = |v: Option<i32>| v.and_then(|n| u32::try_from(n).ok());
        LiveMapping {
            uuid: out.uuid().unwrap_or($uuid).to_string(),
            arn: out.event_source_mapping_arn().unwrap_or_default().to_string(),
            state: out.state().unwrap_or_default().to_string(),
            function_arn: out.function_arn().unwrap_or_default().to_string(),
            source: out.event_source_arn().unwrap_or_default().to_string(),
            batch_size: to_u32(out.batch_size()),
            batching_window: to_u32(out.maximum_batching_window_in_seconds()),
            scaling_max_concurrency: to_u32(out.scaling_config().and_then(ScalingConfig::maximum_concurrency)),
            report_batch_item_failures: out
                .function_response_types()
                .contains(&FunctionResponseType::ReportBatchItemFailures),
        }
    }};
}
use live_mapping;

async fn find_mapping(lambda: &aws_sdk_lambda::Client, uuid: &str) -> Result<Option<LiveMapping>, String> {
    let out = match lambda.get_event_source_mapping().uuid(uuid).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_error("GetEventSourceMapping", &e).to_string()),
    };
    Ok(Some(live_mapping!(out, uuid)))
}

/// The mappings (UUID and ARN) of the queue and function `props` name.
async fn same_mappings(
    lambda: &aws_sdk_lambda::Client,
    props: &EventSourceMappingProps,
) -> Result<Vec<(String, String)>, String> {
    let out = match lambda
        .list_event_source_mappings()
        .function_name(&props.function)
        .event_source_arn(&props.source)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(Vec::new()),
        Err(e) => return Err(aws_error("ListEventSourceMappings", &e).to_string()),
    };
    Ok(out
        .event_source_mappings()
        .iter()
        .filter_map(|m| {
            let uuid = m.uuid()?.to_string();
            Some((uuid, m.event_source_mapping_arn().unwrap_or_default().to_string()))
        })
        .collect())
}

/// The ARN of the mapping (tagging calls take it; the physical id is its
/// UUID), or `None` when it is gone or being deleted; for import.
async fn find_mapping_arn(lambda: &aws_sdk_lambda::Client, uuid: &str) -> Result<Option<String>, String> {
    match find_mapping(lambda, uuid).await? {
        None => Ok(None),
        Some(live) if live.state == "Deleting" => Ok(None),
        Some(live) if live.arn.is_empty() => Err("GetEventSourceMapping returned no mapping ARN".to_string()),
        Some(live) => Ok(Some(live.arn)),
    }
}

async fn mapping_tags(lambda: &aws_sdk_lambda::Client, arn: &str) -> Result<BTreeMap<String, String>, String> {
    if arn.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = lambda.list_tags().resource(arn).send().await.map_err(|e| aws_error("ListTags", &e).to_string())?;
    Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<EventSourceMappingProps, Vec<PropError>> {
        let kind =
            cairn_engine::kind::typed(EventSourceMapping::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab6", id: "map", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    const Q: &str = "arn:aws:sqs:us-east-1:123456789012:jobs";

    #[test]
    fn defaults_are_filled() {
        let p = check(json!({"function": "f", "source": Q})).unwrap_or_default();
        assert_eq!((p.batch_size, p.batching_window, p.enabled), (Some(10), Some(0), Some(true)));
    }

    #[test]
    fn limits_are_checked_offline() {
        assert!(check(json!({"function": "f", "source": "jobs"})).is_err());
        assert!(check(json!({"function": "f", "source": "${jobs.arn}"})).is_ok());
        assert!(check(json!({"function": "f", "source": Q, "batch_size": 100})).is_err());
        assert!(check(json!({"function": "f", "source": Q, "batch_size": 100, "batching_window": 5})).is_ok());
        assert!(
            check(json!({"function": "f", "source": format!("{Q}.fifo"), "batch_size": 11, "batching_window": 5}))
                .is_err()
        );
        assert!(check(json!({"function": "f", "source": Q, "batching_window": 301})).is_err());
        assert!(check(json!({"function": "f", "source": Q, "scaling_max_concurrency": 1})).is_err());
    }

    #[test]
    fn function_reads_as_written() {
        let arn = "arn:aws:lambda:us-east-1:1:function:f";
        assert_eq!(function_as_read(arn, "f"), "f");
        assert_eq!(function_as_read(arn, arn), arn);
        assert_eq!(function_as_read(arn, "g"), arn);
    }

    #[test]
    fn only_resting_states_are_settled() {
        assert!(is_settled("Enabled") && is_settled("Disabled"));
        assert!(!is_settled("Creating") && !is_settled("Updating") && !is_settled("Enabling"));
    }
}
