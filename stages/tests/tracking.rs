//! Tracker quality on hard input: the TUD-Campus and TUD-Stadtmitte ground truth degraded the
//! way a detector degrades it (`edgeflow_stages::eval::degrade`, the same boxes `edgeflow eval
//! degrade` writes), replayed as MOTChallenge det.txt through the code `edgeflow eval track`
//! runs, scored with the MOT evaluator, against supervision's ByteTrack on the very same
//! boxes.
//!
//! Two kinds of input, five seeds each (1 to 5, chosen before any result was seen; every run
//! is printed):
//! - `hard`: 35 % of boxes dropped, centres and sizes jittered by up to 10 %, 10 % false
//!   positives, scores uniform over 0.3–0.95 (a weak detector on a busy scene);
//! - `mild`: 20 % dropped, 5 % jitter, 5 % false positives, every score 0.8.
//!
//! Frames are 640×480 at 25 fps.

use std::path::Path;

use edgeflow_stages::capture::replay::{MotReplay, mot as replay_mot};
use edgeflow_stages::eval::degrade::{Degrade, degrade};
use edgeflow_stages::eval::mot::{self, MotMetrics, Row};
use edgeflow_stages::eval::track;
use edgeflow_stages::track::{ReportBox, TrackerKind, TrackerParams};

/// supervision 0.30.9's ByteTrack on the same input: (sequence, input, seed, MOTA, IDF1).
///
/// Made once by `benches/tracking/reference.sh` (on 2026-12-03, Python 3.11.7, numpy from
/// supervision's pinned requirements, no OpenCV): `edgeflow eval degrade --preset P --seed S
/// --frame-size 640,480` wrote det.txt, `benches/tracking/supervision_track.py` ran
/// `sv.ByteTrack(frame_rate=25)` (its other defaults: activation 0.25, lost buffer 30,
/// matching 0.8, one consecutive frame) over every frame and wrote what
/// `update_with_detections` returned, and `edgeflow eval mot` scored it (motmetrics'
/// conventions, IoU 0.5).
const SUPERVISION: [(&str, &str, u64, f64, f64); 20] = [
    ("TUD-Campus", "hard", 1, 0.6072, 0.6951),
    ("TUD-Campus", "hard", 2, 0.6017, 0.7418),
    ("TUD-Campus", "hard", 3, 0.5543, 0.5874),
    ("TUD-Campus", "hard", 4, 0.5738, 0.6747),
    ("TUD-Campus", "hard", 5, 0.6100, 0.6712),
    ("TUD-Campus", "mild", 1, 0.7799, 0.8696),
    ("TUD-Campus", "mild", 2, 0.7911, 0.8713),
    ("TUD-Campus", "mild", 3, 0.7688, 0.8616),
    ("TUD-Campus", "mild", 4, 0.8050, 0.8858),
    ("TUD-Campus", "mild", 5, 0.7799, 0.8754),
    ("TUD-Stadtmitte", "hard", 1, 0.6202, 0.7190),
    ("TUD-Stadtmitte", "hard", 2, 0.6332, 0.6727),
    ("TUD-Stadtmitte", "hard", 3, 0.6202, 0.7432),
    ("TUD-Stadtmitte", "hard", 4, 0.6237, 0.6455),
    ("TUD-Stadtmitte", "hard", 5, 0.5943, 0.6791),
    ("TUD-Stadtmitte", "mild", 1, 0.7881, 0.8266),
    ("TUD-Stadtmitte", "mild", 2, 0.7967, 0.8869),
    ("TUD-Stadtmitte", "mild", 3, 0.7863, 0.8806),
    ("TUD-Stadtmitte", "mild", 4, 0.8071, 0.8352),
    ("TUD-Stadtmitte", "mild", 5, 0.7699, 0.8705),
];

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

