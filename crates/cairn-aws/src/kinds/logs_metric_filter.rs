//! `aws:logs:MetricFilter`: a metric filter on a log group. Physical id:
//! `<log group>:<filter name>` (neither may contain `:`).
//!
//! Metric filters cannot carry tags, so ownership cannot be proven: create
//! refuses a filter of the same name that already exists on the group
//! rather than overwrite it (PutMetricFilter would silently replace it).
//!
//! CloudWatch Logs refuses a write on a log group while another is in
//! flight (`OperationAbortedException`), so the filters of one group are
//! put and deleted one at a time (a lock per group, held by this kind),
//! and an abort caused by someone else's write is waited out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::{MetricFilter as AwsMetricFilter, MetricTransformation, StandardUnit};
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, ReadItem, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::{found_nothing, known_name, known_str, unresolved};
use crate::retry::{Bound, Wait, retrying};

// ---- props -----------------------------------------------------------------

/// A metric filter: log events matching `pattern` add `metric.value` to a
/// CloudWatch metric.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricFilterProps {
    /// Filter name: 1-512 characters, no `:` or `*`. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The log group's name.
    pub log_group: String,
    /// The filter pattern, e.g. `{ $.errorCode = "AccessDenied*" }`; empty
    /// matches every event.
    #[serde(default, deserialize_with = "pattern_text")]
    pub pattern: String,
    /// The metric each match feeds.
    pub metric: FilterMetric,
}

/// Reads the pattern, explaining the YAML pitfall of an unquoted JSON
/// pattern: `pattern: { $.a = 1 }` is a YAML mapping, not text.
fn pattern_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    match Value::deserialize(d)? {
        Value::Object(m) => {
            let inner: Vec<String> =
                m.iter().map(|(k, v)| if v.is_null() { k.clone() } else { format!("{k}: {v}") }).collect();
            Err(D::Error::custom(format!(
                "the filter pattern was read as a YAML mapping, not text: quote it, as in pattern: '{{ {} }}'",
                inner.join(", ")
            )))
        }
        other => String::deserialize(other).map_err(D::Error::custom),
    }
}

/// The metric a filter publishes to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilterMetric {
    /// Metric name.
    pub name: String,
    /// Metric namespace, e.g. `CloudTrailMetrics`.
    pub namespace: String,
    /// What a match adds: a number or a `$.field` selector; default `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value published when nothing matches in a period; unset
    /// publishes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
    /// The metric's unit, e.g. `Count` or `Seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// The `aws:logs:MetricFilter` kind.
