//! A deterministic detector that needs no model and no hardware.
//!
//! The `test_pattern` capture source draws solid rectangles in the colours of [`PALETTE`];
//! [`MockDetector`] finds them again by colour. Every object is reported with the class of its
//! colour, its visible bounding box, and a score equal to the visible fraction of that box
//! (an occluded object scores lower). This gives tests and benchmarks a real detect stage with
//! known ground truth on any machine.
#![deny(missing_docs)]

use std::sync::Arc;

use edgeflow_core::{BBox, Detection, Frame, PixelFormat};

/// Class labels and the RGB colour the test pattern draws them in.
pub const PALETTE: [(&str, [u8; 3]); 6] = [
    ("person", [230, 60, 60]),
    ("car", [60, 200, 80]),
    ("bicycle", [70, 110, 240]),
    ("dog", [240, 220, 60]),
    ("bus", [200, 80, 220]),
    ("truck", [60, 220, 220]),
];

/// Why a frame could not be analysed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MockError {
    /// Only packed RGB and BGR frames carry the palette colours.
    #[error("the mock detector reads rgb or bgr frames, got {0:?}")]
    Format(PixelFormat),
}

/// Finds the test pattern's rectangles by colour.
#[derive(Debug, Clone)]
pub struct MockDetector {
    labels: Vec<Arc<str>>,
}

impl Default for MockDetector {
    fn default() -> Self {
        MockDetector {
            labels: PALETTE.iter().map(|(l, _)| Arc::from(*l)).collect(),
        }
    }
}

impl MockDetector {
    /// A detector for the whole palette.
    pub fn new() -> Self {
        MockDetector::default()
    }

    /// The class labels, in class-id order.
    pub fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    /// Every palette-coloured object in `frame`, in class-id order.
    pub fn detect(&self, frame: &Frame) -> Result<Vec<Detection>, MockError> {
        let swap = match frame.format {
            PixelFormat::Rgb => false,
            PixelFormat::Bgr => true,
            other => return Err(MockError::Format(other)),
        };
        let (w, h) = (frame.width as usize, frame.height as usize);
        // Per class: min x, min y, max x, max y, pixel count.
        let mut acc = [(usize::MAX, usize::MAX, 0usize, 0usize, 0usize); PALETTE.len()];
        for y in 0..h {
            let Some(row) = frame.row(0, y) else { break };
            for (x, px) in row.chunks_exact(3).enumerate() {
                let rgb = if swap {
                    [px[2], px[1], px[0]]
                } else {
                    [px[0], px[1], px[2]]
                };
                if let Some(c) = PALETTE.iter().position(|(_, col)| *col == rgb) {
                    let a = &mut acc[c];
                    a.0 = a.0.min(x);
                    a.1 = a.1.min(y);
                    a.2 = a.2.max(x);
                    a.3 = a.3.max(y);
                    a.4 += 1;
                }
            }
        }
        let (fw, fh) = (w.max(1) as f32, h.max(1) as f32);
        Ok(acc
            .iter()
            .enumerate()
            .filter(|(_, a)| a.4 > 0)
            .map(|(c, &(x0, y0, x1, y1, n))| {
                let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
                Detection {
                    class_id: c as u32,
                    label: self.labels[c].clone(),
                    score: n as f32 / (bw * bh) as f32,
                    bbox: BBox {
                        x: x0 as f32 / fw,
                        y: y0 as f32 / fh,
                        width: bw as f32 / fw,
                        height: bh as f32 / fh,
                    },
                    keypoints: Vec::new(),
                }
            })
            .collect())
    }
}

/// One colour's box: `(x0, y0, x1, y1, pixels)` with inclusive corners.
type PaletteBox = (usize, usize, usize, usize, usize);

/// The palette boxes seen in an RGB image, per class; `None` where the colour does not occur.
fn palette_boxes(
    width: usize,
    height: usize,
    rgb_at: impl Fn(usize, usize) -> [u8; 3],
) -> [Option<PaletteBox>; PALETTE.len()] {
    let mut acc = [None; PALETTE.len()];
    for y in 0..height {
        for x in 0..width {
            let px = rgb_at(x, y);
            if let Some(c) = PALETTE.iter().position(|(_, col)| *col == px) {
                let a: &mut Option<PaletteBox> = &mut acc[c];
                *a = Some(match *a {
                    None => (x, y, x, y, 1),
                    Some((x0, y0, x1, y1, n)) => {
                        (x0.min(x), y0.min(y), x1.max(x), y1.max(y), n + 1)
                    }
                });
            }
        }
    }
    acc
}

fn run_error(what: &str, why: String) -> edgeflow_backend::BackendError {
    edgeflow_backend::BackendError::Run(format!("the mock model takes {what}: {why}"))
}

