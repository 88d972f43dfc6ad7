//! Real media through GStreamer: generated H.264/H.265/MJPEG files, the pedestrian clip,
//! damaged files, images, and a real RTSP server that is killed and restarted.
#![cfg(feature = "gstreamer")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use edgeflow::{Message, Pipeline, QueuePolicy, RunOptions, RunReport, StreamState};

/// Generated test media, made once per test run with gst-launch-1.0.
fn media() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("media");
        std::fs::create_dir_all(&dir).unwrap();
        // `format=I420` pinned: x264enc would otherwise pick 10-bit 4:4:4.
        let raw = "videotestsrc num-buffers=60 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=30/1";
        let jobs = [
            ("h264.mp4", format!("{raw} ! x264enc speed-preset=veryfast key-int-max=15 ! h264parse ! mp4mux")),
            ("h264.ts", format!("{raw} ! x264enc speed-preset=veryfast key-int-max=15 ! h264parse ! mpegtsmux")),
            ("h265.mkv", format!("{raw} ! x265enc speed-preset=ultrafast key-int-max=15 ! h265parse ! matroskamux")),
            ("mjpeg.avi", format!("{raw} ! jpegenc ! avimux")),
            ("a.jpg", "videotestsrc num-buffers=1 ! video/x-raw,width=64,height=48 ! jpegenc ! image/jpeg".to_string()),
            ("b.jpg", "videotestsrc num-buffers=1 pattern=snow ! video/x-raw,width=64,height=48 ! jpegenc ! image/jpeg".to_string()),
            ("c.png", "videotestsrc num-buffers=1 ! video/x-raw,width=64,height=48 ! pngenc ! image/png".to_string()),
        ];
        for (name, desc) in jobs {
            let dest = dir.join(name);
            if dest.exists() {
                continue;
            }
            let tmp = dir.join(format!("tmp-{name}"));
            let line = format!("{desc} ! filesink location={}", tmp.display());
            let st = Command::new("gst-launch-1.0").arg("-q").args(line.split_whitespace()).status().expect("gst-launch-1.0 (scripts/setup.sh installs it)");
            assert!(st.success(), "cannot generate {name}: {line}");
            std::fs::rename(&tmp, &dest).unwrap();
        }
        // A damaged stream: the TS cut in half, and a copy with garbage in the middle.
        let ts = std::fs::read(dir.join("h264.ts")).unwrap();
        std::fs::write(dir.join("truncated.ts"), &ts[..ts.len() / 2]).unwrap();
        let mut corrupt = ts.clone();
        let mid = corrupt.len() / 3;
        let span = corrupt.len() / 10;
        for (i, b) in corrupt[mid..mid + span].iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8;
        }
        std::fs::write(dir.join("corrupt.ts"), corrupt).unwrap();
        std::fs::write(dir.join("notvideo.mp4"), "this is not a video\n".repeat(100)).unwrap();
        std::fs::write(dir.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
        dir
    })
}

fn m(name: &str) -> String {
    media().join(name).display().to_string()
}

/// Run a pipeline in-process; returns what stage `tap` produced and the report.
fn run(toml: &str, tap: &str) -> Result<(Vec<Message>, RunReport), String> {
    let loaded = edgeflow::load_str(&edgeflow::registry(), "test.toml", toml, ".".as_ref())
        .map_err(|d| d.render(false))?;
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).map_err(|e| {
        format!(
            "{e}: {:?}",
            std::error::Error::source(&e).map(|s| s.to_string())
        )
    })?;
    let rx = p
        .subscribe(tap, 1024, QueuePolicy::Block)
        .map_err(|e| e.to_string())?;
    let h = p.start().map_err(|e| e.to_string())?;
    let got: Vec<Message> = rx.iter().collect();
    Ok((got, h.wait()))
}

fn file_pipeline(path: &str, extra: &str) -> String {
    format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"file\"\npath = {path:?}\n{extra}\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n"
    )
}

/// Frames numbered one after another with increasing timestamps.
fn assert_in_order(f: &[&edgeflow::Frame], what: impl std::fmt::Display) {
    let ok = f
        .windows(2)
        .all(|w| w[0].meta.seq + 1 == w[1].meta.seq && w[0].meta.pts_ns < w[1].meta.pts_ns);
    assert!(ok, "{what}: frames out of order");
}

