//! The `hailo` backend against the fake libhailort (`backends/hailo/fake`): the conformance
//! checks on a HEF with the on-chip NMS (decoded detections) and on one with raw u8 outputs
//! (read through their zero point and scale), and the error paths (a HEF HailoRT refuses, a
//! missing library).

use std::path::{Path, PathBuf};

use edgeflow_backend::conformance::{Case, check, filled_as};
use edgeflow_backend::{
    Backend, BackendError, DType, Layout, Quantization, Tensor, TensorData, TensorRole,
};
use edgeflow_backend_hailo::{HailoBackend, HailoOptions};

fn options() -> HailoOptions {
    HailoOptions {
        library: Some(
            edgeflow_backend::fake::library(
                env!("CARGO_MANIFEST_DIR"),
                "edgeflow-fake-hailort",
                "EDGEFLOW_FAKE_HAILORT",
            )
            .unwrap(),
        ),
        ..HailoOptions::default()
    }
}

fn hef(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("m.hef");
    std::fs::write(&p, text).unwrap();
    p
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

#[test]
fn the_on_chip_nms_comes_back_as_decoded_detections() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = HailoBackend::load(
        &hef(dir.path(), "EDGEFLOW-FAKE-HEF 20 10 nms 2 5"),
        &options(),
    )
    .unwrap();
    let input = &b.inputs()[0];
    assert_eq!(input.shape, [Some(1), Some(10), Some(20), Some(3)]);
    assert_eq!((input.dtype, input.layout), (DType::U8, Some(Layout::Nhwc)));
    let out = &b.outputs()[0];
    assert_eq!(out.role, TensorRole::Detections);
    assert_eq!(out.shape, [Some(1), Some(10), Some(6)]);
    let case = Case {
        inputs: vec![picture()],
        expect: Box::new(|out| {
            let v = out[0].to_f32();
            // Best first: the block (class 0, 0.9) in input pixels, then the frame (class 1).
            let want = [4.0, 2.0, 8.0, 6.0, 0.9, 0.0, 0.0, 0.0, 20.0, 10.0, 0.4, 1.0];
            if v[..12] != want {
                return Err(format!("rows {:?}", &v[..12]));
            }
            if v[12..].chunks_exact(6).any(|r| r[5] != -1.0) {
                return Err("padding rows are not class -1".into());
            }
            Ok(())
        }),
    };
    if let Err(failures) = check(&mut b, &case) {
        panic!("{}", failures.join("\n"));
    }
    // A flat image has no foreground box: only class 1's.
    let flat = filled_as(&b.inputs()[0], 90.0);
    let v = b.run(&[flat]).unwrap()[0].to_f32().into_owned();
    assert_eq!(&v[..6], &[0.0, 0.0, 20.0, 10.0, 0.4, 1.0]);
    assert_eq!(v[11], -1.0);
}

#[test]
fn raw_outputs_carry_their_zero_point_and_scale() {
    let dir = tempfile::tempdir().unwrap();
    let mut b =
        HailoBackend::load(&hef(dir.path(), "EDGEFLOW-FAKE-HEF 20 10 raw"), &options()).unwrap();
    let out = &b.outputs()[0];
    assert_eq!(out.dtype, DType::U8);
    assert_eq!(out.role, TensorRole::Raw);
    assert_eq!(
        out.quantization,
        Some(Quantization {
            scale: 1.0 / 128.0,
            zero_point: 128
        })
    );
    let case = Case {
        inputs: vec![filled_as(&b.inputs()[0], 192.0)],
        expect: Box::new(|out| {
            let v = out[0].to_f32();
            // byte 0: the mean 192 → (192 - 128) / 128; byte i: 128 + 10 i → 10 i / 128.
            let want: Vec<f32> = (0..6)
                .map(|i| if i == 0 { 0.5 } else { 10.0 * i as f32 / 128.0 })
                .collect();
            (v[..] == want[..])
                .then_some(())
                .ok_or_else(|| format!("{v:?}"))
        }),
    };
    if let Err(failures) = check(&mut b, &case) {
        panic!("{}", failures.join("\n"));
    }
}

#[test]
fn refused_hefs_and_missing_libraries_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = hef(dir.path(), "not a hef");
    let Err(BackendError::Model { path, message }) = HailoBackend::load(&bad, &options()) else {
        panic!("a bad HEF loaded")
    };
    assert_eq!(path, bad);
    assert!(
        message.contains("HAILO_HEF_FILE_CORRUPTED (91)"),
        "{message}"
    );
    let missing = dir.path().join("none.hef");
    assert!(matches!(
        HailoBackend::load(&missing, &options()),
        Err(BackendError::Model { .. })
    ));
    let nolib = HailoOptions {
        library: Some(dir.path().join("libhailort.so")),
        ..HailoOptions::default()
    };
    match HailoBackend::load(&bad, &nolib) {
        Err(BackendError::Runtime { message, help }) => {
            assert!(message.contains("libhailort.so (not found)"), "{message}");
            assert!(help.contains("rpi5-hailo"), "{help}");
        }
        Err(e) => panic!("{e}"),
        // A machine with HailoRT installed falls through to it.
        Ok(_) => {}
    }
}

#[test]
fn a_device_is_found_by_scanning() {
    let lib = options().library.unwrap();
    let found = edgeflow_backend_hailo::probe(Some(&lib)).unwrap();
    assert!(
        found.starts_with("Hailo device 0000:01:00.0, HailoRT 4.23.0"),
        "{found}"
    );
}
