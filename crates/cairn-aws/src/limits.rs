//! Checks across resources for what AWS refuses or silently breaks, that
//! one kind's props cannot show: service quotas counted over the stack (100
//! metric filters per log group, 5 trails per region, 300 rules per event
//! bus) and topics encrypted with a key their publishers may not use.
//!
//! The per-resource quotas are the kinds' own checks: 5 targets per rule
//! (`events_rule`), 5 actions per alarm state (`cloudwatch_alarm`).
//!
//! Counts cover this stack only: what the account already holds is known
//! only to AWS, so a stack under a quota may still meet it when applied.

use std::collections::BTreeMap;

use cairn_engine::diag::{At, Diagnostic, PathSeg};
use cairn_engine::spec::StackSpec;
use cairn_engine::value::{Json, Part, RefTarget, parse_template};

/// Every check of this module, for [`crate::glue::AwsGlue`]'s `cross_check`.
pub(crate) fn cross_check(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let mut diags = metric_filters_per_group(spec, props);
    diags.extend(trails_per_region(spec));
    diags.extend(rules_per_bus(spec, props));
    diags.extend(topics_under_keys_their_publishers_cannot_use(spec, props));
    diags
}

// ---- quotas ------------------------------------------------------------------------

const MAX_FILTERS_PER_GROUP: usize = 100;
const MAX_TRAILS_PER_REGION: usize = 5;
const MAX_RULES_PER_BUS: usize = 300;

/// The resources of a kind with their canonical props, in stack order;
/// those that failed their own checks are left out.
fn of_kind<'a>(
    spec: &'a StackSpec,
    props: &'a BTreeMap<String, Json>,
    kind: &'a str,
) -> impl Iterator<Item = (&'a str, &'a Json)> + 'a {
    spec.resources.iter().filter(move |r| r.kind == kind).filter_map(|r| props.get(&r.id).map(|p| (r.id.as_str(), p)))
}

/// Groups items by key, keeping the order each key was first seen in.
fn grouped<'a>(items: impl Iterator<Item = (String, &'a str)>) -> Vec<(String, Vec<&'a str>)> {
    let mut groups: Vec<(String, Vec<&'a str>)> = Vec::new();
    for (key, id) in items {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, ids)) => ids.push(id),
            None => groups.push((key, vec![id])),
        }
    }
    groups
}

/// A metric filter's log group by name: a reference to a group of the
/// stack is that group's name, so that filters naming it either way count
/// together.
fn metric_filters_per_group(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let group_of = |p: &Json| {
        let written = p.get("log_group")?.as_str()?;
        let named = reference(written)
            .and_then(|(id, _)| props.get(&id).filter(|_| kind_of(spec, &id) == Some("aws:logs:LogGroup")))
            .and_then(|g| g.get("name")?.as_str());
        Some(named.unwrap_or(written).to_string())
    };
    let filters = of_kind(spec, props, "aws:logs:MetricFilter").filter_map(|(id, p)| group_of(p).map(|g| (g, id)));
    let mut diags = Vec::new();
    for (group, ids) in grouped(filters) {
        if ids.len() > MAX_FILTERS_PER_GROUP {
            diags.push(
                Diagnostic::error(
                    At::Prop { id: ids[MAX_FILTERS_PER_GROUP].to_string(), path: vec![key("log_group")] },
                    format!("log group `{group}` has {} metric filters in this stack", ids.len()),
                )
                .expected(format!(
                    "at most {MAX_FILTERS_PER_GROUP} metric filters per log group (a CloudWatch Logs quota that cannot be raised)"
                ))
                .suggest(Some("combine filters whose patterns can be one pattern, or split the logs over more groups".into())),
            );
        }
    }
    diags
}

