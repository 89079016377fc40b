//! `aws:cloudtrail:Trail`: a CloudTrail trail delivering to an S3 bucket
//! and optionally to CloudWatch Logs. Physical id: the trail ARN.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{DataResource, EventSelector, ReadWriteType, Tag, Trail as SdkTrail};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::{found_nothing, known_name, unresolved};
use crate::normalize::optional_text;
use crate::retry::{Bound, Wait, retrying};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A CloudTrail trail delivering to an S3 bucket and, optionally, to CloudWatch
/// Logs. Defaults follow the CIS benchmark: multi-region, global service
/// events, log file validation, logging on.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrailProps {
    /// Trail name: 3-128 of `A-Z a-z 0-9 . _ -`, starting and ending with a
    /// letter or digit. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The S3 bucket (name) receiving the log files. Its policy must let
    /// CloudTrail write to it.
    pub bucket: String,
    /// Key prefix for the log files in the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Record events from every region.
    #[serde(default = "yes")]
    pub multi_region: bool,
    /// Write digest files so that log files can be checked for tampering.
    #[serde(default = "yes")]
    pub log_file_validation: bool,
    /// Record events of global services such as IAM.
    #[serde(default = "yes")]
    pub include_global_events: bool,
    /// Whether the trail records: a new trail logs nothing until started.
    #[serde(default = "yes")]
    pub logging: bool,
    /// Which management events to record. With data events, the same
    /// read/write choice applies to them too.
    #[serde(default)]
    pub management_events: ManagementEvents,
    /// Data events to record.
    #[serde(default, skip_serializing_if = "DataEvents::is_empty")]
    pub data_events: DataEvents,
    /// Also deliver the events to a CloudWatch Logs group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_logs: Option<CloudWatchLogs>,
    /// The KMS key (ARN, or alias ARN) that encrypts the log files (SSE-KMS,
    /// CIS AWS 3.5); unset leaves them to the bucket's own encryption. A key
    /// of the stack (`${key.arn}`) gets the key-policy statements CloudTrail
    /// needs, for this trail only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

