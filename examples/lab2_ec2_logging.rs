//! Lab 2 in Rust: an EC2 instance ships its own log files to CloudWatch Logs.
//!
//! The same resources as `stacks/lab2-ec2-logging.yaml`: the instance runs the
//! CloudWatch agent, installed by its user data, with a configuration kept in
//! an SSM parameter; its role lets the agent write logs.
//!
//! ```text
//! cargo run --example lab2_ec2_logging -- apply --yes
//! aws logs tail /cairn/lab2-ec2-logging/messages --follow
//! cargo run --example lab2_ec2_logging -- destroy --yes
//! ```

use cairn::{Stack, ec2, iam, logs, pseudo, ssm};

/// The lab 2 stack.
pub fn lab2() -> Stack {
    let mut stack = Stack::new("lab2-ec2-logging");
    let instance_type = stack.param_or("instance_type", "the instance size", "t3.micro");
    let image = stack.param_or("image", "an AMI id, or ssm:<public parameter> naming one", ec2::AMAZON_LINUX_2023);
    stack.tag("lab", "2");

    let role = stack.add(
        "role",
        iam::Role::trusted_by(&["ec2.amazonaws.com"])
            .description("Lets the lab 2 instance's CloudWatch agent write logs")
            .managed_policy("arn:${aws.partition}:iam::aws:policy/CloudWatchAgentServerPolicy"),
    );
    let profile = stack.add("profile", iam::InstanceProfile::for_role(role.name()));
    let stack_name = pseudo::stack_name();
    let messages =
        stack.add("messages", logs::LogGroup::named(format!("/cairn/{stack_name}/messages")).retention_days(14));
    let secure = stack.add("secure", logs::LogGroup::named(format!("/cairn/{stack_name}/secure")).retention_days(14));

    // The agent's configuration: each log file goes to its own group, one
    // stream per instance (`{instance_id}` is the agent's placeholder).
    let agent_config = format!(
        r#"{{
  "logs": {{
    "logs_collected": {{
      "files": {{
        "collect_list": [
          {{"file_path": "/var/log/messages", "log_group_name": "{messages}", "log_stream_name": "{{instance_id}}"}},
          {{"file_path": "/var/log/secure", "log_group_name": "{secure}", "log_stream_name": "{{instance_id}}"}}
        ]
      }}
    }}
  }}
}}
"#,
        messages = messages.name(),
        secure = secure.name(),
    );
    let config = stack.add(
        "agent-config",
        ssm::Parameter::new(agent_config)
            .name(format!("AmazonCloudWatch-{stack_name}"))
            .description("CloudWatch agent configuration of the lab 2 instance"),
    );
    let host = stack.add("host", ec2::SecurityGroup::new().description("Lab 2 instance, no inbound traffic"));

    let user_data = format!(
        "#!/bin/bash
dnf install -y amazon-cloudwatch-agent rsyslog
systemctl enable --now rsyslog
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c ssm:{}
",
        config.name()
    );
    let instance = stack.add(
        "instance",
        ec2::Instance::new(image)
            .name(stack_name)
            .instance_type(instance_type)
            .instance_profile(profile.name())
            .security_group(host.group_id())
            .user_data(user_data),
    );

    stack.output("instance_id", instance.instance_id());
    stack.output("messages_log_group", messages.name());
    stack.output("secure_log_group", secure.name());
    stack
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    cairn::cli::run(lab2())
}
