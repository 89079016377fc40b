//! The `cairn` binary as a user runs it: exit codes, error locations, no AWS
//! call for invalid input, confirmation refused without a terminal, and the
//! lab 1 round trip on the emulator.

use std::path::Path;

use assert_cmd::Command;
use cairn_testkit::tripwire::Tripwire;

type R = Result<(), Box<dyn std::error::Error>>;

const LAB1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks/lab1-notifications.yaml");

fn cairn(state_dir: &Path, endpoint: &str) -> Command {
    let mut c = Command::cargo_bin("cairn").unwrap_or_else(|e| panic!("{e}"));
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("CAIRN_PARAM_EMAIL")
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state_dir);
    c
}

/// Each invalid stack: its text, and what the error must say.
const INVALID: &[(&str, &str, &str)] = &[
    ("syntax", "stack: s1\nresources:\n  a: [unclosed\n", ":3:6: error: invalid YAML: unclosed bracket"),
    (
        "unknown-type",
        "stack: s1\nresources:\n  a:\n    type: aws:sns:Topik\n",
        ":4:5: error: unknown resource type `aws:sns:Topik`",
    ),
    (
        "unknown-property",
        "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n    properties:\n      displayname: x\n",
        ":6:7: error: unknown property `displayname`",
    ),
    (
        "bad-ref",
        "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n  b:\n    type: aws:sns:Subscription\n    properties:\n      topic: ${a.anr}\n      protocol: email\n      endpoint: x@example.com\n",
        ":8:14: error: reference ${a.anr}: aws:sns:Topic has no attribute `anr`",
    ),
    (
        "cycle",
        "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n    depends_on: [b]\n  b:\n    type: aws:sns:Topic\n    depends_on: [a]\n",
        ":3:3: error: dependency cycle: a -> b -> a",
    ),
    (
        "missing-param",
        "stack: s1\nparameters:\n  email: {}\nresources:\n  a:\n    type: aws:sns:Topic\n    properties:\n      display_name: ${param.email}\n",
        ":3:3: error: parameter `email` has no value",
    ),
];

#[test]
fn invalid_stacks_exit_2_with_a_location_and_call_no_aws() -> R {
    let dir = tempfile::tempdir()?;
    for (name, text, expected) in INVALID {
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, text)?;
        for command in ["validate", "plan", "apply"] {
            if command == "validate" && *name == "missing-param" {
                continue; // validate accepts a stack whose parameters are not given yet
            }
            let trip = Tripwire::new().unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
            let mut cmd = cairn(&dir.path().join("state"), &trip.url());
            cmd.arg(command).arg(&file);
            if command == "apply" {
                cmd.arg("--yes");
            }
            let out = cmd.output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name} with {command}: {stderr}");
            let located = format!("{}{expected}", file.display());
            assert!(stderr.contains(&located), "{name} with {command}: expected `{located}` in:\n{stderr}");
            assert!(!trip.touched(), "{name} with {command} called AWS");
        }
    }
    assert!(!dir.path().join("state").join("s1.json").exists(), "no state written");
    Ok(())
}

#[test]
fn validate_suggests_near_names() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topik\n")?;
    let out = cairn(dir.path(), "http://127.0.0.1:9").arg("validate").arg(&file).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("= help: did you mean `aws:sns:Topic`?"), "{stderr}");
    assert!(stderr.contains("4 |     type: aws:sns:Topik"), "{stderr}");
    Ok(())
}

