//! The checked-in schema is the one the types generate; every kind round-trips; readers
//! ignore what schema v1 may add later.

use std::collections::BTreeMap;
use std::path::PathBuf;

use edgeflow_events::{
    Body, BoxItem, DeviceState, DeviceStatus, Event, FrameInfo, FrameSummary, LineTotals,
    Occupancy, Origin, PacketInfo, StreamState, StreamStatus, Summary, Totals, ZoneEvent,
    ZoneEventType, ZoneTotals, schema,
};

fn schema_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/event.schema.json")
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let generated = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(schema_file(), &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(schema_file()).unwrap();
    assert!(
        checked_in == generated,
        "docs/event.schema.json differs from the types in events/src: regenerate it with \
         `UPDATE_GOLDEN=1 cargo test -p edgeflow-events` and review the diff (schema v1 only \
         grows by optional additions)"
    );
}

fn origin() -> Origin<'static> {
    Origin {
        device_id: "dev",
        stream_id: "cam",
        seq: 7,
        pts_ns: 700,
        timestamp: "2026-12-01T00:00:00.000Z",
        file: None,
    }
}

fn boxed(class: &str, track: Option<u64>, keypoints: Vec<[f32; 2]>) -> BoxItem {
    BoxItem {
        class: class.into(),
        conf: 0.5,
        xmin: 0.25,
        ymin: 0.5,
        width: 0.125,
        height: 0.0625,
        track_id: track,
        lost_frames: 0,
        keypoints,
    }
}

fn every_kind() -> Vec<Body> {
    let summary = |skipped, track| FrameSummary {
        persons_detected: 1,
        frame_width: 640,
        frame_height: 480,
        detections: vec![boxed("person", track, vec![])],
        faces: Some(vec![boxed("face", track, vec![[0.5, 0.5]; 6])]),
        skipped,
    };
    vec![
        Body::Frame(FrameInfo {
            width: 4,
            height: 2,
            format: "nv12".into(),
            strides: vec![4, 4],
        }),
        Body::Packet(PacketInfo {
            caps: "video/x-h264".into(),
            bytes: 1200,
            key_frame: true,
        }),
        Body::Detections(summary(false, None)),
        Body::Detections(FrameSummary {
            detections: vec![],
            faces: None,
            ..summary(true, None)
        }),
        Body::Tracks(summary(false, Some(3))),
        Body::Summary(Summary {
            window_s: 10.0,
            frames: 250,
            persons_max: 4,
            persons_mean: 1.5,
            classes_max: BTreeMap::from([("car".to_string(), 2), ("person".to_string(), 4)]),
            tracks_seen: 9,
        }),
        Body::ZoneEvent(ZoneEvent {
            zone_id: "door".into(),
            event_type: ZoneEventType::LineCross,
            track_id: 3,
            class: "person".into(),
            direction: Some("in".into()),
            dwell_s: None,
            totals: Some(Totals::Line(LineTotals { inward: 12, out: 3 })),
            totals_since: Some("2026-12-01T08:00:00.000Z".into()),
        }),
        Body::ZoneEvent(ZoneEvent {
            zone_id: "hall".into(),
            event_type: ZoneEventType::Exit,
            track_id: 3,
            class: "person".into(),
            direction: None,
            dwell_s: Some(2.5),
            totals: Some(Totals::Zone(ZoneTotals {
                entries: 5,
                exits: 4,
                occupancy: 1,
            })),
            totals_since: Some("2026-12-01T08:00:00.000Z".into()),
        }),
        Body::Occupancy(Occupancy {
            occupancy: BTreeMap::from([("hall".to_string(), 2)]),
        }),
        Body::StreamStatus(StreamStatus {
            state: StreamState::Reconnecting,
            attempt: 2,
            detail: Some("connection refused".into()),
        }),
        Body::DeviceStatus(DeviceStatus {
            state: DeviceState::Running,
            version: "0.1.0".into(),
            pipeline: "plaza".into(),
            streams: BTreeMap::from([("cam".to_string(), StreamState::Live)]),
            spool_backlog: 3,
            interval_s: 30.0,
        }),
    ]
}

