//! What every broker sink shares: choose the events (`mode`), append them to the durable spool
//! (the pipeline never waits for the broker), run a sender thread, and at the end give the
//! broker `drain_timeout_s` to take what is pending (the rest stays for the next run).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use edgeflow_core::{BuildCtx, BuildError, Message, Report, StageError};
use edgeflow_events::Event;

use super::options::SpoolTable;
use super::select::{PublishMode, Selector};
use super::spool::{Spool, SpoolOptions};

/// Open the spool at its configured or default place (`.edgeflow/spool/<pipeline>/<stage>`).
pub(crate) fn open_spool(s: &SpoolTable, ctx: &BuildCtx) -> Result<(Spool, PathBuf), BuildError> {
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
            .with_help("check `spool.dir`: it must be a writable directory")
    })?;
    Ok((spool, dir))
}

/// How a sink turns an event into its spool record, which its sender reads back.
pub(crate) trait Encode: Send + 'static {
    /// Append the record of `event` to `out`.
    fn encode(&self, event: &Event, out: &mut Vec<u8>);
    /// The destination template, for the stage's report (`topic`).
    fn topic(&self) -> Option<&str> {
        None
    }
}

/// The record is the event's JSON.
pub(crate) struct Json;

impl Encode for Json {
    fn encode(&self, event: &Event, out: &mut Vec<u8>) {
        event.write_json(out);
    }
}

/// A broker sink's spool: selection, spool, sender thread, and drain at the end.
pub(crate) struct Spooled<E> {
    select: Selector,
    pub(crate) spool: Spool,
    device: String,
    encoder: E,
    /// The record being written, reused from event to event.
    record: Vec<u8>,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<()>>,
    drain: Duration,
    name: &'static str,
    #[cfg(any(feature = "mqtt", feature = "kafka"))]
    status: Option<super::status::StatusReporter>,
}

impl<E: Encode> Spooled<E> {
    /// Start `sender` (given the spool and the stop flag) on its own thread; events are
    /// recorded with `encoder`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        name: &'static str,
        ctx: &BuildCtx,
        spool: Spool,
        mode: PublishMode,
        summary_interval_s: f64,
        drain_timeout_s: f64,
        encoder: E,
        sender: impl FnOnce(Spool, Arc<AtomicBool>) + Send + 'static,
    ) -> Result<Self, BuildError> {
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
            encoder,
            record: Vec::with_capacity(512),
            stop,
            sender: Some(handle),
            drain: Duration::from_secs_f64(drain_timeout_s.max(0.0)),
            name,
            #[cfg(any(feature = "mqtt", feature = "kafka"))]
            status: None,
        })
    }

    /// Send `device_status` events (a broker sink): now, every `interval_s` and at a clean
    /// stop.
    #[cfg(any(feature = "mqtt", feature = "kafka"))]
    pub(crate) fn report_device_status(&mut self, ctx: &BuildCtx, interval_s: f64)
    where
        E: Clone + Sync,
    {
        let encoder = self.encoder.clone();
        let encode: super::status::EncodeFn =
            Arc::new(move |event: &Event, out: &mut Vec<u8>| encoder.encode(event, out));
        self.status = Some(super::status::StatusReporter::start(
            ctx,
            self.spool.clone(),
            interval_s,
            encode,
        ));
    }

    /// The encoder, to change in place (a new topic template).
    #[cfg(any(feature = "mqtt", feature = "kafka"))]
    pub(crate) fn encoder_mut(&mut self) -> &mut E {
        &mut self.encoder
    }

    /// Choose the events of `msg` and append each one's record.
    pub(crate) fn consume(&mut self, msg: &Message) -> Result<(), StageError> {
        let events = self.select.select(&self.device, msg);
        #[cfg(any(feature = "mqtt", feature = "kafka"))]
        if let Some(s) = &self.status {
            s.observe(&events);
        }
        self.append(events)
    }

    fn append(&mut self, events: Vec<Event>) -> Result<(), StageError> {
        for event in &events {
            self.record.clear();
            self.encoder.encode(event, &mut self.record);
            // The spool is the promise: once appended, the event reaches the destination or
            // is counted as dropped. A full disk is fatal: events could no longer be kept.
            self.spool.append(&self.record).map_err(StageError::fatal)?;
        }
        Ok(())
    }

    /// The spool's backlog and drops (and the topic of a broker sink), for the stage's state.
    pub(crate) fn report(&self, report: &mut Report) {
        report
            .set("sink", self.name)
            .set("spool_pending", self.spool.len() as u64)
            .set("spool_delivered", self.spool.delivered())
            .set("spool_dropped", self.spool.dropped());
        if let Some(t) = self.encoder.topic() {
            report.set("topic", t);
        }
    }

    /// Last summaries, then wait up to the drain timeout for the destination, then stop the
    /// sender.
    pub(crate) fn finish(&mut self) -> Result<(), StageError> {
        let last = self.select.flush();
        self.append(last)?;
        #[cfg(any(feature = "mqtt", feature = "kafka"))]
        if let Some(s) = &mut self.status {
            s.stop();
        }
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
                "the destination did not take every event within `spool.drain_timeout_s`; they stay in the spool for the next run"
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
}

impl<E> Spooled<E> {
    fn stop_sender(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}

impl<E> Drop for Spooled<E> {
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
    let mut out = Vec::new();
    render_into(&mut out, t, device, stream, kind);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(any(feature = "mqtt", feature = "kafka"))]
/// [`render`], appended to a record without a string of its own.
pub(crate) fn render_into(out: &mut Vec<u8>, t: &str, device: &str, stream: &str, kind: &str) {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        let tail = &rest[start..];
        let (value, len) = [
            ("{device_id}", device),
            ("{stream_id}", stream),
            ("{kind}", kind),
        ]
        .into_iter()
        .find(|(ph, _)| tail.starts_with(ph))
        .map_or(("{", 1), |(ph, v)| (v, ph.len()));
        out.extend_from_slice(value.as_bytes());
        rest = &tail[len..];
    }
    out.extend_from_slice(rest.as_bytes());
}
