//! `aws:ec2:SecurityGroup`: a VPC security group with IPv4 CIDR rules.
//! Physical id: the group id (`sg-…`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    Filter, IpPermission, IpRange, ResourceType, SecurityGroup as AwsGroup, Tag, TagSpecification,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, TypedKind};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::unresolved;
use crate::tags::{add_tags_to, live_tags_of, tag_changes};

// ---- props -----------------------------------------------------------------

/// A VPC security group with IPv4 CIDR rules.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityGroupProps {
    /// Group name, unique in its VPC: up to 255 characters, not starting
    /// with `sg-`. Default `<stack>-<id>`. Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Up to 255 characters. Default "managed by cairn". Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The VPC id (`vpc-…`); unset means the account's default VPC, looked
    /// up at create. Cannot change in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    /// Inbound rules; none by default.
    #[serde(default)]
    pub ingress: Vec<Rule>,
    /// Outbound rules. Unset means AWS's default: all traffic to
    /// `0.0.0.0/0`; `[]` means no outbound traffic at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<Rule>>,
}

/// One rule: traffic of a protocol and port range from (ingress) or to
/// (egress) an IPv4 CIDR block.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `tcp`, `udp`, `icmp`, or `-1` for all traffic.
    pub protocol: String,
    /// First port (tcp, udp) or ICMP type (`-1`: all). Not used with `-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    /// Last port (tcp, udp; default `from_port`) or ICMP code (`-1`: all).
    /// Not used with `-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    /// An IPv4 CIDR block such as `10.0.0.0/16` or `0.0.0.0/0`.
    pub cidr: String,
    /// What the rule is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Rule {
    /// All traffic to or from anywhere: AWS's default egress rule.
    pub fn allow_all() -> Rule {
        Rule {
            protocol: ALL_PROTOCOLS.into(),
            from_port: None,
            to_port: None,
            cidr: ANYWHERE.into(),
            description: None,
        }
    }
}

/// The `aws:ec2:SecurityGroup` kind.
pub struct SecurityGroup {
    clients: Arc<Clients>,
}

impl SecurityGroup {
    pub fn new(clients: Arc<Clients>) -> Self {
        SecurityGroup { clients }
    }
}

const DEFAULT_DESCRIPTION: &str = "managed by cairn";
const MAX_TEXT: usize = 255;
const ALL_PROTOCOLS: &str = "-1";
const ANYWHERE: &str = "0.0.0.0/0";
const PROTOCOLS: &[&str] = &["tcp", "udp", "icmp", ALL_PROTOCOLS];
const NOT_FOUND: &[&str] = &["InvalidGroup.NotFound", "InvalidGroupId.NotFound", "InvalidGroupId.Malformed"];
/// How long delete retries `DependencyViolation`: an instance that was just
/// terminated keeps its network interface, and with it the group, a while.
const DEPENDENCY_WAIT: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_secs(5);

