//! The explicit list of stage types a binary knows, and the erased layer between TOML and the
//! typed stage traits.
//!
//! A [`Registry`] holds one [`StageEntry`] per stage type (or per variant of a type, such as
//! `capture` with `source = "test_pattern"`), plus [`NotCompiled`] entries for types this
//! binary was built without, so the loader can say which cargo feature brings them.

use std::any::Any;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use serde::de::{self, DeserializeOwned, Visitor};
use toml::Spanned;
use toml::de::{DeValue, ValueDeserializer};

use crate::config::{Section, SectionEntry};
use crate::control::{Changed, Reconfigure, Report};
use crate::message::{Message, Port, PortKind};
use crate::stage::{
    BuildCtx, BuildError, Emit, Invalid, Sink, Source, SourceEvent, StageError, Transform,
};

/// A stage's role in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// No inputs, one output.
    Source,
    /// Inputs and one output.
    Transform,
    /// Inputs, no output.
    Sink,
}

impl Role {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::Transform => "transform",
            Role::Sink => "sink",
        }
    }
}

/// The option that selects a variant of a stage type, e.g. `source = "test_pattern"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The option's key (`source`, `sink`, `backend`).
    pub key: &'static str,
    /// The option's value.
    pub value: &'static str,
}

/// How a stage type describes itself to the registry, docs and `list-stages`.
#[derive(Clone, Copy, Debug)]
pub struct StageInfo {
    /// The `type = "..."` name.
    pub type_name: &'static str,
    /// The variant this entry implements, if the type has several.
    pub variant: Option<Variant>,
    /// One line for `list-stages`.
    pub summary: &'static str,
    /// A complete pipeline file that uses this stage (must validate; tested).
    pub example: &'static str,
}

/// A type this binary knows of but was built without.
#[derive(Clone, Copy, Debug)]
pub struct NotCompiled {
    /// The `type = "..."` name.
    pub type_name: &'static str,
    /// The variant, if only a variant is missing.
    pub variant: Option<Variant>,
    /// The cargo feature that brings it.
    pub feature: &'static str,
    /// Planned, not built by any feature yet (its feature is reserved): messages say so instead
    /// of "rebuild with `--features ...`".
    pub planned: bool,
    /// What it takes (`None` for sources).
    pub input: Option<PortKind>,
    /// What it produces (`None` for sinks).
    pub output: Option<PortKind>,
}

impl NotCompiled {
    /// What a user can do about it: rebuild with the feature, or wait for a planned one.
    pub fn remedy(&self) -> (String, String) {
        if self.planned {
            (
                "planned: no edgeflow build has it yet".to_string(),
                "`edgeflow list-stages` and `edgeflow list-backends` list what this build runs"
                    .to_string(),
            )
        } else {
            (
                format!("needs cargo feature `{}`", self.feature),
                format!("rebuild with `--features {}`", self.feature),
            )
        }
    }
}

/// A stage whose config parsed; not yet built.
pub trait ConfiguredStage: Send {
    /// What it takes (`None` for sources).
    fn input_kind(&self) -> Option<PortKind>;
    /// What it produces (`None` for sinks).
    fn output_kind(&self) -> Option<PortKind>;
    /// Items a source will produce, when known.
    fn expected_len(&self) -> Option<u64> {
        None
    }
    /// Checks without network or devices.
    fn validate(&self) -> Result<(), Invalid>;
    /// Warnings about a valid config (see [`Transform::notes`]).
    fn notes(&self) -> Vec<crate::stage::Problem> {
        Vec::new()
    }
    /// Build the runnable stage.
    fn build(self: Box<Self>, ctx: &BuildCtx) -> Result<BuiltStage, BuildError>;
    /// The typed config, for the running stage's `reconfigure` hook.
    fn as_any(&self) -> &dyn Any;
}

