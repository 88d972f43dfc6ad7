//! One stream's tracker ([`Tracker`]: its tracks, ids and parameters) and its ByteTrack
//! association; the greedy IoU association is in `iou.rs`.
//!
//! ByteTrack (Zhang et al., 2022), as implemented here:
//! 1. every track's Kalman filter predicts to this frame's time (`pts_ns`);
//! 2. high-score detections are matched to confirmed tracks (tracked or lost) by optimal
//!    assignment on IoU (pairs below `match_iou` are never matched); a lost track's predicted
//!    box keeps its height (no growth without measurements);
//! 3. low-score detections are matched to the confirmed tracks still unmatched and tracked
//!    (`low_match_iou`): occluded people keep their identity instead of spawning new tracks;
//! 4. unmatched tracked tracks become lost; tentative tracks from the previous frame are
//!    matched to the remaining high detections (`confirm_iou`) and confirmed, or dropped;
//! 5. remaining detections above `new_track_threshold` start tentative tracks (confirmed at
//!    once on a stream's first frame); lost tracks older than `track_buffer_s` are removed.
//!
//! Ids are given at confirmation, counted per stream, never reused. A frame marked `skipped`
//! (`every_nth_frame`) only advances the predictions. A track matched in a frame reports the
//! detection's box (`report_box = "estimate"`: the filter's); others report the prediction
//! (skipped frames, and lost tracks for `report_lost_frames` frames).

use edgeflow_core::{BBox, Detection, Detections, Invalid, Track};
use serde::Deserialize;

use super::assign::max_weight;
use super::kalman::{Kalman, Tlwh};

/// Which tracker.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    /// ByteTrack (default).
    #[default]
    Bytetrack,
    /// Greedy IoU matching, no motion model.
    Iou,
}

// Defaults measured on degraded TUD ground truth against supervision 0.30.9
// (stages/tests/tracking.rs, docs/tracking.md): real detectors score many true boxes 0.3–0.5,
// so those must be able to start and keep tracks; a strict IoU gate keeps false positives
// from taking over a track.
fn d_high() -> f32 {
    0.3
}
fn d_low() -> f32 {
    0.1
}
fn d_new() -> f32 {
    0.35
}
fn d_low_match() -> f32 {
    0.5
}
fn d_confirm() -> f32 {
    0.5
}
fn d_buffer() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}

/// Which box a matched track reports.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ReportBox {
    /// The detection it was matched to in this frame (default; as supervision reports).
    #[default]
    Detection,
    /// The Kalman filter's estimate after the update: smoother, but its size lags.
    Estimate,
}

/// Config of `track`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackerParams {
    /// `bytetrack` (default) or `iou`.
    #[serde(default)]
    pub tracker: TrackerKind,
    /// Detections at or above this score are "high" (first association).
    #[serde(default = "d_high")]
    pub high_threshold: f32,
    /// Detections below this are ignored; between this and `high_threshold` they are "low".
    #[serde(default = "d_low")]
    pub low_threshold: f32,
    /// Least score to start a track.
    #[serde(default = "d_new")]
    pub new_track_threshold: f32,
    /// Least IoU of a box with a track's (predicted) box in the first association: default
    /// 0.5 for ByteTrack, whose Kalman prediction follows the person, and 0.3 for the IoU
    /// tracker, which compares with the last box.
    #[serde(default)]
    pub match_iou: Option<f32>,
    /// Least IoU for the second (low-score) association.
    #[serde(default = "d_low_match")]
    pub low_match_iou: f32,
    /// Least IoU to confirm a tentative track.
    #[serde(default = "d_confirm")]
    pub confirm_iou: f32,
    /// How long a lost track is kept, in seconds of stream time.
    #[serde(default = "d_buffer")]
    pub track_buffer_s: f64,
    /// Match detections to tracks of the same class only.
    #[serde(default = "yes")]
    pub class_aware: bool,
    /// The box of a track matched in this frame: `detection` (default) or `estimate`.
    /// Tracks not matched in a frame (skipped frames, `report_lost_frames`) always report
    /// the estimate.
    #[serde(default)]
    pub report_box: ReportBox,
    /// Keep reporting a lost track, at its predicted box, for up to this many analysed
    /// frames after its last match (default 0: only matched tracks). Bridges short misses
    /// (fewer fragmentations, more boxes where nobody is); see docs/tracking.md.
    #[serde(default)]
    pub report_lost_frames: u32,
}

