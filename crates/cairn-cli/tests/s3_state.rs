//! State in S3 through the binary (issue 20): two machines sharing a stack's
//! state with `--state s3://…`, as two processes in two working directories.
//! What is in the bucket is read with the SDK, straight from the emulator.
//!
//! Each `cairn` goes through a proxy of its own, so that each one's calls
//! are counted apart; the proxies make conditional writes atomic, as S3
//! does and moto alone does not (see `cairn_testkit::proxy`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use cairn_testkit::emulator;
use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted, Stats};

#[allow(dead_code)]
mod support;
use support::{clients, expect};

type R = Result<(), Box<dyn std::error::Error>>;

/// A new versioned bucket, as docs/state.md sets one up; its name.
async fn bucket() -> Result<String, Box<dyn std::error::Error>> {
    let name = emulator::unique_stack("cairn-state");
    let s3 = clients().s3().await.clone();
    support::versioned_bucket(&s3, &name).await?;
    Ok(name)
}

/// A one-queue stack named `stack`, in its own working directory.
fn stack_file(stack: &str, queues: &[&str]) -> Result<(tempfile::TempDir, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut text = format!("stack: {stack}\nresources:\n");
    for q in queues {
        text.push_str(&format!("  {q}:\n    type: aws:sqs:Queue\n"));
    }
    let file = dir.path().join("stack.yaml");
    std::fs::write(&file, text)?;
    Ok((dir, file))
}

/// `cairn ARGS` run from `dir` against `endpoint`, with state in `state`
/// (and no local state directory given: a run in another directory must
/// find the same state through the URL alone).
fn cairn_at(endpoint: &str, dir: &Path, state: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("CAIRN_STATE_DIR")
        .env("CAIRN_STATE", state)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    c
}

/// The state object as it is in the bucket, and its ETag.
async fn stored(bucket: &str, key: &str) -> Option<(Vec<u8>, String)> {
    let s3 = clients().s3().await.clone();
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let etag = out.e_tag().unwrap_or_default().to_string();
    Some((out.body.collect().await.ok()?.into_bytes().to_vec(), etag))
}

async fn queue_exists(name: &str) -> bool {
    clients().sqs().await.get_queue_url().queue_name(name).send().await.is_ok()
}

/// The calls that change something other than the state's own objects.
fn aws_changes(stats: &Stats) -> Vec<String> {
    let reads = ["Get", "List", "Describe", "Head"];
    stats
        .by_operation
        .keys()
        .filter(|label| !label.starts_with("s3:"))
        .filter(|label| !reads.iter().any(|r| label.split(':').nth(1).unwrap_or_default().starts_with(r)))
        .cloned()
        .collect()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// Two applies of one stack started at the same moment from two working
/// directories, sharing `--state s3://…`: each round, exactly one applies
/// and the other exits 3 naming the holder, having changed nothing in AWS.
/// Every call takes 300 ms (the proxies' latency), so that the winner holds
/// the lock for seconds and the two always overlap.
#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_one_applies_and_the_other_exits_3_every_time() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/team");
    for round in 0..5 {
        let stack = emulator::unique_stack("race");
        let (dir_a, file_a) = stack_file(&stack, &["jobs"])?;
        let (dir_b, file_b) = stack_file(&stack, &["jobs"])?;
        let slow = Faults::latency(Duration::from_millis(300));
        let (proxy_a, proxy_b) = (
            Proxy::start_with(&emulator::endpoint(), slow.clone()).await?,
            Proxy::start_with(&emulator::endpoint(), slow).await?,
        );
        let mut a = cairn_at(&proxy_a.url(), dir_a.path(), &state);
        a.args(["apply", "--yes"]).arg(&file_a);
        let mut b = cairn_at(&proxy_b.url(), dir_b.path(), &state);
        b.args(["apply", "--yes"]).arg(&file_b);
        let (a, b) = (tokio::process::Command::from(a).output(), tokio::process::Command::from(b).output());
        let (a, b) = tokio::join!(a, b);
        let (a, b) = (a?, b?);
        let ((winner, won), (loser, lost)) = match (code(&a), code(&b)) {
            (Some(0), Some(3)) => ((&a, &proxy_a), (&b, &proxy_b)),
            (Some(3), Some(0)) => ((&b, &proxy_b), (&a, &proxy_a)),
            other => panic!(
                "round {round}: expected one 0 and one 3, got {other:?}\nA: {}\nB: {}",
                String::from_utf8_lossy(&a.stderr),
                String::from_utf8_lossy(&b.stderr)
            ),
        };
        let lost_text = String::from_utf8_lossy(&loser.stderr);
        assert!(lost_text.contains(&format!("stack `{stack}` is locked by a running cairn: pid ")), "{lost_text}");
        assert!(lost_text.contains("running `cairn apply` since"), "names the holder's command: {lost_text}");
        assert!(lost_text.contains("--lock-id "), "says how to remove a lock left behind: {lost_text}");
        assert_eq!(aws_changes(&lost.stats()), Vec::<String>::new(), "round {round}: the refused run changed AWS");
        assert!(!aws_changes(&won.stats()).is_empty(), "the winner applied");
        assert!(String::from_utf8_lossy(&winner.stderr).contains("Apply complete"));
        assert!(queue_exists(&format!("{stack}-jobs")).await, "round {round}: the queue was made");
        assert!(stored(&bucket, &format!("team/{stack}.lock")).await.is_none(), "the winner released its lock");

        let out =
            cairn_at(&emulator::endpoint(), dir_b.path(), &state).args(["destroy", "--yes"]).arg(&file_b).output()?;
        expect(&out, 0);
        assert!(stored(&bucket, &format!("team/{stack}.json")).await.is_none(), "destroy removes the state");
    }
    Ok(())
}

