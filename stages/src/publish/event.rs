//! Event schema v1: what every publish sink sends (`docs/events.md`, `docs/event.schema.json`).
//!
//! One JSON object per event. Every object has `schema_version`, `event_id`, `kind`,
//! `device_id`, `stream_id`, `seq`, `pts_ns` and `timestamp`. `event_id` is deterministic (a
//! hash of device, stream, frame seq, kind, track and zone), so a consumer drops the
//! duplicates a replay after an outage produces.

use edgeflow_core::{Detection, Message, Meta, StreamStatus, ZoneEventKind};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Version of the event schema.
pub const SCHEMA_VERSION: u32 = 1;

/// The deterministic id of an event: the first 16 bytes of SHA-256 over its identifying
/// parts, in hex.
pub fn event_id(
    device: &str,
    meta: &Meta,
    kind: &str,
    track: Option<u64>,
    zone: Option<&str>,
) -> String {
    event_id_of(device, &meta.stream_id, meta.seq, kind, track, zone)
}

/// [`event_id`] from its parts.
pub fn event_id_of(
    device: &str,
    stream: &str,
    seq: u64,
    kind: &str,
    track: Option<u64>,
    zone: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        device,
        stream,
        &seq.to_string(),
        kind,
        &track.map(|t| t.to_string()).unwrap_or_default(),
        zone.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn base(device: &str, meta: &Meta, kind: &str, id: String) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("schema_version".into(), json!(SCHEMA_VERSION));
    m.insert("event_id".into(), json!(id));
    m.insert("kind".into(), json!(kind));
    m.insert("device_id".into(), json!(device));
    m.insert("stream_id".into(), json!(&*meta.stream_id));
    m.insert("seq".into(), json!(meta.seq));
    m.insert("pts_ns".into(), json!(meta.pts_ns));
    m.insert("timestamp".into(), json!(meta.timestamp_rfc3339()));
    m
}

fn boxed(d: &Detection, track: Option<u64>) -> Value {
    let mut v = json!({
        "class": &*d.label,
        "conf": d.score,
        "xmin": d.bbox.x,
        "ymin": d.bbox.y,
        "width": d.bbox.width,
        "height": d.bbox.height,
    });
    if let Some(t) = track {
        v["track_id"] = json!(t);
    }
    if !d.keypoints.is_empty() {
        v["keypoints"] = json!(d.keypoints);
    }
    v
}

/// Face models' detections go to `faces[]`, everything else to `detections[]`.
fn frame_summary(
    m: &mut Map<String, Value>,
    w: u32,
    h: u32,
    items: Vec<(&Detection, Option<u64>)>,
    skipped: bool,
) {
    let persons = items.iter().filter(|(d, _)| &*d.label == "person").count();
    let (faces, others): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|(d, _)| &*d.label == "face");
    m.insert("persons_detected".into(), json!(persons));
    m.insert("frame_width".into(), json!(w));
    m.insert("frame_height".into(), json!(h));
    m.insert(
        "detections".into(),
        Value::Array(others.iter().map(|(d, t)| boxed(d, *t)).collect()),
    );
    if !faces.is_empty() {
        m.insert(
            "faces".into(),
            Value::Array(faces.iter().map(|(d, t)| boxed(d, *t)).collect()),
        );
    }
    if skipped {
        m.insert("skipped".into(), json!(true));
    }
}

fn status(m: &mut Map<String, Value>, s: &StreamStatus) {
    m.insert(
        "state".into(),
        serde_json::to_value(s.state).unwrap_or(Value::Null),
    );
    m.insert("attempt".into(), json!(s.attempt));
    if let Some(d) = &s.detail {
        m.insert("detail".into(), json!(d));
    }
}

fn zone_kind(k: ZoneEventKind) -> &'static str {
    match k {
        ZoneEventKind::Enter => "enter",
        ZoneEventKind::Exit => "exit",
        ZoneEventKind::Dwell => "dwell",
        ZoneEventKind::LineCross => "line_cross",
    }
}

