//! `sink = "webhook"`: each event as an HTTP POST (JSON body), through the durable spool, with
//! retries and exponential backoff. A 2xx response acknowledges the event; a network error, a
//! timeout, 408, 429 or a 5xx is retried (the event waits in the spool); another 4xx means the
//! endpoint will never take it: it is dropped, counted and logged as an error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edgeflow_core::{
    BuildCtx, BuildError, Invalid, Message, Moved, Report, Sink, StageError, StageInfo, Variant,
};
use serde::Deserialize;

use super::options::{SPOOL_MOVED, SpoolTable, TLS_MOVED, TlsTable, joined};
use super::spool::Spool;
use super::spooled::{Json, Spooled, open_spool};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "publish",
    variant: Some(Variant {
        key: "sink",
        value: "webhook",
    }),
    summary: "HTTP POST per event, retried with backoff, through a durable spool",
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
sink = "webhook"
url = "http://127.0.0.1:8080/events"
headers = { Authorization = "Bearer change-me" }
timeout_ms = 5000
mode = "on_change"
"#,
};

fn d_timeout() -> u64 {
    5000
}
fn d_backoff() -> u64 {
    200
}
fn d_backoff_max() -> u64 {
    30_000
}

/// Config of `sink = "webhook"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://` endpoint.
    pub url: String,
    /// Extra headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// With an `https://` URL: `tls = { ca_file = "ca.pem" }`, the CA certificates to trust
    /// (default: the system's roots).
    #[serde(default)]
    pub tls: Option<TlsTable>,
    /// Per request.
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// First wait after a failure; doubles up to `backoff_max_ms`.
    #[serde(default = "d_backoff")]
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts.
    #[serde(default = "d_backoff_max")]
    pub backoff_max_ms: u64,
    /// Which frame summaries to send: `every_frame` (default), `on_change`, `summary`.
    #[serde(default)]
    pub mode: super::select::PublishMode,
    /// With `mode = "summary"`: one summary per stream this often.
    #[serde(default = "super::select::default_interval")]
    pub summary_interval_s: f64,
    /// The durable spool: `spool = { dir, max_bytes, max_age_s, fsync_interval_ms,
    /// drain_timeout_s }`.
    #[serde(default)]
    pub spool: SpoolTable,
}

impl WebhookConfig {
    fn ca_file(&self) -> Option<&str> {
        self.tls.as_ref().and_then(|t| t.ca_file.as_deref())
    }
}

/// The webhook sink.
pub struct Webhook {
    inner: Spooled<Json>,
    /// Events the endpoint refused for good (4xx).
    pub rejected: Arc<AtomicU64>,
}

impl Sink for Webhook {
    type Config = WebhookConfig;
    type In = Message;

    const MOVED: &'static [Moved] = &joined::<8>(&[&SPOOL_MOVED, &TLS_MOVED]);

