//! The greedy IoU association (`tracker = "iou"`): no motion model; each track takes the
//! detection it overlaps most, best pairs first.

use edgeflow_core::Detection;

use super::bytetrack::{State, Tracker, iou};
use super::kalman::{Kalman, Tlwh};

impl Tracker {
    pub(super) fn iou_tracker(&mut self, dets: &[Detection], fw: f32, fh: f32, pts: u64) {
        let boxes: Vec<Tlwh> = dets
            .iter()
            .map(|d| {
                [
                    d.bbox.x * fw,
                    d.bbox.y * fh,
                    d.bbox.width * fw,
                    d.bbox.height * fh,
                ]
            })
            .collect();
        // Greedy: best-overlapping pairs first.
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, tr) in self.tracks.iter().enumerate() {
            let tb = tr.kf.tlwh();
            for (j, b) in boxes.iter().enumerate() {
                let same = !self.p.class_aware || dets[j].class_id == tr.last.class_id;
                let v = iou(&tb, b);
                if same && v >= self.p.match_iou() && dets[j].score >= self.p.low_threshold {
                    pairs.push((v, t, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut t_done = vec![false; self.tracks.len()];
        let mut d_done = vec![false; dets.len()];
        for (_, t, j) in pairs {
            if t_done[t] || d_done[j] {
                continue;
            }
            t_done[t] = true;
            d_done[j] = true;
            // No motion model: the box is the detection.
            self.tracks[t].kf = Kalman::new(&boxes[j]);
            self.apply(t, &dets[j], &boxes[j], pts);
        }
        for (t, done) in t_done.iter().enumerate() {
            if !done {
                self.tracks[t].state = State::Lost;
            }
        }
        for (j, d) in dets.iter().enumerate() {
            if !d_done[j] && d.score >= self.p.new_track_threshold {
                self.spawn(d, &boxes[j], pts, true);
            }
        }
    }
}
