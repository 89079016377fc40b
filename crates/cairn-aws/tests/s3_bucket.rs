//! Conformance of `aws:s3:Bucket` against the emulator (TESTING.md layer 3).

#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ServerSideEncryption, Tag, Tagging};
use cairn_aws::kinds::s3_bucket::{Bucket, BucketProps, default_name};
use cairn_engine::kind::{OpError, TAG_RESOURCE, TAG_STACK, TypedKind};
use cairn_engine::plan::Step;
use cairn_testkit::emulator::{environment, op_ctx, unique_stack};
use serde_json::{Value, json};

const KIND: &str = "aws:s3:Bucket";

fn read_policy(bucket: &str, principal: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "read",
            "Effect": "Allow",
            "Principal": {"Service": [principal]},
            "Action": ["s3:GetBucketAcl"],
            "Resource": format!("arn:aws:s3:::{bucket}")
        }]
    })
}

async fn live_tags(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, String> {
    let out = s3.get_bucket_tagging().bucket(bucket).send().await.unwrap();
    out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// The versioning status, read directly. moto names the response's XML
/// root differently from S3, which the SDK cannot decode, so fall back to
/// the raw body.
async fn versioning(s3: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    match s3.get_bucket_versioning().bucket(bucket).send().await {
        Ok(out) => out.status().map(|s| s.as_str().to_string()),
        Err(e) => {
            let body = std::str::from_utf8(e.raw_response().unwrap().body().bytes().unwrap()).unwrap().to_string();
            let start = body.find("<Status>")? + "<Status>".len();
            let end = body.find("</Status>")?;
            Some(body[start..end].to_string())
        }
    }
}

async fn exists(s3: &aws_sdk_s3::Client, bucket: &str) -> bool {
    s3.head_bucket().bucket(bucket).send().await.is_ok()
}

#[test]
fn replace_on_is_name() {
    assert_eq!(Bucket::REPLACE_ON, &["name"]);
    assert_eq!(Bucket::ATTRIBUTES, &["arn", "name", "domain_name"]);
    common::assert_replace_on_are_props(&*common::offline_kind(KIND));
}

/// Create, read back every prop, no diff, a changed name plans a replace,
/// update each updatable prop in place, unset them, delete, delete again.
#[tokio::test]
async fn lifecycle() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucket");
    let cx = op_ctx(&stack, "logs");
    let name = format!("{stack}-logs");

    let desired = common::checked(
        &*kind,
        &stack,
        "logs",
        json!({
            "name": name,
            "policy": read_policy(&name, "cloudtrail.amazonaws.com"),
            "versioning": true,
            "lifecycle": [
                {"id": "old-logs", "prefix": "AWSLogs/", "expiration_days": 365, "noncurrent_expiration_days": 30},
                {"id": "uploads", "abort_incomplete_multipart_days": 7}
            ]
        }),
    );
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, name);
    assert_eq!(created.attrs["arn"], json!(format!("arn:aws:s3:::{name}")));
    assert_eq!(created.attrs["name"], json!(name));
    assert_eq!(created.attrs["domain_name"], json!(format!("{name}.s3.amazonaws.com")));

    // Read back every prop; reading twice still shows no change.
    let read = kind.read(&cx, &name, &desired).await.unwrap().expect("bucket exists");
    assert_eq!(read.props, desired);
    assert_eq!(read.attrs, created.attrs);
    common::assert_attributes(&*kind, &read.attrs);
    let again = kind.read(&cx, &name, &read.props).await.unwrap().expect("bucket exists");
    assert_eq!(again.props, desired);

    // The re-plan is empty; a changed name plans a replace.
    common::assert_no_changes(&desired, &read.props);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "logs", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp);
    let renamed = common::with(&desired, "name", json!(format!("{name}-2")));
    assert_eq!(re.step(&desired, &renamed).await, common::replace(&["name"]));

    // Direct SDK reads, not through the kind.
    let tags = live_tags(&s3, &name).await;
    assert_eq!(tags.get(TAG_STACK), Some(&stack));
    assert_eq!(tags.get(TAG_RESOURCE).map(String::as_str), Some("logs"));
    let pab = s3.get_public_access_block().bucket(&name).send().await.unwrap();
    let pab = pab.public_access_block_configuration().unwrap();
    assert_eq!(pab.block_public_acls(), Some(true));
    assert_eq!(pab.ignore_public_acls(), Some(true));
    assert_eq!(pab.block_public_policy(), Some(true));
    assert_eq!(pab.restrict_public_buckets(), Some(true));
    let enc = s3.get_bucket_encryption().bucket(&name).send().await.unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(rule.apply_server_side_encryption_by_default().unwrap().sse_algorithm(), &ServerSideEncryption::Aes256);
    assert_eq!(versioning(&s3, &name).await.as_deref(), Some("Enabled"));
    let lc = s3.get_bucket_lifecycle_configuration().bucket(&name).send().await.unwrap();
    assert_eq!(lc.rules().len(), 2);
    let policy = s3.get_bucket_policy().bucket(&name).send().await.unwrap();
    let mut policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|st| st["Sid"] != "cairn-deny-insecure-transport");
    assert_eq!(before - statements.len(), 1, "the TLS deny is merged in once");
    assert!(cairn_policy_equivalent(&policy, &read_policy(&name, "cloudtrail.amazonaws.com")), "{policy}");

    // Update each updatable prop in place.
    let updated = common::checked(
        &*kind,
        &stack,
        "logs",
        json!({
            "name": name,
            "policy": read_policy(&name, "config.amazonaws.com"),
            "public_access_block": {"block_public_acls": false, "ignore_public_acls": false, "block_public_policy": false, "restrict_public_buckets": false},
            "encryption": {"algorithm": "aws:kms", "kms_key": "alias/aws/s3"},
            "versioning": false,
            "lifecycle": [{"id": "old-logs", "prefix": "logs/", "expiration_days": 90}],
            "force_destroy": true
        }),
    );
    assert_eq!(
        re.step(&desired, &updated).await,
        common::update(&["encryption", "force_destroy", "lifecycle", "policy", "public_access_block", "versioning"])
    );
    let after = kind.update(&cx, &name, &desired, &updated).await.unwrap();
    assert_eq!(after.physical_id, name);
    let read = kind.read(&cx, &name, &updated).await.unwrap().unwrap();
    assert_eq!(read.props, updated);
    assert_eq!(re.step(&updated, &updated).await, Step::NoOp);
    // What AWS now holds reads back even when the read knows only the old
    // props (state written before the update): only `force_destroy`, which is
    // cairn's own setting and not kept by AWS, comes from those props.
    let seen = re.plan(&desired, &updated).await;
    assert_eq!(seen.step, common::update(&["force_destroy"]), "{seen:?}");
    assert_eq!(versioning(&s3, &name).await.as_deref(), Some("Suspended"));
    let enc = s3.get_bucket_encryption().bucket(&name).send().await.unwrap();
    let by_default = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap();
    assert_eq!(by_default.sse_algorithm(), &ServerSideEncryption::AwsKms);
    assert_eq!(by_default.kms_master_key_id(), Some("alias/aws/s3"));
    let pab = s3.get_public_access_block().bucket(&name).send().await.unwrap();
    assert_eq!(pab.public_access_block_configuration().unwrap().block_public_policy(), Some(false));

    // Unset them: no policy, no lifecycle rules, back to the defaults.
    let bare = common::checked(&*kind, &stack, "logs", json!({"name": name}));
    kind.update(&cx, &name, &updated, &bare).await.unwrap();
    let read = kind.read(&cx, &name, &bare).await.unwrap().unwrap();
    assert_eq!(read.props, bare);
    // The stack's statements are removed; the TLS deny, on by default, stays alone.
    let left = s3.get_bucket_policy().bucket(&name).send().await.unwrap();
    let left: Value = serde_json::from_str(left.policy().unwrap()).unwrap();
    let sids: Vec<&str> = left["Statement"].as_array().unwrap().iter().filter_map(|s| s["Sid"].as_str()).collect();
    assert_eq!(sids, ["cairn-deny-insecure-transport"], "{left}");
    assert!(s3.get_bucket_lifecycle_configuration().bucket(&name).send().await.is_err(), "the rules are removed");

    // Delete; delete again is success; then it reads as gone.
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(!exists(&s3, &name).await);
    kind.delete(&cx, &name, &bare).await.unwrap();
    assert!(kind.read(&cx, &name, &bare).await.unwrap().is_none());
}

