//! State in an S3 bucket, for a team and a CI runner to share:
//! `s3://BUCKET/PREFIX` keeps each stack's state at `PREFIX/STACK.json` and
//! its lock at `PREFIX/STACK.lock`.
//!
//! Both rest on S3's conditional writes, so there is no second service to
//! run: the lock is a PutObject with `If-None-Match: *` (only one run can
//! create the lock object), each state write a PutObject with `If-Match` on
//! the ETag last read or written (a write made by anyone else in between is
//! found, not overwritten), and releasing the lock a DeleteObject with
//! `If-Match` on the lock's own ETag (a lock removed with `state unlock` and
//! taken by another run since is left to that run).
//!
//! [`StateBackend`] is synchronous (see docs/decisions.md): each call runs
//! on a small runtime of its own, on a thread of its own, and the caller
//! waits for the answer. That works from any thread, inside the CLI's
//! runtime or not, and from `Drop`, where a lock is released.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
#[cfg(feature = "kms")]
use cairn_engine::state::encrypted::{DataKey, KeyHeader};
use cairn_engine::state::{
    Acquired, HeldLock, LockHolder, LockStatus, StateBackend, StateError, Stored, Version, describe_note, unix_now,
};
use tokio::sync::OnceCell;
#[cfg(feature = "kms")]
use zeroize::Zeroizing;

pub use cairn_engine::state::S3Place;

use crate::clients::{AwsOptions, load_config};
use crate::error::NameCalls;

/// One S3 client for every stack's state in a command, built on first use
/// (on the state runtime, whose connections it then keeps).
#[derive(Debug)]
pub struct S3Connection {
    options: AwsOptions,
    /// `--state-kms-key`: objects are written SSE-KMS under this key;
    /// `None` leaves the bucket's default encryption.
    kms_key: Option<String>,
    client: OnceCell<aws_sdk_s3::Client>,
    /// The region the client acts in, once the chain has said, for messages.
    region: OnceLock<String>,
}

impl S3Connection {
    /// A connection acting with `options`' credentials (the region is the
    /// place's when it names one).
    pub fn new(options: AwsOptions, kms_key: Option<String>) -> Arc<S3Connection> {
        Arc::new(S3Connection { options, kms_key, client: OnceCell::new(), region: OnceLock::new() })
    }

    async fn client(&self) -> &aws_sdk_s3::Client {
        self.client
            .get_or_init(|| async {
                let config = load_config(&self.options).await;
                // Path-style addressing for an emulator (which has no
                // per-bucket host names); AWS's own virtual-hosted style
                // otherwise.
                let path_style = config.endpoint_url().is_some();
                if let Some(region) = config.region() {
                    let _ = self.region.set(region.to_string());
                }
                aws_sdk_s3::Client::from_conf(
                    aws_sdk_s3::config::Builder::from(&config)
                        .force_path_style(path_style)
                        .timeout_config(state_timeouts())
                        .interceptor(NameCalls)
                        .build(),
                )
            })
            .await
    }
}

/// One stack's state and lock in a bucket.
#[derive(Clone, Debug)]
pub struct S3State {
    place: S3Place,
    stack: String,
    conn: Arc<S3Connection>,
}

/// How long a call for state may take. The SDK's only default is a connect
/// timeout: without these, a bucket that stops answering would hold a run
/// (and its Ctrl-C, which releases the lock) forever. A try that times out
/// is retried like a lost answer, which the writes already expect.
fn state_timeouts() -> aws_smithy_types::timeout::TimeoutConfig {
    aws_smithy_types::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(20))
        .operation_timeout(std::time::Duration::from_secs(90))
        .build()
}

/// How a call to S3 failed, as far as state is concerned.
#[derive(Debug)]
enum Failure {
    /// 412 (a condition did not hold) or 409 (a concurrent conditional
    /// request won).
    Precondition,
    /// No such key (also what `If-Match` on a missing key answers).
    Missing,
    NoBucket,
    /// The bucket is in another region (which AWS names in a header).
    WrongRegion(Option<String>),
    Denied(String),
    Other(String),
}

fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> Failure {
    let raw = err.raw_response();
    let status = raw.map(|r| r.status().as_u16());
    let header = |name: &str| raw.and_then(|r| r.headers().get(name)).map(str::to_string);
    match (err.code(), status) {
        (Some("PreconditionFailed" | "ConditionalRequestConflict"), _) | (_, Some(412 | 409)) => Failure::Precondition,
        (Some("NoSuchKey"), _) => Failure::Missing,
        (Some("NoSuchBucket"), _) => Failure::NoBucket,
        (Some("PermanentRedirect" | "AuthorizationHeaderMalformed" | "IllegalLocationConstraintException"), _)
        | (_, Some(301)) => Failure::WrongRegion(header("x-amz-bucket-region")),
        (Some(code @ ("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken")), _) => {
            Failure::Denied(format!("{code}: {}", err.message().unwrap_or("no message")))
        }
        // A 404 with no code is not S3 speaking (a wrong endpoint, a proxy).
        (None, Some(404)) => Failure::Other("HTTP 404 with no S3 error code: is the endpoint an S3 endpoint?".into()),
        (Some(code), _) => Failure::Other(format!("{code}: {}", err.message().unwrap_or("no message"))),
        (None, _) => {
            Failure::Other(DisplayErrorContext(err).to_string().split_whitespace().collect::<Vec<_>>().join(" "))
        }
    }
}

/// Runs `fut` to completion on the state runtime and returns its output,
/// blocking the calling thread (never the state runtime's own).
fn wait<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("cairn-state")
                .enable_all()
                .build()
                .map_err(|e| format!("starting the state runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| "the state runtime stopped before answering".to_string())
}

/// What a conditional put requires of the object there.
#[derive(Clone, Debug)]
enum Expect {
    /// No object yet (`If-None-Match: *`).
    Absent,
    /// This ETag (`If-Match`).
    At(String),
}

impl S3State {
    pub fn new(conn: &Arc<S3Connection>, place: &S3Place, stack: &str) -> S3State {
        S3State { place: place.clone(), stack: stack.to_string(), conn: conn.clone() }
    }

    fn state_key(&self) -> String {
        self.place.key(&format!("{}.json", self.stack))
    }

    fn lock_key(&self) -> String {
        self.place.key(&format!("{}.lock", self.stack))
    }

    /// The message for a failure, naming what to do about it.
    fn unavailable(&self, failure: Failure) -> StateError {
        let bucket = &self.place.bucket;
        let region = self.place.region.clone().or_else(|| self.conn.region.get().cloned());
        let reason = match failure {
            Failure::NoBucket => {
                let r = region.as_deref().unwrap_or("REGION");
                let constraint = if r == "us-east-1" {
                    String::new()
                } else {
                    format!(" --create-bucket-configuration LocationConstraint={r}")
                };
                format!(
                    "bucket `{bucket}` does not exist, and cairn never creates its state bucket itself; create it (versioned, \
                     so that every earlier state is kept), then run again:\n    aws s3api create-bucket --bucket {bucket} \
                     --region {r}{constraint}\n    aws s3api put-bucket-versioning --bucket {bucket} \
                     --versioning-configuration Status=Enabled\n  (docs/state.md shows the whole setup)"
                )
            }
            Failure::WrongRegion(Some(theirs)) => format!(
                "bucket `{bucket}` is in region {theirs}; name it in the state URL: {}?region={theirs}",
                self.place.url()
            ),
            Failure::WrongRegion(None) => format!(
                "bucket `{bucket}` is in another region than {}; name its region in the state URL: {}?region=REGION",
                region.as_deref().unwrap_or("the one configured"),
                self.place.url()
            ),
            Failure::Denied(text) => format!(
                "access denied ({text}); state needs s3:GetObject, s3:PutObject and s3:DeleteObject on {}/*, \
                 and s3:ListBucket on the bucket (without it, S3 answers a state not made yet with this same \
                 refusal)",
                self.place.url()
            ),
            Failure::Precondition => "the object changed while it was being read".to_string(),
            Failure::Missing => "the object went while it was being read".to_string(),
            Failure::Other(text) => text,
        };
        StateError::Unavailable { location: self.location(), reason }
    }

    /// Runs one S3 operation on the state runtime; `Err` is the failure
    /// told as a state error.
    fn run<T: Send + 'static>(
        &self,
        op: impl Future<Output = Result<T, Failure>> + Send + 'static,
    ) -> Result<Result<T, Failure>, StateError> {
        wait(op).map_err(|reason| StateError::Unavailable { location: self.location(), reason })
    }

    /// [`S3State::run`], with every failure an error.
    fn must<T: Send + 'static>(
        &self,
        op: impl Future<Output = Result<T, Failure>> + Send + 'static,
    ) -> Result<T, StateError> {
        self.run(op)?.map_err(|f| self.unavailable(f))
    }

    fn object(&self, key: String) -> Object {
        Object { conn: self.conn.clone(), bucket: self.place.bucket.clone(), key }
    }

    /// What to do about a lock record this cairn cannot read.
    fn foreign_lock_advice(&self) -> String {
        format!(
            "the lock record s3://{}/{} is not one this cairn wrote; if no run holds it, delete that object",
            self.place.bucket,
            self.lock_key()
        )
    }

    /// What the lock refusal advises, with the lock's id and age.
    fn lock_advice(&self, held: &LockHolder) -> String {
        let age = unix_now().saturating_sub(held.since);
        let id = if held.id.is_empty() { "ID" } else { held.id.as_str() };
        format!(
            "it took the lock {} ago. Wait for it to finish (--lock-timeout 5m waits), or, if that run is gone \
             (killed, or its machine lost), remove its lock: `cairn state unlock STACK.yaml --lock-id {id}`",
            age_text(age)
        )
    }
}

