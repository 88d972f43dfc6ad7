//! `edgeflow run FILE [--frames N]`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeflow::metrics::MetricsSnapshot;
use edgeflow::{Pipeline, Registry, RunOptions, RunReport, RuntimeError, StageState};
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
    /// Serve the edge HTTP service on this address instead of `[server] listen` (port 0:
    /// a free port; the address is printed).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

pub fn run(registry: &Registry, args: Args) -> anyhow::Result<ExitCode> {
    let loaded = match load(registry, &args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let mut options = RunOptions {
        max_frames: args.frames,
        ..RunOptions::default()
    };
    let server = super::serve::prepare(&loaded.spec, &mut options.services, args.listen.as_deref());
    let mut pipeline = match Pipeline::build(loaded.spec, options) {
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
    let running = match super::serve::start(server, &mut pipeline) {
        Ok(r) => r,
        Err(message) => {
            eprintln!("error: {}: {message}", args.file.display());
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let name = pipeline.name().to_string();
    let expected = pipeline.expected_len();
    let metrics = pipeline.metrics();
    let handle = pipeline.start().context("cannot start the pipeline")?;

    super::stop_on_signals(handle.stop_signal())?;

    let bar = (std::io::stderr().is_terminal())
        .then_some(expected)
        .flatten()
        .map(|len| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {bar:40} {pos}/{len} frames  {per_sec}  eta {eta}  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
    let mut last_log = Instant::now();
    let (mut last_frames, mut frames_moved) = (0, Instant::now());
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        let frames = metrics.frames();
        if frames != last_frames {
            (last_frames, frames_moved) = (frames, Instant::now());
        }
        if let Some(bar) = &bar {
            bar.set_position(frames);
            bar.set_message(spool_line(&handle.states()));
        } else if last_log.elapsed() >= Duration::from_secs(10) {
            let s = metrics.snapshot();
            let spools = spool_line(&handle.states());
            tracing::info!(
                frames,
                fps = format!("{:.1}", s.fps),
                dropped = s.total_dropped(),
                "running{}{spools}",
                if spools.is_empty() { "" } else { "; " }
            );
            last_log = Instant::now();
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Stages report their last state when they finish: spools, reconnects.
    let states = handle.states();
    let drain = frames_moved.elapsed();
    let report = handle.wait();
    super::serve::stop(running);
    eprint!("{}", summary(&name, &report, &states, drain));
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

/// A stage report's number `key`.
fn number(st: &StageState, key: &str) -> Option<f64> {
    st.report.get(key).and_then(serde_json::Value::as_f64)
}

/// "out: 12 pending, 0 dropped" for every spooled sink, for the progress line.
fn spool_line(states: &[StageState]) -> String {
    states
        .iter()
        .filter_map(|st| {
            let pending = number(st, "spool_pending")?;
            let dropped = number(st, "spool_dropped").unwrap_or(0.0);
            Some(format!("{}: {pending} pending, {dropped} dropped", st.id))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// "zone `count`, stream `cam` (since …): line `door` 12 in, 3 out; zone `hall` 5 entries, 4
/// exits, 1 inside" for every stream a zone stage counted.
fn totals_lines(st: &StageState) -> String {
    let Some(streams) = st.report.get("totals").and_then(|t| t.as_object()) else {
        return String::new();
    };
    let since = st
        .report
        .get("totals_since")
        .and_then(|s| s.as_str())
        .map(|s| format!(" (counting since {s})"))
        .unwrap_or_default();
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    let mut out = String::new();
    for (stream, ids) in streams {
        let Some(ids) = ids.as_object() else { continue };
        let parts: Vec<String> = ids
            .iter()
            .map(|(id, v)| {
                if v.get("in").is_some() {
                    format!("line `{id}` {} in, {} out", n(v, "in"), n(v, "out"))
                } else {
                    format!(
                        "zone `{id}` {} entries, {} exits, {} inside",
                        n(v, "entries"),
                        n(v, "exits"),
                        n(v, "occupancy")
                    )
                }
            })
            .collect();
        out.push_str(&format!(
            "  zone `{}`, stream `{stream}`{since}: {}\n",
            st.id,
            parts.join("; ")
        ));
    }
    out
}

/// The end-of-run summary: frames, fps while frames flowed (and the drain after), per-stage
/// p50/p99 latency, drops on edges and in spools, each spooled sink's delivered / pending /
/// dropped, each live source's reconnects and time without frames.
pub fn summary(name: &str, report: &RunReport, states: &[StageState], drain: Duration) -> String {
    let m: &MetricsSnapshot = &report.metrics;
    let how = match (&report.failure, report.stopped) {
        (Some(f), _) => format!("FAILED: {f}"),
        (None, true) => "stopped on request".to_string(),
        (None, false) => "end of stream".to_string(),
    };
    // Frames stop before the sinks finish draining: the rate is over the time they flowed.
    let drain = drain.min(m.elapsed);
    let flowing = m.elapsed.saturating_sub(drain).as_secs_f64();
    let fps = if flowing > 0.0 {
        m.frames as f64 / flowing
    } else {
        m.fps
    };
    let drained = if drain >= Duration::from_millis(500) {
        format!(", then {:.2} s draining", drain.as_secs_f64())
    } else {
        String::new()
    };
    let mut s = format!(
        "pipeline `{name}`: {} frames in {:.2} s ({fps:.1} fps){drained}, {how}\n",
        m.frames, flowing
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
    let mut spool_dropped = 0u64;
    for st in states {
        if let Some(pending) = number(st, "spool_pending") {
            let dropped = number(st, "spool_dropped").unwrap_or(0.0);
            spool_dropped += dropped as u64;
            s.push_str(&format!(
                "  sink `{}`: {} delivered, {pending} left in the spool for the next run, {dropped} dropped (spool full)\n",
                st.id,
                number(st, "spool_delivered").unwrap_or(0.0)
            ));
        }
        s.push_str(&totals_lines(st));
        if let Some(reconnects) = number(st, "reconnects") {
            s.push_str(&format!(
                "  stream `{}`: {reconnects} reconnects, {:.1} s without frames\n",
                st.id,
                number(st, "offline_s").unwrap_or(0.0)
            ));
        }
    }
    s.push_str(&format!(
        "  end-to-end latency (capture → sink): p50 {}, p99 {}; dropped in total: {} ({} on queues, {spool_dropped} in spools)\n",
        ms(m.e2e_p50),
        ms(m.e2e_p99),
        m.total_dropped() + spool_dropped,
        m.total_dropped()
    ));
    s
}
