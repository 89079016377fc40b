//! Conformance of `aws:ec2:Instance` against the emulator (TESTING.md layer 3).

#![cfg(feature = "ec2")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::types::{InstanceAttributeName, ResourceType, Tag, TagSpecification};
use base64::Engine as _;
use cairn_aws::kinds::ec2_instance::{Instance, InstanceProps};
use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::kind::{TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{self, ACCOUNT_ID, op_ctx, unique_stack};
use cairn_testkit::proxy::{Faults, Proxy, Scripted};
use serde_json::json;

const KIND: &str = "aws:ec2:Instance";
const PARAM: &str = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
const USER_DATA: &str = "#!/bin/bash\nyum install -y amazon-cloudwatch-agent\n";

async fn instance(ec2: &aws_sdk_ec2::Client, id: &str) -> aws_sdk_ec2::types::Instance {
    let out = ec2.describe_instances().instance_ids(id).send().await.unwrap();
    out.reservations()[0].instances()[0].clone()
}

fn state(i: &aws_sdk_ec2::types::Instance) -> String {
    i.state().unwrap().name().unwrap().as_str().to_string()
}

fn tags_of(i: &aws_sdk_ec2::types::Instance) -> BTreeMap<String, String> {
    i.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

async fn group(ec2: &aws_sdk_ec2::Client, name: &str) -> String {
    let out = ec2.create_security_group().group_name(name).description("test").send().await.unwrap();
    out.group_id().unwrap().to_string()
}

/// KINDS.md's replace column lists image, subnet and user_data; the kind adds
/// `key_name` because an instance's key pair is set only at launch and EC2
/// has no call to change it (documented on the prop).
#[test]
fn replace_on_and_attributes() {
    assert_eq!(Instance::REPLACE_ON, &["image", "subnet", "user_data", "key_name"]);
    assert_eq!(Instance::ATTRIBUTES, &["id", "arn", "private_ip", "public_ip"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create from the public SSM AMI parameter, read back every prop, no diff,
/// each replace prop changed plans a replace, update type, groups and name
/// in place, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let ssm = provider.clients().ssm().await.clone();
    let stack = unique_stack("inst");
    let cx = op_ctx(&stack, "host");
    let first = group(&ec2, &format!("{stack}-a")).await;
    let second = group(&ec2, &format!("{stack}-b")).await;

    let desired = common::checked(
        &*kind,
        &stack,
        "host",
        json!({"image": format!("ssm:{PARAM}"), "user_data": USER_DATA, "security_groups": [first]}),
    );
    assert_eq!(desired["name"], json!(format!("{stack}-host")));
    assert_eq!(desired["instance_type"], json!("t3.micro"));

    let created = kind.create(&cx, &desired).await.unwrap();
    let id = created.physical_id.clone();
    assert!(id.starts_with("i-"), "{id}");
    assert_eq!(created.attrs["id"], json!(id));
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:ec2:us-east-1:{ACCOUNT_ID}:instance/{id}")));
    assert!(!created.attrs["private_ip"].as_str().unwrap().is_empty());

    // Read back every prop; the image stays in its ssm: form.
    let read = kind.read(&cx, &id, &desired).await.unwrap().expect("instance exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &id, &read.props).await.unwrap().unwrap();
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "host", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    for (field, value) in [
        ("image", json!("ami-0123456789abcdef0")),
        ("subnet", json!("subnet-0123456789abcdef0")),
        ("user_data", json!("#!/bin/bash\necho other\n")),
        ("key_name", json!("other-key")),
    ] {
        assert_eq!(re.step(&desired, &common::with(&desired, field, value)).await, common::replace(&[field]));
    }

    // Direct SDK reads, not through the kind.
    let ami = ssm.get_parameter().name(PARAM).send().await.unwrap();
    let ami = ami.parameter().unwrap().value().unwrap().to_string();
    let live = instance(&ec2, &id).await;
    assert_eq!(state(&live), "running");
    assert_eq!(live.image_id(), Some(ami.as_str()));
    assert_eq!(live.instance_type().unwrap().as_str(), "t3.micro");
    let groups: Vec<_> = live.security_groups().iter().map(|g| g.group_id().unwrap().to_string()).collect();
    assert_eq!(groups, vec![first.clone()]);
    let tags = tags_of(&live);
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("host"));
    assert_eq!(tags.get("Name"), Some(&format!("{stack}-host")));
    let ud = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let ud = base64::engine::general_purpose::STANDARD.decode(ud.user_data().unwrap().value().unwrap()).unwrap();
    assert_eq!(String::from_utf8(ud).unwrap(), USER_DATA);

    // Update each updatable prop in place: type (stop, modify, start),
    // security groups and the Name tag.
    let updated = common::checked(
        &*kind,
        &stack,
        "host",
        json!({"image": format!("ssm:{PARAM}"), "user_data": USER_DATA, "security_groups": [second, first],
               "instance_type": "t3.small", "name": "log-shipper"}),
    );
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut ucx = cx.clone();
    let sink = std::sync::Arc::clone(&notes);
    ucx.notify = std::sync::Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string()));
    assert_eq!(re.step(&desired, &updated).await, common::update(&["instance_type", "name", "security_groups"]));
    let after = kind.update(&ucx, &id, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, id);
    assert!(notes.lock().unwrap().iter().any(|n| n.contains("stopping")), "{notes:?}");
    let read = kind.read(&cx, &id, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update). The groups are a set that read
    // lists in the order of the props it is given; these know only one of the
    // two, so the order may differ, never the set.
    let seen = re.plan(&desired, &updated).await;
    let mut fields = seen.changes.iter().map(|c| c.field.as_str());
    if let Some(field) = fields.next() {
        assert_eq!((field, fields.next()), ("security_groups", None), "{seen:?}");
        let set = |v: &Option<serde_json::Value>| {
            let mut ids: Vec<String> = serde_json::from_value(v.clone().unwrap()).unwrap();
            ids.sort();
            ids
        };
        assert_eq!(set(&seen.changes[0].old), set(&seen.changes[0].new), "{seen:?}");
    }
    let live = instance(&ec2, &id).await;
    assert_eq!(state(&live), "running");
    assert_eq!(live.instance_type().unwrap().as_str(), "t3.small");
    assert_eq!(live.security_groups().len(), 2);
    assert_eq!(tags_of(&live).get("Name").map(String::as_str), Some("log-shipper"));

    // Delete; delete again is success; then it reads as gone.
    kind.delete(&cx, &id, &updated).await.unwrap();
    assert_eq!(state(&instance(&ec2, &id).await), "terminated");
    kind.delete(&cx, &id, &updated).await.unwrap();
    assert!(kind.read(&cx, &id, &updated).await.unwrap().is_none());
    ec2.delete_security_group().group_id(&first).send().await.unwrap();
    ec2.delete_security_group().group_id(&second).send().await.unwrap();
}

/// An AMI id is read back from AWS, so a changed image shows (a replace).
#[tokio::test]
async fn ami_id_image() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ssm = provider.clients().ssm().await.clone();
    let ami = ssm.get_parameter().name(PARAM).send().await.unwrap();
    let ami = ami.parameter().unwrap().value().unwrap().to_string();
    let stack = unique_stack("instami");
    let cx = op_ctx(&stack, "host");
    let desired = common::checked(&*kind, &stack, "host", json!({"image": ami}));
    let id = kind.create(&cx, &desired).await.unwrap().physical_id;
    let read = kind.read(&cx, &id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    assert!(read.props.get("user_data").is_none());
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "host", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let other = common::with(&desired, "image", json!("ami-0123456789abcdef0"));
    assert_eq!(re.step(&desired, &other).await, common::replace(&["image"]));
    kind.delete(&cx, &id, &desired).await.unwrap();
}

/// Terminated behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let stack = unique_stack("instgone");
    let cx = op_ctx(&stack, "host");
    let desired = common::checked(&*kind, &stack, "host", json!({"image": format!("ssm:{PARAM}")}));
    let id = kind.create(&cx, &desired).await.unwrap().physical_id;
    ec2.terminate_instances().instance_ids(&id).send().await.unwrap();
    assert!(kind.read(&cx, &id, &desired).await.unwrap().is_none());
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "host", physical_id: &id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &id, &desired).await.unwrap();
}

