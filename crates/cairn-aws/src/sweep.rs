//! Finding every resource cairn made, by its tags, for `cairn sweep`.
//!
//! The Resource Groups Tagging API finds most kinds in one paged call. What
//! it does not cover is listed kind by kind: IAM (global, not in the API),
//! Lambda event source mappings, and EventBridge rules and CloudTrail
//! trails (which AWS's API covers but the emulator's does not; listing them
//! on AWS too costs a few calls and makes the emulator tests mean
//! something). Results are deduplicated by kind and physical id.

use std::collections::BTreeMap;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{OpError, TAG_STACK as STACK_TAG};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};

use crate::clients::Clients;
use crate::error::aws_error;

/// Per-resource tag calls in flight at once.
const CONCURRENCY: usize = 8;

/// One resource cairn made, as found in AWS by its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// cairn's type name, e.g. "aws:sqs:Queue" (the kind's TYPE const).
    pub kind: &'static str,
    /// The physical id exactly as the kind uses it (its `read`/`delete` take it):
    /// queue URL; topic ARN; rule ARN; trail ARN; log group name; alarm name; bucket name;
    /// SSM parameter name; Lambda function name; event source mapping UUID; IAM role name;
    /// instance profile name; security group id; instance id.
    pub physical_id: String,
    /// The ARN (for messages).
    pub arn: String,
    /// Every tag it carries.
    pub tags: BTreeMap<String, String>,
}

/// Every resource in the clients' region (plus IAM, which is global) whose
/// tags include `cairn:stack`, and, when `stack` is Some, whose `cairn:stack` is that.
/// Sorted by kind, then physical id.
pub async fn find(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
    let mut lookups: Vec<BoxFuture<'_, Result<Vec<Found>, OpError>>> = vec![by_tagging_api(clients, stack).boxed()];
    #[cfg(feature = "iam")]
    {
        lookups.push(own::iam_roles(clients, stack).boxed());
        lookups.push(own::iam_instance_profiles(clients, stack).boxed());
    }
    #[cfg(feature = "events")]
    lookups.push(own::events_rules(clients, stack).boxed());
    #[cfg(feature = "cloudtrail")]
    lookups.push(own::cloudtrail_trails(clients, stack).boxed());
    #[cfg(feature = "lambda")]
    lookups.push(own::lambda_mappings(clients, stack).boxed());

    let mut all: BTreeMap<(&'static str, String), Found> = BTreeMap::new();
    for found in futures::future::try_join_all(lookups).await?.into_iter().flatten() {
        all.entry((found.kind, found.physical_id.clone())).or_insert(found);
    }
    let found: Vec<Found> = all.into_values().collect();
    #[cfg(feature = "ec2")]
    let found = own::drop_gone_instances(clients, found).await?;
    Ok(found)
}

/// The regions enabled for the account (EC2 DescribeRegions), for
/// `cairn sweep --all-regions`.
pub async fn enabled_regions(clients: &Clients) -> Result<Vec<String>, OpError> {
    #[cfg(feature = "ec2")]
    {
        let out = clients
            .ec2()
            .await
            .describe_regions()
            .send()
            .await
            .map_err(|e| aws_error("listing the account's regions (ec2:DescribeRegions)", &e))?;
        let mut regions: Vec<String> = out.regions().iter().filter_map(|r| r.region_name().map(String::from)).collect();
        regions.sort();
        Ok(regions)
    }
    #[cfg(not(feature = "ec2"))]
    {
        let _ = clients;
        Err(OpError::failed(
            "listing the account's regions needs cairn built with its ec2 feature; name them with --region",
        ))
    }
}

/// Runs `look` on every item, a few at once, keeping what it finds.
async fn each<T, F, Fut>(items: Vec<T>, look: F) -> Result<Vec<Found>, OpError>
where
    F: FnMut(T) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Found>, OpError>>,
{
    let found: Vec<Option<Found>> =
        futures::stream::iter(items).map(look).buffer_unordered(CONCURRENCY).try_collect().await?;
    Ok(found.into_iter().flatten().collect())
}

/// Whether tags mark a resource of the stack asked for (any stack when `None`).
fn wanted(tags: &BTreeMap<String, String>, stack: Option<&str>) -> bool {
    match (tags.get(STACK_TAG), stack) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(s), Some(want)) => s == want,
    }
}

