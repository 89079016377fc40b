//! The temporary subscriber of `cairn check`: an SQS queue subscribed to a
//! topic with raw delivery, to see what the topic sends. One per topic,
//! shared by every edge that listens to it; removed at the end, on
//! Ctrl-C, and (tagged) by `cairn sweep` after a kill. Alarms set to ALARM
//! are set back the same way.
//!
//! A queue and its subscription are made by a task of their own, which a
//! Ctrl-C does not cut short: [`Scratch::clean_up`] waits for it, so a
//! subscription whose answer was still on its way is removed too.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::StateValue;
use aws_sdk_sqs::types::QueueAttributeName;
use cairn_engine::kind::{TAG_EXPIRES, TAG_RESOURCE, TAG_STACK, TAG_STATE};
use cairn_engine::state::{format_utc, new_lineage, unix_now};
use tokio::sync::OnceCell;

use super::{TAG_CHECK, failed};
use crate::clients::Clients;
use crate::error::aws_error;

/// How long a temporary queue may live: `cairn sweep --expired` removes it
/// after this if a killed run left it.
const LIFETIME_SECS: i64 = 3600;

/// How long [`Scratch::clean_up`] waits for a queue still being made.
const MAKING_WAIT: Duration = Duration::from_secs(5);

/// A topic's subscriber, once made (or why it could not be).
type OneSubscriber = Result<Arc<Subscriber>, String>;

/// What one check run made, to remove it whatever happens.
pub struct Scratch {
    stack: String,
    /// The run's own lineage: its queues are a deployment of their own to
    /// `cairn sweep`, never the stack's.
    pub run: String,
    made: Mutex<Vec<Made>>,
    /// Alarms set to ALARM and not yet set back, with the state to go back to.
    alarms: Mutex<Vec<(String, StateValue)>>,
    subscribers: Mutex<BTreeMap<String, Arc<OnceCell<OneSubscriber>>>>,
    /// Queues being made right now.
    making: AtomicUsize,
    /// Queues asked for whose CreateQueue has not answered yet.
    unanswered: Mutex<Vec<String>>,
    /// Queues asked for so far, to keep their names apart.
    count: AtomicUsize,
}

/// A temporary queue, the topic it listens to and, once made, its
/// subscription.
#[derive(Clone, Debug)]
struct Made {
    topic_arn: String,
    queue_url: String,
    queue_arn: Option<String>,
    subscription: Option<String>,
}

/// A queue subscribed to one topic, with what it has received so far.
pub struct Subscriber {
    pub queue_url: String,
    /// Each message received, with when it was.
    received: tokio::sync::Mutex<Vec<(Instant, String)>>,
}

/// Lowers [`Scratch::making`] when a making task ends, however it ends.
struct Making(Arc<Scratch>);

