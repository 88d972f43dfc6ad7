//! `type = "track"`: detections in, tracks out. ByteTrack (default) or a greedy IoU tracker,
//! with state per stream; track ids are unique per stream and never reused.

pub mod assign;
pub mod bytetrack;
mod iou;
pub mod kalman;

use std::collections::HashMap;
use std::sync::Arc;

use edgeflow_core::{
    BuildCtx, BuildError, Detections, Emit, Invalid, StageError, StageInfo, Tracks, Transform,
};

pub use bytetrack::{ReportBox, Tracker, TrackerKind, TrackerParams};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "track",
    variant: None,
    summary: "ByteTrack (Kalman + two-stage optimal association) or a greedy IoU tracker, per stream",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 50

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "mock"

[stages.trk]
type = "track"
inputs = ["det"]
tracker = "bytetrack"        # or "iou"
high_threshold = 0.3         # first association, and new tracks from
low_threshold = 0.1          # second association (ByteTrack's low-score boxes)
new_track_threshold = 0.35
match_iou = 0.5              # least IoU with a track's predicted box (IoU tracker: 0.3)
track_buffer_s = 1.0         # keep lost tracks this long
class_aware = true           # match boxes of the same class only
report_box = "detection"     # or "estimate": the Kalman filter's box
report_lost_frames = 0       # keep reporting a lost track this many frames

[stages.out]
type = "publish"
inputs = ["trk"]
sink = "jsonl"
"#,
};

/// The track stage (one [`Tracker`] per stream).
pub struct Tracking {
    params: TrackerParams,
    streams: HashMap<Arc<str>, Tracker>,
}

impl Transform for Tracking {
    type Config = TrackerParams;
    type In = Detections;
    type Out = Tracks;

    fn validate(cfg: &TrackerParams) -> Result<(), Invalid> {
        cfg.validate()
    }

    fn build(cfg: TrackerParams, _ctx: &BuildCtx) -> Result<Self, BuildError> {
        cfg.validate().map_err(|e| BuildError::new(e.to_string()))?;
        Ok(Tracking {
            params: cfg,
            streams: HashMap::new(),
        })
    }

    fn process(&mut self, d: Detections, out: &mut Emit<Tracks>) -> Result<(), StageError> {
        let params = &self.params;
        let tracker = self
            .streams
            .entry(d.meta.stream_id.clone())
            .or_insert_with(|| Tracker::new(params.clone()));
        let tracks = tracker.update(&d);
        out.push(Tracks {
            meta: d.meta,
            frame_width: d.frame_width,
            frame_height: d.frame_height,
            tracks,
            face_model: d.face_model,
        });
        Ok(())
    }
}