/// The state object replaced in the bucket while an apply runs: the apply's
/// next write is refused (exit 3) and what was put there stays as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_changed_in_the_bucket_behind_cairns_back_is_not_overwritten() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/team");
    let stack = emulator::unique_stack("behind");
    let key = format!("team/{stack}.json");
    let (dir, file) = stack_file(&stack, &["first", "second"])?;
    // Slow calls leave seconds between the apply's writes.
    let proxy = Proxy::start_with(&emulator::endpoint(), Faults::latency(Duration::from_millis(700))).await?;
    let mut apply = cairn_at(&proxy.url(), dir.path(), &state);
    apply.args(["apply", "--yes", "--parallelism", "1"]).arg(&file);
    let apply = tokio::process::Command::from(apply).kill_on_drop(true).output();
    let meddle = async {
        // The apply's first write (a create's intent) appears; someone else
        // replaces it at once.
        for _ in 0..600 {
            if let Some((bytes, _)) = stored(&bucket, &key).await {
                let mut theirs = bytes;
                theirs.extend_from_slice(b"\n");
                clients().s3().await.put_object().bucket(&bucket).key(&key).body(theirs.clone().into()).send().await?;
                return Ok::<_, Box<dyn std::error::Error>>(theirs);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("the apply never wrote its state".into())
    };
    let (out, theirs) = tokio::join!(apply, meddle);
    let (out, theirs) = (out?, theirs?);
    let stderr = expect(&out, 3);
    assert!(stderr.contains(&format!("state s3://{bucket}/{key} was changed by someone else")), "{stderr}");
    assert_eq!(stored(&bucket, &key).await.map(|(b, _)| b), Some(theirs), "their write is kept");

    // Clean up with the state as it was before: the queue left is found by
    // its tags (the state in the bucket is not cairn's own any more).
    let out =
        cairn_at(&emulator::endpoint(), dir.path(), &state).args(["sweep", "--stack", &stack, "--yes"]).output()?;
    expect(&out, 0);
    Ok(())
}

/// `cairn` with local state in `dir/.cairn` (the default), against the emulator.
fn cairn_local(dir: &Path) -> Command {
    let mut c = cairn_at(&emulator::endpoint(), dir, "");
    c.env_remove("CAIRN_STATE");
    c
}

/// A stack applied with local state, pushed to S3, is the same deployment
/// there: a plan from another directory with only the URL shows no change,
/// and the local copy is gone (one place, so no second copy to drift). A
/// push onto another deployment's state, or of an older copy, is refused
/// and changes nothing; `state pull --from` brings it back.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_state_pushed_to_s3_plans_no_changes_from_another_directory() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/labs");
    let stack = emulator::unique_stack("push");
    let (dir, file) = stack_file(&stack, &["jobs", "results"])?;
    expect(&cairn_local(dir.path()).args(["apply", "--yes"]).arg(&file).output()?, 0);
    let local = dir.path().join(format!(".cairn/{stack}.json"));
    let before: serde_json::Value = serde_json::from_slice(&std::fs::read(&local)?)?;

    let out = cairn_local(dir.path()).args(["state", "push", "--to", &state]).arg(&file).output()?;
    let stderr = expect(&out, 0);
    assert!(stderr.contains(&format!("Moved the state of stack {stack} (2 resource(s)")), "{stderr}");
    assert!(!local.exists(), "the local copy is removed once the state is in the bucket");
    let (bytes, _) = stored(&bucket, &format!("labs/{stack}.json")).await.ok_or("no state in the bucket")?;
    let pushed: serde_json::Value = serde_json::from_slice(&bytes)?;
    assert_eq!(pushed["lineage"], before["lineage"], "the same deployment");
    assert_eq!(pushed["resources"], before["resources"]);
    assert!(pushed["serial"].as_u64() > before["serial"].as_u64(), "{} then {}", before["serial"], pushed["serial"]);

    let (elsewhere, copy) = stack_file(&stack, &["jobs", "results"])?;
    let out = cairn_at(&emulator::endpoint(), elsewhere.path(), &state)
        .args(["plan", "--detailed-exitcode"])
        .arg(&copy)
        .output()?;
    let stderr = expect(&out, 0);
    assert!(stderr.contains("No changes"), "{stderr}");

    // Another deployment of the same stack, with local state: pushing it
    // onto this one is refused, and neither copy changes.
    let (other, other_file) = stack_file(&stack, &["jobs", "results"])?;
    let out = cairn_local(other.path()).args(["apply", "--yes", "--adopt"]).arg(&other_file).output()?;
    expect(&out, 0);
    let out = cairn_local(other.path()).args(["state", "push", "--to", &state]).arg(&other_file).output()?;
    let stderr = expect(&out, 3);
    assert!(stderr.contains("already holds a state of stack") && stderr.contains("of another lineage"), "{stderr}");
    assert!(other.path().join(format!(".cairn/{stack}.json")).exists(), "the refused push keeps the local state");
    assert_eq!(stored(&bucket, &format!("labs/{stack}.json")).await.map(|(b, _)| b), Some(bytes.clone()));
    std::fs::remove_dir_all(other.path().join(".cairn"))?;

    // Back to local, in the other directory.
    let out = cairn_local(elsewhere.path()).args(["state", "pull", "--from", &state]).arg(&copy).output()?;
    let stderr = expect(&out, 0);
    assert!(stderr.contains("Moved the state of stack"), "{stderr}");
    assert!(stored(&bucket, &format!("labs/{stack}.json")).await.is_none(), "moved, not copied");
    let out = cairn_local(elsewhere.path()).args(["destroy", "--yes"]).arg(&copy).output()?;
    expect(&out, 0);
    assert!(!queue_exists(&format!("{stack}-jobs")).await);
    Ok(())
}

