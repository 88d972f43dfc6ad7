//! A stage's state as the runtime keeps it: atomics the worker updates on every item, and a
//! small locked part it refreshes at most a few times a second (and on `get_state`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use prometheus::IntCounter;

use super::Report;

/// Where a stage is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Being built (at start, or rebuilt in place after a command).
    Building,
    /// Running: taking items, or waiting for them.
    Running,
    /// Running, but inside one `next`/`process`/`consume` call for longer than the pipeline's
    /// `stall_after` (a hung device, a blocked network call).
    Stalled {
        /// How long the current call has taken so far.
        busy_for: Duration,
    },
    /// Stopped by a fatal error.
    Failed {
        /// The error, as text.
        cause: String,
    },
    /// Ended: end of stream, a stop request, or the pipeline stopping after a failure
    /// elsewhere.
    Finished,
}

impl Lifecycle {
    /// Lower-case name: `building`, `running`, `stalled`, `failed`, `finished`.
    pub fn name(&self) -> &'static str {
        match self {
            Lifecycle::Building => "building",
            Lifecycle::Running => "running",
            Lifecycle::Stalled { .. } => "stalled",
            Lifecycle::Failed { .. } => "failed",
            Lifecycle::Finished => "finished",
        }
    }
}

/// The last command a stage handled, and how it went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// `reconfigure` or `rebuild`.
    pub command: &'static str,
    /// Whether the change took effect.
    pub ok: bool,
    /// One line: what changed and how, or why nothing did.
    pub summary: String,
    /// When it was handled.
    pub at: SystemTime,
}

/// One stage's state at one moment.
#[derive(Clone, Debug)]
pub struct StageState {
    /// Stage id.
    pub id: String,
    /// Where it is in its life.
    pub lifecycle: Lifecycle,
    /// Items taken in (sources: 0).
    pub items_in: u64,
    /// Items put out (sinks: 0).
    pub items_out: u64,
    /// When it last took (or, for a source, produced) an item.
    pub last_item: Option<SystemTime>,
    /// Per stream, the `seq` of the last item it took (sources: produced).
    pub last_seq: BTreeMap<String, u64>,
    /// 0 for the config it was loaded with; one more for each change that took effect.
    pub config_generation: u64,
    /// The last `reconfigure` or `rebuild`, if any.
    pub last_command: Option<CommandRecord>,
    /// What the stage reports about itself.
    pub report: Report,
}

const BUILDING: u8 = 0;
const RUNNING: u8 = 1;
const FAILED: u8 = 2;
const FINISHED: u8 = 3;

#[derive(Default)]
struct Slow {
    cause: Option<String>,
    report: Report,
    last_seq: BTreeMap<String, u64>,
    generation: u64,
    last_command: Option<CommandRecord>,
}

/// The part of a stage's state shared between its worker and its handles.
pub(crate) struct Shared {
    id: Arc<str>,
    epoch: Instant,
    epoch_wall: SystemTime,
    stall_after: Duration,
    lifecycle: AtomicU8,
    /// Microseconds since `epoch` + 1 when the current stage call began; 0 when none runs.
    busy_since: AtomicU64,
    /// Microseconds since `epoch` + 1 of the last item; 0 before the first.
    last_item: AtomicU64,
    items_in: IntCounter,
    items_out: IntCounter,
    slow: Mutex<Slow>,
}

impl Shared {
    pub(crate) fn new(
        id: Arc<str>,
        stall_after: Duration,
        items_in: IntCounter,
        items_out: IntCounter,
    ) -> Self {
        Shared {
            id,
            epoch: Instant::now(),
            epoch_wall: SystemTime::now(),
            stall_after,
            lifecycle: AtomicU8::new(BUILDING),
            busy_since: AtomicU64::new(0),
            last_item: AtomicU64::new(0),
            items_in,
            items_out,
            slow: Mutex::new(Slow::default()),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64 + 1
    }

    fn slow(&self) -> std::sync::MutexGuard<'_, Slow> {
        self.slow.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A stage call begins at `at`.
    pub(crate) fn busy(&self, at: Instant) {
        self.busy_since.store(self.micros(at), Ordering::Relaxed);
    }

    /// The stage call that began at `started` has returned; `item` when it handled an item.
    pub(crate) fn idle(&self, started: Instant, item: bool) {
        self.busy_since.store(0, Ordering::Relaxed);
        if item {
            self.last_item
                .store(self.micros(started), Ordering::Relaxed);
        }
    }

    pub(crate) fn running(&self) {
        self.set(RUNNING);
    }

    pub(crate) fn building(&self) {
        self.set(BUILDING);
    }

    fn set(&self, v: u8) {
        // A failure is final: a later `running`/`finished` does not hide it.
        let _ = self
            .lifecycle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| {
                (old != FAILED).then_some(v)
            });
    }

