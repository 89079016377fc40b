//! `cairn state list|show|rm|mv|pull|push|encrypt|decrypt|unlock`: inspect,
//! repair, move and encrypt a stack's state, touching no AWS resource; and
//! the state facts other commands show (the resources a plan found deleted
//! outside cairn).

use std::path::PathBuf;

use cairn_engine::diag::did_you_mean;
use cairn_engine::plan::Plan;
use cairn_engine::spec::valid_resource_id;
use cairn_engine::state::LockStatus;
use cairn_engine::state::encrypted::InPlace;
use cairn_engine::{State, StateStore};

use super::{App, Exit, pretty, state_error};

/// What `cairn state` does besides `unlock`.
#[derive(Clone, Debug)]
pub(super) enum Op {
    List,
    Show(String),
    Rm(String),
    Mv(String, String),
    Pull,
}

/// `state push --to` and `state pull --from`.
#[derive(Clone, Debug)]
pub(super) enum Move {
    Push { to: String, copy: bool },
    Pull { from: String, copy: bool },
}

impl App {
    /// Moves a stack's state between this command's place and another:
    /// both locked, the state written there (keeping its lineage, serial
    /// moved on) and read back, then removed from where it was unless
    /// `copy`.
    pub(super) fn cmd_state_move(&mut self, file: Option<PathBuf>, how: Move) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let name = loaded.spec.name.clone();
        let here = self.store(&loaded.spec);
        let (from, to, copy) = match &how {
            Move::Push { to, copy } => match self.store_at(to, &loaded.spec) {
                Ok(there) => (here, there, *copy),
                Err(e) => return e,
            },
            Move::Pull { from, copy } => match self.store_at(from, &loaded.spec) {
                Ok(there) => (there, here, *copy),
                Err(e) => return e,
            },
        };
        if from.location() == to.location() {
            eprintln!("error: the state of stack {name} is already at {}; nothing to move", to.location());
            return Exit::Invalid;
        }
        let verb = if matches!(how, Move::Push { .. }) { "state push" } else { "state pull" };
        let (_from_lock, mut state) = match self.lock_and_load(&from, verb) {
            Ok(x) => x,
            Err(e) => return e,
        };
        match from.exists() {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("error: there is no state of stack {name} at {}; nothing was moved", from.location());
                return Exit::State;
            }
            Err(e) => return state_error(&e),
        }
        let (_to_lock, there) = match self.lock_and_load(&to, verb) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let exists = match to.exists() {
            Ok(b) => b,
            Err(e) => return state_error(&e),
        };
        if exists {
            let lineage = |s: &State| s.lineage.clone().unwrap_or_else(|| "none recorded".into());
            if there.lineage != state.lineage {
                eprintln!(
                    "error: {} already holds a state of stack {name} of another lineage ({}, this one is {}): another \
                     deployment of the stack; nothing was moved\n  = help: if that state is no longer wanted, destroy \
                     its stack with it (or remove the object), then move this one",
                    to.location(),
                    lineage(&there),
                    lineage(&state)
                );
                return Exit::State;
            }
            // Same lineage, older serial: the destination is an earlier copy
            // of this state. Unless it knows resources this one does not
            // (an apply made there after a --copy): those would be dropped
            // from state and left in AWS with no state to find them.
            let known: std::collections::BTreeSet<&str> =
                state.resources.values().map(|r| r.physical_id.as_str()).collect();
            let only_there: Vec<String> = there
                .resources
                .iter()
                .filter(|(_, r)| !known.contains(r.physical_id.as_str()))
                .map(|(id, r)| format!("{id} ({})", r.physical_id))
                .collect();
            if !only_there.is_empty() && there.serial < state.serial {
                eprintln!(
                    "error: {} holds resources this state does not: {}; moving would drop them from state and \
                     leave them in AWS; nothing was moved\n  = help: the two copies went separate ways (applies at \
                     both places after a --copy); apply at {} to bring it up to date, then move that one",
                    to.location(),
                    only_there.join(", "),
                    to.location()
                );
                return Exit::State;
            }
            if there.serial >= state.serial {
                eprintln!(
                    "error: {} already holds this state at serial {} (this copy is at {}); nothing was moved\n  = help: \
                     use that one: it is as new as this, or newer",
                    to.location(),
                    there.serial,
                    state.serial
                );
                return Exit::State;
            }
        }
        if let Err(e) = to.save(&mut state) {
            return state_error(&e);
        }
        // Read back through a store of its own before the old copy goes.
        match StateStore::with_backend(&name, to.backend().clone()).load() {
            Ok(back) if back == state => {}
            Ok(_) => {
                eprintln!(
                    "error: {} did not read back as written; the state was left at {} too",
                    to.location(),
                    from.location()
                );
                return Exit::State;
            }
            Err(e) => return state_error(&e),
        }
        if !copy && let Err(e) = from.remove() {
            eprintln!(
                "warning: the state is at {} now, but removing it from {} failed: {e}",
                to.location(),
                from.location()
            );
            return Exit::State;
        }
        let what = format!(
            "{} resource(s), serial {}, lineage {}",
            state.resources.len(),
            state.serial,
            state.lineage.as_deref().unwrap_or("?")
        );
        if copy {
            self.say(&format!("Copied the state of stack {name} ({what}) from {} to {}; the old copy stays, and will not follow applies made at the new place.\n", from.location(), to.location()));
        } else {
            self.say(&format!(
                "Moved the state of stack {name} ({what}) from {} to {}.\n",
                from.location(),
                to.location()
            ));
        }
        let stack_names = loaded.spec.state.as_ref().and_then(|s| s.url.clone());
        match &how {
            Move::Push { to: place, .. } if place.starts_with("s3://") => self.say(&format!(
                "From now on run cairn with --state {place} (or CAIRN_STATE={place}, or `state: {place}` in the \
                 stack file) for this stack, from any directory.\n"
            )),
            Move::Push { to: place, .. } => {
                self.say(&format!("From now on run cairn with --state-dir {place} for this stack.\n"));
            }
            Move::Pull { .. } => {}
        }
        // The stack file still pointing where the state was would send the
        // next plain run to an empty place, which plans to create it all.
        if let Some(url) =
            stack_names.filter(|url| from.location().starts_with(&format!("{}/", url.trim_end_matches('/'))))
        {
            eprintln!(
                "warning: the stack file's `state:` still names {url}, where the state no longer is; change it \
                 to the new place, or every run without a flag looks there and finds nothing"
            );
        }
        Exit::Ok
    }

    /// `state encrypt` (`seal`) and `state decrypt`.
    pub(super) fn cmd_state_seal(&mut self, file: Option<PathBuf>, seal: bool) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let name = loaded.spec.name.clone();
        let Some(encryption) = self.encryption(&loaded.spec) else {
            eprintln!(
                "error: stack {name} has no state encryption set, so there is no key to {} with\n  = help: give \
                 --state-encryption passphrase_env=NAME (or kms_key=KEY), or set `state.encryption` in the stack",
                if seal { "encrypt" } else { "decrypt" }
            );
            return Exit::Invalid;
        };
        let store = self.store(&loaded.spec);
        let verb = if seal { "state encrypt" } else { "state decrypt" };
        let _lock = match self.lock_only(&store, verb) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let done = if seal { encryption.encrypt_in_place() } else { encryption.decrypt_in_place() };
        let location = store.location();
        match done {
            Ok(InPlace::NoState) => {
                eprintln!("error: there is no state of stack {name} at {location}; nothing to change");
                Exit::State
            }
            Ok(InPlace::Already) if seal => {
                self.say(&format!(
                    "The state of stack {name} at {location} is encrypted already (and opens with this key).\n"
                ));
                Exit::Ok
            }
            Ok(InPlace::Already) => {
                self.say(&format!("The state of stack {name} at {location} is not encrypted; nothing to change.\n"));
                Exit::Ok
            }
            Ok(InPlace::Changed) if seal => {
                self.say(&format!(
                    "Encrypted the state of stack {name} at {location}.{}\n",
                    if location.starts_with("s3://") {
                        " Earlier versions the bucket keeps are still in clear: delete them (aws s3api list-object-versions) if they must not be read."
                    } else {
                        ""
                    }
                ));
                Exit::Ok
            }
            Ok(InPlace::Changed) => {
                self.say(&format!(
                    "Decrypted the state of stack {name} at {location}; remove the state's encryption setting now, or the next run refuses it.\n"
                ));
                Exit::Ok
            }
            Err(e) => state_error(&e),
        }
    }

    pub(super) fn cmd_state(&mut self, file: Option<std::path::PathBuf>, op: Op) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let spec = loaded.spec;
        let store = self.store(&spec);
        match op {
            Op::List | Op::Show(_) | Op::Pull => {
                let state = match store.load() {
                    Ok(s) => s,
                    Err(e) => return state_error(&e),
                };
                match op {
                    Op::List => self.state_list(&state, &store),
                    Op::Show(id) => match known(&state, &id, &store) {
                        Ok(()) => {
                            println!("{}", pretty(&state.resources[&id]));
                            Exit::Ok
                        }
                        Err(e) => e,
                    },
                    _ => {
                        println!("{}", pretty(&state));
                        Exit::Ok
                    }
                }
            }
            Op::Rm(id) => {
                let (_lock, mut state) = match self.lock_and_load(&store, "state rm") {
                    Ok(x) => x,
                    Err(e) => return e,
                };
                if let Err(e) = known(&state, &id, &store) {
                    return e;
                }
                let Some(rs) = state.resources.remove(&id) else { return Exit::Invalid };
                state.intents.remove(&id);
                if let Err(e) = store.save(&mut state) {
                    return state_error(&e);
                }
                eprintln!(
                    "Forgot `{id}`: state no longer holds it, and it stays in AWS: {} {}.",
                    rs.kind, rs.physical_id
                );
                if spec.resource(&id).is_some() {
                    eprintln!(
                        "warning: the stack still has `{id}`: the next apply creates it, and takes this one back (it \
                         carries this state's tags); remove `{id}` from the stack to leave it to someone else"
                    );
                }
                Exit::Ok
            }
            Op::Mv(from, to) => {
                let (_lock, mut state) = match self.lock_and_load(&store, "state mv") {
                    Ok(x) => x,
                    Err(e) => return e,
                };
                if let Err(e) = known(&state, &from, &store) {
                    return e;
                }
                if !valid_resource_id(&to) {
                    eprintln!(
                        "error: invalid resource id `{to}`\n  = expected: a lower-case letter, then a-z, 0-9 or `-` (at most 64)"
                    );
                    return Exit::Invalid;
                }
                if state.resources.contains_key(&to) {
                    eprintln!(
                        "error: state already holds `{to}`; nothing was changed\n  = help: `cairn state rm {to}` first if state should forget it"
                    );
                    return Exit::Invalid;
                }
                state.rename(&from, &to);
                if let Err(e) = store.save(&mut state) {
                    return state_error(&e);
                }
                eprintln!("Moved `{from}` to `{to}` in state; AWS was not touched.");
                if spec.resource(&to).is_none() {
                    eprintln!(
                        "note: rename `{from}` to `{to}` in the stack too, or the next plan deletes it (a `moved:` entry in the stack does both in one apply)"
                    );
                }
                Exit::Ok
            }
        }
    }

    pub(super) fn cmd_state_unlock(&mut self, file: Option<PathBuf>, lock_id: Option<String>) -> Exit {
        let loaded = match self.load(file) {
            Ok(l) => l,
            Err(e) => return e,
        };
        let name = loaded.spec.name.clone();
        let store = self.store(&loaded.spec);
        let status = match lock_id.as_deref().map_or_else(|| store.unlock(), |id| store.unlock_id(id)) {
            Ok(s) => s,
            Err(e) => return state_error(&e),
        };
        let (holder, advice, stale) = match &status {
            LockStatus::Held { holder, advice } => (Some(holder.as_str()), advice.as_str(), None),
            LockStatus::Free { stale } => (None, "", stale.as_deref()),
        };
        // Interrupted creates, for a lock left by a killed run; state that
        // cannot be read is reported but does not change the answer.
        let intents: Vec<String> = match store.load() {
            Ok(state) => state.intents.into_keys().collect(),
            Err(e) => {
                eprintln!("warning: {e}");
                Vec::new()
            }
        };
        if self.g.json {
            println!(
                "{}",
                pretty(&serde_json::json!({
                    "stack": name, "locked": holder.is_some(), "holder": holder, "stale": stale,
                    "cleared": stale.is_some(), "interrupted_creates": intents,
                }))
            );
        }
        if let Some(holder) = holder {
            let named = if lock_id.is_some() { "; the --lock-id given is not its id" } else { "" };
            eprintln!(
                "error: stack `{name}` is locked by a running cairn: {holder}{named}\n  = help: nothing was changed; {advice}"
            );
            return Exit::State;
        }
        match (stale, &lock_id) {
            (Some(holder), Some(id)) => self.say(&format!(
                "Removed the lock of stack {name} ({}), lock id {id}: it was held by {holder}.\n",
                store.location()
            )),
            (Some(note), None) => self.say(&format!(
                "Stack {name} is not locked. The lock file still named a run that did not end normally (killed or crashed): {note}. Cleared that note.\n"
            )),
            (None, _) => self.say(&format!("Stack {name} is not locked; there was nothing to clear.\n")),
        }
        if !intents.is_empty() {
            self.say(&format!(
                "State records {} create(s) that did not finish: {}; `cairn apply` adopts what they made.\n",
                intents.len(),
                intents.join(", ")
            ));
        }
        Exit::Ok
    }

    fn state_list(&self, state: &State, store: &StateStore) -> Exit {
        if self.g.json {
            let list: Vec<serde_json::Value> = state
                .resources
                .iter()
                .map(|(id, r)| serde_json::json!({"id": id, "kind": r.kind, "physical_id": r.physical_id}))
                .collect();
            println!("{}", pretty(&list));
            return Exit::Ok;
        }
        if state.resources.is_empty() {
            eprintln!("{} holds no resources.", store.location());
        }
        let width = state.resources.keys().map(String::len).max().unwrap_or(0);
        let kinds = state.resources.values().map(|r| r.kind.len()).max().unwrap_or(0);
        for (id, r) in &state.resources {
            println!("{id:width$}  {:kinds$}  {}", r.kind, r.physical_id);
        }
        Exit::Ok
    }
}

