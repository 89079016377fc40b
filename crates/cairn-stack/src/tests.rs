#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cairn_engine::diag::{Locator, render};
use cairn_engine::{At, Diagnostic, PathSeg, ResourceOptions, Severity};
use serde_json::json;

use super::*;

const LAB1: &str = r#"# yaml-language-server: $schema=../docs/cairn.schema.json
stack: lab1-notifications          # required
region: us-east-1
parameters:
  email:
    description: where state changes are sent
  states:
    default: [stopped, terminated]
  token:
    secret: true
tags:
  project: labs
resources:
  alerts:
    type: aws:sns:Topic
    properties:
      display_name: EC2 alerts
    retain: true
  ops-email:
    type: aws:sns:Subscription
    properties:
      topic: ${alerts.arn}
      protocol: email
      endpoint: ${param.email}
    depends_on: [alerts]
  ec2-state:
    type: aws:events:Rule
    protect: true
    auto_wire: false
    properties:
      event_pattern:
        source: [aws.ec2]
        detail-type: [EC2 Instance State-change Notification]
        detail:
          state: ${param.states}
      targets:
        - arn: ${alerts.arn}
          retries: 3
          ratio: 0.5
          input_transformer:
            paths: {instance: $.detail.instance-id, state: $.detail.state}
            template: '"Instance <instance> is now <state>"'
outputs:
  topic_arn: ${alerts.arn}
  summary: {count: 2, names: [a, b]}
"#;

fn lab1() -> Parsed {
    parse("lab1.yaml", LAB1)
}

/// Line and column of a place.
fn at(parsed: &Parsed, at: &At) -> (usize, usize) {
    let loc = parsed.source.locate(at).unwrap();
    (loc.line, loc.col)
}

fn prop(id: &str, path: &[PathSeg]) -> At {
    At::Prop { id: id.into(), path: path.to_vec() }
}

fn key(k: &str) -> PathSeg {
    PathSeg::Key(k.into())
}

/// The only diagnostic, with its line and column.
fn only(parsed: &Parsed) -> (Diagnostic, usize, usize) {
    assert_eq!(parsed.diagnostics.0.len(), 1, "{:#?}", parsed.diagnostics);
    let d = parsed.diagnostics.0[0].clone();
    assert_eq!(d.severity, Severity::Error);
    assert!(parsed.spec.is_none());
    let (line, col) = at(parsed, &d.at);
    (d, line, col)
}

#[test]
fn lab1_reads_into_the_expected_spec() {
    let parsed = lab1();
    assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
    let spec = parsed.spec.unwrap();
    assert_eq!(spec.name, "lab1-notifications");
    assert_eq!(spec.region.as_deref(), Some("us-east-1"));

    assert_eq!(spec.parameters.len(), 3);
    let email = &spec.parameters["email"];
    assert_eq!(email.description.as_deref(), Some("where state changes are sent"));
    assert_eq!(email.default, None);
    assert!(!email.secret);
    assert_eq!(spec.parameters["states"].default, Some(json!(["stopped", "terminated"])));
    assert!(spec.parameters["token"].secret);
    assert_eq!(spec.tags.get("project").map(String::as_str), Some("labs"));

    let ids: Vec<&str> = spec.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["alerts", "ops-email", "ec2-state"]);
    let alerts = &spec.resources[0];
    assert_eq!(alerts.kind, "aws:sns:Topic");
    assert_eq!(alerts.props, json!({"display_name": "EC2 alerts"}));
    assert_eq!(alerts.options, ResourceOptions { retain: true, protect: false, auto_wire: true });
    let email = &spec.resources[1];
    assert_eq!(email.props, json!({"topic": "${alerts.arn}", "protocol": "email", "endpoint": "${param.email}"}));
    assert_eq!(email.depends_on, ["alerts"]);
    assert_eq!(email.options, ResourceOptions::default());
    let rule = &spec.resources[2];
    assert_eq!(rule.kind, "aws:events:Rule");
    assert_eq!(rule.options, ResourceOptions { retain: false, protect: true, auto_wire: false });
    assert_eq!(
        rule.props,
        json!({
            "event_pattern": {
                "source": ["aws.ec2"],
                "detail-type": ["EC2 Instance State-change Notification"],
                "detail": {"state": "${param.states}"},
            },
            "targets": [{
                "arn": "${alerts.arn}",
                "retries": 3,
                "ratio": 0.5,
                "input_transformer": {
                    "paths": {"instance": "$.detail.instance-id", "state": "$.detail.state"},
                    "template": "\"Instance <instance> is now <state>\"",
                },
            }],
        })
    );
    // Integers stay integers, and key order is kept.
    assert!(rule.props["targets"][0]["retries"].is_u64());
    let keys: Vec<&String> = rule.props["event_pattern"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["source", "detail-type", "detail"]);

    assert_eq!(
        spec.outputs,
        vec![
            ("topic_arn".into(), json!("${alerts.arn}")),
            ("summary".into(), json!({"count": 2, "names": ["a", "b"]}))
        ]
    );
}

