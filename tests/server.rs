//! The edge HTTP service, end to end through `edgeflow run`: posted JPEGs through BlazeFace
//! to `/frame_data`, every bad post answered with a 4xx while the streams carry on, the
//! token, health and status from the stage handles, frames with overlays, and `/metrics`
//! through `promtool check metrics` with every metric the Grafana dashboard queries.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use support::served::Served;

fn asset(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(p)
}

fn face() -> Vec<u8> {
    std::fs::read(asset("images/grace_hopper.jpg")).expect("scripts/setup.sh fetches the images")
}

/// Two push streams (`browser`, and `lobby` that takes at most 320×240) into BlazeFace and a
/// tracker, events to a file; `extra` goes into `[server]`.
fn pipeline(dir: &Path, extra: &str) -> PathBuf {
    let file = dir.join("faces.toml");
    let text = format!(
        r#"[pipeline]
name = "http-faces"

[server]
listen = "127.0.0.1:8080"
max_body_bytes = 300000
ready_timeout_ms = 60000
{extra}

[stages.cam]
type = "capture"
source = "http"
stream_id = "browser"

[stages.lobby]
type = "capture"
source = "http"
max_width = 320
max_height = 240

[stages.det]
type = "detect"
inputs = ["cam", "lobby"]
backend = "ort"
model = "assets/models/face_detection_front_128x128_barracuda.onnx"
family = "blazeface"
score_threshold = 0.5

[stages.trk]
type = "track"
inputs = ["det"]

[stages.out]
type = "publish"
inputs = ["trk"]
sink = "jsonl"
path = {events:?}
"#,
        events = dir.join("events.jsonl")
    );
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn posted_frames_come_back_as_faces_with_their_seq() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Served::start(&pipeline(dir.path(), ""));

    // Nothing posted yet: the push streams are connecting, the service is not ready.
    let streams = s.get("/streams").json();
    let ids: Vec<&str> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["browser", "lobby"], "{streams}");
    let ready = s.get("/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert!(
        ready.text().contains("source cam produced"),
        "{}",
        ready.text()
    );
    assert_eq!(s.get("/health/live").status, 200);

    // A raw JPEG, then the same as JSON with a data: URL prefix.
    let a = s.post("/frame?stream_id=browser", "image/jpeg", &face());
    assert_eq!(a.status, 202, "{}", a.text());
    let a = a.json();
    assert_eq!(
        (a["seq"].as_u64(), a["width"].as_u64()),
        (Some(0), Some(512)),
        "{a}"
    );
    let data = s.wait_json(
        "/frame_data?stream_id=browser",
        Duration::from_secs(30),
        |j| j["seq"] == 0,
    );
    let faces = data["detections"].as_array().unwrap();
    assert!(
        !faces.is_empty(),
        "BlazeFace finds Grace Hopper's face: {data}"
    );
    let f = &faces[0];
    assert_eq!(f["class"], "face");
    assert!(f["score"].as_f64().unwrap() >= 0.5, "{f}");
    assert_eq!(
        f["keypoints"].as_array().unwrap().len(),
        6,
        "six landmarks: {f}"
    );
    let b = &f["box"];
    let (x, y, w, h) = (
        b["x"].as_f64().unwrap(),
        b["y"].as_f64().unwrap(),
        b["width"].as_f64().unwrap(),
        b["height"].as_f64().unwrap(),
    );
    assert!(
        x > 0.0 && y > 0.0 && x + w < 1.0 && y + h < 1.0,
        "normalised: {b}"
    );
    assert_eq!(
        (data["frame_width"].as_u64(), data["frame_height"].as_u64()),
        (Some(512), Some(600))
    );
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'), "{data}");

    let json = serde_json::json!({
        "image": format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(face())),
        "stream_id": "browser",
    });
    let a = s.post("/frame", "application/json", json.to_string().as_bytes());
    assert_eq!(a.status, 202, "{}", a.text());
    assert_eq!(a.json()["seq"], 1);
    let data = s.wait_json(
        "/frame_data?stream_id=browser",
        Duration::from_secs(30),
        |j| j["seq"] == 1 && !j["detections"].as_array().unwrap().is_empty(),
    );
    assert_eq!(data["state"], "live", "{data}");

    // The latest frame: as posted with `raw=1`, with the face's box drawn without.
    let raw = s.get("/streams/browser/latest.jpg?raw=1");
    assert_eq!((raw.status, raw.content_type.as_str()), (200, "image/jpeg"));
    let drawn = s.get("/streams/browser/latest.jpg");
    assert_eq!(drawn.status, 200);
    let (rw, rh, raw_px) = decode(&raw.body);
    let (dw, dh, drawn_px) = decode(&drawn.body);
    assert_eq!((rw, rh, dw, dh), (512, 600, 512, 600));
    let green = |px: &[u8], fx: f64, fy: f64| {
        let (cx, cy) = ((fx * 512.0) as i64, (fy * 600.0) as i64);
        // Anywhere within 3 pixels (the line is drawn 2 pixels wide, JPEG blurs it).
        (-3..=3).any(|d: i64| {
            [(cx + d, cy), (cx, cy + d)].iter().any(|&(x, y)| {
                let i = ((y.clamp(0, 599) * 512 + x.clamp(0, 511)) * 3) as usize;
                px[i + 1] > 180 && px[i] < 110 && px[i + 2] < 110
            })
        })
    };
    let edge = [
        (x + w / 2.0, y),
        (x, y + h / 2.0),
        (x + w, y + h / 2.0),
        (x + w / 2.0, y + h),
    ];
    for (fx, fy) in edge {
        assert!(green(&drawn_px, fx, fy), "the box is drawn at ({fx}, {fy})");
        assert!(
            !green(&raw_px, fx, fy),
            "raw=1 draws nothing at ({fx}, {fy})"
        );
    }

    // The other stream: once it has a frame, the service is ready.
    let a = s.post("/frame?stream_id=lobby", "image/jpeg", &tiny_jpeg(320, 240));
    assert_eq!(a.status, 202, "{}", a.text());
    let health = s.wait_json("/health", Duration::from_secs(30), |j| j["status"] == "ok");
    assert_eq!(health["failing"].as_array().unwrap().len(), 0, "{health}");

    // /status: the graph, states, counters.
    let st = s.get("/status").json();
    let stages = st["stages"].as_array().unwrap();
    let names: Vec<(&str, &str)> = stages
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("cam", "capture/http"),
            ("lobby", "capture/http"),
            ("det", "detect/ort"),
            ("trk", "track"),
            ("out", "publish/jsonl")
        ]
    );
    assert_eq!(stages[2]["inputs"], serde_json::json!(["cam", "lobby"]));
    assert!(stages.iter().all(|s| s["state"] == "running"), "{st}");
    assert_eq!(stages[0]["report"]["posted"], 2, "{st}");
    assert!(st["drops"]["total"].is_u64(), "{st}");

    let page = s.get("/");
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    for needle in ["getUserMedia", "/frame_data", "/frame?stream_id="] {
        assert!(page.text().contains(needle), "the page uses {needle}");
    }
    assert!(s.alive());
    let log = s.stop();
    assert!(log.contains("pipeline `http-faces`"), "{log}");
    let events = std::fs::read_to_string(dir.path().join("events.jsonl")).unwrap();
    assert!(
        events.contains("\"face\""),
        "events reach the sink: {events}"
    );
}

