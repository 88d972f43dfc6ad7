//! The control plane with purpose-built stages: commands reach idle and busy stages between
//! items, changes apply from the named `seq` on, invalid fragments change nothing, rebuilds
//! keep the thread and queues (and the old stage when they fail), and state follows the run.
//!
//! The source takes one token per frame from a service, so each test decides when frames
//! flow; the sink hands what it saw back through another service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edgeflow_core::{
    BBox, BuildCtx, BuildError, Changed, ControlError, Detection, Detections, Emit, Fragment,
    Frame, Invalid, Lifecycle, Meta, Outcome, Pipeline, PixelFormat, Reconfigure, Registry, Report,
    RunHandle, RunOptions, Services, Sink, Source, SourceEvent, StageError, StageInfo, Transform,
    load_str,
};
use serde::Deserialize;

const WAIT: Duration = Duration::from_secs(10);

/// One token = one frame; dropping the sender ends the stream.
struct Tokens(flume::Receiver<()>);

/// What the sink saw: (seq, label, source value).
#[derive(Default)]
struct Collected(Mutex<Vec<(u64, String)>>);

impl Collected {
    fn seen(&self) -> Vec<(u64, String)> {
        self.0.lock().unwrap().clone()
    }

    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.0.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} items arrived",
                self.seen().len()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct GateCfg {
    /// Stamped into every frame's pixels; changes in place.
    #[serde(default)]
    value: u8,
}

struct Gate {
    tokens: Arc<Tokens>,
    value: u8,
    seq: u64,
}

impl Source for Gate {
    type Config = GateCfg;
    type Out = Frame;
    fn build(cfg: GateCfg, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Gate {
            tokens: ctx.require_service::<Tokens>("a token channel")?,
            value: cfg.value,
            seq: 0,
        })
    }
    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        loop {
            match self.next_event()? {
                SourceEvent::Item(f) => return Ok(Some(f)),
                SourceEvent::End => return Ok(None),
                SourceEvent::Status(_) | SourceEvent::Idle => {}
            }
        }
    }
    fn next_event(&mut self) -> Result<SourceEvent<Frame>, StageError> {
        match self.tokens.0.recv_timeout(Duration::from_millis(20)) {
            Ok(()) => {
                let f = Frame::packed(
                    Meta::now("cam".into(), self.seq, self.seq * 40_000_000),
                    2,
                    2,
                    PixelFormat::Gray,
                    vec![self.value; 4].into(),
                )
                .map_err(StageError::fatal)?;
                self.seq += 1;
                Ok(SourceEvent::Item(f))
            }
            Err(flume::RecvTimeoutError::Timeout) => Ok(SourceEvent::Idle),
            Err(flume::RecvTimeoutError::Disconnected) => Ok(SourceEvent::End),
        }
    }
    fn reconfigure(&mut self, cfg: &GateCfg, _: &Changed<'_>) -> Result<Reconfigure, BuildError> {
        self.value = cfg.value;
        Ok(Reconfigure::Applied)
    }
    fn report(&self, report: &mut Report) {
        report.set("value", u64::from(self.value));
    }
}

/// Builds of `tag` so far, over all tests (each build takes the next number).
static BUILDS: AtomicU64 = AtomicU64::new(0);

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct TagCfg {
    /// Changes in place.
    label: String,
    /// Changes only by a rebuild; `"missing"` cannot be built.
    #[serde(default)]
    resource: Option<String>,
    /// Time each item takes.
    #[serde(default)]
    delay_ms: u64,
    /// Fail fatally at this seq.
    #[serde(default)]
    fatal_at: Option<u64>,
}

/// Frame → one detection labelled `<label>@<build>:<source value>`.
struct Tag {
    label: String,
    build: u64,
    delay: Duration,
    fatal_at: Option<u64>,
}

