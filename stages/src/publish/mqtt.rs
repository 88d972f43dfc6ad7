//! `sink = "mqtt"`: events to an MQTT broker at QoS 1, through the durable spool.
//!
//! The stage only appends to the spool, so the video path never waits for the broker. A sender
//! thread publishes what is pending within an in-flight window and acknowledges each spool entry
//! on its PUBACK. After any connection error it starts a fresh client (no half-remembered
//! packet ids) and sends everything not yet acknowledged again: a consumer may see an event
//! twice (it drops the duplicate by `event_id`), never zero times. On connect the sink publishes
//! a retained `online` to `status_topic`; its last will sets it to `offline`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use edgeflow_core::{
    BuildCtx, BuildError, Changed, Invalid, Message, Moved, Reconfigure, Report, Sink, StageError,
    StageInfo, Variant,
};
use rumqttc::{
    Client, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport,
};
use serde::Deserialize;

use super::options::{AUTH_MOVED, AuthTable, SPOOL_MOVED, SpoolTable, TLS_MOVED, TlsTable, joined};
use super::spool::Spool;
use super::spooled::{Encode, Spooled, open_spool, reconfigure_topic, render, render_into};
use super::tls;

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "publish",
    variant: Some(Variant {
        key: "sink",
        value: "mqtt",
    }),
    summary: "MQTT at QoS 1 through a durable spool: nothing accepted is lost when the broker goes down",
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
sink = "mqtt"
broker = "127.0.0.1:1883"
topic = "edgeflow/{device_id}/{stream_id}/{kind}"
spool = { dir = ".edgeflow/spool/out", max_bytes = 268435456, fsync_interval_ms = 100 }
# tls = { ca_file = "ca.pem" }                      # TLS on (port 8883 usually)
# auth = { username = "edge", password = "secret" }
"#,
};

fn d_topic() -> String {
    "edgeflow/{device_id}/{stream_id}/{kind}".into()
}
fn d_status() -> String {
    "edgeflow/{device_id}/status".into()
}
fn d_inflight() -> usize {
    64
}
fn d_keep_alive() -> u64 {
    30
}

/// Config of `sink = "mqtt"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
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
    /// `host:port` of the broker.
    pub broker: String,
    /// Topic template: `{device_id}`, `{stream_id}`, `{kind}`.
    #[serde(default = "d_topic")]
    pub topic: String,
    /// Retained `online` / `offline` topic (`{device_id}` allowed).
    #[serde(default = "d_status")]
    pub status_topic: String,
    /// MQTT client id (default `edgeflow-<device>-<stage>`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Credentials: `auth = { username = "...", password = "..." }`.
    #[serde(default)]
    pub auth: AuthTable,
    /// TLS (rustls), on when the table is there: `tls = {}` trusts the system's roots,
    /// `tls = { ca_file, client_cert_file, client_key_file }` a CA and a client certificate.
    /// The broker's certificate must name the host in `broker`.
    #[serde(default)]
    pub tls: Option<TlsTable>,
    /// Keep-alive interval.
    #[serde(default = "d_keep_alive")]
    pub keep_alive_s: u64,
    /// Events sent but not yet acknowledged, at most.
    #[serde(default = "d_inflight")]
    pub inflight: usize,
    /// The durable spool: `spool = { dir, max_bytes, max_age_s, fsync_interval_ms,
    /// drain_timeout_s }`.
    #[serde(default)]
    pub spool: SpoolTable,
}

const PLACEHOLDERS: [&str; 3] = ["{device_id}", "{stream_id}", "{kind}"];

fn check_template(inv: &mut Invalid, field: &str, t: &str, allowed: &[&str]) {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            inv.field(field, format!("`{t}` has an unclosed `{{`"), None);
            return;
        };
        let ph = &rest[start..start + len + 1];
        if !allowed.contains(&ph) {
            inv.field(
                field,
                format!("`{ph}` is not a placeholder here"),
                Some(format!("use {}", allowed.join(", "))),
            );
        }
        rest = &rest[start + len + 1..];
    }
    if t.is_empty() || t.contains('#') || t.contains('+') {
        inv.field(
            field,
            format!("`{t}` is not a topic to publish to"),
            Some("topics must be non-empty and have no `#` or `+`".into()),
        );
    }
}

pub use super::spooled::parse_broker;

/// The MQTT sink.
pub struct MqttSink {
    inner: Spooled<TopicRecord>,
}

/// A spool record: the topic, a newline, the JSON.
#[derive(Clone)]
struct TopicRecord {
    template: String,
}

