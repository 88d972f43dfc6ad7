//! The messages that travel on pipeline edges.
//!
//! Every message carries a [`Meta`]: the `stream_id`, `seq` and `pts_ns` of the frame it came
//! from, so several cameras can share one graph and every event points back to its frame.
//! [`Frame`] pixels live in a reference-counted [`Bytes`] buffer: cloning a frame (fan-out to
//! several stages) never copies pixels.

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use serde::Serialize;

/// Where a message came from: stream, frame number and presentation time.
#[derive(Clone, Debug)]
pub struct Meta {
    /// The stream (camera) this message belongs to.
    pub stream_id: Arc<str>,
    /// Frame sequence number within the stream, starting at 0.
    pub seq: u64,
    /// Presentation timestamp of the frame, in nanoseconds of stream time.
    pub pts_ns: u64,
    /// Wall-clock time at which the frame entered the pipeline (event `timestamp`).
    pub timestamp: SystemTime,
    /// Monotonic time at which the frame entered the pipeline (end-to-end latency).
    pub captured_at: Instant,
    /// The file the frame came from, for sources that read several (`images`): events carry
    /// it as `file`.
    pub file: Option<Arc<str>>,
    /// When the message was last put on an edge's queue (the runtime stamps it): the reader's
    /// queue wait is the time from here to when it takes the message.
    pub queued_at: Instant,
}

impl Meta {
    /// A meta stamped with the current time.
    pub fn now(stream_id: Arc<str>, seq: u64, pts_ns: u64) -> Self {
        let now = Instant::now();
        Meta {
            stream_id,
            seq,
            pts_ns,
            timestamp: SystemTime::now(),
            captured_at: now,
            file: None,
            queued_at: now,
        }
    }

    /// The wall-clock timestamp as RFC 3339 UTC with milliseconds.
    pub fn timestamp_rfc3339(&self) -> String {
        humantime::format_rfc3339_millis(self.timestamp).to_string()
    }
}

/// The kind of message a port carries. Edges are checked against these before anything runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortKind {
    /// Encoded video ([`Packet`]).
    Packet,
    /// Decoded pixels ([`Frame`]).
    Frame,
    /// Object detections of one frame ([`Detections`]).
    Detections,
    /// Tracked objects of one frame ([`Tracks`]).
    Tracks,
    /// Zone and line events of one frame ([`ZoneEvents`]).
    ZoneEvents,
    /// Any of the above (inputs only: a sink that takes every kind).
    Any,
    /// A stream status report: not an edge type; it passes through every stage to the sinks.
    Status,
}

impl PortKind {
    /// Whether a port taking `self` accepts messages of kind `produced`.
    pub fn accepts(self, produced: PortKind) -> bool {
        self == PortKind::Any || self == produced
    }

    /// The name used in configs, diagnostics and docs.
    pub fn name(self) -> &'static str {
        match self {
            PortKind::Packet => "Packet",
            PortKind::Frame => "Frame",
            PortKind::Detections => "Detections",
            PortKind::Tracks => "Tracks",
            PortKind::ZoneEvents => "ZoneEvents",
            PortKind::Any => "any",
            PortKind::Status => "StreamStatus",
        }
    }
}

impl fmt::Display for PortKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Encoded video: one access unit with the codec caps that describe it.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Stream, sequence and time of this packet.
    pub meta: Meta,
    /// Codec caps, e.g. `video/x-h264, stream-format=byte-stream`.
    pub caps: Arc<str>,
    /// The encoded bytes (reference counted).
    pub data: Bytes,
    /// Whether this packet starts a decodable picture (key frame).
    pub key_frame: bool,
}

/// Pixel layout of a [`Frame`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PixelFormat {
    /// Packed 8-bit R, G, B.
    Rgb,
    /// Packed 8-bit B, G, R.
    Bgr,
    /// 8-bit luma only.
    Gray,
    /// Planar Y then interleaved UV at half resolution.
    Nv12,
    /// Planar Y, U, V; chroma at half resolution.
    I420,
}

