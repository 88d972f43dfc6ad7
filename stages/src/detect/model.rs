//! The backend-neutral part of a detect stage: over any [`Backend`], the model family's
//! contract (checked when the stage is built), preprocessing, batching across streams, the
//! family's decoder, NMS, the class and score filters, and mapping boxes back to the frame.
//! A backend stage (`ort.rs`, later TensorRT, Hailo, RKNN) only loads its backend.

use std::path::PathBuf;
use std::sync::Arc;

use edgeflow_backend::{Backend, Tensor, TensorData};
use edgeflow_core::{
    BBox, BuildCtx, BuildError, Changed, Detection, Detections, Emit, Frame, Reconfigure, Report,
    StageError,
};
use fast_image_resize::Resizer;

use super::families::{Contract, Decoder, Family, decoding_backend, nms, weighted_nms};
use super::preprocess::{Placement, Resize, prepare_into};

/// The options every detect stage has, whatever its backend.
#[derive(Clone, Debug)]
pub struct ModelOptions {
    /// The model file (for messages and the report); `None` for a backend without one.
    pub model: Option<PathBuf>,
    /// The model family; `None` for a backend that decodes its own detections.
    pub family: Option<Family>,
    /// Class labels in class order (`None`: the labels the model carries).
    pub labels: Option<Vec<String>>,
    /// How frames are fitted into the input.
    pub resize: Resize,
    /// Frames run together.
    pub batch: usize,
    /// What is kept of the model's output (changes in place).
    pub filters: Filters,
}

/// The filters after the model: what a running stage changes without reloading it.
#[derive(Clone, Debug)]
pub struct Filters {
    /// How long the first frame of a partial batch waits for the rest.
    pub batch_timeout: std::time::Duration,
    /// Keep only these labels (`None`: all).
    pub classes: Option<Vec<String>>,
    /// Drop detections scoring below this.
    pub score_threshold: f32,
    /// Overlap above which NMS drops the weaker box (`None`: the family's default).
    pub nms_iou: Option<f32>,
    /// At most this many detections per frame.
    pub max_detections: usize,
    /// Analyse every n-th frame.
    pub every_nth_frame: u32,
}

/// A detect stage over any backend.
pub struct ModelDetect {
    backend: Box<dyn Backend>,
    /// The backend's name in configs (`ort`) and how messages name its runtime.
    backend_name: (&'static str, &'static str),
    model: Option<PathBuf>,
    family: Option<Family>,
    contract: Contract,
    labels: Vec<Arc<str>>,
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
    /// How long the first of them may wait.
    batch_timeout: std::time::Duration,
    /// When the first of them arrived.
    pending_since: Option<std::time::Instant>,
    /// Batches run short because their time was up.
    partial_batches: u64,
    /// The input tensor of the last run, reused while the batch keeps its shape.
    input: Option<Tensor>,
}

fn default_nms_iou(family: Option<Family>) -> f32 {
    match family {
        Some(Family::Yolo) | None => 0.45,
        Some(Family::Blazeface) => 0.3,
    }
}

/// Which of the model's labels pass `classes` (all when `None`); a class the model does not
/// know is an error that lists the labels.
fn class_filter<L: AsRef<str>>(
    labels: &[L],
    classes: Option<&[String]>,
) -> Result<Vec<bool>, BuildError> {
    let known = |c: &str| labels.iter().any(|l| l.as_ref() == c);
    if let Some(c) = classes.into_iter().flatten().find(|c| !known(c)) {
        return Err(BuildError::new(format!(
            "`classes` names `{c}`, which is not in the model's labels"
        ))
        .with_help(format!(
            "labels include: {}",
            labels
                .iter()
                .take(12)
                .map(AsRef::as_ref)
                .collect::<Vec<&str>>()
                .join(", ")
        ))
        .at("classes"));
    }
    Ok(labels
        .iter()
        .map(|l| classes.is_none_or(|c| c.iter().any(|x| x == l.as_ref())))
        .collect())
}

