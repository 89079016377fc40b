//! Lab 6 in Rust: messages sent to an SQS queue trigger a Lambda function.
//!
//! The same resources as `stacks/lab6-sqs-lambda.yaml`. Messages that fail
//! five times move to a dead-letter queue. The role may read and delete
//! messages of this queue only; the queue's visibility timeout is at least the
//! function's timeout, or AWS refuses the mapping.
//!
//! ```text
//! cargo run --example lab6_sqs_lambda -- apply --yes
//! aws sqs send-message --queue-url "$(cargo run -q --example lab6_sqs_lambda -- output queue_url)" --message-body hi
//! cargo run --example lab6_sqs_lambda -- destroy --yes
//! ```

use cairn::{Stack, iam, lambda, logs, pseudo, sqs};

/// The worker's source, deployed as `index.py`.
const SOURCE: &str = r#"def handler(event, context):
    for record in event["Records"]:
        print(f"message {record['messageId']}: {record['body']}")
    return {"batchItemFailures": []}
"#;

/// The lab 6 stack.
pub fn lab6() -> Stack {
    let mut stack = Stack::new("lab6-sqs-lambda");
    stack.tag("lab", "6");

    // Fourteen days, the longest SQS keeps a message.
    let dead_letters = stack.add("dead-letters", sqs::Queue::new().retention(1_209_600));
    let jobs =
        stack.add("jobs", sqs::Queue::new().visibility_timeout(60).receive_wait(10).dead_letter(dead_letters.arn(), 5));
    let role = stack.add(
        "role",
        iam::Role::trusted_by(&["lambda.amazonaws.com"])
            .description("Execution role of the lab 6 worker")
            .managed_policy("arn:${aws.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
    );
    let function_name = format!("{}-worker", pseudo::stack_name());
    let logs = stack.add("logs", logs::LogGroup::named(format!("/aws/lambda/{function_name}")).retention_days(7));
    let worker = stack.add(
        "worker",
        lambda::Function::inline("python3.13", "index.handler", role.arn(), SOURCE)
            .name(function_name)
            .description("Prints each message of the jobs queue")
            .timeout(30)
            .depends_on(&logs),
    );
    stack.add(
        "trigger",
        lambda::EventSourceMapping::new(worker.arn(), jobs.arn())
            .batch_size(10)
            .batching_window(5)
            .enabled(true)
            .report_batch_item_failures(true),
    );

    stack.output("queue_url", jobs.url());
    stack.output("dead_letter_queue_url", dead_letters.url());
    stack.output("function_name", worker.name());
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab6())
}