/// A stack's trails are all created in its region (a multi-region trail
/// too: it counts in its home region).
fn trails_per_region(spec: &StackSpec) -> Vec<Diagnostic> {
    let trails: Vec<&str> =
        spec.resources.iter().filter(|r| r.kind == "aws:cloudtrail:Trail").map(|r| r.id.as_str()).collect();
    if trails.len() <= MAX_TRAILS_PER_REGION {
        return Vec::new();
    }
    let region = spec.region.as_deref().map_or_else(|| "its region".to_string(), |r| format!("region {r}"));
    vec![
        Diagnostic::error(
            At::Resource { id: trails[MAX_TRAILS_PER_REGION].to_string() },
            format!("the stack has {} trails, all created in {region}", trails.len()),
        )
        .expected(format!("at most {MAX_TRAILS_PER_REGION} trails per region (a CloudTrail quota)"))
        .suggest(Some(
            "one trail can log several buckets and functions: list them under one trail's `data_events`".into(),
        )),
    ]
}

/// Rules by event bus, the default bus whether omitted, named or given by ARN.
fn rules_per_bus(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let bus_of = |p: &Json| {
        let bus = p.get("event_bus").and_then(Json::as_str).unwrap_or("default");
        bus.rsplit_once(":event-bus/").map_or(bus, |(_, name)| name).to_string()
    };
    let rules = of_kind(spec, props, "aws:events:Rule").map(|(id, p)| (bus_of(p), id));
    let mut diags = Vec::new();
    for (bus, ids) in grouped(rules) {
        if ids.len() > MAX_RULES_PER_BUS {
            diags.push(
                Diagnostic::error(
                    At::Prop { id: ids[MAX_RULES_PER_BUS].to_string(), path: vec![key("event_bus")] },
                    format!("event bus `{bus}` has {} rules in this stack", ids.len()),
                )
                .expected(format!("at most {MAX_RULES_PER_BUS} rules per event bus (an EventBridge quota)"))
                .suggest(Some(
                    "merge rules whose patterns can be one pattern, put some on another bus, or ask AWS to raise the quota"
                        .into(),
                )),
            );
        }
    }
    diags
}

// ---- topic encryption ----------------------------------------------------------

/// A service that publishes to topics from the stack's resources.
pub(crate) struct Publisher {
    pub(crate) kind: &'static str,
    /// The service's name in messages.
    pub(crate) service: &'static str,
    pub(crate) principal: &'static str,
    /// What it is in messages: `alarm`, `rule`.
    noun: &'static str,
    /// Where its topics are: a list prop, or a list of objects and their field.
    lists: &'static [(&'static str, Option<&'static str>)],
}

impl Publisher {
    /// The topics (ARNs or references) a resource of this kind publishes
    /// to, with the list each is in and whether that list holds objects.
    fn topics<'a>(&'a self, props: &'a Json) -> impl Iterator<Item = (&'a str, bool, &'a str)> + 'a {
        self.lists.iter().flat_map(move |(list, field)| {
            let items = props.get(*list).and_then(Json::as_array).into_iter().flatten();
            items
                .filter_map(move |item| match field {
                    Some(f) => item.get(*f),
                    None => Some(item),
                })
                .filter_map(Json::as_str)
                .map(move |t| (*list, field.is_some(), t))
        })
    }

    /// Whether a resource of this kind with these props publishes to the
    /// stack's resource `topic` (by reference).
    pub(crate) fn publishes_to(&self, props: &Json, topic: &str) -> bool {
        self.topics(props).any(|(_, _, t)| reference(t).is_some_and(|(id, _)| id == topic))
    }
}

pub(crate) const PUBLISHERS: &[Publisher] = &[
    Publisher {
        kind: "aws:cloudwatch:Alarm",
        service: "CloudWatch",
        principal: "cloudwatch.amazonaws.com",
        noun: "alarm",
        lists: &[("alarm_actions", None), ("ok_actions", None), ("insufficient_data_actions", None)],
    },
    Publisher {
        kind: "aws:events:Rule",
        service: "EventBridge",
        principal: "events.amazonaws.com",
        noun: "rule",
        lists: &[("targets", Some("arn"))],
    },
];