impl Default for TrackerParams {
    fn default() -> Self {
        TrackerParams {
            tracker: TrackerKind::Bytetrack,
            high_threshold: d_high(),
            low_threshold: d_low(),
            new_track_threshold: d_new(),
            match_iou: None,
            low_match_iou: d_low_match(),
            confirm_iou: d_confirm(),
            track_buffer_s: d_buffer(),
            class_aware: true,
            report_box: ReportBox::Detection,
            report_lost_frames: 0,
        }
    }
}

impl TrackerParams {
    /// `match_iou`, or the default of the chosen tracker.
    pub fn match_iou(&self) -> f32 {
        self.match_iou.unwrap_or(match self.tracker {
            TrackerKind::Bytetrack => 0.5,
            TrackerKind::Iou => 0.3,
        })
    }

    /// Checks without I/O.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        for (name, v) in [
            ("high_threshold", self.high_threshold),
            ("low_threshold", self.low_threshold),
            ("new_track_threshold", self.new_track_threshold),
            ("match_iou", self.match_iou()),
            ("low_match_iou", self.low_match_iou),
            ("confirm_iou", self.confirm_iou),
        ] {
            if !(0.0..=1.0).contains(&v) {
                inv.field(
                    name,
                    format!("{v} is not in 0..1"),
                    Some("use a value between 0 and 1".into()),
                );
            }
        }
        if self.low_threshold > self.high_threshold {
            inv.field(
                "low_threshold",
                "is above `high_threshold`",
                Some("low-score boxes lie between `low_threshold` and `high_threshold`".into()),
            );
        }
        if self.report_lost_frames > 300 {
            inv.field(
                "report_lost_frames",
                format!(
                    "{} frames is more than the 300 allowed",
                    self.report_lost_frames
                ),
                Some("a few frames (2 to 5) bridge a detector's short misses".into()),
            );
        }
        if !(self.track_buffer_s.is_finite() && self.track_buffer_s >= 0.0) {
            inv.field(
                "track_buffer_s",
                "must be 0 or more seconds",
                Some("1.0 keeps a lost track for a second".into()),
            );
        }
        inv.into_result()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Tentative,
    Tracked,
    Lost,
}

#[derive(Clone, Debug)]
pub(super) struct STrack {
    id: u64,
    pub(super) kf: Kalman,
    pub(super) last: Detection,
    pub(super) state: State,
    last_seen_ns: u64,
    frames: u64,
    /// Matched in the frame being processed.
    matched: bool,
    /// Analysed frames since it was lost.
    lost_frames: u32,
}

/// One stream's tracker.
pub struct Tracker {
    pub(super) p: TrackerParams,
    pub(super) tracks: Vec<STrack>,
    next_id: u64,
    last_pts: Option<u64>,
}

