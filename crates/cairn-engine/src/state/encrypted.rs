//! Client-side encryption of the state document, around any backend.
//!
//! [`Encrypted`] is a [`StateBackend`] that holds another: it encrypts the
//! bytes on their way to the inner backend and decrypts them on their way
//! back, and passes everything else (versions, locks, locations) through
//! unchanged. The inner backend only ever holds an envelope, a small JSON
//! document that says how it was made:
//!
//! ```json
//! {
//!   "cairn_encrypted": 1,
//!   "alg": "xchacha20poly1305",
//!   "stack": "s1",
//!   "kdf": { "name": "argon2id", "salt": "<base64>", "m_kib": 19456, "t": 2, "p": 1 },
//!   "nonce": "<base64, 24 bytes>",
//!   "ciphertext": "<base64, the document and the 16-byte tag>"
//! }
//! ```
//!
//! `kdf` is the [`KeyHeader`]: what the [`KeySource`] needs to make the same
//! key again. For a [`Passphrase`], Argon2id's salt and costs; a source of
//! keys from KMS (in `cairn-aws`) would write `{"name": "kms", "key_id": …,
//! "wrapped_key": …}` there instead. The associated data is
//! `cairn_encrypted=1;alg=xchacha20poly1305;stack=<stack>`, so that a state
//! copied over another stack's does not decrypt; `stack` in the envelope is
//! only a hint for the message saying so.
//!
//! The lock record is not encrypted: it holds who runs (pid, host, user,
//! command), not state.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{Acquired, LockHolder, LockStatus, State, StateBackend, StateError, Stored, Version};
use crate::value::Json;

/// The envelope's `cairn_encrypted`: the version of its format. A document
/// with this key is an envelope, whatever else it holds.
pub const ENVELOPE_VERSION: u32 = 1;
/// The key that marks an envelope.
pub const ENVELOPE_MARKER: &str = "cairn_encrypted";
/// The envelope's `alg`: XChaCha20-Poly1305, a 256-bit key and a 24-byte
/// nonce drawn at random for every write.
pub const ALG: &str = "xchacha20poly1305";
const NONCE_LEN: usize = 24;
/// The `kdf.name` of a key made from a passphrase.
pub const ARGON2ID: &str = "argon2id";
const SALT_LEN: usize = 16;

/// Whether `bytes` are an envelope (a JSON object with `cairn_encrypted`),
/// however well formed the rest of it is.
pub fn is_envelope(bytes: &[u8]) -> bool {
    // The top level's keys only; a map, not a struct, which would take an array too.
    serde_json::from_slice::<std::collections::HashMap<String, serde::de::IgnoredAny>>(bytes)
        .is_ok_and(|top| top.contains_key(ENVELOPE_MARKER))
}

/// A 256-bit key for the document cipher: wiped from memory when dropped,
/// and never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        DataKey(Zeroizing::new(bytes))
    }

    /// A key from a slice (a data key KMS returned); `None` unless it is 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        (bytes.len() == 32).then(|| {
            key.copy_from_slice(bytes);
            DataKey(key)
        })
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The envelope's `kdf`: which [`KeySource`] made the key (`name`) and what
/// it needs to make it again (the rest: a salt and costs, a wrapped key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyHeader {
    pub name: String,
    #[serde(flatten)]
    pub params: serde_json::Map<String, Json>,
}

impl KeyHeader {
    /// A string field of the header, base64-decoded.
    pub fn bytes(&self, field: &str) -> Option<Vec<u8>> {
        BASE64.decode(self.params.get(field)?.as_str()?).ok()
    }

    /// A numeric field of the header that fits a `u32`.
    pub fn number(&self, field: &str) -> Option<u32> {
        u32::try_from(self.params.get(field)?.as_u64()?).ok()
    }
}

