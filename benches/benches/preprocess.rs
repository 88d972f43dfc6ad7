//! Frames into model inputs and model outputs into boxes: letterbox resize + normalise of a
//! 1080p frame (packed RGB, NV12 and I420) into a 416×416 f32 NCHW input (ONNX Runtime,
//! TensorRT) and a u8 NHWC one (Hailo, RKNN), and NMS over 100, 1000 and 10000 boxes.
//! Run with `cargo bench -p edgeflow-benches --bench preprocess`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use edgeflow_backend::{DType, Layout, TensorData};
use edgeflow_core::{Frame, Meta, PixelFormat};
use edgeflow_stages::detect::families::{Candidate, nms};
use edgeflow_stages::detect::preprocess::{InputFormat, Normalize, Resize, prepare_into};
use fast_image_resize::Resizer;

/// A 1920×1080 frame of `format` with a gradient in every plane.
fn frame(format: PixelFormat) -> Frame {
    let (w, h) = (1920u32, 1080u32);
    let len: usize = (0..format.plane_count())
        .map(|p| {
            let (row, rows) = format.plane_size(p, w, h);
            row * rows
        })
        .sum();
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    Frame::packed(Meta::now("b".into(), 0, 0), w, h, format, data.into())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn input(layout: Layout, dtype: DType) -> InputFormat {
    InputFormat {
        size: Some((416, 416)),
        layout,
        dtype,
        quantization: None,
        norm: Normalize {
            scale: 1.0 / 255.0,
            offset: 0.0,
            pad: 128,
            centred: true,
        },
    }
}

fn letterbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("letterbox_1080p_to_416");
    g.throughput(Throughput::Elements(1));
    for (name, format) in [
        ("rgb", PixelFormat::Rgb),
        ("nv12", PixelFormat::Nv12),
        ("i420", PixelFormat::I420),
    ] {
        let f = frame(format);
        for (target, layout, dtype) in [
            ("f32_nchw", Layout::Nchw, DType::F32),
            ("u8_nhwc", Layout::Nhwc, DType::U8),
        ] {
            let fmt = input(layout, dtype);
            let mut dst = TensorData::zeros(dtype, 416 * 416 * 3)
                .unwrap_or_else(|| panic!("{dtype:?} input"));
            let mut resizer = Resizer::new();
            g.bench_function(BenchmarkId::new(name, target), |b| {
                b.iter(|| {
                    let place =
                        prepare_into(&f, &fmt, Resize::Letterbox, &mut resizer, &mut dst, 0)
                            .unwrap_or_else(|e| panic!("{e}"));
                    black_box(place);
                })
            });
        }
    }
    g.finish();
}

/// `n` candidates in clusters of ten overlapping boxes over 80 classes.
fn candidates(n: usize) -> Vec<Candidate> {
    (0..n)
        .map(|i| {
            let cluster = (i / 10) as f32;
            let (x, y) = ((cluster * 37.0) % 380.0, (cluster * 53.0) % 380.0);
            let jitter = (i % 10) as f32;
            Candidate {
                bbox: [x + jitter, y + jitter, x + 30.0 + jitter, y + 60.0 + jitter],
                score: 0.3 + ((i * 7919) % 700) as f32 / 1000.0,
                class: (i / 10) % 80,
                keypoints: vec![],
            }
        })
        .collect()
}

fn suppression(c: &mut Criterion) {
    let mut g = c.benchmark_group("nms");
    for n in [100usize, 1000, 10_000] {
        let boxes = candidates(n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &boxes, |b, boxes| {
            b.iter(|| black_box(nms(boxes.clone(), 0.45, 300).len()))
        });
    }
    g.finish();
}

criterion_group!(benches, letterbox, suppression);
criterion_main!(benches);