impl Encode for TopicRecord {
    fn encode(&self, e: &edgeflow_events::Event, out: &mut Vec<u8>) {
        render_into(out, &self.template, &e.device_id, &e.stream_id, e.kind());
        out.push(b'\n');
        e.write_json(out);
    }

    fn topic(&self) -> Option<&str> {
        Some(&self.template)
    }
}

impl Sink for MqttSink {
    type Config = MqttConfig;
    type In = Message;

    const MOVED: &'static [Moved] = &joined::<11>(&[&SPOOL_MOVED, &TLS_MOVED, &AUTH_MOVED]);

    fn validate(cfg: &MqttConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        super::select::validate(cfg.mode, cfg.summary_interval_s, &mut inv);
        if !(0.0..=86_400.0).contains(&cfg.device_status_interval_s) {
            inv.field(
                "device_status_interval_s",
                "must be 0 or a number of seconds up to a day (86400)",
                Some("e.g. `device_status_interval_s = 30.0` (0: no device status)".into()),
            );
        }
        if parse_broker(&cfg.broker).is_none() {
            inv.field(
                "broker",
                format!("`{}` is not `host:port`", cfg.broker),
                Some("e.g. `broker = \"127.0.0.1:1883\"`".into()),
            );
        }
        check_template(&mut inv, "topic", &cfg.topic, &PLACEHOLDERS);
        check_template(
            &mut inv,
            "status_topic",
            &cfg.status_topic,
            &["{device_id}"],
        );
        if cfg.inflight == 0 || cfg.inflight > 65_000 {
            inv.field("inflight", "must be 1 to 65000", None);
        }
        if cfg.keep_alive_s < 5 {
            inv.field(
                "keep_alive_s",
                "under 5 s",
                Some("MQTT needs a keep-alive of 5 s or more".into()),
            );
        }
        if cfg.auth.password.is_some() && cfg.auth.username.is_none() {
            inv.field(
                "auth.password",
                "a password without a user name",
                Some("set `username` in `auth` too".into()),
            );
        }
        if cfg.auth.sasl_mechanism.is_some() {
            inv.field(
                "auth.sasl_mechanism",
                "MQTT has no SASL mechanisms",
                Some("remove it: MQTT logs in with `username` and `password`".into()),
            );
        }
        if let Some(t) = &cfg.tls {
            tls::client_config(t, &mut inv);
        }
        inv.into_result()
    }

