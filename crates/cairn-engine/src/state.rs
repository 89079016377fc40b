//! Local state: what cairn created, per stack, under `.cairn/`.
//!
//! Written after every finished operation, atomically (temp file, fsync,
//! rename, fsync of the directory), keeping the previous version as a
//! backup, with file mode 0600. A lock file stops a second concurrent run.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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
}

impl State {
    pub fn new(stack: &str) -> Self {
        State { version: STATE_VERSION, stack: stack.to_string(), ..State::default() }
    }
}

/// Why state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "stack `{stack}` is locked by another cairn run ({holder}); wait for it to finish, or if it died, remove the lock with `cairn state unlock`"
    )]
    Locked { stack: String, holder: String },
    #[error("state file {path} is unreadable: {reason}; it was left untouched (a backup may be at {path}.bak)")]
    Corrupt { path: String, reason: String },
    #[error(
        "state file {path} has version {found}, newer than this cairn understands ({STATE_VERSION}); upgrade cairn"
    )]
    TooNew { path: String, found: u32 },
    #[error("{action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { action, path: path.display().to_string(), source }
}

/// The state files of one stack in a directory.
#[derive(Clone, Debug)]
pub struct StateStore {
    dir: PathBuf,
    stack: String,
}

/// Held while a command works on a stack; released on drop (and by the OS
/// when the process dies, so a killed run never leaves a stale lock).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

impl StateStore {
    pub fn new(dir: impl Into<PathBuf>, stack: &str) -> Self {
        StateStore { dir: dir.into(), stack: stack.to_string() }
    }
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }
    fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    /// Takes the stack's lock, or says who holds it.
    pub fn lock(&self, command: &str) -> Result<StateLock, StateError> {
        fs::create_dir_all(&self.dir).map_err(io("creating state directory", &self.dir))?;
        let path = self.lock_path();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("opening lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder =
                    if holder.trim().is_empty() { "holder unknown".to_string() } else { holder.trim().to_string() };
                return Err(StateError::Locked { stack: self.stack.clone(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", &path)(e)),
        }
        let since =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let info = format!("pid {} running `cairn {command}` since unix time {since}", std::process::id());
        file.set_len(0).map_err(io("writing lock file", &path))?;
        file.write_all(info.as_bytes()).map_err(io("writing lock file", &path))?;
        Ok(StateLock { _file: file })
    }

    /// Loads the state, or a new empty one when there is none yet.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new(&self.stack)),
            Err(e) => return Err(StateError::Corrupt { path: path.display().to_string(), reason: e.to_string() }),
        };
        let state: State = serde_json::from_str(&text)
            .map_err(|e| StateError::Corrupt { path: path.display().to_string(), reason: e.to_string() })?;
        if state.version > STATE_VERSION {
            return Err(StateError::TooNew { path: path.display().to_string(), found: state.version });
        }
        Ok(state)
    }

    /// Writes the state atomically, bumping its serial and keeping the
    /// previous file as `.bak`.
    pub fn save(&self, state: &mut State) -> Result<(), StateError> {
        state.serial += 1;
        state.version = STATE_VERSION;
        fs::create_dir_all(&self.dir).map_err(io("creating state directory", &self.dir))?;
        let path = self.path();
        let tmp = self.dir.join(format!(".{}.json.tmp", self.stack));
        let text = serde_json::to_vec_pretty(state).map_err(|e| StateError::Io {
            action: "serializing state",
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        {
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io("writing state", &tmp))?;
            f.write_all(&text).map_err(io("writing state", &tmp))?;
            f.sync_all().map_err(io("syncing state", &tmp))?;
        }
        if path.exists() {
            // The backup is a second name for the current file (a hard link,
            // not a copy: large states are saved after every operation).
            let bak = self.dir.join(format!("{}.json.bak", self.stack));
            let _ = fs::remove_file(&bak);
            if fs::hard_link(&path, &bak).is_err() {
                fs::copy(&path, &bak).map_err(io("keeping state backup", &bak))?;
            }
        }
        fs::rename(&tmp, &path).map_err(io("replacing state", &path))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Removes the state file (and its backup) once nothing is left in it.
    pub fn remove(&self) -> Result<(), StateError> {
        for p in [self.path(), self.dir.join(format!("{}.json.bak", self.stack))] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing state", &p)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_with_backup_and_private_mode() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = StateStore::new(dir.path(), "s1");
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
            assert_eq!(fs::metadata(store.path())?.permissions().mode() & 0o777, 0o600);
        }
        Ok(())
    }

    #[test]
    fn second_lock_is_refused_with_holder() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = StateStore::new(dir.path(), "s1");
        let held = store.lock("apply")?;
        match store.lock("plan") {
            Err(StateError::Locked { holder, .. }) => assert!(holder.contains("cairn apply"), "{holder}"),
            other => panic!("expected a lock error, got {other:?}"),
        }
        drop(held);
        assert!(store.lock("plan").is_ok());
        Ok(())
    }

    #[test]
    fn corrupt_state_is_reported_not_replaced() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = StateStore::new(dir.path(), "s1");
        fs::write(store.path(), "{not json")?;
        assert!(matches!(store.load(), Err(StateError::Corrupt { .. })));
        assert_eq!(fs::read_to_string(store.path())?, "{not json");
        Ok(())
    }
}
