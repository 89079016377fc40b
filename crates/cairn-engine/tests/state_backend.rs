//! The state backend seam: every backend keeps the contract, and a plan,
//! apply and destroy of the fake provider run through a backend that is not
//! the local directory exactly as through it: state written after each
//! operation, the lock taken, refused to a second run by name, and
//! released, and a write refused, with no AWS change, once the stored state
//! moved behind the run's back.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_engine::exec::{self, ExecOptions, OpKind};
use cairn_engine::kind::Provider as _;
use cairn_engine::plan;
use cairn_engine::state::{LocalDir, LockStatus, StateBackend, StateError};
use cairn_engine::validate::{Validated, validate};
use cairn_engine::{ResourceSpec, StackSpec, StateStore};
use cairn_testkit::fake::{FakeProvider, thing};
use cairn_testkit::state::{MemoryBackend, backend_contract};
use serde_json::json;

type R = Result<(), Box<dyn std::error::Error>>;

fn valid(p: &FakeProvider, resources: Vec<ResourceSpec>) -> Result<Validated, String> {
    let s = StackSpec { name: "t".into(), resources, ..StackSpec::default() };
    match validate(&s, p.registry(), &BTreeMap::new()) {
        (Some(v), _) => Ok(v),
        (None, d) => Err(format!("stack did not validate: {d:?}")),
    }
}

/// Plans against what `store` holds and applies (`v` None: destroys).
async fn run(
    p: &FakeProvider,
    v: Option<&Validated>,
    store: &StateStore,
) -> Result<(plan::Plan, exec::Outcome), String> {
    let state = store.load().map_err(|e| e.to_string())?;
    let pl = plan::make(p, v, "t", &state, 4).await.map_err(|e| e.to_string())?;
    let (_, outcome) = exec::apply(p, v, &pl, state, store, &ExecOptions::default()).await;
    Ok((pl, outcome))
}

#[test]
fn the_local_directory_and_the_memory_backend_keep_the_contract() -> R {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested");
    backend_contract(&|| Arc::new(LocalDir::new(&path, "s1")) as Arc<dyn StateBackend>);
    let memory = MemoryBackend::new("s1");
    backend_contract(&|| memory.reopen() as Arc<dyn StateBackend>);
    Ok(())
}

