//! `aws:ssm:Parameter`: a Systems Manager Parameter Store parameter.
//! Physical id: the parameter name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_ssm::operation::describe_parameters::DescribeParametersOutput;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType as SdkParameterType, ResourceTypeForTagging, Tag};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::unresolved;
use crate::normalize::optional_text;
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A Systems Manager Parameter Store parameter, plain text or a list.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParameterProps {
    /// Parameter name: `a-z A-Z 0-9 _ . - /`; hierarchical names start with
    /// `/`. Default `/cairn/<stack>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value: up to 4096 characters; for `StringList`, comma-separated.
    pub value: String,
    /// `String` or `StringList`. Cannot change in place.
    #[serde(default)]
    pub r#type: ParameterType,
    /// What the parameter holds; at most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The parameter's type.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ParameterType {
    #[default]
    String,
    StringList,
    /// Encrypted with KMS; not supported yet.
    SecureString,
}

/// The `aws:ssm:Parameter` kind.
pub struct Parameter {
    clients: Arc<Clients>,
}

impl Parameter {
    pub fn new(clients: Arc<Clients>) -> Self {
        Parameter { clients }
    }
}

/// AWS's limit for the full parameter ARN, which holds the name.
const MAX_NAME: usize = 1011;
const MAX_LEVELS: usize = 15;
/// Standard tier.
const MAX_VALUE: usize = 4096;
const MAX_DESCRIPTION: usize = 1024;
const NOT_FOUND: &str = "ParameterNotFound";

