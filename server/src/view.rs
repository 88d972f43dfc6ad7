//! What the service knows of each stream: the latest frame, detections, tracks, zone counts
//! and stream state, kept up to date from copies of the stages' outputs (the pipeline's
//! `drop_oldest` subscriptions: a slow reader never holds the video up).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use edgeflow_core::{Counts, Detection, Frame, Message, Meta, StreamState, Tracks, ZoneEvents};
use serde_json::{Value, json};

/// Detections (with track ids where a tracker ran) of one frame.
#[derive(Clone, Debug)]
pub struct Boxes {
    /// The frame they belong to.
    pub meta: Meta,
    /// The frame's size.
    pub size: (u32, u32),
    /// Each detection, with its track id when tracked.
    pub items: Vec<(Detection, Option<u64>)>,
    /// The frame was not analysed (`every_nth_frame`).
    pub skipped: bool,
}

/// One stream's latest everything.
#[derive(Clone, Debug, Default)]
pub struct StreamView {
    /// The state its source last reported (`None`: none reported, frames flow).
    pub state: Option<StreamState>,
    /// Why (the source's detail).
    pub detail: Option<String>,
    /// When the state was reported.
    pub state_at: Option<SystemTime>,
    /// The latest frame.
    pub frame: Option<Frame>,
    /// Frames seen.
    pub frames: u64,
    /// When the latest frame was captured.
    pub last_frame: Option<SystemTime>,
    /// Arrival times of the last frames (for fps).
    arrivals: VecDeque<Instant>,
    /// The latest detections.
    pub detections: Option<Boxes>,
    /// The latest tracks (as boxes with track ids).
    pub tracks: Option<Boxes>,
    /// Tracks inside each zone after the latest frame, by zone id.
    pub occupancy: BTreeMap<String, u32>,
    /// The running counts of each zone and line, by id.
    pub totals: BTreeMap<String, Counts>,
    /// `seq` of the latest zone result.
    pub zone_seq: Option<u64>,
}

const FPS_WINDOW: Duration = Duration::from_secs(3);

impl StreamView {
    /// Frames per second over the last three seconds (0 with fewer than two frames).
    pub fn fps(&self) -> f64 {
        match (self.arrivals.front(), self.arrivals.back()) {
            (Some(a), Some(b)) if self.arrivals.len() > 1 && b > a => {
                (self.arrivals.len() - 1) as f64 / (*b - *a).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// The state to show: the source's report, else `live` while frames come.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            Some(s) => s.name(),
            None if self.frames > 0 => "live",
            None => "connecting",
        }
    }

    /// The boxes to answer `/frame_data` with: tracks when a tracker ran on this stream
    /// (they carry ids), else detections.
    pub fn boxes(&self) -> Option<&Boxes> {
        self.tracks.as_ref().or(self.detections.as_ref())
    }

    fn frame(&mut self, frame: &Frame) {
        let now = Instant::now();
        self.frames += 1;
        self.last_frame = Some(frame.meta.timestamp);
        self.arrivals.push_back(now);
        while self
            .arrivals
            .front()
            .is_some_and(|t| now.duration_since(*t) > FPS_WINDOW)
        {
            self.arrivals.pop_front();
        }
        self.frame = Some(frame.clone());
    }
}

fn track_boxes(t: &Tracks) -> Boxes {
    Boxes {
        meta: t.meta.clone(),
        size: (t.frame_width, t.frame_height),
        items: t
            .tracks
            .iter()
            .map(|t| (t.detection.clone(), Some(t.track_id)))
            .collect(),
        skipped: false,
    }
}

fn zones(view: &mut StreamView, z: &ZoneEvents) {
    view.zone_seq = Some(z.meta.seq);
    view.occupancy = z
        .occupancy
        .iter()
        .map(|(id, n)| (id.to_string(), *n))
        .collect();
    for e in &z.events {
        if let Some(t) = e.totals {
            view.totals.insert(e.zone_id.to_string(), t.counts);
        }
    }
}

/// Every stream's view, shared between the readers of the subscriptions and the handlers.
#[derive(Clone, Default)]
pub struct Views {
    streams: Arc<Mutex<BTreeMap<String, StreamView>>>,
}

impl Views {
    /// No streams yet.
    pub fn new() -> Self {
        Views::default()
    }

