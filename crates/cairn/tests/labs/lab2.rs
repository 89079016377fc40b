//! Lab 2: an EC2 instance with the CloudWatch agent's role, log groups for
//! its files and the agent's configuration in an SSM parameter.

use base64::Engine as _;

use crate::harness::{self, Deployed, R};
use crate::lab2_example;

const FILE: &str = "lab2-ec2-logging.yaml";
const AMI_PARAMETER: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

#[test]
fn yaml_and_rust_forms_are_the_same_stack() {
    harness::assert_same_stack(&harness::yaml(FILE), &lab2_example::lab2().into(), &harness::params(&[]));
}

#[tokio::test]
async fn yaml_form_round_trips() -> R {
    harness::round_trip(harness::yaml(FILE), &harness::params(&[]), check).await
}

#[tokio::test]
async fn rust_form_round_trips() -> R {
    harness::round_trip(lab2_example::lab2().into(), &harness::params(&[]), check).await
}

async fn check(d: &Deployed) -> R {
    let iam = d.clients.iam().await;
    let attached = iam.list_attached_role_policies().role_name(d.id("role")).send().await?;
    let arns: Vec<_> = attached.attached_policies().iter().filter_map(|p| p.policy_arn()).collect();
    assert_eq!(arns, vec!["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]);
    let profile = iam.get_instance_profile().instance_profile_name(d.id("profile")).send().await?;
    let roles: Vec<_> =
        profile.instance_profile().map(|p| p.roles().iter().map(|r| r.role_name()).collect()).unwrap_or_default();
    assert_eq!(roles, vec![d.id("role")]);

    let logs = d.clients.logs().await;
    let groups = logs.describe_log_groups().log_group_name_prefix(format!("/cairn/{}/", d.stack)).send().await?;
    let mut found: Vec<_> =
        groups.log_groups().iter().map(|g| (g.log_group_name().unwrap_or_default(), g.retention_in_days())).collect();
    found.sort();
    let (messages, secure) = (format!("/cairn/{}/messages", d.stack), format!("/cairn/{}/secure", d.stack));
    assert_eq!(found, vec![(messages.as_str(), Some(14)), (secure.as_str(), Some(14))]);

    // The agent's configuration names both groups.
    let ssm = d.clients.ssm().await;
    let config = ssm.get_parameter().name(d.id("agent-config")).send().await?;
    let config = harness::json(config.parameter().and_then(|p| p.value()));
    let files = &config["logs"]["logs_collected"]["files"]["collect_list"];
    assert_eq!(files[0]["log_group_name"], messages.as_str());
    assert_eq!(files[1]["log_group_name"], secure.as_str());

    // The instance: the public parameter's AMI, the profile, the group, the user data.
    let ami = ssm.get_parameter().name(AMI_PARAMETER).send().await?;
    let ami = ami.parameter().and_then(|p| p.value()).ok_or("no AMI parameter")?.to_string();
    let ec2 = d.clients.ec2().await;
    let out = ec2.describe_instances().instance_ids(d.id("instance")).send().await?;
    let instance = out.reservations().first().and_then(|r| r.instances().first()).ok_or("no instance")?;
    assert_eq!(instance.image_id(), Some(ami.as_str()));
    assert_eq!(instance.instance_type().map(|t| t.as_str()), Some("t3.micro"));
    let profile_arn = instance.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
    assert!(profile_arn.ends_with(&format!("/{}", d.id("profile"))), "{profile_arn}");
    let groups: Vec<_> = instance.security_groups().iter().filter_map(|g| g.group_id()).collect();
    assert_eq!(groups, vec![d.id("host")]);
    let tags = instance.tags().iter().map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()));
    assert!(harness::has_stack_tag(tags, &d.stack));
    let user_data = ec2.describe_instance_attribute().instance_id(d.id("instance")).attribute("userData".into());
    let user_data = user_data.send().await?;
    let user_data = user_data.user_data().and_then(|u| u.value()).ok_or("no user data")?;
    let user_data = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(user_data)?)?;
    assert!(user_data.contains(&format!("ssm:AmazonCloudWatch-{}", d.stack)), "{user_data}");

    let sg = ec2.describe_security_groups().group_ids(d.id("host")).send().await?;
    let sg = sg.security_groups().first().ok_or("no security group")?;
    assert_eq!(sg.description(), Some("Lab 2 instance, no inbound traffic"));
    assert!(sg.ip_permissions().is_empty(), "no inbound rule");
    Ok(())
}

/// The short form of lab 2's instance: a `role:` instead of a hand-written
/// profile; cairn derives the profile, and the instance runs with it.
#[tokio::test]
async fn an_instance_role_becomes_a_derived_profile() -> R {
    let mut spec = lab2_example::lab2();
    let agent = spec.add("agent", cairn::iam::Role::trusted_by(&["ec2.amazonaws.com"]));
    spec.add(
        "short",
        cairn::ec2::Instance::new("ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
            .role(agent.arn()),
    );
    harness::round_trip(spec.into(), &harness::params(&[]), async |d: &Deployed| {
        let profile = d.id("short-profile");
        assert!(d.state.resources["short-profile"].derived);
        let iam = d.clients.iam().await;
        let out = iam.get_instance_profile().instance_profile_name(profile).send().await?;
        let roles: Vec<_> =
            out.instance_profile().map(|p| p.roles().iter().map(|r| r.role_name()).collect()).unwrap_or_default();
        assert_eq!(roles, vec![d.id("agent")]);
        let ec2 = d.clients.ec2().await;
        let out = ec2.describe_instances().instance_ids(d.id("short")).send().await?;
        let instance = out.reservations().first().and_then(|r| r.instances().first()).ok_or("no instance")?;
        let arn = instance.iam_instance_profile().and_then(|p| p.arn()).unwrap_or_default();
        assert!(arn.ends_with(&format!("/{profile}")), "{arn}");
        Ok(())
    })
    .await
}