/// Whether an error says the resource is gone (deleted between a list and
/// a per-resource call): then it is skipped, not an error.
fn is_gone<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code().is_some_and(|c| c == "NoSuchEntity" || c.contains("NotFound"))
}

// ---- the Resource Groups Tagging API -----------------------------------------

async fn by_tagging_api(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;

    let api = clients.tagging().await;
    let filter = TagFilter::builder().key(STACK_TAG).set_values(stack.map(|s| vec![s.to_string()])).build();
    let mut mappings = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = api
            .get_resources()
            .tag_filters(filter.clone())
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetResources", &e))?;
        mappings.extend(out.resource_tag_mapping_list().iter().cloned());
        match out.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    each(mappings, |m| async move {
        let arn = m.resource_arn().unwrap_or_default().to_string();
        let tags: BTreeMap<String, String> =
            m.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        if !wanted(&tags, stack) {
            return Ok(None);
        }
        let Some(parsed) = classify(&arn) else { return Ok(None) };
        let Some((kind, physical_id)) = resolve(clients, parsed).await? else { return Ok(None) };
        Ok::<_, OpError>(Some(Found { kind, physical_id, arn, tags }))
    })
    .await
}

/// What an ARN from the Tagging API names, as far as the ARN alone tells.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Parsed {
    /// Kind and physical id.
    Known(&'static str, String),
    /// An SQS queue: its URL needs a GetQueueUrl.
    #[cfg(feature = "sqs")]
    Queue { name: String, account: String },
    /// An SSM parameter whose ARN has one level, `parameter/x`: the name is
    /// `x` or `/x`, which the ARN does not tell apart.
    #[cfg(feature = "ssm")]
    FlatParameter(String),
}

