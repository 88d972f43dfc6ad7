//! `edgeflow schema`: the JSON Schema of pipeline files. Every shipped pipeline and every
//! `list-stages --verbose` example validates against it, it knows every field of every stage,
//! it catches what the loader catches at the key level (a typo, a wrong type, a missing
//! variant key), and `docs/pipeline.schema.json` is the one this build prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn schema() -> Value {
    edgeflow::pipeline_schema(&edgeflow::registry())
}

fn as_json(toml_text: &str) -> Value {
    let v: toml::Value = toml::from_str(toml_text).unwrap();
    serde_json::to_value(v).unwrap()
}

/// Every error the schema finds in `text`, as "path: message".
fn errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    validator
        .iter_errors(&as_json(text))
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft7::new(&schema()).expect("the schema is valid draft-07")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_shipped_pipeline_validates_against_the_schema() {
    let v = validator();
    let mut checked = 0;
    for dir in ["pipelines", "tests/fixtures/warn"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let p = entry.unwrap().path();
            if p.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Files for stages this build lacks are the loader's business, not the schema's.
            if !edgeflow::load_str(&edgeflow::registry(), "x.toml", &text, Path::new("."))
                .is_ok_and(|l| l.warnings.is_empty() || dir == "tests/fixtures/warn")
            {
                continue;
            }
            let e = errors(&v, &text);
            assert!(e.is_empty(), "{}: {e:#?}", p.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} files checked");
}

#[test]
fn every_example_validates_and_every_field_is_in_the_schema() {
    let registry = edgeflow::registry();
    let s = schema();
    let v = validator();
    for e in registry.entries() {
        let e_text = e.info.example;
        if !e_text.is_empty() {
            let errs = errors(&v, e_text);
            assert!(
                errs.is_empty(),
                "example of {}: {errs:#?}",
                e.info.type_name
            );
        }
        let name = match e.info.variant {
            Some(var) => format!("stage.{}.{}", e.info.type_name, var.value),
            None => format!("stage.{}", e.info.type_name),
        };
        let props = s["definitions"][&name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{name} has no properties"));
        for field in e.factory.fields() {
            let p = &props
                .get(*field)
                .unwrap_or_else(|| panic!("{name}: `{field}` is not in the schema"));
            assert!(
                p.get("description").is_some(),
                "{name}: `{field}` has no doc line: {p}"
            );
        }
        assert!(props.contains_key("type"), "{name}: type");
        if let Some(var) = e.info.variant {
            assert_eq!(props[var.key]["const"], var.value, "{name}");
        }
    }
}

#[test]
fn the_schema_catches_key_level_mistakes_in_the_right_stage() {
    let v = validator();
    let base = "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n";
    let e = errors(&v, &format!("{base}widht = 640\n"));
    assert!(
        e.iter()
            .any(|e| e.contains("/stages/cam") && e.contains("widht")),
        "{e:#?}"
    );
    let e = errors(&v, &format!("{base}width = \"640\"\n"));
    assert!(e.iter().any(|e| e.contains("/stages/cam/width")), "{e:#?}");
    let e = errors(&v, "[stages.cam]\ntype = \"capture\"\n");
    assert!(e.iter().any(|e| e.contains("source")), "{e:#?}");
    let e = errors(&v, "[stages.cam]\ntype = \"camera\"\n");
    assert!(e.iter().any(|e| e.contains("/stages/cam/type")), "{e:#?}");
    // A source has no inputs; a table inside a stage is checked too.
    let e = errors(&v, &format!("{base}inputs = [\"x\"]\n"));
    assert!(e.iter().any(|e| e.contains("inputs")), "{e:#?}");
    let e = errors(
        &v,
        "[stages.z]\ntype = \"zone\"\ninputs = [\"t\"]\ntotals = { persits = false }\n",
    );
    assert!(
        e.iter()
            .any(|e| e.contains("/stages/z/totals") && e.contains("persits")),
        "{e:#?}"
    );
    assert!(errors(&v, "[pipelin]\nname = \"x\"\n").len() == 1);
}

/// The checked-in copy for editors that point at the repository (`docs/editors.md`), from a
/// build with the default features.
#[cfg(all(
    feature = "gstreamer",
    feature = "ort",
    feature = "mqtt",
    feature = "kafka",
    feature = "webhook",
    feature = "tensorrt",
    feature = "hailo",
    feature = "rknn"
))]
#[test]
fn the_checked_in_schema_is_what_the_command_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let file = root().join("docs/pipeline.schema.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&file, &printed).unwrap();
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == printed,
        "docs/pipeline.schema.json is stale: run `UPDATE_GOLDEN=1 cargo test --test schema`"
    );
    let _: Value = serde_json::from_str(&printed).unwrap();
}

#[test]
fn schema_output_goes_to_a_file_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("s.json");
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["schema", "--output", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    assert_eq!(v["$id"], edgeflow::SCHEMA_ID);
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["schema", "--output", "/nonexistent/dir/s.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/dir/s.json"), "{stderr}");
}