fn frames(msgs: &[Message]) -> Vec<&edgeflow::Frame> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::Frame(f) = m {
                Some(f)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn h264_h265_and_mjpeg_files_decode_every_frame() {
    for name in ["h264.mp4", "h264.ts", "h265.mkv", "mjpeg.avi"] {
        let (out, report) = run(&file_pipeline(&m(name), ""), "cam").unwrap();
        let f = frames(&out);
        assert_eq!(f.len(), 60, "{name}");
        assert!(report.failure.is_none(), "{name}");
        assert_eq!((f[0].width, f[0].height), (320, 240));
        assert_in_order(&f, name);
    }
}

#[test]
fn output_formats_are_read_through_strides() {
    for (format, planes, bpr) in [
        ("rgb", 1, 960),
        ("bgr", 1, 960),
        ("gray", 1, 320),
        ("nv12", 2, 320),
        ("i420", 3, 320),
    ] {
        let (out, _) = run(
            &file_pipeline(&m("h264.mp4"), &format!("format = \"{format}\"")),
            "cam",
        )
        .unwrap();
        let f = frames(&out)[0];
        assert_eq!(f.planes().len(), planes, "{format}");
        // Rows are read through the stride: each row is exactly the pixels' width.
        assert_eq!(f.row(0, 239).unwrap().len(), bpr, "{format}");
        assert!(f.planes()[0].stride >= bpr);
    }
}

#[test]
fn fps_samples_frames() {
    let (out, _) = run(&file_pipeline(&m("h264.mp4"), "fps = 5.0"), "cam").unwrap();
    let n = frames(&out).len();
    assert!(
        (9..=11).contains(&n),
        "60 frames at 30 fps sampled at 5 fps gave {n}"
    );
}

#[test]
fn loop_restarts_the_file_with_increasing_timestamps() {
    let toml = file_pipeline(&m("h264.ts"), "loop = true");
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(
        loaded.spec,
        RunOptions {
            max_frames: Some(150),
            ..RunOptions::default()
        },
    )
    .unwrap();
    let rx = p.subscribe("cam", 1024, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let got: Vec<Message> = rx.iter().collect();
    h.wait();
    let f = frames(&got);
    assert_eq!(f.len(), 150);
    assert!(f.windows(2).all(|w| w[0].meta.pts_ns < w[1].meta.pts_ns));
}

#[test]
fn packets_through_the_decode_stage() {
    for (decoder, format) in [("auto", "i420"), ("avdec_h264", "rgb")] {
        let toml = format!(
            "[stages.cam]\ntype = \"capture\"\nsource = \"file\"\npath = {:?}\noutput = \"packets\"\n\
             [stages.dec]\ntype = \"decode\"\ninputs = [\"cam\"]\ndecoder = \"{decoder}\"\nformat = \"{format}\"\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"dec\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
            m("h264.ts")
        );
        let (out, report) = run(&toml, "dec").unwrap();
        let f = frames(&out);
        assert_eq!(f.len(), 60, "{decoder}");
        assert_in_order(
            &f,
            "frames leave in presentation order, numbered in that order",
        );
        assert_eq!(report.metrics.stage("dec").unwrap().errors, 0);
    }
}

fn edgeflow(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_edgeflow"));
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn write(name: &str, text: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn deep_validate_fails_with(toml: &str, name: &str, env: &[(&str, &str)], want: &[&str]) {
    let p = write(name, toml);
    let out = edgeflow(&["validate", "--deep", p.to_str().unwrap()], env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    for w in want {
        assert!(stderr.contains(w), "expected `{w}` in:\n{stderr}");
    }
}

#[test]
fn missing_file_unsupported_codec_and_not_a_video_are_clear_errors() {
    deep_validate_fails_with(
        &file_pipeline("/nonexistent/cam.mp4", ""),
        "missing.toml",
        &[],
        &[
            "no such video file: /nonexistent/cam.mp4",
            "help: check `path`",
            // The build error points at its line, as load errors do.
            "missing.toml:4:8",
            "path = \"/nonexistent/cam.mp4\"",
        ],
    );
    // Hide the H.264 decoder, as on a machine without gstreamer1.0-libav.
    deep_validate_fails_with(
        &file_pipeline(&m("h264.mp4"), ""),
        "nocodec.toml",
        &[(
            "GST_PLUGIN_FEATURE_RANK",
            "avdec_h264:NONE,openh264dec:NONE,vah264dec:NONE,nvh264dec:NONE,v4l2h264dec:NONE,v4l2slh264dec:NONE",
        )],
        &[
            "no GStreamer decoder for video/x-h264",
            "apt-get install gstreamer1.0-libav",
        ],
    );
    deep_validate_fails_with(
        &file_pipeline(&m("notvideo.mp4"), ""),
        "notvideo.toml",
        &[],
        &["cannot play", "notvideo.mp4"],
    );
    // Random bytes: the help says what to check, not where in GStreamer it failed.
    let random: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let noise = media().join("noise.mp4");
    std::fs::write(&noise, random).unwrap();
    let p = write(
        "noise.toml",
        &file_pipeline(&noise.display().to_string(), ""),
    );
    let out = edgeflow(&["validate", "--deep", p.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr
            .lines()
            .filter(|l| l.contains("help:"))
            .all(|l| !l.contains(".c(")),
        "a help line is a GStreamer source path:\n{stderr}"
    );
    deep_validate_fails_with(
        &file_pipeline(&m("h264.mp4"), "decoder = \"nosuchdec\""),
        "nodec.toml",
        &[],
        &["`nosuchdec` is not installed"],
    );
    deep_validate_fails_with(
        &file_pipeline(&m("h264.mp4"), "decoder = \"avdec_h265\""),
        "wrongdec.toml",
        &[],
        &["decoder `avdec_h265` cannot decode video/x-h264"],
    );
}

#[test]
fn deep_validate_reports_the_decoder() {
    let p = write("good.toml", &file_pipeline(&m("h264.mp4"), ""));
    let out = edgeflow(&["validate", "--deep", p.to_str().unwrap()], &[]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("stage `cam`: decoder avdec_h264"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn damaged_files_decode_what_they_can_and_finish() {
    for name in ["truncated.ts", "corrupt.ts"] {
        let (out, report) = run(&file_pipeline(&m(name), ""), "cam").unwrap();
        let n = frames(&out).len();
        assert!(n > 0 && n <= 60, "{name}: {n} frames");
        assert!(
            report.failure.is_none(),
            "{name}: a damaged file must not fail the pipeline"
        );
    }
}

/// A file cut at 30 %: what is there is decoded, and the cut is an error counted on the
/// stage and named in the log, not a normal end.
#[test]
fn a_file_cut_short_is_an_error_not_a_normal_end() {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/media/vtest.avi");
    let bytes = std::fs::read(&full).expect("assets/media/vtest.avi: run scripts/setup.sh");
    let cut = media().join("vtest-cut.avi");
    std::fs::write(&cut, &bytes[..bytes.len() * 3 / 10]).unwrap();
    let (out, report) = run(&file_pipeline(&cut.display().to_string(), ""), "cam").unwrap();
    let n = frames(&out).len();
    assert!(n > 100 && n < 400, "{n} frames of 795");
    assert!(report.failure.is_none(), "the run goes on");
    assert_eq!(
        report.metrics.stage("cam").unwrap().errors,
        1,
        "the cut is counted once"
    );
}

#[test]
fn one_bad_stream_does_not_stop_the_others() {
    let toml = format!(
        "[stages.good]\ntype = \"capture\"\nsource = \"file\"\npath = {:?}\n\
         [stages.bad]\ntype = \"capture\"\nsource = \"file\"\npath = {:?}\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"good\", \"bad\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        m("h264.mp4"),
        m("truncated.ts")
    );
    let (out, report) = run(&toml, "good").unwrap();
    assert_eq!(frames(&out).len(), 60);
    assert!(report.failure.is_none());
    let o = report.metrics.stage("out").unwrap();
    assert!(
        o.items_in > 60,
        "both streams reach the sink: {}",
        o.items_in
    );
}

#[test]
fn images_glob_skips_unreadable_files() {
    let dir = media();
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = \"{}/*.[jp][pn]g\"\nfps = 2.0\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        dir.display()
    );
    let (out, report) = run(&toml, "cam").unwrap();
    let f = frames(&out);
    // a.jpg, b.jpg, c.png decode; broken.jpg is counted and skipped.
    assert_eq!(f.len(), 3);
    assert_eq!((f[0].width, f[0].height), (64, 48));
    assert_eq!(f[1].meta.pts_ns, 500_000_000);
    // Each frame names its file, and events carry it as `file`.
    assert!(
        f[0].meta
            .file
            .as_deref()
            .is_some_and(|p| p.ends_with("/a.jpg")),
        "{:?}",
        f[0].meta.file
    );
    assert_eq!(report.metrics.stage("cam").unwrap().errors, 1);
    let none = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = \"{}/*.gif\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\n",
        dir.display()
    );
    deep_validate_fails_with(&none, "noimages.toml", &[], &["no files match"]);
    // Plain `validate` (no media opened) already knows.
    let p = write("noimages-plain.toml", &none);
    let out = edgeflow(&["validate", p.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("invalid `pattern`") && stderr.contains("no files match"),
        "{stderr}"
    );
}

/// `pattern` takes several globs: the files of all, in name order, each once; a list with a
/// number in it, or an empty list, is an error in plain words.
#[test]
fn images_take_a_list_of_globs() {
    let dir = media();
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = [\"{d}/*.png\", \"{d}/[ab].jpg\", \"{d}/a.*\"]\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        d = dir.display()
    );
    let (out, _) = run(&toml, "cam").unwrap();
    let names: Vec<String> = frames(&out)
        .iter()
        .map(|f| {
            let p = f.meta.file.as_deref().unwrap_or_default();
            p.rsplit('/').next().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(names, ["a.jpg", "b.jpg", "c.png"]);
    for (pattern, want) in [
        ("[\"a/*.jpg\", 3]", "a string"),
        ("[]", "an empty list"),
        ("7", "a glob like"),
    ] {
        let p = write(
            "globs-bad.toml",
            &format!(
                "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = {pattern}\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\n"
            ),
        );
        let out = edgeflow(&["validate", p.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{stderr}");
        assert!(
            stderr.contains(want) && stderr.contains("pattern"),
            "{pattern}: {stderr}"
        );
    }
}

/// A JPEG cut to a third decodes to a frame with a grey hole, which is not a frame to analyse:
/// it is an error counted on the stage, and every damaged file is named.
#[test]
fn damaged_images_are_errors_each_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(media().join("a.jpg"), dir.path().join("a.jpg")).unwrap();
    let b = std::fs::read(media().join("b.jpg")).unwrap();
    std::fs::write(dir.path().join("cut.jpg"), &b[..b.len() / 3]).unwrap();
    for name in ["x.jpg", "y.jpg"] {
        std::fs::write(dir.path().join(name), b"\xff\xd8\xff\xe0 not a jpeg").unwrap();
    }
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"images\"\npattern = \"{}/*.jpg\"\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n",
        dir.path().display()
    );
    let (out, report) = run(&toml, "cam").unwrap();
    assert_eq!(frames(&out).len(), 1, "only a.jpg is whole");
    assert_eq!(report.metrics.stage("cam").unwrap().errors, 3);
}

#[test]
fn v4l2_without_a_camera_is_a_clear_error() {
    let toml = "[stages.cam]\ntype = \"capture\"\nsource = \"v4l2\"\ndevice = \"/dev/video-nonexistent\"\ncamera_format = \"mjpeg\"\n[stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\n";
    deep_validate_fails_with(
        toml,
        "v4l2.toml",
        &[],
        &[
            "no camera at /dev/video-nonexistent",
            "v4l2-ctl --list-devices",
        ],
    );
}

#[test]
fn vtest_avi_decodes_all_795_frames() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/media/vtest.avi");
    assert!(
        path.exists(),
        "assets/media/vtest.avi is missing: run scripts/setup.sh"
    );
    let (out, report) = run(
        &file_pipeline(&path.display().to_string(), "format = \"i420\""),
        "cam",
    )
    .unwrap();
    let f = frames(&out);
    assert_eq!(f.len(), 795);
    assert_eq!((f[0].width, f[0].height), (768, 576));
    assert!(report.failure.is_none());
}

// ---- RTSP ----

#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
struct Server(std::process::Child);

#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn serve(port: u16) -> Server {
    serve_with(port, &["--fps", "30"])
}

#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn serve_with(port: u16, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["serve-rtsp", "--port", &port.to_string()])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("serving rtsp://127.0.0.1:"), "{line}");
    Server(child)
}

fn rtsp_pipeline(port: u16, extra: &str) -> String {
    format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"rtsp\"\nuri = \"rtsp://127.0.0.1:{port}/test\"\n{extra}\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"cam\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n"
    )
}

/// Reads a live pipeline's `cam` output until `until` says stop or the deadline passes.
fn watch(
    rx: &flume::Receiver<Message>,
    seen: &mut Vec<Message>,
    timeout: Duration,
    until: impl Fn(&[Message]) -> bool,
) {
    let end = Instant::now() + timeout;
    while Instant::now() < end && !until(seen) {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push(m);
        }
    }
    assert!(until(seen), "timed out; saw states {:?}", states(seen));
}

fn states(msgs: &[Message]) -> Vec<StreamState> {
    msgs.iter()
        .filter_map(|m| {
            if let Message::Status(s) = m {
                Some(s.state)
            } else {
                None
            }
        })
        .collect()
}

#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn frames_after_last(msgs: &[Message], state: StreamState) -> usize {
    let start = msgs
        .iter()
        .rposition(|m| matches!(m, Message::Status(s) if s.state == state))
        .map_or(0, |i| i + 1);
    msgs[start..]
        .iter()
        .filter(|m| matches!(m, Message::Frame(_)))
        .count()
}

#[test]
#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn rtsp_reconnects_after_the_server_dies_and_keeps_frame_order() {
    let port = free_port();
    let server = serve(port);
    let toml = rtsp_pipeline(
        port,
        "stall_timeout_ms = 2000\nbackoff_initial_ms = 200\nbackoff_max_ms = 800",
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("cam", 4096, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let mut seen = Vec::new();
    watch(&rx, &mut seen, Duration::from_secs(20), |s| {
        frames_after_last(s, StreamState::Live) >= 15
    });
    drop(server); // killed mid-stream
    let killed = Instant::now();
    watch(&rx, &mut seen, Duration::from_secs(20), |s| {
        states(s).contains(&StreamState::Reconnecting)
    });
    std::thread::sleep(Duration::from_secs(2)); // an outage of a few seconds
    let _server = serve(port); // back on the same port
    let outage = killed.elapsed();
    watch(&rx, &mut seen, Duration::from_secs(30), |s| {
        states(s)
            .iter()
            .filter(|x| **x == StreamState::Live)
            .count()
            >= 2
            && frames_after_last(s, StreamState::Live) >= 15
    });
    h.stop();
    seen.extend(rx.iter());
    // The stage counts the reconnect and the time without frames.
    let cam = h.stage("cam").unwrap().state();
    let reported = |k: &str| cam.report.get(k).and_then(|v| v.as_f64()).unwrap_or(-1.0);
    assert!(reported("reconnects") >= 1.0, "{:?}", cam.report);
    assert!(
        reported("offline_s") >= outage.as_secs_f64() * 0.9,
        "{:?} for an outage of {outage:?}",
        cam.report
    );
    let report = h.wait();
    assert!(report.failure.is_none());
    let st = states(&seen);
    assert_eq!(st.first(), Some(&StreamState::Connecting));
    assert_eq!(st.last(), Some(&StreamState::Ended));
    assert!(st.contains(&StreamState::Reconnecting));
    let f = frames(&seen);
    assert_in_order(&f, "frame order across the reconnect");
    // The stream clock counts the outage: dwell times and track buffers run on it.
    let gap = f
        .windows(2)
        .map(|w| w[1].meta.pts_ns - w[0].meta.pts_ns)
        .max()
        .unwrap_or(0);
    assert!(
        gap as f64 >= outage.as_nanos() as f64 * 0.9,
        "pts advanced {gap} ns across an outage of {outage:?}"
    );
}

/// A file that is not H.264 (vtest.avi is MS-MPEG4) is transcoded on the way out: the client
/// gets frames, not "Unhandled error".
#[test]
#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn serve_rtsp_transcodes_a_file_that_is_not_h264() {
    let port = free_port();
    let avi = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/media/vtest.avi");
    let _server = serve_with(port, &["--file", avi.to_str().unwrap()]);
    let toml = rtsp_pipeline(port, "stall_timeout_ms = 5000");
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("cam", 4096, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let mut seen = Vec::new();
    watch(&rx, &mut seen, Duration::from_secs(30), |s| {
        frames(s).len() >= 10
    });
    h.stop();
    h.wait();
    let f = frames(&seen);
    assert_eq!((f[0].width, f[0].height), (768, 576));
    // A file GStreamer cannot read as video is refused at once, with the reason.
    let out = edgeflow(
        &["serve-rtsp", "--port", "0", "--file", &m("notvideo.mp4")],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot serve"), "{stderr}");
}

#[test]
fn rtsp_stalled_server_triggers_the_stall_timeout() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let end = Instant::now() + Duration::from_secs(15);
        while Instant::now() < end {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        held.len()
    });
    let toml = rtsp_pipeline(
        port,
        "stall_timeout_ms = 700\nbackoff_initial_ms = 100\nbackoff_max_ms = 200",
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("cam", 4096, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let mut seen = Vec::new();
    watch(&rx, &mut seen, Duration::from_secs(12), |s| {
        states(s)
            .iter()
            .filter(|x| **x == StreamState::Stalled)
            .count()
            >= 2
    });
    h.stop();
    h.wait();
    let st = states(&seen);
    let i = st.iter().position(|x| *x == StreamState::Stalled).unwrap();
    assert_eq!(st[i + 1], StreamState::Reconnecting);
    assert!(
        accepted.join().unwrap() >= 2,
        "it connected again after the stall"
    );
}

#[test]
fn max_reconnects_gives_up_after_exactly_that_many_attempts() {
    let port = free_port(); // nothing listens: every attempt fails at once
    let toml = rtsp_pipeline(
        port,
        "max_reconnects = 3\nbackoff_initial_ms = 1\nbackoff_max_ms = 2",
    );
    let (seen, report) = run(&toml, "cam").unwrap();
    assert!(
        report.failure.is_none(),
        "giving up ends the stream, not the run"
    );
    let st = states(&seen);
    let attempts = st.iter().filter(|s| **s == StreamState::Connecting).count();
    assert_eq!(attempts, 3, "{st:?}");
    let last = seen.iter().rev().find_map(|m| match m {
        Message::Status(s) => Some(s),
        _ => None,
    });
    let detail = last.and_then(|s| s.detail.clone()).unwrap_or_default();
    assert!(
        detail.contains("gave up after 3 failed attempts"),
        "{detail}"
    );
}

fn fds_and_threads() -> (usize, usize) {
    let count = |d: &str| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    (count("/proc/self/fd"), count("/proc/self/task"))
}

#[test]
fn hundreds_of_reconnects_leak_no_threads_or_fds() {
    let port = free_port(); // nothing listens here: every attempt fails at once
    let toml = rtsp_pipeline(
        port,
        "stall_timeout_ms = 1000\nbackoff_initial_ms = 1\nbackoff_max_ms = 2",
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("cam", 100_000, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let reconnects = |n: usize| {
        let mut count = 0;
        let end = Instant::now() + Duration::from_secs(120);
        while count < n && Instant::now() < end {
            if let Ok(Message::Status(s)) = rx.recv_timeout(Duration::from_millis(200))
                && s.state == StreamState::Reconnecting
            {
                count += 1;
            }
        }
        assert_eq!(count, n, "reconnect attempts");
    };
    reconnects(30); // warm-up: GStreamer's own pools and caches settle
    let before = fds_and_threads();
    reconnects(300);
    let after = fds_and_threads();
    h.stop();
    h.wait();
    assert!(
        after.0 <= before.0 + 4,
        "file descriptors grew from {} to {}",
        before.0,
        after.0
    );
    assert!(
        after.1 <= before.1 + 4,
        "threads grew from {} to {}",
        before.1,
        after.1
    );
}

#[test]
fn deep_validate_reports_an_unreachable_rtsp_server() {
    deep_validate_fails_with(
        &rtsp_pipeline(free_port(), ""),
        "rtsp-down.toml",
        &[],
        &[
            "cannot reach the RTSP server at 127.0.0.1:",
            "keeps retrying",
        ],
    );
}

#[test]
fn realtime_paces_a_file_at_its_frame_rate() {
    // 60 frames at 30 fps are 2 s of video: paced, the run cannot be much faster than that.
    // (A lower bound only: a slow machine cannot make this fail.)
    let start = Instant::now();
    let (out, _) = run(&file_pipeline(&m("h264.mp4"), "realtime = true"), "cam").unwrap();
    assert_eq!(frames(&out).len(), 60);
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[test]
#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn rtsp_over_udp_goes_live() {
    let port = free_port();
    let _server = serve(port);
    let toml = rtsp_pipeline(port, "transport = \"udp\"\nstall_timeout_ms = 3000");
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("cam", 4096, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let mut seen = Vec::new();
    watch(&rx, &mut seen, Duration::from_secs(20), |s| {
        frames_after_last(s, StreamState::Live) >= 10
    });
    h.stop();
    h.wait();
    let live = seen.iter().find_map(|m| match m {
        Message::Status(s) if s.state == StreamState::Live => s.detail.clone(),
        _ => None,
    });
    assert!(
        live.is_some_and(|d| d.starts_with("decoder ")),
        "the live status names the decoder"
    );
}

#[test]
#[cfg(feature = "rtsp-server")] // `edgeflow serve-rtsp`
fn rebuilding_detect_keeps_the_camera_connected_and_every_frame() {
    let port = free_port();
    let _server = serve(port);
    let toml = format!(
        "[stages.cam]\ntype = \"capture\"\nsource = \"rtsp\"\nuri = \"rtsp://127.0.0.1:{port}/test\"\n\
         [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
         [stages.out]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = \"/dev/null\"\n"
    );
    let loaded = edgeflow::load_str(&edgeflow::registry(), "t.toml", &toml, ".".as_ref()).unwrap();
    let mut p = Pipeline::build(loaded.spec, RunOptions::default()).unwrap();
    let rx = p.subscribe("det", 4096, QueuePolicy::Block).unwrap();
    let h = p.start().unwrap();
    let detections = |s: &[Message]| {
        s.iter()
            .filter(|m| matches!(m, Message::Detections(_)))
            .count()
    };
    let mut seen = Vec::new();
    watch(&rx, &mut seen, Duration::from_secs(20), |s| {
        detections(s) >= 15
    });
    let done = h
        .stage("det")
        .unwrap()
        .rebuild(Duration::from_secs(10))
        .unwrap();
    assert_eq!(done.outcome, edgeflow::Outcome::Rebuilt);
    let boundary = done.last_seq_before["cam"];
    watch(&rx, &mut seen, Duration::from_secs(20), |s| {
        detections(s) >= 45
    });
    // The capture stage answers too, between two frames, while live.
    let cam = h
        .stage("cam")
        .unwrap()
        .get_state(Duration::from_secs(5))
        .unwrap();
    assert_eq!(cam.lifecycle, edgeflow::Lifecycle::Running);
    assert_eq!(cam.config_generation, 0);
    assert_eq!(cam.report.get("stream"), Some(&"live".into()));
    assert!(cam.report.get("decoder").is_some(), "{:?}", cam.report);
    h.stop();
    seen.extend(rx.iter());
    assert!(h.wait().failure.is_none());
    // One connection from start to end: connecting, live, ended — no reconnect.
    assert_eq!(
        states(&seen),
        [
            StreamState::Connecting,
            StreamState::Live,
            StreamState::Ended
        ]
    );
    let seqs: Vec<u64> = seen
        .iter()
        .filter_map(|m| match m {
            Message::Detections(d) => Some(d.meta.seq),
            _ => None,
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
        "no seq gap across the rebuild"
    );
    assert!(seqs.contains(&boundary) && seqs.contains(&(boundary + 1)));
}
