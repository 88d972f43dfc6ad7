//! What `edgeflow bench` reports, as JSON (`--json`) and as text: one [`Report`] per run.

use std::time::Duration;

use serde::Serialize;

use super::machine::Machine;

/// Milliseconds, for the report (`None` when nothing was measured).
pub fn ms(d: Option<Duration>) -> Option<f64> {
    d.map(|d| (d.as_secs_f64() * 1e6).round() / 1e3)
}

/// p50 / p95 / p99 in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Quantiles {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

impl Quantiles {
    /// From durations.
    pub fn of(p50: Option<Duration>, p95: Option<Duration>, p99: Option<Duration>) -> Self {
        Quantiles {
            p50: ms(p50),
            p95: ms(p95),
            p99: ms(p99),
        }
    }

    /// From samples (sorted here).
    pub fn from_samples(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            (!samples.is_empty()).then(|| {
                let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len());
                samples[i - 1]
            })
        };
        Quantiles::of(at(0.5), at(0.95), at(0.99))
    }

    fn text(&self) -> [String; 3] {
        [self.p50, self.p95, self.p99].map(cell)
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// One stage over the measured window.
#[derive(Clone, Debug, Serialize)]
pub struct StageRow {
    /// Stage id.
    pub id: String,
    /// Items taken in (whole run).
    pub items_in: u64,
    /// Items put out (whole run).
    pub items_out: u64,
    /// Items dropped on the edges into it.
    pub dropped_in: u64,
    /// Time per `next`/`process`/`consume` call, ms.
    pub process_ms: Quantiles,
    /// Time an item waited in its input queue, ms.
    pub queue_wait_ms: Quantiles,
    /// CPU time of its thread over the window, seconds.
    pub cpu_s: Option<f64>,
}

/// Threads of one name and their CPU time over the window.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadRow {
    /// The thread name (`ef-<stage>` for stages; GStreamer and ONNX Runtime name theirs, or
    /// inherit the name of the thread that made them).
    pub name: String,
    /// How many threads had it.
    pub threads: usize,
    /// CPU seconds.
    pub cpu_s: f64,
}

/// One edge's drops.
#[derive(Clone, Debug, Serialize)]
pub struct EdgeRow {
    /// Upstream stage.
    pub from: String,
    /// Downstream stage.
    pub to: String,
    /// Items dropped (full `drop_oldest` queue).
    pub dropped: u64,
}

/// What the model-only mode measured.
#[derive(Clone, Debug, Serialize)]
pub struct ModelRow {
    /// The detect stage.
    pub stage: String,
    /// Frames per model run.
    pub batch: usize,
    /// Distinct frames decoded and prepared beforehand (the runs cycle through them).
    pub distinct_frames: usize,
    /// One `run` of the model, ms.
    pub run_ms: Quantiles,
    /// Preparing one frame (colour conversion, resize, element conversion), ms: measured
    /// while the frames were prepared, not part of `fps`.
    pub prepare_ms: Quantiles,
}

/// One bench run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `pipeline` (the whole graph) or `model_only`.
    pub mode: &'static str,
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline file.
    pub file: String,
    /// The edgeflow version.
    pub edgeflow: &'static str,
    /// Frames measured (after the warm-up).
    pub frames: u64,
    /// Frames run before the measurement started.
    pub warmup: u64,
    /// Seconds the measured frames took.
    pub seconds: f64,
    /// `frames / seconds`.
    pub fps: f64,
    /// Per stage (pipeline mode).
    pub stages: Vec<StageRow>,
    /// Capture to sink, ms (pipeline mode).
    pub end_to_end_ms: Quantiles,
    /// Drops per edge (pipeline mode).
    pub edges: Vec<EdgeRow>,
    /// The model alone (model-only mode).
    pub model: Option<ModelRow>,
    /// CPU time per thread name over the window, most first.
    pub threads: Vec<ThreadRow>,
    /// All threads' CPU seconds over the window.
    pub cpu_s: f64,
    /// The most resident memory the process had, MB (10^6 bytes).
    pub peak_rss_mb: Option<f64>,
    /// Resident memory once every stage was built (models loaded), before the first frame.
    pub built_rss_mb: Option<f64>,
    /// The peak resident memory by then (what building, e.g. loading a model, peaked at).
    pub built_peak_rss_mb: Option<f64>,
    /// What the stages said about their build: backend, device, model variant, decoder.
    pub notes: Vec<Note>,
    /// The machine.
    pub machine: Machine,
}

