//! Derived glue: the policies and permissions AWS needs between the
//! resources of a stack, which users forget and AWS does not report (an
//! EventBridge rule whose topic drops its messages, a trail refused for its
//! bucket policy, a mapping whose role may not read its queue).
//!
//! [`AwsGlue::derive`] runs before validation. It adds statements to the
//! user's own documents (merged: a statement the user already wrote, in any
//! equivalent form, is not added twice) and adds resources marked `derived`.
//! Everything is scoped to the one source it serves (`aws:SourceArn`, the
//! one queue). `auto_wire: false` on either end turns a row off.
//!
//! ARNs of resources that reference each other are built from names and
//! pseudo values, as a user would: a reference would be a cycle (a rule
//! depends on its target topic, so the topic's policy cannot reference the
//! rule). A bucket a trail or another bucket's access logs write to needs
//! its name in its own policy, so one without an explicit name is given
//! `<stack>-<id>-<account>-<region>` (see `trail_bucket_name`) instead of
//! the kind's create-time default.

use std::collections::BTreeMap;

use cairn_engine::diag::{At, Diagnostic, PathSeg, did_you_mean};
use cairn_engine::kind::{Glue, GlueRule, is_ref};
use cairn_engine::spec::{ResourceOptions, ResourceSpec, StackSpec};
use cairn_engine::value::{Json, Part, RefTarget, parse_template};
use serde_json::json;

use crate::kinds::{default_bucket_name_pattern, kms_root_statement, sns_default_statement};
use crate::limits::PUBLISHERS;
use crate::normalize::policy_canonical;

/// The glue of the AWS kinds; see the module documentation.
pub struct AwsGlue;

const VERSION: &str = "2012-10-17";

/// What [`AwsGlue::derive`] adds, one rule per function below, for the kind
/// reference (`cairn explain`, docs/kinds/); docs/glue.md has the details.
pub const RULES: &[GlueRule] = &[
    GlueRule {
        kinds: &["aws:events:Rule", "aws:sns:Topic"],
        when: "an events rule targets a topic of the stack",
        adds: "a statement in the topic's `policy` (Sid `cairn-events-<rule>`) letting `events.amazonaws.com` \
               publish for that rule only; a topic with no policy keeps SNS's default statement beside it",
    },
    GlueRule {
        kinds: &["aws:events:Rule", "aws:sqs:Queue"],
        when: "an events rule targets a queue of the stack, or names one as a target's `dead_letter_queue`",
        adds: "a statement in the queue's `policy` (Sid `cairn-events-<rule>`) letting `events.amazonaws.com` \
               send messages for that rule only",
    },
    GlueRule {
        kinds: &["aws:sns:Subscription", "aws:sqs:Queue"],
        when: "an `sqs` subscription delivers to a queue of the stack",
        adds: "a statement in the queue's `policy` (Sid `cairn-sns-<topic>`) letting `sns.amazonaws.com` send \
               messages for that topic only",
    },
    GlueRule {
        kinds: &["aws:events:Rule", "aws:lambda:Function", "aws:lambda:Permission"],
        when: "an events rule targets a function of the stack",
        adds: "a derived `aws:lambda:Permission` `<rule>-invoke-<function>` for `events.amazonaws.com`, \
               `source_arn` = the rule",
    },
    GlueRule {
        kinds: &["aws:sns:Subscription", "aws:lambda:Function", "aws:lambda:Permission"],
        when: "a `lambda` subscription delivers to a function of the stack",
        adds: "a derived `aws:lambda:Permission` `<subscription>-invoke` for `sns.amazonaws.com`, \
               `source_arn` = the topic",
    },
    GlueRule {
        kinds: &["aws:cloudtrail:Trail", "aws:s3:Bucket"],
        when: "a trail writes to a bucket of the stack",
        adds: "two statements in the bucket's `policy` (`s3:GetBucketAcl`, and `s3:PutObject` under \
               `[<key_prefix>/]AWSLogs/<account>/`), scoped to the trail; an unnamed bucket is named \
               `<stack>-<id>-<account>-<region>` so that the policy can name it",
    },
    GlueRule {
        kinds: &["aws:cloudtrail:Trail", "aws:s3:Bucket"],
        when: "a trail writes to a bucket of the stack that does not set `versioning`",
        adds: "`versioning: true` on the bucket, so a deleted or overwritten log file keeps its old version; \
               the plan prints `(derived) versioning: …`",
    },
    GlueRule {
        kinds: &["aws:s3:Bucket"],
        when: "a bucket's `access_logging.bucket` is a bucket of the stack (`${<id>.name}`, or that bucket's \
               own `name` written out)",
        adds: "a statement in the log bucket's `policy` (Sid `cairn-s3-logging-<bucket>`) letting \
               `logging.s3.amazonaws.com` put objects under the prefix, for that bucket and account only; an \
               unnamed log bucket is named `<stack>-<id>-<account>-<region>`, and a name written out makes the \
               bucket wait for its log bucket as a reference would",
    },
    GlueRule {
        kinds: &["aws:s3:Bucket"],
        when: "any bucket, while `require_tls` and `object_ownership` keep their secure defaults",
        adds: "nothing to the stack: the plan prints `(derived) require_tls: …` and `(derived) \
               object_ownership: …`, saying what the kind does (denies plain HTTP in the bucket policy, \
               disables ACLs) and how to turn it off",
    },
    GlueRule {
        kinds: &["aws:cloudtrail:Trail", "aws:kms:Key"],
        when: "a trail's `kms_key` is a key of the stack",
        adds: "two statements in the key's `policy` letting `cloudtrail.amazonaws.com` use `kms:GenerateDataKey*` \
               (Sid `cairn-cloudtrail-encrypt-<trail>`) and `kms:DescribeKey`, for that trail only: its ARN as \
               `aws:SourceArn`, its name in the `kms:EncryptionContext:aws:cloudtrail:arn`; a key with no policy keeps \
               KMS's default statement beside them",
    },
    GlueRule {
        kinds: &["aws:logs:LogGroup", "aws:kms:Key"],
        when: "a log group's `kms_key` is a key of the stack",
        adds: "a statement in the key's `policy` (Sid `cairn-logs-<group>`) letting `logs.<region>.amazonaws.com` \
               encrypt and decrypt with it, for that group only (its ARN as \
               `kms:EncryptionContext:aws:logs:arn`)",
    },
    GlueRule {
        kinds: &["aws:sns:Topic", "aws:kms:Key", "aws:cloudwatch:Alarm", "aws:events:Rule"],
        when: "a topic's `kms_key` is a key of the stack, and alarms or events rules of the stack publish to it",
        adds: "a statement in the key's `policy` per publishing service (Sid `cairn-publish-encrypted-<service>`) \
               letting `cloudwatch.amazonaws.com` or `events.amazonaws.com` use `kms:Decrypt` and \
               `kms:GenerateDataKey*`; without it SNS drops what they publish, so validate refuses a key that \
               leaves them out",
    },
    GlueRule {
        kinds: &["aws:cloudtrail:Trail", "aws:iam:Role", "aws:logs:LogGroup"],
        when: "a trail has `cloudwatch_logs.log_group` and no `role`",
        adds: "a derived `aws:iam:Role` `<trail>-logs-role` trusted by `cloudtrail.amazonaws.com`, allowed to \
               write to that group's streams, set as the trail's role",
    },
    GlueRule {
        kinds: &["aws:lambda:EventSourceMapping", "aws:sqs:Queue", "aws:iam:Role", "aws:lambda:Function"],
        when: "a mapping reads a queue of the stack for a function whose role is in the stack",
        adds: "an inline policy `cairn-sqs-<mapping>` on the role: receive, delete and inspect messages of that \
               queue only; the mapping waits for the role's changes",
    },
    GlueRule {
        kinds: &["aws:lambda:Function", "aws:logs:LogGroup"],
        when: "any function (unless the stack has a log group of that name)",
        adds: "a derived `aws:logs:LogGroup` `<function>-logs` named `/aws/lambda/<name>`, with the function's \
               `log_retention_days`, made before the function so that Lambda never makes an unowned one",
    },
    GlueRule {
        kinds: &["aws:ec2:Instance", "aws:iam:InstanceProfile", "aws:iam:Role"],
        when: "an instance sets `role`",
        adds: "a derived `aws:iam:InstanceProfile` `<instance>-profile` holding the role, given to the instance \
               as its `instance_profile`",
    },
];

impl Glue for AwsGlue {
    fn rules(&self) -> &'static [GlueRule] {
        RULES
    }

    fn derive(&self, spec: &StackSpec) -> StackSpec {
        let mut out = spec.clone();
        let mut added = Vec::new();
        for r in &spec.resources {
            if r.kind == "aws:s3:Bucket" {
                bucket_defaults(r, &mut out);
            }
            if !r.options.auto_wire {
                continue;
            }
            match r.kind.as_str() {
                "aws:events:Rule" => rule(spec, r, &mut out, &mut added),
                "aws:sns:Subscription" => {
                    lambda_subscription(spec, r, &mut added);
                    queue_subscription(spec, r, &mut out);
                }
                "aws:cloudtrail:Trail" => {
                    trail(spec, r, &mut out, &mut added);
                    trail_key(spec, r, &mut out);
                }
                "aws:sns:Topic" => topic_key(spec, r, &mut out),
                "aws:logs:LogGroup" => log_group_key(spec, r, &mut out),
                "aws:s3:Bucket" => access_logging(spec, r, &mut out),
                "aws:lambda:EventSourceMapping" => queue_mapping(spec, r, &mut out),
                "aws:lambda:Function" => function_log_group(spec, r, &mut out, &mut added),
                "aws:ec2:Instance" => instance_profile(r, &mut out, &mut added),
                _ => {}
            }
        }
        for a in added {
            if !out.resources.iter().any(|r| r.id == a.id) {
                out.resources.push(a);
            }
        }
        out
    }

    fn cross_check(&self, spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
        let mut diags = queue_visibility(spec, props);
        diags.extend(buckets_logging_to_themselves(spec));
        diags.extend(alarm_metrics(spec, props));
        diags.extend(crate::limits::cross_check(spec, props));
        diags
    }
}

