//! Model families: what their tensors look like (the contract checked at load) and how their
//! outputs become boxes.

use edgeflow_backend::{DType, Layout, Tensor, TensorRole, TensorSpec};
use serde::Deserialize;

use super::preprocess::{InputFormat, Normalize};

/// 0..1 values, letterboxed centred with 0.5 grey (Darknet's convention, and the default for
/// a model without a family).
const DARKNET: Normalize = Normalize {
    scale: 1.0 / 255.0,
    offset: 0.0,
    pad: 128,
    centred: true,
};

/// A model family.
#[derive(
    Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// YOLO detectors with decoded heads: `[1, N, 5 + C]` (v3/v5: box, objectness, classes) or
    /// `[1, 4 + C, N]` (v8/v11: box, classes).
    Yolo,
    /// MediaPipe BlazeFace (front-128 or back-256): faces with six keypoints.
    Blazeface,
}

/// How a YOLO output is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum YoloLayout {
    /// `[1, N, 5 + C]`: cx, cy, w, h, objectness, classes.
    RowsWithObjectness,
    /// `[1, 4 + C, N]`: cx, cy, w, h, classes; one column per candidate.
    ColumnsNoObjectness,
}

/// What a loaded model turned out to be.
#[derive(Clone, Debug, PartialEq)]
pub struct Contract {
    /// What frames are written into.
    pub input: InputFormat,
    /// What to decode.
    pub decoder: Decoder,
}

impl Contract {
    /// The input size for messages: `416×416`, or "frame-size".
    pub fn size_text(&self) -> String {
        match self.input.size {
            Some((w, h)) => format!("{w}×{h}"),
            None => "frame-size".to_string(),
        }
    }
}

/// The decoder for a model's outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoder {
    /// The backend decodes and suppresses on its own ([`TensorRole::Detections`]): the
    /// rows only need the score and class filters and mapping back.
    Decoded,
    /// YOLO with this layout and class count.
    Yolo(YoloLayout, usize),
    /// BlazeFace with anchors; outputs (scores, boxes) for the 16×16 and 8×8 grids.
    Blazeface {
        /// Anchor centres, 0..1.
        anchors: Vec<(f32, f32)>,
        /// Output index of the scores of the first grid, boxes of the first grid, scores of
        /// the second, boxes of the second.
        outputs: [usize; 4],
    },
}

/// A model file that does not fit the family: what was expected, what the file has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the family expects.
    pub expected: String,
    /// What the file has.
    pub found: String,
}

fn dims(spec: &TensorSpec) -> Vec<usize> {
    spec.shape.iter().map(|d| d.unwrap_or(0)).collect()
}

