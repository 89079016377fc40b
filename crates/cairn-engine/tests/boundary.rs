//! The engine must stay AWS-agnostic: nothing it depends on (transitively,
//! outside dev-dependencies) may be an AWS crate. Read from `cargo metadata`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

#[test]
fn engine_has_no_aws_dependency() -> Result<(), Box<dyn std::error::Error>> {
    // Only this platform's packages: the build has downloaded them already.
    let host = String::from_utf8(Command::new(env!("CARGO")).args(["-vV"]).output()?.stdout)?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or("no host triple in `cargo -vV`")?;
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", &host, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .output()?;
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let names: BTreeMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let root =
        names.iter().find(|(_, n)| **n == "cairn-engine").map(|(id, _)| *id).ok_or("cairn-engine not in metadata")?;

    // Walk normal and build dependencies only.
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes.get(id).and_then(|n| n["deps"].as_array()).into_iter().flatten() {
            let not_dev_only =
                dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].as_str() != Some("dev"));
            if not_dev_only && let Some(pkg) = dep["pkg"].as_str() {
                todo.push(pkg);
            }
        }
    }
    let reached: Vec<&str> = seen.iter().filter_map(|id| names.get(id).copied()).collect();
    assert!(reached.contains(&"serde_json"), "the walk found the engine's own dependencies: {reached:?}");
    let aws: Vec<&str> = reached.iter().copied().filter(|n| n.starts_with("aws-")).collect();
    assert_eq!(aws, Vec::<&str>::new(), "cairn-engine depends on AWS crates");
    Ok(())
}
