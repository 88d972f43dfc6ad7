//! The collector's Prometheus metrics (`edgeflow_collector_*`).

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric, registered in [`Metrics::registry`].
pub struct Metrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Messages read from Kafka, per topic.
    pub consumed: IntCounterVec,
    /// New events stored, per kind.
    pub stored: IntCounterVec,
    /// Events dropped as already stored.
    pub duplicates: IntCounter,
    /// Messages dead-lettered, per reason.
    pub dead_lettered: IntCounterVec,
    /// Failed batch writes (the batch is retried; offsets wait).
    pub store_errors: IntCounter,
    /// Seconds per batch write.
    pub store_latency: Histogram,
    /// Consumer lag per partition (librdkafka's statistics).
    pub lag: IntGaugeVec,
    /// Zone events stored, per zone and type.
    pub zone_events: IntCounterVec,
    /// Line crossings stored, per line and direction.
    pub line_crossings: IntCounterVec,
    /// Alerts fired, per rule.
    pub alerts: IntCounterVec,
    /// Webhook attempts, per result.
    pub webhook: IntCounterVec,
    /// Devices online now.
    pub devices_online: IntGauge,
    /// Devices known.
    pub devices_known: IntGauge,
    /// HTTP requests, per route and status.
    pub http: IntCounterVec,
    /// Partitions this process consumes now.
    pub assigned: IntGauge,
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(
        Opts::new(name, help).namespace("edgeflow_collector"),
        labels,
    )?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let r = Registry::new();
        let consumed = counter_vec(
            &r,
            "consumed_total",
            "Messages read from Kafka.",
            &["topic"],
        )?;
        let stored = counter_vec(&r, "stored_total", "New events stored.", &["kind"])?;
        let dead_lettered = counter_vec(
            &r,
            "dead_lettered_total",
            "Messages stored as dead letters, by reason.",
            &["reason"],
        )?;
        let zone_events = counter_vec(
            &r,
            "zone_events_total",
            "Zone events stored.",
            &["zone_id", "event_type"],
        )?;
        let line_crossings = counter_vec(
            &r,
            "line_crossings_total",
            "Line crossings stored.",
            &["line_id", "direction"],
        )?;
        let alerts = counter_vec(&r, "alerts_total", "Alerts fired.", &["rule"])?;
        let webhook = counter_vec(
            &r,
            "webhook_attempts_total",
            "Alert webhook attempts.",
            &["result"],
        )?;
        let http = counter_vec(
            &r,
            "http_requests_total",
            "HTTP requests served.",
            &["route", "status"],
        )?;
        let int = |name: &str, help: &str| {
            let c = IntCounter::with_opts(Opts::new(name, help).namespace("edgeflow_collector"))?;
            r.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let duplicates = int(
            "duplicates_total",
            "Events dropped because their event_id was stored already.",
        )?;
        let store_errors = int(
            "store_errors_total",
            "Batch writes that failed and were retried.",
        )?;
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::with_opts(Opts::new(name, help).namespace("edgeflow_collector"))?;
            r.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let devices_online = gauge(
            "devices_online",
            "Devices heard from within devices.offline_after_s.",
        )?;
        let devices_known = gauge("devices_known", "Devices ever heard from.")?;
        let assigned = gauge("assigned_partitions", "Partitions this process consumes.")?;
        let lag = IntGaugeVec::new(
            Opts::new("consumer_lag", "Messages behind the partition's end.")
                .namespace("edgeflow_collector"),
            &["topic", "partition"],
        )?;
        r.register(Box::new(lag.clone()))?;
        let store_latency = Histogram::with_opts(
            HistogramOpts::new("store_batch_seconds", "Seconds to write one batch.")
                .namespace("edgeflow_collector")
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ]),
        )?;
        r.register(Box::new(store_latency.clone()))?;
        Ok(Metrics {
            registry: r,
            consumed,
            stored,
            duplicates,
            dead_lettered,
            store_errors,
            store_latency,
            lag,
            zone_events,
            line_crossings,
            alerts,
            webhook,
            devices_online,
            devices_known,
            http,
            assigned,
        })
    }

    /// Count what a batch write did.
    pub fn written(&self, w: &crate::store::Written) {
        self.duplicates.inc_by(w.duplicates);
        for k in &w.kinds {
            self.stored.with_label_values(&[&k.kind]).inc();
            if let (Some(zone), Some(t)) = (&k.zone_id, &k.event_type) {
                if t == "line_cross" {
                    let d = k.direction.as_deref().unwrap_or("");
                    self.line_crossings.with_label_values(&[zone, d]).inc();
                } else {
                    self.zone_events.with_label_values(&[zone, t]).inc();
                }
            }
        }
        for rule in &w.alerts {
            self.alerts.with_label_values(&[rule]).inc();
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out);
        out
    }
}