fn fixture(seq: &str, file: &str) -> Vec<Row> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/mot")
        .join(seq)
        .join(file);
    mot::read(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// The tracker with `params` on `seq` degraded by `preset` with `seed`, through det.txt.
fn run(seq: &str, preset: &str, seed: u64, params: &TrackerParams) -> MotMetrics {
    run_on(seq, &Degrade::preset(preset).unwrap(), seed, params)
}

fn run_on(seq: &str, how: &Degrade, seed: u64, params: &TrackerParams) -> MotMetrics {
    let gt = fixture(seq, "gt.txt");
    let dets = degrade(&gt, how, seed);
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    std::fs::write(&det, mot::to_csv(&dets)).unwrap();
    let how = MotReplay {
        stream_id: "tud".into(),
        frame_size: (640, 480),
        fps: 25.0,
        label: "person".into(),
        frames: None,
    };
    let frames = replay_mot::read(&det, &how).unwrap();
    let out = track::run(params.clone(), None, &frames).unwrap();
    mot::evaluate(&gt, &out.rows, 0.5)
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.collect();
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn bytetrack_with_its_defaults_matches_or_beats_supervision_on_hard_and_mild_input() {
    let mut report =
        String::from("sequence        input seed  sv MOTA  our MOTA  sv IDF1  our IDF1\n");
    let mut failures = Vec::new();
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        for preset in ["hard", "mild"] {
            let mut ours = Vec::new();
            let mut theirs = Vec::new();
            for seed in SEEDS {
                let m = run(seq, preset, seed, &TrackerParams::default());
                let &(_, _, _, sv_mota, sv_idf1) = SUPERVISION
                    .iter()
                    .find(|r| r.0 == seq && r.1 == preset && r.2 == seed)
                    .expect("a recorded supervision figure for every run");
                report.push_str(&format!(
                    "{seq:15} {preset:5} {seed:4}  {sv_mota:7.4}  {:8.4}  {sv_idf1:7.4}  {:8.4}\n",
                    m.mota, m.idf1
                ));
                ours.push((m.mota, m.idf1));
                theirs.push((sv_mota, sv_idf1));
            }
            let (our_mota, sv_mota) = (
                mean(ours.iter().map(|x| x.0)),
                mean(theirs.iter().map(|x| x.0)),
            );
            let (our_idf1, sv_idf1) = (
                mean(ours.iter().map(|x| x.1)),
                mean(theirs.iter().map(|x| x.1)),
            );
            report.push_str(&format!(
                "{seq:15} {preset:5} mean  {sv_mota:7.4}  {our_mota:8.4}  {sv_idf1:7.4}  {our_idf1:8.4}\n"
            ));
            if our_mota < sv_mota - 0.01 {
                failures.push(format!(
                    "{seq} {preset}: MOTA {our_mota:.4} < supervision's {sv_mota:.4} - 0.01"
                ));
            }
            if our_idf1 < sv_idf1 {
                failures.push(format!(
                    "{seq} {preset}: IDF1 {our_idf1:.4} < supervision's {sv_idf1:.4}"
                ));
            }
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{}\n{report}", failures.join("\n"));
}

/// Reporting lost tracks for a few frames bridges the detector's misses: fewer
/// fragmentations and misses, paid for with false positives where someone really left.
#[test]
fn reporting_lost_tracks_trades_false_positives_for_fragmentations() {
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let base = run(seq, "hard", 1, &TrackerParams::default());
        let coast = run(
            seq,
            "hard",
            1,
            &TrackerParams {
                report_lost_frames: 3,
                ..TrackerParams::default()
            },
        );
        println!(
            "{seq}\n{}",
            MotMetrics::table(&[
                ("report_lost_frames=0".into(), base.clone()),
                ("report_lost_frames=3".into(), coast.clone())
            ])
        );
        assert!(coast.fragmentations < base.fragmentations, "{seq}: FM");
        assert!(coast.fn_ < base.fn_, "{seq}: FN");
        assert!(coast.fp > base.fp, "{seq}: FP");
    }
}

/// The detection's box is what a matched track reports; the filter's estimate lags in size.
/// On clean ground truth the detection box is exact and the estimate is not.
#[test]
fn matched_tracks_report_the_detection_box_unless_the_estimate_is_asked_for() {
    let clean = Degrade {
        drop: 0.0,
        jitter: 0.0,
        false_positive: 0.0,
        score: (0.9, 0.9),
        frame: (640.0, 480.0),
    };
    let estimate = TrackerParams {
        report_box: ReportBox::Estimate,
        ..TrackerParams::default()
    };
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let det = run_on(seq, &clean, 1, &TrackerParams::default());
        let est = run_on(seq, &clean, 1, &estimate);
        let mild_det = run(seq, "mild", 2, &TrackerParams::default());
        let mild_est = run(seq, "mild", 2, &estimate);
        let table = MotMetrics::table(&[
            ("clean, detection".into(), det.clone()),
            ("clean, estimate".into(), est.clone()),
            ("mild, detection".into(), mild_det.clone()),
            ("mild, estimate".into(), mild_est.clone()),
        ]);
        println!("{seq}\n{table}");
        assert!(
            det.motp < 1e-3,
            "{seq}: detection boxes are the truth\n{table}"
        );
        assert!(
            est.motp > det.motp + 0.02,
            "{seq}: the estimate lags\n{table}"
        );
        assert!(det.mota >= est.mota, "{seq}\n{table}");
        // On jittered boxes the two are close (the filter smooths the jitter out as much as
        // it lags): the same tracks, the same matches.
        assert_eq!(mild_det.matches, mild_est.matches, "{seq}\n{table}");
    }
}

/// The reference tracker shipped with the data (`test.txt`, a real tracker on real
/// detections) for scale, and the IoU tracker: ByteTrack beats the first and switches
/// identities no more often than the second on the hard input.
#[test]
fn bytetrack_beats_the_reference_and_switches_ids_less_than_the_iou_tracker() {
    for seq in ["TUD-Campus", "TUD-Stadtmitte"] {
        let reference = mot::evaluate(&fixture(seq, "gt.txt"), &fixture(seq, "test.txt"), 0.5);
        let byte = run(seq, "hard", 1, &TrackerParams::default());
        let iou = run(
            seq,
            "hard",
            1,
            &TrackerParams {
                tracker: TrackerKind::Iou,
                ..TrackerParams::default()
            },
        );
        let table = MotMetrics::table(&[
            ("reference".into(), reference.clone()),
            ("bytetrack".into(), byte.clone()),
            ("iou".into(), iou.clone()),
        ]);
        println!("{seq}\n{table}");
        assert!(byte.mota > reference.mota, "{seq}: MOTA\n{table}");
        assert!(byte.idf1 > reference.idf1, "{seq}: IDF1\n{table}");
        assert!(iou.matches > 0);
        assert!(
            byte.id_switches <= iou.id_switches,
            "{seq}: switches\n{table}"
        );
    }
}
