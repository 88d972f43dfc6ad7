//! The runtime: one OS thread per stage, a bounded `flume` queue in front of every stage with
//! inputs, and an ordered shutdown.
//!
//! * Fan-out clones the message for each downstream queue; frames share their pixel buffer, so
//!   no pixels are copied.
//! * Fan-in: every upstream stage sends into the one input queue of the reader; drops are still
//!   counted per edge (`from` → `to`).
//! * `block` edges make the sender wait; `drop_oldest` edges pop the oldest queued item, count
//!   it, and push the new one.
//! * End of stream: a source returns `None`, calls `finish`, and drops its senders; each reader
//!   drains its queue, sees the disconnect, calls `finish` and drops its own senders, down to
//!   the sinks, which flush in `finish`. A stop request (Ctrl-C) makes the sources end early and
//!   the same drain follows.
//! * A `Transient` error is counted, logged at most once a second per stage, and the item is
//!   skipped. A `Fatal` error records the failing stage, stops the sources, and the failing
//!   stage keeps draining (and discarding) its queue so nothing upstream blocks forever.
//! * Control: every stage has a [`StageHandle`] ([`Pipeline::stage`], [`RunHandle::stage`]);
//!   its thread waits on data and commands together (see [`crate::control`]).

mod commands;
mod edge;
mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flume::{Receiver, Sender};

use crate::config::{PipelineSpec, QueuePolicy, QueueSpec, StageSchema};
use crate::control::{Command, Shared, StageHandle, StageState};
use crate::message::Message;
use crate::metrics::{MetricsError, MetricsSnapshot, PipelineMetrics};
use crate::registry::{BuiltStage, Role};
use crate::services::Services;
use crate::stage::{BuildCtx, BuildError, BuildPurpose, Notes, StageError, StopSignal};
use edge::{EdgeSender, RateLimitedLog};
use worker::{Control, Worker};

/// A stage inside one call for this long is reported [`crate::Lifecycle::Stalled`], unless
/// [`RunOptions::stall_after`] says otherwise.
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(10);

/// Options for one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Stop each source after this many items (`--frames N`).
    pub max_frames: Option<u64>,
    /// Typed values offered to every stage's `build` (see [`Services`]).
    pub services: Services,
    /// How long one stage call may take before the stage is reported stalled (default
    /// [`DEFAULT_STALL_AFTER`]).
    pub stall_after: Option<Duration>,
}

/// The stage that stopped the pipeline, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stage `{stage}` failed: {cause}")]
pub struct StageFailure {
    /// Stage id.
    pub stage: String,
    /// The fatal error, as text.
    pub cause: String,
}