impl Transform for Tag {
    type Config = TagCfg;
    type In = Frame;
    type Out = Detections;
    fn validate(cfg: &TagCfg) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg.label.is_empty() {
            inv.field("label", "empty", Some("give the tag a name".into()));
        }
        inv.into_result()
    }
    fn build(cfg: TagCfg, _: &BuildCtx) -> Result<Self, BuildError> {
        if cfg.resource.as_deref() == Some("missing") {
            return Err(BuildError::new("no such resource: missing").with_help("use another"));
        }
        if cfg.resource.as_deref() == Some("panic") {
            panic!("a bug in build");
        }
        Ok(Tag {
            label: cfg.label,
            build: BUILDS.fetch_add(1, Ordering::SeqCst),
            delay: Duration::from_millis(cfg.delay_ms),
            fatal_at: cfg.fatal_at,
        })
    }
    fn reconfigure(
        &mut self,
        cfg: &TagCfg,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        if !changed.only(&["label"]) {
            return Ok(Reconfigure::Rebuild);
        }
        self.label = cfg.label.clone();
        Ok(Reconfigure::Applied)
    }
    fn report(&self, report: &mut Report) {
        report
            .set("label", self.label.as_str())
            .set("build", self.build);
    }
    fn process(&mut self, f: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        std::thread::sleep(self.delay);
        if self.fatal_at == Some(f.meta.seq) {
            return Err(StageError::fatal("device lost"));
        }
        let value = f.data()[0];
        out.push(Detections {
            frame_width: f.width,
            frame_height: f.height,
            detections: vec![Detection {
                class_id: 0,
                label: format!("{}@{}:{value}", self.label, self.build).into(),
                score: 1.0,
                bbox: BBox {
                    x: 0.0,
                    y: 0.0,
                    width: 1.0,
                    height: 1.0,
                },
                keypoints: vec![],
            }],
            skipped: false,
            meta: f.meta,
            face_model: false,
        });
        Ok(())
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct CollectCfg {
    /// A sink that cannot be built.
    #[serde(default)]
    refuse: bool,
    /// Anything; changing it rebuilds the sink.
    #[serde(default)]
    note: Option<String>,
    /// Builds fail once the pipeline runs (a device that is gone for good).
    #[serde(default)]
    fail_rebuilds: bool,
}

struct Collect(Arc<Collected>, Option<String>);

impl Sink for Collect {
    type Config = CollectCfg;
    type In = Detections;
    fn build(cfg: CollectCfg, ctx: &BuildCtx) -> Result<Self, BuildError> {
        if cfg.refuse {
            return Err(BuildError::new("this sink refuses to open"));
        }
        if cfg.fail_rebuilds && ctx.rebuilt {
            return Err(BuildError::new("the device is gone"));
        }
        Ok(Collect(
            ctx.require_service::<Collected>("a place to collect")?,
            cfg.note,
        ))
    }
    fn report(&self, report: &mut Report) {
        if let Some(n) = &self.1 {
            report.set("note", n.as_str());
        }
    }
    fn consume(&mut self, d: Detections) -> Result<(), StageError> {
        let label = d
            .detections
            .first()
            .map(|x| x.label.to_string())
            .unwrap_or_default();
        self.0.0.lock().unwrap().push((d.meta.seq, label));
        Ok(())
    }
}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct HoldCfg {
    /// Items held before they go out together.
    batch: usize,
    /// How long the first held item waits for the rest.
    wait_ms: u64,
}

/// Frames → empty Detections, held until `batch` of them are there or the first has waited
/// `wait_ms` (a detector's batch).
struct Hold {
    cfg: HoldCfg,
    held: Vec<Frame>,
    since: Option<Instant>,
    flushes: u64,
}

impl Hold {
    fn release(&mut self, out: &mut Emit<Detections>) {
        self.since = None;
        for f in self.held.drain(..) {
            out.push(Detections::nothing(&f));
        }
    }
}

impl Transform for Hold {
    type Config = HoldCfg;
    type In = Frame;
    type Out = Detections;
    fn build(cfg: HoldCfg, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Hold {
            cfg,
            held: Vec::new(),
            since: None,
            flushes: 0,
        })
    }
    fn process(&mut self, f: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.since.get_or_insert_with(Instant::now);
        self.held.push(f);
        if self.held.len() >= self.cfg.batch {
            self.release(out);
        }
        Ok(())
    }
    fn held_until(&self) -> Option<Instant> {
        self.since
            .map(|t| t + Duration::from_millis(self.cfg.wait_ms))
    }
    fn flush(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.flushes += 1;
        self.release(out);
        Ok(())
    }
    fn report(&self, report: &mut Report) {
        report.set("flushes", self.flushes);
    }
    fn finish(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.release(out);
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
    r.source::<Gate>(info("gate"))
        .transform::<Tag>(info("tag"))
        .transform::<Hold>(info("hold"))
        .sink::<Collect>(info("collect"));
    r
}

/// Each item takes a millisecond in `tag`, so a command sent while frames flow lands between
/// two of them, not after the last.
const BUSY: &str = "label = \"a\"\ndelay_ms = 1";

const PIPELINE: &str = r#"
[stages.src]
type = "gate"
value = 1

[stages.tag]
type = "tag"
inputs = ["src"]
label = "a"

[stages.out]
type = "collect"
inputs = ["tag"]
"#;

struct Run {
    handle: RunHandle,
    tokens: Option<flume::Sender<()>>,
    collected: Arc<Collected>,
}

impl Run {
    fn start(text: &str) -> Run {
        Run::start_with(text, RunOptions::default())
    }

    fn start_with(text: &str, mut options: RunOptions) -> Run {
        let loaded = load_str(&registry(), "control.toml", text, ".".as_ref())
            .unwrap_or_else(|d| panic!("{}", d.render(false)));
        let (tx, rx) = flume::unbounded();
        let collected = Arc::new(Collected::default());
        let mut services = Services::new();
        services.insert(Tokens(rx));
        services.insert_shared(collected.clone());
        options.services = services;
        let p = Pipeline::build(loaded.spec, options).unwrap();
        Run {
            handle: p.start().unwrap(),
            tokens: Some(tx),
            collected,
        }
    }

    fn feed(&self, n: usize) {
        for _ in 0..n {
            self.tokens.as_ref().unwrap().send(()).unwrap();
        }
    }

    /// End the stream and wait for the run.
    fn end(mut self) -> (Vec<(u64, String)>, edgeflow_core::RunReport) {
        self.tokens = None;
        let report = self.handle.wait();
        (self.collected.seen(), report)
    }
}

fn labels(seen: &[(u64, String)]) -> Vec<&str> {
    seen.iter().map(|(_, l)| l.as_str()).collect()
}

/// The tag's text before `@`, and the build number and source value after it.
fn parts(label: &str) -> (&str, u64, u8) {
    let (name, rest) = label.split_once('@').unwrap();
    let (build, value) = rest.split_once(':').unwrap();
    (name, build.parse().unwrap(), value.parse().unwrap())
}

#[test]
fn reconfigure_in_place_applies_from_the_named_seq_on_with_no_item_lost() {
    let run = Run::start(&PIPELINE.replace("label = \"a\"", BUSY));
    // Frames keep flowing while the change arrives: it lands between two items.
    run.feed(300);
    run.collected.wait_for(20);
    let tag = run.handle.stage("tag").unwrap();
    let done = tag.reconfigure("label = \"b\"", WAIT).unwrap();
    assert_eq!(done.outcome, Outcome::InPlace);
    assert_eq!(done.changed, ["label"]);
    assert_eq!(done.generation, 1);
    let boundary = done.last_seq_before["cam"];
    assert!(
        (19..299).contains(&boundary),
        "landed mid-stream: {boundary}"
    );
    run.feed(10);
    let state = tag.get_state(WAIT).unwrap();
    assert_eq!(state.config_generation, 1);
    assert_eq!(state.report.get("label"), Some(&"b".into()));
    let record = state.last_command.unwrap();
    assert!(record.ok && record.command == "reconfigure", "{record:?}");
    let (seen, report) = run.end();

    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (0..310).collect::<Vec<_>>(),
        "every frame once, in order"
    );
    for (seq, label) in &seen {
        let want = if *seq <= boundary { "a" } else { "b" };
        assert_eq!(parts(label).0, want, "seq {seq} (boundary {boundary})");
    }
    assert!(report.failure.is_none());
}