// ---- checks across resources ----------------------------------------------------

/// Lambda refuses a mapping from a queue whose visibility timeout is shorter
/// than the function's timeout: a message would reappear while still being
/// processed.
fn queue_visibility(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for m in spec.resources.iter().filter(|r| r.kind == "aws:lambda:EventSourceMapping") {
        let Some(mapping) = props.get(&m.id) else { continue };
        let of_kind = |key: &str, kind: &str| {
            let (id, _) = mapping.get(key).and_then(reference)?;
            spec.resource(&id).filter(|r| r.kind == kind)?;
            props.get(&id).map(|p| (id, p))
        };
        let (Some((queue_id, queue)), Some((function_id, function))) =
            (of_kind("source", "aws:sqs:Queue"), of_kind("function", "aws:lambda:Function"))
        else {
            continue;
        };
        let (Some(visibility), Some(timeout)) =
            (queue.get("visibility_timeout").and_then(Json::as_u64), function.get("timeout").and_then(Json::as_u64))
        else {
            continue;
        };
        if visibility >= timeout {
            continue;
        }
        let recommended = (timeout * 6).min(MAX_VISIBILITY_TIMEOUT);
        diags.push(
            Diagnostic::error(
                At::Prop { id: queue_id.clone(), path: vec![PathSeg::Key("visibility_timeout".into())] },
                format!(
                    "queue `{queue_id}` has a visibility timeout of {visibility} s, less than the {timeout} s timeout of function `{function_id}` that mapping `{}` feeds from it",
                    m.id
                ),
            )
            .expected(format!("a visibility timeout of at least {timeout} s: Lambda refuses the mapping otherwise"))
            .suggest(Some(format!("visibility_timeout: {recommended} (AWS recommends six times the function's timeout)"))),
        );
    }
    diags
}

const MAX_VISIBILITY_TIMEOUT: u64 = 43_200;

/// A bucket whose access logs go to itself by reference (the kind refuses a
/// name written out): every delivery would be a request logged in turn.
fn buckets_logging_to_themselves(spec: &StackSpec) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for b in spec.resources.iter().filter(|r| r.kind == "aws:s3:Bucket") {
        let target = b.props.get("access_logging").and_then(|l| l.get("bucket")).and_then(reference);
        if target.is_none_or(|(id, _)| id != b.id) {
            continue;
        }
        diags.push(
            Diagnostic::error(
                At::Prop {
                    id: b.id.clone(),
                    path: vec![PathSeg::Key("access_logging".into()), PathSeg::Key("bucket".into())],
                },
                format!(
                    "bucket `{}` writes its access logs into itself: each log object S3 delivers is a request that \
                     is logged in turn, so the logs never stop growing",
                    b.id
                ),
            )
            .expected("another bucket than this one")
            .suggest(Some(format!(
                "add a bucket for the logs (say `{}-logs`) and write `bucket: ${{{}-logs.name}}`",
                b.id, b.id
            ))),
        );
    }
    diags
}

/// An alarm on a custom metric (not an `AWS/` namespace) that no metric
/// filter of the stack publishes may never leave INSUFFICIENT_DATA: often a
/// typo. Only a warning, since an application may publish it.
fn alarm_metrics(spec: &StackSpec, props: &BTreeMap<String, Json>) -> Vec<Diagnostic> {
    let filters: Vec<&ResourceSpec> = spec.resources.iter().filter(|r| r.kind == "aws:logs:MetricFilter").collect();
    // A filter that failed its own checks has no canonical props: say nothing rather than guess.
    if filters.iter().any(|f| !props.contains_key(&f.id)) {
        return Vec::new();
    }
    let metric_of = |p: &Json| {
        let m = p.get("metric")?;
        Some((m.get("namespace")?.as_str()?.to_string(), m.get("name")?.as_str()?.to_string()))
    };
    let produced: Vec<(String, String, &str)> = filters
        .iter()
        .filter_map(|f| props.get(&f.id).and_then(metric_of).map(|(ns, name)| (ns, name, f.id.as_str())))
        .collect();
    let mut diags = Vec::new();
    for a in spec.resources.iter().filter(|r| r.kind == "aws:cloudwatch:Alarm") {
        let Some((ns, name)) = props.get(&a.id).and_then(metric_of) else { continue };
        if ns.starts_with("AWS/") || is_ref(&ns) || is_ref(&name) {
            continue;
        }
        let matches = |(f_ns, f_name, _): &&(String, String, &str)| {
            (*f_ns == ns || is_ref(f_ns)) && (*f_name == name || is_ref(f_name))
        };
        if produced.iter().any(|p| matches(&p)) {
            continue;
        }
        let same_ns: Vec<&(String, String, &str)> = produced.iter().filter(|(f_ns, _, _)| *f_ns == ns).collect();
        let (path, suggestion) = if same_ns.is_empty() {
            let near = did_you_mean(&ns, produced.iter().filter(|p| p.1 == name).map(|p| p.0.as_str()));
            ("namespace", near.map(|n| format!("did you mean namespace `{n}`?")))
        } else {
            let near = did_you_mean(&name, same_ns.iter().map(|p| p.1.as_str()));
            let filter = near.and_then(|n| same_ns.iter().find(|p| p.1 == n)).map(|p| p.2);
            ("name", near.zip(filter).map(|(n, f)| format!("did you mean `{n}`, which filter `{f}` publishes?")))
        };
        diags.push(
            Diagnostic::warning(
                At::Prop { id: a.id.clone(), path: vec![PathSeg::Key("metric".into()), PathSeg::Key(path.into())] },
                format!("alarm `{}` watches metric `{name}` in namespace `{ns}`, which no metric filter of this stack publishes", a.id),
            )
            .expected("the namespace and name of a metric filter's metric, or a metric an application puts itself")
            .suggest(suggestion),
        );
    }
    diags
}

// ---- the rows ------------------------------------------------------------------

/// A rule targeting a topic: the topic's policy lets EventBridge publish for
/// this rule. A rule targeting a function: a permission to invoke it.
fn rule(spec: &StackSpec, r: &ResourceSpec, out: &mut StackSpec, added: &mut Vec<ResourceSpec>) {
    let rule_arn = format!("{}:events:${{aws.region}}:${{aws.account_id}}:rule/{}{}", ARN, bus_prefix(r), name_of(r));
    for target in r.props.get("targets").and_then(Json::as_array).into_iter().flatten() {
        // A target's dead-letter queue receives from EventBridge too.
        if let Some((dlq_id, _)) = target.get("dead_letter_queue").and_then(reference)
            && let Some(q) = wired(spec, &dlq_id).filter(|q| q.kind == "aws:sqs:Queue")
        {
            let statement = send_to_queue(q, "events", &r.id, &rule_arn);
            if let Some(queue) = out.resources.iter_mut().find(|x| x.id == dlq_id) {
                merge_statement(&mut queue.props, "policy", statement);
            }
        }
        let Some((target_id, _)) = target.get("arn").and_then(reference) else { continue };
        let Some(t) = wired(spec, &target_id) else { continue };
        match t.kind.as_str() {
            "aws:sns:Topic" => {
                let topic_arn = arn_of(t).unwrap_or_default();
                let statement = json!({
                    "Sid": sid("events", &r.id),
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                });
                if let Some(topic) = out.resources.iter_mut().find(|x| x.id == target_id) {
                    // A topic with no policy has SNS's default one, which
                    // lets the account's own principals (CloudWatch alarms
                    // publishing for it among them) use the topic; the
                    // derived document replaces it, so it keeps that grant.
                    if topic.props.get("policy").is_none_or(Json::is_null) {
                        merge_statement(
                            &mut topic.props,
                            "policy",
                            sns_default_statement(&topic_arn, "${aws.account_id}"),
                        );
                    }
                    merge_statement(&mut topic.props, "policy", statement);
                }
            }
            "aws:sqs:Queue" => {
                let statement = send_to_queue(t, "events", &r.id, &rule_arn);
                if let Some(queue) = out.resources.iter_mut().find(|x| x.id == target_id) {
                    merge_statement(&mut queue.props, "policy", statement);
                }
            }
            "aws:lambda:Function" => {
                let props = json!({
                    "function": format!("${{{target_id}.arn}}"),
                    "principal": "events.amazonaws.com",
                    "source_arn": format!("${{{}.arn}}", r.id),
                });
                if !has_permission(spec, &target_id, "events.amazonaws.com", &r.id) {
                    added.push(derived(format!("{}-invoke-{target_id}", r.id), "aws:lambda:Permission", props));
                }
            }
            _ => {}
        }
    }
}

