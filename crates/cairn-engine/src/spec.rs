//! The stack model that both front ends produce.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::value::Json;

/// A whole stack: what the user wants to exist.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StackSpec {
    /// `[a-z0-9-]`, 1 to 40 characters; prefixes physical names.
    pub name: String,
    /// When absent, the AWS chain's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamSpec>,
    /// Tags put on every taggable resource, besides cairn's ownership tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// How long the stack may live after each apply (`4h`, `2d`): apply
    /// records the time it ends on state and tags every taggable resource
    /// `cairn:expires` with it, for `cairn sweep --expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// In the order written.
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// Name to value (which may hold refs), in the order written.
    #[serde(default)]
    pub outputs: Vec<(String, Json)>,
    /// Resources renamed in the stack: the state's `from` is now `to`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<Moved>,
    /// Where the stack's state is kept and how (`state:`); none means the
    /// command line's choice (`--state`, else `--state-dir`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSpec>,
    /// Where relative paths in props start: the stack file's directory for a
    /// YAML stack; unset means the working directory. Not part of the stack's
    /// content, so never serialized.
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// A stack's say in where its state is kept (`state:`). The command line
/// (`--state`, `CAIRN_STATE`, an explicit `--state-dir`) overrides it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSpec {
    /// `s3://BUCKET/PREFIX[?region=REGION]`; none: local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// S3 only: the KMS key the state and lock objects are written under
    /// (SSE-KMS), whatever the bucket's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    /// Client-side encryption of the state document, for either backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<StateEncryption>,
}

/// How the state document is encrypted before it is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEncryption {
    /// A key derived from the passphrase in this environment variable.
    PassphraseEnv(String),
    /// A data key from this KMS key.
    KmsKey(String),
}

/// Seconds of a duration (a time to live, an age) written `90s`, `30m`, `4h`, `2d` or `1w` (a
/// number and one unit), at least a second and at most 366 days.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let expected = || format!("expected a duration such as 90s, 30m, 4h, 2d or 1w, got `{text}`");
    let n: u64 = digits.parse().map_err(|_| expected())?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(expected()),
    };
    let secs = n.saturating_mul(unit);
    if !(1..=366 * 86_400).contains(&secs) {
        return Err(format!("`{text}` is out of range: from 1s to 366d"));
    }
    Ok(secs)
}

/// A resource id that changed: what state knows as `from` is `to` in the
/// stack, kept in AWS as it is (no delete, no create).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

/// A declared parameter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
    /// Masked wherever values are shown.
    #[serde(default)]
    pub secret: bool,
    /// What the value must be; a given value is read as one. Unset: any
    /// value, read as the default's type (text when there is none).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub value_type: Option<ParamType>,
    /// The smallest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest number allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// The type of a parameter's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    String,
    Number,
    Integer,
    Boolean,
}

impl ParamType {
    pub const NAMES: &[&str] = &["string", "number", "integer", "boolean"];

    pub fn parse(name: &str) -> Option<ParamType> {
        match name {
            "string" => Some(ParamType::String),
            "number" => Some(ParamType::Number),
            "integer" => Some(ParamType::Integer),
            "boolean" => Some(ParamType::Boolean),
            _ => None,
        }
    }
    /// In words, for messages: "a whole number".
    pub fn describe(self) -> &'static str {
        match self {
            ParamType::String => "text",
            ParamType::Number => "a number",
            ParamType::Integer => "a whole number",
            ParamType::Boolean => "true or false",
        }
    }
    /// Whether `value` is of this type.
    pub fn admits(self, value: &Json) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Number => value.is_number(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Boolean => value.is_boolean(),
        }
    }
}

/// One resource of the stack.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceSpec {
    /// `[a-z][a-z0-9-]*`, unique in the stack.
    pub id: String,
    /// `aws:<service>:<Kind>`.
    pub kind: String,
    /// The kind's props; strings may hold `${…}` references.
    pub props: Json,
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default)]
    pub options: ResourceOptions,
    /// Added by the provider's glue, not written by the user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// Props the provider's glue set (or defaults it chose for this
    /// resource), each with why and how to turn it off, which the plan shows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived_props: BTreeMap<String, String>,
}

/// Lifecycle options of a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceOptions {
    /// On destroy or removal, leave it in AWS and forget it.
    #[serde(default)]
    pub retain: bool,
    /// Refuse to delete or replace it.
    #[serde(default)]
    pub protect: bool,
    /// Derive the glue this resource needs (policies, permissions).
    #[serde(default = "yes")]
    pub auto_wire: bool,
}

fn yes() -> bool {
    true
}

impl Default for ResourceOptions {
    fn default() -> Self {
        ResourceOptions { retain: false, protect: false, auto_wire: true }
    }
}

impl StackSpec {
    pub fn resource(&self, id: &str) -> Option<&ResourceSpec> {
        self.resources.iter().find(|r| r.id == id)
    }
}

/// Whether a stack name is valid: `[a-z0-9-]`, 1 to 40 characters, starting
/// with a letter.
pub fn valid_stack_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Whether a resource id is valid: `[a-z][a-z0-9-]*`.
pub fn valid_resource_id(id: &str) -> bool {
    id.starts_with(|c: char| c.is_ascii_lowercase())
        && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && id.len() <= 64
}
