//! `type = "publish"`: results out. Each `sink = "..."` is its own module; the brokers arrive
//! behind cargo features.

pub mod event;
pub mod jsonl;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod options;
pub mod select;
pub mod spool;
mod spooled;
#[cfg(any(feature = "mqtt", feature = "kafka"))]
mod status;
#[cfg(any(feature = "mqtt", feature = "webhook"))]
pub mod tls;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use event::{SCHEMA_VERSION, event_id, events};
pub use jsonl::{JsonLines, JsonLinesConfig};
