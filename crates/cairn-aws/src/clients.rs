//! The SDK clients every kind shares, created on first use.

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use tokio::sync::OnceCell;

use crate::provider::AwsOptions;

/// Attempts per call for the SDK's standard retry mode: the default of 3 is
/// too few for a deployer issuing dozens of calls at once.
const MAX_ATTEMPTS: u32 = 8;

/// The shared AWS configuration and one client per service, each built once
/// on first use; building this value loads nothing.
pub struct Clients {
    options: AwsOptions,
    config: OnceCell<SdkConfig>,
    sts: OnceCell<aws_sdk_sts::Client>,
    #[cfg(feature = "sns")]
    sns: OnceCell<aws_sdk_sns::Client>,
    #[cfg(feature = "events")]
    events: OnceCell<aws_sdk_eventbridge::Client>,
}

impl Clients {
    pub fn new(options: AwsOptions) -> Self {
        Clients {
            options,
            config: OnceCell::new(),
            sts: OnceCell::new(),
            #[cfg(feature = "sns")]
            sns: OnceCell::new(),
            #[cfg(feature = "events")]
            events: OnceCell::new(),
        }
    }

    /// The loaded shared configuration: the standard credential chain,
    /// `AWS_ENDPOINT_URL`, and the region and profile overrides.
    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
                if let Some(profile) = &self.options.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &self.options.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                loader.load().await
            })
            .await
    }

    pub async fn sts(&self) -> &aws_sdk_sts::Client {
        let config = self.config().await;
        self.sts.get_or_init(|| async { aws_sdk_sts::Client::new(config) }).await
    }

    #[cfg(feature = "sns")]
    pub async fn sns(&self) -> &aws_sdk_sns::Client {
        let config = self.config().await;
        self.sns.get_or_init(|| async { aws_sdk_sns::Client::new(config) }).await
    }

    #[cfg(feature = "events")]
    pub async fn events(&self) -> &aws_sdk_eventbridge::Client {
        let config = self.config().await;
        self.events.get_or_init(|| async { aws_sdk_eventbridge::Client::new(config) }).await
    }
}