/// A `lambda` subscription: a permission for SNS to invoke the function,
/// for this topic only.
fn lambda_subscription(spec: &StackSpec, s: &ResourceSpec, added: &mut Vec<ResourceSpec>) {
    if s.props.get("protocol").and_then(Json::as_str) != Some("lambda") {
        return;
    }
    let Some((function_id, _)) = s.props.get("endpoint").and_then(reference) else { return };
    let Some(f) = wired(spec, &function_id) else { return };
    if f.kind != "aws:lambda:Function" {
        return;
    }
    let Some(topic) = s.props.get("topic").cloned() else { return };
    let topic_id = reference(&topic).map(|(id, _)| id).unwrap_or_default();
    if has_permission(spec, &function_id, "sns.amazonaws.com", &topic_id) {
        return;
    }
    let props =
        json!({"function": format!("${{{function_id}.arn}}"), "principal": "sns.amazonaws.com", "source_arn": topic});
    added.push(derived(format!("{}-invoke", s.id), "aws:lambda:Permission", props));
}

/// An `sqs` subscription to a queue in the stack: the queue's policy lets
/// SNS send for this topic only.
fn queue_subscription(spec: &StackSpec, s: &ResourceSpec, out: &mut StackSpec) {
    if s.props.get("protocol").and_then(Json::as_str) != Some("sqs") {
        return;
    }
    let Some((queue_id, _)) = s.props.get("endpoint").and_then(reference) else { return };
    let Some(q) = wired(spec, &queue_id).filter(|q| q.kind == "aws:sqs:Queue") else { return };
    let Some(topic) = s.props.get("topic") else { return };
    // The topic's ARN from its name when it is in the stack, so that the
    // queue need not wait for the topic (see arn_of).
    let topic_arn = match reference(topic) {
        Some((topic_id, _)) => match spec.resource(&topic_id).filter(|t| t.kind == "aws:sns:Topic").and_then(arn_of) {
            Some(arn) => arn,
            None => return,
        },
        None => match topic.as_str() {
            Some(arn) => arn.to_string(),
            None => return,
        },
    };
    let source = reference(topic).map_or_else(|| s.id.clone(), |(id, _)| id);
    let statement = send_to_queue(q, "sns", &source, &topic_arn);
    if let Some(queue) = out.resources.iter_mut().find(|x| x.id == queue_id) {
        merge_statement(&mut queue.props, "policy", statement);
    }
}

/// A queue-policy statement: `service` may send to the queue `q`, for the
/// source `source_arn` only.
fn send_to_queue(q: &ResourceSpec, service: &str, source_id: &str, source_arn: &str) -> Json {
    json!({
        "Sid": sid(service, source_id),
        "Effect": "Allow",
        "Principal": {"Service": format!("{service}.amazonaws.com")},
        "Action": "sqs:SendMessage",
        "Resource": arn_of(q).unwrap_or_default(),
        "Condition": {"ArnEquals": {"aws:SourceArn": source_arn}},
    })
}

/// A bucket's secure defaults, when on, named in the plan with why and how
/// to turn them off.
fn bucket_defaults(b: &ResourceSpec, out: &mut StackSpec) {
    let Some(bucket) = out.resources.iter_mut().find(|x| x.id == b.id) else { return };
    // Noted when on, however the stack says so (a Rust stack writes every
    // default out).
    let on = |key: &str, default: &Json| b.props.get(key).is_none_or(|v| v.is_null() || v == default);
    if on("require_tls", &Json::Bool(true)) {
        bucket.derived_props.insert(
            "require_tls".into(),
            "requests without TLS are denied by a statement merged into the bucket policy (CIS AWS 2.1.1); \
             `require_tls: false` turns it off"
                .into(),
        );
    }
    if on("object_ownership", &json!("BucketOwnerEnforced")) {
        bucket.derived_props.insert(
            "object_ownership".into(),
            "ACLs are disabled and the bucket owns every object; set `object_ownership` to use ACLs".into(),
        );
    }
}