#[async_trait]
impl TypedKind for Parameter {
    const TYPE: &'static str = "aws:ssm:Parameter";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name"];
    const REPLACE_ON: &'static [&'static str] = &["name", "type"];
    type Props = ParameterProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the parameter's name (`/like/this`)",
        attributes: &[("arn", "the parameter's ARN"), ("name", "the parameter's name")],
        quirks: &[
            "PutParameter without overwrite fails on an existing name: a parameter a died run left is taken over only if tagged as this resource.",
            "Without a description PutParameter keeps the old one: an unset description is sent as empty to clear it.",
            "GetParameter leaves out the description: it is read from DescribeParameters, page by page (SSM may answer empty pages).",
            "Names are checked offline, including the ARN length limit.",
        ],
    };

    fn defaults(props: &mut ParameterProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(format!("/cairn/{}/{}", cx.stack, cx.id));
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &ParameterProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
            && let Err(problem) = check_parameter_name(name)
        {
            errors.push(PropError::new(&["name"], format!("parameter name `{name}` {problem}")).expected(
                "`a-z A-Z 0-9 _ . - /`, a leading `/` for a hierarchy of at most 15 levels, not starting with `aws` or `ssm`",
            ));
        }
        if props.r#type == ParameterType::SecureString {
            errors.push(
                PropError::new(&["type"], "SecureString parameters are not supported yet")
                    .expected("`String` or `StringList`"),
            );
        }
        if !unresolved(&props.value) {
            let len = props.value.chars().count();
            if len == 0 || len > MAX_VALUE {
                errors.push(
                    PropError::new(&["value"], format!("the value is {len} characters long"))
                        .expected(format!("1 to {MAX_VALUE} characters")),
                );
            }
        }
        if let Some(d) = &props.description
            && d.chars().count() > MAX_DESCRIPTION
        {
            errors.push(
                PropError::new(&["description"], format!("the description is {} characters long", d.chars().count()))
                    .expected(format!("at most {MAX_DESCRIPTION} characters")),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &ParameterProps) -> Result<Observed<ParameterProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("/cairn/{}/{}", cx.stack, cx.resource));
        let ssm = self.clients.ssm().await;
        let action = format!("creating SSM parameter {name}");

        let mut tags = Vec::new();
        for (k, v) in &cx.tags {
            tags.push(ssm_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
        }
        let put = ssm
            .put_parameter()
            .name(&name)
            .value(&props.value)
            .r#type(sdk_type(props.r#type))
            .set_description(props.description.clone())
            .set_tags(Some(tags))
            .send()
            .await;
        match put {
            Ok(_) => Ok(observed(&cx.env, &name, props.clone())),
            // PutParameter without overwrite fails on an existing name, so no
            // look first: a parameter left by a run that died, or by an
            // earlier try of this call whose answer was lost, is adopted only
            // if its tags say it is this resource's.
            Err(e) if e.code() == Some("ParameterAlreadyExists") => {
                let live =
                    self.read_props(&name, props).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(live) = live else { return Err(aws_error(&action, &e)) };
                let tags = parameter_tags(ssm, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                cx.ensure_owns(&tags, format!("SSM parameter {name}"))?;
                if live.r#type != props.r#type {
                    return Err(OpError::failed(format!(
                        "{action}: a parameter of that name already exists with type {:?}; it cannot change in place",
                        live.r#type
                    )));
                }
                self.converge(cx, &name, &live, props, &action).await?;
                Ok(observed(&cx.env, &name, props.clone()))
            }
            Err(e) => Err(aws_error(&action, &e)),
        }
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        cx: &OpCtx,
        name: &str,
        last: &ParameterProps,
    ) -> Result<Option<Observed<ParameterProps>>, OpError> {
        let props = self
            .read_props(name, last)
            .await
            .map_err(|e| OpError::failed(format!("reading SSM parameter {name}: {e}")))?;
        Ok(props.map(|p| observed(&cx.env, name, p)))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        old: &ParameterProps,
        new: &ParameterProps,
    ) -> Result<Observed<ParameterProps>, OpError> {
        let action = format!("updating SSM parameter {name}");
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read_props(name, old).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Err(OpError::failed(format!("{action}: the parameter no longer exists")));
        };
        self.converge(cx, name, &live, new, &action).await?;
        Ok(observed(&cx.env, name, new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let ssm = self.clients.ssm().await;
        live_tags_of(&format!("SSM parameter {name}"), parameter_exists(ssm, name), |()| parameter_tags(ssm, name))
            .await
    }

    async fn add_tags(&self, _cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let ssm = self.clients.ssm().await;
        add_tags_to(&format!("SSM parameter {name}"), parameter_exists(ssm, name), |(), action| async move {
            set_tags(ssm, name, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, _cx: &OpCtx, name: &str, _props: &ParameterProps) -> Result<(), OpError> {
        let ssm = self.clients.ssm().await;
        match ssm.delete_parameter().name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(aws_error(&format!("deleting SSM parameter {name}"), &e)),
        }
    }
}

impl Parameter {
    /// Overwrites value and description where `live` differs, then the tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        name: &str,
        live: &ParameterProps,
        want: &ParameterProps,
        action: &str,
    ) -> Result<(), OpError> {
        let ssm = self.clients.ssm().await;
        if live.value != want.value || live.description != want.description {
            // Without a description PutParameter keeps the old one: "" clears it.
            ssm.put_parameter()
                .name(name)
                .value(&want.value)
                .r#type(sdk_type(want.r#type))
                .description(want.description.clone().unwrap_or_default())
                .overwrite(true)
                .send()
                .await
                .map_err(|e| aws_error(action, &e))?;
        }
        let live_tags = parameter_tags(ssm, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
        let changes = tag_changes(&live_tags, &cx.tags);
        set_tags(ssm, name, &changes.set, &format!("{action}: tagging")).await?;
        if !changes.remove.is_empty() {
            ssm.remove_tags_from_resource()
                .resource_type(ResourceTypeForTagging::Parameter)
                .resource_id(name)
                .set_tag_keys(Some(changes.remove))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
        }
        Ok(())
    }

    /// The parameter's props in canonical form, or `None` when it is gone.
    async fn read_props(&self, name: &str, last: &ParameterProps) -> Result<Option<ParameterProps>, String> {
        let ssm = self.clients.ssm().await;
        // GetParameter leaves the description out; DescribeParameters has it.
        // Both at once: one round trip.
        let filter = ParameterStringFilter::builder()
            .key("Name")
            .option("Equals")
            .values(name)
            .build()
            .map_err(|e| e.to_string())?;
        let (param, description) = tokio::join!(
            ssm.get_parameter().name(name).send(),
            description_of(name, |token| {
                ssm.describe_parameters().parameter_filters(filter.clone()).set_next_token(token).send()
            })
        );
        let param = match param {
            Ok(out) => match out.parameter() {
                Some(p) => p.clone(),
                None => return Ok(None),
            },
            Err(e) if e.code() == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(aws_error("GetParameter", &e).to_string()),
        };
        let description = description.map_err(|e| aws_error("DescribeParameters", &e).to_string())?;
        Ok(Some(ParameterProps {
            name: Some(param.name().unwrap_or(name).to_string()),
            value: param.value().unwrap_or_default().to_string(),
            r#type: match param.r#type() {
                Some(SdkParameterType::StringList) => ParameterType::StringList,
                Some(SdkParameterType::SecureString) => ParameterType::SecureString,
                _ => ParameterType::String,
            },
            description: optional_text(description.as_deref(), last.description.as_ref()),
        }))
    }
}

// ---- pure helpers ------------------------------------------------------------

/// Why a parameter name breaks SSM's naming rules, if it does.
pub fn check_parameter_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("is {} characters long", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))) {
        return Err(format!("contains `{bad}`"));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err("has `/` but does not start with one".to_string());
    }
    if name.contains("//") || (name.len() > 1 && name.ends_with('/')) {
        return Err("has an empty level".to_string());
    }
    let levels = name.trim_start_matches('/').split('/').count();
    if levels > MAX_LEVELS {
        return Err(format!("has {levels} levels"));
    }
    let first = name.trim_start_matches('/').to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("starts with the reserved prefix `aws` or `ssm`".to_string());
    }
    Ok(())
}

