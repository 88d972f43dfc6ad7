//! Embedding edgeflow in your own program: a pipeline from a TOML string, a stage type of your
//! own, the events read back in Rust, and a change to a running stage.
//!
//! Run it with `cargo run --example embed`. It also runs in the tests (`tests/embed.rs`).

use std::time::Duration;

use edgeflow::schemars::JsonSchema;
use edgeflow::{
    BuildCtx, BuildError, Changed, Detections, Emit, Invalid, Message, Pipeline, QueuePolicy,
    Reconfigure, RunOptions, StageError, StageInfo, Transform,
};
use serde::Deserialize;

/// Config of our own stage: keep detections covering at least `min_area` of the frame. Its
/// JSON Schema (for `edgeflow schema` and editors) is derived too; the doc comments become
/// the descriptions an editor shows.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "edgeflow::schemars")]
struct MinAreaConfig {
    /// The smallest box kept, as a share of the frame's area (0..1).
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

    /// `min_area` changes in place, from the next item on (the runtime has checked the new
    /// config with `validate` already).
    fn reconfigure(
        &mut self,
        cfg: &MinAreaConfig,
        _changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        self.min_area = cfg.min_area;
        Ok(Reconfigure::Applied)
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
realtime = true   # 50 frames a second, so the change below lands mid-stream
fps = 50

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
    /// The last frame `big` handled with the old `min_area`.
    pub changed_after: u64,
    /// Objects kept after the change (none is half the frame).
    pub objects_after_change: usize,
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

    // Every problem in the TOML is reported at once; the error shows as the CLI renders it
    // (`Diagnostics::eprint` prints it with colour on a terminal).
    let loaded = edgeflow::load_str(&registry, "embedded.toml", PIPELINE, ".".as_ref())?;

    let mut pipeline = Pipeline::build(loaded.spec, RunOptions::default())?;
    // A copy of everything `big` produces; `block` makes the pipeline wait for us.
    let events = pipeline.subscribe("big", 16, QueuePolicy::Block)?;
    let handle = pipeline.start()?;

    let mut seen = Seen {
        messages: 0,
        objects: 0,
        changed_after: u64::MAX,
        objects_after_change: 0,
    };
    for msg in events.iter() {
        if let Message::Detections(d) = msg {
            seen.messages += 1;
            seen.objects += d.detections.len();
            if d.meta.seq > seen.changed_after {
                seen.objects_after_change += d.detections.len();
            }
        }
        if seen.messages == 20 && seen.changed_after == u64::MAX {
            // A TOML fragment of the stage's own table, checked like the file was: a typo or a
            // bad value comes back as diagnostics and changes nothing.
            let done = handle
                .stage("big")?
                .reconfigure("min_area = 0.5", Duration::from_secs(5))?;
            seen.changed_after = done.last_seq_before.values().copied().max().unwrap_or(0);
            println!(
                "min_area is now 0.5 ({}), from frame {} on",
                done.outcome.name(),
                seen.changed_after + 1
            );
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