#[test]
fn locates_every_kind_of_place() {
    let parsed = lab1();
    assert_eq!(at(&parsed, &At::Stack), (2, 1));
    assert_eq!(at(&parsed, &At::StackKey { key: "region".into() }), (3, 1));
    assert_eq!(at(&parsed, &At::Param { name: "states".into() }), (7, 3));
    assert_eq!(at(&parsed, &At::Output { name: "summary".into() }), (45, 3));
    assert_eq!(at(&parsed, &At::Resource { id: "ops-email".into() }), (19, 3));
    assert_eq!(at(&parsed, &At::Tag { key: "project".into() }), (12, 3));
    // A tag the stack lacks: the `tags` key.
    assert_eq!(at(&parsed, &At::Tag { key: "nope".into() }), (11, 1));
    assert_eq!(at(&parsed, &At::ResourceKey { id: "ops-email".into(), key: "depends_on".into() }), (25, 5));
    // A key the entry lacks: the entry.
    assert_eq!(at(&parsed, &At::ResourceKey { id: "alerts".into(), key: "depends_on".into() }), (14, 3));
    let loc = parsed.source.locate(&At::Resource { id: "alerts".into() }).unwrap();
    assert_eq!(loc.file, "lab1.yaml");
    assert_eq!(loc.line_text.as_deref(), Some("  alerts:"));
}

#[test]
fn locates_deep_and_missing_prop_paths() {
    let parsed = lab1();
    let template = [key("targets"), PathSeg::Index(0), key("input_transformer"), key("template")];
    assert_eq!(at(&parsed, &prop("ec2-state", &template)), (42, 23));
    // A scalar in a flow sequence.
    assert_eq!(at(&parsed, &prop("ec2-state", &[key("event_pattern"), key("source"), PathSeg::Index(0)])), (32, 18));
    // A value on the key's line: the value; a mapping below its key: the key.
    assert_eq!(at(&parsed, &prop("ops-email", &[key("topic")])), (22, 14));
    assert_eq!(at(&parsed, &prop("ec2-state", &[key("event_pattern")])), (31, 7));
    // A list item that is a mapping: its first key.
    assert_eq!(at(&parsed, &prop("ec2-state", &[key("targets"), PathSeg::Index(0)])), (37, 11));
    // Missing: the deepest prefix that exists.
    let missing = [key("targets"), PathSeg::Index(0), key("input_transformer"), key("nope"), key("deeper")];
    assert_eq!(at(&parsed, &prop("ec2-state", &missing)), (40, 11));
    assert_eq!(at(&parsed, &prop("ec2-state", &[key("targets"), PathSeg::Index(7)])), (36, 7));
    // A missing required prop: the `properties` key.
    assert_eq!(at(&parsed, &prop("alerts", &[key("name")])), (16, 5));
    assert_eq!(at(&parsed, &prop("alerts", &[])), (16, 5));
    // An unknown resource: the `resources` key.
    assert_eq!(at(&parsed, &prop("ghost", &[key("x")])), (13, 1));
}

#[test]
fn resource_without_properties_locates_props_at_its_id() {
    let parsed = parse("s.yaml", "stack: s\nresources:\n  q:\n    type: aws:sqs:Queue\n");
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    assert_eq!(parsed.spec.as_ref().unwrap().resources[0].props, json!({}));
    assert_eq!(at(&parsed, &prop("q", &[key("visibility_timeout")])), (3, 3));
}

#[test]
fn syntax_error_has_line_and_col() {
    let text = "stack: s\nresources:\n  a:\n    type: [unclosed\n    properties: {}\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::Stack);
    assert!(d.message.starts_with("invalid YAML: "), "{}", d.message);
    assert!(line >= 4, "{line}:{col} {}", d.message);
    assert!(col >= 1);
    let text = "stack: s\n  bad: indentation\nresources: {}\n";
    let (d, line, _) = only(&parse("s.yaml", text));
    assert!(d.message.starts_with("invalid YAML: "), "{}", d.message);
    assert_eq!(line, 2, "{}", d.message);
}

