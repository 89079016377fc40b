//! Builders for EC2 security groups and instances.

use cairn_aws::kinds::ec2_instance::InstanceProps;
pub use cairn_aws::kinds::ec2_security_group::Rule;
use cairn_aws::kinds::ec2_security_group::SecurityGroupProps;

use crate::iam;
use crate::stack::{Handle, Id, NameOrArn, Ref, attributes, builder};

/// The public SSM parameter naming the latest Amazon Linux 2023 AMI (x86_64),
/// for [`Instance::new`].
pub const AMAZON_LINUX_2023: &str = "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

builder!(
    /// An EC2 security group (`aws:ec2:SecurityGroup`). Its handle gives
    /// `arn()` and `group_id()` ([`Id<SecurityGroup>`](Id)).
    SecurityGroup = "aws:ec2:SecurityGroup", SecurityGroupProps
);

attributes!(SecurityGroup: arn => Arn);

impl Handle<SecurityGroup> {
    /// A reference to its `id` attribute, the group id (`sg-…`);
    /// [`Handle::id`] is the resource id in the stack.
    pub fn group_id(&self) -> Id<SecurityGroup> {
        Id::reference(self.attr("id"))
    }
}

impl SecurityGroup {
    /// A group named `<stack>-<id>` in the default VPC, with no inbound
    /// rules and AWS's allow-all outbound rule.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A TCP rule for one port from or to `cidr`.
pub fn tcp(port: i32, cidr: impl Into<String>) -> Rule {
    tcp_range(port, port, cidr)
}

/// A TCP rule for a port range from or to `cidr`.
pub fn tcp_range(from: i32, to: i32, cidr: impl Into<String>) -> Rule {
    Rule { protocol: "tcp".into(), from_port: Some(from), to_port: Some(to), cidr: cidr.into(), description: None }
}

/// A UDP rule for one port from or to `cidr`.
pub fn udp(port: i32, cidr: impl Into<String>) -> Rule {
    Rule { protocol: "udp".into(), ..tcp(port, cidr) }
}

/// All traffic from or to `cidr`.
pub fn all_traffic(cidr: impl Into<String>) -> Rule {
    Rule { cidr: cidr.into(), ..Rule::allow_all() }
}

impl SecurityGroup {
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    /// The VPC id; the default VPC when not set.
    pub fn vpc(self, vpc: impl Into<String>) -> Self {
        self.with(|p| p.vpc = Some(vpc.into()))
    }
    /// Adds an inbound rule.
    pub fn ingress(self, rule: Rule) -> Self {
        self.with(|p| p.ingress.push(rule))
    }
    /// Adds an outbound rule; the first one replaces AWS's allow-all rule.
    pub fn egress(self, rule: Rule) -> Self {
        self.with(|p| p.egress.get_or_insert_with(Vec::new).push(rule))
    }
    /// No outbound traffic at all.
    pub fn no_egress(self) -> Self {
        self.with(|p| p.egress = Some(Vec::new()))
    }
}

builder!(
    /// An EC2 instance (`aws:ec2:Instance`). Its handle gives `arn()`,
    /// `instance_id()` ([`Id<Instance>`](Id)), `private_ip()` and
    /// `public_ip()`.
    Instance = "aws:ec2:Instance", InstanceProps
);

attributes!(Instance: arn => Arn);

impl Handle<Instance> {
    /// A reference to its `id` attribute, the instance id (`i-…`);
    /// [`Handle::id`] is the resource id in the stack.
    pub fn instance_id(&self) -> Id<Instance> {
        Id::reference(self.attr("id"))
    }
    /// A reference to its `private_ip` attribute.
    pub fn private_ip(&self) -> Ref {
        self.text_attr("private_ip")
    }
    /// A reference to its `public_ip` attribute.
    pub fn public_ip(&self) -> Ref {
        self.text_attr("public_ip")
    }
}

impl Instance {
    /// A `t3.micro` instance of `image`: an AMI id, or `ssm:<parameter>`
    /// such as [`AMAZON_LINUX_2023`].
    pub fn new(image: impl Into<String>) -> Self {
        Self::from_props(InstanceProps { image: image.into(), ..InstanceProps::default() })
    }
    pub fn instance_type(self, instance_type: impl Into<String>) -> Self {
        self.with(|p| p.instance_type = Some(instance_type.into()))
    }
    /// The IAM instance profile, by name or ARN (like `profile.name()`).
    pub fn instance_profile(self, profile: impl NameOrArn<iam::InstanceProfile>) -> Self {
        self.with(|p| p.instance_profile = Some(profile.into_text()))
    }
    /// An IAM role, by name or ARN (like `role.arn()`): cairn derives the
    /// instance profile that carries it. Use this or `instance_profile`.
    pub fn role(self, role: impl NameOrArn<iam::Role>) -> Self {
        self.with(|p| p.role = Some(role.into_text()))
    }
    /// Adds a security group by id (like `web.group_id()`).
    pub fn security_group(self, group: Id<SecurityGroup>) -> Self {
        self.with(|p| p.security_groups.push(group.into()))
    }
    pub fn subnet(self, subnet: impl Into<String>) -> Self {
        self.with(|p| p.subnet = Some(subnet.into()))
    }
    /// User data as text (a shell script or cloud-init document).
    pub fn user_data(self, user_data: impl Into<String>) -> Self {
        self.with(|p| p.user_data = Some(user_data.into()))
    }
    pub fn key_name(self, key_name: impl Into<String>) -> Self {
        self.with(|p| p.key_name = Some(key_name.into()))
    }
    /// The `Name` tag; `<stack>-<id>` when not set.
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stack;
    use serde_json::json;

    #[test]
    fn builders_make_the_props_the_kinds_take() {
        let mut stack = Stack::new("lab2");
        let web = stack.add("web", SecurityGroup::new().ingress(tcp(22, "10.0.0.0/8")));
        stack.add(
            "host",
            Instance::new(AMAZON_LINUX_2023)
                .security_group(web.group_id())
                .user_data("echo hi")
                .instance_type("t3.small"),
        );
        let spec = stack.spec();
        assert_eq!(
            spec.resources[0].props,
            json!({"ingress": [{"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}]})
        );
        assert_eq!(spec.resources[1].props["security_groups"], json!(["${web.id}"]));
        assert_eq!(spec.resources[1].props["image"], json!(AMAZON_LINUX_2023));
    }
}