#[test]
fn every_kind_round_trips_through_json() {
    let mut kinds = Vec::new();
    for body in every_kind() {
        let kind = body.kind();
        let e = Event::new(origin(), body, kind, None, None);
        let json = e.to_json();
        let back: Event = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, e, "{}", String::from_utf8_lossy(&json));
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["kind"], kind);
        assert_eq!(v["schema_version"], 1);
        assert_eq!(e.event_id.len(), 32);
        kinds.push(kind);
    }
    let schema = schema().to_string();
    for k in [
        "frame",
        "packet",
        "detections",
        "tracks",
        "summary",
        "zone_event",
        "occupancy",
        "stream_status",
    ] {
        assert!(kinds.contains(&k), "{k} is not exercised");
        assert!(
            schema.contains(&format!("\"{k}\"")),
            "{k} is not in the schema"
        );
    }
    assert!(
        !schema.contains("unknown"),
        "the reader's fallback is not a kind"
    );
}

#[test]
fn a_frame_from_a_file_names_it() {
    let from_file = Origin {
        file: Some("shots/a.jpg"),
        ..origin()
    };
    let e = Event::new(
        from_file,
        Body::Occupancy(Occupancy {
            occupancy: BTreeMap::new(),
        }),
        "occupancy",
        None,
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
    assert_eq!(v["file"], "shots/a.jpg");
    let back: Event = serde_json::from_slice(&e.to_json()).unwrap();
    assert_eq!(back.file.as_deref(), Some("shots/a.jpg"));
    let plain = Event::new(origin(), e.body.clone(), "occupancy", None, None);
    let v: serde_json::Value = serde_json::from_slice(&plain.to_json()).unwrap();
    assert!(v.get("file").is_none(), "left out when no file: {v}");
}

#[test]
fn optional_fields_are_left_out_when_empty() {
    let e = Event::new(
        origin(),
        Body::Detections(FrameSummary {
            persons_detected: 0,
            frame_width: 1,
            frame_height: 1,
            detections: vec![boxed("car", None, vec![])],
            faces: None,
            skipped: false,
        }),
        "detections",
        None,
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
    for absent in ["faces", "skipped"] {
        assert!(v.get(absent).is_none(), "{absent}: {v}");
    }
    for absent in ["track_id", "keypoints"] {
        assert!(v["detections"][0].get(absent).is_none(), "{absent}: {v}");
    }
}

/// What a later v1 writer may add: fields old readers ignore, kinds they read as unknown.
#[test]
fn readers_ignore_what_later_writers_add() {
    let newer = r#"{"schema_version":1,"event_id":"00000000000000000000000000000000",
        "device_id":"d","stream_id":"s","seq":1,"pts_ns":2,"timestamp":"t",
        "kind":"zone_event","zone_id":"z","event_type":"enter","track_id":1,"class":"person",
        "speed_mps":1.4,"colour":"red"}"#;
    let e: Event = serde_json::from_str(newer).unwrap();
    assert!(matches!(&e.body, Body::ZoneEvent(z) if z.zone_id == "z"));
    let unknown = r#"{"schema_version":1,"event_id":"x","device_id":"d","stream_id":"s",
        "seq":1,"pts_ns":2,"timestamp":"t","kind":"clip","url":"file:///c.mp4"}"#;
    let e: Event = serde_json::from_str(unknown).unwrap();
    assert_eq!(e.body, Body::Unknown);
    assert_eq!(e.seq, 1);
}

#[test]
fn event_ids_are_deterministic_and_distinct() {
    use edgeflow_events::event_id;
    let a = event_id("dev", "cam", 1, "detections", None, None);
    assert_eq!(a, event_id("dev", "cam", 1, "detections", None, None));
    assert_eq!(a.len(), 32);
    assert_ne!(a, event_id("dev", "cam", 2, "detections", None, None));
    assert_ne!(a, event_id("dev2", "cam", 1, "detections", None, None));
    assert_ne!(
        event_id("d", "c", 1, "enter", Some(1), Some("z")),
        event_id("d", "c", 1, "enter", Some(2), Some("z"))
    );
    assert_ne!(
        event_id("d", "c", 1, "enter", Some(1), Some("z")),
        event_id("d", "c", 1, "exit", Some(1), Some("z"))
    );
}
