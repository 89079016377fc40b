//! `cairn check` through the binary, on the emulator (issue 17): each lab's
//! edges pass where the emulator can run them and say why where it cannot;
//! a lab broken behind cairn's back fails on the broken edge and names it;
//! nothing check makes is left, after it ends, after Ctrl-C, and (swept)
//! after a kill.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cairn_testkit::emulator;
use serde_json::Value as Json;

#[allow(dead_code)]
mod support;
use support::{cairn, clients, expect, lab, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

/// An edge's name, result and detail, as `--json` gives them.
type Edge = (String, String, String);

/// `cairn check FILE --json` with a short wait; the exit code and the edges
/// by name (result, detail).
fn check(state: &Path, file: &Path, extra: &[&str], code: i32) -> Result<Vec<Edge>, Box<dyn std::error::Error>> {
    let out = cairn(state).arg("check").arg(file).args(["--json", "--timeout", "2s"]).args(extra).output()?;
    let stderr = expect(&out, code);
    let doc: Json = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["command"], "check", "{doc}");
    assert_eq!(doc["ok"], code == 0, "{doc}\n{stderr}");
    let edges = doc["edges"].as_array().ok_or("no edges")?;
    Ok(edges
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("edge"), s("result"), s("detail"))
        })
        .collect())
}

fn edge<'a>(edges: &'a [Edge], name: &str) -> &'a Edge {
    edges.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("no edge {name} in {edges:?}"))
}

/// The temporary queues a check of `stack` left (tagged `cairn:check`).
fn leftover_queues(stack: &str) -> Vec<String> {
    runtime().block_on(async {
        let c = clients();
        let sqs = c.sqs().await;
        let listed = sqs.list_queues().queue_name_prefix("cairn-check-").send().await.expect("ListQueues");
        let mut left = Vec::new();
        for url in listed.queue_urls() {
            let tags = sqs.list_queue_tags().queue_url(url).send().await.expect("ListQueueTags");
            if tags.tags().and_then(|t| t.get("cairn:check")).is_some_and(|s| s == stack) {
                left.push(url.clone());
            }
        }
        left
    })
}

/// The endpoints subscribed to a topic.
fn subscribers(topic: &str) -> Vec<String> {
    runtime().block_on(async {
        let c = clients();
        let sns = c.sns().await;
        let subs = sns.list_subscriptions_by_topic().topic_arn(topic).send().await.expect("ListSubscriptionsByTopic");
        subs.subscriptions().iter().filter_map(|s| s.endpoint().map(str::to_string)).collect()
    })
}

fn alarm_state(stack: &str) -> String {
    runtime().block_on(async {
        let c = clients();
        let cw = c.cloudwatch().await;
        let found = cw.describe_alarms().alarm_names(format!("{stack}-alarm")).send().await.expect("DescribeAlarms");
        found.metric_alarms().first().and_then(|a| a.state_value()).map(|s| s.as_str().to_string()).unwrap_or_default()
    })
}

