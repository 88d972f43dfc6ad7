//! The detect stage's config: one shape for every backend. The options that only one
//! backend has live in a table named after it (`ort = { ... }`, `hailo = { ... }`), so one
//! file carries the options of several boards; a table is checked when its backend is in
//! this build, and otherwise read by nothing (with a warning saying so).

use edgeflow_core::{Invalid, Problem};
use serde::Deserialize;

use super::backends::{self, Known};
use super::families::Family;
use super::model::Filters;
use super::preprocess::Resize;
use super::variants::{ModelFormat, ModelPath};
use super::{DetectBackend, ModelFile};

fn d_max() -> usize {
    100
}
fn one() -> u32 {
    1
}
/// Default `batch_timeout_ms`: about half a frame at 25 fps.
fn d_batch_timeout_ms() -> u64 {
    20
}

fn one_usize() -> usize {
    1
}

/// How to get a missing file: the ones `scripts/setup.sh` fetches, or the user's own.
fn missing_help(path: &str) -> String {
    if path.starts_with("assets/") {
        "run scripts/setup.sh: it fetches and converts the project's models into assets/".into()
    } else {
        "check the path (a relative path is relative to the directory edgeflow runs in)".into()
    }
}

/// Config of `type = "detect"` (the `backend` key itself belongs to the registry).
#[derive(Clone, Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// The model file, or one per format (`{ onnx = "...", hef = "...", rknn = "..." }`) so
    /// each board's backend takes its own (backends that run one).
    #[serde(default)]
    pub model: Option<ModelPath>,
    /// `yolo` or `blazeface`; leave out for a backend that decodes its own detections.
    #[serde(default)]
    pub family: Option<Family>,
    /// Labels file, one per line, in class order (default: the labels the model carries).
    #[serde(default)]
    pub labels: Option<String>,
    /// Keep only these labels (default: all).
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Drop detections scoring below this (default: the backend's, 0.4 for models).
    #[serde(default)]
    pub score_threshold: Option<f32>,
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
    /// With `batch` > 1: run a partial batch when its first frame has waited this long
    /// (milliseconds), so a slow stream does not wait for frames that come seconds later.
    #[serde(default = "d_batch_timeout_ms")]
    pub batch_timeout_ms: u64,
    /// ONNX Runtime's options (`ort = { intra_threads = 2 }`).
    #[serde(default)]
    #[cfg_attr(
        not(feature = "ort"),
        schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")
    )]
    pub ort: Option<backends::OrtTable>,
    /// TensorRT's options (`tensorrt = { fp16 = true }`; read by builds with the `tensorrt` backend).
    #[serde(default)]
    #[cfg_attr(
        not(feature = "tensorrt"),
        schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")
    )]
    pub tensorrt: Option<backends::TensorrtTable>,
    /// HailoRT's options (read by builds with the `hailo` backend).
    #[serde(default)]
    #[cfg_attr(
        not(feature = "hailo"),
        schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")
    )]
    pub hailo: Option<backends::HailoTable>,
    /// RKNN's options (`rknn = { core_mask = "all" }`; read by builds with the `rknn` backend).
    #[serde(default)]
    #[cfg_attr(
        not(feature = "rknn"),
        schemars(with = "Option<std::collections::BTreeMap<String, serde_json::Value>>")
    )]
    pub rknn: Option<backends::RknnTable>,
}

impl Default for DetectConfig {
    /// Every option at its default (no model).
    fn default() -> Self {
        DetectConfig {
            model: None,
            family: None,
            labels: None,
            classes: None,
            score_threshold: None,
            nms_iou: None,
            max_detections: d_max(),
            resize: Resize::default(),
            every_nth_frame: one(),
            batch: one_usize(),
            batch_timeout_ms: d_batch_timeout_ms(),
            ort: None,
            tensorrt: None,
            hailo: None,
            rknn: None,
        }
    }
}

