//! Runtime behaviour with purpose-built stages: queue policies under a slow sink, fan-out and
//! fan-in, transient and fatal errors, panics, stop requests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeflow_core::{
    BuildCtx, BuildError, Detections, Emit, Frame, Message, Meta, Pipeline, PixelFormat,
    QueuePolicy, Registry, RunOptions, Sink, Source, StageError, StageInfo, Transform, load_str,
};
use serde::Deserialize;

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct CountCfg {
    count: Option<u64>,
    #[serde(default)]
    stream_id: Option<String>,
}

/// Emits `count` tiny frames (endless without a count).
struct Counter {
    n: u64,
    count: Option<u64>,
    stream: Arc<str>,
}

impl Source for Counter {
    type Config = CountCfg;
    type Out = Frame;
    fn build(cfg: CountCfg, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Counter {
            n: 0,
            count: cfg.count,
            stream: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
        })
    }
    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        if self.count.is_some_and(|c| self.n >= c) {
            return Ok(None);
        }
        let f = Frame::packed(
            Meta::now(self.stream.clone(), self.n, self.n),
            2,
            2,
            PixelFormat::Gray,
            vec![self.n as u8; 4].into(),
        )
        .map_err(StageError::fatal)?;
        self.n += 1;
        Ok(Some(f))
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct FlakyCfg {
    #[serde(default)]
    transient_every: Option<u64>,
    #[serde(default)]
    fatal_at: Option<u64>,
    #[serde(default)]
    panic_at: Option<u64>,
}

/// Frame → Detections, failing as configured.
struct Flaky(FlakyCfg);

impl Transform for Flaky {
    type Config = FlakyCfg;
    type In = Frame;
    type Out = Detections;
    fn build(cfg: FlakyCfg, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Flaky(cfg))
    }
    fn process(&mut self, f: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        let seq = f.meta.seq;
        if self
            .0
            .transient_every
            .is_some_and(|n| seq.is_multiple_of(n))
        {
            return Err(StageError::transient(format!("bad frame {seq}")));
        }
        if self.0.fatal_at == Some(seq) {
            return Err(StageError::fatal("device lost"));
        }
        if self.0.panic_at == Some(seq) {
            panic!("stage bug at {seq}");
        }
        out.push(Detections::nothing(&f));
        Ok(())
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct SlowCfg {
    #[serde(default)]
    delay_ms: u64,
}

/// Records every seq it sees, slowly; the record is shared through a global per test name.
struct Slow {
    delay: Duration,
    seen: Record,
}

/// (stream id, seq) of every message a `slow` sink consumed.
type Record = Arc<Mutex<Vec<(String, u64)>>>;

static SEEN: Mutex<Vec<(String, Record)>> = Mutex::new(Vec::new());

fn seen_for(pipeline: &str) -> Record {
    let mut all = SEEN.lock().unwrap();
    if let Some((_, v)) = all.iter().find(|(p, _)| p == pipeline) {
        return v.clone();
    }
    let v = Arc::new(Mutex::new(Vec::new()));
    all.push((pipeline.to_string(), v.clone()));
    v
}

impl Sink for Slow {
    type Config = SlowCfg;
    type In = Message;
    fn build(cfg: SlowCfg, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Slow {
            delay: Duration::from_millis(cfg.delay_ms),
            seen: seen_for(&ctx.pipeline),
        })
    }
    fn consume(&mut self, m: Message) -> Result<(), StageError> {
        std::thread::sleep(self.delay);
        self.seen
            .lock()
            .unwrap()
            .push((m.meta().stream_id.to_string(), m.meta().seq));
        Ok(())
    }
}

fn registry() -> Registry {
    let info = |type_name| StageInfo {
        type_name,
        variant: None,
        summary: "test",
        example: "",
    };
    let mut r = Registry::new();
    r.source::<Counter>(info("counter"))
        .transform::<Flaky>(info("flaky"))
        .sink::<Slow>(info("slow"));
    r
}

