//! `backend = "hailo"`: Hailo-8 through HailoRT, with `.hef` models (`model = { hef = "..." }`);
//! the on-chip NMS gives decoded detections, so `family` is only for HEFs with raw outputs.

use std::path::{Path, PathBuf};

use edgeflow_backend::Backend;
use edgeflow_backend_hailo::{HailoBackend, HailoOptions};
use edgeflow_core::{BuildCtx, BuildError, Invalid, StageInfo, Variant};
use serde::Deserialize;

use super::{DetectBackend, DetectConfig, ModelFile, ModelFormat};

fn d_timeout() -> u32 {
    10_000
}

/// `hailo = { ... }`: the options only HailoRT has.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HailoTable {
    /// Path to `libhailort.so` (default: EDGEFLOW_HAILO_LIBRARY, /usr/lib, the loader's path).
    #[serde(default)]
    pub library: Option<String>,
    /// How long a frame may wait for the device, in milliseconds (default 10000).
    #[serde(default = "d_timeout")]
    pub timeout_ms: u32,
}

impl Default for HailoTable {
    fn default() -> Self {
        HailoTable {
            library: None,
            timeout_ms: d_timeout(),
        }
    }
}

/// HailoRT as a detect backend.
pub struct Hailo;

fn library(cfg: &DetectConfig) -> Option<PathBuf> {
    cfg.hailo.as_ref()?.library.as_ref().map(PathBuf::from)
}

impl DetectBackend for Hailo {
    const NAME: &'static str = "hailo";
    const RUNTIME: &'static str = "Hailo-8 (HailoRT)";
    const INFO: StageInfo = StageInfo {
        type_name: "detect",
        variant: Some(Variant {
            key: "backend",
            value: "hailo",
        }),
        summary: "Hailo-8 through HailoRT: .hef models, the on-chip NMS as decoded detections",
        example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "hailo"
model = { hef = "assets/models/yolov5s-hailo8.hef" }   # Hailo Model Zoo, with NMS
labels = "assets/models/coco.names"
classes = ["person"]
hailo = { timeout_ms = 10000 }

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
    };
    const MODEL: ModelFile = ModelFile::Required(ModelFormat::Hef);

    fn validate(cfg: &DetectConfig, inv: &mut Invalid) {
        if cfg.hailo.as_ref().is_some_and(|t| t.timeout_ms == 0) {
            inv.field(
                "hailo.timeout_ms",
                "0 ms: every frame would time out",
                Some("leave it out (10000) or give the longest a frame may take".into()),
            );
        }
    }

    fn status() -> Result<String, String> {
        edgeflow_backend_hailo::probe(None)
    }

    fn probe(cfg: &DetectConfig) -> Result<String, String> {
        edgeflow_backend_hailo::probe(library(cfg).as_deref())
    }

    fn load(
        cfg: &DetectConfig,
        model: Option<&Path>,
        ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        let model = model.ok_or_else(|| BuildError::new("`backend = \"hailo\"` needs `model`"))?;
        let table = cfg.hailo.clone().unwrap_or_default();
        let options = HailoOptions {
            library: library(cfg),
            timeout_ms: table.timeout_ms,
        };
        let backend = HailoBackend::load(model, &options).map_err(|e| {
            super::load_error(
                e,
                "hailo",
                options.library.is_some(),
                ModelFormat::Hef.convert_help(),
            )
        })?;
        ctx.note(format!(
            "HailoRT {} from {}",
            backend.library_version(),
            backend.library_path().display()
        ));
        Ok(Box::new(backend))
    }
}
