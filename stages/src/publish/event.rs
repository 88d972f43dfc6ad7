//! Messages into events of schema v1 (`edgeflow_events`, `docs/events.md`): what every
//! publish sink sends. Zone messages become one event per zone event, plus occupancy.

use edgeflow_core::{Counts, Detection, Message, Meta, PixelFormat, StreamState, ZoneEventKind};
use edgeflow_events::{
    Body, BoxItem, Event, FrameInfo, FrameSummary, LineTotals, Occupancy, Origin, PacketInfo,
    StreamStatus, Totals, ZoneEvent, ZoneEventType, ZoneTotals,
};

pub use edgeflow_events::{SCHEMA_VERSION, event_id};

fn origin<'a>(device: &'a str, meta: &'a Meta, timestamp: &'a str) -> Origin<'a> {
    Origin {
        device_id: device,
        stream_id: &meta.stream_id,
        seq: meta.seq,
        pts_ns: meta.pts_ns,
        timestamp,
        file: meta.file.as_deref(),
    }
}

fn boxed(d: &Detection, track: Option<(u64, u32)>) -> BoxItem {
    BoxItem {
        class: d.label.to_string(),
        conf: d.score,
        xmin: d.bbox.x,
        ymin: d.bbox.y,
        width: d.bbox.width,
        height: d.bbox.height,
        track_id: track.map(|t| t.0),
        lost_frames: track.map_or(0, |t| t.1),
        keypoints: d.keypoints.clone(),
    }
}

/// Face models' detections go to `faces[]` (there, empty or not, whenever `face_model`),
/// everything else to `detections[]`.
fn frame_summary<'a>(
    w: u32,
    h: u32,
    items: impl Iterator<Item = (&'a Detection, Option<(u64, u32)>)>,
    skipped: bool,
    face_model: bool,
) -> FrameSummary {
    let mut s = FrameSummary {
        persons_detected: 0,
        frame_width: w,
        frame_height: h,
        detections: Vec::new(),
        faces: face_model.then(Vec::new),
        skipped,
    };
    for (d, track) in items {
        match &*d.label {
            "face" => s.faces.get_or_insert_with(Vec::new).push(boxed(d, track)),
            label => {
                s.persons_detected += usize::from(label == "person");
                s.detections.push(boxed(d, track));
            }
        }
    }
    s
}

fn totals(c: Counts) -> Totals {
    match c {
        Counts::Line { inward, outward } => Totals::Line(LineTotals {
            inward,
            out: outward,
        }),
        Counts::Zone {
            entries,
            exits,
            occupancy,
        } => Totals::Zone(ZoneTotals {
            entries,
            exits,
            occupancy: u64::from(occupancy),
        }),
    }
}

fn zone_type(k: ZoneEventKind) -> ZoneEventType {
    match k {
        ZoneEventKind::Enter => ZoneEventType::Enter,
        ZoneEventKind::Exit => ZoneEventType::Exit,
        ZoneEventKind::Dwell => ZoneEventType::Dwell,
        ZoneEventKind::LineCross => ZoneEventType::LineCross,
    }
}

fn stream_state(s: StreamState) -> edgeflow_events::StreamState {
    use edgeflow_events::StreamState as E;
    match s {
        StreamState::Connecting => E::Connecting,
        StreamState::Live => E::Live,
        StreamState::Stalled => E::Stalled,
        StreamState::Reconnecting => E::Reconnecting,
        StreamState::Ended => E::Ended,
    }
}

fn format_name(f: PixelFormat) -> &'static str {
    match f {
        PixelFormat::Rgb => "rgb",
        PixelFormat::Bgr => "bgr",
        PixelFormat::Gray => "gray",
        PixelFormat::Nv12 => "nv12",
        PixelFormat::I420 => "i420",
    }
}

