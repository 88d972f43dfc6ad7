//! Zone and line counting on scripted trajectories, with the exact events expected.

use edgeflow_core::testing::{config_from_toml, run_transform, track_at};
use edgeflow_core::{Meta, Tracks, ZoneEventKind};
use edgeflow_stages::zone::{ZoneConfig, Zones};

/// One frame: (track id, anchor point = bottom centre of a 0.02 × 0.04 box, label).
type Frame = Vec<(u64, (f64, f64), &'static str)>;

fn tracks(frames: &[Frame], fps: f64) -> Vec<Tracks> {
    let mut t_ns = 0u64;
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let out = Tracks {
                meta: Meta::now("cam".into(), i as u64, t_ns),
                frame_width: 640,
                frame_height: 480,
                tracks: f
                    .iter()
                    .map(|(id, p, label)| track_at(*id, label, *p, i as u64))
                    .collect(),
                face_model: false,
            };
            t_ns += (1e9 / fps) as u64;
            out
        })
        .collect()
}

/// (zone or line id, event, track, direction, dwell) of one event.
type Ev = (String, ZoneEventKind, u64, Option<String>, Option<f64>);

/// (zone or line id, event, track, direction) for every event, in order.
fn events(cfg: &str, frames: &[Frame], fps: f64) -> Vec<Ev> {
    let cfg: ZoneConfig = config_from_toml(cfg).unwrap();
    run_transform::<Zones>(cfg, tracks(frames, fps))
        .unwrap()
        .into_iter()
        .flat_map(|z| z.events)
        .map(|e| {
            (
                e.zone_id.to_string(),
                e.event_type,
                e.track_id,
                e.direction.map(|d| d.to_string()),
                e.dwell_s,
            )
        })
        .collect()
}

fn kinds(ev: &[Ev]) -> Vec<(ZoneEventKind, u64, Option<String>)> {
    ev.iter().map(|e| (e.1, e.2, e.3.clone())).collect()
}

const LEFT_HALF: &str =
    r#"zones = [{ id = "left", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]] }]"#;

/// A walk from x = a to x = b at height y, `n` frames.
fn walk(id: u64, a: f64, b: f64, y: f64, n: usize) -> Vec<Frame> {
    (0..n)
        .map(|i| vec![(id, (a + (b - a) * i as f64 / (n - 1) as f64, y), "person")])
        .collect()
}

use ZoneEventKind::{Dwell, Enter, Exit, LineCross};

#[test]
fn walk_in_and_out() {
    let mut f = walk(1, 0.8, 0.2, 0.5, 20);
    f.extend(walk(1, 0.2, 0.8, 0.5, 20));
    let ev = events(LEFT_HALF, &f, 10.0);
    assert_eq!(kinds(&ev), [(Enter, 1, None), (Exit, 1, None)]);
    let dwell = ev[1].4.unwrap();
    assert!((dwell - 2.0).abs() < 0.3, "{dwell}");
}

#[test]
fn jitter_on_a_boundary_or_a_line_gives_no_events() {
    let px = 2.0 / 640.0;
    let f: Vec<Frame> = (0..100)
        .map(|i| vec![(1, (0.5 + if i % 2 == 0 { px } else { -px }, 0.5), "person")])
        .collect();
    assert!(events(LEFT_HALF, &f, 25.0).is_empty());
    let py = 2.0 / 480.0;
    let f: Vec<Frame> = (0..100)
        .map(|i| vec![(1, (0.5, 0.6 + if i % 2 == 0 { py } else { -py }), "person")])
        .collect();
    assert!(
        events(
            r#"lines = [{ id = "door", from = [0.1, 0.6], to = [0.9, 0.6] }]"#,
            &f,
            25.0
        )
        .is_empty()
    );
}

#[test]
fn occlusion_inside_a_zone() {
    // Inside for 1 s, hidden for 1 s (no track), inside again, then out.
    let mut f: Vec<Frame> = walk(1, 0.3, 0.3, 0.5, 10);
    f.extend((0..10).map(|_| Vec::new()));
    f.extend(walk(1, 0.3, 0.8, 0.5, 15));
    // The gap is shorter than lost_exit_s: one stay.
    let ev = events(&format!("lost_exit_s = 1.5\n{LEFT_HALF}"), &f, 10.0);
    assert_eq!(kinds(&ev), [(Enter, 1, None), (Exit, 1, None)]);
    // Longer than lost_exit_s: the lost track exits, and enters again when seen.
    let ev = events(&format!("lost_exit_s = 0.5\n{LEFT_HALF}"), &f, 10.0);
    assert_eq!(
        kinds(&ev),
        [
            (Enter, 1, None),
            (Exit, 1, None),
            (Enter, 1, None),
            (Exit, 1, None)
        ]
    );
}

