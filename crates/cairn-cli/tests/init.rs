//! `cairn init` (issue 18 item 6): a stack from a template, as a YAML file
//! or as a Rust crate, that works as written: every YAML template validates,
//! and a new crate builds against this source tree and plans on the
//! emulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use cairn_testkit::emulator;
use support::expect;

#[allow(dead_code)]
mod support;

type R = Result<(), Box<dyn std::error::Error>>;

/// `cairn` run in `dir`, its state beside what it writes.
fn cairn(dir: &Path) -> Command {
    let mut c = support::cairn(&dir.join(".cairn"));
    c.current_dir(dir);
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn each_yaml_template_is_written_once_and_validates() -> R {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let stderr = expect(&cairn(d).arg("init").output()?, 0);
    assert!(stderr.contains("Wrote starter.yaml") && stderr.contains("cairn apply starter.yaml"), "{stderr}");
    assert!(d.join("cairn.schema.json").exists(), "the schema the modeline names");
    let first = std::fs::read_to_string(d.join("starter.yaml"))?;
    assert!(first.starts_with("# yaml-language-server: $schema=cairn.schema.json\n"), "{first}");

    let mut files = vec![d.join("starter.yaml")];
    for lab in 1..=6 {
        let stack = format!("mine-{lab}");
        let args = ["init", "--lab", &lab.to_string(), "--stack", &stack];
        let stderr = expect(&cairn(d).args(args).output()?, 0);
        assert!(stderr.contains(&format!("(stack {stack})")), "{stderr}");
        if lab == 1 || lab == 3 {
            assert!(stderr.contains("-p email="), "lab {lab} needs its email parameter:\n{stderr}");
        }
        files.push(d.join(format!("{stack}.yaml")));
    }
    assert!(d.join("lab5-function/app.py").exists(), "lab 5's code beside its stack");
    let stderr = expect(&cairn(d).arg("validate").args(&files).output()?, 0);
    assert_eq!(stderr.matches(" is valid: ").count(), 7, "{stderr}");
    assert!(stderr.contains("mine-6 is valid"), "the stack name is the one asked for:\n{stderr}");

    // Nothing is overwritten without --force; a bad name writes nothing.
    std::fs::write(d.join("starter.yaml"), "edited")?;
    let stderr = expect(&cairn(d).arg("init").output()?, 2);
    assert!(stderr.contains("starter.yaml already exist") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(d.join("starter.yaml"))?, "edited");
    expect(&cairn(d).args(["init", "--force"]).output()?, 0);
    assert_eq!(std::fs::read_to_string(d.join("starter.yaml"))?, first);
    let stderr = expect(&cairn(d).args(["init", "--stack", "Bad_Name"]).output()?, 2);
    assert!(stderr.contains("not a valid stack name"), "{stderr}");
    assert!(!d.join("Bad_Name.yaml").exists());
    Ok(())
}

/// The crate `init --rust` writes builds against this source tree with no
/// network (its Cargo.lock is the workspace's), and its program validates
/// and plans on the emulator. It builds into the workspace's target
/// directory, so the AWS SDK crates are not compiled again.
#[test]
fn a_rust_crate_from_init_builds_and_plans() -> R {
    let dir = tempfile::tempdir()?;
    let krate = dir.path().join("my-stack");
    let stderr =
        expect(&cairn(dir.path()).args(["init", "--rust"]).arg(&krate).arg("--cairn-path").arg(repo()).output()?, 0);
    assert!(stderr.contains("Wrote crate my-stack") && stderr.contains("cargo run -- plan"), "{stderr}");
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml"))?;
    assert!(manifest.contains("[profile.dev.package.\"*\"]\ndebug = false"), "{manifest}");
    let main = std::fs::read_to_string(krate.join("src/main.rs"))?;
    assert!(main.contains("Stack::new(\"my-stack\")"), "the stack is named after the crate:\n{main}");

    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(&krate)
        .args(["build", "--offline", "--quiet"])
        .env("CARGO_TARGET_DIR", &target)
        .stdin(Stdio::null())
        .output()?;
    expect(&out, 0);
    let program = target.join("debug/my-stack");
    let run = |args: &[&str]| -> std::io::Result<Output> {
        let mut c = Command::new(&program);
        c.current_dir(&krate)
            .args(args)
            .env("AWS_ENDPOINT_URL", emulator::endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        c.output()
    };
    let stderr = expect(&run(&["validate"])?, 0);
    assert!(stderr.contains("my-stack is valid"), "{stderr}");
    let stderr = expect(&run(&["plan"])?, 0);
    for id in ["events", "inbox", "inbox-subscription"] {
        assert!(stderr.contains(id), "the plan creates {id}:\n{stderr}");
    }
    Ok(())
}
