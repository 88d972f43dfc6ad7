//! `type = "capture"`: where frames come from. Each `source = "..."` is its own module.

#[cfg(feature = "gstreamer")]
pub mod file;
#[cfg(feature = "gstreamer")]
pub mod images;
mod pace;
#[cfg(feature = "gstreamer")]
pub mod rtsp;
pub mod test_pattern;
#[cfg(feature = "gstreamer")]
pub mod v4l2;

pub use test_pattern::{TestPattern, TestPatternConfig};