impl Default for TrailProps {
    /// The same defaults as an empty YAML resource (with no bucket yet).
    fn default() -> Self {
        TrailProps {
            name: None,
            bucket: String::new(),
            key_prefix: None,
            multi_region: true,
            log_file_validation: true,
            include_global_events: true,
            logging: true,
            management_events: ManagementEvents::All,
            data_events: DataEvents::default(),
            cloudwatch_logs: None,
            kms_key: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// Which management (control plane) events a trail records.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ManagementEvents {
    #[default]
    All,
    ReadOnly,
    WriteOnly,
    None,
}

/// Data (resource operation) events: S3 object-level and Lambda invoke.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DataEvents {
    /// Bucket or prefix ARNs (`arn:aws:s3:::bucket/`, `arn:aws:s3:::bucket/logs/`),
    /// or `arn:aws:s3` for every bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub s3: Vec<String>,
    /// Function ARNs, or `arn:aws:lambda` for every function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lambda: Vec<String>,
}

impl DataEvents {
    pub fn is_empty(&self) -> bool {
        self.s3.is_empty() && self.lambda.is_empty()
    }
}

/// Delivery to CloudWatch Logs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchLogs {
    /// The log group: its name or ARN (CloudTrail gets the ARN with `:*`).
    pub log_group: String,
    /// A role CloudTrail assumes to write to the group
    /// (`logs:CreateLogStream`, `logs:PutLogEvents`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The `aws:cloudtrail:Trail` kind.
pub struct Trail {
    clients: Arc<Clients>,
}

impl Trail {
    pub fn new(clients: Arc<Clients>) -> Self {
        Trail { clients }
    }
}

const MIN_NAME: usize = 3;
const MAX_NAME: usize = 128;
const MAX_KEY_PREFIX: usize = 200;
/// Data resources one trail may name with basic event selectors.
const MAX_DATA_RESOURCES: usize = 250;
const S3_OBJECT: &str = "AWS::S3::Object";
const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
const NOT_FOUND: &str = "TrailNotFoundException";

#[async_trait]
impl TypedKind for Trail {
    const TYPE: &'static str = "aws:cloudtrail:Trail";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp { path: &["bucket"], when: None, accepts: &[AttrType::Name("aws:s3:Bucket")] },
        RefProp {
            path: &["cloudwatch_logs", "log_group"],
            when: None,
            accepts: &[AttrType::Arn("aws:logs:LogGroup"), AttrType::Name("aws:logs:LogGroup")],
        },
        RefProp { path: &["cloudwatch_logs", "role"], when: None, accepts: &[AttrType::Arn("aws:iam:Role")] },
        RefProp { path: &["kms_key"], when: None, accepts: &[AttrType::Arn("aws:kms:Key")] },
        RefProp { path: &["data_events", "lambda", "*"], when: None, accepts: &[AttrType::Arn("aws:lambda:Function")] },
    ];
    type Props = TrailProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the trail's ARN",
        attributes: &[("arn", "the trail's ARN"), ("name", "the trail's name")],
        quirks: &[
            "`CreateTrail` right after the bucket policy may be refused (`InsufficientS3BucketPolicyException`), and a fresh logs role too (`InvalidCloudWatchLogsRoleArnException`): both retried for IAM and S3 to catch up, bounded.",
            "A new trail logs nothing until `StartLogging`: `logging: true` means both.",
            "CloudWatch Logs delivery needs the group's ARN with `:*`: given a name or plain ARN, cairn adds it.",
            "At most 5 trails per region and 5 event selectors per trail, checked offline.",
            "A bucket that holds only this trail's logs is emptied on destroy without `force_destroy`.",
        ],
    };

    fn defaults(props: &mut TrailProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &TrailProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
            && let Err(problem) = check_trail_name(name)
        {
            errors
                .push(PropError::new(&["name"], format!("trail name `{name}` {problem}")).expected(
                    "3 to 128 characters of `A-Z a-z 0-9 . _ -`, starting and ending with a letter or digit",
                ));
        }
        if props.bucket.is_empty() {
            errors.push(
                PropError::new(&["bucket"], "no bucket is set").expected("the name of the S3 bucket for the log files"),
            );
        }
        if let Some(p) = &props.key_prefix
            && p.len() > MAX_KEY_PREFIX
        {
            errors.push(
                PropError::new(&["key_prefix"], format!("key prefix is {} characters long", p.len()))
                    .expected(format!("at most {MAX_KEY_PREFIX} characters")),
            );
        }
        if props.multi_region && !props.include_global_events {
            errors.push(
                PropError::new(&["include_global_events"], "a multi-region trail must include global service events")
                    .expected("`include_global_events: true`, or `multi_region: false`"),
            );
        }
        for (field, service) in [("s3", ":s3"), ("lambda", ":lambda")] {
            let arns = if field == "s3" { &props.data_events.s3 } else { &props.data_events.lambda };
            for arn in arns.iter().filter(|a| !unresolved(a)) {
                if !(arn.starts_with("arn:") && arn.contains(service)) {
                    errors.push(
                        PropError::new(
                            &["data_events", field],
                            format!("`{arn}` is not a{} ARN", if field == "s3" { "n S3" } else { " Lambda" }),
                        )
                        .expected(if field == "s3" {
                            "`arn:aws:s3:::bucket/` or `arn:aws:s3:::bucket/prefix`, or `arn:aws:s3` for all buckets"
                        } else {
                            "a function ARN, or `arn:aws:lambda` for all functions"
                        }),
                    );
                }
            }
        }
        let count = props.data_events.s3.len() + props.data_events.lambda.len();
        if count > MAX_DATA_RESOURCES {
            errors.push(
                PropError::new(&["data_events"], format!("{count} data resources"))
                    .expected(format!("at most {MAX_DATA_RESOURCES}")),
            );
        }
        if let Some(cw) = &props.cloudwatch_logs {
            if cw.log_group.is_empty() {
                errors.push(PropError::new(&["cloudwatch_logs", "log_group"], "no log group is set"));
            }
            if let Some(role) = &cw.role
                && !unresolved(role)
                && !role.starts_with("arn:")
            {
                errors.push(
                    PropError::new(&["cloudwatch_logs", "role"], format!("`{role}` is not a role ARN"))
                        .expected("arn:aws:iam::<account>:role/<name>"),
                );
            }
        }
    }

    // ---- create ----------------------------------------------------------------

    /// The look before a create, made early by apply (see `Kind::absent`).
    async fn absent(&self, cx: &OpCtx, props: &Value) -> Option<bool> {
        let name = &known_name(props, cx)?;
        found_nothing(self.find(&trail_arn(&cx.env, name)).await)
    }

    async fn create(&self, cx: &OpCtx, props: &TrailProps) -> Result<Observed<TrailProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let arn = trail_arn(&cx.env, &name);
        let ct = self.clients.cloudtrail().await;
        let action = format!("creating CloudTrail trail {name}");

        // AWS refuses an existing name (TrailAlreadyExistsException, below),
        // but moto, the emulator the tests use, overwrites the trail: look
        // first, so that someone else's trail is never touched on either.
        if !cx.absent && self.find(&arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?.is_some() {
            return self.adopt(cx, &arn, &name, props, &action).await;
        }

        let mut tags = Vec::new();
        for (k, v) in &cx.tags {
            tags.push(ct_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
        }
        let (group_arn, role_arn) = cloudwatch_arns(&cx.env, props.cloudwatch_logs.as_ref());
        let out = retrying(cx, self.clients.waits(), &action, retry_reason, || {
            ct.create_trail()
                .name(&name)
                .s3_bucket_name(&props.bucket)
                .set_s3_key_prefix(props.key_prefix.clone())
                .is_multi_region_trail(props.multi_region)
                .include_global_service_events(props.include_global_events)
                .enable_log_file_validation(props.log_file_validation)
                .set_cloud_watch_logs_log_group_arn(group_arn.clone())
                .set_cloud_watch_logs_role_arn(role_arn.clone())
                .set_kms_key_id(props.kms_key.clone())
                .set_tags_list(Some(tags.clone()))
                .send()
        })
        .await;
        let out = match out {
            Ok(out) => out,
            // A trail made between the look and the create, or by an earlier
            // try of this call whose answer was lost: the tags tell whose.
            Err(f) if f.error.code() == Some("TrailAlreadyExistsException") => {
                return self.adopt(cx, &arn, &name, props, &action).await;
            }
            Err(f) => return Err(f.op_error(&action)),
        };
        let arn = out.trail_arn().map_or(arn, ToString::to_string);
        // The event selectors and logging are independent: set both at once.
        let logging = async { if props.logging { self.set_logging(&arn, true, &action).await } else { Ok(()) } };
        // Both run to their end, whichever fails.
        let (selectors, logging) = tokio::join!(self.put_selectors(&arn, props, &action), logging);
        selectors.and(logging)?;
        Ok(observed(arn, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, cx: &OpCtx, arn: &str, last: &TrailProps) -> Result<Option<Observed<TrailProps>>, OpError> {
        Ok(self.read_props(cx, arn, last).await?.map(|p| observed(arn.to_string(), p)))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        arn: &str,
        old: &TrailProps,
        new: &TrailProps,
    ) -> Result<Observed<TrailProps>, OpError> {
        let action = format!("updating CloudTrail trail {}", name_from_arn(arn));
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read_props(cx, arn, old).await? else {
            return Err(OpError::failed(format!("{action}: the trail no longer exists")));
        };
        self.converge(cx, arn, &live, new, &action).await?;
        Ok(observed(arn.to_string(), new.clone()))
    }

    // ---- delete ----------------------------------------------------------------

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, arn: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let ct = self.clients.cloudtrail().await;
        let what = format!("CloudTrail trail {}", name_from_arn(arn));
        live_tags_of(&what, self.find(arn), |_| trail_tags(ct, arn)).await
    }

    async fn add_tags(&self, _cx: &OpCtx, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let ct = self.clients.cloudtrail().await;
        let what = format!("CloudTrail trail {}", name_from_arn(arn));
        add_tags_to(&what, self.find(arn), |_, action| async move { set_tags(ct, arn, tags, &action).await }).await
    }

    async fn delete(&self, _cx: &OpCtx, arn: &str, _props: &TrailProps) -> Result<(), OpError> {
        let ct = self.clients.cloudtrail().await;
        // By name: moto ignores DeleteTrail given an ARN (AWS takes either).
        match ct.delete_trail().name(name_from_arn(arn)).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting CloudTrail trail {}", name_from_arn(arn)), &e)),
        }
    }
}

