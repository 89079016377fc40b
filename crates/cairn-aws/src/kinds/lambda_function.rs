//! `aws:lambda:Function`: a Lambda function from inline source, a local
//! directory or a zip file. Physical id: the function name.
//!
//! The code is zipped deterministically (sorted entries, 1980-01-01
//! timestamps, modes 0644/0755, no extra fields), and `check` records the
//! zip's base64 SHA-256 in the derived prop `code_sha256`. Lambda reports the
//! same hash as `CodeSha256`, so an unchanged source reads back with no diff
//! and a changed one differs in `code_sha256` alone: one `UpdateFunctionCode`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::Blob;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;
use cairn_engine::diag::did_you_mean;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Digest as _;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::unresolved;
use crate::normalize::optional_text;
use crate::retry::{self, Backoff, Bound, Failed, Wait, Waits};
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A Lambda function, with code from inline source, a local directory or a zip
/// file.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionProps {
    /// Function name: 1-64 of `A-Z a-z 0-9 _ -`. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The runtime, e.g. `python3.13`, `nodejs22.x`, `provided.al2023`.
    pub runtime: String,
    /// The entry point, e.g. `index.handler`.
    pub handler: String,
    /// ARN of the execution role.
    pub role: String,
    /// Where the code comes from: exactly one of `inline`, `dir`, `file`.
    pub code: CodeProps,
    /// Derived by `check`: the base64 SHA-256 of the code's zip, as Lambda
    /// reports it in `CodeSha256`. Anything written here is replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_sha256: Option<String>,
    /// Memory in MB, 128-10240. Default 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Timeout in seconds, 1-900. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// `x86_64` or `arm64`. Default `x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// What the function does; at most 256 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Concurrent executions reserved for this function; unset means it
    /// shares the account's unreserved pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// Days to keep the function's logs: the retention of the log group
    /// `/aws/lambda/<name>` that cairn derives for it (unset: forever). No
    /// effect when the stack has its own group of that name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_retention_days: Option<i32>,
    /// The size in bytes of the zip `defaults` built, for `validate` to
    /// hold against Lambda's upload limit.
    #[serde(skip)]
    #[schemars(skip)]
    pub code_size: Option<u64>,
    /// Why `defaults` could not build the zip, for `validate` to report.
    #[serde(skip)]
    #[schemars(skip)]
    pub code_error: Option<String>,
}

/// The function's code: exactly one of `inline`, `dir` or `file`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodeProps {
    /// The source of a single file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// The file name for `inline` code. Default from the runtime and handler:
    /// `index.py` (Python), `index.mjs` (Node.js, ES module) or `index.js`,
    /// `index.rb` (Ruby), `bootstrap` (custom runtimes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A local directory to zip; a relative path starts at the stack file's
    /// directory (for a Rust stack, its base directory or the working one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// A local zip file to upload as it is; relative paths as for `dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// The `aws:lambda:Function` kind.
pub struct Function {
    clients: Arc<Clients>,
}

impl Function {
    pub fn new(clients: Arc<Clients>) -> Self {
        Function { clients }
    }
}

const MAX_NAME: usize = 64;
const DEFAULT_MEMORY: u32 = 128;
const DEFAULT_TIMEOUT: u32 = 3;
const DEFAULT_ARCHITECTURE: &str = "x86_64";
const MAX_DESCRIPTION: usize = 256;
/// The largest zip `CreateFunction` and `UpdateFunctionCode` take in the
/// request itself (50 MB); larger code must be uploaded to S3 first.
const MAX_DIRECT_ZIP: u64 = 52_428_800;

/// Runtimes Lambda accepts for new functions, each until its create block
/// in [`LIFECYCLE`] (checked against the day `validate` runs).
pub const RUNTIMES: &[&str] = &[
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "dotnet8",
    "dotnet10",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "provided.al2",
    "provided.al2023",
];

/// A runtime's end of life in Lambda, as `YYYY-MM-DD` dates: when AWS
/// deprecated it and from when `CreateFunction` refuses it.
#[derive(Debug)]
pub struct Lifecycle {
    pub runtime: &'static str,
    pub deprecated: &'static str,
    /// AWS's "Block function create" date.
    pub create_blocked: &'static str,
}

const fn life(runtime: &'static str, deprecated: &'static str, create_blocked: &'static str) -> Lifecycle {
    Lifecycle { runtime, deprecated, create_blocked }
}

/// The lifecycle of every runtime in [`RUNTIMES`] and of the older ones
/// users still write. Dates from the AWS Lambda Developer Guide, "Lambda
/// runtimes", tables "Supported runtimes" and "Deprecated runtimes"
/// (<https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html>),
/// as AWS revised them in 2026 (most create blocks then due in 2026 moved to
/// 2027-02-01), cross-checked with cfn-lint's copy of that table
/// (`LmbdRuntimeLifecycle.json`, June 2026). AWS moves these dates: update
/// them from that page.
pub const LIFECYCLE: &[Lifecycle] = &[
    // Past their create block: no longer in `RUNTIMES`.
    life("python2.7", "2021-07-15", "2021-07-15"),
    life("python3.6", "2022-07-18", "2022-07-18"),
    life("python3.7", "2023-12-04", "2024-01-09"),
    life("nodejs10.x", "2021-07-30", "2021-07-30"),
    life("nodejs12.x", "2023-03-31", "2023-03-31"),
    life("nodejs14.x", "2023-12-04", "2024-01-09"),
    life("java8", "2024-01-08", "2024-02-08"),
    life("go1.x", "2024-01-08", "2024-02-08"),
    life("provided", "2024-01-08", "2024-02-08"),
    life("ruby2.5", "2021-07-30", "2021-07-30"),
    life("ruby2.7", "2023-12-07", "2024-01-09"),
    life("dotnetcore2.1", "2022-01-05", "2022-01-05"),
    life("dotnetcore3.1", "2023-04-03", "2023-04-03"),
    // `RUNTIMES`.
    life("python3.9", "2025-12-15", "2027-02-01"),
    life("python3.10", "2026-10-31", "2027-02-01"),
    life("python3.11", "2027-06-30", "2027-07-31"),
    life("python3.12", "2028-10-31", "2028-11-30"),
    life("python3.13", "2029-06-30", "2029-07-31"),
    life("python3.14", "2029-06-30", "2029-07-31"),
    life("nodejs18.x", "2025-09-01", "2027-02-01"),
    life("nodejs20.x", "2026-04-30", "2027-02-01"),
    life("nodejs22.x", "2027-04-30", "2027-06-01"),
    life("nodejs24.x", "2028-04-30", "2028-06-01"),
    life("java8.al2", "2027-06-30", "2027-07-31"),
    life("java11", "2027-06-30", "2027-07-31"),
    life("java17", "2027-06-30", "2027-07-31"),
    life("java21", "2029-06-30", "2029-07-31"),
    life("java25", "2029-06-30", "2029-07-31"),
    life("dotnet8", "2026-11-10", "2027-02-01"),
    life("dotnet10", "2028-11-14", "2028-12-14"),
    life("ruby3.2", "2026-03-31", "2027-02-01"),
    life("ruby3.3", "2027-03-31", "2027-04-30"),
    life("ruby3.4", "2028-03-31", "2028-04-30"),
    life("provided.al2", "2026-07-31", "2027-02-01"),
    life("provided.al2023", "2029-06-30", "2029-07-31"),
];

