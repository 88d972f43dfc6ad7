//! The service's own metrics, registered into the pipeline's Prometheus registry so one
//! `/metrics` has both: per stream fps, state, last frame time and detections of the latest
//! frame, and the HTTP requests and posts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use edgeflow_core::StreamState;
use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use crate::view::Views;

const STATES: [StreamState; 5] = [
    StreamState::Connecting,
    StreamState::Live,
    StreamState::Stalled,
    StreamState::Reconnecting,
    StreamState::Ended,
];

/// The service's metrics.
#[derive(Clone)]
pub struct ServerMetrics {
    fps: GaugeVec,
    state: GaugeVec,
    last_frame: GaugeVec,
    detections: GaugeVec,
    requests: IntCounterVec,
    posted: IntCounterVec,
    replaced: IntCounterVec,
    /// Labels seen per stream (their gauges are set to 0 when absent from a frame).
    seen: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>,
}

impl ServerMetrics {
    /// Register the service's metrics into `registry` (the pipeline's).
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<GaugeVec, prometheus::Error> {
                let g = GaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        Ok(ServerMetrics {
            fps: gauge(
                "stream_fps",
                "Frames per second of a stream over the last 3 s.",
                &["stream"],
            )?,
            state: gauge(
                "stream_state",
                "1 for the state a stream is in (connecting, live, stalled, reconnecting, ended), 0 for the others.",
                &["stream", "state"],
            )?,
            last_frame: gauge(
                "stream_last_frame_timestamp_seconds",
                "When a stream's latest frame was captured (Unix time).",
                &["stream"],
            )?,
            detections: gauge(
                "stream_detections",
                "Detections in a stream's latest analysed frame, by label (persons detected).",
                &["stream", "label"],
            )?,
            requests: counter(
                "http_requests_total",
                "HTTP requests by route and status code.",
                &["route", "code"],
            )?,
            posted: counter(
                "http_frames_posted_total",
                "JPEG frames taken by POST /frame, by stream.",
                &["stream"],
            )?,
            replaced: counter(
                "http_frames_replaced_total",
                "Posted frames replaced by a newer one before the pipeline took them, by stream.",
                &["stream"],
            )?,
            seen: Arc::default(),
        })
    }

    /// Count one answered request.
    pub fn request(&self, route: &str, code: u16) {
        let code = code.to_string();
        self.requests
            .with_label_values(&[route, code.as_str()])
            .inc();
    }

    /// Count one post taken (and whether it replaced one not yet taken).
    pub fn posted(&self, stream: &str, replaced: bool) {
        self.posted.with_label_values(&[stream]).inc();
        let r = self.replaced.with_label_values(&[stream]);
        if replaced {
            r.inc();
        }
    }

    /// Set the per-stream gauges from the views (at each scrape).
    pub fn refresh(&self, views: &Views) {
        for id in views.ids() {
            let Some(v) = views.get(&id) else { continue };
            self.fps.with_label_values(&[id.as_str()]).set(v.fps());
            let now = v.state_name();
            for s in STATES {
                let on = if s.name() == now { 1.0 } else { 0.0 };
                self.state
                    .with_label_values(&[id.as_str(), s.name()])
                    .set(on);
            }
            if let Some(t) = v.last_frame {
                let secs = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.last_frame.with_label_values(&[id.as_str()]).set(secs);
            }
            if let Some(d) = v.detections.as_ref().filter(|d| !d.skipped) {
                // Every label seen on this stream goes back to 0 when it leaves the frame.
                let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
                let labels = seen.entry(id.clone()).or_default();
                for label in labels.iter() {
                    self.detections
                        .with_label_values(&[id.as_str(), label.as_str()])
                        .set(0.0);
                }
                labels.extend(d.items.iter().map(|(det, _)| det.label.to_string()));
                for (det, _) in &d.items {
                    self.detections
                        .with_label_values(&[id.as_str(), &*det.label])
                        .inc();
                }
            }
        }
    }
}
