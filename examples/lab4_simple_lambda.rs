//! Lab 4 in Rust: a simple Lambda function with inline Python source.
//!
//! The same resources as `stacks/lab4-simple-lambda.yaml`. The function's log
//! group is part of the stack, created before the function so that AWS never
//! makes an unowned one, and destroyed with it.
//!
//! ```text
//! cargo run --example lab4_simple_lambda -- apply --yes
//! aws lambda invoke --function-name lab4-simple-lambda-hello out.json
//! cargo run --example lab4_simple_lambda -- destroy --yes
//! ```

use cairn::{Stack, iam, lambda, pseudo};

/// The function's source, deployed as `index.py`.
const SOURCE: &str = r#"import json
import os


def handler(event, context):
    name = (event or {}).get("name", "world")
    message = f"{os.environ['GREETING']}, {name}!"
    print(message)
    return {"statusCode": 200, "body": json.dumps({"message": message})}
"#;

/// The lab 4 stack.
pub fn lab4() -> Stack {
    let mut stack = Stack::new("lab4-simple-lambda");
    let greeting = stack.param_or("greeting", "the word the function greets with", "Hello");
    stack.tag("lab", "4");

    let role = stack.add(
        "role",
        iam::Role::trusted_by(&["lambda.amazonaws.com"])
            .description("Execution role of the lab 4 function")
            .managed_policy("arn:${aws.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
    );
    let function_name = format!("{}-hello", pseudo::stack_name());
    let hello = stack.add(
        "hello",
        lambda::Function::inline("python3.13", "index.handler", role.arn(), SOURCE)
            .name(function_name)
            .description("Greets whoever calls it")
            .memory(128)
            .timeout(10)
            .log_retention_days(7)
            .env("GREETING", greeting),
    );

    stack.output("function_name", hello.name());
    stack.output("function_arn", hello.arn());
    // The log group cairn derives for the function.
    stack.output("log_group", "${hello-logs.name}");
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab4())
}