/// The error for a runtime Lambda no longer accepts for new functions on
/// `today` (`YYYY-MM-DD`), with the runtimes of its language to use instead.
fn runtime_problem(runtime: &str, today: &str) -> Option<PropError> {
    let l = LIFECYCLE.iter().find(|l| l.runtime == runtime)?;
    if today < l.create_blocked {
        return None;
    }
    let mut e = PropError::new(
        &["runtime"],
        format!("Lambda has refused to create functions with runtime `{runtime}` since {}", l.create_blocked),
    )
    .expected("a runtime Lambda still accepts for new functions");
    e.suggestion = Some(use_instead(runtime, today));
    Some(e)
}

/// `use …`: the nearest and the newest runtimes of the same language that
/// are not deprecated on `today`.
fn use_instead(runtime: &str, today: &str) -> String {
    let language = language(runtime);
    let supported = |r: &&str| LIFECYCLE.iter().find(|l| l.runtime == *r).is_none_or(|l| today < l.deprecated);
    let same: Vec<&str> = RUNTIMES.iter().copied().filter(|r| language_of(r) == language).filter(supported).collect();
    let advice = match same.as_slice() {
        [] => "use a runtime from the supported list in AWS's Lambda documentation".to_string(),
        [one] => format!("use `{one}`"),
        [nearest, .., newest] => format!("use `{nearest}` (the nearest supported) or `{newest}` (the newest)"),
    };
    if language_of(runtime) == "go" { format!("{advice}, with the Go binary as `bootstrap`") } else { advice }
}

/// `python`, `nodejs`, `java`, …: the runtime's name without its version.
fn language_of(runtime: &str) -> &str {
    runtime.split(|c: char| c.is_ascii_digit() || c == '.').next().unwrap_or(runtime)
}

/// The language whose current runtimes replace this one's.
fn language(runtime: &str) -> &str {
    match language_of(runtime) {
        "dotnetcore" => "dotnet",
        // Go runs on the OS-only runtimes since `go1.x`.
        "go" => "provided",
        other => other,
    }
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    cairn_engine::state::civil_date(i64::try_from(secs / 86_400).unwrap_or(0))
}

