//! Events out: a detections message into events and their JSON, and spool appends with the
//! fsync batched every 100 ms (the default) and after every append, in a temporary folder.
//! Run with `cargo bench -p edgeflow-benches --bench events`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use edgeflow_stages::publish::event::events;
use edgeflow_stages::publish::spool::{Spool, SpoolOptions};

fn serialise(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_serialise");
    g.throughput(Throughput::Elements(1));
    for boxes in [1usize, 10, 50] {
        let msg = edgeflow_benches::detections_message(7, boxes);
        g.bench_with_input(BenchmarkId::new("detections", boxes), &msg, |b, msg| {
            b.iter(|| {
                for e in events("edge-01", msg) {
                    black_box(e.to_json().len());
                }
            })
        });
    }
    g.finish();
}

fn spool(c: &mut Criterion) {
    let payload = events("edge-01", &edgeflow_benches::detections_message(7, 3))
        .first()
        .map(|e| e.to_json())
        .unwrap_or_default();
    let mut g = c.benchmark_group("spool_append");
    g.throughput(Throughput::Elements(1));
    for (name, fsync_ms) in [("fsync_every_100ms", 100u64), ("fsync_each", 0)] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let spool = Spool::open(SpoolOptions {
            fsync_interval_ms: fsync_ms,
            ..SpoolOptions::new(dir.path())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        g.bench_function(name, |b| {
            b.iter(|| black_box(spool.append(&payload).unwrap_or_else(|e| panic!("{e}"))))
        });
    }
    g.finish();
}

criterion_group!(benches, serialise, spool);
criterion_main!(benches);
