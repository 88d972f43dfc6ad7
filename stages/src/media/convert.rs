//! Samples as frames and packets, sharing the GStreamer buffer (no pixel copy).

use bytes::Bytes;
use edgeflow_core::{Frame, Meta, Packet, PixelFormat, Plane};
use gstreamer as gst;
use gstreamer_video as gst_video;

use super::error::MediaError;

/// A decoded sample as a [`Frame`], sharing the GStreamer buffer (no pixel copy), read
/// through the buffer's own plane offsets and strides.
pub fn sample_to_frame(
    sample: &gst::Sample,
    meta: Meta,
    format: PixelFormat,
) -> Result<Frame, MediaError> {
    let caps = sample
        .caps()
        .ok_or_else(|| MediaError::new("a frame without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps)
        .map_err(|e| MediaError::new(format!("unreadable video caps {caps}: {e}")))?;
    let buffer = sample
        .buffer_owned()
        .ok_or_else(|| MediaError::new("a sample without a buffer"))?;
    let (offsets, strides): (Vec<usize>, Vec<i32>) = match buffer.meta::<gst_video::VideoMeta>() {
        Some(vm) => (vm.offset().to_vec(), vm.stride().to_vec()),
        None => (info.offset().to_vec(), info.stride().to_vec()),
    };
    let planes = offsets
        .into_iter()
        .zip(strides)
        .map(|(offset, stride)| Plane {
            offset,
            stride: usize::try_from(stride).unwrap_or(0),
        })
        .collect();
    let map = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| MediaError::new("cannot map a frame buffer"))?;
    Frame::new(
        meta,
        info.width(),
        info.height(),
        format,
        planes,
        Bytes::from_owner(map),
    )
    .map_err(|e| MediaError::new(format!("bad frame layout: {e}")))
}

/// An encoded sample as a [`Packet`] (no copy).
pub fn sample_to_packet(sample: &gst::Sample, meta: Meta) -> Result<Packet, MediaError> {
    let caps = sample
        .caps()
        .map(|c| c.to_string())
        .unwrap_or_else(|| "video/unknown".into());
    let buffer = sample
        .buffer_owned()
        .ok_or_else(|| MediaError::new("a sample without a buffer"))?;
    let key_frame = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
    let map = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| MediaError::new("cannot map a packet buffer"))?;
    Ok(Packet {
        meta,
        caps: caps.into(),
        data: Bytes::from_owner(map),
        key_frame,
    })
}

/// The presentation time of a sample's buffer in nanoseconds.
pub fn sample_pts_ns(sample: &gst::Sample) -> Option<u64> {
    sample.buffer().and_then(|b| b.pts()).map(|t| t.nseconds())
}
