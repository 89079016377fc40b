//! The kind reference: `docs/kinds/` is exactly what the code generates (so
//! it cannot drift), every kind says everything the reference shows, what
//! it says agrees with the code, and `cairn explain` prints it.
//!
//! After changing a kind (its props, their doc comments, its `DOC`, or the
//! glue rules), refresh the pages with
//! `cargo run -p cairn-cli -- explain --write-docs docs/kinds`, or run this
//! test with `CAIRN_UPDATE_SNAPSHOTS=1`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use cairn::reference::{self, KindRef};
use serde_json::Value;

type R = Result<(), Box<dyn std::error::Error>>;

const REGENERATE: &str = "cargo run -p cairn-cli -- explain --write-docs docs/kinds";

fn docs_kinds() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kinds")
}

fn kinds() -> Vec<KindRef> {
    reference::all(&cairn::aws::registry())
}

#[test]
fn the_committed_pages_are_what_the_code_generates() -> R {
    let dir = docs_kinds();
    let pages = reference::pages(&cairn::aws::registry());
    if std::env::var_os("CAIRN_UPDATE_SNAPSHOTS").is_some_and(|v| !v.is_empty() && v != "0") {
        let out = Command::cargo_bin("cairn")?.args(["explain", "--write-docs"]).arg(&dir).output()?;
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut stale = Vec::new();
    for (name, text) in &pages {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == *text => {}
            Ok(_) => stale.push(format!("docs/kinds/{name} is stale")),
            Err(_) => stale.push(format!("docs/kinds/{name} is missing")),
        }
    }
    for entry in std::fs::read_dir(&dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !pages.iter().any(|(n, _)| *n == name) {
            stale.push(format!("docs/kinds/{name} is no kind's page"));
        }
    }
    assert!(stale.is_empty(), "{}\n  = help: run `{REGENERATE}`", stale.join("\n"));
    Ok(())
}

#[test]
fn the_site_lists_every_kind_page() -> R {
    let config = std::fs::read_to_string(docs_kinds().join("../../mkdocs.yml"))?;
    let missing: Vec<String> = reference::pages(&cairn::aws::registry())
        .into_iter()
        .map(|(name, _)| format!("kinds/{name}"))
        .filter(|page| !config.contains(&format!(" {page}\n")))
        .collect();
    assert!(missing.is_empty(), "mkdocs.yml's nav lacks {missing:?}: add each under `Kinds`");
    Ok(())
}

