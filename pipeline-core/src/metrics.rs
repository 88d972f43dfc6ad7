//! Metrics the runtime records for every stage and edge, and for the pipeline as a whole.
//!
//! Everything is recorded into a per-pipeline [`prometheus::Registry`] (names follow
//! Prometheus conventions: `edgeflow_<what>_<unit>`, counters end in `_total`, base units), so
//! the edge service can serve `/metrics` from it. Latency quantiles for summaries come from an
//! HDR histogram per stage, which is exact to three significant digits.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram as Hdr;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, TextEncoder,
};

/// Latency buckets in seconds: 10 µs to ~10 s, doubling.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(10e-6, 2.0, 21).unwrap_or_default()
}

#[derive(Clone)]
struct LatencyHdr(Arc<Mutex<Option<Hdr<u64>>>>);

impl LatencyHdr {
    fn new() -> Self {
        // 1 ns .. 1 hour at 3 significant digits: valid bounds, so this is always `Some`.
        LatencyHdr(Arc::new(Mutex::new(
            Hdr::new_with_bounds(1, 3_600_000_000_000, 3).ok(),
        )))
    }
    fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = h.as_mut() {
            h.saturating_record(ns);
        }
    }
    fn clear(&self) {
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(h) = h.as_mut() {
            h.reset();
        }
    }
    fn quantile(&self, q: f64) -> Option<Duration> {
        let h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        h.as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| Duration::from_nanos(h.value_at_quantile(q)))
    }
}

/// The metrics of one pipeline run.
pub struct PipelineMetrics {
    registry: prometheus::Registry,
    items_in: IntCounterVec,
    items_out: IntCounterVec,
    errors: IntCounterVec,
    dropped: IntCounterVec,
    latency: HistogramVec,
    wait: HistogramVec,
    queue_depth: IntGaugeVec,
    e2e: HistogramVec,
    frames: IntCounter,
    reported: prometheus::GaugeVec,
    stages: Mutex<Vec<(String, StageMetrics)>>,
    edges: Mutex<Vec<(String, String, IntCounter)>>,
    e2e_hdr: LatencyHdr,
    started: Instant,
    finished: Mutex<Option<Instant>>,
}

/// The handles one stage thread records into.
#[derive(Clone)]
pub struct StageMetrics {
    /// Items taken in.
    pub items_in: IntCounter,
    /// Items put out.
    pub items_out: IntCounter,
    /// Transient errors.
    pub transient_errors: IntCounter,
    /// Fatal errors.
    pub fatal_errors: IntCounter,
    /// Items waiting in the input queue.
    pub queue_depth: IntGauge,
    latency: Histogram,
    hdr: LatencyHdr,
    wait: Histogram,
    wait_hdr: LatencyHdr,
}

impl StageMetrics {
    /// Record the time one `next`/`process`/`consume` call took.
    pub fn observe_latency(&self, d: Duration) {
        self.latency.observe(d.as_secs_f64());
        self.hdr.record(d);
    }

    /// Record how long one item waited in the stage's input queue.
    pub fn observe_wait(&self, d: Duration) {
        self.wait.observe(d.as_secs_f64());
        self.wait_hdr.record(d);
    }
}

/// The metrics of one stage at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct StageStats {
    /// Stage id.
    pub id: String,
    /// Items taken in.
    pub items_in: u64,
    /// Items put out.
    pub items_out: u64,
    /// Transient plus fatal errors.
    pub errors: u64,
    /// Items dropped on the edges into this stage.
    pub dropped_in: u64,
    /// Items waiting in its input queue.
    pub queue_depth: i64,
    /// Median processing time per call.
    pub latency_p50: Option<Duration>,
    /// 95th percentile processing time per call.
    pub latency_p95: Option<Duration>,
    /// 99th percentile processing time per call.
    pub latency_p99: Option<Duration>,
    /// Median time an item waited in the input queue (`None` for sources).
    pub wait_p50: Option<Duration>,
    /// 95th percentile queue wait.
    pub wait_p95: Option<Duration>,
    /// 99th percentile queue wait.
    pub wait_p99: Option<Duration>,
}

/// Drops on one edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeStats {
    /// Upstream stage id.
    pub from: String,
    /// Downstream stage id (or the name of a subscriber).
    pub to: String,
    /// Items dropped (only `drop_oldest` edges drop).
    pub dropped: u64,
}

/// The pipeline's metrics at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsSnapshot {
    /// Time since the pipeline started (until it finished, once it has).
    pub elapsed: Duration,
    /// Items produced by all sources.
    pub frames: u64,
    /// `frames` per second of `elapsed`.
    pub fps: f64,
    /// Median latency from capture to a sink.
    pub e2e_p50: Option<Duration>,
    /// 95th percentile latency from capture to a sink.
    pub e2e_p95: Option<Duration>,
    /// 99th percentile latency from capture to a sink.
    pub e2e_p99: Option<Duration>,
    /// Per stage, in pipeline order.
    pub stages: Vec<StageStats>,
    /// Per edge.
    pub edges: Vec<EdgeStats>,
}