impl PixelFormat {
    /// Number of planes.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::Rgb | PixelFormat::Bgr | PixelFormat::Gray => 1,
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
        }
    }

    /// Width in bytes and height in rows of plane `index` for a `width` × `height` image.
    pub fn plane_size(self, index: usize, width: u32, height: u32) -> (usize, usize) {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match (self, index) {
            (PixelFormat::Rgb | PixelFormat::Bgr, _) => (w * 3, h),
            (PixelFormat::Gray, _) => (w, h),
            (PixelFormat::Nv12 | PixelFormat::I420, 0) => (w, h),
            (PixelFormat::Nv12, _) => (cw * 2, ch),
            (PixelFormat::I420, _) => (cw, ch),
        }
    }
}

/// One plane of a frame inside its buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plane {
    /// Byte offset of the plane's first row in the frame buffer.
    pub offset: usize,
    /// Bytes from the start of one row to the start of the next (may exceed the row width).
    pub stride: usize,
}

/// Why a frame could not be made from a buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The planes do not match the pixel format.
    #[error("{format:?} needs {expected} planes, got {got}")]
    PlaneCount {
        /// The pixel format.
        format: PixelFormat,
        /// Planes the format needs.
        expected: usize,
        /// Planes given.
        got: usize,
    },
    /// A plane's stride is smaller than its row.
    #[error("plane {plane}: stride {stride} is smaller than a row of {row} bytes")]
    Stride {
        /// Plane index.
        plane: usize,
        /// Given stride.
        stride: usize,
        /// Row width in bytes.
        row: usize,
    },
    /// The buffer ends before a plane does.
    #[error("plane {plane} needs {needed} bytes of buffer, the buffer has {len}")]
    Short {
        /// Plane index.
        plane: usize,
        /// Bytes needed up to the end of the plane.
        needed: usize,
        /// Buffer length.
        len: usize,
    },
}

/// Decoded pixels in a reference-counted buffer, read through per-plane strides.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Stream, sequence and time of this frame.
    pub meta: Meta,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel layout.
    pub format: PixelFormat,
    planes: Vec<Plane>,
    data: Bytes,
}

impl Frame {
    /// A frame from a buffer with the given planes; checks that every plane fits.
    pub fn new(
        meta: Meta,
        width: u32,
        height: u32,
        format: PixelFormat,
        planes: Vec<Plane>,
        data: Bytes,
    ) -> Result<Self, FrameError> {
        if planes.len() != format.plane_count() {
            return Err(FrameError::PlaneCount {
                format,
                expected: format.plane_count(),
                got: planes.len(),
            });
        }
        for (i, p) in planes.iter().enumerate() {
            let (row, rows) = format.plane_size(i, width, height);
            if p.stride < row {
                return Err(FrameError::Stride {
                    plane: i,
                    stride: p.stride,
                    row,
                });
            }
            let needed = if rows == 0 {
                p.offset
            } else {
                p.offset + p.stride * (rows - 1) + row
            };
            if needed > data.len() {
                return Err(FrameError::Short {
                    plane: i,
                    needed,
                    len: data.len(),
                });
            }
        }
        Ok(Frame {
            meta,
            width,
            height,
            format,
            planes,
            data,
        })
    }

    /// A frame whose planes are packed one after another with no row padding.
    pub fn packed(
        meta: Meta,
        width: u32,
        height: u32,
        format: PixelFormat,
        data: Bytes,
    ) -> Result<Self, FrameError> {
        let mut planes = Vec::with_capacity(format.plane_count());
        let mut offset = 0;
        for i in 0..format.plane_count() {
            let (row, rows) = format.plane_size(i, width, height);
            planes.push(Plane {
                offset,
                stride: row,
            });
            offset += row * rows;
        }
        Frame::new(meta, width, height, format, planes, data)
    }

    /// The planes' offsets and strides.
    pub fn planes(&self) -> &[Plane] {
        &self.planes
    }

    /// The whole buffer (shared, never copied by cloning the frame).
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Row `y` of plane `plane`, exactly as wide as the row's pixels (padding cut off).
    /// `None` when the plane or row does not exist.
    pub fn row(&self, plane: usize, y: usize) -> Option<&[u8]> {
        let p = self.planes.get(plane)?;
        let (row, rows) = self.format.plane_size(plane, self.width, self.height);
        if y >= rows {
            return None;
        }
        let start = p.offset + p.stride * y;
        self.data.get(start..start + row)
    }
}

