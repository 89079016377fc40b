//! Lambda's settling states: a function `Pending` after its create and
//! `InProgress` after each update, refusing further changes meanwhile; an
//! event source mapping `Creating`, `Enabling`, `Updating` and `Deleting`,
//! refusing changes until it settles. moto answers every one settled at
//! once. A thing settles after [`SETTLE_POLLS`] reads of it, or
//! [`SETTLE_TIME`] after the change, whichever comes first, as AWS settles
//! in time whether or not anyone looks.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;
use serde_json::Value as Json;

use super::super::classify::Call;
use super::super::{Shared, forward};
use super::{count, json_body, percent_decode, rebuilt, rule};
use crate::emulator::ACCOUNT_ID;

/// Reads that still see a change in progress.
pub(super) const SETTLE_POLLS: u32 = 2;
/// How long a change takes at most when nobody reads.
pub(super) const SETTLE_TIME: Duration = Duration::from_secs(5);

/// A change in progress.
#[derive(Clone, Debug)]
struct Settling {
    /// What reads answer meanwhile, one entry per read (the last repeats).
    states: Vec<&'static str>,
    reads: u32,
    since: Instant,
}

impl Settling {
    fn new(states: Vec<&'static str>) -> Settling {
        Settling { states, reads: 0, since: Instant::now() }
    }

    fn settled(&self) -> bool {
        self.reads >= SETTLE_POLLS || self.since.elapsed() >= SETTLE_TIME
    }

    /// The state this read sees.
    fn read(&mut self) -> &'static str {
        let i = (self.reads as usize).min(self.states.len().saturating_sub(1));
        self.reads += 1;
        self.states.get(i).copied().unwrap_or("")
    }
}

/// What the two rules remember.
#[derive(Debug, Default)]
pub(in crate::proxy) struct Memory {
    /// Functions by name: `Pending` (created) or `InProgress` (updated).
    functions: HashMap<String, Settling>,
    /// Mappings by UUID, with the body of a deleted one to answer with.
    mappings: HashMap<String, (Settling, Option<Json>)>,
}

/// The function a Lambda path names (`/2015-03-31/functions/NAME/...`,
/// NAME a name, a partial or full ARN, maybe with a qualifier).
fn function_of(path: &str) -> Option<String> {
    let mut segs = path.split('/').filter(|s| !s.is_empty()).skip(1);
    if segs.next()? != "functions" {
        return None;
    }
    let raw = percent_decode(segs.next()?);
    Some(function_name(&raw))
}

fn function_name(raw: &str) -> String {
    let name = match raw.split_once(":function:") {
        Some((_, rest)) => rest,
        None => raw,
    };
    name.split(':').next().unwrap_or(name).to_string()
}

fn mapping_of(path: &str) -> Option<String> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [_, "event-source-mappings", uuid] => Some((*uuid).to_string()),
        _ => None,
    }
}

/// Lambda calls with [`rule::LAMBDA_PENDING`] or
/// [`rule::LAMBDA_MAPPING_STATES`] on.
pub(super) async fn serve(
    shared: &Shared,
    (functions_on, mappings_on): (bool, bool),
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
    region: &str,
) -> Response<Full<Bytes>> {
    let path = parts.uri.path().to_string();
    let op = call.operation.as_str();
    if functions_on && let Some(answer) = refused_while_settling(shared, call, request_id, region, &path) {
        return answer;
    }
    if mappings_on && op.contains("EventSourceMapping") {
        return mapping_call(shared, call, parts, body, request_id, &path).await;
    }
    let answer = forward(shared, call, parts, body, request_id).await;
    if !functions_on {
        return answer;
    }
    after_function_call(shared, op, &path, answer).await
}