#[test]
fn a_track_lost_inside_exits_after_the_timeout() {
    let mut f: Vec<Frame> = walk(7, 0.3, 0.3, 0.5, 10);
    f.extend((0..20).map(|_| vec![(8, (0.9, 0.9), "person")]));
    let ev = events(&format!("lost_exit_s = 1.0\n{LEFT_HALF}"), &f, 10.0);
    assert_eq!(kinds(&ev), [(Enter, 7, None), (Exit, 7, None)]);
}

#[test]
fn two_people_crossing_paths_swap_sides() {
    let line = r#"lines = [{ id = "gate", from = [0.5, 0.1], to = [0.5, 0.9], in_side = "left" }]"#;
    let f: Vec<Frame> = (0..30)
        .map(|i| {
            let x = 0.3 + 0.4 * i as f64 / 29.0;
            vec![(1, (x, 0.5), "person"), (2, (1.0 - x, 0.5), "person")]
        })
        .collect();
    let mut ev = kinds(&events(line, &f, 10.0));
    ev.sort_by_key(|e| e.1);
    // Walking down the image along the line, the left hand points to larger x: person 1
    // (moving to larger x) goes in, person 2 goes out.
    assert_eq!(
        ev,
        [
            (LineCross, 1, Some("in".into())),
            (LineCross, 2, Some("out".into()))
        ]
    );
}

#[test]
fn a_diagonal_line_crossed_both_ways() {
    let line =
        r#"lines = [{ id = "diag", from = [0.2, 0.2], to = [0.8, 0.8], in_side = "right" }]"#;
    let mut f: Vec<Frame> = (0..20)
        .map(|i| {
            vec![(
                3,
                (0.7 - 0.4 * i as f64 / 19.0, 0.3 + 0.4 * i as f64 / 19.0),
                "person",
            )]
        })
        .collect();
    let back: Vec<Frame> = f.iter().rev().cloned().collect();
    f.extend(back);
    let ev = kinds(&events(line, &f, 10.0));
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert_eq!(ev[0].0, LineCross);
    assert_ne!(ev[0].2, ev[1].2, "opposite directions");
}

#[test]
fn crossing_the_extension_is_not_crossing_the_line() {
    let line = r#"lines = [{ id = "short", from = [0.4, 0.5], to = [0.6, 0.5] }]"#;
    let f: Vec<Frame> = (0..20)
        .map(|i| vec![(1, (0.8, 0.3 + 0.4 * i as f64 / 19.0), "person")])
        .collect();
    assert!(events(line, &f, 10.0).is_empty());
    // The same walk through the segment counts.
    let f: Vec<Frame> = (0..20)
        .map(|i| vec![(1, (0.5, 0.3 + 0.4 * i as f64 / 19.0), "person")])
        .collect();
    assert_eq!(events(line, &f, 10.0).len(), 1);
}

#[test]
fn dwell_just_under_and_just_over() {
    let zone = r#"min_frames = 1
zones = [{ id = "z", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], dwell_s = 2.0 }]"#;
    // 19 frames inside at 10 fps: 1.9 s between entering and the first frame outside.
    let mut under: Vec<Frame> = (0..19).map(|_| vec![(1, (0.3, 0.5), "person")]).collect();
    under.push(vec![(1, (0.8, 0.5), "person")]);
    let ev = events(zone, &under, 10.0);
    assert_eq!(kinds(&ev), [(Enter, 1, None), (Exit, 1, None)]);
    assert!((ev[1].4.unwrap() - 1.9).abs() < 1e-6);
    let mut over: Vec<Frame> = (0..22).map(|_| vec![(1, (0.3, 0.5), "person")]).collect();
    over.push(vec![(1, (0.8, 0.5), "person")]);
    let ev = events(zone, &over, 10.0);
    assert_eq!(
        kinds(&ev),
        [(Enter, 1, None), (Dwell, 1, None), (Exit, 1, None)]
    );
    assert!((ev[1].4.unwrap() - 2.0).abs() < 1e-6);
    assert!((ev[2].4.unwrap() - 2.2).abs() < 1e-6);
}

