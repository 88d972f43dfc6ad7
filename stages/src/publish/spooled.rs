//! What every broker sink shares: choose the events (`mode`), append them to the durable spool
//! (the pipeline never waits for the broker), run a sender thread, and at the end give the
//! broker `drain_timeout_s` to take what is pending (the rest stays for the next run).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgeflow_core::{BuildCtx, BuildError, Message, Report, StageError};
use serde_json::Value;

use super::select::{PublishMode, Selector};
use super::spool::{Spool, SpoolOptions};

/// Spool settings of a sink config.
pub(crate) struct SpoolSettings<'a> {
    pub dir: &'a Option<String>,
    pub max_bytes: u64,
    pub max_age_s: Option<f64>,
    pub fsync_interval_ms: u64,
}

/// Open the spool at its configured or default place (`.edgeflow/spool/<pipeline>/<stage>`).
pub(crate) fn open_spool(
    s: SpoolSettings<'_>,
    ctx: &BuildCtx,
) -> Result<(Spool, PathBuf), BuildError> {
    let dir = s.dir.clone().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(".edgeflow/spool")
            .join(&*ctx.pipeline)
            .join(&*ctx.stage_id)
    });
    let spool = Spool::open(SpoolOptions {
        max_bytes: s.max_bytes,
        max_age_s: s.max_age_s,
        fsync_interval_ms: s.fsync_interval_ms,
        segment_bytes: (s.max_bytes / 16).clamp(4096, 4 << 20),
        ..SpoolOptions::new(&dir)
    })
    .map_err(|e| {
        BuildError::new(e.to_string())
            .with_help("check `spool_dir`: it must be a writable directory")
    })?;
    Ok((spool, dir))
}

/// The running part of a spooled sink.
pub(crate) struct Spooled {
    select: Selector,
    pub(crate) spool: Spool,
    pub(crate) device: String,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<()>>,
    drain: Duration,
    name: &'static str,
}

impl Spooled {
    /// Start `sender` (given the spool and the stop flag) on its own thread.
    pub(crate) fn start(
        name: &'static str,
        ctx: &BuildCtx,
        spool: Spool,
        mode: PublishMode,
        summary_interval_s: f64,
        drain_timeout_s: f64,
        sender: impl FnOnce(Spool, Arc<AtomicBool>) + Send + 'static,
    ) -> Result<Spooled, BuildError> {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (spool, stop) = (spool.clone(), stop.clone());
            std::thread::Builder::new()
                .name(
                    format!("ef-{name}-{}", ctx.stage_id)
                        .chars()
                        .take(15)
                        .collect(),
                )
                .spawn(move || sender(spool, stop))
                .map_err(|e| BuildError::new(format!("cannot start the {name} sender: {e}")))?
        };
        Ok(Spooled {
            select: Selector::new(mode, summary_interval_s),
            spool,
            device: ctx.device_id.to_string(),
            stop,
            sender: Some(handle),
            drain: Duration::from_secs_f64(drain_timeout_s.max(0.0)),
            name,
        })
    }

    /// Choose the events of `msg` and append each as `record(event)`.
    pub(crate) fn consume(
        &mut self,
        msg: &Message,
        record: impl Fn(&Value) -> Vec<u8>,
    ) -> Result<(), StageError> {
        let events = self.select.select(&self.device, msg);
        self.append(events, &record)
    }

    fn append(
        &mut self,
        events: Vec<Value>,
        record: &impl Fn(&Value) -> Vec<u8>,
    ) -> Result<(), StageError> {
        for event in events {
            // The spool is the promise: once appended, the event reaches the broker or is
            // counted as dropped. A full disk is fatal: events could no longer be kept.
            self.spool
                .append(&record(&event))
                .map_err(StageError::fatal)?;
        }
        Ok(())
    }

    /// The spool's backlog and drops (and the topic of a broker sink), for the stage's state.
    pub(crate) fn report(&self, report: &mut Report, topic: Option<&str>) {
        report
            .set("sink", self.name)
            .set("spool_pending", self.spool.len() as u64)
            .set("spool_dropped", self.spool.dropped());
        if let Some(t) = topic {
            report.set("topic", t);
        }
    }

    /// Last summaries, then wait up to the drain timeout for the broker, then stop the sender.
    pub(crate) fn finish(&mut self, record: impl Fn(&Value) -> Vec<u8>) -> Result<(), StageError> {
        let last = self.select.flush();
        self.append(last, &record)?;
        let _ = self.spool.sync();
        let deadline = Instant::now() + self.drain;
        while !self.spool.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let left = self.spool.len();
        if left > 0 {
            tracing::warn!(
                sink = self.name,
                pending = left,
                "the destination did not take every event within `drain_timeout_s`; they stay in the spool for the next run"
            );
        }
        if self.spool.dropped() > 0 {
            tracing::warn!(
                sink = self.name,
                dropped = self.spool.dropped(),
                "events were dropped because the spool was full"
            );
        }
        self.stop_sender();
        let _ = self.spool.sync();
        Ok(())
    }

    fn stop_sender(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Spooled {
    fn drop(&mut self) {
        self.stop_sender();
    }
}

#[cfg(any(feature = "mqtt", feature = "kafka"))]
/// `host:port`, checked.
pub fn parse_broker(s: &str) -> Option<(String, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty() && !host.contains('/')).then(|| {
        (
            host.trim_matches(|c| c == '[' || c == ']').to_string(),
            port,
        )
    })
}

#[cfg(any(feature = "mqtt", feature = "kafka"))]
/// The `reconfigure` of a broker sink: `topic` (a template, checked by `validate`) changes in
/// place, from the next event on; anything else opens the connection anew (events wait in the
/// spool meanwhile).
pub(crate) fn reconfigure_topic(
    topic: &mut String,
    new: &str,
    changed: &edgeflow_core::Changed<'_>,
) -> edgeflow_core::Reconfigure {
    if !changed.only(&["topic"]) {
        return edgeflow_core::Reconfigure::Rebuild;
    }
    *topic = new.to_string();
    edgeflow_core::Reconfigure::Applied
}

#[cfg(any(feature = "mqtt", feature = "kafka"))]
/// A topic from its template: `{device_id}`, `{stream_id}`, `{kind}`.
pub fn render(t: &str, device: &str, stream: &str, kind: &str) -> String {
    t.replace("{device_id}", device)
        .replace("{stream_id}", stream)
        .replace("{kind}", kind)
}

/// Default `spool_max_bytes`: 256 MiB.
pub(crate) fn default_max_bytes() -> u64 {
    256 << 20
}

/// Default `fsync_interval_ms`.
pub(crate) fn default_fsync_ms() -> u64 {
    100
}

/// Default `drain_timeout_s`.
#[cfg(any(feature = "mqtt", feature = "kafka", feature = "webhook"))]
pub(crate) fn default_drain_s() -> f64 {
    10.0
}
