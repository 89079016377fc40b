//! Kill tests: the `cairn` binary is SIGKILLed at a chosen point, then run
//! again, and must converge with no duplicate and no orphan; `destroy`
//! afterwards must leave nothing of the stack.
//!
//! The points are made with the testkit's fault proxy: the first call
//! matching a pattern is held (`Fault::Hold`), after forwarding it or not,
//! and never answered; the test awaits the proxy's "held" signal, so the
//! kill lands exactly there, whatever the timing:
//!
//! - before a create reaches AWS (held unforwarded): state has the intent,
//!   AWS has nothing;
//! - after AWS made the resource and before cairn wrote it to state (held
//!   after forwarding): state has only the intent, AWS has the resource;
//! - in the middle of a destroy (the first `Delete*` call held after
//!   forwarding).
//!
//! Other operations in flight when the kill lands stop wherever they are,
//! as they would on a real crash. What exists is counted by direct SDK calls
//! to the emulator, not through the proxy.
//!
//! Needs moto: run with `AWS_ENDPOINT_URL` set (scripts/test does it).

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cairn::aws::state::{S3Connection, S3Place, S3State};
use cairn::aws::{AwsOptions, Clients};
use cairn::engine::state::StateBackend;
use cairn_testkit::emulator;

#[allow(dead_code)]
mod support;
use cairn_testkit::proxy::{Fault, Faults, Proxy, Scripted};

type R = Result<(), Box<dyn std::error::Error>>;
type Inventory = BTreeMap<&'static str, Vec<String>>;

/// Not for correctness: only so that a run that never reaches its hold point
/// fails instead of hanging.
const GUARD: Duration = Duration::from_secs(240);

struct Lab {
    file: &'static str,
    stack: &'static str,
    params: &'static [&'static str],
    /// What the applied stack is on AWS: each kind of thing, how many.
    expected: &'static [(&'static str, usize)],
}

const LAB6: Lab = Lab {
    file: "lab6-sqs-lambda.yaml",
    stack: "lab6-sqs-lambda",
    params: &[],
    expected: &[
        ("event source mapping", 1),
        ("function", 1),
        ("log group", 1),
        ("queue", 2),
        ("role", 1),
        ("role inline policy", 1),
    ],
};

const LAB1: Lab = Lab {
    file: "lab1-notifications.yaml",
    stack: "lab1-notifications",
    params: &["-p", "email=ops@example.com"],
    expected: &[("rule", 1), ("rule target", 1), ("subscription", 1), ("topic", 1)],
};

/// One lab stack under a unique name in a temporary directory, with its own
/// state directory.
struct Run {
    lab: &'static Lab,
    dir: tempfile::TempDir,
    stack: String,
    file: PathBuf,
    state_dir: PathBuf,
    /// State in this bucket (`--state s3://BUCKET/kill`) instead of
    /// `state_dir`.
    bucket: Option<String>,
}

impl Run {
    fn new(lab: &'static Lab, prefix: &str) -> Result<Run, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let stack = emulator::unique_stack(prefix);
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../stacks").join(lab.file);
        let text = std::fs::read_to_string(source)?;
        let from = format!("\nstack: {}\n", lab.stack);
        assert!(text.contains(&from), "{} names its stack `{}`", lab.file, lab.stack);
        let file = dir.path().join(lab.file);
        std::fs::write(&file, text.replace(&from, &format!("\nstack: {stack}\n")))?;
        let state_dir = dir.path().join("state");
        Ok(Run { lab, dir, stack, file, state_dir, bucket: None })
    }

    /// The same run with its state in a new versioned bucket.
    async fn in_s3(mut self) -> Result<Run, Box<dyn std::error::Error>> {
        let bucket = emulator::unique_stack("kill-state");
        let s3 = Clients::new(AwsOptions { endpoint_url: Some(emulator::endpoint()), ..AwsOptions::default() })
            .s3()
            .await
            .clone();
        support::versioned_bucket(&s3, &bucket).await?;
        self.bucket = Some(bucket);
        Ok(self)
    }

