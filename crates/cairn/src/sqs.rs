//! Builders for SQS queues.
//!
//! A setter's typo is one error naming the builder type:
//!
//! ```compile_fail,E0599
//! let queue = cairn::sqs::Queue::new().visiblity_timeout(60);
//! ```

pub use cairn_aws::kinds::sqs_queue::DeadLetter;
use cairn_aws::kinds::sqs_queue::QueueProps;

use crate::stack::{Arn, Value, attributes, builder};

builder!(
    /// An SQS queue (`aws:sqs:Queue`). Its handle gives `arn()`
    /// ([`Arn<Queue>`](Arn)), `url()` and `name()`.
    Queue = "aws:sqs:Queue", QueueProps
);

attributes!(Queue: arn => Arn, name => Name, url => Url);

impl Queue {
    /// A queue named `<stack>-<id>` unless [`Queue::name`] says otherwise,
    /// encrypted with SQS-managed keys.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// A FIFO queue (its name must end in `.fifo`).
    pub fn fifo(self, fifo: impl Into<Value<bool>>) -> Self {
        self.set_value("/fifo", fifo, |p, v| p.fifo = v)
    }
    /// Seconds a received message stays hidden (0-43200).
    pub fn visibility_timeout(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/visibility_timeout", seconds, |p, v| p.visibility_timeout = Some(v))
    }
    /// Seconds a message is kept (60-1209600).
    pub fn retention(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/retention", seconds, |p, v| p.retention = Some(v))
    }
    /// Seconds each new message is delayed (0-900).
    pub fn delay(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/delay", seconds, |p, v| p.delay = Some(v))
    }
    /// Seconds a receive waits for a message (0-20).
    pub fn receive_wait(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/receive_wait", seconds, |p, v| p.receive_wait = Some(v))
    }
    /// Moves a message to the queue `queue` (like `dlq.arn()`) after
    /// `max_receive_count` receives.
    pub fn dead_letter(self, queue: Arn<Queue>, max_receive_count: impl Into<Value<u32>>) -> Self {
        self.set_value("/dead_letter/max_receive_count", max_receive_count, |p, max_receive_count| {
            p.dead_letter = Some(DeadLetter { queue: queue.into(), max_receive_count });
        })
    }
    /// SQS-managed server-side encryption (on by default).
    pub fn sse(self, enabled: impl Into<Value<bool>>) -> Self {
        self.set_value("/sse", enabled, |p, v| p.sse = Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_sets_props() {
        let b =
            Queue::new().visibility_timeout(60).dead_letter(Arn::literal("arn:aws:sqs:us-east-1:1:dlq"), 3).sse(false);
        assert_eq!(
            serde_json::to_value(&b.props).ok(),
            Some(json!({
                "fifo": false, "visibility_timeout": 60, "sse": false,
                "dead_letter": {"queue": "arn:aws:sqs:us-east-1:1:dlq", "max_receive_count": 3}
            }))
        );
    }

    fn validated(stack: &crate::Stack, timeout: Option<&str>) -> (Option<serde_json::Value>, Vec<String>) {
        let given = timeout.map(|t| ("timeout".to_string(), t.to_string())).into_iter().collect();
        let (valid, diags) = cairn_engine::validate::validate(stack.spec(), &cairn_aws::registry(), &given);
        let messages = diags.0.iter().map(|d| format!("{}: {}", d.message, d.expected.clone().unwrap_or_default()));
        (valid.map(|v| v.props["jobs"].clone()), messages.collect())
    }

    #[test]
    fn a_typed_parameter_feeds_a_number_and_is_checked_like_a_yaml_one() {
        let mut stack = crate::Stack::new("params");
        let timeout = stack.declare(crate::Param::<u32>::new("timeout").default(30).range(1, 900));
        let sse = stack.declare(crate::Param::<bool>::new("sse"));
        stack.add("jobs", Queue::new().visibility_timeout(&timeout).sse(sse).delay(5));
        let props = &stack.spec().resources[0].props;
        assert_eq!(props["visibility_timeout"], json!("${param.timeout}"));
        assert_eq!(props["sse"], json!("${param.sse}"));
        assert_eq!(props["delay"], json!(5));
        assert_eq!(stack.spec().parameters["timeout"].min, Some(1.0));

        // `sse` has no default: plan needs it, so give it through the environment-free path.
        let mut with_sse = stack.clone();
        with_sse.declare(crate::Param::<bool>::new("sse").default(false));
        let (props, errors) = validated(&with_sse, Some("45"));
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(props.as_ref().map(|p| p["visibility_timeout"].clone()), Some(json!(45)));
        assert_eq!(props.map(|p| p["sse"].clone()), Some(json!(false)));

        let (props, errors) = validated(&with_sse, None);
        assert_eq!(props.map(|p| p["visibility_timeout"].clone()), Some(json!(30)), "{errors:?}");

        let (props, errors) = validated(&with_sse, Some("1000"));
        assert!(props.is_none());
        assert_eq!(errors, vec!["parameter `timeout` is 1000, out of range: from 1 to 900".to_string()]);

        let (props, errors) = validated(&with_sse, Some("thirty"));
        assert!(props.is_none());
        assert_eq!(errors, vec!["parameter `timeout` is \"thirty\", not a whole number: a whole number".to_string()]);

        let (props, errors) = validated(&stack, Some("30"));
        assert!(props.is_none());
        assert!(errors.iter().any(|e| e.starts_with("parameter `sse` has no value")), "{errors:?}");
    }
}