#[test]
fn every_kind_has_a_complete_reference() {
    let kinds = kinds();
    assert_eq!(kinds.len(), 18, "every kind of the default build");
    let registry = cairn::aws::registry();
    let mut gaps = Vec::new();
    for k in &kinds {
        let mut gap = |what: String| gaps.push(format!("{}: {what}", k.kind));
        if k.summary.is_empty() {
            gap("no summary (the props type's doc comment)".into());
        }
        if k.physical_id.is_empty() {
            gap("no physical id in its DOC".into());
        }
        if k.quirks.is_empty() {
            gap("no quirks in its DOC".into());
        }
        for p in k.props.iter().filter(|p| p.description.is_empty()) {
            gap(format!("prop `{}` has no doc comment", p.path));
        }
        for a in k.attributes.iter().filter(|a| a.description.is_empty()) {
            gap(format!("attribute `{}` is not described in its DOC", a.name));
        }
        // The DOC describes exactly the attributes the kind has.
        let kind = registry.get(&k.kind).map(AsRef::as_ref);
        let described: Vec<&str> =
            kind.map(|k| k.doc().attributes.iter().map(|(n, _)| *n).collect()).unwrap_or_default();
        let declared: Vec<&str> = kind.map(|k| k.attributes().to_vec()).unwrap_or_default();
        if described != declared {
            gap(format!("DOC describes attributes {described:?}, the kind has {declared:?}"));
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}

#[test]
fn glue_rules_name_real_kinds_and_every_derived_kind_shows_some() {
    let registry = cairn::aws::registry();
    let rules = registry.glue().map(|g| g.rules()).unwrap_or_default();
    assert!(!rules.is_empty());
    for rule in rules {
        for kind in rule.kinds {
            assert!(registry.get(kind).is_some(), "glue rule `{}` names unknown kind {kind}", rule.when);
        }
    }
    // The kinds glue.rs derives from (its `derive` dispatch) each list a rule.
    let kinds = kinds();
    for kind in ["aws:events:Rule", "aws:sns:Subscription", "aws:cloudtrail:Trail", "aws:lambda:EventSourceMapping"] {
        assert!(kinds.iter().any(|k| k.kind == kind && !k.glue.is_empty()), "{kind} shows no derived glue");
    }
}

/// What a description says the default is: the value after `default` or
/// `Default` when it is code (in backticks) or a number or boolean.
fn documented_default(description: &str) -> Option<String> {
    let at = description.find("default ").or_else(|| description.find("Default "))?;
    let rest = &description[at + "default ".len()..];
    if let Some(code) = rest.strip_prefix('`') {
        return code.split('`').next().map(ToString::to_string);
    }
    let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    (word.parse::<f64>().is_ok() || word == "true" || word == "false").then_some(word)
}

#[test]
fn the_defaults_descriptions_state_are_the_ones_the_code_fills() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for k in kinds() {
        for p in &k.props {
            let (Some(said), Some(filled)) = (documented_default(&p.description), &p.default) else { continue };
            let filled = match filled {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            checked += 1;
            if said != filled {
                wrong.push(format!(
                    "{} `{}`: the doc comment says default {said}, the code fills {filled}",
                    k.kind, p.path
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(checked >= 20, "only {checked} defaults compared: the reference lost its defaults?");
}

#[test]
fn props_documented_as_fixed_are_the_ones_that_replace() {
    let mut wrong = Vec::new();
    for k in kinds() {
        for p in k.props.iter().filter(|p| !p.path.contains(['.', '['])) {
            if p.description.contains("Cannot change in place") && !p.replaces {
                wrong.push(format!(
                    "{} `{}` says it cannot change in place, but it is not in REPLACE_ON",
                    k.kind, p.path
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn cairn(args: &[&str]) -> Result<std::process::Output, Box<dyn std::error::Error>> {
    Ok(Command::cargo_bin("cairn")?.args(args).env_remove("COLUMNS").output()?)
}

#[test]
fn explain_prints_every_prop_attribute_and_quirk_within_100_columns() -> R {
    for k in kinds() {
        let out = cairn(&["explain", &k.kind])?;
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout)?;
        let lines: Vec<&str> = text.lines().collect();
        for p in &k.props {
            let start = format!("  {} (", p.path);
            assert!(lines.iter().any(|l| l.starts_with(&start)), "{}: no line for prop {}:\n{text}", k.kind, p.path);
        }
        for a in &k.attributes {
            assert!(
                lines.iter().any(|l| l.split_whitespace().next() == Some(a.name.as_str())),
                "{}: {}",
                k.kind,
                a.name
            );
        }
        let words = |s: &str| s.split_whitespace().map(ToString::to_string).collect::<Vec<_>>();
        let all_words = words(&text);
        for q in &k.quirks {
            assert!(
                all_words.windows(words(q).len()).any(|w| w == words(q).as_slice()),
                "{}: quirk missing: {q}",
                k.kind
            );
        }
        if let Some(long) = lines.iter().find(|l| l.chars().count() > 100) {
            panic!("{}: a line is wider than 100 columns:\n{long}", k.kind);
        }
    }
    Ok(())
}

#[test]
fn explain_json_is_the_reference_data() -> R {
    let out = cairn(&["explain", "aws:sqs:Queue", "--json"])?;
    assert_eq!(out.status.code(), Some(0));
    let printed: Value = serde_json::from_slice(&out.stdout)?;
    let queue = kinds().into_iter().find(|k| k.kind == "aws:sqs:Queue").ok_or("no queue kind")?;
    assert_eq!(printed, serde_json::to_value(&queue)?);
    let paths: Vec<&str> =
        printed["props"].as_array().into_iter().flatten().filter_map(|p| p["path"].as_str()).collect();
    assert!(paths.contains(&"dead_letter.max_receive_count"), "{paths:?}");
    let fifo = printed["props"].as_array().into_iter().flatten().find(|p| p["path"] == "fifo").ok_or("no fifo")?;
    assert_eq!(fifo["replaces"], true);

    let out = cairn(&["explain", "--json"])?;
    let list: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(list["kinds"].as_array().map(Vec::len), Some(18));
    Ok(())
}

#[test]
fn explain_without_a_kind_lists_them_all() -> R {
    let out = cairn(&["explain"])?;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout)?;
    for k in kinds() {
        assert!(text.lines().any(|l| l.starts_with(&format!("{} ", k.kind))), "{} not listed:\n{text}", k.kind);
    }
    Ok(())
}

#[test]
fn explain_finds_a_kind_written_loosely_and_suggests_for_a_typo() -> R {
    let exact = cairn(&["explain", "aws:sqs:Queue"])?.stdout;
    assert_eq!(cairn(&["explain", "sqs:queue"])?.stdout, exact);
    let out = cairn(&["explain", "aws:sqs:Queu"])?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr)?;
    assert!(err.contains("unknown kind `aws:sqs:Queu`") && err.contains("did you mean `aws:sqs:Queue`?"), "{err}");
    assert!(out.stdout.is_empty());
    Ok(())
}

#[test]
fn write_docs_writes_the_pages_and_removes_a_gone_kind() -> R {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("aws-gone-Kind.md"), "<!-- Generated from the code by an older cairn -->\nold")?;
    std::fs::write(dir.path().join("aws-my-notes.md"), "mine, not generated")?;
    std::fs::write(dir.path().join("notes.md"), "mine")?;
    let out = Command::cargo_bin("cairn")?.args(["explain", "--write-docs"]).arg(dir.path()).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("aws-gone-Kind.md").exists());
    assert!(dir.path().join("notes.md").exists(), "a file that is no kind page is left alone");
    assert!(dir.path().join("aws-my-notes.md").exists(), "a page cairn did not write is left alone");
    let queue = std::fs::read_to_string(dir.path().join("aws-sqs-Queue.md"))?;
    assert!(queue.contains("| `visibility_timeout` | `integer` | `30` | update |"), "{queue}");
    assert!(queue.contains("| `fifo` | `boolean` | `false` | replace |"), "{queue}");
    Ok(())
}
