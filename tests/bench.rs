//! `edgeflow bench` end to end: the report (text and JSON) of a whole pipeline and of a model
//! alone, the warm-up, and its errors. Figures are never judged here, only that they are
//! measured and add up.

use std::path::{Path, PathBuf};

mod support;
use support::edgeflow;

fn pipeline(dir: &Path, detect: &str) -> PathBuf {
    let p = dir.join("p.toml");
    let body = format!(
        "[pipeline]\nname = \"b\"\n\
         [stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 96\nheight = 64\ncount = 60\nobjects = 3\n\
         [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\n{detect}\n\
         [stages.trk]\ntype = \"track\"\ninputs = [\"det\"]\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"trk\"]\nsink = \"jsonl\"\npath = {:?}\n",
        dir.join("out.jsonl").display().to_string()
    );
    std::fs::write(&p, body).unwrap();
    p
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_pipeline_is_measured_after_its_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "backend = \"mock\"");
    let report = dir.path().join("r.json");
    let out = edgeflow(&[
        "bench",
        p.to_str().unwrap(),
        "--warmup",
        "10",
        "--json",
        report.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("bench `b` (pipeline"), "{stderr}");
    assert!(stderr.contains("peak RSS"), "{stderr}");
    assert!(stderr.contains("machine: "), "{stderr}");
    let r = json(&report);
    assert_eq!(r["mode"], "pipeline");
    assert_eq!(r["frames"], 50, "60 frames, 10 of them warm-up: {r}");
    assert_eq!(r["warmup"], 10);
    assert!(r["fps"].as_f64().unwrap() > 0.0);
    let stages: Vec<&str> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["cam", "det", "trk", "out"]);
    let det = &r["stages"][1];
    assert_eq!(det["items_in"], 60);
    assert!(det["process_ms"]["p50"].as_f64().unwrap() > 0.0, "{det}");
    assert!(det["process_ms"]["p99"].as_f64() >= det["process_ms"]["p50"].as_f64());
    assert!(det["queue_wait_ms"]["p50"].as_f64().is_some(), "{det}");
    assert!(
        r["stages"][0]["queue_wait_ms"]["p50"].is_null(),
        "a source waits on no queue"
    );
    assert!(r["end_to_end_ms"]["p95"].as_f64().unwrap() > 0.0);
    assert!(r["peak_rss_mb"].as_f64().unwrap() >= r["built_rss_mb"].as_f64().unwrap());
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(r["machine"]["emulated"], false);
    // The stage threads' CPU is counted by name.
    assert!(
        r["threads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "ef-det"),
        "{}",
        r["threads"]
    );
    // The pipeline's own output is untouched by the bench.
    let lines = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 60);
}

#[test]
fn frames_limits_the_run_and_json_goes_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), "backend = \"mock\"");
    let out = edgeflow(&[
        "bench",
        p.to_str().unwrap(),
        "--frames",
        "20",
        "--warmup",
        "5",
        "--json",
        "-",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["frames"], 20);
    assert_eq!(r["stages"][0]["items_out"], 25);
}

#[test]
fn the_model_alone_is_run_on_prepared_frames() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(
        dir.path(),
        "backend = \"ort\"\nmodel = \"assets/models/yolov3-tiny-416.onnx\"\nfamily = \"yolo\"\n\
         labels = \"assets/models/coco.names\"\nort = { intra_threads = 1, optimized_cache = false }",
    );
    let report = dir.path().join("r.json");
    let out = edgeflow(&[
        "bench",
        p.to_str().unwrap(),
        "--model-only",
        "--frames",
        "4",
        "--warmup",
        "1",
        "--json",
        report.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("model only"), "{stderr}");
    let r = json(&report);
    assert_eq!(r["mode"], "model_only");
    assert_eq!(r["frames"], 4);
    assert_eq!(r["model"]["stage"], "det");
    assert_eq!(r["model"]["distinct_frames"], 16);
    assert!(r["model"]["run_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(r["model"]["prepare_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(
        r["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["text"].as_str().unwrap().contains("on ONNX Runtime")),
        "{}",
        r["notes"]
    );
}

#[test]
fn bench_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    // No detect stage for --model-only.
    let p = dir.path().join("plain.toml");
    std::fs::write(
        &p,
        "[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\ncount = 5\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
    )
    .unwrap();
    let out = edgeflow(&["bench", p.to_str().unwrap(), "--model-only"]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`--model-only` needs a pipeline with a detect stage"),
        "{stderr}"
    );
    // A stage that is not a detect stage.
    let p2 = pipeline(dir.path(), "backend = \"mock\"");
    let out = edgeflow(&[
        "bench",
        p2.to_str().unwrap(),
        "--model-only",
        "--stage",
        "trk",
    ]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no detect stage `trk`"), "{stderr}");
    // More warm-up than frames.
    let out = edgeflow(&["bench", p.to_str().unwrap(), "--warmup", "50"]);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lower `--warmup`"), "{stderr}");
    // A pipeline that does not load: the diagnostics, as `run` prints them.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[stages.cam]\ntype = \"capturre\"\n").unwrap();
    let out = edgeflow(&["bench", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(78));
    // A JSON file that cannot be written.
    let out = edgeflow(&[
        "bench",
        p2.to_str().unwrap(),
        "--json",
        dir.path().join("no/such/dir/r.json").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot write"), "{stderr}");
}
