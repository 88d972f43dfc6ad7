//! # edgeflow-core
//!
//! The core of edgeflow: the messages that travel on edges, the stage traits, the stage
//! registry, config loading with diagnostics that report every problem at once, graph checks,
//! the threaded runtime with bounded queues, and metrics. It knows no vendor: no GStreamer, no
//! ONNX Runtime. Stage types live in `edgeflow-stages`; the `edgeflow` crate re-exports both.
#![deny(missing_docs)]

pub mod config;
pub mod control;
pub mod message;
pub mod metrics;
pub mod process;
pub mod registry;
pub mod runtime;
pub mod services;
pub mod stage;
pub mod testing;

/// The JSON Schema derive stage configs need (`#[derive(JsonSchema)]`, see [`Source::Config`]).
pub use schemars;

pub use config::{
    Diagnostic, Diagnostics, Fragment, LoadError, Loaded, PipelineSpec, QueuePolicy, QueueSpec,
    SCHEMA_ID, Section, Sections, Severity, StageSpec, load_file, load_sections, load_str,
    pipeline_schema,
};
pub use control::{
    Changed, CommandRecord, ControlError, Lifecycle, Outcome, Reconfigure, Reconfigured, Report,
    StageHandle, StageState,
};
pub use message::{
    BBox, Counts, Detection, Detections, Frame, FrameError, Message, Meta, Packet, PixelFormat,
    Plane, Port, PortKind, StreamState, StreamStatus, Totals, Track, Tracks, ZoneEvent,
    ZoneEventKind, ZoneEvents,
};
pub use registry::{NotCompiled, Registry, Role, StageInfo, Variant};
pub use runtime::{Pipeline, RunHandle, RunOptions, RunReport, RuntimeError, StageFailure};
pub use services::Services;
pub use stage::{
    BoxError, BuildCtx, BuildError, BuildPurpose, Emit, Invalid, Moved, Notes, Problem, Sink,
    Source, SourceEvent, StageError, StopSignal, Transform,
};