#[async_trait]
impl TypedKind for SecurityGroup {
    const TYPE: &'static str = "aws:ec2:SecurityGroup";
    const ATTRIBUTES: &'static [&'static str] = &["id", "arn"];
    const REPLACE_ON: &'static [&'static str] = &["name", "description", "vpc"];
    type Props = SecurityGroupProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the group's id (`sg-…`)",
        attributes: &[
            ("id", "the group's id (`sg-…`), what an instance's `security_groups` take"),
            ("arn", "the group's ARN"),
        ],
        quirks: &[
            "A new group comes with an allow-all egress rule: unset `egress` keeps it, `[]` removes it.",
            "AWS may keep a CIDR with host bits set in one form and report another: CIDRs must be written in network form, checked offline.",
            "A rule whose description changed is the same rule to AWS: rules are revoked before being authorized again.",
            "A just-terminated instance holds the group for a while (`DependencyViolation`): delete waits, bounded.",
        ],
    };

    fn defaults(props: &mut SecurityGroupProps, cx: &NameCtx<'_>) {
        if props.name.is_none() {
            props.name = Some(cx.default_name());
        }
        if props.description.is_none() {
            props.description = Some(DEFAULT_DESCRIPTION.to_string());
        }
        if props.egress.is_none() {
            props.egress = Some(vec![Rule::allow_all()]);
        }
        for rule in props.ingress.iter_mut().chain(props.egress.iter_mut().flatten()) {
            canonical_rule(rule);
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &SecurityGroupProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
        {
            validate_text("name", name, errors);
            if name.to_ascii_lowercase().starts_with("sg-") {
                errors.push(
                    PropError::new(&["name"], format!("group name `{name}` starts with `sg-`"))
                        .expected("a name that does not start with `sg-` (AWS reserves it for group ids)"),
                );
            }
        }
        if let Some(d) = &props.description
            && !unresolved(d)
        {
            validate_text("description", d, errors);
        }
        if let Some(vpc) = &props.vpc
            && !unresolved(vpc)
            && !vpc.starts_with("vpc-")
        {
            errors.push(
                PropError::new(&["vpc"], format!("`{vpc}` is not a VPC id")).expected("a VPC id like `vpc-0abc…`"),
            );
        }
        validate_rules("ingress", &props.ingress, errors);
        if let Some(egress) = &props.egress {
            validate_rules("egress", egress, errors);
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &SecurityGroupProps) -> Result<Observed<SecurityGroupProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| format!("{}-{}", cx.stack, cx.resource));
        let action = format!("creating EC2 security group {name}");
        let ec2 = self.clients.ec2().await;
        let vpc = match &props.vpc {
            Some(v) => v.clone(),
            None => default_vpc(ec2).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?,
        };

        let mut tagging = TagSpecification::builder().resource_type(ResourceType::SecurityGroup);
        for (k, v) in &cx.tags {
            tagging = tagging.tags(Tag::builder().key(k).value(v).build());
        }
        let out = ec2
            .create_security_group()
            .group_name(&name)
            .description(props.description.as_deref().unwrap_or(DEFAULT_DESCRIPTION))
            .vpc_id(&vpc)
            .tag_specifications(tagging.build())
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            // Group names are unique per VPC and CreateSecurityGroup fails on
            // a taken one, so no look first: a group of this name is either
            // this stack's own (a run that died before saving state, or an
            // earlier try of this call whose answer was lost) or someone else's.
            Err(e) if e.code() == Some("InvalidGroup.Duplicate") => {
                let group =
                    find_by_name(ec2, &name, &vpc).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                let Some(group) = group else { return Err(aws_error(&action, &e)) };
                let tags = tags_of(group.tags());
                cx.ensure_owns(&tags, format!("EC2 security group {name} in {vpc}"))?;
                let id = group.group_id().unwrap_or_default().to_string();
                let live = props_from_group(&group, props);
                self.converge(cx, &id, &live, props, &action).await?;
                return Ok(observed(&cx.env, id, props.clone()));
            }
            Err(e) => return Err(aws_error(&action, &e)),
        };
        let Some(id) = out.group_id().map(ToString::to_string) else {
            return Err(OpError::failed(format!("{action}: AWS returned no group id")));
        };
        // A new group has AWS's allow-all egress rule and no ingress.
        let fresh = SecurityGroupProps { ingress: Vec::new(), egress: Some(vec![Rule::allow_all()]), ..props.clone() };
        self.converge(cx, &id, &fresh, props, &action).await?;
        Ok(observed(&cx.env, id, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(
        &self,
        cx: &OpCtx,
        id: &str,
        last: &SecurityGroupProps,
    ) -> Result<Option<Observed<SecurityGroupProps>>, OpError> {
        let ec2 = self.clients.ec2().await;
        let Some(group) =
            find_by_id(ec2, id).await.map_err(|e| OpError::failed(format!("reading EC2 security group {id}: {e}")))?
        else {
            return Ok(None);
        };
        let mut o = observed(&cx.env, id.to_string(), props_from_group(&group, last));
        if let Some(arn) = group.security_group_arn() {
            o.attrs.insert("arn".into(), Value::String(arn.to_string()));
        }
        Ok(Some(o))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        id: &str,
        old: &SecurityGroupProps,
        new: &SecurityGroupProps,
    ) -> Result<Observed<SecurityGroupProps>, OpError> {
        let action = format!("updating EC2 security group {}", new.name.as_deref().unwrap_or(id));
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read(cx, id, old).await? else {
            return Err(OpError::failed(format!("{action}: the group no longer exists")));
        };
        self.converge(cx, id, &live.props, new, &action).await?;
        Ok(observed(&cx.env, id.to_string(), new.clone()))
    }

    // ---- tags, for import -------------------------------------------------------

    /// From DescribeSecurityGroups, which carries the tags.
    async fn live_tags(&self, _cx: &OpCtx, id: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let ec2 = self.clients.ec2().await;
        live_tags_of(&format!("EC2 security group {id}"), find_by_id(ec2, id), |g| async move { Ok(tags_of(g.tags())) })
            .await
    }

    async fn add_tags(&self, _cx: &OpCtx, id: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let ec2 = self.clients.ec2().await;
        add_tags_to(&format!("EC2 security group {id}"), find_by_id(ec2, id), |_, action| async move {
            create_tags(ec2, id, tags, &action).await
        })
        .await
    }

    // ---- delete ----------------------------------------------------------------

    async fn delete(&self, cx: &OpCtx, id: &str, _props: &SecurityGroupProps) -> Result<(), OpError> {
        let ec2 = self.clients.ec2().await;
        let action = format!("deleting EC2 security group {id}");
        let deadline = tokio::time::Instant::now() + DEPENDENCY_WAIT;
        loop {
            match ec2.delete_security_group().group_id(id).send().await {
                Ok(_) => return Ok(()),
                Err(e) if code_in(&e, NOT_FOUND) => return Ok(()),
                Err(e) if code_in(&e, &["DependencyViolation"]) && tokio::time::Instant::now() < deadline => {
                    (cx.notify)(&format!(
                        "waiting for EC2 security group {id} to be released by network interfaces (DependencyViolation)"
                    ));
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Err(aws_error(&action, &e)),
            }
        }
    }
}

impl SecurityGroup {
    /// Revokes the rules `live` has and `want` lacks, authorizes the ones
    /// `want` adds, then sets the tags.
    async fn converge(
        &self,
        cx: &OpCtx,
        id: &str,
        live: &SecurityGroupProps,
        want: &SecurityGroupProps,
        action: &str,
    ) -> Result<(), OpError> {
        let ec2 = self.clients.ec2().await;
        let no_rules = Vec::new();
        let (live_egress, want_egress) =
            (live.egress.as_ref().unwrap_or(&no_rules), want.egress.as_ref().unwrap_or(&no_rules));
        // Revoke first: a rule whose description changed is the same rule to
        // AWS, and authorizing it again before revoking is a duplicate.
        let (revoke_in, add_in) = rule_changes(&live.ingress, &want.ingress);
        let (revoke_out, add_out) = rule_changes(live_egress, want_egress);
        if !revoke_in.is_empty() {
            ec2.revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(revoke_in.iter().map(permission).collect()))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: revoking ingress"), &e))?;
        }
        if !revoke_out.is_empty() {
            ec2.revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(revoke_out.iter().map(permission).collect()))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: revoking egress"), &e))?;
        }
        if !add_in.is_empty() {
            ec2.authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(Some(add_in.iter().map(permission).collect()))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: authorizing ingress"), &e))?;
        }
        if !add_out.is_empty() {
            ec2.authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(Some(add_out.iter().map(permission).collect()))
                .send()
                .await
                .map_err(|e| aws_error(&format!("{action}: authorizing egress"), &e))?;
        }
        let live_tags = match find_by_id(ec2, id).await.map_err(|e| OpError::failed(format!("{action}: {e}")))? {
            Some(g) => tags_of(g.tags()),
            None => BTreeMap::new(),
        };
        set_tags(ec2, id, &live_tags, &cx.tags, action).await
    }
}

