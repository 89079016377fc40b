//! The reconcile contract through the binary, on the emulator (issue 15):
//! protect and retain are read from the stack on every plan, a `moved`
//! entry renames without touching AWS, removing a resource that holds data
//! warns, a second state of a stack refuses to adopt the first's resources,
//! a resource deleted outside cairn is planned as such, and the `state`
//! commands inspect and repair state.

use std::path::{Path, PathBuf};
use std::process::Output;

use cairn_testkit::emulator;

#[allow(dead_code)]
mod support;
use support::{cairn, clients, expect, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A stack file in a temporary directory, rewritten by [`Rig::write`].
struct Rig {
    dir: tempfile::TempDir,
    file: PathBuf,
    state: PathBuf,
    stack: String,
}

impl Rig {
    fn new(prefix: &str) -> Result<Rig, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("stack.yaml");
        let state = dir.path().join("state");
        Ok(Rig { dir, file, state, stack: emulator::unique_stack(prefix) })
    }
    /// Writes the stack: `stack: <name>` then `body`.
    fn write(&self, body: &str) -> R {
        std::fs::write(&self.file, format!("stack: {}\n{body}", self.stack))?;
        Ok(())
    }
    /// Runs `cairn ARGS STACK.yaml` against this rig's state.
    fn run(&self, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        self.run_in(&self.state, args)
    }
    fn run_in(&self, state: &Path, args: &[&str]) -> Result<Output, Box<dyn std::error::Error>> {
        Ok(cairn(state).args(args).arg(&self.file).output()?)
    }
    fn state_json(&self) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        Ok(serde_json::from_str(&std::fs::read_to_string(self.state.join(format!("{}.json", self.stack)))?)?)
    }
    fn queue_name(&self, id: &str) -> String {
        format!("{}-{id}", self.stack)
    }
}

/// The URL of queue `name`, if it exists.
fn queue_url(name: &str) -> Option<String> {
    runtime().block_on(async {
        let c = clients();
        c.sqs().await.get_queue_url().queue_name(name).send().await.ok().and_then(|o| o.queue_url().map(String::from))
    })
}

fn send_message(url: &str) {
    runtime().block_on(async {
        let c = clients();
        c.sqs().await.send_message().queue_url(url).message_body("keep me").send().await.expect("a message sent");
    });
}

fn delete_queue(url: &str) {
    runtime().block_on(async {
        let c = clients();
        c.sqs().await.delete_queue().queue_url(url).send().await.expect("the queue deleted");
    });
}

const TOPIC_AND_QUEUE: &str = "resources:
  alerts:
    type: aws:sns:Topic
    PROTECT
  jobs:
    type: aws:sqs:Queue
  feed:
    type: aws:sns:Subscription
    properties:
      topic: ${alerts.arn}
      protocol: sqs
      endpoint: ${jobs.arn}
";

fn topic_and_queue(protect: bool) -> String {
    TOPIC_AND_QUEUE.replace("PROTECT", if protect { "protect: true" } else { "" })
}

/// Seen: removing `protect: true` from a resource whose props did not
/// change left it protected in state; destroy then deleted its dependents
/// first and failed on it.
#[test]
fn protect_is_read_from_the_stack_on_every_plan_and_destroy_refuses_up_front() -> R {
    let rig = Rig::new("prot")?;
    rig.write(&topic_and_queue(true))?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    assert_eq!(rig.state_json()?["resources"]["alerts"]["protect"], true);

    // Destroy while protected: refused before anything is deleted.
    let stderr = expect(&rig.run(&["destroy", "--yes"])?, 1);
    assert!(stderr.contains("`alerts` is protected"), "{stderr}");
    assert!(!stderr.contains("deleted"), "destroy deleted something: {stderr}");
    let resources = rig.state_json()?["resources"].as_object().map(|m| m.len());
    assert_eq!(resources, Some(3), "destroy touched nothing");

    // Only the option changes: the plan says so, and apply records it.
    rig.write(&topic_and_queue(false))?;
    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("protect: true -> false"), "{stderr}");
    expect(&rig.run(&["apply", "--yes"])?, 0);
    assert_eq!(rig.state_json()?["resources"]["alerts"].get("protect"), None);
    let out = rig.run(&["status"])?;
    assert!(!text(&out.stdout).contains("protect"), "{}", text(&out.stdout));

    expect(&rig.run(&["destroy", "--yes"])?, 0);
    assert_eq!(queue_url(&rig.queue_name("jobs")), None);
    Ok(())
}

