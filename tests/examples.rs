//! Every `list-stages --verbose` example is a complete pipeline that validates cleanly.

#[test]
fn every_stage_example_validates_without_warnings() {
    let registry = edgeflow::registry();
    assert!(!registry.entries().is_empty());
    for e in registry.entries() {
        let name = format!("example of {}", e.info.type_name);
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
