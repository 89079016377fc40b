//! Builders for SNS topics and subscriptions.

use cairn_aws::kinds::sns_subscription::SubscriptionProps;
use cairn_aws::kinds::sns_topic::TopicProps;
use cairn_engine::value::Json;

use crate::stack::{Arn, Value, attributes, builder};

builder!(
    /// An SNS topic (`aws:sns:Topic`). Its handle gives `arn()`
    /// ([`Arn<Topic>`](Arn)) and `name()`.
    Topic = "aws:sns:Topic", TopicProps
);

attributes!(Topic: arn => Arn, name => Name);

impl Topic {
    /// A topic named `<stack>-<id>` unless [`Topic::name`] says otherwise.
    pub fn new() -> Self {
        Self::default()
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn display_name(self, display_name: impl Into<String>) -> Self {
        self.with(|p| p.display_name = Some(display_name.into()))
    }
    pub fn fifo(self, fifo: impl Into<Value<bool>>) -> Self {
        self.set_value("/fifo", fifo, |p, v| p.fifo = v)
    }
    pub fn kms_key(self, key: impl Into<String>) -> Self {
        self.with(|p| p.kms_key = Some(key.into()))
    }
    /// The topic's access policy document.
    pub fn policy(self, policy: Json) -> Self {
        self.with(|p| p.policy = Some(policy))
    }
}

builder!(
    /// A subscription to an SNS topic (`aws:sns:Subscription`): made with
    /// the constructor of its protocol ([`Subscription::email`],
    /// [`Subscription::sqs`], …), which takes the endpoint's type. Its handle
    /// gives `arn()`.
    Subscription = "aws:sns:Subscription", SubscriptionProps
);

attributes!(Subscription: arn => Arn);

impl Subscription {
    /// A subscription of `endpoint` to `topic` over `protocol`, the endpoint
    /// given as text: for a protocol with no constructor of its own
    /// (`application`, `firehose`). `validate` still checks that a reference
    /// there is of the type the protocol needs.
    pub fn new(topic: Arn<Topic>, protocol: &str, endpoint: impl Into<String>) -> Self {
        Self::from_props(SubscriptionProps {
            topic: topic.into(),
            protocol: protocol.to_string(),
            endpoint: endpoint.into(),
            ..SubscriptionProps::default()
        })
    }
    /// An e-mail subscription (pending until the recipient confirms it).
    pub fn email(topic: Arn<Topic>, address: impl Into<String>) -> Self {
        Self::new(topic, "email", address)
    }
    /// An e-mail subscription receiving the whole notification as JSON.
    pub fn email_json(topic: Arn<Topic>, address: impl Into<String>) -> Self {
        Self::new(topic, "email-json", address)
    }
    /// Delivery to an HTTP or HTTPS endpoint (`https://…`); the protocol
    /// follows the URL's scheme.
    pub fn http(topic: Arn<Topic>, url: impl Into<String>) -> Self {
        let url = url.into();
        let protocol = if url.starts_with("http://") { "http" } else { "https" };
        Self::new(topic, protocol, url)
    }
    /// Delivery by SMS to a phone number (`+15555550100`).
    pub fn sms(topic: Arn<Topic>, number: impl Into<String>) -> Self {
        Self::new(topic, "sms", number)
    }
    /// Delivery to an SQS queue (cairn derives the queue policy that lets
    /// the topic send to it).
    #[cfg(feature = "sqs")]
    pub fn sqs(topic: Arn<Topic>, queue: Arn<crate::sqs::Queue>) -> Self {
        Self::new(topic, "sqs", queue)
    }
    /// Delivery to a Lambda function (cairn derives the permission that
    /// lets the topic invoke it).
    #[cfg(feature = "lambda")]
    pub fn lambda(topic: Arn<Topic>, function: Arn<crate::lambda::Function>) -> Self {
        Self::new(topic, "lambda", function)
    }
    pub fn filter_policy(self, policy: Json) -> Self {
        self.with(|p| p.filter_policy = Some(policy))
    }
    pub fn raw_message_delivery(self, raw: impl Into<Value<bool>>) -> Self {
        self.set_value("/raw_message_delivery", raw, |p, v| p.raw_message_delivery = v)
    }
}