    fn build(cfg: MqttConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let (host, port) = parse_broker(&cfg.broker)
            .ok_or_else(|| BuildError::new(format!("`{}` is not host:port", cfg.broker)))?;
        let (spool, dir) = open_spool(&cfg.spool, ctx)?;
        let device = ctx.device_id.to_string();
        let client_id = cfg
            .client_id
            .clone()
            .unwrap_or_else(|| format!("edgeflow-{device}-{}", ctx.stage_id));
        let status_topic = render(&cfg.status_topic, &device, "", "");
        let mut opts = MqttOptions::new(client_id, host.clone(), port);
        opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_s));
        opts.set_clean_session(true);
        if let Some(u) = &cfg.auth.username {
            opts.set_credentials(u.clone(), cfg.auth.password.clone().unwrap_or_default());
        }
        if let Some(t) = &cfg.tls {
            let mut inv = Invalid::new();
            let config = tls::client_config(t, &mut inv)
                .ok_or_else(|| BuildError::new(format!("TLS settings: {inv}")))?;
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(config)));
        } else if cfg.auth.password.is_some() && !is_loopback(&host) {
            tracing::warn!(
                stage = %ctx.stage_id,
                "the MQTT password goes to {host} in clear text: add `tls = {{}}`"
            );
        }
        if ctx.purpose == edgeflow_core::BuildPurpose::Check {
            let later = "at run time events wait in the spool until the broker is back";
            let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .map_err(|e| e.to_string())
                .and_then(|mut a| a.next().ok_or_else(|| "no address".to_string()))
                .map_err(|e| {
                    BuildError::new(format!(
                        "the MQTT broker's name `{host}` does not resolve: {e}"
                    ))
                    .with_help(format!(
                        "check the host in `broker` (DNS, /etc/hosts); {later}"
                    ))
                    .at("broker")
                })?;
            if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                return Err(BuildError::new(format!(
                    "cannot reach the MQTT broker at {host}:{port} ({addr}): {e}"
                ))
                .with_help(format!("check `broker` and that the broker runs; {later}"))
                .at("broker"));
            }
            check_session(&opts)?;
            ctx.note(format!(
                "MQTT broker {host}:{port} accepted a {}session{}; spool {}",
                if cfg.tls.is_some() { "TLS " } else { "" },
                cfg.auth
                    .username
                    .as_deref()
                    .map(|u| format!(" as `{u}`"))
                    .unwrap_or_default(),
                dir.display()
            ));
        }
        // After the check: its session must not leave an `offline` behind.
        opts.set_last_will(LastWill::new(
            status_topic.clone(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        let (window, stage) = (cfg.inflight, ctx.stage_id.to_string());
        let cfg_status_interval = cfg.device_status_interval_s;
        let mut inner = Spooled::start(
            "mqtt",
            ctx,
            spool,
            cfg.mode,
            cfg.summary_interval_s,
            cfg.spool.drain_timeout_s,
            TopicRecord {
                template: cfg.topic,
            },
            move |spool, stop| send_loop(opts, status_topic, spool, stop, window, &stage),
        )?;
        if ctx.purpose != edgeflow_core::BuildPurpose::Check && cfg_status_interval > 0.0 {
            inner.report_device_status(ctx, cfg_status_interval);
        }
        Ok(MqttSink { inner })
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

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

/// `validate --deep`: one MQTT session (TLS and credentials included) with the run's settings,
/// under its own client id (`opts` has no last will yet), closed cleanly.
fn check_session(opts: &MqttOptions) -> Result<(), BuildError> {
    let mut opts = opts.clone();
    opts.set_client_id(format!("{}-validate", opts.client_id()));
    let (client, mut connection) = Client::new(opts, 4);
    let end = Instant::now() + Duration::from_secs(5);
    let silent = || {
        BuildError::new("the MQTT broker did not answer CONNECT within 5 s")
            .with_help("is `broker` an MQTT port (TLS ports need a `tls` table: `tls = {}`)?")
    };
    let result = loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(silent());
        }
        match connection.recv_timeout(left) {
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => break Ok(()),
            Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
            // rumqttc's own connection timeout (5 s) may fire first.
            Ok(Err(rumqttc::ConnectionError::NetworkTimeout)) => break Err(silent()),
            Ok(Err(e)) => {
                let why = explain(&e).unwrap_or("the MQTT broker closed the session");
                break Err(BuildError::new(format!("{why} ({e})"))
                    .with_help("at run time events wait in the spool until the session succeeds"));
            }
            Err(rumqttc::RecvTimeoutError::Disconnected) => {
                break Err(BuildError::new("the MQTT client stopped before CONNACK"));
            }
        }
    };
    let _ = client.disconnect();
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        if !matches!(
            connection.recv_timeout(Duration::from_millis(50)),
            Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout)
        ) {
            break;
        }
    }
    result
}

const TLS_ADVICE: &str = "TLS with the MQTT broker failed: check `tls.ca_file` (the CA that signed the broker's certificate), that the certificate names the host in `broker`, and the client certificate";

/// What a user must fix, for the errors a retry will not cure (TLS, credentials).
fn explain(e: &rumqttc::ConnectionError) -> Option<&'static str> {
    use rumqttc::{ConnectReturnCode as C, ConnectionError as E};
    match e {
        E::Tls(_) => Some(TLS_ADVICE),
        E::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            Some(TLS_ADVICE)
        }
        E::ConnectionRefused(C::BadUserNamePassword) => Some(
            "the MQTT broker refused the user name or password: check `auth.username` and `auth.password`",
        ),
        E::ConnectionRefused(C::NotAuthorized) => Some(
            "the MQTT broker refused the user name or password (not authorised): check `auth.username`, `auth.password` and the broker's ACL",
        ),
        E::ConnectionRefused(C::BadClientId) => {
            Some("the MQTT broker refused the client id: check `client_id`")
        }
        _ => None,
    }
}

fn split(record: &[u8]) -> (String, Vec<u8>) {
    match record.iter().position(|b| *b == b'\n') {
        Some(i) => (
            String::from_utf8_lossy(&record[..i]).into_owned(),
            record[i + 1..].to_vec(),
        ),
        None => (String::new(), record.to_vec()),
    }
}