fn cairn_policy_equivalent(a: &Value, b: &Value) -> bool {
    // Statement order and one-element lists aside, the same document.
    let norm = |v: &Value| {
        let mut v = v.clone();
        if let Some(st) = v.get_mut("Statement").and_then(Value::as_array_mut) {
            for s in st {
                for k in ["Action", "Resource"] {
                    if let Some(Value::Array(items)) = s.get(k).cloned()
                        && items.len() == 1
                    {
                        s[k] = items[0].clone();
                    }
                }
                if let Some(Value::Array(items)) = s.pointer("/Principal/Service").cloned()
                    && items.len() == 1
                {
                    s["Principal"]["Service"] = items[0].clone();
                }
            }
        }
        v
    };
    norm(a) == norm(b)
}

/// Without a name, the bucket gets `<stack>-<id>` plus a suffix hashed from
/// account, region, stack and id; the name prop stays unset on read.
#[tokio::test]
async fn default_name_is_derived_at_create() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let stack = unique_stack("bucketname");
    let cx = op_ctx(&stack, "Trail_Logs");
    let desired = common::checked(&*kind, &stack, "Trail_Logs", json!({}));
    assert_eq!(desired.get("name"), None);
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = default_name(&environment(), &stack, "Trail_Logs");
    assert_eq!(created.physical_id, name);
    assert!(name.starts_with(&format!("{stack}-trail-logs-")), "{name}");
    assert_eq!(created.attrs["name"], json!(name));
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "Trail_Logs", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::NoOp, "the derived name shows no diff");

    // A retried create (the first one's response lost) adopts its own bucket.
    let again = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(again.physical_id, name);
    kind.delete(&cx, &name, &desired).await.unwrap();
}

