//! The plan as a contract, through the binary: a saved plan carries its
//! stack, parameters and state serial and applies exactly what it showed;
//! `--detailed-exitcode` keeps 2 for "changes"; the JSON outputs share one
//! versioned schema (docs/output.schema.json); `--lock-timeout` waits.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cairn::engine::StateStore;
use cairn_testkit::emulator;
use cairn_testkit::proxy::Proxy;
use cairn_testkit::tripwire::Tripwire;
use serde_json::Value;

type R = Result<(), Box<dyn std::error::Error>>;

const LAB1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks/lab1-notifications.yaml");

fn cairn(state_dir: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("CAIRN_PARAM_EMAIL")
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Lab 1 under a unique stack name, in a fresh directory.
fn lab1(prefix: &str) -> Result<(tempfile::TempDir, PathBuf, PathBuf, String), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let stack = emulator::unique_stack(prefix);
    let file = dir.path().join("lab1.yaml");
    std::fs::write(
        &file,
        std::fs::read_to_string(LAB1)?.replace("stack: lab1-notifications", &format!("stack: {stack}")),
    )?;
    let state = dir.path().join("state");
    Ok((dir, file, state, stack))
}

fn state_json(state: &Path, stack: &str) -> Result<Value, Box<dyn std::error::Error>> {
    Ok(serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?)
}

fn endpoint_of(state: &Value) -> Value {
    state["resources"]["ops-email"]["props"]["endpoint"].clone()
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Seen: `apply --plan saved.json -p email=other@…` subscribed other@…
/// although the saved plan said ops@…; and the hint printed after `plan
/// --out` failed with "no stack file given".
#[test]
fn a_saved_plan_is_self_contained_and_refuses_a_different_parameter() -> R {
    let upstream = emulator::endpoint();
    let rt = runtime()?;
    let proxy = rt.block_on(Proxy::start(&upstream))?;
    let (dir, file, state, stack) = lab1("saved")?;
    let saved = dir.path().join("saved.json");
    let out = cairn(&state, &proxy.url())
        .arg("plan")
        .arg(&file)
        .args(["-p", "email=ops@example.com", "--out"])
        .arg(&saved)
        .output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let hint = format!("`cairn apply --plan {}`", saved.display());
    assert!(stderr.contains(&hint), "expected the hint {hint} in {stderr}");

    proxy.reset_stats();
    let out = cairn(&state, &proxy.url())
        .args(["apply", "--yes", "--plan"])
        .arg(&saved)
        .args(["-p", "email=other@example.com"])
        .output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("parameter `email`") && stderr.contains("ops@example.com"), "{stderr}");
    assert_eq!(proxy.stats().total, 0, "a refused apply called AWS: {:?}", proxy.stats().by_operation);
    assert!(!state.join(format!("{stack}.json")).exists(), "a refused apply wrote state");

    // The hint as printed: no stack file, no parameters, from elsewhere.
    let elsewhere = tempfile::tempdir()?;
    proxy.reset_stats();
    let out = cairn(&state, &proxy.url())
        .current_dir(elsewhere.path())
        .args(["apply", "--yes", "--plan"])
        .arg(&saved)
        .output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let applied = proxy.stats();
    assert_eq!(endpoint_of(&state_json(&state, &stack)?), Value::from("ops@example.com"));

    // Exactly the planned steps: the same calls as an apply of a twin stack
    // less that apply's own planning (no account lookup, no re-read).
    let (_twin_dir, twin, twin_state, _) = lab1("twin")?;
    let args = |c: &mut Command, cmd: &[&str]| {
        c.args(cmd).arg(&twin).args(["-p", "email=ops@example.com"]);
    };
    proxy.reset_stats();
    let mut plan = cairn(&twin_state, &proxy.url());
    args(&mut plan, &["plan"]);
    assert_eq!(plan.output()?.status.code(), Some(0));
    let planning = proxy.stats();
    proxy.reset_stats();
    let mut apply = cairn(&twin_state, &proxy.url());
    args(&mut apply, &["apply", "--yes"]);
    assert_eq!(apply.output()?.status.code(), Some(0));
    let mut expected = proxy.stats().by_operation;
    for (op, n) in planning.by_operation {
        if let Some(m) = expected.get_mut(&op) {
            *m -= n.min(*m);
        }
    }
    expected.retain(|_, n| *n > 0);
    assert_eq!(applied.by_operation, expected, "apply --plan made other calls than the planned steps");
    assert_eq!(applied.calls("sts"), 0, "apply --plan planned again");

    for (s, f) in [(&state, &file), (&twin_state, &twin)] {
        let out = cairn(s, &upstream).args(["destroy", "--yes"]).arg(f).output()?;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    Ok(())
}

/// A saved plan whose stack file or state changed since is refused, naming
/// what changed, before any AWS call.
#[test]
fn a_saved_plan_is_refused_when_the_stack_file_or_state_changed() -> R {
    let upstream = emulator::endpoint();
    let rt = runtime()?;
    let proxy = rt.block_on(Proxy::start(&upstream))?;
    let (dir, file, state, stack) = lab1("stale")?;
    let saved = dir.path().join("saved.json");
    let plan = |out: &Path| {
        cairn(&state, &proxy.url())
            .arg("plan")
            .arg(&file)
            .args(["-p", "email=ops@example.com", "--out"])
            .arg(out)
            .output()
    };
    assert_eq!(plan(&saved)?.status.code(), Some(0));

    let original = std::fs::read_to_string(&file)?;
    std::fs::write(&file, original.replace("display_name: EC2 alerts", "display_name: EC2 news"))?;
    proxy.reset_stats();
    for with_file in [false, true] {
        let mut c = cairn(&state, &proxy.url());
        c.args(["apply", "--yes", "--plan"]).arg(&saved);
        if with_file {
            c.arg(&file);
        }
        let out = c.output()?;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("stack file {} changed", file.display())), "{stderr}");
    }
    assert_eq!(proxy.stats().total, 0, "{:?}", proxy.stats().by_operation);
    std::fs::write(&file, &original)?;

    // State moves on after the plan was saved.
    let out = cairn(&state, &proxy.url())
        .args(["apply", "--yes"])
        .arg(&file)
        .args(["-p", "email=ops@example.com"])
        .output()?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let serial = state_json(&state, &stack)?["serial"].clone();
    proxy.reset_stats();
    let out = cairn(&state, &proxy.url()).args(["apply", "--yes", "--plan"]).arg(&saved).output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("state serial 0, and state is now at {serial}")), "{stderr}");
    assert_eq!(proxy.stats().total, 0, "{:?}", proxy.stats().by_operation);

    let out = cairn(&state, &upstream).args(["destroy", "--yes"]).arg(&file).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    Ok(())
}

