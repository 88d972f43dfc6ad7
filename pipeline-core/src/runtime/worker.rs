//! One stage's thread: its loop over items and commands, errors, and the state it shares with
//! its handles.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flume::{Receiver, Sender, TryRecvError};

use super::StageFailure;
use super::edge::{EdgeSender, RateLimitedLog};
use crate::config::StageSchema;
use crate::control::{Command, Report, Shared};
use crate::message::{Message, Meta};
use crate::metrics::{PipelineMetrics, StageMetrics};
use crate::registry::{BuiltStage, DynControl};
use crate::stage::{BuildCtx, SourceEvent, StageError, StopSignal};

/// How often a busy stage's report and `last_seq` are copied to its handles.
const REFRESH_EVERY: Duration = Duration::from_millis(250);

/// What a stage's thread keeps to answer commands.
pub(super) struct Control {
    pub(super) commands: Receiver<Command>,
    /// Kept so the command channel never looks closed to the worker's own wait.
    pub(super) _keep: Sender<Command>,
    pub(super) shared: Arc<Shared>,
    pub(super) schema: StageSchema,
    /// The running config (what the next fragment merges over).
    pub(super) config: toml::Table,
    /// What the stage was built with; a rebuild gets the same.
    pub(super) ctx: BuildCtx,
    /// Per stream, the `seq` and `pts_ns` of the last item taken (sources: produced).
    pub(super) last: HashMap<Arc<str>, (u64, u64)>,
    pub(super) last_refresh: Instant,
    /// Something changed since the handles last saw the state.
    pub(super) dirty: bool,
    /// Where the report's numbers go as metrics.
    pub(super) metrics: Arc<PipelineMetrics>,
}

impl Control {
    /// An item of `meta` was taken (or produced).
    fn seen(&mut self, meta: &Meta) {
        self.dirty = true;
        match self.last.get_mut(&meta.stream_id) {
            Some(s) => *s = (meta.seq, meta.pts_ns),
            None => {
                self.last
                    .insert(meta.stream_id.clone(), (meta.seq, meta.pts_ns));
            }
        }
    }

    pub(super) fn last_seq(&self) -> BTreeMap<String, u64> {
        self.last
            .iter()
            .map(|(k, (seq, _))| (k.to_string(), *seq))
            .collect()
    }

    /// Copy the stage's report and `last_seq` to its handles.
    pub(super) fn refresh(&mut self, stage: &BuiltStage) {
        let mut report = Report::new();
        stage.control().report(&mut report);
        self.metrics.report(&self.ctx.stage_id, &report);
        self.shared.refresh(report, self.last_seq());
        self.last_refresh = Instant::now();
        self.dirty = false;
    }

    /// While busy: at most every [`REFRESH_EVERY`].
    fn maybe_refresh(&mut self, stage: &BuiltStage) {
        if self.dirty && self.last_refresh.elapsed() >= REFRESH_EVERY {
            self.refresh(stage);
        }
    }

    /// Before waiting: whatever changed since the last refresh.
    fn refresh_if_dirty(&mut self, stage: &BuiltStage) {
        if self.dirty {
            self.refresh(stage);
        }
    }
}

/// After a source was rebuilt in place its streams go on where they were: `seq` continues
/// from the last one sent and `pts_ns` never goes back (a new source starts at 0).
#[derive(Default)]
pub(super) struct Renumber {
    /// Per stream, the last `seq` and `pts_ns` sent before the rebuild.
    before: HashMap<Arc<str>, (u64, u64)>,
    /// Per stream, what is added to the new source's `seq` and `pts_ns`.
    offsets: HashMap<Arc<str>, (u64, u64)>,
}

impl Renumber {
    pub(super) fn after(last: &HashMap<Arc<str>, (u64, u64)>) -> Self {
        Renumber {
            before: last.clone(),
            offsets: HashMap::new(),
        }
    }

    pub(super) fn apply(&mut self, meta: &mut Meta) {
        let (seq_off, pts_off) = match self.offsets.get(&meta.stream_id) {
            Some(&off) => off,
            None => {
                let off = match self.before.get(&meta.stream_id) {
                    Some(&(seq, pts)) => (
                        (seq + 1).saturating_sub(meta.seq),
                        (pts + 1).saturating_sub(meta.pts_ns),
                    ),
                    None => (0, 0),
                };
                self.offsets.insert(meta.stream_id.clone(), off);
                off
            }
        };
        meta.seq += seq_off;
        meta.pts_ns += pts_off;
    }
}

/// What a transform or sink waits for.
enum Input {
    Data(Message),
    Command(Command),
    Closed,
    /// The time the stage named for what it holds has come.
    Due,
}

pub(super) struct Worker {
    pub(super) id: Arc<str>,
    pub(super) outputs: Vec<EdgeSender>,
    pub(super) metrics: StageMetrics,
    pub(super) pipeline: Arc<PipelineMetrics>,
    pub(super) stop: StopSignal,
    pub(super) failure: Arc<Mutex<Option<StageFailure>>>,
    pub(super) log: RateLimitedLog,
    pub(super) ctl: Control,
    /// A fatal error happened: the stage drains its queue and takes no more changes.
    pub(super) failed: bool,
    /// The stage in place was finished and could not be replaced: never call it again.
    pub(super) retired: bool,
    /// Set once a source has been rebuilt in place.
    pub(super) renumber: Option<Renumber>,
}

