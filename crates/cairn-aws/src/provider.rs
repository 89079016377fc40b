//! The provider the engine drives: the kinds this crate offers and the
//! account they act in.

use std::sync::Arc;

use async_trait::async_trait;
use cairn_engine::kind::{Environment, OpError, Provider, Registry};
use tokio::sync::OnceCell;

use crate::clients::{AwsOptions, Clients};
use crate::error::aws_error;

/// cairn's AWS provider. Building one loads no configuration; the first
/// operation (or [`Provider::environment`]) does.
pub struct AwsProvider {
    clients: Arc<Clients>,
    registry: Registry,
    environment: OnceCell<Environment>,
}

impl AwsProvider {
    pub fn new(options: AwsOptions) -> Self {
        let clients = Arc::new(Clients::new(options));
        let registry = crate::kinds::registry(&clients);
        AwsProvider { clients, registry, environment: OnceCell::new() }
    }

    /// The SDK clients the kinds use, for callers that need a direct call
    /// (tests verifying live resources, the state backend).
    pub fn clients(&self) -> Arc<Clients> {
        Arc::clone(&self.clients)
    }
}

/// Every kind this build offers, usable offline: the kinds load AWS
/// configuration only when an operation runs.
pub fn registry() -> Registry {
    crate::kinds::registry(&Arc::new(Clients::new(AwsOptions::default())))
}

/// The AWS partition a region belongs to.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

#[async_trait]
impl Provider for AwsProvider {
    fn registry(&self) -> &Registry {
        &self.registry
    }

    async fn environment(&self) -> Result<Environment, OpError> {
        self.environment
            .get_or_try_init(|| async {
                let config = self.clients.config().await;
                let Some(region) = config.region().map(ToString::to_string) else {
                    return Err(OpError::failed(
                        "no AWS region configured: set AWS_REGION or AWS_DEFAULT_REGION, a region in the profile, or pass a region",
                    ));
                };
                let identity = self
                    .clients
                    .sts()
                    .await
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| aws_error("reading the AWS account id (sts:GetCallerIdentity)", &e))?;
                let Some(account_id) = identity.account().map(ToString::to_string) else {
                    return Err(OpError::failed("reading the AWS account id: sts:GetCallerIdentity returned no account"));
                };
                let partition = partition_for_region(&region).to_string();
                Ok(Environment { account_id, region, partition })
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region_prefix() {
        assert_eq!(partition_for_region("us-east-1"), "aws");
        assert_eq!(partition_for_region("eu-west-3"), "aws");
        assert_eq!(partition_for_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_for_region("us-gov-west-1"), "aws-us-gov");
    }

    #[test]
    fn registry_is_built_offline() {
        let names: Vec<_> = registry().names().collect();
        #[cfg(feature = "sns")]
        assert!(names.contains(&"aws:sns:Topic") && names.contains(&"aws:sns:Subscription"));
        #[cfg(feature = "events")]
        assert!(names.contains(&"aws:events:Rule"));
        let _ = names;
    }
}