pub(super) fn iou(a: &Tlwh, b: &Tlwh) -> f32 {
    let iw = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let ih = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

impl Tracker {
    /// A tracker with these parameters.
    pub fn new(p: TrackerParams) -> Self {
        Tracker {
            p,
            tracks: Vec::new(),
            next_id: 1,
            last_pts: None,
        }
    }

    /// Optimal matching of `tracks` × `dets` on IoU above `min_iou`; (track, det) pairs.
    fn associate(
        &self,
        tracks: &[usize],
        dets: &[(usize, Tlwh)],
        all: &[Detection],
        min_iou: f32,
    ) -> Vec<(usize, usize)> {
        let weights: Vec<Vec<i64>> = tracks
            .iter()
            .map(|&t| {
                let tb = self.tracks[t].kf.tlwh();
                dets.iter()
                    .map(|(d, db)| {
                        let same =
                            !self.p.class_aware || all[*d].class_id == self.tracks[t].last.class_id;
                        let v = iou(&tb, db);
                        if same && v >= min_iou && v > 0.0 {
                            ((v * 1e6) as i64).max(1)
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        max_weight(&weights)
            .into_iter()
            .enumerate()
            .filter_map(|(i, j)| j.map(|j| (tracks[i], j)))
            .collect()
    }

    /// Process one frame's detections; returns the confirmed tracks visible in it.
    pub fn update(&mut self, d: &Detections) -> Vec<Track> {
        let (fw, fh) = (d.frame_width.max(1) as f32, d.frame_height.max(1) as f32);
        let pts = d.meta.pts_ns;
        let dt = match self.last_pts {
            Some(prev) if pts > prev => (pts - prev) as f32 / (1e9 / 30.0),
            _ => 1.0,
        };
        let first_frame = self.last_pts.is_none();
        self.last_pts = Some(pts.max(self.last_pts.unwrap_or(0)));
        for t in &mut self.tracks {
            if t.state == State::Lost {
                t.kf.hold_height();
            }
            t.kf.predict(dt);
            t.matched = false;
        }
        if !d.skipped {
            match self.p.tracker {
                TrackerKind::Bytetrack => self.bytetrack(&d.detections, fw, fh, pts, first_frame),
                TrackerKind::Iou => self.iou_tracker(&d.detections, fw, fh, pts),
            }
        }
        let buffer_ns = (self.p.track_buffer_s * 1e9) as u64;
        self.tracks
            .retain(|t| t.state != State::Lost || pts.saturating_sub(t.last_seen_ns) <= buffer_ns);
        if !d.skipped {
            for t in &mut self.tracks {
                if t.state == State::Lost {
                    t.lost_frames = t.lost_frames.saturating_add(1);
                }
            }
        }
        let from_detection = self.p.report_box == ReportBox::Detection;
        let lost_frames = self.p.report_lost_frames;
        self.tracks
            .iter()
            .filter(|t| {
                t.state == State::Tracked
                    || (t.state == State::Lost && t.lost_frames <= lost_frames)
            })
            .map(|t| {
                let mut det = t.last.clone();
                if !(t.matched && from_detection) {
                    let b = t.kf.tlwh();
                    det.bbox = BBox {
                        x: b[0] / fw,
                        y: b[1] / fh,
                        width: b[2] / fw,
                        height: b[3] / fh,
                    };
                }
                Track {
                    track_id: t.id,
                    detection: det,
                    age_frames: t.frames,
                    lost_frames: if t.state == State::Lost {
                        t.lost_frames
                    } else {
                        0
                    },
                }
            })
            .collect()
    }

    pub(super) fn apply(&mut self, t: usize, det: &Detection, b: &Tlwh, pts: u64) {
        let tr = &mut self.tracks[t];
        tr.kf.update(b);
        tr.last = det.clone();
        tr.last_seen_ns = pts;
        tr.frames += 1;
        tr.matched = true;
        tr.lost_frames = 0;
        if tr.state != State::Tentative {
            tr.state = State::Tracked;
        }
    }

    fn confirm(&mut self, t: usize) {
        let tr = &mut self.tracks[t];
        tr.state = State::Tracked;
        tr.id = self.next_id;
        self.next_id += 1;
    }

    pub(super) fn spawn(&mut self, det: &Detection, b: &Tlwh, pts: u64, confirmed: bool) {
        self.tracks.push(STrack {
            id: 0,
            kf: Kalman::new(b),
            last: det.clone(),
            state: State::Tentative,
            last_seen_ns: pts,
            frames: 1,
            matched: true,
            lost_frames: 0,
        });
        if confirmed {
            let t = self.tracks.len() - 1;
            self.confirm(t);
        }
    }

    fn bytetrack(&mut self, dets: &[Detection], fw: f32, fh: f32, pts: u64, first_frame: bool) {
        let px = |d: &Detection| -> Tlwh {
            [
                d.bbox.x * fw,
                d.bbox.y * fh,
                d.bbox.width * fw,
                d.bbox.height * fh,
            ]
        };
        let high: Vec<(usize, Tlwh)> = dets
            .iter()
            .enumerate()
            .filter(|(_, d)| d.score >= self.p.high_threshold)
            .map(|(i, d)| (i, px(d)))
            .collect();
        let low: Vec<(usize, Tlwh)> = dets
            .iter()
            .enumerate()
            .filter(|(_, d)| d.score >= self.p.low_threshold && d.score < self.p.high_threshold)
            .map(|(i, d)| (i, px(d)))
            .collect();
        let tentative: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state == State::Tentative)
            .collect();
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != State::Tentative)
            .collect();

        // 1. High-score detections against every confirmed track.
        let first = self.associate(&pool, &high, dets, self.p.match_iou());
        let mut track_done = vec![false; self.tracks.len()];
        let mut high_done = vec![false; high.len()];
        for &(t, j) in &first {
            let (d, b) = high[j];
            self.apply(t, &dets[d], &b, pts);
            track_done[t] = true;
            high_done[j] = true;
        }
        // 2. Low-score detections against the confirmed tracks still tracked and unmatched.
        let left: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&t| !track_done[t] && self.tracks[t].state == State::Tracked)
            .collect();
        for (t, j) in self.associate(&left, &low, dets, self.p.low_match_iou) {
            let (d, b) = low[j];
            self.apply(t, &dets[d], &b, pts);
            track_done[t] = true;
        }
        // 3. Unmatched tracked tracks are lost (kept for `track_buffer_s`).
        for &t in &pool {
            if !track_done[t] && self.tracks[t].state == State::Tracked {
                self.tracks[t].state = State::Lost;
            }
        }
        // 4. Tentative tracks: confirmed by a remaining high detection, or dropped.
        let rest: Vec<(usize, Tlwh)> = high
            .iter()
            .enumerate()
            .filter(|(j, _)| !high_done[*j])
            .map(|(_, x)| *x)
            .collect();
        let mut rest_done = vec![false; rest.len()];
        let mut drop = vec![false; self.tracks.len()];
        let confirmed = self.associate(&tentative, &rest, dets, self.p.confirm_iou);
        for &t in &tentative {
            drop[t] = true;
        }
        for (t, j) in confirmed {
            let (d, b) = rest[j];
            self.apply(t, &dets[d], &b, pts);
            self.confirm(t);
            drop[t] = false;
            rest_done[j] = true;
        }
        let mut k = 0;
        self.tracks.retain(|_| {
            let keep = !drop[k];
            k += 1;
            keep
        });
        // 5. New tracks from what is left.
        for (j, (d, b)) in rest.iter().enumerate() {
            if !rest_done[j] && dets[*d].score >= self.p.new_track_threshold {
                self.spawn(&dets[*d], b, pts, first_frame);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::Meta;

    fn dets(seq: u64, boxes: &[(f32, f32)], skipped: bool) -> Detections {
        Detections {
            meta: Meta::now("s".into(), seq, seq * 33_333_333),
            frame_width: 100,
            frame_height: 100,
            detections: boxes
                .iter()
                .map(|(x, y)| Detection {
                    class_id: 0,
                    label: "person".into(),
                    score: 0.9,
                    bbox: BBox {
                        x: *x,
                        y: *y,
                        width: 0.1,
                        height: 0.2,
                    },
                    keypoints: vec![],
                })
                .collect(),
            skipped,
            face_model: false,
        }
    }

    #[test]
    fn ids_are_never_reused() {
        let mut t = Tracker::new(TrackerParams {
            track_buffer_s: 0.1,
            ..TrackerParams::default()
        });
        let a = t.update(&dets(0, &[(0.1, 0.1)], false));
        assert_eq!(a.iter().map(|x| x.track_id).collect::<Vec<_>>(), [1]);
        // The person leaves; long enough for the track to be removed.
        for s in 1..10 {
            t.update(&dets(s, &[], false));
        }
        // Someone appears at the same place: a new id, confirmed on its second frame.
        t.update(&dets(10, &[(0.1, 0.1)], false));
        let b = t.update(&dets(11, &[(0.1, 0.1)], false));
        assert_eq!(b.iter().map(|x| x.track_id).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn skipped_frames_only_advance_the_prediction() {
        let mut t = Tracker::new(TrackerParams::default());
        for s in 0..10 {
            t.update(&dets(s, &[(0.1 + 0.01 * s as f32, 0.3)], false));
        }
        // Three frames not analysed: the track stays, moving on at its speed.
        let mut x = 0.0;
        for s in 10..13 {
            let out = t.update(&dets(s, &[], true));
            assert_eq!(out.len(), 1, "frame {s}");
            assert!(out[0].detection.bbox.x > x);
            x = out[0].detection.bbox.x;
        }
        assert!((x - 0.22).abs() < 0.01, "{x}");
        let out = t.update(&dets(13, &[(0.23, 0.3)], false));
        assert_eq!(out[0].track_id, 1);
    }

    #[test]
    fn a_lost_track_is_reported_for_exactly_report_lost_frames_analysed_frames() {
        let mut t = Tracker::new(TrackerParams {
            report_lost_frames: 2,
            ..TrackerParams::default()
        });
        for s in 0..5 {
            t.update(&dets(s, &[(0.1 + 0.01 * s as f32, 0.3)], false));
        }
        // Lost: reported at its prediction with lost_frames 1 and 2; a skipped frame in
        // between is not counted; then no more.
        let a = t.update(&dets(5, &[], false));
        assert_eq!((a.len(), a[0].lost_frames), (1, 1));
        assert!(
            a[0].detection.bbox.x > 0.14,
            "moves on: {}",
            a[0].detection.bbox.x
        );
        let skipped = t.update(&dets(6, &[], true));
        assert_eq!(skipped[0].lost_frames, 1);
        let b = t.update(&dets(7, &[], false));
        assert_eq!(b[0].lost_frames, 2);
        assert!(t.update(&dets(8, &[], false)).is_empty());
        // Seen again within the buffer: the same id, seen.
        let c = t.update(&dets(9, &[(0.19, 0.3)], false));
        assert_eq!((c[0].track_id, c[0].lost_frames), (1, 0));
        // Without the option a lost track is not reported at all.
        let mut t = Tracker::new(TrackerParams::default());
        t.update(&dets(0, &[(0.1, 0.3)], false));
        assert!(t.update(&dets(1, &[], false)).is_empty());
    }

    #[test]
    fn matched_tracks_report_the_detection_and_the_estimate_on_request() {
        let jump = |report_box| {
            let mut t = Tracker::new(TrackerParams {
                report_box,
                ..TrackerParams::default()
            });
            for s in 0..5 {
                t.update(&dets(s, &[(0.3, 0.3)], false));
            }
            // The detection suddenly wider (0.1 -> 0.14) and a little to the left.
            let mut d = dets(5, &[(0.28, 0.3)], false);
            d.detections[0].bbox.width = 0.14;
            t.update(&d)[0].detection.bbox
        };
        let det = jump(ReportBox::Detection);
        assert_eq!((det.x, det.width), (0.28, 0.14));
        let est = jump(ReportBox::Estimate);
        assert!(
            est.width > 0.1 && est.width < 0.14,
            "the filter lags: {}",
            est.width
        );
    }

    #[test]
    fn a_lost_track_keeps_its_height() {
        let mut t = Tracker::new(TrackerParams {
            report_lost_frames: 5,
            ..TrackerParams::default()
        });
        // Growing by 0.01 a frame while seen.
        for s in 0..8 {
            let mut d = dets(s, &[(0.3, 0.3)], false);
            d.detections[0].bbox.height = 0.2 + 0.01 * s as f32;
            t.update(&d);
        }
        let h: Vec<f32> = (8..12)
            .map(|s| t.update(&dets(s, &[], false))[0].detection.bbox.height)
            .collect();
        assert!(h.windows(2).all(|w| (w[1] - w[0]).abs() < 1e-4), "{h:?}");
    }

    #[test]
    fn match_iou_defaults_per_tracker_and_is_checked_when_set() {
        let iou = TrackerParams {
            tracker: TrackerKind::Iou,
            ..TrackerParams::default()
        };
        assert_eq!(
            (TrackerParams::default().match_iou(), iou.match_iou()),
            (0.5, 0.3)
        );
        let set = TrackerParams {
            match_iou: Some(0.4),
            ..iou
        };
        assert_eq!(set.match_iou(), 0.4);
        let bad = TrackerParams {
            match_iou: Some(1.5),
            ..TrackerParams::default()
        };
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("match_iou"), "{e}");
    }
}
