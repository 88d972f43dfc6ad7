//! `source = "rtsp"`: a network camera. Reconnects after errors and stalls with exponential
//! backoff and jitter, waits for a key frame after each (re)connect, and reports its state
//! (`connecting`, `live`, `stalled`, `reconnecting`, `ended`) as stream status messages that
//! flow to the publish stage.

use std::collections::VecDeque;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edgeflow_core::{
    BuildCtx, BuildError, BuildPurpose, Frame, Invalid, Meta, Report, Source, SourceEvent,
    StageError, StageInfo, StopSignal, StreamState, StreamStatus, Variant,
};
use gstreamer::prelude::*;
use serde::Deserialize;

use crate::capture::file::check_fps;
use crate::media::{self, DecoderChoice, FrameOpts, Head, OutputFormat, Pulled, Running};

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "capture",
    variant: Some(Variant {
        key: "source",
        value: "rtsp",
    }),
    summary: "an RTSP camera, reconnecting with backoff; reports stream status",
    example: r#"[stages.cam]
type = "capture"
source = "rtsp"
uri = "rtsp://127.0.0.1:8554/lobby"
transport = "tcp"            # or "udp"
latency_ms = 200
stall_timeout_ms = 5000      # no frame for this long: reconnect
backoff_initial_ms = 500     # first wait before reconnecting; doubles, with jitter
backoff_max_ms = 30000
fps = 5.0                    # keep at most 5 frames a second

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
queue = { capacity = 8, policy = "drop_oldest" }
"#,
};

/// RTSP lower transport.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection (works through NAT and firewalls).
    #[default]
    Tcp,
    /// RTP over UDP.
    Udp,
}

fn auto() -> String {
    "auto".to_string()
}
fn d_latency() -> u32 {
    200
}
fn d_stall() -> u64 {
    5000
}
fn d_backoff() -> u64 {
    500
}
fn d_backoff_max() -> u64 {
    30_000
}

/// Config of `source = "rtsp"`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RtspConfig {
    /// `rtsp://host[:port]/path`.
    pub uri: String,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: Transport,
    /// Jitter buffer latency.
    #[serde(default = "d_latency")]
    pub latency_ms: u32,
    /// Reconnect when no frame arrives for this long (also while connecting).
    #[serde(default = "d_stall")]
    pub stall_timeout_ms: u64,
    /// First wait before reconnecting; doubles per failed attempt.
    #[serde(default = "d_backoff")]
    pub backoff_initial_ms: u64,
    /// Longest wait between attempts.
    #[serde(default = "d_backoff_max")]
    pub backoff_max_ms: u64,
    /// Give up after this many failed attempts in a row (default: never).
    #[serde(default)]
    pub max_reconnects: Option<u32>,
    /// Keep at most this many frames per second.
    #[serde(default)]
    pub fps: Option<f64>,
    /// Output pixel format.
    #[serde(default)]
    pub format: OutputFormat,
    /// `auto` or a GStreamer decoder element.
    #[serde(default = "auto")]
    pub decoder: String,
    /// Stream id (default: the stage id).
    #[serde(default)]
    pub stream_id: Option<String>,
}

/// Host and port of an RTSP URI (port 554 when absent).
pub fn host_port(uri: &str) -> Option<(String, u16)> {
    let rest = uri
        .strip_prefix("rtsp://")
        .or_else(|| uri.strip_prefix("rtsps://"))?;
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map_or(Some(554), |p| p.parse().ok())?;
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None if !authority.is_empty() => Some((authority.to_string(), 554)),
        None => None,
    }
}

/// The wait before attempt `attempt` (1-based): doubling from `initial`, capped at `max`,
/// with ±20% jitter so many cameras do not reconnect in step.
pub fn backoff(
    attempt: u32,
    initial: Duration,
    max: Duration,
    rng: &mut fastrand::Rng,
) -> Duration {
    let factor = 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    let base = (initial.as_secs_f64() * factor).min(max.as_secs_f64());
    Duration::from_secs_f64(base * rng.f64().mul_add(0.4, 0.8))
}