/// Refuses a change while the function is settling; `None` to go on.
fn refused_while_settling(
    shared: &Shared,
    call: &Call,
    request_id: &str,
    region: &str,
    path: &str,
) -> Option<Response<Full<Bytes>>> {
    // The calls AWS refuses while an update is in progress: code,
    // configuration, versions, and the resource policy.
    const REFUSED: &[&str] =
        &["UpdateFunctionCode", "UpdateFunctionConfiguration", "PublishVersion", "AddPermission", "RemovePermission"];
    if !REFUSED.contains(&call.operation.as_str()) {
        return None;
    }
    let name = function_of(path)?;
    let busy = {
        let mut state = shared.state();
        let functions = &mut state.strict.states.functions;
        match functions.get(&name) {
            Some(s) if s.settled() => {
                functions.remove(&name);
                None
            }
            Some(s) => s.states.first().copied(),
            None => None,
        }
    }?;
    count(shared, rule::LAMBDA_PENDING);
    let arn = format!("arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}");
    let message = if busy == "Pending" {
        "The operation cannot be performed at this time. The function is currently in the following state: Pending"
            .to_string()
    } else {
        format!("The operation cannot be performed at this time. An update is in progress for resource: {arn}")
    };
    Some(super::super::shape::error_response(call, 409, "ResourceConflictException", &message, request_id))
}

/// After a call went through: remembers a create or update, rewrites what
/// it and the reads after it answer.
async fn after_function_call(
    shared: &Shared,
    op: &str,
    path: &str,
    answer: Response<Full<Bytes>>,
) -> Response<Full<Bytes>> {
    if !answer.status().is_success() {
        return answer;
    }
    let (parts, mut json) = match json_body(answer).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    match op {
        "CreateFunction" | "UpdateFunctionCode" | "UpdateFunctionConfiguration" => {
            let Some(name) = json.get("FunctionName").and_then(Json::as_str).map(str::to_string) else {
                return rebuilt(parts, &json);
            };
            let creating = op == "CreateFunction";
            let states = if creating { vec!["Pending"] } else { vec!["InProgress"] };
            shared.state().strict.states.functions.insert(name, Settling::new(states));
            settling(&mut json, creating);
        }
        "GetFunction" | "GetFunctionConfiguration" => {
            let Some(name) = function_of(path) else { return rebuilt(parts, &json) };
            let seen = {
                let mut state = shared.state();
                let functions = &mut state.strict.states.functions;
                match functions.get_mut(&name) {
                    Some(s) if s.settled() => {
                        functions.remove(&name);
                        None
                    }
                    Some(s) => Some(s.read()),
                    None => None,
                }
            };
            if let Some(state) = seen {
                let config = if op == "GetFunction" { json.get_mut("Configuration") } else { Some(&mut json) };
                if let Some(config) = config {
                    settling(config, state == "Pending");
                }
                count(shared, rule::LAMBDA_PENDING);
            }
        }
        "DeleteFunction" => {
            if let Some(name) = function_of(path) {
                shared.state().strict.states.functions.remove(&name);
            }
        }
        _ => {}
    }
    rebuilt(parts, &json)
}

/// A function configuration as AWS shows it while a change is in progress.
fn settling(config: &mut Json, creating: bool) {
    let Some(o) = config.as_object_mut() else { return };
    if creating {
        o.insert("State".into(), "Pending".into());
        o.insert("StateReason".into(), "The function is being created.".into());
        o.insert("StateReasonCode".into(), "Creating".into());
        o.insert("LastUpdateStatusReason".into(), "The function is being created.".into());
    } else {
        o.insert("State".into(), "Active".into());
        o.insert("LastUpdateStatusReason".into(), "The function is being updated.".into());
    }
    o.insert("LastUpdateStatus".into(), "InProgress".into());
    o.remove("LastUpdateStatusReasonCode");
}

