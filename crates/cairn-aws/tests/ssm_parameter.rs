//! Conformance of `aws:ssm:Parameter` against the emulator (TESTING.md layer 3).

#![cfg(feature = "ssm")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterType, ResourceTypeForTagging, Tag};
use cairn_aws::kinds::ssm_parameter::{Parameter, ParameterProps};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{ACCOUNT_ID, op_ctx, unique_stack};
use serde_json::json;

const KIND: &str = "aws:ssm:Parameter";

async fn live_tags(ssm: &aws_sdk_ssm::Client, name: &str) -> BTreeMap<String, String> {
    let out = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .unwrap();
    out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

#[test]
fn replace_on_is_name_and_type() {
    assert_eq!(Parameter::REPLACE_ON, &["name", "type"]);
    assert_eq!(Parameter::ATTRIBUTES, &["arn", "name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, each replace prop changed plans a
/// replace, update each updatable prop in place, unset the description,
/// delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ssm = provider.clients().ssm().await.clone();
    let stack = unique_stack("param");
    let cx = op_ctx(&stack, "agent-config");
    let name = format!("/cairn/{stack}/agent-config");

    let desired = common::checked(
        &*kind,
        &stack,
        "agent-config",
        json!({"value": "{\"logs\": {}}", "description": "CloudWatch agent config"}),
    );
    assert_eq!(desired["name"], json!(name));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    let arn = format!("arn:aws:ssm:us-east-1:{ACCOUNT_ID}:parameter/cairn/{stack}/agent-config");
    assert_eq!(created.attrs["arn"], json!(arn));
    assert_eq!(created.attrs["name"], json!(name));

    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("parameter exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().expect("parameter exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; each replace prop changed plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "agent-config", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));
    let listed = common::with(&desired, "type", json!("StringList"));
    assert_eq!(re.step(&desired, &listed).await, common::replace(&["type"]));

    // Direct SDK reads, not through the kind.
    let got = ssm.get_parameter().name(&name).send().await.unwrap();
    let p = got.parameter().unwrap();
    assert_eq!(p.value(), Some("{\"logs\": {}}"));
    assert_eq!(p.r#type(), Some(&ParameterType::String));
    assert_eq!(p.arn(), Some(arn.as_str()));
    let tags = live_tags(&ssm, &name).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("agent-config"));

    // Update each updatable prop in place.
    let updated =
        common::checked(&*kind, &stack, "agent-config", json!({"value": "v2", "description": "second version"}));
    assert_eq!(re.step(&desired, &updated).await, common::update(&["description", "value"]));
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, name);
    let read = kind.read(&cx, &name, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): no change, the update shows as drift.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, Step::NoOp, "{seen:?}");
    let got = ssm.get_parameter().name(&name).send().await.unwrap();
    assert_eq!(got.parameter().unwrap().value(), Some("v2"));

    // Unset the description.
    let bare = common::checked(&*kind, &stack, "agent-config", json!({"value": "v2"}));
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);

    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(ssm.get_parameter().name(&name).send().await.is_err());
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(kind.read(&cx, &name, &bare).await.unwrap().is_none());
}

#[tokio::test]
async fn string_list() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ssm = provider.clients().ssm().await.clone();
    let stack = unique_stack("paramlist");
    let cx = op_ctx(&stack, "subnets");
    let desired = common::checked(&*kind, &stack, "subnets", json!({"value": "a,b,c", "type": "StringList"}));
    let created = kind.create(&cx, &desired).await.unwrap();
    let read = kind.read(&cx, &created.physical_id, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    let got = ssm.get_parameter().name(&created.physical_id).send().await.unwrap();
    assert_eq!(got.parameter().unwrap().r#type(), Some(&ParameterType::StringList));
    // The type reads back as it is: back to String plans a replace.
    let re = common::Replan {
        provider: &provider,
        kind: KIND,
        stack: &stack,
        id: "subnets",
        physical_id: &created.physical_id,
    };
    let plain = common::with(&desired, "type", json!("String"));
    assert_eq!(re.step(&desired, &plain).await, common::replace(&["type"]));
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// The description is read from DescribeParameters, which pages: each
/// parameter reads its own, among others whose names start the same, and a
/// re-plan is empty. (AWS may answer an empty page with a NextToken; moto
/// does not, so that case is a unit test of the paging.)
#[tokio::test]
async fn descriptions_read_back_among_similar_names() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("paramdesc");
    let ids = ["cfg", "cfg-2", "cfg-20"];
    let mut made = Vec::new();
    for id in ids {
        let desired =
            common::checked(&*kind, &stack, id, json!({"value": "v", "description": format!("the {id} parameter")}));
        let created = kind.create(&op_ctx(&stack, id), &desired).await.unwrap();
        made.push((id, created.physical_id, desired));
    }
    for (id, name, desired) in &made {
        let read = kind.read(&op_ctx(&stack, id), name, desired).await.unwrap().expect("parameter exists");
        assert_eq!(read.props["description"], json!(format!("the {id} parameter")));
        common::assert_no_changes(desired, &read.props);
    }
    for (id, name, desired) in &made {
        kind.delete(&op_ctx(&stack, id), name, desired).await.unwrap();
    }
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ssm = provider.clients().ssm().await.clone();
    let stack = unique_stack("paramgone");
    let cx = op_ctx(&stack, "p");
    let desired = common::checked(&*kind, &stack, "p", json!({"value": "v"}));
    let created = kind.create(&cx, &desired).await.unwrap();
    ssm.delete_parameter().name(&created.physical_id).send().await.unwrap();
    assert!(kind.read(&cx, &created.physical_id, &desired).await.unwrap().is_none());
    let re =
        common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "p", physical_id: &created.physical_id };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &created.physical_id, &desired).await.unwrap();
}

/// Someone else's parameter of the same name is refused and left untouched;
/// this stack's own is adopted.
#[tokio::test]
async fn existing_parameter_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let ssm = provider.clients().ssm().await.clone();
    let stack = unique_stack("paramown");

    let foreign = format!("/cairn/{stack}/p");
    ssm.put_parameter().name(&foreign).value("theirs").r#type(ParameterType::String).send().await.unwrap();
    let cx = op_ctx(&stack, "p");
    let desired = common::checked(&*kind, &stack, "p", json!({"value": "mine"}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("SSM parameter {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    let got = ssm.get_parameter().name(&foreign).send().await.unwrap();
    assert_eq!(got.parameter().unwrap().value(), Some("theirs"), "a foreign parameter is left untouched");
    ssm.delete_parameter().name(&foreign).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("/cairn/{stack}/mine");
    let mut req = ssm.put_parameter().name(&own).value("old").r#type(ParameterType::String);
    for (k, v) in &cx.tags {
        req = req.tags(Tag::builder().key(k).value(v).build().unwrap());
    }
    req.send().await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", json!({"value": "new"}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    let read = kind.read(&cx, &own, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &own, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = ParameterProps { name: Some("/p".into()), value: "v".into(), ..ParameterProps::default() };
    assert_eq!(serde_json::to_value(&p).unwrap(), json!({"name": "/p", "value": "v", "type": "String"}));
}
