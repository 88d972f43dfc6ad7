//! The fields of each event kind.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `kind` and its fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A raw frame (a publish stage fed frames): its geometry, not its pixels.
    Frame(FrameInfo),
    /// An encoded packet: its caps and size.
    Packet(PacketInfo),
    /// One analysed (or skipped) frame's detections.
    Detections(FrameSummary),
    /// One frame's tracks: detections with `track_id`.
    Tracks(FrameSummary),
    /// A window of frames (`mode = "summary"`).
    Summary(Summary),
    /// A track entered, left, dwelt in a zone, or crossed a line.
    ZoneEvent(ZoneEvent),
    /// Tracks inside each zone after a frame.
    Occupancy(Occupancy),
    /// A live source connected, stalled, reconnects or ended.
    StreamStatus(StreamStatus),
    /// A device's software, pipeline, streams and backlog (broker sinks: at start, every
    /// `device_status_interval_s`, at a clean stop).
    DeviceStatus(DeviceStatus),
    /// A kind newer than this reader; its fields are not read.
    #[serde(other)]
    #[schemars(skip)]
    Unknown,
}

impl Body {
    /// The value of `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Frame(_) => "frame",
            Body::Packet(_) => "packet",
            Body::Detections(_) => "detections",
            Body::Tracks(_) => "tracks",
            Body::Summary(_) => "summary",
            Body::ZoneEvent(_) => "zone_event",
            Body::Occupancy(_) => "occupancy",
            Body::StreamStatus(_) => "stream_status",
            Body::DeviceStatus(_) => "device_status",
            Body::Unknown => "unknown",
        }
    }

    /// The frame summary of `detections` and `tracks` events.
    pub fn frame_summary(&self) -> Option<&FrameSummary> {
        match self {
            Body::Detections(s) | Body::Tracks(s) => Some(s),
            _ => None,
        }
    }
}

/// `kind = "frame"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FrameInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format (`rgb`, `bgr`, `gray`, `nv12`, `i420`).
    pub format: String,
    /// Bytes per row of each plane.
    pub strides: Vec<usize>,
}

/// `kind = "packet"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PacketInfo {
    /// GStreamer caps of the stream (`video/x-h264, ...`).
    pub caps: String,
    /// Size in bytes.
    pub bytes: usize,
    /// Whether it starts a group of pictures.
    pub key_frame: bool,
}

/// `kind = "detections"` and `kind = "tracks"`: what one frame shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FrameSummary {
    /// Boxes labelled `person`.
    pub persons_detected: usize,
    /// Width of the analysed frame in pixels.
    pub frame_width: u32,
    /// Height of the analysed frame in pixels.
    pub frame_height: u32,
    /// Every box that is not a face.
    pub detections: Vec<BoxItem>,
    /// Boxes of face models (`face`), with keypoints: present (possibly empty) whenever the
    /// detector finds faces, left out when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<BoxItem>>,
    /// The frame was not analysed (`every_nth_frame`): no boxes, not "nothing there".
    #[serde(default, skip_serializing_if = "is_false")]
    pub skipped: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One box, in coordinates normalised to the frame (0..1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BoxItem {
    /// Class label.
    pub class: String,
    /// Confidence 0..1.
    pub conf: f32,
    /// Left edge.
    pub xmin: f32,
    /// Top edge.
    pub ymin: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// The track (`tracks` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_id: Option<u64>,
    /// `tracks` events: analysed frames since the track was last matched, when above 0 (a
    /// lost track still reported, `report_lost_frames`): the box is a prediction.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lost_frames: u32,
    /// Keypoints `[x, y]` (faces: eyes, nose, mouth, ears).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keypoints: Vec<[f32; 2]>,
}

/// `kind = "summary"`: one window of frames of a stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Length of the window in seconds (stream time).
    pub window_s: f64,
    /// Frames in the window.
    pub frames: u64,
    /// Most persons in one frame.
    pub persons_max: u64,
    /// Mean persons per frame.
    pub persons_mean: f64,
    /// Per class, the most boxes in one frame.
    pub classes_max: BTreeMap<String, u64>,
    /// Distinct tracks seen.
    pub tracks_seen: usize,
}

/// What happened in a zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneEventType {
    /// The track entered the zone.
    Enter,
    /// The track left the zone.
    Exit,
    /// The track has been inside for the zone's dwell time.
    Dwell,
    /// The track crossed the line (see `direction`).
    LineCross,
}

impl ZoneEventType {
    /// The name in events (`enter`, `line_cross`).
    pub fn name(self) -> &'static str {
        match self {
            ZoneEventType::Enter => "enter",
            ZoneEventType::Exit => "exit",
            ZoneEventType::Dwell => "dwell",
            ZoneEventType::LineCross => "line_cross",
        }
    }
}

/// `kind = "zone_event"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneEvent {
    /// The zone or line.
    pub zone_id: String,
    /// What happened.
    pub event_type: ZoneEventType,
    /// The track.
    pub track_id: u64,
    /// The track's class label.
    pub class: String,
    /// For lines: the side crossed to (`in` / `out`, or the line's own names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// For exits and dwells: seconds inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_s: Option<f64>,
    /// The zone's or line's running totals after this event (never lower than in an earlier
    /// event of the same zone or line and stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Totals>,
    /// When the totals started counting, RFC 3339 UTC (kept across restarts and reconfigures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals_since: Option<String>,
}

/// Running totals of a zone or a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Totals {
    /// A counting line.
    Line(LineTotals),
    /// A zone.
    Zone(ZoneTotals),
}

/// Crossings of a line so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LineTotals {
    /// Crossings towards the line's `in_side`.
    #[serde(rename = "in")]
    pub inward: u64,
    /// Crossings the other way.
    pub out: u64,
}

/// Entries and exits of a zone so far, and the tracks inside now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ZoneTotals {
    /// `enter` events so far.
    pub entries: u64,
    /// `exit` events so far.
    pub exits: u64,
    /// Tracks inside after this frame.
    pub occupancy: u64,
}

/// `kind = "occupancy"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Occupancy {
    /// Tracks inside, per zone.
    pub occupancy: BTreeMap<String, u64>,
}

/// The state of a live stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
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

/// `kind = "stream_status"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StreamStatus {
    /// The new state.
    pub state: StreamState,
    /// Connection attempt (0 for the first).
    pub attempt: u32,
    /// Why, when the source says (the error of a failed attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Where a device's pipeline is in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// The pipeline has just started.
    Starting,
    /// The pipeline runs (the periodic status).
    Running,
    /// The pipeline stops cleanly: no more status follows until it starts again.
    Stopping,
}

/// `kind = "device_status"` (an optional schema v1 addition): what a device runs and how its
/// streams are, sent by every broker sink at start, every `device_status_interval_s` and on a
/// clean stop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeviceStatus {
    /// Where the run is.
    pub state: DeviceState,
    /// The edgeflow version of the device.
    pub version: String,
    /// The pipeline's name (`[pipeline] name`, or the file's).
    pub pipeline: String,
    /// The state of each stream the sink has seen (`live` once its frames arrive).
    pub streams: BTreeMap<String, StreamState>,
    /// Events accepted by this sink and not yet delivered (its spool).
    pub spool_backlog: u64,
    /// Seconds until the next status (0: none until the next start); a collector marks the
    /// device offline after missing a few.
    pub interval_s: f64,
}