impl MetricsSnapshot {
    /// Total items dropped on all edges.
    pub fn total_dropped(&self) -> u64 {
        self.edges.iter().map(|e| e.dropped).sum()
    }

    /// The stats of stage `id`.
    pub fn stage(&self, id: &str) -> Option<&StageStats> {
        self.stages.iter().find(|s| s.id == id)
    }
}

/// Metrics could not be registered (a name clash: only possible with a custom registry).
#[derive(Debug, thiserror::Error)]
#[error("cannot register metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

impl PipelineMetrics {
    /// Fresh metrics for one pipeline, labelled with its name.
    pub fn new(pipeline: &str) -> Result<Self, MetricsError> {
        let registry = prometheus::Registry::new_custom(
            Some("edgeflow".into()),
            Some([("pipeline".to_string(), pipeline.to_string())].into()),
        )?;
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, MetricsError> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let items_in = counter("stage_items_in_total", "Items a stage took in.", &["stage"])?;
        let items_out = counter(
            "stage_items_out_total",
            "Items a stage put out.",
            &["stage"],
        )?;
        let errors = counter(
            "stage_errors_total",
            "Errors by stage and kind (transient, fatal).",
            &["stage", "kind"],
        )?;
        let dropped = counter(
            "edge_dropped_total",
            "Items dropped on an edge whose queue was full.",
            &["from", "to"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "stage_latency_seconds",
                "Time of one next/process/consume call.",
            )
            .buckets(latency_buckets()),
            &["stage"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let wait = HistogramVec::new(
            HistogramOpts::new(
                "stage_queue_wait_seconds",
                "Time an item waited in a stage's input queue.",
            )
            .buckets(latency_buckets()),
            &["stage"],
        )?;
        registry.register(Box::new(wait.clone()))?;
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "stage_queue_depth",
                "Items waiting in a stage's input queue.",
            ),
            &["stage"],
        )?;
        registry.register(Box::new(queue_depth.clone()))?;
        let e2e = HistogramVec::new(
            HistogramOpts::new("pipeline_latency_seconds", "Time from capture to a sink.")
                .buckets(latency_buckets()),
            &["sink"],
        )?;
        registry.register(Box::new(e2e.clone()))?;
        let frames = IntCounter::new("pipeline_frames_total", "Items produced by all sources.")?;
        registry.register(Box::new(frames.clone()))?;
        let reported = prometheus::GaugeVec::new(
            Opts::new(
                "stage_report",
                "Numbers a stage reports about itself: spool_pending, spool_delivered, spool_dropped, reconnects, offline_s, ...",
            ),
            &["stage", "fact"],
        )?;
        registry.register(Box::new(reported.clone()))?;
        Ok(PipelineMetrics {
            registry,
            items_in,
            items_out,
            errors,
            dropped,
            latency,
            wait,
            queue_depth,
            e2e,
            frames,
            reported,
            stages: Mutex::new(Vec::new()),
            edges: Mutex::new(Vec::new()),
            e2e_hdr: LatencyHdr::new(),
            started: Instant::now(),
            finished: Mutex::new(None),
        })
    }

