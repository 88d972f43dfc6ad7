//! The three stage roles: [`Source`], [`Transform`] and [`Sink`].
//!
//! Stage authors write a typed config (serde, `#[serde(deny_unknown_fields)]`), pick their port
//! types, and implement `build` plus `next`/`process`/`consume`. They never touch threads,
//! channels or metrics: the runtime owns those.

use std::error::Error as StdError;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;

use crate::control::{Changed, Reconfigure, Report};
use crate::message::{Port, PortKind, StreamStatus};
use crate::services::Services;

/// A boxed error from a stage or library it calls.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// An error while a stage runs.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// One bad item (a corrupt frame, a timeout): counted, logged at a limited rate, skipped.
    #[error("{0}")]
    Transient(BoxError),
    /// The stage cannot go on: the pipeline stops its sources, drains, and reports this stage.
    #[error("{0}")]
    Fatal(BoxError),
}

impl StageError {
    /// A transient error from anything printable or any error.
    pub fn transient(e: impl Into<BoxError>) -> Self {
        StageError::Transient(e.into())
    }

    /// A fatal error from anything printable or any error.
    pub fn fatal(e: impl Into<BoxError>) -> Self {
        StageError::Fatal(e.into())
    }

    /// Whether this error stops the pipeline.
    pub fn is_fatal(&self) -> bool {
        matches!(self, StageError::Fatal(_))
    }
}

/// A stage could not be built (a model file missing, a device busy).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    /// What went wrong, for the user.
    pub message: String,
    /// What to do about it, if known.
    pub help: Option<String>,
    /// The config field it is about (`path`, `broker`, `tls.ca_file`), so `validate --deep`
    /// points at its line.
    pub field: Option<String>,
    /// The underlying error.
    #[source]
    pub source: Option<BoxError>,
}

impl BuildError {
    /// A build error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
            help: None,
            field: None,
            source: None,
        }
    }

    /// Name the config field the error is about (`validate --deep` shows its line).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Attach a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Attach the underlying error.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }
}

/// One problem found by a stage's `validate` (no network, no devices): which field, what, and
/// how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The config field at fault (`None`: the stage as a whole).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// The problems found by a stage's `validate`; empty means valid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalid {
    /// Every problem found.
    pub problems: Vec<Problem>,
}

impl Invalid {
    /// No problems yet.
    pub fn new() -> Self {
        Invalid::default()
    }

    /// Record a problem with `field`.
    pub fn field(
        &mut self,
        field: &str,
        message: impl Into<String>,
        help: Option<String>,
    ) -> &mut Self {
        self.problems.push(Problem {
            field: Some(field.to_string()),
            message: message.into(),
            help,
        });
        self
    }

    /// `Ok(())` when no problem was recorded.
    pub fn into_result(self) -> Result<(), Invalid> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if let Some(field) = &p.field {
                write!(f, "`{field}`: ")?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

impl StdError for Invalid {}

/// A config key that now lives in a nested table: a file that still has it gets an error that
/// names the table and the line to write (`intra_threads = 2` → `ort = { intra_threads = 2 }`,
/// `spool_dir = "d"` → `spool = { dir = "d" }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The old top-level key.
    pub key: &'static str,
    /// The table it moved into.
    pub table: &'static str,
    /// Its name inside the table.
    pub to: &'static str,
}

impl Moved {
    /// `key` moved into `table` under the same name.
    pub const fn into(key: &'static str, table: &'static str) -> Moved {
        Moved {
            key,
            table,
            to: key,
        }
    }

    /// `key` moved into `table` as `to`.
    pub const fn renamed(key: &'static str, table: &'static str, to: &'static str) -> Moved {
        Moved { key, table, to }
    }
}

/// Tells long-running sources that the pipeline is stopping (Ctrl-C, a fatal error elsewhere).
#[derive(Clone, Debug, Default)]
pub struct StopSignal(Arc<AtomicBool>);

impl StopSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        StopSignal::default()
    }

    /// Ask the pipeline to stop.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for. Sources that block should check this at least every
    /// few hundred milliseconds.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a stage may know about its surroundings when it is built.
#[derive(Clone, Debug)]
pub struct BuildCtx {
    /// The stage's id in the pipeline file.
    pub stage_id: Arc<str>,
    /// The pipeline's name.
    pub pipeline: Arc<str>,
    /// The device id events are stamped with.
    pub device_id: Arc<str>,
    /// Directory of the pipeline file. Relative paths in configs are relative to the working
    /// directory, like any command-line tool's; this is for stages that want more.
    pub base_dir: PathBuf,
    /// Fires when the pipeline is stopping.
    pub stop: StopSignal,
    /// Whether the stage is built to run, or only to check it can be (`validate --deep`).
    pub purpose: BuildPurpose,
    /// What stages report about their build (the decoder chosen, …).
    pub notes: Notes,
    /// Typed values the embedding program or the CLI offers (see [`Services`]).
    pub services: Services,
    /// The stage is being rebuilt in place while the pipeline runs: carry on where the old
    /// one stopped (append to files rather than starting them again).
    pub rebuilt: bool,
}