    /// Make a stream known (a push stream before its first frame).
    pub fn know(&self, stream: &str) {
        self.lock().entry(stream.to_string()).or_default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StreamView>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take one output of a stage into its stream's view. `frames` says whether this stage's
    /// frames count (the first stage that makes frames for a stream; a later one would count
    /// them twice).
    pub fn take(&self, message: &Message, frames: bool) {
        let stream = message.meta().stream_id.to_string();
        let mut all = self.lock();
        let view = all.entry(stream).or_default();
        match message {
            Message::Frame(f) if frames => view.frame(f),
            Message::Frame(_) | Message::Packet(_) => {}
            Message::Detections(d) => {
                view.detections = Some(Boxes {
                    meta: d.meta.clone(),
                    size: (d.frame_width, d.frame_height),
                    items: d.detections.iter().map(|d| (d.clone(), None)).collect(),
                    skipped: d.skipped,
                });
            }
            Message::Tracks(t) => view.tracks = Some(track_boxes(t)),
            Message::ZoneEvents(z) => zones(view, z),
            Message::Status(s) => {
                view.state = Some(s.state);
                view.detail = s.detail.clone();
                view.state_at = Some(s.meta.timestamp);
            }
        }
    }

    /// One stream's view.
    pub fn get(&self, stream: &str) -> Option<StreamView> {
        self.lock().get(stream).cloned()
    }

    /// Every stream id, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// `GET /streams`: every stream with its state, fps and last frame time.
    pub fn list(&self) -> Value {
        let all = self.lock();
        Value::Array(
            all.iter()
                .map(|(id, v)| {
                    json!({
                        "stream_id": id,
                        "state": v.state_name(),
                        "detail": v.detail,
                        "fps": round2(v.fps()),
                        "frames": v.frames,
                        "last_frame": v.last_frame.map(rfc3339),
                        "latest_jpg": format!("/streams/{id}/latest.jpg"),
                    })
                })
                .collect(),
        )
    }
}

/// A time as RFC 3339 UTC with milliseconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Two decimals, for figures in JSON.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// One detection as `/frame_data` gives it: a normalised box, score, class, track id,
/// keypoints (face landmarks).
pub fn detection_json((d, track): &(Detection, Option<u64>)) -> Value {
    json!({
        "class": &*d.label,
        "class_id": d.class_id,
        "score": round2(f64::from(d.score) * 100.0) / 100.0,
        "box": { "x": d.bbox.x, "y": d.bbox.y, "width": d.bbox.width, "height": d.bbox.height },
        "track_id": track,
        "keypoints": d.keypoints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use edgeflow_core::{BBox, Detections, PixelFormat, StreamStatus, Track};

    fn meta(seq: u64) -> Meta {
        Meta::now("cam".into(), seq, seq)
    }

    fn det() -> Detection {
        Detection {
            class_id: 0,
            label: "person".into(),
            score: 0.9,
            bbox: BBox {
                x: 0.1,
                y: 0.2,
                width: 0.3,
                height: 0.4,
            },
            keypoints: vec![],
        }
    }

    #[test]
    fn views_follow_every_kind_of_output() {
        let v = Views::new();
        v.take(
            &Message::Status(StreamStatus {
                meta: meta(0),
                state: StreamState::Connecting,
                attempt: 1,
                detail: None,
            }),
            true,
        );
        assert_eq!(v.get("cam").unwrap().state_name(), "connecting");
        let f = Frame::packed(meta(1), 2, 2, PixelFormat::Gray, Bytes::from(vec![0; 4])).unwrap();
        v.take(&Message::Frame(f.clone()), true);
        v.take(&Message::Frame(f), false);
        assert_eq!(
            v.get("cam").unwrap().frames,
            1,
            "a second frame stage does not count"
        );
        v.take(
            &Message::Detections(Detections {
                meta: meta(1),
                frame_width: 2,
                frame_height: 2,
                detections: vec![det()],
                skipped: false,
                face_model: false,
            }),
            true,
        );
        let view = v.get("cam").unwrap();
        assert_eq!(view.boxes().unwrap().items[0].1, None);
        v.take(
            &Message::Tracks(Tracks {
                meta: meta(1),
                frame_width: 2,
                frame_height: 2,
                tracks: vec![Track {
                    track_id: 7,
                    detection: det(),
                    age_frames: 3,
                    lost_frames: 0,
                }],
                face_model: false,
            }),
            true,
        );
        let view = v.get("cam").unwrap();
        assert_eq!(view.boxes().unwrap().items[0].1, Some(7), "tracks win");
        let j = detection_json(&view.boxes().unwrap().items[0]);
        assert_eq!(j["track_id"], 7);
        assert_eq!(
            j["box"]["width"].as_f64().map(|w| (w * 10.0).round()),
            Some(3.0)
        );
        assert_eq!(v.list()[0]["state"], "connecting", "the last status stands");
    }
}