/// SNS's AWS managed key: its key policy lets only SNS's own callers in the
/// account use it and cannot be changed, so CloudWatch and EventBridge
/// cannot encrypt what they publish and SNS drops it, reporting nothing.
fn is_aws_managed_sns_key(key: &str) -> bool {
    key == "alias/aws/sns"
        || (key.starts_with("arn:") && key.split(':').nth(2) == Some("kms") && key.ends_with(":alias/aws/sns"))
}

/// What is wrong with the key a topic is encrypted with, for a publisher.
enum KeyTrouble<'a> {
    /// `alias/aws/sns`, whose policy cannot change.
    AwsManaged(&'a str),
    /// A key of the stack whose policy does not let the publisher use it.
    StackKey(String),
}

/// The key of the stack (`${key.arn}`, `${key.id}`) a topic's `kms_key` names.
fn stack_key<'a>(spec: &StackSpec, props: &'a BTreeMap<String, Json>, topic: &Json) -> Option<(String, &'a Json)> {
    let (id, _) = reference(topic.get("kms_key")?.as_str()?)?;
    (kind_of(spec, &id)? == "aws:kms:Key").then_some(())?;
    props.get(&id).map(|p| (id, p))
}

/// Whether a key policy lets `principal` make data keys with it.
fn key_allows(policy: Option<&Json>, principal: &str) -> bool {
    let as_list = |v: Option<&Json>| -> Vec<String> {
        match v {
            Some(Json::String(s)) => vec![s.clone()],
            Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        }
    };
    policy.map(crate::glue::statements).unwrap_or_default().iter().any(|st| {
        st.get("Effect").and_then(Json::as_str) == Some("Allow")
            && as_list(st.get("Principal").and_then(|p| p.get("Service"))).iter().any(|s| s == principal)
            && as_list(st.get("Action"))
                .iter()
                .any(|a| matches!(a.as_str(), "kms:*" | "kms:GenerateDataKey*" | "kms:GenerateDataKey"))
    })
}

/// Topics whose publishers cannot use the key the topic is encrypted with:
/// AWS's own `alias/aws/sns`, or a key of the stack whose policy leaves the
/// service out (the glue adds it unless `auto_wire: false` says not to).
/// SNS drops what they publish and reports nothing.
fn topics_under_keys_their_publishers_cannot_use(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let topics: Vec<(&str, &Json, Option<&str>)> = of_kind(spec, props, "aws:sns:Topic")
        .filter(|(_, p)| p.get("kms_key").is_some_and(|k| !k.is_null()))
        .map(|(id, p)| (id, p, p.get("name").and_then(Json::as_str)))
        .collect();
    if topics.is_empty() {
        return Vec::new();
    }
    // The topic an action or target names: by reference, or by its ARN.
    let topic_named = |s: &str| match reference(s) {
        Some((id, _)) => topics.iter().find(|t| t.0 == id),
        None => {
            let name = s.strip_prefix("arn:").filter(|_| s.split(':').nth(2) == Some("sns"))?.rsplit(':').next();
            topics.iter().find(|t| t.2.is_some() && t.2 == name)
        }
    };
    let mut diags = Vec::new();
    for p in PUBLISHERS {
        for (id, props_of) in of_kind(spec, props, p.kind) {
            let mut seen: Vec<&str> = Vec::new();
            for (list, objects, named) in p.topics(props_of) {
                let Some((topic, topic_props, _)) = topic_named(named) else { continue };
                if seen.contains(topic) {
                    continue;
                }
                let trouble = match topic_props.get("kms_key").and_then(Json::as_str) {
                    Some(k) if is_aws_managed_sns_key(k) => KeyTrouble::AwsManaged(k),
                    _ => match stack_key(spec, props, topic_props) {
                        Some((key_id, key)) if !key_allows(key.get("policy"), p.principal) => {
                            KeyTrouble::StackKey(key_id)
                        }
                        _ => continue,
                    },
                };
                seen.push(topic);
                let (service, principal, noun) = (p.service, p.principal, p.noun);
                let what = if objects {
                    format!("the events {noun} `{id}` sends it")
                } else {
                    format!("the notifications of {noun} `{id}` (`{list}`)")
                };
                let diag = match trouble {
                    KeyTrouble::AwsManaged(kms_key) => Diagnostic::error(
                        At::Prop { id: (*topic).to_string(), path: vec![key("kms_key")] },
                        format!(
                            "topic `{topic}` is encrypted with the AWS managed key `{kms_key}`, which {service} may not use: {what} would be dropped"
                        ),
                    )
                    .expected(format!(
                        "a customer managed KMS key whose key policy lets `{principal}` use `kms:Decrypt` and `kms:GenerateDataKey*`"
                    ))
                    .suggest(Some(
                        "create such a key and set `kms_key` to its ARN or alias: the policy of `alias/aws/sns` cannot be changed"
                            .to_string(),
                    )),
                    KeyTrouble::StackKey(key_id) => Diagnostic::error(
                        At::Prop { id: key_id.clone(), path: vec![key("policy")] },
                        format!(
                            "topic `{topic}` is encrypted with key `{key_id}`, whose policy does not let {service} (`{principal}`) use it: {what} would be dropped"
                        ),
                    )
                    .expected(format!(
                        "a statement allowing `{principal}` `kms:Decrypt` and `kms:GenerateDataKey*` in the key's policy"
                    ))
                    .suggest(Some(format!(
                        "remove `auto_wire: false` from `{key_id}`, `{topic}` and `{id}` so that cairn adds it, or write it in the key's `policy`"
                    ))),
                };
                diags.push(diag);
            }
        }
    }
    diags
}

