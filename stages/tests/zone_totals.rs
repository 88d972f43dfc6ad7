//! Running totals on zone and line events: they count each way, never go backwards across a
//! reconfigure or a restart (kept in a file beside the spools), and start from zero only when
//! asked to.

use std::time::{Duration, SystemTime};

use edgeflow_core::testing::{config_from_toml, track_at};
use edgeflow_core::{BuildCtx, Counts, Emit, Meta, Report, Tracks, Transform, ZoneEventKind};
use edgeflow_stages::zone::{ZoneConfig, Zones};

/// A vertical line at x = 0.5 (`in` is the image's right: `left` of the line drawn downwards) and a zone over the right half.
fn config(file: &std::path::Path) -> ZoneConfig {
    config_from_toml(&format!(
        r#"lines = [{{ id = "door", from = [0.5, 0.0], to = [0.5, 1.0], in_side = "left" }}]
zones = [{{ id = "hall", polygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]] }}]
totals = {{ file = "{}" }}"#,
        file.display()
    ))
    .unwrap()
}

/// Track `id` walking from x = a to x = b at y = 0.5 over `n` frames starting at `seq`.
fn walk(id: u64, a: f64, b: f64, seq: u64, n: u64, start: SystemTime) -> Vec<Tracks> {
    (0..n)
        .map(|i| {
            let x = a + (b - a) * i as f64 / (n - 1) as f64;
            let s = seq + i;
            let mut meta = Meta::now("cam".into(), s, s * 100_000_000);
            meta.timestamp = start + Duration::from_millis(s * 100);
            Tracks {
                meta,
                frame_width: 640,
                frame_height: 480,
                tracks: vec![track_at(id, "person", (x, 0.5), i)],
                face_model: false,
            }
        })
        .collect()
}

/// (id, event, totals, since) of every event.
type Seen = Vec<(String, ZoneEventKind, Counts, SystemTime)>;

fn run(z: &mut Zones, input: Vec<Tracks>) -> Seen {
    let mut out = Emit::new();
    for t in input {
        z.process(t, &mut out).unwrap();
    }
    out.drain()
        .flat_map(|m| m.events)
        .map(|e| {
            let t = e.totals.expect("every zone event carries totals");
            (e.zone_id.to_string(), e.event_type, t.counts, t.since)
        })
        .collect()
}

fn line(inward: u64, outward: u64) -> Counts {
    Counts::Line { inward, outward }
}

fn zone(entries: u64, exits: u64, occupancy: u32) -> Counts {
    Counts::Zone {
        entries,
        exits,
        occupancy,
    }
}

const T0: Duration = Duration::from_secs(1_800_000_000);

#[test]
fn totals_count_each_way_and_continue_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state/totals.json");
    let start = SystemTime::UNIX_EPOCH + T0;
    let ctx = BuildCtx::for_stage("count");

    let mut z = Zones::build(config(&file), &ctx).unwrap();
    let mut input = walk(1, 0.2, 0.8, 0, 20, start);
    input.extend(walk(1, 0.8, 0.2, 20, 20, start));
    let seen = run(&mut z, input);
    let summary: Vec<_> = seen.iter().map(|s| (s.0.as_str(), s.1, s.2)).collect();
    assert_eq!(
        summary,
        [
            ("hall", ZoneEventKind::Enter, zone(1, 0, 1)),
            ("door", ZoneEventKind::LineCross, line(1, 0)),
            ("hall", ZoneEventKind::Exit, zone(1, 1, 0)),
            ("door", ZoneEventKind::LineCross, line(1, 1)),
        ]
    );
    assert!(
        seen.iter().all(|s| s.3 == start),
        "counting started at the first frame"
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains("\"door\"") && saved.contains("\"in\": 1"),
        "{saved}"
    );
    drop(z);

    // A restart (a new stage on the same file), an hour later: the totals go on.
    let later = start + Duration::from_secs(3600);
    let mut z = Zones::build(config(&file), &ctx).unwrap();
    let seen = run(&mut z, walk(7, 0.2, 0.8, 0, 20, later));
    let summary: Vec<_> = seen.iter().map(|s| (s.0.as_str(), s.2, s.3)).collect();
    assert_eq!(
        summary,
        [("hall", zone(2, 1, 1), start), ("door", line(2, 1), start)]
    );

    // The report (and so the end-of-run summary) has them per stream.
    let mut r = Report::default();
    z.report(&mut r);
    let totals = r.get("totals").unwrap();
    assert_eq!(
        totals["cam"]["door"],
        serde_json::json!({ "in": 2, "out": 1 })
    );
    assert_eq!(
        totals["cam"]["hall"],
        serde_json::json!({ "entries": 2, "exits": 1, "occupancy": 1 })
    );
    assert_eq!(r.get("totals_since").unwrap(), "2027-01-15T08:00:00Z");
}

#[test]
fn a_reconfigure_keeps_totals_by_id_and_new_ids_start_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("totals.json");
    let start = SystemTime::UNIX_EPOCH + T0;
    let mut z = Zones::build(config(&file), &BuildCtx::for_stage("count")).unwrap();
    run(&mut z, walk(1, 0.2, 0.8, 0, 20, start));

    // The line moves right and a second line appears; `door` keeps counting.
    let moved: ZoneConfig = config_from_toml(&format!(
        r#"lines = [
  {{ id = "door", from = [0.6, 0.0], to = [0.6, 1.0], in_side = "left" }},
  {{ id = "gate", from = [0.3, 0.0], to = [0.3, 1.0], in_side = "left" }},
]
zones = [{{ id = "hall", polygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]] }}]
totals = {{ file = "{}" }}"#,
        file.display()
    ))
    .unwrap();
    z.apply(moved).unwrap();
    let seen = run(&mut z, walk(1, 0.8, 0.1, 20, 30, start));
    let summary: Vec<_> = seen.iter().map(|s| (s.0.as_str(), s.2)).collect();
    assert_eq!(
        summary,
        [
            ("door", line(1, 1)),
            ("hall", zone(1, 1, 0)),
            ("gate", line(0, 1))
        ]
    );
    let gate_since = seen[2].3;
    assert!(
        gate_since > start,
        "a new line counts from when it appeared"
    );
    assert_eq!(seen[0].3, start);
}

#[test]
fn persist_false_starts_every_run_from_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("totals.json");
    let start = SystemTime::UNIX_EPOCH + T0;
    for _ in 0..2 {
        let mut cfg = config(&file);
        cfg.totals.persist = false;
        let mut z = Zones::build(cfg, &BuildCtx::for_stage("count")).unwrap();
        let seen = run(&mut z, walk(1, 0.2, 0.8, 0, 20, start));
        assert_eq!(seen.last().unwrap().2, line(1, 0));
    }
    assert!(!file.exists(), "nothing written");
}

#[test]
fn a_damaged_totals_file_stops_the_build_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("totals.json");
    std::fs::write(&file, "not json").unwrap();
    let Err(e) = Zones::build(config(&file), &BuildCtx::for_stage("count")) else {
        panic!("built on a damaged file");
    };
    let text = format!("{e} {}", e.help.as_deref().unwrap_or(""));
    assert!(
        text.contains("totals.json") && text.contains("damaged"),
        "{text}"
    );
    assert!(text.contains("count from zero"), "{text}");
    assert_eq!(e.field.as_deref(), Some("totals"));
}
