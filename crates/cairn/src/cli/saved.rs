//! The saved plan (`plan --out`, `apply --plan`): a contract that applies
//! exactly what it showed, or not at all.
//!
//! It holds everything the apply needs: the stack as written (its canonical
//! spec, before any glue), the parameter values given (a secret only as a
//! salted hash), the state serial (and lineage, when the state has one) it
//! was made against, the stack file's hash, the cairn version, the plan as
//! shown and the live values its updates start from. `apply --plan` checks
//! all of that before any AWS call and refuses, naming what changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cairn_engine::plan::{Plan, Step};
use cairn_engine::value::{Json, mask};
use cairn_engine::{StackSpec, State};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// What the `format` field of a saved plan says.
pub const FORMAT: &str = "cairn-saved-plan";
/// The version of that format; a different one is refused.
pub const FORMAT_VERSION: &str = "1";

/// A saved plan file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: String,
    /// The cairn that made it.
    pub cairn_version: String,
    pub stack: String,
    /// The stack file it was made from (none for a Rust stack program).
    pub stack_file: Option<StackFile>,
    /// The stack as written: what `apply --plan` validates and applies.
    pub spec: StackSpec,
    /// Where relative paths in props start (the stack file's directory).
    pub base_dir: Option<PathBuf>,
    /// The values given with -p or CAIRN_PARAM_<NAME>; declared
    /// parameters not given took their defaults, which the spec holds.
    pub parameters: BTreeMap<String, SavedParam>,
    /// The state it was made against.
    pub state: StateRef,
    /// The plan as shown (secrets masked).
    pub plan: Plan,
    /// For each resource the plan updates, its live props when planned
    /// (secrets masked): the update starts from them, as planned.
    #[serde(default)]
    pub live_props: BTreeMap<String, Json>,
}

/// The stack file a plan was made from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StackFile {
    pub path: PathBuf,
    pub sha256: String,
}

/// The state a plan was made against.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StateRef {
    /// Where the state was (its location: a file path for local state).
    pub path: String,
    pub serial: u64,
    /// The state's lineage id, when the state has one; `null` when it was
    /// made by a cairn whose state carries none (the serial still binds).
    pub lineage: Option<String>,
}

/// One given parameter: its value, or for a secret only a salted hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SavedParam {
    Secret { secret_sha256: String, salt: String },
    Value { value: String },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn secret_hash(salt: &str, value: &str) -> String {
    sha256(format!("{salt}\0{value}").as_bytes())
}

/// 16 random bytes as hex, from the OS; the time and pid if that fails.
fn salt() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)) {
        Ok(()) => hex(&buf),
        Err(_) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            sha256(format!("{}{}", now.as_nanos(), std::process::id()).as_bytes())[..32].to_string()
        }
    }
}

/// The lineage of a state that has been written. A state never written
/// (serial 0) is made anew, with a new lineage, each time it is loaded:
/// its lineage says nothing yet, and the serial check covers it.
fn lineage(state: &State) -> Option<String> {
    if state.serial == 0 { None } else { state.lineage.clone() }
}

/// What a saved plan is made from.
pub struct Making<'a> {
    pub spec: &'a StackSpec,
    pub file: Option<&'a Path>,
    pub given: &'a BTreeMap<String, String>,
    pub state: &'a State,
    /// Where the state is ([`cairn_engine::StateStore::location`]).
    pub state_location: String,
    /// The plan, unmasked, with its live views.
    pub plan: &'a Plan,
    pub secrets: &'a [String],
}

