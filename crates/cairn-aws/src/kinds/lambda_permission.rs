//! `aws:lambda:Permission`: one statement in a function's resource policy,
//! letting a principal (a service, an account) invoke it. Physical id:
//! `<function>/<statement id>`. There is no update API: every change replaces.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use cairn_engine::kind::{AttrType, RefProp};
use cairn_engine::kind::{KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::{aws_error, is_not_found};
use crate::kinds::lambda_function::{already_exists, retrying};
use crate::kinds::unresolved;
use crate::normalize::{account_of_root, parse_document};

// ---- props -----------------------------------------------------------------

/// One statement in a function's resource policy, letting a principal (a
/// service, an account) invoke it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PermissionProps {
    /// The function: name or ARN.
    pub function: String,
    /// Who: a service (`events.amazonaws.com`), an account id or ARN, or `*`.
    pub principal: String,
    /// Default `lambda:InvokeFunction`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Only on behalf of this resource (e.g. the rule or topic ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    /// Only on behalf of resources of this account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    /// The statement id. Default `<stack>-<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_id: Option<String>,
}

/// The `aws:lambda:Permission` kind.
pub struct Permission {
    clients: Arc<Clients>,
}

impl Permission {
    pub fn new(clients: Arc<Clients>) -> Self {
        Permission { clients }
    }
}

const DEFAULT_ACTION: &str = "lambda:InvokeFunction";
const MAX_SID: usize = 100;

#[async_trait]
impl TypedKind for Permission {
    const TYPE: &'static str = "aws:lambda:Permission";
    const ATTRIBUTES: &'static [&'static str] = &[];
    const REPLACE_ON: &'static [&'static str] = &["*"];
    const REF_PROPS: &'static [RefProp] = &[
        RefProp {
            path: &["function"],
            when: None,
            accepts: &[AttrType::Arn("aws:lambda:Function"), AttrType::Name("aws:lambda:Function")],
        },
        RefProp { path: &["source_arn"], when: None, accepts: &[AttrType::Arn("*")] },
    ];
    type Props = PermissionProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "`<function>/<statement id>`",
        attributes: &[],
        quirks: &[
            "There is no update API: any change replaces the statement.",
            "An account id is stored by AWS as `arn:aws:iam::<account>:root`: both read as the same principal.",
            "A statement left by a run that died is taken over only when it grants the same.",
        ],
    };

    fn defaults(props: &mut PermissionProps, cx: &NameCtx<'_>) {
        if props.action.is_none() {
            props.action = Some(DEFAULT_ACTION.to_string());
        }
        if props.statement_id.is_none() {
            props.statement_id = Some(cx.default_name());
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &PermissionProps, errors: &mut Vec<PropError>) {
        if props.function.is_empty() {
            errors.push(PropError::new(&["function"], "the function is empty").expected("a function name or ARN"));
        }
        if props.principal.is_empty() {
            errors.push(
                PropError::new(&["principal"], "the principal is empty")
                    .expected("a service like `events.amazonaws.com`, an account id, or `*`"),
            );
        }
        if let Some(a) = &props.action
            && !unresolved(a)
            && !a.starts_with("lambda:")
        {
            errors.push(
                PropError::new(&["action"], format!("`{a}` is not a Lambda action"))
                    .expected("an action like `lambda:InvokeFunction`"),
            );
        }
        if let Some(sid) = &props.statement_id
            && !unresolved(sid)
            && (sid.is_empty()
                || sid.len() > MAX_SID
                || sid.chars().any(|c| !(c.is_ascii_alphanumeric() || "-_.".contains(c))))
        {
            errors.push(
                PropError::new(&["statement_id"], format!("statement id `{sid}` is not valid"))
                    .expected(format!("1 to {MAX_SID} of letters, digits, `-`, `_` and `.`")),
            );
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &PermissionProps) -> Result<Observed<PermissionProps>, OpError> {
        let sid = statement_id(props, cx);
        let lambda = self.clients.lambda().await;
        let action = format!("adding Lambda permission {sid} to {}", props.function);
        let physical_id = format!("{}/{sid}", props.function);

        // A statement of this id (named after the stack and resource) left by
        // a run that died is adopted when it grants the same; else refused.
        if let Some(adopted) = self.adopt(props, &sid, &physical_id, &action).await? {
            return Ok(adopted);
        }

        let req = lambda
            .add_permission()
            .function_name(&props.function)
            .statement_id(&sid)
            .action(props.action.as_deref().unwrap_or(DEFAULT_ACTION))
            .principal(&props.principal)
            .set_source_arn(props.source_arn.clone())
            .set_source_account(props.source_account.clone());
        match retrying(cx, self.clients.waits(), &action, || req.clone().send()).await {
            Ok(_) => Ok(observed(physical_id, props.clone())),
            // An earlier try whose answer was lost added the statement.
            Err(f) if already_exists(&f.error) => match self.adopt(props, &sid, &physical_id, &action).await? {
                Some(adopted) => Ok(adopted),
                None => Err(f.op_error(&action)),
            },
            Err(f) => Err(f.op_error(&action)),
        }
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        _cx: &OpCtx,
        physical_id: &str,
        last: &PermissionProps,
    ) -> Result<Option<Observed<PermissionProps>>, OpError> {
        let (function, sid) = split_id(physical_id);
        let lambda = self.clients.lambda().await;
        let live = find_statement(lambda, function, sid)
            .await
            .map_err(|e| OpError::failed(format!("reading Lambda permission {sid} on {function}: {e}")))?;
        Ok(live.map(|s| observed(physical_id.to_string(), props_from_statement(&s, last))))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        _cx: &OpCtx,
        physical_id: &str,
        _old: &PermissionProps,
        _new: &PermissionProps,
    ) -> Result<Observed<PermissionProps>, OpError> {
        // REPLACE_ON is `*`: the engine replaces instead.
        Err(OpError::failed(format!("updating Lambda permission {physical_id}: permissions cannot change in place")))
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, physical_id: &str, _props: &PermissionProps) -> Result<(), OpError> {
        let (function, sid) = split_id(physical_id);
        let lambda = self.clients.lambda().await;
        let action = format!("removing Lambda permission {sid} from {function}");
        let req = lambda.remove_permission().function_name(function).statement_id(sid);
        match retrying(cx, self.clients.waits(), &action, || req.clone().send()).await {
            Ok(_) => Ok(()),
            Err(f) if is_not_found(&f.error) => Ok(()),
            Err(f) => Err(f.op_error(&action)),
        }
    }
}

impl Permission {
    /// The existing statement of this id, if it grants exactly `props`;
    /// `None` if there is none; refused if it grants something else.
    async fn adopt(
        &self,
        props: &PermissionProps,
        sid: &str,
        physical_id: &str,
        action: &str,
    ) -> Result<Option<Observed<PermissionProps>>, OpError> {
        let lambda = self.clients.lambda().await;
        let Some(live) = find_statement(lambda, &props.function, sid)
            .await
            .map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Ok(None);
        };
        if props_from_statement(&live, props) == *props {
            return Ok(Some(observed(physical_id.to_string(), props.clone())));
        }
        Err(OpError::NotOwned {
            what: format!("Lambda permission {sid} on {}", props.function),
            owner: "it grants something else".to_string(),
        })
    }
}