#[async_trait]
impl TypedKind for Function {
    const TYPE: &'static str = "aws:lambda:Function";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name", "version", "role"];
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const ATTRIBUTE_TYPES: &'static [(&'static str, AttrType)] = &[("role", AttrType::Arn("aws:iam:Role"))];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["role"], when: None, accepts: &[AttrType::Arn("aws:iam:Role")] }];
    type Props = FunctionProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the function's name",
        attributes: &[
            ("arn", "the function's ARN, what rule targets, subscriptions and permissions take"),
            ("name", "the function's name"),
            ("version", "the version AWS reports (`$LATEST`: cairn publishes no versions)"),
            ("role", "the ARN of the execution role, as AWS has it"),
        ],
        quirks: &[
            "Code is zipped byte for byte the same for the same source (sorted entries, fixed times and modes), and its hash compared with Lambda's `CodeSha256`: no re-upload when nothing changed.",
            "A role made seconds ago may be refused (\"cannot be assumed by Lambda\"): retried while IAM propagates, bounded.",
            "Updates are asynchronous: cairn waits for `LastUpdateStatus` between a code and a configuration update, and waits out `ResourceConflictException`; a new function is used only once `Active`.",
            "Lambda makes its log group on first run: cairn derives the group first so the stack owns it.",
            "Runtimes are checked against the day validate runs: one AWS no longer lets you create is refused with its replacement named.",
        ],
    };

    fn defaults(props: &mut FunctionProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        props.memory.get_or_insert(DEFAULT_MEMORY);
        props.timeout.get_or_insert(DEFAULT_TIMEOUT);
        if props.architecture.is_none() {
            props.architecture = Some(DEFAULT_ARCHITECTURE.to_string());
        }
        if let Some(inline) = &props.code.inline
            && props.code.filename.is_none()
        {
            props.code.filename = default_filename(&props.runtime, &props.handler, inline);
        }
        // Errors (a missing directory…) leave it unset; `validate` reports them.
        match build_zip(&props.runtime, &props.code, cx.base_dir) {
            Ok(zip) => {
                props.code_size = zip.as_ref().map(|zip| u64::try_from(zip.len()).unwrap_or(u64::MAX));
                props.code_sha256 = zip.map(|zip| code_sha256(&zip));
            }
            Err(e) => {
                props.code_sha256 = None;
                props.code_error = Some(e);
            }
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &FunctionProps, errors: &mut Vec<PropError>) {
        if let Some(days) = props.log_retention_days {
            crate::kinds::validate_retention("log_retention_days", days, errors);
        }
        if let Some(name) = &props.name
            && !unresolved(name)
        {
            if name.is_empty() || name.len() > MAX_NAME {
                errors.push(
                    PropError::new(&["name"], format!("function name is {} characters long", name.len()))
                        .expected(format!("1 to {MAX_NAME} characters")),
                );
            }
            if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
                errors.push(
                    PropError::new(&["name"], format!("function name `{name}` contains `{bad}`"))
                        .expected("letters, digits, `-` and `_`"),
                );
            }
        }
        let blocked = if unresolved(&props.runtime) { None } else { runtime_problem(&props.runtime, &today()) };
        if let Some(e) = blocked {
            errors.push(e);
        } else if !unresolved(&props.runtime) && !RUNTIMES.contains(&props.runtime.as_str()) {
            let mut e = PropError::new(&["runtime"], format!("`{}` is not a current Lambda runtime", props.runtime))
                .expected(format!("one of {}", RUNTIMES.join(", ")));
            e.suggestion =
                did_you_mean(&props.runtime, RUNTIMES.iter().copied()).map(|r| format!("did you mean `{r}`?"));
            errors.push(e);
        }
        let handler_problem = handler_problem(&props.runtime, &props.handler);
        if let Some((message, expected, suggestion)) = &handler_problem {
            let mut e = PropError::new(&["handler"], message.clone()).expected(expected.clone());
            e.suggestion.clone_from(suggestion);
            errors.push(e);
        }
        if !is_role_arn(&props.role) {
            errors.push(
                PropError::new(&["role"], format!("`{}` is not a role ARN", props.role))
                    .expected("an IAM role ARN, e.g. `${fn-role.arn}`"),
            );
        }
        // A bad handler also leaves inline code without a file name: one error is enough.
        if handler_problem.is_none() || props.code.inline.is_none() || props.code.filename.is_some() {
            validate_code(props, errors);
        }
        check_range(props.memory, 128..=10240, &["memory"], "memory (MB)", errors);
        check_range(props.timeout, 1..=900, &["timeout"], "timeout (seconds)", errors);
        if let Some(a) = &props.architecture
            && !["x86_64", "arm64"].contains(&a.as_str())
        {
            errors.push(
                PropError::new(&["architecture"], format!("`{a}` is not a Lambda architecture"))
                    .expected("`x86_64` or `arm64`"),
            );
        }
        for key in props.environment.keys() {
            if key.is_empty()
                || !key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                || key.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '_'))
            {
                errors.push(
                    PropError::new(&["environment", key], format!("`{key}` is not a valid variable name"))
                        .expected("a letter followed by letters, digits and `_`"),
                );
            }
        }
        if let Some(d) = &props.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            errors.push(
                PropError::new(&["description"], format!("description is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DESCRIPTION} characters")),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &FunctionProps) -> Result<Observed<FunctionProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let lambda = self.clients.lambda().await;
        let action = format!("creating Lambda function {name}");

        let zip = code_zip(props, &cx.base_dir).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let code = FunctionCode::builder().zip_file(Blob::new(zip)).build();
        let req = lambda
            .create_function()
            .function_name(&name)
            .runtime(Runtime::from(props.runtime.as_str()))
            .handler(&props.handler)
            .role(&props.role)
            .code(code)
            .set_description(props.description.clone())
            .set_memory_size(props.memory.map(to_i32))
            .set_timeout(props.timeout.map(to_i32))
            .architectures(Architecture::from(props.architecture.as_deref().unwrap_or(DEFAULT_ARCHITECTURE)))
            .environment(environment(&props.environment))
            .set_tags(Some(cx.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()));
        let waits = self.clients.waits();
        let out = match retrying(cx, waits, &action, || req.clone().send()).await {
            Ok(out) => out,
            // CreateFunction fails on an existing name, so no look first: a
            // function left by a run that died before saving state, or by an
            // earlier try of this call whose answer was lost, is adopted only
            // if its tags say it is this resource's.
            Err(f) if already_exists(&f.error) => {
                let live = find_function(lambda, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(live) = live else { return Err(f.op_error(&action)) };
                return self.adopt(cx, &name, &live, props, &action).await;
            }
            Err(f) => return Err(f.op_error(&action)),
        };
        // The answer holds the configuration: poll only if it is not ready.
        let ready =
            out.state() == Some(&State::Active) && out.last_update_status() != Some(&LastUpdateStatus::InProgress);
        let config = if ready {
            brief_config([out.function_name(), out.function_arn(), out.version(), out.role(), out.code_sha256()])
        } else {
            wait_until_ready(lambda, cx, waits, &name, &action).await?
        };
        if let Some(n) = props.reserved_concurrency {
            put_concurrency(lambda, cx, waits, &name, Some(n), &action).await?;
        }
        let live = LiveFunction {
            name: config.function_name().unwrap_or(&name).to_string(),
            arn: config.function_arn().unwrap_or_default().to_string(),
            version: config.version().unwrap_or("$LATEST").to_string(),
            tags: cx.tags.clone(),
            reserved_concurrency: props.reserved_concurrency,
            config,
        };
        Ok(observed(&live, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        name: &str,
        last: &FunctionProps,
    ) -> Result<Option<Observed<FunctionProps>>, OpError> {
        let lambda = self.clients.lambda().await;
        let live = find_function(lambda, name)
            .await
            .map_err(|e| OpError::failed(format!("reading Lambda function {name}: {e}")))?;
        Ok(live.map(|live| {
            let props = live.props(last);
            observed(&live, props)
        }))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        _old: &FunctionProps,
        new: &FunctionProps,
    ) -> Result<Observed<FunctionProps>, OpError> {
        let action = format!("updating Lambda function {name}");
        let lambda = self.clients.lambda().await;
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = find_function(lambda, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Err(OpError::failed(format!("{action}: the function no longer exists")));
        };
        self.converge(cx, name, &live, new, &action).await
    }

    // ---- tags, for import -------------------------------------------------------

    /// From GetFunction, which carries the tags and the ARN tagging takes.
    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let lambda = self.clients.lambda().await;
        live_tags_of(&format!("Lambda function {name}"), find_function(lambda, name), |f| async move { Ok(f.tags) })
            .await
    }

    async fn add_tags(&self, _cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let lambda = self.clients.lambda().await;
        add_tags_to(&format!("Lambda function {name}"), find_function(lambda, name), |f, action| async move {
            set_tags(lambda, &f.arn, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, name: &str, _props: &FunctionProps) -> Result<(), OpError> {
        let lambda = self.clients.lambda().await;
        let action = format!("deleting Lambda function {name}");
        let req = lambda.delete_function().function_name(name);
        match retrying(cx, self.clients.waits(), &action, || req.clone().send()).await {
            Ok(_) => Ok(()),
            Err(f) if is_not_found(&f.error) => Ok(()),
            Err(f) => Err(f.op_error(&action)),
        }
    }
}

impl Function {
    /// Takes over an existing function if its tags say it is this
    /// resource's, once it is ready, and brings it to `want`.
    async fn adopt(
        &self,
        cx: &OpCtx,
        name: &str,
        live: &LiveFunction,
        want: &FunctionProps,
        action: &str,
    ) -> Result<Observed<FunctionProps>, OpError> {
        cx.ensure_owns(&live.tags, format!("Lambda function {name}"))?;
        wait_until_ready(self.clients.lambda().await, cx, self.clients.waits(), name, action).await?;
        self.converge(cx, name, live, want, action).await
    }

    /// Code first (with its architecture), then configuration, each waited
    /// for, then concurrency and tags: only what differs from `live`.
    async fn converge(
        &self,
        cx: &OpCtx,
        name: &str,
        live: &LiveFunction,
        want: &FunctionProps,
        action: &str,
    ) -> Result<Observed<FunctionProps>, OpError> {
        let lambda = self.clients.lambda().await;
        let waits = self.clients.waits();
        let have = live.props(want);
        let plan = changes(&have, want);
        if plan.code {
            let zip = code_zip(want, &cx.base_dir).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            let req = lambda
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(zip))
                .architectures(Architecture::from(want.architecture.as_deref().unwrap_or(DEFAULT_ARCHITECTURE)));
            retrying(cx, waits, action, || req.clone().send())
                .await
                .map_err(|f| f.op_error(&format!("{action}: updating code")))?;
            wait_until_ready(lambda, cx, waits, name, action).await?;
        }
        if plan.configuration {
            let req = lambda
                .update_function_configuration()
                .function_name(name)
                .runtime(Runtime::from(want.runtime.as_str()))
                .handler(&want.handler)
                .role(&want.role)
                .description(want.description.clone().unwrap_or_default())
                .set_memory_size(want.memory.map(to_i32))
                .set_timeout(want.timeout.map(to_i32))
                .environment(environment(&want.environment));
            retrying(cx, waits, action, || req.clone().send())
                .await
                .map_err(|f| f.op_error(&format!("{action}: updating configuration")))?;
            wait_until_ready(lambda, cx, waits, name, action).await?;
        }
        if plan.concurrency {
            put_concurrency(lambda, cx, waits, name, want.reserved_concurrency, action).await?;
        }
        let tags = tag_changes(&live.tags, &cx.tags);
        set_tags(lambda, &live.arn, &tags.set, &format!("{action}: tagging")).await?;
        if !tags.remove.is_empty() {
            lambda
                .untag_resource()
                .resource(&live.arn)
                .set_tag_keys(Some(tags.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        let after = if plan.code || plan.configuration { self.read_live(name, action).await? } else { live.clone() };
        Ok(observed(&after, want.clone()))
    }

    async fn read_live(&self, name: &str, action: &str) -> Result<LiveFunction, OpError> {
        let lambda = self.clients.lambda().await;
        find_function(lambda, name)
            .await
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?
            .ok_or_else(|| OpError::failed(format!("{action}: the function vanished")))
    }
}

// ---- pure helpers ------------------------------------------------------------

/// Which calls an update needs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changes {
    code: bool,
    configuration: bool,
    concurrency: bool,
}

fn changes(have: &FunctionProps, want: &FunctionProps) -> Changes {
    Changes {
        // No hash means the code held a reference at check time: upload.
        code: want.code_sha256.is_none()
            || have.code_sha256 != want.code_sha256
            || have.architecture != want.architecture,
        configuration: have.runtime != want.runtime
            || have.handler != want.handler
            || have.role != want.role
            || have.memory != want.memory
            || have.timeout != want.timeout
            || have.environment != want.environment
            || have.description != want.description,
        concurrency: have.reserved_concurrency != want.reserved_concurrency,
    }
}

fn check_range(
    v: Option<u32>,
    range: std::ops::RangeInclusive<u32>,
    path: &[&str],
    what: &str,
    errors: &mut Vec<PropError>,
) {
    if let Some(v) = v
        && !range.contains(&v)
    {
        errors.push(PropError::new(path, format!("{what} is {v}")).expected(format!(
            "{} to {}",
            range.start(),
            range.end()
        )));
    }
}

const MAX_HANDLER: usize = 128;

/// What is wrong with a handler for a runtime, as (message, expected,
/// suggestion). Interpreted runtimes name `<file>.<function>`; Java and .NET
/// name a class or method; custom runtimes take any text.
fn handler_problem(runtime: &str, handler: &str) -> Option<(String, String, Option<String>)> {
    if unresolved(handler) {
        return None;
    }
    if handler.is_empty() || handler.len() > MAX_HANDLER {
        return Some((
            format!("the handler is {} characters long", handler.len()),
            format!("1 to {MAX_HANDLER} characters, like `index.handler`"),
            None,
        ));
    }
    if let Some(bad) = handler.chars().find(|c| c.is_whitespace()) {
        return Some((format!("handler `{handler}` contains {bad:?}"), "no spaces, like `index.handler`".into(), None));
    }
    let file_and_function = ["python", "nodejs", "ruby"].iter().any(|p| runtime.starts_with(p));
    let well_formed = handler.rsplit_once('.').is_some_and(|(file, function)| !file.is_empty() && !function.is_empty());
    if file_and_function && !well_formed {
        return Some((
            format!("handler `{handler}` does not name a file and a function"),
            format!("`<file>.<function>` for runtime `{runtime}`, like `index.handler`"),
            (!handler.contains('.')).then(|| format!("did you mean `index.{handler}`?")),
        ));
    }
    None
}

fn validate_code(props: &FunctionProps, errors: &mut Vec<PropError>) {
    let c = &props.code;
    let given = [c.inline.is_some(), c.dir.is_some(), c.file.is_some()].iter().filter(|b| **b).count();
    if given != 1 {
        errors.push(
            PropError::new(&["code"], format!("{given} code sources are given"))
                .expected("exactly one of `inline`, `dir` and `file`"),
        );
        return;
    }
    if c.filename.is_some() && c.inline.is_none() {
        errors.push(PropError::new(&["code", "filename"], "`filename` only applies to `inline` code"));
    }
    if c.inline.is_some() && c.filename.is_none() {
        errors.push(
            PropError::new(&["code", "filename"], format!("no default file name for runtime `{}`", props.runtime))
                .expected("`filename`, e.g. `index.py`"),
        );
        return;
    }
    let field = if c.dir.is_some() {
        "dir"
    } else if c.file.is_some() {
        "file"
    } else {
        "inline"
    };
    if let Some(e) = &props.code_error {
        errors.push(PropError::new(&["code", field], e.clone()));
    }
    if let Some(size) = props.code_size
        && size > MAX_DIRECT_ZIP
    {
        #[allow(clippy::cast_precision_loss)] // one decimal of MB
        let mb = size as f64 / 1_048_576.0;
        let mut e = PropError::new(
            &["code", field],
            format!("the code's zip is {} bytes ({mb:.1} MB), more than Lambda takes in one upload", grouped(size)),
        )
        .expected(format!("a zip of at most {} bytes (50 MB)", grouped(MAX_DIRECT_ZIP)));
        e.suggestion = Some(
            "leave out what the function does not need (tests, caches, development dependencies); larger code \
             must go through S3, which cairn's `code` does not offer yet (it has no `s3` source)"
                .to_string(),
        );
        errors.push(e);
    }
}

/// `52428800` as `52,428,800`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A role ARN, or a reference that will become one.
fn is_role_arn(s: &str) -> bool {
    unresolved(s) || (s.starts_with("arn:") && s.contains(":role/"))
}

/// The file inline code is written to: `<module>.<ext>` from the handler.
fn default_filename(runtime: &str, handler: &str, source: &str) -> Option<String> {
    if runtime.starts_with("provided") {
        return Some("bootstrap".to_string());
    }
    let module = handler.rsplit_once('.').map(|(m, _)| m).filter(|m| !m.is_empty())?;
    let ext = if runtime.starts_with("python") {
        "py"
    } else if runtime.starts_with("nodejs") {
        // ES module syntax needs `.mjs`; CommonJS `exports.handler` needs `.js`.
        if source.contains("export ") { "mjs" } else { "js" }
    } else if runtime.starts_with("ruby") {
        "rb"
    } else {
        return None;
    };
    Some(format!("{module}.{ext}"))
}

/// The zip to upload: `Ok(None)` while the code still holds a reference.
/// Relative `dir` and `file` paths start at `base` (empty: the working
/// directory).
pub fn build_zip(runtime: &str, code: &CodeProps, base: &Path) -> Result<Option<Vec<u8>>, String> {
    if let Some(source) = &code.inline {
        let Some(filename) = &code.filename else { return Ok(None) };
        if unresolved(source) || unresolved(filename) {
            return Ok(None);
        }
        let executable = runtime.starts_with("provided") && filename == "bootstrap";
        return deterministic_zip(vec![ZipEntry {
            path: filename.clone(),
            data: source.clone().into_bytes(),
            executable,
        }])
        .map(Some);
    }
    if let Some(dir) = &code.dir {
        if unresolved(dir) {
            return Ok(None);
        }
        let entries = read_dir_entries(&base.join(dir)).map_err(|e| format!("reading code directory {dir}: {e}"))?;
        if entries.is_empty() {
            return Err(format!("code directory {dir} holds no files"));
        }
        return deterministic_zip(entries).map(Some);
    }
    if let Some(file) = &code.file {
        if unresolved(file) {
            return Ok(None);
        }
        let bytes = std::fs::read(base.join(file)).map_err(|e| format!("reading code zip {file}: {e}"))?;
        if !bytes.starts_with(b"PK") {
            return Err(format!("{file} is not a zip file"));
        }
        return Ok(Some(bytes));
    }
    Ok(None)
}

/// The zip for these props, failing when it cannot be built.
fn code_zip(props: &FunctionProps, base: &Path) -> Result<Vec<u8>, String> {
    build_zip(&props.runtime, &props.code, base)?
        .ok_or_else(|| "the code still holds an unresolved reference".to_string())
}

/// One file of a code zip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZipEntry {
    /// The path inside the zip, `/`-separated.
    pub path: String,
    pub data: Vec<u8>,
    pub executable: bool,
}

/// A zip whose bytes depend only on the entries' paths, contents and
/// executable bits: entries sorted by path, every timestamp 1980-01-01, modes
/// 0644 or 0755, Unix as the creating system, no extra fields.
pub fn deterministic_zip(mut entries: Vec<ZipEntry>) -> Result<Vec<u8>, String> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for e in &entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default())
            .system(zip::System::Unix)
            .unix_permissions(if e.executable { 0o755 } else { 0o644 });
        zip.start_file(e.path.as_str(), options).map_err(|err| format!("zipping {}: {err}", e.path))?;
        zip.write_all(&e.data).map_err(|err| format!("zipping {}: {err}", e.path))?;
    }
    let out = zip.finish().map_err(|e| format!("finishing the zip: {e}"))?;
    Ok(out.into_inner())
}

