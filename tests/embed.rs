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
}
