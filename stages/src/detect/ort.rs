//! `backend = "ort"`: ONNX Runtime on the CPU, with the YOLO and BlazeFace families.

use std::path::{Path, PathBuf};

use edgeflow_backend::{Backend, Tensor};
use edgeflow_backend_ort::{Optimization, OrtBackend, OrtOptions};
use edgeflow_core::{
    BBox, BuildCtx, BuildError, Changed, Detection, Detections, Emit, Frame, Invalid, Reconfigure,
    Report, StageError, StageInfo, Transform, Variant,
};
use fast_image_resize::Resizer;
use serde::Deserialize;

use super::families::{Contract, Family, nms, weighted_nms};
use super::preprocess::{Placement, Resize, prepare};

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
intra_threads = 2

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

/// The ONNX Runtime detect stage.
pub struct OrtDetect {
    model: PathBuf,
    family: Family,
    backend: OrtBackend,
    contract: Contract,
    labels: Vec<std::sync::Arc<str>>,
    keep: Vec<bool>,
    threshold: f32,
    nms_iou: f32,
    max: usize,
    resize: Resize,
    every: u64,
    resizer: Resizer,
    weighted: bool,
    batch: usize,
    /// Frames waiting for a batch, in arrival order; `false` = not analysed (`every_nth_frame`).
    pending: Vec<(Frame, bool)>,
}

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

fn default_nms_iou(family: Family) -> f32 {
    match family {
        Family::Yolo => 0.45,
        Family::Blazeface => 0.3,
    }
}

