//! cairn: infrastructure as code for AWS labs and small stacks.
//!
//! Write a stack in Rust with typed builders (or in YAML for the `cairn`
//! binary), then plan, apply and destroy it with the same engine:
//!
//! ```no_run
//! use cairn::{Stack, events, sns};
//! use serde_json::json;
//!
//! fn main() -> std::process::ExitCode {
//!     let mut stack = Stack::new("lab1-notifications");
//!     let email = stack.param("email", "where state changes are sent");
//!     let topic = stack.add("alerts", sns::Topic::new().display_name("EC2 alerts"));
//!     stack.add("ops-email", sns::Subscription::email(topic.arn(), email));
//!     let rule = events::Rule::on_pattern(json!({"source": ["aws.ec2"]}));
//!     stack.add("ec2-state", rule.target(events::target(topic.arn())));
//!     cairn::cli::run(stack)
//! }
//! ```
//!
//! Each kind has its own builder type (`sqs::Queue`), handles give typed
//! attributes ([`Arn`], [`Url`], [`Name`], [`Id`]) that fit only the setters
//! that take them, and a typed [`Param`] feeds any setter of its type:
//!
//! ```
//! use cairn::{Param, Stack, iam, lambda, sqs};
//!
//! let mut stack = Stack::new("jobs");
//! let timeout = stack.declare(Param::<u32>::new("timeout").default(30).range(1, 900));
//! let jobs = stack.add("jobs", sqs::Queue::new().visibility_timeout(&timeout));
//! let role = stack.add("role", iam::Role::trusted_by(&["lambda.amazonaws.com"]));
//! let worker = stack.add(
//!     "worker",
//!     lambda::Function::inline("python3.13", "index.handler", role.arn(), "def handler(e, c): pass").timeout(&timeout),
//! );
//! stack.add("trigger", lambda::EventSourceMapping::new(worker.arn(), jobs.arn())); // jobs.url() would not compile
//! # let (valid, diags) = cairn::engine::validate::validate(stack.spec(), &cairn::aws::registry(), &Default::default());
//! # assert!(valid.is_some(), "{diags:?}");
//! ```

pub mod cli;
pub mod reference;
pub mod schema;
pub mod stack;

#[cfg(all(feature = "logs", feature = "cloudwatch", feature = "sns"))]
pub mod cis;
#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "events")]
pub mod events;
#[cfg(feature = "iam")]
pub mod iam;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "lambda")]
pub mod lambda;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
#[cfg(feature = "ssm")]
pub mod ssm;

pub use cairn_aws as aws;
pub use cairn_engine as engine;
pub use stack::{
    AnyKind, Arn, Handle, Id, Name, NameOrArn, Param, ParamValue, Ref, Resource, Stack, StateEncryption, Url, Value,
    lit, pseudo,
};
