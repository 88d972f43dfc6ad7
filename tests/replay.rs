//! `source = "replay"` and `edgeflow eval track` end to end: a recording replays into the very
//! tracks the live run made; malformed recordings fail naming the file and line; MOTChallenge
//! det.txt takes its geometry from seqinfo.ini; sweeps, JSON, zones and the errors of
//! `eval track`.

use std::path::{Path, PathBuf};

mod support;
use support::edgeflow;

const GT: &str = "../shared/fixtures/mot/TUD-Campus/gt.txt";

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn ok(args: &[&str]) -> (String, String) {
    let out = edgeflow(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// `eval track --pipeline P --det D --gt G`.
fn eval_track<'a>(pipeline: &'a str, det: &'a str, gt: &'a str) -> Vec<&'a str> {
    vec![
        "eval",
        "track",
        "--pipeline",
        pipeline,
        "--det",
        det,
        "--gt",
        gt,
    ]
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

const HEAD: &str = "[pipeline]\nname = \"r\"\ndevice_id = \"dev-1\"\n";

/// The track stage reading the replay.
const TRACK: &str = "[stages.trk]\ntype = \"track\"\ninputs = [\"cam\"]\n";

/// `dir/name`: a replay of `recording` (its stage `cam`, with `extra` keys), the `middle`
/// stages, and a JSON-lines sink reading `last` and writing to `out` (`-`: standard output).
fn replay_pipeline(
    dir: &Path,
    name: &str,
    (recording, extra): (&Path, &str),
    (middle, last): (&str, &str),
    out: &str,
) -> PathBuf {
    write(
        dir,
        name,
        &format!(
            "{HEAD}[stages.cam]\ntype = \"capture\"\nsource = \"replay\"\npath = {:?}\n{extra}\
             {middle}[stages.out]\ntype = \"publish\"\ninputs = [\"{last}\"]\nsink = \"jsonl\"\npath = {out:?}\n",
            s(recording)
        ),
    )
}

/// A MOTChallenge replay's geometry.
const GEO: &str = "frame_size = [640, 480]\nfps = 25.0\n";

/// Record detections and tracks live; replay the detections through the same tracker: the
/// tracks come out line for line the same (ids, boxes, seq, times, event ids).
#[test]
fn a_recording_replays_into_the_same_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let (det, trk, again) = (
        dir.path().join("det.jsonl"),
        dir.path().join("trk.jsonl"),
        dir.path().join("again.jsonl"),
    );
    let live = write(
        dir.path(),
        "live.toml",
        &format!(
            "{HEAD}[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 160\nheight = 120\ncount = 80\nobjects = 3\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.rec]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = {:?}\n\
             [stages.trk]\ntype = \"track\"\ninputs = [\"det\"]\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"trk\"]\nsink = \"jsonl\"\npath = {:?}\n",
            s(&det),
            s(&trk)
        ),
    );
    ok(&["run", live.to_str().unwrap()]);
    let replay = replay_pipeline(
        dir.path(),
        "replay.toml",
        (&det, ""),
        (TRACK, "trk"),
        &s(&again),
    );
    ok(&["run", replay.to_str().unwrap()]);
    let (a, b) = (
        std::fs::read_to_string(&trk).unwrap(),
        std::fs::read_to_string(&again).unwrap(),
    );
    assert_eq!(a.lines().count(), 80);
    assert!(a.contains("\"track_id\":1"), "{}", &a[..a.len().min(600)]);
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        assert_eq!(x, y, "line {}", n + 1);
    }
    assert_eq!(a.lines().count(), b.lines().count());

    // The tracks file replays as detections: the tracks' boxes, their ids dropped.
    let boxes = dir.path().join("boxes.jsonl");
    let from_tracks = replay_pipeline(
        dir.path(),
        "from_tracks.toml",
        (&trk, ""),
        ("", "cam"),
        &s(&boxes),
    );
    ok(&["run", from_tracks.to_str().unwrap()]);
    let replayed: Vec<serde_json::Value> = std::fs::read_to_string(&boxes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tracked: Vec<serde_json::Value> = a
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replayed.len(), tracked.len());
    for (r, t) in replayed.iter().zip(&tracked) {
        assert_eq!(r["kind"], "detections");
        assert_eq!(r["seq"], t["seq"]);
        let (rb, tb) = (
            r["detections"].as_array().unwrap(),
            t["detections"].as_array().unwrap(),
        );
        assert_eq!(rb.len(), tb.len());
        for (x, y) in rb.iter().zip(tb) {
            assert_eq!(x["xmin"], y["xmin"]);
            assert!(x.get("track_id").is_none());
        }
    }

    // `eval track` scores a JSON-lines recording: its own tracks as ground truth score 1.
    let saved = dir.path().join("saved.txt");
    let (replay, det_s, saved_s) = (s(&replay), s(&det), s(&saved));
    let mut save = eval_track(&replay, &det_s, GT);
    save.extend(["--save-tracks", &saved_s]);
    ok(&save);
    let mut again = eval_track(&replay, &det_s, &saved_s);
    again.push("--json");
    let (table, _) = ok(&again);
    let v: serde_json::Value = serde_json::from_str(table.trim()).unwrap();
    assert_eq!(v["metrics"]["mota"], 1.0, "{v}");
    assert_eq!(v["metrics"]["idf1"], 1.0, "{v}");
}

