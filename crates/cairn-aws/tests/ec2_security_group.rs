//! Conformance of `aws:ec2:SecurityGroup` against the emulator (TESTING.md layer 3).

#![cfg(feature = "ec2")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use cairn_aws::kinds::ec2_security_group::{Rule, SecurityGroup, SecurityGroupProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:ec2:SecurityGroup";

async fn default_vpc(ec2: &aws_sdk_ec2::Client) -> String {
    let out =
        ec2.describe_vpcs().filters(Filter::builder().name("is-default").values("true").build()).send().await.unwrap();
    out.vpcs()[0].vpc_id().unwrap().to_string()
}

async fn group(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::SecurityGroup {
    let out = ec2.describe_security_groups().group_ids(id).send().await.unwrap();
    out.security_groups()[0].clone()
}

fn tags_of(g: &aws_sdk_ec2::types::SecurityGroup) -> BTreeMap<String, String> {
    g.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

/// (protocol, from, to, cidr) of every IPv4 grant, sorted.
fn grants(perms: &[IpPermission]) -> Vec<(String, Option<i32>, Option<i32>, String)> {
    let mut out: Vec<_> = perms
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(move |r| {
                let ports = if p.ip_protocol() == Some("-1") { (None, None) } else { (p.from_port(), p.to_port()) };
                (p.ip_protocol().unwrap().to_string(), ports.0, ports.1, r.cidr_ip().unwrap().to_string())
            })
        })
        .collect();
    out.sort();
    out
}

