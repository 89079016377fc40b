//! State: what cairn created, per stack.
//!
//! [`StateStore`] is what the commands use: it loads and saves a stack's
//! [`State`], takes and releases its lock, and keeps what every place state
//! can live in shares (the JSON form, the serial and lineage, the unfinished
//! creates, refusing a write when the stored state moved since it was read).
//! Where the bytes go is a [`StateBackend`]: a few primitive operations (read
//! with a version, write if still at that version, lock, unlock, delete).
//! [`LocalDir`] is the one cairn has had from the start, the local
//! directory (`.cairn/<stack>.json`); the engine knows no other, and any
//! other (S3) lives with its provider and is handed in through
//! [`StateStore::with_backend`]. [`Encrypted`] wraps any backend, encrypting
//! the document before it reaches it (see [`encrypted`]).
//!
//! The local directory writes after every finished operation, atomically
//! (temp file, fsync, rename, fsync of the directory), keeping the previous
//! version as a backup, with file mode 0600. A lock file stops a second
//! concurrent run.
//!
//! The lock is an OS lock (`flock`) on `<stack>.lock`, which the OS releases
//! when its process ends, however it ends: a lock cannot outlive its holder.
//! The file also holds a note of who took the lock (pid, host, command,
//! since when), cleared when the lock is released normally; a note found
//! with nobody holding the lock is therefore left by a run that was killed
//! or crashed ([`StateStore::unlock`] reports and clears it).

pub mod encrypted;
mod local;
mod s3place;

pub use encrypted::{Encrypted, KeySource, Passphrase};
pub use local::LocalDir;
pub use s3place::S3Place;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::value::Json;

pub const STATE_VERSION: u32 = 1;

/// What one stack's state holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Bumped on every write; a saved plan records the serial it was made against.
    pub serial: u64,
    pub stack: String,
    /// Which state this is: a random id made when the state is first
    /// written, kept for its whole life (a file written by an older cairn
    /// gets one on its next write). Two states of one stack (two working
    /// directories, two `--state-dir`s) have different lineages, and every
    /// resource cairn creates is tagged with its state's lineage
    /// ([`crate::kind::TAG_STATE`]), so that a create can tell a resource
    /// another state owns from one this state made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceState>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Json>,
    /// When the stack may be swept (RFC 3339 UTC), as the last apply with
    /// a time to live set it; every taggable resource carries it as
    /// `cairn:expires`. Kept until another apply with a time to live moves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// Creates started but not known to have finished: a run killed (or a
    /// response lost) between the AWS call and the state write leaves one
    /// here, and the next create of that id adopts what it finds.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub intents: BTreeMap<String, Intent>,
}

/// A create that was started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub kind: String,
    /// The props sent, which hold the deterministic physical name.
    pub props: Json,
    /// Unix seconds.
    pub started_at: u64,
}

/// One resource as last applied.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: String,
    pub physical_id: String,
    /// The props last applied, resolved.
    pub props: Json,
    pub attrs: BTreeMap<String, Json>,
    /// Ids this resource depended on when applied; destroy runs in reverse.
    #[serde(default)]
    pub depends_on: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protect: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// The last plan found it gone from AWS (deleted outside cairn): what
    /// state records of it, its attributes and the outputs made from them,
    /// no longer describe anything live. Cleared when it is created again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vanished: bool,
}

impl State {
    pub fn new(stack: &str) -> Self {
        State { version: STATE_VERSION, stack: stack.to_string(), lineage: Some(new_lineage()), ..State::default() }
    }

    /// The lineage, made now if the state has none yet (a file written by an
    /// older cairn).
    pub fn lineage(&mut self) -> &str {
        self.lineage.get_or_insert_with(new_lineage)
    }

    /// Takes `protect` and `retain` from the stack for every resource both
    /// hold (the stack says what they are now; state, what they were when
    /// last applied). Returns whether anything changed.
    pub fn take_options(&mut self, spec: &crate::spec::StackSpec) -> bool {
        let mut changed = false;
        for (id, rs) in &mut self.resources {
            if let Some(r) = spec.resource(id) {
                changed |= rs.protect != r.options.protect || rs.retain != r.options.retain;
                rs.protect = r.options.protect;
                rs.retain = r.options.retain;
            }
        }
        changed
    }