    /// The S3 state of the run, read as cairn reads it.
    fn s3_state(&self, bucket: &str) -> S3State {
        let conn =
            S3Connection::new(AwsOptions { endpoint_url: Some(emulator::endpoint()), ..AwsOptions::default() }, None);
        S3State::new(&conn, &S3Place { bucket: bucket.into(), prefix: "kill".into(), region: None }, &self.stack)
    }

    /// `cairn <args> FILE -p …` against `endpoint`.
    fn command(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
        c.env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env_remove("AWS_PROFILE")
            .env_remove("CAIRN_PARAM_EMAIL")
            .env("NO_COLOR", "1")
            .env_remove("CAIRN_STATE");
        match &self.bucket {
            Some(bucket) => c.arg("--state").arg(format!("s3://{bucket}/kill")),
            None => c.arg("--state-dir").arg(&self.state_dir),
        };
        c.args(args).stdin(Stdio::null());
        // A sweep takes no stack file: it finds the stack by its tags.
        if args.first() != Some(&"sweep") {
            c.arg(&self.file).args(self.lab.params);
        }
        c
    }

    /// Runs cairn straight against the emulator, to the end.
    fn cairn(&self, args: &[&str]) -> std::io::Result<Output> {
        self.command(&emulator::endpoint(), args).output()
    }

    /// Runs cairn through a proxy that holds the first call matching
    /// `pattern`, and SIGKILLs it once the call is held.
    async fn kill_at(&self, args: &[&str], pattern: &str, forward: bool) -> Result<Killed, Box<dyn std::error::Error>> {
        let proxy = Proxy::start(&emulator::endpoint()).await?;
        proxy.set(Faults::scripted(vec![Scripted::new(pattern, 1, Fault::Hold { forward })]));
        let log_path = self.dir.path().join("killed.log");
        let log = std::fs::File::create(&log_path)?;
        let mut cmd = self.command(&proxy.url(), args);
        cmd.stdout(Stdio::null()).stderr(log);
        let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn()?;
        let pid = child.id().unwrap_or(0);
        let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
        tokio::select! {
            () = proxy.wait_held(1) => {}
            status = child.wait() => {
                panic!("cairn {args:?} ended ({status:?}) before a `{pattern}` call was held:\n{}", log_text())
            }
            () = tokio::time::sleep(GUARD) => {
                let _ = child.start_kill();
                panic!("no `{pattern}` call was held within {GUARD:?}:\n{}", log_text())
            }
        }
        child.start_kill()?;
        let status = child.wait().await?;
        assert_eq!(status.signal(), Some(9), "cairn was killed by SIGKILL, not ended otherwise: {status:?}");
        let held = proxy.stats().held;
        assert_eq!(held.len(), 1, "{held:?}");
        Ok(Killed { pid, held: held.concat(), log: log_text() })
    }

    /// State in S3: removes the lock a killed run left, as a user would.
    /// A plain run is refused and told the lock's id, a plain unlock only
    /// names it, another id leaves it; unlock with its id removes it and
    /// shows the holder. Returns what that unlock printed.
    fn unlock_left_by(&self, killed: &Killed) -> Result<String, Box<dyn std::error::Error>> {
        let out = self.cairn(&["apply", "--yes"])?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "a plain run never breaks the lock:\n{stderr}");
        assert!(stderr.contains(&format!("locked by a running cairn: pid {} on host ", killed.pid)), "{stderr}");
        let id: String = stderr
            .split("--lock-id ")
            .nth(1)
            .map(|rest| rest.chars().take_while(char::is_ascii_alphanumeric).collect())
            .unwrap_or_default();
        assert_eq!(id.len(), 16, "the refusal gives the lock id: {stderr}");