/// `42s`, `3m`, `2h`, `5d`.
fn age_text(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// An object's ETag, which every later conditional write names: one S3
/// did not give would make each of them fail as a conflict.
fn etag(given: Option<&str>) -> Result<String, Failure> {
    match given {
        Some(e) if !e.is_empty() => Ok(e.to_string()),
        _ => Err(Failure::Other("S3 answered without an ETag, which conditional writes need".into())),
    }
}

/// One object of the state's bucket, owned so that its calls can move onto
/// the state runtime.
#[derive(Clone)]
struct Object {
    conn: Arc<S3Connection>,
    bucket: String,
    key: String,
}

impl Object {
    /// Its bytes and ETag; `None` when there is no such object.
    async fn get(self) -> Result<Option<(Vec<u8>, String)>, Failure> {
        let client = self.conn.client().await;
        let out = match client.get_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(out) => out,
            Err(e) => {
                return match failure(&e) {
                    Failure::Missing => Ok(None),
                    other => Err(other),
                };
            }
        };
        let etag = etag(out.e_tag())?;
        let bytes = out.body.collect().await.map_err(|e| Failure::Other(format!("reading the object: {e}")))?;
        Ok(Some((bytes.into_bytes().to_vec(), etag)))
    }

    /// Writes `bytes` if the object is as `expect` says; its new ETag.
    async fn put(self, bytes: Vec<u8>, expect: Expect) -> Result<String, Failure> {
        let client = self.conn.client().await;
        let mut put = client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/json")
            .body(ByteStream::from(bytes));
        put = match expect {
            Expect::Absent => put.if_none_match("*"),
            Expect::At(etag) => put.if_match(etag),
        };
        if let Some(key) = &self.conn.kms_key {
            put = put.server_side_encryption(ServerSideEncryption::AwsKms).ssekms_key_id(key);
        }
        match put.send().await {
            Ok(out) => etag(out.e_tag()),
            Err(e) => Err(failure(&e)),
        }
    }

    /// Deletes the object if its ETag is still `etag`.
    async fn delete(self, etag: String) -> Result<(), Failure> {
        let client = self.conn.client().await;
        match client.delete_object().bucket(&self.bucket).key(&self.key).if_match(etag).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// The lock an [`S3State`] took: its object and the ETag it was written
/// with.
#[derive(Debug)]
struct S3Lock {
    state: S3State,
    etag: String,
}

impl HeldLock for S3Lock {
    /// Deletes the lock object if it is still the one this run wrote: one
    /// removed by `state unlock`, and perhaps taken by another run since,
    /// is not this run's to delete.
    fn release(&mut self) -> Result<(), StateError> {
        let object = self.state.object(self.state.lock_key());
        match self.state.run(object.delete(self.etag.clone()))? {
            Ok(()) | Err(Failure::Precondition | Failure::Missing) => Ok(()),
            Err(other) => Err(self.state.unavailable(other)),
        }
    }
}

impl StateBackend for S3State {
    fn location(&self) -> String {
        format!("s3://{}/{}", self.place.bucket, self.state_key())
    }

    fn read(&self) -> Result<Option<Stored>, StateError> {
        let found = self.must(self.object(self.state_key()).get())?;
        Ok(found.map(|(bytes, etag)| Stored { bytes, version: Version(etag) }))
    }

    /// A GetObject, not a HeadObject: a HEAD's 404 carries no error code,
    /// so a missing bucket would read as a missing state.
    fn exists(&self) -> Result<bool, StateError> {
        Ok(self.read()?.is_some())
    }

    fn earlier_copies(&self) -> String {
        format!(
            " (in a versioned bucket, earlier states are kept: `aws s3api list-object-versions --bucket {} --prefix {}`)",
            self.place.bucket,
            self.state_key()
        )
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, StateError> {
        let expect = expected.map_or(Expect::Absent, |v| Expect::At(v.0.clone()));
        let object = self.object(self.state_key());
        match self.run(object.clone().put(bytes.to_vec(), expect))? {
            Ok(etag) => Ok(Version(etag)),
            Err(Failure::Precondition | Failure::Missing) => {
                // Refused; unless the refusal is of this very write, sent
                // again by the SDK after its answer was lost: then the
                // object holds exactly these bytes.
                match self.must(object.get())? {
                    Some((now, etag)) if now == bytes => Ok(Version(etag)),
                    _ => Err(StateError::Conflict { location: self.location() }),
                }
            }
            Err(other) => Err(self.unavailable(other)),
        }
    }

    fn delete(&self, expected: Option<&Version>) -> Result<(), StateError> {
        let object = self.object(self.state_key());
        let Some(expected) = expected else {
            return match self.must(object.get())? {
                None => Ok(()),
                Some(_) => Err(StateError::Conflict { location: self.location() }),
            };
        };
        match self.run(object.delete(expected.0.clone()))? {
            // Missing: gone already (perhaps by this very delete, its
            // answer lost), which is what was asked.
            Ok(()) | Err(Failure::Missing) => Ok(()),
            Err(Failure::Precondition) => Err(StateError::Conflict { location: self.location() }),
            Err(other) => Err(self.unavailable(other)),
        }
    }

    fn lock(&self, holder: &LockHolder) -> Result<Acquired, StateError> {
        let note = serde_json::to_vec(holder).map_err(|e| StateError::Unavailable {
            location: self.location(),
            reason: format!("writing the lock record: {e}"),
        })?;
        let object = self.object(self.lock_key());
        // A lock released between the refusal and the read of who held it
        // is tried again, a few times.
        for _ in 0..3 {
            match self.run(object.clone().put(note.clone(), Expect::Absent))? {
                Ok(etag) => {
                    let held = S3Lock { state: self.clone(), etag };
                    return Ok(Acquired { held: Box::new(held), previous: None });
                }
                Err(Failure::Precondition) => {}
                Err(other) => return Err(self.unavailable(other)),
            }
            let Some((bytes, etag)) = self.must(object.clone().get())? else { continue };
            let text = String::from_utf8_lossy(&bytes);
            match serde_json::from_str::<LockHolder>(&text) {
                // This run's own lock, written by a try whose answer was lost.
                Ok(held) if held.id == holder.id => {
                    let held = S3Lock { state: self.clone(), etag };
                    return Ok(Acquired { held: Box::new(held), previous: None });
                }
                Ok(held) => {
                    return Err(StateError::Locked {
                        stack: self.stack.clone(),
                        holder: held.to_string(),
                        advice: self.lock_advice(&held),
                    });
                }
                Err(_) => {
                    return Err(StateError::Locked {
                        stack: self.stack.clone(),
                        holder: describe_note(&text).unwrap_or_else(|| "holder unknown".into()),
                        advice: self.foreign_lock_advice(),
                    });
                }
            }
        }
        Err(StateError::Unavailable {
            location: self.location(),
            reason: "the lock was taken and released by others three times while this run tried to take it".into(),
        })
    }

    /// S3 cannot tell whether the run that wrote a lock record still runs,
    /// so the record is removed only when `lock_id` names it.
    fn unlock(&self, lock_id: Option<&str>) -> Result<LockStatus, StateError> {
        let object = self.object(self.lock_key());
        let Some((bytes, etag)) = self.must(object.clone().get())? else {
            return Ok(LockStatus::Free { stale: None });
        };
        let text = String::from_utf8_lossy(&bytes);
        let held: Option<LockHolder> = serde_json::from_str(&text).ok();
        let described = describe_note(&text).unwrap_or_else(|| "holder unknown".into());
        if lock_id.is_none() || held.as_ref().map(|h| h.id.as_str()) != lock_id {
            let advice = match &held {
                Some(h) => self.lock_advice(h),
                None => self.foreign_lock_advice(),
            };
            return Ok(LockStatus::Held { holder: described, advice });
        }
        match self.run(object.delete(etag))? {
            Ok(()) | Err(Failure::Missing) => Ok(LockStatus::Free { stale: Some(described) }),
            // Replaced since it was read: by another run, whose lock it is.
            Err(Failure::Precondition) => self.unlock(None),
            Err(other) => Err(self.unavailable(other)),
        }
    }
}

/// State encryption with a KMS key (`encryption: {kms_key: KEY}`): each
/// state gets a data key from GenerateDataKey, kept wrapped in the
/// envelope's header and unwrapped with Decrypt when read. The encryption
/// context names the stack, so a wrapped key moved to another stack's
/// state does not unwrap. One call to KMS per run, whatever the number of
/// saves (the engine keeps the key it last used).
#[cfg(feature = "kms")]
#[derive(Debug)]
pub struct KmsKeys(Arc<KmsInner>);

#[cfg(feature = "kms")]
#[derive(Debug)]
struct KmsInner {
    options: AwsOptions,
    /// As configured (an ARN, an id or an alias): what the header records,
    /// and compares against.
    key_id: String,
    stack: String,
    client: OnceCell<aws_sdk_kms::Client>,
}

#[cfg(feature = "kms")]
impl KmsKeys {
    /// The name in an envelope's `kdf` of a key KMS made.
    pub const NAME: &str = "kms";

    pub fn new(options: AwsOptions, key_id: &str, stack: &str) -> KmsKeys {
        KmsKeys(Arc::new(KmsInner {
            options,
            key_id: key_id.to_string(),
            stack: stack.to_string(),
            client: OnceCell::new(),
        }))
    }
}

#[cfg(feature = "kms")]
impl KmsInner {
    async fn client(&self) -> &aws_sdk_kms::Client {
        self.client
            .get_or_init(|| async {
                let config = load_config(&self.options).await;
                aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(&config)
                        .timeout_config(state_timeouts())
                        .interceptor(NameCalls)
                        .build(),
                )
            })
            .await
    }

    fn failure<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        action: &str,
        err: &SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    ) -> String {
        let key = &self.key_id;
        match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{action} with KMS key {key}: {code}: {message}"),
            (Some(code), None) => format!("{action} with KMS key {key}: {code}"),
            _ => format!("{action} with KMS key {key}: {}", DisplayErrorContext(err)),
        }
    }
}