    /// Renames resource `from` to `to`, with every reference to it in state
    /// (what depends on it, an unfinished create). `false` when state has no
    /// `from`, or already has a `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        if self.resources.contains_key(to) {
            return false;
        }
        let Some(rs) = self.resources.remove(from) else { return false };
        self.resources.insert(to.to_string(), rs);
        for r in self.resources.values_mut() {
            for d in &mut r.depends_on {
                if d == from {
                    *d = to.to_string();
                }
            }
        }
        if let Some(i) = self.intents.remove(from) {
            self.intents.insert(to.to_string(), i);
        }
        true
    }
}

/// A new lineage: the time it was made, compact UTC, then 64 random bits
/// from the OS as 16 hex digits: `20261207T140549Z-3fa2b1c4d5e6f708`. The
/// time is what `cairn sweep` shows as a deployment's age, read back from
/// the `cairn:state` tag when no state file is left. Lineages are compared
/// as opaque strings; those made before the time was added are 32 hex
/// digits and have no age.
pub fn new_lineage() -> String {
    let born = format_utc(i64::try_from(unix_now()).unwrap_or(i64::MAX)).replace(['-', ':'], "");
    format!("{born}-{}", random_hex())
}

/// 64 random bits from the OS, as 16 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    let read = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        // No /dev/urandom: the hasher's per-process random keys, the time and the pid.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.write_u32(std::process::id());
        bytes = h.finish().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// When a lineage was made (Unix seconds), for those that say (see
/// [`new_lineage`]); `None` for older ones.
pub fn lineage_born(lineage: &str) -> Option<i64> {
    let (born, random) = lineage.split_once('-')?;
    let shape = born.len() == 16 && born.is_ascii() && born.as_bytes()[8] == b'T' && born.ends_with('Z');
    if !shape || random.len() != 16 || !random.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (d, t) = (born.get(..8)?, born.get(9..15)?);
    parse_utc(&format!("{}-{}-{}T{}:{}:{}Z", &d[..4], &d[4..6], &d[6..], &t[..2], &t[2..4], &t[4..]))
}

/// Why state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another run holds the stack's lock. `advice` is the backend's: what
    /// ends that lock (the OS, for a local one; `state unlock --lock-id`, for
    /// a lock record in a bucket).
    #[error("stack `{stack}` is locked by a running cairn: {holder}; {advice}")]
    Locked { stack: String, holder: String, advice: String },
    /// The stored document is not a state. `earlier` says where an earlier
    /// copy may be (the backend's [`StateBackend::earlier_copies`]).
    #[error("state {path} is unreadable: {reason}; it was left untouched{earlier}")]
    Corrupt { path: String, reason: String, earlier: String },
    /// The place state lives could not be used (a bucket that does not
    /// exist, access denied, another region): nothing was read or written.
    #[error("state {location}: {reason}")]
    Unavailable { location: String, reason: String },
    #[error("state {path} has version {found}, newer than this cairn understands ({STATE_VERSION}); upgrade cairn")]
    TooNew { path: String, found: u32 },
    /// A conditional write or delete found the stored state changed since
    /// this run read it: someone else wrote it, and it was left as they did.
    #[error(
        "state {location} was changed by someone else since this run read it; it was left as they wrote it, not overwritten: plan again to see where the stack stands"
    )]
    Conflict { location: String },
    /// The stored state is encrypted and could not be decrypted with the
    /// key this run has (a wrong passphrase, another stack's state, a
    /// document changed by something other than cairn), or was encrypted
    /// in a way this cairn does not know. Nothing was written.
    #[error("state {location} could not be decrypted: {reason}; it was left untouched")]
    Decrypt { location: String, reason: String },
    /// This run encrypts state, and the stored state is not encrypted. It is
    /// not read: taking a plaintext state where an encrypted one is expected
    /// would let anyone able to write there replace it unnoticed.
    #[error(
        "state {location} is not encrypted, and this run is set to encrypt state: it was not read, since a plaintext state in place of an encrypted one may have been put there by anyone able to write there; if it is yours, encrypt it once with `cairn state encrypt`"
    )]
    NotEncrypted { location: String },
    /// The stored state is encrypted, and this run has no key for it.
    #[error(
        "state {location} is encrypted, and this run has no key to decrypt it: configure the state's encryption (its passphrase) as when it was written; it was left untouched"
    )]
    NoKey { location: String },
    /// The key given for state encryption cannot be used (an empty passphrase).
    #[error("state encryption: {reason}")]
    BadKey { reason: String },
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
}