/// Publish what the spool holds; acknowledge on PUBACK; start over after any error.
fn send_loop(
    opts: MqttOptions,
    status_topic: String,
    spool: Spool,
    stop: Arc<AtomicBool>,
    window: usize,
    stage: &str,
) {
    let mut backoff = Duration::from_millis(100);
    let mut last_log: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let (client, mut connection) = Client::new(opts.clone(), window + 8);
        // Our publishes, in the order rumqttc will number them: `None` for the status message.
        let mut numbered: VecDeque<Option<u64>> = VecDeque::new();
        let mut by_pkid: HashMap<u16, u64> = HashMap::new();
        let mut in_flight = 0usize;
        let mut next_from = 0u64;
        let mut connected = false;
        loop {
            if stop.load(Ordering::SeqCst) {
                // A clean goodbye: the last will only fires on unexpected disconnects.
                if connected
                    && client
                        .try_publish(status_topic.clone(), QoS::AtLeastOnce, true, "offline")
                        .is_ok()
                {
                    let until = Instant::now() + Duration::from_secs(1);
                    while Instant::now() < until {
                        match connection.recv_timeout(Duration::from_millis(50)) {
                            // Sent after the spool drained: the ack of `offline` itself.
                            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) if by_pkid.is_empty() => {
                                break;
                            }
                            Ok(Err(_)) | Err(rumqttc::RecvTimeoutError::Disconnected) => break,
                            _ => {}
                        }
                    }
                }
                let _ = client.disconnect();
                return;
            }
            if connected && in_flight < window {
                for (seq, record) in spool.pending(next_from, window - in_flight, Duration::ZERO) {
                    let (topic, payload) = split(&record);
                    if client
                        .try_publish(topic, QoS::AtLeastOnce, false, payload)
                        .is_err()
                    {
                        break;
                    }
                    numbered.push_back(Some(seq));
                    next_from = seq + 1;
                    in_flight += 1;
                }
            }
            let wait = if connected && in_flight == 0 {
                Duration::from_millis(50)
            } else {
                Duration::from_millis(20)
            };
            match connection.recv_timeout(wait) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                    connected = true;
                    backoff = Duration::from_millis(100);
                    tracing::info!(stage, pending = spool.len(), "MQTT connected");
                    if client
                        .try_publish(status_topic.clone(), QoS::AtLeastOnce, true, "online")
                        .is_ok()
                    {
                        numbered.push_back(None);
                    }
                }
                Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) if pkid != 0 => {
                    if let Some(Some(seq)) = numbered.pop_front() {
                        by_pkid.insert(pkid, seq);
                    }
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(ack)))) => {
                    if let Some(seq) = by_pkid.remove(&ack.pkid) {
                        in_flight = in_flight.saturating_sub(1);
                        if let Err(e) = spool.ack(seq) {
                            tracing::error!(stage, "spool acknowledgement failed: {e}");
                        }
                    }
                }
                Ok(Ok(_)) | Err(rumqttc::RecvTimeoutError::Timeout) => {}
                Ok(Err(e)) => {
                    if last_log.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                        let pending = spool.len();
                        match explain(&e) {
                            Some(why) => tracing::error!(
                                stage,
                                pending,
                                "{why}; events wait in the spool (error: {e})"
                            ),
                            None => tracing::warn!(
                                stage,
                                pending,
                                "MQTT broker unreachable, events wait in the spool: {e}"
                            ),
                        }
                        last_log = Some(Instant::now());
                    }
                    break;
                }
                Err(rumqttc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Start over with a fresh client after a pause; unacknowledged events are sent again.
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_and_topic_templates() {
        assert_eq!(
            parse_broker("127.0.0.1:1883"),
            Some(("127.0.0.1".into(), 1883))
        );
        assert_eq!(parse_broker("[::1]:1883"), Some(("::1".into(), 1883)));
        for bad in ["localhost", "mqtt://h:1883", "h:0", ":1883", "h:port"] {
            assert!(parse_broker(bad).is_none(), "{bad}");
        }
        let mut inv = Invalid::new();
        check_template(&mut inv, "topic", "a/{device_id}/{stream}/#", &PLACEHOLDERS);
        let text = inv.to_string();
        assert!(
            text.contains("`{stream}` is not a placeholder here"),
            "{text}"
        );
        assert!(
            inv.problems.iter().any(|p| p
                .help
                .as_deref()
                .is_some_and(|h| h.contains("no `#` or `+`"))),
            "{inv:?}"
        );
        assert_eq!(
            render("e/{device_id}/{stream_id}/{kind}", "d", "s", "k"),
            "e/d/s/k"
        );
    }

    #[test]
    fn refusals_say_what_to_fix() {
        use rumqttc::{ConnectReturnCode as C, ConnectionError as E};
        for (code, want) in [
            (
                C::BadUserNamePassword,
                "check `auth.username` and `auth.password`",
            ),
            (C::NotAuthorized, "the broker's ACL"),
            (C::BadClientId, "check `client_id`"),
        ] {
            let why = explain(&E::ConnectionRefused(code));
            assert!(why.is_some_and(|w| w.contains(want)), "{why:?}");
        }
        let io = E::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert!(explain(&io).is_some_and(|w| w.starts_with("TLS with the MQTT broker failed")));
        let refused = E::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(explain(&refused), None, "an outage is retried quietly");
    }
}