/// Post `jpeg` to `stream` (202 expected) and wait until `/frame_data` answers for its `seq`:
/// the seq and that answer.
fn post_and_see(s: &Served, stream: &str, jpeg: &[u8]) -> (u64, serde_json::Value) {
    let a = s.post(&format!("/frame?stream_id={stream}"), "image/jpeg", jpeg);
    assert_eq!(a.status, 202, "{}", a.text());
    let seq = a.json()["seq"].as_u64().unwrap();
    let path = format!("/frame_data?stream_id={stream}");
    let data = s.wait_json(&path, Duration::from_secs(30), |j| j["seq"] == seq);
    (seq, data)
}

/// Width, height and RGB pixels of a JPEG.
fn decode(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut d = zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(jpeg));
    let px = d.decode().expect("a JPEG");
    let (w, h) = d.dimensions().unwrap();
    (w, h, px)
}

/// A grey JPEG of this size, made with GStreamer.
fn tiny_jpeg(w: u32, h: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jpg");
    let status = std::process::Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=1",
            "pattern=black",
            "!",
            &format!("video/x-raw,width={w},height={h}"),
            "!",
            "jpegenc",
            "!",
            "filesink",
            &format!("location={}", out.display()),
        ])
        .status()
        .expect("gst-launch-1.0 (scripts/setup.sh installs it)");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