#[test]
fn apply_without_a_terminal_refuses_without_yes() -> R {
    emulator_or_skip_message();
    let dir = tempfile::tempdir()?;
    let endpoint = cairn_testkit::emulator::endpoint();
    let out = cairn(dir.path(), &endpoint).arg("apply").arg(LAB1).args(["-p", "email=a@example.com"]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing to apply these changes without --yes"), "{stderr}");
    assert!(!dir.path().join("lab1-notifications.json").exists());
    Ok(())
}

fn emulator_or_skip_message() {
    // Emulator tests need scripts/test; endpoint() panics with instructions otherwise.
    cairn_testkit::emulator::endpoint();
}

#[test]
fn lab1_round_trip_through_the_binary() -> R {
    let endpoint = cairn_testkit::emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let stack = cairn_testkit::emulator::unique_stack("cli1");
    let text = std::fs::read_to_string(LAB1)?.replace("stack: lab1-notifications", &format!("stack: {stack}"));
    let file = dir.path().join("lab1.yaml");
    std::fs::write(&file, text)?;
    let state = dir.path().join("state");
    let run =
        |args: &[&str]| cairn(&state, &endpoint).args(args).arg(&file).args(["-p", "email=a@example.com"]).output();

    let out = run(&["plan", "--detailed-exitcode"])?;
    assert_eq!(out.status.code(), Some(2), "changes present: {}", String::from_utf8_lossy(&out.stderr));
    let saved = dir.path().join("plan.json");
    let out = cairn(&state, &endpoint)
        .arg("plan")
        .arg(&file)
        .args(["-p", "email=a@example.com", "--out"])
        .arg(&saved)
        .output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cairn(&state, &endpoint)
        .args(["apply", "--yes"])
        .arg(&file)
        .args(["-p", "email=a@example.com", "--plan"])
        .arg(&saved)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("✓ created alerts"), "{stderr}");
    assert!(stderr.contains("Apply complete: 3 operation(s)"), "{stderr}");
    // The same saved plan again is stale: state moved on since it was made.
    let out = cairn(&state, &endpoint)
        .args(["apply", "--yes"])
        .arg(&file)
        .args(["-p", "email=a@example.com", "--plan"])
        .arg(&saved)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the saved plan is stale"), "{stderr}");

    let out = run(&["plan", "--detailed-exitcode", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "no changes: {}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let actions: Vec<&str> =
        plan["resources"].as_array().into_iter().flatten().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(actions, vec!["no_op", "no_op", "no_op"]);

    let out = cairn(&state, &endpoint).args(["output"]).arg(&file).arg("topic_arn").output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("arn:aws:sns:us-east-1:123456789012:{stack}-alerts")
    );

    let out = cairn(&state, &endpoint).arg("status").arg(&file).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("stack {stack} (3 resources")), "{stdout}");

    let out = cairn(&state, &endpoint).args(["destroy", "--yes"]).arg(&file).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!state.join(format!("{stack}.json")).exists(), "state removed once nothing is left");
    let out = cairn(&state, &endpoint).arg("status").arg(&file).output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing deployed"));
    Ok(())
}

#[test]
fn help_names_the_exit_codes() -> R {
    let out = Command::cargo_bin("cairn")?.arg("--help").output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    for needle in ["130  interrupted", "3    state locked, unreadable, or changed by someone else", "CAIRN_PARAM_"] {
        assert!(stdout.contains(needle), "{needle} missing from --help:\n{stdout}");
    }
    Ok(())
}

#[test]
fn every_lab_stack_validates_clean_and_one_bad_file_fails_the_lot() -> R {
    let dir = tempfile::tempdir()?;
    let wire = Tripwire::new().unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    let stacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let mut files: Vec<_> = std::fs::read_dir(&stacks)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "one stack per lab, the starter and the CIS monitoring set: {files:?}");
    let out = cairn(dir.path(), &wire.url()).arg("validate").args(&files).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches(" is valid: ").count(), 8, "{stderr}");
    assert!(!stderr.contains(": error:"), "{stderr}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topik\n")?;
    let out = cairn(dir.path(), &wire.url()).arg("validate").arg(&files[0]).arg(&bad).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(" is valid: ") && stderr.contains("bad.yaml:4:5: error"), "{stderr}");
    assert!(!wire.touched(), "validate called AWS");
    Ok(())
}

const LAB6: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks/lab6-sqs-lambda.yaml");

/// A copy of a lab stack under a unique stack name, for tests sharing the emulator.
fn renamed(dir: &Path, lab: &str, tag: &str) -> Result<(std::path::PathBuf, String), Box<dyn std::error::Error>> {
    let stack = cairn_testkit::emulator::unique_stack(tag);
    let text = std::fs::read_to_string(lab)?;
    let name = text.lines().find_map(|l| l.strip_prefix("stack: ")).ok_or("no stack line")?.to_string();
    let file = dir.join(format!("{stack}.yaml"));
    std::fs::write(&file, text.replace(&format!("stack: {name}"), &format!("stack: {stack}")))?;
    Ok((file, stack))
}

