//! `aws:s3:Bucket`: an S3 bucket. Physical id: the bucket name.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketLoggingStatus,
    BucketVersioningStatus, CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleExpiration,
    LifecycleRule as S3LifecycleRule, LifecycleRuleFilter, LoggingEnabled, NoncurrentVersionExpiration,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use cairn_engine::kind::{
    AttrType, Environment, KindDoc, NameCtx, Observed, OpCtx, OpError, PropError, RefProp, TypedKind,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::Clients;
use crate::error::aws_error;
use crate::kinds::{BUCKET_SUFFIX_LEN, Call, all, bucket_name_with_suffix, call_retrying, unresolved, validate_policy};
use crate::normalize::{parse_document, policy_as_read};
use crate::retry::{Backoff, Bound, Wait, human};
use crate::tags::{add_tags_to, live_tags_of};

// ---- props -----------------------------------------------------------------

/// An S3 bucket: private, encrypted, TLS only, ACLs off and tagged unless told otherwise.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BucketProps {
    /// Bucket name: 3-63 of `a-z 0-9 . -`, globally unique. Default
    /// `<stack>-<id>` lower-cased plus a short suffix derived from the
    /// account, region, stack and id, chosen when the bucket is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The bucket policy document; unset means no bucket policy (but see
    /// `require_tls`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// Refuse every request made without TLS: cairn merges a Deny on
    /// `aws:SecureTransport` false into the bucket policy (CIS AWS 2.1.1),
    /// unless the policy already holds one. On by default.
    #[serde(default = "yes")]
    pub require_tls: bool,
    /// Object ownership: `BucketOwnerEnforced` (the default: ACLs are
    /// disabled and the bucket owns every object), `BucketOwnerPreferred` or
    /// `ObjectWriter` (ACLs apply).
    #[serde(default)]
    pub object_ownership: ObjectOwnership,
    /// S3 Block Public Access for this bucket; all four settings default on.
    #[serde(default)]
    pub public_access_block: PublicAccessBlock,
    /// Default encryption of new objects; SSE-S3 (`AES256`) unless told otherwise.
    #[serde(default)]
    pub encryption: Encryption,
    /// Keep every version of every object. Turning it off suspends versioning.
    /// Off unless set, except on a bucket a trail writes to, where cairn
    /// turns it on (a `versioning: false` written in the stack keeps it off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub versioning: bool,
    /// Lifecycle rules: expire objects, old versions, unfinished uploads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle: Vec<LifecycleRule>,
    /// Server access logging: S3 writes a record of each request made to
    /// this bucket into another bucket. Unset means no logging; removing it
    /// turns logging off. When the log bucket is a bucket of the stack,
    /// cairn adds the statement S3's logging service needs to that bucket's
    /// policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logging: Option<AccessLogging>,
    /// On delete, empty a non-empty bucket (every object version and delete
    /// marker) instead of failing. Without it, only what CloudTrail
    /// delivered (under `AWSLogs/<account>/`) is deleted, and any other
    /// object stops the delete.
    #[serde(default)]
    pub force_destroy: bool,
}

/// The four S3 Block Public Access settings.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    #[serde(default = "yes")]
    pub block_public_acls: bool,
    /// Ignore public ACLs already on the bucket and its objects.
    #[serde(default = "yes")]
    pub ignore_public_acls: bool,
    /// Refuse a bucket policy that grants public access.
    #[serde(default = "yes")]
    pub block_public_policy: bool,
    /// With a public policy, allow only AWS services and this account.
    #[serde(default = "yes")]
    pub restrict_public_buckets: bool,
}

impl Default for PublicAccessBlock {
    fn default() -> Self {
        PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        }
    }
}

impl PublicAccessBlock {
    /// Every setting off: the bucket may be made public by a policy or ACL.
    pub fn off() -> Self {
        PublicAccessBlock {
            block_public_acls: false,
            ignore_public_acls: false,
            block_public_policy: false,
            restrict_public_buckets: false,
        }
    }
}

fn yes() -> bool {
    true
}

impl Default for BucketProps {
    fn default() -> Self {
        BucketProps {
            name: None,
            policy: None,
            require_tls: true,
            object_ownership: ObjectOwnership::default(),
            public_access_block: PublicAccessBlock::default(),
            encryption: Encryption::default(),
            versioning: false,
            lifecycle: Vec::new(),
            access_logging: None,
            force_destroy: false,
        }
    }
}

/// Where S3 delivers a bucket's server access logs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AccessLogging {
    /// The log bucket's name, best written `${<id>.name}` for a bucket of
    /// the stack (this bucket is then made after it). Not this bucket
    /// itself; in the same account and region.
    pub bucket: String,
    /// Key prefix of the log objects, such as `access/<bucket>/`; end it
    /// with `/` to keep each bucket's logs under a folder of their own.
    /// Unset puts them at the top of the log bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Who owns the objects others write, and whether ACLs count.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ObjectOwnership {
    /// ACLs disabled; the bucket owner owns every object.
    #[default]
    BucketOwnerEnforced,
    /// ACLs apply; the owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// ACLs apply; the writer owns what it writes (S3's rule before 2023,
    /// and what a bucket with no ownership controls has).
    ObjectWriter,
}

impl ObjectOwnership {
    fn s3(self) -> aws_sdk_s3::types::ObjectOwnership {
        use aws_sdk_s3::types::ObjectOwnership as S3;
        match self {
            ObjectOwnership::BucketOwnerEnforced => S3::BucketOwnerEnforced,
            ObjectOwnership::BucketOwnerPreferred => S3::BucketOwnerPreferred,
            ObjectOwnership::ObjectWriter => S3::ObjectWriter,
        }
    }

    fn from_s3(o: &aws_sdk_s3::types::ObjectOwnership) -> Self {
        use aws_sdk_s3::types::ObjectOwnership as S3;
        match o {
            S3::BucketOwnerEnforced => ObjectOwnership::BucketOwnerEnforced,
            S3::BucketOwnerPreferred => ObjectOwnership::BucketOwnerPreferred,
            _ => ObjectOwnership::ObjectWriter,
        }
    }
}

/// Default server-side encryption.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    #[serde(default)]
    pub algorithm: SseAlgorithm,
    /// The KMS key (id, alias or ARN) for `aws:kms`; unset uses the AWS
    /// managed key `aws/s3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// `AES256` (SSE-S3) or `aws:kms` (SSE-KMS).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SseAlgorithm {
    #[default]
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    Kms,
}

/// One lifecycle rule, applying to the objects under `prefix`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LifecycleRule {
    /// Unique among the bucket's rules, up to 255 characters.
    pub id: String,
    /// Key prefix the rule applies to; unset means every object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Expire current objects this many days after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_days: Option<i32>,
    /// Delete non-current versions this many days after they became non-current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration_days: Option<i32>,
    /// Abort multipart uploads not completed this many days after they began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_days: Option<i32>,
}

/// The `aws:s3:Bucket` kind.
pub struct Bucket {
    clients: Arc<Clients>,
}

impl Bucket {
    pub fn new(clients: Arc<Clients>) -> Self {
        Bucket { clients }
    }
}

const MIN_NAME: usize = 3;
const MAX_NAME: usize = 63;
const MAX_RULES: usize = 1000;
const MAX_RULE_ID: usize = 255;
const SUFFIX_LEN: usize = BUCKET_SUFFIX_LEN;
/// DeleteObjects takes at most this many keys per call.
const DELETE_BATCH: usize = 1000;
/// How many times a delete empties a bucket that keeps filling again.
const EMPTYING_ROUNDS: u32 = 5;

