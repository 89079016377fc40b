//! Engine behaviour against the fake provider: ordering, parallelism,
//! partial failure, no-op plans, update and replace, destroy order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_engine::exec::{self, Event, ExecOptions, OpKind};
use cairn_engine::plan::{self, Step};
use cairn_engine::validate::{Validated, validate};
use cairn_engine::{ResourceSpec, StackSpec, State, StateStore};
use cairn_testkit::fake::{BATCH, BATCHED_THING, FakeProvider, thing};
use serde_json::json;

type R = Result<(), Box<dyn std::error::Error>>;

fn stack(resources: Vec<ResourceSpec>) -> StackSpec {
    StackSpec { name: "t".into(), resources, ..StackSpec::default() }
}

fn valid(p: &FakeProvider, s: &StackSpec) -> Validated {
    let (v, d) = validate(s, p.registry(), &BTreeMap::new());
    match v {
        Some(v) => v,
        None => panic!("stack did not validate: {d:?}"),
    }
}

use cairn_engine::kind::Provider as _;

async fn apply_with(
    p: &FakeProvider,
    v: Option<&Validated>,
    store: &StateStore,
    parallelism: usize,
) -> (State, exec::Outcome, plan::Plan) {
    let state = store.load().unwrap_or_else(|e| panic!("{e}"));
    let name = v.map_or("t".to_string(), |v| v.spec.name.clone());
    let pl = plan::make(p, v, &name, &state, parallelism).await.unwrap_or_else(|e| panic!("{e}"));
    let opts = ExecOptions { parallelism, ..ExecOptions::default() };
    let (st, out) = exec::apply(p, v, &pl, state, store, &opts).await;
    (st, out, pl)
}

#[tokio::test(start_paused = true)]
async fn independent_resources_run_in_parallel() -> R {
    let dir = tempfile::tempdir()?;
    let mut elapsed = BTreeMap::new();
    for parallelism in [1usize, 16] {
        let p = FakeProvider::default();
        p.cloud.set_latency(Duration::from_millis(50));
        let s = stack((0..20).map(|i| thing(&format!("r{i}"), json!({"value": i}))).collect());
        let v = valid(&p, &s);
        let store = StateStore::new(dir.path().join(format!("p{parallelism}")), "t");
        let t0 = tokio::time::Instant::now();
        let (st, out, _) = apply_with(&p, Some(&v), &store, parallelism).await;
        elapsed.insert(parallelism, t0.elapsed());
        assert!(out.ok(), "{out:?}");
        assert_eq!(st.resources.len(), 20);
        assert_eq!(p.cloud.max_in_flight.load(std::sync::atomic::Ordering::SeqCst), parallelism);
    }
    let ratio = elapsed[&16].as_secs_f64() / elapsed[&1].as_secs_f64();
    eprintln!("20 resources at 50 ms: parallelism 1 {:?}, 16 {:?}, ratio {ratio:.3}", elapsed[&1], elapsed[&16]);
    // Virtual time (tokio's paused clock), so this ratio is exact, not noisy.
    assert!(ratio < 0.25, "ratio {ratio}");
    Ok(())
}

#[tokio::test]
async fn a_failure_skips_only_its_dependents_and_a_rerun_finishes() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let s = stack(vec![
        thing("a", json!({})),
        thing("b", json!({"up": "${a.arn}"})),
        thing("c", json!({"up": "${b.arn}"})),
        thing("d", json!({})),
        thing("e", json!({"up": "${d.arn}"})),
    ]);
    let v = valid(&p, &s);
    let store = StateStore::new(dir.path(), "t");
    p.cloud.fail_on("b");
    let (st, out, _) = apply_with(&p, Some(&v), &store, 4).await;
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].0, "b");
    assert_eq!(out.skipped.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), vec!["c"]);
    assert_eq!(st.resources.keys().cloned().collect::<Vec<_>>(), vec!["a", "d", "e"]);
    assert_eq!(store.load()?.resources.len(), 3, "state on disk has what succeeded");

    p.cloud.fail.lock().map_err(|e| e.to_string())?.clear();
    p.cloud.clear_calls();
    let (st, out, pl) = apply_with(&p, Some(&v), &store, 4).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(st.resources.len(), 5);
    assert_eq!(pl.counts(), (2, 0, 0, 0), "only b and c are left to create");
    assert_eq!(p.cloud.writes(), vec!["create b", "create c"]);
    Ok(())
}