/// Where [`Encrypted`] gets its keys: a passphrase ([`Passphrase`]), or a
/// key service (KMS, from `cairn-aws`). `location` is the state's, for the
/// errors these return.
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// A key for documents written from now on, with the header that lets
    /// [`KeySource::key_for`] make it again.
    fn new_key(&self, location: &str) -> Result<(KeyHeader, DataKey), StateError>;

    /// The key a document was written under, from its header;
    /// [`StateError::Decrypt`] when this source cannot make it (another
    /// source's header, a malformed one). A wrong key is found by the
    /// cipher, not here.
    fn key_for(&self, header: &KeyHeader, location: &str) -> Result<DataKey, StateError>;

    /// Whether a document read under `header` may be written again under
    /// the same key. `false` makes the next write take a [`KeySource::new_key`]:
    /// when the header's costs are no longer the ones new keys get, or it
    /// names another key than the one configured.
    fn keeps(&self, _header: &KeyHeader) -> bool {
        true
    }

    /// What the key is, for messages, without an article: `passphrase in
    /// $CAIRN_STATE_PASSPHRASE` (as in "wrong passphrase in …").
    fn describe(&self) -> String;
}

/// Argon2id's costs: memory in KiB, passes, lanes. Written into every
/// envelope, so that they can change without making older states unreadable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Argon2Params {
    /// OWASP's recommendation for Argon2id (19 MiB, 2 passes, 1 lane): tens
    /// of milliseconds in a release build, once per run.
    pub const OWASP: Argon2Params = Argon2Params { m_kib: 19_456, t: 2, p: 1 };
    /// The most a header may ask for (1 GiB, 32 passes, 16 lanes): more
    /// was not written by cairn, and would only hang the run or exhaust its
    /// memory.
    pub const LIMIT: Argon2Params = Argon2Params { m_kib: 1 << 20, t: 32, p: 16 };

    fn within_limit(self) -> bool {
        self.m_kib <= Self::LIMIT.m_kib && self.t <= Self::LIMIT.t && self.p <= Self::LIMIT.p
    }
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params::OWASP
    }
}

/// Keys made from a passphrase with Argon2id, a random 16-byte salt for
/// each new key.
pub struct Passphrase {
    env: String,
    secret: Zeroizing<String>,
    params: Argon2Params,
    derivations: AtomicU64,
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passphrase").field("env", &self.env).field("params", &self.params).finish_non_exhaustive()
    }
}

impl Passphrase {
    /// The passphrase `secret`, read from the environment variable `env`
    /// (named in messages, never the secret); [`StateError::BadKey`] when it
    /// is empty or blank.
    pub fn new(env: &str, secret: impl Into<String>) -> Result<Self, StateError> {
        let secret = Zeroizing::new(secret.into());
        if secret.trim().is_empty() {
            return Err(StateError::BadKey {
                reason: format!("the passphrase in ${env} is empty: state encryption needs one"),
            });
        }
        Ok(Passphrase { env: env.to_string(), secret, params: Argon2Params::default(), derivations: AtomicU64::new(0) })
    }

    /// The same passphrase, making new keys with `params` (the defaults are
    /// [`Argon2Params::OWASP`]; tests use small ones).
    #[must_use]
    pub fn with_params(mut self, params: Argon2Params) -> Self {
        self.params = params;
        self
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// How many times Argon2 has run for this passphrase.
    pub fn derivations(&self) -> u64 {
        self.derivations.load(Ordering::Relaxed)
    }

    fn derive(&self, salt: &[u8], cost: Argon2Params, location: &str) -> Result<DataKey, StateError> {
        let bad = |reason: String| StateError::Decrypt { location: location.to_string(), reason };
        if !cost.within_limit() {
            return Err(bad(format!(
                "its key header asks Argon2 for more than cairn allows ({cost:?}, at most {:?})",
                Argon2Params::LIMIT
            )));
        }
        let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32))
            .map_err(|e| bad(format!("its Argon2 costs are not valid ({cost:?}): {e}")))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(self.secret.as_bytes(), salt, &mut *key)
            .map_err(|e| bad(format!("its key could not be derived: {e}")))?;
        self.derivations.fetch_add(1, Ordering::Relaxed);
        Ok(DataKey(key))
    }

    /// The costs a header records.
    fn costs(header: &KeyHeader) -> Option<Argon2Params> {
        Some(Argon2Params { m_kib: header.number("m_kib")?, t: header.number("t")?, p: header.number("p")? })
    }
}

