//! Offline validation: everything that can be checked without AWS, all
//! problems collected and reported together.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{At, Diagnostic, Diagnostics, PathSeg, did_you_mean, path_string};
use crate::graph::Graph;
use crate::kind::{NameCtx, PropError, Registry};
use crate::spec::{ParamSpec, ParamType, StackSpec, valid_resource_id, valid_stack_name};
use crate::value::{Json, RefTarget, Resolver, refs_in, substitute};

/// A stack that passed validation, ready to plan.
#[derive(Clone, Debug)]
pub struct Validated {
    pub spec: StackSpec,
    /// Each resource's props in the kind's canonical form, parameters
    /// substituted; resource and pseudo references still unresolved.
    pub props: BTreeMap<String, Json>,
    pub params: BTreeMap<String, Json>,
    pub graph: Graph,
    /// Dependencies first.
    pub order: Vec<String>,
}

impl Validated {
    /// The values of parameters marked `secret`, to mask wherever values show.
    pub fn secrets(&self) -> Vec<String> {
        self.spec
            .parameters
            .iter()
            .filter(|(_, p)| p.secret)
            .filter_map(|(name, _)| self.params.get(name))
            .map(|v| match v {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }
}

/// Parameter values as given on the command line or in the environment.
pub type ParamValues = BTreeMap<String, String>;

/// Reads `CAIRN_PARAM_<NAME>` variables for the declared parameters; values
/// given explicitly win.
pub fn params_from_env(spec: &StackSpec, given: &ParamValues, env: impl Fn(&str) -> Option<String>) -> ParamValues {
    let mut out = given.clone();
    for name in spec.parameters.keys() {
        if out.contains_key(name) {
            continue;
        }
        let var = format!("CAIRN_PARAM_{}", name.to_uppercase().replace('-', "_"));
        if let Some(v) = env(&var) {
            out.insert(name.clone(), v);
        }
    }
    out
}

struct Params<'a>(&'a BTreeMap<String, Json>, &'a str);

impl Resolver for Params<'_> {
    fn lookup(&self, target: &RefTarget) -> Option<Json> {
        match target {
            RefTarget::Param { name } => self.0.get(name).cloned(),
            RefTarget::Pseudo { name } if name == "stack.name" => Some(Json::String(self.1.to_string())),
            // Known only when planning.
            _ => None,
        }
    }
}

/// Turns a given text into a parameter value of the declared type, or of
/// the default's: a list or number default makes the text read as JSON (or
/// a comma list).
fn param_value(text: &str, param: &ParamSpec) -> Json {
    match (param.value_type, &param.default) {
        (Some(ParamType::String), _) => Json::String(text.to_string()),
        (Some(_), _) | (None, Some(Json::Number(_) | Json::Bool(_))) => {
            serde_json::from_str(text.trim()).unwrap_or_else(|_| Json::String(text.to_string()))
        }
        (None, Some(Json::Array(_))) => serde_json::from_str::<Json>(text)
            .ok()
            .filter(Json::is_array)
            .unwrap_or_else(|| Json::Array(text.split(',').map(|s| Json::String(s.trim().to_string())).collect())),
        _ => Json::String(text.to_string()),
    }
}

/// A value of the parameter's type and in its range, standing in for a bad
/// one while the rest of the stack is checked: the default when it passes,
/// else the least value allowed.
fn stand_in(param: &ParamSpec) -> Json {
    if let Some(d) = &param.default
        && param.value_type.is_none_or(|t| t.admits(d))
        && d.as_f64().is_none_or(|n| param.min.is_none_or(|lo| n >= lo) && param.max.is_none_or(|hi| n <= hi))
    {
        return d.clone();
    }
    let least = param.min.unwrap_or(0.0);
    match param.value_type {
        Some(ParamType::Integer) => serde_json::json!(least.ceil() as i64),
        Some(ParamType::Number) => serde_json::json!(least),
        Some(ParamType::Boolean) => Json::Bool(false),
        Some(ParamType::String) | None => Json::String(String::new()),
    }
}

/// A parameter's value against its declared type and range; `given` says
/// whether it was given or is the default.
fn check_param(name: &str, param: &ParamSpec, value: &Json, given: bool) -> Option<Diagnostic> {
    let whose = if given { format!("parameter `{name}`") } else { format!("the default of parameter `{name}`") };
    if let Some(t) = param.value_type
        && !t.admits(value)
    {
        return Some(
            Diagnostic::error(
                At::Param { name: name.to_string() },
                format!("{whose} is {value}, not {}", t.describe()),
            )
            .expected(t.describe()),
        );
    }
    let n = value.as_f64()?;
    let (lo, hi) = (param.min.unwrap_or(f64::NEG_INFINITY), param.max.unwrap_or(f64::INFINITY));
    if (lo..=hi).contains(&n) {
        return None;
    }
    let range = match (param.min, param.max) {
        (Some(lo), Some(hi)) => format!("from {lo} to {hi}"),
        (Some(lo), None) => format!("{lo} or more"),
        (None, Some(hi)) => format!("{hi} or less"),
        (None, None) => return None,
    };
    Some(
        Diagnostic::error(At::Param { name: name.to_string() }, format!("{whose} is {value}, out of range"))
            .expected(range),
    )
}

fn prop_diag(id: &str, e: PropError) -> Diagnostic {
    let mut path = e.path;
    let mut suggestion = e.suggestion;
    let mut message = e.message;
    // serde's "unknown field `x`, expected one of `a`, `b`": point at the key and suggest.
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, tail)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        if suggestion.is_none() {
            suggestion = did_you_mean(field, candidates.iter().copied()).map(|c| format!("did you mean `{c}`?"));
        }
        if path.last() != Some(&PathSeg::Key(field.to_string())) {
            path.push(PathSeg::Key(field.to_string()));
        }
        let expected = if candidates.is_empty() {
            None
        } else {
            Some(format!("one of {}", candidates.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")))
        };
        message = format!("unknown property `{field}`");
        return Diagnostic {
            severity: crate::diag::Severity::Error,
            at: At::PropKey { id: id.into(), path },
            message,
            expected,
            suggestion,
        };
    }
    if let Some(field) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
        message = format!("missing required property `{field}`");
    }
    let mut expected = e.expected;
    // serde's "invalid type: string \"x\", expected u32": say it in the
    // stack's terms, with what was expected on its own line.
    if let Some((found, wanted)) = message.strip_prefix("invalid type: ").and_then(|r| r.rsplit_once(", expected ")) {
        if expected.is_none() {
            expected = Some(plain_type(wanted));
        }
        if suggestion.is_none()
            && wanted == "a boolean"
            && let Some(word) = found.strip_prefix("string \"").and_then(|w| w.strip_suffix('"'))
        {
            let truth = match word.to_ascii_lowercase().as_str() {
                "yes" | "y" | "on" | "1" => Some("true"),
                "no" | "n" | "off" | "0" => Some("false"),
                _ => None,
            };
            suggestion = truth.map(|t| format!("write `{t}`: `{word}` is a string in YAML 1.2"));
        }
        message = format!("wrong type: found {found}");
    }
    let d = if e.warning {
        Diagnostic::warning(At::Prop { id: id.into(), path }, message)
    } else {
        Diagnostic::error(At::Prop { id: id.into(), path }, message)
    };
    Diagnostic { expected, suggestion, ..d }
}