/// Seen: a replace of a protected resource was planned with no warning.
#[test]
fn a_replace_of_a_protected_resource_fails_the_plan() -> R {
    let rig = Rig::new("protrep")?;
    let body = "resources:\n  jobs:\n    type: aws:sqs:Queue\n    protect: true\n    properties:\n      fifo: FIFO\n";
    rig.write(&body.replace("FIFO", "false"))?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let url = queue_url(&rig.queue_name("jobs")).ok_or("no queue")?;
    // A FIFO queue's name ends in .fifo: name and fifo change, a replace.
    rig.write(&body.replace("FIFO", "true"))?;
    for args in [&["plan"][..], &["apply", "--yes"]] {
        let stderr = expect(&rig.run(args)?, 1);
        assert!(stderr.contains("`jobs` is protected and would be replaced"), "{args:?}: {stderr}");
    }
    assert_eq!(queue_url(&rig.queue_name("jobs")).as_deref(), Some(url.as_str()), "the queue is untouched");
    rig.write(&body.replace("FIFO", "false").replace("protect: true", "protect: false"))?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

/// Seen: renaming a resource id planned a delete and a create of the queue,
/// losing its messages, with no warning and no way to say it moved.
#[test]
fn moved_renames_in_state_and_a_delete_that_loses_messages_warns() -> R {
    let rig = Rig::new("moved")?;
    rig.write(
        "resources:\n  jobs:\n    type: aws:sqs:Queue\n    properties:\n      name: NAME\n"
            .replace("NAME", &rig.queue_name("q"))
            .as_str(),
    )?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let url = queue_url(&rig.queue_name("q")).ok_or("no queue")?;
    send_message(&url);

    // Renamed without `moved`: a delete that loses the message, said so.
    let renamed = "resources:\n  work:\n    type: aws:sqs:Queue\n    properties:\n      name: NAME\n"
        .replace("NAME", &rig.queue_name("q"));
    rig.write(&renamed)?;
    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("warning: deleting `jobs` (aws:sqs:Queue) loses what it holds: 1 message"), "{stderr}");

    // With `moved`: no delete, no create, the state rewritten.
    rig.write(&format!("{renamed}moved:\n  - from: jobs\n    to: work\n"))?;
    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("moved jobs -> work"), "{stderr}");
    assert!(!stderr.contains("to create") || stderr.contains("0 to create"), "{stderr}");
    assert!(!stderr.contains("loses what it holds"), "{stderr}");
    let stderr = expect(&rig.run(&["apply", "--yes"])?, 0);
    assert!(!stderr.contains("deleted") && !stderr.contains("created"), "{stderr}");
    let state = rig.state_json()?;
    assert_eq!(state["resources"]["work"]["physical_id"], url.as_str());
    assert_eq!(state["resources"].get("jobs"), None);
    // Done: the entry now does nothing.
    let out = rig.run(&["plan", "--detailed-exitcode"])?;
    expect(&out, 0);
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

/// A `moved` entry that does not fit is reported at its line and column.
#[test]
fn moved_entries_that_do_not_fit_are_located() -> R {
    let rig = Rig::new("movedbad")?;
    rig.write("resources:\n  work:\n    type: aws:sqs:Queue\nmoved:\n  - from: jobs\n    to: wrok\n")?;
    let out = cairn(&rig.state).arg("validate").arg(&rig.file).output()?;
    let stderr = expect(&out, 2);
    assert!(stderr.contains("`to: wrok` is not a resource of the stack"), "{stderr}");
    assert!(stderr.contains("stack.yaml:7:9"), "{stderr}");
    assert!(stderr.contains("did you mean `work`?"), "{stderr}");
    Ok(())
}

/// Seen: from another directory, destroy said "Nothing to destroy" while
/// the stack was live, and apply then adopted the live resources.
#[test]
fn a_second_state_refuses_to_adopt_the_first_ones_resources() -> R {
    let rig = Rig::new("lineage")?;
    rig.write("resources:\n  jobs:\n    type: aws:sqs:Queue\n")?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let lineage = rig.state_json()?["lineage"].as_str().ok_or("no lineage")?.to_string();
    let url = queue_url(&rig.queue_name("jobs")).ok_or("no queue")?;

    let other = rig.dir.path().join("elsewhere");
    let stderr = expect(&rig.run_in(&other, &["plan"])?, 0);
    assert!(stderr.contains(&format!("state {}", other.join(format!("{}.json", rig.stack)).display())), "{stderr}");
    let stderr = expect(&rig.run_in(&other, &["destroy", "--yes"])?, 0);
    assert!(stderr.contains("if it was applied with another state"), "{stderr}");
    let stderr = expect(&rig.run_in(&other, &["apply", "--yes"])?, 1);
    assert!(!stderr.contains("✓ created"), "{stderr}");
    assert!(stderr.contains("tagged as resource `jobs`"), "{stderr}");
    assert!(stderr.contains(&format!("state lineage {lineage}")), "{stderr}");
    assert!(stderr.contains("--adopt"), "{stderr}");

    // --adopt takes it over; the first state then forgets it.
    let stderr = expect(&rig.run_in(&other, &["apply", "--yes", "--adopt"])?, 0);
    assert!(stderr.contains("created jobs"), "{stderr}");
    expect(&rig.run(&["state", "rm", "jobs"])?, 0);
    expect(&rig.run_in(&other, &["destroy", "--yes"])?, 0);
    assert_eq!(queue_url(&rig.queue_name("jobs")), None, "{url}");
    Ok(())
}

