//! `backend = "auto"` (the default): the best backend compiled into this binary that finds
//! its library and device, in [`PREFERENCE`](super::backends::PREFERENCE) order (TensorRT,
//! Hailo, RKNN, then ONNX Runtime on the CPU), with the model variant in its format. The
//! choice and the reasons for passing over the others are a build note, so `validate --deep`
//! and the log at start say what runs and why.

use edgeflow_core::{BuildCtx, BuildError, Invalid, StageInfo, Variant};

use super::backends::{self, Built};
use super::variants::{MissingVariant, ModelPath};
use super::{DetectBackend, DetectConfig, ModelFile, Opened};

/// `backend = "auto"`.
pub struct Auto;

/// One backend `auto` considered: its name, its probe, the format it runs.
#[derive(Clone, Debug)]
pub struct Candidate {
    /// `backend = "..."` name.
    pub name: &'static str,
    /// The device it found, or why not.
    pub probe: Result<String, String>,
    /// The model file it runs.
    pub model: ModelFile,
}

/// What `auto` decided: the backend (index into the candidates) and the sentence saying
/// why, or an error when the backend found has no model variant.
#[derive(Debug)]
pub struct Choice {
    /// Index of the chosen candidate.
    pub index: usize,
    /// Which backend, which device, which model file, and why the ones before it were
    /// passed over.
    pub reason: String,
}

/// Choose among `candidates` (in preference order) for `model`. The first whose probe
/// succeeds is chosen; if `model` has no file in its format, that is an error naming the key
/// to add (a board with an accelerator does not quietly run on the CPU).
pub fn choose(candidates: &[Candidate], model: &ModelPath) -> Result<Choice, BuildError> {
    let mut passed = Vec::new();
    for (index, c) in candidates.iter().enumerate() {
        let found = match &c.probe {
            Ok(found) => found,
            Err(why) => {
                passed.push(format!("`{}`: {why}", c.name));
                continue;
            }
        };
        let file = match c.model {
            ModelFile::Required(format) => match model.pick(format) {
                Ok(file) => format!("model variant `{format}` = {file}"),
                Err(miss) => return Err(missing(c.name, found, &miss, &passed)),
            },
            ModelFile::Any | ModelFile::None => "no model file".to_string(),
        };
        let mut reason = format!("backend `auto` chose `{}` ({found}), {file}", c.name);
        if !passed.is_empty() {
            reason.push_str(&format!("; passed over {}", passed.join("; ")));
        }
        return Ok(Choice { index, reason });
    }
    Err(BuildError::new(format!(
        "`backend = \"auto\"` found no backend that runs here: {}",
        passed.join("; ")
    ))
    .with_help("run scripts/setup.sh for ONNX Runtime on the CPU, or name a backend with `backend = \"...\"` (`edgeflow list-backends` shows what this build has)")
    .at("backend"))
}

fn missing(name: &str, found: &str, miss: &MissingVariant, passed: &[String]) -> BuildError {
    let mut help = miss.help();
    help.push_str(&format!(
        "; or set `backend = \"ort\"` to run the ONNX model on the CPU{}",
        if passed.is_empty() {
            String::new()
        } else {
            format!(" (passed over before `{name}`: {})", passed.join("; "))
        }
    ));
    BuildError::new(format!(
        "backend `auto` chose `{name}` ({found}), but {}",
        miss.message(name)
            .split_once(", and ")
            .map_or_else(|| miss.message(name), |(_, rest)| rest.to_string())
    ))
    .with_help(help)
    .at("model")
}

fn candidates(cfg: &DetectConfig) -> (Vec<Built>, Vec<Candidate>) {
    let built = backends::candidates();
    let probed = built
        .iter()
        .map(|b| Candidate {
            name: b.name,
            probe: (b.probe)(cfg),
            model: b.model,
        })
        .collect();
    (built, probed)
}

/// What `auto` would choose for `cfg` on this machine (for `edgeflow list-backends`).
pub fn would_choose(cfg: &DetectConfig) -> Result<String, String> {
    let model = cfg
        .model
        .clone()
        .unwrap_or(ModelPath::One("model.onnx".into()));
    let (_, probed) = candidates(cfg);
    choose(&probed, &model)
        .map(|c| c.reason)
        .map_err(|e| e.message)
}