impl SavedPlan {
    pub fn new(m: &Making<'_>) -> Result<SavedPlan, String> {
        let stack_file = match m.file {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
                let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                Some(StackFile { path, sha256: sha256(&bytes) })
            }
            None => None,
        };
        let parameters = m
            .given
            .iter()
            .map(|(name, value)| {
                let secret = m.spec.parameters.get(name).is_some_and(|p| p.secret);
                let saved = if secret {
                    let salt = salt();
                    SavedParam::Secret { secret_sha256: secret_hash(&salt, value), salt }
                } else {
                    SavedParam::Value { value: value.clone() }
                };
                (name.clone(), saved)
            })
            .collect();
        let live_props = m
            .plan
            .resources
            .iter()
            .filter(|r| matches!(r.step, Step::Update { .. }))
            .filter_map(|r| Some((r.id.clone(), mask(&m.plan.live.get(&r.id)?.props, m.secrets))))
            .collect();
        let base_dir = m.spec.base_dir.as_ref().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()));
        Ok(SavedPlan {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION.into(),
            cairn_version: env!("CARGO_PKG_VERSION").into(),
            stack: m.spec.name.clone(),
            stack_file,
            spec: m.spec.clone(),
            base_dir,
            parameters,
            state: StateRef { path: m.state_location.clone(), serial: m.state.serial, lineage: lineage(m.state) },
            plan: m.plan.masked(m.secrets),
            live_props,
        })
    }

    /// Reads a saved plan; the message says why it is not one.
    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading plan {}: {e}", path.display()))?;
        let json: Json =
            serde_json::from_str(&text).map_err(|e| format!("{} is not a cairn plan: {e}", path.display()))?;
        if json.get("format").and_then(Json::as_str) != Some(FORMAT) {
            return Err(format!(
                "{} is not a saved cairn plan (no `\"format\": \"{FORMAT}\"`; plans saved by cairn before 0.1 are not self-contained)\n  = help: run `cairn plan STACK.yaml --out {}` again",
                path.display(),
                path.display()
            ));
        }
        let version = json.get("format_version").and_then(Json::as_str).unwrap_or_default();
        if version != FORMAT_VERSION {
            return Err(format!(
                "{} is a saved plan of format version {version}; this cairn reads version {FORMAT_VERSION}\n  = help: make the plan again with this cairn",
                path.display()
            ));
        }
        let mut saved: SavedPlan =
            serde_json::from_value(json).map_err(|e| format!("{} is not a cairn plan: {e}", path.display()))?;
        saved.spec.base_dir = saved.base_dir.clone();
        Ok(saved)
    }

    /// The stack file to check: the one given, else the recorded one if it
    /// is still there.
    pub fn check_stack_file(&self, given: Option<&Path>) -> Result<(), String> {
        let Some(recorded) = &self.stack_file else {
            return match given {
                Some(f) => Err(format!(
                    "the saved plan was made from a Rust stack program, not from {}\n  = help: run `cairn apply --plan` from that program",
                    f.display()
                )),
                None => Ok(()),
            };
        };
        let path = match given {
            Some(f) => f.to_path_buf(),
            None if recorded.path.exists() => recorded.path.clone(),
            None => return Ok(()),
        };
        let bytes = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        if sha256(&bytes) != recorded.sha256 {
            return Err(format!(
                "the stack file {} changed since the plan was saved (it was made from {}); the saved plan no longer shows what that file says\n  = help: run `cairn plan --out` again, or restore the file",
                path.display(),
                recorded.path.display()
            ));
        }
        Ok(())
    }

    /// For a Rust stack program: its stack must be the one saved.
    pub fn check_spec(&self, spec: &StackSpec) -> Result<(), String> {
        if serde_json::to_value(spec).ok() != serde_json::to_value(&self.spec).ok() {
            return Err(format!(
                "the stack `{}` this program defines changed since the plan was saved\n  = help: run `cairn plan --out` again",
                spec.name
            ));
        }
        Ok(())
    }

    /// The parameter values to validate the saved stack with: the saved
    /// ones, and each secret given again (-p or the environment, checked
    /// against its hash). A parameter given with -p must equal the saved
    /// value.
    pub fn parameters(
        &self,
        given: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, String>, String> {
        let given: BTreeMap<&str, &str> = given.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut errors = Vec::new();
        let mut values = BTreeMap::new();
        for (name, value) in &given {
            if !self.parameters.contains_key(*name) {
                let default = self.spec.parameters.get(*name).and_then(|p| p.default.as_ref());
                let was = default.map_or("no value".to_string(), |d| format!("its default ({d})"));
                errors.push(format!("parameter `{name}` is {value} now, but the saved plan was made with {was}"));
            }
        }
        for (name, saved) in &self.parameters {
            match saved {
                SavedParam::Value { value } => {
                    if let Some(now) = given.get(name.as_str())
                        && now != value
                    {
                        errors
                            .push(format!("parameter `{name}` is {now} now, but the saved plan was made with {value}"));
                    }
                    values.insert(name.clone(), value.clone());
                }
                SavedParam::Secret { secret_sha256, salt } => {
                    let var = format!("CAIRN_PARAM_{}", name.to_uppercase().replace('-', "_"));
                    let now = given.get(name.as_str()).map(|v| (*v).to_string()).or_else(|| env(&var));
                    match now {
                        None => errors.push(format!(
                            "parameter `{name}` is secret: the saved plan holds only its hash; give it again with -p {name}=… or {var}"
                        )),
                        Some(v) if secret_hash(salt, &v) != *secret_sha256 => errors.push(format!(
                            "secret parameter `{name}` differs from the value the plan was made with"
                        )),
                        Some(v) => {
                            values.insert(name.clone(), v);
                        }
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(format!(
                "{}\n  = help: apply the saved plan as it was made (no -p needed), or run `cairn plan --out` again with the new values",
                errors.join("\n  ")
            ))
        }
    }

    /// The state must be the one the plan was made against.
    pub fn check_state(&self, state: &State, location: &str) -> Result<(), String> {
        if state.stack != self.stack && !state.stack.is_empty() {
            return Err(format!("{location} holds stack {}, not {}", state.stack, self.stack));
        }
        let now = lineage(state);
        if let (Some(saved), Some(now)) = (&self.state.lineage, &now)
            && saved != now
        {
            return Err(format!(
                "the saved plan was made against state lineage {saved}, but {location} has lineage {now}: another state of stack {}\n  = help: apply it with the state it was made against (--state-dir), or plan again",
                self.stack
            ));
        }
        if self.state.serial != state.serial {
            return Err(format!(
                "the saved plan is stale: it was made against state serial {}, and state is now at {} ({location}); something was applied since\n  = help: run `cairn plan --out` again",
                self.state.serial, state.serial
            ));
        }
        Ok(())
    }

    /// The plan to apply: as saved, with the live props its updates start from.
    pub fn plan_for(&self, state: &State) -> Plan {
        let mut plan = self.plan.clone();
        for (id, props) in &self.live_props {
            if let Some(rs) = state.resources.get(id) {
                plan.live.insert(
                    id.clone(),
                    cairn_engine::kind::Observed {
                        physical_id: rs.physical_id.clone(),
                        props: props.clone(),
                        attrs: rs.attrs.clone(),
                    },
                );
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(params: BTreeMap<String, SavedParam>) -> SavedPlan {
        let spec = StackSpec { name: "s1".into(), ..StackSpec::default() };
        let state = State::new("s1");
        let plan = cairn_engine::plan::plan(
            &cairn_engine::kind::Registry::default(),
            None,
            "s1",
            &state,
            BTreeMap::new(),
            &cairn_engine::kind::Environment { account_id: "1".into(), region: "r".into(), partition: "aws".into() },
        );
        let given = BTreeMap::new();
        let mut s = SavedPlan::new(&Making {
            spec: &spec,
            file: None,
            given: &given,
            state: &state,
            state_location: "x".into(),
            plan: &plan,
            secrets: &[],
        })
        .unwrap_or_else(|e| panic!("{e}"));
        s.parameters = params;
        s
    }

    #[test]
    fn a_secret_is_bound_by_its_hash_and_never_written() {
        let salt = "abc".to_string();
        let p = BTreeMap::from([(
            "token".to_string(),
            SavedParam::Secret { secret_sha256: secret_hash(&salt, "hunter2"), salt },
        )]);
        let s = saved(p);
        let text = serde_json::to_string(&s).unwrap_or_default();
        assert!(!text.contains("hunter2"));
        let none = |_: &str| None;
        assert_eq!(
            s.parameters(&[("token".into(), "hunter2".into())], none).ok(),
            Some(BTreeMap::from([("token".into(), "hunter2".into())]))
        );
        assert!(s.parameters(&[("token".into(), "other".into())], none).is_err_and(|e| e.contains("differs")));
        assert!(s.parameters(&[], none).is_err_and(|e| e.contains("CAIRN_PARAM_TOKEN")));
        let env = |k: &str| (k == "CAIRN_PARAM_TOKEN").then(|| "hunter2".to_string());
        assert!(s.parameters(&[], env).is_ok());
    }

    #[test]
    fn a_given_parameter_must_match_the_saved_one() {
        let s = saved(BTreeMap::from([("email".to_string(), SavedParam::Value { value: "a@x".into() })]));
        let none = |_: &str| None;
        assert!(s.parameters(&[], none).is_ok_and(|p| p["email"] == "a@x"));
        assert!(s.parameters(&[("email".into(), "a@x".into())], none).is_ok());
        let e = s.parameters(&[("email".into(), "b@x".into())], none).err().unwrap_or_default();
        assert!(e.contains("parameter `email` is b@x now, but the saved plan was made with a@x"), "{e}");
    }
}