/// Seen: a resource deleted outside cairn is planned as a bare create, and
/// status keeps showing its outputs.
#[test]
fn a_resource_deleted_outside_cairn_is_planned_as_such_and_its_outputs_are_stale() -> R {
    let rig = Rig::new("vanish")?;
    rig.write("resources:\n  jobs:\n    type: aws:sqs:Queue\noutputs:\n  url: ${jobs.url}\n")?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let url = queue_url(&rig.queue_name("jobs")).ok_or("no queue")?;
    delete_queue(&url);

    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("jobs  aws:sqs:Queue  create (deleted outside cairn)"), "{stderr}");
    let out = rig.run(&["status"])?;
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("url = {url}  (stale: `jobs` was deleted outside cairn)")), "{stdout}");
    assert!(stdout.contains("[deleted outside cairn]"), "{stdout}");

    expect(&rig.run(&["apply", "--yes"])?, 0);
    let out = rig.run(&["status"])?;
    assert!(!text(&out.stdout).contains("stale"), "{}", text(&out.stdout));
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

/// `state list`, `show`, `mv`, `rm` and `pull`, with no AWS call but the
/// apply that sets them up.
#[test]
fn state_commands_inspect_and_repair_state() -> R {
    let rig = Rig::new("statecmd")?;
    rig.write("resources:\n  jobs:\n    type: aws:sqs:Queue\n  alerts:\n    type: aws:sns:Topic\n")?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let url = queue_url(&rig.queue_name("jobs")).ok_or("no queue")?;

    let out = rig.run(&["state", "list"])?;
    expect(&out, 0);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("alerts  aws:sns:Topic") && stdout.contains(&format!("jobs    aws:sqs:Queue  {url}")),
        "{stdout}"
    );

    let out = rig.run(&["state", "show", "jobs"])?;
    expect(&out, 0);
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(shown["physical_id"], url.as_str());
    let stderr = expect(&rig.run(&["state", "show", "job"])?, 2);
    assert!(stderr.contains("`job` is not in the state") && stderr.contains("did you mean `jobs`?"), "{stderr}");

    let out = rig.run(&["state", "pull"])?;
    expect(&out, 0);
    let pulled: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(pulled, rig.state_json()?);

    let stderr = expect(&rig.run(&["state", "mv", "jobs", "work"])?, 0);
    assert!(stderr.contains("rename `jobs` to `work` in the stack"), "{stderr}");
    assert_eq!(rig.state_json()?["resources"]["work"]["physical_id"], url.as_str());
    expect(&rig.run(&["state", "mv", "work", "alerts"])?, 2);

    let stderr = expect(&rig.run(&["state", "rm", "work"])?, 0);
    assert!(stderr.contains(&format!("stays in AWS: aws:sqs:Queue {url}")), "{stderr}");
    assert_eq!(rig.state_json()?["resources"].get("work"), None);
    assert!(queue_url(&rig.queue_name("jobs")).is_some(), "state rm deleted nothing");

    delete_queue(&url);
    rig.write("resources:\n  alerts:\n    type: aws:sns:Topic\n")?;
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

fn set_visibility_timeout(url: &str, seconds: u32) {
    runtime().block_on(async {
        let c = clients();
        c.sqs()
            .await
            .set_queue_attributes()
            .queue_url(url)
            .attributes("VisibilityTimeout".into(), seconds.to_string())
            .send()
            .await
            .expect("the queue's attribute set");
    });
}

fn visibility_timeout(url: &str) -> Option<String> {
    runtime().block_on(async {
        let c = clients();
        let out = c
            .sqs()
            .await
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names("VisibilityTimeout".into())
            .send()
            .await
            .ok()?;
        out.attributes()?.iter().find(|(k, _)| k.as_str() == "VisibilityTimeout").map(|(_, v)| v.clone())
    })
}