/// What every running stage offers the runtime besides its items.
pub trait DynControl {
    /// See [`Transform::reconfigure`]: `cfg` is a [`ConfiguredStage`] of this stage's type.
    fn reconfigure(
        &mut self,
        cfg: &dyn ConfiguredStage,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError>;
    /// See [`Transform::report`].
    fn report(&self, report: &mut Report);
}

/// A runnable source over erased messages.
pub trait DynSource: DynControl + Send {
    /// See [`Source::next_event`].
    fn next(&mut self) -> Result<SourceEvent<Message>, StageError>;
    /// See [`Source::closing_status`].
    fn closing(&mut self) -> Option<Message>;
    /// See [`Source::finish`].
    fn finish(&mut self) -> Result<(), StageError>;
}

/// A runnable transform over erased messages.
pub trait DynTransform: DynControl + Send {
    /// See [`Transform::process`].
    fn process(&mut self, input: Message, out: &mut Vec<Message>) -> Result<(), StageError>;
    /// See [`Transform::finish`].
    fn finish(&mut self, out: &mut Vec<Message>) -> Result<(), StageError>;
    /// See [`Transform::held_until`].
    fn held_until(&self) -> Option<std::time::Instant>;
    /// See [`Transform::flush`].
    fn flush_held(&mut self, out: &mut Vec<Message>) -> Result<(), StageError>;
}

/// A runnable sink over erased messages.
pub trait DynSink: DynControl + Send {
    /// See [`Sink::consume`].
    fn consume(&mut self, input: Message) -> Result<(), StageError>;
    /// See [`Sink::finish`].
    fn finish(&mut self) -> Result<(), StageError>;
}

/// A built stage, ready for its thread.
pub enum BuiltStage {
    /// A source.
    Source(Box<dyn DynSource>),
    /// A transform.
    Transform(Box<dyn DynTransform>),
    /// A sink.
    Sink(Box<dyn DynSink>),
}

/// Turns a stage's TOML table into a [`ConfiguredStage`].
pub trait StageFactory: Send + Sync + 'static {
    /// The role of the stages it makes.
    fn role(&self) -> Role;
    /// Input kind of the typed stage (for listings).
    fn input_kind(&self) -> Option<PortKind>;
    /// Output kind of the typed stage (for listings).
    fn output_kind(&self) -> Option<PortKind>;
    /// The config's field names.
    fn fields(&self) -> &'static [&'static str];
    /// Keys that moved into nested tables.
    fn moved(&self) -> &'static [crate::stage::Moved] {
        &[]
    }
    /// The JSON Schema of the config (its definitions go to `generator`).
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
    /// Deserialize the typed config.
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredStage>, toml::de::Error>;
}

/// One stage type (or variant) in the registry.
pub struct StageEntry {
    /// Names, summary and example.
    pub info: StageInfo,
    /// The typed stage behind an erased interface (shared with the loaded stages, which
    /// check a running stage's new config with it).
    pub factory: Arc<dyn StageFactory>,
}

/// The stage types one binary knows.
#[derive(Default)]
pub struct Registry {
    entries: Vec<StageEntry>,
    not_compiled: Vec<NotCompiled>,
    /// (type, variant value) taken when a stage leaves the variant key out.
    defaults: Vec<(&'static str, &'static str)>,
    /// Top-level sections besides `[pipeline]` and `[stages]`.
    sections: Vec<SectionEntry>,
    /// Sections this binary was built without: (name, cargo feature).
    sections_not_compiled: Vec<(&'static str, &'static str)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Register a [`Source`].
    pub fn source<S: Source>(&mut self, info: StageInfo) -> &mut Self {
        self.push(info, Arc::new(SourceFactory::<S>(PhantomData)))
    }

    /// Register a [`Transform`].
    pub fn transform<T: Transform>(&mut self, info: StageInfo) -> &mut Self {
        self.push(info, Arc::new(TransformFactory::<T>(PhantomData)))
    }