#[test]
fn an_invalid_fragment_returns_diagnostics_and_changes_nothing() {
    let run = Run::start(PIPELINE);
    let tag = run.handle.stage("tag").unwrap();
    let err = tag
        .reconfigure(
            "labl = \"x\"\ndelay_ms = \"slow\"\ninputs = [\"src\"]",
            WAIT,
        )
        .unwrap_err();
    let ControlError::Invalid { stage, diagnostics } = &err else {
        panic!("{err}");
    };
    assert_eq!(stage, "tag");
    assert_eq!(
        diagnostics.error_count(),
        3,
        "{}",
        diagnostics.render(false)
    );
    let text = diagnostics.render(false);
    for want in [
        "unknown field `labl` in stage `tag` (tag)",
        "<change to stage `tag`>:1:1",
        "did you mean `label`?",
        "invalid value for `delay_ms`",
        "<change to stage `tag`>:2:12",
        "`inputs` of a running stage cannot change",
        "<change to stage `tag`>:3:1",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // The stage's own `validate` runs too; a problem there points into the fragment.
    let err = tag.reconfigure("label = \"\"", WAIT).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid `label` in stage `tag` (tag): empty"),
        "{text}"
    );
    assert!(text.contains("<change to stage `tag`>:1:9"), "{text}");
    // TOML that does not parse.
    let err = tag.reconfigure("label = ", WAIT).unwrap_err();
    assert!(err.to_string().contains("invalid TOML"), "{err}");

    run.feed(3);
    let (seen, _) = run.end();
    assert!(seen.iter().all(|(_, l)| parts(l).0 == "a"), "{seen:?}");
}