    pub(crate) fn failed(&self, cause: String) {
        self.slow().cause.get_or_insert(cause);
        self.lifecycle.store(FAILED, Ordering::SeqCst);
    }

    pub(crate) fn finished(&self) {
        self.set(FINISHED);
    }

    pub(crate) fn failure(&self) -> Option<String> {
        self.slow().cause.clone()
    }

    /// Store what the worker knows that the atomics do not hold.
    pub(crate) fn refresh(&self, report: Report, last_seq: BTreeMap<String, u64>) {
        let mut s = self.slow();
        s.report = report;
        s.last_seq = last_seq;
    }

    pub(crate) fn generation(&self) -> u64 {
        self.slow().generation
    }

    /// Record a handled command; `bump` when it changed the running config.
    pub(crate) fn record(&self, record: CommandRecord, bump: bool) -> u64 {
        let mut s = self.slow();
        if bump {
            s.generation += 1;
        }
        s.last_command = Some(record);
        s.generation
    }

    /// The state now.
    pub(crate) fn state(&self) -> StageState {
        let now = Instant::now();
        let lifecycle = match self.lifecycle.load(Ordering::SeqCst) {
            BUILDING => Lifecycle::Building,
            FAILED => Lifecycle::Failed {
                cause: self.failure().unwrap_or_default(),
            },
            FINISHED => Lifecycle::Finished,
            _ => match self.busy_since.load(Ordering::Relaxed) {
                0 => Lifecycle::Running,
                since => {
                    let busy_for = Duration::from_micros(self.micros(now).saturating_sub(since));
                    if busy_for >= self.stall_after {
                        Lifecycle::Stalled { busy_for }
                    } else {
                        Lifecycle::Running
                    }
                }
            },
        };
        let last_item = match self.last_item.load(Ordering::Relaxed) {
            0 => None,
            us => Some(self.epoch_wall + Duration::from_micros(us - 1)),
        };
        let s = self.slow();
        StageState {
            id: self.id.to_string(),
            lifecycle,
            items_in: self.items_in.get(),
            items_out: self.items_out.get(),
            last_item,
            last_seq: s.last_seq.clone(),
            config_generation: s.generation,
            last_command: s.last_command.clone(),
            report: s.report.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(stall_after: Duration) -> Shared {
        let c = || IntCounter::new("c", "c").unwrap();
        Shared::new("s".into(), stall_after, c(), c())
    }

    #[test]
    fn lifecycle_moves_and_a_failure_stays() {
        let s = shared(Duration::from_secs(10));
        assert_eq!(s.state().lifecycle, Lifecycle::Building);
        s.running();
        assert_eq!(s.state().lifecycle, Lifecycle::Running);
        s.failed("device lost".into());
        s.finished();
        assert_eq!(
            s.state().lifecycle,
            Lifecycle::Failed {
                cause: "device lost".into()
            }
        );
    }

    #[test]
    fn a_call_longer_than_stall_after_is_stalled() {
        let s = shared(Duration::from_millis(20));
        s.running();
        let t = Instant::now();
        s.busy(t);
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(s.state().lifecycle, Lifecycle::Stalled { busy_for } if busy_for >= Duration::from_millis(20))
        );
        s.idle(t, true);
        let st = s.state();
        assert_eq!(st.lifecycle, Lifecycle::Running);
        assert!(st.last_item.is_some());
    }
}
