//! Builders for CloudWatch Logs log groups and metric filters.

use cairn_aws::kinds::logs_log_group::LogGroupProps;
pub use cairn_aws::kinds::logs_metric_filter::FilterMetric;
use cairn_aws::kinds::logs_metric_filter::MetricFilterProps;

use crate::stack::{Builder, Kind, attributes};

/// `aws:logs:LogGroup`. Its `arn` has no trailing `:*`.
pub struct LogGroup;

impl Kind for LogGroup {
    const TYPE: &'static str = "aws:logs:LogGroup";
    type Props = LogGroupProps;
}

attributes!(LogGroup: arn, name);

impl LogGroup {
    /// A log group named `/cairn/<stack>/<id>` unless [`Builder::name`] says
    /// otherwise; events are kept forever unless a retention is set.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Builder<LogGroup> {
        Builder::default()
    }
    /// A log group of that name, such as `/aws/lambda/<function>`.
    pub fn named(name: impl Into<String>) -> Builder<LogGroup> {
        Self::new().name(name)
    }
}

impl Builder<LogGroup> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// Days to keep events: 1, 3, 5, 7, 14, 30, 60, 90, … 3653.
    #[must_use]
    pub fn retention_days(self, days: i32) -> Self {
        self.with(|p| p.retention_days = Some(days))
    }
    /// The KMS key ARN that encrypts the group.
    #[must_use]
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.kms_key = Some(key.into()))
    }
}

/// `aws:logs:MetricFilter`.
pub struct MetricFilter;

impl Kind for MetricFilter {
    const TYPE: &'static str = "aws:logs:MetricFilter";
    type Props = MetricFilterProps;
}

attributes!(MetricFilter: name);

impl MetricFilter {
    /// A filter on `log_group` (its name, like `group.name()`) adding 1 to
    /// `namespace`/`metric` for each event matching `pattern`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(
        log_group: impl Into<String>,
        pattern: impl Into<String>,
        namespace: impl Into<String>,
        metric: impl Into<String>,
    ) -> Builder<MetricFilter> {
        Builder::from_props(MetricFilterProps {
            log_group: log_group.into(),
            pattern: pattern.into(),
            metric: FilterMetric { name: metric.into(), namespace: namespace.into(), ..FilterMetric::default() },
            ..MetricFilterProps::default()
        })
    }
}

impl Builder<MetricFilter> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// What each match adds: a number or a `$.field` selector (default `1`).
    #[must_use]
    pub fn value(self, value: impl Into<String>) -> Self {
        self.with(|p| p.metric.value = Some(value.into()))
    }
    /// The value published for periods without a match.
    #[must_use]
    pub fn default_value(self, value: f64) -> Self {
        self.with(|p| p.metric.default_value = Some(value))
    }
    /// The metric's unit, like `Count`.
    #[must_use]
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
        let f = MetricFilter::new("/trail", "{ $.x = 1 }", "CIS", "X").unit("Count");
        assert_eq!(
            serde_json::to_value(&f.props).ok(),
            Some(json!({
                "log_group": "/trail", "pattern": "{ $.x = 1 }",
                "metric": {"name": "X", "namespace": "CIS", "unit": "Count"}
            }))
        );
    }
}