/// `Ok` when state holds `id`; else the error, with a near id.
fn known(state: &State, id: &str, store: &StateStore) -> Result<(), Exit> {
    if state.resources.contains_key(id) {
        return Ok(());
    }
    let hint = did_you_mean(id, state.resources.keys().map(String::as_str))
        .map(|c| format!("\n  = help: did you mean `{c}`?"))
        .unwrap_or_default();
    eprintln!("error: `{id}` is not in the state ({}){hint}", store.location());
    Err(Exit::Invalid)
}

/// Records in state the resources the plan found deleted outside cairn, so
/// that `status` stops showing them (and outputs made from them) as live.
/// A refresh fact, not a change: the serial stays.
pub(super) fn note_vanished(store: &StateStore, state: &mut State, plan: &Plan) {
    let mut changed = false;
    for r in &plan.resources {
        if let Some(rs) = state.resources.get_mut(&r.id)
            && r.vanished()
            && !rs.vanished
        {
            rs.vanished = true;
            changed = true;
        }
    }
    if changed && let Err(e) = store.save_refreshed(state) {
        eprintln!("warning: {e}");
    }
}

/// Why an output is stale: the first vanished resource it refers to.
pub(super) fn stale_because(value: &serde_json::Value, state: &State) -> Option<String> {
    cairn_engine::value::refs_in(value).into_iter().find_map(|(_, r)| match r.ok()?.target {
        cairn_engine::RefTarget::Resource { id, .. } if state.resources.get(&id).is_some_and(|r| r.vanished) => {
            Some(id)
        }
        _ => None,
    })
}