fn output(state: &Path, file: &Path, name: &str) -> Result<String, Box<dyn std::error::Error>> {
    let out = cairn(state).arg("output").arg(file).arg(name).output()?;
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[test]
fn lab1_passes_and_fails_on_the_rule_once_the_topic_policy_is_removed() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("check1");
    let file = lab(dir.path(), "lab1-notifications", &stack)?;
    expect(&cairn(&state).arg("apply").arg(&file).args(["-p", "email=ops@example.com", "--yes"]).output()?, 0);
    let topic = output(&state, &file, "topic_arn")?;

    let edges = check(&state, &file, &["-p", "email=ops@example.com"], 0)?;
    assert_eq!(edges.len(), 2, "{edges:?}");
    let (_, result, detail) = edge(&edges, "ec2-state -> alerts");
    assert_eq!(result, "pass", "{detail}");
    assert!(detail.contains("source aws.ec2") && detail.contains("lets events.amazonaws.com sns:Publish"), "{detail}");
    let (_, result, detail) = edge(&edges, "alerts -> ops-email");
    assert_eq!(result, "pass", "{detail}");
    assert!(detail.contains("reached a temporary subscriber"), "{detail}");
    assert!(leftover_queues(&stack).is_empty());
    assert_eq!(subscribers(&topic), ["ops@example.com"]);

    // A subscription recorded while pending (no ARN in state) and
    // confirmed since is found on the topic and checked as confirmed.
    let path = state.join(format!("{stack}.json"));
    let mut recorded: Json = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    recorded["resources"]["ops-email"]["physical_id"] = format!("pending:{topic}|email|ops@example.com").into();
    std::fs::write(&path, serde_json::to_string_pretty(&recorded)?)?;
    let edges = check(&state, &file, &["-p", "email=ops@example.com"], 0)?;
    let (_, result, detail) = edge(&edges, "alerts -> ops-email");
    assert_eq!(result, "pass", "{detail}");
    assert!(detail.contains("ops-email (email) is confirmed"), "{detail}");

    // The topic's policy as AWS makes it, without the statement for the rule.
    let account_only = serde_json::json!({
        "Version": "2008-10-17",
        "Statement": [{"Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:Publish", "SNS:Subscribe"], "Resource": topic,
            "Condition": {"StringEquals": {"AWS:SourceOwner": "123456789012"}}}]
    });
    runtime().block_on(async {
        clients()
            .sns()
            .await
            .set_topic_attributes()
            .topic_arn(&topic)
            .attribute_name("Policy")
            .attribute_value(account_only.to_string())
            .send()
            .await
    })?;
    let edges = check(&state, &file, &["-p", "email=ops@example.com"], 1)?;
    let (_, result, detail) = edge(&edges, "ec2-state -> alerts");
    assert_eq!(result, "fail", "{detail}");
    assert!(detail.contains("does not allow events.amazonaws.com to sns:Publish"), "{detail}");
    assert_eq!(edge(&edges, "alerts -> ops-email").1, "pass");
    assert!(leftover_queues(&stack).is_empty());

    expect(&cairn(&state).arg("destroy").arg(&file).args(["-p", "email=ops@example.com", "--yes"]).output()?, 0);
    Ok(())
}

#[test]
fn lab3_counts_the_sample_records_and_fails_on_a_filter_that_matches_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("check3");
    let file = lab(dir.path(), "lab3-access-alerts", &stack)?;
    let email = ["-p", "email=ops@example.com"];
    expect(&cairn(&state).arg("apply").arg(&file).args(email).arg("--yes").output()?, 0);

    let edges = check(&state, &file, &email, 0)?;
    for (filter, records) in [
        ("unauthorized-calls", "(#2, #3), exactly those the UnauthorizedAPICalls metric counts"),
        ("root-usage", "(#4), exactly those the RootAccountUsage metric counts"),
        ("console-signin-failures", "(#6), exactly"),
        ("iam-policy-changes", "(#8, #9), exactly"),
    ] {
        let (_, result, detail) = edge(&edges, &format!("trail-logs -> {filter}"));
        assert_eq!(result, "pass", "{filter}: {detail}");
        assert!(detail.contains(records), "{filter}: {detail}");
        // The alarm's notification needs alarm actions run: never a pass here.
        let (_, result, detail) = edge(&edges, &format!("{filter}-alarm -> alerts"));
        assert_eq!(result, "skipped", "{detail}");
        assert!(detail.contains("is not AWS") && detail.contains("alarm actions"), "{detail}");
    }
    assert_eq!(edge(&edges, "trail (delivery)").1, "pass");
    assert_eq!(edge(&edges, "alerts -> ops-email").1, "pass");
    assert!(leftover_queues(&stack).is_empty());

    // The filter's pattern replaced behind cairn's back by one that matches nothing.
    replace_filter(&stack, "unauthorized-calls", "UnauthorizedAPICalls", "{ $.errorCode = \"NoSuchError\" }")?;
    let only = ["-p", "email=ops@example.com", "--only", "unauthorized-calls"];
    let edges = check(&state, &file, &only, 1)?;
    assert_eq!(edges.len(), 1, "--only keeps the filter's edge: {edges:?}");
    let (_, result, detail) = edge(&edges, "trail-logs -> unauthorized-calls");
    assert_eq!(result, "fail", "{detail}");
    assert!(detail.contains("matches none of the 11 sample CloudTrail records"), "{detail}");
    assert!(detail.contains("not the stack's"), "{detail}");

    // One that counts too much: root's calls made by a service (#5) too.
    replace_filter(&stack, "root-usage", "RootAccountUsage", "{ $.userIdentity.type = \"Root\" }")?;
    let only = ["-p", "email=ops@example.com", "--only", "root-usage"];
    let edges = check(&state, &file, &only, 1)?;
    let (_, result, detail) = edge(&edges, "trail-logs -> root-usage");
    assert_eq!(result, "fail", "{detail}");
    assert!(
        detail.contains("counts records #4, #5 of the 11 samples") && detail.contains("metric counts #4"),
        "{detail}"
    );

    expect(&cairn(&state).arg("destroy").arg(&file).args(email).arg("--yes").output()?, 0);
    Ok(())
}

