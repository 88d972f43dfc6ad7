//! What one item costs the runtime per hop, beside the limit: the same number of tiny messages
//! through plain `flume` channels between the same number of threads, measured in the same
//! run. The runtime adds per item: the command check (control plane), metrics, the state's
//! atomics and the last-`seq` record; the gap between the two is that cost.
//!
//! Run with `cargo bench -p edgeflow-benches --bench hops`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgeflow_core::{
    BuildCtx, BuildError, Detections, Emit, Message, Meta, Pipeline, Registry, RunOptions, Sink,
    Source, StageError, StageInfo, Transform, load_str,
};
use serde::Deserialize;

const ITEMS: u64 = 20_000;

fn tiny(stream: &Arc<str>, seq: u64) -> Detections {
    Detections {
        meta: Meta::now(stream.clone(), seq, seq),
        frame_width: 1,
        frame_height: 1,
        detections: Vec::new(),
        skipped: false,
        face_model: false,
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
struct Empty {}

/// `ITEMS` tiny detection messages.
struct Gen {
    n: u64,
    stream: Arc<str>,
}

impl Source for Gen {
    type Config = Empty;
    type Out = Detections;
    fn build(_: Empty, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Gen {
            n: 0,
            stream: "s".into(),
        })
    }
    fn next(&mut self) -> Result<Option<Detections>, StageError> {
        if self.n >= ITEMS {
            return Ok(None);
        }
        self.n += 1;
        Ok(Some(tiny(&self.stream, self.n)))
    }
}

/// Passes every item on.
struct Pass;

impl Transform for Pass {
    type Config = Empty;
    type In = Detections;
    type Out = Detections;
    fn build(_: Empty, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Pass)
    }
    fn process(&mut self, d: Detections, out: &mut Emit<Detections>) -> Result<(), StageError> {
        out.push(d);
        Ok(())
    }
}

/// Counts.
struct Count(u64);

impl Sink for Count {
    type Config = Empty;
    type In = Detections;
    fn build(_: Empty, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Count(0))
    }
    fn consume(&mut self, d: Detections) -> Result<(), StageError> {
        self.0 += black_box(d.meta.seq) & 1;
        Ok(())
    }
}

fn hops(c: &mut Criterion) {
    let info = |type_name| StageInfo {
        type_name,
        variant: None,
        summary: "bench",
        example: "",
    };
    let mut registry = Registry::new();
    registry
        .source::<Gen>(info("gen"))
        .transform::<Pass>(info("pass"))
        .sink::<Count>(info("count"));
    let text = "[stages.gen]\ntype = \"gen\"\n[stages.pass]\ntype = \"pass\"\ninputs = [\"gen\"]\n\
                [stages.out]\ntype = \"count\"\ninputs = [\"pass\"]\n";

    let mut g = c.benchmark_group("hops");
    g.throughput(Throughput::Elements(ITEMS));
    g.sample_size(20);
    g.bench_function("flume_3_threads_2_hops_limit", |b| {
        b.iter(|| {
            let (tx1, rx1) = flume::bounded::<Message>(256);
            let (tx2, rx2) = flume::bounded::<Message>(256);
            let src = std::thread::spawn(move || {
                let stream: Arc<str> = "s".into();
                for n in 0..ITEMS {
                    let _ = tx1.send(Message::Detections(tiny(&stream, n)));
                }
            });
            let mid = std::thread::spawn(move || {
                for m in rx1.iter() {
                    let _ = tx2.send(m);
                }
            });
            let mut count = 0u64;
            for m in rx2.iter() {
                count += black_box(m.meta().seq) & 1;
            }
            let _ = src.join();
            let _ = mid.join();
            black_box(count)
        })
    });
    g.bench_function("runtime_source_transform_sink", |b| {
        b.iter(|| {
            let Ok(loaded) = load_str(&registry, "hops.toml", text, ".".as_ref()) else {
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

criterion_group!(benches, hops);
criterion_main!(benches);
