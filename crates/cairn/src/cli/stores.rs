//! Where each command finds a stack's state: the place (a local directory,
//! or a bucket) and whether it is encrypted, chosen from the command line
//! first, then the stack's `state:`, then `.cairn`.

use std::path::Path;
use std::sync::Arc;

use cairn_aws::AwsOptions;
use cairn_aws::state::{KmsKeys, S3Connection, S3Place, S3State};
use cairn_engine::spec::StateEncryption;
use cairn_engine::state::encrypted::{DataKey, KeyHeader};
use cairn_engine::state::{Encrypted, KeySource, LocalDir, Passphrase, StateBackend, StateError};
use cairn_engine::{StackSpec, StateStore};

use super::{App, DEFAULT_STATE_DIR, Exit};

/// `--state-encryption` as written: `passphrase_env=NAME` or `kms_key=KEY`.
pub(super) fn parse_encryption(s: &str) -> Result<StateEncryption, String> {
    match s.split_once('=') {
        Some(("passphrase_env", name)) if !name.is_empty() => Ok(StateEncryption::PassphraseEnv(name.to_string())),
        Some(("kms_key", key)) if !key.is_empty() => Ok(StateEncryption::KmsKey(key.to_string())),
        _ => Err(format!("expected passphrase_env=NAME or kms_key=KEY, got `{s}`")),
    }
}

/// A key source that cannot give a key (its passphrase is not set): says
/// why at the first read or write of an encrypted state, so that commands
/// which never touch state are not stopped by it.
#[derive(Debug)]
struct Unusable(String);

impl KeySource for Unusable {
    fn new_key(&self, _location: &str) -> Result<(KeyHeader, DataKey), StateError> {
        Err(StateError::BadKey { reason: self.0.clone() })
    }
    fn key_for(&self, _header: &KeyHeader, _location: &str) -> Result<DataKey, StateError> {
        Err(StateError::BadKey { reason: self.0.clone() })
    }
    fn describe(&self) -> String {
        self.0.clone()
    }
}

impl App {
    /// Where the state of `spec` is kept: the command line's place
    /// (--state, CAIRN_STATE, --state-dir, CAIRN_STATE_DIR), else the
    /// stack's `state:`, else .cairn; encrypted as --state-encryption or the
    /// stack's `state.encryption` says.
    pub(super) fn store(&self, spec: &StackSpec) -> StateStore {
        let place = self.place(Some(spec), &spec.name);
        self.wrap(Some(spec), &spec.name, place)
    }

    /// [`App::store`] for a stack known only by name (no stack file): the
    /// command line's place alone.
    pub(super) fn store_named(&self, name: &str) -> StateStore {
        let place = self.place(None, name);
        self.wrap(None, name, place)
    }