fn describe(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Family {
    /// The family's name in configs.
    pub fn name(self) -> &'static str {
        match self {
            Family::Yolo => "yolo",
            Family::Blazeface => "blazeface",
        }
    }

    /// Check a model's tensors against this family; `classes` is the labels count (YOLO).
    pub fn check(
        self,
        inputs: &[TensorSpec],
        outputs: &[TensorSpec],
        classes: usize,
    ) -> Result<Contract, Mismatch> {
        let io = || format!("inputs {}; outputs {}", describe(inputs), describe(outputs));
        if let Some(m) = element_types(inputs, outputs) {
            return Err(Mismatch {
                expected: m,
                found: io(),
            });
        }
        match self {
            Family::Yolo => {
                let bad = |expected: &str| Mismatch {
                    expected: expected.to_string(),
                    found: io(),
                };
                let want_input = "one RGB input [1, 3, H, W] or [1, H, W, 3] with fixed H and W";
                let [input] = inputs else {
                    return Err(bad(want_input));
                };
                let Some((Some(size), layout)) = image_input(input) else {
                    return Err(bad(want_input));
                };
                let input = InputFormat {
                    size: Some(size),
                    layout,
                    dtype: input.dtype,
                    quantization: input.quantization,
                    norm: DARKNET,
                };
                if let Some(decoder) = decoded(outputs) {
                    return decoder
                        .map(|decoder| Contract { input, decoder })
                        .map_err(|e| bad(&e));
                }
                let [output] = outputs else {
                    return Err(bad("one output [1, N, 5 + classes] or [1, 4 + classes, N]"));
                };
                let o = dims(output);
                let layout = match o.as_slice() {
                    [_, n, a] if *a == classes + 5 && *n > 0 => YoloLayout::RowsWithObjectness,
                    [_, a, n] if *a == classes + 4 && *n > 0 => YoloLayout::ColumnsNoObjectness,
                    _ => {
                        return Err(bad(&format!(
                            "an output [1, N, {}] (YOLOv3/v5) or [1, {}, N] (YOLOv8/11) for {classes} classes",
                            classes + 5,
                            classes + 4
                        )));
                    }
                };
                Ok(Contract {
                    input,
                    decoder: Decoder::Yolo(layout, classes),
                })
            }
            Family::Blazeface => {
                let bad = |expected: &str| Mismatch {
                    expected: expected.to_string(),
                    found: io(),
                };
                let want = "one input [1, S, S, 3] (S = 128 or 256) and outputs [1, 512, 1], [1, 384, 1], [1, 512, 16], [1, 384, 16]";
                let [input] = inputs else {
                    return Err(bad(want));
                };
                if decoded(outputs).is_some() {
                    return Err(bad(
                        "raw outputs (BlazeFace's keypoints are decoded here; a backend's decoded detections carry none)",
                    ));
                }
                let d = dims(input);
                let size = match d.as_slice() {
                    [_, s, t, 3] if s == t && (*s == 128 || *s == 256) => *s,
                    _ => return Err(bad(want)),
                };
                // The batch dimension may be dynamic: compare the rest.
                let find = |shape: [usize; 3]| {
                    outputs
                        .iter()
                        .position(|o| dims(o).get(1..) == Some(&shape[1..]))
                };
                let (Some(s1), Some(b1), Some(s2), Some(b2)) = (
                    find([1, 512, 1]),
                    find([1, 512, 16]),
                    find([1, 384, 1]),
                    find([1, 384, 16]),
                ) else {
                    return Err(bad(want));
                };
                // 16×16 grid with 2 anchors, then 8×8 with 6 (MediaPipe's SSD anchors, offset 0.5).
                let mut anchors = Vec::with_capacity(896);
                for (grid, per) in [(16usize, 2usize), (8, 6)] {
                    for y in 0..grid {
                        for x in 0..grid {
                            for _ in 0..per {
                                anchors.push((
                                    (x as f32 + 0.5) / grid as f32,
                                    (y as f32 + 0.5) / grid as f32,
                                ));
                            }
                        }
                    }
                }
                Ok(Contract {
                    input: InputFormat {
                        size: Some((size as u32, size as u32)),
                        layout: Layout::Nhwc,
                        dtype: input.dtype,
                        quantization: input.quantization,
                        norm: Normalize {
                            scale: 1.0 / 127.5,
                            offset: -1.0,
                            pad: 0,
                            centred: false,
                        },
                    },
                    decoder: Decoder::Blazeface {
                        anchors,
                        outputs: [s1, b1, s2, b2],
                    },
                })
            }
        }
    }
}

/// The contract of a model without a family: a backend that decodes its own detections
/// (the mock, or a runtime with NMS on the chip), at a fixed size or the frame's own.
pub fn decoding_backend(
    inputs: &[TensorSpec],
    outputs: &[TensorSpec],
) -> Result<Contract, Mismatch> {
    let found = || format!("inputs {}; outputs {}", describe(inputs), describe(outputs));
    let bad = |expected: &str| Mismatch {
        expected: expected.to_string(),
        found: found(),
    };
    if let Some(m) = element_types(inputs, outputs) {
        return Err(bad(&m));
    }
    let [input] = inputs else {
        return Err(bad("one RGB input [1, 3, H, W] or [1, H, W, 3]"));
    };
    let Some((size, layout)) = image_input(input) else {
        return Err(bad("one RGB input [1, 3, H, W] or [1, H, W, 3]"));
    };
    let decoder = decoded(outputs)
        .unwrap_or_else(|| Err("decoded detections (a model without `family` must decode its own; set `family` for raw outputs)".into()))
        .map_err(|e| bad(&e))?;
    Ok(Contract {
        input: InputFormat {
            size,
            layout,
            dtype: input.dtype,
            quantization: input.quantization,
            norm: DARKNET,
        },
        decoder,
    })
}

