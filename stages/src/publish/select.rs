//! What a publish stage sends: every frame's summary, only the frames whose content changed,
//! or a summary every N seconds. Zone events, occupancy and stream status always go out.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use edgeflow_core::{Invalid, Message};
use edgeflow_events::{Body, Event, Summary, event_id};
use serde::Deserialize;

use super::event::events;

/// Which frame summaries to publish.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PublishMode {
    /// Every frame (the default).
    #[default]
    EveryFrame,
    /// A frame when its content differs from the last one sent: the count per class, or the
    /// set of track ids.
    OnChange,
    /// One `summary` event per stream every `summary_interval_s`.
    Summary,
}

/// Per-stream memory for `on_change` and `summary`.
#[derive(Default)]
struct StreamMemo {
    last: Option<(BTreeMap<String, usize>, BTreeSet<u64>)>,
    window_start_ns: Option<u64>,
    frames: u64,
    persons_sum: u64,
    persons_max: u64,
    classes: BTreeMap<String, u64>,
    tracks: BTreeSet<u64>,
    last_frame: Option<Event>,
}

/// Chooses the events to send.
pub struct Selector {
    mode: PublishMode,
    interval_ns: u64,
    streams: HashMap<String, StreamMemo>,
}

/// Default `summary_interval_s`.
pub fn default_interval() -> f64 {
    10.0
}

/// Check `publish` options.
pub fn validate(mode: PublishMode, interval_s: f64, inv: &mut Invalid) {
    if mode == PublishMode::Summary && !(interval_s.is_finite() && interval_s > 0.0) {
        inv.field(
            "summary_interval_s",
            "must be a positive number of seconds",
            Some("e.g. `summary_interval_s = 10.0`".into()),
        );
    }
}

impl Selector {
    /// A selector for `mode`; `interval_s` applies to `summary`.
    pub fn new(mode: PublishMode, interval_s: f64) -> Self {
        Selector {
            mode,
            interval_ns: (interval_s.max(0.0) * 1e9) as u64,
            streams: HashMap::new(),
        }
    }

