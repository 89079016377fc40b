//! Builders for CloudWatch alarms.

pub use cairn_aws::kinds::cloudwatch_alarm::AlarmMetric;
use cairn_aws::kinds::cloudwatch_alarm::AlarmProps;

use crate::stack::{Builder, Kind, attributes};

/// `aws:cloudwatch:Alarm`.
pub struct Alarm;

impl Kind for Alarm {
    const TYPE: &'static str = "aws:cloudwatch:Alarm";
    type Props = AlarmProps;
}

attributes!(Alarm: arn, name);

/// The metric an alarm watches: `statistic` (`Sum`, `Average`, …) over
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
    #[allow(clippy::new_ret_no_self)]
    pub fn new(metric: AlarmMetric, comparison: &str, threshold: f64) -> Builder<Alarm> {
        Builder::from_props(AlarmProps {
            metric,
            comparison: comparison.to_string(),
            threshold,
            ..AlarmProps::default()
        })
    }
    /// An alarm when the sum of `namespace`/`name` over 5 minutes is at
    /// least `threshold`: the usual shape for a metric-filter count.
    pub fn at_least(namespace: impl Into<String>, name: impl Into<String>, threshold: f64) -> Builder<Alarm> {
        Self::new(metric(namespace, name, "Sum", 300), "GreaterThanOrEqualToThreshold", threshold)
    }
}

impl Builder<Alarm> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    #[must_use]
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    /// A metric dimension, such as `("FunctionName", fn.name())`.
    #[must_use]
    pub fn dimension(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|p| {
            p.metric.dimensions.insert(name.into(), value.into());
        })
    }
    #[must_use]
    pub fn evaluation_periods(self, periods: u32) -> Self {
        self.with(|p| p.evaluation_periods = Some(periods))
    }
    #[must_use]
    pub fn datapoints_to_alarm(self, datapoints: u32) -> Self {
        self.with(|p| p.datapoints_to_alarm = Some(datapoints))
    }
    /// `breaching`, `notBreaching`, `ignore` or `missing`.
    #[must_use]
    pub fn treat_missing_data(self, treatment: &str) -> Self {
        self.with(|p| p.treat_missing_data = Some(treatment.to_string()))
    }
    /// Notifies `arn` (a topic, like `topic.arn()`) on entering ALARM.
    #[must_use]
    pub fn alarm_action(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.alarm_actions.push(arn.into()))
    }
    /// Notifies `arn` on returning to OK.
    #[must_use]
    pub fn ok_action(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.ok_actions.push(arn.into()))
    }
    /// Notifies `arn` on entering INSUFFICIENT_DATA.
    #[must_use]
    pub fn insufficient_data_action(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.insufficient_data_actions.push(arn.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_sets_props() {
        let a = Alarm::at_least("CIS", "Denied", 1.0).dimension("Service", "iam").alarm_action("arn:aws:sns:r:1:t");
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