/// A build note of one stage.
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    /// Stage id.
    pub stage: String,
    /// What it said.
    pub text: String,
}

impl Report {
    /// The report as text, for the terminal.
    pub fn text(&self) -> String {
        let what = match self.mode {
            "model_only" => "model only",
            _ => "pipeline",
        };
        let mut s = format!(
            "bench `{}` ({what}, {}): {} frames in {:.2} s = {:.1} fps, after {} warm-up frames\n",
            self.pipeline, self.file, self.frames, self.seconds, self.fps, self.warmup
        );
        if !self.stages.is_empty() {
            let w = self
                .stages
                .iter()
                .map(|r| r.id.len())
                .max()
                .unwrap_or(5)
                .max(5);
            s.push_str(&format!(
                "  {:w$}  {:>7}  {:>7}  {:>7}  {:>8} {:>8} {:>8}  {:>9} {:>9} {:>9}  {:>6}  {:>9}\n",
                "stage", "in", "out", "dropped", "p50 ms", "p95", "p99", "wait p50", "p95", "p99",
                "cpu s", "cpu/frame"
            ));
            for r in &self.stages {
                let [p50, p95, p99] = r.process_ms.text();
                let [w50, w95, w99] = r.queue_wait_ms.text();
                let per = r.cpu_s.filter(|_| self.frames > 0).map_or("-".into(), |c| {
                    format!("{:.2} ms", c * 1e3 / self.frames as f64)
                });
                s.push_str(&format!(
                    "  {:w$}  {:>7}  {:>7}  {:>7}  {p50:>8} {p95:>8} {p99:>8}  {w50:>9} {w95:>9} {w99:>9}  {:>6}  {per:>9}\n",
                    r.id,
                    r.items_in,
                    r.items_out,
                    r.dropped_in,
                    r.cpu_s.map_or("-".into(), |c| format!("{c:.2}")),
                ));
            }
            let [p50, p95, p99] = self.end_to_end_ms.text();
            s.push_str(&format!(
                "  end to end (capture → sink): p50 {p50} ms, p95 {p95} ms, p99 {p99} ms\n"
            ));
            let drops: Vec<String> = self
                .edges
                .iter()
                .filter(|e| e.dropped > 0)
                .map(|e| format!("{} → {}: {}", e.from, e.to, e.dropped))
                .collect();
            if !drops.is_empty() {
                s.push_str(&format!("  dropped: {}\n", drops.join(", ")));
            }
        }
        if let Some(m) = &self.model {
            let [r50, r95, r99] = m.run_ms.text();
            let [p50, p95, p99] = m.prepare_ms.text();
            s.push_str(&format!(
                "  stage `{}`, batch {}, {} distinct frames: model run p50 {r50} ms, p95 {r95} ms, p99 {r99} ms; \
                 preparing a frame (not in the fps) p50 {p50} ms, p95 {p95} ms, p99 {p99} ms\n",
                m.stage, m.batch, m.distinct_frames
            ));
        }
        let threads: Vec<String> = self
            .threads
            .iter()
            .filter(|t| t.cpu_s >= 0.005)
            .map(|t| {
                let n = if t.threads > 1 {
                    format!(" ×{}", t.threads)
                } else {
                    String::new()
                };
                format!("{}{n} {:.2} s", t.name, t.cpu_s)
            })
            .collect();
        let cores = if self.seconds > 0.0 {
            self.cpu_s / self.seconds
        } else {
            0.0
        };
        s.push_str(&format!(
            "  CPU over the window: {:.2} s ({cores:.2} cores): {}\n",
            self.cpu_s,
            threads.join(", ")
        ));
        if let Some(rss) = self.peak_rss_mb {
            let built = match (self.built_rss_mb, self.built_peak_rss_mb) {
                (Some(b), Some(p)) => {
                    format!(" (built: {b:.1} MB resident, peaking at {p:.1} MB while building)")
                }
                _ => String::new(),
            };
            s.push_str(&format!("  peak RSS {rss:.1} MB{built}\n"));
        }
        for n in &self.notes {
            s.push_str(&format!("  {}: {}\n", n.stage, n.text));
        }
        s.push_str(&format!("  machine: {}\n", self.machine.line()));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_samples() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let q = Quantiles::from_samples(&mut v);
        assert_eq!((q.p50, q.p95, q.p99), (Some(50.0), Some(95.0), Some(99.0)));
        let q = Quantiles::from_samples(&mut []);
        assert_eq!(q.p50, None);
        assert_eq!(ms(Some(Duration::from_micros(1234))), Some(1.234));
    }
}
