//! Lab 5: lab 4 from a code directory. Unchanged source is no update, one
//! changed byte is exactly one code update, and the zip is the same bytes on
//! every run and machine.

use std::path::Path;

use cairn_aws::kinds::lambda_function::{CodeProps, build_zip, code_sha256};
use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::StateStore;
use cairn_engine::plan::Step;
use cairn_testkit::emulator;
use cairn_testkit::recording::{Recording, writes};

use crate::harness::{self, Deployed, R};
use crate::lab5_example;

const FILE: &str = "lab5-lambda-cli.yaml";

/// The SHA-256 of stacks/lab5-function/ zipped. It changes only when those
/// sources change (update it then) or when the zip writer's output changes,
/// which would re-upload every function of every user: worth a failing test.
const LAB5_CODE_SHA256: &str = "2lLYdQwUUtPEawJEn0aUGDD0Ing5G3VNuzQK4x85QPY=";

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab5_example::lab5().into(), &harness::params(&[]));
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &harness::params(&[]), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab5_example::lab5().into(), &harness::params(&[]), check).await
}

async fn check(d: &Deployed) -> R {
    let lambda = d.clients.lambda().await;
    let f = lambda.get_function().function_name(d.id("handler")).send().await?;
    let c = f.configuration().ok_or("GetFunction has no configuration")?;
    assert_eq!(c.handler(), Some("app.handler"));
    assert_eq!(c.code_sha256(), Some(LAB5_CODE_SHA256), "Lambda holds the zip of stacks/lab5-function");
    let logs = d.clients.logs().await;
    let groups = logs.describe_log_groups().log_group_name_prefix(format!("/aws/lambda/{}", d.id("handler"))).send();
    assert_eq!(groups.await?.log_groups().len(), 1);
    Ok(())
}

fn lab5_code() -> CodeProps {
    CodeProps { dir: Some("lab5-function".into()), ..CodeProps::default() }
}

#[test]
fn the_zip_is_byte_identical_across_runs_and_machines() -> R {
    let zip = build_zip("python3.13", &lab5_code(), &harness::stacks_dir())?.ok_or("no zip")?;
    assert_eq!(build_zip("python3.13", &lab5_code(), &harness::stacks_dir())?, Some(zip.clone()), "a second run");
    // A copy written in the other order, later, with other permissions: the
    // zip ignores what differs between checkouts.
    let copy = tempfile::tempdir()?;
    let dir = copy.path().join("lab5-function");
    std::fs::create_dir(&dir)?;
    let mut files: Vec<_> =
        std::fs::read_dir(harness::stacks_dir().join("lab5-function"))?.collect::<Result<_, _>>()?;
    files.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    for f in files {
        std::fs::copy(f.path(), dir.join(f.file_name()))?;
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(build_zip("python3.13", &lab5_code(), copy.path())?, Some(zip.clone()), "a fresh copy");
    assert_eq!(code_sha256(&zip), LAB5_CODE_SHA256, "the zip's bytes changed");
    Ok(())
}

#[tokio::test]
async fn unchanged_code_is_no_update_and_one_changed_byte_is_one_code_update() -> R {
    emulator::endpoint();
    // The stack's code directory, copied where the test may change it.
    let work = tempfile::tempdir()?;
    let code = work.path().join("lab5-function");
    std::fs::create_dir(&code)?;
    for f in std::fs::read_dir(harness::stacks_dir().join("lab5-function"))? {
        let f = f?;
        std::fs::copy(f.path(), code.join(f.file_name()))?;
    }
    let mut spec = harness::yaml(FILE);
    spec.base_dir = Some(work.path().to_path_buf());
    spec.name = emulator::unique_stack("lab5-code");
    let store = StateStore::new(work.path(), &spec.name);
    let provider = Recording::new(AwsProvider::new(AwsOptions::default()));
    let lambda = provider.inner().clients().lambda().await.clone();
    let no_params = harness::params(&[]);

    harness::run(&provider, Some(&harness::valid(&spec, &no_params)), &store).await?;
    let name = store.load()?.resources["handler"].physical_id.clone();
    let before = lambda.get_function().function_name(&name).send().await?;
    let before = before.configuration().and_then(|c| c.code_sha256()).map(ToString::to_string);

    // Deploying the same directory again: no change, no write.
    provider.take();
    let again = harness::run(&provider, Some(&harness::valid(&spec, &no_params)), &store).await?;
    assert!(!again.has_changes(), "{again:?}");
    assert_eq!(writes(&provider.take()), Vec::<String>::new());

    // One byte of one file changes: one update of the code, nothing else.
    let greet = code.join("greet.py");
    let source = std::fs::read_to_string(&greet)?;
    assert!(source.contains("Hello"));
    std::fs::write(&greet, source.replacen("Hello", "Hallo", 1))?;
    let changed = harness::valid(&spec, &no_params);
    let pl = harness::run(&provider, Some(&changed), &store).await?;
    for r in &pl.resources {
        let want = if r.id == "handler" { Step::Update { fields: vec!["code_sha256".into()] } } else { Step::NoOp };
        assert_eq!(r.step, want, "{}", r.id);
    }
    assert_eq!(writes(&provider.take()), vec!["update handler"]);
    let after = lambda.get_function().function_name(&name).send().await?;
    let after = after.configuration().and_then(|c| c.code_sha256()).map(ToString::to_string);
    assert_ne!(after, before, "Lambda holds new code");
    assert_eq!(after.as_deref(), changed.props["handler"]["code_sha256"].as_str());

    harness::run(&provider, None, &store).await?;
    let clients = provider.inner().clients();
    assert_eq!(harness::leftovers(&clients, &spec.name).await?, Vec::<String>::new());
    Ok(())
}

#[test]
fn a_relative_code_dir_starts_beside_the_stack_file() {
    // Loaded from its file, the lab 5 stack finds its code wherever the
    // command runs; the same text as a bare string (no file) starts at the
    // working directory, the crate's here, where there is no lab5-function.
    let from_file = harness::yaml(FILE);
    assert_eq!(from_file.base_dir.as_deref(), Some(harness::stacks_dir().as_path()));
    harness::valid(&from_file, &harness::params(&[]));
    let text = std::fs::read_to_string(harness::stacks_dir().join(FILE)).unwrap_or_default();
    let parsed = cairn_stack::parse("lab5.yaml", &text);
    let spec = parsed.spec.unwrap_or_default();
    assert!(!Path::new("lab5-function").exists());
    let (v, d) = cairn_engine::validate::validate(&spec, &cairn_aws::registry(), &harness::params(&[]));
    assert!(v.is_none(), "validates without its code directory");
    assert!(format!("{d:?}").contains("lab5-function"), "{d:?}");
}