impl KeySource for Passphrase {
    fn new_key(&self, location: &str) -> Result<(KeyHeader, DataKey), StateError> {
        let mut salt = [0u8; SALT_LEN];
        random(&mut salt, location)?;
        let key = self.derive(&salt, self.params, location)?;
        let Argon2Params { m_kib, t, p } = self.params;
        let mut params = serde_json::Map::new();
        params.insert("salt".into(), Json::from(BASE64.encode(salt)));
        params.insert("m_kib".into(), Json::from(m_kib));
        params.insert("t".into(), Json::from(t));
        params.insert("p".into(), Json::from(p));
        Ok((KeyHeader { name: ARGON2ID.into(), params }, key))
    }

    fn key_for(&self, header: &KeyHeader, location: &str) -> Result<DataKey, StateError> {
        let bad = |reason: String| StateError::Decrypt { location: location.to_string(), reason };
        if header.name != ARGON2ID {
            return Err(bad(format!(
                "it was encrypted with a key from `{}`, and this run has the {} instead",
                header.name,
                self.describe()
            )));
        }
        let salt = header.bytes("salt").ok_or_else(|| bad("its key header has no base64 `salt`".into()))?;
        let cost = Self::costs(header).ok_or_else(|| bad("its key header lacks `m_kib`, `t` or `p`".into()))?;
        self.derive(&salt, cost, location)
    }

    /// A key whose costs are still the ones new keys get.
    fn keeps(&self, header: &KeyHeader) -> bool {
        header.name == ARGON2ID && Self::costs(header) == Some(self.params)
    }

    fn describe(&self) -> String {
        format!("passphrase in ${}", self.env)
    }
}