/// Makes the resource carry exactly `want` (tags under `aws:` aside).
pub(crate) async fn set_tags(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    live: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    let changes = tag_changes(live, want);
    create_tags(ec2, id, &changes.set, &format!("{action}: tagging")).await?;
    if !changes.remove.is_empty() {
        let tags = changes.remove.iter().map(|k| Tag::builder().key(k).build()).collect();
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error(&format!("{action}: untagging"), &e))?;
    }
    Ok(())
}

/// Sets these tags on the resource (CreateTags), leaving its others alone;
/// errors start with `action`.
pub(crate) async fn create_tags(
    ec2: &aws_sdk_ec2::Client,
    id: &str,
    tags: &BTreeMap<String, String>,
    action: &str,
) -> Result<(), OpError> {
    if tags.is_empty() {
        return Ok(());
    }
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    ec2.create_tags().resources(id).set_tags(Some(tags)).send().await.map_err(|e| aws_error(action, &e))?;
    Ok(())
}

// ---- pure helpers ------------------------------------------------------------

/// Lower-case protocol; `to_port` defaults to `from_port`; ICMP without
/// ports means every type and code.
fn canonical_rule(rule: &mut Rule) {
    rule.protocol = rule.protocol.to_ascii_lowercase();
    match rule.protocol.as_str() {
        "icmp" => {
            rule.from_port.get_or_insert(-1);
            rule.to_port.get_or_insert(-1);
        }
        "tcp" | "udp" if rule.to_port.is_none() => rule.to_port = rule.from_port,
        _ => {}
    }
}

