//! Builders for Lambda functions, their event source mappings and permissions.

use cairn_aws::kinds::lambda_event_source_mapping::EventSourceMappingProps;
use cairn_aws::kinds::lambda_function::{CodeProps, FunctionProps};
use cairn_aws::kinds::lambda_permission::PermissionProps;

use crate::stack::{Builder, Handle, Kind, Ref, attributes};

/// `aws:lambda:Function`.
pub struct Function;

impl Kind for Function {
    const TYPE: &'static str = "aws:lambda:Function";
    type Props = FunctionProps;
}

attributes!(Function: arn, name, version, role);

impl Function {
    fn with_code(runtime: &str, handler: &str, role: impl Into<String>, code: CodeProps) -> Builder<Function> {
        Builder::from_props(FunctionProps {
            runtime: runtime.to_string(),
            handler: handler.to_string(),
            role: role.into(),
            code,
            ..FunctionProps::default()
        })
    }
    /// A function whose single source file is given inline; its file name
    /// follows the runtime and handler (`index.py`, `index.mjs`, …) unless
    /// [`Builder::filename`] says otherwise.
    pub fn inline(runtime: &str, handler: &str, role: impl Into<String>, code: impl Into<String>) -> Builder<Function> {
        Self::with_code(runtime, handler, role, CodeProps { inline: Some(code.into()), ..CodeProps::default() })
    }
    /// A function zipped (deterministically) from a local directory.
    pub fn dir(runtime: &str, handler: &str, role: impl Into<String>, dir: impl Into<String>) -> Builder<Function> {
        Self::with_code(runtime, handler, role, CodeProps { dir: Some(dir.into()), ..CodeProps::default() })
    }
    /// A function from a local zip file.
    pub fn zip_file(
        runtime: &str,
        handler: &str,
        role: impl Into<String>,
        file: impl Into<String>,
    ) -> Builder<Function> {
        Self::with_code(runtime, handler, role, CodeProps { file: Some(file.into()), ..CodeProps::default() })
    }
}

impl Builder<Function> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// The file name of inline code.
    #[must_use]
    pub fn filename(self, filename: impl Into<String>) -> Self {
        self.with(|p| p.code.filename = Some(filename.into()))
    }
    /// Memory in MB (128-10240).
    #[must_use]
    pub fn memory(self, mb: u32) -> Self {
        self.with(|p| p.memory = Some(mb))
    }
    /// Timeout in seconds (1-900).
    #[must_use]
    pub fn timeout(self, seconds: u32) -> Self {
        self.with(|p| p.timeout = Some(seconds))
    }
    #[must_use]
    pub fn env(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|p| {
            p.environment.insert(key.into(), value.into());
        })
    }
    /// `x86_64` or `arm64`.
    #[must_use]
    pub fn architecture(self, architecture: impl Into<String>) -> Self {
        self.with(|p| p.architecture = Some(architecture.into()))
    }
    #[must_use]
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    #[must_use]
    pub fn reserved_concurrency(self, n: u32) -> Self {
        self.with(|p| p.reserved_concurrency = Some(n))
    }
    /// Days to keep the function's logs, in the log group cairn derives
    /// for it (`/aws/lambda/<name>`).
    #[must_use]
    pub fn log_retention_days(self, days: i32) -> Self {
        self.with(|p| p.log_retention_days = Some(days))
    }
}

/// `aws:lambda:EventSourceMapping`.
pub struct EventSourceMapping;

impl Kind for EventSourceMapping {
    const TYPE: &'static str = "aws:lambda:EventSourceMapping";
    type Props = EventSourceMappingProps;
}

attributes!(EventSourceMapping: arn);

impl Handle<EventSourceMapping> {
    /// A reference to its `id` attribute (the mapping's UUID); `id()` is the
    /// resource id in the stack.
    pub fn mapping_id(&self) -> Ref {
        self.attr("id")
    }
}