/// Why a stage is being built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BuildPurpose {
    /// To run.
    #[default]
    Run,
    /// To check that it can be built (`validate --deep`): probe what a run would meet
    /// (servers, devices), and close again.
    Check,
}

/// Facts stages report while being built, for `validate --deep` and the logs.
#[derive(Clone, Debug, Default)]
pub struct Notes(Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl Notes {
    /// Record `text` about stage `stage` (also logged at info level).
    pub fn add(&self, stage: &str, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(stage, "{text}");
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((stage.to_string(), text));
    }

    /// Everything recorded, as (stage, text).
    pub fn all(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl BuildCtx {
    /// A context for tests and tools: stage `id`, current directory, a fresh stop signal.
    pub fn for_stage(id: &str) -> Self {
        BuildCtx {
            stage_id: id.into(),
            pipeline: "test".into(),
            device_id: "test-device".into(),
            base_dir: PathBuf::from("."),
            stop: StopSignal::new(),
            purpose: BuildPurpose::Run,
            notes: Notes::default(),
            services: Services::default(),
            rebuilt: false,
        }
    }

    /// The service of type `T`, if the program offered one.
    pub fn service<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.services.get::<T>()
    }

    /// The service of type `T`, or a build error saying that this stage needs it (`what` names
    /// it for the user: "the HTTP server's frame inbox").
    pub fn require_service<T: std::any::Any + Send + Sync>(
        &self,
        what: &str,
    ) -> Result<Arc<T>, BuildError> {
        self.service::<T>().ok_or_else(|| {
            BuildError::new(format!(
                "stage `{}` needs {what}, which this program does not offer",
                self.stage_id
            ))
            .with_help(format!(
                "offered: {}; an embedding program adds it with `RunOptions::services.insert(...)`",
                if self.services.names().is_empty() {
                    "nothing".to_string()
                } else {
                    self.services.names().join(", ")
                }
            ))
        })
    }

    /// Record a fact about this stage's build (see [`Notes`]).
    pub fn note(&self, text: impl Into<String>) {
        self.notes.add(&self.stage_id, text);
    }
}

/// What a source's [`Source::next_event`] returns.
#[derive(Debug)]
pub enum SourceEvent<T> {
    /// The next item.
    Item(T),
    /// A stream status report (sent downstream ahead of later items).
    Status(StreamStatus),
    /// Nothing yet (a camera's pull timed out): the runtime handles commands and asks again.
    /// Return this after waiting at most about 100 ms, so commands are never kept waiting
    /// longer than that.
    Idle,
    /// End of stream.
    End,
}

/// Where a transform puts its outputs; the runtime sends them downstream after each call.
#[derive(Debug)]
pub struct Emit<T> {
    items: Vec<T>,
}

impl<T> Default for Emit<T> {
    fn default() -> Self {
        Emit { items: Vec::new() }
    }
}

impl<T> Emit<T> {
    /// An empty output buffer.
    pub fn new() -> Self {
        Emit::default()
    }

    /// Emit one item.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// Take everything emitted so far.
    pub fn drain(&mut self) -> std::vec::Drain<'_, T> {
        self.items.drain(..)
    }

    /// Number of items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Produces messages: cameras, files, test patterns.
pub trait Source: Sized + Send + 'static {
    /// Typed config, deserialized from the stage's TOML table; its `JsonSchema` (derive it with
    /// `schemars`, re-exported as `edgeflow_core::schemars`) feeds `edgeflow schema`.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// What it produces.
    type Out: Port;
    /// The kind produced for this config (override when it depends on the config).
    fn output_kind(_cfg: &Self::Config) -> PortKind {
        Self::Out::KIND
    }
    /// How many items this config will produce, when known (progress bars).
    fn expected_len(_cfg: &Self::Config) -> Option<u64> {
        None
    }
    /// Keys that moved into nested tables of the config (see [`Moved`]).
    const MOVED: &'static [Moved] = &[];
    /// Checks without network or devices (reading local files is allowed); also run on every
    /// change to the running stage.
    fn validate(_cfg: &Self::Config) -> Result<(), Invalid> {
        Ok(())
    }
    /// Open files, devices, connections.
    fn build(cfg: Self::Config, ctx: &BuildCtx) -> Result<Self, BuildError>;
    /// The next item; `Ok(None)` at end of stream.
    fn next(&mut self) -> Result<Option<Self::Out>, StageError>;
    /// The next item or status report; the runtime calls this. Sources that report stream
    /// status (live cameras) override it; the default wraps [`Source::next`].
    fn next_event(&mut self) -> Result<SourceEvent<Self::Out>, StageError> {
        Ok(match self.next()? {
            Some(item) => SourceEvent::Item(item),
            None => SourceEvent::End,
        })
    }
    /// A status to send after the last item, however the source stopped (end of stream, a
    /// stop request, `--frames`); live sources report `ended` here. Called once, before
    /// `finish`.
    fn closing_status(&mut self) -> Option<StreamStatus> {
        None
    }
    /// Apply a new config in place, from the next item on. `cfg` passed every check; `changed`
    /// names the fields that differ from the running config. Return
    /// [`Reconfigure::Rebuild`] (the default) when the change needs a fresh stage, and an
    /// error when the change cannot work at all (the stage keeps its old config).
    fn reconfigure(
        &mut self,
        _cfg: &Self::Config,
        _changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        Ok(Reconfigure::Rebuild)
    }
    /// What the stage reports about itself in its state (the decoder chosen, the model, a
    /// backlog). Called between items, a few times a second at most.
    fn report(&self, _report: &mut Report) {}
    /// Called once at end of stream or stop.
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

/// Turns each input into zero or more outputs: decode, detect, track, zone.
pub trait Transform: Sized + Send + 'static {
    /// Typed config, deserialized from the stage's TOML table; its `JsonSchema` (derive it with
    /// `schemars`, re-exported as `edgeflow_core::schemars`) feeds `edgeflow schema`.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// What it takes.
    type In: Port;
    /// What it produces.
    type Out: Port;
    /// The kind produced for this config (override when it depends on the config).
    fn output_kind(_cfg: &Self::Config) -> PortKind {
        Self::Out::KIND
    }
    /// Keys that moved into nested tables of the config (see [`Moved`]).
    const MOVED: &'static [Moved] = &[];
    /// Checks without network or devices (reading local files is allowed); also run on every
    /// change to the running stage.
    fn validate(_cfg: &Self::Config) -> Result<(), Invalid> {
        Ok(())
    }
    /// What a valid config should still be told about, without failing it: options this
    /// build reads nothing of (a table for a backend it was built without). Each becomes a
    /// warning at its field in `edgeflow validate` and at load.
    fn notes(_cfg: &Self::Config) -> Vec<Problem> {
        Vec::new()
    }
    /// Load models, open devices.
    fn build(cfg: Self::Config, ctx: &BuildCtx) -> Result<Self, BuildError>;
    /// Handle one input.
    fn process(&mut self, input: Self::In, out: &mut Emit<Self::Out>) -> Result<(), StageError>;
    /// Apply a new config in place, from the next item on. `cfg` passed every check; `changed`
    /// names the fields that differ from the running config. Return
    /// [`Reconfigure::Rebuild`] (the default) when the change needs a fresh stage, and an
    /// error when the change cannot work at all (the stage keeps its old config).
    fn reconfigure(
        &mut self,
        _cfg: &Self::Config,
        _changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        Ok(Reconfigure::Rebuild)
    }
    /// What the stage reports about itself in its state (the decoder chosen, the model, a
    /// backlog). Called between items, a few times a second at most.
    fn report(&self, _report: &mut Report) {}
    /// Called once after the last input; may emit what it still holds. Also called on the old
    /// stage when it is rebuilt in place, so nothing it holds is lost.
    fn finish(&mut self, _out: &mut Emit<Self::Out>) -> Result<(), StageError> {
        Ok(())
    }
    /// When what the stage holds must go out even if no more input comes (a batch waiting for
    /// its last frame): the runtime calls [`Transform::flush`] then. `None` (the default):
    /// nothing is held. Asked after every input and every flush.
    fn held_until(&self) -> Option<std::time::Instant> {
        None
    }
    /// Emit what is held: the time [`Transform::held_until`] named has passed without input.
    fn flush(&mut self, _out: &mut Emit<Self::Out>) -> Result<(), StageError> {
        Ok(())
    }
}

/// Consumes messages: publishers, files.
pub trait Sink: Sized + Send + 'static {
    /// Typed config, deserialized from the stage's TOML table; its `JsonSchema` (derive it with
    /// `schemars`, re-exported as `edgeflow_core::schemars`) feeds `edgeflow schema`.
    type Config: DeserializeOwned + schemars::JsonSchema + Send + 'static;
    /// What it takes ([`crate::Message`] for every kind).
    type In: Port;
    /// Keys that moved into nested tables of the config (see [`Moved`]).
    const MOVED: &'static [Moved] = &[];
    /// Checks without network or devices (reading local files is allowed); also run on every
    /// change to the running stage.
    fn validate(_cfg: &Self::Config) -> Result<(), Invalid> {
        Ok(())
    }
    /// Open files and connections.
    fn build(cfg: Self::Config, ctx: &BuildCtx) -> Result<Self, BuildError>;
    /// Handle one input.
    fn consume(&mut self, input: Self::In) -> Result<(), StageError>;
    /// Apply a new config in place, from the next item on. `cfg` passed every check; `changed`
    /// names the fields that differ from the running config. Return
    /// [`Reconfigure::Rebuild`] (the default) when the change needs a fresh stage, and an
    /// error when the change cannot work at all (the stage keeps its old config).
    fn reconfigure(
        &mut self,
        _cfg: &Self::Config,
        _changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        Ok(Reconfigure::Rebuild)
    }
    /// What the stage reports about itself in its state (the decoder chosen, the model, a
    /// backlog). Called between items, a few times a second at most.
    fn report(&self, _report: &mut Report) {}
    /// Flush everything; called once after the last input, and on the old stage when it is
    /// rebuilt in place.
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}
