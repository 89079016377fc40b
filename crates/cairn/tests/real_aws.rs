//! docs/real-aws.md stays true: every kind has a row in its checklist, every
//! row names a strict rule that exists (or none) and a test that exists,
//! and every rule of the strict layer is listed and used by a row.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cairn_testkit::proxy::strict::RULES;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The cells of every table row in the section that starts with `heading`.
fn rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let section = doc.split("\n## ").find(|s| s.starts_with(heading)).unwrap_or_else(|| panic!("no `## {heading}`"));
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1) // the header
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().trim_matches('`').to_string()).collect())
        .collect()
}

/// Every function name defined in the workspace's Rust files.
fn functions() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut dirs = vec![repo().join("crates"), repo().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("fn ").skip(1) {
                    let name: String = part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if part[name.len()..].starts_with('(') || part[name.len()..].starts_with('<') {
                        names.insert(name);
                    }
                }
            }
        }
    }
    names
}

#[test]
fn the_real_aws_checklist_covers_every_kind_with_a_rule_or_a_test() {
    let doc = std::fs::read_to_string(repo().join("docs/real-aws.md")).unwrap();
    let rule_names: BTreeSet<&str> = RULES.iter().map(|r| r.name).collect();
    let listed: Vec<String> = rows(&doc, "The rules").into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(listed.iter().map(String::as_str).collect::<BTreeSet<_>>(), rule_names, "the rules table");
    assert_eq!(listed.len(), RULES.len(), "a rule is listed twice");

    let kinds: BTreeSet<&str> = cairn_aws::registry().names().collect();
    let functions = functions();
    let checklist = rows(&doc, "Checklist");
    let mut covered = BTreeSet::new();
    let mut used = BTreeSet::new();
    for row in &checklist {
        let [kind, what, rule, test] = row.as_slice() else { panic!("a checklist row has not 4 cells: {row:?}") };
        assert!(kinds.contains(kind.as_str()) || kind == "every kind", "`{kind}` is not a kind");
        assert!(!what.is_empty(), "{row:?} says nothing");
        if rule != "—" {
            assert!(rule_names.contains(rule.as_str()), "{kind}: `{rule}` is not a strict rule");
            used.insert(rule.clone());
        }
        assert!(functions.contains(test), "{kind}: no test named `{test}` in the workspace");
        covered.insert(kind.clone());
    }
    let missing: Vec<&&str> = kinds.iter().filter(|k| !covered.contains(**k)).collect();
    assert!(missing.is_empty(), "kinds with no row in the checklist: {missing:?}");
    let unused: Vec<&&str> = rule_names.iter().filter(|r| !used.contains(**r)).collect();
    assert!(unused.is_empty(), "rules no checklist row names: {unused:?}");
}
