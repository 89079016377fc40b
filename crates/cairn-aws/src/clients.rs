//! The SDK clients every kind shares, created on first use.

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use tokio::sync::OnceCell;

use crate::error::NameCalls;
use crate::retry::Waits;

/// Attempts per call for the SDK's standard retry mode: the default of 3 is
/// too few for a deployer issuing dozens of calls at once. Eight is kept
/// for the fault-injection test (crates/cairn/tests/labs/chaos.rs: 10%
/// throttling, 10% 5xx and 5% lost responses, a quarter of all tries):
/// a call then fails all its tries about once in 65 000 (0.25^8), where
/// three tries would fail once in 64; labs 3 and 6 passed on every seed
/// tried.
const MAX_ATTEMPTS: u32 = 8;

/// Where to find credentials, which region to act in and which endpoint to
/// call; `None` leaves the choice to the standard AWS chain (environment,
/// profile files, SSO, IMDS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// One endpoint for every service (an emulator, or a proxy in front of
    /// it), as `AWS_ENDPOINT_URL` would give, without touching the process
    /// environment; `None` keeps the chain's choice.
    pub endpoint_url: Option<String>,
    /// How long waits for AWS to catch up may last; the default is for real
    /// use, tests against an emulator shorten it.
    pub waits: Waits,
}

/// The shared AWS configuration and one client per service, each built once
/// on first use; building this value loads nothing.
pub struct Clients {
    options: AwsOptions,
    config: OnceCell<SdkConfig>,
    sts: OnceCell<aws_sdk_sts::Client>,
    tagging: OnceCell<aws_sdk_resourcegroupstagging::Client>,
    #[cfg(feature = "sns")]
    sns: OnceCell<aws_sdk_sns::Client>,
    #[cfg(feature = "events")]
    events: OnceCell<aws_sdk_eventbridge::Client>,
    #[cfg(feature = "sqs")]
    sqs: OnceCell<aws_sdk_sqs::Client>,
    #[cfg(feature = "logs")]
    logs: OnceCell<aws_sdk_cloudwatchlogs::Client>,
    #[cfg(feature = "cloudwatch")]
    cloudwatch: OnceCell<aws_sdk_cloudwatch::Client>,
    #[cfg(feature = "iam")]
    iam: OnceCell<aws_sdk_iam::Client>,
    #[cfg(feature = "lambda")]
    lambda: OnceCell<aws_sdk_lambda::Client>,
    #[cfg(feature = "ec2")]
    ec2: OnceCell<aws_sdk_ec2::Client>,
    #[cfg(any(feature = "ssm", feature = "ec2"))]
    ssm: OnceCell<aws_sdk_ssm::Client>,
    #[cfg(feature = "s3")]
    s3: OnceCell<aws_sdk_s3::Client>,
    #[cfg(feature = "cloudtrail")]
    cloudtrail: OnceCell<aws_sdk_cloudtrail::Client>,
    #[cfg(feature = "kms")]
    kms: OnceCell<aws_sdk_kms::Client>,
}