    /// Register a [`Sink`].
    pub fn sink<K: Sink>(&mut self, info: StageInfo) -> &mut Self {
        self.push(info, Arc::new(SinkFactory::<K>(PhantomData)))
    }

    /// Register a top-level section of pipeline files (`[server]`): checked by the loader
    /// like a stage's table, handed out in [`crate::PipelineSpec::sections`]. A later
    /// registration of the same name replaces the earlier one.
    pub fn section<S: Section>(&mut self) -> &mut Self {
        self.sections.retain(|e| e.name != S::NAME);
        self.sections.push(SectionEntry::of::<S>());
        self
    }

    /// Record a section this binary was built without, and the cargo feature that has it.
    pub fn section_not_compiled(&mut self, name: &'static str, feature: &'static str) -> &mut Self {
        self.sections_not_compiled.push((name, feature));
        self
    }

    /// Every registered section, in registration order.
    pub fn sections(&self) -> &[SectionEntry] {
        &self.sections
    }

    /// The cargo feature that has section `name`, when this binary was built without it.
    pub fn section_feature(&self, name: &str) -> Option<&'static str> {
        self.sections_not_compiled
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Record a type or variant that this binary was built without.
    pub fn not_compiled(&mut self, nc: NotCompiled) -> &mut Self {
        self.not_compiled.push(nc);
        self
    }

    fn push(&mut self, info: StageInfo, factory: Arc<dyn StageFactory>) -> &mut Self {
        // A later registration of the same type and variant replaces the earlier one, so an
        // embedding program can override a built-in stage.
        self.entries
            .retain(|e| !(e.info.type_name == info.type_name && e.info.variant == info.variant));
        self.entries.push(StageEntry { info, factory });
        self
    }

    /// The variant a stage of `type_name` gets when it leaves the variant key out
    /// (`backend = "auto"` for `detect`). Without one, the key is required.
    pub fn default_variant(&mut self, type_name: &'static str, value: &'static str) -> &mut Self {
        self.defaults.retain(|(t, _)| *t != type_name);
        self.defaults.push((type_name, value));
        self
    }

    /// The variant value `type_name` defaults to, if it has one.
    pub fn variant_default(&self, type_name: &str) -> Option<&'static str> {
        self.defaults
            .iter()
            .find(|(t, _)| *t == type_name)
            .map(|(_, v)| *v)
    }

    /// Every registered entry, in registration order.
    pub fn entries(&self) -> &[StageEntry] {
        &self.entries
    }

    /// Every known-but-not-compiled entry.
    pub fn not_compiled_entries(&self) -> &[NotCompiled] {
        &self.not_compiled
    }

    /// Entries of one type.
    pub fn entries_of<'a>(&'a self, type_name: &'a str) -> impl Iterator<Item = &'a StageEntry> {
        self.entries
            .iter()
            .filter(move |e| e.info.type_name == type_name)
    }

    /// The key that selects a variant of `type_name`, if the type has variants.
    pub fn variant_key(&self, type_name: &str) -> Option<&'static str> {
        self.entries_of(type_name)
            .filter_map(|e| e.info.variant.map(|v| v.key))
            .chain(
                self.not_compiled
                    .iter()
                    .filter(|n| n.type_name == type_name)
                    .filter_map(|n| n.variant.map(|v| v.key)),
            )
            .next()
    }

    /// Every type name known (registered or not compiled), sorted, without repeats.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .entries
            .iter()
            .map(|e| e.info.type_name)
            .chain(self.not_compiled.iter().map(|n| n.type_name))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Collects the field names a derived `Deserialize` asks for, without deserializing anything.
pub fn config_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);

    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }

    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

fn deserialize_config<C: DeserializeOwned>(
    table: Spanned<DeValue<'_>>,
) -> Result<C, toml::de::Error> {
    C::deserialize(ValueDeserializer::from(table))
}

