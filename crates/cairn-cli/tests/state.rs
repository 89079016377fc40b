//! State integrity through the binary: the lock names its holder, `cairn
//! state unlock` refuses a live holder and clears only a dead run's note,
//! and a corrupt, unreadable or too new state file stops every command
//! with exit 3 and is never rewritten.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cairn::engine::StateStore;
use cairn::engine::state::LocalDir;
use cairn_testkit::emulator;
use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted};
use cairn_testkit::tripwire::Tripwire;

type R = Result<(), Box<dyn std::error::Error>>;

const STACK: &str = "stack: s1\nresources:\n  a:\n    type: aws:sns:Topic\n";

fn cairn(state_dir: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A stack file `s1` and its state directory.
fn setup() -> Result<(tempfile::TempDir, PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("s1.yaml");
    std::fs::write(&file, STACK)?;
    let state = dir.path().join("state");
    Ok((dir, file, state))
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

#[test]
fn a_held_lock_names_its_holder_and_unlock_refuses_it() -> R {
    let (_dir, file, state) = setup()?;
    let store = StateStore::new(&state, "s1");
    let lock_path = LocalDir::new(&state, "s1").lock_path();
    let lock = store.lock("apply")?;
    let note = std::fs::read(&lock_path)?;
    let holder = format!("pid {} on host {}, running `cairn apply` since ", std::process::id(), host());
    let wire = Tripwire::new()?;
    for args in [&["plan"][..], &["apply", "--yes"], &["destroy", "--yes"]] {
        let out = cairn(&state, &wire.url()).args(args).arg(&file).output()?;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains("error: stack `s1` is locked by a running cairn: "), "{stderr}");
        assert!(stderr.contains(&holder) && stderr.contains(" UTC"), "{args:?}: expected `{holder}` in {stderr}");
    }
    assert!(!wire.touched(), "a locked stack was planned against AWS");

    let out = cairn(&state, &wire.url()).args(["state", "unlock"]).arg(&file).output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&holder) && stderr.contains("nothing was changed"), "{stderr}");
    assert_eq!(std::fs::read(&lock_path)?, note, "a live holder's note is left alone");

    let out = cairn(&state, &wire.url()).args(["state", "unlock", "--json"]).arg(&file).output()?;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!((out.status.code(), &json["locked"], &json["cleared"]), (Some(3), &true.into(), &false.into()));

    // Released normally: no note left, nothing for unlock to clear.
    drop(lock);
    assert_eq!(std::fs::read_to_string(&lock_path)?, "");
    let out = cairn(&state, &wire.url()).args(["state", "unlock"]).arg(&file).output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("Stack s1 is not locked; there was nothing to clear."), "{stderr}");
    assert!(!wire.touched(), "state unlock called AWS");
    Ok(())
}

#[test]
fn unlock_clears_only_a_dead_runs_note() -> R {
    let (_dir, file, state) = setup()?;
    std::fs::create_dir_all(&state)?;
    let lock_file = state.join("s1.lock");
    // What a run killed while holding the lock leaves: its note, no lock.
    std::fs::write(&lock_file, r#"{"pid":4000001,"host":"elsewhere","command":"apply","since":1700000000}"#)?;
    let wire = Tripwire::new()?;
    let out = cairn(&state, &wire.url()).args(["state", "unlock", "--json"]).arg(&file).output()?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stale = "pid 4000001 on host elsewhere, running `cairn apply` since 2023-11-14 22:13:20 UTC";
    assert!(
        stderr.contains(&format!("did not end normally (killed or crashed): {stale}. Cleared that note.")),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(json["stale"], stale);
    assert_eq!((&json["locked"], &json["cleared"]), (&false.into(), &true.into()));
    assert!(lock_file.exists(), "the lock file stays (removing it could split the lock)");
    assert_eq!(std::fs::read_to_string(&lock_file)?, "");
    let out = cairn(&state, &wire.url()).args(["state", "unlock"]).arg(&file).output()?;
    assert!(text(&out.stderr).contains("nothing to clear"), "{}", text(&out.stderr));
    assert!(!wire.touched());
    Ok(())
}

#[test]
fn unlock_help_says_what_it_is_for() -> R {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn")).args(["state", "unlock", "--help"]).output()?;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for needle in [
        "released by the OS when its process ends,\neven by SIGKILL or a crash",
        "there\nis never a lock to break",
        "exits 3",
        "clears the note",
        "PREFIX/<stack>.lock, which S3 cannot tie to a process",
        "With the holder's\n--lock-id, it shows the holder and removes that lock, and only that\none",
        "A plain run never breaks a lock.",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing from:\n{stdout}");
    }
    Ok(())
}

/// Runs every state-reading command on a broken state and checks that each
/// stops with exit 3, calls no AWS, and leaves the state directory as it was.
fn every_command_stops_on(state: &Path, file: &Path, broken: &Path, says: &str) -> R {
    let before = snapshot(state)?;
    let wire = Tripwire::new()?;
    for args in [
        &["plan"][..],
        &["plan", "--detailed-exitcode"],
        &["apply", "--yes"],
        &["destroy", "--yes"],
        &["status"],
        &["output"],
    ] {
        let out = cairn(state, &wire.url()).args(args).arg(file).output()?;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(&format!("state {}", broken.display())), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: expected `{says}` in {stderr}");
        assert_eq!(snapshot(state)?, before, "{args:?} changed the state directory");
    }
    assert!(!wire.touched(), "a command went on to AWS with broken state");
    Ok(())
}

/// Every file of a directory (not the lock file, whose note comes and
/// goes) with its bytes.
fn snapshot(dir: &Path) -> std::io::Result<Vec<(String, Option<Vec<u8>>)>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".lock") {
            continue;
        }
        files.push((name, if path.is_file() { Some(std::fs::read(&path)?) } else { None }));
    }
    files.sort();
    Ok(files)
}

