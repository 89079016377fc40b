//! `aws:cloudwatch:Alarm`: a CloudWatch metric alarm on one metric with a
//! static threshold. Physical id: the alarm name.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, ReadItem, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::{found_nothing, known_name, unresolved};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A CloudWatch metric alarm on one metric against a static threshold.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmProps {
    /// Alarm name, 1-255 characters. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the alarm is for, shown with its state; at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The metric watched.
    pub metric: AlarmMetric,
    /// `GreaterThanOrEqualToThreshold`, `GreaterThanThreshold`,
    /// `LessThanThreshold` or `LessThanOrEqualToThreshold`.
    pub comparison: String,
    /// The value the statistic is compared with.
    pub threshold: f64,
    /// Periods evaluated, at least 1; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_periods: Option<u32>,
    /// Breaching periods out of `evaluation_periods` that set off the
    /// alarm; unset means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapoints_to_alarm: Option<u32>,
    /// `breaching`, `notBreaching`, `ignore` or `missing` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<String>,
    /// ARNs notified on entering ALARM (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarm_actions: Vec<String>,
    /// ARNs notified on entering OK (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ok_actions: Vec<String>,
    /// ARNs notified on entering INSUFFICIENT_DATA (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insufficient_data_actions: Vec<String>,
}

/// The metric an alarm watches.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlarmMetric {
    /// The metric's namespace, e.g. `AWS/SQS` or one a metric filter publishes to.
    pub namespace: String,
    /// The metric's name, e.g. `ApproximateNumberOfMessagesVisible`.
    pub name: String,
    /// Dimension name -> value, e.g. `QueueName: jobs`; none for a metric without dimensions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// `SampleCount`, `Average`, `Sum`, `Minimum` or `Maximum`.
    pub statistic: String,
    /// Seconds per period: 10, 20, 30 or a multiple of 60.
    pub period: u32,
}

/// The `aws:cloudwatch:Alarm` kind.
pub struct Alarm {
    clients: Arc<Clients>,
}

impl Alarm {
    pub fn new(clients: Arc<Clients>) -> Self {
        Alarm { clients }
    }
}

const MAX_NAME: usize = 255;
/// The longest an alarm may look back (period × evaluation_periods), in
/// seconds: a day for periods under an hour, else seven days.
const MAX_RANGE_SHORT: u64 = 86_400;
const MAX_RANGE: u64 = 604_800;
const MAX_DESCRIPTION: usize = 1024;
const MAX_ACTIONS: usize = 5;
const MAX_DIMENSIONS: usize = 30;
const STATISTICS: &[&str] = &["SampleCount", "Average", "Sum", "Minimum", "Maximum"];
/// The operators for a static threshold; the others need anomaly detection.
const COMPARISONS: &[&str] =
    &["GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"];
const TREAT_MISSING: &[&str] = &["breaching", "notBreaching", "ignore", "missing"];
const DEFAULT_TREAT_MISSING: &str = "missing";