fn pipeline(name: &str, stages: &str) -> Pipeline {
    let text = format!("[pipeline]\nname = \"{name}\"\n{stages}");
    let loaded = load_str(&registry(), "test.toml", &text, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    Pipeline::build(loaded.spec, RunOptions::default()).unwrap()
}

#[test]
fn block_edge_under_slow_sink_loses_nothing() {
    let p = pipeline(
        "block",
        r#"
[stages.src]
type = "counter"
count = 200
[stages.out]
type = "slow"
inputs = ["src"]
delay_ms = 1
queue = { capacity = 2, policy = "block" }
"#,
    );
    let report = p.run().unwrap();
    let seen = seen_for("block");
    let seqs: Vec<u64> = seen.lock().unwrap().iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    assert_eq!(report.metrics.total_dropped(), 0);
    assert!(report.failure.is_none());
}

#[test]
fn drop_oldest_edge_under_slow_sink_drops_and_counts() {
    let p = pipeline(
        "drop",
        r#"
[stages.src]
type = "counter"
count = 300
[stages.out]
type = "slow"
inputs = ["src"]
delay_ms = 2
queue = { capacity = 2, policy = "drop_oldest" }
"#,
    );
    let report = p.run().unwrap();
    let seen = seen_for("drop");
    let seqs: Vec<u64> = seen.lock().unwrap().iter().map(|(_, s)| *s).collect();
    let dropped = report.metrics.total_dropped();
    assert!(
        dropped > 0,
        "a fast source into a 2-slot queue of a slow sink must drop"
    );
    // Every frame is either delivered or counted as dropped: nothing vanishes silently.
    assert_eq!(seqs.len() as u64 + dropped, 300);
    assert_eq!(report.metrics.stage("out").unwrap().dropped_in, dropped);
    // What arrives is in order, and the newest frame always survives.
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(seqs.last(), Some(&299));
}

#[test]
fn fan_out_shares_pixels_and_fan_in_merges_streams() {
    let mut p = pipeline(
        "fan",
        r#"
[stages.a]
type = "counter"
count = 20
[stages.b]
type = "counter"
count = 30
[stages.out]
type = "slow"
inputs = ["a", "b"]
"#,
    );
    let rx1 = p.subscribe("a", 64, QueuePolicy::Block).unwrap();
    let rx2 = p.subscribe("a", 64, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let one: Vec<Message> = rx1.iter().collect();
    let two: Vec<Message> = rx2.iter().collect();
    let report = h.wait();
    assert_eq!((one.len(), two.len()), (20, 20));
    for (x, y) in one.iter().zip(&two) {
        let (Message::Frame(x), Message::Frame(y)) = (x, y) else {
            panic!("frames expected")
        };
        assert_eq!(
            x.data().as_ptr(),
            y.data().as_ptr(),
            "fan-out must not copy pixels"
        );
    }
    let seen = seen_for("fan");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.iter().filter(|(s, _)| s == "a").count(), 20);
    assert_eq!(seen.iter().filter(|(s, _)| s == "b").count(), 30);
    assert_eq!(report.metrics.stage("out").unwrap().items_in, 50);
}

#[test]
fn transient_errors_are_counted_and_skipped() {
    let p = pipeline(
        "transient",
        r#"
[stages.src]
type = "counter"
count = 30
[stages.f]
type = "flaky"
inputs = ["src"]
transient_every = 3
[stages.out]
type = "slow"
inputs = ["f"]
"#,
    );
    let report = p.run().unwrap();
    assert!(report.failure.is_none());
    let f = report.metrics.stage("f").unwrap();
    assert_eq!((f.items_in, f.items_out, f.errors), (30, 20, 10));
    assert_eq!(seen_for("transient").lock().unwrap().len(), 20);
}

#[test]
fn fatal_error_stops_sources_drains_and_names_the_stage() {
    let p = pipeline(
        "fatal",
        r#"
[stages.src]
type = "counter"
[stages.f]
type = "flaky"
inputs = ["src"]
fatal_at = 5
[stages.out]
type = "slow"
inputs = ["f"]
"#,
    );
    // The source is endless: only the fatal error can end this run.
    let report = p.run().unwrap();
    let failure = report.failure.expect("a failure");
    assert_eq!(failure.stage, "f");
    assert!(failure.cause.contains("device lost"));
    assert!(!report.stopped);
    // Everything before the failure reached the sink (drained, flushed).
    let seqs: Vec<u64> = seen_for("fatal")
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}

#[test]
fn a_panicking_stage_fails_like_a_fatal_error() {
    let p = pipeline(
        "panic",
        r#"
[stages.src]
type = "counter"
count = 50
[stages.f]
type = "flaky"
inputs = ["src"]
panic_at = 3
[stages.out]
type = "slow"
inputs = ["f"]
"#,
    );
    let report = p.run().unwrap();
    let failure = report.failure.expect("a failure");
    assert_eq!(failure.stage, "f");
    assert!(
        failure.cause.contains("stage bug at 3"),
        "{}",
        failure.cause
    );
}

#[test]
fn stop_request_ends_an_endless_source_and_flushes() {
    let p = pipeline(
        "stop",
        r#"
[stages.src]
type = "counter"
[stages.out]
type = "slow"
inputs = ["src"]
"#,
    );
    let h = p.start().unwrap();
    while h.metrics().frames() < 100 {
        std::thread::sleep(Duration::from_millis(5));
    }
    h.stop();
    let report = h.wait();
    assert!(report.stopped);
    assert!(report.failure.is_none());
    let n = seen_for("stop").lock().unwrap().len() as u64;
    // Nothing accepted is lost on a stop: every produced frame reached the sink.
    assert_eq!(n, report.metrics.frames);
}

#[test]
fn max_frames_limits_each_source() {
    let text =
        "[stages.src]\ntype = \"counter\"\n[stages.out]\ntype = \"slow\"\ninputs = [\"src\"]\n";
    let loaded = load_str(&registry(), "t.toml", text, ".".as_ref()).unwrap();
    let p = Pipeline::build(
        loaded.spec,
        RunOptions {
            max_frames: Some(7),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(p.expected_len(), Some(7));
    let report = p.run().unwrap();
    assert_eq!(report.metrics.frames, 7);
}

#[test]
fn subscribe_to_a_sink_or_unknown_stage_is_an_error() {
    let mut p = pipeline(
        "sub",
        "[stages.src]\ntype = \"counter\"\ncount = 1\n[stages.out]\ntype = \"slow\"\ninputs = [\"src\"]\n",
    );
    assert!(p.subscribe("out", 1, QueuePolicy::Block).is_err());
    assert!(p.subscribe("nope", 1, QueuePolicy::Block).is_err());
}

#[test]
fn metrics_are_exported_in_prometheus_text() {
    let p = pipeline(
        "prom",
        "[stages.src]\ntype = \"counter\"\ncount = 3\n[stages.out]\ntype = \"slow\"\ninputs = [\"src\"]\n",
    );
    let m = p.metrics();
    p.run().unwrap();
    let text = m.encode_text();
    assert!(
        text.contains("edgeflow_stage_items_in_total{stage=\"out\",pipeline=\"prom\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("edgeflow_pipeline_frames_total{pipeline=\"prom\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("edgeflow_pipeline_latency_seconds_count{sink=\"out\",pipeline=\"prom\"} 3"),
        "{text}"
    );
}

#[test]
fn type_mismatch_names_the_bridging_stage_type() {
    // `slow` takes anything; build a registry where a sink takes only Detections.
    struct DetSink;
    impl Sink for DetSink {
        type Config = SlowCfg;
        type In = Detections;
        fn build(_: SlowCfg, _: &BuildCtx) -> Result<Self, BuildError> {
            Ok(DetSink)
        }
        fn consume(&mut self, _: Detections) -> Result<(), StageError> {
            Ok(())
        }
    }
    let mut r = registry();
    r.sink::<DetSink>(StageInfo {
        type_name: "det_sink",
        variant: None,
        summary: "",
        example: "",
    });
    let text =
        "[stages.src]\ntype = \"counter\"\n[stages.out]\ntype = \"det_sink\"\ninputs = [\"src\"]\n";
    let d = load_str(&r, "t.toml", text, ".".as_ref()).unwrap_err();
    let out = d.render(false);
    assert!(
        out.contains(
            "type mismatch: `out` (det_sink) takes Detections, but `src` (counter) produces Frame"
        ),
        "{out}"
    );
    assert!(
        out.contains("help: insert a `flaky` stage between them: `src` → flaky → `out`"),
        "{out}"
    );
}
