//! The local directory backend: `<dir>/<stack>.json`, its `.bak` and its
//! `.lock`, as cairn has always kept them.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::{Acquired, HeldLock, LockHolder, LockStatus, StateBackend, StateError, Stored, Version, describe_note};

/// The state files of one stack in a directory. Its file paths are for
/// what only a local state has (tests, tools that read the files); messages
/// use [`StateBackend::location`].
#[derive(Clone, Debug)]
pub struct LocalDir {
    dir: PathBuf,
    stack: String,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StateError + 'a {
    move |source| StateError::Io { action, path: path.display().to_string(), source }
}

/// The version of a state file's contents: their size and a hash of them.
/// Comparing contents, not file metadata, means no filesystem's way with
/// inode numbers or timestamps can make a write look like someone else's;
/// reading the file back before each write is cheap next to its fsync.
fn version_of(bytes: &[u8]) -> Version {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    Version(format!("{}-{:016x}", bytes.len(), h.finish()))
}

impl LocalDir {
    pub fn new(dir: impl Into<PathBuf>, stack: &str) -> Self {
        LocalDir { dir: dir.into(), stack: stack.to_string() }
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `<dir>/<stack>.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.json", self.stack))
    }
    /// `<dir>/<stack>.json.bak`: the state before the last write.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(format!("{}.json.bak", self.stack))
    }
    /// `<dir>/<stack>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }
    fn tmp_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.json.tmp", self.stack))
    }

    /// The version of the state file now; `None` when there is none.
    fn current(&self) -> Result<Option<Version>, StateError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(version_of(&bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading state", &path)(e)),
        }
    }

    /// `Conflict` unless the state file is still at `expected`.
    fn check(&self, expected: Option<&Version>) -> Result<(), StateError> {
        if self.current()?.as_ref() == expected {
            Ok(())
        } else {
            Err(StateError::Conflict { location: self.location() })
        }
    }
}

/// What ends a local lock held by another run.
const LOCAL_ADVICE: &str = "wait for it to finish, or end that process (the OS releases the lock when it ends)";

/// The local lock: the open lock file, `flock`ed; closing it releases the
/// OS lock.
#[derive(Debug)]
struct LocalLock {
    file: File,
    path: PathBuf,
}

impl HeldLock for LocalLock {
    /// Clears the note before the lock goes, so that a note found later
    /// means a run that did not end normally.
    fn release(&mut self) -> Result<(), StateError> {
        self.file.set_len(0).map_err(io("clearing lock file", &self.path))
    }
}

impl StateBackend for LocalDir {
    fn location(&self) -> String {
        self.path().display().to_string()
    }

    fn read(&self) -> Result<Option<Stored>, StateError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(Stored { version: version_of(&bytes), bytes })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
                earlier: self.earlier_copies(),
            }),
        }
    }

    fn earlier_copies(&self) -> String {
        format!(" (a backup may be at {})", self.backup_path().display())
    }

    fn exists(&self) -> Result<bool, StateError> {
        Ok(self.path().exists())
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, StateError> {
        fs::create_dir_all(&self.dir).map_err(io("creating state directory", &self.dir))?;
        let path = self.path();
        let tmp = self.tmp_path();
        {
            let mut opts = OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io("writing state", &tmp))?;
            f.write_all(bytes).map_err(io("writing state", &tmp))?;
            f.sync_all().map_err(io("syncing state", &tmp))?;
        }
        if let Err(e) = self.check(expected) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        if expected.is_some() {
            // The backup is a second name for the current file (a hard link,
            // not a copy: large states are saved after every operation).
            let bak = self.backup_path();
            let _ = fs::remove_file(&bak);
            if fs::hard_link(&path, &bak).is_err() {
                fs::copy(&path, &bak).map_err(io("keeping state backup", &bak))?;
            }
        }
        fs::rename(&tmp, &path).map_err(io("replacing state", &path))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(version_of(bytes))
    }

    fn delete(&self, expected: Option<&Version>) -> Result<(), StateError> {
        self.check(expected)?;
        for p in [self.path(), self.backup_path()] {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing state", &p)(e)),
            }
        }
        Ok(())
    }

    fn lock(&self, holder: &LockHolder) -> Result<Acquired, StateError> {
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
                let mut note = String::new();
                let _ = file.read_to_string(&mut note);
                let holder = describe_note(&note).unwrap_or_else(|| "holder unknown".to_string());
                return Err(StateError::Locked { stack: self.stack.clone(), holder, advice: LOCAL_ADVICE.into() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", &path)(e)),
        }
        let mut note = String::new();
        let _ = file.read_to_string(&mut note);
        let note_text = serde_json::to_string(holder).map_err(|e| StateError::Io {
            action: "writing lock file",
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        file.set_len(0).map_err(io("writing lock file", &path))?;
        // Written at offset 0 whatever was read before.
        file.seek(std::io::SeekFrom::Start(0)).map_err(io("writing lock file", &path))?;
        file.write_all(note_text.as_bytes()).map_err(io("writing lock file", &path))?;
        Ok(Acquired { held: Box::new(LocalLock { file, path }), previous: describe_note(&note) })
    }

    /// The OS lock cannot outlive its process, so a held lock always has a
    /// live holder and is left alone, whatever `lock_id` says; a note with
    /// nobody holding the lock is cleared. The file itself stays: removing
    /// it while another run opens it could let two runs lock two different
    /// files.
    fn unlock(&self, _lock_id: Option<&str>) -> Result<LockStatus, StateError> {
        let path = self.lock_path();
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockStatus::Free { stale: None }),
            Err(e) => return Err(io("opening lock file", &path)(e)),
        };
        let mut note = String::new();
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let _ = file.read_to_string(&mut note);
                let holder = describe_note(&note).unwrap_or_else(|| "holder unknown".to_string());
                return Ok(LockStatus::Held { holder, advice: LOCAL_ADVICE.into() });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("locking", &path)(e)),
        }
        file.read_to_string(&mut note).map_err(io("reading lock file", &path))?;
        let stale = describe_note(&note);
        if stale.is_some() {
            file.set_len(0).map_err(io("clearing lock file", &path))?;
        }
        Ok(LockStatus::Free { stale })
    }
}
