//! `backend = "ort"`: ONNX Runtime on the CPU, with the YOLO and BlazeFace families.

use std::path::{Path, PathBuf};

use edgeflow_backend_ort::{Optimization, OrtBackend, OrtOptions};
use edgeflow_core::{
    BuildCtx, BuildError, Changed, Detections, Emit, Frame, Invalid, Moved, Reconfigure, Report,
    StageError, StageInfo, Transform, Variant,
};
use serde::Deserialize;

use super::families::Family;
use super::model::{Filters, ModelDetect, ModelOptions};
use super::preprocess::Resize;

/// Registry entry.
pub const INFO: StageInfo = StageInfo {
    type_name: "detect",
    variant: Some(Variant {
        key: "backend",
        value: "ort",
    }),
    summary: "ONNX Runtime on the CPU: YOLO (v3/v5 and v8/11 outputs) and BlazeFace models",
    example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "ort"
model = "assets/models/yolov3-tiny-416.onnx"
family = "yolo"                       # or "blazeface"
labels = "assets/models/coco.names"   # one label per line (yolo)
classes = ["person"]                  # keep only these; leave out for all
score_threshold = 0.4
nms_iou = 0.45
resize = "letterbox"                  # or "stretch"
every_nth_frame = 1
ort = { intra_threads = 2 }           # ONNX Runtime's own options

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
};

fn d_threshold() -> f32 {
    0.4
}
fn d_max() -> usize {
    100
}
fn one() -> u32 {
    1
}
fn one_usize() -> usize {
    1
}

/// Graph optimization level in configs.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    /// None.
    Disable,
    /// Basic.
    Basic,
    /// Extended.
    Extended,
    /// All (default).
    #[default]
    All,
}

/// Config of `backend = "ort"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrtDetectConfig {
    /// The ONNX model file.
    pub model: String,
    /// `yolo` or `blazeface`.
    pub family: Family,
    /// Labels file, one per line, in class order (required for `yolo`).
    #[serde(default)]
    pub labels: Option<String>,
    /// Keep only these labels.
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Drop detections scoring below this.
    #[serde(default = "d_threshold")]
    pub score_threshold: f32,
    /// Overlap above which NMS drops the weaker box (default 0.45 yolo, 0.3 blazeface).
    #[serde(default)]
    pub nms_iou: Option<f32>,
    /// At most this many detections per frame.
    #[serde(default = "d_max")]
    pub max_detections: usize,
    /// `letterbox` (default) or `stretch`.
    #[serde(default)]
    pub resize: Resize,
    /// Analyse every n-th frame; the others pass marked as skipped.
    #[serde(default = "one")]
    pub every_nth_frame: u32,
    /// Run this many frames (of any streams) together; needs a model with a dynamic batch.
    #[serde(default = "one_usize")]
    pub batch: usize,
    /// ONNX Runtime's own options (`ort = { intra_threads = 2 }`).
    #[serde(default)]
    pub ort: OrtTable,
}

/// `ort = { ... }`: the options only ONNX Runtime has, in a table named after the backend so
/// one file can carry the options of several boards' backends.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrtTable {
    /// Threads inside an operator (0: ONNX Runtime decides).
    #[serde(default)]
    pub intra_threads: usize,
    /// Threads across operators (0: ONNX Runtime decides).
    #[serde(default)]
    pub inter_threads: usize,
    /// Graph optimization level.
    #[serde(default)]
    pub optimization: OptLevel,
    /// Path to `libonnxruntime.so` (default: ORT_DYLIB_PATH, next to the binary, assets/ort).
    #[serde(default)]
    pub library: Option<String>,
}

/// The ONNX Runtime detect stage: [`ModelDetect`] over an [`OrtBackend`].
pub struct OrtDetect(ModelDetect);

fn read_labels(path: &Path) -> Result<Vec<String>, BuildError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BuildError::new(format!(
            "cannot read the labels file {}: {e}",
            path.display()
        ))
        .with_help("run scripts/setup.sh, or point `labels` at a file with one label per line")
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

impl Transform for OrtDetect {
    type Config = OrtDetectConfig;
    type In = Frame;
    type Out = Detections;