/// A Rust type name from serde, in the words of a stack's author.
fn plain_type(wanted: &str) -> String {
    match wanted {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping (`key: value` lines)".into(),
        w if w.starts_with("struct ") => "a mapping (`key: value` lines)".into(),
        w => w.to_string(),
    }
}

/// Validates a stack against the kinds of a registry, with the parameter
/// values given. Returns the validated stack when there is no error.
pub fn validate(spec: &StackSpec, registry: &Registry, given: &ParamValues) -> (Option<Validated>, Diagnostics) {
    validate_with(spec, registry, given, true)
}

/// As [`validate`]; with `require_params` false, a parameter without a value
/// is only a warning (`cairn validate` checks a stack before values exist),
/// and what depends on it is checked as far as it can be.
pub fn validate_with(
    spec: &StackSpec,
    registry: &Registry,
    given: &ParamValues,
    require_params: bool,
) -> (Option<Validated>, Diagnostics) {
    let mut diags = Diagnostics::default();
    let derived;
    let spec = match registry.glue() {
        Some(glue) => {
            derived = glue.derive(spec);
            &derived
        }
        None => spec,
    };

    if !valid_stack_name(&spec.name) {
        diags.push(
            Diagnostic::error(At::StackKey { key: "stack".into() }, format!("invalid stack name `{}`", spec.name))
                .expected("1 to 40 characters of a-z, 0-9 and `-`, starting with a letter"),
        );
    }

    diags.0.extend(crate::tags::check_stack_tags(&spec.tags));
    diags.0.extend(check_moved(spec));
    if let Some(url) = spec.state.as_ref().and_then(|s| s.url.as_deref())
        && let Err(e) = crate::state::S3Place::parse(url)
    {
        diags.push(
            Diagnostic::error(At::StackKey { key: "state".into() }, e)
                .expected("s3://BUCKET/PREFIX, with ?region=REGION when the bucket is in another region"),
        );
    }
    if let Some(ttl) = &spec.ttl {
        if let Err(e) = crate::spec::parse_ttl(ttl) {
            diags.push(Diagnostic::error(At::StackKey { key: "ttl".into() }, e).expected("90s, 30m, 4h, 2d or 1w"));
        }
        diags.0.extend(crate::tags::check_expiry_room(&spec.tags));
    }

    // Parameters: every declared one needs a value; every given one must be declared.
    let mut params = BTreeMap::new();
    for (name, p) in &spec.parameters {
        match (given.get(name), &p.default) {
            (Some(text), _) => {
                let value = param_value(text, p);
                let bad = check_param(name, p, &value, true);
                // The props go on with a value that passes, so that a bad
                // value is one error, not one more at every prop using it.
                let value = if bad.is_some() { stand_in(p) } else { value };
                diags.0.extend(bad);
                params.insert(name.clone(), value);
            }
            (None, Some(default)) => {
                let bad = check_param(name, p, default, false);
                let value = if bad.is_some() { stand_in(p) } else { default.clone() };
                diags.0.extend(bad);
                params.insert(name.clone(), value);
            }
            (None, None) => {
                let var = format!("CAIRN_PARAM_{}", name.to_uppercase().replace('-', "_"));
                let d = Diagnostic::error(At::Param { name: name.clone() }, format!("parameter `{name}` has no value"))
                    .expected(format!("a value given with `-p {name}=…` or the environment variable {var}"));
                diags.push(if require_params {
                    d
                } else {
                    Diagnostic {
                        severity: crate::diag::Severity::Warning,
                        message: format!("parameter `{name}` has no value yet: plan and apply will need one"),
                        ..d
                    }
                });
            }
        }
    }
    for name in given.keys() {
        if !spec.parameters.contains_key(name) {
            let s =
                did_you_mean(name, spec.parameters.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
            diags.push(
                Diagnostic::error(
                    At::Stack,
                    format!("parameter `{name}` is given but the stack declares no such parameter"),
                )
                .expected(if spec.parameters.is_empty() {
                    "no parameters".to_string()
                } else {
                    format!("one of {}", spec.parameters.keys().cloned().collect::<Vec<_>>().join(", "))
                })
                .suggest(s),
            );
        }
    }

    // Resource ids, kinds, dependencies.
    let mut seen = BTreeSet::new();
    let kinds_of: BTreeMap<&str, &str> = spec.resources.iter().map(|r| (r.id.as_str(), r.kind.as_str())).collect();
    for r in &spec.resources {
        if !seen.insert(r.id.as_str()) {
            diags.push(
                Diagnostic::error(At::Resource { id: r.id.clone() }, format!("duplicate resource id `{}`", r.id))
                    .expected("resource ids unique in the stack"),
            );
        }
        if !valid_resource_id(&r.id) {
            diags.push(
                Diagnostic::error(At::Resource { id: r.id.clone() }, format!("invalid resource id `{}`", r.id))
                    .expected("a lower-case letter, then a-z, 0-9 or `-` (at most 64)"),
            );
        }
        if registry.get(&r.kind).is_none() {
            let s = did_you_mean(&r.kind, registry.names()).map(|c| format!("did you mean `{c}`?"));
            diags.push(
                Diagnostic::error(
                    At::ResourceKey { id: r.id.clone(), key: "type".into() },
                    format!("unknown resource type `{}`", r.kind),
                )
                .expected(format!("one of {}", registry.names().collect::<Vec<_>>().join(", ")))
                .suggest(s),
            );
        }
        for d in &r.depends_on {
            if !kinds_of.contains_key(d.as_str()) {
                let s = did_you_mean(d, kinds_of.keys().copied()).map(|c| format!("did you mean `{c}`?"));
                diags.push(
                    Diagnostic::error(
                        At::ResourceKey { id: r.id.clone(), key: "depends_on".into() },
                        format!("`depends_on` names unknown resource `{d}`"),
                    )
                    .suggest(s),
                );
            }
        }
    }

    // References in props and outputs.
    let check_refs = |value: &Json, at: &dyn Fn(Vec<PathSeg>) -> At, diags: &mut Diagnostics| {
        for (path, found) in refs_in(value) {
            match found {
                Err(e) => diags.push(Diagnostic::error(at(path), e.message).expected(e.expected)),
                Ok(reference) => match &reference.target {
                    RefTarget::Param { name } if !spec.parameters.contains_key(name) => {
                        let s = did_you_mean(name, spec.parameters.keys().map(String::as_str))
                            .map(|c| format!("did you mean `${{param.{c}}}`?"));
                        diags.push(
                            Diagnostic::error(
                                at(path),
                                format!("reference {reference} names undeclared parameter `{name}`"),
                            )
                            .expected("a parameter declared under `parameters`")
                            .suggest(s),
                        );
                    }
                    RefTarget::Resource { id, attr } => match kinds_of.get(id.as_str()) {
                        None => {
                            let s = did_you_mean(id, kinds_of.keys().copied())
                                .map(|c| format!("did you mean `${{{c}.{attr}}}`?"));
                            diags.push(
                                Diagnostic::error(
                                    at(path),
                                    format!("reference {reference} names unknown resource `{id}`"),
                                )
                                .expected("the id of a resource in this stack")
                                .suggest(s),
                            );
                        }
                        Some(kind) => {
                            if let Some(k) = registry.get(kind)
                                && !k.attributes().contains(&attr.as_str())
                            {
                                let s = did_you_mean(attr, k.attributes().iter().copied())
                                    .map(|c| format!("did you mean `${{{id}.{c}}}`?"));
                                let expected = if k.attributes().is_empty() {
                                    format!("nothing: {kind} has no attributes")
                                } else {
                                    format!("one of {}", k.attributes().join(", "))
                                };
                                diags.push(
                                    Diagnostic::error(
                                        at(path),
                                        format!("reference {reference}: {kind} has no attribute `{attr}`"),
                                    )
                                    .expected(expected)
                                    .suggest(s),
                                );
                            }
                        }
                    },
                    _ => {}
                },
            }
        }
    };
    for r in &spec.resources {
        let id = r.id.clone();
        check_refs(&r.props, &|path| At::Prop { id: id.clone(), path }, &mut diags);
    }
    for (name, value) in &spec.outputs {
        check_refs(value, &|_| At::Output { name: name.clone() }, &mut diags);
    }
    diags.0.extend(check_ref_types(spec, registry));

    // Cycles.
    let graph = Graph::from_spec(spec);
    let order = match graph.topo_order() {
        Ok(order) => order,
        Err(cycle) => {
            diags.push(
                Diagnostic::error(At::Resource { id: cycle[0].clone() }, format!("dependency cycle: {}", cycle.join(" -> ")))
                    .expected("resources that do not depend on themselves through references or depends_on")
                    .suggest(Some("break the cycle: build one of the values from pseudo values (${aws.account_id}, …) instead of a reference, or remove a depends_on".into())),
            );
            Vec::new()
        }
    };

    // Each kind checks its own props, with parameters substituted.
    let mut canonical = BTreeMap::new();
    let subst = Params(&params, &spec.name);
    for r in &spec.resources {
        let Some(kind) = registry.get(&r.kind) else { continue };
        let props = substitute(&r.props, &subst);
        match kind.check(
            &props,
            &NameCtx {
                stack: &spec.name,
                id: &r.id,
                base_dir: spec.base_dir.as_deref().unwrap_or(std::path::Path::new("")),
            },
        ) {
            Ok(c) => {
                canonical.insert(r.id.clone(), c);
            }
            Err(errors) => {
                for e in errors {
                    diags.push(prop_diag(&r.id, e));
                }
            }
        }
    }

    if let Some(glue) = registry.glue() {
        for d in glue.cross_check(spec, &canonical) {
            diags.push(d);
        }
    }

    if diags.has_errors() {
        return (None, diags);
    }
    (Some(Validated { spec: spec.clone(), props: canonical, params, graph, order }), diags)
}

/// References written as a whole prop value against what the prop takes
/// ([`crate::kind::Kind::ref_props`]): `${jobs.url}` where an SQS queue's
/// ARN is needed is an error, with the attribute that fits as suggestion.
/// References to unknown resources or attributes are reported elsewhere.
fn check_ref_types(spec: &StackSpec, registry: &Registry) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let kind_of = |id: &str| spec.resource(id).and_then(|r| registry.get(&r.kind));
    for r in &spec.resources {
        let Some(kind) = registry.get(&r.kind) else { continue };
        let rules = kind.ref_props();
        if rules.is_empty() {
            continue;
        }
        for (path, found) in refs_in(&r.props) {
            let Ok(reference) = found else { continue };
            let RefTarget::Resource { id, attr } = &reference.target else { continue };
            // Only a reference standing for the whole value has a type.
            let whole = value_at(&r.props, &path).and_then(Json::as_str) == Some(reference.to_string().as_str());
            let Some(rule) = rules.iter().find(|rule| {
                path_matches(rule.path, &path)
                    && rule.when.is_none_or(|(key, value)| r.props.get(key).and_then(Json::as_str) == Some(value))
            }) else {
                continue;
            };
            let Some(target) = kind_of(id) else { continue };
            if !whole || !target.attributes().contains(&attr.as_str()) {
                continue;
            }
            let got = target.attribute_type(attr);
            if rule.accepts.iter().any(|a| a.fits(got)) {
                continue;
            }
            let fitting =
                target.attributes().iter().find(|a| rule.accepts.iter().any(|t| t.fits(target.attribute_type(a))));
            let wanted: Vec<String> = rule.accepts.iter().map(|t| t.describe()).collect();
            let prop = path_string(&path);
            diags.push(
                Diagnostic::error(
                    At::Prop { id: r.id.clone(), path },
                    format!("reference {reference} does not fit `{prop}`: it is {}", got.describe()),
                )
                .expected(wanted.join(" or "))
                .suggest(fitting.map(|a| format!("did you mean `${{{id}.{a}}}`?"))),
            );
        }
    }
    diags
}

