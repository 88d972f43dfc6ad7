//! `edgeflow bench --model-only`: the detect stage's model alone. The stages upstream of it
//! decode a few frames, the stage's own preprocessing prepares them into the model's input
//! tensors beforehand, and then only the model runs, cycling through them: the model limit
//! of this pipeline on this machine, with the same backend, options and threads.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeflow::process::CpuSampler;
use edgeflow::{BuildCtx, Message, Pipeline, PipelineSpec, QueuePolicy, RunOptions, StageSpec};

use super::machine::Machine;
use super::report::{ModelRow, Quantiles, Report};
use super::{Args, MODEL_RUNS, build_message, note_rows, peak_rss_mb, thread_rows};

/// Distinct frames prepared beforehand: a detector's run time does not depend on what the
/// frame shows, and few keep the prepared tensors out of the memory figure's way.
const DISTINCT: u64 = 16;

/// The stage ids a stage reading `inputs` reads from, directly or not.
fn upstream(spec: &PipelineSpec, inputs: &[String]) -> BTreeSet<String> {
    let mut seen: BTreeSet<String> = inputs.iter().cloned().collect();
    let mut todo = inputs.to_vec();
    while let Some(s) = todo.pop() {
        for i in spec.stage(&s).map(|s| s.inputs.clone()).unwrap_or_default() {
            if seen.insert(i.clone()) {
                todo.push(i);
            }
        }
    }
    seen
}

/// Decode `n` frames with the stages upstream of `detect`.
fn frames(
    mut spec: PipelineSpec,
    detect: &StageSpec,
    n: u64,
) -> anyhow::Result<Result<Vec<edgeflow::Frame>, String>> {
    let keep = upstream(&spec, &detect.inputs);
    spec.stages.retain(|s| keep.contains(&s.id));
    let Some(input) = detect.inputs.first() else {
        return Ok(Err(format!("stage `{}` has no inputs", detect.id)));
    };
    let options = RunOptions {
        max_frames: Some(n),
        ..RunOptions::default()
    };
    let mut p = match Pipeline::build(spec, options) {
        Ok(p) => p,
        Err(e) => return Ok(Err(build_message(e)?)),
    };
    let rx = p
        .subscribe(input, n as usize, QueuePolicy::Block)
        .context("cannot read the detect stage's input")?;
    let handle = p.start().context("cannot start the capture")?;
    let mut out = Vec::new();
    while let Ok(msg) = rx.recv() {
        if let Message::Frame(f) = msg {
            out.push(f);
        }
    }
    let report = handle.wait();
    if let Some(f) = report.failure {
        anyhow::bail!("the capture failed: {f}");
    }
    if out.is_empty() {
        return Ok(Err(format!(
            "stage `{input}` gave no frames for stage `{}`",
            detect.id
        )));
    }
    Ok(Ok(out))
}

/// `Ok(Err(message))` for a pipeline whose model cannot be run alone.
pub fn run(mut spec: PipelineSpec, args: &Args) -> anyhow::Result<Result<Report, String>> {
    let file = args.file.display().to_string();
    let pos = match &args.stage {
        Some(id) => spec
            .stages
            .iter()
            .position(|s| &s.id == id && s.type_name == "detect"),
        None => spec.stages.iter().position(|s| s.type_name == "detect"),
    };
    let Some(pos) = pos else {
        return Ok(Err(match &args.stage {
            Some(id) => format!("`--stage {id}`: the pipeline has no detect stage `{id}`"),
            None => "`--model-only` needs a pipeline with a detect stage".to_string(),
        }));
    };
    let detect = spec.stages.remove(pos);
    let runs_frames = args.frames.unwrap_or(MODEL_RUNS);
    let mut ctx = BuildCtx::for_stage(&detect.id);
    ctx.pipeline = spec.name.as_str().into();
    ctx.device_id = spec.device_id.as_str().into();
    ctx.base_dir = spec.base_dir.clone();
    let name = spec.name.clone();
    let decoded = match frames(spec, &detect, DISTINCT)? {
        Ok(f) => f,
        Err(m) => return Ok(Err(m)),
    };
    let backend = detect.variant.as_ref().map_or("auto", |(_, v)| v.as_str());
    let mut model =
        match edgeflow::edgeflow_stages::detect::open_model(&detect.config, backend, &ctx) {
            Ok(m) => m,
            Err(e) => {
                let help = e
                    .help
                    .as_ref()
                    .map(|h| format!("\n  = help: {h}"))
                    .unwrap_or_default();
                return Ok(Err(format!(
                    "cannot build stage `{}`: {e}{help}",
                    detect.id
                )));
            }
        };
    let built = edgeflow::process::memory();
    let batch = model.batch().max(1);
    // Prepare every distinct batch once, timing the preparation per frame.
    let mut prepare = Vec::new();
    let mut inputs = Vec::new();
    for start in (0..decoded.len()).step_by(batch) {
        let group: Vec<&edgeflow::Frame> = (0..batch)
            .map(|i| &decoded[(start + i) % decoded.len()])
            .collect();
        let t = Instant::now();
        let (tensor, _) = model
            .prepare(&group)
            .map_err(|e| anyhow::anyhow!("cannot prepare a frame: {e}"))?;
        prepare.push(t.elapsed() / batch as u32);
        inputs.push(tensor);
    }
    let distinct = decoded.len();
    drop(decoded);
    let mut cpu = CpuSampler::start();
    let runs = runs_frames.div_ceil(batch as u64).max(1);
    let warm = args.warmup.div_ceil(batch as u64);
    let mut times = Vec::with_capacity(runs as usize);
    let mut last_sample = Instant::now();
    let mut t0 = Instant::now();
    for i in 0..warm + runs {
        if i == warm {
            cpu.restart();
            t0 = Instant::now();
        }
        let input = &inputs[i as usize % inputs.len()];
        let t = Instant::now();
        model
            .run_model(input)
            .map_err(|e| anyhow::anyhow!("the model failed: {e}"))?;
        if i >= warm {
            times.push(t.elapsed());
        }
        if last_sample.elapsed() >= Duration::from_millis(100) {
            cpu.sample();
            last_sample = Instant::now();
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    cpu.sample();
    let threads = cpu.by_name();
    let frames = runs * batch as u64;
    Ok(Ok(Report {
        mode: "model_only",
        pipeline: name,
        file,
        edgeflow: env!("CARGO_PKG_VERSION"),
        frames,
        warmup: warm * batch as u64,
        seconds,
        fps: if seconds > 0.0 {
            frames as f64 / seconds
        } else {
            0.0
        },
        stages: Vec::new(),
        end_to_end_ms: Quantiles::default(),
        edges: Vec::new(),
        model: Some(ModelRow {
            stage: detect.id.clone(),
            batch,
            distinct_frames: distinct,
            run_ms: Quantiles::from_samples(&mut times),
            prepare_ms: Quantiles::from_samples(&mut prepare),
        }),
        cpu_s: threads.iter().map(|t| t.1.as_secs_f64()).sum(),
        threads: thread_rows(&threads),
        peak_rss_mb: peak_rss_mb(),
        built_rss_mb: built.map(|m| super::mb(m.rss)),
        built_peak_rss_mb: built.map(|m| super::mb(m.peak_rss)),
        notes: note_rows(ctx.notes.all()),
        machine: Machine::here(),
    }))
}
