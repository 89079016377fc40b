//! The temporary subscriber of `cairn check`: an SQS queue subscribed to a
//! topic with raw delivery, to see what the topic sends. One per topic,
//! shared by every edge that listens to it; removed at the end, on
//! Ctrl-C, and (tagged) by `cairn sweep` after a kill. Alarms set to ALARM
//! are set back the same way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use cairn_engine::kind::{TAG_EXPIRES, TAG_RESOURCE, TAG_STACK, TAG_STATE};
use cairn_engine::state::{format_utc, new_lineage, unix_now};
use tokio::sync::OnceCell;

use super::TAG_CHECK;
use crate::clients::Clients;
use crate::error::aws_error;

/// How long a temporary queue may live: `cairn sweep --expired` removes it
/// after this if a killed run left it.
const LIFETIME_SECS: i64 = 3600;

/// What one check run made, to remove it whatever happens.
pub struct Scratch {
    stack: String,
    /// The run's own lineage: its queues are a deployment of their own to
    /// `cairn sweep`, never the stack's.
    pub run: String,
    made: Mutex<Vec<Made>>,
    /// Alarms set to ALARM and not yet set back, with the state to go back to.
    alarms: Mutex<Vec<(String, aws_sdk_cloudwatch::types::StateValue)>>,
    subscribers: Mutex<BTreeMap<String, Arc<OnceCell<OneSubscriber>>>>,
}

/// A topic's subscriber, once made (or why it could not be).
type OneSubscriber = Result<Arc<Subscriber>, String>;

/// A temporary resource: a queue and, once made, its subscription.
#[derive(Clone, Debug)]
struct Made {
    queue_url: String,
    subscription: Option<String>,
}

/// A queue subscribed to one topic, with what it has received so far.
pub struct Subscriber {
    pub queue_url: String,
    received: tokio::sync::Mutex<Vec<String>>,
}

impl Scratch {
    pub fn new(stack: &str) -> Self {
        Scratch {
            stack: stack.to_string(),
            run: new_lineage(),
            made: Mutex::default(),
            alarms: Mutex::default(),
            subscribers: Mutex::default(),
        }
    }

    /// Whether anything is left to remove or set back.
    pub fn is_empty(&self) -> bool {
        self.made.lock().map(|m| m.is_empty()).unwrap_or(false)
            && self.alarms.lock().map(|a| a.is_empty()).unwrap_or(false)
    }

