//! The tracker alone on recorded detections, for `benches/compare/run.sh`: reads the JSON
//! lines `benches/compare/peer.py full --dump` writes (per frame: `w`, `h`, `boxes` as
//! `[x1, y1, x2, y2, score]` in pixels), runs edgeflow's ByteTrack over them with the
//! parameters of `pipelines/people_count.toml`, and prints the best of `--rounds` as JSON.
//!
//!   cargo run --release -p edgeflow-benches --bin track-replay -- DETECTIONS.jsonl [ROUNDS]

use std::sync::Arc;
use std::time::Instant;

use edgeflow_core::{BBox, Detection, Detections, Meta};
use edgeflow_stages::track::{Tracker, TrackerParams};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: track-replay DETECTIONS.jsonl [ROUNDS]")?;
    let rounds: usize = args
        .next()
        .map_or(Ok(3), |r| r.parse())
        .map_err(|e| format!("ROUNDS: {e}"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let label: Arc<str> = "person".into();
    let mut frames = Vec::new();
    for (seq, line) in text.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{path}:{}: {e}", seq + 1))?;
        let num = |k: &str| v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(1.0) as f32;
        let (w, h) = (num("w"), num("h"));
        let boxes = v
            .get("boxes")
            .and_then(|b| b.as_array())
            .cloned()
            .unwrap_or_default();
        let detections = boxes
            .iter()
            .filter_map(|b| {
                let b: Vec<f32> = b
                    .as_array()?
                    .iter()
                    .filter_map(|x| x.as_f64())
                    .map(|x| x as f32)
                    .collect();
                let [x1, y1, x2, y2, score] = b[..] else {
                    return None;
                };
                Some(Detection {
                    class_id: 0,
                    label: label.clone(),
                    score,
                    bbox: BBox {
                        x: x1 / w,
                        y: y1 / h,
                        width: (x2 - x1) / w,
                        height: (y2 - y1) / h,
                    },
                    keypoints: vec![],
                })
            })
            .collect();
        frames.push(Detections {
            meta: Meta::now("cam".into(), seq as u64, seq as u64 * 100_000_000),
            frame_width: w as u32,
            frame_height: h as u32,
            detections,
            skipped: false,
            face_model: false,
        });
    }
    // pipelines/people_count.toml's track stage.
    let params = TrackerParams {
        high_threshold: 0.4,
        low_threshold: 0.2,
        new_track_threshold: 0.5,
        track_buffer_s: 2.0,
        ..TrackerParams::default()
    };
    let mut best = f64::MAX;
    let mut tracks = 0usize;
    for _ in 0..rounds.max(1) {
        let mut t = Tracker::new(params.clone());
        let start = Instant::now();
        tracks = frames.iter().map(|f| t.update(f).len()).sum();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({
            "mode": "edgeflow-tracker", "frames": frames.len(), "rounds": rounds,
            "seconds": best, "updates_per_s": frames.len() as f64 / best, "track_rows": tracks,
        })
    );
    Ok(())
}
