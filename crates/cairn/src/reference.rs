//! The kind reference: for each kind, its props (type, default, whether a
//! change replaces the resource, description), attributes, derived glue,
//! physical id and the AWS quirks it handles.
//!
//! Nothing here is written twice: props come from the same JSON Schema as
//! `cairn schema` (the props types and their doc comments), defaults from
//! the code that fills them, the rest from each kind's
//! [`KindDoc`](cairn_engine::kind::KindDoc) and the provider's glue rules.
//! `cairn explain` prints it; `cairn explain --write-docs docs/kinds` writes
//! the pages a test keeps current.

use std::fmt::Write as _;

use cairn_engine::kind::{Kind, Registry};
use serde::Serialize;
use serde_json::{Map, Value as Json};

/// Everything the reference says of one kind.
#[derive(Clone, Debug, Serialize)]
pub struct KindRef {
    /// `aws:sqs:Queue`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the kind is: the props type's own description.
    pub summary: String,
    /// How AWS knows a resource: what state records and `cairn import` takes.
    pub physical_id: String,
    /// Every prop, nested ones after their parent (`dead_letter.queue`,
    /// `targets[].id`, `inline_policies.<key>`).
    pub props: Vec<PropRef>,
    pub attributes: Vec<Described>,
    pub glue: Vec<GlueRef>,
    pub quirks: Vec<String>,
}

/// One prop.
#[derive(Clone, Debug, Serialize)]
pub struct PropRef {
    pub path: String,
    /// `string`, `integer`, `list of string`, `all / read_only`, the name
    /// of a nested type, `JSON` (any document)…
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    /// What it is when not set, if the code gives it a value.
    pub default: Option<Json>,
    /// Whether changing it replaces the resource (for a nested prop, its
    /// top-level prop's answer).
    pub replaces: bool,
    pub description: String,
}

/// A name and what it means.
#[derive(Clone, Debug, Serialize)]
pub struct Described {
    pub name: String,
    pub description: String,
}

/// Something the glue derives that involves the kind.
#[derive(Clone, Debug, Serialize)]
pub struct GlueRef {
    pub when: String,
    pub adds: String,
}

/// The reference of one kind of `registry`.
pub fn kind_ref(registry: &Registry, kind: &dyn Kind) -> KindRef {
    let doc = kind.doc();
    let schema = kind.schema();
    let defaults = kind.default_props();
    let replace_on = kind.replace_on();
    let mut props = Vec::new();
    let walk = Walk { defs: schema.get("$defs").and_then(Json::as_object), replace_on };
    walk.object(&schema, "", Some(&defaults), None, 0, &mut props);
    let described = |name: &str| doc.attributes.iter().find(|(n, _)| *n == name).map_or("", |(_, d)| *d);
    KindRef {
        kind: kind.type_name().to_string(),
        summary: text_of(&schema),
        physical_id: doc.physical_id.to_string(),
        props,
        attributes: kind
            .attributes()
            .iter()
            .map(|a| Described { name: (*a).to_string(), description: described(a).to_string() })
            .collect(),
        glue: registry
            .glue()
            .map(|g| g.rules())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.kinds.contains(&kind.type_name()))
            .map(|r| GlueRef { when: r.when.to_string(), adds: r.adds.to_string() })
            .collect(),
        quirks: doc.quirks.iter().map(ToString::to_string).collect(),
    }
}

/// The reference of every kind of `registry`, by type name.
pub fn all(registry: &Registry) -> Vec<KindRef> {
    registry.kinds().map(|k| kind_ref(registry, k.as_ref())).collect()
}

// ---- props from the schema --------------------------------------------------

/// What a prop's schema says of its type: a name to show, and the object
/// schema of its fields when it has some, with how their paths continue
/// (`.`, `[].`, `.<key>.`).
struct Shape<'a> {
    name: String,
    fields: Option<(&'a Json, &'static str)>,
}

struct Walk<'a> {
    defs: Option<&'a Map<String, Json>>,
    replace_on: &'static [&'static str],
}

