//! `sink = "kafka"`: events to Kafka with `acks = all` and the idempotent producer, through the
//! durable spool. Each spool entry is acknowledged from librdkafka's delivery report; a failed
//! delivery is sent again from the spool. The message key is `<device>/<stream>`, so one
//! stream's events stay in order on one partition.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use edgeflow_core::{
    BuildCtx, BuildError, Changed, Invalid, Message, Moved, Reconfigure, Report, Sink, StageError,
    StageInfo, Variant,
};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use serde::Deserialize;

use super::options::{AUTH_MOVED, AuthTable, SPOOL_MOVED, SpoolTable, TLS_MOVED, TlsTable, joined};
use super::spool::Spool;
use super::spooled::{Encode, Spooled, open_spool, reconfigure_topic, render, render_into};

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
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
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
    /// TLS (librdkafka's OpenSSL), on when the table is there: `tls = {}` trusts OpenSSL's
    /// roots, `tls = { ca_file, client_cert_file, client_key_file }` a CA and a client
    /// certificate.
    #[serde(default)]
    pub tls: Option<TlsTable>,
    /// SASL: `auth = { sasl_mechanism = "SCRAM-SHA-512", username = "...", password = "..." }`
    /// (`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`).
    #[serde(default)]
    pub auth: AuthTable,
    /// Any other librdkafka setting (`linger.ms`, `socket.keepalive.enable`, ...).
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
    /// A `device_status` event (version, pipeline, streams, spool backlog) at start, this
    /// often, and at a clean stop, for the collector's device registry; 0 sends none.
    #[serde(default = "super::status::default_interval")]
    pub device_status_interval_s: f64,
    /// The durable spool: `spool = { dir, max_bytes, max_age_s, fsync_interval_ms,
    /// drain_timeout_s }`.
    #[serde(default)]
    pub spool: SpoolTable,
}

/// Makes producers: the first at build, a fresh one when the old one is stuck.
struct Maker {
    client: ClientConfig,
    spool: Spool,
    stage: String,
    quiet: bool,
}

impl Maker {
    fn producer(&self) -> rdkafka::error::KafkaResult<BaseProducer<Reports>> {
        self.client.create_with_context(Reports {
            spool: self.spool.clone(),
            in_flight: AtomicUsize::new(0),
            failed: Mutex::new(Vec::new()),
            stage: self.stage.clone(),
            quiet: self.quiet,
            last_error: Mutex::new(None),
            logged: Mutex::new(Default::default()),
            last_report: Mutex::new(Instant::now()),
        })
    }
}