/// A stack that says where its state is (`state:`) needs no flag: apply
/// and status use the bucket; an explicit `--state-dir` still wins.
#[tokio::test(flavor = "multi_thread")]
async fn a_stacks_own_state_block_puts_its_state_in_the_bucket() -> R {
    let bucket = bucket().await?;
    let stack = emulator::unique_stack("block");
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("stack.yaml");
    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nstate:\n  url: s3://{bucket}/from-the-stack\nresources:\n  jobs:\n    type: aws:sqs:Queue\n"
        ),
    )?;
    expect(&cairn_local(dir.path()).args(["apply", "--yes"]).arg(&file).output()?, 0);
    assert!(stored(&bucket, &format!("from-the-stack/{stack}.json")).await.is_some(), "state is in the bucket");
    assert!(!dir.path().join(".cairn").exists(), "and nowhere here");
    let out = cairn_local(dir.path()).args(["status"]).arg(&file).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains(&format!("s3://{bucket}/from-the-stack/{stack}.json")), "{stdout}");

    let out = cairn_local(dir.path()).args(["--state-dir", "elsewhere", "status"]).arg(&file).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&format!("elsewhere/{stack}.json")) && !text.contains("s3://"), "the flag wins: {text}");
    // An exported CAIRN_STATE_DIR does not: the stack file says where.
    let out = cairn_local(dir.path()).env("CAIRN_STATE_DIR", "elsewhere").arg("status").arg(&file).output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains(&format!("s3://{bucket}/from-the-stack/{stack}.json")), "the stack file wins: {text}");

    expect(&cairn_local(dir.path()).args(["destroy", "--yes"]).arg(&file).output()?, 0);
    assert!(stored(&bucket, &format!("from-the-stack/{stack}.json")).await.is_none());
    Ok(())
}

/// Whether any of the stack's physical ids (its queues' names and URLs)
/// can be read in `bytes`.
fn shows_physical_ids(bytes: &[u8], stack: &str) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains(&format!("{stack}-jobs")) || text.contains("/123456789012/")
}

