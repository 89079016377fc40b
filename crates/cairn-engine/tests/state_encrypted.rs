//! State encryption: [`Encrypted`] keeps the backend contract over any
//! backend, the backend never holds the plaintext, a wrong passphrase or
//! another stack's state is refused without a write, a plaintext state is
//! refused where an encrypted one is expected (and encrypted in place on
//! request), an encrypted one read without a key says so, and Argon2 runs
//! once per run rather than once per save.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_engine::state::encrypted::{Argon2Params, DataKey, InPlace, KeyHeader, KeySource};
use cairn_engine::state::{Encrypted, LocalDir, Passphrase, ResourceState, StateBackend, StateError};
use cairn_engine::{State, StateStore};
use cairn_testkit::state::{MemoryBackend, backend_contract};
use serde_json::{Value, json};

type R = Result<(), Box<dyn std::error::Error>>;

const ENV: &str = "CAIRN_STATE_PASSPHRASE";
/// Argon2's smallest costs: the tests check the plumbing, not the hardness.
const CHEAP: Argon2Params = Argon2Params { m_kib: 8, t: 1, p: 1 };
const SECRET_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:secret-queue";

fn passphrase(secret: &str) -> Arc<Passphrase> {
    Arc::new(Passphrase::new(ENV, secret).unwrap_or_else(|e| panic!("{e}")).with_params(CHEAP))
}

fn encrypted(stack: &str, inner: Arc<dyn StateBackend>, keys: &Arc<Passphrase>) -> Arc<Encrypted> {
    Arc::new(Encrypted::new(stack, inner, keys.clone()))
}