/// Replaces lab 3's metric filter `id` of `stack` behind cairn's back, as
/// AWS replaces a filter put under its name (the emulator would keep both).
fn replace_filter(stack: &str, id: &str, metric: &str, pattern: &str) -> R {
    let group = format!("/cairn/{stack}/cloudtrail");
    let name = format!("{stack}-{id}");
    runtime().block_on(async {
        let transformation = aws_sdk_cloudwatchlogs::types::MetricTransformation::builder()
            .metric_name(metric)
            .metric_namespace("CloudTrailMetrics")
            .metric_value("1")
            .build()?;
        let c = clients();
        let logs = c.logs().await;
        logs.delete_metric_filter().log_group_name(&group).filter_name(&name).send().await?;
        logs.put_metric_filter()
            .log_group_name(&group)
            .filter_name(&name)
            .filter_pattern(pattern)
            .metric_transformations(transformation)
            .send()
            .await?;
        Ok(())
    })
}

#[test]
fn lab6_skips_what_needs_a_lambda_runtime_and_fails_on_a_disabled_mapping() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("check6");
    let file = lab(dir.path(), "lab6-sqs-lambda", &stack)?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let queue = output(&state, &file, "queue_url")?;

    let edges = check(&state, &file, &[], 0)?;
    let (_, result, detail) = edge(&edges, "worker (invoke)");
    assert_eq!(result, "skipped", "{detail}");
    assert!(detail.contains("is not AWS and cannot run the code"), "{detail}");
    let (_, result, detail) = edge(&edges, "jobs -> trigger -> worker");
    assert_eq!(result, "skipped", "{detail}");
    assert!(detail.contains("is Enabled; no message sent"), "{detail}");
    let waiting = runtime().block_on(async {
        let attrs = clients()
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(&queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("GetQueueAttributes");
        attrs.attributes().and_then(|a| a.values().next().cloned()).unwrap_or_default()
    });
    assert_eq!(waiting, "0", "check sent nothing to a queue whose function cannot run");

    // The mapping disabled behind cairn's back.
    let recorded: Json = serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?;
    let uuid = recorded["resources"]["trigger"]["physical_id"].as_str().ok_or("no mapping in state")?.to_string();
    runtime().block_on(async {
        let c = clients();
        c.lambda().await.update_event_source_mapping().uuid(&uuid).enabled(false).send().await
    })?;
    assert!(!uuid.is_empty());
    let edges = check(&state, &file, &[], 1)?;
    let (_, result, detail) = edge(&edges, "jobs -> trigger -> worker");
    assert_eq!(result, "fail", "{detail}");
    assert!(detail.contains("mapping trigger is Disabled"), "{detail}");

    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}

