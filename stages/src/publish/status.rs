//! `device_status` events from a broker sink: one at start, one every
//! `device_status_interval_s` (from a timer thread, so a stalled camera still reports) and
//! one at a clean stop. They go through the sink's spool like every other event.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edgeflow_core::BuildCtx;
use edgeflow_events::{Body, DeviceState, DeviceStatus, Event, Origin, StreamState};

use super::spool::Spool;

/// Default `device_status_interval_s`.
pub fn default_interval() -> f64 {
    30.0
}

/// What the status thread and the stage share.
struct Shared {
    device: String,
    pipeline: String,
    interval_s: f64,
    /// Identifies this run, so each status has its own `event_id` across restarts.
    run: String,
    sent: AtomicU64,
    streams: Mutex<BTreeMap<String, StreamState>>,
    spool: Spool,
}

impl Shared {
    fn event(&self, state: DeviceState) -> Event {
        let n = self.sent.fetch_add(1, Ordering::SeqCst);
        let streams = self.streams.lock().map(|s| s.clone()).unwrap_or_default();
        let timestamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let origin = Origin {
            device_id: &self.device,
            stream_id: "",
            seq: n,
            pts_ns: 0,
            timestamp: &timestamp,
            file: None,
        };
        let body = Body::DeviceStatus(DeviceStatus {
            state,
            version: env!("CARGO_PKG_VERSION").to_string(),
            pipeline: self.pipeline.clone(),
            streams,
            spool_backlog: self.spool.len() as u64,
            interval_s: if state == DeviceState::Stopping {
                0.0
            } else {
                self.interval_s
            },
        });
        Event::new(
            origin,
            body,
            &format!("device_status/{}", self.run),
            None,
            None,
        )
    }
}

/// How a sink turns an event into its spool record.
pub(crate) type EncodeFn = Arc<dyn Fn(&Event, &mut Vec<u8>) + Send + Sync>;

/// Sends a sink's `device_status` events.
pub(crate) struct StatusReporter {
    shared: Arc<Shared>,
    encode: EncodeFn,
    stop: Arc<AtomicBool>,
    timer: Option<JoinHandle<()>>,
    stopped: bool,
}

impl StatusReporter {
    /// Start reporting into `spool` every `interval_s`, each record made by `encode`.
    pub(crate) fn start(
        ctx: &BuildCtx,
        spool: Spool,
        interval_s: f64,
        encode: EncodeFn,
    ) -> StatusReporter {
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_string();
        let shared = Arc::new(Shared {
            device: ctx.device_id.to_string(),
            pipeline: ctx.pipeline.to_string(),
            interval_s: interval_s.max(0.0),
            run,
            sent: AtomicU64::new(0),
            streams: Mutex::new(BTreeMap::new()),
            spool,
        });
        let stop = Arc::new(AtomicBool::new(false));
        append(&shared, &*encode, DeviceState::Starting);
        let timer = (interval_s.is_finite() && interval_s > 0.0).then(|| {
            let (shared, stop, encode) = (shared.clone(), stop.clone(), encode.clone());
            std::thread::Builder::new()
                .name("ef-dev-status".into())
                .spawn(move || {
                    let every = Duration::from_secs_f64(shared.interval_s);
                    let mut next = std::time::Instant::now() + every;
                    while !stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                        if std::time::Instant::now() >= next {
                            append(&shared, &*encode, DeviceState::Running);
                            next += every;
                        }
                    }
                })
                .ok()
        });
        StatusReporter {
            shared,
            encode,
            stop,
            timer: timer.flatten(),
            stopped: false,
        }
    }

    /// Note what `events` say about their streams.
    pub(crate) fn observe(&self, events: &[Event]) {
        let Ok(mut streams) = self.shared.streams.lock() else {
            return;
        };
        for e in events {
            if e.stream_id.is_empty() {
                continue;
            }
            match &e.body {
                Body::StreamStatus(s) => {
                    streams.insert(e.stream_id.clone(), s.state);
                }
                Body::DeviceStatus(_) => {}
                _ => {
                    streams
                        .entry(e.stream_id.clone())
                        .or_insert(StreamState::Live);
                }
            }
        }
    }

    /// Stop the timer and append the last status (`stopping`).
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
        if !self.stopped {
            self.stopped = true;
            append(&self.shared, &*self.encode, DeviceState::Stopping);
        }
    }
}

impl Drop for StatusReporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.timer.take() {
            let _ = t.join();
        }
    }
}

fn append(shared: &Shared, encode: &dyn Fn(&Event, &mut Vec<u8>), state: DeviceState) {
    let event = shared.event(state);
    let mut record = Vec::with_capacity(256);
    encode(&event, &mut record);
    if let Err(e) = shared.spool.append(&record) {
        tracing::warn!(error = %e, "could not spool the device status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::spool::SpoolOptions;

    fn statuses(spool: &Spool) -> Vec<Event> {
        spool
            .pending(0, 100, Duration::from_millis(10))
            .into_iter()
            .map(|(_, r)| serde_json::from_slice(&r).unwrap())
            .collect()
    }

    #[test]
    fn start_periodic_and_stop_statuses_with_the_streams_seen() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(SpoolOptions::new(dir.path())).unwrap();
        let encode: EncodeFn = Arc::new(|e: &Event, out: &mut Vec<u8>| e.write_json(out));
        let mut r = StatusReporter::start(&BuildCtx::for_stage("out"), spool.clone(), 0.1, encode);
        let frame = statuses(&spool)[0].clone();
        r.observe(&[Event {
            stream_id: "cam".into(),
            body: Body::Occupancy(edgeflow_events::Occupancy {
                occupancy: Default::default(),
            }),
            ..frame
        }]);
        std::thread::sleep(Duration::from_millis(400));
        r.stop();
        r.stop();
        let all = statuses(&spool);
        let states: Vec<DeviceState> = all
            .iter()
            .map(|e| match &e.body {
                Body::DeviceStatus(s) => s.state,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(states.first(), Some(&DeviceState::Starting));
        assert_eq!(states.last(), Some(&DeviceState::Stopping));
        assert_eq!(
            states
                .iter()
                .filter(|s| **s == DeviceState::Stopping)
                .count(),
            1
        );
        assert!(
            states
                .iter()
                .filter(|s| **s == DeviceState::Running)
                .count()
                >= 2,
            "{states:?}"
        );
        let ids: std::collections::BTreeSet<&str> =
            all.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "every status has its own id");
        let Body::DeviceStatus(last) = &all.last().unwrap().body else {
            unreachable!()
        };
        assert_eq!(last.streams.get("cam"), Some(&StreamState::Live));
        assert_eq!(last.interval_s, 0.0);
        assert_eq!(last.version, env!("CARGO_PKG_VERSION"));
    }
}