/// Every file under `root`, with paths relative to it; symlinks are followed.
fn read_dir_entries(root: &Path) -> std::io::Result<Vec<ZipEntry>> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let meta = std::fs::metadata(&path)?;
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() {
                let rel = path.strip_prefix(root).map_err(std::io::Error::other)?;
                let rel: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
                out.push(ZipEntry {
                    path: rel.join("/"),
                    data: std::fs::read(&path)?,
                    executable: is_executable(&meta),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// The base64 SHA-256 Lambda reports as `CodeSha256`.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(zip))
}

fn environment(vars: &BTreeMap<String, String>) -> Environment {
    Environment::builder().set_variables(Some(vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())).build()
}

fn to_i32(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn observed(live: &LiveFunction, props: FunctionProps) -> Observed<FunctionProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(live.arn.clone()));
    attrs.insert("name".to_string(), Value::String(live.name.clone()));
    attrs.insert("version".to_string(), Value::String(live.version.clone()));
    attrs.insert("role".to_string(), Value::String(live.config.role().unwrap_or_default().to_string()));
    Observed {
        physical_id: live.name.clone(),
        props: FunctionProps { code_sha256: live.code_sha256(), ..props },
        attrs,
    }
}

// ---- retries and waiters -------------------------------------------------------

/// Why an error is worth retrying, or `None` when it is final: a fresh role
/// not yet usable by Lambda (IAM propagation), or the function or mapping
/// busy with an earlier change. A conflict saying that something "already
/// exists" is final: the caller decides whether what exists is its own.
pub(crate) fn retry_reason(code: Option<&str>, message: Option<&str>) -> Option<Wait> {
    let message = message.unwrap_or_default().to_ascii_lowercase();
    match code? {
        "InvalidParameterValueException"
            if message.contains("cannot be assumed")
                || message.contains("execution role does not have permissions") =>
        {
            Some(Wait::new("waiting for the IAM role to propagate", Bound::LambdaRole))
        }
        "ResourceConflictException" if message.contains("already exist") => None,
        "ResourceConflictException" => {
            Some(Wait::new("waiting for an earlier change to the function to finish", Bound::Busy))
        }
        "ResourceInUseException" => Some(Wait::new("waiting for an earlier change to finish", Bound::Busy)),
        _ => None,
    }
}

/// Whether AWS refused a create because the thing already exists
/// (`ResourceConflictException`: "Function already exist", "The statement
/// id (…) provided already exists", "An event source mapping with SQS arn
/// (…) already exists").
pub(crate) fn already_exists<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.code() == Some("ResourceConflictException")
        && err.message().is_some_and(|m| m.to_ascii_lowercase().contains("already exist"))
}