        let out = self.cairn(&["state", "unlock"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "without the id, unlock leaves the lock:\n{stderr}");
        assert!(stderr.contains(&format!("--lock-id {id}")), "{stderr}");
        let out = self.cairn(&["state", "unlock", "--lock-id", "0000000000000000"])?;
        assert_eq!(out.status.code(), Some(3), "another id leaves it too");

        let out = self.cairn(&["state", "unlock", "--lock-id", &id])?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stderr.contains(&format!("Removed the lock of stack {}", self.stack)), "{stderr}");
        assert!(stderr.contains(&format!("held by pid {} on host ", killed.pid)), "shows the holder: {stderr}");
        Ok(stderr)
    }

    fn state(&self) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let bytes = match &self.bucket {
            Some(bucket) => self.s3_state(bucket).read()?.ok_or("no state in the bucket")?.bytes,
            None => std::fs::read(self.state_dir.join(format!("{}.json", self.stack)))?,
        };
        Ok(serde_json::from_slice(&bytes)?)
    }

    fn state_exists(&self) -> bool {
        match &self.bucket {
            Some(bucket) => self.s3_state(bucket).exists().unwrap_or(true),
            None => self.state_dir.join(format!("{}.json", self.stack)).exists(),
        }
    }

    /// What exists of the stack, counted per kind of thing.
    async fn counts(&self) -> Result<BTreeMap<&'static str, usize>, Box<dyn std::error::Error>> {
        Ok(inventory(&self.stack).await?.into_iter().map(|(k, v)| (k, v.len())).collect())
    }

    fn expected(&self) -> BTreeMap<&'static str, usize> {
        self.lab.expected.iter().copied().collect()
    }

    /// The re-run: `apply --yes` straight to the emulator succeeds (and
    /// adopts `adopted`, the things of one kind an interrupted create made),
    /// every resource exists exactly once, a plan shows no change, and
    /// `destroy` leaves nothing.
    async fn converges(&self, adopted: (&str, Vec<String>)) -> R {
        let before = self.state()?["serial"].as_u64().unwrap_or(0);
        let out = self.cairn(&["apply", "--yes"])?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "re-run apply:\n{stderr}");
        assert!(stderr.contains("an earlier create did not finish"), "the plan names the intent:\n{stderr}");
        let state = self.state()?;
        let after = state["serial"].as_u64().unwrap_or(0);
        assert!(after > before, "the re-run moves the state's serial on: {before} then {after}");
        assert_eq!(state["intents"], serde_json::Value::Null, "intents left in state: {state:#}");
        let inventory = inventory(&self.stack).await?;
        let counts: BTreeMap<_, _> = inventory.iter().map(|(k, v)| (*k, v.len())).collect();
        assert_eq!(counts, self.expected(), "live resources of {}: {inventory:#?}", self.stack);
        let (kind, before) = adopted;
        let now = inventory.get(kind).cloned().unwrap_or_default();
        assert!(before.iter().all(|b| now.contains(b)), "what the killed run made is kept: {before:?} in {now:?}");
        // What state records is what exists: each physical id is live.
        let all: Vec<&String> = inventory.values().flatten().collect();
        for (id, r) in state["resources"].as_object().into_iter().flatten() {
            let physical = r["physical_id"].as_str().unwrap_or_default();
            let name = physical.rsplit([':', '/']).next().unwrap_or(physical);
            assert!(all.iter().any(|live| live.contains(name)), "{id} ({physical}) is not live: {inventory:#?}");
        }

        let out = self.cairn(&["plan", "--detailed-exitcode"])?;
        assert_eq!(out.status.code(), Some(0), "plan after the re-run:\n{}", String::from_utf8_lossy(&out.stderr));
        self.destroys().await
    }

    /// `destroy --yes` succeeds and leaves nothing, in AWS or in state.
    async fn destroys(&self) -> R {
        let out = self.cairn(&["destroy", "--yes"])?;
        assert_eq!(out.status.code(), Some(0), "destroy:\n{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(inventory(&self.stack).await?, Inventory::new(), "destroy left resources of {}", self.stack);
        assert!(!self.state_exists(), "state removed once nothing is left");
        Ok(())
    }
}

struct Killed {
    pid: u32,
    /// The label of the held call.
    held: String,
    /// What the killed run printed.
    log: String,
}

