//! Tracker quality on real trajectories: the TUD-Campus and TUD-Stadtmitte ground truth,
//! degraded the way a detector degrades it, through the `track` stage, scored with the MOT
//! evaluator, against the reference tracker's output shipped with the data (`test.txt`).
//!
//! Degradation (seeded, so every run sees the same input), per ground-truth box:
//! - dropped with probability 0.20 (missed detections);
//! - centre moved by up to ±5 % of the box size, width and height scaled by up to ±5 %;
//! - score: with probability 0.20 in 0.15..0.45 (below the high threshold: ByteTrack's
//!   "low" boxes), otherwise 0.55..0.95;
//!
//! and per frame, with probability 0.30, one false positive: a 40–100 × 80–200 px box at a
//! random place in the 640×480 frame, score 0.10..0.70. Frames are 25 fps (`pts_ns`).

use std::path::Path;
use std::sync::Arc;

use edgeflow_core::testing::run_transform;
use edgeflow_core::{BBox, Detection, Detections, Meta};
use edgeflow_stages::eval::mot::{self, MotMetrics, Row};
use edgeflow_stages::track::{TrackerKind, TrackerParams, Tracking};

/// xorshift64*: a documented, dependency-free generator so the degradation is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next()
    }
}

const W: f64 = 640.0;
const H: f64 = 480.0;

fn fixture(seq: &str, file: &str) -> Vec<Row> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/mot")
        .join(seq)
        .join(file);
    mot::read(&p).unwrap_or_else(|e| panic!("{e}"))
}

fn degrade(gt: &[Row], seed: u64) -> Vec<Detections> {
    let mut rng = Rng(seed);
    let last = gt.iter().map(|r| r.frame).max().unwrap_or(0);
    let person: Arc<str> = "person".into();
    let det = |b: [f64; 4], score: f64| Detection {
        class_id: 0,
        label: person.clone(),
        score: score as f32,
        bbox: BBox {
            x: (b[0] / W) as f32,
            y: (b[1] / H) as f32,
            width: (b[2] / W) as f32,
            height: (b[3] / H) as f32,
        },
        keypoints: vec![],
    };
    (1..=last)
        .map(|frame| {
            let mut dets = Vec::new();
            for r in gt.iter().filter(|r| r.frame == frame && r.conf >= 1.0) {
                if rng.next() < 0.20 {
                    continue;
                }
                let [x, y, w, h] = r.bbox;
                let (cx, cy) = (
                    x + w / 2.0 + rng.range(-0.05, 0.05) * w,
                    y + h / 2.0 + rng.range(-0.05, 0.05) * h,
                );
                let (w, h) = (w * rng.range(0.95, 1.05), h * rng.range(0.95, 1.05));
                let score = if rng.next() < 0.20 {
                    rng.range(0.15, 0.45)
                } else {
                    rng.range(0.55, 0.95)
                };
                dets.push(det([cx - w / 2.0, cy - h / 2.0, w, h], score));
            }
            if rng.next() < 0.30 {
                let (w, h) = (rng.range(40.0, 100.0), rng.range(80.0, 200.0));
                dets.push(det(
                    [rng.range(0.0, W - w), rng.range(0.0, H - h), w, h],
                    rng.range(0.10, 0.70),
                ));
            }
            Detections {
                meta: Meta::now("tud".into(), frame - 1, (frame - 1) * 40_000_000),
                frame_width: W as u32,
                frame_height: H as u32,
                detections: dets,
                skipped: false,
                face_model: false,
            }
        })
        .collect()
}

fn track(seq: &str, kind: TrackerKind) -> MotMetrics {
    let gt = fixture(seq, "gt.txt");
    let params = TrackerParams {
        tracker: kind,
        ..TrackerParams::default()
    };
    let out = run_transform::<Tracking>(params, degrade(&gt, 0x5eed_2026)).unwrap();
    let rows: Vec<Row> = out
        .iter()
        .flat_map(|t| {
            t.tracks.iter().map(move |tr| {
                let b = tr.detection.bbox;
                Row {
                    frame: t.meta.seq + 1,
                    id: tr.track_id as i64,
                    bbox: [
                        b.x as f64 * W,
                        b.y as f64 * H,
                        b.width as f64 * W,
                        b.height as f64 * H,
                    ],
                    conf: 1.0,
                }
            })
        })
        .collect();
    mot::evaluate(&gt, &rows, 0.5)
}

#[test]
fn bytetrack_beats_the_reference_tracker_on_mota_and_idf1() {
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let reference = mot::evaluate(&fixture(seq, "gt.txt"), &fixture(seq, "test.txt"), 0.5);
        let ours = track(seq, TrackerKind::Bytetrack);
        let table = MotMetrics::table(&[
            ("reference".into(), reference.clone()),
            ("bytetrack".into(), ours.clone()),
        ]);
        println!("{seq}\n{table}");
        assert!(ours.mota > reference.mota, "{seq}: MOTA\n{table}");
        assert!(ours.idf1 > reference.idf1, "{seq}: IDF1\n{table}");
    }
}

#[test]
fn iou_tracker_runs_and_bytetrack_switches_ids_less() {
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let iou = track(seq, TrackerKind::Iou);
        let byte = track(seq, TrackerKind::Bytetrack);
        println!(
            "{seq}\n{}",
            MotMetrics::table(&[
                ("iou".into(), iou.clone()),
                ("bytetrack".into(), byte.clone())
            ])
        );
        assert!(iou.matches > 0);
        assert!(
            byte.id_switches <= iou.id_switches,
            "{seq}: bytetrack {} vs iou {} switches",
            byte.id_switches,
            iou.id_switches
        );
    }
}