/// Nested types deeper than this are shown by name only.
const MAX_DEPTH: usize = 4;

impl<'a> Walk<'a> {
    /// The props of an object schema, under `prefix`. `defaults` holds the
    /// values the code gives them; `replaces` is the top-level prop's answer
    /// (`None` at the top).
    fn object(
        &self,
        schema: &'a Json,
        prefix: &str,
        defaults: Option<&Json>,
        replaces: Option<bool>,
        depth: usize,
        out: &mut Vec<PropRef>,
    ) {
        let Some(properties) = schema.get("properties").and_then(Json::as_object) else { return };
        let required: Vec<&str> =
            schema.get("required").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str).collect();
        for (name, prop) in properties {
            let path = format!("{prefix}{name}");
            let replaces = replaces.unwrap_or_else(|| self.replace_on.iter().any(|r| *r == "*" || r == name));
            let shape = self.shape(prop, 0);
            let required = required.contains(&name.as_str());
            let given = defaults.and_then(|d| d.get(name)).filter(|v| !is_nothing(v));
            let default = if required || (shape.fields.is_some() && given.is_some_and(Json::is_object)) {
                None
            } else {
                given.or_else(|| prop.get("default").filter(|v| !is_nothing(v))).cloned()
            };
            out.push(PropRef {
                path: path.clone(),
                ty: shape.name,
                required,
                default,
                replaces,
                description: self.described(prop),
            });
            if let Some((fields, more)) = shape.fields
                && depth < MAX_DEPTH
            {
                let nested = if more == "." { given } else { None };
                self.object(fields, &format!("{path}{more}"), nested, Some(replaces), depth + 1, out);
            }
        }
    }

    /// A prop's description, else that of the type it names (an enum's).
    fn described(&self, prop: &Json) -> String {
        let own = text_of(prop);
        if !own.is_empty() {
            return own;
        }
        let direct = prop.get("$ref").into_iter();
        let variants = prop.get("anyOf").and_then(Json::as_array).into_iter().flatten().filter_map(|v| v.get("$ref"));
        direct
            .chain(variants)
            .filter_map(Json::as_str)
            .find_map(|r| self.resolve(r).map(|(_, def)| text_of(def)))
            .unwrap_or_default()
    }

    fn resolve(&self, reference: &str) -> Option<(&'a str, &'a Json)> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.defs?.get_key_value(name).map(|(k, v)| (k.as_str(), v))
    }

    fn shape(&self, s: &'a Json, depth: usize) -> Shape<'a> {
        let plain = |name: &str| Shape { name: name.to_string(), fields: None };
        if depth > MAX_DEPTH {
            return plain("JSON");
        }
        if let Some((name, def)) = s.get("$ref").and_then(Json::as_str).and_then(|r| self.resolve(r)) {
            if def.get("properties").is_some() {
                return Shape { name: name.to_string(), fields: Some((def, ".")) };
            }
            return self.shape(def, depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(variants) = s.get(key).and_then(Json::as_array) {
                let shapes: Vec<Shape<'a>> = variants
                    .iter()
                    .filter(|v| v.get("type").and_then(Json::as_str) != Some("null"))
                    .map(|v| self.shape(v, depth + 1))
                    .collect();
                if let [one] = &shapes[..] {
                    return Shape { name: one.name.clone(), fields: one.fields };
                }
                let names: Vec<String> = shapes.into_iter().map(|s| s.name).collect();
                return plain(&names.join(" / "));
            }
        }
        if let Some(values) = s.get("enum").and_then(Json::as_array) {
            return plain(&values.iter().map(scalar).collect::<Vec<_>>().join(" / "));
        }
        if let Some(value) = s.get("const") {
            return plain(&scalar(value));
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Json::String(t)) => vec![t.as_str()],
            Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).filter(|t| *t != "null").collect(),
            _ => Vec::new(),
        };
        match types.as_slice() {
            ["array"] => {
                let item = s.get("items").map_or_else(|| plain("JSON"), |i| self.shape(i, depth + 1));
                let fields = item.fields.map(|(f, _)| (f, "[]."));
                Shape { name: format!("list of {}", item.name), fields }
            }
            ["object"] => match s.get("additionalProperties") {
                Some(v @ Json::Object(_)) => {
                    let value = self.shape(v, depth + 1);
                    let fields = value.fields.map(|(f, _)| (f, ".<key>."));
                    Shape { name: format!("map of {}", value.name), fields }
                }
                _ if s.get("properties").is_some() => Shape { name: "object".into(), fields: Some((s, ".")) },
                _ => plain("map of JSON"),
            },
            [one] => plain(one),
            [] => plain("JSON"),
            many => plain(&many.join(" / ")),
        }
    }
}

