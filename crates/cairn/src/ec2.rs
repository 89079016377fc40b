//! Builders for EC2 security groups and instances.

use cairn_aws::kinds::ec2_instance::InstanceProps;
pub use cairn_aws::kinds::ec2_security_group::Rule;
use cairn_aws::kinds::ec2_security_group::SecurityGroupProps;

use crate::stack::{Builder, Handle, Kind, Ref, attributes};

/// The public SSM parameter naming the latest Amazon Linux 2023 AMI (x86_64),
/// for [`Instance::new`].
pub const AMAZON_LINUX_2023: &str = "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

/// `aws:ec2:SecurityGroup`.
pub struct SecurityGroup;

impl Kind for SecurityGroup {
    const TYPE: &'static str = "aws:ec2:SecurityGroup";
    type Props = SecurityGroupProps;
}

attributes!(SecurityGroup: arn);

impl Handle<SecurityGroup> {
    /// A reference to its `id` attribute, the group id (`sg-…`);
    /// [`Handle::id`] is the resource id in the stack.
    pub fn group_id(&self) -> Ref {
        self.attr("id")
    }
}

impl SecurityGroup {
    /// A group named `<stack>-<id>` in the default VPC, with no inbound
    /// rules and AWS's allow-all outbound rule.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Builder<SecurityGroup> {
        Builder::default()
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

impl Builder<SecurityGroup> {
    #[must_use]
    pub fn name(self, name: impl Into<String>) -> Self {
        self.with(|p| p.name = Some(name.into()))
    }
    #[must_use]
    pub fn description(self, description: impl Into<String>) -> Self {
        self.with(|p| p.description = Some(description.into()))
    }
    /// The VPC id; the default VPC when not set.
    #[must_use]
    pub fn vpc(self, vpc: impl Into<String>) -> Self {
        self.with(|p| p.vpc = Some(vpc.into()))
    }
    /// Adds an inbound rule.
    #[must_use]
    pub fn ingress(self, rule: Rule) -> Self {
        self.with(|p| p.ingress.push(rule))
    }
    /// Adds an outbound rule; the first one replaces AWS's allow-all rule.
    #[must_use]
    pub fn egress(self, rule: Rule) -> Self {
        self.with(|p| p.egress.get_or_insert_with(Vec::new).push(rule))
    }
    /// No outbound traffic at all.
    #[must_use]
    pub fn no_egress(self) -> Self {
        self.with(|p| p.egress = Some(Vec::new()))
    }
}

/// `aws:ec2:Instance`.
pub struct Instance;

impl Kind for Instance {
    const TYPE: &'static str = "aws:ec2:Instance";
    type Props = InstanceProps;
}

attributes!(Instance: arn, private_ip, public_ip);

impl Handle<Instance> {
    /// A reference to its `id` attribute, the instance id (`i-…`);
    /// [`Handle::id`] is the resource id in the stack.
    pub fn instance_id(&self) -> Ref {
        self.attr("id")
    }
}

impl Instance {
    /// A `t3.micro` instance of `image`: an AMI id, or `ssm:<parameter>`
    /// such as [`AMAZON_LINUX_2023`].
    #[allow(clippy::new_ret_no_self)]
    pub fn new(image: impl Into<String>) -> Builder<Instance> {
        Builder::from_props(InstanceProps { image: image.into(), ..InstanceProps::default() })
    }
}

impl Builder<Instance> {
    #[must_use]
    pub fn instance_type(self, instance_type: impl Into<String>) -> Self {
        self.with(|p| p.instance_type = Some(instance_type.into()))
    }
    /// The IAM instance profile, by name or ARN.
    #[must_use]
    pub fn instance_profile(self, profile: impl Into<String>) -> Self {
        self.with(|p| p.instance_profile = Some(profile.into()))
    }
    /// An IAM role (such as `role.arn()`): cairn derives the instance
    /// profile that carries it. Use this or `instance_profile`.
    #[must_use]
    pub fn role(self, role: impl Into<String>) -> Self {
        self.with(|p| p.role = Some(role.into()))
    }
    /// Adds a security group by id (such as `web.group_id()`).
    #[must_use]
    pub fn security_group(self, group: impl Into<String>) -> Self {
        self.with(|p| p.security_groups.push(group.into()))
    }
    #[must_use]
    pub fn subnet(self, subnet: impl Into<String>) -> Self {
        self.with(|p| p.subnet = Some(subnet.into()))
    }
    /// User data as text (a shell script or cloud-init document).
    #[must_use]
    pub fn user_data(self, user_data: impl Into<String>) -> Self {
        self.with(|p| p.user_data = Some(user_data.into()))
    }
    #[must_use]
    pub fn key_name(self, key_name: impl Into<String>) -> Self {
        self.with(|p| p.key_name = Some(key_name.into()))
    }
    /// The `Name` tag; `<stack>-<id>` when not set.
    #[must_use]
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
