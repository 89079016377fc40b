//! Server access logging between buckets of one stack (issue 21 item 3), on
//! the emulator through the strict layer: set, read back with the SDK (not
//! cairn's read code) with the log bucket's policy, judged deliverable, then
//! turned off by a stack that no longer says it, then destroyed.

use std::collections::BTreeMap;

use cairn_aws::{AwsOptions, AwsProvider, Clients};
use cairn_engine::plan::Step;
use cairn_engine::{StackSpec, StateStore};
use cairn_testkit::emulator::{self, ACCOUNT_ID};
use cairn_testkit::proxy::{Faults, Proxy};
use serde_json::Value as Json;

use crate::harness::{self, Deployed, R};

fn spec(text: &str) -> StackSpec {
    let parsed = cairn_stack::parse("logging.yaml", text);
    match parsed.spec {
        Some(s) if !parsed.diagnostics.has_errors() => s,
        _ => panic!("the test stack does not parse: {:?}", parsed.diagnostics),
    }
}

/// Two buckets logging into a third: `data` (unnamed) by reference with a
/// prefix, `site` (named) with none; the log bucket is unnamed too, so the
/// glue names it. Without `logging`, the same buckets with nothing said,
/// the log bucket named `logs_name` if given.
fn stack(name: &str, logging: bool, logs_name: Option<&str>) -> StackSpec {
    let (data, site) = if logging {
        (
            "\n    properties:\n      access_logging: {bucket: '${logs.name}', prefix: access/data/}",
            "\n      access_logging: {bucket: '${logs.name}'}",
        )
    } else {
        ("", "")
    };
    let logs = logs_name.map(|n| format!(", name: '{n}'")).unwrap_or_default();
    spec(&format!(
        "stack: {name}\nresources:\n  logs:\n    type: aws:s3:Bucket\n    properties: {{force_destroy: true{logs}}}\n  \
         data:\n    type: aws:s3:Bucket{data}\n  site:\n    type: aws:s3:Bucket\n    properties:\n      \
         name: {name}-site{site}\n"
    ))
}

/// The bucket's live logging target and prefix, read with the SDK.
async fn logging_of(c: &Clients, bucket: &str) -> Result<Option<(String, String)>, Box<dyn std::error::Error>> {
    let out = c.s3().await.get_bucket_logging().bucket(bucket).send().await?;
    Ok(out.logging_enabled().map(|l| (l.target_bucket().to_string(), l.target_prefix().to_string())))
}

/// The statements of the bucket's live policy that S3's logging service
/// is named in.
async fn logging_statements(c: &Clients, bucket: &str) -> Result<Vec<Json>, Box<dyn std::error::Error>> {
    let out = c.s3().await.get_bucket_policy().bucket(bucket).send().await?;
    let policy = harness::json(out.policy());
    let all = policy["Statement"].as_array().cloned().unwrap_or_default();
    Ok(all.into_iter().filter(|s| s["Principal"]["Service"] == "logging.s3.amazonaws.com").collect())
}