#[tokio::test]
async fn second_plan_is_a_no_op_without_writes() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let s = stack(vec![thing("a", json!({"value": 1})), thing("b", json!({"up": "${a.arn}", "label": "x-${a.name}"}))]);
    let v = valid(&p, &s);
    let store = StateStore::new(dir.path(), "t");
    let (_, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok());
    p.cloud.clear_calls();
    let (_, out, pl) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(!pl.has_changes(), "{pl:?}");
    assert!(out.done.is_empty());
    assert_eq!(p.cloud.writes(), Vec::<String>::new());
    assert_eq!(p.cloud.calls().len(), 2, "one read per resource");
    Ok(())
}

#[tokio::test]
async fn update_in_place_and_replace_with_known_after_apply_dependents() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v1 = valid(&p, &stack(vec![thing("a", json!({"value": 1})), thing("b", json!({"up": "${a.arn}"}))]));
    apply_with(&p, Some(&v1), &store, 16).await;

    let v2 = valid(&p, &stack(vec![thing("a", json!({"value": 2})), thing("b", json!({"up": "${a.arn}"}))]));
    let (_, out, pl) = apply_with(&p, Some(&v2), &store, 16).await;
    assert_eq!(pl.get("a").map(|r| r.step.clone()), Some(Step::Update { fields: vec!["value".into()] }));
    assert_eq!(pl.get("b").map(|r| r.step.clone()), Some(Step::NoOp));
    assert!(out.ok());

    let v3 = valid(
        &p,
        &stack(vec![thing("a", json!({"value": 2, "name": "renamed"})), thing("b", json!({"up": "${a.arn}"}))]),
    );
    p.cloud.clear_calls();
    let (st, out, pl) = apply_with(&p, Some(&v3), &store, 16).await;
    assert_eq!(pl.get("a").map(|r| r.step.clone()), Some(Step::Replace { because: vec!["name".into()] }));
    assert_eq!(
        pl.get("b").map(|r| r.step.clone()),
        Some(Step::Update { fields: vec!["up".into()] }),
        "arn known after apply"
    );
    assert!(out.ok(), "{out:?}");
    assert_eq!(p.cloud.writes(), vec!["delete a", "create a", "update b"]);
    assert_eq!(st.resources["b"].props["up"], json!("arn:fake:renamed"));
    Ok(())
}

#[tokio::test]
async fn destroy_deletes_dependents_first_and_removes_everything() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v = valid(
        &p,
        &stack(vec![
            thing("a", json!({})),
            thing("b", json!({"up": "${a.arn}"})),
            thing("c", json!({"up": "${b.arn}"})),
        ]),
    );
    apply_with(&p, Some(&v), &store, 16).await;
    p.cloud.clear_calls();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let state = store.load()?;
    let pl = plan::make(&p, None, "t", &state, 16).await?;
    let opts = ExecOptions {
        on_event: Arc::new(move |e| sink.lock().map(|mut v| v.push(e)).unwrap_or(())),
        ..ExecOptions::default()
    };
    let (st, out) = exec::apply(&p, None, &pl, state, &store, &opts).await;
    assert!(out.ok());
    assert!(st.resources.is_empty());
    assert_eq!(p.cloud.writes(), vec!["delete c", "delete b", "delete a"]);
    assert!(p.cloud.objects.lock().map_err(|e| e.to_string())?.is_empty());
    let finished = events
        .lock()
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|e| matches!(e, Event::Finished { op: OpKind::Delete, .. }))
        .count();
    assert_eq!(finished, 3);
    Ok(())
}

