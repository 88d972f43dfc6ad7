//! The `rknn` backend against the fake librknnrt (`backends/rknn/fake`): the conformance
//! checks in both the copying and the zero-copy mode, the int8 outputs read through their
//! zero point and scale, and every error path (a missing library, a model the runtime
//! refuses, a core mask the chip lacks) as an error that says what to do.

use std::path::{Path, PathBuf};

use edgeflow_backend::conformance::{Case, check, filled_as};
use edgeflow_backend::{Backend, BackendError, DType, Layout, Quantization, Tensor, TensorData};
use edgeflow_backend_rknn::{CoreMask, RknnBackend, RknnOptions};

fn fake() -> PathBuf {
    edgeflow_backend::fake::library(
        env!("CARGO_MANIFEST_DIR"),
        "edgeflow-fake-rknnrt",
        "EDGEFLOW_FAKE_RKNNRT",
    )
    .unwrap()
}

fn model(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("m.rknn");
    std::fs::write(&p, text).unwrap();
    p
}

fn options(zero_copy: bool) -> RknnOptions {
    RknnOptions {
        library: Some(fake()),
        core_mask: CoreMask::All,
        zero_copy,
    }
}

/// A 20 × 10 image: grey, with a white block at x 4..8, y 2..6.
fn picture() -> Tensor {
    let (w, h) = (20, 10);
    let mut px = vec![50u8; w * h * 3];
    for y in 2..6 {
        for x in 4..8 {
            px[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(250);
        }
    }
    Tensor::new(vec![1, h, w, 3], TensorData::U8(px)).with_layout(Layout::Nhwc)
}

fn expect_box(out: &[Tensor]) -> Result<(), String> {
    let v = out[0].to_f32();
    // cx, cy, w, h, objectness, class of the white block.
    if v[..6] != [6.0, 4.0, 4.0, 4.0, 1.0, 1.0] {
        return Err(format!("row 0 is {:?}", &v[..6]));
    }
    Ok(())
}

#[test]
fn the_npu_backend_passes_the_conformance_checks_copying_and_zero_copy() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), "EDGEFLOW-FAKE-RKNN 20 10");
    for zero_copy in [false, true] {
        let mut b = RknnBackend::load(&m, &options(zero_copy)).unwrap();
        assert_eq!(b.zero_copy(), zero_copy);
        assert!(
            b.versions.contains("API 2.3.2 (edgeflow)"),
            "{}",
            b.versions
        );
        let input = &b.inputs()[0];
        assert_eq!(input.shape, [Some(1), Some(10), Some(20), Some(3)]);
        assert_eq!((input.dtype, input.layout), (DType::U8, Some(Layout::Nhwc)));
        let out = &b.outputs()[0];
        if zero_copy {
            // NPU memory holds f32, dequantized by the runtime.
            assert_eq!((out.dtype, out.quantization), (DType::F32, None));
        } else {
            assert_eq!(out.dtype, DType::I8);
            assert_eq!(
                out.quantization,
                Some(Quantization {
                    scale: 0.25,
                    zero_point: -16
                })
            );
        }
        let case = Case {
            inputs: vec![picture()],
            expect: Box::new(expect_box),
        };
        if let Err(failures) = check(&mut b, &case) {
            panic!("zero_copy {zero_copy}:\n{}", failures.join("\n"));
        }
        // The whole image reached the NPU: row 1 carries its mean byte / 16.
        let grey = filled_as(&b.inputs()[0], 160.0);
        let v = b.run(&[grey]).unwrap()[0].to_f32().into_owned();
        assert_eq!(v[6], 10.0, "zero_copy {zero_copy}: {v:?}");
        assert_eq!(v[4], 0.0, "a flat image has no box");
    }
}

#[test]
fn int8_outputs_are_the_raw_bytes_with_their_zero_point_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(dir.path(), "EDGEFLOW-FAKE-RKNN 20 10");
    let mut b = RknnBackend::load(&m, &options(false)).unwrap();
    let out = b.run(&[picture()]).unwrap().remove(0);
    let TensorData::I8(q) = &out.data else {
        panic!("{:?}", out.dtype())
    };
    // cx 6.0 = (q - (-16)) * 0.25 → q = 8; objectness 1.0 → q = -12; zeros are q = -16.
    assert_eq!(&q[..6], &[8, 0, 0, 0, -12, -12]);
    assert_eq!(q[7], -16);
    assert_eq!(out.shape, [1, 2, 6]);
}

#[test]
fn refused_models_and_masks_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = model(dir.path(), "not a model");
    let Err(BackendError::Model { path, message }) = RknnBackend::load(&bad, &options(false))
    else {
        panic!("a bad model loaded")
    };
    assert_eq!(path, bad);
    assert!(message.contains("RKNN_ERR_MODEL_INVALID"), "{message}");
    let empty = model(dir.path(), "");
    assert!(RknnBackend::load(&empty, &options(false)).is_err());
    let good = model(dir.path(), "EDGEFLOW-FAKE-RKNN 20 10");
    let opts = RknnOptions {
        core_mask: CoreMask::Cores(0b1000),
        ..options(false)
    };
    let Err(BackendError::Runtime { message, help }) = RknnBackend::load(&good, &opts) else {
        panic!("a fourth core was accepted")
    };
    assert!(message.contains("does not take core mask 0x8"), "{message}");
    assert!(help.contains("single-core"), "{help}");
    let nolib = RknnOptions {
        library: Some(dir.path().join("librknnrt.so")),
        ..options(false)
    };
    match RknnBackend::load(&good, &nolib) {
        Err(BackendError::Runtime { message, .. }) => {
            assert!(message.contains("librknnrt.so (not found)"), "{message}")
        }
        Err(e) => panic!("{e}"),
        // A board with the real runtime in /usr/lib falls through to it.
        Ok(_) => {}
    }
}