/// A bucket holding objects, versions and delete markers is refused
/// without `force_destroy` and emptied and deleted with it.
#[tokio::test]
async fn non_empty_bucket_needs_force_destroy() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketfull");
    let cx = op_ctx(&stack, "data");
    let name = format!("{stack}-data");
    let desired = common::checked(&*kind, &stack, "data", json!({"name": name, "versioning": true}));
    kind.create(&cx, &desired).await.unwrap();
    for i in 0..3 {
        for v in 0..2 {
            s3.put_object()
                .bucket(&name)
                .key(format!("AWSLogs/{i}.json"))
                .body(ByteStream::from(format!("version {v}").into_bytes()))
                .send()
                .await
                .unwrap();
        }
    }
    s3.delete_object().bucket(&name).key("AWSLogs/0.json").send().await.unwrap();
    let listed = s3.list_object_versions().bucket(&name).send().await.unwrap();
    assert_eq!(listed.versions().len(), 6);
    assert_eq!(listed.delete_markers().len(), 1);

    let err = kind.delete(&cx, &name, &desired).await.unwrap_err().to_string();
    assert!(err.contains(&format!("deleting S3 bucket {name}")), "{err}");
    assert!(err.contains("force_destroy"), "{err}");
    assert!(exists(&s3, &name).await, "a refused delete leaves the bucket");

    let forced =
        common::checked(&*kind, &stack, "data", json!({"name": name, "versioning": true, "force_destroy": true}));
    let read = kind.update(&cx, &name, &desired, &forced).await.unwrap();
    assert_eq!(read.props, forced);
    kind.delete(&cx, &name, &forced).await.unwrap();
    assert!(!exists(&s3, &name).await);
}

/// An unversioned bucket with plain objects is emptied too.
#[tokio::test]
async fn force_destroy_empties_an_unversioned_bucket() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketplain");
    let cx = op_ctx(&stack, "data");
    let name = format!("{stack}-data");
    let desired = common::checked(&*kind, &stack, "data", json!({"name": name, "force_destroy": true}));
    kind.create(&cx, &desired).await.unwrap();
    for i in 0..5 {
        s3.put_object().bucket(&name).key(format!("k{i}")).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    kind.delete(&cx, &name, &desired).await.unwrap();
    assert!(!exists(&s3, &name).await);
}