/// A create that waits for its dependencies has its look for an existing
/// resource made as the apply starts (so it can send its request as soon
/// as they are done); one that finds something leaves the create to look
/// for itself; resources with nothing to wait for, and `--parallelism 1`,
/// make no early look.
#[tokio::test]
async fn creates_that_wait_have_looked_when_the_apply_started() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    p.cloud.set_latency(Duration::from_millis(20));
    let dep = |id: &str, on: &str| ResourceSpec { depends_on: vec![on.into()], ..thing(id, json!({})) };
    let s = stack(vec![thing("root", json!({})), dep("mid", "root"), dep("leaf", "mid"), dep("taken", "root")]);
    let v = valid(&p, &s);
    // Something named like `taken` already exists: its look says so.
    p.cloud.objects.lock().map_err(|e| e.to_string())?.insert("arn:fake:t-taken".into(), json!({}));
    let store = StateStore::new(dir.path().join("p16"), "t");
    let (_, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok(), "{out:?}");
    let calls = p.cloud.calls();
    let first_create = calls.iter().position(|c| c.starts_with("create ")).unwrap_or(calls.len());
    let mut early: Vec<&String> = calls[..first_create].iter().filter(|c| c.starts_with("look ")).collect();
    early.sort();
    assert_eq!(early, ["look leaf", "look mid", "look taken"], "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.starts_with("look ")).count(), 3, "each look made once: {calls:?}");
    let mut after_look = p.cloud.created_after_look();
    after_look.sort();
    assert_eq!(after_look, ["leaf", "mid"], "`taken` was found, `root` never looked");

    let p1 = FakeProvider::default();
    let store = StateStore::new(dir.path().join("p1"), "t");
    let (_, out, _) = apply_with(&p1, Some(&valid(&p1, &s)), &store, 1).await;
    assert!(out.ok(), "{out:?}");
    assert!(p1.cloud.calls().iter().all(|c| !c.starts_with("look ")), "{:?}", p1.cloud.calls());
    assert!(p1.cloud.created_after_look().is_empty());
    Ok(())
}

/// An early look is not trusted where it could mislead: two creates of one
/// name in the apply make no early look (the second must meet the first),
/// and a saved plan applied to a stack that renamed a resource since looked
/// for the old name, so the create is not told it found nothing.
#[tokio::test]
async fn early_looks_are_not_trusted_for_shared_or_changed_names() -> R {
    let dir = tempfile::tempdir()?;
    let dep =
        |id: &str, name: &str| ResourceSpec { depends_on: vec!["root".into()], ..thing(id, json!({"name": name})) };
    let p = FakeProvider::default();
    let s = stack(vec![thing("root", json!({})), dep("one", "same"), dep("two", "same"), dep("own", "own")]);
    let v = valid(&p, &s);
    let store = StateStore::new(dir.path().join("dup"), "t");
    let (_, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok(), "{out:?}");
    let looks: Vec<String> = p.cloud.calls().into_iter().filter(|c| c.starts_with("look ")).collect();
    assert_eq!(looks, ["look own"]);
    assert_eq!(p.cloud.created_after_look(), ["own"]);

    let p = FakeProvider::default();
    let planned = valid(&p, &stack(vec![thing("root", json!({})), dep("leaf", "old")]));
    let store = StateStore::new(dir.path().join("saved"), "t");
    let pl = plan::make(&p, Some(&planned), "t", &store.load()?, 16).await?;
    let renamed = valid(&p, &stack(vec![thing("root", json!({})), dep("leaf", "new")]));
    let opts = ExecOptions { parallelism: 16, ..ExecOptions::default() };
    let (st, out) = exec::apply(&p, Some(&renamed), &pl, store.load()?, &store, &opts).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(st.resources["leaf"].props["name"], json!("new"));
    assert!(p.cloud.calls().contains(&"look leaf".to_string()), "{:?}", p.cloud.calls());
    assert!(p.cloud.created_after_look().is_empty(), "the look was for `old`");
    Ok(())
}

/// A kind that reads in batches is refreshed in batches of its size, each
/// result going to its own resource; other kinds still read one by one.
#[tokio::test]
async fn batched_kinds_are_refreshed_together() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let mut resources: Vec<ResourceSpec> = (0..5)
        .map(|i| ResourceSpec { kind: BATCHED_THING.into(), ..thing(&format!("b{i}"), json!({"value": i})) })
        .collect();
    resources.push(thing("single", json!({"value": "x"})));
    let v = valid(&p, &stack(resources));
    let store = StateStore::new(dir.path(), "t");
    let (st, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok(), "{out:?}");

    // One batch gone behind cairn's back: only it plans a create.
    p.cloud.objects.lock().map_err(|e| e.to_string())?.remove(&st.resources["b3"].physical_id);
    p.cloud.clear_calls();
    let pl = plan::make(&p, Some(&v), "t", &st, 16).await?;
    let mut calls = p.cloud.calls();
    calls.sort();
    assert_eq!(calls, ["read single", "read_many b0,b1,b2", "read_many b3,b4"], "batches of {BATCH}");
    for r in &pl.resources {
        let want = if r.id == "b3" { Step::Create } else { Step::NoOp };
        assert_eq!(r.step, want, "{}", r.id);
    }
    Ok(())
}