/// The kind and physical id (or what to look up for it) an ARN names, for
/// the kinds this build offers; `None` for anything else (not cairn's, a
/// Lambda version, an SNS subscription, an S3 object...).
// Builds without sqs leave the account unused.
#[allow(unused_variables)]
fn classify(arn: &str) -> Option<Parsed> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some(service), Some(_region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    #[allow(unused)]
    let known = |kind: &'static str, id: &str| (!id.is_empty()).then(|| Parsed::Known(kind, id.to_string()));
    match service {
        #[cfg(feature = "sqs")]
        "sqs" if !resource.is_empty() && !resource.contains([':', '/']) => {
            Some(Parsed::Queue { name: resource.to_string(), account: account.to_string() })
        }
        // A subscription's ARN is the topic's plus `:uuid`.
        #[cfg(feature = "sns")]
        "sns" if !resource.contains(':') => known(type_of::<crate::kinds::sns_topic::Topic>(), arn),
        #[cfg(feature = "events")]
        "events" if resource.starts_with("rule/") => known(type_of::<crate::kinds::events_rule::Rule>(), arn),
        #[cfg(feature = "cloudtrail")]
        "cloudtrail" if resource.starts_with("trail/") => {
            known(type_of::<crate::kinds::cloudtrail_trail::Trail>(), arn)
        }
        #[cfg(feature = "logs")]
        "logs" => {
            let rest = resource.strip_prefix("log-group:")?;
            let (name, tail) = rest.split_once(':').unwrap_or((rest, ""));
            if !(tail.is_empty() || tail == "*") {
                return None; // a log stream
            }
            known(type_of::<crate::kinds::logs_log_group::LogGroup>(), name)
        }
        #[cfg(feature = "cloudwatch")]
        "cloudwatch" => known(type_of::<crate::kinds::cloudwatch_alarm::Alarm>(), resource.strip_prefix("alarm:")?),
        // Buckets' ARNs have neither region nor account; objects' have a `/`.
        #[cfg(feature = "s3")]
        "s3" if !resource.contains('/') => known(type_of::<crate::kinds::s3_bucket::Bucket>(), resource),
        #[cfg(feature = "ssm")]
        "ssm" => {
            let path = resource.strip_prefix("parameter/")?;
            if path.is_empty() {
                None
            } else if path.contains('/') {
                // SSM's rule: a name with a `/` starts with one.
                known(type_of::<crate::kinds::ssm_parameter::Parameter>(), &format!("/{path}"))
            } else {
                Some(Parsed::FlatParameter(path.to_string()))
            }
        }
        #[cfg(feature = "lambda")]
        "lambda" => {
            if let Some(rest) = resource.strip_prefix("function:") {
                // `name:qualifier` is a version or alias, deleted with the function.
                (!rest.contains(':')).then_some(())?;
                known(type_of::<crate::kinds::lambda_function::Function>(), rest)
            } else {
                let uuid = resource.strip_prefix("event-source-mapping:")?;
                known(type_of::<crate::kinds::lambda_event_source_mapping::EventSourceMapping>(), uuid)
            }
        }
        #[cfg(feature = "ec2")]
        "ec2" => {
            let (what, id) = resource.split_once('/')?;
            match what {
                "security-group" => known(type_of::<crate::kinds::ec2_security_group::SecurityGroup>(), id),
                "instance" => known(type_of::<crate::kinds::ec2_instance::Instance>(), id),
                _ => None,
            }
        }
        // A path may come before the name: `role/service/name`.
        #[cfg(feature = "iam")]
        "iam" => {
            let (what, path) = resource.split_once('/')?;
            let name = path.rsplit('/').next()?;
            match what {
                "role" => known(type_of::<crate::kinds::iam_role::Role>(), name),
                "instance-profile" => known(type_of::<crate::kinds::iam_instance_profile::InstanceProfile>(), name),
                _ => None,
            }
        }
        _ => None,
    }
}

#[allow(dead_code)]
fn type_of<K: cairn_engine::kind::TypedKind>() -> &'static str {
    K::TYPE
}

/// The kind and physical id of what [`classify`] found; `None` when the
/// resource is gone by now.
#[allow(unused_variables)]
async fn resolve(clients: &Clients, parsed: Parsed) -> Result<Option<(&'static str, String)>, OpError> {
    match parsed {
        Parsed::Known(kind, id) => Ok(Some((kind, id))),
        #[cfg(feature = "sqs")]
        Parsed::Queue { name, account } => {
            let sqs = clients.sqs().await;
            let mut req = sqs.get_queue_url().queue_name(&name);
            if !account.is_empty() {
                req = req.queue_owner_aws_account_id(&account);
            }
            match req.send().await {
                Ok(out) => {
                    Ok(out.queue_url().map(|url| (type_of::<crate::kinds::sqs_queue::Queue>(), url.to_string())))
                }
                Err(e) if is_gone(&e) || e.code() == Some("AWS.SimpleQueueService.NonExistentQueue") => Ok(None),
                Err(e) => Err(aws_error("GetQueueUrl", &e)),
            }
        }
        #[cfg(feature = "ssm")]
        Parsed::FlatParameter(flat) => {
            let ssm = clients.ssm().await;
            for name in [flat.clone(), format!("/{flat}")] {
                match ssm.get_parameter().name(&name).send().await {
                    Ok(_) => return Ok(Some((type_of::<crate::kinds::ssm_parameter::Parameter>(), name))),
                    Err(e) if e.code() == Some("ParameterNotFound") => {}
                    Err(e) => return Err(aws_error("GetParameter", &e)),
                }
            }
            Ok(None)
        }
        #[allow(unreachable_patterns)]
        _ => Ok(None),
    }
}

// ---- kinds listed by their own calls -----------------------------------------

mod own {
    #![allow(unused_imports)]
    use super::*;