/// `--target` (issue 15 item 5): plan and apply limited to a resource and
/// what it depends on, destroy to a resource and what depends on it, each
/// with a warning; an unknown id is refused with a suggestion.
#[test]
fn target_limits_plan_apply_and_destroy_to_a_resource_and_what_it_needs() -> R {
    let rig = Rig::new("target")?;
    rig.write(&topic_and_queue(false))?;
    let stderr = expect(&rig.run(&["plan", "--target", "job"])?, 2);
    assert!(stderr.contains("--target `job` is not a resource") && stderr.contains("did you mean `jobs`?"), "{stderr}");

    let stderr = expect(&rig.run(&["apply", "--yes", "--target", "jobs"])?, 0);
    assert!(stderr.contains("limited by --target to `jobs`"), "{stderr}");
    let held: Vec<String> =
        rig.state_json()?["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    assert_eq!(held, vec!["jobs"], "{stderr}");

    // The subscription depends on both: targeting it brings the topic too.
    let stderr = expect(&rig.run(&["plan", "--target", "feed"])?, 0);
    assert!(stderr.contains("Plan: 2 to create, 0 to update, 0 to replace, 0 to delete, 1 unchanged."), "{stderr}");
    expect(&rig.run(&["apply", "--yes"])?, 0);

    // Destroying the queue takes the subscription that depends on it.
    let stderr = expect(&rig.run(&["destroy", "--yes", "--target", "jobs"])?, 0);
    assert!(stderr.contains("limited by --target to `jobs` and what depends on them"), "{stderr}");
    let held: Vec<String> =
        rig.state_json()?["resources"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    assert_eq!(held, vec!["alerts"], "{stderr}");
    assert_eq!(queue_url(&rig.queue_name("jobs")), None);

    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

/// `--refresh-only` (issue 15 item 5): drift and a resource deleted outside
/// cairn are shown against state; `apply --refresh-only` writes them into
/// state and changes nothing in AWS; the next plain plan then shows what
/// the stack still wants.
#[test]
fn refresh_only_shows_drift_and_accepts_it_into_state_without_changing_aws() -> R {
    let rig = Rig::new("refresh")?;
    rig.write(
        "resources:\n  jobs:\n    type: aws:sqs:Queue\n    properties:\n      visibility_timeout: 30\n  spare:\n    type: aws:sqs:Queue\n",
    )?;
    expect(&rig.run(&["apply", "--yes"])?, 0);
    let url = queue_url(&rig.queue_name("jobs")).ok_or("no queue")?;
    set_visibility_timeout(&url, 45);
    delete_queue(&queue_url(&rig.queue_name("spare")).ok_or("no spare queue")?);
    let before = rig.state_json()?;

    let out = rig.run(&["plan", "--refresh-only", "--detailed-exitcode"])?;
    let stderr = expect(&out, 2);
    assert!(stderr.contains("refresh-only plan for stack"), "{stderr}");
    assert!(stderr.contains("visibility_timeout: 30 -> 45"), "{stderr}");
    assert!(stderr.contains("spare  aws:sqs:Queue  forget: deleted outside cairn, removed from state"), "{stderr}");
    assert_eq!(rig.state_json()?["resources"], before["resources"], "a plan writes nothing");

    let out = rig.run(&["plan", "--refresh-only", "--json"])?;
    expect(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(doc["refresh_only"], true, "{doc:#}");
    assert_eq!(doc["summary"]["update"], 1, "{doc:#}");
    assert_eq!(doc["summary"]["forget"], 1, "{doc:#}");

    // Read in another region, everything looks deleted: refused.
    let stderr = expect(&rig.run(&["apply", "--refresh-only", "--yes", "--region", "us-west-2"])?, 2);
    assert!(stderr.contains("applied to region us-east-1, but this run reads region us-west-2"), "{stderr}");
    let stderr = expect(&rig.run(&["apply", "--refresh-only", "--yes"])?, 0);
    assert!(stderr.contains("1 resource(s) updated, 1 forgotten; AWS was not changed"), "{stderr}");
    let after = rig.state_json()?;
    assert_eq!(after["resources"]["jobs"]["props"]["visibility_timeout"], 45, "{after:#}");
    assert_eq!(after["resources"].get("spare"), None, "{after:#}");
    assert_eq!(visibility_timeout(&url).as_deref(), Some("45"), "AWS was changed");

    let stderr = expect(&rig.run(&["plan", "--refresh-only"])?, 0);
    assert!(stderr.contains("No changes outside cairn"), "{stderr}");
    // The stack still says 30, and the spare queue is to be made again.
    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("visibility_timeout: 45 -> 30"), "{stderr}");
    assert!(stderr.contains("Plan: 1 to create, 1 to update"), "{stderr}");
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    Ok(())
}

fn queue_tags(url: &str) -> std::collections::BTreeMap<String, String> {
    runtime().block_on(async {
        let c = clients();
        let out = c.sqs().await.list_queue_tags().queue_url(url).send().await.expect("the queue's tags");
        out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
    })
}

/// `cairn import` (issue 15 item 5): a queue made by hand is read, tagged
/// as the stack's (its own tags kept), recorded, and shown against the
/// stack; what cannot be imported is refused with nothing changed.
#[test]
fn import_takes_a_live_resource_under_the_stack_and_refuses_what_it_must_not() -> R {
    let rig = Rig::new("import")?;
    rig.write(&topic_and_queue(false))?;
    let name = rig.queue_name("jobs");
    let url = runtime().block_on(async {
        let c = clients();
        let out = c
            .sqs()
            .await
            .create_queue()
            .queue_name(&name)
            .attributes("VisibilityTimeout".into(), "45".to_string())
            .tags("owner", "someone")
            .send()
            .await
            .expect("a queue made by hand");
        out.queue_url().map(String::from).expect("its URL")
    });

    let stderr = expect(&rig.run(&["import", "feed", "arn:aws:sns:us-east-1:123456789012:x:y"])?, 2);
    assert!(stderr.contains("`feed` refers to `alerts`, `jobs`, which state does not hold yet"), "{stderr}");
    let stderr = expect(&rig.run(&["import", "job", &url])?, 2);
    assert!(stderr.contains("did you mean `jobs`?"), "{stderr}");
    let stderr = expect(&rig.run(&["import", "jobs", &format!("{url}-nope")])?, 1);
    assert!(stderr.contains("no aws:sqs:Queue"), "{stderr}");
    assert!(
        !rig.state.join(format!("{}.json", rig.stack)).exists() || rig.state_json()?["resources"].get("jobs").is_none()
    );

    let stderr = expect(&rig.run(&["import", "jobs", &url])?, 0);
    assert!(stderr.contains("Imported `jobs` (aws:sqs:Queue"), "{stderr}");
    assert!(stderr.contains("tagged: cairn:resource, cairn:stack, cairn:state"), "{stderr}");
    assert!(stderr.contains("tags not in the stack were kept (owner)"), "{stderr}");
    assert!(stderr.contains("It differs from the stack"), "{stderr}");
    let state = rig.state_json()?;
    assert_eq!(state["resources"]["jobs"]["physical_id"], url.as_str(), "{state:#}");
    let tags = queue_tags(&url);
    assert_eq!(tags.get("cairn:stack"), Some(&rig.stack), "{tags:?}");
    assert_eq!(tags.get("cairn:resource").map(String::as_str), Some("jobs"), "{tags:?}");
    assert_eq!(tags.get("cairn:state"), state["lineage"].as_str().map(String::from).as_ref(), "{tags:?}");
    assert_eq!(tags.get("owner").map(String::as_str), Some("someone"), "{tags:?}");
    assert_eq!(visibility_timeout(&url).as_deref(), Some("45"), "import changed the queue");

    let stderr = expect(&rig.run(&["import", "jobs", &url])?, 2);
    assert!(stderr.contains("state already holds `jobs`"), "{stderr}");
    // Another stack may not take it.
    let other = Rig::new("import-other")?;
    other.write(&topic_and_queue(false))?;
    let stderr = expect(&other.run(&["import", "jobs", &url])?, 1);
    assert!(stderr.contains(&format!("it belongs to cairn stack `{}`", rig.stack)), "{stderr}");
    // Nor another state of this one, unless told to.
    let elsewhere = rig.dir.path().join("elsewhere");
    let stderr = expect(&rig.run_in(&elsewhere, &["import", "jobs", &url])?, 1);
    assert!(stderr.contains("in another state"), "{stderr}");

    // The next plan changes the queue to what the stack says.
    let stderr = expect(&rig.run(&["plan"])?, 0);
    assert!(stderr.contains("visibility_timeout: 45 -> 30"), "{stderr}");
    expect(&rig.run(&["apply", "--yes"])?, 0);
    expect(&rig.run(&["destroy", "--yes"])?, 0);
    assert_eq!(queue_url(&name), None, "the imported queue is destroyed with the stack");
    Ok(())
}