/// Element types the stage reads and writes: f32, f16, u8 and i8, quantized i8 inputs and
/// quantized 8-bit outputs; `Some` says what is expected instead.
fn element_types(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Option<String> {
    let readable =
        |t: &TensorSpec| matches!(t.dtype, DType::F32 | DType::F16 | DType::U8 | DType::I8);
    if let Some(bad) = inputs.iter().chain(outputs).find(|t| !readable(t)) {
        return Some(format!(
            "f32, f16, u8 or i8 tensors (`{}` is {:?})",
            bad.name, bad.dtype
        ));
    }
    if let Some(bad) = inputs
        .iter()
        .find(|t| t.dtype == DType::I8 && t.quantization.is_none())
    {
        return Some(format!(
            "quantization parameters for the i8 input `{}` (scale and zero point)",
            bad.name
        ));
    }
    if let Some(bad) = outputs.iter().find(|t| {
        matches!(t.dtype, DType::U8 | DType::I8)
            && t.quantization.is_none()
            && t.role == TensorRole::Raw
    }) {
        return Some(format!(
            "quantization parameters for the 8-bit output `{}` (its values are read as real numbers)",
            bad.name
        ));
    }
    None
}

/// An RGB image input: its size (`None` where height or width is dynamic) and layout.
fn image_input(spec: &TensorSpec) -> Option<(Option<(u32, u32)>, Layout)> {
    let (h, w) = match (spec.layout?, spec.shape.as_slice()) {
        (Layout::Nchw, [_, Some(3), h, w]) | (Layout::Nhwc, [_, h, w, Some(3)]) => (*h, *w),
        _ => return None,
    };
    let size = match (w, h) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Some((w as u32, h as u32)),
        (Some(0), _) | (_, Some(0)) => return None,
        _ => None,
    };
    Some((size, spec.layout?))
}

/// `Some` when the backend gives decoded detections: `Ok` for one well-formed output,
/// `Err` says what is expected.
fn decoded(outputs: &[TensorSpec]) -> Option<Result<Decoder, String>> {
    if !outputs.iter().any(|o| o.role == TensorRole::Detections) {
        return None;
    }
    Some(match outputs {
        [o] if o.dtype == DType::F32 && dims(o).len() == 3 && dims(o)[2] == 6 => {
            Ok(Decoder::Decoded)
        }
        _ => Err("one output of decoded detections [batch, max, 6] (f32)".to_string()),
    })
}

/// A family that fits a model the configured family does not, as a help line.
pub fn suggest(inputs: &[TensorSpec], outputs: &[TensorSpec]) -> Option<String> {
    if Family::Blazeface.check(inputs, outputs, 1).is_ok() {
        return Some("this is a BlazeFace model: use `family = \"blazeface\"`".to_string());
    }
    let [output] = outputs else { return None };
    let o = dims(output);
    let classes = match o.as_slice() {
        [_, n, a] if *a > 5 && n > a => a - 5,
        [_, a, n] if *a > 4 && n > a => a - 4,
        _ => return None,
    };
    Family::Yolo
        .check(inputs, outputs, classes)
        .is_ok()
        .then(|| format!("this is a YOLO model for {classes} classes: use `family = \"yolo\"` with a labels file of {classes} lines"))
}