/// A value that says nothing as a default: null, `[]`, `{}`.
fn is_nothing(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// A value as the reference shows it: strings bare, the rest as JSON.
fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A schema's description, its lines joined into paragraphs.
fn text_of(schema: &Json) -> String {
    let raw = schema.get("description").and_then(Json::as_str).unwrap_or_default();
    raw.split("\n\n").map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n\n")
}

// ---- markdown ---------------------------------------------------------------

/// The file name of a kind's page: `aws-sqs-Queue.md`.
pub fn page_name(kind: &str) -> String {
    format!("{}.md", kind.replace(':', "-"))
}

/// What every generated page says first, so nobody edits it by hand.
const GENERATED: &str = "<!-- Generated from the code by `cargo run -p cairn-cli -- explain --write-docs docs/kinds`: \
                         do not edit. -->";

/// The pages of `docs/kinds/`: an index and one per kind, as (file name, text).
pub fn pages(registry: &Registry) -> Vec<(String, String)> {
    let kinds = all(registry);
    let mut out = vec![("README.md".to_string(), index_markdown(&kinds))];
    out.extend(kinds.iter().map(|k| (page_name(&k.kind), markdown(k))));
    out
}

fn index_markdown(kinds: &[KindRef]) -> String {
    let mut s = format!("{GENERATED}\n\n# Kinds\n\n");
    s.push_str(
        "Every resource kind a stack may use, one page each: its props (type, default, whether a change \
         replaces the resource), the attributes `${id.attr}` reads, the glue cairn derives for it, its \
         physical id and the AWS quirks it handles. `cairn explain KIND` prints the same in a terminal.\n\n",
    );
    s.push_str("| kind | what it is |\n|---|---|\n");
    for k in kinds {
        let _ = writeln!(s, "| [`{}`]({}) | {} |", k.kind, page_name(&k.kind), cell(&k.summary));
    }
    s.push_str(
        "\nThe same props, as JSON Schema for editors, are in [`cairn.schema.json`](../cairn.schema.json); \
         the glue is explained in [derived glue](../glue.md).\n",
    );
    s
}

/// A kind's page.
pub fn markdown(k: &KindRef) -> String {
    let mut s = format!("{GENERATED}\n\n# `{}`\n\n{}\n\n", k.kind, k.summary);
    let _ = writeln!(s, "- **Physical id** (what `cairn state list` shows, `cairn import` takes): {}", k.physical_id);
    let _ = writeln!(s, "- **Replaced when changed:** {}", replaced(k, |p| format!("`{p}`")));
    let attrs: Vec<String> = k.attributes.iter().map(|a| format!("`{}`", a.name)).collect();
    let _ = writeln!(s, "- **Attributes:** {}", if attrs.is_empty() { "none".to_string() } else { attrs.join(", ") });
    s.push_str("\n## Props\n\n");
    // A table per parent: the top-level props, then each nested type's.
    let mut parents: Vec<&str> = Vec::new();
    for p in &k.props {
        if !parents.contains(&parent_of(&p.path)) {
            parents.push(parent_of(&p.path));
        }
    }
    for parent in parents {
        if !parent.is_empty() {
            let _ = write!(s, "\n### `{parent}`\n\n");
        }
        s.push_str("| prop | type | default | on change | description |\n|---|---|---|---|---|\n");
        for p in k.props.iter().filter(|p| parent_of(&p.path) == parent) {
            let default = if p.required {
                "required".to_string()
            } else {
                p.default.as_ref().map_or_else(String::new, |d| format!("`{}`", scalar(d)))
            };
            let change = if p.replaces { "replace" } else { "update" };
            let (path, ty, description) = (&p.path, cell(&p.ty), cell(&p.description));
            let _ = writeln!(s, "| `{path}` | `{ty}` | {} | {change} | {description} |", cell(&default));
        }
    }
    s.push_str("\n## Attributes\n\n");
    if k.attributes.is_empty() {
        s.push_str("None: nothing may reference this kind with `${id.attr}`.\n");
    } else {
        s.push_str("| `${id.attr}` | gives |\n|---|---|\n");
        for a in &k.attributes {
            let _ = writeln!(s, "| `{}` | {} |", a.name, cell(&a.description));
        }
    }
    s.push_str("\n## Derived glue\n\n");
    if k.glue.is_empty() {
        s.push_str("None.\n");
    } else {
        for g in &k.glue {
            let _ = writeln!(s, "- When {}: {}.", g.when, g.adds);
        }
        s.push_str("\n`auto_wire: false` on either resource turns a rule off; see [derived glue](../glue.md).\n");
    }
    s.push_str("\n## AWS quirks handled\n\n");
    if k.quirks.is_empty() {
        s.push_str("None known.\n");
    }
    for q in &k.quirks {
        let _ = writeln!(s, "- {q}");
    }
    s
}

/// The props whose change replaces the resource, each shown by `show`.
fn replaced(k: &KindRef, show: impl Fn(&str) -> String) -> String {
    let top: Vec<&PropRef> = k.props.iter().filter(|p| !p.path.contains(['.', '['])).collect();
    if !top.is_empty() && top.iter().all(|p| p.replaces) {
        return "any prop (there is no update)".to_string();
    }
    let names: Vec<String> = top.iter().filter(|p| p.replaces).map(|p| show(&p.path)).collect();
    if names.is_empty() { "nothing".to_string() } else { names.join(", ") }
}

/// `targets[].input_transformer` for `targets[].input_transformer.paths`;
/// empty at the top.
fn parent_of(path: &str) -> &str {
    match path.rfind('.') {
        Some(i) => path[..i].strip_suffix("[]").unwrap_or(&path[..i]),
        None => "",
    }
}

/// Text for a table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace("\n\n", " ").replace('\n', " ").replace('|', "\\|")
}