/// The RTSP source.
pub struct RtspSource {
    cfg: RtspConfig,
    stream: Arc<str>,
    running: Option<Running>,
    pending: VecDeque<SourceEvent<Frame>>,
    live: bool,
    attempt: u32,
    failures: u32,
    last_activity: Instant,
    retry_at: Option<Instant>,
    seq: u64,
    /// The stream time the current connection's first frame lands on.
    pts_base: u64,
    /// The current connection's first sample time (its timestamps start anywhere).
    conn_first_pts: Option<u64>,
    last_pts: u64,
    /// When the last frame came: a reconnect's gap is added to the stream clock, so dwell
    /// times, track buffers and timestamps stay true across an outage.
    last_frame_at: Option<Instant>,
    /// Connections lost or refused, in all.
    reconnects: u64,
    /// Time without frames after the stream was first live, in all, and since when the
    /// current outage runs.
    offline: Duration,
    offline_since: Option<Instant>,
    stop: StopSignal,
    ended: bool,
    ended_reported: bool,
    rng: fastrand::Rng,
    /// The last status reported, for the stage's state.
    state: Option<(StreamState, Option<String>)>,
}

impl RtspSource {
    fn status(&mut self, state: StreamState, detail: Option<String>) {
        tracing::info!(
            stream = &*self.stream,
            ?state,
            attempt = self.attempt,
            detail = detail.as_deref().unwrap_or(""),
            "rtsp status"
        );
        self.state = Some((state, detail.clone()));
        self.pending.push_back(SourceEvent::Status(StreamStatus {
            meta: Meta::now(self.stream.clone(), self.seq, self.last_pts),
            state,
            attempt: self.attempt,
            detail,
        }));
    }

    fn connect(&mut self) {
        self.attempt += 1;
        self.status(StreamState::Connecting, None);
        let transport = self.cfg.transport;
        let latency = self.cfg.latency_ms;
        let opts = FrameOpts {
            format: self.cfg.format,
            sample_fps: self.cfg.fps,
            decoder: DecoderChoice::parse(&self.cfg.decoder),
            sync: false,
            leaky: true,
            wait_key_frame: true,
        };
        let head = Head::Uri {
            uri: self.cfg.uri.clone(),
            setup: Some(Box::new(move |src| {
                if src.has_property("protocols") {
                    let proto = match transport {
                        Transport::Tcp => "tcp",
                        Transport::Udp => "udp",
                    };
                    src.set_property_from_str("protocols", proto);
                }
                if src.has_property("latency") {
                    src.set_property("latency", latency);
                }
            })),
        };
        match Running::frames(head, &opts).and_then(|mut r| r.play().map(|_| r)) {
            Ok(r) => {
                self.running = Some(r);
                self.last_activity = Instant::now();
                // A new connection's timestamps restart: the stream clock goes on from the last
                // frame by the time that passed since (the outage is time, too).
                self.pts_base = match self.last_frame_at {
                    Some(t) => self.last_pts + (t.elapsed().as_nanos() as u64).max(1),
                    None => 0,
                };
                self.conn_first_pts = None;
            }
            Err(e) => self.reconnect(e.to_string()),
        }
    }

    fn reconnect(&mut self, why: String) {
        self.running = None; // stops the pipeline, frees its threads and sockets
        self.live = false;
        self.failures += 1;
        self.reconnects += 1;
        if self.offline_since.is_none() {
            self.offline_since = self.last_frame_at;
        }
        if self.cfg.max_reconnects.is_some_and(|m| self.failures >= m) {
            self.status(
                StreamState::Ended,
                Some(format!(
                    "gave up after {} failed attempts: {why}",
                    self.failures
                )),
            );
            self.ended = true;
            self.ended_reported = true;
            return;
        }
        let wait = backoff(
            self.failures,
            Duration::from_millis(self.cfg.backoff_initial_ms),
            Duration::from_millis(self.cfg.backoff_max_ms),
            &mut self.rng,
        );
        self.status(
            StreamState::Reconnecting,
            Some(format!("{why}; next attempt in {} ms", wait.as_millis())),
        );
        self.retry_at = Some(Instant::now() + wait);
    }
}