#[async_trait]
impl TypedKind for Alarm {
    const TYPE: &'static str = "aws:cloudwatch:Alarm";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp { path: &["alarm_actions", "*"], when: None, accepts: &[AttrType::Arn("*")] },
        RefProp { path: &["ok_actions", "*"], when: None, accepts: &[AttrType::Arn("*")] },
        RefProp { path: &["insufficient_data_actions", "*"], when: None, accepts: &[AttrType::Arn("*")] },
    ];
    type Props = AlarmProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the alarm's name",
        attributes: &[("arn", "the alarm's ARN"), ("name", "the alarm's name")],
        quirks: &[
            "PutMetricAlarm overwrites an alarm of the same name: cairn looks first and takes over only its own.",
            "AWS ignores tags given to PutMetricAlarm for an existing alarm: tags are set with their own calls.",
            "A plan reads every alarm of a stack in one DescribeAlarms call, which CloudWatch allows only a few times a second.",
            "AWS may reorder action lists: the same ARNs in another order are no change.",
            "Periods, the look-back limit and the five actions per state are checked offline.",
        ],
    };

    fn defaults(props: &mut AlarmProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        props.evaluation_periods.get_or_insert(1);
        props.treat_missing_data.get_or_insert_with(|| DEFAULT_TREAT_MISSING.to_string());
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &AlarmProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
            && (name.is_empty() || name.chars().count() > MAX_NAME)
        {
            errors.push(
                PropError::new(&["name"], format!("alarm name is {} characters long", name.chars().count()))
                    .expected(format!("1 to {MAX_NAME} characters")),
            );
        }
        if let Some(d) = &props.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            errors.push(
                PropError::new(&["description"], format!("description is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DESCRIPTION} characters")),
            );
        }
        let m = &props.metric;
        for (field, value) in [("namespace", &m.namespace), ("name", &m.name)] {
            if value.is_empty() || value.len() > 255 {
                errors.push(
                    PropError::new(&["metric", field], format!("metric {field} is {} characters long", value.len()))
                        .expected("1 to 255 characters"),
                );
            }
        }
        if m.dimensions.len() > MAX_DIMENSIONS {
            errors.push(
                PropError::new(&["metric", "dimensions"], format!("{} dimensions", m.dimensions.len()))
                    .expected(format!("at most {MAX_DIMENSIONS}")),
            );
        }
        one_of(&["metric", "statistic"], &m.statistic, STATISTICS, errors);
        let period_ok = valid_period(m.period);
        if !period_ok {
            let mut e = PropError::new(&["metric", "period"], format!("period is {} seconds", m.period))
                .expected("10, 20, 30 or a multiple of 60 seconds");
            e.suggestion = Some(format!("period: {}", nearest_period(m.period)));
            errors.push(e);
        }
        one_of(&["comparison"], &props.comparison, COMPARISONS, errors);
        if !props.threshold.is_finite() {
            errors.push(PropError::new(&["threshold"], "the threshold is not a finite number").expected("a number"));
        }
        let periods = props.evaluation_periods.unwrap_or(1);
        if periods == 0 {
            errors.push(PropError::new(&["evaluation_periods"], "evaluation_periods is 0").expected("at least 1"));
        }
        let range = u64::from(periods) * u64::from(m.period);
        let max_range = if m.period < 3600 { MAX_RANGE_SHORT } else { MAX_RANGE };
        if period_ok && periods > 0 && range > max_range {
            let mut e = PropError::new(
                &["evaluation_periods"],
                format!("{periods} periods of {} seconds span {range} seconds", m.period),
            )
            .expected(if m.period < 3600 {
                "at most one day (86400 seconds) of periods shorter than an hour".to_string()
            } else {
                "at most seven days (604800 seconds) in all".to_string()
            });
            e.suggestion = Some(format!("evaluation_periods: {}", max_range / u64::from(m.period)));
            errors.push(e);
        }
        if let Some(dp) = props.datapoints_to_alarm
            && (dp == 0 || dp > periods)
        {
            errors.push(
                PropError::new(&["datapoints_to_alarm"], format!("datapoints_to_alarm is {dp}"))
                    .expected(format!("1 to evaluation_periods ({periods})")),
            );
        }
        if let Some(t) = &props.treat_missing_data {
            one_of(&["treat_missing_data"], t, TREAT_MISSING, errors);
        }
        for (field, actions) in [
            ("alarm_actions", &props.alarm_actions),
            ("ok_actions", &props.ok_actions),
            ("insufficient_data_actions", &props.insufficient_data_actions),
        ] {
            if actions.len() > MAX_ACTIONS {
                errors.push(
                    PropError::new(&[field], format!("`{field}` lists {} actions", actions.len()))
                        .expected(format!("at most {MAX_ACTIONS} actions per alarm state")),
                );
            }
            if let Some(bad) = actions.iter().find(|a| !unresolved(a) && !a.starts_with("arn:")) {
                errors.push(
                    PropError::new(&[field], format!("`{bad}` is not an ARN"))
                        .expected("ARNs, like `${alerts.arn}` for a topic"),
                );
            }
        }
    }

    // ---- create ----------------------------------------------------------------

    /// The look before a create, made early by apply (see `Kind::absent`).
    async fn absent(&self, cx: &OpCtx, props: &Value) -> Option<bool> {
        let name = &known_name(props, cx)?;
        found_nothing(find_alarm(self.clients.cloudwatch().await, name).await)
    }

    async fn create(&self, cx: &OpCtx, props: &AlarmProps) -> Result<Observed<AlarmProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let cw = self.clients.cloudwatch().await;
        let action = format!("creating CloudWatch alarm {name}");

        // PutMetricAlarm overwrites an alarm of the same name: look first,
        // and only adopt this stack's own.
        let existing = if cx.absent {
            None
        } else {
            find_alarm(cw, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        };
        if let Some(alarm) = existing {
            let arn = alarm.alarm_arn().unwrap_or_default().to_string();
            let tags = list_tags(cw, &arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            cx.ensure_owns(&tags, format!("CloudWatch alarm {name}"))?;
            self.put(props, &name, None, &action).await?;
            self.converge_tags(cx, &arn, &action).await?;
            return Ok(observed(&name, &arn, props.clone()));
        }

        self.put(props, &name, Some(&cx.tags), &action).await?;
        // PutMetricAlarm answers nothing; the ARN follows from the name.
        Ok(observed(&name, &alarm_arn(cx, &name), props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, _cx: &OpCtx, name: &str, last: &AlarmProps) -> Result<Option<Observed<AlarmProps>>, OpError> {
        let cw = self.clients.cloudwatch().await;
        let Some(alarm) =
            find_alarm(cw, name).await.map_err(|e| OpError::failed(format!("reading CloudWatch alarm {name}: {e}")))?
        else {
            return Ok(None);
        };
        let arn = alarm.alarm_arn().unwrap_or_default().to_string();
        Ok(Some(observed(name, &arn, props_from_alarm(&alarm, name, last))))
    }

    /// DescribeAlarms takes up to 100 names: a plan reads all of a stack's
    /// alarms in one call (CloudWatch allows few DescribeAlarms per second).
    const READ_BATCH: usize = MAX_DESCRIBE;

    async fn read_many(
        &self,
        items: &[ReadItem<'_, AlarmProps>],
    ) -> Vec<Result<Option<Observed<AlarmProps>>, OpError>> {
        let cw = self.clients.cloudwatch().await;
        let names: Vec<String> = items.iter().map(|it| it.physical_id.to_string()).collect();
        let found = match find_alarms(cw, &names).await {
            Ok(found) => found,
            Err(e) => {
                let e = format!("reading CloudWatch alarms {}: {e}", names.join(", "));
                return items.iter().map(|_| Err(OpError::failed(e.clone()))).collect();
            }
        };
        items
            .iter()
            .map(|it| {
                Ok(found.get(it.physical_id).map(|alarm| {
                    let arn = alarm.alarm_arn().unwrap_or_default();
                    observed(it.physical_id, arn, props_from_alarm(alarm, it.physical_id, it.last))
                }))
            })
            .collect()
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        _old: &AlarmProps,
        new: &AlarmProps,
    ) -> Result<Observed<AlarmProps>, OpError> {
        let action = format!("updating CloudWatch alarm {name}");
        let cw = self.clients.cloudwatch().await;
        let Some(alarm) = find_alarm(cw, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Err(OpError::failed(format!("{action}: the alarm no longer exists")));
        };
        let arn = alarm.alarm_arn().unwrap_or_default().to_string();
        // PutMetricAlarm replaces the whole definition, so one call converges it.
        self.put(new, name, None, &action).await?;
        self.converge_tags(cx, &arn, &action).await?;
        Ok(observed(name, &arn, new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let cw = self.clients.cloudwatch().await;
        live_tags_of(&format!("CloudWatch alarm {name}"), find_alarm_arn(cw, name), |arn| async move {
            list_tags(cw, &arn).await
        })
        .await
    }

    async fn add_tags(&self, _cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let cw = self.clients.cloudwatch().await;
        add_tags_to(&format!("CloudWatch alarm {name}"), find_alarm_arn(cw, name), |arn, action| async move {
            set_tags(cw, &arn, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, _cx: &OpCtx, name: &str, _props: &AlarmProps) -> Result<(), OpError> {
        let cw = self.clients.cloudwatch().await;
        match cw.delete_alarms().alarm_names(name).send().await {
            Ok(_) => Ok(()),
            // CloudWatch says `ResourceNotFound`, without `Exception`.
            Err(e) if is_not_found(&e) || e.code() == Some("ResourceNotFound") => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting CloudWatch alarm {name}"), &e)),
        }
    }
}

impl Alarm {
    /// PutMetricAlarm with the whole definition; `tags` only on create, as
    /// AWS ignores them when the alarm exists.
    async fn put(
        &self,
        props: &AlarmProps,
        name: &str,
        tags: Option<&BTreeMap<String, String>>,
        action: &str,
    ) -> Result<(), OpError> {
        let cw = self.clients.cloudwatch().await;
        let m = &props.metric;
        let dimensions = m.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect();
        let period = i32::try_from(m.period).map_err(|_| OpError::failed(format!("{action}: period too large")))?;
        let periods = i32::try_from(props.evaluation_periods.unwrap_or(1))
            .map_err(|_| OpError::failed(format!("{action}: evaluation_periods too large")))?;
        let datapoints = props
            .datapoints_to_alarm
            .map(i32::try_from)
            .transpose()
            .map_err(|_| OpError::failed(format!("{action}: datapoints_to_alarm too large")))?;
        let req = cw
            .put_metric_alarm()
            .alarm_name(name)
            // An empty description clears one set before.
            .alarm_description(props.description.clone().unwrap_or_default())
            .namespace(&m.namespace)
            .metric_name(&m.name)
            .set_dimensions(Some(dimensions))
            .statistic(Statistic::from(m.statistic.as_str()))
            .period(period)
            .comparison_operator(ComparisonOperator::from(props.comparison.as_str()))
            .threshold(props.threshold)
            .evaluation_periods(periods)
            .set_datapoints_to_alarm(datapoints)
            .treat_missing_data(props.treat_missing_data.as_deref().unwrap_or(DEFAULT_TREAT_MISSING))
            .set_alarm_actions(Some(props.alarm_actions.clone()))
            .set_ok_actions(Some(props.ok_actions.clone()))
            .set_insufficient_data_actions(Some(props.insufficient_data_actions.clone()))
            .set_tags(tags.map(|t| t.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()));
        req.send().await.map_err(|e| aws_error(action, &e))?;
        Ok(())
    }

    async fn converge_tags(&self, cx: &OpCtx, arn: &str, action: &str) -> Result<(), OpError> {
        let cw = self.clients.cloudwatch().await;
        let live_tags = list_tags(cw, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(cw, arn, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            cw.untag_resource()
                .resource_arn(arn)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }
}

// ---- pure helpers ------------------------------------------------------------

fn one_of(path: &[&str], value: &str, allowed: &[&str], errors: &mut Vec<PropError>) {
    if unresolved(value) || allowed.contains(&value) {
        return;
    }
    let field = path.last().copied().unwrap_or_default();
    errors.push(PropError::new(path, format!("`{value}` is not a valid {field}")).expected(allowed.join(", ")));
}

/// `arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}`.
fn alarm_arn(cx: &OpCtx, name: &str) -> String {
    format!("arn:{}:cloudwatch:{}:{}:alarm:{name}", cx.env.partition, cx.env.region, cx.env.account_id)
}

fn observed(name: &str, arn: &str, props: AlarmProps) -> Observed<AlarmProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(arn.to_string()));
    attrs.insert("name".to_string(), Value::String(name.to_string()));
    Observed { physical_id: name.to_string(), props, attrs }
}

/// A list as read: the last applied order when it holds the same ARNs, so a
/// reordering by AWS is no change.
fn actions_as_read(live: &[String], last: &[String]) -> Vec<String> {
    let as_set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    if as_set(live) == as_set(last) { last.to_vec() } else { live.to_vec() }
}

/// Props as AWS reports them, in the canonical form `check` produces.
fn props_from_alarm(a: &MetricAlarm, name: &str, last: &AlarmProps) -> AlarmProps {
    AlarmProps {
        name: Some(name.to_string()),
        description: a.alarm_description().filter(|d| !d.is_empty()).map(ToString::to_string),
        metric: AlarmMetric {
            namespace: a.namespace().unwrap_or_default().to_string(),
            name: a.metric_name().unwrap_or_default().to_string(),
            dimensions: a
                .dimensions()
                .iter()
                .map(|d| (d.name().unwrap_or_default().to_string(), d.value().unwrap_or_default().to_string()))
                .collect(),
            statistic: a.statistic().map(|s| s.as_str().to_string()).unwrap_or_default(),
            period: a.period().and_then(|p| u32::try_from(p).ok()).unwrap_or_default(),
        },
        comparison: a.comparison_operator().map(|c| c.as_str().to_string()).unwrap_or_default(),
        threshold: a.threshold().unwrap_or_default(),
        evaluation_periods: a.evaluation_periods().and_then(|p| u32::try_from(p).ok()).or(Some(1)),
        datapoints_to_alarm: a.datapoints_to_alarm().and_then(|p| u32::try_from(p).ok()),
        treat_missing_data: Some(a.treat_missing_data().unwrap_or(DEFAULT_TREAT_MISSING).to_string()),
        alarm_actions: actions_as_read(a.alarm_actions(), &last.alarm_actions),
        ok_actions: actions_as_read(a.ok_actions(), &last.ok_actions),
        insufficient_data_actions: actions_as_read(a.insufficient_data_actions(), &last.insufficient_data_actions),
    }
}

// ---- finders -----------------------------------------------------------------

/// The most names one DescribeAlarms takes, and the most alarms one page holds.
const MAX_DESCRIBE: usize = 100;
const _: () = assert!(MAX_DESCRIBE <= i32::MAX as usize);

/// The metric alarms of these names (at most [`MAX_DESCRIBE`]) that exist, by name.
async fn find_alarms(
    cw: &aws_sdk_cloudwatch::Client,
    names: &[String],
) -> Result<BTreeMap<String, MetricAlarm>, String> {
    let mut found = BTreeMap::new();
    let mut token = None;
    loop {
        let out = cw
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .max_records(MAX_DESCRIBE as i32)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws_error("DescribeAlarms", &e).to_string())?;
        for alarm in out.metric_alarms() {
            if let Some(name) = alarm.alarm_name().filter(|n| names.iter().any(|w| w == n)) {
                found.insert(name.to_string(), alarm.clone());
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// The metric alarm of that name, or `None`.
async fn find_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) -> Result<Option<MetricAlarm>, String> {
    let out =
        cw.describe_alarms().alarm_names(name).send().await.map_err(|e| aws_error("DescribeAlarms", &e).to_string())?;
    Ok(out.metric_alarms().iter().find(|a| a.alarm_name() == Some(name)).cloned())
}

/// The ARN of the alarm of that name (tagging calls take it; the physical
/// id is the name), or `None`.
async fn find_alarm_arn(cw: &aws_sdk_cloudwatch::Client, name: &str) -> Result<Option<String>, String> {
    Ok(find_alarm(cw, name).await?.map(|a| a.alarm_arn().unwrap_or_default().to_string()))
}

/// Sets these tags on the alarm (TagResource), leaving its others alone;
/// errors start with `action`.
async fn set_tags(
    cw: &aws_sdk_cloudwatch::Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    cw.tag_resource().resource_arn(arn).set_tags(Some(tags)).send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

/// The alarm's tags.
async fn list_tags(cw: &aws_sdk_cloudwatch::Client, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let out = cw
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsForResource", &e).to_string())?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect())
}

/// Periods CloudWatch accepts: 10, 20 and 30 seconds (high resolution) or
/// a multiple of a minute.
fn valid_period(p: u32) -> bool {
    matches!(p, 10 | 20 | 30) || (p >= 60 && p.is_multiple_of(60))
}

/// The valid period nearest to `p` (the shorter one on a tie).
fn nearest_period(p: u32) -> u32 {
    let below = [10, 20, 30].into_iter().chain([p / 60 * 60].into_iter().filter(|m| *m >= 60));
    let candidates = below.chain([(p / 60 + 1) * 60]);
    candidates.filter(|c| valid_period(*c)).min_by_key(|c| (c.abs_diff(p), *c)).unwrap_or(60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<AlarmProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Alarm::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "denied", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    fn base() -> Value {
        json!({
            "metric": {"namespace": "CIS", "name": "Denied", "statistic": "Sum", "period": 300},
            "comparison": "GreaterThanOrEqualToThreshold",
            "threshold": 1.0
        })
    }

    fn with(field: &str, value: Value) -> Value {
        let mut v = base();
        v[field] = value;
        v
    }

    #[test]
    fn defaults_are_filled() {
        let p = check(base()).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab3-denied"));
        assert_eq!(p.evaluation_periods, Some(1));
        assert_eq!(p.treat_missing_data.as_deref(), Some("missing"));
    }

    #[test]
    fn props_are_checked_offline() {
        assert!(check(with("name", json!("x".repeat(256)))).is_err());
        assert!(check(with("comparison", json!("GreaterThan"))).is_err());
        assert!(check(with("treat_missing_data", json!("notBreaching"))).is_ok());
        assert!(check(with("treat_missing_data", json!("skip"))).is_err());
        assert!(check(with("evaluation_periods", json!(0))).is_err());
        let mut v = with("evaluation_periods", json!(3));
        v["datapoints_to_alarm"] = json!(4);
        assert!(check(v.clone()).is_err());
        v["datapoints_to_alarm"] = json!(2);
        assert!(check(v).is_ok());
        let six: Vec<String> = (0..6).map(|i| format!("arn:aws:sns:us-east-1:1:t{i}")).collect();
        assert!(check(with("alarm_actions", json!(six))).is_err());
        assert!(check(with("ok_actions", json!(["not-an-arn"]))).is_err());
        assert!(check(with("alarm_actions", json!(["${alerts.arn}"]))).is_ok());
        for (period, ok) in [(10, true), (30, true), (60, true), (300, true), (20, true), (90, false), (0, false)] {
            let mut v = base();
            v["metric"]["period"] = json!(period);
            assert_eq!(check(v).is_ok(), ok, "period {period}");
        }
        let mut v = base();
        v["metric"]["statistic"] = json!("p99");
        assert!(check(v).is_err());
        assert!(check(with("thresold", json!(1))).is_err());
    }

    #[test]
    fn periods_suggest_the_nearest_and_the_evaluation_range_is_bounded() {
        for (p, near) in [(45, 30), (0, 10), (15, 10), (25, 20), (90, 60), (100, 120), (1000, 1020)] {
            assert_eq!(nearest_period(p), near, "{p}");
        }
        let mut v = base();
        v["metric"]["period"] = json!(45);
        let errs = check(v).err().unwrap_or_default();
        assert_eq!(errs[0].suggestion.as_deref(), Some("period: 30"));
        let with_range = |period: u32, periods: u32| {
            let mut v = base();
            v["metric"]["period"] = json!(period);
            v["evaluation_periods"] = json!(periods);
            check(v)
        };
        assert!(with_range(300, 288).is_ok());
        let errs = with_range(300, 289).err().unwrap_or_default();
        assert_eq!(errs[0].message, "289 periods of 300 seconds span 86700 seconds");
        assert_eq!(errs[0].suggestion.as_deref(), Some("evaluation_periods: 288"));
        assert!(with_range(3600, 168).is_ok());
        assert!(with_range(3600, 169).is_err());
        assert!(with_range(10, 8640).is_ok());
    }

    #[test]
    fn reordered_actions_read_as_written() {
        let last = vec!["arn:b".to_string(), "arn:a".to_string()];
        assert_eq!(actions_as_read(&["arn:a".into(), "arn:b".into()], &last), last);
        assert_eq!(actions_as_read(&["arn:a".into()], &last), vec!["arn:a".to_string()]);
    }
}