// ---- terminal text ----------------------------------------------------------

/// A kind's reference as plain text wrapped at `width` columns.
pub fn text(k: &KindRef, width: usize) -> String {
    let mut s = String::new();
    wrap_into(&mut s, &format!("{}: {}", k.kind, k.summary), "", "  ", width);
    s.push('\n');
    wrap_into(&mut s, &format!("Physical id: {}", k.physical_id), "", "  ", width);
    wrap_into(&mut s, &format!("Replaced when changed: {}", replaced(k, ToString::to_string)), "", "  ", width);
    s.push_str("\nPROPS\n");
    for p in &k.props {
        let mut facts = vec![p.ty.clone()];
        if p.required {
            facts.push("required".into());
        } else if let Some(d) = &p.default {
            facts.push(format!("default {}", scalar(d)));
        }
        facts.push(if p.replaces { "replaces".into() } else { "updates in place".into() });
        s.push('\n');
        wrap_into(&mut s, &format!("{}  ({})", p.path, facts.join(", ")), "  ", "      ", width);
        if !p.description.is_empty() {
            wrap_into(&mut s, &p.description, "      ", "      ", width);
        }
    }
    s.push_str("\nATTRIBUTES (${id.attr})\n");
    if k.attributes.is_empty() {
        s.push_str("  none\n");
    }
    let name_width = k.attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
    for a in &k.attributes {
        let first = format!("  {:name_width$}  ", a.name);
        let rest = " ".repeat(first.len());
        wrap_into(&mut s, &a.description, &first, &rest, width);
    }
    s.push_str("\nDERIVED GLUE\n");
    if k.glue.is_empty() {
        s.push_str("  none\n");
    }
    for g in &k.glue {
        wrap_into(&mut s, &format!("When {}: {}.", g.when, g.adds), "  - ", "    ", width);
    }
    s.push_str("\nAWS QUIRKS HANDLED\n");
    if k.quirks.is_empty() {
        s.push_str("  none known\n");
    }
    for q in &k.quirks {
        wrap_into(&mut s, q, "  - ", "    ", width);
    }
    s
}