/// Why a pipeline could not be built or started.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A stage's `build` failed (a file missing, a device busy).
    #[error("cannot build stage `{stage}`: {error}")]
    Build {
        /// Stage id.
        stage: String,
        /// The stage's error.
        #[source]
        error: BuildError,
    },
    /// `subscribe` named a stage the pipeline does not have, or one with no output.
    #[error("cannot subscribe to `{0}`: no stage with that id produces output")]
    NoSuchOutput(String),
    /// `stage` named a stage the pipeline does not have.
    #[error("no stage `{id}` in this pipeline (stages: {known})")]
    NoSuchStage {
        /// The id asked for.
        id: String,
        /// The ids there are, comma-separated.
        known: String,
    },
    /// A thread could not be started.
    #[error("cannot start a thread for stage `{stage}`: {source}")]
    Spawn {
        /// Stage id.
        stage: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The metrics registry refused a metric.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

struct Node {
    id: Arc<str>,
    role: Role,
    inputs: Vec<usize>,
    queue: QueueSpec,
    stage: BuiltStage,
    handle: StageHandle,
    commands: Receiver<Command>,
    schema: StageSchema,
    config: toml::Table,
    ctx: BuildCtx,
}

/// A subscriber's edge: stage index, subscriber name, its queue, and the reader end for
/// `drop_oldest`.
struct Tap {
    from: usize,
    name: String,
    tx: Sender<Message>,
    oldest: Option<Receiver<Message>>,
}

/// A built pipeline, not yet running. Subscribe to stage outputs here, then [`Pipeline::start`].
pub struct Pipeline {
    name: String,
    nodes: Vec<Node>,
    taps: Vec<Tap>,
    expected_len: Option<u64>,
    options: RunOptions,
    metrics: Arc<PipelineMetrics>,
    stop: StopSignal,
    notes: Notes,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Build every stage of a checked pipeline (opens files, models, devices).
    pub fn build(mut spec: PipelineSpec, options: RunOptions) -> Result<Pipeline, RuntimeError> {
        let metrics = Arc::new(PipelineMetrics::new(&spec.name)?);
        let stop = StopSignal::new();
        let notes = Notes::default();
        let stall_after = options.stall_after.unwrap_or(DEFAULT_STALL_AFTER);
        let ids: Vec<String> = spec.stages.iter().map(|s| s.id.clone()).collect();
        let mut expected: Option<u64> = Some(0);
        let mut nodes = Vec::with_capacity(spec.stages.len());
        for st in std::mem::take(&mut spec.stages) {
            if st.role == Role::Source {
                let len = match (st.configured.expected_len(), options.max_frames) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                expected = expected.zip(len).map(|(a, b)| a + b);
            }
            let ctx = build_ctx(
                &spec,
                &st.id,
                &stop,
                BuildPurpose::Run,
                &notes,
                &options.services,
            );
            let m = metrics.stage(&st.id);
            let shared = Arc::new(Shared::new(
                st.id.as_str().into(),
                stall_after,
                m.items_in,
                m.items_out,
            ));
            let (tx, commands) = flume::unbounded();
            let stage = st
                .configured
                .build(&ctx)
                .map_err(|error| RuntimeError::Build {
                    stage: st.id.clone(),
                    error,
                })?;
            // Checked specs only name existing stages; unknown names are skipped defensively.
            let inputs = st
                .inputs
                .iter()
                .filter_map(|i| ids.iter().position(|x| x == i))
                .collect();
            nodes.push(Node {
                id: st.id.as_str().into(),
                role: st.role,
                inputs,
                queue: st.queue,
                stage,
                handle: StageHandle {
                    shared,
                    commands: tx,
                },
                commands,
                schema: st.schema,
                config: st.config,
                ctx,
            });
        }
        Ok(Pipeline {
            name: spec.name,
            nodes,
            taps: Vec::new(),
            expected_len: expected.filter(|n| *n > 0),
            options,
            metrics,
            stop,
            notes,
        })
    }

    /// What the stages said about their build, as (stage, text): the backend and model
    /// variant `auto` chose and why, the decoder picked, a provider that fell back.
    pub fn notes(&self) -> Vec<(String, String)> {
        self.notes.all()
    }

    /// Receive a copy of everything stage `stage_id` produces, through a queue of `capacity`
    /// with `policy` (`block` makes the pipeline wait for the reader; `drop_oldest` never does,
    /// and counts drops on the edge `stage_id` → `subscriber`). The channel closes when the
    /// stage has finished.
    pub fn subscribe(
        &mut self,
        stage_id: &str,
        capacity: usize,
        policy: QueuePolicy,
    ) -> Result<Receiver<Message>, RuntimeError> {
        let name = format!("subscriber-{}", self.taps.len() + 1);
        self.subscribe_as(stage_id, &name, capacity, policy)
    }

    /// [`Pipeline::subscribe`] with the subscriber's name, which its edge's drops are counted
    /// under (`edgeflow_edge_dropped_total{from, to = name}`).
    pub fn subscribe_as(
        &mut self,
        stage_id: &str,
        name: &str,
        capacity: usize,
        policy: QueuePolicy,
    ) -> Result<Receiver<Message>, RuntimeError> {
        let idx = self
            .nodes
            .iter()
            .position(|n| &*n.id == stage_id && n.role != Role::Sink)
            .ok_or_else(|| RuntimeError::NoSuchOutput(stage_id.to_string()))?;
        let (tx, rx) = flume::bounded(capacity.max(1));
        let keep = (policy == QueuePolicy::DropOldest).then(|| rx.clone());
        self.taps.push(Tap {
            from: idx,
            name: name.to_string(),
            tx,
            oldest: keep,
        });
        Ok(rx)
    }

    /// The metrics this run records into.
    pub fn metrics(&self) -> Arc<PipelineMetrics> {
        self.metrics.clone()
    }

    /// The handle of stage `id`. Commands sent before [`Pipeline::start`] wait for the
    /// stage's thread.
    pub fn stage(&self, id: &str) -> Result<StageHandle, RuntimeError> {
        find_stage(self.nodes.iter().map(|n| &n.handle), id)
    }

    /// Fires to stop the run early (as Ctrl-C does).
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// Items all sources together will produce, when every source knows.
    pub fn expected_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Start one thread per stage.
    pub fn start(self) -> Result<RunHandle, RuntimeError> {
        let Pipeline {
            nodes,
            taps,
            options,
            metrics,
            stop,
            ..
        } = self;
        let failure: Arc<Mutex<Option<StageFailure>>> = Arc::new(Mutex::new(None));

        // One input queue per stage that has inputs.
        let queues: Vec<Option<(Sender<Message>, Receiver<Message>)>> = nodes
            .iter()
            .map(|n| (!n.inputs.is_empty()).then(|| flume::bounded(n.queue.capacity.max(1))))
            .collect();
        // Output edges of each stage.
        let mut outputs: Vec<Vec<EdgeSender>> = nodes.iter().map(|_| Vec::new()).collect();
        for (to, n) in nodes.iter().enumerate() {
            let Some((tx, rx)) = &queues[to] else {
                continue;
            };
            for &from in &n.inputs {
                outputs[from].push(EdgeSender {
                    tx: tx.clone(),
                    oldest: (n.queue.policy == QueuePolicy::DropOldest).then(|| rx.clone()),
                    dropped: metrics.edge(&nodes[from].id, &n.id),
                });
            }
        }
        for tap in taps {
            outputs[tap.from].push(EdgeSender {
                tx: tap.tx,
                oldest: tap.oldest,
                dropped: metrics.edge(&nodes[tap.from].id, &tap.name),
            });
        }
        let receivers: Vec<Option<Receiver<Message>>> =
            queues.into_iter().map(|q| q.map(|(_, rx)| rx)).collect();

        let mut threads = Vec::with_capacity(nodes.len());
        let handles: Vec<StageHandle> = nodes.iter().map(|n| n.handle.clone()).collect();
        for ((node, outs), rx) in nodes.into_iter().zip(outputs).zip(receivers) {
            let worker = Worker {
                id: node.id.clone(),
                outputs: outs,
                metrics: metrics.stage(&node.id),
                pipeline: metrics.clone(),
                stop: stop.clone(),
                failure: failure.clone(),
                log: RateLimitedLog::default(),
                ctl: Control {
                    commands: node.commands,
                    _keep: node.handle.commands.clone(),
                    shared: node.handle.shared.clone(),
                    schema: node.schema,
                    config: node.config,
                    ctx: node.ctx,
                    last: HashMap::new(),
                    last_refresh: Instant::now(),
                    dirty: false,
                    metrics: metrics.clone(),
                },
                failed: false,
                retired: false,
                renumber: None,
            };
            let max = options.max_frames;
            let thread_name: String = format!("ef-{}", node.id).chars().take(15).collect();
            let handle = std::thread::Builder::new()
                .name(thread_name)
                .spawn(move || match (node.stage, rx) {
                    (s @ BuiltStage::Source(_), _) => worker.run_source(s, max),
                    (t @ BuiltStage::Transform(_), Some(rx)) => worker.run_transform(t, rx),
                    (k @ BuiltStage::Sink(_), Some(rx)) => worker.run_sink(k, rx),
                    // A checked spec gives every transform and sink inputs.
                    (_, None) => {
                        let mut worker = worker;
                        worker.fail(StageError::fatal("stage has no input queue"));
                    }
                })
                .map_err(|source| RuntimeError::Spawn {
                    stage: node.id.to_string(),
                    source,
                })?;
            threads.push(handle);
        }
        tracing::info!(stages = threads.len(), "pipeline started");
        Ok(RunHandle {
            threads,
            handles,
            metrics,
            stop,
            failure,
        })
    }

    /// Start, and wait until the run ends.
    pub fn run(self) -> Result<RunReport, RuntimeError> {
        Ok(self.start()?.wait())
    }
}

/// A running pipeline.
pub struct RunHandle {
    threads: Vec<JoinHandle<()>>,
    handles: Vec<StageHandle>,
    metrics: Arc<PipelineMetrics>,
    stop: StopSignal,
    failure: Arc<Mutex<Option<StageFailure>>>,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The metrics at the end.
    pub metrics: MetricsSnapshot,
    /// The stage that failed, if one did.
    pub failure: Option<StageFailure>,
    /// Whether the run was stopped on request (Ctrl-C) rather than reaching end of stream.
    pub stopped: bool,
}

impl RunHandle {
    /// Ask the pipeline to stop: sources end, queues drain, sinks flush.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// The signal [`RunHandle::stop`] fires (for signal handlers).
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    /// The live metrics.
    pub fn metrics(&self) -> Arc<PipelineMetrics> {
        self.metrics.clone()
    }

    /// The handle of stage `id`: its state, and commands to it (see [`crate::control`]).
    pub fn stage(&self, id: &str) -> Result<StageHandle, RuntimeError> {
        find_stage(self.handles.iter(), id)
    }

    /// Every stage's handle, in file order.
    pub fn stages(&self) -> &[StageHandle] {
        &self.handles
    }

    /// Every stage's state now, in file order (without waiting for any stage).
    pub fn states(&self) -> Vec<StageState> {
        self.handles.iter().map(StageHandle::state).collect()
    }

    /// Whether every stage thread has ended.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(JoinHandle::is_finished)
    }

    /// Wait for every stage to finish.
    pub fn wait(self) -> RunReport {
        let stopped = self.stop.is_stopped();
        for t in self.threads {
            // Stage code runs under `catch_unwind`; a panic here would be the runtime's own.
            if t.join().is_err() {
                tracing::error!("a stage thread panicked outside stage code");
            }
        }
        self.metrics.mark_finished();
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        RunReport {
            metrics: self.metrics.snapshot(),
            stopped: stopped && failure.is_none(),
            failure,
        }
    }
}