impl ModelDetect {
    /// Check `backend`'s model against the family's contract and the batch size, and make
    /// the stage. `name` is the backend's config name (`ort`) and `runtime` how messages call
    /// it (`ONNX Runtime`).
    pub fn new(
        backend: Box<dyn Backend>,
        (name, runtime): (&'static str, &'static str),
        o: ModelOptions,
        ctx: &BuildCtx,
    ) -> Result<Self, BuildError> {
        let what = match &o.model {
            Some(m) => m.display().to_string(),
            None => format!("the {name} backend's model"),
        };
        let labels: Vec<String> = match (o.labels, backend.labels(), o.family) {
            (Some(l), _, _) => l,
            (None, Some(l), _) => l.to_vec(),
            (None, None, Some(Family::Blazeface)) => vec!["face".to_string()],
            (None, None, _) => {
                return Err(BuildError::new(format!("{what} carries no labels"))
                    .with_help(
                        "add `labels = \"...\"`: a file with one label per line, in class order",
                    )
                    .at("backend"));
            }
        };
        let keep = class_filter(&labels, o.filters.classes.as_deref())?;
        let (inputs, outputs) = (backend.inputs(), backend.outputs());
        // A model that decodes its own detections (a .hef with the on-chip NMS) needs no
        // family: one file's `family` names the raw outputs of its other variants.
        let decodes = outputs
            .iter()
            .any(|t| t.role == edgeflow_backend::TensorRole::Detections);
        let family = o.family.filter(|_| !decodes);
        let contract = match family {
            Some(family) => family.check(inputs, outputs, labels.len()),
            None => decoding_backend(inputs, outputs),
        }
        .map_err(|m| {
            let help = super::families::suggest(inputs, outputs).unwrap_or_else(|| {
                "check `model` and `family` (and `labels`: one line per class, in the model's order)".to_string()
            });
            let family = o.family.map_or("none".to_string(), |f| format!("`{}`", f.name()));
            BuildError::new(format!(
                "{what} does not fit family {family}: expected {}; the file has {}",
                m.expected, m.found
            ))
            .with_help(help)
            .at(if o.family.is_some() { "family" } else { "backend" })
        })?;
        let fixed_batch = inputs
            .first()
            .and_then(|i| i.shape.first().copied().flatten());
        if o.batch > 1 && fixed_batch.is_some_and(|b| b != o.batch) {
            return Err(BuildError::new(format!(
                "`batch = {}` needs a model with a dynamic batch dimension; {what} has a fixed batch of {}",
                o.batch,
                fixed_batch.unwrap_or(1)
            ))
            .with_help("set `batch = 1`, or export the model with a dynamic first dimension (scripts/darknet2onnx.py --dynamic-batch)")
            .at("batch"));
        }
        if o.batch > 1 && contract.input.size.is_none() {
            return Err(BuildError::new(format!(
                "`batch = {}`: {what} takes frames at their own size, which do not stack into one tensor",
                o.batch
            ))
            .with_help("set `batch = 1`")
            .at("batch"));
        }
        let decoded = if contract.decoder == Decoder::Decoded {
            ", decoded by the backend"
        } else {
            ""
        };
        ctx.note(format!(
            "{what} ({}, {} {:?} input, {} classes{decoded}) on {runtime}",
            family.map_or("no family", Family::name),
            contract.size_text(),
            contract.input.dtype,
            labels.len()
        ));
        Ok(ModelDetect {
            backend,
            backend_name: (name, runtime),
            model: o.model,
            family,
            nms_iou: o.filters.nms_iou.unwrap_or(default_nms_iou(family)),
            contract,
            labels: labels.into_iter().map(Into::into).collect(),
            keep,
            threshold: o.filters.score_threshold,
            max: o.filters.max_detections,
            resize: o.resize,
            every: u64::from(o.filters.every_nth_frame),
            resizer: Resizer::new(),
            weighted: family == Some(Family::Blazeface),
            batch: o.batch,
            pending: Vec::new(),
            batch_timeout: o.filters.batch_timeout,
            pending_since: None,
            partial_batches: 0,
            input: None,
        })
    }