/// Runs a Lambda call until it succeeds, fails for good, or the bound of
/// its [`retry_reason`] passes; each wait is reported.
pub(crate) async fn retrying<T, E, R, F, Fut>(
    cx: &OpCtx,
    waits: &Waits,
    action: &str,
    call: F,
) -> Result<T, Failed<E, R>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata,
{
    retry::retrying(cx, waits, action, retry_reason, call).await
}

/// The part of a function's configuration a create reports (name, ARN,
/// version, role, code hash), from an answer that holds it.
fn brief_config([name, arn, version, role, sha]: [Option<&str>; 5]) -> aws_sdk_lambda::types::FunctionConfiguration {
    let own = |v: Option<&str>| v.map(ToString::to_string);
    aws_sdk_lambda::types::FunctionConfiguration::builder()
        .set_function_name(own(name))
        .set_function_arn(own(arn))
        .set_version(own(version))
        .set_role(own(role))
        .set_code_sha256(own(sha))
        .build()
}

/// Waits until the function is `Active` and its last update `Successful`,
/// polling with backoff; returns what the last poll reported.
async fn wait_until_ready(
    lambda: &aws_sdk_lambda::Client,
    cx: &OpCtx,
    waits: &Waits,
    name: &str,
    action: &str,
) -> Result<aws_sdk_lambda::types::FunctionConfiguration, OpError> {
    let mut backoff = Backoff::new(waits);
    loop {
        let config = lambda
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: waiting for the function"), &e))?;
        let waiting = match (config.state(), config.last_update_status()) {
            (Some(State::Failed), _) => {
                return Err(OpError::failed(format!(
                    "{action}: the function failed: {}",
                    config.state_reason().unwrap_or("no reason given")
                )));
            }
            (_, Some(LastUpdateStatus::Failed)) => {
                return Err(OpError::failed(format!(
                    "{action}: the update failed: {}",
                    config.last_update_status_reason().unwrap_or("no reason given")
                )));
            }
            (Some(State::Pending), _) => "waiting for the function to become active",
            (_, Some(LastUpdateStatus::InProgress)) => "waiting for the function's update to finish",
            _ => {
                return Ok(brief_config([
                    config.function_name(),
                    config.function_arn(),
                    config.version(),
                    config.role(),
                    config.code_sha256(),
                ]));
            }
        };
        let Some(delay) = backoff.next_delay(waits.busy) else {
            return Err(OpError::failed(format!("{action}: {}", retry::gave_up(waiting, backoff.elapsed()))));
        };
        (cx.notify)(&format!("{action}: {waiting}"));
        tokio::time::sleep(delay).await;
    }
}

