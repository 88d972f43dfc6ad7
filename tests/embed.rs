//! `examples/embed.rs` runs as part of the tests.

#[path = "../examples/embed.rs"]
mod embed;

#[test]
fn the_embedding_example_runs_and_reads_events() {
    let seen = embed::run().unwrap();
    assert_eq!(seen.messages, 50);
    // Five rectangles of at least 1/10 × 1/5 of the frame, some partly hidden: the custom
    // stage keeps some and drops others.
    assert!(seen.objects > 0 && seen.objects < 250, "{seen:?}");
    // The change landed mid-stream and applied from the next frame on.
    assert!(
        seen.changed_after >= 19 && seen.changed_after < 49,
        "{seen:?}"
    );
    assert_eq!(seen.objects_after_change, 0, "{seen:?}");
}

/// A program that returns load errors with `?` shows the diagnostics as the CLI renders them,
/// not a Debug-escaped string.
#[test]
fn load_errors_print_as_rendered_diagnostics() {
    let bad = "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nfsp = 10\n";
    let err: Box<dyn std::error::Error> =
        match edgeflow::load_str(&edgeflow::registry(), "bad.toml", bad, ".".as_ref()) {
            Ok(_) => panic!("an unknown field must not load"),
            Err(d) => d.into(),
        };
    let shown = format!("{err:?}");
    assert!(shown.contains("unknown field `fsp`"), "{shown}");
    assert!(shown.contains("\n  ┌─ bad.toml:4:1"), "{shown}");
    assert!(!shown.contains("\\n"), "escaped: {shown}");
}