#[test]
fn a_command_reaches_an_idle_stage_without_waiting_for_data() {
    let run = Run::start(PIPELINE);
    // No frame has been fed: every stage is idle.
    for id in ["src", "tag", "out"] {
        let state = run.handle.stage(id).unwrap().get_state(WAIT).unwrap();
        assert_eq!(state.lifecycle, Lifecycle::Running, "{id}");
        assert!(state.last_item.is_none());
    }
    let tag = run.handle.stage("tag").unwrap();
    let done = tag
        .reconfigure(
            Fragment::from_json(&serde_json::json!({"label": "c"})).unwrap(),
            WAIT,
        )
        .unwrap();
    assert_eq!(done.outcome, Outcome::InPlace);
    assert!(done.last_seq_before.is_empty(), "nothing was processed yet");
    run.feed(2);
    let (seen, _) = run.end();
    assert!(
        labels(&seen).iter().all(|l| l.starts_with("c@")),
        "{seen:?}"
    );
}

#[test]
fn a_source_takes_commands_between_frames() {
    let run = Run::start(&PIPELINE.replace("label = \"a\"", BUSY));
    let src = run.handle.stage("src").unwrap();
    run.feed(200);
    run.collected.wait_for(10);
    let mut table = toml::Table::new();
    table.insert("value".into(), toml::Value::Integer(7));
    let done = src.reconfigure(table, WAIT).unwrap();
    assert_eq!(done.outcome, Outcome::InPlace);
    let boundary = done.last_seq_before["cam"];
    assert_eq!(
        src.get_state(WAIT).unwrap().report.get("value"),
        Some(&7.into())
    );
    let (seen, _) = run.end();
    assert_eq!(seen.len(), 200);
    for (seq, label) in &seen {
        let want = if *seq <= boundary { 1 } else { 7 };
        assert_eq!(parts(label).2, want, "seq {seq} (boundary {boundary})");
    }
}

