//! Builders for Lambda functions, their event source mappings and permissions.

use cairn_aws::kinds::lambda_event_source_mapping::EventSourceMappingProps;
use cairn_aws::kinds::lambda_function::{CodeProps, FunctionProps};
use cairn_aws::kinds::lambda_permission::PermissionProps;

use crate::stack::{Arn, Handle, Id, NameOrArn, Ref, Value, attributes, builder};
use crate::{iam, sqs};

builder!(
    /// A Lambda function (`aws:lambda:Function`), made with the constructor
    /// of its code's form ([`Function::inline`], [`Function::dir`],
    /// [`Function::zip_file`]). Its handle gives `arn()`
    /// ([`Arn<Function>`](Arn)), `name()`, `role()` (the role's ARN) and
    /// `version()`.
    Function = "aws:lambda:Function", FunctionProps
);

attributes!(Function: arn => Arn, name => Name);

impl Handle<Function> {
    /// A reference to its `role` attribute: the ARN of its execution role.
    pub fn role(&self) -> Arn<iam::Role> {
        Arn::reference(self.attr("role"))
    }
    /// A reference to its `version` attribute.
    pub fn version(&self) -> Ref {
        self.text_attr("version")
    }
}

impl Function {
    fn with_code(runtime: &str, handler: &str, role: Arn<iam::Role>, code: CodeProps) -> Self {
        Self::from_props(FunctionProps {
            runtime: runtime.to_string(),
            handler: handler.to_string(),
            role: role.into(),
            code,
            ..FunctionProps::default()
        })
    }
    /// A function whose single source file is given inline; its file name
    /// follows the runtime and handler (`index.py`, `index.mjs`, …) unless
    /// [`Function::filename`] says otherwise. `role` is its execution role
    /// (like `role.arn()`).
    pub fn inline(runtime: &str, handler: &str, role: Arn<iam::Role>, code: impl Into<String>) -> Self {
        Self::with_code(runtime, handler, role, CodeProps { inline: Some(code.into()), ..CodeProps::default() })
    }
    /// A function zipped (deterministically) from a local directory.
    pub fn dir(runtime: &str, handler: &str, role: Arn<iam::Role>, dir: impl Into<String>) -> Self {
        Self::with_code(runtime, handler, role, CodeProps { dir: Some(dir.into()), ..CodeProps::default() })
    }
    /// A function from a local zip file.
    pub fn zip_file(runtime: &str, handler: &str, role: Arn<iam::Role>, file: impl Into<String>) -> Self {
        Self::with_code(runtime, handler, role, CodeProps { file: Some(file.into()), ..CodeProps::default() })
    }
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    /// The file name of inline code.
    pub fn filename(self, filename: impl Into<String>) -> Self {
        self.with(|p| p.code.filename = Some(filename.into()))
    }
    /// Memory in MB (128-10240).
    pub fn memory(self, mb: impl Into<Value<u32>>) -> Self {
        self.set_value("/memory", mb, |p, v| p.memory = Some(v))
    }
    /// Timeout in seconds (1-900).
    pub fn timeout(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/timeout", seconds, |p, v| p.timeout = Some(v))
    }
    pub fn env(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(|p| {
            p.environment.insert(key.into(), value.into());
        })
    }
    /// `x86_64` or `arm64`.
    pub fn architecture(self, architecture: impl Into<String>) -> Self {
        self.with(|p| p.architecture = Some(architecture.into()))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    pub fn reserved_concurrency(self, n: impl Into<Value<u32>>) -> Self {
        self.set_value("/reserved_concurrency", n, |p, v| p.reserved_concurrency = Some(v))
    }
    /// Days to keep the function's logs, in the log group cairn derives
    /// for it (`/aws/lambda/<name>`).
    pub fn log_retention_days(self, days: impl Into<Value<i32>>) -> Self {
        self.set_value("/log_retention_days", days, |p, v| p.log_retention_days = Some(v))
    }
}

builder!(
    /// A Lambda function polling an SQS queue
    /// (`aws:lambda:EventSourceMapping`). Its handle gives `arn()` and
    /// `mapping_id()`.
    EventSourceMapping = "aws:lambda:EventSourceMapping", EventSourceMappingProps
);

attributes!(EventSourceMapping: arn => Arn);

impl Handle<EventSourceMapping> {
    /// A reference to its `id` attribute (the mapping's UUID); `id()` is the
    /// resource id in the stack.
    pub fn mapping_id(&self) -> Id<EventSourceMapping> {
        Id::reference(self.attr("id"))
    }
}

impl EventSourceMapping {
    /// `function` (its name or ARN) polls the queue `source` (its ARN, like
    /// `jobs.arn()`).
    pub fn new(function: impl NameOrArn<Function>, source: Arn<sqs::Queue>) -> Self {
        Self::from_props(EventSourceMappingProps {
            function: function.into_text(),
            source: source.into(),
            ..EventSourceMappingProps::default()
        })
    }
    pub fn batch_size(self, n: impl Into<Value<u32>>) -> Self {
        self.set_value("/batch_size", n, |p, v| p.batch_size = Some(v))
    }
    /// Seconds to gather records before invoking (0-300).
    pub fn batching_window(self, seconds: impl Into<Value<u32>>) -> Self {
        self.set_value("/batching_window", seconds, |p, v| p.batching_window = Some(v))
    }
    pub fn enabled(self, enabled: impl Into<Value<bool>>) -> Self {
        self.set_value("/enabled", enabled, |p, v| p.enabled = Some(v))
    }
    pub fn scaling_max_concurrency(self, n: impl Into<Value<u32>>) -> Self {
        self.set_value("/scaling_max_concurrency", n, |p, v| p.scaling_max_concurrency = Some(v))
    }
    pub fn report_batch_item_failures(self, report: impl Into<Value<bool>>) -> Self {
        self.set_value("/report_batch_item_failures", report, |p, v| p.report_batch_item_failures = v)
    }
}

builder!(
    /// Lets a principal invoke a Lambda function (`aws:lambda:Permission`).
    Permission = "aws:lambda:Permission", PermissionProps
);

impl Permission {
    /// `principal` (a service such as `events.amazonaws.com`, an account, or
    /// `*`) may invoke `function` (its name or ARN).
    pub fn new(function: impl NameOrArn<Function>, principal: impl Into<String>) -> Self {
        Self::from_props(PermissionProps {
            function: function.into_text(),
            principal: principal.into(),
            ..PermissionProps::default()
        })
    }
    /// Another action than `lambda:InvokeFunction`.
    pub fn action(self, action: impl Into<String>) -> Self {
        self.with(|p| p.action = Some(action.into()))
    }
    /// The resource allowed to invoke it (a rule, a topic, a bucket), by ARN.
    pub fn source_arn<K>(self, arn: Arn<K>) -> Self {
        self.with(|p| p.source_arn = Some(arn.into()))
    }
    pub fn source_account(self, account: impl Into<String>) -> Self {
        self.with(|p| p.source_account = Some(account.into()))
    }
    pub fn statement_id(self, sid: impl Into<String>) -> Self {
        self.with(|p| p.statement_id = Some(sid.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Stack, iam, sqs};
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
        stack.add("map", EventSourceMapping::new(f.name(), Arn::literal("arn:aws:sqs:us-east-1:1:q")).batch_size(5));
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
        assert_eq!(spec.resources[3].props["function"], json!("${hello.name}"));
        assert_eq!(f.role().text(), "${hello.role}");
    }

    #[test]
    fn a_literal_holding_the_wrong_attribute_fails_validate_with_the_one_that_fits() {
        let mut stack = Stack::new("wiring");
        let jobs = stack.add("jobs", sqs::Queue::new());
        let role = stack.add("role", iam::Role::trusted_by(&["lambda.amazonaws.com"]));
        let worker = stack.add("worker", Function::inline("python3.13", "index.handler", role.arn(), "x = 1"));
        stack.add("trigger", EventSourceMapping::new(worker.name(), Arn::literal(jobs.url().text())));
        let registry = cairn_aws::registry();
        let (valid, diags) = cairn_engine::validate::validate(stack.spec(), &registry, &Default::default());
        assert!(valid.is_none());
        let errors: Vec<_> = diags.0.iter().filter(|d| d.severity == cairn_engine::diag::Severity::Error).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].suggestion.as_deref(), Some("did you mean `${jobs.arn}`?"));
        assert_eq!(errors[0].expected.as_deref(), Some("the ARN of an aws:sqs:Queue"));

        let mut fixed = Stack::new("wiring");
        let jobs = fixed.add("jobs", sqs::Queue::new().visibility_timeout(60));
        let role = fixed.add("role", iam::Role::trusted_by(&["lambda.amazonaws.com"]));
        let worker = fixed.add("worker", Function::inline("python3.13", "index.handler", role.arn(), "x = 1"));
        fixed.add("trigger", EventSourceMapping::new(worker.name(), jobs.arn()));
        let (valid, diags) = cairn_engine::validate::validate(fixed.spec(), &registry, &Default::default());
        assert!(valid.is_some(), "{diags:?}");
    }
}