/// Runs stage code, turning a panic into a fatal error so one bad stage cannot take the
/// process down with it.
fn guarded<R>(what: &str, f: impl FnOnce() -> Result<R, StageError>) -> Result<R, StageError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(StageError::fatal(format!("panicked in {what}: {msg}")))
        }
    }
}

fn wrong_kind(got: &Message, want: PortKind) -> StageError {
    StageError::transient(format!(
        "received a {} message but this stage takes {}",
        got.kind(),
        want
    ))
}

// ---- sources ----

struct SourceFactory<S>(PhantomData<fn() -> S>);
struct ConfiguredSource<S: Source>(S::Config);
struct RunSource<S>(S);

impl<S: Source> StageFactory for SourceFactory<S> {
    fn role(&self) -> Role {
        Role::Source
    }
    fn input_kind(&self) -> Option<PortKind> {
        None
    }
    fn output_kind(&self) -> Option<PortKind> {
        Some(S::Out::KIND)
    }
    fn fields(&self) -> &'static [&'static str] {
        config_fields::<S::Config>()
    }
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<S::Config>()
    }
    fn moved(&self) -> &'static [crate::stage::Moved] {
        S::MOVED
    }
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredStage>, toml::de::Error> {
        Ok(Box::new(ConfiguredSource::<S>(deserialize_config(table)?)))
    }
}

impl<S: Source> ConfiguredStage for ConfiguredSource<S> {
    fn input_kind(&self) -> Option<PortKind> {
        None
    }
    fn output_kind(&self) -> Option<PortKind> {
        Some(S::output_kind(&self.0))
    }
    fn expected_len(&self) -> Option<u64> {
        S::expected_len(&self.0)
    }
    fn validate(&self) -> Result<(), Invalid> {
        guarded_validate(|| S::validate(&self.0))
    }
    fn build(self: Box<Self>, ctx: &BuildCtx) -> Result<BuiltStage, BuildError> {
        let stage = guarded_build(|| S::build(self.0, ctx))?;
        Ok(BuiltStage::Source(Box::new(RunSource(stage))))
    }
    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

/// Downcast a checked config to the stage's own, and hand it to the typed hook.
fn typed_reconfigure<C: 'static>(
    cfg: &dyn ConfiguredStage,
    apply: impl FnOnce(&C) -> Result<Reconfigure, BuildError>,
) -> Result<Reconfigure, BuildError> {
    match cfg.as_any().downcast_ref::<C>() {
        Some(c) => guarded_as("reconfigure", || apply(c)),
        // Configs come from this stage's own factory; another type would be a runtime bug.
        None => Err(BuildError::new(
            "the new config is of another stage type; nothing was changed",
        )),
    }
}

/// Runs `build` or a `reconfigure` hook, turning a panic into a build error (a running stage
/// keeps its old config).
fn guarded_build<R>(f: impl FnOnce() -> Result<R, BuildError>) -> Result<R, BuildError> {
    guarded_as("build", f)
}

/// [`guarded_build`] for any hook, named `what` in the message.
fn guarded_as<R>(what: &str, f: impl FnOnce() -> Result<R, BuildError>) -> Result<R, BuildError> {
    guarded(what, || Ok(f())).unwrap_or_else(|e| Err(BuildError::new(e.to_string())))
}

/// Runs `validate`, turning a panic into a problem of the stage as a whole.
fn guarded_validate(f: impl FnOnce() -> Result<(), Invalid>) -> Result<(), Invalid> {
    guarded("validate", || Ok(f())).unwrap_or_else(|e| {
        Err(Invalid {
            problems: vec![crate::stage::Problem {
                field: None,
                message: e.to_string(),
                help: Some("this is a bug in the stage; please report it".into()),
            }],
        })
    })
}

fn guarded_report(f: impl FnOnce()) {
    let _ = guarded("report", || {
        f();
        Ok(())
    });
}

