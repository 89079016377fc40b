//! Builders for CloudWatch alarms.

pub use cairn_aws::kinds::cloudwatch_alarm::AlarmMetric;
use cairn_aws::kinds::cloudwatch_alarm::AlarmProps;

use crate::stack::{Arn, Value, attributes, builder};

builder!(
    /// A CloudWatch alarm on one metric (`aws:cloudwatch:Alarm`). Its handle
    /// gives `arn()` and `name()`.
    Alarm = "aws:cloudwatch:Alarm", AlarmProps
);

attributes!(Alarm: arn => Arn, name => Name);

/// The metric an alarm watches `statistic` (`Sum`, `Average`, …) over
/// periods of `period` seconds.
pub fn metric(namespace: impl Into<String>, name: impl Into<String>, statistic: &str, period: u32) -> AlarmMetric {
    AlarmMetric {
        namespace: namespace.into(),
        name: name.into(),
        statistic: statistic.to_string(),
        period,
        ..AlarmMetric::default()
    }
}

impl Alarm {
    /// An alarm named `<stack>-<id>` when `metric` compares to `threshold`
    /// by `comparison` (`GreaterThanOrEqualToThreshold`, …) for one period.
    pub fn new(metric: AlarmMetric, comparison: &str, threshold: impl Into<Value<f64>>) -> Self {
        let props = AlarmProps { metric, comparison: comparison.to_string(), ..AlarmProps::default() };
        Self::from_props(props).set_value("/threshold", threshold, |p, v| p.threshold = v)
    }
    /// An alarm when the sum of `namespace`/`name` over 5 minutes is at
    /// least `threshold`: the usual shape for a metric-filter count.
    pub fn at_least(namespace: impl Into<String>, name: impl Into<String>, threshold: impl Into<Value<f64>>) -> Self {
        Self::new(metric(namespace, name, "Sum", 300), "GreaterThanOrEqualToThreshold", threshold)
    }
}

impl Alarm {
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    /// A metric dimension, such as `("FunctionName", fn.name())`.
    pub fn dimension(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|p| {
            p.metric.dimensions.insert(name.into(), value.into());
        })
    }
    pub fn evaluation_periods(self, periods: impl Into<Value<u32>>) -> Self {
        self.set_value("/evaluation_periods", periods, |p, v| p.evaluation_periods = Some(v))
    }
    pub fn datapoints_to_alarm(self, datapoints: impl Into<Value<u32>>) -> Self {
        self.set_value("/datapoints_to_alarm", datapoints, |p, v| p.datapoints_to_alarm = Some(v))
    }
    /// `breaching`, `notBreaching`, `ignore` or `missing`.
    pub fn treat_missing_data(self, treatment: &str) -> Self {
        self.with(|p| p.treat_missing_data = Some(treatment.to_string()))
    }
    /// Notifies `arn` (a topic, like `topic.arn()`) on entering ALARM.
    pub fn alarm_action<K>(self, arn: Arn<K>) -> Self {
        self.with(|p| p.alarm_actions.push(arn.into()))
    }
    /// Notifies `arn` on returning to OK.
    pub fn ok_action<K>(self, arn: Arn<K>) -> Self {
        self.with(|p| p.ok_actions.push(arn.into()))
    }
    /// Notifies `arn` on entering INSUFFICIENT_DATA.
    pub fn insufficient_data_action<K>(self, arn: Arn<K>) -> Self {
        self.with(|p| p.insufficient_data_actions.push(arn.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_sets_props() {
        let a = Alarm::at_least("CIS", "Denied", 1.0)
            .dimension("Service", "iam")
            .alarm_action(Arn::any("arn:aws:sns:r:1:t"));
        assert_eq!(
            serde_json::to_value(&a.props).ok(),
            Some(json!({
                "metric": {"namespace": "CIS", "name": "Denied", "dimensions": {"Service": "iam"}, "statistic": "Sum", "period": 300},
                "comparison": "GreaterThanOrEqualToThreshold",
                "threshold": 1.0,
                "alarm_actions": ["arn:aws:sns:r:1:t"]
            }))
        );
    }
}
