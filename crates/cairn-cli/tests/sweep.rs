//! Tear-down by tags through the binary (issue 16): `cairn sweep` lists
//! what cairn made by its ownership tags and deletes nothing without
//! `--yes`; `cairn destroy --from-tags` removes a stack whose state is lost,
//! dependents first; nothing of another stack, and nothing untagged, is
//! touched. Every sweep here names its stack: the emulator is shared by
//! tests running at once.

use std::path::Path;

use cairn::aws::{AwsOptions, Clients};
use cairn_testkit::emulator;

#[allow(dead_code)]
mod support;
use support::{cairn, clients, expect, lab, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

/// The listing's header line of a stack (`stack NAME  age 3h  live (state …)  4 resource(s)`),
/// empty when it is not listed.
fn header<'a>(listing: &'a str, stack: &str) -> &'a str {
    let start = format!("stack {stack}  ");
    listing.lines().find(|l| l.starts_with(&start)).unwrap_or_default()
}

fn queue_exists(name: &str) -> bool {
    runtime().block_on(async { clients().sqs().await.get_queue_url().queue_name(name).send().await.is_ok() })
}

fn role_exists(name: &str) -> bool {
    runtime().block_on(async { clients().iam().await.get_role().role_name(name).send().await.is_ok() })
}

/// Lab 6 (queues, role, log group, function, mapping) under `stack`.
fn lab6(dir: &Path, stack: &str) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    lab(dir, "lab6-sqs-lambda", stack)
}

#[test]
fn sweep_lists_by_tags_and_destroy_from_tags_removes_a_stack_whose_state_is_lost() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("sweep");
    let other = emulator::unique_stack("keep");
    expect(&cairn(&state).arg("apply").arg(lab6(dir.path(), &stack)?).arg("--yes").output()?, 0);
    std::fs::write(
        dir.path().join("other.yaml"),
        format!("stack: {other}\nresources:\n  jobs:\n    type: aws:sqs:Queue\n"),
    )?;
    expect(&cairn(&state).arg("apply").arg(dir.path().join("other.yaml")).arg("--yes").output()?, 0);
    // Named like the stack's, made by hand: no tags, never touched.
    let untagged = format!("{stack}-handmade");
    runtime().block_on(async { clients().sqs().await.create_queue().queue_name(&untagged).send().await })?;

    // A dry run lists the stack's resources, with where its state is.
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack]).output()?, 0);
    for (kind, id) in [
        ("aws:sqs:Queue", "jobs"),
        ("aws:sqs:Queue", "dead-letters"),
        ("aws:iam:Role", "role"),
        ("aws:lambda:Function", "worker"),
        ("aws:lambda:EventSourceMapping", "trigger"),
        ("aws:logs:LogGroup", "logs"),
    ] {
        assert!(stderr.lines().any(|l| l.contains(kind) && l.contains(&format!("  {id}  "))), "{kind} {id}:\n{stderr}");
    }
    assert!(header(&stderr, &stack).contains("  live (state "), "{stderr}");
    assert!(stderr.contains("Dry run: nothing was deleted"), "{stderr}");
    assert!(!stderr.contains(&other) && !stderr.contains(&untagged), "{stderr}");
    assert!(queue_exists(&format!("{stack}-jobs")), "a dry run deleted");

    // The state is lost: destroy by tags, dependents first.
    std::fs::remove_file(state.join(format!("{stack}.json")))?;
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack]).output()?, 0);
    assert!(header(&stderr, &stack).contains("  orphaned: no state in"), "{stderr}");
    let stderr = expect(&cairn(&state).args(["destroy", "--from-tags", &stack, "--yes"]).output()?, 0);
    let at = |what: &str| stderr.find(&format!("deleted {stack}/{what} ")).unwrap_or(usize::MAX);
    assert!(at("trigger") < at("jobs") && at("trigger") < at("worker") && at("worker") < at("role"), "{stderr}");
    assert!(at("role") < usize::MAX, "{stderr}");
    assert!(!queue_exists(&format!("{stack}-jobs")) && !queue_exists(&format!("{stack}-dead-letters")));
    assert!(!role_exists(&format!("{stack}-role")), "{stderr}");
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack]).output()?, 0);
    assert!(stderr.contains("Nothing to sweep"), "{stderr}");
    assert!(queue_exists(&untagged) && queue_exists(&format!("{other}-jobs")), "something not the stack's went");

    // A stack whose state is here is destroyed from it, not from tags.
    let stderr = expect(&cairn(&state).args(["destroy", "--from-tags", &other, "--yes"]).output()?, 2);
    assert!(stderr.contains("has state"), "{stderr}");
    expect(&cairn(&state).arg("destroy").arg(dir.path().join("other.yaml")).arg("--yes").output()?, 0);
    runtime().block_on(async {
        let c = clients();
        let found = c.sqs().await.get_queue_url().queue_name(&untagged).send().await;
        if let Some(url) = found.ok().and_then(|o| o.queue_url().map(String::from)) {
            let _ = c.sqs().await.delete_queue().queue_url(url).send().await;
        }
    });
    Ok(())
}

