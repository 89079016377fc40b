//! The CIS monitoring stack (`stacks/cis-monitoring.yaml`, issue 21 item 4)
//! beside lab 3, through the binary on the emulator: wired to lab 3's log
//! group and topic by `-p` with the values `cairn output` gives, it adds a
//! filter and an alarm per CIS control 4.1-4.15, plans as unchanged, and
//! destroys to nothing while lab 3's own four filters stay. What exists is
//! read with the SDK directly, not through cairn's read code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cairn::aws::Clients;
use cairn_testkit::emulator;

#[allow(dead_code)]
mod support;
use support::{cairn, clients, expect, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

/// Per CIS control: the metric its filter feeds, and what its pattern must
/// name (event names, sources, error codes), as the benchmark words it.
const CONTROLS: [(&str, &str, &[&str]); 15] = [
    (
        "4.1",
        "UnauthorizedAPICalls",
        &["\"*UnauthorizedOperation\"", "\"AccessDenied*\"", "\"delivery.logs.amazonaws.com\"", "\"HeadBucket\""],
    ),
    ("4.2", "ConsoleSigninWithoutMFA", &["\"ConsoleLogin\"", "$.additionalEventData.MFAUsed != \"Yes\""]),
    ("4.3", "RootAccountUsage", &["\"Root\"", "$.userIdentity.invokedBy NOT EXISTS", "\"AwsServiceEvent\""]),
    (
        "4.4",
        "IAMPolicyChanges",
        &[
            "DeleteGroupPolicy",
            "DeleteRolePolicy",
            "DeleteUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "PutUserPolicy",
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "AttachRolePolicy",
            "DetachRolePolicy",
            "AttachUserPolicy",
            "DetachUserPolicy",
            "AttachGroupPolicy",
            "DetachGroupPolicy",
        ],
    ),
    ("4.5", "CloudTrailConfigChanges", &["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"]),
    ("4.6", "ConsoleSigninFailures", &["ConsoleLogin", "\"Failed authentication\""]),
    ("4.7", "DisableOrDeleteCMK", &["kms.amazonaws.com", "DisableKey", "ScheduleKeyDeletion"]),
    (
        "4.8",
        "S3BucketPolicyChanges",
        &[
            "s3.amazonaws.com",
            "PutBucketAcl",
            "PutBucketPolicy",
            "PutBucketCors",
            "PutBucketLifecycle",
            "PutBucketReplication",
            "DeleteBucketPolicy",
            "DeleteBucketCors",
            "DeleteBucketLifecycle",
            "DeleteBucketReplication",
        ],
    ),
    (
        "4.9",
        "AWSConfigChanges",
        &[
            "config.amazonaws.com",
            "StopConfigurationRecorder",
            "DeleteDeliveryChannel",
            "PutDeliveryChannel",
            "PutConfigurationRecorder",
        ],
    ),
    (
        "4.10",
        "SecurityGroupChanges",
        &[
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress",
            "RevokeSecurityGroupEgress",
            "CreateSecurityGroup",
            "DeleteSecurityGroup",
        ],
    ),
    (
        "4.11",
        "NACLChanges",
        &[
            "CreateNetworkAcl)",
            "CreateNetworkAclEntry",
            "DeleteNetworkAcl)",
            "DeleteNetworkAclEntry",
            "ReplaceNetworkAclEntry",
            "ReplaceNetworkAclAssociation",
        ],
    ),
    (
        "4.12",
        "NetworkGatewayChanges",
        &[
            "CreateCustomerGateway",
            "DeleteCustomerGateway",
            "AttachInternetGateway",
            "CreateInternetGateway",
            "DeleteInternetGateway",
            "DetachInternetGateway",
        ],
    ),
    (
        "4.13",
        "RouteTableChanges",
        &[
            "ec2.amazonaws.com",
            "CreateRoute)",
            "CreateRouteTable",
            "ReplaceRoute)",
            "ReplaceRouteTableAssociation",
            "DeleteRouteTable",
            "DeleteRoute)",
            "DisassociateRouteTable",
        ],
    ),
    (
        "4.14",
        "VPCChanges",
        &[
            "CreateVpc)",
            "DeleteVpc)",
            "ModifyVpcAttribute",
            "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection",
            "DeleteVpcPeeringConnection",
            "RejectVpcPeeringConnection",
            "AttachClassicLinkVpc",
            "DetachClassicLinkVpc",
            "DisableVpcClassicLink",
            "EnableVpcClassicLink",
        ],
    ),
    (
        "4.15",
        "OrganizationsChanges",
        &[
            "organizations.amazonaws.com",
            "\"AcceptHandshake\"",
            "\"AttachPolicy\"",
            "\"CreateAccount\"",
            "\"CreateOrganizationalUnit\"",
            "\"CreatePolicy\"",
            "\"DeclineHandshake\"",
            "\"DeleteOrganization\"",
            "\"DeleteOrganizationalUnit\"",
            "\"DeletePolicy\"",
            "\"DetachPolicy\"",
            "\"DisablePolicyType\"",
            "\"EnablePolicyType\"",
            "\"InviteAccountToOrganization\"",
            "\"LeaveOrganization\"",
            "\"MoveAccount\"",
            "\"RemoveAccountFromOrganization\"",
            "\"UpdatePolicy\"",
            "\"UpdateOrganizationalUnit\"",
            "\"CancelHandshake\"",
            "\"CreateOrganization\"",
            "\"EnableAllFeatures\"",
        ],
    ),
];

const NAMESPACE: &str = "CISBenchmark";

fn source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks").join(format!("{name}.yaml"))
}

