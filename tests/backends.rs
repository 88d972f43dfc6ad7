//! The board backends inside a running pipeline, on their fake vendor libraries
//! (`backends/*/fake`): `backend = "auto"` takes Hailo where it finds a device and says why,
//! `validate --deep` names the choice, a board whose model variant is missing is told the key
//! to add, and RKNN's int8 outputs become detections through the YOLO family.
#![cfg(all(feature = "hailo", feature = "rknn"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use edgeflow::{Message, Pipeline, QueuePolicy, RunOptions};

fn fake(package: &str, env: &str) -> PathBuf {
    edgeflow_backend::fake::library(env!("CARGO_MANIFEST_DIR"), package, env).unwrap()
}

fn hailort() -> PathBuf {
    fake("edgeflow-fake-hailort", "EDGEFLOW_FAKE_HAILORT")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A test pattern → detect (with `det`) → jsonl pipeline.
fn pipeline(det: &str) -> String {
    format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\ncount = 3\n\
         [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\n{det}\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n"
    )
}

fn run(toml: &str) -> (Vec<edgeflow::Detections>, Vec<(String, String)>) {
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", toml, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let mut p =
        Pipeline::build(loaded.spec, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let notes = p.notes();
    let rx = p.subscribe("det", 8, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let got: Vec<edgeflow::Detections> = rx
        .iter()
        .filter_map(|m| match m {
            Message::Detections(d) => Some(d),
            _ => None,
        })
        .collect();
    let report = h.wait();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    (got, notes)
}

#[test]
fn auto_takes_the_hailo_it_finds_and_decodes_its_nms() {
    let dir = tempfile::tempdir().unwrap();
    let hef = write(dir.path(), "m.hef", "EDGEFLOW-FAKE-HEF 64 48 nms 2 5");
    let labels = write(dir.path(), "labels.txt", "person\ncar\n");
    let det = format!(
        "model = {{ onnx = \"assets/models/yolov3-tiny-416.onnx\", hef = {hef:?} }}\n\
         family = \"yolo\"\nlabels = {labels:?}\nscore_threshold = 0.3\n\
         hailo = {{ library = {:?} }}",
        hailort().display()
    );
    let (frames, notes) = run(&pipeline(&det));
    assert_eq!(frames.len(), 3);
    let chose = notes
        .iter()
        .find(|(_, n)| n.starts_with("backend `auto` chose"))
        .map(|(_, n)| n.clone())
        .unwrap_or_else(|| panic!("no choice noted: {notes:?}"));
    assert!(
        chose.contains("chose `hailo` (Hailo device 0000:01:00.0, HailoRT 4.23.0"),
        "{chose}"
    );
    assert!(
        chose.contains(&format!("model variant `hef` = {hef}")),
        "{chose}"
    );
    assert!(chose.contains("passed over `tensorrt`: "), "{chose}");
    for f in &frames {
        // The fake's class 1 box is the whole network input: the whole frame, at 0.4.
        let car = f.detections.iter().find(|d| &*d.label == "car").unwrap();
        assert!((car.score - 0.4).abs() < 1e-6);
        assert!(
            car.bbox.width > 0.99 && car.bbox.height > 0.99,
            "{:?}",
            car.bbox
        );
        assert!(f.detections.iter().any(|d| &*d.label == "person"), "{f:?}");
    }
}

#[test]
fn validate_deep_names_the_choice_and_a_missing_variant_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let labels = write(dir.path(), "labels.txt", "person\ncar\n");
    let det = format!(
        "model = \"assets/models/yolov3-tiny-416.onnx\"\nfamily = \"yolo\"\nlabels = {labels:?}\n\
         hailo = {{ library = {:?} }}",
        hailort().display()
    );
    let file = write(dir.path(), "p.toml", &pipeline(&det));
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["validate", "--deep", &file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("backend `auto` chose `hailo` (Hailo device 0000:01:00.0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("but `model` has none (it has `onnx`)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("add `hef = \"path/to/model.hef\"`"),
        "{stderr}"
    );
    assert!(stderr.contains("or set `backend = \"ort\"`"), "{stderr}");
    assert!(stderr.contains("p.toml:8:9"), "points at `model`: {stderr}");
    // Without the device (no library found) `auto` takes the CPU and says so.
    let cpu = pipeline(
        "model = \"assets/models/yolov3-tiny-416.onnx\"\nfamily = \"yolo\"\n\
         labels = \"assets/models/coco.names\"\n\
         hailo = { library = \"/nonexistent/libhailort.so\" }",
    );
    let file = write(dir.path(), "cpu.toml", &cpu);
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["validate", "--deep", &file])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("backend `auto` chose `ort` (the CPU"),
        "{stdout}"
    );
    assert!(
        stdout.contains("`hailo`: cannot load HailoRT (libhailort.so); tried: /nonexistent/libhailort.so (not found)"),
        "{stdout}"
    );
}

#[test]
fn rknn_int8_outputs_become_yolo_detections() {
    let dir = tempfile::tempdir().unwrap();
    let model = write(dir.path(), "m.rknn", "EDGEFLOW-FAKE-RKNN 32 32");
    let labels = write(dir.path(), "labels.txt", "person\n");
    let det = format!(
        "backend = \"rknn\"\nmodel = {{ rknn = {model:?} }}\nfamily = \"yolo\"\nlabels = {labels:?}\n\
         rknn = {{ library = {:?}, core_mask = \"0_1_2\" }}",
        fake("edgeflow-fake-rknnrt", "EDGEFLOW_FAKE_RKNNRT").display()
    );
    let (frames, notes) = run(&pipeline(&det));
    assert!(
        notes
            .iter()
            .any(|(_, n)| n
                .contains("RKNN runtime API 2.3.2 (edgeflow), driver fake 0.9, zero-copy")),
        "{notes:?}"
    );
    assert_eq!(frames.len(), 3);
    for f in &frames {
        let [d] = f.detections.as_slice() else {
            panic!("{:?}", f.detections)
        };
        assert_eq!(&*d.label, "person");
        assert!((d.score - 1.0).abs() < 1e-6, "{}", d.score);
        assert!(d.bbox.width > 0.0 && d.bbox.width <= 1.0, "{:?}", d.bbox);
    }
    // A core the chip lacks is refused at `rknn.core_mask`, with the fix.
    let bad = det.replace(
        "core_mask = \"0_1_2\"",
        "core_mask = \"all\", zero_copy = 3",
    );
    let loaded = edgeflow::load_str(
        &edgeflow::registry(),
        "t.toml",
        &pipeline(&bad),
        ".".as_ref(),
    );
    let Err(d) = loaded else {
        panic!("zero_copy = 3 loaded")
    };
    assert!(d.render(false).contains("zero_copy"), "{}", d.render(false));
}

/// `backend = "tensorrt"` on this machine's CPU-only ONNX Runtime: neither TensorRT nor CUDA
/// registers, the model runs on the CPU, and the build note says it is a fallback and why;
/// with `cuda_fallback = false` that is an error instead.
#[cfg(feature = "tensorrt")]
#[test]
fn a_tensorrt_fallback_is_said_never_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("engines");
    let det = format!(
        "backend = \"tensorrt\"\nmodel = \"assets/models/yolov3-tiny-416.onnx\"\nfamily = \"yolo\"\n\
         labels = \"assets/models/coco.names\"\ntensorrt = {{ engine_cache = {:?} }}",
        cache.display()
    );
    let (frames, notes) = run(&pipeline(&det));
    assert_eq!(frames.len(), 3);
    let note = notes
        .iter()
        .map(|(_, n)| n.as_str())
        .find(|n| n.starts_with("execution provider"))
        .unwrap_or_else(|| panic!("{notes:?}"));
    assert!(
        note.starts_with("execution provider CPUExecutionProvider (a fallback: TensorRT did not load; TensorrtExecutionProvider: "),
        "{note}"
    );
    assert!(note.contains("CUDAExecutionProvider: "), "{note}");
    // The engine folder is keyed (model hash first), even when no engine is built in it.
    let keyed: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        keyed.len() == 1 && keyed[0].ends_with("-fp16") && keyed[0].contains("-trt"),
        "{keyed:?}"
    );
    let strict = det.replace("tensorrt = {", "tensorrt = { cuda_fallback = false,");
    let loaded = edgeflow::load_str(
        &edgeflow::registry(),
        "t.toml",
        &pipeline(&strict),
        ".".as_ref(),
    )
    .unwrap();
    let e = Pipeline::build(loaded.spec, RunOptions::default()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("TensorRT did not load"), "{text}");
}
