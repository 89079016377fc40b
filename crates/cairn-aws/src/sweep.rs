//! Finding every resource cairn made, by its tags, for `cairn sweep`.
//!
//! One listing wave per service and region: the Resource Groups Tagging
//! API finds most kinds in one paged call, and each of the others is listed
//! by its own paged call, all at once. What the Tagging API does not cover
//! is listed kind by kind: IAM (global, not in the API; one paged
//! GetAccountAuthorizationDetails gives every role with its tags), SQS
//! queue URLs (one ListQueues), Lambda event source mappings, and
//! EventBridge rules and CloudTrail trails (which AWS's API covers but the
//! emulator's does not; listing them on AWS too costs a few calls and makes
//! the emulator tests mean something). Per-resource calls are left only
//! where a service has no bulk read of tags: an EventBridge rule's tags, an
//! event source mapping's (asked only of mappings on a function or queue
//! cairn made), an instance profile's when its listing omits them (as AWS's
//! does), and an SSM parameter
//! whose one-level ARN does not say whether its name starts with `/`, and
//! a KMS key's state (one pending deletion is still tagged, and listed).
//! Results are deduplicated by kind and physical id.

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

/// Every resource in the clients' region (plus IAM, which is global, when
/// `global` is true: a search of several regions asks for it once) whose
/// tags include `cairn:stack`, and, when `stacks` is not empty, whose
/// `cairn:stack` is one of them. Sorted by kind, then physical id.
pub async fn find(clients: &Clients, stacks: &[String], global: bool) -> Result<Vec<Found>, OpError> {
    // The first wave: every listing at once.
    let mut lookups: Vec<BoxFuture<'_, Result<Vec<Found>, OpError>>> = Vec::new();
    #[cfg(feature = "iam")]
    if global {
        lookups.push(own::iam(clients, stacks).boxed());
    }
    #[cfg(feature = "events")]
    lookups.push(own::events_rules(clients, stacks).boxed());
    #[cfg(feature = "cloudtrail")]
    lookups.push(own::cloudtrail_trails(clients, stacks).boxed());
    let _ = global;
    let (tagged, queues, mappings, listed) = futures::try_join!(
        tagging_api(clients, stacks),
        own::queue_urls(clients),
        own::lambda_mappings(clients),
        futures::future::try_join_all(lookups),
    )?;

    // The second: what the listings left to ask.
    let found_by_api = resolve_all(clients, tagged, &queues).await?;
    let on_mappings = own::mappings_of(clients, stacks, mappings, &found_by_api).await?;

    let mut all: BTreeMap<(&'static str, String), Found> = BTreeMap::new();
    for found in found_by_api.into_iter().chain(on_mappings).chain(listed.into_iter().flatten()) {
        all.entry((found.kind, found.physical_id.clone())).or_insert(found);
    }
    let found: Vec<Found> = all.into_values().collect();
    #[cfg(feature = "ec2")]
    let found = own::drop_gone_instances(clients, found).await?;
    #[cfg(all(feature = "sns", feature = "sqs"))]
    let found = own::with_check_subscriptions(clients, found).await?;
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

/// An event source mapping as listed.
#[allow(dead_code)]
struct Mapping {
    uuid: String,
    arn: String,
    function: String,
    source: String,
}

/// Tags as a map.
#[allow(dead_code)]
fn tag_map<'a>(tags: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    tags.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Whether tags mark a resource of the stack asked for (any stack when `None`).
fn wanted(tags: &BTreeMap<String, String>, stacks: &[String]) -> bool {
    tags.get(STACK_TAG).is_some_and(|s| stacks.is_empty() || stacks.contains(s))
}

/// Whether an error says the resource is gone (deleted between a list and
/// a per-resource call): then it is skipped, not an error.
fn is_gone<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code().is_some_and(|c| c == "NoSuchEntity" || c.contains("NotFound"))
}

// ---- the Resource Groups Tagging API -----------------------------------------

/// One resource as the Tagging API gives it: ARN and tags.
type Tagged = (String, BTreeMap<String, String>);

/// Every resource the Tagging API knows with a `cairn:stack` tag (of `stack`).
async fn tagging_api(clients: &Clients, stacks: &[String]) -> Result<Vec<Tagged>, OpError> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;

    let api = clients.tagging().await;
    // The API takes up to 20 values; more stacks are filtered here.
    let values = (1..=20).contains(&stacks.len()).then(|| stacks.to_vec());
    let filter = TagFilter::builder().key(STACK_TAG).set_values(values).build();
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = api
            .get_resources()
            .tag_filters(filter.clone())
            .resources_per_page(100)
            .set_pagination_token(token.clone())
            .send()
            .await
            .map_err(|e| aws_error("GetResources", &e))?;
        for m in out.resource_tag_mapping_list() {
            let tags: BTreeMap<String, String> =
                m.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
            if wanted(&tags, stacks) {
                found.push((m.resource_arn().unwrap_or_default().to_string(), tags));
            }
        }
        match out.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(found)
}

