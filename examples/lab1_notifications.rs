//! Lab 1 in Rust: e-mail an operator when an EC2 instance changes state.
//!
//! The same resources as `stacks/lab1-notifications.yaml`:
//!
//! ```text
//! cargo run --example lab1_notifications -- apply --yes -p email=ops@example.com
//! cargo run --example lab1_notifications -- destroy --yes
//! ```

use cairn::{Stack, events, sns};
use serde_json::json;

/// The lab 1 stack.
pub fn lab1() -> Stack {
    let mut stack = Stack::new("lab1-notifications");
    let email = stack.param("email", "where state changes are sent (AWS asks the recipient to confirm)");
    let states = stack.param_or(
        "states",
        "the instance states worth a message",
        json!(["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]),
    );
    stack.tag("lab", "1");

    // cairn derives the topic policy that lets EventBridge publish for this
    // rule; without it AWS would drop the deliveries silently.
    let topic = stack.add("alerts", sns::Topic::new().display_name("EC2 alerts"));
    stack.add("ops-email", sns::Subscription::email(topic.arn(), email));
    let rule = stack.add(
        "ec2-state",
        events::Rule::on_pattern(json!({
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": states}
        }))
        .description("EC2 instance state changes, sent to the alerts topic")
        .target(events::transformed_target(
            topic.arn(),
            [("instance", "$.detail.instance-id"), ("state", "$.detail.state")],
            "\"Instance <instance> is now <state>\"",
        )),
    );
    stack.output("topic_arn", topic.arn());
    stack.output("rule_arn", rule.arn());
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab1())
}