/// Which version of a stack's state a backend holds: opaque, compared only
/// for equality. An S3 object's ETag; for [`LocalDir`], the size and a hash
/// of the file's contents.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub String);

/// A state document as a backend holds it: its bytes and their version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub bytes: Vec<u8>,
    pub version: Version,
}

/// Where one stack's state lives: the primitive operations [`StateStore`]
/// builds on. The document is opaque bytes here (the JSON form, serial,
/// lineage and intents are the store's, the same for every backend).
///
/// Synchronous, like the file operations it started as: the lock is released
/// on drop, which cannot wait on a future, and the executor already moves
/// its saves off the async workers (`spawn_blocking`). A backend that speaks
/// to a service runs its calls to completion inside each method (see
/// docs/decisions.md, "State backends are synchronous").
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Where the state is, for messages: `.cairn/s1.json`, `s3://b/p/s1.json`.
    fn location(&self) -> String;

    /// The state document and its version; `None` when there is none yet.
    fn read(&self) -> Result<Option<Stored>, StateError>;

    /// Replaces the document if the stored one is still at `expected`
    /// (`None`: there must be none yet), and returns the new version; else
    /// [`StateError::Conflict`], leaving what is stored untouched. A write
    /// is all or nothing: a reader sees the old document or the new one.
    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, StateError>;

    /// Removes the state (and anything kept with it, such as a backup) if it
    /// is still at `expected`, else [`StateError::Conflict`]. Nothing there
    /// is not an error.
    fn delete(&self, expected: Option<&Version>) -> Result<(), StateError>;

    /// Takes the stack's lock for `holder`, recording who it is (and its
    /// lock id) where a second run can read it; refuses with
    /// [`StateError::Locked`], naming the holder, while another holds it.
    /// Never waits: waiting is the caller's (`--lock-timeout`).
    fn lock(&self, holder: &LockHolder) -> Result<Acquired, StateError>;

    /// Reports who holds the lock and clears a lock its holder can no
    /// longer release. A lock a live process holds is never taken from it
    /// where the backend can tell (the local OS lock); where it cannot (an
    /// object in a bucket), the lock is removed only when `lock_id` names
    /// it, and reported as held otherwise.
    fn unlock(&self, lock_id: Option<&str>) -> Result<LockStatus, StateError>;

    /// Where an earlier copy of the document may be, for the message that
    /// says the current one is unreadable: ` (a backup may be at …)`, or
    /// nothing.
    fn earlier_copies(&self) -> String {
        String::new()
    }

    /// Whether there is a state document, without reading it where the
    /// backend can tell more cheaply.
    fn exists(&self) -> Result<bool, StateError> {
        Ok(self.read()?.is_some())
    }
}

/// A lock a backend granted, released once: by [`StateLock::release`], or
/// when the [`StateLock`] holding it is dropped. Dropped without a release,
/// what becomes of the lock is the backend's (the local OS lock goes with
/// its file, leaving its note; a lock record in a bucket stays).
pub trait HeldLock: Send + Sync + std::fmt::Debug {
    fn release(&mut self) -> Result<(), StateError>;
}

/// What [`StateBackend::lock`] gives.
#[derive(Debug)]
pub struct Acquired {
    pub held: Box<dyn HeldLock>,
    /// Who an earlier run that did not release the lock was, when the
    /// backend could still take it (the local OS lock, whose note a killed
    /// run leaves behind); shown as a note.
    pub previous: Option<String>,
}

/// One stack's state, wherever it lives: what commands load, save and lock.
///
/// Clones share the backend and the version last read or written, so that
/// a clone handed to a worker thread writes on top of what this one read.
#[derive(Clone, Debug)]
pub struct StateStore {
    stack: String,
    backend: Arc<dyn StateBackend>,
    seen: Arc<Mutex<Seen>>,
}

/// What a store knows of the stored version.
#[derive(Clone, Debug, Default)]
enum Seen {
    /// Nothing read or written yet: a save asks the backend first (a blind
    /// write, as a store that never loaded always made).
    #[default]
    Unknown,
    /// Read, and there was none.
    Absent,
    At(Version),
}