    /// The state of `spec` at a place given on the command line
    /// (`s3://BUCKET/PREFIX`, or a local directory), encrypted as its own
    /// place's would be.
    pub(super) fn store_at(&self, place: &str, spec: &StackSpec) -> Result<StateStore, Exit> {
        let backend: Arc<dyn StateBackend> = if place.starts_with("s3://") {
            match S3Place::parse(place) {
                Ok(p) => self.s3(&p, &spec.name, None),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Err(Exit::Invalid);
                }
            }
        } else {
            Arc::new(LocalDir::new(place, &spec.name))
        };
        Ok(self.wrap(Some(spec), &spec.name, backend))
    }

    /// The encryption wrapper of `spec`'s state over `inner`, when its state
    /// is encrypted (for `state encrypt` and `state decrypt`).
    pub(super) fn encryption(&self, spec: &StackSpec) -> Option<Encrypted> {
        let inner = self.place(Some(spec), &spec.name);
        self.encrypted(Some(spec), &spec.name, inner)
    }

    /// The local state directory: --state-dir, else CAIRN_STATE_DIR, else
    /// .cairn.
    pub(super) fn state_dir(&self) -> &Path {
        self.g.state_dir.as_deref().or(self.env_state_dir.as_deref()).unwrap_or(Path::new(DEFAULT_STATE_DIR))
    }

    /// The S3 place the command line or the environment gives (--state,
    /// else CAIRN_STATE unless --state-dir is given).
    fn given_place(&self) -> Option<&S3Place> {
        let env = self.env_state.as_ref().ok().and_then(Option::as_ref).filter(|_| self.g.state_dir.is_none());
        self.g.state.as_ref().or(env)
    }

    /// Where this command keeps state, for messages that speak of every
    /// stack's: `s3://bucket/prefix`, or the state directory.
    pub(super) fn state_home(&self) -> String {
        match self.given_place() {
            Some(place) => place.url(),
            None => self.state_dir().display().to_string(),
        }
    }

    /// In order: the flags (--state, then --state-dir), the stack's own
    /// `state:`, the environment (CAIRN_STATE, then CAIRN_STATE_DIR), then
    /// .cairn. A stack file that names its state is not overridden by a
    /// variable someone exported and forgot: only by a flag, on purpose.
    fn place(&self, spec: Option<&StackSpec>, name: &str) -> Arc<dyn StateBackend> {
        if let Some(place) = &self.g.state {
            return self.s3(place, name, None);
        }
        if let Some(dir) = &self.g.state_dir {
            return Arc::new(LocalDir::new(dir, name));
        }
        let from_stack = spec.and_then(|s| s.state.as_ref());
        if let Some((place, kms_key)) =
            from_stack.and_then(|s| Some((S3Place::parse(s.url.as_deref()?).ok()?, s.kms_key.clone())))
        {
            return self.s3(&place, name, kms_key);
        }
        match self.given_place() {
            Some(place) => self.s3(place, name, None),
            None => Arc::new(LocalDir::new(self.state_dir(), name)),
        }
    }

    fn wrap(&self, spec: Option<&StackSpec>, name: &str, inner: Arc<dyn StateBackend>) -> StateStore {
        match self.encrypted(spec, name, inner.clone()) {
            Some(e) => StateStore::with_backend(name, Arc::new(e)),
            None => StateStore::with_backend(name, inner),
        }
    }

    fn encrypted(&self, spec: Option<&StackSpec>, name: &str, inner: Arc<dyn StateBackend>) -> Option<Encrypted> {
        let how = self.g.state_encryption.clone().or_else(|| spec?.state.as_ref()?.encryption.clone())?;
        let keys: Arc<dyn KeySource> = match how {
            StateEncryption::PassphraseEnv(env) => match std::env::var(&env) {
                Ok(secret) => match Passphrase::new(&env, secret) {
                    Ok(p) => Arc::new(p),
                    Err(StateError::BadKey { reason }) => Arc::new(Unusable(reason)),
                    Err(e) => Arc::new(Unusable(e.to_string())),
                },
                Err(_) => Arc::new(Unusable(format!(
                    "${env} is not set; it must hold the passphrase the state of stack {name} is encrypted with"
                ))),
            },
            StateEncryption::KmsKey(key) => {
                let options = AwsOptions {
                    region: self.g.regions.last().cloned().or_else(|| spec.and_then(|s| s.region.clone())),
                    profile: self.g.profile.clone(),
                    ..AwsOptions::default()
                };
                Arc::new(KmsKeys::new(options, &key, name))
            }
        };
        Some(Encrypted::new(name, inner, keys))
    }

    /// The state of stack `name` in S3 at `place`, in the place's region
    /// (else --region's, else the AWS chain's), its objects SSE-KMS under
    /// --state-kms-key, else `kms_key`.
    fn s3(&self, place: &S3Place, name: &str, kms_key: Option<String>) -> Arc<dyn StateBackend> {
        let region = place.region.clone().or_else(|| self.g.regions.last().cloned());
        let kms_key = self.g.state_kms_key.clone().or(kms_key);
        let mut conns = self.s3.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let conn = conns.entry((region.clone(), kms_key.clone())).or_insert_with(|| {
            let options = AwsOptions { region, profile: self.g.profile.clone(), ..AwsOptions::default() };
            S3Connection::new(options, kms_key)
        });
        Arc::new(S3State::new(conn, place, name))
    }
}