    /// The events to send for `msg`.
    pub fn select(&mut self, device: &str, msg: &Message) -> Vec<Event> {
        let all = events(device, msg);
        if self.mode == PublishMode::EveryFrame
            || !matches!(msg, Message::Detections(_) | Message::Tracks(_))
        {
            return all;
        }
        let mut out = Vec::new();
        for e in all {
            let Some(frame) = e.body.frame_summary() else {
                out.push(e);
                continue;
            };
            let mut classes: BTreeMap<String, usize> = BTreeMap::new();
            let mut tracks = BTreeSet::new();
            for d in frame.detections.iter().chain(frame.faces.iter().flatten()) {
                match classes.get_mut(d.class.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        classes.insert(d.class.clone(), 1);
                    }
                }
                tracks.extend(d.track_id);
            }
            let (skipped, persons) = (frame.skipped, frame.persons_detected as u64);
            if !self.streams.contains_key(&e.stream_id) {
                self.streams
                    .insert(e.stream_id.clone(), StreamMemo::default());
            }
            let Some(memo) = self.streams.get_mut(&e.stream_id) else {
                continue;
            };
            match self.mode {
                PublishMode::OnChange => {
                    let now = (classes, tracks);
                    if memo.last.as_ref() != Some(&now) && !skipped {
                        memo.last = Some(now);
                        out.push(e);
                    }
                }
                PublishMode::Summary => {
                    let pts = e.pts_ns;
                    let start = *memo.window_start_ns.get_or_insert(pts);
                    if pts.saturating_sub(start) >= self.interval_ns && memo.frames > 0 {
                        out.extend(Self::summary(memo, pts));
                        memo.window_start_ns = Some(pts);
                    }
                    memo.frames += 1;
                    memo.persons_sum += persons;
                    memo.persons_max = memo.persons_max.max(persons);
                    for (c, n) in classes {
                        let m = memo.classes.entry(c).or_default();
                        *m = (*m).max(n as u64);
                    }
                    memo.tracks.extend(tracks);
                    memo.last_frame = Some(e);
                }
                PublishMode::EveryFrame => out.push(e),
            }
        }
        out
    }

    /// Summaries of the windows still open (at the end of a run).
    pub fn flush(&mut self) -> Vec<Event> {
        if self.mode != PublishMode::Summary {
            return Vec::new();
        }
        self.streams
            .values_mut()
            .filter(|m| m.frames > 0)
            .filter_map(|m| {
                let pts = m.last_frame.as_ref().map_or(0, |f| f.pts_ns);
                Self::summary(m, pts)
            })
            .collect()
    }

    /// The window's summary, with the last frame's origin; the window starts anew.
    fn summary(memo: &mut StreamMemo, end_ns: u64) -> Option<Event> {
        let last = memo.last_frame.take()?;
        let start = memo.window_start_ns.unwrap_or(end_ns);
        let body = Body::Summary(Summary {
            window_s: end_ns.saturating_sub(start) as f64 / 1e9,
            frames: memo.frames,
            persons_max: memo.persons_max,
            persons_mean: memo.persons_sum as f64 / memo.frames.max(1) as f64,
            classes_max: std::mem::take(&mut memo.classes),
            tracks_seen: memo.tracks.len(),
        });
        memo.frames = 0;
        memo.persons_sum = 0;
        memo.persons_max = 0;
        memo.tracks.clear();
        Some(Event {
            event_id: event_id(
                &last.device_id,
                &last.stream_id,
                last.seq,
                "summary",
                None,
                None,
            ),
            body,
            ..last
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::{BBox, Detection, Detections, Meta, Port, Track, Tracks, ZoneEvents};

    fn tracks(seq: u64, ids: &[u64]) -> Message {
        let d = Detection {
            class_id: 0,
            label: "person".into(),
            score: 0.9,
            bbox: BBox {
                x: 0.1,
                y: 0.1,
                width: 0.1,
                height: 0.1,
            },
            keypoints: vec![],
        };
        Tracks {
            meta: Meta::now("cam".into(), seq, seq * 500_000_000),
            frame_width: 10,
            frame_height: 10,
            tracks: ids
                .iter()
                .map(|i| Track {
                    track_id: *i,
                    detection: d.clone(),
                    age_frames: 1,
                    lost_frames: 0,
                })
                .collect(),
            face_model: false,
        }
        .into_message()
    }

    #[test]
    fn on_change_sends_frames_whose_content_changed() {
        let mut s = Selector::new(PublishMode::OnChange, 0.0);
        let sent: Vec<u64> = [
            (0, vec![1]),
            (1, vec![1]),
            (2, vec![1, 2]),
            (3, vec![1, 2]),
            (4, vec![2]),
        ]
        .into_iter()
        .flat_map(|(seq, ids)| s.select("d", &tracks(seq, &ids)))
        .map(|e| e.seq)
        .collect();
        assert_eq!(sent, [0, 2, 4]);
        // Zone messages always go out.
        let z = ZoneEvents {
            meta: Meta::now("cam".into(), 5, 0),
            events: vec![],
            occupancy: vec![("z".into(), 1)],
        }
        .into_message();
        assert_eq!(s.select("d", &z).len(), 1);
        // A frame not analysed is not a change.
        let skipped = Detections {
            meta: Meta::now("cam".into(), 6, 0),
            frame_width: 1,
            frame_height: 1,
            detections: vec![],
            skipped: true,
            face_model: false,
        }
        .into_message();
        assert!(s.select("d", &skipped).is_empty());
    }

    #[test]
    fn summary_every_interval() {
        let mut s = Selector::new(PublishMode::Summary, 2.0);
        // Frames every 0.5 s with 1, 2, 3, ... people.
        let mut out = Vec::new();
        for seq in 0..10u64 {
            let ids: Vec<u64> = (0..=seq % 4).collect();
            out.extend(s.select("d", &tracks(seq, &ids)));
        }
        out.extend(s.flush());
        assert_eq!(out.len(), 3, "{out:?}");
        let Body::Summary(first) = &out[0].body else {
            panic!("not a summary: {:?}", out[0]);
        };
        assert_eq!(
            (first.frames, first.persons_max, first.tracks_seen),
            (4, 4, 4)
        );
        assert!(out.iter().all(|e| e.kind() == "summary"));
        assert_eq!(out[0].event_id.len(), 32);
        assert_ne!(out[0].event_id, out[1].event_id);
    }
}