    /// The handles for stage `id` (created on first call).
    pub fn stage(&self, id: &str) -> StageMetrics {
        let mut stages = self.stages.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, m)) = stages.iter().find(|(s, _)| s == id) {
            return m.clone();
        }
        let m = StageMetrics {
            items_in: self.items_in.with_label_values(&[id]),
            items_out: self.items_out.with_label_values(&[id]),
            transient_errors: self.errors.with_label_values(&[id, "transient"]),
            fatal_errors: self.errors.with_label_values(&[id, "fatal"]),
            queue_depth: self.queue_depth.with_label_values(&[id]),
            latency: self.latency.with_label_values(&[id]),
            hdr: LatencyHdr::new(),
            wait: self.wait.with_label_values(&[id]),
            wait_hdr: LatencyHdr::new(),
        };
        stages.push((id.to_string(), m.clone()));
        m
    }

    /// The drop counter of the edge `from` → `to`.
    pub fn edge(&self, from: &str, to: &str) -> IntCounter {
        let c = self.dropped.with_label_values(&[from, to]);
        let mut edges = self.edges.lock().unwrap_or_else(PoisonError::into_inner);
        if !edges.iter().any(|(f, t, _)| f == from && t == to) {
            edges.push((from.to_string(), to.to_string(), c.clone()));
        }
        c
    }

    /// Count one item produced by a source.
    pub fn count_frame(&self) {
        self.frames.inc();
    }

    /// Record the capture-to-sink latency of one item at sink `sink`.
    pub fn observe_e2e(&self, sink: &str, d: Duration) {
        self.e2e.with_label_values(&[sink]).observe(d.as_secs_f64());
        self.e2e_hdr.record(d);
    }

    /// Mark the run as finished (fixes `elapsed` and `fps`).
    pub fn mark_finished(&self) {
        let mut f = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        f.get_or_insert_with(Instant::now);
    }

    /// Export the numbers in a stage's report (spool backlog and drops, reconnects) as
    /// `edgeflow_stage_report{stage, fact}`.
    pub fn report(&self, stage: &str, report: &crate::control::Report) {
        for (fact, value) in report.iter() {
            if let Some(v) = value.as_f64() {
                self.reported.with_label_values(&[stage, fact]).set(v);
            }
        }
    }

    /// Items produced by all sources so far.
    pub fn frames(&self) -> u64 {
        self.frames.get()
    }

    /// The metrics now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let end = (*self.finished.lock().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_else(Instant::now);
        let elapsed = end.duration_since(self.started);
        let frames = self.frames.get();
        let edges: Vec<EdgeStats> = self
            .edges
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(f, t, c)| EdgeStats {
                from: f.clone(),
                to: t.clone(),
                dropped: c.get(),
            })
            .collect();
        let stages = self
            .stages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, m)| StageStats {
                id: id.clone(),
                items_in: m.items_in.get(),
                items_out: m.items_out.get(),
                errors: m.transient_errors.get() + m.fatal_errors.get(),
                dropped_in: edges
                    .iter()
                    .filter(|e| &e.to == id)
                    .map(|e| e.dropped)
                    .sum(),
                queue_depth: m.queue_depth.get(),
                latency_p50: m.hdr.quantile(0.5),
                latency_p95: m.hdr.quantile(0.95),
                latency_p99: m.hdr.quantile(0.99),
                wait_p50: m.wait_hdr.quantile(0.5),
                wait_p95: m.wait_hdr.quantile(0.95),
                wait_p99: m.wait_hdr.quantile(0.99),
            })
            .collect();
        let secs = elapsed.as_secs_f64();
        MetricsSnapshot {
            elapsed,
            frames,
            fps: if secs > 0.0 {
                frames as f64 / secs
            } else {
                0.0
            },
            e2e_p50: self.e2e_hdr.quantile(0.5),
            e2e_p95: self.e2e_hdr.quantile(0.95),
            e2e_p99: self.e2e_hdr.quantile(0.99),
            stages,
            edges,
        }
    }

    /// Items each stage has taken in so far, in pipeline order: cheap (no quantiles), for
    /// watching a run closely.
    pub fn items_in(&self) -> Vec<(String, u64)> {
        self.stages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, m)| (id.clone(), m.items_in.get()))
            .collect()
    }

    /// Forget the latency and queue-wait samples so far (stage and end-to-end quantiles start
    /// again; counters and Prometheus histograms go on): `edgeflow bench` calls it when its
    /// warm-up frames are through.
    pub fn clear_quantiles(&self) {
        for (_, m) in self
            .stages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            m.hdr.clear();
            m.wait_hdr.clear();
        }
        self.e2e_hdr.clear();
    }

    /// The Prometheus registry (for an HTTP `/metrics` endpoint).
    pub fn registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// Every metric in the Prometheus text format.
    pub fn encode_text(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_snapshots() {
        let m = PipelineMetrics::new("t").unwrap();
        let s = m.stage("det");
        s.items_in.inc();
        s.items_out.inc_by(2);
        s.transient_errors.inc();
        s.observe_latency(Duration::from_millis(2));
        s.observe_latency(Duration::from_millis(4));
        s.observe_wait(Duration::from_millis(7));
        m.edge("cam", "det").inc_by(3);
        m.count_frame();
        m.observe_e2e("out", Duration::from_millis(5));
        assert_eq!(m.items_in(), [("det".to_string(), 1)]);
        let snap = m.snapshot();
        let det = snap.stage("det").unwrap();
        assert_eq!(
            (det.items_in, det.items_out, det.errors, det.dropped_in),
            (1, 2, 1, 3)
        );
        let p50 = det.latency_p50.unwrap().as_secs_f64();
        assert!((0.0019..0.0021).contains(&p50), "{p50}");
        let wait = det.wait_p99.unwrap().as_secs_f64();
        assert!((0.0069..0.0071).contains(&wait), "{wait}");
        assert_eq!(snap.total_dropped(), 3);
        assert_eq!(snap.frames, 1);
        let text = m.encode_text();
        assert!(
            text.contains("edgeflow_edge_dropped_total{from=\"cam\",to=\"det\",pipeline=\"t\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("edgeflow_stage_latency_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("edgeflow_stage_queue_wait_seconds_bucket"),
            "{text}"
        );
        m.clear_quantiles();
        let snap = m.snapshot();
        let det = snap.stage("det").unwrap();
        assert_eq!(
            (det.latency_p50, det.wait_p50, snap.e2e_p50),
            (None, None, None)
        );
        assert_eq!(det.items_in, 1, "counters go on");
    }
}
