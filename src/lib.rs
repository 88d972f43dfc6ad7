//! # edgeflow
//!
//! Declarative video analytics pipelines for edge boards. A TOML file describes typed stages
//! (capture → decode → detect → track → zone → publish) joined by bounded queues; edgeflow
//! checks it, reports every problem at once, and runs one thread per stage.
//!
//! This crate is the facade that embedding programs depend on: it re-exports
//! [`edgeflow_core`] (messages, stage traits, config loading, runtime) and
//! [`edgeflow_stages`] (the built-in stage types), and adds [`registry()`].
//!
//! ```
//! use edgeflow::{Pipeline, QueuePolicy, RunOptions};
//!
//! let toml = r#"
//! [stages.cam]
//! type = "capture"
//! source = "test_pattern"
//! count = 5
//!
//! [stages.det]
//! type = "detect"
//! backend = "mock"
//! inputs = ["cam"]
//!
//! [stages.out]
//! type = "publish"
//! sink = "jsonl"
//! path = "/dev/null"
//! inputs = ["det"]
//! "#;
//! let loaded = edgeflow::load_str(&edgeflow::registry(), "inline.toml", toml, ".".as_ref())
//!     .map_err(|d| d.render(false))
//!     .unwrap();
//! let mut pipeline = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
//! let events = pipeline.subscribe("det", 16, QueuePolicy::Block).unwrap();
//! let handle = pipeline.start().unwrap();
//! assert_eq!(events.iter().count(), 5);
//! assert!(handle.wait().failure.is_none());
//! ```
//!
//! `examples/embed.rs` is a complete program that also adds a stage type of its own.
#![deny(missing_docs)]

pub use edgeflow_core;
pub use edgeflow_core::*;
pub use edgeflow_stages;

#[cfg(feature = "server")]
pub use edgeflow_server;

/// The registry of every stage type built into this binary (see [`edgeflow_stages::registry`]),
/// and the `[server]` section when the binary has the edge HTTP service.
pub fn registry() -> Registry {
    let mut r = edgeflow_stages::registry();
    #[cfg(feature = "server")]
    r.section::<edgeflow_server::ServerConfig>();
    #[cfg(not(feature = "server"))]
    r.section_not_compiled("server", "server");
    r
}