#[test]
fn bad_posts_get_a_4xx_with_a_json_error_and_the_streams_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Served::start(&pipeline(dir.path(), ""));
    let jpeg = face();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let png = std::fs::read(asset("images/astronaut.png")).unwrap()[..2000].to_vec();
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "bad base64",
            "application/json".into(),
            br#"{"image": "%%%not base64", "stream_id": "browser"}"#.to_vec(),
            400,
            "not base64",
        ),
        (
            "JSON of the wrong shape",
            "application/json".into(),
            br#"{"picture": "x"}"#.to_vec(),
            400,
            "not JSON of the form",
        ),
        (
            "not JSON",
            "application/json".into(),
            b"image=1".to_vec(),
            400,
            "not JSON",
        ),
        ("a PNG", "image/jpeg".into(), png.clone(), 400, "not a JPEG"),
        (
            "a PNG in JSON",
            "application/json".into(),
            serde_json::json!({"image": b64(&png), "stream_id": "browser"})
                .to_string()
                .into_bytes(),
            400,
            "not a JPEG",
        ),
        ("an empty body", "image/jpeg".into(), vec![], 400, "empty"),
        (
            "a truncated JPEG",
            "image/jpeg".into(),
            jpeg[..jpeg.len() / 2].to_vec(),
            400,
            "truncated",
        ),
        (
            "a data URL without base64",
            "application/json".into(),
            br#"{"image": "data:image/jpeg,abc", "stream_id": "browser"}"#.to_vec(),
            400,
            ";base64,",
        ),
        (
            "plain text",
            "text/plain".into(),
            b"hello".to_vec(),
            415,
            "application/json",
        ),
    ];
    for (what, kind, body, status, says) in &cases {
        let a = s.post("/frame?stream_id=browser", kind, body);
        assert_eq!(a.status, *status, "{what}: {}", a.text());
        let j = a.json();
        assert_eq!(j["status"], *status, "{what}");
        assert!(j["error"].as_str().unwrap().contains(says), "{what}: {j}");
    }
    // Refused on its Content-Length, before the body is read: over a raw socket, as a client
    // may still be writing when the answer comes.
    let a = s.post_raw(
        "/frame?stream_id=browser",
        "image/jpeg",
        &vec![0xFF; 400_000],
    );
    assert_eq!(a.status, 413, "an oversized body: {}", a.text());
    assert!(a.text().contains("max_body_bytes"), "{}", a.text());
    let a = s.post("/frame?stream_id=garage", "image/jpeg", &jpeg);
    assert_eq!(a.status, 404);
    assert!(a.text().contains("streams: browser, lobby"), "{}", a.text());
    let a = s.post("/frame", "image/jpeg", &jpeg);
    assert_eq!(a.status, 400, "two streams: which one?");
    assert!(a.text().contains("stream_id"), "{}", a.text());
    let a = s.post("/frame?stream_id=lobby", "image/jpeg", &jpeg);
    assert_eq!(a.status, 413, "512×600 into a 320×240 stream");
    assert!(a.text().contains("at most 320×240"), "{}", a.text());
    assert_eq!(s.get("/frame_data?stream_id=garage").status, 404);
    assert_eq!(s.get("/streams/garage/latest.jpg").status, 404);
    let none = s.get("/streams/lobby/latest.jpg");
    assert_eq!(none.status, 404);
    assert!(none.text().contains("no frame yet"), "{}", none.text());
    assert_eq!(s.get("/nope").status, 404);

    // After all that: the good post goes through, and both streams still take frames.
    assert!(s.alive(), "no bad post takes the service down");
    let (seq, _) = post_and_see(&s, "browser", &jpeg);
    assert_eq!(seq, 0, "refused posts take no seq");
    post_and_see(&s, "lobby", &tiny_jpeg(160, 120));
    let st = s.get("/status").json();
    assert_eq!(st["stages"][0]["report"]["decode_errors"], 0, "{st}");
}