/// One candidate box in input pixels: x1, y1, x2, y2, score, class, keypoints.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Corners in input pixels.
    pub bbox: [f32; 4],
    /// Score 0..1.
    pub score: f32,
    /// Class index.
    pub class: usize,
    /// Keypoints in input pixels.
    pub keypoints: Vec<[f32; 2]>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Decoder {
    /// Candidates scoring at least `threshold` whose class `keep` accepts.
    pub fn decode(
        &self,
        outputs: &[Tensor],
        size: (u32, u32),
        threshold: f32,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        match self {
            Decoder::Decoded => {
                let Some(t) = outputs.first() else { return out };
                for row in t.to_f32().chunks_exact(6) {
                    let (score, class) = (row[4], row[5]);
                    if class < 0.0 || score < threshold || !keep(class as usize) {
                        continue;
                    }
                    out.push(Candidate {
                        bbox: [row[0], row[1], row[2], row[3]],
                        score,
                        class: class as usize,
                        keypoints: Vec::new(),
                    });
                }
            }
            Decoder::Yolo(layout, classes) => {
                let Some(t) = outputs.first() else { return out };
                let data = t.to_f32();
                let (n, stride) = match layout {
                    YoloLayout::RowsWithObjectness => (data.len() / (classes + 5), classes + 5),
                    YoloLayout::ColumnsNoObjectness => (data.len() / (classes + 4), 1),
                };
                let at = |i: usize, a: usize| {
                    let k = match layout {
                        YoloLayout::RowsWithObjectness => i * stride + a,
                        YoloLayout::ColumnsNoObjectness => a * n + i,
                    };
                    data.get(k).copied().unwrap_or(0.0)
                };
                let first_class = match layout {
                    YoloLayout::RowsWithObjectness => 5,
                    YoloLayout::ColumnsNoObjectness => 4,
                };
                for i in 0..n {
                    let obj = match layout {
                        YoloLayout::RowsWithObjectness => at(i, 4),
                        YoloLayout::ColumnsNoObjectness => 1.0,
                    };
                    if obj < threshold {
                        continue;
                    }
                    for c in 0..*classes {
                        let score = obj * at(i, first_class + c);
                        if score >= threshold && keep(c) {
                            let (cx, cy, w, h) = (at(i, 0), at(i, 1), at(i, 2), at(i, 3));
                            out.push(Candidate {
                                bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                                score,
                                class: c,
                                keypoints: Vec::new(),
                            });
                        }
                    }
                }
            }
            Decoder::Blazeface {
                anchors,
                outputs: idx,
            } => {
                let size = size.0 as f32;
                let mut base = 0;
                for (s, b) in [(idx[0], idx[1]), (idx[2], idx[3])] {
                    let (Some(scores), Some(boxes)) = (outputs.get(s), outputs.get(b)) else {
                        return out;
                    };
                    let (scores, boxes) = (scores.to_f32(), boxes.to_f32());
                    for (i, logit) in scores.iter().enumerate() {
                        let score = sigmoid(*logit);
                        let Some(&(ax, ay)) = anchors.get(base + i) else {
                            break;
                        };
                        if score < threshold || !keep(0) {
                            continue;
                        }
                        let Some(r) = boxes.get(i * 16..i * 16 + 16) else {
                            break;
                        };
                        let (cx, cy) = (ax * size + r[0], ay * size + r[1]);
                        let (w, h) = (r[2], r[3]);
                        let keypoints = (0..6)
                            .map(|k| [ax * size + r[4 + 2 * k], ay * size + r[5 + 2 * k]])
                            .collect();
                        out.push(Candidate {
                            bbox: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                            score,
                            class: 0,
                            keypoints,
                        });
                    }
                    base += scores.len();
                }
            }
        }
        out
    }
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Class-aware non-maximum suppression: highest scores first, dropping boxes of the same class
/// that overlap a kept one by more than `iou_threshold`; at most `max` boxes.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32, max: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max {
            break;
        }
        if kept
            .iter()
            .all(|k| k.class != c.class || iou(&k.bbox, &c.bbox) <= iou_threshold)
        {
            kept.push(c);
        }
    }
    kept
}

