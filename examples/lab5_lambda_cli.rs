//! Lab 5 in Rust: lab 4 from the command line, with the code in a local
//! directory.
//!
//! The same resources as `stacks/lab5-lambda-cli.yaml`. cairn zips
//! `stacks/lab5-function/` deterministically and compares the zip's SHA-256
//! with Lambda's: an unchanged directory plans as no change, and one changed
//! byte is exactly one code update. The code directory is found beside the
//! YAML stack whatever the working directory is.
//!
//! ```text
//! cargo run --example lab5_lambda_cli -- apply --yes
//! aws lambda invoke --function-name lab5-lambda-cli-handler out.json
//! cargo run --example lab5_lambda_cli -- destroy --yes
//! ```

use cairn::{Stack, iam, lambda, logs, pseudo};

/// The lab 5 stack.
pub fn lab5() -> Stack {
    let mut stack = Stack::new("lab5-lambda-cli");
    // Relative paths start in stacks/, as they do for the YAML stack.
    stack.base_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../stacks"));
    stack.tag("lab", "5");

    let role = stack.add(
        "role",
        iam::Role::trusted_by(&["lambda.amazonaws.com"])
            .description("Execution role of the lab 5 function")
            .managed_policy("arn:${aws.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
    );
    let function_name = format!("{}-handler", pseudo::stack_name());
    let logs = stack.add("logs", logs::LogGroup::named(format!("/aws/lambda/{function_name}")).retention_days(7));
    let handler = stack.add(
        "handler",
        lambda::Function::dir("python3.13", "app.handler", role.arn(), "lab5-function")
            .name(function_name)
            .description("Lab 5's function, deployed from a directory")
            .timeout(10)
            .depends_on(&logs),
    );

    stack.output("function_name", handler.name());
    stack.output("function_arn", handler.arn());
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab5())
}