#[async_trait]
impl TypedKind for Bucket {
    const TYPE: &'static str = "aws:s3:Bucket";
    const ATTRIBUTES: &'static [&'static str] = &["arn", "name", "domain_name"];
    const REPLACE_ON: &'static [&'static str] = &["name"];
    const REF_PROPS: &'static [RefProp] =
        &[RefProp { path: &["access_logging", "bucket"], when: None, accepts: &[AttrType::Name("aws:s3:Bucket")] }];
    type Props = BucketProps;
    const DOC: &'static KindDoc = &KindDoc {
        physical_id: "the bucket's name",
        attributes: &[
            ("arn", "the bucket's ARN (`arn:aws:s3:::<name>`)"),
            ("name", "the bucket's name"),
            ("domain_name", "the bucket's global domain name, `<name>.s3.amazonaws.com`"),
        ],
        quirks: &[
            "Bucket names are global: the default name gets a suffix from the account, region, stack and id, and only a bucket tagged as this resource is taken over.",
            "CreateBucket succeeds on a bucket this account already owns in us-east-1: the look for an existing bucket is made right before the create.",
            "Deleting a non-empty bucket fails: cairn empties it (every version and delete marker) only with `force_destroy`, or when it holds only CloudTrail's logs; otherwise it fails saying so, and the plan warns first.",
            "S3 refuses a change while another to the same bucket is in flight (`OperationAborted`): waited out and retried.",
            "Policies are compared by meaning, so AWS's reordering shows no diff.",
            "`require_tls` merges a Deny of `aws:SecureTransport` false into the policy with the bucket's real name (known only at create), unless the policy holds one of the same meaning; a read splits it off, so a deleted statement shows as `require_tls` changing.",
            "A bucket with no ownership controls reads as `ObjectWriter` (ACLs apply), S3's rule before 2023.",
            "Server access logs reach a bucket with ACLs disabled only through its policy (a grant to S3's log-delivery group is refused there): the glue writes the statement for `logging.s3.amazonaws.com` into a log bucket of the stack. Removing `access_logging` puts an empty logging status, the one way S3 offers to turn logging off.",
        ],
    };

    /// A sweep deletes what cairn made, objects (every version) included:
    /// the user asked for it with `--yes` after seeing the list.
    fn found_props() -> BucketProps {
        BucketProps { force_destroy: true, ..BucketProps::default() }
    }

    // The default name depends on the account and region, which offline
    // checks do not know: it is chosen at create time, see `default_name`.
    fn defaults(props: &mut BucketProps, _cx: &NameCtx<'_>) {
        // S3 reads an empty log prefix back as none: one canonical form.
        if let Some(logging) = &mut props.access_logging
            && logging.prefix.as_deref() == Some("")
        {
            logging.prefix = None;
        }
    }

    // ---- validate --------------------------------------------------------------

    fn validate(props: &BucketProps, errors: &mut Vec<PropError>) {
        if let Some(name) = &props.name
            && !unresolved(name)
            && let Err(problem) = check_bucket_name(name)
        {
            errors.push(
                PropError::new(&["name"], format!("bucket name `{name}` {problem}"))
                    .expected("3 to 63 characters of `a-z 0-9 . -`, starting and ending with a letter or digit"),
            );
        }
        if let Some(p) = &props.policy {
            validate_policy(p, errors);
        }
        if props.encryption.kms_key.is_some() && props.encryption.algorithm != SseAlgorithm::Kms {
            errors.push(
                PropError::new(&["encryption", "kms_key"], "a KMS key is set but the algorithm is AES256")
                    .expected("`algorithm: aws:kms` with `kms_key`, or no `kms_key`"),
            );
        }
        validate_lifecycle(&props.lifecycle, errors);
        if let Some(logging) = &props.access_logging {
            validate_access_logging(props.name.as_deref(), logging, errors);
        }
    }

    // ---- create ----------------------------------------------------------------

    async fn create(&self, cx: &OpCtx, props: &BucketProps) -> Result<Observed<BucketProps>, OpError> {
        let name = props.name.clone().unwrap_or_else(|| default_name(&cx.env, &cx.stack, &cx.resource));
        let s3 = self.clients.s3().await;
        let action = format!("creating S3 bucket {name}");

        // Bucket names are global: only this stack's own bucket (left by a
        // run that died before saving state) may be adopted.
        // Always right before the create, never early: CreateBucket cannot
        // ask the question itself (it succeeds on a bucket this account owns
        // in us-east-1), so the look must be as close to it as it can be.
        match bucket_exists(s3, &name).await {
            Ok(false) => {}
            Ok(true) => {
                let tags = bucket_tags(s3, &name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                cx.ensure_owns(&tags, format!("S3 bucket {name}"))?;
                let live =
                    self.read_props(&name, props).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
                self.converge(cx, &name, live.as_ref(), props, Fresh::No, &action).await?;
                return Ok(observed(&cx.env, &name, props.clone()));
            }
            Err(Existence::OtherAccount) => {
                return Err(OpError::NotOwned {
                    what: format!("S3 bucket {name}"),
                    owner: "it belongs to another AWS account".to_string(),
                });
            }
            Err(Existence::Failed(e)) => return Err(OpError::failed(format!("{action}: {e}"))),
        }

        let mut req = s3.create_bucket().bucket(&name);
        if cx.env.region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(cx.env.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {}
            // A concurrent retry of this same create won the race.
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => {}
            Err(e) => return Err(aws_error(&action, &e)),
        }
        // Tags first, so that a failure below still leaves an owned bucket.
        self.converge(cx, &name, None, props, Fresh::JustCreated, &action).await?;
        Ok(observed(&cx.env, &name, props.clone()))
    }

    // ---- read ------------------------------------------------------------------

    async fn read(&self, cx: &OpCtx, name: &str, last: &BucketProps) -> Result<Option<Observed<BucketProps>>, OpError> {
        let props =
            self.read_props(name, last).await.map_err(|e| OpError::failed(format!("reading S3 bucket {name}: {e}")))?;
        Ok(props.map(|p| observed(&cx.env, name, p)))
    }

    // ---- update ----------------------------------------------------------------

    async fn update(
        &self,
        cx: &OpCtx,
        name: &str,
        old: &BucketProps,
        new: &BucketProps,
    ) -> Result<Observed<BucketProps>, OpError> {
        let action = format!("updating S3 bucket {name}");
        // Compare against what is live, not only `old`, so drift is repaired too.
        let Some(live) = self.read_props(name, old).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?
        else {
            return Err(OpError::failed(format!("{action}: the bucket no longer exists")));
        };
        self.converge(cx, name, Some(&live), new, Fresh::No, &action).await?;
        Ok(observed(&cx.env, name, new.clone()))
    }

    // ---- delete ----------------------------------------------------------------

    /// See [`Bucket::objects_at_risk`] (at the end of this file).
    async fn data_at_risk(&self, cx: &OpCtx, name: &str, props: &BucketProps) -> Option<String> {
        self.objects_at_risk(cx, name, props).await
    }

    // ---- tags, for import -------------------------------------------------------

    async fn live_tags(&self, _cx: &OpCtx, name: &str) -> Result<Option<BTreeMap<String, String>>, OpError> {
        let s3 = self.clients.s3().await;
        live_tags_of(&format!("S3 bucket {name}"), exists(s3, name), |()| bucket_tags(s3, name)).await
    }

    /// PutBucketTagging replaces the whole set: the live set is read, `tags`
    /// merged in, and the merged set put back, so nothing is removed. A
    /// write to the bucket's tags between the read and the put would be
    /// lost; S3 offers nothing better (no conditional tagging call).
    async fn add_tags(&self, cx: &OpCtx, name: &str, tags: &BTreeMap<String, String>) -> Result<(), OpError> {
        let s3 = self.clients.s3().await;
        add_tags_to(&format!("S3 bucket {name}"), exists(s3, name), |(), action| async move {
            let live = bucket_tags(s3, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            let mut merged = live.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            let merged = with_system_tags(&live, &merged);
            if merged == live {
                return Ok(());
            }
            let put = tagging_of(&merged).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            call_retrying(cx, self.clients.waits(), action, s3_busy, move || {
                s3.put_bucket_tagging().bucket(name).tagging(put.clone()).send()
            })
            .await
        })
        .await
    }

    async fn delete(&self, cx: &OpCtx, name: &str, props: &BucketProps) -> Result<(), OpError> {
        let s3 = self.clients.s3().await;
        let action = format!("deleting S3 bucket {name}");
        match s3.delete_bucket().bucket(name).send().await {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(()),
            Err(e) if e.code() == Some("BucketNotEmpty") => {}
            Err(e) => return Err(aws_error(&action, &e)),
        }
        // Without `force_destroy` only what CloudTrail delivered may go (a
        // trail's bucket would otherwise outlive its stack), and nothing is
        // deleted unless all of it may.
        let account = cx.env.account_id.as_str();
        let may_delete = |key: &str| props.force_destroy || delivered_by_cloudtrail(key, account);
        let refused = |key: &str| {
            OpError::failed(format!(
                "{action}: the bucket is not empty: it holds `{key}`, which CloudTrail did not deliver; \
                 set `force_destroy: true` to let cairn delete every object in it, or empty it yourself"
            ))
        };
        if !props.force_destroy
            && let Some(key) = first_key(s3, name, |key| !may_delete(key))
                .await
                .map_err(|e| OpError::failed(format!("{action}: listing its objects: {e}")))?
        {
            return Err(refused(&key));
        }
        // CloudTrail may deliver a log file after its trail was stopped or
        // deleted, so the bucket may fill again between emptying and delete.
        let waits = self.clients.waits();
        let mut backoff = Backoff::new(waits);
        let mut round = 1;
        loop {
            empty_bucket(s3, name, &may_delete).await.map_err(|e| match e {
                Emptying::Refused(key) => refused(&key),
                Emptying::Failed(e) => OpError::failed(format!("{action}: emptying it: {e}")),
            })?;
            let error = match s3.delete_bucket().bucket(name).send().await {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == Some("NoSuchBucket") => return Ok(()),
                Err(e) => e,
            };
            let delay = backoff.next_delay(waits.bound(Bound::Busy)).filter(|_| round < EMPTYING_ROUNDS);
            let (Some(delay), Some("BucketNotEmpty")) = (delay, error.code()) else {
                return Err(aws_error(&action, &error));
            };
            (cx.notify)(&format!(
                "{action}: objects arrived after it was emptied (CloudTrail may deliver log files after its trail \
                 stopped); emptying it again in {}",
                human(delay)
            ));
            tokio::time::sleep(delay).await;
            round += 1;
        }
    }
}

impl Bucket {
    /// Applies every setting where `live` (unknown for a new bucket) differs
    /// from `want`. The settings are independent, so their calls are in
    /// flight together; only the policy waits for a changed public access
    /// block, which decides whether a policy may be public. Every call runs
    /// to its end even if another fails, so the tags land whatever happens.
    async fn converge(
        &self,
        cx: &OpCtx,
        name: &str,
        live: Option<&BucketProps>,
        want: &BucketProps,
        fresh: Fresh,
        action: &str,
    ) -> Result<(), OpError> {
        let s3 = self.clients.s3().await;
        let live_tags = match live {
            Some(_) => bucket_tags(s3, name).await.map_err(|e| OpError::failed(format!("{action}: {e}")))?,
            None => BTreeMap::new(),
        };
        // Calls on one bucket sent together may meet S3's OperationAborted
        // ("a conflicting conditional operation is in progress"): each is
        // sent again, with backoff, until S3 takes it.
        let waits = self.clients.waits();
        let s3_busy = match fresh {
            Fresh::JustCreated => s3_busy_or_new,
            Fresh::No => s3_busy,
        };
        let mut first: Vec<Call<'_>> = Vec::new();
        // PutBucketTagging replaces the whole set, and S3 refuses one that
        // leaves out the bucket's system tags (see `with_system_tags`).
        let want_tags = with_system_tags(&live_tags, &cx.tags);
        if live_tags != want_tags {
            let tagging = tagging_of(&want_tags).map_err(|e| OpError::failed(format!("{action}: {e}")))?;
            first.push(call_retrying(cx, waits, format!("{action}: tagging"), s3_busy, move || {
                s3.put_bucket_tagging().bucket(name).tagging(tagging.clone()).send()
            }));
        }

        let block_changes = live.map(|l| &l.public_access_block) != Some(&want.public_access_block);
        if block_changes {
            let b = &want.public_access_block;
            let config = PublicAccessBlockConfiguration::builder()
                .block_public_acls(b.block_public_acls)
                .ignore_public_acls(b.ignore_public_acls)
                .block_public_policy(b.block_public_policy)
                .restrict_public_buckets(b.restrict_public_buckets)
                .build();
            first.push(call_retrying(
                cx,
                waits,
                format!("{action}: setting public access block"),
                s3_busy,
                move || {
                    s3.put_public_access_block().bucket(name).public_access_block_configuration(config.clone()).send()
                },
            ));
        }

        if live.map(|l| &l.encryption) != Some(&want.encryption) {
            let algorithm = match want.encryption.algorithm {
                SseAlgorithm::Aes256 => ServerSideEncryption::Aes256,
                SseAlgorithm::Kms => ServerSideEncryption::AwsKms,
            };
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(algorithm)
                .set_kms_master_key_id(want.encryption.kms_key.clone())
                .build()
                .map_err(|e| OpError::failed(format!("{action}: encryption: {e}")))?;
            let config = ServerSideEncryptionConfiguration::builder()
                .rules(ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build())
                .build()
                .map_err(|e| OpError::failed(format!("{action}: encryption: {e}")))?;
            first.push(call_retrying(cx, waits, format!("{action}: setting encryption"), s3_busy, move || {
                s3.put_bucket_encryption().bucket(name).server_side_encryption_configuration(config.clone()).send()
            }));
        }

        // A new bucket is unversioned already; once versioned it can only be suspended.
        let live_versioning = live.is_some_and(|l| l.versioning);
        if live_versioning != want.versioning {
            let status =
                if want.versioning { BucketVersioningStatus::Enabled } else { BucketVersioningStatus::Suspended };
            first.push(call_retrying(cx, waits, format!("{action}: setting versioning"), s3_busy, move || {
                s3.put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(VersioningConfiguration::builder().status(status.clone()).build())
                    .send()
            }));
        }

        let live_rules = live.map_or(&[][..], |l| l.lifecycle.as_slice());
        if live_rules != want.lifecycle.as_slice() {
            if want.lifecycle.is_empty() {
                first.push(call_retrying(
                    cx,
                    waits,
                    format!("{action}: removing lifecycle rules"),
                    s3_busy,
                    move || s3.delete_bucket_lifecycle().bucket(name).send(),
                ));
            } else {
                let mut config = BucketLifecycleConfiguration::builder();
                for rule in &want.lifecycle {
                    config = config.rules(s3_rule(rule).map_err(|e| OpError::failed(format!("{action}: {e}")))?);
                }
                let config = config.build().map_err(|e| OpError::failed(format!("{action}: lifecycle: {e}")))?;
                first.push(call_retrying(
                    cx,
                    waits,
                    format!("{action}: setting lifecycle rules"),
                    s3_busy,
                    move || {
                        s3.put_bucket_lifecycle_configuration()
                            .bucket(name)
                            .lifecycle_configuration(config.clone())
                            .send()
                    },
                ));
            }
        }

        if live.map(|l| l.object_ownership) != Some(want.object_ownership) {
            let controls = aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(want.object_ownership.s3())
                        .build()
                        .map_err(|e| OpError::failed(format!("{action}: object ownership: {e}")))?,
                )
                .build()
                .map_err(|e| OpError::failed(format!("{action}: object ownership: {e}")))?;
            first.push(call_retrying(cx, waits, format!("{action}: setting object ownership"), s3_busy, move || {
                s3.put_bucket_ownership_controls().bucket(name).ownership_controls(controls.clone()).send()
            }));
        }

        // A new bucket logs nothing; an empty status turns logging off.
        let live_logging = live.and_then(|l| l.access_logging.as_ref());
        if live_logging != want.access_logging.as_ref() {
            let status = logging_status(want.access_logging.as_ref())
                .map_err(|e| OpError::failed(format!("{action}: access logging: {e}")))?;
            let what = if want.access_logging.is_some() { "setting" } else { "turning off" };
            first.push(call_retrying(cx, waits, format!("{action}: {what} access logging"), s3_busy, move || {
                s3.put_bucket_logging().bucket(name).bucket_logging_status(status.clone()).send()
            }));
        }

        // The policy S3 holds: the stack's, plus the TLS deny.
        let arn = bucket_arn(&cx.env, name);
        let live_policy = live.and_then(|l| effective_policy(&arn, l));
        let want_policy = effective_policy(&arn, want);
        let policy: Option<Call<'_>> = if live.is_some() && live_policy == want_policy
            || live.is_none() && want_policy.is_none()
        {
            None
        } else {
            Some(match want_policy.clone() {
                Some(policy) => {
                    call_retrying(cx, waits, format!("{action}: setting the bucket policy"), s3_busy, move || {
                        s3.put_bucket_policy().bucket(name).policy(policy.to_string()).send()
                    })
                }
                None => call_retrying(cx, waits, format!("{action}: removing the bucket policy"), s3_busy, move || {
                    s3.delete_bucket_policy().bucket(name).send()
                }),
            })
        };
        // A policy that grants only to named principals cannot be refused as
        // public, so it need not wait for the public access block.
        let must_wait = block_changes && !want_policy.as_ref().is_some_and(grants_only_to_named_principals);
        match policy {
            Some(policy) if must_wait => {
                all(first).await?;
                policy.await
            }
            Some(policy) => {
                first.push(policy);
                all(first).await
            }
            None => all(first).await,
        }
    }

    /// The bucket's props in canonical form, or `None` when it is gone.
    async fn read_props(&self, name: &str, last: &BucketProps) -> Result<Option<BucketProps>, String> {
        let s3 = self.clients.s3().await;
        // Seven independent reads, in flight together: one round trip.
        let (policy, public_access_block, encryption, versioning, lifecycle, ownership, logging) = tokio::join!(
            s3.get_bucket_policy().bucket(name).send(),
            s3.get_public_access_block().bucket(name).send(),
            s3.get_bucket_encryption().bucket(name).send(),
            s3.get_bucket_versioning().bucket(name).send(),
            s3.get_bucket_lifecycle_configuration().bucket(name).send(),
            s3.get_bucket_ownership_controls().bucket(name).send(),
            s3.get_bucket_logging().bucket(name).send(),
        );
        let policy = match policy {
            Ok(out) => out.policy().filter(|p| !p.is_empty()).map(parse_document),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) if e.code() == Some("NoSuchBucketPolicy") => None,
            Err(e) => return Err(aws_error("GetBucketPolicy", &e).to_string()),
        };
        let public_access_block = match public_access_block {
            Ok(out) => {
                out.public_access_block_configuration().map_or_else(PublicAccessBlock::off, |c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })
            }
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => PublicAccessBlock::off(),
            Err(e) => return Err(aws_error("GetPublicAccessBlock", &e).to_string()),
        };
        let encryption = match encryption {
            Ok(out) => out
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| Encryption {
                    algorithm: if *d.sse_algorithm() == ServerSideEncryption::Aes256 {
                        SseAlgorithm::Aes256
                    } else {
                        SseAlgorithm::Kms
                    },
                    kms_key: d.kms_master_key_id().filter(|k| !k.is_empty()).map(ToString::to_string),
                })
                .unwrap_or_default(),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            // Every bucket is encrypted with SSE-S3 when nothing else is set.
            Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => Encryption::default(),
            Err(e) => return Err(aws_error("GetBucketEncryption", &e).to_string()),
        };
        let versioning = match versioning {
            Ok(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) => match versioning_in_raw_body(&e) {
                Some(enabled) => enabled,
                None => return Err(aws_error("GetBucketVersioning", &e).to_string()),
            },
        };
        let object_ownership = match ownership {
            Ok(out) => out
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map_or(ObjectOwnership::ObjectWriter, |r| ObjectOwnership::from_s3(r.object_ownership())),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            // No ownership controls: ACLs apply and writers own their objects.
            Err(e) if e.code() == Some("OwnershipControlsNotFoundError") => ObjectOwnership::ObjectWriter,
            Err(e) => return Err(aws_error("GetBucketOwnershipControls", &e).to_string()),
        };
        let (policy, require_tls) = split_tls(policy, name, last);
        let lifecycle = match lifecycle {
            Ok(out) => out.rules().iter().map(rule_from_s3).collect(),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
            Err(e) => return Err(aws_error("GetBucketLifecycleConfiguration", &e).to_string()),
        };
        let access_logging = match logging {
            Ok(out) => out.logging_enabled().map(logging_from_s3),
            Err(e) if e.code() == Some("NoSuchBucket") => return Ok(None),
            Err(e) => return Err(aws_error("GetBucketLogging", &e).to_string()),
        };
        Ok(Some(BucketProps {
            // An unset name stays unset: it was derived, and reads the same.
            name: last.name.as_ref().map(|_| name.to_string()),
            policy: policy.map(|p| policy_as_read(p, last.policy.as_ref())),
            require_tls,
            object_ownership,
            public_access_block,
            encryption,
            versioning,
            lifecycle: rules_in_order(lifecycle, &last.lifecycle),
            access_logging,
            force_destroy: last.force_destroy,
        }))
    }
}

