//! The pixel formats a media stage delivers.

use edgeflow_core::PixelFormat;
use serde::Deserialize;

/// Pixel formats a media stage can deliver.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// Packed RGB (the default; what detectors want).
    #[default]
    Rgb,
    /// Packed BGR.
    Bgr,
    /// Semi-planar YUV 4:2:0, as most decoders produce it (no conversion).
    Nv12,
    /// Planar YUV 4:2:0 (no conversion after software decoders).
    I420,
    /// 8-bit luma.
    Gray,
}

impl OutputFormat {
    /// The edgeflow pixel format.
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            OutputFormat::Rgb => PixelFormat::Rgb,
            OutputFormat::Bgr => PixelFormat::Bgr,
            OutputFormat::Nv12 => PixelFormat::Nv12,
            OutputFormat::I420 => PixelFormat::I420,
            OutputFormat::Gray => PixelFormat::Gray,
        }
    }

    pub(super) fn gst_name(self) -> &'static str {
        match self {
            OutputFormat::Rgb => "RGB",
            OutputFormat::Bgr => "BGR",
            OutputFormat::Nv12 => "NV12",
            OutputFormat::I420 => "I420",
            OutputFormat::Gray => "GRAY8",
        }
    }
}
