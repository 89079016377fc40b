//! The S3 state backend against the emulator's S3: the contract every
//! backend keeps, and what only a lock record in a bucket has (removal by
//! its id, a missing bucket named with the command to make it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use cairn_aws::AwsOptions;
use cairn_aws::state::{S3Connection, S3Place, S3State};
use cairn_engine::state::{LockHolder, LockStatus, StateBackend, StateError};
use cairn_testkit::emulator::unique_stack;

/// A new versioned bucket, as docs/state.md sets one up.
async fn bucket(name: &str) {
    let s3 = common::provider().clients().s3().await.clone();
    s3.create_bucket().bucket(name).send().await.expect("bucket made");
    let on = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning().bucket(name).versioning_configuration(on).send().await.expect("versioning on");
}

fn connection(kms_key: Option<String>) -> Arc<S3Connection> {
    let endpoint = cairn_testkit::emulator::strict_endpoint(&[]);
    S3Connection::new(AwsOptions { endpoint_url: Some(endpoint), ..AwsOptions::default() }, kms_key)
}

fn backend(conn: &Arc<S3Connection>, url: &str, stack: &str) -> Arc<dyn StateBackend> {
    Arc::new(S3State::new(conn, &S3Place::parse(url).unwrap(), stack))
}

/// Runs inside an async test on purpose: the CLI calls the backend from its
/// runtime's threads, and the backend must not need one of its own there.
#[tokio::test]
async fn the_s3_backend_keeps_the_contract() {
    let name = unique_stack("state");
    bucket(&name).await;
    let conn = connection(None);
    let url = format!("s3://{name}/team/states/");
    cairn_testkit::state::backend_contract(&|| backend(&conn, &url, "lab1"));
    let place = backend(&conn, &url, "lab1");
    assert_eq!(place.location(), format!("s3://{name}/team/states/lab1.json"));
}

#[tokio::test]
async fn a_lock_left_behind_goes_only_by_its_id_and_a_release_never_takes_anothers() {
    let name = unique_stack("state");
    bucket(&name).await;
    let conn = connection(None);
    let url = format!("s3://{name}");
    let (a, b) = (backend(&conn, &url, "lab6"), backend(&conn, &url, "lab6"));

    let killed = LockHolder::now("apply");
    let mut left = a.lock(&killed).unwrap().held;
    let refusal = match b.lock(&LockHolder::now("apply")) {
        Err(e @ StateError::Locked { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refusal.contains(&killed.to_string()), "names the holder: {refusal}");
    assert!(refusal.contains(&format!("--lock-id {}", killed.id)), "says how to remove it: {refusal}");
    assert!(refusal.contains(" ago"), "says its age: {refusal}");

    match b.unlock(Some("not-its-id")).unwrap() {
        LockStatus::Held { holder, advice } => {
            assert_eq!(holder, killed.to_string());
            assert!(advice.contains(&format!("--lock-id {}", killed.id)), "{advice}");
        }
        other => panic!("a lock goes only by its own id, got {other:?}"),
    }
    assert_eq!(b.unlock(Some(&killed.id)).unwrap(), LockStatus::Free { stale: Some(killed.to_string()) });
    let next = LockHolder::now("apply");
    let mut taken = b.lock(&next).unwrap().held;
    // The first holder, alive after all, ends: its release must leave the
    // lock the second run holds now.
    left.release().unwrap();
    match a.lock(&LockHolder::now("plan")) {
        Err(StateError::Locked { holder, .. }) => assert_eq!(holder, next.to_string()),
        other => panic!("the second run's lock must survive the first one's release, got {other:?}"),
    }
    taken.release().unwrap();
    assert_eq!(a.unlock(None).unwrap(), LockStatus::Free { stale: None });
}

#[tokio::test]
async fn a_missing_bucket_is_named_with_the_commands_to_make_it() {
    let name = unique_stack("nobucket");
    let conn = connection(None);
    let b = backend(&conn, &format!("s3://{name}/p"), "lab1");
    for result in
        [b.lock(&LockHolder::now("apply")).map(|_| ()), b.read().map(|_| ()), b.write(b"{}", None).map(|_| ())]
    {
        match result {
            Err(e @ StateError::Unavailable { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&format!("bucket `{name}` does not exist")), "{text}");
                assert!(text.contains(&format!("aws s3api create-bucket --bucket {name}")), "{text}");
                assert!(text.contains("put-bucket-versioning"), "{text}");
            }
            other => panic!("expected the bucket named, got {other:?}"),
        }
    }
    let s3 = common::provider().clients().s3().await.clone();
    assert!(s3.head_bucket().bucket(&name).send().await.is_err(), "cairn never makes the state bucket");
}

/// `--state-kms-key`: state and lock objects are written SSE-KMS under
/// the key given, whatever the bucket's default.
#[tokio::test]
async fn a_state_kms_key_encrypts_what_is_written() {
    let name = unique_stack("state");
    bucket(&name).await;
    let clients = common::provider().clients();
    let key = clients.kms().await.create_key().send().await.unwrap();
    let arn = key.key_metadata().and_then(|m| m.arn()).unwrap().to_string();
    let conn = connection(Some(arn.clone()));
    let b = backend(&conn, &format!("s3://{name}/p"), "lab3");
    b.write(b"{}", None).unwrap();
    let head = clients.s3().await.head_object().bucket(&name).key("p/lab3.json").send().await.unwrap();
    assert_eq!(head.server_side_encryption(), Some(&aws_sdk_s3::types::ServerSideEncryption::AwsKms));
    assert_eq!(head.ssekms_key_id(), Some(arn.as_str()));
}