/// Every kind, one line each, for `cairn explain` with no kind.
pub fn list_text(kinds: &[KindRef], width: usize) -> String {
    let name_width = kinds.iter().map(|k| k.kind.len()).max().unwrap_or(0);
    let mut s = String::new();
    for k in kinds {
        let first = format!("{:name_width$}  ", k.kind);
        let rest = " ".repeat(first.len());
        wrap_into(&mut s, &k.summary, &first, &rest, width);
    }
    s
}

/// Appends `text` wrapped at `width`: its first line after `first`, the
/// others after `rest`; paragraphs (blank-line separated) stay apart. A
/// word longer than the line goes on a line of its own.
fn wrap_into(out: &mut String, text: &str, first: &str, rest: &str, width: usize) {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut line = if i == 0 { first.to_string() } else { rest.to_string() };
        let mut empty = true;
        for word in paragraph.split_whitespace() {
            if !empty && line.chars().count() + 1 + word.chars().count() > width {
                out.push_str(line.trim_end());
                out.push('\n');
                line = rest.to_string();
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_within_the_width() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let mut out = String::new();
        wrap_into(&mut out, text, "- ", "  ", 16);
        assert!(out.lines().all(|l| l.chars().count() <= 16), "{out}");
        assert_eq!(out.split_whitespace().filter(|w| *w != "-").collect::<Vec<_>>().join(" "), text);
        assert!(out.starts_with("- one two three\n  four"), "{out}");
    }

    #[test]
    fn parents_of_nested_paths() {
        assert_eq!(parent_of("name"), "");
        assert_eq!(parent_of("dead_letter.queue"), "dead_letter");
        assert_eq!(parent_of("targets[].id"), "targets");
        assert_eq!(parent_of("targets[].input_transformer.paths"), "targets[].input_transformer");
    }

    #[test]
    fn shapes_name_types_as_a_reader_would() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["queue"],
            "properties": {
                "queue": {"type": "string", "description": "The\nqueue."},
                "count": {"type": ["integer", "null"]},
                "mode": {"anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}]},
                "tags": {"type": "object", "additionalProperties": {"type": "string"}},
                "rules": {"type": "array", "items": {"$ref": "#/$defs/Rule"}},
                "policy": {"description": "Any document."}
            },
            "$defs": {
                "Mode": {"type": "string", "enum": ["fast", "slow"]},
                "Rule": {"type": "object", "properties": {"cidr": {"type": "string"}}}
            }
        });
        let walk = Walk { defs: schema.get("$defs").and_then(Json::as_object), replace_on: &["queue"] };
        let mut out = Vec::new();
        walk.object(&schema, "", Some(&serde_json::json!({"count": 3})), None, 0, &mut out);
        let row = |p: &str| {
            out.iter().find(|r| r.path == p).map(|r| (r.ty.as_str(), r.required, r.default.clone(), r.replaces))
        };
        assert_eq!(row("queue"), Some(("string", true, None, true)));
        assert_eq!(row("count"), Some(("integer", false, Some(serde_json::json!(3)), false)));
        assert_eq!(row("mode"), Some(("fast / slow", false, None, false)));
        assert_eq!(row("tags"), Some(("map of string", false, None, false)));
        assert_eq!(row("rules"), Some(("list of Rule", false, None, false)));
        assert_eq!(row("rules[].cidr"), Some(("string", false, None, false)));
        assert_eq!(row("policy"), Some(("JSON", false, None, false)));
        assert_eq!(out[0].description, "The queue.");
    }
}
