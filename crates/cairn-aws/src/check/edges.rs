//! How each edge is tried: the reads that find it broken at once, then the
//! hook or the message that proves it carries something.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_lambda::types::LogType;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_types::Blob;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::brief;
use cairn_engine::state::ResourceState;
use cairn_patterns::event_pattern::{EventPattern, skeleton};
use cairn_patterns::filter_pattern::FilterPattern;
use cairn_policy::{Decision, Principal, Request};
use serde_json::Value as Json;

use super::{Checker, Edge, Outcome, failed, log_group_name, prop};
use crate::error::aws_error;

type Verdict = (Outcome, String);

fn pass(detail: impl Into<String>) -> Verdict {
    (Outcome::Pass, detail.into())
}

fn fail(detail: impl Into<String>) -> Verdict {
    (Outcome::Fail, detail.into())
}

fn skipped(detail: impl Into<String>) -> Verdict {
    (Outcome::Skipped, detail.into())
}

/// How a rule's pattern fared.
enum Tried {
    /// An event made to match it matched: how that was judged.
    Matched(String),
    /// What is broken.
    Broken(String),
    /// Why cairn could not try it (its own limit, not the rule's fault).
    Untried(String),
}

/// A pass, or a skip saying why part of the edge was not tried.
fn pass_unless(untried: Option<String>, said: String) -> Verdict {
    match untried {
        None => pass(said),
        Some(why) => skipped(format!("{why}{said}")),
    }
}

/// What a resource policy decides for a service sending to it.
struct Judged {
    decision: Decision,
    /// The action judged, e.g. `sns:Publish`.
    action: &'static str,
    /// The KMS key the resource is encrypted with, whose policy is not judged.
    key: Option<String>,
}

impl Judged {
    fn refusal(&self) -> &'static str {
        if self.decision == Decision::Deny { "denies" } else { "does not allow" }
    }

    fn key_note(&self) -> String {
        self.key.as_ref().map(|k| format!(" (its KMS key {k} must allow it too; not evaluated)")).unwrap_or_default()
    }
}

/// Tries edges against one account.
pub(super) struct Probe<'a> {
    pub cx: &'a Checker<'a>,
    /// The endpoint every call goes to when it is not AWS's own (an
    /// emulator): edges that need AWS to run something are skipped there.
    pub endpoint: Option<String>,
}

/// Whether an endpoint is AWS's own.
fn is_aws(endpoint: Option<&str>) -> bool {
    endpoint.is_none_or(|url| {
        let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or_default();
        host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn") || host.ends_with(".api.aws")
    })
}

