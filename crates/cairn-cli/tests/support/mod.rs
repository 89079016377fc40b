//! What the emulator tests driving the binary share: the `cairn` command
//! pointed at the emulator, exit-code checks, and SDK clients for looking
//! at what it did without cairn's own read code.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cairn::aws::{AwsOptions, Clients};
use cairn_testkit::emulator;

/// The `cairn` binary with the emulator's endpoint and test credentials,
/// its state in `state_dir`, no terminal and no colour.
pub fn cairn(state_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cairn"));
    c.env("AWS_ENDPOINT_URL", emulator::endpoint())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .env_remove("CAIRN_STATE_DIR")
        .env("NO_COLOR", "1")
        .arg("--state-dir")
        .arg(state_dir)
        .stdin(Stdio::null());
    c
}

/// Asserts the exit code, showing stderr and stdout when it differs;
/// returns stderr.
pub fn expect(out: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}\nstdout: {}", String::from_utf8_lossy(&out.stdout));
    stderr
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

/// SDK clients on the emulator.
pub fn clients() -> Clients {
    Clients::new(AwsOptions { endpoint_url: Some(emulator::endpoint()), ..AwsOptions::default() })
}

/// Makes bucket `name`, versioned, as docs/state.md sets up a state bucket.
pub async fn versioned_bucket(s3: &aws_sdk_s3::Client, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    s3.create_bucket().bucket(name).send().await?;
    let on = aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning().bucket(name).versioning_configuration(on).send().await?;
    Ok(())
}

/// A lab's stack file (`lab1-notifications`...) under another stack name,
/// written into `dir`.
pub fn lab(dir: &Path, lab: &str, stack: &str) -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    let source = format!("{}/../../stacks/{lab}.yaml", env!("CARGO_MANIFEST_DIR"));
    let file = dir.join(format!("{stack}.yaml"));
    std::fs::write(
        &file,
        std::fs::read_to_string(source)?.replace(&format!("stack: {lab}"), &format!("stack: {stack}")),
    )?;
    Ok(file)
}