impl Source for RtspSource {
    type Config = RtspConfig;
    type Out = Frame;

    fn validate(cfg: &RtspConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if host_port(&cfg.uri).is_none() {
            inv.field(
                "uri",
                format!("`{}` is not an RTSP URI", cfg.uri),
                Some("write `rtsp://host[:port]/path`".into()),
            );
        }
        check_fps(&mut inv, cfg.fps);
        if cfg.stall_timeout_ms < 100 {
            inv.field(
                "stall_timeout_ms",
                "too short to receive a frame",
                Some("use at least 100 ms (default 5000)".into()),
            );
        }
        if cfg.backoff_initial_ms == 0 || cfg.backoff_max_ms < cfg.backoff_initial_ms {
            inv.field(
                "backoff_max_ms",
                "the backoff range is empty",
                Some("use 0 < backoff_initial_ms <= backoff_max_ms".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: RtspConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        media::init()?;
        DecoderChoice::parse(&cfg.decoder).check_installed()?;
        if ctx.purpose == BuildPurpose::Check {
            // `validate --deep`: is the server there? (At run time edgeflow keeps retrying.)
            let (host, port) =
                host_port(&cfg.uri).ok_or_else(|| BuildError::new("not an RTSP URI"))?;
            let reachable = (host.as_str(), port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .and_then(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).ok());
            match reachable {
                Some(_) => ctx.note(format!("RTSP server {host}:{port} is reachable")),
                None => {
                    return Err(BuildError::new(format!("cannot reach the RTSP server at {host}:{port}"))
                        .with_help("check the URI and that the camera is on; at run time edgeflow keeps retrying with backoff and reports `reconnecting`")
                        .at("uri"));
                }
            }
        }
        Ok(RtspSource {
            stream: cfg.stream_id.as_deref().unwrap_or(&ctx.stage_id).into(),
            cfg,
            running: None,
            pending: VecDeque::new(),
            live: false,
            attempt: 0,
            failures: 0,
            last_activity: Instant::now(),
            retry_at: None,
            seq: 0,
            pts_base: 0,
            conn_first_pts: None,
            last_pts: 0,
            last_frame_at: None,
            reconnects: 0,
            offline: Duration::ZERO,
            offline_since: None,
            stop: ctx.stop.clone(),
            ended: false,
            ended_reported: false,
            rng: fastrand::Rng::new(),
            state: None,
        })
    }

    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        let stop = self.stop.clone();
        super::next_item(&stop, || self.next_event())
    }

    fn report(&self, report: &mut Report) {
        let offline = self.offline + self.offline_since.map_or(Duration::ZERO, |t| t.elapsed());
        report
            .set("uri", without_password(&self.cfg.uri))
            .set("attempt", self.attempt)
            .set("reconnects", self.reconnects)
            .set("offline_s", (offline.as_secs_f64() * 10.0).round() / 10.0);
        if let Some((state, detail)) = &self.state {
            report.set("stream", state.name());
            if let Some(d) = detail {
                report.set("stream_detail", d.as_str());
            }
        }
        if let Some(d) = self.running.as_ref().and_then(Running::decoder) {
            report.set("decoder", d);
        }
    }

    fn closing_status(&mut self) -> Option<StreamStatus> {
        self.running = None;
        if self.ended_reported {
            return None;
        }
        self.ended_reported = true;
        Some(StreamStatus {
            meta: Meta::now(self.stream.clone(), self.seq, self.last_pts),
            state: StreamState::Ended,
            attempt: self.attempt,
            detail: Some("stopped".into()),
        })
    }

    fn next_event(&mut self) -> Result<SourceEvent<Frame>, StageError> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(ev);
            }
            if self.ended {
                return Ok(SourceEvent::End);
            }
            if self.stop.is_stopped() {
                self.running = None;
                self.ended = true;
                self.status(StreamState::Ended, Some("pipeline stopping".into()));
                self.ended_reported = true;
                continue;
            }
            if let Some(at) = self.retry_at {
                let left = at.saturating_duration_since(Instant::now());
                if !left.is_zero() {
                    // Waiting to reconnect: back to the runtime between short naps, so
                    // commands are answered while the camera is away.
                    std::thread::sleep(left.min(media::PULL_TIMEOUT));
                    return Ok(SourceEvent::Idle);
                }
                self.retry_at = None;
            }
            let Some(running) = self.running.as_mut() else {
                self.connect();
                continue;
            };
            match running.pull(media::PULL_TIMEOUT) {
                Pulled::Sample(sample) => {
                    self.last_activity = Instant::now();
                    let raw = media::sample_pts_ns(&sample).unwrap_or(0);
                    let first = *self.conn_first_pts.get_or_insert(raw);
                    let pts = self.pts_base + raw.saturating_sub(first);
                    let pts = if self.seq == 0 {
                        pts
                    } else {
                        pts.max(self.last_pts + 1)
                    };
                    self.last_pts = pts;
                    self.last_frame_at = Some(Instant::now());
                    if let Some(since) = self.offline_since.take() {
                        self.offline += since.elapsed();
                    }
                    let meta = Meta::now(self.stream.clone(), self.seq, pts);
                    let frame =
                        media::sample_to_frame(&sample, meta, self.cfg.format.pixel_format());
                    if !self.live {
                        self.live = true;
                        self.failures = 0;
                        let decoder = self.running.as_ref().and_then(Running::decoder);
                        self.status(StreamState::Live, decoder.map(|d| format!("decoder {d}")));
                        self.attempt = 0;
                    }
                    match frame {
                        Ok(f) => {
                            self.seq += 1;
                            self.pending.push_back(SourceEvent::Item(f));
                        }
                        Err(e) => return Err(e.into_stage(false)),
                    }
                }
                Pulled::Timeout => {
                    let silent = self.last_activity.elapsed();
                    if silent >= Duration::from_millis(self.cfg.stall_timeout_ms) {
                        self.status(
                            StreamState::Stalled,
                            Some(format!("no frame for {} ms", silent.as_millis())),
                        );
                        self.reconnect("stalled".into());
                    } else {
                        return Ok(SourceEvent::Idle);
                    }
                }
                Pulled::Eos => self.reconnect("the server ended the stream".into()),
                Pulled::Error(e) => self.reconnect(e.to_string()),
            }
        }
    }
}

