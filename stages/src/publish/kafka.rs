//! `sink = "kafka"`: events to Kafka with `acks = all` and the idempotent producer, through the
//! durable spool. Each spool entry is acknowledged from librdkafka's delivery report; a failed
//! delivery is sent again from the spool. The message key is `<device>/<stream>`, so one
//! stream's events stay in order on one partition.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use edgeflow_core::{BuildCtx, BuildError, Invalid, Message, Sink, StageError, StageInfo, Variant};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use serde::Deserialize;

use super::spool::Spool;
use super::spooled::{SpoolSettings, Spooled, open_spool, render};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "publish",
    variant: Some(Variant {
        key: "sink",
        value: "kafka",
    }),
    summary: "Kafka (acks=all, idempotent producer) through a durable spool",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "mock"

[stages.out]
type = "publish"
inputs = ["det"]
sink = "kafka"
brokers = "127.0.0.1:9092"
topic = "edgeflow-{kind}"
compression = "lz4"
"#,
};

fn d_topic() -> String {
    "edgeflow-{kind}".into()
}
fn d_inflight() -> usize {
    1000
}
fn d_compression() -> String {
    "none".into()
}

/// Config of `sink = "kafka"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Topic template: `{device_id}`, `{stream_id}`, `{kind}`.
    #[serde(default = "d_topic")]
    pub topic: String,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default = "d_compression")]
    pub compression: String,
    /// Extra librdkafka settings (SASL, TLS: `security.protocol`, `sasl.mechanisms`, ...).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    /// Events handed to librdkafka and not yet delivered, at most.
    #[serde(default = "d_inflight")]
    pub inflight: usize,
    /// Which frame summaries to send: `every_frame` (default), `on_change`, `summary`.
    #[serde(default)]
    pub mode: super::select::PublishMode,
    /// With `mode = "summary"`: one summary per stream this often.
    #[serde(default = "super::select::default_interval")]
    pub summary_interval_s: f64,
    /// Spool directory (default `.edgeflow/spool/<pipeline>/<stage>`).
    #[serde(default)]
    pub spool_dir: Option<String>,
    /// Spool bound in bytes (oldest unsent events dropped and counted beyond).
    #[serde(default = "super::spooled::default_max_bytes")]
    pub spool_max_bytes: u64,
    /// Drop unsent events older than this.
    #[serde(default)]
    pub spool_max_age_s: Option<f64>,
    /// `fsync` the spool at most this often (0: every event).
    #[serde(default = "super::spooled::default_fsync_ms")]
    pub fsync_interval_ms: u64,
    /// At the end of a run, wait this long for the brokers.
    #[serde(default = "super::spooled::default_drain_s")]
    pub drain_timeout_s: f64,
}

struct Reports {
    spool: Spool,
    in_flight: AtomicUsize,
    failed: Mutex<Vec<u64>>,
}

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(_) => {
                if let Err(e) = self.spool.ack(*seq) {
                    tracing::error!("spool acknowledgement failed: {e}");
                }
            }
            Err((e, _)) => {
                tracing::warn!("Kafka delivery failed, the event will be sent again: {e}");
                self.failed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(*seq);
            }
        }
    }
}

/// The Kafka sink.
pub struct KafkaSink {
    inner: Spooled,
    topic: String,
}

/// A spool record: topic, key, JSON, separated by newlines.
fn record(template: &str, device: &str, e: &serde_json::Value) -> Vec<u8> {
    let stream = e["stream_id"].as_str().unwrap_or("");
    let kind = e["kind"].as_str().unwrap_or("event");
    format!(
        "{}\n{device}/{stream}\n{e}",
        render(template, device, stream, kind)
    )
    .into_bytes()
}

fn split(r: &[u8]) -> Option<(&str, &str, &[u8])> {
    let a = r.iter().position(|b| *b == b'\n')?;
    let b = a + 1 + r[a + 1..].iter().position(|b| *b == b'\n')?;
    Some((
        std::str::from_utf8(&r[..a]).ok()?,
        std::str::from_utf8(&r[a + 1..b]).ok()?,
        &r[b + 1..],
    ))
}

impl Sink for KafkaSink {
    type Config = KafkaConfig;
    type In = Message;