impl Worker {
    pub(super) fn emit(&self, msg: Message) {
        self.metrics.items_out.inc();
        self.forward(msg);
    }

    /// Send to every reader without counting it as an output (status reports).
    fn forward(&self, msg: Message) {
        let Some((last, rest)) = self.outputs.split_last() else {
            return;
        };
        for out in rest {
            out.send(msg.clone());
        }
        last.send(msg);
    }

    /// Handle a stage error; `true` when it was fatal.
    pub(super) fn handle(&mut self, err: StageError) -> bool {
        if err.is_fatal() {
            self.fail(err);
            true
        } else {
            self.metrics.transient_errors.inc();
            self.log.transient(&self.id, &err, Instant::now());
            false
        }
    }

    pub(super) fn fail(&mut self, err: StageError) {
        self.metrics.fatal_errors.inc();
        tracing::error!(
            stage = &*self.id,
            "fatal error, stopping the pipeline: {err}"
        );
        self.failed = true;
        self.ctl.shared.failed(err.to_string());
        let mut f = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
        if f.is_none() {
            *f = Some(StageFailure {
                stage: self.id.to_string(),
                cause: err.to_string(),
            });
        }
        self.stop.stop();
    }

    /// Answer every command that is waiting.
    fn pending_commands(&mut self, stage: &mut BuiltStage, out: &mut Vec<Message>) {
        while let Ok(cmd) = self.ctl.commands.try_recv() {
            self.command(cmd, stage, out);
        }
    }

    /// The next input or command: commands first, then data; when neither is there, wait
    /// for whichever comes first, or until `due` (what the stage holds must go out).
    fn next_input(
        &mut self,
        rx: &Receiver<Message>,
        stage: &BuiltStage,
        due: Option<Instant>,
    ) -> Input {
        if let Ok(cmd) = self.ctl.commands.try_recv() {
            return Input::Command(cmd);
        }
        match rx.try_recv() {
            Ok(m) => return Input::Data(m),
            Err(TryRecvError::Disconnected) => return Input::Closed,
            Err(TryRecvError::Empty) => {}
        }
        // Idle: a good moment for the handles to see the latest state.
        self.ctl.refresh_if_dirty(stage);
        loop {
            let select = flume::Selector::new()
                .recv(rx, |r| Some(r.map_or(Input::Closed, Input::Data)))
                .recv(&self.ctl.commands, |r| r.ok().map(Input::Command));
            let got = match due {
                Some(at) => match select.wait_deadline(at) {
                    Ok(got) => got,
                    Err(_) => return Input::Due,
                },
                None => select.wait(),
            };
            if let Some(input) = got {
                return input;
            }
        }
    }

    /// The next item for a transform or sink, answering commands on the way; a failed stage's
    /// items are drained and dropped so upstream never blocks on it. A transform that holds
    /// items (a partial batch) is flushed when the time it named passes without input.
    /// `None`: input closed.
    fn next_item(
        &mut self,
        rx: &Receiver<Message>,
        stage: &mut BuiltStage,
        out: &mut Vec<Message>,
    ) -> Option<Message> {
        loop {
            let due = match &stage {
                BuiltStage::Transform(t) if !self.failed => t.held_until(),
                _ => None,
            };
            match self.next_input(rx, stage, due) {
                Input::Data(m) => {
                    self.metrics.queue_depth.set(rx.len() as i64);
                    self.metrics.observe_wait(m.meta().queued_at.elapsed());
                    if !self.failed {
                        return Some(m);
                    }
                }
                Input::Command(cmd) => self.command(cmd, stage, out),
                Input::Closed => return None,
                Input::Due => self.flush_held(stage, out),
            }
        }
    }

    /// Run a transform's `flush`: what it held is due.
    fn flush_held(&mut self, stage: &mut BuiltStage, out: &mut Vec<Message>) {
        let BuiltStage::Transform(t) = stage else {
            return;
        };
        let start = Instant::now();
        self.ctl.shared.busy(start);
        let r = t.flush_held(out);
        self.ctl.shared.idle(start, false);
        for m in out.drain(..) {
            self.emit(m);
        }
        if let Err(e) = r {
            self.handle(e);
        }
    }

    fn end(&mut self, stage: &BuiltStage) {
        self.log.flush(&self.id);
        self.ctl.refresh(stage);
        self.ctl.shared.finished();
    }