/// An instance launched for this resource by a run that died before saving
/// state is adopted, not launched twice; a stopped one is started.
#[tokio::test]
async fn own_instance_is_adopted() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ec2 = provider.clients().ec2().await.clone();
    let ssm = provider.clients().ssm().await.clone();
    let ami = ssm.get_parameter().name(PARAM).send().await.unwrap();
    let ami = ami.parameter().unwrap().value().unwrap().to_string();
    let stack = unique_stack("instown");
    let cx = op_ctx(&stack, "host");

    let mut tagging = TagSpecification::builder().resource_type(ResourceType::Instance);
    for (k, v) in &cx.tags {
        tagging = tagging.tags(Tag::builder().key(k).value(v).build());
    }
    let out = ec2
        .run_instances()
        .image_id(&ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .tag_specifications(tagging.build())
        .send()
        .await
        .unwrap();
    let own = out.instances()[0].instance_id().unwrap().to_string();
    ec2.stop_instances().instance_ids(&own).send().await.unwrap();

    let desired = common::checked(&*kind, &stack, "host", json!({"image": format!("ssm:{PARAM}")}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    let live = instance(&ec2, &own).await;
    assert_eq!(state(&live), "running");
    assert_eq!(tags_of(&live).get("Name"), Some(&format!("{stack}-host")));
    let read = kind.read(&cx, &own, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);

    // Another resource id of the same stack is not confused with it.
    let other = kind.create(&op_ctx(&stack, "other"), &desired).await.unwrap();
    assert_ne!(other.physical_id, own);
    kind.delete(&cx, &own, &desired).await.unwrap();
    kind.delete(&cx, &other.physical_id, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = InstanceProps { image: "ami-1".into(), ..InstanceProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"image": "ami-1", "security_groups": []}));
}

/// A fresh instance profile is unknown to EC2 for a while (AWS answers
/// InvalidParameterValue naming it; the proxy replays that twice):
/// RunInstances is tried again with backoff until EC2 takes it, each wait
/// reported.
#[tokio::test]
async fn launch_waits_for_a_fresh_instance_profile() {
    let proxy = Proxy::start(&emulator::endpoint()).await.unwrap();
    let provider = AwsProvider::new(AwsOptions { endpoint_url: Some(proxy.url()), ..AwsOptions::default() });
    let kind = common::kind(&provider, KIND);
    let iam = provider.clients().iam().await.clone();
    let stack = unique_stack("instprofile");
    let profile = format!("{stack}-profile");
    iam.create_instance_profile().instance_profile_name(&profile).send().await.unwrap();
    let message = format!(
        "Value ({profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
    );
    proxy.set(Faults::scripted(vec![Scripted::error("ec2:RunInstances", 2, 400, "InvalidParameterValue", &message)]));
    let notes: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut cx = op_ctx(&stack, "host");
    let seen = Arc::clone(&notes);
    cx.notify = Arc::new(move |m: &str| seen.lock().unwrap().push(m.to_string()));
    let desired =
        common::checked(&*kind, &stack, "host", json!({"image": "ami-0123456789abcdef0", "instance_profile": profile}));

    let created = kind.create(&cx, &desired).await.unwrap();

    assert_eq!(proxy.stats().calls("ec2:RunInstances"), 3);
    let waits: Vec<String> = notes.lock().unwrap().iter().filter(|n| n.contains("instance profile")).cloned().collect();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[0].contains("waiting for the IAM instance profile to propagate to EC2"), "{waits:?}");
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().expect("instance exists");
    assert_eq!(read.props["instance_profile"], json!(profile));
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
    iam.delete_instance_profile().instance_profile_name(&profile).send().await.unwrap();
}
