//! `cairn test-filter` and `cairn test-pattern` (issue 17): lab 3's metric
//! filters on the bundled CloudTrail records, and lab 1's rule on events,
//! offline (the AWS endpoint given answers nothing: a call to AWS would fail).

use std::process::{Command, Output};

type R = Result<(), Box<dyn std::error::Error>>;

fn cairn(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .args(args)
        .output()
}

/// The bundled samples each filter matches, by number.
fn matched(filter: &str) -> Result<Vec<u64>, Box<dyn std::error::Error>> {
    let out = cairn(&["test-filter", "stacks/lab3-access-alerts.yaml", filter, "-p", "email=a@example.com", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let samples = doc["samples"].as_array().ok_or("no samples")?;
    assert_eq!(samples.len(), 11, "every bundled record is tried");
    Ok(samples.iter().enumerate().filter(|(_, s)| s["matched"] == true).map(|(i, _)| i as u64 + 1).collect())
}

/// Each of lab 3's four filters counts the records it is meant to and no
/// other (see crates/cairn-patterns/samples/README.md for the records).
#[test]
fn lab3_filters_count_the_bundled_records_they_are_meant_to() -> R {
    assert_eq!(matched("unauthorized-calls")?, vec![2, 3], "refused calls, EC2's and S3's");
    assert_eq!(matched("root-usage")?, vec![4], "root signing in, not a service acting as root");
    assert_eq!(matched("console-signin-failures")?, vec![6]);
    assert_eq!(matched("iam-policy-changes")?, vec![8, 9], "inline and attached policies");
    Ok(())
}

#[test]
fn a_miss_names_the_field_that_failed_and_no_match_exits_1() -> R {
    let dir = tempfile::tempdir()?;
    let events = dir.path().join("events.json");
    std::fs::write(
        &events,
        r#"[{"source": "aws.s3", "detail-type": "EC2 Instance State-change Notification", "detail": {"state": "stopped"}}]"#,
    )?;
    let events = events.to_string_lossy().into_owned();
    let out =
        cairn(&["test-pattern", "stacks/lab1-notifications.yaml", "ec2-state", &events, "-p", "email=a@example.com"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no match") && stderr.contains("source: \"aws.s3\""), "{stderr}");

    let line = r#"{"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin", "errorMessage": "Failed authentication"}"#;
    let out = cairn(&[
        "test-filter",
        "stacks/lab3-access-alerts.yaml",
        "console-signin-failures",
        line,
        "-p",
        "email=a@example.com",
    ])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a line given on the command line: {stderr}");
    assert!(stderr.contains("match     the line given"), "{stderr}");
    Ok(())
}

#[test]
fn a_resource_that_is_not_a_rule_is_refused_naming_the_rules() -> R {
    let out =
        cairn(&["test-pattern", "stacks/lab1-notifications.yaml", "alerts", "x.json", "-p", "email=a@example.com"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`alerts` is an aws:sns:Topic, not an aws:events:Rule"), "{stderr}");
    assert!(stderr.contains("expected: one of ec2-state"), "{stderr}");
    Ok(())
}