    const MOVED: &'static [Moved] = &[
        Moved {
            key: "intra_threads",
            table: "ort",
        },
        Moved {
            key: "inter_threads",
            table: "ort",
        },
        Moved {
            key: "optimization",
            table: "ort",
        },
        Moved {
            key: "library",
            table: "ort",
        },
    ];

    fn validate(cfg: &OrtDetectConfig) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if cfg.family == Family::Yolo && cfg.labels.is_none() {
            inv.field(
                "family",
                "`yolo` needs a labels file",
                Some("add `labels = \"assets/models/coco.names\"` (one label per line)".into()),
            );
        }
        if !(0.0..=1.0).contains(&cfg.score_threshold) {
            inv.field(
                "score_threshold",
                format!("{} is not in 0..1", cfg.score_threshold),
                Some("use a value between 0 and 1".into()),
            );
        }
        if cfg.nms_iou.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            inv.field(
                "nms_iou",
                "not in 0..1",
                Some("use a value between 0 and 1 (0.45 is usual)".into()),
            );
        }
        if cfg.every_nth_frame == 0 {
            inv.field(
                "every_nth_frame",
                "0 would skip every frame",
                Some("use 1 to analyse every frame".into()),
            );
        }
        if cfg.batch == 0 {
            inv.field(
                "batch",
                "0 frames per run",
                Some("use 1 (no batching) or more".into()),
            );
        }
        if cfg.max_detections == 0 {
            inv.field(
                "max_detections",
                "0 would drop every detection",
                Some("use at least 1 (default 100)".into()),
            );
        }
        inv.into_result()
    }

    fn build(cfg: OrtDetectConfig, ctx: &BuildCtx) -> Result<Self, BuildError> {
        let labels: Vec<String> = match (&cfg.labels, cfg.family) {
            (Some(path), _) => read_labels(Path::new(path))?,
            (None, Family::Blazeface) => vec!["face".to_string()],
            (None, Family::Yolo) => return Err(BuildError::new("family `yolo` needs `labels`")),
        };
        let model = PathBuf::from(&cfg.model);
        if !model.is_file() {
            return Err(BuildError::new(format!("no such model file: {}", model.display()))
                .with_help("run scripts/setup.sh (it fetches and converts the models into assets/models/), or fix `model`"));
        }
        let options = OrtOptions {
            library: cfg.ort.library.as_ref().map(PathBuf::from),
            intra_threads: cfg.ort.intra_threads,
            inter_threads: cfg.ort.inter_threads,
            optimization: match cfg.ort.optimization {
                OptLevel::Disable => Optimization::Disable,
                OptLevel::Basic => Optimization::Basic,
                OptLevel::Extended => Optimization::Extended,
                OptLevel::All => Optimization::All,
            },
        };
        let backend = OrtBackend::load(&model, &options).map_err(|e| match e {
            edgeflow_backend::BackendError::Runtime { message, help } => BuildError::new(message).with_help(help),
            other => BuildError::new(other.to_string())
                .with_help("check that `model` is an ONNX file (YOLO models from Darknet: scripts/darknet2onnx.py)"),
        })?;
        ModelDetect::new(
            Box::new(backend),
            ("ort", "ONNX Runtime"),
            model_options(&cfg, model, labels),
            ctx,
        )
        .map(OrtDetect)
    }

    /// See [`ModelDetect::reconfigure`]: the filters apply in place, a new model rebuilds.
    fn reconfigure(
        &mut self,
        cfg: &OrtDetectConfig,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        self.0.reconfigure(&filters(cfg), changed)
    }

    fn report(&self, report: &mut Report) {
        self.0.report(report);
    }

    fn process(&mut self, frame: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.0.process(frame, out)
    }

    fn finish(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.0.finish(out)
    }
}

/// The model-neutral options of an `ort` config.
fn model_options(cfg: &OrtDetectConfig, model: PathBuf, labels: Vec<String>) -> ModelOptions {
    ModelOptions {
        model,
        family: cfg.family,
        labels,
        resize: cfg.resize,
        batch: cfg.batch,
        filters: filters(cfg),
    }
}

/// The filters after the model, which change in place.
fn filters(cfg: &OrtDetectConfig) -> Filters {
    Filters {
        classes: cfg.classes.clone(),
        score_threshold: cfg.score_threshold,
        nms_iou: cfg.nms_iou,
        max_detections: cfg.max_detections,
        every_nth_frame: cfg.every_nth_frame,
    }
}