/// Held while a command works on a stack; released on drop (and, for the
/// local directory, by the OS when the process dies, so a killed run never
/// leaves a stale local lock).
#[derive(Debug)]
pub struct StateLock {
    holder: LockHolder,
    previous: Option<String>,
    held: Option<Box<dyn HeldLock>>,
}

impl StateLock {
    /// The note of an earlier run found in the lock file when this lock was
    /// taken: that run ended without releasing the lock (killed or crashed).
    pub fn previous(&self) -> Option<&str> {
        self.previous.as_deref()
    }

    /// Who holds this lock (this run), with its lock id.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// Releases the lock now, saying if that failed (dropping it releases
    /// it too, silently).
    pub fn release(mut self) -> Result<(), StateError> {
        self.held.take().map_or(Ok(()), |mut h| h.release())
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        if let Some(mut held) = self.held.take() {
            let _ = held.release();
        }
    }
}

/// Who took a stack's lock, as a backend records it (the local lock file's
/// note).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// The cairn command (`apply`, `plan`, `destroy`).
    pub command: String,
    /// Unix seconds.
    pub since: u64,
    /// Names this taking of the lock, so that a lock left behind can be
    /// removed by naming it (and only it); empty in notes of older cairns.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The user who ran cairn (`$USER`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl LockHolder {
    /// This process, running `command`, with a new lock id.
    pub fn now(command: &str) -> Self {
        let user = ["USER", "LOGNAME"].iter().filter_map(|k| std::env::var(k).ok()).find(|u| !u.is_empty());
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            command: command.to_string(),
            since: unix_now(),
            id: random_hex(),
            user,
        }
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}, running `cairn {}` since {}", self.pid, self.host, self.command, utc(self.since))
    }
}

/// What [`StateStore::unlock`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockStatus {
    /// The lock is held, and was left alone; `holder` describes who holds
    /// it, `advice` what ends that lock (as in [`StateError::Locked`]).
    Held { holder: String, advice: String },
    /// Nobody holds the lock now. `stale` describes the holder of a lock (or
    /// the note) that a run which did not end normally left, now cleared.
    Free { stale: Option<String> },
}

/// A lock record as text: the holder's fields, or the raw text when it is
/// not a [`LockHolder`] this cairn wrote; `None` when empty.
pub fn describe_note(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match serde_json::from_str::<LockHolder>(text) {
        Ok(h) => h.to_string(),
        Err(_) => text.to_string(),
    })
}

/// Seconds since the Unix epoch, now (0 if the clock is before it).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// This machine's name, without a libc call.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .chain(std::env::var("HOSTNAME").ok())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// `2024-05-06 07:08:09 UTC` from Unix seconds.
fn utc(secs: u64) -> String {
    let rem = secs % 86_400;
    let date = civil_date(i64::try_from(secs / 86_400).unwrap_or(0));
    format!("{date} {:02}:{:02}:{:02} UTC", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's
/// days-to-civil conversion, proleptic Gregorian calendar).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The days from 1970-01-01 of a civil date (the inverse of
/// [`civil_date`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of an RFC 3339 UTC time as cairn writes it
/// (`2026-12-07T15:04:05Z`); `None` for anything else.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten()
    };
    let mut d = date.split('-');
    let (y, mo, da) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let mut c = time.split(':');
    let (h, mi, se) = (num(c.next()?, 2)?, num(c.next()?, 2)?, num(c.next()?, 2)?);
    if d.next().is_some()
        || c.next().is_some()
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se)
}