    fn validate(cfg: &WebhookConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        let rest = cfg
            .url
            .strip_prefix("http://")
            .or_else(|| cfg.url.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            inv.field(
                "url",
                format!("`{}` is not an http(s) URL", cfg.url),
                Some("e.g. `url = \"http://127.0.0.1:8080/events\"`".into()),
            );
        }
        if cfg.url.starts_with("https://") {
            super::tls::roots(cfg.ca_file(), &mut inv);
        } else if cfg.tls.is_some() {
            inv.field(
                "tls",
                "TLS settings for a plain `http://` URL",
                Some("use an `https://` URL, or leave `tls` out".into()),
            );
        }
        for (key, set) in [
            (
                "client_cert_file",
                cfg.tls.as_ref().and_then(|t| t.client_cert_file.as_ref()),
            ),
            (
                "client_key_file",
                cfg.tls.as_ref().and_then(|t| t.client_key_file.as_ref()),
            ),
        ] {
            if set.is_some() {
                inv.field(
                    &format!("tls.{key}"),
                    "the webhook sink presents no client certificate",
                    Some(
                        "terminate mutual TLS in a proxy in front of the endpoint, or remove it"
                            .into(),
                    ),
                );
            }
        }
        if cfg.timeout_ms == 0 {
            inv.field(
                "timeout_ms",
                "0 ms",
                Some("use a timeout of at least a few hundred ms".into()),
            );
        }
        if cfg.backoff_initial_ms == 0 || cfg.backoff_max_ms < cfg.backoff_initial_ms {
            inv.field(
                "backoff_max_ms",
                "the backoff range is empty",
                Some("use 0 < backoff_initial_ms <= backoff_max_ms".into()),
            );
        }
        for name in cfg.headers.keys() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                inv.field("headers", format!("`{name}` is not a header name"), None);
            }
        }
        super::select::validate(cfg.mode, cfg.summary_interval_s, &mut inv);
        inv.into_result()
    }

    fn build(cfg: WebhookConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let (spool, _) = open_spool(&cfg.spool, ctx)?;
        let tls = tls_config(&cfg)?;
        if ctx.purpose == edgeflow_core::BuildPurpose::Check {
            check_endpoint(&cfg)?;
            ctx.note(format!("{} accepts connections", cfg.url));
        }
        let rejected = Arc::new(AtomicU64::new(0));
        let r = rejected.clone();
        let stage = ctx.stage_id.to_string();
        let cfg2 = cfg.clone();
        let inner = Spooled::start(
            "webhook",
            ctx,
            spool,
            cfg.mode,
            cfg.summary_interval_s,
            cfg.spool.drain_timeout_s,
            Json,
            move |spool, stop| send_loop(&cfg2, tls, spool, stop, &r, &stage),
        )?;
        Ok(Webhook { inner, rejected })
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

/// What one POST came to.
enum Outcome {
    Delivered,
    Retry(String),
    Rejected(String),
}

fn post(agent: &ureq::Agent, cfg: &WebhookConfig, body: &[u8]) -> Outcome {
    let mut req = agent
        .post(&cfg.url)
        .header("Content-Type", "application/json");
    for (k, v) in &cfg.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send(body) {
        Ok(resp) if resp.status().is_success() => Outcome::Delivered,
        Ok(resp) => {
            let code = resp.status().as_u16();
            if code == 408 || code == 429 || code >= 500 {
                Outcome::Retry(format!("HTTP {code}"))
            } else {
                Outcome::Rejected(format!("HTTP {code}"))
            }
        }
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

/// rustls with the ring provider, trusting `ca_file` or the system's roots.
fn tls_config(cfg: &WebhookConfig) -> Result<ureq::tls::TlsConfig, BuildError> {
    let mut inv = Invalid::new();
    let roots = if cfg.url.starts_with("https://") {
        super::tls::roots(cfg.ca_file(), &mut inv)
    } else {
        Vec::new()
    };
    if !inv.problems.is_empty() {
        return Err(BuildError::new(format!("TLS settings: {inv}")));
    }
    let roots: Vec<ureq::tls::Certificate<'static>> = roots
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build())
}

/// `host` and `port` of an http(s) URL (default ports 80 and 443).
fn endpoint(url: &str) -> Option<(String, u16, bool)> {
    let uri: ureq::http::Uri = url.parse().ok()?;
    let https = match uri.scheme_str()? {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    // `http` leaves a port that is not a number out instead of refusing the URL.
    let host_port = uri.authority()?.as_str().rsplit('@').next()?;
    let after_host = host_port.rsplit_once(']').map_or(host_port, |(_, r)| r);
    if after_host.contains(':') && uri.port_u16().is_none() {
        return None;
    }
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    (!host.is_empty()).then(|| (host.to_string(), port, https))
}

/// `validate --deep`: a TCP connection to the endpoint and, for https, a TLS handshake with the
/// run's trust roots. No request is sent: a POST would be an event.
fn check_endpoint(cfg: &WebhookConfig) -> Result<(), BuildError> {
    let (host, port, https) =
        endpoint(&cfg.url).ok_or_else(|| BuildError::new(format!("`{}` has no host", cfg.url)))?;
    let timeout = Duration::from_millis(cfg.timeout_ms.min(5000));
    let unreachable = |e: String| {
        BuildError::new(format!("cannot reach {host}:{port} for `{}`: {e}", cfg.url))
            .with_help(
                "check `url`; at run time events wait in the spool until the endpoint answers",
            )
            .at("url")
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| unreachable(e.to_string()))?
        .next()
        .ok_or_else(|| unreachable("no address".into()))?;
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| unreachable(e.to_string()))?;
    if !https {
        return Ok(());
    }
    let mut inv = Invalid::new();
    let config = super::tls::client_config(
        &TlsTable {
            ca_file: cfg.ca_file().map(String::from),
            ..Default::default()
        },
        &mut inv,
    )
    .ok_or_else(|| BuildError::new(format!("TLS settings: {inv}")))?;
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| BuildError::new(format!("`{host}` is not a TLS server name: {e}")))?;
    let mut conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| BuildError::new(format!("TLS set-up failed: {e}")))?;
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    while conn.is_handshaking() {
        let io = conn.complete_io(&mut tcp).map_err(|e| {
            BuildError::new(format!("TLS with {host}:{port} failed: {e}")).with_help(
                "check `tls.ca_file` (the CA that signed the endpoint's certificate) and that the certificate names the URL's host",
            )
        })?;
        if io == (0, 0) {
            return Err(BuildError::new(format!(
                "{host}:{port} closed the connection during the TLS handshake"
            ))
            .with_help("is `url` an https endpoint (not plain http)?"));
        }
    }
    Ok(())
}