/// The mock as an [`edgeflow_backend::Backend`] that decodes on the "device", as HailoRT's
/// on-chip NMS does: one NHWC u8 RGB input at the frame's own size (`[1, H, W, 3]`, H and W
/// dynamic) and one output of decoded detections (`[1, 6, 6]`, see
/// [`edgeflow_backend::TensorRole::Detections`]): per palette colour present, its box in
/// input pixels, a score equal to the visible fraction of the box, and the class; in class
/// order, then padding rows. Through the detect stage this gives exactly
/// [`MockDetector`]'s detections. The model carries its labels ([`PALETTE`]).
pub struct MockBackend {
    inputs: Vec<edgeflow_backend::TensorSpec>,
    outputs: Vec<edgeflow_backend::TensorSpec>,
    labels: Vec<String>,
}

impl Default for MockBackend {
    fn default() -> Self {
        use edgeflow_backend::{DType, TensorSpec};
        let n = PALETTE.len();
        MockBackend {
            inputs: vec![TensorSpec::new(
                "frame",
                vec![Some(1), None, None, Some(3)],
                DType::U8,
            )],
            outputs: vec![
                TensorSpec::new("detections", vec![Some(1), Some(n), Some(6)], DType::F32)
                    .detections(),
            ],
            labels: PALETTE.iter().map(|(l, _)| l.to_string()).collect(),
        }
    }
}

impl MockBackend {
    /// The decoding mock.
    pub fn new() -> Self {
        MockBackend::default()
    }
}