#[tokio::test]
async fn deleted_behind_cairns_back_plans_a_create() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v = valid(&p, &stack(vec![thing("a", json!({}))]));
    apply_with(&p, Some(&v), &store, 16).await;
    p.cloud.objects.lock().map_err(|e| e.to_string())?.clear();
    let pl = plan::make(&p, Some(&v), "t", &store.load()?, 16).await?;
    assert_eq!(pl.get("a").map(|r| r.step.clone()), Some(Step::Create));
    Ok(())
}

#[test]
fn invalid_stacks_are_reported_together() {
    let p = FakeProvider::default();
    let mut s = stack(vec![
        thing("a", json!({"up": "${nope.arn}", "x": "${b.anr}", "y": "${param.missing}"})),
        ResourceSpec { kind: "test:Thang".into(), ..thing("b", json!({})) },
        thing("c", json!({"bad": 1})),
    ]);
    s.parameters.insert("email".into(), cairn_engine::ParamSpec::default());
    let (v, d) = validate(&s, p.registry(), &BTreeMap::new());
    assert!(v.is_none());
    let messages: Vec<String> = d.0.iter().map(|d| d.message.clone()).collect();
    let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(has("parameter `email` has no value"), "{messages:?}");
    assert!(has("unknown resource `nope`"), "{messages:?}");
    assert!(has("undeclared parameter `missing`"), "{messages:?}");
    assert!(has("unknown resource type `test:Thang`"), "{messages:?}");
    assert!(has("unknown property `bad`"), "{messages:?}");
    assert!(d.0.iter().any(|d| d.suggestion.as_deref() == Some("did you mean `test:Thing`?")));
}

#[test]
fn cycles_are_reported_with_their_path() {
    let p = FakeProvider::default();
    let s = stack(vec![thing("a", json!({"x": "${b.arn}"})), thing("b", json!({"x": "${a.arn}"}))]);
    let (_, d) = validate(&s, p.registry(), &BTreeMap::new());
    assert!(d.0.iter().any(|d| d.message == "dependency cycle: a -> b -> a"), "{d:?}");
}

#[tokio::test]
async fn a_lost_create_response_leaves_an_intent_and_the_rerun_adopts() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v = valid(&p, &stack(vec![thing("a", json!({})), thing("b", json!({"up": "${a.arn}"}))]));
    p.cloud.lose_response.lock().map_err(|e| e.to_string())?.insert("a".into());
    let (st, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert_eq!(out.failed.len(), 1);
    assert!(st.resources.is_empty());
    assert!(store.load()?.intents.contains_key("a"), "the intent survives the failure");
    assert_eq!(p.cloud.objects.lock().map_err(|e| e.to_string())?.len(), 1, "AWS did the work");

    let pl = plan::make(&p, Some(&v), "t", &store.load()?, 16).await?;
    assert!(pl.get("a").and_then(|r| r.drift.clone()).is_some_and(|d| d[0].contains("did not finish")));
    let (st, out, _) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(st.resources.len(), 2);
    assert!(st.intents.is_empty());
    assert_eq!(p.cloud.objects.lock().map_err(|e| e.to_string())?.len(), 2, "no duplicate");
    Ok(())
}

#[tokio::test]
async fn a_physical_id_that_changed_on_its_own_is_recorded_without_writes() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v = valid(&p, &stack(vec![thing("a", json!({}))]));
    apply_with(&p, Some(&v), &store, 16).await;
    let mut st = store.load()?;
    let real = st.resources["a"].physical_id.clone();
    // As if state held a provisional id that the provider now reports differently.
    if let Some(r) = st.resources.get_mut("a") {
        r.attrs.insert("arn".into(), json!("provisional"));
    }
    store.save(&mut st)?;
    p.cloud.clear_calls();
    let (st, out, pl) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok() && !pl.has_changes());
    assert_eq!(p.cloud.writes(), Vec::<String>::new());
    assert_eq!(st.resources["a"].attrs["arn"], json!(real));
    Ok(())
}