impl DetectConfig {
    /// `model`, `family` and `labels` against what backend `B` runs.
    pub(crate) fn validate_model<B: DetectBackend>(&self, inv: &mut Invalid) {
        match B::MODEL {
            ModelFile::Required(_) | ModelFile::Any => {
                if self.model.is_none() {
                    inv.field(
                        "model",
                        format!("`backend = \"{}\"` needs a model file", B::NAME),
                        Some("add `model = \"assets/models/yolov3-tiny-416.onnx\"` (scripts/setup.sh fetches it)".into()),
                    );
                }
                // A .hef with the on-chip NMS decodes its own detections; other files give
                // the raw outputs of their family.
                let raw = self
                    .model
                    .as_ref()
                    .is_none_or(|m| m.files().iter().any(|(f, _)| *f != ModelFormat::Hef));
                if self.family.is_none() && raw {
                    inv.field(
                        "family",
                        format!("`backend = \"{}\"` needs the model's family", B::NAME),
                        Some("add `family = \"yolo\"` or `family = \"blazeface\"`".into()),
                    );
                }
                if self.family == Some(Family::Yolo) && self.labels.is_none() {
                    inv.field(
                        "family",
                        "`yolo` needs a labels file",
                        Some(
                            "add `labels = \"assets/models/coco.names\"` (one label per line)"
                                .into(),
                        ),
                    );
                }
                self.validate_files::<B>(inv);
            }
            ModelFile::None => {
                for (key, set) in [
                    ("model", self.model.is_some()),
                    ("family", self.family.is_some()),
                    ("labels", self.labels.is_some()),
                ] {
                    if set {
                        inv.field(
                            key,
                            format!("`backend = \"{}\"` runs no model file", B::NAME),
                            Some(format!("remove `{key}`")),
                        );
                    }
                }
            }
        }
    }

    /// The model files `B` may load: its own format's variant (a missing variant names the
    /// key to add); for `auto`, every variant a backend of this build runs, of which at least
    /// one must be there (the one chosen is checked when the stage is built).
    fn validate_model_files<B: DetectBackend>(&self, inv: &mut Invalid) {
        let Some(m) = &self.model else { return };
        let missing = |p: &str| !std::path::Path::new(p).is_file();
        match B::MODEL {
            ModelFile::Required(format) => match m.pick(format) {
                Err(miss) => {
                    inv.field("model", miss.message(B::NAME), Some(miss.help()));
                }
                Ok(p) if missing(p) => {
                    inv.field(
                        "model",
                        format!("no such model file: {p}"),
                        Some(missing_help(p)),
                    );
                }
                Ok(_) => {}
            },
            ModelFile::Any => {
                let runnable = backends::formats();
                let files: Vec<(ModelFormat, &str)> = m
                    .files()
                    .into_iter()
                    .filter(|(f, _)| runnable.contains(f))
                    .collect();
                if files.is_empty() {
                    let keys: Vec<String> = runnable.iter().map(|f| format!("`{f}`")).collect();
                    inv.field(
                        "model",
                        "no model this build's backends run",
                        Some(format!(
                            "this build runs {}: add one of them to `model`",
                            keys.join(", ")
                        )),
                    );
                } else if files.iter().all(|(_, p)| missing(p)) {
                    let names: Vec<&str> = files.iter().map(|(_, p)| *p).collect();
                    inv.field(
                        "model",
                        format!("no such model file: {}", names.join(", ")),
                        Some(missing_help(names[0])),
                    );
                }
            }
            ModelFile::None => {}
        }
    }

    /// What costs nothing to check before a run (local files only): the model file is
    /// there, the labels file reads, and `classes` are among its labels.
    fn validate_files<B: DetectBackend>(&self, inv: &mut Invalid) {
        self.validate_model_files::<B>(inv);
        let Some(path) = &self.labels else { return };
        match std::fs::read_to_string(path) {
            Err(e) => {
                inv.field(
                    "labels",
                    format!("cannot read the labels file {path}: {e}"),
                    Some(missing_help(path)),
                );
            }
            Ok(text) => {
                let labels: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                for c in self.classes.iter().flatten() {
                    if !labels.contains(&c.as_str()) {
                        let hint = edgeflow_core::config::did_you_mean(c, labels.iter().copied())
                            .map_or_else(
                                || format!("`classes` takes labels from {path}"),
                                |l| format!("did you mean `{l}`?"),
                            );
                        inv.field(
                            "classes",
                            format!("`{c}` is not a label in {path}"),
                            Some(hint),
                        );
                    }
                }
            }
        }
    }