/// Everything of `stack` on the emulator for the kinds labs 1 and 6 use,
/// found by the stack-prefixed names every resource of theirs has.
async fn inventory(stack: &str) -> Result<Inventory, Box<dyn std::error::Error>> {
    let c = Clients::new(AwsOptions { endpoint_url: Some(emulator::endpoint()), ..AwsOptions::default() });
    let prefix = format!("{stack}-");
    let mut found = Inventory::new();
    let mut add = |kind: &'static str, name: String| found.entry(kind).or_default().push(name);

    for q in c.sqs().await.list_queues().queue_name_prefix(&prefix).send().await?.queue_urls() {
        add("queue", q.clone());
    }
    let lambda = c.lambda().await;
    let mut functions = lambda.list_functions().into_paginator().items().send();
    while let Some(f) = functions.next().await {
        let name = f?.function_name().unwrap_or_default().to_string();
        if name.starts_with(&prefix) {
            add("function", name);
        }
    }
    let mut mappings = lambda.list_event_source_mappings().into_paginator().items().send();
    while let Some(m) = mappings.next().await {
        let m = m?;
        if m.function_arn().unwrap_or_default().contains(&format!(":function:{prefix}")) {
            add("event source mapping", m.uuid().unwrap_or_default().to_string());
        }
    }
    let logs = c.logs().await;
    for g in
        logs.describe_log_groups().log_group_name_prefix(format!("/aws/lambda/{prefix}")).send().await?.log_groups()
    {
        add("log group", g.log_group_name().unwrap_or_default().to_string());
    }
    let iam = c.iam().await;
    let mut roles = iam.list_roles().into_paginator().items().send();
    while let Some(role) = roles.next().await {
        let name = role?.role_name().to_string();
        if name.starts_with(&prefix) {
            for policy in iam.list_role_policies().role_name(&name).send().await?.policy_names() {
                add("role inline policy", format!("{name}/{policy}"));
            }
            add("role", name);
        }
    }
    let sns = c.sns().await;
    let named = |arn: &str| arn.rsplit(':').next().is_some_and(|n| n.starts_with(&prefix));
    let mut topics = sns.list_topics().into_paginator().items().send();
    while let Some(t) = topics.next().await {
        let arn = t?.topic_arn().unwrap_or_default().to_string();
        if named(&arn) {
            add("topic", arn);
        }
    }
    let mut subscriptions = sns.list_subscriptions().into_paginator().items().send();
    while let Some(s) = subscriptions.next().await {
        let s = s?;
        if named(s.topic_arn().unwrap_or_default()) {
            add("subscription", s.subscription_arn().unwrap_or_default().to_string());
        }
    }
    let events = c.events().await;
    for r in events.list_rules().name_prefix(&prefix).send().await?.rules() {
        let name = r.name().unwrap_or_default().to_string();
        for t in events.list_targets_by_rule().rule(&name).send().await?.targets() {
            add("rule target", format!("{name}/{}", t.id()));
        }
        add("rule", name);
    }
    Ok(found)
}