fn queue_tags(name: &str) -> std::collections::BTreeMap<String, String> {
    runtime().block_on(async {
        let c = clients();
        let Ok(url) = c.sqs().await.get_queue_url().queue_name(name).send().await else { return Default::default() };
        let url = url.queue_url().unwrap_or_default().to_string();
        let tags = c.sqs().await.list_queue_tags().queue_url(url).send().await.ok();
        tags.and_then(|t| t.tags().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())).unwrap_or_default()
    })
}

fn now() -> i64 {
    i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

/// The expiry a queue's tag says, as seconds from now.
fn expires_in(name: &str) -> Option<i64> {
    queue_tags(name).get("cairn:expires").and_then(|t| cairn::engine::state::parse_utc(t)).map(|t| t - now())
}

/// A time to live (issue 16 item 1): every taggable resource carries
/// `cairn:expires`, state records it, the plan shows it, another TTL moves
/// it on resources that do not otherwise change, and `sweep --expired`
/// finds the stack once it has passed.
#[test]
fn a_ttl_tags_every_resource_and_sweep_finds_the_stack_once_expired() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("ttl");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, format!("stack: {stack}\nttl: 5x\nresources:\n  jobs:\n    type: aws:sqs:Queue\n"))?;
    let stderr = expect(&cairn(&state).arg("validate").arg(&file).output()?, 2);
    assert!(stderr.contains("s.yaml:2:1") && stderr.contains("expected a duration such as 90s, 30m, 4h"), "{stderr}");

    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nttl: 4h\nresources:\n  jobs:\n    type: aws:sqs:Queue\n  alerts:\n    type: aws:sns:Topic\n  feed:\n    type: aws:sns:Subscription\n    properties:\n      topic: ${{alerts.arn}}\n      protocol: sqs\n      endpoint: ${{jobs.arn}}\n"
        ),
    )?;
    let stderr = expect(&cairn(&state).arg("plan").arg(&file).output()?, 0);
    assert!(stderr.contains("expires: "), "{stderr}");
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let queue = format!("{stack}-jobs");
    let left = expires_in(&queue).ok_or("no cairn:expires tag")?;
    assert!((4 * 3600 - 120..=4 * 3600).contains(&left), "expires in {left}s");
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?;
    assert_eq!(recorded["expires"].as_str(), queue_tags(&queue).get("cairn:expires").map(String::as_str));

    // Another TTL moves it, on resources the plan leaves alone too.
    expect(&cairn(&state).arg("apply").arg(&file).args(["--ttl", "2d", "--yes"]).output()?, 0);
    let left = expires_in(&queue).ok_or("no cairn:expires tag")?;
    assert!((2 * 86_400 - 120..=2 * 86_400).contains(&left), "expires in {left}s");
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack]).output()?, 0);
    assert!(header(&stderr, &stack).contains("  live, expires in"), "{stderr}");
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--expired"]).output()?, 0);
    assert!(stderr.contains("Nothing to sweep"), "{stderr}");

    // Its time passed (set by hand here): the stack is expired.
    runtime().block_on(async {
        let c = clients();
        let found = c.sqs().await.get_queue_url().queue_name(&queue).send().await.map_err(|e| format!("{e:?}"))?;
        let url = found.queue_url().unwrap_or_default().to_string();
        let tagged =
            c.sqs().await.tag_queue().queue_url(url).tags("cairn:expires", "2026-01-01T00:00:00Z").send().await;
        tagged.map(|_| ()).map_err(|e| format!("{e:?}"))
    })?;
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--expired"]).output()?, 0);
    assert!(header(&stderr, &stack).contains("  expired ") && stderr.contains("(2026-01-01T00:00:00Z)"), "{stderr}");
    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}

