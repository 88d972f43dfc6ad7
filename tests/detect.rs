//! Real models on real stills against a Python onnxruntime reference
//! (`../shared/fixtures/golden/expected_detections.json`), and the bad-input paths.
#![cfg(all(feature = "ort", feature = "gstreamer"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use edgeflow::{Message, Pipeline, QueuePolicy, RunOptions};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn asset(p: &str) -> String {
    let path = root().join("assets").join(p);
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path.display().to_string()
}

fn golden() -> serde_json::Value {
    let path = root().join("../shared/fixtures/golden/expected_detections.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Boxes (label, score, x1, y1, x2, y2 in pixels) that `detect` finds in one image.
fn detect(image: &str, det: &str) -> Vec<(String, f32, [f32; 4])> {
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = {:?}\n\
         [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"ort\"\n{det}\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        asset(&format!("images/{image}"))
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let mut p =
        Pipeline::build(loaded.spec, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let rx = p.subscribe("det", 4, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let got: Vec<Message> = rx.iter().collect();
    let report = h.wait();
    assert!(report.failure.is_none(), "{:?}", report.failure);
    let Some(Message::Detections(d)) = got.into_iter().next() else {
        panic!("no detections message for {image}")
    };
    let (w, h) = (d.frame_width as f32, d.frame_height as f32);
    d.detections
        .iter()
        .map(|x| {
            (
                x.label.to_string(),
                x.score,
                [
                    x.bbox.x * w,
                    x.bbox.y * h,
                    (x.bbox.x + x.bbox.width) * w,
                    (x.bbox.y + x.bbox.height) * h,
                ],
            )
        })
        .collect()
}

fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let i = iw * ih;
    i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
}

/// Every reference box scoring above 0.5 is matched: same class, IoU >= 0.8, |Δscore| <= 0.05.
/// (Reference boxes are clipped to the image, as edgeflow clips its own.)
fn check_model(key: &str, det: &str, images: &[&str]) {
    let gold = golden();
    let mut matched = 0;
    for image in images {
        let ours = detect(image, det);
        let (iw, ih) = image_size(image);
        for r in gold[key][*image]
            .as_array()
            .unwrap_or_else(|| panic!("no reference for {key} {image}"))
        {
            let (label, score) = (r[0].as_str().unwrap(), r[1].as_f64().unwrap() as f32);
            if score <= 0.5 {
                continue;
            }
            let b: Vec<f32> = r[2]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let want = [
                b[0].clamp(0.0, iw),
                b[1].clamp(0.0, ih),
                b[2].clamp(0.0, iw),
                b[3].clamp(0.0, ih),
            ];
            let hit = ours.iter().find(|(l, s, bb)| {
                l == label && (s - score).abs() <= 0.05 && iou(*bb, want) >= 0.8
            });
            assert!(
                hit.is_some(),
                "{key} {image}: reference {label} {score} {want:?} not found in {ours:?}"
            );
            matched += 1;
        }
    }
    assert!(matched > 0, "{key}: no reference box above 0.5 was checked");
}

fn image_size(image: &str) -> (f32, f32) {
    match image {
        "bus.jpg" => (810.0, 1080.0),
        "zidane.jpg" => (1280.0, 720.0),
        "grace_hopper.jpg" => (512.0, 600.0),
        "astronaut.png" => (512.0, 512.0),
        "messi5.jpg" => (548.0, 342.0),
        other => panic!("size of {other}?"),
    }
}

const IMAGES: [&str; 5] = [
    "bus.jpg",
    "zidane.jpg",
    "grace_hopper.jpg",
    "astronaut.png",
    "messi5.jpg",
];

#[test]
fn yolov3_tiny_matches_the_reference() {
    let det = format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {:?}\nscore_threshold = 0.3",
        asset("models/yolov3-tiny-416.onnx"),
        asset("models/coco.names")
    );
    check_model("yolov3_tiny_416_f16w", &det, &IMAGES);
}

#[test]
fn blazeface_front_128_matches_the_reference() {
    let det = format!(
        "model = {:?}\nfamily = \"blazeface\"\nscore_threshold = 0.3",
        asset("models/face_detection_front_128x128_barracuda.onnx")
    );
    check_model("blazeface_front_128", &det, &IMAGES);
}

#[test]
fn blazeface_back_256_matches_the_reference_with_keypoints() {
    let det = format!(
        "model = {:?}\nfamily = \"blazeface\"\nscore_threshold = 0.3",
        asset("models/face_detection_back_256x256_barracuda.onnx")
    );
    check_model("blazeface_back_256", &det, &IMAGES);
    // Keypoints come with each face: six, inside the image.
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = {:?}\n[stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"ort\"\n{det}\n[stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        asset("images/zidane.jpg")
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("det", 4, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let Some(Message::Detections(d)) = rx.iter().next() else {
        panic!("no detections")
    };
    h.wait();
    assert!(!d.detections.is_empty());
    assert!(
        d.face_model,
        "a face model says so: events carry `faces` even when empty"
    );
    for f in &d.detections {
        assert_eq!(f.keypoints.len(), 6);
        assert!(
            f.keypoints
                .iter()
                .all(|k| (0.0..=1.0).contains(&k[0]) && (0.0..=1.0).contains(&k[1]))
        );
    }
}

#[test]
fn nv12_frames_detect_like_rgb_frames() {
    // The same still through the NV12 path (converted in detect) finds the same people.
    let det = format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {:?}\nclasses = [\"person\"]",
        asset("models/yolov3-tiny-416.onnx"),
        asset("models/coco.names")
    );
    let rgb = detect("bus.jpg", &det);
    let toml_nv12 = det.clone();
    let nv12 = {
        let toml = format!(
            "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\nformat = \"nv12\"\npattern = {:?}\n[stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"ort\"\n{toml_nv12}\n[stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
            asset("images/bus.jpg")
        );
        let loaded =
            edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
        let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
        let rx = p.subscribe("det", 4, QueuePolicy::Block).unwrap();
        let h = p.start().unwrap();
        let Some(Message::Detections(d)) = rx.iter().next() else {
            panic!("no detections")
        };
        h.wait();
        d.detections.len()
    };
    assert!(
        rgb.len() >= 3 && rgb.iter().all(|d| d.0 == "person"),
        "{rgb:?}"
    );
    assert_eq!(nv12, rgb.len());
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `validate --deep` on a pipeline with this detect stage fails with all of `want`.
/// The pipeline file around one `backend = "ort"` detect stage with `det`'s keys.
fn ort_pipeline(det: &str) -> String {
    format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\ncount = 1\n[stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"ort\"\n{det}\n[stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\n"
    )
}

/// Run `bin validate args...` in `cwd`: it must exit 78 and say every one of `want`; returns
/// what it said.
fn validate_fails(bin: &Path, args: &[&str], cwd: &Path, want: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("validate")
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    for w in want {
        assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
    }
    stderr
}

fn deep_fails(name: &str, det: &str, cwd: &Path, want: &[&str]) {
    let p = tmp(name, &ort_pipeline(det));
    let bin = Path::new(env!("CARGO_BIN_EXE_edgeflow"));
    validate_fails(bin, &["--deep", p.to_str().unwrap()], cwd, want);
}

#[test]
fn bad_models_and_labels_are_clear_errors() {
    let yolo = asset("models/yolov3-tiny-416.onnx");
    let labels = asset("models/coco.names");
    deep_fails(
        "missing.toml",
        "model = \"/nonexistent/m.onnx\"\nfamily = \"blazeface\"",
        root(),
        &[
            "no such model file: /nonexistent/m.onnx",
            // A model the user brought: help about the path, not about the project's setup.
            "check the path (a relative path is relative to the directory edgeflow runs in)",
        ],
    );
    let junk = tmp("junk.onnx", "this is not a model");
    deep_fails(
        "junk.toml",
        &format!(
            "model = {:?}\nfamily = \"blazeface\"",
            junk.display().to_string()
        ),
        root(),
        &["not a model ONNX Runtime can load"],
    );
    deep_fails(
        "family.toml",
        &format!("model = {yolo:?}\nfamily = \"blazeface\""),
        root(),
        &[
            "does not fit family `blazeface`",
            "the file has inputs images [1, 3, 416, 416]",
            "this is a YOLO model for 80 classes: use `family = \"yolo\"`",
        ],
    );
    let short = tmp(
        "79.names",
        &std::fs::read_to_string(&labels)
            .unwrap()
            .lines()
            .take(79)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    deep_fails(
        "labels.toml",
        &format!(
            "model = {yolo:?}\nfamily = \"yolo\"\nlabels = {:?}",
            short.display().to_string()
        ),
        root(),
        &[
            "does not fit family `yolo`",
            "[1, N, 84]",
            "output [1, 2535, 85]",
            "80 classes",
        ],
    );
    deep_fails(
        "classes.toml",
        &format!("model = {yolo:?}\nfamily = \"yolo\"\nlabels = {labels:?}\nclasses = [\"persn\"]"),
        root(),
        &["`persn` is not a label in", "did you mean `person`?"],
    );
}

#[test]
fn a_missing_runtime_library_says_where_it_looked() {
    // A binary outside any checkout, run where no assets/ort exists, with an explicit library
    // that is not there: every place tried is listed.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("edgeflow");
    std::fs::copy(env!("CARGO_BIN_EXE_edgeflow"), &bin).unwrap();
    let det = format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {:?}\nort = {{ library = \"/nonexistent/libonnxruntime.so\" }}",
        asset("models/yolov3-tiny-416.onnx"),
        asset("models/coco.names")
    );
    let p = dir.path().join("nolib.toml");
    std::fs::write(&p, ort_pipeline(&det)).unwrap();
    validate_fails(
        &bin,
        &["--deep", p.to_str().unwrap()],
        dir.path(),
        &[
            "cannot load the ONNX Runtime library; tried: /nonexistent/libonnxruntime.so (not found)",
            "assets/ort/libonnxruntime.so.1.31.1 (not found)",
            "/usr/local/lib/edgeflow/libonnxruntime.so.1.31.1 (not found)",
            "help: run scripts/setup.sh",
        ],
    );
}

/// One Detections message: stream, seq, skipped, (label, score rounded) per detection.
type Seen = (String, u64, bool, Vec<(String, f32)>);

/// Detections per stream of a two-stream pipeline (bus.jpg and zidane.jpg, 3 frames each).
fn two_streams(det: &str) -> Vec<Seen> {
    let cam = |id: &str, image: &str| {
        format!(
            "[stages.{id}]\ntype = \"capture\"\nsource = \"images\"\nloop = true\npattern = {:?}\n",
            asset(&format!("images/{image}"))
        )
    };
    let toml = format!(
        "{}{}[stages.det]\ntype = \"detect\"\ninputs = [\"a\", \"b\"]\nbackend = \"ort\"\n{det}\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        cam("a", "bus.jpg"),
        cam("b", "zidane.jpg")
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let mut p = Pipeline::build(
        loaded.spec,
        RunOptions {
            max_frames: Some(3),
            ..RunOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rx = p.subscribe("det", 64, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let mut got: Vec<_> = rx
        .iter()
        .filter_map(|m| match m {
            Message::Detections(d) => Some((
                d.meta.stream_id.to_string(),
                d.meta.seq,
                d.skipped,
                d.detections
                    .iter()
                    .map(|x| (x.label.to_string(), (x.score * 1000.0).round() / 1000.0))
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    assert!(h.wait().failure.is_none());
    got.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    got
}

#[test]
fn batching_two_streams_gives_the_same_detections() {
    let labels = asset("models/coco.names");
    let one = two_streams(&format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {labels:?}\nevery_nth_frame = 2",
        asset("models/yolov3-tiny-416.onnx")
    ));
    let two = two_streams(&format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {labels:?}\nevery_nth_frame = 2\nbatch = 2",
        asset("models/yolov3-tiny-416-batch.onnx")
    ));
    assert_eq!(one.len(), 6);
    assert_eq!(one, two);
    // Frame 1 of each stream is not analysed: it passes on marked as skipped.
    assert!(
        one.iter()
            .all(|(_, seq, skipped, _)| *skipped == (seq % 2 == 1))
    );
    assert!(one.iter().any(|(s, seq, _, d)| s == "a"
        && *seq == 0
        && d.iter().filter(|x| x.0 == "person").count() >= 3));
}

#[test]
fn batching_a_fixed_batch_model_is_an_error() {
    deep_fails(
        "batch.toml",
        &format!(
            "model = {:?}\nfamily = \"yolo\"\nlabels = {:?}\nbatch = 4",
            asset("models/yolov3-tiny-416.onnx"),
            asset("models/coco.names")
        ),
        root(),
        &[
            "`batch = 4` needs a model with a dynamic batch dimension",
            "--dynamic-batch",
        ],
    );
}

#[test]
fn session_options_do_not_change_results() {
    let base = format!(
        "model = {:?}\nfamily = \"yolo\"\nlabels = {:?}",
        asset("models/yolov3-tiny-416.onnx"),
        asset("models/coco.names")
    );
    let a = detect("zidane.jpg", &base);
    let b = detect(
        "zidane.jpg",
        &format!(
            "{base}\nort = {{ intra_threads = 1, inter_threads = 1, optimization = \"disable\" }}"
        ),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        assert!(
            (x.1 - y.1).abs() < 1e-3 && iou(x.2, y.2) > 0.99,
            "{x:?} vs {y:?}"
        );
    }
}

/// Detections of a running ONNX Runtime stage: (seq, skipped, persons found).
fn seen_detections(rx: &flume::Receiver<Message>, n: usize) -> Vec<(u64, bool, usize)> {
    let mut got = Vec::new();
    while got.len() < n {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(Message::Detections(d)) => got.push((d.meta.seq, d.skipped, d.detections.len())),
            Ok(_) => {}
            Err(e) => panic!("no detections: {e}"),
        }
    }
    got
}

#[test]
fn a_running_detect_stage_changes_its_filters_in_place_and_keeps_its_model_on_a_bad_rebuild() {
    use edgeflow::{ControlError, Outcome};
    let wait = std::time::Duration::from_secs(30);
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\nloop = true\npattern = {:?}\n\
         [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"ort\"\nmodel = {:?}\n\
         family = \"yolo\"\nlabels = {:?}\nclasses = [\"person\"]\nscore_threshold = 0.4\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        asset("images/zidane.jpg"),
        asset("models/yolov3-tiny-416.onnx"),
        asset("models/coco.names")
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let mut p =
        Pipeline::build(loaded.spec, RunOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    // The test reads between its commands only: a blocking tap would hold the stage in its
    // send (where it answers no command) once 4 results wait. Dropping the oldest keeps it free.
    let rx = p.subscribe("det", 4, QueuePolicy::DropOldest).unwrap();
    let run = p.start().unwrap();
    let det = run.stage("det").unwrap();
    let before = seen_detections(&rx, 3);
    assert!(
        before.iter().all(|(_, skipped, n)| !skipped && *n > 0),
        "{before:?}"
    );
    let state = det.get_state(wait).unwrap();
    assert_eq!(state.report.get("backend"), Some(&"ort".into()));
    assert_eq!(state.report.get("family"), Some(&"yolo".into()));

    // Filters after the model change in place: no person scores 0.99, every other frame skipped.
    let done = det
        .reconfigure("score_threshold = 0.99\nevery_nth_frame = 2", wait)
        .unwrap();
    assert_eq!(done.outcome, Outcome::InPlace);
    assert_eq!(done.changed, ["score_threshold", "every_nth_frame"]);
    let boundary = done.last_seq_before["cam"];
    // A class the labels file does not have is refused by the check of the change itself
    // (plain `validate` reads the labels file); nothing changes.
    let err = det
        .reconfigure("classes = [\"unicorn\"]", wait)
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::Invalid { diagnostics, .. } if diagnostics.to_string().contains("`unicorn` is not a label")),
        "{err}"
    );
    // A new model that is not there is refused by the check of the change; one that is there
    // but is no model fails its rebuild: either way the old model runs on.
    let err = det
        .reconfigure("model = \"no/such/model.onnx\"", wait)
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::Invalid { diagnostics, .. }
            if diagnostics.to_string().contains("no such model file: no/such/model.onnx")),
        "{err}"
    );
    let junk = tmp("not-a-model.onnx", "this is not a model");
    let err = det
        .reconfigure(
            format!("model = {:?}", junk.display().to_string()).as_str(),
            wait,
        )
        .unwrap_err();
    let ControlError::Refused { message, .. } = &err else {
        panic!("{err}");
    };
    assert!(message.contains("not-a-model.onnx"), "{message}");
    let after = seen_detections(&rx, 12);
    for (seq, skipped, n) in after.iter().filter(|(s, ..)| *s > boundary) {
        assert_eq!(*skipped, seq % 2 == 1, "seq {seq}");
        assert_eq!(*n, 0, "seq {seq}: threshold 0.99");
    }
    let state = det.get_state(wait).unwrap();
    assert_eq!(state.config_generation, 1);
    let threshold = state.report.get("score_threshold").and_then(|v| v.as_f64());
    assert!(
        threshold.is_some_and(|t| (t - 0.99).abs() < 1e-6),
        "{threshold:?}"
    );
    assert!(state.last_command.is_some_and(|c| !c.ok));
    run.stop();
    while rx.recv().is_ok() {}
    assert!(run.wait().failure.is_none());
}

/// Plain `validate` (no model loaded) already checks the files and the classes against the
/// labels file, with a suggestion.
#[test]
fn plain_validate_checks_model_labels_and_classes() {
    let toml = ort_pipeline(&format!(
        "family = \"yolo\"\nmodel = \"models/mine.onnx\"\nlabels = {:?}\nclasses = [\"persn\", \"car\"]",
        asset("models/coco.names")
    ));
    let p = tmp("plain.toml", &toml);
    let stderr = validate_fails(
        Path::new(env!("CARGO_BIN_EXE_edgeflow")),
        &[p.to_str().unwrap()],
        root(),
        &[
            "no such model file: models/mine.onnx",
            "check the path",
            "`persn` is not a label in",
            "did you mean `person`?",
        ],
    );
    assert!(!stderr.contains("`car` is not a label"), "{stderr}");
}