    /// The filters after the model apply in place (score threshold, classes, NMS overlap,
    /// maximum detections, frame sampling); anything else needs a new model (`Rebuild`).
    pub fn reconfigure(
        &mut self,
        o: &Filters,
        changed: &Changed<'_>,
    ) -> Result<Reconfigure, BuildError> {
        const IN_PLACE: [&str; 6] = [
            "batch_timeout_ms",
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
        self.keep = class_filter(&self.labels, o.classes.as_deref())?;
        self.batch_timeout = o.batch_timeout;
        self.threshold = o.score_threshold;
        self.every = u64::from(o.every_nth_frame);
        self.max = o.max_detections;
        self.nms_iou = o.nms_iou.unwrap_or(default_nms_iou(self.family));
        Ok(Reconfigure::Applied)
    }

    /// The backend, the model and the filters.
    pub fn report(&self, report: &mut Report) {
        report.set("backend", self.backend_name.0);
        if let Some(model) = &self.model {
            report.set("model", model.display().to_string());
        }
        if let Some(family) = self.family {
            report.set("family", family.name());
        }
        report
            .set("score_threshold", f64::from(self.threshold))
            .set("every_nth_frame", self.every)
            .set("batch", self.batch as u64);
        if self.batch > 1 {
            report
                .set("batch_timeout_ms", self.batch_timeout.as_millis() as u64)
                .set("partial_batches", self.partial_batches);
        }
    }

    /// Take one frame; emits when a batch is full.
    pub fn process(&mut self, frame: Frame, out: &mut Emit<Detections>) -> Result<(), StageError> {
        let analyse = frame.meta.seq.is_multiple_of(self.every);
        if self.pending.is_empty() {
            self.pending_since = Some(std::time::Instant::now());
        }
        self.pending.push((frame, analyse));
        if self.pending.iter().filter(|(_, a)| *a).count() >= self.batch {
            self.flush(out)?;
        }
        Ok(())
    }

    /// Run what waits for a batch.
    pub fn finish(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.flush(out)
    }

    /// When the frames waiting for a batch must run without the rest (`batch_timeout_ms`
    /// after the first of them came).
    pub fn held_until(&self) -> Option<std::time::Instant> {
        self.pending_since
            .filter(|_| !self.pending.is_empty())
            .map(|t| t + self.batch_timeout)
    }

    /// Run a partial batch whose time is up.
    pub fn flush_partial(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        if !self.pending.is_empty() {
            self.partial_batches += 1;
        }
        self.flush(out)
    }

    /// Write `frames` into the model's input tensor, one batch item each (the tensor of the
    /// last call is reused while the shape holds): colour conversion, resize and the element
    /// conversion. Returns the tensor and where each frame landed in it.
    pub fn prepare(&mut self, frames: &[&Frame]) -> Result<(Tensor, Vec<Placement>), StageError> {
        let first = frames
            .first()
            .ok_or_else(|| StageError::transient("no frames to prepare"))?;
        let n = frames.len();
        let input = &self.contract.input;
        let shape = input.shape(n, first.width, first.height);
        let mut tensor = match self.input.take() {
            Some(t) if t.shape == shape => t,
            _ => {
                let len = shape.iter().product();
                let data = TensorData::zeros(input.dtype, len).ok_or_else(|| {
                    StageError::transient(format!("a {:?} input cannot be written", input.dtype))
                })?;
                let mut t = Tensor::new(shape, data).with_layout(input.layout);
                t.quantization = input.quantization;
                t
            }
        };
        let mut places = Vec::with_capacity(n);
        for (i, frame) in frames.iter().enumerate() {
            let place = prepare_into(
                frame,
                input,
                self.resize,
                &mut self.resizer,
                &mut tensor.data,
                i,
            )
            .map_err(StageError::transient)?;
            places.push(place);
        }
        Ok((tensor, places))
    }

    /// Run the model on an input [`ModelDetect::prepare`] made.
    pub fn run_model(&mut self, input: &Tensor) -> Result<Vec<Tensor>, StageError> {
        self.backend
            .run(std::slice::from_ref(input))
            .map_err(StageError::transient)
    }

    /// Frames the model runs together (`batch`).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Run every waiting frame that is to be analysed in one batch, and emit all waiting
    /// frames' results in arrival order.
    fn flush(&mut self, out: &mut Emit<Detections>) -> Result<(), StageError> {
        self.pending_since = None;
        let pending = std::mem::take(&mut self.pending);
        let analysed: Vec<&Frame> = pending.iter().filter(|(_, a)| *a).map(|(f, _)| f).collect();
        let n = analysed.len();
        let mut places = Vec::new();
        let mut per_item: Vec<Vec<Tensor>> = Vec::new();
        if n > 0 {
            let (tensor, placed) = self.prepare(&analysed)?;
            places = placed;
            let outputs = self.run_model(&tensor);
            self.input = Some(tensor);
            let outputs = outputs?;
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
                out.push(Detections {
                    face_model: self.face_model(),
                    ..Detections::skipped(&frame)
                });
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
        let size = c.input.size.unwrap_or((frame.width, frame.height));
        let mut candidates = c.decoder.decode(outputs, size, self.threshold, &|k| {
            keep.get(k).copied().unwrap_or(false)
        });
        let kept = match (&c.decoder, self.weighted) {
            // Suppressed on the backend already: its order stands.
            (Decoder::Decoded, _) => {
                candidates.truncate(self.max);
                candidates
            }
            (_, true) => weighted_nms(candidates, self.nms_iou, self.max),
            (_, false) => nms(candidates, self.nms_iou, self.max),
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
            face_model: self.face_model(),
            meta: frame.meta,
        }
    }

    /// Whether a `face` can come out: a label `face` the class filter keeps.
    fn face_model(&self) -> bool {
        self.labels
            .iter()
            .zip(&self.keep)
            .any(|(l, keep)| *keep && &**l == "face")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{TestPattern, TestPatternConfig};
    use edgeflow_backend::Quantization;
    use edgeflow_backend_mock::{MockDetector, MockYolo, PALETTE};
    use edgeflow_core::testing::run_source;

    fn frames(n: usize) -> Vec<Frame> {
        let cfg = TestPatternConfig {
            width: 96,
            height: 64,
            count: Some(n as u64),
            objects: 4,
            ..Default::default()
        };
        run_source::<TestPattern>(cfg, n).unwrap()
    }

    fn options(resize: Resize, batch: usize) -> ModelOptions {
        ModelOptions {
            model: Some("mock-yolo.onnx".into()),
            family: Some(Family::Yolo),
            labels: Some(PALETTE.iter().map(|(l, _)| l.to_string()).collect()),
            resize,
            batch,
            filters: Filters {
                batch_timeout: std::time::Duration::from_millis(20),
                classes: None,
                score_threshold: 0.5,
                nms_iou: None,
                max_detections: 100,
                every_nth_frame: 1,
            },
        }
    }

    fn run(stage: &mut ModelDetect, input: &[Frame]) -> Vec<Detections> {
        let mut out = Emit::new();
        for f in input {
            stage.process(f.clone(), &mut out).unwrap();
        }
        stage.finish(&mut out).unwrap();
        out.drain().collect()
    }

    /// Raw YOLO tensors through preprocessing (letterbox), the YOLO decoder, NMS and mapping
    /// back give the colour detector's boxes exactly (the frame fits the input at scale 1,
    /// so no pixel is blended), in f32 NCHW and in quantized u8 NHWC alike.
    #[test]
    fn the_raw_tensor_path_maps_boxes_back_exactly() {
        let input = frames(12);
        let det = MockDetector::new();
        let q = Quantization {
            scale: 0.5,
            zero_point: 0,
        };
        let ctx = BuildCtx::for_stage("det");
        for backend in [MockYolo::new(96), MockYolo::quantized(96, q)] {
            let mut stage = ModelDetect::new(
                Box::new(backend),
                ("mock", "the mock backend"),
                options(Resize::Letterbox, 1),
                &ctx,
            )
            .unwrap();
            let out = run(&mut stage, &input);
            assert_eq!(out.len(), input.len());
            for (frame, got) in input.iter().zip(&out) {
                let want = det.detect(frame).unwrap();
                let boxes = |d: &[Detection]| {
                    d.iter()
                        .map(|x| (x.class_id, x.bbox))
                        .collect::<Vec<(u32, BBox)>>()
                };
                let mut got_boxes = boxes(&got.detections);
                got_boxes.sort_by_key(|b| b.0);
                assert_eq!(got_boxes, boxes(&want), "frame {}", frame.meta.seq);
                assert!(got.detections.iter().all(|d| d.score == 1.0));
            }
        }
    }

    /// A frame waiting in a partial batch (here a skipped frame, which waits for the next
    /// analysed one) has a deadline, and goes out when it passes.
    #[test]
    fn a_partial_batch_goes_out_at_its_deadline() {
        let input = frames(2);
        let mut o = options(Resize::Letterbox, 1);
        o.filters.every_nth_frame = 2;
        o.filters.batch_timeout = std::time::Duration::from_millis(5);
        let mut stage = ModelDetect::new(
            Box::new(MockYolo::new(96)),
            ("mock", "the mock backend"),
            o,
            &BuildCtx::for_stage("det"),
        )
        .unwrap();
        let mut out = Emit::new();
        stage.process(input[0].clone(), &mut out).unwrap();
        assert_eq!(
            out.drain().count(),
            1,
            "an analysed frame fills a batch of 1"
        );
        assert!(stage.held_until().is_none());
        let before = std::time::Instant::now();
        stage.process(input[1].clone(), &mut out).unwrap();
        assert_eq!(
            out.drain().count(),
            0,
            "a skipped frame waits for the batch"
        );
        let due = stage.held_until().expect("a deadline");
        assert!(due >= before + std::time::Duration::from_millis(5));
        stage.flush_partial(&mut out).unwrap();
        let d: Vec<_> = out.drain().collect();
        assert_eq!(d.len(), 1);
        assert!(d[0].skipped);
        assert!(stage.held_until().is_none());
        let mut r = Report::default();
        stage.report(&mut r);
        assert!(
            r.get("partial_batches").is_none(),
            "reported with batch > 1 only"
        );
        assert_eq!(stage.partial_batches, 1);
    }

    /// A real resize (96×64 stretched into 48×48) keeps every box within a pixel or two.
    #[test]
    fn a_resized_input_keeps_boxes_close() {
        let input = frames(6);
        let det = MockDetector::new();
        let mut stage = ModelDetect::new(
            Box::new(MockYolo::new(48)),
            ("mock", "the mock backend"),
            options(Resize::Stretch, 1),
            &BuildCtx::for_stage("det"),
        )
        .unwrap();
        let out = run(&mut stage, &input);
        let mut compared = 0;
        for (frame, got) in input.iter().zip(&out) {
            for want in det.detect(frame).unwrap() {
                // Occluded objects may shrink to strips the resize blurs away, and small
                // ones vanish; whole, big ones stay.
                if want.score < 1.0 || want.bbox.width * 96.0 < 8.0 || want.bbox.height * 64.0 < 8.0
                {
                    continue;
                }
                let found = got
                    .detections
                    .iter()
                    .find(|d| d.class_id == want.class_id)
                    .unwrap_or_else(|| panic!("class {} lost", want.class_id));
                let err = (found.bbox.x - want.bbox.x).abs() * 96.0
                    + (found.bbox.y - want.bbox.y).abs() * 64.0;
                assert!(err <= 4.0, "{:?} vs {:?}", found.bbox, want.bbox);
                compared += 1;
            }
        }
        assert!(compared >= 6, "only {compared} boxes compared");
    }

    #[test]
    fn models_that_do_not_fit_are_build_errors() {
        let ctx = BuildCtx::for_stage("det");
        let err = |backend: MockYolo, o: ModelOptions| {
            ModelDetect::new(Box::new(backend), ("mock", "the mock backend"), o, &ctx)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = err(MockYolo::new(32), options(Resize::Letterbox, 2));
        assert!(e.contains("has a fixed batch of 1"), "{e}");
        let mut o = options(Resize::Letterbox, 1);
        o.family = Some(Family::Blazeface);
        let e = err(MockYolo::new(32), o);
        assert!(e.contains("does not fit family `blazeface`"), "{e}");
        let mut o = options(Resize::Letterbox, 1);
        o.labels = None;
        let e = err(MockYolo::new(32), o);
        assert!(e.contains("carries no labels"), "{e}");
        let mut o = options(Resize::Letterbox, 1);
        o.filters.classes = Some(vec!["unicorn".into()]);
        let e = err(MockYolo::new(32), o);
        assert!(
            e.contains("`unicorn`, which is not in the model's labels"),
            "{e}"
        );
        let mut o = options(Resize::Letterbox, 2);
        o.family = None;
        o.labels = None;
        let e = ModelDetect::new(
            Box::new(edgeflow_backend_mock::MockBackend::new()),
            ("mock", "the mock backend"),
            o,
            &ctx,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("fixed batch of 1"), "{e}");
    }
}