/// Encrypted state in S3, with a passphrase: the bucket holds no physical
/// id in clear; a wrong passphrase, a missing one, or none configured is a
/// clear error (exit 3) that leaves the object as it was; `state decrypt`
/// is the way back.
#[tokio::test(flavor = "multi_thread")]
async fn encrypted_state_in_s3_hides_the_stack_and_a_wrong_passphrase_changes_nothing() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/sealed");
    let stack = emulator::unique_stack("sealed");
    let key = format!("sealed/{stack}.json");
    let (dir, file) = stack_file(&stack, &["jobs"])?;
    let run = |pass: Option<&str>, args: &[&str]| {
        let mut c = cairn_at(&emulator::endpoint(), dir.path(), &state);
        c.env("CAIRN_STATE_ENCRYPTION", "passphrase_env=CAIRN_TEST_PASS").env_remove("CAIRN_TEST_PASS");
        if let Some(p) = pass {
            c.env("CAIRN_TEST_PASS", p);
        }
        c.args(args).arg(&file).output()
    };
    expect(&run(Some("correct horse"), &["apply", "--yes"])?, 0);
    let (sealed, _) = stored(&bucket, &key).await.ok_or("no state in the bucket")?;
    assert!(!shows_physical_ids(&sealed, &stack), "{}", String::from_utf8_lossy(&sealed));
    assert!(String::from_utf8_lossy(&sealed).contains("\"cairn_encrypted\""));
    expect(&run(Some("correct horse"), &["plan", "--detailed-exitcode"])?, 0);

    let stderr = expect(&run(Some("battery staple"), &["apply", "--yes"])?, 3);
    assert!(stderr.contains("could not be decrypted: wrong passphrase in $CAIRN_TEST_PASS"), "{stderr}");
    let stderr = expect(&run(None, &["plan"])?, 3);
    assert!(stderr.contains("$CAIRN_TEST_PASS is not set"), "{stderr}");
    let mut plain = cairn_at(&emulator::endpoint(), dir.path(), &state);
    let stderr = expect(&plain.env_remove("CAIRN_STATE_ENCRYPTION").arg("status").arg(&file).output()?, 3);
    assert!(stderr.contains("is encrypted, and this run has no key"), "{stderr}");
    assert_eq!(stored(&bucket, &key).await.map(|(b, _)| b), Some(sealed), "nothing was written over it");

    let stderr = expect(&run(Some("correct horse"), &["state", "decrypt"])?, 0);
    assert!(stderr.contains("Decrypted the state"), "{stderr}");
    let (opened, _) = stored(&bucket, &key).await.ok_or("no state in the bucket")?;
    assert!(shows_physical_ids(&opened, &stack), "decrypted in place");
    let mut plain = cairn_at(&emulator::endpoint(), dir.path(), &state);
    expect(&plain.env_remove("CAIRN_STATE_ENCRYPTION").args(["destroy", "--yes"]).arg(&file).output()?, 0);
    Ok(())
}

/// Local state, then encryption with a KMS key: the plaintext state is
/// refused until `state encrypt`, then every run reads it with a data key
/// from KMS, and the file and its backup hold no physical id in clear.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_state_is_encrypted_in_place_with_a_kms_key() -> R {
    let stack = emulator::unique_stack("kmsstate");
    let (dir, file) = stack_file(&stack, &["jobs"])?;
    expect(&cairn_local(dir.path()).args(["apply", "--yes"]).arg(&file).output()?, 0);
    let key = clients().kms().await.create_key().send().await?;
    let arn = key.key_metadata().map(|m| m.arn().unwrap_or_default().to_string()).unwrap_or_default();
    let with_key = |args: &[&str]| {
        let mut c = cairn_local(dir.path());
        c.env("CAIRN_STATE_ENCRYPTION", format!("kms_key={arn}")).args(args).arg(&file);
        c.output()
    };
    let stderr = expect(&with_key(&["plan"])?, 3);
    assert!(stderr.contains("cairn state encrypt"), "a plaintext state is refused, with the way out: {stderr}");
    let stderr = expect(&with_key(&["state", "encrypt"])?, 0);
    assert!(stderr.contains("Encrypted the state"), "{stderr}");
    let local = dir.path().join(format!(".cairn/{stack}.json"));
    for path in [local.clone(), local.with_extension("json.bak")] {
        let bytes = std::fs::read(&path)?;
        assert!(!shows_physical_ids(&bytes, &stack), "{}: {}", path.display(), String::from_utf8_lossy(&bytes));
    }
    let envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&local)?)?;
    assert_eq!(envelope["kdf"]["name"], "kms", "{envelope:#}");
    assert_eq!(envelope["kdf"]["key_id"], arn.as_str(), "{envelope:#}");
    expect(&with_key(&["plan", "--detailed-exitcode"])?, 0);
    expect(&with_key(&["destroy", "--yes"])?, 0);
    assert!(!queue_exists(&format!("{stack}-jobs")).await);
    Ok(())
}