#[test]
fn frame_rate_changes_give_the_same_events() {
    let cfg =
        format!("{LEFT_HALF}\nlines = [{{ id = \"gate\", from = [0.6, 0.1], to = [0.6, 0.9] }}]");
    let at = |fps: f64| {
        let n = (4.0 * fps) as usize;
        let mut f = walk(1, 0.9, 0.1, 0.5, n);
        f.extend(walk(1, 0.1, 0.9, 0.5, n));
        kinds(&events(&cfg, &f, fps))
    };
    let five = at(5.0);
    assert_eq!(five.len(), 4, "{five:?}");
    assert_eq!(at(30.0), five);
    assert_eq!(at(12.5), five);
}

#[test]
fn class_filters_and_occupancy() {
    let cfg = r#"count_interval_s = 1.0
zones = [
  { id = "cars", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], classes = ["car"] },
  { id = "all", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]] },
]"#;
    let f: Vec<Frame> = (0..30)
        .map(|_| vec![(1, (0.3, 0.5), "person"), (2, (0.2, 0.5), "car")])
        .collect();
    let cfg: ZoneConfig = config_from_toml(cfg).unwrap();
    let out = run_transform::<Zones>(cfg, tracks(&f, 10.0)).unwrap();
    let ev: Vec<_> = out
        .iter()
        .flat_map(|z| z.events.iter())
        .map(|e| (e.zone_id.to_string(), e.track_id))
        .collect();
    // Events in track order within a frame: the person enters `all`, the car both.
    assert_eq!(
        ev,
        [("all".into(), 1), ("cars".into(), 2), ("all".into(), 2)]
    );
    let last = out.last().unwrap();
    assert_eq!(
        last.occupancy
            .iter()
            .map(|(z, n)| (z.to_string(), *n))
            .collect::<Vec<_>>(),
        [("cars".into(), 1), ("all".into(), 2)]
    );
    // Messages: the first (empty occupancy), on change (frame 3), then every second.
    assert!(out.len() >= 3 && out.len() <= 5, "{}", out.len());
}

#[test]
fn geometry_can_be_replaced_while_running() {
    use edgeflow_core::{BuildCtx, Emit, Transform};
    use edgeflow_stages::zone::ZoneSpec;
    let cfg: ZoneConfig = config_from_toml(LEFT_HALF).unwrap();
    let mut z = Zones::build(cfg, &BuildCtx::for_stage("z")).unwrap();
    let bad = vec![ZoneSpec {
        id: "x".into(),
        polygon: vec![[0.0, 0.0]],
        anchor: None,
        classes: None,
        dwell_s: None,
        dwell_repeat_s: None,
        min_score: None,
        min_box: None,
        min_frames: None,
    }];
    assert!(
        z.replace(bad, vec![]).is_err(),
        "invalid geometry is refused"
    );
    let right = vec![ZoneSpec {
        id: "right".into(),
        polygon: vec![[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]],
        anchor: None,
        classes: None,
        dwell_s: None,
        dwell_repeat_s: None,
        min_score: None,
        min_box: None,
        min_frames: None,
    }];
    z.replace(right, vec![]).unwrap();
    let mut out = Emit::new();
    for t in tracks(&walk(1, 0.8, 0.8, 0.5, 5), 10.0) {
        z.process(t, &mut out).unwrap();
    }
    let ev: Vec<_> = out
        .drain()
        .flat_map(|m| m.events)
        .map(|e| e.zone_id.to_string())
        .collect();
    assert_eq!(ev, ["right"]);
}

#[test]
fn a_loitering_track_repeats_its_dwell() {
    let zone = r#"min_frames = 1
zones = [{ id = "z", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]], dwell_s = 2.0, dwell_repeat_s = 3.0 }]"#;
    // 9.9 s inside at 10 fps: dwell at 2 s, 5 s and 8 s, then the exit.
    let mut f: Vec<Frame> = (0..100).map(|_| vec![(1, (0.3, 0.5), "person")]).collect();
    f.push(vec![(1, (0.8, 0.5), "person")]);
    let ev = events(zone, &f, 10.0);
    let dwells: Vec<f64> = ev
        .iter()
        .filter(|e| e.1 == Dwell)
        .filter_map(|e| e.4)
        .collect();
    assert_eq!(dwells.len(), 3, "{ev:?}");
    for (got, want) in dwells.iter().zip([2.0, 5.0, 8.0]) {
        assert!((got - want).abs() < 1e-6, "{dwells:?}");
    }
    assert_eq!(ev.last().map(|e| e.1), Some(Exit));
}