async fn put_concurrency(
    lambda: &aws_sdk_lambda::Client,
    cx: &OpCtx,
    waits: &Waits,
    name: &str,
    reserved: Option<u32>,
    action: &str,
) -> Result<(), OpError> {
    match reserved {
        Some(n) => {
            let req = lambda.put_function_concurrency().function_name(name).reserved_concurrent_executions(to_i32(n));
            retrying(cx, waits, action, || req.clone().send())
                .await
                .map_err(|f| f.op_error(&format!("{action}: reserving concurrency")))?;
        }
        None => {
            let req = lambda.delete_function_concurrency().function_name(name);
            match retrying(cx, waits, action, || req.clone().send()).await {
                Ok(_) => {}
                Err(f) if is_not_found(&f.error) => {}
                Err(f) => return Err(f.op_error(&format!("{action}: releasing reserved concurrency"))),
            }
        }
    }
    Ok(())
}

// ---- finders -----------------------------------------------------------------

/// A function as GetFunction reports it.
#[derive(Clone, Debug)]
struct LiveFunction {
    name: String,
    arn: String,
    version: String,
    config: aws_sdk_lambda::types::FunctionConfiguration,
    tags: BTreeMap<String, String>,
    reserved_concurrency: Option<u32>,
}

impl LiveFunction {
    fn code_sha256(&self) -> Option<String> {
        self.config.code_sha256().map(ToString::to_string)
    }

    /// Props as AWS reports them, in canonical form; the code's source is
    /// not readable, so it is `last`'s, and `code_sha256` tells if it changed.
    fn props(&self, last: &FunctionProps) -> FunctionProps {
        let c = &self.config;
        let env: HashMap<String, String> = c.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
        FunctionProps {
            name: Some(self.name.clone()),
            runtime: c.runtime().map_or_else(String::new, |r| r.as_str().to_string()),
            handler: c.handler().unwrap_or_default().to_string(),
            role: c.role().unwrap_or_default().to_string(),
            code: last.code.clone(),
            code_sha256: self.code_sha256(),
            memory: c.memory_size().and_then(|m| u32::try_from(m).ok()),
            timeout: c.timeout().and_then(|t| u32::try_from(t).ok()),
            environment: env.into_iter().collect(),
            architecture: Some(c.architectures().first().map_or(DEFAULT_ARCHITECTURE, |a| a.as_str()).to_string()),
            description: optional_text(c.description(), last.description.as_ref()),
            reserved_concurrency: self.reserved_concurrency,
            // Not the function's: its log group's, which reads for itself.
            log_retention_days: last.log_retention_days,
            code_size: None,
            code_error: None,
        }
    }
}

