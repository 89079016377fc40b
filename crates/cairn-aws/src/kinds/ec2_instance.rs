//! `aws:ec2:Instance`: one EC2 instance. Physical id: the instance id.
//!
//! EC2 names are only a `Name` tag and not unique, so an instance left by a
//! run that died before saving state is found by its `cairn:stack` and
//! `cairn:resource` tags and adopted instead of launching a second one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttributeValue, Filter, IamInstanceProfileSpecification, Instance as AwsInstance, InstanceAttributeName,
    InstanceStateName, InstanceType, ResourceType, Tag, TagSpecification,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{
    Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TAG_RESOURCE, TAG_STACK, TypedKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::ec2_security_group::{create_tags, set_tags, tags_of};
use crate::kinds::unresolved;
use crate::retry::{self, Backoff, Bound, Wait, Waits, retrying};
use crate::tags::{add_tags_to, live_tags_of};

// ---- props -----------------------------------------------------------------

/// One EC2 instance.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceProps {
    /// The AMI: an id (`ami-…`) or `ssm:<parameter>`, such as
    /// `ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`,
    /// resolved when the instance is launched. Cannot change in place.
    pub image: String,
    /// Default `t3.micro`. Changing it stops the instance, changes the type
    /// and starts it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    /// IAM instance profile: its name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// An IAM role for the instance (its name, ARN or a reference): cairn
    /// derives the instance profile that carries it. Give this or
    /// `instance_profile`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Security group ids (`sg-…`); none means the VPC's default group.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Subnet id (`subnet-…`); unset means a default subnet of the default
    /// VPC. Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// User data as text (cairn base64-encodes it). Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// The EC2 key pair for SSH. Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// The `Name` tag. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `aws:ec2:Instance` kind.
pub struct Instance {
    clients: Arc<Clients>,
}

impl Instance {
    pub fn new(clients: Arc<Clients>) -> Self {
        Instance { clients }
    }
}

const DEFAULT_INSTANCE_TYPE: &str = "t3.micro";
const SSM_PREFIX: &str = "ssm:";
const NAME_TAG: &str = "Name";
/// AWS's limit on user data before base64 encoding.
const MAX_USER_DATA: usize = 16 * 1024;
const MAX_NAME: usize = 256;
const NOT_FOUND: &[&str] = &["InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"];
/// How long a state change (launch, stop, start, terminate) may take.
const STATE_WAIT: Duration = Duration::from_secs(600);
/// States in which an instance still exists, for adoption.
const ALIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

#[async_trait]
impl TypedKind for Instance {
    const TYPE: &'static str = "aws:ec2:Instance";
    const ATTRIBUTES: &'static [&'static str] = &["id", "arn", "private_ip", "public_ip"];
    const REPLACE_ON: &'static [&'static str] = &["image", "subnet", "user_data", "key_name"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp {
            path: &["instance_profile"],
            when: None,
            accepts: &[AttrType::Name("aws:iam:InstanceProfile"), AttrType::Arn("aws:iam:InstanceProfile")],
        },
        RefProp {
            path: &["role"],
            when: None,
            accepts: &[AttrType::Name("aws:iam:Role"), AttrType::Arn("aws:iam:Role")],
        },
        RefProp { path: &["security_groups", "*"], when: None, accepts: &[AttrType::Id("aws:ec2:SecurityGroup")] },
    ];
    type Props = InstanceProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the instance id (`i-…`)",
        attributes: &[
            ("id", "the instance id (`i-…`)"),
            ("arn", "the instance's ARN"),
            ("private_ip", "the private IPv4 address"),
            ("public_ip", "the public IPv4 address, empty when it has none"),
        ],
        quirks: &[
            "EC2 names are only a `Name` tag: an instance a died run launched is found by its cairn tags and taken over, never launched twice.",
            "An instance profile made seconds ago is unknown to EC2 for a while: the launch retries, bounded.",
            "`image: ssm:/aws/service/...` is resolved at launch, as a public AMI parameter.",
            "Changing `instance_type` stops the instance, changes it and starts it again; launch, stop and terminate wait for the state.",
            "A terminated instance lingers in DescribeInstances for an hour: it reads as gone.",
        ],
    };

    fn defaults(props: &mut InstanceProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        if props.instance_type.is_none() {
            props.instance_type = Some(DEFAULT_INSTANCE_TYPE.to_string());
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &InstanceProps, errors: &mut Vec<PropError>) {
        // The glue turns `role` into a derived instance profile before any
        // check; it is still here only when auto-wiring is off.
        if props.role.is_some() {
            let e =
                PropError::new(&["role"], "`role` needs cairn to derive the instance profile, and auto_wire is off");
            errors.push(if props.instance_profile.is_some() {
                e.expected("`instance_profile` or `role`, not both")
            } else {
                e.expected("`instance_profile`: an aws:iam:InstanceProfile's name, or auto_wire left on")
            });
        }
        let image = props.image.as_str();
        if !unresolved(image) {
            let ok = match image.strip_prefix(SSM_PREFIX) {
                Some(param) => !param.is_empty() && !param.contains(char::is_whitespace),
                None => image.starts_with("ami-") && image.len() > 4,
            };
            if !ok {
                errors.push(
                    PropError::new(&["image"], format!("`{image}` is neither an AMI id nor an SSM parameter"))
                        .expected(
                            "`ami-…`, or `ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`",
                        ),
                );
            }
        }
        if let Some(t) = &props.instance_type
            && !unresolved(t)
            && !valid_instance_type(t)
        {
            errors.push(
                PropError::new(&["instance_type"], format!("`{t}` is not an instance type"))
                    .expected("a type like `t3.micro` or `m7g.large`"),
            );
        }
        for (i, sg) in props.security_groups.iter().enumerate() {
            if !unresolved(sg) && !sg.starts_with("sg-") {
                let mut e = PropError::new(&["security_groups"], format!("`{sg}` is not a security group id"))
                    .expected("a group id like `sg-0abc…` (or `${web.id}`)");
                e.path.push(cairn_engine::diag::PathSeg::Index(i));
                errors.push(e);
            }
            if props.security_groups[..i].contains(sg) {
                errors.push(PropError::new(&["security_groups"], format!("`{sg}` is listed twice")));
            }
        }
        if let Some(s) = &props.subnet
            && !unresolved(s)
            && !s.starts_with("subnet-")
        {
            errors.push(
                PropError::new(&["subnet"], format!("`{s}` is not a subnet id"))
                    .expected("a subnet id like `subnet-0abc…`"),
            );
        }
        if let Some(u) = &props.user_data
            && u.len() > MAX_USER_DATA
        {
            errors.push(
                PropError::new(&["user_data"], format!("user data is {} bytes long", u.len()))
                    .expected(format!("at most {MAX_USER_DATA} bytes (before base64)")),
            );
        }
        if let Some(p) = &props.instance_profile
            && !unresolved(p)
            && (p.is_empty() || (p.starts_with("arn:") && !p.contains(":instance-profile/")))
        {
            errors.push(
                PropError::new(&["instance_profile"], format!("`{p}` is not an instance profile"))
                    .expected("an instance profile name, or an ARN with `:instance-profile/`"),
            );
        }
        if let Some(n) = &props.name
            && n.chars().count() > MAX_NAME
        {
            errors.push(
                PropError::new(&["name"], format!("name is {} characters long", n.chars().count()))
                    .expected(format!("at most {MAX_NAME} characters")),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &InstanceProps) -> Result<Observed<InstanceProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let action = format!("creating EC2 instance {name}");
        let ec2 = self.clients.ec2().await;

        let waits = self.clients.waits();
        // Both reads at once: the look for an instance an earlier run
        // launched, and the image (an SSM parameter, often).
        let (found, image) = tokio::join!(find_owned(ec2, cx), self.resolve_image(&props.image, &action));
        if let Some(found) = found.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            let id = found.instance_id().unwrap_or_default().to_string();
            let tags: std::collections::BTreeMap<String, String> = found
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect();
            cx.ensure_owns(&tags, format!("EC2 instance {id}"))?;
            (cx.notify)(&format!("adopting EC2 instance {id}, launched for this resource by an earlier run"));
            if state_of(&found) == "stopped" || state_of(&found) == "stopping" {
                wait_for(ec2, cx, waits, &id, "stopped", &action).await?;
                ec2.start_instances().instance_ids(&id).send().await.map_err(|e| aws_error(&action, &e))?;
            }
            wait_for(ec2, cx, waits, &id, "running", &action).await?;
            return self.converge(cx, &id, props, &action).await;
        }

        let image = image?;
        // A profile made moments ago is unknown to EC2 for a while.
        let out =
            retrying(cx, waits, &action, profile_not_yet_known, || run_request(ec2, cx, props, &image, &name).send())
                .await
                .map_err(|f| f.op_error(&action))?;
        let Some(id) = out.instances().first().and_then(|i| i.instance_id()).map(ToString::to_string) else {
            return Err(OpError::failed(format!("{action}: AWS returned no instance")));
        };
        let live = wait_for(ec2, cx, waits, &id, "running", &action).await?;
        Ok(observed(&cx.env, &live, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        cx: &OpCtx,
        id: &str,
        last: &InstanceProps,
    ) -> Result<Option<Observed<InstanceProps>>, OpError> {
        let action = format!("reading EC2 instance {id}");
        let ec2 = self.clients.ec2().await;
        // The instance and its user data at once: one round trip.
        let (live, user_data) = tokio::join!(
            find_by_id(ec2, id),
            ec2.describe_instance_attribute().instance_id(id).attribute(InstanceAttributeName::UserData).send(),
        );
        let Some(live) = live.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Ok(None);
        };
        // A terminated instance lingers in DescribeInstances for an hour.
        if matches!(state_of(&live), "terminated" | "shutting-down") {
            return Ok(None);
        }
        let user_data = match user_data {
            Ok(out) => out.user_data().and_then(|v| v.value()).map(decode_user_data),
            Err(e) if code_in(&e, NOT_FOUND) => return Ok(None),
            Err(e) => return Err(aws_error(&format!("{action}: reading user data"), &e)),
        };
        Ok(Some(observed(&cx.env, &live, props_from_instance(&live, user_data, last))))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        id: &str,
        _old: &InstanceProps,
        new: &InstanceProps,
    ) -> Result<Observed<InstanceProps>, OpError> {
        let action = format!("updating EC2 instance {}", new.name.as_deref().unwrap_or(id));
        self.converge(cx, id, new, &action).await
    }

    // ---- tags, for import -------------------------------------------------------

    /// From DescribeInstances, which carries the tags.
    async fn live_tags(&self, _cx: &OpCtx, id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let ec2 = self.clients.ec2().await;
        live_tags_of(&format!("EC2 instance {id}"), find_live(ec2, id), |i| async move { Ok(tags_of(i.tags())) }).await
    }

    /// Tags the instance only, not its volumes: create tags them, but
    /// import must change nothing but the instance's own tags.
    async fn add_tags(&self, _cx: &OpCtx, id: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let ec2 = self.clients.ec2().await;
        add_tags_to(&format!("EC2 instance {id}"), find_live(ec2, id), |_, action| async move {
            create_tags(ec2, id, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, id: &str, _props: &InstanceProps) -> Result<(), OpError> {
        let action = format!("deleting EC2 instance {id}");
        let ec2 = self.clients.ec2().await;
        match ec2.terminate_instances().instance_ids(id).send().await {
            Ok(_) => {}
            Err(e) if code_in(&e, NOT_FOUND) => return Ok(()),
            Err(e) => return Err(aws_error(&action, &e)),
        }
        // Waiting lets a replacement reuse what it held (its security
        // groups, its tags for adoption) without finding it still there.
        wait_for(ec2, cx, self.clients.waits(), id, "terminated", &action).await.map(|_| ())
    }
}

impl Instance {
    /// Brings a running instance's updatable props (type, security groups,
    /// instance profile, tags) to `want`, then reports it.
    async fn converge(
        &self,
        cx: &OpCtx,
        id: &str,
        want: &InstanceProps,
        action: &str,
    ) -> Result<Observed<InstanceProps>, OpError> {
        let ec2 = self.clients.ec2().await;
        let Some(live) = find_by_id(ec2, id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Err(OpError::failed(format!("{action}: the instance no longer exists")));
        };

        // Security groups.
        let live_groups: Vec<String> =
            live.security_groups().iter().filter_map(|g| g.group_id()).map(ToString::to_string).collect();
        let mut want_groups = want.security_groups.clone();
        if want_groups.is_empty() {
            let vpc = live.vpc_id().unwrap_or_default();
            want_groups = vec![default_group(ec2, vpc).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?];
        }
        if !same_set(&live_groups, &want_groups) {
            ec2.modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(want_groups))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting security groups"), &e))?;
        }

        // Instance profile.
        let live_profile = live.iam_instance_profile().and_then(|p| p.arn());
        let profile_matches = match (&want.instance_profile, live_profile) {
            (None, None) => true,
            (Some(w), Some(arn)) => profile_is(w, arn),
            _ => false,
        };
        if !profile_matches {
            self.set_profile(id, want.instance_profile.as_deref(), action).await?;
        }

        // Instance type: only a stopped instance can change it.
        let live_type = live.instance_type().map(|t| t.as_str().to_string());
        let want_type = want.instance_type.clone().unwrap_or_else(|| DEFAULT_INSTANCE_TYPE.to_string());
        if live_type.as_deref() != Some(want_type.as_str()) {
            (cx.notify)(&format!("stopping EC2 instance {id} to change its type to {want_type}"));
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: stopping"), &e))?;
            wait_for(ec2, cx, self.clients.waits(), id, "stopped", action).await?;
            ec2.modify_instance_attribute()
                .instance_id(id)
                .instance_type(AttributeValue::builder().value(&want_type).build())
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: setting the instance type"), &e))?;
            (cx.notify)(&format!("starting EC2 instance {id} as {want_type}"));
            ec2.start_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: starting"), &e))?;
            wait_for(ec2, cx, self.clients.waits(), id, "running", action).await?;
        }

        // Tags, with the Name tag.
        set_tags(ec2, id, &tags_of(live.tags()), &wanted_tags(cx, want), action).await?;

        let Some(live) = find_by_id(ec2, id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? else {
            return Err(OpError::failed(format!("{action}: the instance no longer exists")));
        };
        Ok(observed(&cx.env, &live, want.clone()))
    }

    /// Associates, replaces or removes the instance profile.
    async fn set_profile(&self, id: &str, want: Option<&str>, action: &str) -> Result<(), OpError> {
        let ec2 = self.clients.ec2().await;
        let out = ec2
            .describe_iam_instance_profile_associations()
            .filters(Filter::builder().name("instance-id").values(id).build())
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: reading the instance profile"), &e))?;
        let current = out
            .iam_instance_profile_associations()
            .iter()
            .find(|a| a.state().is_some_and(|s| matches!(s.as_str(), "associated" | "associating")))
            .and_then(|a| a.association_id())
            .map(ToString::to_string);
        let what = format!("{action}: setting the instance profile");
        match (want, current) {
            (Some(p), Some(assoc)) => {
                ec2.replace_iam_instance_profile_association()
                    .association_id(assoc)
                    .iam_instance_profile(profile_spec(p))
                    .send()
                    .await
                    .map_err(|e| aws_error(&what, &e))?;
            }
            (Some(p), None) => {
                ec2.associate_iam_instance_profile()
                    .instance_id(id)
                    .iam_instance_profile(profile_spec(p))
                    .send()
                    .await
                    .map_err(|e| aws_error(&what, &e))?;
            }
            (None, Some(assoc)) => {
                ec2.disassociate_iam_instance_profile()
                    .association_id(assoc)
                    .send()
                    .await
                    .map_err(|e| aws_error(&what, &e))?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// The AMI id: as written, or the value of the SSM parameter it names.
    async fn resolve_image(&self, image: &str, action: &str) -> Result<String, OpError> {
        let Some(param) = image.strip_prefix(SSM_PREFIX) else {
            return Ok(image.to_string());
        };
        let ssm = self.clients.ssm().await;
        let out = ssm
            .get_parameter()
            .name(param)
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: resolving image {image}"), &e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(ToString::to_string)
            .ok_or_else(|| OpError::failed(format!("{action}: SSM parameter {param} has no value")))
    }
}

// ---- pure helpers ------------------------------------------------------------

/// The RunInstances request; the SDK fills its idempotency token, so a retry
/// after a lost response does not launch a second instance.
fn run_request(
    ec2: &aws_sdk_ec2::Client,
    cx: &OpCtx,
    props: &InstanceProps,
    image: &str,
    name: &str,
) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
    let tags = wanted_tags(cx, &InstanceProps { name: Some(name.to_string()), ..props.clone() });
    let mut instance_tags = TagSpecification::builder().resource_type(ResourceType::Instance);
    let mut volume_tags = TagSpecification::builder().resource_type(ResourceType::Volume);
    for (k, v) in &tags {
        instance_tags = instance_tags.tags(Tag::builder().key(k).value(v).build());
        volume_tags = volume_tags.tags(Tag::builder().key(k).value(v).build());
    }
    let instance_type = props.instance_type.as_deref().unwrap_or(DEFAULT_INSTANCE_TYPE);
    let mut req = ec2
        .run_instances()
        .image_id(image)
        .instance_type(InstanceType::from(instance_type))
        .min_count(1)
        .max_count(1)
        .tag_specifications(instance_tags.build())
        .tag_specifications(volume_tags.build())
        .set_subnet_id(props.subnet.clone())
        .set_key_name(props.key_name.clone())
        .set_user_data(props.user_data.as_ref().map(|u| BASE64.encode(u.as_bytes())));
    if !props.security_groups.is_empty() {
        req = req.set_security_group_ids(Some(props.security_groups.clone()));
    }
    if let Some(p) = &props.instance_profile {
        req = req.iam_instance_profile(profile_spec(p));
    }
    req
}

fn profile_spec(profile: &str) -> IamInstanceProfileSpecification {
    if profile.starts_with("arn:") {
        IamInstanceProfileSpecification::builder().arn(profile).build()
    } else {
        IamInstanceProfileSpecification::builder().name(profile).build()
    }
}

/// Whether the profile written (name or ARN) is the one with this ARN;
/// ARNs end in `instance-profile/<path><name>`.
fn profile_is(written: &str, arn: &str) -> bool {
    written == arn || arn.rsplit('/').next() == Some(written)
}

/// The stack's tags, the ownership tags and the `Name` tag.
fn wanted_tags(cx: &OpCtx, props: &InstanceProps) -> BTreeMap<String, String> {
    let mut tags = cx.tags.clone();
    let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
    tags.insert(NAME_TAG.to_string(), name);
    tags
}

fn valid_instance_type(t: &str) -> bool {
    let mut parts = t.split('.');
    let (Some(family), Some(size), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    ok(family) && ok(size)
}

/// User data as text; data that is not valid base64 or UTF-8 is kept as
/// AWS sent it, so it shows as a difference instead of failing a read.
fn decode_user_data(encoded: &str) -> String {
    BASE64
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| encoded.to_string())
}

fn same_set(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

fn state_of(i: &AwsInstance) -> &str {
    i.state().and_then(|s| s.name()).map_or("", InstanceStateName::as_str)
}

/// Props as AWS reports them, in the canonical form `check` produces: the
/// image as written (`ssm:` parameters resolve to new AMIs over time, which
/// must not replace the instance), and what was left to AWS's defaults
/// (security groups, subnet) left unset.
fn props_from_instance(live: &AwsInstance, user_data: Option<String>, last: &InstanceProps) -> InstanceProps {
    let live_groups: Vec<String> =
        live.security_groups().iter().filter_map(|g| g.group_id()).map(ToString::to_string).collect();
    let security_groups = if last.security_groups.is_empty() || same_set(&live_groups, &last.security_groups) {
        last.security_groups.clone()
    } else {
        let mut groups = live_groups;
        groups.sort();
        groups
    };
    let live_profile = live.iam_instance_profile().and_then(|p| p.arn());
    let instance_profile = match (live_profile, &last.instance_profile) {
        (Some(arn), Some(written)) if profile_is(written, arn) => Some(written.clone()),
        (Some(arn), _) => Some(arn.to_string()),
        (None, _) => None,
    };
    let tags = tags_of(live.tags());
    InstanceProps {
        image: if last.image.starts_with(SSM_PREFIX) {
            last.image.clone()
        } else {
            live.image_id().unwrap_or_default().to_string()
        },
        instance_type: live.instance_type().map(|t| t.as_str().to_string()),
        instance_profile,
        security_groups,
        subnet: match &last.subnet {
            Some(_) => live.subnet_id().map(ToString::to_string),
            None => None,
        },
        user_data: user_data.filter(|u| !u.is_empty()),
        key_name: live.key_name().map(ToString::to_string),
        name: tags.get(NAME_TAG).cloned(),
        role: None,
    }
}

/// `arn:{partition}:ec2:{region}:{account}:instance/{id}`.
pub fn instance_arn(env: &Environment, id: &str) -> String {
    format!("arn:{}:ec2:{}:{}:instance/{id}", env.partition, env.region, env.account_id)
}

fn observed(env: &Environment, live: &AwsInstance, props: InstanceProps) -> Observed<InstanceProps> {
    let id = live.instance_id().unwrap_or_default().to_string();
    let text = |s: Option<&str>| Value::String(s.unwrap_or_default().to_string());
    let mut attrs = BTreeMap::new();
    attrs.insert("id".to_string(), Value::String(id.clone()));
    attrs.insert("arn".to_string(), Value::String(instance_arn(env, &id)));
    attrs.insert("private_ip".to_string(), text(live.private_ip_address()));
    attrs.insert("public_ip".to_string(), text(live.public_ip_address()));
    Observed { physical_id: id, props, attrs }
}

fn code_in<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// EC2's "Invalid IAM Instance Profile name/arn" for a profile IAM has but
/// EC2 does not see yet.
/// Why a failed RunInstances is worth trying again: only an instance profile
/// made moments ago that EC2 does not know yet.
fn profile_not_yet_known(code: Option<&str>, message: Option<&str>) -> Option<Wait> {
    let message = message.unwrap_or_default();
    (code == Some("InvalidParameterValue")
        && (message.contains("iamInstanceProfile") || message.contains("IAM Instance Profile")))
    .then(|| Wait::new("waiting for the IAM instance profile to propagate to EC2", Bound::Propagation))
}

// ---- waiters -----------------------------------------------------------------

/// Polls until the instance reaches `target`, with backoff (the first poll
/// at once), bounded by [`STATE_WAIT`]. Waiting for `terminated` also ends
/// when the instance is gone.
async fn wait_for(
    ec2: &aws_sdk_ec2::Client,
    cx: &OpCtx,
    waits: &Waits,
    id: &str,
    target: &str,
    action: &str,
) -> Result<AwsInstance, OpError> {
    let mut backoff = Backoff::new(waits);
    loop {
        let last_state = match find_by_id(ec2, id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            Some(i) if state_of(&i) == target => return Ok(i),
            Some(i) if state_of(&i) == "terminated" => {
                let reason = i.state_reason().and_then(|r| r.message()).unwrap_or("no reason given");
                return Err(OpError::failed(format!("{action}: instance {id} terminated: {reason}")));
            }
            Some(i) => state_of(&i).to_string(),
            // Gone: terminated long enough ago, or (just launched) not yet visible.
            None if target == "terminated" => return Ok(AwsInstance::builder().instance_id(id).build()),
            None => "not yet visible".to_string(),
        };
        let Some(delay) = backoff.next_delay(STATE_WAIT) else {
            return Err(OpError::failed(format!(
                "{action}: instance {id} is still {last_state} after {}, not {target}",
                retry::human(backoff.elapsed())
            )));
        };
        (cx.notify)(&format!("waiting for EC2 instance {id} to be {target} (now {last_state})"));
        tokio::time::sleep(delay).await;
    }
}

// ---- finders -----------------------------------------------------------------

/// The instance, or `None` when EC2 does not know it.
async fn find_by_id(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<AwsInstance>, String> {
    match ec2.describe_instances().instance_ids(id).send().await {
        Ok(out) => Ok(out.reservations().iter().flat_map(|r| r.instances()).next().cloned()),
        Err(e) if code_in(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error("DescribeInstances", &e).to_string()),
    }
}

/// The instance, or `None` when EC2 does not know it or it is terminated
/// (a terminated instance lingers in DescribeInstances for an hour).
async fn find_live(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<AwsInstance>, String> {
    Ok(find_by_id(ec2, id).await?.filter(|i| !matches!(state_of(i), "terminated" | "shutting-down")))
}

/// A live (not terminated) instance tagged as this stack's resource.
async fn find_owned(ec2: &aws_sdk_ec2::Client, cx: &OpCtx) -> Result<Option<AwsInstance>, String> {
    let mut states = Filter::builder().name("instance-state-name");
    for s in ALIVE {
        states = states.values(*s);
    }
    let out = ec2
        .describe_instances()
        .filters(Filter::builder().name(format!("tag:{TAG_STACK}")).values(&cx.stack).build())
        .filters(Filter::builder().name(format!("tag:{TAG_RESOURCE}")).values(&cx.resource).build())
        .filters(states.build())
        .send()
        .await
        .map_err(|e| aws_error("DescribeInstances", &e).to_string())?;
    Ok(out.reservations().iter().flat_map(|r| r.instances()).find(|i| ALIVE.contains(&state_of(i))).cloned())
}

/// The `default` security group of a VPC, which AWS gives an instance
/// launched without groups.
async fn default_group(ec2: &aws_sdk_ec2::Client, vpc: &str) -> Result<String, String> {
    let out = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values("default").build())
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(|e| aws_error("DescribeSecurityGroups", &e).to_string())?;
    out.security_groups()
        .first()
        .and_then(|g| g.group_id())
        .map(ToString::to_string)
        .ok_or_else(|| format!("VPC {vpc} has no default security group"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AL2023: &str = "ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";

    fn check(props: Value) -> Result<InstanceProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Instance::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab2", id: "host", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn defaults_fill_name_and_type() {
        let p = check(json!({"image": AL2023})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab2-host"));
        assert_eq!(p.instance_type.as_deref(), Some("t3.micro"));
        assert_eq!(p.image, AL2023);
    }

    #[test]
    fn props_are_checked_offline() {
        assert!(check(json!({})).is_err());
        assert!(check(json!({"image": "amazon-linux"})).is_err());
        assert!(check(json!({"image": "ssm:"})).is_err());
        assert!(check(json!({"image": "ami-0abc"})).is_ok());
        assert!(check(json!({"image": "${param.ami}"})).is_ok());
        assert!(check(json!({"image": "ami-1", "instance_type": "micro"})).is_err());
        assert!(check(json!({"image": "ami-1", "instance_type": "T3.micro"})).is_err());
        assert!(check(json!({"image": "ami-1", "security_groups": ["web"]})).is_err());
        assert!(check(json!({"image": "ami-1", "security_groups": ["sg-1", "sg-1"]})).is_err());
        assert!(check(json!({"image": "ami-1", "security_groups": ["${web.id}"]})).is_ok());
        assert!(check(json!({"image": "ami-1", "subnet": "vpc-1"})).is_err());
        assert!(check(json!({"image": "ami-1", "user_data": "x".repeat(MAX_USER_DATA + 1)})).is_err());
        assert!(check(json!({"image": "ami-1", "instance_profile": "arn:aws:iam::1:role/r"})).is_err());
        assert!(check(json!({"image": "ami-1", "instance_profile": "lab2-agent"})).is_ok());
        assert!(check(json!({"image": "ami-1", "ami": "x"})).is_err());
    }

    #[test]
    fn profiles_match_by_name_or_arn() {
        let arn = "arn:aws:iam::1:instance-profile/team/lab2-agent";
        assert!(profile_is("lab2-agent", arn));
        assert!(profile_is(arn, arn));
        assert!(!profile_is("other", arn));
    }

    #[test]
    fn user_data_round_trips() {
        let text = "#!/bin/bash\necho hi\n";
        assert_eq!(decode_user_data(&BASE64.encode(text)), text);
        assert_eq!(decode_user_data("not base64!"), "not base64!");
    }

    #[test]
    fn read_keeps_what_the_user_wrote() {
        let live = AwsInstance::builder()
            .instance_id("i-1")
            .image_id("ami-123")
            .instance_type(InstanceType::T3Micro)
            .subnet_id("subnet-1")
            .security_groups(aws_sdk_ec2::types::GroupIdentifier::builder().group_id("sg-2").build())
            .security_groups(aws_sdk_ec2::types::GroupIdentifier::builder().group_id("sg-1").build())
            .iam_instance_profile(
                aws_sdk_ec2::types::IamInstanceProfile::builder().arn("arn:aws:iam::1:instance-profile/agent").build(),
            )
            .tags(Tag::builder().key("Name").value("lab2-host").build())
            .build();
        let last = InstanceProps {
            image: AL2023.into(),
            instance_type: Some("t3.micro".into()),
            instance_profile: Some("agent".into()),
            security_groups: vec!["sg-1".into(), "sg-2".into()],
            subnet: None,
            user_data: Some("echo hi".into()),
            key_name: None,
            name: Some("lab2-host".into()),
            role: None,
        };
        assert_eq!(props_from_instance(&live, Some("echo hi".into()), &last), last);
        let by_id = InstanceProps { image: "ami-999".into(), ..last.clone() };
        assert_eq!(props_from_instance(&live, Some("echo hi".into()), &by_id).image, "ami-123");
    }

    #[test]
    fn instance_profile_propagation_is_recognised() {
        let message =
            "Value (lab2-agent) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name";
        let wait = profile_not_yet_known(Some("InvalidParameterValue"), Some(message));
        assert_eq!(wait.map(|w| w.bound), Some(Bound::Propagation));
        assert!(profile_not_yet_known(Some("InvalidParameterValue"), Some("Invalid value for instanceType")).is_none());
        assert!(profile_not_yet_known(Some("InvalidAMIID.NotFound"), Some(message)).is_none());
    }
}
