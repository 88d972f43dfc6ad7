//! `type = "detect"`: frames in, detections out. One stage, [`Detect`], over any backend:
//! [`model::ModelDetect`] holds what every detector shares (the family's contract,
//! preprocessing into the backend's own tensor type and layout, batching, decoding, NMS,
//! the filters, mapping boxes back) over a `Box<dyn edgeflow_backend::Backend>`; each
//! `backend = "..."` is a [`DetectBackend`] that only loads its backend from its options
//! table (`ort = { ... }`). The backends this build has are in [`backends`].

pub mod auto;
pub mod backends;
pub mod config;
pub mod families;
#[cfg(feature = "hailo")]
pub mod hailo;
pub mod mock;
pub mod model;
#[cfg(feature = "ort")]
pub mod ort;
pub mod preprocess;
#[cfg(feature = "rknn")]
pub mod rknn;
#[cfg(feature = "tensorrt")]
pub mod tensorrt;
pub mod variants;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use edgeflow_backend::Backend;
use edgeflow_core::{
    BuildCtx, BuildError, Changed, Detections, Emit, Frame, Invalid, Moved, Problem, Reconfigure,
    Report, StageError, StageInfo, Transform,
};

pub use config::DetectConfig;
use model::{ModelDetect, ModelOptions};

pub use variants::{ModelFormat, ModelPath};

/// `score_threshold` when a config leaves it out and the backend names no other.
pub const DEFAULT_SCORE_THRESHOLD: f32 = 0.4;

/// Whether a backend runs a model file, and in which format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFile {
    /// `model` is required and names a file of this format (the variant of its key).
    Required(ModelFormat),
    /// `model` is required; the backend chosen at build time takes its own format (`auto`).
    Any,
    /// The backend has no model file (`model`, `family` and `labels` are errors).
    None,
}

/// A backend opened for a stage: what runs, what it is called, and the file it loaded.
pub struct Opened {
    /// The loaded model.
    pub backend: Box<dyn Backend>,
    /// The backend's `backend = "..."` name (the one chosen, for `auto`).
    pub name: &'static str,
    /// How messages name its runtime.
    pub runtime: &'static str,
    /// The model file loaded, if any.
    pub model: Option<PathBuf>,
}

/// One `backend = "..."` of the detect stage: how it is named, what it needs, and how it
/// loads. Everything else (preprocessing, decoding, NMS, filters) is [`ModelDetect`]'s.
pub trait DetectBackend: Send + 'static {
    /// The value of `backend` and the name of its options table (`ort`).
    const NAME: &'static str;
    /// How messages name the runtime (`ONNX Runtime`).
    const RUNTIME: &'static str;
    /// The registry entry: summary and example.
    const INFO: StageInfo;
    /// Old flat keys that moved into the backend's table.
    const MOVED: &'static [Moved] = &[];
    /// `score_threshold` when the config leaves it out.
    const DEFAULT_SCORE_THRESHOLD: f32 = DEFAULT_SCORE_THRESHOLD;
    /// Whether the backend runs a model file, and in which format.
    const MODEL: ModelFile = ModelFile::Required(ModelFormat::Onnx);
    /// The backend's own checks (no devices, no network), after the shared ones.
    fn validate(_cfg: &DetectConfig, _inv: &mut Invalid) {}
    /// Whether the backend's runtime works on this machine: where its library loads from,
    /// or why it does not (`edgeflow list-backends`).
    fn status() -> Result<String, String> {
        Ok("built in".to_string())
    }
    /// Whether the backend finds its library and device with the stage's options, and which
    /// device (`backend = "auto"` takes the first backend whose probe succeeds). Cheap: no
    /// model is loaded.
    fn probe(_cfg: &DetectConfig) -> Result<String, String> {
        Self::status()
    }
    /// Load the model (`Some` when [`DetectBackend::MODEL`] is `Required`: the variant in the
    /// backend's format, checked to exist). Facts worth knowing at start (a provider that
    /// fell back) go to `ctx.note`.
    fn load(
        _cfg: &DetectConfig,
        _model: Option<&Path>,
        _ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        Err(BuildError::new(format!(
            "`backend = \"{}\"` opens through the backend it chooses",
            Self::NAME
        )))
    }
    /// Pick the model variant, check the file, and load it.
    fn open(cfg: &DetectConfig, ctx: &BuildCtx) -> Result<Opened, BuildError> {
        let model = match (Self::MODEL, &cfg.model) {
            (ModelFile::Required(format), Some(m)) => {
                let path = m.pick(format).map_err(|miss| {
                    BuildError::new(miss.message(Self::NAME))
                        .with_help(miss.help())
                        .at("model")
                })?;
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(BuildError::new(format!("no such model file: {}", path.display()))
                        .with_help("run scripts/setup.sh (it fetches and converts the models into assets/models/), or fix `model`")
                        .at("model"));
                }
                Some(path)
            }
            _ => None,
        };
        Ok(Opened {
            backend: Self::load(cfg, model.as_deref(), ctx)?,
            name: Self::NAME,
            runtime: Self::RUNTIME,
            model,
        })
    }
}