#[cfg(feature = "kms")]
impl cairn_engine::state::KeySource for KmsKeys {
    fn new_key(&self, location: &str) -> Result<(KeyHeader, DataKey), StateError> {
        use base64::Engine as _;
        let k = self.0.clone();
        let made = wait(async move {
            let out = k
                .client()
                .await
                .generate_data_key()
                .key_id(&k.key_id)
                .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
                .encryption_context("cairn:stack", &k.stack)
                .send()
                .await
                .map_err(|e| k.failure("making a data key", &e))?;
            let plain = out.plaintext().map(|b| b.as_ref().to_vec()).unwrap_or_default();
            let wrapped = out.ciphertext_blob().map(|b| b.as_ref().to_vec()).unwrap_or_default();
            Ok::<_, String>((plain, wrapped))
        });
        let unavailable = |reason: String| StateError::Unavailable { location: location.to_string(), reason };
        let (plain, wrapped) = made.and_then(|r| r).map_err(unavailable)?;
        let plain = Zeroizing::new(plain);
        let key = DataKey::from_slice(&plain)
            .ok_or_else(|| unavailable(format!("KMS gave a data key of {} bytes, not 32", plain.len())))?;
        let mut params = serde_json::Map::new();
        params.insert("key_id".into(), serde_json::Value::from(self.0.key_id.clone()));
        let wrapped = base64::engine::general_purpose::STANDARD.encode(wrapped);
        params.insert("wrapped_key".into(), serde_json::Value::from(wrapped));
        Ok((KeyHeader { name: KmsKeys::NAME.into(), params }, key))
    }