/// Fills `buf` from the OS's random source.
fn random(buf: &mut [u8], location: &str) -> Result<(), StateError> {
    getrandom::fill(buf).map_err(|e| StateError::Io {
        action: "drawing random bytes for",
        path: location.to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// The stored form of an encrypted document.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    cairn_encrypted: u32,
    alg: String,
    /// The stack it was written for: a hint for messages (the associated
    /// data is what binds it).
    stack: String,
    kdf: KeyHeader,
    nonce: String,
    ciphertext: String,
}

/// What the inner backend holds, read.
enum Doc {
    /// Not an envelope: a plaintext state (or anything else that is not one).
    Plain,
    Sealed(Envelope),
}

/// What [`Encrypted::encrypt_in_place`] and [`Encrypted::decrypt_in_place`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InPlace {
    /// There is no state.
    NoState,
    /// The state was already as asked (and, encrypted, decrypts with this key).
    Already,
    /// The state was rewritten.
    Changed,
}

/// A backend whose document is encrypted before it reaches `inner`, and
/// decrypted when read back (see the module's documentation for the
/// format). Versions, locks and locations are the inner backend's.
pub struct Encrypted {
    inner: Arc<dyn StateBackend>,
    stack: String,
    keys: Arc<dyn KeySource>,
    /// The key last read or written with, and its header. Reused for reads
    /// of documents with that header and for every write while the source
    /// [keeps](KeySource::keeps) it, so that Argon2 (or a call to KMS) runs
    /// once per run, not once per save.
    current: Mutex<Option<(KeyHeader, DataKey)>>,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("inner", &self.inner)
            .field("stack", &self.stack)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Encrypted {
    /// The state of `stack` in `inner`, encrypted with keys from `keys`.
    pub fn new(stack: &str, inner: Arc<dyn StateBackend>, keys: Arc<dyn KeySource>) -> Self {
        Encrypted { inner, stack: stack.to_string(), keys, current: Mutex::new(None) }
    }

    /// The backend holding the envelopes.
    pub fn inner(&self) -> &Arc<dyn StateBackend> {
        &self.inner
    }

    /// Encrypts a plaintext state where it is, if still at the version read
    /// (the way from a state written without encryption to one with it).
    /// The encrypted document is written twice, so that a backend that keeps
    /// the previous version as a backup (the local `.bak`) keeps an
    /// encrypted one; earlier versions a bucket keeps are its own.
    /// [`StateError::Corrupt`] when the document is not a state.
    pub fn encrypt_in_place(&self) -> Result<InPlace, StateError> {
        let Some(stored) = self.inner.read()? else { return Ok(InPlace::NoState) };
        match self.parse(&stored.bytes)? {
            Doc::Sealed(envelope) => {
                self.open(envelope)?;
                Ok(InPlace::Already)
            }
            Doc::Plain => {
                if let Err(e) = serde_json::from_slice::<State>(&stored.bytes) {
                    return Err(StateError::Corrupt {
                        path: self.location(),
                        reason: e.to_string(),
                        earlier: self.inner.earlier_copies(),
                    });
                }
                let first = self.inner.write(&self.seal(&stored.bytes)?, Some(&stored.version))?;
                self.inner.write(&self.seal(&stored.bytes)?, Some(&first))?;
                Ok(InPlace::Changed)
            }
        }
    }

    /// Decrypts the state where it is, if still at the version read (the
    /// way back to a state without encryption).
    pub fn decrypt_in_place(&self) -> Result<InPlace, StateError> {
        let Some(stored) = self.inner.read()? else { return Ok(InPlace::NoState) };
        match self.parse(&stored.bytes)? {
            Doc::Plain => Ok(InPlace::Already),
            Doc::Sealed(envelope) => {
                let plain = self.open(envelope)?;
                self.inner.write(&plain, Some(&stored.version))?;
                Ok(InPlace::Changed)
            }
        }
    }

    fn current(&self) -> MutexGuard<'_, Option<(KeyHeader, DataKey)>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The associated data: what the ciphertext is bound to.
    fn associated(&self) -> Vec<u8> {
        format!("{ENVELOPE_MARKER}={ENVELOPE_VERSION};alg={ALG};stack={}", self.stack).into_bytes()
    }

    fn parse(&self, bytes: &[u8]) -> Result<Doc, StateError> {
        let Ok(Json::Object(map)) = serde_json::from_slice::<Json>(bytes) else { return Ok(Doc::Plain) };
        if !map.contains_key(ENVELOPE_MARKER) {
            return Ok(Doc::Plain);
        }
        serde_json::from_value(Json::Object(map)).map(Doc::Sealed).map_err(|e| StateError::Corrupt {
            path: self.location(),
            reason: format!("its encryption envelope is malformed: {e}"),
            earlier: self.inner.earlier_copies(),
        })
    }

    /// The envelope of `plain`, under the current key (a new one if there is
    /// none the source keeps).
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, StateError> {
        let location = self.location();
        let (kdf, key) = {
            let mut current = self.current();
            match &*current {
                Some((header, key)) if self.keys.keeps(header) => (header.clone(), key.clone()),
                _ => {
                    let (header, key) = self.keys.new_key(&location)?;
                    *current = Some((header.clone(), key.clone()));
                    (header, key)
                }
            }
        };
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce, &location)?;
        let aad = self.associated();
        // The cipher fails only on a document of more than 256 GiB.
        let ciphertext =
            key.cipher().encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad }).map_err(|_| {
                StateError::Io {
                    action: "encrypting state",
                    path: location.clone(),
                    source: std::io::Error::other("the document is too large to encrypt"),
                }
            })?;
        let envelope = Envelope {
            cairn_encrypted: ENVELOPE_VERSION,
            alg: ALG.into(),
            stack: self.stack.clone(),
            kdf,
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        };
        serde_json::to_vec_pretty(&envelope).map_err(|e| StateError::Io {
            action: "serializing encrypted state",
            path: location,
            source: std::io::Error::other(e),
        })
    }

    /// What `envelope` holds; remembers its key once it decrypted.
    fn open(&self, envelope: Envelope) -> Result<Vec<u8>, StateError> {
        let location = self.location();
        let refuse = |reason: String| StateError::Decrypt { location: location.clone(), reason };
        if envelope.cairn_encrypted != ENVELOPE_VERSION {
            return Err(refuse(format!(
                "its envelope is version {}, and this cairn reads version {ENVELOPE_VERSION}: upgrade cairn",
                envelope.cairn_encrypted
            )));
        }
        if envelope.alg != ALG {
            return Err(refuse(format!("it is encrypted with `{}`, which this cairn does not know", envelope.alg)));
        }
        let corrupt = |what: &str| StateError::Corrupt {
            path: location.clone(),
            reason: format!("its encryption envelope's `{what}` is not valid"),
            earlier: self.inner.earlier_copies(),
        };
        let nonce =
            BASE64.decode(&envelope.nonce).ok().filter(|n| n.len() == NONCE_LEN).ok_or_else(|| corrupt("nonce"))?;
        let ciphertext = BASE64.decode(&envelope.ciphertext).map_err(|_| corrupt("ciphertext"))?;

        let mut current = self.current();
        let key = match &*current {
            Some((header, key)) if *header == envelope.kdf => key.clone(),
            _ => self.keys.key_for(&envelope.kdf, &location)?,
        };
        let aad = self.associated();
        let plain = key.cipher().decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: &aad }).map_err(
            |_| {
                refuse(if envelope.stack == self.stack {
                    format!("wrong {}, or the state was changed by something other than cairn", self.keys.describe())
                } else {
                    format!(
                        "it was encrypted for stack `{}`, not `{}`: a stack's state cannot be read as another's",
                        envelope.stack, self.stack
                    )
                })
            },
        )?;
        *current = Some((envelope.kdf, key));
        Ok(plain)
    }
}

