//! Every metric filter pattern in the stacks of lab 3 and the CIS
//! monitoring stack parses, matches a CloudTrail record it is meant to
//! count and misses records it is not, read from the stack files
//! themselves so that a changed pattern is tested as it ships.

use cairn_patterns::filter_pattern::{FilterPattern, Verdict};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// `(resource id, pattern)` of each `pattern:` in a stack file: single
/// quoted on one line, or folded (`>-`) over the more indented lines after.
fn metric_filter_patterns(file: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut id = String::new();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if indent(line) == 2 && line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            id = line.trim().trim_end_matches(':').to_string();
        }
        let Some(value) = line.trim_start().strip_prefix("pattern:") else { continue };
        let value = value.trim();
        let pattern = if value == ">-" {
            let own = indent(line);
            let folded: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| indent(l) > own && !l.trim().is_empty())
                .map(|l| l.trim())
                .collect();
            folded.join(" ")
        } else if let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            quoted.replace("''", "'")
        } else {
            panic!("{file}: {id}: a pattern neither single-quoted nor folded: {value}")
        };
        out.push((id.clone(), pattern));
    }
    out
}

/// A CloudTrail record as delivered to CloudWatch Logs, with `changes`
/// merged over an IAM user's successful API call.
fn record(event_source: &str, event_name: &str, changes: Value) -> String {
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEID",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "userName": "alice"
        },
        "eventTime": "2024-05-01T12:00:00Z",
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": null,
        "responseElements": null,
        "eventID": "3f1a2b4c-0000-4000-8000-000000000001",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333"
    });
    merge(&mut r, changes);
    r.to_string()
}