/// A stack file of `stacks/` under another stack name, in `dir`.
fn renamed(dir: &Path, name: &str, stack: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(source(name))?;
    let from = format!("\nstack: {name}\n");
    assert!(text.contains(&from), "{name}.yaml does not say `stack: {name}`");
    let file = dir.join(format!("{stack}.yaml"));
    std::fs::write(&file, text.replace(&from, &format!("\nstack: {stack}\n")))?;
    Ok(file)
}

/// The patterns the stack file gives, by metric name.
fn file_patterns() -> Result<BTreeMap<String, String>, Box<dyn std::error::Error>> {
    let stack: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(source("cis-monitoring"))?)?;
    let mut patterns = BTreeMap::new();
    for (id, r) in stack["resources"].as_object().ok_or("no resources")? {
        if r["type"] == "aws:logs:MetricFilter" {
            let p = &r["properties"];
            let metric = p["metric"]["name"].as_str().ok_or(format!("{id}: no metric name"))?;
            let pattern = p["pattern"].as_str().ok_or(format!("{id}: no pattern"))?;
            assert_eq!(p["metric"]["namespace"], NAMESPACE, "{id}");
            assert!(patterns.insert(metric.to_string(), pattern.to_string()).is_none(), "{metric} fed twice");
        }
    }
    Ok(patterns)
}

/// A filter as read back: its namespace, metric and pattern.
#[derive(Debug)]
struct Filter {
    namespace: String,
    metric: String,
    pattern: String,
}