#[test]
fn per_zone_score_and_box_filters() {
    // The test tracks score 0.9 with boxes of 0.02 × 0.04 (0.0008 of the frame).
    let f: Vec<Frame> = (0..10).map(|_| vec![(1, (0.3, 0.5), "person")]).collect();
    let with = |extra: &str| {
        let cfg = format!(
            "min_frames = 1\nzones = [{{ id = \"z\", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]{extra} }}]"
        );
        events(&cfg, &f, 10.0).len()
    };
    assert_eq!(with(""), 1, "the track enters");
    assert_eq!(with(", min_score = 0.95"), 0, "too weak");
    assert_eq!(with(", min_box = 0.001"), 0, "too small");
    assert_eq!(with(", min_score = 0.5, min_box = 0.0005"), 1);
    // Lines filter the same way.
    let cross = walk(1, 0.1, 0.9, 0.5, 20);
    let line = |extra: &str| {
        let cfg = format!(
            "min_frames = 1\nlines = [{{ id = \"gate\", from = [0.5, 0.1], to = [0.5, 0.9]{extra} }}]"
        );
        events(&cfg, &cross, 10.0).len()
    };
    assert_eq!(line(""), 1);
    assert_eq!(line(", min_score = 0.95"), 0);
}

#[test]
fn filter_and_repeat_values_are_checked() {
    use edgeflow_core::Transform;
    let cfg: ZoneConfig = config_from_toml(
        r#"zones = [{ id = "z", polygon = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0]], dwell_repeat_s = 5.0, min_score = 2.0, min_box = -1.0 }]"#,
    )
    .unwrap();
    let err = Zones::validate(&cfg).unwrap_err();
    let fields: Vec<&str> = err
        .problems
        .iter()
        .filter_map(|p| p.field.as_deref())
        .collect();
    assert_eq!(
        fields,
        [
            "zones.0.dwell_repeat_s",
            "zones.0.min_score",
            "zones.0.min_box"
        ],
        "{err}"
    );
}

/// A lost track the tracker still reports (`report_lost_frames`) is a prediction: it does not
/// walk into a zone or across a line, and its exit is timed from its last real sighting.
#[test]
fn predicted_boxes_of_lost_tracks_neither_enter_nor_cross_nor_keep_a_track_present() {
    let cfg: ZoneConfig = config_from_toml(&format!(
        "lost_exit_s = 1.0\nlines = [{{ id = \"mid\", from = [0.4, 0.0], to = [0.4, 1.0] }}]\n{LEFT_HALF}"
    ))
    .unwrap();
    // Seen at x = 0.8 for 10 frames, then "predicted" walking to x = 0.2 for 30 frames.
    let mut frames = tracks(&walk(1, 0.8, 0.8, 0.5, 10), 10.0);
    let predicted = tracks(&walk(1, 0.8, 0.2, 0.5, 40), 10.0);
    for (i, mut t) in predicted.into_iter().enumerate().skip(10) {
        t.meta = Meta::now("cam".into(), i as u64, i as u64 * 100_000_000);
        for tr in &mut t.tracks {
            tr.lost_frames = (i - 9) as u32;
        }
        frames.push(t);
    }
    let out = run_transform::<Zones>(cfg.clone(), frames.clone()).unwrap();
    let ev: Vec<_> = out.iter().flat_map(|z| z.events.clone()).collect();
    assert!(ev.is_empty(), "{ev:?}");
    // The same boxes as real sightings walk in and cross.
    for t in &mut frames {
        for tr in &mut t.tracks {
            tr.lost_frames = 0;
        }
    }
    let out = run_transform::<Zones>(cfg, frames).unwrap();
    let kinds: Vec<_> = out
        .iter()
        .flat_map(|z| z.events.iter().map(|e| e.event_type))
        .collect();
    assert!(
        kinds.contains(&Enter) && kinds.contains(&LineCross),
        "{kinds:?}"
    );
}
