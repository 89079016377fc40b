//! The JSON Schema of the stack format, built from the kinds' own props
//! types so that it is never written twice.

use cairn_engine::kind::Registry;
use serde_json::{Map, Value as Json, json};

/// Rewrites a kind schema's local `$defs` references so that several kinds
/// can share one document's `$defs`.
fn lift_defs(schema: &mut Json, prefix: &str, defs: &mut Map<String, Json>) {
    fn rewrite(v: &mut Json, prefix: &str) {
        match v {
            Json::Object(m) => {
                if let Some(Json::String(r)) = m.get_mut("$ref")
                    && let Some(name) = r.strip_prefix("#/$defs/")
                {
                    *r = format!("#/$defs/{prefix}.{name}");
                }
                m.values_mut().for_each(|x| rewrite(x, prefix));
            }
            Json::Array(a) => a.iter_mut().for_each(|x| rewrite(x, prefix)),
            _ => {}
        }
    }
    rewrite(schema, prefix);
    if let Json::Object(m) = schema {
        m.remove("$schema");
        if let Some(Json::Object(local)) = m.remove("$defs") {
            for (k, v) in local {
                defs.insert(format!("{prefix}.{k}"), v);
            }
        }
    }
}

/// Whether a schema accepts any string already, so that a reference
/// written there needs no alternative.
fn accepts_any_string(schema: &Json) -> bool {
    let Json::Object(m) = schema else { return matches!(schema, Json::Bool(true)) };
    let constrained = ["enum", "const", "pattern", "format", "$ref", "anyOf", "oneOf", "allOf", "not"];
    if constrained.iter().any(|k| m.contains_key(*k)) {
        return false;
    }
    match m.get("type") {
        None => true,
        Some(Json::String(t)) => t == "string",
        Some(Json::Array(ts)) => ts.iter().any(|t| t == "string"),
        Some(_) => false,
    }
}

/// Lets a whole-value reference (`${param.timeout}`, `${queue.arn}`) stand
/// wherever a prop's value is not already free text: a whole-value reference
/// takes the type of what it names, so `timeout: ${param.timeout}` is a
/// number once resolved. Each such value schema `S` becomes
/// `anyOf: [S, reference]`, keeping its description on the outside for
/// editors' hovers.
fn allow_refs(schema: &mut Json) {
    let Json::Object(m) = schema else { return };
    for key in ["$defs", "properties"] {
        if let Some(Json::Object(children)) = m.get_mut(key) {
            for child in children.values_mut() {
                allow_refs(child);
                if key == "properties" {
                    or_reference(child);
                }
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child @ Json::Object(_)) = m.get_mut(key) {
            allow_refs(child);
            or_reference(child);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Json::Array(children)) = m.get_mut(key) {
            children.iter_mut().for_each(allow_refs);
        }
    }
}

fn or_reference(value: &mut Json) {
    if accepts_any_string(value) {
        return;
    }
    let mut outer = Map::new();
    if let Json::Object(inner) = value {
        for key in ["title", "description", "default"] {
            if let Some(v) = inner.remove(key) {
                outer.insert(key.to_string(), v);
            }
        }
    }
    outer.insert("anyOf".into(), json!([value.take(), {"$ref": "#/$defs/reference"}]));
    *value = Json::Object(outer);
}

/// The schema of a whole stack file for the kinds of `registry`.
pub fn stack_schema(registry: &Registry) -> Json {
    let mut defs = Map::new();
    let mut variants = Vec::new();
    for kind in registry.kinds() {
        let name = kind.type_name();
        let prefix = name.replace(':', ".");
        let mut props = kind.schema();
        lift_defs(&mut props, &prefix, &mut defs);
        defs.insert(format!("{prefix}.props"), props);
        variants.push(json!({
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"properties": {"properties": {"$ref": format!("#/$defs/{prefix}.props")}}}
        }));
    }
    // Every def so far is a kind's (its props and their parts).
    defs.values_mut().for_each(allow_refs);
    let types: Vec<&str> = registry.names().collect();
    let resource = json!({
        "type": "object",
        "required": ["type"],
        "additionalProperties": false,
        "properties": {
            "type": {"enum": types},
            "properties": {"type": "object"},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "retain": {"type": "boolean"},
            "protect": {"type": "boolean"},
            "auto_wire": {"type": "boolean"}
        },
        "allOf": variants
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cairn stack",
        "type": "object",
        "required": ["stack", "resources"],
        "additionalProperties": false,
        "properties": {
            "stack": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,39}$"},
            "region": {"type": "string"},
            "ttl": {"type": "string", "pattern": "^[0-9]+[smhdw]$", "description": "How long the stack may live after each apply (90s, 30m, 4h, 2d, 1w): every taggable resource is tagged cairn:expires, for `cairn sweep --expired`."},
            "state": {
                "description": "Where the stack's state is kept (the command line's --state or --state-dir overrides it): s3://BUCKET/PREFIX[?region=REGION], or a mapping. See docs/state.md.",
                "oneOf": [
                    {"type": "string", "pattern": "^s3://[a-z0-9.-]{3,63}(/[^?]*)?(\\?region=[a-z0-9-]+)?$"},
                    {"type": "object", "additionalProperties": false, "properties": {
                        "url": {"type": "string", "pattern": "^s3://[a-z0-9.-]{3,63}(/[^?]*)?(\\?region=[a-z0-9-]+)?$", "description": "s3://BUCKET/PREFIX: each stack's state at PREFIX/<stack>.json, locked by PREFIX/<stack>.lock. Absent: local (--state-dir)."},
                        "kms_key": {"type": "string", "description": "S3 only: write the state and lock objects SSE-KMS under this key (ARN, id or alias)."},
                        "encryption": {"type": "object", "additionalProperties": false, "minProperties": 1, "maxProperties": 1, "description": "Encrypt the state document before it is stored (either backend).", "properties": {
                            "passphrase_env": {"type": "string", "description": "The environment variable holding the passphrase."},
                            "kms_key": {"type": "string", "description": "A KMS key whose data key encrypts the state."}
                        }}
                    }}
                ]
            },
            "parameters": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "description": {"type": "string"}, "default": {}, "secret": {"type": "boolean"},
                    "type": {"enum": ["string", "number", "integer", "boolean"], "description": "What the value must be; a given value is read as one."},
                    "min": {"type": "number", "description": "The smallest number allowed."},
                    "max": {"type": "number", "description": "The largest number allowed."}
                }
            }},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "resources": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9-]*$"}, "additionalProperties": {"$ref": "#/$defs/resource"}},
            "outputs": {"type": "object"},
            "moved": {
                "description": "Resources renamed in the stack: state's `from` is `to` now; apply renames it in state, with no AWS call.",
                "type": "array",
                "items": {
                    "type": "object", "additionalProperties": false, "required": ["from", "to"],
                    "properties": {
                        "from": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "description": "The id state knows the resource by."},
                        "to": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$", "description": "Its id in `resources` now."}
                    }
                }
            }
        },
        "$defs": Json::Object({
            let mut d = defs;
            d.insert("resource".into(), resource);
            d.insert("reference".into(), json!({
                "description": "A reference standing for the whole value, with the type of what it names: `${id.attr}`, `${param.name}`, `${aws.region}`, …",
                "type": "string",
                "pattern": "^\\$\\{[^}]+\\}$"
            }));
            d
        })
    })
}
