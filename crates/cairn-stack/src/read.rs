//! The stack envelope: from a located YAML tree to a [`StackSpec`], with
//! every problem of the envelope collected as a located diagnostic.
//!
//! Only the envelope is checked here (keys, types, duplicates). Kinds,
//! references, property contents and names are the engine's validate pass.

use std::collections::BTreeMap;

use cairn_engine::diag::did_you_mean;
use cairn_engine::spec::{Moved, ParamType, StateEncryption, StateSpec};
use cairn_engine::{At, Diagnostic, Diagnostics, Json, ParamSpec, PathSeg, ResourceOptions, ResourceSpec, StackSpec};

use crate::source::{Index, ResourceIndex, spot};
use crate::tree::{Node, Pos, Value};

const STACK_KEYS: &[&str] = &["stack", "region", "ttl", "state", "parameters", "tags", "resources", "outputs", "moved"];
const STATE_KEYS: &[&str] = &["url", "kms_key", "encryption"];
const ENCRYPTION_KEYS: &[&str] = &["passphrase_env", "kms_key"];
const MOVED_KEYS: &[&str] = &["from", "to"];
const PARAM_KEYS: &[&str] = &["description", "default", "secret", "type", "min", "max"];
const RESOURCE_KEYS: &[&str] = &["type", "properties", "depends_on", "retain", "protect", "auto_wire"];

/// Reads the envelope, collecting diagnostics and positions.
#[derive(Default)]
pub(crate) struct Reader {
    pub diags: Diagnostics,
    pub index: Index,
}

/// A map entry with a string key.
struct Entry {
    key: String,
    pos: Pos,
    value: Node,
}

fn key_at(key: &str) -> At {
    At::StackKey { key: key.to_string() }
}

fn one_of(keys: &[&str]) -> String {
    let quoted: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
    format!("one of {}", quoted.join(", "))
}

impl Reader {
    /// Records a diagnostic found at `pos` (see [`crate::Source`] on pins).
    pub fn report(&mut self, pos: Pos, d: Diagnostic) {
        self.index.pin(&d.at, pos);
        self.diags.push(d);
    }

    /// Reads a whole document; `None` for an empty one.
    pub fn stack(&mut self, root: Option<Node>) -> StackSpec {
        let mut spec = StackSpec::default();
        let Some(root) = root else {
            self.report(
                Pos::UNKNOWN,
                Diagnostic::error(At::Stack, "the stack file is empty")
                    .expected("a mapping with at least `stack:` and `resources:`"),
            );
            return spec;
        };
        self.index.root = root.pos;
        let entries = match root.value {
            Value::Map(entries) => entries,
            other => {
                self.report(
                    root.pos,
                    Diagnostic::error(At::Stack, format!("a stack file must be a mapping, found {}", other.describe()))
                        .expected("a mapping with at least `stack:` and `resources:`"),
                );
                return spec;
            }
        };
        let mut name = None;
        for Entry { key, pos, value } in self.entries(entries, &At::Stack, &|_| At::Stack, "top-level key") {
            self.index.stack_keys.push((key.clone(), pos));
            let at = key_at(&key);
            match key.as_str() {
                "stack" => {
                    name =
                        self.string(pos, value, &at, "`stack`", "the stack name as a string, like lab1-notifications");
                }
                "region" => {
                    spec.region =
                        self.opt_string(pos, value, &at, "`region`", "an AWS region as a string, like us-east-1");
                }
                "ttl" => {
                    spec.ttl = self.opt_string(pos, value, &at, "`ttl`", "a duration as a string, like 4h or 2d");
                }
                "parameters" => spec.parameters = self.parameters(pos, value),
                "tags" => spec.tags = self.tags(pos, value),
                "resources" => spec.resources = self.resources(pos, value),
                "outputs" => spec.outputs = self.outputs(pos, value),
                "moved" => spec.moved = self.moved(pos, value),
                "state" => spec.state = self.state(pos, value),
                _ => self.unknown_key(pos, at, &key, "", STACK_KEYS),
            }
        }
        match name {
            Some(name) => spec.name = name,
            None if !self.index.stack_keys.iter().any(|(k, _)| k == "stack") => self.report(
                root.pos,
                Diagnostic::error(key_at("stack"), "missing required key `stack`")
                    .expected("`stack: <name>` at the top level: [a-z0-9-], 1 to 40 characters"),
            ),
            None => {}
        }
        spec
    }

