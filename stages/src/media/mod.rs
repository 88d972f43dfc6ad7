//! GStreamer plumbing shared by the media stages: pipelines that end in an `appsink`, decoder
//! choice, frames read through their plane strides without copying, and errors that name the
//! missing plugin and the Debian package that has it.
//!
//! Rooms: [`error`] (errors with help, plugin packages), [`format`] (pixel formats),
//! [`decoder`] (decoder choice), [`pipeline`] (a running GStreamer pipeline), [`convert`]
//! (samples to frames and packets).

mod convert;
mod decoder;
mod error;
mod format;
mod pipeline;
mod truncation;

use std::sync::OnceLock;

use gstreamer as gst;

pub use convert::{sample_pts_ns, sample_to_frame, sample_to_packet};
pub use decoder::{DecoderChoice, HARDWARE_DECODERS};
pub use error::{MediaError, plugin_for};
pub use format::OutputFormat;
pub use pipeline::{FrameOpts, Head, PULL_TIMEOUT, Pulled, Running};
pub use truncation::cut_short;

/// Initialise GStreamer once per process.
pub fn init() -> Result<(), MediaError> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| gst::init().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| {
            MediaError::new(format!("cannot initialise GStreamer: {e}"))
                .help("install GStreamer 1.22 or newer (scripts/setup.sh lists the packages)")
        })
}