#[tokio::test]
async fn plan_apply_and_destroy_run_through_another_backend() -> R {
    let p = FakeProvider::default();
    let backend = MemoryBackend::new("t");
    let store = backend.store();
    assert_eq!(store.location(), "memory://t.json");

    // The lock: recorded with its holder, refused to a second run by name.
    let lock = store.lock("apply")?;
    assert_eq!(backend.holder().as_ref(), Some(lock.holder()));
    let second = backend.reopen().store();
    match second.lock("plan") {
        Err(e @ StateError::Locked { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
            assert!(text.contains("running `cairn apply`"), "{text}");
        }
        other => panic!("a second run must be refused the lock, got {other:?}"),
    }

    let v = valid(&p, vec![thing("a", json!({})), thing("b", json!({"up": "${a.arn}"})), thing("c", json!({}))])?;
    let (pl, out) = run(&p, Some(&v), &store).await?;
    assert!(out.ok(), "{out:?}");
    assert_eq!(pl.counts(), (3, 0, 0, 0));
    let written = backend.state().ok_or("no state written")?;
    assert_eq!(written.resources.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(written.intents.is_empty(), "every intent is cleared once its create is recorded");
    assert!(written.lineage.is_some() && written.serial >= 3, "serial {}", written.serial);
    let writes = backend.count("write");
    assert!(writes >= 3, "state is written as operations finish: {:?}", backend.calls());

    // What was written reads back: the next plan changes nothing.
    let (pl, out) = run(&p, Some(&v), &store).await?;
    assert!(out.ok() && !pl.has_changes(), "{pl:?}");
    assert_eq!(backend.count("write"), writes, "a plan with no changes writes nothing");

    // Destroy, then the empty state goes.
    let (pl, out) = run(&p, None, &store).await?;
    assert!(out.ok(), "{out:?}");
    assert_eq!(pl.counts(), (0, 0, 0, 3));
    assert!(backend.state().ok_or("state gone before its removal")?.resources.is_empty());
    store.remove()?;
    assert_eq!(backend.document(), None);
    assert!(!store.exists()?);
    assert!(p.cloud.objects.lock().map_err(|e| e.to_string())?.is_empty(), "everything was deleted");

    // Released: the lock record goes, and another run takes it.
    lock.release()?;
    assert_eq!(backend.holder(), None);
    assert_eq!(backend.count("release"), 1);
    drop(second.lock("plan")?);
    assert_eq!(backend.holder(), None, "released on drop too");
    Ok(())
}

#[tokio::test]
async fn a_write_behind_the_runs_back_is_never_overwritten() -> R {
    let p = FakeProvider::default();
    let backend = MemoryBackend::new("t");
    let store = backend.store();
    let v = valid(&p, vec![thing("a", json!({}))])?;
    let (_, out) = run(&p, Some(&v), &store).await?;
    assert!(out.ok(), "{out:?}");

    // This run reads the state; someone else then writes it.
    let state = store.load()?;
    let v = valid(&p, vec![thing("a", json!({})), thing("b", json!({}))])?;
    let pl = plan::make(&p, Some(&v), "t", &state, 4).await?;
    let mut theirs = state.clone();
    theirs.serial += 10;
    let theirs = serde_json::to_vec(&theirs)?;
    backend.write_behind(&theirs);
    p.cloud.clear_calls();

    let (_, out) = exec::apply(&p, Some(&v), &pl, state, &store, &ExecOptions::default()).await;
    let failed: Vec<(&str, OpKind, &str)> =
        out.failed.iter().map(|(id, op, e)| (id.as_str(), *op, e.as_str())).collect();
    assert!(
        matches!(failed.as_slice(), [("b", OpKind::Create, e)] if e.contains("was changed by someone else")),
        "{failed:?}"
    );
    assert_eq!(p.cloud.writes(), Vec::<String>::new(), "nothing is created that state could not record");
    assert_eq!(backend.document(), Some(theirs.clone()), "their write stands");
    assert!(matches!(store.remove(), Err(StateError::Conflict { .. })));
    assert_eq!(backend.document(), Some(theirs));

    // Read again, the next run goes on from their state.
    let (_, out) = run(&p, Some(&v), &store).await?;
    assert!(out.ok(), "{out:?}");
    assert_eq!(backend.state().ok_or("no state")?.resources.len(), 2);
    Ok(())
}

/// Once a save fails, no other AWS change starts: a delete whose record
/// was refused is the last one, and the rest are reported as not started.
#[tokio::test]
async fn after_a_refused_save_no_other_aws_change_starts() -> R {
    let p = FakeProvider::default();
    let backend = MemoryBackend::new("t");
    let store = backend.store();
    let v = valid(&p, vec![thing("a", json!({})), thing("b", json!({})), thing("c", json!({}))])?;
    let (_, out) = run(&p, Some(&v), &store).await?;
    assert!(out.ok(), "{out:?}");

    // A destroy, one operation at a time, reads the state; someone else then writes it.
    let state = store.load()?;
    let pl = plan::make(&p, None, "t", &state, 4).await?;
    let mut theirs = state.clone();
    theirs.serial += 10;
    backend.write_behind(&serde_json::to_vec(&theirs)?);
    p.cloud.clear_calls();

    let opts = ExecOptions { parallelism: 1, ..ExecOptions::default() };
    let (_, out) = exec::apply(&p, None, &pl, state, &store, &opts).await;
    let deleted = p.cloud.writes();
    assert_eq!(deleted.len(), 1, "only the delete whose record was refused reached AWS: {deleted:?}");
    assert_eq!(out.failed.len(), 3, "{out:?}");
    let not_started = out.failed.iter().filter(|(_, _, e)| e.starts_with("not started")).count();
    assert_eq!(not_started, 2, "{out:?}");
    Ok(())
}

#[test]
fn a_lock_left_behind_goes_only_when_its_id_is_named() -> R {
    let backend = MemoryBackend::new("t");
    let store = backend.store();
    let left = store.lock("apply")?;
    let id = left.holder().id.clone();
    // As a killed run leaves it: never released.
    std::mem::forget(left);
    let other = backend.reopen().store();
    assert!(matches!(other.lock("apply"), Err(StateError::Locked { .. })));
    assert!(matches!(other.unlock()?, LockStatus::Held { .. }), "a plain unlock never breaks it");
    assert!(matches!(other.unlock_id("not-it")?, LockStatus::Held { .. }));
    match other.unlock_id(&id)? {
        LockStatus::Free { stale: Some(holder) } => assert!(holder.contains("running `cairn apply`"), "{holder}"),
        got => panic!("naming the lock must remove it, got {got:?}"),
    }
    drop(other.lock("apply")?);
    Ok(())
}
