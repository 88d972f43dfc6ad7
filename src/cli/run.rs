//! `edgeflow run FILE [--frames N]`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeflow::metrics::MetricsSnapshot;
use edgeflow::{Pipeline, Registry, RunOptions, RunReport, RuntimeError};
use indicatif::{ProgressBar, ProgressStyle};

use super::{EXIT_CONFIG, load};

/// Run a pipeline until end of stream or Ctrl-C, then print a summary.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pipeline file.
    file: PathBuf,
    /// Stop each source after N frames.
    #[arg(long, value_name = "N")]
    frames: Option<u64>,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match load(registry, &args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let options = RunOptions {
        max_frames: args.frames,
        ..RunOptions::default()
    };
    let pipeline = match Pipeline::build(loaded.spec, options) {
        Ok(p) => p,
        Err(RuntimeError::Build { stage, error }) => {
            eprintln!(
                "error: {}: cannot build stage `{stage}`: {error}",
                args.file.display()
            );
            if let Some(help) = &error.help {
                eprintln!("  = help: {help}");
            }
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
        Err(e) => return Err(e).context("cannot build the pipeline"),
    };
    let name = pipeline.name().to_string();
    let expected = pipeline.expected_len();
    let metrics = pipeline.metrics();
    let handle = pipeline.start().context("cannot start the pipeline")?;

    // First Ctrl-C or SIGTERM: stop the sources and let the queues drain. Second: quit now,
    // with the shell's code for the signal (130 for SIGINT, 143 for SIGTERM).
    let stop = handle.stop_signal();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install the signal handlers")?;
    std::thread::Builder::new()
        .name("ef-signals".into())
        .spawn(move || {
            for (n, signal) in signals.forever().enumerate() {
                if n == 0 {
                    eprintln!("\nstopping: draining queues and flushing sinks (press Ctrl-C again to quit at once)");
                    stop.stop();
                } else {
                    std::process::exit(128 + signal);
                }
            }
        })
        .context("cannot start the signal thread")?;

    let bar = (std::io::stderr().is_terminal())
        .then_some(expected)
        .flatten()
        .map(|len| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bar:40} {pos}/{len} frames  {per_sec}  eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
    let mut last_log = Instant::now();
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let frames = metrics.frames();
        if let Some(bar) = &bar {
            bar.set_position(frames);
        } else if last_log.elapsed() >= Duration::from_secs(10) {
            let s = metrics.snapshot();
            tracing::info!(
                frames,
                fps = format!("{:.1}", s.fps),
                dropped = s.total_dropped(),
                "running"
            );
            last_log = Instant::now();
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = handle.wait();
    eprint!("{}", summary(&name, &report));
    Ok(match report.failure {
        Some(_) => ExitCode::from(1),
        None => ExitCode::SUCCESS,
    })
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".to_string(),
        |d| format!("{:.3} ms", d.as_secs_f64() * 1e3),
    )
}

/// The end-of-run summary: frames, fps, per-stage p50/p99 latency, drops.
pub fn summary(name: &str, report: &RunReport) -> String {
    let m: &MetricsSnapshot = &report.metrics;
    let how = match (&report.failure, report.stopped) {
        (Some(f), _) => format!("FAILED: {f}"),
        (None, true) => "stopped on request".to_string(),
        (None, false) => "end of stream".to_string(),
    };
    let mut s = format!(
        "pipeline `{name}`: {} frames in {:.2} s ({:.1} fps), {how}\n",
        m.frames,
        m.elapsed.as_secs_f64(),
        m.fps
    );
    let w = m
        .stages
        .iter()
        .map(|st| st.id.len())
        .max()
        .unwrap_or(5)
        .max(5);
    s.push_str(&format!(
        "  {:w$}  {:>8}  {:>8}  {:>6}  {:>7}  {:>11}  {:>11}\n",
        "stage", "in", "out", "errors", "dropped", "p50", "p99"
    ));
    for st in &m.stages {
        s.push_str(&format!(
            "  {:w$}  {:>8}  {:>8}  {:>6}  {:>7}  {:>11}  {:>11}\n",
            st.id,
            st.items_in,
            st.items_out,
            st.errors,
            st.dropped_in,
            ms(st.latency_p50),
            ms(st.latency_p99)
        ));
    }
    s.push_str(&format!(
        "  end-to-end latency (capture → sink): p50 {}, p99 {}; dropped in total: {}\n",
        ms(m.e2e_p50),
        ms(m.e2e_p99),
        m.total_dropped()
    ));
    s
}
