//! `cairn check`: proves a deployed stack works, edge by edge.
//!
//! Every edge of the deployed graph that carries something (a rule sending
//! to its target, a topic delivering to a subscriber, a filter counting log
//! lines, an alarm notifying a topic, a trail delivering, a function
//! running, a queue draining into a function, an instance shipping its
//! logs) is exercised with AWS's own hooks where they exist
//! (`TestEventPattern`, `TestMetricFilter`, `SetAlarmState`, `Invoke`) and a
//! temporary subscriber queue where something must be seen to arrive.
//!
//! Each edge ends `pass`, `fail` (with what is broken) or `skipped` (with
//! why it could not be tried); an edge that needs AWS to run something the
//! endpoint does not run (an emulator: no Lambda runtime, no alarm
//! actions, no agent on instances) is skipped, never passed.
//!
//! The temporary queues are tagged like a deployment of their own (the
//! stack's name, a lineage of the run, `cairn:expires` an hour ahead and
//! `cairn:check`), so `cairn sweep` finds what a killed run left; their
//! subscriptions are found with them (see [`crate::sweep`]).

mod edges;
mod subscriber;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_engine::kind::Environment;
use cairn_engine::state::{ResourceState, State};
use serde::Serialize;
use serde_json::Value as Json;

use crate::clients::Clients;

pub use subscriber::Scratch;

/// The tag marking a temporary resource of `cairn check`; its value is the
/// stack checked.
pub const TAG_CHECK: &str = "cairn:check";

/// How an edge came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skipped,
}

/// One edge's result.
#[derive(Clone, Debug, Serialize)]
pub struct EdgeReport {
    /// How the edge reads, e.g. `ec2-state -> alerts`.
    pub edge: String,
    /// What was checked: `rule-target`, `topic-subscriber`, `metric-filter`,
    /// `alarm-topic`, `trail`, `function`, `queue-mapping-function`,
    /// `instance-logs`.
    pub check: &'static str,
    /// The stack's resource ids the edge joins.
    pub ids: Vec<String>,
    pub result: Outcome,
    /// What was seen: the evidence for a pass, what is broken for a fail,
    /// why for a skip.
    pub detail: String,
    pub seconds: f64,
}

/// What a check run needs.
pub struct Checker<'a> {
    pub clients: Arc<Clients>,
    pub env: &'a Environment,
    pub state: &'a State,
    /// How long to wait for something to arrive (a notification, a queue
    /// to drain, a log stream).
    pub timeout: Duration,
    /// Only edges touching these resource ids (none: every edge).
    pub only: Vec<String>,
    /// Where the temporary resources are kept track of.
    pub scratch: Arc<Scratch>,
}

/// One edge to check, as found in the state.
#[derive(Clone, Debug)]
enum Edge {
    RuleTarget { rule: String, target_arn: String, target: Option<String> },
    Subscription { topic_arn: String, topic: Option<String>, subscription: String },
    MetricFilter { filter: String, group: Option<String> },
    AlarmTopic { alarm: String, topic_arn: String, topic: Option<String> },
    Trail { trail: String },
    Function { function: String },
    Mapping { mapping: String, queue: Option<String>, function: Option<String> },
    InstanceLogs { instance: String, group: String },
}

impl Edge {
    fn check(&self) -> &'static str {
        match self {
            Edge::RuleTarget { .. } => "rule-target",
            Edge::Subscription { .. } => "topic-subscriber",
            Edge::MetricFilter { .. } => "metric-filter",
            Edge::AlarmTopic { .. } => "alarm-topic",
            Edge::Trail { .. } => "trail",
            Edge::Function { .. } => "function",
            Edge::Mapping { .. } => "queue-mapping-function",
            Edge::InstanceLogs { .. } => "instance-logs",
        }
    }

    fn ids(&self) -> Vec<String> {
        let all: Vec<Option<&String>> = match self {
            Edge::RuleTarget { rule, target, .. } => vec![Some(rule), target.as_ref()],
            Edge::Subscription { topic, subscription, .. } => vec![topic.as_ref(), Some(subscription)],
            Edge::MetricFilter { filter, group } => vec![group.as_ref(), Some(filter)],
            Edge::AlarmTopic { alarm, topic, .. } => vec![Some(alarm), topic.as_ref()],
            Edge::Trail { trail } => vec![Some(trail)],
            Edge::Function { function } => vec![Some(function)],
            Edge::Mapping { mapping, queue, function } => vec![queue.as_ref(), Some(mapping), function.as_ref()],
            Edge::InstanceLogs { instance, group } => vec![Some(instance), Some(group)],
        };
        all.into_iter().flatten().cloned().collect()
    }

    fn name(&self) -> String {
        let or_arn = |id: &Option<String>, arn: &str| id.clone().unwrap_or_else(|| arn.to_string());
        match self {
            Edge::RuleTarget { rule, target_arn, target } => format!("{rule} -> {}", or_arn(target, target_arn)),
            Edge::Subscription { topic_arn, topic, subscription } => {
                format!("{} -> {subscription}", or_arn(topic, topic_arn))
            }
            Edge::MetricFilter { filter, group } => match group {
                Some(g) => format!("{g} -> {filter}"),
                None => filter.clone(),
            },
            Edge::AlarmTopic { alarm, topic_arn, topic } => format!("{alarm} -> {}", or_arn(topic, topic_arn)),
            Edge::Trail { trail } => format!("{trail} (delivery)"),
            Edge::Function { function } => format!("{function} (invoke)"),
            Edge::Mapping { mapping, queue, function } => format!(
                "{} -> {mapping} -> {}",
                queue.as_deref().unwrap_or("queue"),
                function.as_deref().unwrap_or("function")
            ),
            Edge::InstanceLogs { instance, group } => format!("{instance} -> {group}"),
        }
    }
}