impl EventSourceMapping {
    /// `function` (name or ARN) polls the queue `source` (its ARN).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(function: impl Into<String>, source: impl Into<String>) -> Builder<EventSourceMapping> {
        Builder::from_props(EventSourceMappingProps {
            function: function.into(),
            source: source.into(),
            ..EventSourceMappingProps::default()
        })
    }
}

impl Builder<EventSourceMapping> {
    #[must_use]
    pub fn batch_size(self, n: u32) -> Self {
        self.with(|p| p.batch_size = Some(n))
    }
    /// Seconds to gather records before invoking (0-300).
    #[must_use]
    pub fn batching_window(self, seconds: u32) -> Self {
        self.with(|p| p.batching_window = Some(seconds))
    }
    #[must_use]
    pub fn enabled(self, enabled: bool) -> Self {
        self.with(|p| p.enabled = Some(enabled))
    }
    #[must_use]
    pub fn scaling_max_concurrency(self, n: u32) -> Self {
        self.with(|p| p.scaling_max_concurrency = Some(n))
    }
    #[must_use]
    pub fn report_batch_item_failures(self, report: bool) -> Self {
        self.with(|p| p.report_batch_item_failures = report)
    }
}

/// `aws:lambda:Permission`.
pub struct Permission;

impl Kind for Permission {
    const TYPE: &'static str = "aws:lambda:Permission";
    type Props = PermissionProps;
}

impl Permission {
    /// `principal` (a service such as `events.amazonaws.com`, an account, or
    /// `*`) may invoke `function` (name or ARN).
    #[allow(clippy::new_ret_no_self)]
    pub fn new(function: impl Into<String>, principal: impl Into<String>) -> Builder<Permission> {
        Builder::from_props(PermissionProps {
            function: function.into(),
            principal: principal.into(),
            ..PermissionProps::default()
        })
    }
}

impl Builder<Permission> {
    /// Another action than `lambda:InvokeFunction`.
    #[must_use]
    pub fn action(self, action: impl Into<String>) -> Self {
        self.with(|p| p.action = Some(action.into()))
    }
    #[must_use]
    pub fn source_arn(self, arn: impl Into<String>) -> Self {
        self.with(|p| p.source_arn = Some(arn.into()))
    }
    #[must_use]
    pub fn source_account(self, account: impl Into<String>) -> Self {
        self.with(|p| p.source_account = Some(account.into()))
    }
    #[must_use]
    pub fn statement_id(self, sid: impl Into<String>) -> Self {
        self.with(|p| p.statement_id = Some(sid.into()))
    }
}

#[cfg(all(test, feature = "iam"))]
mod tests {
    use super::*;
    use crate::{Stack, iam};
    use serde_json::json;

    #[test]
    fn lab4_in_rust() {
        let mut stack = Stack::new("lab4");
        let role = stack.add(
            "fn-role",
            iam::Role::trusted_by(&["lambda.amazonaws.com"])
                .managed_policy("arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
        );
        let f = stack.add(
            "hello",
            Function::inline("python3.13", "index.handler", role.arn(), "def handler(e, c):\n    return 1\n")
                .memory(256)
                .env("GREETING", "hi"),
        );
        stack.add("allow-sns", Permission::new(f.arn(), "sns.amazonaws.com"));
        stack.add("map", EventSourceMapping::new(f.name(), "arn:aws:sqs:us-east-1:1:q").batch_size(5));
        let spec = stack.spec();
        assert_eq!(
            spec.resources[0].props,
            json!({
                "trusted_by": ["lambda.amazonaws.com"],
                "managed_policies": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
            })
        );
        assert_eq!(spec.resources[1].kind, "aws:lambda:Function");
        assert_eq!(spec.resources[1].props["role"], json!("${fn-role.arn}"));
        assert_eq!(spec.resources[1].props["code"], json!({"inline": "def handler(e, c):\n    return 1\n"}));
        assert_eq!(spec.resources[2].props["function"], json!("${hello.arn}"));
        assert_eq!(role.role_id().text(), "${fn-role.id}");
    }
}