// ---- pure helpers ------------------------------------------------------------

/// Whether the bucket [`Bucket::converge`] works on was made a moment ago by
/// this create's own CreateBucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fresh {
    JustCreated,
    No,
}

/// S3's answer to a request on a bucket while another change to it is under
/// way: worth sending again.
fn s3_busy(code: Option<&str>, _message: Option<&str>) -> Option<Wait> {
    (code == Some("OperationAborted"))
        .then(|| Wait::new("waiting for S3 to finish another change to the bucket", Bound::Busy))
}

/// As [`s3_busy`], and S3 may answer `NoSuchBucket` for a moment to calls on
/// a bucket it has just created: only then is that worth waiting out (on a
/// bucket made earlier it means the bucket is gone).
fn s3_busy_or_new(code: Option<&str>, message: Option<&str>) -> Option<Wait> {
    if code == Some("NoSuchBucket") {
        return Some(Wait::new("waiting for S3 to finish creating the bucket", Bound::Propagation));
    }
    s3_busy(code, message)
}

/// Where CloudTrail delivers to a bucket for `account`, under its trail's
/// key prefix if any: `[<prefix>/]AWSLogs/<account>/` itself (the object it
/// writes to test the bucket), and what is under its `CloudTrail/`,
/// `CloudTrail-Digest/` and `CloudTrail-Insight/` there. Other services'
/// logs under `AWSLogs/<account>/` (load balancers, VPC flow logs) are not
/// CloudTrail's.
fn delivered_by_cloudtrail(key: &str, account: &str) -> bool {
    let root = format!("AWSLogs/{account}/");
    key.match_indices(&root).any(|(at, _)| {
        let rest = &key[at + root.len()..];
        (at == 0 || key[..at].ends_with('/'))
            && (rest.is_empty()
                || ["CloudTrail/", "CloudTrail-Digest/", "CloudTrail-Insight/"].iter().any(|d| rest.starts_with(d)))
    })
}