    /// IAM roles, by ListRoles and ListRoleTags (ListRoles omits tags).
    /// Service-linked roles (path `/aws-service-role/`) are AWS's, never cairn's.
    #[cfg(feature = "iam")]
    pub(super) async fn iam_roles(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
        let iam = clients.iam().await;
        let roles: Vec<_> = iam
            .list_roles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListRoles", &e))?;
        let roles: Vec<_> = roles.into_iter().filter(|r| !r.path().starts_with("/aws-service-role/")).collect();
        each(roles, |role| async move {
            let name = role.role_name().to_string();
            let tags = match iam.list_role_tags().role_name(&name).send().await {
                Ok(out) => out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("ListRoleTags", &e)),
            };
            Ok(wanted(&tags, stack).then(|| Found {
                kind: type_of::<crate::kinds::iam_role::Role>(),
                physical_id: name,
                arn: role.arn().to_string(),
                tags,
            }))
        })
        .await
    }

    /// IAM instance profiles, by ListInstanceProfiles (which may omit tags)
    /// and GetInstanceProfile, which carries them, as the kind reads them
    /// (moto lacks ListInstanceProfileTags).
    #[cfg(feature = "iam")]
    pub(super) async fn iam_instance_profiles(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
        let iam = clients.iam().await;
        let profiles: Vec<_> = iam
            .list_instance_profiles()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListInstanceProfiles", &e))?;
        each(profiles, |p| async move {
            let name = p.instance_profile_name().to_string();
            let tags = match iam.get_instance_profile().instance_profile_name(&name).send().await {
                Ok(out) => out
                    .instance_profile()
                    .map(|p| p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
                    .unwrap_or_default(),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("GetInstanceProfile", &e)),
            };
            Ok(wanted(&tags, stack).then(|| Found {
                kind: type_of::<crate::kinds::iam_instance_profile::InstanceProfile>(),
                physical_id: name,
                arn: p.arn().to_string(),
                tags,
            }))
        })
        .await
    }

    /// EventBridge rules on every bus, by ListEventBuses, ListRules and
    /// ListTagsForResource.
    #[cfg(feature = "events")]
    pub(super) async fn events_rules(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
        let events = clients.events().await;
        let mut buses = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = events
                .list_event_buses()
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("ListEventBuses", &e))?;
            buses.extend(out.event_buses().iter().filter_map(|b| b.name().map(ToString::to_string)));
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        if buses.is_empty() {
            buses.push("default".to_string());
        }
        let mut arns = Vec::new();
        for bus in &buses {
            let mut token: Option<String> = None;
            loop {
                let out = match events.list_rules().event_bus_name(bus).set_next_token(token.take()).send().await {
                    Ok(out) => out,
                    Err(e) if is_gone(&e) => break,
                    Err(e) => return Err(aws_error("ListRules", &e)),
                };
                arns.extend(out.rules().iter().filter_map(|r| r.arn().map(ToString::to_string)));
                match out.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        each(arns, |arn| async move {
            let tags = match events.list_tags_for_resource().resource_arn(&arn).send().await {
                Ok(out) => out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("ListTagsForResource", &e)),
            };
            Ok(wanted(&tags, stack).then(|| Found {
                kind: type_of::<crate::kinds::events_rule::Rule>(),
                physical_id: arn.clone(),
                arn,
                tags,
            }))
        })
        .await
    }

    /// CloudTrail trails whose home is this region, by DescribeTrails and ListTags.
    #[cfg(feature = "cloudtrail")]
    pub(super) async fn cloudtrail_trails(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
        let ct = clients.cloudtrail().await;
        let out = ct
            .describe_trails()
            .include_shadow_trails(false)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTrails", &e))?;
        let arns: Vec<String> =
            out.trail_list().iter().filter_map(|t| t.trail_arn().map(ToString::to_string)).collect();
        each(arns, |arn| async move {
            let tags = match ct.list_tags().resource_id_list(&arn).send().await {
                Ok(out) => out
                    .resource_tag_list()
                    .iter()
                    .flat_map(|r| r.tags_list())
                    .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
                    .collect(),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("ListTags", &e)),
            };
            Ok(wanted(&tags, stack).then(|| Found {
                kind: type_of::<crate::kinds::cloudtrail_trail::Trail>(),
                physical_id: arn.clone(),
                arn,
                tags,
            }))
        })
        .await
    }

    /// Lambda event source mappings, by ListEventSourceMappings and ListTags;
    /// one being deleted is gone.
    #[cfg(feature = "lambda")]
    pub(super) async fn lambda_mappings(clients: &Clients, stack: Option<&str>) -> Result<Vec<Found>, OpError> {
        let lambda = clients.lambda().await;
        let mappings: Vec<_> = lambda
            .list_event_source_mappings()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListEventSourceMappings", &e))?;
        let mappings: Vec<_> = mappings.into_iter().filter(|m| m.state() != Some("Deleting")).collect();
        each(mappings, |m| async move {
            let (Some(uuid), Some(arn)) = (m.uuid(), m.event_source_mapping_arn()) else {
                return Ok(None); // no ARN, no tags to tell whose it is
            };
            let tags = match lambda.list_tags().resource(arn).send().await {
                Ok(out) => out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("ListTags", &e)),
            }
            .unwrap_or_default();
            Ok(wanted(&tags, stack).then(|| Found {
                kind: type_of::<crate::kinds::lambda_event_source_mapping::EventSourceMapping>(),
                physical_id: uuid.to_string(),
                arn: arn.to_string(),
                tags,
            }))
        })
        .await
    }

    /// Drops instances that are terminated or shutting down (they linger in
    /// EC2's answers for an hour, as in the instance kind's `read`) or that
    /// EC2 no longer knows.
    #[cfg(feature = "ec2")]
    pub(super) async fn drop_gone_instances(clients: &Clients, found: Vec<Found>) -> Result<Vec<Found>, OpError> {
        use aws_sdk_ec2::types::{Filter, InstanceStateName};

        let instance = type_of::<crate::kinds::ec2_instance::Instance>();
        let ids: Vec<String> = found.iter().filter(|f| f.kind == instance).map(|f| f.physical_id.clone()).collect();
        if ids.is_empty() {
            return Ok(found);
        }
        let ec2 = clients.ec2().await;
        let mut live = std::collections::BTreeSet::new();
        // By filter, not by id: an unknown id fails the whole call.
        for chunk in ids.chunks(100) {
            let reservations: Vec<_> = ec2
                .describe_instances()
                .filters(Filter::builder().name("instance-id").set_values(Some(chunk.to_vec())).build())
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("DescribeInstances", &e))?;
            for i in reservations.iter().flat_map(|r| r.instances()) {
                let state = i.state().and_then(|s| s.name());
                if !matches!(state, Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown))
                    && let Some(id) = i.instance_id()
                {
                    live.insert(id.to_string());
                }
            }
        }
        Ok(found.into_iter().filter(|f| f.kind != instance || live.contains(&f.physical_id)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(arn: &str) -> Option<(&'static str, String)> {
        match classify(arn)? {
            Parsed::Known(k, id) => Some((k, id)),
            other => panic!("{arn} needs a look-up: {other:?}"),
        }
    }

    #[test]
    fn wanted_needs_the_stack_tag_and_the_stack_asked_for() {
        let tags = BTreeMap::from([(STACK_TAG.to_string(), "a".to_string())]);
        assert!(wanted(&tags, None));
        assert!(wanted(&tags, Some("a")));
        assert!(!wanted(&tags, Some("b")));
        assert!(!wanted(&BTreeMap::new(), None));
    }

    #[test]
    fn foreign_and_malformed_arns_are_skipped() {
        assert_eq!(classify("arn:aws:dynamodb:us-east-1:1:table/t"), None);
        assert_eq!(classify("not an arn"), None);
        assert_eq!(classify("arn:aws:s3"), None);
    }

    #[cfg(all(feature = "sns", feature = "sqs", feature = "events", feature = "cloudtrail"))]
    #[test]
    fn arn_kinds_keep_the_arn() {
        let topic = "arn:aws:sns:us-east-1:1:t";
        assert_eq!(known(topic), Some(("aws:sns:Topic", topic.to_string())));
        assert_eq!(classify("arn:aws:sns:us-east-1:1:t:5f1c2b9e-aaaa-bbbb-cccc-000000000000"), None);
        let rule = "arn:aws:events:us-east-1:1:rule/r";
        assert_eq!(known(rule), Some(("aws:events:Rule", rule.to_string())));
        assert_eq!(classify("arn:aws:events:us-east-1:1:event-bus/b"), None);
        let trail = "arn:aws:cloudtrail:us-east-1:1:trail/t";
        assert_eq!(known(trail), Some(("aws:cloudtrail:Trail", trail.to_string())));
        assert_eq!(
            classify("arn:aws:sqs:us-east-1:123:q"),
            Some(Parsed::Queue { name: "q".to_string(), account: "123".to_string() })
        );
    }

    #[cfg(all(feature = "logs", feature = "cloudwatch", feature = "s3", feature = "ssm", feature = "lambda"))]
    #[test]
    fn name_kinds_take_the_name_from_the_arn() {
        let id = |k: &'static str, s: &str| Some((k, s.to_string()));
        assert_eq!(known("arn:aws:logs:us-east-1:1:log-group:/a/b:*"), id("aws:logs:LogGroup", "/a/b"));
        assert_eq!(known("arn:aws:logs:us-east-1:1:log-group:g"), id("aws:logs:LogGroup", "g"));
        assert_eq!(classify("arn:aws:logs:us-east-1:1:log-group:g:log-stream:s"), None);
        assert_eq!(known("arn:aws:cloudwatch:us-east-1:1:alarm:a b"), id("aws:cloudwatch:Alarm", "a b"));
        assert_eq!(known("arn:aws:s3:::bkt"), id("aws:s3:Bucket", "bkt"));
        assert_eq!(classify("arn:aws:s3:::bkt/key"), None);
        assert_eq!(known("arn:aws:ssm:us-east-1:1:parameter/a/b"), id("aws:ssm:Parameter", "/a/b"));
        assert_eq!(classify("arn:aws:ssm:us-east-1:1:parameter/x"), Some(Parsed::FlatParameter("x".to_string())));
        assert_eq!(classify("arn:aws:ssm:us-east-1:1:document/d"), None);
        assert_eq!(known("arn:aws:lambda:us-east-1:1:function:f"), id("aws:lambda:Function", "f"));
        assert_eq!(classify("arn:aws:lambda:us-east-1:1:function:f:3"), None);
        assert_eq!(
            known("arn:aws:lambda:us-east-1:1:event-source-mapping:0a1b"),
            id("aws:lambda:EventSourceMapping", "0a1b")
        );
    }

    #[cfg(all(feature = "ec2", feature = "iam"))]
    #[test]
    fn ids_of_ec2_and_iam() {
        let id = |k: &'static str, s: &str| Some((k, s.to_string()));
        assert_eq!(known("arn:aws:ec2:us-east-1:1:security-group/sg-1"), id("aws:ec2:SecurityGroup", "sg-1"));
        assert_eq!(known("arn:aws:ec2:us-east-1:1:instance/i-1"), id("aws:ec2:Instance", "i-1"));
        assert_eq!(classify("arn:aws:ec2:us-east-1:1:vpc/vpc-1"), None);
        assert_eq!(known("arn:aws:iam::1:role/svc/r"), id("aws:iam:Role", "r"));
        assert_eq!(known("arn:aws:iam::1:instance-profile/p"), id("aws:iam:InstanceProfile", "p"));
        assert_eq!(classify("arn:aws:iam::1:policy/p"), None);
    }
}