/// Sets these tags on the function or event source mapping `arn` names
/// (TagResource), leaving its others alone; errors start with `action`.
pub(crate) async fn set_tags(
    lambda: &aws_sdk_lambda::Client,
    arn: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    lambda.tag_resource().resource(arn).set_tags(Some(tags)).send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

/// The function, or `None` when it does not exist.
async fn find_function(lambda: &aws_sdk_lambda::Client, name: &str) -> Result<Option<LiveFunction>, String> {
    let out = match lambda.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_error("GetFunction", &e).to_string()),
    };
    let Some(config) = out.configuration().cloned() else {
        return Err("GetFunction returned no configuration".to_string());
    };
    Ok(Some(LiveFunction {
        name: config.function_name().unwrap_or(name).to_string(),
        arn: config.function_arn().unwrap_or_default().to_string(),
        version: config.version().unwrap_or("$LATEST").to_string(),
        tags: out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
        reserved_concurrency: out
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions())
            .and_then(|n| u32::try_from(n).ok()),
        config,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn check(props: Value) -> Result<FunctionProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Function::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab4", id: "hello", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    #[test]
    fn defaults_and_hash_are_filled() {
        let p = check(json!({"runtime": "python3.13", "handler": "index.handler", "role": ROLE,
            "code": {"inline": "def handler(e, c):\n    return 1\n"}}))
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("lab4-hello"));
        assert_eq!(p.memory, Some(128));
        assert_eq!(p.timeout, Some(3));
        assert_eq!(p.architecture.as_deref(), Some("x86_64"));
        assert_eq!(p.code.filename.as_deref(), Some("index.py"));
        assert!(p.code_sha256.is_some());
        // Canonical props check to themselves.
        assert_eq!(check(serde_json::to_value(&p).unwrap()).unwrap(), p);
    }

    #[test]
    fn default_filenames_follow_the_runtime() {
        assert_eq!(default_filename("python3.12", "app.main", "").as_deref(), Some("app.py"));
        assert_eq!(
            default_filename("nodejs22.x", "index.handler", "export const handler").as_deref(),
            Some("index.mjs")
        );
        assert_eq!(default_filename("nodejs22.x", "index.handler", "exports.handler =").as_deref(), Some("index.js"));
        assert_eq!(default_filename("provided.al2023", "x", "").as_deref(), Some("bootstrap"));
        assert_eq!(default_filename("java21", "a.B::h", ""), None);
    }

    #[test]
    fn limits_are_checked_offline() {
        let ok = json!({"runtime": "nodejs22.x", "handler": "index.handler", "role": ROLE, "code": {"inline": "x"}});
        assert!(check(ok.clone()).is_ok());
        let with = |k: &str, v: Value| {
            let mut p = ok.clone();
            p[k] = v;
            check(p)
        };
        assert!(with("runtime", json!("python2.7")).is_err());
        let errs = with("runtime", json!("pyhton3.13")).err().unwrap_or_default();
        assert_eq!(errs[0].suggestion.as_deref(), Some("did you mean `python3.13`?"));
        let errs = with("handler", json!("handler")).err().unwrap_or_default();
        assert_eq!(errs.len(), 1, "no follow-on error for the inline file name: {errs:?}");
        assert_eq!(errs[0].message, "handler `handler` does not name a file and a function");
        assert_eq!(errs[0].suggestion.as_deref(), Some("did you mean `index.handler`?"));
        assert!(with("handler", json!("index.")).is_err());
        assert!(with("handler", json!("index handler")).is_err());
        assert!(with("handler", json!("x".repeat(129))).is_err());
        assert!(with("handler", json!("src/app.main")).is_ok());
        assert!(with("handler", json!("${param.handler}")).is_ok());
        assert_eq!(handler_problem("java21", "example.Handler::handleRequest"), None);
        assert_eq!(handler_problem("provided.al2023", "bootstrap"), None);
        assert!(with("name", json!("x".repeat(65))).is_err());
        assert!(with("memory", json!(64)).is_err());
        assert!(with("memory", json!(10240)).is_ok());
        assert!(with("timeout", json!(901)).is_err());
        assert!(with("architecture", json!("arm")).is_err());
        assert!(with("role", json!("not-an-arn")).is_err());
        assert!(with("role", json!("${r.arn}")).is_ok());
        assert!(with("code", json!({"inline": "x", "dir": "."})).is_err());
        assert!(with("code", json!({})).is_err());
        assert!(with("code", json!({"dir": "/definitely/not/here"})).is_err());
        assert!(with("environment", json!({"1BAD": "x"})).is_err());
    }

    #[test]
    fn runtimes_past_their_block_create_date_are_refused_with_the_date_and_what_to_use() {
        // Blocked in 2024: refused whatever the day.
        for runtime in ["python3.7", "nodejs14.x", "go1.x"] {
            let errs = check(json!({"runtime": runtime, "handler": "index.handler", "role": ROLE,
                "code": {"inline": "x", "filename": "index"}}))
            .err()
            .unwrap_or_default();
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert_eq!(errs[0].path, vec![cairn_engine::PathSeg::Key("runtime".into())]);
            let since = if runtime == "go1.x" { "2024-02-08" } else { "2024-01-09" };
            assert_eq!(
                errs[0].message,
                format!("Lambda has refused to create functions with runtime `{runtime}` since {since}")
            );
            assert_eq!(errs[0].expected.as_deref(), Some("a runtime Lambda still accepts for new functions"));
            assert!(errs[0].suggestion.as_deref().is_some_and(|s| s.starts_with("use `")), "{errs:?}");
        }
        // What to use instead, as of a given day.
        let help =
            |runtime: &str| runtime_problem(runtime, "2026-12-03").and_then(|e| e.suggestion).unwrap_or_default();
        assert_eq!(help("python3.7"), "use `python3.11` (the nearest supported) or `python3.14` (the newest)");
        assert_eq!(help("nodejs14.x"), "use `nodejs22.x` (the nearest supported) or `nodejs24.x` (the newest)");
        assert_eq!(help("go1.x"), "use `provided.al2023`, with the Go binary as `bootstrap`");
        assert_eq!(help("dotnetcore3.1"), "use `dotnet10`");
    }

    #[test]
    fn a_runtime_is_refused_from_its_block_create_date_on() {
        // nodejs18.x and python3.9 are deprecated; Lambda blocks creating them from 2027-02-01.
        for runtime in ["nodejs18.x", "python3.9"] {
            assert_eq!(runtime_problem(runtime, "2026-12-03"), None, "{runtime}");
            assert_eq!(runtime_problem(runtime, "2027-01-31"), None, "{runtime}");
            let e = runtime_problem(runtime, "2027-02-01").unwrap();
            assert_eq!(
                e.message,
                format!("Lambda has refused to create functions with runtime `{runtime}` since 2027-02-01")
            );
        }
        let help = |runtime: &str, day: &str| runtime_problem(runtime, day).and_then(|e| e.suggestion);
        assert_eq!(
            help("nodejs18.x", "2027-02-01").as_deref(),
            Some("use `nodejs22.x` (the nearest supported) or `nodejs24.x` (the newest)")
        );
        // Once nodejs22.x is deprecated too, it is no longer the nearest.
        assert_eq!(help("nodejs18.x", "2027-05-01").as_deref(), Some("use `nodejs24.x`"));
        assert_eq!(runtime_problem("nodejs24.x", "2027-02-01"), None);
        assert_eq!(runtime_problem("python3.14", "2029-07-30"), None);
        assert!(runtime_problem("python3.14", "2029-07-31").is_some());
    }

    #[test]
    fn every_runtime_has_its_dates_and_every_suggestion_is_accepted() {
        for r in RUNTIMES {
            assert!(LIFECYCLE.iter().any(|l| l.runtime == *r), "{r} has no lifecycle dates");
        }
        for l in LIFECYCLE {
            assert!(l.deprecated.len() == 10 && l.create_blocked.len() == 10, "{l:?}");
            assert!(l.deprecated <= l.create_blocked, "{l:?}");
            let today = "2026-12-03";
            if let Some(e) = runtime_problem(l.runtime, today) {
                let help = e.suggestion.unwrap_or_default();
                for suggested in help.split('`').skip(1).step_by(2).filter(|s| RUNTIMES.contains(s)) {
                    assert_eq!(runtime_problem(suggested, today), None, "{} suggests {suggested}", l.runtime);
                }
            }
        }
    }

    #[test]
    fn dates_from_the_clock_are_civil_dates() {
        assert_eq!(cairn_engine::state::civil_date(0), "1970-01-01");
        assert_eq!(cairn_engine::state::civil_date(11_016), "2000-02-29");
        assert_eq!(cairn_engine::state::civil_date(20_790), "2026-12-03");
        assert_eq!(cairn_engine::state::civil_date(20_850), "2027-02-01");
        assert_eq!(today().len(), 10);
    }

    /// `len` bytes that deflate cannot shrink: xorshift64, seeded.
    fn noise(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.truncate(len);
        out
    }

    #[test]
    fn a_zip_over_50_mb_is_refused_at_validate() {
        let dir = tempfile::tempdir().unwrap();
        let zip = |name: &str, len: usize| {
            let mut bytes = b"PK".to_vec();
            bytes.extend(noise(len - 2));
            std::fs::write(dir.path().join(name), bytes).unwrap();
            json!({"runtime": "python3.13", "handler": "index.handler", "role": ROLE,
                "code": {"file": dir.path().join(name).to_string_lossy()}})
        };
        let errs = check(zip("big.zip", 52_428_801)).err().unwrap_or_default();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(
            errs[0].path,
            vec![cairn_engine::PathSeg::Key("code".into()), cairn_engine::PathSeg::Key("file".into())]
        );
        assert_eq!(
            errs[0].message,
            "the code's zip is 52,428,801 bytes (50.0 MB), more than Lambda takes in one upload"
        );
        assert_eq!(errs[0].expected.as_deref(), Some("a zip of at most 52,428,800 bytes (50 MB)"));
        assert!(errs[0].suggestion.as_deref().is_some_and(|s| s.contains("S3")), "{errs:?}");
        // Exactly at the limit is accepted.
        assert!(check(zip("edge.zip", 52_428_800)).is_ok());
    }

    fn write_tree(dir: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    fn dir_hash(dir: &Path) -> String {
        let code = CodeProps { dir: Some(dir.to_string_lossy().into_owned()), ..CodeProps::default() };
        code_sha256(&build_zip("python3.13", &code, Path::new("")).unwrap().unwrap())
    }

    #[test]
    fn zips_are_deterministic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // Same files written in another order, at other times.
        write_tree(a.path(), &[("index.py", "print(1)\n"), ("lib/util.py", "X = 1\n"), ("z.txt", "z")]);
        std::thread::sleep(Duration::from_millis(1100));
        write_tree(b.path(), &[("z.txt", "z"), ("lib/util.py", "X = 1\n"), ("index.py", "print(1)\n")]);
        let code_a = CodeProps { dir: Some(a.path().to_string_lossy().into_owned()), ..CodeProps::default() };
        let code_b = CodeProps { dir: Some(b.path().to_string_lossy().into_owned()), ..CodeProps::default() };
        let zip_a = build_zip("python3.13", &code_a, Path::new("")).unwrap().unwrap();
        assert_eq!(zip_a, build_zip("python3.13", &code_a, Path::new("")).unwrap().unwrap(), "same dir twice");
        assert_eq!(
            zip_a,
            build_zip("python3.13", &code_b, Path::new("")).unwrap().unwrap(),
            "order and mtime do not matter"
        );

        let before = dir_hash(a.path());
        write_tree(a.path(), &[("lib/util.py", "X = 2\n")]);
        assert_ne!(dir_hash(a.path()), before, "one byte changed");

        // The zip lists sorted paths with fixed timestamps and modes.
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_a)).unwrap();
        let names: Vec<String> = archive.file_names().map(|n| n.unwrap().to_string()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 3);
        for i in 0..archive.len() {
            let f = archive.by_index(i).unwrap();
            assert_eq!(f.last_modified(), Some(zip::DateTime::default()));
            assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o644));
            assert!(f.extra_data().is_none_or(|d| d.is_empty()));
        }
    }

    #[cfg(unix)]
    #[test]
    fn executables_keep_0755() {
        let zip = deterministic_zip(vec![ZipEntry {
            path: "bootstrap".into(),
            data: b"#!/bin/sh".to_vec(),
            executable: true,
        }])
        .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.by_index(0).unwrap().unix_mode().map(|m| m & 0o777), Some(0o755));
    }

    #[test]
    fn inline_code_hash_changes_with_the_source() {
        let code =
            |s: &str| CodeProps { inline: Some(s.into()), filename: Some("index.py".into()), ..CodeProps::default() };
        let h1 = code_sha256(&build_zip("python3.13", &code("a"), Path::new("")).unwrap().unwrap());
        let h2 = code_sha256(&build_zip("python3.13", &code("b"), Path::new("")).unwrap().unwrap());
        assert_ne!(h1, h2);
        assert_eq!(h1, code_sha256(&build_zip("python3.13", &code("a"), Path::new("")).unwrap().unwrap()));
        assert_eq!(build_zip("python3.13", &code("${x.y}"), Path::new("")).unwrap(), None);
    }

    #[test]
    fn retry_decisions() {
        let ipv = Some("InvalidParameterValueException");
        assert!(retry_reason(ipv, Some("The role defined for the function cannot be assumed by Lambda.")).is_some());
        assert!(
            retry_reason(
                ipv,
                Some("The provided execution role does not have permissions to call ReceiveMessage on SQS")
            )
            .is_some()
        );
        assert!(retry_reason(ipv, Some("Unzipped size must be smaller than 262144000 bytes")).is_none());
        assert!(retry_reason(Some("ResourceConflictException"), Some("An update is in progress")).is_some());
        assert!(retry_reason(Some("ResourceConflictException"), Some("Function already exist: f")).is_none());
        let busy = retry_reason(Some("ResourceConflictException"), Some("The operation cannot be performed now"));
        assert_eq!(busy.map(|w| w.bound), Some(Bound::Busy));
        let role = retry_reason(ipv, Some("The role defined for the function cannot be assumed by Lambda."));
        // Lambda can take minutes to see a fresh role: the wait is 5 minutes,
        // not the 2 of other IAM propagation.
        let bound = role.map(|w| crate::retry::Waits::default().bound(w.bound));
        assert_eq!(bound, Some(std::time::Duration::from_secs(300)));
        assert!(retry_reason(Some("ResourceInUseException"), None).is_some());
        assert!(retry_reason(Some("AccessDeniedException"), Some("cannot be assumed")).is_none());
        assert!(retry_reason(None, Some("cannot be assumed")).is_none());
    }

    #[test]
    fn one_byte_changed_means_code_update_only() {
        let p =
            check(json!({"runtime": "python3.13", "handler": "index.handler", "role": ROLE, "code": {"inline": "a"}}))
                .unwrap();
        let q =
            check(json!({"runtime": "python3.13", "handler": "index.handler", "role": ROLE, "code": {"inline": "b"}}))
                .unwrap();
        assert_eq!(changes(&p, &p), Changes::default());
        assert_eq!(changes(&p, &q), Changes { code: true, ..Changes::default() });
        let r = FunctionProps { memory: Some(256), ..p.clone() };
        assert_eq!(changes(&p, &r), Changes { configuration: true, ..Changes::default() });
    }
}