#[test]
fn unknown_top_level_key_is_suggested() {
    let parsed = parse("s.yaml", "stack: s\nregoin: us-east-1\nresources: {}\n");
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::StackKey { key: "regoin".into() });
    assert_eq!(d.message, "unknown key `regoin`");
    assert_eq!(d.suggestion.as_deref(), Some("did you mean `region`?"));
    assert!(d.expected.as_deref().unwrap().contains("`resources`"));
    assert_eq!((line, col), (2, 1));
}

#[test]
fn unknown_resource_key_is_suggested() {
    let text = "stack: s\nresources:\n  alerts:\n    type: aws:sns:Topic\n    propertes:\n      display_name: x\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::ResourceKey { id: "alerts".into(), key: "propertes".into() });
    assert_eq!(d.message, "unknown key `propertes` in resource `alerts`");
    assert_eq!(d.suggestion.as_deref(), Some("did you mean `properties`?"));
    assert_eq!((line, col), (5, 5));
}

#[test]
fn wrong_type_says_what_was_expected() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n    depends_on: 5\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::ResourceKey { id: "a".into(), key: "depends_on".into() });
    assert_eq!(d.message, "`depends_on` of resource `a` must be a list of resource ids, found an integer");
    assert_eq!(d.expected.as_deref(), Some("a list of resource ids, like [alerts, queue]"));
    assert_eq!((line, col), (5, 17));
}

#[test]
fn yaml_1_1_booleans_get_a_hint() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n    retain: yes\n";
    let (d, line, col) = only(&parse("s.yaml", text));
    assert_eq!(d.message, "`retain` of resource `a` must be true or false, found a string");
    assert_eq!(d.suggestion.as_deref(), Some("YAML 1.2 booleans are `true` and `false`: write `true`"));
    assert_eq!((line, col), (5, 13));
}

#[test]
fn properties_before_type_is_explained() {
    let text = "stack: s\nresources:\n  a:\n    properties:\n      display_name: x\n    type: aws:sns:Topic\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::ResourceKey { id: "a".into(), key: "properties".into() });
    assert_eq!(d.message, "`properties` comes before `type` in resource `a`");
    assert!(d.expected.as_deref().unwrap().starts_with("`type` first"));
    assert_eq!((line, col), (4, 5));
}

#[test]
fn duplicate_resource_id_points_at_the_second() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n  b:\n    type: aws:sns:Topic\n  a:\n    type: aws:sqs:Queue\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::StackKey { key: "resources".into() });
    assert_eq!(d.message, "duplicate resource id `a`, first written at line 3");
    assert_eq!((line, col), (7, 3));
}

#[test]
fn duplicate_key_inside_properties_is_located() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n    properties:\n      tags: {x: '1', x: '2'}\n";
    let parsed = parse("s.yaml", text);
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, prop("a", &[key("tags"), key("x")]));
    assert_eq!(d.message, "duplicate key `x`, first written at line 6");
    assert_eq!((line, col), (6, 22));
}

#[test]
fn missing_stack_is_reported() {
    let parsed = parse("s.yaml", "# a comment\nregion: us-east-1\nresources: {}\n");
    let (d, line, col) = only(&parsed);
    assert_eq!(d.at, At::StackKey { key: "stack".into() });
    assert_eq!(d.message, "missing required key `stack`");
    assert_eq!((line, col), (2, 1));
}

#[test]
fn all_envelope_problems_come_in_one_run() {
    let text = "\
stack: 5
regoin: x
parameters:
  p:
    descripton: d
    secret: maybe
tags:
  n: 1
resources:
  a:
    tpye: aws:sns:Topic
    depends_on: [b, 7]
  a:
    type: aws:sns:Topic
  c: 3
outputs:
  o: 1
  o: 2
";
    let parsed = parse("s.yaml", text);
    assert!(parsed.spec.is_none());
    let got: Vec<(String, usize, usize)> = parsed
        .diagnostics
        .0
        .iter()
        .map(|d| {
            let (l, c) = at(&parsed, &d.at);
            (d.message.clone(), l, c)
        })
        .collect();
    let want = [
        ("`stack` must be a string, found an integer", 1, 8),
        ("unknown key `regoin`", 2, 1),
        ("unknown key `descripton` in parameter `p`", 5, 5),
        // Shares `At::Param` with the line above: located at the first pin.
        ("`secret` of parameter `p` must be true or false, found a string", 5, 5),
        ("tag `n` must be a string, found an integer", 8, 6),
        ("duplicate resource id `a`, first written at line 10", 13, 3),
        ("unknown key `tpye` in resource `a`", 11, 5),
        ("`depends_on` of resource `a` lists an integer, not a resource id", 12, 21),
        ("resource `a` has no `type`", 10, 3),
        ("resource `c` must be a mapping, found an integer", 15, 6),
        ("duplicate output `o`, first written at line 17", 18, 3),
    ];
    let want: Vec<(String, usize, usize)> = want.iter().map(|(m, l, c)| ((*m).to_string(), *l, *c)).collect();
    assert_eq!(got, want);
}