    fn key_for(&self, header: &KeyHeader, location: &str) -> Result<DataKey, StateError> {
        let bad = |reason: String| StateError::Decrypt { location: location.to_string(), reason };
        if header.name != KmsKeys::NAME {
            return Err(bad(format!(
                "it was encrypted with a key from `{}`, and this run has the {} instead",
                header.name,
                self.describe()
            )));
        }
        let wrapped =
            header.bytes("wrapped_key").ok_or_else(|| bad("its key header has no base64 `wrapped_key`".into()))?;
        let k = self.0.clone();
        let plain = wait(async move {
            let out = k
                .client()
                .await
                .decrypt()
                // Pinned: a data key wrapped under a key someone else
                // controls must not open (else a writer of the bucket could
                // forge a state that decrypts).
                .key_id(&k.key_id)
                .ciphertext_blob(aws_sdk_kms::primitives::Blob::new(wrapped))
                .encryption_context("cairn:stack", &k.stack)
                .send()
                .await
                .map_err(|e| {
                    // Only KMS saying no is about the key; anything else
                    // (throttling, the network) is KMS out of reach.
                    let refused = matches!(
                        e.code(),
                        Some("InvalidCiphertextException" | "IncorrectKeyException" | "AccessDeniedException")
                    );
                    (refused, k.failure("unwrapping the state's data key", &e))
                })?;
            Ok::<_, (bool, String)>(out.plaintext().map(|b| b.as_ref().to_vec()).unwrap_or_default())
        });
        let plain = match plain {
            Ok(Ok(plain)) => Zeroizing::new(plain),
            Ok(Err((true, reason))) => return Err(bad(reason)),
            Ok(Err((false, reason))) | Err(reason) => {
                return Err(StateError::Unavailable { location: location.to_string(), reason });
            }
        };
        DataKey::from_slice(&plain)
            .ok_or_else(|| bad(format!("KMS gave back a data key of {} bytes, not 32", plain.len())))
    }

    /// A data key made under another KMS key than the one configured is
    /// replaced on the next write.
    fn keeps(&self, header: &KeyHeader) -> bool {
        header.name == KmsKeys::NAME && header.params.get("key_id").and_then(|v| v.as_str()) == Some(&self.0.key_id)
    }

    fn describe(&self) -> String {
        format!("KMS key {}", self.0.key_id)
    }
}
