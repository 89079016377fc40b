//! `--lock-timeout`: waiting for a stack's lock instead of failing at once.

use std::time::{Duration, Instant};

use cairn_engine::StateStore;
use cairn_engine::state::{StateError, StateLock};

/// How long to wait for a held lock, as written (`30s`, `5m`, `1h`,
/// `500ms`, or a bare number of seconds); zero fails at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockTimeout {
    pub wait: Duration,
    pub text: String,
}

impl Default for LockTimeout {
    fn default() -> Self {
        LockTimeout { wait: Duration::ZERO, text: "0s".into() }
    }
}

/// Parses a `--lock-timeout` value.
pub fn parse_timeout(s: &str) -> Result<LockTimeout, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("expected a duration such as 30s, 5m or 500ms, got `{s}`"))?;
    let wait = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => return Err(format!("unknown unit `{other}` in `{s}`: use ms, s, m or h (30s, 5m)")),
    };
    Ok(LockTimeout { wait, text: s.to_string() })
}

/// Every lock in a bucket this process took, by its store and lock id, for
/// [`release_on_abort`]. Local locks are the OS's: it releases them with
/// the process, and an unlock here could clear another run's note.
static TAKEN: std::sync::Mutex<Vec<(StateStore, String)>> = std::sync::Mutex::new(Vec::new());

/// How long an abort waits for its locks to be removed before exiting
/// anyway (the bucket may be what stopped answering).
const RELEASE_LIMIT: Duration = Duration::from_secs(5);

/// Removes the locks in a bucket this process may still hold, on the way
/// out of an abort (which exits without unwinding, so no lock is dropped):
/// such a record would otherwise stay until `state unlock --lock-id`. Each
/// goes only if its id is still this run's; one released normally already
/// is gone and left alone. Says which it removed, and which it could not
/// remove within [`RELEASE_LIMIT`], with the command that does.
pub fn release_on_abort(say: impl Fn(&str) + Send + 'static) {
    let taken = std::mem::take(&mut *TAKEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    if taken.is_empty() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let ids: Vec<(String, String)> = taken.iter().map(|(s, id)| (s.stack().to_string(), id.clone())).collect();
    std::thread::spawn(move || {
        for (store, id) in taken {
            if let Ok(cairn_engine::state::LockStatus::Free { stale: Some(_) }) = store.unlock_id(&id) {
                say(&format!("released the lock of stack `{}` ({})\n", store.stack(), store.location()));
            }
            let _ = tx.send(id);
        }
    });
    let deadline = Instant::now() + RELEASE_LIMIT;
    let mut done = Vec::new();
    while done.len() < ids.len() {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(id) => done.push(id),
            Err(_) => break,
        }
    }
    for (stack, id) in ids.iter().filter(|(_, id)| !done.contains(id)) {
        eprintln!(
            "warning: the lock of stack `{stack}` could not be removed in {}s; once this run is gone: `cairn state unlock STACK.yaml --lock-id {id}`",
            RELEASE_LIMIT.as_secs()
        );
    }
}

/// How often the lock is tried again while waiting.
const POLL: Duration = Duration::from_millis(200);
/// How often a waiting run says it is still waiting.
const PROGRESS: Duration = Duration::from_secs(10);

/// Why no lock was taken.
pub enum Refused {
    /// Not a held lock: state could not be used.
    State(StateError),
    /// Still held when the wait ran out; the message says by whom.
    TimedOut(String),
}

/// Takes the stack's lock, waiting up to `timeout` while another run holds
/// it; `say` gets a line when the wait starts and every few seconds after.
pub fn lock_waiting(
    store: &StateStore,
    command: &str,
    timeout: &LockTimeout,
    say: impl Fn(&str),
) -> Result<StateLock, Refused> {
    let started = Instant::now();
    let mut last_said: Option<Instant> = None;
    loop {
        match store.lock(command) {
            Ok(lock) => {
                if store.location().starts_with("s3://") {
                    TAKEN
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((store.clone(), lock.holder().id.clone()));
                }
                return Ok(lock);
            }
            Err(StateError::Locked { stack, holder, advice }) if !timeout.wait.is_zero() => {
                let waited = started.elapsed();
                if waited >= timeout.wait {
                    return Err(Refused::TimedOut(format!(
                        "error: gave up after {} waiting for the lock of stack `{stack}`: it is still held by a running cairn: {holder}\n  = help: nothing was changed; {advice}; or give a longer --lock-timeout",
                        timeout.text
                    )));
                }
                match last_said {
                    None => say(&format!(
                        "waiting up to {} for the lock of stack `{stack}`, held by {holder}\n",
                        timeout.text
                    )),
                    Some(t) if t.elapsed() >= PROGRESS => say(&format!(
                        "still waiting for the lock of stack `{stack}` ({}s of {})\n",
                        waited.as_secs(),
                        timeout.text
                    )),
                    Some(_) => {}
                }
                if last_said.is_none_or(|t| t.elapsed() >= PROGRESS) {
                    last_said = Some(Instant::now());
                }
                std::thread::sleep(POLL.min(timeout.wait.saturating_sub(waited)));
            }
            Err(e) => return Err(Refused::State(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_their_units() {
        let secs = |s: &str| parse_timeout(s).map(|t| t.wait);
        assert_eq!(secs("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(secs("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(secs("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(secs("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(secs("7"), Ok(Duration::from_secs(7)));
        assert!(parse_timeout("5 minutes").is_err());
        assert!(parse_timeout("s").is_err());
    }
}