impl StateBackend for Encrypted {
    fn location(&self) -> String {
        self.inner.location()
    }

    /// The decrypted document. A plaintext one is refused
    /// ([`StateError::NotEncrypted`]): read as it is, anyone able to write
    /// there could replace an encrypted state with one of their own.
    fn read(&self) -> Result<Option<Stored>, StateError> {
        let Some(stored) = self.inner.read()? else { return Ok(None) };
        match self.parse(&stored.bytes)? {
            Doc::Plain => Err(StateError::NotEncrypted { location: self.location() }),
            Doc::Sealed(envelope) => Ok(Some(Stored { bytes: self.open(envelope)?, version: stored.version })),
        }
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, StateError> {
        self.inner.write(&self.seal(bytes)?, expected)
    }

    fn delete(&self, expected: Option<&Version>) -> Result<(), StateError> {
        self.inner.delete(expected)
    }

    fn lock(&self, holder: &LockHolder) -> Result<Acquired, StateError> {
        self.inner.lock(holder)
    }

    fn unlock(&self, lock_id: Option<&str>) -> Result<LockStatus, StateError> {
        self.inner.unlock(lock_id)
    }

    fn earlier_copies(&self) -> String {
        self.inner.earlier_copies()
    }

    fn exists(&self) -> Result<bool, StateError> {
        self.inner.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_is_told_by_its_marker() {
        assert!(is_envelope(br#"{"cairn_encrypted": 1}"#));
        assert!(is_envelope(br#"{"serial": 1, "cairn_encrypted": "anything"}"#));
        for not in [&br#"{"version": 1, "serial": 1, "stack": "s"}"#[..], b"[1]", b"{not json", b""] {
            assert!(!is_envelope(not), "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn a_blank_passphrase_is_refused_and_a_key_is_never_printed() {
        for blank in ["", "  \n"] {
            match Passphrase::new("CAIRN_PASS", blank) {
                Err(e @ StateError::BadKey { .. }) => assert!(e.to_string().contains("$CAIRN_PASS is empty"), "{e}"),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
        let debug = format!("{:?}", Passphrase::new("CAIRN_PASS", "hunter2-secret").ok());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(format!("{:?}", DataKey::new([7; 32])), "DataKey(..)");
        assert!(DataKey::from_slice(&[0; 31]).is_none() && DataKey::from_slice(&[0; 32]).is_some());
    }

    #[test]
    fn a_header_asking_too_much_is_refused_before_argon2_runs() -> Result<(), Box<dyn std::error::Error>> {
        let pass = Passphrase::new("P", "pw")?;
        let mut header = KeyHeader { name: ARGON2ID.into(), params: serde_json::Map::new() };
        header.params.insert("salt".into(), Json::from(BASE64.encode([1u8; 16])));
        header.params.insert("m_kib".into(), Json::from(u32::MAX));
        header.params.insert("t".into(), Json::from(1));
        header.params.insert("p".into(), Json::from(1));
        match pass.key_for(&header, "here") {
            Err(e @ StateError::Decrypt { .. }) => assert!(e.to_string().contains("more than cairn allows"), "{e}"),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(pass.derivations(), 0);
        Ok(())
    }
}