/// Seen: `plan --detailed-exitcode` exited 2 both for an invalid stack and
/// for "changes present".
#[test]
fn detailed_exitcode_is_1_for_an_invalid_stack() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topik\n")?;
    let other = dir.path().join("good.yaml");
    std::fs::write(&other, "stack: s2\nresources:\n  a:\n    type: aws:sns:Topic\n")?;
    let wire = Tripwire::new()?;
    for files in [vec![&file], vec![&file, &other]] {
        let out = cairn(&dir.path().join("state"), &wire.url())
            .args(["plan", "--detailed-exitcode"])
            .args(&files)
            .output()?;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{files:?}: {stderr}");
        assert!(stderr.contains("unknown resource type `aws:sns:Topik`"), "{stderr}");
    }
    assert!(!wire.touched());
    let out = Command::new(env!("CARGO_BIN_EXE_cairn")).args(["plan", "--help"]).output()?;
    // clap wraps help to the terminal: compare with the line breaks squeezed.
    let help = text(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("1 on an error (an invalid stack included)"), "{help}");
    Ok(())
}

fn validator() -> Result<jsonschema::Validator, Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/output.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok(jsonschema::draft202012::new(&schema).map_err(|e| format!("{path} is not a valid schema: {e}"))?)
}

fn checked(validator: &jsonschema::Validator, what: &str, out: &Output) -> Result<Value, Box<dyn std::error::Error>> {
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("{what}: stdout is not JSON ({e}): {}\n{}", text(&out.stdout), text(&out.stderr)))?;
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match docs/output.schema.json: {errors:#?}\n{doc:#}");
    assert_eq!(doc["format_version"], "1", "{what}");
    Ok(doc)
}