    /// Sets alarm `name` to ALARM, remembering to set it back to `back`.
    pub(super) async fn set_alarm(
        &self,
        clients: &Clients,
        name: &str,
        back: aws_sdk_cloudwatch::types::StateValue,
    ) -> Result<(), String> {
        if let Ok(mut a) = self.alarms.lock() {
            a.push((name.to_string(), back));
        }
        clients
            .cloudwatch()
            .await
            .set_alarm_state()
            .alarm_name(name)
            .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
            .state_reason("cairn check: testing the alarm's actions")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error(&format!("setting alarm {name} to ALARM"), &e).to_string())
    }

    /// Sets alarm `name` back as it was; the error says why it could not.
    pub(super) async fn set_back(&self, clients: &Clients, name: &str) -> Result<(), String> {
        let back = {
            let Ok(mut a) = self.alarms.lock() else { return Ok(()) };
            let Some(i) = a.iter().position(|(n, _)| n == name) else { return Ok(()) };
            a.remove(i).1
        };
        clients
            .cloudwatch()
            .await
            .set_alarm_state()
            .alarm_name(name)
            .state_value(back.clone())
            .state_reason("cairn check: test done")
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error(&format!("setting alarm {name} back to {}", back.as_str()), &e).to_string())
    }

    /// The subscriber on `topic_arn`, made on first use.
    pub(super) async fn subscriber(
        &self,
        clients: &Clients,
        topic_arn: &str,
        label: &str,
    ) -> Result<Arc<Subscriber>, String> {
        let cell = {
            let mut all = self.subscribers.lock().map_err(|_| "the subscriber table is poisoned".to_string())?;
            all.entry(topic_arn.to_string()).or_default().clone()
        };
        cell.get_or_init(|| async { self.subscribe(clients, topic_arn, label).await.map(Arc::new) }).await.clone()
    }

    async fn subscribe(&self, clients: &Clients, topic_arn: &str, label: &str) -> Result<Subscriber, String> {
        let sqs = clients.sqs().await;
        let suffix = self.run.rsplit('-').next().unwrap_or("run");
        let mut name: String =
            format!("cairn-check-{label}").chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        name.truncate(80 - suffix.len() - 1);
        let name = format!("{name}-{suffix}");
        let expires = format_utc(i64::try_from(unix_now()).unwrap_or(i64::MAX).saturating_add(LIFETIME_SECS));
        let queue_arn_guess = format!(
            "arn:{}:sqs:{}:{}:{name}",
            topic_arn.split(':').nth(1).unwrap_or("aws"),
            topic_arn.split(':').nth(3).unwrap_or_default(),
            topic_arn.split(':').nth(4).unwrap_or_default()
        );
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TopicSends",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn_guess,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
            }]
        });
        let made = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
            .tags(TAG_STACK, &self.stack)
            .tags(TAG_STATE, &self.run)
            .tags(TAG_RESOURCE, format!("check-subscriber-{label}"))
            .tags(TAG_EXPIRES, expires)
            .tags(TAG_CHECK, &self.stack)
            .send()
            .await
            .map_err(|e| aws_error(&format!("creating the temporary queue {name}"), &e).to_string())?;
        let queue_url = made.queue_url().unwrap_or_default().to_string();
        self.record(Made { queue_url: queue_url.clone(), subscription: None });
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws_error(&format!("reading the temporary queue {name}"), &e).to_string())?;
        let queue_arn =
            attrs.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or(queue_arn_guess);
        let sub = clients
            .sns()
            .await
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&queue_arn)
            .attributes("RawMessageDelivery", "true")
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| {
                aws_error(&format!("subscribing the temporary queue {name} to {topic_arn}"), &e).to_string()
            })?;
        if let Some(arn) = sub.subscription_arn() {
            self.record(Made { queue_url: queue_url.clone(), subscription: Some(arn.to_string()) });
        }
        Ok(Subscriber { queue_url, received: tokio::sync::Mutex::default() })
    }

    fn record(&self, made: Made) {
        if let Ok(mut all) = self.made.lock() {
            match all.iter_mut().find(|m| m.queue_url == made.queue_url) {
                Some(m) => *m = made,
                None => all.push(made),
            }
        }
    }

    /// Removes every temporary subscription and queue; returns what could
    /// not be removed (for the user to sweep).
    pub async fn clean_up(&self, clients: &Clients) -> Vec<String> {
        let alarms: Vec<String> =
            self.alarms.lock().map(|a| a.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
        let mut left = Vec::new();
        for name in alarms {
            if let Err(e) = self.set_back(clients, &name).await {
                left.push(e);
            }
        }
        let made: Vec<Made> = self.made.lock().map(|m| m.clone()).unwrap_or_default();
        for m in made {
            if let Some(sub) = &m.subscription
                && let Err(e) = clients.sns().await.unsubscribe().subscription_arn(sub).send().await
            {
                left.push(aws_error(&format!("removing the temporary subscription {sub}"), &e).to_string());
                continue;
            }
            match clients.sqs().await.delete_queue().queue_url(&m.queue_url).send().await {
                Ok(_) => {
                    if let Ok(mut all) = self.made.lock() {
                        all.retain(|x| x.queue_url != m.queue_url);
                    }
                }
                Err(e) => {
                    left.push(aws_error(&format!("deleting the temporary queue {}", m.queue_url), &e).to_string())
                }
            }
        }
        left
    }
}

impl Subscriber {
    /// Waits until a received message satisfies `wanted`, for at most
    /// `timeout`; every message received is kept for the other waiters.
    pub(super) async fn wait_for(
        &self,
        clients: &Clients,
        timeout: Duration,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Option<String>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut received = self.received.lock().await;
            if let Some(found) = received.iter().find(|m| wanted(m)) {
                return Ok(Some(found.clone()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let wait = i32::try_from(left.as_secs().clamp(1, 2)).unwrap_or(1);
            let sqs = clients.sqs().await;
            let answer = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await
                .map_err(|e| aws_error("receiving from the temporary queue", &e).to_string())?;
            for m in answer.messages() {
                if let Some(body) = m.body() {
                    received.push(body.to_string());
                }
                if let Some(handle) = m.receipt_handle() {
                    // Deleted as read, so a long run's queue stays small.
                    let _ = sqs.delete_message().queue_url(&self.queue_url).receipt_handle(handle).send().await;
                }
            }
            drop(received);
            if answer.messages().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
