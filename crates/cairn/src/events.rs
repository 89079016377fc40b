//! Builders for EventBridge rules.

use std::collections::BTreeMap;

use cairn_aws::kinds::events_rule::RuleProps;
pub use cairn_aws::kinds::events_rule::{InputTransformer, Target};
use cairn_engine::value::Json;

use crate::stack::{Arn, attributes, builder};

builder!(
    /// An EventBridge rule (`aws:events:Rule`), matching events or firing on
    /// a schedule, with up to five targets. Its handle gives `arn()` and
    /// `name()`.
    Rule = "aws:events:Rule", RuleProps
);

attributes!(Rule: arn => Arn, name => Name);

impl Rule {
    /// A rule matching events with an event pattern.
    pub fn on_pattern(pattern: Json) -> Self {
        Self::from_props(RuleProps { event_pattern: Some(pattern), ..RuleProps::default() })
    }
    /// A rule firing on a schedule: `rate(5 minutes)` or `cron(…)`.
    pub fn on_schedule(expression: &str) -> Self {
        Self::from_props(RuleProps { schedule: Some(expression.to_string()), ..RuleProps::default() })
    }
}

/// A target sending the matched event as it is to the resource `arn` (a
/// topic, a queue, a function: like `topic.arn()`).
pub fn target<K>(arn: Arn<K>) -> Target {
    Target { arn: arn.into(), ..Target::default() }
}

/// A target sending a text built from the event: `paths` name JSON paths in
/// the event, `template` uses them as `<name>`.
pub fn transformed_target<'a, K>(
    arn: Arn<K>,
    paths: impl IntoIterator<Item = (&'a str, &'a str)>,
    template: &str,
) -> Target {
    let paths: BTreeMap<String, String> = paths.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Target { input_transformer: Some(InputTransformer { paths, template: template.to_string() }), ..target(arn) }
}

impl Rule {
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    /// Created disabled.
    pub fn disabled(self) -> Self {
        self.with(|p| p.state = Some("DISABLED".into()))
    }
    pub fn event_bus(self, bus: impl Into<String>) -> Self {
        self.with(|p| p.event_bus = Some(bus.into()))
    }
    /// Adds a target (at most 5 per rule).
    pub fn target(self, target: Target) -> Self {
        self.with(|p| p.targets.push(target))
    }
}
