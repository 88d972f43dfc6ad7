//! The JSON Schema of pipeline files (`edgeflow schema`), built from the registry: every stage
//! type and variant with its config's fields, types, defaults and doc lines, so editors with
//! a TOML language server (taplo, "Even Better TOML") complete and check keys as one types.
//!
//! The schema is draft-07 (what taplo reads). A stage table is checked by the branch its
//! `type` (and variant key, `source = "rtsp"`) selects: `if`/`then` rather than `oneOf`, so a
//! validator reports the wrong key in the right stage instead of "matches none of 12".

use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::registry::{Registry, Role};

/// The `$id` of the schema.
pub const SCHEMA_ID: &str = "https://edgeflow.invalid/schema/pipeline.json";

/// The JSON Schema of a pipeline file for the stages `registry` knows.
pub fn pipeline_schema(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    let mut branches = Vec::new();
    let mut stage_defs = Map::new();
    for e in registry.entries() {
        let config = e.factory.config_schema(&mut generator).to_value();
        let name = match e.info.variant {
            Some(v) => format!("stage.{}.{}", e.info.type_name, v.value),
            None => format!("stage.{}", e.info.type_name),
        };
        let mut when = Map::new();
        when.insert("type".into(), json!({ "const": e.info.type_name }));
        let mut required = vec![json!("type")];
        if let Some(v) = e.info.variant {
            when.insert(v.key.into(), json!({ "const": v.value }));
            // The default variant's branch also holds when the key is left out.
            if registry.variant_default(e.info.type_name) != Some(v.value) {
                required.push(json!(v.key));
            }
        }
        branches.push(json!({
            "if": { "properties": when, "required": required },
            "then": { "$ref": format!("#/definitions/{name}") },
        }));
        stage_defs.insert(name, config);
    }
    let mut sections: Vec<(&str, Value)> = registry
        .sections()
        .iter()
        .map(|e| {
            let mut v = e.factory.schema(&mut generator).to_value();
            if let Value::Object(m) = &mut v {
                m.insert("description".into(), json!(e.summary));
            }
            (e.name, v)
        })
        .collect();
    let mut definitions = generator.take_definitions(true);
    for d in definitions.values_mut() {
        no_null(d);
    }
    for (_, d) in &mut sections {
        no_null(d);
        if let Value::Object(m) = d {
            *m = resolve(std::mem::take(m), &definitions);
        }
    }
    for d in stage_defs.values_mut() {
        no_null(d);
    }
    // Each branch: the config's own table plus the keys every stage has.
    for e in registry.entries() {
        let name = match e.info.variant {
            Some(v) => format!("stage.{}.{}", e.info.type_name, v.value),
            None => format!("stage.{}", e.info.type_name),
        };
        let branch = match stage_defs.remove(&name) {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let mut branch = resolve(branch, &definitions);
        branch.insert("description".into(), json!(e.info.summary));
        let props = branch
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut all = Map::new();
        all.insert(
            "type".into(),
            json!({ "const": e.info.type_name, "description": "the stage type" }),
        );
        if let Some(v) = e.info.variant {
            all.insert(
                v.key.into(),
                json!({ "const": v.value, "description": format!("the variant of `{}`", e.info.type_name) }),
            );
        }
        if e.factory.role() != Role::Source {
            all.insert("inputs".into(), json!({ "$ref": "#/definitions/inputs" }));
            all.insert("queue".into(), json!({ "$ref": "#/definitions/queue" }));
        }
        all.extend(props);
        branch.insert("properties".into(), Value::Object(all));
        branch.insert("type".into(), json!("object"));
        // The table's own keys and the common ones, nothing else.
        branch.insert("additionalProperties".into(), json!(false));
        definitions.insert(name, Value::Object(branch));
    }
    definitions.insert(
        "inputs".into(),
        json!({
            "description": "the stages this one reads from (their ids); several = fan-in",
            "type": "array",
            "items": { "type": "string" },
            "minItems": 1,
        }),
    );
    definitions.insert("queue".into(), json!({
        "description": "this stage's input queue (defaults: 4 for frames, 32 for packets, 256 for events, `block`)",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "capacity": { "type": "integer", "minimum": 1, "description": "items the queue holds" },
            "policy": {
                "enum": ["block", "drop_oldest"],
                "description": "`block`: the sender waits, nothing is lost; `drop_oldest`: the oldest item is dropped and counted",
            },
        },
    }));
    definitions.insert("stage".into(), stage_schema(registry, branches));
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "edgeflow pipeline file",
        "description": "A pipeline: `[pipeline]` and one `[stages.<id>]` table per stage (see `edgeflow list-stages --verbose`).",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "pipeline": {
                "description": "the pipeline's name and the device id stamped on every event",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "name": { "type": "string", "description": "default: the file name" },
                    "device_id": { "type": "string", "description": "stamped on every event; default: the host name" },
                    "description": { "type": "string", "description": "free text" },
                },
            },
            "stages": {
                "description": "one table per stage; the table's name is the stage's id",
                "type": "object",
                "additionalProperties": { "$ref": "#/definitions/stage" },
            },
        },
        "definitions": definitions,
    });
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for (name, section) in sections {
            props.insert(name.into(), section);
        }
    }
    schema
}

