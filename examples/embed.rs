//! Embedding edgeflow in your own program: a pipeline from a TOML string, a stage type of your
//! own, and the events read back in Rust.
//!
//! Run it with `cargo run --example embed`. It also runs in the tests (`tests/embed.rs`).

use edgeflow::{
    BuildCtx, BuildError, Detections, Emit, Invalid, Message, Pipeline, QueuePolicy, RunOptions,
    StageError, StageInfo, Transform,
};
use serde::Deserialize;

/// Config of our own stage: keep detections covering at least `min_area` of the frame.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinAreaConfig {
    min_area: f32,
}

/// A custom transform: Detections in, fewer Detections out.
struct MinArea {
    min_area: f32,
}

impl Transform for MinArea {
    type Config = MinAreaConfig;
    type In = Detections;
    type Out = Detections;

    fn validate(cfg: &MinAreaConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if !(0.0..=1.0).contains(&cfg.min_area) {
            inv.field(
                "min_area",
                "must be a fraction of the frame",
                Some("use a value between 0 and 1".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: MinAreaConfig, _ctx: &BuildCtx) -> Result<Self, BuildError> {
        Ok(MinArea {
            min_area: cfg.min_area,
        })
    }

    fn process(&mut self, mut d: Detections, out: &mut Emit<Detections>) -> Result<(), StageError> {
        d.detections
            .retain(|x| x.bbox.width * x.bbox.height >= self.min_area);
        out.push(d);
        Ok(())
    }
}

const PIPELINE: &str = r#"
[pipeline]
name = "embedded"

[stages.cam]
type = "capture"
source = "test_pattern"
width = 320
height = 240
count = 50
objects = 5

[stages.det]
type = "detect"
backend = "mock"
inputs = ["cam"]

[stages.big]
type = "min_area"
inputs = ["det"]
min_area = 0.04

[stages.log]
type = "publish"
sink = "jsonl"
path = "/dev/null"
inputs = ["big"]
"#;

/// What the example saw.
#[derive(Debug)]
pub struct Seen {
    /// Detections messages read from the `big` stage.
    pub messages: usize,
    /// Objects kept by the custom stage, over all frames.
    pub objects: usize,
}

/// Build, run and read the pipeline; returns what was read.
pub fn run() -> Result<Seen, Box<dyn std::error::Error>> {
    // The built-in stage types, plus ours.
    let mut registry = edgeflow::registry();
    registry.transform::<MinArea>(StageInfo {
        type_name: "min_area",
        variant: None,
        summary: "drops detections smaller than `min_area` of the frame",
        example: "",
    });

    // Every problem in the TOML is reported at once, rendered like the CLI does.
    let loaded = edgeflow::load_str(&registry, "embedded.toml", PIPELINE, ".".as_ref())
        .map_err(|d| d.render(false))?;

    let mut pipeline = Pipeline::build(loaded.spec, RunOptions::default())?;
    // A copy of everything `big` produces; `block` makes the pipeline wait for us.
    let events = pipeline.subscribe("big", 16, QueuePolicy::Block)?;
    let handle = pipeline.start()?;

    let mut seen = Seen {
        messages: 0,
        objects: 0,
    };
    for msg in events.iter() {
        if let Message::Detections(d) = msg {
            seen.messages += 1;
            seen.objects += d.detections.len();
        }
    }
    let report = handle.wait();
    if let Some(failure) = report.failure {
        return Err(failure.into());
    }
    println!(
        "read {} detection messages with {} large objects; {:.0} fps",
        seen.messages, seen.objects, report.metrics.fps
    );
    Ok(seen)
}

#[allow(dead_code)] // `main` is unused when the tests include this file.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    run().map(|_| ())
}
