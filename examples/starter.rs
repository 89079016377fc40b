//! The starter stack in Rust (the same as `stacks/starter.yaml`, and what
//! `cairn init --rust NAME` writes as `src/main.rs`): messages published to
//! a topic land in a queue; cairn adds the queue policy that lets SNS
//! deliver.
//!
//! ```text
//! cargo run --example starter -- plan
//! cargo run --example starter -- apply --yes
//! cargo run --example starter -- destroy --yes
//! ```

use cairn::{Stack, sns, sqs};

/// The starter stack.
pub fn starter() -> Stack {
    let mut stack = Stack::new("starter");
    stack.ttl("1d");
    stack.tag("purpose", "starter");

    let events = stack.add("events", sns::Topic::new());
    let inbox = stack.add("inbox", sqs::Queue::new().visibility_timeout(30));
    stack.add("inbox-subscription", sns::Subscription::sqs(events.arn(), inbox.arn()).raw_message_delivery(true));

    stack.output("topic_arn", events.arn());
    stack.output("queue_url", inbox.url());
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(starter())
}