impl<S: Source> DynControl for RunSource<S> {
    fn reconfigure(
        &mut self,
        cfg: &dyn ConfiguredStage,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        typed_reconfigure::<S::Config>(cfg, |c| self.0.reconfigure(c, changed))
    }
    fn report(&self, report: &mut Report) {
        guarded_report(|| self.0.report(report));
    }
}

impl<S: Source> DynSource for RunSource<S> {
    fn next(&mut self) -> Result<SourceEvent<Message>, StageError> {
        guarded("next", || {
            Ok(match self.0.next_event()? {
                SourceEvent::Item(item) => SourceEvent::Item(item.into_message()),
                SourceEvent::Status(status) => SourceEvent::Status(status),
                SourceEvent::Idle => SourceEvent::Idle,
                SourceEvent::End => SourceEvent::End,
            })
        })
    }
    fn closing(&mut self) -> Option<Message> {
        guarded("closing_status", || Ok(self.0.closing_status()))
            .ok()
            .flatten()
            .map(Message::Status)
    }
    fn finish(&mut self) -> Result<(), StageError> {
        guarded("finish", || self.0.finish())
    }
}

// ---- transforms ----

struct TransformFactory<T>(PhantomData<fn() -> T>);
struct ConfiguredTransform<T: Transform>(T::Config);
struct RunTransform<T: Transform> {
    stage: T,
    emit: Emit<T::Out>,
}

impl<T: Transform> StageFactory for TransformFactory<T> {
    fn role(&self) -> Role {
        Role::Transform
    }
    fn input_kind(&self) -> Option<PortKind> {
        Some(T::In::KIND)
    }
    fn output_kind(&self) -> Option<PortKind> {
        Some(T::Out::KIND)
    }
    fn fields(&self) -> &'static [&'static str] {
        config_fields::<T::Config>()
    }
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T::Config>()
    }
    fn moved(&self) -> &'static [crate::stage::Moved] {
        T::MOVED
    }
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredStage>, toml::de::Error> {
        Ok(Box::new(ConfiguredTransform::<T>(deserialize_config(
            table,
        )?)))
    }
}

impl<T: Transform> ConfiguredStage for ConfiguredTransform<T> {
    fn input_kind(&self) -> Option<PortKind> {
        Some(T::In::KIND)
    }
    fn output_kind(&self) -> Option<PortKind> {
        Some(T::output_kind(&self.0))
    }
    fn validate(&self) -> Result<(), Invalid> {
        guarded_validate(|| T::validate(&self.0))
    }
    fn notes(&self) -> Vec<crate::stage::Problem> {
        guarded("notes", || Ok(T::notes(&self.0))).unwrap_or_default()
    }
    fn build(self: Box<Self>, ctx: &BuildCtx) -> Result<BuiltStage, BuildError> {
        let stage = guarded_build(|| T::build(self.0, ctx))?;
        Ok(BuiltStage::Transform(Box::new(RunTransform {
            stage,
            emit: Emit::new(),
        })))
    }
    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

impl<T: Transform> RunTransform<T> {
    fn flush(&mut self, out: &mut Vec<Message>) {
        out.extend(self.emit.drain().map(Port::into_message));
    }
}

impl<T: Transform> DynControl for RunTransform<T> {
    fn reconfigure(
        &mut self,
        cfg: &dyn ConfiguredStage,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        typed_reconfigure::<T::Config>(cfg, |c| self.stage.reconfigure(c, changed))
    }
    fn report(&self, report: &mut Report) {
        guarded_report(|| self.stage.report(report));
    }
}

impl<T: Transform> DynTransform for RunTransform<T> {
    fn process(&mut self, input: Message, out: &mut Vec<Message>) -> Result<(), StageError> {
        let input = T::In::from_message(input).map_err(|m| wrong_kind(&m, T::In::KIND))?;
        let r = guarded("process", || self.stage.process(input, &mut self.emit));
        self.flush(out);
        r
    }
    fn finish(&mut self, out: &mut Vec<Message>) -> Result<(), StageError> {
        let r = guarded("finish", || self.stage.finish(&mut self.emit));
        self.flush(out);
        r
    }
    fn held_until(&self) -> Option<std::time::Instant> {
        catch_unwind(AssertUnwindSafe(|| self.stage.held_until())).unwrap_or(None)
    }
    fn flush_held(&mut self, out: &mut Vec<Message>) -> Result<(), StageError> {
        let r = guarded("flush", || self.stage.flush(&mut self.emit));
        self.flush(out);
        r
    }
}

// ---- sinks ----

struct SinkFactory<K>(PhantomData<fn() -> K>);
struct ConfiguredSink<K: Sink>(K::Config);
struct RunSink<K>(K);

impl<K: Sink> StageFactory for SinkFactory<K> {
    fn role(&self) -> Role {
        Role::Sink
    }
    fn input_kind(&self) -> Option<PortKind> {
        Some(K::In::KIND)
    }
    fn output_kind(&self) -> Option<PortKind> {
        None
    }
    fn fields(&self) -> &'static [&'static str] {
        config_fields::<K::Config>()
    }
    fn config_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<K::Config>()
    }
    fn moved(&self) -> &'static [crate::stage::Moved] {
        K::MOVED
    }
    fn configure(
        &self,
        table: Spanned<DeValue<'_>>,
    ) -> Result<Box<dyn ConfiguredStage>, toml::de::Error> {
        Ok(Box::new(ConfiguredSink::<K>(deserialize_config(table)?)))
    }
}

