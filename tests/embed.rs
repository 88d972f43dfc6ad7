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
