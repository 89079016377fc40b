//! cairn's AWS provider: one file per resource kind under [`kinds`], the
//! shared SDK clients, and the [`AwsProvider`] the engine drives.
//!
//! Nothing here loads AWS configuration until an operation needs it, so
//! [`registry`] and offline validation work without credentials.

// Helpers are shared by the kinds; a build with only some service features
// leaves some of them unused.
#![cfg_attr(
    not(all(feature = "sns", feature = "events")),
    allow(dead_code, unused_imports, unused_variables, unused_mut)
)]

/// `cairn check` uses most services; a build without them has none.
#[cfg(all(
    feature = "sns",
    feature = "sqs",
    feature = "events",
    feature = "logs",
    feature = "cloudwatch",
    feature = "lambda",
    feature = "cloudtrail",
    feature = "ec2"
))]
pub mod check;
mod clients;
mod error;
pub mod glue;
pub mod kinds;
mod limits;
mod normalize;
mod pace;
mod provider;
mod retry;
#[cfg(feature = "s3")]
pub mod state;
pub mod sweep;
mod tags;

pub use clients::{AwsOptions, Clients};
pub use provider::{AwsProvider, partition_for_region, registry};
pub use retry::Waits;