/// IAM is global: a stack that has nothing but a role in this region (it
/// may live in another) is listed only when named, never swept by default.
#[test]
fn a_stack_with_only_iam_resources_here_is_swept_only_when_named() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("iamonly");
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nresources:\n  role:\n    type: aws:iam:Role\n    properties:\n      trusted_by: [lambda.amazonaws.com]\n"
        ),
    )?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    // Filtered by a tag, not by name: the stack is not named.
    let stderr = expect(&cairn(&state).args(["sweep", "--tag", &format!("cairn:stack={stack}"), "--yes"]).output()?, 0);
    assert!(stderr.contains("left alone, having only global IAM resources") && stderr.contains(&stack), "{stderr}");
    assert!(role_exists(&format!("{stack}-role")), "{stderr}");
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack]).output()?, 0);
    assert!(header(&stderr, &stack).contains("  live (state "), "{stderr}");
    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    Ok(())
}

/// Several regions (issue 16 item 2): `--region` more than once, or
/// `--all-regions`, searches each; IAM, global, is listed once; `--yes`
/// deletes each resource in its own region. Other commands take one region.
#[test]
fn sweep_searches_several_regions_and_deletes_each_resource_in_its_own() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("regions");
    let file = dir.path().join("s.yaml");
    std::fs::write(
        &file,
        format!(
            "stack: {stack}\nresources:\n  jobs:\n    type: aws:sqs:Queue\n  role:\n    type: aws:iam:Role\n    properties:\n      trusted_by: [lambda.amazonaws.com]\n"
        ),
    )?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    // The same stack's queue in another region, as a second apply there would leave it.
    let west = Clients::new(AwsOptions {
        endpoint_url: Some(emulator::endpoint()),
        region: Some("us-west-2".into()),
        ..AwsOptions::default()
    });
    let west_queue = format!("{stack}-west");
    let held: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?;
    let lineage = held["lineage"].as_str().ok_or("no lineage in state")?;
    runtime().block_on(async {
        west.sqs()
            .await
            .create_queue()
            .queue_name(&west_queue)
            .tags("cairn:stack", &stack)
            .tags("cairn:resource", "west")
            .tags("cairn:state", lineage)
            .send()
            .await
    })?;

    let stderr =
        expect(&cairn(&state).args(["plan", "--region", "us-east-1", "--region", "us-west-2"]).arg(&file).output()?, 2);
    assert!(stderr.contains("--region is given 2 times"), "{stderr}");

    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--all-regions"]).output()?, 0);
    assert!(stderr.contains("us-west-2") && stderr.contains("eu-west-1"), "every region searched:\n{stderr}");
    assert!(header(&stderr, &stack).contains("  live (state "), "{stderr}");
    assert!(stderr.contains("3 resource(s)"), "one deployment, in two regions:\n{stderr}");
    assert!(stderr.lines().any(|l| l.contains(&west_queue) && l.ends_with("(us-west-2)")), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("aws:iam:Role")).count(), 1, "IAM listed once:\n{stderr}");

    let args = ["sweep", "--stack", &stack, "--region", "us-east-1", "--region", "us-west-2", "--yes"];
    let stderr = expect(&cairn(&state).args(args).output()?, 0);
    assert!(stderr.contains("Swept 3 resource(s)"), "{stderr}");
    assert!(stderr.contains("forgets the 2 resource(s) swept; it held nothing else and is removed"), "{stderr}");
    assert!(!state.join(format!("{stack}.json")).exists(), "the state still claims what was swept");
    assert!(!queue_exists(&format!("{stack}-jobs")) && !role_exists(&format!("{stack}-role")), "{stderr}");
    let west_left =
        runtime().block_on(async { west.sqs().await.get_queue_url().queue_name(&west_queue).send().await.is_ok() });
    assert!(!west_left, "the other region's queue is left:\n{stderr}");
    Ok(())
}