/// What a failed call says, for `map_err`: [`aws_error`]'s line, as text.
fn failed<E, R>(
    action: impl Into<String>,
) -> impl FnOnce(aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::Answer,
{
    let action = action.into();
    move |e| crate::error::aws_error(&action, &e).to_string()
}

/// The resource whose ARN (or physical id) this is.
fn by_arn<'s>(state: &'s State, arn: &str) -> Option<(&'s String, &'s ResourceState)> {
    state.resources.iter().find(|(_, r)| r.physical_id == arn || r.attrs.get("arn").and_then(Json::as_str) == Some(arn))
}

fn prop<'r>(r: &'r ResourceState, key: &str) -> Option<&'r str> {
    r.props.get(key).and_then(Json::as_str)
}

/// A log group's name from its ARN (`arn:…:log-group:NAME` or `…:NAME:*`).
fn log_group_name(arn: &str) -> &str {
    let name = arn.split_once(":log-group:").map_or(arn, |(_, n)| n);
    name.strip_suffix(":*").unwrap_or(name)
}

/// Every edge the state's resources make, in the state's order.
fn edges(state: &State) -> Vec<Edge> {
    let mut out = Vec::new();
    let group_id = |name: &str| {
        state
            .resources
            .iter()
            .find(|(_, r)| r.kind == "aws:logs:LogGroup" && r.physical_id == name)
            .map(|(id, _)| id.clone())
    };
    let agent_configs: Vec<&str> =
        state.resources.values().filter(|r| r.kind == "aws:ssm:Parameter").filter_map(|r| prop(r, "value")).collect();
    for (id, r) in &state.resources {
        match r.kind.as_str() {
            "aws:events:Rule" => {
                for t in r.props.get("targets").and_then(Json::as_array).into_iter().flatten() {
                    let Some(arn) = t.get("arn").and_then(Json::as_str) else { continue };
                    let target = by_arn(state, arn).map(|(tid, _)| tid.clone());
                    out.push(Edge::RuleTarget { rule: id.clone(), target_arn: arn.to_string(), target });
                }
            }
            "aws:sns:Subscription" => {
                let topic_arn = prop(r, "topic").unwrap_or_default().to_string();
                let topic = by_arn(state, &topic_arn).map(|(tid, _)| tid.clone());
                out.push(Edge::Subscription { topic_arn, topic, subscription: id.clone() });
            }
            "aws:logs:MetricFilter" => {
                let group = prop(r, "log_group").and_then(group_id);
                out.push(Edge::MetricFilter { filter: id.clone(), group });
            }
            "aws:cloudwatch:Alarm" => {
                for arn in r.props.get("alarm_actions").and_then(Json::as_array).into_iter().flatten() {
                    let Some(arn) = arn.as_str().filter(|a| a.contains(":sns:")) else { continue };
                    let topic = by_arn(state, arn).map(|(tid, _)| tid.clone());
                    out.push(Edge::AlarmTopic { alarm: id.clone(), topic_arn: arn.to_string(), topic });
                }
            }
            "aws:cloudtrail:Trail" => out.push(Edge::Trail { trail: id.clone() }),
            "aws:lambda:Function" => out.push(Edge::Function { function: id.clone() }),
            "aws:lambda:EventSourceMapping" => {
                let source = prop(r, "source").unwrap_or_default();
                if !source.contains(":sqs:") {
                    continue;
                }
                let queue = by_arn(state, source).map(|(q, _)| q.clone());
                let function = prop(r, "function").and_then(|f| {
                    by_arn(state, f).map(|(fid, _)| fid.clone()).or_else(|| {
                        state
                            .resources
                            .iter()
                            .find(|(_, x)| x.kind == "aws:lambda:Function" && x.physical_id == f)
                            .map(|(fid, _)| fid.clone())
                    })
                });
                out.push(Edge::Mapping { mapping: id.clone(), queue, function });
            }
            "aws:ec2:Instance" => {
                // The log groups an agent configuration in the stack names.
                for (gid, g) in state.resources.iter().filter(|(_, g)| g.kind == "aws:logs:LogGroup") {
                    let quoted = format!("\"{}\"", g.physical_id);
                    if agent_configs.iter().any(|c| c.contains(&quoted)) {
                        out.push(Edge::InstanceLogs { instance: id.clone(), group: gid.clone() });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The edges to try: every one, or those touching a resource of `only`.
fn selected(state: &State, only: &[String]) -> Vec<Edge> {
    edges(state).into_iter().filter(|e| only.is_empty() || e.ids().iter().any(|id| only.contains(id))).collect()
}

/// How many edges [`run`] would try.
pub fn edge_count(state: &State, only: &[String]) -> usize {
    selected(state, only).len()
}

/// Checks every edge (or those touching `only`), reporting each as it ends;
/// returns them in the state's order. Function edges run before the
/// mappings that feed those functions, so a function that cannot run here
/// skips its queue too, sending nothing.
pub async fn run(cx: &Checker<'_>, on_done: &(dyn Fn(&EdgeReport) + Sync)) -> Vec<EdgeReport> {
    let all = selected(cx.state, &cx.only);
    let endpoint = cx.clients.config().await.endpoint_url().map(str::to_string);
    let probe = edges::Probe { cx, endpoint };
    let timed = |e: &Edge, results: &BTreeMap<String, (Outcome, String)>| {
        let probe = &probe;
        let e = e.clone();
        let results = results.clone();
        async move {
            let t0 = Instant::now();
            let (result, detail) = probe.edge(&e, &results).await;
            let report = EdgeReport {
                edge: e.name(),
                check: e.check(),
                ids: e.ids(),
                result,
                detail,
                seconds: t0.elapsed().as_secs_f64(),
            };
            on_done(&report);
            report
        }
    };
    let (first, later): (Vec<&Edge>, Vec<&Edge>) = all.iter().partition(|e| !matches!(e, Edge::Mapping { .. }));
    let none = BTreeMap::new();
    let mut reports: Vec<EdgeReport> = futures::future::join_all(first.iter().map(|e| timed(e, &none))).await;
    let functions: BTreeMap<String, (Outcome, String)> = reports
        .iter()
        .filter(|r| r.check == "function")
        .map(|r| (r.ids[0].clone(), (r.result, r.detail.clone())))
        .collect();
    reports.extend(futures::future::join_all(later.iter().map(|e| timed(e, &functions))).await);
    let order: Vec<String> = all.iter().map(Edge::name).collect();
    reports.sort_by_key(|r| order.iter().position(|n| *n == r.edge));
    reports
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(kind: &str, physical_id: &str, props: Json, attrs: Json) -> ResourceState {
        serde_json::from_value(json!({
            "kind": kind, "physical_id": physical_id, "props": props, "attrs": attrs
        }))
        .expect("a resource record")
    }

    #[test]
    fn edges_follow_the_deployed_graph() {
        let mut state = State::new("lab");
        let topic = "arn:aws:sns:us-east-1:1:lab-alerts";
        let r = &mut state.resources;
        r.insert("alerts".into(), res("aws:sns:Topic", topic, json!({}), json!({"arn": topic})));
        r.insert("mail".into(), res("aws:sns:Subscription", &format!("{topic}:x"), json!({"topic": topic}), json!({})));
        r.insert(
            "rule".into(),
            res("aws:events:Rule", "arn:r", json!({"targets": [{"arn": topic}, {"arn": "arn:aws:sqs:x"}]}), json!({})),
        );
        r.insert("logs".into(), res("aws:logs:LogGroup", "/trail", json!({}), json!({})));
        r.insert(
            "count".into(),
            res("aws:logs:MetricFilter", "/trail:count", json!({"log_group": "/trail"}), json!({})),
        );
        r.insert(
            "alarm".into(),
            res("aws:cloudwatch:Alarm", "alarm", json!({"alarm_actions": [topic, "arn:aws:automate:x"]}), json!({})),
        );
        let names: Vec<String> = edges(&state).iter().map(Edge::name).collect();
        assert_eq!(
            names,
            ["alarm -> alerts", "logs -> count", "alerts -> mail", "rule -> alerts", "rule -> arn:aws:sqs:x"]
        );
    }

    #[test]
    fn log_group_names_come_out_of_their_arns() {
        assert_eq!(log_group_name("arn:aws:logs:us-east-1:1:log-group:/cairn/x:*"), "/cairn/x");
        assert_eq!(log_group_name("arn:aws:logs:us-east-1:1:log-group:/cairn/x"), "/cairn/x");
    }
}