/// `2026-12-07T15:04:05Z` from Unix seconds.
pub fn format_utc(secs: i64) -> String {
    let rem = secs.rem_euclid(86_400);
    let date = civil_date(secs.div_euclid(86_400));
    format!("{date}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

impl StateStore {
    /// The state of `stack` in the local directory `dir` (`<dir>/<stack>.json`).
    pub fn new(dir: impl Into<PathBuf>, stack: &str) -> Self {
        StateStore::with_backend(stack, Arc::new(LocalDir::new(dir, stack)))
    }

    /// The state of `stack` where `backend` keeps it.
    pub fn with_backend(stack: &str, backend: Arc<dyn StateBackend>) -> Self {
        StateStore { stack: stack.to_string(), backend, seen: Arc::default() }
    }

    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Where the state is, for messages (`.cairn/s1.json`).
    pub fn location(&self) -> String {
        self.backend.location()
    }

    pub fn backend(&self) -> &Arc<dyn StateBackend> {
        &self.backend
    }

    /// Whether the stack has a state here at all.
    pub fn exists(&self) -> Result<bool, StateError> {
        self.backend.exists()
    }

    /// Takes the stack's lock for `command` (recording who took it), or says
    /// who holds it.
    pub fn lock(&self, command: &str) -> Result<StateLock, StateError> {
        let holder = LockHolder::now(command);
        let Acquired { held, previous } = self.backend.lock(&holder)?;
        Ok(StateLock { holder, previous, held: Some(held) })
    }

    /// Says whether a live run holds the stack's lock, and if none does,
    /// clears what a killed or crashed run left (see
    /// [`StateBackend::unlock`]).
    pub fn unlock(&self) -> Result<LockStatus, StateError> {
        self.backend.unlock(None)
    }

    /// [`StateStore::unlock`], also removing the lock `lock_id` names where
    /// the backend cannot tell whether its holder still runs.
    pub fn unlock_id(&self, lock_id: &str) -> Result<LockStatus, StateError> {
        self.backend.unlock(Some(lock_id))
    }

    /// Loads the state, or a new empty one when there is none yet, and
    /// remembers its version: the next save must find it unchanged.
    pub fn load(&self) -> Result<State, StateError> {
        let location = || self.backend.location();
        let Some(stored) = self.backend.read()? else {
            self.remember(Seen::Absent);
            return Ok(State::new(&self.stack));
        };
        let state: State = serde_json::from_slice(&stored.bytes).map_err(|e| {
            if encrypted::is_envelope(&stored.bytes) {
                StateError::NoKey { location: location() }
            } else {
                StateError::Corrupt { path: location(), reason: e.to_string(), earlier: self.backend.earlier_copies() }
            }
        })?;
        if state.version > STATE_VERSION {
            return Err(StateError::TooNew { path: location(), found: state.version });
        }
        self.remember(Seen::At(stored.version));
        Ok(state)
    }

    /// Writes the state, bumping its serial; refused when the stored state
    /// changed since this store read it.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        self.write(state)
    }

    /// Writes what a refresh learned about AWS (a resource found gone)
    /// without bumping the serial: nothing cairn will do has changed, so a
    /// plan saved against this serial stays valid.
    pub fn save_refreshed(&self, state: &mut State) -> Result<(), StateError> {
        self.write(state)
    }

    fn write(&self, state: &mut State) -> Result<(), StateError> {
        state.version = STATE_VERSION;
        state.lineage();
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            action: "serializing state",
            path: self.backend.location(),
            source: std::io::Error::other(e),
        })?;
        // Held across the write: clones write one at a time, each on top of
        // the last.
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let expected = self.expected(&seen)?;
        let version = self.backend.write(&bytes, expected.as_ref())?;
        *seen = Seen::At(version);
        Ok(())
    }

    /// Removes the state once nothing is left in it; refused when the
    /// stored state changed since this store read it.
    pub fn remove(&self) -> Result<(), StateError> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let expected = self.expected(&seen)?;
        self.backend.delete(expected.as_ref())?;
        *seen = Seen::Absent;
        Ok(())
    }

    /// The version a write must find.
    fn expected(&self, seen: &Seen) -> Result<Option<Version>, StateError> {
        Ok(match seen {
            Seen::Unknown => self.backend.read()?.map(|s| s.version),
            Seen::Absent => None,
            Seen::At(v) => Some(v.clone()),
        })
    }

    fn remember(&self, now: Seen) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_times_read_back_as_written() {
        for secs in [0_i64, 951_782_400, 1_796_655_845, 4_102_444_800] {
            assert_eq!(super::parse_utc(&super::format_utc(secs)), Some(secs));
        }
        assert_eq!(super::format_utc(1_796_655_845), "2026-12-07T15:04:05Z");
        for bad in ["2026-12-07 15:04:05Z", "2026-12-07T15:04:05", "2026-13-07T15:04:05Z", "26-12-07T15:04:05Z"] {
            assert_eq!(super::parse_utc(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn saves_atomically_with_backup_and_private_mode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        let mut st = store.load()?;
        assert_eq!(st.serial, 0);
        st.outputs.insert("a".into(), Json::from(1));
        store.save(&mut st)?;
        st.outputs.insert("a".into(), Json::from(2));
        store.save(&mut st)?;
        let again = store.load()?;
        assert_eq!(again.serial, 2);
        assert_eq!(again.outputs["a"], Json::from(2));
        let bak: State = serde_json::from_str(&fs::read_to_string(dir.path().join("s1.json.bak"))?)?;
        assert_eq!(bak.outputs["a"], Json::from(1));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(local.path())?.permissions().mode() & 0o777, 0o600);
        }
        Ok(())
    }

    #[test]
    fn second_lock_is_refused_with_holder() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        let held = store.lock("apply")?;
        assert_eq!(held.previous(), None);
        let note: LockHolder = serde_json::from_str(&fs::read_to_string(local.lock_path())?)?;
        assert_eq!((note.pid, note.command.as_str(), note.host.is_empty()), (std::process::id(), "apply", false));
        assert!(note.since > 1_600_000_000, "{note:?}");
        assert_eq!(&note, held.holder(), "the note is this lock's holder, lock id included");
        assert_eq!(note.id.len(), 16, "{note:?}");
        assert_eq!(
            match store.unlock_id(&note.id)? {
                LockStatus::Held { holder, .. } => holder,
                other => panic!("naming a live local lock must not break it, got {other:?}"),
            },
            note.to_string()
        );
        match store.lock("plan") {
            Err(e @ StateError::Locked { .. }) => {
                let text = e.to_string();
                let expected = format!("pid {} on host {}, running `cairn apply` since ", note.pid, note.host);
                assert!(text.contains(&expected) && text.contains(" UTC"), "{text}");
            }
            other => panic!("expected a lock error, got {other:?}"),
        }
        match store.unlock()? {
            LockStatus::Held { holder, .. } => assert!(holder.contains("`cairn apply`"), "{holder}"),
            other => panic!("unlock must refuse a held lock, got {other:?}"),
        }
        drop(held);
        assert_eq!(fs::read_to_string(local.lock_path())?, "", "a released lock leaves no note");
        let again = store.lock("plan")?;
        assert_eq!(again.previous(), None, "the last run ended normally");
        assert_ne!(again.holder().id, note.id, "each taking of the lock has its own id");
        again.release()?;
        assert_eq!(fs::read_to_string(local.lock_path())?, "", "released on request as on drop");
        Ok(())
    }

    #[test]
    fn a_write_by_someone_else_since_the_load_is_refused_and_kept() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        let mut st = store.load()?;
        store.save(&mut st)?;
        store.save(&mut st)?;
        // Someone else writes between this run's writes.
        let theirs = r#"{"version": 1, "serial": 7, "stack": "s1", "resources": {}}"#;
        fs::write(local.path(), theirs)?;
        st.outputs.insert("a".into(), Json::from(1));
        match store.save(&mut st) {
            Err(e @ StateError::Conflict { .. }) => {
                assert!(e.to_string().contains(&local.path().display().to_string()), "{e}");
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(local.path())?, theirs, "theirs is not overwritten");
        assert!(!dir.path().join(".s1.json.tmp").exists(), "no temp file left");
        assert!(matches!(store.remove(), Err(StateError::Conflict { .. })), "nor removed");
        assert_eq!(fs::read_to_string(local.path())?, theirs);

        // A state made by someone else while this store saw none.
        let other = StateStore::new(dir.path(), "s2");
        let mut fresh = other.load()?;
        fs::write(LocalDir::new(dir.path(), "s2").path(), theirs)?;
        assert!(matches!(other.save(&mut fresh), Err(StateError::Conflict { .. })));

        // Read again, the store writes on top of what it read.
        let mut again = store.load()?;
        assert_eq!(again.serial, 7);
        store.save(&mut again)?;
        assert_eq!(store.load()?.serial, 8);
        store.remove()?;
        assert!(!local.path().exists() && !local.backup_path().exists());
        assert!(!store.exists()?);
        Ok(())
    }

    #[test]
    fn a_store_that_never_loaded_writes_over_what_is_there() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let local = LocalDir::new(dir.path(), "s1");
        fs::write(local.path(), r#"{"version": 1, "serial": 4, "stack": "s1", "resources": {}}"#)?;
        let mut st = State::new("s1");
        StateStore::new(dir.path(), "s1").save(&mut st)?;
        assert_eq!(StateStore::new(dir.path(), "s1").load()?.serial, 1);
        Ok(())
    }

    #[test]
    fn a_note_without_a_holder_is_stale_and_unlock_clears_it() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        assert_eq!(store.unlock()?, LockStatus::Free { stale: None }, "no lock file at all");
        // What a run killed while holding the lock leaves behind.
        let dead = LockHolder {
            pid: 4_000_001,
            host: "h1".into(),
            command: "apply".into(),
            since: 1_700_000_000,
            id: String::new(),
            user: None,
        };
        fs::write(local.lock_path(), serde_json::to_string(&dead)?)?;
        let lock = store.lock("plan")?;
        assert_eq!(
            lock.previous(),
            Some("pid 4000001 on host h1, running `cairn apply` since 2023-11-14 22:13:20 UTC")
        );
        drop(lock);
        fs::write(local.lock_path(), serde_json::to_string(&dead)?)?;
        match store.unlock()? {
            LockStatus::Free { stale: Some(note) } => assert!(note.starts_with("pid 4000001 on host h1"), "{note}"),
            other => panic!("expected a stale note, got {other:?}"),
        }
        assert!(local.lock_path().exists(), "the lock file itself stays");
        assert_eq!(fs::read_to_string(local.lock_path())?, "");
        assert_eq!(store.unlock()?, LockStatus::Free { stale: None });
        Ok(())
    }

    fn resource(depends_on: &[&str]) -> ResourceState {
        ResourceState {
            kind: "k".into(),
            physical_id: "p".into(),
            props: Json::Null,
            attrs: BTreeMap::new(),
            depends_on: depends_on.iter().map(ToString::to_string).collect(),
            retain: false,
            protect: false,
            derived: false,
            vanished: false,
        }
    }

    #[test]
    fn rename_moves_references_too() {
        let mut st = State::new("s1");
        st.resources.insert("jobs".into(), resource(&[]));
        st.resources.insert("feed".into(), resource(&["jobs"]));
        assert!(st.rename("jobs", "work"));
        assert_eq!(st.resources.keys().collect::<Vec<_>>(), ["feed", "work"]);
        assert_eq!(st.resources["feed"].depends_on, ["work"]);
        assert!(!st.rename("jobs", "other"), "no `jobs` any more");
        assert!(!st.rename("feed", "work"), "`work` is taken");
    }

    #[test]
    fn a_lineage_says_when_it_was_made_and_old_ones_do_not() {
        assert_eq!(lineage_born("20261207T140549Z-3fa2b1c4d5e6f708"), parse_utc("2026-12-07T14:05:49Z"));
        assert_eq!(lineage_born("3fa2b1c4d5e6f7083fa2b1c4d5e6f708"), None, "the old form, random only");
        for bad in
            ["20261207T140549Z-3fa2", "2026120XT140549Z-3fa2b1c4d5e6f708", "20261207T140549Z-3fa2b1c4d5e6f70g", ""]
        {
            assert_eq!(lineage_born(bad), None, "{bad}");
        }
        let fresh = new_lineage();
        assert_eq!(fresh.len(), 33, "{fresh}");
        assert!(fresh.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "fits a tag value: {fresh}");
    }

    #[test]
    fn old_files_get_a_lineage_on_their_next_write_and_keep_it() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        fs::write(local.path(), r#"{"version": 1, "serial": 4, "stack": "s1", "resources": {}}"#)?;
        let mut st = store.load()?;
        assert_eq!(st.lineage, None, "an old file still reads");
        store.save(&mut st)?;
        let lineage = store.load()?.lineage.ok_or("no lineage written")?;
        let born = lineage_born(&lineage).ok_or("a new lineage says when it was made")?;
        assert!((born - i64::try_from(unix_now())?).abs() < 60, "{lineage}");
        let mut again = store.load()?;
        store.save(&mut again)?;
        assert_eq!(store.load()?.lineage.as_deref(), Some(lineage.as_str()));
        assert_ne!(State::new("s1").lineage, State::new("s1").lineage);
        Ok(())
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn corrupt_state_is_reported_not_replaced() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let (store, local) = (StateStore::new(dir.path(), "s1"), LocalDir::new(dir.path(), "s1"));
        fs::write(local.path(), "{not json")?;
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));
        assert_eq!(fs::read_to_string(local.path())?, "{not json");
        Ok(())
    }
}