/// Nothing is skipped silently: a line that is not an event, a box out of range, or a
/// stream going back in `seq` stops the run with the file and line.
#[test]
fn malformed_recordings_fail_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.jsonl");
    let live = write(
        dir.path(),
        "live.toml",
        &format!(
            "{HEAD}[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\nwidth = 160\nheight = 120\ncount = 5\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.rec]\ntype = \"publish\"\ninputs = [\"det\"]\nsink = \"jsonl\"\npath = {:?}\n",
            s(&det)
        ),
    );
    ok(&["run", live.to_str().unwrap()]);
    let good = std::fs::read_to_string(&det).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let cases = [
        (
            format!("{}\n{}\n{{not json\n", lines[0], lines[1]),
            ":3: not an edgeflow event",
        ),
        (
            format!("{}\n{}\n{}\n", lines[0], lines[2], lines[1]),
            ":3: stream `cam`: seq 1 comes after seq 2",
        ),
        (
            format!(
                "{}\n",
                lines[0].replacen("\"conf\":", "\"conf\":7.5,\"x\":", 1)
            ),
            ":1: box of `",
        ),
    ];
    // `stream_id` over a recording of two cameras would merge them.
    let two = write(
        dir.path(),
        "two.jsonl",
        &format!(
            "{}\n{}\n",
            lines[0],
            lines[1].replace("\"stream_id\":\"cam\"", "\"stream_id\":\"cam2\"")
        ),
    );
    let merged = replay_pipeline(
        dir.path(),
        "merged.toml",
        (&two, "stream_id = \"one\"\n"),
        ("", "cam"),
        "-",
    );
    let out = edgeflow(&["run", merged.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("two.jsonl:2: stream `cam2` follows stream `cam`"),
        "{stderr}"
    );
    for (i, (text, want)) in cases.iter().enumerate() {
        let rec = write(dir.path(), &format!("bad{i}.jsonl"), text);
        let p = replay_pipeline(
            dir.path(),
            &format!("bad{i}.toml"),
            (&rec, ""),
            ("", "cam"),
            "-",
        );
        let out = edgeflow(&["run", p.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i}: {stderr}");
        let named = format!("bad{i}.jsonl{want}");
        assert!(stderr.contains(&named), "case {i}: wants {named}\n{stderr}");
    }
}

/// det.txt replays with the frame size and rate of the seqinfo.ini beside it; without one,
/// `validate` says what to set.
#[test]
fn mot_detections_take_their_geometry_from_seqinfo() {
    let dir = tempfile::tempdir().unwrap();
    let det = write(
        dir.path(),
        "det.txt",
        "1,-1,64,48,64,96,0.9,-1,-1,-1\n3,-1,70,50,64,96,0.8,-1,-1,-1\n",
    );
    let out_path = dir.path().join("out.jsonl");
    let p = replay_pipeline(dir.path(), "p.toml", (&det, ""), ("", "cam"), &s(&out_path));
    let out = edgeflow(&["validate", p.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("frame_size"), "{stderr}");
    assert!(stderr.contains("no seqinfo.ini is beside it"), "{stderr}");

    write(
        dir.path(),
        "seqinfo.ini",
        "[Sequence]\nname=t\nframeRate=25\nseqLength=4\nimWidth=640\nimHeight=480\n",
    );
    ok(&["run", p.to_str().unwrap()]);
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Frames 1..=4 (seqLength), the empty ones too.
    assert_eq!(events.len(), 4);
    assert_eq!(events[0]["kind"], "detections");
    assert_eq!(events[0]["stream_id"], "cam");
    assert_eq!(events[0]["frame_width"], 640);
    assert_eq!(events[1]["detections"].as_array().unwrap().len(), 0);
    assert_eq!(events[2]["pts_ns"], 80_000_000);
    assert_eq!(events[0]["detections"][0]["xmin"], 0.1);
    assert_eq!(events[0]["detections"][0]["class"], "person");
    // Stamped frame by frame as they enter, at the start plus their pts.
    assert_ne!(events[0]["timestamp"], events[2]["timestamp"]);
}

/// `eval degrade` is reproducible; `eval track` prints one row per swept value, JSON, and
/// the zone events of the zone stage after the tracker.
#[test]
fn eval_track_sweeps_and_counts_zone_events() {
    let dir = tempfile::tempdir().unwrap();
    let det = dir.path().join("det.txt");
    let args = [
        "eval",
        "degrade",
        "--gt",
        GT,
        "--preset",
        "hard",
        "--seed",
        "3",
        "--frame-size",
        "640,480",
    ];
    let (a, _) = ok(&args);
    let (b, _) = ok(&args);
    assert_eq!(a, b, "the same seed gives the same detections");
    std::fs::write(&det, &a).unwrap();
    let zone = format!(
        "{TRACK}[stages.count]\ntype = \"zone\"\ninputs = [\"trk\"]\nframe_size = [640, 480]\n\
         lines = [{{ id = \"mid\", from = [320, 0], to = [320, 480] }}]\n"
    );
    let p = replay_pipeline(dir.path(), "p.toml", (&det, GEO), (&zone, "count"), "-");
    let (p, det_s) = (s(&p), s(&det));
    let mut base = eval_track(&p, &det_s, GT);
    base.extend(["--frame-size", "640,480", "--fps", "25"]);
    let mut sweep = base.to_vec();
    sweep.extend([
        "--sweep",
        "report_lost_frames=0,3",
        "--sweep",
        "tracker=bytetrack,iou",
    ]);
    let (table, _) = ok(&sweep);
    let rows: Vec<&str> = table.lines().collect();
    assert!(
        rows[0].contains("IDF1") && rows[0].contains("MOTA"),
        "{table}"
    );
    for name in [
        "report_lost_frames=0 tracker=\"bytetrack\"",
        "report_lost_frames=3 tracker=\"iou\"",
    ] {
        assert!(rows.iter().any(|r| r.starts_with(name)), "{name}\n{table}");
    }
    assert!(table.contains("zone events (stage `count`)"), "{table}");
    assert!(table.contains("mid/line_cross/"), "{table}");

    // The pipeline's replay stage gives det.txt's geometry when the command line does not.
    let (from_stage, _) = ok(&base[..8]);
    assert!(
        from_stage
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("trk")),
        "{from_stage}"
    );

    let mut json = base.to_vec();
    json.extend(["--sweep", "high_threshold=0.3,0.5", "--json"]);
    let (out, _) = ok(&json);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["set"]["high_threshold"], 0.5);
    assert_eq!(rows[0]["stage"], "trk");
    // Starting tracks from low scores finds more people on this input.
    assert!(rows[0]["metrics"]["recall"].as_f64() > rows[1]["metrics"]["recall"].as_f64());
}