impl Drop for Making {
    fn drop(&mut self) {
        self.0.making.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Scratch {
    pub fn new(stack: &str) -> Self {
        Scratch {
            stack: stack.to_string(),
            run: new_lineage(),
            made: Mutex::default(),
            alarms: Mutex::default(),
            subscribers: Mutex::default(),
            making: AtomicUsize::new(0),
            unanswered: Mutex::default(),
            count: AtomicUsize::new(0),
        }
    }

    /// Whether anything is left to remove or set back.
    pub fn is_empty(&self) -> bool {
        self.making.load(Ordering::SeqCst) == 0
            && self.made.lock().map(|m| m.is_empty()).unwrap_or(false)
            && self.alarms.lock().map(|a| a.is_empty()).unwrap_or(false)
    }

    /// The subscriber on `topic_arn`, made on first use (by a task that
    /// runs to its end even if the caller is dropped). `settle` is how long
    /// to let a new subscription take effect before anything is published.
    pub(super) async fn subscriber(
        self: &Arc<Self>,
        clients: &Arc<Clients>,
        topic_arn: &str,
        settle: Duration,
    ) -> Result<Arc<Subscriber>, String> {
        let cell = {
            let mut all = self.subscribers.lock().map_err(|_| "the subscriber table is poisoned".to_string())?;
            all.entry(topic_arn.to_string()).or_default().clone()
        };
        if let Some(made) = cell.get() {
            return made.clone();
        }
        let (me, clients, topic) = (Arc::clone(self), Arc::clone(clients), topic_arn.to_string());
        self.making.fetch_add(1, Ordering::SeqCst);
        let task = tokio::spawn(async move {
            let _making = Making(Arc::clone(&me));
            cell.get_or_init(|| async { me.subscribe(&clients, &topic, settle).await.map(Arc::new) }).await.clone()
        });
        task.await.map_err(|e| format!("making the temporary subscriber: {e}"))?
    }

    async fn subscribe(&self, clients: &Clients, topic_arn: &str, settle: Duration) -> Result<Subscriber, String> {
        let sqs = clients.sqs().await;
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let suffix = self.run.rsplit('-').next().unwrap_or("run");
        let topic_name = topic_arn.rsplit(':').next().unwrap_or("topic");
        let mut label: String =
            topic_name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        label.truncate(40);
        let name = format!("cairn-check-{label}-{n}-{suffix}");
        let expires = format_utc(i64::try_from(unix_now()).unwrap_or(i64::MAX).saturating_add(LIFETIME_SECS));
        if let Ok(mut u) = self.unanswered.lock() {
            u.push(name.clone());
        }
        let made = sqs
            .create_queue()
            .queue_name(&name)
            .attributes(QueueAttributeName::MessageRetentionPeriod, "3600")
            .tags(TAG_STACK, &self.stack)
            .tags(TAG_STATE, &self.run)
            .tags(TAG_RESOURCE, format!("check-subscriber-{label}"))
            .tags(TAG_EXPIRES, expires)
            .tags(TAG_CHECK, &self.stack)
            .send()
            .await
            .map_err(failed(format!("creating the temporary queue {name}")))?;
        if let Ok(mut u) = self.unanswered.lock() {
            u.retain(|n| *n != name);
        }
        let queue_url = made.queue_url().unwrap_or_default().to_string();
        let mut record = Made {
            topic_arn: topic_arn.to_string(),
            queue_url: queue_url.clone(),
            queue_arn: None,
            subscription: None,
        };
        self.record(record.clone());
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(failed(format!("reading the temporary queue {name}")))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .ok_or_else(|| format!("reading the temporary queue {name}: no QueueArn in the answer"))?;
        record.queue_arn = Some(queue_arn.clone());
        self.record(record.clone());
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "TopicSends",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
            }]
        });
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| {
                aws_error(&format!("letting {topic_arn} send to the temporary queue {name}"), &e).to_string()
            })?;
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
        record.subscription = sub.subscription_arn().map(str::to_string);
        self.record(record);
        tokio::time::sleep(settle).await;
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

    /// Sets alarm `name` to ALARM, to be set back to `back` (by
    /// [`Scratch::set_back`], or by [`Scratch::clean_up`] if the run is
    /// stopped). An alarm already in ALARM goes to OK first: AWS runs an
    /// alarm's actions only when its state changes.
    pub(super) async fn set_alarm(&self, clients: &Clients, name: &str, back: StateValue) -> Result<(), String> {
        let cw = clients.cloudwatch().await;
        if back == StateValue::Alarm {
            cw.set_alarm_state()
                .alarm_name(name)
                .state_value(StateValue::Ok)
                .state_reason("cairn check: out of ALARM, to test the alarm's actions")
                .send()
                .await
                .map_err(failed(format!("setting alarm {name} to OK")))?;
        }
        // Recorded first: a stop during the call still sets it back.
        if let Ok(mut a) = self.alarms.lock() {
            a.push((name.to_string(), back));
        }
        let set = cw
            .set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::Alarm)
            .state_reason("cairn check: testing the alarm's actions")
            .send()
            .await;
        if let Err(e) = set {
            if let Ok(mut a) = self.alarms.lock() {
                a.retain(|(n, _)| n != name);
            }
            return Err(aws_error(&format!("setting alarm {name} to ALARM"), &e).to_string());
        }
        Ok(())
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
            .map_err(failed(format!("setting alarm {name} back to {}", back.as_str())))
    }

    /// Sets back every alarm still in ALARM, then removes every temporary
    /// subscription and queue (waiting first for any still being made);
    /// returns what could not be done, for the user to finish.
    pub async fn clean_up(&self, clients: &Clients) -> Vec<String> {
        let t0 = Instant::now();
        while self.making.load(Ordering::SeqCst) > 0 && t0.elapsed() < MAKING_WAIT {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A call still unanswered after the wait: a subscription it made is
        // found on the topic below; a queue it made is tagged for sweep.
        let mut left: Vec<String> = self
            .unanswered
            .lock()
            .map(|u| u.iter().map(|n| format!("the temporary queue {n} was being made when check stopped (if it exists, it is tagged for sweep)")).collect())
            .unwrap_or_default();
        let alarms: Vec<String> =
            self.alarms.lock().map(|a| a.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
        for name in alarms {
            if let Err(e) = self.set_back(clients, &name).await {
                left.push(e);
            }
        }
        let made: Vec<Made> = self.made.lock().map(|m| m.clone()).unwrap_or_default();
        let sns = clients.sns().await;
        for m in made {
            // The recorded subscription, and any other of this queue on the
            // topic (one whose answer was lost): a subscription left on a
            // deleted queue could never be found again.
            let mut subscriptions: Vec<String> = m.subscription.iter().cloned().collect();
            if let Some(queue_arn) = &m.queue_arn {
                match sns
                    .list_subscriptions_by_topic()
                    .topic_arn(&m.topic_arn)
                    .into_paginator()
                    .items()
                    .send()
                    .try_collect()
                    .await
                {
                    Ok(all) => subscriptions.extend(
                        all.iter()
                            .filter(|s| s.endpoint() == Some(queue_arn.as_str()))
                            .filter_map(|s| s.subscription_arn().filter(|a| a.starts_with("arn:")).map(str::to_string)),
                    ),
                    Err(e) => {
                        left.push(aws_error(&format!("listing the subscriptions of {}", m.topic_arn), &e).to_string())
                    }
                }
            }
            subscriptions.sort();
            subscriptions.dedup();
            let mut kept = false;
            for sub in &subscriptions {
                if let Err(e) = sns.unsubscribe().subscription_arn(sub).send().await {
                    left.push(aws_error(&format!("removing the temporary subscription {sub}"), &e).to_string());
                    kept = true;
                }
            }
            if kept {
                continue; // the queue stays, tagged, so that sweep finds the subscription with it
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
    /// `timeout`, and says when it was received; every message received is
    /// kept for the other waiters.
    pub(super) async fn wait_for(
        &self,
        clients: &Clients,
        timeout: Duration,
        wanted: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Option<Instant>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut received = self.received.lock().await;
            if let Some((at, _)) = received.iter().find(|(_, m)| wanted(m)) {
                return Ok(Some(*at));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // One second a poll: other edges wait on this lock.
            let sqs = clients.sqs().await;
            let answer = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(failed("receiving from the temporary queue"))?;
            for m in answer.messages() {
                if let Some(body) = m.body() {
                    received.push((Instant::now(), body.to_string()));
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
