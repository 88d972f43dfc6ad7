//! `backend = "rknn"`: Rockchip's NPU (RK3588, RK3576, RK3566/68) through librknnrt, with
//! `.rknn` models (`model = { rknn = "..." }`) and the YOLO family's raw outputs in int8.

use std::path::{Path, PathBuf};

use edgeflow_backend::Backend;
use edgeflow_backend_rknn::{CoreMask, RknnBackend, RknnOptions};
use edgeflow_core::{BuildCtx, BuildError, StageInfo, Variant};
use serde::Deserialize;

use super::{DetectBackend, DetectConfig, ModelFile, ModelFormat};

/// Which NPU cores run the model, in configs.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
pub enum CoreMaskName {
    /// The runtime picks a core (default).
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Every core the chip has (RK3588: three).
    #[serde(rename = "all")]
    All,
    /// Core 0.
    #[serde(rename = "0")]
    Core0,
    /// Core 1.
    #[serde(rename = "1")]
    Core1,
    /// Core 2.
    #[serde(rename = "2")]
    Core2,
    /// Cores 0 and 1.
    #[serde(rename = "0_1")]
    Cores01,
    /// Cores 0, 1 and 2.
    #[serde(rename = "0_1_2")]
    Cores012,
}

impl CoreMaskName {
    fn mask(self) -> CoreMask {
        match self {
            CoreMaskName::Auto => CoreMask::Auto,
            CoreMaskName::All => CoreMask::All,
            CoreMaskName::Core0 => CoreMask::Cores(0b001),
            CoreMaskName::Core1 => CoreMask::Cores(0b010),
            CoreMaskName::Core2 => CoreMask::Cores(0b100),
            CoreMaskName::Cores01 => CoreMask::Cores(0b011),
            CoreMaskName::Cores012 => CoreMask::Cores(0b111),
        }
    }
}

fn yes() -> bool {
    true
}

/// `rknn = { ... }`: the options only the RKNN runtime has.
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RknnTable {
    /// Path to `librknnrt.so` (default: EDGEFLOW_RKNN_LIBRARY, /usr/lib, the loader's path).
    #[serde(default)]
    pub library: Option<String>,
    /// NPU cores: `auto` (default), `all`, `0`, `1`, `2`, `0_1`, `0_1_2`.
    #[serde(default)]
    pub core_mask: CoreMaskName,
    /// Input and outputs in NPU memory (`rknn_create_mem`), where the runtime has it.
    #[serde(default = "yes")]
    pub zero_copy: bool,
}

impl Default for RknnTable {
    fn default() -> Self {
        RknnTable {
            library: None,
            core_mask: CoreMaskName::Auto,
            zero_copy: true,
        }
    }
}

/// The RKNN runtime as a detect backend.
pub struct Rknn;

fn library(cfg: &DetectConfig) -> Option<PathBuf> {
    cfg.rknn.as_ref()?.library.as_ref().map(PathBuf::from)
}

impl DetectBackend for Rknn {
    const NAME: &'static str = "rknn";
    const RUNTIME: &'static str = "the Rockchip NPU (RKNN)";
    const INFO: StageInfo = StageInfo {
        type_name: "detect",
        variant: Some(Variant {
            key: "backend",
            value: "rknn",
        }),
        summary: "Rockchip's NPU (RK3588's three cores) through librknnrt: .rknn models of the YOLO family, int8 outputs",
        example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
backend = "rknn"
model = { rknn = "assets/models/yolov3-tiny-416-rk3588.rknn" }   # rknn-toolkit2's output
family = "yolo"
labels = "assets/models/coco.names"
classes = ["person"]
rknn = { core_mask = "all", zero_copy = true }

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
    };
    const MODEL: ModelFile = ModelFile::Required(ModelFormat::Rknn);

    fn status() -> Result<String, String> {
        edgeflow_backend_rknn::probe(None)
    }

    fn probe(cfg: &DetectConfig) -> Result<String, String> {
        edgeflow_backend_rknn::probe(library(cfg).as_deref())
    }

    fn load(
        cfg: &DetectConfig,
        model: Option<&Path>,
        ctx: &BuildCtx,
    ) -> Result<Box<dyn Backend>, BuildError> {
        let model = model.ok_or_else(|| BuildError::new("`backend = \"rknn\"` needs `model`"))?;
        let table = cfg.rknn.clone().unwrap_or_default();
        let options = RknnOptions {
            library: library(cfg),
            core_mask: table.core_mask.mask(),
            zero_copy: table.zero_copy,
        };
        let backend = RknnBackend::load(model, &options).map_err(|e| {
            let mask = matches!(&e, edgeflow_backend::BackendError::Runtime { message, .. } if message.contains("core mask"));
            let e = super::load_error(
                e,
                "rknn",
                options.library.is_some(),
                super::ModelFormat::Rknn.convert_help(),
            );
            if mask { e.at("rknn.core_mask") } else { e }
        })?;
        ctx.note(format!(
            "RKNN runtime {}{}",
            backend.versions,
            if backend.zero_copy() {
                ", zero-copy input and outputs"
            } else {
                ", copying input and outputs"
            }
        ));
        Ok(Box::new(backend))
    }
}