/// Whether every Allow statement of a bucket policy names its principals
/// (services, accounts, roles; no `*`, no `NotPrincipal`), so that S3 cannot
/// judge it public (it grants only to fixed values) and the public access
/// block's `block_public_policy` cannot refuse it. Conservative: anything
/// else counts as possibly public.
fn grants_only_to_named_principals(policy: &Value) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return false,
    };
    let fixed = |s: &str| !s.is_empty() && !s.contains('*');
    let named = |v: &Value| match v {
        Value::String(s) => fixed(s),
        Value::Array(list) => !list.is_empty() && list.iter().all(|x| x.as_str().is_some_and(fixed)),
        _ => false,
    };
    statements.iter().all(|st| {
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            return true;
        }
        match (st.get("NotPrincipal"), st.get("Principal")) {
            (None, Some(Value::Object(p))) => {
                !p.is_empty() && p.iter().all(|(k, v)| matches!(k.as_str(), "Service" | "AWS") && named(v))
            }
            _ => false,
        }
    })
}

/// The Sid of the statement `require_tls` adds.
const TLS_SID: &str = "cairn-deny-insecure-transport";

/// The statement `require_tls` adds for the bucket `arn`.
fn tls_statement(arn: &str) -> Value {
    serde_json::json!({
        "Sid": TLS_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, format!("{arn}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
}

/// Whether a statement denies every S3 action on the bucket `name` and all
/// its objects to everyone over plain HTTP, and nothing else, however it is
/// written (the `require_tls` statement or a user's). A deny narrower in
/// resources, or with another condition besides, is not it.
fn is_tls_deny(st: &Value, name: &str) -> bool {
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(items)) => items.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        }
    };
    let everyone = match st.get("Principal") {
        Some(Value::String(s)) => s == "*",
        Some(Value::Object(p)) => p.len() == 1 && list(p.get("AWS")).iter().any(|a| a == "*"),
        _ => false,
    };
    // Exactly one condition: Bool, on aws:SecureTransport alone, false.
    let insecure = st.get("Condition").and_then(Value::as_object).is_some_and(|c| {
        c.len() == 1
            && c.get("Bool").and_then(Value::as_object).is_some_and(|b| {
                b.len() == 1
                    && b.get("aws:SecureTransport")
                        .is_some_and(|v| v == "false" || v == &Value::Bool(false) || list(Some(v)) == ["false"])
            })
    });
    let resources = list(st.get("Resource"));
    let covers = |want: &str| resources.iter().any(|r| r == "*" || r.ends_with(&format!(":::{want}")));
    st.get("Effect").and_then(Value::as_str) == Some("Deny")
        && everyone
        && list(st.get("Action")).iter().any(|a| a == "s3:*" || a == "*")
        && insecure
        && st.get("NotAction").is_none()
        && st.get("NotResource").is_none()
        && covers(name)
        && (covers(&format!("{name}/*")) || resources.iter().any(|r| r.ends_with(&format!(":::{name}*"))))
}

fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// The policy S3 should hold for `props`: the stack's, with the TLS deny
/// merged in when `require_tls` is on and the policy has none of its own.
fn effective_policy(arn: &str, props: &BucketProps) -> Option<Value> {
    let name = arn.rsplit(":::").next().unwrap_or(arn);
    if !props.require_tls
        || props.policy.as_ref().is_some_and(|p| statements_of(p).iter().any(|s| is_tls_deny(s, name)))
    {
        return props.policy.clone();
    }
    let mut doc = props.policy.clone().unwrap_or_else(|| serde_json::json!({"Version": "2012-10-17"}));
    let mut list = statements_of(&doc);
    list.push(tls_statement(arn));
    if let Some(o) = doc.as_object_mut() {
        o.insert("Statement".into(), Value::Array(list));
    }
    Some(doc)
}

/// A policy as read, split into the stack's part and whether it denies
/// plain HTTP. When the stack's own policy holds such a statement (`last`),
/// it stays in the policy and `require_tls` keeps what the stack said.
fn split_tls(policy: Option<Value>, name: &str, last: &BucketProps) -> (Option<Value>, bool) {
    let Some(mut doc) = policy else { return (None, false) };
    let list = statements_of(&doc);
    let present = list.iter().any(|s| is_tls_deny(s, name));
    if last.policy.as_ref().is_some_and(|p| statements_of(p).iter().any(|s| is_tls_deny(s, name))) {
        return (Some(doc), if present { last.require_tls } else { false });
    }
    let rest: Vec<Value> = list.into_iter().filter(|s| !is_tls_deny(s, name)).collect();
    // Nothing of the stack's is left: no policy, unless the stack has one
    // with no statements (kept, so that it reads back as written).
    if rest.is_empty() && last.policy.is_none() {
        return (None, present);
    }
    if let Some(o) = doc.as_object_mut() {
        o.insert("Statement".into(), Value::Array(rest));
    }
    (Some(doc), present)
}