#[tokio::test]
async fn retained_resources_are_left_and_forgotten_and_protected_ones_refuse_destroy_up_front() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let mut kept = thing("kept", json!({}));
    kept.options.retain = true;
    let mut guarded = thing("guarded", json!({}));
    guarded.options.protect = true;
    let v = valid(&p, &stack(vec![kept, guarded, thing("plain", json!({}))]));
    apply_with(&p, Some(&v), &store, 16).await;
    let kept_id = store.load()?.resources["kept"].physical_id.clone();

    // Destroy while one is protected: refused up front, before any AWS
    // call, and nothing is deleted (not even the plain one).
    p.cloud.clear_calls();
    let state = store.load()?;
    match plan::make(&p, None, "t", &state, 16).await {
        Err(e @ plan::PlanError::Protected(_)) => assert!(e.to_string().contains("`guarded` is protected"), "{e}"),
        other => panic!("destroying a protected resource must be refused, got {other:?}"),
    }
    assert_eq!(p.cloud.writes(), Vec::<String>::new());

    // Unprotected in the stack: a state-only update, no AWS write.
    let mut guarded = thing("guarded", json!({}));
    guarded.options.protect = false;
    let mut kept = thing("kept", json!({}));
    kept.options.retain = true;
    let v = valid(&p, &stack(vec![kept, guarded, thing("plain", json!({}))]));
    let (st, out, pl) = apply_with(&p, Some(&v), &store, 16).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(pl.get("guarded").map(|r| r.step.clone()), Some(Step::Update { fields: vec!["protect".into()] }));
    assert!(!st.resources["guarded"].protect);
    assert_eq!(p.cloud.writes(), Vec::<String>::new());

    // Destroy: the retained one is forgotten, not deleted; the others go.
    let (st, out, pl) = apply_with(&p, None, &store, 16).await;
    assert_eq!(pl.get("kept").map(|r| r.step.clone()), Some(Step::Forget));
    assert!(out.ok(), "{out:?}");
    let writes = p.cloud.writes();
    assert!(
        writes.contains(&"delete plain".to_string()) && writes.contains(&"delete guarded".to_string()),
        "{writes:?}"
    );
    assert!(!writes.iter().any(|w| w.contains("kept")), "{writes:?}");
    assert!(st.resources.is_empty());
    assert!(p.cloud.objects.lock().map_err(|e| e.to_string())?.contains_key(&kept_id), "the retained one is live");
    Ok(())
}

#[tokio::test]
async fn state_records_the_account_and_a_plan_for_another_account_warns() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let store = StateStore::new(dir.path(), "t");
    let v = valid(&p, &stack(vec![thing("a", json!({}))]));
    apply_with(&p, Some(&v), &store, 16).await;
    let mut state = store.load()?;
    assert_eq!(
        (state.account_id.as_deref(), state.region.as_deref(), state.partition.as_deref()),
        (Some("000000000000"), Some("xx-test-1"), Some("aws"))
    );
    // Same account: a no-op plan, no warning.
    let pl = plan::make(&p, Some(&v), "t", &state, 16).await?;
    assert!(!pl.has_changes() && pl.warnings.is_empty(), "{pl:?}");
    // The state says another account: the plan still reads (with the real
    // account) and warns that these credentials are not where it was applied.
    state.account_id = Some("999999999999".into());
    let pl = plan::make(&p, Some(&v), "t", &state, 16).await?;
    assert_eq!(pl.get("a").map(|r| r.step.clone()), Some(Step::NoOp));
    assert!(pl.warnings.iter().any(|w| w.contains("999999999999") && w.contains("000000000000")), "{pl:?}");
    Ok(())
}