#[tokio::test]
async fn access_logging_is_set_read_back_and_turned_off() -> R {
    let proxy = Proxy::start_with(&emulator::endpoint(), Faults::strict()).await?;
    let provider = AwsProvider::new(AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() });
    let clients = std::sync::Arc::new(Clients::new(AwsOptions::default()));
    let name = emulator::unique_stack("logging");
    let dir = tempfile::tempdir()?;
    let store = StateStore::new(dir.path(), &name);
    let none = BTreeMap::new();

    let on = harness::valid(&stack(&name, true, None), &none);
    assert_eq!(on.order, ["logs", "data", "site"], "both sources wait for their log bucket");
    let first = harness::run(&provider, Some(&on), &store).await?;
    assert_eq!(first.counts().0, 3, "{first:?}");
    let deployed = Deployed { stack: name.clone(), state: store.load()?, clients: clients.clone() };
    let (logs, data, site) = (deployed.id("logs"), deployed.id("data"), deployed.id("site"));
    assert_eq!(logs, format!("{name}-logs-{ACCOUNT_ID}-us-east-1"), "the glue names the log bucket");
    assert_eq!(site, format!("{name}-site"));

    // What S3 holds, read directly.
    assert_eq!(logging_of(&clients, data).await?, Some((logs.to_string(), "access/data/".to_string())));
    assert_eq!(logging_of(&clients, site).await?, Some((logs.to_string(), String::new())));
    let statements = logging_statements(&clients, logs).await?;
    assert_eq!(statements.len(), 2, "{statements:?}");
    for (source, prefix) in [("data", "access/data/"), ("site", "")] {
        let st = statements
            .iter()
            .find(|s| s["Sid"] == format!("cairn-s3-logging-{source}"))
            .ok_or_else(|| format!("no statement for {source}: {statements:?}"))?;
        assert_eq!(st["Effect"], "Allow");
        assert_eq!(st["Action"], "s3:PutObject");
        assert_eq!(st["Resource"], format!("arn:aws:s3:::{logs}/{prefix}*"));
        assert_eq!(st["Condition"]["StringEquals"]["aws:SourceAccount"], ACCOUNT_ID);
    }
    let source_arn = |id: &str| {
        statements
            .iter()
            .find(|s| s["Sid"] == format!("cairn-s3-logging-{id}"))
            .map(|s| s["Condition"]["ArnLike"]["aws:SourceArn"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(source_arn("site"), Some(format!("arn:aws:s3:::{site}")));
    // The unnamed source is named at create: the statement holds the
    // pattern its name matches, which the delivery check judges below.
    let pattern = source_arn("data").unwrap_or_default();
    assert!(pattern.ends_with("-????????"), "{pattern}");
    assert!(cairn_testkit::policy::glob(&pattern, &format!("arn:aws:s3:::{data}"), false), "{pattern} {data}");
    let refused = crate::delivery::undeliverable(&deployed).await?;
    assert_eq!(refused, Vec::<String>::new(), "AWS would not deliver these");

    let again = harness::run(&provider, Some(&on), &store).await?;
    assert!(!again.has_changes(), "a second plan shows changes: {again:?}");

    // Known and noted in the plan: the name the glue gave the log bucket
    // lasts only while a bucket logs there; left unsaid, it would go, and
    // the bucket (with its logs) be replaced.
    let unnamed = harness::valid(&stack(&name, false, None), &none);
    assert_eq!(
        on.spec.resource("logs").map(|r| r.derived_props.contains_key("name")),
        Some(true),
        "the plan says why the log bucket has a name and how to keep it"
    );
    let would = cairn_engine::plan::make(&provider, Some(&unnamed), &name, &store.load()?, 16).await?;
    let would_step = would.resources.iter().find(|r| r.id == "logs").map(|r| r.step.clone());
    assert_eq!(would_step, Some(Step::Replace { because: vec!["name".into()] }), "{would:?}");

    // Said no more, the log bucket's name written out as the plan advises:
    // logging is turned off, and the log bucket's statements go.
    let off = harness::valid(&stack(&name, false, Some("${stack.name}-logs-${aws.account_id}-${aws.region}")), &none);
    let change = harness::run(&provider, Some(&off), &store).await?;
    let step = |id: &str| change.resources.iter().find(|r| r.id == id).map(|r| r.step.clone());
    assert_eq!(step("logs"), Some(Step::Update { fields: vec!["policy".into()] }), "{change:?}");
    assert_eq!(step("data"), Some(Step::Update { fields: vec!["access_logging".into()] }), "{change:?}");
    assert_eq!(step("site"), Some(Step::Update { fields: vec!["access_logging".into()] }), "{change:?}");
    assert_eq!(logging_of(&clients, data).await?, None, "logging is still on for {data}");
    assert_eq!(logging_of(&clients, site).await?, None, "logging is still on for {site}");
    assert_eq!(logging_statements(&clients, logs).await?, Vec::<Json>::new());
    let again = harness::run(&provider, Some(&off), &store).await?;
    assert!(!again.has_changes(), "a plan after turning it off shows changes: {again:?}");

    harness::run(&provider, None, &store).await?;
    assert!(store.load()?.resources.is_empty(), "destroy left resources in the state");
    assert_eq!(harness::leftovers(&clients, &name).await?, Vec::<String>::new(), "destroy left resources behind");
    Ok(())
}