/// A state worth hiding: a resource with an account's ARN, an output.
fn secret_state(store: &StateStore) -> Result<State, StateError> {
    let mut st = store.load()?;
    st.account_id = Some("123456789012".into());
    st.resources.insert(
        "jobs".into(),
        ResourceState {
            kind: "aws:sqs:Queue".into(),
            physical_id: SECRET_ARN.into(),
            props: json!({"name": "secret-queue"}),
            attrs: BTreeMap::from([("arn".to_string(), Value::from(SECRET_ARN))]),
            depends_on: vec![],
            retain: false,
            protect: false,
            derived: false,
            vanished: false,
        },
    );
    st.outputs.insert("queue_url".into(), Value::from("https://sqs.example/secret-queue"));
    Ok(st)
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

#[test]
fn encrypted_backends_keep_the_contract() -> R {
    let keys = passphrase("correct horse");
    let memory = MemoryBackend::new("s1");
    backend_contract(&|| encrypted("s1", memory.reopen(), &keys) as Arc<dyn StateBackend>);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested");
    backend_contract(&|| encrypted("s1", Arc::new(LocalDir::new(&path, "s1")), &keys) as Arc<dyn StateBackend>);
    Ok(())
}

#[test]
fn what_the_backend_holds_is_an_envelope_without_the_plaintext() -> R {
    let keys = passphrase("correct horse");
    let memory = MemoryBackend::new("s1");
    let store = StateStore::with_backend("s1", encrypted("s1", memory.clone(), &keys));
    let mut st = secret_state(&store)?;
    store.save(&mut st)?;
    store.save(&mut st)?;

    let stored = text(memory.document());
    for secret in [SECRET_ARN, "secret-queue", "123456789012", "aws:sqs", "queue_url", "lineage"] {
        assert!(!stored.contains(secret), "`{secret}` is stored in the clear: {stored}");
    }
    let envelope: Value = serde_json::from_str(&stored)?;
    let keys_of = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(keys_of(&envelope), ["cairn_encrypted", "alg", "stack", "kdf", "nonce", "ciphertext"]);
    assert_eq!(envelope["cairn_encrypted"], 1);
    assert_eq!(envelope["alg"], "xchacha20poly1305");
    assert_eq!(envelope["stack"], "s1");
    assert_eq!(keys_of(&envelope["kdf"]), ["name", "salt", "m_kib", "t", "p"]);
    assert_eq!(
        (&envelope["kdf"]["name"], &envelope["kdf"]["m_kib"], &envelope["kdf"]["t"], &envelope["kdf"]["p"]),
        (&json!("argon2id"), &json!(8), &json!(1), &json!(1))
    );

    // Through the local directory, the backup is encrypted too.
    let dir = tempfile::tempdir()?;
    let local = LocalDir::new(dir.path(), "s1");
    let store = StateStore::with_backend("s1", encrypted("s1", Arc::new(local.clone()), &keys));
    let mut st = secret_state(&store)?;
    store.save(&mut st)?;
    store.save(&mut st)?;
    for file in [local.path(), local.backup_path()] {
        let stored = std::fs::read_to_string(&file)?;
        assert!(stored.contains("\"cairn_encrypted\"") && !stored.contains("secret-queue"), "{}", file.display());
    }
    Ok(())
}

#[test]
fn a_state_round_trips_through_the_store() -> R {
    let keys = passphrase("correct horse");
    let memory = MemoryBackend::new("s1");
    let store = StateStore::with_backend("s1", encrypted("s1", memory.clone(), &keys));
    let mut st = secret_state(&store)?;
    store.save(&mut st)?;
    assert_eq!(store.load()?, st);

    // Another run (another store, another Encrypted) reads it, and writes on top.
    let other = StateStore::with_backend("s1", encrypted("s1", memory.reopen(), &passphrase("correct horse")));
    let mut again = other.load()?;
    assert_eq!(again, st);
    again.outputs.insert("more".into(), Value::from(2));
    other.save(&mut again)?;
    assert_eq!(store.load()?.serial, 2);
    assert_eq!(store.load()?.outputs["more"], 2);

    // Someone else writes between this run's load and save: refused, as without encryption.
    let mut mine = store.load()?;
    other.save(&mut other.load()?)?;
    let theirs = memory.document();
    assert!(matches!(store.save(&mut mine), Err(StateError::Conflict { .. })));
    assert_eq!(memory.document(), theirs);
    Ok(())
}

#[test]
fn a_wrong_passphrase_is_refused_and_nothing_is_written() -> R {
    let memory = MemoryBackend::new("s1");
    let right = StateStore::with_backend("s1", encrypted("s1", memory.clone(), &passphrase("correct horse")));
    let mut st = secret_state(&right)?;
    right.save(&mut st)?;
    let before = memory.document();
    let writes = memory.count("write");

    let wrong = StateStore::with_backend("s1", encrypted("s1", memory.reopen(), &passphrase("battery staple")));
    match wrong.load() {
        Err(e @ StateError::Decrypt { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("state memory://s1.json could not be decrypted: "), "{text}");
            assert!(text.contains(&format!("wrong passphrase in ${ENV}")), "{text}");
            assert!(text.contains("changed by something other than cairn"), "{text}");
            assert!(text.ends_with("it was left untouched"), "{text}");
        }
        other => panic!("expected a decrypt error, got {other:?}"),
    }
    // A save that never loaded reads first, and is refused the same way.
    assert!(matches!(wrong.save(&mut State::new("s1")), Err(StateError::Decrypt { .. })));
    assert!(matches!(wrong.remove(), Err(StateError::Decrypt { .. })));
    assert_eq!(memory.document(), before, "the state is as the right passphrase wrote it");
    assert_eq!(memory.count("write"), writes, "no write was even tried");
    assert_eq!(right.load()?, st);
    Ok(())
}

#[test]
fn a_stacks_state_does_not_decrypt_as_another_stacks() -> R {
    let keys = passphrase("one passphrase for both");
    let a = MemoryBackend::new("a");
    let store = StateStore::with_backend("a", encrypted("a", a.clone(), &keys));
    let mut st = secret_state(&store)?;
    store.save(&mut st)?;
    let a_doc = a.document().ok_or("nothing written")?;

    let b = MemoryBackend::new("b");
    b.write_behind(&a_doc);
    let b_store = StateStore::with_backend("b", encrypted("b", b.clone(), &keys));
    match b_store.load() {
        Err(e @ StateError::Decrypt { .. }) => {
            assert!(e.to_string().contains("encrypted for stack `a`, not `b`"), "{e}")
        }
        other => panic!("expected a decrypt error, got {other:?}"),
    }
    // Relabelled, it still does not: the stack is bound in the associated data.
    let mut relabelled: Value = serde_json::from_slice(&a_doc)?;
    relabelled["stack"] = Value::from("b");
    b.write_behind(&serde_json::to_vec(&relabelled)?);
    match b_store.load() {
        Err(e @ StateError::Decrypt { .. }) => assert!(e.to_string().contains("wrong passphrase"), "{e}"),
        other => panic!("expected a decrypt error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn argon2_runs_once_per_run_not_per_save() -> R {
    let memory = MemoryBackend::new("s1");
    let keys = passphrase("correct horse");
    let store = StateStore::with_backend("s1", encrypted("s1", memory.clone(), &keys));
    let mut st = store.load()?;
    assert_eq!(keys.derivations(), 0, "no state, no key yet");
    for n in 0..5 {
        st.outputs.insert("n".into(), Value::from(n));
        store.save(&mut st)?;
    }
    assert_eq!(store.load()?, st);
    assert_eq!(keys.derivations(), 1, "one key for all the saves and the load");
    let salt = |doc: Option<Vec<u8>>| -> Value {
        serde_json::from_slice::<Value>(&doc.unwrap_or_default()).map(|v| v["kdf"]["salt"].clone()).unwrap_or_default()
    };
    let first_salt = salt(memory.document());
    let first_nonce = serde_json::from_slice::<Value>(&memory.document().unwrap_or_default())?["nonce"].clone();

    // The next run derives once to read, and writes under the salt it read.
    let keys = passphrase("correct horse");
    let store = StateStore::with_backend("s1", encrypted("s1", memory.reopen(), &keys));
    let mut st = store.load()?;
    for _ in 0..3 {
        store.save(&mut st)?;
    }
    assert_eq!(keys.derivations(), 1);
    assert_eq!(salt(memory.document()), first_salt, "the salt read is kept");
    let doc: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    assert_ne!(doc["nonce"], first_nonce, "every write draws its nonce");

    // New costs: the state read under the old ones is written under a new key with the new.
    let stronger = Arc::new(Passphrase::new(ENV, "correct horse")?.with_params(Argon2Params { m_kib: 16, ..CHEAP }));
    let store = StateStore::with_backend("s1", Arc::new(Encrypted::new("s1", memory.reopen(), stronger.clone())));
    let mut st = store.load()?;
    store.save(&mut st)?;
    store.save(&mut st)?;
    assert_eq!(stronger.derivations(), 2, "one to read under the old costs, one new key");
    let doc: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    assert_eq!(doc["kdf"]["m_kib"], 16);
    assert_ne!(doc["kdf"]["salt"], first_salt);
    assert_eq!(store.load()?, st);
    Ok(())
}

/// A small deterministic generator (xorshift64*), for byte strings.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn string(&mut self) -> Vec<u8> {
        let len = usize::try_from(self.next() % 3000).unwrap_or(0);
        (0..len).map(|_| self.next().to_le_bytes()[0]).collect()
    }
}

#[test]
fn any_bytes_round_trip_and_any_changed_byte_is_caught() -> R {
    let keys = passphrase("correct horse");
    let memory = MemoryBackend::new("s1");
    let backend = encrypted("s1", memory.clone(), &keys);
    let mut rng = Bytes(0x9e37_79b9_7f4a_7c15);
    let mut version = None;
    for n in 0..200 {
        let bytes = if n == 0 { Vec::new() } else { rng.string() };
        let v = backend.write(&bytes, version.as_ref())?;
        let stored = backend.read()?.ok_or("nothing read back")?;
        assert_eq!((&stored.bytes, &stored.version), (&bytes, &v), "case {n}");
        version = Some(v);
    }
    assert_eq!(keys.derivations(), 1);

    // Change one byte of the ciphertext (or its tag) anywhere: refused.
    let doc: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    let ciphertext = base64_decode(doc["ciphertext"].as_str().ok_or("no ciphertext")?)?;
    for _ in 0..50 {
        let mut changed = ciphertext.clone();
        let at = usize::try_from(rng.next()).unwrap_or(0) % changed.len();
        changed[at] ^= 1 << (rng.next() % 8);
        let mut doc = doc.clone();
        doc["ciphertext"] = Value::from(base64_encode(&changed));
        memory.write_behind(&serde_json::to_vec(&doc)?);
        assert!(matches!(backend.read(), Err(StateError::Decrypt { .. })), "byte {at} changed");
    }
    Ok(())
}

fn base64_decode(s: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use base64::Engine as _;
    Ok(base64::engine::general_purpose::STANDARD.decode(s)?)
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn a_plaintext_state_is_refused_where_an_encrypted_one_is_expected_and_can_be_encrypted() -> R {
    let dir = tempfile::tempdir()?;
    let local = LocalDir::new(dir.path(), "s1");
    let plain = StateStore::new(dir.path(), "s1");
    let mut st = secret_state(&plain)?;
    plain.save(&mut st)?;
    plain.save(&mut st)?;
    let before = std::fs::read(local.path())?;

    let keys = passphrase("correct horse");
    let enc = encrypted("s1", Arc::new(local.clone()), &keys);
    let store = StateStore::with_backend("s1", enc.clone());
    match store.load() {
        Err(e @ StateError::NotEncrypted { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("state {} is not encrypted", local.path().display())), "{text}");
            assert!(text.contains("`cairn state encrypt`"), "{text}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(store.save(&mut st.clone()), Err(StateError::NotEncrypted { .. })), "nor written over");
    assert_eq!(std::fs::read(local.path())?, before);

    // Encrypted in place: the state, and its backup, hold no plaintext.
    assert_eq!(enc.encrypt_in_place()?, InPlace::Changed);
    for file in [local.path(), local.backup_path()] {
        let stored = std::fs::read_to_string(&file)?;
        assert!(stored.contains("\"cairn_encrypted\"") && !stored.contains("secret-queue"), "{}", file.display());
    }
    assert_eq!(store.load()?, st);
    assert_eq!(enc.encrypt_in_place()?, InPlace::Already);
    let wrong = encrypted("s1", Arc::new(local.clone()), &passphrase("battery staple"));
    assert!(matches!(wrong.encrypt_in_place(), Err(StateError::Decrypt { .. })), "already, but not with this key");

    // And back.
    assert_eq!(enc.decrypt_in_place()?, InPlace::Changed);
    assert_eq!(plain.load()?, st);
    assert_eq!(enc.decrypt_in_place()?, InPlace::Already);
    let empty = encrypted("s2", Arc::new(LocalDir::new(dir.path(), "s2")), &keys);
    assert_eq!((empty.encrypt_in_place()?, empty.decrypt_in_place()?), (InPlace::NoState, InPlace::NoState));

    // What is not a state is not encrypted as one.
    std::fs::write(local.path(), "{not json")?;
    assert!(matches!(enc.encrypt_in_place(), Err(StateError::Corrupt { .. })));
    assert_eq!(std::fs::read_to_string(local.path())?, "{not json");
    Ok(())
}

#[test]
fn an_encrypted_state_read_without_a_key_says_so() -> R {
    let memory = MemoryBackend::new("s1");
    let store = StateStore::with_backend("s1", encrypted("s1", memory.clone(), &passphrase("correct horse")));
    store.save(&mut secret_state(&store)?)?;
    let before = memory.document();
    match memory.reopen().store().load() {
        Err(e @ StateError::NoKey { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("state memory://s1.json is encrypted, and this run has no key"), "{text}");
        }
        other => panic!("expected a missing key, got {other:?}"),
    }
    // A document merely not a state is still corrupt.
    memory.write_behind(b"{\"version\": \"x\"}");
    assert!(matches!(memory.reopen().store().load(), Err(StateError::Corrupt { .. })));
    memory.write_behind(&before.unwrap_or_default());
    Ok(())
}

#[test]
fn envelopes_this_cairn_cannot_read_are_refused_by_what_is_wrong() -> R {
    let keys = passphrase("correct horse");
    let memory = MemoryBackend::new("s1");
    let backend = encrypted("s1", memory.clone(), &keys);
    backend.write(b"{}", None)?;
    let good: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    let cases: [(&str, Value, &str); 6] = [
        ("cairn_encrypted", json!(2), "envelope is version 2"),
        ("alg", json!("aes-256-gcm"), "encrypted with `aes-256-gcm`"),
        ("kdf", json!({"name": "kms", "key_id": "alias/k", "wrapped_key": "AAAA"}), "a key from `kms`"),
        ("kdf", json!({"name": "argon2id", "m_kib": 8, "t": 1, "p": 1}), "no base64 `salt`"),
        ("nonce", json!("AAAA"), "`nonce` is not valid"),
        ("ciphertext", json!("not base64!"), "`ciphertext` is not valid"),
    ];
    for (field, value, says) in cases {
        let mut doc = good.clone();
        doc[field] = value;
        memory.write_behind(&serde_json::to_vec(&doc)?);
        match backend.read() {
            Err(e @ (StateError::Decrypt { .. } | StateError::Corrupt { .. })) => {
                assert!(e.to_string().contains(says), "{field}: {e}");
            }
            other => panic!("{field}: expected a refusal, got {other:?}"),
        }
    }
    memory.write_behind(br#"{"cairn_encrypted": 1, "alg": "xchacha20poly1305"}"#);
    assert!(matches!(backend.read(), Err(StateError::Corrupt { .. })), "an envelope missing its fields");
    Ok(())
}

/// A source of keys other than a passphrase, as KMS will be: a header of
/// its own, and a key per key id.
#[derive(Debug)]
struct Wrapped {
    key_id: &'static str,
}

impl KeySource for Wrapped {
    fn new_key(&self, _location: &str) -> Result<(KeyHeader, DataKey), StateError> {
        let mut params = serde_json::Map::new();
        params.insert("key_id".into(), Value::from(self.key_id));
        params.insert("wrapped_key".into(), Value::from(format!("wrapped-by-{}", self.key_id)));
        Ok((KeyHeader { name: "test-kms".into(), params }, self.key(self.key_id)))
    }
    fn key_for(&self, header: &KeyHeader, location: &str) -> Result<DataKey, StateError> {
        let id = header.params.get("key_id").and_then(Value::as_str);
        match id {
            Some(id @ ("k1" | "k2")) => Ok(self.key(id)),
            _ => Err(StateError::Decrypt { location: location.into(), reason: format!("no key {id:?}") }),
        }
    }
    fn keeps(&self, header: &KeyHeader) -> bool {
        header.params.get("key_id").and_then(Value::as_str) == Some(self.key_id)
    }
    fn describe(&self) -> String {
        format!("test key {}", self.key_id)
    }
}

impl Wrapped {
    fn key(&self, id: &str) -> DataKey {
        DataKey::new([id.as_bytes()[1]; 32])
    }
}

#[test]
fn another_source_of_keys_fits_the_envelope() -> R {
    let memory = MemoryBackend::new("s1");
    let store = StateStore::with_backend(
        "s1",
        Arc::new(Encrypted::new("s1", memory.clone(), Arc::new(Wrapped { key_id: "k1" }))),
    );
    let mut st = secret_state(&store)?;
    store.save(&mut st)?;
    let doc: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    assert_eq!(doc["kdf"], json!({"name": "test-kms", "key_id": "k1", "wrapped_key": "wrapped-by-k1"}));

    // Moved to another key: read under the old one, written under the new.
    let store = StateStore::with_backend(
        "s1",
        Arc::new(Encrypted::new("s1", memory.reopen(), Arc::new(Wrapped { key_id: "k2" }))),
    );
    let mut again = store.load()?;
    assert_eq!(again, st);
    store.save(&mut again)?;
    let doc: Value = serde_json::from_slice(&memory.document().unwrap_or_default())?;
    assert_eq!(doc["kdf"]["key_id"], "k2");

    // A passphrase cannot read it, and says why.
    let by_passphrase = StateStore::with_backend("s1", encrypted("s1", memory.reopen(), &passphrase("pw")));
    match by_passphrase.load() {
        Err(e @ StateError::Decrypt { .. }) => {
            assert!(
                e.to_string().contains(&format!("a key from `test-kms`, and this run has the passphrase in ${ENV}")),
                "{e}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    Ok(())
}
