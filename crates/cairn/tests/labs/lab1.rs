//! Lab 1: EC2 state changes, through an EventBridge rule, to an SNS topic
//! that e-mails an operator. (tests/lab1.rs adds updates and replacements.)

use crate::harness::{self, Deployed, R};
use crate::lab1_example;

const FILE: &str = "lab1-notifications.yaml";

fn params() -> std::collections::BTreeMap<String, String> {
    harness::params(&[("email", "ops@example.com")])
}

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab1_example::lab1().into(), &params());
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &params(), check).await
}

#[tokio::test]
async fn hand_written_form_round_trips() -> R {
    harness::round_trip(harness::hand_written(FILE), &params(), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab1_example::lab1().into(), &params(), check).await
}

async fn check(d: &Deployed) -> R {
    let sns = d.clients.sns().await;
    let topic = d.id("alerts");
    let attrs = sns.get_topic_attributes().topic_arn(topic).send().await?;
    let attrs = attrs.attributes().cloned().unwrap_or_default();
    let policy = harness::json(attrs.get("Policy").map(String::as_str));
    let statements = policy["Statement"].as_array().ok_or("no statements")?;
    let statement = statements
        .iter()
        .find(|s| s["Principal"]["Service"] == "events.amazonaws.com")
        .ok_or(format!("no EventBridge statement: {policy}"))?;
    // Written by hand or derived, the policy still lets the account's own
    // principals publish, as SNS's default policy did.
    assert!(
        statements.iter().any(|s| s["Principal"]["AWS"] == "*" || s["Principal"]["AWS"].as_str().is_some()),
        "the account's own statement is gone: {policy}"
    );
    let rule_arn = d.attr("ec2-state", "arn");
    assert_eq!(statement["Condition"]["ArnEquals"]["aws:SourceArn"], rule_arn.as_str());
    let subs = sns.list_subscriptions_by_topic().topic_arn(topic).send().await?;
    assert!(subs.subscriptions().iter().any(|s| s.endpoint() == Some("ops@example.com")));

    let events = d.clients.events().await;
    let rule_name = format!("{}-ec2-state", d.stack);
    let rule = events.describe_rule().name(&rule_name).send().await?;
    assert_eq!(rule.arn(), Some(rule_arn.as_str()));
    let pattern = harness::json(rule.event_pattern());
    assert_eq!(pattern["detail-type"], serde_json::json!(["EC2 Instance State-change Notification"]));
    let targets = events.list_targets_by_rule().rule(&rule_name).send().await?;
    assert_eq!(targets.targets().iter().map(|t| t.arn()).collect::<Vec<_>>(), vec![topic]);
    Ok(())
}

/// A topic policy rewritten live in an equivalent form (keys and statements
/// reordered, a string as a one-element list) plans as no change; a real
/// change to it plans as an update of `policy`.
#[tokio::test]
async fn an_equivalent_policy_rewritten_live_is_no_change() -> R {
    use cairn_aws::{AwsOptions, AwsProvider};
    use cairn_engine::StateStore;
    use cairn_engine::plan::Step;
    use cairn_testkit::emulator;

    emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let mut spec = harness::yaml(FILE);
    spec.name = emulator::unique_stack("lab1-policy");
    let store = StateStore::new(dir.path(), &spec.name);
    let provider = AwsProvider::new(AwsOptions::default());
    let v = harness::valid(&spec, &params());
    harness::run(&provider, Some(&v), &store).await?;
    let topic = store.load()?.resources["alerts"].physical_id.clone();
    let sns = provider.clients().sns().await.clone();

    let attrs = sns.get_topic_attributes().topic_arn(&topic).send().await?;
    let live = harness::json(attrs.attributes().and_then(|a| a.get("Policy")).map(String::as_str));
    let mut statement = live["Statement"][0].clone();
    let mut reordered_all = Vec::new();
    for s in live["Statement"].as_array().into_iter().flatten().rev() {
        let mut reordered = serde_json::Map::new();
        for (k, v) in s.as_object().into_iter().flatten().rev() {
            let v = if k == "Action" && v.is_string() { serde_json::json!([v]) } else { v.clone() };
            reordered.insert(k.clone(), v);
        }
        reordered_all.push(serde_json::Value::Object(reordered));
    }
    let rewritten = serde_json::json!({"Statement": reordered_all, "Version": live["Version"]});
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("Policy")
        .attribute_value(rewritten.to_string())
        .send()
        .await?;
    let pl = cairn_engine::plan::make(&provider, Some(&v), &spec.name, &store.load()?, 16).await?;
    assert!(!pl.has_changes(), "an equivalent policy shows as a change: {pl:?}");

    statement["Action"] = serde_json::json!("sns:Subscribe");
    let changed = serde_json::json!({"Version": "2012-10-17", "Statement": [statement]});
    sns.set_topic_attributes()
        .topic_arn(&topic)
        .attribute_name("Policy")
        .attribute_value(changed.to_string())
        .send()
        .await?;
    let pl = cairn_engine::plan::make(&provider, Some(&v), &spec.name, &store.load()?, 16).await?;
    assert_eq!(pl.get("alerts").map(|r| r.step.clone()), Some(Step::Update { fields: vec!["policy".into()] }));

    harness::run(&provider, None, &store).await?;
    Ok(())
}
