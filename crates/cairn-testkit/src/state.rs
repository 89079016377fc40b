//! State backends for tests: [`MemoryBackend`], which keeps a stack's state
//! and lock in memory and can be changed behind a store's back, and
//! [`backend_contract`], the behaviour every [`StateBackend`] must show
//! (run against the local directory here, and against any new backend).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cairn_engine::state::{Acquired, HeldLock, LockHolder, LockStatus, StateBackend, StateError, Stored, Version};
use cairn_engine::{State, StateStore};

/// One stack's state and lock, in memory, behaving as a backend over a
/// service would: every write is conditional on a version (a counter, as an
/// ETag would be), and a lock is a record anyone can read and, naming its
/// id, remove.
#[derive(Debug)]
pub struct MemoryBackend {
    stack: String,
    place: Arc<Mutex<Place>>,
}

#[derive(Debug, Default)]
struct Place {
    doc: Option<(Vec<u8>, u64)>,
    versions: u64,
    lock: Option<LockHolder>,
    /// Every operation asked of the backend, in order: `read`, `write`,
    /// `delete`, `lock`, `release`, `unlock`, with `refused` after those
    /// that were.
    calls: Vec<String>,
}

impl Place {
    fn next_version(&mut self) -> u64 {
        self.versions += 1;
        self.versions
    }
}

fn version(n: u64) -> Version {
    Version(format!("v{n}"))
}

impl MemoryBackend {
    pub fn new(stack: &str) -> Arc<Self> {
        Arc::new(MemoryBackend { stack: stack.to_string(), place: Arc::default() })
    }

    /// A second handle onto the same state and lock, as a second process
    /// would open it.
    pub fn reopen(&self) -> Arc<Self> {
        Arc::new(MemoryBackend { stack: self.stack.clone(), place: self.place.clone() })
    }

    /// A store over this backend.
    pub fn store(self: &Arc<Self>) -> StateStore {
        StateStore::with_backend(&self.stack, self.clone())
    }

    fn place(&self) -> MutexGuard<'_, Place> {
        self.place.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document as stored.
    pub fn document(&self) -> Option<Vec<u8>> {
        self.place().doc.as_ref().map(|(bytes, _)| bytes.clone())
    }

    /// The stored document, read as a state.
    pub fn state(&self) -> Option<State> {
        serde_json::from_slice(&self.document()?).ok()
    }

    /// Who holds the lock now.
    pub fn holder(&self) -> Option<LockHolder> {
        self.place().lock.clone()
    }

    /// Replaces the document as someone else would, moving its version.
    pub fn write_behind(&self, bytes: &[u8]) {
        let mut place = self.place();
        let n = place.next_version();
        place.doc = Some((bytes.to_vec(), n));
    }

    /// The operations asked so far (see [`Place::calls`]).
    pub fn calls(&self) -> Vec<String> {
        self.place().calls.clone()
    }

    /// How many of the calls so far were `op` (refused ones included).
    pub fn count(&self, op: &str) -> usize {
        self.calls().iter().filter(|c| c.split(' ').next() == Some(op)).count()
    }
}

/// What ends a [`MemoryBackend`] lock held by another.
fn advice(held: &LockHolder) -> String {
    format!("remove it with its lock id `{}` if that run is gone", held.id)
}

/// The lock a [`MemoryBackend`] granted.
#[derive(Debug)]
struct MemoryLock {
    place: Arc<Mutex<Place>>,
    id: String,
}

impl HeldLock for MemoryLock {
    /// Removes the lock record if it is still this one (it may have been
    /// removed with `unlock` naming it, and taken by another run since).
    fn release(&mut self) -> Result<(), StateError> {
        let mut place = self.place.lock().unwrap_or_else(PoisonError::into_inner);
        if place.lock.as_ref().is_some_and(|h| h.id == self.id) {
            place.lock = None;
            place.calls.push("release".into());
        } else {
            place.calls.push("release refused".into());
        }
        Ok(())
    }
}

impl StateBackend for MemoryBackend {
    fn location(&self) -> String {
        format!("memory://{}.json", self.stack)
    }

    fn read(&self) -> Result<Option<Stored>, StateError> {
        let mut place = self.place();
        place.calls.push("read".into());
        Ok(place.doc.as_ref().map(|(bytes, n)| Stored { bytes: bytes.clone(), version: version(*n) }))
    }

    fn write(&self, bytes: &[u8], expected: Option<&Version>) -> Result<Version, StateError> {
        let mut place = self.place();
        if place.doc.as_ref().map(|(_, n)| version(*n)).as_ref() != expected {
            place.calls.push("write refused".into());
            return Err(StateError::Conflict { location: self.location() });
        }
        place.calls.push("write".into());
        let n = place.next_version();
        place.doc = Some((bytes.to_vec(), n));
        Ok(version(n))
    }