/// MediaPipe's weighted non-maximum suppression: the best box absorbs every box overlapping
/// it by more than `iou_threshold`, and the result is their score-weighted average (box and
/// keypoints), with the best box's score. Steadier boxes than plain NMS for faces.
pub fn weighted_nms(
    mut candidates: Vec<Candidate>,
    iou_threshold: f32,
    max: usize,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while let Some(best) = candidates.first().cloned() {
        if out.len() >= max {
            break;
        }
        let (group, rest): (Vec<Candidate>, Vec<Candidate>) = candidates
            .into_iter()
            .partition(|c| c.class == best.class && iou(&c.bbox, &best.bbox) > iou_threshold);
        candidates = rest;
        let total: f32 = group.iter().map(|c| c.score).sum();
        let mut merged = best.clone();
        if total > 0.0 && group.len() > 1 {
            for k in 0..4 {
                merged.bbox[k] = group.iter().map(|c| c.bbox[k] * c.score).sum::<f32>() / total;
            }
            for (k, point) in merged.keypoints.iter_mut().enumerate() {
                for axis in 0..2 {
                    point[axis] = group
                        .iter()
                        .map(|c| c.keypoints.get(k).map_or(0.0, |p| p[axis]) * c.score)
                        .sum::<f32>()
                        / total;
                }
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_backend::DType;

    fn spec(name: &str, shape: &[usize]) -> TensorSpec {
        TensorSpec::new(name, shape.iter().map(|d| Some(*d)).collect(), DType::F32)
    }

    fn cand(bbox: [f32; 4], score: f32, class: usize) -> Candidate {
        Candidate {
            bbox,
            score,
            class,
            keypoints: vec![],
        }
    }

    #[test]
    fn nms_keeps_best_per_class() {
        let kept = nms(
            vec![
                cand([0.0, 0.0, 10.0, 10.0], 0.8, 0),
                cand([1.0, 1.0, 11.0, 11.0], 0.9, 0),
                cand([1.0, 1.0, 11.0, 11.0], 0.7, 1),
                cand([50.0, 50.0, 60.0, 60.0], 0.6, 0),
            ],
            0.45,
            10,
        );
        let scores: Vec<f32> = kept.iter().map(|c| c.score).collect();
        assert_eq!(scores, [0.9, 0.7, 0.6]);
        assert_eq!(
            nms(vec![cand([0.0; 4], 0.5, 0), cand([5.0; 4], 0.4, 1)], 0.5, 1).len(),
            1
        );
    }

    #[test]
    fn weighted_nms_averages_the_overlapping_group() {
        let kept = weighted_nms(
            vec![
                cand([0.0, 0.0, 10.0, 10.0], 0.75, 0),
                cand([2.0, 0.0, 12.0, 10.0], 0.25, 0),
                cand([50.0, 50.0, 60.0, 60.0], 0.5, 0),
            ],
            0.3,
            10,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].bbox, [0.5, 0.0, 10.5, 10.0]);
        assert_eq!(kept[0].score, 0.75);
        assert_eq!(kept[1].bbox, [50.0, 50.0, 60.0, 60.0]);
    }

    #[test]
    fn yolo_rows_and_columns_decode_alike() {
        // Two candidates, 2 classes. Rows: cx, cy, w, h, obj, c0, c1.
        let rows = Tensor::f32(
            vec![1, 2, 7],
            vec![
                10.0, 10.0, 4.0, 4.0, 0.9, 0.1, 0.8, 30.0, 30.0, 2.0, 2.0, 0.2, 0.9, 0.1,
            ],
        );
        let d = Decoder::Yolo(YoloLayout::RowsWithObjectness, 2);
        let c = d.decode(&[rows], (64, 64), 0.5, &|_| true);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].class, c[0].bbox), (1, [8.0, 8.0, 12.0, 12.0]));
        assert!((c[0].score - 0.72).abs() < 1e-6);
        // Columns (v8): cx, cy, w, h, c0, c1 per column.
        let cols = Tensor::f32(
            vec![1, 6, 2],
            vec![
                10.0, 30.0, 10.0, 30.0, 4.0, 2.0, 4.0, 2.0, 0.1, 0.6, 0.72, 0.1,
            ],
        );
        let d = Decoder::Yolo(YoloLayout::ColumnsNoObjectness, 2);
        let c = d.decode(&[cols], (64, 64), 0.5, &|class| class == 1);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].class, c[0].bbox), (1, [8.0, 8.0, 12.0, 12.0]));
    }

    #[test]
    fn blazeface_decodes_anchor_offsets_and_keypoints() {
        let contract = Family::Blazeface
            .check(
                &[spec("input", &[1, 128, 128, 3])],
                &[
                    spec("s1", &[1, 512, 1]),
                    spec("s2", &[1, 384, 1]),
                    spec("b1", &[1, 512, 16]),
                    spec("b2", &[1, 384, 16]),
                ],
                1,
            )
            .unwrap();
        let mut s1 = vec![-10.0f32; 512];
        s1[0] = 3.0; // anchor 0: centre (0.5/16, 0.5/16) of the first grid
        let mut b1 = vec![0.0f32; 512 * 16];
        b1[..6].copy_from_slice(&[2.0, 1.0, 8.0, 6.0, 1.0, 1.0]);
        let outputs = [
            Tensor::f32(vec![1, 512, 1], s1),
            Tensor::f32(vec![1, 384, 1], vec![-10.0; 384]),
            Tensor::f32(vec![1, 512, 16], b1),
            Tensor::f32(vec![1, 384, 16], vec![0.0; 384 * 16]),
        ];
        let c = contract
            .decoder
            .decode(&outputs, (128, 128), 0.5, &|_| true);
        assert_eq!(c.len(), 1);
        assert!((c[0].score - sigmoid(3.0)).abs() < 1e-6);
        // anchor centre 4 px + offset (2, 1) = (6, 5); size 8 × 6.
        assert_eq!(c[0].bbox, [2.0, 2.0, 10.0, 8.0]);
        assert_eq!(c[0].keypoints[0], [5.0, 5.0]);
        assert_eq!(c[0].keypoints.len(), 6);
    }

    #[test]
    fn quantized_nhwc_models_and_decoded_outputs_fit() {
        use edgeflow_backend::Quantization;
        let q = Quantization {
            scale: 0.1,
            zero_point: 3,
        };
        let mut input = spec("images", &[1, 320, 320, 3]);
        input.dtype = DType::U8;
        let mut raw = spec("output", &[1, 100, 85]);
        raw.dtype = DType::I8;
        let c = Family::Yolo
            .check(
                std::slice::from_ref(&input),
                &[raw.clone().quantized(q)],
                80,
            )
            .unwrap();
        assert_eq!(
            (c.input.size, c.input.layout, c.input.dtype),
            (Some((320, 320)), Layout::Nhwc, DType::U8)
        );
        // An 8-bit output says how to read it, or the model does not fit.
        let e = Family::Yolo
            .check(std::slice::from_ref(&input), &[raw], 80)
            .unwrap_err();
        assert!(
            e.expected
                .contains("quantization parameters for the 8-bit output")
        );
        // A YOLO model with NMS on the chip: decoded rows.
        let nms = spec("nms", &[1, 100, 6]).detections();
        let c = Family::Yolo
            .check(std::slice::from_ref(&input), std::slice::from_ref(&nms), 80)
            .unwrap();
        assert_eq!(c.decoder, Decoder::Decoded);
        let e = Family::Blazeface
            .check(
                &[spec("input", &[1, 128, 128, 3])],
                std::slice::from_ref(&nms),
                1,
            )
            .unwrap_err();
        assert!(e.expected.contains("raw outputs"), "{e:?}");
        // Without a family only decoded rows fit, at a fixed or the frame's own size.
        let mut any = TensorSpec::new("frame", vec![Some(1), None, None, Some(3)], DType::U8);
        let c = decoding_backend(std::slice::from_ref(&any), &[nms]).unwrap();
        assert_eq!((c.input.size, c.decoder), (None, Decoder::Decoded));
        let e = decoding_backend(std::slice::from_ref(&any), &[spec("output", &[1, 100, 85])])
            .unwrap_err();
        assert!(e.expected.contains("must decode its own"), "{e:?}");
        any.dtype = DType::I8;
        let e = decoding_backend(&[any], &[spec("d", &[1, 4, 6]).detections()]).unwrap_err();
        assert!(e.expected.contains("for the i8 input `frame`"), "{e:?}");
    }

    #[test]
    fn decoded_rows_skip_padding_and_filtered_classes() {
        let rows = Tensor::f32(
            vec![1, 3, 6],
            vec![
                1.0, 2.0, 3.0, 4.0, 0.9, 0.0, 5.0, 6.0, 7.0, 8.0, 0.8, 1.0, 0.0, 0.0, 0.0, 0.0,
                0.0, -1.0,
            ],
        );
        let c = Decoder::Decoded.decode(std::slice::from_ref(&rows), (10, 10), 0.0, &|_| true);
        assert_eq!(c.len(), 2, "the padding row is not a detection");
        assert_eq!((c[1].bbox, c[1].class), ([5.0, 6.0, 7.0, 8.0], 1));
        let c = Decoder::Decoded.decode(&[rows], (10, 10), 0.85, &|k| k == 0);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn contract_mismatches_say_what_was_expected() {
        let yolo_in = [spec("images", &[1, 3, 416, 416])];
        let yolo_out = [spec("output", &[1, 2535, 85])];
        assert!(Family::Yolo.check(&yolo_in, &yolo_out, 80).is_ok());
        let e = Family::Yolo.check(&yolo_in, &yolo_out, 79).unwrap_err();
        assert!(e.expected.contains("[1, N, 84]"), "{e:?}");
        assert!(e.found.contains("output [1, 2535, 85]"), "{e:?}");
        let e = Family::Blazeface.check(&yolo_in, &yolo_out, 1).unwrap_err();
        assert!(e.expected.contains("[1, S, S, 3]"));
        let mut q = spec("images", &[1, 3, 416, 416]);
        q.dtype = DType::I64;
        let e = Family::Yolo.check(&[q], &yolo_out, 80).unwrap_err();
        assert!(e.expected.contains("(`images` is I64)"), "{e:?}");
        let v8 = [spec("output0", &[1, 84, 8400])];
        assert_eq!(
            Family::Yolo
                .check(&[spec("images", &[1, 3, 640, 640])], &v8, 80)
                .unwrap()
                .decoder,
            Decoder::Yolo(YoloLayout::ColumnsNoObjectness, 80)
        );
    }
}
