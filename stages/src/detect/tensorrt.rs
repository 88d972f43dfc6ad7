//! `backend = "tensorrt"`: NVIDIA GPUs through ONNX Runtime's TensorRT execution provider
//! (CUDA as the fallback, said so at start), with the same ONNX models as `ort` and an engine
//! cache so a board builds each engine once.

use std::path::{Path, PathBuf};

use edgeflow_backend::Backend;
use edgeflow_backend_ort::OrtOptions;
use edgeflow_backend_tensorrt::{Precision, TensorrtOptions};
use edgeflow_core::{BuildCtx, BuildError, Invalid, StageInfo, Variant};
use serde::Deserialize;

use super::{DetectBackend, DetectConfig, ModelFile, ModelFormat};

/// TensorRT's precision, in configs.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionName {
    /// f32 only.
    Fp32,
    /// f16 where faster (default).
    #[default]
    Fp16,
    /// int8, with `int8_calibration_table`.
    Int8,
}

fn d_cache() -> String {
    ".edgeflow/tensorrt-engines".to_string()
}

fn yes() -> bool {
    true
}

/// `tensorrt = { ... }`: the options only TensorRT has.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorrtTable {
    /// Path to a GPU build of `libonnxruntime.so` (with the TensorRT and CUDA providers).
    #[serde(default)]
    pub library: Option<String>,
    /// The GPU (CUDA device number, default 0).
    #[serde(default)]
    pub device_id: u32,
    /// `fp16` (default), `fp32` or `int8`.
    #[serde(default)]
    pub precision: PrecisionName,
    /// TensorRT's int8 calibration cache for this model (required with `int8`).
    #[serde(default)]
    pub int8_calibration_table: Option<String>,
    /// TensorRT's workspace limit in MiB (default: TensorRT's).
    #[serde(default)]
    pub workspace_mb: Option<u64>,
    /// Folder of built engines, one subfolder per model, TensorRT version, GPU and precision.
    #[serde(default = "d_cache")]
    pub engine_cache: String,
    /// Run on CUDA when TensorRT does not load (default true; said so at start).
    #[serde(default = "yes")]
    pub cuda_fallback: bool,
    /// Threads for what runs on the CPU (0: ONNX Runtime decides).
    #[serde(default)]
    pub intra_threads: usize,
}

impl Default for TensorrtTable {
    fn default() -> Self {
        TensorrtTable {
            library: None,
            device_id: 0,
            precision: PrecisionName::Fp16,
            int8_calibration_table: None,
            workspace_mb: None,
            engine_cache: d_cache(),
            cuda_fallback: true,
            intra_threads: 0,
        }
    }
}

impl TensorrtTable {
    /// The backend's options.
    pub fn options(&self) -> TensorrtOptions {
        TensorrtOptions {
            ort: OrtOptions {
                library: self.library.as_ref().map(PathBuf::from),
                intra_threads: self.intra_threads,
                ..OrtOptions::default()
            },
            device_id: self.device_id,
            precision: match self.precision {
                PrecisionName::Fp32 => Precision::Fp32,
                PrecisionName::Fp16 => Precision::Fp16,
                PrecisionName::Int8 => Precision::Int8,
            },
            int8_calibration_table: self.int8_calibration_table.as_ref().map(PathBuf::from),
            workspace_bytes: self.workspace_mb.map(|mb| (mb as usize) << 20),
            engine_cache: Some(PathBuf::from(&self.engine_cache)),
            cuda_fallback: self.cuda_fallback,
        }
    }
}

/// TensorRT as a detect backend.
pub struct Tensorrt;

impl DetectBackend for Tensorrt {
    const NAME: &'static str = "tensorrt";
    const RUNTIME: &'static str = "TensorRT (ONNX Runtime's provider)";
    const INFO: StageInfo = StageInfo {
        type_name: "detect",
        variant: Some(Variant {
            key: "backend",
            value: "tensorrt",
        }),
        summary: "NVIDIA GPUs through ONNX Runtime's TensorRT provider (CUDA as fallback), the ONNX models of `ort`, engines cached",
        example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "tensorrt"
model = "assets/models/yolov3-tiny-416.onnx"
family = "yolo"
labels = "assets/models/coco.names"
classes = ["person"]
tensorrt = { precision = "fp16", engine_cache = ".edgeflow/tensorrt-engines", workspace_mb = 1024 }

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
    };
    const MODEL: ModelFile = ModelFile::Required(ModelFormat::Onnx);

    fn validate(cfg: &DetectConfig, inv: &mut Invalid) {
        let Some(table) = &cfg.tensorrt else { return };
        if let Err((field, message, help)) =
            edgeflow_backend_tensorrt::check_options(&table.options())
        {
            inv.field(&format!("tensorrt.{field}"), message, Some(help));
        }
        if table.workspace_mb == Some(0) {
            inv.field(
                "tensorrt.workspace_mb",
                "0 MiB leaves TensorRT no room to build an engine",
                Some("leave it out (TensorRT's default) or give e.g. 1024".into()),
            );
        }
    }

    fn status() -> Result<String, String> {
        edgeflow_backend_tensorrt::probe(&TensorrtTable::default().options())
    }

    fn probe(cfg: &DetectConfig) -> Result<String, String> {
        edgeflow_backend_tensorrt::probe(&cfg.tensorrt.clone().unwrap_or_default().options())
    }

    fn load(
        cfg: &DetectConfig,
        model: Option<&Path>,
        ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        let model =
            model.ok_or_else(|| BuildError::new("`backend = \"tensorrt\"` needs `model`"))?;
        let table = cfg.tensorrt.clone().unwrap_or_default();
        let mut options = table.options();
        options.engine_cache = options.engine_cache.map(|c| ctx.base_dir.join(c));
        let loaded = edgeflow_backend_tensorrt::load(model, &options).map_err(|e| {
            super::load_error(
                e,
                "tensorrt",
                table.library.is_some(),
                "check that `model` is an ONNX file TensorRT takes",
            )
        })?;
        ctx.note(loaded.summary());
        Ok(Box::new(loaded.backend))
    }
}
