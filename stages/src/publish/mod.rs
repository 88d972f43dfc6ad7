//! `type = "publish"`: results out. Each `sink = "..."` is its own module; the brokers arrive
//! behind cargo features.

pub mod jsonl;

pub use jsonl::{JsonLines, JsonLinesConfig, to_json};