/// Mapping calls: states on create, reads, updates and deletes.
async fn mapping_call(
    shared: &Shared,
    call: &Call,
    parts: hyper::http::request::Parts,
    body: Bytes,
    request_id: &str,
    path: &str,
) -> Response<Full<Bytes>> {
    let op = call.operation.as_str();
    let uuid = mapping_of(path);
    // A change to a mapping not yet settled is refused; a read of one sees
    // its state (a deleted one still shows as Deleting).
    if let Some(uuid) = &uuid {
        let now = {
            let mut state = shared.state();
            let mappings = &mut state.strict.states.mappings;
            match mappings.get_mut(uuid) {
                Some((s, _)) if s.settled() => {
                    mappings.remove(uuid);
                    None
                }
                Some((s, deleted)) if op == "GetEventSourceMapping" => Some((s.read(), deleted.clone())),
                Some((s, deleted)) => Some((s.states.first().copied().unwrap_or(""), deleted.clone())),
                None => None,
            }
        };
        match (op, now) {
            ("GetEventSourceMapping", Some((state, Some(mut deleted)))) => {
                count(shared, rule::LAMBDA_MAPPING_STATES);
                deleted["State"] = state.into();
                return super::json_response(call, 200, deleted);
            }
            ("GetEventSourceMapping", Some((state, None))) => {
                let answer = forward(shared, call, parts, body, request_id).await;
                return with_mapping_state(shared, answer, state).await;
            }
            ("UpdateEventSourceMapping" | "DeleteEventSourceMapping", Some((state, deleted))) => {
                count(shared, rule::LAMBDA_MAPPING_STATES);
                if deleted.is_some() {
                    let message = format!("The resource you requested does not exist. (mapping {uuid}: {state})");
                    return super::super::shape::error_response(
                        call,
                        404,
                        "ResourceNotFoundException",
                        &message,
                        request_id,
                    );
                }
                let verb = if op == "UpdateEventSourceMapping" { "update" } else { "delete" };
                let message = format!("Cannot {verb} the event source mapping because it is in use.");
                return super::super::shape::error_response(call, 400, "ResourceInUseException", &message, request_id);
            }
            _ => {}
        }
    }
    let answer = forward(shared, call, parts, body, request_id).await;
    if !answer.status().is_success() {
        return answer;
    }
    let (parts, mut json) = match json_body(answer).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let id = json.get("UUID").and_then(Json::as_str).map(str::to_string);
    let first = match op {
        "CreateEventSourceMapping" => {
            let enabled = json.get("State").and_then(Json::as_str) != Some("Disabled");
            let states = if enabled { vec!["Creating", "Enabling"] } else { vec!["Creating"] };
            Some((states, None))
        }
        "UpdateEventSourceMapping" => Some((vec!["Updating"], None)),
        "DeleteEventSourceMapping" => {
            let mut gone = json.clone();
            gone["State"] = "Deleting".into();
            Some((vec!["Deleting"], Some(gone)))
        }
        _ => None,
    };
    if let (Some(id), Some((states, deleted))) = (id, first) {
        json["State"] = states[0].into();
        json["StateTransitionReason"] = "USER_INITIATED".into();
        count(shared, rule::LAMBDA_MAPPING_STATES);
        shared.state().strict.states.mappings.insert(id, (Settling::new(states), deleted));
    }
    rebuilt(parts, &json)
}

async fn with_mapping_state(shared: &Shared, answer: Response<Full<Bytes>>, state: &str) -> Response<Full<Bytes>> {
    if !answer.status().is_success() {
        return answer;
    }
    match json_body(answer).await {
        Ok((parts, mut json)) => {
            json["State"] = state.into();
            count(shared, rule::LAMBDA_MAPPING_STATES);
            rebuilt(parts, &json)
        }
        Err(answer) => answer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_named_by_name_or_arn() {
        assert_eq!(function_of("/2015-03-31/functions/f1/configuration").as_deref(), Some("f1"));
        let arn = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af2%3A%24LATEST/code";
        assert_eq!(function_of(arn).as_deref(), Some("f2"));
        assert_eq!(function_of("/2015-03-31/event-source-mappings/u"), None);
        assert_eq!(mapping_of("/2015-03-31/event-source-mappings/u1").as_deref(), Some("u1"));
    }

    #[test]
    fn a_change_settles_after_its_reads() {
        let mut s = Settling::new(vec!["Creating", "Enabling"]);
        assert!(!s.settled());
        assert_eq!((s.read(), s.read()), ("Creating", "Enabling"));
        assert!(s.settled());
    }
}