    /// The entries of a mapping whose keys are strings, first occurrence of
    /// each; reports other keys (at `container`) and duplicates (at
    /// `dup_at(key)`). Duplicates of names the stack defines (resource ids,
    /// parameters, outputs) are reported at their container, so that their
    /// pin does not move the other diagnostics of the first definition.
    fn entries(
        &mut self,
        entries: Vec<(Node, Node)>,
        container: &At,
        dup_at: &dyn Fn(&str) -> At,
        what: &str,
    ) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let Value::Str(name) = key.value else {
                self.non_string_key(key.pos, container.clone(), &key.value, what);
                continue;
            };
            if let Some(first) = out.iter().find(|e| e.key == name) {
                let message = format!("duplicate {what} `{name}`, first written at line {}", first.pos.line);
                self.report(key.pos, Diagnostic::error(dup_at(&name), message).expected(format!("each {what} once")));
                continue;
            }
            out.push(Entry { key: name, pos: key.pos, value });
        }
        out
    }

    fn non_string_key(&mut self, pos: Pos, at: At, key: &Value, what: &str) {
        let d = match key.scalar_text() {
            Some(text) => Diagnostic::error(at, format!("{what} `{text}` is not a string"))
                .expected(format!("a string; quote it: \"{text}\"")),
            None => Diagnostic::error(at, format!("{what} is {}, not a string", key.describe())).expected("a string"),
        };
        self.report(pos, d);
    }

    fn unknown_key(&mut self, pos: Pos, at: At, key: &str, place: &str, known: &[&str]) {
        let suggestion = did_you_mean(key, known.iter().copied()).map(|k| format!("did you mean `{k}`?"));
        self.report(
            pos,
            Diagnostic::error(at, format!("unknown key `{key}`{place}")).expected(one_of(known)).suggest(suggestion),
        );
    }

    fn wrong_type(&mut self, key_pos: Pos, value: &Node, at: &At, what: &str, must_be: &str, expected: &str) {
        let message = format!("{what} must be {must_be}, found {}", value.value.describe());
        let suggestion = match &value.value {
            Value::Str(s) if must_be == "true or false" => {
                yaml11_bool(s).map(|b| format!("YAML 1.2 booleans are `true` and `false`: write `{b}`"))
            }
            Value::Seq(_) | Value::Map(_) | Value::Null => None,
            other if must_be == "a string" => other.scalar_text().map(|t| format!("quote it: \"{t}\"")),
            _ => None,
        };
        self.report(
            spot(key_pos, value),
            Diagnostic::error(at.clone(), message).expected(expected).suggest(suggestion),
        );
    }

    fn string(&mut self, key_pos: Pos, value: Node, at: &At, what: &str, expected: &str) -> Option<String> {
        match value.value {
            Value::Str(s) => Some(s),
            _ => {
                self.wrong_type(key_pos, &value, at, what, "a string", expected);
                None
            }
        }
    }

    /// A string that may be left empty (null).
    fn opt_string(&mut self, key_pos: Pos, value: Node, at: &At, what: &str, expected: &str) -> Option<String> {
        if value.value == Value::Null { None } else { self.string(key_pos, value, at, what, expected) }
    }

    /// A boolean; null means the default.
    fn flag(&mut self, key_pos: Pos, value: &Node, at: &At, what: &str) -> Option<bool> {
        match value.value {
            Value::Bool(b) => Some(b),
            Value::Null => None,
            _ => {
                self.wrong_type(key_pos, value, at, what, "true or false", "true or false");
                None
            }
        }
    }

    /// A number; null means none.
    fn number(&mut self, key_pos: Pos, value: &Node, at: &At, what: &str) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        match value.value {
            Value::Int(n) => Some(n as f64),
            Value::UInt(n) => Some(n as f64),
            Value::Float(n) => Some(n),
            Value::Null => None,
            _ => {
                self.wrong_type(key_pos, value, at, what, "a number", "a number");
                None
            }
        }
    }

    /// A mapping's entries; null is an empty mapping.
    fn mapping(&mut self, key_pos: Pos, value: Node, at: &At, what: &str, expected: &str) -> Option<Vec<(Node, Node)>> {
        match value.value {
            Value::Map(entries) => Some(entries),
            Value::Null => Some(Vec::new()),
            _ => {
                self.wrong_type(key_pos, &value, at, what, "a mapping", expected);
                None
            }
        }
    }

    /// `state: s3://BUCKET/PREFIX`, or a mapping with `url`, `kms_key` and
    /// `encryption`. The URL itself is checked by validate (a Rust stack
    /// sets it too).
    fn state(&mut self, key_pos: Pos, value: Node) -> Option<StateSpec> {
        let at = key_at("state");
        let expected = "s3://BUCKET/PREFIX, or a mapping with `url`, `kms_key` and `encryption`";
        let entries = match value.value {
            Value::Null => return None,
            Value::Str(url) => return Some(StateSpec { url: Some(url), ..StateSpec::default() }),
            Value::Map(entries) => entries,
            _ => {
                self.wrong_type(key_pos, &value, &at, "`state`", "a string or a mapping", expected);
                return None;
            }
        };
        let mut spec = StateSpec::default();
        for Entry { key, pos, value } in self.entries(entries, &at, &|_| key_at("state"), "key") {
            match key.as_str() {
                "url" => spec.url = self.opt_string(pos, value, &at, "`url` of `state`", "s3://BUCKET/PREFIX"),
                "kms_key" => {
                    let expected = "a KMS key's ARN, id or alias, like alias/cairn-state";
                    spec.kms_key = self.opt_string(pos, value, &at, "`kms_key` of `state`", expected);
                }
                "encryption" => spec.encryption = self.state_encryption(pos, value),
                _ => self.unknown_key(pos, at.clone(), &key, " in `state`", STATE_KEYS),
            }
        }
        Some(spec)
    }

    /// `encryption: {passphrase_env: NAME}` or `{kms_key: KEY}`: exactly one.
    fn state_encryption(&mut self, key_pos: Pos, value: Node) -> Option<StateEncryption> {
        let at = key_at("state");
        let expected = "`passphrase_env: NAME` (an environment variable holding the passphrase) or `kms_key: KEY`";
        let fields = self.mapping(key_pos, value, &at, "`encryption` of `state`", expected)?;
        let mut found = Vec::new();
        for Entry { key, pos, value } in self.entries(fields, &at, &|_| key_at("state"), "key") {
            let what = format!("`{key}` of `state.encryption`");
            match key.as_str() {
                "passphrase_env" => {
                    let v = self.string(pos, value, &at, &what, "an environment variable's name");
                    found.extend(v.map(|v| (pos, StateEncryption::PassphraseEnv(v))));
                }
                "kms_key" => {
                    let v = self.string(pos, value, &at, &what, "a KMS key's ARN, id or alias");
                    found.extend(v.map(|v| (pos, StateEncryption::KmsKey(v))));
                }
                _ => self.unknown_key(pos, at.clone(), &key, " in `state.encryption`", ENCRYPTION_KEYS),
            }
        }
        match found.len() {
            0 => {
                self.report(key_pos, Diagnostic::error(at, "`state.encryption` names no key").expected(expected));
                None
            }
            1 => found.pop().map(|(_, e)| e),
            _ => {
                self.report(
                    found[1].0,
                    Diagnostic::error(at, "`state.encryption` names two keys; it takes one").expected(expected),
                );
                None
            }
        }
    }

    fn parameters(&mut self, key_pos: Pos, value: Node) -> BTreeMap<String, ParamSpec> {
        let at = key_at("parameters");
        let expected = "a mapping from parameter name to its declaration";
        let Some(entries) = self.mapping(key_pos, value, &at, "`parameters`", expected) else { return BTreeMap::new() };
        let mut params = BTreeMap::new();
        for Entry { key: name, pos, value } in self.entries(entries, &at, &|_| key_at("parameters"), "parameter") {
            self.index.params.push((name.clone(), pos));
            let at = At::Param { name: name.clone() };
            let what = format!("parameter `{name}`");
            let expected = "a mapping with `description`, `default`, `secret`, `type`, `min` and `max`, all optional";
            let Some(fields) = self.mapping(pos, value, &at, &what, expected) else { continue };
            let mut param = ParamSpec::default();
            for Entry { key, pos: field_pos, value } in self.entries(fields, &at, &|_| at.clone(), "key") {
                match key.as_str() {
                    "description" => {
                        param.description = self.opt_string(
                            field_pos,
                            value,
                            &at,
                            &format!("`description` of {what}"),
                            "a string that says what the parameter is for",
                        );
                    }
                    // An empty `default:` declares no default.
                    "default" if value.value == Value::Null => {}
                    "default" => param.default = Some(self.json(&value, &|_| at.clone(), &mut Vec::new())),
                    "secret" => {
                        param.secret =
                            self.flag(field_pos, &value, &at, &format!("`secret` of {what}")).unwrap_or(false);
                    }
                    "type" => {
                        let expected = "one of string, number, integer, boolean";
                        let name = self.string(field_pos, value, &at, &format!("`type` of {what}"), expected);
                        param.value_type = name.as_deref().and_then(ParamType::parse);
                        if let Some(name) = name.filter(|_| param.value_type.is_none()) {
                            let s = did_you_mean(&name, ParamType::NAMES.iter().copied())
                                .map(|c| format!("did you mean `{c}`?"));
                            self.report(
                                field_pos,
                                Diagnostic::error(at.clone(), format!("unknown parameter type `{name}`"))
                                    .expected(expected)
                                    .suggest(s),
                            );
                        }
                    }
                    "min" | "max" => {
                        let n = self.number(field_pos, &value, &at, &format!("`{key}` of {what}"));
                        if key == "min" { param.min = n } else { param.max = n }
                    }
                    _ => self.unknown_key(field_pos, at.clone(), &key, &format!(" in {what}"), PARAM_KEYS),
                }
            }
            params.insert(name, param);
        }
        params
    }

    fn tags(&mut self, key_pos: Pos, value: Node) -> BTreeMap<String, String> {
        let at = key_at("tags");
        let Some(entries) = self.mapping(key_pos, value, &at, "`tags`", "a mapping from tag key to string value")
        else {
            return BTreeMap::new();
        };
        let mut tags = BTreeMap::new();
        for Entry { key, pos, value } in self.entries(entries, &at, &|_| key_at("tags"), "tag") {
            self.index.tags.push((key.clone(), pos));
            if let Some(v) =
                self.string(pos, value, &at, &format!("tag `{key}`"), "a string; quote numbers and booleans")
            {
                tags.insert(key, v);
            }
        }
        tags
    }

    fn outputs(&mut self, key_pos: Pos, value: Node) -> Vec<(String, Json)> {
        let at = key_at("outputs");
        let Some(entries) = self.mapping(key_pos, value, &at, "`outputs`", "a mapping from output name to value")
        else {
            return Vec::new();
        };
        let mut outputs = Vec::new();
        for Entry { key: name, pos, value } in self.entries(entries, &at, &|_| key_at("outputs"), "output") {
            self.index.outputs.push((name.clone(), pos));
            let at = At::Output { name: name.clone() };
            let json = self.json(&value, &|_| at.clone(), &mut Vec::new());
            outputs.push((name, json));
        }
        outputs
    }

    /// `moved:`, a list of `{from: old-id, to: new-id}`.
    fn moved(&mut self, key_pos: Pos, value: Node) -> Vec<Moved> {
        let at = key_at("moved");
        let expected = "a list of `- from: <old id>` / `to: <new id>` entries";
        let items = match value.value {
            Value::Seq(items) => items,
            Value::Null => Vec::new(),
            _ => {
                self.wrong_type(key_pos, &value, &at, "`moved`", "a list", expected);
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            let entry_at = At::Moved { index, key: "from".into() };
            let what = format!("moved entry {}", index + 1);
            let pos = item.pos;
            self.index.moved.push((pos, Vec::new()));
            let Some(fields) = self.mapping(pos, item, &entry_at, &what, "a mapping with `from` and `to`") else {
                continue;
            };
            let (mut from, mut to) = (None, None);
            for Entry { key, pos: field_pos, value } in self.entries(fields, &entry_at, &|_| entry_at.clone(), "key") {
                let key_at = At::Moved { index, key: key.clone() };
                let id_expected = "a resource id as a string";
                match key.as_str() {
                    "from" | "to" => {
                        if let Some(m) = self.index.moved.last_mut() {
                            m.1.push((key.clone(), spot(field_pos, &value)));
                        }
                        let v = self.string(field_pos, value, &key_at, &format!("`{key}` of {what}"), id_expected);
                        if key == "from" { from = v } else { to = v }
                    }
                    _ => self.unknown_key(field_pos, entry_at.clone(), &key, &format!(" in {what}"), MOVED_KEYS),
                }
            }
            match (from, to) {
                (Some(from), Some(to)) => out.push(Moved { from, to }),
                (from, _) => {
                    let missing = if from.is_none() { "from" } else { "to" };
                    if self.diags.0.iter().all(|d| d.at != At::Moved { index, key: missing.into() }) {
                        self.report(
                            pos,
                            Diagnostic::error(
                                At::Moved { index, key: missing.into() },
                                format!("{what} has no `{missing}`"),
                            )
                            .expected("`from: <the id state knows>` and `to: <its id in the stack now>`"),
                        );
                    }
                }
            }
        }
        out
    }

    fn resources(&mut self, key_pos: Pos, value: Node) -> Vec<ResourceSpec> {
        let at = key_at("resources");
        let Some(entries) = self.mapping(key_pos, value, &at, "`resources`", "a mapping from resource id to its entry")
        else {
            return Vec::new();
        };
        let mut resources = Vec::new();
        for Entry { key: id, pos, value } in self.entries(entries, &at, &|_| key_at("resources"), "resource id") {
            let mut index = ResourceIndex { id: id.clone(), pos, keys: Vec::new(), props: None };
            if let Some(resource) = self.resource(&mut index, value) {
                resources.push(resource);
            }
            self.index.resources.push(index);
        }
        resources
    }

    fn resource(&mut self, index: &mut ResourceIndex, entry: Node) -> Option<ResourceSpec> {
        let id = index.id.clone();
        let at = At::Resource { id: id.clone() };
        let expected =
            "a mapping with `type`, `properties` and optionally `depends_on`, `retain`, `protect`, `auto_wire`";
        let entries = match entry.value {
            Value::Map(entries) => entries,
            ref other => {
                let message = match other {
                    Value::Null => format!("resource `{id}` is empty"),
                    _ => format!("resource `{id}` must be a mapping, found {}", other.describe()),
                };
                self.report(spot(index.pos, &entry), Diagnostic::error(at, message).expected(expected));
                return None;
            }
        };
        let key_of = |key: &str| At::ResourceKey { id: id.clone(), key: key.to_string() };
        let mut kind = None;
        let mut props = Json::Object(serde_json::Map::new());
        let mut depends_on = Vec::new();
        let mut options = ResourceOptions::default();
        for Entry { key, pos, value } in self.entries(entries, &at, &key_of, "key") {
            index.keys.push((key.clone(), pos));
            let at = key_of(&key);
            let what = format!("`{key}` of resource `{id}`");
            match key.as_str() {
                "type" => kind = self.string(pos, value, &at, &what, "a resource type as a string, like aws:sns:Topic"),
                "properties" => {
                    if !index.keys.iter().any(|(k, _)| k == "type") {
                        self.report(
                            pos,
                            Diagnostic::error(
                                at.clone(),
                                format!("`properties` comes before `type` in resource `{id}`"),
                            )
                            .expected("`type` first, then `properties`: the type decides how properties are read")
                            .suggest(Some("move the `type:` line above `properties:`".into())),
                        );
                    }
                    match &value.value {
                        Value::Map(_) => {
                            props = self.json(
                                &value,
                                &|path| At::Prop { id: id.clone(), path: path.to_vec() },
                                &mut Vec::new(),
                            );
                        }
                        Value::Null => {}
                        _ => {
                            self.wrong_type(pos, &value, &at, &what, "a mapping", "a mapping of the type's properties");
                        }
                    }
                    index.props = Some((pos, value));
                }
                "depends_on" => depends_on = self.depends_on(pos, &value, &at, &what),
                "retain" => options.retain = self.flag(pos, &value, &at, &what).unwrap_or(options.retain),
                "protect" => options.protect = self.flag(pos, &value, &at, &what).unwrap_or(options.protect),
                "auto_wire" => options.auto_wire = self.flag(pos, &value, &at, &what).unwrap_or(options.auto_wire),
                _ => self.unknown_key(pos, at, &key, &format!(" in resource `{id}`"), RESOURCE_KEYS),
            }
        }
        if !index.keys.iter().any(|(k, _)| k == "type") {
            self.report(
                index.pos,
                Diagnostic::error(At::Resource { id: id.clone() }, format!("resource `{id}` has no `type`"))
                    .expected("`type: aws:<service>:<Kind>`, like aws:sns:Topic"),
            );
        }
        Some(ResourceSpec {
            id: id.clone(),
            kind: kind?,
            props,
            depends_on,
            options,
            derived: false,
            derived_props: Default::default(),
        })
    }

    fn depends_on(&mut self, key_pos: Pos, value: &Node, at: &At, what: &str) -> Vec<String> {
        let expected = "a list of resource ids, like [alerts, queue]";
        match &value.value {
            Value::Null => Vec::new(),
            Value::Seq(items) => {
                let mut ids = Vec::new();
                for item in items {
                    match &item.value {
                        Value::Str(s) => ids.push(s.clone()),
                        other => self.report(
                            item.pos,
                            Diagnostic::error(
                                at.clone(),
                                format!("{what} lists {}, not a resource id", other.describe()),
                            )
                            .expected(expected),
                        ),
                    }
                }
                ids
            }
            Value::Str(s) => {
                let message = format!("{what} must be a list of resource ids, found a string");
                let help = format!("write `depends_on: [{s}]`");
                self.report(
                    spot(key_pos, value),
                    Diagnostic::error(at.clone(), message).expected(expected).suggest(Some(help)),
                );
                Vec::new()
            }
            _ => {
                self.wrong_type(key_pos, value, at, what, "a list of resource ids", expected);
                Vec::new()
            }
        }
    }

    /// Converts a value to JSON: integers stay integers, keys must be
    /// strings, duplicate keys are errors (the first is kept).
    fn json(&mut self, node: &Node, at: &dyn Fn(&[PathSeg]) -> At, path: &mut Vec<PathSeg>) -> Json {
        match &node.value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => Json::from(*i),
            Value::UInt(u) => Json::from(*u),
            Value::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => Json::Number(n),
                None => {
                    let d = Diagnostic::error(at(path), format!("`{f}` is not a finite number"))
                        .expected("a finite number; quote it for a string");
                    self.report(node.pos, d);
                    Json::Null
                }
            },
            Value::Str(s) => Json::String(s.clone()),
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    out.push(self.json(item, at, path));
                    path.pop();
                }
                Json::Array(out)
            }
            Value::Map(entries) => {
                let mut map = serde_json::Map::new();
                for (key, value) in entries {
                    let Value::Str(name) = &key.value else {
                        self.non_string_key(key.pos, at(path), &key.value, "key");
                        continue;
                    };
                    path.push(PathSeg::Key(name.clone()));
                    if map.contains_key(name) {
                        let first = entries.iter().find(|(k, _)| k.value == key.value).map_or(0, |(k, _)| k.pos.line);
                        let d = Diagnostic::error(
                            at(path),
                            format!("duplicate key `{name}`, first written at line {first}"),
                        )
                        .expected("each key once");
                        self.report(key.pos, d);
                    } else {
                        let json = self.json(value, at, path);
                        map.insert(name.clone(), json);
                    }
                    path.pop();
                }
                Json::Object(map)
            }
        }
    }
}

/// The YAML 1.1 spellings of booleans that YAML 1.2 reads as strings.
fn yaml11_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "on" | "true" => Some(true),
        "no" | "n" | "off" | "false" => Some(false),
        _ => None,
    }
}