/// Why a bucket name breaks S3's naming rules, if it does.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    if name.len() < MIN_NAME || name.len() > MAX_NAME {
        return Err(format!("is {} characters long", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!("contains `{bad}`"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("does not start and end with a letter or digit".to_string());
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return Err("has a dot next to a dot or hyphen".to_string());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("looks like an IP address".to_string());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("starts with the reserved prefix `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", "--x-s3", "--table-s3", ".mrap"] {
        if name.ends_with(suffix) {
            return Err(format!("ends with the reserved suffix `{suffix}`"));
        }
    }
    Ok(())
}

/// `<stack>-<id>` lower-cased and made DNS-safe, plus `-` and a stable
/// suffix hashed from account, region, stack and id: bucket names are
/// global, so two accounts or regions deploying one stack must not collide.
pub fn default_name(env: &Environment, stack: &str, id: &str) -> String {
    let hash = fnv1a(&[env.account_id.as_str(), env.region.as_str(), stack, id]);
    let suffix = format!("{hash:016x}");
    bucket_name_with_suffix(stack, id, &suffix[..SUFFIX_LEN])
}

/// FNV-1a, 64 bit: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn validate_lifecycle(rules: &[LifecycleRule], errors: &mut Vec<PropError>) {
    if rules.len() > MAX_RULES {
        errors.push(
            PropError::new(&["lifecycle"], format!("{} lifecycle rules", rules.len()))
                .expected(format!("at most {MAX_RULES}")),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for rule in rules {
        let at = |field: &str| format!("lifecycle rule `{}`: {field}", rule.id);
        if rule.id.is_empty() || rule.id.len() > MAX_RULE_ID {
            errors.push(
                PropError::new(
                    &["lifecycle"],
                    format!("lifecycle rule id `{}` is {} characters long", rule.id, rule.id.len()),
                )
                .expected(format!("1 to {MAX_RULE_ID} characters")),
            );
        }
        if !seen.insert(rule.id.as_str()) {
            errors.push(PropError::new(&["lifecycle"], format!("lifecycle rule id `{}` is used twice", rule.id)));
        }
        if rule.expiration_days.is_none()
            && rule.noncurrent_expiration_days.is_none()
            && rule.abort_incomplete_multipart_days.is_none()
        {
            errors.push(
                PropError::new(&["lifecycle"], format!("lifecycle rule `{}` has no action", rule.id))
                    .expected("one of expiration_days, noncurrent_expiration_days, abort_incomplete_multipart_days"),
            );
        }
        for (field, days) in [
            ("expiration_days", rule.expiration_days),
            ("noncurrent_expiration_days", rule.noncurrent_expiration_days),
            ("abort_incomplete_multipart_days", rule.abort_incomplete_multipart_days),
        ] {
            if let Some(d) = days
                && d < 1
            {
                errors.push(PropError::new(&["lifecycle"], format!("{} is {d}", at(field))).expected("at least 1 day"));
            }
        }
    }
}

/// The longest log prefix taken: S3 appends the time and a unique string
/// (about 40 characters) to it, and a key holds at most 1024 bytes.
const MAX_LOG_PREFIX: usize = 960;

fn validate_access_logging(own_name: Option<&str>, logging: &AccessLogging, errors: &mut Vec<PropError>) {
    let target = logging.bucket.as_str();
    if !unresolved(target)
        && let Err(problem) = check_bucket_name(target)
    {
        errors.push(
            PropError::new(&["access_logging", "bucket"], format!("log bucket name `{target}` {problem}"))
                .expected("the name of an existing bucket, or `${<id>.name}` of a bucket of the stack"),
        );
    }
    if own_name == Some(target) {
        let mut e = PropError::new(
            &["access_logging", "bucket"],
            format!(
                "bucket `{target}` writes its access logs into itself: each log object S3 delivers is a request \
                 that is logged in turn, so the logs never stop growing"
            ),
        )
        .expected("another bucket than this one");
        e.suggestion =
            Some("add a bucket for the logs (say `access-logs`) and write `bucket: ${access-logs.name}`".to_string());
        errors.push(e);
    }
    if let Some(prefix) = &logging.prefix {
        if prefix.len() > MAX_LOG_PREFIX {
            errors.push(
                PropError::new(&["access_logging", "prefix"], format!("the log prefix is {} bytes long", prefix.len()))
                    .expected(format!("at most {MAX_LOG_PREFIX} bytes, leaving room for the name S3 appends")),
            );
        }
        if let Some(bad) = prefix.chars().find(|c| c.is_control()) {
            errors.push(
                PropError::new(
                    &["access_logging", "prefix"],
                    format!("the log prefix contains the control character {bad:?}"),
                )
                .expected("printable characters, such as `access/`"),
            );
        }
    }
}

fn bucket_arn(env: &Environment, name: &str) -> String {
    format!("arn:{}:s3:::{name}", env.partition)
}

fn domain_name(env: &Environment, name: &str) -> String {
    match env.partition.as_str() {
        "aws-cn" => format!("{name}.s3.{}.amazonaws.com.cn", env.region),
        _ => format!("{name}.s3.amazonaws.com"),
    }
}

fn observed(env: &Environment, name: &str, props: BucketProps) -> Observed<BucketProps> {
    let mut attrs = BTreeMap::new();
    attrs.insert("arn".to_string(), Value::String(bucket_arn(env, name)));
    attrs.insert("name".to_string(), Value::String(name.to_string()));
    attrs.insert("domain_name".to_string(), Value::String(domain_name(env, name)));
    Observed { physical_id: name.to_string(), props, attrs }
}

fn s3_rule(rule: &LifecycleRule) -> Result<S3LifecycleRule, String> {
    let mut b = S3LifecycleRule::builder()
        .id(&rule.id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(rule.prefix.clone().unwrap_or_default()).build());
    if let Some(days) = rule.expiration_days {
        b = b.expiration(LifecycleExpiration::builder().days(days).build());
    }
    if let Some(days) = rule.noncurrent_expiration_days {
        b = b.noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(days).build());
    }
    if let Some(days) = rule.abort_incomplete_multipart_days {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder().days_after_initiation(days).build(),
        );
    }
    b.build().map_err(|e| format!("lifecycle rule {}: {e}", rule.id))
}

fn rule_from_s3(rule: &S3LifecycleRule) -> LifecycleRule {
    let prefix = rule.filter().and_then(LifecycleRuleFilter::prefix);
    LifecycleRule {
        id: rule.id().unwrap_or_default().to_string(),
        prefix: prefix.filter(|p| !p.is_empty()).map(ToString::to_string),
        expiration_days: rule.expiration().and_then(LifecycleExpiration::days),
        noncurrent_expiration_days: rule
            .noncurrent_version_expiration()
            .and_then(NoncurrentVersionExpiration::noncurrent_days),
        abort_incomplete_multipart_days: rule
            .abort_incomplete_multipart_upload()
            .and_then(AbortIncompleteMultipartUpload::days_after_initiation),
    }
}

/// The PutBucketLogging document for `logging`: where to deliver, or an
/// empty status, which turns logging off.
fn logging_status(logging: Option<&AccessLogging>) -> Result<BucketLoggingStatus, String> {
    let enabled = match logging {
        Some(l) => Some(
            LoggingEnabled::builder()
                .target_bucket(&l.bucket)
                .target_prefix(l.prefix.clone().unwrap_or_default())
                .build()
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    Ok(BucketLoggingStatus::builder().set_logging_enabled(enabled).build())
}

/// What GetBucketLogging reports, in canonical form (no prefix is `None`).
fn logging_from_s3(l: &LoggingEnabled) -> AccessLogging {
    AccessLogging {
        bucket: l.target_bucket().to_string(),
        prefix: Some(l.target_prefix()).filter(|p| !p.is_empty()).map(ToString::to_string),
    }
}

/// Live rules in the order the user wrote them (AWS may reorder), unknown
/// ones after.
fn rules_in_order(mut live: Vec<LifecycleRule>, last: &[LifecycleRule]) -> Vec<LifecycleRule> {
    let mut ordered = Vec::with_capacity(live.len());
    for want in last {
        if let Some(i) = live.iter().position(|r| r.id == want.id) {
            ordered.push(live.remove(i));
        }
    }
    ordered.extend(live);
    ordered
}

// ---- finders -----------------------------------------------------------------

/// Why existence could not be decided.
enum Existence {
    OtherAccount,
    Failed(String),
}

async fn bucket_exists(s3: &aws_sdk_s3::Client, name: &str) -> Result<bool, Existence> {
    match s3.head_bucket().bucket(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().is_some_and(aws_sdk_s3::operation::head_bucket::HeadBucketError::is_not_found) =>
        {
            Ok(false)
        }
        Err(e) if status_of(&e) == Some(404) => Ok(false),
        Err(e) if status_of(&e) == Some(403) => Err(Existence::OtherAccount),
        Err(e) => Err(Existence::Failed(aws_error("HeadBucket", &e).to_string())),
    }
}

/// `Some` when the bucket exists, for import; another account's is an error.
async fn exists(s3: &aws_sdk_s3::Client, name: &str) -> Result<Option<()>, String> {
    match bucket_exists(s3, name).await {
        Ok(found) => Ok(found.then_some(())),
        Err(Existence::OtherAccount) => Err("it belongs to another AWS account".to_string()),
        Err(Existence::Failed(e)) => Err(e),
    }
}

fn status_of<E>(e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

/// Whether versioning is enabled, from a successful GetBucketVersioning
/// response the SDK could not decode: some emulators (moto) name the XML
/// root `GetBucketVersioningResponse` instead of `VersioningConfiguration`.
fn versioning_in_raw_body<E>(e: &SdkError<E, aws_smithy_runtime_api::http::Response>) -> Option<bool> {
    let raw = e.raw_response().filter(|r| r.status().as_u16() == 200)?;
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    if !body.contains("GetBucketVersioningResponse") {
        return None;
    }
    Some(body.contains("<Status>Enabled</Status>"))
}

/// The whole set to put so that a bucket that carries `live` carries `tags`
/// too: `tags`, and the bucket's system tags (`aws:*`, such as
/// `aws:cloudformation:stack-name` on a bucket CloudFormation made). A
/// requester can neither add a system tag (S3 answers InvalidTag "Your
/// TagKey cannot be prefixed with aws:") nor leave out one the bucket has
/// (InvalidTag "System Tags cannot be removed by requester"), so the
/// bucket's own go back unchanged and none of `tags` is one.
fn with_system_tags(live: &BTreeMap<String, String>, tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let system = live.iter().filter(|(k, _)| is_system_tag(k));
    let user = tags.iter().filter(|(k, _)| !is_system_tag(k));
    system.chain(user).map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn is_system_tag(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

/// A PutBucketTagging document holding exactly `tags`.
fn tagging_of(tags: &BTreeMap<String, String>) -> Result<Tagging, String> {
    let mut tagging = Tagging::builder();
    for (k, v) in tags {
        tagging = tagging.tag_set(Tag::builder().key(k).value(v).build().map_err(|e| format!("tag {k}: {e}"))?);
    }
    tagging.build().map_err(|e| format!("tags: {e}"))
}

/// The bucket's tags; a bucket without any reads as an empty set.
async fn bucket_tags(s3: &aws_sdk_s3::Client, name: &str) -> Result<BTreeMap<String, String>, String> {
    match s3.get_bucket_tagging().bucket(name).send().await {
        Ok(out) => Ok(out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()),
        Err(e) if e.code() == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
        Err(e) => Err(aws_error("GetBucketTagging", &e).to_string()),
    }
}

/// The first object version or delete marker whose key `pick` picks, going
/// through every page.
async fn first_key(s3: &aws_sdk_s3::Client, name: &str, pick: impl Fn(&str) -> bool) -> Result<Option<String>, String> {
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(name)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| aws_error("ListObjectVersions", &e).to_string())?;
        let mut keys =
            out.versions().iter().filter_map(|v| v.key()).chain(out.delete_markers().iter().filter_map(|m| m.key()));
        if let Some(key) = keys.find(|k| pick(k)) {
            return Ok(Some(key.to_string()));
        }
        if out.is_truncated() != Some(true) || out.next_key_marker().is_none() {
            return Ok(None);
        }
        key_marker = out.next_key_marker().map(ToString::to_string);
        version_marker = out.next_version_id_marker().map(ToString::to_string);
    }
}

/// Why a bucket was not emptied.
enum Emptying {
    /// It holds this key, which `may_delete` does not allow.
    Refused(String),
    Failed(String),
}

impl From<String> for Emptying {
    fn from(e: String) -> Self {
        Emptying::Failed(e)
    }
}

/// Deletes every object version and delete marker, a page at a time; stops
/// before deleting a page that holds a key `may_delete` does not allow.
async fn empty_bucket(
    s3: &aws_sdk_s3::Client,
    name: &str,
    may_delete: &(dyn Fn(&str) -> bool + Sync),
) -> Result<(), Emptying> {
    loop {
        let out = s3
            .list_object_versions()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("ListObjectVersions", &e).to_string())?;
        let mut ids = Vec::new();
        let versions = out.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = out.delete_markers().iter().map(|m| (m.key(), m.version_id()));
        for (key, version) in versions.chain(markers) {
            let Some(key) = key else { continue };
            if !may_delete(key) {
                return Err(Emptying::Refused(key.to_string()));
            }
            ids.push(object_id(key, version)?);
        }
        if ids.is_empty() {
            return Ok(());
        }
        // Each round lists from the start again: what was deleted is gone,
        // so no markers are needed and nothing added meanwhile is missed.
        for batch in ids.chunks(DELETE_BATCH) {
            let delete = Delete::builder()
                .set_objects(Some(batch.to_vec()))
                .quiet(true)
                .build()
                .map_err(|e| Emptying::Failed(format!("DeleteObjects: {e}")))?;
            let out = s3
                .delete_objects()
                .bucket(name)
                .delete(delete)
                .send()
                .await
                .map_err(|e| aws_error("DeleteObjects", &e).to_string())?;
            if let Some(err) = out.errors().first() {
                return Err(Emptying::Failed(format!(
                    "DeleteObjects: {}: {}: {}",
                    err.key().unwrap_or_default(),
                    err.code().unwrap_or_default(),
                    err.message().unwrap_or_default()
                )));
            }
        }
    }
}

fn object_id(key: &str, version: Option<&str>) -> Result<ObjectIdentifier, String> {
    ObjectIdentifier::builder()
        .key(key)
        .set_version_id(version.map(ToString::to_string))
        .build()
        .map_err(|e| e.to_string())
}

// ---- what a delete loses (issue 15) ------------------------------------------------

impl Bucket {
    /// What a delete of the bucket would remove, from one ListObjectsV2
    /// page: its objects, or only what CloudTrail delivered (which delete
    /// empties even without `force_destroy`); `None` when empty or unreadable.
    async fn objects_at_risk(&self, cx: &OpCtx, name: &str, props: &BucketProps) -> Option<String> {
        let s3 = self.clients.s3().await;
        let out = s3.list_objects_v2().bucket(name).send().await.ok()?;
        let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
        if keys.is_empty() {
            return None;
        }
        let more = if out.is_truncated() == Some(true) { " or more" } else { "" };
        let n = keys.len();
        let objects = format!("{n}{more} object{}", if n == 1 && more.is_empty() { "" } else { "s" });
        let account = cx.env.account_id.as_str();
        Some(if keys.iter().all(|k| delivered_by_cloudtrail(k, account)) && more.is_empty() {
            format!("{objects}, all CloudTrail log files, which cairn deletes to delete the bucket")
        } else if props.force_destroy {
            format!("{objects}, which cairn deletes to delete the bucket (`force_destroy: true`)")
        } else {
            format!("{objects}; the delete fails unless the bucket is emptied first or has `force_destroy: true`")
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tls_deny_is_merged_once_by_meaning_and_split_off_on_read() {
        let arn = "arn:aws:s3:::b";
        let allow = serde_json::json!({"Sid": "read", "Effect": "Allow", "Principal": {"Service": "x.amazonaws.com"}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"});
        let props = BucketProps {
            policy: Some(serde_json::json!({"Version": "2012-10-17", "Statement": [allow.clone()]})),
            ..BucketProps::default()
        };
        let merged = effective_policy(arn, &props).unwrap_or_default();
        assert_eq!(merged["Statement"], serde_json::json!([allow, tls_statement(arn)]));
        // Read back: the stack's part, and require_tls on.
        let (policy, on) = split_tls(Some(merged.clone()), "b", &props);
        assert_eq!((policy, on), (props.policy.clone(), true));
        // Alone, it leaves no policy of the stack's; off, nothing is added.
        let bare = BucketProps::default();
        assert_eq!(split_tls(effective_policy(arn, &bare), "b", &bare), (None, true));
        let off = BucketProps { require_tls: false, ..BucketProps::default() };
        assert_eq!(effective_policy(arn, &off), None);
        assert_eq!(split_tls(None, "b", &off), (None, false));

        // A policy with no statements reads back as written.
        let empty = BucketProps {
            policy: Some(serde_json::json!({"Version": "2012-10-17", "Statement": []})),
            ..BucketProps::default()
        };
        let (policy, on) = split_tls(effective_policy(arn, &empty), "b", &empty);
        assert_eq!((policy, on), (empty.policy.clone(), true));
        // The stack's own deny, however written, is kept and not doubled.
        let own = serde_json::json!({"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": ["s3:*"], "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": false}}});
        assert!(is_tls_deny(&own, "b") && is_tls_deny(&tls_statement(arn), "b"));
        let mine =
            BucketProps { policy: Some(serde_json::json!({"Statement": own.clone()})), ..BucketProps::default() };
        assert_eq!(effective_policy(arn, &mine), mine.policy);
        assert_eq!(split_tls(mine.policy.clone(), "b", &mine), (mine.policy.clone(), true));
        // Not the same meaning: another action, a NotAction, an allow, another condition.
        for other in [
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotAction": "s3:Get*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": {"Service": "x.amazonaws.com"}, "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            // Narrower: part of the objects, another bucket, one more condition.
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/logs/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::other", "arn:aws:s3:::other/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}}),
            serde_json::json!({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/public/*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        ] {
            assert!(!is_tls_deny(&other, "b"), "{other}");
        }
    }

    use super::*;
    use cairn_engine::diag::PathSeg;
    use serde_json::json;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    /// S3 refuses a put that drops a system tag or adds one.
    #[test]
    fn a_put_keeps_the_buckets_system_tags_and_adds_none() {
        let live = tags(&[("aws:cloudformation:stack-name", "cf"), ("old", "1")]);
        let want = tags(&[("cairn:stack", "s"), ("AWS:made-up", "x")]);
        assert_eq!(
            with_system_tags(&live, &want),
            tags(&[("aws:cloudformation:stack-name", "cf"), ("cairn:stack", "s")])
        );
        assert_eq!(with_system_tags(&BTreeMap::new(), &want), tags(&[("cairn:stack", "s")]));
    }

    fn check(props: Value) -> Result<BucketProps, Vec<PropError>> {
        let kind = cairn_engine::kind::typed(Bucket::new(Arc::new(Clients::new(crate::AwsOptions::default()))));
        kind.check(&props, &NameCtx { stack: "lab3", id: "logs", base_dir: std::path::Path::new("") })
            .map(|v| serde_json::from_value(v).unwrap_or_default())
    }

    fn env(account: &str, region: &str) -> Environment {
        Environment { account_id: account.into(), region: region.into(), partition: "aws".into() }
    }

    #[test]
    fn only_policies_naming_their_principals_skip_the_wait_for_the_block() {
        let allow = |principal: Value| json!({"Statement": [{"Effect": "Allow", "Principal": principal, "Action": "s3:PutObject", "Resource": "*"}]});
        assert!(grants_only_to_named_principals(&allow(json!({"Service": "cloudtrail.amazonaws.com"}))));
        assert!(grants_only_to_named_principals(&allow(
            json!({"AWS": ["arn:aws:iam::123456789012:root", "123456789012"]})
        )));
        assert!(!grants_only_to_named_principals(&allow(json!("*"))));
        assert!(!grants_only_to_named_principals(&allow(json!({"AWS": "*"}))));
        assert!(!grants_only_to_named_principals(&allow(json!({"AWS": ["arn:aws:iam::123456789012:root", "*"]}))));
        assert!(!grants_only_to_named_principals(&allow(json!({"Federated": "cognito-identity.amazonaws.com"}))));
        let not_principal = json!({"Statement": {"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "s3:*"}});
        assert!(!grants_only_to_named_principals(&not_principal));
        let deny_all = json!({"Statement": {"Effect": "Deny", "Principal": "*", "Action": "s3:*"}});
        assert!(grants_only_to_named_principals(&deny_all), "a Deny makes nothing public");
        assert!(!grants_only_to_named_principals(&json!({})));
    }

    #[test]
    fn only_what_cloudtrail_delivers_counts_as_delivered() {
        let a = "123456789012";
        for key in [
            "AWSLogs/123456789012/",
            "AWSLogs/123456789012/CloudTrail/us-east-1/2025/01/02/f.json.gz",
            "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2025/01/02/d.json.gz",
            "AWSLogs/123456789012/CloudTrail-Insight/us-east-1/2025/01/02/i.json.gz",
            "audit/AWSLogs/123456789012/CloudTrail/us-east-1/f.json.gz",
            "org/audit/AWSLogs/123456789012/",
        ] {
            assert!(delivered_by_cloudtrail(key, a), "{key}");
        }
        for key in [
            "report.csv",
            "AWSLogs/",
            "AWSLogs/123456789012",
            "AWSLogs/210987654321/CloudTrail/us-east-1/f.json.gz",
            "AWSLogs/123456789012/elasticloadbalancing/us-east-1/x.log",
            "AWSLogs/123456789012/CloudTrailish/x",
            "myAWSLogs/123456789012/CloudTrail/f.json.gz",
            "AWSLogs/1234567890123/CloudTrail/f.json.gz",
        ] {
            assert!(!delivered_by_cloudtrail(key, a), "{key}");
        }
    }

    #[test]
    fn no_such_bucket_is_waited_out_only_right_after_the_create() {
        let why = |w: Option<Wait>| w.map(|w| w.why);
        assert_eq!(
            why(s3_busy_or_new(Some("NoSuchBucket"), None)),
            Some("waiting for S3 to finish creating the bucket")
        );
        assert_eq!(why(s3_busy(Some("NoSuchBucket"), None)), None);
        let busy = Some("waiting for S3 to finish another change to the bucket");
        assert_eq!(why(s3_busy_or_new(Some("OperationAborted"), None)), busy);
        assert_eq!(why(s3_busy(Some("OperationAborted"), None)), busy);
        assert_eq!(why(s3_busy_or_new(Some("AccessDenied"), None)), None);
    }

    #[test]
    fn defaults_are_private_encrypted_unversioned() {
        let p = check(json!({})).unwrap_or_default();
        assert_eq!(p.public_access_block, PublicAccessBlock::default());
        assert!(p.public_access_block.block_public_policy);
        assert_eq!(p.encryption, Encryption { algorithm: SseAlgorithm::Aes256, kms_key: None });
        assert!(!p.versioning && !p.force_destroy && p.name.is_none());
        let off = check(json!({"public_access_block": {"block_public_policy": false}})).unwrap_or_default();
        assert!(!off.public_access_block.block_public_policy && off.public_access_block.block_public_acls);
    }

    #[test]
    fn default_name_is_stable_dns_safe_and_distinct_per_account_and_region() {
        let a = default_name(&env("111111111111", "us-east-1"), "Lab3_Stack", "Trail.Logs");
        assert_eq!(a, default_name(&env("111111111111", "us-east-1"), "Lab3_Stack", "Trail.Logs"));
        assert!(a.starts_with("lab3-stack-trail-logs-"), "{a}");
        assert_eq!(check_bucket_name(&a), Ok(()));
        assert_ne!(a, default_name(&env("222222222222", "us-east-1"), "Lab3_Stack", "Trail.Logs"));
        assert_ne!(a, default_name(&env("111111111111", "eu-west-1"), "Lab3_Stack", "Trail.Logs"));
        let long = default_name(&env("1", "us-east-1"), &"s".repeat(80), "id");
        assert_eq!(long.len(), MAX_NAME);
        assert_eq!(check_bucket_name(&long), Ok(()));
        // The hash is fixed forever: a changed suffix would orphan buckets.
        assert_eq!(fnv1a(&["a"]), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn names_are_checked_offline() {
        assert!(check(json!({"name": "my-logs.bucket-1"})).is_ok());
        for bad in ["ab", "Upper", "has_underscore", "-start", "end-", "a..b", "192.168.1.1", "xn--abc", "x-s3alias"] {
            assert!(check(json!({"name": bad})).is_err(), "{bad}");
        }
        assert!(check(json!({"name": "x".repeat(64)})).is_err());
        assert!(check(json!({"name": "${param.bucket}"})).is_ok());
        assert!(check(json!({"nmae": "x"})).is_err());
    }

    #[test]
    fn encryption_and_lifecycle_are_checked() {
        assert!(check(json!({"encryption": {"algorithm": "aws:kms", "kms_key": "alias/k"}})).is_ok());
        assert!(check(json!({"encryption": {"kms_key": "alias/k"}})).is_err());
        assert!(check(json!({"encryption": {"algorithm": "DES"}})).is_err());
        assert!(check(json!({"lifecycle": [{"id": "old", "expiration_days": 90}]})).is_ok());
        assert!(check(json!({"lifecycle": [{"id": "old"}]})).is_err());
        assert!(check(json!({"lifecycle": [{"id": "a", "expiration_days": 0}]})).is_err());
        assert!(
            check(json!({"lifecycle": [{"id": "a", "expiration_days": 1}, {"id": "a", "expiration_days": 2}]}))
                .is_err()
        );
        assert!(check(json!({"policy": "nope"})).is_err());
    }

    #[test]
    fn access_logging_is_checked_offline() {
        let logging = |bucket: &str, prefix: Option<&str>| {
            Some(AccessLogging { bucket: bucket.into(), prefix: prefix.map(String::from) })
        };
        let ok = check(json!({"access_logging": {"bucket": "my-logs", "prefix": "access/"}})).unwrap_or_default();
        assert_eq!(ok.access_logging, logging("my-logs", Some("access/")));
        let by_ref = check(json!({"access_logging": {"bucket": "${logs.name}"}})).unwrap_or_default();
        assert_eq!(by_ref.access_logging, logging("${logs.name}", None));
        // S3 reads an empty prefix back as none: it is none from the start.
        let empty = check(json!({"access_logging": {"bucket": "my-logs", "prefix": ""}})).unwrap_or_default();
        assert_eq!(empty.access_logging, logging("my-logs", None));
        assert_eq!(check(json!({})).unwrap_or_default().access_logging, None);

        let errors = |props: Value| check(props).expect_err("refused");
        let e = errors(json!({"access_logging": {"bucket": "Logs_Bucket"}}));
        assert_eq!(e[0].path, vec![PathSeg::Key("access_logging".into()), PathSeg::Key("bucket".into())]);
        assert!(e[0].message.contains("log bucket name `Logs_Bucket` contains `L`"), "{}", e[0].message);
        // Logging into itself: every delivery would be logged again.
        let e = errors(json!({"name": "data-1", "access_logging": {"bucket": "data-1", "prefix": "logs/"}}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].message.contains("writes its access logs into itself"), "{}", e[0].message);
        assert!(e[0].suggestion.as_deref().is_some_and(|s| s.contains("${access-logs.name}")), "{e:?}");
        let e = errors(json!({"access_logging": {"bucket": "my-logs", "prefix": "a".repeat(961)}}));
        assert!(e[0].message.contains("961 bytes"), "{}", e[0].message);
        let e = errors(json!({"access_logging": {"bucket": "my-logs", "prefix": "logs\n"}}));
        assert!(e[0].message.contains("control character"), "{}", e[0].message);
        assert!(check(json!({"access_logging": {"prefix": "logs/"}})).is_err(), "the bucket is required");
        assert!(check(json!({"access_logging": {"bucket": "my-logs", "perfix": "logs/"}})).is_err());
    }

    #[test]
    fn access_logging_round_trips_through_the_sdk_types_and_off_is_an_empty_status() {
        for prefix in [Some("access/".to_string()), None] {
            let logging = AccessLogging { bucket: "my-logs".into(), prefix };
            let status = logging_status(Some(&logging)).unwrap_or_else(|e| panic!("{e}"));
            let enabled = status.logging_enabled().unwrap_or_else(|| panic!("no LoggingEnabled"));
            assert_eq!(logging_from_s3(enabled), logging);
        }
        let off = logging_status(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(off.logging_enabled(), None);
    }

    #[test]
    fn the_default_name_pattern_matches_the_default_names() {
        use crate::kinds::default_bucket_name_pattern as default_name_pattern;
        for (stack, id) in [("lab3", "data"), ("Lab3_Stack", "Trail.Logs"), (&*"s".repeat(80), "id"), ("-", "-")] {
            let pattern = default_name_pattern(stack, id);
            for e in [env("111111111111", "us-east-1"), env("222222222222", "eu-west-1")] {
                let name = default_name(&e, stack, id);
                assert_eq!(name.len(), pattern.len(), "{name} {pattern}");
                assert!(name.chars().zip(pattern.chars()).all(|(n, p)| p == '?' || n == p), "{name} {pattern}");
            }
            assert!(pattern.ends_with(&format!("-{}", "?".repeat(SUFFIX_LEN))), "{pattern}");
        }
    }

    #[test]
    fn lifecycle_rules_read_in_the_written_order() {
        let r = |id: &str| LifecycleRule { id: id.into(), expiration_days: Some(1), ..LifecycleRule::default() };
        let read = rules_in_order(vec![r("b"), r("x"), r("a")], &[r("a"), r("b")]);
        assert_eq!(read, vec![r("a"), r("b"), r("x")]);
    }

    #[test]
    fn lifecycle_rules_round_trip_through_the_sdk_types() {
        let rule = LifecycleRule {
            id: "logs".into(),
            prefix: Some("AWSLogs/".into()),
            expiration_days: Some(365),
            noncurrent_expiration_days: Some(30),
            abort_incomplete_multipart_days: Some(7),
        };
        let sdk = s3_rule(&rule).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rule_from_s3(&sdk), rule);
    }
}