/// The value at `path` in `value`.
fn value_at<'a>(value: &'a Json, path: &[PathSeg]) -> Option<&'a Json> {
    path.iter().try_fold(value, |v, seg| match seg {
        PathSeg::Key(k) => v.get(k),
        PathSeg::Index(i) => v.get(i),
    })
}

/// Whether a path in props is the one a [`crate::kind::RefProp`] names
/// (`*` standing for any list index or map key).
fn path_matches(pattern: &[&str], path: &[PathSeg]) -> bool {
    pattern.len() == path.len()
        && pattern.iter().zip(path).all(|(p, seg)| match seg {
            _ if *p == "*" => true,
            PathSeg::Key(k) => k == p,
            PathSeg::Index(_) => false,
        })
}

/// The stack's `moved` entries against the stack itself: each `to` is a
/// resource of the stack, each `from` is not (any more), and no id is moved
/// twice. Whether state holds each `from` is the plan's to check.
pub fn check_moved(spec: &StackSpec) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let ids = || spec.resources.iter().map(|r| r.id.as_str());
    let mut froms: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tos: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, m) in spec.moved.iter().enumerate() {
        let at = |key: &str| At::Moved { index, key: key.to_string() };
        if m.from == m.to {
            diags.push(
                Diagnostic::error(at("to"), format!("moved entry {} moves `{}` to itself", index + 1, m.from))
                    .expected("`to` is the resource's new id, different from `from`"),
            );
            continue;
        }
        if let Some(first) = froms.insert(&m.from, index) {
            diags.push(
                Diagnostic::error(
                    at("from"),
                    format!("`{}` is moved twice: by moved entries {} and {}", m.from, first + 1, index + 1),
                )
                .expected("each old id in one `moved` entry"),
            );
        }
        if let Some(first) = tos.insert(&m.to, index) {
            diags.push(
                Diagnostic::error(
                    at("to"),
                    format!("two ids are moved to `{}`: by moved entries {} and {}", m.to, first + 1, index + 1),
                )
                .expected("each new id in one `moved` entry"),
            );
        }
        if spec.resource(&m.to).is_none() {
            let s = did_you_mean(&m.to, ids()).map(|c| format!("did you mean `{c}`?"));
            diags.push(
                Diagnostic::error(at("to"), format!("`to: {}` is not a resource of the stack", m.to))
                    .expected("the id the resource has in `resources` now")
                    .suggest(s),
            );
        }
        if spec.resource(&m.from).is_some() {
            diags.push(
                Diagnostic::error(at("from"), format!("`from: {}` is still a resource of the stack", m.from))
                    .expected("the old id, no longer in `resources`: the resource is written under its new id")
                    .suggest(Some(format!("rename `{}` in `resources` to `{}`, or drop this entry", m.from, m.to))),
            );
        }
    }
    diags
}