/// `arn:{partition}:ssm:{region}:{account}:parameter/{name without its leading /}`.
pub fn parameter_arn(env: &Environment, name: &str) -> String {
    format!("arn:{}:ssm:{}:{}:parameter/{}", env.partition, env.region, env.account_id, name.trim_start_matches('/'))
}

fn sdk_type(t: ParameterType) -> SdkParameterType {
    match t {
        ParameterType::String => SdkParameterType::String,
        ParameterType::StringList => SdkParameterType::StringList,
        ParameterType::SecureString => SdkParameterType::SecureString,
    }
}

fn observed(env: &Environment, name: &str, props: ParameterProps) -> Observed<ParameterProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(parameter_arn(env, name)));
    attrs.insert("name".to_string(), Value::String(name.to_string()));
    Observed { physical_id: name.to_string(), props, attrs }
}

fn ssm_tag(k: &str, v: &str) -> Result<Tag, String> {
    Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))
}

/// Sets these tags on the parameter (AddTagsToResource), leaving its others
/// alone; errors start with `action`.
async fn set_tags(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut req = ssm.add_tags_to_resource().resource_type(ResourceTypeForTagging::Parameter).resource_id(name);
    for (k, v) in tags {
        req = req.tags(ssm_tag(k, v).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
    }
    req.send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

// ---- finders -----------------------------------------------------------------

/// `Some` when the parameter exists.
async fn parameter_exists(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<()>, String> {
    match ssm.get_parameter().name(name).send().await {
        Ok(_) => Ok(Some(())),
        Err(e) if e.code() == Some(NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error("GetParameter", &e).to_string()),
    }
}

/// The parameter's tags.
async fn parameter_tags(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<BTreeMap<String, String>, String> {
    let out = ssm
        .list_tags_for_resource()
        .resource_type(ResourceTypeForTagging::Parameter)
        .resource_id(name)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsForResource", &e).to_string())?;
    Ok(out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
}

/// The description DescribeParameters gives the parameter `name`; `page`
/// fetches the page after the given token (`None`: the first). Even with a
/// filter on the name, SSM may answer pages with nothing in them and a
/// NextToken, so pages are read until the parameter or the last page.
async fn description_of<F, Fut, E>(name: &str, mut page: F) -> Result<Option<String>, E>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<DescribeParametersOutput, E>>,
{
    let mut token = None;
    loop {
        let out = page(token).await?;
        if let Some(p) = out.parameters().iter().find(|p| p.name() == Some(name)) {
            return Ok(p.description().map(ToString::to_string));
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<ParameterProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Parameter::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab2", id: "agent-config", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn default_name_is_a_cairn_path() {
        let p = check(json!({"value": "v"})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("/cairn/lab2/agent-config"));
        assert_eq!(p.r#type, ParameterType::String);
    }

    #[test]
    fn props_are_checked_offline() {
        assert!(check(json!({})).is_err(), "value is required");
        assert!(check(json!({"value": ""})).is_err());
        assert!(check(json!({"value": "x".repeat(4097)})).is_err());
        assert!(check(json!({"value": "a,b", "type": "StringList"})).is_ok());
        let secure = check(json!({"value": "s", "type": "SecureString"})).err().unwrap_or_default();
        assert!(secure.iter().any(|e| e.message.contains("not supported yet")), "{secure:?}");
        assert!(check(json!({"value": "v", "type": "Bogus"})).is_err());
        assert!(check(json!({"value": "v", "name": "plain.name-1"})).is_ok());
        for bad in ["a/b", "/a//b", "/has space", "/aws/mine", "ssm-x", "/a/"] {
            assert!(check(json!({"value": "v", "name": bad})).is_err(), "{bad}");
        }
        let deep = format!("/{}", vec!["l"; 16].join("/"));
        assert!(check(json!({"value": "v", "name": deep})).is_err());
        assert!(check(json!({"value": "v", "description": "d".repeat(1025)})).is_err());
        assert!(check(json!({"value": "${cfg.json}"})).is_ok());
    }

    #[test]
    fn arn_drops_the_leading_slash() {
        let env = Environment { account_id: "1".into(), region: "us-east-1".into(), partition: "aws".into() };
        assert_eq!(parameter_arn(&env, "/cairn/s/p"), "arn:aws:ssm:us-east-1:1:parameter/cairn/s/p");
        assert_eq!(parameter_arn(&env, "flat"), "arn:aws:ssm:us-east-1:1:parameter/flat");
    }

    /// Fake DescribeParameters pages: each the names and descriptions it
    /// holds, and whether a NextToken follows.
    fn pages(pages: &[(&[(&str, &str)], bool)]) -> Vec<DescribeParametersOutput> {
        pages
            .iter()
            .enumerate()
            .map(|(i, (params, more))| {
                let mut out = DescribeParametersOutput::builder();
                for (name, description) in *params {
                    out = out.parameters(
                        aws_sdk_ssm::types::ParameterMetadata::builder().name(*name).description(*description).build(),
                    );
                }
                if *more {
                    out = out.next_token(format!("t{}", i + 1));
                }
                out.build()
            })
            .collect()
    }

    /// Runs [`description_of`] over `pages`, answering each token with the
    /// page it names; the tokens asked for are returned too.
    async fn described(name: &str, pages: Vec<DescribeParametersOutput>) -> (Option<String>, Vec<Option<String>>) {
        let mut asked = Vec::new();
        let found = description_of(name, |token: Option<String>| {
            let i = token.as_deref().map_or(0, |t| t.trim_start_matches('t').parse::<usize>().unwrap_or(usize::MAX));
            asked.push(token);
            let page = pages.get(i).cloned().ok_or("asked for a page past the last");
            async move { page }
        })
        .await;
        (found.unwrap_or_else(|e| panic!("{e}")), asked)
    }

    #[tokio::test]
    async fn the_description_is_looked_for_past_empty_pages() {
        let (found, asked) = described("/p", pages(&[(&[], true), (&[("/p", "the one")], false)])).await;
        assert_eq!(found.as_deref(), Some("the one"));
        assert_eq!(asked, [None, Some("t1".to_string())]);
    }

    #[tokio::test]
    async fn paging_stops_at_the_match_or_the_last_page() {
        let (found, asked) = described("/p", pages(&[(&[("/p", "d")], true), (&[], false)])).await;
        assert_eq!((found.as_deref(), asked.len()), (Some("d"), 1), "no page after the match");
        let (found, asked) = described("/p", pages(&[(&[("/p-2", "other")], true), (&[], true), (&[], false)])).await;
        assert_eq!((found, asked.len()), (None, 3));
    }
}