struct Reports {
    spool: Spool,
    in_flight: AtomicUsize,
    /// When the last delivery report came (or the producer was made).
    last_report: Mutex<Instant>,
    failed: Mutex<Vec<u64>>,
    stage: String,
    /// `validate --deep`: keep librdkafka's errors for the report, do not log them.
    quiet: bool,
    /// The latest client error, preferring one a user must fix (TLS, SASL).
    last_error: Mutex<Option<String>>,
    /// When each kind of client error was last logged (at most every 5 s each).
    logged: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Reports {
    fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl ClientContext for Reports {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        let text = format!("{error}: {reason}");
        use rdkafka::types::RDKafkaErrorCode as Code;
        // The error code where librdkafka gives one; its text otherwise (a failed TLS
        // handshake comes as a transport failure whose reason names SSL).
        let why = match error.rdkafka_error_code() {
            Some(Code::Authentication) => Some(SASL_ADVICE),
            Some(Code::SSL) => Some(TLS_ADVICE),
            _ => explain(&text),
        };
        {
            let mut last = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if why.is_some() || last.as_deref().is_none_or(|l| explain(l).is_none()) {
                *last = Some(text.clone());
            }
        }
        if self.quiet {
            return;
        }
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        let kind = error.to_string();
        if logged
            .get(&kind)
            .is_some_and(|at| at.elapsed() < Duration::from_secs(5))
        {
            return;
        }
        logged.insert(kind, Instant::now());
        let pending = self.spool.len();
        match why {
            Some(why) => tracing::error!(
                stage = self.stage,
                pending,
                "{why}; events wait in the spool ({text})"
            ),
            None => tracing::warn!(
                stage = self.stage,
                pending,
                "Kafka: {text}; events wait in the spool"
            ),
        }
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel as L;
        if self.quiet {
            return;
        }
        match level {
            // Errors also arrive through `error`, which says what to fix.
            L::Emerg | L::Alert | L::Critical | L::Error | L::Warning => {
                tracing::debug!(stage = self.stage, "librdkafka {fac}: {message}")
            }
            L::Notice | L::Info | L::Debug => {
                tracing::trace!(stage = self.stage, "librdkafka {fac}: {message}")
            }
        }
    }
}

const SASL_ADVICE: &str = "Kafka refused the SASL login: check `auth.sasl_mechanism`, `auth.username` and `auth.password`";
const TLS_ADVICE: &str = "TLS with Kafka failed: check `tls` (does the listener speak TLS?), `tls.ca_file` (the CA that signed the brokers' certificates) and the client certificate";

/// What a user must fix, for the client errors a retry will not cure.
fn explain(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    if t.contains("sasl") || t.contains("authentication") {
        Some(SASL_ADVICE)
    } else if t.contains("ssl") || t.contains("certificate") || t.contains("handshake") {
        Some(TLS_ADVICE)
    } else {
        None
    }
}

/// librdkafka settings from the TLS and SASL tables.
fn security_settings(cfg: &KafkaConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (tls, auth) = (cfg.tls.as_ref(), &cfg.auth);
    let protocol = match (tls.is_some(), auth.sasl_mechanism.is_some()) {
        (true, true) => Some("SASL_SSL"),
        (true, false) => Some("SSL"),
        (false, true) => Some("SASL_PLAINTEXT"),
        (false, false) => None,
    };
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            out.push((k.to_string(), v.to_string()));
        }
    };
    put("security.protocol", protocol);
    put("ssl.ca.location", tls.and_then(|t| t.ca_file.as_deref()));
    put(
        "ssl.certificate.location",
        tls.and_then(|t| t.client_cert_file.as_deref()),
    );
    put(
        "ssl.key.location",
        tls.and_then(|t| t.client_key_file.as_deref()),
    );
    put("sasl.mechanisms", auth.sasl_mechanism.as_deref());
    put("sasl.username", auth.username.as_deref());
    put("sasl.password", auth.password.as_deref());
    out
}

/// The TLS and SASL tables: coherent, files present.
fn check_security(cfg: &KafkaConfig, inv: &mut Invalid) {
    if let Some(t) = &cfg.tls {
        for (field, file) in [
            ("tls.ca_file", &t.ca_file),
            ("tls.client_cert_file", &t.client_cert_file),
            ("tls.client_key_file", &t.client_key_file),
        ] {
            if let Some(path) = file
                && !std::path::Path::new(path).is_file()
            {
                inv.field(field, format!("no such file: {path}"), None);
            }
        }
        if t.client_cert_file.is_some() != t.client_key_file.is_some() {
            let (field, help) = if t.client_cert_file.is_some() {
                ("tls.client_cert_file", "set `client_key_file` in `tls` too")
            } else {
                ("tls.client_key_file", "set `client_cert_file` in `tls` too")
            };
            inv.field(
                field,
                "a client certificate needs its key",
                Some(help.into()),
            );
        }
    }
    let auth = &cfg.auth;
    match auth.sasl_mechanism.as_deref() {
        None => {
            for (field, set) in [
                ("auth.username", auth.username.is_some()),
                ("auth.password", auth.password.is_some()),
            ] {
                if set {
                    inv.field(
                        field,
                        "SASL credentials without `sasl_mechanism`",
                        Some(
                            "add `sasl_mechanism = \"SCRAM-SHA-512\"` (or SCRAM-SHA-256, PLAIN) to `auth`"
                                .into(),
                        ),
                    );
                }
            }
        }
        Some(m) => {
            if !SASL_MECHANISMS.contains(&m) {
                inv.field(
                    "auth.sasl_mechanism",
                    format!("`{m}` is not a SASL mechanism edgeflow supports"),
                    Some(format!("one of: {}", SASL_MECHANISMS.join(", "))),
                );
            }
            if auth.username.is_none() || auth.password.is_none() {
                inv.field(
                    "auth.sasl_mechanism",
                    format!("`{m}` needs `username` and `password` in `auth`"),
                    None,
                );
            }
            if m == "PLAIN" && cfg.tls.is_none() {
                inv.field(
                    "auth.sasl_mechanism",
                    "PLAIN sends the password in clear text without TLS",
                    Some("add `tls = {}`, or use SCRAM-SHA-512".into()),
                );
            }
        }
    }
}