/// The metric filters of `group` whose name starts with `prefix`, by name
/// (none if the group is gone).
async fn filters(c: &Clients, group: &str, prefix: &str) -> Result<BTreeMap<String, Filter>, String> {
    let mut found = BTreeMap::new();
    let mut token = None;
    loop {
        let listed = c
            .logs()
            .await
            .describe_metric_filters()
            .log_group_name(group)
            .filter_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await;
        let out = match listed {
            Ok(out) => out,
            Err(e) if format!("{e:?}").contains("ResourceNotFoundException") => return Ok(found),
            Err(e) => return Err(format!("{e:?}")),
        };
        for f in out.metric_filters() {
            let t = f.metric_transformations().first().ok_or("a filter without a metric")?;
            let filter = Filter {
                namespace: t.metric_namespace().to_string(),
                metric: t.metric_name().to_string(),
                pattern: f.filter_pattern().unwrap_or_default().to_string(),
            };
            found.insert(f.filter_name().unwrap_or_default().to_string(), filter);
        }
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

/// An alarm as read back.
#[derive(Debug)]
struct Alarm {
    namespace: Option<String>,
    metric: String,
    description: String,
    actions: Vec<String>,
    statistic: Option<String>,
    comparison: Option<String>,
    period: Option<i32>,
    threshold: Option<f64>,
    evaluation_periods: Option<i32>,
}

/// The alarms whose name starts with `prefix`.
async fn alarms(c: &Clients, prefix: &str) -> Result<Vec<Alarm>, String> {
    let mut found = Vec::new();
    let mut token = None;
    loop {
        let out = c
            .cloudwatch()
            .await
            .describe_alarms()
            .alarm_name_prefix(prefix)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        found.extend(out.metric_alarms().iter().map(|a| Alarm {
            namespace: a.namespace().map(str::to_string),
            metric: a.metric_name().unwrap_or_default().to_string(),
            description: a.alarm_description().unwrap_or_default().to_string(),
            actions: a.alarm_actions().to_vec(),
            statistic: a.statistic().map(|s| s.as_str().to_string()),
            comparison: a.comparison_operator().map(|o| o.as_str().to_string()),
            period: a.period(),
            threshold: a.threshold(),
            evaluation_periods: a.evaluation_periods(),
        }));
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(found),
        }
    }
}

#[test]
fn cis_monitoring_beside_lab3_adds_fifteen_filters_and_alarms_and_destroys_to_nothing() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let lab3_stack = emulator::unique_stack("cislab3");
    let cis_stack = emulator::unique_stack("cis");
    let lab3 = renamed(dir.path(), "lab3-access-alerts", &lab3_stack)?;
    let cis = renamed(dir.path(), "cis-monitoring", &cis_stack)?;
    let email = ["-p", "email=security@example.com"];
    expect(&cairn(&state).arg("apply").arg(&lab3).args(email).arg("--yes").output()?, 0);

    // Wired as the docs show: the values lab 3's outputs give.
    let output = |name: &str| -> Result<String, Box<dyn std::error::Error>> {
        let out = cairn(&state).arg("output").arg(&lab3).arg(name).output()?;
        expect(&out, 0);
        Ok(String::from_utf8(out.stdout)?.trim().to_string())
    };
    let (group, topic) = (output("log_group")?, output("topic_arn")?);
    assert_eq!(group, format!("/cairn/{lab3_stack}/cloudtrail"));
    assert!(topic.starts_with("arn:aws:sns:") && topic.ends_with(&format!(":{lab3_stack}-alerts")), "{topic}");
    let wiring = [format!("log_group={group}"), format!("alarm_topic={topic}")];
    let wired = |c: &mut Command| {
        for w in &wiring {
            c.arg("-p").arg(w);
        }
    };
    let mut apply = cairn(&state);
    apply.arg("apply").arg(&cis).arg("--yes");
    wired(&mut apply);
    expect(&apply.output()?, 0);

    // Fifteen filters on lab 3's group, each with the file's pattern and
    // what its control names; lab 3's four are still there.
    let c = clients();
    let rt = runtime();
    let expected = file_patterns()?;
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        {
            let mut m: Vec<_> = CONTROLS.iter().map(|(_, metric, _)| metric).collect();
            m.sort_unstable();
            m
        },
        "one filter per control in the file"
    );
    let ours = rt.block_on(filters(&c, &group, &format!("{cis_stack}-")))?;
    assert_eq!(ours.len(), 15, "{ours:#?}");
    let by_metric: BTreeMap<&str, &Filter> = ours.values().map(|f| (f.metric.as_str(), f)).collect();
    for (control, metric, names) in CONTROLS {
        let f = by_metric.get(metric).ok_or(format!("CIS {control}: no filter feeds {metric}"))?;
        assert_eq!(f.namespace, NAMESPACE, "CIS {control}");
        assert_eq!(Some(&f.pattern), expected.get(metric), "CIS {control}");
        for name in names {
            assert!(f.pattern.contains(name), "CIS {control}: `{name}` missing from {}", f.pattern);
        }
    }
    let lab3_filters = rt.block_on(filters(&c, &group, &format!("{lab3_stack}-")))?;
    assert_eq!(lab3_filters.len(), 4, "{lab3_filters:#?}");
    assert!(lab3_filters.values().all(|f| f.namespace == "CloudTrailMetrics"), "{lab3_filters:#?}");

    // Fifteen alarms, Sum >= 1 over 300 s, each telling lab 3's topic.
    let found = rt.block_on(alarms(&c, &format!("{cis_stack}-")))?;
    assert_eq!(found.len(), 15, "{found:#?}");
    let mut metrics = Vec::new();
    for a in &found {
        let metric = a.metric.as_str();
        let (control, _, _) =
            CONTROLS.iter().find(|(_, m, _)| *m == metric).ok_or(format!("an alarm on an unknown metric {metric}"))?;
        assert_eq!(a.namespace.as_deref(), Some(NAMESPACE), "{a:?}");
        assert_eq!(a.actions, std::slice::from_ref(&topic), "{a:?}");
        assert_eq!(a.statistic.as_deref(), Some("Sum"), "{a:?}");
        assert_eq!((a.period, a.threshold, a.evaluation_periods), (Some(300), Some(1.0), Some(1)), "{a:?}");
        assert_eq!(a.comparison.as_deref(), Some("GreaterThanOrEqualToThreshold"), "{a:?}");
        assert!(a.description.starts_with(&format!("CIS {control}: ")), "{a:?}");
        metrics.push(metric);
    }
    metrics.sort_unstable();
    metrics.dedup();
    assert_eq!(metrics.len(), 15, "one alarm per metric: {metrics:?}");

    // Nothing to change in either stack.
    let mut plan = cairn(&state);
    plan.arg("plan").arg(&cis).arg("--detailed-exitcode");
    wired(&mut plan);
    expect(&plan.output()?, 0);
    expect(&cairn(&state).arg("plan").arg(&lab3).args(email).arg("--detailed-exitcode").output()?, 0);

    // The CIS set goes, lab 3's filters stay; then lab 3 goes too.
    expect(&cairn(&state).arg("destroy").arg(&cis).arg("--yes").output()?, 0);
    let ours = rt.block_on(filters(&c, &group, &format!("{cis_stack}-")))?;
    assert!(ours.is_empty(), "{ours:#?}");
    assert_eq!(rt.block_on(filters(&c, &group, &format!("{lab3_stack}-")))?.len(), 4);
    let left = rt.block_on(alarms(&c, &format!("{cis_stack}-")))?;
    assert!(left.is_empty(), "{left:#?}");
    assert_eq!(rt.block_on(alarms(&c, &format!("{lab3_stack}-")))?.len(), 4);

    expect(&cairn(&state).arg("destroy").arg(&lab3).arg("--yes").output()?, 0);
    let left = rt.block_on(alarms(&c, &format!("{lab3_stack}-")))?;
    assert!(left.is_empty(), "{left:#?}");
    let groups = rt.block_on(async {
        c.logs().await.describe_log_groups().log_group_name_prefix(&group).send().await.map_err(|e| format!("{e:?}"))
    })?;
    assert!(groups.log_groups().is_empty(), "{groups:?}");
    let topic_left = rt.block_on(async { c.sns().await.get_topic_attributes().topic_arn(&topic).send().await.is_ok() });
    assert!(!topic_left, "{topic} is still there");
    Ok(())
}