    fn validate(cfg: &KafkaConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg
            .brokers
            .split(',')
            .any(|b| super::spooled::parse_broker(b.trim()).is_none())
        {
            inv.field(
                "brokers",
                format!("`{}` is not `host:port[,host:port...]`", cfg.brokers),
                Some("e.g. `brokers = \"127.0.0.1:9092\"`".into()),
            );
        }
        let probe = render(&cfg.topic, "d", "s", "k");
        if probe.is_empty()
            || probe.contains('{')
            || !probe
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            inv.field(
                "topic",
                format!("`{}` does not make a Kafka topic name", cfg.topic),
                Some(
                    "use letters, digits, `.`, `_`, `-` and {device_id}, {stream_id}, {kind}"
                        .into(),
                ),
            );
        }
        if !["none", "gzip", "snappy", "lz4", "zstd"].contains(&cfg.compression.as_str()) {
            inv.field(
                "compression",
                format!("`{}` is not a Kafka compression", cfg.compression),
                Some("one of: none, gzip, snappy, lz4, zstd".into()),
            );
        }
        if cfg.inflight == 0 {
            inv.field("inflight", "must be at least 1", None);
        }
        super::select::validate(cfg.mode, cfg.summary_interval_s, &mut inv);
        inv.into_result()
    }

    fn build(cfg: KafkaConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let (spool, _) = open_spool(
            SpoolSettings {
                dir: &cfg.spool_dir,
                max_bytes: cfg.spool_max_bytes,
                max_age_s: cfg.spool_max_age_s,
                fsync_interval_ms: cfg.fsync_interval_ms,
            },
            ctx,
        )?;
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &cfg.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", &cfg.compression)
            // librdkafka keeps retrying while we run; the spool covers restarts.
            .set("message.timeout.ms", "0")
            .set(
                "client.id",
                format!("edgeflow-{}-{}", ctx.device_id, ctx.stage_id),
            );
        for (k, v) in &cfg.options {
            client.set(k, v);
        }
        let reports = Reports {
            spool: spool.clone(),
            in_flight: AtomicUsize::new(0),
            failed: Mutex::new(Vec::new()),
        };
        let producer: BaseProducer<Reports> = client.create_with_context(reports).map_err(|e| {
            BuildError::new(format!("cannot create the Kafka producer: {e}"))
                .with_help("check `brokers` and `options`")
        })?;
        if ctx.purpose == edgeflow_core::BuildPurpose::Check {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(5))
                .map_err(|e| BuildError::new(format!("cannot reach Kafka at {}: {e}", cfg.brokers)).with_help("check `brokers`; at run time events wait in the spool until Kafka is back"))?;
            ctx.note(format!("Kafka at {} answers", cfg.brokers));
        }
        let window = cfg.inflight;
        let inner = Spooled::start(
            "kafka",
            ctx,
            spool,
            cfg.mode,
            cfg.summary_interval_s,
            cfg.drain_timeout_s,
            move |spool, stop| send_loop(producer, spool, stop, window),
        )?;
        Ok(KafkaSink {
            inner,
            topic: cfg.topic,
        })
    }

    fn consume(&mut self, msg: Message) -> Result<(), StageError> {
        let (topic, device) = (self.topic.clone(), self.inner.device.clone());
        self.inner.consume(&msg, |e| record(&topic, &device, e))
    }

    fn finish(&mut self) -> Result<(), StageError> {
        let (topic, device) = (self.topic.clone(), self.inner.device.clone());
        self.inner.finish(|e| record(&topic, &device, e))
    }
}

fn send_loop(producer: BaseProducer<Reports>, spool: Spool, stop: Arc<AtomicBool>, window: usize) {
    let mut next_from = 0u64;
    while !stop.load(Ordering::SeqCst) {
        {
            let mut failed = producer
                .context()
                .failed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(min) = failed.iter().min().copied() {
                next_from = next_from.min(min);
                failed.clear();
            }
        }
        let in_flight = producer.context().in_flight.load(Ordering::SeqCst);
        if in_flight < window {
            for (seq, rec) in spool.pending(next_from, window - in_flight, Duration::ZERO) {
                let Some((topic, key, payload)) = split(&rec) else {
                    let _ = spool.ack(seq); // not a record this sink wrote
                    continue;
                };
                let r = BaseRecord::with_opaque_to(topic, Box::new(seq))
                    .key(key)
                    .payload(payload);
                match producer.send(r) {
                    Ok(()) => {
                        producer.context().in_flight.fetch_add(1, Ordering::SeqCst);
                        next_from = seq + 1;
                    }
                    Err(_) => break, // the local queue is full: serve reports first
                }
            }
        }
        producer.poll(Duration::from_millis(20));
    }
    let _ = producer.flush(Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_options_are_checked() {
        let e = serde_json::json!({"stream_id": "cam", "kind": "tracks", "x": 1});
        let r = record("edgeflow-{kind}", "dev", &e);
        let (topic, key, payload) = split(&r).unwrap();
        assert_eq!((topic, key), ("edgeflow-tracks", "dev/cam"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(payload).unwrap(),
            e
        );
        let cfg: KafkaConfig = edgeflow_core::testing::config_from_toml(
            "brokers = \"localhost\"\ntopic = \"bad topic/{kind}\"\ncompression = \"brotli\"",
        )
        .unwrap();
        let fields: Vec<_> = KafkaSink::validate(&cfg)
            .unwrap_err()
            .problems
            .into_iter()
            .filter_map(|p| p.field)
            .collect();
        assert_eq!(fields, ["brokers", "topic", "compression"]);
    }
}