    pub(super) fn run_source(mut self, mut stage: BuiltStage, max: Option<u64>) {
        let mut produced = 0u64;
        let mut out = Vec::new();
        self.ctl.shared.running();
        while !self.stop.is_stopped() && !self.failed && max.is_none_or(|m| produced < m) {
            self.pending_commands(&mut stage, &mut out);
            if self.failed || self.stop.is_stopped() {
                break;
            }
            let BuiltStage::Source(src) = &mut stage else {
                self.fail(StageError::fatal("a source's place holds another role"));
                break;
            };
            let t = Instant::now();
            self.ctl.shared.busy(t);
            let r = src.next();
            match r {
                Ok(SourceEvent::Item(mut msg)) => {
                    if let Some(r) = self.renumber.as_mut() {
                        r.apply(msg.meta_mut());
                    }
                    self.metrics.observe_latency(t.elapsed());
                    self.ctl.shared.idle(t, true);
                    produced += 1;
                    self.pipeline.count_frame();
                    self.ctl.seen(msg.meta());
                    self.emit(msg);
                }
                Ok(SourceEvent::Status(status)) => {
                    self.ctl.shared.idle(t, false);
                    let mut msg = Message::Status(status);
                    if let Some(r) = self.renumber.as_mut() {
                        r.apply(msg.meta_mut());
                    }
                    self.forward(msg);
                }
                Ok(SourceEvent::Idle) => {
                    self.ctl.shared.idle(t, false);
                    self.ctl.refresh_if_dirty(&stage);
                }
                Ok(SourceEvent::End) => {
                    self.ctl.shared.idle(t, false);
                    break;
                }
                Err(e) => {
                    self.ctl.shared.idle(t, false);
                    if self.handle(e) {
                        break;
                    }
                }
            }
            self.ctl.maybe_refresh(&stage);
        }
        if !self.retired
            && let BuiltStage::Source(src) = &mut stage
        {
            if let Some(status) = src.closing() {
                self.forward(status);
            }
            if let Err(e) = src.finish() {
                self.handle(e);
            }
        }
        self.end(&stage);
        tracing::debug!(stage = &*self.id, produced, "source finished");
    }

    pub(super) fn run_transform(mut self, mut stage: BuiltStage, rx: Receiver<Message>) {
        let mut out = Vec::new();
        self.ctl.shared.running();
        while let Some(msg) = self.next_item(&rx, &mut stage, &mut out) {
            if let Message::Status(_) = msg {
                self.forward(msg);
                continue;
            }
            let BuiltStage::Transform(t) = &mut stage else {
                self.fail(StageError::fatal("a transform's place holds another role"));
                continue;
            };
            self.metrics.items_in.inc();
            self.ctl.seen(msg.meta());
            let start = Instant::now();
            self.ctl.shared.busy(start);
            let r = t.process(msg, &mut out);
            self.ctl.shared.idle(start, true);
            self.metrics.observe_latency(start.elapsed());
            for m in out.drain(..) {
                self.emit(m);
            }
            if let Err(e) = r {
                self.handle(e);
            }
            self.ctl.maybe_refresh(&stage);
        }
        if !self.failed
            && !self.retired
            && let BuiltStage::Transform(t) = &mut stage
        {
            let r = t.finish(&mut out);
            for m in out.drain(..) {
                self.emit(m);
            }
            if let Err(e) = r {
                self.handle(e);
            }
        }
        self.metrics.queue_depth.set(0);
        self.end(&stage);
    }

    pub(super) fn run_sink(mut self, mut stage: BuiltStage, rx: Receiver<Message>) {
        let mut out = Vec::new();
        self.ctl.shared.running();
        while let Some(msg) = self.next_item(&rx, &mut stage, &mut out) {
            let BuiltStage::Sink(k) = &mut stage else {
                self.fail(StageError::fatal("a sink's place holds another role"));
                continue;
            };
            if let Message::Status(_) = msg {
                if let Err(e) = k.consume(msg) {
                    self.handle(e);
                }
                continue;
            }
            self.metrics.items_in.inc();
            self.ctl.seen(msg.meta());
            let captured = msg.meta().captured_at;
            let start = Instant::now();
            self.ctl.shared.busy(start);
            let r = k.consume(msg);
            self.ctl.shared.idle(start, true);
            self.metrics.observe_latency(start.elapsed());
            match r {
                Ok(()) => self.pipeline.observe_e2e(&self.id, captured.elapsed()),
                Err(e) => {
                    self.handle(e);
                }
            }
            self.ctl.maybe_refresh(&stage);
        }
        // Flush even after a failure elsewhere: what was accepted must reach its destination.
        if !self.retired
            && let BuiltStage::Sink(k) = &mut stage
            && let Err(e) = k.finish()
        {
            self.handle(e);
        }
        self.metrics.queue_depth.set(0);
        self.end(&stage);
    }
}

impl BuiltStage {
    /// The stage's control side, whatever its role.
    pub(crate) fn control(&self) -> &dyn DynControl {
        match self {
            BuiltStage::Source(s) => &**s,
            BuiltStage::Transform(t) => &**t,
            BuiltStage::Sink(k) => &**k,
        }
    }

    /// The same, to change it.
    pub(crate) fn control_mut(&mut self) -> &mut dyn DynControl {
        match self {
            BuiltStage::Source(s) => &mut **s,
            BuiltStage::Transform(t) => &mut **t,
            BuiltStage::Sink(k) => &mut **k,
        }
    }
}