#[test]
fn corrupt_state_stops_with_exit_3_and_is_never_rewritten() -> R {
    let (_dir, file, state) = setup()?;
    std::fs::create_dir_all(&state)?;
    let path = state.join("s1.json");
    // Truncated mid-write by something other than cairn (cairn renames).
    std::fs::write(
        &path,
        "{\n  \"version\": 1,\n  \"serial\": 4,\n  \"stack\": \"s1\",\n  \"resources\": {\n    \"a\": {",
    )?;
    every_command_stops_on(&state, &file, &path, "is unreadable: ")?;
    assert!(!state.join("s1.json.bak").exists(), "no backup made of (or over) a corrupt file");
    Ok(())
}

#[test]
fn unreadable_state_stops_with_exit_3() -> R {
    let (_dir, file, state) = setup()?;
    let path = state.join("s1.json");
    std::fs::create_dir_all(&path)?; // a directory where the file should be: reading it fails
    every_command_stops_on(&state, &file, &path, "is unreadable: ")?;
    assert!(path.is_dir());
    Ok(())
}

#[test]
fn state_from_a_newer_cairn_stops_with_exit_3() -> R {
    let (_dir, file, state) = setup()?;
    std::fs::create_dir_all(&state)?;
    let path = state.join("s1.json");
    std::fs::write(&path, r#"{"version": 99, "serial": 1, "stack": "s1", "resources": {}, "outputs": {}}"#)?;
    every_command_stops_on(&state, &file, &path, "has version 99, newer than this cairn understands")
}

/// The lock held by a real `cairn apply`, stopped mid-create by the proxy:
/// another command is refused and told that process's pid; once it is
/// killed, the OS has released the lock, and unlock clears its note.
#[tokio::test(flavor = "multi_thread")]
async fn a_running_apply_holds_the_lock_and_its_death_releases_it() -> R {
    let upstream = emulator::endpoint();
    let dir = tempfile::tempdir()?;
    let stack = emulator::unique_stack("lockheld");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, STACK.replace("stack: s1", &format!("stack: {stack}")))?;
    let state = dir.path().join("state");

    let proxy = Proxy::start(&upstream).await?;
    proxy.set(Faults::scripted(vec![Scripted::new("sns:CreateTopic", 1, Fault::Hold { forward: false })]));
    let mut apply = cairn(&state, &proxy.url());
    apply.args(["apply", "--yes"]).arg(&file).stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = tokio::process::Command::from(apply).kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap_or(0);
    tokio::select! {
        () = proxy.wait_held(1) => {}
        status = child.wait() => panic!("apply ended before its create was held: {status:?}"),
        () = tokio::time::sleep(Duration::from_secs(120)) => panic!("apply never reached its create"),
    }

    let run = |args: &[&str]| -> std::io::Result<Output> { cairn(&state, &upstream).args(args).arg(&file).output() };
    let holder = format!("pid {pid} on host {}, running `cairn apply` since ", host());
    let out = run(&["plan"])?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&holder), "expected `{holder}` in {stderr}");
    let out = run(&["state", "unlock"])?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(&holder), "{stderr}");

    child.start_kill()?;
    let status = child.wait().await?;
    assert_eq!(status.signal(), Some(9), "{status:?}");

    let out = run(&["state", "unlock"])?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&format!("(killed or crashed): {holder}")), "{stderr}");
    assert!(stderr.contains("State records 1 create(s) that did not finish: a;"), "{stderr}");
    // Whatever it left, the next apply and destroy go through.
    let out = run(&["apply", "--yes"])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = run(&["destroy", "--yes"])?;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    Ok(())
}
