//! The optimised-model cache on YOLOv3-tiny from `scripts/setup.sh`: the first load saves the
//! optimised graph, the next takes it (and gives the same outputs), and a damaged file in the
//! cache is replaced, never an error.

use std::path::PathBuf;

use edgeflow_backend::conformance::filled;
use edgeflow_backend::{Backend, Tensor};
use edgeflow_backend_ort::{OrtBackend, OrtOptions, cache};

fn asset(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets")
        .join(p)
}

fn outputs(b: &mut OrtBackend) -> Vec<f32> {
    let input: Tensor = filled(&b.inputs()[0], 0.5);
    b.run(&[input]).unwrap()[0].to_f32().to_vec()
}

#[test]
fn the_first_load_saves_the_optimised_model_and_the_next_takes_it() {
    let model = asset("models/yolov3-tiny-416.onnx");
    assert!(
        model.exists(),
        "{} is missing: run scripts/setup.sh",
        model.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let options = OrtOptions {
        library: Some(asset(&format!(
            "ort/libonnxruntime.so.{}",
            edgeflow_backend_ort::ORT_VERSION
        ))),
        intra_threads: 1,
        optimized_cache: Some(dir.path().to_path_buf()),
        ..OrtOptions::default()
    };
    let saved = cache::entry(dir.path(), &model, options.optimization)
        .unwrap()
        .path;
    let mut first = OrtBackend::load(&model, &options).unwrap();
    assert!(saved.is_file(), "{} was not saved", saved.display());
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "no partial files are left behind");
    let mut second = OrtBackend::load(&model, &options).unwrap();
    let (a, b) = (outputs(&mut first), outputs(&mut second));
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "the cached graph computes the same: {worst}");
    // A damaged cache file is replaced by a good one.
    std::fs::write(&saved, b"not a model").unwrap();
    let mut third = OrtBackend::load(&model, &options).unwrap();
    assert!(std::fs::metadata(&saved).unwrap().len() > 1000);
    assert_eq!(outputs(&mut third).len(), a.len());
    // A cache folder that cannot be made is no error either: the model loads uncached.
    let blocked = OrtOptions {
        optimized_cache: Some(dir.path().join("file/under/a/file")),
        ..options.clone()
    };
    std::fs::write(dir.path().join("file"), b"").unwrap();
    assert!(OrtBackend::load(&model, &blocked).is_ok());
}