/// Seen: `apply --json` changed shape between no-op and changes, used
/// tuples and omitted the stack and outputs; `plan --json` had no summary.
#[test]
fn json_outputs_share_one_versioned_schema() -> R {
    let endpoint = emulator::endpoint();
    let validator = validator()?;
    let (_dir, file, state, stack) = lab1("json")?;
    let run = |args: &[&str]| {
        cairn(&state, &endpoint).args(args).arg(&file).args(["-p", "email=a@example.com", "--json"]).output()
    };

    let plan = checked(&validator, "plan --json", &run(&["plan"])?)?;
    assert_eq!((&plan["command"], &plan["stack"]), (&Value::from("plan"), &Value::from(stack.as_str())));
    assert_eq!(plan["summary"]["create"], 3, "{plan:#}");
    let applied = checked(&validator, "apply --json", &run(&["apply", "--yes"])?)?;
    assert_eq!(applied["stack"], stack.as_str());
    assert_eq!(applied["summary"]["create"], 3, "{applied:#}");
    let outcomes: Vec<&Value> = applied["resources"].as_array().into_iter().flatten().map(|r| &r["outcome"]).collect();
    assert_eq!(outcomes, vec!["done"; 3], "{applied:#}");
    assert!(applied["outputs"]["topic_arn"].as_str().is_some_and(|a| a.ends_with(&format!("{stack}-alerts"))));
    let noop = checked(&validator, "apply --json (no-op)", &run(&["apply", "--yes"])?)?;
    let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(keys(&noop), keys(&applied), "no-op and changes differ in shape");
    assert_eq!(noop["summary"]["unchanged"], 3, "{noop:#}");
    assert_eq!(noop["outputs"], applied["outputs"]);
    let refresh = checked(&validator, "plan --refresh-only --json", &run(&["plan", "--refresh-only"])?)?;
    assert_eq!((&refresh["refresh_only"], &refresh["summary"]["unchanged"]), (&Value::from(true), &Value::from(3)));
    let accepted = checked(&validator, "apply --refresh-only --json", &run(&["apply", "--refresh-only", "--yes"])?)?;
    assert_eq!(keys(&accepted), keys(&refresh), "{accepted:#}");
    assert_eq!(accepted["outputs"], applied["outputs"]);
    let status = checked(
        &validator,
        "status --json",
        &cairn(&state, &endpoint).args(["status", "--json"]).arg(&file).output()?,
    )?;
    assert_eq!(status["resources"].as_array().map(Vec::len), Some(3), "{status:#}");
    assert_eq!(status["outputs"], applied["outputs"]);
    let destroyed = checked(
        &validator,
        "destroy --json",
        &cairn(&state, &endpoint).args(["destroy", "--yes", "--json"]).arg(&file).output()?,
    )?;
    assert_eq!(destroyed["summary"]["delete"], 3, "{destroyed:#}");
    Ok(())
}

/// `--lock-timeout` waits for a held lock, saying so, and goes on once it
/// is released.
#[test]
fn lock_timeout_waits_for_a_held_lock() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("s1.yaml");
    std::fs::write(&file, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n")?;
    let state = dir.path().join("state");
    let store = StateStore::new(&state, "s1");
    let lock = store.lock("apply")?;
    let wire = Tripwire::new()?;
    // Nothing in state: destroy takes the lock and needs no AWS call.
    let mut child = cairn(&state, &wire.url())
        .args(["destroy", "--yes", "--lock-timeout", "5m"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let mut line = String::new();
    stderr.read_line(&mut line)?;
    assert!(line.contains("waiting up to 5m for the lock of stack `s1`") && line.contains("cairn apply"), "{line}");
    drop(lock);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest)?;
    let status = child.wait()?;
    assert_eq!(status.code(), Some(0), "{line}{rest}");
    assert!(rest.contains("Nothing to destroy"), "{rest}");
    assert!(!wire.touched());
    Ok(())
}

#[test]
fn lock_timeout_gives_up_with_a_clear_message() -> R {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("s1.yaml");
    std::fs::write(&file, "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n")?;
    let state = dir.path().join("state");
    let _lock = StateStore::new(&state, "s1").lock("apply")?;
    let wire = Tripwire::new()?;
    let out = cairn(&state, &wire.url()).args(["plan", "--lock-timeout", "1s"]).arg(&file).output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("gave up after 1s waiting for the lock of stack `s1`"), "{stderr}");
    assert!(stderr.contains("running `cairn apply`"), "{stderr}");
    assert!(!wire.touched());
    Ok(())
}
