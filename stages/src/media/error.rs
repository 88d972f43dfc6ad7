//! Media errors that say what to do, and the Debian package that has a missing plugin.

use edgeflow_core::{BuildError, StageError};

/// A media problem with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct MediaError {
    /// What went wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl MediaError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        MediaError {
            message: message.into(),
            help: None,
        }
    }

    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

impl From<MediaError> for BuildError {
    fn from(e: MediaError) -> Self {
        let help = e.help.clone();
        let b = BuildError::new(e.message);
        match help {
            Some(h) => b.with_help(h),
            None => b,
        }
    }
}

impl MediaError {
    /// As a stage error: the message with its help appended.
    pub(crate) fn into_stage(self, fatal: bool) -> StageError {
        let text = match &self.help {
            Some(h) => format!("{} (help: {h})", self.message),
            None => self.message,
        };
        if fatal {
            StageError::fatal(text)
        } else {
            StageError::transient(text)
        }
    }
}

/// The Debian package and element that decode a media type, for "missing plugin" errors.
pub fn plugin_for(media_type: &str) -> (&'static str, &'static str) {
    match media_type {
        "video/x-h264" => ("avdec_h264", "gstreamer1.0-libav"),
        "video/x-h265" => ("avdec_h265", "gstreamer1.0-libav"),
        "video/x-msmpeg" | "video/mpeg" | "video/x-divx" | "video/x-xvid" | "video/x-h263" => {
            ("avdec_* (libav)", "gstreamer1.0-libav")
        }
        "image/jpeg" => ("jpegdec", "gstreamer1.0-plugins-good"),
        "image/png" => ("pngdec", "gstreamer1.0-plugins-good"),
        "video/x-vp8" | "video/x-vp9" => ("vp8dec / vp9dec", "gstreamer1.0-plugins-good"),
        "video/x-av1" => ("dav1ddec", "gstreamer1.0-plugins-bad"),
        "video/quicktime" | "video/x-matroska" | "video/x-msvideo" | "video/webm" => {
            ("the demuxer", "gstreamer1.0-plugins-good")
        }
        "video/mpegts" => ("tsdemux", "gstreamer1.0-plugins-bad"),
        "application/x-rtp" => ("the RTP depayloader", "gstreamer1.0-plugins-good"),
        _ => ("a decoder", "gstreamer1.0-libav"),
    }
}

pub(crate) fn missing_plugin_error(detail: &str) -> MediaError {
    let media_type = detail.split(',').next().unwrap_or(detail).trim();
    let (element, package) = plugin_for(media_type);
    MediaError::new(format!(
        "no GStreamer decoder for {media_type} is installed (the stream is {detail})"
    ))
    .help(format!(
        "install {package} (it has {element}): apt-get install {package}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_plugin_names_package() {
        let e = missing_plugin_error("video/x-h265, stream-format=(string)byte-stream");
        assert!(e.message.contains("video/x-h265"));
        assert!(
            e.help
                .unwrap()
                .contains("apt-get install gstreamer1.0-libav")
        );
        assert_eq!(plugin_for("image/jpeg").1, "gstreamer1.0-plugins-good");
    }
}