/// A policy S3 hands back in another form reads as the one written; one
/// that means something else shows as drift.
#[tokio::test]
async fn equivalent_policy_shows_no_change() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketpol");
    let cx = op_ctx(&stack, "logs");
    let name = format!("{stack}-logs");
    let desired = common::checked(
        &*kind,
        &stack,
        "logs",
        json!({"name": name, "policy": read_policy(&name, "cloudtrail.amazonaws.com")}),
    );
    kind.create(&cx, &desired).await.unwrap();
    // The same statements, reordered and rewritten: the TLS deny too, with
    // another Sid, principal form, action list and a boolean condition.
    let reformatted = format!(
        r#"{{"Statement":[{{"Sid":"tls-only","Effect":"Deny","Principal":{{"AWS":"*"}},"Action":["s3:*"],"Resource":["arn:aws:s3:::{name}/*","arn:aws:s3:::{name}"],"Condition":{{"Bool":{{"aws:SecureTransport":false}}}}}},{{"Resource":"arn:aws:s3:::{name}","Action":"s3:GetBucketAcl","Principal":{{"Service":"cloudtrail.amazonaws.com"}},"Effect":"Allow","Sid":"read"}}],"Version":"2012-10-17"}}"#
    );
    s3.put_bucket_policy().bucket(&name).policy(reformatted).send().await.unwrap();
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);

    let other = read_policy(&name, "config.amazonaws.com");
    s3.put_bucket_policy().bucket(&name).policy(other.to_string()).send().await.unwrap();
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_ne!(read.props, desired);
    kind.delete(&cx, &name, &desired).await.unwrap();
}

/// Deleted behind cairn's back: read says gone, so the plan shows a create.
#[tokio::test]
async fn disappears() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketgone");
    let cx = op_ctx(&stack, "logs");
    let name = format!("{stack}-logs");
    let desired = common::checked(&*kind, &stack, "logs", json!({"name": name}));
    kind.create(&cx, &desired).await.unwrap();
    s3.delete_bucket().bucket(&name).send().await.unwrap();
    assert!(kind.read(&cx, &name, &desired).await.unwrap().is_none());
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "logs", physical_id: &name };
    assert_eq!(re.step(&desired, &desired).await, Step::Create);
    kind.delete(&cx, &name, &desired).await.unwrap();
}

/// Someone else's bucket of the same name is refused and left untouched;
/// this stack's own is adopted.
#[tokio::test]
async fn existing_bucket_is_adopted_only_when_owned() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketown");

    let foreign = format!("{stack}-logs");
    s3.create_bucket().bucket(&foreign).send().await.unwrap();
    let cx = op_ctx(&stack, "logs");
    let desired = common::checked(&*kind, &stack, "logs", json!({"name": foreign, "versioning": true}));
    match kind.create(&cx, &desired).await {
        Err(OpError::NotOwned { what, owner }) => {
            assert_eq!(what, format!("S3 bucket {foreign}"));
            assert!(owner.contains("no cairn ownership tags"), "{owner}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    assert_eq!(versioning(&s3, &foreign).await, None, "a foreign bucket is left untouched");
    s3.delete_bucket().bucket(&foreign).send().await.unwrap();

    let cx = op_ctx(&stack, "mine");
    let own = format!("{stack}-mine");
    s3.create_bucket().bucket(&own).send().await.unwrap();
    let mut tagging = Tagging::builder();
    for (k, v) in &cx.tags {
        tagging = tagging.tag_set(Tag::builder().key(k).value(v).build().unwrap());
    }
    s3.put_bucket_tagging().bucket(&own).tagging(tagging.build().unwrap()).send().await.unwrap();
    let desired = common::checked(&*kind, &stack, "mine", json!({"name": own, "versioning": true}));
    let created = kind.create(&cx, &desired).await.unwrap();
    assert_eq!(created.physical_id, own);
    let read = kind.read(&cx, &own, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &own, &desired).await.unwrap();
}

/// The typed props are the public shape builders use.
#[test]
fn props_serialize_canonically() {
    let p = BucketProps { name: Some("b".into()), ..BucketProps::default() };
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({
            "name": "b",
            "require_tls": true,
            "object_ownership": "BucketOwnerEnforced",
            "public_access_block": {"block_public_acls": true, "ignore_public_acls": true, "block_public_policy": true, "restrict_public_buckets": true},
            "encryption": {"algorithm": "AES256"},
            "force_destroy": false
        })
    );
}

/// Outside us-east-1, CreateBucket needs a LocationConstraint for the region.
#[tokio::test]
async fn bucket_outside_us_east_1_gets_a_location_constraint() {
    cairn_testkit::emulator::endpoint();
    let provider = cairn_aws::AwsProvider::new(cairn_aws::AwsOptions {
        region: Some("eu-west-1".to_string()),
        ..cairn_aws::AwsOptions::default()
    });
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketeu");
    let mut cx = op_ctx(&stack, "logs");
    cx.env.region = "eu-west-1".to_string();
    let desired = common::checked(&*kind, &stack, "logs", json!({}));
    let created = kind.create(&cx, &desired).await.unwrap();
    let name = created.physical_id.clone();
    assert_eq!(name, default_name(&cx.env, &stack, "logs"));
    assert_ne!(name, default_name(&environment(), &stack, "logs"), "the suffix depends on the region");
    let location = s3.get_bucket_location().bucket(&name).send().await.unwrap();
    assert_eq!(location.location_constraint().map(|c| c.as_str()), Some("eu-west-1"));
    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired);
    kind.delete(&cx, &name, &desired).await.unwrap();
    assert!(!exists(&s3, &name).await);
}

