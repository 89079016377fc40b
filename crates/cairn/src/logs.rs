//! Builders for CloudWatch Logs log groups and metric filters.

use cairn_aws::kinds::logs_log_group::LogGroupProps;
pub use cairn_aws::kinds::logs_metric_filter::FilterMetric;
use cairn_aws::kinds::logs_metric_filter::MetricFilterProps;

use crate::stack::{Name, Value, attributes, builder};

builder!(
    /// A CloudWatch Logs log group (`aws:logs:LogGroup`). Its handle gives
    /// `arn()` (with no trailing `:*`) and `name()` ([`Name<LogGroup>`](Name)).
    LogGroup = "aws:logs:LogGroup", LogGroupProps
);

attributes!(LogGroup: arn => Arn, name => Name);

impl LogGroup {
    /// A log group named `/cairn/<stack>/<id>` unless [`LogGroup::name`] says
    /// otherwise; events are kept forever unless a retention is set.
    pub fn new() -> Self {
        Self::default()
    }
    /// A log group of that name, such as `/aws/lambda/<function>`.
    pub fn named(name: impl Into<String>) -> Self {
        Self::new().name(name)
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// Days to keep events: 1, 3, 5, 7, 14, 30, 60, 90, … 3653.
    pub fn retention_days(self, days: impl Into<Value<i32>>) -> Self {
        self.set_value("/retention_days", days, |p, v| p.retention_days = Some(v))
    }
    /// The KMS key ARN that encrypts the group.
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.kms_key = Some(key.into()))
    }
}

builder!(
    /// A metric filter counting the events of a log group
    /// (`aws:logs:MetricFilter`). Its handle gives `name()`.
    MetricFilter = "aws:logs:MetricFilter", MetricFilterProps
);

attributes!(MetricFilter: name => Name);

impl MetricFilter {
    /// A filter on the log group `log_group` (like `group.name()`) adding 1
    /// to `namespace`/`metric` for each event matching `pattern`.
    pub fn new(
        log_group: Name<LogGroup>,
        pattern: impl Into<String>,
        namespace: impl Into<String>,
        metric: impl Into<String>,
    ) -> Self {
        Self::from_props(MetricFilterProps {
            log_group: log_group.into(),
            pattern: pattern.into(),
            metric: FilterMetric { name: metric.into(), namespace: namespace.into(), ..FilterMetric::default() },
            ..MetricFilterProps::default()
        })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// What each match adds: a number or a `$.field` selector (default `1`).
    pub fn value(self, value: impl Into<String>) -> Self {
        self.with(|p| p.metric.value = Some(value.into()))
    }
    /// The value published for periods without a match.
    pub fn default_value(self, value: impl Into<Value<f64>>) -> Self {
        self.set_value("/metric/default_value", value, |p, v| p.metric.default_value = Some(v))
    }
    /// The metric's unit, like `Count`.
    pub fn unit(self, unit: impl Into<String>) -> Self {
        self.with(|p| p.metric.unit = Some(unit.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builders_set_props() {
        let g = LogGroup::named("/aws/lambda/f").retention_days(14);
        assert_eq!(serde_json::to_value(&g.props).ok(), Some(json!({"name": "/aws/lambda/f", "retention_days": 14})));
        let f = MetricFilter::new(Name::literal("/trail"), "{ $.x = 1 }", "CIS", "X").unit("Count");
        assert_eq!(
            serde_json::to_value(&f.props).ok(),
            Some(json!({
                "log_group": "/trail", "pattern": "{ $.x = 1 }",
                "metric": {"name": "X", "namespace": "CIS", "unit": "Count"}
            }))
        );
    }
}