// ---- pure helpers ------------------------------------------------------------

fn statement_id(props: &PermissionProps, cx: &OpCtx) -> String {
    props.statement_id.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource))
}

/// `<function>/<sid>`: function names and ARNs hold no `/`.
fn split_id(physical_id: &str) -> (&str, &str) {
    physical_id.rsplit_once('/').unwrap_or((physical_id, ""))
}

fn observed(physical_id: String, props: PermissionProps) -> Observed<PermissionProps> {
    Observed { physical_id, props, attrs: BTreeMap::new() }
}

/// The first string in a value that may be a string or a list of them.
fn first_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items.first().and_then(Value::as_str).map(ToString::to_string),
        _ => None,
    }
}

/// Props from a policy statement, in canonical form: the function and the
/// principal read as written when they mean the same (`123456789012` is
/// stored as `arn:aws:iam::123456789012:root`).
fn props_from_statement(s: &Value, last: &PermissionProps) -> PermissionProps {
    let principal = match s.get("Principal") {
        Some(Value::String(p)) => p.clone(),
        Some(Value::Object(m)) => first_text(m.get("Service")).or_else(|| first_text(m.get("AWS"))).unwrap_or_default(),
        _ => String::new(),
    };
    let principal =
        if account_of_root(&principal) == Some(last.principal.as_str()) { last.principal.clone() } else { principal };
    let condition = s.get("Condition");
    let cond = |op: &str, key: &str| {
        condition.and_then(|c| c.get(op)).and_then(|m| {
            m.as_object().and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
        })
    };
    PermissionProps {
        function: last.function.clone(),
        principal,
        action: first_text(s.get("Action")),
        source_arn: first_text(cond("ArnLike", "AWS:SourceArn").or_else(|| cond("ArnEquals", "AWS:SourceArn"))),
        source_account: first_text(cond("StringEquals", "AWS:SourceAccount")),
        statement_id: first_text(s.get("Sid")),
    }
}

// ---- finders -----------------------------------------------------------------

/// The statement with this id in the function's policy, or `None` when it,
/// the policy or the function does not exist.
async fn find_statement(lambda: &aws_sdk_lambda::Client, function: &str, sid: &str) -> Result<Option<Value>, String> {
    let out = match lambda.get_policy().function_name(function).send().await {
        Ok(out) => out,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(aws_error("GetPolicy", &e).to_string()),
    };
    let policy = parse_document(out.policy().unwrap_or("{}"));
    let statements = match policy.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Ok(statements.into_iter().find(|s| s.get("Sid").and_then(Value::as_str) == Some(sid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<PermissionProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Permission::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab2", id: "allow-events", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    #[test]
    fn defaults_are_filled() {
        let p = check(json!({"function": "f", "principal": "events.amazonaws.com"})).unwrap_or_default();
        assert_eq!(p.action.as_deref(), Some("lambda:InvokeFunction"));
        assert_eq!(p.statement_id.as_deref(), Some("lab2-allow-events"));
        assert!(check(json!({"function": "f", "principal": "x", "action": "s3:GetObject"})).is_err());
        assert!(check(json!({"function": "f", "principal": "x", "statement_id": "a b"})).is_err());
    }

    #[test]
    fn statements_read_as_written() {
        let last = PermissionProps {
            function: "f".into(),
            principal: "123456789012".into(),
            action: Some(DEFAULT_ACTION.into()),
            source_arn: Some("arn:aws:events:us-east-1:1:rule/r".into()),
            source_account: Some("123456789012".into()),
            statement_id: Some("s".into()),
        };
        let aws = json!({"Sid": "s", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:1:function:f",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:1:rule/r"},
                          "StringEquals": {"AWS:SourceAccount": "123456789012"}}});
        assert_eq!(props_from_statement(&aws, &last), last);
        assert_eq!(split_id("arn:aws:lambda:us-east-1:1:function:f/s"), ("arn:aws:lambda:us-east-1:1:function:f", "s"));
    }
}