/// An axis-aligned box in coordinates normalised to 0..1 of the frame (x, y = top-left).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct BBox {
    /// Left edge, 0..1 of the frame width.
    #[serde(rename = "xmin")]
    pub x: f32,
    /// Top edge, 0..1 of the frame height.
    #[serde(rename = "ymin")]
    pub y: f32,
    /// Width, 0..1 of the frame width.
    pub width: f32,
    /// Height, 0..1 of the frame height.
    pub height: f32,
}

impl BBox {
    /// Intersection over union with another box (0 when either is empty).
    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.width).min(other.x + other.width);
        let y2 = (self.y + self.height).min(other.y + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.width * self.height + other.width * other.height - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }

    /// Centre point (x, y).
    pub fn center(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }
}

/// One detected object.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Class index in the model's label list.
    pub class_id: u32,
    /// Class label, e.g. `person`.
    pub label: Arc<str>,
    /// Confidence 0..1.
    pub score: f32,
    /// Where it is.
    pub bbox: BBox,
    /// Landmarks (face: eyes, nose, mouth, ears), normalised like the box; often none.
    pub keypoints: Vec<[f32; 2]>,
}

/// The detections of one frame.
#[derive(Clone, Debug)]
pub struct Detections {
    /// The frame these detections belong to (published by the envelope, not here).
    pub meta: Meta,
    /// Width of the analysed frame in pixels.
    pub frame_width: u32,
    /// Height of the analysed frame in pixels.
    pub frame_height: u32,
    /// The objects found (possibly none).
    pub detections: Vec<Detection>,
    /// The frame was not analysed (`every_nth_frame`): no detections does not mean nothing
    /// is there. Trackers keep their tracks through such frames.
    pub skipped: bool,
    /// The detector finds faces (its labels include `face`): events carry `faces`, empty or
    /// not, the way they always carry `detections`.
    pub face_model: bool,
}

impl Detections {
    /// A frame that was analysed and showed nothing.
    pub fn nothing(frame: &Frame) -> Self {
        Detections {
            skipped: false,
            ..Detections::skipped(frame)
        }
    }

    /// The marker for a frame that was not analysed (`every_nth_frame`).
    pub fn skipped(frame: &Frame) -> Self {
        Detections {
            meta: frame.meta.clone(),
            frame_width: frame.width,
            frame_height: frame.height,
            detections: Vec::new(),
            skipped: true,
            face_model: false,
        }
    }
}

/// One tracked object.
#[derive(Clone, Debug, PartialEq)]
pub struct Track {
    /// Identity that stays with the object across frames.
    pub track_id: u64,
    /// The detection this track matched in this frame: its label and score, and its box
    /// (the tracker's prediction when `lost_frames` > 0 or the frame was skipped).
    pub detection: Detection,
    /// Frames since the track was born.
    pub age_frames: u64,
    /// Analysed frames since the track was last matched: 0 for a track seen in this frame;
    /// above 0 only for a lost track the tracker keeps reporting (`report_lost_frames`).
    /// Zones leave such tracks out: nothing was seen there.
    pub lost_frames: u32,
}

/// The tracked objects of one frame.
#[derive(Clone, Debug)]
pub struct Tracks {
    /// The frame these tracks belong to (published by the envelope, not here).
    pub meta: Meta,
    /// Width of the analysed frame in pixels.
    pub frame_width: u32,
    /// Height of the analysed frame in pixels.
    pub frame_height: u32,
    /// Confirmed tracks visible in this frame.
    pub tracks: Vec<Track>,
    /// The detections came from a face model (see [`Detections::face_model`]).
    pub face_model: bool,
}

/// What happened at a zone or line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneEventKind {
    /// A track entered a zone.
    Enter,
    /// A track left a zone.
    Exit,
    /// A track has stayed in a zone for the dwell threshold.
    Dwell,
    /// A track crossed a line.
    LineCross,
}

/// One zone or line event.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneEvent {
    /// The zone or line id from the config.
    pub zone_id: Arc<str>,
    /// What happened.
    pub event_type: ZoneEventKind,
    /// The track it happened to.
    pub track_id: u64,
    /// The track's class label.
    pub label: Arc<str>,
    /// Crossing direction for lines (`in` / `out`).
    pub direction: Option<Arc<str>>,
    /// Seconds spent in the zone (exit and dwell events).
    pub dwell_s: Option<f64>,
    /// The zone's or line's running totals after this event (the zone stage sets them).
    pub totals: Option<Totals>,
}