/// The standard chain's configuration, with `options`' region, profile and
/// endpoint overrides and cairn's retry settings.
pub(crate) async fn load_config(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

impl Clients {
    pub fn new(options: AwsOptions) -> Self {
        Clients {
            options,
            config: OnceCell::new(),
            sts: OnceCell::new(),
            tagging: OnceCell::new(),
            #[cfg(feature = "sns")]
            sns: OnceCell::new(),
            #[cfg(feature = "events")]
            events: OnceCell::new(),
            #[cfg(feature = "sqs")]
            sqs: OnceCell::new(),
            #[cfg(feature = "logs")]
            logs: OnceCell::new(),
            #[cfg(feature = "cloudwatch")]
            cloudwatch: OnceCell::new(),
            #[cfg(feature = "iam")]
            iam: OnceCell::new(),
            #[cfg(feature = "lambda")]
            lambda: OnceCell::new(),
            #[cfg(feature = "ec2")]
            ec2: OnceCell::new(),
            #[cfg(any(feature = "ssm", feature = "ec2"))]
            ssm: OnceCell::new(),
            #[cfg(feature = "s3")]
            s3: OnceCell::new(),
            #[cfg(feature = "cloudtrail")]
            cloudtrail: OnceCell::new(),
            #[cfg(feature = "kms")]
            kms: OnceCell::new(),
        }
    }

    /// How long the kinds wait for AWS to catch up.
    pub(crate) fn waits(&self) -> &Waits {
        &self.options.waits
    }

    /// The loaded shared configuration: the standard credential chain,
    /// `AWS_ENDPOINT_URL`, and the region, profile and endpoint overrides.
    pub async fn config(&self) -> &SdkConfig {
        self.config.get_or_init(|| load_config(&self.options)).await
    }

    pub async fn sts(&self) -> &aws_sdk_sts::Client {
        let config = self.config().await;
        self.sts
            .get_or_init(|| async {
                aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    /// The Resource Groups Tagging API, which finds resources by their tags
    /// across services (what `cairn sweep` starts from).
    pub async fn tagging(&self) -> &aws_sdk_resourcegroupstagging::Client {
        let config = self.config().await;
        self.tagging
            .get_or_init(|| async {
                aws_sdk_resourcegroupstagging::Client::from_conf(
                    aws_sdk_resourcegroupstagging::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "sns")]
    pub async fn sns(&self) -> &aws_sdk_sns::Client {
        let config = self.config().await;
        self.sns
            .get_or_init(|| async {
                aws_sdk_sns::Client::from_conf(
                    aws_sdk_sns::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "events")]
    pub async fn events(&self) -> &aws_sdk_eventbridge::Client {
        let config = self.config().await;
        self.events
            .get_or_init(|| async {
                aws_sdk_eventbridge::Client::from_conf(
                    aws_sdk_eventbridge::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "sqs")]
    pub async fn sqs(&self) -> &aws_sdk_sqs::Client {
        let config = self.config().await;
        self.sqs
            .get_or_init(|| async {
                aws_sdk_sqs::Client::from_conf(
                    aws_sdk_sqs::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "logs")]
    pub async fn logs(&self) -> &aws_sdk_cloudwatchlogs::Client {
        let config = self.config().await;
        self.logs
            .get_or_init(|| async {
                aws_sdk_cloudwatchlogs::Client::from_conf(
                    aws_sdk_cloudwatchlogs::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "cloudwatch")]
    pub async fn cloudwatch(&self) -> &aws_sdk_cloudwatch::Client {
        let config = self.config().await;
        self.cloudwatch
            .get_or_init(|| async {
                aws_sdk_cloudwatch::Client::from_conf(
                    aws_sdk_cloudwatch::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "iam")]
    pub async fn iam(&self) -> &aws_sdk_iam::Client {
        let config = self.config().await;
        self.iam
            .get_or_init(|| async {
                aws_sdk_iam::Client::from_conf(
                    aws_sdk_iam::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    /// Lambda's client paces its control-plane calls below Lambda's
    /// 15-a-second quota (see [`crate::pace`]).
    #[cfg(feature = "lambda")]
    pub async fn lambda(&self) -> &aws_sdk_lambda::Client {
        let config = self.config().await;
        self.lambda
            .get_or_init(|| async {
                aws_sdk_lambda::Client::from_conf(
                    aws_sdk_lambda::config::Builder::from(config)
                        .interceptor(NameCalls)
                        .http_client(crate::pace::paced_https_client())
                        .build(),
                )
            })
            .await
    }

    #[cfg(feature = "ec2")]
    pub async fn ec2(&self) -> &aws_sdk_ec2::Client {
        let config = self.config().await;
        self.ec2
            .get_or_init(|| async {
                aws_sdk_ec2::Client::from_conf(
                    aws_sdk_ec2::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(any(feature = "ssm", feature = "ec2"))]
    pub async fn ssm(&self) -> &aws_sdk_ssm::Client {
        let config = self.config().await;
        self.ssm
            .get_or_init(|| async {
                aws_sdk_ssm::Client::from_conf(
                    aws_sdk_ssm::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    /// Path-style addressing: virtual-host names (`bucket.localhost`) do not
    /// resolve against an emulator endpoint.
    #[cfg(feature = "s3")]
    pub async fn s3(&self) -> &aws_sdk_s3::Client {
        let config = self.config().await;
        self.s3
            .get_or_init(|| async {
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(config).force_path_style(true).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "cloudtrail")]
    pub async fn cloudtrail(&self) -> &aws_sdk_cloudtrail::Client {
        let config = self.config().await;
        self.cloudtrail
            .get_or_init(|| async {
                aws_sdk_cloudtrail::Client::from_conf(
                    aws_sdk_cloudtrail::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }

    #[cfg(feature = "kms")]
    pub async fn kms(&self) -> &aws_sdk_kms::Client {
        let config = self.config().await;
        self.kms
            .get_or_init(|| async {
                aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(config).interceptor(NameCalls).build(),
                )
            })
            .await
    }
}
