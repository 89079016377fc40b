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
            "parameters": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {"description": {"type": "string"}, "default": {}, "secret": {"type": "boolean"}}
            }},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "resources": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9-]*$"}, "additionalProperties": {"$ref": "#/$defs/resource"}},
            "outputs": {"type": "object"}
        },
        "$defs": Json::Object({
            let mut d = defs;
            d.insert("resource".into(), resource);
            d
        })
    })
}
