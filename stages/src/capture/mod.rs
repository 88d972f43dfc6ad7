//! `type = "capture"`: where frames come from. Each `source = "..."` is its own module.

pub mod test_pattern;

pub use test_pattern::{TestPattern, TestPatternConfig};