/// Running totals of one zone or line in one stream, since counting started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Totals {
    /// What has been counted.
    pub counts: Counts,
    /// When counting started (kept across restarts and reconfigures).
    pub since: SystemTime,
}

/// The counts of a zone or a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counts {
    /// A counting line: crossings towards its `in` side and away from it.
    Line {
        /// Crossings towards `in_side`.
        inward: u64,
        /// Crossings the other way.
        outward: u64,
    },
    /// A zone: entries and exits so far, and the tracks inside now.
    Zone {
        /// `enter` events so far.
        entries: u64,
        /// `exit` events so far.
        exits: u64,
        /// Tracks inside after this frame.
        occupancy: u32,
    },
}

/// The zone events and occupancy of one frame.
#[derive(Clone, Debug)]
pub struct ZoneEvents {
    /// The frame these events belong to (published by the envelope, not here).
    pub meta: Meta,
    /// Events in this frame (possibly none).
    pub events: Vec<ZoneEvent>,
    /// Tracks inside each zone after this frame, by zone id.
    pub occupancy: Vec<(Arc<str>, u32)>,
}

/// The state of a live stream, as its source reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Opening the connection.
    Connecting,
    /// Frames are arriving.
    Live,
    /// No frame arrived within the stall timeout.
    Stalled,
    /// Waiting before the next connection attempt.
    Reconnecting,
    /// The source has stopped for good.
    Ended,
}

impl StreamState {
    /// The state's name in reports and events (`live`, `reconnecting`).
    pub fn name(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Stalled => "stalled",
            StreamState::Reconnecting => "reconnecting",
            StreamState::Ended => "ended",
        }
    }
}

/// A stream status report. Every stage passes it on untouched, so publishers can send it.
#[derive(Clone, Debug)]
pub struct StreamStatus {
    /// The stream, and the last frame seen before this report (`seq`, `pts_ns`).
    pub meta: Meta,
    /// The new state.
    pub state: StreamState,
    /// Connection attempt number since the stream was last live (0 when live).
    pub attempt: u32,
    /// Why (an error message, the wait before reconnecting).
    pub detail: Option<String>,
}

/// Any message, as it travels on an edge.
#[derive(Clone, Debug)]
pub enum Message {
    /// Encoded video.
    Packet(Packet),
    /// Decoded pixels.
    Frame(Frame),
    /// Detections of one frame.
    Detections(Detections),
    /// Tracks of one frame.
    Tracks(Tracks),
    /// Zone events of one frame.
    ZoneEvents(ZoneEvents),
    /// A stream status report (passes through every stage).
    Status(StreamStatus),
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> PortKind {
        match self {
            Message::Packet(_) => PortKind::Packet,
            Message::Frame(_) => PortKind::Frame,
            Message::Detections(_) => PortKind::Detections,
            Message::Tracks(_) => PortKind::Tracks,
            Message::ZoneEvents(_) => PortKind::ZoneEvents,
            Message::Status(_) => PortKind::Status,
        }
    }

    /// Stream, sequence and time of the message.
    pub fn meta(&self) -> &Meta {
        match self {
            Message::Packet(m) => &m.meta,
            Message::Frame(m) => &m.meta,
            Message::Detections(m) => &m.meta,
            Message::Tracks(m) => &m.meta,
            Message::ZoneEvents(m) => &m.meta,
            Message::Status(m) => &m.meta,
        }
    }

    /// The envelope, to change it (the runtime renumbers a rebuilt source's stream).
    pub fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Message::Packet(m) => &mut m.meta,
            Message::Frame(m) => &mut m.meta,
            Message::Detections(m) => &mut m.meta,
            Message::Tracks(m) => &mut m.meta,
            Message::ZoneEvents(m) => &mut m.meta,
            Message::Status(m) => &mut m.meta,
        }
    }
}

/// A type that can travel on an edge: one [`Message`] variant, or `Message` itself (any kind).
pub trait Port: Sized + Send + 'static {
    /// The kind this type carries.
    const KIND: PortKind;
    /// Wrap into a [`Message`].
    fn into_message(self) -> Message;
    /// Unwrap from a [`Message`]; gives the message back when it is another kind.
    // The message comes back by value: boxing it would allocate on a path that only a wiring
    // bug can take.
    #[allow(clippy::result_large_err)]
    fn from_message(message: Message) -> Result<Self, Message>;
}

