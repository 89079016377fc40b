//! The corpus of invalid stacks: `tests/corpus/NN-short-name.yaml`, one
//! problem each, and next to each its snapshot `NN-short-name.out`, cairn's
//! exact stderr for `cairn validate NN-short-name.yaml` run from the corpus
//! directory with `NO_COLOR=1` (so paths in it are the bare file name).
//!
//! Each file must exit 2 with exactly that stderr, name its
//! `NN-short-name.yaml:<line>:<col>:`, report exactly one error, not panic,
//! and make no AWS call (`AWS_ENDPOINT_URL` points at a listener that
//! records connections). `tests/corpus/warnings/` holds stacks that are
//! valid but draw one warning: they exit 0, with the same snapshot rules.
//!
//! To add a case, write the YAML file, then create or refresh the snapshots
//! and review the diff:
//!
//! ```sh
//! CAIRN_UPDATE_SNAPSHOTS=1 cargo nextest run -p cairn-cli --test corpus
//! git diff crates/cairn-cli/tests/corpus
//! ```

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use cairn_testkit::tripwire::Tripwire;

type R = Result<(), Box<dyn std::error::Error>>;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("corpus")
}

fn updating() -> bool {
    std::env::var_os("CAIRN_UPDATE_SNAPSHOTS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The files of `dir` with extension `ext`, by name.
fn files(dir: &Path, ext: &str) -> Result<Vec<String>, std::io::Error> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == ext))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// `NN-short-name.yaml`: two digits, a dash, lower-case words.
fn well_named(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".yaml") else { return false };
    let b = stem.as_bytes();
    b.len() > 3
        && b[0].is_ascii_digit()
        && b[1].is_ascii_digit()
        && b[2] == b'-'
        && stem[3..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether some line of `stderr` starts with `name:<line>:<col>: ` and a
/// positive line.
fn located(stderr: &str, name: &str) -> bool {
    stderr.lines().filter_map(|l| l.strip_prefix(name)?.strip_prefix(':')).any(|rest| {
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|p| p.parse::<usize>().ok());
        let col = parts.next().and_then(|p| p.parse::<usize>().ok());
        let tail = parts.next().unwrap_or_default();
        line.is_some_and(|l| l > 0) && col.is_some_and(|c| c > 0) && tail.starts_with(' ')
    })
}

/// Runs every stack of `dir` and checks it against its snapshot; returns
/// the problems found, one line each (all are reported, not just the first).
fn run_corpus(dir: &Path, exit: i32, summary: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let state = tempfile::tempdir()?;
    let yaml = files(dir, "yaml")?;
    let mut problems = Vec::new();
    for out in files(dir, "out")? {
        if !yaml.contains(&out.replace(".out", ".yaml")) {
            problems.push(format!("{out}: a snapshot without its stack"));
        }
    }
    for name in &yaml {
        if !well_named(name) {
            problems.push(format!("{name}: not named `NN-short-name.yaml`"));
        }
        let trip = Tripwire::new().unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
        let output = Command::cargo_bin("cairn")?
            .current_dir(dir)
            .env("NO_COLOR", "1")
            .env("AWS_ENDPOINT_URL", trip.url())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env_remove("CAIRN_STATE_DIR")
            .env_remove("CAIRN_PARAM_EMAIL")
            .arg("--state-dir")
            .arg(state.path())
            .arg("validate")
            .arg(name)
            .output()?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let snapshot = dir.join(name.replace(".yaml", ".out"));
        if updating() {
            std::fs::write(&snapshot, &stderr)?;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(want) if want == stderr => {}
            Ok(want) => problems.push(format!(
                "{name}: stderr differs from {}\n--- snapshot\n{want}--- got\n{stderr}---",
                snapshot.display()
            )),
            Err(e) => problems.push(format!("{name}: no snapshot ({e}); got\n{stderr}")),
        }
        if output.status.code() != Some(exit) {
            problems.push(format!("{name}: exit {:?}, expected {exit}", output.status.code()));
        }
        if !located(&stderr, name) {
            problems.push(format!("{name}: no `{name}:<line>:<col>:` in\n{stderr}"));
        }
        if !stderr.contains(summary) {
            problems.push(format!("{name}: not exactly one problem (`{summary}`) in\n{stderr}"));
        }
        if stderr.contains("panicked") {
            problems.push(format!("{name}: panicked\n{stderr}"));
        }
        if trip.touched() {
            problems.push(format!("{name}: called AWS"));
        }
    }
    if state.path().read_dir()?.next().is_some() {
        problems.push("validate wrote to the state directory".to_string());
    }
    Ok(problems)
}

#[test]
fn every_invalid_stack_fails_as_its_snapshot_says() -> R {
    let dir = corpus_dir();
    let count = files(&dir, "yaml")?.len();
    assert!(count >= 40, "the corpus holds {count} stacks; it should hold at least 40");
    let problems = run_corpus(&dir, 2, "\n1 error, 0 warnings\n")?;
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn every_warned_stack_passes_with_its_warning() -> R {
    let problems = run_corpus(&corpus_dir().join("warnings"), 0, "\n0 errors, 1 warning\n")?;
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
    Ok(())
}

#[test]
fn names_and_locations_are_recognized() {
    assert!(well_named("07-yaml-duplicate-key.yaml"));
    assert!(!well_named("7-yaml.yaml") && !well_named("07_yaml.yaml") && !well_named("07-.yaml"));
    assert!(located("a.yaml:3:5: error: x\n", "a.yaml"));
    assert!(!located("error: x (at stack)\n", "a.yaml") && !located("a.yaml: error: x\n", "a.yaml"));
}