#[test]
fn non_string_keys_are_errors() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n    properties:\n      ports:\n        80: http\n";
    let (d, line, col) = only(&parse("s.yaml", text));
    assert_eq!(d.message, "key `80` is not a string");
    assert_eq!(d.expected.as_deref(), Some("a string; quote it: \"80\""));
    assert_eq!((line, col), (7, 9));
}

#[test]
fn empty_and_non_mapping_files() {
    let (d, line, _) = only(&parse("s.yaml", "# nothing here\n"));
    assert_eq!(d.message, "the stack file is empty");
    assert_eq!(line, 0);
    let (d, line, col) = only(&parse("s.yaml", "- a\n- b\n"));
    assert_eq!(d.message, "a stack file must be a mapping, found a list");
    assert_eq!((line, col), (1, 1));
}

#[test]
fn alias_bomb_is_rejected_quickly() {
    let mut text = String::from("stack: s\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let start = Instant::now();
    let parsed = parse("bomb.yaml", &text);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    let (d, line, _) = only(&parsed);
    assert!(d.message.contains("anchors and aliases"), "{}", d.message);
    assert!(line >= 2, "{line}");
}

#[test]
fn anchors_within_limits_are_fine() {
    let text = "stack: s\nresources:\n  a:\n    type: aws:sns:Topic\n    properties: &p\n      display_name: x\n  b:\n    type: aws:sns:Topic\n    properties: *p\n";
    let parsed = parse("s.yaml", text);
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let spec = parsed.spec.unwrap();
    assert_eq!(spec.resources[1].props, json!({"display_name": "x"}));
}

#[test]
fn renders_location_snippet_expected_and_help() {
    let text = "stack: s\nresources:\n  alerts:\n    type: aws:sns:Topic\n    propertes:\n      display_name: x\n";
    let parsed = parse("s.yaml", text);
    let out = render(&parsed.diagnostics, &parsed.source, false);
    assert!(out.starts_with("s.yaml:5:5: error: unknown key `propertes` in resource `alerts`\n"), "{out}");
    assert!(out.contains("5 |     propertes:\n  |     ^\n"), "{out}");
    assert!(out.contains("  = expected: one of `type`, `properties`"), "{out}");
    assert!(out.contains("  = help: did you mean `properties`?\n"), "{out}");
}

#[test]
fn unreadable_file_is_a_diagnostic_at_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let parsed = load(&missing);
    let (d, line, _) = only(&parsed);
    assert!(d.message.starts_with("cannot read the stack file: "), "{}", d.message);
    assert_eq!(line, 0);
    let out = render(&parsed.diagnostics, &parsed.source, false);
    assert!(out.starts_with(&format!("{}: error: cannot read", missing.display())), "{out}");

    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "stack: s\nresources: {}\n").unwrap();
    let parsed = load(&file);
    assert!(parsed.diagnostics.is_empty());
    assert_eq!(parsed.source.path(), file.display().to_string());
}

#[test]
fn garbage_never_panics() {
    for text in [
        "\u{0}",
        "{",
        "[[[[",
        ":",
        "? a\n? a\n",
        "a: *nope",
        "&a [*a]",
        "stack: !!binary aGk=",
        "stack: [\u{feff}",
        "\t- x",
    ] {
        let parsed = parse("g.yaml", text);
        let _ = render(&parsed.diagnostics, &parsed.source, true);
    }
}

#[test]
fn one_document_per_file() {
    let (d, line, col) = only(&parse("s.yaml", "stack: s\n---\nstack: t\n"));
    assert_eq!(d.message, "the file holds more than one YAML document");
    assert_eq!((line, col), (2, 1));
}

#[test]
fn prop_key_points_at_the_key() {
    use cairn_engine::diag::Locator;
    let p = crate::parse(
        "s.yaml",
        "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n    properties:\n      displayname: x\n",
    );
    let at = At::PropKey { id: "a".into(), path: vec![PathSeg::Key("displayname".into())] };
    let loc = p.source.locate(&at).map(|l| (l.line, l.col));
    assert_eq!(loc, Some((6, 7)));
    let at = At::Prop { id: "a".into(), path: vec![PathSeg::Key("displayname".into())] };
    assert_eq!(p.source.locate(&at).map(|l| (l.line, l.col)), Some((6, 20)));
}
