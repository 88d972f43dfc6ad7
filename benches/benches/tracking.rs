//! Tracker update at 10, 50 and 200 objects; zone evaluation at 200 tracks × 20 zones.
//! Run with `cargo bench -p edgeflow-benches --bench tracking`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgeflow_core::testing::config_from_toml;
use edgeflow_core::{BBox, BuildCtx, Detection, Detections, Emit, Meta, Track, Tracks, Transform};
use edgeflow_stages::track::{Tracker, TrackerParams};
use edgeflow_stages::zone::{ZoneConfig, Zones};

/// `n` objects on a grid, moving right by `step` per frame.
fn frame(n: usize, seq: u64) -> Detections {
    let label: Arc<str> = "person".into();
    let side = (n as f64).sqrt().ceil() as usize;
    let detections = (0..n)
        .map(|i| {
            let (gx, gy) = ((i % side) as f32, (i / side) as f32);
            Detection {
                class_id: 0,
                label: label.clone(),
                score: 0.9,
                bbox: BBox {
                    x: (gx / side as f32 + seq as f32 * 0.001) % 0.95,
                    y: gy / side as f32,
                    width: 0.4 / side as f32,
                    height: 0.8 / side as f32,
                },
                keypoints: vec![],
            }
        })
        .collect();
    Detections {
        meta: Meta::now("b".into(), seq, seq * 33_333_333),
        frame_width: 1920,
        frame_height: 1080,
        detections,
        skipped: false,
        face_model: false,
    }
}

fn tracker(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracker_update");
    for n in [10usize, 50, 200] {
        let frames: Vec<Detections> = (0..50).map(|s| frame(n, s)).collect();
        g.throughput(Throughput::Elements(frames.len() as u64));
        g.bench_with_input(BenchmarkId::new("bytetrack", n), &frames, |b, frames| {
            b.iter(|| {
                let mut t = Tracker::new(TrackerParams::default());
                for f in frames {
                    black_box(t.update(f).len());
                }
            })
        });
    }
    g.finish();
}

fn zones(c: &mut Criterion) {
    let zones: Vec<String> = (0..20)
        .map(|i| {
            let x = (i % 5) as f64 * 0.2;
            let y = (i / 5) as f64 * 0.25;
            format!(
                "{{ id = \"z{i}\", polygon = [[{x}, {y}], [{}, {y}], [{}, {}], [{x}, {}]] }}",
                x + 0.2,
                x + 0.2,
                y + 0.25,
                y + 0.25
            )
        })
        .collect();
    let cfg: ZoneConfig =
        config_from_toml(&format!("min_frames = 2\nzones = [{}]", zones.join(", ")))
            .unwrap_or_else(|e| panic!("{e}"));
    let label: Arc<str> = "person".into();
    let frames: Vec<Tracks> = (0..20u64)
        .map(|s| {
            let d = frame(200, s);
            Tracks {
                meta: d.meta.clone(),
                frame_width: 1920,
                frame_height: 1080,
                tracks: d
                    .detections
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut det)| {
                        det.label = label.clone();
                        Track {
                            track_id: i as u64,
                            detection: det,
                            age_frames: s,
                            lost_frames: 0,
                        }
                    })
                    .collect(),
                face_model: false,
            }
        })
        .collect();
    let mut g = c.benchmark_group("zone_evaluation");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("200_tracks_x_20_zones", |b| {
        b.iter(|| {
            let Ok(mut z) = Zones::build(cfg.clone(), &BuildCtx::for_stage("z")) else {
                return;
            };
            let mut out = Emit::new();
            for f in &frames {
                let _ = z.process(f.clone(), &mut out);
            }
            black_box(out.len());
        })
    });
    g.finish();
}

criterion_group!(benches, tracker, zones);
criterion_main!(benches);