impl<K: Sink> ConfiguredStage for ConfiguredSink<K> {
    fn input_kind(&self) -> Option<PortKind> {
        Some(K::In::KIND)
    }
    fn output_kind(&self) -> Option<PortKind> {
        None
    }
    fn validate(&self) -> Result<(), Invalid> {
        guarded_validate(|| K::validate(&self.0))
    }
    fn build(self: Box<Self>, ctx: &BuildCtx) -> Result<BuiltStage, BuildError> {
        let stage = guarded_build(|| K::build(self.0, ctx))?;
        Ok(BuiltStage::Sink(Box::new(RunSink(stage))))
    }
    fn as_any(&self) -> &dyn Any {
        &self.0
    }
}

impl<K: Sink> DynControl for RunSink<K> {
    fn reconfigure(
        &mut self,
        cfg: &dyn ConfiguredStage,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        typed_reconfigure::<K::Config>(cfg, |c| self.0.reconfigure(c, changed))
    }
    fn report(&self, report: &mut Report) {
        guarded_report(|| self.0.report(report));
    }
}

impl<K: Sink> DynSink for RunSink<K> {
    fn consume(&mut self, input: Message) -> Result<(), StageError> {
        // Status reports reach every sink; only sinks that take any message want them.
        if matches!(input, Message::Status(_)) && K::In::KIND != PortKind::Any {
            return Ok(());
        }
        let input = K::In::from_message(input).map_err(|m| wrong_kind(&m, K::In::KIND))?;
        guarded("consume", || self.0.consume(input))
    }
    fn finish(&mut self) -> Result<(), StageError> {
        guarded("finish", || self.0.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        width: u32,
        #[serde(default)]
        height: u32,
    }

    #[test]
    fn probes_field_names() {
        assert_eq!(config_fields::<Cfg>(), &["width", "height"]);
        // Not a struct: no fields.
        assert!(config_fields::<u32>().is_empty());
    }

    #[test]
    fn guarded_turns_panics_into_fatal_errors() {
        let r: Result<(), StageError> = guarded("process", || panic!("boom"));
        let e = r.unwrap_err();
        assert!(e.is_fatal());
        assert!(e.to_string().contains("boom"), "{e}");
    }
}