#[test]
fn eval_track_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let det = write(dir.path(), "det.txt", "1,-1,64,48,64,96,0.9,-1,-1,-1\n");
    let with_track = replay_pipeline(dir.path(), "p.toml", (&det, GEO), (TRACK, "trk"), "-");
    let no_track = replay_pipeline(dir.path(), "q.toml", (&det, GEO), ("", "cam"), "-");
    // A live pipeline: its track stage reads a detector, so det.txt's geometry must be given.
    let live = write(
        dir.path(),
        "live.toml",
        &format!(
            "{HEAD}[stages.cam]\ntype = \"capture\"\nsource = \"test_pattern\"\ncount = 1\n\
             [stages.det]\ntype = \"detect\"\ninputs = [\"cam\"]\nbackend = \"mock\"\n\
             [stages.trk]\ntype = \"track\"\ninputs = [\"det\"]\n\
             [stages.out]\ntype = \"publish\"\ninputs = [\"trk\"]\nsink = \"jsonl\"\npath = \"-\"\n"
        ),
    );
    let (p, q, d, l) = (
        with_track.to_str().unwrap(),
        no_track.to_str().unwrap(),
        det.to_str().unwrap(),
        live.to_str().unwrap(),
    );
    let geo = ["--frame-size", "640,480", "--fps", "25"];
    // (pipeline, arguments after `--pipeline P --det D --gt G`, what stderr must say)
    let cases: [(&str, &[&str], &str); 7] = [
        (q, &[], "no `type = \"track\"` stage"),
        (l, &[], "give --frame-size W,H and --fps F"),
        (
            p,
            &["--sweep", "hgh_threshold=0.3"],
            "unknown field `hgh_threshold`",
        ),
        (p, &["--sweep", "high_threshold=3"], "high_threshold=3"),
        (p, &["--sweep", "high_threshold"], "write `key=a,b,c`"),
        (
            p,
            &["--stage", "nope"],
            "--stage `nope` is not a track stage",
        ),
        (
            p,
            &["--sweep", "match_iou=0.3", "--save-tracks", "x.txt"],
            "--save-tracks writes one run's tracks",
        ),
    ];
    for (pipeline, extra, want) in cases {
        let mut args = eval_track(pipeline, d, GT);
        args.extend(extra);
        if pipeline == p {
            args.extend(geo);
        }
        let out = edgeflow(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: wants {want}\n{stderr}");
    }
    // A JSON-lines recording of two cameras: pick one; no det.txt geometry for it.
    let ev = |stream: &str| {
        format!(
            r#"{{"schema_version":1,"event_id":"e","device_id":"d","stream_id":"{stream}","seq":0,"pts_ns":0,"timestamp":"2026-12-03T10:00:00.000Z","kind":"detections","persons_detected":0,"frame_width":640,"frame_height":480,"detections":[]}}"#
        )
    };
    let two = write(
        dir.path(),
        "two.jsonl",
        &format!("{}\n{}\n", ev("a"), ev("b")),
    );
    let two = s(&two);
    for (extra, want) in [
        (
            &[][..],
            "holds several streams ({\"a\", \"b\"}); pick one with --stream",
        ),
        (&["--stream", "c"][..], "--stream `c`:"),
        (
            &geo[..],
            "--frame-size and --fps are for MOTChallenge det.txt",
        ),
    ] {
        let mut args = eval_track(p, &two, GT);
        args.extend(extra);
        let out = edgeflow(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: wants {want}\n{stderr}");
    }
    let mut one = eval_track(p, &two, GT);
    one.extend(["--stream", "b"]);
    ok(&one);
    let out = edgeflow(&["eval", "degrade", "--gt", GT, "--preset", "awful"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("use `hard` or `mild`"));
    let out = edgeflow(&["eval", "degrade", "--gt", GT, "--frame-size", "640"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a frame size"));
}