#[test]
fn labs_2_4_and_5_pass_or_say_why_each_edge_is_skipped() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    // Lab 5's code is a directory beside its stack file.
    let code = dir.path().join("lab5-function");
    std::fs::create_dir(&code)?;
    for f in ["app.py", "greet.py"] {
        std::fs::copy(format!("{}/../../stacks/lab5-function/{f}", env!("CARGO_MANIFEST_DIR")), code.join(f))?;
    }
    for (name, expected) in [
        (
            "lab2-ec2-logging",
            vec![("instance -> messages", "its instances run no agent"), ("instance -> secure", "run no agent")],
        ),
        ("lab4-simple-lambda", vec![("hello (invoke)", "cannot run the code")]),
        ("lab5-lambda-cli", vec![("handler (invoke)", "cannot run the code")]),
    ] {
        let stack = emulator::unique_stack("checklab");
        let file = lab(dir.path(), name, &stack)?;
        expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
        let edges = check(&state, &file, &[], 0)?;
        assert_eq!(edges.len(), expected.len(), "{name}: {edges:?}");
        for (wanted, why) in expected {
            let (_, result, detail) = edge(&edges, wanted);
            assert_eq!(result, "skipped", "{name} {wanted}: {detail}");
            assert!(detail.contains("is not AWS") && detail.contains(why), "{name} {wanted}: {detail}");
        }
        expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    }
    Ok(())
}

#[test]
fn a_rule_sending_to_a_queue_is_judged_by_the_queue_policy() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("checkrq");
    let file = dir.path().join("rq.yaml");
    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nresources:\n  inbox:\n    type: aws:sqs:Queue\n  rule:\n    type: aws:events:Rule\n    \
             properties:\n      event_pattern:\n        source: [{{prefix: aws.}}]\n        detail:\n          \
             count: [{{numeric: [\">\", 5]}}]\n          zone: [{{anything-but: [a]}}]\n      targets:\n        \
             - arn: ${{inbox.arn}}\n  dotted:\n    type: aws:events:Rule\n    properties:\n      event_pattern:\n        \
             source: [aws.ec2]\n        detail.state: [running]\n      targets:\n        - arn: ${{inbox.arn}}\n\
             outputs:\n  queue: ${{inbox.url}}\n"
        ),
    )?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let edges = check(&state, &file, &[], 0)?;
    let (_, result, detail) = edge(&edges, "rule -> inbox");
    assert_eq!(result, "pass", "{detail}");
    // The event built for the pattern meets each matcher.
    assert!(
        detail.contains(r#""count":6"#) && detail.contains("lets events.amazonaws.com sqs:SendMessage"),
        "{detail}"
    );
    // A pattern EventBridge takes but cairn cannot build an event for is
    // not tried, and says so: never a pass.
    let (_, result, detail) = edge(&edges, "dotted -> inbox");
    assert_eq!(result, "skipped", "{detail}");
    assert!(detail.contains("cairn cannot build an event for the rule's pattern"), "{detail}");

    let queue = output(&state, &file, "queue")?;
    runtime().block_on(async {
        let c = clients();
        let sqs = c.sqs().await;
        sqs.set_queue_attributes()
            .queue_url(&queue)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, "")
            .send()
            .await
    })?;
    let edges = check(&state, &file, &[], 1)?;
    let (_, result, detail) = edge(&edges, "rule -> inbox");
    assert_eq!(result, "fail", "{detail}");
    assert!(detail.contains("does not allow events.amazonaws.com to sqs:SendMessage"), "{detail}");

    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}

/// A topic and an alarm notifying it: check waits for the alarm's
/// notification (which the emulator never sends), long enough to be
/// stopped while its temporary queue exists.
fn alarm_stack(dir: &Path, stack: &str) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let file = dir.join(format!("{stack}.yaml"));
    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nresources:\n  alerts:\n    type: aws:sns:Topic\n  alarm:\n    type: aws:cloudwatch:Alarm\n    \
             properties:\n      metric: {{namespace: Cairn/Check, name: Probe, statistic: Sum, period: 60}}\n      \
             comparison: GreaterThanOrEqualToThreshold\n      threshold: 1\n      evaluation_periods: 1\n      \
             alarm_actions: [\"${{alerts.arn}}\"]\noutputs:\n  topic: ${{alerts.arn}}\n"
        ),
    )?;
    Ok(file)
}