/// The detect stage over backend `B`.
pub struct Detect<B> {
    model: ModelDetect,
    backend: PhantomData<fn() -> B>,
}

impl<B: DetectBackend> Transform for Detect<B> {
    type Config = DetectConfig;
    type In = Frame;
    type Out = Detections;

    const MOVED: &'static [Moved] = B::MOVED;

    fn validate(cfg: &DetectConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        cfg.validate_model::<B>(&mut inv);
        B::validate(cfg, &mut inv);
        cfg.validate_filters(&mut inv);
        inv.into_result()
    }

    fn notes(cfg: &DetectConfig) -> Vec<Problem> {
        cfg.notes()
    }

    fn build(cfg: DetectConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        Self::validate(&cfg).map_err(|e| BuildError::new(e.to_string()))?;
        let filters = cfg.filters::<B>();
        Ok(Detect {
            model: model_detect(&cfg, B::open, filters, ctx)?,
            backend: PhantomData,
        })
    }

    /// See [`ModelDetect::reconfigure`]: the filters apply in place, anything else rebuilds.
    fn reconfigure(
        &mut self,
        cfg: &DetectConfig,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        self.model.reconfigure(&cfg.filters::<B>(), changed)
    }

    fn report(&self, report: &mut Report) {
        self.model.report(report);
    }

    fn process(&mut self, frame: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.model.process(frame, out)
    }

    fn finish(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.model.finish(out)
    }

    fn held_until(&self) -> Option<std::time::Instant> {
        self.model.held_until()
    }

    fn flush(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.model.flush_partial(out)
    }
}

/// A backend's load error as a build error: a runtime library that does not load points at
/// `<table>.library` when the stage names one, a model the runtime refuses at `model` with
/// how to make one it takes.
#[cfg_attr(
    not(any(
        feature = "ort",
        feature = "tensorrt",
        feature = "hailo",
        feature = "rknn"
    )),
    allow(dead_code)
)]
pub(crate) fn load_error(
    e: edgeflow_backend::BackendError,
    table: &str,
    explicit_library: bool,
    model_help: &str,
) -> BuildError {
    match e {
        edgeflow_backend::BackendError::Runtime { message, help } => {
            let e = BuildError::new(message).with_help(help);
            if explicit_library {
                e.at(format!("{table}.library"))
            } else {
                e
            }
        }
        other => BuildError::new(other.to_string())
            .with_help(model_help)
            .at("model"),
    }
}

/// Open a detect stage's backend with `open` and make the stage's model over it.
fn model_detect(
    cfg: &DetectConfig,
    open: fn(&DetectConfig, &BuildCtx) -> Result<Opened, BuildError>,
    filters: model::Filters,
    ctx: &BuildCtx,
) -> Result<ModelDetect, BuildError> {
    let labels = cfg.labels.as_deref().map(read_labels).transpose()?;
    let opened = open(cfg, ctx)?;
    let options = ModelOptions {
        model: opened.model,
        family: cfg.family,
        labels,
        resize: cfg.resize,
        batch: cfg.batch,
        filters,
    };
    ModelDetect::new(opened.backend, (opened.name, opened.runtime), options, ctx).map_err(|e| {
        let field = if e.message.contains("`batch") {
            "batch"
        } else {
            "family"
        };
        e.at(field)
    })
}

/// Open the model of a detect stage as the stage would, from its checked config table (the
/// stage's `config`, without `type` and `backend`) and its `backend` (`auto` chooses): for
/// tools that run the model alone, such as `edgeflow bench --model-only`.
pub fn open_model(
    table: &toml::Table,
    backend: &str,
    ctx: &BuildCtx,
) -> Result<ModelDetect, BuildError> {
    use serde::Deserialize;
    let cfg = DetectConfig::deserialize(toml::Value::Table(table.clone()))
        .map_err(|e| BuildError::new(format!("the detect stage's config: {}", e.message())))?;
    let built = backends::built()
        .into_iter()
        .find(|b| b.name == backend)
        .ok_or_else(|| {
            BuildError::new(format!("this build has no detect backend `{backend}`"))
                .with_help("`edgeflow list-backends` lists the ones it has")
                .at("backend")
        })?;
    let mut inv = Invalid::new();
    cfg.validate_filters(&mut inv);
    (built.validate)(&cfg, &mut inv);
    inv.into_result()
        .map_err(|e| BuildError::new(e.to_string()))?;
    model_detect(
        &cfg,
        built.open,
        cfg.filters_with(DEFAULT_SCORE_THRESHOLD),
        ctx,
    )
}

fn read_labels(path: &str) -> Result<Vec<String>, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::new(format!("cannot read the labels file {path}: {e}"))
            .with_help("run scripts/setup.sh, or point `labels` at a file with one label per line")
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}