fn find_stage<'a>(
    mut handles: impl Iterator<Item = &'a StageHandle> + Clone,
    id: &str,
) -> Result<StageHandle, RuntimeError> {
    handles
        .clone()
        .find(|h| h.id() == id)
        .cloned()
        .ok_or_else(|| RuntimeError::NoSuchStage {
            id: id.to_string(),
            known: handles
                .by_ref()
                .map(|h| format!("`{}`", h.id()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What stage `id` of `spec` is told when it is built.
fn build_ctx(
    spec: &PipelineSpec,
    id: &str,
    stop: &StopSignal,
    purpose: BuildPurpose,
    notes: &Notes,
    services: &Services,
) -> BuildCtx {
    BuildCtx {
        stage_id: id.into(),
        pipeline: spec.name.as_str().into(),
        device_id: spec.device_id.as_str().into(),
        base_dir: spec.base_dir.clone(),
        stop: stop.clone(),
        purpose,
        notes: notes.clone(),
        services: services.clone(),
        rebuilt: false,
    }
}

/// What `validate --deep` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every stage that failed to build, not just the first.
    pub failures: Vec<RuntimeError>,
    /// What the stages reported (stage id, text): decoders chosen, servers reached.
    pub notes: Vec<(String, String)>,
}

/// Build every stage of a checked pipeline for checking (`BuildPurpose::Check`) and close it
/// again (`validate --deep`).
pub fn check_build(spec: PipelineSpec) -> CheckReport {
    check_build_with(spec, &Services::default())
}

/// [`check_build`] with the services a run would offer.
pub fn check_build_with(mut spec: PipelineSpec, services: &Services) -> CheckReport {
    let stop = StopSignal::new();
    let notes = Notes::default();
    let mut failures = Vec::new();
    for st in std::mem::take(&mut spec.stages) {
        let ctx = build_ctx(&spec, &st.id, &stop, BuildPurpose::Check, &notes, services);
        if let Err(error) = st.configured.build(&ctx) {
            failures.push(RuntimeError::Build {
                stage: st.id,
                error,
            });
        }
    }
    CheckReport {
        failures,
        notes: notes.all(),
    }
}