impl edgeflow_backend::Backend for MockBackend {
    fn inputs(&self) -> &[edgeflow_backend::TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[edgeflow_backend::TensorSpec] {
        &self.outputs
    }

    fn labels(&self) -> Option<&[String]> {
        Some(&self.labels)
    }

    fn run(
        &mut self,
        inputs: &[edgeflow_backend::Tensor],
    ) -> Result<Vec<edgeflow_backend::Tensor>, edgeflow_backend::BackendError> {
        const WHAT: &str = "one [1, H, W, 3] u8 RGB tensor";
        let [input] = inputs else {
            return Err(run_error(WHAT, format!("got {} tensors", inputs.len())));
        };
        input
            .check_against(&self.inputs[0])
            .map_err(|e| run_error(WHAT, e))?;
        let edgeflow_backend::TensorData::U8(data) = &input.data else {
            return Err(run_error(WHAT, format!("got {:?}", input.dtype())));
        };
        let (h, w) = (input.shape[1], input.shape[2]);
        let boxes = palette_boxes(w, h, |x, y| {
            let i = (y * w + x) * 3;
            [data[i], data[i + 1], data[i + 2]]
        });
        let n = PALETTE.len();
        let mut rows: Vec<f32> = Vec::with_capacity(n * 6);
        for (c, b) in boxes.iter().enumerate() {
            if let Some((x0, y0, x1, y1, count)) = *b {
                let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
                rows.extend([
                    x0 as f32,
                    y0 as f32,
                    (x1 + 1) as f32,
                    (y1 + 1) as f32,
                    count as f32 / (bw * bh) as f32,
                    c as f32,
                ]);
            }
        }
        while rows.len() < n * 6 {
            rows.extend([0.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
        }
        Ok(vec![edgeflow_backend::Tensor::f32(vec![1, n, 6], rows)])
    }
}

/// A mock "YOLO" model: the palette finder behind raw YOLOv3-style tensors, so the detect
/// stage's whole model path (preprocessing into the input's type and layout, the family's
/// decoder, NMS, mapping boxes back) runs without a runtime. One `size` × `size` RGB input
/// in the chosen type and layout (f32 0..1, or u8 pixels) and one output `[1, 6, 5 + 6]`:
/// per palette class, its box in input pixels (cx, cy, w, h), objectness 1 when present,
/// and a one-hot class row; optionally quantized to u8.
pub struct MockYolo {
    inputs: Vec<edgeflow_backend::TensorSpec>,
    outputs: Vec<edgeflow_backend::TensorSpec>,
    size: usize,
}

impl MockYolo {
    /// A mock YOLO with an NCHW f32 `size` × `size` input and an f32 output.
    pub fn new(size: usize) -> Self {
        use edgeflow_backend::{DType, TensorSpec};
        let n = PALETTE.len();
        MockYolo {
            inputs: vec![TensorSpec::new(
                "images",
                vec![Some(1), Some(3), Some(size), Some(size)],
                DType::F32,
            )],
            outputs: vec![TensorSpec::new(
                "output",
                vec![Some(1), Some(n), Some(5 + n)],
                DType::F32,
            )],
            size,
        }
    }

    /// The same model as an NPU build takes it: an NHWC u8 input of raw pixels and a u8
    /// output quantized with `output` (its values must reach `size` pixels).
    pub fn quantized(size: usize, output: edgeflow_backend::Quantization) -> Self {
        use edgeflow_backend::{DType, TensorSpec};
        let mut m = MockYolo::new(size);
        m.inputs = vec![TensorSpec::new(
            "images",
            vec![Some(1), Some(size), Some(size), Some(3)],
            DType::U8,
        )];
        let spec = m.outputs[0].clone();
        m.outputs = vec![TensorSpec::new(spec.name, spec.shape, DType::U8).quantized(output)];
        m
    }
}

impl edgeflow_backend::Backend for MockYolo {
    fn inputs(&self) -> &[edgeflow_backend::TensorSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[edgeflow_backend::TensorSpec] {
        &self.outputs
    }

    fn run(
        &mut self,
        inputs: &[edgeflow_backend::Tensor],
    ) -> Result<Vec<edgeflow_backend::Tensor>, edgeflow_backend::BackendError> {
        use edgeflow_backend::{Layout, Tensor, TensorData};
        let s = self.size;
        let spec = &self.inputs[0];
        let what = format!("one tensor like {spec}");
        let [input] = inputs else {
            return Err(run_error(&what, format!("got {} tensors", inputs.len())));
        };
        input.check_against(spec).map_err(|e| run_error(&what, e))?;
        let plane = s * s;
        let nhwc = spec.layout == Some(Layout::Nhwc);
        let at = |x: usize, y: usize, c: usize| {
            if nhwc {
                (y * s + x) * 3 + c
            } else {
                c * plane + y * s + x
            }
        };
        let boxes = match &input.data {
            TensorData::F32(v) => palette_boxes(s, s, |x, y| {
                [0, 1, 2].map(|c| (v[at(x, y, c)] * 255.0).round() as u8)
            }),
            TensorData::U8(v) => palette_boxes(s, s, |x, y| [0, 1, 2].map(|c| v[at(x, y, c)])),
            other => return Err(run_error(&what, format!("got {:?}", other.dtype()))),
        };
        let n = PALETTE.len();
        let mut out = vec![0.0f32; n * (5 + n)];
        for (c, b) in boxes.iter().enumerate() {
            let Some((x0, y0, x1, y1, _)) = *b else {
                continue;
            };
            let row = &mut out[c * (5 + n)..(c + 1) * (5 + n)];
            let (w, h) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
            row[..5].copy_from_slice(&[x0 as f32 + w / 2.0, y0 as f32 + h / 2.0, w, h, 1.0]);
            row[5 + c] = 1.0;
        }
        let shape = vec![1, n, 5 + n];
        Ok(vec![match self.outputs[0].quantization {
            None => Tensor::f32(shape, out),
            Some(q) => {
                let quant = |v: f32| {
                    (v / q.scale + q.zero_point as f32)
                        .round()
                        .clamp(0.0, 255.0) as u8
                };
                Tensor::new(shape, TensorData::U8(out.into_iter().map(quant).collect()))
                    .with_quantization(q)
            }
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeflow_core::Meta;

    fn frame(format: PixelFormat, paint: impl Fn(usize, usize) -> [u8; 3]) -> Frame {
        let (w, h) = (10usize, 8usize);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let p = paint(x, y);
                match format {
                    PixelFormat::Bgr => data.extend([p[2], p[1], p[0]]),
                    _ => data.extend(p),
                }
            }
        }
        Frame::packed(
            Meta::now("s".into(), 0, 0),
            w as u32,
            h as u32,
            format,
            data.into(),
        )
        .unwrap()
    }

    #[test]
    fn finds_boxes_and_scores_occlusion() {
        let person = PALETTE[0].1;
        let car = PALETTE[1].1;
        // person: x 1..=4, y 2..=5 ; car covers x 4, y 2..=3 of it.
        let f = frame(PixelFormat::Bgr, |x, y| {
            if x == 4 && (2..=3).contains(&y) {
                car
            } else if (1..=4).contains(&x) && (2..=5).contains(&y) {
                person
            } else {
                [0, 0, 0]
            }
        });
        let d = MockDetector::new().detect(&f).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(&*d[0].label, "person");
        assert_eq!(
            d[0].bbox,
            BBox {
                x: 0.1,
                y: 0.25,
                width: 0.4,
                height: 0.5
            }
        );
        assert!((d[0].score - 14.0 / 16.0).abs() < 1e-6);
        assert_eq!(&*d[1].label, "car");
        assert_eq!(d[1].score, 1.0);
    }

    #[test]
    fn mock_yolo_reports_specs_and_finds_colours() {
        use edgeflow_backend::{Backend, Tensor};
        let mut b = MockYolo::new(8);
        assert_eq!(b.inputs()[0].to_string(), "images [1, 3, 8, 8] F32");
        assert_eq!(b.outputs()[0].to_string(), "output [1, 6, 11] F32");
        // A car (class 1) at x 2..=3, y 4..=7.
        let mut data = vec![0.0f32; 3 * 64];
        for y in 4..8 {
            for x in 2..4 {
                for (c, v) in PALETTE[1].1.iter().enumerate() {
                    data[c * 64 + y * 8 + x] = *v as f32 / 255.0;
                }
            }
        }
        let input = Tensor::f32(vec![1, 3, 8, 8], data).with_layout(edgeflow_backend::Layout::Nchw);
        let out = b.run(std::slice::from_ref(&input)).unwrap();
        let out = out[0].to_f32();
        let row = &out[11..22];
        assert_eq!(&row[..7], &[3.0, 6.0, 2.0, 4.0, 1.0, 0.0, 1.0]);
        assert!(out[..11].iter().all(|v| *v == 0.0), "no person");
        assert!(
            b.run(&[Tensor::f32(vec![1, 3, 4, 4], vec![0.0; 48])])
                .is_err()
        );
        // Every backend's conformance checks, on the same car.
        let case = car_case(input);
        assert_eq!(edgeflow_backend::conformance::check(&mut b, &case), Ok(()));
    }

    /// A run on `input` must find the car at x 2..=3, y 4..=7 (class 1's row).
    fn car_case(input: edgeflow_backend::Tensor) -> edgeflow_backend::conformance::Case {
        edgeflow_backend::conformance::Case {
            inputs: vec![input],
            expect: Box::new(|out| {
                let v = out[0].to_f32();
                (v.get(11..18) == Some(&[3.0, 6.0, 2.0, 4.0, 1.0, 0.0, 1.0][..]))
                    .then_some(())
                    .ok_or_else(|| format!("the car's row is {:?}", v.get(11..22)))
            }),
        }
    }

    #[test]
    fn quantized_mock_yolo_takes_nhwc_pixels_and_gives_u8() {
        use edgeflow_backend::{Backend, Quantization, Tensor, TensorData};
        let q = Quantization {
            scale: 0.25,
            zero_point: 0,
        };
        let mut b = MockYolo::quantized(8, q);
        assert_eq!(
            b.outputs()[0].to_string(),
            "output [1, 6, 11] U8 (scale 0.25, zero point 0)"
        );
        let mut data = vec![0u8; 8 * 8 * 3];
        for y in 4..8 {
            for x in 2..4 {
                data[(y * 8 + x) * 3..][..3].copy_from_slice(&PALETTE[1].1);
            }
        }
        let input = Tensor::new(vec![1, 8, 8, 3], TensorData::U8(data))
            .with_layout(edgeflow_backend::Layout::Nhwc);
        let case = car_case(input);
        assert_eq!(edgeflow_backend::conformance::check(&mut b, &case), Ok(()));
    }

    #[test]
    fn decoding_mock_gives_the_detectors_boxes_as_rows() {
        use edgeflow_backend::{Backend, Tensor, TensorData};
        let mut b = MockBackend::new();
        assert_eq!(b.labels().map(<[String]>::len), Some(6));
        assert_eq!(b.inputs()[0].to_string(), "frame [1, ?, ?, 3] U8");
        assert_eq!(
            b.outputs()[0].to_string(),
            "detections [1, 6, 6] F32 detections"
        );
        // A person at x 1..=4, y 2..=5 in a 10 × 8 image, two pixels covered by a car.
        let (w, h) = (10usize, 8usize);
        let mut data = vec![0u8; w * h * 3];
        for y in 2..=5 {
            for x in 1..=4 {
                let c = if x == 4 && y <= 3 { 1 } else { 0 };
                data[(y * w + x) * 3..][..3].copy_from_slice(&PALETTE[c].1);
            }
        }
        let input = Tensor::new(vec![1, h, w, 3], TensorData::U8(data))
            .with_layout(edgeflow_backend::Layout::Nhwc);
        let case = edgeflow_backend::conformance::Case {
            inputs: vec![input],
            expect: Box::new(|out| {
                let v = out[0].to_f32();
                let want = [
                    1.0,
                    2.0,
                    5.0,
                    6.0,
                    14.0 / 16.0,
                    0.0,
                    4.0,
                    2.0,
                    5.0,
                    4.0,
                    1.0,
                    1.0,
                ];
                (v.get(..12) == Some(&want[..]) && v[17] == -1.0)
                    .then_some(())
                    .ok_or_else(|| format!("rows {v:?}"))
            }),
        };
        assert_eq!(edgeflow_backend::conformance::check(&mut b, &case), Ok(()));
    }

    #[test]
    fn rejects_other_formats() {
        let f = Frame::packed(
            Meta::now("s".into(), 0, 0),
            2,
            2,
            PixelFormat::Gray,
            vec![0u8; 4].into(),
        )
        .unwrap();
        assert_eq!(
            MockDetector::new().detect(&f),
            Err(MockError::Format(PixelFormat::Gray))
        );
    }
}