/// The first check, as a new user would make it: labs 1, 3 and 6
/// applied, their state directory lost; a sweep lists exactly what state
/// held of each (derived resources included, those AWS cannot tag aside),
/// grouped by stack; `--yes` leaves nothing tagged for them, as the SDK
/// itself sees it, while look-alike resources made without cairn's tags
/// stay. (The stacks are named: the emulator is shared with other tests.)
#[test]
fn labs_1_3_and_6_whose_state_is_lost_are_swept_to_nothing_and_nothing_else() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let labs = [
        ("lab1-notifications", emulator::unique_stack("sw1")),
        ("lab3-access-alerts", emulator::unique_stack("sw3")),
        ("lab6-sqs-lambda", emulator::unique_stack("sw6")),
    ];
    let untaggable = ["aws:sns:Subscription", "aws:logs:MetricFilter", "aws:lambda:Permission"];
    let mut expected = std::collections::BTreeMap::new();
    for (name, stack) in &labs {
        let file = lab(dir.path(), name, stack)?;
        let mut apply = cairn(&state);
        apply.arg("apply").arg(&file).arg("--yes");
        if *name != "lab6-sqs-lambda" {
            apply.args(["-p", "email=ops@example.com"]);
        }
        expect(&apply.output()?, 0);
        let held: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?;
        let ids: std::collections::BTreeSet<(String, String)> = held["resources"]
            .as_object()
            .ok_or("no resources")?
            .iter()
            .filter(|(_, r)| !untaggable.contains(&r["kind"].as_str().unwrap_or_default()))
            .map(|(id, r)| (id.clone(), r["kind"].as_str().unwrap_or_default().to_string()))
            .collect();
        expected.insert(stack.clone(), ids);
    }
    // Look-alikes made by hand, without cairn's tags.
    let lookalike = format!("{}-jobs-copy", labs[2].1);
    runtime().block_on(async {
        let c = clients();
        c.sqs().await.create_queue().queue_name(&lookalike).send().await.map(|_| ()).map_err(|e| format!("{e:?}"))?;
        c.sns()
            .await
            .create_topic()
            .name(format!("{}-alerts-copy", labs[0].1))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })?;
    std::fs::remove_dir_all(&state)?;

    let named: Vec<String> = labs.iter().flat_map(|(_, s)| ["--stack".to_string(), s.clone()]).collect();
    let out = cairn(&state).arg("sweep").args(&named).arg("--json").output()?;
    expect(&out, 0);
    let listing: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut found = std::collections::BTreeMap::new();
    for s in listing["stacks"].as_array().ok_or("no stacks")? {
        let ids: std::collections::BTreeSet<(String, String)> = s["resources"]
            .as_array()
            .ok_or("no resources")?
            .iter()
            .map(|r| {
                (r["id"].as_str().unwrap_or_default().to_string(), r["kind"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        found.insert(s["stack"].as_str().unwrap_or_default().to_string(), ids);
    }
    assert_eq!(found, expected, "the sweep lists exactly what each stack's state held");

    let stderr = expect(&cairn(&state).arg("sweep").args(&named).arg("--yes").output()?, 0);
    assert!(stderr.contains("nothing of 3 stack(s) is left"), "{stderr}");
    // Seen by the SDK, not by cairn's finder: nothing tagged for them.
    let left = runtime().block_on(async {
        let c = clients();
        let mut left = Vec::new();
        for (_, stack) in &labs {
            let tagged = c
                .tagging()
                .await
                .get_resources()
                .tag_filters(
                    aws_sdk_resourcegroupstagging::types::TagFilter::builder().key("cairn:stack").values(stack).build(),
                )
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            for arn in tagged.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn()) {
                // A KMS key is never deleted at once: the sweep schedules it,
                // and it stays tagged (and listed) until its window ends.
                if let Some(id) = arn.split(":key/").nth(1) {
                    let key = c.kms().await.describe_key().key_id(id).send().await.map_err(|e| format!("{e:?}"))?;
                    let state = key.key_metadata().and_then(|m| m.key_state()).map(|s| s.as_str().to_string());
                    if state.as_deref() == Some("PendingDeletion") {
                        continue;
                    }
                }
                left.push(arn.to_string());
            }
            let roles = c.iam().await.list_roles().send().await.map_err(|e| format!("{e:?}"))?;
            left.extend(
                roles.roles().iter().filter(|r| r.role_name().starts_with(stack.as_str())).map(|r| r.arn().to_string()),
            );
            let rules = c.events().await.list_rules().name_prefix(stack).send().await.map_err(|e| format!("{e:?}"))?;
            left.extend(rules.rules().iter().filter_map(|r| r.arn().map(String::from)));
            let trails = c.cloudtrail().await.describe_trails().send().await.map_err(|e| format!("{e:?}"))?;
            left.extend(
                trails
                    .trail_list()
                    .iter()
                    .filter(|t| t.name().unwrap_or_default().starts_with(stack.as_str()))
                    .filter_map(|t| t.trail_arn().map(String::from)),
            );
        }
        Ok::<_, String>(left)
    })?;
    assert!(left.is_empty(), "left behind: {left:?}\n{stderr}");
    assert!(queue_exists(&lookalike), "a look-alike without cairn's tags went");
    Ok(())
}

/// `--ttl 1s` on one stack and none on another: `sweep --expired --yes`
/// removes only the first.
#[test]
fn sweep_expired_removes_only_the_stack_whose_time_is_up() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let (short, long) = (emulator::unique_stack("short"), emulator::unique_stack("long"));
    for stack in [&short, &long] {
        std::fs::write(
            dir.path().join(format!("{stack}.yaml")),
            format!("stack: {stack}\nresources:\n  jobs:\n    type: aws:sqs:Queue\n"),
        )?;
    }
    expect(
        &cairn(&state)
            .arg("apply")
            .arg(dir.path().join(format!("{short}.yaml")))
            .args(["--ttl", "1s", "--yes"])
            .output()?,
        0,
    );
    expect(&cairn(&state).arg("apply").arg(dir.path().join(format!("{long}.yaml"))).arg("--yes").output()?, 0);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let out = cairn(&state).args(["sweep", "--expired", "--stack", &short, "--stack", &long, "--yes"]).output()?;
    let stderr = expect(&out, 0);
    assert!(stderr.contains("Swept 1 resource(s)"), "{stderr}");
    assert!(!queue_exists(&format!("{short}-jobs")) && queue_exists(&format!("{long}-jobs")), "{stderr}");
    expect(&cairn(&state).arg("destroy").arg(dir.path().join(format!("{long}.yaml"))).arg("--yes").output()?, 0);
    Ok(())
}

/// What the user meant to keep is never swept: a resource the stack's state
/// marks protect, and one `retain` left in AWS when destroy forgot it.
#[test]
fn sweep_keeps_protected_and_retained_resources() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let stack = emulator::unique_stack("keep");
    let file = dir.path().join("s.yaml");
    let write = |keep: &str| {
        std::fs::write(
            &file,
            format!(
                "stack: {stack}\nresources:\n  kept:\n    type: aws:sqs:Queue\n    {keep}: true\n  scratch:\n    type: aws:sqs:Queue\n"
            ),
        )
    };
    write("protect")?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--yes"]).output()?, 0);
    assert!(stderr.contains(&format!("kept, being protected or retained: {stack}/kept")), "{stderr}");
    assert!(queue_exists(&format!("{stack}-kept")) && !queue_exists(&format!("{stack}-scratch")), "{stderr}");
    assert!(stderr.contains("Swept 1 resource(s); the 1 kept above stay."), "{stderr}");

    // Retained: destroy forgets it and leaves it; a sweep leaves it too.
    write("retain")?;
    expect(&cairn(&state).arg("apply").arg(&file).arg("--yes").output()?, 0);
    expect(&cairn(&state).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    assert_eq!(queue_tags(&format!("{stack}-kept")).get("cairn:retained").map(String::as_str), Some("true"));
    let stderr = expect(&cairn(&state).args(["sweep", "--stack", &stack, "--yes"]).output()?, 0);
    assert!(stderr.contains("Nothing to sweep") && queue_exists(&format!("{stack}-kept")), "{stderr}");
    runtime().block_on(async {
        let c = clients();
        if let Ok(found) = c.sqs().await.get_queue_url().queue_name(format!("{stack}-kept")).send().await {
            let _ = c.sqs().await.delete_queue().queue_url(found.queue_url().unwrap_or_default()).send().await;
        }
    });
    Ok(())
}

/// Deployments and ages (issue 16 item 2): the same stack applied from two
/// state directories is two groups, each told apart by its lineage, and the
/// state here claims only its own; `--older-than` goes by the time in the
/// lineage, and leaves out (saying so) a lineage from before cairn wrote one.
#[test]
fn sweep_groups_by_deployment_and_older_than_goes_by_the_lineage_time() -> R {
    let dir = tempfile::tempdir()?;
    let (here, there) = (dir.path().join("here"), dir.path().join("there"));
    let stack = emulator::unique_stack("deploys");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, format!("stack: {stack}\nresources:\n  jobs:\n    type: aws:sqs:Queue\n"))?;
    expect(&cairn(&here).arg("apply").arg(&file).arg("--yes").output()?, 0);
    // The same stack from another state directory, its queue named apart.
    let other = dir.path().join("other.yaml");
    std::fs::write(
        &other,
        format!(
            "stack: {stack}\nresources:\n  jobs:\n    type: aws:sqs:Queue\n    properties:\n      name: {stack}-b\n"
        ),
    )?;
    expect(&cairn(&there).arg("apply").arg(&other).arg("--yes").output()?, 0);
    let lineage_of = |state: &Path| -> Result<String, Box<dyn std::error::Error>> {
        let held: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(state.join(format!("{stack}.json")))?)?;
        Ok(held["lineage"].as_str().ok_or("no lineage")?.to_string())
    };
    let (mine, theirs) = (lineage_of(&here)?, lineage_of(&there)?);

    let out = cairn(&here).args(["sweep", "--stack", &stack, "--json"]).output()?;
    expect(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let groups = doc["stacks"].as_array().ok_or("no stacks")?;
    assert_eq!(groups.len(), 2, "two deployments: {doc:#}");
    let group = |lineage: &str| groups.iter().find(|g| g["lineage"] == lineage).cloned().unwrap_or_default();
    assert_eq!(group(&mine)["class"], "live", "{doc:#}");
    assert_eq!(group(&theirs)["class"], "orphaned", "{doc:#}");
    assert_eq!(group(&theirs)["other_state_lineage"], mine.as_str(), "{doc:#}");
    assert!(group(&mine)["age_seconds"].as_i64().is_some_and(|a| (0..600).contains(&a)), "{doc:#}");

    // Ages: one deployment two years old, one from before lineages held a time.
    let (old, unknown) = (format!("{stack}-old"), format!("{stack}-unknown"));
    runtime().block_on(async {
        let c = clients();
        let sqs = c.sqs().await;
        for (name, lineage) in
            [(&old, "20241201T000000Z-0123456789abcdef"), (&unknown, "0123456789abcdef0123456789abcdef")]
        {
            sqs.create_queue()
                .queue_name(name)
                .tags("cairn:stack", format!("{stack}-aged"))
                .tags("cairn:resource", "jobs")
                .tags("cairn:state", lineage)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok::<_, String>(())
    })?;
    let aged = format!("{stack}-aged");
    let stderr = expect(&cairn(&here).args(["sweep", "--stack", &aged, "--older-than", "2d"]).output()?, 0);
    assert!(stderr.contains(&old) && !stderr.contains(&format!("{unknown}\n")), "{stderr}");
    // Its age is read from the lineage's time: two years and more, in days.
    let days: Option<u32> = header(&stderr, &aged)
        .split("  age ")
        .nth(1)
        .and_then(|rest| rest.split('d').next())
        .and_then(|n| n.parse().ok());
    assert!(days.is_some_and(|d| d >= 730), "age of a 2024-12-01 lineage: {days:?}\n{stderr}");
    assert!(stderr.contains("note: left out, their age unknown"), "{stderr}");
    let stderr = expect(&cairn(&here).args(["sweep", "--stack", &stack, "--older-than", "1h"]).output()?, 0);
    assert!(stderr.contains("Nothing to sweep"), "a deployment made now is not an hour old:\n{stderr}");
    let stderr = expect(&cairn(&here).args(["sweep", "--stack", &aged]).output()?, 0);
    assert!(stderr.contains("age unknown"), "{stderr}");

    // Clean up: each deployment by its own means.
    expect(&cairn(&here).args(["sweep", "--stack", &aged, "--yes"]).output()?, 0);
    expect(&cairn(&here).arg("destroy").arg(&file).arg("--yes").output()?, 0);
    expect(&cairn(&there).arg("destroy").arg(&other).arg("--yes").output()?, 0);
    assert!(!queue_exists(&old) && !queue_exists(&format!("{stack}-b")) && !queue_exists(&format!("{stack}-jobs")));
    Ok(())
}

/// The sweep's cost (issue 16 done-when): counted through the proxy, a
/// search of two regions makes one wave of listing calls per service and
/// region (IAM, global, once), and that wave does not grow with what it
/// finds. Only where a service has no bulk read of tags is there a call
/// per resource, and only for rules and for mappings on cairn's functions.
/// Two regions no other test uses keep the counts to this test's stacks.
#[test]
fn a_sweep_lists_each_service_once_per_region_whatever_it_finds() -> R {
    let dir = tempfile::tempdir()?;
    let state = dir.path().join("state");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let proxy = rt.block_on(cairn_testkit::proxy::Proxy::start(&emulator::endpoint()))?;
    let regions = ["ap-northeast-2", "eu-central-1"];
    // Named, as every sweep here: the Tagging API filters on the names, so
    // other tests' stacks do not change its pages.
    let stacks = [
        ("lab6-sqs-lambda", emulator::unique_stack("cost6"), regions[0]),
        ("lab3-access-alerts", emulator::unique_stack("cost3"), regions[0]),
        ("lab1-notifications", emulator::unique_stack("cost1"), regions[1]),
    ];
    let sweep = |label: &str| -> Result<(cairn_testkit::proxy::Stats, String), Box<dyn std::error::Error>> {
        proxy.reset_stats();
        let mut run = cairn(&state);
        run.env("AWS_ENDPOINT_URL", proxy.url()).args(["sweep", "--region", regions[0], "--region", regions[1]]);
        for (_, stack, _) in &stacks {
            run.args(["--stack", stack]);
        }
        let out = run.output()?;
        let stderr = expect(&out, 0);
        let stats = proxy.stats();
        eprintln!("{label}: {:#}", stats.to_json());
        Ok((stats, stderr))
    };
    let (before, _) = sweep("before")?;

    for (name, stack, region) in &stacks {
        let file = lab(dir.path(), name, stack)?;
        let mut apply = cairn(&state);
        apply.args(["apply", "--yes", "--region", region]).arg(&file);
        if *name != "lab6-sqs-lambda" {
            apply.args(["-p", "email=ops@example.com"]);
        }
        expect(&apply.output()?, 0);
    }
    let (after, stderr) = sweep("after")?;
    for (_, stack, _) in &stacks {
        assert!(!header(&stderr, stack).is_empty(), "{stack} not found:\n{stderr}");
    }
    assert_eq!(after.writes, 0, "a dry run writes nothing: {:#}", after.to_json());

    // Every rule's tags are read, whose-ever it is: as many as both regions hold.
    let rules_there: usize = runtime().block_on(async {
        let mut n = 0;
        for region in regions {
            let c = Clients::new(AwsOptions {
                endpoint_url: Some(emulator::endpoint()),
                region: Some(region.into()),
                ..AwsOptions::default()
            });
            n += c.events().await.list_rules().send().await.map_err(|e| format!("{e:?}"))?.rules().len();
        }
        Ok::<_, String>(n)
    })?;
    // Clean up first, so that a failed check leaves nothing for the next run.
    for (_, stack, _) in &stacks {
        let args = ["sweep", "--stack", stack, "--region", regions[0], "--region", regions[1], "--yes"];
        expect(&cairn(&state).args(args).output()?, 0);
    }

    // Per resource, only: each rule's tags, each mapping's on a cairn function.
    // And each KMS key's state (one pending deletion is still tagged).
    let per_resource = ["events:ListTagsForResource", "lambda:ListTags", "kms:DescribeKey"];
    let listed = |kind: &str| stderr.lines().filter(|l| l.trim_start().starts_with(&format!("{kind} "))).count();
    let (rules, mappings) = (listed("aws:events:Rule"), listed("aws:lambda:EventSourceMapping"));
    assert!(rules >= 1 && mappings >= 1, "lab 1's rule and lab 6's mapping:\n{stderr}");
    assert!(rules_there >= rules, "{rules_there} rules in the two regions, {rules} listed");
    assert_eq!(after.calls("events:ListTagsForResource"), u64::try_from(rules_there)?, "{:#}", after.to_json());
    assert_eq!(after.calls("lambda:ListTags"), u64::try_from(mappings)?, "{:#}", after.to_json());
    let keys = listed("aws:kms:Key");
    assert!(keys >= 1, "lab 3's key:\n{stderr}");
    assert_eq!(after.calls("kms:DescribeKey"), u64::try_from(keys)?, "{:#}", after.to_json());
    for (label, n) in &after.by_operation {
        if per_resource.contains(&label.as_str()) {
            continue;
        }
        let most = if label.starts_with("iam:") { 1 } else { 2 };
        assert!(*n <= most, "{label} called {n} times; at most {most} (one per region, IAM once)");
        // Trails' tags are read 20 trails a call: none to read, no call.
        if label == "cloudtrail:ListTags" {
            continue;
        }
        assert_eq!(
            before.by_operation.get(label),
            Some(n),
            "{label}: {n} calls with three stacks to find, {:?} with none",
            before.by_operation.get(label)
        );
    }
    assert_eq!(after.calls("iam:GetAccountAuthorizationDetails"), 1, "{:#}", after.to_json());
    Ok(())
}