fn send_loop(
    cfg: &WebhookConfig,
    tls: ureq::tls::TlsConfig,
    spool: Spool,
    stop: Arc<AtomicBool>,
    rejected: &AtomicU64,
    stage: &str,
) {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(cfg.timeout_ms)))
        .http_status_as_error(false)
        .tls_config(tls)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut backoff = Duration::from_millis(cfg.backoff_initial_ms);
    let mut last_log: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        let batch = spool.pending(0, 1, Duration::from_millis(50));
        let Some((seq, body)) = batch.into_iter().next() else {
            continue;
        };
        match post(&agent, cfg, &body) {
            Outcome::Delivered => {
                backoff = Duration::from_millis(cfg.backoff_initial_ms);
                if let Err(e) = spool.ack(seq) {
                    tracing::error!(stage, "spool acknowledgement failed: {e}");
                }
            }
            Outcome::Rejected(why) => {
                rejected.fetch_add(1, Ordering::SeqCst);
                tracing::error!(
                    stage,
                    url = cfg.url,
                    "the endpoint refused an event for good ({why}); dropped"
                );
                let _ = spool.ack(seq);
            }
            Outcome::Retry(why) => {
                if last_log.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                    if why.contains("certificate") {
                        tracing::error!(
                            stage,
                            url = cfg.url,
                            pending = spool.len(),
                            "webhook failed ({why}); events wait in the spool: check `tls.ca_file` (the CA that signed the endpoint's certificate) and that the certificate names the URL's host"
                        );
                    } else {
                        tracing::warn!(
                            stage,
                            url = cfg.url,
                            pending = spool.len(),
                            "webhook failed ({why}); events wait in the spool"
                        );
                    }
                    last_log = Some(Instant::now());
                }
                let until = Instant::now() + backoff;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                backoff = (backoff * 2).min(Duration::from_millis(cfg.backoff_max_ms));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_of_urls() {
        assert_eq!(
            endpoint("https://h.example/x"),
            Some(("h.example".into(), 443, true))
        );
        assert_eq!(
            endpoint("http://u:p@127.0.0.1:8080/e?q=1"),
            Some(("127.0.0.1".into(), 8080, false))
        );
        assert_eq!(
            endpoint("http://[::1]:81/"),
            Some(("::1".into(), 81, false))
        );
        assert_eq!(endpoint("http://[::1]"), Some(("::1".into(), 80, false)));
        assert_eq!(endpoint("https://u:p@h/"), Some(("h".into(), 443, true)));
        assert_eq!(endpoint("ftp://h/"), None);
        assert_eq!(endpoint("http://:80/"), None);
        assert_eq!(endpoint("http://h:port/"), None);
    }
}
