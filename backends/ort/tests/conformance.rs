//! The backend conformance checks (`edgeflow_backend::conformance`) on ONNX Runtime, with
//! YOLOv3-tiny from `scripts/setup.sh` on a grey image: specs, a run, the same outputs twice,
//! and every refused input an error, never a panic.

use std::path::PathBuf;

use edgeflow_backend::conformance::{Case, check, filled};
use edgeflow_backend::{Backend, DType};
use edgeflow_backend_ort::{OrtBackend, OrtOptions};

fn asset(p: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets")
        .join(p);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path
}

#[test]
fn onnx_runtime_passes_the_backend_conformance_checks() {
    let options = OrtOptions {
        library: Some(asset(&format!(
            "ort/libonnxruntime.so.{}",
            edgeflow_backend_ort::ORT_VERSION
        ))),
        intra_threads: 1,
        ..OrtOptions::default()
    };
    let mut b = OrtBackend::load(&asset("models/yolov3-tiny-416.onnx"), &options).unwrap();
    assert_eq!(b.inputs()[0].dtype, DType::F32);
    let case = Case {
        inputs: vec![filled(&b.inputs()[0], 0.5)],
        expect: Box::new(|out| {
            // YOLOv3-tiny: one row per candidate box, 85 values each, all finite.
            let v = out[0].to_f32();
            if v.is_empty() || v.len() % 85 != 0 {
                return Err(format!("{} values, not rows of 85", v.len()));
            }
            v.iter()
                .all(|x| x.is_finite())
                .then_some(())
                .ok_or_else(|| "a value is not finite".to_string())
        }),
    };
    if let Err(failures) = check(&mut b, &case) {
        panic!("{}", failures.join("\n"));
    }
}
