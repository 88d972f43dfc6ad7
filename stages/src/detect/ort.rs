//! `backend = "ort"`: ONNX Runtime on the CPU, with the YOLO and BlazeFace families.

use std::path::{Path, PathBuf};

use edgeflow_backend::Backend;
use edgeflow_backend_ort::{Optimization, OrtBackend, OrtOptions};
use edgeflow_core::{BuildCtx, BuildError, Moved, StageInfo, Variant};
use serde::Deserialize;

use super::{DetectBackend, DetectConfig};

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

/// Graph optimization level in configs.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
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

/// `ort = { ... }`: the options only ONNX Runtime has, in a table named after the backend so
/// one file can carry the options of several boards' backends.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
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
    /// Let ONNX Runtime's threads spin between operators and runs instead of sleeping
    /// (default: ONNX Runtime's, spinning; `false` leaves the cores to decoding and the other
    /// stages while a thread waits).
    #[serde(default)]
    pub spinning: Option<bool>,
    /// ONNX Runtime's CPU memory arena (default on; off: less resident memory).
    #[serde(default = "yes")]
    pub memory_arena: bool,
    /// Plan each run's memory once (default on).
    #[serde(default = "yes")]
    pub memory_pattern: bool,
    /// Keep the optimised model in `.edgeflow/cache/ort/` and load that next time with
    /// optimisation off: the same speed for half the memory at load (default on; keyed by the
    /// model's bytes, the runtime release, the level and the CPU).
    #[serde(default = "yes")]
    pub optimized_cache: bool,
}

fn yes() -> bool {
    true
}

impl Default for OrtTable {
    fn default() -> Self {
        OrtTable {
            intra_threads: 0,
            inter_threads: 0,
            optimization: OptLevel::All,
            library: None,
            spinning: None,
            memory_arena: true,
            memory_pattern: true,
            optimized_cache: true,
        }
    }
}

/// ONNX Runtime as a detect backend.
pub struct Ort;

impl DetectBackend for Ort {
    const NAME: &'static str = "ort";
    const RUNTIME: &'static str = "ONNX Runtime";
    const INFO: StageInfo = INFO;
    const MOVED: &'static [Moved] = &[
        Moved::into("intra_threads", "ort"),
        Moved::into("inter_threads", "ort"),
        Moved::into("optimization", "ort"),
        Moved::into("library", "ort"),
    ];

    fn status() -> Result<String, String> {
        edgeflow_backend_ort::status().library.map(|path| {
            format!(
                "ONNX Runtime {} loaded from {}",
                edgeflow_backend_ort::ORT_VERSION,
                path.display()
            )
        })
    }

    fn probe(cfg: &DetectConfig) -> Result<String, String> {
        let library = cfg.ort.as_ref().and_then(|t| t.library.as_ref());
        edgeflow_backend_ort::init(library.map(Path::new))
            .map(|path| {
                format!(
                    "the CPU, ONNX Runtime {} from {}",
                    edgeflow_backend_ort::ORT_VERSION,
                    path.display()
                )
            })
            .map_err(|e| e.to_string())
    }

    fn load(
        cfg: &DetectConfig,
        model: Option<&Path>,
        _ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        let model = model.ok_or_else(|| BuildError::new("`backend = \"ort\"` needs `model`"))?;
        let table = cfg.ort.clone().unwrap_or_default();
        let options = OrtOptions {
            library: table.library.as_ref().map(PathBuf::from),
            intra_threads: table.intra_threads,
            inter_threads: table.inter_threads,
            optimization: match table.optimization {
                OptLevel::Disable => Optimization::Disable,
                OptLevel::Basic => Optimization::Basic,
                OptLevel::Extended => Optimization::Extended,
                OptLevel::All => Optimization::All,
            },
            spinning: table.spinning,
            memory_arena: table.memory_arena,
            memory_pattern: table.memory_pattern,
            optimized_cache: table
                .optimized_cache
                .then(|| PathBuf::from(edgeflow_backend_ort::cache::DEFAULT_DIR)),
        };
        let explicit = table.library.is_some();
        let backend = OrtBackend::load(model, &options).map_err(|e| {
            super::load_error(
                e,
                "ort",
                explicit,
                "check that `model` is an ONNX file (YOLO models from Darknet: scripts/darknet2onnx.py)",
            )
        })?;
        Ok(Box::new(backend))
    }
}
