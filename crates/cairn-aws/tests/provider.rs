//! The provider against the emulator: the environment comes from STS and
//! the region, and is cached.

#![allow(clippy::unwrap_used)]

use cairn_aws::{AwsOptions, AwsProvider};
use cairn_engine::kind::Provider;
use cairn_testkit::emulator::ACCOUNT_ID;

#[tokio::test]
async fn environment_from_sts_and_region() {
    cairn_testkit::emulator::endpoint();
    let provider = AwsProvider::new(AwsOptions { region: Some("eu-west-1".into()), ..AwsOptions::default() });
    let env = provider.environment().await.unwrap();
    assert_eq!(env.account_id, ACCOUNT_ID);
    assert_eq!(env.region, "eu-west-1");
    assert_eq!(env.partition, "aws");
    assert_eq!(provider.environment().await.unwrap(), env);
}