/// `--target` (issue 15 item 5): an apply limited to one resource makes it
/// and what it depends on, and nothing else; a destroy limited to one
/// deletes it and what depends on it, and leaves the rest in state.
#[tokio::test]
async fn a_targeted_apply_and_destroy_touch_only_the_targets_and_what_they_need() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let s = stack(vec![
        thing("base", json!({})),
        thing("mid", json!({"up": "${base.arn}"})),
        thing("top", json!({"up": "${mid.arn}"})),
        thing("other", json!({})),
    ]);
    let v = valid(&p, &s);
    let store = StateStore::new(dir.path(), "t");
    let state = store.load()?;
    let targets = vec!["mid".to_string()];
    let pl = plan::make_targeted(&p, Some(&v), "t", &state, 16, &targets).await?;
    let ids: Vec<&str> = pl.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["base", "mid"], "the target and what it depends on");
    assert!(pl.warnings.iter().any(|w| w.contains("limited by --target to `mid`")), "{:?}", pl.warnings);
    let (st, out) = exec::apply(&p, Some(&v), &pl, state, &store, &ExecOptions::default()).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(st.resources.keys().cloned().collect::<Vec<_>>(), vec!["base", "mid"]);
    assert_eq!(p.cloud.writes(), vec!["create base", "create mid"]);

    // The rest, then a destroy of `mid`: `top` depends on it and goes too.
    apply_with(&p, Some(&v), &store, 16).await;
    p.cloud.clear_calls();
    let state = store.load()?;
    let pl = plan::make_targeted(&p, None, "t", &state, 16, &targets).await?;
    let ids: Vec<&str> = pl.resources.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["top", "mid"], "the target and its dependents, dependents first");
    let (st, out) = exec::apply(&p, None, &pl, state, &store, &ExecOptions::default()).await;
    assert!(out.ok(), "{out:?}");
    assert_eq!(p.cloud.writes(), vec!["delete top", "delete mid"]);
    assert_eq!(st.resources.keys().cloned().collect::<Vec<_>>(), vec!["base", "other"]);
    Ok(())
}

/// A protected resource outside the targets does not stop a targeted
/// destroy; a protected target does.
#[tokio::test]
async fn a_targeted_destroy_is_refused_only_for_a_protected_target() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let mut kept = thing("kept", json!({}));
    kept.options.protect = true;
    let v = valid(&p, &stack(vec![kept, thing("scratch", json!({}))]));
    let store = StateStore::new(dir.path(), "t");
    apply_with(&p, Some(&v), &store, 16).await;
    let state = store.load()?;
    let pl = plan::make_targeted(&p, None, "t", &state, 16, &["scratch".to_string()]).await?;
    assert_eq!(pl.resources.len(), 1);
    let refused = plan::make_targeted(&p, None, "t", &state, 16, &["kept".to_string()]).await;
    assert!(matches!(refused, Err(plan::PlanError::Protected(_))), "{refused:?}");
    Ok(())
}

/// `--refresh-only` (issue 15 item 5): drift and resources deleted outside
/// cairn are shown as changes to state, and accepting them writes state
/// with no call to AWS but reads.
#[tokio::test]
async fn a_refresh_only_plan_shows_drift_and_accepting_it_changes_state_only() -> R {
    let dir = tempfile::tempdir()?;
    let p = FakeProvider::default();
    let v = valid(&p, &stack(vec![thing("a", json!({"value": 1})), thing("b", json!({})), thing("c", json!({}))]));
    let store = StateStore::new(dir.path(), "t");
    apply_with(&p, Some(&v), &store, 16).await;
    {
        let mut objects = p.cloud.objects.lock().map_err(|e| e.to_string())?;
        objects.insert("arn:fake:t-a".into(), json!({"name": "t-a", "value": 2}));
        objects.remove("arn:fake:t-b");
    }
    p.cloud.clear_calls();
    let mut state = store.load()?;
    let (env, live) = plan::read_live(&p, &state, &BTreeMap::new(), 16).await?;
    let pl = plan::refresh_only("t", &state, live, &env);
    let steps: Vec<(&str, &Step)> = pl.resources.iter().map(|r| (r.id.as_str(), &r.step)).collect();
    assert_eq!(
        steps,
        vec![("a", &Step::Update { fields: vec!["value".into()] }), ("b", &Step::Forget), ("c", &Step::NoOp)]
    );
    let change = &pl.resources[0].changes[0];
    assert_eq!((change.old.clone(), change.new.clone()), (Some(json!(1)), Some(json!(2))), "state -> AWS");
    assert!(plan::accept_refresh(&mut state, &pl));
    assert_eq!(state.resources["a"].props["value"], 2);
    assert!(!state.resources.contains_key("b"));
    assert!(p.cloud.writes().is_empty(), "{:?}", p.cloud.writes());
    // Accepted: nothing more to accept.
    let (env, live) = plan::read_live(&p, &state, &BTreeMap::new(), 16).await?;
    let again = plan::refresh_only("t", &state, live, &env);
    assert!(!again.has_changes());
    assert!(!plan::accept_refresh(&mut state, &again));
    Ok(())
}
