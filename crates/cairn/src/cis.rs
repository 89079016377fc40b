//! The CIS AWS Foundations Benchmark (v3.0) monitoring controls 4.1 to
//! 4.15 for any stack: a metric filter and an alarm each, on the log group
//! a trail delivers to, notifying a topic.
//!
//! The filters and alarms are those of `stacks/cis-monitoring.yaml`,
//! compiled in and read with the same reader as any stack file, so the two
//! forms cannot drift apart.
//!
//! ```no_run
//! use cairn::{Stack, cis, logs, sns};
//!
//! let mut stack = Stack::new("audit");
//! let group = stack.add("trail-logs", logs::LogGroup::named("/audit/cloudtrail").retention_days(90));
//! let alerts = stack.add("alerts", sns::Topic::new());
//! cis::monitoring(&mut stack, "cis-", &group.name(), &alerts.arn());
//! ```

use cairn_engine::value::Json;

use crate::logs::LogGroup;
use crate::sns::Topic;
use crate::stack::{Arn, Name, Stack};

/// The YAML form, the one source of the filters and alarms.
pub const YAML: &str = include_str!("../../../stacks/cis-monitoring.yaml");

/// Adds the thirty resources of the CIS monitoring set to `stack`, their
/// ids prefixed with `prefix` (say `cis-`, so that they cannot meet the
/// stack's own), the filters on `log_group` and every alarm notifying
/// `topic`.
pub fn monitoring(stack: &mut Stack, prefix: &str, log_group: &Name<LogGroup>, topic: &Arn<Topic>) {
    let parsed = cairn_stack::parse("stacks/cis-monitoring.yaml", YAML);
    // The file is part of cairn and validated by its tests: it always reads.
    let Some(spec) = parsed.spec else { return };
    let (group, topic) = (log_group.text().to_string(), topic.text().to_string());
    for mut r in spec.resources {
        substitute(&mut r.props, &group, &topic);
        r.id = format!("{prefix}{}", r.id);
        r.depends_on = r.depends_on.iter().map(|d| format!("{prefix}{d}")).collect();
        stack.push_spec(r);
    }
}

/// Puts the log group and topic where the file has its two parameters.
fn substitute(value: &mut Json, group: &str, topic: &str) {
    match value {
        Json::String(s) => {
            *s = s.replace("${param.log_group}", group).replace("${param.alarm_topic}", topic);
        }
        Json::Array(items) => items.iter_mut().for_each(|v| substitute(v, group, topic)),
        Json::Object(map) => map.values_mut().for_each(|v| substitute(v, group, topic)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{logs, sns};

    /// The Rust form is the YAML form with its parameters given: the same
    /// resources, props and order, ids prefixed.
    #[test]
    fn the_rust_form_is_the_yaml_form_with_its_parameters_given() {
        let mut stack = Stack::new("audit");
        let group = stack.add("trail-logs", logs::LogGroup::named("/audit/cloudtrail"));
        let alerts = stack.add("alerts", sns::Topic::new());
        monitoring(&mut stack, "cis-", &group.name(), &alerts.arn());
        let spec: cairn_engine::spec::StackSpec = stack.into();
        let added: Vec<_> = spec.resources.iter().filter(|r| r.id.starts_with("cis-")).collect();
        assert_eq!(added.len(), 30, "a filter and an alarm for each of 4.1 to 4.15");

        let yaml = cairn_stack::parse("cis.yaml", YAML).spec.unwrap_or_default();
        assert_eq!(yaml.resources.len(), 30);
        for (rust, file) in added.iter().zip(&yaml.resources) {
            assert_eq!(rust.id, format!("cis-{}", file.id));
            assert_eq!(rust.kind, file.kind);
            let mut want = file.props.clone();
            substitute(&mut want, "${trail-logs.name}", "${alerts.arn}");
            assert_eq!(rust.props, want, "{}", rust.id);
            assert!(!rust.props.to_string().contains("${param."), "{}", rust.id);
        }
        let alarm = added.iter().find(|r| r.id == "cis-root-usage-alarm").map(|r| r.props.clone());
        assert_eq!(alarm.and_then(|p| p.get("alarm_actions").cloned()), Some(serde_json::json!(["${alerts.arn}"])));
        assert_eq!(
            added.iter().find(|r| r.id == "cis-root-usage-alarm").map(|r| r.depends_on.clone()),
            Some(vec!["cis-root-usage".to_string()])
        );
    }
}