/// The schema every stage table meets: a known `type`, the variant key that type needs, and
/// the branch of that type and variant.
fn stage_schema(registry: &Registry, mut branches: Vec<Value>) -> Value {
    let types = registry.type_names();
    for t in &types {
        let Some(key) = registry.variant_key(t) else {
            continue;
        };
        let values: Vec<&str> = registry
            .entries_of(t)
            .filter_map(|e| e.info.variant.map(|v| v.value))
            .collect();
        let mut then = json!({
            "properties": { key: { "enum": values, "description": format!("which `{t}`") } },
        });
        match registry.variant_default(t) {
            Some(d) => then["properties"][key]["default"] = json!(d),
            None => then["required"] = json!([key]),
        }
        branches.push(json!({
            "if": { "properties": { "type": { "const": t } }, "required": ["type"] },
            "then": then,
        }));
    }
    json!({
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": { "enum": types, "description": "the stage type (`edgeflow list-stages`)" },
        },
        "allOf": branches,
    })
}

/// Replace a top-level `$ref` with the definition it names, keeping the description.
fn resolve(mut branch: Map<String, Value>, definitions: &Map<String, Value>) -> Map<String, Value> {
    let Some(Value::String(r)) = branch.remove("$ref") else {
        return branch;
    };
    let name = r.trim_start_matches("#/definitions/");
    let mut def = match definitions.get(name) {
        Some(Value::Object(d)) => d.clone(),
        _ => Map::new(),
    };
    if let Some(d) = branch.remove("description") {
        def.entry("description").or_insert(d);
    }
    def
}

/// TOML has no null: a left-out key is how a file says "none". `Option<T>` becomes `T`, and
/// a `null` default goes.
fn no_null(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("default") == Some(&Value::Null) {
                m.remove("default");
            }
            if let Some(Value::Array(types)) = m.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    m.insert("type".into(), t);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(alts)) = m.get_mut(key) {
                    alts.retain(|a| a.get("type") != Some(&json!("null")));
                    if alts.len() == 1 {
                        let only = alts.remove(0);
                        m.remove(key);
                        if let Value::Object(o) = only {
                            for (k, x) in o {
                                m.entry(k).or_insert(x);
                            }
                        }
                    }
                }
            }
            if let Some(Value::Array(e)) = m.get_mut("enum") {
                e.retain(|x| !x.is_null());
            }
            m.values_mut().for_each(no_null);
        }
        Value::Array(a) => a.iter_mut().for_each(no_null),
        _ => {}
    }
}