#[test]
fn rebuild_swaps_the_stage_in_place_and_the_source_runs_on() {
    let run = Run::start(&PIPELINE.replace("label = \"a\"", BUSY));
    run.feed(300);
    run.collected.wait_for(20);
    let tag = run.handle.stage("tag").unwrap();
    let before = parts(&run.collected.seen()[0].1).1;
    let done = tag.rebuild(WAIT).unwrap();
    assert_eq!(done.outcome, Outcome::Rebuilt);
    let boundary = done.last_seq_before["cam"];
    // A change the stage cannot take in place rebuilds it too.
    let again = tag.reconfigure("resource = \"other\"", WAIT).unwrap();
    assert_eq!(again.outcome, Outcome::Rebuilt);
    assert_eq!(again.changed, ["resource"]);
    let src = run.handle.stage("src").unwrap();
    let (seen, report) = run.end();
    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..300).collect::<Vec<_>>(), "no gap, no repeat");
    let first_after = seen
        .iter()
        .find(|(s, _)| *s > boundary)
        .map(|(_, l)| parts(l).1);
    assert!(
        seen.iter()
            .filter(|(s, _)| *s <= boundary)
            .all(|(_, l)| parts(l).1 == before)
    );
    assert!(
        first_after.is_some_and(|b| b != before),
        "the new stage took over"
    );
    // The source was never touched: one build, one stream, no restart.
    assert_eq!(src.state().items_out, 300);
    assert_eq!(src.state().config_generation, 0);
    assert!(report.failure.is_none());
}

#[test]
fn a_failing_rebuild_keeps_the_old_stage_and_says_why() {
    let run = Run::start(PIPELINE);
    run.feed(5);
    run.collected.wait_for(5);
    let tag = run.handle.stage("tag").unwrap();
    let err = tag.reconfigure("resource = \"missing\"", WAIT).unwrap_err();
    let ControlError::Refused { message, help, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(message, "no such resource: missing");
    assert_eq!(help.as_deref(), Some("use another"));
    let state = tag.get_state(WAIT).unwrap();
    assert_eq!(state.lifecycle, Lifecycle::Running);
    assert_eq!(state.config_generation, 0);
    let record = state.last_command.unwrap();
    assert!(
        !record.ok && record.summary.contains("no such resource"),
        "{record:?}"
    );
    // The same for a sink, which is finished before its rebuild: the old config comes back.
    let out = run.handle.stage("out").unwrap();
    assert!(matches!(
        out.reconfigure("refuse = true", WAIT),
        Err(ControlError::Refused { .. })
    ));
    assert_eq!(
        out.reconfigure("note = \"x\"", WAIT).unwrap().outcome,
        Outcome::Rebuilt
    );
    assert_eq!(
        out.get_state(WAIT).unwrap().report.get("note"),
        Some(&"x".into())
    );
    run.feed(5);
    let (seen, report) = run.end();
    assert_eq!(
        seen.len(),
        10,
        "nothing lost across the failed and the good rebuild"
    );
    let build = parts(&seen[0].1).1;
    assert!(
        seen.iter()
            .all(|(_, l)| parts(l).0 == "a" && parts(l).1 == build)
    );
    assert!(report.failure.is_none());
}

#[test]
fn state_reflects_a_failed_stage_and_finished_stages_refuse_commands() {
    let run = Run::start(&PIPELINE.replace("label = \"a\"", "label = \"a\"\nfatal_at = 3"));
    let tag = run.handle.stage("tag").unwrap();
    let src = run.handle.stage("src").unwrap();
    run.feed(10);
    let (_, report) = run.end();
    assert_eq!(report.failure.unwrap().stage, "tag");
    match tag.state().lifecycle {
        Lifecycle::Failed { cause } => assert_eq!(cause, "device lost"),
        other => panic!("{other:?}"),
    }
    assert_eq!(src.state().lifecycle, Lifecycle::Finished);
    assert!(matches!(
        tag.reconfigure("label = \"b\"", WAIT),
        Err(ControlError::Finished { .. })
    ));
    // A finished stage still tells its last state.
    assert_eq!(tag.get_state(WAIT).unwrap().lifecycle.name(), "failed");
}

#[test]
fn a_long_call_is_stalled_and_a_late_command_is_dropped_unapplied() {
    let run = Run::start_with(
        &PIPELINE.replace("label = \"a\"", "label = \"a\"\ndelay_ms = 400"),
        RunOptions {
            stall_after: Some(Duration::from_millis(100)),
            ..RunOptions::default()
        },
    );
    let tag = run.handle.stage("tag").unwrap();
    run.feed(1);
    // Wait until the stage is inside its call.
    let deadline = Instant::now() + WAIT;
    while !matches!(tag.state().lifecycle, Lifecycle::Stalled { .. }) {
        assert!(Instant::now() < deadline, "{:?}", tag.state().lifecycle);
        std::thread::sleep(Duration::from_millis(5));
    }
    let err = tag
        .reconfigure("label = \"late\"", Duration::from_millis(10))
        .unwrap_err();
    assert!(matches!(err, ControlError::Timeout { .. }), "{err}");
    run.feed(1);
    let (seen, _) = run.end();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|(_, l)| parts(l).0 == "a"),
        "the late change never landed"
    );
    assert_eq!(tag.state().config_generation, 0);
}