/// Apply killed at a create, then checked right after the kill: the create's
/// intent is in state and the resource is not; AWS has it exactly when the
/// call was forwarded. Then the run converges.
async fn apply_killed_at_create(run: Run, pattern: &str, forward: bool, resource: &str, thing: &str) -> R {
    let killed = run.kill_at(&["apply", "--yes"], pattern, forward).await?;
    assert!(killed.held.ends_with(pattern.rsplit(':').next().unwrap_or(pattern)), "{}", killed.held);

    let state = run.state()?;
    assert!(state["intents"].get(resource).is_some(), "no intent for {resource} after the kill: {state:#}");
    assert!(state["resources"].get(resource).is_none(), "{resource} recorded before its create answered");
    let live = inventory(&run.stack).await?.remove(thing).unwrap_or_default();
    assert_eq!(live.len(), usize::from(forward), "{thing}s live after the kill (forwarded: {forward}): {live:?}");

    if run.bucket.is_some() {
        // A lock object in S3 outlives its killed run: it goes by its id.
        let unlocked = run.unlock_left_by(&killed)?;
        assert!(unlocked.contains(resource), "names the unfinished create: {unlocked}");
        return run.converges((thing, live)).await;
    }
    // The killed run's lock is gone with it; its note names it.
    let out = run.cairn(&["state", "unlock"])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("is not locked"), "{stderr}");
    assert!(stderr.contains(&format!("pid {} on host ", killed.pid)), "{stderr}\nkilled run:\n{}", killed.log);
    assert!(stderr.contains("running `cairn apply`"), "{stderr}");
    assert!(stderr.contains(resource), "the interrupted create is named: {stderr}{stdout}");

    run.converges((thing, live)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_before_create_function_reaches_aws() -> R {
    apply_killed_at_create(Run::new(&LAB6, "k6a")?, "lambda:CreateFunction", false, "worker", "function").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_before_create_mapping_reaches_aws() -> R {
    apply_killed_at_create(
        Run::new(&LAB6, "k6b")?,
        "lambda:CreateEventSourceMapping",
        false,
        "trigger",
        "event source mapping",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_after_aws_made_the_mapping() -> R {
    apply_killed_at_create(
        Run::new(&LAB6, "k6c")?,
        "lambda:CreateEventSourceMapping",
        true,
        "trigger",
        "event source mapping",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_after_aws_made_the_function() -> R {
    apply_killed_at_create(Run::new(&LAB6, "k6d")?, "lambda:CreateFunction", true, "worker", "function").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_after_aws_made_the_role() -> R {
    apply_killed_at_create(Run::new(&LAB6, "k6e")?, "iam:CreateRole", true, "role", "role").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_after_aws_made_the_dead_letter_queue() -> R {
    // The jobs queue names the dead-letter queue: the first queue created is it.
    apply_killed_at_create(Run::new(&LAB6, "k6f")?, "sqs:CreateQueue", true, "dead-letters", "queue").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_apply_killed_before_subscribe_reaches_aws() -> R {
    apply_killed_at_create(Run::new(&LAB1, "k1a")?, "sns:Subscribe", false, "ops-email", "subscription").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_apply_killed_after_aws_made_the_subscription() -> R {
    apply_killed_at_create(Run::new(&LAB1, "k1b")?, "sns:Subscribe", true, "ops-email", "subscription").await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_apply_killed_after_aws_made_the_rule() -> R {
    apply_killed_at_create(Run::new(&LAB1, "k1c")?, "events:PutRule", true, "ec2-state", "rule").await
}

// With state in S3, a killed apply leaves its lock object: S3 cannot know
// the run is gone (see `Run::unlock_left_by`).

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_with_state_in_s3_is_unlocked_by_its_lock_id() -> R {
    apply_killed_at_create(Run::new(&LAB6, "k6s")?.in_s3().await?, "lambda:CreateFunction", true, "worker", "function")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_killed_before_a_mapping_reaches_aws_with_state_in_s3() -> R {
    apply_killed_at_create(
        Run::new(&LAB6, "k6t")?.in_s3().await?,
        "lambda:CreateEventSourceMapping",
        false,
        "trigger",
        "event source mapping",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_apply_killed_after_aws_made_the_subscription_with_state_in_s3() -> R {
    apply_killed_at_create(Run::new(&LAB1, "k1s")?.in_s3().await?, "sns:Subscribe", true, "ops-email", "subscription")
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_destroy_killed_after_its_first_delete_with_state_in_s3() -> R {
    destroy_killed_at_first_delete(Run::new(&LAB6, "k6u")?.in_s3().await?).await
}

/// Destroy killed once its first `Delete*` call has reached AWS: a resource
/// is gone from AWS but still in state. Destroy again finishes the job.
async fn destroy_killed_at_first_delete(run: Run) -> R {
    let out = run.cairn(&["apply", "--yes"])?;
    assert_eq!(out.status.code(), Some(0), "apply:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run.counts().await?, run.expected());

    let killed = run.kill_at(&["destroy", "--yes"], "Delete*", true).await?;
    let held = killed.held.rsplit(':').next().unwrap_or_default();
    assert!(held.starts_with("Delete"), "{}", killed.held);
    // The window: state still names a resource that AWS no longer has.
    let state = run.state()?;
    let found = inventory(&run.stack).await?;
    let live: Vec<&String> = found.values().flatten().collect();
    let gone: Vec<&String> = state["resources"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, r)| {
            let physical = r["physical_id"].as_str().unwrap_or_default();
            let name = physical.rsplit([':', '/']).next().unwrap_or(physical);
            !live.iter().any(|l| l.contains(name))
        })
        .map(|(id, _)| id)
        .collect();
    assert!(!gone.is_empty(), "no resource deleted in AWS and still in state: {state:#}\n{}", killed.log);

    if run.bucket.is_some() {
        run.unlock_left_by(&killed)?;
    }
    let out = run.cairn(&["destroy", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "destroy again:\n{stderr}");
    // A local lock's note outlives its killed holder, and the next run
    // says so; in S3, the note went with the lock `state unlock` removed.
    let noted = stderr.contains(&format!(
        "an earlier run on this stack did not end normally (killed or crashed): pid {}",
        killed.pid
    ));
    assert_eq!(noted, run.bucket.is_none(), "{stderr}");
    assert_eq!(inventory(&run.stack).await?, Inventory::new(), "destroy left resources of {}", run.stack);
    assert!(!run.state_exists(), "state removed once nothing is left");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lab6_destroy_killed_after_its_first_delete() -> R {
    destroy_killed_at_first_delete(Run::new(&LAB6, "k6g")?).await
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_destroy_killed_after_its_first_delete() -> R {
    destroy_killed_at_first_delete(Run::new(&LAB1, "k1d")?).await
}

/// A user whose apply was killed may go straight to `destroy`. What the
/// interrupted create made is in AWS with only an intent in state, which
/// holds no id to delete it by: destroy removes what it tracks, says what it
/// cannot, fails, and keeps the intent (it used to drop the state file and
/// report success, leaving the mapping orphaned). An apply adopts the
/// mapping; destroy then leaves nothing.
#[tokio::test(flavor = "multi_thread")]
async fn destroy_right_after_a_killed_apply_keeps_track_of_the_unfinished_create() -> R {
    let run = Run::new(&LAB6, "k6h")?;
    run.kill_at(&["apply", "--yes"], "lambda:CreateEventSourceMapping", true).await?;
    let left_mapping = inventory(&run.stack).await?.remove("event source mapping").unwrap_or_default();
    assert_eq!(left_mapping.len(), 1, "{left_mapping:?}");

    let out = run.cairn(&["destroy", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("state records 1 create(s) that did not finish: trigger (aws:lambda:EventSourceMapping)"),
        "{stderr}"
    );
    let state = run.state()?;
    assert!(state["intents"].get("trigger").is_some(), "the intent is kept: {state:#}");
    assert_eq!(state["resources"], serde_json::json!({}), "{state:#}");
    let left: BTreeMap<_, _> = run.counts().await?;
    assert_eq!(left, BTreeMap::from([("event source mapping", 1)]), "only the untracked mapping is left");

    // Destroy again changes nothing and says the same.
    let bytes = std::fs::read(run.state_dir.join(format!("{}.json", run.stack)))?;
    let out = run.cairn(&["destroy", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("then `cairn destroy` again"), "{stderr}");
    assert_eq!(std::fs::read(run.state_dir.join(format!("{}.json", run.stack)))?, bytes);

    run.converges(("event source mapping", left_mapping)).await
}

/// The first Ctrl-C (SIGINT) starts nothing new, lets the operations in
/// flight finish, saves state and exits 130; the re-run finishes the job.
/// Every call is slowed to a second so that the interrupt lands while the
/// function is being created and before the mapping (which needs it) starts.
#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_interrupted_once_finishes_what_is_in_flight_and_starts_nothing_new() -> R {
    let run = Run::new(&LAB6, "int6")?;
    let proxy = Proxy::start(&emulator::endpoint()).await?;
    proxy.set(Faults::latency(Duration::from_secs(1)));
    let log_path = run.dir.path().join("interrupted.log");
    let mut cmd = run.command(&proxy.url(), &["apply", "--yes", "-v"]);
    cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log_path)?);
    let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap_or(0).to_string();
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Wait (bounded) until the function's create has started.
    let started = tokio::time::Instant::now();
    while !log_text().contains("creating worker") {
        assert!(started.elapsed() < GUARD, "the function's create never started:\n{}", log_text());
        assert!(child.try_wait()?.is_none(), "cairn ended before creating the function:\n{}", log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = Command::new("kill").args(["-INT", &pid]).status()?;
    assert!(sent.success(), "could not send SIGINT to {pid}");
    let status = tokio::select! {
        status = child.wait() => status?,
        () = tokio::time::sleep(GUARD) => panic!("cairn did not stop after one interrupt:\n{}", log_text()),
    };
    let log = log_text();
    assert_eq!(status.code(), Some(130), "exit code after one interrupt:\n{log}");
    assert!(log.contains("interrupt: starting nothing new"), "{log}");

    // The function in flight finished and is recorded; the mapping never started.
    let state = run.state()?;
    assert!(state["resources"].get("worker").is_some(), "the in-flight create was saved: {state:#}");
    assert!(state["resources"].get("trigger").is_none(), "{state:#}");
    assert_eq!(state["intents"], serde_json::Value::Null, "no create left unfinished: {state:#}");
    assert!(!log.contains("creating trigger ("), "the mapping started after the interrupt:\n{log}");
    assert!(log.contains("skipped: creating trigger: interrupted"), "the summary names the skip:\n{log}");
    let counts = run.counts().await?;
    assert_eq!(counts.get("event source mapping").copied().unwrap_or(0), 0, "{counts:?}");
    assert_eq!(counts.get("function").copied(), Some(1), "{counts:?}");

    // The re-run creates the rest, and only the rest.
    let out = run.cairn(&["apply", "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "re-run apply:\n{stderr}");
    assert!(stderr.contains("1 to create"), "only the mapping is left to create:\n{stderr}");
    assert_eq!(run.counts().await?, run.expected());
    let out = run.cairn(&["plan", "--detailed-exitcode"])?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    run.destroys().await
}

/// A second Ctrl-C aborts at once, even with a call that never answers; the
/// create it interrupted stays recorded as an intent, and the re-run adopts
/// or makes it.
#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_interrupted_twice_aborts_and_the_rerun_converges() -> R {
    interrupted_twice(Run::new(&LAB6, "int6b")?).await
}

/// The same with state in S3, whose lock object no OS removes: the abort
/// removes it on its way out, so the re-run needs no unlock.
#[tokio::test(flavor = "multi_thread")]
async fn lab6_apply_interrupted_twice_with_state_in_s3_leaves_no_lock() -> R {
    interrupted_twice(Run::new(&LAB6, "int6s")?.in_s3().await?).await
}

async fn interrupted_twice(run: Run) -> R {
    let proxy = Proxy::start(&emulator::endpoint()).await?;
    proxy.set(Faults::scripted(vec![Scripted::new("lambda:CreateFunction", 1, Fault::Hold { forward: false })]));
    let log_path = run.dir.path().join("aborted.log");
    let mut cmd = run.command(&proxy.url(), &["apply", "--yes"]);
    cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log_path)?);
    let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap_or(0).to_string();
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();
    tokio::select! {
        () = proxy.wait_held(1) => {}
        () = tokio::time::sleep(GUARD) => panic!("CreateFunction was never held:\n{}", log_text()),
    }
    assert!(Command::new("kill").args(["-INT", &pid]).status()?.success());
    let started = tokio::time::Instant::now();
    while !log_text().contains("interrupt: starting nothing new") {
        assert!(started.elapsed() < GUARD, "the first interrupt was not acknowledged:\n{}", log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The held call never answers: only the second interrupt ends the run.
    assert!(child.try_wait()?.is_none(), "cairn ended with a call still in flight:\n{}", log_text());
    assert!(Command::new("kill").args(["-INT", &pid]).status()?.success());
    let status = tokio::select! {
        status = child.wait() => status?,
        () = tokio::time::sleep(GUARD) => panic!("cairn did not abort on the second interrupt:\n{}", log_text()),
    };
    let log = log_text();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(log.contains("aborted"), "{log}");
    if run.bucket.is_some() {
        assert!(log.contains("released the lock of stack"), "{log}");
    }
    let state = run.state()?;
    assert!(state["intents"].get("worker").is_some(), "the interrupted create is recorded: {state:#}");
    run.converges(("function", Vec::new())).await
}

/// Several stacks in one apply share one Ctrl-C: the first stops both from
/// starting anything new (said once), each saves what finished, and the
/// re-run of the same command finishes both.
#[tokio::test(flavor = "multi_thread")]
async fn two_stacks_applied_together_stop_together_on_one_interrupt() -> R {
    let run6 = Run::new(&LAB6, "many6")?;
    let mut run1 = Run::new(&LAB1, "many1")?;
    run1.state_dir = run6.state_dir.clone();
    let proxy = Proxy::start(&emulator::endpoint()).await?;
    proxy.set(Faults::latency(Duration::from_secs(1)));
    let log_path = run6.dir.path().join("interrupted.log");
    let both = |endpoint: &str, args: &[&str]| {
        let mut c = run6.command(endpoint, args);
        c.arg(&run1.file).args(LAB1.params);
        c
    };
    let mut cmd = both(&proxy.url(), &["apply", "--yes", "-v"]);
    cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log_path)?);
    let mut child = tokio::process::Command::from(cmd).kill_on_drop(true).spawn()?;
    let pid = child.id().unwrap_or(0).to_string();
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let worker = format!("creating {}/worker", run6.stack);
    let started = tokio::time::Instant::now();
    while !log_text().contains(&worker) {
        assert!(started.elapsed() < GUARD, "the function's create never started:\n{}", log_text());
        assert!(child.try_wait()?.is_none(), "cairn ended before creating the function:\n{}", log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Command::new("kill").args(["-INT", &pid]).status()?.success(), "could not send SIGINT to {pid}");
    let status = tokio::select! {
        status = child.wait() => status?,
        () = tokio::time::sleep(GUARD) => panic!("cairn did not stop after one interrupt:\n{}", log_text()),
    };
    let log = log_text();
    assert_eq!(status.code(), Some(130), "exit code after one interrupt:\n{log}");
    assert_eq!(log.matches("interrupt: starting nothing new").count(), 1, "one watch for both stacks:\n{log}");
    assert!(log.contains("skipped: creating trigger: interrupted"), "lab 6 names its skip:\n{log}");
    for run in [&run6, &run1] {
        let state = run.state()?;
        assert_eq!(state["intents"], serde_json::Value::Null, "{}: no create left unfinished: {state:#}", run.stack);
    }
    assert!(run6.state()?["resources"].get("worker").is_some(), "the in-flight create was saved");

    let out = both(&emulator::endpoint(), &["apply", "--yes"]).output()?;
    assert_eq!(out.status.code(), Some(0), "re-run apply:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(run6.counts().await?, run6.expected());
    assert_eq!(run1.counts().await?, run1.expected());
    let out = both(&emulator::endpoint(), &["plan", "--detailed-exitcode"]).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = both(&emulator::endpoint(), &["destroy", "--yes"]).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for run in [&run6, &run1] {
        assert_eq!(inventory(&run.stack).await?, Inventory::new(), "destroy left resources of {}", run.stack);
        assert!(!run.state_exists(), "state removed once nothing is left");
    }
    Ok(())
}

/// A sweep of a stack whose state is lost, killed once its first delete
/// reached AWS (issue 16): run again, it finds by their tags what is left
/// and finishes; nothing of the stack remains.
#[tokio::test(flavor = "multi_thread")]
async fn lab6_sweep_killed_half_way_finishes_when_run_again() -> R {
    let run = Run::new(&LAB6, "k6s")?;
    let out = run.cairn(&["apply", "--yes"])?;
    assert_eq!(out.status.code(), Some(0), "apply:\n{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&run.state_dir)?;

    let killed = run.kill_at(&["sweep", "--stack", run.stack.as_str(), "--yes"], "Delete*", true).await?;
    assert!(killed.held.rsplit(':').next().unwrap_or_default().starts_with("Delete"), "{}", killed.held);
    let left: usize = run.counts().await?.values().sum();
    let all: usize = run.expected().values().sum();
    assert!(left > 0 && left < all, "half-way: {left} of {all} things left\n{}", killed.log);

    let out = run.cairn(&["sweep", "--stack", run.stack.as_str(), "--yes"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "sweep again:\n{stderr}");
    assert!(stderr.contains("nothing of 1 stack(s) is left"), "{stderr}");
    assert_eq!(run.counts().await?, BTreeMap::new(), "{stderr}");
    Ok(())
}
