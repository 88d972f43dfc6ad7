//! `type = "capture"`: where frames come from. Each `source = "..."` is its own module.

#[cfg(feature = "gstreamer")]
pub mod file;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "gstreamer")]
pub mod images;
mod pace;
pub mod replay;
#[cfg(feature = "gstreamer")]
pub mod rtsp;
pub mod test_pattern;
#[cfg(feature = "gstreamer")]
pub mod v4l2;

pub use test_pattern::{TestPattern, TestPatternConfig};

use edgeflow_core::{SourceEvent, StageError, StopSignal};

/// `Source::next` for a source that implements `next_event`: the next item, skipping status
/// reports and idle turns; `None` at end of stream or once a stop was asked for.
pub(crate) fn next_item<T>(
    stop: &StopSignal,
    mut next_event: impl FnMut() -> Result<SourceEvent<T>, StageError>,
) -> Result<Option<T>, StageError> {
    loop {
        match next_event()? {
            SourceEvent::Item(item) => return Ok(Some(item)),
            SourceEvent::Status(_) | SourceEvent::Idle if !stop.is_stopped() => {}
            _ => return Ok(None),
        }
    }
}