impl Trail {
    /// Takes over the existing trail if its tags say it is this resource's,
    /// and brings it to `want`.
    async fn adopt(
        &self,
        cx: &OpCtx,
        arn: &str,
        name: &str,
        want: &TrailProps,
        action: &str,
    ) -> Result<Observed<TrailProps>, OpError> {
        let ct = self.clients.cloudtrail().await;
        let tags = trail_tags(ct, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        cx.ensure_owns(&tags, format!("CloudTrail trail {name}"))?;
        let Some(live) = self.read_props(cx, arn, want).await? else {
            return Err(OpError::failed(format!("{action}: the trail vanished while being adopted")));
        };
        self.converge(cx, arn, &live, want, action).await?;
        Ok(observed(arn.to_string(), want.clone()))
    }

    /// Turns `live` into `want`: trail settings, event selectors, logging, tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        arn: &str,
        live: &TrailProps,
        want: &TrailProps,
        action: &str,
    ) -> Result<(), OpError> {
        let ct = self.clients.cloudtrail().await;
        let settings_differ = live.bucket != want.bucket
            || live.key_prefix != want.key_prefix
            || live.multi_region != want.multi_region
            || live.include_global_events != want.include_global_events
            || live.log_file_validation != want.log_file_validation
            || live.cloudwatch_logs != want.cloudwatch_logs
            || live.kms_key != want.kms_key;
        if settings_differ {
            let (group_arn, role_arn) = cloudwatch_arns(&cx.env, want.cloudwatch_logs.as_ref());
            // Empty strings are how UpdateTrail removes a prefix or log delivery.
            retrying(cx, self.clients.waits(), action, retry_reason, || {
                ct.update_trail()
                    .name(arn)
                    .s3_bucket_name(&want.bucket)
                    .s3_key_prefix(want.key_prefix.clone().unwrap_or_default())
                    .is_multi_region_trail(want.multi_region)
                    .include_global_service_events(want.include_global_events)
                    .enable_log_file_validation(want.log_file_validation)
                    .cloud_watch_logs_log_group_arn(group_arn.clone().unwrap_or_default())
                    .cloud_watch_logs_role_arn(role_arn.clone().unwrap_or_default())
                    .kms_key_id(want.kms_key.clone().unwrap_or_default())
                    .send()
            })
            .await
            .map_err(|f| f.op_error(action))?;
        }
        if live.management_events != want.management_events || live.data_events != want.data_events {
            self.put_selectors(arn, want, action).await?;
        }
        if live.logging != want.logging {
            self.set_logging(arn, want.logging, action).await?;
        }
        let live_tags = trail_tags(ct, arn).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(ct, arn, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            let mut req = ct.remove_tags().resource_id(arn);
            for k in &changes.remove {
                req = req
                    .tags_list(Tag::builder().key(k).build().map_err(|e| OpError::failed(format!("{action}: {e}")))?);
            }
            req.send().await.map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }

    async fn put_selectors(&self, arn: &str, props: &TrailProps, action: &str) -> Result<(), OpError> {
        self.clients
            .cloudtrail()
            .await
            .put_event_selectors()
            .trail_name(arn)
            .event_selectors(event_selector(props))
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: setting event selectors"), &e))?;
        Ok(())
    }

    async fn set_logging(&self, arn: &str, on: bool, action: &str) -> Result<(), OpError> {
        let ct = self.clients.cloudtrail().await;
        if on {
            ct.start_logging()
                .name(arn)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: starting logging"), &e))?;
        } else {
            ct.stop_logging()
                .name(arn)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: stopping logging"), &e))?;
        }
        Ok(())
    }

    async fn find(&self, arn: &str) -> Result<Option<SdkTrail>, String> {
        let ct = self.clients.cloudtrail().await;
        match ct.get_trail().name(arn).send().await {
            Ok(out) => Ok(out.trail().cloned()),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(aws_error("GetTrail", &e).to_string()),
        }
    }

    /// The trail's props in canonical form, or `None` when it is gone.
    async fn read_props(&self, cx: &OpCtx, arn: &str, last: &TrailProps) -> Result<Option<TrailProps>, OpError> {
        let ct = self.clients.cloudtrail().await;
        let fail = |e: String| OpError::failed(format!("reading CloudTrail trail {}: {e}", name_from_arn(arn)));
        // The trail, its status and its selectors at once: one round trip.
        let (trail, status, selectors) = tokio::join!(
            self.find(arn),
            ct.get_trail_status().name(arn).send(),
            ct.get_event_selectors().trail_name(arn).send(),
        );
        let Some(trail) = trail.map_err(fail)? else {
            return Ok(None);
        };
        let logging = match status {
            Ok(out) => out.is_logging().unwrap_or(false),
            Err(e) if e.code() == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(fail(aws_error("GetTrailStatus", &e).to_string())),
        };
        let selectors = match selectors {
            Ok(out) => out.event_selectors().to_vec(),
            Err(e) if e.code() == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(fail(aws_error("GetEventSelectors", &e).to_string())),
        };
        let (management_events, data_events) = from_selectors(&selectors, &last.data_events);
        Ok(Some(TrailProps {
            name: Some(trail.name().unwrap_or_else(|| name_from_arn(arn)).to_string()),
            bucket: trail.s3_bucket_name().unwrap_or_default().to_string(),
            key_prefix: optional_text(trail.s3_key_prefix(), last.key_prefix.as_ref()),
            multi_region: trail.is_multi_region_trail().unwrap_or(false),
            log_file_validation: trail.log_file_validation_enabled().unwrap_or(false),
            include_global_events: trail.include_global_service_events().unwrap_or(false),
            logging,
            management_events,
            data_events,
            cloudwatch_logs: cloudwatch_as_read(
                &cx.env,
                trail.cloud_watch_logs_log_group_arn(),
                trail.cloud_watch_logs_role_arn(),
                last.cloudwatch_logs.as_ref(),
            ),
            kms_key: key_as_read(trail.kms_key_id(), last.kms_key.as_ref()),
        }))
    }
}

// ---- retries -------------------------------------------------------------------

/// Why an error is worth waiting out: AWS refuses a trail until a fresh
/// bucket policy or IAM role has propagated. `None`: fail at once.
pub(crate) fn retry_reason(code: Option<&str>, message: Option<&str>) -> Option<Wait> {
    let role = Wait::new("waiting for IAM to propagate the CloudWatch Logs role", Bound::Propagation);
    match code? {
        "InsufficientS3BucketPolicyException" => {
            Some(Wait::new("waiting for the bucket policy to allow CloudTrail", Bound::Propagation))
        }
        "InvalidCloudWatchLogsRoleArnException" => Some(role),
        // A key policy just written takes a moment to count.
        "InsufficientEncryptionPolicyException" => {
            Some(Wait::new("waiting for the KMS key policy to allow CloudTrail", Bound::Propagation))
        }
        // A role whose inline policy has not propagated yet cannot write to
        // the group, which CloudTrail reports against the group's ARN; any
        // other message means the ARN really is wrong.
        "InvalidCloudWatchLogsLogGroupArnException"
            if message.is_some_and(|m| m.starts_with("Access denied. Check the permissions for your role")) =>
        {
            Some(role)
        }
        _ => None,
    }
}

// ---- pure helpers ------------------------------------------------------------

/// The trail's key as read: GetTrail gives the key's ARN whatever was
/// written, so the key last written reads back as written when it names the
/// same key (its ARN, an id the ARN ends with); an alias is taken at its
/// word, since only KMS could say which key it names.
fn key_as_read(live: Option<&str>, last: Option<&String>) -> Option<String> {
    let live = live.filter(|k| !k.is_empty())?;
    match last {
        Some(l)
            if l == live || live.ends_with(&format!("key/{l}")) || l.contains(":alias/") || l.starts_with("alias/") =>
        {
            Some(l.clone())
        }
        _ => Some(live.to_string()),
    }
}

/// Why a trail name breaks CloudTrail's naming rules, if it does.
pub fn check_trail_name(name: &str) -> Result<(), String> {
    if name.len() < MIN_NAME || name.len() > MAX_NAME {
        return Err(format!("is {} characters long", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("contains `{bad}`"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("does not start and end with a letter or digit".to_string());
    }
    let punct = |c: char| matches!(c, '.' | '_' | '-');
    if name.chars().zip(name.chars().skip(1)).any(|(a, b)| punct(a) && punct(b)) {
        return Err("has two punctuation characters in a row".to_string());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("looks like an IP address".to_string());
    }
    Ok(())
}

/// `arn:{partition}:cloudtrail:{region}:{account}:trail/{name}`.
pub fn trail_arn(env: &Environment, name: &str) -> String {
    format!("arn:{}:cloudtrail:{}:{}:trail/{name}", env.partition, env.region, env.account_id)
}

fn name_from_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The log group ARN CloudTrail wants, ending in `:*`, from a name or ARN.
pub fn log_group_arn(env: &Environment, group: &str) -> String {
    if group.starts_with("arn:") {
        if group.ends_with(":*") { group.to_string() } else { format!("{group}:*") }
    } else {
        format!("arn:{}:logs:{}:{}:log-group:{group}:*", env.partition, env.region, env.account_id)
    }
}

fn cloudwatch_arns(env: &Environment, cw: Option<&CloudWatchLogs>) -> (Option<String>, Option<String>) {
    match cw {
        Some(cw) => (Some(log_group_arn(env, &cw.log_group)), cw.role.clone()),
        None => (None, None),
    }
}

/// Log delivery as read: the group as the user wrote it when it names the
/// same group; the role only when the user set one (absent, it is derived).
fn cloudwatch_as_read(
    env: &Environment,
    group_arn: Option<&str>,
    role_arn: Option<&str>,
    last: Option<&CloudWatchLogs>,
) -> Option<CloudWatchLogs> {
    let group_arn = group_arn.filter(|g| !g.is_empty())?;
    let log_group = match last {
        Some(l) if log_group_arn(env, &l.log_group) == group_arn => l.log_group.clone(),
        _ => group_arn.to_string(),
    };
    let role = match last {
        Some(l) if l.role.is_none() => None,
        _ => role_arn.filter(|r| !r.is_empty()).map(ToString::to_string),
    };
    Some(CloudWatchLogs { log_group, role })
}

/// The one basic event selector for these props.
fn event_selector(props: &TrailProps) -> EventSelector {
    let (rw, include_management) = match props.management_events {
        ManagementEvents::All | ManagementEvents::None => {
            (ReadWriteType::All, props.management_events == ManagementEvents::All)
        }
        ManagementEvents::ReadOnly => (ReadWriteType::ReadOnly, true),
        ManagementEvents::WriteOnly => (ReadWriteType::WriteOnly, true),
    };
    let mut sel = EventSelector::builder().read_write_type(rw).include_management_events(include_management);
    for (kind, values) in [(S3_OBJECT, &props.data_events.s3), (LAMBDA_FUNCTION, &props.data_events.lambda)] {
        if !values.is_empty() {
            sel = sel.data_resources(DataResource::builder().r#type(kind).set_values(Some(values.clone())).build());
        }
    }
    sel.build()
}

/// Management and data events as the selectors record them; data ARNs in
/// the order last written when they are the same set.
fn from_selectors(selectors: &[EventSelector], last: &DataEvents) -> (ManagementEvents, DataEvents) {
    let management =
        selectors.iter().find(|s| s.include_management_events().unwrap_or(true)).map_or(ManagementEvents::None, |s| {
            match s.read_write_type() {
                Some(ReadWriteType::ReadOnly) => ManagementEvents::ReadOnly,
                Some(ReadWriteType::WriteOnly) => ManagementEvents::WriteOnly,
                _ => ManagementEvents::All,
            }
        });
    let values = |kind: &str| -> Vec<String> {
        selectors
            .iter()
            .flat_map(EventSelector::data_resources)
            .filter(|d| d.r#type() == Some(kind))
            .flat_map(|d| d.values().iter().cloned())
            .collect()
    };
    let data = DataEvents {
        s3: in_written_order(values(S3_OBJECT), &last.s3),
        lambda: in_written_order(values(LAMBDA_FUNCTION), &last.lambda),
    };
    (management, data)
}

fn in_written_order(mut live: Vec<String>, last: &[String]) -> Vec<String> {
    let mut sorted_live = live.clone();
    sorted_live.sort();
    sorted_live.dedup();
    let mut sorted_last = last.to_vec();
    sorted_last.sort();
    sorted_last.dedup();
    if sorted_live == sorted_last {
        return last.to_vec();
    }
    live.dedup();
    live
}

fn observed(arn: String, props: TrailProps) -> Observed<TrailProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("name".to_string(), Value::String(name_from_arn(&arn).to_string()));
    attrs.insert("arn".to_string(), Value::String(arn.clone()));
    Observed { physical_id: arn, props, attrs }
}

fn ct_tag(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))
}

/// Sets these tags on the trail (AddTags), leaving its others alone; errors
/// start with `action`.
async fn set_tags(
    ct: &aws_sdk_cloudtrail::Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut req = ct.add_tags().resource_id(arn);
    for (k, v) in tags {
        req = req.tags_list(ct_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
    }
    req.send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

// ---- finders -----------------------------------------------------------------

/// The trail's tags.
async fn trail_tags(ct: &aws_sdk_cloudtrail::Client, arn: &str) -> Result<BTreeMap<String, String>, String> {
    let out = ct.list_tags().resource_id_list(arn).send().await.map_err(|e| aws_error("ListTags", &e).to_string())?;
    Ok(out
        .resource_tag_list()
        .iter()
        .flat_map(|r| r.tags_list())
        .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retry::Waits;
    use aws_smithy_runtime_api::client::result::SdkError;
    use serde_json::json;

    fn check(props: Value) -> Result<TrailProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Trail::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "trail", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    fn env() -> Environment {
        Environment { account_id: "123456789012".into(), region: "us-east-1".into(), partition: "aws".into() }
    }

    #[test]
    fn defaults_are_multi_region_validated_and_logging() {
        let p = check(json!({"bucket": "b"})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab3-trail"));
        assert!(p.multi_region && p.log_file_validation && p.include_global_events && p.logging);
        assert_eq!(p.management_events, ManagementEvents::All);
        assert_eq!(TrailProps { name: Some("lab3-trail".into()), bucket: "b".into(), ..TrailProps::default() }, p);
    }

    #[test]
    fn props_are_checked_offline() {
        assert!(check(json!({})).is_err(), "bucket is required");
        assert!(check(json!({"bucket": "b", "name": "ab"})).is_err());
        assert!(check(json!({"bucket": "b", "name": "my-_trail"})).is_err());
        assert!(check(json!({"bucket": "b", "name": "-trail"})).is_err());
        assert!(check(json!({"bucket": "b", "name": "has space"})).is_err());
        assert!(check(json!({"bucket": "b", "name": "Org.Trail_1"})).is_ok());
        assert!(check(json!({"bucket": "b", "include_global_events": false})).is_err());
        assert!(check(json!({"bucket": "b", "include_global_events": false, "multi_region": false})).is_ok());
        assert!(check(json!({"bucket": "b", "management_events": "sometimes"})).is_err());
        assert!(check(json!({"bucket": "b", "data_events": {"s3": ["my-bucket"]}})).is_err());
        assert!(
            check(json!({"bucket": "b", "data_events": {"s3": ["arn:aws:s3:::b/"], "lambda": ["arn:aws:lambda"]}}))
                .is_ok()
        );
        assert!(check(json!({"bucket": "b", "data_events": {"lambda": ["${fn.arn}"]}})).is_ok());
        assert!(check(json!({"bucket": "b", "cloudwatch_logs": {"log_group": "g", "role": "admin"}})).is_err());
        assert!(check(json!({"bucket": "b", "cloudwatch_logs": {"log_group": "g"}})).is_ok());
        assert!(check(json!({"bucket": "b", "key_prefix": "x".repeat(201)})).is_err());
    }

    #[test]
    fn only_propagation_errors_are_retried() {
        assert!(retry_reason(Some("InsufficientS3BucketPolicyException"), None).is_some());
        assert!(retry_reason(Some("InvalidCloudWatchLogsRoleArnException"), None).is_some());
        assert!(retry_reason(Some("S3BucketDoesNotExistException"), None).is_none());
        assert!(retry_reason(Some("TrailAlreadyExistsException"), None).is_none());
        assert!(retry_reason(None, None).is_none());
    }

    #[test]
    fn a_log_group_refused_for_want_of_role_permissions_is_waited_for() {
        let group = Some("InvalidCloudWatchLogsLogGroupArnException");
        let denied = retry_reason(group, Some("Access denied. Check the permissions for your role."));
        assert_eq!(denied.map(|w| w.why), Some("waiting for IAM to propagate the CloudWatch Logs role"));
        assert!(retry_reason(group, Some("CloudWatch Logs log group ARN is not valid.")).is_none());
        assert!(retry_reason(group, None).is_none());
    }

    fn refused(code: &str) -> SdkError<aws_sdk_cloudtrail::operation::create_trail::CreateTrailError, ()> {
        let meta = aws_smithy_types::error::ErrorMetadata::builder().code(code).message("not yet").build();
        SdkError::service_error(aws_sdk_cloudtrail::operation::create_trail::CreateTrailError::generic(meta), ())
    }

    fn cx_recording(seen: Arc<std::sync::Mutex<Vec<String>>>) -> OpCtx {
        OpCtx {
            stack: "s".into(),
            resource: "r".into(),
            tags: BTreeMap::new(),
            env: env(),
            notify: Arc::new(move |m: &str| seen.lock().map(|mut v| v.push(m.to_string())).unwrap_or_default()),
            base_dir: std::path::PathBuf::new(),
            absent: false,
            adopt: false,
            state_location: None,
        }
    }

    fn quick() -> Waits {
        Waits { first_delay: std::time::Duration::from_millis(1), ..Waits::default() }
    }

    #[tokio::test]
    async fn propagation_errors_are_waited_out_and_reported() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let cx = cx_recording(Arc::clone(&seen));
        let mut calls = 0;
        let out = retrying(&cx, &quick(), "creating CloudTrail trail t", retry_reason, || {
            calls += 1;
            let result = if calls == 1 { Err(refused("InsufficientS3BucketPolicyException")) } else { Ok(calls) };
            async move { result }
        })
        .await;
        assert_eq!(out.ok(), Some(2));
        let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("waiting for the bucket policy"), "{seen:?}");
    }

    #[tokio::test]
    async fn other_errors_fail_at_once_with_the_aws_message() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let cx = cx_recording(Arc::clone(&seen));
        let mut calls = 0;
        let out: Result<(), _> = retrying(&cx, &quick(), "creating CloudTrail trail t", retry_reason, || {
            calls += 1;
            let result = Err(refused("S3BucketDoesNotExistException"));
            async move { result }
        })
        .await;
        assert_eq!(calls, 1);
        let msg = out.err().map(|f| f.op_error("creating CloudTrail trail t").to_string()).unwrap_or_default();
        assert_eq!(msg, "creating CloudTrail trail t: S3BucketDoesNotExistException: not yet");
        assert!(seen.lock().map(|v| v.is_empty()).unwrap_or(false));
    }

    #[test]
    fn log_group_arns_get_the_star_suffix() {
        let want = "arn:aws:logs:us-east-1:123456789012:log-group:trail-logs:*";
        assert_eq!(log_group_arn(&env(), "trail-logs"), want);
        assert_eq!(log_group_arn(&env(), want.trim_end_matches(":*")), want);
        assert_eq!(log_group_arn(&env(), want), want);
        let last = CloudWatchLogs { log_group: "trail-logs".into(), role: None };
        let read = cloudwatch_as_read(&env(), Some(want), Some("arn:aws:iam::1:role/r"), Some(&last));
        assert_eq!(read, Some(last));
        let other = cloudwatch_as_read(&env(), Some("arn:aws:logs:us-east-1:1:log-group:x:*"), None, None);
        assert_eq!(other.map(|c| c.log_group).as_deref(), Some("arn:aws:logs:us-east-1:1:log-group:x:*"));
    }

    #[test]
    fn selectors_round_trip() {
        for management in
            [ManagementEvents::All, ManagementEvents::ReadOnly, ManagementEvents::WriteOnly, ManagementEvents::None]
        {
            let props = TrailProps {
                management_events: management,
                data_events: DataEvents {
                    s3: vec!["arn:aws:s3:::b/".into(), "arn:aws:s3:::a/logs/".into()],
                    lambda: vec!["arn:aws:lambda".into()],
                },
                ..TrailProps::default()
            };
            let mut sel = event_selector(&props);
            // AWS may hand the values back in another order.
            if let Some(rs) = sel.data_resources.as_mut() {
                for r in rs {
                    if let Some(v) = r.values.as_mut() {
                        v.reverse();
                    }
                }
            }
            assert_eq!(from_selectors(&[sel], &props.data_events), (management, props.data_events.clone()));
        }
    }
}
