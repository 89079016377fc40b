//! Builders for SNS topics and subscriptions.

use cairn_aws::kinds::sns_subscription::SubscriptionProps;
use cairn_aws::kinds::sns_topic::TopicProps;
use cairn_engine::value::Json;

use crate::stack::{Builder, Kind, attributes};

/// `aws:sns:Topic`.
pub struct Topic;

impl Kind for Topic {
    const TYPE: &'static str = "aws:sns:Topic";
    type Props = TopicProps;
}

attributes!(Topic: arn, name);

impl Topic {
    /// A topic named `<stack>-<id>` unless [`Builder::name`] says otherwise.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Builder<Topic> {
        Builder::default()
    }
}

impl Builder<Topic> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    #[must_use]
    pub fn display_name(self, display_name: impl Into<String>) -> Self {
        self.with(|p| p.display_name = Some(display_name.into()))
    }
    #[must_use]
    pub fn fifo(self, fifo: bool) -> Self {
        self.with(|p| p.fifo = fifo)
    }
    #[must_use]
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.kms_key = Some(key.into()))
    }
    /// The topic's access policy document.
    #[must_use]
    pub fn policy(self, policy: Json) -> Self {
        self.with(|p| p.policy = Some(policy))
    }
}

/// `aws:sns:Subscription`.
pub struct Subscription;

impl Kind for Subscription {
    const TYPE: &'static str = "aws:sns:Subscription";
    type Props = SubscriptionProps;
}

attributes!(Subscription: arn);

impl Subscription {
    /// A subscription of `endpoint` to `topic` over `protocol`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(topic: impl Into<String>, protocol: &str, endpoint: impl Into<String>) -> Builder<Subscription> {
        Builder::from_props(SubscriptionProps {
            topic: topic.into(),
            protocol: protocol.to_string(),
            endpoint: endpoint.into(),
            ..SubscriptionProps::default()
        })
    }
    /// An e-mail subscription (pending until the recipient confirms it).
    pub fn email(topic: impl Into<String>, address: impl Into<String>) -> Builder<Subscription> {
        Self::new(topic, "email", address)
    }
}

impl Builder<Subscription> {
    #[must_use]
    pub fn filter_policy(self, policy: Json) -> Self {
        self.with(|p| p.filter_policy = Some(policy))
    }
    #[must_use]
    pub fn raw_message_delivery(self, raw: bool) -> Self {
        self.with(|p| p.raw_message_delivery = raw)
    }
}