fn validate_text(field: &str, text: &str, errors: &mut Vec<PropError>) {
    if text.is_empty() || text.len() > MAX_TEXT {
        errors.push(
            PropError::new(&[field], format!("{field} is {} characters long", text.len()))
                .expected(format!("1 to {MAX_TEXT} characters")),
        );
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
        errors.push(
            PropError::new(&[field], format!("{field} contains `{bad}`"))
                .expected("printable ASCII characters (AWS refuses others)"),
        );
    }
}

fn validate_rules(field: &str, rules: &[Rule], errors: &mut Vec<PropError>) {
    for (i, rule) in rules.iter().enumerate() {
        let at = |msg: String| {
            let mut e = PropError::new(&[field], msg);
            e.path.push(cairn_engine::diag::PathSeg::Index(i));
            e
        };
        if !PROTOCOLS.contains(&rule.protocol.as_str()) {
            errors.push(at(format!("protocol `{}` is not supported", rule.protocol)).expected("tcp, udp, icmp or -1"));
        }
        match rule.protocol.as_str() {
            "tcp" | "udp" => match (rule.from_port, rule.to_port) {
                (None, _) => errors.push(at(format!("a {} rule needs from_port", rule.protocol)).expected("a port")),
                (Some(from), Some(to)) if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to => {
                    errors.push(
                        at(format!("port range {from}-{to} is not valid"))
                            .expected("ports 0 to 65535 with from_port <= to_port"),
                    );
                }
                _ => {}
            },
            "icmp" => {
                let ok = |p: Option<i32>| p.is_none_or(|p| (-1..=255).contains(&p));
                if !ok(rule.from_port) || !ok(rule.to_port) {
                    errors.push(at("ICMP type and code must be -1 to 255".into()).expected("-1 (all) or 0 to 255"));
                }
            }
            ALL_PROTOCOLS if rule.from_port.is_some() || rule.to_port.is_some() => {
                errors.push(
                    at("ports do not apply to protocol -1 (all traffic)".into()).expected("no from_port or to_port"),
                );
            }
            _ => {}
        }
        if !unresolved(&rule.cidr)
            && let Err(why) = check_cidr(&rule.cidr)
        {
            errors.push(at(why).expected("an IPv4 CIDR block like `10.0.0.0/16` or `0.0.0.0/0`"));
        }
        if let Some(d) = &rule.description
            && (d.len() > MAX_TEXT || d.chars().any(|c| !c.is_ascii() || c.is_ascii_control()))
        {
            errors.push(
                at("rule description is too long or not printable ASCII".into()).expected("up to 255 characters"),
            );
        }
        if rules[..i].iter().any(|r| same_rule(r, rule)) {
            errors.push(at(format!("the same {field} rule appears twice")).expected("each rule once"));
        }
    }
}

/// An IPv4 CIDR with no host bits set: AWS would keep `10.0.0.1/8` as is on
/// some paths and report `10.0.0.0/8` on others, a perpetual diff.
fn check_cidr(cidr: &str) -> Result<(), String> {
    let Some((addr, len)) = cidr.split_once('/') else {
        return Err(format!("`{cidr}` is not an IPv4 CIDR block (no `/prefix`)"));
    };
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| format!("`{cidr}` is not an IPv4 CIDR block"))?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| format!("`{cidr}` has a bad prefix length"))?;
    let bits = u32::from(addr);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if bits & !mask != 0 {
        let net = std::net::Ipv4Addr::from(bits & mask);
        return Err(format!("`{cidr}` has host bits set; the network is `{net}/{len}`"));
    }
    Ok(())
}

/// Whether two rules are the same rule to AWS (descriptions aside).
fn same_rule(a: &Rule, b: &Rule) -> bool {
    a.protocol == b.protocol && a.from_port == b.from_port && a.to_port == b.to_port && a.cidr == b.cidr
}

/// Rules to revoke (in `live`, not in `want`) and to authorize (in `want`,
/// not in `live`); a changed description counts as both.
fn rule_changes<'a>(live: &'a [Rule], want: &'a [Rule]) -> (Vec<&'a Rule>, Vec<&'a Rule>) {
    let revoke = live.iter().filter(|r| !want.contains(r)).collect();
    let add = want.iter().filter(|r| !live.contains(r)).collect();
    (revoke, add)
}

