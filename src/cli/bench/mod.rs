//! `edgeflow bench PIPELINE [--frames N] [--warmup N] [--json FILE] [--model-only]`: run a
//! pipeline and report what it did and what it cost — fps, per-stage processing time and
//! queue wait, end-to-end latency, drops, CPU per thread, peak memory, the machine — or, with
//! `--model-only`, the detect stage's model alone on frames prepared beforehand: the model
//! limit, measured by edgeflow itself. Figures are measured, never judged: compare runs made
//! on the same machine in the same session (`benches/compare/run.sh`).

mod machine;
mod model_only;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeflow::process::CpuSampler;
use edgeflow::{Pipeline, Registry, Role, RunOptions, RuntimeError};

use super::{EXIT_CONFIG, load};
use machine::Machine;
use report::{EdgeRow, Note, Quantiles, Report, StageRow, ThreadRow};

/// How often the bench looks at the stages' counters (a few atomics: it costs nothing the
/// stages would notice).
const POLL_MS: u64 = 10;

/// Model runs of `--model-only` when `--frames` is not given.
const MODEL_RUNS: u64 = 300;

/// Benchmark a pipeline, or its model alone.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline file.
    file: PathBuf,
    /// Frames to measure after the warm-up (default: the whole input; an endless source runs
    /// until Ctrl-C, and the report covers what ran). With `--model-only`: model runs
    /// (default 300).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
    /// Frames run first and left out of the figures (model loading, caches, thread pools).
    #[arg(long, value_name = "N", default_value_t = 10)]
    warmup: u64,
    /// Also write the report as JSON to FILE (`-`: stdout). The text goes to stderr, so a
    /// pipeline's own output on stdout stays apart.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Run only the detect stage's model, on frames decoded and prepared beforehand.
    #[arg(long)]
    model_only: bool,
    /// The detect stage for `--model-only` (default: the first).
    #[arg(long, value_name = "ID", requires = "model_only")]
    stage: Option<String>,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match load(registry, &args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let report = if args.model_only {
        match model_only::run(loaded.spec, &args)? {
            Ok(r) => r,
            Err(message) => {
                eprintln!("error: {}: {message}", args.file.display());
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        }
    } else {
        match pipeline(loaded.spec, &args)? {
            Ok(r) => r,
            Err(message) => {
                eprintln!("error: {}: {message}", args.file.display());
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        }
    };
    write(&report, args.json.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Print the text, and write the JSON where `--json` says.
fn write(report: &Report, json: Option<&std::path::Path>) -> anyhow::Result<()> {
    let text = report.text();
    let body = serde_json::to_string_pretty(report).context("cannot encode the report")?;
    match json {
        Some(p) if p.as_os_str() == "-" => {
            eprint!("{text}");
            println!("{body}");
        }
        Some(p) => {
            eprint!("{text}");
            std::fs::write(p, body + "\n")
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        None => eprint!("{text}"),
    }
    Ok(())
}

/// A build error as the message `bench` prints.
fn build_message(e: RuntimeError) -> anyhow::Result<String> {
    match e {
        RuntimeError::Build { stage, error } => Ok(match &error.help {
            Some(help) => format!("cannot build stage `{stage}`: {error}\n  = help: {help}"),
            None => format!("cannot build stage `{stage}`: {error}"),
        }),
        e => Err(e).context("cannot build the pipeline"),
    }
}

/// The whole pipeline: `Ok(Err(message))` for a pipeline that cannot be built.
fn pipeline(spec: edgeflow::PipelineSpec, args: &Args) -> anyhow::Result<Result<Report, String>> {
    let file = args.file.display().to_string();
    let stage_ids: Vec<String> = spec.stages.iter().map(|s| s.id.clone()).collect();
    let sources: Vec<bool> = spec.stages.iter().map(|s| s.role == Role::Source).collect();
    let options = RunOptions {
        max_frames: args.frames.map(|n| n + args.warmup),
        ..RunOptions::default()
    };
    let p = match Pipeline::build(spec, options) {
        Ok(p) => p,
        Err(e) => return Ok(Err(build_message(e)?)),
    };
    let built = edgeflow::process::memory();
    let name = p.name().to_string();
    let notes = p.notes();
    let metrics = p.metrics();
    let mut cpu = CpuSampler::start();
    let handle = p.start().context("cannot start the pipeline")?;
    super::stop_on_signals(handle.stop_signal())?;
    // Every POLL_MS: what each stage has taken in. Which stages see every frame is
    // known only at the end (a sink of zone events takes a few); the frames done at a moment
    // are what the last of those has taken.
    let mut polls: Vec<(Instant, Vec<u64>)> = Vec::new();
    let items_in = |now: Vec<(String, u64)>| -> Vec<u64> {
        stage_ids
            .iter()
            .map(|id| now.iter().find(|(s, _)| s == id).map_or(0, |(_, n)| *n))
            .collect()
    };
    let mut window_started = args.warmup == 0;
    let mut last_sample = Instant::now();
    polls.push((Instant::now(), vec![0; stage_ids.len()]));
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(POLL_MS));
        let now = items_in(metrics.items_in());
        // The warm-up is over once a stage past the sources has taken that many frames.
        let furthest = now
            .iter()
            .zip(&sources)
            .filter(|(_, src)| !**src)
            .map(|(n, _)| *n)
            .max()
            .unwrap_or(0);
        if !window_started && furthest >= args.warmup {
            metrics.clear_quantiles();
            cpu.restart();
            window_started = true;
        }
        polls.push((Instant::now(), now));
        if last_sample.elapsed() >= Duration::from_millis(100) {
            cpu.sample();
            last_sample = Instant::now();
        }
    }
    cpu.sample();
    let report = handle.wait();
    if let Some(f) = &report.failure {
        anyhow::bail!("the pipeline failed: {f}");
    }
    let m = &report.metrics;
    polls.push((Instant::now(), items_in(metrics.items_in())));
    let Some((t0, f0, t1, f1)) = window(&polls, &sources, args.warmup) else {
        return Ok(Err(format!(
            "fewer frames than the {} warm-up frames went through: lower `--warmup`",
            args.warmup
        )));
    };
    let frames = f1.saturating_sub(f0);
    let seconds = t1.saturating_duration_since(t0).as_secs_f64();
    let threads = cpu.by_name();
    let stage_cpu = |id: &str| {
        let name: String = format!("ef-{id}").chars().take(15).collect();
        threads
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, d, _)| d.as_secs_f64())
    };
    let stages = stage_ids
        .iter()
        .filter_map(|id| m.stage(id))
        .map(|st| StageRow {
            id: st.id.clone(),
            items_in: st.items_in,
            items_out: st.items_out,
            dropped_in: st.dropped_in,
            process_ms: Quantiles::of(st.latency_p50, st.latency_p95, st.latency_p99),
            queue_wait_ms: Quantiles::of(st.wait_p50, st.wait_p95, st.wait_p99),
            cpu_s: stage_cpu(&st.id),
        })
        .collect();
    Ok(Ok(Report {
        mode: "pipeline",
        pipeline: name,
        file,
        edgeflow: env!("CARGO_PKG_VERSION"),
        frames,
        warmup: f0,
        seconds,
        fps: if seconds > 0.0 {
            frames as f64 / seconds
        } else {
            0.0
        },
        stages,
        end_to_end_ms: Quantiles::of(m.e2e_p50, m.e2e_p95, m.e2e_p99),
        edges: m
            .edges
            .iter()
            .map(|e| EdgeRow {
                from: e.from.clone(),
                to: e.to.clone(),
                dropped: e.dropped,
            })
            .collect(),
        model: None,
        cpu_s: threads.iter().map(|t| t.1.as_secs_f64()).sum(),
        threads: thread_rows(&threads),
        peak_rss_mb: peak_rss_mb(),
        built_rss_mb: built.map(|m| mb(m.rss)),
        built_peak_rss_mb: built.map(|m| mb(m.peak_rss)),
        notes: note_rows(notes),
        machine: Machine::here(),
    }))
}

/// The measured window from the polls of every stage's items taken in: the frontier is the
/// most downstream stage that took nearly every frame (the last of those that took at least
/// 90 % of the most any stage took); the window runs from when it had taken `warmup` frames
/// to when it took its last. `(start, frames then, end, frames then)`.
fn window(
    polls: &[(Instant, Vec<u64>)],
    sources: &[bool],
    warmup: u64,
) -> Option<(Instant, u64, Instant, u64)> {
    let last = &polls.last()?.1;
    let most = last
        .iter()
        .zip(sources)
        .filter(|(_, s)| !**s)
        .map(|(n, _)| *n)
        .max()?;
    let frontier = (0..last.len())
        .rev()
        .find(|&i| !sources[i] && last[i] * 10 >= most * 9 && last[i] > 0)?;
    let done = |p: &(Instant, Vec<u64>)| p.1[frontier];
    let total = done(polls.last()?);
    if total <= warmup && warmup > 0 {
        return None;
    }
    // Between the two polls around a count, the moment it was reached (frames flow evenly
    // over 10 ms): the window starts at the warm-up's last frame and ends at the last one.
    let at = |n: u64| -> Option<Instant> {
        let i = polls.iter().position(|p| done(p) >= n)?;
        let (t1, n1) = (polls[i].0, done(&polls[i]));
        let Some(prev) = i.checked_sub(1).map(|j| &polls[j]) else {
            return Some(t1);
        };
        let (t0, n0) = (prev.0, done(prev));
        let part = (n - n0) as f64 / (n1 - n0).max(1) as f64;
        Some(t0 + t1.saturating_duration_since(t0).mul_f64(part))
    };
    Some((at(warmup)?, warmup, at(total)?, total))
}

fn thread_rows(threads: &[(String, Duration, usize)]) -> Vec<ThreadRow> {
    threads
        .iter()
        .map(|(name, d, n)| ThreadRow {
            name: name.clone(),
            threads: *n,
            cpu_s: (d.as_secs_f64() * 1e3).round() / 1e3,
        })
        .collect()
}

fn note_rows(notes: Vec<(String, String)>) -> Vec<Note> {
    notes
        .into_iter()
        .map(|(stage, text)| Note { stage, text })
        .collect()
}

/// Bytes as MB (10^6), one decimal.
fn mb(bytes: u64) -> f64 {
    (bytes as f64 / 1e5).round() / 10.0
}

fn peak_rss_mb() -> Option<f64> {
    edgeflow::process::memory().map(|m| mb(m.peak_rss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_follows_the_last_stage_that_sees_every_frame() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        // cam (source), det, a sink of events that takes few: det is the frontier.
        let polls = vec![
            (at(0), vec![0, 0, 0]),
            (at(10), vec![12, 5, 0]),
            (at(20), vec![30, 10, 1]),
            (at(30), vec![50, 30, 1]),
            (at(40), vec![50, 50, 2]),
            (at(50), vec![50, 50, 2]),
        ];
        let sources = [true, false, false];
        let (t0, f0, t1, f1) = window(&polls, &sources, 10).unwrap();
        assert_eq!((t0, f0, t1, f1), (at(20), 10, at(40), 50));
        // Between polls, the moment is interpolated: 20 of det's frames at 15 ms.
        let (t0, f0, _, _) = window(&polls, &sources, 20).unwrap();
        assert_eq!((t0, f0), (at(25), 20));
        assert_eq!(window(&polls, &sources, 0).unwrap().1, 0);
        assert!(
            window(&polls, &sources, 50).is_none(),
            "all frames were warm-up"
        );
    }
}