const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// Settings edgeflow sets itself: overriding them would break delivery guarantees or
/// duplicate a field.
const OWN_SETTINGS: [(&str, &str); 14] = [
    ("bootstrap.servers", "use `brokers`"),
    ("metadata.broker.list", "use `brokers`"),
    (
        "acks",
        "edgeflow needs `acks = all` so that an acknowledged event is on every replica",
    ),
    (
        "request.required.acks",
        "edgeflow needs `acks = all` so that an acknowledged event is on every replica",
    ),
    (
        "enable.idempotence",
        "edgeflow needs the idempotent producer so that retries do not reorder or repeat",
    ),
    (
        "message.timeout.ms",
        "edgeflow retries until delivered; the spool bounds what waits",
    ),
    ("compression.type", "use `compression`"),
    ("security.protocol", "use the `tls` and `auth` tables"),
    ("ssl.ca.location", "use `tls = { ca_file = ... }`"),
    (
        "ssl.certificate.location",
        "use `tls = { client_cert_file = ... }`",
    ),
    ("ssl.key.location", "use `tls = { client_key_file = ... }`"),
    ("sasl.mechanisms", "use `auth = { sasl_mechanism = ... }`"),
    ("sasl.username", "use `auth = { username = ... }`"),
    ("sasl.password", "use `auth = { password = ... }`"),
];

/// `options`: each a librdkafka property with a value it takes, none of ours.
fn check_options(cfg: &KafkaConfig, inv: &mut Invalid) {
    for (k, v) in &cfg.options {
        let field = format!("options.{k}");
        if let Some((_, help)) = OWN_SETTINGS.iter().find(|(own, _)| own == k) {
            inv.field(
                &field,
                format!("`{k}` is set by edgeflow"),
                Some((*help).into()),
            );
            continue;
        }
        if let Err(e) = ClientConfig::new().set(k, v).create_native_config() {
            let text = match e {
                rdkafka::error::KafkaError::ClientConfig(_, desc, _, _) => desc,
                other => other.to_string(),
            };
            inv.field(
                &field,
                text,
                Some("see librdkafka's CONFIGURATION.md for the producer properties".into()),
            );
        }
    }
}