#[test]
fn services_reach_stages_and_a_missing_one_is_named() {
    let loaded = load_str(&registry(), "control.toml", PIPELINE, ".".as_ref()).unwrap();
    let err = Pipeline::build(loaded.spec, RunOptions::default()).unwrap_err();
    let text = format!(
        "{err}: {}",
        match &err {
            edgeflow_core::RuntimeError::Build { error, .. } =>
                error.help.clone().unwrap_or_default(),
            _ => String::new(),
        }
    );
    assert!(text.contains("stage `src` needs a token channel"), "{text}");
    assert!(text.contains("offered: nothing"), "{text}");
}

#[test]
fn unknown_stage_ids_are_named_with_the_ones_there_are() {
    let run = Run::start(PIPELINE);
    let err = run.handle.stage("tagg").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no stage `tagg` in this pipeline (stages: `src`, `tag`, `out`)"
    );
    let _ = run.end();
}

#[test]
fn handles_from_the_built_pipeline_take_commands_before_start() {
    let loaded = load_str(&registry(), "control.toml", PIPELINE, ".".as_ref()).unwrap();
    let (tx, rx) = flume::unbounded();
    let collected = Arc::new(Collected::default());
    let mut services = Services::new();
    services.insert(Tokens(rx)).insert_shared(collected.clone());
    let p = Pipeline::build(
        loaded.spec,
        RunOptions {
            services,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let tag = p.stage("tag").unwrap();
    assert_eq!(tag.state().lifecycle, Lifecycle::Building);
    let asker = std::thread::spawn(move || tag.reconfigure("label = \"early\"", WAIT));
    std::thread::sleep(Duration::from_millis(50));
    let run = p.start().unwrap();
    assert_eq!(asker.join().unwrap().unwrap().outcome, Outcome::InPlace);
    tx.send(()).unwrap();
    drop(tx);
    run.wait();
    assert!(collected.seen()[0].1.starts_with("early@"));
}

#[test]
fn a_rebuilt_source_goes_on_with_the_next_seq() {
    let run = Run::start(&PIPELINE.replace("label = \"a\"", BUSY));
    run.feed(100);
    run.collected.wait_for(10);
    let src = run.handle.stage("src").unwrap();
    // The source is built afresh (its own count starts at 0 again) ...
    let done = src.reconfigure("value = 3", WAIT).unwrap();
    assert_eq!(done.outcome, Outcome::InPlace);
    let done = src.rebuild(WAIT).unwrap();
    assert_eq!(done.outcome, Outcome::Rebuilt);
    let boundary = done.last_seq_before["cam"];
    run.feed(20);
    let (seen, report) = run.end();
    // ... but the stream goes on: every seq once, in order, no restart at 0.
    let seqs: Vec<u64> = seen.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..120).collect::<Vec<_>>(), "boundary {boundary}");
    // The rebuilt source has the running config (value = 3), not the file's.
    assert!(
        seen.iter()
            .filter(|(s, _)| *s > boundary)
            .all(|(_, l)| parts(l).2 == 3)
    );
    assert!(report.failure.is_none());
}

