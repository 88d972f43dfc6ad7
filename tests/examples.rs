//! Every `list-stages --verbose` example is a complete pipeline that validates cleanly.
//!
//! The board backends' examples name `.hef` and `.rknn` files, which are made per board and
//! not fetched here: the examples are validated from a folder whose `assets/` is the
//! project's plus stand-ins for those (validation checks that the files are there; the
//! backends' own tests load real-format stand-ins through the fake vendor libraries), and
//! `pipelines/` (the replay source's example reads a shipped recording).

use std::path::Path;

fn stand_in_assets(dir: &Path) {
    // The replay source's example reads a recording shipped under `pipelines/`.
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines"),
        dir.join("pipelines"),
    )
    .unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let models = dir.join("assets/models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in std::fs::read_dir(&root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "models" {
            std::os::unix::fs::symlink(entry.path(), dir.join("assets").join(entry.file_name()))
                .unwrap();
        }
    }
    for entry in std::fs::read_dir(root.join("models")).unwrap() {
        let entry = entry.unwrap();
        std::os::unix::fs::symlink(entry.path(), models.join(entry.file_name())).unwrap();
    }
    let registry = edgeflow::registry();
    for e in registry.entries() {
        for word in e.info.example.split('"') {
            let p = Path::new(word);
            if word.starts_with("assets/models/")
                && matches!(p.extension().and_then(|x| x.to_str()), Some("hef" | "rknn"))
                && !dir.join(p).exists()
            {
                std::fs::write(dir.join(p), b"a stand-in for a board's model").unwrap();
            }
        }
    }
}

#[test]
fn every_stage_example_validates_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    stand_in_assets(dir.path());
    // This binary's only test: changing its working folder affects nothing else.
    std::env::set_current_dir(dir.path()).unwrap();
    let registry = edgeflow::registry();
    assert!(!registry.entries().is_empty());
    for e in registry.entries() {
        let name = format!(
            "example of {}{}",
            e.info.type_name,
            e.info
                .variant
                .map(|v| format!(" ({} = \"{}\")", v.key, v.value))
                .unwrap_or_default()
        );
        match edgeflow::load_str(&registry, &name, e.info.example, ".".as_ref()) {
            Ok(loaded) => assert!(
                loaded.warnings.is_empty(),
                "{}",
                loaded.warnings.render(false)
            ),
            Err(d) => panic!("{}", d.render(false)),
        }
    }
}
