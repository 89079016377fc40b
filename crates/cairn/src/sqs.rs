//! Builders for SQS queues.

pub use cairn_aws::kinds::sqs_queue::DeadLetter;
use cairn_aws::kinds::sqs_queue::QueueProps;

use crate::stack::{Builder, Kind, attributes};

/// `aws:sqs:Queue`.
pub struct Queue;

impl Kind for Queue {
    const TYPE: &'static str = "aws:sqs:Queue";
    type Props = QueueProps;
}

attributes!(Queue: arn, name, url);

impl Queue {
    /// A queue named `<stack>-<id>` unless [`Builder::name`] says otherwise,
    /// encrypted with SQS-managed keys.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Builder<Queue> {
        Builder::default()
    }
}

impl Builder<Queue> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// A FIFO queue (its name must end in `.fifo`).
    #[must_use]
    pub fn fifo(self, fifo: bool) -> Self {
        self.with(|p| p.fifo = fifo)
    }
    /// Seconds a received message stays hidden (0-43200).
    #[must_use]
    pub fn visibility_timeout(self, seconds: u32) -> Self {
        self.with(|p| p.visibility_timeout = Some(seconds))
    }
    /// Seconds a message is kept (60-1209600).
    #[must_use]
    pub fn retention(self, seconds: u32) -> Self {
        self.with(|p| p.retention = Some(seconds))
    }
    /// Seconds each new message is delayed (0-900).
    #[must_use]
    pub fn delay(self, seconds: u32) -> Self {
        self.with(|p| p.delay = Some(seconds))
    }
    /// Seconds a receive waits for a message (0-20).
    #[must_use]
    pub fn receive_wait(self, seconds: u32) -> Self {
        self.with(|p| p.receive_wait = Some(seconds))
    }
    /// Moves a message to `queue` (an ARN, like `dlq.arn()`) after
    /// `max_receive_count` receives.
    #[must_use]
    pub fn dead_letter(self, queue: impl Into<String>, max_receive_count: u32) -> Self {
        self.with(|p| p.dead_letter = Some(DeadLetter { queue: queue.into(), max_receive_count }))
    }
    /// SQS-managed server-side encryption (on by default).
    #[must_use]
    pub fn sse(self, enabled: bool) -> Self {
        self.with(|p| p.sse = Some(enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builder_sets_props() {
        let b = Queue::new().visibility_timeout(60).dead_letter("arn:aws:sqs:us-east-1:1:dlq", 3).sse(false);
        assert_eq!(
            serde_json::to_value(&b.props).ok(),
            Some(json!({
                "fifo": false, "visibility_timeout": 60, "sse": false,
                "dead_letter": {"queue": "arn:aws:sqs:us-east-1:1:dlq", "max_receive_count": 3}
            }))
        );
    }
}