    /// The filters' ranges, for every backend.
    pub(crate) fn validate_filters(&self, inv: &mut Invalid) {
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        if let Some(t) = self.score_threshold.filter(|t| !unit(*t)) {
            inv.field(
                "score_threshold",
                format!("{t} is not in 0..1"),
                Some("use a value between 0 and 1".into()),
            );
        }
        if self.nms_iou.is_some_and(|v| !unit(v)) {
            inv.field(
                "nms_iou",
                "not in 0..1",
                Some("use a value between 0 and 1 (0.45 is usual)".into()),
            );
        }
        if self.every_nth_frame == 0 {
            inv.field(
                "every_nth_frame",
                "0 would skip every frame",
                Some("use 1 to analyse every frame".into()),
            );
        }
        if self.batch_timeout_ms > 10_000 {
            inv.field(
                "batch_timeout_ms",
                format!("{} ms would hold frames for seconds", self.batch_timeout_ms),
                Some("a few frame intervals at most, e.g. 40 for 25 fps (default 20)".into()),
            );
        }
        if self.batch == 0 {
            inv.field(
                "batch",
                "0 frames per run",
                Some("use 1 (no batching) or more".into()),
            );
        }
        if self.max_detections == 0 {
            inv.field(
                "max_detections",
                "0 would drop every detection",
                Some("use at least 1 (default 100)".into()),
            );
        }
    }

    /// The filters after the model, with `B`'s default threshold.
    pub(crate) fn filters<B: DetectBackend>(&self) -> Filters {
        self.filters_with(B::DEFAULT_SCORE_THRESHOLD)
    }

    /// The filters after the model, with `default_threshold` when `score_threshold` is unset.
    pub(crate) fn filters_with(&self, default_threshold: f32) -> Filters {
        Filters {
            batch_timeout: std::time::Duration::from_millis(self.batch_timeout_ms),
            classes: self.classes.clone(),
            score_threshold: self.score_threshold.unwrap_or(default_threshold),
            nms_iou: self.nms_iou,
            max_detections: self.max_detections,
            every_nth_frame: self.every_nth_frame,
        }
    }

    /// Which backends' tables the file carries.
    fn tables(&self) -> [(&'static str, bool); 4] {
        [
            ("ort", self.ort.is_some()),
            ("tensorrt", self.tensorrt.is_some()),
            ("hailo", self.hailo.is_some()),
            ("rknn", self.rknn.is_some()),
        ]
    }

    /// A warning for every options table whose backend this build lacks.
    pub(crate) fn notes(&self) -> Vec<Problem> {
        self.tables()
            .into_iter()
            .filter(|(_, present)| *present)
            .filter_map(|(name, _)| match backends::known(name) {
                Some(Known::Compiled) | None => None,
                Some(Known::NotCompiled { feature }) => Some(Problem {
                    field: Some(name.to_string()),
                    message: format!(
                        "not read: this build has no `{name}` backend, so its options are ignored"
                    ),
                    help: Some(format!(
                        "builds with `--features {feature}` check and use this table"
                    )),
                }),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::testing::config_from_toml;

    #[test]
    fn tables_of_backends_this_build_lacks_get_a_note_each() {
        let cfg: DetectConfig = config_from_toml("ort = {}\nhailo = {}\nrknn = {}").unwrap();
        let noted: Vec<String> = cfg.notes().into_iter().filter_map(|p| p.field).collect();
        let want: Vec<&str> = [
            ("ort", cfg!(feature = "ort")),
            ("hailo", cfg!(feature = "hailo")),
            ("rknn", cfg!(feature = "rknn")),
        ]
        .into_iter()
        .filter(|(_, built)| !built)
        .map(|(n, _)| n)
        .collect();
        assert_eq!(noted, want);
        let plain: DetectConfig = config_from_toml("").unwrap();
        assert!(plain.notes().is_empty());
    }

    /// A batch wait of seconds is refused at its field; the default passes.
    #[test]
    fn a_batch_timeout_of_seconds_is_refused() {
        let fields = |text: &str| {
            let cfg: DetectConfig = config_from_toml(text).unwrap();
            let mut inv = Invalid::new();
            cfg.validate_filters(&mut inv);
            inv.into_result()
                .err()
                .map(|e| {
                    e.problems
                        .into_iter()
                        .filter_map(|p| p.field)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert_eq!(
            fields("batch = 4\nbatch_timeout_ms = 20000"),
            ["batch_timeout_ms"]
        );
        assert!(fields("batch = 4").is_empty());
        let cfg: DetectConfig = config_from_toml("").unwrap();
        assert_eq!(cfg.batch_timeout_ms, 20);
    }
}