#[test]
fn a_token_guards_everything_but_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&pipeline(dir.path(), "token = \"s3cret\""));
    for path in [
        "/frame_data?stream_id=browser",
        "/streams",
        "/status",
        "/metrics",
        "/",
    ] {
        let a = s.get(path);
        assert_eq!(a.status, 401, "{path} without a token");
        assert!(
            a.text().contains("Authorization: Bearer"),
            "{path}: {}",
            a.text()
        );
        let a = s.get_with(path, &[("Authorization", "Bearer wrong")]);
        assert_eq!(a.status, 401, "{path} with a wrong token");
        assert!(a.text().contains("wrong"), "{}", a.text());
    }
    assert_eq!(
        s.post("/frame?stream_id=browser", "image/jpeg", &face())
            .status,
        401
    );
    for path in ["/health", "/health/live", "/health/ready"] {
        assert_ne!(s.get(path).status, 401, "{path} is a probe: no token");
    }
    let s = s.with_token("s3cret");
    assert_eq!(s.get("/streams").status, 200);
    assert_eq!(
        s.post("/frame?stream_id=browser", "image/jpeg", &face())
            .status,
        202
    );
}

/// Every `edgeflow_*` metric name an expression of the Grafana dashboard uses.
fn dashboard_metrics() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/edgeflow.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(e)) => out.push(e.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dash, &mut exprs);
    assert!(exprs.len() >= 6, "the dashboard has its panels: {exprs:?}");
    let mut names: Vec<String> = exprs
        .iter()
        .flat_map(|e| {
            e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("edgeflow_"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn metrics_pass_promtool_and_hold_every_metric_the_dashboard_queries() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(&pipeline(dir.path(), ""));
    post_and_see(&s, "browser", &face());
    let m = s.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        m.content_type
    );
    let text = m.text();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("promtool check metrics < {}", file.display()))
        .output()
        .expect("promtool (scripts/setup.sh installs Debian's prometheus)");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "edgeflow_stream_fps{stream=\"browser\",pipeline=\"http-faces\"}",
        "edgeflow_stream_state{state=\"live\",stream=\"browser\",pipeline=\"http-faces\"} 1",
        "edgeflow_stream_detections{label=\"face\",stream=\"browser\",pipeline=\"http-faces\"} 1",
        "edgeflow_http_frames_posted_total{stream=\"browser\",pipeline=\"http-faces\"} 1",
        "edgeflow_stage_latency_seconds_bucket",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for name in dashboard_metrics() {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        assert!(
            families.contains(&base),
            "the dashboard queries {name}, which /metrics does not have ({families:?})"
        );
    }
}

#[test]
fn server_config_errors_are_reported_at_their_line_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"[server]
listen = "localhost"
token = "a"
token_env = "EDGEFLOW_NO_SUCH_VARIABLE"
max_body_byte = 10
cors_origins = ["https://ops.example.com/"]

[stages.cam]
type = "capture"
source = "http"
stall_after_ms = 0

[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
"#,
    )
    .unwrap();
    let out = support::edgeflow(&["validate", &file.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    for needle in [
        "invalid `listen` in `[server]`: `localhost` is not an address and port",
        "bad.toml:2:",
        "`token` and `token_env` are both set",
        "the environment variable `EDGEFLOW_NO_SUCH_VARIABLE` is not set",
        "unknown field `max_body_byte` in `[server]`",
        "did you mean `max_body_bytes`?",
        "`https://ops.example.com/` is not an origin",
        "invalid `stall_after_ms`",
    ] {
        assert!(err.contains(needle), "{needle} in:\n{err}");
    }

    std::fs::write(&file, "[sever]\nlisten = \"127.0.0.1:1\"\n[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\n").unwrap();
    let out = support::edgeflow(&["validate", &file.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown top-level key `sever`") && err.contains("did you mean `server`?"),
        "{err}"
    );
}

#[test]
fn a_push_source_without_a_server_and_a_taken_port_are_errors_that_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    let stages = "[stages.cam]\ntype = \"capture\"\nsource = \"http\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n";
    std::fs::write(&file, stages).unwrap();
    let out = support::edgeflow(&["run", &file.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("takes frames from the edge HTTP service")
            && err.contains("add a `[server]` table"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    std::fs::write(&file, format!("[server]\nlisten = \"{addr}\"\n{stages}")).unwrap();
    let out = support::edgeflow(&["run", &file.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr}"))
            && err.contains("another program listens there"),
        "{err}"
    );

    let two = format!("[server]\n{stages}[stages.cam2]\ntype = \"capture\"\nsource = \"http\"\nstream_id = \"cam\"\n").replace("inputs = [\"cam\"]", "inputs = [\"cam\", \"cam2\"]");
    std::fs::write(&file, two).unwrap();
    let out = support::edgeflow(&[
        "run",
        &file.display().to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(
        err.contains("stage `cam` already takes stream `cam`"),
        "{err}"
    );
}