// ---- helpers -------------------------------------------------------------------

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.to_string())
}

fn kind_of<'a>(spec: &'a StackSpec, id: &str) -> Option<&'a str> {
    spec.resource(id).map(|r| r.kind.as_str())
}

/// `(id, attr)` when the text is exactly one reference to a resource.
fn reference(text: &str) -> Option<(String, String)> {
    match parse_template(text).ok()?.as_slice() {
        [Part::Ref(r)] => match &r.target {
            RefTarget::Resource { id, attr } => Some((id.clone(), attr.clone())),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use cairn_engine::diag::Severity;
    use cairn_engine::kind::Glue as _;
    use cairn_engine::spec::ResourceSpec;
    use serde_json::json;

    use super::*;
    use crate::glue::AwsGlue;
    use crate::glue::tests::res;

    /// The diagnostics the glue reports for these resources, taking each
    /// one's props as its canonical props.
    fn checked(resources: Vec<ResourceSpec>) -> Vec<Diagnostic> {
        let spec = StackSpec { name: "s".into(), resources, ..StackSpec::default() };
        let props = spec.resources.iter().map(|r| (r.id.clone(), r.props.clone())).collect();
        AwsGlue.cross_check(&spec, &props)
    }

    fn key(k: &str) -> PathSeg {
        PathSeg::Key(k.into())
    }

    fn filters(n: usize, group: &str) -> Vec<ResourceSpec> {
        (0..n)
            .map(|i| {
                res(
                    &format!("f{i}"),
                    "aws:logs:MetricFilter",
                    json!({"log_group": group, "pattern": "", "metric": {"namespace": "N", "name": format!("m{i}")}}),
                )
            })
            .collect()
    }

    #[test]
    fn at_most_100_metric_filters_per_log_group() {
        let group = || res("app", "aws:logs:LogGroup", json!({"name": "/app/logs"}));
        let mut under = filters(100, "${app.name}");
        under.push(group());
        assert_eq!(checked(under), Vec::new());
        // 60 by reference and 41 by the same literal name: one group, 101 filters.
        let mut over = filters(60, "${app.name}");
        over.extend(filters(41, "/app/logs").into_iter().map(|mut f| {
            f.id = format!("lit-{}", f.id);
            f
        }));
        over.push(group());
        let d = checked(over);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Severity::Error);
        assert_eq!(d[0].at, At::Prop { id: "lit-f40".into(), path: vec![key("log_group")] });
        assert_eq!(d[0].message, "log group `/app/logs` has 101 metric filters in this stack");
        assert_eq!(
            d[0].expected.as_deref(),
            Some("at most 100 metric filters per log group (a CloudWatch Logs quota that cannot be raised)")
        );
        // Filters on different groups do not add up.
        let mut two = filters(100, "/a");
        two.extend(filters(100, "/b").into_iter().map(|mut f| {
            f.id = format!("b-{}", f.id);
            f
        }));
        assert_eq!(checked(two), Vec::new());
    }

    fn trails(n: usize) -> Vec<ResourceSpec> {
        (0..n).map(|i| res(&format!("t{i}"), "aws:cloudtrail:Trail", json!({"bucket": "b"}))).collect()
    }

    #[test]
    fn at_most_5_trails_per_region() {
        assert_eq!(checked(trails(5)), Vec::new());
        let d = checked(trails(6));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].at, At::Resource { id: "t5".into() });
        assert_eq!(d[0].message, "the stack has 6 trails, all created in its region");
        assert_eq!(d[0].expected.as_deref(), Some("at most 5 trails per region (a CloudTrail quota)"));
        assert!(d[0].suggestion.as_deref().is_some_and(|s| s.contains("one trail")), "{:?}", d[0].suggestion);
    }

    fn rules(n: usize, bus: Option<&str>) -> Vec<ResourceSpec> {
        (0..n)
            .map(|i| {
                let mut props = json!({"schedule": "rate(1 hour)"});
                if let Some(bus) = bus {
                    props["event_bus"] = json!(bus);
                }
                res(&format!("r{i}"), "aws:events:Rule", props)
            })
            .collect()
    }

    #[test]
    fn at_most_300_rules_per_event_bus() {
        assert_eq!(checked(rules(300, None)), Vec::new());
        // The default bus, by omission, by name and by ARN.
        let mut over = rules(299, None);
        over.push(res("by-name", "aws:events:Rule", json!({"event_pattern": {}, "event_bus": "default"})));
        over.push(res(
            "by-arn",
            "aws:events:Rule",
            json!({"event_pattern": {}, "event_bus": "arn:aws:events:us-east-1:123456789012:event-bus/default"}),
        ));
        let d = checked(over);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].at, At::Prop { id: "by-arn".into(), path: vec![key("event_bus")] });
        assert_eq!(d[0].message, "event bus `default` has 301 rules in this stack");
        assert_eq!(d[0].expected.as_deref(), Some("at most 300 rules per event bus (an EventBridge quota)"));
        // Two buses of 300 each are within the quota.
        let mut two = rules(300, Some("orders"));
        two.extend(rules(300, None).into_iter().map(|mut r| {
            r.id = format!("d-{}", r.id);
            r
        }));
        assert_eq!(checked(two), Vec::new());
    }

    fn alarm(id: &str, field: &str, actions: &[&str]) -> ResourceSpec {
        res(id, "aws:cloudwatch:Alarm", json!({ field: actions }))
    }

    fn topic(kms_key: Option<&str>) -> ResourceSpec {
        let mut props = json!({"name": "s-alerts"});
        if let Some(k) = kms_key {
            props["kms_key"] = json!(k);
        }
        res("alerts", "aws:sns:Topic", props)
    }

    #[test]
    fn an_alarm_cannot_publish_to_a_topic_under_the_aws_managed_key() {
        for field in ["alarm_actions", "ok_actions", "insufficient_data_actions"] {
            let d = checked(vec![topic(Some("alias/aws/sns")), alarm("errors", field, &["${alerts.arn}"])]);
            assert_eq!(d.len(), 1, "{field}: {d:?}");
            assert_eq!(d[0].severity, Severity::Error);
            assert_eq!(d[0].at, At::Prop { id: "alerts".into(), path: vec![key("kms_key")] });
            assert_eq!(
                d[0].message,
                format!(
                    "topic `alerts` is encrypted with the AWS managed key `alias/aws/sns`, which CloudWatch may not use: \
                     the notifications of alarm `errors` (`{field}`) would be dropped"
                )
            );
            let expected = d[0].expected.as_deref().unwrap_or_default();
            assert!(expected.contains("`cloudwatch.amazonaws.com`"), "{expected}");
            assert!(expected.contains("`kms:Decrypt` and `kms:GenerateDataKey*`"), "{expected}");
        }
        // The ARN form of the alias, and the topic named by its literal ARN.
        let d = checked(vec![
            topic(Some("arn:aws:kms:eu-west-1:123456789012:alias/aws/sns")),
            alarm("errors", "alarm_actions", &["arn:aws:sns:eu-west-1:123456789012:s-alerts"]),
        ]);
        assert_eq!(d.len(), 1, "{d:?}");
        // A customer managed key, or no key: nothing to say.
        for key in [Some("alias/alerts"), Some("arn:aws:kms:eu-west-1:123456789012:key/1234abcd"), None] {
            assert_eq!(checked(vec![topic(key), alarm("errors", "alarm_actions", &["${alerts.arn}"])]), Vec::new());
        }
        // A topic the alarm does not publish to: nothing to say.
        assert_eq!(checked(vec![topic(Some("alias/aws/sns"))]), Vec::new());
    }

    #[test]
    fn an_events_rule_cannot_publish_to_a_topic_under_the_aws_managed_key() {
        let rule = res(
            "ec2-state",
            "aws:events:Rule",
            json!({"event_pattern": {"source": ["aws.ec2"]}, "targets": [{"id": "t", "arn": "${alerts.arn}"}]}),
        );
        let d = checked(vec![topic(Some("alias/aws/sns")), rule.clone()]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].message.contains("which EventBridge may not use"), "{}", d[0].message);
        assert!(d[0].message.contains("rule `ec2-state`"), "{}", d[0].message);
        assert!(d[0].expected.as_deref().is_some_and(|e| e.contains("`events.amazonaws.com`")));
        // Both services on one topic: one error each.
        let d = checked(vec![topic(Some("alias/aws/sns")), rule, alarm("a", "alarm_actions", &["${alerts.arn}"])]);
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(checked(vec![topic(Some("alias/mine")), alarm("a", "ok_actions", &["${alerts.arn}"])]), Vec::new());
    }

    #[test]
    fn a_topic_under_a_stack_key_that_leaves_its_publisher_out_is_refused() {
        let key = |policy: Json| res("key", "aws:kms:Key", json!({"policy": policy}));
        let topic = res("alerts", "aws:sns:Topic", json!({"kms_key": "${key.arn}"}));
        let alarm = res("errors", "aws:cloudwatch:Alarm", json!({"alarm_actions": ["${alerts.arn}"]}));
        let root = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": "kms:*", "Resource": "*"}]});
        let d = checked(vec![key(root), topic.clone(), alarm.clone()]);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].at, At::Prop { id: "key".into(), path: vec![key_seg("policy")] });
        assert_eq!(
            d[0].message,
            "topic `alerts` is encrypted with key `key`, whose policy does not let CloudWatch \
             (`cloudwatch.amazonaws.com`) use it: the notifications of alarm `errors` (`alarm_actions`) would be dropped"
        );
        // A key with no policy at all (auto_wire off) is refused the same way.
        let bare = res("key", "aws:kms:Key", json!({}));
        assert_eq!(checked(vec![bare, topic.clone(), alarm.clone()]).len(), 1);
        // The statement the glue adds satisfies it.
        let granted = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"}]});
        assert_eq!(checked(vec![key(granted), topic, alarm]), Vec::new());
    }

    fn key_seg(k: &str) -> PathSeg {
        PathSeg::Key(k.into())
    }
}
