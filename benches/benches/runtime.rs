//! Micro-benchmarks of the backbone: test-pattern rendering, the mock detector, and a whole
//! pipeline (capture → detect → publish to /dev/null) through the threaded runtime. Compare
//! the pipeline's per-frame time with the stage-only numbers from the same run: the gap is
//! the runtime's overhead (queues, threads, metrics).
//!
//! Run with `cargo bench -p edgeflow-benches`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeflow_backend_mock::MockDetector;
use edgeflow_core::testing::run_source;
use edgeflow_core::{Pipeline, RunOptions, load_str};
use edgeflow_stages::capture::{TestPattern, TestPatternConfig};

const FRAMES: u64 = 100;

fn cfg() -> TestPatternConfig {
    TestPatternConfig {
        width: 640,
        height: 480,
        count: Some(FRAMES),
        objects: 4,
        ..Default::default()
    }
}

fn stages(c: &mut Criterion) {
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(FRAMES));
    g.sample_size(10);
    g.bench_function("test_pattern_640x480", |b| {
        b.iter(|| black_box(run_source::<TestPattern>(cfg(), FRAMES as usize).map(|v| v.len())))
    });
    let frames = run_source::<TestPattern>(cfg(), FRAMES as usize).unwrap_or_default();
    let det = MockDetector::new();
    g.bench_function("mock_detect_640x480", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(det.detect(f).map(|d| d.len()).unwrap_or(0));
            }
        })
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let text = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\ncount = {FRAMES}\nobjects = 4\n\
         [stages.det]\ntype = \"detect\"\nbackend = \"mock\"\ninputs = [\"cam\"]\n\
         [stages.out]\ntype = \"publish\"\nsink = \"jsonl\"\npath = \"/dev/null\"\ninputs = [\"det\"]\n"
    );
    let registry = edgeflow_stages::registry();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(FRAMES));
    g.sample_size(10);
    g.bench_function("capture_detect_publish_640x480", |b| {
        b.iter(|| {
            let Ok(loaded) = load_str(&registry, "bench.toml", &text, ".".as_ref()) else {
                return;
            };
            let Ok(p) = Pipeline::build(loaded.spec, RunOptions::default()) else {
                return;
            };
            black_box(p.run().map(|r| r.metrics.frames).unwrap_or(0));
        })
    });
    g.finish();
}

criterion_group!(benches, stages, pipeline);
criterion_main!(benches);