fn merge(into: &mut Value, changes: Value) {
    match (into, changes) {
        (Value::Object(base), Value::Object(changes)) => {
            for (k, v) in changes {
                match base.get_mut(&k) {
                    Some(slot) if v.is_object() && slot.is_object() => merge(slot, v),
                    _ => {
                        base.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

fn root() -> Value {
    json!({"userIdentity": {"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root"}})
}

fn console_login(outcome: &str, mfa: &str) -> Value {
    let mut v = json!({
        "eventType": "AwsConsoleSignIn",
        "responseElements": {"ConsoleLogin": outcome},
        "additionalEventData": {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": mfa}
    });
    if outcome == "Failure" {
        merge(&mut v, json!({"errorMessage": "Failed authentication"}));
    }
    v
}

/// What each metric filter must count, and what it must not.
fn expectations() -> BTreeMap<&'static str, (Vec<String>, Vec<String>)> {
    let none = || json!({});
    let mut e = BTreeMap::new();
    e.insert(
        "lab3/unauthorized-calls",
        (
            vec![
                record("ec2.amazonaws.com", "RunInstances", json!({"errorCode": "Client.UnauthorizedOperation"})),
                record("s3.amazonaws.com", "GetObject", json!({"errorCode": "AccessDenied"})),
                record("kms.amazonaws.com", "Decrypt", json!({"errorCode": "AccessDeniedException"})),
            ],
            vec![
                record("s3.amazonaws.com", "GetObject", none()),
                record(
                    "ec2.amazonaws.com",
                    "RunInstances",
                    json!({"errorCode": "Client.UnauthorizedOperationPending"}),
                ),
                record("dynamodb.amazonaws.com", "Query", json!({"errorCode": "ThrottlingException"})),
            ],
        ),
    );
    let root_usage = (
        vec![
            record("iam.amazonaws.com", "CreateAccessKey", root()),
            record("signin.amazonaws.com", "ConsoleLogin", {
                let mut v = root();
                merge(&mut v, console_login("Success", "Yes"));
                v
            }),
        ],
        vec![
            record("iam.amazonaws.com", "CreateAccessKey", none()),
            record("iam.amazonaws.com", "ListRoles", {
                let mut v = root();
                merge(&mut v, json!({"userIdentity": {"invokedBy": "support.amazonaws.com"}}));
                v
            }),
            record("sts.amazonaws.com", "AssumeRole", {
                let mut v = root();
                merge(&mut v, json!({"eventType": "AwsServiceEvent"}));
                v
            }),
        ],
    );
    e.insert("lab3/root-usage", root_usage.clone());
    e.insert("cis/root-usage", root_usage);
    let signin_failures = (
        vec![record("signin.amazonaws.com", "ConsoleLogin", console_login("Failure", "No"))],
        vec![
            record("signin.amazonaws.com", "ConsoleLogin", console_login("Success", "Yes")),
            record("iam.amazonaws.com", "GetUser", json!({"errorMessage": "Failed authentication"})),
        ],
    );
    e.insert("lab3/console-signin-failures", signin_failures.clone());
    e.insert("cis/console-signin-failures", signin_failures);
    let iam = |name: &str| record("iam.amazonaws.com", name, json!({}));
    let iam_changes = (
        vec![iam("DeleteGroupPolicy"), iam("PutRolePolicy"), iam("AttachUserPolicy"), iam("DetachGroupPolicy")],
        vec![iam("GetRolePolicy"), iam("ListPolicies"), iam("CreateRole")],
    );
    e.insert("lab3/iam-policy-changes", iam_changes.clone());
    e.insert("cis/iam-policy-changes", iam_changes);
    e.insert(
        "cis/unauthorized-calls",
        (
            vec![
                record("s3.amazonaws.com", "GetObject", json!({"errorCode": "AccessDenied"})),
                record("ec2.amazonaws.com", "RunInstances", json!({"errorCode": "Client.UnauthorizedOperation"})),
                // `&&` binds tighter than `||` (AWS's "() > && > ||"), so the
                // exclusions bind only to AccessDenied*: an unauthorized call
                // is counted even from the log delivery service.
                record(
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    json!({"errorCode": "Client.UnauthorizedOperation", "sourceIPAddress": "delivery.logs.amazonaws.com"}),
                ),
            ],
            vec![
                record("s3.amazonaws.com", "HeadBucket", json!({"errorCode": "AccessDenied"})),
                record(
                    "s3.amazonaws.com",
                    "PutObject",
                    json!({"errorCode": "AccessDenied", "sourceIPAddress": "delivery.logs.amazonaws.com"}),
                ),
                record("s3.amazonaws.com", "GetObject", json!({})),
            ],
        ),
    );
    e.insert(
        "cis/signin-without-mfa",
        (
            vec![record("signin.amazonaws.com", "ConsoleLogin", console_login("Success", "No"))],
            vec![
                record("signin.amazonaws.com", "ConsoleLogin", console_login("Success", "Yes")),
                // `!=` needs the field: a record without it is not counted.
                record("signin.amazonaws.com", "ConsoleLogin", json!({"eventType": "AwsConsoleSignIn"})),
                record("iam.amazonaws.com", "GetUser", json!({"additionalEventData": {"MFAUsed": "No"}})),
            ],
        ),
    );
    let calls = |source: &str, yes: &[&str], no: &[&str]| {
        (
            yes.iter().map(|n| record(source, n, json!({}))).collect::<Vec<_>>(),
            no.iter().map(|n| record(source, n, json!({}))).collect::<Vec<_>>(),
        )
    };
    e.insert(
        "cis/cloudtrail-changes",
        calls("cloudtrail.amazonaws.com", &["CreateTrail", "StopLogging"], &["DescribeTrails", "LookupEvents"]),
    );
    let mut cmk = calls("kms.amazonaws.com", &["DisableKey", "ScheduleKeyDeletion"], &["Encrypt", "EnableKey"]);
    cmk.1.push(record("other.amazonaws.com", "DisableKey", json!({})));
    e.insert("cis/cmk-disable-or-delete", cmk);
    let mut s3 = calls(
        "s3.amazonaws.com",
        &["PutBucketPolicy", "DeleteBucketCors", "PutBucketLifecycle"],
        &["GetBucketPolicy", "PutObject"],
    );
    s3.1.push(record("iam.amazonaws.com", "PutBucketPolicy", json!({})));
    e.insert("cis/s3-bucket-policy-changes", s3);
    let mut config = calls(
        "config.amazonaws.com",
        &["StopConfigurationRecorder", "PutDeliveryChannel"],
        &["DescribeConfigRules", "StartConfigurationRecorder"],
    );
    config.1.push(record("ec2.amazonaws.com", "StopConfigurationRecorder", json!({})));
    e.insert("cis/config-changes", config);
    e.insert(
        "cis/security-group-changes",
        calls(
            "ec2.amazonaws.com",
            &["AuthorizeSecurityGroupIngress", "DeleteSecurityGroup"],
            &["DescribeSecurityGroups", "ModifyInstanceAttribute"],
        ),
    );
    e.insert(
        "cis/nacl-changes",
        calls(
            "ec2.amazonaws.com",
            &["CreateNetworkAclEntry", "ReplaceNetworkAclAssociation"],
            &["DescribeNetworkAcls"],
        ),
    );
    e.insert(
        "cis/network-gateway-changes",
        calls(
            "ec2.amazonaws.com",
            &["AttachInternetGateway", "DeleteCustomerGateway"],
            &["DescribeInternetGateways", "CreateNatGateway"],
        ),
    );
    let mut routes =
        calls("ec2.amazonaws.com", &["CreateRoute", "DisassociateRouteTable"], &["DescribeRouteTables", "CreateVpc"]);
    routes.1.push(record("networkmanager.amazonaws.com", "CreateRoute", json!({})));
    e.insert("cis/route-table-changes", routes);
    e.insert(
        "cis/vpc-changes",
        calls(
            "ec2.amazonaws.com",
            &["CreateVpc", "ModifyVpcAttribute", "EnableVpcClassicLink"],
            &["DescribeVpcs", "CreateSubnet"],
        ),
    );
    let mut org = calls(
        "organizations.amazonaws.com",
        &["CreateAccount", "LeaveOrganization", "EnableAllFeatures"],
        &["ListAccounts", "DescribeOrganization"],
    );
    org.1.push(record("iam.amazonaws.com", "CreateAccount", json!({})));
    e.insert("cis/organizations-changes", org);
    e
}

#[test]
fn every_metric_filter_of_lab3_and_cis_counts_what_it_should() {
    let mut expected = expectations();
    let stacks = [("lab3", "stacks/lab3-access-alerts.yaml"), ("cis", "stacks/cis-monitoring.yaml")];
    let mut seen = 0;
    for (short, file) in stacks {
        for (id, text) in metric_filter_patterns(file) {
            let key = format!("{short}/{id}");
            let pattern = FilterPattern::parse(&text).unwrap_or_else(|e| panic!("{key}: {text:?} does not parse: {e}"));
            let Some((must, must_not)) = expected.remove(key.as_str()) else {
                panic!("{key}: a metric filter with no records to test it; add them to expectations()")
            };
            assert!(!must.is_empty() && !must_not.is_empty(), "{key}: needs records on both sides");
            for r in &must {
                if let Verdict::Miss(miss) = pattern.matches(r) {
                    panic!("{key}: should count {r}\nbut {miss}");
                }
            }
            for r in &must_not {
                assert!(!pattern.matches(r).is_match(), "{key}: should not count {r}");
            }
            // Only CIS 4.1 mixes `||` and `&&` without parentheses.
            assert_eq!(
                pattern.warnings().is_empty(),
                key != "cis/unauthorized-calls",
                "{key}: {:?}",
                pattern.warnings()
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 19, "4 filters in lab 3 and 15 in the CIS stack");
    assert!(
        expected.is_empty(),
        "expectations for filters the stacks do not have: {:?}",
        expected.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_miss_names_the_field_that_failed() {
    let [(_, unauthorized), (_, root_usage), (_, signin), (_, iam)] =
        <[(String, String); 4]>::try_from(metric_filter_patterns("stacks/lab3-access-alerts.yaml"))
            .unwrap_or_else(|v| panic!("lab 3 has four metric filters, not {}", v.len()));
    let miss = |pattern: &str, record: String| match FilterPattern::parse(pattern).map(|p| p.matches(&record)) {
        Ok(Verdict::Miss(m)) => m.to_string(),
        other => panic!("{pattern}: expected a miss, got {other:?}"),
    };
    assert_eq!(
        miss(&unauthorized, record("dynamodb.amazonaws.com", "Query", json!({"errorCode": "ThrottlingException"}))),
        r#"$.errorCode: "ThrottlingException" is not one of "*UnauthorizedOperation", "AccessDenied*""#
    );
    assert_eq!(
        miss(&unauthorized, record("s3.amazonaws.com", "GetObject", json!({}))),
        r#"$.errorCode: is absent; the pattern wants = "*UnauthorizedOperation" or = "AccessDenied*""#
    );
    assert_eq!(
        miss(&root_usage, record("iam.amazonaws.com", "CreateAccessKey", json!({}))),
        r#"$.userIdentity.type: "IAMUser" is not "Root""#
    );
    assert_eq!(
        miss(&signin, record("signin.amazonaws.com", "ConsoleLogin", console_login("Success", "Yes"))),
        r#"$.errorMessage: is absent; the pattern wants = "Failed authentication""#
    );
    let iam_miss = miss(&iam, record("iam.amazonaws.com", "GetRolePolicy", json!({})));
    assert!(
        iam_miss.starts_with(r#"$.eventName: "GetRolePolicy" is not one of DeleteGroupPolicy, DeleteRolePolicy, "#),
        "{iam_miss}"
    );
}

/// The metric name of each filter in a stack file, by resource id
/// (`metric: {…, name: NAME, …}` on one line, or `name: NAME` in a
/// block under `metric:`).
fn metric_names(file: &str) -> BTreeMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut id, mut in_metric, mut out) = (String::new(), None, BTreeMap::new());
    for line in text.lines() {
        let trimmed = line.trim();
        if indent(line) == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            id = trimmed.trim_end_matches(':').to_string();
            in_metric = None;
        }
        if let Some(inline) = trimmed.strip_prefix("metric: {") {
            if let Some(name) = inline.split(", ").find_map(|kv| kv.strip_prefix("name: ")) {
                out.entry(id.clone()).or_insert_with(|| name.trim_end_matches('}').to_string());
            }
        } else if trimmed == "metric:" {
            in_metric = Some(indent(line));
        } else if let (Some(at), Some(name)) = (in_metric, trimmed.strip_prefix("name: "))
            && indent(line) > at
        {
            out.entry(id.clone()).or_insert_with(|| name.to_string());
        }
    }
    out
}

#[test]
fn the_sample_records_each_conventional_metric_counts_are_what_the_stacks_count() {
    use cairn_patterns::samples::{CLOUDTRAIL, cloudtrail_counts};
    let records: Vec<&str> = CLOUDTRAIL.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut named = std::collections::BTreeSet::new();
    for file in ["stacks/lab3-access-alerts.yaml", "stacks/cis-monitoring.yaml"] {
        let names = metric_names(file);
        for (id, text) in metric_filter_patterns(file) {
            let metric = names.get(&id).unwrap_or_else(|| panic!("{file}: {id}: no metric name found"));
            let Some(expected) = cloudtrail_counts(metric) else { continue };
            let pattern = FilterPattern::parse(&text).unwrap_or_else(|e| panic!("{id}: {e}"));
            let counted: Vec<usize> =
                (1..=records.len()).filter(|n| pattern.matches(records[n - 1]).is_match()).collect();
            assert_eq!(counted, expected, "{file}: {id} ({metric})");
            named.insert(metric.clone());
        }
    }
    assert_eq!(
        named.len(),
        cairn_patterns::samples::CLOUDTRAIL_COUNTS.len(),
        "every metric of the table is in a stack: {named:?}"
    );
}