/// Ctrl-C during a plan (no apply running, so no watch of its own) ends
/// the run with 130 and removes its lock from the bucket: the OS would
/// release a local lock, but nothing releases an object.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_interrupted_with_state_in_s3_leaves_no_lock() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/team");
    let stack = emulator::unique_stack("intplan");
    let (dir, file) = stack_file(&stack, &["jobs"])?;
    expect(&cairn_at(&emulator::endpoint(), dir.path(), &state).args(["apply", "--yes"]).arg(&file).output()?, 0);

    let proxy = Proxy::start(&emulator::endpoint()).await?;
    proxy.set(Faults::scripted(vec![Scripted::new("sqs:*", 1, Fault::Hold { forward: false })]));
    let mut plan = cairn_at(&proxy.url(), dir.path(), &state);
    plan.args(["plan"]).arg(&file).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let child = tokio::process::Command::from(plan).kill_on_drop(true).spawn()?;
    tokio::time::timeout(Duration::from_secs(120), proxy.wait_held(1)).await?;
    assert!(stored(&bucket, &format!("team/{stack}.lock")).await.is_some(), "the plan holds the lock");
    let pid = child.id().ok_or("no pid")?.to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status()?.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("released the lock of stack"), "{stderr}");
    assert!(stored(&bucket, &format!("team/{stack}.lock")).await.is_none(), "no lock is left in the bucket");

    expect(&cairn_at(&emulator::endpoint(), dir.path(), &state).args(["destroy", "--yes"]).arg(&file).output()?, 0);
    Ok(())
}

/// Answers lost on the way back from S3 (the SDK sends the request again,
/// which then meets its own first try): the first lock, two saves and the
/// release each lose their answer, and the apply still succeeds, its state
/// whole and no lock left.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_from_the_bucket_are_taken_for_what_they_did() -> R {
    let bucket = bucket().await?;
    let state = format!("s3://{bucket}/lossy");
    let stack = emulator::unique_stack("lossy");
    let (dir, file) = stack_file(&stack, &["jobs", "results"])?;
    let proxy = Proxy::start(&emulator::endpoint()).await?;
    // The lock (the first PutObject), the first save of a state (the second:
    // If-None-Match), a later save (the fourth: If-Match) and the release
    // each lose their answer once, and the SDK's retry meets its first try.
    proxy.set(Faults::scripted(vec![
        Scripted::new("s3:PutObject", 1, Fault::LostResponse),
        Scripted::new("s3:PutObject", 1, Fault::LostResponse).after(1),
        Scripted::new("s3:PutObject", 1, Fault::LostResponse).after(2),
        Scripted::new("s3:DeleteObject", 1, Fault::LostResponse),
    ]));
    let out = cairn_at(&proxy.url(), dir.path(), &state)
        .args(["apply", "--yes", "--parallelism", "1"])
        .arg(&file)
        .output()?;
    let stderr = expect(&out, 0);
    assert!(stderr.contains("Apply complete"), "{stderr}");
    assert_eq!(
        proxy.stats().injected(cairn_testkit::proxy::injected::SCRIPTED),
        4,
        "every answer meant to be lost was"
    );
    assert!(stored(&bucket, &format!("lossy/{stack}.lock")).await.is_none(), "the lock is gone");
    let (bytes, _) = stored(&bucket, &format!("lossy/{stack}.json")).await.ok_or("no state")?;
    let saved: serde_json::Value = serde_json::from_slice(&bytes)?;
    assert_eq!(saved["resources"].as_object().map(|r| r.len()), Some(2), "{saved:#}");
    assert_eq!(saved["intents"], serde_json::Value::Null, "{saved:#}");
    let out = cairn_at(&emulator::endpoint(), dir.path(), &state)
        .args(["plan", "--detailed-exitcode"])
        .arg(&file)
        .output()?;
    expect(&out, 0);
    expect(&cairn_at(&emulator::endpoint(), dir.path(), &state).args(["destroy", "--yes"]).arg(&file).output()?, 0);
    Ok(())
}