/// Secure defaults (issue 21): a bucket made with nothing said denies plain
/// HTTP by a statement in its policy and has ACLs disabled; both read back
/// as set, a change behind cairn's back shows as a change of `require_tls`
/// or `object_ownership`, and an update puts them back; `require_tls:
/// false` leaves no policy at all.
#[tokio::test]
async fn secure_defaults_are_set_read_back_and_repaired() {
    let provider = common::provider();
    let kind = common::kind(&provider, KIND);
    let s3 = provider.clients().s3().await.clone();
    let stack = unique_stack("bucketsec");
    let cx = op_ctx(&stack, "data");
    let name = format!("{stack}-data");
    let desired = common::checked(&*kind, &stack, "data", json!({"name": name}));
    assert_eq!(
        (desired["require_tls"].clone(), desired["object_ownership"].clone()),
        (json!(true), json!("BucketOwnerEnforced"))
    );
    kind.create(&cx, &desired).await.unwrap();

    // Direct SDK reads, not through the kind.
    let policy = s3.get_bucket_policy().bucket(&name).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1, "{policy}");
    assert_eq!(statements[0]["Effect"], "Deny");
    assert_eq!(statements[0]["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(statements[0]["Resource"], json!([format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")]));
    let ownership = s3.get_bucket_ownership_controls().bucket(&name).send().await.unwrap();
    let rule = &ownership.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership().as_str(), "BucketOwnerEnforced");
    // The emulator's HTTP stands in for TLS: the bucket still takes objects.
    s3.put_object().bucket(&name).key("k").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let read = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(read.props, desired, "the merged statement reads back as require_tls, not as a policy");

    // Behind cairn's back: the policy deleted, ACLs turned back on.
    s3.delete_bucket_policy().bucket(&name).send().await.unwrap();
    let writer = aws_sdk_s3::types::OwnershipControls::builder()
        .rules(
            aws_sdk_s3::types::OwnershipControlsRule::builder()
                .object_ownership(aws_sdk_s3::types::ObjectOwnership::ObjectWriter)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_ownership_controls().bucket(&name).ownership_controls(writer).send().await.unwrap();
    let drifted = kind.read(&cx, &name, &desired).await.unwrap().unwrap();
    assert_eq!(
        (drifted.props["require_tls"].clone(), drifted.props["object_ownership"].clone()),
        (json!(false), json!("ObjectWriter"))
    );
    let re = common::Replan { provider: &provider, kind: KIND, stack: &stack, id: "data", physical_id: &name };
    assert_eq!(
        re.step(&desired, &desired).await,
        Step::Update { fields: vec!["object_ownership".into(), "require_tls".into()] }
    );
    kind.update(&cx, &name, &drifted.props, &desired).await.unwrap();
    assert_eq!(kind.read(&cx, &name, &desired).await.unwrap().unwrap().props, desired);

    // Turned off: no policy is left at all.
    let off = common::with(&desired, "require_tls", json!(false));
    kind.update(&cx, &name, &desired, &off).await.unwrap();
    let none = s3.get_bucket_policy().bucket(&name).send().await;
    assert!(none.is_err(), "a policy is left: {none:?}");
    assert_eq!(kind.read(&cx, &name, &off).await.unwrap().unwrap().props, off);
    let forced = common::with(&off, "force_destroy", json!(true));
    kind.delete(&cx, &name, &forced).await.unwrap();
}