#[test]
fn several_stacks_in_one_command_apply_plan_and_destroy_side_by_side() -> R {
    let endpoint = cairn_testkit::emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let (lab1, s1) = renamed(dir.path(), LAB1, "many1")?;
    let (lab6, s6) = renamed(dir.path(), LAB6, "many6")?;
    let state = dir.path().join("state");
    // One -p for both: lab 1 declares `email`, lab 6 does not, and that is fine.
    let run = |args: &[&str]| {
        cairn(&state, &endpoint).args(args).arg(&lab1).arg(&lab6).args(["-p", "email=a@example.com"]).output()
    };

    let out = run(&["apply", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Each progress line names its stack; each stack ends with its own summary.
    assert!(stderr.contains(&format!("✓ created {s1}/alerts")), "{stderr}");
    assert!(stderr.contains(&format!("✓ created {s6}/trigger")), "{stderr}");
    assert!(stderr.contains(&format!("Apply of stack {s1} complete: 3 operation(s)")), "{stderr}");
    assert!(stderr.contains(&format!("Apply of stack {s6} complete:")), "{stderr}");
    assert!(state.join(format!("{s1}.json")).exists() && state.join(format!("{s6}.json")).exists());

    let out = run(&["plan", "--detailed-exitcode", "--json"])?;
    assert_eq!(out.status.code(), Some(0), "no changes: {}", String::from_utf8_lossy(&out.stderr));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    // Several stacks: one document, each stack in the same shape as one alone.
    assert_eq!(plans["format_version"], "1", "{plans:#}");
    let stacks: Vec<&str> =
        plans["stacks"].as_array().into_iter().flatten().filter_map(|p| p["stack"].as_str()).collect();
    assert_eq!(stacks, vec![s1.as_str(), s6.as_str()]);
    for p in plans["stacks"].as_array().into_iter().flatten() {
        assert!(p["resources"].as_array().into_iter().flatten().all(|r| r["action"] == "no_op"), "{p}");
    }

    // One stack destroyed on its own: the plan of both creates it again and
    // leaves the other alone.
    let out = cairn(&state, &endpoint).args(["destroy", "--yes"]).arg(&lab1).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["plan", "--detailed-exitcode", "--json"])?;
    assert_eq!(out.status.code(), Some(2), "lab 1 has changes: {}", String::from_utf8_lossy(&out.stderr));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let actions = |i: usize| -> Vec<String> {
        plans["stacks"][i]["resources"].as_array().into_iter().flatten().map(|r| r["action"].to_string()).collect()
    };
    assert_eq!(actions(0), vec!["\"create\""; 3], "{plans:#}");
    assert!(actions(1).iter().all(|a| a == "\"no_op\""), "{plans:#}");

    // A stack whose state holds only an unfinished create cannot be
    // destroyed yet; it is named, and the other is destroyed all the same.
    let unfinished = serde_json::json!({"version": 1, "serial": 1, "stack": s1, "resources": {},
        "intents": {"alerts": {"kind": "aws:sns:Topic", "props": {"name": format!("{s1}-alerts")}, "started_at": 0}}});
    std::fs::write(state.join(format!("{s1}.json")), unfinished.to_string())?;
    let out = cairn(&state, &endpoint).args(["destroy", "--yes"]).arg(&lab1).arg(&lab6).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{s1}: error: state records 1 create(s) that did not finish")), "{stderr}");
    assert!(stderr.contains(&format!("Destroy of stack {s6} complete:")), "{stderr}");
    assert!(!state.join(format!("{s6}.json")).exists(), "state removed once nothing is left");
    assert!(state.join(format!("{s1}.json")).exists(), "the unfinished create stays recorded");

    let out = cairn(&state, &endpoint).args(["destroy", "--yes", "--json"]).arg(&lab6).arg(&lab1).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("Nothing to destroy: stack {s6}")), "{stderr}");
    // --json with several stacks is one document listing each, even with nothing done.
    let outcomes: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let names: Vec<&str> =
        outcomes["stacks"].as_array().into_iter().flatten().filter_map(|p| p["stack"].as_str()).collect();
    assert_eq!(names, vec![s6.as_str(), s1.as_str()], "{outcomes:#}");
    Ok(())
}

#[test]
fn several_stacks_are_all_checked_before_any_aws_call() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topik\n")?;
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        // One invalid file: nothing is done, the valid stack included.
        (
            vec!["apply".into(), "--yes".into(), LAB6.into(), bad.clone().into()],
            "nothing was done: every stack must be valid",
        ),
        // The same stack twice would lock it twice.
        (vec!["apply".into(), "--yes".into(), LAB6.into(), LAB6.into()], "are both stack `lab6-sqs-lambda`"),
        // A parameter no stack declares is a typo.
        (
            vec![
                "plan".into(),
                LAB1.into(),
                LAB6.into(),
                "-p".into(),
                "email=a@b.c".into(),
                "-p".into(),
                "emial=x".into(),
            ],
            "parameter `emial` is given but none of the 2 stacks declares it",
        ),
        // A saved plan is one stack's.
        (
            vec!["apply".into(), "--yes".into(), "--plan".into(), "p.json".into(), LAB1.into(), LAB6.into()],
            "apply --plan",
        ),
        (vec!["plan".into(), "--out".into(), "p.json".into(), LAB1.into(), LAB6.into()], "plan --out"),
        // -f and arguments: which did the user mean?
        (vec!["plan".into(), "-f".into(), LAB1.into(), LAB6.into()], "both with -f and as an argument"),
    ];
    for (args, expected) in cases {
        let trip = Tripwire::new().unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
        let out = cairn(&state, &trip.url()).args(&args).output()?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: expected `{expected}` in:\n{stderr}");
        assert!(!trip.touched(), "{args:?} called AWS");
        assert!(!state.join("lab6-sqs-lambda.json").exists());
    }
    // Validate shares parameters the same way: lab 6 ignores `email`.
    let trip = Tripwire::new().unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    let out = cairn(&state, &trip.url()).arg("validate").args([LAB1, LAB6, "-p", "email=a@b.c"]).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
