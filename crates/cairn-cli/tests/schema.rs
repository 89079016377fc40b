//! The JSON Schema editors read: `docs/cairn.schema.json` is exactly what
//! `cairn schema` prints (so it cannot go stale), every stack in `stacks/`
//! names it on its first line and is valid against it, and it rejects what
//! it can see of the corpus's mistakes.
//!
//! After changing a kind's props, refresh the committed file with
//! `cargo run -p cairn-cli -- schema > docs/cairn.schema.json`, or run this
//! test with `CAIRN_UPDATE_SNAPSHOTS=1`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

type R = Result<(), Box<dyn std::error::Error>>;

const HEADER: &str = "# yaml-language-server: $schema=../docs/cairn.schema.json";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn printed_schema() -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::cargo_bin("cairn")?.arg("schema").output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?)
}

fn validator() -> Result<jsonschema::Validator, Box<dyn std::error::Error>> {
    let schema: Value = serde_json::from_str(&printed_schema()?)?;
    Ok(jsonschema::draft202012::new(&schema).map_err(|e| format!("cairn schema is not a valid schema: {e}"))?)
}

/// The schema's complaints about a YAML stack, one line each.
fn complaints(validator: &jsonschema::Validator, yaml: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let instance: Value = serde_saphyr::from_str(yaml)?;
    Ok(validator.iter_errors(&instance).map(|e| format!("at `{}`: {e}", e.instance_path())).collect())
}

#[test]
fn the_committed_schema_is_what_cairn_schema_prints() -> R {
    let path = repo().join("docs/cairn.schema.json");
    let printed = printed_schema()?;
    if std::env::var_os("CAIRN_UPDATE_SNAPSHOTS").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &printed)?;
    }
    let committed = std::fs::read_to_string(&path)?;
    assert!(
        committed == printed,
        "{} is stale: run `cargo run -p cairn-cli -- schema > docs/cairn.schema.json`",
        path.display()
    );
    Ok(())
}

#[test]
fn every_stack_names_the_schema_and_is_valid_against_it() -> R {
    let validator = validator()?;
    let mut stacks: Vec<PathBuf> = std::fs::read_dir(repo().join("stacks"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    stacks.sort();
    assert_eq!(stacks.len(), 8, "one stack per lab, the starter and the CIS monitoring set: {stacks:?}");
    let mut problems = Vec::new();
    for stack in &stacks {
        let text = std::fs::read_to_string(stack)?;
        if text.lines().next() != Some(HEADER) {
            problems.push(format!("{}: the first line is not `{HEADER}`", stack.display()));
        }
        for c in complaints(&validator, &text)? {
            problems.push(format!("{}: {c}", stack.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

#[test]
fn a_whole_value_reference_may_stand_for_any_prop() -> R {
    let stack = "stack: s\nparameters:\n  t: {default: 30}\nresources:\n  fn:\n    type: aws:lambda:Function\n    properties:\n      runtime: python3.13\n      handler: index.handler\n      role: ${r.arn}\n      timeout: ${param.t}\n      code: ${param.code}\n  r:\n    type: aws:iam:Role\n    properties:\n      trusted_by: ${param.services}\n";
    let found = complaints(&validator()?, stack)?;
    assert!(found.is_empty(), "{found:?}");
    // Only a whole-value reference: text around it makes a string.
    let found = complaints(&validator()?, &stack.replace("timeout: ${param.t}", "timeout: x${param.t}"))?;
    assert!(found.iter().any(|c| c.contains("/resources/fn/properties/timeout")), "{found:?}");
    Ok(())
}

#[test]
fn the_schema_rejects_what_it_can_see_of_the_corpus() -> R {
    let validator = validator()?;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    // The mistakes a schema can express; the others need cairn's checks.
    for name in [
        "08-unknown-top-level-key",
        "10-invalid-stack-name",
        "11-invalid-resource-id",
        "12-unknown-resource-type",
        "13-unknown-property",
        "14-wrong-type-for-prop",
        "15-missing-required-prop",
        "19-bad-parameter-declaration",
        "48-alarm-threshold-not-a-number",
        "54-resource-without-type",
        "56-metric-filter-pattern-unquoted",
    ] {
        let text = std::fs::read_to_string(corpus.join(format!("{name}.yaml")))?;
        assert!(!complaints(&validator, &text)?.is_empty(), "the schema accepts {name}.yaml");
    }
    Ok(())
}