fn permission(rule: &&Rule) -> IpPermission {
    let mut range = IpRange::builder().cidr_ip(&rule.cidr);
    if let Some(d) = &rule.description {
        range = range.description(d);
    }
    IpPermission::builder()
        .ip_protocol(&rule.protocol)
        .set_from_port(rule.from_port)
        .set_to_port(rule.to_port)
        .ip_ranges(range.build())
        .build()
}

/// AWS's permissions as one rule per CIDR block; IPv6, prefix-list and
/// group-to-group grants are not modelled and are left out.
fn rules_from(perms: &[IpPermission]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for p in perms {
        let protocol = p.ip_protocol().unwrap_or(ALL_PROTOCOLS).to_ascii_lowercase();
        let protocol = match protocol.as_str() {
            "6" => "tcp".to_string(),
            "17" => "udp".to_string(),
            "1" => "icmp".to_string(),
            _ => protocol,
        };
        let (from_port, to_port) = if protocol == ALL_PROTOCOLS { (None, None) } else { (p.from_port(), p.to_port()) };
        for range in p.ip_ranges() {
            rules.push(Rule {
                protocol: protocol.clone(),
                from_port,
                to_port,
                cidr: range.cidr_ip().unwrap_or_default().to_string(),
                description: range.description().filter(|d| !d.is_empty()).map(ToString::to_string),
            });
        }
    }
    rules
}

/// Live rules in the order `last` wrote them (so an unchanged set reads as
/// equal), then any rules added behind cairn's back.
fn rules_as_read(mut live: Vec<Rule>, last: &[Rule]) -> Vec<Rule> {
    let mut out = Vec::with_capacity(live.len());
    for rule in last {
        if let Some(i) = live.iter().position(|r| r == rule) {
            out.push(live.remove(i));
        }
    }
    out.extend(live);
    out
}

/// Props as AWS reports them, in the canonical form `check` produces. An
/// unset `vpc` (the default VPC) stays unset.
fn props_from_group(group: &AwsGroup, last: &SecurityGroupProps) -> SecurityGroupProps {
    let last_egress = last.egress.as_deref().unwrap_or_default();
    SecurityGroupProps {
        name: group.group_name().map(ToString::to_string),
        description: group.description().map(ToString::to_string),
        vpc: match &last.vpc {
            Some(_) => group.vpc_id().map(ToString::to_string),
            None => None,
        },
        ingress: rules_as_read(rules_from(group.ip_permissions()), &last.ingress),
        egress: Some(rules_as_read(rules_from(group.ip_permissions_egress()), last_egress)),
    }
}

pub(crate) fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

/// `arn:{partition}:ec2:{region}:{account}:security-group/{id}`.
pub fn group_arn(env: &Environment, id: &str) -> String {
    format!("arn:{}:ec2:{}:{}:security-group/{id}", env.partition, env.region, env.account_id)
}

fn observed(env: &Environment, id: String, props: SecurityGroupProps) -> Observed<SecurityGroupProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("id".to_string(), Value::String(id.clone()));
    attrs.insert("arn".to_string(), Value::String(group_arn(env, &id)));
    Observed { physical_id: id, props, attrs }
}

fn code_in<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

// ---- finders -----------------------------------------------------------------

/// The group, or `None` when it does not exist.
async fn find_by_id(ec2: &aws_sdk_ec2::Client, id: &str) -> Result<Option<AwsGroup>, String> {
    match ec2.describe_security_groups().group_ids(id).send().await {
        Ok(out) => Ok(out.security_groups().first().cloned()),
        Err(e) if code_in(&e, NOT_FOUND) => Ok(None),
        Err(e) => Err(aws_error("DescribeSecurityGroups", &e).to_string()),
    }
}

/// The group of that name in that VPC, if any.
async fn find_by_name(ec2: &aws_sdk_ec2::Client, name: &str, vpc: &str) -> Result<Option<AwsGroup>, String> {
    let out = ec2
        .describe_security_groups()
        .filters(Filter::builder().name("group-name").values(name).build())
        .filters(Filter::builder().name("vpc-id").values(vpc).build())
        .send()
        .await
        .map_err(|e| aws_error("DescribeSecurityGroups", &e).to_string())?;
    Ok(out.security_groups().first().cloned())
}