/// The kinds and physical ids of what the Tagging API found, queue URLs
/// from the listing of queues.
async fn resolve_all(
    clients: &Clients,
    tagged: Vec<Tagged>,
    queues: &BTreeMap<(String, String), String>,
) -> Result<Vec<Found>, OpError> {
    each(tagged, |(arn, tags)| async move {
        let Some(parsed) = classify(&arn) else { return Ok(None) };
        let Some((kind, physical_id)) = resolve(clients, parsed, queues).await? else { return Ok(None) };
        Ok::<_, OpError>(Some(Found { kind, physical_id, arn, tags }))
    })
    .await
}

/// What an ARN from the Tagging API names, as far as the ARN alone tells.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Parsed {
    /// Kind and physical id.
    Known(&'static str, String),
    /// An SQS queue: its URL is looked up in the listing of queues.
    #[cfg(feature = "sqs")]
    Queue { name: String, account: String },
    /// An SSM parameter whose ARN has one level, `parameter/x`: the name is
    /// `x` or `/x`, which the ARN does not tell apart.
    #[cfg(feature = "ssm")]
    FlatParameter(String),
    /// A KMS key (its id): kept only when it is not pending deletion, which
    /// for KMS is deleted, though the Tagging API still lists it.
    #[cfg(feature = "kms")]
    Key(String),
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
        #[cfg(feature = "kms")]
        "kms" => {
            let id = resource.strip_prefix("key/").filter(|id| !id.is_empty())?;
            Some(Parsed::Key(id.to_string()))
        }
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
/// resource is gone by now. `queues` maps (account, name) to URL.
#[allow(unused_variables)]
async fn resolve(
    clients: &Clients,
    parsed: Parsed,
    queues: &BTreeMap<(String, String), String>,
) -> Result<Option<(&'static str, String)>, OpError> {
    match parsed {
        Parsed::Known(kind, id) => Ok(Some((kind, id))),
        // Not listed: deleted since the Tagging API (which lags) saw it.
        #[cfg(feature = "sqs")]
        Parsed::Queue { name, account } => {
            Ok(queues.get(&(account, name)).map(|url| (type_of::<crate::kinds::sqs_queue::Queue>(), url.clone())))
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
        #[cfg(feature = "kms")]
        Parsed::Key(id) => {
            let meta = match clients.kms().await.describe_key().key_id(&id).send().await {
                Ok(out) => out.key_metadata().cloned(),
                Err(e) if is_gone(&e) => return Ok(None),
                Err(e) => return Err(aws_error("DescribeKey", &e)),
            };
            let pending = meta.as_ref().is_some_and(crate::kinds::kms_key::pending_deletion);
            Ok((!pending).then(|| (type_of::<crate::kinds::kms_key::Key>(), id)))
        }
        #[allow(unreachable_patterns)]
        _ => Ok(None),
    }
}

// ---- kinds listed by their own calls -----------------------------------------

mod own {
    #![allow(unused_imports)]
    use super::*;

    /// IAM roles, with their tags, by one paged GetAccountAuthorizationDetails
    /// (ListRoles omits tags); then instance profiles by ListInstanceProfiles.
    /// A profile's listing may omit its tags (AWS's does; the emulator's does
    /// not): then they are read by GetInstanceProfile, as the kind reads them
    /// (moto lacks ListInstanceProfileTags), one call per profile.
    /// Service-linked roles (path `/aws-service-role/`) are AWS's, never cairn's.
    #[cfg(feature = "iam")]
    pub(super) async fn iam(clients: &Clients, stacks: &[String]) -> Result<Vec<Found>, OpError> {
        use aws_sdk_iam::types::EntityType;

        let iam = clients.iam().await;
        let pages: Vec<_> = iam
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .max_items(1000)
            .into_paginator()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("GetAccountAuthorizationDetails", &e))?;
        let mut found = Vec::new();
        for role in pages.iter().flat_map(|p| p.role_detail_list()) {
            let (Some(name), Some(arn)) = (role.role_name(), role.arn()) else { continue };
            if role.path().is_some_and(|p| p.starts_with("/aws-service-role/")) {
                continue;
            }
            let tags = tag_map(role.tags().iter().map(|t| (t.key(), t.value())));
            if wanted(&tags, stacks) {
                found.push(Found {
                    kind: type_of::<crate::kinds::iam_role::Role>(),
                    physical_id: name.to_string(),
                    arn: arn.to_string(),
                    tags,
                });
            }
        }
        let profiles: Vec<_> = iam
            .list_instance_profiles()
            .max_items(1000)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListInstanceProfiles", &e))?;
        let iam = &iam;
        let profiles = each(profiles, |p| async move {
            let name = p.instance_profile_name().to_string();
            let listed = tag_map(p.tags().iter().map(|t| (t.key(), t.value())));
            // A profile cairn made may hold a role it did not (an instance
            // given `role: an-existing-role`): when the listing omits tags,
            // every profile is asked.
            let tags = if !listed.is_empty() {
                listed
            } else {
                match iam.get_instance_profile().instance_profile_name(&name).send().await {
                    Ok(out) => out
                        .instance_profile()
                        .map(|p| tag_map(p.tags().iter().map(|t| (t.key(), t.value()))))
                        .unwrap_or_default(),
                    Err(e) if is_gone(&e) => return Ok(None),
                    Err(e) => return Err(aws_error("GetInstanceProfile", &e)),
                }
            };
            Ok(wanted(&tags, stacks).then(|| Found {
                kind: type_of::<crate::kinds::iam_instance_profile::InstanceProfile>(),
                physical_id: name,
                arn: p.arn().to_string(),
                tags,
            }))
        })
        .await?;
        found.extend(profiles);
        Ok(found)
    }

    /// `cairn check`'s temporary queues (tagged `cairn:check`) come with
    /// their subscriptions, which carry no tags: one paged ListSubscriptions
    /// finds those whose endpoint is such a queue, and they are swept with
    /// it (first, being of an earlier wave). Asked only when such a queue
    /// is found.
    #[cfg(all(feature = "sns", feature = "sqs"))]
    pub(super) async fn with_check_subscriptions(
        clients: &Clients,
        mut found: Vec<Found>,
    ) -> Result<Vec<Found>, OpError> {
        // `check::TAG_CHECK`, spelt here for builds without `check`.
        const TAG_CHECK: &str = "cairn:check";
        let queues: BTreeMap<String, BTreeMap<String, String>> = found
            .iter()
            .filter(|f| f.kind == "aws:sqs:Queue" && f.tags.contains_key(TAG_CHECK))
            .map(|f| (f.arn.clone(), f.tags.clone()))
            .collect();
        if queues.is_empty() {
            return Ok(found);
        }
        let subscriptions: Vec<aws_sdk_sns::types::Subscription> = clients
            .sns()
            .await
            .list_subscriptions()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("listing SNS subscriptions (sns:ListSubscriptions)", &e))?;
        for s in subscriptions {
            let (Some(arn), Some(endpoint)) = (s.subscription_arn(), s.endpoint()) else { continue };
            let Some(tags) = queues.get(endpoint) else { continue };
            if !arn.starts_with("arn:") {
                continue; // "PendingConfirmation": nothing to unsubscribe
            }
            let mut tags = tags.clone();
            let label = tags.get(cairn_engine::kind::TAG_RESOURCE).cloned().unwrap_or_default();
            tags.insert(cairn_engine::kind::TAG_RESOURCE.to_string(), format!("{label}-subscription"));
            found.push(Found {
                kind: "aws:sns:Subscription",
                physical_id: arn.to_string(),
                arn: arn.to_string(),
                tags,
            });
        }
        Ok(found)
    }

    /// Every queue's URL by (account, name), by one paged ListQueues.
    pub(super) async fn queue_urls(clients: &Clients) -> Result<BTreeMap<(String, String), String>, OpError> {
        #[cfg(feature = "sqs")]
        {
            let urls: Vec<String> = clients
                .sqs()
                .await
                .list_queues()
                .max_results(1000)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("ListQueues", &e))?;
            // `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`
            Ok(urls
                .into_iter()
                .filter_map(|url| {
                    let mut parts = url.rsplitn(3, '/');
                    let (name, account) = (parts.next()?.to_string(), parts.next()?.to_string());
                    Some(((account, name), url))
                })
                .collect())
        }
        #[cfg(not(feature = "sqs"))]
        {
            let _ = clients;
            Ok(BTreeMap::new())
        }
    }

    /// EventBridge rules on every bus, by ListEventBuses, ListRules and
    /// ListTagsForResource.
    #[cfg(feature = "events")]
    pub(super) async fn events_rules(clients: &Clients, stacks: &[String]) -> Result<Vec<Found>, OpError> {
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
                let out = match events
                    .list_rules()
                    .event_bus_name(bus)
                    .limit(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                {
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
            Ok(wanted(&tags, stacks).then(|| Found {
                kind: type_of::<crate::kinds::events_rule::Rule>(),
                physical_id: arn.clone(),
                arn,
                tags,
            }))
        })
        .await
    }

    /// CloudTrail trails whose home is this region, by DescribeTrails and
    /// ListTags, which takes 20 trails a call.
    #[cfg(feature = "cloudtrail")]
    pub(super) async fn cloudtrail_trails(clients: &Clients, stacks: &[String]) -> Result<Vec<Found>, OpError> {
        let ct = clients.cloudtrail().await;
        let out = ct
            .describe_trails()
            .include_shadow_trails(false)
            .send()
            .await
            .map_err(|e| aws_error("DescribeTrails", &e))?;
        let arns: Vec<String> =
            out.trail_list().iter().filter_map(|t| t.trail_arn().map(ToString::to_string)).collect();
        let mut found = Vec::new();
        for chunk in arns.chunks(20) {
            let out = match ct.list_tags().set_resource_id_list(Some(chunk.to_vec())).send().await {
                Ok(out) => out,
                // One of them went since DescribeTrails: ask one by one.
                Err(e) if is_gone(&e) && chunk.len() > 1 => {
                    for arn in chunk {
                        found.extend(trail_tags(ct, std::slice::from_ref(arn), stacks).await?);
                    }
                    continue;
                }
                Err(e) if is_gone(&e) => continue,
                Err(e) => return Err(aws_error("ListTags", &e)),
            };
            found.extend(trails_found(&out, stacks));
        }
        Ok(found)
    }

    #[cfg(feature = "cloudtrail")]
    async fn trail_tags(
        ct: &aws_sdk_cloudtrail::Client,
        arns: &[String],
        stacks: &[String],
    ) -> Result<Vec<Found>, OpError> {
        match ct.list_tags().set_resource_id_list(Some(arns.to_vec())).send().await {
            Ok(out) => Ok(trails_found(&out, stacks)),
            Err(e) if is_gone(&e) => Ok(Vec::new()),
            Err(e) => Err(aws_error("ListTags", &e)),
        }
    }

    #[cfg(feature = "cloudtrail")]
    fn trails_found(out: &aws_sdk_cloudtrail::operation::list_tags::ListTagsOutput, stacks: &[String]) -> Vec<Found> {
        out.resource_tag_list()
            .iter()
            .filter_map(|r| {
                let arn = r.resource_id()?.to_string();
                let tags = tag_map(r.tags_list().iter().map(|t| (t.key(), t.value().unwrap_or_default())));
                wanted(&tags, stacks).then(|| Found {
                    kind: type_of::<crate::kinds::cloudtrail_trail::Trail>(),
                    physical_id: arn.clone(),
                    arn,
                    tags,
                })
            })
            .collect()
    }

    /// Every Lambda event source mapping not being deleted, by one paged
    /// ListEventSourceMappings.
    pub(super) async fn lambda_mappings(clients: &Clients) -> Result<Vec<Mapping>, OpError> {
        #[cfg(feature = "lambda")]
        {
            let mappings: Vec<_> = clients
                .lambda()
                .await
                .list_event_source_mappings()
                .max_items(10_000)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| aws_error("ListEventSourceMappings", &e))?;
            Ok(mappings
                .into_iter()
                .filter(|m| m.state() != Some("Deleting"))
                .filter_map(|m| {
                    Some(Mapping {
                        uuid: m.uuid()?.to_string(),
                        // No ARN, no tags to tell whose it is.
                        arn: m.event_source_mapping_arn()?.to_string(),
                        function: m.function_arn().unwrap_or_default().to_string(),
                        source: m.event_source_arn().unwrap_or_default().to_string(),
                    })
                })
                .collect())
        }
        #[cfg(not(feature = "lambda"))]
        {
            let _ = clients;
            Ok(Vec::new())
        }
    }

    /// The mappings cairn made, of those on a function or queue it made (as
    /// found by the Tagging API), by their tags (ListTags each).
    pub(super) async fn mappings_of(
        clients: &Clients,
        stacks: &[String],
        mappings: Vec<Mapping>,
        found: &[Found],
    ) -> Result<Vec<Found>, OpError> {
        #[cfg(feature = "lambda")]
        {
            let function = type_of::<crate::kinds::lambda_function::Function>();
            let parents: std::collections::BTreeSet<&str> = found
                .iter()
                .filter(|f| f.kind == function || f.kind == "aws:sqs:Queue")
                .map(|f| if f.kind == function { f.physical_id.as_str() } else { f.arn.as_str() })
                .collect();
            // A function ARN may carry a version: `...:function:NAME[:QUALIFIER]`.
            fn function_name(arn: &str) -> Option<&str> {
                arn.split(":function:").nth(1).map(|r| r.split(':').next().unwrap_or(r))
            }
            let candidates: Vec<Mapping> = mappings
                .into_iter()
                .filter(|m| {
                    function_name(&m.function).is_some_and(|n| parents.contains(n))
                        || parents.contains(m.source.as_str())
                })
                .collect();
            let lambda = clients.lambda().await;
            let lambda = &lambda;
            each(candidates, |m| async move {
                let tags = match lambda.list_tags().resource(&m.arn).send().await {
                    Ok(out) => out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                    Err(e) if is_gone(&e) => return Ok(None),
                    Err(e) => return Err(aws_error("ListTags", &e)),
                }
                .unwrap_or_default();
                Ok(wanted(&tags, stacks).then(|| Found {
                    kind: type_of::<crate::kinds::lambda_event_source_mapping::EventSourceMapping>(),
                    physical_id: m.uuid,
                    arn: m.arn,
                    tags,
                }))
            })
            .await
        }
        #[cfg(not(feature = "lambda"))]
        {
            let _ = (clients, stacks, mappings, found);
            Ok(Vec::new())
        }
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
        assert!(wanted(&tags, &[]));
        assert!(wanted(&tags, &["a".to_string()]));
        assert!(wanted(&tags, &["b".to_string(), "a".to_string()]));
        assert!(!wanted(&tags, &["b".to_string()]));
        assert!(!wanted(&BTreeMap::new(), &[]));
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
        assert_eq!(classify("arn:aws:kms:us-east-1:1:key/1234abcd"), Some(Parsed::Key("1234abcd".to_string())));
        assert_eq!(classify("arn:aws:kms:us-east-1:1:alias/a"), None);
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