/// `rtsp://user:secret@cam/x` → `rtsp://user:***@cam/x`: a state is for dashboards, not
/// for passwords.
fn without_password(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reported_uri_hides_the_password() {
        assert_eq!(
            without_password("rtsp://admin:s3cret@10.0.0.2:554/stream1"),
            "rtsp://admin:***@10.0.0.2:554/stream1"
        );
        assert_eq!(without_password("rtsp://10.0.0.2/x"), "rtsp://10.0.0.2/x");
    }

    #[test]
    fn parses_host_and_port() {
        assert_eq!(
            host_port("rtsp://127.0.0.1:8554/x"),
            Some(("127.0.0.1".into(), 8554))
        );
        assert_eq!(
            host_port("rtsp://user:pw@cam.local/stream1"),
            Some(("cam.local".into(), 554))
        );
        assert_eq!(host_port("rtsp://[::1]:9000/a"), Some(("::1".into(), 9000)));
        assert_eq!(host_port("http://x/y"), None);
        assert_eq!(host_port("rtsp://h:notaport/"), None);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let mut rng = fastrand::Rng::with_seed(1);
        let (i, m) = (Duration::from_millis(100), Duration::from_millis(1000));
        for attempt in 1..=10 {
            let d = backoff(attempt, i, m, &mut rng).as_secs_f64();
            let base = (0.1 * 2f64.powi(attempt as i32 - 1)).min(1.0);
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "attempt {attempt}: {d} vs {base}"
            );
        }
    }
}