#[test]
fn replace_on_is_name_description_vpc() {
    assert_eq!(SecurityGroup::REPLACE_ON, &["name", "description", "vpc"]);
    assert_eq!(SecurityGroup::ATTRIBUTES, &["id", "arn"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update the rules in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("secgroup");
    let cx = op_ctx(&stack, "web");
    let name = format!("{stack}-web");
    let vpc = default_vpc(&ec2).await;

    let desired = common::checked(
        &*kind,
        &stack,
        "web",
        json!({"ingress": [
            {"protocol": "tcp", "from_port": 22, "cidr": "10.0.0.0/8", "description": "ssh"},
            {"protocol": "tcp", "from_port": 80, "to_port": 81, "cidr": "0.0.0.0/0"}
        ]}),
    );
    assert_eq!(desired["name"], json!(name));
    assert_eq!(desired["description"], json!("managed by cairn"));
    assert_eq!(desired["egress"], json!([{"protocol": "-1", "cidr": "0.0.0.0/0"}]));

    let created = kind.create(&cx, &desired).await.unwrap();
    let id = created.physical_id.clone();
    assert!(id.starts_with("sg-"), "{id}");
    assert_eq!(created.attrs["id"], json!(id));
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:ec2:us-east-1:{ACCOUNT_ID}:security-group/{id}")));

    // Read back every prop; reading twice still shows no change.
    let read = kind.read(&cx, &id, &desired).await.unwrap().expect("group exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &id, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "web", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let described = common::with(&desired, "description", json!("web servers"));
    assert_eq!(re.step(&desired, &described).await, common::replace(&["description"]));
    let moved = common::with(&desired, "vpc", json!("vpc-0123456789abcdef0"));
    assert_eq!(re.step(&desired, &moved).await, common::replace(&["vpc"]));

    // Direct SDK reads, not through the kind.
    let g = group(&ec2, &id).await;
    assert_eq!(g.group_name(), Some(name.as_str()));
    assert_eq!(g.description(), Some("managed by cairn"));
    assert_eq!(g.vpc_id(), Some(vpc.as_str()));
    assert_eq!(
        grants(g.ip_permissions()),
        vec![
            ("tcp".into(), Some(22), Some(22), "10.0.0.0/8".into()),
            ("tcp".into(), Some(80), Some(81), "0.0.0.0/0".into())
        ]
    );
    assert_eq!(grants(g.ip_permissions_egress()), vec![("-1".into(), None, None, "0.0.0.0/0".into())]);
    let tags = tags_of(&g);
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("web"));

    // Update the rules in place: drop one, add one, restrict egress.
    let updated = common::checked(
        &*kind,
        &stack,
        "web",
        json!({
            "ingress": [
                {"protocol": "tcp", "from_port": 22, "cidr": "10.0.0.0/8", "description": "ssh from inside"},
                {"protocol": "icmp", "cidr": "0.0.0.0/0"}
            ],
            "egress": [{"protocol": "tcp", "from_port": 443, "cidr": "0.0.0.0/0"}]
        }),
    );
    assert_eq!(re.step(&desired, &updated).await, common::update(&["egress", "ingress"]));
    let after = kind.update(&cx, &id, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, id);
    let read = kind.read(&cx, &id, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let g = group(&ec2, &id).await;
    assert_eq!(
        grants(g.ip_permissions()),
        vec![
            ("icmp".into(), Some(-1), Some(-1), "0.0.0.0/0".into()),
            ("tcp".into(), Some(22), Some(22), "10.0.0.0/8".into())
        ]
    );
    assert_eq!(grants(g.ip_permissions_egress()), vec![("tcp".into(), Some(443), Some(443), "0.0.0.0/0".into())]);

    // No egress at all.
    let closed = common::checked(&*kind, &stack, "web", json!({"egress": []}));
    kind.update(&cx, &id, &updated, &closed).await.unwrap();
    let read = kind.read(&cx, &id, &closed).await.unwrap().unwrap();
    assert_eq!(read.props, closed);
    let g = group(&ec2, &id).await;
    assert!(g.ip_permissions().is_empty() && g.ip_permissions_egress().is_empty());

    // Delete; delete again is success; then it reads as gone.
    kind.delete(&cx, &id, &closed).await.unwrap();
    kind.delete(&cx, &id, &closed).await.unwrap();
    assert!(kind.read(&cx, &id, &closed).await.unwrap().is_none());
}

/// A rule added behind cairn's back shows as drift, and an update removes it.
#[tokio::test]
async fn drift_in_rules_shows_and_is_repaired() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("sgdrift");
    let cx = op_ctx(&stack, "web");
    let desired = common::checked(
        &*kind,
        &stack,
        "web",
        json!({"ingress": [{"protocol": "tcp", "from_port": 443, "cidr": "0.0.0.0/0"}]}),
    );
    let id = kind.create(&cx, &desired).await.unwrap().physical_id;

    ec2.authorize_security_group_ingress()
        .group_id(&id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(3389)
                .to_port(3389)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let read = kind.read(&cx, &id, &desired).await.unwrap().unwrap();
    assert_ne!(read.props, desired);
    assert_eq!(
        read.props["ingress"][1],
        json!({"protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr": "0.0.0.0/0"})
    );

    kind.update(&cx, &id, &desired, &desired).await.unwrap();
    assert_eq!(kind.read(&cx, &id, &desired).await.unwrap().unwrap().props, desired);
    kind.delete(&cx, &id, &desired).await.unwrap();
}

/// An explicit VPC reads back as written; the default VPC stays implicit;
/// dropping the VPC plans a replace.
#[tokio::test]
async fn explicit_vpc() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let vpc = ec2.create_vpc().cidr_block("10.77.0.0/16").send().await.unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_string();
    let stack = unique_stack("sgvpc");
    let cx = op_ctx(&stack, "db");
    let desired =
        common::checked(&*kind, &stack, "db", json!({"vpc": vpc, "description": "database access", "name": "db"}));
    let id = kind.create(&cx, &desired).await.unwrap().physical_id;
    assert_eq!(group(&ec2, &id).await.vpc_id(), Some(vpc.as_str()));
    let read = kind.read(&cx, &id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "db", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let default_vpc = common::with(&desired, "vpc", serde_json::Value::Null);
    assert_eq!(re.step(&desired, &default_vpc).await, common::replace(&["vpc"]));
    kind.delete(&cx, &id, &desired).await.unwrap();
    ec2.delete_vpc().vpc_id(&vpc).send().await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("sggone");
    let cx = op_ctx(&stack, "web");
    let desired = common::checked(&*kind, &stack, "web", json!({}));
    let id = kind.create(&cx, &desired).await.unwrap().physical_id;
    ec2.delete_security_group().group_id(&id).send().await.unwrap();
    assert!(kind.read(&cx, &id, &desired).await.unwrap().is_none());
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "web", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &id, &desired).await.unwrap();
}

/// A group of the same name in the same VPC is adopted only when this
/// stack's resource owns it.
#[tokio::test]
async fn existing_group_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("sgown");
    let vpc = default_vpc(&ec2).await;

    // Someone else's group.
    let foreign = format!("{stack}-web");
    let other =
        ec2.create_security_group().group_name(&foreign).description("theirs").vpc_id(&vpc).send().await.unwrap();
    let other = other.group_id().unwrap().to_string();
    let cx = op_ctx(&stack, "web");
    let desired = common::checked(&*kind, &stack, "web", json!({}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert!(what.contains(&foreign), "{what}");
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert!(tags_of(&group(&ec2, &other).await).is_empty(), "a foreign group is left untouched");
    ec2.delete_security_group().group_id(&other).send().await.unwrap();

    // This stack's own group, left behind by a run that died before saving state.
    let cx = op_ctx(&stack, "mine");
    let mut tagging = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
    for (k, v) in &cx.tags {
        tagging = tagging.tags(Tag::builder().key(k).value(v).build());
    }
    let own = ec2
        .create_security_group()
        .group_name(format!("{stack}-mine"))
        .description("managed by cairn")
        .vpc_id(&vpc)
        .tag_specifications(tagging.build())
        .send()
        .await
        .unwrap();
    let own = own.group_id().unwrap().to_string();
    let desired = common::checked(
        &*kind,
        &stack,
        "mine",
        json!({"ingress": [{"protocol": "udp", "from_port": 53, "cidr": "10.0.0.0/8"}]}),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    let read = kind.read(&cx, &own, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &own, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = SecurityGroupProps { ingress: vec![Rule::allow_all()], ..SecurityGroupProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"ingress": [{"protocol": "-1", "cidr": "0.0.0.0/0"}]}));
}