impl Probe<'_> {
    fn resource(&self, id: &str) -> Option<&ResourceState> {
        self.cx.state.resources.get(id)
    }

    /// How long a new temporary subscription is given to take effect
    /// before anything is published: on AWS, a queue's new policy can take
    /// a moment to apply.
    fn settle(&self) -> Duration {
        if self.not_aws().is_some() { Duration::ZERO } else { Duration::from_secs(2) }
    }

    /// Why a run could not be seen, when the endpoint is not AWS's.
    fn not_aws(&self) -> Option<String> {
        match &self.endpoint {
            Some(url) if !is_aws(Some(url)) => Some(url.clone()),
            _ => None,
        }
    }

    pub(super) async fn edge(&self, edge: &Edge, functions: &BTreeMap<String, Verdict>) -> Verdict {
        let r = match edge {
            Edge::RuleTarget { rule, target_arn, target } => {
                self.rule_target(rule, target_arn, target.as_deref()).await
            }
            Edge::Subscription { topic_arn, subscription, .. } => self.subscription(topic_arn, subscription).await,
            Edge::MetricFilter { filter, .. } => self.metric_filter(filter).await,
            Edge::AlarmTopic { alarm, topic_arn, .. } => self.alarm_topic(alarm, topic_arn).await,
            Edge::Trail { trail } => self.trail(trail).await,
            Edge::Function { function } => self.function(function).await,
            Edge::Mapping { mapping, queue, function } => {
                self.mapping(mapping, queue.as_deref(), function.as_deref(), functions).await
            }
            Edge::InstanceLogs { instance, group } => self.instance_logs(instance, group).await,
        };
        r.unwrap_or_else(|e| fail(brief(&e)))
    }

    // ---- rule -> target -------------------------------------------------

    async fn rule_target(&self, rule: &str, target_arn: &str, target: Option<&str>) -> Result<Verdict, String> {
        let r = self.resource(rule).ok_or("not in state")?;
        let name = prop(r, "name").unwrap_or_default();
        let bus = prop(r, "event_bus").unwrap_or("default");
        let rule_arn = r.attrs.get("arn").and_then(Json::as_str).unwrap_or(&r.physical_id).to_string();
        let events = self.cx.clients.events().await;
        let live = match events.describe_rule().name(name).event_bus_name(bus).send().await {
            Ok(l) => l,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Ok(fail(format!("rule {name} is gone (deleted outside cairn): `cairn apply` makes it again")));
            }
            Err(e) => return Err(aws_error(&format!("reading rule {name}"), &e).to_string()),
        };
        if live.state().map(|s| s.as_str()) != Some("ENABLED") {
            let state = live.state().map_or("unknown", |s| s.as_str());
            return Ok(fail(format!("rule {name} is {state}: it sends nothing; `cairn apply` enables it again")));
        }
        let targets = events
            .list_targets_by_rule()
            .rule(name)
            .event_bus_name(bus)
            .send()
            .await
            .map_err(failed(format!("listing the targets of rule {name}")))?;
        let Some(live_target) = targets.targets().iter().find(|t| t.arn() == target_arn) else {
            return Ok(fail(format!(
                "rule {name} no longer sends to {target_arn} (its target was removed outside cairn): `cairn apply` puts it back"
            )));
        };
        let mut said = String::new();
        let mut untried = None;
        match live.event_pattern() {
            None => said.push_str("a scheduled rule (no pattern to try)"),
            Some(text) => match self.try_pattern(text).await? {
                Tried::Matched(how) => said.push_str(&how),
                Tried::Untried(why) => untried = Some(why),
                Tried::Broken(broken) => return Ok(fail(broken)),
            },
        }
        if let Some(role) = live_target.role_arn() {
            let _ = write!(said, "; delivered with role {role} (its policies are not evaluated)");
            return Ok(pass_unless(untried, said));
        }
        let what = target.unwrap_or(target_arn);
        match self.policy_for(target_arn, "events.amazonaws.com", &rule_arn).await? {
            Some(j) if j.decision == Decision::Allow => {
                let _ = write!(
                    said,
                    "; the policy of {what} lets events.amazonaws.com {} for this rule{}",
                    j.action,
                    j.key_note()
                );
                Ok(pass_unless(untried, said))
            }
            Some(j) => Ok(fail(format!(
                "{said}; but the policy of {what} {} events.amazonaws.com to {} for rule {name}: EventBridge drops \
                 every delivery without a word. `cairn apply` writes the statement again",
                j.refusal(),
                j.action
            ))),
            None => {
                let _ = write!(said, "; the policy of {what} is not evaluated (a target of this kind uses none)");
                Ok(pass_unless(untried, said))
            }
        }
    }

    /// Tries a live pattern on an event made to match it: with
    /// `TestEventPattern`, or cairn's matcher where that answers nothing.
    async fn try_pattern(&self, text: &str) -> Result<Tried, String> {
        let pattern = match EventPattern::from_json(text) {
            Ok(p) => p,
            // EventBridge took it: what cairn cannot read is cairn's limit,
            // not the rule's fault.
            Err(errors) => {
                let first = errors.first().map(ToString::to_string).unwrap_or_default();
                return Ok(Tried::Untried(format!(
                    "cairn cannot build an event for the rule's pattern ({first}), so it was not tried"
                )));
            }
        };
        let base = skeleton("cairn.check", "cairn check", &self.cx.env.account_id, &self.cx.env.region);
        let Some(event) = pattern.sample(&base) else {
            return Ok(Tried::Untried(format!(
                "cairn found no event that matches the rule's pattern {}, so it was not tried (a pattern that can \
                 match nothing sends nothing: `cairn test-pattern` tries your own events)",
                shorten(text, 120)
            )));
        };
        let source = event.get("source").and_then(Json::as_str).unwrap_or("cairn.check").to_string();
        let events = self.cx.clients.events().await;
        let ask = |p: String| {
            let event = event.to_string();
            async move { events.test_event_pattern().event_pattern(p).event(event).send().await }
        };
        // A control question whose answer must be yes tells an answer from
        // an API that is absent (an emulator answers an empty body).
        let control = serde_json::json!({"source": [source]}).to_string();
        let (asked, control) = futures::join!(ask(text.to_string()), ask(control));
        let shown = brief_event(&event);
        match (asked, control) {
            (Ok(a), Ok(c)) if c.result() => {
                if a.result() {
                    Ok(Tried::Matched(format!("TestEventPattern matches a sample event ({shown})")))
                } else {
                    Ok(Tried::Broken(format!(
                        "TestEventPattern says the rule's pattern does not match an event made to match it ({shown}); \
                         cairn's matcher disagrees: try `cairn test-pattern` and compare with AWS's documentation"
                    )))
                }
            }
            // Off AWS only: on AWS an error is reported, never hidden by
            // cairn's own verdict.
            _ if self.not_aws().is_some() => Ok(Tried::Matched(format!(
                "cairn's matcher matches a sample event ({shown}); TestEventPattern gave no answer here"
            ))),
            (Err(e), _) | (_, Err(e)) => {
                Err(aws_error("trying the rule's pattern (events:TestEventPattern)", &e).to_string())
            }
            (Ok(_), Ok(_)) => Ok(Tried::Broken(
                "TestEventPattern answered no to a question whose answer is yes (the event's own source): its answers \
                 cannot be trusted here"
                    .to_string(),
            )),
        }
    }

    /// What the resource policy of `arn` (a topic, queue or function)
    /// decides for `service` (`events.amazonaws.com`, `sns.amazonaws.com`)
    /// sending to it on behalf of `source_arn`; `None` for a kind of
    /// resource without one.
    async fn policy_for(&self, arn: &str, service: &str, source_arn: &str) -> Result<Option<Judged>, String> {
        let kind = arn.split(':').nth(2).unwrap_or_default();
        let (action, doc, key) = match kind {
            "sns" => {
                let attrs = self
                    .cx
                    .clients
                    .sns()
                    .await
                    .get_topic_attributes()
                    .topic_arn(arn)
                    .send()
                    .await
                    .map_err(failed(format!("reading topic {arn}")))?;
                let attrs = attrs.attributes();
                let get = |k: &str| attrs.and_then(|a| a.get(k)).cloned();
                ("sns:Publish", get("Policy"), get("KmsMasterKeyId"))
            }
            "sqs" => {
                let url = match super::by_arn(self.cx.state, arn) {
                    Some((_, r)) => r.physical_id.clone(),
                    None => {
                        let name = arn.rsplit(':').next().unwrap_or_default();
                        let owner = arn.split(':').nth(4).unwrap_or_default();
                        let found = self
                            .cx
                            .clients
                            .sqs()
                            .await
                            .get_queue_url()
                            .queue_name(name)
                            .queue_owner_aws_account_id(owner)
                            .send()
                            .await
                            .map_err(failed(format!("finding queue {arn}")))?;
                        found.queue_url().unwrap_or_default().to_string()
                    }
                };
                let attrs = self
                    .cx
                    .clients
                    .sqs()
                    .await
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(QueueAttributeName::Policy)
                    .attribute_names(QueueAttributeName::KmsMasterKeyId)
                    .send()
                    .await
                    .map_err(failed(format!("reading queue {url}")))?;
                let attrs = attrs.attributes();
                let get = |k: QueueAttributeName| attrs.and_then(|a| a.get(&k)).cloned();
                ("sqs:SendMessage", get(QueueAttributeName::Policy), get(QueueAttributeName::KmsMasterKeyId))
            }
            "lambda" => match self.cx.clients.lambda().await.get_policy().function_name(arn).send().await {
                Ok(p) => ("lambda:InvokeFunction", p.policy().map(str::to_string), None),
                Err(e) if e.code() == Some("ResourceNotFoundException") => ("lambda:InvokeFunction", None, None),
                Err(e) => return Err(aws_error(&format!("reading the policy of {arn}"), &e).to_string()),
            },
            _ => return Ok(None),
        };
        let doc: Json = doc.and_then(|d| serde_json::from_str(&d).ok()).unwrap_or(Json::Null);
        let request = Request {
            principal: Principal::Service(service.into()),
            action,
            resource: arn,
            context: vec![
                ("aws:SourceArn", source_arn.to_string()),
                ("aws:SourceAccount", self.cx.env.account_id.clone()),
            ],
        };
        let key = key.filter(|k| !k.is_empty());
        Ok(Some(Judged { decision: cairn_policy::decide(&doc, &request), action, key }))
    }

    // ---- topic -> subscriber --------------------------------------------

    async fn subscription(&self, topic_arn: &str, subscription: &str) -> Result<Verdict, String> {
        let r = self.resource(subscription).ok_or("not in state")?;
        let endpoint = prop(r, "endpoint").unwrap_or_default();
        let protocol = prop(r, "protocol").unwrap_or_default();
        let sns = self.cx.clients.sns().await;
        let pending = || {
            fail(format!(
                "{subscription} ({protocol} to {endpoint}) is not confirmed: nothing reaches it until the link in \
                 the message AWS sent there is followed"
            ))
        };
        let gone = || {
            fail(format!(
                "{subscription} ({protocol} to {endpoint}) is gone (unsubscribed outside cairn): `cairn apply` \
                 subscribes it again"
            ))
        };
        // State keeps a subscription made pending without its ARN; it may
        // have been confirmed since: the topic's list says.
        let arn = if r.physical_id.starts_with("arn:") {
            r.physical_id.clone()
        } else {
            let listed: Vec<aws_sdk_sns::types::Subscription> = sns
                .list_subscriptions_by_topic()
                .topic_arn(topic_arn)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(failed(format!("listing the subscriptions of {topic_arn}")))?;
            match listed.iter().find(|s| s.protocol() == Some(protocol) && s.endpoint() == Some(endpoint)) {
                None => return Ok(gone()),
                Some(s) => match s.subscription_arn() {
                    Some(a) if a.starts_with("arn:") => a.to_string(),
                    _ => return Ok(pending()),
                },
            }
        };
        let filter_policy = match sns.get_subscription_attributes().subscription_arn(&arn).send().await {
            Ok(a) => {
                let attrs = a.attributes();
                if attrs.and_then(|a| a.get("PendingConfirmation")).is_some_and(|v| v == "true") {
                    return Ok(pending());
                }
                attrs.and_then(|a| a.get("FilterPolicy")).filter(|f| !f.is_empty()).cloned()
            }
            Err(e) if e.code() == Some("NotFound") || e.code() == Some("NotFoundException") => return Ok(gone()),
            Err(e) => return Err(aws_error(&format!("reading subscription {arn}"), &e).to_string()),
        };
        let mut said = format!("{subscription} ({protocol}) is confirmed");
        // A queue or function receives only what its own policy lets SNS send.
        if matches!(protocol, "sqs" | "lambda") {
            match self.policy_for(endpoint, "sns.amazonaws.com", topic_arn).await? {
                Some(j) if j.decision == Decision::Allow => {
                    let _ = write!(
                        said,
                        ", and its policy lets sns.amazonaws.com {} for this topic{}",
                        j.action,
                        j.key_note()
                    );
                }
                Some(j) => {
                    return Ok(fail(format!(
                        "{said}, but the policy of {endpoint} {} sns.amazonaws.com to {} for topic {topic_arn}: SNS \
                         drops every delivery to it. `cairn apply` writes the statement again",
                        j.refusal(),
                        j.action
                    )));
                }
                None => {}
            }
        }
        if let Some(filter) = &filter_policy {
            let _ = write!(
                said,
                "; it has a filter policy, so only messages that match it reach it: {}",
                shorten(filter, 80)
            );
        }
        said.push_str("; ");
        let sub = self.cx.scratch.subscriber(&self.cx.clients, topic_arn, self.settle()).await?;
        let token = format!("cairn-check-{}-{}", self.cx.scratch.run, subscription);
        let t0 = Instant::now();
        let publish = || async {
            sns.publish()
                .topic_arn(topic_arn)
                .subject("cairn check")
                .message(format!("{token}: a test message from `cairn check`; nothing needs doing."))
                .send()
                .await
                .map_err(failed(format!("publishing a test message to {topic_arn}")))
        };
        publish().await?;
        let wanted = |body: &str| body.contains(&token);
        // Once more halfway, in case the new subscription took effect late.
        let half = self.cx.timeout / 2;
        let mut seen = sub.wait_for(&self.cx.clients, half, &wanted).await?;
        if seen.is_none() {
            publish().await?;
            seen = sub.wait_for(&self.cx.clients, self.cx.timeout - half, &wanted).await?;
        }
        match seen {
            Some(at) => {
                let _ = write!(
                    said,
                    "the topic delivers: a message published to it reached a temporary subscriber in {:.1}s",
                    at.saturating_duration_since(t0).as_secs_f64()
                );
                Ok(pass(said))
            }
            None => Ok(fail(format!(
                "{said}but a message published to the topic did not reach a temporary subscriber within {}s: the topic \
                 does not deliver (its KMS key?)",
                self.cx.timeout.as_secs()
            ))),
        }
    }

    // ---- metric filter ----------------------------------------------------

    async fn metric_filter(&self, filter: &str) -> Result<Verdict, String> {
        let r = self.resource(filter).ok_or("not in state")?;
        let name = prop(r, "name").unwrap_or_default();
        let group = prop(r, "log_group").unwrap_or_default();
        let logs = self.cx.clients.logs().await;
        let found = logs
            .describe_metric_filters()
            .log_group_name(group)
            .filter_name_prefix(name)
            .send()
            .await
            .map_err(failed(format!("reading metric filter {name}")))?;
        let Some(live) = found.metric_filters().iter().find(|f| f.filter_name() == Some(name)) else {
            return Ok(fail(format!("metric filter {name} is gone from {group}: `cairn apply` puts it back")));
        };
        let pattern = live.filter_pattern().unwrap_or_default().to_string();
        let fed_by_trail = self.cx.state.resources.values().any(|t| {
            t.kind == "aws:cloudtrail:Trail"
                && t.props.pointer("/cloudwatch_logs/log_group").and_then(Json::as_str).map(log_group_name)
                    == Some(group)
        });
        if !fed_by_trail {
            return Ok(skipped(format!(
                "no sample lines for {group} (no trail of this stack delivers to it): try the filter with \
                 `cairn test-filter STACK {filter} LINES`"
            )));
        }
        let records: Vec<&str> = cairn_patterns::samples::CLOUDTRAIL.lines().filter(|l| !l.trim().is_empty()).collect();
        let total = records.len();
        let (matched, how) = match logs
            .test_metric_filter()
            .filter_pattern(&pattern)
            .set_log_event_messages(Some(records.iter().map(|s| s.to_string()).collect()))
            // Two tries, not the usual eight: a server error here (an
            // emulator without the hook) falls back to cairn's matcher.
            .customize()
            .config_override(
                aws_sdk_cloudwatchlogs::config::Builder::default()
                    .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2)),
            )
            .send()
            .await
        {
            Ok(answer) => {
                // Each match names its line; mapped back by its text, so the
                // numbering base of `eventNumber` does not matter.
                let mut numbers: Vec<usize> = answer
                    .matches()
                    .iter()
                    .filter_map(|m| m.event_message())
                    .filter_map(|text| records.iter().position(|r| *r == text).map(|i| i + 1))
                    .collect();
                numbers.sort_unstable();
                numbers.dedup();
                (numbers, "by TestMetricFilter".to_string())
            }
            Err(e) if self.not_aws().is_some() => {
                let why = match (e.code(), e.raw_response()) {
                    (Some(code), _) => code.to_string(),
                    (None, Some(raw)) => format!("HTTP {}", raw.status().as_u16()),
                    (None, None) => "no answer".to_string(),
                };
                let Ok(parsed) = FilterPattern::parse(&pattern) else {
                    return Err(aws_error(&format!("trying metric filter {name}"), &e).to_string());
                };
                let numbers = records
                    .iter()
                    .enumerate()
                    .filter(|(_, line)| parsed.matches(line).is_match())
                    .map(|(i, _)| i + 1)
                    .collect();
                (numbers, format!("by cairn's matcher, as TestMetricFilter failed here ({why})"))
            }
            Err(e) => {
                return Err(aws_error(&format!("trying metric filter {name} (logs:TestMetricFilter)"), &e).to_string());
            }
        };
        let drifted = if prop(r, "pattern") == Some(pattern.as_str()) {
            String::new()
        } else {
            " The pattern on AWS is not the stack's (changed outside cairn): `cairn plan` shows it.".to_string()
        };
        let numbers = |n: &[usize]| n.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", ");
        let list = numbers(&matched);
        // A metric cairn knows (the CIS names lab 3 uses) must count exactly
        // its records; another, some but not all.
        let metric = live.metric_transformations().first().map(|t| t.metric_name().to_string()).unwrap_or_default();
        let expected = cairn_patterns::samples::cloudtrail_counts(&metric);
        Ok(match (matched.len(), expected) {
            (0, _) => fail(format!(
                "the pattern on AWS matches none of the {total} sample CloudTrail records, {how}: its metric never \
                 counts them, so its alarm never fires.{drifted} Pattern: {pattern}"
            )),
            (_, Some(want)) if matched != want => fail(format!(
                "the pattern on AWS counts records {list} of the {total} samples, {how}; the {metric} metric counts \
                 {} (see crates/cairn-patterns/samples/README.md).{drifted} Pattern: {pattern}",
                numbers(want)
            )),
            (n, None) if n == total => fail(format!(
                "the pattern on AWS matches every one of the {total} sample CloudTrail records, {how}: it counts \
                 everything.{drifted}"
            )),
            (n, want) => {
                let exactly =
                    if want.is_some() { format!(", exactly those the {metric} metric counts") } else { String::new() };
                let v = pass(format!(
                    "matches {n} of {total} sample CloudTrail records ({list}){exactly}, {how}.{drifted}"
                ));
                if drifted.is_empty() { v } else { fail(v.1) }
            }
        })
    }

    // ---- alarm -> topic ---------------------------------------------------

    async fn alarm_topic(&self, alarm: &str, topic_arn: &str) -> Result<Verdict, String> {
        let r = self.resource(alarm).ok_or("not in state")?;
        let name = prop(r, "name").unwrap_or(&r.physical_id).to_string();
        let cw = self.cx.clients.cloudwatch().await;
        let found =
            cw.describe_alarms().alarm_names(&name).send().await.map_err(failed(format!("reading alarm {name}")))?;
        let Some(live) = found.metric_alarms().first() else {
            return Ok(fail(format!("alarm {name} is gone (deleted outside cairn): `cairn apply` makes it again")));
        };
        if live.actions_enabled() == Some(false) {
            return Ok(fail(format!("alarm {name}'s actions are disabled: it changes state and tells no one")));
        }
        if !live.alarm_actions().iter().any(|a| a == topic_arn) {
            return Ok(fail(format!("alarm {name} no longer notifies {topic_arn} (changed outside cairn)")));
        }
        let before = live.state_value().cloned();
        let sub = self.cx.scratch.subscriber(&self.cx.clients, topic_arn, self.settle()).await?;
        // Back as it was (OK unless it was in ALARM already): the next
        // evaluation decides from the data again.
        let back = if before == Some(StateValue::Alarm) { StateValue::Alarm } else { StateValue::Ok };
        let t0 = Instant::now();
        self.cx.scratch.set_alarm(&self.cx.clients, &name, back.clone()).await?;
        let wanted = |body: &str| {
            serde_json::from_str::<Json>(body).is_ok_and(|m| {
                m.get("AlarmName").and_then(Json::as_str) == Some(name.as_str())
                    && m.get("NewStateValue").and_then(Json::as_str) == Some("ALARM")
            })
        };
        let seen = sub.wait_for(&self.cx.clients, self.cx.timeout, &wanted).await;
        let restored = match self.cx.scratch.set_back(&self.cx.clients, &name).await {
            Ok(()) => String::new(),
            Err(e) => format!(" ({e})"),
        };
        Ok(match seen? {
            Some(at) => pass(format!(
                "set to ALARM, its notification reached a temporary subscriber of the topic in {:.1}s; set back to {}{restored}",
                at.saturating_duration_since(t0).as_secs_f64(),
                back.as_str()
            )),
            None => match self.not_aws() {
                Some(url) => skipped(format!(
                    "set to ALARM, no notification within {}s; the endpoint {url} is not AWS, and emulators do not \
                     run alarm actions{restored}",
                    self.cx.timeout.as_secs()
                )),
                None => fail(format!(
                    "set to ALARM, but no notification reached the topic within {}s: the topic's access policy (and \
                     its KMS key's, if encrypted) must let cloudwatch.amazonaws.com publish{restored}",
                    self.cx.timeout.as_secs()
                )),
            },
        })
    }

    // ---- trail --------------------------------------------------------------

    async fn trail(&self, trail: &str) -> Result<Verdict, String> {
        let r = self.resource(trail).ok_or("not in state")?;
        let arn = r.attrs.get("arn").and_then(Json::as_str).unwrap_or(&r.physical_id);
        let status = match self.cx.clients.cloudtrail().await.get_trail_status().name(arn).send().await {
            Ok(s) => s,
            Err(e) if e.code() == Some("TrailNotFoundException") => {
                return Ok(fail(format!("trail {arn} is gone (deleted outside cairn)")));
            }
            Err(e) => return Err(aws_error(&format!("reading the status of trail {arn}"), &e).to_string()),
        };
        if status.is_logging() != Some(true) {
            return Ok(fail("the trail is not logging (stopped outside cairn): `cairn apply` starts it again"));
        }
        let errors: Vec<String> = [
            ("to its bucket", status.latest_delivery_error()),
            ("to CloudWatch Logs", status.latest_cloud_watch_logs_delivery_error()),
            ("of its digests", status.latest_digest_delivery_error()),
        ]
        .into_iter()
        .filter_map(|(what, e)| e.filter(|e| !e.is_empty()).map(|e| format!("delivery {what} fails: {e}")))
        .collect();
        if !errors.is_empty() {
            return Ok(fail(errors.join("; ")));
        }
        let last = status.latest_delivery_time().map(|t| format!("; last delivery {t}")).unwrap_or_default();
        Ok(pass(format!("logging, with no delivery error (GetTrailStatus){last}")))
    }

    // ---- function -----------------------------------------------------------

    async fn function(&self, function: &str) -> Result<Verdict, String> {
        let r = self.resource(function).ok_or("not in state")?;
        let name = prop(r, "name").unwrap_or(&r.physical_id).to_string();
        // A function fed by a queue gets a message as SQS hands it over.
        let fed = self.cx.state.resources.values().find(|m| {
            m.kind == "aws:lambda:EventSourceMapping"
                && prop(m, "source").is_some_and(|s| s.contains(":sqs:"))
                && prop(m, "function")
                    .is_some_and(|f| f == name || Some(f) == r.attrs.get("arn").and_then(Json::as_str))
        });
        let payload = match fed {
            Some(m) => serde_json::json!({"Records": [{
                "messageId": "cairn-check", "receiptHandle": "cairn-check", "body": "cairn check: a test message",
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": prop(m, "source").unwrap_or_default(),
                "awsRegion": self.cx.env.region
            }]}),
            None => serde_json::json!({"source": "cairn.check"}),
        };
        let answer = self
            .cx
            .clients
            .lambda()
            .await
            .invoke()
            .function_name(&name)
            .payload(Blob::new(payload.to_string()))
            .log_type(LogType::Tail)
            .send()
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Ok(fail(format!("function {name} is gone (deleted outside cairn)")));
            }
            Err(e) => return Ok(fail(aws_error(&format!("invoking {name}"), &e).to_string())),
        };
        let out = answer.payload().map(|p| String::from_utf8_lossy(p.as_ref()).to_string()).unwrap_or_default();
        let tail = answer.log_result().map(log_tail).unwrap_or_default();
        let tail = if tail.is_empty() { String::new() } else { format!("; log: {tail}") };
        match answer.function_error() {
            None => Ok(pass(format!("answered {} ({}){tail}", answer.status_code(), shorten(&out, 80)))),
            Some(kind) => match self.not_aws() {
                Some(url) if out.contains("docker") => Ok(skipped(format!(
                    "the endpoint {url} is not AWS and cannot run the code (it answered \"{}\")",
                    shorten(out.trim_matches('"').split(':').next().unwrap_or_default(), 60)
                ))),
                _ => Ok(fail(format!("the function failed ({kind}): {}{tail}", shorten(&out, 160)))),
            },
        }
    }

    // ---- queue -> mapping -> function -------------------------------------

    async fn mapping(
        &self,
        mapping: &str,
        queue: Option<&str>,
        function: Option<&str>,
        functions: &BTreeMap<String, Verdict>,
    ) -> Result<Verdict, String> {
        let r = self.resource(mapping).ok_or("not in state")?;
        let live = match self.cx.clients.lambda().await.get_event_source_mapping().uuid(&r.physical_id).send().await {
            Ok(m) => m,
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return Ok(fail(format!(
                    "mapping {mapping} is gone (deleted outside cairn): messages stay in the queue"
                )));
            }
            Err(e) => return Err(aws_error(&format!("reading mapping {}", r.physical_id), &e).to_string()),
        };
        let state = live.state().unwrap_or("unknown");
        if state != "Enabled" {
            return Ok(fail(format!(
                "mapping {mapping} is {state}: the function receives nothing and messages stay in the queue; `cairn \
                 apply` enables it again"
            )));
        }
        let f = function.unwrap_or("function");
        match function.and_then(|id| functions.get(id)) {
            Some((Outcome::Skipped, why)) => {
                return Ok(skipped(format!(
                    "mapping {mapping} is Enabled; no message sent, as {f} cannot run here: {why}"
                )));
            }
            Some((Outcome::Fail, _)) => {
                return Ok(skipped(format!(
                    "mapping {mapping} is Enabled; no message sent, as {f}'s own edge failed (see it above)"
                )));
            }
            _ => {}
        }
        let Some(url) = queue.and_then(|q| self.resource(q)).map(|q| q.physical_id.clone()) else {
            return Ok(skipped(format!(
                "mapping {mapping} is Enabled; its queue is not this stack's, so nothing is sent"
            )));
        };
        let function_name = function
            .and_then(|id| self.resource(id))
            .map(|r| prop(r, "name").unwrap_or(&r.physical_id).to_string())
            .unwrap_or_default();
        let sqs = self.cx.clients.sqs().await;
        let token = format!("cairn-check-{}", self.cx.scratch.run);
        let t0 = Instant::now();
        // A minute back, for clocks that differ.
        let since_ms = i64::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
        )
        .unwrap_or(i64::MAX)
        .saturating_sub(60_000);
        sqs.send_message()
            .queue_url(&url)
            .message_body(format!("{token}: a test message from `cairn check`"))
            .send()
            .await
            .map_err(failed(format!("sending a test message to {url}")))?;
        let deadline = t0 + self.cx.timeout;
        // Two kinds of evidence: the message's text in the function's log
        // (a function that prints what it gets), or the queue read empty
        // twice, apart, after a settling time (SQS's counts are approximate
        // and lag behind).
        let settle = Duration::from_secs(5).min(self.cx.timeout / 2);
        let mut empty_since: Option<Instant> = None;
        let mut waiting;
        loop {
            if !function_name.is_empty() && self.logged(&function_name, &token, since_ms).await {
                return Ok(pass(format!(
                    "a message sent to the queue reached the function in {:.1}s (its text is in /aws/lambda/{function_name})",
                    t0.elapsed().as_secs_f64()
                )));
            }
            waiting = self.waiting(&url).await?;
            if waiting == 0 && t0.elapsed() >= settle {
                match empty_since {
                    Some(since) if since.elapsed() >= Duration::from_secs(2) => {
                        return Ok(pass(format!(
                            "a message sent to the queue was taken: the queue read empty after {:.1}s, and again 2s later \
                             (the function did not log the message's text)",
                            t0.elapsed().as_secs_f64()
                        )));
                    }
                    Some(_) => {}
                    None => empty_since = Some(Instant::now()),
                }
            } else {
                empty_since = None;
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        let verdict = format!(
            "a message sent to the queue was not seen taken within {}s ({waiting} message(s) waiting); it stays in \
             the queue, its body starting `{token}` (a queue with other traffic never reads empty: check it when it \
             is quiet)",
            self.cx.timeout.as_secs()
        );
        Ok(match self.not_aws() {
            Some(endpoint) => skipped(format!("{verdict}; the endpoint {endpoint} is not AWS, and runs no code")),
            None => fail(verdict),
        })
    }

    /// Messages in a queue, visible or in flight (approximate).
    async fn waiting(&self, url: &str) -> Result<u64, String> {
        let attrs = self
            .cx
            .clients
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(failed(format!("reading queue {url}")))?;
        let count = |k: QueueAttributeName| {
            attrs.attributes().and_then(|a| a.get(&k)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        Ok(count(QueueAttributeName::ApproximateNumberOfMessages)
            + count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// Whether the function's log group has a line with `token` since
    /// `since_ms` (a missing log group or a refused read: no).
    async fn logged(&self, function_name: &str, token: &str, since_ms: i64) -> bool {
        let found = self
            .cx
            .clients
            .logs()
            .await
            .filter_log_events()
            .log_group_name(format!("/aws/lambda/{function_name}"))
            .filter_pattern(format!("\"{token}\""))
            .start_time(since_ms)
            .limit(1)
            .send()
            .await;
        found.is_ok_and(|f| !f.events().is_empty())
    }

    // ---- instance -> log group --------------------------------------------

    async fn instance_logs(&self, instance: &str, group: &str) -> Result<Verdict, String> {
        let i = self.resource(instance).ok_or("not in state")?;
        let g = self.resource(group).ok_or("not in state")?;
        let id = &i.physical_id;
        let described = self
            .cx
            .clients
            .ec2()
            .await
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .map_err(failed(format!("reading instance {id}")))?;
        let live = described.reservations().iter().flat_map(|r| r.instances()).next();
        let state = live.and_then(|l| l.state()).and_then(|s| s.name()).map_or("gone", |n| n.as_str());
        if state != "running" {
            return Ok(fail(format!("instance {id} is {state}: nothing ships its logs")));
        }
        let deadline = Instant::now() + self.cx.timeout;
        loop {
            let streams = self
                .cx
                .clients
                .logs()
                .await
                .describe_log_streams()
                .log_group_name(&g.physical_id)
                .log_stream_name_prefix(id)
                .send()
                .await
                .map_err(failed(format!("listing the streams of {}", g.physical_id)))?;
            if let Some(s) = streams.log_streams().first() {
                return Ok(pass(format!(
                    "the agent on {id} writes to {} (stream {})",
                    g.physical_id,
                    s.log_stream_name().unwrap_or_default()
                )));
            }
            if Instant::now() >= deadline {
                let verdict =
                    format!("no log stream from {id} in {} within {}s", g.physical_id, self.cx.timeout.as_secs());
                return Ok(match self.not_aws() {
                    Some(url) => {
                        skipped(format!("{verdict}; the endpoint {url} is not AWS, and its instances run no agent"))
                    }
                    None => fail(format!(
                        "{verdict}: the agent is not running or cannot write (its role, its configuration parameter, \
                         or the instance's network path to CloudWatch Logs)"
                    )),
                });
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// The source, detail-type and detail of an event, short.
fn brief_event(event: &Json) -> String {
    let source = event.get("source").and_then(Json::as_str).unwrap_or_default();
    let detail = event.get("detail").map(Json::to_string).unwrap_or_default();
    shorten(&format!("source {source}, detail {detail}"), 100)
}

/// The last non-empty line of a base64 log tail (what the function printed last).
fn log_tail(encoded: &str) -> String {
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(encoded) else { return String::new() };
    let text = String::from_utf8_lossy(&bytes).to_string();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("END ") && !l.starts_with("REPORT "))
        .unwrap_or_default();
    shorten(line.trim(), 100)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_amazon_hosts_are_aws() {
        assert!(is_aws(None));
        assert!(is_aws(Some("https://sqs.us-east-1.amazonaws.com")));
        assert!(is_aws(Some("https://events.cn-north-1.amazonaws.com.cn/")));
        assert!(!is_aws(Some("http://127.0.0.1:4566")));
        assert!(!is_aws(Some("http://amazonaws.com.evil.example:80")));
    }

    #[test]
    fn the_log_tail_is_the_last_line_printed() {
        use base64::Engine as _;
        let log = "START RequestId: 1\nHello, world!\nEND RequestId: 1\nREPORT RequestId: 1 Duration: 1 ms\n";
        let encoded = base64::engine::general_purpose::STANDARD.encode(log);
        assert_eq!(log_tail(&encoded), "Hello, world!");
    }
}