/// Starts a long check and waits until its temporary queue exists and is
/// subscribed to `topic`.
fn check_until_queue(state: &Path, file: &Path, stack: &str, topic: &str) -> Result<Child, Box<dyn std::error::Error>> {
    let child = cairn(state)
        .arg("check")
        .arg(file)
        .args(["--timeout", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let t0 = Instant::now();
    while leftover_queues(stack).is_empty() || subscribers(topic).is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(60), "check made no subscribed temporary queue");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

#[test]
fn nothing_check_makes_is_left_after_ctrl_c_and_a_killed_run_is_swept() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("checkkill");
    let file = alarm_stack(dir.path(), &stack)?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let topic = output(&state, &file, "topic")?;
    assert_eq!(subscribers(&topic).len(), 0);

    // Ctrl-C: the temporary queue and its subscription go before the exit.
    let child = check_until_queue(&state, &file, &stack, &topic)?;
    assert_eq!(subscribers(&topic).len(), 1, "the temporary queue is subscribed");
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status()?;
    assert!(sent.success(), "could not send SIGINT");
    let out = child.wait_with_output()?;
    let stderr = expect(&out, 130);
    assert!(stderr.contains("nothing check made is left"), "{stderr}");
    assert_eq!(alarm_state(&stack), "OK", "the alarm is set back: {stderr}");
    assert!(leftover_queues(&stack).is_empty(), "{stderr}");
    assert!(subscribers(&topic).is_empty(), "{stderr}");

    // Killed: the queue and its subscription stay, tagged; sweep finds both
    // and removes them, and nothing of the stack itself.
    let mut child = check_until_queue(&state, &file, &stack, &topic)?;
    child.kill()?;
    child.wait()?;
    assert_eq!(leftover_queues(&stack).len(), 1);
    assert_eq!(subscribers(&topic).len(), 1);
    // Named with --stack, as the advice says: the emulator is shared by
    // tests running at once, and its paging of an unfiltered listing skips
    // resources when others are made or deleted between pages.
    let tag = format!("cairn:check={stack}");
    let listing = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--tag", &tag]).output()?, 0);
    assert!(listing.contains("aws:sqs:Queue") && listing.contains("aws:sns:Subscription"), "{listing}");
    assert!(!listing.contains("aws:cloudwatch:Alarm"), "only what check made: {listing}");
    expect(&cairn(&state).args(["sweep", "--stack", &stack, "--tag", &tag, "--yes"]).output()?, 0);
    assert!(leftover_queues(&stack).is_empty());
    assert!(subscribers(&topic).is_empty());
    // The stack itself is untouched and still checks.
    let edges = check(&state, &file, &[], 0)?;
    assert_eq!(edge(&edges, "alarm -> alerts").1, "skipped");

    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}

/// Ctrl-C while the temporary queue's Subscribe has reached AWS but its
/// answer has not come back: the subscription was made, and check never
/// learnt its ARN. Cleanup finds it on the topic by its endpoint and
/// removes it with the queue.
#[test]
fn a_subscription_whose_answer_never_came_is_removed_on_ctrl_c() -> R {
    use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted};
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("checkheld");
    let file = alarm_stack(dir.path(), &stack)?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let topic = output(&state, &file, "topic")?;

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let proxy = rt.block_on(Proxy::start(&emulator::endpoint()))?;
    proxy.set(Faults::scripted(vec![Scripted::new("sns:Subscribe", 1, Fault::Hold { forward: true })]));
    let child = cairn(&state)
        .env("AWS_ENDPOINT_URL", proxy.url())
        .arg("check")
        .arg(&file)
        .args(["--timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let t0 = Instant::now();
    while proxy.held() == 0 {
        assert!(t0.elapsed() < Duration::from_secs(60), "no Subscribe was held");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(subscribers(&topic).len(), 1, "the held Subscribe took effect");
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status()?;
    assert!(sent.success(), "could not send SIGINT");
    let out = child.wait_with_output()?;
    let stderr = expect(&out, 130);
    assert!(stderr.contains("nothing check made is left"), "{stderr}");
    assert!(leftover_queues(&stack).is_empty(), "{stderr}");
    assert!(subscribers(&topic).is_empty(), "the subscription found by its endpoint is gone: {stderr}");
    drop(proxy);

    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}
