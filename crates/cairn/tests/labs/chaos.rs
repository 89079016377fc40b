//! Labs 3 and 6 (YAML forms) through the fault proxy: 10% of calls
//! throttled, 10% answered with a 5xx error and 5% answered never (the
//! request reaches the emulator, the answer is dropped). Each must apply,
//! re-plan with no change and destroy cleanly, and after the apply every
//! resource of the stack must exist exactly once, counted by direct SDK
//! calls to the emulator (not through the proxy): a lost answer to a create
//! makes the SDK send it again, and the kind must then adopt what the first
//! try made instead of making a second one or failing.
//!
//! The seeds are fixed so that a run's faults can be replayed (up to the
//! order in which concurrent calls reach the proxy);
//! `CAIRN_CHAOS_SEED=<n>` runs another seed. The proxy's counters are
//! printed (`--no-capture` shows them).

use std::collections::{BTreeMap, BTreeSet};

use cairn_aws::AwsOptions;
use cairn_testkit::emulator;
use cairn_testkit::proxy::{Faults, Proxy, injected};

use crate::harness::{self, Deployed, R};

/// The faults of every chaos run.
fn faults(seed: u64) -> Faults {
    let seed = std::env::var("CAIRN_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(seed);
    Faults { throttle_rate: 0.10, error_5xx_rate: 0.10, lost_response_rate: 0.05, seed, ..Faults::default() }
}

/// Round-trips `file` with a provider behind a fault proxy, checking the
/// live inventory after the apply, then prints what the proxy injected.
async fn chaos_round_trip(
    file: &str,
    params: &BTreeMap<String, String>,
    seed: u64,
    check: impl AsyncFnOnce(&Deployed) -> R,
) -> R {
    let proxy = Proxy::start(&emulator::endpoint()).await?;
    let faults = faults(seed);
    let seed = faults.seed;
    proxy.set(faults);
    let options = AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() };
    let result = harness::round_trip_with(harness::yaml(file), params, options, check).await;
    let stats = proxy.stats();
    eprintln!(
        "chaos {file} seed {seed}: {} calls ({} writes), injected: {} throttled, {} 5xx, {} lost responses; \
         by operation: {}",
        stats.total,
        stats.writes,
        stats.injected(injected::THROTTLE),
        stats.injected(injected::ERROR_5XX),
        stats.injected(injected::LOST_RESPONSE),
        serde_json::to_string(&stats.by_operation)?,
    );
    result?;
    // The faults did happen: a run that injected nothing proves nothing.
    for kind in [injected::THROTTLE, injected::ERROR_5XX, injected::LOST_RESPONSE] {
        assert!(stats.injected(kind) > 0, "no {kind} was injected: {:?}", stats.injected);
    }
    Ok(())
}

/// How many live resources of each kind the stack has, from
/// [`harness::leftovers`] (which names each `<kind> <id>`).
async fn inventory(d: &Deployed) -> Result<BTreeMap<String, usize>, Box<dyn std::error::Error>> {
    let mut counts = BTreeMap::new();
    for item in harness::leftovers(&d.clients, &d.stack).await? {
        let kind = item.rsplit_once(' ').map_or(item.as_str(), |(kind, _)| kind).to_string();
        *counts.entry(kind).or_default() += 1;
    }
    Ok(counts)
}

fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[tokio::test]
async fn lab3_survives_faults_without_duplicates() -> R {
    let params = harness::params(&[("email", "security@example.com")]);
    chaos_round_trip("lab3-access-alerts.yaml", &params, 3, async |d: &Deployed| {
        let expected = expect(&[
            ("alarm", 4),
            ("bucket", 2),
            ("key", 1),
            ("log group", 1),
            ("role", 1),
            ("topic", 1),
            ("trail", 1),
        ]);
        assert_eq!(inventory(d).await?, expected, "live resources of {}", d.stack);

        let topic = d.id("alerts");
        let subs = d.clients.sns().await.list_subscriptions_by_topic().topic_arn(topic).send().await?;
        let endpoints: Vec<_> = subs.subscriptions().iter().map(|s| (s.protocol(), s.endpoint())).collect();
        assert_eq!(endpoints, [(Some("email"), Some("security@example.com"))], "subscriptions of {topic}");

        // A filter is its log group and name: AWS keeps one per name, where
        // moto appends one per PutMetricFilter call, so a put retried after a
        // lost answer shows twice there. Entries of one name must be the same
        // filter; there must be four names.
        let logs = d.clients.logs().await;
        let filters = logs.describe_metric_filters().log_group_name(d.id("trail-logs")).send().await?;
        let mut by_name: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for f in filters.metric_filters() {
            let what = format!("{:?} {:?}", f.filter_pattern(), f.metric_transformations());
            by_name.entry(f.filter_name().unwrap_or_default()).or_default().insert(what);
        }
        let names: Vec<_> = by_name.keys().map(|n| n.strip_prefix(&format!("{}-", d.stack)).unwrap_or(n)).collect();
        assert_eq!(names, ["console-signin-failures", "iam-policy-changes", "root-usage", "unauthorized-calls"]);
        for (name, versions) in &by_name {
            assert_eq!(versions.len(), 1, "metric filter {name} exists in different forms: {versions:?}");
        }
        let entries = filters.metric_filters().len();
        if entries > by_name.len() {
            eprintln!("moto holds {entries} metric filter entries for {} filters", by_name.len());
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn lab6_survives_faults_without_duplicates() -> R {
    chaos_round_trip("lab6-sqs-lambda.yaml", &harness::params(&[]), 6, async |d: &Deployed| {
        let expected =
            expect(&[("event source mapping", 1), ("function", 1), ("log group", 1), ("queue", 2), ("role", 1)]);
        assert_eq!(inventory(d).await?, expected, "live resources of {}", d.stack);

        // The one mapping is the one cairn recorded, from the jobs queue.
        let lambda = d.clients.lambda().await;
        let mappings = lambda.list_event_source_mappings().function_name(d.attr("worker", "arn")).send().await?;
        let mappings: Vec<_> =
            mappings.event_source_mappings().iter().map(|m| (m.uuid(), m.event_source_arn())).collect();
        assert_eq!(mappings, [(Some(d.id("trigger")), Some(d.attr("jobs", "arn").as_str()))]);
        Ok(())
    })
    .await
}