/// The events a message becomes (zone messages: one per zone event, plus occupancy).
pub fn events(device: &str, msg: &Message) -> Vec<Value> {
    match msg {
        Message::Frame(f) => {
            let mut m = base(
                device,
                &f.meta,
                "frame",
                event_id(device, &f.meta, "frame", None, None),
            );
            m.insert("width".into(), json!(f.width));
            m.insert("height".into(), json!(f.height));
            m.insert(
                "format".into(),
                serde_json::to_value(f.format).unwrap_or(Value::Null),
            );
            m.insert(
                "strides".into(),
                json!(f.planes().iter().map(|p| p.stride).collect::<Vec<_>>()),
            );
            vec![Value::Object(m)]
        }
        Message::Packet(p) => {
            let mut m = base(
                device,
                &p.meta,
                "packet",
                event_id(device, &p.meta, "packet", None, None),
            );
            m.insert("caps".into(), json!(&*p.caps));
            m.insert("bytes".into(), json!(p.data.len()));
            m.insert("key_frame".into(), json!(p.key_frame));
            vec![Value::Object(m)]
        }
        Message::Detections(d) => {
            let mut m = base(
                device,
                &d.meta,
                "detections",
                event_id(device, &d.meta, "detections", None, None),
            );
            frame_summary(
                &mut m,
                d.frame_width,
                d.frame_height,
                d.detections.iter().map(|x| (x, None)).collect(),
                d.skipped,
            );
            vec![Value::Object(m)]
        }
        Message::Tracks(t) => {
            let mut m = base(
                device,
                &t.meta,
                "tracks",
                event_id(device, &t.meta, "tracks", None, None),
            );
            frame_summary(
                &mut m,
                t.frame_width,
                t.frame_height,
                t.tracks
                    .iter()
                    .map(|x| (&x.detection, Some(x.track_id)))
                    .collect(),
                false,
            );
            vec![Value::Object(m)]
        }
        Message::ZoneEvents(z) => {
            let mut out: Vec<Value> = z
                .events
                .iter()
                .map(|e| {
                    let kind = zone_kind(e.event_type);
                    let mut m = base(
                        device,
                        &z.meta,
                        "zone_event",
                        event_id(device, &z.meta, kind, Some(e.track_id), Some(&e.zone_id)),
                    );
                    m.insert("zone_id".into(), json!(&*e.zone_id));
                    m.insert("event_type".into(), json!(kind));
                    m.insert("track_id".into(), json!(e.track_id));
                    m.insert("class".into(), json!(&*e.label));
                    if let Some(d) = &e.direction {
                        m.insert("direction".into(), json!(&**d));
                    }
                    if let Some(s) = e.dwell_s {
                        m.insert("dwell_s".into(), json!(s));
                    }
                    Value::Object(m)
                })
                .collect();
            if !z.occupancy.is_empty() {
                let mut m = base(
                    device,
                    &z.meta,
                    "occupancy",
                    event_id(device, &z.meta, "occupancy", None, None),
                );
                let counts: Map<String, Value> = z
                    .occupancy
                    .iter()
                    .map(|(id, n)| (id.to_string(), json!(n)))
                    .collect();
                m.insert("occupancy".into(), Value::Object(counts));
                out.push(Value::Object(m));
            }
            out
        }
        Message::Status(s) => {
            let kind = format!("stream_status/{:?}/{}", s.state, s.attempt);
            let mut m = base(
                device,
                &s.meta,
                "stream_status",
                event_id(device, &s.meta, &kind, None, None),
            );
            status(&mut m, s);
            vec![Value::Object(m)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use edgeflow_core::{BBox, Detections, Port, Track, Tracks, ZoneEvent, ZoneEvents};

    fn meta(seq: u64) -> Meta {
        Meta::now("cam".into(), seq, seq * 100)
    }

    fn det(label: &str) -> Detection {
        Detection {
            class_id: 0,
            label: label.into(),
            score: 0.5,
            bbox: BBox {
                x: 0.1,
                y: 0.2,
                width: 0.3,
                height: 0.4,
            },
            keypoints: vec![],
        }
    }

    #[test]
    fn event_ids_are_deterministic_and_distinct() {
        let a = event_id("dev", &meta(1), "detections", None, None);
        assert_eq!(
            a,
            event_id("dev", &meta(1), "detections", None, None),
            "same event, same id (another timestamp)"
        );
        assert_eq!(a.len(), 32);
        assert_ne!(a, event_id("dev", &meta(2), "detections", None, None));
        assert_ne!(a, event_id("dev2", &meta(1), "detections", None, None));
        assert_ne!(
            event_id("d", &meta(1), "enter", Some(1), Some("z")),
            event_id("d", &meta(1), "enter", Some(2), Some("z"))
        );
        assert_ne!(
            event_id("d", &meta(1), "enter", Some(1), Some("z")),
            event_id("d", &meta(1), "exit", Some(1), Some("z"))
        );
    }

    #[test]
    fn faces_tracks_and_zone_events() {
        let d = Detections {
            meta: meta(3),
            frame_width: 10,
            frame_height: 10,
            detections: vec![det("person"), det("face")],
            skipped: false,
        };
        let v = &events("dev", &d.into_message())[0];
        assert_eq!(v["persons_detected"], 1);
        assert_eq!(v["detections"].as_array().unwrap().len(), 1);
        assert_eq!(v["faces"][0]["class"], "face");
        let t = Tracks {
            meta: meta(4),
            frame_width: 10,
            frame_height: 10,
            tracks: vec![Track {
                track_id: 9,
                detection: det("person"),
                age_frames: 2,
            }],
        };
        let v = &events("dev", &t.into_message())[0];
        assert_eq!(v["detections"][0]["track_id"], 9);
        let z = ZoneEvents {
            meta: meta(5),
            events: vec![ZoneEvent {
                zone_id: "door".into(),
                event_type: ZoneEventKind::LineCross,
                track_id: 9,
                label: "person".into(),
                direction: Some(Arc::from("in")),
                dwell_s: None,
            }],
            occupancy: vec![("hall".into(), 3)],
        };
        let v = events("dev", &z.into_message());
        assert_eq!(v.len(), 2);
        assert_eq!(
            (
                v[0]["kind"].as_str(),
                v[0]["event_type"].as_str(),
                v[0]["direction"].as_str()
            ),
            (Some("zone_event"), Some("line_cross"), Some("in"))
        );
        assert_eq!(v[1]["occupancy"]["hall"], 3);
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use std::sync::Arc;

    use edgeflow_core::{
        BBox, Detections, Frame, PixelFormat, Port, StreamState, Track, Tracks, ZoneEvent,
        ZoneEvents,
    };

    /// Every kind this module emits carries what `docs/event.schema.json` requires of it.
    #[test]
    fn emitted_events_have_the_schema_fields() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/event.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let required = |v: &Value| -> Vec<String> {
            v["required"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let meta = || Meta::now("cam".into(), 1, 2);
        let det = Detection {
            class_id: 0,
            label: "person".into(),
            score: 0.5,
            bbox: BBox {
                x: 0.0,
                y: 0.0,
                width: 0.1,
                height: 0.1,
            },
            keypoints: vec![],
        };
        let messages = vec![
            Frame::packed(meta(), 1, 1, PixelFormat::Rgb, vec![0u8; 3].into())
                .unwrap()
                .into_message(),
            Detections {
                meta: meta(),
                frame_width: 1,
                frame_height: 1,
                detections: vec![det.clone()],
                skipped: true,
            }
            .into_message(),
            Tracks {
                meta: meta(),
                frame_width: 1,
                frame_height: 1,
                tracks: vec![Track {
                    track_id: 1,
                    detection: det,
                    age_frames: 1,
                }],
            }
            .into_message(),
            ZoneEvents {
                meta: meta(),
                events: vec![ZoneEvent {
                    zone_id: "z".into(),
                    event_type: ZoneEventKind::Exit,
                    track_id: 1,
                    label: "person".into(),
                    direction: None,
                    dwell_s: Some(1.5),
                }],
                occupancy: vec![(Arc::from("z"), 0)],
            }
            .into_message(),
            Message::Status(StreamStatus {
                meta: meta(),
                state: StreamState::Reconnecting,
                attempt: 2,
                detail: Some("down".into()),
            }),
        ];
        let kinds: Vec<String> = schema["properties"]["kind"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let mut seen = Vec::new();
        for msg in &messages {
            for e in events("dev", msg) {
                let kind = e["kind"].as_str().unwrap().to_string();
                assert!(kinds.contains(&kind), "{kind} is not in the schema");
                let mut need = required(&schema);
                for rule in schema["allOf"].as_array().unwrap() {
                    let cond = &rule["if"]["properties"]["kind"];
                    let applies = cond["const"].as_str() == Some(&kind)
                        || cond["enum"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|k| k.as_str() == Some(&kind)));
                    if applies {
                        need.extend(required(&rule["then"]));
                    }
                }
                for field in need {
                    assert!(e.get(&field).is_some(), "{kind} lacks `{field}`: {e}");
                }
                assert_eq!(e["event_id"].as_str().unwrap().len(), 32);
                seen.push(kind);
            }
        }
        for k in [
            "frame",
            "detections",
            "tracks",
            "zone_event",
            "occupancy",
            "stream_status",
        ] {
            assert!(seen.iter().any(|s| s == k), "{k} not exercised");
        }
    }
}