/// `validate --deep`: fetch the cluster's metadata with the run's settings; say why not.
fn check_session(producer: &BaseProducer<Reports>, cfg: &KafkaConfig) -> Result<(), BuildError> {
    match producer
        .client()
        .fetch_metadata(None, Duration::from_secs(5))
    {
        Ok(_) => Ok(()),
        Err(e) => {
            // The client error (TLS, SASL) arrives through the context, maybe a bit later.
            let end = Instant::now() + Duration::from_millis(500);
            let mut reason = producer.context().last_error();
            while reason.is_none() && Instant::now() < end {
                producer.poll(Duration::from_millis(50));
                reason = producer.context().last_error();
            }
            let why = reason.as_deref().and_then(explain);
            let mut msg = format!("cannot reach Kafka at {}: {e}", cfg.brokers);
            if let Some(r) = &reason {
                msg.push_str(&format!(" ({r})"));
            }
            Err(BuildError::new(msg)
                .with_help(why.unwrap_or(
                    "check `brokers`; at run time events wait in the spool until Kafka is back",
                ))
                .at("brokers"))
        }
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: Box<u64>) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        *self
            .last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        match result {
            Ok(_) => {
                if let Err(e) = self.spool.ack(*seq) {
                    tracing::error!("spool acknowledgement failed: {e}");
                }
            }
            Err((e, _)) => {
                use rdkafka::types::RDKafkaErrorCode as Code;
                if matches!(
                    e.rdkafka_error_code(),
                    Some(Code::PurgeQueue | Code::PurgeInflight)
                ) {
                    // Purged at the end of a run (drain timeout) or with a stuck producer: it
                    // stays in the spool.
                    tracing::debug!(stage = self.stage, "Kafka delivery purged");
                } else if !self.quiet {
                    tracing::warn!(
                        stage = self.stage,
                        "Kafka delivery failed, the event will be sent again: {e}"
                    );
                }
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
    inner: Spooled<KafkaRecord>,
}

/// A spool record: topic, key (`<device>/<stream>`), JSON, separated by newlines.
#[derive(Clone)]
struct KafkaRecord {
    template: String,
}

impl Encode for KafkaRecord {
    fn encode(&self, e: &edgeflow_events::Event, out: &mut Vec<u8>) {
        render_into(out, &self.template, &e.device_id, &e.stream_id, e.kind());
        out.push(b'\n');
        out.extend_from_slice(e.device_id.as_bytes());
        out.push(b'/');
        out.extend_from_slice(e.stream_id.as_bytes());
        out.push(b'\n');
        e.write_json(out);
    }

    fn topic(&self) -> Option<&str> {
        Some(&self.template)
    }
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

    const MOVED: &'static [Moved] = &joined::<11>(&[&SPOOL_MOVED, &TLS_MOVED, &AUTH_MOVED]);

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
        check_security(cfg, &mut inv);
        check_options(cfg, &mut inv);
        super::select::validate(cfg.mode, cfg.summary_interval_s, &mut inv);
        if !(0.0..=86_400.0).contains(&cfg.device_status_interval_s) {
            inv.field(
                "device_status_interval_s",
                "must be 0 or a number of seconds up to a day (86400)",
                Some("e.g. `device_status_interval_s = 30.0` (0: no device status)".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: KafkaConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let (spool, _) = open_spool(&cfg.spool, ctx)?;
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
        for (k, v) in security_settings(&cfg)
            .into_iter()
            .chain(cfg.options.clone())
        {
            client.set(k, v);
        }
        let make = Maker {
            client,
            spool: spool.clone(),
            stage: ctx.stage_id.to_string(),
            quiet: ctx.purpose == edgeflow_core::BuildPurpose::Check,
        };
        let producer = make.producer().map_err(|e| {
            BuildError::new(format!("cannot create the Kafka producer: {e}"))
                .with_help("check the files in `tls` and the `options`")
        })?;
        if ctx.purpose == edgeflow_core::BuildPurpose::Check {
            check_session(&producer, &cfg)?;
            ctx.note(format!(
                "Kafka at {} answers{}",
                cfg.brokers,
                match (&cfg.auth.sasl_mechanism, &cfg.auth.username) {
                    (Some(m), Some(u)) => format!(
                        " ({m} as `{u}`{})",
                        if cfg.tls.is_some() { ", TLS" } else { "" }
                    ),
                    _ if cfg.tls.is_some() => " (TLS)".to_string(),
                    _ => String::new(),
                }
            ));
        }
        let window = cfg.inflight;
        let cfg_status_interval = cfg.device_status_interval_s;
        let mut inner = Spooled::start(
            "kafka",
            ctx,
            spool,
            cfg.mode,
            cfg.summary_interval_s,
            cfg.spool.drain_timeout_s,
            KafkaRecord {
                template: cfg.topic,
            },
            move |spool, stop| send_loop(&make, producer, spool, stop, window),
        )?;
        if ctx.purpose != edgeflow_core::BuildPurpose::Check && cfg_status_interval > 0.0 {
            inner.report_device_status(ctx, cfg_status_interval);
        }
        Ok(KafkaSink { inner })
    }

    fn reconfigure(
        &mut self,
        cfg: &Self::Config,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        let template = &mut self.inner.encoder_mut().template;
        Ok(reconfigure_topic(template, &cfg.topic, changed))
    }

    fn report(&self, report: &mut Report) {
        self.inner.report(report);
    }

    fn consume(&mut self, msg: Message) -> Result<(), StageError> {
        self.inner.consume(&msg)
    }

    fn finish(&mut self) -> Result<(), StageError> {
        self.inner.finish()
    }
}

/// No delivery report for this long with events in flight, while the brokers answer: the
/// producer is stuck (a broker restarted without its data refuses the idempotent producer's
/// id with UNKNOWN_PRODUCER_ID, and librdkafka retries for ever).
const STUCK_AFTER: Duration = Duration::from_secs(8);

/// Why `producer` will deliver nothing more, if it will not: a fatal error of the idempotent
/// producer, or events in flight with no report for [`STUCK_AFTER`] while the cluster answers.
fn stuck(producer: &BaseProducer<Reports>) -> Option<String> {
    if let Some((code, reason)) = producer.client().fatal_error() {
        return Some(format!(
            "the idempotent Kafka producer hit a fatal error ({code:?}: {reason})"
        ));
    }
    let ctx = producer.context();
    let in_flight = ctx.in_flight.load(Ordering::SeqCst);
    let quiet_for = ctx
        .last_report
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .elapsed();
    if in_flight == 0 || quiet_for < STUCK_AFTER {
        return None;
    }
    // Down brokers are an outage the producer rides out by itself; answering ones that take
    // nothing are not.
    producer
        .client()
        .fetch_metadata(None, Duration::from_secs(1))
        .ok()?;
    Some(format!(
        "Kafka answers but took none of {in_flight} events in {} s (a broker that restarted without its data refuses this producer's id: UNKNOWN_PRODUCER_ID)",
        quiet_for.as_secs()
    ))
}

fn send_loop(
    make: &Maker,
    producer: BaseProducer<Reports>,
    spool: Spool,
    stop: Arc<AtomicBool>,
    window: usize,
) {
    let mut producer = producer;
    let mut next_from = 0u64;
    let mut checked = Instant::now();
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
        if checked.elapsed() < Duration::from_secs(1) {
            continue;
        }
        checked = Instant::now();
        let Some(why) = stuck(&producer) else {
            continue;
        };
        match make.producer() {
            Ok(fresh) => {
                tracing::error!(
                    stage = make.stage,
                    pending = spool.len(),
                    "{why}: made a new producer, sending again from the spool (a consumer may see some events twice: drop repeats by `event_id`)"
                );
                // The old producer's unacknowledged events stay in the spool; dropping it
                // purges them (their reports go to its own context).
                producer = fresh;
                next_from = 0;
            }
            Err(e) => tracing::error!(
                stage = make.stage,
                "{why}, and a new producer cannot be made: {e}; events wait in the spool"
            ),
        }
    }
    let _ = producer.flush(Duration::from_secs(2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_options_are_checked() {
        let e = edgeflow_events::Event::new(
            edgeflow_events::Origin {
                device_id: "dev",
                stream_id: "cam",
                seq: 1,
                pts_ns: 2,
                timestamp: "t",
                file: None,
            },
            edgeflow_events::Body::Occupancy(edgeflow_events::Occupancy {
                occupancy: [("z".to_string(), 1)].into(),
            }),
            "occupancy",
            None,
            None,
        );
        let mut r = Vec::new();
        KafkaRecord {
            template: "edgeflow-{kind}".into(),
        }
        .encode(&e, &mut r);
        let (topic, key, payload) = split(&r).unwrap();
        assert_eq!((topic, key), ("edgeflow-occupancy", "dev/cam"));
        assert_eq!(
            serde_json::from_slice::<edgeflow_events::Event>(payload).unwrap(),
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

    #[test]
    fn client_errors_say_what_to_fix() {
        let sasl = explain(
            "Authentication (Local: Authentication failure): SASL SCRAM authentication failed",
        );
        assert!(sasl.is_some_and(|w| w.contains("check `auth.sasl_mechanism`")));
        let tls = explain("SSL transport error: SSL handshake failed: certificate verify failed");
        assert!(tls.is_some_and(|w| w.contains("check `tls`")));
        assert_eq!(
            explain("AllBrokersDown (Local: All broker connections are down)"),
            None
        );
    }

    #[test]
    fn security_fields_become_librdkafka_settings() {
        let cfg: KafkaConfig = edgeflow_core::testing::config_from_toml(
            "brokers = \"h:1\"\ntls = { ca_file = \"ca.pem\" }\nauth = { sasl_mechanism = \"SCRAM-SHA-256\", username = \"u\", password = \"p\" }",
        )
        .unwrap();
        let got = security_settings(&cfg);
        let get = |k: &str| {
            got.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(get("ssl.ca.location"), Some("ca.pem"));
        assert_eq!(get("sasl.mechanisms"), Some("SCRAM-SHA-256"));
        assert_eq!(get("sasl.username"), Some("u"));
        let plain: KafkaConfig = edgeflow_core::testing::config_from_toml(
            "brokers = \"h:1\"\nauth = { sasl_mechanism = \"SCRAM-SHA-512\", username = \"u\", password = \"p\" }",
        )
        .unwrap();
        assert!(security_settings(&plain).contains(&(
            "security.protocol".to_string(),
            "SASL_PLAINTEXT".to_string()
        )));
        let none: KafkaConfig =
            edgeflow_core::testing::config_from_toml("brokers = \"h:1\"").unwrap();
        assert!(security_settings(&none).is_empty());
    }
}