macro_rules! port {
    ($ty:ident) => {
        impl Port for $ty {
            const KIND: PortKind = PortKind::$ty;
            fn into_message(self) -> Message {
                Message::$ty(self)
            }
            fn from_message(message: Message) -> Result<Self, Message> {
                match message {
                    Message::$ty(m) => Ok(m),
                    other => Err(other),
                }
            }
        }
    };
}
port!(Packet);
port!(Frame);
port!(Detections);
port!(Tracks);
port!(ZoneEvents);

impl Port for Message {
    const KIND: PortKind = PortKind::Any;
    fn into_message(self) -> Message {
        self
    }
    fn from_message(message: Message) -> Result<Self, Message> {
        Ok(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta::now("s".into(), 0, 0)
    }

    #[test]
    fn packed_rgb_rows() {
        let data: Vec<u8> = (0..2 * 3 * 2).map(|v| v as u8).collect();
        let f = Frame::packed(meta(), 2, 2, PixelFormat::Rgb, data.into()).unwrap();
        assert_eq!(f.row(0, 1).unwrap(), &[6, 7, 8, 9, 10, 11]);
        assert!(f.row(0, 2).is_none());
        assert!(f.row(1, 0).is_none());
    }

    #[test]
    fn strided_rows_skip_padding() {
        // 2x2 gray with 4-byte stride: rows are [0,1] and [4,5].
        let data = Bytes::from(vec![0u8, 1, 99, 99, 4, 5, 99, 99]);
        let planes = vec![Plane {
            offset: 0,
            stride: 4,
        }];
        let f = Frame::new(meta(), 2, 2, PixelFormat::Gray, planes, data).unwrap();
        assert_eq!(f.row(0, 1).unwrap(), &[4, 5]);
    }

    #[test]
    fn frame_errors() {
        let short = Frame::packed(meta(), 4, 4, PixelFormat::Rgb, Bytes::from(vec![0u8; 10]));
        assert!(matches!(short, Err(FrameError::Short { .. })));
        let planes = vec![Plane {
            offset: 0,
            stride: 1,
        }];
        let narrow = Frame::new(meta(), 2, 2, PixelFormat::Gray, planes, vec![0u8; 4].into());
        assert!(matches!(narrow, Err(FrameError::Stride { .. })));
        let count = Frame::new(meta(), 2, 2, PixelFormat::I420, vec![], vec![0u8; 6].into());
        assert!(matches!(count, Err(FrameError::PlaneCount { .. })));
    }

    #[test]
    fn i420_packed_layout() {
        let f = Frame::packed(meta(), 4, 2, PixelFormat::I420, vec![0u8; 12].into()).unwrap();
        assert_eq!(
            f.planes()[1],
            Plane {
                offset: 8,
                stride: 2
            }
        );
        assert_eq!(
            f.planes()[2],
            Plane {
                offset: 10,
                stride: 2
            }
        );
    }

    #[test]
    fn clone_shares_pixels() {
        let f = Frame::packed(meta(), 1, 1, PixelFormat::Rgb, vec![1u8, 2, 3].into()).unwrap();
        let g = f.clone();
        assert_eq!(f.data().as_ptr(), g.data().as_ptr());
    }

    #[test]
    fn iou() {
        let a = BBox {
            x: 0.0,
            y: 0.0,
            width: 0.5,
            height: 0.5,
        };
        let b = BBox {
            x: 0.25,
            y: 0.0,
            width: 0.5,
            height: 0.5,
        };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(
            a.iou(&BBox {
                x: 0.9,
                y: 0.9,
                width: 0.1,
                height: 0.1
            }),
            0.0
        );
    }

    #[test]
    fn port_round_trip_and_mismatch() {
        let d = Detections {
            meta: meta(),
            frame_width: 1,
            frame_height: 1,
            detections: vec![],
            skipped: false,
            face_model: false,
        };
        let m = d.into_message();
        assert_eq!(m.kind(), PortKind::Detections);
        let back = Frame::from_message(m);
        assert!(back.is_err());
        assert!(PortKind::Any.accepts(PortKind::Frame));
        assert!(!PortKind::Frame.accepts(PortKind::Detections));
    }
}