/// A trail: the bucket policy CloudTrail needs (for a named bucket in the
/// stack), versioning on that bucket, and a role to deliver to CloudWatch
/// Logs when none is given.
fn trail(spec: &StackSpec, t: &ResourceSpec, out: &mut StackSpec, added: &mut Vec<ResourceSpec>) {
    let trail_arn = format!("{ARN}:cloudtrail:${{aws.region}}:${{aws.account_id}}:trail/{}", name_of(t));
    if let Some((bucket_id, _)) = t.props.get("bucket").and_then(reference)
        && let Some(b) = wired(spec, &bucket_id)
        && b.kind == "aws:s3:Bucket"
    {
        let bucket = match b.props.get("name").and_then(Json::as_str) {
            Some(name) => name.to_string(),
            None => {
                // The kind's default name is chosen at create, too late for
                // the policy that must name it: give the bucket one built
                // from pseudo values, known when the plan is made.
                let name = trail_bucket_name(&spec.name, &bucket_id);
                if let Some(props) =
                    out.resources.iter_mut().find(|x| x.id == bucket_id).and_then(|x| x.props.as_object_mut())
                {
                    props.insert("name".into(), Json::String(name.clone()));
                }
                name
            }
        };
        let bucket_arn = format!("{ARN}:s3:::{bucket}");
        let prefix = match t.props.get("key_prefix").and_then(Json::as_str) {
            Some(p) if !p.is_empty() => format!("{}/", p.trim_matches('/')),
            _ => String::new(),
        };
        let acl = json!({
            "Sid": sid("cloudtrail-acl", &t.id),
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        });
        let write = json!({
            "Sid": sid("cloudtrail-write", &t.id),
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": format!("{bucket_arn}/{prefix}AWSLogs/${{aws.account_id}}/*"),
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}},
        });
        if let Some(bucket) = out.resources.iter_mut().find(|x| x.id == bucket_id) {
            merge_statement(&mut bucket.props, "policy", acl);
            merge_statement(&mut bucket.props, "policy", write);
            // Log files are evidence: a version survives an overwrite or a delete.
            if b.props.get("versioning").is_none_or(Json::is_null)
                && let Some(props) = bucket.props.as_object_mut()
            {
                props.insert("versioning".into(), Json::Bool(true));
                bucket.derived_props.insert(
                    "versioning".into(),
                    format!(
                        "on, since trail `{}` writes here: a deleted or overwritten log file keeps its old \
                         version (expire old versions with a lifecycle rule); `versioning: false` turns it off",
                        t.id
                    ),
                );
            }
        }
    }

    let Some(logs) = t.props.get("cloudwatch_logs") else { return };
    if logs.get("role").is_some_and(|r| !r.is_null()) {
        return;
    }
    let Some(group) = logs.get("log_group").and_then(Json::as_str) else { return };
    let streams = format!("{}:log-stream:*", log_group_arn(spec, group));
    let role_id = format!("{}-logs-role", t.id);
    let role = json!({
        "description": format!("Lets CloudTrail (trail `{}`) write to CloudWatch Logs; derived by cairn", t.id),
        "trusted_by": ["cloudtrail.amazonaws.com"],
        "inline_policies": {"deliver-to-logs": {"Version": VERSION, "Statement": [{
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": streams,
        }]}},
    });
    added.push(derived(role_id.clone(), "aws:iam:Role", role));
    if let Some(trail) = out.resources.iter_mut().find(|x| x.id == t.id)
        && let Some(logs) = trail.props.get_mut("cloudwatch_logs").and_then(Json::as_object_mut)
    {
        logs.insert("role".into(), Json::String(format!("${{{role_id}.arn}}")));
    }
}

/// A trail encrypting with a key of the stack: the key policy lets
/// CloudTrail make data keys and describe the key, for this trail only
/// (its ARN as `aws:SourceArn`, its name in the encryption context CloudTrail
/// sends).
fn trail_key(spec: &StackSpec, t: &ResourceSpec, out: &mut StackSpec) {
    let Some(key_id) = stack_key(spec, t.props.get("kms_key")) else { return };
    let trail_arn = format!("{ARN}:cloudtrail:${{aws.region}}:${{aws.account_id}}:trail/{}", name_of(t));
    // The context names the trail; its region is left open, as AWS's own
    // policies do, while `aws:SourceArn` pins the exact trail.
    let context = format!("{ARN}:cloudtrail:*:${{aws.account_id}}:trail/{}", name_of(t));
    let encrypt = json!({
        "Sid": sid("cloudtrail-encrypt", &t.id),
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceArn": trail_arn},
            "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": context},
        },
    });
    let describe = json!({
        "Sid": sid("cloudtrail-describe", &t.id),
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:DescribeKey",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
    });
    merge_key_statement(out, &key_id, encrypt);
    merge_key_statement(out, &key_id, describe);
}

/// A topic encrypted with a key of the stack: the key policy lets each
/// service that publishes to it from the stack (CloudWatch for alarms,
/// EventBridge for rules) encrypt what it sends.
fn topic_key(spec: &StackSpec, t: &ResourceSpec, out: &mut StackSpec) {
    let Some(key_id) = stack_key(spec, t.props.get("kms_key")) else { return };
    for p in PUBLISHERS {
        let publishes = spec
            .resources
            .iter()
            .filter(|r| r.kind == p.kind && r.options.auto_wire)
            .any(|r| p.publishes_to(&r.props, &t.id));
        if !publishes {
            continue;
        }
        let service = p.principal.split('.').next().unwrap_or(p.principal);
        let statement = json!({
            "Sid": sid("publish-encrypted", service),
            "Effect": "Allow",
            "Principal": {"Service": p.principal},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        });
        merge_key_statement(out, &key_id, statement);
    }
}

/// A log group encrypted with a key of the stack: the key policy lets
/// CloudWatch Logs of the region use it for that group only (its ARN as the
/// encryption context CloudWatch Logs sends).
fn log_group_key(spec: &StackSpec, g: &ResourceSpec, out: &mut StackSpec) {
    let Some(key_id) = stack_key(spec, g.props.get("kms_key")) else { return };
    let statement = json!({
        "Sid": sid("logs", &g.id),
        "Effect": "Allow",
        "Principal": {"Service": "logs.${aws.region}.amazonaws.com"},
        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": arn_of(g).unwrap_or_default()}},
    });
    merge_key_statement(out, &key_id, statement);
}

/// The id of the key of the stack a `kms_key` prop names by reference, when
/// that key allows auto-wiring.
fn stack_key(spec: &StackSpec, value: Option<&Json>) -> Option<String> {
    let (id, _) = reference(value?)?;
    wired(spec, &id).filter(|k| k.kind == "aws:kms:Key").map(|k| k.id.clone())
}

/// Merges a statement into a key's policy. A key with no policy has KMS's
/// default one, which lets the account's IAM policies decide; the derived
/// document replaces it, so it keeps that statement (without it the account
/// could lose control of the key, and AWS refuses such a policy).
fn merge_key_statement(out: &mut StackSpec, key_id: &str, statement: Json) {
    let Some(key) = out.resources.iter_mut().find(|x| x.id == key_id) else { return };
    if key.props.is_null() {
        key.props = json!({});
    }
    if key.props.get("policy").is_none_or(Json::is_null) {
        merge_statement(&mut key.props, "policy", kms_root_statement("${aws.partition}", "${aws.account_id}"));
    }
    merge_statement(&mut key.props, "policy", statement);
}

/// A bucket logging its requests into a bucket of the stack: the log
/// bucket's policy lets S3's logging service put objects under the prefix,
/// for this bucket and this account only (the delivery AWS documents for a
/// log bucket whose ACLs are off, as cairn's are). A log bucket named by
/// its name written out is made first, as a reference would make it.
fn access_logging(spec: &StackSpec, b: &ResourceSpec, out: &mut StackSpec) {
    let Some(logging) = b.props.get("access_logging") else { return };
    let Some(target) = logging.get("bucket").and_then(Json::as_str) else { return };
    let by_reference = reference(&Json::String(target.to_string()));
    let log_id = match &by_reference {
        Some((id, attr)) if attr == "name" => id.clone(),
        // Another attribute: validation says which one fits.
        Some(_) => return,
        None => {
            let same_name = |r: &&ResourceSpec| {
                r.kind == "aws:s3:Bucket" && r.props.get("name").and_then(Json::as_str) == Some(target)
            };
            match spec.resources.iter().find(same_name) {
                Some(r) => r.id.clone(),
                None => return,
            }
        }
    };
    // Logging into itself is an error (see `buckets_logging_to_themselves`).
    if log_id == b.id {
        return;
    }
    let Some(log) = wired(spec, &log_id).filter(|r| r.kind == "aws:s3:Bucket") else { return };
    let log_name = match log.props.get("name").and_then(Json::as_str) {
        Some(name) => name.to_string(),
        None => {
            // As for a trail's bucket: a policy must name its bucket before
            // the kind would choose the name at create. The name lasts only
            // while something logs here, so the plan says how to keep it.
            let name = trail_bucket_name(&spec.name, &log_id);
            if let Some(log) = out.resources.iter_mut().find(|x| x.id == log_id)
                && let Some(props) = log.props.as_object_mut()
            {
                props.insert("name".into(), Json::String(name.clone()));
                log.derived_props.insert(
                    "name".into(),
                    format!(
                        "given since bucket `{}` logs here and the policy must name this bucket; write \
                         `name: {name}` to keep it, or the bucket is replaced when no bucket logs here any more",
                        b.id
                    ),
                );
            }
            name
        }
    };
    // This bucket's own name, or the pattern its default name will match:
    // naming it here would replace it, a bucket full of data.
    let source = match b.props.get("name").and_then(Json::as_str) {
        Some(name) => name.to_string(),
        None => default_bucket_name_pattern(&spec.name, &b.id),
    };
    let prefix = logging.get("prefix").and_then(Json::as_str).unwrap_or_default();
    let statement = json!({
        "Sid": sid("s3-logging", &b.id),
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": format!("{ARN}:s3:::{log_name}/{prefix}*"),
        "Condition": {
            "ArnLike": {"aws:SourceArn": format!("{ARN}:s3:::{source}")},
            "StringEquals": {"aws:SourceAccount": "${aws.account_id}"},
        },
    });
    if let Some(log) = out.resources.iter_mut().find(|x| x.id == log_id) {
        merge_statement(&mut log.props, "policy", statement);
    }
    if by_reference.is_none()
        && let Some(source) = out.resources.iter_mut().find(|x| x.id == b.id)
        && !source.depends_on.contains(&log_id)
    {
        source.depends_on.push(log_id);
    }
}

/// The name of an unnamed bucket a trail writes to:
/// `<stack>-<id>-<account>-<region>`, the first part cut so that the whole
/// fits S3's 63 characters in every region (account 12, region at most 14).
fn trail_bucket_name(stack: &str, id: &str) -> String {
    const ROOM: usize = 63 - 1 - 12 - 1 - 14;
    let mut base = String::new();
    for c in format!("{stack}-{id}").chars() {
        if !(c == '-' && base.ends_with('-')) {
            base.push(c);
        }
    }
    base.truncate(ROOM);
    let base = base.trim_end_matches('-');
    format!("{base}-${{aws.account_id}}-${{aws.region}}")
}

/// A mapping from a queue to a function whose role is in the stack: the role
/// may receive, delete and inspect messages of that queue, and no other.
fn queue_mapping(spec: &StackSpec, m: &ResourceSpec, out: &mut StackSpec) {
    let Some((queue_id, _)) = m.props.get("source").and_then(reference) else { return };
    let Some(q) = wired(spec, &queue_id) else { return };
    if q.kind != "aws:sqs:Queue" {
        return;
    }
    let Some((function_id, _)) = m.props.get("function").and_then(reference) else { return };
    let Some(f) = spec.resource(&function_id).filter(|f| f.kind == "aws:lambda:Function") else { return };
    let Some((role_id, _)) = f.props.get("role").and_then(reference) else { return };
    let Some(role) = wired(spec, &role_id).filter(|r| r.kind == "aws:iam:Role") else { return };
    // Lambda checks the role's permissions when the mapping is made: a
    // mapping made while a change to the role (its derived policy among
    // them) is under way is refused, so it waits for every change of it,
    // not only for the function, which may have nothing to do.
    if let Some(mapping) = out.resources.iter_mut().find(|x| x.id == m.id)
        && !mapping.depends_on.contains(&role_id)
    {
        mapping.depends_on.push(role_id.clone());
    }
    let statement = |resource: String| {
        json!({
            "Effect": "Allow",
            "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
            "Resource": resource,
        })
    };
    // The queue's ARN from its name, not `${queue.arn}`: IAM does not need
    // the queue to exist, so the role need not wait for it (see arn_of).
    let by_reference = statement(format!("${{{queue_id}.arn}}"));
    let statement = arn_of(q).map_or_else(|| by_reference.clone(), statement);
    let already =
        role.props.get("inline_policies").and_then(Json::as_object).into_iter().flat_map(|p| p.values()).any(|doc| {
            statements(doc).iter().any(|s| same_statement(s, &statement) || same_statement(s, &by_reference))
        });
    if already {
        return;
    }
    if let Some(role) = out.resources.iter_mut().find(|x| x.id == role_id)
        && let Some(props) = role.props.as_object_mut()
    {
        let policies = props.entry("inline_policies").or_insert_with(|| json!({}));
        if let Some(policies) = policies.as_object_mut() {
            policies.insert(sid("sqs", &m.id), json!({"Version": VERSION, "Statement": [statement]}));
        }
    }
}

/// A function: its log group `/aws/lambda/<name>`, owned by the stack and
/// made before the function, unless the stack already has a group so named.
fn function_log_group(spec: &StackSpec, f: &ResourceSpec, out: &mut StackSpec, added: &mut Vec<ResourceSpec>) {
    let group = format!("/aws/lambda/{}", name_of(f));
    let written = spec
        .resources
        .iter()
        .any(|r| r.kind == "aws:logs:LogGroup" && r.props.get("name").and_then(Json::as_str) == Some(group.as_str()));
    if written {
        return;
    }
    let id = format!("{}-logs", f.id);
    let mut props = json!({"name": group});
    if let Some(days) = f.props.get("log_retention_days") {
        props["retention_days"] = days.clone();
    }
    added.push(derived(id.clone(), "aws:logs:LogGroup", props));
    if let Some(function) = out.resources.iter_mut().find(|x| x.id == f.id)
        && !function.depends_on.contains(&id)
    {
        function.depends_on.push(id);
    }
}

/// An instance with a `role`: the instance profile that carries the role,
/// given to the instance in its place (one profile per instance).
fn instance_profile(i: &ResourceSpec, out: &mut StackSpec, added: &mut Vec<ResourceSpec>) {
    let Some(role) = i.props.get("role").and_then(Json::as_str) else { return };
    if i.props.get("instance_profile").is_some_and(|p| !p.is_null()) {
        return; // Both given: the kind's check reports it.
    }
    // The profile takes the role's name.
    let role_name = match reference(&Json::String(role.to_string())) {
        Some((id, _)) => format!("${{{id}.name}}"),
        None => {
            role.rsplit_once(":role/").map_or(role, |(_, path)| path.rsplit('/').next().unwrap_or(path)).to_string()
        }
    };
    let id = format!("{}-profile", i.id);
    added.push(derived(id.clone(), "aws:iam:InstanceProfile", json!({"role": role_name})));
    if let Some(instance) = out.resources.iter_mut().find(|x| x.id == i.id)
        && let Some(props) = instance.props.as_object_mut()
    {
        props.remove("role");
        props.insert("instance_profile".into(), Json::String(format!("${{{id}.name}}")));
    }
}

// ---- helpers --------------------------------------------------------------------

const ARN: &str = "arn:${aws.partition}";

/// The Sid (or inline policy name) of a derived statement.
fn sid(what: &str, source: &str) -> String {
    let mut s = format!("cairn-{what}-{source}");
    s.retain(|c| c.is_ascii_alphanumeric() || c == '-');
    s
}

fn derived(id: String, kind: &str, props: Json) -> ResourceSpec {
    ResourceSpec {
        id,
        kind: kind.into(),
        props,
        depends_on: Vec::new(),
        options: ResourceOptions::default(),
        derived: true,
        derived_props: Default::default(),
    }
}

/// `(id, attr)` when the value is exactly one reference to a resource.
fn reference(value: &Json) -> Option<(String, String)> {
    let parts = parse_template(value.as_str()?).ok()?;
    match parts.as_slice() {
        [Part::Ref(r)] => match &r.target {
            RefTarget::Resource { id, attr } => Some((id.clone(), attr.clone())),
            _ => None,
        },
        _ => None,
    }
}

/// The resource `id`, when it exists and allows auto-wiring.
fn wired<'a>(spec: &'a StackSpec, id: &str) -> Option<&'a ResourceSpec> {
    spec.resource(id).filter(|r| r.options.auto_wire)
}

/// The physical name a resource gets: its `name` prop, else the default of
/// its kind (`<stack>-<id>`, `.fifo` added for FIFO queues and topics, and
/// `/cairn/<stack>/<id>` for log groups), as the kinds' `defaults` give it
/// (a test holds the two together).
fn name_of(r: &ResourceSpec) -> String {
    if let Some(name) = r.props.get("name").and_then(Json::as_str) {
        return name.to_string();
    }
    let fifo = r.props.get("fifo").and_then(Json::as_bool) == Some(true);
    match r.kind.as_str() {
        "aws:logs:LogGroup" => format!("/cairn/${{stack.name}}/{}", r.id),
        "aws:sqs:Queue" | "aws:sns:Topic" if fifo => format!("${{stack.name}}-{}.fifo", r.id),
        _ => format!("${{stack.name}}-{}", r.id),
    }
}

/// The ARN a queue, topic or log group (without `:*`) will have, from its
/// name and pseudo values, for policy documents: IAM and the services'
/// resource policies accept ARNs of resources that do not exist yet, so a
/// document naming a resource this way does not make its owner wait for
/// it, where `${id.arn}` would (each reference is an ordering edge). The
/// resources that must exist first (a trail's log group, a mapping's
/// queue) still reference it. `None` for other kinds.
fn arn_of(r: &ResourceSpec) -> Option<String> {
    let name = name_of(r);
    match r.kind.as_str() {
        "aws:sqs:Queue" => Some(format!("{ARN}:sqs:${{aws.region}}:${{aws.account_id}}:{name}")),
        "aws:sns:Topic" => Some(format!("{ARN}:sns:${{aws.region}}:${{aws.account_id}}:{name}")),
        "aws:logs:LogGroup" => Some(named_log_group_arn(&name)),
        _ => None,
    }
}

/// `<bus>/` for a rule on a custom event bus (its name or ARN), else nothing.
fn bus_prefix(r: &ResourceSpec) -> String {
    match r.props.get("event_bus").and_then(Json::as_str) {
        None | Some("default") => String::new(),
        Some(bus) => format!("{}/", bus.rsplit_once("event-bus/").map_or(bus, |(_, name)| name)),
    }
}

/// The ARN (without `:*`) of a log group given by reference, name or ARN;
/// built from the group's name when it is in the stack, so that a policy
/// naming it need not wait for it (see [`arn_of`]).
fn log_group_arn(spec: &StackSpec, group: &str) -> String {
    if let Some((id, attr)) = reference(&Json::String(group.to_string())) {
        if let Some(arn) = spec.resource(&id).filter(|g| g.kind == "aws:logs:LogGroup").and_then(arn_of) {
            return arn;
        }
        if attr == "arn" {
            return group.to_string();
        }
    }
    if group.starts_with("arn:") {
        return group.strip_suffix(":*").unwrap_or(group).to_string();
    }
    named_log_group_arn(group)
}

/// The ARN (without `:*`) of the log group named `name`.
fn named_log_group_arn(name: &str) -> String {
    format!("{ARN}:logs:${{aws.region}}:${{aws.account_id}}:log-group:{name}")
}

/// Whether the stack already has a permission for `principal` on the
/// function, from the resource `source` (by reference) or from anywhere.
fn has_permission(spec: &StackSpec, function_id: &str, principal: &str, source: &str) -> bool {
    spec.resources.iter().filter(|r| r.kind == "aws:lambda:Permission").any(|p| {
        let function = p.props.get("function").and_then(reference).map(|(id, _)| id);
        let from = p.props.get("source_arn");
        function.as_deref() == Some(function_id)
            && p.props.get("principal").and_then(Json::as_str) == Some(principal)
            && from.is_none_or(|s| s.is_null() || reference(s).is_some_and(|(id, _)| id == source))
    })
}

/// The statements of a policy document (a single statement object counts).
pub(crate) fn statements(doc: &Json) -> Vec<Json> {
    match doc.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(one @ Json::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Statements that mean the same, whatever their Sid.
fn same_statement(a: &Json, b: &Json) -> bool {
    let strip = |s: &Json| {
        let mut s = s.clone();
        if let Some(o) = s.as_object_mut() {
            o.remove("Sid");
        }
        policy_canonical(&s)
    };
    strip(a) == strip(b)
}

/// Adds a statement to the policy document under `key` (creating it), unless
/// an equivalent statement is already there.
fn merge_statement(props: &mut Json, key: &str, statement: Json) {
    let Some(props) = props.as_object_mut() else { return };
    let doc = props.entry(key).or_insert(Json::Null);
    if doc.is_null() {
        *doc = json!({"Version": VERSION, "Statement": []});
    }
    let Some(doc) = doc.as_object_mut() else { return };
    let list = doc.entry("Statement").or_insert_with(|| json!([]));
    if list.is_object() {
        *list = Json::Array(vec![list.clone()]);
    }
    let Some(list) = list.as_array_mut() else { return };
    if !list.iter().any(|s| same_statement(s, &statement)) {
        list.push(statement);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    pub(crate) fn res(id: &str, kind: &str, props: Json) -> ResourceSpec {
        ResourceSpec {
            id: id.into(),
            kind: kind.into(),
            props,
            depends_on: vec![],
            options: ResourceOptions::default(),
            derived: false,
            derived_props: Default::default(),
        }
    }

    fn stack(resources: Vec<ResourceSpec>) -> StackSpec {
        StackSpec { name: "s".into(), resources, ..StackSpec::default() }
    }

    fn get<'a>(s: &'a StackSpec, id: &str) -> &'a ResourceSpec {
        s.resource(id).unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn a_rule_on_a_topic_adds_one_scoped_statement_and_merges_with_the_users() {
        let user = json!({"Version": VERSION, "Statement": {"Sid": "Mine", "Effect": "Allow",
            "Principal": {"AWS": "*"}, "Action": "sns:Subscribe", "Resource": "*"}});
        let s = stack(vec![
            res("alerts", "aws:sns:Topic", json!({"policy": user})),
            res("r", "aws:events:Rule", json!({"targets": [{"arn": "${alerts.arn}"}]})),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "alerts").props["policy"]);
        assert_eq!(st.len(), 2, "{st:?}");
        assert_eq!(st[0]["Sid"], "Mine");
        assert_eq!(st[1]["Principal"]["Service"], "events.amazonaws.com");
        assert_eq!(
            st[1]["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:${aws.partition}:events:${aws.region}:${aws.account_id}:rule/${stack.name}-r"
        );
        assert_eq!(st[1]["Resource"], "arn:${aws.partition}:sns:${aws.region}:${aws.account_id}:${stack.name}-alerts");
        // Deriving again (or a user who wrote the same statement) adds nothing.
        let again = AwsGlue.derive(&out);
        assert_eq!(statements(&get(&again, "alerts").props["policy"]).len(), 2);
    }

    #[test]
    fn a_topic_without_a_policy_keeps_what_the_default_allowed() {
        let s = stack(vec![
            res("alerts", "aws:sns:Topic", json!({})),
            res("r", "aws:events:Rule", json!({"targets": [{"arn": "${alerts.arn}"}]})),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "alerts").props["policy"]);
        assert_eq!(st.len(), 2, "{st:?}");
        assert_eq!(st[0]["Principal"]["AWS"], "*");
        assert_eq!(st[0]["Condition"]["StringEquals"]["AWS:SourceOwner"], "${aws.account_id}");
        assert!(st[0]["Action"].as_array().is_some_and(|a| a.contains(&json!("SNS:Publish"))));
        assert_eq!(st[1]["Principal"]["Service"], "events.amazonaws.com");
        assert_eq!(statements(&get(&AwsGlue.derive(&out), "alerts").props["policy"]).len(), 2);
    }

    #[test]
    fn queues_let_their_topics_and_rules_send_to_them() {
        let s = stack(vec![
            res("alerts", "aws:sns:Topic", json!({})),
            res("inbox", "aws:sqs:Queue", json!({})),
            res("dlq", "aws:sqs:Queue", json!({})),
            res(
                "sub",
                "aws:sns:Subscription",
                json!({"topic": "${alerts.arn}", "protocol": "sqs", "endpoint": "${inbox.arn}"}),
            ),
            res(
                "r",
                "aws:events:Rule",
                json!({"targets": [{"arn": "${inbox.arn}", "dead_letter_queue": "${dlq.arn}"}]}),
            ),
        ]);
        let out = AwsGlue.derive(&s);
        let inbox = statements(&get(&out, "inbox").props["policy"]);
        assert_eq!(inbox.len(), 2, "{inbox:?}");
        let queue_arn = "arn:${aws.partition}:sqs:${aws.region}:${aws.account_id}:${stack.name}-inbox";
        let by = |service: &str| inbox.iter().find(|st| st["Principal"]["Service"] == service).cloned();
        let sns = by("sns.amazonaws.com").unwrap_or_default();
        assert_eq!((sns["Action"].as_str(), sns["Resource"].as_str()), (Some("sqs:SendMessage"), Some(queue_arn)));
        assert_eq!(
            sns["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:${aws.partition}:sns:${aws.region}:${aws.account_id}:${stack.name}-alerts"
        );
        let events = by("events.amazonaws.com").unwrap_or_default();
        let rule_arn = "arn:${aws.partition}:events:${aws.region}:${aws.account_id}:rule/${stack.name}-r";
        assert_eq!(events["Condition"]["ArnEquals"]["aws:SourceArn"], rule_arn);
        let dlq = statements(&get(&out, "dlq").props["policy"]);
        assert_eq!(dlq.len(), 1);
        assert_eq!(dlq[0]["Condition"]["ArnEquals"]["aws:SourceArn"], rule_arn);
        // No reference in the documents: the queues need not wait for the
        // topic or the rule.
        assert!(!get(&out, "inbox").props.to_string().contains("${alerts."));
        assert_eq!(statements(&get(&AwsGlue.derive(&out), "inbox").props["policy"]).len(), 2);
    }

    #[test]
    fn buckets_say_their_secure_defaults_and_a_trails_bucket_keeps_versions() {
        let s = stack(vec![
            res("logs", "aws:s3:Bucket", json!({"name": "l"})),
            res("plain", "aws:s3:Bucket", json!({"require_tls": false, "object_ownership": "ObjectWriter"})),
            res("t", "aws:cloudtrail:Trail", json!({"bucket": "${logs.name}"})),
        ]);
        let out = AwsGlue.derive(&s);
        let logs = get(&out, "logs");
        assert_eq!(logs.props["versioning"], json!(true));
        let notes: Vec<&str> = logs.derived_props.keys().map(String::as_str).collect();
        assert_eq!(notes, ["object_ownership", "require_tls", "versioning"]);
        assert!(logs.derived_props["versioning"].contains("trail `t`"), "{:?}", logs.derived_props);
        // Said off, nothing is noted; no trail, no versioning.
        let plain = get(&out, "plain");
        assert!(plain.derived_props.is_empty() && plain.props.get("versioning").is_none(), "{plain:?}");
        // A versioning the stack writes is its own.
        let s = stack(vec![
            res("logs", "aws:s3:Bucket", json!({"name": "l", "versioning": false})),
            res("t", "aws:cloudtrail:Trail", json!({"bucket": "${logs.name}"})),
        ]);
        let logs = AwsGlue.derive(&s);
        assert_eq!(get(&logs, "logs").props["versioning"], json!(false));
        assert!(!get(&logs, "logs").derived_props.contains_key("versioning"));
    }

    #[test]
    fn a_bucket_logging_to_a_bucket_of_the_stack_lets_s3_deliver_there() {
        let mine = json!({"Sid": "Mine", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:root"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::l/*"});
        let s = stack(vec![
            res("logs", "aws:s3:Bucket", json!({"name": "l", "policy": {"Version": VERSION, "Statement": [mine]}})),
            res(
                "data",
                "aws:s3:Bucket",
                json!({"name": "d", "access_logging": {"bucket": "${logs.name}", "prefix": "access/"}}),
            ),
            // Neither named: the log bucket gets a name, the source a pattern.
            res("sink", "aws:s3:Bucket", json!({})),
            res("raw", "aws:s3:Bucket", json!({"access_logging": {"bucket": "${sink.name}"}})),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "logs").props["policy"]);
        assert_eq!(st.len(), 2, "{st:?}");
        assert_eq!(st[0]["Sid"], "Mine", "the stack's own statement is kept, first");
        assert_eq!(
            st[1],
            json!({
                "Sid": "cairn-s3-logging-data",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": "arn:${aws.partition}:s3:::l/access/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": "arn:${aws.partition}:s3:::d"},
                    "StringEquals": {"aws:SourceAccount": "${aws.account_id}"},
                },
            })
        );
        let sink = get(&out, "sink");
        assert_eq!(sink.props["name"], "s-sink-${aws.account_id}-${aws.region}");
        assert!(sink.derived_props["name"].contains("write `name: s-sink-${aws.account_id}-${aws.region}`"));
        assert!(!get(&out, "logs").derived_props.contains_key("name"), "a name the stack wrote is its own");
        let st = statements(&sink.props["policy"]);
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(st[0]["Resource"], "arn:${aws.partition}:s3:::s-sink-${aws.account_id}-${aws.region}/*");
        assert_eq!(st[0]["Condition"]["ArnLike"]["aws:SourceArn"], "arn:${aws.partition}:s3:::s-raw-????????");
        // The source buckets are left as written: a reference already orders them.
        for id in ["data", "raw"] {
            assert_eq!(get(&out, id).props, get(&s, id).props);
            assert!(get(&out, id).depends_on.is_empty());
        }
        // Deriving again adds nothing.
        assert_eq!(statements(&get(&AwsGlue.derive(&out), "logs").props["policy"]).len(), 2);
    }

    #[test]
    fn a_log_bucket_named_by_its_name_is_wired_and_made_first() {
        let s = stack(vec![
            res("logs", "aws:s3:Bucket", json!({"name": "app-logs"})),
            res("data", "aws:s3:Bucket", json!({"access_logging": {"bucket": "app-logs"}})),
            res("other", "aws:s3:Bucket", json!({"access_logging": {"bucket": "elsewhere"}})),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "logs").props["policy"]);
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(st[0]["Resource"], "arn:${aws.partition}:s3:::app-logs/*");
        assert_eq!(get(&out, "data").depends_on, vec!["logs".to_string()]);
        assert_eq!(get(&AwsGlue.derive(&out), "data").depends_on, vec!["logs".to_string()]);
        // A bucket outside the stack: its policy is its owner's business.
        assert_eq!(get(&out, "other").props, get(&s, "other").props);
        assert!(get(&out, "other").depends_on.is_empty());

        // Validated: the source waits for its log bucket, in either form.
        let registry = crate::provider::registry();
        let (v, d) = cairn_engine::validate::validate(&s, &registry, &BTreeMap::new());
        let v = v.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(v.graph.deps_of("data").collect::<Vec<_>>(), ["logs"]);
        let by_ref = stack(vec![
            res("logs", "aws:s3:Bucket", json!({})),
            res("data", "aws:s3:Bucket", json!({"access_logging": {"bucket": "${logs.name}"}})),
        ]);
        let (v, d) = cairn_engine::validate::validate(&by_ref, &registry, &BTreeMap::new());
        let v = v.unwrap_or_else(|| panic!("{d:?}"));
        assert_eq!(v.order, ["logs", "data"]);
        // Another attribute of the bucket does not fit.
        let arn = stack(vec![
            res("logs", "aws:s3:Bucket", json!({})),
            res("data", "aws:s3:Bucket", json!({"access_logging": {"bucket": "${logs.arn}"}})),
        ]);
        let (v, d) = cairn_engine::validate::validate(&arn, &registry, &BTreeMap::new());
        assert!(v.is_none());
        assert!(d.0.iter().any(|d| d.suggestion.as_deref() == Some("did you mean `${logs.name}`?")), "{d:?}");
    }

    #[test]
    fn a_bucket_logging_into_itself_is_an_error_and_gets_no_statement() {
        let s = stack(vec![res("data", "aws:s3:Bucket", json!({"access_logging": {"bucket": "${data.name}"}}))]);
        let out = AwsGlue.derive(&s);
        assert!(get(&out, "data").props.get("policy").is_none());
        let diags = AwsGlue.cross_check(&out, &canonical(&out));
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].severity, cairn_engine::diag::Severity::Error);
        assert_eq!(
            diags[0].at,
            At::Prop {
                id: "data".into(),
                path: vec![PathSeg::Key("access_logging".into()), PathSeg::Key("bucket".into())]
            }
        );
        assert!(diags[0].message.contains("writes its access logs into itself"), "{}", diags[0].message);
        assert_eq!(
            diags[0].suggestion.as_deref(),
            Some("add a bucket for the logs (say `data-logs`) and write `bucket: ${data-logs.name}`")
        );
    }

    #[test]
    fn access_logging_glue_is_off_with_auto_wire_false_on_either_bucket() {
        for off in ["logs", "data"] {
            let mut s = stack(vec![
                res("logs", "aws:s3:Bucket", json!({"name": "l"})),
                res("data", "aws:s3:Bucket", json!({"access_logging": {"bucket": "l"}})),
            ]);
            s.resources.iter_mut().filter(|r| r.id == off).for_each(|r| r.options.auto_wire = false);
            let out = AwsGlue.derive(&s);
            assert!(get(&out, "logs").props.get("policy").is_none(), "auto_wire off on {off}");
            assert!(get(&out, "data").depends_on.is_empty(), "auto_wire off on {off}");
        }
    }

    #[test]
    fn auto_wire_false_on_either_end_turns_it_off() {
        let mut rule = res("r", "aws:events:Rule", json!({"targets": [{"arn": "${alerts.arn}"}]}));
        rule.options.auto_wire = false;
        let s = stack(vec![res("alerts", "aws:sns:Topic", json!({})), rule]);
        assert_eq!(AwsGlue.derive(&s), s);
        let mut topic = res("alerts", "aws:sns:Topic", json!({}));
        topic.options.auto_wire = false;
        let s = stack(vec![topic, res("r", "aws:events:Rule", json!({"targets": [{"arn": "${alerts.arn}"}]}))]);
        assert_eq!(AwsGlue.derive(&s), s);
    }

    #[test]
    fn a_rule_on_a_function_and_a_lambda_subscription_get_permissions() {
        let s = stack(vec![
            res("fn", "aws:lambda:Function", json!({"name": "f"})),
            res("fn-logs-group", "aws:logs:LogGroup", json!({"name": "/aws/lambda/f"})),
            res("t", "aws:sns:Topic", json!({})),
            res("r", "aws:events:Rule", json!({"targets": [{"arn": "${fn.arn}"}]})),
            res(
                "sub",
                "aws:sns:Subscription",
                json!({"topic": "${t.arn}", "protocol": "lambda", "endpoint": "${fn.arn}"}),
            ),
        ]);
        let out = AwsGlue.derive(&s);
        let p = get(&out, "r-invoke-fn");
        assert!(p.derived);
        assert_eq!(
            p.props,
            json!({"function": "${fn.arn}", "principal": "events.amazonaws.com", "source_arn": "${r.arn}"})
        );
        let p = get(&out, "sub-invoke");
        assert_eq!(p.props["principal"], "sns.amazonaws.com");
        assert_eq!(p.props["source_arn"], "${t.arn}");
        // The log group written by hand is used, not a second one.
        assert!(out.resource("fn-logs").is_none());
        assert_eq!(out.resources.len(), s.resources.len() + 2);
    }

    #[test]
    fn a_trail_gets_its_bucket_policy_and_logs_role() {
        let s = stack(vec![
            res("b", "aws:s3:Bucket", json!({"name": "${stack.name}-trail"})),
            res("g", "aws:logs:LogGroup", json!({})),
            res(
                "t",
                "aws:cloudtrail:Trail",
                json!({"bucket": "${b.name}", "cloudwatch_logs": {"log_group": "${g.arn}"}}),
            ),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "b").props["policy"]);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0]["Action"], "s3:GetBucketAcl");
        assert_eq!(st[1]["Resource"], "arn:${aws.partition}:s3:::${stack.name}-trail/AWSLogs/${aws.account_id}/*");
        assert_eq!(st[1]["Condition"]["StringEquals"]["s3:x-amz-acl"], "bucket-owner-full-control");
        let role = get(&out, "t-logs-role");
        assert!(role.derived);
        assert_eq!(
            role.props["inline_policies"]["deliver-to-logs"]["Statement"][0]["Resource"],
            "arn:${aws.partition}:logs:${aws.region}:${aws.account_id}:log-group:/cairn/${stack.name}/g:log-stream:*"
        );
        // The role names the group by its ARN built from the name, so it
        // does not wait for the group; the trail, which needs it, does.
        assert!(!role.props.to_string().contains("${g."));
        assert_eq!(get(&out, "t").props["cloudwatch_logs"]["role"], "${t-logs-role.arn}");
    }

    #[test]
    fn an_unnamed_trail_bucket_gets_a_name_its_policy_can_hold() {
        let mut s = stack(vec![
            res("logs", "aws:s3:Bucket", json!({})),
            res("t", "aws:cloudtrail:Trail", json!({"bucket": "${logs.name}"})),
        ]);
        s.name = "lab3".into();
        let out = AwsGlue.derive(&s);
        let b = get(&out, "logs");
        assert_eq!(b.props["name"], "lab3-logs-${aws.account_id}-${aws.region}");
        let st = statements(&b.props["policy"]);
        assert_eq!(st.len(), 2);
        assert_eq!(st[0]["Resource"], "arn:${aws.partition}:s3:::lab3-logs-${aws.account_id}-${aws.region}");
        // The longest stack and id still fit S3's 63 characters in the
        // longest region name.
        let long = trail_bucket_name(&"s".repeat(40), &"i".repeat(64));
        let real = long.replace("${aws.account_id}", "123456789012").replace("${aws.region}", "ap-southeast-2");
        assert_eq!(real.len(), 63, "{real}");
        assert!(!trail_bucket_name("a", "b").contains("--"));
    }

    #[test]
    fn a_queue_mapping_lets_the_role_read_that_queue_unless_it_already_may() {
        let function = res("fn", "aws:lambda:Function", json!({"name": "f", "role": "${role.arn}"}));
        let mapping = res("m", "aws:lambda:EventSourceMapping", json!({"function": "${fn.arn}", "source": "${q.arn}"}));
        let s = stack(vec![
            res("q", "aws:sqs:Queue", json!({})),
            res("role", "aws:iam:Role", json!({"trusted_by": ["lambda.amazonaws.com"]})),
            function.clone(),
            mapping.clone(),
        ]);
        let out = AwsGlue.derive(&s);
        let policy = &get(&out, "role").props["inline_policies"]["cairn-sqs-m"];
        assert_eq!(
            policy["Statement"][0]["Resource"],
            "arn:${aws.partition}:sqs:${aws.region}:${aws.account_id}:${stack.name}-q"
        );
        // Written by hand in another order, as a one-statement object: kept as it is.
        let written = json!({"mine": {"Statement": {"Effect": "Allow", "Resource": "${q.arn}",
            "Action": ["sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:DeleteMessage"]}}});
        let s = stack(vec![
            res("q", "aws:sqs:Queue", json!({})),
            res("role", "aws:iam:Role", json!({"inline_policies": written})),
            function,
            mapping,
        ]);
        let out = AwsGlue.derive(&s);
        assert_eq!(get(&out, "role").props["inline_policies"], written);
    }

    #[test]
    fn a_mapping_waits_for_every_change_of_its_functions_role() {
        let s = stack(vec![
            res("role", "aws:iam:Role", json!({"trusted_by": ["lambda.amazonaws.com"]})),
            res("fn", "aws:lambda:Function", json!({"role": "${role.arn}"})),
            res("jobs", "aws:sqs:Queue", json!({})),
            res("map", "aws:lambda:EventSourceMapping", json!({"function": "${fn.arn}", "source": "${jobs.arn}"})),
        ]);
        let out = AwsGlue.derive(&s);
        assert_eq!(get(&out, "map").depends_on, vec!["role".to_string()]);
        assert_eq!(get(&AwsGlue.derive(&out), "map").depends_on, vec!["role".to_string()]);
    }

    #[test]
    fn names_agree_with_the_kinds_defaults() {
        // The glue builds ARNs from names before the kinds' `check` fills
        // the defaults in; both must give the same name.
        let registry = crate::provider::registry();
        let cases = [
            ("aws:sqs:Queue", json!({})),
            ("aws:sqs:Queue", json!({"fifo": true})),
            ("aws:sns:Topic", json!({})),
            ("aws:sns:Topic", json!({"fifo": true})),
            ("aws:logs:LogGroup", json!({})),
            ("aws:events:Rule", json!({"schedule": "rate(1 hour)"})),
            ("aws:cloudtrail:Trail", json!({"bucket": "b"})),
            (
                "aws:lambda:Function",
                json!({"runtime": "python3.13", "handler": "index.handler",
                "role": "arn:aws:iam::123456789012:role/r", "code": {"inline": "x"}}),
            ),
        ];
        for (kind, props) in cases {
            let cx =
                cairn_engine::kind::NameCtx { stack: "${stack.name}", id: "it", base_dir: std::path::Path::new(".") };
            let checked = registry.get(kind).unwrap().check(&props, &cx).unwrap_or_else(|e| panic!("{kind}: {e:?}"));
            assert_eq!(checked["name"], json!(name_of(&res("it", kind, props.clone()))), "{kind} {props}");
        }
    }

    /// Canonical props as `validate` would hand them over: each resource's own.
    fn canonical(s: &StackSpec) -> BTreeMap<String, Json> {
        s.resources.iter().map(|r| (r.id.clone(), r.props.clone())).collect()
    }

    #[test]
    fn a_queue_hiding_messages_for_less_than_the_function_runs_is_an_error() {
        let mapping = res("m", "aws:lambda:EventSourceMapping", json!({"function": "${fn.arn}", "source": "${q.arn}"}));
        let s = |visibility: u64, timeout: u64| {
            stack(vec![
                res("q", "aws:sqs:Queue", json!({"visibility_timeout": visibility})),
                res("fn", "aws:lambda:Function", json!({"timeout": timeout})),
                mapping.clone(),
            ])
        };
        let low = s(30, 120);
        let diags = AwsGlue.cross_check(&low, &canonical(&low));
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].severity, cairn_engine::diag::Severity::Error);
        assert_eq!(diags[0].at, At::Prop { id: "q".into(), path: vec![PathSeg::Key("visibility_timeout".into())] });
        assert!(
            diags[0].message.contains("30 s, less than the 120 s timeout of function `fn`"),
            "{}",
            diags[0].message
        );
        assert_eq!(
            diags[0].suggestion.as_deref(),
            Some("visibility_timeout: 720 (AWS recommends six times the function's timeout)")
        );
        let equal = s(120, 120);
        assert!(AwsGlue.cross_check(&equal, &canonical(&equal)).is_empty());
        // A function that failed its own checks is not compared.
        let mut partial = canonical(&low);
        partial.remove("fn");
        assert!(AwsGlue.cross_check(&low, &partial).is_empty());
    }

    #[test]
    fn an_alarm_on_a_custom_metric_no_filter_publishes_is_a_warning() {
        let filter = res("f", "aws:logs:MetricFilter", json!({"metric": {"namespace": "Lab", "name": "Denied"}}));
        let alarm =
            |ns: &str, name: &str| res("a", "aws:cloudwatch:Alarm", json!({"metric": {"namespace": ns, "name": name}}));
        let warned = |a: ResourceSpec| {
            let s = stack(vec![filter.clone(), a]);
            AwsGlue.cross_check(&s, &canonical(&s))
        };
        assert!(warned(alarm("Lab", "Denied")).is_empty());
        assert!(warned(alarm("AWS/Lambda", "Errors")).is_empty());
        assert!(warned(alarm("${param.ns}", "Denied")).is_empty());
        let d = warned(alarm("Lab", "Denies"));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, cairn_engine::diag::Severity::Warning);
        assert_eq!(
            d[0].at,
            At::Prop { id: "a".into(), path: vec![PathSeg::Key("metric".into()), PathSeg::Key("name".into())] }
        );
        assert_eq!(d[0].suggestion.as_deref(), Some("did you mean `Denied`, which filter `f` publishes?"));
        let d = warned(alarm("Labs", "Denied"));
        assert_eq!(d[0].suggestion.as_deref(), Some("did you mean namespace `Lab`?"));
        // A filter whose metric is a reference might publish anything.
        let s = stack(vec![
            res("f", "aws:logs:MetricFilter", json!({"metric": {"namespace": "Lab", "name": "${param.m}"}})),
            alarm("Lab", "Other"),
        ]);
        assert!(AwsGlue.cross_check(&s, &canonical(&s)).is_empty());
    }

    #[test]
    fn an_instance_role_becomes_a_derived_instance_profile() {
        let s = stack(vec![
            res("r", "aws:iam:Role", json!({"trusted_by": ["ec2.amazonaws.com"]})),
            res("host", "aws:ec2:Instance", json!({"image": "ami-1", "role": "${r.arn}"})),
            res("other", "aws:ec2:Instance", json!({"image": "ami-1", "role": "arn:aws:iam::1:role/ops/agent"})),
        ]);
        let out = AwsGlue.derive(&s);
        let profile = get(&out, "host-profile");
        assert!(profile.derived);
        assert_eq!(profile.props, json!({"role": "${r.name}"}));
        assert_eq!(get(&out, "host").props, json!({"image": "ami-1", "instance_profile": "${host-profile.name}"}));
        assert_eq!(get(&out, "other-profile").props, json!({"role": "agent"}));
        let mut off = res("host", "aws:ec2:Instance", json!({"image": "ami-1", "role": "${r.arn}"}));
        off.options.auto_wire = false;
        let s = stack(vec![off]);
        assert_eq!(AwsGlue.derive(&s), s, "auto_wire: false leaves the role for the kind to refuse");
    }

    #[test]
    fn a_function_gets_its_log_group_first() {
        let s = stack(vec![res("fn", "aws:lambda:Function", json!({}))]);
        let out = AwsGlue.derive(&s);
        assert_eq!(get(&out, "fn-logs").props, json!({"name": "/aws/lambda/${stack.name}-fn"}));
        assert_eq!(get(&out, "fn").depends_on, vec!["fn-logs"]);
        // With the retention the function asks for.
        let s = stack(vec![res("fn", "aws:lambda:Function", json!({"name": "f", "log_retention_days": 14}))]);
        let out = AwsGlue.derive(&s);
        assert_eq!(get(&out, "fn-logs").props, json!({"name": "/aws/lambda/f", "retention_days": 14}));
    }

    #[test]
    fn a_trail_with_a_key_of_the_stack_grants_cloudtrail_for_that_trail_only() {
        let s = stack(vec![
            res("key", "aws:kms:Key", json!({})),
            res("trail", "aws:cloudtrail:Trail", json!({"name": "t", "bucket": "b", "kms_key": "${key.arn}"})),
        ]);
        let out = AwsGlue.derive(&s);
        let st = statements(&get(&out, "key").props["policy"]);
        assert_eq!(st.len(), 3, "{st:?}");
        // KMS's default statement stays, so the account keeps control of the key.
        assert_eq!(st[0], kms_root_statement("${aws.partition}", "${aws.account_id}"));
        let trail_arn = "arn:${aws.partition}:cloudtrail:${aws.region}:${aws.account_id}:trail/t";
        assert_eq!(st[1]["Principal"]["Service"], "cloudtrail.amazonaws.com");
        assert_eq!(st[1]["Action"], "kms:GenerateDataKey*");
        assert_eq!(st[1]["Condition"]["StringEquals"]["aws:SourceArn"], trail_arn);
        assert_eq!(
            st[1]["Condition"]["StringLike"]["kms:EncryptionContext:aws:cloudtrail:arn"],
            "arn:${aws.partition}:cloudtrail:*:${aws.account_id}:trail/t"
        );
        assert_eq!(st[2]["Action"], "kms:DescribeKey");
        assert_eq!(st[2]["Condition"]["StringEquals"]["aws:SourceArn"], trail_arn);
        // Derived twice (plan after plan), nothing is added twice.
        assert_eq!(statements(&get(&AwsGlue.derive(&out), "key").props["policy"]).len(), 3);
    }

    #[test]
    fn a_users_key_policy_keeps_its_statements_and_gets_no_default_one() {
        let mine = json!({"Version": VERSION, "Statement": [{"Sid": "Admins", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::1:role/admin"}, "Action": "kms:*", "Resource": "*"}]});
        let s = stack(vec![
            res("key", "aws:kms:Key", json!({"policy": mine})),
            res("trail", "aws:cloudtrail:Trail", json!({"bucket": "b", "kms_key": "${key.arn}"})),
        ]);
        let st = statements(&get(&AwsGlue.derive(&s), "key").props["policy"]);
        assert_eq!(st.len(), 3, "{st:?}");
        assert_eq!(st[0]["Sid"], "Admins");
    }

    #[test]
    fn a_key_or_trail_with_auto_wire_off_or_a_key_outside_the_stack_gets_nothing() {
        let mut key = res("key", "aws:kms:Key", json!({}));
        key.options.auto_wire = false;
        let trail = res("trail", "aws:cloudtrail:Trail", json!({"bucket": "b", "kms_key": "${key.arn}"}));
        let out = AwsGlue.derive(&stack(vec![key, trail]));
        assert!(get(&out, "key").props.get("policy").is_none());
        let literal = res("trail", "aws:cloudtrail:Trail", json!({"bucket": "b", "kms_key": "arn:aws:kms:x:1:key/k"}));
        let s = stack(vec![res("key", "aws:kms:Key", json!({})), literal]);
        assert!(get(&AwsGlue.derive(&s), "key").props.get("policy").is_none());
    }

    #[test]
    fn an_encrypted_topic_lets_the_services_that_publish_to_it_use_its_key() {
        let s = stack(vec![
            res("key", "aws:kms:Key", json!({})),
            res("alerts", "aws:sns:Topic", json!({"kms_key": "${key.arn}"})),
            res("alarm", "aws:cloudwatch:Alarm", json!({"alarm_actions": ["${alerts.arn}"]})),
            res("alarm2", "aws:cloudwatch:Alarm", json!({"ok_actions": ["${alerts.arn}"]})),
            res("rule", "aws:events:Rule", json!({"targets": [{"arn": "${alerts.arn}"}]})),
        ]);
        let st = statements(&get(&AwsGlue.derive(&s), "key").props["policy"]);
        let services: Vec<&Json> = st.iter().map(|s| &s["Principal"]["Service"]).collect();
        assert_eq!(services.len(), 3, "{st:?}");
        assert_eq!(services[1], "cloudwatch.amazonaws.com");
        assert_eq!(services[2], "events.amazonaws.com");
        assert_eq!(st[1]["Action"], json!(["kms:Decrypt", "kms:GenerateDataKey*"]));
        // No publisher, no statement.
        let quiet = stack(vec![
            res("key", "aws:kms:Key", json!({})),
            res("alerts", "aws:sns:Topic", json!({"kms_key": "${key.arn}"})),
        ]);
        assert!(get(&AwsGlue.derive(&quiet), "key").props.get("policy").is_none());
    }

    #[test]
    fn an_encrypted_log_group_lets_cloudwatch_logs_use_the_key_for_that_group() {
        let s = stack(vec![
            res("key", "aws:kms:Key", json!({})),
            res("trail-logs", "aws:logs:LogGroup", json!({"name": "/lab3/trail", "kms_key": "${key.arn}"})),
        ]);
        let st = statements(&get(&AwsGlue.derive(&s), "key").props["policy"]);
        assert_eq!(st.len(), 2, "{st:?}");
        assert_eq!(st[1]["Principal"]["Service"], "logs.${aws.region}.amazonaws.com");
        assert_eq!(
            st[1]["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"],
            "arn:${aws.partition}:logs:${aws.region}:${aws.account_id}:log-group:/lab3/trail"
        );
    }
}
