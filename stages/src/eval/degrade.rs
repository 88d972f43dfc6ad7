//! Ground truth degraded the way a detector degrades it, reproducibly: the input of the
//! tracker quality test and of `edgeflow eval degrade`, so a tracker (ours or another) can be
//! scored on the very same boxes.
//!
//! Per ground-truth box (rows with conf >= 1), in frame order and then file order:
//! 1. dropped with probability `drop` (a missed detection);
//! 2. otherwise its centre moves by up to ± `jitter` of its width and height, and its width
//!    and height are scaled by 1 ± up to `jitter`;
//! 3. its score is drawn from `score` (uniform between the two ends; equal ends: constant);
//! 4. with probability `false_positive`, a false positive is added to the frame: a
//!    40–100 × 80–200 px box (a person's size on TUD) at a uniform place in the frame, with a
//!    score drawn the same way.
//!
//! The generator is xorshift64* seeded with `seed` (0 is replaced by a fixed odd constant),
//! one draw per decision in the order above, so a seed gives the same boxes on every
//! platform. Rows come out as MOTChallenge detections: id -1, conf the score.

use super::mot::Row;

/// How much to degrade.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Degrade {
    /// Probability of dropping a box.
    pub drop: f64,
    /// Largest centre shift and size change, as a fraction of the box size.
    pub jitter: f64,
    /// False positives per ground-truth box (a probability).
    pub false_positive: f64,
    /// Scores: uniform over `score.0..score.1`.
    pub score: (f64, f64),
    /// Frame size in pixels (where false positives may appear).
    pub frame: (f64, f64),
}

impl Degrade {
    /// A weak detector on a busy scene: 35 % dropped, 10 % jitter, 10 % false positives,
    /// scores uniform over 0.3–0.95.
    pub const HARD: Degrade = Degrade {
        drop: 0.35,
        jitter: 0.10,
        false_positive: 0.10,
        score: (0.3, 0.95),
        frame: (640.0, 480.0),
    };
    /// A decent detector: 20 % dropped, 5 % jitter, 5 % false positives, every score 0.8.
    pub const MILD: Degrade = Degrade {
        drop: 0.20,
        jitter: 0.05,
        false_positive: 0.05,
        score: (0.8, 0.8),
        frame: (640.0, 480.0),
    };

    /// The preset called `name` (`hard`, `mild`).
    pub fn preset(name: &str) -> Option<Degrade> {
        match name {
            "hard" => Some(Self::HARD),
            "mild" => Some(Self::MILD),
            _ => None,
        }
    }
}

/// xorshift64*: small, documented, the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Uniform in 0..1.
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `a..b`.
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }
}

/// `gt` degraded by `how` with `seed`, as detections sorted by frame.
pub fn degrade(gt: &[Row], how: &Degrade, seed: u64) -> Vec<Row> {
    let mut rng = Rng::new(seed);
    let mut rows: Vec<&Row> = gt.iter().filter(|r| r.conf >= 1.0).collect();
    rows.sort_by_key(|r| r.frame);
    let (fw, fh) = how.frame;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let row = |bbox: [f64; 4], conf: f64| Row {
            frame: r.frame,
            id: -1,
            bbox,
            conf,
        };
        if rng.next_f64() >= how.drop {
            let [x, y, w, h] = r.bbox;
            let j = how.jitter;
            let cx = x + w / 2.0 + rng.range(-j, j) * w;
            let cy = y + h / 2.0 + rng.range(-j, j) * h;
            let (w, h) = (
                w * rng.range(1.0 - j, 1.0 + j),
                h * rng.range(1.0 - j, 1.0 + j),
            );
            let score = rng.range(how.score.0, how.score.1);
            out.push(row([cx - w / 2.0, cy - h / 2.0, w, h], score));
        }
        if rng.next_f64() < how.false_positive {
            let (w, h) = (rng.range(40.0, 100.0), rng.range(80.0, 200.0));
            let (x, y) = (
                rng.range(0.0, (fw - w).max(0.0)),
                rng.range(0.0, (fh - h).max(0.0)),
            );
            let score = rng.range(how.score.0, how.score.1);
            out.push(row([x, y, w, h], score));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gt() -> Vec<Row> {
        (1..=200)
            .flat_map(|f| {
                (0..5).map(move |i| Row {
                    frame: f,
                    id: i,
                    bbox: [100.0 * i as f64, 50.0, 40.0, 100.0],
                    conf: 1.0,
                })
            })
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_boxes_and_another_seed_other_ones() {
        let a = degrade(&gt(), &Degrade::HARD, 7);
        assert_eq!(a, degrade(&gt(), &Degrade::HARD, 7));
        assert_ne!(a, degrade(&gt(), &Degrade::HARD, 8));
    }

    #[test]
    fn rates_and_ranges_are_the_ones_asked_for() {
        let g = gt();
        let d = degrade(&g, &Degrade::HARD, 1);
        // 1000 boxes: 650 kept and 100 false positives expected.
        assert!((700..=800).contains(&d.len()), "{}", d.len());
        assert!(d.iter().all(|r| (0.3..0.95).contains(&r.conf)));
        let m = degrade(&g, &Degrade::MILD, 1);
        assert!(m.iter().all(|r| r.conf == 0.8));
        assert!((800..=900).contains(&m.len()), "{}", m.len());
        // With nothing dropped or added, every box stays within the jitter of its truth.
        let only_jitter = Degrade {
            drop: 0.0,
            false_positive: 0.0,
            ..Degrade::HARD
        };
        let j = degrade(&g, &only_jitter, 2);
        assert_eq!(j.len(), g.len());
        for (a, b) in g.iter().zip(&j) {
            assert!((b.bbox[2] / a.bbox[2] - 1.0).abs() <= 0.1 + 1e-9);
            let shift = (b.bbox[0] + b.bbox[2] / 2.0) - (a.bbox[0] + a.bbox[2] / 2.0);
            assert!(shift.abs() <= 0.1 * a.bbox[2] + 1e-9, "{shift}");
        }
    }

    /// The boxes behind the supervision figures recorded in `stages/tests/tracking.rs`: if
    /// this changes, those figures no longer describe the test's input (rerun
    /// `benches/tracking/reference.sh`).
    #[test]
    fn the_quality_test_inputs_are_the_ones_supervision_was_scored_on() {
        use sha2::{Digest, Sha256};
        let mut all = String::new();
        for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/fixtures/mot")
                .join(seq)
                .join("gt.txt");
            let gt = super::super::mot::read(&p).unwrap();
            for preset in [Degrade::HARD, Degrade::MILD] {
                for seed in 1..=5 {
                    all.push_str(&super::super::mot::to_csv(&degrade(&gt, &preset, seed)));
                }
            }
        }
        let hash: String = Sha256::digest(all.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hash,
            "3d61188e2175f82235dc835c4c33f10c68fc831131f78c361c311e1a5864a94f"
        );
    }

    #[test]
    fn csv_reads_back() {
        let d = degrade(&gt(), &Degrade::MILD, 3);
        let back = super::super::mot::parse(&super::super::mot::to_csv(&d), "det.txt").unwrap();
        assert_eq!(back.len(), d.len());
        assert!((back[0].bbox[0] - d[0].bbox[0]).abs() < 0.01);
    }
}