pub struct MetricFilter {
    clients: Arc<Clients>,
    /// One lock per log group: its writes go one at a time.
    groups: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl MetricFilter {
    pub fn new(clients: Arc<Clients>) -> Self {
        MetricFilter { clients, groups: Mutex::default() }
    }
}

const MAX_NAME: usize = 512;
const MAX_PATTERN: usize = 1024;
const DEFAULT_VALUE: &str = "1";
const MAX_DELETE_ROUNDS: usize = 10;

#[async_trait]
impl TypedKind for MetricFilter {
    const TYPE: &'static str = "aws:logs:MetricFilter";
    const ATTRIBUTES: &'static [&'static str] = &["name"];
    const REPLACE_ON: &'static [&'static str] = &["name", "log_group"];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["log_group"], when: None, accepts: &[AttrType::Name("aws:logs:LogGroup")] }];
    type Props = MetricFilterProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "`<log group>:<filter name>`",
        attributes: &[("name", "the filter's name")],
        quirks: &[
            "Metric filters carry no tags, so nothing proves an existing one is ours: create refuses a filter of the same name rather than let PutMetricFilter overwrite it.",
            "CloudWatch Logs refuses a write on a group while another is in flight: the filters of one group are written one at a time, and another writer's change is waited out.",
            "An unquoted JSON pattern in YAML is a mapping, not text: validate says so and shows the quoted form.",
            "At most 100 filters per log group, checked offline.",
        ],
    };

    fn defaults(props: &mut MetricFilterProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        if props.metric.value.is_none() {
            props.metric.value = Some(DEFAULT_VALUE.to_string());
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &MetricFilterProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
        {
            if name.is_empty() || name.len() > MAX_NAME {
                errors.push(
                    PropError::new(&["name"], format!("filter name is {} characters long", name.len()))
                        .expected(format!("1 to {MAX_NAME} characters")),
                );
            }
            if name.contains([':', '*']) {
                errors.push(
                    PropError::new(&["name"], format!("filter name `{name}` contains `:` or `*`"))
                        .expected("a name without `:` and `*`"),
                );
            }
        }
        if !unresolved(&props.log_group) && props.log_group.is_empty() {
            errors.push(PropError::new(&["log_group"], "the log group is empty").expected("a log group name"));
        }
        if props.pattern.len() > MAX_PATTERN {
            errors.push(
                PropError::new(&["pattern"], format!("the pattern is {} characters long", props.pattern.len()))
                    .expected(format!("at most {MAX_PATTERN} characters")),
            );
        } else if !unresolved(&props.pattern)
            && let Err(problem) = cairn_patterns::filter_pattern::validate(&props.pattern)
        {
            let mut e =
                PropError::new(&["pattern"], format!("filter pattern: {}", problem.message)).expected(problem.expected);
            e.suggestion = problem.suggestion;
            errors.push(e);
        }
        for (field, value) in [("name", &props.metric.name), ("namespace", &props.metric.namespace)] {
            if value.is_empty() || value.len() > 255 {
                errors.push(
                    PropError::new(&["metric", field], format!("metric {field} is {} characters long", value.len()))
                        .expected("1 to 255 characters"),
                );
            }
        }
        if let Some(unit) = &props.metric.unit
            && !unresolved(unit)
            && !StandardUnit::values().contains(&unit.as_str())
        {
            errors.push(
                PropError::new(&["metric", "unit"], format!("`{unit}` is not a CloudWatch unit"))
                    .expected(format!("one of {}", StandardUnit::values().join(", "))),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    /// The look before a create, made early by apply (see `Kind::absent`).
    async fn absent(&self, cx: &OpCtx, props: &Value) -> Option<bool> {
        let (name, group) = (&known_name(props, cx)?, known_str(props, "log_group")?);
        found_nothing(find_filter(self.clients.logs().await, group, name).await)
    }

    async fn create(&self, cx: &OpCtx, props: &MetricFilterProps) -> Result<Observed<MetricFilterProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let logs = self.clients.logs().await;
        let action = format!("creating metric filter {name} on log group {}", props.log_group);

        // Without tags nothing proves an existing filter is ours, and
        // PutMetricFilter would overwrite it: refuse.
        if !cx.absent
            && find_filter(logs, &props.log_group, &name)
                .await
                .map_err(|e| OpError::failed(format!("{action}: {e}")))?
                .is_some()
        {
            return Err(OpError::NotOwned {
                what: format!("metric filter {name} on log group {}", props.log_group),
                owner: "metric filters carry no tags, so cairn cannot tell who made it".to_string(),
            });
        }
        self.put(cx, props, &name, &action).await?;
        Ok(observed(&props.log_group, &name, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        physical_id: &str,
        last: &MetricFilterProps,
    ) -> Result<Option<Observed<MetricFilterProps>>, OpError> {
        let (group, name) = split_id(physical_id);
        let logs = self.clients.logs().await;
        let Some(filter) = find_filter(logs, group, name)
            .await
            .map_err(|e| OpError::failed(format!("reading metric filter {name} on log group {group}: {e}")))?
        else {
            return Ok(None);
        };
        Ok(Some(observed(group, name, props_from_filter(&filter, group, name, last))))
    }

    /// A plan reads all of a log group's filters in one DescribeMetricFilters
    /// (a group holds at most 100) instead of one call per filter.
    const READ_BATCH: usize = 100;

    async fn read_many(
        &self,
        items: &[ReadItem<'_, MetricFilterProps>],
    ) -> Vec<Result<Option<Observed<MetricFilterProps>>, OpError>> {
        let logs = self.clients.logs().await;
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for it in items {
            let (group, name) = split_id(it.physical_id);
            groups.entry(group).or_default().push(name);
        }
        let lists: Vec<_> = groups
            .into_iter()
            .map(|(group, names)| async move {
                let found = if let [name] = names.as_slice() {
                    find_filter(logs, group, name).await.map(|f| f.into_iter().map(|f| (name.to_string(), f)).collect())
                } else {
                    group_filters(logs, group).await
                };
                (group, found)
            })
            .collect();
        // A few groups at a time: DescribeMetricFilters allows few calls a second.
        let found: BTreeMap<&str, Result<BTreeMap<String, AwsMetricFilter>, String>> =
            futures::StreamExt::collect(futures::StreamExt::buffer_unordered(futures::stream::iter(lists), 4)).await;
        items
            .iter()
            .map(|it| {
                let (group, name) = split_id(it.physical_id);
                match found.get(group) {
                    Some(Ok(filters)) => {
                        Ok(filters.get(name).map(|f| observed(group, name, props_from_filter(f, group, name, it.last))))
                    }
                    Some(Err(e)) => {
                        Err(OpError::failed(format!("reading metric filter {name} on log group {group}: {e}")))
                    }
                    None => Err(OpError::failed(format!("reading metric filter {name}: not looked up"))),
                }
            })
            .collect()
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        physical_id: &str,
        _old: &MetricFilterProps,
        new: &MetricFilterProps,
    ) -> Result<Observed<MetricFilterProps>, OpError> {
        let (group, name) = split_id(physical_id);
        let action = format!("updating metric filter {name} on log group {group}");
        // PutMetricFilter replaces the whole filter, so one call converges it.
        self.put(cx, new, name, &action).await?;
        Ok(observed(group, name, new.clone()))
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, physical_id: &str, _props: &MetricFilterProps) -> Result<(), OpError> {
        let (group, name) = split_id(physical_id);
        let logs = self.clients.logs().await;
        let action = format!("deleting metric filter {name} on log group {group}");
        let lock = self.group_lock(group);
        let _one_write = lock.lock().await;
        // AWS keeps one filter per name, so this deletes once and checks;
        // moto keeps one per PutMetricFilter call, so it may take a few.
        for _ in 0..MAX_DELETE_ROUNDS {
            let sent = retrying(cx, self.clients.waits(), &action, group_busy, || {
                logs.delete_metric_filter().log_group_name(group).filter_name(name).send()
            })
            .await;
            match sent.map_err(|f| f.error) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => return Err(aws_error(&action, &e)),
            }
            if find_filter(logs, group, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?.is_none() {
                return Ok(());
            }
        }
        Err(OpError::failed(format!("{action}: it is still there after {MAX_DELETE_ROUNDS} deletions")))
    }
}

impl MetricFilter {
    /// The lock that makes writes on `group` go one at a time.
    fn group_lock(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut groups = self.groups.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(groups.entry(group.to_string()).or_default())
    }

    async fn put(&self, cx: &OpCtx, props: &MetricFilterProps, name: &str, action: &str) -> Result<(), OpError> {
        let logs = self.clients.logs().await;
        let m = &props.metric;
        let transformation = MetricTransformation::builder()
            .metric_name(&m.name)
            .metric_namespace(&m.namespace)
            .metric_value(m.value.as_deref().unwrap_or(DEFAULT_VALUE))
            .set_default_value(m.default_value)
            .set_unit(m.unit.as_deref().map(StandardUnit::from))
            .build()
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let lock = self.group_lock(&props.log_group);
        let _one_write = lock.lock().await;
        retrying(cx, self.clients.waits(), action, group_busy, || {
            logs.put_metric_filter()
                .log_group_name(&props.log_group)
                .filter_name(name)
                .filter_pattern(&props.pattern)
                .metric_transformations(transformation.clone())
                .send()
        })
        .await
        .map_err(|f| f.op_error(action))?;
        Ok(())
    }
}

/// CloudWatch Logs' answer to a write on a log group while another write on
/// it (someone else's: this kind's own go one at a time) is in flight.
fn group_busy(code: Option<&str>, _message: Option<&str>) -> Option<Wait> {
    (code == Some("OperationAbortedException"))
        .then(|| Wait::new("waiting for another change to the log group to finish", Bound::Busy))
}

// ---- pure helpers ------------------------------------------------------------

/// `<log group>:<filter name>`.
pub fn filter_id(log_group: &str, name: &str) -> String {
    format!("{log_group}:{name}")
}

fn split_id(id: &str) -> (&str, &str) {
    id.split_once(':').unwrap_or(("", id))
}

fn observed(group: &str, name: &str, props: MetricFilterProps) -> Observed<MetricFilterProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), Value::String(name.to_string()));
    Observed { physical_id: filter_id(group, name), props, attrs }
}

/// Props as AWS reports them, in the canonical form `check` produces.
fn props_from_filter(f: &AwsMetricFilter, group: &str, name: &str, last: &MetricFilterProps) -> MetricFilterProps {
    let metric = match f.metric_transformations().first() {
        Some(t) => FilterMetric {
            name: t.metric_name().to_string(),
            namespace: t.metric_namespace().to_string(),
            value: Some(t.metric_value().to_string()),
            default_value: t.default_value(),
            // AWS reports `None` for a filter created without a unit.
            unit: match t.unit() {
                Some(StandardUnit::None) if last.metric.unit.is_none() => None,
                Some(u) => Some(u.as_str().to_string()),
                None => None,
            },
        },
        None => FilterMetric::default(),
    };
    MetricFilterProps {
        name: Some(name.to_string()),
        log_group: group.to_string(),
        pattern: f.filter_pattern().unwrap_or_default().to_string(),
        metric,
    }
}

// ---- finders -----------------------------------------------------------------

/// Every metric filter of a log group, by name (none if the group is gone).
async fn group_filters(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
) -> Result<BTreeMap<String, AwsMetricFilter>, String> {
    let mut filters = BTreeMap::new();
    let mut token = None;
    loop {
        let out = match logs.describe_metric_filters().log_group_name(group).set_next_token(token).send().await {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(filters),
            Err(e) => return Err(aws_error("DescribeMetricFilters", &e).to_string()),
        };
        // The last of a name wins: AWS has one per name, moto one per put, newest last.
        for f in out.metric_filters() {
            if let Some(name) = f.filter_name() {
                filters.insert(name.to_string(), f.clone());
            }
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(filters),
        }
    }
}

/// The filter of exactly that name on the group, or `None` (also when the
/// group itself is gone).
async fn find_filter(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    name: &str,
) -> Result<Option<AwsMetricFilter>, String> {
    let mut token = None;
    loop {
        let out = match logs
            .describe_metric_filters()
            .log_group_name(group)
            .filter_name_prefix(name)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(aws_error("DescribeMetricFilters", &e).to_string()),
        };
        // The last match: AWS has one per name, moto one per put, newest last.
        if let Some(f) = out.metric_filters().iter().rfind(|f| f.filter_name() == Some(name)) {
            return Ok(Some(f.clone()));
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<MetricFilterProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(MetricFilter::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "denied", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    fn metric() -> Value {
        json!({"name": "Denied", "namespace": "CIS"})
    }

    #[test]
    fn defaults_are_filled() {
        let p = check(json!({"log_group": "/trail", "metric": metric()})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab3-denied"));
        assert_eq!(p.metric.value.as_deref(), Some("1"));
    }

    #[test]
    fn an_unquoted_json_pattern_says_to_quote_it() {
        let errs = check(json!({"log_group": "/t", "pattern": {"$.x = 1": null}, "metric": metric()}))
            .err()
            .unwrap_or_default();
        assert_eq!(
            errs[0].message,
            "the filter pattern was read as a YAML mapping, not text: quote it, as in pattern: '{ $.x = 1 }'"
        );
        assert_eq!(errs[0].path, vec![cairn_engine::PathSeg::Key("pattern".into())]);
        let errs = check(json!({"log_group": "/t", "pattern": 5, "metric": metric()})).err().unwrap_or_default();
        assert_eq!(errs[0].message, "invalid type: integer `5`, expected a string");
    }

    #[test]
    fn filter_pattern_syntax_is_checked_offline() {
        let with = |pattern: &str| check(json!({"log_group": "/t", "pattern": pattern, "metric": metric()}));
        // The syntax itself is cairn-patterns' to test (its table tests hold
        // every pattern this kind judged before it used the crate); here,
        // the wiring: a pattern passes, and problems come back prefixed and
        // located at `pattern`.
        for ok in
            ["", "ERROR -DEBUG", r#"{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }"#]
        {
            assert!(with(ok).is_ok(), "{ok}");
        }
        let errs = with(r#"{ ($.errorCode = "AccessDenied*" }"#).err().unwrap_or_default();
        assert_eq!(
            errs[0].message,
            "filter pattern: the `(` at character 3 is never closed: found `}` at character 34 instead of `)`"
        );
        assert_eq!(errs[0].expected.as_deref(), Some("a `)` for every `(`"));
        assert_eq!(errs[0].path, vec![cairn_engine::PathSeg::Key("pattern".into())]);
        let errs = with(r#"$.errorCode = "AccessDenied""#).err().unwrap_or_default();
        assert_eq!(errs[0].suggestion.as_deref(), Some(r#"write `{ $.errorCode = "AccessDenied" }`"#));
        // CloudWatch Logs has `NOT EXISTS` but no `EXISTS` (docs/decisions.md).
        let errs = with("{ $.value EXISTS }").err().unwrap_or_default();
        assert_eq!(errs[0].message, "filter pattern: CloudWatch Logs does not support `EXISTS` (only `NOT EXISTS`)");
        assert_eq!(errs[0].suggestion.as_deref(), Some("write `$.value = *`"));
        let errs = with("{ $.x = }").err().unwrap_or_default();
        assert!(errs[0].message.starts_with("filter pattern: expected a value after `$.x =`"), "{errs:?}");
        assert!(with("{ $.x = ${param.v} }").is_ok());
    }

    #[test]
    fn props_are_checked_offline() {
        assert!(check(json!({"log_group": "/trail", "pattern": "{ $.x = 1 }", "metric": metric()})).is_ok());
        assert!(check(json!({"name": "a:b", "log_group": "/trail", "metric": metric()})).is_err());
        assert!(check(json!({"log_group": "", "metric": metric()})).is_err());
        assert!(check(json!({"log_group": "${g.name}", "metric": metric()})).is_ok());
        assert!(check(json!({"log_group": "/t", "metric": {"name": "", "namespace": "N"}})).is_err());
        assert!(check(json!({"log_group": "/t", "metric": {"name": "M", "namespace": "N", "unit": "Count"}})).is_ok());
        assert!(check(json!({"log_group": "/t", "metric": {"name": "M", "namespace": "N", "unit": "count"}})).is_err());
        assert!(check(json!({"log_group": "/t"})).is_err());
    }

    #[test]
    fn physical_id_round_trips() {
        assert_eq!(split_id(&filter_id("/aws/trail", "denied")), ("/aws/trail", "denied"));
    }
}