/// The events a message becomes (zone messages: one per zone event, plus occupancy).
pub fn events(device: &str, msg: &Message) -> Vec<Event> {
    let meta = msg.meta();
    let ts = meta.timestamp_rfc3339();
    let at = origin(device, meta, &ts);
    let one = |body: Body| {
        let kind = body.kind();
        vec![Event::new(at, body, kind, None, None)]
    };
    match msg {
        Message::Frame(f) => one(Body::Frame(FrameInfo {
            width: f.width,
            height: f.height,
            format: format_name(f.format).to_string(),
            strides: f.planes().iter().map(|p| p.stride).collect(),
        })),
        Message::Packet(p) => one(Body::Packet(PacketInfo {
            caps: p.caps.to_string(),
            bytes: p.data.len(),
            key_frame: p.key_frame,
        })),
        Message::Detections(d) => one(Body::Detections(frame_summary(
            d.frame_width,
            d.frame_height,
            d.detections.iter().map(|x| (x, None)),
            d.skipped,
            d.face_model,
        ))),
        Message::Tracks(t) => one(Body::Tracks(frame_summary(
            t.frame_width,
            t.frame_height,
            t.tracks
                .iter()
                .map(|x| (&x.detection, Some((x.track_id, x.lost_frames)))),
            false,
            t.face_model,
        ))),
        Message::ZoneEvents(z) => {
            let mut out: Vec<Event> = z
                .events
                .iter()
                .map(|e| {
                    let kind = zone_type(e.event_type);
                    let body = Body::ZoneEvent(ZoneEvent {
                        zone_id: e.zone_id.to_string(),
                        event_type: kind,
                        track_id: e.track_id,
                        class: e.label.to_string(),
                        direction: e.direction.as_deref().map(String::from),
                        dwell_s: e.dwell_s,
                        totals: e.totals.map(|t| totals(t.counts)),
                        totals_since: e
                            .totals
                            .map(|t| humantime::format_rfc3339_millis(t.since).to_string()),
                    });
                    Event::new(at, body, kind.name(), Some(e.track_id), Some(&e.zone_id))
                })
                .collect();
            if !z.occupancy.is_empty() {
                let occupancy = z
                    .occupancy
                    .iter()
                    .map(|(id, n)| (id.to_string(), *n as u64))
                    .collect();
                out.push(Event::new(
                    at,
                    Body::Occupancy(Occupancy { occupancy }),
                    "occupancy",
                    None,
                    None,
                ));
            }
            out
        }
        Message::Status(s) => {
            let id_kind = format!("stream_status/{:?}/{}", s.state, s.attempt);
            let body = Body::StreamStatus(StreamStatus {
                state: stream_state(s.state),
                attempt: s.attempt,
                detail: s.detail.clone(),
            });
            vec![Event::new(at, body, &id_kind, None, None)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use edgeflow_core::{
        BBox, Detections, Frame, Port, StreamStatus as CoreStatus, Track, Tracks,
        ZoneEvent as CoreZoneEvent, ZoneEvents,
    };
    use serde_json::Value;

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

    fn json(msg: &Message) -> Vec<Value> {
        events("dev", msg)
            .iter()
            .map(|e| serde_json::from_slice(&e.to_json()).unwrap())
            .collect()
    }

    /// `faces` is there, empty, on every frame of a face model, and never on others.
    #[test]
    fn faces_is_present_whenever_the_detector_finds_faces() {
        let of = |face_model: bool, dets: Vec<Detection>| {
            let d = Detections {
                meta: meta(3),
                frame_width: 10,
                frame_height: 10,
                detections: dets,
                skipped: false,
                face_model,
            };
            json(&d.into_message())[0].clone()
        };
        assert_eq!(of(true, vec![])["faces"], serde_json::json!([]));
        assert_eq!(of(true, vec![det("face")])["faces"][0]["class"], "face");
        assert!(of(false, vec![det("person")]).get("faces").is_none());
        assert_eq!(of(true, vec![])["detections"], serde_json::json!([]));
        let t = Tracks {
            meta: meta(4),
            frame_width: 10,
            frame_height: 10,
            tracks: vec![],
            face_model: true,
        };
        assert_eq!(json(&t.into_message())[0]["faces"], serde_json::json!([]));
    }

    #[test]
    fn faces_tracks_and_zone_events() {
        let d = Detections {
            meta: meta(3),
            frame_width: 10,
            frame_height: 10,
            detections: vec![det("person"), det("face")],
            skipped: false,
            face_model: false,
        };
        let v = &json(&d.into_message())[0];
        assert_eq!(v["persons_detected"], 1);
        assert_eq!(v["detections"].as_array().unwrap().len(), 1);
        assert_eq!(v["faces"][0]["class"], "face");
        assert_eq!(v["kind"], "detections");
        let t = Tracks {
            meta: meta(4),
            frame_width: 10,
            frame_height: 10,
            tracks: vec![Track {
                track_id: 9,
                detection: det("person"),
                age_frames: 2,
                lost_frames: 0,
            }],
            face_model: false,
        };
        let v = &json(&t.into_message())[0];
        assert_eq!(v["detections"][0]["track_id"], 9);
        let z = ZoneEvents {
            meta: meta(5),
            events: vec![CoreZoneEvent {
                zone_id: "door".into(),
                event_type: ZoneEventKind::LineCross,
                track_id: 9,
                label: "person".into(),
                direction: Some(Arc::from("in")),
                dwell_s: None,
                totals: None,
            }],
            occupancy: vec![("hall".into(), 3)],
        };
        let v = json(&z.into_message());
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
        // The id tells the zone event apart from others of the same frame.
        assert_eq!(
            v[0]["event_id"].as_str(),
            Some(event_id("dev", "cam", 5, "line_cross", Some(9), Some("door")).as_str())
        );
    }

    /// Every message kind becomes events that read back as the same typed events.
    #[test]
    fn emitted_events_round_trip_through_the_schema_types() {
        let messages = vec![
            Frame::packed(meta(1), 1, 1, PixelFormat::Rgb, vec![0u8; 3].into())
                .unwrap()
                .into_message(),
            Detections {
                meta: meta(1),
                frame_width: 1,
                frame_height: 1,
                detections: vec![det("person")],
                skipped: true,
                face_model: false,
            }
            .into_message(),
            Message::Status(CoreStatus {
                meta: meta(1),
                state: StreamState::Reconnecting,
                attempt: 2,
                detail: Some("down".into()),
            }),
        ];
        let mut kinds = Vec::new();
        for msg in &messages {
            for e in events("dev", msg) {
                let back: Event = serde_json::from_slice(&e.to_json()).unwrap();
                assert_eq!(back, e);
                kinds.push(e.kind());
            }
        }
        assert_eq!(kinds, ["frame", "detections", "stream_status"]);
        let v = &json(&messages[2])[0];
        assert_eq!(
            (v["state"].as_str(), v["attempt"].as_u64()),
            (Some("reconnecting"), Some(2))
        );
        assert_eq!(json(&messages[0])[0]["format"], "rgb");
    }
}