impl DetectBackend for Auto {
    const NAME: &'static str = "auto";
    const RUNTIME: &'static str = "the best backend found";
    const INFO: StageInfo = StageInfo {
        type_name: "detect",
        variant: Some(Variant {
            key: "backend",
            value: "auto",
        }),
        summary: "the default: the best backend of this build that finds its device (TensorRT, Hailo, RKNN, then the CPU), with the model variant in its format",
        example: r#"[stages.cam]
type = "capture"
source = "test_pattern"
count = 10

[stages.det]
type = "detect"
inputs = ["cam"]
# backend = "auto" is the default: one file for every board
model = { onnx = "assets/models/yolov3-tiny-416.onnx", hef = "assets/models/yolov5s-hailo8.hef", rknn = "assets/models/yolov3-tiny-416-rk3588.rknn" }
family = "yolo"                       # the raw outputs of the onnx and rknn files
labels = "assets/models/coco.names"
classes = ["person"]
ort = { intra_threads = 2 }           # each backend reads its own table
rknn = { core_mask = "all" }

[stages.out]
type = "publish"
inputs = ["det"]
sink = "jsonl"
"#,
    };
    const MODEL: ModelFile = ModelFile::Any;

    fn status() -> Result<String, String> {
        would_choose(&DetectConfig::default())
    }

    /// Each backend `auto` may choose checks its own options table.
    fn validate(cfg: &DetectConfig, inv: &mut Invalid) {
        for b in backends::candidates() {
            (b.validate)(cfg, inv);
        }
    }

    fn probe(_cfg: &DetectConfig) -> Result<String, String> {
        Err("`auto` is not a backend of its own".into())
    }

    fn open(cfg: &DetectConfig, ctx: &BuildCtx) -> Result<Opened, BuildError> {
        let model = cfg
            .model
            .as_ref()
            .ok_or_else(|| BuildError::new("`backend = \"auto\"` needs `model`").at("model"))?;
        let (built, probed) = candidates(cfg);
        let choice = choose(&probed, model)?;
        ctx.note(choice.reason);
        let b = &built[choice.index];
        (b.open)(cfg, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::ModelFormat;

    fn c(name: &'static str, probe: Result<&str, &str>, format: ModelFormat) -> Candidate {
        Candidate {
            name,
            probe: probe.map(String::from).map_err(String::from),
            model: ModelFile::Required(format),
        }
    }

    fn board(hailo: Result<&str, &str>) -> Vec<Candidate> {
        vec![
            c("tensorrt", Err("not compiled"), ModelFormat::Onnx),
            c("hailo", hailo, ModelFormat::Hef),
            c("ort", Ok("the CPU"), ModelFormat::Onnx),
        ]
    }

    fn variants(text: &str) -> ModelPath {
        #[derive(serde::Deserialize)]
        struct D {
            model: ModelPath,
        }
        toml::from_str::<D>(text).unwrap().model
    }

    #[test]
    fn the_first_backend_that_finds_its_device_is_chosen() {
        let m = variants("model = { onnx = \"y.onnx\", hef = \"y.hef\" }");
        let chosen = choose(&board(Ok("Hailo-8 at 0000:01:00.0")), &m).unwrap();
        assert_eq!(chosen.index, 1);
        assert_eq!(
            chosen.reason,
            "backend `auto` chose `hailo` (Hailo-8 at 0000:01:00.0), model variant `hef` = y.hef; passed over `tensorrt`: not compiled"
        );
        let cpu = choose(&board(Err("no Hailo device")), &m).unwrap();
        assert_eq!(cpu.index, 2);
        assert!(
            cpu.reason
                .contains("chose `ort` (the CPU), model variant `onnx` = y.onnx")
        );
        assert!(
            cpu.reason.contains("`hailo`: no Hailo device"),
            "{}",
            cpu.reason
        );
    }

    #[test]
    fn a_board_without_its_variant_is_told_the_key_to_add() {
        let m = variants("model = \"y.onnx\"");
        let e = choose(&board(Ok("Hailo-8")), &m).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("model"));
        assert!(
            e.message
                .contains("chose `hailo` (Hailo-8), but `model` has none"),
            "{}",
            e.message
        );
        let help = e.help.unwrap();
        assert!(help.contains("add `hef = "), "{help}");
        assert!(help.contains("Dataflow Compiler"), "{help}");
        assert!(help.contains("backend = \"ort\""), "{help}");
    }

    #[test]
    fn nothing_that_runs_is_an_error_listing_each_reason() {
        let none = vec![
            c(
                "hailo",
                Err("libhailort.so.4.21.0 not found"),
                ModelFormat::Hef,
            ),
            c("ort", Err("cannot load ONNX Runtime"), ModelFormat::Onnx),
        ];
        let e = choose(&none, &variants("model = \"y.onnx\"")).unwrap_err();
        assert!(
            e.message
                .contains("`hailo`: libhailort.so.4.21.0 not found; `ort`: cannot load")
        );
        assert_eq!(e.field.as_deref(), Some("backend"));
    }
}
