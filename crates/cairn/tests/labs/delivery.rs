//! The delivery check: moto delivers SNS, EventBridge and alarm messages
//! whatever the receiving resource's policy says, and no S3 access logs at
//! all; AWS delivers only what that policy allows for the sending service
//! and source. After every lab
//! apply, each wiring of the deployed stack is judged here, from the live
//! policies, by the testkit's policy evaluator (not cairn's own code).

use cairn_aws::Clients;
use cairn_testkit::emulator::ACCOUNT_ID;
use cairn_testkit::policy::{self, Principal};
use serde_json::Value as Json;

use crate::harness::Deployed;

/// One wiring whose receiver would refuse the sender, said in words.
pub async fn undeliverable(d: &Deployed) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let mut refused = Vec::new();
    for (id, r) in &d.state.resources {
        let p = &r.props;
        let text = |k: &str| p.get(k).and_then(Json::as_str).unwrap_or_default().to_string();
        match r.kind.as_str() {
            "aws:sns:Subscription" => {
                let (topic, endpoint) = (text("topic"), text("endpoint"));
                let action = match text("protocol").as_str() {
                    "sqs" => "sqs:SendMessage",
                    "lambda" => "lambda:InvokeFunction",
                    _ => continue,
                };
                if !may(&d.clients, "sns.amazonaws.com", action, &endpoint, &topic).await? {
                    refused.push(format!("{id}: topic {topic} may not {action} to {endpoint}"));
                }
            }
            "aws:events:Rule" => {
                let rule = r.attrs.get("arn").and_then(Json::as_str).unwrap_or_default();
                for t in p.get("targets").and_then(Json::as_array).into_iter().flatten() {
                    for key in ["arn", "dead_letter_queue"] {
                        let Some(target) = t.get(key).and_then(Json::as_str) else { continue };
                        let Some(action) = send_action(target) else { continue };
                        if !may(&d.clients, "events.amazonaws.com", action, target, rule).await? {
                            refused.push(format!("{id}: rule {rule} may not {action} to its {key} {target}"));
                        }
                    }
                }
            }
            "aws:cloudwatch:Alarm" => {
                let alarm = r.attrs.get("arn").and_then(Json::as_str).unwrap_or_default();
                for key in ["alarm_actions", "ok_actions", "insufficient_data_actions"] {
                    for action_arn in p.get(key).and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str)
                    {
                        if send_action(action_arn) != Some("sns:Publish") {
                            continue;
                        }
                        if !may(&d.clients, "cloudwatch.amazonaws.com", "sns:Publish", action_arn, alarm).await? {
                            refused.push(format!("{id}: alarm {alarm} may not publish to {action_arn} ({key})"));
                        }
                    }
                }
            }
            "aws:s3:Bucket" => {
                let Some(logging) = p.get("access_logging").filter(|l| l.is_object()) else { continue };
                let target = logging.get("bucket").and_then(Json::as_str).unwrap_or_default();
                let prefix = logging.get("prefix").and_then(Json::as_str).unwrap_or_default();
                let source = r.attrs.get("arn").and_then(Json::as_str).unwrap_or_default();
                // A log object as S3 names one: the time, then a unique string.
                let object = format!("arn:aws:s3:::{target}/{prefix}2025-01-02-03-04-05-0123456789ABCDEF");
                if !may(&d.clients, "logging.s3.amazonaws.com", "s3:PutObject", &object, source).await? {
                    refused.push(format!("{id}: S3 may not deliver the access logs of {source} as {object}"));
                }
            }
            _ => {}
        }
    }
    Ok(refused)
}

/// What a service does to deliver to the resource with this ARN.
fn send_action(arn: &str) -> Option<&'static str> {
    match arn.split(':').nth(2)? {
        "sns" => Some("sns:Publish"),
        "sqs" => Some("sqs:SendMessage"),
        "lambda" => Some("lambda:InvokeFunction"),
        _ => None,
    }
}

/// Whether the receiver's live resource policy lets `service` do `action`
/// on `receiver` for the source `source_arn`.
async fn may(
    c: &Clients,
    service: &str,
    action: &str,
    receiver: &str,
    source_arn: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let doc = resource_policy(c, receiver).await?;
    let request = policy::Request {
        principal: Principal::Service(service.into()),
        action,
        resource: receiver,
        context: vec![
            ("aws:SourceArn", source_arn.to_string()),
            ("aws:SourceAccount", ACCOUNT_ID.to_string()),
            ("AWS:SourceOwner", ACCOUNT_ID.to_string()),
        ],
    };
    Ok(policy::allows(&doc, &request))
}

/// The live resource policy of a topic, queue, function or the bucket of an
/// object (`Null` for none).
async fn resource_policy(c: &Clients, arn: &str) -> Result<Json, Box<dyn std::error::Error>> {
    let parse = |text: Option<&str>| text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Json::Null);
    Ok(match arn.split(':').nth(2) {
        Some("sns") => {
            let out = c.sns().await.get_topic_attributes().topic_arn(arn).send().await?;
            parse(out.attributes().and_then(|a| a.get("Policy")).map(String::as_str))
        }
        Some("sqs") => {
            let sqs = c.sqs().await;
            let name = arn.rsplit(':').next().unwrap_or(arn);
            let url = sqs.get_queue_url().queue_name(name).send().await?;
            let out = sqs
                .get_queue_attributes()
                .queue_url(url.queue_url().unwrap_or_default())
                .attribute_names("Policy".into())
                .send()
                .await?;
            parse(out.attributes().and_then(|a| a.get(&"Policy".into())).map(String::as_str))
        }
        Some("lambda") => match c.lambda().await.get_policy().function_name(arn).send().await {
            Ok(out) => parse(out.policy()),
            Err(_) => Json::Null,
        },
        Some("s3") => {
            let bucket = arn.split_once(":::").map_or("", |(_, path)| path.split('/').next().unwrap_or_default());
            match c.s3().await.get_bucket_policy().bucket(bucket).send().await {
                Ok(out) => parse(out.policy()),
                Err(_) => Json::Null,
            }
        }
        _ => Json::Null,
    })
}