#[test]
fn a_panic_while_rebuilding_is_refused_and_the_old_stage_runs_on() {
    let run = Run::start(PIPELINE);
    let tag = run.handle.stage("tag").unwrap();
    let err = tag.reconfigure("resource = \"panic\"", WAIT).unwrap_err();
    assert!(
        matches!(&err, ControlError::Refused { message, .. } if message.contains("a bug in build")),
        "{err}"
    );
    assert_eq!(tag.state().lifecycle, Lifecycle::Running);
    run.feed(3);
    let (seen, report) = run.end();
    assert_eq!(seen.len(), 3);
    assert!(report.failure.is_none());
}

#[test]
fn the_state_is_fresh_once_a_stage_is_idle() {
    let run = Run::start(PIPELINE);
    run.feed(3);
    run.collected.wait_for(3);
    let tag = run.handle.stage("tag").unwrap();
    // Without asking the stage: it copied its state before waiting for more.
    let deadline = Instant::now() + WAIT;
    while tag.state().last_seq.get("cam") != Some(&2) {
        assert!(Instant::now() < deadline, "{:?}", tag.state().last_seq);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(tag.state().report.get("label"), Some(&"a".into()));
    let _ = run.end();
}

#[test]
fn a_sink_that_cannot_be_built_again_fails_the_pipeline_once() {
    let run = Run::start(&PIPELINE.replace(
        "[stages.out]\ntype = \"collect\"",
        "[stages.out]\ntype = \"collect\"\nfail_rebuilds = true",
    ));
    run.feed(3);
    run.collected.wait_for(3);
    let out = run.handle.stage("out").unwrap();
    let err = out.reconfigure("note = \"x\"", WAIT).unwrap_err();
    assert!(
        err.to_string()
            .contains("the device is gone; and the old config could not be built again"),
        "{err}"
    );
    let (seen, report) = run.end();
    assert_eq!(seen.len(), 3);
    let failure = report.failure.unwrap();
    assert_eq!(failure.stage, "out");
    assert!(
        failure.cause.starts_with("rebuild failed"),
        "{}",
        failure.cause
    );
    assert!(matches!(out.state().lifecycle, Lifecycle::Failed { .. }));
}

/// A stage that holds items (a partial batch) gets them out when its time is up, with no
/// further input: the source here sends nothing more until the held ones have arrived.
#[test]
fn held_items_go_out_when_their_time_is_up_without_more_input() {
    let run = Run::start(
        "[stages.src]\ntype = \"gate\"\n\n[stages.hold]\ntype = \"hold\"\ninputs = [\"src\"]\nbatch = 4\nwait_ms = 30\n\n\
         [stages.out]\ntype = \"collect\"\ninputs = [\"hold\"]\n",
    );
    run.feed(2);
    run.collected.wait_for(2);
    run.feed(1);
    run.collected.wait_for(3);
    // A full batch goes out at once, not at the timeout.
    run.feed(4);
    run.collected.wait_for(7);
    let hold = run.handle.stage("hold").unwrap();
    let deadline = Instant::now() + WAIT;
    let flushes = loop {
        let n = hold.state().report.get("flushes").and_then(|v| v.as_u64());
        if n.is_some_and(|n| n >= 2) || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (seen, report) = run.end();
    assert_eq!(
        seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        (0..7).collect::<Vec<_>>()
    );
    // At least the two partial batches (more only if a loaded machine split one).
    assert!(flushes.is_some_and(|n| n >= 2), "{flushes:?}");
    assert!(report.failure.is_none());
}
