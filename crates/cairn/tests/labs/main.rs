//! The six labs end to end, in both their YAML and their Rust forms.
//!
//! For each lab: both forms validate to the same stack and plan the same; each
//! form applies on the emulator, is checked with direct SDK reads (never
//! cairn's own read code), re-plans with no change and no write, is destroyed,
//! and leaves nothing of its stack behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

#[allow(dead_code)]
#[path = "../../../../examples/lab1_notifications.rs"]
mod lab1_example;
#[allow(dead_code)]
#[path = "../../../../examples/lab2_ec2_logging.rs"]
mod lab2_example;
#[allow(dead_code)]
#[path = "../../../../examples/lab3_access_alerts.rs"]
mod lab3_example;
#[allow(dead_code)]
#[path = "../../../../examples/lab4_simple_lambda.rs"]
mod lab4_example;
#[allow(dead_code)]
#[path = "../../../../examples/lab5_lambda_cli.rs"]
mod lab5_example;
#[allow(dead_code)]
#[path = "../../../../examples/lab6_sqs_lambda.rs"]
mod lab6_example;

mod access_logging;
mod chaos;
mod delivery;
mod lab1;
mod lab2;
mod lab3;
mod lab4;
mod lab5;
mod lab6;
mod strict;