/// Which of the model's labels pass `classes` (all when `None`); a class the model does not
/// know is an error that lists the labels.
fn class_filter(labels: &[String], classes: Option<&[String]>) -> Result<Vec<bool>, BuildError> {
    if let Some(classes) = classes {
        for c in classes {
            if !labels.contains(c) {
                return Err(BuildError::new(format!(
                    "`classes` names `{c}`, which is not in the model's labels"
                ))
                .with_help(format!(
                    "labels include: {}",
                    labels
                        .iter()
                        .take(12)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    Ok(labels
        .iter()
        .map(|l| classes.is_none_or(|c| c.contains(l)))
        .collect())
}

impl Transform for OrtDetect {
    type Config = OrtDetectConfig;
    type In = Frame;
    type Out = Detections;

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
        let keep = class_filter(&labels, cfg.classes.as_deref())?;
        let model = PathBuf::from(&cfg.model);
        if !model.is_file() {
            return Err(BuildError::new(format!("no such model file: {}", model.display()))
                .with_help("run scripts/setup.sh (it fetches and converts the models into assets/models/), or fix `model`"));
        }
        let options = OrtOptions {
            library: cfg.library.as_ref().map(PathBuf::from),
            intra_threads: cfg.intra_threads,
            inter_threads: cfg.inter_threads,
            optimization: match cfg.optimization {
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
        let contract = cfg.family.check(backend.inputs(), backend.outputs(), labels.len()).map_err(|m| {
            let help = super::families::suggest(backend.inputs(), backend.outputs()).unwrap_or_else(|| {
                "check `model` and `family` (and `labels`: one line per class, in the model's order)".to_string()
            });
            BuildError::new(format!(
                "{} does not fit family `{}`: expected {}; the file has {}",
                model.display(),
                cfg.family.name(),
                m.expected,
                m.found
            ))
            .with_help(help)
        })?;
        let fixed_batch = backend
            .inputs()
            .first()
            .and_then(|i| i.shape.first().copied().flatten());
        if cfg.batch > 1 && fixed_batch.is_some_and(|b| b != cfg.batch) {
            return Err(BuildError::new(format!(
                "`batch = {}` needs a model with a dynamic batch dimension; {} has a fixed batch of {}",
                cfg.batch,
                model.display(),
                fixed_batch.unwrap_or(1)
            ))
            .with_help("set `batch = 1`, or export the model with a dynamic first dimension (scripts/darknet2onnx.py --dynamic-batch)"));
        }
        ctx.note(format!(
            "model {} ({}, {}×{} input, {} classes) on ONNX Runtime",
            model.display(),
            cfg.family.name(),
            contract.width,
            contract.height,
            labels.len()
        ));
        Ok(OrtDetect {
            model,
            family: cfg.family,
            backend,
            nms_iou: cfg.nms_iou.unwrap_or(default_nms_iou(cfg.family)),
            contract,
            labels: labels.into_iter().map(Into::into).collect(),
            keep,
            threshold: cfg.score_threshold,
            max: cfg.max_detections,
            resize: cfg.resize,
            every: u64::from(cfg.every_nth_frame),
            resizer: Resizer::new(),
            weighted: cfg.family == Family::Blazeface,
            batch: cfg.batch,
            pending: Vec::new(),
        })
    }

    /// The filters after the model apply in place (score threshold, classes, NMS overlap,
    /// maximum detections, frame sampling); anything else reloads the model.
    fn reconfigure(
        &mut self,
        cfg: &OrtDetectConfig,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        const IN_PLACE: [&str; 5] = [
            "score_threshold",
            "classes",
            "every_nth_frame",
            "nms_iou",
            "max_detections",
        ];
        // Frames waiting for a batch were taken under the old filters: a rebuild runs them
        // under those (the old stage's `finish`) before the new ones apply.
        if !changed.only(&IN_PLACE) || !self.pending.is_empty() {
            return Ok(Reconfigure::Rebuild);
        }
        let labels: Vec<String> = self.labels.iter().map(|l| l.to_string()).collect();
        self.keep = class_filter(&labels, cfg.classes.as_deref())?;
        self.threshold = cfg.score_threshold;
        self.every = u64::from(cfg.every_nth_frame);
        self.max = cfg.max_detections;
        self.nms_iou = cfg.nms_iou.unwrap_or(default_nms_iou(self.family));
        Ok(Reconfigure::Applied)
    }

    fn report(&self, report: &mut Report) {
        report
            .set("backend", "ort")
            .set("model", self.model.display().to_string())
            .set("family", self.family.name())
            .set("score_threshold", f64::from(self.threshold))
            .set("every_nth_frame", self.every)
            .set("batch", self.batch as u64);
    }

    fn process(&mut self, frame: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        let analyse = frame.meta.seq.is_multiple_of(self.every);
        self.pending.push((frame, analyse));
        if self.pending.iter().filter(|(_, a)| *a).count() >= self.batch {
            self.flush(out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.flush(out)
    }
}

impl OrtDetect {
    /// Run every waiting frame that is to be analysed in one batch, and emit all waiting
    /// frames' results in arrival order.
    fn flush(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        let pending = std::mem::take(&mut self.pending);
        let c = &self.contract;
        let mut data = Vec::new();
        let mut shape = Vec::new();
        let mut places = Vec::new();
        for (frame, analyse) in &pending {
            if !analyse {
                continue;
            }
            let (tensor, place) = prepare(
                frame,
                c.width,
                c.height,
                c.layout,
                self.resize,
                c.norm,
                &mut self.resizer,
            )
            .map_err(StageError::transient)?;
            data.extend_from_slice(&tensor.to_f32());
            shape = tensor.shape;
            places.push(place);
        }
        let n = places.len();
        let mut per_item: Vec<Vec<Tensor>> = Vec::new();
        if n > 0 {
            shape[0] = n;
            let input = Tensor::f32(shape, data).with_layout(c.layout);
            let outputs = self
                .backend
                .run(std::slice::from_ref(&input))
                .map_err(StageError::transient)?;
            // Split every output along the batch dimension.
            per_item = (0..n)
                .map(|i| {
                    outputs
                        .iter()
                        .map(|t| {
                            t.batch_item(i, n).ok_or_else(|| {
                                StageError::transient(format!(
                                    "an output of shape {:?} does not split into {n} frames",
                                    t.shape
                                ))
                            })
                        })
                        .collect::<Result<Vec<Tensor>, StageError>>()
                })
                .collect::<Result<_, _>>()?;
        }
        let mut results = per_item.into_iter().zip(places);
        for (frame, analyse) in pending {
            if !analyse {
                out.push(Detections::skipped(&frame));
                continue;
            }
            let Some((outputs, place)) = results.next() else {
                break;
            };
            out.push(self.detections(frame, &outputs, place));
        }
        Ok(())
    }

    fn detections(&self, frame: Frame, outputs: &[Tensor], place: Placement) -> Detections {
        let c = &self.contract;
        let keep = &self.keep;
        let candidates = c
            .decoder
            .decode(outputs, (c.width, c.height), self.threshold, &|k| {
                keep.get(k).copied().unwrap_or(false)
            });
        let kept = if self.weighted {
            weighted_nms(candidates, self.nms_iou, self.max)
        } else {
            nms(candidates, self.nms_iou, self.max)
        };
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let detections = kept
            .into_iter()
            .map(|cand| {
                let (x1, y1) = place.to_frame(cand.bbox[0], cand.bbox[1]);
                let (x2, y2) = place.to_frame(cand.bbox[2], cand.bbox[3]);
                let (x1, y1, x2, y2) = (
                    x1.clamp(0.0, fw),
                    y1.clamp(0.0, fh),
                    x2.clamp(0.0, fw),
                    y2.clamp(0.0, fh),
                );
                Detection {
                    class_id: cand.class as u32,
                    label: self
                        .labels
                        .get(cand.class)
                        .cloned()
                        .unwrap_or_else(|| "?".into()),
                    score: cand.score,
                    bbox: BBox {
                        x: x1 / fw,
                        y: y1 / fh,
                        width: (x2 - x1) / fw,
                        height: (y2 - y1) / fh,
                    },
                    keypoints: cand
                        .keypoints
                        .iter()
                        .map(|k| {
                            let (x, y) = place.to_frame(k[0], k[1]);
                            [x / fw, y / fh]
                        })
                        .collect(),
                }
            })
            .collect();
        Detections {
            frame_width: frame.width,
            frame_height: frame.height,
            detections,
            skipped: false,
            meta: frame.meta,
        }
    }
}