/// The account's default VPC in this region.
pub(crate) async fn default_vpc(ec2: &aws_sdk_ec2::Client) -> Result<String, String> {
    let out = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("is-default").values("true").build())
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcs", &e).to_string())?;
    out.vpcs()
        .first()
        .and_then(|v| v.vpc_id())
        .map(ToString::to_string)
        .ok_or_else(|| "this region has no default VPC; set `vpc`".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(props: Value) -> Result<SecurityGroupProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(SecurityGroup::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab2", id: "web", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    fn tcp(port: i32, cidr: &str) -> Rule {
        Rule {
            protocol: "tcp".into(),
            from_port: Some(port),
            to_port: Some(port),
            cidr: cidr.into(),
            description: None,
        }
    }

    #[test]
    fn defaults_fill_name_description_and_allow_all_egress() {
        let p = check(json!({})).unwrap_or_default();
        assert_eq!(p.name.as_deref(), Some("lab2-web"));
        assert_eq!(p.description.as_deref(), Some(DEFAULT_DESCRIPTION));
        assert_eq!(p.egress, Some(vec![Rule::allow_all()]));
        let p = check(json!({"egress": []})).unwrap_or_default();
        assert_eq!(p.egress, Some(vec![]));
    }

    #[test]
    fn rules_are_canonical() {
        let p = check(json!({"ingress": [{"protocol": "TCP", "from_port": 22, "cidr": "10.0.0.0/8"},
                                         {"protocol": "icmp", "cidr": "0.0.0.0/0"}]}))
        .unwrap_or_default();
        assert_eq!(p.ingress[0], tcp(22, "10.0.0.0/8"));
        assert_eq!((p.ingress[1].from_port, p.ingress[1].to_port), (Some(-1), Some(-1)));
    }

    #[test]
    fn rules_are_checked_offline() {
        let bad = |rule: Value| check(json!({"ingress": [rule]})).is_err();
        assert!(bad(json!({"protocol": "gre", "cidr": "0.0.0.0/0"})));
        assert!(bad(json!({"protocol": "tcp", "cidr": "0.0.0.0/0"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 90, "to_port": 80, "cidr": "0.0.0.0/0"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 70000, "cidr": "0.0.0.0/0"})));
        assert!(bad(json!({"protocol": "-1", "from_port": 0, "cidr": "0.0.0.0/0"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 22, "cidr": "10.0.0.1/8"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 22, "cidr": "10.0.0.0"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 22, "cidr": "::/0"})));
        assert!(bad(json!({"protocol": "tcp", "from_port": 22, "cidr": "0.0.0.0/0", "port": 1})));
        assert!(!bad(json!({"protocol": "tcp", "from_port": 22, "cidr": "${param.cidr}"})));
        let twice = json!({"protocol": "tcp", "from_port": 22, "cidr": "0.0.0.0/0"});
        assert!(check(json!({"ingress": [twice, twice]})).is_err());
    }

    #[test]
    fn names_are_checked_offline() {
        assert!(check(json!({"name": "sg-web"})).is_err());
        assert!(check(json!({"name": "x".repeat(256)})).is_err());
        assert!(check(json!({"description": "caf\u{e9}"})).is_err());
        assert!(check(json!({"vpc": "subnet-1"})).is_err());
        assert!(check(json!({"name": "web (prod)", "vpc": "vpc-1"})).is_ok());
    }

    #[test]
    fn read_keeps_the_written_order_and_shows_extra_rules() {
        let last = vec![tcp(22, "10.0.0.0/8"), tcp(80, "0.0.0.0/0")];
        let live = vec![tcp(80, "0.0.0.0/0"), tcp(443, "0.0.0.0/0"), tcp(22, "10.0.0.0/8")];
        assert_eq!(rules_as_read(live, &last), vec![last[0].clone(), last[1].clone(), tcp(443, "0.0.0.0/0")]);
    }

    #[test]
    fn permissions_flatten_to_one_rule_per_cidr() {
        let perm = IpPermission::builder()
            .ip_protocol("-1")
            .from_port(-1)
            .to_port(-1)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        assert_eq!(rules_from(&[perm]), vec![Rule::allow_all()]);
        let perm = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").description("").build())
            .build();
        assert_eq!(rules_from(&[perm]), vec![tcp(22, "10.0.0.0/8"), tcp(22, "0.0.0.0/0")]);
    }

    #[test]
    fn description_change_is_revoke_then_authorize() {
        let old = vec![tcp(22, "10.0.0.0/8")];
        let new = vec![Rule { description: Some("ssh".into()), ..tcp(22, "10.0.0.0/8") }];
        let (revoke, add) = rule_changes(&old, &new);
        assert_eq!((revoke.len(), add.len()), (1, 1));
        let (revoke, add) = rule_changes(&new, &new);
        assert!(revoke.is_empty() && add.is_empty());
    }
}