    fn delete(&self, expected: Option<&Version>) -> Result<(), StateError> {
        let mut place = self.place();
        if place.doc.as_ref().map(|(_, n)| version(*n)).as_ref() != expected {
            place.calls.push("delete refused".into());
            return Err(StateError::Conflict { location: self.location() });
        }
        place.calls.push("delete".into());
        place.doc = None;
        Ok(())
    }

    fn lock(&self, holder: &LockHolder) -> Result<Acquired, StateError> {
        let mut place = self.place();
        if let Some(held) = &place.lock {
            let holder = held.to_string();
            let advice = advice(held);
            place.calls.push("lock refused".into());
            return Err(StateError::Locked { stack: self.stack.clone(), holder, advice });
        }
        place.calls.push("lock".into());
        place.lock = Some(holder.clone());
        let held = MemoryLock { place: self.place.clone(), id: holder.id.clone() };
        Ok(Acquired { held: Box::new(held), previous: None })
    }

    /// As a service would: it cannot tell whether a holder still runs, so a
    /// lock goes only when `lock_id` names it.
    fn unlock(&self, lock_id: Option<&str>) -> Result<LockStatus, StateError> {
        let mut place = self.place();
        let Some(held) = place.lock.clone() else {
            place.calls.push("unlock".into());
            return Ok(LockStatus::Free { stale: None });
        };
        if lock_id == Some(held.id.as_str()) {
            place.calls.push("unlock".into());
            place.lock = None;
            Ok(LockStatus::Free { stale: Some(held.to_string()) })
        } else {
            place.calls.push("unlock refused".into());
            Ok(LockStatus::Held { holder: held.to_string(), advice: advice(&held) })
        }
    }
}

/// What every backend must do, checked through two handles onto one fresh
/// place (`open` gives a new handle each call, as two processes would have):
/// conditional writes and deletes, the lock refusing a second taker by name
/// and freed by release. Panics on the first thing that does not hold.
pub fn backend_contract(open: &dyn Fn() -> Arc<dyn StateBackend>) {
    let (a, b) = (open(), open());
    let conflict = |r: Result<Version, StateError>, what: &str| match r {
        Err(StateError::Conflict { location }) => assert_eq!(location, a.location(), "{what}"),
        other => panic!("{what}: expected a conflict, got {other:?}"),
    };
    let read = |h: &Arc<dyn StateBackend>| h.read().unwrap_or_else(|e| panic!("read: {e}"));
    let write = |h: &Arc<dyn StateBackend>, bytes: &[u8], expected: Option<&Version>| {
        h.write(bytes, expected).unwrap_or_else(|e| panic!("write: {e}"))
    };

    assert_eq!(read(&a), None, "a fresh place holds no state");
    assert!(!a.exists().unwrap_or(true), "a fresh place holds no state");
    let v1 = write(&a, b"one", None);
    let stored = read(&b).unwrap_or_else(|| panic!("a write is seen by another handle"));
    assert_eq!((stored.bytes.as_slice(), &stored.version), (&b"one"[..], &v1));
    assert!(b.exists().unwrap_or(false));
    conflict(b.write(b"two", None), "a first write when there is a state already");

    let v2 = write(&b, b"two", Some(&v1));
    assert_ne!(v1, v2, "a write moves the version");
    conflict(a.write(b"three", Some(&v1)), "a write on a version that moved");
    assert_eq!(read(&a).map(|s| s.bytes), Some(b"two".to_vec()), "a refused write changes nothing");
    match a.delete(Some(&v1)) {
        Err(StateError::Conflict { .. }) => {}
        other => panic!("a delete on a version that moved: expected a conflict, got {other:?}"),
    }
    assert_eq!(read(&a).map(|s| s.version), Some(v2.clone()), "a refused delete changes nothing");
    a.delete(Some(&v2)).unwrap_or_else(|e| panic!("delete: {e}"));
    assert_eq!(read(&b), None, "deleted");

    let first = LockHolder::now("apply");
    let held = a.lock(&first).unwrap_or_else(|e| panic!("lock: {e}"));
    match b.lock(&LockHolder::now("plan")) {
        Err(StateError::Locked { holder, .. }) => assert_eq!(holder, first.to_string(), "the refusal names the holder"),
        other => panic!("a second lock: expected a refusal, got {other:?}"),
    }
    match b.unlock(None) {
        Ok(LockStatus::Held { holder, .. }) => assert_eq!(holder, first.to_string()),
        other => panic!("unlock of a held lock without its id must leave it, got {other:?}"),
    }
    let mut held = held.held;
    held.release().unwrap_or_else(|e| panic!("release: {e}"));
    drop(held);
    let mut again = b.lock(&LockHolder::now("plan")).unwrap_or_else(|e| panic!("lock after release: {e}")).held;
    again.release().unwrap_or_else(|e| panic!("release: {e}"));
    drop(again);
    assert_eq!(a.unlock(None).ok(), Some(LockStatus::Free { stale: None }), "nothing left once released");
}
